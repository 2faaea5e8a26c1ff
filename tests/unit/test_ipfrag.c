/*
 * test_ipfrag.c - unit tests of src/flow/ipfrag.c.
 *
 * A 40-byte datagram is cut into fragments and fed in order, reversed,
 * with overlaps (first copy must win) and with a timeout; each test checks
 * the rebuilt bytes, the pieces (which fragment's ts/ref each byte keeps)
 * and the counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "flow/ipfrag.h"

#include <string.h>

static uint8_t dgram[40];

static void make_dgram(void)
{
    for (int i = 0; i < 40; i++)
        dgram[i] = (uint8_t)(i * 7 + 1);
}

static cs_ipfrag_key key(uint32_t id)
{
    cs_ipfrag_key k;

    memset(&k, 0, sizeof(k));
    k.src[0] = 10;
    k.dst[0] = 11;
    k.id = id;
    k.ip_version = 4;
    k.proto = 17;
    return k;
}

/* ts/ref of the piece holding byte "off". */
static const cs_ipfrag_piece *piece_at(const cs_ipfrag_out *o, uint32_t off)
{
    for (uint32_t i = 0; i < o->n_pieces; i++)
        if (o->pieces[i].off <= off && off < o->pieces[i].off + o->pieces[i].len)
            return &o->pieces[i];
    return NULL;
}

static void test_in_order(void **state)
{
    cs_ipfrag *f;
    cs_ipfrag_out o;
    cs_ipfrag_key k = key(1);
    cs_ipfrag_stats st;

    make_dgram();
    assert_int_equal(cs_ipfrag_new(16, 30000000000ll, &f), 0);
    assert_int_equal(cs_ipfrag_add(f, &k, 0, dgram, 16, 1, 100, 1, &o), 0);
    assert_int_equal(cs_ipfrag_add(f, &k, 16, dgram + 16, 16, 1, 101, 2, &o), 0);
    assert_int_equal(cs_ipfrag_add(f, &k, 32, dgram + 32, 8, 0, 102, 3, &o), 1);
    assert_int_equal(o.len, 40);
    assert_memory_equal(o.data, dgram, 40);
    assert_int_equal(o.n_refs, 3);
    assert_int_equal(piece_at(&o, 0)->ts_ns, 100);
    assert_int_equal(piece_at(&o, 39)->ref, 3);
    cs_ipfrag_stats_get(f, &st);
    assert_int_equal(st.frags, 3);
    assert_int_equal(st.reassembled, 1);
    assert_int_equal(st.dropped, 0);
    cs_ipfrag_free(f);
}

static void test_reversed(void **state)
{
    cs_ipfrag *f;
    cs_ipfrag_out o;
    cs_ipfrag_key k = key(2);

    make_dgram();
    assert_int_equal(cs_ipfrag_new(16, 30000000000ll, &f), 0);
    assert_int_equal(cs_ipfrag_add(f, &k, 32, dgram + 32, 8, 0, 100, 3, &o), 0);
    assert_int_equal(cs_ipfrag_add(f, &k, 16, dgram + 16, 16, 1, 101, 2, &o), 0);
    assert_int_equal(cs_ipfrag_add(f, &k, 0, dgram, 16, 1, 102, 1, &o), 1);
    assert_memory_equal(o.data, dgram, 40);
    assert_int_equal(piece_at(&o, 0)->ts_ns, 102); /* the offset-0 fragment's time */
    assert_int_equal(piece_at(&o, 20)->ts_ns, 101);
    assert_int_equal(o.pieces[0].off, 0); /* sorted */
    cs_ipfrag_free(f);
}

static void test_overlap_first_wins(void **state)
{
    cs_ipfrag *f;
    cs_ipfrag_out o;
    cs_ipfrag_key k = key(3);
    uint8_t bogus[32];

    make_dgram();
    memset(bogus, 0xee, sizeof(bogus));
    assert_int_equal(cs_ipfrag_new(16, 30000000000ll, &f), 0);
    assert_int_equal(cs_ipfrag_add(f, &k, 8, dgram + 8, 16, 1, 100, 1, &o), 0);
    /* overlaps [8, 24) with different bytes: only [0, 8) and [24, 32) are new */
    assert_int_equal(cs_ipfrag_add(f, &k, 0, bogus, 32, 1, 101, 2, &o), 0);
    assert_int_equal(cs_ipfrag_add(f, &k, 24, dgram + 24, 16, 0, 102, 3, &o), 1);
    assert_memory_equal(o.data + 8, dgram + 8, 16); /* first copy kept */
    assert_int_equal(o.data[0], 0xee);
    assert_int_equal(o.data[24], 0xee); /* the second fragment was first there */
    assert_int_equal(o.data[32], dgram[32]);
    assert_int_equal(piece_at(&o, 10)->ref, 1);
    assert_int_equal(piece_at(&o, 30)->ref, 2);
    assert_int_equal(piece_at(&o, 35)->ref, 3);
    cs_ipfrag_free(f);
}

static void test_timeout_and_bound(void **state)
{
    cs_ipfrag *f;
    cs_ipfrag_out o;
    cs_ipfrag_key k1 = key(4), k2 = key(5), k3 = key(6), k4 = key(7);
    cs_ipfrag_stats st;

    make_dgram();
    assert_int_equal(cs_ipfrag_new(2, 1000, &f), 0);
    assert_int_equal(cs_ipfrag_add(f, &k1, 0, dgram, 16, 1, 100, 1, &o), 0);
    assert_int_equal(cs_ipfrag_add(f, &k2, 0, dgram, 16, 1, 500, 2, &o), 0);
    cs_ipfrag_expire(f, 1200); /* k1 is 1100 old */
    cs_ipfrag_stats_get(f, &st);
    assert_int_equal(st.dropped, 1);
    /* k1's tail alone cannot complete it any more */
    assert_int_equal(cs_ipfrag_add(f, &k1, 16, dgram + 16, 24, 0, 1300, 3, &o), 0);
    /* the bound (2 datagrams): k3 pushes out k2 (oldest) */
    assert_int_equal(cs_ipfrag_add(f, &k3, 0, dgram, 16, 1, 1400, 4, &o), 0);
    cs_ipfrag_stats_get(f, &st);
    assert_int_equal(st.dropped, 2);
    assert_int_equal(cs_ipfrag_add(f, &k2, 16, dgram + 16, 24, 0, 1500, 5, &o), 0);
    /* offsets past 64 KiB are refused */
    assert_int_equal(cs_ipfrag_add(f, &k4, 65528, dgram, 40, 0, 1600, 6, &o), 0);
    cs_ipfrag_stats_get(f, &st);
    assert_int_equal(st.reassembled, 0);
    assert_true(st.dropped >= 3);
    cs_ipfrag_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_reversed),
        cmocka_unit_test(test_overlap_first_wins),
        cmocka_unit_test(test_timeout_and_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

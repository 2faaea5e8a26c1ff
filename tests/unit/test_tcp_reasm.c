/*
 * test_tcp_reasm.c - unit tests of src/flow/tcp_reasm.c.
 *
 * A recorder stands in for the stream layer: it rebuilds each direction's
 * byte stream from the data() callbacks, remembers for every stream byte the
 * timestamp and ref of the packet that delivered it, and logs gaps and eofs.
 * The tests feed segment sequences (in order, split, coalesced,
 * retransmitted, reordered, lost, wrapping, mid-stream, overflowing, closed)
 * and check the rebuilt bytes, per-byte timestamps and the counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "flow/tcp_reasm.h"

#include <string.h>

#define CAP 8192

typedef struct rec {
    uint8_t bytes[2][CAP];
    int64_t ts[2][CAP];
    cs_pktref ref[2][CAP];
    uint8_t lost[2][CAP];
    uint64_t end[2]; /* stream offset after the last delivered/lost byte */
    int eofs[2];
    int gaps[2];
    int order_errors;
    size_t held[2];
} rec;

static void rec_data(void *ud, uint8_t dir, uint64_t off, const uint8_t *p, size_t n, int64_t ts,
                     cs_pktref ref)
{
    rec *r = ud;

    if (off != r->end[dir] || r->eofs[dir])
        r->order_errors++;
    for (size_t i = 0; i < n && off + i < CAP; i++) {
        r->bytes[dir][off + i] = p[i];
        r->ts[dir][off + i] = ts;
        r->ref[dir][off + i] = ref;
    }
    r->end[dir] = off + n;
}

static void rec_gap(void *ud, uint8_t dir, uint64_t off, uint64_t n)
{
    rec *r = ud;

    if (off != r->end[dir])
        r->order_errors++;
    for (uint64_t i = 0; i < n && off + i < CAP; i++)
        r->lost[dir][off + i] = 1;
    r->end[dir] = off + n;
    r->gaps[dir]++;
}

static void rec_eof(void *ud, uint8_t dir)
{
    rec *r = ud;
    r->eofs[dir]++;
}

static size_t rec_held(void *ud, uint8_t dir)
{
    rec *r = ud;
    return r->held[dir];
}

typedef struct fixture {
    rec r;
    cs_tcp_conn c;
    cs_tcp_stats st;
    cs_tcp_ops ops;
    cs_tcp_env env;
} fixture;

static fixture *fx_new(uint32_t max_buffer)
{
    fixture *f = test_calloc(1, sizeof(*f));

    f->ops = (cs_tcp_ops){&f->r, rec_data, rec_gap, rec_eof, rec_held};
    f->env = (cs_tcp_env){&f->ops, &f->st, max_buffer};
    return f;
}

static void fx_free(fixture *f)
{
    cs_tcp_release(&f->c);
    test_free(f);
}

static void seg(fixture *f, uint8_t dir, uint8_t flags, uint32_t seq, uint32_t ack,
                const char *data, int64_t ts, cs_pktref ref)
{
    cs_tcp_seg s;
    uint32_t n = data ? (uint32_t)strlen(data) : 0;

    s.dir = dir;
    s.flags = flags;
    s.seq = seq;
    s.ack = ack;
    s.data = (const uint8_t *)data;
    s.len = n;
    s.wire_len = n;
    s.ts_ns = ts;
    s.ref = ref;
    cs_tcp_segment(&f->c, &f->env, &s);
}

/* Client ISN 1000, server ISN 5000; data starts at 1001 / 5001. */
static void handshake(fixture *f)
{
    seg(f, 0, CS_TCP_SYN, 1000, 0, NULL, 1, 0);
    seg(f, 1, CS_TCP_SYN | CS_TCP_ACK, 5000, 1001, NULL, 2, 0);
    seg(f, 0, CS_TCP_ACK, 1001, 5001, NULL, 3, 0);
}

static void assert_stream(const fixture *f, uint8_t dir, const char *want)
{
    size_t n = strlen(want);

    assert_int_equal(f->r.end[dir], n);
    assert_memory_equal(f->r.bytes[dir], want, n);
    assert_int_equal(f->r.order_errors, 0);
}

static void test_in_order_split_coalesced(void **state)
{
    fixture *f = fx_new(1 << 20);

    handshake(f);
    seg(f, 0, CS_TCP_ACK, 1001, 5001, "REQ 1\nRE", 10, 101);
    seg(f, 0, CS_TCP_ACK, 1009, 5001, "Q 2\n", 11, 102);
    seg(f, 1, CS_TCP_ACK, 5001, 1013, "RSP 1\nRSP 2\n", 12, 103);
    assert_stream(f, 0, "REQ 1\nREQ 2\n");
    assert_stream(f, 1, "RSP 1\nRSP 2\n");
    assert_int_equal(f->r.ts[0][7], 10);
    assert_int_equal(f->r.ts[0][8], 11);
    assert_int_equal(f->r.ref[1][11], 103);
    assert_int_equal(f->st.gaps + f->st.retransmits + f->st.out_of_order, 0);
    fx_free(f);
}

static void test_retransmit_full_and_partial(void **state)
{
    fixture *f = fx_new(1 << 20);

    handshake(f);
    seg(f, 0, CS_TCP_ACK, 1001, 5001, "abcdef", 10, 1);
    seg(f, 0, CS_TCP_ACK, 1001, 5001, "abcdef", 20, 2);  /* full retransmit */
    seg(f, 0, CS_TCP_ACK, 1004, 5001, "defGHIJ", 30, 3); /* partial overlap */
    seg(f, 0, CS_TCP_ACK, 1010, 5001, "J", 35, 5);       /* keep-alive (seq - 1) */
    assert_stream(f, 0, "abcdefGHIJ");
    assert_int_equal(f->r.ts[0][3], 10); /* first copy keeps its ts */
    assert_int_equal(f->r.ts[0][6], 30);
    assert_int_equal(f->r.ref[0][9], 3);
    assert_int_equal(f->st.retransmits, 2);
    fx_free(f);
}

static void test_out_of_order_swap(void **state)
{
    fixture *f = fx_new(1 << 20);

    handshake(f);
    seg(f, 0, CS_TCP_ACK, 1005, 5001, "EFGH", 10, 2); /* B first */
    assert_int_equal(f->r.end[0], 0);
    seg(f, 0, CS_TCP_ACK, 1001, 5001, "ABCD", 11, 1); /* then A */
    assert_stream(f, 0, "ABCDEFGH");
    assert_int_equal(f->r.ts[0][0], 11);
    assert_int_equal(f->r.ts[0][4], 10); /* each byte keeps its own packet's ts */
    assert_int_equal(f->r.ref[0][7], 2);
    assert_int_equal(f->st.out_of_order, 1);
    fx_free(f);
}

static void test_three_way_permutations(void **state)
{
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    static const char *parts[3] = {"aaa", "bbbb", "cc"};
    static const uint32_t seqs[3] = {1001, 1004, 1008};

    for (int p = 0; p < 6; p++) {
        fixture *f = fx_new(1 << 20);
        handshake(f);
        for (int i = 0; i < 3; i++) {
            int k = perms[p][i];
            seg(f, 0, CS_TCP_ACK, seqs[k], 5001, parts[k], 100 + i, (cs_pktref)(k + 1));
        }
        assert_stream(f, 0, "aaabbbbcc");
        for (int k = 0; k < 3; k++) {
            int pos = -1;
            for (int i = 0; i < 3; i++)
                if (perms[p][i] == k)
                    pos = i;
            assert_int_equal(f->r.ts[0][seqs[k] - 1001], 100 + pos);
            assert_int_equal(f->r.ref[0][seqs[k] - 1001], k + 1);
        }
        fx_free(f);
    }
}

static void test_overlapping_out_of_order_first_wins(void **state)
{
    fixture *f = fx_new(1 << 20);

    handshake(f);
    seg(f, 0, CS_TCP_ACK, 1005, 5001, "EF", 10, 1);
    seg(f, 0, CS_TCP_ACK, 1003, 5001, "CDefGH", 11, 2); /* overlaps EF, extends both ways */
    seg(f, 0, CS_TCP_ACK, 1001, 5001, "AB", 12, 3);
    assert_stream(f, 0, "ABCDEFGH");
    assert_int_equal(f->r.ts[0][4], 10);
    assert_int_equal(f->r.ts[0][2], 11);
    assert_int_equal(f->r.ts[0][6], 11);
    fx_free(f);
}

static void test_loss_proven_by_ack(void **state)
{
    fixture *f = fx_new(1 << 20);

    handshake(f);
    seg(f, 0, CS_TCP_ACK, 1001, 5001, "AAAA", 10, 1);
    /* 1005..1008 lost at the tap */
    seg(f, 0, CS_TCP_ACK, 1009, 5001, "CCCC", 12, 3);
    assert_int_equal(f->r.end[0], 4);
    seg(f, 1, CS_TCP_ACK, 5001, 1013, "resp", 13, 4); /* server had it all */
    assert_int_equal(f->r.end[0], 12);
    assert_int_equal(f->r.lost[0][4], 1);
    assert_int_equal(f->r.lost[0][7], 1);
    assert_int_equal(f->r.lost[0][8], 0);
    assert_int_equal(f->r.bytes[0][8], 'C');
    assert_int_equal(f->st.gaps, 1);
    assert_int_equal(f->st.gap_bytes, 4);
    assert_int_equal(f->r.order_errors, 0);
    /* the late copy of the lost bytes is now a retransmission */
    seg(f, 0, CS_TCP_ACK, 1005, 5005, "BBBB", 14, 2);
    assert_int_equal(f->st.retransmits, 1);
    fx_free(f);
}

static void test_loss_at_end(void **state)
{
    fixture *f = fx_new(1 << 20);

    handshake(f);
    seg(f, 0, CS_TCP_ACK, 1001, 5001, "AA", 10, 1);
    seg(f, 0, CS_TCP_ACK, 1006, 5001, "DD", 11, 2);
    cs_tcp_end(&f->c, &f->env, 0);
    assert_int_equal(f->r.end[0], 7);
    assert_int_equal(f->r.lost[0][2], 1);
    assert_int_equal(f->r.lost[0][4], 1);
    assert_int_equal(f->r.bytes[0][6], 'D');
    assert_int_equal(f->r.eofs[0], 1);
    assert_int_equal(f->st.gap_bytes, 3);
    cs_tcp_end(&f->c, &f->env, 0); /* idempotent */
    assert_int_equal(f->r.eofs[0], 1);
    fx_free(f);
}

static void test_sequence_wrap(void **state)
{
    fixture *f = fx_new(1 << 20);

    seg(f, 0, CS_TCP_SYN, 0xfffffff9u, 0, NULL, 1, 0); /* data starts at 0xfffffffa */
    seg(f, 1, CS_TCP_SYN | CS_TCP_ACK, 77, 0xfffffffau, NULL, 2, 0);
    seg(f, 0, CS_TCP_ACK, 0xfffffffau, 78, "0123", 10, 1);
    seg(f, 0, CS_TCP_ACK, 0x00000002u, 78, "89ab", 12, 3); /* after the wrap, early */
    seg(f, 0, CS_TCP_ACK, 0xfffffffeu, 78, "4567", 11, 2); /* crosses 2^32 */
    assert_stream(f, 0, "0123456789ab");
    assert_int_equal(f->r.ts[0][8], 12);
    assert_int_equal(f->st.out_of_order, 1);
    assert_int_equal(f->st.gaps, 0);
    /* an ACK just past the wrap proves nothing is missing */
    seg(f, 1, CS_TCP_ACK, 78, 0x00000006u, "x", 13, 4);
    assert_int_equal(f->st.gaps, 0);
    fx_free(f);
}

static void test_midstream_pickup(void **state)
{
    fixture *f = fx_new(1 << 20);

    seg(f, 0, CS_TCP_ACK, 424242, 9999, "tail\nREQ 1\n", 10, 1);
    seg(f, 1, CS_TCP_ACK, 9999, 424253, "RSP 1\n", 11, 2);
    assert_stream(f, 0, "tail\nREQ 1\n");
    assert_stream(f, 1, "RSP 1\n");
    assert_int_equal(f->c.half[0].midstream, 1);
    assert_int_equal(f->c.half[1].midstream, 1);
    /* the earlier bytes before pickup are not data we can place */
    seg(f, 0, CS_TCP_ACK, 424240, 10005, "xx", 12, 3);
    assert_int_equal(f->st.retransmits, 1);
    fx_free(f);
}

static void test_overflow_bound(void **state)
{
    fixture *f = fx_new(8);

    handshake(f);
    seg(f, 0, CS_TCP_ACK, 1003, 5001, "cdef", 10, 1); /* 1001..1002 missing */
    assert_int_equal(f->r.end[0], 0);
    seg(f, 0, CS_TCP_ACK, 1008, 5001, "hijkl", 11, 2); /* 9 bytes held > 8 */
    assert_int_equal(f->st.overflows, 1);
    assert_int_equal(f->r.lost[0][0], 1);
    assert_int_equal(f->r.lost[0][1], 1);
    assert_int_equal(f->r.bytes[0][2], 'c');
    /* only the first hole goes: the 5 bytes of "hijkl" fit again */
    assert_int_equal(f->r.end[0], 6);
    assert_int_equal(f->r.order_errors, 0);
    /* bytes the consumer holds count as well: 6 + 5 + 3 > 8 */
    f->r.held[0] = 6;
    seg(f, 0, CS_TCP_ACK, 1016, 5001, "zzz", 12, 3);
    assert_int_equal(f->st.overflows, 2);
    assert_int_equal(f->r.lost[0][6], 1); /* "g" */
    assert_int_equal(f->r.bytes[0][7], 'h');
    assert_int_equal(f->r.lost[0][12], 1);
    assert_int_equal(f->r.bytes[0][15], 'z');
    assert_int_equal(f->r.end[0], 18);
    assert_int_equal(f->r.order_errors, 0);
    fx_free(f);
}

static void test_fin_and_rst(void **state)
{
    fixture *f = fx_new(1 << 20);

    handshake(f);
    seg(f, 0, CS_TCP_ACK | CS_TCP_FIN, 1001, 5001, "bye", 10, 1);
    assert_int_equal(f->r.eofs[0], 1);
    assert_int_equal(f->r.eofs[1], 0);
    seg(f, 1, CS_TCP_ACK, 5001, 1005, "late", 11, 2);
    assert_stream(f, 1, "late");
    seg(f, 1, CS_TCP_RST, 5005, 0, NULL, 12, 0);
    assert_int_equal(f->r.eofs[1], 1);
    assert_int_equal(f->r.eofs[0], 1);
    fx_free(f);
}

static void test_fin_with_hole_waits_for_ack(void **state)
{
    fixture *f = fx_new(1 << 20);

    handshake(f);
    seg(f, 0, CS_TCP_ACK, 1001, 5001, "ab", 10, 1);
    seg(f, 0, CS_TCP_ACK | CS_TCP_FIN, 1005, 5001, "ef", 11, 2); /* cd lost */
    assert_int_equal(f->r.eofs[0], 0);
    seg(f, 1, CS_TCP_ACK, 5001, 1008, NULL, 12, 0); /* acks data + FIN */
    assert_int_equal(f->r.eofs[0], 1);
    assert_int_equal(f->r.lost[0][2], 1);
    assert_int_equal(f->r.bytes[0][5], 'f');
    assert_int_equal(f->st.gap_bytes, 2);
    fx_free(f);
}

static void test_syn_data_and_syn_retransmit(void **state)
{
    fixture *f = fx_new(1 << 20);

    seg(f, 0, CS_TCP_SYN, 1000, 0, "hi", 1, 1); /* data on the SYN starts at 1001 */
    seg(f, 0, CS_TCP_SYN, 1000, 0, "hi", 2, 2); /* SYN retransmit */
    seg(f, 0, CS_TCP_ACK, 1003, 5001, "!", 3, 3);
    assert_stream(f, 0, "hi!");
    assert_int_equal(f->r.ts[0][0], 1);
    fx_free(f);
}

static void test_truncated_capture_is_a_gap(void **state)
{
    fixture *f = fx_new(1 << 20);
    cs_tcp_seg s = {0, CS_TCP_ACK, 1001, 5001, (const uint8_t *)"abcd", 4, 10, 10, 1};

    handshake(f);
    cs_tcp_segment(&f->c, &f->env, &s);
    seg(f, 0, CS_TCP_ACK, 1011, 5001, "k", 11, 2);
    assert_int_equal(f->r.end[0], 11);
    assert_int_equal(f->r.lost[0][4], 1);
    assert_int_equal(f->r.bytes[0][10], 'k');
    assert_int_equal(f->st.gap_bytes, 6);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_split_coalesced),
        cmocka_unit_test(test_retransmit_full_and_partial),
        cmocka_unit_test(test_out_of_order_swap),
        cmocka_unit_test(test_three_way_permutations),
        cmocka_unit_test(test_overlapping_out_of_order_first_wins),
        cmocka_unit_test(test_loss_proven_by_ack),
        cmocka_unit_test(test_loss_at_end),
        cmocka_unit_test(test_sequence_wrap),
        cmocka_unit_test(test_midstream_pickup),
        cmocka_unit_test(test_overflow_bound),
        cmocka_unit_test(test_fin_and_rst),
        cmocka_unit_test(test_fin_with_hole_waits_for_ack),
        cmocka_unit_test(test_syn_data_and_syn_retransmit),
        cmocka_unit_test(test_truncated_capture_is_a_gap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

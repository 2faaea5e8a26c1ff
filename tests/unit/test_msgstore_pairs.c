/*
 * test_msgstore_pairs.c - unit tests of the message store's reads by pair
 * (blocks_choose in src/store/msgstore_summary.c, cs__lb_may_hold_pair in
 * src/store/msgstore_latblocks.c): a measurement query or statistics for
 * one pair read, of a summarized file, only the latency blocks that may
 * hold the pair.
 *
 * The store (five files, blocks of CS__LB_RECORDS = 256 records):
 *
 *   file 1: 1000 records, fix and http alternating     every block: both
 *   file 2: 1024 records: fix x 512, dns x 256, http x 256   a block each
 *   file 3:  600 records: block 0 cycles p0..p9 (more than CS__LB_PAIRS:
 *            p8 and p9 have no slot, pairs_over), then fix
 *   file 4:  300 records of pair X (then hop, appended by one test)
 *   file 5:  256 records, X and fix alternating
 *
 * Keys are "K<i % 40>", but file 2's record 100 has the key KX (a key
 * filter block of its own: records 0 to 511).
 *
 * X and Y are two pair names of equal cs__lb_pair_hash, found by
 * brute force: Y is in no file but its hash is in the blocks of files 4
 * and 5. Request times rise through the files (a second apart) with a
 * jitter that makes time order differ from store order within a file.
 *
 * What is asserted: every query with a pair (store, time and latency
 * order; with and without a time window and a key; offsets and limits)
 * returns exactly what the whole store read without a pair and filtered
 * by hand returns, in the same order; the statistics by pair and session
 * for a pair equal the unfiltered statistics' entries of that pair; the
 * block counters (cs__lb_stats) show an absent pair's files passed over
 * without a block read, a present one's other blocks passed over, and the
 * blocks of a block with too many pairs or a colliding hash read; records
 * appended after a file was summarized are found by pair.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "record/message.h"
#include "store/msgstore.h"
#include "store/msgstore_int.h"
#include "tmpstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767623400000000000ll
#define N_FILES 5
#define MAX_RECS 4096
#define COLLIDE_TRIES 400000u

typedef struct fixture {
    char dir[64];
    char pair_x[16], pair_y[16]; /* equal cs__lb_pair_hash */
} fixture;

/* ---- two pair names of one hash --------------------------------------- */

typedef struct named_hash {
    uint32_t hash, n;
} named_hash;

static int cmp_named_hash(const void *a, const void *b)
{
    const named_hash *x = a, *y = b;

    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->n < y->n ? -1 : x->n > y->n;
}

/* Names "c<n>" until two share a cs__lb_pair_hash (a 32-bit hash: about
 * 19 pairs expected among COLLIDE_TRIES names). */
static void find_colliding_pairs(char *x, char *y, size_t size)
{
    named_hash *v = malloc(COLLIDE_TRIES * sizeof(*v));
    char name[16];

    assert_non_null(v);
    for (uint32_t n = 0; n < COLLIDE_TRIES; n++) {
        int len = snprintf(name, sizeof(name), "c%u", n);

        v[n] = (named_hash){cs__lb_pair_hash(name, (size_t)len), n};
    }
    qsort(v, COLLIDE_TRIES, sizeof(*v), cmp_named_hash);
    for (uint32_t i = 1; i < COLLIDE_TRIES; i++)
        if (v[i].hash == v[i - 1].hash) {
            snprintf(x, size, "c%u", v[i - 1].n);
            snprintf(y, size, "c%u", v[i].n);
            free(v);
            return;
        }
    free(v);
    fail_msg("no two of %u pair names share a hash", COLLIDE_TRIES);
}

/* ---- the store -------------------------------------------------------- */

static const uint32_t file_records[N_FILES + 1] = {0, 1000, 1024, 600, 300, 256};

/* The pair of record "i" of file "seg". */
static const char *pair_of(const fixture *f, uint32_t seg, uint32_t i)
{
    static const char *const cycle[10] = {"p0", "p1", "p2", "p3", "p4",
                                          "p5", "p6", "p7", "p8", "p9"};

    switch (seg) {
    case 1:
        return i % 2 ? "http" : "fix";
    case 2:
        return i < 512 ? "fix" : i < 768 ? "dns" : "http";
    case 3:
        return i < CS__LB_RECORDS ? cycle[i % 10] : "fix";
    case 4:
        return i < 300 ? f->pair_x : "hop"; /* hop: appended by a test */
    default:
        return i % 2 ? "fix" : f->pair_x;
    }
}

/* Measurement "i" of file "seg" (its key into "keybuf", 16 bytes). */
static void make_measurement(const fixture *f, cs_measurement *ms, char *keybuf, uint32_t seg,
                             uint32_t i)
{
    memset(ms, 0, sizeof(*ms));
    ms->id = ms->req_id = CS_MSGID(CS_PKTREF(seg, 24 + 16 * i), 0);
    ms->resp_id = CS_MSGID(CS_PKTREF(seg, 32 + 16 * i), 0);
    ms->pair = pair_of(f, seg, i);
    snprintf(keybuf, 16, seg == 2 && i == 100 ? "KX" : "K%u", i % 40);
    ms->key = (cs_str){keybuf, strlen(keybuf)};
    ms->req_ts_ns = T0 + (int64_t)seg * 1000000000 + (int64_t)i * 1000 + (i * 37 % 8) * 300;
    ms->latency_ns = 1000 + (int64_t)((i * 7919u + seg * 13u) % 5000u);
    ms->resp_ts_ns = ms->req_ts_ns + ms->latency_ns;
    ms->flow_id = 0x1000 + i % 3;
    ms->ep.ip_version = 4;
    ms->ep.ip_proto = 6;
    ms->ep.port_a = (uint16_t)(40000 + i % 3);
    ms->ep.port_b = 9878;
    ms->ep.addr_a[0] = 10;
    ms->ep.addr_a[3] = (uint8_t)(i % 5);
    ms->ep.addr_b[0] = 10;
    ms->ep.addr_b[3] = 1;
}

/* Writes records [from, to) of file "seg". */
static void write_file(const fixture *f, uint32_t seg, uint32_t from, uint32_t to)
{
    cs_msgstore *w;
    cs_measurement ms;
    char key[16];

    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    for (uint32_t i = from; i < to; i++) {
        make_measurement(f, &ms, key, seg, i);
        assert_int_equal(cs_msgstore_put_measurement(w, &ms), 0);
    }
    assert_int_equal(cs_msgstore_close(w), 0);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_msgstore_pairs.XXXXXX");
    if (cs_test_store_make(f->dir) < 0)
        return -1;
    find_colliding_pairs(f->pair_x, f->pair_y, sizeof(f->pair_x));
    for (uint32_t seg = 1; seg <= N_FILES; seg++)
        write_file(f, seg, 0, file_records[seg]);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    if (cs_test_rmtree(f->dir) < 0)
        return -1;
    free(f);
    return 0;
}

/* ---- reading ---------------------------------------------------------- */

typedef struct rec {
    uint64_t id;
    int64_t ts, latency;
    char pair[16], key[16];
} rec;

typedef struct recs {
    size_t n;
    rec v[MAX_RECS];
} recs;

static int keep_rec(void *ud, const cs_measurement *ms)
{
    recs *s = ud;
    rec *r;

    assert_true(s->n < MAX_RECS);
    r = &s->v[s->n++];
    r->id = ms->id;
    r->ts = ms->req_ts_ns;
    r->latency = ms->latency_ns;
    snprintf(r->pair, sizeof(r->pair), "%s", ms->pair);
    snprintf(r->key, sizeof(r->key), "%.*s", (int)ms->key.len, ms->key.p);
    return 0;
}

/* Every measurement of the store, in store order, read without a pair. */
static void read_everything(const fixture *f, recs *all)
{
    cs_msgreader *r;
    cs_latfilter lf;

    cs_latfilter_init(&lf);
    all->n = 0;
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    assert_int_equal(cs_msgreader_measurements(r, &lf, keep_rec, all), 0);
    cs_msgreader_close(r);
}

static int cmp_time(const void *a, const void *b)
{
    const rec *x = a, *y = b;

    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_latency(const void *a, const void *b)
{
    const rec *x = a, *y = b;

    if (x->latency != y->latency)
        return x->latency > y->latency ? -1 : 1;
    return cmp_time(a, b);
}

/* What "lf" asks of "all" (store order), filtered and sorted by hand. */
static void expect(const recs *all, const cs_latfilter *lf, recs *want)
{
    size_t m = 0;

    want->n = 0;
    for (size_t i = 0; i < all->n; i++) {
        const rec *r = &all->v[i];

        if (strcmp(r->pair, lf->pair) != 0 || r->ts < lf->after || r->ts >= lf->before ||
            (lf->key && strcmp(r->key, lf->key) != 0))
            continue;
        want->v[want->n++] = *r;
    }
    if (lf->sort == CS_LATSORT_TIME)
        qsort(want->v, want->n, sizeof(rec), cmp_time);
    else if (lf->sort == CS_LATSORT_LATENCY)
        qsort(want->v, want->n, sizeof(rec), cmp_latency);
    for (size_t i = lf->offset; i < want->n && (!lf->limit || m < lf->limit); i++)
        want->v[m++] = want->v[i];
    want->n = m;
}

/* The query "lf" returns exactly what expect() says, in its order. */
static void check_query(cs_msgreader *r, const recs *all, const cs_latfilter *lf, recs *got,
                        recs *want)
{
    expect(all, lf, want);
    got->n = 0;
    assert_int_equal(cs_msgreader_measurements(r, lf, keep_rec, got), 0);
    if (got->n != want->n)
        fail_msg("pair %s sort %d key %s offset %lu limit %lu: %zu records, want %zu", lf->pair,
                 lf->sort, lf->key ? lf->key : "-", (unsigned long)lf->offset,
                 (unsigned long)lf->limit, got->n, want->n);
    for (size_t i = 0; i < want->n; i++)
        assert_int_equal(got->v[i].id, want->v[i].id);
}

/* Blocks read and passed over by the query "lf". */
static void count_blocks(cs_msgreader *r, const cs_latfilter *lf, uint64_t *read, uint64_t *passed,
                         size_t *records)
{
    uint64_t read0, passed0, read1, passed1;
    recs *got = calloc(1, sizeof(*got));

    cs__lb_stats(&read0, &passed0);
    assert_int_equal(cs_msgreader_measurements(r, lf, keep_rec, got), 0);
    cs__lb_stats(&read1, &passed1);
    *read = read1 - read0;
    *passed = passed1 - passed0;
    *records = got->n;
    free(got);
}

static uint64_t blocks_of(uint32_t seg)
{
    return (file_records[seg] + CS__LB_RECORDS - 1) / CS__LB_RECORDS;
}

/* ---- tests ------------------------------------------------------------ */

/* Every pair, order, window, key and page: what the whole read gives. */
static void test_pair_reads_equal_whole_read(void **state)
{
    fixture *f = *state;
    recs *all = calloc(1, sizeof(*all)), *got = calloc(1, sizeof(*got)),
         *want = calloc(1, sizeof(*want));
    const char *pairs[] = {"fix", "http", "dns", "hop", "p0", "p8", "p9", f->pair_x, f->pair_y};
    static const int sorts[] = {CS_LATSORT_STORE, CS_LATSORT_TIME, CS_LATSORT_LATENCY};
    static const int64_t windows[][2] = {
        {INT64_MIN, INT64_MAX},
        {T0 + 2000000000ll + 300000, T0 + 2000000000ll + 700000}, /* inside file 2 */
        {T0 + 3000000000ll + 100000, T0 + 5000000000ll + 100000}, /* files 3 to 5 */
    };
    static const char *const keys[] = {NULL, "K7", "K39", "KX", "nosuch"};
    static const uint64_t pages[][2] = {{0, 0}, {0, 1}, {3, 5}, {0, 100}};
    cs_msgreader *r;

    read_everything(f, all);
    assert_int_equal(all->n, 1000 + 1024 + 600 + 300 + 256);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++)
        for (size_t s = 0; s < sizeof(sorts) / sizeof(sorts[0]); s++)
            for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]); w++)
                for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
                    for (size_t g = 0; g < sizeof(pages) / sizeof(pages[0]); g++) {
                        cs_latfilter lf;

                        cs_latfilter_init(&lf);
                        lf.pair = pairs[p];
                        lf.sort = sorts[s];
                        lf.after = windows[w][0];
                        lf.before = windows[w][1];
                        lf.key = keys[k];
                        lf.offset = pages[g][0];
                        lf.limit = pages[g][1];
                        check_query(r, all, &lf, got, want);
                    }
    cs_msgreader_close(r);
    free(all);
    free(got);
    free(want);
}

/* The blocks the query "lf" reads (file 3's block 0, of more pairs than
 * it names, is read for any pair); its records are what expect() says. */
static void check_blocks(cs_msgreader *r, const recs *all, const cs_latfilter *lf,
                         uint64_t want_read, uint64_t want_passed)
{
    recs *want = calloc(1, sizeof(*want));
    uint64_t read, passed;
    size_t records;

    expect(all, lf, want);
    count_blocks(r, lf, &read, &passed, &records);
    assert_int_equal(records, want->n);
    assert_int_equal(read, want_read);
    assert_int_equal(passed, want_passed);
    free(want);
}

/* The blocks read: none of a file without the pair, the pair's own
 * otherwise, also a block with too many pairs to name and a colliding
 * hash's. */
static void test_pair_blocks_read(void **state)
{
    fixture *f = *state;
    recs *all = calloc(1, sizeof(*all));
    uint64_t total = 0;
    cs_msgreader *r;
    cs_latfilter lf;

    for (uint32_t seg = 1; seg <= N_FILES; seg++)
        total += blocks_of(seg);
    assert_int_equal(total, 14);
    read_everything(f, all); /* summarizes every file */
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    cs_latfilter_init(&lf);

    lf.pair = "hop"; /* in no file: only file 3's block 0 is read */
    check_blocks(r, all, &lf, 1, total - 1);
    lf.after = T0 + 1000000000ll; /* files 1 and 2: passed over, nothing read */
    lf.before = T0 + 3000000000ll;
    check_blocks(r, all, &lf, 0, blocks_of(1) + blocks_of(2));
    lf.sort = CS_LATSORT_TIME;
    check_blocks(r, all, &lf, 0, blocks_of(1) + blocks_of(2));
    lf.sort = CS_LATSORT_STORE;
    lf.after = INT64_MIN;
    lf.before = INT64_MAX;

    lf.pair = "dns"; /* file 2's block 2 */
    check_blocks(r, all, &lf, 2, total - 2);

    lf.key = "KX"; /* file 2's record 100 alone: its blocks 0 and 1 may hold it */
    check_blocks(r, all, &lf, 0, blocks_of(2)); /* dns is in block 2 */
    lf.pair = "fix";
    check_blocks(r, all, &lf, 2, blocks_of(2) - 2);
    lf.key = NULL;

    lf.pair = "p9"; /* no slot in file 3's block 0: pairs_over says read it */
    check_blocks(r, all, &lf, 1, total - 1);

    lf.pair = f->pair_y; /* X's hash: files 4 and 5 read for nothing */
    check_blocks(r, all, &lf, 1 + blocks_of(4) + blocks_of(5),
                 total - 1 - blocks_of(4) - blocks_of(5));

    lf.pair = "dns"; /* a window in file 2: only file 2 opened, its block 2 read */
    lf.after = T0 + 2000000000ll + 600000;
    lf.before = T0 + 2000000000ll + 700000;
    lf.sort = CS_LATSORT_TIME;
    check_blocks(r, all, &lf, 1, blocks_of(2) - 1);
    lf.key = "K7"; /* and a key */
    check_blocks(r, all, &lf, 1, blocks_of(2) - 1);
    cs_msgreader_close(r);
    free(all);
}

/* The statistics of a pair, by pair and by session, equal the entries of
 * that pair in the statistics of every pair. */
static void test_pair_stats_equal_whole_stats(void **state)
{
    fixture *f = *state;
    const char *pairs[] = {"fix", "http", "dns", "hop", "p9", f->pair_x, f->pair_y};
    static const int bys[] = {CS_LATBY_PAIR, CS_LATBY_SESSION};
    cs_msgreader *r;

    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    for (size_t b = 0; b < sizeof(bys) / sizeof(bys[0]); b++) {
        cs_latstats *every, *one;
        size_t n_every, n_one, j = 0;
        cs_latfilter lf;

        cs_latfilter_init(&lf);
        assert_int_equal(cs_msgreader_lat_stats(r, &lf, bys[b], &every, &n_every), 0);
        for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
            lf.pair = pairs[p];
            assert_int_equal(cs_msgreader_lat_stats(r, &lf, bys[b], &one, &n_one), 0);
            j = 0;
            for (size_t i = 0; i < n_every; i++) {
                if (strcmp(every[i].pair, pairs[p]) != 0)
                    continue;
                assert_true(j < n_one);
                assert_string_equal(one[j].session, every[i].session);
                assert_int_equal(cs_lazyhist_count(&one[j].hist),
                                 cs_lazyhist_count(&every[i].hist));
                assert_int_equal(cs_lazyhist_max(&one[j].hist), cs_lazyhist_max(&every[i].hist));
                j++;
            }
            assert_int_equal(j, n_one);
            cs_latstats_free(one, n_one);
        }
        cs_latstats_free(every, n_every);
    }
    cs_msgreader_close(r);
}

/* Records appended to a summarized file are found by pair: its blocks
 * grow with it. File 4 gains hop records (its 300th on), a pair that was
 * in no file when the files were summarized. */
static void test_pair_appended_after_summary(void **state)
{
    fixture *f = *state;
    recs *all = calloc(1, sizeof(*all)), *got = calloc(1, sizeof(*got)),
         *want = calloc(1, sizeof(*want));
    uint64_t read, passed;
    size_t records;
    cs_msgreader *r;
    cs_latfilter lf;

    read_everything(f, all);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    cs_latfilter_init(&lf);
    lf.pair = "hop";
    count_blocks(r, &lf, &read, &passed, &records);
    assert_int_equal(records, 0);
    assert_int_equal(read, 1); /* file 3's block 0, of too many pairs */
    write_file(f, 4, 300, 600);
    read_everything(f, all);
    for (int s = CS_LATSORT_STORE; s <= CS_LATSORT_TIME; s++) {
        lf.sort = s;
        check_query(r, all, &lf, got, want);
        assert_int_equal(got->n, 300);
    }
    lf.sort = CS_LATSORT_STORE;
    count_blocks(r, &lf, &read, &passed, &records);
    assert_int_equal(records, 300);
    assert_int_equal(read, 1 + 2); /* and file 4's blocks 1 (X and hop) and 2 (hop) */
    cs_msgreader_close(r);
    free(all);
    free(got);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pair_reads_equal_whole_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pair_blocks_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pair_stats_equal_whole_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pair_appended_after_summary, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

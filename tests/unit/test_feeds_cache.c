/*
 * test_feeds_cache.c - unit tests of the feeds cache (src/store/feeds_cache*.c): the cached
 * feeds summaries must be those cs_feeds_read() reads from the records.
 *
 * A message store is written with an A/B pair of MoldUDP64 feeds at two
 * taps over about 12 s of capture time in three segment groups (files):
 * data packets and heartbeats with two sessions, ITCH messages of several
 * types (one a letter ITCH lacks), the A/B races with their leads, each
 * written before or after its losing copy, gaps, a stretch of messages
 * out of time order by less than the busiest-ms window, and one message
 * late by more. For hundreds of random [after, before) ranges (whole
 * seconds, any nanosecond, the whole store) the JSON of every summary from
 * the cache must equal cs_feeds_read()'s; and again after more records are
 * appended, after a group's files are replaced by other ones (a
 * reanalysis), and after a group is deleted (retention). The cache must
 * have answered most ranges itself, not handed them all to the full read.
 * The same with a cache built and kept by its own thread, as a server's:
 * read whole while cold, from the cache once built, built again after a
 * replaced group.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/feeds.h"
#include "store/feeds_cache.h"
#include "store/msgstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#define T0 1767623400000000000LL
#define MS 1000000LL
#define SEC 1000000000LL
#define PKTS_PER_GROUP 1500
#define STEP_NS (3 * MS) /* between packets of a feed */
#define LATE_PKT 3100    /* the packet whose ITCH message is written 200 ms late */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Side "feed" (0: A, 1: B) at "tap": source -> the feed's group. */
static cs_endpoints feed_ep(int feed, uint16_t tap)
{
    cs_endpoints ep;

    memset(&ep, 0, sizeof(ep));
    ep.ip_version = 4;
    ep.ip_proto = 17;
    ep.tap = tap;
    ep.addr_a[0] = 10, ep.addr_a[3] = (uint8_t)(1 + feed);
    ep.addr_b[0] = 233, ep.addr_b[1] = 54, ep.addr_b[2] = 12, ep.addr_b[3] = (uint8_t)(111 + feed);
    ep.port_a = ep.port_b = (uint16_t)(26477 + feed);
    return ep;
}

static void put_mold(cs_msgstore *w, int feed, uint16_t tap, const char *type, int64_t ts,
                     cs_msgid id, const char *session)
{
    cs_kv kv[2] = {{{"session", 7}, {session, strlen(session)}}, {{"seq", 3}, {"1", 1}}};
    cs_message m;

    memset(&m, 0, sizeof(m));
    m.id = id;
    m.proto = "moldudp64";
    m.type = (cs_str){type, strlen(type)};
    m.ts_ns = m.last_ts_ns = ts;
    m.ep = feed_ep(feed, tap);
    m.fields = kv;
    m.n_fields = 2;
    m.role = strcmp(type, "data") == 0 ? CS_ROLE_SIGHTING : CS_ROLE_NONE;
    assert_int_equal(cs_msgstore_put_message(w, &m), 0);
}

static void put_itch(cs_msgstore *w, int feed, uint16_t tap, const char *type, int64_t ts,
                     cs_msgid id)
{
    cs_message m;

    memset(&m, 0, sizeof(m));
    m.id = id;
    m.proto = "itch";
    m.type = (cs_str){type, strlen(type)};
    m.ts_ns = m.last_ts_ns = ts;
    m.ep = feed_ep(feed, tap);
    assert_int_equal(cs_msgstore_put_message(w, &m), 0);
}

static void put_race(cs_msgstore *w, int winner, uint16_t tap, int64_t req_ts, int64_t lead,
                     cs_msgid req, cs_msgid resp)
{
    cs_measurement ms;

    memset(&ms, 0, sizeof(ms));
    ms.id = ms.req_id = req;
    ms.resp_id = resp;
    ms.pair = "ab";
    ms.key = (cs_str){"S:1", 3};
    ms.req_ts_ns = req_ts;
    ms.resp_ts_ns = req_ts + lead;
    ms.latency_ns = lead;
    ms.ep = feed_ep(winner, tap);
    assert_int_equal(cs_msgstore_put_measurement(w, &ms), 0);
}

/* The id of message "k" of packet "i" of "feed" at "tap". */
static cs_msgid id_of(int i, int feed, uint16_t tap, int k)
{
    uint32_t seg = 1 + (uint32_t)(i / PKTS_PER_GROUP);

    return CS_MSGID(CS_PKTREF(seg, 24 + 400 * (i % PKTS_PER_GROUP) + 200 * (tap - 1) + 100 * feed),
                    k);
}

/* Packet "i" on both feeds at "tap": data (or a heartbeat), ITCH
 * messages (12 if "burst"), the race, sometimes a gap. */
static void put_packet(cs_msgstore *w, int i, uint16_t tap, int burst)
{
    static const char *const types[] = {"A", "E", "D", "X", "U", "unknown"};
    int64_t t = T0 + (int64_t)i * STEP_NS + (int64_t)(rnd() % 1000);
    int64_t lead = 1000 + (int64_t)(rnd() % 40000);
    int first = (int)(rnd() % 4 == 0); /* B's copy first */
    const char *session = i >= 2500 && i < 2700 ? "SESS2" : "SESS1";
    int race_before = (int)(rnd() % 2);
    int heartbeat = i % 97 == 0;

    if (i >= 2000 && i < 2020)
        t -= 30 * MS; /* out of order, within the window */
    for (int c = 0; c < 2; c++) {
        int feed = c == 0 ? first : !first;
        int64_t ts = c == 0 ? t : t + lead;
        int n_itch = burst ? 12 : heartbeat ? 0 : (int)(rnd() % 4);

        if (c == 1 && race_before && !heartbeat)
            put_race(w, first, tap, t, lead, id_of(i, first, tap, 0), id_of(i, !first, tap, 0));
        put_mold(w, feed, tap, heartbeat ? "heartbeat" : "data", ts, id_of(i, feed, tap, 0),
                 session);
        for (int k = 1; k <= n_itch; k++)
            put_itch(w, feed, tap, types[rnd() % 6], ts - (i == LATE_PKT && k == 1 ? 200 * MS : 0),
                     id_of(i, feed, tap, k));
    }
    if (!race_before && !heartbeat)
        put_race(w, first, tap, t, lead, id_of(i, first, tap, 0), id_of(i, !first, tap, 0));
    if (i % 211 == 0) {
        cs_gap g = {.proto = "moldudp64", .session = {"SESS1", 5}, .first = 7, .count = 3};

        g.ts_ns = t;
        g.ep = feed_ep(0, tap);
        assert_int_equal(cs_msgstore_put_gap(w, &g), 0);
    }
}

static void write_packets(const char *dir, int from, int to)
{
    cs_msgstore *w;

    assert_int_equal(cs_msgstore_open(dir, &w), 0);
    for (int i = from; i < to; i++)
        for (uint16_t tap = 1; tap <= 2; tap++)
            put_packet(w, i, tap, i == to - 1); /* the busiest ms last */
    assert_int_equal(cs_msgstore_close(w), 0);
}

/* ---- comparing --------------------------------------------------------------- */

/* The JSON of every summary of "fs", into a buffer the caller frees. */
static char *json_all(const cs_feeds *fs)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    for (size_t i = 0; i < cs_feeds_count(fs); i++) {
        cs_feed_json(f, cs_feeds_get(fs, i));
        fputc('\n', f);
    }
    fclose(f);
    return buf;
}

static void same_answer(cs_feeds_cache *c, cs_msgreader *r, int64_t after, int64_t before)
{
    cs_feeds *want, *got;
    char *a, *b;

    assert_int_equal(cs_feeds_read(r, after, before, &want), 0);
    assert_int_equal(cs_feeds_cache_read(c, r, after, before, &got), 0);
    a = json_all(want);
    b = json_all(got);
    if (strcmp(a, b) != 0) {
        fprintf(stderr, "range [%lld, %lld):\nwant %s\ngot  %s\n", (long long)after,
                (long long)before, a, b);
        fail_msg("the cache's answer differs");
    }
    free(a);
    free(b);
    cs_feeds_free(want);
    cs_feeds_free(got);
}

/* A random range over the store's times [T0 - 1 s, T0 + span + 1 s). */
static void random_range(int64_t span, int64_t *after, int64_t *before)
{
    int64_t lo = T0 - SEC, n = span + 2 * SEC;

    switch (rnd() % 4) {
    case 0: /* whole seconds */
        *after = lo + (int64_t)(rnd() % (uint64_t)(n / SEC)) * SEC;
        *before = *after + (int64_t)(1 + rnd() % 8) * SEC;
        break;
    case 1: /* under two seconds */
        *after = lo + (int64_t)(rnd() % (uint64_t)n);
        *before = *after + (int64_t)(rnd() % (uint64_t)(2 * SEC));
        break;
    case 2: /* open ended */
        *after = rnd() % 2 ? INT64_MIN : lo + (int64_t)(rnd() % (uint64_t)n);
        *before = *after == INT64_MIN ? lo + (int64_t)(rnd() % (uint64_t)n) : INT64_MAX;
        break;
    default:
        *after = lo + (int64_t)(rnd() % (uint64_t)n);
        *before = *after + (int64_t)(rnd() % (uint64_t)(n / 2));
    }
}

/* The whole store, then "n" random ranges; "whole_cached": the whole
 * store must come from the cache (no late message in it yet). */
static void many_ranges(cs_feeds_cache *c, const char *dir, int64_t span, int n, int whole_cached)
{
    cs_feeds_cache_stats st0, st1;
    cs_msgreader *r;

    assert_int_equal(cs_msgreader_open(dir, &r), 0);
    cs_feeds_cache_stats_get(c, &st0);
    same_answer(c, r, INT64_MIN, INT64_MAX);
    cs_feeds_cache_stats_get(c, &st1);
    if (whole_cached)
        assert_int_equal(st1.cached, st0.cached + 1);
    for (int i = 0; i < n; i++) {
        int64_t after, before;

        random_range(span, &after, &before);
        same_answer(c, r, after, before);
    }
    cs_msgreader_close(r);
}

/* ---- the tests ---------------------------------------------------------------- */

typedef struct fixture {
    char dir[64], other[64];
} fixture;

static void make_store(char *dir)
{
    char marker[128];
    FILE *fp;

    snprintf(dir, 64, "/tmp/test_feeds_cache.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(marker, sizeof(marker), "%s/capstream.store", dir);
    assert_non_null(fp = fopen(marker, "w"));
    fputs("capstream store\n", fp);
    fclose(fp);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    make_store(f->dir);
    make_store(f->other);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[200];

    snprintf(cmd, sizeof(cmd), "rm -rf %s %s", f->dir, f->other);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* Moves group "seg"'s files of kinds msg, lat and gap from "from" over
 * those of "to" (NULL: deletes them). */
static void move_group(const char *from, const char *to, uint32_t seg)
{
    static const char *const kinds[] = {"msg", "lat", "gap"};
    char a[200], b[200];

    for (int k = 0; k < 3; k++) {
        snprintf(b, sizeof(b), "%s/messages/%s-%08u.bin", to ? to : from, kinds[k], (unsigned)seg);
        if (to == NULL) {
            unlink(b);
            continue;
        }
        snprintf(a, sizeof(a), "%s/messages/%s-%08u.bin", from, kinds[k], (unsigned)seg);
        if (rename(a, b) != 0 && !(k == 2 && errno == ENOENT)) /* gaps: group 0 */
            fail_msg("rename %s %s: %s", a, b, strerror(errno));
    }
}

static void test_same_as_read(void **state)
{
    fixture *f = *state;
    cs_feeds_cache *c;
    cs_feeds_cache_stats st;
    int64_t span = 4500LL * STEP_NS;

    rng_state = 0x9e3779b97f4a7c15ull;
    assert_int_equal(cs_feeds_cache_new(&c), 0);
    write_packets(f->dir, 0, 2600);
    many_ranges(c, f->dir, span, 300, 1);
    /* the writer appends: the cache reads the rest of the files */
    write_packets(f->dir, 2600, 4500);
    many_ranges(c, f->dir, span, 300, 0);
    cs_feeds_cache_stats_get(c, &st);
    assert_int_equal(st.rebuilds, 0);
    /* a reanalysis replaces group 2 with other records */
    write_packets(f->other, PKTS_PER_GROUP, 2 * PKTS_PER_GROUP - 300);
    move_group(f->other, f->dir, 2);
    many_ranges(c, f->dir, span, 200, 0);
    cs_feeds_cache_stats_get(c, &st);
    assert_int_equal(st.rebuilds, 1);
    /* retention deletes group 1 */
    move_group(f->dir, NULL, 1);
    many_ranges(c, f->dir, span, 200, 0);
    cs_feeds_cache_stats_get(c, &st);
    fprintf(stderr, "cached %llu, read whole %llu, rebuilds %llu, %llu bytes\n",
            (unsigned long long)st.cached, (unsigned long long)st.whole,
            (unsigned long long)st.rebuilds, (unsigned long long)st.bytes);
    /* it answered a good share itself (the others: under two seconds, or
     * touching the late message or both sessions at the ends) */
    assert_true(st.cached * 3 > st.cached + st.whole);
    cs_feeds_cache_free(c);
}

/* Waits until the thread of "c" has published its build (at most 20 s). */
static void wait_ready(cs_feeds_cache *c, uint64_t builds)
{
    cs_feeds_cache_stats st;

    for (int i = 0; i < 2000; i++) {
        cs_feeds_cache_stats_get(c, &st);
        if (st.ready && st.builds >= builds)
            return;
        usleep(10000);
    }
    fail_msg("the feeds cache's thread built nothing in 20 s");
}

/* A cache with its own thread (as a server's): the same answers while it
 * is cold (read whole), once built, after appends it reads itself, and
 * after a replaced group makes the thread build it again. */
static void test_background(void **state)
{
    fixture *f = *state;
    cs_feeds_cache *c;
    cs_feeds_cache_stats st;
    cs_msgreader *r;
    int64_t span = 4500LL * STEP_NS;

    rng_state = 0x2545f4914f6cdd1dull;
    write_packets(f->dir, 0, 2600);
    assert_int_equal(cs_feeds_cache_start(f->dir, &c), 0);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    same_answer(c, r, INT64_MIN, INT64_MAX); /* most likely before the build is done */
    cs_msgreader_close(r);
    wait_ready(c, 1);
    many_ranges(c, f->dir, span, 200, 1);
    write_packets(f->dir, 2600, 4500);
    many_ranges(c, f->dir, span, 200, 0);
    write_packets(f->other, PKTS_PER_GROUP, 2 * PKTS_PER_GROUP - 300);
    move_group(f->other, f->dir, 2);
    many_ranges(c, f->dir, span, 100, 0); /* read whole until built again */
    wait_ready(c, 2);
    many_ranges(c, f->dir, span, 200, 0);
    cs_feeds_cache_stats_get(c, &st);
    fprintf(stderr, "background: cached %llu, read whole %llu, builds %llu, rebuilds %llu\n",
            (unsigned long long)st.cached, (unsigned long long)st.whole,
            (unsigned long long)st.builds, (unsigned long long)st.rebuilds);
    assert_int_equal(st.builds, 2);
    assert_true(st.cached * 3 > st.cached + st.whole);
    cs_feeds_cache_stop(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_as_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

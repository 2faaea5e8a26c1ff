/*
 * test_feeds.c - unit tests of src/store/feeds.c, the per feed and tap
 * summaries of MoldUDP64 market data.
 *
 * Records are made by hand, as the moldudp64 decoder and the analyzer
 * would store them, on two feeds of an A/B pair (A: 10.9.0.1:26477 ->
 * 233.54.12.111:26477, B: 10.9.0.2:26478 -> 233.54.12.112:26478) and a
 * re-request server's answers, and given to the aggregation one by one;
 * the summaries' counters, nearest-rank lead percentiles, won shares,
 * busiest millisecond (earliest of equals, disorder within the window,
 * late messages), ITCH counts by type, order and JSON are checked. Then
 * the same through a real message store read by cs_feeds_read() with a
 * time range (a race's losing copy after "before" is found by one more
 * scan), and allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "store/feeds.h"
#include "store/msgstore.h"
#include "tmpstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767623400000000000LL
#define MS 1000000LL

enum { FEED_A, FEED_B, FEED_RTX };

/* A flow from its source to its feed, as its initiator saw it (dir 0). */
static cs_endpoints feed_ep(int feed, uint16_t tap)
{
    static const uint8_t dst[3][4] = {{233, 54, 12, 111}, {233, 54, 12, 112}, {10, 1, 0, 30}};
    static const uint8_t src[3][4] = {{10, 9, 0, 1}, {10, 9, 0, 2}, {10, 9, 0, 5}};
    static const uint16_t sport[3] = {26477, 26478, 26500}, dport[3] = {26477, 26478, 40001};
    cs_endpoints ep;

    memset(&ep, 0, sizeof(ep));
    ep.ip_version = 4;
    ep.ip_proto = 17;
    ep.tap = tap;
    memcpy(ep.addr_a, src[feed], 4);
    memcpy(ep.addr_b, dst[feed], 4);
    ep.port_a = sport[feed];
    ep.port_b = dport[feed];
    return ep;
}

typedef struct rec {
    cs_message m;
    cs_kv kv[4];
} rec;

/* A moldudp64 packet message of "type" on "feed". */
static cs_message *mold(rec *r, int feed, uint16_t tap, const char *type, int64_t ts, cs_msgid id)
{
    memset(r, 0, sizeof(*r));
    r->m.id = id;
    r->m.proto = "moldudp64";
    r->m.type = (cs_str){type, strlen(type)};
    r->m.ts_ns = r->m.last_ts_ns = ts;
    r->m.ep = feed_ep(feed, tap);
    r->kv[0] = (cs_kv){{"session", 7}, {"SESS1", 5}};
    r->kv[1] = (cs_kv){{"seq", 3}, {"1", 1}};
    r->kv[2] = (cs_kv){{"count", 5}, {"1", 1}};
    r->kv[3] = (cs_kv){{"retransmission", 14}, {"1", 1}};
    r->m.fields = r->kv;
    r->m.n_fields = feed == FEED_RTX ? 4 : 3;
    if (strcmp(type, "data") == 0 && feed != FEED_RTX)
        r->m.role = CS_ROLE_SIGHTING;
    return &r->m;
}

static cs_message *itch(rec *r, int feed, uint16_t tap, const char *type, int64_t ts)
{
    memset(r, 0, sizeof(*r));
    r->m.id = 1;
    r->m.proto = "itch";
    r->m.type = (cs_str){type, strlen(type)};
    r->m.ts_ns = r->m.last_ts_ns = ts;
    r->m.ep = feed_ep(feed, tap);
    return &r->m;
}

/* A race at "tap" that "winner" won by "lead", answered by message "resp". */
static cs_measurement race(int winner, uint16_t tap, int64_t req_ts, int64_t lead, cs_msgid resp)
{
    cs_measurement ms;

    memset(&ms, 0, sizeof(ms));
    ms.id = ms.req_id = resp + 1000000;
    ms.resp_id = resp;
    ms.pair = "ab";
    ms.key = (cs_str){"SESS1:1", 7};
    ms.req_ts_ns = req_ts;
    ms.resp_ts_ns = req_ts + lead;
    ms.latency_ns = lead;
    ms.ep = feed_ep(winner, tap);
    return ms;
}

/* The summary of "feed" at "tap" (fails the test if there is none). */
static const cs_feed_summary *find(const cs_feeds *fs, const char *feed, uint16_t tap)
{
    for (size_t i = 0; i < cs_feeds_count(fs); i++)
        if (cs_feeds_get(fs, i)->tap == tap && strcmp(cs_feeds_get(fs, i)->feed, feed) == 0)
            return cs_feeds_get(fs, i);
    fail_msg("no feed %s at tap %u", feed, (unsigned)tap);
    return NULL;
}

static char *json_of(const cs_feed_summary *s, char *buf, size_t n)
{
    FILE *f = fmemopen(buf, n, "w");

    assert_non_null(f);
    cs_feed_json(f, s);
    fclose(f);
    return buf;
}

/* Packets by type, sessions, the retransmission flag, requests left out. */
static void test_packets(void **state)
{
    cs_feeds *fs;
    rec r;

    (void)state;
    assert_int_equal(cs_feeds_new(&fs), 0);
    assert_int_equal(cs_feeds_add_message(fs, mold(&r, FEED_A, 1, "data", T0, 11)), 0);
    r.kv[0].val = (cs_str){"SESS2", 5};
    assert_int_equal(cs_feeds_add_message(fs, &r.m), 0);
    assert_int_equal(cs_feeds_add_message(fs, mold(&r, FEED_A, 1, "heartbeat", T0, 12)), 0);
    assert_int_equal(cs_feeds_add_message(fs, mold(&r, FEED_A, 1, "end_of_session", T0, 13)), 0);
    assert_int_equal(cs_feeds_add_message(fs, mold(&r, FEED_RTX, 1, "data", T0, 14)), 0);
    mold(&r, FEED_RTX, 1, "request", T0, 15);
    r.m.dir = 1; /* the feed handler's request, to 10.9.0.5:26500 */
    assert_int_equal(cs_feeds_add_message(fs, &r.m), 0);
    r.m.proto = "soupbintcp";
    assert_int_equal(cs_feeds_add_message(fs, &r.m), 0);
    cs_feeds_finish(fs);

    assert_int_equal(cs_feeds_count(fs), 2); /* a request's direction is no feed */
    const cs_feed_summary *a = find(fs, "233.54.12.111:26477", 1);
    assert_int_equal(a->packets, 4);
    assert_int_equal(a->data_packets, 2);
    assert_int_equal(a->heartbeats, 1);
    assert_int_equal(a->n_sessions, 2);
    assert_string_equal(a->session[0], "SESS1");
    assert_string_equal(a->session[1], "SESS2");
    assert_false(a->retransmission);
    const cs_feed_summary *x = find(fs, "10.1.0.30:40001", 1);
    assert_true(x->retransmission);
    assert_int_equal(x->packets, 1);
    cs_feeds_free(fs);
}

/* ITCH messages by type letter (unknown types apart) and their JSON. */
static void test_by_type(void **state)
{
    static const char *const types[] = {"A", "F", "A", "unknown", "S", "A"};
    char buf[2048];
    cs_feeds *fs;
    rec r;

    (void)state;
    assert_int_equal(cs_feeds_new(&fs), 0);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        assert_int_equal(cs_feeds_add_message(fs, itch(&r, FEED_B, 2, types[i], T0 + (int64_t)i)),
                         0);
    cs_feeds_finish(fs);
    const cs_feed_summary *b = find(fs, "233.54.12.112:26478", 2);
    assert_int_equal(b->messages, 6);
    assert_int_equal(b->by_type['A'], 3);
    assert_int_equal(b->by_type['F'], 1);
    assert_int_equal(b->by_type['S'], 1);
    assert_int_equal(b->unknown_types, 1);
    assert_non_null(strstr(json_of(b, buf, sizeof(buf)),
                           "\"messages\":6,\"by_type\":{\"A\":3,\"F\":1,\"S\":1,\"unknown\":1}"));
    cs_feeds_free(fs);
}

/* Nearest-rank percentiles of the leads of the races won: 100 leads 1..100
 * in a shuffled order give p50 50, p99 99, max 100; three give the 2nd and
 * the 3rd; one gives itself. */
static void test_lead_percentiles(void **state)
{
    cs_feeds *fs;

    (void)state;
    assert_int_equal(cs_feeds_new(&fs), 0);
    for (int i = 0; i < 100; i++) {
        cs_measurement ms = race(FEED_A, 1, T0 + i, 1 + (i * 37) % 100, 100 + (cs_msgid)i);

        assert_int_equal(cs_feeds_add_race(fs, &ms), 0);
    }
    for (int i = 0; i < 3; i++) {
        cs_measurement ms = race(FEED_B, 1, T0 + i, 30 - 10 * i, 300 + (cs_msgid)i);

        assert_int_equal(cs_feeds_add_race(fs, &ms), 0);
    }
    cs_measurement one = race(FEED_A, 2, T0, 777, 400);
    assert_int_equal(cs_feeds_add_race(fs, &one), 0);
    cs_feeds_finish(fs);

    const cs_feed_summary *a = find(fs, "233.54.12.111:26477", 1);
    assert_true(a->has_lead);
    assert_int_equal(a->lead_p50, 50);
    assert_int_equal(a->lead_p99, 99);
    assert_int_equal(a->lead_max, 100);
    const cs_feed_summary *b = find(fs, "233.54.12.112:26478", 1);
    assert_int_equal(b->lead_p50, 20);
    assert_int_equal(b->lead_p99, 30);
    assert_int_equal(b->lead_max, 30);
    const cs_feed_summary *a2 = find(fs, "233.54.12.111:26477", 2);
    assert_int_equal(a2->lead_p50, 777);
    assert_int_equal(a2->lead_p99, 777);
    cs_feeds_free(fs);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* The leads' p50, p99 and max are selected, not sorted: against a sort of
 * the same values, for sizes around the ranks' edges and for orders that
 * make a quickselect slow (descending, all equal, few distinct values). */
static void test_lead_selection(void **state)
{
    static const size_t sizes[] = {1, 2, 3, 99, 100, 101, 1000, 20000};
    int64_t *v = malloc(20000 * sizeof(*v));

    (void)state;
    assert_non_null(v);
    for (int pattern = 0; pattern < 4; pattern++)
        for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
            size_t n = sizes[si];
            cs_feeds *fs;
            uint64_t x = 88172645463325252ULL;

            assert_int_equal(cs_feeds_new(&fs), 0);
            for (size_t i = 0; i < n; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                v[i] = pattern == 0   ? (int64_t)(x % 1000000)
                       : pattern == 1 ? (int64_t)(n - i)
                       : pattern == 2 ? 42
                                      : (int64_t)(x % 3);
                cs_measurement ms = race(FEED_A, 3, T0 + (int64_t)i, v[i], 1000 + (cs_msgid)i);
                assert_int_equal(cs_feeds_add_race(fs, &ms), 0);
            }
            cs_feeds_finish(fs);
            qsort(v, n, sizeof(*v), cmp_i64);
            const cs_feed_summary *a = find(fs, "233.54.12.111:26477", 3);
            assert_int_equal(a->lead_p50, v[(50 * n + 99) / 100 - 1]);
            assert_int_equal(a->lead_p99, v[(99 * n + 99) / 100 - 1]);
            assert_int_equal(a->lead_max, v[n - 1]);
            cs_feeds_free(fs);
        }
    free(v);
}

/* Races and shares: the loser is the feed of the response message (a race
 * between two sources of one feed counts once for it); a response never
 * seen leaves its loser uncounted; no race, share 0 and lead null. */
static void test_race_share(void **state)
{
    char buf[2048];
    cs_feeds *fs;
    rec r;

    (void)state;
    assert_int_equal(cs_feeds_new(&fs), 0);
    for (int i = 0; i < 5; i++) { /* A wins 0, 1, 2 and 4; B wins 3 */
        cs_measurement ms = race(i == 3 ? FEED_B : FEED_A, 1, T0 + i, 10 + i, 50 + (cs_msgid)i);

        assert_int_equal(cs_feeds_add_race(fs, &ms), 0);
    }
    for (int i = 0; i < 4; i++) /* the losing copies; race 4's never comes */
        assert_int_equal(cs_feeds_add_message(fs, mold(&r, i == 3 ? FEED_A : FEED_B, 1, "data",
                                                       T0 + i, 50 + (cs_msgid)i)),
                         0);
    assert_int_equal(cs_feeds_add_message(fs, mold(&r, FEED_B, 1, "data", T0, 50)), 0); /* again */
    assert_int_equal(cs_feeds_add_message(fs, mold(&r, FEED_RTX, 2, "data", T0, 7)), 0);
    /* a race between two sources of one feed: it took part once */
    cs_measurement own = race(FEED_A, 1, T0 + 5, 15, 55);
    assert_int_equal(cs_feeds_add_race(fs, &own), 0);
    mold(&r, FEED_A, 1, "data", T0 + 5, 55);
    r.m.ep.port_a = 26499;
    assert_int_equal(cs_feeds_add_message(fs, &r.m), 0);
    cs_feeds_finish(fs);

    const cs_feed_summary *a = find(fs, "233.54.12.111:26477", 1);
    assert_int_equal(a->races, 6);
    assert_int_equal(a->races_won, 5);
    assert_non_null(strstr(json_of(a, buf, sizeof(buf)),
                           "\"races\":6,\"races_won\":5,\"won_share\":0.8333,"
                           "\"lead_ns\":{\"p50\":12,\"p99\":15,\"max\":15}"));
    const cs_feed_summary *b = find(fs, "233.54.12.112:26478", 1);
    assert_int_equal(b->races, 4);
    assert_int_equal(b->races_won, 1);
    assert_non_null(strstr(json_of(b, buf, sizeof(buf)), "\"won_share\":0.2500"));
    const cs_feed_summary *x = find(fs, "10.1.0.30:40001", 2);
    assert_non_null(strstr(json_of(x, buf, sizeof(buf)),
                           "\"races\":0,\"races_won\":0,\"won_share\":0.0000,\"lead_ns\":null"));
    cs_feeds_free(fs);
}

/* The busiest ms: whole ms of capture time, the earliest of equals, a
 * message a few ms behind the newest still counted, one more than the
 * window behind counted as late only. */
static void test_busiest_ms(void **state)
{
    static const int64_t at[] = {
        5 * MS + 1, 5 * MS + 2,   5 * MS + 999999,             /* ms 5: 3 */
        7 * MS,     7 * MS + 1,   7 * MS + 2,      7 * MS + 3, /* ms 7: 4, then 5 below */
        9 * MS,     9 * MS + 1,   9 * MS + 2,      9 * MS + 3, 9 * MS + 4, /* ms 9: 5 */
        7 * MS + 9,               /* behind ms 9, within the window */
        500 * MS,   500 * MS + 1, /* ms 500: 2, closes 5..9 */
        9 * MS + 5,               /* late: more than the window behind */
    };
    char buf[2048];
    cs_feeds *fs;
    rec r;

    (void)state;
    assert_int_equal(cs_feeds_new(&fs), 0);
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
        assert_int_equal(cs_feeds_add_message(fs, itch(&r, FEED_A, 1, "A", T0 + at[i])), 0);
    cs_feeds_finish(fs);
    const cs_feed_summary *a = find(fs, "233.54.12.111:26477", 1);
    assert_int_equal(a->busiest_ts_ns, T0 + 7 * MS);
    assert_int_equal(a->busiest_messages, 5);
    assert_int_equal(a->busiest_late, 1);
    assert_non_null(strstr(json_of(a, buf, sizeof(buf)),
                           "\"busiest_ms\":{\"ts_ns\":1767623400007000000,\"messages\":5,"
                           "\"late\":1}"));
    cs_feeds_free(fs);

    /* the busiest ms last, closed by finish; no ITCH message: null */
    assert_int_equal(cs_feeds_new(&fs), 0);
    assert_int_equal(cs_feeds_add_message(fs, itch(&r, FEED_A, 1, "A", T0 + 3 * MS)), 0);
    assert_int_equal(cs_feeds_add_message(fs, itch(&r, FEED_A, 1, "A", T0 + 4 * MS)), 0);
    assert_int_equal(cs_feeds_add_message(fs, itch(&r, FEED_A, 1, "A", T0 + 4 * MS + 5)), 0);
    assert_int_equal(cs_feeds_add_message(fs, mold(&r, FEED_B, 1, "heartbeat", T0, 1)), 0);
    cs_feeds_finish(fs);
    assert_int_equal(find(fs, "233.54.12.111:26477", 1)->busiest_ts_ns, T0 + 4 * MS);
    assert_int_equal(find(fs, "233.54.12.111:26477", 1)->busiest_messages, 2);
    assert_non_null(strstr(json_of(find(fs, "233.54.12.112:26478", 1), buf, sizeof(buf)),
                           "\"busiest_ms\":null"));
    cs_feeds_free(fs);
}

/* Gaps of moldudp64 only; summaries sorted by tap, then address. */
static void test_gaps_and_order(void **state)
{
    cs_gap g = {.proto = "moldudp64", .session = {"SESS1", 5}, .first = 10, .count = 3};
    cs_feeds *fs;

    (void)state;
    assert_int_equal(cs_feeds_new(&fs), 0);
    g.ep = feed_ep(FEED_B, 2);
    assert_int_equal(cs_feeds_add_gap(fs, &g), 0);
    g.count = 4;
    assert_int_equal(cs_feeds_add_gap(fs, &g), 0);
    g.ep = feed_ep(FEED_A, 2);
    assert_int_equal(cs_feeds_add_gap(fs, &g), 0);
    g.ep = feed_ep(FEED_B, 1);
    assert_int_equal(cs_feeds_add_gap(fs, &g), 0);
    g.proto = "soupbintcp";
    assert_int_equal(cs_feeds_add_gap(fs, &g), 0);
    cs_feeds_finish(fs);

    assert_int_equal(cs_feeds_count(fs), 3);
    assert_string_equal(cs_feeds_get(fs, 0)->feed, "233.54.12.112:26478");
    assert_int_equal(cs_feeds_get(fs, 0)->tap, 1);
    assert_int_equal(cs_feeds_get(fs, 0)->gaps, 1);
    assert_string_equal(cs_feeds_get(fs, 1)->feed, "233.54.12.111:26477");
    assert_string_equal(cs_feeds_get(fs, 2)->feed, "233.54.12.112:26478");
    assert_int_equal(cs_feeds_get(fs, 2)->gaps, 2);
    assert_int_equal(cs_feeds_get(fs, 2)->messages_lost, 7);
    cs_feeds_free(fs);
}

/* Many feeds: the table grows and every one is found again. */
static void test_many_feeds(void **state)
{
    cs_feeds *fs;
    rec r;

    (void)state;
    assert_int_equal(cs_feeds_new(&fs), 0);
    for (int round = 0; round < 2; round++)
        for (uint16_t tap = 0; tap < 300; tap++)
            assert_int_equal(cs_feeds_add_message(fs, itch(&r, FEED_A, tap, "A", T0)), 0);
    cs_feeds_finish(fs);
    assert_int_equal(cs_feeds_count(fs), 300);
    for (size_t i = 0; i < 300; i++) {
        assert_int_equal(cs_feeds_get(fs, i)->tap, i);
        assert_int_equal(cs_feeds_get(fs, i)->messages, 2);
    }
    cs_feeds_free(fs);
}

/* ---- through a store ----------------------------------------------------- */

typedef struct fixture {
    char dir[64];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_feeds.XXXXXX");
    if (cs_test_store_make(f->dir) < 0)
        return -1;
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

/* Packet "i" of feed "feed" at tap 1: its moldudp64 message and two ITCH
 * messages, ids from segment 1 + i / 8 (one file per segment). */
static void put_packet(cs_msgstore *w, int feed, int i, int64_t ts)
{
    cs_msgid id = CS_MSGID(CS_PKTREF(1 + i / 8, 24 + 200 * i + feed * 100), 0);
    rec r;

    assert_int_equal(cs_msgstore_put_message(w, mold(&r, feed, 1, "data", ts, id)), 0);
    for (int k = 1; k <= 2; k++) {
        itch(&r, feed, 1, k == 1 ? "A" : "E", ts);
        r.m.id = id + (cs_msgid)k;
        assert_int_equal(cs_msgstore_put_message(w, &r.m), 0);
    }
}

/* 20 packets on A and B at tap 1, 1 ms apart, B 2 us behind A except on
 * every 5th; the races, and a gap. Read over [5 ms, 12 ms + 1 us): the
 * race of packet 12 (A first at 12 ms) counts for B, whose copy came
 * after "before", found by the scan past "before". */
static void test_read_store(void **state)
{
    fixture *f = *state;
    cs_gap g = {.proto = "moldudp64", .session = {"SESS1", 5}, .first = 3, .count = 2};
    cs_msgstore *w;
    cs_msgreader *r;
    cs_feeds *fs;

    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    for (int i = 0; i < 20; i++) {
        int64_t ta = T0 + i * MS, tb = ta + (i % 5 == 0 ? -2000 : 2000);
        cs_msgid ida = CS_MSGID(CS_PKTREF(1 + i / 8, 24 + 200 * i), 0);
        cs_msgid idb = CS_MSGID(CS_PKTREF(1 + i / 8, 24 + 200 * i + 100), 0);
        cs_measurement ms =
            race(i % 5 == 0 ? FEED_B : FEED_A, 1, ta < tb ? ta : tb, 2000, i % 5 == 0 ? ida : idb);

        put_packet(w, FEED_A, i, ta);
        put_packet(w, FEED_B, i, tb);
        ms.id = ms.req_id = i % 5 == 0 ? idb : ida;
        assert_int_equal(cs_msgstore_put_measurement(w, &ms), 0);
    }
    g.ts_ns = T0 + 6 * MS;
    g.ep = feed_ep(FEED_A, 1);
    assert_int_equal(cs_msgstore_put_gap(w, &g), 0);
    g.ts_ns = T0 + 13 * MS; /* outside */
    assert_int_equal(cs_msgstore_put_gap(w, &g), 0);
    assert_int_equal(cs_msgstore_close(w), 0);

    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    assert_int_equal(cs_feeds_read(r, T0 + 5 * MS, T0 + 12 * MS + 1000, &fs), 0);
    assert_int_equal(cs_feeds_count(fs), 2);
    const cs_feed_summary *a = cs_feeds_get(fs, 0), *b = cs_feeds_get(fs, 1);
    assert_string_equal(a->feed, "233.54.12.111:26477");
    /* A: packets 5..12; B: 6..11 (5 at 5 ms - 2 us and 12 at 12 ms + 2 us
     * are out) */
    assert_int_equal(a->data_packets, 8);
    assert_int_equal(a->messages, 16);
    assert_int_equal(a->by_type['E'], 8);
    assert_int_equal(b->data_packets, 6);
    /* races by the earlier copy: 5 (B at 5 ms - 2 us: out), 6..12: 7 races,
     * B won 10; 12's losing copy (B at 12 ms + 2 us) is after "before" */
    assert_int_equal(a->races, 7);
    assert_int_equal(a->races_won, 6);
    assert_int_equal(b->races, 7);
    assert_int_equal(b->races_won, 1);
    assert_int_equal(a->gaps, 1);
    assert_int_equal(a->messages_lost, 2);
    assert_int_equal(a->busiest_messages, 2);
    assert_int_equal(a->busiest_ts_ns, T0 + 5 * MS);
    cs_feeds_free(fs);

    assert_int_equal(cs_feeds_read(r, INT64_MIN, INT64_MAX, &fs), 0);
    assert_int_equal(cs_feeds_get(fs, 0)->races, 20);
    assert_int_equal(cs_feeds_get(fs, 1)->races, 20);
    assert_int_equal(cs_feeds_get(fs, 1)->races_won, 4);
    cs_feeds_free(fs);
    cs_msgreader_close(r);
}

/* Every allocation that fails is reported as CS_ENOMEM and leaks nothing
 * (the ASan build checks the leaks). */
static void test_alloc_failures(void **state)
{
    int ok = 0;

    (void)state;
    for (long n = 0; n < 200 && !ok; n++) {
        cs_feeds *fs = NULL;
        int rc;
        rec r;

        cs_alloc_fail_after(n);
        rc = cs_feeds_new(&fs);
        for (int i = 0; rc == 0 && i < 40; i++) {
            cs_measurement ms = race(FEED_A, (uint16_t)i, T0, 5, 900 + (cs_msgid)i);

            if ((rc = cs_feeds_add_race(fs, &ms)) == 0)
                rc = cs_feeds_add_message(fs, mold(&r, FEED_B, (uint16_t)i, "data", T0, 900 + i));
        }
        cs_alloc_fail_after(-1);
        if (rc == 0) {
            cs_feeds_finish(fs);
            assert_int_equal(cs_feeds_count(fs), 80);
            ok = 1;
        } else
            assert_int_equal(rc, CS_ENOMEM);
        cs_feeds_free(fs);
    }
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packets),
        cmocka_unit_test(test_by_type),
        cmocka_unit_test(test_lead_percentiles),
        cmocka_unit_test(test_lead_selection),
        cmocka_unit_test(test_race_share),
        cmocka_unit_test(test_busiest_ms),
        cmocka_unit_test(test_gaps_and_order),
        cmocka_unit_test(test_many_feeds),
        cmocka_unit_test_setup_teardown(test_read_store, setup, teardown),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

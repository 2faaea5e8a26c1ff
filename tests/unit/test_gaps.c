/*
 * test_gaps.c - sequence gaps from a decoder to the store and back out.
 *
 * No decoder of capstream reports gaps yet, so this test build adds one,
 * "seqfeed", the way a new protocol is added (its const cs_decoder and one
 * X(seqfeed) through CS_DECODERS_EXTRA before including
 * src/decode/registry.c; see test_registry.c). Its datagrams, to UDP port
 * 4100, carry a 4-byte session, a big-endian u64 sequence number and a u16
 * message count, MoldUDP64's shape: a datagram whose number is past the
 * next expected one reveals a gap (reported through the ctx).
 *
 * The real pipeline (engine/pipeline.c) with a real packet store and
 * message store takes the packets, batch and lossy (the daemon's writer
 * thread); the gaps must then be stored once each with every field
 * (tap, feed, proto, session, first, count, the revealing packet's time
 * and ref, flow), read back by time range and limit, survive a writer
 * reopening the store, be carried over (or replaced) by a reanalysis, and
 * come out of the HTTP API's /api/v1/gaps (cs__api_json) as JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/pipeline.h"
#include "core/cursor.h"
#include "core/error.h"
#include "record/json.h"
#include "server/api_int.h"
#include "store/msgstore.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CS_DECODERS_EXTRA(X) X(seqfeed)
#include "decode/registry.c"

#define T0 1767623400000000000ll
#define SEQFEED_PORT 4100
#define SEQFEED_HDR 14 /* session 4, seq 8, count 2 */

/* ---- the seqfeed decoder ------------------------------------------------ */

typedef struct seqfeed_state {
    uint64_t next; /* next expected number; 0 = none seen yet */
} seqfeed_state;

static cs_probe seqfeed_probe(const uint8_t *data, size_t len, uint8_t dir)
{
    return CS_PROBE_NEED_MORE; /* chosen by port only */
}

static void *seqfeed_new(const cs_endpoints *flow, const cs_decoder_opts *opts)
{
    return calloc(1, sizeof(seqfeed_state));
}

static size_t seqfeed_parse(void *state, cs_decode_ctx *ctx, cs_decode_input *in)
{
    seqfeed_state *st = state;
    cs_cursor c;
    const uint8_t *session;
    uint64_t seq;
    uint16_t count;
    cs_msg_out m;

    cs_cursor_init(&c, in->data, in->len);
    session = cs_cursor_need(&c, 4);
    seq = cs_get_be64(&c);
    count = cs_get_be16(&c);
    if (!cs_cursor_ok(&c))
        return in->len;
    if (st->next != 0 && seq > st->next) {
        cs_seq_gap g = {{(const char *)session, 4}, st->next, seq - st->next};
        cs_decode_seq_gap(ctx, &g);
    }
    if (seq + count > st->next)
        st->next = seq + count;
    memset(&m, 0, sizeof(m));
    m.type = (cs_str){"data", 4};
    m.len = in->len;
    cs_decode_emit(ctx, &m);
    return in->len;
}

static const uint16_t seqfeed_ports[] = {SEQFEED_PORT, 0};

const cs_decoder cs_decoder_seqfeed = {
    .name = "seqfeed",
    .transports = CS_TRANSPORT_UDP,
    .ports = seqfeed_ports,
    .probe = seqfeed_probe,
    .state_new = seqfeed_new,
    .state_free = free,
    .parse = seqfeed_parse,
};

/* ---- packets -------------------------------------------------------------- */

/* An Ethernet/IPv4/UDP frame 10.0.0.1:5000 -> 10.0.0.<dst>:4100 carrying
 * one seqfeed datagram; its length. */
static size_t seqfeed_frame(uint8_t *buf, uint8_t dst, const char *session, uint64_t seq,
                            uint16_t count)
{
    size_t ip_len = 20 + 8 + SEQFEED_HDR;
    uint8_t *u = buf + 14 + 20, *d = u + 8;

    memset(buf, 0, 14 + ip_len);
    buf[12] = 0x08;
    buf[14] = 0x45;
    buf[16] = (uint8_t)(ip_len >> 8);
    buf[17] = (uint8_t)ip_len;
    buf[22] = 64;
    buf[23] = 17;
    buf[26] = 10, buf[29] = 1;
    buf[30] = 10, buf[33] = dst;
    u[0] = 5000 >> 8, u[1] = 5000 & 0xff;
    u[2] = SEQFEED_PORT >> 8, u[3] = SEQFEED_PORT & 0xff;
    u[5] = 8 + SEQFEED_HDR;
    memcpy(d, session, 4);
    for (int i = 0; i < 8; i++)
        d[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
    d[12] = (uint8_t)(count >> 8), d[13] = (uint8_t)count;
    return 14 + ip_len;
}

/* One feed's datagrams: (time offset from T0, seq, count). Gaps: 4..6
 * revealed by seq 7 at T0 + 1.5 s, 9..19 by seq 20 at T0 + 2.2 s; on the
 * second feed (tap 2) 3..4 by seq 5 at T0 + 2.7 s. */
typedef struct dgram {
    int64_t at_ns;
    uint8_t dst;
    uint16_t tap;
    uint64_t seq;
    uint16_t count;
} dgram;

static const dgram feed_dgrams[] = {
    {100000000, 2, 1, 1, 2},  {200000000, 3, 2, 1, 2},  {900000000, 2, 1, 3, 1},
    {1500000000, 2, 1, 7, 1}, {1600000000, 2, 1, 8, 1}, {2200000000, 2, 1, 20, 5},
    {2700000000, 3, 2, 5, 1}, {2800000000, 3, 2, 6, 1},
};
#define N_FEED (sizeof(feed_dgrams) / sizeof(feed_dgrams[0]))

static const struct {
    uint16_t tap;
    const char *feed;
    uint64_t first, count;
    int64_t ts_ns;
} want_gaps[] = {
    {1, "10.0.0.2:4100", 4, 3, T0 + 1500000000},
    {1, "10.0.0.2:4100", 9, 11, T0 + 2200000000},
    {2, "10.0.0.3:4100", 3, 2, T0 + 2700000000},
};
#define N_GAPS (sizeof(want_gaps) / sizeof(want_gaps[0]))

/* ---- fixture -------------------------------------------------------------- */

typedef struct fixture {
    char dir[64];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_gaps.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static const cs_decoder *const seqfeed_only[] = {&cs_decoder_seqfeed, NULL};

/* Ingests the feed into a new store at "dir" through the pipeline ("lossy":
 * the daemon's results writer thread); checks the counters. */
static void ingest_feed(const char *dir, int lossy)
{
    cs_store_opts so = {.flags = CS_STORE_WRITE | CS_STORE_CREATE};
    cs_pipeline_cfg cfg = {0};
    cs_pipeline_stats st;
    cs_pipeline *pl;
    cs_store *s;
    uint8_t buf[128];

    assert_int_equal(cs_store_open(dir, &so, &s), 0);
    cfg.store = s;
    cfg.store_dir = dir;
    cfg.decoders = seqfeed_only;
    cfg.lossy_store = lossy;
    assert_int_equal(cs_pipeline_new(&cfg, &pl), 0);
    for (size_t i = 0; i < N_FEED; i++) {
        size_t len = seqfeed_frame(buf, feed_dgrams[i].dst, "SESA", feed_dgrams[i].seq,
                                   feed_dgrams[i].count);
        cs_packet p = {.ts_ns = T0 + feed_dgrams[i].at_ns,
                       .caplen = (uint32_t)len,
                       .wirelen = (uint32_t)len,
                       .linktype = CS_LINK_ETHERNET,
                       .tap = feed_dgrams[i].tap,
                       .data = buf};
        assert_int_equal(cs_pipeline_packet(pl, &p), 0);
    }
    assert_int_equal(cs_pipeline_finish(pl, &st), 0);
    cs_pipeline_free(pl);
    assert_int_equal(cs_store_close(s), 0);
    assert_int_equal(st.analyzer.seq_gaps, N_GAPS);
    assert_int_equal(st.analyzer.seq_gap_missing, 3 + 11 + 2);
    assert_int_equal(st.gaps_stored, N_GAPS);
    assert_int_equal(st.messages_stored, N_FEED);
}

typedef struct got_gaps {
    size_t n;
    cs_gap g[8];
    char session[8][8];
    char json[8][512];
} got_gaps;

static int keep_gap(void *ud, const cs_gap *g)
{
    got_gaps *got = ud;
    FILE *fp;

    assert_true(got->n < 8);
    got->g[got->n] = *g;
    got->g[got->n].proto = NULL; /* the reader's buffer */
    assert_true(g->session.len < sizeof(got->session[0]));
    memcpy(got->session[got->n], g->session.p, g->session.len);
    fp = fmemopen(got->json[got->n], sizeof(got->json[0]), "w");
    cs_gap_json(fp, g);
    fclose(fp);
    assert_string_equal(g->proto, "seqfeed");
    got->n++;
    return 0;
}

static void read_gaps(const char *dir, int64_t after, int64_t before, uint64_t limit, got_gaps *got)
{
    cs_msgreader *r;

    memset(got, 0, sizeof(*got));
    assert_int_equal(cs_msgreader_open(dir, &r), 0);
    assert_int_equal(cs_msgreader_gaps(r, after, before, limit, keep_gap, got), 0);
    cs_msgreader_close(r);
}

/* Every gap of the feed, each field, its packet the one that revealed it. */
static void check_all_gaps(const char *dir)
{
    cs_store_opts so = {0};
    cs_store *s;
    got_gaps got;
    char want[256];

    read_gaps(dir, INT64_MIN, INT64_MAX, 0, &got);
    assert_int_equal(got.n, N_GAPS);
    assert_int_equal(cs_store_open(dir, &so, &s), 0);
    for (size_t i = 0; i < N_GAPS; i++) {
        const cs_gap *g = &got.g[i];
        cs_packet p;

        assert_int_equal(g->ep.tap, want_gaps[i].tap);
        assert_int_equal(g->first, want_gaps[i].first);
        assert_int_equal(g->count, want_gaps[i].count);
        assert_int_equal(g->ts_ns, want_gaps[i].ts_ns);
        assert_int_equal(g->recovered, 0);
        assert_string_equal(got.session[i], "SESA");
        assert_true(g->ref != 0 && g->flow_id != 0);
        assert_int_equal(cs_store_read(s, g->ref, &p), 0);
        assert_int_equal(p.ts_ns, want_gaps[i].ts_ns); /* the revealing packet */
        snprintf(want, sizeof(want),
                 "{\"kind\":\"gap\",\"tap\":%u,\"feed\":\"%s\",\"proto\":\"seqfeed\",\"session\":"
                 "\"SESA\","
                 "\"first_seq\":%llu,\"count\":%llu,\"ts_ns\":%lld,\"recovered\":false,"
                 "\"packet\":\"%u:%u\",\"flow\":\"%016llx\"}",
                 want_gaps[i].tap, want_gaps[i].feed, (unsigned long long)want_gaps[i].first,
                 (unsigned long long)want_gaps[i].count, (long long)want_gaps[i].ts_ns,
                 (unsigned)CS_PKTREF_SEG(g->ref), (unsigned)CS_PKTREF_OFF(g->ref),
                 (unsigned long long)g->flow_id);
        assert_string_equal(got.json[i], want);
    }
    assert_true(got.g[0].flow_id == got.g[1].flow_id && got.g[0].flow_id != got.g[2].flow_id);
    cs_store_close(s);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_gaps_stored_and_read(void **state)
{
    fixture *f = *state;
    got_gaps got;

    ingest_feed(f->dir, 0);
    check_all_gaps(f->dir);
    /* a time range, [after, before), and a limit */
    read_gaps(f->dir, T0 + 2000000000, INT64_MAX, 0, &got);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.g[0].first, 9);
    read_gaps(f->dir, INT64_MIN, T0 + 2200000000, 0, &got);
    assert_int_equal(got.n, 1);
    read_gaps(f->dir, INT64_MIN, INT64_MAX, 2, &got);
    assert_int_equal(got.n, 2);
}

/* The daemon's path: records encoded ahead, stored by the writer thread. */
static void test_gaps_lossy_pipeline(void **state)
{
    fixture *f = *state;

    ingest_feed(f->dir, 1);
    check_all_gaps(f->dir);
}

/* A writer opening the store again (and appending) keeps the gaps; the
 * store's info counts them. */
static void test_gaps_survive_reopen(void **state)
{
    fixture *f = *state;
    cs_msgstore *w;
    cs_msgreader *r;
    cs_msgstore_info info;

    ingest_feed(f->dir, 0);
    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    assert_int_equal(cs_msgstore_close(w), 0);
    check_all_gaps(f->dir);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    assert_int_equal(cs_msgreader_info(r, &info), 0);
    cs_msgreader_close(r);
    assert_int_equal(info.gaps, N_GAPS);
    assert_int_equal(info.messages, N_FEED);
}

/* Reanalysis of other protocols carries the gaps over; of seqfeed itself,
 * replaces them (no duplicates). */
static void test_gaps_reanalysis(void **state)
{
    fixture *f = *state;
    static const char *const other[] = {"dns", NULL}, *const self[] = {"seqfeed", NULL};
    cs_msgstore *w;
    got_gaps got;

    ingest_feed(f->dir, 0);
    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    assert_int_equal(cs_msgstore_replace_range(w, 1, UINT32_MAX - 1), 0);
    assert_int_equal(cs_msgstore_replace_protos(w, other), 0);
    assert_int_equal(cs_msgstore_close(w), 0);
    check_all_gaps(f->dir);
    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    assert_int_equal(cs_msgstore_replace_range(w, 1, UINT32_MAX - 1), 0);
    assert_int_equal(cs_msgstore_replace_protos(w, self), 0);
    assert_int_equal(cs_msgstore_close(w), 0);
    read_gaps(f->dir, INT64_MIN, INT64_MAX, 0, &got);
    assert_int_equal(got.n, 0);
}

/* GET /api/v1/gaps?after=&limit= through the API's JSON endpoint. */
static void test_gaps_api(void **state)
{
    fixture *f = *state;
    cs__route rt;
    cs__err e;
    cs__params p = {0};
    cs__query q;
    cs__reply out;
    char after[32];

    ingest_feed(f->dir, 0);
    assert_int_equal(cs__api_route("/api/v1/gaps", &rt, &e), 0);
    snprintf(after, sizeof(after), "%lld", T0 + 2000000000);
    cs__params_add(&p, "after", after);
    cs__params_add(&p, "limit", "1");
    assert_int_equal(cs__api_parse(rt.ep, &p, T0, &q, &e), 0);
    assert_int_equal(cs__api_json(f->dir, NULL, NULL, &rt, &q, T0, &out), 0);
    assert_int_equal(out.status, 200);
    assert_non_null(strstr(out.body,
                           "{\"gaps\":[{\"kind\":\"gap\",\"tap\":1,\"feed\":\"10.0.0.2:4100\","
                           "\"proto\":\"seqfeed\",\"session\":\"SESA\",\"first_seq\":9,"
                           "\"count\":11,\"ts_ns\":1767623402200000000,"));
    assert_non_null(strstr(out.body, "],\"offset\":0,\"limit\":1,\"count\":1,\"more\":true}"));
    cs__reply_free(&out);
    /* a parameter gaps do not take is a 400 naming it */
    memset(&p, 0, sizeof(p));
    cs__params_add(&p, "proto", "dns");
    assert_int_equal(cs__api_parse(rt.ep, &p, T0, &q, &e), CS_EINVAL);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.param, "proto");
}

/* A TCP gap's feed is its connection, initiator first. */
static void test_gap_feed_tcp(void **state)
{
    cs_gap g = {.proto = "soupbintcp", .session = {"S1", 2}, .first = 5, .count = 1, .dir = 1};
    char feed[CS_FEED_BUFLEN];

    g.ep.ip_version = 4;
    g.ep.ip_proto = 6;
    g.ep.addr_a[0] = 10, g.ep.addr_a[3] = 1;
    g.ep.addr_b[0] = 10, g.ep.addr_b[3] = 9;
    g.ep.port_a = 40000;
    g.ep.port_b = 26400;
    assert_string_equal(cs_gap_feed(&g, feed), "10.0.0.1:40000-10.0.0.9:26400");
    g.ep.ip_proto = 17; /* UDP: where the datagrams of its direction went */
    assert_string_equal(cs_gap_feed(&g, feed), "10.0.0.1:40000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gaps_stored_and_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gaps_lossy_pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gaps_survive_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gaps_reanalysis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gaps_api, setup, teardown),
        cmocka_unit_test(test_gap_feed_tcp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

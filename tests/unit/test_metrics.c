/*
 * test_metrics.c - the per-second metrics aggregator on synthetic events:
 * exact counts per window, the busiest millisecond, late and out-of-order
 * capture times, errors per protocol, gauge increases, idle series, and
 * percentiles of merged windows against the exact sample quantiles (within
 * 1%).
 */
#include "analytics/metrics.h"

#include "core/alloc.h"
#include "core/error.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SEC CS_NS_PER_SEC
#define MS 1000000LL
#define T0 (1767623400LL * SEC) /* 2026-01-05T14:30:00Z */
#define MAXW 4096

/* Windows received (histograms merged into one accumulator per test). */
typedef struct collect {
    cs_window w[MAXW];
    size_t n;
    cs_metrics_acc *pair_acc;
} collect;

static void on_window(void *ud, const cs_window *w)
{
    collect *c = ud;

    assert_true(c->n < MAXW);
    c->w[c->n] = *w;
    c->w[c->n].hist = NULL;
    c->n++;
    if (w->series.kind == CS_SERIES_PAIR && c->pair_acc)
        cs_metrics_acc_add(c->pair_acc, w);
}

static const cs_window *find(const collect *c, int kind, const char *name, int64_t start)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->w[i].series.kind == kind && strcmp(c->w[i].series.name, name) == 0 &&
            c->w[i].start_ns == start)
            return &c->w[i];
    }
    return NULL;
}

static size_t count_series(const collect *c, int kind, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += c->w[i].series.kind == kind && strcmp(c->w[i].series.name, name) == 0;
    return n;
}

static void packet(cs_metrics *m, int64_t ts, uint16_t tap, uint32_t len)
{
    cs_packet p = {.ts_ns = ts, .caplen = len, .wirelen = len, .linktype = 1, .tap = tap};
    cs_metrics_packet(m, &p);
}

static cs_metrics *new_metrics(collect *c, int64_t grace)
{
    cs_metrics_cfg cfg;
    cs_metrics *m;

    cs_metrics_cfg_default(&cfg);
    cfg.grace_ns = grace;
    cfg.idle_windows = 5;
    assert_int_equal(cs_metrics_new(&cfg, on_window, c, &m), 0);
    return m;
}

static void test_counts_per_tap(void **state)
{
    collect *c = calloc(1, sizeof(*c));
    cs_metrics *m = new_metrics(c, 0);
    const cs_window *w;

    for (int s = 0; s < 3; s++) {
        for (int i = 0; i <= s; i++)
            packet(m, T0 + s * SEC + i * 10 * MS, 0, 100);
        packet(m, T0 + s * SEC + 500 * MS, 7, 60);
    }
    cs_metrics_flush(m);
    for (int s = 0; s < 3; s++) {
        assert_non_null(w = find(c, CS_SERIES_TAP, "0", T0 + s * SEC));
        assert_int_equal(w->packets, s + 1);
        assert_int_equal(w->bytes, 100 * (s + 1));
        assert_int_equal(w->dur_ns, SEC);
        assert_int_equal(cs_window_count(w), s + 1);
        assert_non_null(w = find(c, CS_SERIES_TAP, "7", T0 + s * SEC));
        assert_int_equal(w->packets, 1);
        assert_non_null(w = find(c, CS_SERIES_CAPTURE, "capture", T0 + s * SEC));
        assert_int_equal(w->packets, s + 2);
        assert_int_equal(w->bytes, 100 * (s + 1) + 60);
    }
    assert_int_equal(count_series(c, CS_SERIES_TAP, "0"), 3);
    assert_int_equal(c->n, 9);
    cs_metrics_free(m);
    free(c);
}

static void test_busiest_ms(void **state)
{
    collect *c = calloc(1, sizeof(*c));
    cs_metrics *m = new_metrics(c, 0);
    const cs_window *w;

    for (int i = 0; i < 5; i++)
        packet(m, T0 + 123 * MS + i * 1000, 2, 100); /* 5 x 100 B in ms 123 */
    packet(m, T0 + 500 * MS, 2, 1500);               /* 2 x 1500 B in ms 500 */
    packet(m, T0 + 500 * MS + 999999, 2, 1500);
    packet(m, T0 + 999 * MS, 2, 64);
    cs_metrics_flush(m);
    assert_non_null(w = find(c, CS_SERIES_TAP, "2", T0));
    assert_int_equal(w->packets, 8);
    assert_int_equal(w->burst_packets, 5);
    assert_int_equal(w->burst_packets_ms, 123);
    assert_int_equal(w->burst_bytes, 3000);
    assert_int_equal(w->burst_bytes_ms, 500);
    cs_metrics_free(m);
    free(c);
}

static void test_late_events(void **state)
{
    collect *c = calloc(1, sizeof(*c));
    cs_metrics *m = new_metrics(c, 200 * MS);
    cs_metrics_stats st;
    const cs_window *w;

    packet(m, T0 + 1900 * MS, 0, 10);
    packet(m, T0 + 2100 * MS, 0, 10);
    assert_null(find(c, CS_SERIES_TAP, "0", T0 + SEC)); /* second 1 still open */
    packet(m, T0 + 1950 * MS, 0, 10);                   /* within the grace */
    packet(m, T0 + 2500 * MS, 0, 10);                   /* closes second 1 */
    assert_non_null(w = find(c, CS_SERIES_TAP, "0", T0 + SEC));
    assert_int_equal(w->packets, 2);
    assert_int_equal(w->late, 0);
    packet(m, T0 + 1990 * MS, 0, 10); /* second 1 is closed: counted in 2 */
    cs_metrics_advance(m, T0 + 3200 * MS);
    assert_non_null(w = find(c, CS_SERIES_TAP, "0", T0 + 2 * SEC));
    assert_int_equal(w->packets, 3);
    assert_int_equal(w->late, 1);
    cs_metrics_stats_get(m, &st);
    assert_int_equal(st.late, 2); /* tap and capture series */
    cs_metrics_free(m);
    free(c);
}

static void test_idle_and_jump(void **state)
{
    collect *c = calloc(1, sizeof(*c));
    cs_metrics *m = new_metrics(c, 0);

    packet(m, T0, 0, 10);
    packet(m, T0 + 365LL * 86400 * SEC, 0, 10); /* a year later */
    cs_metrics_flush(m);
    /* second T0 + 5 idle windows, then the new second only */
    assert_int_equal(count_series(c, CS_SERIES_TAP, "0"), 1 + 5 + 1);
    assert_non_null(find(c, CS_SERIES_TAP, "0", T0 + 5 * SEC));
    assert_null(find(c, CS_SERIES_TAP, "0", T0 + 6 * SEC));
    assert_int_equal(find(c, CS_SERIES_TAP, "0", T0 + 365LL * 86400 * SEC)->packets, 1);
    cs_metrics_free(m);
    free(c);
}

/* A message of "proto" at "ts" with the error reason "error" ("" = none)
 * and an "rcode" field "rcode". */
static cs_message message(const char *proto, int64_t ts, const char *rcode, const char *error)
{
    static cs_kv kv[2];
    cs_message msg;

    memset(&msg, 0, sizeof(msg));
    kv[0] = (cs_kv){{"id", 2}, {"7", 1}};
    kv[1] = (cs_kv){{"rcode", 5}, {rcode, strlen(rcode)}};
    msg.proto = proto;
    msg.type = (cs_str){"response", 8};
    msg.ts_ns = ts;
    msg.fields = kv;
    msg.n_fields = 2;
    msg.error = (cs_str){error, strlen(error)};
    return msg;
}

/* Errors are the messages a decoder gave an error reason (DNS rcode != 0,
 * HTTP 5xx, FIX rejects), counted per protocol; fields alone make none. */
static void test_errors_per_proto(void **state)
{
    collect *c = calloc(1, sizeof(*c));
    cs_metrics *m = new_metrics(c, 0);
    cs_message msg;
    const cs_window *w;

    msg = message("dns", T0 + 1, "0", "");
    cs_metrics_message(m, &msg);
    msg = message("dns", T0 + 2, "3", "rcode NXDOMAIN");
    cs_metrics_message(m, &msg);
    msg = message("dns", T0 + 3, "2", "rcode SERVFAIL");
    cs_metrics_message(m, &msg);
    msg = message("http", T0 + 4, "0", "status 5xx");
    cs_metrics_message(m, &msg);
    msg = message("http", T0 + 4, "0", "");
    cs_metrics_message(m, &msg);
    msg = message("fix", T0 + 5, "3", ""); /* an rcode field is no error */
    cs_metrics_message(m, &msg);
    msg = message("fix", T0 + 5, "0", "order rejected");
    cs_metrics_message(m, &msg);
    cs_metrics_flush(m);
    assert_non_null(w = find(c, CS_SERIES_PROTO, "dns", T0));
    assert_int_equal(w->messages, 3);
    assert_int_equal(w->errors, 2);
    assert_non_null(w = find(c, CS_SERIES_PROTO, "http", T0));
    assert_int_equal(w->messages, 2);
    assert_int_equal(w->errors, 1);
    assert_non_null(w = find(c, CS_SERIES_PROTO, "fix", T0));
    assert_int_equal(w->messages, 2);
    assert_int_equal(w->errors, 1);
    cs_metrics_free(m);
    free(c);
}

/* Sequence gaps are counted per protocol and second: how many gaps, how
 * many numbers missing in them; a gap without a proto is ignored. */
static void test_seq_gaps_per_proto(void **state)
{
    collect *c = calloc(1, sizeof(*c));
    cs_metrics *m = new_metrics(c, 0);
    const cs_window *w;

    cs_metrics_seq_gap(m, "moldudp64", 3, T0 + 1);
    cs_metrics_seq_gap(m, "moldudp64", 4, T0 + 2);
    cs_metrics_seq_gap(m, "moldudp64", 2, T0 + SEC + 5);
    cs_metrics_seq_gap(m, "soupbintcp", 1, T0 + SEC + 6);
    cs_metrics_seq_gap(m, NULL, 9, T0 + SEC + 7);
    cs_metrics_flush(m);
    assert_non_null(w = find(c, CS_SERIES_PROTO, "moldudp64", T0));
    assert_int_equal(w->gaps, 2);
    assert_int_equal(w->missing, 7);
    assert_non_null(w = find(c, CS_SERIES_PROTO, "moldudp64", T0 + SEC));
    assert_int_equal(w->gaps, 1);
    assert_int_equal(w->missing, 2);
    assert_non_null(w = find(c, CS_SERIES_PROTO, "soupbintcp", T0 + SEC));
    assert_int_equal(w->gaps, 1);
    assert_int_equal(w->missing, 1);
    assert_int_equal(w->messages, 0);
    cs_metrics_free(m);
    free(c);
}

static void test_gauges(void **state)
{
    collect *c = calloc(1, sizeof(*c));
    cs_metrics *m = new_metrics(c, 0);
    const cs_window *w;

    assert_int_equal(cs_metrics_gauge(m, "bogus", 1), CS_EINVAL);
    packet(m, T0, 0, 10);
    assert_int_equal(cs_metrics_gauge(m, "kernel_drops", 10), 0);
    packet(m, T0 + SEC, 0, 10);
    assert_int_equal(cs_metrics_gauge(m, "kernel_drops", 15), 0);
    assert_int_equal(cs_metrics_gauge(m, "not_stored", 4), 0);
    packet(m, T0 + 2 * SEC, 0, 10);
    packet(m, T0 + 3 * SEC, 0, 10);
    assert_non_null(w = find(c, CS_SERIES_CAPTURE, "capture", T0));
    assert_int_equal(w->gauges[CS_GAUGE_KERNEL_DROPS], 10);
    assert_non_null(w = find(c, CS_SERIES_CAPTURE, "capture", T0 + SEC));
    assert_int_equal(w->gauges[CS_GAUGE_KERNEL_DROPS], 5);
    assert_int_equal(w->gauges[CS_GAUGE_NOT_STORED], 4);
    assert_non_null(w = find(c, CS_SERIES_CAPTURE, "capture", T0 + 2 * SEC));
    assert_int_equal(w->gauges[CS_GAUGE_KERNEL_DROPS], 0);
    assert_int_equal(w->gauges[CS_GAUGE_NOT_STORED], 0);
    cs_metrics_free(m);
    free(c);
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t exact_quantile(const int64_t *v, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    return v[rank - 1];
}

static void assert_within_1pct(int64_t got, int64_t want)
{
    double err = (double)llabs(got - want) / (double)want;
    if (err > 0.01)
        fail_msg("got %lld, exact %lld (%.3f%% off)", (long long)got, (long long)want, err * 100);
}

static void test_merged_percentiles(void **state)
{
    enum { N = 20000, SECS = 10 };
    collect *c = calloc(1, sizeof(*c));
    int64_t *lat = malloc(N * sizeof(*lat));
    cs_metrics_acc *acc = malloc(sizeof(*acc));
    cs_metrics *m = new_metrics(c, 0);
    cs_metrics_summary s;

    c->pair_acc = acc;
    cs_metrics_acc_init(acc, T0, T0 + SECS * SEC);
    for (int i = 0; i < N; i++) {
        cs_measurement ms;
        memset(&ms, 0, sizeof(ms));
        ms.pair = "fix";
        ms.req_ts_ns = T0 + (int64_t)i * (SECS * SEC / N);
        /* 10 us .. 10 ms, heavy tail */
        lat[i] = 10000 + (int64_t)(rng() % 1000) * (int64_t)(rng() % 10000);
        ms.latency_ns = lat[i];
        ms.resp_ts_ns = ms.req_ts_ns + lat[i];
        cs_metrics_measurement(m, &ms);
    }
    cs_metrics_flush(m);
    cs_metrics_acc_finish(acc, &s);
    qsort(lat, N, sizeof(*lat), cmp_i64);
    assert_int_equal(count_series(c, CS_SERIES_PAIR, "fix"), SECS);
    assert_int_equal(s.windows, SECS);
    assert_int_equal(s.count, N);
    assert_int_equal(s.measurements, N);
    assert_true(s.rate > N / SECS - 1e-6 && s.rate < N / SECS + 1e-6);
    assert_within_1pct(s.p50, exact_quantile(lat, N, 0.50));
    assert_within_1pct(s.p90, exact_quantile(lat, N, 0.90));
    assert_within_1pct(s.p99, exact_quantile(lat, N, 0.99));
    assert_within_1pct(s.p999, exact_quantile(lat, N, 0.999));
    assert_int_equal(s.max, lat[N - 1]);
    assert_int_equal(s.min, lat[0]);
    cs_metrics_free(m);
    free(acc);
    free(lat);
    free(c);
}

typedef struct snap {
    uint64_t tap_packets, pair_count;
    int64_t pair_max;
} snap;

static void on_snapshot(void *ud, const cs_window *w)
{
    snap *s = ud;
    if (w->series.kind == CS_SERIES_TAP)
        s->tap_packets += w->packets;
    if (w->series.kind == CS_SERIES_PAIR) {
        s->pair_count += w->measurements;
        assert_non_null(w->hist);
        s->pair_max = cs_hist_max(w->hist);
    }
}

/* Feed and session series, per tap and over all taps: a MoldUDP64
 * feed's packets (requests are no feed's), ITCH messages and their busiest
 * millisecond, its gaps and the A/B races it won with the lead; an order
 * session's orders, accepts, rejects, errors and OUCH latency. */
typedef struct fsnap {
    uint64_t feed_leads, session_lat;
    int64_t session_max;
} fsnap;

static void on_fsnap(void *ud, const cs_window *w)
{
    fsnap *s = ud;

    if (w->series.kind == CS_SERIES_FEED && strcmp(w->series.name, "3/233.54.12.111:26477") == 0)
        s->feed_leads = w->hist->count;
    if (w->series.kind == CS_SERIES_SESSION && strcmp(w->series.name, "10.1.0.5:40001") == 0) {
        s->session_lat = w->hist->count;
        s->session_max = cs_hist_max(w->hist);
    }
}

static cs_endpoints endpoints(uint16_t tap, int proto, const uint8_t a[4], uint16_t pa,
                              const uint8_t b[4], uint16_t pb)
{
    cs_endpoints ep;

    memset(&ep, 0, sizeof(ep));
    ep.ip_version = 4;
    ep.ip_proto = (uint8_t)proto;
    ep.tap = tap;
    memcpy(ep.addr_a, a, 4);
    memcpy(ep.addr_b, b, 4);
    ep.port_a = pa;
    ep.port_b = pb;
    return ep;
}

static void feed_message(cs_metrics *m, const char *proto, const char *type, const cs_endpoints *ep,
                         uint8_t dir, int64_t ts, const char *error)
{
    cs_message msg;

    memset(&msg, 0, sizeof(msg));
    msg.proto = proto;
    msg.type = (cs_str){type, strlen(type)};
    msg.ep = *ep;
    msg.dir = dir;
    msg.ts_ns = msg.last_ts_ns = ts;
    msg.error = (cs_str){error, strlen(error)};
    cs_metrics_message(m, &msg);
}

static void test_feeds_and_sessions(void **state)
{
    static const uint8_t src[4] = {10, 0, 0, 1}, grp[4] = {233, 54, 12, 111},
                         grp_b[4] = {233, 54, 12, 112}, cli[4] = {10, 1, 0, 5},
                         venue[4] = {10, 2, 0, 1};
    collect *c = calloc(1, sizeof(*c));
    cs_metrics *m = new_metrics(c, 0);
    cs_endpoints a3 = endpoints(3, 17, src, 5000, grp, 26477);
    cs_endpoints a4 = endpoints(4, 17, src, 5000, grp, 26477);
    cs_endpoints b3 = endpoints(3, 17, src, 5000, grp_b, 26478);
    cs_endpoints s3 = endpoints(3, 6, cli, 40001, venue, 15000);
    cs_measurement ms;
    const cs_window *w;
    fsnap fs = {0};

    feed_message(m, "moldudp64", "data", &a3, 0, T0 + 1 * MS, "");
    feed_message(m, "moldudp64", "data", &a3, 0, T0 + 7 * MS, "");
    feed_message(m, "moldudp64", "heartbeat", &a3, 0, T0 + 8 * MS, "");
    feed_message(m, "moldudp64", "request", &a3, 1, T0 + 8 * MS, ""); /* to the source */
    for (int i = 0; i < 3; i++)
        feed_message(m, "itch", "A", &a3, 0, T0 + 7 * MS + i, "");
    feed_message(m, "itch", "E", &a3, 0, T0 + 9 * MS, "");
    feed_message(m, "itch", "E", &a3, 0, T0 + 9 * MS + 1, "");
    feed_message(m, "itch", "E", &a4, 0, T0 + 9 * MS + 5, "");
    cs_metrics_feed_gap(m, &a3, 0, 4, T0 + 10 * MS);
    cs_metrics_feed_gap(m, &a4, 0, 4, T0 + 10 * MS + 5);
    memset(&ms, 0, sizeof(ms));
    ms.pair = "ab";
    ms.ep = a3; /* side b: the feed whose copy came first */
    ms.req_ts_ns = T0 + 7 * MS;
    ms.latency_ns = 2000;
    cs_metrics_measurement(m, &ms);
    ms.ep = b3;
    cs_metrics_measurement(m, &ms);

    for (int i = 0; i < 3; i++)
        feed_message(m, "ouch", "enter_order", &s3, 0, T0 + 20 * MS + i, "");
    feed_message(m, "ouch", "accepted", &s3, 1, T0 + 21 * MS, "");
    feed_message(m, "ouch", "accepted", &s3, 1, T0 + 21 * MS + 1, "");
    feed_message(m, "ouch", "rejected", &s3, 1, T0 + 21 * MS + 2, "rejected: X");
    ms.pair = "ouch";
    ms.ep = s3;
    for (int i = 1; i <= 3; i++) {
        ms.req_ts_ns = T0 + 20 * MS + i;
        ms.latency_ns = i * 10000;
        cs_metrics_measurement(m, &ms);
    }
    cs_metrics_snapshot(m, on_fsnap, &fs);
    cs_metrics_flush(m);

    assert_non_null(w = find(c, CS_SERIES_FEED, "3/233.54.12.111:26477", T0));
    assert_int_equal(w->packets, 3);
    assert_int_equal(w->messages, 5);
    assert_int_equal(cs_window_count(w), 5);
    assert_int_equal(w->gaps, 1);
    assert_int_equal(w->missing, 4);
    assert_int_equal(w->measurements, 1);
    assert_int_equal(w->burst_packets, 3);
    assert_int_equal(w->burst_packets_ms, 7);
    assert_non_null(w = find(c, CS_SERIES_FEED, "4/233.54.12.111:26477", T0));
    assert_int_equal(w->messages, 1);
    assert_int_equal(w->gaps, 1);
    assert_non_null(w = find(c, CS_SERIES_FEED, "233.54.12.111:26477", T0));
    assert_int_equal(w->packets, 3);
    assert_int_equal(w->messages, 6);
    assert_int_equal(w->gaps, 2);
    assert_int_equal(w->missing, 8);
    assert_non_null(w = find(c, CS_SERIES_FEED, "3/233.54.12.112:26478", T0));
    assert_int_equal(w->measurements, 1);
    assert_null(find(c, CS_SERIES_FEED, "3/10.0.0.1:5000", T0)); /* the request's side */
    assert_int_equal(fs.feed_leads, 1);

    assert_non_null(w = find(c, CS_SERIES_SESSION, "3/10.1.0.5:40001", T0));
    assert_int_equal(w->messages, 6);
    assert_int_equal(w->errors, 1);
    assert_int_equal(w->orders, 3);
    assert_int_equal(cs_window_count(w), 3);
    assert_int_equal(w->accepts, 2);
    assert_int_equal(w->rejects, 1);
    assert_int_equal(w->measurements, 3);
    assert_non_null(w = find(c, CS_SERIES_SESSION, "10.1.0.5:40001", T0));
    assert_int_equal(w->orders, 3);
    assert_int_equal(w->rejects, 1);
    assert_int_equal(fs.session_lat, 3);
    assert_true(fs.session_max == 30000);
    assert_non_null(w = find(c, CS_SERIES_PROTO, "ouch", T0));
    assert_int_equal(w->errors, 1);
    assert_null(find(c, CS_SERIES_SESSION, "3/10.2.0.1:15000", T0));
    cs_metrics_free(m);
    free(c);
}

/* IPv6 feeds whose names differ only in their last character (51 of the
 * 63 a name holds) are two series, each named in full, even when their
 * messages alternate. */
static void test_ipv6_feed_names(void **state)
{
    static const char *const names[2] = {"300/[ff3e:1234:5678:9abc:def0:1234:5678:9ab1]:26477",
                                         "300/[ff3e:1234:5678:9abc:def0:1234:5678:9ab2]:26477"};
    collect *c = calloc(1, sizeof(*c));
    cs_metrics *m = new_metrics(c, 0);
    cs_endpoints ep[2];
    const cs_window *w;

    for (int i = 0; i < 2; i++) {
        memset(&ep[i], 0, sizeof(ep[i]));
        ep[i].ip_version = 6;
        ep[i].ip_proto = 17;
        ep[i].tap = 300;
        assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", ep[i].addr_a), 1);
    }
    assert_int_equal(inet_pton(AF_INET6, "ff3e:1234:5678:9abc:def0:1234:5678:9ab1", ep[0].addr_b),
                     1);
    assert_int_equal(inet_pton(AF_INET6, "ff3e:1234:5678:9abc:def0:1234:5678:9ab2", ep[1].addr_b),
                     1);
    ep[0].port_b = ep[1].port_b = 26477;
    for (int i = 0; i < 3; i++) /* 0, 1, 0 */
        feed_message(m, "itch", "A", &ep[i % 2], 0, T0 + i, "");
    cs_metrics_flush(m);
    assert_non_null(w = find(c, CS_SERIES_FEED, names[0], T0));
    assert_int_equal(w->messages, 2);
    assert_non_null(w = find(c, CS_SERIES_FEED, names[1], T0));
    assert_int_equal(w->messages, 1);
    assert_non_null(w = find(c, CS_SERIES_FEED, names[1] + 4, T0)); /* over all taps */
    assert_int_equal(w->messages, 1);
    cs_metrics_free(m);
    free(c);
}

static void test_snapshot(void **state)
{
    collect *c = calloc(1, sizeof(*c));
    cs_metrics *m = new_metrics(c, 0);
    cs_measurement ms;
    snap s = {0};

    memset(&ms, 0, sizeof(ms));
    ms.pair = "http";
    for (int i = 0; i < 50; i++) {
        packet(m, T0 + i * 100 * MS, (uint16_t)(i % 3), 100);
        ms.req_ts_ns = T0 + i * 100 * MS;
        ms.latency_ns = 1000 + i;
        cs_metrics_measurement(m, &ms);
    }
    cs_metrics_snapshot(m, on_snapshot, &s);
    assert_int_equal(s.tap_packets, 50);
    assert_int_equal(s.pair_count, 50);
    assert_int_equal(s.pair_max, 1049);
    cs_metrics_free(m);
    free(c);
}

static void test_series_bound_and_alloc_failure(void **state)
{
    collect *c = calloc(1, sizeof(*c));
    cs_metrics_cfg cfg;
    cs_metrics *m;
    cs_metrics_stats st;

    cs_metrics_cfg_default(&cfg);
    cfg.max_series = 3; /* capture + 2 taps */
    assert_int_equal(cs_metrics_new(&cfg, on_window, c, &m), 0);
    for (uint16_t t = 0; t < 5; t++)
        packet(m, T0, t, 10);
    cs_metrics_stats_get(m, &st);
    assert_int_equal(st.series, 3);
    assert_int_equal(st.series_dropped, 3);
    cs_metrics_free(m);
    for (long n = 0; n < 4; n++) {
        cs_alloc_fail_after(n);
        assert_int_equal(cs_metrics_new(&cfg, on_window, c, &m), CS_ENOMEM);
        assert_null(m);
    }
    cs_alloc_fail_after(-1);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_per_tap),
        cmocka_unit_test(test_busiest_ms),
        cmocka_unit_test(test_late_events),
        cmocka_unit_test(test_idle_and_jump),
        cmocka_unit_test(test_errors_per_proto),
        cmocka_unit_test(test_seq_gaps_per_proto),
        cmocka_unit_test(test_gauges),
        cmocka_unit_test(test_merged_percentiles),
        cmocka_unit_test(test_ipv6_feed_names),
        cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_feeds_and_sessions),
        cmocka_unit_test(test_series_bound_and_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

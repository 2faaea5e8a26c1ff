/*
 * test_metricstore.c - metrics files and alert log: round trip of windows
 * produced by the real aggregator, merging by step (counts exact,
 * percentiles within 1% of the exact samples), a torn tail ignored and cut
 * by the next writer, retention by bytes and by age, the series list, the
 * alert log with a torn last line, and a day of 20 series queried fast.
 */
#include "store/metricstore.h"

#include "core/alloc.h"
#include "core/error.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define SEC CS_NS_PER_SEC
#define T0 (1767623400LL * SEC) /* 2026-01-05T14:30:00Z */

static char *make_dir(void)
{
    char *d = strdup("/tmp/test_metricstore_XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void remove_dir(const char *d)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t exact_q(int64_t *v, size_t n, double q)
{
    size_t r = (size_t)(q * (double)n + 0.999999);
    qsort(v, n, sizeof(*v), cmp_i64);
    return v[(r < 1 ? 1 : r) - 1];
}

static void within_1pct(int64_t got, int64_t want)
{
    double e = (double)llabs(got - want) / (double)want;
    if (e > 0.01)
        fail_msg("got %lld want %lld", (long long)got, (long long)want);
}

#define N_MEAS 6000 /* 120 s, 50 per second */

static int64_t lat_of(int i)
{
    return 20000 + (int64_t)((i * 7919) % 997) * 311 + (i % 50 == 0 ? 5000000 : 0);
}

/* Feeds 120 s of packets (tap 0) and measurements (pair fix) through the
 * aggregator into a metrics store at "dir". */
static void fill_store(const char *dir)
{
    cs_metricstore *ms;
    cs_metrics *m;

    assert_int_equal(cs_metricstore_open(dir, NULL, &ms), 0);
    assert_int_equal(cs_metrics_new(NULL, cs_metricstore_window_fn, ms, &m), 0);
    for (int i = 0; i < N_MEAS; i++) {
        int64_t ts = T0 + (int64_t)i * (SEC / 50);
        cs_packet p = {.ts_ns = ts, .caplen = 100, .wirelen = 100 + (uint32_t)(i % 3)};
        cs_measurement meas;
        memset(&meas, 0, sizeof(meas));
        meas.pair = "fix";
        meas.req_ts_ns = ts;
        meas.latency_ns = lat_of(i);
        cs_metrics_packet(m, &p);
        cs_metrics_measurement(m, &meas);
    }
    cs_metrics_flush(m);
    cs_metrics_free(m);
    assert_int_equal(cs_metricstore_close(ms), 0);
}

static void test_round_trip_and_steps(void **state)
{
    char *dir = make_dir();
    cs_series_id fix = {.kind = CS_SERIES_PAIR, .name = "fix"};
    cs_series_id tap = {.kind = CS_SERIES_TAP, .name = "0"};
    cs_metric_point *pt;
    size_t n;
    int64_t *v = malloc(N_MEAS * sizeof(*v));

    fill_store(dir);
    /* 1 s steps: every window back, exact counts */
    assert_int_equal(cs_metricstore_query(dir, &tap, T0, T0 + 120 * SEC, SEC, &pt, &n), 0);
    assert_int_equal(n, 120);
    for (size_t i = 0; i < n; i++) {
        uint64_t bytes = 0;
        for (int k = 0; k < 50; k++)
            bytes += 100 + (uint64_t)((int)(i * 50 + (size_t)k) % 3);
        assert_int_equal(pt[i].ts_ns, T0 + (int64_t)i * SEC);
        assert_int_equal(pt[i].count, 50);
        assert_int_equal(pt[i].bytes, bytes);
        assert_true(pt[i].rate == 50.0);
        assert_int_equal(pt[i].burst_packets, 1);
    }
    cs_free(pt);
    /* 60 s steps of the pair: percentiles against the exact samples */
    assert_int_equal(cs_metricstore_query(dir, &fix, T0, T0 + 120 * SEC, 60 * SEC, &pt, &n), 0);
    assert_int_equal(n, 2);
    for (size_t s = 0; s < 2; s++) {
        size_t k = 0;
        for (int i = (int)s * 3000; i < (int)(s + 1) * 3000; i++)
            v[k++] = lat_of(i);
        assert_int_equal(pt[s].ts_ns, T0 + (int64_t)s * 60 * SEC);
        assert_int_equal(pt[s].windows, 60);
        assert_int_equal(pt[s].count, 3000);
        assert_true(pt[s].rate == 50.0);
        within_1pct(pt[s].p50, exact_q(v, k, 0.50));
        within_1pct(pt[s].p90, exact_q(v, k, 0.90));
        within_1pct(pt[s].p99, exact_q(v, k, 0.99));
        within_1pct(pt[s].p999, exact_q(v, k, 0.999));
        assert_int_equal(pt[s].max, exact_q(v, k, 1.0));
    }
    cs_free(pt);
    /* 10 s steps starting mid-way: partial range */
    assert_int_equal(
        cs_metricstore_query(dir, &fix, T0 + 15 * SEC, T0 + 45 * SEC, 10 * SEC, &pt, &n), 0);
    assert_int_equal(n, 4); /* 15-19, 20-29, 30-39, 40-44 */
    assert_int_equal(pt[0].ts_ns, T0 + 10 * SEC);
    assert_int_equal(pt[0].count, 250);
    assert_int_equal(pt[1].count, 500);
    assert_int_equal(pt[3].count, 250);
    cs_free(pt);
    assert_int_equal(cs_metricstore_query(dir, &fix, T0, T0 + SEC, SEC / 2, &pt, &n), CS_EINVAL);
    remove_dir(dir);
    free(dir);
    free(v);
}

/* Sequence gap counts of a proto series survive the file and merge by step;
 * a window without gaps (the layout before they were counted) reads 0. */
static void test_seq_gaps_round_trip(void **state)
{
    char *dir = make_dir();
    cs_series_id mold = {.kind = CS_SERIES_PROTO, .name = "moldudp64"};
    cs_metricstore *ms;
    cs_metrics *m;
    cs_metric_point *pt;
    size_t n;

    assert_int_equal(cs_metricstore_open(dir, NULL, &ms), 0);
    assert_int_equal(cs_metrics_new(NULL, cs_metricstore_window_fn, ms, &m), 0);
    cs_metrics_seq_gap(m, "moldudp64", 3, T0 + 1);
    cs_metrics_seq_gap(m, "moldudp64", 4, T0 + 2);
    cs_metrics_seq_gap(m, "moldudp64", 5, T0 + 2 * SEC);
    cs_metrics_flush(m);
    cs_metrics_free(m);
    assert_int_equal(cs_metricstore_close(ms), 0);
    assert_int_equal(cs_metricstore_query(dir, &mold, T0, T0 + 3 * SEC, SEC, &pt, &n), 0);
    assert_int_equal(n, 2); /* the second without a gap has no window */
    assert_int_equal(pt[0].gaps, 2);
    assert_int_equal(pt[0].missing, 7);
    assert_int_equal(pt[1].ts_ns, T0 + 2 * SEC);
    assert_int_equal(pt[1].gaps, 1);
    assert_int_equal(pt[1].missing, 5);
    cs_free(pt);
    assert_int_equal(cs_metricstore_query(dir, &mold, T0, T0 + 3 * SEC, 3 * SEC, &pt, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pt[0].gaps, 3);
    assert_int_equal(pt[0].missing, 12);
    cs_free(pt);
    remove_dir(dir);
    free(dir);
}

/* A message of "proto"/"type" on flow "ep" in direction "dir". */
static void flow_message(cs_metrics *m, const char *proto, const char *type, const cs_endpoints *ep,
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

/* Feed and session series through the metrics files: a feed's packets,
 * ITCH messages, busiest millisecond, gaps and lost numbers and the lead
 * of its races; a session's orders, accepts, rejects and latencies; both
 * listed per tap and over all taps. */
static void test_feed_session_round_trip(void **state)
{
    char *dir = make_dir();
    cs_series_id feed = {.kind = CS_SERIES_FEED, .name = "7/233.54.12.111:26477"};
    cs_series_id all = {.kind = CS_SERIES_FEED, .name = "233.54.12.111:26477"};
    cs_series_id sess = {.kind = CS_SERIES_SESSION, .name = "7/10.1.0.5:40001"};
    cs_endpoints fe = {.ip_version = 4, .ip_proto = 17, .tap = 7, .port_a = 5000, .port_b = 26477};
    cs_endpoints se = {.ip_version = 4, .ip_proto = 6, .tap = 7, .port_a = 40001, .port_b = 15000};
    cs_measurement meas;
    cs_metricstore *ms;
    cs_metrics *m;
    cs_metric_point *pt;
    cs_series_id *ids;
    size_t n;
    int found = 0;

    memcpy(fe.addr_a, (uint8_t[]){10, 0, 0, 1}, 4);
    memcpy(fe.addr_b, (uint8_t[]){233, 54, 12, 111}, 4);
    memcpy(se.addr_a, (uint8_t[]){10, 1, 0, 5}, 4);
    memcpy(se.addr_b, (uint8_t[]){10, 2, 0, 1}, 4);
    assert_int_equal(cs_metricstore_open(dir, NULL, &ms), 0);
    assert_int_equal(cs_metrics_new(NULL, cs_metricstore_window_fn, ms, &m), 0);
    memset(&meas, 0, sizeof(meas));
    for (int s = 0; s < 2; s++) {
        int64_t t = T0 + s * SEC;
        flow_message(m, "moldudp64", "data", &fe, 0, t + 1000, "");
        for (int i = 0; i < 4 + s; i++)
            flow_message(m, "itch", "A", &fe, 0, t + 3000000 + i, "");
        cs_metrics_feed_gap(m, &fe, 0, 10 + (uint64_t)s, t + 4000000);
        meas.pair = "ab";
        meas.ep = fe;
        meas.req_ts_ns = t + 3000000;
        meas.latency_ns = 1000 * (s + 1);
        cs_metrics_measurement(m, &meas);
        flow_message(m, "ouch", "enter_order", &se, 0, t + 5000000, "");
        flow_message(m, "ouch", "enter_order", &se, 0, t + 5000001, "");
        flow_message(m, "ouch", "accepted", &se, 1, t + 5100000, "");
        flow_message(m, "ouch", "rejected", &se, 1, t + 5100001, "rejected: X");
        meas.pair = "ouch";
        meas.ep = se;
        meas.req_ts_ns = t + 5000000;
        meas.latency_ns = 100000;
        cs_metrics_measurement(m, &meas);
        meas.latency_ns = 100001;
        cs_metrics_measurement(m, &meas);
    }
    cs_metrics_flush(m);
    cs_metrics_free(m);
    assert_int_equal(cs_metricstore_close(ms), 0);

    assert_int_equal(cs_metricstore_query(dir, &feed, T0, T0 + 2 * SEC, SEC, &pt, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(pt[0].packets, 1);
    assert_int_equal(pt[0].messages, 4);
    assert_int_equal(pt[0].count, 4);
    assert_int_equal(pt[0].burst_packets, 4);
    assert_int_equal(pt[1].burst_packets, 5);
    assert_int_equal(pt[0].gaps, 1);
    assert_int_equal(pt[0].missing, 10);
    assert_int_equal(pt[1].missing, 11);
    assert_int_equal(pt[0].measurements, 1);
    assert_true(pt[1].max == 2000);
    cs_free(pt);
    assert_int_equal(cs_metricstore_query(dir, &all, T0, T0 + 2 * SEC, 2 * SEC, &pt, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pt[0].messages, 9);
    assert_int_equal(pt[0].gaps, 2);
    assert_int_equal(pt[0].missing, 21);
    assert_int_equal(pt[0].measurements, 2);
    cs_free(pt);
    assert_int_equal(cs_metricstore_query(dir, &sess, T0, T0 + 2 * SEC, 2 * SEC, &pt, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pt[0].orders, 4);
    assert_int_equal(pt[0].count, 4);
    assert_int_equal(pt[0].accepts, 2);
    assert_int_equal(pt[0].rejects, 2);
    assert_int_equal(pt[0].errors, 2);
    assert_int_equal(pt[0].messages, 8);
    assert_int_equal(pt[0].measurements, 4);
    assert_true(pt[0].max == 100001);
    assert_true(pt[0].p50 >= 99000 && pt[0].p50 <= 101000);
    cs_free(pt);
    assert_int_equal(cs_metricstore_series(dir, T0, T0 + 2 * SEC, &ids, &n), 0);
    for (size_t i = 0; i < n; i++)
        found += (ids[i].kind == CS_SERIES_FEED &&
                  (strcmp(ids[i].name, feed.name) == 0 || strcmp(ids[i].name, all.name) == 0)) ||
                 (ids[i].kind == CS_SERIES_SESSION && (strcmp(ids[i].name, sess.name) == 0 ||
                                                       strcmp(ids[i].name, "10.1.0.5:40001") == 0));
    assert_int_equal(found, 4);
    cs_free(ids);
    remove_dir(dir);
    free(dir);
}

/* A packet of tap 357 whose trailer time is "ref", the host's "ref + off". */
static void clock_packet(cs_metrics *m, int64_t ref, int64_t off, uint8_t tref)
{
    cs_packet p = {
        .ts_ns = ref, .cap_ns = ref + off, .caplen = 60, .wirelen = 60, .tap = 357, .tref = tref};

    if (tref & CS_TREF_UNTIMED)
        p.cap_ns = 0;
    cs_metrics_packet(m, &p);
}

/* The clock series of a tap timed by a trailer: counts, |offset|
 * percentiles, the signed mean and the drift (10 us per second = 600 us a
 * minute), unsynchronised, backwards and untimed frames, through the
 * metrics files and back. */
static void test_clock_round_trip(void **state)
{
    char *dir = make_dir();
    cs_series_id clk = {.kind = CS_SERIES_CLOCK, .name = "357"};
    cs_metricstore *ms;
    cs_metrics *m;
    cs_metric_point *pt;
    size_t n;

    assert_int_equal(cs_metricstore_open(dir, NULL, &ms), 0);
    assert_int_equal(cs_metrics_new(NULL, cs_metricstore_window_fn, ms, &m), 0);
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < 100; i++) { /* offsets 20..29.9 us + 10 us a second */
            clock_packet(m, T0 + s * SEC + i * 1000000, 20000 + 100 * i + 10000 * s,
                         CS_TREF_TRAILER | (i == 7 ? CS_TREF_UNSYNCED : 0));
            if (s == 0 && i == 50) /* went back */
                clock_packet(m, T0 + 5000, 30000, CS_TREF_TRAILER);
            if (s == 1 && i == 10)
                clock_packet(m, T0 + SEC + 10000002, 0, CS_TREF_UNTIMED);
            if (s == 2 && i == 0) /* the host ahead: |offset| */
                clock_packet(m, T0 + 2 * SEC + 1, -5000, CS_TREF_TRAILER);
        }
    }
    cs_metrics_flush(m);
    cs_metrics_free(m);
    assert_int_equal(cs_metricstore_close(ms), 0);
    assert_int_equal(cs_metricstore_query(dir, &clk, T0, T0 + 3 * SEC, SEC, &pt, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(pt[0].count, 101);
    assert_int_equal(pt[0].backwards, 1);
    assert_int_equal(pt[0].unsynced, 1);
    assert_int_equal(pt[1].untimed, 1);
    assert_int_equal(pt[1].count, 100);
    assert_true(pt[1].p50 >= 34900 * 0.99 && pt[1].p50 <= 34900 * 1.01);
    assert_true(pt[1].offset_mean_ns > 34949.9 && pt[1].offset_mean_ns < 34950.1);
    assert_true(pt[2].p99 >= 49800 * 0.99 && pt[2].p99 <= 49900 * 1.01);
    cs_free(pt);
    assert_int_equal(cs_metricstore_query(dir, &clk, T0, T0 + 3 * SEC, 3 * SEC, &pt, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pt[0].count, 302);
    assert_int_equal(pt[0].unsynced, 3);
    assert_int_equal(pt[0].backwards, 1);
    assert_int_equal(pt[0].untimed, 1);
    /* the least-squares slope of three equally spaced means is half the
     * difference of the outer two: the means of seconds 0 and 2 hold the
     * extra frames, so about 9.7 us a second, 584 us a minute */
    double m0 = (24950.0 * 100 + 30000) / 101, m2 = (44950.0 * 100 - 5000) / 101;
    double drift = 60 * (m2 - m0) / 2;
    assert_true(pt[0].drift_ns_per_min > drift - 1 && pt[0].drift_ns_per_min < drift + 1);
    cs_free(pt);
    remove_dir(dir);
    free(dir);
}

/* The heat bucket of "v" found from the published lower bounds alone. */
static int heat_bucket_by_bounds(int64_t v)
{
    int k = 0;
    while (k + 1 < CS_METRIC_HEAT_BUCKETS && cs_metricstore_heat_lower(k + 1) <= v)
        k++;
    return k;
}

/* Per 60 s step the heat counts are the windows' histograms summed, each
 * value in the bucket its bounds say; 37 us and 5 ms land apart. */
/* cs_metricstore_query_hist(): the points of cs_metricstore_query(), each
 * with the histogram its percentiles come from (rebuilt, it gives them
 * back through cs_hist_quantile), its buckets the records' exact values. */
static void test_query_hist(void **state)
{
    static const int64_t steps[] = {SEC, 7 * SEC, 60 * SEC};
    char *dir = make_dir();
    cs_series_id fix = {.kind = CS_SERIES_PAIR, .name = "fix"};
    cs_histogram *h = malloc(sizeof(*h)), *want = malloc(sizeof(*want));
    cs_metric_point *pt, *ph;
    cs_hist_pair *pairs;
    size_t n, nh;

    fill_store(dir);
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        assert_int_equal(cs_metricstore_query(dir, &fix, T0, T0 + 120 * SEC, steps[k], &pt, &n), 0);
        assert_int_equal(
            cs_metricstore_query_hist(dir, &fix, T0, T0 + 120 * SEC, steps[k], &ph, &nh, &pairs),
            0);
        assert_int_equal(n, nh);
        for (size_t i = 0; i < n; i++) {
            cs_hist_init(h);
            cs_hist_init(want);
            for (size_t b = 0; b < ph[i].hist.n; b++)
                h->buckets[ph[i].hist.buckets[b].bucket] += ph[i].hist.buckets[b].count;
            h->count = ph[i].hist.count, h->min = ph[i].hist.min, h->max = ph[i].hist.max;
            for (int m = 0; m < N_MEAS; m++) {
                int64_t ts = T0 + (int64_t)m * (SEC / 50);
                if (ts >= ph[i].ts_ns && ts < ph[i].ts_ns + steps[k])
                    cs_hist_record(want, lat_of(m));
            }
            assert_memory_equal(h->buckets, want->buckets, sizeof(h->buckets));
            assert_int_equal(h->count, want->count);
            assert_int_equal(cs_hist_quantile(h, 0.50), pt[i].p50);
            assert_int_equal(cs_hist_quantile(h, 0.90), pt[i].p90);
            assert_int_equal(cs_hist_quantile(h, 0.99), pt[i].p99);
            assert_int_equal(cs_hist_quantile(h, 0.999), pt[i].p999);
            assert_int_equal(cs_hist_max(h), pt[i].max);
            assert_int_equal(cs_hist_min(h), cs_hist_min(want));
        }
        cs_free(pt);
        cs_free(ph);
        cs_free(pairs);
    }
    free(h);
    free(want);
    remove_dir(dir);
    free(dir);
}

static void test_heat_counts(void **state)
{
    char *dir = make_dir();
    cs_series_id fix = {.kind = CS_SERIES_PAIR, .name = "fix"};
    cs_metric_point *pt;
    size_t n;

    (void)state;
    for (int k = 1; k < CS_METRIC_HEAT_BUCKETS; k++)
        assert_true(cs_metricstore_heat_lower(k) > cs_metricstore_heat_lower(k - 1));
    assert_int_equal(cs_metricstore_heat_lower(0), 0);
    assert_true(heat_bucket_by_bounds(37000) < heat_bucket_by_bounds(5000000));
    fill_store(dir);
    assert_int_equal(cs_metricstore_query(dir, &fix, T0, T0 + 120 * SEC, 60 * SEC, &pt, &n), 0);
    assert_int_equal(n, 2);
    for (size_t s = 0; s < 2; s++) {
        uint64_t want[CS_METRIC_HEAT_BUCKETS] = {0}, sum = 0;
        for (int i = (int)s * 3000; i < (int)(s + 1) * 3000; i++)
            want[heat_bucket_by_bounds(lat_of(i))]++;
        for (int k = 0; k < CS_METRIC_HEAT_BUCKETS; k++) {
            if (pt[s].heat[k] != want[k])
                fail_msg("step %zu bucket %d: got %llu want %llu", s, k,
                         (unsigned long long)pt[s].heat[k], (unsigned long long)want[k]);
            sum += pt[s].heat[k];
        }
        assert_int_equal(sum, pt[s].count);
    }
    cs_free(pt);
    remove_dir(dir);
    free(dir);
}

static void test_series_list(void **state)
{
    char *dir = make_dir();
    cs_series_id *ids;
    size_t n;

    fill_store(dir);
    assert_int_equal(cs_metricstore_series(dir, T0, T0 + 3600 * SEC, &ids, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0].kind, CS_SERIES_TAP);
    assert_string_equal(ids[0].name, "0");
    assert_int_equal(ids[1].kind, CS_SERIES_PAIR);
    assert_string_equal(ids[1].name, "fix");
    assert_int_equal(ids[2].kind, CS_SERIES_CAPTURE);
    cs_free(ids);
    remove_dir(dir);
    free(dir);
}

/* A store with a metrics folder and no file in it (a daemon that has not
 * closed a window yet): lists and queries answer empty, and sort nothing
 * (qsort of an empty, NULL array is undefined behaviour that UBSan stops). */
static void test_empty_store(void **state)
{
    char *dir = make_dir();
    char path[4096];
    cs_series_id *ids = NULL;
    cs_series_id fix = {.kind = CS_SERIES_PAIR, .name = "fix"};
    cs_metric_point *pt = NULL;
    size_t n = 1;

    snprintf(path, sizeof(path), "%s/metrics", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(cs_metricstore_series(dir, T0, T0 + 3600 * SEC, &ids, &n), 0);
    assert_int_equal(n, 0);
    cs_free(ids);
    assert_int_equal(cs_metricstore_query(dir, &fix, T0, T0 + 60 * SEC, SEC, &pt, &n), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pt[i].count, 0);
    cs_free(pt);
    remove_dir(dir);
    free(dir);
}

static char *hour_file(const char *dir, int64_t ts, char *path)
{
    char name[64];
    sprintf(path, "%s/metrics/%s", dir, cs_metricstore_file_name(ts, name));
    return path;
}

static cs_window tap_window(int64_t start, uint64_t packets)
{
    cs_window w;
    memset(&w, 0, sizeof(w));
    w.series.kind = CS_SERIES_TAP;
    strcpy(w.series.name, "1");
    w.start_ns = start;
    w.dur_ns = SEC;
    w.packets = packets;
    w.bytes = packets * 64;
    return w;
}

static void test_torn_tail(void **state)
{
    char *dir = make_dir(), path[512];
    cs_series_id tap = {.kind = CS_SERIES_TAP, .name = "1"};
    cs_metricstore *ms;
    cs_metric_point *pt;
    cs_window w;
    struct stat st;
    size_t n;
    FILE *f;

    assert_int_equal(cs_metricstore_open(dir, NULL, &ms), 0);
    for (int i = 0; i < 10; i++) {
        w = tap_window(T0 + i * SEC, (uint64_t)i + 1);
        assert_int_equal(cs_metricstore_put(ms, &w), 0);
    }
    w = tap_window(T0 + 10 * SEC, 0); /* empty: not stored */
    assert_int_equal(cs_metricstore_put(ms, &w), 0);
    assert_int_equal(cs_metricstore_close(ms), 0);
    /* cut the last record in half */
    assert_int_equal(stat(hour_file(dir, T0, path), &st), 0);
    assert_int_equal(truncate(path, st.st_size - 5), 0);
    assert_int_equal(cs_metricstore_query(dir, &tap, T0, T0 + 60 * SEC, SEC, &pt, &n), 0);
    assert_int_equal(n, 9);
    assert_int_equal(pt[8].count, 9);
    cs_free(pt);
    /* garbage after it is ignored too */
    assert_non_null(f = fopen(path, "a"));
    fputs("garbage!", f);
    fclose(f);
    assert_int_equal(cs_metricstore_query(dir, &tap, T0, T0 + 60 * SEC, SEC, &pt, &n), 0);
    assert_int_equal(n, 9);
    cs_free(pt);
    /* the next writer cuts the tail and appends after the last good record */
    assert_int_equal(cs_metricstore_open(dir, NULL, &ms), 0);
    w = tap_window(T0 + 20 * SEC, 77);
    assert_int_equal(cs_metricstore_put(ms, &w), 0);
    assert_int_equal(cs_metricstore_close(ms), 0);
    assert_int_equal(cs_metricstore_query(dir, &tap, T0, T0 + 60 * SEC, SEC, &pt, &n), 0);
    assert_int_equal(n, 10);
    assert_int_equal(pt[9].ts_ns, T0 + 20 * SEC);
    assert_int_equal(pt[9].count, 77);
    cs_free(pt);
    remove_dir(dir);
    free(dir);
}

static void test_retention(void **state)
{
    char *dir = make_dir(), path[512];
    cs_metricstore_opts o = {.max_bytes = 0, .max_age_ns = 3 * 3600 * SEC};
    cs_metricstore *ms;
    cs_window w;
    struct stat st;
    unsigned del;
    uint64_t one_file;

    /* age: 6 hours of windows, keep 3 hours */
    assert_int_equal(cs_metricstore_open(dir, &o, &ms), 0);
    for (int h = 0; h < 6; h++) {
        for (int i = 0; i < 100; i++) {
            w = tap_window(T0 + h * 3600 * SEC + i * SEC, 5);
            assert_int_equal(cs_metricstore_put(ms, &w), 0);
        }
    }
    assert_int_equal(cs_metricstore_flush(ms), 0);
    for (int h = 0; h < 6; h++)
        assert_int_equal(stat(hour_file(dir, T0 + h * 3600 * SEC, path), &st) == 0, h >= 2);
    one_file = (uint64_t)st.st_size;
    assert_int_equal(cs_metricstore_close(ms), 0);
    /* bytes: a budget of two files and a bit keeps the newest two */
    o.max_age_ns = 0;
    o.max_bytes = 2 * one_file + one_file / 2;
    assert_int_equal(cs_metricstore_open(dir, &o, &ms), 0);
    assert_int_equal(cs_metricstore_retain(ms, T0, &del), 0);
    assert_int_equal(del, 2);
    for (int h = 0; h < 6; h++)
        assert_int_equal(stat(hour_file(dir, T0 + h * 3600 * SEC, path), &st) == 0, h >= 4);
    assert_int_equal(cs_metricstore_close(ms), 0);
    remove_dir(dir);
    free(dir);
}

typedef struct alert_seen {
    int n;
    char rule[4][32];
    int state[4];
    int64_t ts[4], from[4], to[4];
    double value[4];
    char series[4][8 + CS_SERIES_NAME_MAX];
} alert_seen;

static void on_alert(void *ud, const cs_alert_event *ev)
{
    alert_seen *s = ud;
    assert_true(s->n < 4);
    snprintf(s->rule[s->n], 32, "%s", ev->rule);
    snprintf(s->series[s->n], sizeof(s->series[0]), "%s=%s", cs_series_kind_name(ev->series.kind),
             ev->series.name);
    s->state[s->n] = ev->state;
    s->ts[s->n] = ev->ts_ns;
    s->from[s->n] = ev->from_ns;
    s->to[s->n] = ev->to_ns;
    s->value[s->n] = ev->value;
    s->n++;
}

static void test_alert_log(void **state)
{
    char *dir = make_dir(), path[512];
    cs_metricstore *ms;
    alert_seen seen = {0};
    cs_alert_event ev = {.rule = "fix_slow",
                         .text = "fix_slow: pair=fix p99 > 200us for 3s",
                         .series = {.kind = CS_SERIES_PAIR, .name = "fix"},
                         .metric = CS_AM_P99,
                         .state = CS_ALERT_FIRED,
                         .ts_ns = T0 + 5 * SEC,
                         .value = 250000,
                         .threshold = 200000,
                         .from_ns = T0 + 3 * SEC,
                         .to_ns = T0 + 6 * SEC};
    FILE *f;

    assert_int_equal(cs_metricstore_open(dir, NULL, &ms), 0);
    assert_int_equal(cs_metricstore_put_alert(ms, &ev), 0);
    ev.state = CS_ALERT_RESOLVED;
    ev.ts_ns = T0 + 9 * SEC;
    ev.value = 1000;
    ev.to_ns = T0 + 9 * SEC;
    assert_int_equal(cs_metricstore_put_alert(ms, &ev), 0);
    assert_int_equal(cs_metricstore_close(ms), 0);
    sprintf(path, "%s/alerts/alerts.jsonl", dir);
    assert_non_null(f = fopen(path, "a"));
    fputs("{\"rule\":\"torn\",\"state\":\"fi", f); /* no newline: torn */
    fclose(f);
    assert_int_equal(cs_metricstore_alerts(dir, INT64_MIN, INT64_MAX, on_alert, &seen), 0);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.rule[0], "fix_slow");
    assert_string_equal(seen.series[0], "pair=fix");
    assert_int_equal(seen.state[0], CS_ALERT_FIRED);
    assert_int_equal(seen.ts[0], T0 + 5 * SEC);
    assert_int_equal(seen.from[0], T0 + 3 * SEC);
    assert_int_equal(seen.to[0], T0 + 6 * SEC);
    assert_true(seen.value[0] == 250000);
    assert_int_equal(seen.state[1], CS_ALERT_RESOLVED);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(cs_metricstore_alerts(dir, T0 + 6 * SEC, T0 + 10 * SEC, on_alert, &seen), 0);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.state[0], CS_ALERT_RESOLVED);
    remove_dir(dir);
    free(dir);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A day of 20 series, read back whole at two steps: every point and count
 * is checked; the time it takes is printed for information only (the speed
 * target is measured by bench/api_scale.sh, never asserted by a test). */
static void test_day_of_20_series(void **state)
{
    char *dir = make_dir();
    cs_series_id fix = {.kind = CS_SERIES_PAIR, .name = "fix"};
    cs_histogram *h = malloc(sizeof(*h));
    cs_metricstore *ms;
    cs_metric_point *pt;
    cs_window w;
    size_t n;
    double t;
    uint64_t total = 0;

    assert_int_equal(cs_metricstore_open(dir, NULL, &ms), 0);
    for (int s = 0; s < 86400; s++) {
        for (int k = 0; k < 19; k++) {
            w = tap_window(T0 + (int64_t)s * SEC, 100 + (uint64_t)k);
            snprintf(w.series.name, sizeof(w.series.name), "%d", k);
            assert_int_equal(cs_metricstore_put(ms, &w), 0);
        }
        memset(&w, 0, sizeof(w));
        w.series = fix;
        w.start_ns = T0 + (int64_t)s * SEC;
        w.dur_ns = SEC;
        cs_hist_init(h);
        for (int k = 0; k < 20; k++)
            cs_hist_record(h, 10000 + (int64_t)((s * 31 + k * 977) % 50000));
        w.measurements = 20;
        w.hist = h;
        assert_int_equal(cs_metricstore_put(ms, &w), 0);
    }
    assert_int_equal(cs_metricstore_close(ms), 0);
    t = now_s();
    assert_int_equal(cs_metricstore_query(dir, &fix, T0, T0 + 86400 * SEC, SEC, &pt, &n), 0);
    t = now_s() - t;
    assert_int_equal(n, 86400);
    for (size_t i = 0; i < n; i++)
        total += pt[i].count;
    assert_int_equal(total, 86400 * 20);
    print_message("day of 20 series, 1 s step: %zu points in %.3f s\n", n, t);
    cs_free(pt);
    t = now_s();
    assert_int_equal(cs_metricstore_query(dir, &fix, T0, T0 + 86400 * SEC, 60 * SEC, &pt, &n), 0);
    t = now_s() - t;
    print_message("day of 20 series, 60 s step: %zu points in %.3f s\n", n, t);
    assert_int_equal(n, 1440); /* T0 is on a minute boundary */
    cs_free(pt);
    remove_dir(dir);
    free(dir);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_steps),
        cmocka_unit_test(test_query_hist),
        cmocka_unit_test(test_heat_counts),
        cmocka_unit_test(test_seq_gaps_round_trip),
        cmocka_unit_test(test_clock_round_trip),
        cmocka_unit_test(test_feed_session_round_trip),
        cmocka_unit_test(test_series_list),
        cmocka_unit_test(test_empty_store),
        cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_alert_log),
        cmocka_unit_test(test_day_of_20_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

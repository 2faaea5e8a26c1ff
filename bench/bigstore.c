/*
 * bigstore.c - builds a big capstream store for the API scale benchmark
 * (bench/api_scale.sh) and its golden test (tests/golden/t_api_scale.sh):
 * a day of per-second metrics and millions of measurements, written with
 * the real writers (cs_msgstore, cs_metricstore), so the files are exactly
 * what a day of capture leaves behind.
 *
 *   bigstore STORE MEASUREMENTS [SECONDS [START_EPOCH_S]]
 *
 * Synthetic content, deterministic (a fixed xorshift seed):
 *   - MEASUREMENTS FIX (70 %) and HTTP (30 %) request/response pairs spread
 *     evenly over SECONDS (default 86400) from START (default
 *     2026-01-04T00:00:00Z), each with its request and response message
 *     (fields like the decoders write) and a key "C<n>" (FIX ClOrdID) or
 *     "/api/<n>" (HTTP URI). Latencies are ~100-400 us with one pair in a
 *     thousand slow (2-50 ms).
 *   - Message ids name packet segments 1000, 1001, ... one per 15 minutes,
 *     so the message files split by time as a capture's would; the packet
 *     segments themselves are not written (the API shows them expired).
 *   - Per second: windows tap:0, capture, proto:fix, proto:http, pair:fix,
 *     pair:http whose counts and latency histograms are those of the
 *     measurements written for that second.
 *
 *   - Alerts from the real alert engine (rule "fix_slow: pair=fix max >
 *     20ms for 1s") over those windows, stored with the real writer.
 *
 * Prints "first_ts_ns last_ts_ns measurements messages alerts" on stdout.
 * Ownership: everything is freed before exit; no threads.
 */
#include "analytics/alerts.h"
#include "analytics/histogram.h"
#include "analytics/metrics.h"
#include "core/error.h"
#include "core/packet.h"
#include "record/message.h"
#include "store/metricstore.h"
#include "store/msgstore.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_SEG 1000u
#define SEG_SECONDS 900
#define ALERT_RULES "fix_slow: pair=fix max > 20ms for 1s\n"
#define DEFAULT_START 1767484800LL /* 2026-01-04T00:00:00Z */

typedef struct gen {
    uint64_t rng;
    uint64_t n_meas, n_msgs, n_alerts;
    uint32_t seg_off[1u << 16]; /* next offset per segment (relative) */
} gen;

static uint64_t next_rand(gen *g)
{
    g->rng ^= g->rng << 13;
    g->rng ^= g->rng >> 7;
    g->rng ^= g->rng << 17;
    return g->rng;
}

typedef struct pair_second {
    cs_histogram hist;
    uint64_t count, bytes;
} pair_second;

static void endpoints(cs_endpoints *ep, int http, uint64_t n)
{
    memset(ep, 0, sizeof(*ep));
    ep->ip_version = 4;
    ep->ip_proto = 6;
    ep->addr_a[0] = 10;
    ep->addr_a[1] = 1;
    ep->addr_a[3] = (uint8_t)(10 + n % 16);
    ep->addr_b[0] = 10;
    ep->addr_b[1] = 2;
    ep->addr_b[3] = 1;
    ep->port_a = (uint16_t)(40000 + n % 16);
    ep->port_b = http ? 80 : 9878;
}

static cs_msgid next_id(gen *g, uint32_t seg)
{
    uint32_t off = 24 + 200 * g->seg_off[seg - FIRST_SEG]++;

    return CS_MSGID(CS_PKTREF(seg, off), 0);
}

/* Writes one request, its response and their measurement. */
static int put_pair(gen *g, cs_msgstore *w, int64_t ts, int http, pair_second *ps)
{
    uint32_t seg = FIRST_SEG + (uint32_t)((ts / CS_NS_PER_SEC) % (86400 * 8) / SEG_SECONDS);
    uint64_t n = g->n_meas, r = next_rand(g);
    int64_t lat = 100000 + (int64_t)(r % 300000);
    char key[32], qty[16], status[8];
    cs_kv fields[4];
    cs_pktref ref;
    cs_message m;
    cs_measurement ms;
    int rc;

    if (r % 1000 == 7)
        lat = 2000000 + (int64_t)((r >> 20) % 48000000);
    snprintf(key, sizeof(key), http ? "/api/%" PRIu64 : "C%09" PRIu64, n);
    snprintf(qty, sizeof(qty), "%u", (unsigned)(100 + r % 900));
    snprintf(status, sizeof(status), "200");
    memset(&m, 0, sizeof(m));
    endpoints(&m.ep, http, n);
    m.proto = http ? "http" : "fix";
    m.flow_id = 0x1000 + n % 16;
    m.id = next_id(g, seg);
    ref = CS_PKTREF(CS_MSGID_SEG(m.id), CS_MSGID_OFF(m.id));
    m.refs = &ref;
    m.n_refs = 1;
    m.role = CS_ROLE_REQ;
    m.ts_ns = m.last_ts_ns = ts;
    m.type = http ? (cs_str){"request", 7} : (cs_str){"D", 1};
    m.key = (cs_str){key, strlen(key)};
    fields[0] = (cs_kv){{"35", 2}, {m.type.p, m.type.len}};
    fields[1] = (cs_kv){{"11", 2}, {key, strlen(key)}};
    fields[2] = (cs_kv){{"38", 2}, {qty, strlen(qty)}};
    m.fields = fields;
    m.n_fields = 3;
    m.len = 160;
    if ((rc = cs_msgstore_put_message(w, &m)) < 0)
        return rc;
    memset(&ms, 0, sizeof(ms));
    ms.id = ms.req_id = m.id;
    ms.pair = m.proto;
    ms.key = m.key;
    ms.req_ts_ns = ts;
    ms.flow_id = m.flow_id;
    ms.ep = m.ep;
    /* the response */
    m.id = next_id(g, seg);
    ref = CS_PKTREF(CS_MSGID_SEG(m.id), CS_MSGID_OFF(m.id));
    m.dir = 1;
    m.role = CS_ROLE_RESP;
    m.ts_ns = m.last_ts_ns = ts + lat;
    m.type = http ? (cs_str){"response", 8} : (cs_str){"8", 1};
    m.key = (cs_str){"", 0};
    fields[0] = (cs_kv){{"35", 2}, {m.type.p, m.type.len}};
    fields[2] = (cs_kv){{"status", 6}, {status, 3}};
    if ((rc = cs_msgstore_put_message(w, &m)) < 0)
        return rc;
    ms.resp_id = m.id;
    ms.resp_ts_ns = m.ts_ns;
    ms.latency_ns = lat;
    if ((rc = cs_msgstore_put_measurement(w, &ms)) < 0)
        return rc;
    cs_hist_record(&ps[http].hist, lat);
    ps[http].count++;
    ps[http].bytes += 320;
    g->n_meas++;
    g->n_msgs += 2;
    return 0;
}

typedef struct sink {
    cs_metricstore *ms;
    cs_alerts *alerts;
    uint64_t n_alerts;
} sink;

static void alert_put(void *ud, const cs_alert_event *ev)
{
    sink *k = ud;

    if (cs_metricstore_put_alert(k->ms, ev) == 0)
        k->n_alerts++;
}

static int put_window(sink *k, int kind, const char *name, int64_t start, const pair_second *p,
                      const cs_histogram *h)
{
    cs_window w;

    memset(&w, 0, sizeof(w));
    w.series.kind = (uint8_t)kind;
    snprintf(w.series.name, sizeof(w.series.name), "%s", name);
    w.start_ns = start;
    w.dur_ns = CS_NS_PER_SEC;
    if (kind == CS_SERIES_TAP || kind == CS_SERIES_CAPTURE) {
        w.packets = p->count * 4;
        w.bytes = p->bytes * 2;
        w.burst_packets = (uint32_t)(p->count ? 2 : 0);
        w.burst_bytes = p->count ? 600 : 0;
    } else if (kind == CS_SERIES_PROTO)
        w.messages = p->count * 2;
    else {
        w.measurements = p->count;
        w.hist = h;
    }
    if (w.packets == 0 && w.messages == 0 && w.measurements == 0)
        w.packets = 1; /* a keep-alive: every second of the day has windows */
    cs_alerts_window(k->alerts, &w);
    return cs_metricstore_put(k->ms, &w);
}

static int put_second(sink *ms, int64_t start, pair_second *ps)
{
    static const char *const names[2] = {"fix", "http"};
    pair_second all = {.count = ps[0].count + ps[1].count, .bytes = ps[0].bytes + ps[1].bytes};
    int rc = 0;

    if ((rc = put_window(ms, CS_SERIES_TAP, "0", start, &all, NULL)) < 0 ||
        (rc = put_window(ms, CS_SERIES_CAPTURE, "capture", start, &all, NULL)) < 0)
        return rc;
    for (int i = 0; i < 2 && rc == 0; i++)
        if ((rc = put_window(ms, CS_SERIES_PROTO, names[i], start, &ps[i], NULL)) == 0 &&
            ps[i].count)
            rc = put_window(ms, CS_SERIES_PAIR, names[i], start, &ps[i], &ps[i].hist);
    return rc;
}

static int build(const char *dir, uint64_t n_meas, int64_t seconds, int64_t start_s, gen *g)
{
    cs_store_opts so = {.flags = CS_STORE_WRITE | CS_STORE_CREATE};
    cs_store *st = NULL;
    cs_msgstore *w = NULL;
    cs_metricstore *mw = NULL;
    sink k = {0};
    int64_t t0 = start_s * CS_NS_PER_SEC;
    uint64_t done = 0;
    int rc;

    if ((rc = cs_store_open(dir, &so, &st)) < 0 || (rc = cs_msgstore_open(dir, &w)) < 0 ||
        (rc = cs_metricstore_open(dir, NULL, &mw)) < 0 ||
        (rc = cs_alerts_new(alert_put, &k, &k.alerts)) < 0 ||
        (rc = cs_alerts_set_rules(k.alerts, ALERT_RULES, "bigstore")) < 0)
        goto out;
    k.ms = mw;
    for (int64_t s = 0; s < seconds && rc == 0; s++) {
        uint64_t upto = (uint64_t)((double)n_meas * (double)(s + 1) / (double)seconds);
        pair_second ps[2];

        memset(ps, 0, sizeof(ps));
        cs_hist_init(&ps[0].hist);
        cs_hist_init(&ps[1].hist);
        for (uint64_t i = done; i < upto && rc == 0; i++) {
            int64_t ts = t0 + s * CS_NS_PER_SEC +
                         (int64_t)((i - done) * (uint64_t)CS_NS_PER_SEC / (upto - done + 1));
            rc = put_pair(g, w, ts, next_rand(g) % 10 < 3, ps);
        }
        done = upto;
        if (rc == 0)
            rc = put_second(&k, t0 + s * CS_NS_PER_SEC, ps);
    }
out:
    cs_alerts_free(k.alerts);
    g->n_alerts = k.n_alerts;
    if (mw) {
        int c = cs_metricstore_close(mw);
        rc = rc ? rc : c;
    }
    if (w) {
        int c = cs_msgstore_close(w);
        rc = rc ? rc : c;
    }
    if (st) {
        int c = cs_store_close(st);
        rc = rc ? rc : c;
    }
    return rc;
}

int main(int argc, char **argv)
{
    static gen g = {.rng = 0x9e3779b97f4a7c15ull};
    int64_t seconds = argc > 3 ? atoll(argv[3]) : 86400;
    int64_t start = argc > 4 ? atoll(argv[4]) : DEFAULT_START;
    uint64_t n;
    int rc;

    if (argc < 3 || seconds <= 0 || seconds > 8 * 86400) {
        fprintf(stderr, "usage: bigstore STORE MEASUREMENTS [SECONDS [START_EPOCH_S]]\n");
        return 2;
    }
    n = strtoull(argv[2], NULL, 10);
    if ((rc = build(argv[1], n, seconds, start, &g)) < 0) {
        fprintf(stderr, "bigstore: %s\n", cs_error_msg(rc));
        return 1;
    }
    printf("%" PRId64 " %" PRId64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
           (int64_t)(start * CS_NS_PER_SEC), (int64_t)((start + seconds) * CS_NS_PER_SEC), g.n_meas,
           g.n_msgs, g.n_alerts);
    return 0;
}

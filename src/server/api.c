/*
 * api.c - the HTTP API's routes, parameters and JSON bodies (docs/api.md).
 *
 *   /api/v1/status                     /api/v1/messages
 *   /api/v1/metrics                    /api/v1/messages/{m-id}
 *   /api/v1/series                     /api/v1/messages/{m-id}/pcap
 *   /api/v1/measurements               /api/v1/packets
 *   /api/v1/measurements/{l-id}        /api/v1/alerts
 *   /api/v1/measurements/{l-id}/pcap   /api/v1/stream
 *   /api/v1/gaps                       /metrics
 *   /api/v1/feeds
 *
 * Routes and parameters are parsed in api_params.c; the lists of stored
 * records (measurements, sessions, messages, gaps, feeds, one record with
 * its packets) are written by api_records.c; this file writes status,
 * metrics, series and alerts and runs an endpoint.
 *
 * JSON bodies are written with the store's own formatters (cs_message_json,
 * cs_measurement_json, cs_msgstore_json_string) into an open_memstream
 * buffer. A store is opened read-only per request, so requests share
 * nothing but two process-wide caches, each behind its own mutex: the
 * store summary of /status (recomputed at most once a second, see
 * "status") and the message files' summaries (counts, time bounds and key
 * filters, msgstore.c), which let /status count, and time-ranged or
 * by-key queries skip files, without reading them again.
 */
#include "server/api_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timefmt.h"
#include "decode/decoder.h"
#include "record/json.h"
#include "store/feeds.h"
#include "store/feeds_cache.h"
#include "store/metricstore.h"
#include "store/msgstore.h"
#include "store/store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cs__api_fail(cs__err *e, int status, const char *param, const char *fmt, ...)
{
    va_list ap;

    e->status = status;
    snprintf(e->param, sizeof(e->param), "%s", param ? param : "");
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return status == 404 ? CS_ENOTFOUND : CS_EINVAL;
}

/* ---- replies ---------------------------------------------------------- */

void cs__reply_free(cs__reply *out)
{
    free(out->body); /* open_memstream buffers */
    out->body = NULL;
}

int cs__api_error_reply(const cs__err *e, cs__reply *out)
{
    FILE *f = open_memstream(&out->body, &out->len);

    if (f == NULL)
        return CS_ENOMEM;
    fputs("{\"error\":", f);
    cs__json_str(f, e->msg);
    if (e->param[0]) {
        fputs(",\"param\":", f);
        cs__json_str(f, e->param);
    }
    fputs("}\n", f);
    if (fclose(f) != 0)
        return CS_ENOMEM;
    out->status = e->status;
    out->ctype = "application/json";
    return 0;
}

/* ---- status ----------------------------------------------------------- */

/*
 * The store part of /status costs a packet store open and a pass over the
 * message files' new tails, far too much to pay per request under load
 * (and the UI polls it). It is computed at most once per STATUS_TTL_NS per
 * store, by the first request that finds it stale, while the others wait
 * on the mutex and then share it; it is also recomputed when the daemon
 * publishes that capture started or stopped, so a finished replay's
 * numbers show at once. Process-wide, so every server thread shares it.
 */
#define STATUS_TTL_NS (CS_NS_PER_SEC)
#define STATUS_DIR_MAX 4096

typedef struct status_cache {
    pthread_mutex_t lock;
    char dir[STATUS_DIR_MAX];
    int64_t at_ns; /* CLOCK_MONOTONIC of the computation */
    int capturing;
    int rc;
    char json[1024];
} status_cache;

static status_cache status_cached = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int status_store_compute(const char *dir, char *out, size_t size)
{
    cs_store_info si;
    cs_msgstore_info mi;
    int rc = cs_store_holdings(dir, &si, &mi);

    if (rc < 0)
        return rc;
    snprintf(out, size,
             ",\"store\":{\"segments\":%u,\"packets\":%" PRIu64 ",\"packet_bytes\":%" PRIu64
             ",\"index_bytes\":%" PRIu64 ",\"max_bytes\":%" PRIu64 ",\"min_ts_ns\":%" PRId64
             ",\"max_ts_ns\":%" PRId64 ",\"messages\":%" PRIu64 ",\"measurements\":%" PRIu64
             ",\"message_bytes\":%" PRIu64 "}",
             si.segments, si.packets, si.packet_bytes, si.index_bytes, si.max_bytes, si.min_ts,
             si.max_ts, mi.messages, mi.measurements, mi.bytes);
    return 0;
}

static int status_store(FILE *f, const char *dir, int capturing)
{
    status_cache *c = &status_cached;
    int64_t now = cs_mono_ns();
    int rc;

    pthread_mutex_lock(&c->lock);
    if (strcmp(c->dir, dir) != 0 || c->capturing != capturing || c->at_ns == 0 ||
        now - c->at_ns >= STATUS_TTL_NS || c->rc < 0) {
        snprintf(c->dir, sizeof(c->dir), "%s", dir);
        c->capturing = capturing;
        c->rc = status_store_compute(dir, c->json, sizeof(c->json));
        c->at_ns = cs_mono_ns();
    }
    rc = c->rc;
    if (rc == 0)
        fputs(c->json, f);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* ,"KEY":["a","b"] from the comma-separated "names". */
static void json_names(FILE *f, const char *key, const char *names)
{
    fprintf(f, ",\"%s\":[", key);
    for (const char *p = names; *p != '\0';) {
        size_t n = strcspn(p, ",");
        char name[64];

        snprintf(name, sizeof(name), "%.*s", (int)(n < 63 ? n : 63), p);
        fputs(p == names ? "" : ",", f);
        cs__json_str(f, name);
        p += n + (p[n] == ',');
    }
    fputc(']', f);
}

/* ,"decoders":[...],"pairs":[...]: the registry's lists (decode/decoder.h),
 * which the web UI reads instead of naming protocols itself. */
static void status_protocols(FILE *f)
{
    char names[512];

    json_names(f, "decoders", cs_decoders_names(",", names, sizeof(names)));
    json_names(f, "pairs", cs_pairs_names(",", names, sizeof(names)));
}

/* ,"export":{...}: where the records go, how far behind, what failed. */
static void status_export(FILE *f, const cs_chexport_stats *x, int64_t now)
{
    fputs(",\"export\":{\"target\":", f);
    cs__json_str(f, x->target);
    fputs(",\"sensor\":", f);
    cs__json_str(f, x->sensor);
    fprintf(f, ",\"up\":%s,\"rows\":{", x->up ? "true" : "false");
    for (int i = 0; i < CS_CHX_TABLES; i++)
        fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", cs_chexport_table(i), x->rows[i]);
    fprintf(f,
            "},\"batches\":%" PRIu64 ",\"failures\":%" PRIu64 ",\"pending_bytes\":%" PRIu64
            ",\"lost_bytes\":%" PRIu64 ",\"replaced_files\":%" PRIu64 ",\"last_ok_ns\":%" PRId64
            ",\"caught_up_ns\":%" PRId64 ",\"lag_s\":%.3f,\"last_error\":",
            x->batches, x->failures, x->pending_bytes, x->lost_bytes, x->replaced, x->last_ok_ns,
            x->caught_up_ns, (double)cs_chexport_lag_ns(x, now) / 1e9);
    cs__json_str(f, x->last_error);
    fputc('}', f);
}

static int reply_status(FILE *f, const char *dir, cs_live *live, int64_t now)
{
    cs_live_status st;

    memset(&st, 0, sizeof(st));
    st.version = "";
    st.started_ns = now;
    if (live)
        cs_live_get_status(live, &st);
    fputs("{\"version\":", f);
    cs__json_str(f, st.version);
    fprintf(f, ",\"started_ns\":%" PRId64 ",\"uptime_s\":%.3f,\"capturing\":%s,\"sources\":",
            st.started_ns, (double)(now - st.started_ns) / 1e9, st.capturing ? "true" : "false");
    cs__json_str(f, st.sources);
    fprintf(f,
            ",\"capture\":{\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 "},\"drops\":{"
            "\"kernel\":%" PRIu64 ",\"not_stored\":%" PRIu64 ",\"not_analysed\":%" PRIu64
            ",\"records_not_stored\":%" PRIu64 ",\"windows_not_stored\":%" PRIu64
            ",\"alerts_not_stored\":%" PRIu64 "},\"messages\":%" PRIu64
            ",\"measurements\":%" PRIu64,
            st.packets, st.bytes, st.kernel_drops, st.not_stored, st.not_analysed,
            st.records_not_stored, st.windows_not_stored, st.alerts_not_stored, st.messages,
            st.measurements);
    fprintf(f,
            ",\"time\":{\"hw_ts_missing\":%" PRIu64 ",\"trailer_timed\":%" PRIu64
            ",\"trailer_unsynced\":%" PRIu64 ",\"trailer_missing\":%" PRIu64
            ",\"trailer_cut\":%" PRIu64 ",\"trailer_bad_time\":%" PRIu64 ",\"trailer_far\":%" PRIu64
            ",\"trailer_device_over\":%" PRIu64 "}",
            st.hw_ts_missing, st.timeref.timed, st.timeref.unsynced, st.timeref.missing,
            st.timeref.cut, st.timeref.bad_time, st.timeref.far, st.timeref.tap_over);
    status_protocols(f);
    if (st.exporting)
        status_export(f, &st.exp, now);
    return status_store(f, dir, st.capturing);
}

/* ---- metrics, series, alerts ------------------------------------------- */

/* "KIND:NAME" (kinds are at most 7 characters) */
#define SERIES_TEXT_MAX (8 + CS_SERIES_NAME_MAX)

static void series_text(const cs_series_id *s, char *buf, size_t n)
{
    if (s->kind == CS_SERIES_CAPTURE)
        snprintf(buf, n, "capture");
    else
        snprintf(buf, n, "%s:%s", cs_series_kind_name(s->kind), s->name);
}

/* ,"heat_lower_ns":[0, 1024, ...]: where each heat bucket starts. */
static void heat_lower_json(FILE *f)
{
    fputs(",\"heat_lower_ns\":[", f);
    for (int k = 0; k < CS_METRIC_HEAT_BUCKETS; k++)
        fprintf(f, "%s%" PRId64, k ? "," : "", cs_metricstore_heat_lower(k));
    fputs("]", f);
}

static void point_json(FILE *f, const cs_metric_point *p, int first, const cs__query *q)
{
    if (!first)
        fputc(',', f);
    cs_metric_point_json(f, p, q->series.kind, q->heatmap, q->hist);
}

/* The points of "q" at step "step" (with their buckets in "*pairs" if
 * q->hist asks for them, else NULL). */
static int query_points(const char *dir, const cs__query *q, int64_t step, cs_metric_point **pts,
                        size_t *n, cs_hist_pair **pairs)
{
    *pairs = NULL;
    if (q->hist)
        return cs_metricstore_query_hist(dir, &q->series, q->after, q->before, step, pts, n, pairs);
    return cs_metricstore_query(dir, &q->series, q->after, q->before, step, pts, n);
}

/* The smallest whole-second step >= "step" that cuts a span of "span"
 * nanoseconds into at most CS__API_POINTS_MAX steps. */
static int64_t step_bound(uint64_t span, int64_t step)
{
    uint64_t per = span / CS__API_POINTS_MAX + (span % CS__API_POINTS_MAX != 0);
    uint64_t secs = per / CS_NS_PER_SEC + (per % CS_NS_PER_SEC != 0);

    if (secs > (uint64_t)(INT64_MAX / CS_NS_PER_SEC))
        return INT64_MAX / CS_NS_PER_SEC * CS_NS_PER_SEC;
    return (int64_t)secs * CS_NS_PER_SEC > step ? (int64_t)secs * CS_NS_PER_SEC : step;
}

/*
 * The points of one series, merged per step by the metric store. A reply
 * holds at most CS__API_POINTS_MAX points: a step too fine for the range
 * is widened to the smallest whole-second step that fits (the reply's
 * step_ns says which). With heatmap=1 each point also carries its heat
 * counts and the reply the heat buckets' lower bounds; with hist=1 each
 * point carries its histogram's non-empty buckets (analytics/histjson.h),
 * which a hub merges into exact percentiles. Without a range the span is
 * the stored data's.
 */
static int reply_metrics(FILE *f, const char *dir, const cs__query *q)
{
    cs_metric_point *pts = NULL;
    cs_hist_pair *pairs = NULL;
    size_t n = 0;
    char name[SERIES_TEXT_MAX];
    int64_t step = q->step_ns;
    int rc;

    if (q->after != INT64_MIN && q->before != INT64_MAX)
        step = step_bound((uint64_t)q->before - (uint64_t)q->after, step);
    rc = query_points(dir, q, step, &pts, &n, &pairs);
    if (rc == 0 && n > CS__API_POINTS_MAX) {
        step =
            step_bound((uint64_t)pts[n - 1].ts_ns - (uint64_t)pts[0].ts_ns + (uint64_t)step, step);
        cs_free(pts);
        cs_free(pairs);
        pts = NULL;
        rc = query_points(dir, q, step, &pts, &n, &pairs);
    }
    if (rc < 0)
        return rc;
    series_text(&q->series, name, sizeof(name));
    fputs("{\"series\":", f);
    cs__json_str(f, name);
    fprintf(f, ",\"step_ns\":%" PRId64, step);
    if (q->heatmap)
        heat_lower_json(f);
    fputs(",\"points\":[", f);
    for (size_t i = 0; i < n; i++)
        point_json(f, &pts[i], i == 0, q);
    fputs("]", f);
    cs_free(pts);
    cs_free(pairs);
    return 0;
}

static int reply_series(FILE *f, const char *dir, const cs__query *q)
{
    cs_series_id *ids = NULL;
    size_t n = 0;
    char name[SERIES_TEXT_MAX];
    int rc = cs_metricstore_series(dir, q->after, q->before, &ids, &n);

    if (rc < 0)
        return rc;
    fputs("{\"series\":[", f);
    for (size_t i = 0; i < n; i++) {
        series_text(&ids[i], name, sizeof(name));
        fprintf(f, "%s{\"id\":", i ? "," : "");
        cs__json_str(f, name);
        fprintf(f, ",\"kind\":\"%s\",\"name\":", cs_series_kind_name(ids[i].kind));
        cs__json_str(f, ids[i].name);
        fputs("}", f);
    }
    fputs("]", f);
    cs_free(ids);
    return 0;
}

/*
 * Alerts, newest first, paged like the lists. The alert file is in the
 * order written (time order) and its reader cannot stop early, so a page
 * costs two passes over it: the first counts the events of the range
 * ("total"), the second renders the events whose position from the end is
 * in [offset, offset + limit) into a buffer, one after the other, and the
 * reply copies them out in reverse. Events appended between the passes
 * come after all those counted, so they do not shift the page; the next
 * request sees them. Memory: the page, at most CS__API_LIMIT_MAX events.
 */
typedef struct alert_ctx {
    FILE *f;                           /* pass 2: the page's events, in file order */
    uint64_t n;                        /* events seen so far in this pass */
    uint64_t lo, hi;                   /* pass 2: file positions [lo, hi) make the page */
    size_t n_page;                     /* events rendered */
    long start[CS__API_LIMIT_MAX + 1]; /* where each one starts in "f" */
} alert_ctx;

static void alert_json(FILE *f, const cs_alert_event *ev)
{
    char series[SERIES_TEXT_MAX];

    series_text(&ev->series, series, sizeof(series));
    fputs("{\"rule\":", f);
    cs__json_str(f, ev->rule);
    fprintf(f,
            ",\"state\":\"%s\",\"ts_ns\":%" PRId64 ",\"series\":", cs_alert_state_name(ev->state),
            ev->ts_ns);
    cs__json_str(f, series);
    fputs(",\"metric\":", f);
    cs__json_str(f, cs_alert_metric_name(ev->metric));
    fprintf(f, ",\"unit\":\"%s\"", cs_alert_metric_unit(ev->metric));
    fprintf(f,
            ",\"value\":%.17g,\"threshold\":%.17g,\"from_ns\":%" PRId64 ",\"to_ns\":%" PRId64
            ",\"text\":",
            ev->value, ev->threshold, ev->from_ns, ev->to_ns);
    cs__json_str(f, ev->text);
    if (ev->series.kind == CS_SERIES_PAIR) /* the drill-down: its windows' slowest pairs */
        fprintf(f,
                ",\"measurements\":\"/api/v1/measurements?pair=%s&after=%" PRId64 "&before=%" PRId64
                "&sort=latency\"",
                ev->series.name, ev->from_ns, ev->to_ns);
    fputs("}", f);
}

static void alert_count(void *ud, const cs_alert_event *ev)
{
    ((alert_ctx *)ud)->n++;
}

static void alert_take(void *ud, const cs_alert_event *ev)
{
    alert_ctx *c = ud;
    uint64_t at = c->n++;

    if (at < c->lo || at >= c->hi || c->n_page >= CS__API_LIMIT_MAX)
        return;
    c->start[c->n_page++] = ftell(c->f);
    alert_json(c->f, ev);
}

/* Writes the rendered page "buf" ("len" bytes) newest first. */
static void alert_page_out(FILE *f, alert_ctx *c, const char *buf, size_t len)
{
    c->start[c->n_page] = (long)len;
    for (size_t i = c->n_page; i-- > 0;) {
        fputs(i + 1 < c->n_page ? "," : "", f);
        fwrite(buf + c->start[i], 1, (size_t)(c->start[i + 1] - c->start[i]), f);
    }
}

static int reply_alerts(FILE *f, const char *dir, const cs__query *q)
{
    alert_ctx *c = cs_calloc(1, sizeof(*c));
    char *buf = NULL;
    size_t len = 0;
    uint64_t total;
    int rc;

    if (c == NULL)
        return CS_ENOMEM;
    if ((rc = cs_metricstore_alerts(dir, q->after, q->before, alert_count, c)) < 0)
        goto out;
    total = c->n;
    c->hi = total > q->offset ? total - q->offset : 0;
    c->lo = c->hi > q->limit ? c->hi - q->limit : 0;
    c->n = 0;
    if ((c->f = open_memstream(&buf, &len)) == NULL) {
        rc = CS_ENOMEM;
        goto out;
    }
    rc = cs_metricstore_alerts(dir, q->after, q->before, alert_take, c);
    if (fclose(c->f) != 0 && rc == 0)
        rc = CS_ENOMEM;
    if (rc < 0)
        goto out;
    fputs("{\"alerts\":[", f);
    alert_page_out(f, c, buf, len);
    fprintf(f,
            "],\"offset\":%" PRIu64 ",\"limit\":%" PRIu64 ",\"count\":%zu,\"more\":%s,"
            "\"total\":%" PRIu64,
            q->offset, q->limit, c->n_page, c->lo > 0 ? "true" : "false", total);
out:
    free(buf); /* open_memstream's */
    cs_free(c);
    return rc;
}

/* ---- dispatch --------------------------------------------------------- */

static int write_body(FILE *f, const char *dir, cs_live *live, cs_feeds_cache *feeds,
                      const cs__route *r, const cs__query *q, int64_t now, cs__err *e)
{
    int rc;

    switch (r->ep) {
    case CS__EP_STATUS:
        rc = reply_status(f, dir, live, now);
        break;
    case CS__EP_METRICS:
        rc = reply_metrics(f, dir, q);
        break;
    case CS__EP_SERIES:
        rc = reply_series(f, dir, q);
        break;
    case CS__EP_ALERTS:
        rc = reply_alerts(f, dir, q);
        break;
    case CS__EP_MEASUREMENTS:
        rc = cs__api_reply_measurements(f, dir, q);
        break;
    case CS__EP_MESSAGES:
        rc = cs__api_reply_messages(f, dir, q);
        break;
    case CS__EP_GAPS:
        rc = cs__api_reply_gaps(f, dir, q);
        break;
    case CS__EP_FEEDS:
        rc = cs__api_reply_feeds(f, dir, feeds, q);
        break;
    case CS__EP_SESSIONS:
        rc = cs__api_reply_sessions(f, dir, q);
        break;
    case CS__EP_MEASUREMENT:
    case CS__EP_MESSAGE:
        return cs__api_reply_one(f, dir, r, q->pair, e);
    default:
        return cs__api_fail(e, 404, NULL, "no such path");
    }
    if (rc == 0)
        fputs("}\n", f);
    return rc;
}

int cs__api_json(const char *store_dir, cs_live *live, cs_feeds_cache *feeds, const cs__route *r,
                 const cs__query *q, int64_t now_ns, cs__reply *out)
{
    cs__err e = {0};
    FILE *f;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((f = open_memstream(&out->body, &out->len)) == NULL)
        return CS_ENOMEM;
    rc = write_body(f, store_dir, live, feeds, r, q, now_ns, &e);
    if (fclose(f) != 0 && rc == 0)
        rc = CS_ENOMEM;
    if (rc == 0) {
        out->status = 200;
        out->ctype = "application/json";
        return 0;
    }
    cs__reply_free(out);
    if (e.status == 404)
        return cs__api_error_reply(&e, out);
    return rc;
}

int64_t cs__api_json_latency(const char *json)
{
    const char *p = strstr(json, "\"latency_ns\":");
    char *end;
    long long v;

    if (p == NULL)
        return INT64_MIN;
    v = strtoll(p + 13, &end, 10);
    return end == p + 13 ? INT64_MIN : (int64_t)v;
}

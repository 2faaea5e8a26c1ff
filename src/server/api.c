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
 * /api/v1/gaps lists the stored sequence gaps (msgstore.h cs_gap, one JSON
 * object each as cs_gap_json writes it), paged like messages.
 * /api/v1/feeds lists one summary per MoldUDP64 feed and tap (store/feeds.h,
 * as cs_feed_json writes it, the objects of `capstream feeds --json`), not
 * paged: one object per feed and tap, a few per store.
 *
 * Routing compares the path with fixed strings segment by segment, so
 * "/api/v1/../x", "%2e%2e" (already decoded by the server) or a NUL cut
 * simply match nothing (404). Parameters: each endpoint lists the ones it
 * takes; each has one parser with a bounded length; values are checked
 * fully (no trailing garbage). Lists (measurements, messages, alerts) are
 * paged (limit <= 1000, offset <= 1e6) and metrics hold at most
 * CS__API_POINTS_MAX points, so a reply's size is bounded. Sorted measurement pages cost memory for
 * offset + limit small entries, not for every measurement of the range (msgstore.c).
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
#include "core/sort.h"
#include "core/timefmt.h"
#include "decode/decoder.h"
#include "packet/dissect.h"
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

/* ---- routing ---------------------------------------------------------- */

typedef struct route_entry {
    const char *prefix; /* path up to the id, or the whole path */
    int ep, ep_id, ep_pcap;
    char kind; /* id kind for ep_id */
} route_entry;

static const route_entry routes[] = {
    {"/api/v1/status", CS__EP_STATUS, 0, 0, 0},
    {"/api/v1/metrics", CS__EP_METRICS, 0, 0, 0},
    {"/api/v1/series", CS__EP_SERIES, 0, 0, 0},
    {"/api/v1/measurements", CS__EP_MEASUREMENTS, CS__EP_MEASUREMENT, CS__EP_MEASUREMENT_PCAP, 'l'},
    {"/api/v1/messages", CS__EP_MESSAGES, CS__EP_MESSAGE, CS__EP_MESSAGE_PCAP, 'm'},
    {"/api/v1/packets", CS__EP_PACKETS, 0, 0, 0},
    {"/api/v1/alerts", CS__EP_ALERTS, 0, 0, 0},
    {"/api/v1/stream", CS__EP_STREAM, 0, 0, 0},
    {"/api/v1/gaps", CS__EP_GAPS, 0, 0, 0},
    {"/api/v1/feeds", CS__EP_FEEDS, 0, 0, 0},
    {"/api/v1/sessions", CS__EP_SESSIONS, 0, 0, 0},
    {"/metrics", CS__EP_PROMETHEUS, 0, 0, 0},
};

/* "rest" is what follows "prefix/": "{id}" or "{id}/pcap". */
static int route_id(const route_entry *re, const char *rest, cs__route *r, cs__err *e)
{
    char idbuf[48], kind;
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);

    if (slash && strcmp(slash, "/pcap") != 0)
        return cs__api_fail(e, 404, NULL, "no such path");
    if (n == 0 || n >= sizeof(idbuf))
        return cs__api_fail(e, 400, "id", "bad id (expected %c<segment>.<offset>.<k>)", re->kind);
    memcpy(idbuf, rest, n);
    idbuf[n] = '\0';
    if (cs_id_parse(idbuf, &kind, &r->id) < 0 || kind != re->kind)
        return cs__api_fail(e, 400, "id", "bad id (expected %c<segment>.<offset>.<k>)", re->kind);
    r->ep = slash ? re->ep_pcap : re->ep_id;
    return 0;
}

int cs__api_route(const char *path, cs__route *r, cs__err *e)
{
    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const route_entry *re = &routes[i];
        size_t n = strlen(re->prefix);

        if (strncmp(path, re->prefix, n) != 0)
            continue;
        if (path[n] == '\0') {
            r->ep = re->ep;
            return 0;
        }
        if (path[n] == '/' && re->ep_id)
            return route_id(re, path + n + 1, r, e);
    }
    return cs__api_fail(e, 404, NULL, "no such path");
}

/* ---- parameters ------------------------------------------------------- */

void cs__params_add(cs__params *p, const char *key, const char *val)
{
    if (p->n < CS__API_PARAMS_MAX) {
        p->kv[p->n].key = key ? key : "";
        p->kv[p->n].val = val;
        p->n++;
    } else if (p->overflow == NULL)
        p->overflow = key ? key : "";
}

enum {
    P_AFTER = 1 << 0,
    P_BEFORE = 1 << 1,
    P_STEP = 1 << 2,
    P_SERIES = 1 << 3,
    P_PAIR = 1 << 4,
    P_MIN = 1 << 5,
    P_SORT = 1 << 6,
    P_LIMIT = 1 << 7,
    P_OFFSET = 1 << 8,
    P_PROTO = 1 << 9,
    P_TYPE = 1 << 10,
    P_KEY = 1 << 11,
    P_FILTER = 1 << 12,
    P_MIN_LATENCY = 1 << 13,
    P_EVENTS = 1 << 14,
    P_HEATMAP = 1 << 15,
    P_TOTAL = 1 << 16,
    P_PCAP_TIME = 1 << 17,
    P_SESSION = 1 << 18,
    P_MAX = 1 << 19,
    P_HIST = 1 << 20,
    P_BRIEF = 1 << 21,
};

static const char *const param_names[] = {
    "after",  "before",    "step",    "series", "pair",   "min",         "sort",   "limit",
    "offset", "proto",     "type",    "key",    "filter", "min_latency", "events", "heatmap",
    "total",  "pcap_time", "session", "max",    "hist",   "brief"};
#define N_PARAMS (sizeof(param_names) / sizeof(param_names[0]))

static unsigned allowed_params(int ep)
{
    switch (ep) {
    case CS__EP_METRICS:
        return P_SERIES | P_AFTER | P_BEFORE | P_STEP | P_HEATMAP | P_HIST;
    case CS__EP_SERIES:
    case CS__EP_FEEDS:
        return P_AFTER | P_BEFORE;
    case CS__EP_ALERTS:
        return P_AFTER | P_BEFORE | P_LIMIT | P_OFFSET;
    case CS__EP_MEASUREMENTS:
        return P_PAIR | P_KEY | P_SESSION | P_AFTER | P_BEFORE | P_MIN | P_MAX | P_SORT | P_LIMIT |
               P_OFFSET | P_TOTAL | P_BRIEF;
    case CS__EP_SESSIONS:
        return P_PAIR | P_KEY | P_AFTER | P_BEFORE | P_MIN | P_MAX | P_LIMIT | P_OFFSET;
    case CS__EP_MESSAGES:
        return P_PROTO | P_TYPE | P_KEY | P_AFTER | P_BEFORE | P_LIMIT | P_OFFSET;
    case CS__EP_PACKETS:
        return P_FILTER | P_AFTER | P_BEFORE | P_PCAP_TIME;
    case CS__EP_GAPS:
        return P_AFTER | P_BEFORE | P_LIMIT | P_OFFSET;
    case CS__EP_STREAM:
        return P_MIN_LATENCY | P_EVENTS;
    case CS__EP_MEASUREMENT:
    case CS__EP_MEASUREMENT_PCAP:
        return P_PAIR; /* which of the measurements sharing an id */
    default:
        return 0;
    }
}

static int param_index(const char *key)
{
    for (size_t i = 0; i < N_PARAMS; i++)
        if (strcmp(key, param_names[i]) == 0)
            return (int)i;
    return -1;
}

static int parse_uint(const char *name, const char *v, uint64_t max, uint64_t *out, cs__err *e)
{
    uint64_t x = 0;

    if (*v == '\0')
        return cs__api_fail(e, 400, name, "%s: expected a number", name);
    for (const char *s = v; *s; s++) {
        if (*s < '0' || *s > '9' || x > (max - (uint64_t)(*s - '0')) / 10)
            return cs__api_fail(e, 400, name, "%s: expected a number from 0 to %" PRIu64, name,
                                max);
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *out = x;
    return 0;
}

static int parse_series(const char *v, cs_series_id *s, cs__err *e)
{
    const char *colon = strchr(v, ':');
    size_t klen = colon ? (size_t)(colon - v) : strlen(v);
    const char *name = colon ? colon + 1 : v;
    int kind = cs_series_kind_parse(v, klen);

    memset(s, 0, sizeof(*s));
    if (kind == 0)
        return cs__api_fail(e, 400, "series",
                            "series: expected pair:NAME, proto:NAME, tap:N, clock:N, feed:NAME, "
                            "session:NAME or capture");
    if (kind == CS_SERIES_CAPTURE && (colon == NULL || strcmp(name, "capture") == 0))
        name = "capture";
    else if (colon == NULL || *name == '\0' || strlen(name) >= CS_SERIES_NAME_MAX ||
             kind == CS_SERIES_CAPTURE)
        return cs__api_fail(e, 400, "series",
                            "series: expected pair:NAME, proto:NAME, tap:N, clock:N, feed:NAME, "
                            "session:NAME or capture");
    s->kind = (uint8_t)kind;
    snprintf(s->name, sizeof(s->name), "%s", name);
    return 0;
}

static int parse_sort(const char *v, int *sort, cs__err *e)
{
    if (strcmp(v, "time") == 0)
        *sort = CS_LATSORT_TIME;
    else if (strcmp(v, "latency") == 0)
        *sort = CS_LATSORT_LATENCY;
    else if (strcmp(v, "store") == 0)
        *sort = CS_LATSORT_STORE;
    else
        return cs__api_fail(e, 400, "sort", "sort: expected time, latency or store");
    return 0;
}

static const char *const event_names[] = {"metrics", "measurement", "alert"};

unsigned cs__api_event_bit(const char *type)
{
    for (unsigned i = 0; i < sizeof(event_names) / sizeof(event_names[0]); i++)
        if (strcmp(type, event_names[i]) == 0)
            return 1u << i;
    return 0;
}

/* "metrics,alert": a comma list of event kinds, each at least once. */
static int parse_events(const char *v, unsigned *events, cs__err *e)
{
    char word[CS_LIVE_TYPE_MAX];
    unsigned bit;

    *events = 0;
    for (const char *p = v;; p++) {
        size_t n = strcspn(p, ",");

        if (n == 0 || n >= sizeof(word))
            return cs__api_fail(e, 400, "events",
                                "events: expected a comma list of metrics, measurement, alert");
        memcpy(word, p, n);
        word[n] = '\0';
        if ((bit = cs__api_event_bit(word)) == 0)
            return cs__api_fail(e, 400, "events",
                                "events: expected a comma list of metrics, measurement, alert");
        *events |= bit;
        p += n;
        if (*p == '\0')
            return 0;
    }
}

static int parse_time(const char *name, const char *v, int64_t now, int64_t *out, cs__err *e)
{
    if (cs_time_parse(v, now, out) < 0)
        return cs__api_fail(
            e, 400, name, "%s: expected RFC 3339, epoch ns or a relative time (\"5m ago\")", name);
    return 0;
}

static int parse_duration(const char *name, const char *v, int64_t *out, cs__err *e)
{
    if (cs_duration_parse(v, out) < 0 || *out < 0)
        return cs__api_fail(e, 400, name, "%s: expected a duration such as 200us, 1.5ms, 1s", name);
    return 0;
}

static int parse_one(int idx, const char *v, int64_t now, cs__query *q, cs__err *e)
{
    const char *name = param_names[idx];

    switch (1u << idx) {
    case P_AFTER:
        return parse_time(name, v, now, &q->after, e);
    case P_BEFORE:
        return parse_time(name, v, now, &q->before, e);
    case P_STEP:
        if (parse_duration(name, v, &q->step_ns, e) < 0)
            return CS_EINVAL;
        if (q->step_ns < CS_NS_PER_SEC || q->step_ns % CS_NS_PER_SEC != 0)
            return cs__api_fail(e, 400, name, "step: expected whole seconds, at least 1s");
        return 0;
    case P_SERIES:
        return parse_series(v, &q->series, e);
    case P_MIN:
    case P_MIN_LATENCY:
        return parse_duration(name, v, &q->min_ns, e);
    case P_MAX:
        return parse_duration(name, v, &q->max_ns, e);
    case P_SESSION:
        if (strchr(v, '>') == NULL || strlen(v) >= CS_LATSTATS_NAME)
            return cs__api_fail(e, 400, name,
                                "session: expected SRC>DST, a measurement's src and dst "
                                "(10.1.0.5:40001>10.2.0.1:9878)");
        q->session = v;
        return 0;
    case P_SORT:
        return parse_sort(v, &q->sort, e);
    case P_LIMIT: /* one message for every bad value, 0 and -1 alike */
        if (parse_uint(name, v, CS__API_LIMIT_MAX, &q->limit, e) < 0 || q->limit == 0)
            return cs__api_fail(e, 400, name, "limit: expected a number from 1 to %d",
                                CS__API_LIMIT_MAX);
        return 0;
    case P_OFFSET:
        return parse_uint(name, v, CS__API_OFFSET_MAX, &q->offset, e);
    case P_PAIR:
        q->pair = v;
        return 0;
    case P_PROTO:
        q->proto = v;
        return 0;
    case P_TYPE:
        q->type = v;
        return 0;
    case P_KEY:
        q->key = v;
        return 0;
    case P_FILTER:
        q->filter = v;
        return 0;
    case P_EVENTS:
        return parse_events(v, &q->events, e);
    case P_HEATMAP:
    case P_TOTAL:
    case P_HIST:
    case P_BRIEF:
        if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
            return cs__api_fail(e, 400, name, "%s: expected 0 or 1", name);
        *((1u << idx) == P_HEATMAP ? &q->heatmap
          : (1u << idx) == P_HIST  ? &q->hist
          : (1u << idx) == P_BRIEF ? &q->brief
                                   : &q->total) = v[0] == '1';
        return 0;
    case P_PCAP_TIME:
        if (strcmp(v, "reference") != 0 && strcmp(v, "capture") != 0)
            return cs__api_fail(e, 400, name, "%s: expected reference or capture", name);
        q->pcap_time = v[0] == 'c' ? CS_PCAP_TIME_CAPTURE : CS_PCAP_TIME_REFERENCE;
        return 0;
    }
    return cs__api_fail(e, 400, name, "unknown parameter");
}

static void query_defaults(cs__query *q)
{
    memset(q, 0, sizeof(*q));
    q->after = INT64_MIN;
    q->before = INT64_MAX;
    q->step_ns = CS_NS_PER_SEC;
    q->min_ns = INT64_MIN;
    q->max_ns = INT64_MAX;
    q->sort = CS_LATSORT_TIME;
    q->limit = CS__API_LIMIT_DEFAULT;
    q->events = CS__EV_ALL;
}

int cs__api_parse(int ep, const cs__params *p, int64_t now_ns, cs__query *q, cs__err *e)
{
    unsigned allowed = allowed_params(ep), seen = 0;

    query_defaults(q);
    if (p->overflow)
        return cs__api_fail(e, 400, p->overflow, "too many parameters (at most %d)",
                            CS__API_PARAMS_MAX);
    for (size_t i = 0; i < p->n; i++) {
        const char *k = p->kv[i].key, *v = p->kv[i].val;
        int idx = param_index(k);
        size_t max = idx >= 0 && (1u << idx) == P_FILTER ? CS__API_FILTER_MAX : CS__API_VALUE_MAX;

        if (idx < 0 || !(allowed & (1u << idx)))
            return cs__api_fail(e, 400, strlen(k) < 60 ? k : "?", "unknown parameter");
        if (seen & (1u << idx))
            return cs__api_fail(e, 400, k, "%s: given more than once", k);
        seen |= 1u << idx;
        if (v == NULL || *v == '\0')
            return cs__api_fail(e, 400, k, "%s: empty value", k);
        if (strlen(v) > max)
            return cs__api_fail(e, 400, k, "%s: longer than %zu bytes", k, max);
        if (parse_one(idx, v, now_ns, q, e) < 0)
            return CS_EINVAL;
    }
    if (ep == CS__EP_METRICS && !(seen & P_SERIES))
        return cs__api_fail(e, 400, "series", "series: required (e.g. pair:fix)");
    if (q->after > q->before)
        return cs__api_fail(e, 400, "after", "after: later than before");
    return 0;
}

/* ---- replies ---------------------------------------------------------- */

void cs__reply_free(cs__reply *out)
{
    free(out->body); /* open_memstream buffers */
    out->body = NULL;
}

static void json_str(FILE *f, const char *s)
{
    cs_msgstore_json_string(f, s ? s : "", s ? strlen(s) : 0);
}

int cs__api_error_reply(const cs__err *e, cs__reply *out)
{
    FILE *f = open_memstream(&out->body, &out->len);

    if (f == NULL)
        return CS_ENOMEM;
    fputs("{\"error\":", f);
    json_str(f, e->msg);
    if (e->param[0]) {
        fputs(",\"param\":", f);
        json_str(f, e->param);
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

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * CS_NS_PER_SEC + ts.tv_nsec;
}

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
    int64_t now = mono_ns();
    int rc;

    pthread_mutex_lock(&c->lock);
    if (strcmp(c->dir, dir) != 0 || c->capturing != capturing || c->at_ns == 0 ||
        now - c->at_ns >= STATUS_TTL_NS || c->rc < 0) {
        snprintf(c->dir, sizeof(c->dir), "%s", dir);
        c->capturing = capturing;
        c->rc = status_store_compute(dir, c->json, sizeof(c->json));
        c->at_ns = mono_ns();
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
        json_str(f, name);
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
    json_str(f, x->target);
    fputs(",\"sensor\":", f);
    json_str(f, x->sensor);
    fprintf(f, ",\"up\":%s,\"rows\":{", x->up ? "true" : "false");
    for (int i = 0; i < CS_CHX_TABLES; i++)
        fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", cs_chexport_table(i), x->rows[i]);
    fprintf(f,
            "},\"batches\":%" PRIu64 ",\"failures\":%" PRIu64 ",\"pending_bytes\":%" PRIu64
            ",\"lost_bytes\":%" PRIu64 ",\"replaced_files\":%" PRIu64 ",\"last_ok_ns\":%" PRId64
            ",\"caught_up_ns\":%" PRId64 ",\"lag_s\":%.3f,\"last_error\":",
            x->batches, x->failures, x->pending_bytes, x->lost_bytes, x->replaced, x->last_ok_ns,
            x->caught_up_ns, (double)cs_chexport_lag_ns(x, now) / 1e9);
    json_str(f, x->last_error);
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
    json_str(f, st.version);
    fprintf(f, ",\"started_ns\":%" PRId64 ",\"uptime_s\":%.3f,\"capturing\":%s,\"sources\":",
            st.started_ns, (double)(now - st.started_ns) / 1e9, st.capturing ? "true" : "false");
    json_str(f, st.sources);
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
    json_str(f, name);
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
        json_str(f, name);
        fprintf(f, ",\"kind\":\"%s\",\"name\":", cs_series_kind_name(ids[i].kind));
        json_str(f, ids[i].name);
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
    json_str(f, ev->rule);
    fprintf(f,
            ",\"state\":\"%s\",\"ts_ns\":%" PRId64 ",\"series\":", cs_alert_state_name(ev->state),
            ev->ts_ns);
    json_str(f, series);
    fputs(",\"metric\":", f);
    json_str(f, cs_alert_metric_name(ev->metric));
    fprintf(f, ",\"unit\":\"%s\"", cs_alert_metric_unit(ev->metric));
    fprintf(f,
            ",\"value\":%.17g,\"threshold\":%.17g,\"from_ns\":%" PRId64 ",\"to_ns\":%" PRId64
            ",\"text\":",
            ev->value, ev->threshold, ev->from_ns, ev->to_ns);
    json_str(f, ev->text);
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

/* ---- measurements and messages ----------------------------------------- */

typedef struct page_ctx {
    FILE *f;
    uint64_t seen, written, offset, limit;
    int more;
    int brief; /* measurements: brief=1 */
} page_ctx;

/* Skips "offset" records, writes "limit", then notes there are more and
 * stops. */
static int page_take(page_ctx *c)
{
    if (c->seen++ < c->offset)
        return 0;
    if (c->written == c->limit) {
        c->more = 1;
        return 1;
    }
    fputs(c->written++ ? "," : "", c->f);
    return -1; /* write this one */
}

/* brief=1: what a chart's point needs (a fifth of the bytes of the whole). */
static void measurement_brief_json(FILE *f, const cs_measurement *ms)
{
    char id[40];

    fprintf(f, "{\"id\":\"%s\",\"pair\":", cs_id_format('l', ms->id, id));
    cs_msgstore_json_string(f, ms->pair ? ms->pair : "", ms->pair ? strlen(ms->pair) : 0);
    fputs(",\"key\":", f);
    cs_msgstore_json_string(f, ms->key.p, ms->key.len);
    fprintf(f, ",\"req_ts_ns\":%lld,\"latency_ns\":%lld}", (long long)ms->req_ts_ns,
            (long long)ms->latency_ns);
}

static int page_measurement(void *ud, const cs_measurement *ms)
{
    page_ctx *c = ud;
    int rc = page_take(c);

    if (rc >= 0)
        return rc;
    if (c->brief)
        measurement_brief_json(c->f, ms);
    else
        cs_measurement_json(c->f, ms);
    return 0;
}

static int page_message(void *ud, const cs_message *m)
{
    page_ctx *c = ud;
    int rc = page_take(c);

    if (rc >= 0)
        return rc;
    cs_message_json(c->f, m);
    return 0;
}

static void page_end(FILE *f, const page_ctx *c)
{
    fprintf(f, "],\"offset\":%" PRIu64 ",\"limit\":%" PRIu64 ",\"count\":%" PRIu64 ",\"more\":%s",
            c->offset, c->limit, c->written, c->more ? "true" : "false");
}

/* ,"total":N: the measurements matching "lf" (its offset and limit aside),
 * counted from the store's per-pair latency histograms. */
static int total_json(FILE *f, cs_msgreader *r, const cs_latfilter *lf)
{
    cs_latstats *st = NULL;
    size_t n = 0;
    uint64_t total = 0;
    int rc = cs_msgreader_lat_stats(r, lf, CS_LATBY_PAIR, &st, &n);

    for (size_t i = 0; i < n; i++)
        total += cs_lazyhist_count(&st[i].hist);
    cs_latstats_free(st, n);
    if (rc == 0)
        fprintf(f, ",\"total\":%" PRIu64, total);
    return rc;
}

/* The measurement filter of query "q". */
static void query_latfilter(const cs__query *q, cs_latfilter *lf)
{
    cs_latfilter_init(lf);
    lf->pair = q->pair;
    lf->key = q->key;
    lf->session = q->session;
    lf->after = q->after;
    lf->before = q->before;
    lf->min_latency_ns = q->min_ns;
    lf->max_latency_ns = q->max_ns;
}

/* A page of measurements; with total=1 also how many match in all, so a
 * page can say "1-100 of 3,412". */
static int reply_measurements(FILE *f, const char *dir, const cs__query *q)
{
    page_ctx c = {f, 0, 0, 0, q->limit, 0, q->brief}; /* the store skips the offset */
    cs_msgreader *r = NULL;
    cs_latfilter lf;
    int rc;

    if ((rc = cs_msgreader_open(dir, &r)) < 0)
        return rc;
    query_latfilter(q, &lf);
    lf.sort = q->sort;
    lf.offset = q->offset;
    lf.limit = q->limit + 1; /* one more says whether there is a next page */
    fputs("{\"measurements\":[", f);
    rc = cs_msgreader_measurements(r, &lf, page_measurement, &c);
    c.offset = q->offset;
    page_end(f, &c);
    if (rc >= 0 && q->total)
        rc = total_json(f, r, &lf);
    cs_msgreader_close(r);
    return rc;
}

/* Slowest first: max, then more measurements, then pair and session. */
static int cmp_session_slowest(const void *a, const void *b)
{
    const cs_latstats *x = a, *y = b;
    int64_t mx = cs_lazyhist_max(&x->hist), my = cs_lazyhist_max(&y->hist);
    uint64_t cx = cs_lazyhist_count(&x->hist), cy = cs_lazyhist_count(&y->hist);
    int c;

    if (mx != my)
        return mx > my ? -1 : 1;
    if (cx != cy)
        return cx > cy ? -1 : 1;
    c = strcmp(x->pair, y->pair);
    return c ? c : strcmp(x->session, y->session);
}

static void session_json(FILE *f, cs_latstats *st)
{
    cs_lazyhist *h = &st->hist;
    const char *gt = strchr(st->session, '>');

    fputs("{\"pair\":", f);
    json_str(f, st->pair);
    fputs(",\"session\":", f);
    json_str(f, st->session);
    fputs(",\"src\":", f);
    cs_msgstore_json_string(f, st->session, (size_t)(gt - st->session));
    fputs(",\"dst\":", f);
    json_str(f, gt + 1);
    fprintf(f,
            ",\"count\":%" PRIu64 ",\"min_ns\":%" PRId64 ",\"p50_ns\":%" PRId64
            ",\"p90_ns\":%" PRId64 ",\"p99_ns\":%" PRId64 ",\"max_ns\":%" PRId64 "}",
            cs_lazyhist_count(h), cs_lazyhist_min(h), cs_lazyhist_quantile(h, 0.5),
            cs_lazyhist_quantile(h, 0.9), cs_lazyhist_quantile(h, 0.99), cs_lazyhist_max(h));
}

/* Latency per session (client -> server) and pair of the measurements
 * matching the filters, slowest first, a page of them and how many. */
static int reply_sessions(FILE *f, const char *dir, const cs__query *q)
{
    cs_msgreader *r = NULL;
    cs_latfilter lf;
    cs_latstats *st = NULL;
    size_t n = 0, i;
    int rc;

    if ((rc = cs_msgreader_open(dir, &r)) < 0)
        return rc;
    query_latfilter(q, &lf);
    rc = cs_msgreader_lat_stats(r, &lf, CS_LATBY_SESSION, &st, &n);
    cs_msgreader_close(r);
    if (rc < 0)
        return rc;
    if (n > 1)
        cs_qsort(st, n, sizeof(*st), cmp_session_slowest);
    fputs("{\"sessions\":[", f);
    for (i = q->offset; i < n && i - q->offset < q->limit; i++) {
        if (i > q->offset)
            fputc(',', f);
        session_json(f, &st[i]);
    }
    fprintf(
        f, "],\"offset\":%" PRIu64 ",\"limit\":%" PRIu64 ",\"count\":%zu,\"more\":%s,\"total\":%zu",
        q->offset, q->limit, i > q->offset ? i - q->offset : 0, i < n ? "true" : "false", n);
    cs_latstats_free(st, n);
    return 0;
}

static int reply_messages(FILE *f, const char *dir, const cs__query *q)
{
    page_ctx c = {f, 0, 0, q->offset, q->limit, 0, 0};
    cs_msgreader *r = NULL;
    cs_msgfilter mf;
    int rc;

    if ((rc = cs_msgreader_open(dir, &r)) < 0)
        return rc;
    cs_msgfilter_init(&mf);
    mf.proto = q->proto;
    mf.type = q->type;
    mf.key = q->key;
    mf.after = q->after;
    mf.before = q->before;
    mf.limit = q->offset + q->limit + 1;
    fputs("{\"messages\":[", f);
    rc = cs_msgreader_messages(r, &mf, page_message, &c);
    page_end(f, &c);
    cs_msgreader_close(r);
    return rc;
}

static int page_gap(void *ud, const cs_gap *g)
{
    page_ctx *c = ud;
    int rc = page_take(c);

    if (rc >= 0)
        return rc;
    cs_gap_json(c->f, g);
    return 0;
}

static int reply_gaps(FILE *f, const char *dir, const cs__query *q)
{
    page_ctx c = {f, 0, 0, q->offset, q->limit, 0, 0};
    cs_msgreader *r = NULL;
    int rc;

    if ((rc = cs_msgreader_open(dir, &r)) < 0)
        return rc;
    fputs("{\"gaps\":[", f);
    rc = cs_msgreader_gaps(r, q->after, q->before, q->offset + q->limit + 1, page_gap, &c);
    page_end(f, &c);
    cs_msgreader_close(r);
    return rc;
}

static int reply_feeds(FILE *f, const char *dir, cs_feeds_cache *cache, const cs__query *q)
{
    cs_msgreader *r = NULL;
    cs_feeds *fs = NULL;
    int rc;

    if ((rc = cs_msgreader_open(dir, &r)) < 0)
        return rc;
    rc = cache ? cs_feeds_cache_read(cache, r, q->after, q->before, &fs)
               : cs_feeds_read(r, q->after, q->before, &fs);
    if (rc == 0) {
        fputs("{\"feeds\":[", f);
        for (size_t i = 0; i < cs_feeds_count(fs); i++) {
            fputs(i ? "," : "", f);
            cs_feed_json(f, cs_feeds_get(fs, i));
        }
        fputs("]", f);
    }
    cs_feeds_free(fs);
    cs_msgreader_close(r);
    return rc;
}

/* One message with its packets (ref, ts, lengths, summary). */
typedef struct detail_ctx {
    FILE *f;
    cs_store *store;
    int found;
} detail_ctx;

static void packet_json(FILE *f, cs_store *s, cs_pktref ref, int first)
{
    cs_packet p;
    cs_layers l;
    char summary[512];
    int rc = s ? cs_store_read(s, ref, &p) : CS_ENOTFOUND;

    fprintf(f, "%s{\"ref\":\"%u:%u\"", first ? "" : ",", CS_PKTREF_SEG(ref), CS_PKTREF_OFF(ref));
    if (rc < 0) {
        fputs(rc == CS_ENOTFOUND ? ",\"expired\":true}" : ",\"error\":\"unreadable\"}", f);
        return;
    }
    cs_dissect(&p, &l);
    cs_dissect_summary(&p, &l, summary, sizeof(summary));
    fprintf(f,
            ",\"ts_ns\":%" PRId64 ",\"capture_ts_ns\":%" PRId64
            ",\"caplen\":%u,\"wirelen\":%u,\"summary\":",
            p.ts_ns, cs_packet_cap_ns(&p), (unsigned)p.caplen, (unsigned)p.wirelen);
    json_str(f, summary);
    fputs("}", f);
}

static int detail_message(void *ud, const cs_message *m)
{
    detail_ctx *c = ud;

    c->found = 1;
    fputs("{\"message\":", c->f);
    cs_message_json(c->f, m);
    fputs(",\"packets\":[", c->f);
    for (size_t i = 0; i < m->n_refs; i++)
        packet_json(c->f, c->store, m->refs[i], i == 0);
    fputs("]}", c->f);
    return 1;
}

typedef struct ms_keep {
    FILE *f;
    cs_msgid req, resp;
    int found;
} ms_keep;

static int keep_measurement(void *ud, const cs_measurement *ms)
{
    ms_keep *k = ud;

    k->found = 1;
    k->req = ms->req_id;
    k->resp = ms->resp_id;
    cs_measurement_json(k->f, ms);
    return 1;
}

static int linked_message(detail_ctx *c, cs_msgreader *r, const char *what, cs_msgid id)
{
    int rc;

    fprintf(c->f, ",\"%s\":", what);
    c->found = 0;
    rc = cs_msgreader_find_message(r, id, detail_message, c);
    if (rc == CS_ENOTFOUND && !c->found) {
        fputs("null", c->f);
        rc = 0;
    }
    return rc;
}

static int reply_one(FILE *f, const char *dir, const cs__route *rt, const char *pair, cs__err *e)
{
    cs_store_opts so = {0};
    detail_ctx c = {f, NULL, 0};
    cs_msgreader *r = NULL;
    ms_keep k = {f, 0, 0, 0};
    char id[40];
    int rc;

    if ((rc = cs_msgreader_open(dir, &r)) < 0)
        return rc;
    if (cs_store_open(dir, &so, &c.store) < 0)
        c.store = NULL; /* packets then read as expired */
    if (rt->ep == CS__EP_MESSAGE) {
        rc = cs_msgreader_find_message(r, rt->id, detail_message, &c);
        k.found = c.found;
    } else {
        fputs("{\"measurement\":", f);
        rc = cs_msgreader_find_measurement(r, rt->id, pair, keep_measurement, &k);
        if (rc == 0 && (rc = linked_message(&c, r, "request", k.req)) == 0 &&
            (rc = linked_message(&c, r, "response", k.resp)) == 0)
            fputs("}", f);
    }
    if (rc == CS_ENOTFOUND && !k.found)
        rc = cs__api_fail(e, 404, "id", "%s not in the store",
                          cs_id_format(rt->ep == CS__EP_MESSAGE ? 'm' : 'l', rt->id, id));
    if (c.store)
        cs_store_close(c.store);
    cs_msgreader_close(r);
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
        rc = reply_measurements(f, dir, q);
        break;
    case CS__EP_MESSAGES:
        rc = reply_messages(f, dir, q);
        break;
    case CS__EP_GAPS:
        rc = reply_gaps(f, dir, q);
        break;
    case CS__EP_FEEDS:
        rc = reply_feeds(f, dir, feeds, q);
        break;
    case CS__EP_SESSIONS:
        rc = reply_sessions(f, dir, q);
        break;
    case CS__EP_MEASUREMENT:
    case CS__EP_MESSAGE:
        return reply_one(f, dir, r, q->pair, e);
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

/*
 * api_params.c - the HTTP API's routes and parameters (api_int.h).
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
 * Parsing allocates nothing: the query's strings point into the
 * request's parameters and are valid while the request is.
 */
#include "server/api_int.h"

#include "core/error.h"
#include "core/timefmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

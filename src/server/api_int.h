/*
 * api_int.h - the HTTP API's routing, parameter parsing and JSON bodies,
 * shared by server/ only (server.c glues them to libmicrohttpd; the fuzz
 * harness calls them directly).
 *
 * Paths are only ever compared with fixed strings: nothing a client sends
 * becomes a file path. Ids are parsed strictly (cs_id_parse). Every
 * parameter has one parser; an unknown, repeated, empty or malformed one is
 * a 400 naming it.
 */
#ifndef CS_SERVER_API_INT_H
#define CS_SERVER_API_INT_H

#include "analytics/metrics.h"
#include "record/message.h"
#include "server/live.h"
#include "store/feeds_cache.h"
#include "store/msgstore.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum {
    CS__EP_STATUS = 1,
    CS__EP_METRICS,
    CS__EP_SERIES,
    CS__EP_MEASUREMENTS,
    CS__EP_MEASUREMENT,
    CS__EP_MEASUREMENT_PCAP,
    CS__EP_MESSAGES,
    CS__EP_MESSAGE,
    CS__EP_MESSAGE_PCAP,
    CS__EP_PACKETS,
    CS__EP_ALERTS,
    CS__EP_STREAM,
    CS__EP_PROMETHEUS,
    CS__EP_GAPS,
    CS__EP_FEEDS,
    CS__EP_SESSIONS,
};

#define CS__API_LIMIT_DEFAULT 100
#define CS__API_LIMIT_MAX 1000
#define CS__API_OFFSET_MAX 1000000
#define CS__API_FILTER_MAX 1024
#define CS__API_VALUE_MAX 256 /* any other parameter value */
#define CS__API_PARAMS_MAX 16
#define CS__API_POINTS_MAX 10000 /* metrics points per reply (step widened to fit) */

/* Live stream event kinds (the stream's "events" parameter). */
#define CS__EV_METRICS 1u
#define CS__EV_MEASUREMENT 2u
#define CS__EV_ALERT 4u
#define CS__EV_ALL (CS__EV_METRICS | CS__EV_MEASUREMENT | CS__EV_ALERT)

typedef struct cs__route {
    int ep;      /* CS__EP_* */
    cs_msgid id; /* measurement / message endpoints */
} cs__route;

/* An error reply: HTTP status, message, and the parameter it is about. */
typedef struct cs__err {
    int status;
    char msg[256];
    char param[64];
} cs__err;

/* Sets "*e" and returns CS_EINVAL (or CS_ENOTFOUND for 404). */
int cs__api_fail(cs__err *e, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Routes "path" (already percent-decoded, without the query string) of a
 * GET request. 0 with "*r" set; otherwise "*e" is the 404 for an unknown
 * path or the 400 for a bad id ("param" "id").
 */
int cs__api_route(const char *path, cs__route *r, cs__err *e);

typedef struct cs__param {
    const char *key, *val; /* borrowed */
} cs__param;

typedef struct cs__params {
    cs__param kv[CS__API_PARAMS_MAX];
    size_t n;
    const char *overflow; /* first key that did not fit */
} cs__params;

/* Adds one key/value (NULL value = present without '='). */
void cs__params_add(cs__params *p, const char *key, const char *val);

/* A request's parsed parameters (strings borrowed from the cs__params). */
typedef struct cs__query {
    int64_t after, before; /* INT64_MIN / INT64_MAX for none */
    int64_t step_ns;       /* metrics, default 1 s */
    int64_t min_ns;        /* measurements "min", stream "min_latency"; INT64_MIN none */
    int64_t max_ns;        /* measurements, sessions "max"; INT64_MAX none */
    cs_series_id series;   /* metrics */
    const char *pair, *proto, *type, *key, *filter;
    const char *session; /* measurements: "SRC>DST" */
    int sort;            /* CS_LATSORT_* */
    uint64_t limit, offset;
    unsigned events; /* stream: CS__EV_* wanted, default CS__EV_ALL */
    int heatmap;     /* metrics: 1 adds the heat counts */
    int hist;        /* metrics: 1 adds each point's histogram */
    int total;       /* measurements: 1 adds the matching count */
    int brief;       /* measurements: 1 writes each one's id, pair, key, times only */
    int pcap_time;   /* packets: CS_PCAP_TIME_* (store/store.h) */
} cs__query;

/* Parses the parameters of endpoint "ep" into "*q" ("now_ns" anchors
 * relative times). 0, or CS_EINVAL with "*e" the 400 naming the parameter. */
int cs__api_parse(int ep, const cs__params *p, int64_t now_ns, cs__query *q, cs__err *e);

/* A finished body. */
typedef struct cs__reply {
    int status;
    const char *ctype;
    char *body; /* cs_malloc'ed (or from open_memstream: free()) */
    size_t len;
} cs__reply;

/* The {"error": msg, "param": name} body of "*e" into "*out". */
int cs__api_error_reply(const cs__err *e, cs__reply *out);

/* Runs a JSON endpoint (every one but packets, the two pcap ones, stream and
 * prometheus) against the store at "store_dir" and "live" (may be NULL),
 * /feeds through the feeds cache "feeds" of that store (NULL: read whole).
 * 0 with "*out" (200, or the 404 of an id not in the store); negative on
 * an internal error (CS_ENOMEM, store errors: 500). */
int cs__api_json(const char *store_dir, cs_live *live, cs_feeds_cache *feeds, const cs__route *r,
                 const cs__query *q, int64_t now_ns, cs__reply *out);

/* Releases "out->body". */
void cs__reply_free(cs__reply *out);

/* The latency_ns field of a measurement JSON object, or INT64_MIN. */
int64_t cs__api_json_latency(const char *json);

/* The CS__EV_* bit of a live event type ("metrics", "measurement",
 * "alert"), 0 for any other. */
unsigned cs__api_event_bit(const char *type);

/* ---- shared by the API's files ------------------------------------------ */

/* "s" as a JSON string ("" for NULL). */
static inline void cs__json_str(FILE *f, const char *s)
{
    cs_msgstore_json_string(f, s ? s : "", s ? strlen(s) : 0);
}

/* The bodies of the record lists (api_records.c): each writes its object
 * without the closing brace; 0 or a store error. */
int cs__api_reply_measurements(FILE *f, const char *dir, const cs__query *q);
int cs__api_reply_sessions(FILE *f, const char *dir, const cs__query *q);
int cs__api_reply_messages(FILE *f, const char *dir, const cs__query *q);
int cs__api_reply_gaps(FILE *f, const char *dir, const cs__query *q);
int cs__api_reply_feeds(FILE *f, const char *dir, cs_feeds_cache *cache, const cs__query *q);
/* One measurement or message with its packets; a 404 in "*e" if none. */
int cs__api_reply_one(FILE *f, const char *dir, const cs__route *rt, const char *pair, cs__err *e);

#endif

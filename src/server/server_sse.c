/*
 * server_sse.c - GET /api/v1/stream: the live daemon's events as
 * Server-Sent Events (server_int.h).
 *
 * The body callback waits on cs_live_next() at most SSE_WAIT_MS at a time
 * and formats the events asked for ("events"; measurements of at least
 * "min_latency"); a comment line every SSE_KEEPALIVE_NS keeps proxies and
 * the connection's timeout from closing a quiet stream. When the server
 * stops ("stopping"), every stream ends within SSE_WAIT_MS.
 */
#include "server/server_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timefmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SSE_WAIT_MS 250
#define SSE_KEEPALIVE_NS (15 * CS_NS_PER_SEC)

/* ---- Server-Sent Events ------------------------------------------------ */

typedef struct sse_ctx {
    cs_server *srv;
    uint64_t cursor;
    int64_t min_ns;
    unsigned events; /* CS__EV_* the client asked for */
    char *buf;       /* pending bytes, cs_malloc'ed */
    size_t len, pos;
    int64_t last_write;
} sse_ctx;

/* Formats one event ("data" on one line: JSON newlines become spaces). */
static int sse_format(sse_ctx *x, const cs_live_event *ev)
{
    size_t cap = ev->len + CS_LIVE_TYPE_MAX + 64;
    int n;

    if ((x->buf = cs_malloc(cap)) == NULL)
        return CS_ENOMEM;
    n = snprintf(x->buf, cap, "event: %s\nid: %" PRIu64 "\ndata: ", ev->type, ev->seq);
    for (size_t i = 0; i < ev->len; i++)
        x->buf[n++] = ev->json[i] == '\n' || ev->json[i] == '\r' ? ' ' : ev->json[i];
    memcpy(x->buf + n, "\n\n", 2);
    x->len = (size_t)n + 2;
    x->pos = 0;
    return 0;
}

/* Is "ev" of a kind the client asked for ("events": only the kinds
 * listed; all without the parameter), and if a measurement, at least
 * "min_latency" slow? */
static int sse_wanted(const sse_ctx *x, const cs_live_event *ev)
{
    unsigned bit = cs__api_event_bit(ev->type);

    if (x->events != CS__EV_ALL && !(x->events & bit))
        return 0;
    if (bit != CS__EV_MEASUREMENT || x->min_ns == INT64_MIN)
        return 1;
    return cs__api_json_latency(ev->json) >= x->min_ns;
}

/* Waits for the next event or keep-alive into x->buf; 1 when there is one,
 * 0 when the server stops, negative on error. */
static int sse_fill(sse_ctx *x)
{
    cs_live_event ev;
    int rc;

    cs_free(x->buf);
    x->buf = NULL;
    while (!atomic_load(&x->srv->stopping)) {
        rc = cs_live_next(x->srv->live, &x->cursor, SSE_WAIT_MS, &ev, NULL);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            rc = sse_wanted(x, &ev) ? sse_format(x, &ev) : 1;
            cs_free(ev.json);
            if (rc <= 0)
                return rc < 0 ? rc : 1;
            continue;
        }
        if (cs_mono_ns() - x->last_write >= SSE_KEEPALIVE_NS) {
            if ((x->buf = cs_strdup(": keep-alive\n\n")) == NULL)
                return CS_ENOMEM;
            x->len = strlen(x->buf);
            x->pos = 0;
            return 1;
        }
    }
    return 0;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    sse_ctx *x = cls;
    size_t n;
    int rc;

    if (x->buf == NULL || x->pos == x->len) {
        if ((rc = sse_fill(x)) <= 0)
            return rc == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
    }
    n = x->len - x->pos < max ? x->len - x->pos : max;
    memcpy(out, x->buf + x->pos, n);
    x->pos += n;
    x->last_write = cs_mono_ns();
    return (ssize_t)n;
}

static void sse_done(void *cls)
{
    sse_ctx *x = cls;

    cs_live_reader_end(x->srv->live);
    cs_free(x->buf);
    cs_free(x);
}

enum MHD_Result cs__srv_serve_stream(cs_server *s, struct MHD_Connection *c, const cs__query *q)
{
    static const char hello[] = ": capstream live stream\nretry: 2000\n\n";
    struct MHD_Response *r;
    sse_ctx *x;

    if (s->live == NULL)
        return cs__srv_queue_error(c, 404, NULL, "no live stream: not a running daemon");
    if ((x = cs_calloc(1, sizeof(*x))) == NULL || (x->buf = cs_strdup(hello)) == NULL) {
        cs_free(x);
        return cs__srv_queue_internal(c, CS_ENOMEM);
    }
    x->srv = s;
    x->cursor = cs_live_reader_begin(s->live);
    x->min_ns = q->min_ns;
    x->events = q->events;
    x->len = sizeof(hello) - 1;
    x->last_write = cs_mono_ns();
    if ((r = cs__mhd.create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, x,
                                                   sse_done)) == NULL) {
        sse_done(x);
        return MHD_NO;
    }
    return cs__srv_queue(c, 200, r, "text/event-stream");
}

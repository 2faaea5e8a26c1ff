/*
 * anlog.c - the events of one flow analyzer in one batch (anlog.h).
 *
 * Events are a growing vector of fixed structs; what they point to
 * (strings, fields, refs) is copied into an arena of chunks that never
 * move, so a pointer into it stays valid while the vector grows. The
 * arena hands out 8-byte aligned pieces from its current chunk and opens
 * the next (CHUNK bytes, or the piece's size when larger) when it is
 * full; a reset keeps the standard chunks for reuse and frees the larger
 * ones. Pointers to static strings (a decoder's protocol name) are kept
 * as they are: they outlive any log.
 */
#include "analytics/anlog.h"

#include "core/alloc.h"
#include "core/error.h"

#include <string.h>

#define CHUNK (1u << 20)

typedef struct chunk {
    uint8_t *p;
    size_t size;
} chunk;

struct cs_an_log {
    cs_an_event *ev;
    size_t n, cap;
    chunk *chunks;
    size_t n_chunks, chunks_cap;
    size_t cur;  /* the chunk being filled */
    size_t used; /* bytes of it given out */
};

int cs_an_log_new(cs_an_log **out)
{
    *out = cs_calloc(1, sizeof(**out));
    return *out == NULL ? CS_ENOMEM : 0;
}

void cs_an_log_free(cs_an_log *log)
{
    if (log == NULL)
        return;
    for (size_t i = 0; i < log->n_chunks; i++)
        cs_free(log->chunks[i].p);
    cs_free(log->chunks);
    cs_free(log->ev);
    cs_free(log);
}

void cs_an_log_reset(cs_an_log *log)
{
    size_t kept = 0;

    for (size_t i = 0; i < log->n_chunks; i++) {
        if (log->chunks[i].size == CHUNK)
            log->chunks[kept++] = log->chunks[i];
        else
            cs_free(log->chunks[i].p);
    }
    log->n_chunks = kept;
    log->n = 0;
    log->cur = 0;
    log->used = 0;
}

size_t cs_an_log_count(const cs_an_log *log)
{
    return log->n;
}

const cs_an_event *cs_an_log_get(const cs_an_log *log, size_t i)
{
    return &log->ev[i];
}

/* Opens a chunk of at least "n" bytes after the current one. */
static int chunk_next(cs_an_log *log, size_t n)
{
    size_t next = log->n_chunks == 0 ? 0 : log->cur + 1;
    chunk c = {NULL, n > CHUNK ? n : CHUNK};

    if (next < log->n_chunks && log->chunks[next].size >= n) {
        log->cur = next;
        log->used = 0;
        return 0;
    }
    if (cs_grow((void **)&log->chunks, &log->chunks_cap, log->n_chunks + 1, sizeof(chunk)) < 0 ||
        (c.p = cs_malloc(c.size)) == NULL)
        return CS_ENOMEM;
    memmove(&log->chunks[next + 1], &log->chunks[next], (log->n_chunks - next) * sizeof(chunk));
    log->chunks[next] = c;
    log->n_chunks++;
    log->cur = next;
    log->used = 0;
    return 0;
}

static void *arena_alloc(cs_an_log *log, size_t n)
{
    void *p;

    n = (n + 7) & ~(size_t)7;
    if ((log->n_chunks == 0 || log->used + n > log->chunks[log->cur].size) &&
        chunk_next(log, n) < 0)
        return NULL;
    p = log->chunks[log->cur].p + log->used;
    log->used += n;
    return p;
}

/* A copy of "s" in the arena ("*ok" cleared when there is no memory). */
static cs_str str_copy(cs_an_log *log, cs_str s, int *ok)
{
    char *p;

    if (s.len == 0)
        return (cs_str){"", 0};
    if ((p = arena_alloc(log, s.len)) == NULL) {
        *ok = 0;
        return (cs_str){"", 0};
    }
    memcpy(p, s.p, s.len);
    return (cs_str){p, s.len};
}

static const char *cstr_copy(cs_an_log *log, const char *s, int *ok)
{
    size_t n = strlen(s) + 1;
    char *p = arena_alloc(log, n);

    if (p == NULL) {
        *ok = 0;
        return "";
    }
    return memcpy(p, s, n);
}

static void fields_copy(cs_an_log *log, cs_message *m, int *ok)
{
    cs_kv *f;

    if (m->n_fields == 0)
        return;
    if ((f = arena_alloc(log, m->n_fields * sizeof(*f))) == NULL) {
        *ok = 0;
        return;
    }
    for (size_t i = 0; i < m->n_fields; i++) {
        f[i].name = str_copy(log, m->fields[i].name, ok);
        f[i].val = str_copy(log, m->fields[i].val, ok);
    }
    m->fields = f;
}

static void refs_copy(cs_an_log *log, cs_message *m, int *ok)
{
    cs_pktref *r;

    if (m->n_refs == 0)
        return;
    if ((r = arena_alloc(log, m->n_refs * sizeof(*r))) == NULL) {
        *ok = 0;
        return;
    }
    memcpy(r, m->refs, m->n_refs * sizeof(*r));
    m->refs = r;
}

static cs_an_event *event_add(cs_an_log *log, uint64_t seq, uint64_t order, int kind)
{
    cs_an_event *e;

    if (cs_grow((void **)&log->ev, &log->cap, log->n + 1, sizeof(*log->ev)) < 0)
        return NULL;
    e = &log->ev[log->n];
    memset(e, 0, sizeof(*e));
    e->seq = seq;
    e->order = order;
    e->kind = (uint8_t)kind;
    return e;
}

int cs_an_log_deliver(cs_an_log *log, uint64_t seq, uint64_t order, const cs_message *m,
                      const cs_an_corr *c, int t2t, cs_str instrument)
{
    cs_an_event *e = event_add(log, seq, order, CS_AN_DELIVER);
    int ok = 1;

    if (e == NULL)
        return CS_ENOMEM;
    e->t2t = (uint8_t)t2t;
    e->u.d.m = *m;
    e->u.d.m.type = str_copy(log, m->type, &ok);
    e->u.d.m.key = str_copy(log, m->key, &ok);
    e->u.d.m.error = str_copy(log, m->error, &ok);
    fields_copy(log, &e->u.d.m, &ok);
    refs_copy(log, &e->u.d.m, &ok);
    e->u.d.c = *c;
    e->u.d.c.pair = cstr_copy(log, c->pair, &ok);
    e->u.d.c.match = str_copy(log, c->match, &ok);
    e->u.d.c.closes = str_copy(log, c->closes, &ok);
    e->u.d.instrument = str_copy(log, instrument, &ok);
    if (!ok)
        return CS_ENOMEM;
    log->n++;
    return 0;
}

int cs_an_log_seq_gap(cs_an_log *log, uint64_t seq, uint64_t order, const cs_seq_gap_event *g)
{
    cs_an_event *e = event_add(log, seq, order, CS_AN_SEQ_GAP);
    int ok = 1;

    if (e == NULL)
        return CS_ENOMEM;
    e->u.gap = *g;
    e->u.gap.gap.stream = str_copy(log, g->gap.stream, &ok);
    if (!ok)
        return CS_ENOMEM;
    log->n++;
    return 0;
}

int cs_an_log_seq_seen(cs_an_log *log, uint64_t seq, uint64_t order, const cs_seq_span_event *s)
{
    cs_an_event *e = event_add(log, seq, order, CS_AN_SEQ_SEEN);
    int ok = 1;

    if (e == NULL)
        return CS_ENOMEM;
    e->u.span = *s;
    e->u.span.span.stream = str_copy(log, s->span.stream, &ok);
    if (!ok)
        return CS_ENOMEM;
    log->n++;
    return 0;
}

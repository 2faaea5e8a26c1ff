/*
 * anlog.c - the events of one flow analyzer in one batch (anlog.h).
 *
 * Events are a growing vector of fixed structs; what they point to
 * (strings, fields, refs) is copied into an arena of chunks that never
 * move, so a pointer into it stays valid while the vector grows. The
 * arena hands out 8-byte aligned pieces from its current chunk and opens
 * the next (CHUNK bytes, or the piece's size when larger) when it is
 * full; a reset keeps the standard chunks for reuse and frees the larger
 * ones. An event takes one piece: its fields and refs arrays, then its
 * strings. Strings inside the borrowed bytes (the batch's packets, which
 * outlive the log's events) and strings in the program's read-only
 * segments (a decoder's field names and protocol name: string literals,
 * immutable for the life of the process; found once with
 * dl_iterate_phdr) are kept as they are, not copied.
 */
#include "analytics/anlog.h"

#include "core/alloc.h"
#include "core/error.h"

#include <link.h>
#include <pthread.h>
#include <string.h>

#define CHUNK (1u << 20)
#define RO_SPANS 8 /* read-only segments of the program remembered */

typedef struct chunk {
    uint8_t *p;
    size_t size;
} chunk;

struct cs_an_log {
    cs_an_event *ev;
    size_t n, cap;
    chunk *chunks;
    size_t n_chunks, chunks_cap;
    size_t cur;          /* the chunk being filled */
    size_t used;         /* bytes of it given out */
    const char *lo, *hi; /* the borrowed bytes */
};

/* Runs of the program's loaded segments that are never written (headers,
 * code, constants: adjacent in the image, so usually one run). */
static struct {
    uintptr_t lo, hi;
} ro_span[RO_SPANS];
static size_t n_ro_spans;
static pthread_once_t ro_once = PTHREAD_ONCE_INIT;

/* PT_LOAD segments come in address order: a writable one ends a run. */
static int ro_segment(struct dl_phdr_info *info, size_t size, void *ud)
{
    int open = 0;

    (void)size;
    (void)ud;
    for (size_t i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (ph->p_type != PT_LOAD)
            continue;
        if (ph->p_flags & PF_W)
            open = 0;
        else if (open)
            ro_span[n_ro_spans - 1].hi = hi;
        else if (n_ro_spans < RO_SPANS) {
            ro_span[n_ro_spans].lo = lo;
            ro_span[n_ro_spans].hi = hi;
            n_ro_spans++;
            open = 1;
        }
    }
    return 1; /* the program itself only: the first object listed */
}

static void ro_find(void)
{
    dl_iterate_phdr(ro_segment, NULL);
}

static int read_only(cs_str s)
{
    uintptr_t p = (uintptr_t)s.p;

    for (size_t i = 0; i < n_ro_spans; i++)
        if (p >= ro_span[i].lo && p + s.len <= ro_span[i].hi)
            return 1;
    return 0;
}

int cs_an_log_new(cs_an_log **out)
{
    pthread_once(&ro_once, ro_find);
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

void cs_an_log_borrow(cs_an_log *log, const void *bytes, size_t n)
{
    log->lo = bytes;
    log->hi = log->lo + n;
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

/* Whether "s" lies in the borrowed bytes (kept, not copied). */
static int borrowed(const cs_an_log *log, cs_str s)
{
    return s.len == 0 || (s.p >= log->lo && s.p + s.len <= log->hi) || read_only(s);
}

static size_t copy_size(const cs_an_log *log, cs_str s)
{
    return borrowed(log, s) ? 0 : s.len;
}

/* "s", or its copy at "*at" (advanced past it) when not borrowed. */
static cs_str str_put(const cs_an_log *log, char **at, cs_str s)
{
    cs_str r = {*at, s.len};

    if (s.len == 0)
        return (cs_str){"", 0};
    if (borrowed(log, s))
        return s;
    memcpy(*at, s.p, s.len);
    *at += s.len;
    return r;
}

/* The most a delivery needs in the arena: its fields and refs arrays,
 * then its strings and its pair's name, were none borrowed (the piece is
 * trimmed to what the copies took, arena_trim). */
static size_t deliver_bound(const cs_message *m, const cs_an_corr *c, cs_str instrument,
                            size_t pair_len)
{
    size_t n = m->n_fields * sizeof(cs_kv) + m->n_refs * sizeof(cs_pktref) + pair_len;

    n += m->type.len + m->key.len + m->error.len + c->match.len + c->closes.len + instrument.len;
    for (size_t i = 0; i < m->n_fields; i++)
        n += m->fields[i].name.len + m->fields[i].val.len;
    return n;
}

/* The last piece handed out ("piece") keeps only its first "n" bytes. */
static void arena_trim(cs_an_log *log, const void *piece, size_t n)
{
    log->used = (size_t)((const uint8_t *)piece - log->chunks[log->cur].p) + ((n + 7) & ~(size_t)7);
}

static cs_an_event *event_add(cs_an_log *log, uint64_t seq, uint64_t order, int kind)
{
    cs_an_event *e;

    if (cs_grow((void **)&log->ev, &log->cap, log->n + 1, sizeof(*log->ev)) < 0)
        return NULL;
    e = &log->ev[log->n]; /* the kind's part of the union is the caller's */
    e->seq = seq;
    e->order = order;
    e->kind = (uint8_t)kind;
    e->t2t = 0;
    return e;
}

int cs_an_log_deliver(cs_an_log *log, uint64_t seq, uint64_t order, const cs_message *m,
                      const cs_an_corr *c, int t2t, cs_str instrument)
{
    cs_an_event *e = event_add(log, seq, order, CS_AN_DELIVER);
    size_t pair_len = strlen(c->pair) + 1;
    cs_kv *fields;
    cs_pktref *refs;
    char *at;

    if (e == NULL || (fields = arena_alloc(log, deliver_bound(m, c, instrument, pair_len))) == NULL)
        return CS_ENOMEM;
    refs = (cs_pktref *)(void *)(fields + m->n_fields);
    at = (char *)(refs + m->n_refs);
    e->t2t = (uint8_t)t2t;
    e->u.d.m = *m;
    e->u.d.m.type = str_put(log, &at, m->type);
    e->u.d.m.key = str_put(log, &at, m->key);
    e->u.d.m.error = str_put(log, &at, m->error);
    for (size_t i = 0; i < m->n_fields; i++) {
        fields[i].name = str_put(log, &at, m->fields[i].name);
        fields[i].val = str_put(log, &at, m->fields[i].val);
    }
    e->u.d.m.fields = fields;
    if (m->n_refs)
        memcpy(refs, m->refs, m->n_refs * sizeof(*refs));
    e->u.d.m.refs = refs;
    e->u.d.c = *c;
    e->u.d.c.match = str_put(log, &at, c->match);
    e->u.d.c.closes = str_put(log, &at, c->closes);
    e->u.d.instrument = str_put(log, &at, instrument);
    if (read_only((cs_str){c->pair, pair_len})) {
        e->u.d.c.pair = c->pair;
    } else {
        e->u.d.c.pair = memcpy(at, c->pair, pair_len);
        at += pair_len;
    }
    arena_trim(log, fields, (size_t)(at - (char *)fields));
    log->n++;
    return 0;
}

/* An event of "kind" with room for a copy of "stream" at "*at". */
static cs_an_event *event_with_stream(cs_an_log *log, uint64_t seq, uint64_t order, int kind,
                                      cs_str stream, char **at)
{
    cs_an_event *e = event_add(log, seq, order, kind);

    if (e == NULL || (*at = arena_alloc(log, copy_size(log, stream))) == NULL)
        return NULL;
    return e;
}

int cs_an_log_seq_gap(cs_an_log *log, uint64_t seq, uint64_t order, const cs_seq_gap_event *g)
{
    char *at;
    cs_an_event *e = event_with_stream(log, seq, order, CS_AN_SEQ_GAP, g->gap.stream, &at);

    if (e == NULL)
        return CS_ENOMEM;
    e->u.gap = *g;
    e->u.gap.gap.stream = str_put(log, &at, g->gap.stream);
    log->n++;
    return 0;
}

int cs_an_log_seq_seen(cs_an_log *log, uint64_t seq, uint64_t order, const cs_seq_span_event *s)
{
    char *at;
    cs_an_event *e = event_with_stream(log, seq, order, CS_AN_SEQ_SEEN, s->span.stream, &at);

    if (e == NULL)
        return CS_ENOMEM;
    e->u.span = *s;
    e->u.span.span.stream = str_put(log, &at, s->span.stream);
    log->n++;
    return 0;
}

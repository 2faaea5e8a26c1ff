/*
 * recovery.c - gap recovery and arbitrated gaps (see recovery.h).
 *
 * State per stream (tap, decoder, name), found by hash:
 *
 *   stream ─┬─ feeds[]:  flow, dir, "seen" spans, the latest gaps (ring)
 *           ├─ retrans:  spans seen in retransmissions, any flow
 *           └─ held[]:   gaps waiting to be recovered, in arrival order
 *
 * A span set is a sorted array of disjoint, non-touching half-open ranges
 * [lo, hi). Numbers of a feed arrive mostly in order, so adding extends
 * the last span in O(1); anything else is a binary search and a merge.
 *
 * Coverage ("are [lo, hi) all seen elsewhere?"): walk x from lo; at each
 * step take, over the sets that count (retransmissions, and for a feed's
 * own gap the other feeds' "seen"), the span containing x that reaches
 * furthest, and jump to its end; a step that finds none means a number
 * nobody else carried. Held gaps are checked when they arrive and again
 * after each span added to their stream that meets them, which costs
 * nothing while no gap is held (the usual case).
 *
 * Hold: a gap not recovered leaves at its deadline (its time + hold);
 * cs_recovery_expire is cheap until the earliest deadline passes.
 */
#include "analytics/recovery.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/hash.h"

#include <string.h>

#define SPANS_MAX 4096u
#define HISTORY 64u
#define HELD_MAX 1024u
#define NAME_MAX_LEN 64u /* longer stream names are compared on their start */

typedef struct span {
    uint64_t lo, hi;
} span;

typedef struct spanset {
    span *v;
    uint32_t n, cap;
} spanset;

typedef struct feed {
    uint64_t flow_id;
    uint8_t dir;
    spanset seen;
    span hist[HISTORY]; /* its latest gaps, a ring */
    uint32_t hist_n, hist_next;
} feed;

typedef struct held {
    cs_recovered_gap g;
    int64_t deadline;
    uint64_t order; /* arrival rank over all streams: gaps leave in it */
    uint32_t feed;  /* its feed (a gap), unused for an arbitrated one */
} held;

typedef struct stream {
    struct stream *next; /* hash chain */
    uint64_t h;
    uint16_t tap;
    const char *proto; /* the decoder's name (static) */
    char name[NAME_MAX_LEN];
    size_t name_len;
    feed *feeds;
    uint32_t n_feeds;
    spanset retrans;
    held *held;
    uint32_t n_held, cap_held;
} stream;

struct cs_recovery {
    int64_t hold_ns;
    cs_recovery_emit_fn emit;
    void *ud;
    stream **tab; /* CS_RECOVERY_STREAMS hash buckets */
    uint32_t n_streams;
    int64_t next_deadline; /* earliest deadline held, INT64_MAX if none */
    uint64_t order;        /* arrivals so far */
    cs_recovery_stats st;
};

/* ---- span sets ------------------------------------------------------------ */

/* Index of the first span whose hi >= "lo" (n if none). */
static uint32_t spans_from(const spanset *s, uint64_t lo)
{
    uint32_t a = 0, b = s->n;

    while (a < b) {
        uint32_t m = a + (b - a) / 2;

        if (s->v[m].hi < lo)
            a = m + 1;
        else
            b = m;
    }
    return a;
}

static int spans_reserve(spanset *s)
{
    span *v;
    uint32_t cap = s->cap ? s->cap * 2 : 8;

    if (s->n < s->cap)
        return 0;
    if ((v = cs_realloc(s->v, cap * sizeof(*v))) == NULL)
        return CS_ENOMEM;
    s->v = v;
    s->cap = cap;
    return 0;
}

/* Adds [lo, hi), merging what it overlaps or touches; past SPANS_MAX the
 * lowest span is forgotten. */
static void spans_add(spanset *s, uint64_t lo, uint64_t hi)
{
    uint32_t i, j;

    if (lo >= hi)
        return;
    if (s->n > 0 && lo >= s->v[s->n - 1].lo && lo <= s->v[s->n - 1].hi) {
        if (hi > s->v[s->n - 1].hi)
            s->v[s->n - 1].hi = hi; /* the usual case: the feed goes on */
        return;
    }
    i = spans_from(s, lo);
    for (j = i; j < s->n && s->v[j].lo <= hi; j++) {
        lo = s->v[j].lo < lo ? s->v[j].lo : lo;
        hi = s->v[j].hi > hi ? s->v[j].hi : hi;
    }
    if (j == i) { /* nothing to merge: insert at i */
        if (spans_reserve(s) < 0)
            return; /* out of memory: the numbers are not remembered */
        memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(span));
        s->n++;
    } else if (j > i + 1) {
        memmove(&s->v[i + 1], &s->v[j], (s->n - j) * sizeof(span));
        s->n -= j - i - 1;
    }
    s->v[i] = (span){lo, hi};
    if (s->n > SPANS_MAX) {
        memmove(&s->v[0], &s->v[1], (s->n - 1) * sizeof(span));
        s->n--;
    }
}

/* The end of the span containing "x", or "x" if none does. */
static uint64_t spans_reach(const spanset *s, uint64_t x)
{
    uint32_t i = spans_from(s, x + 1); /* first span with hi > x */

    return i < s->n && s->v[i].lo <= x ? s->v[i].hi : x;
}

/* ---- streams and feeds ------------------------------------------------------ */

static size_t name_len(cs_str name)
{
    return name.len < NAME_MAX_LEN ? name.len : NAME_MAX_LEN;
}

static uint64_t stream_hash(uint16_t tap, const char *proto, cs_str name)
{
    return cs_hash64(name.p, name_len(name), cs_mix64(tap) ^ cs_hash64(proto, strlen(proto), 0));
}

/* The stream of (tap, proto, name), made if new; NULL past the bound. */
static stream *stream_get(cs_recovery *r, uint16_t tap, const char *proto, cs_str name)
{
    uint64_t h = stream_hash(tap, proto, name);
    size_t n = name_len(name);
    stream **b = &r->tab[h & (CS_RECOVERY_STREAMS - 1)], *s;

    for (s = *b; s != NULL; s = s->next)
        if (s->h == h && s->tap == tap && s->name_len == n && strcmp(s->proto, proto) == 0 &&
            memcmp(s->name, name.p, n) == 0)
            return s;
    if (r->n_streams >= CS_RECOVERY_STREAMS || (s = cs_calloc(1, sizeof(*s))) == NULL)
        return NULL;
    s->h = h;
    s->tap = tap;
    s->proto = proto;
    memcpy(s->name, name.p, n);
    s->name_len = n;
    s->next = *b;
    *b = s;
    r->n_streams++;
    return s;
}

/* Index of the feed (flow, dir) of "s", made if new; -1 if out of memory. */
static int feed_get(stream *s, uint64_t flow_id, uint8_t dir)
{
    feed *v;

    for (uint32_t i = 0; i < s->n_feeds; i++)
        if (s->feeds[i].flow_id == flow_id && s->feeds[i].dir == dir)
            return (int)i;
    if ((v = cs_realloc(s->feeds, (s->n_feeds + 1) * sizeof(*v))) == NULL)
        return -1;
    s->feeds = v;
    memset(&v[s->n_feeds], 0, sizeof(*v));
    v[s->n_feeds].flow_id = flow_id;
    v[s->n_feeds].dir = dir;
    return (int)s->n_feeds++;
}

/* ---- coverage, holding and emitting ------------------------------------------ */

/* Whether every number of [lo, hi) was seen in a retransmission or, unless
 * "own" is -1 (an arbitrated gap), on a feed of "s" other than "own". */
static int covered(const stream *s, int own, uint64_t lo, uint64_t hi)
{
    uint64_t x = lo;

    while (x < hi) {
        uint64_t best = spans_reach(&s->retrans, x);

        for (uint32_t k = 0; own >= 0 && k < s->n_feeds; k++) {
            uint64_t reach = (int)k == own ? x : spans_reach(&s->feeds[k].seen, x);

            best = reach > best ? reach : best;
        }
        if (best <= x)
            return 0;
        x = best;
    }
    return 1;
}

static void emit(cs_recovery *r, const stream *s, cs_recovered_gap *g)
{
    g->ev.gap.stream = (cs_str){s->name, s->name_len};
    if (g->recovered)
        r->st.recovered++;
    r->emit(r->ud, g);
}

static void held_remove(stream *s, uint32_t i)
{
    memmove(&s->held[i], &s->held[i + 1], (s->n_held - i - 1) * sizeof(held));
    s->n_held--;
}

/* Emits "g" if its numbers are already filled, else holds it. */
static void hold(cs_recovery *r, stream *s, int own, cs_recovered_gap *g)
{
    held *v;

    if (covered(s, g->arbitrated ? -1 : own, g->ev.gap.first, g->ev.gap.first + g->ev.gap.count)) {
        g->recovered = 1;
        emit(r, s, g);
        return;
    }
    if (s->n_held == HELD_MAX) { /* the oldest leaves as it is */
        emit(r, s, &s->held[0].g);
        held_remove(s, 0);
        r->st.held--;
    }
    if (s->n_held == s->cap_held) {
        uint32_t cap = s->cap_held ? s->cap_held * 2 : 4;

        if ((v = cs_realloc(s->held, cap * sizeof(*v))) == NULL) {
            emit(r, s, g); /* cannot wait: leaves unrecovered */
            return;
        }
        s->held = v;
        s->cap_held = cap;
    }
    v = &s->held[s->n_held++];
    v->g = *g;
    v->deadline = g->ev.ts_ns + r->hold_ns;
    v->order = r->order++;
    v->feed = (uint32_t)own;
    r->st.held++;
    if (v->deadline < r->next_deadline)
        r->next_deadline = v->deadline;
}

/* Emits the held gaps of "s" that the numbers [seen_lo, seen_hi), seen
 * now, fill. A gap's coverage can only change where those numbers meet
 * it, so gaps they miss are passed over without a walk. */
static void recheck(cs_recovery *r, stream *s, uint64_t seen_lo, uint64_t seen_hi)
{
    for (uint32_t i = 0; i < s->n_held;) {
        held *h = &s->held[i];
        uint64_t lo = h->g.ev.gap.first, hi = lo + h->g.ev.gap.count;

        if (seen_hi <= lo || seen_lo >= hi ||
            !covered(s, h->g.arbitrated ? -1 : (int)h->feed, lo, hi)) {
            i++;
            continue;
        }
        h->g.recovered = 1;
        emit(r, s, &h->g);
        held_remove(s, i);
        r->st.held--;
    }
}

/* Arbitrated gaps: the numbers of [lo, hi) (a gap of feed "own") that a
 * recent gap of another feed of "s" also missed. */
static void arbitrate(cs_recovery *r, stream *s, int own, const cs_seq_gap_event *ev, uint64_t lo,
                      uint64_t hi)
{
    for (uint32_t k = 0; k < s->n_feeds; k++) {
        const feed *f = &s->feeds[k];

        for (uint32_t i = 0; (int)k != own && i < f->hist_n; i++) {
            uint64_t a = f->hist[i].lo > lo ? f->hist[i].lo : lo;
            uint64_t b = f->hist[i].hi < hi ? f->hist[i].hi : hi;
            cs_recovered_gap g = {*ev, 0, 1};

            if (a >= b)
                continue;
            g.ev.gap.first = a;
            g.ev.gap.count = b - a;
            r->st.arbitrated++;
            hold(r, s, own, &g);
        }
    }
}

/* ---- the interface ---------------------------------------------------------- */

int cs_recovery_new(int64_t hold_ns, cs_recovery_emit_fn emit_fn, void *ud, cs_recovery **out)
{
    cs_recovery *r = cs_calloc(1, sizeof(*r));

    if (r == NULL || (r->tab = cs_calloc(CS_RECOVERY_STREAMS, sizeof(*r->tab))) == NULL) {
        cs_free(r);
        return cs_error_set(CS_ENOMEM, "cannot allocate the gap recovery tracker");
    }
    r->hold_ns = hold_ns;
    r->emit = emit_fn;
    r->ud = ud;
    r->next_deadline = INT64_MAX;
    *out = r;
    return 0;
}

void cs_recovery_free(cs_recovery *r)
{
    if (r == NULL)
        return;
    for (uint32_t b = 0; b < CS_RECOVERY_STREAMS; b++) {
        for (stream *s = r->tab[b], *next; s != NULL; s = next) {
            next = s->next;
            for (uint32_t k = 0; k < s->n_feeds; k++)
                cs_free(s->feeds[k].seen.v);
            cs_free(s->feeds);
            cs_free(s->retrans.v);
            cs_free(s->held);
            cs_free(s);
        }
    }
    cs_free(r->tab);
    cs_free(r);
}

void cs_recovery_seen(cs_recovery *r, const cs_seq_span_event *e)
{
    stream *s = stream_get(r, e->ep.tap, e->proto, e->span.stream);
    uint64_t lo = e->span.first, hi = lo + e->span.count;
    int k;

    if (s == NULL || hi < lo)
        return;
    if (e->span.retransmission)
        spans_add(&s->retrans, lo, hi);
    else if ((k = feed_get(s, e->flow_id, e->dir)) >= 0)
        spans_add(&s->feeds[k].seen, lo, hi);
    if (s->n_held > 0)
        recheck(r, s, lo, hi);
}

void cs_recovery_gap(cs_recovery *r, const cs_seq_gap_event *ev)
{
    stream *s = stream_get(r, ev->ep.tap, ev->proto, ev->gap.stream);
    cs_recovered_gap g = {*ev, 0, 0};
    uint64_t lo = ev->gap.first, hi = lo + ev->gap.count;
    feed *f;
    int k;

    r->st.gaps++;
    if (s == NULL || hi < lo || (k = feed_get(s, ev->flow_id, ev->dir)) < 0) {
        r->st.untracked++;
        r->emit(r->ud, &g);
        return;
    }
    arbitrate(r, s, k, ev, lo, hi);
    f = &s->feeds[k];
    f->hist[f->hist_next] = (span){lo, hi};
    f->hist_next = (f->hist_next + 1) % HISTORY;
    if (f->hist_n < HISTORY)
        f->hist_n++;
    hold(r, s, k, &g);
}

/* The held gap that leaves next: the earliest deadline (arrival order
 * among equal ones), over every stream; NULL if none is due at "now_ns"
 * (or, with "all", none is held). */
static held *next_due(cs_recovery *r, int64_t now_ns, int all, stream **in)
{
    held *best = NULL;

    for (uint32_t b = 0; b < CS_RECOVERY_STREAMS; b++)
        for (stream *s = r->tab[b]; s != NULL; s = s->next)
            for (uint32_t i = 0; i < s->n_held; i++) {
                held *h = &s->held[i];

                if ((!all && h->deadline > now_ns) ||
                    (best != NULL && (h->deadline > best->deadline ||
                                      (h->deadline == best->deadline && h->order > best->order))))
                    continue;
                best = h;
                *in = s;
            }
    return best;
}

/* Emits the held gaps due at "now_ns" (all with "all") in deadline order,
 * then finds the next deadline. Held gaps are few (loss is rare), so each
 * step is a scan. */
static void expire_all(cs_recovery *r, int64_t now_ns, int all)
{
    int64_t next = INT64_MAX;
    stream *s = NULL;
    held *h;

    while (r->st.held > 0 && (h = next_due(r, now_ns, all, &s)) != NULL) {
        emit(r, s, &h->g);
        held_remove(s, (uint32_t)(h - s->held));
        r->st.held--;
    }
    for (uint32_t b = 0; b < CS_RECOVERY_STREAMS && r->st.held > 0; b++)
        for (s = r->tab[b]; s != NULL; s = s->next)
            for (uint32_t i = 0; i < s->n_held; i++)
                next = s->held[i].deadline < next ? s->held[i].deadline : next;
    r->next_deadline = next;
}

void cs_recovery_expire(cs_recovery *r, int64_t now_ns)
{
    if (now_ns >= r->next_deadline)
        expire_all(r, now_ns, 0);
}

void cs_recovery_flush(cs_recovery *r)
{
    expire_all(r, 0, 1);
}

void cs_recovery_stats_get(const cs_recovery *r, cs_recovery_stats *st)
{
    *st = r->st;
}

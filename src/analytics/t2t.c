/*
 * t2t.c - tick-to-trade (see t2t.h).
 *
 * The table: open addressing with linear probing over a power-of-two array
 * of entries, one per (tap, instrument), never deleted (instruments are a
 * bounded set: a day's symbols per tap); it doubles at half full up to
 * CS_T2T_INSTRUMENTS. Each entry keeps its CS_T2T_RECENT latest ticks in a
 * ring. A tick overwrites the oldest slot; an order scans the ring for the
 * latest tick strictly before it (latest by time, then by arrival).
 */
#include "analytics/t2t.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/hash.h"

#include <string.h>

typedef struct tick {
    int64_t ts;
    uint64_t seen; /* arrival rank (0: empty slot) */
    cs_msgid id;
    uint64_t flow_id;
    cs_endpoints ep;
} tick;

typedef struct entry {
    uint64_t h; /* 0: free */
    uint16_t tap;
    uint8_t len;
    char name[CS_T2T_NAME];
    uint8_t next; /* ring slot the next tick takes */
    tick recent[CS_T2T_RECENT];
} entry;

struct cs_t2t {
    int64_t window_ns;
    cs_sink sink;
    entry *tab;
    uint32_t cap; /* power of two */
    uint64_t seen;
    cs_t2t_stats st;
};

static uint64_t key_hash(uint16_t tap, const char *name, size_t len)
{
    return cs_hash64(name, len, cs_mix64(tap)) | 1; /* never 0: 0 marks a free slot */
}

/* The slot of (tap, name): its entry, or the free slot it would take. */
static entry *slot(const cs_t2t *t, uint64_t h, uint16_t tap, const char *name, size_t len)
{
    for (uint32_t i = (uint32_t)h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        entry *e = &t->tab[i];

        if (e->h == 0 ||
            (e->h == h && e->tap == tap && e->len == len && memcmp(e->name, name, len) == 0))
            return e;
    }
}

static int grow(cs_t2t *t)
{
    uint32_t cap = t->cap * 2;
    entry *old = t->tab, *tab = cs_calloc(cap, sizeof(*tab));

    if (tab == NULL)
        return CS_ENOMEM;
    t->tab = tab;
    t->cap = cap;
    for (uint32_t i = 0; i < cap / 2; i++)
        if (old[i].h != 0)
            *slot(t, old[i].h, old[i].tap, old[i].name, old[i].len) = old[i];
    cs_free(old);
    return 0;
}

static size_t name_len(cs_str s)
{
    return s.len < CS_T2T_NAME ? s.len : CS_T2T_NAME;
}

int cs_t2t_new(int64_t window_ns, const cs_sink *sink, cs_t2t **out)
{
    cs_t2t *t = cs_calloc(1, sizeof(*t));

    if (t == NULL || (t->tab = cs_calloc(1024, sizeof(entry))) == NULL) {
        cs_free(t);
        return cs_error_set(CS_ENOMEM, "cannot allocate the tick-to-trade table");
    }
    t->cap = 1024;
    t->window_ns = window_ns;
    t->sink = *sink;
    *out = t;
    return 0;
}

void cs_t2t_free(cs_t2t *t)
{
    if (t == NULL)
        return;
    cs_free(t->tab);
    cs_free(t);
}

void cs_t2t_tick(cs_t2t *t, const cs_message *m, cs_str instrument)
{
    size_t len = name_len(instrument);
    uint64_t h = key_hash(m->ep.tap, instrument.p, len);
    entry *e = slot(t, h, m->ep.tap, instrument.p, len);

    t->st.ticks++;
    if (e->h == 0) { /* a new instrument at this tap */
        if ((t->st.instruments + 1) * 2 > t->cap && (t->cap >= CS_T2T_INSTRUMENTS || grow(t) < 0)) {
            t->st.instruments_full++;
            return;
        }
        e = slot(t, h, m->ep.tap, instrument.p, len);
        e->h = h;
        e->tap = m->ep.tap;
        e->len = (uint8_t)len;
        memcpy(e->name, instrument.p, len);
        t->st.instruments++;
    }
    e->recent[e->next] = (tick){m->ts_ns, ++t->seen, m->id, m->flow_id, m->ep};
    e->next = (uint8_t)((e->next + 1) % CS_T2T_RECENT);
}

/* The latest tick of "e" strictly before "ts", or NULL. */
static const tick *tick_before(const entry *e, int64_t ts)
{
    const tick *best = NULL;

    for (uint32_t i = 0; i < CS_T2T_RECENT; i++) {
        const tick *k = &e->recent[i];

        if (k->seen == 0 || k->ts >= ts)
            continue;
        if (best == NULL || k->ts > best->ts || (k->ts == best->ts && k->seen > best->seen))
            best = k;
    }
    return best;
}

void cs_t2t_order(cs_t2t *t, const cs_message *m, cs_str instrument)
{
    size_t len = name_len(instrument);
    const entry *e = slot(t, key_hash(m->ep.tap, instrument.p, len), m->ep.tap, instrument.p, len);
    const tick *k;
    cs_measurement ms;

    t->st.orders++;
    if (e->h == 0 || (k = tick_before(e, m->ts_ns)) == NULL || m->ts_ns - k->ts > t->window_ns)
        return;
    memset(&ms, 0, sizeof(ms));
    ms.id = ms.req_id = k->id;
    ms.pair = "t2t";
    ms.key = m->key;
    ms.resp_id = m->id;
    ms.req_ts_ns = k->ts;
    ms.resp_ts_ns = m->ts_ns;
    ms.latency_ns = m->ts_ns - k->ts;
    ms.flow_id = k->flow_id;
    ms.ep = k->ep;
    ms.resp_tap = m->ep.tap; /* the tick's: instruments are per tap */
    ms.resp_last_ts_ns = m->last_ts_ns;
    ms.resp_type = m->type;
    t->st.measurements++;
    if (t->sink.measurement)
        t->sink.measurement(t->sink.ud, &ms);
}

void cs_t2t_stats_get(const cs_t2t *t, cs_t2t_stats *st)
{
    *st = t->st;
}

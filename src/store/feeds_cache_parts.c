/*
 * feeds_cache_parts.c - the memory of the feeds cache (feeds_cache_int.h
 * draws it): the pending races and sightings, an open-addressing table by
 * id; the feeds and sessions, each an index into one array the parts
 * refer to; the message file groups, sorted by file id; their seconds,
 * sorted by time, each with one part per feed; a ring per feed and group.
 *
 * Invariants: "c->files" ascends by seg, a group's buckets by sec; a map's
 * capacity is 0 or a power of two and at most half full after a put;
 * "c->bytes" counts, roughly, what the parts hold (CACHE_BYTES_MAX).
 * Threading: as cs__fc (one thread at a time). Ownership: all of it
 * belongs to "c", freed by cs__fc_free().
 */
#include "store/feeds_cache_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/hash.h"

#include <string.h>

/* ---- pending races and sightings: open addressing by id ----------------- */

static size_t map_slot(const fc_map *m, uint64_t id)
{
    size_t i = (size_t)cs_hash64(&id, sizeof(id), 0) & (m->cap - 1);

    while (m->v[i].used && m->v[i].id != id)
        i = (i + 1) & (m->cap - 1);
    return i;
}

fc_pend *cs__fc_map_find(fc_map *m, uint64_t id)
{
    fc_pend *p;

    if (m->n == 0)
        return NULL;
    p = &m->v[map_slot(m, id)];
    return p->used ? p : NULL;
}

/* Rebuilds "m" at "cap" slots, keeping the entries of groups other than
 * "drop_seg" (-1: all) from "floor" on. */
int cs__fc_map_rebuild(fc_map *m, size_t cap, int64_t drop_seg, int64_t floor)
{
    fc_map old = *m;

    m->v = cs_calloc(cap, sizeof(*m->v));
    if (m->v == NULL) {
        *m = old;
        return CS_ENOMEM;
    }
    m->cap = cap;
    m->n = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.v[i].used && (int64_t)old.v[i].seg != drop_seg && old.v[i].ts >= floor)
            cs__fc_map_put(m, &old.v[i]);
    cs_free(old.v);
    return 0;
}

int cs__fc_map_put(fc_map *m, const fc_pend *e)
{
    size_t i;

    if (2 * (m->n + 1) > m->cap &&
        cs__fc_map_rebuild(m, m->cap ? 2 * m->cap : 1024, -1, INT64_MIN) < 0)
        return CS_ENOMEM;
    i = map_slot(m, e->id);
    m->v[i] = *e;
    m->v[i].used = 1;
    m->n++;
    return 0;
}

/* Removes "p" (linear probing: the entries after it move back). */
void cs__fc_map_del(fc_map *m, fc_pend *p)
{
    size_t i = (size_t)(p - m->v), j = i;

    m->v[i].used = 0;
    m->n--;
    for (;;) {
        size_t home;

        j = (j + 1) & (m->cap - 1);
        if (!m->v[j].used)
            return;
        home = (size_t)cs_hash64(&m->v[j].id, sizeof(m->v[j].id), 0) & (m->cap - 1);
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            m->v[i] = m->v[j];
            m->v[j].used = 0;
            i = j;
        }
    }
}

/* Gives back the room of a map left sparse (the first read of a store
 * holds every race a while). */
int cs__fc_map_shrink(fc_map *m)
{
    size_t cap = 1024;

    while (cap < 4 * m->n)
        cap *= 2;
    return cap < m->cap ? cs__fc_map_rebuild(m, cap, -1, INT64_MIN) : 0;
}

static void map_free(fc_map *m)
{
    cs_free(m->v);
    memset(m, 0, sizeof(*m));
}

/* ---- feeds, sessions, files, buckets ---------------------------------------- */

int cs__fc_feed_index(cs__fc *c, const cs_endpoints *ep, int side, uint32_t *out)
{
    cs__feed_key k = cs__feed_key_of(ep, side);

    if (c->n_feeds > 0 && memcmp(&c->feeds[c->last_feed].key, &k, sizeof(k)) == 0) {
        *out = c->last_feed;
        return 0;
    }
    for (size_t i = 0; i < c->n_feeds; i++)
        if (memcmp(&c->feeds[i].key, &k, sizeof(k)) == 0) {
            *out = c->last_feed = (uint32_t)i;
            return 0;
        }
    if (cs_grow((void **)&c->feeds, &c->cap_feeds, c->n_feeds + 1, sizeof(*c->feeds)) < 0)
        return CS_ENOMEM;
    c->feeds[c->n_feeds] = (fc_feed){k, *ep, side};
    *out = c->last_feed = (uint32_t)c->n_feeds++;
    return 0;
}

int cs__fc_sess_index(cs__fc *c, cs_str s, uint32_t *out)
{
    size_t n = s.len < CS_FEED_SESSION_LEN ? s.len : CS_FEED_SESSION_LEN;

    for (size_t i = 0; i < c->n_sess; i++)
        if (strlen(c->sess[i]) == n && memcmp(c->sess[i], s.p, n) == 0) {
            *out = (uint32_t)i;
            return 0;
        }
    if (cs_grow((void **)&c->sess, &c->cap_sess, c->n_sess + 1, sizeof(*c->sess)) < 0)
        return CS_ENOMEM;
    memcpy(c->sess[c->n_sess], s.p, n);
    c->sess[c->n_sess][n] = '\0';
    *out = (uint32_t)c->n_sess++;
    return 0;
}

static void agg_free(fc_agg *a)
{
    cs_free(a->types);
    cs_free(a->sess);
    cs_free(a->leads);
}

static void file_free(fc_file *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n_b; i++) {
        for (size_t k = 0; k < f->b[i].n_aggs; k++)
            agg_free(&f->b[i].aggs[k]);
        cs_free(f->b[i].aggs);
    }
    cs_free(f->b);
    cs_free(f->rings);
    cs_free(f);
}

fc_file *cs__fc_file_find(cs__fc *c, uint32_t seg, size_t *at)
{
    size_t lo = 0, hi = c->n_files;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (c->files[mid]->seg < seg)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return lo < c->n_files && c->files[lo]->seg == seg ? c->files[lo] : NULL;
}

int cs__fc_file_get(cs__fc *c, uint32_t seg, fc_file **out)
{
    size_t at;
    fc_file *f = cs__fc_file_find(c, seg, &at);

    if (f == NULL) {
        if (cs_grow((void **)&c->files, &c->cap_files, c->n_files + 1, sizeof(*c->files)) < 0 ||
            (f = cs_calloc(1, sizeof(*f))) == NULL)
            return CS_ENOMEM;
        f->seg = seg;
        memmove(c->files + at + 1, c->files + at, (c->n_files - at) * sizeof(*c->files));
        c->files[at] = f;
        c->n_files++;
    }
    *out = f;
    return 0;
}

void cs__fc_file_drop(cs__fc *c, size_t at)
{
    file_free(c->files[at]);
    memmove(c->files + at, c->files + at + 1, (c->n_files - at - 1) * sizeof(*c->files));
    c->n_files--;
}

void cs__fc_empty(cs__fc *c)
{
    while (c->n_files > 0)
        cs__fc_file_drop(c, c->n_files - 1);
    map_free(&c->races);
    map_free(&c->sights);
    c->n_feeds = c->n_sess = 0;
    c->last_feed = 0;
    c->max_req_ts = c->sight_floor = INT64_MIN;
    c->bytes = 0;
}

/* The bucket of second "sec" of "f", made if new. */
static int bucket_of(cs__fc *c, fc_file *f, int64_t sec, fc_bucket **out)
{
    size_t lo = 0, hi = f->n_b;

    if (f->n_b > 0 && f->b[f->n_b - 1].sec <= sec)
        lo = f->n_b - 1; /* appends come in time order, mostly */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (f->b[mid].sec < sec)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == f->n_b || f->b[lo].sec != sec) {
        if (cs_grow((void **)&f->b, &f->cap_b, f->n_b + 1, sizeof(*f->b)) < 0)
            return CS_ENOMEM;
        memmove(f->b + lo + 1, f->b + lo, (f->n_b - lo) * sizeof(*f->b));
        memset(&f->b[lo], 0, sizeof(f->b[lo]));
        f->b[lo].sec = sec;
        f->n_b++;
        c->bytes += sizeof(fc_bucket);
    }
    *out = &f->b[lo];
    return 0;
}

static int agg_of(cs__fc *c, fc_bucket *b, uint32_t feed, fc_agg **out)
{
    for (size_t i = 0; i < b->n_aggs; i++)
        if (b->aggs[i].feed == feed) {
            *out = &b->aggs[i];
            return 0;
        }
    if (cs_grow((void **)&b->aggs, &b->cap_aggs, b->n_aggs + 1, sizeof(*b->aggs)) < 0)
        return CS_ENOMEM;
    *out = memset(&b->aggs[b->n_aggs++], 0, sizeof(fc_agg));
    (*out)->feed = feed;
    c->bytes += sizeof(fc_agg);
    return 0;
}

/* The agg of feed "feed" in second "sec" of the file being read. */
int cs__fc_agg_at(cs__fc *c, fc_file *f, int64_t sec, uint32_t feed, fc_bucket **b, fc_agg **a)
{
    int rc = bucket_of(c, f, sec, b);

    return rc < 0 ? rc : agg_of(c, *b, feed, a);
}

fc_ring *cs__fc_ring_of(fc_file *f, uint32_t feed)
{
    if (feed >= f->n_rings) {
        size_t n = feed + 1;
        fc_ring *v = cs_realloc(f->rings, n * sizeof(*v));

        if (v == NULL)
            return NULL;
        memset(v + f->n_rings, 0, (n - f->n_rings) * sizeof(*v));
        f->rings = v;
        f->n_rings = n;
    }
    return &f->rings[feed];
}

/* ---- the data's life ----------------------------------------------------- */

int cs__fc_new(cs__fc **out)
{
    cs__fc *c = cs_calloc(1, sizeof(*c));

    *out = c;
    if (c == NULL)
        return CS_ENOMEM;
    c->max_req_ts = c->sight_floor = INT64_MIN;
    return 0;
}

void cs__fc_free(cs__fc *c)
{
    if (c == NULL)
        return;
    cs__fc_empty(c);
    cs_free(c->files);
    cs_free(c->feeds);
    cs_free(c->sess);
    cs_free(c->dir);
    cs_free(c->sb.buf);
    cs__recdec_free(&c->dec);
    cs_free(c);
}

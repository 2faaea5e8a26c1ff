/*
 * feeds_cache.c - the feeds summaries of a store (feeds.h) kept up to date
 * by a serving process, so that a request reads only the records appended
 * since the last one, and a range of whole seconds is summed from
 * per-second parts instead of read (feeds_cache.h).
 *
 * How it works. Per message file group (file id "seg": its msg- and lat-
 * files), the cache keeps what it has read of each file (offset after the
 * last good record, inode, the frame head of that last record) and, per
 * second of capture time and per feed, the parts of a summary:
 *
 *   file seg ─► bucket sec ─► agg feed: packets, data, heartbeats,
 *                                       retransmitted data, ITCH messages
 *                                       by type, races lost, the leads of
 *                                       the races won (int32, ns), the
 *                                       first 8 sessions with where they
 *                                       were first seen, the busiest ms
 *             ─► ring feed: the busiest-ms ring of feeds.c over this file
 *
 * Each request first reads what the files gained (lat- files first, then
 * msg- files, each from where the last read stopped), then answers
 * [after, before) as: the partial seconds at its ends read from the
 * records by feeds.c (cs__feeds_read_range); every whole second in
 * between summed from the buckets, except the busiest ms of a second two
 * groups both hold ITCH messages of, counted per ms from its records
 * (count_second); gaps read as cs_feeds_read() reads them.
 *
 * Why the sum is the same answer (and when the cache does not answer):
 *   - counters add up; a race is filed under the second of its request,
 *     its loser found by the response's id (a sighting read before its
 *     race waits in "sights", a race read before its sighting in
 *     "races"); a loss is counted when the response's time is the race's
 *     resp_ts_ns, else the second is marked inexact.
 *   - the lead percentiles are selected from all the leads of the range
 *     (buckets keep every lead; a lead beyond int32 marks its second
 *     inexact).
 *   - busiest ms: when no ITCH message of the range is late (more than
 *     CS_FEED_BUSY_WINDOW ms older than its feed's newest before it), the
 *     ring of feeds.c counts every ms whole, so the busiest is the largest
 *     per-ms count, the earliest of equals: the max over the seconds'
 *     busiest. A message late in its file's ring marks its second; a later
 *     group whose messages may be late behind an earlier one's is checked
 *     per request; a second two groups share is counted from the records.
 *   - sessions: the first 8 sessions in store order of a union are among
 *     the first 8 of each part, ordered by where they were first seen
 *     (file id, offset). The ends read from records have no positions:
 *     with more than one session in all, the cache does not answer.
 * A request that touches a marked second, one with no whole second, or a
 * feed whose sessions cannot be ordered is read whole by cs_feeds_read().
 *
 * A file that shrank, changed inode or whose last record changed was
 * replaced (reanalysis): the whole cache is rebuilt. A group deleted
 * (retention) is dropped alone unless one of its sightings resolved a
 * race of another group (then rebuilt too). A sighting unmatched after
 * SIGHT_KEEP_NS of request time is forgotten; a race whose response is
 * older than what was forgotten marks its second inexact.
 *
 * Memory: per second and feed about 170 bytes plus 8 per ITCH type seen
 * (about 300 in all for a full ITCH feed) and 4 per race won; per feed and group a ring of 64
 * counts; pending races and sightings 40 bytes each. Over CACHE_BYTES_MAX the cache is emptied and
 * every request read whole.
 *
 * Threading: a cache is used by one thread at a time; the process-wide
 * one is behind a mutex. It reads with its own buffers, not the reader's
 * (which reads the ends).
 */
#include "store/feeds_cache.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/sort.h"
#include "store/feeds_int.h"
#include "store/msgstore_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NS_PER_SEC 1000000000LL
#define NS_PER_MS 1000000LL
#define MS_PER_SEC 1000LL
#define WINDOW CS_FEED_BUSY_WINDOW
#define SIGHT_KEEP_NS (10 * NS_PER_SEC)
#define CACHE_BYTES_MAX ((uint64_t)1 << 30)
#define POS_SEG_SHIFT 40 /* a record's store position: file id << 40 | offset */

enum { PART_MSG, PART_LAT, N_PARTS };

typedef struct fc_type {
    uint32_t n;
    uint8_t t;
} fc_type;

typedef struct fc_sess {
    uint64_t pos; /* where it was first seen */
    uint32_t idx; /* in cs_feeds_cache.sess */
} fc_sess;

typedef struct fc_agg {
    uint32_t feed; /* in cs_feeds_cache.feeds */
    uint32_t n_types, n_sess;
    uint64_t packets, data_packets, heartbeats, retrans_data, messages, unknown_types;
    uint64_t races_lost;
    fc_type *types;
    size_t cap_types;
    fc_sess *sess;
    size_t cap_sess;
    int32_t *leads; /* of the races won */
    size_t n_leads, cap_leads;
    uint64_t best; /* the busiest closed ms of the second, earliest of equals */
    int64_t best_ms;
} fc_agg;

typedef struct fc_bucket {
    int64_t sec;
    fc_agg *aggs;
    size_t n_aggs, cap_aggs;
    uint64_t late; /* ITCH messages late in their file's ring */
    int inexact;
    int has_itch;
} fc_bucket;

typedef struct fc_ring {
    int started;
    int64_t head_ms, min_ms, max_ms;
    uint64_t n[WINDOW];
} fc_ring;

typedef struct fc_part {
    int read; /* something was read: the fields below are set */
    uint64_t dev, ino;
    uint64_t end;      /* offset after the last good record read */
    uint64_t last_off; /* the frame of the last record read (0: none) */
    uint8_t last_head[CS__FRAME_PAYLOAD];
    int listed; /* in the directory at this update */
} fc_part;

typedef struct fc_file {
    uint32_t seg;
    fc_part part[N_PARTS];
    fc_bucket *b; /* by sec, ascending */
    size_t n_b, cap_b;
    fc_ring *rings; /* by feed */
    size_t n_rings;
    int lent; /* one of its sightings resolved a race of another group */
} fc_file;

typedef struct fc_feed {
    cs__feed_key key;
    cs_endpoints ep;
    int side;
} fc_feed;

/* A race waiting for its sighting (id = resp_id, ts = resp_ts_ns, sec and
 * seg: its bucket, feed: the winner) or a sighting waiting for its race
 * (id, ts, seg: its group, feed: its own). */
typedef struct fc_pend {
    uint64_t id;
    int64_t ts, sec;
    uint32_t seg, feed;
    int used;
} fc_pend;

typedef struct fc_map {
    fc_pend *v;
    size_t n, cap; /* cap: 0 or a power of two */
} fc_map;

struct cs_feeds_cache {
    char *dir; /* the store's messages directory */
    fc_feed *feeds;
    size_t n_feeds, cap_feeds;
    uint32_t last_feed;
    char (*sess)[CS_FEED_SESSION_LEN + 1];
    size_t n_sess, cap_sess;
    fc_file **files; /* by seg, ascending */
    size_t n_files, cap_files;
    fc_map races, sights;
    int64_t max_req_ts, sight_floor;
    cs__scanbuf sb;
    cs__recdec dec;
    fc_file *cur; /* the file being read */
    uint64_t cur_frame;
    int err;
    int over; /* grew past CACHE_BYTES_MAX: every request is read whole */
    uint64_t bytes;
    cs_feeds_cache_stats st;
};

/* ---- time ------------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return a % b < 0 ? q - 1 : q;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return -floor_div(-a, b);
}

/* ---- pending races and sightings: open addressing by id ----------------- */

static size_t map_slot(const fc_map *m, uint64_t id)
{
    size_t i = (size_t)cs_hash64(&id, sizeof(id), 0) & (m->cap - 1);

    while (m->v[i].used && m->v[i].id != id)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static fc_pend *map_find(fc_map *m, uint64_t id)
{
    fc_pend *p;

    if (m->n == 0)
        return NULL;
    p = &m->v[map_slot(m, id)];
    return p->used ? p : NULL;
}

static int map_put(fc_map *m, const fc_pend *e);

/* Rebuilds "m" at "cap" slots, keeping the entries of groups other than
 * "drop_seg" (-1: all) from "floor" on. */
static int map_rebuild(fc_map *m, size_t cap, int64_t drop_seg, int64_t floor)
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
            map_put(m, &old.v[i]);
    cs_free(old.v);
    return 0;
}

static int map_put(fc_map *m, const fc_pend *e)
{
    size_t i;

    if (2 * (m->n + 1) > m->cap && map_rebuild(m, m->cap ? 2 * m->cap : 1024, -1, INT64_MIN) < 0)
        return CS_ENOMEM;
    i = map_slot(m, e->id);
    m->v[i] = *e;
    m->v[i].used = 1;
    m->n++;
    return 0;
}

/* Removes "p" (linear probing: the entries after it move back). */
static void map_del(fc_map *m, fc_pend *p)
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
static int map_shrink(fc_map *m)
{
    size_t cap = 1024;

    while (cap < 4 * m->n)
        cap *= 2;
    return cap < m->cap ? map_rebuild(m, cap, -1, INT64_MIN) : 0;
}

static void map_free(fc_map *m)
{
    cs_free(m->v);
    memset(m, 0, sizeof(*m));
}

/* ---- feeds, sessions, files, buckets ---------------------------------------- */

static int feed_index(cs_feeds_cache *c, const cs_endpoints *ep, int side, uint32_t *out)
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

static int sess_index(cs_feeds_cache *c, cs_str s, uint32_t *out)
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

static fc_file *file_find(cs_feeds_cache *c, uint32_t seg, size_t *at)
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

static int file_get(cs_feeds_cache *c, uint32_t seg, fc_file **out)
{
    size_t at;
    fc_file *f = file_find(c, seg, &at);

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

static void file_drop(cs_feeds_cache *c, size_t at)
{
    file_free(c->files[at]);
    memmove(c->files + at, c->files + at + 1, (c->n_files - at - 1) * sizeof(*c->files));
    c->n_files--;
}

static void cache_empty(cs_feeds_cache *c)
{
    while (c->n_files > 0)
        file_drop(c, c->n_files - 1);
    map_free(&c->races);
    map_free(&c->sights);
    c->n_feeds = c->n_sess = 0;
    c->last_feed = 0;
    c->max_req_ts = c->sight_floor = INT64_MIN;
    c->bytes = 0;
}

/* The bucket of second "sec" of "f", made if new. */
static int bucket_of(cs_feeds_cache *c, fc_file *f, int64_t sec, fc_bucket **out)
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

static int agg_of(cs_feeds_cache *c, fc_bucket *b, uint32_t feed, fc_agg **out)
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
static int agg_at(cs_feeds_cache *c, fc_file *f, int64_t sec, uint32_t feed, fc_bucket **b,
                  fc_agg **a)
{
    int rc = bucket_of(c, f, sec, b);

    return rc < 0 ? rc : agg_of(c, *b, feed, a);
}

static fc_ring *ring_of(fc_file *f, uint32_t feed)
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

/* ---- reading messages ------------------------------------------------------- */

/* Closes ms "ms" of "feed"'s ring of "f" into its second's busiest. */
static int ring_close(cs_feeds_cache *c, fc_file *f, uint32_t feed, fc_ring *g, int64_t ms)
{
    uint64_t *n = &g->n[(uint64_t)ms % WINDOW];
    fc_bucket *b;
    fc_agg *a;
    int rc;

    if (*n == 0)
        return 0;
    if ((rc = agg_at(c, f, floor_div(ms, MS_PER_SEC), feed, &b, &a)) < 0)
        return rc;
    if (*n > a->best) {
        a->best = *n;
        a->best_ms = ms;
    }
    *n = 0;
    return 0;
}

/* feeds.c busy_add() over one file: the ring and what is late in it. */
static int ring_add(cs_feeds_cache *c, fc_file *f, uint32_t feed, fc_bucket *b, int64_t ms)
{
    fc_ring *g = ring_of(f, feed);
    int rc;

    if (g == NULL)
        return CS_ENOMEM;
    if (!g->started) {
        g->started = 1;
        g->head_ms = g->min_ms = g->max_ms = ms;
    } else if (ms > g->head_ms) {
        int64_t last = ms - WINDOW < g->head_ms ? ms - WINDOW : g->head_ms;

        for (int64_t x = g->head_ms - WINDOW + 1; x <= last; x++)
            if ((rc = ring_close(c, f, feed, g, x)) < 0)
                return rc;
        g->head_ms = ms;
    } else if (ms <= g->head_ms - WINDOW) {
        b->late++;
        g->min_ms = ms < g->min_ms ? ms : g->min_ms;
        return 0;
    }
    g->min_ms = ms < g->min_ms ? ms : g->min_ms;
    g->max_ms = ms > g->max_ms ? ms : g->max_ms;
    g->n[(uint64_t)ms % WINDOW]++;
    return 0;
}

static int take_itch(cs_feeds_cache *c, const cs_message *m)
{
    fc_file *f = c->cur;
    uint32_t feed;
    fc_bucket *b;
    fc_agg *a;
    int rc;

    if ((rc = feed_index(c, &m->ep, !m->dir, &feed)) < 0 ||
        (rc = agg_at(c, f, floor_div(m->ts_ns, NS_PER_SEC), feed, &b, &a)) < 0)
        return rc;
    a->messages++;
    b->has_itch = 1;
    if (m->type.len != 1) {
        a->unknown_types++;
    } else {
        uint8_t t = (uint8_t)m->type.p[0];
        size_t i = 0;

        while (i < a->n_types && a->types[i].t != t)
            i++;
        if (i == a->n_types) {
            if (cs_grow((void **)&a->types, &a->cap_types, i + 1, sizeof(*a->types)) < 0)
                return CS_ENOMEM;
            a->types[a->n_types++] = (fc_type){0, t};
            c->bytes += sizeof(fc_type);
        }
        if (++a->types[i].n == 0)
            b->inexact = 1; /* (2^32 of one type in a second) */
    }
    return ring_add(c, f, feed, b, floor_div(m->ts_ns, NS_PER_MS));
}

static cs_str field_of(const cs_message *m, const char *name)
{
    for (size_t i = 0; i < m->n_fields; i++)
        if (cs__str_is(m->fields[i].name, name))
            return m->fields[i].val;
    return (cs_str){"", 0};
}

static int note_session(cs_feeds_cache *c, fc_agg *a, cs_str session, uint64_t pos)
{
    uint32_t idx;
    int rc;

    if ((rc = sess_index(c, session, &idx)) < 0)
        return rc;
    for (uint32_t i = 0; i < a->n_sess; i++)
        if (a->sess[i].idx == idx)
            return 0;
    if (a->n_sess == CS_FEED_SESSIONS_MAX)
        return 0;
    if (cs_grow((void **)&a->sess, &a->cap_sess, a->n_sess + 1, sizeof(*a->sess)) < 0)
        return CS_ENOMEM;
    a->sess[a->n_sess++] = (fc_sess){pos, idx};
    c->bytes += sizeof(fc_sess);
    return 0;
}

/* Race "p" (pending, from either side) lost by "loser", whose copy came at
 * "ts" in group "seg". */
static int resolve(cs_feeds_cache *c, const fc_pend *race, uint32_t loser, int64_t ts, uint32_t seg)
{
    fc_file *f, *s;
    fc_bucket *b;
    fc_agg *a;
    size_t at;
    int rc;

    if ((f = file_find(c, race->seg, &at)) == NULL || (s = file_find(c, seg, &at)) == NULL)
        return CS_EINVAL; /* (both are read, so both are known) */
    if ((rc = agg_at(c, f, race->sec, loser, &b, &a)) < 0)
        return rc;
    if (ts != race->ts)
        b->inexact = 1; /* feeds.c looks for it by the race's times */
    if (loser != race->feed)
        a->races_lost++;
    if (seg != race->seg)
        s->lent = 1;
    return 0;
}

static int take_sighting(cs_feeds_cache *c, uint64_t id, uint32_t feed, int64_t ts)
{
    fc_pend *p = map_find(&c->races, id), race;
    int rc;

    if (p != NULL) {
        race = *p;
        map_del(&c->races, p);
        return resolve(c, &race, feed, ts, c->cur->seg);
    }
    if (ts < c->sight_floor)
        return 0; /* its race, if any, is older than what is kept: it marks itself */
    if ((rc = map_put(&c->sights, &(fc_pend){id, ts, 0, c->cur->seg, feed, 1})) == 0)
        c->bytes += 2 * sizeof(fc_pend);
    return rc;
}

static int take_packet(cs_feeds_cache *c, const cs_message *m, uint64_t off)
{
    int data = cs__str_is(m->type, "data");
    uint32_t feed;
    fc_bucket *b;
    fc_agg *a;
    int rc;

    if (!data && !cs__str_is(m->type, "heartbeat") && !cs__str_is(m->type, "end_of_session"))
        return 0;
    if ((rc = feed_index(c, &m->ep, !m->dir, &feed)) < 0 ||
        (rc = agg_at(c, c->cur, floor_div(m->ts_ns, NS_PER_SEC), feed, &b, &a)) < 0)
        return rc;
    a->packets++;
    a->heartbeats += cs__str_is(m->type, "heartbeat");
    if ((rc = note_session(c, a, field_of(m, "session"),
                           (uint64_t)c->cur->seg << POS_SEG_SHIFT | off)) < 0)
        return rc;
    if (!data)
        return 0;
    a->data_packets++;
    a->retrans_data += cs__str_is(field_of(m, "retransmission"), "1");
    return m->role == CS_ROLE_SIGHTING ? take_sighting(c, m->id, feed, m->ts_ns) : 0;
}

static int msg_frame(void *ud, const uint8_t *p, size_t n)
{
    cs_feeds_cache *c = ud;
    cs_message m;
    cs__msg_head h;
    int rc = 0;

    c->cur_frame = cs__frame_offset(&c->sb, p);
    if (cs__decode_msg_head(p, n, &c->dec, &m, &h) < 0 || m.proto == NULL)
        return 0;
    if (strcmp(m.proto, "itch") == 0) {
        rc = take_itch(c, &m);
    } else if (strcmp(m.proto, "moldudp64") == 0) {
        if ((rc = cs__decode_msg_body(&c->dec, &m, &h)) != 0)
            return rc < -1 ? (c->err = rc, 1) : 0;
        rc = take_packet(c, &m, c->cur_frame);
    }
    return rc < 0 ? (c->err = rc, 1) : 0;
}

/* ---- reading races ---------------------------------------------------------- */

static int take_race(cs_feeds_cache *c, const cs_measurement *ms)
{
    int64_t sec = floor_div(ms->req_ts_ns, NS_PER_SEC);
    fc_pend *s, race;
    uint32_t feed;
    fc_bucket *b;
    fc_agg *a;
    int rc;

    if ((rc = feed_index(c, &ms->ep, 1, &feed)) < 0 ||
        (rc = agg_at(c, c->cur, sec, feed, &b, &a)) < 0)
        return rc;
    if (cs_grow((void **)&a->leads, &a->cap_leads, a->n_leads + 1, sizeof(*a->leads)) < 0)
        return CS_ENOMEM;
    if (ms->latency_ns < 0 || ms->latency_ns > INT32_MAX)
        b->inexact = 1;
    a->leads[a->n_leads++] = (int32_t)ms->latency_ns;
    c->bytes += sizeof(int32_t);
    if (ms->req_ts_ns > c->max_req_ts)
        c->max_req_ts = ms->req_ts_ns;
    race = (fc_pend){ms->resp_id, ms->resp_ts_ns, sec, c->cur->seg, feed, 1};
    if ((s = map_find(&c->sights, ms->resp_id)) != NULL) {
        fc_pend sight = *s;

        map_del(&c->sights, s);
        return resolve(c, &race, sight.feed, sight.ts, sight.seg);
    }
    if (ms->resp_ts_ns < c->sight_floor || map_find(&c->races, ms->resp_id) != NULL) {
        b->inexact = 1; /* its sighting may be forgotten, or it shares it */
        return 0;
    }
    if ((rc = map_put(&c->races, &race)) == 0)
        c->bytes += 2 * sizeof(fc_pend);
    return rc;
}

static int lat_frame(void *ud, const uint8_t *p, size_t n)
{
    cs_feeds_cache *c = ud;
    cs_measurement ms;
    int rc;

    c->cur_frame = cs__frame_offset(&c->sb, p);
    if (cs__decode_measurement(p, n, &c->dec, &ms) < 0 || ms.pair == NULL ||
        strcmp(ms.pair, "ab") != 0)
        return 0;
    return (rc = take_race(c, &ms)) < 0 ? (c->err = rc, 1) : 0;
}

/* ---- bringing the cache up to date ------------------------------------------ */

enum { PART_SAME = 0, PART_GONE = 1, PART_REPLACED = 2 };

/* Has the file "fd" of part "pt" been replaced since it was read? */
static int part_replaced(const fc_part *pt, int fd, const struct stat *st)
{
    uint8_t head[CS__FRAME_PAYLOAD];

    if (!pt->read)
        return 0;
    if ((uint64_t)st->st_dev != pt->dev || (uint64_t)st->st_ino != pt->ino ||
        (uint64_t)st->st_size < pt->end)
        return 1;
    return pt->last_off > 0 &&
           (pread(fd, head, sizeof(head), (off_t)pt->last_off) != (ssize_t)sizeof(head) ||
            memcmp(head, pt->last_head, sizeof(head)) != 0);
}

/* Reads what part "kind" of "f" gained; PART_REPLACED if it was replaced. */
static int part_read(cs_feeds_cache *c, const char *dir, fc_file *f, int kind)
{
    static const int file_kind[N_PARTS] = {CS__KIND_MSG, CS__KIND_LAT};
    fc_part *pt = &f->part[kind];
    char path[CS__MSG_PATH_MAX];
    cs__scan_result res;
    struct stat st;
    int fd, rc;

    cs__msgfile_path(path, dir, file_kind[kind], f->seg, 0);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno == ENOENT
                   ? (pt->read ? PART_REPLACED : 0)
                   : cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0) {
        rc = cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
        goto out;
    }
    if ((rc = part_replaced(pt, fd, &st) ? PART_REPLACED : 0) != 0)
        goto out;
    c->cur = f;
    c->cur_frame = 0;
    c->err = 0;
    rc = cs__msgfile_scan(fd, file_kind[kind], &c->sb, pt->end,
                          kind == PART_MSG ? msg_frame : lat_frame, c, &res);
    if (rc == CS_ECORRUPT)
        rc = 0; /* a foreign file serves nothing, as to cs_feeds_read() */
    if (rc < 0 || (rc = c->err) < 0)
        goto out;
    pt->read = 1;
    pt->dev = (uint64_t)st.st_dev;
    pt->ino = (uint64_t)st.st_ino;
    if (c->cur_frame > 0 && res.valid_end > pt->end) {
        pt->last_off = c->cur_frame;
        if (pread(fd, pt->last_head, sizeof(pt->last_head), (off_t)pt->last_off) !=
            (ssize_t)sizeof(pt->last_head))
            pt->last_off = 0;
    }
    pt->end = res.valid_end > pt->end ? res.valid_end : pt->end;
out:
    close(fd);
    return rc;
}

/* Marks the parts of the files in "dir" listed; adds the files new. */
static int list_parts(cs_feeds_cache *c, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int kind, tmp, rc = 0;
    uint32_t seg;
    fc_file *f;

    for (size_t i = 0; i < c->n_files; i++)
        c->files[i]->part[PART_MSG].listed = c->files[i]->part[PART_LAT].listed = 0;
    if (d == NULL)
        return errno == ENOENT
                   ? 0
                   : cs_error_set(cs_error_from_errno(errno), "%s: %s", dir, strerror(errno));
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (cs__msgfile_parse_name(e->d_name, &kind, &seg, &tmp) < 0 || tmp ||
            (kind != CS__KIND_MSG && kind != CS__KIND_LAT))
            continue;
        if ((rc = file_get(c, seg, &f)) == 0)
            f->part[kind == CS__KIND_MSG ? PART_MSG : PART_LAT].listed = 1;
    }
    closedir(d);
    return rc;
}

/* Drops the groups deleted whole; 1 if the cache must be rebuilt instead. */
static int drop_deleted(cs_feeds_cache *c)
{
    for (size_t i = c->n_files; i-- > 0;) {
        fc_file *f = c->files[i];
        int gone = !f->part[PART_MSG].listed && !f->part[PART_LAT].listed;

        if (!gone)
            continue;
        if (f->lent)
            return 1;
        if (map_rebuild(&c->races, c->races.cap ? c->races.cap : 1024, f->seg, INT64_MIN) < 0 ||
            map_rebuild(&c->sights, c->sights.cap ? c->sights.cap : 1024, f->seg, INT64_MIN) < 0)
            return 1;
        file_drop(c, i);
    }
    return 0;
}

/* Forgets the sightings older than SIGHT_KEEP_NS before the newest race. */
static int forget_sightings(cs_feeds_cache *c)
{
    int64_t floor;

    if (c->max_req_ts < INT64_MIN + SIGHT_KEEP_NS)
        return 0;
    floor = c->max_req_ts - SIGHT_KEEP_NS;
    if (floor > c->sight_floor) {
        c->sight_floor = floor;
        if (c->sights.n > 0 && map_rebuild(&c->sights, c->sights.cap, -1, floor) < 0)
            return CS_ENOMEM;
    }
    return map_shrink(&c->sights) < 0 || map_shrink(&c->races) < 0 ? CS_ENOMEM : 0;
}

static int update_once(cs_feeds_cache *c, const char *dir)
{
    int rc;

    if ((rc = list_parts(c, dir)) < 0)
        return rc;
    if (drop_deleted(c))
        return PART_REPLACED;
    for (int kind = PART_LAT; kind >= PART_MSG; kind--) /* races wait for their losers */
        for (size_t i = 0; i < c->n_files; i++)
            if ((rc = part_read(c, dir, c->files[i], kind)) != 0)
                return rc;
    return forget_sightings(c);
}

static int cache_update(cs_feeds_cache *c, const char *dir)
{
    int rc;

    if (c->dir == NULL || strcmp(c->dir, dir) != 0) {
        cache_empty(c);
        cs_free(c->dir);
        c->over = 0;
        if ((c->dir = cs_strdup(dir)) == NULL)
            return CS_ENOMEM;
    }
    if (c->over)
        return 1;
    if ((rc = update_once(c, dir)) == PART_REPLACED) {
        cache_empty(c);
        c->st.rebuilds++;
        rc = update_once(c, dir);
    }
    if (rc != 0 || c->bytes > CACHE_BYTES_MAX) {
        c->over = rc == 0;
        cache_empty(c);
        return rc < 0 ? rc : 1;
    }
    return 0;
}

/* ---- answering a range ------------------------------------------------------ */

/* Does any ITCH message of [after, before) (seconds lo .. hi - 1) risk
 * being late, or any second there being inexact? */
static int range_unsure(const cs_feeds_cache *c, int64_t lo, int64_t hi, int64_t after,
                        int64_t before)
{
    int64_t a_ms = floor_div(after, NS_PER_MS), b_ms = floor_div(before - 1, NS_PER_MS);

    for (size_t i = 0; i < c->n_files; i++)
        for (size_t k = 0; k < c->files[i]->n_b; k++) {
            const fc_bucket *b = &c->files[i]->b[k];

            if (b->sec >= lo && b->sec < hi && (b->late > 0 || b->inexact))
                return 1;
        }
    /* a later group's message behind an earlier group's newest */
    for (uint32_t feed = 0; feed < c->n_feeds; feed++) {
        int64_t newest = INT64_MIN;

        for (size_t i = 0; i < c->n_files; i++) {
            const fc_file *f = c->files[i];
            const fc_ring *g = feed < f->n_rings && f->rings[feed].started ? &f->rings[feed] : NULL;

            if (g == NULL)
                continue;
            if (newest != INT64_MIN && g->min_ms <= newest - WINDOW && a_ms <= newest - WINDOW &&
                b_ms >= g->min_ms)
                return 1;
            newest = g->max_ms > newest ? g->max_ms : newest;
        }
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* The seconds in [s0, s1) that two groups both hold ITCH messages of,
 * ascending, into "*out" (cs_free'd by the caller). */
static int shared_seconds(const cs_feeds_cache *c, int64_t s0, int64_t s1, int64_t **out,
                          size_t *n_out)
{
    int64_t *v = NULL;
    size_t n = 0, cap = 0, k = 0;

    *out = NULL;
    *n_out = 0;
    if (c->n_files < 2)
        return 0;
    for (size_t i = 0; i < c->n_files; i++)
        for (size_t j = 0; j < c->files[i]->n_b; j++) {
            const fc_bucket *b = &c->files[i]->b[j];

            if (!b->has_itch || b->sec < s0 || b->sec >= s1)
                continue;
            if (b->sec <= INT64_MIN / NS_PER_SEC || b->sec >= INT64_MAX / NS_PER_SEC - 1) {
                cs_free(v);
                return 1; /* a second too near the ends of time to read by */
            }
            if (cs_grow((void **)&v, &cap, n + 1, sizeof(*v)) < 0) {
                cs_free(v);
                return CS_ENOMEM;
            }
            v[n++] = b->sec;
        }
    cs_qsort(v, n, sizeof(*v), cmp_i64);
    for (size_t i = 1; i < n; i++)
        if (v[i] == v[i - 1] && (k == 0 || v[k - 1] != v[i]))
            v[k++] = v[i];
    *out = v;
    *n_out = k;
    return 0;
}

static int is_shared(const int64_t *v, size_t n, int64_t sec)
{
    return n > 0 && bsearch(&sec, v, n, sizeof(*v), cmp_i64) != NULL;
}

/* What the buckets add after the records are read: sessions and offers. */
typedef struct fc_sess_note {
    cs_feed_summary *s;
    uint64_t pos;
    uint32_t idx;
} fc_sess_note;

typedef struct fc_offer {
    cs_feed_summary *s;
    int64_t ms;
    uint64_t n;
} fc_offer;

typedef struct compose {
    cs_feeds *fs;
    fc_sess_note *sess;
    size_t n_sess, cap_sess;
    fc_offer *offers;
    size_t n_offers, cap_offers;
} compose;

static int offer(compose *k, cs_feed_summary *s, int64_t ms, uint64_t n)
{
    if (cs_grow((void **)&k->offers, &k->cap_offers, k->n_offers + 1, sizeof(*k->offers)) < 0)
        return CS_ENOMEM;
    k->offers[k->n_offers++] = (fc_offer){s, ms, n};
    return 0;
}

static int add_agg(const cs_feeds_cache *c, compose *k, const fc_agg *a, int with_busiest)
{
    const fc_feed *fd = &c->feeds[a->feed];
    cs_feed_summary *s;
    int rc;

    if ((rc = cs__feeds_summary(k->fs, &fd->ep, fd->side, &s)) < 0)
        return rc;
    s->packets += a->packets;
    s->data_packets += a->data_packets;
    s->heartbeats += a->heartbeats;
    s->retrans_data += a->retrans_data;
    s->messages += a->messages;
    s->unknown_types += a->unknown_types;
    for (uint32_t i = 0; i < a->n_types; i++)
        s->by_type[a->types[i].t] += a->types[i].n;
    s->races += a->n_leads + a->races_lost;
    s->races_won += a->n_leads;
    if ((rc = cs__feeds_add_leads(s, a->leads, a->n_leads)) < 0 ||
        (with_busiest && a->best > 0 && (rc = offer(k, s, a->best_ms, a->best)) < 0))
        return rc;
    if (cs_grow((void **)&k->sess, &k->cap_sess, k->n_sess + a->n_sess, sizeof(*k->sess)) < 0)
        return CS_ENOMEM;
    for (uint32_t i = 0; i < a->n_sess; i++)
        k->sess[k->n_sess++] = (fc_sess_note){s, a->sess[i].pos, a->sess[i].idx};
    return 0;
}

/* The ms still in "f"'s rings, counted so far, as candidates. */
static int add_rings(const cs_feeds_cache *c, compose *k, const fc_file *f, int64_t s0, int64_t s1,
                     const int64_t *shared, size_t n_shared)
{
    for (uint32_t feed = 0; feed < f->n_rings; feed++) {
        const fc_ring *g = &f->rings[feed];
        cs_feed_summary *s = NULL;
        int rc;

        for (int64_t ms = g->head_ms - WINDOW + 1; g->started && ms <= g->head_ms; ms++) {
            int64_t sec = floor_div(ms, MS_PER_SEC);
            uint64_t n = g->n[(uint64_t)ms % WINDOW];

            if (n == 0 || sec < s0 || sec >= s1 || is_shared(shared, n_shared, sec))
                continue;
            if (s == NULL &&
                (rc = cs__feeds_summary(k->fs, &c->feeds[feed].ep, c->feeds[feed].side, &s)) < 0)
                return rc;
            if ((rc = offer(k, s, ms, n)) < 0)
                return rc;
        }
    }
    return 0;
}

static int cmp_sess_note(const void *a, const void *b)
{
    const fc_sess_note *x = a, *y = b;

    if (x->s != y->s)
        return (uintptr_t)x->s < (uintptr_t)y->s ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Adds the buckets' sessions after those read from records, in store
 * order; 1 if their order cannot be known (see the top). */
static int add_sessions(const cs_feeds_cache *c, compose *k)
{
    cs_qsort(k->sess, k->n_sess, sizeof(*k->sess), cmp_sess_note);
    for (size_t i = 0; i < k->n_sess; i++) {
        cs_feed_summary *s = k->sess[i].s;
        const char *name = c->sess[k->sess[i].idx];

        if (i == 0 || k->sess[i - 1].s != s) { /* the first of this feed's */
            size_t j = i;

            for (; j < k->n_sess && k->sess[j].s == s && s->n_sessions > 0; j++)
                if (s->n_sessions > 1 || strcmp(s->session[0], c->sess[k->sess[j].idx]) != 0)
                    return 1;
        }
        cs__feeds_session(s, name, strlen(name));
    }
    return 0;
}

/* Second "sec", which two groups hold ITCH messages of: its ms counted
 * from the records, each ms offered as its feed's busiest. */
typedef struct ms_count {
    compose *k;
    int64_t sec;
    cs_feed_summary **feed; /* by slot: n_feeds * MS_PER_SEC counts after */
    uint64_t *n;
    size_t n_feeds, cap_feeds, cap_n;
    int err;
} ms_count;

static int count_itch(void *ud, const cs_message *m)
{
    ms_count *mc = ud;
    cs_feed_summary *s;
    size_t i = 0;

    if ((mc->err = cs__feeds_summary(mc->k->fs, &m->ep, !m->dir, &s)) < 0)
        return 1;
    while (i < mc->n_feeds && mc->feed[i] != s)
        i++;
    if (i == mc->n_feeds) {
        if (cs_grow((void **)&mc->feed, &mc->cap_feeds, i + 1, sizeof(*mc->feed)) < 0 ||
            cs_grow((void **)&mc->n, &mc->cap_n, (i + 1) * MS_PER_SEC, sizeof(*mc->n)) < 0)
            return (mc->err = CS_ENOMEM), 1;
        memset(mc->n + i * MS_PER_SEC, 0, MS_PER_SEC * sizeof(*mc->n));
        mc->feed[mc->n_feeds++] = s;
    }
    mc->n[i * MS_PER_SEC + (size_t)(floor_div(m->ts_ns, NS_PER_MS) - mc->sec * MS_PER_SEC)]++;
    return 0;
}

static int count_second(cs_msgreader *r, compose *k, int64_t sec)
{
    ms_count mc = {.k = k, .sec = sec};
    cs_msgfilter mf;
    int rc;

    cs_msgfilter_init(&mf);
    mf.proto = "itch";
    mf.fields_proto = "moldudp64"; /* heads only */
    mf.after = sec * NS_PER_SEC;
    mf.before = (sec + 1) * NS_PER_SEC;
    if ((rc = cs_msgreader_messages(r, &mf, count_itch, &mc)) >= 0)
        rc = mc.err;
    for (size_t i = 0; i < mc.n_feeds && rc >= 0; i++)
        for (int64_t ms = 0; ms < MS_PER_SEC && rc >= 0; ms++)
            if (mc.n[i * MS_PER_SEC + (size_t)ms] > 0)
                rc = offer(k, mc.feed[i], sec * MS_PER_SEC + ms, mc.n[i * MS_PER_SEC + (size_t)ms]);
    cs_free(mc.feed);
    cs_free(mc.n);
    return rc;
}

/* Reads from records what the buckets do not answer, ascending: the part
 * of a second at each end; counts the ms of the seconds groups share. */
static int read_records(cs_msgreader *r, compose *k, int64_t after, int64_t before, int64_t s0,
                        int64_t s1, const int64_t *shared, size_t n_shared)
{
    int rc;

    if (after != INT64_MIN && after < s0 * NS_PER_SEC &&
        (rc = cs__feeds_read_range(k->fs, r, after, s0 * NS_PER_SEC)) < 0)
        return rc;
    for (size_t i = 0; i < n_shared; i++)
        if ((rc = count_second(r, k, shared[i])) < 0)
            return rc;
    if (before != INT64_MAX && s1 * NS_PER_SEC < before &&
        (rc = cs__feeds_read_range(k->fs, r, s1 * NS_PER_SEC, before)) < 0)
        return rc;
    return cs__feeds_read_gaps(k->fs, r, after, before);
}

/* The summaries of [after, before) into "k->fs": 0, 1 if the cache cannot
 * answer, or an error. */
static int compose_range(const cs_feeds_cache *c, cs_msgreader *r, compose *k, int64_t after,
                         int64_t before)
{
    int64_t s0, s1, lo, hi, *shared = NULL;
    size_t n_shared = 0;
    int rc;

    if (before <= after || after > INT64_MAX - 2 * NS_PER_SEC ||
        before < INT64_MIN + 2 * NS_PER_SEC)
        return 1; /* (cs_feeds_read() answers these at once) */
    /* whole seconds s0 .. s1 - 1, touched seconds lo .. hi - 1 */
    s0 = after == INT64_MIN ? INT64_MIN : ceil_div(after, NS_PER_SEC);
    s1 = before == INT64_MAX ? INT64_MAX : floor_div(before, NS_PER_SEC);
    lo = floor_div(after, NS_PER_SEC);
    hi = before == INT64_MAX ? INT64_MAX : ceil_div(before, NS_PER_SEC);
    if (s0 >= s1)
        return 1; /* no whole second */
    if (range_unsure(c, lo, hi, after, before))
        return 1;
    if ((rc = shared_seconds(c, s0, s1, &shared, &n_shared)) != 0 ||
        (rc = read_records(r, k, after, before, s0, s1, shared, n_shared)) < 0)
        goto out;
    for (size_t i = 0; i < c->n_files && rc == 0; i++) {
        const fc_file *f = c->files[i];

        for (size_t j = 0; j < f->n_b && rc == 0; j++) {
            int shared_sec = is_shared(shared, n_shared, f->b[j].sec);

            if (f->b[j].sec >= s0 && f->b[j].sec < s1)
                for (size_t a = 0; a < f->b[j].n_aggs && rc == 0; a++)
                    rc = add_agg(c, k, &f->b[j].aggs[a], !shared_sec);
        }
        if (rc == 0)
            rc = add_rings(c, k, f, s0, s1, shared, n_shared);
    }
    if (rc == 0)
        rc = add_sessions(c, k);
out:
    cs_free(shared);
    return rc;
}

/* ---- the cache -------------------------------------------------------------- */

int cs_feeds_cache_new(cs_feeds_cache **out)
{
    cs_feeds_cache *c = cs_calloc(1, sizeof(*c));

    *out = c;
    if (c == NULL)
        return CS_ENOMEM;
    c->max_req_ts = c->sight_floor = INT64_MIN;
    return 0;
}

void cs_feeds_cache_free(cs_feeds_cache *c)
{
    if (c == NULL)
        return;
    cache_empty(c);
    cs_free(c->files);
    cs_free(c->feeds);
    cs_free(c->sess);
    cs_free(c->dir);
    cs_free(c->sb.buf);
    cs__recdec_free(&c->dec);
    cs_free(c);
}

/* The answer from the cache: 0, 1 if it cannot give one, or an error. */
static int cache_answer(cs_feeds_cache *c, cs_msgreader *r, int64_t after, int64_t before,
                        cs_feeds **out)
{
    compose k;
    int rc;

    memset(&k, 0, sizeof(k));
    if ((rc = cache_update(c, r->dir)) != 0 || (rc = cs_feeds_new(&k.fs)) < 0)
        return rc;
    if ((rc = compose_range(c, r, &k, after, before)) == 0) {
        cs_feeds_finish(k.fs);
        for (size_t i = 0; i < k.n_offers; i++)
            cs__feeds_offer_busiest(k.offers[i].s, k.offers[i].ms, k.offers[i].n);
        *out = k.fs;
        k.fs = NULL;
    }
    cs_feeds_free(k.fs);
    cs_free(k.sess);
    cs_free(k.offers);
    return rc;
}

int cs_feeds_cache_read(cs_feeds_cache *c, cs_msgreader *r, int64_t after, int64_t before,
                        cs_feeds **out)
{
    int rc;

    *out = NULL;
    if ((rc = cache_answer(c, r, after, before, out)) == 0) {
        c->st.cached++;
        return 0;
    }
    if (rc < 0 && rc != CS_ENOMEM)
        return rc;
    if (rc == CS_ENOMEM) /* what it holds may be half made: start again next time */
        cache_empty(c), cs_free(c->dir), c->dir = NULL;
    c->st.whole++;
    return cs_feeds_read(r, after, before, out);
}

void cs_feeds_cache_stats_get(const cs_feeds_cache *c, cs_feeds_cache_stats *st)
{
    *st = c->st;
    st->bytes = c->bytes;
}

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cs_feeds_cache *process_cache;

int cs_feeds_read_cached(cs_msgreader *r, int64_t after, int64_t before, cs_feeds **out)
{
    int rc;

    pthread_mutex_lock(&cache_lock);
    if (process_cache == NULL && cs_feeds_cache_new(&process_cache) < 0) {
        pthread_mutex_unlock(&cache_lock);
        return cs_feeds_read(r, after, before, out);
    }
    rc = cs_feeds_cache_read(process_cache, r, after, before, out);
    pthread_mutex_unlock(&cache_lock);
    return rc;
}

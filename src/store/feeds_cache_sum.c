/*
 * feeds_cache_sum.c - answering a range [after, before) from the feeds
 * cache (feeds_cache_int.h says why the sum is cs_feeds_read()'s answer).
 *
 * How: the whole seconds s0 .. s1 - 1 inside the range are summed from
 * their parts; the partial seconds at its ends, and the per-ms counts of a
 * second two groups both hold ITCH messages of, are read from the records
 * by feeds.c; gaps as cs_feeds_read() reads them. The sessions of the
 * parts come after those read from records, in store order; the busiest-ms
 * candidates are offered once the summaries are finished.
 *
 * It does not answer (1) a range with no whole second, one touching a
 * second marked inexact or an ITCH message that may be late, or one whose
 * sessions cannot be ordered: the caller reads it whole.
 * Threading: reads "c" only (its owner's lock held); "r" is the caller's.
 */
#include "store/feeds_cache_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/sort.h"

#include <stdlib.h>
#include <string.h>

/* ---- answering a range ------------------------------------------------------ */

/* Does any ITCH message of [after, before) (seconds lo .. hi - 1) risk
 * being late, or any second there being inexact? */
static int range_unsure(const cs__fc *c, int64_t lo, int64_t hi, int64_t after, int64_t before)
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
static int shared_seconds(const cs__fc *c, int64_t s0, int64_t s1, int64_t **out, size_t *n_out)
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

static int add_agg(const cs__fc *c, compose *k, const fc_agg *a, int with_busiest)
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
static int add_rings(const cs__fc *c, compose *k, const fc_file *f, int64_t s0, int64_t s1,
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
static int add_sessions(const cs__fc *c, compose *k)
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
static int compose_range(const cs__fc *c, cs_msgreader *r, compose *k, int64_t after,
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

int cs__fc_answer(const cs__fc *c, cs_msgreader *r, int64_t after, int64_t before, cs_feeds **out)
{
    compose k;
    int rc;

    memset(&k, 0, sizeof(k));
    if ((rc = cs_feeds_new(&k.fs)) < 0)
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

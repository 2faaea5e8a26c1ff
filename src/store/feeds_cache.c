/*
 * feeds_cache.c - the life of a feeds cache (feeds_cache.h): who builds it,
 * who may use it and when, and the fallback to cs_feeds_read().
 *
 * A server's cache has a builder thread of its own:
 *
 *   start ─► thread: data NULL ─► build a fresh cs__fc alone (no lock
 *            held: the first read of a large store takes seconds), read
 *            again what the store gained meanwhile, publish it under the
 *            lock ─► every REFRESH_MS: under the lock, read what the files
 *            gained; a replaced group drops the data (built again at once)
 *
 *   request: lock ─► no data (cold, building, dropped)? unlock, answer
 *            with cs_feeds_read() ─► else read what the files gained since
 *            the last update (little: the thread keeps it current), sum
 *            the range, unlock. Where the cache cannot answer the range
 *            (feeds_cache_sum.c), or it finds a group replaced, the request
 *            is answered by cs_feeds_read() too, the lock released.
 *
 * So no request waits for a build: a request waits at most for another
 * request's or the thread's update and sum (milliseconds), and the answer
 * is always cs_feeds_read()'s over the store as the request found it.
 * While a request reads the store whole, a build pauses, 10 s in all at
 * most: two passes over the same gigabytes at once each take about twice
 * as long (a first /feeds of a 3.4 M-packet store read beside a build took
 * 1.34 s instead of 0.66 s), and requests come first.
 *
 * A cache without a thread (cs_feeds_cache_new(), for tests) is brought up
 * to date by each request, rebuilt in place when a group was replaced.
 *
 * Invariants: "data" is only touched with "lock" held, except by the
 * thread while it builds one not yet published; "stopping" set, the
 * thread ends its build at the next record (cs__fc.cancel) and returns.
 * Threading: see feeds_cache.h. Ownership: the cache owns its data.
 */
#include "store/feeds_cache.h"

#include "core/alloc.h"
#include "core/error.h"
#include "store/feeds_cache_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define REFRESH_MS 1000 /* the thread's updates, apart */

struct cs_feeds_cache {
    pthread_mutex_t lock; /* guards what follows */
    pthread_cond_t wake;  /* the thread's: stop, or the data was dropped */
    cs__fc *data;         /* NULL: cold, being built or dropped (with a thread) */
    char *dir;            /* the messages directory the thread follows */
    int has_thread;
    int gave_up; /* the thread's build outgrew CACHE_BYTES_MAX: all read whole */
    atomic_int stopping;
    atomic_int reading_whole; /* requests in cs_feeds_read(): a build waits */
    pthread_t thread;
    cs_feeds_cache_stats st;
};

/* ---- life ---------------------------------------------------------------- */

static int cache_alloc(cs_feeds_cache **out)
{
    cs_feeds_cache *c = cs_calloc(1, sizeof(*c));
    pthread_condattr_t ca;

    *out = c;
    if (c == NULL)
        return CS_ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->wake, &ca);
    pthread_condattr_destroy(&ca);
    return 0;
}

int cs_feeds_cache_new(cs_feeds_cache **out)
{
    return cache_alloc(out);
}

void cs_feeds_cache_free(cs_feeds_cache *c)
{
    if (c == NULL)
        return;
    if (c->has_thread) {
        pthread_mutex_lock(&c->lock);
        atomic_store(&c->stopping, 1);
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->thread, NULL);
    }
    cs__fc_free(c->data);
    cs_free(c->dir);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    cs_free(c);
}

void cs_feeds_cache_stop(cs_feeds_cache *c)
{
    cs_feeds_cache_free(c);
}

/* ---- the builder thread ---------------------------------------------------- */

/* A fresh cache of "c->dir" into "*out", built without the lock: 0, or
 * CS__FC_UNCACHED, CS__FC_REPLACED or an error (CS_EBUSY: stopped). */
static int build_fresh(cs_feeds_cache *c, cs__fc **out)
{
    cs__fc *d;
    int rc;

    *out = NULL;
    if ((rc = cs__fc_new(&d)) < 0)
        return rc;
    d->cancel = &c->stopping;
    d->yield_to = &c->reading_whole;
    /* the second update reads what the store gained during the first */
    if ((rc = cs__fc_update(d, c->dir, 1)) == 0 && (rc = cs__fc_update(d, c->dir, 1)) == 0) {
        d->cancel = d->yield_to = NULL; /* published: updated under the lock, whole */
        *out = d;
        return 0;
    }
    cs__fc_free(d);
    return rc;
}

/* Waits REFRESH_MS or until woken; "c->lock" held. */
static void wait_refresh(cs_feeds_cache *c)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += REFRESH_MS / 1000;
    ts.tv_nsec += (long)(REFRESH_MS % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    if (!atomic_load(&c->stopping))
        pthread_cond_timedwait(&c->wake, &c->lock, &ts);
}

/* Drops the published data (a group replaced, or it ran out of memory):
 * requests read whole until the thread has built it again. "c->lock" held. */
static void drop_data(cs_feeds_cache *c)
{
    cs__fc_free(c->data);
    c->data = NULL;
    c->st.rebuilds++;
    pthread_cond_signal(&c->wake);
}

/* One round of the thread, "c->lock" held (released while it builds):
 * 1 if it should go round again at once. */
static int build_round(cs_feeds_cache *c)
{
    cs__fc *fresh;
    int rc;

    if (c->data == NULL && !c->gave_up) {
        pthread_mutex_unlock(&c->lock);
        rc = build_fresh(c, &fresh);
        pthread_mutex_lock(&c->lock);
        if (rc == 0 && !atomic_load(&c->stopping)) {
            c->data = fresh;
            c->st.builds++;
            return 0;
        }
        cs__fc_free(fresh);
        c->gave_up = rc == CS__FC_UNCACHED;
        return rc == CS__FC_REPLACED; /* replaced while read: again */
    }
    if (c->data != NULL) {
        rc = cs__fc_update(c->data, c->dir, 0);
        if (rc == CS__FC_REPLACED || rc == CS_ENOMEM) {
            drop_data(c);
            return 1;
        }
    }
    return 0;
}

static void *build_loop(void *arg)
{
    cs_feeds_cache *c = arg;

    pthread_mutex_lock(&c->lock);
    while (!atomic_load(&c->stopping))
        if (!build_round(c))
            wait_refresh(c);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int cs_feeds_cache_start(const char *store_dir, cs_feeds_cache **out)
{
    size_t len = strlen(store_dir) + sizeof("/messages");
    cs_feeds_cache *c;
    int rc;

    if ((rc = cache_alloc(&c)) < 0)
        return rc;
    if ((c->dir = cs_malloc(len)) == NULL) {
        cs_feeds_cache_free(c);
        return CS_ENOMEM;
    }
    snprintf(c->dir, len, "%s/messages", store_dir); /* as cs_msgreader_open() */
    if (pthread_create(&c->thread, NULL, build_loop, c) != 0) {
        cs_feeds_cache_free(c);
        return cs_error_set(CS_ENOMEM, "cannot start the feeds cache's thread");
    }
    c->has_thread = 1;
    *out = c;
    return 0;
}

/* ---- answering ------------------------------------------------------------- */

/* The answer from the data, "c->lock" held: 0, 1 if it cannot give one,
 * or an error. */
static int answer_locked(cs_feeds_cache *c, cs_msgreader *r, int64_t after, int64_t before,
                         cs_feeds **out)
{
    int rc;

    if (!c->has_thread && c->data == NULL && (rc = cs__fc_new(&c->data)) < 0)
        return rc;
    if (c->data == NULL || (c->has_thread && strcmp(c->dir, r->dir) != 0))
        return 1;
    if ((rc = cs__fc_update(c->data, r->dir, !c->has_thread)) == CS__FC_REPLACED) {
        drop_data(c); /* the thread builds it again, without a request waiting */
        return 1;
    }
    if (rc == 0)
        rc = cs__fc_answer(c->data, r, after, before, out);
    if (rc == CS_ENOMEM) { /* what it holds may be half made: start again */
        if (c->has_thread)
            drop_data(c);
        else
            cs__fc_free(c->data), c->data = NULL;
        return 1;
    }
    return rc;
}

int cs_feeds_cache_read(cs_feeds_cache *c, cs_msgreader *r, int64_t after, int64_t before,
                        cs_feeds **out)
{
    int rc;

    *out = NULL;
    pthread_mutex_lock(&c->lock);
    rc = answer_locked(c, r, after, before, out);
    if (rc == 0)
        c->st.cached++;
    else if (rc > 0)
        c->st.whole++;
    if (rc <= 0) {
        pthread_mutex_unlock(&c->lock);
        return rc;
    }
    atomic_fetch_add(&c->reading_whole, 1);
    pthread_mutex_unlock(&c->lock);
    rc = cs_feeds_read(r, after, before, out);
    atomic_fetch_sub(&c->reading_whole, 1);
    return rc;
}

void cs_feeds_cache_stats_get(cs_feeds_cache *c, cs_feeds_cache_stats *st)
{
    pthread_mutex_lock(&c->lock);
    *st = c->st;
    if (c->data != NULL) {
        st->rebuilds += c->data->rebuilds;
        st->bytes = c->data->bytes;
        st->ready = !c->data->over;
    }
    pthread_mutex_unlock(&c->lock);
}

/*
 * live.c - the shared live state: status, Prometheus text, event ring.
 *
 * The ring holds the last CS_LIVE_RING events; event number "seq" lives in
 * slot seq % CS_LIVE_RING. "next_seq" is the number the next event gets, so
 * the ring holds [max(1, next_seq - CS_LIVE_RING), next_seq). Publishing
 * frees the JSON of the slot it overwrites and broadcasts the condition
 * variable; a reader whose cursor fell below the oldest kept event jumps to
 * it and is told how many it skipped. Readers copy an event out under the
 * mutex, so nothing they hold is ever freed under them. Readers say when
 * they start and end (an atomic count): a reader sees only events
 * published after it started, so while none is connected the publisher
 * need not format events at all (cs_live_has_readers).
 */
#include "server/live.h"

#include "core/alloc.h"
#include "core/error.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

typedef struct live_slot {
    char type[CS_LIVE_TYPE_MAX];
    char *json;
    size_t len;
} live_slot;

struct cs_live {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    cs_live_status status;
    char *prom;
    size_t prom_len;
    live_slot ring[CS_LIVE_RING];
    uint64_t next_seq;
    _Atomic unsigned readers;
};

int cs_live_new(cs_live **out)
{
    cs_live *l = cs_calloc(1, sizeof(*l));
    pthread_condattr_t ca;

    if (l == NULL)
        return CS_ENOMEM;
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cond, &ca);
    pthread_condattr_destroy(&ca);
    l->next_seq = 1;
    l->status.version = "";
    *out = l;
    return 0;
}

void cs_live_free(cs_live *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < CS_LIVE_RING; i++)
        cs_free(l->ring[i].json);
    cs_free(l->prom);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->mu);
    cs_free(l);
}

void cs_live_set_status(cs_live *l, const cs_live_status *st)
{
    pthread_mutex_lock(&l->mu);
    l->status = *st;
    l->status.sources[sizeof(l->status.sources) - 1] = '\0';
    if (l->status.version == NULL)
        l->status.version = "";
    pthread_mutex_unlock(&l->mu);
}

void cs_live_get_status(cs_live *l, cs_live_status *st)
{
    pthread_mutex_lock(&l->mu);
    *st = l->status;
    pthread_mutex_unlock(&l->mu);
}

void cs_live_set_prometheus(cs_live *l, const char *text, size_t len)
{
    char *copy = cs_malloc(len + 1);

    if (copy == NULL)
        return;
    memcpy(copy, text, len);
    copy[len] = '\0';
    pthread_mutex_lock(&l->mu);
    cs_free(l->prom);
    l->prom = copy;
    l->prom_len = len;
    pthread_mutex_unlock(&l->mu);
}

int cs_live_get_prometheus(cs_live *l, char **text, size_t *len)
{
    int rc = 0;

    pthread_mutex_lock(&l->mu);
    if (l->prom == NULL)
        rc = CS_ENOTFOUND;
    else if ((*text = cs_strndup(l->prom, l->prom_len)) == NULL)
        rc = CS_ENOMEM;
    else
        *len = l->prom_len;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void cs_live_publish(cs_live *l, const char *type, const char *json, size_t len)
{
    size_t tlen = type ? strlen(type) : 0;
    char *copy;
    live_slot *s;

    if (tlen == 0 || tlen >= CS_LIVE_TYPE_MAX || json == NULL || len == 0 ||
        len > CS_LIVE_EVENT_MAX || (copy = cs_malloc(len + 1)) == NULL)
        return;
    memcpy(copy, json, len);
    copy[len] = '\0';
    pthread_mutex_lock(&l->mu);
    s = &l->ring[l->next_seq % CS_LIVE_RING];
    cs_free(s->json);
    memcpy(s->type, type, tlen + 1);
    s->json = copy;
    s->len = len;
    l->next_seq++;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->mu);
}

uint64_t cs_live_reader_begin(cs_live *l)
{
    uint64_t seq;

    atomic_fetch_add(&l->readers, 1);
    pthread_mutex_lock(&l->mu);
    seq = l->next_seq;
    pthread_mutex_unlock(&l->mu);
    return seq;
}

void cs_live_reader_end(cs_live *l)
{
    atomic_fetch_sub(&l->readers, 1);
}

int cs_live_has_readers(cs_live *l)
{
    return atomic_load_explicit(&l->readers, memory_order_relaxed) > 0;
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Copies event "*cursor" out (the mutex is held and the event exists). */
static int take_locked(cs_live *l, uint64_t *cursor, cs_live_event *ev, uint64_t *skipped)
{
    uint64_t oldest = l->next_seq > CS_LIVE_RING ? l->next_seq - CS_LIVE_RING : 1;
    const live_slot *s;

    if (*cursor < oldest) {
        if (skipped)
            *skipped += oldest - *cursor;
        *cursor = oldest;
    }
    s = &l->ring[*cursor % CS_LIVE_RING];
    if ((ev->json = cs_strndup(s->json, s->len)) == NULL)
        return CS_ENOMEM;
    ev->seq = *cursor;
    memcpy(ev->type, s->type, sizeof(ev->type));
    ev->len = s->len;
    (*cursor)++;
    return 1;
}

int cs_live_next(cs_live *l, uint64_t *cursor, int timeout_ms, cs_live_event *ev, uint64_t *skipped)
{
    struct timespec deadline;
    int rc = 0;

    deadline_after(&deadline, timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&l->mu);
    if (*cursor > l->next_seq)
        *cursor = l->next_seq;
    while (*cursor == l->next_seq && rc == 0)
        if (timeout_ms <= 0 || pthread_cond_timedwait(&l->cond, &l->mu, &deadline) == ETIMEDOUT)
            rc = -1;
    rc = *cursor < l->next_seq ? take_locked(l, cursor, ev, skipped) : 0;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/*
 * pktqueue.c - the capture-to-pipeline ring of pktqueue.h.
 *
 * One mutex guards the read and write offsets; producers copy a whole batch
 * while holding it (the copy is a memcpy per packet, a few microseconds per
 * batch), the consumer takes it only to publish how far it has read. A pop
 * returns a pointer into the ring: the consumer releases the previous
 * record at the next pop, so a packet's bytes stay put while it is used.
 * Records are 8-byte aligned; a record that would cross the end of the
 * ring starts again at offset 0 after a wrap marker.
 */
#include "source/pktqueue.h"

#include "core/alloc.h"
#include "core/error.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

typedef struct rec_hdr {
    uint32_t bytes; /* whole record, header included; 0 = wrap marker */
    uint32_t caplen;
    uint32_t wirelen;
    uint16_t linktype;
    uint16_t tap;
    int64_t ts_ns;
} rec_hdr;

struct cs_pktqueue {
    pthread_mutex_t mu;
    pthread_cond_t readable, writable;
    uint8_t *ring;
    size_t size;
    size_t rd, wr;  /* offsets; rd == wr: empty */
    size_t used;    /* bytes between rd and wr, wrap padding included */
    size_t pending; /* bytes of the record handed out by the last pop */
    int closed;
};

int cs_pktqueue_new(size_t bytes, cs_pktqueue **out)
{
    cs_pktqueue *q = cs_calloc(1, sizeof(*q));

    *out = NULL;
    if (q == NULL)
        return CS_ENOMEM;
    q->size = bytes & ~(size_t)7;
    q->ring = cs_malloc(q->size);
    if (q->ring == NULL) {
        cs_free(q);
        return CS_ENOMEM;
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->readable, NULL);
    pthread_cond_init(&q->writable, NULL);
    *out = q;
    return 0;
}

void cs_pktqueue_free(cs_pktqueue *q)
{
    if (q == NULL)
        return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->readable);
    pthread_cond_destroy(&q->writable);
    cs_free(q->ring);
    cs_free(q);
}

static size_t rec_size(uint32_t caplen)
{
    return (sizeof(rec_hdr) + caplen + 7) & ~(size_t)7;
}

/* Room for a record of "need" bytes at the write offset (wrapping if the
 * tail is too short); returns its offset or SIZE_MAX. Lock held. */
static size_t ring_reserve(cs_pktqueue *q, size_t need)
{
    size_t tail = q->size - q->wr;

    if (need > q->size / 2)
        return SIZE_MAX;
    if (tail >= need) {
        if (q->used + need > q->size)
            return SIZE_MAX;
        return q->wr;
    }
    if (q->used + tail + need > q->size)
        return SIZE_MAX;
    if (tail >= sizeof(uint32_t))
        memset(q->ring + q->wr, 0, sizeof(uint32_t)); /* wrap marker */
    q->used += tail;
    q->wr = 0;
    return 0;
}

static void ring_put(cs_pktqueue *q, size_t at, const cs_packet *p, size_t need)
{
    rec_hdr h = {(uint32_t)need, p->caplen, p->wirelen, p->linktype, p->tap, p->ts_ns};

    memcpy(q->ring + at, &h, sizeof(h));
    memcpy(q->ring + at + sizeof(h), p->data, p->caplen);
    q->wr = at + need;
    if (q->wr == q->size)
        q->wr = 0;
    q->used += need;
}

unsigned cs_pktqueue_push(cs_pktqueue *q, const cs_batch *b, int lossy)
{
    unsigned dropped = 0;

    pthread_mutex_lock(&q->mu);
    for (unsigned i = 0; i < b->n; i++) {
        size_t need = rec_size(b->pkts[i].caplen), at;
        while ((at = ring_reserve(q, need)) == SIZE_MAX && !lossy && !q->closed &&
               need <= q->size / 2)
            pthread_cond_wait(&q->writable, &q->mu);
        if (at == SIZE_MAX || q->closed) {
            dropped += b->n - i; /* the rest of the batch: keep the order */
            break;
        }
        ring_put(q, at, &b->pkts[i], need);
    }
    pthread_cond_signal(&q->readable);
    pthread_mutex_unlock(&q->mu);
    return dropped;
}

static void release_pending(cs_pktqueue *q)
{
    if (q->pending == 0)
        return;
    q->used -= q->pending;
    q->pending = 0;
    pthread_cond_broadcast(&q->writable);
}

/* Skips a wrap marker or the unusable tail at the read offset. Lock held. */
static void ring_skip_wrap(cs_pktqueue *q)
{
    size_t tail = q->size - q->rd;
    uint32_t bytes;

    if (q->used == 0)
        return;
    if (tail < sizeof(rec_hdr)) {
        q->used -= tail;
        q->rd = 0;
        return;
    }
    memcpy(&bytes, q->ring + q->rd, sizeof(bytes));
    if (bytes == 0) {
        q->used -= tail;
        q->rd = 0;
    }
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

int cs_pktqueue_pop(cs_pktqueue *q, cs_packet *p, int wait_ms)
{
    struct timespec until;
    rec_hdr h;

    pthread_mutex_lock(&q->mu);
    release_pending(q);
    ring_skip_wrap(q);
    deadline_in(&until, wait_ms);
    while (q->used == 0 && !q->closed) {
        if (pthread_cond_timedwait(&q->readable, &q->mu, &until) != 0 && q->used == 0) {
            pthread_mutex_unlock(&q->mu);
            return CS_EBUSY;
        }
        ring_skip_wrap(q);
    }
    if (q->used == 0) {
        pthread_mutex_unlock(&q->mu);
        return 0;
    }
    memcpy(&h, q->ring + q->rd, sizeof(h));
    *p = (cs_packet){.ts_ns = h.ts_ns,
                     .caplen = h.caplen,
                     .wirelen = h.wirelen,
                     .linktype = h.linktype,
                     .tap = h.tap,
                     .data = q->ring + q->rd + sizeof(h)};
    q->pending = h.bytes;
    q->rd += h.bytes;
    if (q->rd == q->size)
        q->rd = 0;
    pthread_mutex_unlock(&q->mu);
    return 1;
}

void cs_pktqueue_close(cs_pktqueue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->readable);
    pthread_cond_broadcast(&q->writable);
    pthread_mutex_unlock(&q->mu);
}

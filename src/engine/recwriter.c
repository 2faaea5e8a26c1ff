/*
 * recwriter.c - the results writer thread (recwriter.h).
 *
 *   sink's thread:    put ─► encode into "fill" ─┐ swap when the writer
 *                                                │ is idle (never waits)
 *   writer thread:    "drain" ─► cs_msgstore_put_encoded ─► flush
 *
 * Two buffers of RW_BUFSIZE bytes: a put appends its record to "fill";
 * when it is full and the writer still busy with "drain", the record is
 * dropped (CS_EBUSY: the caller counts it). The last quarter of "fill"
 * takes only measurements, gaps and unmatched reports, so that a flood of
 * messages (ITCH at millions a second) costs stored messages before it
 * costs a measurement. A record in a buffer is a small header followed by
 * the record as the message store encodes it (cs_msgstore_encode_*: the
 * store's one serialization, layout in store/msgstore_format.c); the
 * writer hands those bytes to cs_msgstore_put_encoded(), which appends
 * them as they are:
 *
 *   ┌ u32 n ┬ u32 kind (REC_*) ┬ n bytes: the store's record payload ┐
 *
 * Encoding copies everything the record points to (fields, refs,
 * strings), so nothing in a buffer points back into the analysis; a
 * record too large to store is refused when it is encoded. A mutex guards
 * the buffers' hand-over and the counters; "writing" and "fill_seen" are
 * atomics so that cs_recwriter_behind reads them from any thread.
 */
#include "engine/recwriter.h"

#include "analytics/analyzer.h"
#include "core/alloc.h"
#include "core/error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define RW_BUFSIZE (16u << 20)
#define RW_BULK_LIMIT (RW_BUFSIZE - RW_BUFSIZE / 4)
#define RW_HDR (2 * sizeof(uint32_t)) /* u32 n, u32 kind */

enum { REC_MESSAGE = 1, REC_MEASUREMENT, REC_UNMATCHED_REQ, REC_UNMATCHED_RESP, REC_GAP };

struct cs_recwriter {
    cs_msgstore *ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* drain filled, flush asked, or stop */
    pthread_cond_t idle; /* drain written */
    uint8_t *fill, *drain;
    size_t fill_used, drain_used;
    int flush_asked, stop, busy;
    _Atomic int writing;      /* busy, readable without the lock */
    _Atomic size_t fill_seen; /* fill_used, for cs_recwriter_behind */
    int err;                  /* first message-store error */
    cs_recwriter_counts n;    /* under the lock */
};

static void rec_set_hdr(uint8_t *rec, size_t n, int kind)
{
    uint32_t h[2] = {(uint32_t)n, (uint32_t)kind};

    memcpy(rec, h, sizeof(h));
}

static uint32_t rec_hdr(const uint8_t *rec, int which)
{
    uint32_t h[2];

    memcpy(h, rec, sizeof(h));
    return h[which];
}

/* The message store's file kind of a record of kind "kind" (REC_*). */
static char rec_store_kind(uint32_t kind)
{
    return kind == REC_MESSAGE ? 'm' : kind == REC_MEASUREMENT ? 'l' : kind == REC_GAP ? 'g' : 'u';
}

/* Writer thread: hands one encoded record to the message store. */
static int store_record(cs_msgstore *ms, const uint8_t *rec, cs_recwriter_counts *done)
{
    uint32_t kind = rec_hdr(rec, 1);
    int rc = cs_msgstore_put_encoded(ms, rec_store_kind(kind), rec + RW_HDR, rec_hdr(rec, 0));

    if (rc == 0 && kind == REC_MESSAGE)
        done->messages_stored++;
    else if (rc == 0 && kind == REC_MEASUREMENT)
        done->measurements_stored++;
    else if (rc == 0 && kind == REC_GAP)
        done->gaps_stored++;
    return rc;
}

/* Writer thread: stores every record of "buf" (counters under the lock). */
static int store_buffer(cs_recwriter *rw, uint8_t *buf, size_t used)
{
    cs_recwriter_counts done = {0};
    int first = 0, rc;

    for (size_t at = 0; at < used; at += RW_HDR + rec_hdr(buf + at, 0)) {
        if ((rc = store_record(rw->ms, buf + at, &done)) < 0) {
            done.records_failed++;
            if (first == 0)
                first = rc;
            cs_error_clear();
        }
    }
    pthread_mutex_lock(&rw->mu);
    rw->n.messages_stored += done.messages_stored;
    rw->n.measurements_stored += done.measurements_stored;
    rw->n.gaps_stored += done.gaps_stored;
    rw->n.records_failed += done.records_failed;
    pthread_mutex_unlock(&rw->mu);
    return first;
}

static void *writer_main(void *arg)
{
    cs_recwriter *rw = arg;

    pthread_mutex_lock(&rw->mu);
    for (;;) {
        size_t used;
        uint64_t lost;
        int flush, rc;

        while (rw->drain_used == 0 && !rw->flush_asked && !rw->stop)
            pthread_cond_wait(&rw->work, &rw->mu);
        if (rw->drain_used == 0 && !rw->flush_asked && rw->stop)
            break;
        used = rw->drain_used;
        flush = rw->flush_asked;
        rw->flush_asked = 0;
        rw->busy = 1;
        atomic_store_explicit(&rw->writing, 1, memory_order_relaxed);
        pthread_mutex_unlock(&rw->mu);
        rc = store_buffer(rw, rw->drain, used);
        if (flush && rc == 0)
            rc = cs_msgstore_flush(rw->ms);
        lost = cs_msgstore_lost_records(rw->ms);
        pthread_mutex_lock(&rw->mu);
        rw->n.records_lost = lost;
        if (rc < 0 && rw->err == 0)
            rw->err = rc;
        rw->drain_used = 0;
        rw->busy = 0;
        atomic_store_explicit(&rw->writing, 0, memory_order_relaxed);
        pthread_cond_broadcast(&rw->idle);
    }
    pthread_mutex_unlock(&rw->mu);
    return NULL;
}

/* Hands "fill" to the writer if it is idle; with "flush", asks it to make
 * everything visible to readers too. Returns 0 if handed (or nothing to
 * hand), CS_EBUSY if the writer is still busy. Never waits. */
static int handoff(cs_recwriter *rw, int flush)
{
    uint8_t *t;
    int rc = CS_EBUSY;

    pthread_mutex_lock(&rw->mu);
    if (!rw->busy && rw->drain_used == 0) {
        t = rw->drain;
        rw->drain = rw->fill;
        rw->drain_used = rw->fill_used;
        rw->fill = t;
        rw->fill_used = 0;
        atomic_store_explicit(&rw->fill_seen, 0, memory_order_relaxed);
        rw->flush_asked |= flush;
        pthread_cond_signal(&rw->work);
        rc = 0;
    } else if (flush) {
        rw->flush_asked = 1; /* after the buffer it is writing */
    }
    pthread_mutex_unlock(&rw->mu);
    return rc;
}

/* Room for "size" bytes in "fill", or NULL (the record is dropped); a
 * plain message ("bulk") may use "fill" only up to RW_BULK_LIMIT. */
static uint8_t *reserve(cs_recwriter *rw, size_t size, int bulk)
{
    size_t limit = bulk ? RW_BULK_LIMIT : RW_BUFSIZE;
    uint8_t *at;

    if (size > limit || (rw->fill_used + size > limit && handoff(rw, 0) < 0))
        return NULL;
    at = rw->fill + rw->fill_used;
    rw->fill_used += size;
    atomic_store_explicit(&rw->fill_seen, rw->fill_used, memory_order_relaxed);
    return at;
}

/* Gives back the end of the "reserved" bytes at "rec" that the record
 * encoded there ("n" bytes, kind "kind") did not use. */
static void commit(cs_recwriter *rw, uint8_t *rec, size_t reserved, size_t n, int kind)
{
    rec_set_hdr(rec, n, kind);
    rw->fill_used -= reserved - (RW_HDR + n);
    atomic_store_explicit(&rw->fill_seen, rw->fill_used, memory_order_relaxed);
}

/* Waits until every record handed so far is stored (stop only). */
static void drain_wait(cs_recwriter *rw)
{
    pthread_mutex_lock(&rw->mu);
    while (rw->busy || rw->drain_used > 0 || rw->flush_asked)
        pthread_cond_wait(&rw->idle, &rw->mu);
    pthread_mutex_unlock(&rw->mu);
}

static void writer_free(cs_recwriter *rw)
{
    cs_free(rw->fill);
    cs_free(rw->drain);
    cs_free(rw);
}

int cs_recwriter_start(cs_msgstore *ms, cs_recwriter **out)
{
    cs_recwriter *rw = cs_calloc(1, sizeof(*rw));

    *out = NULL;
    if (rw == NULL)
        return cs_error_set(CS_ENOMEM, "cannot start the results writer");
    rw->ms = ms;
    rw->fill = cs_malloc(RW_BUFSIZE);
    rw->drain = cs_malloc(RW_BUFSIZE);
    if (rw->fill == NULL || rw->drain == NULL)
        goto nomem;
    pthread_mutex_init(&rw->mu, NULL);
    pthread_cond_init(&rw->work, NULL);
    pthread_cond_init(&rw->idle, NULL);
    if (pthread_create(&rw->thread, NULL, writer_main, rw) != 0) {
        pthread_mutex_destroy(&rw->mu);
        pthread_cond_destroy(&rw->work);
        pthread_cond_destroy(&rw->idle);
        goto nomem;
    }
    *out = rw;
    return 0;
nomem:
    writer_free(rw);
    return cs_error_set(CS_ENOMEM, "cannot start the results writer");
}

int cs_recwriter_put_message(cs_recwriter *rw, const cs_message *m, int unmatched)
{
    int kind = unmatched == 0                      ? REC_MESSAGE
               : unmatched == CS_UNMATCHED_REQUEST ? REC_UNMATCHED_REQ
                                                   : REC_UNMATCHED_RESP;
    size_t bound;
    uint8_t *rec;
    int rc;

    if ((rc = cs_msgstore_message_bound(m, &bound)) < 0)
        return rc;
    if ((rec = reserve(rw, RW_HDR + bound, kind == REC_MESSAGE)) == NULL)
        return CS_EBUSY;
    commit(rw, rec, RW_HDR + bound, cs_msgstore_encode_message(rec + RW_HDR, m, unmatched), kind);
    return 0;
}

int cs_recwriter_put_measurement(cs_recwriter *rw, const cs_measurement *ms)
{
    size_t size;
    uint8_t *rec;
    int rc;

    if ((rc = cs_msgstore_measurement_size(ms, &size)) < 0)
        return rc;
    if ((rec = reserve(rw, RW_HDR + size, 0)) == NULL)
        return CS_EBUSY;
    commit(rw, rec, RW_HDR + size, cs_msgstore_encode_measurement(rec + RW_HDR, ms),
           REC_MEASUREMENT);
    return 0;
}

int cs_recwriter_put_gap(cs_recwriter *rw, const cs_gap *g)
{
    size_t size;
    uint8_t *rec;
    int rc;

    if ((rc = cs_msgstore_gap_size(g, &size)) < 0)
        return rc;
    if ((rec = reserve(rw, RW_HDR + size, 0)) == NULL)
        return CS_EBUSY;
    commit(rw, rec, RW_HDR + size, cs_msgstore_encode_gap(rec + RW_HDR, g), REC_GAP);
    return 0;
}

void cs_recwriter_flush(cs_recwriter *rw)
{
    handoff(rw, 1); /* busy: flushed after its current buffer */
}

int cs_recwriter_behind(const cs_recwriter *rw)
{
    return atomic_load_explicit(&rw->fill_seen, memory_order_relaxed) > RW_BUFSIZE / 2 &&
           atomic_load_explicit(&rw->writing, memory_order_relaxed);
}

void cs_recwriter_counts_get(cs_recwriter *rw, cs_recwriter_counts *c)
{
    pthread_mutex_lock(&rw->mu);
    *c = rw->n;
    pthread_mutex_unlock(&rw->mu);
}

int cs_recwriter_stop(cs_recwriter *rw, cs_recwriter_counts *c)
{
    int rc;

    memset(c, 0, sizeof(*c));
    if (rw == NULL)
        return 0;
    drain_wait(rw);
    handoff(rw, 0);
    drain_wait(rw);
    pthread_mutex_lock(&rw->mu);
    rw->stop = 1;
    pthread_cond_signal(&rw->work);
    pthread_mutex_unlock(&rw->mu);
    pthread_join(rw->thread, NULL);
    rc = rw->err;
    *c = rw->n;
    pthread_mutex_destroy(&rw->mu);
    pthread_cond_destroy(&rw->work);
    pthread_cond_destroy(&rw->idle);
    writer_free(rw);
    return rc;
}

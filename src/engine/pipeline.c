/*
 * pipeline.c - drives one packet through store and analysis (see
 * pipeline.h).
 *
 * The analyzer's sink writes into the message store: messages,
 * measurements, unmatched reports and sequence gaps (gap records). A gap
 * goes to the observer (metrics) at once and to the store through the
 * recovery tracker (analytics/recovery.h), which also hears the numbers
 * every packet carried: a gap is stored when its numbers were seen on
 * another feed or in a retransmission (recovered) or after 1 s of capture
 * time (GAP_HOLD_NS) or at finish (not recovered), and runs two A/B feeds
 * both missed are stored as arbitrated gaps. A failure to store a
 * message (disk full...) is remembered and reported by
 * cs_pipeline_finish(); it never stops packet storage or analysis, since
 * "analysis never waits on storage and storage never waits on analysis".
 *
 * Batch use (ingest, reanalyze) writes messages from the calling thread.
 * With "lossy_store" (the live daemon) that would let a slow disk stall
 * the analysis - write() blocks once the kernel's dirty-page limit for
 * the disk is reached - so results go through a writer thread instead:
 *
 *   pipeline thread:  sink ─► encode into "fill" ─┐ swap when the writer
 *                                                 │ is idle (never waits)
 *   writer thread:    "drain" ─► cs_msgstore_put_encoded ─► flush
 *
 * Two buffers of RW_BUFSIZE bytes: the pipeline appends each record to
 * "fill"; when it is full and the writer still busy with "drain", the
 * record is dropped and counted in records_not_stored. Packets give way
 * first: while the writer is behind (half of "fill" waiting), packets are
 * not stored (counted in not_stored) so that the disk's bandwidth goes to
 * the much smaller records. Messages give way next: the last quarter of
 * "fill" takes only measurements, gaps and unmatched reports, so that a
 * flood of messages (ITCH at millions a second) costs stored messages,
 * counted, before it costs a measurement. A record in a buffer is a small header
 * followed by the record as the message store encodes it
 * (cs_msgstore_encode_message / _measurement: the store's one
 * serialization, layout in store/msgstore_format.c); the writer hands
 * those bytes to cs_msgstore_put_encoded(), which appends them as they are:
 *
 *   ┌ u32 n ┬ u32 kind (REC_*) ┬ n bytes: the store's record payload ┐
 *
 * Encoding copies everything the record points to (fields, refs,
 * strings), so nothing in a buffer points back into the analysis; a
 * record too large to store is refused when it is encoded (the error is
 * the pipeline's, as in batch use). Only the writer thread touches the
 * message store after the thread starts; a mutex guards the buffers and
 * counters.
 *
 * What is not stored is counted, whatever the cause: packets the store
 * refuses (lossy_store: its writer is behind, or the disk is full) and
 * packets it accepted but then lost to a failed write (cs_store_lost_packets)
 * are in not_stored; records the message store refuses are in
 * records_not_stored. A full store (cs_store_full) never stops the
 * analysis: its packets are counted and analysed (a batch caller that
 * must stop checks cs_store_full itself). With lossy_store a full disk is
 * no error at finish either: the daemon's counters say what was lost.
 */
#include "engine/pipeline.h"

#include "analytics/recovery.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "engine/shards.h"
#include "packet/dissect.h"
#include "store/msgstore.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define RW_BUFSIZE (16u << 20)
#define GAP_HOLD_NS (1000ll * 1000000ll) /* a gap waits 1 s of capture time to be filled */
#define RW_BULK_LIMIT (RW_BUFSIZE - RW_BUFSIZE / 4)
#define PROTOS_MAX (4 * CS_DECODERS_MAX) /* decoders, their pairs and hops */

enum { REC_MESSAGE = 1, REC_MEASUREMENT, REC_UNMATCHED_REQ, REC_UNMATCHED_RESP, REC_GAP };

/* The results writer of lossy pipelines (see the top of the file). */
typedef struct rwriter {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* drain filled, flush asked, or stop */
    pthread_cond_t idle; /* drain written */
    uint8_t *fill, *drain;
    size_t fill_used, drain_used;
    int flush_asked, stop, busy;
    _Atomic int writing;      /* busy, readable without the lock */
    _Atomic size_t fill_seen; /* fill_used, for rw_behind on another thread */
    int err;                  /* first message-store error */
    uint64_t messages_stored; /* written by the writer thread */
    uint64_t measurements_stored;
    uint64_t gaps_stored;
    uint64_t records_failed; /* the message store refused them */
    uint64_t records_lost;   /* it took them, then lost them to a failed write */
} rwriter;

struct cs_pipeline {
    cs_pipeline_cfg cfg;
    cs_analyzer *an; /* one analyzer on the caller's thread, or */
    cs_shards *sh;   /* cfg.workers > 1: the analysis on its own threads */
    cs_msgstore *ms;
    int sink_rc;
    cs_pipeline_stats st;
    /* sharded: the counters the caller's thread keeps (copy_caller_counters;
     * not_stored with the store's lost packets) as they were at its latest
     * cs_pipeline_call, for cs_pipeline_stats_peek on the correlating thread */
    pthread_mutex_t snap_mu;
    cs_pipeline_stats snap;
    rwriter *rw;                        /* lossy_store only */
    cs_recovery *rec;                   /* gaps wait here to learn whether they were filled */
    const char *protos[PROTOS_MAX + 1]; /* what a reanalysis replaces */
};

static void note_err(cs_pipeline *pl, int rc)
{
    if (rc < 0 && pl->sink_rc == 0)
        pl->sink_rc = rc;
}

/* ---- the results writer thread (lossy pipelines) ------------------------ */

#define RW_HDR (2 * sizeof(uint32_t)) /* u32 n, u32 kind */

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
static int rw_store_record(cs_msgstore *ms, const uint8_t *rec, rwriter *rw)
{
    uint32_t kind = rec_hdr(rec, 1);
    int rc = cs_msgstore_put_encoded(ms, rec_store_kind(kind), rec + RW_HDR, rec_hdr(rec, 0));

    if (rc == 0 && kind == REC_MESSAGE)
        rw->messages_stored++;
    else if (rc == 0 && kind == REC_MEASUREMENT)
        rw->measurements_stored++;
    else if (rc == 0 && kind == REC_GAP)
        rw->gaps_stored++;
    return rc;
}

/* Writer thread: stores every record of "buf" (counters under the lock). */
static int rw_store_buffer(cs_pipeline *pl, uint8_t *buf, size_t used)
{
    rwriter *rw = pl->rw, done = {0};
    int first = 0, rc;

    for (size_t at = 0; at < used; at += RW_HDR + rec_hdr(buf + at, 0)) {
        if ((rc = rw_store_record(pl->ms, buf + at, &done)) < 0) {
            done.records_failed++;
            if (first == 0)
                first = rc;
            cs_error_clear();
        }
    }
    pthread_mutex_lock(&rw->mu);
    rw->messages_stored += done.messages_stored;
    rw->measurements_stored += done.measurements_stored;
    rw->gaps_stored += done.gaps_stored;
    rw->records_failed += done.records_failed;
    pthread_mutex_unlock(&rw->mu);
    return first;
}

static void *rw_main(void *arg)
{
    cs_pipeline *pl = arg;
    rwriter *rw = pl->rw;

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
        rc = rw_store_buffer(pl, rw->drain, used);
        if (flush && rc == 0)
            rc = cs_msgstore_flush(pl->ms);
        lost = cs_msgstore_lost_records(pl->ms);
        pthread_mutex_lock(&rw->mu);
        rw->records_lost = lost;
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
static int rw_handoff(rwriter *rw, int flush)
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

/* Room for "size" bytes in "fill", or NULL (the record is dropped). A
 * plain message ("bulk") may use "fill" only up to RW_BULK_LIMIT: the rest
 * is kept for measurements, gaps and unmatched reports, which a message
 * flood (a market data feed) must not push out. */
static uint8_t *rw_reserve(cs_pipeline *pl, size_t size, int bulk)
{
    rwriter *rw = pl->rw;
    size_t limit = bulk ? RW_BULK_LIMIT : RW_BUFSIZE;
    uint8_t *at;

    if (size > limit || (rw->fill_used + size > limit && rw_handoff(rw, 0) < 0)) {
        pl->st.records_not_stored++;
        return NULL;
    }
    at = rw->fill + rw->fill_used;
    rw->fill_used += size;
    atomic_store_explicit(&rw->fill_seen, rw->fill_used, memory_order_relaxed);
    return at;
}

/* Waits until every record handed so far is stored (finish only). */
static void rw_drain(rwriter *rw)
{
    pthread_mutex_lock(&rw->mu);
    while (rw->busy || rw->drain_used > 0 || rw->flush_asked)
        pthread_cond_wait(&rw->idle, &rw->mu);
    pthread_mutex_unlock(&rw->mu);
}

static int rw_start(cs_pipeline *pl)
{
    rwriter *rw = cs_calloc(1, sizeof(*rw));

    if (rw == NULL)
        return CS_ENOMEM;
    rw->fill = cs_malloc(RW_BUFSIZE);
    rw->drain = cs_malloc(RW_BUFSIZE);
    if (rw->fill == NULL || rw->drain == NULL)
        goto nomem;
    pthread_mutex_init(&rw->mu, NULL);
    pthread_cond_init(&rw->work, NULL);
    pthread_cond_init(&rw->idle, NULL);
    pl->rw = rw;
    if (pthread_create(&rw->thread, NULL, rw_main, pl) != 0) {
        pl->rw = NULL;
        pthread_mutex_destroy(&rw->mu);
        pthread_cond_destroy(&rw->work);
        pthread_cond_destroy(&rw->idle);
        goto nomem;
    }
    return 0;
nomem:
    cs_free(rw->fill);
    cs_free(rw->drain);
    cs_free(rw);
    return cs_error_set(CS_ENOMEM, "cannot start the results writer");
}

/* Stores what is left, stops the thread; the message store is the
 * caller's again. Returns the first error the writer met. */
static int rw_stop(cs_pipeline *pl)
{
    rwriter *rw = pl->rw;
    int rc;

    if (rw == NULL)
        return 0;
    rw_drain(rw);
    rw_handoff(rw, 0);
    rw_drain(rw);
    pthread_mutex_lock(&rw->mu);
    rw->stop = 1;
    pthread_cond_signal(&rw->work);
    pthread_mutex_unlock(&rw->mu);
    pthread_join(rw->thread, NULL);
    rc = rw->err;
    pl->st.messages_stored = rw->messages_stored;
    pl->st.measurements_stored = rw->measurements_stored;
    pl->st.gaps_stored = rw->gaps_stored;
    pl->st.records_not_stored += rw->records_failed;
    pthread_mutex_destroy(&rw->mu);
    pthread_cond_destroy(&rw->work);
    pthread_cond_destroy(&rw->idle);
    cs_free(rw->fill);
    cs_free(rw->drain);
    cs_free(rw);
    pl->rw = NULL;
    return rc;
}

/* The results writer is behind: half its next buffer is waiting while it
 * still writes the previous one. Packets then give way to messages
 * (they are larger, and the store's retention drops them first). */
static int rw_behind(const cs_pipeline *pl)
{
    return pl->rw != NULL &&
           atomic_load_explicit(&pl->rw->fill_seen, memory_order_relaxed) > RW_BUFSIZE / 2 &&
           atomic_load_explicit(&pl->rw->writing, memory_order_relaxed);
}

/* Gives back the end of the "reserved" bytes at "rec" that the record
 * encoded there ("n" bytes, kind "kind") did not use. */
static void rw_commit(cs_pipeline *pl, uint8_t *rec, size_t reserved, size_t n, int kind)
{
    rec_set_hdr(rec, n, kind);
    pl->rw->fill_used -= reserved - (RW_HDR + n);
    atomic_store_explicit(&pl->rw->fill_seen, pl->rw->fill_used, memory_order_relaxed);
}

/* Lossy pipelines: queue a message (or unmatched one) for the writer. */
static void rw_put_message(cs_pipeline *pl, int kind, const cs_message *m)
{
    int unmatched = kind == REC_MESSAGE         ? 0
                    : kind == REC_UNMATCHED_REQ ? CS_UNMATCHED_REQUEST
                                                : CS_UNMATCHED_RESPONSE;
    size_t bound;
    uint8_t *rec;
    int rc;

    if ((rc = cs_msgstore_message_bound(m, &bound)) < 0) {
        note_err(pl, rc);
        return;
    }
    if ((rec = rw_reserve(pl, RW_HDR + bound, kind == REC_MESSAGE)) != NULL)
        rw_commit(pl, rec, RW_HDR + bound, cs_msgstore_encode_message(rec + RW_HDR, m, unmatched),
                  kind);
}

static void rw_put_measurement(cs_pipeline *pl, const cs_measurement *ms)
{
    size_t size;
    uint8_t *rec;
    int rc;

    if ((rc = cs_msgstore_measurement_size(ms, &size)) < 0) {
        note_err(pl, rc);
        return;
    }
    if ((rec = rw_reserve(pl, RW_HDR + size, 0)) != NULL)
        rw_commit(pl, rec, RW_HDR + size, cs_msgstore_encode_measurement(rec + RW_HDR, ms),
                  REC_MEASUREMENT);
}

static void rw_put_gap(cs_pipeline *pl, const cs_gap *g)
{
    size_t size;
    uint8_t *rec;
    int rc;

    if ((rc = cs_msgstore_gap_size(g, &size)) < 0) {
        note_err(pl, rc);
        return;
    }
    if ((rec = rw_reserve(pl, RW_HDR + size, 0)) != NULL)
        rw_commit(pl, rec, RW_HDR + size, cs_msgstore_encode_gap(rec + RW_HDR, g), REC_GAP);
}

/* ---- the analyzer's sink -------------------------------------------------- */

static void sink_message(void *ud, const cs_message *m)
{
    cs_pipeline *pl = ud;
    int rc;

    if (pl->cfg.observer && pl->cfg.observer->message)
        pl->cfg.observer->message(pl->cfg.observer->ud, m);
    if (pl->rw != NULL) {
        rw_put_message(pl, REC_MESSAGE, m);
        return;
    }
    if (pl->ms == NULL)
        return;
    if ((rc = cs_msgstore_put_message(pl->ms, m)) == 0)
        pl->st.messages_stored++;
    else
        pl->st.records_not_stored++;
    note_err(pl, rc);
}

static void sink_measurement(void *ud, const cs_measurement *ms)
{
    cs_pipeline *pl = ud;
    int rc;

    if (pl->cfg.observer && pl->cfg.observer->measurement)
        pl->cfg.observer->measurement(pl->cfg.observer->ud, ms);
    if (pl->rw != NULL) {
        rw_put_measurement(pl, ms);
        return;
    }
    if (pl->ms == NULL)
        return;
    if ((rc = cs_msgstore_put_measurement(pl->ms, ms)) == 0)
        pl->st.measurements_stored++;
    else
        pl->st.records_not_stored++;
    note_err(pl, rc);
}

static void sink_unmatched(void *ud, const cs_message *m, int kind)
{
    cs_pipeline *pl = ud;
    int rc;

    if (pl->cfg.observer && pl->cfg.observer->unmatched)
        pl->cfg.observer->unmatched(pl->cfg.observer->ud, m, kind);
    if (pl->rw != NULL) {
        rw_put_message(pl, kind == CS_UNMATCHED_REQUEST ? REC_UNMATCHED_REQ : REC_UNMATCHED_RESP,
                       m);
        return;
    }
    if (pl->ms == NULL)
        return;
    if ((rc = cs_msgstore_put_unmatched(pl->ms, m, kind)) < 0)
        pl->st.records_not_stored++;
    note_err(pl, rc);
}

/* A gap leaving the recovery tracker becomes one gap record (msgstore.h
 * cs_gap): its stream, numbers, the flow and the packet that revealed it,
 * whether it was recovered, whether it is an arbitrated (A/B) gap. */
static void store_gap(void *ud, const cs_recovered_gap *rg)
{
    cs_pipeline *pl = ud;
    const cs_seq_gap_event *ev = &rg->ev;
    cs_gap g = {.proto = ev->proto,
                .session = ev->gap.stream,
                .first = ev->gap.first,
                .count = ev->gap.count,
                .ts_ns = ev->ts_ns,
                .ref = ev->ref,
                .flow_id = ev->flow_id,
                .ep = ev->ep,
                .dir = ev->dir,
                .recovered = rg->recovered,
                .arbitrated = rg->arbitrated};
    int rc;

    if (pl->rw != NULL) {
        rw_put_gap(pl, &g);
        return;
    }
    if (pl->ms == NULL)
        return;
    if ((rc = cs_msgstore_put_gap(pl->ms, &g)) == 0)
        pl->st.gaps_stored++;
    else
        pl->st.records_not_stored++;
    note_err(pl, rc);
}

/* A sequence gap: counted by the observer at once (metrics, alerts), and
 * stored once the recovery tracker knows whether it was filled. */
static void sink_seq_gap(void *ud, const cs_seq_gap_event *ev)
{
    cs_pipeline *pl = ud;

    if (pl->cfg.observer && pl->cfg.observer->seq_gap)
        pl->cfg.observer->seq_gap(pl->cfg.observer->ud, ev);
    cs_recovery_gap(pl->rec, ev);
}

static void sink_seq_seen(void *ud, const cs_seq_span_event *s)
{
    cs_recovery_seen(((cs_pipeline *)ud)->rec, s);
}

/* Adds "name" to the replaced protocols unless listed; 0 or CS_ELIMIT. */
static int protos_add(cs_pipeline *pl, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(pl->protos[i], name) == 0)
            return 0;
    if (*n >= PROTOS_MAX)
        return cs_error_set(CS_ELIMIT, "reanalysis: too many protocols and pairs");
    pl->protos[(*n)++] = name;
    return 0;
}

/* Reanalysis replaces only the records of the decoders that run: their
 * messages (by the decoder's name) and measurements (by the pairs it
 * lists: MoldUDP64's are "ab"), and the hops, which the analysis makes
 * again of any decoder's messages at the taps it is told (a store's hops
 * of decoders not run again are not made again: they go). */
static int pipeline_replace_protos(cs_pipeline *pl)
{
    size_t n = 0;
    int rc = 0;

    for (size_t i = 0; rc == 0 && pl->cfg.decoders[i] != NULL; i++) {
        const cs_decoder *d = pl->cfg.decoders[i];

        rc = protos_add(pl, &n, d->name);
        for (const char *const *p = d->pairs; rc == 0 && p != NULL && *p != NULL; p++)
            rc = protos_add(pl, &n, *p);
    }
    if (rc == 0 && n > 0)
        rc = protos_add(pl, &n, CS_PAIR_HOP);
    if (rc < 0)
        return rc;
    pl->protos[n] = NULL;
    return cs_msgstore_replace_protos(pl->ms, pl->protos);
}

/* ---- sharded analysis: what follows each packet, on its thread -------- */

static void pipeline_flush_now(cs_pipeline *pl);

static void shard_after_packet(void *ud, const cs_packet *p, int analysed)
{
    cs_pipeline *pl = ud;

    if (analysed)
        cs_recovery_expire(pl->rec, p->ts_ns);
    if (pl->cfg.on_packet)
        pl->cfg.on_packet(pl->cfg.on_packet_ud, p);
}

static void shard_control(void *ud, int op, int64_t arg)
{
    cs_pipeline *pl = ud;

    if (op == CS_SHARDS_ADVANCE)
        cs_recovery_expire(pl->rec, arg);
    else if (op == CS_SHARDS_INPUT_ENDED)
        cs_recovery_flush(pl->rec);
    else if (op == CS_SHARDS_FLUSH)
        pipeline_flush_now(pl);
}

static int pipeline_start_analysis(cs_pipeline *pl)
{
    cs_analyzer_cfg acfg;
    cs_sink sink = {pl,           sink_message, sink_measurement, sink_unmatched,
                    sink_seq_gap, sink_seq_seen};
    int rc;

    if (pl->cfg.store_dir != NULL) {
        if ((rc = cs_msgstore_open(pl->cfg.store_dir, &pl->ms)) < 0)
            return rc;
        if (pl->cfg.store != NULL) { /* the store keeps the message budget too */
            cs_store_info si;
            cs_store_info_get(pl->cfg.store, &si);
            cs_msgstore_set_budget(pl->ms, si.max_message_bytes);
        }
        if (pl->cfg.replace_first_seg != 0 &&
            ((rc = cs_msgstore_replace_range(pl->ms, pl->cfg.replace_first_seg,
                                             pl->cfg.replace_last_seg)) < 0 ||
             (rc = pipeline_replace_protos(pl)) < 0))
            return rc;
        if (pl->cfg.lossy_store && (rc = rw_start(pl)) < 0)
            return rc;
    }
    if (pl->cfg.limits)
        acfg = *pl->cfg.limits;
    else
        cs_analyzer_cfg_default(&acfg);
    acfg.decoders = pl->cfg.decoders;
    acfg.decoder_opts = pl->cfg.decoder_opts;
    pl->st.analyzed = 1;
    if ((rc = cs_recovery_new(GAP_HOLD_NS, store_gap, pl, &pl->rec)) < 0)
        return rc;
    if (pl->cfg.workers > 1) {
        cs_shards_cfg sc = {pl->cfg.workers, &acfg, &sink, shard_after_packet, shard_control, pl};
        return cs_shards_new(&sc, &pl->sh);
    }
    return cs_analyzer_new(&acfg, &sink, &pl->an);
}

int cs_pipeline_new(const cs_pipeline_cfg *cfg, cs_pipeline **out)
{
    cs_pipeline *pl = cs_calloc(1, sizeof(*pl));
    int rc = 0;

    *out = NULL;
    if (pl == NULL)
        return CS_ENOMEM;
    pl->cfg = *cfg;
    pthread_mutex_init(&pl->snap_mu, NULL);
    if (cfg->decoders != NULL && cfg->decoders[0] != NULL)
        rc = pipeline_start_analysis(pl);
    if (rc < 0) {
        cs_pipeline_free(pl);
        return rc;
    }
    *out = pl;
    return 0;
}

/* Analysis of a dissected packet; one cs_dissect() cannot read is only
 * counted (it is stored all the same). "trailer_tap" (-1: none) is the tap
 * a tap aggregator's trailer names (--tap-by trailer). */
static void analyse(cs_pipeline *pl, const cs_packet *stored, const cs_layers *l, int dissected,
                    cs_pktref ref, int trailer_tap)
{
    cs_packet p = *stored;

    if (pl->cfg.tap_by_vlan && dissected == 0 && l->n_vlan > 0)
        p.tap = l->vlan[0];
    if (trailer_tap >= 0)
        p.tap = (uint16_t)trailer_tap;
    pl->st.packets++;
    pl->st.bytes += p.caplen;
    if (dissected != 0) {
        pl->st.undissected++;
        cs_link_count_add(pl->st.undissected_by_link, &pl->st.n_undissected_links, p.linktype, 1);
    }
    if (pl->sh) { /* recovery and on_packet follow on the correlating thread */
        note_err(pl, cs_shards_packet(pl->sh, &p, dissected == 0 ? l : NULL, ref));
        return;
    }
    if (dissected == 0 && pl->an) {
        cs_analyzer_packet(pl->an, &p, l, ref);
        cs_recovery_expire(pl->rec, p.ts_ns);
    }
    if (pl->cfg.on_packet)
        pl->cfg.on_packet(pl->cfg.on_packet_ud, &p);
}

/* Dissects "in" into "*l" and gives "*p" (a copy) its reference time;
 * returns the trailer's tap or -1, and cs_dissect's result in "*dissected". */
static int prepare(cs_pipeline *pl, const cs_packet *in, cs_packet *p, cs_layers *l, int *dissected)
{
    const cs_timeref_cfg *tr = cs_timerefs_for(&pl->cfg.timeref, in->tap);
    uint16_t tap = in->tap;

    *p = *in;
    *dissected = cs_dissect(p, l);
    if (tr->source != CS_TIME_TRAILER)
        return -1;
    cs_timeref_apply(tr, p, l, &tap, &pl->st.timeref);
    return tr->tap_by_trailer && (p->tref & CS_TREF_TRAILER) ? tap : -1;
}

int cs_pipeline_stored_packet(cs_pipeline *pl, const cs_packet *in, cs_pktref ref)
{
    cs_layers l;
    cs_packet p;
    int dissected, tap = prepare(pl, in, &p, &l, &dissected);

    analyse(pl, &p, &l, dissected, ref, tap);
    return 0;
}

int cs_pipeline_packet(cs_pipeline *pl, const cs_packet *in)
{
    cs_layers l;
    cs_packet p;
    cs_pktref ref = 0;
    int rc, dissected, tap = prepare(pl, in, &p, &l, &dissected);

    if (pl->cfg.store && rw_behind(pl)) {
        pl->st.not_stored++;
    } else if (pl->cfg.store && (rc = cs_store_append(pl->cfg.store, &p, &l, &ref)) < 0) {
        if (rc == CS_ENOMEM || !(pl->cfg.lossy_store || cs_store_full(pl->cfg.store)))
            return rc;
        cs_error_clear(); /* the store logs a full disk once */
        pl->st.not_stored++;
        ref = 0;
    }
    analyse(pl, &p, &l, dissected, ref, tap);
    return 0;
}

/* The counters the caller's thread keeps (cs_pipeline_packet's), from
 * "src" to "dst"; the others are the sink's. */
static void copy_caller_counters(cs_pipeline_stats *dst, const cs_pipeline_stats *src)
{
    dst->packets = src->packets;
    dst->bytes = src->bytes;
    dst->not_stored = src->not_stored;
    dst->undissected = src->undissected;
    memcpy(dst->undissected_by_link, src->undissected_by_link, sizeof(dst->undissected_by_link));
    dst->n_undissected_links = src->n_undissected_links;
    dst->timeref = src->timeref;
}

/* On the caller's thread, or with one analyzer, the counters; on the
 * correlating thread the sink's, and the caller's as its thread took them
 * at its latest cs_pipeline_call. */
static void peek_caller(const cs_pipeline *pl, cs_pipeline_stats *st)
{
    int own = pl->sh == NULL || !cs_shards_on_correlating_thread(pl->sh);

    if (own) {
        *st = pl->st;
        if (pl->cfg.store != NULL)
            st->not_stored += cs_store_lost_packets(pl->cfg.store);
        return;
    }
    memset(st, 0, sizeof(*st));
    st->messages_stored = pl->st.messages_stored;
    st->measurements_stored = pl->st.measurements_stored;
    st->gaps_stored = pl->st.gaps_stored;
    st->records_not_stored = pl->st.records_not_stored;
    st->analyzed = pl->st.analyzed;
    pthread_mutex_lock((pthread_mutex_t *)&pl->snap_mu);
    copy_caller_counters(st, &pl->snap);
    pthread_mutex_unlock((pthread_mutex_t *)&pl->snap_mu);
}

void cs_pipeline_stats_peek(const cs_pipeline *pl, cs_pipeline_stats *st)
{
    peek_caller(pl, st);
    if (pl->rw == NULL) /* else the writer thread owns the message store */
        st->records_not_stored += cs_msgstore_lost_records(pl->ms);
    if (pl->rw != NULL) {
        pthread_mutex_lock(&pl->rw->mu);
        st->messages_stored = pl->rw->messages_stored;
        st->measurements_stored = pl->rw->measurements_stored;
        st->gaps_stored = pl->rw->gaps_stored;
        st->records_not_stored += pl->rw->records_failed + pl->rw->records_lost;
        pthread_mutex_unlock(&pl->rw->mu);
    }
}

void cs_pipeline_call(cs_pipeline *pl, void (*fn)(void *ud), void *ud)
{
    if (pl->sh == NULL) {
        fn(ud);
        return;
    }
    pthread_mutex_lock(&pl->snap_mu);
    copy_caller_counters(&pl->snap, &pl->st);
    if (pl->cfg.store != NULL)
        pl->snap.not_stored += cs_store_lost_packets(pl->cfg.store);
    pthread_mutex_unlock(&pl->snap_mu);
    cs_shards_call(pl->sh, fn, ud);
}

/* Whether a control is queued behind the packets given so far (the
 * caller's thread, sharded) rather than done now. */
static int queue_control(cs_pipeline *pl, int op, int64_t arg)
{
    if (pl->sh == NULL || cs_shards_on_correlating_thread(pl->sh))
        return 0;
    cs_shards_control(pl->sh, op, arg);
    return 1;
}

void cs_pipeline_advance(cs_pipeline *pl, int64_t now_ns)
{
    if (!queue_control(pl, CS_SHARDS_ADVANCE, now_ns) && pl->rec != NULL)
        cs_recovery_expire(pl->rec, now_ns);
}

void cs_pipeline_input_ended(cs_pipeline *pl)
{
    if (!queue_control(pl, CS_SHARDS_INPUT_ENDED, 0) && pl->rec != NULL)
        cs_recovery_flush(pl->rec);
}

static void pipeline_flush_now(cs_pipeline *pl)
{
    if (pl->rw != NULL)
        rw_handoff(pl->rw, 1); /* busy: flushed after its current buffer */
    else if (pl->ms != NULL)
        note_err(pl, cs_msgstore_flush(pl->ms));
}

int cs_pipeline_flush(cs_pipeline *pl)
{
    if (queue_control(pl, CS_SHARDS_FLUSH, 0)) /* after the packets given so far */
        return 0;
    if (pl->rw == NULL && pl->ms != NULL)
        return cs_msgstore_flush(pl->ms);
    pipeline_flush_now(pl);
    return 0;
}

int cs_pipeline_finish(cs_pipeline *pl, cs_pipeline_stats *st)
{
    int rc;

    if (pl->an) {
        cs_analyzer_finish(pl->an);
        cs_analyzer_stats_get(pl->an, &pl->st.analyzer);
        cs_recovery_flush(pl->rec);
    } else if (pl->sh) {
        note_err(pl, cs_shards_finish(pl->sh, &pl->st.analyzer));
        cs_recovery_flush(pl->rec);
    }
    rc = rw_stop(pl);
    if (pl->cfg.lossy_store && rc < 0) /* counted in records_not_stored */
        cs_log_warn("storing messages: %s", cs_error_msg(rc));
    else
        note_err(pl, rc);
    if (pl->ms) {
        cs_msgstore_flush(pl->ms); /* its error is close's too */
        pl->st.records_not_stored += cs_msgstore_lost_records(pl->ms);
        rc = cs_msgstore_close(pl->ms);
        pl->ms = NULL;
        if (rc < 0 && pl->cfg.lossy_store)
            cs_log_warn("closing the message store: %s", cs_error_msg(rc));
        else if (rc < 0 && pl->sink_rc == 0)
            pl->sink_rc = rc;
    }
    if (st) {
        *st = pl->st;
        if (pl->cfg.store != NULL)
            st->not_stored += cs_store_lost_packets(pl->cfg.store);
    }
    return pl->sink_rc;
}

void cs_pipeline_free(cs_pipeline *pl)
{
    if (pl == NULL)
        return;
    rw_stop(pl);
    if (pl->ms)
        cs_msgstore_close(pl->ms);
    cs_shards_free(pl->sh);
    cs_analyzer_free(pl->an);
    cs_recovery_free(pl->rec);
    pthread_mutex_destroy(&pl->snap_mu);
    cs_free(pl);
}

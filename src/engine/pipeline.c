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
 * the disk is reached - so results go through the results writer's
 * thread instead (recwriter.h), which drops a record rather than wait,
 * counted in records_not_stored. Packets give way first: while the writer
 * is behind, packets are not stored (counted in not_stored) so that the
 * disk's bandwidth goes to the much smaller records; messages give way
 * next (the writer keeps room for measurements, gaps and unmatched
 * reports).
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
#include "engine/recwriter.h"
#include "engine/shards.h"
#include "packet/dissect.h"
#include "store/msgstore.h"

#include <pthread.h>
#include <string.h>

#define GAP_HOLD_NS (1000ll * 1000000ll) /* a gap waits 1 s of capture time to be filled */
#define PROTOS_MAX (4 * CS_DECODERS_MAX) /* decoders, their pairs and hops */

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
    cs_recwriter *rw;                   /* lossy_store only */
    cs_recovery *rec;                   /* gaps wait here to learn whether they were filled */
    const char *protos[PROTOS_MAX + 1]; /* what a reanalysis replaces */
};

static void note_err(cs_pipeline *pl, int rc)
{
    if (rc < 0 && pl->sink_rc == 0)
        pl->sink_rc = rc;
}

/* A record the results writer could not queue is not stored; one it can
 * never store (too large) is the pipeline's error too, as in batch use. */
static void queued(cs_pipeline *pl, int rc)
{
    if (rc == 0)
        return;
    pl->st.records_not_stored++;
    if (rc != CS_EBUSY)
        note_err(pl, rc);
}

/* Stops the results writer (if any), its counts becoming the pipeline's;
 * the message store is the pipeline's again. */
static int stop_writer(cs_pipeline *pl)
{
    cs_recwriter_counts c;
    int rc;

    if (pl->rw == NULL)
        return 0;
    rc = cs_recwriter_stop(pl->rw, &c);
    pl->rw = NULL;
    pl->st.messages_stored = c.messages_stored;
    pl->st.measurements_stored = c.measurements_stored;
    pl->st.gaps_stored = c.gaps_stored;
    pl->st.records_not_stored += c.records_failed;
    return rc;
}

/* ---- the analyzer's sink -------------------------------------------------- */

static void sink_message(void *ud, const cs_message *m)
{
    cs_pipeline *pl = ud;
    int rc;

    if (pl->cfg.observer && pl->cfg.observer->message)
        pl->cfg.observer->message(pl->cfg.observer->ud, m);
    if (pl->rw != NULL) {
        queued(pl, cs_recwriter_put_message(pl->rw, m, 0));
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
        queued(pl, cs_recwriter_put_measurement(pl->rw, ms));
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
        queued(pl, cs_recwriter_put_message(pl->rw, m, kind));
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
        queued(pl, cs_recwriter_put_gap(pl->rw, &g));
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

/* On the correlating thread, the controls act at once (queue_control). */
static void shard_control(void *ud, int op, int64_t arg)
{
    cs_pipeline *pl = ud;

    if (op == CS_SHARDS_ADVANCE)
        cs_pipeline_advance(pl, arg);
    else if (op == CS_SHARDS_INPUT_ENDED)
        cs_pipeline_input_ended(pl);
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
        if (pl->cfg.lossy_store && (rc = cs_recwriter_start(pl->ms, &pl->rw)) < 0)
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

    if (pl->cfg.store && pl->rw != NULL && cs_recwriter_behind(pl->rw)) {
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
        cs_recwriter_counts c;
        cs_recwriter_counts_get(pl->rw, &c);
        st->messages_stored = c.messages_stored;
        st->measurements_stored = c.measurements_stored;
        st->gaps_stored = c.gaps_stored;
        st->records_not_stored += c.records_failed + c.records_lost;
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
        cs_recwriter_flush(pl->rw);
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
    rc = stop_writer(pl);
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
    stop_writer(pl);
    if (pl->ms)
        cs_msgstore_close(pl->ms);
    cs_shards_free(pl->sh);
    cs_analyzer_free(pl->an);
    cs_recovery_free(pl->rec);
    pthread_mutex_destroy(&pl->snap_mu);
    cs_free(pl);
}

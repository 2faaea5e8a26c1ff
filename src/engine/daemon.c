/*
 * daemon.c - the live daemon's single pass (see daemon.h): capture threads,
 * the ring, the pipeline thread, metrics, alerts, and the order in which
 * they are opened and closed.
 *
 * Threads and what never waits on what:
 *
 *   capture thread per interface ─┐ copies into a bounded ring; when it is
 *   (AF_PACKET ring, or the file) ├─► full, live packets are dropped and
 *                                 │   counted "not analysed" (capture never
 *                                 │   waits for analysis); a file waits
 *                                 ▼
 *   pipeline thread (the caller): dissect ─► store append ─► analyzer ─► metrics
 *                                 │   store segments go to the background
 *                                 │   writer; when the disk is behind, the
 *                                 │   packet is counted "not stored" and
 *                                 │   still analysed (analysis never waits
 *                                 ▼   for storage; the same for a
 *                                         real-time replay, not a fast one)
 *   aio writer thread: write() of full segment buffers
 *
 * One live interface skips the first stage: the pipeline thread reads the
 * kernel's ring itself and analyses each packet where the kernel put it
 * (direct_loop); the ring is then the buffer, and analysis that falls
 * behind shows as kernel drops instead of "not analysed".
 *
 * With --workers N the pipeline thread dissects and stores, and hands the
 * analysis to N flow threads and a correlating thread (engine/shards.h):
 * the observer, on_packet, the metrics, alerts and the analysis half of
 * the tick then run on the correlating thread, after the packets before
 * them (cs_pipeline_call); the store's flush stays on the pipeline thread.
 *
 * Kernel drops come from PACKET_STATISTICS, so the three kinds of loss are
 * reported apart. Once a second (wall clock) the pipeline thread advances
 * the per-second metrics, makes the packets, messages and metrics written
 * so far visible to readers and hands the status to the "tick" hook.
 *
 * Signals: SIGINT/SIGTERM stop the capture (the loop then drains the ring
 * and cs_daemon_close() flushes and closes every file); SIGHUP reloads the
 * alert rules from cfg.config. One daemon per process: the handlers reach
 * it through a process-wide pointer.
 */
#include "engine/daemon.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "core/privs.h"
#include "core/timefmt.h"
#include "engine/pipeline.h"
#include "source/afpacket.h"
#include "source/pktqueue.h"
#include "source/synth.h"
#include "store/metricstore.h"

#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DAEMON_QUEUE_BYTES (128u << 20)
#define DAEMON_RECORDS_FLUSH_NS 100000000ll /* messages and measurements handed to the store */

typedef struct capture {
    cs_daemon *d;
    pthread_t thread;
    cs_source *src;
    int live;
    _Atomic uint64_t packets, bytes, not_analysed;
} capture;

struct cs_daemon {
    cs_daemon_cfg cfg;
    int drained; /* the pipeline has handled every captured packet */
    int started; /* the capture threads run */
    capture caps[CS_DAEMON_MAX_IFACES];
    int n_caps;
    _Atomic int running_caps;
    cs_pktqueue *q;
    cs_store *store;
    cs_pipeline *pl;
    cs_metrics *metrics;
    cs_metricstore *mstore;
    cs_alerts *alerts;
    cs_chexport *exp; /* cfg.exp: its own thread reads the message store */
    cs_sink observer; /* the pipeline keeps a pointer to it: lives as long */
    int64_t started_ns, last_tick, last_records_flush, max_ts;
    /* reference time - host time of the latest packet: a live capture's
     * "now" in the reference clock (a trailer's may run on TAI, or be a
     * replay's) is the host's now plus this */
    _Atomic int64_t ref_offset;
    uint64_t messages, measurements;
    char sources[256];
};

/* set by the handler on whichever thread takes the signal, read by others:
 * lock-free atomics, async-signal-safe */
static _Atomic int daemon_stop, daemon_reload;
static cs_daemon *daemon_signal_target;

static void on_signal(int sig)
{
    cs_daemon *d = daemon_signal_target;

    if (sig == SIGHUP) {
        daemon_reload = 1;
        return;
    }
    daemon_stop = 1;
    for (int i = 0; d && i < d->n_caps; i++)
        if (d->caps[i].live)
            cs_afpacket_stop(d->caps[i].src); /* async-signal-safe */
}

static void install_signals(cs_daemon *d)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    daemon_signal_target = d;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Live capture, and a real-time replay (which stands for one), must never
 * wait for the disk: a packet the store cannot take at once is counted "not
 * stored" and still analysed. A fast replay is a batch job: it stores every
 * packet, waiting for the disk when it must. */
static int daemon_lossy(const cs_daemon_cfg *c)
{
    return c->n_ifaces > 0 || (c->file != NULL && c->realtime);
}

/* ---- capture threads -------------------------------------------------- */

/* Sleeps until wall time matches the packet's place in the capture. */
static void pace(int64_t *t0_pkt, int64_t *t0_wall, int64_t ts)
{
    int64_t due, now = cs_mono_ns();
    struct timespec d;

    if (*t0_wall == 0) {
        *t0_wall = now;
        *t0_pkt = ts;
        return;
    }
    due = *t0_wall + (ts - *t0_pkt);
    if (due <= now)
        return;
    d.tv_sec = (due - now) / 1000000000;
    d.tv_nsec = (due - now) % 1000000000;
    nanosleep(&d, NULL);
}

/* Does the pipeline thread read the only source itself (direct_loop)? A
 * file keeps its reader thread (reading overlaps analysis) and several
 * interfaces share the queue. */
static int capture_direct(const cs_daemon *d)
{
    return d->n_caps == 1 && d->caps[0].live;
}

static void *capture_main(void *arg)
{
    capture *c = arg;
    cs_batch *b = calloc(1, sizeof(*b));
    int64_t t0_pkt = 0, t0_wall = 0;
    int rc;

    while (b != NULL && !daemon_stop) {
        rc = c->src->ops->next_batch(c->src, b);
        if (rc == CS_EBUSY)
            continue; /* idle link */
        if (rc < 0) {
            cs_log_error("capture: %s", cs_error_msg(rc));
            break;
        }
        if (b->n == 0)
            break;
        for (unsigned i = 0; i < b->n; i++) {
            if (c->d->cfg.realtime && !c->live)
                pace(&t0_pkt, &t0_wall, b->pkts[i].ts_ns);
            c->bytes += b->pkts[i].caplen;
        }
        c->packets += b->n;
        c->not_analysed += cs_pktqueue_push(c->d->q, b, c->live);
        c->src->ops->release_batch(c->src, b);
    }
    free(b);
    if (atomic_fetch_sub(&c->d->running_caps, 1) == 1)
        cs_pktqueue_close(c->d->q);
    return NULL;
}

static int open_sources(cs_daemon *d)
{
    const cs_daemon_cfg *c = &d->cfg;
    cs_afpacket_opts o = {.idle_ms = 200, .filter = c->filter};
    int rc;

    o.block_size = CS_AFPACKET_DEFAULT_BLOCK_SIZE;
    o.block_count = (uint32_t)(c->ring_bytes / o.block_size);

    if (c->synth != NULL) {
        if ((rc = cs_source_synth_ops.open(&d->caps[0].src, c->synth)) < 0)
            return rc;
        d->n_caps = 1;
        return 0;
    }
    if (c->file != NULL) {
        if ((rc = cs_source_file_ops.open(&d->caps[0].src, c->file)) < 0)
            return rc;
        d->n_caps = 1;
        return 0;
    }
    for (int i = 0; i < c->n_ifaces; i++) {
        const cs_timeref_cfg *tr = cs_timerefs_for(&c->timeref, (uint16_t)i);
        o.hw_timestamps = tr->source == CS_TIME_HARDWARE;
        o.hw_timestamps_fallback = tr->hw_fallback;
        if ((rc = cs_afpacket_open(c->ifaces[i], (uint16_t)i, &o, &d->caps[i].src)) < 0)
            return rc;
        d->caps[i].live = 1;
        d->n_caps = i + 1;
    }
    return 0;
}

/* ---- results: metrics, alerts ----------------------------------------- */

static void on_alert(void *ud, const cs_alert_event *ev)
{
    cs_daemon *d = ud;

    cs_metricstore_put_alert(d->mstore, ev);
    if (d->cfg.hooks.alert)
        d->cfg.hooks.alert(d->cfg.hooks.ud, ev);
    cs_log_info("alert %s %s: %s (value %.6g, threshold %.6g)", ev->rule,
                cs_alert_state_name(ev->state), ev->text, ev->value, ev->threshold);
}

static void on_window(void *ud, const cs_window *w)
{
    cs_daemon *d = ud;

    cs_metricstore_put(d->mstore, w);
    cs_alerts_window(d->alerts, w);
    if (!cs_window_empty(w) && d->cfg.hooks.window)
        d->cfg.hooks.window(d->cfg.hooks.ud, w);
}

static void on_message(void *ud, const cs_message *m)
{
    cs_daemon *d = ud;

    d->messages++;
    cs_metrics_message(d->metrics, m);
}

/* Every packet, with the tap analysis gives it (--tap-by vlan). */
static void on_packet(void *ud, const cs_packet *p)
{
    cs_daemon *d = ud;

    cs_metrics_packet(d->metrics, p);
    if (p->ts_ns > d->max_ts) /* the reference time */
        d->max_ts = p->ts_ns;
    if (p->tref & CS_TREF_TRAILER)
        atomic_store_explicit(&d->ref_offset, p->ts_ns - p->cap_ns, memory_order_relaxed);
}

/* Capture time now: a file's latest packet, or live the host's clock moved
 * to the reference's (by the offset of the latest trailer-timed packet). */
static int64_t capture_now(cs_daemon *d)
{
    if (d->cfg.file)
        return d->max_ts;
    return cs_now_ns() + atomic_load_explicit(&d->ref_offset, memory_order_relaxed);
}

static void on_seq_gap(void *ud, const cs_seq_gap_event *g)
{
    cs_daemon *d = ud;

    cs_metrics_seq_gap(d->metrics, g->proto, g->gap.count, g->ts_ns);
    if (g->proto != NULL && strcmp(g->proto, "moldudp64") == 0)
        cs_metrics_feed_gap(d->metrics, &g->ep, g->dir, g->gap.count, g->ts_ns);
}

static void on_measurement(void *ud, const cs_measurement *ms)
{
    cs_daemon *d = ud;

    d->measurements++;
    cs_metrics_measurement(d->metrics, ms);
    if (d->cfg.hooks.measurement)
        d->cfg.hooks.measurement(d->cfg.hooks.ud, ms);
}

/* ---- the pipeline thread ---------------------------------------------- */

const char *cs_daemon_sources(const cs_daemon *d)
{
    return d->sources;
}

static void name_sources(cs_daemon *d)
{
    const cs_daemon_cfg *c = &d->cfg;

    if (c->synth)
        snprintf(d->sources, sizeof(d->sources), "%s", c->label ? c->label : "synth");
    else
        snprintf(d->sources, sizeof(d->sources), "%s %s", c->file ? "file" : "interfaces",
                 c->file ? c->file : c->iface_list);
}

static void totals(cs_daemon *d, cs_daemon_status *st)
{
    cs_pipeline_stats ps = {0};

    memset(st, 0, sizeof(*st));
    st->started_ns = d->started_ns;
    for (int i = 0; i < d->n_caps; i++) {
        st->packets += d->caps[i].packets;
        st->bytes += d->caps[i].bytes;
        st->not_analysed += d->caps[i].not_analysed;
        if (d->caps[i].live) {
            cs_afpacket_kstats ks;
            cs_afpacket_kstats_get(d->caps[i].src, &ks);
            st->kernel_drops += ks.drops;
            st->hw_ts_missing += cs_afpacket_hw_ts_missing(d->caps[i].src);
        }
    }
    cs_pipeline_stats_peek(d->pl, &ps);
    st->timeref = ps.timeref;
    st->not_stored = ps.not_stored;
    st->records_not_stored = ps.records_not_stored;
    if (d->mstore) {
        cs_metricstore_lost lost = cs_metricstore_lost_so_far(d->mstore);
        st->windows_not_stored = lost.windows;
        st->alerts_not_stored = lost.alerts;
    }
    st->messages = d->messages;
    st->measurements = d->measurements;
    /* a replay is done only once the pipeline has drained and published it */
    st->capturing = !d->drained;
    snprintf(st->sources, sizeof(st->sources), "%s", d->sources);
    if ((st->exporting = d->exp != NULL))
        cs_chexport_stats_get(d->exp, &st->exp);
}

/* The analysis side of a tick, where the metrics are fed (the pipeline
 * thread, or with --workers the correlating one). */
static void tick_analysis(void *ud)
{
    cs_daemon *d = ud;
    cs_daemon_status st;

    totals(d, &st);
    cs_metrics_gauge(d->metrics, "kernel_drops", st.kernel_drops);
    cs_metrics_gauge(d->metrics, "not_stored", st.not_stored);
    cs_metrics_gauge(d->metrics, "not_analysed", st.not_analysed);
    /* live capture time follows the wall clock; a file's, its packets */
    cs_metrics_advance(d->metrics, capture_now(d));
    cs_pipeline_advance(d->pl, capture_now(d));
    cs_pipeline_flush(d->pl);
    cs_metricstore_flush(d->mstore);
    if (d->cfg.hooks.tick)
        d->cfg.hooks.tick(d->cfg.hooks.ud, &st, d->metrics);
    if (daemon_reload && d->cfg.config) {
        daemon_reload = 0;
        if (cs_alerts_reload(d->alerts, d->cfg.config) < 0)
            cs_log_error("%s: %s (keeping the previous rules)", d->cfg.config, cs_error_msg(0));
        else
            cs_log_info("alert rules reloaded from %s", d->cfg.config);
    }
}

static void tick(cs_daemon *d)
{
    cs_store_flush(d->store); /* recent packets readable, or next second */
    cs_pipeline_call(d->pl, tick_analysis, d);
}

static void tick_if_due(cs_daemon *d)
{
    int64_t now = cs_mono_ns();

    if (now - d->last_tick >= 1000000000) {
        d->last_tick = now;
        tick(d);
    } else if (now - d->last_records_flush >= DAEMON_RECORDS_FLUSH_NS) {
        /* records readable well within a second of their packets, even
         * when the writer was busy at the last tick */
        d->last_records_flush = now;
        cs_pipeline_flush(d->pl);
    }
}

static int pipeline_loop(cs_daemon *d)
{
    cs_packet p;
    int rc;

    for (;;) {
        rc = cs_pktqueue_pop(d->q, &p, 100);
        if (rc == 1) {
            if ((rc = cs_pipeline_packet(d->pl, &p)) < 0) /* metrics, max_ts: on_packet */
                return rc;
        } else if (rc == 0) {
            return 0; /* every capture ended and the ring is drained */
        }
        tick_if_due(d);
    }
}

/* Analyses the packets of "b" in place; the status counters (atomics,
 * read by other threads) are added to once a batch. */
static int direct_batch(cs_daemon *d, capture *c, const cs_batch *b)
{
    uint64_t bytes = 0;
    unsigned i;
    int rc = 0;

    for (i = 0; i < b->n && rc == 0; i++) {
        bytes += b->pkts[i].caplen;
        rc = cs_pipeline_packet(d->pl, &b->pkts[i]);
    }
    c->bytes += bytes;
    c->packets += i;
    return rc;
}

/* One interface: the pipeline thread reads the kernel's ring itself, each
 * packet analysed where the kernel put it (no copy, no queue, no thread
 * hand-off). The ring is then the only buffer, so analysis that falls
 * behind shows as kernel drops. A stop (on_signal) closes the socket's
 * gate; the blocks already filled are analysed, then the source ends. */
static int direct_loop(cs_daemon *d)
{
    capture *c = &d->caps[0];
    cs_batch *b = cs_calloc(1, sizeof(*b));
    int rc = 0;

    if (b == NULL)
        return CS_ENOMEM;
    for (;;) {
        if ((rc = c->src->ops->next_batch(c->src, b)) == CS_EBUSY) {
            cs_error_clear(); /* an idle link */
            tick_if_due(d);
            continue;
        }
        if (rc < 0) { /* the capture ends, as a capture thread's would */
            cs_log_error("capture: %s", cs_error_msg(rc));
            rc = 0;
            break;
        }
        if (b->n == 0)
            break;
        rc = direct_batch(d, c, b);
        c->src->ops->release_batch(c->src, b);
        if (rc < 0)
            break;
        tick_if_due(d);
    }
    cs_free(b);
    return rc;
}

/* After a file is replayed: keep ticking until told to stop. */
static void tick_until_stopped(cs_daemon *d)
{
    struct timespec t = {0, 100000000};

    while (!daemon_stop) {
        nanosleep(&t, NULL);
        if (cs_mono_ns() - d->last_tick >= 1000000000) {
            d->last_tick = cs_mono_ns();
            tick(d);
        }
    }
}

/* A replayed file is done, every packet analysed: its last seconds are
 * complete and its gaps final. */
static void replay_ended(void *ud)
{
    cs_daemon *d = ud;

    cs_metrics_flush(d->metrics);
    cs_pipeline_input_ended(d->pl);
    d->drained = 1;
    tick_analysis(d);
    cs_log_info("replay finished; serving until SIGTERM");
}

int cs_daemon_run(cs_daemon *d)
{
    int rc = capture_direct(d) ? direct_loop(d) : pipeline_loop(d);

    if (rc == 0 && d->cfg.file) {
        cs_store_flush(d->store);
        cs_pipeline_call(d->pl, replay_ended, d);
        tick_until_stopped(d);
    }
    return rc;
}

/* ---- set-up and tear-down --------------------------------------------- */

static uid_t chown_uid;
static gid_t chown_gid;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return lchown(path, chown_uid, chown_gid) < 0 ? -1 : 0;
}

/* Gives the store to "user" (its files are written after the drop), then
 * drops root for good. */
static int drop_privileges(const char *user, const char *dir)
{
    struct passwd *pw = getpwnam(user);

    if (pw == NULL)
        return cs_error_set(CS_ENOTFOUND, "no user '%s'", user);
    chown_uid = pw->pw_uid;
    chown_gid = pw->pw_gid;
    if (nftw(dir, chown_one, 16, FTW_PHYS) < 0)
        return cs_error_set(CS_EPERM, "cannot give %s to user %s", dir, user);
    return cs_privs_drop(user);
}

static int open_results(cs_daemon *d)
{
    const cs_daemon_cfg *c = &d->cfg;
    cs_metricstore_opts mo = {.max_age_ns = c->metrics_days * 86400 * 1000000000ll};
    cs_pipeline_cfg pc = {.store = d->store,
                          .store_dir = c->dir,
                          .decoders = c->decoders,
                          .decoder_opts = c->decoder_opts,
                          .observer = &d->observer,
                          .lossy_store = daemon_lossy(c),
                          .tap_by_vlan = c->tap_by_vlan,
                          .timeref = c->timeref,
                          .workers = c->workers,
                          .on_packet = on_packet,
                          .on_packet_ud = d};
    int rc;

    d->observer = (cs_sink){d, on_message, on_measurement, NULL, on_seq_gap, NULL};
    if ((rc = cs_metricstore_open(c->dir, &mo, &d->mstore)) < 0 ||
        (rc = cs_alerts_new(on_alert, d, &d->alerts)) < 0 ||
        (rc = cs_metrics_new(NULL, on_window, d, &d->metrics)) < 0)
        return rc;
    if (c->config && (rc = cs_alerts_reload(d->alerts, c->config)) < 0)
        return rc;
    return cs_pipeline_new(&pc, &d->pl);
}

/* Opens the export's cursor in the store (before the store is given to
 * cfg.user, so the cursor is the user's too); its thread starts later. */
static int open_export(cs_daemon *d)
{
    cs_chexport_cfg xc = *d->cfg.exp;

    xc.store_dir = d->cfg.dir;
    return cs_chexport_open(&xc, &d->exp);
}

int cs_daemon_open(const cs_daemon_cfg *cfg, cs_daemon **out)
{
    cs_daemon *d = cs_calloc(1, sizeof(*d));
    int rc;

    *out = d;
    if (d == NULL)
        return CS_ENOMEM;
    d->cfg = *cfg;
    if (daemon_lossy(cfg))
        d->cfg.so.flags |= CS_STORE_LOSSY;
    d->started_ns = cs_now_ns();
    d->last_tick = cs_mono_ns();
    name_sources(d);
    install_signals(d);
    if ((rc = open_sources(d)) < 0 || (rc = cs_store_open(cfg->dir, &d->cfg.so, &d->store)) < 0)
        return rc;
    if (cfg->exp && (rc = open_export(d)) < 0)
        return rc;
    if (!capture_direct(d) && (rc = cs_pktqueue_new(DAEMON_QUEUE_BYTES, &d->q)) < 0)
        return rc;
    return 0;
}

int cs_daemon_start(cs_daemon *d)
{
    int rc;

    if (d->cfg.user && (rc = drop_privileges(d->cfg.user, d->cfg.dir)) < 0)
        return rc;
    if ((rc = open_results(d)) < 0 || (d->exp && (rc = cs_chexport_start(d->exp)) < 0))
        return rc;
    if (capture_direct(d))
        return 0; /* the pipeline thread reads it: direct_loop */
    d->running_caps = d->n_caps;
    for (int i = 0; i < d->n_caps; i++) {
        d->caps[i].d = d;
        if (pthread_create(&d->caps[i].thread, NULL, capture_main, &d->caps[i]) != 0)
            return cs_error_set(CS_ENOMEM, "cannot start a capture thread");
        d->started = i + 1;
    }
    return 0;
}

/* Ends the pipeline: pending pairs, the message writer, the disk's tally. */
static int finish_pipeline(cs_daemon *d)
{
    cs_pipeline_stats ps = {0};
    int rc = cs_pipeline_finish(d->pl, &ps);

    if (rc < 0 && ps.records_not_stored > 0) { /* a full disk: counted, not fatal */
        cs_log_warn("storing messages: %s", cs_error_msg(rc));
        rc = 0;
    }
    cs_pipeline_free(d->pl);
    if (ps.not_stored > 0 || ps.records_not_stored > 0)
        cs_log_info("not stored, the disk full or behind: %" PRIu64 " packets and %" PRIu64
                    " messages/measurements",
                    ps.not_stored, ps.records_not_stored);
    return rc;
}

static void stop_captures(cs_daemon *d)
{
    daemon_stop = 1;
    for (int i = 0; i < d->n_caps; i++)
        if (d->caps[i].live && d->caps[i].src)
            cs_afpacket_stop(d->caps[i].src);
    if (d->q)
        cs_pktqueue_close(d->q);
    for (int i = 0; i < d->started; i++)
        pthread_join(d->caps[i].thread, NULL);
}

/* A full disk loses metrics windows and alert events without failing the
 * run; the log says how many. */
static void say_metrics_lost(cs_metricstore_lost lost)
{
    if (lost.windows > 0 || lost.alerts > 0)
        cs_log_info("disk full: %" PRIu64 " metrics windows and %" PRIu64
                    " alert events not stored",
                    lost.windows, lost.alerts);
}

/* Every record is in the store now: the export sends what is left, while
 * ClickHouse takes it; what it cannot is sent by the next run (logged). */
static void finish_export(cs_daemon *d)
{
    cs_chexport_stats st;

    if (d->exp == NULL)
        return;
    if (cs_chexport_finish(d->exp, CS_DAEMON_EXPORT_DRAIN_MS, &st) == 0)
        cs_log_info("export to %s: every record sent", st.target);
    d->exp = NULL;
}

int cs_daemon_close(cs_daemon *d)
{
    int rc = 0, rc2;

    if (d == NULL)
        return 0;
    stop_captures(d);
    if (d->store && (rc = cs_store_finish(d->store)) < 0) /* a full disk is counted, */
        cs_log_error("store: %s", cs_error_msg(rc));      /* not an error */
    if (d->pl && (rc2 = finish_pipeline(d)) < 0 && rc == 0)
        rc = rc2;
    if (d->metrics) {
        cs_metrics_flush(d->metrics);
        cs_metrics_free(d->metrics);
    }
    cs_alerts_free(d->alerts);
    if (d->mstore)
        say_metrics_lost(cs_metricstore_lost_so_far(d->mstore));
    if (d->mstore && (rc2 = cs_metricstore_close(d->mstore)) < 0) {
        cs_log_error("metrics: %s", cs_error_msg(rc2));
        if (rc == 0)
            rc = rc2;
    }
    if ((rc2 = cs_store_close(d->store)) < 0 && rc == 0)
        rc = rc2;
    finish_export(d);
    for (int i = 0; i < d->n_caps; i++)
        if (d->caps[i].src)
            d->caps[i].src->ops->close(d->caps[i].src);
    cs_pktqueue_free(d->q);
    daemon_signal_target = NULL;
    cs_free(d);
    return rc;
}

/*
 * daemon.h - the live single pass of `capstream run` and `capstream demo`:
 * sources, capture threads, the ring, the pipeline (store, decode, pair),
 * per-second metrics, their store and the alert rules, wired together.
 *
 * What the daemon finds goes out through hooks (cs_daemon_hooks), so that
 * the layers above - the HTTP API's live state and Prometheus text, built
 * by the CLI - see every measurement, metrics window, alert and once a
 * second the status, without this layer knowing about them.
 *
 * Use, from one thread:
 *
 *   cs_daemon_open(&cfg, &d)   sources (AF_PACKET needs root), the store,
 *                              the ring; installs SIGINT/SIGTERM (stop)
 *                              and SIGHUP (reload the alert rules)
 *   ... start what needs the store's directory and root (the server) ...
 *   cs_daemon_start(d)         drops root for cfg.user, opens the metrics
 *                              store, alerts, metrics and pipeline, starts
 *                              one capture thread per source
 *   cs_daemon_run(d)           the pipeline loop, until every source ended
 *                              (a file: then keeps ticking until stopped)
 *                              or a signal stopped it
 *   cs_daemon_close(d)         stops the captures, drains, flushes and
 *                              closes every file, then lets the export
 *                              send what is left (up to CS_DAEMON_EXPORT_DRAIN_MS);
 *                              frees "d"
 *
 * Hooks are called from the thread that calls cs_daemon_run() (and
 * cs_daemon_close(), for what the last flush finds); what they are given
 * is borrowed for the call.
 */
#ifndef CS_ENGINE_DAEMON_H
#define CS_ENGINE_DAEMON_H

#include "analytics/alerts.h"
#include "analytics/metrics.h"
#include "decode/decoder.h"
#include "export/chexport.h"
#include "packet/timeref.h"
#include "record/message.h"
#include "store/store.h"

#include <stdint.h>

#define CS_DAEMON_MAX_IFACES 16
#define CS_DAEMON_EXPORT_DRAIN_MS 30000       /* at the end, while ClickHouse takes batches */
#define CS_DAEMON_DEFAULT_RING (256ull << 20) /* bytes of AF_PACKET ring per interface */

typedef struct cs_daemon cs_daemon;

/* What the daemon has done so far, as the status and Prometheus show it. */
typedef struct cs_daemon_status {
    int64_t started_ns;
    char sources[256];       /* "file F", "interfaces A,B" or the caller's label */
    uint64_t packets, bytes; /* captured */
    uint64_t kernel_drops, not_stored, not_analysed; /* packet drops per kind */
    uint64_t records_not_stored;                     /* cs_pipeline_stats */
    uint64_t windows_not_stored, alerts_not_stored;  /* cs_metricstore_lost */
    uint64_t messages, measurements;
    uint64_t hw_ts_missing;   /* --time-source hardware: frames without a NIC stamp */
    cs_timeref_stats timeref; /* --time-source trailer: what the trailers gave */
    int capturing;            /* 0 once a replayed file is drained and published */
    int exporting;            /* cfg.export is set: "exp" is its progress */
    cs_chexport_stats exp;
} cs_daemon_status;

typedef struct cs_daemon_hooks {
    void *ud;
    void (*measurement)(void *ud, const cs_measurement *ms);
    /* a closed metrics window (already stored and given to the alerts) */
    void (*window)(void *ud, const cs_window *w);
    /* an alert raised or cleared (already stored and logged) */
    void (*alert)(void *ud, const cs_alert_event *ev);
    /* once a second, after the files are flushed: "m" is the live metrics */
    void (*tick)(void *ud, const cs_daemon_status *st, const cs_metrics *m);
} cs_daemon_hooks;

typedef struct cs_daemon_cfg {
    /* the source: interfaces, a file, or synthetic traffic */
    const char *const *ifaces; /* AF_PACKET, one tap each (tap id = index) */
    int n_ifaces;
    const char *iface_list; /* as the user wrote it, for the status */
    const char *file;       /* a capture file to replay */
    int realtime;           /* replay paced by the file's timestamps */
    const char *synth;      /* generated in real time: source/synth.h's spec,
                               e.g. "rate=5000,seed=1" */
    const char *label;      /* what the status calls "synth" ("synth" if NULL) */
    const char *filter;     /* BPF capture filter (interfaces) */
    uint64_t ring_bytes;    /* AF_PACKET ring per interface */
    /* where results go */
    const char *dir;                       /* the store */
    cs_store_opts so;                      /* its options (CS_STORE_LOSSY is set here when
                                              the source must never wait for the disk) */
    const char *config;                    /* alert rules file, or NULL */
    const char *user;                      /* drop root for this user, or NULL */
    int64_t metrics_days;                  /* per-second metrics kept */
    const cs_decoder *const *decoders;     /* NULL-terminated */
    const cs_decoder_optset *decoder_opts; /* or NULL */
    int tap_by_vlan;                       /* --tap-by vlan (engine/pipeline.h) */
    uint32_t workers;                      /* --workers (engine/pipeline.h) */
    cs_timerefs timeref;                   /* --time-source per interface, --tap-by trailer */
    const cs_chexport_cfg *exp;            /* records sent on to ClickHouse as they are
                                              stored (its store_dir is "dir"), or NULL */
    cs_daemon_hooks hooks;
} cs_daemon_cfg;

/* Opens the sources, the store and the ring. On failure "*out" is still
 * set when anything was opened: cs_daemon_close() releases it. */
int cs_daemon_open(const cs_daemon_cfg *cfg, cs_daemon **out);

/* Drops root (cfg.user), opens the results and starts the captures. */
int cs_daemon_start(cs_daemon *d);

/* Runs the pipeline until the sources end or a stop signal; a replayed
 * file is then kept (status "capturing" 0) until a stop signal. */
int cs_daemon_run(cs_daemon *d);

/* What the status calls the sources. */
const char *cs_daemon_sources(const cs_daemon *d);

/* Stops, drains and closes everything; frees "d" (may be NULL). Returns
 * the first error met closing (a full disk is counted, not an error). */
int cs_daemon_close(cs_daemon *d);

#endif

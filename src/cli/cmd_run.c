/*
 * cmd_run.c - `capstream run`: the live daemon.
 *
 *   capstream run -i IFACE[,IFACE...] -d STORE [--listen ADDR:PORT] [--config FILE]
 *                 [--filter BPF] [--user USER] [--token-file FILE] [--decoders LIST]
 *   capstream run -r FILE -d STORE [--replay fast|realtime] ...
 *
 * Threads and what never waits on what:
 *
 *   capture thread per interface ─┐ copies into a bounded ring; when it is
 *   (AF_PACKET ring, or the file) ├─► full, live packets are dropped and
 *                                 │   counted "not analysed" (capture never
 *                                 │   waits for analysis); a file waits
 *                                 ▼
 *   pipeline thread (this one): dissect ─► store append ─► analyzer ─► metrics
 *                                 │   store segments go to the background
 *                                 │   writer; when the disk is behind, the
 *                                 │   packet is counted "not stored" and
 *                                 │   still analysed (analysis never waits
 *                                 ▼   for storage; the same for a
 *                                         real-time replay, not a fast one)
 *   aio writer thread: write() of full segment buffers
 *   HTTP server threads (libmicrohttpd): read the store's files and the
 *   shared live state (server/live.h)
 *
 * Kernel drops come from PACKET_STATISTICS, so the three kinds of loss are
 * reported apart. Once a second (wall clock) the pipeline thread publishes
 * status, renders /metrics, advances the per-second metrics and makes the
 * messages written so far visible to readers.
 *
 * Signals: SIGINT/SIGTERM stop the capture, drain the ring, flush and close
 * every file, exit 0. SIGHUP reloads the alert rules from --config.
 */
#include "cli/cli.h"
#include "cli/run_int.h"

#include "analytics/alerts.h"
#include "analytics/metrics.h"
#include "analytics/pipeline.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "core/privs.h"
#include "core/timefmt.h"
#include "core/version.h"
#include "decode/decoder.h"
#include "server/live.h"
#include "server/prom.h"
#include "server/server.h"
#include "source/afpacket.h"
#include "source/pktqueue.h"
#include "source/source.h"
#include "store/metricstore.h"
#include "store/msgstore.h"
#include "store/store.h"

#include <ftw.h>
#include <getopt.h>
#include <pwd.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RUN_MAX_IFACES 16
#define RUN_QUEUE_BYTES (128u << 20)
#define RUN_DEFAULT_LISTEN "127.0.0.1:8642"
#define RUN_DEFAULT_RING (256ull << 20)  /* bytes of AF_PACKET ring per interface */
#define RUN_RECORDS_FLUSH_NS 100000000ll /* messages and measurements handed to the store */

static const char run_help[] =
    "usage: capstream run -i IFACE[,IFACE...] -d STORE [options]\n"
    "       capstream run -r FILE -d STORE [--replay fast|realtime] [options]\n\n"
    "Captures live (AF_PACKET, each interface a tap point) or replays a capture file\n"
    "through the single pass - store, decode, pair, per-second metrics, alerts - and\n"
    "serves the HTTP API, the live event stream and Prometheus /metrics meanwhile.\n"
    "A file is replayed, then the daemon keeps serving until SIGINT/SIGTERM.\n\n"
    "  -i, --interface LIST  interfaces to capture, comma-separated (needs root)\n"
    "  -r, --read FILE       replay a capture file instead\n"
    "      --replay MODE     fast (default) or realtime (paced by the timestamps)\n"
    "                        live capture and a realtime replay never wait for the\n"
    "                        disk: packets it cannot take in time are counted as\n"
    "                        not stored (and still analysed)\n"
    "  -d, --store DIR       the store (created if missing)\n"
    "      --listen A:P      HTTP address (default 127.0.0.1:8642); any address but\n"
    "                        loopback needs --token-file\n"
    "      --token-file F    bearer token every API request must carry\n"
    "      --config FILE     alert rules, one per line (SIGHUP reloads them), e.g.\n"
    "                          fix_slow: pair=fix p99 > 200us for 3s\n"
    "      --filter BPF      capture filter (tcpdump syntax)\n"
    "      --ring-size N     kernel capture ring per interface (default 256M; it\n"
    "                        absorbs bursts the analysis cannot follow at once)\n"
    "      --user USER       drop root for USER once the sockets are open\n"
    "      --decoders LIST   all (default), none, or {decoders}\n"
    "      --decoder-opt NAME.KEY=VALUE  an option of one decoder (repeatable), e.g.\n"
    "                        fix.ports=9100,9101 binds FIX to those ports\n"
    "      --max-bytes N     packet retention budget (K/M/G suffixes)\n"
    "      --partitions N    for a new store: segments written at once (default 64)\n"
    "      --max-message-bytes N  message and measurement budget (they may outlive\n"
    "                        their packets; the oldest segment's go first)\n"
    "      --metrics-days N  keep per-second metrics N days (default 31)\n\n"
    "examples:\n"
    "  capstream run -i eth1,eth2 -d /var/lib/capstream --config alerts.conf --user capstream\n"
    "  capstream run -r trading.pcap -d S --replay realtime --listen 127.0.0.1:9000\n";

typedef struct run_args {
    char *ifaces[RUN_MAX_IFACES];
    int n_ifaces;
    char *iface_list;
    const char *file, *dir, *listen, *config, *filter, *user, *token_file;
    int realtime;
    cs_source *given;   /* a source opened by the caller (cs__run_daemon) */
    const char *label;  /* and what to call it */
    const char *banner; /* printed once serving (cs__run_daemon) */
    int64_t metrics_days;
    uint64_t ring_bytes; /* AF_PACKET ring per interface */
    cs_store_opts so;
    const cs_decoder *decoders[CS_DECODERS_MAX + 1];
    cs_decoder_optset decoder_opts;
} run_args;

typedef struct run_ctx run_ctx;

typedef struct capture {
    run_ctx *ctx;
    pthread_t thread;
    cs_source *src;
    int live;
    _Atomic uint64_t packets, bytes, not_analysed;
} capture;

struct run_ctx {
    int drained; /* the pipeline has handled every captured packet */
    run_args a;
    capture caps[RUN_MAX_IFACES];
    int n_caps;
    _Atomic int running_caps;
    cs_pktqueue *q;
    cs_store *store;
    cs_pipeline *pl;
    cs_metrics *metrics;
    cs_metricstore *mstore;
    cs_alerts *alerts;
    cs_live *live;
    cs_server *server;
    cs_sink observer; /* the pipeline keeps a pointer to it: lives as long */
    int64_t started_ns, last_tick, last_records_flush, max_ts;
    uint64_t messages, measurements;
};

static volatile sig_atomic_t run_stop, run_reload;

static void prom_publish(run_ctx *x, const cs_live_status *st);
static run_ctx *run_signal_ctx;

static void on_signal(int sig)
{
    if (sig == SIGHUP) {
        run_reload = 1;
        return;
    }
    run_stop = 1;
    for (int i = 0; run_signal_ctx && i < run_signal_ctx->n_caps; i++)
        if (run_signal_ctx->caps[i].live)
            cs_afpacket_stop(run_signal_ctx->caps[i].src); /* async-signal-safe */
}

/* ---- options ---------------------------------------------------------- */

static int split_ifaces(run_args *a, const char *list)
{
    char *save = NULL, *tok;

    a->iface_list = strdup(list);
    if (a->iface_list == NULL)
        return CS_ENOMEM;
    for (tok = strtok_r(a->iface_list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (a->n_ifaces == RUN_MAX_IFACES)
            return cs_error_set(CS_EINVAL, "at most %d interfaces", RUN_MAX_IFACES);
        a->ifaces[a->n_ifaces++] = tok;
    }
    return a->n_ifaces ? 0 : cs_error_set(CS_EINVAL, "empty interface list");
}

static int run_option(run_args *a, int c, const char *arg)
{
    uint64_t v;

    switch (c) {
    case 'i':
        return split_ifaces(a, arg) < 0 ? cs_cli_usage_error("run", "%s", cs_error_msg(0)) : 0;
    case 'r':
        a->file = arg;
        return 0;
    case 'd':
        a->dir = arg;
        return 0;
    case 'L':
        a->listen = arg;
        return 0;
    case 'T':
        a->token_file = arg;
        return 0;
    case 'C':
        a->config = arg;
        return 0;
    case 'F':
        a->filter = arg;
        return 0;
    case 'U':
        a->user = arg;
        return 0;
    case 'P':
        if (strcmp(arg, "fast") && strcmp(arg, "realtime"))
            return cs_cli_usage_error("run", "--replay is fast or realtime, not '%s'", arg);
        a->realtime = strcmp(arg, "realtime") == 0;
        return 0;
    case 'D':
        return cs_decoders_parse(arg, a->decoders) < 0
                   ? cs_cli_usage_error("run", "%s", cs_error_msg(CS_EINVAL))
                   : 0;
    case 'O':
        return cs_decoder_optset_add(&a->decoder_opts, arg) < 0
                   ? cs_cli_usage_error("run", "%s", cs_error_msg(CS_EINVAL))
                   : 0;
    case 'M':
        if (cs_cli_parse_size(arg, &a->so.max_bytes) < 0)
            return cs_cli_usage_error("run", "bad --max-bytes '%s'", arg);
        a->so.set_max_bytes = 1;
        return 0;
    case 'R':
        if (cs_cli_parse_size(arg, &v) < 0 || v < (4u << 20) || v > (64ull << 30))
            return cs_cli_usage_error("run", "bad --ring-size '%s' (4M to 64G)", arg);
        a->ring_bytes = v;
        return 0;
    case 'G':
        if (cs_cli_parse_size(arg, &a->so.max_message_bytes) < 0)
            return cs_cli_usage_error("run", "bad --max-message-bytes '%s'", arg);
        a->so.set_max_message_bytes = 1;
        return 0;
    case 'N':
        return cs_cli_parse_partitions("run", arg, &a->so.partitions) != 0 ? CS_EXIT_USAGE : 0;
    case 'Y':
        if (cs_cli_parse_size(arg, &v) < 0 || v == 0 || v > 36500)
            return cs_cli_usage_error("run", "bad --metrics-days '%s'", arg);
        a->metrics_days = (int64_t)v;
        return 0;
    default:
        return cs_cli_usage_error("run", "bad option");
    }
}

/* Live capture, and a real-time replay (which stands for one), must never
 * wait for the disk: a packet the store cannot take at once is counted "not
 * stored" and still analysed. A fast replay is a batch job: it stores every
 * packet, waiting for the disk when it must. */
static int run_lossy(const run_args *a)
{
    return a->n_ifaces > 0 || (a->file != NULL && a->realtime);
}

static int run_parse(int argc, char **argv, run_args *a)
{
    static const struct option opts[] = {{"interface", required_argument, 0, 'i'},
                                         {"read", required_argument, 0, 'r'},
                                         {"store", required_argument, 0, 'd'},
                                         {"listen", required_argument, 0, 'L'},
                                         {"token-file", required_argument, 0, 'T'},
                                         {"config", required_argument, 0, 'C'},
                                         {"filter", required_argument, 0, 'F'},
                                         {"user", required_argument, 0, 'U'},
                                         {"replay", required_argument, 0, 'P'},
                                         {"decoders", required_argument, 0, 'D'},
                                         {"decoder-opt", required_argument, 0, 'O'},
                                         {"max-bytes", required_argument, 0, 'M'},
                                         {"metrics-days", required_argument, 0, 'Y'},
                                         {"max-message-bytes", required_argument, 0, 'G'},
                                         {"partitions", required_argument, 0, 'N'},
                                         {"ring-size", required_argument, 0, 'R'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c, rc;

    a->listen = RUN_DEFAULT_LISTEN;
    a->metrics_days = 31;
    a->ring_bytes = RUN_DEFAULT_RING;
    a->so.flags = CS_STORE_WRITE | CS_STORE_CREATE | CS_STORE_CHECKPOINT; /* the API reads */
    cs_decoders_parse("all", a->decoders);
    while ((c = getopt_long(argc, argv, "i:r:d:h", opts, NULL)) != -1) {
        if (c == 'h') {
            cs_cli_help(stdout, run_help);
            return -1;
        }
        if ((rc = run_option(a, c, optarg)) != 0)
            return rc;
    }
    if (a->dir == NULL)
        return cs_cli_usage_error("run", "-d STORE is required");
    if ((a->n_ifaces > 0) == (a->file != NULL))
        return cs_cli_usage_error("run", "give either -i IFACE or -r FILE");
    if (optind < argc)
        return cs_cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
    if (run_lossy(a))
        a->so.flags |= CS_STORE_LOSSY;
    return 0;
}

/* ---- capture threads -------------------------------------------------- */

/* Sleeps until wall time matches the packet's place in the capture. */
static void pace(int64_t *t0_pkt, int64_t *t0_wall, int64_t ts)
{
    int64_t due, now = cs_cli_mono_ns();
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

static void *capture_main(void *arg)
{
    capture *c = arg;
    cs_batch *b = calloc(1, sizeof(*b));
    int64_t t0_pkt = 0, t0_wall = 0;
    int rc;

    while (b != NULL && !run_stop) {
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
            if (c->ctx->a.realtime && !c->live)
                pace(&t0_pkt, &t0_wall, b->pkts[i].ts_ns);
            c->bytes += b->pkts[i].caplen;
        }
        c->packets += b->n;
        c->not_analysed += cs_pktqueue_push(c->ctx->q, b, c->live);
        c->src->ops->release_batch(c->src, b);
    }
    free(b);
    if (atomic_fetch_sub(&c->ctx->running_caps, 1) == 1)
        cs_pktqueue_close(c->ctx->q);
    return NULL;
}

static int open_sources(run_ctx *x)
{
    cs_afpacket_opts o = {.idle_ms = 200, .filter = x->a.filter};
    int rc;

    o.block_size = CS_AFPACKET_DEFAULT_BLOCK_SIZE;
    o.block_count = (uint32_t)(x->a.ring_bytes / o.block_size);

    if (x->a.given != NULL) {
        x->caps[0].src = x->a.given;
        x->n_caps = 1;
        return 0;
    }
    if (x->a.file != NULL) {
        if ((rc = cs_source_file_ops.open(&x->caps[0].src, x->a.file)) < 0)
            return rc;
        x->n_caps = 1;
        return 0;
    }
    for (int i = 0; i < x->a.n_ifaces; i++) {
        if ((rc = cs_afpacket_open(x->a.ifaces[i], (uint16_t)i, &o, &x->caps[i].src)) < 0)
            return rc;
        x->caps[i].live = 1;
        x->n_caps = i + 1;
    }
    return 0;
}

/* ---- results: metrics, alerts, live events ---------------------------- */

static void publish_json(run_ctx *x, const char *type, void (*fmt)(FILE *, const void *),
                         const void *obj)
{
    char buf[8192];
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    long n;

    if (f == NULL)
        return;
    fmt(f, obj);
    n = ftell(f);
    fclose(f);
    if (n > 0 && (size_t)n < sizeof(buf))
        cs_live_publish(x->live, type, buf, (size_t)n);
}

static void fmt_measurement(FILE *f, const void *obj)
{
    cs_measurement_json(f, obj);
}

static void fmt_window(FILE *f, const void *obj)
{
    const cs_window *w = obj;

    fprintf(f,
            "{\"series\":\"%s:%s\",\"ts_ns\":%" PRId64 ",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64
            ",\"messages\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"measurements\":%" PRIu64
            ",\"burst_packets\":%" PRIu32 ",\"burst_bytes\":%" PRIu64,
            cs_series_kind_name(w->series.kind), w->series.name, w->start_ns, w->packets, w->bytes,
            w->messages, w->errors, w->measurements, w->burst_packets, w->burst_bytes);
    if (w->hist != NULL && cs_hist_count(w->hist) > 0)
        fprintf(f,
                ",\"p50_ns\":%" PRId64 ",\"p90_ns\":%" PRId64 ",\"p99_ns\":%" PRId64
                ",\"p999_ns\":%" PRId64 ",\"max_ns\":%" PRId64,
                cs_hist_quantile(w->hist, 0.5), cs_hist_quantile(w->hist, 0.9),
                cs_hist_quantile(w->hist, 0.99), cs_hist_quantile(w->hist, 0.999),
                cs_hist_max(w->hist));
    for (int g = 0; g < CS_GAUGE_COUNT; g++)
        if (w->series.kind == CS_SERIES_CAPTURE)
            fprintf(f, ",\"%s\":%" PRIu64, cs_gauge_name(g), w->gauges[g]);
    fputc('}', f);
}

static void fmt_alert(FILE *f, const void *obj)
{
    const cs_alert_event *ev = obj;

    fprintf(f, "{\"rule\":");
    cs_msgstore_json_string(f, ev->rule, strlen(ev->rule));
    fprintf(f, ",\"text\":");
    cs_msgstore_json_string(f, ev->text, strlen(ev->text));
    fprintf(f,
            ",\"state\":\"%s\",\"series\":\"%s:%s\",\"ts_ns\":%" PRId64
            ",\"value\":%.6g,\"threshold\":%.6g,\"from_ns\":%" PRId64 ",\"to_ns\":%" PRId64 "}",
            cs_alert_state_name(ev->state), cs_series_kind_name(ev->series.kind), ev->series.name,
            ev->ts_ns, ev->value, ev->threshold, ev->from_ns, ev->to_ns);
}

static void on_alert(void *ud, const cs_alert_event *ev)
{
    run_ctx *x = ud;

    cs_metricstore_put_alert(x->mstore, ev);
    publish_json(x, "alert", fmt_alert, ev);
    cs_log_info("alert %s %s: %s (value %.6g, threshold %.6g)", ev->rule,
                cs_alert_state_name(ev->state), ev->text, ev->value, ev->threshold);
}

static void on_window(void *ud, const cs_window *w)
{
    run_ctx *x = ud;

    cs_metricstore_put(x->mstore, w);
    cs_alerts_window(x->alerts, w);
    if (!cs_window_empty(w))
        publish_json(x, "metrics", fmt_window, w);
}

static void on_message(void *ud, const cs_message *m)
{
    run_ctx *x = ud;

    x->messages++;
    cs_metrics_message(x->metrics, m);
}

static void on_measurement(void *ud, const cs_measurement *ms)
{
    run_ctx *x = ud;

    x->measurements++;
    cs_metrics_measurement(x->metrics, ms);
    publish_json(x, "measurement", fmt_measurement, ms);
}

/* ---- the pipeline thread ---------------------------------------------- */

/* "file F", "interfaces A,B" or the caller's label, for status and logs. */
static const char *run_sources(run_ctx *x)
{
    static char buf[256];

    if (x->a.given)
        return x->a.label ? x->a.label : "synth";
    snprintf(buf, sizeof(buf), "%s %s", x->a.file ? "file" : "interfaces",
             x->a.file ? x->a.file : x->a.iface_list);
    return buf;
}

static void totals(run_ctx *x, cs_live_status *st)
{
    cs_pipeline_stats ps = {0};

    memset(st, 0, sizeof(*st));
    st->version = CS_VERSION_STRING;
    st->started_ns = x->started_ns;
    for (int i = 0; i < x->n_caps; i++) {
        st->packets += x->caps[i].packets;
        st->bytes += x->caps[i].bytes;
        st->not_analysed += x->caps[i].not_analysed;
        if (x->caps[i].live) {
            cs_afpacket_kstats ks;
            cs_afpacket_kstats_get(x->caps[i].src, &ks);
            st->kernel_drops += ks.drops;
        }
    }
    cs_pipeline_stats_peek(x->pl, &ps);
    st->not_stored = ps.not_stored;
    st->records_not_stored = ps.records_not_stored;
    if (x->mstore) {
        cs_metricstore_lost lost = cs_metricstore_lost_so_far(x->mstore);
        st->windows_not_stored = lost.windows;
        st->alerts_not_stored = lost.alerts;
    }
    st->messages = x->messages;
    st->measurements = x->measurements;
    /* a replay is done only once the pipeline has drained and published it */
    st->capturing = !x->drained;
    snprintf(st->sources, sizeof(st->sources), "%s", run_sources(x));
}

static void tick(run_ctx *x)
{
    cs_live_status st;

    totals(x, &st);
    cs_metrics_gauge(x->metrics, "kernel_drops", st.kernel_drops);
    cs_metrics_gauge(x->metrics, "not_stored", st.not_stored);
    cs_metrics_gauge(x->metrics, "not_analysed", st.not_analysed);
    /* live capture time follows the wall clock; a file's, its packets */
    cs_metrics_advance(x->metrics, x->a.file ? x->max_ts : cs_now_ns());
    cs_store_flush(x->store); /* recent packets readable, or next second */
    cs_pipeline_flush(x->pl);
    cs_metricstore_flush(x->mstore);
    prom_publish(x, &st); /* before the status, which readers poll to see it done */
    cs_live_set_status(x->live, &st);
    if (run_reload && x->a.config) {
        run_reload = 0;
        if (cs_alerts_reload(x->alerts, x->a.config) < 0)
            cs_log_error("%s: %s (keeping the previous rules)", x->a.config, cs_error_msg(0));
        else
            cs_log_info("alert rules reloaded from %s", x->a.config);
    }
}

static int pipeline_loop(run_ctx *x)
{
    cs_packet p;
    int rc;

    for (;;) {
        rc = cs_pktqueue_pop(x->q, &p, 100);
        if (rc == 1) {
            if ((rc = cs_pipeline_packet(x->pl, &p)) < 0)
                return rc;
            cs_metrics_packet(x->metrics, &p);
            if (p.ts_ns > x->max_ts)
                x->max_ts = p.ts_ns;
        } else if (rc == 0) {
            return 0; /* every capture ended and the ring is drained */
        }
        if (cs_cli_mono_ns() - x->last_tick >= 1000000000) {
            x->last_tick = cs_cli_mono_ns();
            tick(x);
        } else if (cs_cli_mono_ns() - x->last_records_flush >= RUN_RECORDS_FLUSH_NS) {
            /* records readable well within a second of their packets,
             * even when the writer was busy at the last tick */
            x->last_records_flush = cs_cli_mono_ns();
            cs_pipeline_flush(x->pl);
        }
    }
}

/* After a file is replayed: keep serving until told to stop. */
static void serve_until_stopped(run_ctx *x)
{
    struct timespec d = {0, 100000000};

    while (!run_stop) {
        nanosleep(&d, NULL);
        if (cs_cli_mono_ns() - x->last_tick >= 1000000000) {
            x->last_tick = cs_cli_mono_ns();
            tick(x);
        }
    }
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

/* Renders /metrics once a second from the live counters and histograms. */
static void prom_publish(run_ctx *x, const cs_live_status *st)
{
    char *text = NULL;
    size_t len = 0;

    if (cs_prom_render(st, x->metrics, &text, &len) == 0)
        cs_live_set_prometheus(x->live, text, len);
    cs_free(text);
}

static int open_results(run_ctx *x)
{
    cs_metricstore_opts mo = {.max_age_ns = x->a.metrics_days * 86400 * 1000000000ll};
    cs_pipeline_cfg pc = {.store = x->store,
                          .store_dir = x->a.dir,
                          .decoders = x->a.decoders,
                          .decoder_opts = &x->a.decoder_opts,
                          .observer = &x->observer,
                          .lossy_store = run_lossy(&x->a)};
    int rc;

    x->observer = (cs_sink){x, on_message, on_measurement, NULL, NULL};
    if ((rc = cs_metricstore_open(x->a.dir, &mo, &x->mstore)) < 0 ||
        (rc = cs_alerts_new(on_alert, x, &x->alerts)) < 0 ||
        (rc = cs_metrics_new(NULL, on_window, x, &x->metrics)) < 0)
        return rc;
    if (x->a.config && (rc = cs_alerts_reload(x->alerts, x->a.config)) < 0)
        return rc;
    return cs_pipeline_new(&pc, &x->pl);
}

static int run_start(run_ctx *x)
{
    cs_server_cfg sc = {x->a.listen, x->a.token_file, x->a.dir};
    /* "capturing" from the first request on: an all-zero status would read
     * as a replay already finished */
    cs_live_status st0 = {
        .version = CS_VERSION_STRING, .started_ns = x->started_ns, .capturing = 1};
    int rc;

    if ((rc = open_sources(x)) < 0 || (rc = cs_store_open(x->a.dir, &x->a.so, &x->store)) < 0 ||
        (rc = cs_pktqueue_new(RUN_QUEUE_BYTES, &x->q)) < 0 || (rc = cs_live_new(&x->live)) < 0)
        return rc;
    cs_live_set_status(x->live, &st0);
    if ((rc = cs_server_start(&sc, x->live, &x->server)) < 0)
        return rc;
    if (x->a.user && (rc = drop_privileges(x->a.user, x->a.dir)) < 0)
        return rc;
    if ((rc = open_results(x)) < 0)
        return rc;
    x->running_caps = x->n_caps;
    for (int i = 0; i < x->n_caps; i++) {
        x->caps[i].ctx = x;
        if (pthread_create(&x->caps[i].thread, NULL, capture_main, &x->caps[i]) != 0)
            return cs_error_set(CS_ENOMEM, "cannot start a capture thread");
    }
    return 0;
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

static int run_finish(run_ctx *x, int started)
{
    cs_pipeline_stats ps = {0};
    int rc = 0, rc2;

    if (started) {
        for (int i = 0; i < x->n_caps; i++)
            pthread_join(x->caps[i].thread, NULL);
    }
    if (x->store && (rc = cs_store_finish(x->store)) < 0) /* a full disk is counted, */
        cs_log_error("store: %s", cs_error_msg(rc));      /* not an error */
    if (x->pl) {
        rc2 = cs_pipeline_finish(x->pl, &ps);
        if (rc2 < 0 && ps.records_not_stored > 0) /* a full disk: counted, not fatal */
            cs_log_warn("storing messages: %s", cs_error_msg(rc2));
        else if (rc == 0)
            rc = rc2;
        cs_pipeline_free(x->pl);
        if (ps.not_stored > 0 || ps.records_not_stored > 0)
            cs_log_info("the disk fell behind: %" PRIu64 " packets and %" PRIu64
                        " messages/measurements not stored",
                        ps.not_stored, ps.records_not_stored);
    }
    if (x->metrics) {
        cs_metrics_flush(x->metrics);
        cs_metrics_free(x->metrics);
    }
    cs_alerts_free(x->alerts);
    if (x->mstore)
        say_metrics_lost(cs_metricstore_lost_so_far(x->mstore));
    if (x->mstore && (rc2 = cs_metricstore_close(x->mstore)) < 0) {
        cs_log_error("metrics: %s", cs_error_msg(rc2));
        if (rc == 0)
            rc = rc2;
    }
    cs_server_stop(x->server);
    if ((rc2 = cs_store_close(x->store)) < 0 && rc == 0)
        rc = rc2;
    for (int i = 0; i < x->n_caps; i++)
        if (x->caps[i].src)
            x->caps[i].src->ops->close(x->caps[i].src);
    cs_pktqueue_free(x->q);
    cs_live_free(x->live);
    free(x->a.iface_list);
    return rc;
}

static void install_signals(run_ctx *x)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    run_signal_ctx = x;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Everything after the options: start, run the single pass, tear down. */
static int run_daemon(run_ctx *x)
{
    int rc, status, started = 0;

    x->started_ns = cs_now_ns();
    x->last_tick = cs_cli_mono_ns();
    install_signals(x);
    rc = run_start(x);
    if (rc == 0) {
        started = 1;
        cs_log_info("capturing from %s into %s; API on http://%s/api/v1/", run_sources(x), x->a.dir,
                    x->a.listen);
        if (x->a.banner) {
            fputs(x->a.banner, stdout);
            fflush(stdout);
        }
        rc = pipeline_loop(x);
        if (rc == 0 && x->a.file) {
            cs_metrics_flush(x->metrics); /* the file's last seconds are complete */
            x->drained = 1;
            tick(x);
            cs_log_info("replay finished; serving until SIGTERM");
            serve_until_stopped(x);
        }
    }
    if (rc < 0)
        cs_log_error("%s", cs_error_msg(rc));
    run_stop = 1;
    for (int i = 0; i < x->n_caps; i++)
        if (x->caps[i].live && x->caps[i].src)
            cs_afpacket_stop(x->caps[i].src);
    if (x->q)
        cs_pktqueue_close(x->q);
    if ((status = run_finish(x, started)) < 0 && rc == 0)
        rc = status;
    return rc < 0 ? CS_EXIT_FAIL : CS_EXIT_OK;
}

int cs_cmd_run(int argc, char **argv)
{
    static run_ctx x;
    int status;

    memset(&x, 0, sizeof(x));
    if ((status = run_parse(argc, argv, &x.a)) != 0)
        return status < 0 ? CS_EXIT_OK : status;
    return run_daemon(&x);
}

int cs__run_daemon(const cs__run_opts *o, cs_source *src)
{
    static run_ctx x;

    memset(&x, 0, sizeof(x));
    x.a.dir = o->dir;
    x.a.listen = o->listen ? o->listen : RUN_DEFAULT_LISTEN;
    x.a.config = o->config;
    x.a.given = src;
    x.a.label = o->label;
    x.a.banner = o->banner;
    if (o->decoder_opts != NULL)
        x.a.decoder_opts = *o->decoder_opts;
    x.a.metrics_days = 31;
    x.a.ring_bytes = RUN_DEFAULT_RING;
    x.a.so.flags = CS_STORE_WRITE | CS_STORE_CREATE | CS_STORE_CHECKPOINT;
    cs_decoders_parse("all", x.a.decoders);
    return run_daemon(&x);
}

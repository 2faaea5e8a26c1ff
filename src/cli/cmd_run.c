/*
 * cmd_run.c - `capstream run`: the live daemon.
 *
 *   capstream run -i IFACE[,IFACE...] -d STORE [--listen ADDR:PORT] [--config FILE]
 *                 [--filter BPF] [--user USER] [--token-file FILE] [--decoders LIST]
 *                 [--tls-cert FILE --tls-key FILE] [--insecure]
 *   capstream run -r FILE -d STORE [--replay fast|realtime] ...
 *
 * This file parses the options and puts the daemon of the engine
 * (engine/daemon.h: sources, capture threads, the pipeline, metrics,
 * alerts) beside the HTTP server (server/server.h) and its shared live
 * state (server/live.h), which the engine's hooks feed:
 *
 *   engine daemon ── measurement, metrics window, alert ──► live stream (JSON)
 *                 └─ once a second: status ──► /metrics text, /api/v1/status
 *
 *   cs_daemon_open ─► cs_live_new, cs_server_start ─► cs_daemon_start
 *   (sources, store:   (the API answers from here     (drops root, results,
 *    needs root)        on, "capturing")               capture threads)
 *   ─► cs_daemon_run ─► cs_daemon_close ─► cs_server_stop, cs_live_free
 *
 * The threads, what never waits on what and the signals (SIGINT/SIGTERM
 * stop, SIGHUP reloads --config) are the engine's: engine/daemon.c. The
 * HTTP server's threads (libmicrohttpd) read the store's files and the
 * live state.
 */
#include "cli/cli.h"
#include "cli/run_int.h"

#include "analytics/alerts.h"
#include "analytics/metrics.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timefmt.h"
#include "core/version.h"
#include "decode/decoder.h"
#include "engine/daemon.h"
#include "record/json.h"
#include "server/live.h"
#include "server/prom.h"
#include "server/server.h"
#include "store/store.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_MAX_IFACES CS_DAEMON_MAX_IFACES
#define RUN_DEFAULT_LISTEN "127.0.0.1:8642"
#define RUN_DEFAULT_RING CS_DAEMON_DEFAULT_RING

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
    "                        loopback needs --token-file, and TLS or --insecure\n"
    "      --token-file F    bearer token every API request must carry\n" CS_CLI_TLS_HELP
    "      --config FILE     alert rules, one per line (SIGHUP reloads them), e.g.\n"
    "                          fix_slow: pair=fix p99 > 200us for 3s\n"
    "                        and decoder options, read at start, one a line, e.g.\n"
    "                          decoder-opt moldudp64.ports=26477,26478\n"
    "                        (--decoder-opt on the command line wins)\n"
    "      --filter BPF      capture filter (tcpdump syntax)\n"
    "      --ring-size N     kernel capture ring per interface (default 256M; it\n"
    "                        absorbs bursts the analysis cannot follow at once)\n"
    "      --user USER       drop root for USER once the sockets are open\n"
    "      --decoders LIST   all (default), none, or {decoders}\n" CS_CLI_DECODER_OPT_HELP
        CS_CLI_TAP_BY_HELP CS_CLI_WORKERS_HELP
    "      --time-source [IFACE=]SRC  where packet times come from, for every\n"
    "                        interface or for one (repeatable): kernel (default: the\n"
    "                        kernel's software stamp, or a file's own), hardware (the\n"
    "                        NIC's, see the README; live only) or trailer:KIND (a tap\n"
    "                        aggregator's trailer: metamako, exablaze, ixia, vss; the\n"
    "                        host's stamp is kept beside it)\n"
    "      --max-bytes N     packet retention budget (K/M/G suffixes)\n"
    "      --partitions N    for a new store: segments written at once (default 64)\n"
    "      --max-message-bytes N  message and measurement budget (they may outlive\n"
    "                        their packets; the oldest segment's go first)\n"
    "      --metrics-days N  keep per-second metrics N days (default 31)\n" CS_CLI_EXPORT_HELP "\n"
    "examples:\n"
    "  capstream run -i eth1,eth2 -d /var/lib/capstream --config alerts.conf --user capstream\n"
    "  capstream run -r trading.pcap -d S --replay realtime --listen 127.0.0.1:9000\n";

typedef struct run_args {
    char *ifaces[RUN_MAX_IFACES];
    int n_ifaces;
    char *iface_list;
    const char *file, *dir, *listen, *config, *filter, *user, *token_file;
    int realtime;
    const char *synth;  /* a synthetic source's spec (cs__run_daemon) */
    const char *label;  /* and what to call it */
    const char *banner; /* printed once serving (cs__run_daemon) */
    int64_t metrics_days;
    uint64_t ring_bytes; /* AF_PACKET ring per interface */
    cs_store_opts so;
    const cs_decoder *decoders[CS_DECODERS_MAX + 1];
    cs_decoder_optset decoder_opts;
    int tap_by_vlan, tap_by_trailer;
    uint32_t workers;
    const char *time_specs[RUN_MAX_IFACES + 1]; /* --time-source [IFACE=]SRC, as given */
    int n_time_specs;
    cs_timerefs timeref;
    cs_chexport_cfg exp; /* url NULL: no --export */
    cs_server_cfg srv;   /* the TLS fields (--tls-cert...); listen and token are above */
} run_args;

/* What the server shares with the engine's hooks. */
typedef struct run_ctx {
    run_args a;
    cs_live *live;
    cs_server *server;
} run_ctx;

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
    case 'V':
        return cs_cli_parse_tap_by("run", arg, &a->tap_by_vlan, &a->tap_by_trailer) != 0
                   ? CS_EXIT_USAGE
                   : 0;
    case 'J':
        return cs_cli_parse_workers("run", arg, &a->workers) != 0 ? CS_EXIT_USAGE : 0;
    case 'K':
        if (a->n_time_specs == RUN_MAX_IFACES + 1)
            return cs_cli_usage_error("run", "too many --time-source options");
        a->time_specs[a->n_time_specs++] = arg;
        return 0;
    case 'Y':
        if (cs_cli_parse_size(arg, &v) < 0 || v == 0 || v > 36500)
            return cs_cli_usage_error("run", "bad --metrics-days '%s'", arg);
        a->metrics_days = (int64_t)v;
        return 0;
    case CS_CLI_OPT_EXPORT:
    case CS_CLI_OPT_SENSOR:
    case CS_CLI_OPT_TLS_CA:
    case CS_CLI_OPT_EXPORT_TABLES:
        return cs_cli_export_option("run", c, arg, &a->exp);
    case CS_CLI_OPT_TLS_CERT:
    case CS_CLI_OPT_TLS_KEY:
    case CS_CLI_OPT_INSECURE:
        return cs_cli_tls_option(c, arg, &a->srv);
    default:
        return cs_cli_usage_error("run", "bad option");
    }
}

/* One --time-source: SRC for every capture point, or IFACE=SRC for one of
 * the -i interfaces (its tap is its place in the list). */
static int time_spec(run_args *a, const char *spec)
{
    const char *eq = strchr(spec, '=');
    size_t len = eq ? (size_t)(eq - spec) : 0;
    int i = 0;

    if (eq == NULL)
        return cs_cli_parse_time_source("run", spec, &a->timeref);
    while (i < a->n_ifaces && (strlen(a->ifaces[i]) != len || strncmp(a->ifaces[i], spec, len)))
        i++;
    if (i == a->n_ifaces || i >= CS_TIMEREF_TAPS)
        return cs_cli_usage_error("run", "--time-source %s: %.*s is not one of the -i interfaces",
                                  spec, (int)len, spec);
    if (cs_timeref_parse(eq + 1, &a->timeref.tap[i]) < 0)
        return cs_cli_usage_error("run", "%s", cs_error_msg(CS_EINVAL));
    a->timeref.has_tap[i] = 1;
    return 0;
}

/* The --time-source options, once the interfaces are known. */
static int time_specs(run_args *a)
{
    int rc;

    for (int i = 0; i < a->n_time_specs; i++)
        if (strchr(a->time_specs[i], '=') == NULL && (rc = time_spec(a, a->time_specs[i])) != 0)
            return rc;
    for (int i = 0; i < a->n_time_specs; i++)
        if (strchr(a->time_specs[i], '=') != NULL && (rc = time_spec(a, a->time_specs[i])) != 0)
            return rc;
    if (a->file != NULL && a->timeref.all.source == CS_TIME_HARDWARE)
        return cs_cli_usage_error("run", "--time-source hardware is for live capture (-i); a "
                                         "file's stamps are whatever its capture wrote");
    return cs_cli_finish_timerefs("run", &a->timeref, a->tap_by_trailer);
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
                                         {"tap-by", required_argument, 0, 'V'},
                                         {"time-source", required_argument, 0, 'K'},
                                         {"workers", required_argument, 0, 'J'},
                                         {"help", no_argument, 0, 'h'},
                                         CS_CLI_EXPORT_OPTS,
                                         CS_CLI_TLS_OPTS,
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
    if ((rc = time_specs(a)) != 0)
        return rc;
    if (a->config != NULL && cs_cli_config_decoder_opts(a->config, &a->decoder_opts) < 0)
        return cs_cli_usage_error("run", "%s", cs_error_msg(CS_EINVAL));
    return cs_cli_export_check("run", &a->exp);
}

/* The HTTP server's configuration of "a". */
static cs_server_cfg server_cfg(const run_args *a)
{
    cs_server_cfg sc = a->srv;

    sc.listen = a->listen;
    sc.token_file = a->token_file;
    sc.store_dir = a->dir;
    return sc;
}

/* ---- the engine's hooks: live events, status, /metrics ---------------- */

static void publish_json(run_ctx *x, const char *type, void (*fmt)(FILE *, const void *),
                         const void *obj)
{
    char buf[8192];
    FILE *f;
    long n;

    if (!cs_live_has_readers(x->live))
        return; /* nobody would see it */
    if ((f = fmemopen(buf, sizeof(buf), "w")) == NULL)
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
    if (w->series.kind == CS_SERIES_CLOCK)
        fprintf(f,
                ",\"unsynced\":%" PRIu64 ",\"backwards\":%" PRIu64 ",\"untimed\":%" PRIu64
                ",\"offset_mean_ns\":%.0f",
                w->unsynced, w->backwards, w->untimed,
                w->packets ? (double)w->offset_sum_ns / (double)w->packets : 0.0);
    if (w->series.kind == CS_SERIES_FEED) /* messages: ITCH; burst_packets: by them */
        fprintf(f, ",\"gaps\":%" PRIu64 ",\"lost\":%" PRIu64, w->gaps, w->missing);
    if (w->series.kind == CS_SERIES_SESSION)
        fprintf(f, ",\"orders\":%" PRIu64 ",\"accepts\":%" PRIu64 ",\"rejects\":%" PRIu64,
                w->orders, w->accepts, w->rejects);
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

    publish_json(x, "alert", fmt_alert, ev);
}

static void on_window(void *ud, const cs_window *w)
{
    run_ctx *x = ud;

    publish_json(x, "metrics", fmt_window, w);
}

static void on_measurement(void *ud, const cs_measurement *ms)
{
    run_ctx *x = ud;

    publish_json(x, "measurement", fmt_measurement, ms);
}

/* Once a second: /metrics rendered from the live counters and histograms,
 * then the status (readers poll the status to see a replay done, so the
 * text they then read is already the final one). */
static void on_tick(void *ud, const cs_daemon_status *ds, const cs_metrics *m)
{
    run_ctx *x = ud;
    cs_live_status st = {.version = CS_VERSION_STRING,
                         .started_ns = ds->started_ns,
                         .packets = ds->packets,
                         .bytes = ds->bytes,
                         .kernel_drops = ds->kernel_drops,
                         .not_stored = ds->not_stored,
                         .not_analysed = ds->not_analysed,
                         .records_not_stored = ds->records_not_stored,
                         .windows_not_stored = ds->windows_not_stored,
                         .alerts_not_stored = ds->alerts_not_stored,
                         .messages = ds->messages,
                         .measurements = ds->measurements,
                         .hw_ts_missing = ds->hw_ts_missing,
                         .timeref = ds->timeref,
                         .capturing = ds->capturing,
                         .exporting = ds->exporting,
                         .exp = ds->exp};
    char *text = NULL;
    size_t len = 0;

    snprintf(st.sources, sizeof(st.sources), "%s", ds->sources);
    if (cs_prom_render(&st, m, &text, &len) == 0)
        cs_live_set_prometheus(x->live, text, len);
    cs_free(text);
    cs_live_set_status(x->live, &st);
}

/* ---- the daemon and its server ---------------------------------------- */

static void daemon_cfg(run_ctx *x, cs_daemon_cfg *c)
{
    const run_args *a = &x->a;

    *c = (cs_daemon_cfg){.ifaces = (const char *const *)a->ifaces,
                         .n_ifaces = a->n_ifaces,
                         .iface_list = a->iface_list,
                         .file = a->file,
                         .realtime = a->realtime,
                         .synth = a->synth,
                         .label = a->label,
                         .filter = a->filter,
                         .ring_bytes = a->ring_bytes,
                         .dir = a->dir,
                         .so = a->so,
                         .config = a->config,
                         .user = a->user,
                         .metrics_days = a->metrics_days,
                         .decoders = a->decoders,
                         .decoder_opts = &a->decoder_opts,
                         .tap_by_vlan = a->tap_by_vlan,
                         .workers = a->workers,
                         .timeref = a->timeref,
                         .exp = a->exp.url ? &a->exp : NULL,
                         .hooks = {x, on_measurement, on_window, on_alert, on_tick}};
}

/* The engine's daemon, with the API answering from before the captures
 * start until after every file is closed. */
static int run_serving(run_ctx *x, cs_daemon *d)
{
    cs_server_cfg sc = server_cfg(&x->a);
    /* "capturing" from the first request on: an all-zero status would read
     * as a replay already finished */
    cs_live_status st0 = {.version = CS_VERSION_STRING, .capturing = 1};
    int rc;

    if ((rc = cs_live_new(&x->live)) < 0)
        return rc;
    st0.started_ns = cs_now_ns();
    cs_live_set_status(x->live, &st0);
    if ((rc = cs_server_start(&sc, x->live, &x->server)) < 0 || (rc = cs_daemon_start(d)) < 0)
        return rc;
    cs_log_info("capturing from %s into %s; API on %s://%s/api/v1/", cs_daemon_sources(d), x->a.dir,
                cs_server_tls(x->server) ? "https" : "http", x->a.listen);
    if (x->a.banner) {
        fputs(x->a.banner, stdout);
        fflush(stdout);
    }
    return cs_daemon_run(d);
}

/* Everything after the options: start, run the single pass, tear down.
 * The server's configuration is judged first, so a refused one opens no
 * capture and no store. */
static int run_daemon(run_ctx *x)
{
    cs_server_cfg sc = server_cfg(&x->a);
    cs_daemon_cfg c;
    cs_daemon *d = NULL;
    int rc, rc2;

    if ((rc = cs_cli_server_check("run", &sc)) != 0)
        return rc;
    daemon_cfg(x, &c);
    rc = cs_daemon_open(&c, &d);
    if (rc == 0)
        rc = run_serving(x, d);
    if (rc < 0)
        cs_log_error("%s", cs_error_msg(rc));
    if ((rc2 = cs_daemon_close(d)) < 0 && rc == 0)
        rc = rc2;
    cs_server_stop(x->server);
    cs_live_free(x->live);
    free(x->a.iface_list);
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

int cs__run_daemon(const cs__run_opts *o)
{
    static run_ctx x;

    memset(&x, 0, sizeof(x));
    x.a.dir = o->dir;
    x.a.listen = o->listen ? o->listen : RUN_DEFAULT_LISTEN;
    x.a.config = o->config;
    x.a.synth = o->synth;
    x.a.label = o->label;
    x.a.banner = o->banner;
    if (o->decoder_opts != NULL)
        x.a.decoder_opts = *o->decoder_opts;
    x.a.tap_by_vlan = o->tap_by_vlan;
    if (o->exp != NULL)
        x.a.exp = *o->exp;
    if (o->server != NULL) {
        x.a.token_file = o->server->token_file;
        x.a.srv = *o->server;
    }
    x.a.metrics_days = 31;
    x.a.ring_bytes = RUN_DEFAULT_RING;
    x.a.so.flags = CS_STORE_WRITE | CS_STORE_CREATE | CS_STORE_CHECKPOINT;
    cs_decoders_parse("all", x.a.decoders);
    return run_daemon(&x);
}

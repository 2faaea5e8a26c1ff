/*
 * cmd_serve.c - `capstream serve -d STORE [--listen ADDR] [--token-file F]
 * [--tls-cert F --tls-key F] [--insecure]`:
 * the HTTP API, the web UI and Prometheus /metrics over an existing store,
 * read-only, without capturing.
 *
 *   store ──(read-only opens, once a second)──► status + Prometheus text ──► live
 *     │                                                                        │
 *     └──(each request opens it read-only: api.c)──► HTTP server ◄─────────────┘
 *
 * What it serves is what `run` serves, from the store alone: every list,
 * lookup, pcap download and chart reads the store's files (messages,
 * measurements, packets, stored per-second metrics) as `run`'s API does;
 * the status counts (packets, bytes, messages, measurements) are the
 * store's, recounted once a second, so a store that another process
 * (`ingest`, `run`) is writing shows its growth. "capturing" is false and
 * the drop counters are 0: nothing is captured here. /metrics carries the
 * same counts (capstream_packets_total... from the store); per-pair
 * latency histograms exist only while a daemon analyses.
 *
 * Invariants: serve never takes the store's writer lock and never writes
 * to the store (the packet store is opened without CS_STORE_WRITE, the
 * message store only through readers), so it may run next to the store's
 * writer and any number of other readers. An empty store (made, nothing
 * stored yet) serves empty lists and zero counts.
 *
 * Threading: the main thread recounts and publishes once a second until
 * SIGINT or SIGTERM; the server's threads read "live" (thread-safe) and
 * open the store per request.
 */
#include "cli/cli.h"

#include "core/error.h"
#include "core/log.h"
#include "core/timefmt.h"
#include "core/version.h"
#include "server/live.h"
#include "server/prom.h"
#include "server/server.h"
#include "store/msgstore.h"
#include "store/store.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SERVE_RECOUNT_NS 1000000000ll

static const char serve_help[] =
    "usage: capstream serve -d STORE [--listen ADDR] [--token-file FILE]\n"
    "                       [--tls-cert FILE --tls-key FILE] [--insecure]\n\n"
    "Serves an existing store without capturing: the HTTP API (/api/v1/...),\n"
    "the web UI (/) and Prometheus /metrics, as `capstream run` serves them, over\n"
    "what STORE holds. Read-only: it never takes the writer lock, so it can run\n"
    "while `capstream ingest` or `capstream run` writes the same store (their new\n"
    "records show within a second). The status counts (packets, messages,\n"
    "measurements, time span) are the store's; \"capturing\" is false.\n\n"
    "  -d, --store DIR        the store (must exist; an empty one serves empty lists)\n"
    "      --listen ADDR      address to listen on (default " CS_SERVER_DEFAULT_LISTEN ";\n"
    "                         port 0 = any free port, printed at start)\n"
    "      --token-file FILE  bearer token (first line), required off loopback, where\n"
    "                         TLS (or --insecure) is required too\n" CS_CLI_TLS_HELP "\n"
    "Stops on SIGINT or SIGTERM (exit 0).\n\n"
    "example:\n"
    "  capstream serve -d /var/lib/capstream --listen 127.0.0.1:8642\n";

typedef struct serve_args {
    const char *dir;
    cs_server_cfg srv; /* listen, token and TLS; store_dir is "dir" */
} serve_args;

static _Atomic int serve_stop; /* set on whichever thread takes the signal */

static void on_stop_signal(int sig)
{
    (void)sig;
    serve_stop = 1;
}

/* 0 with "*a" filled, or the exit status to leave with (help: CS_EXIT_OK
 * with "*done" set; a usage error: CS_EXIT_USAGE). */
static int parse_args(int argc, char **argv, serve_args *a, int *done)
{
    static const struct option opts[] = {
        {"store", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"token-file", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        CS_CLI_TLS_OPTS,
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(a, 0, sizeof(*a));
    a->srv.listen = CS_SERVER_DEFAULT_LISTEN;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            a->dir = optarg;
            break;
        case 'l':
            a->srv.listen = optarg;
            break;
        case 't':
            a->srv.token_file = optarg;
            break;
        case CS_CLI_OPT_TLS_CERT:
        case CS_CLI_OPT_TLS_KEY:
        case CS_CLI_OPT_INSECURE:
            cs_cli_tls_option(c, optarg, &a->srv);
            break;
        case 'h':
            fputs(serve_help, stdout);
            *done = 1;
            return CS_EXIT_OK;
        default:
            return cs_cli_usage_error("serve", "unknown option");
        }
    }
    if (optind < argc)
        return cs_cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (a->dir == NULL)
        return cs_cli_usage_error("serve", "-d STORE is required");
    a->srv.store_dir = a->dir;
    return cs_cli_server_check("serve", &a->srv);
}

/* The status of "dir" as the store tells it, into "st" (its version,
 * start time and sources already set). */
static int count_store(const char *dir, cs_live_status *st)
{
    cs_store_info si;
    cs_msgstore_info mi;
    int rc = cs_store_holdings(dir, &si, &mi);

    if (rc < 0)
        return rc;
    st->packets = si.packets;
    st->bytes = si.packet_bytes;
    st->messages = mi.messages;
    st->measurements = mi.measurements;
    return 0;
}

/* Recounts the store and publishes the status and the Prometheus text. A
 * failed recount keeps the previous counts (logged once per failure run). */
static void publish(const serve_args *a, cs_live *live, cs_live_status *st, int *failing)
{
    char *text = NULL;
    size_t len = 0;
    int rc = count_store(a->dir, st);

    if (rc < 0 && !*failing)
        cs_log_error("%s: %s (serving the last counts)", a->dir, cs_error_msg(rc));
    *failing = rc < 0;
    if (cs_prom_render(st, NULL, &text, &len) == 0)
        cs_live_set_prometheus(live, text, len);
    free(text);
    cs_live_set_status(live, st);
}

static void install_stop_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int serve(const serve_args *a)
{
    cs_live_status st;
    cs_live *live = NULL;
    cs_server *srv = NULL;
    cs_msgreader *probe = NULL;
    struct timespec nap = {0, 100000000};
    int rc, failing = 0;
    int64_t last = 0;

    if ((rc = cs_msgreader_open(a->dir, &probe)) < 0) /* no store, not a store */
        return rc;
    cs_msgreader_close(probe);
    memset(&st, 0, sizeof(st));
    st.version = CS_VERSION_STRING;
    st.started_ns = cs_now_ns();
    snprintf(st.sources, sizeof(st.sources), "store %s (read-only)", a->dir);
    if ((rc = count_store(a->dir, &st)) < 0 || (rc = cs_live_new(&live)) < 0)
        goto out;
    publish(a, live, &st, &failing);
    install_stop_signals();
    if ((rc = cs_server_start(&a->srv, live, &srv)) < 0)
        goto out;
    cs_log_info("serving %s read-only; API on %s://%s/api/v1/ (port %d)", a->dir,
                cs_server_tls(srv) ? "https" : "http", a->srv.listen, cs_server_port(srv));
    last = cs_mono_ns();
    while (!serve_stop) {
        nanosleep(&nap, NULL);
        if (cs_mono_ns() - last >= SERVE_RECOUNT_NS) {
            last = cs_mono_ns();
            publish(a, live, &st, &failing);
        }
    }
    cs_log_info("stopping");
out:
    cs_server_stop(srv);
    cs_live_free(live);
    return rc;
}

int cs_cmd_serve(int argc, char **argv)
{
    serve_args a;
    int done = 0, rc = parse_args(argc, argv, &a, &done);

    if (rc != 0 || done)
        return rc;
    rc = serve(&a);
    return rc < 0 ? cs_cli_fail(rc) : CS_EXIT_OK;
}

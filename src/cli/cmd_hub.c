/*
 * cmd_hub.c - `capstream hub --sensor NAME=URL ...`: one API and web UI
 * over many sensors (hub/hub.h), on the same HTTP server as a sensor's
 * (server/server.h, so the same rules: loopback unless a token file is
 * given, a bearer token on every request then).
 *
 * This file parses the options, makes the hub (which checks them and
 * contacts nobody), starts the server with the hub as its api handler and
 * waits for SIGINT or SIGTERM.
 */
#include "cli/cli.h"

#include "core/error.h"
#include "core/log.h"
#include "hub/fanout.h"
#include "hub/hub.h"
#include "server/server.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HUB_DEFAULT_LISTEN "127.0.0.1:8650"

static const char hub_help[] =
    "usage: capstream hub --sensor NAME=URL [--sensor NAME=URL ...] [options]\n\n"
    "Serves one API (/api/v1/...) and the web UI over many capstream sensors\n"
    "(`capstream run` or `serve` each). /status sums the sensors'; measurements,\n"
    "messages and gaps come from ClickHouse with --clickhouse (the database the\n"
    "sensors --export to), else every sensor is asked and the answers are merged;\n"
    "/packets asks every sensor and merges their pcaps in time order. Every row\n"
    "names its \"sensor\"; a row's details and packets come from that sensor\n"
    "(?sensor=NAME on any endpoint passes the request to it). A sensor that is down\n"
    "or slow gives a partial answer that names it (\"missing\", \"partial\"; for a\n"
    "pcap the X-Capstream-Missing header), never a failed or hung one.\n\n"
    "  --sensor NAME=URL        a sensor's API, http[s]://HOST:PORT (repeatable)\n"
    "  --sensor-token NAME=FILE that sensor's bearer token (its --token-file)\n"
    "  --clickhouse URL         http[s]://HOST:PORT/DB the sensors export to\n"
    "  --tls-ca FILE            verify https sensors and ClickHouse against FILE\n"
    "  --timeout-ms N           how long the hub waits for sensors (default 1500)\n"
    "  --listen ADDR            address to listen on (default " HUB_DEFAULT_LISTEN ")\n"
    "  --token-file FILE        bearer token (first line) for the hub, required off\n"
    "                           loopback (and then TLS, or --insecure)\n" CS_CLI_TLS_HELP "\n"
    "examples:\n"
    "  capstream hub --sensor ny4=http://10.0.0.5:8642 --sensor ld4=http://10.1.0.5:8642\n"
    "  capstream hub --sensor a=http://127.0.0.1:8642 --clickhouse http://127.0.0.1:8123/cs\n"
    "  capstream hub --sensor ny4=https://ny4:8642 --sensor-token ny4=ny4.token --tls-ca ca.pem\n"
    "                --listen 0.0.0.0:8650 --token-file hub.token --tls-cert hub.pem --tls-key "
    "hub.key\n";

#define CS_HUB_MAX_ARGS CS_HUB_SENSORS_MAX

typedef struct hub_args {
    const char *sensors[CS_HUB_MAX_ARGS], *tokens[CS_HUB_MAX_ARGS];
    int n_sensors, n_tokens;
    const char *clickhouse, *ca_file;
    long long timeout_ms;
    cs_server_cfg srv; /* listen, token and TLS; the api is the hub */
} hub_args;

static _Atomic int hub_stop; /* set on whichever thread takes the signal */

static void on_stop(int sig)
{
    (void)sig;
    hub_stop = 1;
}

static int add_arg(const char **list, int *n, const char *v, const char *opt)
{
    if (*n == CS_HUB_MAX_ARGS)
        return cs_cli_usage_error("hub", "at most %d %s options", CS_HUB_MAX_ARGS, opt);
    list[(*n)++] = v;
    return 0;
}

static int hub_option(hub_args *a, int c, const char *v)
{
    char *end;

    switch (c) {
    case 's':
        return add_arg(a->sensors, &a->n_sensors, v, "--sensor");
    case 'k':
        return add_arg(a->tokens, &a->n_tokens, v, "--sensor-token");
    case 'l':
        a->srv.listen = v;
        return 0;
    case 't':
        a->srv.token_file = v;
        return 0;
    case 'c':
        a->clickhouse = v;
        return 0;
    case 'a':
        a->ca_file = v;
        return 0;
    case 'w':
        a->timeout_ms = strtoll(v, &end, 10);
        if (v[0] < '0' || v[0] > '9' || *end || a->timeout_ms < 10 || a->timeout_ms > 600000)
            return cs_cli_usage_error("hub", "--timeout-ms: give 10 to 600000");
        return 0;
    default:
        if (cs_cli_is_tls_option(c))
            return cs_cli_tls_option(c, v, &a->srv);
        return cs_cli_usage_error("hub", "bad option");
    }
}

static int hub_parse(int argc, char **argv, hub_args *a)
{
    static const struct option opts[] = {{"sensor", required_argument, 0, 's'},
                                         {"sensor-token", required_argument, 0, 'k'},
                                         {"listen", required_argument, 0, 'l'},
                                         {"token-file", required_argument, 0, 't'},
                                         {"clickhouse", required_argument, 0, 'c'},
                                         {"tls-ca", required_argument, 0, 'a'},
                                         {"timeout-ms", required_argument, 0, 'w'},
                                         {"help", no_argument, 0, 'h'},
                                         CS_CLI_TLS_OPTS,
                                         {0, 0, 0, 0}};
    int c, rc;

    a->srv.listen = HUB_DEFAULT_LISTEN;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            cs_cli_help(stdout, hub_help);
            return -1;
        }
        if ((rc = hub_option(a, c, optarg)) != 0)
            return rc;
    }
    if (optind < argc)
        return cs_cli_usage_error("hub", "unexpected argument '%s'", argv[optind]);
    if (a->n_sensors == 0)
        return cs_cli_usage_error("hub", "give at least one --sensor NAME=URL");
    a->srv.api = cs_hub_answer; /* a store or an api: cs_server_check wants one */
    return cs_cli_server_check("hub", &a->srv);
}

static int hub_serve(const hub_args *a, cs_hub *h)
{
    cs_server_cfg sc = a->srv;
    struct sigaction sa;
    struct timespec nap = {0, 100000000};
    cs_server *srv = NULL;
    int rc;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sc.api_ud = h;
    if ((rc = cs_server_start(&sc, NULL, &srv)) < 0)
        return rc;
    cs_log_info("hub over %d sensor(s)%s; API on %s://%s/api/v1/ (port %d)", a->n_sensors,
                a->clickhouse ? " and ClickHouse" : "", cs_server_tls(srv) ? "https" : "http",
                sc.listen, cs_server_port(srv));
    while (!hub_stop)
        nanosleep(&nap, NULL);
    cs_log_info("stopping");
    cs_server_stop(srv);
    return 0;
}

int cs_cmd_hub(int argc, char **argv)
{
    hub_args a;
    cs_hub *h = NULL;
    int rc;

    memset(&a, 0, sizeof(a));
    if ((rc = hub_parse(argc, argv, &a)) != 0)
        return rc < 0 ? CS_EXIT_OK : rc;
    rc = cs_hub_new(&(cs_hub_cfg){.sensors = a.sensors,
                                  .n_sensors = a.n_sensors,
                                  .sensor_tokens = a.tokens,
                                  .n_sensor_tokens = a.n_tokens,
                                  .ca_file = a.ca_file,
                                  .clickhouse = a.clickhouse,
                                  .timeout_ms = a.timeout_ms},
                    &h);
    if (rc < 0)
        return cs_cli_usage_error("hub", "%s", cs_error_msg(rc));
    rc = hub_serve(&a, h);
    cs_hub_free(h);
    return rc < 0 ? cs_cli_fail(rc) : CS_EXIT_OK;
}

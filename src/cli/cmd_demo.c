/*
 * cmd_demo.c - `capstream demo`: the whole daemon on made-up traffic.
 *
 *   capstream demo [--listen ADDR:PORT] [--rate PPS] [--seconds N] [--store DIR]
 *                  [--token-file F] [--tls-cert F --tls-key F] [--insecure]
 *
 * No root, no interface, no capture file: the synthetic source
 * (source/synth.h: FIX order entry with occasional slow acks, HTTP, DNS
 * with some NXDOMAIN, ITCH market data on an A/B pair of MoldUDP64 feeds
 * with occasional loss, OUCH order entry over SoupBinTCP, the trading
 * traffic seen at two taps tagged VLAN 101 and 102) feeds, in real time,
 * the very daemon of `capstream run` (cli/run_int.h, engine/daemon.h) -
 * store, decode, pairing, metrics, alerts from a built-in rule set, HTTP
 * API and web UI. This file chooses the options, the store and the rules:
 * the daemon runs as with `--tap-by vlan --decoder-opt
 * moldudp64.ports=26477,26478 --decoder-opt soupbintcp.ports=15000`, so
 * the A/B races, gaps, hop, OUCH and tick-to-trade latencies show.
 *
 *   synth source ──► cs__run_daemon ──► temporary store (mkdtemp)
 *                                   └─► http://ADDR:PORT/  (UI, /api/v1/)
 *
 * The store is a fresh directory under $TMPDIR (or /tmp), removed at exit;
 * --store DIR keeps it. The alert rules go to a temporary file, removed
 * at exit. --seconds N stops the daemon (as SIGTERM would) after N seconds
 * and the command exits 0.
 */
#include "cli/cli.h"
#include "cli/run_int.h"

#include "core/error.h"

#include <ftw.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEMO_DEFAULT_LISTEN "127.0.0.1:8642"

static const char demo_help[] =
    "usage: capstream demo [--listen ADDR:PORT] [--rate PPS] [--seconds N] [--store DIR]\n"
    "                      [--decoder-opt NAME.KEY=VALUE] [--export clickhouse=URL]\n"
    "                      [--token-file F] [--tls-cert F --tls-key F] [--insecure]\n\n"
    "Runs the live daemon on synthetic trading-floor traffic - FIX order entry\n"
    "with occasional slow acknowledgements, HTTP, DNS with some NXDOMAIN, ITCH\n"
    "market data on MoldUDP64 feeds A and B with occasional loss, OUCH 4.2\n"
    "order entry over SoupBinTCP, the trading traffic seen at two taps (VLAN\n"
    "101 edge, 102 inside) - generated in real time: no root, no interface, no\n"
    "capture file. Packets go into a temporary store through the full pipeline\n"
    "(decode, latency pairing, metrics, built-in alert rules) as with --tap-by\n"
    "vlan, moldudp64.ports=26477,26478 and soupbintcp.ports=15000, and the web\n"
    "UI is served.\n\n"
    "  --listen A:P     HTTP address (default 127.0.0.1:8642); any address but\n"
    "                   loopback needs --token-file, and TLS or --insecure\n"
    "  --token-file F   bearer token every API request must carry\n"
    "  --rate PPS       packets per second (default 5000)\n"
    "  --seconds N      stop after N seconds (default: until Ctrl-C / SIGTERM)\n"
    "  --store DIR      keep the store in DIR instead of a removed temporary one\n"
    "  --seed N         generator seed (default 1)\n" CS_CLI_TLS_HELP CS_CLI_DECODER_OPT_HELP
        CS_CLI_EXPORT_HELP "\n"
    "alert rules:\n"
    "  fix_slow:   pair=fix p99 > 1ms for 2s clear 10s\n"
    "  dns_errors: proto=dns rcode!=0 rate > 5/s\n\n"
    "examples:\n"
    "  capstream demo                       then open http://127.0.0.1:8642/\n"
    "  capstream demo --listen 127.0.0.1:9000 --rate 20000\n"
    "  capstream demo --seconds 10 --store /tmp/demo && capstream latency -d /tmp/demo --stats\n";

static const char demo_rules[] = "# capstream demo: built-in alert rules\n"
                                 "fix_slow: pair=fix p99 > 1ms for 2s clear 10s\n"
                                 "dns_errors: proto=dns rcode!=0 rate > 5/s\n";

static const char *const demo_decoder_opts[] = {"moldudp64.ports=26477,26478",
                                                "soupbintcp.ports=15000"};

typedef struct demo_args {
    const char *listen, *store;
    unsigned long long rate, seed, seconds;
    cs_decoder_optset decoder_opts;
    cs_chexport_cfg exp; /* url NULL: no --export */
    cs_server_cfg srv;   /* --token-file, --tls-cert, --tls-key, --insecure */
} demo_args;

static int parse_count(const char *opt, const char *s, unsigned long long max,
                       unsigned long long *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);

    if (end == s || *end != '\0' || v == 0 || v > max || s[0] == '-')
        return cs_cli_usage_error("demo", "bad %s '%s'", opt, s);
    *out = v;
    return 0;
}

static int demo_parse(int argc, char **argv, demo_args *a)
{
    static const struct option opts[] = {{"listen", required_argument, 0, 'L'},
                                         {"rate", required_argument, 0, 'R'},
                                         {"seconds", required_argument, 0, 'S'},
                                         {"store", required_argument, 0, 'd'},
                                         {"seed", required_argument, 0, 'E'},
                                         {"decoder-opt", required_argument, 0, 'O'},
                                         {"token-file", required_argument, 0, 'T'},
                                         {"help", no_argument, 0, 'h'},
                                         CS_CLI_EXPORT_OPTS,
                                         CS_CLI_TLS_OPTS,
                                         {0, 0, 0, 0}};
    int c, rc = 0;

    a->listen = DEMO_DEFAULT_LISTEN;
    a->rate = 5000;
    a->seed = 1;
    /* the synthetic feeds' and order entry's ports (source/synth.h); a
     * --decoder-opt of the same key replaces them */
    for (size_t i = 0; i < sizeof(demo_decoder_opts) / sizeof(demo_decoder_opts[0]); i++)
        if (cs_decoder_optset_add(&a->decoder_opts, demo_decoder_opts[i]) < 0)
            return cs_cli_fail(CS_EINVAL);
    while (rc == 0 && (c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(demo_help, stdout);
            return -1;
        }
        if (c == 'L')
            a->listen = optarg;
        else if (c == 'd')
            a->store = optarg;
        else if (c == 'R')
            rc = parse_count("--rate", optarg, 10000000, &a->rate);
        else if (c == 'S')
            rc = parse_count("--seconds", optarg, 365ull * 86400, &a->seconds);
        else if (c == 'E')
            rc = parse_count("--seed", optarg, ~0ull, &a->seed);
        else if (c == 'O')
            rc = cs_decoder_optset_add(&a->decoder_opts, optarg) < 0
                     ? cs_cli_usage_error("demo", "%s", cs_error_msg(CS_EINVAL))
                     : 0;
        else if (c == 'T')
            a->srv.token_file = optarg;
        else if (c == CS_CLI_OPT_EXPORT || c == CS_CLI_OPT_SENSOR || c == CS_CLI_OPT_TLS_CA ||
                 c == CS_CLI_OPT_EXPORT_TABLES)
            rc = cs_cli_export_option("demo", c, optarg, &a->exp);
        else if (cs_cli_is_tls_option(c))
            rc = cs_cli_tls_option(c, optarg, &a->srv);
        else
            rc = cs_cli_usage_error("demo", "bad option");
    }
    if (rc == 0 && optind < argc)
        rc = cs_cli_usage_error("demo", "unexpected argument '%s'", argv[optind]);
    a->srv.listen = a->listen;
    if (rc == 0 && (rc = cs_cli_export_check("demo", &a->exp)) == 0)
        rc = cs_cli_server_check("demo", &a->srv); /* before a store is made */
    return rc;
}

/* ---- temporary files -------------------------------------------------- */

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(path) < 0 ? -1 : 0;
}

static const char *tmp_base(void)
{
    const char *t = getenv("TMPDIR");

    return t && *t ? t : "/tmp";
}

static int write_rules(char *path, size_t cap)
{
    FILE *f;
    int fd;

    snprintf(path, cap, "%s/capstream-demo-rules-XXXXXX", tmp_base());
    fd = mkstemp(path);
    if (fd < 0)
        return cs_error_set(CS_EIO, "cannot create a rules file in %s", tmp_base());
    f = fdopen(fd, "w");
    if (f == NULL || fputs(demo_rules, f) == EOF || fclose(f) != 0) {
        if (f == NULL)
            close(fd);
        unlink(path);
        return cs_error_set(CS_EIO, "cannot write the rules file %s", path);
    }
    return 0;
}

/* ---- --seconds -------------------------------------------------------- */

static void *stop_later(void *arg)
{
    const unsigned long long *secs = arg;
    struct timespec d = {(time_t)*secs, 0};

    while (nanosleep(&d, &d) != 0)
        ;
    kill(getpid(), SIGTERM); /* the daemon's own clean stop */
    return NULL;
}

int cs_cmd_demo(int argc, char **argv)
{
    static demo_args a;
    char store[4096], rules[4096] = "", spec[96], banner[8400];
    cs__run_opts o = {0};
    pthread_t timer;
    int rc, status = CS_EXIT_FAIL;

    memset(&a, 0, sizeof(a));
    if ((rc = demo_parse(argc, argv, &a)) != 0)
        return rc < 0 ? CS_EXIT_OK : rc;
    if (a.store) {
        snprintf(store, sizeof(store), "%s", a.store);
    } else {
        snprintf(store, sizeof(store), "%s/capstream-demo-XXXXXX", tmp_base());
        if (mkdtemp(store) == NULL)
            return cs_cli_fail(cs_error_set(CS_EIO, "cannot create a directory in %s", tmp_base()));
    }
    if ((rc = write_rules(rules, sizeof(rules))) < 0) {
        cs_cli_fail(rc);
        goto out;
    }
    snprintf(spec, sizeof(spec), "rate=%llu,seed=%llu", a.rate, a.seed);
    snprintf(
        banner, sizeof(banner),
        "capstream demo: open http%s://%s/ \xe2\x80\x94 the web UI; the API is under /api/v1/\n"
        "capstream demo: store %s%s; Ctrl-C stops\n",
        a.srv.tls_cert ? "s" : "", a.listen, store, a.store ? "" : " (temporary, removed at exit)");
    o = (cs__run_opts){.dir = store,
                       .listen = a.listen,
                       .config = rules,
                       .synth = spec,
                       .label = "synth",
                       .banner = banner,
                       .decoder_opts = &a.decoder_opts,
                       .tap_by_vlan = 1,
                       .exp = a.exp.url ? &a.exp : NULL,
                       .server = &a.srv};
    if (a.seconds && pthread_create(&timer, NULL, stop_later, &a.seconds) == 0)
        pthread_detach(timer);
    status = cs__run_daemon(&o);
out:
    if (rules[0])
        unlink(rules);
    if (!a.store)
        nftw(store, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    return status;
}

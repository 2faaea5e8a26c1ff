/*
 * cmd_latency.c - `capstream latency`: stored latency measurements.
 *
 *   capstream latency -d STORE [--pair P] [--key K] [--after T] [--before T]
 *                     [--min DURATION] [--sort time|latency] [--limit N]
 *                     [--json] [--stats] [--unmatched]
 *
 * Reads the message store (store/msgstore.c) and prints one measurement a
 * line (text or JSON lines), per-pair percentiles from log-linear
 * histograms (--stats, within 1% of the exact quantiles; count, min and
 * max exact), or the requests that were never answered and the responses
 * that matched no request (--unmatched). Time filters apply to the request
 * time (req_ts_ns), or to the message time for --unmatched.
 *
 * Times: req_ts_ns and resp_ts_ns are first-byte times (the capture time
 * of the packet carrying the message's first byte; over TCP DNS the byte
 * after the length prefix), and latency is their difference;
 * resp_last_ts_ns is the response's last-byte time (the packet completing
 * it, what tshark's dns.time measures to). A response in several messages
 * (a DNS zone transfer) shows "+N attached" in text and "attached",
 * "attached_last_msg", "attached_last_ts_ns" in JSON.
 */
#include "cli/cli.h"

#include "analytics/analyzer.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/timefmt.h"
#include "record/json.h"
#include "store/msgstore.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char latency_help[] =
    "usage: capstream latency -d STORE [--pair P] [--key K] [--session SRC>DST]\n"
    "                         [--after T] [--before T] [--min DURATION] [--max DURATION]\n"
    "                         [--sort time|latency] [--limit N] [--json]\n"
    "                         [--stats [--by-session]] [--unmatched]\n\n"
    "Prints the stored latency measurements (a request matched with its response),\n"
    "one a line: id, pair, key, request time, latency, client -> server (and\n"
    "'+N attached' when the response came in several messages, a DNS zone transfer).\n"
    "Latency is from the request's first byte to the response's first byte (the\n"
    "capture times of the packets carrying them); resp_last_ts_ns is the time of\n"
    "the packet carrying the response's last byte.\n\n"
    "  -d, --store DIR      the store\n"
    "  -p, --pair P         only pair P ({pairs})\n"
    "  -k, --key K          only measurements with key K (ClOrdID, 'GET /x', '4660 a.com')\n"
    "      --session S      only session S, 'SRC>DST' as a measurement's src and dst\n"
    "                       (10.1.0.5:40001>10.2.0.1:9878)\n"
    "      --after T        requests at or after T\n"
    "      --before T       requests before T\n"
    "      --min DURATION   only latencies of at least DURATION (200us, 1.5ms, 2s; bare = ns)\n"
    "      --max DURATION   only latencies of at most DURATION\n"
    "      --sort ORDER     time (request time, the default) or latency (largest first)\n"
    "  -n, --limit N        at most N lines (after sorting)\n"
    "      --json           JSON lines: id, pair, key, req_msg, resp_msg, req_ts_ns,\n"
    "                       resp_ts_ns, latency_ns, flow, src, dst, resp_last_ts_ns,\n"
    "                       attached (and attached_last_msg, attached_last_ts_ns),\n"
    "                       resp_type (the answer's message type: accepted, rejected...),\n"
    "                       req_tap and resp_tap when seen at two taps (pair hop)\n"
    "      --stats          per pair: count, min, p50, p90, p99, p99.9, max (percentiles\n"
    "                       within 1%); with --json one object per pair\n"
    "      --by-session     with --stats: per pair and session (client -> server)\n"
    "      --unmatched      requests never answered and responses that matched no request\n"
    "                       (--pair, --after, --before, --limit and --json apply)\n\n"
    "T is RFC 3339 with up to 9 fractional digits (2026-01-05T14:30:00.000123456Z),\n"
    "integer epoch nanoseconds, or relative ('90s ago', '5m ago', 'now').\n\n"
    "examples:\n"
    "  capstream latency -d S --pair fix --sort latency --limit 10\n"
    "  capstream latency -d S --stats\n"
    "  capstream latency -d S --pair fix --stats --by-session\n"
    "  capstream latency -d S --min 1ms --after 2026-01-05T14:30:00Z --json\n"
    "  capstream latency -d S --unmatched --pair http\n"
    "  capstream latency -d S --pair hop --stats     (one tap to the other)\n"
    "  capstream show -d S l7.1234.0      (drill into one measurement)\n";

typedef struct latency_args {
    const char *dir;
    int json, stats, unmatched, sort_set, bound_set, by;
    cs_latfilter f;
} latency_args;

static int parse_limit(const char *s, uint64_t *out)
{
    char *end;

    if (s[0] < '0' || s[0] > '9')
        return -1;
    *out = strtoull(s, &end, 10);
    return *end == '\0' && *out > 0 ? 0 : -1;
}

/* --min or --max ("opt"): optarg as a duration into "*ns". */
static int latency_bound(latency_args *a, const char *opt, int64_t *ns)
{
    a->bound_set = 1;
    if (cs_duration_parse(optarg, ns) < 0)
        return cs_cli_usage_error("latency", "%s: bad duration '%s' (e.g. 200us, 1.5ms)", opt,
                                  optarg);
    return 0;
}

static int latency_option(int c, latency_args *a)
{
    switch (c) {
    case 'd':
        a->dir = optarg;
        return 0;
    case 'p':
        a->f.pair = optarg;
        return 0;
    case 'k':
        a->f.key = optarg;
        return 0;
    case 'A':
        return cs_cli_parse_time("--after", optarg, &a->f.after) < 0 ? CS_EXIT_USAGE : 0;
    case 'B':
        return cs_cli_parse_time("--before", optarg, &a->f.before) < 0 ? CS_EXIT_USAGE : 0;
    case 'm':
        return latency_bound(a, "--min", &a->f.min_latency_ns);
    case 's':
        a->sort_set = 1;
        if (strcmp(optarg, "time") == 0)
            a->f.sort = CS_LATSORT_TIME;
        else if (strcmp(optarg, "latency") == 0)
            a->f.sort = CS_LATSORT_LATENCY;
        else
            return cs_cli_usage_error("latency", "--sort: unknown order '%s' (time or latency)",
                                      optarg);
        return 0;
    case 'n':
        if (parse_limit(optarg, &a->f.limit) < 0)
            return cs_cli_usage_error("latency", "--limit: bad count '%s'", optarg);
        return 0;
    case 'X':
        return latency_bound(a, "--max", &a->f.max_latency_ns);
    case 'E':
        if (strchr(optarg, '>') == NULL || strlen(optarg) >= CS_LATSTATS_NAME)
            return cs_cli_usage_error("latency", "--session: expected SRC>DST, not '%s'", optarg);
        a->f.session = optarg;
        return 0;
    case 'Y':
        a->by = CS_LATBY_SESSION;
        return 0;
    case 'j':
        a->json = 1;
        return 0;
    case 'S':
        a->stats = 1;
        return 0;
    case 'U':
        a->unmatched = 1;
        return 0;
    case 'h':
        cs_cli_help(stdout, latency_help);
        return -1;
    default:
        return cs_cli_usage_error("latency", "bad option");
    }
}

static int latency_parse(int argc, char **argv, latency_args *a)
{
    static const struct option opts[] = {
        {"store", required_argument, 0, 'd'},  {"pair", required_argument, 0, 'p'},
        {"key", required_argument, 0, 'k'},    {"after", required_argument, 0, 'A'},
        {"before", required_argument, 0, 'B'}, {"min", required_argument, 0, 'm'},
        {"max", required_argument, 0, 'X'},    {"session", required_argument, 0, 'E'},
        {"by-session", no_argument, 0, 'Y'},   {"sort", required_argument, 0, 's'},
        {"limit", required_argument, 0, 'n'},  {"json", no_argument, 0, 'j'},
        {"stats", no_argument, 0, 'S'},        {"unmatched", no_argument, 0, 'U'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    int c, rc;

    cs_latfilter_init(&a->f);
    a->f.sort = CS_LATSORT_TIME;
    while ((c = getopt_long(argc, argv, "d:p:k:n:h", opts, NULL)) != -1)
        if ((rc = latency_option(c, a)) != 0)
            return rc;
    if (optind < argc)
        return cs_cli_usage_error("latency", "unexpected argument '%s'", argv[optind]);
    if (a->dir == NULL)
        return cs_cli_usage_error("latency", "-d STORE is required");
    if (a->f.after > a->f.before)
        return cs_cli_usage_error("latency", "--after is later than --before");
    if (a->unmatched && (a->stats || a->sort_set || a->bound_set || a->f.key || a->f.session))
        return cs_cli_usage_error("latency", "--stats, --sort, --min, --max, --key and --session "
                                             "do not apply to --unmatched");
    if (a->by && !a->stats)
        return cs_cli_usage_error("latency", "--by-session goes with --stats");
    return 0;
}

/* Prints "s" with control bytes shown as '.', for one-line text output. */
static void print_text(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        putchar(c < 0x20 || c == 0x7f ? '.' : c);
    }
}

static int print_measurement(void *ud, const cs_measurement *ms)
{
    const latency_args *a = ud;
    char id[40], t[CS_TIME_BUFLEN], d[32], src[CS_EP_BUFLEN], dst[CS_EP_BUFLEN];

    if (a->json) {
        cs_measurement_json(stdout, ms);
        putchar('\n');
        return 0;
    }
    printf("%s  %s  ", cs_id_format('l', ms->id, id), ms->pair);
    print_text(ms->key.p, ms->key.len);
    printf("  %s  %s  %s -> %s", cs_time_format(ms->req_ts_ns, t),
           cs_duration_format(ms->latency_ns, d), cs_endpoint_format(&ms->ep, 0, src),
           cs_endpoint_format(&ms->ep, 1, dst));
    if (ms->attached > 0)
        printf("  +%u attached", (unsigned)ms->attached);
    putchar('\n');
    return 0;
}

static int print_unmatched(void *ud, const cs_message *m, int kind)
{
    const latency_args *a = ud;
    const char *what = kind == CS_UNMATCHED_REQUEST ? "request" : "response";
    char id[40], t[CS_TIME_BUFLEN], src[CS_EP_BUFLEN], dst[CS_EP_BUFLEN];

    if (a->json) {
        printf("{\"unmatched\":\"%s\",\"message\":", what);
        cs_message_json(stdout, m);
        fputs("}\n", stdout);
        return 0;
    }
    printf("%s  %-8s  %s  ", cs_id_format('m', m->id, id), what, m->proto);
    print_text(m->type.p, m->type.len);
    putchar(' ');
    print_text(m->key.p, m->key.len);
    printf("  %s  %s -> %s\n", cs_time_format(m->ts_ns, t), cs_endpoint_format(&m->ep, m->dir, src),
           cs_endpoint_format(&m->ep, !m->dir, dst));
    return 0;
}

static const double stat_q[] = {0.5, 0.9, 0.99, 0.999};

static void print_stats_json(cs_latstats *st)
{
    cs_lazyhist *h = &st->hist;

    fputs("{\"pair\":", stdout);
    cs_msgstore_json_string(stdout, st->pair, strlen(st->pair));
    if (st->session[0] != '\0') {
        fputs(",\"session\":", stdout);
        cs_msgstore_json_string(stdout, st->session, strlen(st->session));
    }
    printf(",\"count\":%" PRIu64 ",\"min_ns\":%" PRId64 ",\"p50_ns\":%" PRId64
           ",\"p90_ns\":%" PRId64 ",\"p99_ns\":%" PRId64 ",\"p999_ns\":%" PRId64
           ",\"max_ns\":%" PRId64 ",\"mean_ns\":%.0f}\n",
           cs_lazyhist_count(h), cs_lazyhist_min(h), cs_lazyhist_quantile(h, stat_q[0]),
           cs_lazyhist_quantile(h, stat_q[1]), cs_lazyhist_quantile(h, stat_q[2]),
           cs_lazyhist_quantile(h, stat_q[3]), cs_lazyhist_max(h), cs_lazyhist_mean(h));
}

static void print_stats_text(cs_latstats *st, size_t n)
{
    char b[7][32];

    printf("%-8s %10s %12s %12s %12s %12s %12s %12s%s\n", "pair", "count", "min", "p50", "p90",
           "p99", "p99.9", "max", n && st[0].session[0] ? "  session" : "");
    for (size_t i = 0; i < n; i++) {
        cs_lazyhist *h = &st[i].hist;

        cs_duration_format(cs_lazyhist_min(h), b[0]);
        for (int k = 0; k < 4; k++)
            cs_duration_format(cs_lazyhist_quantile(h, stat_q[k]), b[1 + k]);
        cs_duration_format(cs_lazyhist_max(h), b[5]);
        printf("%-8s %10" PRIu64 " %12s %12s %12s %12s %12s %12s%s%s\n", st[i].pair,
               cs_lazyhist_count(h), b[0], b[1], b[2], b[3], b[4], b[5],
               st[i].session[0] ? "  " : "", st[i].session);
    }
}

static int run_stats(cs_msgreader *r, const latency_args *a)
{
    cs_latstats *st = NULL;
    size_t n = 0;
    int rc = cs_msgreader_lat_stats(r, &a->f, a->by, &st, &n);

    if (rc < 0)
        return rc;
    if (a->json)
        for (size_t i = 0; i < n; i++)
            print_stats_json(&st[i]);
    else
        print_stats_text(st, n);
    cs_latstats_free(st, n);
    return 0;
}

static int run_unmatched(cs_msgreader *r, latency_args *a)
{
    cs_msgfilter mf;

    cs_msgfilter_init(&mf);
    mf.proto = a->f.pair;
    mf.after = a->f.after;
    mf.before = a->f.before;
    mf.limit = a->f.limit;
    return cs_msgreader_unmatched(r, &mf, print_unmatched, a);
}

int cs_cmd_latency(int argc, char **argv)
{
    static char outbuf[1 << 16];
    latency_args a;
    cs_msgreader *r = NULL;
    int rc, status;

    memset(&a, 0, sizeof(a));
    if ((status = latency_parse(argc, argv, &a)) != 0)
        return status < 0 ? CS_EXIT_OK : status;
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
    if ((rc = cs_msgreader_open(a.dir, &r)) < 0)
        return cs_cli_fail(rc);
    if (a.stats)
        rc = run_stats(r, &a);
    else if (a.unmatched)
        rc = run_unmatched(r, &a);
    else
        rc = cs_msgreader_measurements(r, &a.f, print_measurement, &a);
    cs_msgreader_close(r);
    if (fflush(stdout) != 0 && rc == 0)
        rc = cs_error_set(CS_EIO, "writing the output failed");
    return rc < 0 ? cs_cli_fail(rc) : CS_EXIT_OK;
}

/*
 * cmd_gaps.c - `capstream gaps`: stored sequence gaps.
 *
 *   capstream gaps -d STORE [--after T] [--before T] [--limit N] [--json]
 *
 * Reads the gap records of the message store (store/msgstore.h cs_gap):
 * one per sequence gap a decoder reported (a MoldUDP64 session, SoupBinTCP
 * sequenced data: numbers missing on one feed at one tap) and one per run
 * of numbers two feeds of a stream both missed (kind abgap), in store
 * order (packet segment of the packet that revealed the gap, then the
 * order the gaps were written in). Prints one text line each, or one JSON
 * object a line (cs_gap_json: kind, tap, feed, proto, session, first_seq,
 * count, ts_ns, recovered, packet, flow).
 */
#include "cli/cli.h"

#include "core/error.h"
#include "core/timefmt.h"
#include "record/json.h"
#include "store/msgstore.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char gaps_help[] =
    "usage: capstream gaps -d STORE [--after T] [--before T] [--limit N] [--json]\n\n"
    "Prints the stored sequence gaps, one a line: time, tap, feed, protocol, session,\n"
    "first missing sequence number, how many are missing, and the packet that revealed\n"
    "the gap, in store order. A gap is a run of numbers missing on one feed at one tap\n"
    "(decoders of sequenced streams report them); it is recovered when every missing\n"
    "number was seen at that tap on another feed of the stream or in a retransmission\n"
    "(within 1 s of capture time of the gap, or by the end of the input). An abgap is a\n"
    "run of numbers two feeds of a stream (A and B) both missed, recovered only by\n"
    "retransmissions; it carries the later of the two gaps' feed, time and packet.\n\n"
    "  -d, --store DIR    the store\n"
    "      --after T      gaps revealed at or after T\n"
    "      --before T     gaps revealed before T\n"
    "  -n, --limit N      at most N gaps\n"
    "      --json         JSON lines: kind (gap, abgap), tap, feed (UDP: destination ip:port; TCP: "
    "the\n"
    "                     connection ip:port-ip:port), proto, session, first_seq, count,\n"
    "                     ts_ns (capture time of the packet that revealed it), recovered,\n"
    "                     packet ('seg:offset' ref of that packet) and flow\n\n"
    "T is RFC 3339 with up to 9 fractional digits (2026-01-05T14:30:00.000123456Z),\n"
    "integer epoch nanoseconds, or relative ('90s ago', '5m ago', 'now').\n\n"
    "examples:\n"
    "  capstream gaps -d S\n"
    "  capstream gaps -d S --after '5m ago' --json\n";

typedef struct gaps_args {
    const char *dir;
    int json;
    int64_t after, before;
    uint64_t limit;
} gaps_args;

static int gaps_option(int c, gaps_args *a)
{
    char *end;

    switch (c) {
    case 'd':
        a->dir = optarg;
        return 0;
    case 'A':
        return cs_cli_parse_time("--after", optarg, &a->after) < 0 ? CS_EXIT_USAGE : 0;
    case 'B':
        return cs_cli_parse_time("--before", optarg, &a->before) < 0 ? CS_EXIT_USAGE : 0;
    case 'n':
        a->limit = strtoull(optarg, &end, 10);
        if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' || a->limit == 0)
            return cs_cli_usage_error("gaps", "--limit: bad count '%s'", optarg);
        return 0;
    case 'j':
        a->json = 1;
        return 0;
    case 'h':
        cs_cli_help(stdout, gaps_help);
        return -1;
    default:
        return cs_cli_usage_error("gaps", "bad option");
    }
}

static int gaps_parse(int argc, char **argv, gaps_args *a)
{
    static const struct option opts[] = {{"store", required_argument, 0, 'd'},
                                         {"after", required_argument, 0, 'A'},
                                         {"before", required_argument, 0, 'B'},
                                         {"limit", required_argument, 0, 'n'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c, rc;

    a->after = INT64_MIN;
    a->before = INT64_MAX;
    while ((c = getopt_long(argc, argv, "d:n:h", opts, NULL)) != -1)
        if ((rc = gaps_option(c, a)) != 0)
            return rc;
    if (optind < argc)
        return cs_cli_usage_error("gaps", "unexpected argument '%s'", argv[optind]);
    if (a->dir == NULL)
        return cs_cli_usage_error("gaps", "-d STORE is required");
    if (a->after > a->before)
        return cs_cli_usage_error("gaps", "--after is later than --before");
    return 0;
}

/* Prints bytes with control bytes shown as '.', for one-line text output. */
static void print_text(cs_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        putchar(c < 0x20 || c == 0x7f ? '.' : c);
    }
}

static int print_gap(void *ud, const cs_gap *g)
{
    const gaps_args *a = ud;
    char t[CS_TIME_BUFLEN], feed[CS_FEED_BUFLEN];

    if (a->json) {
        cs_gap_json(stdout, g);
        putchar('\n');
        return 0;
    }
    printf("%s  %s  tap %u  %s  %s  session ", cs_time_format(g->ts_ns, t),
           g->arbitrated ? "abgap" : "gap  ", (unsigned)g->ep.tap, cs_gap_feed(g, feed), g->proto);
    print_text(g->session);
    printf("  first %llu  missing %llu%s", (unsigned long long)g->first,
           (unsigned long long)g->count, g->recovered ? "  recovered" : "");
    if (g->ref != 0)
        printf("  packet %u:%u", (unsigned)CS_PKTREF_SEG(g->ref), (unsigned)CS_PKTREF_OFF(g->ref));
    putchar('\n');
    return 0;
}

int cs_cmd_gaps(int argc, char **argv)
{
    static char outbuf[1 << 16];
    gaps_args a;
    cs_msgreader *r = NULL;
    int rc, status;

    memset(&a, 0, sizeof(a));
    if ((status = gaps_parse(argc, argv, &a)) != 0)
        return status < 0 ? CS_EXIT_OK : status;
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
    if ((rc = cs_msgreader_open(a.dir, &r)) < 0)
        return cs_cli_fail(rc);
    rc = cs_msgreader_gaps(r, a.after, a.before, a.limit, print_gap, &a);
    cs_msgreader_close(r);
    if (fflush(stdout) != 0 && rc == 0)
        rc = cs_error_set(CS_EIO, "writing the output failed");
    return rc < 0 ? cs_cli_fail(rc) : CS_EXIT_OK;
}

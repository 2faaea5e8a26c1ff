/*
 * cmd_feeds.c - `capstream feeds`: one summary per MoldUDP64 feed and tap.
 *
 *   capstream feeds -d STORE [--after T] [--before T] [--json]
 *
 * Summarises the store's market data (store/feeds.h cs_feeds_read: packet
 * messages, ITCH messages by type, gaps, A/B races, the busiest
 * millisecond) and prints one aligned text line per feed and tap, or one
 * JSON object a line (cs_feed_json, the objects GET /api/v1/feeds lists),
 * sorted by tap, then destination address and port. Memory: a fixed
 * summary per feed plus a few bytes per A/B race (feeds.c).
 */
#include "cli/cli.h"

#include "core/error.h"
#include "core/timefmt.h"
#include "store/feeds.h"
#include "store/msgstore.h"

#include <getopt.h>
#include <string.h>

static const char feeds_help[] =
    "usage: capstream feeds -d STORE [--after T] [--before T] [--json]\n\n"
    "Prints one line per MoldUDP64 feed and tap: the feed (where its datagrams go,\n"
    "<dst ip>:<dst port>), its session, whether it carries retransmissions (the answers\n"
    "of a re-request server), its packets (data, heartbeats), ITCH messages, gaps and\n"
    "the messages lost in them, the A/B races it took part in, its share of wins and\n"
    "its lead when it won (p50, p99, max), and its busiest millisecond.\n\n"
    "  -d, --store DIR    the store\n"
    "      --after T      records at or after T (messages and gaps by their time,\n"
    "                     races by the earlier copy's)\n"
    "      --before T     records before T\n"
    "      --json         JSON lines: tap, feed, session (array), retransmission,\n"
    "                     packets, data_packets, heartbeats, messages, by_type (ITCH\n"
    "                     type -> count), gaps, messages_lost, races, races_won,\n"
    "                     won_share, lead_ns {p50,p99,max} (null without a win),\n"
    "                     busiest_ms {ts_ns,messages} (null without ITCH messages)\n\n"
    "Percentiles are nearest-rank. T is RFC 3339 with up to 9 fractional digits,\n"
    "integer epoch nanoseconds, or relative ('90s ago', '5m ago', 'now').\n\n"
    "examples:\n"
    "  capstream feeds -d S\n"
    "  capstream feeds -d S --after '5m ago' --json\n";

typedef struct feeds_args {
    const char *dir;
    int json;
    int64_t after, before;
} feeds_args;

static int feeds_option(int c, feeds_args *a)
{
    switch (c) {
    case 'd':
        a->dir = optarg;
        return 0;
    case 'A':
        return cs_cli_parse_time("--after", optarg, &a->after) < 0 ? CS_EXIT_USAGE : 0;
    case 'B':
        return cs_cli_parse_time("--before", optarg, &a->before) < 0 ? CS_EXIT_USAGE : 0;
    case 'j':
        a->json = 1;
        return 0;
    case 'h':
        cs_cli_help(stdout, feeds_help);
        return -1;
    default:
        return cs_cli_usage_error("feeds", "bad option");
    }
}

static int feeds_parse(int argc, char **argv, feeds_args *a)
{
    static const struct option opts[] = {
        {"store", required_argument, 0, 'd'},  {"after", required_argument, 0, 'A'},
        {"before", required_argument, 0, 'B'}, {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    int c, rc;

    a->after = INT64_MIN;
    a->before = INT64_MAX;
    while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1)
        if ((rc = feeds_option(c, a)) != 0)
            return rc;
    if (optind < argc)
        return cs_cli_usage_error("feeds", "unexpected argument '%s'", argv[optind]);
    if (a->dir == NULL)
        return cs_cli_usage_error("feeds", "-d STORE is required");
    if (a->after > a->before)
        return cs_cli_usage_error("feeds", "--after is later than --before");
    return 0;
}

static void print_header(void)
{
    printf("%5s  %-21s  %-10s  %-3s  %8s  %8s  %5s  %9s  %5s  %7s  %7s  %6s  %8s  %8s  %8s  "
           "%s\n",
           "TAP", "FEED", "SESSION", "RTX", "PACKETS", "DATA", "HB", "MESSAGES", "GAPS", "LOST",
           "RACES", "WON%", "LEAD_P50", "LEAD_P99", "LEAD_MAX", "BUSIEST MS (MESSAGES)");
}

/* "-" for a percentile without a win, else nanoseconds. */
static const char *lead_text(const cs_feed_summary *s, int64_t v, char *buf, size_t n)
{
    if (!s->has_lead)
        return "-";
    snprintf(buf, n, "%lld", (long long)v);
    return buf;
}

static void print_line(const cs_feed_summary *s)
{
    char p50[24], p99[24], max[24], sess[24], t[CS_TIME_BUFLEN];

    snprintf(sess, sizeof(sess), "%s%s", s->n_sessions ? s->session[0] : "-",
             s->n_sessions > 1 ? "+" : "");
    printf("%5u  %-21s  %-10s  %-3s  %8llu  %8llu  %5llu  %9llu  %5llu  %7llu  %7llu  %6.2f  "
           "%8s  %8s  %8s  ",
           (unsigned)s->tap, s->feed, sess, s->retransmission ? "yes" : "no",
           (unsigned long long)s->packets, (unsigned long long)s->data_packets,
           (unsigned long long)s->heartbeats, (unsigned long long)s->messages,
           (unsigned long long)s->gaps, (unsigned long long)s->messages_lost,
           (unsigned long long)s->races,
           s->races ? 100.0 * (double)s->races_won / (double)s->races : 0.0,
           lead_text(s, s->lead_p50, p50, sizeof(p50)), lead_text(s, s->lead_p99, p99, sizeof(p99)),
           lead_text(s, s->lead_max, max, sizeof(max)));
    if (s->messages > 0 && s->busiest_messages > 0)
        printf("%s (%llu)\n", cs_time_format(s->busiest_ts_ns, t),
               (unsigned long long)s->busiest_messages);
    else
        printf("-\n");
}

static void print_feeds(const cs_feeds *fs, int json)
{
    if (!json && cs_feeds_count(fs) > 0)
        print_header();
    for (size_t i = 0; i < cs_feeds_count(fs); i++) {
        if (json) {
            cs_feed_json(stdout, cs_feeds_get(fs, i));
            putchar('\n');
        } else
            print_line(cs_feeds_get(fs, i));
    }
}

int cs_cmd_feeds(int argc, char **argv)
{
    static char outbuf[1 << 16];
    feeds_args a;
    cs_msgreader *r = NULL;
    cs_feeds *fs = NULL;
    int rc, status;

    memset(&a, 0, sizeof(a));
    if ((status = feeds_parse(argc, argv, &a)) != 0)
        return status < 0 ? CS_EXIT_OK : status;
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
    if ((rc = cs_msgreader_open(a.dir, &r)) < 0)
        return cs_cli_fail(rc);
    if ((rc = cs_feeds_read(r, a.after, a.before, &fs)) == 0)
        print_feeds(fs, a.json);
    cs_feeds_free(fs);
    cs_msgreader_close(r);
    if (fflush(stdout) != 0 && rc == 0)
        rc = cs_error_set(CS_EIO, "writing the output failed");
    return rc < 0 ? cs_cli_fail(rc) : CS_EXIT_OK;
}

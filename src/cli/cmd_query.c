/*
 * cmd_query.c - `capstream query`: packets by tcpdump filter and time range.
 *
 *   capstream query -d STORE [--after T] [--before T] [-w OUT] [--count]
 *                   [--pcap-time reference|capture] [FILTER...]
 *
 * Options may come anywhere, before, between or after the filter's words,
 * as tcpdump users type them ("query -d S 'port 80' -w out.pcap"); "--"
 * ends the options, so a filter word that starts with '-' can follow it.
 * getopt runs in its in-order mode ("-" at the head of the option string):
 * each word that is not an option comes back as option 1 and is kept, in
 * order, as a filter word; the words after "--" are added at the end. This
 * does not depend on glibc permuting argv (which POSIXLY_CORRECT turns
 * off).
 *
 * Writes a nanosecond pcap (standard output by default) of exactly the
 * packets that `tcpdump -r ORIGINAL FILTER` keeps within [after, before),
 * in the capture's order (ties of timestamps included), using the store's
 * indexes (store/query.c).
 */
#include "cli/cli.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char query_help[] =
    "usage: capstream query -d STORE [--after T] [--before T] [-w OUT] [--count] [FILTER...]\n\n"
    "Writes the stored packets that match FILTER (tcpdump/BPF syntax) and fall in\n"
    "[after, before) as a nanosecond pcap, in the order they were captured.\n"
    "Options may also follow the filter, as with tcpdump; '--' ends them (a\n"
    "filter word may then start with '-').\n\n"
    "  -d, --store DIR    the store\n"
    "      --after T      first time included\n"
    "      --before T     first time excluded\n"
    "  -w, --write OUT    write the pcap to OUT (default: standard output; '-' too)\n"
    "  -c, --count        print only the number of matching packets\n"
    "      --pcap-time W  which time the pcap's records carry: reference (default:\n"
    "                     the packet's time everywhere in capstream, a tap\n"
    "                     aggregator's trailer time with --time-source trailer:KIND)\n"
    "                     or capture (the host's capture time, where it differs)\n"
    "      --stats        print what the query read on standard error\n\n"
    "T is RFC 3339 with up to 9 fractional digits (2026-01-05T14:30:00.000123456Z),\n"
    "integer epoch nanoseconds, or relative ('90s ago', '5m ago', 'now').\n\n"
    "examples:\n"
    "  capstream query -d S 'host 10.1.0.13 and port 40003' -w flow.pcap\n"
    "  capstream query -d S --after '5m ago' --count udp\n"
    "  capstream query -d S --after 2026-01-05T14:30:00Z --before 2026-01-05T14:30:01Z | tcpdump "
    "-r -\n";

typedef struct query_args {
    const char *dir, *out;
    int count, stats;
    cs_query q;
    char **words; /* the filter's words, in order (pointers into argv) */
    int n_words;
} query_args;

static int query_parse(int argc, char **argv, query_args *a)
{
    static const struct option opts[] = {{"store", required_argument, 0, 'd'},
                                         {"after", required_argument, 0, 'A'},
                                         {"before", required_argument, 0, 'B'},
                                         {"write", required_argument, 0, 'w'},
                                         {"count", no_argument, 0, 'c'},
                                         {"stats", no_argument, 0, 'S'},
                                         {"help", no_argument, 0, 'h'},
                                         {"pcap-time", required_argument, 0, 'T'},
                                         {0, 0, 0, 0}};
    int c;

    a->q.after = INT64_MIN;
    a->q.before = INT64_MAX;
    while ((c = getopt_long(argc, argv, "-d:w:ch", opts, NULL)) != -1) {
        switch (c) {
        case 1:
            a->words[a->n_words++] = optarg;
            break;
        case 'd':
            a->dir = optarg;
            break;
        case 'A':
            if (cs_cli_parse_time("--after", optarg, &a->q.after) < 0)
                return CS_EXIT_USAGE;
            break;
        case 'B':
            if (cs_cli_parse_time("--before", optarg, &a->q.before) < 0)
                return CS_EXIT_USAGE;
            break;
        case 'w':
            a->out = optarg;
            break;
        case 'c':
            a->count = 1;
            break;
        case 'S':
            a->stats = 1;
            break;
        case 'T':
            if (strcmp(optarg, "reference") && strcmp(optarg, "capture"))
                return cs_cli_usage_error("query", "--pcap-time is reference or capture, not '%s'",
                                          optarg);
            a->q.pcap_time = optarg[0] == 'c' ? CS_PCAP_TIME_CAPTURE : CS_PCAP_TIME_REFERENCE;
            break;
        case 'h':
            fputs(query_help, stdout);
            return -1;
        default:
            return cs_cli_usage_error("query", "bad option");
        }
    }
    while (optind < argc)
        a->words[a->n_words++] = argv[optind++];
    if (a->dir == NULL)
        return cs_cli_usage_error("query", "-d STORE is required");
    if (a->q.after > a->q.before)
        return cs_cli_usage_error("query", "--after is later than --before");
    return 0;
}

static int open_output(const query_args *a, int *fd)
{
    *fd = -1;
    if (a->count)
        return 0;
    if (a->out == NULL || strcmp(a->out, "-") == 0) {
        if (isatty(STDOUT_FILENO))
            return cs_error_set(CS_EINVAL, "refusing to write a pcap to a terminal; use -w FILE, "
                                           "--count, or pipe into tcpdump -r -");
        *fd = STDOUT_FILENO;
        return 0;
    }
    *fd = open(a->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (*fd < 0)
        return cs_error_set(cs_error_from_errno(errno), "%s: %s", a->out, strerror(errno));
    return 0;
}

int cs_cmd_query(int argc, char **argv)
{
    query_args a;
    cs_store_opts so = {0};
    cs_store *s = NULL;
    cs_query_stats st;
    uint64_t count = 0;
    char *filter = NULL;
    int rc, fd = -1, status;

    memset(&a, 0, sizeof(a));
    if ((a.words = cs_calloc((size_t)argc + 1, sizeof(char *))) == NULL)
        return cs_cli_fail(CS_ENOMEM);
    if ((status = query_parse(argc, argv, &a)) != 0) {
        cs_free(a.words);
        return status < 0 ? CS_EXIT_OK : status;
    }
    filter = cs_cli_join_args(a.n_words, a.words, 0);
    a.q.filter = filter;
    if ((rc = cs_store_open(a.dir, &so, &s)) < 0 || (rc = open_output(&a, &fd)) < 0)
        goto out;
    rc = cs_store_query_pcap(s, &a.q, fd, &count, &st);
    if (rc == 0 && a.count)
        printf("%" PRIu64 "\n", count);
    if (rc == 0 && a.stats)
        fprintf(stderr,
                "segments %" PRIu64 "/%" PRIu64 " (%" PRIu64 " ruled out by their key summary)"
                ", records read %" PRIu64 ", bpf runs %" PRIu64 ", matched %" PRIu64 "\n",
                st.segments_searched, st.segments_total, st.segments_skipped, st.candidates,
                st.bpf_runs, st.matched);
out:
    if (fd > STDOUT_FILENO && close(fd) < 0 && rc == 0)
        rc = cs_error_set(CS_EIO, "%s: %s", a.out, strerror(errno));
    cs_store_close(s);
    cs_free(filter);
    cs_free(a.words);
    return rc < 0 ? cs_cli_fail(rc) : CS_EXIT_OK;
}

/*
 * cmd_stats.c - `capstream stats -d STORE [--json]`: what a store holds.
 *
 * Opens the store read-only (which repairs it if its writer died) and prints
 * segments, packets, bytes, time span, index bytes and the retention budget
 * with its use, packets per link type (from the segments' indexes: each
 * segment holds one) and those of link types cs_dissect() cannot read,
 * then the message store's counts, bytes and budget, as text or as one
 * JSON object.
 */
#include "cli/cli.h"

#include "core/error.h"
#include "core/timefmt.h"
#include "store/msgstore.h"
#include "store/store.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char stats_help[] =
    "usage: capstream stats -d STORE [--json]\n\n"
    "Shows what STORE holds: segments, packets, packet bytes, index bytes,\n"
    "the time span of the packets, and the retention budget and its use; packets per\n"
    "link type, and those capstream stores but cannot dissect (802.11...); then the\n"
    "messages, measurements and unanswered ones, their bytes and their budget.\n\n"
    "  -d, --store DIR   the store\n"
    "      --json        one JSON object instead of text\n";

/* Packets per link type, and those analysis cannot dissect (stored all
 * the same). */
static void stats_links_text(const cs_store_info *in)
{
    char links[512];
    uint64_t n;

    if (in->n_links == 0)
        return;
    cs_cli_fmt_link_counts(in->links, in->n_links, 0, links, sizeof(links));
    printf("link types:    %s\n", links);
    if ((n = cs_cli_fmt_link_counts(in->links, in->n_links, 1, links, sizeof(links))) > 0)
        printf("undissected:   %" PRIu64 " packets (%s): stored, not analysed\n", n, links);
}

/* ,"link_types":{"1":N,...},"undissected":{"105":N,...} */
static void stats_links_json(const cs_store_info *in)
{
    for (int undissected = 0; undissected <= 1; undissected++) {
        int first = 1;
        printf(",\"%s\":{", undissected ? "undissected" : "link_types");
        for (uint32_t i = 0; i < in->n_links; i++) {
            if (undissected && cs_dissect_knows((uint16_t)in->links[i].linktype))
                continue;
            printf("%s\"%" PRIu32 "\":%" PRIu64, first ? "" : ",", in->links[i].linktype,
                   in->links[i].packets);
            first = 0;
        }
        printf("}");
    }
}

static void stats_text(const cs_store_info *in, const cs_msgstore_info *mi)
{
    char t0[CS_TIME_BUFLEN], t1[CS_TIME_BUFLEN], b[32];
    uint64_t used = in->packet_bytes + in->index_bytes;

    printf("segments:      %" PRIu32 " (ids %" PRIu32 "..%" PRIu32 ") in %" PRIu32
           " group(s) of %" PRIu32 " flow partitions\n",
           in->segments, in->first_segment, in->last_segment, in->groups, in->partitions);
    printf("packets:       %" PRIu64 "\n", in->packets);
    printf("packet bytes:  %" PRIu64 " (%s)\n", in->packet_bytes,
           cs_cli_fmt_bytes(in->packet_bytes, b));
    printf("index bytes:   %" PRIu64 " (%.2f%% of packet bytes)\n", in->index_bytes,
           in->packet_bytes ? 100.0 * (double)in->index_bytes / (double)in->packet_bytes : 0.0);
    if (in->segments)
        printf("time span:     %s .. %s (%.3f s)\n", cs_time_format(in->min_ts, t0),
               cs_time_format(in->max_ts, t1), (double)(in->max_ts - in->min_ts) / 1e9);
    else
        printf("time span:     (empty)\n");
    if (in->max_bytes)
        printf("retention:     %" PRIu64 " of %" PRIu64 " bytes used (%.1f%%)\n", used,
               in->max_bytes, 100.0 * (double)used / (double)in->max_bytes);
    else
        printf("retention:     %" PRIu64 " bytes used, no budget (unlimited)\n", used);
    printf("group size:    %" PRIu64 " bytes (a group's segments together)\n", in->segment_bytes);
    if (in->repaired)
        printf("repaired:      %" PRIu32 " segment(s) at open\n", in->repaired);
    stats_links_text(in);
    printf("messages:      %" PRIu64 " messages, %" PRIu64 " measurements, %" PRIu64
           " unanswered or orphan\n",
           mi->messages, mi->measurements, mi->unmatched);
    if (in->max_message_bytes)
        printf("message bytes: %" PRIu64 " of %" PRIu64 " (%.1f%%)\n", mi->bytes,
               in->max_message_bytes, 100.0 * (double)mi->bytes / (double)in->max_message_bytes);
    else
        printf("message bytes: %" PRIu64 ", no budget (unlimited)\n", mi->bytes);
}

static void stats_json(const cs_store_info *in, const cs_msgstore_info *mi)
{
    printf("{\"segments\":%" PRIu32 ",\"first_segment\":%" PRIu32 ",\"last_segment\":%" PRIu32
           ",\"packets\":%" PRIu64 ",\"packet_bytes\":%" PRIu64 ",\"index_bytes\":%" PRIu64
           ",\"min_ts_ns\":%" PRId64 ",\"max_ts_ns\":%" PRId64 ",\"max_bytes\":%" PRIu64
           ",\"used_bytes\":%" PRIu64 ",\"segment_bytes\":%" PRIu64 ",\"repaired\":%" PRIu32
           ",\"groups\":%" PRIu32 ",\"partitions\":%" PRIu32,
           in->segments, in->first_segment, in->last_segment, in->packets, in->packet_bytes,
           in->index_bytes, in->min_ts, in->max_ts, in->max_bytes,
           in->packet_bytes + in->index_bytes, in->segment_bytes, in->repaired, in->groups,
           in->partitions);
    stats_links_json(in);
    printf(",\"messages\":%" PRIu64 ",\"measurements\":%" PRIu64 ",\"unmatched\":%" PRIu64
           ",\"message_bytes\":%" PRIu64 ",\"max_message_bytes\":%" PRIu64 "}\n",
           mi->messages, mi->measurements, mi->unmatched, mi->bytes, in->max_message_bytes);
}

int cs_cmd_stats(int argc, char **argv)
{
    static const struct option opts[] = {{"store", required_argument, 0, 'd'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *dir = NULL;
    int json = 0, c, rc;
    cs_store_opts so = {0};
    cs_store *s;
    cs_store_info info;
    cs_msgreader *r = NULL;
    cs_msgstore_info mi;

    while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            fputs(stats_help, stdout);
            return CS_EXIT_OK;
        default:
            return cs_cli_usage_error("stats", "bad option");
        }
    }
    if (dir == NULL)
        return cs_cli_usage_error("stats", "-d STORE is required");
    if (optind < argc)
        return cs_cli_usage_error("stats", "unexpected argument '%s'", argv[optind]);
    if ((rc = cs_store_open(dir, &so, &s)) < 0)
        return cs_cli_fail(rc);
    cs_store_info_get(s, &info);
    memset(&mi, 0, sizeof(mi));
    if ((rc = cs_msgreader_open(dir, &r)) == 0)
        rc = cs_msgreader_info(r, &mi);
    cs_msgreader_close(r);
    cs_store_close(s);
    if (rc < 0)
        return cs_cli_fail(rc);
    if (json)
        stats_json(&info, &mi);
    else
        stats_text(&info, &mi);
    return CS_EXIT_OK;
}

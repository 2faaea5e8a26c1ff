/*
 * cmd_reanalyze.c - `capstream reanalyze`: run decoders and pairing again
 * over stored packets.
 *
 *   capstream reanalyze -d STORE [--after T] [--before T] [--decoders LIST]
 *
 * The packets of every segment that holds packets in [after, before) are
 * read in store (capture) order, with their refs, through the same
 * pipeline as ingest minus the packet store. What the message store holds
 * for those segments is replaced atomically when the pass ends, so running
 * it twice changes nothing, and after `ingest --decoders none` it yields
 * what a full ingest would have (same packets, same order, same refs, so
 * the same messages, measurements and ids). Work is per whole segment: a
 * range that cuts a segment reanalyses all of it.
 *
 * It takes the store's writer lock, so it never runs beside an ingest.
 */
#include "cli/cli.h"

#include "core/error.h"
#include "core/log.h"
#include "decode/decoder.h"
#include "engine/pipeline.h"
#include "store/store.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char reanalyze_help[] =
    "usage: capstream reanalyze -d STORE [--after T] [--before T] [--decoders LIST]\n\n"
    "Decodes stored packets again (for example with decoders that were not enabled\n"
    "when they were captured) and replaces the messages and measurements the store\n"
    "holds for the segments that overlap [after, before).\n\n"
    "  -d, --store DIR      the store\n"
    "      --after T        start of the range (default: the first packet)\n"
    "      --before T       end of the range, excluded (default: after the last packet)\n"
    "      --decoders LIST  all (default), or names separated by commas: {decoders}\n"
    "      --decoder-opt NAME.KEY=VALUE  an option of one decoder (repeatable), e.g.\n"
    "                       fix.ports=9100,9101 binds FIX to those ports\n"
    "  -q, --quiet          no summary\n\n"
    "examples:\n"
    "  capstream ingest -r day.pcap -d S --decoders none   # store packets only\n"
    "  capstream reanalyze -d S                            # decode them later\n"
    "  capstream reanalyze -d S --after 2026-01-05T14:30:00Z --before '10m ago'\n";

typedef struct reanalyze_args {
    const char *dir;
    int64_t after, before;
    int quiet;
    const cs_decoder *decoders[CS_DECODERS_MAX + 1];
    cs_decoder_optset decoder_opts;
} reanalyze_args;

static int reanalyze_parse(int argc, char **argv, reanalyze_args *a)
{
    static const struct option opts[] = {{"store", required_argument, 0, 'd'},
                                         {"after", required_argument, 0, 'A'},
                                         {"before", required_argument, 0, 'B'},
                                         {"decoders", required_argument, 0, 'D'},
                                         {"decoder-opt", required_argument, 0, 'O'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;

    a->after = INT64_MIN;
    a->before = INT64_MAX;
    cs_decoders_parse("all", a->decoders);
    while ((c = getopt_long(argc, argv, "d:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            a->dir = optarg;
            break;
        case 'A':
            if (cs_cli_parse_time("--after", optarg, &a->after) < 0)
                return CS_EXIT_USAGE;
            break;
        case 'B':
            if (cs_cli_parse_time("--before", optarg, &a->before) < 0)
                return CS_EXIT_USAGE;
            break;
        case 'D':
            if (cs_decoders_parse(optarg, a->decoders) < 0)
                return cs_cli_usage_error("reanalyze", "%s", cs_error_msg(CS_EINVAL));
            break;
        case 'O':
            if (cs_decoder_optset_add(&a->decoder_opts, optarg) < 0)
                return cs_cli_usage_error("reanalyze", "%s", cs_error_msg(CS_EINVAL));
            break;
        case 'q':
            a->quiet = 1;
            break;
        case 'h':
            cs_cli_help(stdout, reanalyze_help);
            return -1;
        default:
            return cs_cli_usage_error("reanalyze", "bad option");
        }
    }
    if (a->dir == NULL)
        return cs_cli_usage_error("reanalyze", "-d STORE is required");
    if (optind < argc)
        return cs_cli_usage_error("reanalyze", "unexpected argument '%s'", argv[optind]);
    if (a->after > a->before)
        return cs_cli_usage_error("reanalyze", "--after is later than --before");
    if (a->decoders[0] == NULL)
        return cs_cli_usage_error("reanalyze", "--decoders none leaves nothing to do");
    return 0;
}

static int feed_packet(void *ud, const cs_packet *p, cs_pktref ref)
{
    return cs_pipeline_stored_packet(ud, p, ref) != 0;
}

static int reanalyze_run(const reanalyze_args *a, cs_store *s, uint32_t first, uint32_t last,
                         cs_pipeline_stats *st)
{
    cs_pipeline_cfg pc = {.store_dir = a->dir,
                          .decoders = a->decoders,
                          .decoder_opts = &a->decoder_opts,
                          .replace_first_seg = first,
                          .replace_last_seg = last};
    cs_pipeline *pl;
    int rc, rc2;

    if ((rc = cs_pipeline_new(&pc, &pl)) < 0)
        return rc;
    rc = cs_store_scan(s, first, last, feed_packet, pl);
    rc2 = cs_pipeline_finish(pl, st);
    cs_pipeline_free(pl);
    return rc < 0 ? rc : rc2;
}

int cs_cmd_reanalyze(int argc, char **argv)
{
    reanalyze_args a;
    cs_store_opts so = {.flags = CS_STORE_WRITE};
    cs_pipeline_stats st = {0};
    cs_store *s = NULL;
    uint32_t first, last;
    int rc, status;

    memset(&a, 0, sizeof(a));
    if ((status = reanalyze_parse(argc, argv, &a)) != 0)
        return status < 0 ? CS_EXIT_OK : status;
    if ((rc = cs_store_open(a.dir, &so, &s)) < 0)
        return cs_cli_fail(rc);
    cs_store_segments_in_range(s, a.after, a.before, &first, &last);
    if (first == 0) {
        cs_store_close(s);
        cs_log_info("no stored packets in that range: nothing to reanalyze");
        return CS_EXIT_OK;
    }
    rc = reanalyze_run(&a, s, first, last, &st);
    cs_store_close(s);
    if (rc < 0)
        return cs_cli_fail(rc);
    if (!a.quiet)
        printf("reanalyzed %" PRIu64 " packets of segments %" PRIu32 "..%" PRIu32 ": %" PRIu64
               " messages, %" PRIu64 " measurements, %" PRIu64 " unanswered requests\n",
               st.packets, first, last, st.analyzer.messages, st.analyzer.measurements,
               st.analyzer.unmatched_requests);
    return CS_EXIT_OK;
}

/*
 * cmd_reanalyze.c - `capstream reanalyze`: run decoders and pairing again
 * over stored packets.
 *
 *   capstream reanalyze -d STORE [--after T] [--before T] [--decoders LIST]
 *
 * This file parses the options, hands them to the engine's reanalyze
 * (engine/batch.h: the packets of every segment that holds packets in
 * [after, before), in capture order with their refs, through the same
 * pipeline as ingest minus the packet store; what the message store holds
 * for those segments is replaced when the pass ends, so running it twice
 * changes nothing) and prints what it did. Work is per whole segment: a
 * range that cuts a segment reanalyses all of it.
 *
 * It takes the store's writer lock, so it never runs beside an ingest.
 */
#include "cli/cli.h"

#include "core/error.h"
#include "core/log.h"
#include "decode/decoder.h"
#include "engine/batch.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char reanalyze_help[] =
    "usage: capstream reanalyze -d STORE [--after T] [--before T] [--decoders LIST]\n"
    "                           [--workers N] [--export clickhouse=URL]\n\n"
    "Decodes stored packets again (for example with decoders that were not enabled\n"
    "when they were captured) and replaces the messages and measurements the store\n"
    "holds for the segments that overlap [after, before).\n\n"
    "  -d, --store DIR      the store\n"
    "      --after T        start of the range (default: the first packet)\n"
    "      --before T       end of the range, excluded (default: after the last packet)\n"
    "      --decoders LIST  all (default), or names separated by commas: "
    "{decoders}\n" CS_CLI_DECODER_OPT_HELP CS_CLI_TAP_BY_HELP CS_CLI_TIME_SOURCE_HELP
        CS_CLI_WORKERS_HELP CS_CLI_EXPORT_HELP "  -q, --quiet          no summary\n\n"
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
    int tap_by_vlan, tap_by_trailer;
    cs_timerefs timeref;
    uint32_t workers;
    cs_chexport_cfg exp; /* url NULL: no --export */
} reanalyze_args;

static int reanalyze_parse(int argc, char **argv, reanalyze_args *a)
{
    static const struct option opts[] = {{"store", required_argument, 0, 'd'},
                                         {"after", required_argument, 0, 'A'},
                                         {"before", required_argument, 0, 'B'},
                                         {"decoders", required_argument, 0, 'D'},
                                         {"decoder-opt", required_argument, 0, 'O'},
                                         {"tap-by", required_argument, 0, 'V'},
                                         {"time-source", required_argument, 0, 'K'},
                                         {"workers", required_argument, 0, 'J'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         CS_CLI_EXPORT_OPTS,
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
        case 'V':
            if (cs_cli_parse_tap_by("reanalyze", optarg, &a->tap_by_vlan, &a->tap_by_trailer) != 0)
                return CS_EXIT_USAGE;
            break;
        case 'K':
            if (cs_cli_parse_time_source("reanalyze", optarg, &a->timeref) != 0)
                return CS_EXIT_USAGE;
            break;
        case 'J':
            if (cs_cli_parse_workers("reanalyze", optarg, &a->workers) != 0)
                return CS_EXIT_USAGE;
            break;
        case 'q':
            a->quiet = 1;
            break;
        case CS_CLI_OPT_EXPORT:
        case CS_CLI_OPT_SENSOR:
        case CS_CLI_OPT_TLS_CA:
        case CS_CLI_OPT_EXPORT_TABLES:
            if (cs_cli_export_option("reanalyze", c, optarg, &a->exp) != 0)
                return CS_EXIT_USAGE;
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
    if (cs_cli_finish_timerefs("reanalyze", &a->timeref, a->tap_by_trailer) != 0)
        return CS_EXIT_USAGE;
    if (a->after > a->before)
        return cs_cli_usage_error("reanalyze", "--after is later than --before");
    if (a->decoders[0] == NULL)
        return cs_cli_usage_error("reanalyze", "--decoders none leaves nothing to do");
    return cs_cli_export_check("reanalyze", &a->exp);
}

int cs_cmd_reanalyze(int argc, char **argv)
{
    reanalyze_args a;
    cs_reanalyze_result r;
    int rc, status;

    memset(&a, 0, sizeof(a));
    if ((status = reanalyze_parse(argc, argv, &a)) != 0)
        return status < 0 ? CS_EXIT_OK : status;
    rc = cs_reanalyze(&(cs_reanalyze_cfg){.dir = a.dir,
                                          .after = a.after,
                                          .before = a.before,
                                          .decoders = a.decoders,
                                          .decoder_opts = &a.decoder_opts,
                                          .tap_by_vlan = a.tap_by_vlan,
                                          .timeref = a.timeref,
                                          .workers = a.workers,
                                          .exp = a.exp.url ? &a.exp : NULL},
                      &r);
    if (rc < 0)
        return cs_cli_fail(rc);
    if (r.first_seg == 0) {
        cs_log_info("no stored packets in that range: nothing to reanalyze");
        return CS_EXIT_OK;
    }
    if (!a.quiet)
        printf("reanalyzed %" PRIu64 " packets of segments %" PRIu32 "..%" PRIu32 ": %" PRIu64
               " messages, %" PRIu64 " measurements, %" PRIu64 " unanswered requests\n",
               r.ps.packets, r.first_seg, r.last_seg, r.ps.analyzer.messages,
               r.ps.analyzer.measurements, r.ps.analyzer.unmatched_requests);
    if (!a.quiet)
        cs_cli_timeref_summary(&a.timeref, &r.ps.timeref);
    if (!a.quiet && r.exp.ran)
        cs_cli_export_summary(stdout, &r.exp.st);
    return CS_EXIT_OK;
}

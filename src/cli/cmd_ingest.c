/*
 * cmd_ingest.c - `capstream ingest -r FILE -d STORE`: one pass over a
 * capture file into the store.
 *
 * This file parses the options, hands them to the engine's ingest
 * (engine/batch.h: read, store, analyse, in one pass; a failure in the
 * middle - file cut off, bad record, full disk - still closes the store
 * properly, so every complete packet before the fault is stored and
 * indexed) and prints what it did: a progress line on a terminal, then a
 * summary. On a fault the summary says where it was, the count given is
 * the one the store reports as written, and the exit status is 1. Packets
 * of a link type capstream cannot dissect (802.11, radiotap...) are stored
 * all the same and counted per link type in the summary: never an error.
 * With --export the records also go to ClickHouse while the pass runs; a
 * ClickHouse that refuses leaves them for the next export (a warning, not
 * a failure: the store holds them).
 */
#include "cli/cli.h"

#include "core/error.h"
#include "core/log.h"
#include "core/timefmt.h"
#include "decode/decoder.h"
#include "engine/batch.h"
#include "store/store.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char ingest_help[] =
    "usage: capstream ingest -r FILE -d STORE [--decoders LIST] [--max-flows N]\n"
    "                        [--flow-buffer N] [--pair-timeout D] [--t2t-window D]\n"
    "                        [--segment-bytes N] [--max-bytes N] [--max-message-bytes N]\n"
    "                        [--partitions N] [--fsync] [--workers N]\n"
    "                        [--export clickhouse=URL] [-q]\n\n"
    "Reads a capture file (pcap or pcapng; '-' for standard input) and, in one pass,\n"
    "stores its packets in STORE (created if missing; later ingests append), indexed\n"
    "by time, flow, host, port and protocol, and decodes them: TCP reassembly, FIX,\n"
    "HTTP and DNS messages, request/response pairs as latency measurements.\n"
    "Packets of every link type are stored; those capstream cannot dissect (802.11,\n"
    "radiotap...) are queried like any other but not decoded, and counted.\n\n"
    "  -r, --read FILE        capture file to read ('-' = standard input)\n"
    "  -d, --store DIR        the store\n"
    "      --decoders LIST    decoders to run: all (default), none (packets only), or\n"
    "                         names separated by commas: {decoders}\n" CS_CLI_DECODER_OPT_HELP
        CS_CLI_TAP_BY_HELP CS_CLI_TIME_SOURCE_HELP CS_CLI_WORKERS_HELP
    "      --max-flows N      flows tracked at once (default 1000000; the oldest goes)\n"
    "      --flow-buffer N    bytes buffered per flow direction for reassembly (default 1M)\n"
    "      --pair-timeout D   a request unanswered for D of capture time is reported\n"
    "                         unanswered (default 30s)\n"
    "      --t2t-window D     tick-to-trade (--pair t2t): an order's tick, the latest\n"
    "                         market data on its instrument at its tap, is at most D\n"
    "                         older than the order (default 1ms)\n"
    "      --segment-bytes N  close a group of segments when its files together reach\n"
    "                        N bytes (default 1G; K/M/G suffixes)\n"
    "      --partitions N     for a new store: segments written at once, one per\n"
    "                        share of the conversations (default 64; 1 to 1024).\n"
    "                        More make a query for one flow read less\n"
    "      --max-bytes N      retention budget: delete the oldest segments beyond N bytes\n"
    "                         (0 = unlimited; remembered by the store)\n"
    "      --max-message-bytes N  the same for messages and measurements, deleted a\n"
    "                         packet segment's worth at a time, oldest first\n"
    "      --fsync            sync each segment and index to disk as it closes\n"
    "                         (survives power loss, not only a crash of "
    "capstream)\n" CS_CLI_EXPORT_HELP "  -q, --quiet            no summary line\n\n"
    "example:\n"
    "  capstream ingest -r trading.pcap -d /var/lib/capstream --max-bytes 50G\n";

typedef struct ingest_args {
    const char *file, *dir;
    int quiet;
    cs_store_opts so;
    const cs_decoder *decoders[CS_DECODERS_MAX + 1];
    cs_decoder_optset decoder_opts;
    cs_analyzer_cfg limits;
    int tap_by_vlan, tap_by_trailer;
    cs_timerefs timeref;
    uint32_t workers;
    cs_chexport_cfg exp; /* url NULL: no --export */
} ingest_args;

/* --max-flows N, --flow-buffer BYTES, --pair-timeout and --t2t-window DURATION. */
static int ingest_limit(ingest_args *a, int c, const char *arg)
{
    uint64_t v;
    int64_t ns;

    if (c == 'W' || c == 'T') {
        if (cs_duration_parse(arg, &ns) < 0 || ns <= 0)
            return cs_error_set(CS_EINVAL, "bad %s '%s' (e.g. 30s, 500ms, 5us)",
                                c == 'W' ? "--pair-timeout" : "--t2t-window", arg);
        *(c == 'W' ? &a->limits.pair_timeout_ns : &a->limits.t2t_window_ns) = ns;
        return 0;
    }
    if (cs_cli_parse_size(arg, &v) < 0 || v == 0 || v > UINT32_MAX)
        return cs_error_set(CS_EINVAL, "bad %s '%s'", c == 'X' ? "--max-flows" : "--flow-buffer",
                            arg);
    if (c == 'X')
        a->limits.max_flows = (uint32_t)v;
    else
        a->limits.max_flow_buffer = (uint32_t)v;
    return 0;
}

static int ingest_parse(int argc, char **argv, ingest_args *a)
{
    static const struct option opts[] = {{"read", required_argument, 0, 'r'},
                                         {"store", required_argument, 0, 'd'},
                                         {"segment-bytes", required_argument, 0, 'S'},
                                         {"max-bytes", required_argument, 0, 'M'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {"fsync", no_argument, 0, 'F'},
                                         {"decoders", required_argument, 0, 'D'},
                                         {"decoder-opt", required_argument, 0, 'O'},
                                         {"max-flows", required_argument, 0, 'X'},
                                         {"flow-buffer", required_argument, 0, 'Z'},
                                         {"pair-timeout", required_argument, 0, 'W'},
                                         {"t2t-window", required_argument, 0, 'T'},
                                         {"max-message-bytes", required_argument, 0, 'G'},
                                         {"partitions", required_argument, 0, 'P'},
                                         {"tap-by", required_argument, 0, 'V'},
                                         {"time-source", required_argument, 0, 'K'},
                                         {"workers", required_argument, 0, 'J'},
                                         CS_CLI_EXPORT_OPTS,
                                         {0, 0, 0, 0}};
    int c;

    a->so.flags = CS_STORE_WRITE | CS_STORE_CREATE;
    cs_decoders_parse("all", a->decoders);
    cs_analyzer_cfg_default(&a->limits);
    while ((c = getopt_long(argc, argv, "r:d:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            a->file = optarg;
            break;
        case 'd':
            a->dir = optarg;
            break;
        case 'S':
            if (cs_cli_parse_size(optarg, &a->so.segment_bytes) < 0 || a->so.segment_bytes < 4096)
                return cs_cli_usage_error("ingest", "bad --segment-bytes '%s' (at least 4K)",
                                          optarg);
            break;
        case 'M':
            if (cs_cli_parse_size(optarg, &a->so.max_bytes) < 0)
                return cs_cli_usage_error("ingest", "bad --max-bytes '%s'", optarg);
            a->so.set_max_bytes = 1;
            break;
        case 'G':
            if (cs_cli_parse_size(optarg, &a->so.max_message_bytes) < 0)
                return cs_cli_usage_error("ingest", "bad --max-message-bytes '%s'", optarg);
            a->so.set_max_message_bytes = 1;
            break;
        case 'P':
            if (cs_cli_parse_partitions("ingest", optarg, &a->so.partitions) != 0)
                return CS_EXIT_USAGE;
            break;
        case 'q':
            a->quiet = 1;
            break;
        case 'F':
            a->so.flags |= CS_STORE_SYNC;
            break;
        case 'D':
            if (cs_decoders_parse(optarg, a->decoders) < 0)
                return cs_cli_usage_error("ingest", "%s", cs_error_msg(CS_EINVAL));
            break;
        case 'O':
            if (cs_decoder_optset_add(&a->decoder_opts, optarg) < 0)
                return cs_cli_usage_error("ingest", "%s", cs_error_msg(CS_EINVAL));
            break;
        case 'V':
            if (cs_cli_parse_tap_by("ingest", optarg, &a->tap_by_vlan, &a->tap_by_trailer) != 0)
                return CS_EXIT_USAGE;
            break;
        case 'K':
            if (cs_cli_parse_time_source("ingest", optarg, &a->timeref) != 0)
                return CS_EXIT_USAGE;
            break;
        case 'J':
            if (cs_cli_parse_workers("ingest", optarg, &a->workers) != 0)
                return CS_EXIT_USAGE;
            break;
        case 'X':
        case 'Z':
        case 'W':
        case 'T':
            if (ingest_limit(a, c, optarg) < 0)
                return cs_cli_usage_error("ingest", "%s", cs_error_msg(CS_EINVAL));
            break;
        case CS_CLI_OPT_EXPORT:
        case CS_CLI_OPT_SENSOR:
        case CS_CLI_OPT_TLS_CA:
        case CS_CLI_OPT_EXPORT_TABLES:
            if (cs_cli_export_option("ingest", c, optarg, &a->exp) != 0)
                return CS_EXIT_USAGE;
            break;
        case 'h':
            cs_cli_help(stdout, ingest_help);
            return -1;
        default:
            return cs_cli_usage_error("ingest", "bad option");
        }
    }
    if (a->file == NULL || a->dir == NULL)
        return cs_cli_usage_error("ingest", "-r FILE and -d STORE are required");
    if (optind < argc)
        return cs_cli_usage_error("ingest", "unexpected argument '%s'", argv[optind]);
    if (cs_cli_finish_timerefs("ingest", &a->timeref, a->tap_by_trailer) != 0)
        return CS_EXIT_USAGE;
    return cs_cli_export_check("ingest", &a->exp);
}

static void analysis_summary(const cs_pipeline_stats *ps)
{
    const cs_analyzer_stats *a = &ps->analyzer;

    if (!ps->analyzed)
        return;
    printf("decoded %" PRIu64 " messages (%" PRIu64 " flagged bad), %" PRIu64
           " measurements, %" PRIu64 " requests unanswered, %" PRIu64
           " responses without request; %" PRIu64 " flows (%" PRIu64 " evicted), %" PRIu64
           " TCP gaps (%" PRIu64 " bytes), %" PRIu64 " retransmitted and %" PRIu64
           " out-of-order segments, %" PRIu64 " buffer overflows\n",
           a->messages, a->bad_messages, a->measurements, a->unmatched_requests,
           a->unmatched_responses, a->flows, a->flows_evicted, a->tcp_gaps, a->tcp_gap_bytes,
           a->tcp_retransmits, a->tcp_out_of_order, a->buffer_overflows);
}

/* Packets stored but not analysed, because capstream cannot dissect their
 * link type (802.11, radiotap...): a count, never an error. */
static void undissected_summary(const cs_pipeline_stats *ps)
{
    char links[512];

    if (ps->undissected == 0)
        return;
    cs_cli_fmt_link_counts(ps->undissected_by_link, ps->n_undissected_links, 1, links,
                           sizeof(links));
    printf("%" PRIu64 " packets not dissected (%s): stored, not analysed\n", ps->undissected,
           links);
}

static void ingest_summary(const cs_ingest_result *t, int64_t elapsed_ns,
                           const cs_store_info *after)
{
    char t0[CS_TIME_BUFLEN], t1[CS_TIME_BUFLEN], b[32];
    double secs = (double)elapsed_ns / 1e9;
    uint64_t made =
        after->segments + after->deleted_segments - t->before.segments - t->before.deleted_segments;

    printf("ingested %" PRIu64 " packets, %s", t->packets, cs_cli_fmt_bytes(t->bytes, b));
    if (t->packets)
        printf(", %s .. %s", cs_time_format(t->min_ts, t0), cs_time_format(t->max_ts, t1));
    printf(", %" PRIu64 " new segment(s) (store: %" PRIu32 " segments in %" PRIu32
           " group(s) of %" PRIu32 " partitions, %" PRIu64
           " packets), %.3f s, %.0f packets/s, %.1f MB/s\n",
           made, after->segments, after->groups, after->partitions, after->packets, secs,
           secs > 0 ? (double)t->packets / secs : 0.0,
           secs > 0 ? (double)t->bytes / secs / 1e6 : 0.0);
}

static void show_progress(void *ud, uint64_t done_bytes, uint64_t total_bytes, uint64_t packets)
{
    cs_progress_update(ud, done_bytes, total_bytes, packets);
}

int cs_cmd_ingest(int argc, char **argv)
{
    ingest_args a;
    cs_ingest_result r;
    cs_progress prog;
    cs_store *s = NULL;
    cs_store_info after;
    int64_t start = cs_mono_ns();
    int rc, status;

    memset(&a, 0, sizeof(a));
    if ((status = ingest_parse(argc, argv, &a)) != 0)
        return status < 0 ? CS_EXIT_OK : status;
    cs_progress_start(&prog);
    rc = cs_ingest(&(cs_ingest_cfg){.file = a.file,
                                    .dir = a.dir,
                                    .so = a.so,
                                    .decoders = a.decoders,
                                    .decoder_opts = &a.decoder_opts,
                                    .limits = &a.limits,
                                    .tap_by_vlan = a.tap_by_vlan,
                                    .timeref = a.timeref,
                                    .workers = a.workers,
                                    .exp = a.exp.url ? &a.exp : NULL,
                                    .progress = show_progress,
                                    .ud = &prog},
                   &r);
    if (!r.ran)
        return cs_cli_fail(rc);
    cs_progress_end(&prog);
    if (!a.quiet && cs_store_open(a.dir, &(cs_store_opts){0}, &s) == 0) {
        cs_store_info_get(s, &after);
        cs_store_close(s);
        ingest_summary(&r, cs_mono_ns() - start, &after);
        analysis_summary(&r.ps);
        undissected_summary(&r.ps);
        cs_cli_timeref_summary(&a.timeref, &r.ps.timeref);
        if (r.exp.ran)
            cs_cli_export_summary(stdout, &r.exp.st);
    }
    if (rc < 0) {
        cs_log_error("%s: %s", a.file, r.why);
        cs_log_error("%" PRIu64 " of the %" PRIu64 " packets read were stored (indexed and "
                     "readable%s); %" PRIu64 " were not",
                     r.fin.written_packets, r.packets,
                     r.fin.deleted_segments ? "; retention deleted the oldest since" : "",
                     r.packets - r.fin.written_packets);
        return CS_EXIT_FAIL;
    }
    return CS_EXIT_OK;
}

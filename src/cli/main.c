/*
 * main.c - the capstream binary: git-style subcommands.
 *
 *   capstream <command> [options]     capstream <command> --help
 *
 * A table maps each command name to its function and one-line summary;
 * adding a command is one line here plus its cmd_<name>.c.
 */
#include "cli/cli.h"

#include "core/alloc.h"
#include "core/version.h"

#include <stdio.h>
#include <string.h>

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"run", cs_cmd_run, "live daemon: capture, store, decode, metrics, alerts, HTTP API"},
    {"ingest", cs_cmd_ingest, "store a capture file's packets (and decode them) into a store"},
    {"query", cs_cmd_query, "packets matching a tcpdump filter and time range, as pcap"},
    {"stats", cs_cmd_stats, "what a store holds: segments, packets, bytes, time span, budget"},
    {"messages", cs_cmd_messages, "decoded messages (FIX, HTTP, DNS) by proto, type, key, time"},
    {"latency", cs_cmd_latency, "latency measurements by time or slowest first; percentiles"},
    {"gaps", cs_cmd_gaps, "sequence gaps decoders found (feed, session, numbers missing)"},
    {"feeds", cs_cmd_feeds, "per MoldUDP64 feed and tap: packets, ITCH types, gaps, A/B races"},
    {"show", cs_cmd_show, "one measurement or message with its packets (and -w OUT.pcap)"},
    {"reanalyze", cs_cmd_reanalyze, "decode stored packets again, replacing their messages"},
    {"inspect", cs_cmd_inspect, "dump a store's on-disk segment indexes"},
    {"hub", cs_cmd_hub, "one API and web UI over many sensors (and their ClickHouse)"},
    {"export", cs_cmd_export,
     "send a store's records to ClickHouse, from where the last export stopped"},
    {"serve", cs_cmd_serve, "the HTTP API and web UI over an existing store, read-only"},
    {"demo", cs_cmd_demo, "the live daemon and web UI on synthetic trading traffic (no root)"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: capstream <command> [options]\n\n"
                 "capstream captures packets into an indexed store and decodes them in the\n"
                 "same pass. Commands:\n\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'capstream <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    cs_alloc_init();
    if (argc < 2) {
        usage(stderr);
        return CS_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CS_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("capstream %s\n", CS_VERSION_STRING);
        return CS_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "capstream: error: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CS_EXIT_USAGE;
}

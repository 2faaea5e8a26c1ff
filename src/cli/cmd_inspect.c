/*
 * cmd_inspect.c - `capstream inspect -d STORE [--segment N] [--flows]`:
 * dumps the on-disk index of a store's segments (store/index_dump.c), the
 * tool that goes with the format documented in store/index.h.
 */
#include "cli/cli.h"

#include "core/error.h"
#include "store/store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char inspect_help[] =
    "usage: capstream inspect -d STORE [--segment N] [--flows]\n\n"
    "Prints each segment's index: link type, packets, bytes, time span, flow keys\n"
    "and time blocks (the format is described in src/store/index.h).\n\n"
    "  -d, --store DIR    the store\n"
    "      --segment N    only segment N\n"
    "      --flows        also list every flow key with its packet count\n\n"
    "example:\n"
    "  capstream inspect -d S --segment 1 --flows | head\n";

int cs_cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {{"store", required_argument, 0, 'd'},
                                         {"segment", required_argument, 0, 's'},
                                         {"flows", no_argument, 0, 'f'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *dir = NULL;
    unsigned long seg = 0;
    int flows = 0, c, rc;
    cs_store_opts so = {0};
    cs_store *s;
    char *end;

    while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 's':
            seg = strtoul(optarg, &end, 10);
            if (*end != '\0' || seg == 0 || seg > UINT32_MAX)
                return cs_cli_usage_error("inspect", "bad --segment '%s'", optarg);
            break;
        case 'f':
            flows = 1;
            break;
        case 'h':
            fputs(inspect_help, stdout);
            return CS_EXIT_OK;
        default:
            return cs_cli_usage_error("inspect", "bad option");
        }
    }
    if (dir == NULL)
        return cs_cli_usage_error("inspect", "-d STORE is required");
    if ((rc = cs_store_open(dir, &so, &s)) < 0)
        return cs_cli_fail(rc);
    rc = cs_store_dump_index(s, (uint32_t)seg, flows, stdout);
    cs_store_close(s);
    return rc < 0 ? cs_cli_fail(rc) : CS_EXIT_OK;
}

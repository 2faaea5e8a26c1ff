/*
 * cmd_export.c - `capstream export`: sends what a store holds to
 * ClickHouse, from where the last export to that destination stopped.
 *
 *   capstream export -d STORE --to clickhouse=URL [--sensor NAME] [--after T]
 *                    [--batch-rows N] [--tls-ca FILE]
 *
 * The back-fill of export/chexport.h in the calling thread: creates the
 * tables if missing, sends every record, metrics window and alert event
 * after the store's cursors for URL in batches, commits a cursor after
 * each accepted batch, and prints
 * what it sent. A second run sends only what arrived since; a run that
 * failed half-way resumes where it stopped. Exit 1 (with ClickHouse's
 * reason) when a batch is refused.
 */
#include "cli/cli.h"

#include "core/error.h"
#include "export/chexport.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char export_help[] =
    "usage: capstream export -d STORE --to clickhouse=URL [--sensor NAME] [--after T]\n"
    "                        [--batch-rows N] [--tls-ca FILE]\n\n"
    "Sends the store's decoded messages, measurements, unmatched requests and responses,\n"
    "sequence gaps, per-second metrics windows and alert events to ClickHouse, into the\n"
    "tables messages, measurements, unmatched, gaps, metrics and alerts of the URL's\n"
    "database (created when missing; docs/clickhouse.md has the schemas). Each row is\n"
    "the record as `--json` prints it (a window: as /api/v1/metrics, an alert: as\n"
    "STORE/alerts/alerts.jsonl), with the sensor's name.\n"
    "Only what was not sent to that URL before is sent: the store keeps cursors per\n"
    "destination in STORE/export/, committed after ClickHouse accepts each batch, and\n"
    "a row sent twice after a failure is merged away (ReplacingMergeTree; query with\n"
    "FINAL to see it merged at once). A live `capstream run --export` keeps the same\n"
    "cursor. An https:// URL's certificate is verified (name and CA: the system's, or\n"
    "--tls-ca's), and the export fails rather than send to a server it cannot trust.\n\n"
    "  -d, --store DIR        the store\n"
    "      --to clickhouse=URL  http[s]://[USER:PASS@]HOST:PORT/DB\n"
    "      --sensor NAME      this sensor's name in every row (default: the host name)\n"
    "      --after T          rows before T are not sent (and not sent later either)\n"
    "      --batch-rows N     at most N records an insert (default 100000)\n"
    "      --tables LIST      only these tables: messages, unmatched, measurements, gaps,\n"
    "                         metrics, alerts (default all). Each set of tables has its\n"
    "                         own cursor: a table added later is sent from the start\n"
    "      --tls-ca FILE      an https:// ClickHouse's certificate must be signed by a CA\n"
    "                         of FILE (PEM) instead of one the system trusts\n\n"
    "T is RFC 3339 with up to 9 fractional digits, integer epoch nanoseconds, or\n"
    "relative ('90s ago', '5m ago', 'now').\n\n"
    "examples:\n"
    "  capstream export -d S --to clickhouse=http://127.0.0.1:8123/capstream\n"
    "  capstream export -d S --to clickhouse=http://ch1:8123/trading --sensor ny4-a --after '1h "
    "ago'\n"
    "  capstream export -d S --to clickhouse=https://ch1:8443/trading --tls-ca /etc/ssl/ours.pem\n";

/* "clickhouse=URL" -> URL; NULL for anything else. */
const char *cs_cli_export_url(const char *cmd, const char *spec)
{
    static const char prefix[] = "clickhouse=";

    if (strncmp(spec, prefix, sizeof(prefix) - 1) != 0) {
        cs_cli_usage_error(cmd, "--export/--to: give clickhouse=URL, not '%s'", spec);
        return NULL;
    }
    return spec + sizeof(prefix) - 1;
}

int cs_cli_export_option(const char *cmd, int c, const char *arg, cs_chexport_cfg *x)
{
    if (c == CS_CLI_OPT_SENSOR) {
        x->sensor = arg;
        return 0;
    }
    if (c == CS_CLI_OPT_TLS_CA) {
        x->ca_file = arg;
        return 0;
    }
    if (c == CS_CLI_OPT_EXPORT_TABLES)
        return cs_chexport_parse_tables(arg, &x->tables) < 0
                   ? cs_cli_usage_error(cmd, "--export-tables: %s", cs_error_msg(CS_EINVAL))
                   : 0;
    if ((x->url = cs_cli_export_url(cmd, arg)) == NULL)
        return CS_EXIT_USAGE;
    x->after = INT64_MIN;
    return 0;
}

int cs_cli_export_check(const char *cmd, const cs_chexport_cfg *x)
{
    if (x->sensor != NULL && x->url == NULL)
        return cs_cli_usage_error(cmd, "--sensor names the sensor in exported rows: give "
                                       "--export clickhouse=URL too");
    if (x->tables != 0 && x->url == NULL)
        return cs_cli_usage_error(cmd, "--export-tables chooses what --export sends: give "
                                       "--export clickhouse=URL too");
    if (x->ca_file != NULL && x->url == NULL)
        return cs_cli_usage_error(cmd, "--tls-ca verifies an https:// ClickHouse of --export: "
                                       "give --export clickhouse=URL too");
    return 0;
}

static int parse_rows(const char *s, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);

    if (s[0] < '0' || s[0] > '9' || *end != '\0' || v == 0 || v > 10000000)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int export_parse(int argc, char **argv, cs_chexport_cfg *cfg)
{
    static const struct option opts[] = {{"store", required_argument, 0, 'd'},
                                         {"to", required_argument, 0, 't'},
                                         {"sensor", required_argument, 0, 's'},
                                         {"after", required_argument, 0, 'A'},
                                         {"batch-rows", required_argument, 0, 'b'},
                                         {"tls-ca", required_argument, 0, 'C'},
                                         {"tables", required_argument, 0, 'T'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;

    cfg->after = INT64_MIN;
    while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        if (c == 'd')
            cfg->store_dir = optarg;
        else if (c == 't' && (cfg->url = cs_cli_export_url("export", optarg)) == NULL)
            return CS_EXIT_USAGE;
        else if (c == 's')
            cfg->sensor = optarg;
        else if (c == 'C')
            cfg->ca_file = optarg;
        else if (c == 'T' && cs_chexport_parse_tables(optarg, &cfg->tables) < 0)
            return cs_cli_usage_error("export", "--tables: %s", cs_error_msg(CS_EINVAL));
        else if (c == 'A' && cs_cli_parse_time("--after", optarg, &cfg->after) < 0)
            return CS_EXIT_USAGE;
        else if (c == 'b' && parse_rows(optarg, &cfg->batch_rows) < 0)
            return cs_cli_usage_error("export", "--batch-rows: give a count, 1 or more");
        else if (c == 'h') {
            cs_cli_help(stdout, export_help);
            return -1;
        } else if (c != 't' && c != 'A' && c != 'b' && c != 'T')
            return cs_cli_usage_error("export", "bad option");
    }
    if (optind < argc)
        return cs_cli_usage_error("export", "unexpected argument '%s'", argv[optind]);
    if (cfg->store_dir == NULL)
        return cs_cli_usage_error("export", "-d STORE is required");
    if (cfg->url == NULL)
        return cs_cli_usage_error("export", "--to clickhouse=URL is required");
    return 0;
}

/* One line: rows per table, what is left, what retention took first. */
void cs_cli_export_summary(FILE *out, const cs_chexport_stats *st)
{
    fprintf(out,
            "export to %s as %s: %llu messages, %llu measurements, %llu unmatched, %llu gaps, "
            "%llu metrics windows, %llu alert events in %llu batches",
            st->target, st->sensor, (unsigned long long)st->rows[CS_CHX_MESSAGES],
            (unsigned long long)st->rows[CS_CHX_MEASUREMENTS],
            (unsigned long long)st->rows[CS_CHX_UNMATCHED],
            (unsigned long long)st->rows[CS_CHX_GAPS], (unsigned long long)st->rows[CS_CHX_METRICS],
            (unsigned long long)st->rows[CS_CHX_ALERTS], (unsigned long long)st->batches);
    if (st->rows_skipped)
        fprintf(out, ", %llu before --after not sent", (unsigned long long)st->rows_skipped);
    if (st->pending_bytes)
        fprintf(out, ", %llu bytes not sent yet", (unsigned long long)st->pending_bytes);
    if (st->lost_bytes)
        fprintf(out, ", %llu bytes deleted by retention before they were sent",
                (unsigned long long)st->lost_bytes);
    fputc('\n', out);
}

int cs_cmd_export(int argc, char **argv)
{
    cs_chexport_cfg cfg;
    cs_chexport_stats st;
    cs_chexport *x = NULL;
    int rc, status;

    memset(&cfg, 0, sizeof(cfg));
    if ((status = export_parse(argc, argv, &cfg)) != 0)
        return status < 0 ? CS_EXIT_OK : status;
    if ((rc = cs_chexport_open(&cfg, &x)) < 0)
        return cs_cli_fail(rc);
    rc = cs_chexport_catch_up(x);
    cs_chexport_stats_get(x, &st);
    cs_cli_export_summary(stderr, &st);
    cs_chexport_close(x);
    return rc < 0 ? cs_cli_fail(rc) : CS_EXIT_OK;
}

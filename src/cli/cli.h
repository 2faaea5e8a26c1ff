/*
 * cli.h - subcommands of the capstream binary and their shared helpers.
 *
 * Each subcommand is `int cs_cmd_<name>(int argc, char **argv)` returning
 * the process exit status (0 ok, 1 failure, 2 usage). main.c holds the
 * table; cli_util.c the helpers for sizes, times, errors and progress.
 */
#ifndef CS_CLI_CLI_H
#define CS_CLI_CLI_H

#include "core/packet.h"
#include "decode/decoder.h"
#include "export/chexport.h"
#include "packet/timeref.h"
#include "server/server.h"

#include <stdint.h>
#include <stdio.h>

int cs_cmd_ingest(int argc, char **argv);
int cs_cmd_query(int argc, char **argv);
int cs_cmd_stats(int argc, char **argv);
int cs_cmd_reanalyze(int argc, char **argv);
int cs_cmd_inspect(int argc, char **argv);
int cs_cmd_run(int argc, char **argv);
int cs_cmd_latency(int argc, char **argv);
int cs_cmd_messages(int argc, char **argv);
int cs_cmd_gaps(int argc, char **argv);
int cs_cmd_feeds(int argc, char **argv);
int cs_cmd_show(int argc, char **argv);
int cs_cmd_demo(int argc, char **argv);
int cs_cmd_serve(int argc, char **argv);
int cs_cmd_export(int argc, char **argv);
int cs_cmd_hub(int argc, char **argv);

/* Exit statuses. */
enum { CS_EXIT_OK = 0, CS_EXIT_FAIL = 1, CS_EXIT_USAGE = 2 };

/* Prints "capstream: error: <detail>" for error "rc" and returns CS_EXIT_FAIL. */
int cs_cli_fail(int rc);

/* Prints a command's help "text" to "out", with "{decoders}" replaced by
 * the registry's decoder names ("fix,http,dns"), "{protos}" by the same
 * as prose ("fix, http, dns") and "{pairs}" by its pair names, so no help
 * names a protocol by hand. */
void cs_cli_help(FILE *out, const char *text);

/* Prints a usage error plus "see capstream CMD --help" and returns CS_EXIT_USAGE. */
int cs_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses "256M", "1G", "4096", "1.5GiB" into bytes; 0 or CS_EINVAL. */
int cs_cli_parse_size(const char *s, uint64_t *out);

/* Parses the --partitions value of command "cmd" into "*out" (1 to
 * CS_STORE_MAX_PARTITIONS); 0 or prints a usage error and returns its exit
 * code. */
int cs_cli_parse_partitions(const char *cmd, const char *s, uint32_t *out);

/* Parses the --workers value of command "cmd" into "*out" (1 to
 * CS_WORKERS_MAX); a bad one is a usage error (CS_EXIT_USAGE). */
int cs_cli_parse_workers(const char *cmd, const char *s, uint32_t *out);

/* The decoder options of the daemon's config file: its lines
 * "decoder-opt NAME.KEY=VALUE" (the alert rules beside them are the
 * alerts'), added to "set" in file order; the options already in "set"
 * (the command line's) are applied again after them, so they win.
 * CS_ENOTFOUND, CS_EIO, or CS_EINVAL naming "path:line". */
int cs_cli_config_decoder_opts(const char *path, cs_decoder_optset *set);

/* --tap-by interface|vlan|trailer into "*by_vlan" (1 for vlan) and
 * "*by_trailer"; a usage error of "cmd" (CS_EXIT_USAGE) for anything else. */
int cs_cli_parse_tap_by(const char *cmd, const char *s, int *by_vlan, int *by_trailer);

/* --time-source SPEC (packet/timeref.h) into "t->all"; a usage error of
 * "cmd" for a bad one. */
int cs_cli_parse_time_source(const char *cmd, const char *s, cs_timerefs *t);

/* After the options: --tap-by trailer ("by_trailer") applied to "t"; a
 * usage error of "cmd" without a trailer time source. */
int cs_cli_finish_timerefs(const char *cmd, cs_timerefs *t, int by_trailer);

/* Prints what a trailer time source did ("time source trailer:metamako:
 * ... packets timed ..."), when "t" has one. */
void cs_cli_timeref_summary(const cs_timerefs *t, const cs_timeref_stats *st);

/* The help line of --tap-by, shared by the commands that analyse. */
/* The help of --decoder-opt (ingest, reanalyze, run, demo). */
#define CS_CLI_DECODER_OPT_HELP                                                                    \
    "      --decoder-opt NAME.KEY=VALUE  an option of one decoder (repeatable), e.g.\n"            \
    "                         fix.ports=9100,9101 binds FIX to those ports;\n"                     \
    "                         fix.scope=session matches FIX within a connection at every\n"        \
    "                         tap (one tap sees requests, another responses)\n"

#define CS_CLI_WORKERS_HELP                                                                        \
    "      --workers N        analyse on N threads, each the owner of a share of the\n"            \
    "                         conversations, merged in capture order: the same results\n"          \
    "                         as one (default 1)\n"

#define CS_CLI_TAP_BY_HELP                                                                         \
    "      --tap-by WHAT      interface (default: each interface or pcapng interface is a\n"       \
    "                         tap), vlan (a tagged packet's tap is its outer VLAN id, as\n"        \
    "                         a tap aggregator tags each capture point; flows, messages,\n"        \
    "                         measurements and metrics carry it) or trailer (the tap is\n"         \
    "                         the (device, port) of a timestamp trailer, as device*256+port;\n"    \
    "                         needs --time-source trailer:KIND)\n"

/* The help of --time-source for files (ingest, reanalyze). */
#define CS_CLI_TIME_SOURCE_HELP                                                                    \
    "      --time-source SRC  where packet times come from: kernel (default: the capture's\n"      \
    "                         own stamps) or trailer:KIND, the time a tap aggregator wrote\n"      \
    "                         in a trailer at the end of each frame (metamako, exablaze,\n"        \
    "                         ixia, vss); the host's stamp is kept beside it\n"

/* Parses a time option value; prints the error itself. 0 or CS_ETIME. */
int cs_cli_parse_time(const char *opt, const char *s, int64_t *out);

/* Formats bytes as "734.0 MB" into buf (>= 32). */
char *cs_cli_fmt_bytes(uint64_t n, char *buf);

/* Writes "link type 105: 600, link type 127: 4" for the counts of "c"
 * (only the link types cs_dissect() cannot read, with "undissected") into
 * "buf"; returns the packets written about. */
uint64_t cs_cli_fmt_link_counts(const cs_link_count *c, uint32_t n, int undissected, char *buf,
                                size_t size);

/* Joins argv[from..argc) with spaces (a filter given as several words). */
char *cs_cli_join_args(int argc, char **argv, int from);

/* A progress line on standard error, drawn only when it is a terminal. */
typedef struct cs_progress {
    int enabled;
    int64_t start_ns, last_ns;
} cs_progress;

void cs_progress_start(cs_progress *p);
void cs_progress_update(cs_progress *p, uint64_t done_bytes, uint64_t total_bytes,
                        uint64_t packets);
void cs_progress_end(cs_progress *p);

/* "clickhouse=URL" (--export, --to) -> URL; prints a usage error of "cmd"
 * and returns NULL for anything else (cmd_export.c). */
const char *cs_cli_export_url(const char *cmd, const char *spec);

/* One line on "out": rows sent per table, what is left and what was lost
 * (cmd_export.c). */
void cs_cli_export_summary(FILE *out, const cs_chexport_stats *st);

/* --export and --sensor of run, ingest and reanalyze (cmd_export.c): the
 * getopt codes, their help, and the option into "x" (0, or the exit
 * status of a usage error). */
#define CS_CLI_OPT_EXPORT 0x1001
#define CS_CLI_OPT_SENSOR 0x1002
#define CS_CLI_OPT_TLS_CA 0x1003
#define CS_CLI_OPT_EXPORT_TABLES 0x1004
#define CS_CLI_EXPORT_OPTS                                                                         \
    {"export", required_argument, 0, CS_CLI_OPT_EXPORT},                                           \
        {"sensor", required_argument, 0, CS_CLI_OPT_SENSOR},                                       \
        {"export-tables", required_argument, 0, CS_CLI_OPT_EXPORT_TABLES},                         \
    {                                                                                              \
        "tls-ca", required_argument, 0, CS_CLI_OPT_TLS_CA                                          \
    }
#define CS_CLI_EXPORT_HELP                                                                         \
    "      --export clickhouse=URL  also send the decoded records to ClickHouse as they\n"         \
    "                        are stored, http[s]://[USER:PASS@]HOST:PORT/DB (tables made\n"        \
    "                        when missing; docs/clickhouse.md). Never slows the pass: what\n"      \
    "                        ClickHouse misses while down is sent when it returns\n"               \
    "      --sensor NAME     this sensor's name in exported rows (default: the host "              \
    "name)\n"                                                                                      \
    "      --export-tables LIST  only these tables: messages, unmatched, measurements,\n"          \
    "                        gaps, metrics, alerts (default all; messages are most of\n"           \
    "                        the rows and of ClickHouse's work)\n" CS_CLI_TLS_CA_HELP
/* The help of --tls-ca (export and the --export commands). */
#define CS_CLI_TLS_CA_HELP                                                                         \
    "      --tls-ca FILE     an https:// ClickHouse's certificate must be signed by a CA of\n"     \
    "                        FILE (PEM) instead of one the system trusts\n"
int cs_cli_export_option(const char *cmd, int c, const char *arg, cs_chexport_cfg *x);

/* After the options: --sensor and --tls-ca only with --export (0, or a
 * usage error). */
int cs_cli_export_check(const char *cmd, const cs_chexport_cfg *x);

/* --tls-cert, --tls-key and --insecure of the commands that serve the HTTP
 * API (run, demo, serve), into the TLS fields of "sc" (server/server.h):
 * the getopt codes, their help, and the option into "sc" (always 0). */
#define CS_CLI_OPT_TLS_CERT 0x1010
#define CS_CLI_OPT_TLS_KEY 0x1011
#define CS_CLI_OPT_INSECURE 0x1012
#define CS_CLI_TLS_OPTS                                                                            \
    {"tls-cert", required_argument, 0, CS_CLI_OPT_TLS_CERT},                                       \
        {"tls-key", required_argument, 0, CS_CLI_OPT_TLS_KEY},                                     \
    {                                                                                              \
        "insecure", no_argument, 0, CS_CLI_OPT_INSECURE                                            \
    }
#define CS_CLI_TLS_HELP                                                                            \
    "      --tls-cert FILE   serve HTTPS only, with this certificate (PEM, the server's\n"         \
    "                        first, then its chain); needs --tls-key\n"                            \
    "      --tls-key FILE    the certificate's private key (PEM)\n"                                \
    "      --insecure        allow plain HTTP with --token-file off loopback (the token\n"         \
    "                        then crosses the network in clear); refused without it\n"
int cs_cli_tls_option(int c, const char *arg, cs_server_cfg *sc);

/* 1 if getopt code "c" is one of CS_CLI_TLS_OPTS. */
int cs_cli_is_tls_option(int c);

/* After the options: the server configuration "sc" as cs_server_check
 * judges it: 0, a usage error of "cmd" for --tls-cert without --tls-key
 * (or the reverse), else the error printed and CS_EXIT_FAIL (a bad
 * --listen, a policy refusal). */
int cs_cli_server_check(const char *cmd, const cs_server_cfg *sc);

#endif

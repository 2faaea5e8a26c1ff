/*
 * chclient.h - a ClickHouse server over its HTTP interface, through
 * libcurl: statements, inserts of JSONEachRow rows, and small selects.
 *
 * A target is written "clickhouse=http://HOST:PORT/DB" on the command
 * line (the "clickhouse=" is the caller's); the URL may carry a user and
 * password ("http://USER:PASS@HOST:8123/DB") and may be https. DB is the
 * database the tables live in (created when missing by the exporter).
 *
 * Every request is a POST (ClickHouse refuses changes over GET) on one
 * kept-alive connection, with a connect timeout of 2 s and an overall one
 * of 60 s, so a server that is down or hung fails a call instead of
 * holding its caller. A refusal carries ClickHouse's own message
 * ("Code: 60, e.displayText() = DB::Exception: Table ... doesn't exist").
 *
 * HTTPS: the server's certificate is always verified - it must chain to a
 * trusted CA and name the URL's host - against the system's CAs, or only
 * against those of a CA file when one is given; a server that fails is
 * never sent a row (nor the URL's password), and the error says it is TLS
 * and why ("TLS: SSL certificate problem: unable to get local issuer
 * certificate"). A CA file with an http:// URL is refused, since it would
 * verify nothing.
 *
 * Threading: a client is used by one thread.
 */
#ifndef CS_EXPORT_CHCLIENT_H
#define CS_EXPORT_CHCLIENT_H

#include <stddef.h>

#define CS_CH_URL_MAX 512
#define CS_CH_DB_MAX 64

typedef struct cs_ch_target {
    char base[CS_CH_URL_MAX];  /* "http://HOST:PORT/" (with USER:PASS@ if given) */
    char shown[CS_CH_URL_MAX]; /* the same without the password, for messages */
    char db[CS_CH_DB_MAX];     /* [A-Za-z0-9_]+ */
} cs_ch_target;

/* Parses "http[s]://[USER[:PASS]@]HOST[:PORT]/DB". CS_EINVAL with a
 * reason otherwise. */
int cs_ch_parse_target(const char *url, cs_ch_target *t);

typedef struct cs_ch cs_ch;

/* A client of "t"; "ca_file" (PEM, or NULL for the system's CAs) is what
 * an https:// server's certificate must chain to. Contacts nobody yet.
 * CS_EINVAL for a CA file with an http:// URL, the file's error (naming
 * it) if it cannot be read. */
int cs_ch_open(const cs_ch_target *t, const char *ca_file, cs_ch **out);
void cs_ch_close(cs_ch *c);

/* Runs one statement (CREATE, ALTER...). CS_EIO with the server's or the
 * transport's reason on failure. */
int cs_ch_exec(cs_ch *c, const char *sql);

/* Creates the target's database if it does not exist. */
int cs_ch_create_db(cs_ch *c);

/* Inserts "len" bytes of JSONEachRow rows into DB.table (fields the table
 * does not have are ignored). CS_EIO with a reason on failure: then none
 * or all of the rows may be in (ClickHouse inserts a block at once). */
int cs_ch_insert(cs_ch *c, const char *table, const char *rows, size_t len);

/* Runs a query and returns its output (NUL-terminated, cs_malloc'ed) in
 * "*out"; JSON formats give 64-bit integers as numbers, not strings. */
int cs_ch_query(cs_ch *c, const char *sql, char **out, size_t *len);

#endif

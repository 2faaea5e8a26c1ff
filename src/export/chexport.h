/*
 * chexport.h - every record of a store sent to ClickHouse once, while the
 * store is being written or afterwards (`run`/`ingest`/`reanalyze
 * --export`, `capstream export`).
 *
 * The exporter reads the message store (store/msgtail.h), not the
 * analysis: the store already holds every record, so capture and analysis
 * never wait on ClickHouse, and whatever ClickHouse missed while it was
 * down or slow is still there to send when it returns. Records go in
 * batches (at most "batch_rows", and at least every "max_delay_ms" while
 * records arrive) as rows of the tables of export/chschema.c, and the
 * position in the store is made durable (the cursor file) only after
 * ClickHouse accepted the batch. So:
 *   - nothing is lost: a record is sent until ClickHouse accepts it; only
 *     retention deleting a file not yet sent can lose records, and those
 *     are counted ("lost_bytes") and reported;
 *   - nothing is doubled: the only record that can be sent twice is one of
 *     the batch in flight when the process died or ClickHouse failed
 *     mid-insert, and a row sent twice has the same sorting key and is
 *     merged away by the ReplacingMergeTree (SELECT ... FINAL at once).
 *
 * The stored per-second metrics windows and alert events (STORE/metrics,
 * STORE/alerts, store/metricstore.h) go the same way, read by
 * store/mettail.h from a cursor of their own, after the records of each
 * pass: rows of tables metrics and alerts, the cursor committed after
 * their inserts succeeded, with the same guarantees.
 *
 * The cursors are STORE/export/clickhouse-HOST-PORT-DB.cursor (records)
 * and .metrics-cursor (windows and alerts), one pair per destination, so
 * two destinations each get everything.
 *
 * Threading: the exporter's own thread (start/stop) or the caller's
 * (catch_up), never both; stats may be read from any thread.
 */
#ifndef CS_EXPORT_CHEXPORT_H
#define CS_EXPORT_CHEXPORT_H

#include <stddef.h>
#include <stdint.h>

typedef struct cs_chexport cs_chexport;

typedef struct cs_chexport_cfg {
    const char *store_dir;
    const char *url;      /* "http://HOST:8123/DB" (export/chclient.h) */
    const char *sensor;   /* this capstream's name in every row; NULL: the host name */
    int64_t after;        /* records before this time (ns) are not sent; INT64_MIN: all */
    size_t batch_rows;    /* 0: CS_CHX_BATCH_ROWS */
    int64_t max_delay_ms; /* 0: CS_CHX_MAX_DELAY_MS */
    const char *ca_file;  /* PEM CAs an https:// URL's certificate must chain to; NULL: the
                             system's (export/chclient.h) */
    unsigned tables;      /* the tables sent, bit 1 << CS_CHX_*; 0: all. A set of tables
                             has its own cursor, so tables added later are back-filled */
} cs_chexport_cfg;

#define CS_CHX_BATCH_ROWS 100000
#define CS_CHX_MAX_DELAY_MS 1000
#define CS_CHX_SENSOR_MAX 64

enum {
    CS_CHX_MESSAGES,
    CS_CHX_UNMATCHED,
    CS_CHX_MEASUREMENTS,
    CS_CHX_GAPS,
    CS_CHX_METRICS, /* per-second metrics windows (store/metricstore.h) */
    CS_CHX_ALERTS,  /* alert events */
    CS_CHX_TABLES
};

typedef struct cs_chexport_stats {
    char sensor[CS_CHX_SENSOR_MAX];
    char target[640];             /* the URL without its password */
    uint64_t rows[CS_CHX_TABLES]; /* sent and accepted since start */
    uint64_t rows_skipped;        /* before cfg.after */
    uint64_t batches, failures;
    uint64_t pending_bytes; /* record, metrics and alert bytes in the store not yet sent */
    uint64_t lost_bytes;    /* deleted by retention before they were sent */
    uint64_t replaced;      /* files a reanalysis replaced (or the daemon rewrote), sent again */
    int64_t last_ok_ns;     /* wall clock of the last accepted batch (0: none) */
    int64_t caught_up_ns;   /* wall clock when ClickHouse last held everything the
                               store had (0: not yet): what is pending arrived after */
    int64_t opened_ns;      /* wall clock of cs_chexport_open */
    int up;                 /* the last attempt succeeded */
    char last_error[320];   /* the last failure's reason ("" if none) */
} cs_chexport_stats;

/* Checks the configuration and opens the store's cursor for the target;
 * does not contact ClickHouse. CS_EINVAL (bad URL or sensor name). */
int cs_chexport_open(const cs_chexport_cfg *cfg, cs_chexport **out);

/* Sends everything the store holds now, in the calling thread; fails on
 * the first refused batch (what was accepted before stays committed). */
int cs_chexport_catch_up(cs_chexport *x);

/* Starts the exporter's thread: it sends as records arrive and retries a
 * failing ClickHouse (backing off from 0.5 s to 10 s) without end. */
int cs_chexport_start(cs_chexport *x);

/* Stops the thread once it has sent everything the store holds, at the
 * first batch ClickHouse refuses, or after "drain_ms" (0: at once); what
 * is left is sent next time, from the cursor. Returns 0 if it caught up,
 * CS_EBUSY if not. */
int cs_chexport_stop(cs_chexport *x, int64_t drain_ms);

/* The end of a pass's export: stop (draining up to "drain_ms"), the last
 * stats into "st", a warning in the log if records are left unsent, and
 * close. 0 if everything was sent, CS_EBUSY if not. */
int cs_chexport_finish(cs_chexport *x, int64_t drain_ms, cs_chexport_stats *st);

void cs_chexport_stats_get(cs_chexport *x, cs_chexport_stats *st);

/* How far ClickHouse is behind the store at wall clock "now_ns": 0 when
 * nothing is pending, else the time since it last held everything (or
 * since the exporter opened). Records pending are at most this old. */
int64_t cs_chexport_lag_ns(const cs_chexport_stats *st, int64_t now_ns);

/* "messages,measurements,..." (or "all") into a cfg.tables mask; CS_EINVAL
 * naming an unknown table. */
int cs_chexport_parse_tables(const char *list, unsigned *mask);

/* The name of table CS_CHX_* "i" ("messages", "unmatched", ...). */
const char *cs_chexport_table(int i);

/* Stops the thread if it runs (without draining) and frees. */
void cs_chexport_close(cs_chexport *x);

#endif

/*
 * chschema.c - the ClickHouse tables capstream exports into, created when
 * missing (CREATE ... IF NOT EXISTS), and the statements that make them.
 *
 * A row is the JSON object the CLI and the API print for the record
 * (record/json.h; a metrics window: store/metricstore.h) plus "sensor" (the exporting capstream's
 * name), so a row reads the same everywhere and leads back to its packets: its sensor, and its
 * packet refs ("seg:offset") in that sensor's store.
 *
 *   messages     one row per decoded message; ORDER BY (ts_ns, sensor, id)
 *   unmatched    unanswered requests and orphan responses (the message,
 *                and "unmatched": request | response); same key
 *   measurements one per latency measurement (pairs: fix, http, dns, ouch,
 *                t2t, ab races, hops...); ORDER BY (req_ts_ns, sensor, pair,
 *                id, resp_msg): a tick starts a t2t measurement per order
 *                that followed it, all with the tick's id
 *   gaps         sequence gaps and abgaps of sequenced feeds;
 *                ORDER BY (ts_ns, sensor, feed, tap, kind, session, first_seq)
 *   metrics      one per stored per-second window of a series (kind tap,
 *                proto, pair, capture, clock, feed, session; its name):
 *                the point /api/v1/metrics gives with step=1s (counts,
 *                percentiles, heat) plus kind and name;
 *                ORDER BY (ts_ns, sensor, kind, name)
 *   alerts       one per alert event (fired, resolved): the event's line
 *                of STORE/alerts/alerts.jsonl;
 *                ORDER BY (ts_ns, sensor, rule, series, state)
 *
 * Every table is a ReplacingMergeTree partitioned by UTC day, whose
 * sorting key is the record's identity within its sensor: a row sent
 * twice (a batch re-sent after a crash, export/chexport.c) has the same
 * key and is merged away; `SELECT ... FINAL` shows the merged state at
 * once. Each table has a "time" column (DateTime, MATERIALIZED from the
 * nanosecond time) for GROUP BY toStartOfMinute(time) and the like.
 * Types and defaults were checked against ClickHouse 18.16 (Debian 12).
 *
 * Rows of a replaced record file. A reanalysis replaces a store file
 * whole (store/msgstore.h); records it no longer yields must leave
 * ClickHouse too, so before the new file's rows are sent the old file's
 * are deleted (ALTER TABLE ... DELETE, a mutation: it rewrites the parts
 * that exist when it is made and leaves alone those inserted after it).
 * A row's file is the segment group its id names ("m<seg>.<off>.<k>";
 * a gap's, its packet "<seg>:<off>"): segments first .. first+P-1 of a
 * store of P partitions; file 0 holds the records of packets not stored,
 * whose ids have the top bit set (segment >= 2^23 as printed) and whose
 * gaps have no packet.
 */
#include "export/chexport_int.h"

#include "core/error.h"

#include <stdio.h>

#define ENGINE(ts, key)                                                                            \
    " ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMMDD(toDateTime(intDiv(" ts                 \
    ", 1000000000))) ORDER BY (" key ")"

#define TIME_OF(ts) ", time DateTime MATERIALIZED toDateTime(intDiv(" ts ", 1000000000))"

#define MESSAGE_COLUMNS                                                                            \
    "sensor String, id String, proto String, type String, ts_ns Int64, last_ts_ns Int64, "         \
    "flow String, tap UInt16, dir UInt8, src String, dst String, role String, key String, "        \
    "len UInt32, flags Array(String), error String, packets Array(String), "                       \
    "fields Array(Array(String))"

static const char *const tables[] = {
    "CREATE TABLE IF NOT EXISTS %s.messages (" MESSAGE_COLUMNS TIME_OF("ts_ns") ")" ENGINE(
        "ts_ns", "ts_ns, sensor, id"),
    "CREATE TABLE IF NOT EXISTS %s.unmatched (" MESSAGE_COLUMNS
    ", unmatched String" TIME_OF("ts_ns") ")" ENGINE("ts_ns", "ts_ns, sensor, id"),
    "CREATE TABLE IF NOT EXISTS %s.measurements (sensor String, id String, pair String, "
    "key String, req_msg String, resp_msg String, req_ts_ns Int64, resp_ts_ns Int64, "
    "latency_ns Int64, flow String, tap UInt16, src String, dst String, resp_last_ts_ns Int64, "
    "attached UInt32, attached_last_msg String, attached_last_ts_ns Int64, resp_type String, "
    "req_tap UInt16, resp_tap UInt16, winner String, lead_ns Int64" TIME_OF("req_ts_ns") ")" ENGINE(
        "req_ts_ns", "req_ts_ns, sensor, pair, id, resp_msg"),
    "CREATE TABLE IF NOT EXISTS %s.gaps (sensor String, kind String, tap UInt16, feed String, "
    "proto String, session String, first_seq UInt64, count UInt64, ts_ns Int64, recovered UInt8, "
    "packet Nullable(String), flow String" TIME_OF("ts_ns") ")" ENGINE(
        "ts_ns", "ts_ns, sensor, feed, tap, kind, session, first_seq"),
    "CREATE TABLE IF NOT EXISTS %s.metrics (sensor String, kind String, name String, ts_ns Int64, "
    "count UInt64, rate Float64, bytes UInt64, errors UInt64, burst_packets UInt64, "
    "burst_bytes UInt64, gaps UInt64, missing UInt64, kernel_drops UInt64, not_stored UInt64, "
    "not_analysed UInt64, p50_ns Int64, p90_ns Int64, p99_ns Int64, p999_ns Int64, max_ns Int64, "
    "unsynced UInt64, backwards UInt64, untimed UInt64, offset_mean_ns Float64, "
    "drift_ns_per_min Float64, packets UInt64, messages UInt64, lost UInt64, races_won UInt64, "
    "measurements UInt64, orders UInt64, accepts UInt64, rejects UInt64, "
    "heat Array(UInt64)" TIME_OF("ts_ns") ")" ENGINE("ts_ns", "ts_ns, sensor, kind, name"),
    "CREATE TABLE IF NOT EXISTS %s.alerts (sensor String, rule String, state String, ts_ns Int64, "
    "series String, metric String, value Float64, threshold Float64, from_ns Int64, to_ns Int64, "
    "text String" TIME_OF("ts_ns") ")" ENGINE("ts_ns", "ts_ns, sensor, rule, series, state"),
};

const char *const cs__chx_table_names[CS__CHX_TABLES] = {"messages", "unmatched", "measurements",
                                                         "gaps",     "metrics",   "alerts"};

#define NOT_STORED_SEG 8388608u /* CS_MSGID_SEG of an id with the top bit set */

int cs__chx_delete_file(cs_ch *c, const char *db, int table, const char *sensor, uint32_t seg,
                        uint32_t partitions)
{
    const char *num = table == CS_CHX_GAPS ? "extract(ifNull(packet, ''), '^([0-9]+):')"
                                           : "extract(id, '^[a-z]([0-9]+)[.]')";
    uint32_t last = seg + (partitions > 1 ? partitions - 1 : 0);
    char cond[256], sql[512];

    if (seg == 0 && table == CS_CHX_GAPS)
        snprintf(cond, sizeof(cond), "packet IS NULL");
    else if (seg == 0)
        snprintf(cond, sizeof(cond), "toUInt64OrZero(%s) >= %u", num, NOT_STORED_SEG);
    else
        snprintf(cond, sizeof(cond), "toUInt64OrZero(%s) BETWEEN %u AND %u", num, seg, last);
    snprintf(sql, sizeof(sql), "ALTER TABLE %s.%s DELETE WHERE sensor = '%s' AND %s", db,
             cs__chx_table_names[table], sensor, cond);
    return cs_ch_exec(c, sql);
}

int cs__chx_create_tables(cs_ch *c, const char *db)
{
    char sql[2048];
    int rc;

    if ((rc = cs_ch_create_db(c)) < 0)
        return rc;
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        snprintf(sql, sizeof(sql), tables[i], db);
        if ((rc = cs_ch_exec(c, sql)) < 0)
            return rc;
    }
    return 0;
}

/*
 * metricjson.c - the JSON object of a metrics point (cs_metric_point_json
 * in metricstore.h): one serialization, used by the API's /api/v1/metrics
 * and by the ClickHouse export's metrics table, so a row in ClickHouse
 * and a point of the API read the same.
 *
 * Every series kind gets the common members; clock, feed and session
 * points add their own (analytics/metrics.h says what each counts). Times
 * and latencies are integer nanoseconds; "rate" has three decimals. With
 * "hist", the point's histogram follows (analytics/histjson.h): what a
 * hub needs to merge several sensors' points into exact percentiles.
 */
#include "store/metricstore.h"

#include <inttypes.h>

/* ,"heat":[n, ...]: the point's measurements per heat bucket. */
static void heat_json(FILE *f, const cs_metric_point *p)
{
    fputs(",\"heat\":[", f);
    for (int k = 0; k < CS_METRIC_HEAT_BUCKETS; k++)
        fprintf(f, "%s%" PRIu64, k ? "," : "", p->heat[k]);
    fputs("]", f);
}

/* ,"unsynced":n,...: a clock series' point; the percentiles are of
 * |host time - reference time|. */
static void clock_json(FILE *f, const cs_metric_point *p)
{
    fprintf(f,
            ",\"unsynced\":%" PRIu64 ",\"backwards\":%" PRIu64 ",\"untimed\":%" PRIu64
            ",\"offset_mean_ns\":%.0f,\"drift_ns_per_min\":%.1f",
            p->unsynced, p->backwards, p->untimed, p->offset_mean_ns, p->drift_ns_per_min);
}

/* ,"packets":n,...: a feed's or a session's point. */
static void feed_json(FILE *f, const cs_metric_point *p, int kind)
{
    if (kind == CS_SERIES_FEED)
        fprintf(f,
                ",\"packets\":%" PRIu64 ",\"messages\":%" PRIu64 ",\"lost\":%" PRIu64
                ",\"races_won\":%" PRIu64,
                p->packets, p->messages, p->missing, p->measurements);
    else
        fprintf(f,
                ",\"messages\":%" PRIu64 ",\"measurements\":%" PRIu64 ",\"orders\":%" PRIu64
                ",\"accepts\":%" PRIu64 ",\"rejects\":%" PRIu64,
                p->messages, p->measurements, p->orders, p->accepts, p->rejects);
}

void cs_metric_point_json(FILE *f, const cs_metric_point *p, int kind, int heat, int hist)
{
    fprintf(f,
            "{\"ts_ns\":%" PRId64 ",\"windows\":%" PRIu64 ",\"count\":%" PRIu64
            ",\"rate\":%.3f,\"bytes\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"burst_packets\":%" PRIu64
            ",\"burst_bytes\":%" PRIu64 ",\"gaps\":%" PRIu64 ",\"missing\":%" PRIu64,
            p->ts_ns, p->windows, p->count, p->rate, p->bytes, p->errors, p->burst_packets,
            p->burst_bytes, p->gaps, p->missing);
    for (int g = 0; g < CS_GAUGE_COUNT; g++)
        fprintf(f, ",\"%s\":%" PRIu64, cs_gauge_name(g), p->gauges[g]);
    fprintf(f,
            ",\"p50_ns\":%" PRId64 ",\"p90_ns\":%" PRId64 ",\"p99_ns\":%" PRId64
            ",\"p999_ns\":%" PRId64 ",\"max_ns\":%" PRId64,
            p->p50, p->p90, p->p99, p->p999, p->max);
    if (kind == CS_SERIES_CLOCK)
        clock_json(f, p);
    if (kind == CS_SERIES_FEED || kind == CS_SERIES_SESSION)
        feed_json(f, p, kind);
    if (heat)
        heat_json(f, p);
    if (hist) {
        fputs(",\"hist\":", f);
        cs_hist_sparse_json(f, &p->hist);
    }
    fputs("}", f);
}

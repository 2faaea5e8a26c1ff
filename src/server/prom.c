/*
 * prom.c - Prometheus text format 0.0.4 rendering.
 *
 * Format (https://prometheus.io/docs/instrumenting/exposition_formats/):
 *
 *   # HELP name text
 *   # TYPE name counter|gauge|histogram
 *   name{label="value"} 123
 *
 * A family's samples follow its HELP/TYPE lines without interruption, so
 * series are gathered first (one cs_metrics_snapshot() pass into an array)
 * and then written family by family. Label values escape '\\', '"' and
 * newline. Latency histograms are cumulative over fixed bounds from 10 us
 * to 10 s: bucket "le" counts the capstream histogram buckets whose upper
 * end is <= le (those buckets are at most 1/128 wide, so a value near a
 * bound may be counted one bucket late: within 0.8%); "+Inf" is the exact
 * count, _sum the exact sum in seconds.
 *
 * Feed and session series (analytics/metrics.h) are shown per tap only:
 * the name "TAP/ADDR:PORT" becomes the labels feed="ADDR:PORT" (or
 * session=) and tap="TAP"; the all-taps series are their sum and left out,
 * as Prometheus sums labels itself.
 */
#include "server/prom.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timefmt.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One series of the snapshot, copied out of the callback. */
typedef struct prom_series {
    cs_series_id id;
    uint64_t packets, bytes, messages, errors, measurements, gaps, missing;
    uint64_t unsynced, backwards, untimed; /* clock */
    uint64_t orders, accepts, rejects;     /* session */
    int64_t offset_sum_ns;                 /* clock */
    cs_histogram *hist;                    /* pair and clock */
} prom_series;

typedef struct prom_ctx {
    prom_series *s;
    size_t n, cap;
    int err;
} prom_ctx;

static const double le_bounds[] = {10e-6,  25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3,
                                   2.5e-3, 5e-3,  10e-3, 25e-3,  50e-3,  100e-3, 250e-3,
                                   500e-3, 1.0,   2.5,   5.0,    10.0};

static void gather(void *ud, const cs_window *w)
{
    prom_ctx *c = ud;
    prom_series *s;

    if (c->err || cs_grow((void **)&c->s, &c->cap, c->n + 1, sizeof(*c->s)) < 0) {
        c->err = CS_ENOMEM;
        return;
    }
    s = &c->s[c->n];
    memset(s, 0, sizeof(*s));
    s->id = w->series;
    s->packets = w->packets;
    s->bytes = w->bytes;
    s->messages = w->messages;
    s->errors = w->errors;
    s->measurements = w->measurements;
    s->gaps = w->gaps;
    s->missing = w->missing;
    s->unsynced = w->unsynced;
    s->backwards = w->backwards;
    s->untimed = w->untimed;
    s->orders = w->orders;
    s->accepts = w->accepts;
    s->rejects = w->rejects;
    s->offset_sum_ns = w->offset_sum_ns;
    if (w->hist) {
        if ((s->hist = cs_malloc(sizeof(*s->hist))) == NULL) {
            c->err = CS_ENOMEM;
            return;
        }
        *s->hist = *w->hist;
    }
    c->n++;
}

static void label_value(FILE *f, const char *v)
{
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fprintf(f, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
    fputc('"', f);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void capture_families(FILE *f, const cs_live_status *st)
{
    int64_t now = cs_now_ns();

    family(f, "capstream_build_info", "gauge", "Version of the running capstream.");
    fputs("capstream_build_info{version=", f);
    label_value(f, st->version ? st->version : "");
    fputs("} 1\n", f);
    family(f, "capstream_capturing", "gauge", "1 while capturing, 0 when the source is done.");
    fprintf(f, "capstream_capturing %d\n", st->capturing ? 1 : 0);
    family(f, "capstream_uptime_seconds", "gauge", "Seconds since the daemon started.");
    fprintf(f, "capstream_uptime_seconds %.3f\n",
            st->started_ns ? (double)(now - st->started_ns) / 1e9 : 0.0);
    family(f, "capstream_packets_total", "counter", "Packets captured.");
    fprintf(f, "capstream_packets_total %" PRIu64 "\n", st->packets);
    family(f, "capstream_bytes_total", "counter", "Bytes captured (wire length).");
    fprintf(f, "capstream_bytes_total %" PRIu64 "\n", st->bytes);
    family(f, "capstream_drops_total", "counter",
           "Packets lost, by kind: kernel (capture ring), not_stored, not_analysed.");
    fprintf(f,
            "capstream_drops_total{kind=\"kernel\"} %" PRIu64 "\n"
            "capstream_drops_total{kind=\"not_stored\"} %" PRIu64 "\n"
            "capstream_drops_total{kind=\"not_analysed\"} %" PRIu64 "\n",
            st->kernel_drops, st->not_stored, st->not_analysed);
    family(f, "capstream_time_untimed_total", "counter",
           "Packets that kept the host's time, by why: hw_missing (no NIC stamp with "
           "--time-source hardware), trailer_missing, trailer_cut, trailer_bad_time, trailer_far.");
    fprintf(f,
            "capstream_time_untimed_total{why=\"hw_missing\"} %" PRIu64 "\n"
            "capstream_time_untimed_total{why=\"trailer_missing\"} %" PRIu64 "\n"
            "capstream_time_untimed_total{why=\"trailer_cut\"} %" PRIu64 "\n"
            "capstream_time_untimed_total{why=\"trailer_bad_time\"} %" PRIu64 "\n"
            "capstream_time_untimed_total{why=\"trailer_far\"} %" PRIu64 "\n",
            st->hw_ts_missing, st->timeref.missing, st->timeref.cut, st->timeref.bad_time,
            st->timeref.far);
    family(f, "capstream_trailer_device_over_total", "counter",
           "--tap-by trailer: packets whose trailer names a device id over 255, which has no "
           "tap of its own (device x 256 + port); they keep their source's tap.");
    fprintf(f, "capstream_trailer_device_over_total %" PRIu64 "\n", st->timeref.tap_over);
    family(f, "capstream_records_not_stored_total", "counter",
           "Decoded messages, measurements and unmatched reports analysed but not written "
           "to the store because the disk was behind.");
    fprintf(f, "capstream_records_not_stored_total %" PRIu64 "\n", st->records_not_stored);
    family(f, "capstream_metrics_not_stored_total", "counter",
           "Metrics windows (kind=\"window\") and alert events (kind=\"alert\") a full disk "
           "kept out of the store; they still reached the live stream and /metrics.");
    fprintf(f,
            "capstream_metrics_not_stored_total{kind=\"window\"} %" PRIu64 "\n"
            "capstream_metrics_not_stored_total{kind=\"alert\"} %" PRIu64 "\n",
            st->windows_not_stored, st->alerts_not_stored);
    family(f, "capstream_messages_total", "counter", "Application messages decoded.");
    fprintf(f, "capstream_messages_total %" PRIu64 "\n", st->messages);
    family(f, "capstream_measurements_total", "counter",
           "Request/response pairs matched into latency measurements.");
    fprintf(f, "capstream_measurements_total %" PRIu64 "\n", st->measurements);
}

/* --export: rows sent per table, what is pending, lost and failing. */
static void export_families(FILE *f, const cs_chexport_stats *x)
{
    family(f, "capstream_export_rows_total", "counter",
           "Rows ClickHouse accepted since start, by table (records, metrics windows, alert "
           "events).");
    for (int i = 0; i < CS_CHX_TABLES; i++)
        fprintf(f, "capstream_export_rows_total{table=\"%s\"} %" PRIu64 "\n", cs_chexport_table(i),
                x->rows[i]);
    family(f, "capstream_export_up", "gauge",
           "1 if the last attempt to send to ClickHouse "
           "succeeded.");
    fprintf(f, "capstream_export_up %d\n", x->up ? 1 : 0);
    family(f, "capstream_export_pending_bytes", "gauge",
           "Bytes of records, metrics windows and alert events in the store not yet in "
           "ClickHouse.");
    fprintf(f, "capstream_export_pending_bytes %" PRIu64 "\n", x->pending_bytes);
    family(f, "capstream_export_lag_seconds", "gauge",
           "Seconds since ClickHouse last held every stored record (0: caught up).");
    fprintf(f, "capstream_export_lag_seconds %.3f\n",
            (double)cs_chexport_lag_ns(x, cs_now_ns()) / 1e9);
    family(f, "capstream_export_failures_total", "counter",
           "Batches ClickHouse refused or "
           "did not answer.");
    fprintf(f, "capstream_export_failures_total %" PRIu64 "\n", x->failures);
    family(f, "capstream_export_lost_bytes_total", "counter",
           "Record bytes retention deleted before they were sent.");
    fprintf(f, "capstream_export_lost_bytes_total %" PRIu64 "\n", x->lost_bytes);
}

/* A feed or session series over all taps (no "TAP/"): not shown. */
static int all_taps(const prom_series *s)
{
    return (s->id.kind == CS_SERIES_FEED || s->id.kind == CS_SERIES_SESSION) &&
           strchr(s->id.name, '/') == NULL;
}

/* The labels of "s", without the braces: label="NAME", or for a feed or
 * session at tap T label="ADDR:PORT",tap="T". */
static void labels(FILE *f, const prom_series *s, const char *label)
{
    const char *slash = strchr(s->id.name, '/');

    fprintf(f, "%s=", label);
    if ((s->id.kind != CS_SERIES_FEED && s->id.kind != CS_SERIES_SESSION) || slash == NULL) {
        label_value(f, s->id.name);
        return;
    }
    label_value(f, slash + 1);
    fprintf(f, ",tap=\"%.*s\"", (int)(slash - s->id.name), s->id.name);
}

/* Writes one counter family over the series of "kind". */
static void series_counter(FILE *f, const prom_ctx *c, int kind, const char *name,
                           const char *label, const char *help, size_t field)
{
    int any = 0;

    for (size_t i = 0; i < c->n; i++) {
        const prom_series *s = &c->s[i];

        if (s->id.kind != kind || all_taps(s))
            continue;
        if (!any++)
            family(f, name, "counter", help);
        fprintf(f, "%s{", name);
        labels(f, s, label);
        fprintf(f, "} %" PRIu64 "\n", *(const uint64_t *)((const char *)s + field));
    }
}

static uint64_t count_le(const cs_histogram *h, double le_s)
{
    int64_t le_ns = (int64_t)(le_s * 1e9 + 0.5), lo, hi;
    uint64_t n = 0;

    for (int i = 0; i < CS_HIST_BUCKETS; i++) {
        if (h->buckets[i] == 0)
            continue;
        cs_hist_bucket_range(i, &lo, &hi);
        if (hi > le_ns)
            break;
        n += h->buckets[i];
    }
    return n;
}

/* One histogram family over the series of "kind", labelled "label". */
static void histograms(FILE *f, const prom_ctx *c, int kind, const char *name, const char *label,
                       const char *help)
{
    int any = 0;

    for (size_t i = 0; i < c->n; i++) {
        const prom_series *s = &c->s[i];

        if (s->id.kind != kind || s->hist == NULL || all_taps(s))
            continue;
        if (!any++)
            family(f, name, "histogram", help);
        for (size_t b = 0; b < sizeof(le_bounds) / sizeof(le_bounds[0]); b++) {
            fprintf(f, "%s_bucket{", name);
            labels(f, s, label);
            fprintf(f, ",le=\"%g\"} %" PRIu64 "\n", le_bounds[b], count_le(s->hist, le_bounds[b]));
        }
        fprintf(f, "%s_bucket{", name);
        labels(f, s, label);
        fprintf(f, ",le=\"+Inf\"} %" PRIu64 "\n%s_sum{", cs_hist_count(s->hist), name);
        labels(f, s, label);
        fprintf(f, "} %.9f\n%s_count{", s->hist->sum / 1e9, name);
        labels(f, s, label);
        fprintf(f, "} %" PRIu64 "\n", cs_hist_count(s->hist));
    }
}

/* The mean of host time - reference time per tap, since start (signed). */
static void clock_offset_mean(FILE *f, const prom_ctx *c)
{
    const char *name = "capstream_clock_offset_mean_seconds";
    int any = 0;

    for (size_t i = 0; i < c->n; i++) {
        const prom_series *s = &c->s[i];

        if (s->id.kind != CS_SERIES_CLOCK || s->packets == 0)
            continue;
        if (!any++)
            family(f, name, "gauge",
                   "Mean of the host's capture time minus the reference (trailer) time per tap.");
        fprintf(f, "%s{tap=", name);
        label_value(f, s->id.name);
        fprintf(f, "} %.9f\n", (double)s->offset_sum_ns / (double)s->packets / 1e9);
    }
}

static void clock_families(FILE *f, const prom_ctx *c)
{
    series_counter(f, c, CS_SERIES_CLOCK, "capstream_clock_timed_total", "tap",
                   "Frames timed by the reference (a tap aggregator's trailer) per tap.",
                   offsetof(prom_series, packets));
    series_counter(f, c, CS_SERIES_CLOCK, "capstream_clock_unsynced_total", "tap",
                   "Frames whose reference clock says it is not synchronised per tap.",
                   offsetof(prom_series, unsynced));
    series_counter(f, c, CS_SERIES_CLOCK, "capstream_clock_backwards_total", "tap",
                   "Frames whose reference time is before the tap's previous one.",
                   offsetof(prom_series, backwards));
    series_counter(f, c, CS_SERIES_CLOCK, "capstream_clock_untimed_total", "tap",
                   "Frames left with the host's time (trailer missing, cut or bad) per tap.",
                   offsetof(prom_series, untimed));
    histograms(f, c, CS_SERIES_CLOCK, "capstream_clock_offset_seconds", "tap",
               "|host capture time - reference time| per tap.");
    clock_offset_mean(f, c);
}

static void feed_families(FILE *f, const prom_ctx *c)
{
    series_counter(f, c, CS_SERIES_FEED, "capstream_feed_packets_total", "feed",
                   "MoldUDP64 packets (data, heartbeat, end of session) per feed and tap.",
                   offsetof(prom_series, packets));
    series_counter(f, c, CS_SERIES_FEED, "capstream_feed_messages_total", "feed",
                   "ITCH messages per MoldUDP64 feed and tap.", offsetof(prom_series, messages));
    series_counter(f, c, CS_SERIES_FEED, "capstream_feed_gaps_total", "feed",
                   "MoldUDP64 sequence gaps per feed and tap.", offsetof(prom_series, gaps));
    series_counter(f, c, CS_SERIES_FEED, "capstream_feed_lost_total", "feed",
                   "Messages missing in those gaps per feed and tap.",
                   offsetof(prom_series, missing));
    series_counter(f, c, CS_SERIES_FEED, "capstream_feed_races_won_total", "feed",
                   "A/B races the feed's copy won per feed and tap.",
                   offsetof(prom_series, measurements));
    histograms(f, c, CS_SERIES_FEED, "capstream_feed_lead_seconds", "feed",
               "Lead of the feed's copy over the other feed's in the A/B races it won.");
    series_counter(f, c, CS_SERIES_SESSION, "capstream_session_orders_total", "session",
                   "OUCH Enter Orders per order session (client address) and tap.",
                   offsetof(prom_series, orders));
    series_counter(f, c, CS_SERIES_SESSION, "capstream_session_accepts_total", "session",
                   "OUCH Accepted messages per order session and tap.",
                   offsetof(prom_series, accepts));
    series_counter(f, c, CS_SERIES_SESSION, "capstream_session_rejects_total", "session",
                   "OUCH Rejected messages per order session and tap.",
                   offsetof(prom_series, rejects));
    histograms(f, c, CS_SERIES_SESSION, "capstream_session_latency_seconds", "session",
               "OUCH request to response latency per order session and tap.");
}

static void series_families(FILE *f, const prom_ctx *c)
{
    series_counter(f, c, CS_SERIES_TAP, "capstream_tap_packets_total", "tap",
                   "Packets seen per capture point.", offsetof(prom_series, packets));
    series_counter(f, c, CS_SERIES_TAP, "capstream_tap_bytes_total", "tap",
                   "Bytes seen per capture point.", offsetof(prom_series, bytes));
    series_counter(f, c, CS_SERIES_PROTO, "capstream_proto_messages_total", "proto",
                   "Messages decoded per protocol.", offsetof(prom_series, messages));
    series_counter(
        f, c, CS_SERIES_PROTO, "capstream_proto_errors_total", "proto",
        "Messages with an error per protocol (dns: rcode != 0, http: 5xx, fix: rejects).",
        offsetof(prom_series, errors));
    series_counter(f, c, CS_SERIES_PROTO, "capstream_seq_gaps_total", "proto",
                   "Sequence gaps its decoders reported per protocol.",
                   offsetof(prom_series, gaps));
    series_counter(f, c, CS_SERIES_PROTO, "capstream_seq_missing_total", "proto",
                   "Sequence numbers missing in those gaps per protocol.",
                   offsetof(prom_series, missing));
    series_counter(f, c, CS_SERIES_PAIR, "capstream_pair_measurements_total", "pair",
                   "Latency measurements per pair.", offsetof(prom_series, measurements));
    histograms(f, c, CS_SERIES_PAIR, "capstream_pair_latency_seconds", "pair",
               "Request to response latency per pair.");
    clock_families(f, c);
    feed_families(f, c);
}

int cs_prom_render(const cs_live_status *st, const cs_metrics *metrics, char **text, size_t *len)
{
    prom_ctx c = {0};
    char *buf = NULL;
    size_t n = 0;
    FILE *f;
    int rc = 0;

    if (metrics)
        cs_metrics_snapshot(metrics, gather, &c);
    if ((rc = c.err) < 0 || (f = open_memstream(&buf, &n)) == NULL) {
        rc = CS_ENOMEM;
        goto out;
    }
    capture_families(f, st);
    if (st->exporting)
        export_families(f, &st->exp);
    series_families(f, &c);
    if (fclose(f) != 0 || (*text = cs_strndup(buf, n)) == NULL)
        rc = CS_ENOMEM;
    else
        *len = n;
    free(buf);
out:
    for (size_t i = 0; i < c.n; i++)
        cs_free(c.s[i].hist);
    cs_free(c.s);
    return rc;
}

/*
 * metricstore.h - closed metrics windows and alert events on disk, with
 * their own retention, and the queries that read them back.
 *
 *   STORE/metrics/
 *     met-20260105T14.bin   windows starting in 2026-01-05 14:00-15:00 UTC
 *     met-20260105T15.bin   ...
 *   STORE/alerts/
 *     alerts.jsonl          one JSON object per fired/resolved event
 *
 * A metrics file is a 16-byte header and append-only records, each with a
 * checksum; the byte layout is in metricstore.c. A record cut short by a
 * crash (a torn tail) fails its check and is never served; the writer cuts
 * it off before appending. Windows that counted nothing are not stored (a
 * query reads a missing window as zero), and histograms keep only their
 * non-empty buckets, so a day of idle series costs nothing.
 *
 * Retention is separate from the packets': a byte budget and/or an age
 * budget over the metrics files, oldest hour first, so a month of numbers
 * can outlive a day of packets. The file being written is never deleted.
 *
 * Alert events are appended as JSON lines:
 *   {"rule":"fix_slow","state":"fired","ts_ns":..,"value":..,"threshold":..,
 *    "from_ns":..,"to_ns":..,"series":"pair=fix","metric":"p99","text":"..."}
 * A last line without its newline is a torn tail and is ignored.
 *
 * Writer: one per store, used by one thread. Readers: any number, any
 * process, while the writer runs; they see what the writer has flushed.
 */
#ifndef CS_STORE_METRICSTORE_H
#define CS_STORE_METRICSTORE_H

#include "analytics/alerts.h"
#include "analytics/histjson.h"
#include "analytics/metrics.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- writer ----------------------------------------------------------- */

typedef struct cs_metricstore_opts {
    uint64_t max_bytes; /* 0 = no byte budget */
    int64_t max_age_ns; /* 0 = no age budget; age is measured from the
                           newest window written (capture time) */
} cs_metricstore_opts;

typedef struct cs_metricstore cs_metricstore;

/* Opens the writer of "store_dir" (creates STORE/metrics/ and
 * STORE/alerts/ if missing). "opts" may be NULL (no budget). */
int cs_metricstore_open(const char *store_dir, const cs_metricstore_opts *opts,
                        cs_metricstore **out);

/* Appends one closed window (copied; skipped if it counted nothing). Usable
 * directly as a cs_window_fn through cs_metricstore_window_fn. */
int cs_metricstore_put(cs_metricstore *w, const cs_window *win);

/* A cs_window_fn for cs_metrics_new(): puts and remembers the first error. */
void cs_metricstore_window_fn(void *metricstore, const cs_window *win);

/* Writes out buffered records so readers see them. */
int cs_metricstore_flush(cs_metricstore *w);

/* Applies the retention budgets now ("now_ns" = capture time for the age
 * budget; also done automatically whenever a new hour file starts).
 * "*deleted" (may be NULL) gets the number of files removed. */
int cs_metricstore_retain(cs_metricstore *w, int64_t now_ns, unsigned *deleted);

/* What a full disk kept out of the files so far (never an error). */
typedef struct cs_metricstore_lost {
    uint64_t windows; /* metrics windows not stored */
    uint64_t alerts;  /* alert events not logged */
} cs_metricstore_lost;

cs_metricstore_lost cs_metricstore_lost_so_far(const cs_metricstore *w);

/* Flushes and frees "w" (NULL is fine); the first error met by any call
 * other than a full disk (see cs_metricstore_lost_so_far()). */
int cs_metricstore_close(cs_metricstore *w);

/* Appends one alert event to STORE/alerts/alerts.jsonl. */
int cs_metricstore_put_alert(cs_metricstore *w, const cs_alert_event *ev);

/* ---- queries ---------------------------------------------------------- */

/*
 * Heat buckets: a point's latency histogram coarsened for a heatmap. Two
 * buckets per power of two from 2^10 ns (about 1 us) to 2^34 ns (about
 * 17 s), split at the histogram bucket nearest 2^e * sqrt(2), plus bucket 0
 * for everything below 2^10 ns and the last one for 2^34 ns and above.
 * Each heat bucket is a whole run of histogram buckets, so its count is
 * exact: a point's heat counts sum to its number of measurements.
 */
#define CS_METRIC_HEAT_OCTAVE_LO 10
#define CS_METRIC_HEAT_OCTAVE_HI 34
#define CS_METRIC_HEAT_BUCKETS (2 * (CS_METRIC_HEAT_OCTAVE_HI - CS_METRIC_HEAT_OCTAVE_LO) + 2)

/* The smallest value (ns) heat bucket "k" holds (0 for bucket 0); a bucket
 * ends where the next begins. */
int64_t cs_metricstore_heat_lower(int k);

typedef struct cs_metric_point {
    int64_t ts_ns;    /* start of the step: a multiple of step_ns */
    uint64_t windows; /* stored windows merged into it */
    uint64_t count;   /* cs_window_count() summed */
    uint64_t bytes;
    uint64_t errors;
    uint64_t gaps, missing;              /* proto: sequence gaps, numbers missing */
    uint64_t burst_packets, burst_bytes; /* maxima */
    uint64_t gauges[CS_GAUGE_COUNT];
    double rate;                           /* count per second of the step */
    int64_t p50, p90, p99, p999, max;      /* ns; 0 without measurements */
    uint64_t heat[CS_METRIC_HEAT_BUCKETS]; /* measurements per heat bucket */
    /* clock series (analytics/metrics.h): frames not synchronised, going
     * back, without a reference; the mean offset host - reference and its
     * drift over the step's windows (ns per minute) */
    uint64_t unsynced, backwards, untimed;
    double offset_mean_ns, drift_ns_per_min;
    /* feed: moldudp64 packets, ITCH messages (= count), races won (with
     * the lead in the percentiles); session: OUCH messages, measurements
     * (the latency in the percentiles), orders (= count), accepts, rejects */
    uint64_t packets, messages, measurements;
    uint64_t orders, accepts, rejects;
    /* the step's latency histogram, by its non-empty buckets: filled by
     * cs_metricstore_query_hist() only (else all zero, "buckets" NULL) */
    cs_hist_sparse hist;
} cs_metric_point;

/*
 * The windows of "series" starting in [after, before), merged per step of
 * "step_ns" (>= 1 s, e.g. 1 s, 10 s, 60 s), into a cs_malloc'ed array
 * "*out" of "*n" points in time order that the caller frees with cs_free().
 * Only steps holding at least one stored window are returned (others are
 * all zero). A missing metrics directory reads as empty.
 */
int cs_metricstore_query(const char *store_dir, const cs_series_id *series, int64_t after,
                         int64_t before, int64_t step_ns, cs_metric_point **out, size_t *n);

/* cs_metricstore_query() whose points also carry their histograms
 * ("hist"): their buckets lie in one cs_malloc'ed array "*pairs" that the
 * caller frees with cs_free() after the points. */
int cs_metricstore_query_hist(const char *store_dir, const cs_series_id *series, int64_t after,
                              int64_t before, int64_t step_ns, cs_metric_point **out, size_t *n,
                              cs_hist_pair **pairs);

/* The distinct series stored with windows in [after, before), sorted by
 * kind then name, in a cs_malloc'ed array. */
int cs_metricstore_series(const char *store_dir, int64_t after, int64_t before, cs_series_id **out,
                          size_t *n);

/* Calls "fn" for each alert event with after <= ts_ns < before, in file
 * (= time of writing) order. Strings in the event are valid during the
 * call. A missing file reads as empty. */
int cs_metricstore_alerts(const char *store_dir, int64_t after, int64_t before, cs_alert_fn fn,
                          void *ud);

/* Reads one metrics file image: calls "fn" for each complete record (its
 * histogram is valid during the call) and stops at the first incomplete or
 * corrupt one, setting "*valid_len" (may be NULL) to the bytes before it.
 * CS_ENOTSTORE if the header is wrong. Any bytes are safe to pass. */
int cs_metricstore_parse_image(const uint8_t *data, size_t len, cs_window_fn fn, void *ud,
                               size_t *valid_len);

/* Called with the point of one stored window; "series" and "p" are valid
 * during the call. Nonzero stops the read before the next record. */
typedef int (*cs_metric_point_fn)(void *ud, const cs_series_id *series, const cs_metric_point *p);

/*
 * Reads metrics records as the points of their windows alone: what
 * cs_metricstore_query() with a step of 1 s gives (windows = 1, the same
 * percentiles and heat). "data" holds "len" bytes of a metrics file from
 * offset "*off": 0 (the file's start, its header included) or a record
 * boundary this function left in "*off" before. Calls "fn" for each
 * complete record, at most "max" times (0: no limit), and stops at the
 * end of "data" or at the first incomplete or corrupt record (one being
 * written). "*off" then lies after the last record passed on, and "*n"
 * (may be NULL) says how many were. CS_ENOTSTORE if "*off" is 0 and the
 * header is wrong (or not all there yet). Any bytes are safe to pass.
 */
int cs_metricstore_image_points(const uint8_t *data, size_t len, size_t *off, size_t max,
                                cs_metric_point_fn fn, void *ud, size_t *n);

/* Parses one line of the alert log ("len" bytes, without its newline) and
 * calls "fn" with its event. 0, or CS_ECORRUPT for a line that is not an
 * event (readers skip such a line, as cs_metricstore_alerts() does). */
int cs_metricstore_alert_line(const char *line, size_t len, cs_alert_fn fn, void *ud);

/*
 * The JSON object of a point of series kind "kind", as the API's
 * /api/v1/metrics lists it and the ClickHouse export sends it:
 *   {"ts_ns":..,"windows":..,"count":..,"rate":..,"bytes":..,"errors":..,
 *    "burst_packets":..,"burst_bytes":..,"gaps":..,"missing":..,
 *    "kernel_drops":..,"not_stored":..,"not_analysed":..,"p50_ns":..,
 *    "p90_ns":..,"p99_ns":..,"p999_ns":..,"max_ns":..
 *    clock:   ,"unsynced","backwards","untimed","offset_mean_ns",
 *             "drift_ns_per_min"
 *    feed:    ,"packets","messages","lost","races_won"
 *    session: ,"messages","measurements","orders","accepts","rejects"
 *    "heat":[..] if "heat" (CS_METRIC_HEAT_BUCKETS counts)
 *    "hist":{..} if "hist" (analytics/histjson.h)}
 * written to "f" (metricjson.c).
 */
void cs_metric_point_json(FILE *f, const cs_metric_point *p, int kind, int heat, int hist);

/* The file name "met-YYYYMMDDTHH.bin" of the hour holding "ts_ns" into
 * "buf" (>= 64 bytes). */
char *cs_metricstore_file_name(int64_t ts_ns, char *buf);

#endif

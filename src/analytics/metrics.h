/*
 * metrics.h - per-second metrics windows: counts, bytes, latency
 * histograms and microbursts, keyed by series, driven by capture time.
 *
 * A series is (kind, name):
 *
 *   kind     name          counts                                  from
 *   tap      "0", "3"...   packets, bytes, busiest millisecond     cs_metrics_packet
 *   proto    "dns", "fix"  messages, errors (decoders' error flag)  cs_metrics_message,
 *                          sequence gaps and numbers missing       cs_metrics_seq_gap
 *   pair     "fix", "http" measurements, latency histogram         cs_metrics_measurement
 *   capture  "capture"     packets, bytes of all taps, and the     cs_metrics_packet,
 *                          increase of each capture gauge          cs_metrics_gauge
 *   clock    "357"...      clock quality of a tap whose packet     cs_metrics_packet
 *                          times come from a reference (a tap
 *                          aggregator's trailer, packet/timeref.h):
 *                          frames timed by it, the offset of the
 *                          host's capture time from it (histogram
 *                          of |offset|, and the signed sum, so the
 *                          mean and its drift), frames whose
 *                          reference says its clock is not
 *                          synchronised, frames whose reference
 *                          time went back from the tap's previous
 *                          one, frames left without a reference
 *   feed     "3/233.54.12.111:26477"                               cs_metrics_message,
 *            a MoldUDP64 feed ("<dst ip>:<dst port>", the          cs_metrics_feed_gap,
 *            datagrams' destination, as store/feeds.h names it)    cs_metrics_measurement
 *            at one tap ("TAP/" before it): packets (moldudp64
 *            data, heartbeat, end_of_session), messages (ITCH
 *            messages), gaps and numbers lost (the moldudp64
 *            decoder's gaps of that feed at that tap), A/B races
 *            won (measurements of pair "ab" whose earlier copy
 *            went to it) with the lead histogram, and the busiest
 *            millisecond by ITCH messages (burst_packets)
 *   session  "3/10.1.0.5:40001"                                    cs_metrics_message,
 *            an order-entry connection (OUCH over SoupBinTCP)      cs_metrics_measurement
 *            named by its client (the initiator, side a of the
 *            flow) at one tap: messages and errors (OUCH), orders
 *            (Enter Order), accepts (Accepted), rejects (Rejected),
 *            measurements of pair "ouch" with the latency histogram
 *
 * Feed and session series come twice: per tap ("TAP/NAME") and over all
 * taps ("NAME", the sum of the taps' windows, so a gap seen at two taps
 * counts twice there). The all-taps series is what a rule such as
 * `feed=233.54.12.111:26477 gaps > 0` reads (alerts.h); Prometheus shows
 * only the per-tap ones, with labels feed/session and tap. Every endpoint
 * name fits in CS_SERIES_NAME_MAX - 1 = 63 characters: the longest is 59
 * ("65535/[" + an IPv6 address of at most 45 characters + "]:65535"), so
 * no two feeds or sessions share a series; a longer pair or protocol name
 * would be cut.
 *
 * Windows are one second of capture time, [k * 1 s, (k + 1) * 1 s), UTC
 * epoch aligned. How they open and close:
 *
 *   watermark W = the latest capture time seen (events and advance()).
 *   Second k closes once (k + 1) * 1 s + grace <= W; every series that is
 *   live (had an event within the last cfg.idle_windows seconds) then hands
 *   its window of second k to the sink, empty or not, so that alert rules
 *   see every second (a rate falling to zero, a streak ending).
 *
 *      ──────────────|k-1 closed|  k open  | k+1 open ·W ─────► time
 *                                 ◄─ grace ─►
 *
 *   An event of a second that is still open is counted in its second. An
 *   event of an already closed second (capture time going back further than
 *   the grace) is counted in the newest open second and in its "late"
 *   counter. Seconds far in the past of W are never revisited, so a jump of
 *   capture time costs at most cfg.idle_windows empty windows per series.
 *
 * Gauges ("kernel_drops", "not_stored", "not_analysed") are cumulative
 * counters reported by the capture; a capture window carries how much each
 * grew during that window (value at close minus value at the previous
 * close), so `capture.kernel_drops > 0` means "drops happened this second".
 *
 * Memory: a series is allocated when first seen (bounded by
 * cfg.max_series; events of series beyond it are counted in
 * cs_metrics_stats.series_dropped). Events never allocate. Each series holds
 * CS_METRICS_SLOTS open windows: pair series one histogram per slot (about
 * 58 KiB each) plus one since-start histogram, tap series a per-millisecond
 * packet/byte array per slot.
 *
 * Ownership: records passed in are read during the call only. A cs_window
 * passed to the sink, and its histogram, are valid only during the call.
 *
 * Threading: one cs_metrics is used by one thread (the pipeline's).
 */
#ifndef CS_ANALYTICS_METRICS_H
#define CS_ANALYTICS_METRICS_H

#include "analytics/histogram.h"
#include "core/packet.h"
#include "record/message.h"

#include <stddef.h>
#include <stdint.h>

#define CS_NS_PER_SEC 1000000000LL

typedef enum cs_series_kind {
    CS_SERIES_TAP = 1,
    CS_SERIES_PROTO = 2,
    CS_SERIES_PAIR = 3,
    CS_SERIES_CAPTURE = 4,
    CS_SERIES_CLOCK = 5,
    CS_SERIES_FEED = 6,
    CS_SERIES_SESSION = 7,
    CS_SERIES_KIND_LAST = CS_SERIES_SESSION, /* every kind is in [TAP, LAST] */
} cs_series_kind;

#define CS_SERIES_NAME_MAX 64 /* including the NUL; longer names are cut */

typedef struct cs_series_id {
    uint8_t kind;                  /* cs_series_kind */
    char name[CS_SERIES_NAME_MAX]; /* NUL-terminated */
} cs_series_id;

/* "tap", "proto", "pair", "capture", "clock", "feed", "session" (or "?"). */
const char *cs_series_kind_name(int kind);

/* Parses the names above; the kind or 0. */
int cs_series_kind_parse(const char *s, size_t len);

/* Capture gauges. */
enum {
    CS_GAUGE_KERNEL_DROPS = 0,
    CS_GAUGE_NOT_STORED = 1,
    CS_GAUGE_NOT_ANALYSED = 2,
    CS_GAUGE_COUNT = 3,
};

/* "kernel_drops", "not_stored", "not_analysed". */
const char *cs_gauge_name(int g);

/* The gauge named by [s, s + len), or -1. */
int cs_gauge_parse(const char *s, size_t len);

/* One closed window of one series (or, from the query side, a merge of
 * several: then dur_ns spans them and the burst fields are the maxima). */
typedef struct cs_window {
    cs_series_id series;
    int64_t start_ns;      /* multiple of 1 s */
    int64_t dur_ns;        /* CS_NS_PER_SEC for a live window */
    uint64_t packets;      /* tap, capture; feed: moldudp64 packets */
    uint64_t bytes;        /* tap, capture: wire bytes */
    uint64_t messages;     /* proto, session (OUCH); feed: ITCH messages */
    uint64_t errors;       /* proto, session: messages with an error reason (dns:
                              rcode != 0, http: 5xx, fix and ouch: rejects) */
    uint64_t measurements; /* pair, session; feed: A/B races won */
    uint64_t gaps;         /* proto, feed: sequence gaps its decoder reported */
    uint64_t missing;      /* proto, feed: sequence numbers missing in those gaps */
    uint64_t late;         /* events of closed seconds counted here instead */
    /* Microburst (tap): the busiest millisecond by packets and by bytes, as
     * an offset 0..999 from start_ns; feed: burst_packets(_ms) is the
     * busiest millisecond by ITCH messages. */
    uint32_t burst_packets;
    uint16_t burst_packets_ms;
    uint16_t burst_bytes_ms;
    uint64_t burst_bytes;
    uint64_t gauges[CS_GAUGE_COUNT]; /* capture: increase during the window */
    const cs_histogram *hist;        /* pair, session: latency (ns); clock: |host
                                        time - reference time| (ns); feed: lead
                                        of the races won (ns); NULL otherwise */
    /* clock: packets = frames timed by the reference; then */
    int64_t offset_sum_ns; /* sum of (host time - reference time), signed */
    uint64_t unsynced;     /* frames whose reference clock is not synchronised */
    uint64_t backwards;    /* frames whose reference time is before the tap's last */
    uint64_t untimed;      /* frames left with the host's time (no usable trailer) */
    /* session: OUCH Enter Orders, Accepteds, Rejecteds */
    uint64_t orders, accepts, rejects;
} cs_window;

/* The series' headline count: packets (tap, capture, clock), messages
 * (proto, feed: ITCH messages), measurements (pair), orders (session). */
uint64_t cs_window_count(const cs_window *w);

/* True when a window counted nothing at all. */
int cs_window_empty(const cs_window *w);

typedef void (*cs_window_fn)(void *ud, const cs_window *w);

typedef struct cs_metrics_cfg {
    int64_t grace_ns;      /* how long a second stays open after its end;
                              default 200 ms, at most 2 s */
    uint32_t idle_windows; /* empty windows a series still emits after its
                              last event; default 300 */
    uint32_t max_series;   /* default 1024 */
} cs_metrics_cfg;

void cs_metrics_cfg_default(cs_metrics_cfg *cfg);

typedef struct cs_metrics cs_metrics;

/* Creates an aggregator whose closed windows go to "fn" ("fn" may be NULL:
 * then only the snapshot is kept). "cfg" may be NULL for defaults. */
int cs_metrics_new(const cs_metrics_cfg *cfg, cs_window_fn fn, void *ud, cs_metrics **out);

void cs_metrics_free(cs_metrics *m);

/* Counts one packet: tap "p->tap" and the capture series (wire bytes), and
 * the clock series of the tap when a time source set p->tref. */
void cs_metrics_packet(cs_metrics *m, const cs_packet *p);

/* Counts one message in series proto "msg->proto"; a message with an error
 * reason (its decoder's: DNS rcode != 0, HTTP 5xx, FIX and OUCH rejects) is
 * also an error. A moldudp64 packet or ITCH message also counts in its
 * feed's series, an OUCH message in its session's. */
void cs_metrics_message(cs_metrics *m, const cs_message *msg);

/* Counts one sequence gap of "count" missing numbers in series proto
 * "proto", at capture time "ts_ns" (of the packet that revealed it). */
void cs_metrics_seq_gap(cs_metrics *m, const char *proto, uint64_t count, int64_t ts_ns);

/* Counts one moldudp64 gap of "count" numbers in the feed series of flow
 * "ep" seen in direction "dir" (the feed is the side the datagrams went
 * to, as cs_gap_feed() names it), at capture time "ts_ns". Called beside
 * cs_metrics_seq_gap() for the decoder's gaps of proto "moldudp64". */
void cs_metrics_feed_gap(cs_metrics *m, const cs_endpoints *ep, uint8_t dir, uint64_t count,
                         int64_t ts_ns);

/* Counts one measurement in series pair "ms->pair" and records its latency
 * (at the capture time of its request); one of pair "ab" also counts as a
 * race won by its winner's feed (side b of "ms->ep") with the lead, one of
 * pair "ouch" in its session (side a, the client). */
void cs_metrics_measurement(cs_metrics *m, const cs_measurement *ms);

/* Sets capture gauge "name" ("kernel_drops", "not_stored",
 * "not_analysed") to its cumulative "value". 0 or CS_EINVAL. */
int cs_metrics_gauge(cs_metrics *m, const char *name, uint64_t value);

/* Moves the watermark to "now_ns" (capture time; never backwards) and
 * closes the seconds that are then over (see the top of this file). */
void cs_metrics_advance(cs_metrics *m, int64_t now_ns);

/* End of input: closes every open second. */
void cs_metrics_flush(cs_metrics *m);

/* Totals since the aggregator started, for Prometheus: one call of "fn"
 * per series; "t->hist" (pair) is the since-start histogram, start_ns the
 * first event's second and dur_ns up to the watermark. */
void cs_metrics_snapshot(const cs_metrics *m, cs_window_fn fn, void *ud);

typedef struct cs_metrics_stats {
    uint64_t windows;        /* windows handed to the sink */
    uint64_t late;           /* events counted in a later second */
    uint64_t series;         /* series known */
    uint64_t series_dropped; /* events of series beyond max_series */
} cs_metrics_stats;

void cs_metrics_stats_get(const cs_metrics *m, cs_metrics_stats *st);

/* ---- query side: merging windows ------------------------------------- */

typedef struct cs_metrics_summary {
    int64_t from_ns, to_ns; /* the range the summary covers */
    uint64_t windows;       /* windows merged */
    uint64_t count;         /* cs_window_count() summed */
    uint64_t packets, bytes, messages, errors, measurements, late;
    uint64_t gaps, missing;
    uint64_t gauges[CS_GAUGE_COUNT];
    uint64_t burst_packets, burst_bytes;   /* maxima over the windows */
    double rate;                           /* count per second over [from_ns, to_ns) */
    double error_rate;                     /* errors per second */
    int64_t p50, p90, p99, p999, max, min; /* ns, 0 without measurements */
    double mean;
    /* clock: frames not synchronised, going back, without a reference; the
     * mean signed offset (host - reference, ns) and its drift: the
     * least-squares slope of the windows' mean offsets over time, in ns per
     * minute (0 with fewer than two windows holding frames) */
    uint64_t unsynced, backwards, untimed;
    double offset_mean_ns, drift_ns_per_min;
    uint64_t orders, accepts, rejects; /* session */
} cs_metrics_summary;

/*
 * Merges windows one by one into a summary: sums the counts, merges the
 * histograms, keeps the burst maxima. The accumulator holds a full
 * histogram (about 58 KiB); allocate it, do not put it on a small stack.
 */
typedef struct cs_metrics_acc {
    cs_metrics_summary s;
    cs_histogram hist;
    double offset_sum;              /* clock: signed offsets summed */
    int64_t t0;                     /* clock: start of the first window fitted */
    double n_fit, st, sm, stm, stt; /* clock: drift fit over (window time s, mean offset) */
} cs_metrics_acc;

/* Starts a summary of range [from_ns, to_ns) (its length gives the rate). */
void cs_metrics_acc_init(cs_metrics_acc *acc, int64_t from_ns, int64_t to_ns);

void cs_metrics_acc_add(cs_metrics_acc *acc, const cs_window *w);

/* Computes the rates and percentiles into "out". */
void cs_metrics_acc_finish(const cs_metrics_acc *acc, cs_metrics_summary *out);

/* Of cs_metrics_acc_finish, only the clock part: the mean offset (from
 * out->packets) and the drift. */
void cs_metrics_acc_clock_finish(const cs_metrics_acc *acc, cs_metrics_summary *out);

/* Zeroes the summary and the clock sums, keeping the histogram (the
 * caller clears what it touched). */
void cs_metrics_acc_clear_counts(cs_metrics_acc *acc);

#endif

/*
 * alerts.h - alert rules over metrics windows: the rule language, its
 * config file, and evaluation into fired/resolved events.
 *
 * Grammar (one rule per line; '#' starts a comment; blank lines and the
 * daemon's "decoder-opt NAME.KEY=VALUE" lines are skipped):
 *
 *   rule      = NAME ":" [selector] [condition] metric op value ["for" duration]
 *               ["clear" duration]
 *   NAME      = [A-Za-z0-9_.-]{1,63}
 *   selector  = ("pair" | "proto" | "tap" | "clock" | "feed" | "session") "="
 *               NAME-ish word (at most 31 characters)
 *   condition = "rcode" "!=" "0"        (proto selector only: count errors)
 *             | "errors"                (before count or rate, proto= or
 *                                        session=: count errors)
 *   metric    = p50 | p90 | p99 | p999 | max        latency, pair selector; with a
 *                                                    tap= (or clock=) selector the
 *                                                    tap's clock offset |host time
 *                                                    - reference time|; feed=: the
 *                                                    lead of the A/B races won;
 *                                                    session=: the OUCH latency
 *             | unsynced | backwards | untimed      tap= or clock=: the tap's clock
 *                                                    series (analytics/metrics.h)
 *             | count | rate                        any selector: packets (tap),
 *                                                    messages (proto; feed: ITCH),
 *                                                    measurements (pair), orders
 *                                                    (session)
 *             | errors                              proto= or session=
 *             | gaps | missing | lost               proto= or feed=: sequence gaps
 *                                                    and numbers missing in them
 *                                                    ("lost" is "missing")
 *             | orders | accepts | rejects          session=: OUCH Enter Orders,
 *                                                    Accepteds, Rejecteds
 *             | capture.kernel_drops | capture.not_stored | capture.not_analysed
 *                                                    no selector
 *   op        = ">" | ">=" | "<" | "<=" | "==" | "!="
 *   value     = duration for latency metrics ("200us", "1.5ms", bare = ns);
 *               "50/s" or "50" for rate; a plain number otherwise
 *   duration  = whole seconds ("3s", "1m"): the number of consecutive windows
 *
 *   fix_slow:   pair=fix p99 > 200us for 3s clear 10s
 *   dns_errors: proto=dns rcode!=0 rate > 50/s
 *   drops:      capture.kernel_drops > 0
 *   feed_gap:   proto=moldudp64 gaps > 0
 *   clock_offset: tap=357 p99 > 50us for 10s
 *   feed_gap:   feed=233.54.12.111:26477 gaps > 0
 *   feed_lost:  feed=3/233.54.12.111:26477 lost > 100
 *   ouch_rejects: proto=ouch errors rate > 10/s
 *   slow_orders: session=10.1.0.5:40001 p99 > 50us for 5s
 *
 * Feeds and sessions (analytics/metrics.h) have a series per tap,
 * "TAP/ADDR:PORT", and one over all taps, "ADDR:PORT": feed=ADDR:PORT
 * reads the all-taps series (the sum of every tap's), feed=TAP/ADDR:PORT
 * one tap's; session= the same. A rule reads exactly one series.
 *
 * Spaces between tokens are optional where an operator separates them
 * ("p99>200us"). With "rcode!=0" or "errors", count and rate count error
 * messages (ouch: Rejected and Cancel Reject).
 *
 * Evaluation, per closed window of the rule's series (cs_alerts_window):
 * the metric's value in that window is compared with the threshold; a
 * latency metric in a window without measurements is "no data" and counts
 * as false. A rule fires when its condition has held for N consecutive
 * windows (N = "for" / 1 s, default 1) and resolves once it has not held for
 * M consecutive windows (M = "clear" / 1 s, default 1: the first window where
 * it does not hold); a window where it holds again restarts that count, so a
 * value hovering at the threshold is one firing, not one a second
 * (hysteresis in time). Each transition is one event:
 *
 *   fired:    ts_ns = start of the window that completed the streak,
 *             [from_ns, to_ns) = the N windows of the streak
 *   resolved: ts_ns = start of the window that completed the M clear ones,
 *             [from_ns, to_ns) = everything the firing covered, up to the
 *             end of the last window where the condition held
 *
 * Drill-down: an event names its series and time range; for a pair series
 * the measurements behind it are those of that pair with req_ts_ns in
 * [from_ns, to_ns) (and, for latency rules above a threshold, latency >=
 * threshold): the msgstore query cs_latfilter{.pair = series.name, .after =
 * from_ns, .before = to_ns, .min_latency_ns = threshold}. Their message ids
 * and refs lead to the messages and packets.
 *
 * Reload keeps the state (streak, firing) of every rule whose text did not
 * change; a removed rule that was firing is resolved (value 0, ts_ns = the
 * last window seen) so that no firing is left open.
 *
 * Threading: one cs_alerts is used by one thread.
 */
#ifndef CS_ANALYTICS_ALERTS_H
#define CS_ANALYTICS_ALERTS_H

#include "analytics/metrics.h"

#include <stddef.h>
#include <stdint.h>

enum {
    CS_AM_P50 = 1,
    CS_AM_P90,
    CS_AM_P99,
    CS_AM_P999,
    CS_AM_MAX,
    CS_AM_COUNT,
    CS_AM_RATE,
    CS_AM_ERRORS,
    CS_AM_GAPS,    /* sequence gaps (proto) */
    CS_AM_MISSING, /* sequence numbers missing in them (proto) */
    CS_AM_KERNEL_DROPS,
    CS_AM_NOT_STORED,
    CS_AM_NOT_ANALYSED,
    CS_AM_UNSYNCED,  /* clock: frames whose reference is not synchronised */
    CS_AM_BACKWARDS, /* clock: frames whose reference time went back */
    CS_AM_UNTIMED,   /* clock: frames left without a reference time */
    CS_AM_ORDERS,    /* session: OUCH Enter Orders */
    CS_AM_ACCEPTS,   /* session: OUCH Accepteds */
    CS_AM_REJECTS,   /* session: OUCH Rejecteds */
};

enum {
    CS_AOP_GT = 1,
    CS_AOP_GE,
    CS_AOP_LT,
    CS_AOP_LE,
    CS_AOP_EQ,
    CS_AOP_NE,
};

#define CS_ALERT_NAME_MAX 64
#define CS_ALERT_TEXT_MAX 256

typedef struct cs_alert_rule {
    char name[CS_ALERT_NAME_MAX];
    char text[CS_ALERT_TEXT_MAX]; /* the rule as written, trimmed */
    cs_series_id series;          /* which windows it looks at */
    int errors_only;              /* "rcode!=0" */
    int metric;                   /* CS_AM_* */
    int op;                       /* CS_AOP_* */
    double threshold;             /* ns for latency metrics, per second for rate */
    uint32_t for_windows;         /* >= 1 */
    uint32_t clear_windows;       /* >= 1: windows without the condition to resolve */
} cs_alert_rule;

/* Parses one rule line (no comment, not blank). 0, or CS_EINVAL with a
 * detail sentence (cs_error_msg) saying what is wrong. */
int cs_alert_rule_parse(const char *line, cs_alert_rule *out);

/* "p99", ">=", ... */
/* The unit of a metric's value and threshold: "ns" (latency), "1/s"
 * (rate) or "count" (count, errors, drops), "?" if unknown. */
const char *cs_alert_metric_unit(int metric);
const char *cs_alert_metric_name(int metric);
const char *cs_alert_op_name(int op);

/* The value rule "r" reads from window "w"; returns 0 when the window has no
 * data for it (latency without measurements) and sets *value. */
int cs_alert_value(const cs_alert_rule *r, const cs_window *w, double *value);

enum {
    CS_ALERT_FIRED = 1,
    CS_ALERT_RESOLVED = 2,
};

typedef struct cs_alert_event {
    const char *rule; /* rule name, valid during the call */
    const char *text; /* rule text, valid during the call */
    cs_series_id series;
    int metric; /* CS_AM_* */
    int state;  /* CS_ALERT_FIRED / CS_ALERT_RESOLVED */
    int64_t ts_ns;
    double value; /* the metric in window ts_ns */
    double threshold;
    int64_t from_ns, to_ns;
} cs_alert_event;

typedef void (*cs_alert_fn)(void *ud, const cs_alert_event *ev);

/* "fired" / "resolved". */
const char *cs_alert_state_name(int state);

typedef struct cs_alerts cs_alerts;

int cs_alerts_new(cs_alert_fn fn, void *ud, cs_alerts **out);
void cs_alerts_free(cs_alerts *a);

/*
 * Replaces the rules with those of config text "text" ("origin" names it in
 * error messages, e.g. the file path). On any error nothing changes and
 * CS_EINVAL comes back with "ORIGIN:LINE: what is wrong" as detail. Also
 * rejects two rules with the same name.
 */
int cs_alerts_set_rules(cs_alerts *a, const char *text, const char *origin);

/* Reads config file "path" and cs_alerts_set_rules() it (CS_EIO/CS_ENOTFOUND
 * if it cannot be read). */
int cs_alerts_reload(cs_alerts *a, const char *path);

/* Evaluates every rule of window "w"'s series; events go to the callback. */
void cs_alerts_window(cs_alerts *a, const cs_window *w);

/* The rules with their current state (for listing). */
typedef struct cs_alert_status {
    const cs_alert_rule *rule;
    int firing;       /* 1 while fired and not resolved */
    uint32_t streak;  /* consecutive windows the condition held */
    int64_t since_ns; /* firing: from_ns of the firing */
    double last_value;
} cs_alert_status;

size_t cs_alerts_count(const cs_alerts *a);
void cs_alerts_status(const cs_alerts *a, size_t i, cs_alert_status *st);

#endif

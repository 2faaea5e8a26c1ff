/*
 * test_alerts.c - the alert rule language (good lines and bad lines with
 * their exact messages), firing after N consecutive windows, resolving,
 * and reload keeping the state of unchanged rules.
 */
#include "analytics/alerts.h"

#include "core/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define SEC CS_NS_PER_SEC
#define T0 (1767623400LL * SEC)

static void test_parse_good(void **state)
{
    cs_alert_rule r;

    assert_int_equal(cs_alert_rule_parse("fix_slow: pair=fix p99 > 200us for 3s", &r), 0);
    assert_string_equal(r.name, "fix_slow");
    assert_int_equal(r.series.kind, CS_SERIES_PAIR);
    assert_string_equal(r.series.name, "fix");
    assert_int_equal(r.metric, CS_AM_P99);
    assert_int_equal(r.op, CS_AOP_GT);
    assert_true(r.threshold == 200000.0);
    assert_int_equal(r.for_windows, 3);
    assert_string_equal(r.text, "fix_slow: pair=fix p99 > 200us for 3s");

    assert_int_equal(cs_alert_rule_parse("  dns_errors: proto=dns rcode!=0 rate > 50/s ", &r), 0);
    assert_int_equal(r.series.kind, CS_SERIES_PROTO);
    assert_string_equal(r.series.name, "dns");
    assert_true(r.errors_only);
    assert_int_equal(r.metric, CS_AM_RATE);
    assert_true(r.threshold == 50.0);
    assert_int_equal(r.for_windows, 1);
    assert_string_equal(r.text, "dns_errors: proto=dns rcode!=0 rate > 50/s");

    assert_int_equal(cs_alert_rule_parse("drops: capture.kernel_drops > 0", &r), 0);
    assert_int_equal(r.series.kind, CS_SERIES_CAPTURE);
    assert_int_equal(r.metric, CS_AM_KERNEL_DROPS);
    assert_true(r.threshold == 0.0);

    assert_int_equal(cs_alert_rule_parse("quiet:tap=0 count<=1.5 for 1m", &r), 0);
    assert_int_equal(r.series.kind, CS_SERIES_TAP);
    assert_string_equal(r.series.name, "0");
    assert_int_equal(r.op, CS_AOP_LE);
    assert_true(r.threshold == 1.5);
    assert_int_equal(r.for_windows, 60);

    assert_int_equal(cs_alert_rule_parse("x: pair=http max!=1.5ms", &r), 0);
    assert_int_equal(r.op, CS_AOP_NE);
    assert_true(r.threshold == 1500000.0);
}

static void expect_bad(const char *line, const char *msg)
{
    cs_alert_rule r;

    cs_error_clear();
    assert_int_equal(cs_alert_rule_parse(line, &r), CS_EINVAL);
    assert_string_equal(cs_error_msg(CS_EINVAL), msg);
}

static void test_metric_units(void **state)
{
    assert_string_equal(cs_alert_metric_unit(CS_AM_P99), "ns");
    assert_string_equal(cs_alert_metric_unit(CS_AM_MAX), "ns");
    assert_string_equal(cs_alert_metric_unit(CS_AM_RATE), "1/s");
    assert_string_equal(cs_alert_metric_unit(CS_AM_COUNT), "count");
    assert_string_equal(cs_alert_metric_unit(CS_AM_NOT_ANALYSED), "count");
    assert_string_equal(cs_alert_metric_unit(0), "?");
}

/* Sequence gaps of a protocol: the rule parses and reads the window's gaps
 * and missing numbers. */
static void test_seq_gap_rules(void **state)
{
    cs_alert_rule r;
    cs_window w;
    double v = -1;

    memset(&w, 0, sizeof(w));
    w.series.kind = CS_SERIES_PROTO;
    snprintf(w.series.name, sizeof(w.series.name), "moldudp64");
    w.dur_ns = CS_NS_PER_SEC;
    w.gaps = 2;
    w.missing = 7;
    assert_int_equal(cs_alert_rule_parse("feed_gap: proto=moldudp64 gaps > 0", &r), 0);
    assert_int_equal(r.metric, CS_AM_GAPS);
    assert_int_equal(cs_alert_value(&r, &w, &v), 1);
    assert_true(v == 2.0);
    assert_int_equal(cs_alert_rule_parse("feed_loss: proto=moldudp64 missing >= 100", &r), 0);
    assert_int_equal(cs_alert_value(&r, &w, &v), 1);
    assert_true(v == 7.0);
}

/* feed= and session= rules: the two rules as written, the
 * all-taps and per-tap names, and each metric read from its window. */
static void test_feed_session_rules(void **state)
{
    cs_histogram h;
    cs_alert_rule r;
    cs_window w;
    double v = -1;

    assert_int_equal(cs_alert_rule_parse("feed_gap: feed=233.54.12.111:26477 gaps > 0", &r), 0);
    assert_int_equal(r.series.kind, CS_SERIES_FEED);
    assert_string_equal(r.series.name, "233.54.12.111:26477");
    assert_int_equal(r.metric, CS_AM_GAPS);
    memset(&w, 0, sizeof(w));
    w.series = r.series;
    w.dur_ns = CS_NS_PER_SEC;
    w.messages = 40;
    w.gaps = 2;
    w.missing = 9;
    assert_int_equal(cs_alert_value(&r, &w, &v), 1);
    assert_true(v == 2.0);
    assert_int_equal(cs_alert_rule_parse("l: feed=3/233.54.12.111:26477 lost >= 9", &r), 0);
    assert_string_equal(r.series.name, "3/233.54.12.111:26477");
    assert_int_equal(r.metric, CS_AM_MISSING);
    assert_int_equal(cs_alert_value(&r, &w, &v), 1);
    assert_true(v == 9.0);
    assert_int_equal(cs_alert_rule_parse("c: feed=233.54.12.111:26477 rate > 10/s", &r), 0);
    assert_int_equal(cs_alert_value(&r, &w, &v), 1);
    assert_true(v == 40.0); /* ITCH messages */
    /* lead: no races won is no data */
    assert_int_equal(cs_alert_rule_parse("lead: feed=233.54.12.111:26477 p50 > 1us", &r), 0);
    assert_int_equal(cs_alert_value(&r, &w, &v), 0);
    cs_hist_init(&h);
    cs_hist_record(&h, 5000);
    w.hist = &h;
    assert_int_equal(cs_alert_value(&r, &w, &v), 1);
    assert_true(v >= 4950 && v <= 5050);

    assert_int_equal(cs_alert_rule_parse("ouch_rejects: proto=ouch errors rate > 10/s", &r), 0);
    assert_int_equal(r.series.kind, CS_SERIES_PROTO);
    assert_string_equal(r.series.name, "ouch");
    assert_true(r.errors_only);
    assert_int_equal(r.metric, CS_AM_RATE);
    assert_true(r.threshold == 10.0);
    memset(&w, 0, sizeof(w));
    w.series = r.series;
    w.dur_ns = CS_NS_PER_SEC;
    w.messages = 100;
    w.errors = 12;
    assert_int_equal(cs_alert_value(&r, &w, &v), 1);
    assert_true(v == 12.0);

    assert_int_equal(cs_alert_rule_parse("s: session=10.1.0.5:40001 errors count > 1", &r), 0);
    assert_int_equal(r.series.kind, CS_SERIES_SESSION);
    assert_true(r.errors_only);
    memset(&w, 0, sizeof(w));
    w.series = r.series;
    w.dur_ns = CS_NS_PER_SEC;
    w.messages = 30, w.errors = 3, w.orders = 10, w.accepts = 7, w.rejects = 2;
    w.hist = &h;
    assert_int_equal(cs_alert_value(&r, &w, &v), 1);
    assert_true(v == 3.0);
    assert_int_equal(cs_alert_rule_parse("o: session=10.1.0.5:40001 rate > 5", &r), 0);
    assert_int_equal(cs_alert_value(&r, &w, &v), 1);
    assert_true(v == 10.0); /* orders */
    assert_int_equal(cs_alert_rule_parse("a: session=2/10.1.0.5:40001 accepts < 8", &r), 0);
    assert_int_equal(cs_alert_value(&r, &w, &v), 1);
    assert_true(v == 7.0);
    assert_int_equal(cs_alert_rule_parse("j: session=10.1.0.5:40001 rejects > 1", &r), 0);
    assert_int_equal(cs_alert_value(&r, &w, &v), 1);
    assert_true(v == 2.0);
    assert_int_equal(cs_alert_rule_parse("p: session=10.1.0.5:40001 max > 1us", &r), 0);
    assert_int_equal(cs_alert_value(&r, &w, &v), 1);
    assert_true(v == 5000.0);
    assert_string_equal(cs_alert_metric_unit(CS_AM_REJECTS), "count");
}

/* A latency or clock metric on tap=N reads the tap's clock series: the
 * offset histogram, and the counts of frames unsynchronised, going back
 * and left without a reference time. */
static void test_clock_rules(void **state)
{
    cs_histogram h;
    cs_alert_rule r;
    cs_window w;
    double v = -1;

    cs_hist_init(&h);
    for (int i = 1; i <= 100; i++)
        cs_hist_record(&h, i * 1000);
    memset(&w, 0, sizeof(w));
    w.series.kind = CS_SERIES_CLOCK;
    snprintf(w.series.name, sizeof(w.series.name), "357");
    w.dur_ns = CS_NS_PER_SEC;
    w.packets = 100;
    w.hist = &h;
    w.unsynced = 3;
    w.backwards = 2;
    w.untimed = 5;
    assert_int_equal(cs_alert_rule_parse("clock_offset: tap=357 p99 > 50us for 10s", &r), 0);
    assert_int_equal(r.series.kind, CS_SERIES_CLOCK);
    assert_string_equal(r.series.name, "357");
    assert_int_equal(r.for_windows, 10);
    assert_int_equal(cs_alert_value(&r, &w, &v), 1);
    assert_true(v >= 99000 * 0.99 && v <= 99000 * 1.01);
    assert_int_equal(cs_alert_rule_parse("u: tap=357 unsynced > 0", &r), 0);
    assert_int_equal(r.series.kind, CS_SERIES_CLOCK);
    assert_int_equal(cs_alert_value(&r, &w, &v), 1);
    assert_true(v == 3.0);
    assert_int_equal(cs_alert_rule_parse("b: clock=357 backwards > 0", &r), 0);
    assert_int_equal(cs_alert_value(&r, &w, &v), 1);
    assert_true(v == 2.0);
    assert_int_equal(cs_alert_rule_parse("t: tap=357 untimed >= 5", &r), 0);
    assert_int_equal(cs_alert_value(&r, &w, &v), 1);
    assert_true(v == 5.0);
    /* count on a tap stays the tap's packets */
    assert_int_equal(cs_alert_rule_parse("c: tap=357 count > 0", &r), 0);
    assert_int_equal(r.series.kind, CS_SERIES_TAP);
}

static void test_parse_bad(void **state)
{
    expect_bad("pair=fix p99 > 1ms",
               "expected \"NAME: [SELECTOR] METRIC OP VALUE [for DURATION]\"");
    expect_bad(": pair=fix p99 > 1ms", "missing rule name before ':'");
    expect_bad("a b: pair=fix p99 > 1ms",
               "bad character ' ' in rule name (use letters, digits, _ . -)");
    expect_bad("a: pair=fix p98 > 1ms",
               "unknown metric \"p98\" (expected p50, p90, p99, p999, max, count, rate, errors, "
               "gaps, missing, lost, orders, accepts, rejects, unsynced, backwards, untimed or "
               "capture.kernel_drops/not_stored/not_analysed)");
    expect_bad("a: pair=fix unsynced > 0", "unsynced is a clock count: it needs a tap= selector");
    expect_bad("a: proto=fix untimed > 0", "untimed is a clock count: it needs a tap= selector");
    expect_bad("a: pair=fix gaps > 0", "gaps needs a proto= or feed= selector");
    expect_bad("a: session=1.2.3.4:5 lost > 0", "lost needs a proto= or feed= selector");
    expect_bad("a: feed=1.2.3.4:5 rejects > 0", "rejects needs a session= selector");
    expect_bad("a: feed=1.2.3.4:5 errors rate > 0", "errors rate needs a proto= or session= "
                                                    "selector");
    expect_bad("a: proto=fix p99 > 1ms",
               "p99 is a latency: it needs a pair= or session= selector (or feed= for the A/B "
               "lead, tap= for the tap's clock offset)");
    expect_bad("a: p99 > 1ms", "p99 needs a selector (pair=, proto= or tap=)");
    expect_bad("a: tap=1 capture.kernel_drops > 0", "capture.kernel_drops takes no selector");
    expect_bad("a: host=x count > 1",
               "unknown selector \"host\" (expected pair=, proto=, tap=, clock=, feed= or "
               "session=)");
    expect_bad("a: pair= > 1", "missing name after \"pair=\"");
    expect_bad("a: pair=fix > 1", "missing metric before \">\"");
    expect_bad("a: pair=fix p99 => 1ms", "bad operator \"=>\" (expected > >= < <= == !=)");
    expect_bad("a: pair=fix p99 >", "missing value after \">\"");
    expect_bad("a: pair=fix p99", "missing operator after p99");
    expect_bad("a: pair=fix p99 > 2parsecs",
               "bad latency \"2parsecs\" (expected e.g. 200us, 1.5ms)");
    expect_bad("a: proto=dns rate > fast", "bad value \"fast\" (expected a number or NUMBER/s)");
    expect_bad("a: proto=dns count > -1", "bad value \"-1\" (expected a number)");
    expect_bad("a: pair=fix p99 > 1ms for 1.5s",
               "bad duration after 'for': \"1.5s\" (expected whole seconds, e.g. 3s or 1m)");
    expect_bad("a: pair=fix p99 > 1ms for", "missing duration after 'for'");
    expect_bad("a: pair=fix p99 > 1ms for 3s now", "unexpected \"now\" after the rule");
    expect_bad("a: pair=fix p99 > 1ms clear 0s",
               "bad duration after 'clear': \"0s\" (expected whole seconds, e.g. 3s or 1m)");
    expect_bad("a: proto=dns rcode==3 count > 1", "the only rcode condition is rcode!=0");
    expect_bad("a: pair=fix rcode!=0 count > 1", "rcode!=0 needs a proto= selector");
    expect_bad("a: proto=dns rcode!=0 errors > 1", "rcode!=0 goes with count or rate, not errors");
    expect_bad("a: tap=0 errors > 1", "errors needs a proto= or session= selector");
    expect_bad("a: pair=fix p99 > 1ms for 2d", "'for 2d' is longer than a day");
}

static void test_config_errors(void **state)
{
    cs_alerts *a;

    assert_int_equal(cs_alerts_new(NULL, NULL, &a), 0);
    assert_int_equal(cs_alerts_set_rules(a,
                                         "# rules\n\nok: pair=fix p99 > 1ms\n"
                                         "bad: pair=fix p99 >> 1ms # oops\n",
                                         "alerts.conf"),
                     CS_EINVAL);
    assert_string_equal(cs_error_msg(CS_EINVAL),
                        "alerts.conf:4: bad operator \">>\" (expected > >= < <= == !=)");
    assert_int_equal(cs_alerts_count(a), 0); /* nothing changed */
    assert_int_equal(
        cs_alerts_set_rules(a, "x: pair=fix p99 > 1ms\n   \nx: tap=0 count > 1\n", "c"), CS_EINVAL);
    assert_string_equal(cs_error_msg(CS_EINVAL), "c:3: rule \"x\" defined twice");
    assert_int_equal(cs_alerts_set_rules(a, "x: pair=fix p99 > 1ms # slow\n\n# end\n", "c"), 0);
    assert_int_equal(cs_alerts_count(a), 1);
    assert_int_equal(cs_alerts_reload(a, "/nonexistent/alerts.conf"), CS_ENOTFOUND);
    cs_alerts_free(a);
}

#define MAXEV 32

typedef struct events {
    cs_alert_event ev[MAXEV];
    char rule[MAXEV][CS_ALERT_NAME_MAX];
    int n;
} events;

static void on_event(void *ud, const cs_alert_event *ev)
{
    events *e = ud;

    assert_true(e->n < MAXEV);
    e->ev[e->n] = *ev;
    snprintf(e->rule[e->n], CS_ALERT_NAME_MAX, "%s", ev->rule);
    e->n++;
}

/* A pair window of "n" measurements of latency "lat_ns" at second "s". */
static void pair_window(cs_alerts *a, cs_histogram *h, int s, int n, int64_t lat_ns)
{
    cs_window w;

    memset(&w, 0, sizeof(w));
    w.series.kind = CS_SERIES_PAIR;
    strcpy(w.series.name, "fix");
    w.start_ns = T0 + s * SEC;
    w.dur_ns = SEC;
    w.measurements = (uint64_t)n;
    cs_hist_init(h);
    cs_hist_record_n(h, lat_ns, (uint64_t)n);
    w.hist = h;
    cs_alerts_window(a, &w);
}

static void test_fire_and_resolve(void **state)
{
    cs_histogram *h = malloc(sizeof(*h));
    events e = {0};
    cs_alerts *a;
    cs_alert_status st;

    assert_int_equal(cs_alerts_new(on_event, &e, &a), 0);
    assert_int_equal(cs_alerts_set_rules(a, "fix_slow: pair=fix p99 > 200us for 3s\n", "t"), 0);
    pair_window(a, h, 0, 10, 300000);
    pair_window(a, h, 1, 10, 300000);
    pair_window(a, h, 2, 10, 100000); /* streak broken */
    pair_window(a, h, 3, 10, 300000);
    pair_window(a, h, 4, 10, 300000);
    assert_int_equal(e.n, 0);
    pair_window(a, h, 5, 10, 250000); /* third in a row */
    assert_int_equal(e.n, 1);
    assert_string_equal(e.rule[0], "fix_slow");
    assert_int_equal(e.ev[0].state, CS_ALERT_FIRED);
    assert_int_equal(e.ev[0].ts_ns, T0 + 5 * SEC);
    assert_int_equal(e.ev[0].from_ns, T0 + 3 * SEC);
    assert_int_equal(e.ev[0].to_ns, T0 + 6 * SEC);
    assert_true(e.ev[0].value >= 250000 * 0.99 && e.ev[0].value <= 250000 * 1.01);
    assert_true(e.ev[0].threshold == 200000);
    assert_string_equal(e.ev[0].series.name, "fix");
    cs_alerts_status(a, 0, &st);
    assert_int_equal(st.firing, 1);
    assert_int_equal(st.since_ns, T0 + 3 * SEC);
    pair_window(a, h, 6, 10, 300000); /* still firing: no event */
    assert_int_equal(e.n, 1);
    pair_window(a, h, 7, 0, 0); /* no measurements: no data, resolves */
    assert_int_equal(e.n, 2);
    assert_int_equal(e.ev[1].state, CS_ALERT_RESOLVED);
    assert_int_equal(e.ev[1].ts_ns, T0 + 7 * SEC);
    assert_int_equal(e.ev[1].from_ns, T0 + 3 * SEC);
    assert_int_equal(e.ev[1].to_ns, T0 + 7 * SEC);
    cs_alerts_free(a);
    free(h);
}

/* "clear N": a firing resolves only after N windows in a row without the
 * condition, so a value hovering at the threshold fires once, not once a
 * second; the resolved event's range ends with the last window that held. */
static void test_clear_hysteresis(void **state)
{
    cs_histogram *h = malloc(sizeof(*h));
    events e = {0};
    cs_alerts *a;
    cs_alert_rule r;

    assert_int_equal(cs_alert_rule_parse("f: pair=fix p99 > 200us for 1s clear 3s", &r), 0);
    assert_int_equal(r.clear_windows, 3);
    assert_int_equal(cs_alert_rule_parse("f: pair=fix p99 > 200us", &r), 0);
    assert_int_equal(r.clear_windows, 1);
    assert_int_equal(cs_alerts_new(on_event, &e, &a), 0);
    assert_int_equal(cs_alerts_set_rules(a, "f: pair=fix p99 > 200us clear 3s\n", "t"), 0);
    for (int s = 0; s < 10; s++) /* flapping: above, below, above, ... */
        pair_window(a, h, s, 10, s % 2 ? 100000 : 300000);
    assert_int_equal(e.n, 1); /* fired once at 0, never two windows below in a row */
    assert_int_equal(e.ev[0].state, CS_ALERT_FIRED);
    pair_window(a, h, 10, 10, 100000);
    assert_int_equal(e.n, 1);
    pair_window(a, h, 11, 10, 100000); /* 9, 10, 11 below: the third clears it */
    assert_int_equal(e.n, 2);
    assert_int_equal(e.ev[1].state, CS_ALERT_RESOLVED);
    assert_int_equal(e.ev[1].ts_ns, T0 + 11 * SEC);
    assert_int_equal(e.ev[1].to_ns, T0 + 9 * SEC); /* the end of 8, the last above */
    pair_window(a, h, 12, 10, 300000);
    assert_int_equal(e.n, 3);
    assert_int_equal(e.ev[2].state, CS_ALERT_FIRED);
    cs_alerts_free(a);
    assert_int_equal(cs_alerts_new(on_event, &e, &a), 0);
    e.n = 0;
    assert_int_equal(cs_alerts_set_rules(a, "f: pair=fix p99 > 200us clear 3s\n", "t"), 0);
    pair_window(a, h, 0, 10, 300000);
    pair_window(a, h, 1, 10, 300000);
    pair_window(a, h, 2, 10, 100000);
    pair_window(a, h, 3, 10, 100000);
    assert_int_equal(e.n, 1);
    pair_window(a, h, 4, 10, 100000);
    assert_int_equal(e.n, 2);
    assert_int_equal(e.ev[1].state, CS_ALERT_RESOLVED);
    assert_int_equal(e.ev[1].ts_ns, T0 + 4 * SEC);
    assert_int_equal(e.ev[1].from_ns, T0);
    assert_int_equal(e.ev[1].to_ns, T0 + 2 * SEC);
    cs_alerts_free(a);
    free(h);
}

static void test_rates_and_gauges(void **state)
{
    events e = {0};
    cs_alerts *a;
    cs_window w;

    assert_int_equal(cs_alerts_new(on_event, &e, &a), 0);
    assert_int_equal(cs_alerts_set_rules(a,
                                         "dns_errors: proto=dns rcode!=0 rate > 50/s\n"
                                         "drops: capture.kernel_drops > 0\n",
                                         "t"),
                     0);
    memset(&w, 0, sizeof(w));
    w.series.kind = CS_SERIES_PROTO;
    strcpy(w.series.name, "dns");
    w.start_ns = T0;
    w.dur_ns = SEC;
    w.messages = 1000;
    w.errors = 50; /* not above 50/s */
    cs_alerts_window(a, &w);
    assert_int_equal(e.n, 0);
    w.start_ns += SEC;
    w.errors = 51;
    cs_alerts_window(a, &w);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.rule[0], "dns_errors");
    assert_true(e.ev[0].value == 51);
    memset(&w, 0, sizeof(w));
    w.series.kind = CS_SERIES_CAPTURE;
    strcpy(w.series.name, "capture");
    w.start_ns = T0;
    w.dur_ns = SEC;
    w.gauges[CS_GAUGE_KERNEL_DROPS] = 3;
    cs_alerts_window(a, &w);
    assert_int_equal(e.n, 2);
    assert_string_equal(e.rule[1], "drops");
    assert_true(e.ev[1].value == 3);
    w.start_ns += SEC;
    w.gauges[CS_GAUGE_KERNEL_DROPS] = 0;
    cs_alerts_window(a, &w);
    assert_int_equal(e.n, 3);
    assert_int_equal(e.ev[2].state, CS_ALERT_RESOLVED);
    cs_alerts_free(a);
}

static void test_reload_keeps_state(void **state)
{
    cs_histogram *h = malloc(sizeof(*h));
    events e = {0};
    cs_alerts *a;
    cs_alert_status st;
    char path[] = "/tmp/test_alerts_XXXXXX";
    int fd = mkstemp(path);
    FILE *f;

    assert_true(fd >= 0);
    assert_non_null(f = fdopen(fd, "w"));
    fputs("slow: pair=fix p99 > 200us for 2s\ngone: pair=fix max > 1us\n", f);
    fclose(f);
    assert_int_equal(cs_alerts_new(on_event, &e, &a), 0);
    assert_int_equal(cs_alerts_reload(a, path), 0);
    pair_window(a, h, 0, 5, 300000);
    assert_int_equal(e.n, 1); /* "gone" fired */
    assert_string_equal(e.rule[0], "gone");
    /* same "slow", "gone" removed, "new" added */
    assert_non_null(f = fopen(path, "w"));
    fputs("# reloaded\nnew: pair=fix count > 0 for 2s\n  slow: pair=fix p99 > 200us for 2s\n", f);
    fclose(f);
    assert_int_equal(cs_alerts_reload(a, path), 0);
    assert_int_equal(e.n, 2); /* "gone" resolved on removal */
    assert_string_equal(e.rule[1], "gone");
    assert_int_equal(e.ev[1].state, CS_ALERT_RESOLVED);
    assert_int_equal(cs_alerts_count(a), 2);
    cs_alerts_status(a, 1, &st);
    assert_string_equal(st.rule->name, "slow");
    assert_int_equal(st.streak, 1); /* kept */
    pair_window(a, h, 1, 5, 300000);
    assert_int_equal(e.n, 3); /* "slow" fires on its 2nd window; "new" has 1 */
    assert_string_equal(e.rule[2], "slow");
    assert_int_equal(e.ev[2].from_ns, T0);
    unlink(path);
    cs_alerts_free(a);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),         cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_seq_gap_rules),      cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_fire_and_resolve),   cmocka_unit_test(test_rates_and_gauges),
        cmocka_unit_test(test_reload_keeps_state), cmocka_unit_test(test_clear_hysteresis),
        cmocka_unit_test(test_metric_units),       cmocka_unit_test(test_clock_rules),
        cmocka_unit_test(test_feed_session_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_t2t.c - unit tests of src/analytics/t2t.c (tick-to-trade).
 *
 * Ticks and orders are messages made by hand at taps 1 and 2; a recording
 * sink checks which tick each order is paired with, or that it has none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "analytics/t2t.h"

#include <stdio.h>
#include <string.h>

typedef struct rec {
    char log[1024];
} rec;

static void on_meas(void *ud, const cs_measurement *ms)
{
    rec *r = ud;
    char line[96];

    assert_int_equal(ms->id, ms->req_id);
    assert_int_equal(ms->latency_ns, ms->resp_ts_ns - ms->req_ts_ns);
    assert_true(ms->ep.tap != 0);               /* every tick here is at tap 1 or 2 */
    assert_int_equal(ms->resp_tap, ms->ep.tap); /* tick and order at one tap */
    snprintf(line, sizeof(line), "%s %.*s %llu>%llu %lld;", ms->pair, (int)ms->key.len, ms->key.p,
             (unsigned long long)ms->req_id, (unsigned long long)ms->resp_id,
             (long long)ms->latency_ns);
    strcat(r->log, line);
}

static cs_message msg(cs_msgid id, uint16_t tap, int64_t ts, const char *key)
{
    cs_message m;

    memset(&m, 0, sizeof(m));
    m.id = id;
    m.ep.tap = tap;
    m.ts_ns = m.last_ts_ns = ts;
    m.key = (cs_str){key, strlen(key)};
    m.type = (cs_str){"O", 1};
    return m;
}

static cs_str S(const char *s)
{
    return (cs_str){s, strlen(s)};
}

static cs_t2t *new_t2t(rec *r, int64_t window)
{
    cs_sink sink = {r, NULL, on_meas, NULL, NULL, NULL};
    cs_t2t *t;

    memset(r, 0, sizeof(*r));
    assert_int_equal(cs_t2t_new(window, &sink, &t), 0);
    return t;
}

/* The latest tick of the instrument at the order's tap, strictly before. */
static void test_latest_tick_before(void **state)
{
    rec r;
    cs_t2t *t = new_t2t(&r, 1000);
    cs_message a1 = msg(1, 1, 100, ""), b1 = msg(2, 1, 150, ""), a2 = msg(3, 1, 200, "");
    cs_message other_tap = msg(4, 2, 190, ""), o = msg(9, 1, 200, "O:1");

    (void)state;
    cs_t2t_tick(t, &a1, S("AAPL"));
    cs_t2t_tick(t, &b1, S("MSFT"));
    cs_t2t_tick(t, &other_tap, S("AAPL"));
    cs_t2t_tick(t, &a2, S("AAPL")); /* the order's own time: not before it */
    cs_t2t_order(t, &o, S("AAPL"));
    assert_string_equal(r.log, "t2t O:1 1>9 100;");
    cs_t2t_free(t);
}

/* Beyond the window, another instrument, or nothing yet: no measurement. */
static void test_no_tick(void **state)
{
    rec r;
    cs_t2t *t = new_t2t(&r, 50);
    cs_message k = msg(1, 1, 100, ""), late = msg(7, 1, 151, "O:7"), in = msg(8, 1, 150, "O:8");
    cs_message none = msg(9, 2, 150, "O:9");
    cs_t2t_stats st;

    (void)state;
    cs_t2t_tick(t, &k, S("AAPL"));
    cs_t2t_order(t, &late, S("AAPL"));
    cs_t2t_order(t, &none, S("AAPL")); /* tap 2 saw no tick */
    cs_t2t_order(t, &late, S("IBM"));
    cs_t2t_order(t, &in, S("AAPL")); /* 50: the window's edge counts */
    assert_string_equal(r.log, "t2t O:8 1>8 50;");
    cs_t2t_stats_get(t, &st);
    assert_int_equal(st.orders, 4);
    assert_int_equal(st.measurements, 1);
    assert_int_equal(st.instruments, 1);
    cs_t2t_free(t);
}

/* An order delivered after ticks later than its first byte (its bytes took
 * two packets) still finds the tick before it; ties go to the last seen. */
static void test_ticks_after_the_order_start(void **state)
{
    rec r;
    cs_t2t *t = new_t2t(&r, 1000);
    cs_message k1 = msg(1, 1, 100, ""), k2 = msg(2, 1, 100, ""), k3 = msg(3, 1, 130, "");
    cs_message k4 = msg(4, 1, 140, ""), o = msg(9, 1, 120, "O:1");

    (void)state;
    cs_t2t_tick(t, &k1, S("AAPL"));
    cs_t2t_tick(t, &k2, S("AAPL")); /* same packet, later message */
    cs_t2t_tick(t, &k3, S("AAPL"));
    cs_t2t_tick(t, &k4, S("AAPL"));
    cs_t2t_order(t, &o, S("AAPL"));
    assert_string_equal(r.log, "t2t O:1 2>9 20;");
    cs_t2t_free(t);
}

/* Many instruments: the table grows and finds every one again. */
static void test_many_instruments(void **state)
{
    rec r;
    cs_t2t *t = new_t2t(&r, 1000);
    char name[16];
    cs_t2t_stats st;

    (void)state;
    for (int i = 0; i < 5000; i++) {
        cs_message k = msg((cs_msgid)(i + 1), 1, 100, "");

        snprintf(name, sizeof(name), "S%d", i);
        cs_t2t_tick(t, &k, S(name));
    }
    for (int i = 0; i < 5000; i += 1000) {
        cs_message o = msg(100000, 1, 110, "O:x");

        snprintf(name, sizeof(name), "S%d", i);
        cs_t2t_order(t, &o, S(name));
    }
    cs_t2t_stats_get(t, &st);
    assert_int_equal(st.instruments, 5000);
    assert_int_equal(st.measurements, 5);
    assert_non_null(strstr(r.log, "t2t O:x 4001>100000 10;"));
    cs_t2t_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_latest_tick_before),
        cmocka_unit_test(test_no_tick),
        cmocka_unit_test(test_ticks_after_the_order_start),
        cmocka_unit_test(test_many_instruments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

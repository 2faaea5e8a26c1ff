/*
 * test_timefmt.c - unit tests for core/timefmt.c.
 *
 * Checks valid RFC 3339 / epoch / relative inputs against values computed
 * independently (seconds counted by hand from known anchors), rejection of
 * malformed and out-of-range inputs with a detail that names the problem,
 * durations, formatting, and a format -> parse round trip over random int64
 * values spread over the whole representable range (1677..2262, so before
 * 1970 too).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/timefmt.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1767623400000000000LL /* 2026-01-05T14:30:00Z */
#define DAY_NS (86400LL * 1000000000LL)

static int64_t parse_ok(const char *s)
{
    int64_t v = 0;
    int rc = cs_time_parse(s, NOW, &v);
    if (rc != 0)
        fail_msg("cs_time_parse(\"%s\") failed: %s", s, cs_error_msg(rc));
    return v;
}

static void expect_bad(const char *s, const char *detail_part)
{
    int64_t v = 12345;
    int rc = cs_time_parse(s, NOW, &v);
    if (rc != CS_ETIME)
        fail_msg("cs_time_parse(\"%s\") = %d, expected CS_ETIME", s, rc);
    assert_int_equal(v, 12345);
    const char *msg = cs_error_msg(rc);
    if (!strstr(msg, detail_part))
        fail_msg("detail for \"%s\" is \"%s\", expected it to mention \"%s\"", s, msg, detail_part);
}

static void test_rfc3339_valid(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("2026-01-05T14:30:00Z"), NOW);
    assert_int_equal(parse_ok("2026-01-05t14:30:00z"), NOW);
    assert_int_equal(parse_ok("2026-01-05 14:30:00Z"), NOW);
    assert_int_equal(parse_ok("2026-01-05T14:30:00.000123456Z"), NOW + 123456);
    assert_int_equal(parse_ok("2026-01-05T14:30:00.5Z"), NOW + 500000000);
    assert_int_equal(parse_ok("2026-01-05T14:30:00.000000001Z"), NOW + 1);
    assert_int_equal(parse_ok("2026-01-05T15:30:00.5+01:00"), NOW + 500000000);
    assert_int_equal(parse_ok("2026-01-05T09:00:00-05:30"), NOW);
    assert_int_equal(parse_ok("2026-01-05T14:30:00+00:00"), NOW);
    /* 2000 is a leap year, 1900 is not; 1969-12-31T23:59:59 is -1 s. */
    assert_int_equal(parse_ok("2000-02-29T00:00:00Z"), 951782400LL * 1000000000LL);
    assert_int_equal(parse_ok("2000-03-01T00:00:00Z") - parse_ok("2000-02-28T00:00:00Z"),
                     2 * DAY_NS);
    assert_int_equal(parse_ok("1900-03-01T00:00:00Z") - parse_ok("1900-02-28T00:00:00Z"), DAY_NS);
    assert_int_equal(parse_ok("1969-12-31T23:59:59Z"), -1000000000LL);
    assert_int_equal(parse_ok("1969-12-31T23:59:59.999999999Z"), -1);
    assert_int_equal(parse_ok("2262-04-11T23:47:16.854775807Z"), INT64_MAX);
    assert_int_equal(parse_ok("1677-09-21T00:12:43.145224192Z"), INT64_MIN);
}

static void test_epoch_and_relative(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1767623400000000000"), NOW);
    assert_int_equal(parse_ok("-5"), -5);
    assert_int_equal(parse_ok("+7"), 7);
    assert_int_equal(parse_ok("9223372036854775807"), INT64_MAX);
    assert_int_equal(parse_ok("-9223372036854775808"), INT64_MIN);
    assert_int_equal(parse_ok("now"), NOW);
    assert_int_equal(parse_ok("90s ago"), NOW - 90000000000LL);
    assert_int_equal(parse_ok("5m ago"), NOW - 300000000000LL);
    assert_int_equal(parse_ok("1.5h ago"), NOW - 5400000000000LL);
    assert_int_equal(parse_ok("2d ago"), NOW - 2 * DAY_NS);
    assert_int_equal(parse_ok("250ms ago"), NOW - 250000000LL);
    assert_int_equal(parse_ok("0.000000001s ago"), NOW - 1);
}

static void test_invalid(void **state)
{
    (void)state;
    expect_bad("2026-13-01T00:00:00Z", "month 13 out of range");
    expect_bad("2026-00-01T00:00:00Z", "month 0 out of range");
    expect_bad("2026-02-29T00:00:00Z", "day 29 out of range");
    expect_bad("2026-04-31T00:00:00Z", "day 31");
    expect_bad("2026-01-00T00:00:00Z", "day 0");
    expect_bad("2026-01-05T24:00:00Z", "hour 24 out of range");
    expect_bad("2026-01-05T14:60:00Z", "minute 60");
    expect_bad("2026-01-05T14:30:61Z", "second 61");
    expect_bad("2016-12-31T23:59:60Z", "leap seconds");
    expect_bad("2026-01-05T14:30:00", "expected 'Z'");
    expect_bad("2026-01-05T14:30:00.Z", "digits after '.'");
    expect_bad("2026-01-05T14:30:00.1234567890Z", "more than 9 fractional digits");
    expect_bad("2026-01-05T14:30:00+24:00", "offset out of range");
    expect_bad("2026-01-05T14:30:00+0100", "bad offset");
    expect_bad("2026-01-05T14:30:00Zjunk", "unexpected characters");
    expect_bad("2026-1-05T14:30:00Z", "YYYY-MM-DD");
    expect_bad("2026-01-05X14:30:00Z", "'T'");
    expect_bad("2026-01-05T14:3:00Z", "hh:mm:ss");
    expect_bad("2262-04-11T23:47:16.854775808Z", "range");
    expect_bad("1677-09-21T00:12:43.145224191Z", "range");
    expect_bad("9999-12-31T23:59:59Z", "range");
    expect_bad("9223372036854775808", "int64");
    expect_bad("-9223372036854775809", "int64");
    expect_bad("-", "digits");
    expect_bad("12a", "expected RFC 3339");
    expect_bad("", "empty");
    expect_bad("yesterday", "expected RFC 3339");
    expect_bad("x ago", "expected a number");
    expect_bad("5x ago", "unknown unit");
    expect_bad(" ago", "expected RFC 3339");
    expect_bad("90 ago", "missing unit");
    expect_bad("1.5ns ago", "whole number");
    expect_bad("100000000d ago", "range");
    expect_bad("-5m ago", "expected a number");
    expect_bad("now ", "expected RFC 3339");
    expect_bad("0x10", "expected RFC 3339");
}

static void test_duration(void **state)
{
    (void)state;
    struct {
        const char *s;
        int64_t ns;
    } ok[] = {
        {"200us", 200000},
        {"1.5ms", 1500000},
        {"3s", 3000000000LL},
        {"2m", 120000000000LL},
        {"1h", 3600000000000LL},
        {"1d", DAY_NS},
        {"150ns", 150},
        {"42", 42},
        {"0", 0},
        {"0.5us", 500},
        {"1.000000001s", 1000000001},
        {"106751d", 106751 * DAY_NS},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t v = -1;
        int rc = cs_duration_parse(ok[i].s, &v);
        if (rc != 0 || v != ok[i].ns)
            fail_msg("duration \"%s\": rc %d value %lld, expected %lld", ok[i].s, rc, (long long)v,
                     (long long)ok[i].ns);
    }
    const char *bad[] = {"",        "ms",  "1.5",  "1.5x", "-3s", "1.0001ns",
                         "106752d", "3 s", "1e3s", ".5s",  "5."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = -1;
        int rc = cs_duration_parse(bad[i], &v);
        if (rc != CS_ETIME)
            fail_msg("duration \"%s\" accepted (%lld)", bad[i], (long long)v);
        assert_non_null(strstr(cs_error_msg(rc), "bad duration"));
    }
}

static void test_format(void **state)
{
    (void)state;
    char buf[CS_TIME_BUFLEN];
    assert_string_equal(cs_time_format(NOW + 123456, buf), "2026-01-05T14:30:00.000123456Z");
    assert_string_equal(cs_time_format(0, buf), "1970-01-01T00:00:00.000000000Z");
    assert_string_equal(cs_time_format(-1, buf), "1969-12-31T23:59:59.999999999Z");
    assert_string_equal(cs_time_format(INT64_MAX, buf), "2262-04-11T23:47:16.854775807Z");
    assert_string_equal(cs_time_format(INT64_MIN, buf), "1677-09-21T00:12:43.145224192Z");
    char d[32];
    assert_string_equal(cs_duration_format(35210, d), "35.210us");
    assert_string_equal(cs_duration_format(4002000, d), "4.002ms");
    assert_string_equal(cs_duration_format(1500000000, d), "1.500s");
    assert_string_equal(cs_duration_format(999, d), "999ns");
    assert_string_equal(cs_duration_format(-35210, d), "-35.210us");
    assert_string_equal(cs_duration_format(INT64_MIN, d), "-9223372036.854s");
}

/* xorshift64*: deterministic, independent of libc's rand(). */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void test_round_trip(void **state)
{
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    char buf[CS_TIME_BUFLEN];
    for (int i = 0; i < 200000; i++) {
        int64_t t = (int64_t)next_rand(&seed);
        if (i % 2) /* half of them inside 1970..2200 */
            t = (int64_t)(next_rand(&seed) % (uint64_t)(7289654400LL * 1000000000LL));
        cs_time_format(t, buf);
        int64_t back = 0;
        int rc = cs_time_parse(buf, NOW, &back);
        if (rc != 0 || back != t)
            fail_msg("round trip of %lld via \"%s\" gave rc %d value %lld", (long long)t, buf, rc,
                     (long long)back);
    }
    /* Every day boundary from 1600-ish to 2262 through days_from_civil and
     * back: consecutive days differ by exactly one day. */
    int64_t prev = parse_ok("1678-01-01T00:00:00Z");
    for (int64_t t = prev + DAY_NS; t < INT64_MAX - DAY_NS; t += DAY_NS) {
        cs_time_format(t, buf);
        assert_memory_equal(buf + 10, "T00:00:00.000000000Z", 20);
        assert_int_equal(parse_ok(buf) - prev, DAY_NS);
        prev = t;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_valid), cmocka_unit_test(test_epoch_and_relative),
        cmocka_unit_test(test_invalid),       cmocka_unit_test(test_duration),
        cmocka_unit_test(test_format),        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

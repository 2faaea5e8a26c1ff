/*
 * timefmt.c - parsing and printing of capstream's one time reference
 * (int64 nanoseconds since the Unix epoch, UTC); see timefmt.h.
 *
 * How it works:
 *   - cs_time_parse tries, in order: "now", "<duration> ago", a signed
 *     integer of epoch nanoseconds, then RFC 3339 (section 5.6 "date-time",
 *     with 0-9 fractional digits instead of unlimited ones). Each form is
 *     matched strictly; the first form that recognises the shape of the
 *     input owns the error message.
 *   - Calendar arithmetic uses the proleptic Gregorian days-from-civil /
 *     civil-from-days formulas (400-year eras of 146097 days, March-based
 *     years so that the leap day is last), so nothing depends on timegm(),
 *     TZ or the C library's time_t range.
 *   - All arithmetic is exact integer arithmetic: fractional digits are
 *     scaled by powers of ten; "1.5h" is 15 * 3600e9 / 10, computed in
 *     128 bits and rejected unless it is a whole number of nanoseconds.
 *     Every multiplication and addition is overflow-checked, so a result
 *     outside int64 is an error, never a wrap.
 *
 * Leap seconds: second 60 is rejected ("second 60 out of range"). Unix time
 * has no representation for it, and accepting it as 00 of the next minute
 * would make parse(format(t)) ambiguous.
 *
 * Limits: RFC 3339 years are exactly four digits (0000-9999); the int64
 * range limits results further to 1677-09-21..2262-04-11. Offsets are
 * -23:59..+23:59. Durations are non-negative.
 *
 * Thread safety: all functions are reentrant; errors go to the thread-local
 * detail of cs_error_set().
 */
#include "core/timefmt.h"

#include "core/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define NS_PER_SEC 1000000000LL
#define SHOWN_MAX 64 /* input characters quoted in error messages */

/* Records "bad time '<input>': <what>" and returns CS_ETIME. */
static int time_error(const char *input, const char *what)
{
    return cs_error_set(CS_ETIME, "bad time '%.*s': %s", SHOWN_MAX, input, what);
}

static int duration_error(const char *input, const char *what)
{
    return cs_error_set(CS_ETIME, "bad duration '%.*s': %s", SHOWN_MAX, input, what);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                   /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

/* Inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Reads exactly "n" digits at "*p" into "*out"; false if they are not all
 * digits. */
static bool read_fixed(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/*
 * A decimal number "int.frac" as read from the input: the integer part
 * (overflow-checked), the fraction's digits as an integer and its number
 * of digits.
 */
typedef struct decimal {
    uint64_t whole;
    uint64_t frac;
    int frac_digits;
    bool has_dot;
} decimal;

/* Reads "digits[.digits]" at "*p"; returns false with "*why" set on a
 * malformed or too long number. */
static bool read_decimal(const char **p, decimal *dec, const char **why)
{
    const char *s = *p;
    memset(dec, 0, sizeof(*dec));
    if (!is_digit(*s)) {
        *why = "expected a number";
        return false;
    }
    for (; is_digit(*s); s++) {
        if (dec->whole > (UINT64_MAX - 9) / 10) {
            *why = "number too large";
            return false;
        }
        dec->whole = dec->whole * 10 + (uint64_t)(*s - '0');
    }
    if (*s == '.') {
        dec->has_dot = true;
        s++;
        if (!is_digit(*s)) {
            *why = "expected digits after '.'";
            return false;
        }
        for (; is_digit(*s); s++) {
            if (dec->frac_digits == 18) {
                *why = "more than 18 fractional digits";
                return false;
            }
            dec->frac = dec->frac * 10 + (uint64_t)(*s - '0');
            dec->frac_digits++;
        }
    }
    *p = s;
    return true;
}

typedef struct unit {
    const char *name;
    int64_t ns;
} unit;

static const unit units[] = {
    {"ns", 1},
    {"us", 1000},
    {"\xc2\xb5s", 1000}, /* U+00B5 MICRO SIGN */
    {"ms", 1000000},
    {"s", NS_PER_SEC},
    {"m", 60 * NS_PER_SEC},
    {"h", 3600 * NS_PER_SEC},
    {"d", 86400 * NS_PER_SEC},
};

/* The unit named exactly by [s, end), or NULL. */
static const unit *find_unit(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strlen(units[i].name) == len && memcmp(units[i].name, s, len) == 0)
            return &units[i];
    }
    return NULL;
}

/* dec * unit_ns exactly, or false with "*why" (not whole ns / too large). */
static bool scale_decimal(const decimal *dec, int64_t unit_ns, int64_t *out, const char **why)
{
    unsigned __int128 pow10 = 1;
    for (int i = 0; i < dec->frac_digits; i++)
        pow10 *= 10;
    unsigned __int128 frac_ns = (unsigned __int128)dec->frac * (uint64_t)unit_ns;
    if (frac_ns % pow10 != 0) {
        *why = "not a whole number of nanoseconds";
        return false;
    }
    unsigned __int128 total = (unsigned __int128)dec->whole * (uint64_t)unit_ns + frac_ns / pow10;
    if (total > (unsigned __int128)INT64_MAX) {
        *why = "out of range";
        return false;
    }
    *out = (int64_t)total;
    return true;
}

/*
 * Parses "number[unit]" spanning all of [s, end). A missing unit means
 * nanoseconds only when "bare_ok". Returns NULL or the problem.
 */
static const char *parse_duration_span(const char *s, const char *end, bool bare_ok, int64_t *out)
{
    const char *why = NULL;
    const char *p = s;
    decimal dec;
    if (!read_decimal(&p, &dec, &why))
        return why;
    const unit *u;
    if (p == end) {
        if (!bare_ok)
            return "missing unit (ns, us, ms, s, m, h or d)";
        if (dec.has_dot)
            return "a fraction needs a unit";
        u = &units[0];
    } else {
        u = find_unit(p, (size_t)(end - p));
        if (!u)
            return "unknown unit (expected ns, us, ms, s, m, h or d)";
    }
    if (!scale_decimal(&dec, u->ns, out, &why))
        return why;
    return NULL;
}

int cs_duration_parse(const char *s, int64_t *out_ns)
{
    if (!s || !*s)
        return duration_error(s ? s : "", "empty");
    const char *why = parse_duration_span(s, s + strlen(s), true, out_ns);
    return why ? duration_error(s, why) : 0;
}

/* "<duration> ago" relative to "now_ns". */
static int parse_ago(const char *s, size_t len, int64_t now_ns, int64_t *out)
{
    const char *end = s + len - 4; /* strip " ago" */
    int64_t d;
    const char *why = parse_duration_span(s, end, false, &d);
    if (why)
        return time_error(s, why);
    if (__builtin_sub_overflow(now_ns, d, out))
        return time_error(s, "result out of range");
    return 0;
}

/* An optionally signed integer of epoch nanoseconds. */
static int parse_epoch(const char *s, int64_t *out)
{
    const char *p = s;
    bool neg = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    if (!*p)
        return time_error(s, "expected digits after the sign");
    int64_t v = 0;
    for (; *p; p++) {
        if (!is_digit(*p))
            return time_error(s, "not an integer of epoch nanoseconds");
        int64_t digit = *p - '0';
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, neg ? -digit : digit, &v))
            return time_error(s, "out of the int64 nanosecond range");
    }
    *out = v;
    return 0;
}

typedef struct civil {
    int year, month, day, hour, minute, second;
    int64_t frac_ns;
    int offset_min; /* local time minus UTC */
} civil;

/* Checks each field's range; returns NULL or a sentence naming the field. */
static const char *check_civil(const civil *c, char *buf, size_t size)
{
    if (c->month < 1 || c->month > 12)
        snprintf(buf, size, "month %d out of range", c->month);
    else if (c->day < 1 || c->day > days_in_month(c->year, c->month))
        snprintf(buf, size, "day %d out of range for %04d-%02d", c->day, c->year, c->month);
    else if (c->hour > 23)
        snprintf(buf, size, "hour %d out of range", c->hour);
    else if (c->minute > 59)
        snprintf(buf, size, "minute %d out of range", c->minute);
    else if (c->second > 59)
        snprintf(buf, size, "second %d out of range%s", c->second,
                 c->second == 60 ? " (leap seconds are not supported)" : "");
    else
        return NULL;
    return buf;
}

/* Reads the fraction after the '.', at most 9 digits, scaled to ns. */
static const char *read_fraction(const char **p, int64_t *frac_ns)
{
    int digits = 0;
    int64_t v = 0;
    while (is_digit(**p)) {
        if (digits == 9)
            return "more than 9 fractional digits";
        v = v * 10 + (**p - '0');
        digits++;
        (*p)++;
    }
    if (digits == 0)
        return "expected digits after '.'";
    for (; digits < 9; digits++)
        v *= 10;
    *frac_ns = v;
    return NULL;
}

/* Reads "Z" or "+hh:mm"/"-hh:mm". */
static const char *read_offset(const char **p, int *offset_min)
{
    char c = **p;
    if (c == 'Z' || c == 'z') {
        (*p)++;
        *offset_min = 0;
        return NULL;
    }
    if (c != '+' && c != '-')
        return "expected 'Z' or a +hh:mm/-hh:mm offset";
    (*p)++;
    int hh, mm;
    if (!read_fixed(p, 2, &hh) || **p != ':')
        return "bad offset (expected +hh:mm)";
    (*p)++;
    if (!read_fixed(p, 2, &mm))
        return "bad offset (expected +hh:mm)";
    if (hh > 23 || mm > 59)
        return "offset out of range";
    *offset_min = (c == '-' ? -1 : 1) * (hh * 60 + mm);
    return NULL;
}

/* Splits "YYYY-MM-DDThh:mm:ss[.f]Z" into fields; NULL or the problem. */
static const char *read_rfc3339(const char *s, civil *c)
{
    const char *p = s;
    memset(c, 0, sizeof(*c));
    if (!read_fixed(&p, 4, &c->year) || *p++ != '-' || !read_fixed(&p, 2, &c->month) ||
        *p++ != '-' || !read_fixed(&p, 2, &c->day))
        return "expected a date YYYY-MM-DD";
    if (*p != 'T' && *p != 't' && *p != ' ')
        return "expected 'T' between date and time";
    p++;
    if (!read_fixed(&p, 2, &c->hour) || *p++ != ':' || !read_fixed(&p, 2, &c->minute) ||
        *p++ != ':' || !read_fixed(&p, 2, &c->second))
        return "expected a time hh:mm:ss";
    if (*p == '.') {
        p++;
        const char *why = read_fraction(&p, &c->frac_ns);
        if (why)
            return why;
    }
    const char *why = read_offset(&p, &c->offset_min);
    if (why)
        return why;
    if (*p)
        return "unexpected characters after the time";
    return NULL;
}

static int parse_rfc3339(const char *s, int64_t *out)
{
    civil c;
    char buf[96];
    const char *why = read_rfc3339(s, &c);
    if (!why)
        why = check_civil(&c, buf, sizeof(buf));
    if (why)
        return time_error(s, why);
    int64_t days = days_from_civil(c.year, c.month, c.day);
    int64_t secs = days * 86400 + c.hour * 3600 + c.minute * 60 + c.second - c.offset_min * 60LL;
    /* Borrow one second for negative times so that INT64_MIN itself
     * (-9223372037 s + 0.145224192 s) does not overflow the multiply. */
    int64_t frac = c.frac_ns;
    if (secs < 0 && frac > 0) {
        secs += 1;
        frac -= NS_PER_SEC;
    }
    int64_t ns;
    if (__builtin_mul_overflow(secs, NS_PER_SEC, &ns) || __builtin_add_overflow(ns, frac, &ns))
        return time_error(s, "outside the representable range 1677-09-21..2262-04-11");
    *out = ns;
    return 0;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len > n && memcmp(s + len - n, suffix, n) == 0;
}

static bool looks_like_epoch(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    while (is_digit(*s))
        s++;
    return *s == '\0';
}

int cs_time_parse(const char *s, int64_t now_ns, int64_t *out_ns)
{
    if (!s || !*s)
        return time_error(s ? s : "", "empty");
    size_t len = strlen(s);
    if (strcmp(s, "now") == 0) {
        *out_ns = now_ns;
        return 0;
    }
    if (ends_with(s, len, " ago"))
        return parse_ago(s, len, now_ns, out_ns);
    if (looks_like_epoch(s))
        return parse_epoch(s, out_ns);
    if (len >= 4 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) &&
        s[4] == '-')
        return parse_rfc3339(s, out_ns);
    return time_error(s, "expected RFC 3339 (2026-01-05T14:30:00Z), epoch nanoseconds, "
                         "'now' or '<duration> ago'");
}

int64_t cs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

int64_t cs_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

char *cs_time_format(int64_t ns, char *buf)
{
    /* Floor division, so times before 1970 get a non-negative fraction. */
    int64_t secs = ns / NS_PER_SEC;
    int64_t frac = ns % NS_PER_SEC;
    if (frac < 0) {
        frac += NS_PER_SEC;
        secs -= 1;
    }
    int64_t days = secs / 86400;
    int64_t sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days -= 1;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(buf, CS_TIME_BUFLEN, "%04lld-%02d-%02dT%02d:%02d:%02d.%09lldZ", (long long)y, m, d,
             (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (long long)frac);
    return buf;
}

char *cs_duration_format(int64_t ns, char *buf)
{
    /* Magnitude as unsigned so INT64_MIN formats too; 3 decimals,
     * truncated toward zero. */
    const char *sign = ns < 0 ? "-" : "";
    uint64_t mag = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    if (mag < 1000)
        snprintf(buf, 32, "%s%lluns", sign, (unsigned long long)mag);
    else if (mag < 1000000)
        snprintf(buf, 32, "%s%llu.%03lluus", sign, (unsigned long long)(mag / 1000),
                 (unsigned long long)(mag % 1000));
    else if (mag < 1000000000)
        snprintf(buf, 32, "%s%llu.%03llums", sign, (unsigned long long)(mag / 1000000),
                 (unsigned long long)(mag / 1000 % 1000));
    else
        snprintf(buf, 32, "%s%llu.%03llus", sign, (unsigned long long)(mag / 1000000000),
                 (unsigned long long)(mag / 1000000 % 1000));
    return buf;
}

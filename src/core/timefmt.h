/*
 * timefmt.h - parsing and printing capstream's one time reference.
 *
 * All times are int64 nanoseconds since the Unix epoch, UTC.
 *
 * Accepted inputs of cs_time_parse():
 *   - RFC 3339 with 0 to 9 fractional digits and Z or +hh:mm/-hh:mm offset:
 *     "2026-01-05T14:30:00Z", "2026-01-05T14:30:00.000123456Z",
 *     "2026-01-05T15:30:00.5+01:00" ('t'/'z' lower case and a space instead
 *     of 'T' are accepted too);
 *   - an integer of epoch nanoseconds: "1767623400000000000" (optionally
 *     signed);
 *   - relative to "now_ns": "90s ago", "5m ago", "1.5h ago", "2d ago",
 *     "250ms ago", "now".
 * Anything else, a field out of range (month 13, second 61, hour 24...), or a
 * result outside int64 gives CS_ETIME with a detail naming the problem.
 *
 * Durations (cs_duration_parse): a number with a unit, "200us", "1.5ms",
 * "3s", "2m", "1h", "1d", "150ns"; a bare integer means nanoseconds.
 */
#ifndef CS_CORE_TIMEFMT_H
#define CS_CORE_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Parses "s" into "*out_ns"; 0 or CS_ETIME (with cs_error_set detail). */
int cs_time_parse(const char *s, int64_t now_ns, int64_t *out_ns);

/* Parses a duration into "*out_ns"; 0 or CS_ETIME. */
int cs_duration_parse(const char *s, int64_t *out_ns);

/* Current wall-clock time (CLOCK_REALTIME) in ns. */
int64_t cs_now_ns(void);

/* Monotonic time (CLOCK_MONOTONIC) in ns: for intervals and deadlines. */
int64_t cs_mono_ns(void);

/* Writes "2026-01-05T14:30:00.000123456Z" (always 9 digits) into "buf" of
 * at least CS_TIME_BUFLEN bytes and returns buf. */
#define CS_TIME_BUFLEN 40
char *cs_time_format(int64_t ns, char *buf);

/* Writes a human duration ("35.210us", "4.002ms", "1.500s") into "buf" of
 * at least 32 bytes and returns buf. */
char *cs_duration_format(int64_t ns, char *buf);

#endif

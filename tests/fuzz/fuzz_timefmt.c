/*
 * fuzz_timefmt.c - libFuzzer harness for core/timefmt.c.
 *
 * Feeds the input, as a NUL-terminated string, to cs_time_parse and
 * cs_duration_parse. Whatever parses must format and parse back to the same
 * value (cs_time_format is exact to the nanosecond), and a failure must
 * leave the output untouched; any mismatch aborts.
 */
#include "core/timefmt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256)
        return 0;
    char s[257];
    memcpy(s, data, size);
    s[size] = '\0';

    const int64_t now = 1767623400000000000LL;
    int64_t t = 77;
    if (cs_time_parse(s, now, &t) == 0) {
        char buf[CS_TIME_BUFLEN];
        int64_t back = 0;
        if (cs_time_parse(cs_time_format(t, buf), now, &back) != 0 || back != t)
            abort();
    } else if (t != 77) {
        abort();
    }

    int64_t d = 77;
    if (cs_duration_parse(s, &d) == 0) {
        char buf[32];
        if (d < 0)
            abort();
        cs_duration_format(d, buf);
    } else if (d != 77) {
        abort();
    }
    return 0;
}

/*
 * fuzz_trailer.c - libFuzzer harness for cs_trailer_read().
 *
 * Input layout:  | ip_end 2 (LE) | wirelen - caplen 1 | frame bytes ... |
 * The frame is copied into an exactly sized heap buffer so that ASan reports
 * any read past caplen. "ip_end" is taken modulo caplen + 2, so 0 (unknown),
 * every offset inside the frame, caplen (no trailer) and one past it (an IP
 * packet longer than the frame) all occur. Every kind, CS_TRAILER_NONE and
 * one out of range are read, and the harness abort()s on a breach of what
 * trailer.c promises:
 *   - the result is one of the four statuses, and *out is untouched unless
 *     it is CS_TRAILER_OK;
 *   - a frame cut short (caplen < wirelen) is CS_TRAILER_CUT, and so is an
 *     "ip_end" past caplen; CS_TRAILER_NONE or an unknown kind is ABSENT;
 *   - on CS_TRAILER_OK: 0 < len <= caplen, len fits after "ip_end" when it
 *     is known, the seconds are not 0, the nanoseconds below 10^9, synced
 *     implies sync_known.
 */
#include "packet/trailer.h"

#include "core/alloc.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { HEADER = 3 };

static void check(int ok)
{
    if (!ok)
        abort();
}

static void check_one(cs_trailer_kind kind, const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
                      uint32_t ip_end)
{
    cs_trailer t, before;
    cs_trailer_status st;

    memset(&t, 0x5a, sizeof(t));
    before = t;
    st = cs_trailer_read(kind, frame, caplen, wirelen, ip_end, &t);
    check(st == CS_TRAILER_OK || st == CS_TRAILER_ABSENT || st == CS_TRAILER_CUT ||
          st == CS_TRAILER_BAD_TIME);
    if (kind <= CS_TRAILER_NONE || kind > CS_TRAILER_VSS) {
        check(st == CS_TRAILER_ABSENT);
    } else if (caplen < wirelen || ip_end > caplen) {
        check(st == CS_TRAILER_CUT);
    }
    if (st != CS_TRAILER_OK) {
        check(memcmp(&t, &before, sizeof(t)) == 0);
        return;
    }
    check(t.len > 0 && t.len <= caplen);
    check(ip_end == 0 || t.len <= caplen - ip_end);
    check(t.ts_ns >= 1000000000);
    check(!t.synced || t.sync_known);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t caplen, wirelen, ip_end;
    uint8_t *copy;

    if (size < HEADER)
        return 0;
    caplen = (uint32_t)(size - HEADER);
    wirelen = caplen + (data[2] >= 0xc0 ? data[2] & 3 : 0); /* now and then cut short */
    ip_end = (uint32_t)(data[0] | (data[1] << 8)) % (caplen + 2);
    copy = cs_malloc(caplen ? caplen : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data + HEADER, caplen);
    for (int k = CS_TRAILER_NONE; k <= CS_TRAILER_VSS + 1; k++)
        check_one((cs_trailer_kind)k, copy, caplen, wirelen, ip_end);
    cs_free(copy);
    return 0;
}

/*
 * fuzz_itch.c - libFuzzer harness of the ITCH 5.0 library
 * (src/decode/itch/itch.c).
 *
 * Input: the first byte picks the order table's bound (1 + byte % 64
 * orders, so that filling, growing and backward-shift deletion all run);
 * the rest is read as ITCH's BinaryFILE layout, a 2-byte big-endian length
 * then that many message bytes, repeated (a length past the end takes what
 * is left). Each message is decoded into a cs_itch_out; every field name
 * and value is read (summed) so AddressSanitizer sees a dangling or
 * overlong pointer, and the order count must stay within the bound.
 * Seeds in tests/fuzz/seeds/fuzz_itch/ hold every message type, an order's
 * life (R, A, E, U, D) and bad lengths.
 */
#include "decode/itch/itch.h"

#include "core/cursor.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t cs__fuzz_itch_sum(cs_str s)
{
    uint64_t sum = 0;

    if (s.len != 0 && s.p == NULL)
        abort();
    for (size_t i = 0; i < s.len; i++)
        sum += (uint8_t)s.p[i];
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cs_itch_out out;
    volatile uint64_t sum = 0;
    size_t bound, off = 1;
    cs_itch_stats s;
    cs_itch *st;

    if (size == 0)
        return 0;
    bound = 1 + data[0] % 64u;
    st = cs_itch_new(bound);
    if (st == NULL)
        return 0;
    while (off + 2 <= size) {
        size_t len = cs_rd_be16(data + off);
        uint8_t *msg;

        off += 2;
        if (len > size - off)
            len = size - off;
        msg = malloc(len ? len : 1); /* exactly its size: ASan sees overreads */
        if (msg == NULL)
            break;
        memcpy(msg, data + off, len);
        out.n_fields = 0;
        out.text_used = 0;
        (void)cs_itch_decode(st, msg, len, &out);
        if (out.n_fields > sizeof(out.fields) / sizeof(out.fields[0]))
            abort();
        sum += cs__fuzz_itch_sum(out.type);
        for (size_t i = 0; i < out.n_fields; i++)
            sum += cs__fuzz_itch_sum(out.fields[i].name) + cs__fuzz_itch_sum(out.fields[i].val);
        free(msg);
        off += len;
    }
    cs_itch_stats_get(st, &s);
    if (s.orders_live > bound)
        abort();
    cs_itch_free(st);
    (void)sum;
    return 0;
}

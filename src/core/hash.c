/*
 * hash.c - cs_hash64: word-at-a-time multiply/xor-shift hash.
 *
 * State starts from the seed and the length; each 8-byte little-endian word
 * w is folded in as  h = (h ^ mix(w)) * K  and the tail (< 8 bytes) is packed
 * into one final word. cs_mix64 finishes. cs_checksum64 (see hash.h) folds
 * long buffers into four lanes first. Deterministic across runs and
 * machines of the same endianness (capstream only targets little-endian
 * Linux; on-disk checksums are computed over little-endian data).
 */
#include "core/hash.h"

#include "core/cursor.h"

#include <string.h>

#define HASH_K 0x9e3779b97f4a7c15ULL

uint64_t cs_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ (len * HASH_K);
    uint64_t w;

    while (len >= 8) {
        memcpy(&w, p, 8);
        h = (h ^ cs_mix64(w)) * HASH_K;
        p += 8;
        len -= 8;
    }
    w = 0;
    if (len > 0) {
        memcpy(&w, p, len);
        h = (h ^ cs_mix64(w ^ len)) * HASH_K;
    }
    return cs_mix64(h);
}

static uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t load_le64(const unsigned char *p)
{
    return cs_rd_le64(p); /* one load on x86 (the byte loop it replaced was not) */
}

uint64_t cs_checksum64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t lane[5] = {seed, seed ^ 1, seed ^ 2, seed ^ 3, (uint64_t)len};
    unsigned char tail[32] = {0};
    size_t i = 0;

    for (; i + 32 <= len; i += 32)
        for (int k = 0; k < 4; k++)
            lane[k] = rotl64((lane[k] ^ load_le64(p + i + 8 * k)) * HASH_K, 29);
    memcpy(tail, p + i, len - i);
    for (int k = 0; k < 4; k++)
        lane[k] = rotl64((lane[k] ^ load_le64(tail + 8 * k)) * HASH_K, 29);
    return cs_hash64(lane, sizeof(lane), seed);
}

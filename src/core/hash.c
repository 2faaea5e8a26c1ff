/*
 * hash.c - cs_hash64: word-at-a-time multiply/xor-shift hash.
 *
 * State starts from the seed and the length; each 8-byte little-endian word
 * w is folded in as  h = (h ^ mix(w)) * K  and the tail (< 8 bytes) is packed
 * into one final word. cs_mix64 finishes. Deterministic across runs and
 * machines of the same endianness (capstream only targets little-endian
 * Linux; on-disk checksums are computed over little-endian data).
 */
#include "core/hash.h"

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

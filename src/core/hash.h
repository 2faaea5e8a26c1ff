/*
 * hash.h - a fast non-cryptographic 64-bit hash for keys and checksums.
 *
 * Reads 8 bytes at a time (memcpy, so alignment-safe), multiplies and
 * xor-shifts each word into the state, then finishes with a 64-bit avalanche
 * mix. Used for hash tables and as the integrity checksum of index files
 * (it detects torn or corrupt files; it is not an authenticity check).
 */
#ifndef CS_CORE_HASH_H
#define CS_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t cs_hash64(const void *data, size_t len, uint64_t seed);

/*
 * Checksum of a large buffer. cs_hash64 runs one dependent chain (about
 * 3 ns a word); here the words are first folded into four independent
 * lanes (xor, odd multiply, rotate: each step a bijection of its lane, so a
 * change of any one word changes its lane), and the lanes plus the length
 * are hashed with cs_hash64. Several times faster on big buffers; detects
 * torn, zero-filled and corrupted data, not tampering.
 */
uint64_t cs_checksum64(const void *data, size_t len, uint64_t seed);

/* Final avalanche of a 64-bit value (good for hashing integers). */
static inline uint64_t cs_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

#endif

/*
 * feeds_cache.h - a serving process's cache of the feeds summaries
 * (store/feeds.h) of one message store, so that GET /api/v1/feeds over a
 * large, growing store reads only what was appended since the last
 * request (store/feeds_cache.c says how, and when it reads the range
 * whole instead).
 *
 * Use: cs_feeds_read_cached() where cs_feeds_read() would be called, for
 * the same answer; a cache of one's own (tests) with cs_feeds_cache_new(),
 * cs_feeds_cache_read() and cs_feeds_cache_free().
 *
 * Threading: a cs_feeds_cache is used by one thread at a time; the
 * process-wide one behind cs_feeds_read_cached() takes a mutex, so any
 * thread may call it. Ownership: "*out" belongs to the caller, freed with
 * cs_feeds_free().
 */
#ifndef CS_STORE_FEEDS_CACHE_H
#define CS_STORE_FEEDS_CACHE_H

#include "store/feeds.h"
#include "store/msgstore.h"

#include <stdint.h>

typedef struct cs_feeds_cache cs_feeds_cache;

int cs_feeds_cache_new(cs_feeds_cache **out);

/* Frees "c" (NULL is fine). */
void cs_feeds_cache_free(cs_feeds_cache *c);

/* What cs_feeds_read(r, after, before, out) gives, from "c" brought up to
 * date with the store "r" reads (a cache follows one store: another one
 * empties it first). */
int cs_feeds_cache_read(cs_feeds_cache *c, cs_msgreader *r, int64_t after, int64_t before,
                        cs_feeds **out);

/* cs_feeds_cache_read() on the process-wide cache. */
int cs_feeds_read_cached(cs_msgreader *r, int64_t after, int64_t before, cs_feeds **out);

/* Requests answered from the cache, and those read whole (for tests). */
typedef struct cs_feeds_cache_stats {
    uint64_t cached, whole, rebuilds;
    uint64_t bytes; /* memory held, roughly */
} cs_feeds_cache_stats;

void cs_feeds_cache_stats_get(const cs_feeds_cache *c, cs_feeds_cache_stats *st);

#endif

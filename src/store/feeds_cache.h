/*
 * feeds_cache.h - a serving process's cache of the feeds summaries
 * (store/feeds.h) of one message store, so that GET /api/v1/feeds over a
 * large, growing store reads only what was appended since the cache last
 * read, and sums whole seconds from per-second parts
 * (store/feeds_cache_int.h says how, and when it reads the range whole).
 *
 * Use: a server starts one per store with cs_feeds_cache_start(): a
 * background thread builds it and keeps it current; cs_feeds_cache_read()
 * answers from it once it is ready and with cs_feeds_read() until then, so
 * no request waits for a build. cs_feeds_cache_stop() joins the thread and
 * frees the cache. Tests may use one without a thread
 * (cs_feeds_cache_new()): each read then brings it up to date itself.
 *
 * Either way cs_feeds_cache_read() gives what cs_feeds_read(r, after,
 * before, out) gives, byte for byte once written as JSON.
 *
 * Threading: any thread may call cs_feeds_cache_read() and
 * cs_feeds_cache_stats_get() on one cache at once (it takes its lock);
 * cs_feeds_cache_stop() and cs_feeds_cache_free() once no call is under
 * way. Ownership: "*out" belongs to the caller, freed with cs_feeds_free().
 */
#ifndef CS_STORE_FEEDS_CACHE_H
#define CS_STORE_FEEDS_CACHE_H

#include "store/feeds.h"
#include "store/msgstore.h"

#include <stdint.h>

typedef struct cs_feeds_cache cs_feeds_cache;

/* A cache brought up to date by each cs_feeds_cache_read() (tests). */
int cs_feeds_cache_new(cs_feeds_cache **out);

/* Frees "c" (NULL is fine), stopping its thread if it has one. */
void cs_feeds_cache_free(cs_feeds_cache *c);

/* A cache of the store "store_dir" built and kept current by a thread of
 * its own, started now. */
int cs_feeds_cache_start(const char *store_dir, cs_feeds_cache **out);

/* Stops the thread of "c" (joined before it returns) and frees "c"
 * (NULL is fine). */
void cs_feeds_cache_stop(cs_feeds_cache *c);

/* What cs_feeds_read(r, after, before, out) gives: from "c" if it is
 * ready and follows the store "r" reads, else from cs_feeds_read(). */
int cs_feeds_cache_read(cs_feeds_cache *c, cs_msgreader *r, int64_t after, int64_t before,
                        cs_feeds **out);

/* Requests answered from the cache, and those read whole (for tests). */
typedef struct cs_feeds_cache_stats {
    uint64_t cached, whole, rebuilds;
    uint64_t builds; /* by the thread: whole builds published */
    uint64_t bytes;  /* memory held, roughly */
    int ready;       /* requests may be answered from it */
} cs_feeds_cache_stats;

void cs_feeds_cache_stats_get(cs_feeds_cache *c, cs_feeds_cache_stats *st);

#endif

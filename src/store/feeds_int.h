/*
 * feeds_int.h - what store/feeds.c lends its cache (store/feeds_cache.c)
 * to build a cs_feeds from partial aggregates beside records: a feed's
 * key, its summary found or made by endpoints, the reads of a time range
 * without finishing, and the merges that cs_feeds_finish() leaves alone.
 * Nothing outside src/store/feeds*.c and tests/ includes it.
 *
 * Threading and ownership as feeds.h: one thread per cs_feeds; summaries
 * returned here belong to the cs_feeds and never move until it is freed.
 */
#ifndef CS_STORE_FEEDS_INT_H
#define CS_STORE_FEEDS_INT_H

#include "store/feeds.h"

#include <stdint.h>

/* A feed's identity: tap, IP version, destination address and port. */
typedef struct cs__feed_key {
    uint16_t tap;
    uint16_t port;
    uint8_t ip_version;
    uint8_t pad[3];
    uint8_t addr[16];
} cs__feed_key;

/* The key of side "side" (0: a, 1: b) of "ep" at its tap. */
cs__feed_key cs__feed_key_of(const cs_endpoints *ep, int side);

/* The summary of side "side" of "ep" in "fs", made if new. */
int cs__feeds_summary(cs_feeds *fs, const cs_endpoints *ep, int side, cs_feed_summary **out);

/* Reads the races and messages with after <= t < before into "fs" as
 * cs_feeds_read() does (losing copies after "before" included), without
 * gaps and without finishing; ranges read one after the other into one
 * "fs" must come in ascending time order. */
int cs__feeds_read_range(cs_feeds *fs, cs_msgreader *r, int64_t after, int64_t before);

/* Reads the gaps with after <= ts < before into "fs". */
int cs__feeds_read_gaps(cs_feeds *fs, cs_msgreader *r, int64_t after, int64_t before);

/* Notes session "p" ("len" bytes) of "s" as seen (first seen first). */
void cs__feeds_session(cs_feed_summary *s, const char *p, size_t len);

/* Adds the leads of "n" races "s" won (races and races_won not counted). */
int cs__feeds_add_leads(cs_feed_summary *s, const int32_t *v, size_t n);

/* After cs_feeds_finish(): "n" ITCH messages in ms "ms" of "s" become its
 * busiest millisecond if more than it has, or as many and earlier. */
void cs__feeds_offer_busiest(cs_feed_summary *s, int64_t ms, uint64_t n);

#endif

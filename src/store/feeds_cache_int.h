/*
 * feeds_cache_int.h - the feeds cache's data and the functions its files
 * (src/store/feeds_cache*.c) share. The cache keeps the feeds summaries
 * of a store (feeds.h) up to date for a serving process, so that it reads
 * only the records appended since its last update, and a range of whole
 * seconds is summed from per-second parts instead of read (feeds_cache.h).
 *
 * How it works. Per message file group (file id "seg": its msg- and lat-
 * files), the cache keeps what it has read of each file (offset after the
 * last good record, inode, the frame head of that last record) and, per
 * second of capture time and per feed, the parts of a summary:
 *
 *   file seg ─► bucket sec ─► agg feed: packets, data, heartbeats,
 *                                       retransmitted data, ITCH messages
 *                                       by type, races lost, the leads of
 *                                       the races won (int32, ns), the
 *                                       first 8 sessions with where they
 *                                       were first seen, the busiest ms
 *             ─► ring feed: the busiest-ms ring of feeds.c over this file
 *
 * An update reads what the files gained (lat- files first, then msg-
 * files, each from where the last read stopped); a request answers
 * [after, before) as: the partial seconds at its ends read from the
 * records by feeds.c (cs__feeds_read_range); every whole second in
 * between summed from the buckets, except the busiest ms of a second two
 * groups both hold ITCH messages of, counted per ms from its records
 * (count_second); gaps read as cs_feeds_read() reads them.
 *
 * Why the sum is the same answer (and when the cache does not answer):
 *   - counters add up; a race is filed under the second of its request,
 *     its loser found by the response's id (a sighting read before its
 *     race waits in "sights", a race read before its sighting in
 *     "races"); a loss is counted when the response's time is the race's
 *     resp_ts_ns, else the second is marked inexact.
 *   - the lead percentiles are selected from all the leads of the range
 *     (buckets keep every lead; a lead beyond int32 marks its second
 *     inexact).
 *   - busiest ms: when no ITCH message of the range is late (more than
 *     CS_FEED_BUSY_WINDOW ms older than its feed's newest before it), the
 *     ring of feeds.c counts every ms whole, so the busiest is the largest
 *     per-ms count, the earliest of equals: the max over the seconds'
 *     busiest. A message late in its file's ring marks its second; a later
 *     group whose messages may be late behind an earlier one's is checked
 *     per request; a second two groups share is counted from the records.
 *   - sessions: the first 8 sessions in store order of a union are among
 *     the first 8 of each part, ordered by where they were first seen
 *     (file id, offset). The ends read from records have no positions:
 *     with more than one session in all, the cache does not answer.
 * A request that touches a marked second, one with no whole second, or a
 * feed whose sessions cannot be ordered is read whole by cs_feeds_read().
 *
 * A file that shrank, changed inode or whose last record changed was
 * replaced (reanalysis): the whole cache is rebuilt (by the builder
 * thread while requests read whole; in place by a cache without one). A group deleted
 * (retention) is dropped alone unless one of its sightings resolved a
 * race of another group (then rebuilt too). A sighting unmatched after
 * SIGHT_KEEP_NS of request time is forgotten; a race whose response is
 * older than what was forgotten marks its second inexact.
 *
 * Memory: per second and feed about 170 bytes plus 8 per ITCH type seen
 * (about 300 in all for a full ITCH feed) and 4 per race won; per feed
 * and group a ring of 64 counts; pending races and sightings 40 bytes
 * each. Over CACHE_BYTES_MAX the cache is emptied and every request read
 * whole.
 *
 * Who updates when: feeds_cache.c (a background thread of the serving
 * process, and each request once the cache is ready, for what the files
 * gained since the thread's last update).
 *
 * Files, one job each:
 *   feeds_cache_parts.c  the data's memory: pending races and sightings,
 *                        feeds, sessions, groups, seconds, rings
 *   feeds_cache_scan.c   reading what the store's files gained into
 *                        per-second parts; replaced and deleted groups
 *   feeds_cache_sum.c    answering a range: the parts summed, the ends
 *                        read from records
 *   feeds_cache.c        the cache's life: locking, the background
 *                        builder thread, falling back to cs_feeds_read()
 *
 * Threading: a cs__fc is used by one thread at a time (feeds_cache.c
 * holds its lock around every use of the published one, and builds a new
 * one alone before publishing it). It reads with its own buffers, not the
 * reader's (which reads the ends). It includes msgstore_int.h to scan the
 * store's files from an offset on (cs__msgfile_scan) and to decode their
 * records, as the message store's own reader does.
 */
#ifndef CS_STORE_FEEDS_CACHE_INT_H
#define CS_STORE_FEEDS_CACHE_INT_H

#include "store/feeds.h"
#include "store/feeds_int.h"
#include "store/msgstore.h"
#include "store/msgstore_int.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define NS_PER_SEC 1000000000LL
#define NS_PER_MS 1000000LL
#define MS_PER_SEC 1000LL
#define WINDOW CS_FEED_BUSY_WINDOW
#define SIGHT_KEEP_NS (10 * NS_PER_SEC)
#define CACHE_BYTES_MAX ((uint64_t)1 << 30)
#define POS_SEG_SHIFT 40 /* a record's store position: file id << 40 | offset */

enum { PART_MSG, PART_LAT, N_PARTS };

typedef struct fc_type {
    uint32_t n;
    uint8_t t;
} fc_type;

typedef struct fc_sess {
    uint64_t pos; /* where it was first seen */
    uint32_t idx; /* in cs__fc.sess */
} fc_sess;

typedef struct fc_agg {
    uint32_t feed; /* in cs__fc.feeds */
    uint32_t n_types, n_sess;
    uint64_t packets, data_packets, heartbeats, retrans_data, messages, unknown_types;
    uint64_t races_lost;
    fc_type *types;
    size_t cap_types;
    fc_sess *sess;
    size_t cap_sess;
    int32_t *leads; /* of the races won */
    size_t n_leads, cap_leads;
    uint64_t best; /* the busiest closed ms of the second, earliest of equals */
    int64_t best_ms;
} fc_agg;

typedef struct fc_bucket {
    int64_t sec;
    fc_agg *aggs;
    size_t n_aggs, cap_aggs;
    uint64_t late; /* ITCH messages late in their file's ring */
    int inexact;
    int has_itch;
} fc_bucket;

typedef struct fc_ring {
    int started;
    int64_t head_ms, min_ms, max_ms;
    uint64_t n[WINDOW];
} fc_ring;

typedef struct fc_part {
    int read; /* something was read: the fields below are set */
    uint64_t dev, ino;
    uint64_t end;      /* offset after the last good record read */
    uint64_t last_off; /* the frame of the last record read (0: none) */
    uint8_t last_head[CS__FRAME_PAYLOAD];
    int listed; /* in the directory at this update */
} fc_part;

typedef struct fc_file {
    uint32_t seg;
    fc_part part[N_PARTS];
    fc_bucket *b; /* by sec, ascending */
    size_t n_b, cap_b;
    fc_ring *rings; /* by feed */
    size_t n_rings;
    int lent; /* one of its sightings resolved a race of another group */
} fc_file;

typedef struct fc_feed {
    cs__feed_key key;
    cs_endpoints ep;
    int side;
} fc_feed;

/* A race waiting for its sighting (id = resp_id, ts = resp_ts_ns, sec and
 * seg: its bucket, feed: the winner) or a sighting waiting for its race
 * (id, ts, seg: its group, feed: its own). */
typedef struct fc_pend {
    uint64_t id;
    int64_t ts, sec;
    uint32_t seg, feed;
    int used;
} fc_pend;

typedef struct fc_map {
    fc_pend *v;
    size_t n, cap; /* cap: 0 or a power of two */
} fc_map;

typedef struct cs__fc {
    char *dir; /* the store's messages directory */
    fc_feed *feeds;
    size_t n_feeds, cap_feeds;
    uint32_t last_feed;
    char (*sess)[CS_FEED_SESSION_LEN + 1];
    size_t n_sess, cap_sess;
    fc_file **files; /* by seg, ascending */
    size_t n_files, cap_files;
    fc_map races, sights;
    int64_t max_req_ts, sight_floor;
    cs__scanbuf sb;
    cs__recdec dec;
    fc_file *cur; /* the file being read */
    uint64_t cur_frame;
    int err;
    int over; /* grew past CACHE_BYTES_MAX: every request is read whole */
    uint64_t bytes;
    uint64_t rebuilds; /* emptied and read again after a replacement */
    /* a build's, by its owner (NULL: an update under the lock): */
    const atomic_int *cancel;   /* set: the update stops with CS_EBUSY */
    const atomic_int *yield_to; /* above 0: the update waits */
    uint64_t yielded_ms;        /* how long it waited */
} cs__fc;

/* ---- time ---------------------------------------------------------------- */

static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return a % b < 0 ? q - 1 : q;
}

static inline int64_t ceil_div(int64_t a, int64_t b)
{
    return -floor_div(-a, b);
}

/* ---- feeds_cache_parts.c ------------------------------------------------- */

int cs__fc_new(cs__fc **out);

/* Frees "c" (NULL is fine). */
void cs__fc_free(cs__fc *c);

/* Forgets everything read (the directory stays). */
void cs__fc_empty(cs__fc *c);

/* Pending races and sightings, by id: the entry of "id" or NULL; put;
 * delete "p"; rebuild at "cap" slots keeping the entries of groups other
 * than "drop_seg" (-1: all) from "floor" on; shrink when sparse. */
fc_pend *cs__fc_map_find(fc_map *m, uint64_t id);
int cs__fc_map_put(fc_map *m, const fc_pend *e);
void cs__fc_map_del(fc_map *m, fc_pend *p);
int cs__fc_map_rebuild(fc_map *m, size_t cap, int64_t drop_seg, int64_t floor);
int cs__fc_map_shrink(fc_map *m);

/* The index of side "side" of "ep" in "c->feeds", made if new. */
int cs__fc_feed_index(cs__fc *c, const cs_endpoints *ep, int side, uint32_t *out);

/* The index of session "s" (cut to CS_FEED_SESSION_LEN) in "c->sess". */
int cs__fc_sess_index(cs__fc *c, cs_str s, uint32_t *out);

/* Group "seg" or NULL, "*at" where it is or would go; made if new; dropped. */
fc_file *cs__fc_file_find(cs__fc *c, uint32_t seg, size_t *at);
int cs__fc_file_get(cs__fc *c, uint32_t seg, fc_file **out);
void cs__fc_file_drop(cs__fc *c, size_t at);

/* The part of feed "feed" in second "sec" of "f", and its bucket, made if new. */
int cs__fc_agg_at(cs__fc *c, fc_file *f, int64_t sec, uint32_t feed, fc_bucket **b, fc_agg **a);

/* The busiest-ms ring of "feed" over "f", made if new; NULL: no memory. */
fc_ring *cs__fc_ring_of(fc_file *f, uint32_t feed);

/* ---- feeds_cache_scan.c -------------------------------------------------- */

/* What cs__fc_update() returns besides 0 and errors. */
enum {
    CS__FC_UNCACHED = 1, /* the cache grew past CACHE_BYTES_MAX: read whole */
    CS__FC_REPLACED = 2, /* a group was replaced (only without "rebuild") */
};

/*
 * Brings "c" up to date with the messages directory "dir" (another one
 * empties it first): reads what the files gained. When a group was
 * replaced, or one deleted had resolved another's race, "c" is emptied and
 * read again if "rebuild", else CS__FC_REPLACED is returned with "c" left
 * as it was (its owner drops it: a rebuild is as long as a first build).
 */
int cs__fc_update(cs__fc *c, const char *dir, int rebuild);

/* ---- feeds_cache_sum.c --------------------------------------------------- */

/*
 * The summaries of [after, before) as cs_feeds_read() gives them, from
 * "c" (up to date) and the records of "r" at the range's ends: 0 with
 * "*out" set, 1 if the cache cannot answer this range, or an error.
 */
int cs__fc_answer(const cs__fc *c, cs_msgreader *r, int64_t after, int64_t before, cs_feeds **out);

#endif

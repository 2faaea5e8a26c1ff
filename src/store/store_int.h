/*
 * store_int.h - the store's internals, shared by store.c (open, recovery),
 * store_retain.c (retention, a full disk), segwriter.c (appending) and the
 * readers (query_int.h and the query's files, lookup.c, scan.c); store.c's
 * opening comment lists every file.
 */
#ifndef CS_STORE_STORE_INT_H
#define CS_STORE_STORE_INT_H

#include "store/index.h"
#include "store/order.h"
#include "store/pcapw.h"
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The open segment's index is checkpointed every this many bytes, so a
 * reader of a live store scans at most this much of it (index.h). */
#define CS_STORE_CHECKPOINT_BYTES (32u << 20)

typedef struct cs_segment {
    uint32_t id;
    cs_idx idx;          /* loaded index (mmapped file or in-memory for a live segment) */
    uint64_t disk_bytes; /* pcap bytes on disk */
    uint64_t aux_bytes;  /* idx + taps bytes on disk */
    int live;            /* being written by another process: indexed in memory */
    uint64_t ckpt_bytes; /* live: bytes covered by the writer's checkpoint */
    int mem_index;       /* its index file could not be written (disk full):
                            indexed in memory, written by the next repair */
} cs_segment;

/* One segment being written: partition p of the open group. */
/* Entries of a segment's taps file (segwriter.c). */
#define CS_SIDE_RUN 8            /* tap run */
#define CS_SIDE_CAPTIME 16       /* capture time */
#define CS_SIDE_KIND_CAPTIME 1   /* u16 at byte 6 of a capture-time entry */
#define CS_SIDE_CAPTIME_BUF 4096 /* bytes of capture-time entries held before a write */

typedef struct cs_segwr {
    uint32_t id; /* 0: no file yet in this group */
    int fd;
    int taps_fd;
    uint16_t tap;
    uint8_t *captimes; /* capture-time entries not yet in the taps file */
    uint32_t captimes_len;
    cs_pcapw w;
    cs_idx_builder b;
    uint64_t ckpt; /* bytes covered by the last checkpoint */
} cs_segwr;

/* An open group set aside while packets of another link type arrive. */
#define CS_STORE_PARKED_MAX 7
typedef struct cs_parked_group {
    cs_segwr *wr; /* [partitions] */
    uint32_t base, linktype;
    uint64_t bytes, pkts;
    uint32_t n_open;     /* segments with a file (each holds a write buffer) */
    cs_order_writer ord; /* its capture-order record, still being written */
} cs_parked_group;

/* Segments whose index a close could not write, at most: every partition
 * of the open group and of each parked group (cs__group_close). */
#define CS_STORE_UNINDEXED_MAX(partitions) ((partitions) * (1u + CS_STORE_PARKED_MAX))

/* A group catalog read from disk (catalog.c). */
typedef struct cs_cat {
    uint32_t first; /* the group's first segment id */
    uint8_t *buf;   /* the whole file */
    size_t len;
    size_t at; /* cs__cat_find's place */
} cs_cat;

typedef struct cs_cat_wait {
    uint32_t first; /* the group's first segment id */
    uint64_t mark;  /* cs_aio_mark after its files were handed over */
} cs_cat_wait;

struct cs_store {
    char *dir;
    char *pktdir;
    uint32_t flags;
    int lock_fd;
    uint64_t segment_bytes, max_bytes, max_message_bytes;
    cs_segment *segs; /* closed segments (and a live one), ascending id */
    size_t n_segs, cap_segs;
    uint32_t next_id;
    uint32_t repaired;
    uint64_t deleted;

    /* writer: the open group, one segment per partition that has packets,
     * written by a background thread */
    uint32_t partitions;
    cs_aio *aio;
    cs_segwr *wr;         /* [partitions], allocated by the first append */
    int wr_open;          /* a group is open */
    uint32_t wr_base;     /* id of the group's partition 0 */
    uint32_t wr_linktype; /* of every segment of the group */
    uint64_t wr_bytes;    /* pcap and capture-time bytes of the group's segments */
    cs_order_writer ord;  /* the open group's capture-order record (order.h) */
    /* open groups of other link types, set aside (segwriter.c) */
    cs_parked_group parked[CS_STORE_PARKED_MAX];
    uint32_t n_parked;
    uint64_t wr_pkts; /* packets of the group's segments */
    uint64_t wr_room; /* budget left for the open group (retention) */

    /* what this handle stored, and lost to a failed write (a full disk):
     * see cs__writes_lost */
    uint32_t session_first;     /* first segment id this handle wrote */
    uint64_t pkts_written;      /* in segments indexed and listed */
    _Atomic uint64_t pkts_lost; /* appended, then cut back or never written */
    int full;                   /* no room even after retention: appends fail */
    uint32_t *unindexed;        /* segments of the closing group whose index */
    size_t n_unindexed;         /* could not be written: cs__writes_lost */
    uint64_t unindexed_pkts;    /* repairs them */
    uint32_t lost_at;           /* lost writes handled */
    uint64_t written_at_loss;   /* pkts_written after the last one */
    int ckpt_warned;            /* a checkpoint failure was logged */
    int quiet_repair;           /* cs__writes_lost is repairing */
    char lost_why[256];         /* the failed write's error */

    /* with a budget, the oldest closed group, which the background writer
     * deletes if the disk fills (cs__make_room); the writer marks it gone
     * and the appending thread then takes it off the list */
    pthread_mutex_t victim_mu;
    uint32_t victim;      /* its first segment id; 0: none */
    uint32_t victim_end;  /* the newest closed group's, or the first whose
                             files the writer still holds: not deleted */
    cs_cat_wait *closing; /* closed groups whose files may still be open */
    size_t n_closing, cap_closing;
    atomic_int victim_gone;

    /* group catalogs read at open: the summaries of their segments point
     * into them */
    cs_cat *cats;
    size_t n_cats, cap_cats;
    /* closed groups whose catalogs wait for the background writer to
     * finish their files */
    cs_cat_wait *cat_wait;
    size_t n_cat_wait, cap_cat_wait;

    /* reader: one mapped segment at a time, shared-locked */
    uint32_t rd_id;
    int rd_fd;
    const uint8_t *rd_map;
    size_t rd_size;
};

/* Path of segment file "id" with suffix ("pcap", "idx", "taps"). */
int cs__seg_path(const cs_store *s, uint32_t id, const char *suffix, char *buf, size_t size);

/* Maps segment "id" read-only with a shared lock (replacing the previous
 * mapping). */
int cs__seg_map(cs_store *s, uint32_t id);
void cs__seg_unmap(cs_store *s);

/* Size of the file at "path" in bytes; 0 if it cannot be read. */
uint64_t cs__file_size(const char *path);

/* Lists segment "id" as an open does ("has_taps": whether it has a taps
 * file, -1: look): from its index file, or, without "may_fix", from its
 * writer's checkpoint if it is live (livecache.c); a segment whose index
 * is missing or does not match its pcap is indexed from its packets, and
 * with "may_fix" repaired on disk. 0 and nothing listed for a segment
 * without packets or too damaged to read. */
int cs__seg_load(cs_store *s, uint32_t id, int has_taps, int may_fix);

/* Adds the segment this writer just closed to the list, after its index
 * is written ("pcap_bytes" long; the file may still be catching up). */
int cs__seg_register(cs_store *s, uint32_t id, uint64_t pcap_bytes);

/* Closes the open group: every segment written, indexed and registered
 * (segwriter.c); then runs retention. */
int cs__group_close(cs_store *s);

/* Frees the writers' buffers and index builders (segwriter.c). */
void cs__writers_free(cs_store *s);

/* Deletes oldest groups (store_retain.c) while the closed segments and
 * "open_bytes" of the open group are over budget; sets wr_room to what
 * the open group may take. 1 if it deleted something. */
int cs__retention(cs_store *s, uint64_t open_bytes);

/* The background writer's hook on a full disk (core/aio.h): deletes the
 * files of the oldest group left of those published, under victim_mu,
 * without touching the segment list; 1 if it freed some. */
int cs__make_room(void *store);

/* Takes a group cs__make_room deleted off the list, and publishes the
 * oldest group as the next one it may delete (with a budget). */
void cs__victim_update(cs_store *s);

/* Deletes the oldest closed group (not one a reader holds): 1 if it freed
 * bytes. */
int cs__retention_one(cs_store *s);

/* Closes the open group's files as they are, without indexing them:
 * unsent buffers are dropped. Writes the ids of the segments it had to
 * "ids" (room for s->partitions) and returns how many; "*appended": the
 * packets appended to them. */
size_t cs__group_drop(cs_store *s, uint32_t *ids, uint64_t *appended);

/* After the background writer lost a write (disk full; store_retain.c):
 * cuts every segment this handle wrote back to the records that reached
 * the disk, indexes them, counts the packets lost; with a budget, deletes
 * the oldest group so that storing goes on, else marks the store full. */
int cs__writes_lost(cs_store *s);

/* Checks the body of the segment's index before its first use; a damaged
 * one is replaced by an index rebuilt in memory from the packets (with a
 * warning), so the segment is still answered. CS_ENOTFOUND if retention
 * deleted the segment since the store was opened. */
int cs__seg_verify(cs_store *s, cs_segment *seg);

/* Indexes "seg" (its id set), a segment another process is writing, in
 * memory from the writer's checkpoint and the packets after it, scanning
 * only what no earlier open of this process scanned (livecache.c). 0 done;
 * 1 the segment is not live (or its index file is missing): nothing done;
 * negative on a damaged checkpoint or a read error. */
int cs__seg_index_live(cs_store *s, cs_segment *seg);

/* What the live-segment cache did in this process (for tests). */
typedef struct cs__livecache_stats {
    uint64_t starts;        /* entries (re)started from a checkpoint */
    uint64_t resumed;       /* opens that went on from an entry */
    uint64_t bytes_scanned; /* pcap bytes scanned after checkpoints */
} cs__livecache_stats;
void cs__livecache_stats_get(cs__livecache_stats *out);

/* Finds a segment by id (NULL if gone). */
cs_segment *cs__seg_find(cs_store *s, uint32_t id);

/* Reads the tap runs of segment "id" (cs_free *runs). */
int cs__seg_taps(const cs_store *s, uint32_t id, cs_tap_run **runs, size_t *n);

/* The host capture times segment "id"'s taps file keeps for records whose
 * time is another reference's, ascending by record offset (none: n = 0). */
typedef struct cs_captime {
    uint32_t offset;
    int64_t cap_ns;
} cs_captime;
int cs__seg_captimes(const cs_store *s, uint32_t id, cs_captime **v, size_t *n);

/* ---- group catalogs (catalog.c) ---- */

/* Path of the catalog of the group starting at segment "first". */
void cs__cat_path(const cs_store *s, uint32_t first, char *buf, size_t size);

/* Writes the catalog of the group starting at "first" from the loaded
 * indexes of its segments (nothing for a store of one partition, a group
 * with no segment left, or one with a segment indexed in memory). */
int cs__cat_write(cs_store *s, uint32_t first);

/* Reads and checks the catalog of group "first". CS_ENOTFOUND if there is
 * none, CS_ECORRUPT if it is damaged or not this store's. */
int cs__cat_read(const cs_store *s, uint32_t first, cs_cat *c);

/* Finds segment "id" in "c", searching forward from the last find (ids
 * are asked in ascending order): 1 and its index head and taps bytes, or
 * 0 if the catalog does not list it. */
int cs__cat_find(cs_cat *c, uint32_t id, const uint8_t **head, size_t *head_len,
                 uint64_t *taps_bytes);
void cs__cat_free(cs_cat *c);

/* Writes the catalogs of closed groups once the background writer has
 * finished their files (and never after it lost a write); with "all",
 * every one still waiting (CS_STORE_SYNC: the files were written and
 * synced in place). Failures only cost a slower open: warned. */
void cs__cat_write_waiting(cs_store *s, int all);

#endif

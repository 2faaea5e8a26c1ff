/*
 * store_int.h - the store's internals, shared by store.c (open, recovery,
 * retention), segwriter.c (appending) and query.c (reading).
 */
#ifndef CS_STORE_STORE_INT_H
#define CS_STORE_STORE_INT_H

#include "store/index.h"
#include "store/pcapw.h"
#include "store/store.h"

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
} cs_segment;

/* One segment being written: partition p of the open group. */
typedef struct cs_segwr {
    uint32_t id; /* 0: no file yet in this group */
    int fd;
    int taps_fd;
    uint16_t tap;
    cs_pcapw w;
    cs_idx_builder b;
    uint64_t ckpt; /* bytes covered by the last checkpoint */
} cs_segwr;

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
    uint64_t wr_bytes;    /* pcap bytes of the group's segments */

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

/* Adds the segment this writer just closed to the list, after its index
 * is written ("pcap_bytes" long; the file may still be catching up). */
int cs__seg_register(cs_store *s, uint32_t id, uint64_t pcap_bytes);

/* Closes the open group: every segment written, indexed and registered
 * (segwriter.c); then runs retention. */
int cs__group_close(cs_store *s);

/* Frees the writers' buffers and index builders (segwriter.c). */
void cs__writers_free(cs_store *s);

/* Deletes oldest segments while over budget. */
void cs__retention(cs_store *s, uint64_t open_bytes);

/* Checks the body of the segment's index before its first use; a damaged
 * one is replaced by an index rebuilt in memory from the packets (with a
 * warning), so the segment is still answered. CS_ENOTFOUND if retention
 * deleted the segment since the store was opened. */
int cs__seg_verify(cs_store *s, cs_segment *seg);

/* Finds a segment by id (NULL if gone). */
cs_segment *cs__seg_find(cs_store *s, uint32_t id);

/* Reads the tap runs of segment "id" (cs_free *runs). */
int cs__seg_taps(const cs_store *s, uint32_t id, cs_tap_run **runs, size_t *n);

#endif

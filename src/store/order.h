/*
 * order.h - a group's capture-order record: which flow partition each
 * packet of a group went to, in the order the tap saw the packets.
 *
 * Internal to the store module. The P segments of a group (store.h) each
 * keep their own packets in capture order, but not the order between
 * them; packets of two conversations stamped with the same instant (common
 * at microsecond resolution), or a capture whose timestamps go backwards,
 * cannot be put back in capture order from the timestamps. The record
 * says it: entry i is the partition of the group's i-th packet, so "the
 * k-th packet of partition p" has the capture position of the k-th entry
 * equal to p. The format and its rules are in order.c's opening comment.
 */
#ifndef CS_STORE_ORDER_H
#define CS_STORE_ORDER_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of the record's header; entries follow it (order.c). */
#define CS_ORDER_HDR 40

/* A capture position the record does not reach. */
#define CS_ORDER_NONE UINT64_MAX

/* Appends one group's record while the group is written. Private fields:
 * only order.c touches them. */
typedef struct cs_order_writer {
    int fd;         /* -1: no record for the open group */
    uint32_t width; /* bits an entry */
    uint64_t acc;   /* entry bits not yet in "buf", low bits first */
    uint32_t n_acc;
    uint64_t count; /* entries appended to the group */
    int64_t last_ts;
    int backwards; /* a timestamp was below the one before it */
    uint8_t *buf;  /* whole bytes not yet written */
    size_t used;
    /* called once when a write finds the disk full (the store's retention,
     * cs__make_room): > 0 when it freed room, and the write is retried */
    int (*room)(void *ud);
    void *room_ud;
} cs_order_writer;

/* A record read from disk: "n" entries of "width" bits at "ent". */
typedef struct cs_order {
    uint8_t *file; /* the whole file (cs_malloc'd), or NULL for a caller's view */
    const uint8_t *ent;
    uint64_t n;
    uint32_t width, partitions;
    int in_time_order; /* the group is closed and its capture never went back in
                          time: capture order is timestamp order, ties apart */
} cs_order;

/* Bits an entry takes in a store of "partitions" partitions (0 for 1). */
uint32_t cs_order_width(uint32_t partitions);

/* Path of the record of the group starting at segment "first". */
void cs_order_path(const char *pktdir, uint32_t first, char *buf, size_t size);

/* Bytes of the record of group "first" on disk (0 if it has none). */
uint64_t cs_order_file_bytes(const char *pktdir, uint32_t first);

void cs_order_writer_init(cs_order_writer *w);
void cs_order_writer_free(cs_order_writer *w);

/* Starts the record of the group "first" at "path". A failure leaves the
 * group without a record (readers then merge by timestamp): warned, not
 * returned, as it never costs a packet. */
void cs_order_writer_open(cs_order_writer *w, const char *path, uint32_t first,
                          uint32_t partitions);

/* Notes that the group's next packet, stamped "ts_ns", went to partition
 * "part". No allocation; writes when a buffer fills. */
void cs_order_writer_add(cs_order_writer *w, uint32_t part, int64_t ts_ns);

/* Writes the whole entries buffered so far (a live reader sees them). */
void cs_order_writer_flush(cs_order_writer *w);

/* Writes the rest, the entry count and the flags, syncs with "sync",
 * closes. */
void cs_order_writer_close(cs_order_writer *w, int sync);

/* Checks the record in "buf" ("len" bytes) of group "first" in a store
 * of "partitions" and views it ("o->file" stays NULL): CS_ECORRUPT if its
 * header is not such a record's. Entries past a count in the header, or
 * a last partial one, are not counted. */
int cs_order_parse(const uint8_t *buf, size_t len, uint32_t first, uint32_t partitions,
                   cs_order *o);

/* Reads the record of group "first": CS_ENOTFOUND if there is none. */
int cs_order_read(const char *pktdir, uint32_t first, uint32_t partitions, cs_order *o);
void cs_order_free(cs_order *o);

/* The partition of the group's packet at capture position "i" < o->n. */
static inline uint32_t cs_order_get(const cs_order *o, uint64_t i)
{
    uint64_t bit = i * o->width, v = 0;
    uint32_t got = 0;

    while (got < o->width) {
        uint32_t shift = (uint32_t)(bit % 8), take = 8 - shift;
        if (take > o->width - got)
            take = o->width - got;
        v |= (uint64_t)((o->ent[bit / 8] >> shift) & ((1u << take) - 1)) << got;
        got += take;
        bit += take;
    }
    return (uint32_t)v;
}

/* Ranks to capture positions. For each partition p with "n[p]" > 0,
 * "rank[p]" points at the first of n[p] uint64_t values "stride" bytes
 * apart, ascending ranks in p (0: its first packet); each is replaced by
 * the capture position of that packet, or CS_ORDER_NONE where the record
 * does not reach it. One pass over the record, which ends as soon as
 * every rank is placed. */
void cs_order_positions(const cs_order *o, uint64_t *const *rank, const size_t *n, size_t stride);

#endif

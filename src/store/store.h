/*
 * store.h - the packet store: segments of pcap, their indexes, retention,
 * crash recovery and indexed queries.
 *
 * A store is a directory:
 *
 *   STORE/
 *     capstream.store        marker and settings (key = value lines)
 *     writer.lock            flock()ed exclusively by the one writer
 *     packets/
 *       next-id              next segment id (decimal)
 *       seg-00000001.pcap    nanosecond pcap, closed by size
 *       seg-00000001.taps    tap id runs (u32 offset, u16 tap, u16 0)*
 *       seg-00000001.idx     index, written when the segment closes
 *       group-00000001.cat   catalog of a closed group's index heads (catalog.c)
 *       group-00000001.ord   partition of each packet of the group, in capture
 *                            order (order.c; a store of one partition has none)
 *
 * A packet ref (core/packet.h) is (segment id, byte offset of the record):
 * stable for the life of the store and resolved in O(1).
 *
 * Crash safety: segments are only appended to; an index is written when
 * its segment closes (temp file + fsync + rename). Opening a store whose
 * writer died (its lock is free) repairs it: a segment without a valid
 * index is cut back to its last complete record and its index rebuilt from
 * its packets. While a writer is alive, readers index its open segment in
 * memory up to its last complete record, and never modify files.
 *
 * Retention: when the packet bytes exceed max_bytes the oldest closed
 * groups of segments (see flow partitions below) are deleted, whole, skipping any that a reader
 * holds (readers take a shared flock on each segment they read; deletion needs an exclusive one
 * without waiting). The message store has a budget of its own,
 * max_message_bytes, kept here with the other settings and applied by its
 * writer (msgstore.h), so messages and measurements can outlive the packets
 * they came from.
 *
 * Threading: a cs_store is used by one thread.
 */
#ifndef CS_STORE_STORE_H
#define CS_STORE_STORE_H

#include "core/packet.h"
#include "packet/dissect.h"

#include <stdint.h>
#include <stdio.h>

typedef struct cs_store cs_store;

enum {
    CS_STORE_WRITE = 1u << 0,      /* take the writer lock, allow appends */
    CS_STORE_CREATE = 1u << 1,     /* create the store if missing */
    CS_STORE_LOSSY = 1u << 3,      /* live capture: cs_store_append refuses a packet
                                      with CS_EBUSY rather than wait for the disk */
    CS_STORE_SYNC = 1u << 2,       /* fdatasync segments and indexes when they close
                                      (survives power loss; a process crash never
                                      needs it: indexes are validated and rebuilt) */
    CS_STORE_CHECKPOINT = 1u << 4, /* others read while this writer runs (the
                                      daemon): checkpoint the open segment's
                                      index every CS_STORE_CHECKPOINT_BYTES */
};

#define CS_STORE_DEFAULT_SEGMENT_BYTES (1ull << 30)
#define CS_STORE_DEFAULT_PARTITIONS 64u
#define CS_STORE_MAX_PARTITIONS 1024u

typedef struct cs_store_opts {
    uint32_t flags;             /* CS_STORE_* */
    uint64_t segment_bytes;     /* 0 = keep the store's setting (default 1 GiB a group) */
    uint64_t max_bytes;         /* 0 = keep the store's setting (default unlimited) */
    int set_max_bytes;          /* 1 = store max_bytes as the new budget (0 = unlimited) */
    uint64_t max_message_bytes; /* the same for the message store (msgstore.h) */
    int set_max_message_bytes;
    uint32_t partitions; /* for a new store: flow partitions (0 = default);
                            an existing store keeps its own and refuses another */
} cs_store_opts;

typedef struct cs_store_info {
    uint32_t segments;
    uint32_t first_segment, last_segment;
    uint64_t packets;
    uint64_t packet_bytes;      /* pcap bytes on disk */
    uint64_t index_bytes;       /* idx + taps bytes */
    int64_t min_ts, max_ts;     /* 0,0 when empty */
    uint64_t max_bytes;         /* retention budget (0 = unlimited) */
    uint64_t max_message_bytes; /* the message store's budget (0 = unlimited) */
    uint64_t segment_bytes;
    uint32_t partitions;       /* segments written at once (store.h: flow partitions) */
    uint32_t groups;           /* groups of segments holding packets */
    uint32_t repaired;         /* segments repaired at open */
    uint64_t deleted_segments; /* by retention during this handle's life */
    /* packets per link type, the first CS_LINK_COUNTS link types met */
    cs_link_count links[CS_LINK_COUNTS];
    uint32_t n_links;
    uint64_t written_packets; /* stored (on disk, indexed) by this handle */
    uint64_t lost_packets;    /* appended to this handle, then lost to a
                                 failed write (a full disk) */
    int full;                 /* no room left: appends fail (cs_store_append) */
} cs_store_info;

int cs_store_open(const char *dir, const cs_store_opts *opts, cs_store **out);

/* Closes the open segment (writing its index), syncs, releases locks. */
int cs_store_close(cs_store *s);

/* Closes the open group and waits until the background writer has
 * written everything. A write lost to a full disk is not an error here:
 * what reached the disk is cut back to complete records and indexed, and
 * the packets lost are counted (cs_store_info: written_packets,
 * lost_packets). cs_store_close does it first. */
int cs_store_finish(cs_store *s);

/* Packets appended and then lost to a failed write; safe to read from
 * another thread while the writer appends. */
uint64_t cs_store_lost_packets(cs_store *s);

/* NULL while the store takes packets; once the disk is full (and no
 * budget made room), why: appends fail from then on. */
const char *cs_store_full(const cs_store *s);

/*
 * Appends packet "p" (dissected as "l") to the open segment, opening or
 * rotating segments as needed, and returns its ref. Retention runs before
 * a record would take the store past its budget. Once the disk is full
 * (cs_store_full) every append fails; a ref returned before then may still
 * be lost to the background writer (counted: cs_store_lost_packets).
 */
int cs_store_append(cs_store *s, const cs_packet *p, const cs_layers *l, cs_pktref *ref);

/* Closes the open segment now (index written); the next append opens one. */
int cs_store_rotate(cs_store *s);

/* Hands what is buffered of the open segment to the disk writer without
 * waiting, so readers see recent packets (the live daemon calls it once a
 * second). CS_EBUSY if the writer is behind (try again later). */
int cs_store_flush(cs_store *s);

/* Makes everything appended so far durable (fdatasync). */
int cs_store_sync(cs_store *s);

void cs_store_info_get(cs_store *s, cs_store_info *info);

/* Reads the packet at "ref" into "*p"; "p->data" stays valid until the next
 * read or query on "s". CS_ENOTFOUND if the segment is gone (retention). */
int cs_store_read(cs_store *s, cs_pktref ref, cs_packet *p);

typedef struct cs_query {
    int64_t after;      /* inclusive, INT64_MIN for none */
    int64_t before;     /* exclusive, INT64_MAX for none */
    const char *filter; /* BPF (tcpdump) syntax, NULL/"" for all */
    /* which time a pcap written by cs_store_query_pcap carries in its
     * records: the reference time, the packets' time everywhere else
     * (CS_PCAP_TIME_REFERENCE, the default), or the host's capture time
     * where the store keeps one (a tap aggregator's trailer gave the
     * reference: packet/timeref.h). Ranges select by the reference time
     * either way. */
    int pcap_time;
} cs_query;

enum { CS_PCAP_TIME_REFERENCE = 0, CS_PCAP_TIME_CAPTURE = 1 };

/* Called for each packet a query returns, in capture order (a store
 * filled by several ingests: their groups merged by timestamp). Return
 * non-zero to stop. */
typedef int (*cs_query_fn)(void *ud, const cs_packet *p, cs_pktref ref);

typedef struct cs_query_stats {
    uint64_t segments_total, segments_searched;
    uint64_t segments_skipped; /* ruled out by their key summary, unread */
    uint64_t candidates;       /* records read */
    uint64_t bpf_runs;         /* records on which the BPF program ran */
    uint64_t matched;
} cs_query_stats;

/* Runs "q" over the store. CS_EFILTER for a bad filter, CS_ETIME for
 * after > before, CS_EUNSUPPORTED if results mix link types and "fn" is a
 * pcap writer (see cs_store_query_pcap). */
int cs_store_query(cs_store *s, const cs_query *q, cs_query_fn fn, void *ud, cs_query_stats *st);

/* Runs "q" and writes the result as a nanosecond pcap to "fd" (or only
 * counts with fd < 0). "*count" receives the number of packets. */
int cs_store_query_pcap(cs_store *s, const cs_query *q, int fd, uint64_t *count,
                        cs_query_stats *st);

/* Calls "fn" for every packet of segments [first_seg, last_seg], in store
 * (capture) order, with its ref and tap. Used to analyse stored packets
 * again. */
int cs_store_scan(cs_store *s, uint32_t first_seg, uint32_t last_seg, cs_query_fn fn, void *ud);

/* The ids of the first and last segment holding packets in [after, before);
 * 0 if none does. */
int cs_store_segments_in_range(cs_store *s, int64_t after, int64_t before, uint32_t *first_seg,
                               uint32_t *last_seg);

/* Prints the index of segment "seg_id" (0 = every segment) in readable
 * form, with its flow keys if "flows". */
int cs_store_dump_index(cs_store *s, uint32_t seg_id, int flows, FILE *out);

/* The first segment id of the group that segment "id" belongs to, in a
 * store of "partitions" partitions (0 stays 0: "not stored"). */
static inline uint32_t cs_store_group_of(uint32_t id, uint32_t partitions)
{
    return id == 0 || partitions <= 1 ? id : id - (id - 1) % partitions;
}

/* The partition count of the store at "dir" without opening it (1 for a
 * store made before partitions existed, or if it cannot be read). */
uint32_t cs_store_dir_partitions(const char *dir);

/* The directory of the store (for sibling files such as messages). */
const char *cs_store_dir(const cs_store *s);

#endif

/*
 * index.h - the per-segment packet index: builder, on-disk format, reader.
 *
 * Internal to the store module. Each packet segment seg-N.pcap gets, when
 * it is closed, an index seg-N.idx that files every packet under its flow
 * key (store/flowkey.h) and cuts the segment into time blocks. All integers
 * are little-endian.
 *
 *   offset size  header (128 bytes)
 *   0      8     magic "CSIDX\0\0\1"
 *   8      4     format version (3; version 2, without the key summary, is
 *                still read)
 *   12     4     header size (128)
 *   16     4     segment id
 *   20     4     link type of the segment's packets
 *   24     4     snap length
 *   28     4     number of flow keys F
 *   32     8     number of packets P
 *   40     8     pcap bytes covered (file size of seg-N.pcap when indexed)
 *   48     8     smallest packet timestamp (ns)
 *   56     8     largest packet timestamp (ns)
 *   64     4     number of time blocks B
 *   68     4     packets per block (CS_IDX_BLOCK)
 *   72     8     byte offset of the flow table
 *   80     8     byte offset of the postings
 *   88     8     byte offset of the block table
 *   96     8     total index file size
 *   104    4     flags: bit 0 = timestamps never decrease within the segment
 *   108    4     bytes S of the key summary (0 in version 2)
 *   112    8     body checksum: cs_checksum64 of everything after the header
 *   120    8     header checksum: cs_hash64 of bytes 0..119
 *
 *   key summary (S bytes at 128; store/flowpred.h), read with the header so
 *   a query can skip the segment without reading its keys:
 *     0   8   checksum: cs_hash64 of bytes 8..S
 *     8   4   flags (CS_KS_*)
 *     12  4   address filter bits A (power of two, 64..65536)
 *     16  4   port filter bits B (power of two, 64..65536; capstream
 *             writes B = A, about 8 bits for each of the 2F endpoints)
 *     20  4   reserved, zero
 *     24  A/8 address Bloom filter, then B/8 bytes of port Bloom filter
 *   flow table (at 128 + S): F entries of 64 bytes
 *     0   52  cs_flowkey
 *     52  4   packets with this key
 *     56  8   index of the key's first posting
 *   postings: P u32 = byte offsets of records in seg-N.pcap, grouped by key
 *     in flow table order, ascending within a key
 *   block table: B entries of 24 bytes, one per CS_IDX_BLOCK packets in file
 *     order
 *     0   8   smallest timestamp in the block
 *     8   8   largest timestamp in the block
 *     16  4   byte offset of the block's first record
 *     20  4   packets in the block
 *
 * Cost: 4 bytes per packet + 64 per key + 24 per 256 packets, plus the
 * summary: about 2 bytes per key, 40 at least.
 *
 * Checking is two-staged so that opening a store costs the same whatever
 * its size: cs_idx_load checks the header (its checksum, and that every
 * section fits the file) and cs_idx_verify checks the body, once, before a
 * reader first uses the flows, postings or blocks (a query only verifies
 * the segments its time range touches).
 *
 * Blocks hold up to CS_IDX_BLOCK packets; all are full but the last, except
 * in an index joined from a checkpoint and a tail (cs_idxb_seed), where the
 * checkpoint's last block may be short too. Their counts sum to P.
 * The index is always re-derivable from its segment (cs_idx_scan_pcap), so a
 * missing, torn or corrupt index is rebuilt, never trusted.
 */
#ifndef CS_STORE_INDEX_H
#define CS_STORE_INDEX_H

#include "store/flowkey.h"
#include "store/flowpred.h"

#include <stddef.h>
#include <stdint.h>

#define CS_IDX_MAGIC "CSIDX\0\0\1"
#define CS_IDX_VERSION 3
#define CS_IDX_HDR 128
#define CS_IDX_FLOW 64
#define CS_IDX_BLOCKREC 24
#define CS_IDX_BLOCK 256
#define CS_IDX_F_ORDERED 1u

typedef struct cs_idx_block {
    int64_t min_ts, max_ts;
    uint32_t first_off;
    uint32_t n;
} cs_idx_block;

/* Accumulates one segment's packets while it is written. */
typedef struct cs_idx_builder {
    cs_flowkey *keys; /* flow keys, in order of first appearance */
    uint64_t *key_hash;
    uint32_t *key_count;
    uint32_t n_keys, cap_keys;
    uint32_t *slots; /* open addressing: key index + 1, 0 = empty */
    uint32_t slot_mask;
    uint32_t *pkt_off; /* per packet: record offset */
    uint32_t *pkt_key; /* per packet: key index */
    uint64_t n_pkts, cap_pkts;
    cs_idx_block *blocks;
    size_t n_blocks, cap_blocks;
    int64_t min_ts, max_ts, last_ts;
    int ordered;
    const struct cs_idx *base; /* seeded from a checkpoint (cs_idxb_seed) */
    uint64_t base_pkts;
    uint32_t base_keys;
} cs_idx_builder;

typedef struct cs_idx_meta {
    uint32_t segment_id;
    uint32_t linktype;
    uint32_t snaplen;
    uint64_t pcap_bytes;
} cs_idx_meta;

void cs_idxb_init(cs_idx_builder *b);
void cs_idxb_reset(cs_idx_builder *b);
void cs_idxb_free(cs_idx_builder *b);
int cs_idxb_add(cs_idx_builder *b, const cs_flowkey *k, uint32_t offset, int64_t ts_ns);

/* Writes the index to "path" atomically (temp file, optional fdatasync,
 * rename). */
int cs_idxb_write(const cs_idx_builder *b, const cs_idx_meta *meta, const char *path, int sync);

/* The same for the first "n" packets only (a checkpoint: n a multiple of
 * CS_IDX_BLOCK, meta->pcap_bytes the offset of packet n), unsynced. */
int cs_idxb_write_prefix(const cs_idx_builder *b, uint64_t n, const cs_idx_meta *meta,
                         const char *path);

/* A loaded index: its checked header, and its body once read. */
typedef struct cs_idx cs_idx;
struct cs_idx {
    uint8_t *map; /* the whole file once read (cs_malloc'd), NULL before */
    char *path;   /* where to read it from (NULL: built in memory, always read) */
    uint8_t hdr[CS_IDX_HDR];
    size_t size;
    uint32_t sum_len;       /* bytes of the key summary (0: a version-2 index has none) */
    uint8_t *sum_buf;       /* the summary as read by cs_idx_load (owned) */
    const uint8_t *sum_raw; /* the summary's bytes: sum_buf, or the caller's
                               memory (cs_idx_load_head); NULL if none */
    cs_keysum sum;          /* valid if has_sum */
    int has_sum;
    uint32_t segment_id, linktype, snaplen, n_keys, n_blocks, flags;
    uint64_t n_pkts, pcap_bytes;
    int64_t min_ts, max_ts;
    const uint8_t *flows;    /* n_keys * CS_IDX_FLOW */
    const uint8_t *postings; /* n_pkts * 4 */
    const uint8_t *blocks;   /* n_blocks * CS_IDX_BLOCKREC */
    int verified;            /* body checksum checked (or built in memory) */
};

/* Reads the header of "path" and checks it and the layout it gives
 * against the file's size; CS_ECORRUPT if anything is off. The body is
 * read and checked by cs_idx_verify. */
int cs_idx_load(const char *path, cs_idx *idx);

/* Takes the header and key summary from "head" ("len" bytes: the first
 * CS_IDX_HDR + S bytes of the index file at "path", as a group catalog
 * keeps them) instead of reading the file; the summary points into "head",
 * which must outlive the index. The body is read from "path" as usual. */
int cs_idx_load_head(const char *path, const uint8_t *head, size_t len, cs_idx *x);

/* Reads the body (with read(), not a mapping: a query reads hundreds of
 * indexes once each, and mapping then unmapping each cost more than
 * copying it) and checks its checksum and time blocks, once; later calls
 * return at once. CS_ECORRUPT if it does not match or the file changed,
 * CS_ENOTFOUND if it is gone (retention deleted the segment). */
int cs_idx_verify(cs_idx *idx);

/* Frees the body of an index read from a file (the header stays loaded; a
 * later cs_idx_verify reads it again), so a query over many segments
 * holds one body at a time. */
void cs_idx_release(cs_idx *idx);
void cs_idx_unload(cs_idx *idx);

/* Reads flow entry "i". */
void cs_idx_flow(const cs_idx *idx, uint32_t i, cs_flowkey *k, uint32_t *count, uint64_t *first);
static inline uint32_t cs_idx_posting(const cs_idx *idx, uint64_t i)
{
    const uint8_t *p = idx->postings + i * 4;
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
void cs_idx_block_get(const cs_idx *idx, uint32_t i, cs_idx_block *blk);

/*
 * Scans the pcap segment "path" (written by capstream: ns magic, LE) from
 * byte "start" (CS_PCAP_FILEHDR, or a record boundary such as the end of a
 * checkpoint) and adds every complete record to "b". "*valid_len" receives
 * the length of the complete part (the file is cut there by repair).
 * "*linktype" and "*snaplen" come from its header. Tap ids come from the
 * runs in "taps" (n_taps entries of (first record offset, tap), ascending;
 * none = tap 0).
 */
typedef struct cs_tap_run {
    uint32_t offset;
    uint16_t tap;
} cs_tap_run;

int cs_idx_scan_pcap(const char *path, uint64_t start, const cs_tap_run *taps, size_t n_taps,
                     cs_idx_builder *b, uint64_t *valid_len, uint32_t *linktype, uint32_t *snaplen);

/* Builds an in-memory index from "b" (for a segment that is still being
 * written); unload with cs_idx_unload as usual. */
int cs_idx_from_builder(const cs_idx_builder *b, const cs_idx_meta *meta, cs_idx *x);

/*
 * Checkpoints. A writer rewrites the index of its open segment now and
 * then (segwriter.c), covering the records written so far; a reader of a
 * live store then indexes only the bytes after it: cs_idxb_seed starts an
 * empty builder as the verified checkpoint "base" (its keys, counts and
 * blocks; "base" must stay loaded until the builder is serialized), and
 * packets added afterwards are the tail. Serializing writes each key's
 * checkpoint postings, then its tail postings.
 */
int cs_idxb_seed(cs_idx_builder *b, const cs_idx *base);

#endif

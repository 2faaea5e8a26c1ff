/*
 * ipfrag.h - IP fragment reassembly (RFC 791 section 3.2, RFC 815).
 *
 * Fragments are grouped by (tap, IP version, source, destination,
 * identification, protocol) and may arrive in any order. The fragment data
 * of a datagram is copied into one buffer at its offset; where fragments
 * overlap, the bytes that arrived first win (later copies never overwrite),
 * and each byte remembers the fragment (capture time, store ref) that
 * carried it, as a sorted list of pieces. A datagram is complete when the
 * last fragment (MF = 0) fixed its length and the pieces cover it without
 * holes.
 *
 *   datagram bytes   0 ........ 1480 ........ 2960 ..... 3100
 *   pieces           [frag A ts1] [frag B ts2 ] [frag C ts3]
 *
 * Bounds: at most "max_datagrams" in reassembly (the oldest is dropped to
 * make room) and "timeout_ns" of capture time from a datagram's first
 * fragment (expired by cs_ipfrag_expire()). Dropped fragments are counted.
 *
 * Allocation: per datagram in reassembly (fragments are not the hot path).
 * The result of a completed datagram stays valid until the next call.
 */
#ifndef CS_FLOW_IPFRAG_H
#define CS_FLOW_IPFRAG_H

#include "core/packet.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cs_ipfrag cs_ipfrag;

typedef struct cs_ipfrag_key {
    uint8_t src[16], dst[16];
    uint32_t id;
    uint16_t tap;
    uint8_t ip_version;
    uint8_t proto;
} cs_ipfrag_key;

typedef struct cs_ipfrag_piece {
    uint32_t off, len; /* bytes [off, off + len) of the datagram's IP payload */
    int64_t ts_ns;     /* capture time of the fragment that carried them */
    cs_pktref ref;
} cs_ipfrag_piece;

typedef struct cs_ipfrag_out {
    const uint8_t *data; /* the IP payload (transport header first) */
    uint32_t len;
    const cs_ipfrag_piece *pieces; /* sorted by off, covering [0, len) */
    uint32_t n_pieces;
    const cs_pktref *refs; /* refs of every fragment used, in arrival order */
    uint32_t n_refs;
} cs_ipfrag_out;

typedef struct cs_ipfrag_stats {
    uint64_t frags;       /* fragments added */
    uint64_t reassembled; /* datagrams completed */
    uint64_t dropped;     /* fragments dropped (timeout, bound, bad offset) */
} cs_ipfrag_stats;

int cs_ipfrag_new(uint32_t max_datagrams, int64_t timeout_ns, cs_ipfrag **out);
void cs_ipfrag_free(cs_ipfrag *f);

/* Adds the fragment carrying "n" payload bytes at byte offset "off" ("more":
 * MF set). Returns 1 and fills "*out" when it completes a datagram, else 0. */
int cs_ipfrag_add(cs_ipfrag *f, const cs_ipfrag_key *k, uint32_t off, const uint8_t *p, uint32_t n,
                  int more, int64_t ts_ns, cs_pktref ref, cs_ipfrag_out *out);

/* Drops datagrams whose first fragment is older than now - timeout. */
void cs_ipfrag_expire(cs_ipfrag *f, int64_t now_ns);

void cs_ipfrag_stats_get(const cs_ipfrag *f, cs_ipfrag_stats *st);

#endif

/*
 * flowkey.h - the key under which the packet index files a packet.
 *
 * A segment's index groups its packets by cs_flowkey: one direction of a
 * conversation at one tap (tap, link type, VLAN tags, IP version, protocol,
 * addresses, ports). Host, port, protocol and VLAN lookups all go through
 * the keys: a query first decides, per key, whether the filter can match
 * packets with that key, and only reads the packets of keys that can.
 *
 * The key is fixed-size and zero-padded, so it can be hashed and compared
 * with memcmp and written to disk as is (little-endian fields; see
 * store/index.c for the on-disk layout).
 */
#ifndef CS_STORE_FLOWKEY_H
#define CS_STORE_FLOWKEY_H

#include "core/packet.h"
#include "packet/dissect.h"

#include <stdint.h>

enum {
    CS_FK_IP = 1u << 0,         /* an IP header was found */
    CS_FK_PORTS = 1u << 1,      /* sport/dport are valid (TCP/UDP/SCTP header present) */
    CS_FK_FRAG = 1u << 2,       /* IP fragment that is not the first one */
    CS_FK_FRAG_FIRST = 1u << 3, /* first fragment of a fragmented datagram */
    CS_FK_ODD = 1u << 4,        /* malformed, truncated, MPLS or other encapsulation:
                                   a filter's answer cannot be decided from the key */
};

typedef struct cs_flowkey {
    uint16_t tap;       /* capture point */
    uint16_t linktype;  /* pcap LINKTYPE_ of the packets */
    uint16_t ethertype; /* after VLAN tags; 0 if none */
    uint16_t vlan[2];   /* first two VLAN ids, outer first */
    uint8_t n_vlan;     /* number of VLAN tags (capped at 255) */
    uint8_t flags;      /* CS_FK_* */
    uint8_t ip_version; /* 4, 6 or 0 */
    uint8_t ip_proto;   /* IP protocol number */
    uint16_t sport;     /* TCP/UDP/SCTP ports, or ICMP type/code, else 0 */
    uint16_t dport;
    uint16_t reserved; /* zero */
    uint8_t src[16];   /* IPv4 in the first 4 bytes, rest zero */
    uint8_t dst[16];
} cs_flowkey; /* 52 bytes, no padding */

_Static_assert(sizeof(cs_flowkey) == 52, "cs_flowkey must be 52 bytes with no padding");

/* Builds the key of packet "p" from its dissection "l" (zeroing unused
 * bytes, so keys compare with memcmp). */
void cs_flowkey_from_layers(const cs_packet *p, const cs_layers *l, cs_flowkey *k);

/* 64-bit hash of a key. */
uint64_t cs_flowkey_hash(const cs_flowkey *k);

/* The store partition (0 .. partitions-1) of a packet with key "k": a hash
 * of VLANs, IP version, protocol and the two (address, port) endpoints
 * taken in sorted order, so both directions of a conversation, seen at any
 * tap, land in the same one. Fragments leave out the ports (only the first
 * has them), so all of a datagram's fragments land together. */
uint32_t cs_flowkey_partition(const cs_flowkey *k, uint32_t partitions);

#endif

/*
 * packet.h - the packet as every pipeline stage sees it.
 *
 * A packet is (ts_ns, caplen, wirelen, link type, tap id, bytes). Time is
 * integer nanoseconds since the Unix epoch, UTC: the one time reference of
 * capstream. It is the capture's stamp, unless the time source of the
 * capture (packet/timeref.h) takes it from elsewhere, a tap aggregator's
 * trailer: then ts_ns is the trailer's time and cap_ns keeps the host's
 * capture stamp (0 means the host's stamp is ts_ns itself).
 *
 * Ownership: "data" is borrowed from the source that produced the packet and
 * stays valid until that source's next call (next packet, next batch, or
 * close). A stage that needs the bytes longer copies them.
 */
#ifndef CS_CORE_PACKET_H
#define CS_CORE_PACKET_H

#include <stdint.h>

/* Link types used by capstream (values are the pcap LINKTYPE_ numbers). */
enum {
    CS_LINK_NULL = 0,     /* BSD loopback, host-order 4-byte family */
    CS_LINK_ETHERNET = 1, /* IEEE 802.3 */
    CS_LINK_PPP = 9,      /* PPP in HDLC-like framing (RFC 1662) */
    CS_LINK_RAW = 101,    /* raw IPv4/IPv6 */
    CS_LINK_LOOP = 108,   /* OpenBSD loopback, network-order family */
    CS_LINK_LINUX_SLL = 113,
    CS_LINK_IPV4 = 228,
    CS_LINK_IPV6 = 229,
    CS_LINK_NFLOG = 239,
    CS_LINK_LINUX_SLL2 = 276,
};

typedef struct cs_packet {
    int64_t ts_ns;       /* capture time, ns since the epoch, UTC */
    uint32_t caplen;     /* bytes in data */
    uint32_t wirelen;    /* bytes on the wire (>= caplen) */
    uint16_t linktype;   /* pcap LINKTYPE_ of data */
    uint16_t tap;        /* capture point id (pcapng interface, live iface) */
    uint8_t tref;        /* CS_TREF_* below: how ts_ns was set */
    const uint8_t *data; /* borrowed, see above */
    int64_t cap_ns;      /* the host's capture time when ts_ns is another
                            reference's (a trailer's); 0 = ts_ns */
} cs_packet;

/* cs_packet.tref: what the capture's time source (packet/timeref.h) did;
 * 0 when it takes the capture's stamps. */
enum {
    CS_TREF_TRAILER = 1u << 0,  /* ts_ns is a trailer's time */
    CS_TREF_UNTIMED = 1u << 1,  /* the time source gave no time: ts_ns is the host's */
    CS_TREF_UNSYNCED = 1u << 2, /* the trailer says its clock is not synchronised */
};

/* The host's capture time of "p". */
static inline int64_t cs_packet_cap_ns(const cs_packet *p)
{
    return p->cap_ns != 0 ? p->cap_ns : p->ts_ns;
}

/* Packets counted per link type (the store's and the analysis's counts of
 * link types capstream stores but cannot dissect), for a few link types. */
#define CS_LINK_COUNTS 8
typedef struct cs_link_count {
    uint32_t linktype;
    uint64_t packets;
} cs_link_count;

/* Adds "n" packets of "linktype" to "counts" ("*n_counts" used of
 * CS_LINK_COUNTS); a link type past the first CS_LINK_COUNTS is not kept. */
static inline void cs_link_count_add(cs_link_count *counts, uint32_t *n_counts, uint32_t linktype,
                                     uint64_t n)
{
    uint32_t i = 0;

    while (i < *n_counts && counts[i].linktype != linktype)
        i++;
    if (i == CS_LINK_COUNTS)
        return;
    if (i == *n_counts)
        counts[(*n_counts)++] = (cs_link_count){linktype, 0};
    counts[i].packets += n;
}

/* A packet's place in the store: segment id in the high 32 bits, byte
 * offset of its pcap record header in the low 32. 0 means "not stored". */
typedef uint64_t cs_pktref;

#define CS_PKTREF(seg, off) (((uint64_t)(seg) << 32) | (uint32_t)(off))
#define CS_PKTREF_SEG(ref) ((uint32_t)((ref) >> 32))
#define CS_PKTREF_OFF(ref) ((uint32_t)(ref))

#endif

/*
 * dissect.h - link, network and transport layers of one packet.
 *
 * cs_dissect() walks a packet's headers with bounds-checked reads and fills
 * a cs_layers: VLAN tags, the IP addresses, protocol and ports, TCP sequence
 * numbers and flags, and where the payload starts. It never reads past
 * caplen; whatever it cannot reach is left zero and flagged.
 *
 * Link types: Ethernet (with any number of 802.1Q / 802.1ad tags, the first
 * two recorded; MPLS label stacks skipped, IP under MPLS detected by the
 * version nibble; 802.2 LLC/SNAP), Linux cooked SLL and SLL2, raw IP
 * (101, 228, 229), BSD NULL/LOOP, PPP (HDLC framing), NFLOG.
 * Network: IPv4 (options, fragments), IPv6 (hop-by-hop, routing,
 * destination-options and fragment extension headers walked to the upper
 * layer). Transport: TCP (header length checked), UDP, ICMP, ICMPv6, SCTP
 * ports; other protocols just by number.
 *
 * A packet whose headers are malformed (IHL < 5, TCP data offset < 5, total
 * length beyond the packet...) is flagged CS_L_MALFORMED; what could be read
 * before the fault stays filled in. The caller decides what to do.
 */
#ifndef CS_PACKET_DISSECT_H
#define CS_PACKET_DISSECT_H

#include "core/packet.h"

#include <stddef.h>
#include <stdint.h>

enum {
    CS_L_IP = 1u << 0,         /* an IPv4 or IPv6 header was found */
    CS_L_L4 = 1u << 1,         /* transport header fully present (ports valid) */
    CS_L_FRAGMENT = 1u << 2,   /* IP fragment (any) */
    CS_L_FRAG_FIRST = 1u << 3, /* ... and it is the first (offset 0) */
    CS_L_MALFORMED = 1u << 4,  /* a header is invalid or cut off */
    CS_L_TRUNCATED = 1u << 5,  /* caplen ends before the IP total length */
    CS_L_MPLS = 1u << 6,       /* IP found under an MPLS label stack */
    CS_L_ENCAP = 1u << 7,      /* IP found under another encapsulation
                                  (LLC/SNAP, PPP, NFLOG, PPPoE...) */
};

typedef struct cs_layers {
    uint32_t flags;     /* CS_L_* */
    uint16_t vlan[2];   /* outer first; 12-bit VLAN ids */
    uint8_t n_vlan;     /* tags seen (may exceed 2; only 2 recorded) */
    uint16_t ethertype; /* ethertype after tags (0 if none/unknown) */
    uint8_t ip_version; /* 4, 6 or 0 */
    uint8_t ip_proto;   /* upper-layer protocol number */
    uint8_t ttl;        /* TTL / hop limit */
    uint8_t src[16];    /* IPv4 uses the first 4 bytes, rest zero */
    uint8_t dst[16];
    uint16_t sport, dport; /* valid if CS_L_L4 (TCP/UDP/SCTP); for ICMP: type, code */
    uint32_t ip_id;        /* IPv4 id or IPv6 fragment identification */
    uint16_t frag_offset;  /* in bytes */
    uint8_t more_frags;    /* MF bit */
    uint8_t tcp_flags;     /* FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 */
    uint32_t tcp_seq, tcp_ack;
    uint16_t tcp_window;
    uint16_t l3_off;         /* offset of the IP header in data */
    uint16_t l4_off;         /* offset of the transport header (0 if none) */
    uint32_t payload_off;    /* offset of the transport payload */
    uint32_t payload_len;    /* payload bytes present in the capture (clipped
                                to both caplen and the IP length, so Ethernet
                                padding is excluded) */
    uint32_t ip_payload_len; /* IP payload length per the IP header (for
                                fragments: this fragment's data length) */
    uint32_t frag_data_off;  /* CS_L_FRAGMENT: offset of the fragment's data
                                (after the IPv4 header, or after the IPv6
                                fragment header) */
    uint32_t frag_data_len;  /* CS_L_FRAGMENT: its length per the IP header */
    uint32_t ip_end;         /* offset just past the IP packet per its own
                                length (may exceed caplen: CS_L_TRUNCATED);
                                what follows it (Ethernet padding, a tap's
                                trailer) is not the packet's; 0 = no IP */
} cs_layers;

/* Fills "*l" for packet "p". Returns 0, or CS_ELINKTYPE for a link type it
 * does not know (then only flags == 0 is set). Malformed packets still
 * return 0 with CS_L_MALFORMED set. */
int cs_dissect(const cs_packet *p, cs_layers *l);

/* Whether cs_dissect() reads packets of "linktype" (else it returns
 * CS_ELINKTYPE for every one: the store keeps them, analysis skips them). */
int cs_dissect_knows(uint16_t linktype);

/* Writes a one-line layer summary into "buf" ("802.1Q vlan 101, IPv4
 * 10.1.0.13:40003 > 10.2.0.1:9878 TCP [P.] seq 1000 ack 1 len 210"), in the
 * spirit of tcpdump's one-liners. Returns buf. */
char *cs_dissect_summary(const cs_packet *p, const cs_layers *l, char *buf, size_t size);

/* Formats an address of "ip_version" (4 or 6) into "buf" (>= 46 bytes). */
char *cs_addr_format(uint8_t ip_version, const uint8_t *addr, char *buf);

#endif

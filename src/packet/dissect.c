/*
 * dissect.c - link, network and transport layers of one packet.
 *
 * How it works
 * ------------
 * cs_dissect() is one forward walk with a bounds-checked cs_cursor:
 *
 *   link header ──► "ethertype walk" ──► IPv4 / IPv6 ──► TCP / UDP / SCTP / ICMP
 *   (per link type)   (VLAN tags, MPLS,    (options,       (fixed header, then
 *                      LLC/SNAP, PPPoE)     ext. headers)    payload offset/length)
 *
 * Every link type is reduced to an ethertype plus a cursor positioned at the
 * header it names, so VLAN tags after a Linux cooked header and IP under
 * PPPoE go through the same code. The network layer narrows the cursor to
 * the IP datagram (caplen clipped to the IP length), so Ethernet trailer
 * padding is never payload and a transport parser cannot read beyond it.
 *
 * Wire formats walked (offsets in bytes):
 *
 *   Ethernet II   | dst 6 | src 6 | type 2 |                      (type >= 0x600)
 *   802.1Q/ad tag | TCI 2 (PCP 3b, DEI 1b, VID 12b) | type 2 |   (0x8100/0x88a8/0x9100)
 *   802.3 + SNAP  | dst 6 | src 6 | len 2 | AA AA 03 | OUI 3 | type 2 |
 *   MPLS entry    | label 20b | TC 3b | S 1b | TTL 8b |  repeated until S=1,
 *                 then IPv4/IPv6 chosen by the first nibble (RFC 3032 / 4182)
 *   PPPoE session | ver/type 1 | code 1 | session 2 | len 2 | PPP proto 2 | (RFC 2516)
 *   Linux SLL     | pkttype 2 | hatype 2 | halen 2 | addr 8 | proto 2 |       16 bytes
 *   Linux SLL2    | proto 2 | rsvd 2 | ifindex 4 | hatype 2 | pkttype 1 |
 *                 | halen 1 | addr 8 |                                       20 bytes
 *   NULL / LOOP   | address family 4 (host order / network order) |
 *   PPP (HDLC)    | [FF 03] | protocol 1 or 2 (RFC 1661 field compression) |
 *   NFLOG         | family 1 | version 1 | res_id 2 | TLVs: len 2 (LE), type 2 (LE),
 *                 value, padded to 4; type 9 (NFULA_PAYLOAD) holds the IP packet
 *   IPv4          RFC 791: IHL >= 5, total length >= IHL*4; total length 0 is
 *                 taken as TCP segmentation offload (to the end of the capture)
 *   IPv6          RFC 8200: hop-by-hop 0, routing 43, dest. options 60
 *                 ((len+1)*8), fragment 44 (8), AH 51 ((len+2)*4, RFC 4302),
 *                 no-next-header 59; ESP 50 is opaque
 *   TCP 20+ / UDP 8 / SCTP 12 / ICMP and ICMPv6 8 bytes of fixed header
 *
 * "ethertype" in the result names the network layer finally reached: the
 * real ethertype after tags, or the one implied by the encapsulation (0x0800 /
 * 0x86dd for raw IP, NULL/LOOP, PPP, NFLOG, PPPoE, SNAP and IP under MPLS);
 * it stays 0x8847/0x8848 for MPLS over something other than IP, and 0 for
 * non-SNAP LLC or an unknown family.
 *
 * Invariants on the result (checked by tests/fuzz/fuzz_dissect.c):
 *   - payload_off + payload_len <= caplen, and payload lies inside the IP
 *     datagram as clipped to the capture;
 *   - l3_off <= l4_off <= payload_off when l4_off is set;
 *   - CS_L_L4 only when the whole fixed transport header is inside the
 *     capture and inside the IP datagram; sport/dport hold ICMP type/code;
 *   - for non-first fragments and protocols without a parsed transport
 *     header, payload_off/payload_len describe the IP payload itself and
 *     l4_off is 0 for non-first fragments.
 *
 * Threading and ownership: pure function of its inputs; no allocation, no
 * global state; "p->data" is only read, never kept.
 */
#include "packet/dissect.h"

#include "core/cursor.h"
#include "core/error.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum {
    ET_IPV4 = 0x0800,
    ET_ARP = 0x0806,
    ET_VLAN = 0x8100,
    ET_QINQ = 0x88a8,
    ET_QINQ_OLD = 0x9100,
    ET_IPV6 = 0x86dd,
    ET_MPLS_UC = 0x8847,
    ET_MPLS_MC = 0x8848,
    ET_PPPOE_SESS = 0x8864,
    ET_MAX_8023_LEN = 1500,
    SLL_PROTO_LLC = 0x0004,
    PPP_IPV4 = 0x0021,
    PPP_IPV6 = 0x0057,
    NFULA_PAYLOAD = 9,
    IPPROTO_NUM_HOPOPTS = 0,
    IPPROTO_NUM_ICMP = 1,
    IPPROTO_NUM_TCP = 6,
    IPPROTO_NUM_UDP = 17,
    IPPROTO_NUM_ROUTING = 43,
    IPPROTO_NUM_FRAGMENT = 44,
    IPPROTO_NUM_ESP = 50,
    IPPROTO_NUM_AH = 51,
    IPPROTO_NUM_ICMPV6 = 58,
    IPPROTO_NUM_NONE = 59,
    IPPROTO_NUM_DSTOPTS = 60,
    IPPROTO_NUM_SCTP = 132,
    OFF_MAX = 0xffff, /* l3_off / l4_off are 16-bit */
};

/* libpcap's pcap_datalink() reports raw IP as DLT_RAW (12, or 14 on some BSDs)
 * rather than LINKTYPE_RAW (101); LINKTYPE_ numbers 12 and 14 are reserved
 * for exactly that confusion, so both are accepted as raw IP. */
enum { CS__DLT_RAW = 12, CS__DLT_RAW_BSD = 14 };

/* The walk state: the cursor, the result, and flags that apply only once an
 * IP header is actually found under them (CS_L_MPLS, CS_L_ENCAP). */
typedef struct dissector {
    cs_cursor c;
    cs_layers *l;
    uint32_t pending;
} dissector;

static void mark_malformed(dissector *d)
{
    d->l->flags |= CS_L_MALFORMED;
}

/* ---- transport ------------------------------------------------------------------ */

/* Sets the payload to [off, d->c.len) (clipped), i.e. to the end of the datagram. */
static void set_payload(dissector *d, size_t off)
{
    if (off > d->c.len)
        off = d->c.len;
    d->l->payload_off = (uint32_t)off;
    d->l->payload_len = (uint32_t)(d->c.len - off);
}

static void parse_tcp(dissector *d, const uint8_t *h)
{
    cs_layers *l = d->l;
    size_t hlen = (size_t)(h[12] >> 4) * 4;

    l->sport = cs_rd_be16(h);
    l->dport = cs_rd_be16(h + 2);
    l->tcp_seq = cs_rd_be32(h + 4);
    l->tcp_ack = cs_rd_be32(h + 8);
    l->tcp_flags = h[13];
    l->tcp_window = cs_rd_be16(h + 14);
    if (hlen < 20) {
        mark_malformed(d);
        set_payload(d, l->l4_off + 20u);
        l->payload_len = 0;
        return;
    }
    l->flags |= CS_L_L4;
    if (l->l4_off + hlen > d->c.len) { /* options cut off, or beyond the datagram */
        mark_malformed(d);
        set_payload(d, d->c.len);
        return;
    }
    set_payload(d, l->l4_off + hlen);
}

static void parse_udp(dissector *d, const uint8_t *h, size_t l4_hdr_len)
{
    cs_layers *l = d->l;
    size_t ulen = cs_rd_be16(h + 4);

    l->sport = cs_rd_be16(h);
    l->dport = cs_rd_be16(h + 2);
    l->flags |= CS_L_L4;
    /* A sane UDP length (header <= ulen <= what the IP header says) also bounds the payload. */
    if (ulen >= 8 && ulen <= l4_hdr_len && l->l4_off + ulen < d->c.len)
        d->c.len = l->l4_off + ulen;
    set_payload(d, l->l4_off + 8u);
}

/* Header sizes of the fixed transport headers cs_dissect understands (0: opaque). */
static size_t fixed_l4_len(uint8_t proto)
{
    switch (proto) {
    case IPPROTO_NUM_TCP:
        return 20;
    case IPPROTO_NUM_UDP:
    case IPPROTO_NUM_ICMP:
    case IPPROTO_NUM_ICMPV6:
        return 8;
    case IPPROTO_NUM_SCTP:
        return 12;
    default:
        return 0;
    }
}

/*
 * Parses the transport header at "off" of a datagram whose cursor ends at
 * the clipped IP end. "l4_hdr_len" is the transport length per the IP header
 * (it may exceed what was captured).
 */
static void parse_l4(dissector *d, size_t off, size_t l4_hdr_len)
{
    cs_layers *l = d->l;
    size_t need = fixed_l4_len(l->ip_proto);
    const uint8_t *h;

    if (off > OFF_MAX) {
        mark_malformed(d);
        set_payload(d, off);
        return;
    }
    l->l4_off = (uint16_t)off;
    if (need == 0) {
        set_payload(d, off);
        return;
    }
    if (off + need > d->c.len) { /* cut off: no payload; malformed unless by fragmentation */
        if (!(l->flags & CS_L_FRAGMENT))
            mark_malformed(d);
        set_payload(d, d->c.len);
        return;
    }
    h = d->c.base + off;
    switch (l->ip_proto) {
    case IPPROTO_NUM_TCP:
        parse_tcp(d, h);
        return;
    case IPPROTO_NUM_UDP:
        parse_udp(d, h, l4_hdr_len);
        return;
    case IPPROTO_NUM_SCTP:
        l->sport = cs_rd_be16(h);
        l->dport = cs_rd_be16(h + 2);
        break;
    default: /* ICMP, ICMPv6: type and code */
        l->sport = h[0];
        l->dport = h[1];
        break;
    }
    l->flags |= CS_L_L4;
    set_payload(d, off + need);
}

/* ---- network ---------------------------------------------------------------------- */

/*
 * Narrows the cursor to the datagram [l3_off, l3_off + ip_len) as far as it
 * was captured, flagging CS_L_TRUNCATED when the capture ends first.
 */
static void clip_datagram(dissector *d, size_t ip_end)
{
    d->l->ip_end = ip_end > UINT32_MAX ? UINT32_MAX : (uint32_t)ip_end;
    if (ip_end > d->c.len)
        d->l->flags |= CS_L_TRUNCATED;
    else
        d->c.len = ip_end;
}

static void parse_ipv4(dissector *d)
{
    cs_layers *l = d->l;
    size_t l3 = d->c.off, ihl, total, frag;
    const uint8_t *h = cs_cursor_need(&d->c, 20);

    if (h == NULL || (h[0] >> 4) != 4) {
        mark_malformed(d);
        return;
    }
    l->flags |= CS_L_IP;
    l->ip_version = 4;
    l->ttl = h[8];
    l->ip_proto = h[9];
    l->ip_id = cs_rd_be16(h + 4);
    memcpy(l->src, h + 12, 4);
    memcpy(l->dst, h + 16, 4);
    ihl = (size_t)(h[0] & 0x0f) * 4;
    total = cs_rd_be16(h + 2);
    if (total == 0) /* TCP segmentation offload: the length is the capture's */
        total = d->c.len - l3;
    if (ihl < 20 || total < ihl) {
        mark_malformed(d);
        return;
    }
    frag = cs_rd_be16(h + 6);
    l->more_frags = (frag & 0x2000) != 0;
    l->frag_offset = (uint16_t)((frag & 0x1fff) * 8);
    l->ip_payload_len = (uint32_t)(total - ihl);
    clip_datagram(d, l3 + total);
    if (l3 + ihl > d->c.len) { /* options cut off */
        mark_malformed(d);
        set_payload(d, d->c.len);
        return;
    }
    if (l->more_frags || l->frag_offset) {
        l->flags |= CS_L_FRAGMENT;
        l->frag_data_off = (uint32_t)(l3 + ihl);
        l->frag_data_len = (uint32_t)(total - ihl);
        if (l->frag_offset) {
            set_payload(d, l3 + ihl);
            return;
        }
        l->flags |= CS_L_FRAG_FIRST;
    }
    parse_l4(d, l3 + ihl, total - ihl);
}

/*
 * Walks IPv6 extension headers from "*off" with first header "nh". Returns
 * false when there is no upper-layer header to parse (non-first fragment,
 * no-next-header, ESP, or a header cut off); "*off" ends at the upper layer.
 */
static bool walk_ipv6_ext(dissector *d, uint8_t nh, size_t *off)
{
    cs_layers *l = d->l;
    const uint8_t *h;
    size_t len;

    for (;;) {
        l->ip_proto = nh;
        switch (nh) {
        case IPPROTO_NUM_HOPOPTS:
        case IPPROTO_NUM_ROUTING:
        case IPPROTO_NUM_DSTOPTS:
        case IPPROTO_NUM_AH:
            if (*off + 2 > d->c.len)
                goto cut_off;
            h = d->c.base + *off;
            len = nh == IPPROTO_NUM_AH ? ((size_t)h[1] + 2) * 4 : ((size_t)h[1] + 1) * 8;
            break;
        case IPPROTO_NUM_FRAGMENT:
            if (*off + 8 > d->c.len)
                goto cut_off;
            h = d->c.base + *off;
            len = 8;
            l->frag_offset = cs_rd_be16(h + 2) & 0xfff8;
            l->more_frags = h[3] & 1;
            l->ip_id = cs_rd_be32(h + 4);
            if (l->frag_offset || l->more_frags) {
                l->flags |= CS_L_FRAGMENT;
                l->frag_data_off = (uint32_t)(*off + len);
                if (l->frag_offset) {
                    l->ip_proto = h[0];
                    *off += len;
                    return false;
                }
                l->flags |= CS_L_FRAG_FIRST;
            }
            break;
        case IPPROTO_NUM_NONE:
        case IPPROTO_NUM_ESP:
            return false;
        default:
            return true;
        }
        if (*off + len > d->c.len)
            goto cut_off;
        nh = h[0];
        *off += len;
    }
cut_off:
    mark_malformed(d);
    *off = d->c.len;
    return false;
}

static void parse_ipv6(dissector *d)
{
    cs_layers *l = d->l;
    size_t l3 = d->c.off, plen, off = l3 + 40, ip_end;
    const uint8_t *h = cs_cursor_need(&d->c, 40);
    bool upper;

    if (h == NULL || (h[0] >> 4) != 6) {
        mark_malformed(d);
        return;
    }
    l->flags |= CS_L_IP;
    l->ip_version = 6;
    l->ttl = h[7];
    memcpy(l->src, h + 8, 16);
    memcpy(l->dst, h + 24, 16);
    plen = cs_rd_be16(h + 4);
    if (plen == 0 && h[6] == IPPROTO_NUM_HOPOPTS) /* jumbogram: to the capture's end */
        plen = d->c.len - off;
    ip_end = off + plen;
    clip_datagram(d, ip_end);
    upper = walk_ipv6_ext(d, h[6], &off);
    l->ip_payload_len = (uint32_t)(off < ip_end ? ip_end - off : 0);
    if ((l->flags & CS_L_FRAGMENT) && l->frag_data_off < ip_end)
        l->frag_data_len = (uint32_t)(ip_end - l->frag_data_off);
    if (!upper) {
        set_payload(d, off);
        return;
    }
    parse_l4(d, off, l->ip_payload_len);
}

/* ---- link and encapsulation ------------------------------------------------------ */

static void parse_ip_by_ethertype(dissector *d, uint16_t et)
{
    d->l->ethertype = et;
    if (d->c.off > OFF_MAX) {
        mark_malformed(d);
        return;
    }
    d->l->l3_off = (uint16_t)d->c.off;
    if (et == ET_IPV4)
        parse_ipv4(d);
    else
        parse_ipv6(d);
    if (d->l->flags & CS_L_IP)
        d->l->flags |= d->pending;
}

/* The ethertype of the IP version in the first nibble at the cursor (0: neither). */
static uint16_t ethertype_by_nibble(const dissector *d)
{
    uint8_t v;

    if (cs_cursor_left(&d->c) == 0)
        return 0;
    v = cs_cursor_ptr(&d->c)[0] >> 4;
    return v == 4 ? ET_IPV4 : v == 6 ? ET_IPV6 : 0;
}

static uint16_t ethertype_of_ppp(uint16_t proto)
{
    return proto == PPP_IPV4 ? ET_IPV4 : proto == PPP_IPV6 ? ET_IPV6 : 0;
}

/* Skips an MPLS label stack; returns the ethertype of IP under it, or 0. */
static uint16_t skip_mpls(dissector *d)
{
    const uint8_t *e;

    do {
        e = cs_cursor_need(&d->c, 4);
        if (e == NULL)
            return 0;
    } while ((e[2] & 1) == 0);
    d->pending |= CS_L_MPLS;
    return ethertype_by_nibble(d);
}

/* Reads an 802.2 LLC header; returns the SNAP ethertype, or 0 if not SNAP. */
static uint16_t parse_llc(dissector *d)
{
    const uint8_t *h = cs_cursor_need(&d->c, 8);

    if (h == NULL || h[0] != 0xaa || h[1] != 0xaa || h[2] != 0x03)
        return 0;
    d->pending |= CS_L_ENCAP;
    return cs_rd_be16(h + 6);
}

/* PPPoE session header plus the PPP protocol; returns the ethertype, or 0. */
static uint16_t parse_pppoe(dissector *d)
{
    const uint8_t *h = cs_cursor_need(&d->c, 8);

    if (h == NULL)
        return 0;
    d->pending |= CS_L_ENCAP;
    return ethertype_of_ppp(cs_rd_be16(h + 6));
}

/*
 * Follows ethertype "et" through VLAN tags, MPLS, LLC/SNAP and PPPoE down to
 * IP. Each step consumes at least 2 bytes, so the loop ends with the packet.
 */
static void walk_ethertype(dissector *d, uint16_t et)
{
    cs_layers *l = d->l;
    const uint8_t *h;

    for (;;) {
        switch (et) {
        case ET_VLAN:
        case ET_QINQ:
        case ET_QINQ_OLD:
            h = cs_cursor_need(&d->c, 4);
            if (h == NULL) {
                l->ethertype = 0;
                return;
            }
            if (l->n_vlan < 2)
                l->vlan[l->n_vlan] = cs_rd_be16(h) & 0x0fff;
            if (l->n_vlan < UINT8_MAX)
                l->n_vlan++;
            et = cs_rd_be16(h + 2);
            continue;
        case ET_MPLS_UC:
        case ET_MPLS_MC:
            l->ethertype = et;
            et = skip_mpls(d);
            if (et == 0)
                return;
            break;
        case ET_PPPOE_SESS:
            l->ethertype = et;
            et = parse_pppoe(d);
            if (et == 0)
                return;
            break;
        case ET_IPV4:
        case ET_IPV6:
            break;
        default:
            if (et > ET_MAX_8023_LEN) {
                l->ethertype = et;
                return;
            }
            et = parse_llc(d);
            if (et == 0) {
                l->ethertype = 0;
                return;
            }
            continue;
        }
        parse_ip_by_ethertype(d, et);
        return;
    }
}

static void link_ethernet(dissector *d)
{
    const uint8_t *h = cs_cursor_need(&d->c, 14);

    if (h != NULL)
        walk_ethertype(d, cs_rd_be16(h + 12));
}

static void link_sll_proto(dissector *d, uint16_t proto)
{
    if (proto == SLL_PROTO_LLC) {
        proto = parse_llc(d);
        if (proto == 0)
            return;
    }
    if (proto > ET_MAX_8023_LEN)
        walk_ethertype(d, proto);
}

static void link_sll(dissector *d)
{
    const uint8_t *h = cs_cursor_need(&d->c, 16);

    if (h != NULL)
        link_sll_proto(d, cs_rd_be16(h + 14));
}

static void link_sll2(dissector *d)
{
    const uint8_t *h = cs_cursor_need(&d->c, 20);

    if (h != NULL)
        link_sll_proto(d, cs_rd_be16(h));
}

static void link_ip(dissector *d, uint16_t et)
{
    if (et != 0)
        parse_ip_by_ethertype(d, et);
}

/* BSD address families meaning IPv6 on Linux, OpenBSD/NetBSD, FreeBSD, macOS. */
static uint16_t ethertype_of_af(uint32_t af)
{
    if (af == 2)
        return ET_IPV4;
    if (af == 10 || af == 24 || af == 28 || af == 30)
        return ET_IPV6;
    return 0;
}

static void link_null(dissector *d, bool network_order)
{
    const uint8_t *h = cs_cursor_need(&d->c, 4);
    uint32_t af;

    if (h == NULL)
        return;
    af = network_order ? cs_rd_be32(h) : cs_rd_le32(h);
    if (!network_order && (af & 0xffff0000u)) /* written on a big-endian host */
        af = cs_rd_be32(h);
    link_ip(d, ethertype_of_af(af));
}

static void link_ppp(dissector *d)
{
    const uint8_t *h;
    uint16_t proto;

    if (cs_cursor_left(&d->c) >= 2 && cs_cursor_ptr(&d->c)[0] == 0xff &&
        cs_cursor_ptr(&d->c)[1] == 0x03)
        cs_cursor_skip(&d->c, 2);
    h = cs_cursor_need(&d->c, 1);
    if (h == NULL)
        return;
    proto = h[0];
    if ((proto & 1) == 0) { /* uncompressed 2-byte protocol field */
        h = cs_cursor_need(&d->c, 1);
        if (h == NULL)
            return;
        proto = (uint16_t)(proto << 8 | h[0]);
    }
    d->pending |= CS_L_ENCAP;
    link_ip(d, ethertype_of_ppp(proto));
}

/* Finds the NFULA_PAYLOAD TLV and dissects the IP packet inside it, bounded by the TLV. */
static void link_nflog(dissector *d)
{
    const uint8_t *h = cs_cursor_need(&d->c, 4);
    uint8_t family;
    size_t tlv_len, value_end;

    if (h == NULL)
        return;
    family = h[0];
    while ((h = cs_cursor_need(&d->c, 4)) != NULL) {
        tlv_len = cs_rd_le16(h);
        if (tlv_len < 4) {
            mark_malformed(d);
            return;
        }
        value_end = d->c.off - 4 + tlv_len;
        if ((cs_rd_le16(h + 2) & 0x7fff) == NFULA_PAYLOAD) {
            if (value_end < d->c.len)
                d->c.len = value_end;
            d->pending |= CS_L_ENCAP;
            link_ip(d, family == 2 ? ET_IPV4 : family == 10 ? ET_IPV6 : ethertype_by_nibble(d));
            return;
        }
        if (!cs_cursor_skip(&d->c, ((tlv_len + 3) & ~(size_t)3) - 4))
            return;
    }
}

int cs_dissect(const cs_packet *p, cs_layers *l)
{
    dissector d = {.l = l, .pending = 0};

    memset(l, 0, sizeof(*l));
    cs_cursor_init(&d.c, p->data, p->data ? p->caplen : 0);
    switch (p->linktype) {
    case CS_LINK_ETHERNET:
        link_ethernet(&d);
        break;
    case CS_LINK_LINUX_SLL:
        link_sll(&d);
        break;
    case CS_LINK_LINUX_SLL2:
        link_sll2(&d);
        break;
    case CS_LINK_RAW:
    case CS__DLT_RAW:
    case CS__DLT_RAW_BSD:
        link_ip(&d, ethertype_by_nibble(&d));
        break;
    case CS_LINK_IPV4:
        link_ip(&d, ET_IPV4);
        break;
    case CS_LINK_IPV6:
        link_ip(&d, ET_IPV6);
        break;
    case CS_LINK_NULL:
        link_null(&d, false);
        break;
    case CS_LINK_LOOP:
        link_null(&d, true);
        break;
    case CS_LINK_PPP:
        link_ppp(&d);
        break;
    case CS_LINK_NFLOG:
        link_nflog(&d);
        break;
    default:
        return CS_ELINKTYPE;
    }
    return 0;
}

int cs_dissect_knows(uint16_t linktype)
{
    cs_packet p = {.linktype = linktype}; /* no bytes: every link walk stops at once */
    cs_layers l;

    return cs_dissect(&p, &l) != CS_ELINKTYPE;
}

/* ---- summary ---------------------------------------------------------------------- */

/* A bounded appender: writes never pass "size"; the text is always terminated. */
typedef struct outbuf {
    char *buf;
    size_t size, len;
} outbuf;

static void out_printf(outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(outbuf *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (o->len + 1 >= o->size)
        return;
    va_start(ap, fmt);
    n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    o->len += (size_t)n;
    if (o->len >= o->size)
        o->len = o->size - 1;
}

char *cs_addr_format(uint8_t ip_version, const uint8_t *addr, char *buf)
{
    int af = ip_version == 4 ? AF_INET : AF_INET6;

    if ((ip_version != 4 && ip_version != 6) || inet_ntop(af, addr, buf, 46) == NULL)
        strcpy(buf, "?");
    return buf;
}

/* tcpdump's flag letters: F S R P . U E W. */
static void out_tcp_flags(outbuf *o, uint8_t flags)
{
    static const char letters[] = "FSRP.UEW";
    char s[9];
    size_t n = 0;

    for (int i = 0; i < 8; i++)
        if (flags & (1u << i))
            s[n++] = letters[i];
    s[n] = '\0';
    out_printf(o, "[%s]", n ? s : "none");
}

static const char *proto_name(uint8_t proto)
{
    switch (proto) {
    case IPPROTO_NUM_TCP:
        return "TCP";
    case IPPROTO_NUM_UDP:
        return "UDP";
    case IPPROTO_NUM_SCTP:
        return "SCTP";
    case IPPROTO_NUM_ICMP:
        return "ICMP";
    case IPPROTO_NUM_ICMPV6:
        return "ICMP6";
    default:
        return NULL;
    }
}

static void out_link_prefix(outbuf *o, const cs_layers *l)
{
    for (int i = 0; i < l->n_vlan && i < 2; i++)
        out_printf(o, "vlan %u, ", l->vlan[i]);
    if (l->n_vlan > 2)
        out_printf(o, "(+%u tags), ", l->n_vlan - 2u);
    if (l->flags & CS_L_MPLS)
        out_printf(o, "MPLS, ");
    if (l->flags & CS_L_ENCAP)
        out_printf(o, "encap, ");
}

static void out_ip(outbuf *o, const cs_layers *l)
{
    char a[46], b[46];
    const char *name = proto_name(l->ip_proto);
    bool ports = (l->flags & CS_L_L4) && l->ip_proto != IPPROTO_NUM_ICMP &&
                 l->ip_proto != IPPROTO_NUM_ICMPV6;

    cs_addr_format(l->ip_version, l->src, a);
    cs_addr_format(l->ip_version, l->dst, b);
    if (ports)
        out_printf(o, "IPv%u %s.%u > %s.%u: ", l->ip_version, a, l->sport, b, l->dport);
    else
        out_printf(o, "IPv%u %s > %s: ", l->ip_version, a, b);
    if (name)
        out_printf(o, "%s", name);
    else
        out_printf(o, "proto %u", l->ip_proto);
    if ((l->flags & CS_L_L4) && l->ip_proto == IPPROTO_NUM_TCP) {
        out_printf(o, " ");
        out_tcp_flags(o, l->tcp_flags);
        out_printf(o, " seq %u", l->tcp_seq);
        if (l->tcp_flags & 0x10)
            out_printf(o, " ack %u", l->tcp_ack);
        out_printf(o, " win %u", l->tcp_window);
    } else if ((l->flags & CS_L_L4) && !ports) {
        out_printf(o, " type %u code %u", l->sport, l->dport);
    }
    if (l->flags & CS_L_FRAGMENT)
        out_printf(o, " frag id %u off %u%s", l->ip_id, l->frag_offset, l->more_frags ? "+" : "");
    out_printf(o, " len %u", l->payload_len);
}

char *cs_dissect_summary(const cs_packet *p, const cs_layers *l, char *buf, size_t size)
{
    outbuf o = {.buf = buf, .size = size, .len = 0};

    if (buf == NULL || size == 0)
        return buf;
    buf[0] = '\0';
    out_link_prefix(&o, l);
    if (l->flags & CS_L_IP)
        out_ip(&o, l);
    else if (l->ethertype == ET_ARP)
        out_printf(&o, "ARP");
    else if (l->ethertype == ET_IPV4 || l->ethertype == ET_IPV6)
        out_printf(&o, "IPv%d (header cut off)", l->ethertype == ET_IPV4 ? 4 : 6);
    else if (l->ethertype)
        out_printf(&o, "ethertype 0x%04x", l->ethertype);
    else
        out_printf(&o, "linktype %u, %u bytes", p->linktype, p->caplen);
    if (l->flags & CS_L_MALFORMED)
        out_printf(&o, " [malformed]");
    if (l->flags & CS_L_TRUNCATED)
        out_printf(&o, " [truncated]");
    return buf;
}

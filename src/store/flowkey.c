/*
 * flowkey.c - builds and hashes the packet index's cs_flowkey (flowkey.h).
 *
 * cs_flowkey_from_layers() maps a dissection (packet/dissect.h) onto the
 * fixed 52-byte key. The key is zeroed first, so two packets of the same
 * flow direction give byte-identical keys (memcmp, hashing, on-disk).
 *
 * The flags are chosen so that the index can answer tcpdump filters soundly
 * (store/flowpred.c relies on every rule below):
 *
 *   CS_FK_IP          an IP header was found (ip_version 4 or 6).
 *   CS_FK_PORTS       a complete TCP, UDP or SCTP header was found in a
 *                     packet that is not a non-first fragment: sport/dport
 *                     are the header's ports. ICMP/ICMPv6 type and code are
 *                     copied into sport/dport too, but without CS_FK_PORTS.
 *   CS_FK_FRAG        non-first fragment (fragment offset != 0).
 *   CS_FK_FRAG_FIRST  first fragment (offset 0, more-fragments set).
 *   CS_FK_ODD         the key does not describe the bytes a BPF program
 *                     sees at the usual offsets, so no filter answer may be
 *                     derived from it:
 *                       - the dissection is MALFORMED or TRUNCATED (IP
 *                         total length beyond the capture: BPF could still
 *                         read the fields, but we stay conservative);
 *                       - IP under MPLS or another encapsulation (ENCAP);
 *                       - a link type other than Ethernet, SLL, SLL2, RAW,
 *                         IPV4, IPV6, NULL, LOOP; this includes every link
 *                         type cs_dissect() cannot read (802.11, radiotap
 *                         ...), whose keys are all zero but for tap, link
 *                         type and this flag: the index cannot speak for
 *                         those packets, so every filter reads them and
 *                         runs libpcap's program on them;
 *                       - IPv6 with extension headers between the fixed
 *                         header and the upper layer (libpcap's "port" and
 *                         "ip6 proto" look only at the fixed header's next
 *                         header), including every IPv6 fragment;
 *                       - an IP version that disagrees with the ethertype.
 *
 * Hash: the key is read as six little-endian 64-bit words plus one 32-bit
 * tail; each word is folded into the state with a multiply and an
 * xor-shift, and the result goes through a final avalanche (the mixer of
 * SplitMix64). Fast, deterministic across hosts, not cryptographic.
 */
#include "store/flowkey.h"

#include "core/cursor.h"

#include <string.h>

enum {
    FK_ET_IPV4 = 0x0800,
    FK_ET_IPV6 = 0x86dd,
    FK_PROTO_TCP = 6,
    FK_PROTO_UDP = 17,
    FK_PROTO_ICMP = 1,
    FK_PROTO_ICMPV6 = 58,
    FK_PROTO_SCTP = 132,
    FK_IPV6_HDR_LEN = 40,
};

static bool link_is_plain(uint16_t linktype)
{
    switch (linktype) {
    case CS_LINK_ETHERNET:
    case CS_LINK_LINUX_SLL:
    case CS_LINK_LINUX_SLL2:
    case CS_LINK_RAW:
    case CS_LINK_IPV4:
    case CS_LINK_IPV6:
    case CS_LINK_NULL:
    case CS_LINK_LOOP:
        return true;
    default:
        return false;
    }
}

static bool proto_has_ports(uint8_t proto)
{
    return proto == FK_PROTO_TCP || proto == FK_PROTO_UDP || proto == FK_PROTO_SCTP;
}

/* True when the dissection cannot stand for the bytes a BPF program reads. */
static bool layers_are_odd(const cs_packet *p, const cs_layers *l)
{
    if (l->flags & (CS_L_MALFORMED | CS_L_TRUNCATED | CS_L_MPLS | CS_L_ENCAP))
        return true;
    if (!link_is_plain(p->linktype))
        return true;
    if (!(l->flags & CS_L_IP))
        return false;
    if (l->ip_version == 4)
        return l->ethertype != FK_ET_IPV4;
    if (l->ip_version != 6 || l->ethertype != FK_ET_IPV6)
        return true;
    /* IPv6: the upper layer must follow the fixed header directly. */
    return l->l4_off == 0 || l->l4_off != l->l3_off + FK_IPV6_HDR_LEN;
}

static uint8_t fragment_flags(const cs_layers *l)
{
    if (!(l->flags & CS_L_FRAGMENT))
        return 0;
    return (l->flags & CS_L_FRAG_FIRST) ? CS_FK_FRAG_FIRST : CS_FK_FRAG;
}

void cs_flowkey_from_layers(const cs_packet *p, const cs_layers *l, cs_flowkey *k)
{
    memset(k, 0, sizeof(*k));
    k->tap = p->tap;
    k->linktype = p->linktype;
    k->ethertype = l->ethertype;
    k->vlan[0] = l->vlan[0];
    k->vlan[1] = l->vlan[1];
    k->n_vlan = l->n_vlan;
    if (layers_are_odd(p, l))
        k->flags |= CS_FK_ODD;
    if (!(l->flags & CS_L_IP))
        return;
    k->flags |= CS_FK_IP | fragment_flags(l);
    k->ip_version = l->ip_version;
    k->ip_proto = l->ip_proto;
    memcpy(k->src, l->src, l->ip_version == 4 ? 4 : 16);
    memcpy(k->dst, l->dst, l->ip_version == 4 ? 4 : 16);
    if (!(l->flags & CS_L_L4) || (k->flags & CS_FK_FRAG))
        return;
    if (proto_has_ports(l->ip_proto)) {
        k->flags |= CS_FK_PORTS;
        k->sport = l->sport;
        k->dport = l->dport;
    } else if (l->ip_proto == FK_PROTO_ICMP || l->ip_proto == FK_PROTO_ICMPV6) {
        k->sport = l->sport; /* type */
        k->dport = l->dport; /* code */
    }
}

static uint64_t mix_word(uint64_t h, uint64_t w)
{
    h ^= w * 0x9e3779b97f4a7c15ULL;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 31);
}

uint64_t cs_flowkey_hash(const cs_flowkey *k)
{
    uint8_t bytes[sizeof(cs_flowkey)];
    uint64_t h = 0x243f6a8885a308d3ULL ^ sizeof(cs_flowkey);

    memcpy(bytes, k, sizeof(bytes));
    for (size_t off = 0; off + 8 <= sizeof(bytes); off += 8)
        h = mix_word(h, cs_rd_le64(bytes + off));
    h = mix_word(h, cs_rd_le32(bytes + sizeof(bytes) - 4));
    /* SplitMix64 finaliser: every input bit affects every output bit. */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

/* One endpoint as 24 comparable bytes: address then port. */
static void endpoint_bytes(const uint8_t addr[16], uint16_t port, uint8_t out[24])
{
    memset(out, 0, 24);
    memcpy(out, addr, 16);
    cs_wr_le16(out + 16, port);
}

uint32_t cs_flowkey_partition(const cs_flowkey *k, uint32_t partitions)
{
    uint8_t a[24], b[24];
    uint64_t h = 0x13198a2e03707344ULL;
    const uint8_t *lo, *hi;

    if (partitions <= 1)
        return 0;
    /* every fragment of a datagram, the first one too, goes by addresses
     * only, so a datagram's fragments stay together and in order */
    int frag = (k->flags & (CS_FK_FRAG | CS_FK_FRAG_FIRST)) != 0;

    endpoint_bytes(k->src, frag ? 0 : k->sport, a);
    endpoint_bytes(k->dst, frag ? 0 : k->dport, b);
    lo = memcmp(a, b, sizeof(a)) <= 0 ? a : b;
    hi = lo == a ? b : a;
    for (size_t off = 0; off < sizeof(a); off += 8) {
        h = mix_word(h, cs_rd_le64(lo + off));
        h = mix_word(h, cs_rd_le64(hi + off));
    }
    h = mix_word(h, (uint64_t)k->vlan[0] | (uint64_t)k->vlan[1] << 16 |
                        (uint64_t)k->ip_version << 32 | (uint64_t)k->ip_proto << 40);
    return (uint32_t)(((h >> 32) * partitions) >> 32);
}

/*
 * test_dissect.c - unit tests for src/packet/dissect.c.
 *
 * Two kinds of evidence:
 *
 * 1. Hand-built packets for every link type and encapsulation cs_dissect()
 *    knows (Ethernet with 802.1Q/802.1ad/0x9100 tags, MPLS, LLC/SNAP, PPPoE,
 *    Linux SLL/SLL2, raw IP 101/228/229, NULL/LOOP, PPP, NFLOG), IPv6
 *    extension headers and fragments, IPv4 fragments and malformed headers.
 *    Each is also dissected cut off at every byte length, in an exactly
 *    sized heap buffer (so ASan sees any over-read), checking that the result
 *    is consistent: once the whole datagram is there the answer equals the
 *    full packet's, before that the packet is flagged truncated and nothing
 *    is claimed that was not captured.
 *
 * 2. Real captures from tests/pcaps, packet by packet, against libpcap's
 *    own reading of the same bytes: from each verdict a BPF filter is built
 *    ("vlan 13 and vlan 10 and tcp and src host A and dst host B and src
 *    port P and dst port Q and tcp[4:4] = SEQ ...") and must match the packet
 *    with pcap_offline_filter(); a deliberately wrong variant (destination
 *    port + 1, or a wrong TTL) must not. NFLOG and LLC/SNAP, which libpcap's
 *    filter compiler cannot look through, are checked against tshark's
 *    fields instead.
 */
#include "packet/dissect.h"

#include "core/alloc.h"
#include "core/error.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#define PCAP_DIR "tests/pcaps/"

/* ---- packet building -------------------------------------------------------- */

typedef struct pkt {
    uint8_t b[1024];
    size_t n;
} pkt;

static void put(pkt *p, const void *d, size_t n)
{
    assert_true(p->n + n <= sizeof(p->b));
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void put_u8(pkt *p, uint8_t v)
{
    put(p, &v, 1);
}

static void put_be16(pkt *p, uint16_t v)
{
    put_u8(p, (uint8_t)(v >> 8));
    put_u8(p, (uint8_t)v);
}

static void put_be32(pkt *p, uint32_t v)
{
    put_be16(p, (uint16_t)(v >> 16));
    put_be16(p, (uint16_t)v);
}

static void put_fill(pkt *p, uint8_t v, size_t n)
{
    while (n--)
        put_u8(p, v);
}

static void put_eth(pkt *p, uint16_t type)
{
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};

    put(p, macs, sizeof(macs));
    put_be16(p, type);
}

static const uint8_t SRC4[4] = {10, 1, 0, 13}, DST4[4] = {10, 2, 0, 1};
static const uint8_t SRC6[16] = {0xfd, 0, [13] = 3, [15] = 0x0b};
static const uint8_t DST6[16] = {0xfd, 0, [13] = 4, [15] = 1};

/* IPv4 header: "ihl_words" 32-bit words (options zero-filled), total length
 * "total", fragment field "frag". */
static void put_ipv4_hdr(pkt *p, uint8_t ihl_words, uint16_t total, uint8_t proto, uint16_t frag)
{
    put_u8(p, (uint8_t)(0x40 | ihl_words));
    put_u8(p, 0);
    put_be16(p, total);
    put_be16(p, 1234);
    put_be16(p, frag);
    put_u8(p, 64);
    put_u8(p, proto);
    put_be16(p, 0);
    put(p, SRC4, 4);
    put(p, DST4, 4);
    if (ihl_words > 5)
        put_fill(p, 1, (size_t)(ihl_words - 5) * 4); /* NOP options */
}

static void put_tcp(pkt *p, uint8_t doff_words, size_t payload)
{
    put_be16(p, 40003);
    put_be16(p, 9878);
    put_be32(p, 1000);
    put_be32(p, 1);
    put_u8(p, (uint8_t)(doff_words << 4));
    put_u8(p, 0x18); /* PSH ACK */
    put_be16(p, 65535);
    put_be32(p, 0);
    if (doff_words > 5)
        put_fill(p, 1, (size_t)(doff_words - 5) * 4);
    put_fill(p, 'x', payload);
}

static void put_udp(pkt *p, uint16_t ulen, size_t payload)
{
    put_be16(p, 5353);
    put_be16(p, 53);
    put_be16(p, ulen);
    put_be16(p, 0);
    put_fill(p, 'u', payload);
}

/* IPv4 + TCP (no options) + "payload" bytes. */
static void put_ipv4_tcp(pkt *p, size_t payload)
{
    put_ipv4_hdr(p, 5, (uint16_t)(40 + payload), 6, 0);
    put_tcp(p, 5, payload);
}

static void put_ipv6_hdr(pkt *p, uint16_t plen, uint8_t nh)
{
    put_be32(p, 0x60000000);
    put_be16(p, plen);
    put_u8(p, nh);
    put_u8(p, 57);
    put(p, SRC6, 16);
    put(p, DST6, 16);
}

static void put_ipv6_tcp(pkt *p, size_t payload)
{
    put_ipv6_hdr(p, (uint16_t)(20 + payload), 6);
    put_tcp(p, 5, payload);
}

/* ---- checking ---------------------------------------------------------------- */

/* Dissects "n" bytes of "p" copied into an exactly sized heap buffer. */
static int dissect_n(const pkt *p, size_t n, uint16_t linktype, cs_layers *l)
{
    uint8_t *copy = cs_malloc(n ? n : 1);
    cs_packet pk = {.caplen = (uint32_t)n, .wirelen = (uint32_t)p->n, .linktype = linktype};
    char line[256];
    int rc;

    assert_non_null(copy);
    memcpy(copy, p->b, n);
    pk.data = copy;
    rc = cs_dissect(&pk, l);
    cs_dissect_summary(&pk, l, line, sizeof(line));
    assert_true(strlen(line) < sizeof(line));
    cs_free(copy);
    return rc;
}

static void check_invariants(const cs_layers *l, size_t caplen)
{
    assert_true((uint64_t)l->payload_off + l->payload_len <= caplen);
    if (l->l4_off) {
        assert_true(l->l4_off >= l->l3_off);
        assert_true(l->l4_off <= l->payload_off);
    }
    if (l->flags & CS_L_L4)
        assert_true(l->flags & CS_L_IP);
    if (l->flags & CS_L_FRAG_FIRST)
        assert_true(l->flags & CS_L_FRAGMENT);
    if (l->flags & CS_L_IP) {
        assert_true(l->ip_version == 4 || l->ip_version == 6);
        assert_true(l->l3_off + (l->ip_version == 4 ? 20u : 40u) <= caplen);
    }
    if (l->flags & CS_L_L4) {
        size_t fixed = l->ip_proto == 6 ? 20 : l->ip_proto == 132 ? 12 : 8;
        assert_true(l->l4_off + fixed <= caplen);
    }
}

/*
 * Dissects "p" cut at every length. Once the whole IP datagram of the full
 * packet is present the result must equal the full result; before that an
 * IP header that was found is flagged truncated (or malformed, if its own
 * header was cut), and the payload never extends past the cut.
 */
static void check_all_truncations(const pkt *p, uint16_t linktype)
{
    cs_layers full, l;
    size_t ip_end;

    assert_int_equal(dissect_n(p, p->n, linktype, &full), 0);
    check_invariants(&full, p->n);
    ip_end = full.payload_off + full.payload_len;
    if (full.flags & CS_L_MALFORMED) /* the payload says nothing about the datagram's end */
        ip_end = p->n;
    for (size_t n = 0; n <= p->n; n++) {
        assert_int_equal(dissect_n(p, n, linktype, &l), 0);
        check_invariants(&l, n);
        if (n >= ip_end && (full.flags & CS_L_IP)) {
            assert_memory_equal(&l, &full, sizeof(l));
            continue;
        }
        if (l.flags & CS_L_IP)
            assert_true(l.flags & (CS_L_TRUNCATED | CS_L_MALFORMED));
        if (n < (size_t)full.l3_off + 20)
            assert_false(l.flags & CS_L_IP);
        if ((l.flags & CS_L_L4) && n >= full.payload_off)
            assert_int_equal(l.payload_len, n - full.payload_off);
    }
}

/* The common expectations for the IPv4 TCP packet of put_ipv4_tcp(). */
static void expect_v4_tcp(const cs_layers *l, size_t l3, size_t payload)
{
    assert_int_equal(l->ip_version, 4);
    assert_true(l->flags & CS_L_IP);
    assert_true(l->flags & CS_L_L4);
    assert_false(l->flags & (CS_L_MALFORMED | CS_L_TRUNCATED | CS_L_FRAGMENT));
    assert_int_equal(l->l3_off, l3);
    assert_int_equal(l->l4_off, l3 + 20);
    assert_memory_equal(l->src, SRC4, 4);
    assert_memory_equal(l->dst, DST4, 4);
    assert_int_equal(l->ip_proto, 6);
    assert_int_equal(l->ttl, 64);
    assert_int_equal(l->ip_id, 1234);
    assert_int_equal(l->sport, 40003);
    assert_int_equal(l->dport, 9878);
    assert_int_equal(l->tcp_seq, 1000);
    assert_int_equal(l->tcp_ack, 1);
    assert_int_equal(l->tcp_flags, 0x18);
    assert_int_equal(l->tcp_window, 65535);
    assert_int_equal(l->payload_off, l3 + 40);
    assert_int_equal(l->payload_len, payload);
    assert_int_equal(l->ip_payload_len, 20 + payload);
    assert_int_equal(l->ethertype, 0x0800);
}

static void expect_v6_tcp(const cs_layers *l, size_t l3, size_t payload)
{
    assert_int_equal(l->ip_version, 6);
    assert_true(l->flags & CS_L_L4);
    assert_false(l->flags & (CS_L_MALFORMED | CS_L_TRUNCATED));
    assert_int_equal(l->l3_off, l3);
    assert_memory_equal(l->src, SRC6, 16);
    assert_memory_equal(l->dst, DST6, 16);
    assert_int_equal(l->ip_proto, 6);
    assert_int_equal(l->ttl, 57);
    assert_int_equal(l->sport, 40003);
    assert_int_equal(l->dport, 9878);
    assert_int_equal(l->payload_len, payload);
    assert_int_equal(l->payload_off, l->l4_off + 20);
    assert_int_equal(l->ethertype, 0x86dd);
}

static void dissect_full(const pkt *p, uint16_t linktype, cs_layers *l)
{
    assert_int_equal(dissect_n(p, p->n, linktype, l), 0);
    check_invariants(l, p->n);
}

/* ---- link types and encapsulations ------------------------------------------------ */

static void test_ethernet_plain_and_padding(void **state)
{
    pkt p = {0};
    cs_layers l;

    put_eth(&p, 0x0800);
    put_ipv4_tcp(&p, 2);
    put_fill(&p, 0xee, 60 - p.n); /* Ethernet minimum-frame padding */
    dissect_full(&p, CS_LINK_ETHERNET, &l);
    expect_v4_tcp(&l, 14, 2);
    assert_int_equal(l.n_vlan, 0);
    assert_int_equal(l.flags, CS_L_IP | CS_L_L4);
    check_all_truncations(&p, CS_LINK_ETHERNET);
}

static void test_ethernet_vlan_tags(void **state)
{
    static const uint16_t tpids[3] = {0x88a8, 0x8100, 0x9100};
    pkt p = {0};
    cs_layers l;

    put_eth(&p, tpids[0]);
    put_be16(&p, 0x2000 | 101); /* PCP 1, VID 101 */
    put_be16(&p, tpids[1]);
    put_be16(&p, 202);
    put_be16(&p, tpids[2]);
    put_be16(&p, 303);
    put_be16(&p, 0x0800);
    put_ipv4_tcp(&p, 10);
    dissect_full(&p, CS_LINK_ETHERNET, &l);
    expect_v4_tcp(&l, 26, 10);
    assert_int_equal(l.n_vlan, 3);
    assert_int_equal(l.vlan[0], 101);
    assert_int_equal(l.vlan[1], 202);
    check_all_truncations(&p, CS_LINK_ETHERNET);
}

static void test_ethernet_mpls(void **state)
{
    pkt p = {0};
    cs_layers l;

    put_eth(&p, 0x8847);
    put_be32(&p, (100u << 12) | 0x40);  /* label 100, S=0 */
    put_be32(&p, (200u << 12) | 0x140); /* label 200, S=1 */
    put_ipv6_tcp(&p, 7);
    dissect_full(&p, CS_LINK_ETHERNET, &l);
    expect_v6_tcp(&l, 22, 7);
    assert_int_equal(l.flags, CS_L_IP | CS_L_L4 | CS_L_MPLS);
    check_all_truncations(&p, CS_LINK_ETHERNET);

    /* Multicast MPLS over a VLAN, IPv4 under it. */
    p.n = 0;
    put_eth(&p, 0x8100);
    put_be16(&p, 7);
    put_be16(&p, 0x8848);
    put_be32(&p, (5u << 12) | 0x140);
    put_ipv4_tcp(&p, 3);
    dissect_full(&p, CS_LINK_ETHERNET, &l);
    expect_v4_tcp(&l, 22, 3);
    assert_true(l.flags & CS_L_MPLS);
    assert_int_equal(l.vlan[0], 7);

    /* Ethernet pseudowire (control word 0) under MPLS: not IP, no flags. */
    p.n = 0;
    put_eth(&p, 0x8847);
    put_be32(&p, (5u << 12) | 0x140);
    put_be32(&p, 0);
    put_eth(&p, 0x0800);
    dissect_full(&p, CS_LINK_ETHERNET, &l);
    assert_int_equal(l.flags, 0);
    assert_int_equal(l.ethertype, 0x8847);
}

static void test_ethernet_llc_snap(void **state)
{
    static const uint8_t snap[6] = {0xaa, 0xaa, 0x03, 0, 0, 0};
    pkt p = {0};
    cs_layers l;

    put_eth(&p, 8 + 40 + 5); /* 802.3 length field */
    put(&p, snap, sizeof(snap));
    put_be16(&p, 0x0800);
    put_ipv4_tcp(&p, 5);
    dissect_full(&p, CS_LINK_ETHERNET, &l);
    expect_v4_tcp(&l, 22, 5);
    assert_int_equal(l.flags, CS_L_IP | CS_L_L4 | CS_L_ENCAP);
    check_all_truncations(&p, CS_LINK_ETHERNET);

    /* Plain LLC (spanning tree): neither IP nor an ethertype. */
    p.n = 0;
    put_eth(&p, 38);
    put_be16(&p, 0x4242);
    put_u8(&p, 0x03);
    put_fill(&p, 0, 35);
    dissect_full(&p, CS_LINK_ETHERNET, &l);
    assert_int_equal(l.flags, 0);
    assert_int_equal(l.ethertype, 0);
}

static void test_ethernet_pppoe(void **state)
{
    pkt p = {0};
    cs_layers l;

    put_eth(&p, 0x8864);
    put_u8(&p, 0x11);
    put_u8(&p, 0);
    put_be16(&p, 0x1234);
    put_be16(&p, 2 + 40 + 4);
    put_be16(&p, 0x0021);
    put_ipv4_tcp(&p, 4);
    dissect_full(&p, CS_LINK_ETHERNET, &l);
    expect_v4_tcp(&l, 22, 4);
    assert_int_equal(l.flags, CS_L_IP | CS_L_L4 | CS_L_ENCAP);
    check_all_truncations(&p, CS_LINK_ETHERNET);

    p.n = 20; /* PPP protocol 0x0057: IPv6 */
    p.b[20] = 0x00;
    p.b[21] = 0x57;
    p.n = 22;
    put_ipv6_tcp(&p, 9);
    dissect_full(&p, CS_LINK_ETHERNET, &l);
    expect_v6_tcp(&l, 22, 9);
    assert_true(l.flags & CS_L_ENCAP);

    p.b[21] = 0x21 + 2; /* other PPP protocol: not IP */
    dissect_full(&p, CS_LINK_ETHERNET, &l);
    assert_int_equal(l.flags, 0);
}

static void test_ethernet_arp_and_other(void **state)
{
    pkt p = {0};
    cs_layers l;
    char line[128];
    cs_packet pk;

    put_eth(&p, 0x8100);
    put_be16(&p, 13);
    put_be16(&p, 0x0806);
    put_fill(&p, 0, 28);
    dissect_full(&p, CS_LINK_ETHERNET, &l);
    assert_int_equal(l.flags, 0);
    assert_int_equal(l.ethertype, 0x0806);
    assert_int_equal(l.vlan[0], 13);
    pk = (cs_packet){.caplen = (uint32_t)p.n, .linktype = CS_LINK_ETHERNET, .data = p.b};
    assert_string_equal(cs_dissect_summary(&pk, &l, line, sizeof(line)), "vlan 13, ARP");
}

static void test_linux_sll_and_sll2(void **state)
{
    pkt p = {0};
    cs_layers l;

    put_be16(&p, 0); /* SLL: packet type */
    put_be16(&p, 1); /* ARPHRD_ETHER */
    put_be16(&p, 6);
    put_fill(&p, 0xab, 8);
    put_be16(&p, 0x8100); /* a VLAN tag left in the packet */
    put_be16(&p, 42);
    put_be16(&p, 0x0800);
    put_ipv4_tcp(&p, 6);
    dissect_full(&p, CS_LINK_LINUX_SLL, &l);
    expect_v4_tcp(&l, 20, 6);
    assert_int_equal(l.n_vlan, 1);
    assert_int_equal(l.vlan[0], 42);
    check_all_truncations(&p, CS_LINK_LINUX_SLL);

    p.n = 0;
    put_be16(&p, 0x86dd); /* SLL2: protocol first */
    put_be16(&p, 0);
    put_be32(&p, 3);
    put_be16(&p, 1);
    put_u8(&p, 0);
    put_u8(&p, 6);
    put_fill(&p, 0xab, 8);
    put_ipv6_tcp(&p, 11);
    dissect_full(&p, CS_LINK_LINUX_SLL2, &l);
    expect_v6_tcp(&l, 20, 11);
    assert_int_equal(l.flags, CS_L_IP | CS_L_L4);
    check_all_truncations(&p, CS_LINK_LINUX_SLL2);
}

static void test_raw_ip(void **state)
{
    pkt p4 = {0}, p6 = {0};
    cs_layers l;

    put_ipv4_tcp(&p4, 8);
    put_ipv6_tcp(&p6, 8);
    dissect_full(&p4, CS_LINK_RAW, &l);
    expect_v4_tcp(&l, 0, 8);
    dissect_full(&p6, CS_LINK_RAW, &l);
    expect_v6_tcp(&l, 0, 8);
    dissect_full(&p4, CS_LINK_IPV4, &l);
    expect_v4_tcp(&l, 0, 8);
    dissect_full(&p6, CS_LINK_IPV6, &l);
    expect_v6_tcp(&l, 0, 8);
    dissect_full(&p4, 12, &l); /* DLT_RAW as pcap_datalink() reports it */
    expect_v4_tcp(&l, 0, 8);
    check_all_truncations(&p4, CS_LINK_RAW);
    check_all_truncations(&p6, CS_LINK_IPV6);

    /* IPv6 bytes on the IPv4-only link type: a wrong version is malformed. */
    dissect_full(&p6, CS_LINK_IPV4, &l);
    assert_int_equal(l.flags, CS_L_MALFORMED);
}

static void test_null_and_loop(void **state)
{
    static const struct {
        uint16_t linktype;
        uint8_t af[4];
        int version;
    } cases[] = {
        {CS_LINK_NULL, {2, 0, 0, 0}, 4},  {CS_LINK_NULL, {0, 0, 0, 2}, 4},
        {CS_LINK_NULL, {10, 0, 0, 0}, 6}, {CS_LINK_NULL, {24, 0, 0, 0}, 6},
        {CS_LINK_NULL, {0, 0, 0, 28}, 6}, {CS_LINK_NULL, {30, 0, 0, 0}, 6},
        {CS_LINK_LOOP, {0, 0, 0, 2}, 4},  {CS_LINK_LOOP, {0, 0, 0, 24}, 6},
        {CS_LINK_LOOP, {2, 0, 0, 0}, 0},  {CS_LINK_NULL, {7, 0, 0, 0}, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pkt p = {0};
        cs_layers l;

        put(&p, cases[i].af, 4);
        if (cases[i].version == 6)
            put_ipv6_tcp(&p, 3);
        else
            put_ipv4_tcp(&p, 3);
        dissect_full(&p, cases[i].linktype, &l);
        if (cases[i].version == 4)
            expect_v4_tcp(&l, 4, 3);
        else if (cases[i].version == 6)
            expect_v6_tcp(&l, 4, 3);
        else
            assert_int_equal(l.flags, 0);
        check_all_truncations(&p, cases[i].linktype);
    }
}

static void test_ppp(void **state)
{
    pkt p = {0};
    cs_layers l;

    put_be16(&p, 0xff03);
    put_be16(&p, 0x0021);
    put_ipv4_tcp(&p, 1);
    dissect_full(&p, CS_LINK_PPP, &l);
    expect_v4_tcp(&l, 4, 1);
    assert_true(l.flags & CS_L_ENCAP);
    check_all_truncations(&p, CS_LINK_PPP);

    p.n = 0; /* no address/control, compressed 1-byte protocol */
    put_u8(&p, 0x57);
    put_ipv6_tcp(&p, 2);
    dissect_full(&p, CS_LINK_PPP, &l);
    expect_v6_tcp(&l, 1, 2);
    check_all_truncations(&p, CS_LINK_PPP);

    p.b[0] = 0x2b; /* IPX: not IP */
    dissect_full(&p, CS_LINK_PPP, &l);
    assert_int_equal(l.flags, 0);
}

static void put_tlv_le(pkt *p, uint16_t type, const void *v, size_t n)
{
    put_u8(p, (uint8_t)(n + 4));
    put_u8(p, (uint8_t)((n + 4) >> 8));
    put_u8(p, (uint8_t)type);
    put_u8(p, (uint8_t)(type >> 8));
    put(p, v, n);
    put_fill(p, 0, (4 - n % 4) % 4);
}

static void test_nflog(void **state)
{
    pkt p = {0}, ip = {0};
    cs_layers l;

    put_u8(&p, 2); /* AF_INET */
    put_u8(&p, 0);
    put_be16(&p, 1);
    put_tlv_le(&p, 1, "\x08\x00\x01\x00", 4); /* NFULA_PACKET_HDR */
    put_tlv_le(&p, 10, "prefix!", 7);         /* NFULA_PREFIX, padded to 8 */
    put_ipv4_tcp(&ip, 3);
    put_tlv_le(&p, 9, ip.b, ip.n); /* 43 bytes, padded */
    dissect_full(&p, CS_LINK_NFLOG, &l);
    expect_v4_tcp(&l, 4 + 8 + 12 + 4, 3);
    assert_int_equal(l.flags, CS_L_IP | CS_L_L4 | CS_L_ENCAP);
    check_all_truncations(&p, CS_LINK_NFLOG);

    p.b[4] = 2; /* a TLV length below 4 would never advance: malformed */
    dissect_full(&p, CS_LINK_NFLOG, &l);
    assert_int_equal(l.flags, CS_L_MALFORMED);
}

static void test_unknown_linktype(void **state)
{
    pkt p = {0};
    cs_layers l;

    put_ipv4_tcp(&p, 0);
    assert_int_equal(dissect_n(&p, p.n, 147, &l), CS_ELINKTYPE);
    assert_int_equal(l.flags, 0);
}

/* ---- IPv4 ----------------------------------------------------------------------- */

static void test_ipv4_malformed(void **state)
{
    pkt p = {0};
    cs_layers l;

    put_ipv4_hdr(&p, 3, 40, 6, 0); /* IHL 3 */
    put_fill(&p, 0, 28);
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_true(l.flags & CS_L_MALFORMED);
    assert_false(l.flags & CS_L_L4);
    assert_memory_equal(l.src, SRC4, 4); /* read before the fault: kept */
    check_all_truncations(&p, CS_LINK_RAW);

    p.n = 0;
    put_ipv4_hdr(&p, 5, 10, 6, 0); /* total length 10 < IHL*4 */
    put_tcp(&p, 5, 0);
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_true(l.flags & CS_L_MALFORMED);
    assert_false(l.flags & CS_L_L4);

    p.n = 0;
    put_ipv4_hdr(&p, 5, 60, 6, 0); /* TCP data offset 2 */
    put_tcp(&p, 2, 20);
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_true(l.flags & CS_L_MALFORMED);
    assert_false(l.flags & CS_L_L4);
    assert_int_equal(l.payload_len, 0);
    check_all_truncations(&p, CS_LINK_RAW);

    p.n = 0;
    put_ipv4_hdr(&p, 5, 40, 6, 0); /* data offset 15 beyond the datagram */
    put_tcp(&p, 5, 0);
    p.b[32] = 0xf0;
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_true(l.flags & CS_L_MALFORMED);
    assert_true(l.flags & CS_L_L4);
    assert_int_equal(l.payload_len, 0);
}

static void test_ipv4_options_total_length_and_tso(void **state)
{
    pkt p = {0};
    cs_layers l;

    put_ipv4_hdr(&p, 7, 28 + 32 + 5, 6, 0);
    put_tcp(&p, 8, 5); /* 12 bytes of TCP options */
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_int_equal(l.flags, CS_L_IP | CS_L_L4);
    assert_int_equal(l.l4_off, 28);
    assert_int_equal(l.payload_off, 28 + 32);
    assert_int_equal(l.payload_len, 5);
    check_all_truncations(&p, CS_LINK_RAW);

    p.b[3] = 28 + 20 + 5; /* total length leaves no room for the TCP options */
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_int_equal(l.flags, CS_L_IP | CS_L_L4 | CS_L_MALFORMED);
    assert_int_equal(l.payload_len, 0);

    p.n = 0;
    put_ipv4_hdr(&p, 5, 1500, 6, 0); /* capture shorter than total length */
    put_tcp(&p, 5, 100);
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_int_equal(l.flags, CS_L_IP | CS_L_L4 | CS_L_TRUNCATED);
    assert_int_equal(l.payload_len, 100);
    assert_int_equal(l.ip_payload_len, 1480);

    p.b[2] = p.b[3] = 0; /* total length 0: segmentation offload */
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_int_equal(l.flags, CS_L_IP | CS_L_L4);
    assert_int_equal(l.payload_len, 100);
}

static void test_ipv4_fragments(void **state)
{
    pkt p = {0};
    cs_layers l;
    char line[160];
    cs_packet pk;

    put_ipv4_hdr(&p, 5, 20 + 8 + 16, 17, 0x2000); /* MF, offset 0 */
    put_udp(&p, 8 + 1000, 16);
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_int_equal(l.flags, CS_L_IP | CS_L_L4 | CS_L_FRAGMENT | CS_L_FRAG_FIRST);
    assert_int_equal(l.sport, 5353);
    assert_int_equal(l.more_frags, 1);
    assert_int_equal(l.frag_offset, 0);
    assert_int_equal(l.payload_len, 16); /* UDP length (1008) not sane here: IP bounds */
    check_all_truncations(&p, CS_LINK_RAW);

    p.n = 0;
    put_ipv4_hdr(&p, 5, 20 + 24, 17, 185); /* offset 1480, last */
    put_fill(&p, 'f', 24);
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_int_equal(l.flags, CS_L_IP | CS_L_FRAGMENT);
    assert_int_equal(l.frag_offset, 1480);
    assert_int_equal(l.more_frags, 0);
    assert_int_equal(l.l4_off, 0);
    assert_int_equal(l.sport, 0);
    assert_int_equal(l.payload_off, 20);
    assert_int_equal(l.payload_len, 24);
    assert_int_equal(l.ip_id, 1234);
    pk = (cs_packet){.caplen = (uint32_t)p.n, .linktype = CS_LINK_RAW, .data = p.b};
    assert_string_equal(cs_dissect_summary(&pk, &l, line, sizeof(line)),
                        "IPv4 10.1.0.13 > 10.2.0.1: UDP frag id 1234 off 1480 len 24");
    check_all_truncations(&p, CS_LINK_RAW);
}

static void test_udp_length_clipping(void **state)
{
    pkt p = {0};
    cs_layers l;

    put_ipv4_hdr(&p, 5, 20 + 8 + 30, 17, 0);
    put_udp(&p, 8 + 12, 30); /* UDP says 12 bytes of payload, IP says 30 */
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_int_equal(l.flags, CS_L_IP | CS_L_L4);
    assert_int_equal(l.payload_off, 28);
    assert_int_equal(l.payload_len, 12);

    p.b[24] = 0xff; /* UDP length beyond the IP datagram: ignored */
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_int_equal(l.payload_len, 30);
    p.b[24] = 0;
    p.b[25] = 4; /* below the UDP header: ignored */
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_int_equal(l.payload_len, 30);
}

static void test_icmp_and_sctp(void **state)
{
    pkt p = {0};
    cs_layers l;

    put_ipv4_hdr(&p, 5, 20 + 8 + 4, 1, 0);
    put_u8(&p, 8);
    put_u8(&p, 0);
    put_fill(&p, 0, 6 + 4);
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_int_equal(l.flags, CS_L_IP | CS_L_L4);
    assert_int_equal(l.sport, 8);
    assert_int_equal(l.dport, 0);
    assert_int_equal(l.payload_len, 4);

    p.n = 0;
    put_ipv4_hdr(&p, 5, 20 + 12 + 16, 132, 0);
    put_be16(&p, 2905);
    put_be16(&p, 3868);
    put_fill(&p, 0, 8 + 16);
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_int_equal(l.flags, CS_L_IP | CS_L_L4);
    assert_int_equal(l.sport, 2905);
    assert_int_equal(l.dport, 3868);
    assert_int_equal(l.payload_off, 32);
    assert_int_equal(l.payload_len, 16);
    check_all_truncations(&p, CS_LINK_RAW);

    p.n = 0; /* GRE: by number only, payload is the IP payload */
    put_ipv4_hdr(&p, 5, 20 + 8, 47, 0);
    put_fill(&p, 0, 8);
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_int_equal(l.flags, CS_L_IP);
    assert_int_equal(l.ip_proto, 47);
    assert_int_equal(l.payload_off, 20);
    assert_int_equal(l.payload_len, 8);
}

/* ---- IPv6 ----------------------------------------------------------------------- */

static void test_ipv6_extension_headers(void **state)
{
    pkt p = {0};
    cs_layers l;

    put_ipv6_hdr(&p, 8 + 24 + 16 + 12 + 20 + 5, 0);
    put_u8(&p, 43); /* hop-by-hop, 8 bytes */
    put_u8(&p, 0);
    put_fill(&p, 0, 6);
    put_u8(&p, 60); /* routing, 24 bytes */
    put_u8(&p, 2);
    put_fill(&p, 0, 22);
    put_u8(&p, 51); /* destination options, 16 bytes */
    put_u8(&p, 1);
    put_fill(&p, 0, 14);
    put_u8(&p, 6); /* AH: (1 + 2) * 4 = 12 bytes */
    put_u8(&p, 1);
    put_fill(&p, 0, 10);
    put_tcp(&p, 5, 5);
    dissect_full(&p, CS_LINK_RAW, &l);
    expect_v6_tcp(&l, 0, 5);
    assert_int_equal(l.l4_off, 40 + 8 + 24 + 16 + 12);
    assert_int_equal(l.ip_payload_len, 25);
    assert_int_equal(l.flags, CS_L_IP | CS_L_L4);
    check_all_truncations(&p, CS_LINK_RAW);

    p.b[48 + 24 + 1] = 200; /* destination options claim 1608 bytes: cut off */
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_true(l.flags & CS_L_MALFORMED);
    assert_false(l.flags & CS_L_L4);
    assert_int_equal(l.payload_len, 0);
}

static void test_ipv6_fragments(void **state)
{
    pkt p = {0};
    cs_layers l;

    put_ipv6_hdr(&p, 8 + 8 + 40, 44);
    put_u8(&p, 17);
    put_u8(&p, 0);
    put_be16(&p, 1); /* offset 0, M */
    put_be32(&p, 0xdeadbeef);
    put_udp(&p, 1200, 40);
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_int_equal(l.flags, CS_L_IP | CS_L_L4 | CS_L_FRAGMENT | CS_L_FRAG_FIRST);
    assert_int_equal(l.ip_id, 0xdeadbeef);
    assert_int_equal(l.ip_proto, 17);
    assert_int_equal(l.l4_off, 48);
    assert_int_equal(l.sport, 5353);
    assert_int_equal(l.payload_len, 40);
    check_all_truncations(&p, CS_LINK_RAW);

    p.b[42] = 0x05; /* offset 1280 (0x0500), M=0 */
    p.b[43] = 0x00;
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_int_equal(l.flags, CS_L_IP | CS_L_FRAGMENT);
    assert_int_equal(l.frag_offset, 1280);
    assert_int_equal(l.more_frags, 0);
    assert_int_equal(l.ip_proto, 17);
    assert_int_equal(l.l4_off, 0);
    assert_int_equal(l.payload_off, 48);
    assert_int_equal(l.payload_len, 48);
    check_all_truncations(&p, CS_LINK_RAW);

    p.b[43] = 0x00; /* atomic fragment (offset 0, M=0): parsed, not a fragment */
    p.b[42] = 0x00;
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_int_equal(l.flags, CS_L_IP | CS_L_L4);
    assert_int_equal(l.ip_id, 0xdeadbeef);
}

static void test_ipv6_no_next_header_and_esp(void **state)
{
    pkt p = {0};
    cs_layers l;

    put_ipv6_hdr(&p, 8, 59);
    put_fill(&p, 0, 8);
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_int_equal(l.flags, CS_L_IP);
    assert_int_equal(l.ip_proto, 59);
    assert_int_equal(l.l4_off, 0);

    p.b[6] = 50; /* ESP: opaque */
    dissect_full(&p, CS_LINK_RAW, &l);
    assert_int_equal(l.flags, CS_L_IP);
    assert_int_equal(l.ip_proto, 50);
    assert_int_equal(l.payload_off, 40);
    assert_int_equal(l.payload_len, 8);
}

/* ---- summary and address formatting ----------------------------------------------- */

static void test_summary(void **state)
{
    pkt p = {0};
    cs_layers l;
    cs_packet pk;
    char line[200], small[300];

    put_eth(&p, 0x8100);
    put_be16(&p, 101);
    put_be16(&p, 0x0800);
    put_ipv4_tcp(&p, 210);
    pk = (cs_packet){.caplen = (uint32_t)p.n, .linktype = CS_LINK_ETHERNET, .data = p.b};
    assert_int_equal(cs_dissect(&pk, &l), 0);
    assert_string_equal(cs_dissect_summary(&pk, &l, line, sizeof(line)),
                        "vlan 101, IPv4 10.1.0.13.40003 > 10.2.0.1.9878: TCP [P.] seq 1000 ack 1 "
                        "win 65535 len 210");
    /* Every buffer size: a prefix of the full line, never a byte past "size". */
    for (size_t size = 1; size < strlen(line) + 2; size++) {
        memset(small, 'Z', sizeof(small));
        cs_dissect_summary(&pk, &l, small, size);
        assert_true(strlen(small) < size);
        assert_memory_equal(small, line, strlen(small));
        assert_int_equal(small[size], 'Z');
    }
    assert_null(cs_dissect_summary(&pk, &l, NULL, 0));

    p.n = 0;
    put_ipv6_hdr(&p, 20, 6);
    put_tcp(&p, 5, 0);
    p.b[40] = 0xc3;
    p.b[41] = 0x51; /* sport 50001 */
    p.b[42] = 0;
    p.b[43] = 80;
    p.b[53] = 0x02; /* SYN */
    pk = (cs_packet){.caplen = (uint32_t)p.n, .linktype = CS_LINK_RAW, .data = p.b};
    assert_int_equal(cs_dissect(&pk, &l), 0);
    assert_string_equal(cs_dissect_summary(&pk, &l, line, sizeof(line)),
                        "IPv6 fd00::3:b.50001 > fd00::4:1.80: TCP [S] seq 1000 win 65535 len 0");
}

static void test_addr_format(void **state)
{
    char buf[46];
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

    assert_string_equal(cs_addr_format(4, SRC4, buf), "10.1.0.13");
    assert_string_equal(cs_addr_format(6, v6, buf), "2001:db8::1");
    assert_string_equal(cs_addr_format(0, v6, buf), "?");
}

/* ---- real captures against libpcap's BPF and tshark --------------------------------------------
 */

/* LINKTYPE_ for the DLT_ libpcap reports (they differ only for raw IP). */
static uint16_t linktype_of(pcap_t *h)
{
    int dlt = pcap_datalink(h);

    return dlt == DLT_RAW ? CS_LINK_RAW : (uint16_t)dlt;
}

typedef struct bpf_counts {
    unsigned packets, with_l4, checked, disagree, wrong_matched;
} bpf_counts;

static void appendf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void appendf(char *buf, size_t size, const char *fmt, ...)
{
    size_t len = strlen(buf);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

/* Link-layer part of the filter: VLAN ids, MPLS labels, PPPoE. Returns false
 * if libpcap's filter language cannot express the encapsulation. */
static bool bpf_link_prefix(const cs_layers *l, const uint8_t *data, uint16_t linktype, char *f,
                            size_t size)
{
    size_t after_tags = 14 + 4u * l->n_vlan;

    for (unsigned i = 0; i < l->n_vlan; i++) {
        if (i < 2)
            appendf(f, size, "vlan %u and ", l->vlan[i]);
        else
            appendf(f, size, "vlan and ");
    }
    if (l->flags & CS_L_MPLS) {
        assert_int_equal(linktype, CS_LINK_ETHERNET);
        for (size_t off = after_tags; off < l->l3_off; off += 4)
            appendf(f, size, "mpls and ");
    }
    if (l->flags & CS_L_ENCAP) {
        if (linktype != CS_LINK_ETHERNET || data[after_tags - 2] != 0x88 ||
            data[after_tags - 1] != 0x64)
            return false;
        appendf(f, size, "pppoes and ");
    }
    return true;
}

/* Transport part for IPv4 and for IPv6 without extension headers. "wrong"
 * makes one value deliberately wrong. */
static void bpf_transport(const cs_layers *l, bool wrong, char *f, size_t size)
{
    bool v4 = l->ip_version == 4;
    unsigned dport = l->dport + (wrong ? 1u : 0u);

    switch (l->ip_proto) {
    case 6:
        appendf(f, size, " and tcp and src port %u and dst port %u", l->sport, dport);
        if (v4)
            appendf(f, size,
                    " and tcp[4:4] = 0x%08x and tcp[8:4] = 0x%08x and tcp[13] = %u and "
                    "tcp[14:2] = %u",
                    l->tcp_seq, l->tcp_ack, l->tcp_flags, l->tcp_window);
        else
            appendf(f, size,
                    " and ip6[44:4] = 0x%08x and ip6[48:4] = 0x%08x and ip6[53] = %u and "
                    "ip6[54:2] = %u",
                    l->tcp_seq, l->tcp_ack, l->tcp_flags, l->tcp_window);
        if (!(l->flags & CS_L_TRUNCATED))
            appendf(f, size,
                    v4 ? " and ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2) = %u"
                       : " and ip6[4:2] - ((ip6[52] & 0xf0) >> 2) = %u",
                    l->payload_len);
        break;
    case 17:
        appendf(f, size, " and udp and src port %u and dst port %u", l->sport, dport);
        if (!(l->flags & (CS_L_TRUNCATED | CS_L_FRAGMENT))) /* UDP length covers all fragments */
            appendf(f, size, v4 ? " and udp[4:2] = %u" : " and ip6[44:2] = %u", l->payload_len + 8);
        break;
    case 132:
        appendf(f, size, " and sctp and src port %u and dst port %u", l->sport, dport);
        break;
    case 1:
        appendf(f, size, " and icmp and icmp[0] = %u and icmp[1] = %u", l->sport, dport);
        break;
    case 58:
        appendf(f, size, " and icmp6 and ip6[40] = %u and ip6[41] = %u", l->sport, dport);
        break;
    default:
        appendf(f, size, " and ip%s proto %u", v4 ? "" : "6", l->ip_proto + (wrong ? 1u : 0u));
        break;
    }
}

/* The filter that must match the packet if "l" read it right (wrong = false),
 * or must not (wrong = true). Returns false if libpcap cannot express it. */
static bool bpf_filter_of(const cs_layers *l, const uint8_t *data, uint16_t linktype, bool wrong,
                          char *f, size_t size)
{
    char a[46], b[46];
    bool v4 = l->ip_version == 4;

    f[0] = '\0';
    if (!bpf_link_prefix(l, data, linktype, f, size))
        return false;
    if (!(l->flags & CS_L_IP)) {
        if (wrong)
            appendf(f, size, "(ip or ip6)");
        else if (l->ethertype == 0x0806)
            appendf(f, size, "arp");
        else
            appendf(f, size, "not ip and not ip6");
        return true;
    }
    appendf(f, size, "%s and src host %s and dst host %s and %s[%u] = %u", v4 ? "ip" : "ip6",
            cs_addr_format(l->ip_version, l->src, a), cs_addr_format(l->ip_version, l->dst, b),
            v4 ? "ip" : "ip6", v4 ? 8u : 7u, l->ttl + (wrong && !(l->flags & CS_L_L4) ? 1u : 0u));
    if (v4 && (l->flags & CS_L_FRAGMENT))
        appendf(f, size, " and ip[4:2] = %u and ip[6:2] & 0x1fff = %u", l->ip_id,
                l->frag_offset / 8);
    if (v4 && l->frag_offset) {
        appendf(f, size, " and ip proto %u", l->ip_proto);
        return true;
    }
    if (!v4 && (l->flags & CS_L_L4) && l->l4_off != l->l3_off + 40) {
        /* Extension headers: libpcap's port keywords assume none; walk them with protochain. */
        appendf(f, size, " and ip6 protochain %u", l->ip_proto);
        if (wrong)
            appendf(f, size, " and ip6 protochain %u", l->ip_proto + 1u);
        return true;
    }
    if (l->flags & CS_L_L4)
        bpf_transport(l, wrong, f, size);
    else
        appendf(f, size, " and %s proto %u", v4 ? "ip" : "ip6", l->ip_proto);
    return true;
}

static bool bpf_matches(pcap_t *h, const char *filter, const struct pcap_pkthdr *hdr,
                        const u_char *data)
{
    struct bpf_program prog;
    int match;

    if (pcap_compile(h, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0)
        fail_msg("pcap_compile(%s): %s", filter, pcap_geterr(h));
    match = pcap_offline_filter(&prog, hdr, data);
    pcap_freecode(&prog);
    return match != 0;
}

static pcap_t *open_capture(const char *rel)
{
    char path[512], err[PCAP_ERRBUF_SIZE];
    pcap_t *h;

    snprintf(path, sizeof(path), PCAP_DIR "%s", rel);
    h = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
    if (h == NULL)
        fail_msg("cannot open %s: %s", path, err);
    return h;
}

static bpf_counts bpf_cross_check(const char *rel)
{
    pcap_t *h = open_capture(rel);
    uint16_t linktype = linktype_of(h);
    struct pcap_pkthdr *hdr;
    const u_char *data;
    bpf_counts n = {0};
    char filter[1024], line[256];

    while (pcap_next_ex(h, &hdr, &data) == 1) {
        cs_packet p = {
            .caplen = hdr->caplen, .wirelen = hdr->len, .linktype = linktype, .data = data};
        cs_layers l;

        n.packets++;
        assert_int_equal(cs_dissect(&p, &l), 0);
        check_invariants(&l, hdr->caplen);
        n.with_l4 += (l.flags & CS_L_L4) != 0;
        if (!bpf_filter_of(&l, data, linktype, false, filter, sizeof(filter)))
            continue;
        n.checked++;
        if (!bpf_matches(h, filter, hdr, data)) {
            n.disagree++;
            print_message("%s #%u: BPF disagrees: %s\n  (%s)\n", rel, n.packets, filter,
                          cs_dissect_summary(&p, &l, line, sizeof(line)));
        }
        bpf_filter_of(&l, data, linktype, true, filter, sizeof(filter));
        if (bpf_matches(h, filter, hdr, data)) {
            n.wrong_matched++;
            print_message("%s #%u: wrong filter matched: %s\n", rel, n.packets, filter);
        }
    }
    pcap_close(h);
    return n;
}

static void test_real_traffic_vs_bpf(void **state)
{
    static const char *files[] = {
        "zeek/http-vlan-0.pcap",
        "zeek/http-qinq-0.pcap",
        "zeek/q-in-q.pcap",
        "tcpdump/802.1ad_QinQ.pcap",
        "zeek/mixed-vlan-mpls.pcap",
        "zeek/linux_dlt_sll2.pcap",
        "tcpdump/LINKTYPE_RAW_ipv6.pcap",
        "ndpi/fix2.pcap",
        "zeek/http/1000-requests-one-dropped-response.pcap",
        "zeek/ipv6-fragmented-dns.pcap",
        "zeek/ipv6-http-atomic-frag.pcap",
        "zeek/ipv4/fragmented-1.pcap",
        "zeek/icmp_dot1q.pcap",
        "zeek/dns-edns-ecs.pcap",
        "tcpdump/ipv6-routing-header.pcap",
    };

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        bpf_counts n = bpf_cross_check(files[i]);

        print_message("%-52s packets %5u  L4 %5u  checked %5u  disagree %u  wrong-matched %u\n",
                      files[i], n.packets, n.with_l4, n.checked, n.disagree, n.wrong_matched);
        assert_true(n.packets > 0);
        assert_int_equal(n.checked, n.packets); /* every packet expressible in BPF */
        assert_int_equal(n.disagree, 0);
        assert_int_equal(n.wrong_matched, 0);
    }
}

/*
 * NFLOG and LLC/SNAP: libpcap cannot filter through them, so compare with
 * tshark's reading of the same file, frame by frame.
 */
static void tshark_cross_check(const char *rel, unsigned min_tcp)
{
    pcap_t *h = open_capture(rel);
    uint16_t linktype = linktype_of(h);
    char cmd[768], row[512], mine[512], a[46], b[46];
    struct pcap_pkthdr *hdr;
    const u_char *data;
    unsigned frames = 0, tcp = 0;
    FILE *ts;

    snprintf(cmd, sizeof(cmd),
             "tshark -n -r '" PCAP_DIR "%s' -T fields -E separator=, -E occurrence=f "
             "-e ip.src -e ip.dst -e tcp.srcport -e tcp.dstport -e tcp.seq_raw -e tcp.ack_raw "
             "-e tcp.len 2>/dev/null",
             rel);
    ts = popen(cmd, "r");
    assert_non_null(ts);
    while (pcap_next_ex(h, &hdr, &data) == 1) {
        cs_packet p = {
            .caplen = hdr->caplen, .wirelen = hdr->len, .linktype = linktype, .data = data};
        cs_layers l;

        assert_int_equal(cs_dissect(&p, &l), 0);
        assert_non_null(fgets(row, sizeof(row), ts));
        row[strcspn(row, "\n")] = '\0';
        frames++;
        if ((l.flags & CS_L_L4) && l.ip_proto == 6) {
            tcp++;
            snprintf(mine, sizeof(mine), "%s,%s,%u,%u,%u,%u,%u", cs_addr_format(4, l.src, a),
                     cs_addr_format(4, l.dst, b), l.sport, l.dport, l.tcp_seq, l.tcp_ack,
                     l.payload_len);
        } else {
            snprintf(mine, sizeof(mine), "(not IPv4 TCP: flags 0x%x)", l.flags);
        }
        if (strcmp(row, mine) != 0)
            fail_msg("%s frame %u: tshark '%s' vs dissect '%s'", rel, frames, row, mine);
    }
    assert_null(fgets(row, sizeof(row), ts));
    assert_int_equal(pclose(ts), 0);
    pcap_close(h);
    assert_true(frames > 0);
    assert_true(tcp >= min_tcp);
}

static void test_real_traffic_vs_tshark(void **state)
{
    tshark_cross_check("zeek/nflog-http.pcap", 13);
    tshark_cross_check("zeek/snap-tcp.pcap", 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ethernet_plain_and_padding),
        cmocka_unit_test(test_ethernet_vlan_tags),
        cmocka_unit_test(test_ethernet_mpls),
        cmocka_unit_test(test_ethernet_llc_snap),
        cmocka_unit_test(test_ethernet_pppoe),
        cmocka_unit_test(test_ethernet_arp_and_other),
        cmocka_unit_test(test_linux_sll_and_sll2),
        cmocka_unit_test(test_raw_ip),
        cmocka_unit_test(test_null_and_loop),
        cmocka_unit_test(test_ppp),
        cmocka_unit_test(test_nflog),
        cmocka_unit_test(test_unknown_linktype),
        cmocka_unit_test(test_ipv4_malformed),
        cmocka_unit_test(test_ipv4_options_total_length_and_tso),
        cmocka_unit_test(test_ipv4_fragments),
        cmocka_unit_test(test_udp_length_clipping),
        cmocka_unit_test(test_icmp_and_sctp),
        cmocka_unit_test(test_ipv6_extension_headers),
        cmocka_unit_test(test_ipv6_fragments),
        cmocka_unit_test(test_ipv6_no_next_header_and_esp),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_addr_format),
        cmocka_unit_test(test_real_traffic_vs_bpf),
        cmocka_unit_test(test_real_traffic_vs_tshark),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

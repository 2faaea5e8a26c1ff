/*
 * test_analyzer.c - end-to-end tests of src/analytics/analyzer.c.
 *
 * Part 1 drives the analyzer with hand-built packets (cs_packet + cs_layers)
 * and a tiny line-based test decoder ("REQ <id>\n" / "RSP <id>\n" lines,
 * port 7777): dispatch, directions, message timestamps/refs/ids through
 * splitting, coalescing, reordering and retransmission, pairing, gaps,
 * EOF, fragments, expiry, eviction and bounds, and hops between taps.
 *
 * Part 2 is the real proof: gentraffic (tools/gentraffic.py)
 * writes captures with ground truth (3 seeds, with and without --quirks);
 * each is read with libpcap, dissected with cs_dissect, analysed with the
 * real decoder registry, and the measurements must equal the truth exactly
 * as a multiset of (pair, key, req_ts_ns, resp_ts_ns) over fix/http/dns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "analytics/analyzer.h"
#include "core/error.h"
#include "decode/fix/fix.h"
#include "decode/http/http.h"

#include <jansson.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the test decoder ---------------------------------------------------- */

static int g_gaps, g_eofs, g_midstream;

static cs_probe line_probe(const uint8_t *d, size_t n, uint8_t dir)
{
    static const char *heads[] = {"REQ ", "RSP "};

    for (int i = 0; i < 2; i++) {
        size_t k = n < 4 ? n : 4;
        if (memcmp(d, heads[i], k) == 0)
            return n < 4 ? CS_PROBE_NEED_MORE : CS_PROBE_YES;
    }
    return CS_PROBE_NO;
}

/* What the last state was born with: the flow's server port and VLAN, and
 * the "tag" option. */
static uint16_t g_new_port_b, g_new_vlan;
static char g_new_tag[32];

static void *line_new(const cs_endpoints *flow, const cs_decoder_opts *opts)
{
    const char *tag = cs_decoder_opt_get(opts, "tag");

    g_new_port_b = flow->port_b;
    g_new_vlan = flow->n_vlan ? flow->vlan[0] : 0;
    snprintf(g_new_tag, sizeof(g_new_tag), "%s", tag ? tag : "");
    return malloc(1);
}

static void line_free(void *s)
{
    free(s);
}

static void line_gap(void *s, uint8_t dir)
{
    g_gaps++;
}

static void line_emit(cs_decode_ctx *ctx, const uint8_t *d, size_t start, size_t len,
                      uint32_t flags)
{
    cs_msg_out m;
    const char *p = (const char *)d + start;
    size_t body = len && p[len - 1] == '\n' ? len - 1 : len;

    if (body > 4 && memcmp(p, "GAP ", 4) == 0) { /* "GAP <first> <count>" on stream "s1" */
        cs_seq_gap g = {{"s1", 2}, 0, 0};
        sscanf(p + 4, "%lu %lu", (unsigned long *)&g.first, (unsigned long *)&g.count);
        cs_decode_seq_gap(ctx, &g);
    }
    memset(&m, 0, sizeof(m));
    m.start = start;
    m.len = len;
    m.flags = flags;
    m.type = (cs_str){"other", 5};
    if (body > 4 && (memcmp(p, "REQ ", 4) == 0 || memcmp(p, "RSP ", 4) == 0)) {
        m.role = p[1] == 'E' ? CS_ROLE_REQ : CS_ROLE_RESP;
        m.type = (cs_str){p, 3};
        m.pair = "line";
        m.match = (cs_str){p + 4, body - 4};
        m.key = m.role == CS_ROLE_REQ ? m.match : (cs_str){NULL, 0};
    }
    cs_decode_emit(ctx, &m);
}

static size_t line_parse(void *state, cs_decode_ctx *ctx, cs_decode_input *in)
{
    size_t done = 0;

    if (in->flags & CS_IN_MIDSTREAM)
        g_midstream++;
    if (in->flags & CS_IN_DATAGRAM) {
        line_emit(ctx, in->data, 0, in->len, 0);
        return in->len;
    }
    for (size_t i = 0; i < in->len; i++) {
        if (in->data[i] == '\n') {
            line_emit(ctx, in->data, done, i + 1 - done, 0);
            done = i + 1;
        }
    }
    if (in->flags & CS_IN_EOF) {
        g_eofs++;
        if (done < in->len)
            line_emit(ctx, in->data, done, in->len - done, CS_MSG_TRUNCATED);
        return in->len;
    }
    return done;
}

static const uint16_t line_ports[] = {7777, 0};
static const char *const line_options[] = {"tag", NULL};

static const cs_decoder line_decoder = {
    .name = "line",
    .transports = CS_TRANSPORT_TCP | CS_TRANSPORT_UDP,
    .ports = line_ports,
    .probe = line_probe,
    .options = line_options,
    .state_new = line_new,
    .state_free = line_free,
    .parse = line_parse,
    .gap = line_gap,
};

static const cs_decoder *const line_only[] = {&line_decoder, NULL};

/* ---- recording sink ------------------------------------------------------- */

typedef struct rmsg {
    char type[16], key[32], error[16];
    cs_msgid id;
    int64_t ts, last_ts;
    cs_pktref refs[8];
    size_t n_refs;
    uint8_t dir;
    uint32_t flags, len;
    uint64_t flow;
    cs_endpoints ep;
} rmsg;

typedef struct rec {
    rmsg msgs[64];
    int n_msgs;
    cs_measurement meas[32];
    char meas_keys[32][32];
    int n_meas;
    int unreq, unresp;
    char order[256];    /* "m" per message, "L" per measurement */
    cs_msgid ids[1024]; /* every message's id, in delivery order */
    int n_ids;
    cs_seq_gap_event gaps[4]; /* sequence gaps (stream pointers not kept) */
    char gap_streams[4][8];
    int n_gaps;
} rec;

static void copy_str(char *dst, size_t cap, cs_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n)
        memcpy(dst, s.p, n);
    dst[n] = '\0';
}

static void on_message(void *ud, const cs_message *m)
{
    rec *r = ud;
    rmsg *x;

    if (r->n_ids < 1024)
        r->ids[r->n_ids++] = m->id;
    if (r->n_msgs >= 64)
        return;
    x = &r->msgs[r->n_msgs++];
    copy_str(x->type, sizeof(x->type), m->type);
    copy_str(x->key, sizeof(x->key), m->key);
    copy_str(x->error, sizeof(x->error), m->error);
    x->id = m->id;
    x->ts = m->ts_ns;
    x->last_ts = m->last_ts_ns;
    x->n_refs = m->n_refs < 8 ? m->n_refs : 8;
    memcpy(x->refs, m->refs, x->n_refs * sizeof(cs_pktref));
    x->dir = m->dir;
    x->flags = m->flags;
    x->len = m->len;
    x->flow = m->flow_id;
    x->ep = m->ep;
    strcat(r->order, "m");
}

static void on_measurement(void *ud, const cs_measurement *ms)
{
    rec *r = ud;

    if (r->n_meas >= 32)
        return;
    r->meas[r->n_meas] = *ms;
    copy_str(r->meas_keys[r->n_meas], 32, ms->key);
    r->n_meas++;
    strcat(r->order, "L");
}

static void on_seq_gap(void *ud, const cs_seq_gap_event *g)
{
    rec *r = ud;

    if (r->n_gaps >= 4)
        return;
    copy_str(r->gap_streams[r->n_gaps], sizeof(r->gap_streams[0]), g->gap.stream);
    r->gaps[r->n_gaps++] = *g;
}

static void on_unmatched(void *ud, const cs_message *m, int kind)
{
    rec *r = ud;

    if (kind == CS_UNMATCHED_REQUEST)
        r->unreq++;
    else
        r->unresp++;
}

/* ---- packet building ------------------------------------------------------ */

typedef struct tb {
    cs_analyzer *a;
    rec r;
    cs_analyzer_cfg cfg;
} tb;

static void tb_start(tb *t, void (*tweak)(cs_analyzer_cfg *))
{
    cs_sink sink;

    memset(t, 0, sizeof(*t));
    g_gaps = g_eofs = g_midstream = 0;
    cs_analyzer_cfg_default(&t->cfg);
    t->cfg.decoders = line_only;
    if (tweak)
        tweak(&t->cfg);
    sink = (cs_sink){&t->r, on_message, on_measurement, on_unmatched, on_seq_gap, NULL};
    assert_int_equal(cs_analyzer_new(&t->cfg, &sink, &t->a), 0);
}

static void tb_end(tb *t)
{
    cs_analyzer_free(t->a);
}

/* Client 10.0.0.1:40000, server 10.0.0.2:<sport>. dir 0 = client -> server. */
static void tcp_ports(tb *t, int dir, uint16_t cport, uint16_t sport, uint8_t flags, uint32_t seq,
                      uint32_t ack, const char *data, int64_t ts, cs_pktref ref)
{
    cs_packet p;
    cs_layers l;
    uint32_t n = data ? (uint32_t)strlen(data) : 0;

    memset(&p, 0, sizeof(p));
    memset(&l, 0, sizeof(l));
    p.ts_ns = ts;
    p.caplen = p.wirelen = n;
    p.data = (const uint8_t *)data;
    l.flags = CS_L_IP | CS_L_L4;
    l.ip_version = 4;
    l.ip_proto = 6;
    l.src[0] = 10;
    l.src[3] = (uint8_t)(dir ? 2 : 1);
    l.dst[0] = 10;
    l.dst[3] = (uint8_t)(dir ? 1 : 2);
    l.sport = dir ? sport : cport;
    l.dport = dir ? cport : sport;
    l.tcp_flags = flags;
    l.tcp_seq = seq;
    l.tcp_ack = ack;
    l.payload_len = n;
    l.ip_payload_len = n + 20;
    cs_analyzer_packet(t->a, &p, &l, ref);
}

static void tcp(tb *t, int dir, uint8_t flags, uint32_t seq, uint32_t ack, const char *data,
                int64_t ts, cs_pktref ref)
{
    tcp_ports(t, dir, 40000, 7777, flags, seq, ack, data, ts, ref);
}

#define SYN 0x02
#define ACK 0x10
#define FIN 0x01
#define RST 0x04

static void handshake(tb *t)
{
    tcp(t, 0, SYN, 1000, 0, NULL, 1, 0);
    tcp(t, 1, SYN | ACK, 5000, 1001, NULL, 2, 0);
    tcp(t, 0, ACK, 1001, 5001, NULL, 3, 0);
}

/* A UDP datagram captured at "tap". */
static void udp_at(tb *t, uint16_t tap, int dir, uint16_t cport, uint16_t sport, const char *data,
                   int64_t ts, cs_pktref ref)
{
    cs_packet p;
    cs_layers l;
    uint32_t n = (uint32_t)strlen(data);

    memset(&p, 0, sizeof(p));
    memset(&l, 0, sizeof(l));
    p.tap = tap;
    p.ts_ns = ts;
    p.caplen = p.wirelen = n;
    p.data = (const uint8_t *)data;
    l.flags = CS_L_IP | CS_L_L4;
    l.ip_version = 4;
    l.ip_proto = 17;
    l.src[0] = 10;
    l.src[3] = (uint8_t)(dir ? 2 : 1);
    l.dst[0] = 10;
    l.dst[3] = (uint8_t)(dir ? 1 : 2);
    l.sport = dir ? sport : cport;
    l.dport = dir ? cport : sport;
    l.payload_len = n;
    cs_analyzer_packet(t->a, &p, &l, ref);
}

static void udp(tb *t, int dir, uint16_t cport, uint16_t sport, const char *data, int64_t ts,
                cs_pktref ref)
{
    udp_at(t, 0, dir, cport, sport, data, ts, ref);
}

/* ---- part 1 --------------------------------------------------------------- */

static void test_split_coalesced_ids_and_pairing(void **state)
{
    tb t;

    tb_start(&t, NULL);
    handshake(&t);
    tcp(&t, 0, ACK, 1001, 5001, "REQ 1\nRE", 10, CS_PKTREF(1, 100));
    tcp(&t, 0, ACK, 1009, 5001, "Q 2\n", 11, CS_PKTREF(1, 200));
    tcp(&t, 1, ACK, 5001, 1013, "RSP 2\nRSP 1\n", 20, CS_PKTREF(1, 300));
    cs_analyzer_finish(t.a);

    assert_int_equal(t.r.n_msgs, 4);
    /* REQ 2 starts in packet 100 too (second message there), ends in 200 */
    assert_int_equal(t.r.msgs[0].id, CS_MSGID(CS_PKTREF(1, 100), 0));
    assert_int_equal(t.r.msgs[1].id, CS_MSGID(CS_PKTREF(1, 100), 1));
    assert_int_equal(t.r.msgs[1].ts, 10);
    assert_int_equal(t.r.msgs[1].last_ts, 11);
    assert_int_equal(t.r.msgs[1].n_refs, 2);
    assert_int_equal(t.r.msgs[1].refs[0], CS_PKTREF(1, 100));
    assert_int_equal(t.r.msgs[1].refs[1], CS_PKTREF(1, 200));
    assert_int_equal(t.r.msgs[3].id, CS_MSGID(CS_PKTREF(1, 300), 1));
    assert_int_equal(t.r.msgs[2].dir, 1);
    assert_int_equal(t.r.msgs[0].ep.port_b, 7777);
    assert_int_equal(t.r.msgs[0].ep.port_a, 40000);
    /* matched by id: 2 then 1 */
    assert_int_equal(t.r.n_meas, 2);
    assert_string_equal(t.r.meas_keys[0], "2");
    assert_int_equal(t.r.meas[0].req_ts_ns, 10);
    assert_int_equal(t.r.meas[0].resp_ts_ns, 20);
    assert_int_equal(t.r.meas[0].req_id, t.r.msgs[1].id);
    assert_int_equal(t.r.meas[1].latency_ns, 10);
    assert_string_equal(t.r.order, "mmmLmL");
    assert_int_equal(g_eofs, 2);
    tb_end(&t);
}

static void test_out_of_order_and_retransmit_timestamps(void **state)
{
    tb t;

    tb_start(&t, NULL);
    handshake(&t);
    tcp(&t, 0, ACK, 1004, 5001, " 1\n", 10, 2); /* second half first */
    tcp(&t, 0, ACK, 1001, 5001, "REQ", 11, 1);
    tcp(&t, 0, ACK, 1001, 5001, "REQ 1\n", 12, 3);    /* full retransmit */
    tcp(&t, 0, ACK, 1005, 5001, "1\nREQ 2\n", 13, 4); /* partial overlap */
    cs_analyzer_finish(t.a);
    assert_int_equal(t.r.n_msgs, 2);
    assert_int_equal(t.r.msgs[0].ts, 11);      /* packet with the first byte */
    assert_int_equal(t.r.msgs[0].last_ts, 10); /* packet with the last byte */
    assert_int_equal(t.r.msgs[0].n_refs, 2);
    assert_int_equal(t.r.msgs[0].refs[0], 1); /* stream order */
    assert_int_equal(t.r.msgs[0].refs[1], 2);
    assert_int_equal(t.r.msgs[1].ts, 13);
    assert_int_equal(t.r.msgs[1].n_refs, 1);
    assert_string_equal(t.r.msgs[1].key, "2");
    tb_end(&t);
}

static void test_loss_gap_and_resync(void **state)
{
    cs_analyzer_stats st;
    tb t;

    tb_start(&t, NULL);
    handshake(&t);
    tcp(&t, 0, ACK, 1001, 5001, "REQ 1\nREQ", 10, 1);
    /* " 2\n" (1010..1012) lost */
    tcp(&t, 0, ACK, 1013, 5001, "REQ 3\n", 12, 3);
    tcp(&t, 1, ACK, 5001, 1019, "RSP 3\n", 13, 4); /* ACK proves the loss */
    cs_analyzer_finish(t.a);
    cs_analyzer_stats_get(t.a, &st);
    assert_int_equal(st.tcp_gaps, 1);
    assert_int_equal(st.tcp_gap_bytes, 3);
    assert_int_equal(g_gaps, 1);
    /* REQ 1, REQ 3 (delivered before RSP 3, thanks to the ACK), RSP 3 */
    assert_int_equal(t.r.n_msgs, 3);
    assert_string_equal(t.r.msgs[1].key, "3");
    assert_int_equal(t.r.n_meas, 1);
    assert_string_equal(t.r.meas_keys[0], "3");
    assert_int_equal(t.r.unreq, 1); /* REQ 1 at finish */
    tb_end(&t);
}

static void test_midstream_server_first(void **state)
{
    tb t;

    tb_start(&t, NULL);
    /* no handshake: the server's response is the first packet seen */
    tcp(&t, 1, ACK, 900000, 77, "RSP 0\n", 10, 1);
    tcp(&t, 0, ACK, 77, 900006, "REQ 5\n", 11, 2);
    tcp(&t, 1, ACK, 900006, 83, "RSP 5\n", 12, 3);
    cs_analyzer_finish(t.a);
    assert_int_equal(t.r.n_msgs, 3);
    assert_int_equal(t.r.msgs[0].dir, 1); /* port 7777 is the responder */
    assert_int_equal(t.r.msgs[1].dir, 0);
    assert_int_equal(t.r.msgs[0].ep.port_b, 7777);
    assert_int_equal(t.r.unresp, 1);
    assert_int_equal(t.r.n_meas, 1);
    assert_true(g_midstream > 0);
    tb_end(&t);
}

static void test_midstream_reprobe_after_partial(void **state)
{
    tb t;

    tb_start(&t, NULL);
    /* picked up inside a message on a port no decoder lists */
    tcp_ports(&t, 0, 40000, 9999, ACK, 500, 1, "tail of old\n", 10, 1);
    tcp_ports(&t, 0, 40000, 9999, ACK, 512, 1, "REQ 7\n", 11, 2);
    tcp_ports(&t, 1, 40000, 9999, ACK, 1, 518, "RSP 7\n", 12, 3);
    cs_analyzer_finish(t.a);
    assert_int_equal(t.r.n_meas, 1);
    assert_int_equal(t.r.meas[0].req_ts_ns, 11);
    tb_end(&t);
}

static void test_probe_need_more_and_no_decoder(void **state)
{
    cs_analyzer_stats st;
    tb t;

    tb_start(&t, NULL);
    /* probe NEED_MORE on "RE", decided on the next bytes; ts from the first */
    tcp_ports(&t, 0, 40001, 12345, SYN, 10, 0, NULL, 1, 0);
    tcp_ports(&t, 0, 40001, 12345, ACK, 11, 0, "RE", 5, 1);
    tcp_ports(&t, 0, 40001, 12345, ACK, 13, 0, "Q 9\n", 6, 2);
    /* a flow nobody decodes */
    tcp_ports(&t, 0, 40002, 445, SYN, 10, 0, NULL, 7, 0);
    tcp_ports(&t, 0, 40002, 445, ACK, 11, 0, "\x01\x02garbage\n", 8, 3);
    tcp_ports(&t, 0, 40002, 445, ACK, 22, 0, "REQ 1\n", 9, 4);
    cs_analyzer_finish(t.a);
    cs_analyzer_stats_get(t.a, &st);
    assert_int_equal(t.r.n_msgs, 1);
    assert_int_equal(t.r.msgs[0].ts, 5);
    assert_int_equal(t.r.msgs[0].last_ts, 6);
    assert_int_equal(st.flows, 2);
    tb_end(&t);
}

static void test_udp_response_first_and_datagrams(void **state)
{
    tb t;

    tb_start(&t, NULL);
    udp(&t, 1, 5555, 7777, "RSP 4", 10, 1); /* orphan response, dir 1 */
    udp(&t, 0, 5555, 7777, "REQ 8", 11, 2);
    udp(&t, 1, 5555, 7777, "RSP 8", 15, 3);
    cs_analyzer_finish(t.a);
    assert_int_equal(t.r.n_msgs, 3);
    assert_int_equal(t.r.msgs[0].dir, 1);
    assert_int_equal(t.r.msgs[0].ep.port_a, 5555);
    assert_int_equal(t.r.unresp, 1);
    assert_int_equal(t.r.n_meas, 1);
    assert_int_equal(t.r.meas[0].latency_ns, 4);
    tb_end(&t);
}

/* A fragment of a UDP datagram from 10.0.0.1 (2001:db8::1) to 10.0.0.2
 * (2001:db8::2), as a raw IPv4 or IPv6 packet (IPv6: fixed header, then a
 * fragment header), dissected like any captured packet. */
static void udp_frag(tb *t, int ipv6, const uint8_t *data, uint32_t n, uint16_t off, int more,
                     int64_t ts, cs_pktref ref)
{
    uint8_t buf[128];
    uint32_t hl = ipv6 ? 48 : 20;
    cs_packet p;
    cs_layers l;

    memset(buf, 0, hl);
    if (ipv6) {
        buf[0] = 0x60;
        buf[4] = 0;
        buf[5] = (uint8_t)(8 + n); /* payload: fragment header + data */
        buf[6] = 44;
        buf[7] = 64;
        buf[8] = 0x20, buf[9] = 0x01, buf[10] = 0x0d, buf[11] = 0xb8, buf[23] = 1;
        buf[24] = 0x20, buf[25] = 0x01, buf[26] = 0x0d, buf[27] = 0xb8, buf[39] = 2;
        buf[40] = 17;
        buf[42] = (uint8_t)(off >> 8);
        buf[43] = (uint8_t)((off & 0xf8) | (more ? 1 : 0));
        buf[46] = 0x10, buf[47] = 0x92; /* identification 4242 */
    } else {
        buf[0] = 0x45;
        buf[3] = (uint8_t)(20 + n);
        buf[4] = 0x10, buf[5] = 0x92;
        buf[6] = (uint8_t)((more ? 0x20 : 0) | ((off / 8) >> 8));
        buf[7] = (uint8_t)(off / 8);
        buf[8] = 64;
        buf[9] = 17;
        buf[12] = 10, buf[15] = 1;
        buf[16] = 10, buf[19] = 2;
    }
    memcpy(buf + hl, data, n);
    memset(&p, 0, sizeof(p));
    p.ts_ns = ts;
    p.caplen = p.wirelen = hl + n;
    p.linktype = CS_LINK_RAW;
    p.data = buf;
    assert_int_equal(cs_dissect(&p, &l), 0);
    assert_true(l.flags & CS_L_FRAGMENT);
    cs_analyzer_packet(t->a, &p, &l, ref);
}

static void fragments_reversed(int ipv6)
{
    /* UDP header (5555 -> 7777, len 8 + 24) + "REQ 123456789012345678ab" */
    uint8_t dg[32] = {0x15, 0xb3, 0x1e, 0x61, 0, 32, 0, 0};
    cs_analyzer_stats st;
    tb t;

    memcpy(dg + 8, "REQ 123456789012345678ab", 24);
    tb_start(&t, NULL);
    udp_frag(&t, ipv6, dg + 16, 16, 16, 0, 10, 3);
    udp_frag(&t, ipv6, dg + 8, 8, 8, 1, 11, 2);
    udp_frag(&t, ipv6, dg, 8, 0, 1, 12, 1);
    cs_analyzer_finish(t.a);
    cs_analyzer_stats_get(t.a, &st);
    assert_int_equal(st.frags, 3);
    assert_int_equal(st.frags_reassembled, 1);
    assert_int_equal(t.r.n_msgs, 1);
    assert_string_equal(t.r.msgs[0].key, "123456789012345678ab");
    assert_int_equal(t.r.msgs[0].len, 24);
    assert_int_equal(t.r.msgs[0].ts, 11);      /* fragment with payload byte 0 */
    assert_int_equal(t.r.msgs[0].last_ts, 10); /* fragment with the last byte */
    assert_int_equal(t.r.msgs[0].n_refs, 2);
    assert_int_equal(t.r.msgs[0].refs[0], 2);
    assert_int_equal(t.r.msgs[0].ep.port_b, 7777);
    tb_end(&t);
}

static void test_udp_fragments_reversed(void **state)
{
    fragments_reversed(0);
}

static void test_udp_fragments_ipv6(void **state)
{
    fragments_reversed(1);
}

static void small_flows(cs_analyzer_cfg *c)
{
    c->max_flows = 2;
    c->flow_idle_ns = 1000;
    c->pair_timeout_ns = 500;
    c->max_flow_buffer = 64;
}

static void test_eviction_expiry_timeout_overflow(void **state)
{
    cs_analyzer_stats st;
    char big[100];
    tb t;

    tb_start(&t, small_flows);
    tcp_ports(&t, 0, 1, 7777, ACK, 100, 1, "REQ 1\nREQ x", 10, 1);
    tcp_ports(&t, 0, 2, 7777, ACK, 100, 1, "REQ 2\n", 20, 2);
    tcp_ports(&t, 0, 3, 7777, ACK, 100, 1, "REQ 3\n", 30, 3); /* evicts flow 1 */
    cs_analyzer_stats_get(t.a, &st);
    assert_int_equal(st.flows_evicted, 1);
    assert_int_equal(t.r.n_msgs, 4); /* + "REQ x" at eviction (EOF) */
    assert_int_equal(t.r.msgs[2].flags & CS_MSG_TRUNCATED, CS_MSG_TRUNCATED);
    assert_string_equal(t.r.msgs[2].key, "x");
    /* 600 ns later the requests of 10, 20 and 30 have timed out (500) */
    tcp_ports(&t, 0, 3, 7777, ACK, 106, 1, "", 509, 0);
    assert_int_equal(t.r.unreq, 0);
    tcp_ports(&t, 0, 3, 7777, ACK, 106, 1, "", 630, 0);
    assert_int_equal(t.r.unreq, 4);
    /* 1100 ns idle: flow 2 expires; flow 3 was touched at 630 */
    tcp_ports(&t, 0, 3, 7777, ACK, 106, 1, "", 1125, 0);
    cs_analyzer_stats_get(t.a, &st);
    assert_int_equal(st.unmatched_requests, 4);
    /* a line longer than max_flow_buffer (64) overflows the stream buffer */
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    tcp_ports(&t, 0, 3, 7777, ACK, 106, 1, "REQ 4", 1130, 4);
    tcp_ports(&t, 0, 3, 7777, ACK, 111, 1, big, 1131, 5);
    tcp_ports(&t, 0, 3, 7777, ACK, 210, 1, "\nREQ 5\n", 1132, 6);
    cs_analyzer_finish(t.a);
    cs_analyzer_stats_get(t.a, &st);
    assert_int_equal(st.buffer_overflows, 1);
    assert_int_equal(g_gaps, 1);
    assert_string_equal(t.r.msgs[t.r.n_msgs - 1].key, "5");
    tb_end(&t);
}

static void test_fin_rst_and_port_reuse(void **state)
{
    tb t;

    tb_start(&t, NULL);
    handshake(&t);
    tcp(&t, 0, ACK, 1001, 5001, "REQ 1\n", 10, 1);
    tcp(&t, 1, ACK | FIN, 5001, 1007, "RSP 1\npartial", 11, 2);
    assert_int_equal(t.r.n_msgs, 3); /* the partial line at the server's FIN */
    tcp(&t, 0, RST, 1007, 0, NULL, 12, 0);
    assert_int_equal(g_eofs, 2);
    /* same ports, new connection */
    tcp(&t, 0, SYN, 7000, 0, NULL, 20, 0);
    tcp(&t, 1, SYN | ACK, 8000, 7001, NULL, 21, 0);
    tcp(&t, 0, ACK, 7001, 8001, "REQ 2\n", 22, 3);
    tcp(&t, 1, ACK, 8001, 7007, "RSP 2\n", 23, 4);
    cs_analyzer_finish(t.a);
    assert_int_equal(t.r.n_meas, 2);
    assert_int_equal(t.r.meas[1].req_ts_ns, 22);
    assert_int_equal(t.r.msgs[0].flow, t.r.msgs[4].flow); /* stable flow id */
    tb_end(&t);
}

/* 300 lines in one TCP segment (a coalesced capture, a MoldUDP64 jumbo
 * frame) and 3 more in the next packet: every id is distinct, the first 256
 * of the packet keep the (ref, k) form of stored ids, the later ones stay
 * inside the packet's own pcap record (16-byte header + bytes), so no other
 * packet's ids can meet them, and a second analysis gives the same ids. */
static void run_many_in_one_packet(tb *t, char *big, size_t big_len)
{
    uint32_t next_off = 100 + 16 + (uint32_t)big_len;

    tb_start(t, NULL);
    handshake(t);
    tcp(t, 0, ACK, 1001, 5001, big, 10, CS_PKTREF(1, 100));
    tcp(t, 0, ACK, 1001 + (uint32_t)big_len, 5001, "REQ a\nREQ b\nREQ c\n", 11,
        CS_PKTREF(1, next_off));
    cs_analyzer_finish(t->a);
}

static void test_many_messages_in_one_packet_unique_stable_ids(void **state)
{
    static char big[300 * 12];
    size_t len = 0;
    uint32_t rec_end;
    tb t1, t2;

    for (int i = 0; i < 300; i++)
        len += (size_t)sprintf(big + len, "REQ %d\n", i);
    rec_end = 100 + 16 + (uint32_t)len;
    run_many_in_one_packet(&t1, big, len);
    assert_int_equal(t1.r.n_ids, 303);
    for (int i = 0; i < 256; i++)
        assert_int_equal(t1.r.ids[i], CS_MSGID(CS_PKTREF(1, 100), i));
    for (int i = 0; i < 300; i++) {
        assert_int_equal(CS_MSGID_SEG(t1.r.ids[i]), 1);
        assert_true(CS_MSGID_OFF(t1.r.ids[i]) >= 100 && CS_MSGID_OFF(t1.r.ids[i]) < rec_end);
    }
    assert_int_equal(t1.r.ids[300], CS_MSGID(CS_PKTREF(1, rec_end), 0));
    for (int i = 0; i < t1.r.n_ids; i++)
        for (int j = i + 1; j < t1.r.n_ids; j++)
            assert_true(t1.r.ids[i] != t1.r.ids[j]);
    run_many_in_one_packet(&t2, big, len);
    assert_int_equal(t2.r.n_ids, t1.r.n_ids);
    assert_memory_equal(t2.r.ids, t1.r.ids, sizeof(cs_msgid) * (size_t)t1.r.n_ids);
    tb_end(&t1);
    tb_end(&t2);
}

/* A decoder calls back the context it is handed: the same binary holds the
 * analyzer and a context of the test's own, and each parse() call's
 * messages go to the emit callback of that call's context only. */
struct cs_decode_ctx {
    const cs_decode_ops *ops;
    int n;
    char last_key[16];
};

static void count_emit(cs_decode_ctx *ctx, const cs_msg_out *m)
{
    ctx->n++;
    copy_str(ctx->last_key, sizeof(ctx->last_key), m->key);
}

static void test_decoder_emits_through_its_ctx(void **state)
{
    static const cs_decode_ops count_ops = {.emit = count_emit};
    cs_decode_ctx mine = {.ops = &count_ops};
    const char *text = "REQ 1\nREQ 2\n";
    cs_decode_input in = {0, 0, (const uint8_t *)text, strlen(text), 0};
    void *st = line_decoder.state_new(&(cs_endpoints){0}, &(cs_decoder_opts){0});
    tb t;

    tb_start(&t, NULL);
    assert_int_equal(line_decoder.parse(st, &mine, &in), strlen(text));
    assert_int_equal(mine.n, 2);
    assert_string_equal(mine.last_key, "2");
    udp(&t, 0, 5555, 7777, "REQ 3", 10, CS_PKTREF(1, 24));
    cs_analyzer_finish(t.a);
    assert_int_equal(t.r.n_msgs, 1);
    assert_int_equal(mine.n, 2);
    line_decoder.state_free(st);
    tb_end(&t);
}

/* --decoder-opt: parsed once against the registry, checked, and handed to
 * each flow's state with the flow; "ports" binds a decoder to other ports
 * (payload "??" is neither YES nor NO for the line probe: only the port
 * can choose it). */
static cs_decoder_optset g_optset;

static void tweak_opts(cs_analyzer_cfg *cfg)
{
    cfg->decoder_opts = &g_optset;
}

static void test_decoder_options_and_flow_identity(void **state)
{
    cs_decoder_opts fix_opts = {&g_optset, &cs_decoder_fix};
    uint16_t ports[4];
    tb t;

    memset(&g_optset, 0, sizeof(g_optset));
    assert_int_equal(cs_decoder_optset_add(&g_optset, "fix.ports=9100,9101"), 0);
    assert_int_equal(cs_decoder_optset_add(&g_optset, "fix.ports=9102"), 0); /* replaces */
    assert_int_equal(cs_decoder_opt_ports(&fix_opts, ports, 4), 1);
    assert_int_equal(ports[0], 9102);
    assert_null(cs_decoder_opt_get(&fix_opts, "tag"));
    assert_int_equal(cs_decoder_optset_add(&g_optset, "nosuch.ports=1"), CS_EINVAL);
    assert_int_equal(cs_decoder_optset_add(&g_optset, "fix.nosuch=1"), CS_EINVAL);
    assert_int_equal(cs_decoder_optset_add(&g_optset, "fix.ports=0"), CS_EINVAL);
    assert_int_equal(cs_decoder_optset_add(&g_optset, "fix.ports=70000"), CS_EINVAL);
    assert_int_equal(cs_decoder_optset_add(&g_optset, "fix.ports"), CS_EINVAL);
    assert_int_equal(cs_decoder_optset_add(&g_optset, "fix=1"), CS_EINVAL);

    memset(&g_optset, 0, sizeof(g_optset));
    /* the line decoder is not in the registry: add its options by hand */
    g_optset.opt[0].dec = &line_decoder;
    snprintf(g_optset.opt[0].key, sizeof(g_optset.opt[0].key), "tag");
    snprintf(g_optset.opt[0].val, sizeof(g_optset.opt[0].val), "venue-a");
    g_optset.opt[1].dec = &line_decoder;
    snprintf(g_optset.opt[1].key, sizeof(g_optset.opt[1].key), "ports");
    snprintf(g_optset.opt[1].val, sizeof(g_optset.opt[1].val), "26477");
    g_optset.n = 2;
    tb_start(&t, tweak_opts);
    udp(&t, 0, 5555, 26477, "??", 10, CS_PKTREF(1, 24));
    cs_analyzer_finish(t.a);
    assert_int_equal(t.r.n_msgs, 1);
    assert_int_equal(g_new_port_b, 26477);
    assert_string_equal(g_new_tag, "venue-a");
    tb_end(&t);

    /* without the option, port 26477 means nothing */
    g_new_port_b = 0;
    tb_start(&t, NULL);
    udp(&t, 0, 5555, 26477, "??", 10, CS_PKTREF(1, 24));
    cs_analyzer_finish(t.a);
    assert_int_equal(t.r.n_msgs, 0);
    assert_int_equal(g_new_port_b, 0);
    tb_end(&t);
}

/* A decoder reports a sequence gap (stream, first missing, count) through
 * its ctx; the flow layer counts it and tells the sink with the flow and
 * the capture time. */
static void test_sequence_gap_reports(void **state)
{
    cs_analyzer_stats st;
    tb t;

    tb_start(&t, NULL);
    udp(&t, 0, 5555, 7777, "REQ 1", 10, CS_PKTREF(1, 24));
    udp(&t, 0, 5555, 7777, "GAP 5 3", 20, CS_PKTREF(1, 100));
    cs_analyzer_finish(t.a);
    cs_analyzer_stats_get(t.a, &st);
    assert_int_equal(st.seq_gaps, 1);
    assert_int_equal(st.seq_gap_missing, 3);
    assert_int_equal(t.r.n_gaps, 1);
    assert_string_equal(t.r.gap_streams[0], "s1");
    assert_string_equal(t.r.gaps[0].proto, "line");
    assert_int_equal(t.r.gaps[0].gap.first, 5);
    assert_int_equal(t.r.gaps[0].gap.count, 3);
    assert_int_equal(t.r.gaps[0].ts_ns, 20);
    assert_int_equal(t.r.gaps[0].ep.port_b, 7777);
    assert_int_equal(t.r.gaps[0].flow_id, t.r.msgs[0].flow);
    tb_end(&t);
}

/* A response held until its body ends (HTTP) keeps its error reason. */
static const cs_decoder *const http_only[] = {&cs_decoder_http, NULL};

static void tweak_http(cs_analyzer_cfg *cfg)
{
    cfg->decoders = http_only;
}

static void test_held_response_keeps_error(void **state)
{
    tb t;

    tb_start(&t, tweak_http);
    handshake(&t);
    tcp(&t, 0, ACK, 1001, 5001, "GET / HTTP/1.1\r\n\r\n", 10, CS_PKTREF(1, 100));
    tcp(&t, 1, ACK, 5001, 1019, "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbu", 20,
        CS_PKTREF(1, 200));
    tcp(&t, 1, ACK, 5043, 1019, "sy", 30, CS_PKTREF(1, 300));
    cs_analyzer_finish(t.a);
    assert_int_equal(t.r.n_msgs, 2);
    assert_string_equal(t.r.msgs[0].error, "");
    assert_string_equal(t.r.msgs[1].error, "status 5xx");
    assert_int_equal(t.r.msgs[1].last_ts, 30); /* it was held to its body's end */
    assert_int_equal(t.r.n_meas, 1);
    tb_end(&t);
}

/* The hop measurements of the recorder, as "key tap>resp_tap latency;". */
static const char *hops_of(const rec *r, char *buf, size_t cap)
{
    size_t n = 0;

    buf[0] = '\0';
    for (int i = 0; i < r->n_meas; i++)
        if (strcmp(r->meas[i].pair, "hop") == 0)
            n += (size_t)snprintf(buf + n, cap - n, "%s %u>%u %lld;", r->meas_keys[i],
                                  (unsigned)r->meas[i].ep.tap, (unsigned)r->meas[i].resp_tap,
                                  (long long)r->meas[i].latency_ns);
    return buf;
}

#define MS 1000000ll

/* Two taps from the start: the first packets at tap 1 come before any at
 * tap 2, yet their copies there find them; a copy at the same tap changes
 * nothing; the same key on another route is no hop; the line pair is
 * measured at each tap as before. */
static void test_hops_two_taps(void **state)
{
    cs_analyzer_stats st;
    char buf[256];
    tb t;

    tb_start(&t, NULL);
    udp_at(&t, 1, 0, 5555, 7777, "REQ 1", 1000, CS_PKTREF(1, 24));
    udp_at(&t, 1, 0, 5555, 7777, "REQ 1", 1500, CS_PKTREF(1, 100)); /* again at tap 1 */
    udp_at(&t, 2, 0, 5555, 7777, "REQ 1", 3000, CS_PKTREF(1, 200));
    udp_at(&t, 2, 0, 5556, 7777, "REQ 2", 4000, CS_PKTREF(1, 300)); /* another route */
    udp_at(&t, 1, 0, 5555, 7777, "REQ 2", 4500, CS_PKTREF(1, 400));
    udp_at(&t, 2, 1, 5555, 7777, "RSP 1", 5000, CS_PKTREF(1, 500));
    udp_at(&t, 1, 1, 5555, 7777, "RSP 1", 7000, CS_PKTREF(1, 600));
    assert_string_equal(hops_of(&t.r, buf, sizeof(buf)), "1 1>2 2000;");
    assert_int_equal(t.r.meas[0].req_id, t.r.msgs[0].id);
    assert_int_equal(t.r.meas[0].resp_id, t.r.msgs[2].id);
    assert_int_equal(t.r.meas[0].flow_id, t.r.msgs[0].flow);
    cs_analyzer_finish(t.a);
    cs_analyzer_stats_get(t.a, &st);
    assert_int_equal(st.hops_alone, 2); /* REQ 2 at each tap, on two routes */
    assert_int_equal(st.measurements, t.r.n_meas);
    tb_end(&t);
}

/* One tap: requests are offered for the first hop window only, and no
 * one is told of those left alone; a second tap turns hops on for good. */
static void test_hops_one_tap_then_two(void **state)
{
    cs_analyzer_stats st;
    char buf[256];
    tb t;

    tb_start(&t, NULL);
    udp_at(&t, 1, 0, 5555, 7777, "REQ 1", 1 * MS, CS_PKTREF(1, 24));
    udp_at(&t, 1, 0, 5555, 7777, "REQ 2", 150 * MS, CS_PKTREF(1, 100)); /* window over */
    udp_at(&t, 1, 0, 5555, 7777, "REQ 3", 300 * MS, CS_PKTREF(1, 200)); /* not offered */
    udp_at(&t, 2, 0, 5555, 7777, "REQ 3", 300 * MS + 2000, CS_PKTREF(1, 300));
    udp_at(&t, 2, 0, 5555, 7777, "REQ 4", 400 * MS, CS_PKTREF(1, 400));
    udp_at(&t, 1, 0, 5555, 7777, "REQ 4", 400 * MS + 3000, CS_PKTREF(1, 500));
    udp_at(&t, 2, 0, 5555, 7777, "REQ 5", 450 * MS, CS_PKTREF(1, 600));
    assert_string_equal(hops_of(&t.r, buf, sizeof(buf)), "4 2>1 3000;");
    cs_analyzer_finish(t.a);
    cs_analyzer_stats_get(t.a, &st);
    assert_int_equal(st.hops_alone, 2); /* REQ 3 at tap 2 and REQ 5; not REQ 1 */
    tb_end(&t);
}

/* Without taps (all at tap 0) there is no hop, however many copies. */
static void test_hops_none_at_one_tap(void **state)
{
    cs_analyzer_stats st;
    tb t;

    tb_start(&t, NULL);
    udp_at(&t, 0, 0, 5555, 7777, "REQ 1", 1000, CS_PKTREF(1, 24));
    udp_at(&t, 0, 0, 5555, 7777, "REQ 1", 3000, CS_PKTREF(1, 100));
    udp_at(&t, 0, 1, 5555, 7777, "RSP 1", 5000, CS_PKTREF(1, 200));
    cs_analyzer_finish(t.a);
    cs_analyzer_stats_get(t.a, &st);
    assert_int_equal(t.r.n_meas, 1);
    assert_string_equal(t.r.meas[0].pair, "line");
    assert_int_equal(st.hops_alone, 0);
    tb_end(&t);
}

static void test_fallback_ids_and_id_text(void **state)
{
    char buf[40], kind;
    uint64_t id;
    tb t;

    tb_start(&t, NULL);
    udp(&t, 0, 5555, 7777, "REQ 1", 10, 0);
    udp(&t, 0, 5555, 7777, "REQ 2", 11, 0);
    cs_analyzer_finish(t.a);
    assert_true(t.r.msgs[0].id >> 63);
    assert_true(t.r.msgs[0].id != t.r.msgs[1].id);
    tb_end(&t);

    assert_string_equal(cs_id_format('m', CS_MSGID(CS_PKTREF(7, 1234), 3), buf), "m7.1234.3");
    assert_int_equal(cs_id_parse("l7.1234.3", &kind, &id), 0);
    assert_int_equal(kind, 'l');
    assert_int_equal(id, CS_MSGID(CS_PKTREF(7, 1234), 3));
    /* the 301st message of the packet at 1234: printed and read back */
    assert_string_equal(cs_id_format('m', CS_MSGID(CS_PKTREF(7, 1234), 300), buf), "m7.1235.44");
    assert_int_equal(cs_id_parse("m7.1235.44", &kind, &id), 0);
    assert_int_equal(id, CS_MSGID(CS_PKTREF(7, 1234), 300));
    assert_int_equal(cs_id_parse("x7.1.1", &kind, &id), CS_EINVAL);
    assert_int_equal(cs_id_parse("m7.1.256", &kind, &id), CS_EINVAL);
    assert_int_equal(cs_id_parse("m7.1", &kind, &id), CS_EINVAL);
    assert_int_equal(cs_id_parse("m7.1.1x", &kind, &id), CS_EINVAL);
}

/* ---- part 2: gentraffic ground truth --------------------------------------- */

typedef struct strs {
    char **v;
    size_t n, cap;
} strs;

static void strs_add(strs *s, const char *pair, const char *key, size_t key_len, long long req,
                     long long resp)
{
    char line[512];

    if (strcmp(pair, "fix") && strcmp(pair, "http") && strcmp(pair, "dns"))
        return;
    snprintf(line, sizeof(line), "%s\t%.*s\t%lld\t%lld", pair, (int)key_len, key, req, resp);
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        assert_non_null(s->v);
    }
    s->v[s->n++] = strdup(line);
}

static void strs_free(strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void gt_measurement(void *ud, const cs_measurement *ms)
{
    strs_add(ud, ms->pair, ms->key.p, ms->key.len, (long long)ms->req_ts_ns,
             (long long)ms->resp_ts_ns);
}

static void read_truth(const char *path, strs *out)
{
    FILE *f = fopen(path, "r");
    char line[1024];

    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        const char *key;
        assert_non_null(o);
        key = json_string_value(json_object_get(o, "key"));
        strs_add(out, json_string_value(json_object_get(o, "pair")), key, strlen(key),
                 (long long)json_integer_value(json_object_get(o, "req_ts_ns")),
                 (long long)json_integer_value(json_object_get(o, "resp_ts_ns")));
        json_decref(o);
    }
    fclose(f);
}

static void analyse_pcap(const char *path, strs *got)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    cs_sink sink = {got, NULL, gt_measurement, NULL, NULL, NULL};
    struct pcap_pkthdr *h;
    const u_char *data;
    cs_analyzer *a;
    uint32_t n = 0;

    assert_non_null(pc);
    assert_int_equal(cs_analyzer_new(NULL, &sink, &a), 0);
    while (pcap_next_ex(pc, &h, &data) == 1) {
        cs_packet p = {.ts_ns = (int64_t)h->ts.tv_sec * 1000000000ll + h->ts.tv_usec,
                       .caplen = h->caplen,
                       .wirelen = h->len,
                       .linktype = (uint16_t)pcap_datalink(pc),
                       .data = data};
        cs_layers l;
        n++;
        if (cs_dissect(&p, &l) == 0)
            cs_analyzer_packet(a, &p, &l, CS_PKTREF(1, n * 64));
    }
    cs_analyzer_finish(a);
    cs_analyzer_free(a);
    pcap_close(pc);
}

/* Prints up to 10 entries of "a" not in "b" (both sorted). */
static size_t diff_report(const char *what, const strs *a, const strs *b)
{
    size_t i = 0, j = 0, n = 0;

    while (i < a->n) {
        int c = j < b->n ? strcmp(a->v[i], b->v[j]) : -1;
        if (c == 0) {
            i++;
            j++;
        } else if (c < 0) {
            if (n++ < 10)
                fprintf(stderr, "  %s: %s\n", what, a->v[i]);
            i++;
        } else {
            j++;
        }
    }
    return n;
}

static void check_gentraffic(int seed, int quirks)
{
    char dir[] = "/tmp/cs_test_analyzer_XXXXXX", cmd[1024], pcap[128], truth[128];
    strs want = {0}, got = {0};
    size_t missing, extra;

    assert_int_equal(access("tools/gentraffic.py", R_OK), 0);
    assert_non_null(mkdtemp(dir));
    snprintf(pcap, sizeof(pcap), "%s/t.pcap", dir);
    snprintf(truth, sizeof(truth), "%s/t.truth", dir);
    snprintf(cmd, sizeof(cmd),
             "python3 tools/gentraffic.py %s --truth %s --seconds 0.5 --seed %d %s "
             ">/dev/null",
             pcap, truth, seed, quirks ? "--quirks" : "");
    assert_int_equal(system(cmd), 0);
    read_truth(truth, &want);
    analyse_pcap(pcap, &got);
    qsort(want.v, want.n, sizeof(char *), cmp_str);
    qsort(got.v, got.n, sizeof(char *), cmp_str);
    fprintf(stderr, "gentraffic seed %d%s: truth %zu, measured %zu\n", seed,
            quirks ? " --quirks" : "", want.n, got.n);
    missing = diff_report("missing", &want, &got);
    extra = diff_report("extra", &got, &want);
    unlink(pcap);
    unlink(truth);
    rmdir(dir);
    strs_free(&want);
    strs_free(&got);
    assert_true(want.n > 100);
    assert_int_equal(missing, 0);
    assert_int_equal(extra, 0);
}

static void test_gentraffic_plain(void **state)
{
    for (int seed = 1; seed <= 3; seed++)
        check_gentraffic(seed, 0);
}

static void test_gentraffic_quirks(void **state)
{
    for (int seed = 1; seed <= 3; seed++)
        check_gentraffic(seed, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_coalesced_ids_and_pairing),
        cmocka_unit_test(test_out_of_order_and_retransmit_timestamps),
        cmocka_unit_test(test_loss_gap_and_resync),
        cmocka_unit_test(test_midstream_server_first),
        cmocka_unit_test(test_midstream_reprobe_after_partial),
        cmocka_unit_test(test_probe_need_more_and_no_decoder),
        cmocka_unit_test(test_udp_response_first_and_datagrams),
        cmocka_unit_test(test_udp_fragments_reversed),
        cmocka_unit_test(test_udp_fragments_ipv6),
        cmocka_unit_test(test_eviction_expiry_timeout_overflow),
        cmocka_unit_test(test_fin_rst_and_port_reuse),
        cmocka_unit_test(test_many_messages_in_one_packet_unique_stable_ids),
        cmocka_unit_test(test_decoder_emits_through_its_ctx),
        cmocka_unit_test(test_decoder_options_and_flow_identity),
        cmocka_unit_test(test_sequence_gap_reports),
        cmocka_unit_test(test_held_response_keeps_error),
        cmocka_unit_test(test_hops_two_taps),
        cmocka_unit_test(test_hops_one_tap_then_two),
        cmocka_unit_test(test_hops_none_at_one_tap),
        cmocka_unit_test(test_fallback_ids_and_id_text),
        cmocka_unit_test(test_gentraffic_plain),
        cmocka_unit_test(test_gentraffic_quirks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

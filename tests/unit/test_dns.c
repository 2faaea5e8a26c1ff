/*
 * test_dns.c - unit tests of the DNS decoder (src/decode/dns/dns.c), alone.
 *
 * The test drives the decoder with a recording context (decoder_recorder.h),
 * which copies every emitted message (fields rebuilt as "name=val|..." text).
 *
 * Synthetic messages are assembled byte by byte (header, labels,
 * compression pointers, records) to check every rendered field, roles and
 * keys, malformed input (pointer loops, forward pointers, names over 255
 * bytes, counts beyond the data, short headers) and TCP framing (several
 * per slice, a split at every byte, EOF truncation, resync after a gap).
 *
 * Real captures (tests/pcaps, relative to the repo root): every UDP
 * datagram to or from port 53 is handed to parse() with CS_IN_DATAGRAM by a
 * small in-test walker (Ethernet, 802.1Q, IPv4, UDP); the messages are
 * compared in capture order with Wireshark's DNS dissector output kept in
 * tests/data/dns/<capture>.tsv, generated once with
 *
 *   tshark -r F -Y dns -T fields -e ip.src -e ip.dst -e ip.proto -e dns.id \
 *       -e dns.flags.response -e dns.flags.rcode -e dns.qry.name \
 *       -e dns.count.answers -e _ws.malformed
 *
 * (tshark prints ids in hex, "<Root>" for the root name, no rcode on
 * queries, and several question names comma-separated).
 */
#include "decode/dns/dns.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#include "decoder_recorder.h"

static size_t feed(void *st, cs_decode_ctx *ctx, uint8_t dir, uint32_t flags, const uint8_t *data,
                   size_t len, size_t *needed)
{
    cs_decode_input in;
    size_t consumed;

    memset(&in, 0, sizeof(in));
    in.dir = dir;
    in.flags = flags;
    in.data = data;
    in.len = len;
    ctx->in = &in;
    consumed = cs_decoder_dns.parse(st, ctx, &in);
    ctx->in = NULL;
    assert_true(consumed <= len);
    if (needed)
        *needed = in.needed;
    return consumed;
}

/* Decodes one datagram; returns the number of messages emitted (0 or 1). */
static size_t datagram(cs_decode_ctx *ctx, const uint8_t *p, size_t n)
{
    void *st = cs_decoder_dns.state_new(&no_flow, &no_opts);
    size_t before = ctx->n;

    assert_non_null(st);
    assert_int_equal(feed(st, ctx, 0, CS_IN_DATAGRAM, p, n, NULL), n);
    cs_decoder_dns.state_free(st);
    return ctx->n - before;
}

/* ---- message builder ----------------------------------------------------- */

typedef struct wbuf {
    uint8_t b[2048];
    size_t n;
} wbuf;

static void put8(wbuf *w, unsigned v)
{
    assert_true(w->n < sizeof(w->b));
    w->b[w->n++] = (uint8_t)v;
}

static void put16(wbuf *w, unsigned v)
{
    put8(w, v >> 8);
    put8(w, v & 0xff);
}

static void put32(wbuf *w, uint32_t v)
{
    put16(w, v >> 16);
    put16(w, v & 0xffff);
}

static void header(wbuf *w, unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns,
                   unsigned ar)
{
    w->n = 0;
    put16(w, id);
    put16(w, flags);
    put16(w, qd);
    put16(w, an);
    put16(w, ns);
    put16(w, ar);
}

/* Writes dotted "name" as labels ending with the root label. */
static void name(wbuf *w, const char *dotted)
{
    while (*dotted) {
        size_t len = strcspn(dotted, ".");

        put8(w, (unsigned)len);
        for (size_t i = 0; i < len; i++)
            put8(w, (uint8_t)dotted[i]);
        dotted += len + (dotted[len] == '.');
    }
    put8(w, 0);
}

static void pointer(wbuf *w, unsigned off)
{
    put16(w, 0xc000 | off);
}

static void question(wbuf *w, const char *dotted, unsigned type)
{
    name(w, dotted);
    put16(w, type);
    put16(w, 1);
}

/* Record header with a compression pointer as owner name. */
static void rr_head(wbuf *w, unsigned owner, unsigned type, uint32_t ttl, unsigned rdlen)
{
    pointer(w, owner);
    put16(w, type);
    put16(w, 1);
    put32(w, ttl);
    put16(w, rdlen);
}

/* ---- synthetic tests ------------------------------------------------------ */

static void test_query(void **unused)
{
    wbuf w;
    cs_decode_ctx ctx = CTX_INIT;

    header(&w, 0x1234, 0x0100, 1, 0, 0, 0);
    question(&w, "www.Example.COM", 1);
    assert_int_equal(datagram(&ctx, w.b, w.n), 1);
    assert_string_equal(ctx.msgs[0].type, "query");
    assert_int_equal(ctx.msgs[0].role, CS_ROLE_REQ);
    assert_string_equal(ctx.msgs[0].pair, "dns");
    assert_string_equal(ctx.msgs[0].key, "4660 www.Example.COM");
    assert_string_equal(ctx.msgs[0].match, "4660 www.Example.COM");
    assert_int_equal(ctx.msgs[0].flags, CS_MSG_RETRY); /* a resent query replaces it */
    assert_string_equal(ctx.msgs[0].error, "");
    assert_int_equal(ctx.msgs[0].len, w.n);
    assert_string_equal(ctx.msgs[0].fields,
                        "id=4660|qr=0|opcode=0|rcode=0|flags=0x0100|qname=www.Example.COM|"
                        "qtype=A|qclass=IN|answers=0|ns=0|ar=0|");
    ctx_reset(&ctx);
}

/* A response with compressed names and every rendered rdata kind. */
static void test_response_records(void **unused)
{
    wbuf w;
    cs_decode_ctx ctx = CTX_INIT;
    size_t cname_at;

    header(&w, 7, 0x8583, 1, 7, 0, 1); /* QR AA RD RA, rcode 3 */
    question(&w, "a.example.org", 255);
    rr_head(&w, 12, 1, 300, 4);
    put32(&w, 0xc0000201);
    rr_head(&w, 12, 28, 60, 16);
    put32(&w, 0x20010db8);
    put32(&w, 0);
    put32(&w, 0);
    put32(&w, 1);
    rr_head(&w, 12, 5, 5, 4); /* CNAME "b" + pointer to "example.org" */
    cname_at = w.n;
    put8(&w, 1);
    put8(&w, 'b');
    pointer(&w, 14);
    rr_head(&w, 12, 15, 9, 4); /* MX 10 -> pointer to the CNAME target */
    put16(&w, 10);
    pointer(&w, (unsigned)cname_at);
    rr_head(&w, 12, 16, 1, 9); /* TXT: two strings, first shown */
    put8(&w, 3);
    put8(&w, 'h');
    put8(&w, 'i');
    put8(&w, '.');
    put8(&w, 4);
    put32(&w, 0x78797a77);
    rr_head(&w, 12, 12, 2, 1); /* PTR to the root */
    put8(&w, 0);
    rr_head(&w, 12, 99, 3, 2); /* SPF: hex */
    put16(&w, 0xbeef);
    put8(&w, 0); /* OPT in additional: walked, not rendered */
    put16(&w, 41);
    put16(&w, 4096);
    put32(&w, 0);
    put16(&w, 0);
    assert_int_equal(datagram(&ctx, w.b, w.n), 1);
    assert_string_equal(ctx.msgs[0].type, "response");
    assert_int_equal(ctx.msgs[0].role, CS_ROLE_RESP);
    assert_string_equal(ctx.msgs[0].match, "7 a.example.org");
    assert_string_equal(ctx.msgs[0].key, "");
    assert_int_equal(ctx.msgs[0].flags, 0);
    assert_string_equal(ctx.msgs[0].error, "rcode NXDOMAIN"); /* rcode 3 */
    assert_string_equal(ctx.msgs[0].fields,
                        "id=7|qr=1|opcode=0|rcode=3|flags=0x8583|qname=a.example.org|qtype=ANY|"
                        "qclass=IN|answers=7|ns=0|ar=1|"
                        "an.name=a.example.org|an.type=A|an.ttl=300|an.data=192.0.2.1|"
                        "an.name=a.example.org|an.type=AAAA|an.ttl=60|an.data=2001:db8::1|"
                        "an.name=a.example.org|an.type=CNAME|an.ttl=5|an.data=b.example.org|"
                        "an.name=a.example.org|an.type=MX|an.ttl=9|an.data=10 b.example.org|"
                        "an.name=a.example.org|an.type=TXT|an.ttl=1|an.data=hi\\.|"
                        "an.name=a.example.org|an.type=PTR|an.ttl=2|an.data=|"
                        "an.name=a.example.org|an.type=SPF|an.ttl=3|an.data=beef|");
    ctx_reset(&ctx);
}

static void test_root_and_no_question(void **unused)
{
    wbuf w;
    cs_decode_ctx ctx = CTX_INIT;

    header(&w, 9, 0x0000, 1, 0, 0, 0);
    question(&w, "", 2);
    assert_int_equal(datagram(&ctx, w.b, w.n), 1);
    assert_string_equal(ctx.msgs[0].key, "9 .");
    assert_int_equal(ctx.msgs[0].role, CS_ROLE_REQ);
    assert_non_null(strstr(ctx.msgs[0].fields, "|qname=|qtype=NS|"));
    header(&w, 10, 0x8000, 0, 0, 0, 0);
    assert_int_equal(datagram(&ctx, w.b, w.n), 1);
    assert_int_equal(ctx.msgs[1].role, CS_ROLE_NONE);
    assert_string_equal(ctx.msgs[1].match, "");
    assert_int_equal(ctx.msgs[1].flags, 0);
    ctx_reset(&ctx);
}

/* Two questions: the key uses the first; both are reported. */
static void test_two_questions(void **unused)
{
    wbuf w;
    cs_decode_ctx ctx = CTX_INIT;

    header(&w, 1, 0, 2, 0, 0, 0);
    question(&w, "x.test", 1);
    pointer(&w, 14); /* "test" */
    put16(&w, 28);
    put16(&w, 1);
    assert_int_equal(datagram(&ctx, w.b, w.n), 1);
    assert_string_equal(ctx.msgs[0].key, "1 x.test");
    assert_non_null(strstr(ctx.msgs[0].fields, "qname=x.test|qtype=A|qclass=IN|"
                                               "qname=test|qtype=AAAA|qclass=IN|"));
    ctx_reset(&ctx);
}

static void test_malformed(void **unused)
{
    wbuf w;
    cs_decode_ctx ctx = CTX_INIT;
    char longname[400];
    size_t i;

    /* Fewer than 12 bytes: nothing emitted, all consumed. */
    header(&w, 1, 0, 1, 0, 0, 0);
    assert_int_equal(datagram(&ctx, w.b, 11), 0);
    /* Pointer to itself. */
    header(&w, 2, 0, 1, 0, 0, 0);
    pointer(&w, 12);
    put32(&w, 0x00010001);
    assert_int_equal(datagram(&ctx, w.b, w.n), 1);
    assert_int_equal(ctx.msgs[0].flags, CS_MSG_MALFORMED);
    assert_int_equal(ctx.msgs[0].role, CS_ROLE_NONE);
    assert_non_null(strstr(ctx.msgs[0].fields, "id=2|"));
    /* Forward pointer. */
    header(&w, 3, 0, 1, 0, 0, 0);
    pointer(&w, 20);
    put32(&w, 0x00010001);
    put8(&w, 0);
    assert_int_equal(datagram(&ctx, w.b, w.n), 1);
    assert_int_equal(ctx.msgs[1].flags, CS_MSG_MALFORMED);
    /* Two names pointing at each other through a backward chain: fine;
     * a label type 01xxxxxx: malformed. */
    header(&w, 4, 0, 1, 0, 0, 0);
    put8(&w, 0x41);
    put32(&w, 0x00010001);
    assert_int_equal(datagram(&ctx, w.b, w.n), 1);
    assert_int_equal(ctx.msgs[2].flags, CS_MSG_MALFORMED);
    /* A name over 255 wire bytes. */
    for (i = 0; i < 300; i += 2)
        memcpy(longname + i, "a.", 2);
    longname[299] = '\0';
    header(&w, 5, 0, 1, 0, 0, 0);
    question(&w, longname, 1);
    assert_int_equal(datagram(&ctx, w.b, w.n), 1);
    assert_int_equal(ctx.msgs[3].flags, CS_MSG_MALFORMED);
    /* ancount beyond the data: question decoded, role kept. */
    header(&w, 6, 0x8180, 1, 3, 0, 0);
    question(&w, "ok.test", 1);
    rr_head(&w, 12, 1, 1, 4);
    put32(&w, 0x01020304);
    assert_int_equal(datagram(&ctx, w.b, w.n), 1);
    assert_int_equal(ctx.msgs[4].flags, CS_MSG_MALFORMED);
    assert_int_equal(ctx.msgs[4].role, CS_ROLE_RESP);
    assert_string_equal(ctx.msgs[4].match, "6 ok.test");
    assert_non_null(strstr(ctx.msgs[4].fields, "an.data=1.2.3.4|"));
    /* rdata running past the message. */
    header(&w, 7, 0x8180, 1, 1, 0, 0);
    question(&w, "ok.test", 1);
    rr_head(&w, 12, 1, 1, 40);
    put32(&w, 0x01020304);
    assert_int_equal(datagram(&ctx, w.b, w.n), 1);
    assert_int_equal(ctx.msgs[5].flags, CS_MSG_MALFORMED);
    /* A question cut in its type: header fields only, role none. */
    header(&w, 8, 0, 1, 0, 0, 0);
    question(&w, "cut.test", 1);
    assert_int_equal(datagram(&ctx, w.b, w.n - 3), 1);
    assert_int_equal(ctx.msgs[6].flags, CS_MSG_MALFORMED);
    assert_int_equal(ctx.msgs[6].role, CS_ROLE_NONE);
    ctx_reset(&ctx);
}

/* Prefixes "w" with its TCP length into "out"; returns the total. */
static size_t tcp_frame(uint8_t *out, const wbuf *w)
{
    out[0] = (uint8_t)(w->n >> 8);
    out[1] = (uint8_t)w->n;
    memcpy(out + 2, w->b, w->n);
    return w->n + 2;
}

static void test_tcp_framing(void **unused)
{
    uint8_t s[4096];
    size_t n = 0, first, k, needed = 0;
    wbuf w;
    void *st;
    cs_decode_ctx ctx = CTX_INIT;

    header(&w, 100, 0x0100, 1, 0, 0, 0);
    question(&w, "one.test", 1);
    first = n += tcp_frame(s + n, &w);
    header(&w, 101, 0x0100, 1, 0, 0, 0);
    question(&w, "two.test", 16);
    n += tcp_frame(s + n, &w);
    /* Both in one slice, then a partial third stays unconsumed. */
    st = cs_decoder_dns.state_new(&no_flow, &no_opts);
    memcpy(s + n, s, 5); /* the first 5 bytes of a copy of message one */
    assert_int_equal(feed(st, &ctx, 0, 0, s, n + 5, &needed), n);
    assert_int_equal(needed, first);
    assert_int_equal(ctx.n, 2);
    assert_string_equal(ctx.msgs[0].key, "100 one.test");
    assert_string_equal(ctx.msgs[1].key, "101 two.test");
    assert_int_equal(ctx.msgs[1].start, first + 2); /* the length prefix is framing */
    assert_int_equal(ctx.msgs[1].len, n - first - 2);
    cs_decoder_dns.state_free(st);
    ctx_reset(&ctx);
    /* Split at every byte of the first message. */
    for (k = 0; k < first; k++) {
        st = cs_decoder_dns.state_new(&no_flow, &no_opts);
        assert_int_equal(feed(st, &ctx, 1, 0, s, k, &needed), 0);
        assert_int_equal(ctx.n, 0);
        assert_int_equal(needed, k == 0 ? 0 : k < 2 ? 2 : first); /* 0: any */
        assert_int_equal(feed(st, &ctx, 1, 0, s, first, NULL), first);
        assert_int_equal(ctx.n, 1);
        assert_int_equal(ctx.msgs[0].flags, CS_MSG_RETRY); /* whole, not truncated */
        cs_decoder_dns.state_free(st);
        ctx_reset(&ctx);
    }
    /* Cut off at EOF: emitted, truncated. */
    st = cs_decoder_dns.state_new(&no_flow, &no_opts);
    assert_int_equal(feed(st, &ctx, 0, CS_IN_EOF, s, first + 20, NULL), first + 20);
    assert_int_equal(ctx.n, 2);
    assert_true(ctx.msgs[1].flags & CS_MSG_TRUNCATED);
    assert_int_equal(ctx.msgs[1].len, 18);
    cs_decoder_dns.state_free(st);
    ctx_reset(&ctx);
}

/* After a gap the front bytes are not a length prefix: the decoder finds
 * the next clean message and drops what precedes it. */
static void test_tcp_gap_resync(void **unused)
{
    uint8_t s[4096];
    size_t n = 0, tail_from, good_at;
    wbuf w;
    void *st = cs_decoder_dns.state_new(&no_flow, &no_opts);
    cs_decode_ctx ctx = CTX_INIT;

    header(&w, 200, 0x8180, 1, 1, 0, 0);
    question(&w, "lost.example", 1);
    rr_head(&w, 12, 1, 60, 4);
    put32(&w, 0x0a000001);
    n += tcp_frame(s + n, &w);
    tail_from = 9; /* inside the header of the lost message */
    good_at = n;
    header(&w, 201, 0x8180, 1, 1, 0, 0);
    question(&w, "kept.example", 1);
    rr_head(&w, 12, 1, 60, 4);
    put32(&w, 0x0a000002);
    n += tcp_frame(s + n, &w);
    cs_decoder_dns.gap(st, 1);
    assert_int_equal(feed(st, &ctx, 1, 0, s + tail_from, n - tail_from, NULL), n - tail_from);
    assert_int_equal(ctx.n, 1);
    assert_string_equal(ctx.msgs[0].match, "201 kept.example");
    assert_int_equal(ctx.msgs[0].start, good_at - tail_from + 2);
    assert_int_equal(ctx.msgs[0].flags, 0);
    cs_decoder_dns.state_free(st);
    ctx_reset(&ctx);
}

/* Mid-stream connection: the flag is on for every call; the first call
 * resynchronises past a partial message, later calls frame normally, even
 * a message split across calls. */
static void test_tcp_midstream(void **unused)
{
    uint8_t s[4096];
    size_t n = 0, a, b, skip = 5;
    wbuf w;
    void *st = cs_decoder_dns.state_new(&no_flow, &no_opts);
    cs_decode_ctx ctx = CTX_INIT;

    header(&w, 300, 0x0100, 1, 0, 0, 0);
    question(&w, "first.test", 1);
    a = n += tcp_frame(s + n, &w);
    header(&w, 301, 0x0100, 1, 0, 0, 0);
    question(&w, "second.test", 1);
    b = n += tcp_frame(s + n, &w);
    header(&w, 302, 0x0100, 1, 0, 0, 0);
    question(&w, "third.test", 28);
    n += tcp_frame(s + n, &w);
    assert_int_equal(feed(st, &ctx, 0, CS_IN_MIDSTREAM, s + skip, b + 3 - skip, NULL), b - skip);
    assert_int_equal(ctx.n, 1);
    assert_string_equal(ctx.msgs[0].key, "301 second.test");
    assert_int_equal(ctx.msgs[0].start, a - skip + 2);
    assert_int_equal(feed(st, &ctx, 0, CS_IN_MIDSTREAM, s + b, n - b, NULL), n - b);
    assert_int_equal(ctx.n, 2);
    assert_string_equal(ctx.msgs[1].key, "302 third.test");
    cs_decoder_dns.state_free(st);
    ctx_reset(&ctx);
}

/* A lone length prefix (a client writing it first, as in a zone transfer
 * whose query body followed 218 ms later) is not a reason to give up on
 * DNS: the probe wants more bytes. Once the body is there, the message
 * starts at the byte after the prefix, so it is timed by the packet
 * carrying that byte. */
static void test_tcp_lone_prefix(void **unused)
{
    uint8_t s[512];
    size_t n, needed = 0;
    wbuf w;
    void *st;
    cs_decode_ctx ctx = CTX_INIT;

    header(&w, 0x5a17, 0x0000, 1, 0, 0, 0);
    question(&w, "zone.test", 252);
    n = tcp_frame(s, &w);
    assert_int_equal(cs_decoder_dns.probe(s, 1, 0), CS_PROBE_NEED_MORE);
    assert_int_equal(cs_decoder_dns.probe(s, 2, 0), CS_PROBE_NEED_MORE);
    assert_int_equal(cs_decoder_dns.probe(s, 9, 0), CS_PROBE_NEED_MORE);
    assert_int_equal(cs_decoder_dns.probe(s, 20, 0), CS_PROBE_NEED_MORE);
    assert_int_equal(cs_decoder_dns.probe(s, n, 0), CS_PROBE_YES);
    s[2 + 3] = 0x40; /* Z bit set: not a DNS header, however long */
    assert_int_equal(cs_decoder_dns.probe(s, 20, 0), CS_PROBE_NO);
    s[2 + 3] = 0x00;
    assert_int_equal(cs_decoder_dns.probe((const uint8_t *)"\x00\x05", 2, 0), CS_PROBE_NO);
    st = cs_decoder_dns.state_new(&no_flow, &no_opts);
    assert_int_equal(feed(st, &ctx, 0, 0, s, 2, &needed), 0);
    assert_int_equal(needed, n);
    assert_int_equal(feed(st, &ctx, 0, 0, s, n, NULL), n);
    assert_int_equal(ctx.n, 1);
    assert_int_equal(ctx.msgs[0].start, 2);
    assert_int_equal(ctx.msgs[0].len, w.n);
    assert_string_equal(ctx.msgs[0].key, "23063 zone.test");
    cs_decoder_dns.state_free(st);
    ctx_reset(&ctx);
}

/* A record's owner: "zone.test" in full at offset 12 if "full", else a
 * pointer to offset 12; then type, class IN, ttl and "rdlen". */
static void owner_head(wbuf *w, int full, unsigned type, unsigned rdlen)
{
    if (full)
        name(w, "zone.test");
    else
        pointer(w, 12);
    put16(w, type);
    put16(w, 1);
    put32(w, 3600);
    put16(w, rdlen);
}

static void soa(wbuf *w, int full, uint32_t serial)
{
    size_t at;

    owner_head(w, full, 6, 0);
    at = w->n;
    name(w, "ns1.zone.test");
    name(w, "admin.zone.test");
    put32(w, serial);
    for (int i = 0; i < 4; i++)
        put32(w, 600);
    w->b[at - 2] = (uint8_t)((w->n - at) >> 8);
    w->b[at - 1] = (uint8_t)(w->n - at);
}

/* A zone-transfer response: "an" answers, SOA first if "open", SOA last
 * if "close", A records between; with the question if "qd". */
static size_t axfr_frame(uint8_t *out, unsigned an, int qd, int open, int close)
{
    wbuf w;

    header(&w, 0x3000, 0x8480, qd ? 1 : 0, an, 0, 0);
    if (qd)
        question(&w, "zone.test", 252);
    for (unsigned i = 0; i < an; i++) {
        int full = !qd && i == 0;

        if ((i == 0 && open) || (i == an - 1 && close)) {
            soa(&w, full, 2026010501);
        } else {
            owner_head(&w, full, 1, 4);
            put32(&w, 0xc0000200 + i);
        }
    }
    return tcp_frame(out, &w);
}

/* A zone transfer over TCP: one response message with both SOAs is whole;
 * in several messages, the first says more follow (CS_MSG_MORE), the later
 * ones (with or without a question) continue it (CS_MSG_CONTINUATION, the
 * first one's match, role response) and the one ending with the opening
 * SOA closes it. */
static void test_tcp_axfr(void **unused)
{
    uint8_t s[8192];
    size_t n = 0;
    void *st = cs_decoder_dns.state_new(&no_flow, &no_opts);
    cs_decode_ctx ctx = CTX_INIT;

    n = axfr_frame(s, 21, 1, 1, 1);
    assert_int_equal(feed(st, &ctx, 1, 0, s, n, NULL), n);
    assert_int_equal(ctx.n, 1);
    assert_int_equal(ctx.msgs[0].role, CS_ROLE_RESP);
    assert_string_equal(ctx.msgs[0].match, "12288 zone.test");
    assert_int_equal(ctx.msgs[0].flags, 0);
    ctx_reset(&ctx);

    n = axfr_frame(s, 7, 1, 1, 0);
    n += axfr_frame(s + n, 6, 0, 0, 0);
    n += axfr_frame(s + n, 6, 1, 0, 0); /* a question repeated is allowed too */
    n += axfr_frame(s + n, 7, 0, 0, 1);
    assert_int_equal(feed(st, &ctx, 1, 0, s, n, NULL), n);
    assert_int_equal(ctx.n, 4);
    assert_int_equal(ctx.msgs[0].flags, CS_MSG_MORE);
    assert_int_equal(ctx.msgs[1].flags, CS_MSG_CONTINUATION | CS_MSG_MORE);
    assert_int_equal(ctx.msgs[2].flags, CS_MSG_CONTINUATION | CS_MSG_MORE);
    assert_int_equal(ctx.msgs[3].flags, CS_MSG_CONTINUATION);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(ctx.msgs[i].role, CS_ROLE_RESP);
        assert_string_equal(ctx.msgs[i].match, "12288 zone.test");
        assert_string_equal(ctx.msgs[i].pair, "dns");
    }
    ctx_reset(&ctx);

    /* IXFR answered by one SOA (the client is up to date): whole, and an
     * AXFR whose first message is only the SOA: more follow. */
    {
        wbuf w;

        header(&w, 0x3001, 0x8480, 1, 1, 0, 0);
        question(&w, "zone.test", 251);
        soa(&w, 0, 2026010501);
        n = tcp_frame(s, &w);
        header(&w, 0x3002, 0x8480, 1, 1, 0, 0);
        question(&w, "zone.test", 252);
        soa(&w, 0, 2026010501);
        n += tcp_frame(s + n, &w);
        assert_int_equal(feed(st, &ctx, 1, 0, s, n, NULL), n);
        assert_int_equal(ctx.n, 2);
        assert_int_equal(ctx.msgs[0].flags, 0);
        assert_int_equal(ctx.msgs[1].flags, CS_MSG_MORE);
        ctx_reset(&ctx);
        n = axfr_frame(s, 1, 0, 0, 1); /* id 0x3000 is not the open transfer's */
        header(&w, 0x3002, 0x8480, 0, 1, 0, 0);
        soa(&w, 1, 2026010501); /* the closing SOA alone, no question */
        n += tcp_frame(s + n, &w);
        assert_int_equal(feed(st, &ctx, 1, 0, s, n, NULL), n);
        assert_int_equal(ctx.n, 2);
        assert_int_equal(ctx.msgs[0].flags, 0);
        assert_int_equal(ctx.msgs[1].flags, CS_MSG_CONTINUATION);
        assert_string_equal(ctx.msgs[1].match, "12290 zone.test");
        ctx_reset(&ctx);
    }

    /* Closed: a later response with the same id starts afresh. */
    n = axfr_frame(s, 1, 0, 0, 0);
    assert_int_equal(feed(st, &ctx, 1, 0, s, n, NULL), n);
    assert_int_equal(ctx.n, 1);
    assert_int_equal(ctx.msgs[0].flags, 0);
    assert_int_equal(ctx.msgs[0].role, CS_ROLE_NONE);
    cs_decoder_dns.state_free(st);
    ctx_reset(&ctx);
}

static void test_probe(void **unused)
{
    uint8_t s[512];
    wbuf w;
    size_t n;

    header(&w, 5, 0x0100, 1, 0, 0, 0);
    question(&w, "probe.test", 1);
    assert_int_equal(cs_decoder_dns.probe(w.b, w.n, 0), CS_PROBE_YES);
    n = tcp_frame(s, &w);
    assert_int_equal(cs_decoder_dns.probe(s, n, 0), CS_PROBE_YES);
    /* Queries coalesced in one segment: the first frame decides. */
    tcp_frame(s + n, &w);
    assert_int_equal(cs_decoder_dns.probe(s, 2 * n, 0), CS_PROBE_YES);
    assert_int_equal(cs_decoder_dns.probe(s, n + 1, 0), CS_PROBE_YES);
    assert_int_equal(cs_decoder_dns.probe(w.b, w.n - 1, 0), CS_PROBE_NO);
    assert_int_equal(cs_decoder_dns.probe((const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, 0),
                     CS_PROBE_NO);
    assert_int_equal(cs_decoder_dns.probe(w.b, 4, 0), CS_PROBE_NO);
    assert_string_equal(cs_decoder_dns.name, "dns");
    assert_int_equal(cs_decoder_dns.ports[0], 53);
    assert_true(cs_decoder_dns.transports & CS_TRANSPORT_UDP);
    assert_true(cs_decoder_dns.transports & CS_TRANSPORT_TCP);
}

/* ---- captures ------------------------------------------------------------ */

/* Feeds every UDP datagram from/to port 53 of "path" as one message. */
static void walk_udp(cs_decode_ctx *ctx, const char *path, size_t *n_datagrams)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(path, err);
    struct pcap_pkthdr *h;
    const u_char *p;

    if (pc == NULL)
        fail_msg("cannot open %s: %s", path, err);
    assert_int_equal(pcap_datalink(pc), DLT_EN10MB);
    *n_datagrams = 0;
    while (pcap_next_ex(pc, &h, &p) == 1) {
        size_t n = h->caplen, off = 14, ihl, iplen, ulen;
        unsigned sport, dport;
        uint16_t et;

        if (n < 14)
            continue;
        et = (uint16_t)(p[12] << 8 | p[13]);
        while (et == 0x8100 && n >= off + 4) {
            et = (uint16_t)(p[off + 2] << 8 | p[off + 3]);
            off += 4;
        }
        if (et != 0x0800 || n < off + 20 || (p[off] >> 4) != 4 || p[off + 9] != 17)
            continue;
        ihl = (size_t)(p[off] & 15) * 4;
        iplen = (size_t)(p[off + 2] << 8 | p[off + 3]);
        if (iplen > n - off)
            iplen = n - off;
        if (iplen < ihl + 8)
            continue;
        sport = (unsigned)(p[off + ihl] << 8 | p[off + ihl + 1]);
        dport = (unsigned)(p[off + ihl + 2] << 8 | p[off + ihl + 3]);
        ulen = (size_t)(p[off + ihl + 4] << 8 | p[off + ihl + 5]);
        if (sport != 53 && dport != 53)
            continue;
        if (ulen < 8 || ulen > iplen - ihl)
            ulen = iplen - ihl;
        {
            size_t plen = ulen - 8;
            uint8_t *copy = malloc(plen + 1); /* exact-size copy for ASan */

            assert_non_null(copy);
            memcpy(copy, p + off + ihl + 8, plen);
            datagram(ctx, copy, plen);
            free(copy);
        }
        (*n_datagrams)++;
    }
    pcap_close(pc);
}

/* Value of field "name" (first occurrence) in rebuilt "fields". */
static void field(const rec_msg *m, const char *name, char *out, size_t size)
{
    char pat[32];
    const char *s, *e;

    snprintf(pat, sizeof(pat), "%s=", name);
    s = strncmp(m->fields, pat, strlen(pat)) == 0 ? m->fields : NULL;
    if (s == NULL) {
        snprintf(pat, sizeof(pat), "|%s=", name);
        s = strstr(m->fields, pat);
        s = s ? s + 1 : NULL;
    }
    out[0] = '\0';
    if (s == NULL)
        return;
    s += strlen(name) + 1;
    e = strchr(s, '|');
    snprintf(out, size, "%.*s", (int)(e ? e - s : (long)strlen(s)), s);
}

/* Compares with tests/data/dns/<name>.tsv row by row; returns the count. */
static size_t compare_with_tshark(const cs_decode_ctx *ctx, const char *name)
{
    char path[256], line[1024];
    FILE *f;
    size_t row = 0;

    snprintf(path, sizeof(path), "tests/data/dns/%s.tsv", name);
    f = fopen(path, "r");
    if (f == NULL)
        fail_msg("missing %s", path);
    while (fgets(line, sizeof(line), f)) {
        char *col[9] = {0}, *s = line, got[300], want_name[300];
        const rec_msg *m;
        size_t c = 0;

        line[strcspn(line, "\n")] = '\0';
        while (c < 9) {
            col[c++] = s;
            s = strchr(s, '\t');
            if (s == NULL)
                break;
            *s++ = '\0';
        }
        assert_int_equal(c, 9);
        if (row >= ctx->n)
            fail_msg("%s: tshark has more messages than the %zu decoded", name, ctx->n);
        m = &ctx->msgs[row++];
        field(m, "id", got, sizeof(got));
        if (strtoul(got, NULL, 10) != strtoul(col[3], NULL, 16))
            fail_msg("%s row %zu: id %s vs tshark %s", name, row, got, col[3]);
        field(m, "qr", got, sizeof(got));
        assert_string_equal(got, col[4]);
        assert_string_equal(m->type, strcmp(col[4], "1") == 0 ? "response" : "query");
        if (col[5][0]) { /* tshark shows rcode on responses only */
            field(m, "rcode", got, sizeof(got));
            assert_string_equal(got, col[5]);
        }
        snprintf(want_name, sizeof(want_name), "%.*s", (int)strcspn(col[6], ","), col[6]);
        if (strcmp(want_name, "<Root>") == 0)
            want_name[0] = '\0';
        field(m, "qname", got, sizeof(got));
        if (strcmp(got, want_name) != 0)
            fail_msg("%s row %zu: qname '%s' vs tshark '%s'", name, row, got, want_name);
        field(m, "answers", got, sizeof(got));
        assert_string_equal(got, col[7]);
        /* Malformed for us = malformed for Wireshark, or a name Wireshark
         * marks "<Name too long>" (over 255 bytes: RFC 1035 2.3.4), which it
         * reports as an expert note, not as a malformed packet. */
        if (((m->flags & CS_MSG_MALFORMED) != 0) !=
            (col[8][0] != '\0' || strstr(col[6], "<Name too long>") != NULL))
            fail_msg("%s row %zu: malformed %u vs tshark '%s' (%s)", name, row, (unsigned)m->flags,
                     col[8], m->fields);
        if (got[0] && want_name[0] && !(m->flags & CS_MSG_MALFORMED)) {
            char key[400];

            snprintf(key, sizeof(key), "%lu %s", strtoul(col[3], NULL, 16), want_name);
            assert_string_equal(m->match, key);
        }
    }
    fclose(f);
    if (row != ctx->n)
        fail_msg("%s: decoded %zu messages, tshark %zu", name, ctx->n, row);
    return row;
}

static void test_captures(void **unused)
{
    static const struct {
        const char *rel, *name;
        size_t n;
    } caps[] = {
        {"zeek/dns53.pcap", "dns53", 1},
        {"zeek/dns/long-connection.pcap", "long-connection", 22},
        {"zeek/dns-two-responses.pcap", "dns-two-responses", 3},
        {"tcpdump/dns_udp.pcap", "dns_udp", 2},
        {"tcpdump/edns-opts.pcap", "edns-opts", 42},
        {"tcpdump/dnssec.pcap", "dnssec", 6},
        {"zeek/dns/dns-corrupt.pcap", "dns-corrupt", 2},
        {"zeek/dns/loc-29-trunc.pcap", "loc-29-trunc", 2},
        {"ndpi/malformed_dns.pcap", "malformed_dns", 6},
    };

    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        cs_decode_ctx ctx = CTX_INIT;
        char path[256];
        size_t datagrams = 0;

        snprintf(path, sizeof(path), "tests/pcaps/%s", caps[i].rel);
        walk_udp(&ctx, path, &datagrams);
        assert_int_equal(datagrams, caps[i].n);
        assert_int_equal(compare_with_tshark(&ctx, caps[i].name), caps[i].n);
        ctx_reset(&ctx);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_response_records),
        cmocka_unit_test(test_root_and_no_question),
        cmocka_unit_test(test_two_questions),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_tcp_framing),
        cmocka_unit_test(test_tcp_gap_resync),
        cmocka_unit_test(test_tcp_midstream),
        cmocka_unit_test(test_tcp_lone_prefix),
        cmocka_unit_test(test_tcp_axfr),
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_captures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_moldudp64.c - unit tests of the MoldUDP64 decoder
 * (src/decode/moldudp64/moldudp64.c), alone and through the dissector and
 * the analyzer.
 *
 * Packets are built by hand from the MoldUDP64 1.00 layout (session 10,
 * sequence 8, count 2, then length-prefixed blocks) carrying ITCH 5.0
 * messages. The tests check the packet message (type, session, seq, count,
 * retransmission), the ITCH message of each block (proto "itch", its byte
 * range, session and seq first), the sequence gaps reported (data,
 * heartbeat, end of session; none for retransmissions below the expected
 * number), bad input (count beyond the datagram, block beyond the packet,
 * zero-length block, trailing bytes, unknown ITCH type: flagged, the rest
 * skipped), the probe (MoldUDP64 yes; DNS, syslog text, random bytes and
 * other UDP no), and that an Ethernet frame with trailing bytes after the
 * IP datagram hands the decoder only the UDP payload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "analytics/analyzer.h"
#include "decode/itch/itch.h"
#include "decode/moldudp64/moldudp64.h"
#include "packet/dissect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a recording context -------------------------------------------------------- */

typedef struct mmsg {
    char type[24], proto[16], fields[512];
    uint32_t flags;
    size_t start, len;
} mmsg;

typedef struct mgap {
    char stream[16];
    uint64_t first, count;
} mgap;

struct cs_decode_ctx {
    const cs_decode_ops *ops;
    mmsg msgs[32];
    size_t n;
    mgap gaps[8];
    size_t n_gaps;
    size_t in_len;
};

static void fields_text(char *dst, size_t cap, const cs_kv *f, size_t n)
{
    size_t off = 0;

    dst[0] = '\0';
    for (size_t i = 0; i < n && off < cap; i++) {
        int w = snprintf(dst + off, cap - off, "%.*s=%.*s|", (int)f[i].name.len, f[i].name.p,
                         (int)f[i].val.len, f[i].val.p);
        off += w > 0 ? (size_t)w : 0;
    }
}

static void rec_emit(cs_decode_ctx *ctx, const cs_msg_out *m)
{
    mmsg *r;

    assert_true(ctx->n < 32);
    assert_true(m->start + m->len <= ctx->in_len);
    r = &ctx->msgs[ctx->n++];
    snprintf(r->type, sizeof(r->type), "%.*s", (int)m->type.len, m->type.p);
    snprintf(r->proto, sizeof(r->proto), "%s", m->proto ? m->proto : "moldudp64");
    fields_text(r->fields, sizeof(r->fields), m->fields, m->n_fields);
    r->flags = m->flags;
    r->start = m->start;
    r->len = m->len;
}

static void rec_gap(cs_decode_ctx *ctx, const cs_seq_gap *g)
{
    mgap *r;

    assert_true(ctx->n_gaps < 8);
    r = &ctx->gaps[ctx->n_gaps++];
    snprintf(r->stream, sizeof(r->stream), "%.*s", (int)g->stream.len, g->stream.p);
    r->first = g->first;
    r->count = g->count;
}

static const cs_decode_ops rec_ops = {.emit = rec_emit, .seq_gap = rec_gap};

/* ---- building packets ------------------------------------------------------------ */

static void put_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* The header of a packet of "session" at out; returns 20. */
static size_t mold_header(uint8_t *out, const char *session, uint64_t seq, uint16_t count)
{
    memset(out, ' ', 10);
    memcpy(out, session, strlen(session));
    put_be(out + 10, seq, 8);
    put_be(out + 18, count, 2);
    return 20;
}

/* Appends a block holding an ITCH System Event (12 bytes, code "c"). */
static size_t block_system(uint8_t *out, size_t at, char c)
{
    put_be(out + at, 12, 2);
    memset(out + at + 2, 0, 12);
    out[at + 2] = 'S';
    put_be(out + at + 3, 1, 2);
    out[at + 13] = (uint8_t)c;
    return at + 14;
}

/* Appends a block holding an ITCH Add Order of "stock" with reference "ref". */
static size_t block_add(uint8_t *out, size_t at, uint64_t ref, const char *stock)
{
    uint8_t *m = out + at + 2;

    put_be(out + at, 36, 2);
    memset(m, 0, 36);
    m[0] = 'A';
    put_be(m + 1, 5, 2);
    put_be(m + 11, ref, 8);
    m[19] = 'B';
    put_be(m + 20, 10, 4);
    memset(m + 24, ' ', 8);
    memcpy(m + 24, stock, strlen(stock));
    put_be(m + 32, 10000, 4);
    return at + 38;
}

static size_t block_delete(uint8_t *out, size_t at, uint64_t ref)
{
    uint8_t *m = out + at + 2;

    put_be(out + at, 19, 2);
    memset(m, 0, 19);
    m[0] = 'D';
    put_be(m + 1, 5, 2);
    put_be(m + 11, ref, 8);
    return at + 21;
}

typedef struct fixture {
    void *st;
    cs_decode_ctx ctx;
} fixture;

static int setup(void **state)
{
    static const cs_endpoints flow;
    static const cs_decoder_opts opts;
    fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    f->st = cs_decoder_moldudp64.state_new(&flow, &opts);
    f->ctx.ops = &rec_ops;
    *state = f;
    return f->st == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    cs_decoder_moldudp64.state_free(f->st);
    free(f);
    return 0;
}

/* Parses one datagram of direction "dir"; the context is emptied first. */
static void feed(fixture *f, uint8_t dir, const uint8_t *p, size_t n)
{
    cs_decode_input in = {.dir = dir, .flags = CS_IN_DATAGRAM, .data = p, .len = n};

    f->ctx.n = 0;
    f->ctx.n_gaps = 0;
    f->ctx.in_len = n;
    assert_int_equal(cs_decoder_moldudp64.parse(f->st, &f->ctx, &in), n);
}

/* ---- packets and blocks ------------------------------------------------------------ */

static void test_data_packet(void **state)
{
    fixture *f = *state;
    uint8_t p[256];
    size_t n = mold_header(p, "SESS01", 100, 3);

    n = block_system(p, n, 'O');
    n = block_add(p, n, 77, "AAPL");
    n = block_delete(p, n, 77);
    feed(f, 0, p, n);
    assert_int_equal(f->ctx.n, 4);
    assert_int_equal(f->ctx.n_gaps, 0);
    assert_string_equal(f->ctx.msgs[0].proto, "moldudp64");
    assert_string_equal(f->ctx.msgs[0].type, "data");
    assert_string_equal(f->ctx.msgs[0].fields, "session=SESS01|seq=100|count=3|");
    assert_int_equal(f->ctx.msgs[0].flags, 0);
    assert_int_equal(f->ctx.msgs[0].start, 0);
    assert_int_equal(f->ctx.msgs[0].len, n);

    assert_string_equal(f->ctx.msgs[1].proto, "itch");
    assert_string_equal(f->ctx.msgs[1].type, "S");
    assert_int_equal(f->ctx.msgs[1].start, 20);
    assert_int_equal(f->ctx.msgs[1].len, 14);
    assert_string_equal(f->ctx.msgs[1].fields, "session=SESS01|seq=100|stock_locate=1|"
                                               "tracking_number=0|timestamp=0|event_code=O|");
    assert_string_equal(f->ctx.msgs[2].type, "A");
    assert_int_equal(f->ctx.msgs[2].start, 34);
    assert_int_equal(f->ctx.msgs[2].len, 38);
    assert_non_null(strstr(f->ctx.msgs[2].fields, "session=SESS01|seq=101|stock_locate=5|"));
    assert_string_equal(f->ctx.msgs[3].type, "D");
    assert_non_null(strstr(f->ctx.msgs[3].fields, "seq=102|"));
    assert_non_null(strstr(f->ctx.msgs[3].fields, "order_reference_number=77|stock=AAPL|"));
}

/* Each block's seq is the packet's first number plus its index, also
 * across a carry into one more digit (998, 999, 1000, 1001). */
static void test_block_numbers_carry(void **state)
{
    fixture *f = *state;
    uint8_t p[256];
    size_t n = mold_header(p, "SESS02", 998, 4);
    static const char *const want[] = {"seq=998|", "seq=999|", "seq=1000|", "seq=1001|"};

    for (int i = 0; i < 4; i++)
        n = block_system(p, n, 'O');
    feed(f, 0, p, n);
    assert_int_equal(f->ctx.n, 5);
    for (int i = 0; i < 4; i++)
        assert_non_null(strstr(f->ctx.msgs[i + 1].fields, want[i]));
    assert_non_null(strstr(f->ctx.msgs[0].fields, "seq=998|count=4|"));
}

static void test_gaps_and_retransmission(void **state)
{
    fixture *f = *state;
    uint8_t p[256];
    size_t n;

    n = block_system(p, mold_header(p, "S1", 1, 2), 'O');
    n = block_system(p, n, 'S');
    feed(f, 0, p, n); /* 1, 2: next 3 */
    assert_int_equal(f->ctx.n_gaps, 0);

    n = block_system(p, mold_header(p, "S1", 6, 1), 'Q'); /* 3..5 lost */
    feed(f, 0, p, n);
    assert_int_equal(f->ctx.n_gaps, 1);
    assert_string_equal(f->ctx.gaps[0].stream, "S1");
    assert_int_equal(f->ctx.gaps[0].first, 3);
    assert_int_equal(f->ctx.gaps[0].count, 3);

    n = mold_header(p, "S1", 9, 0); /* heartbeat: 7, 8 lost */
    feed(f, 0, p, n);
    assert_string_equal(f->ctx.msgs[0].type, "heartbeat");
    assert_string_equal(f->ctx.msgs[0].fields, "session=S1|seq=9|count=0|");
    assert_int_equal(f->ctx.n_gaps, 1);
    assert_int_equal(f->ctx.gaps[0].first, 7);
    assert_int_equal(f->ctx.gaps[0].count, 2);

    n = mold_header(p, "S1", 9, 0); /* the same heartbeat again: no gap */
    feed(f, 0, p, n);
    assert_int_equal(f->ctx.n_gaps, 0);

    /* a retransmission of 4..5 below the expected 9: flagged, no gap */
    n = block_system(p, mold_header(p, "S1", 4, 2), 'x');
    n = block_system(p, n, 'y');
    feed(f, 0, p, n);
    assert_int_equal(f->ctx.n_gaps, 0);
    assert_string_equal(f->ctx.msgs[0].fields, "session=S1|seq=4|count=2|retransmission=1|");
    assert_int_equal(f->ctx.n, 3);

    /* still 9 expected: the data at 9 is no gap */
    n = block_system(p, mold_header(p, "S1", 9, 1), 'z');
    feed(f, 0, p, n);
    assert_int_equal(f->ctx.n_gaps, 0);
    assert_string_equal(f->ctx.msgs[0].fields, "session=S1|seq=9|count=1|");

    /* a late heartbeat is no retransmission and changes nothing */
    n = mold_header(p, "S1", 3, 0);
    feed(f, 0, p, n);
    assert_string_equal(f->ctx.msgs[0].fields, "session=S1|seq=3|count=0|");
    assert_int_equal(f->ctx.n_gaps, 0);

    n = mold_header(p, "S1", 12, 0xFFFF); /* end of session, 10 and 11 lost */
    feed(f, 0, p, n);
    assert_string_equal(f->ctx.msgs[0].type, "end_of_session");
    assert_int_equal(f->ctx.n_gaps, 1);
    assert_int_equal(f->ctx.gaps[0].first, 10);
    assert_int_equal(f->ctx.gaps[0].count, 2);

    /* a retransmission 11..13 reaching past the expected 12: next is 14 */
    n = block_system(p, mold_header(p, "S1", 11, 3), 'a');
    n = block_system(p, n, 'b');
    n = block_system(p, n, 'c');
    feed(f, 0, p, n);
    assert_int_equal(f->ctx.n_gaps, 0);
    assert_non_null(strstr(f->ctx.msgs[0].fields, "retransmission=1|"));
    n = block_system(p, mold_header(p, "S1", 14, 1), 'd');
    feed(f, 0, p, n);
    assert_int_equal(f->ctx.n_gaps, 0);

    /* the other direction and a new session start afresh */
    n = block_system(p, mold_header(p, "S1", 500, 1), 'O');
    feed(f, 1, p, n);
    assert_int_equal(f->ctx.n_gaps, 0);
    n = block_system(p, mold_header(p, "S2", 1000, 1), 'O');
    feed(f, 0, p, n);
    assert_int_equal(f->ctx.n_gaps, 0);
    n = block_system(p, mold_header(p, "S2", 1002, 1), 'O');
    feed(f, 0, p, n);
    assert_int_equal(f->ctx.n_gaps, 1);
    assert_string_equal(f->ctx.gaps[0].stream, "S2");
    assert_int_equal(f->ctx.gaps[0].first, 1001);
}

static void test_request(void **state)
{
    fixture *f = *state;
    uint8_t p[32];
    size_t n = mold_header(p, "S1", 40, 5);

    feed(f, 0, p, n);
    assert_int_equal(f->ctx.n, 1);
    assert_string_equal(f->ctx.msgs[0].type, "request");
    assert_string_equal(f->ctx.msgs[0].fields, "session=S1|seq=40|count=5|");
    assert_int_equal(f->ctx.msgs[0].flags, 0);
    assert_int_equal(f->ctx.n_gaps, 0);
}

/* ---- bad input --------------------------------------------------------------------- */

static void test_count_beyond_datagram(void **state)
{
    fixture *f = *state;
    uint8_t p[256];
    size_t n = block_system(p, mold_header(p, "S1", 1, 3), 'O');

    n = block_system(p, n, 'S');
    feed(f, 0, p, n);
    assert_int_equal(f->ctx.msgs[0].flags, CS_MSG_BAD_LENGTH);
    assert_int_equal(f->ctx.n, 3); /* the two blocks there */
    /* the next expected is 3: the block never seen is a gap later */
    n = block_system(p, mold_header(p, "S1", 4, 1), 'O');
    feed(f, 0, p, n);
    assert_int_equal(f->ctx.n_gaps, 1);
    assert_int_equal(f->ctx.gaps[0].first, 3);
    assert_int_equal(f->ctx.gaps[0].count, 1);
}

static void test_block_beyond_packet(void **state)
{
    fixture *f = *state;
    uint8_t p[256];
    size_t n = block_system(p, mold_header(p, "S1", 1, 2), 'O');

    n = block_add(p, n, 1, "X");
    feed(f, 0, p, n - 5); /* the Add Order is cut */
    assert_int_equal(f->ctx.msgs[0].flags, CS_MSG_BAD_LENGTH);
    assert_int_equal(f->ctx.n, 2);
    assert_string_equal(f->ctx.msgs[1].type, "S");
    feed(f, 0, p, 21); /* a length byte cut in half */
    assert_int_equal(f->ctx.msgs[0].flags, CS_MSG_BAD_LENGTH);
    assert_int_equal(f->ctx.n, 1);
}

static void test_zero_length_block(void **state)
{
    fixture *f = *state;
    uint8_t p[256];
    size_t n = block_system(p, mold_header(p, "S1", 1, 3), 'O');

    put_be(p + n, 0, 2);
    n = block_system(p, n + 2, 'S');
    feed(f, 0, p, n);
    assert_int_equal(f->ctx.msgs[0].flags, CS_MSG_MALFORMED);
    assert_int_equal(f->ctx.n, 2); /* the first block only; the rest skipped */
}

static void test_trailing_bytes_and_short(void **state)
{
    fixture *f = *state;
    uint8_t p[256];
    size_t n = block_system(p, mold_header(p, "S1", 1, 1), 'O');

    p[n] = 0xAB;
    feed(f, 0, p, n + 1);
    assert_int_equal(f->ctx.msgs[0].flags, CS_MSG_BAD_LENGTH);
    assert_int_equal(f->ctx.n, 2);
    mold_header(p, "S1", 2, 0);
    p[20] = 1;
    feed(f, 0, p, 21); /* a heartbeat with a byte after it */
    assert_int_equal(f->ctx.msgs[0].flags, CS_MSG_BAD_LENGTH);
    feed(f, 0, p, 19); /* shorter than a header: skipped */
    assert_int_equal(f->ctx.n, 0);
    feed(f, 0, p, 0);
    assert_int_equal(f->ctx.n, 0);
}

static void test_unknown_itch_type(void **state)
{
    fixture *f = *state;
    uint8_t p[256];
    size_t n = block_system(p, mold_header(p, "S1", 1, 2), 'O');

    p[22] = '~'; /* the first block's type */
    n = block_system(p, n, 'S');
    feed(f, 0, p, n);
    assert_int_equal(f->ctx.msgs[0].flags, 0);
    assert_int_equal(f->ctx.n, 3);
    assert_string_equal(f->ctx.msgs[1].type, "unknown");
    assert_int_equal(f->ctx.msgs[1].flags, CS_MSG_MALFORMED);
    assert_string_equal(f->ctx.msgs[2].type, "S");
    assert_int_equal(f->ctx.msgs[2].flags, 0);
}

/* ---- the probe ------------------------------------------------------------------------ */

static void test_probe(void **state)
{
    uint8_t p[256];
    size_t n;
    /* a DNS query for example.com */
    static const uint8_t dns[] = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
                                  0x00, 0x00, 7,    'e',  'x',  'a',  'm',  'p',  'l',  'e',
                                  3,    'c',  'o',  'm',  0,    0,    1,    0,    1};
    static const char syslog[] = "<34>Oct 11 22:14:15 mymachine su: 'su root' failed";

    (void)state;
    n = block_system(p, mold_header(p, "SESSION1", 1, 1), 'O');
    n = block_system(p, n, 'O');
    assert_int_equal(cs_decoder_moldudp64.probe(p, n, 0), CS_PROBE_NO); /* count 1, 2 blocks */
    put_be(p + 18, 2, 2);
    assert_int_equal(cs_decoder_moldudp64.probe(p, n, 0), CS_PROBE_YES);
    assert_int_equal(cs_decoder_moldudp64.probe(p, n - 1, 0), CS_PROBE_NO);
    assert_int_equal(cs_decoder_moldudp64.probe(p, 20, 0), CS_PROBE_NO); /* a request */
    put_be(p + 18, 0, 2);
    assert_int_equal(cs_decoder_moldudp64.probe(p, 20, 0), CS_PROBE_YES);
    assert_int_equal(cs_decoder_moldudp64.probe(p, 21, 0), CS_PROBE_NO);
    put_be(p + 18, 0xFFFF, 2);
    assert_int_equal(cs_decoder_moldudp64.probe(p, 20, 1), CS_PROBE_YES);
    p[3] = 0x01; /* a session that is not text */
    assert_int_equal(cs_decoder_moldudp64.probe(p, 20, 1), CS_PROBE_NO);

    assert_int_equal(cs_decoder_moldudp64.probe(dns, sizeof(dns), 0), CS_PROBE_NO);
    assert_int_equal(cs_decoder_moldudp64.probe((const uint8_t *)syslog, sizeof(syslog) - 1, 0),
                     CS_PROBE_NO);
    /* random bytes (an RTP-like stream): a fixed LCG, never claimed */
    {
        uint32_t x = 12345;
        int yes = 0;

        for (int k = 0; k < 2000; k++) {
            size_t len = 20 + (size_t)(k % 200);

            for (size_t i = 0; i < len; i++) {
                x = x * 1103515245u + 12345u;
                p[i] = (uint8_t)(x >> 16);
            }
            p[0] = 0x80; /* RTP version 2 */
            yes += cs_decoder_moldudp64.probe(p, len, 0) == CS_PROBE_YES;
        }
        assert_int_equal(yes, 0);
    }
    /* bulk UDP as tools/gentraffic.py sends it: repeated filler bytes */
    memset(p, 'x', 200);
    assert_int_equal(cs_decoder_moldudp64.probe(p, 200, 0), CS_PROBE_NO);
    memset(p, 0, 200);
    assert_int_equal(cs_decoder_moldudp64.probe(p, 200, 0), CS_PROBE_NO);
}

/* ---- through the dissector and the analyzer ------------------------------------------ */

typedef struct arec {
    int n_mold, n_itch, n_bad;
    uint64_t gaps;
} arec;

static void a_message(void *ud, const cs_message *m)
{
    arec *r = ud;

    if (strcmp(m->proto, "moldudp64") == 0)
        r->n_mold++;
    else if (strcmp(m->proto, "itch") == 0)
        r->n_itch++;
    if (m->flags & (CS_MSG_BAD_LENGTH | CS_MSG_MALFORMED))
        r->n_bad++;
}

static void a_gap(void *ud, const cs_seq_gap_event *g)
{
    arec *r = ud;

    assert_string_equal(g->proto, "moldudp64");
    r->gaps += g->gap.count;
}

/* An Ethernet / IPv4 / UDP frame around payload pl[0..n) with "trailer"
 * bytes after the IP datagram; returns the frame's size. */
static size_t eth_udp(uint8_t *fr, const uint8_t *pl, size_t n, size_t trailer)
{
    size_t ip_len = 20 + 8 + n;

    memset(fr, 0, 14 + ip_len + trailer);
    fr[12] = 0x08;
    fr[14] = 0x45;
    put_be(fr + 16, ip_len, 2);
    fr[22] = 64;
    fr[23] = 17;
    fr[26] = 10, fr[29] = 1;
    fr[30] = 233, fr[33] = 7;
    put_be(fr + 34, 40000, 2);
    put_be(fr + 36, 26477, 2);
    put_be(fr + 38, 8 + n, 2);
    memcpy(fr + 42, pl, n);
    memset(fr + 14 + ip_len, 0xEE, trailer);
    return 14 + ip_len + trailer;
}

static void test_frame_trailer_not_payload(void **state)
{
    static const cs_decoder *const mold_only[] = {&cs_decoder_moldudp64, NULL};
    static cs_decoder_optset set;
    uint8_t pl[128], fr[256];
    arec r = {0, 0, 0, 0};
    cs_analyzer_cfg cfg;
    cs_analyzer *a;
    cs_sink sink = {&r, a_message, NULL, NULL, a_gap, NULL};
    size_t n, fn;

    (void)state;
    memset(&set, 0, sizeof(set));
    assert_int_equal(cs_decoder_optset_add(&set, "moldudp64.ports=26477"), 0);
    cs_analyzer_cfg_default(&cfg);
    cfg.decoders = mold_only;
    cfg.decoder_opts = &set;
    assert_int_equal(cs_analyzer_new(&cfg, &sink, &a), 0);
    for (uint64_t seq = 1; seq <= 5; seq += (seq == 2 ? 2 : 1)) { /* 3 lost */
        cs_packet p;
        cs_layers l;

        n = block_system(pl, mold_header(pl, "ETH1", seq, 1), 'O');
        fn = eth_udp(fr, pl, n, 6);
        memset(&p, 0, sizeof(p));
        p.ts_ns = (int64_t)seq * 1000;
        p.caplen = p.wirelen = (uint32_t)fn;
        p.linktype = 1;
        p.data = fr;
        assert_int_equal(cs_dissect(&p, &l), 0);
        assert_int_equal(l.payload_len, n);
        cs_analyzer_packet(a, &p, &l, CS_PKTREF(1, 64 * seq));
    }
    cs_analyzer_finish(a);
    cs_analyzer_free(a);
    assert_int_equal(r.n_mold, 4);
    assert_int_equal(r.n_itch, 4);
    assert_int_equal(r.n_bad, 0); /* the 6 trailing bytes were not handed over */
    assert_int_equal(r.gaps, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_data_packet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_numbers_carry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gaps_and_retransmission, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_count_beyond_datagram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_beyond_packet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_length_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailing_bytes_and_short, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_itch_type, setup, teardown),
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_frame_trailer_not_payload),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

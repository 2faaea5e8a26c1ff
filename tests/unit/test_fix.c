/*
 * test_fix.c - unit tests of the FIX decoder (src/decode/fix/fix.c), alone.
 *
 * The test drives the decoder with a recording context (decoder_recorder.h)
 * that copies every emitted message, so the decoder runs without the flow
 * layer.
 *
 * Synthetic cases build messages with a correct BodyLength and CheckSum and
 * then break them on purpose: every split position, several per slice, bad
 * checksum, bad body length, garbage, gaps, a mid-stream start, EOF.
 *
 * Real captures (tests/pcaps, relative to the repo root): each TCP
 * direction is reassembled by a small in-test walker (Ethernet, 802.1Q,
 * IPv4, TCP; segments ordered by sequence number, retransmitted bytes
 * trimmed) and fed to parse() one captured segment at a time, re-offering
 * unconsumed bytes as the flow layer does. The messages found are compared,
 * per direction and in order, with Wireshark's FIX dissector output kept in
 * tests/data/fix/<capture>.tsv, generated once with
 *
 *   tshark -r F -Y 'fix.BeginString contains "FIX" && !tcp.analysis.retransmission' \
 *       -T fields -e ip.src \
 *       -e tcp.srcport -e ip.dst -e tcp.dstport -e fix.MsgType \
 *       -e fix.ClOrdID -e fix.checksum_bad
 *
 * The filter leaves out ndpi/fix.pcap's proprietary "8=O" binary frames and
 * FIXCOMP headers, which are not tag=value FIX and which the decoder skips
 * as garbage, and the 72 frames of ndpi/fix2.pcap that Wireshark dissects a
 * second time as TCP retransmissions (its "446 messages" are 374 distinct
 * ones; reassembly delivers each byte once).
 */
#include "decode/fix/fix.h"

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

/* One parse() call on "data[0..len)" with "flags"; returns consumed. */
static size_t feed(void *st, cs_decode_ctx *ctx, uint8_t dir, uint32_t flags, const char *data,
                   size_t len, size_t *needed)
{
    cs_decode_input in;
    size_t consumed;

    memset(&in, 0, sizeof(in));
    in.dir = dir;
    in.flags = flags;
    in.data = (const uint8_t *)data;
    in.len = len;
    ctx->in = &in;
    consumed = cs_decoder_fix.parse(st, ctx, &in);
    ctx->in = NULL;
    assert_true(consumed <= len);
    if (needed)
        *needed = in.needed;
    return consumed;
}

/* ---- message builder ------------------------------------------------ */

/*
 * Builds "8=<begin>|9=<len>|<body>|10=<sum>|" into "out" with '|' in "body"
 * standing for SOH; "len_delta" and "sum_delta" falsify the two fields.
 * Returns the length.
 */
static size_t build(char *out, size_t size, const char *begin, const char *body, int len_delta,
                    int sum_delta)
{
    char b[512];
    size_t n, i, blen = strlen(body);
    unsigned sum = 0;

    assert_true(blen + 1 < sizeof(b));
    for (i = 0; i < blen; i++)
        b[i] = body[i] == '|' ? '\x01' : body[i];
    b[blen] = '\x01';
    b[blen + 1] = '\0';
    n = (size_t)snprintf(out, size,
                         "8=%s\x01"
                         "9=%d\x01%s",
                         begin, (int)(blen + 1) + len_delta, b);
    for (i = 0; i < n; i++)
        sum += (uint8_t)out[i];
    n += (size_t)snprintf(out + n, size - n, "10=%03u\x01", (sum + (unsigned)sum_delta) & 0xff);
    assert_true(n < size);
    return n;
}

static const char *order_body = "35=D|34=2|49=CLNT|56=SRVR|11=ORD-1|55=SMBL|54=1|38=100";
static const char *exec_body = "35=8|34=2|49=SRVR|56=CLNT|11=ORD-1|17=E1|39=0|150=0";

/* ---- tests ------------------------------------------------------------ */

static void test_probe(void **unused)
{
    const uint8_t *a = (const uint8_t *)"8=FIX.4.2\x01";
    const uint8_t *t = (const uint8_t *)"8=FIXT.1.1\x01";

    assert_int_equal(cs_decoder_fix.probe(a, 10, 0), CS_PROBE_YES);
    assert_int_equal(cs_decoder_fix.probe(t, 11, 1), CS_PROBE_YES);
    assert_int_equal(cs_decoder_fix.probe(a, 3, 0), CS_PROBE_NEED_MORE);
    assert_int_equal(cs_decoder_fix.probe(a, 0, 0), CS_PROBE_NEED_MORE);
    assert_int_equal(cs_decoder_fix.probe((const uint8_t *)"8=O\x01", 4, 0), CS_PROBE_NO);
    assert_int_equal(cs_decoder_fix.probe((const uint8_t *)"GET / HTTP", 10, 0), CS_PROBE_NO);
    assert_string_equal(cs_decoder_fix.name, "fix");
    assert_true(cs_decoder_fix.transports & CS_TRANSPORT_TCP);
}

static void test_one_order(void **unused)
{
    char m[512], want[600];
    size_t n = build(m, sizeof(m), "FIX.4.4", order_body, 0, 0), i;
    void *st = cs_decoder_fix.state_new(&no_flow, &no_opts);
    cs_decode_ctx ctx = CTX_INIT;

    assert_int_equal(feed(st, &ctx, 0, 0, m, n, NULL), n);
    assert_int_equal(ctx.n, 1);
    assert_string_equal(ctx.msgs[0].type, "D");
    assert_int_equal(ctx.msgs[0].role, CS_ROLE_REQ);
    assert_string_equal(ctx.msgs[0].pair, "fix");
    assert_string_equal(ctx.msgs[0].key, "ORD-1");
    assert_string_equal(ctx.msgs[0].match, "ORD-1");
    assert_int_equal(ctx.msgs[0].flags, CS_MSG_NEW_ORDER); /* D with a Symbol(55) */
    assert_int_equal(ctx.msgs[0].start, 0);
    assert_int_equal(ctx.msgs[0].len, n);
    /* Fields: every tag=value in wire order, 8, 9 and 10 included. */
    for (i = 0; i < n; i++)
        want[i] = m[i] == '\x01' ? '|' : m[i];
    want[n] = '\0';
    assert_string_equal(ctx.msgs[0].fields, want);
    assert_int_equal(ctx.msgs[0].n_fields, 11);
    ctx_reset(&ctx);
    cs_decoder_fix.state_free(st);
}

static void test_roles(void **unused)
{
    static const struct {
        const char *body;
        cs_role role;
        const char *match, *error;
        uint32_t flags;
        const char *closes;
    } cases[] = {
        {"35=F|11=C2|41=ORD-1", CS_ROLE_REQ, "C2", "", 0, ""},
        {"35=G|11=R3|41=ORD-1|38=5", CS_ROLE_REQ, "R3", "", 0, ""},
        {"35=9|11=C2|41=ORD-1|39=8|434=1", CS_ROLE_RESP, "C2", "cancel reject", 0, ""},
        {"35=8|37=O1|17=E1|150=0", CS_ROLE_NONE, "", "", 0, ""}, /* response without 11 */
        {"35=8|11=O2|37=O2|17=E2|150=8|39=8", CS_ROLE_RESP, "O2", "order rejected",
         CS_MSG_LIFECYCLE, ""},
        {"35=8|11=O3|37=O3|17=E3|150=0|39=0", CS_ROLE_RESP, "O3", "",
         CS_MSG_LIFECYCLE | CS_MSG_MORE, ""},
        {"35=8|11=O3|37=O3|17=E4|150=F|39=1", CS_ROLE_RESP, "O3", "",
         CS_MSG_LIFECYCLE | CS_MSG_MORE, ""}, /* partial fill */
        {"35=8|11=O3|37=O3|17=E5|150=F|39=2", CS_ROLE_RESP, "O3", "", CS_MSG_LIFECYCLE,
         ""}, /* filled: the last */
        {"35=8|11=R3|41=O3|37=O3|17=E6|150=5|39=0", CS_ROLE_RESP, "R3", "",
         CS_MSG_LIFECYCLE | CS_MSG_MORE, "O3"}, /* replaced: O3 ends, R3 goes on */
        {"35=8|11=C4|41=R3|37=O3|17=E7|150=4|39=4", CS_ROLE_RESP, "C4", "", CS_MSG_LIFECYCLE,
         "R3"}, /* canceled */
        {"35=3|45=7|373=1", CS_ROLE_NONE, "", "session reject", 0, ""},
        {"35=j|45=7|380=3", CS_ROLE_NONE, "", "business reject", 0, ""},
        {"35=0|34=5", CS_ROLE_NONE, "", "", 0, ""},  /* heartbeat */
        {"35=D|55=X", CS_ROLE_NONE, "", "", 0, ""},  /* request without 11 */
        {"35=AE|11=Z", CS_ROLE_NONE, "", "", 0, ""}, /* not an order flow msg */
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char m[512];
        size_t n = build(m, sizeof(m), "FIXT.1.1", cases[i].body, 0, 0);
        void *st = cs_decoder_fix.state_new(&no_flow, &no_opts);
        cs_decode_ctx ctx = CTX_INIT;

        assert_int_equal(feed(st, &ctx, 1, 0, m, n, NULL), n);
        assert_int_equal(ctx.n, 1);
        assert_int_equal(ctx.msgs[0].role, cases[i].role);
        assert_string_equal(ctx.msgs[0].match, cases[i].match);
        assert_string_equal(ctx.msgs[0].error, cases[i].error);
        assert_int_equal(ctx.msgs[0].flags, cases[i].flags);
        assert_string_equal(ctx.msgs[0].closes, cases[i].closes);
        if (cases[i].role == CS_ROLE_RESP)
            assert_string_equal(ctx.msgs[0].key, "");
        assert_string_equal(ctx.msgs[0].pair, cases[i].role == CS_ROLE_NONE ? "" : "fix");
        ctx_reset(&ctx);
        cs_decoder_fix.state_free(st);
    }
}

/* Two parts at every split: the first consumes nothing, the re-offer of
 * both parts completes the message. */
static void test_split_everywhere(void **unused)
{
    char m[512];
    size_t n = build(m, sizeof(m), "FIX.4.2", exec_body, 0, 0), k;
    size_t header = strchr(strchr(m, '\x01') + 1, '\x01') - m + 1; /* past 9=..| */

    for (k = 0; k < n; k++) {
        void *st = cs_decoder_fix.state_new(&no_flow, &no_opts);
        cs_decode_ctx ctx = CTX_INIT;
        size_t needed = 0;

        assert_int_equal(feed(st, &ctx, 0, 0, m, k, &needed), 0);
        assert_int_equal(ctx.n, 0);
        if (k >= header)
            assert_int_equal(needed, n); /* BodyLength known: exact need */
        else
            assert_true(needed <= n);
        assert_int_equal(feed(st, &ctx, 0, 0, m, n, NULL), n);
        assert_int_equal(ctx.n, 1);
        assert_string_equal(ctx.msgs[0].type, "8");
        assert_int_equal(ctx.msgs[0].role, CS_ROLE_RESP);
        assert_string_equal(ctx.msgs[0].match, "ORD-1");
        assert_int_equal(ctx.msgs[0].flags, CS_MSG_LIFECYCLE | CS_MSG_MORE); /* 39=0 New */
        ctx_reset(&ctx);
        cs_decoder_fix.state_free(st);
    }
}

static void test_several_in_one_slice(void **unused)
{
    char buf[2048];
    size_t n = 0, ends[3];
    void *st = cs_decoder_fix.state_new(&no_flow, &no_opts);
    cs_decode_ctx ctx = CTX_INIT;

    n += build(buf + n, sizeof(buf) - n, "FIX.4.4", order_body, 0, 0);
    ends[0] = n;
    n += build(buf + n, sizeof(buf) - n, "FIX.4.4", exec_body, 0, 0);
    ends[1] = n;
    n += build(buf + n, sizeof(buf) - n, "FIX.4.4", "35=0|34=3", 0, 0);
    ends[2] = n;
    /* A partial fourth message stays unconsumed. */
    memcpy(buf + n,
           "8=FIX.4.4\x01"
           "9=12",
           14);
    assert_int_equal(feed(st, &ctx, 0, 0, buf, n + 14, NULL), n);
    assert_int_equal(ctx.n, 3);
    assert_int_equal(ctx.msgs[0].start, 0);
    assert_int_equal(ctx.msgs[1].start, ends[0]);
    assert_int_equal(ctx.msgs[1].len, ends[1] - ends[0]);
    assert_int_equal(ctx.msgs[2].start, ends[1]);
    assert_int_equal(ctx.msgs[2].len, ends[2] - ends[1]);
    assert_string_equal(ctx.msgs[0].type, "D");
    assert_string_equal(ctx.msgs[1].type, "8");
    assert_string_equal(ctx.msgs[2].type, "0");
    ctx_reset(&ctx);
    cs_decoder_fix.state_free(st);
}

static void test_bad_checksum(void **unused)
{
    char m[512];
    size_t n = build(m, sizeof(m), "FIX.4.2", order_body, 0, 7);
    void *st = cs_decoder_fix.state_new(&no_flow, &no_opts);
    cs_decode_ctx ctx = CTX_INIT;

    assert_int_equal(feed(st, &ctx, 0, 0, m, n, NULL), n);
    assert_int_equal(ctx.n, 1);
    assert_int_equal(ctx.msgs[0].flags, CS_MSG_BAD_CHECKSUM | CS_MSG_NEW_ORDER);
    assert_string_equal(ctx.msgs[0].key, "ORD-1");
    ctx_reset(&ctx);
    cs_decoder_fix.state_free(st);
}

/* BodyLength too small and too large: the trailer scan frames the message
 * (BAD_LENGTH) and the next message is still found exactly. */
static void test_bad_body_length(void **unused)
{
    static const int deltas[] = {-5, -1, 1, 9, 400};
    size_t i;

    for (i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
        char buf[2048];
        size_t n1 = build(buf, sizeof(buf), "FIX.4.4", order_body, deltas[i], 0);
        size_t n2 = build(buf + n1, sizeof(buf) - n1, "FIX.4.4", exec_body, 0, 0);
        void *st = cs_decoder_fix.state_new(&no_flow, &no_opts);
        cs_decode_ctx ctx = CTX_INIT;

        assert_int_equal(feed(st, &ctx, 0, 0, buf, n1 + n2, NULL), n1 + n2);
        assert_int_equal(ctx.n, 2);
        assert_int_equal(ctx.msgs[0].flags, CS_MSG_BAD_LENGTH | CS_MSG_NEW_ORDER);
        assert_int_equal(ctx.msgs[0].len, n1);
        assert_string_equal(ctx.msgs[0].key, "ORD-1");
        assert_int_equal(ctx.msgs[1].flags, CS_MSG_LIFECYCLE | CS_MSG_MORE);
        assert_int_equal(ctx.msgs[1].start, n1);
        ctx_reset(&ctx);
        cs_decoder_fix.state_free(st);
    }
}

/* A BodyLength pointing past the data waits; at EOF the trailer scan wins. */
static void test_long_body_length_at_eof(void **unused)
{
    char m[512];
    size_t n = build(m, sizeof(m), "FIX.4.4", order_body, 50, 0), needed = 0;
    void *st = cs_decoder_fix.state_new(&no_flow, &no_opts);
    cs_decode_ctx ctx = CTX_INIT;

    assert_int_equal(feed(st, &ctx, 0, 0, m, n, &needed), 0);
    assert_int_equal(needed, n + 50);
    assert_int_equal(feed(st, &ctx, 0, CS_IN_EOF, m, n, NULL), n);
    assert_int_equal(ctx.n, 1);
    assert_int_equal(ctx.msgs[0].flags, CS_MSG_BAD_LENGTH | CS_MSG_NEW_ORDER);
    ctx_reset(&ctx);
    cs_decoder_fix.state_free(st);
}

static void test_garbage_then_message(void **unused)
{
    char buf[2048];
    const char *junk = "\r\n\x01garbage 8=FI 10=123\x01 8=O\x01";
    size_t g = strlen(junk), n;
    void *st = cs_decoder_fix.state_new(&no_flow, &no_opts);
    cs_decode_ctx ctx = CTX_INIT;

    memcpy(buf, junk, g);
    n = g + build(buf + g, sizeof(buf) - g, "FIX.4.3", order_body, 0, 0);
    /* Garbage alone is consumed without an emit, except a possible "8=F" tail. */
    assert_int_equal(feed(st, &ctx, 0, 0, buf, g + 3, NULL), g);
    assert_int_equal(ctx.n, 0);
    assert_int_equal(feed(st, &ctx, 0, 0, buf, n, NULL), n);
    assert_int_equal(ctx.n, 1);
    assert_int_equal(ctx.msgs[0].start, g);
    assert_int_equal(ctx.msgs[0].flags, CS_MSG_NEW_ORDER);
    assert_string_equal(ctx.msgs[0].type, "D");
    ctx_reset(&ctx);
    cs_decoder_fix.state_free(st);
}

/*
 * Gap inside message A, then the tail of B and a good message C. Whether
 * the flow layer drops A's unconsumed head or re-offers it glued to the
 * bytes after the gap, only C comes out, exactly framed.
 */
static void test_gap_mid_message(void **unused)
{
    char a[512], b[512], c[512], glued[2048];
    size_t na = build(a, sizeof(a), "FIX.4.4", order_body, 0, 0);
    size_t nb = build(b, sizeof(b), "FIX.4.4", exec_body, 0, 0);
    size_t nc = build(c, sizeof(c), "FIX.4.4", "35=F|11=C9|41=ORD-1", 0, 0);
    size_t half = na / 2, tail = nb - nb / 3, n;
    int keep_head;

    for (keep_head = 0; keep_head <= 1; keep_head++) {
        void *st = cs_decoder_fix.state_new(&no_flow, &no_opts);
        cs_decode_ctx ctx = CTX_INIT;

        assert_int_equal(feed(st, &ctx, 0, 0, a, half, NULL), 0);
        cs_decoder_fix.gap(st, 0);
        n = 0;
        if (keep_head) {
            memcpy(glued, a, half);
            n = half;
        }
        memcpy(glued + n, b + nb - tail, tail);
        n += tail;
        memcpy(glued + n, c, nc);
        n += nc;
        assert_int_equal(feed(st, &ctx, 0, 0, glued, n, NULL), n);
        assert_int_equal(ctx.n, 1);
        assert_string_equal(ctx.msgs[0].type, "F");
        assert_string_equal(ctx.msgs[0].key, "C9");
        assert_int_equal(ctx.msgs[0].start, n - nc);
        assert_int_equal(ctx.msgs[0].flags, 0);
        ctx_reset(&ctx);
        cs_decoder_fix.state_free(st);
    }
}

/* A connection picked up mid-stream starts inside a message. */
static void test_midstream(void **unused)
{
    char buf[2048];
    size_t n1 = build(buf, sizeof(buf), "FIX.4.2", order_body, 0, 0);
    size_t n2 = build(buf + n1, sizeof(buf) - n1, "FIX.4.2", exec_body, 0, 0);
    size_t cut = 20;
    void *st = cs_decoder_fix.state_new(&no_flow, &no_opts);
    cs_decode_ctx ctx = CTX_INIT;

    assert_int_equal(feed(st, &ctx, 1, CS_IN_MIDSTREAM, buf + cut, n1 + n2 - cut, NULL),
                     n1 + n2 - cut);
    assert_int_equal(ctx.n, 1);
    assert_int_equal(ctx.msgs[0].start, n1 - cut);
    assert_string_equal(ctx.msgs[0].type, "8");
    ctx_reset(&ctx);
    cs_decoder_fix.state_free(st);
}

/* CS_IN_MIDSTREAM stays set on every call of a connection picked up
 * mid-stream: only the first call resynchronises; later messages with a
 * wrong BodyLength are still framed by the trailer scan. */
static void test_midstream_flag_persists(void **unused)
{
    char buf[2048];
    size_t n1 = build(buf, sizeof(buf), "FIX.4.2", order_body, 0, 0);
    size_t n2 = build(buf + n1, sizeof(buf) - n1, "FIX.4.2", exec_body, 3, 0);
    size_t n3 = build(buf + n1 + n2, sizeof(buf) - n1 - n2, "FIX.4.2", exec_body, 0, 0);
    void *st = cs_decoder_fix.state_new(&no_flow, &no_opts);
    cs_decode_ctx ctx = CTX_INIT;

    assert_int_equal(feed(st, &ctx, 0, CS_IN_MIDSTREAM, buf + 3, n1 - 3, NULL), n1 - 3);
    assert_int_equal(ctx.n, 0);
    assert_int_equal(feed(st, &ctx, 0, CS_IN_MIDSTREAM, buf + n1, n2 + n3, NULL), n2 + n3);
    assert_int_equal(ctx.n, 2);
    assert_int_equal(ctx.msgs[0].flags, CS_MSG_BAD_LENGTH | CS_MSG_LIFECYCLE | CS_MSG_MORE);
    assert_int_equal(ctx.msgs[0].len, n2);
    assert_int_equal(ctx.msgs[1].flags, CS_MSG_LIFECYCLE | CS_MSG_MORE);
    ctx_reset(&ctx);
    cs_decoder_fix.state_free(st);
}

/* Truncated at EOF: emitted with CS_MSG_TRUNCATED and its complete fields;
 * a leftover shorter than BeginString + BodyLength is dropped. */
static void test_truncated_at_eof(void **unused)
{
    char m[512];
    size_t n = build(m, sizeof(m), "FIX.4.4", order_body, 0, 0);
    const char *cut11 = strstr(m, "11=ORD-1") + 6; /* inside ClOrdID's value */
    void *st = cs_decoder_fix.state_new(&no_flow, &no_opts);
    cs_decode_ctx ctx = CTX_INIT;
    size_t k = (size_t)(cut11 - m);

    assert_int_equal(feed(st, &ctx, 0, CS_IN_EOF, m, k, NULL), k);
    assert_int_equal(ctx.n, 1);
    assert_int_equal(ctx.msgs[0].flags, CS_MSG_TRUNCATED);
    assert_int_equal(ctx.msgs[0].len, k);
    assert_string_equal(ctx.msgs[0].type, "D");
    assert_int_equal(ctx.msgs[0].role, CS_ROLE_NONE); /* ClOrdID incomplete */
    assert_int_equal(ctx.msgs[0].n_fields, 6);
    assert_int_equal(feed(st, &ctx, 0, CS_IN_EOF, m, 12, NULL), 12);
    assert_int_equal(ctx.n, 1);
    assert_true(n > k);
    ctx_reset(&ctx);
    cs_decoder_fix.state_free(st);
}

static void test_missing_msgtype_is_malformed(void **unused)
{
    char m[512];
    size_t n = build(m, sizeof(m), "FIXT.1.1", "25=A|34=1|11=Q", 0, 0);
    void *st = cs_decoder_fix.state_new(&no_flow, &no_opts);
    cs_decode_ctx ctx = CTX_INIT;

    assert_int_equal(feed(st, &ctx, 0, 0, m, n, NULL), n);
    assert_int_equal(ctx.n, 1);
    assert_int_equal(ctx.msgs[0].flags, CS_MSG_MALFORMED);
    assert_string_equal(ctx.msgs[0].type, "");
    assert_int_equal(ctx.msgs[0].role, CS_ROLE_NONE);
    ctx_reset(&ctx);
    cs_decoder_fix.state_free(st);
}

/* ---- capture walker ----------------------------------------------------- */

#define MAX_DIRS 64

typedef struct seg {
    uint32_t seq;
    size_t len;
    uint8_t *data;
} seg;

typedef struct tcp_dir {
    char label[64]; /* "src:sport>dst:dport" */
    char conn[64];  /* direction-independent connection label */
    int have_seq;
    uint32_t next; /* next expected sequence number */
    uint8_t *pending;
    size_t n_pending;
    seg *ooo; /* out-of-order segments */
    size_t n_ooo;
    void *state; /* shared with the reverse direction */
    uint8_t dir;
} tcp_dir;

typedef struct walker {
    tcp_dir dirs[MAX_DIRS];
    size_t n_dirs;
    cs_decode_ctx ctx;
} walker;

static tcp_dir *walker_dir(walker *w, const char *label, const char *conn)
{
    size_t i;
    tcp_dir *d;

    for (i = 0; i < w->n_dirs; i++)
        if (strcmp(w->dirs[i].label, label) == 0)
            return &w->dirs[i];
    assert_true(w->n_dirs < MAX_DIRS);
    d = &w->dirs[w->n_dirs++];
    memset(d, 0, sizeof(*d));
    snprintf(d->label, sizeof(d->label), "%s", label);
    snprintf(d->conn, sizeof(d->conn), "%s", conn);
    for (i = 0; i + 1 < w->n_dirs; i++) {
        if (strcmp(w->dirs[i].conn, conn) == 0) {
            d->state = w->dirs[i].state;
            d->dir = 1;
        }
    }
    if (d->state == NULL)
        d->state = cs_decoder_fix.state_new(&no_flow, &no_opts);
    assert_non_null(d->state);
    return d;
}

/* Offers pending + "data" to parse(), keeping what is not consumed. */
static void dir_deliver(walker *w, tcp_dir *d, const uint8_t *data, size_t len, uint32_t flags)
{
    uint8_t *buf = malloc(d->n_pending + len + 1);
    size_t total = d->n_pending + len, used;

    assert_non_null(buf);
    if (d->n_pending)
        memcpy(buf, d->pending, d->n_pending);
    if (len)
        memcpy(buf + d->n_pending, data, len);
    w->ctx.where = d->label;
    used = feed(d->state, &w->ctx, d->dir, flags, (const char *)buf, total, NULL);
    free(d->pending);
    d->n_pending = total - used;
    d->pending = malloc(d->n_pending + 1);
    assert_non_null(d->pending);
    memcpy(d->pending, buf + used, d->n_pending);
    free(buf);
}

static int seq_before(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

/* Delivers the in-order part of segment (seq, data, len), then any buffered
 * segments that became in order. */
static void dir_segment(walker *w, tcp_dir *d, uint32_t seq, const uint8_t *data, size_t len)
{
    size_t i;
    int progress = 1;

    if (!d->have_seq) {
        d->have_seq = 1;
        d->next = seq;
    }
    if (seq_before(d->next, seq)) { /* hole before it: keep for later */
        d->ooo = realloc(d->ooo, (d->n_ooo + 1) * sizeof(seg));
        assert_non_null(d->ooo);
        d->ooo[d->n_ooo].seq = seq;
        d->ooo[d->n_ooo].len = len;
        d->ooo[d->n_ooo].data = malloc(len);
        memcpy(d->ooo[d->n_ooo].data, data, len);
        d->n_ooo++;
        return;
    }
    if ((uint32_t)(d->next - seq) < len) {
        size_t skip = d->next - seq;

        dir_deliver(w, d, data + skip, len - skip, 0);
        d->next = seq + (uint32_t)len;
    }
    while (progress) {
        progress = 0;
        for (i = 0; i < d->n_ooo; i++) {
            seg s = d->ooo[i];

            if (seq_before(d->next, s.seq))
                continue;
            d->ooo[i] = d->ooo[--d->n_ooo];
            if ((uint32_t)(d->next - s.seq) < s.len) {
                dir_deliver(w, d, s.data + (d->next - s.seq), s.len - (d->next - s.seq), 0);
                d->next = s.seq + (uint32_t)s.len;
            }
            free(s.data);
            progress = 1;
            break;
        }
    }
}

/* Reads "path" and feeds every TCP payload through the walker. */
static void walk_capture(walker *w, const char *path)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(path, err);
    struct pcap_pkthdr *h;
    const u_char *p;
    size_t i;

    if (pc == NULL)
        fail_msg("cannot open %s: %s", path, err);
    assert_int_equal(pcap_datalink(pc), DLT_EN10MB);
    while (pcap_next_ex(pc, &h, &p) == 1) {
        size_t n = h->caplen, off = 14, ihl, iplen, doff;
        uint16_t et;
        uint32_t seq;
        char label[64], conn[64], a[24], b[24];

        if (n < 14)
            continue;
        et = (uint16_t)(p[12] << 8 | p[13]);
        while (et == 0x8100 && n >= off + 4) {
            et = (uint16_t)(p[off + 2] << 8 | p[off + 3]);
            off += 4;
        }
        if (et != 0x0800 || n < off + 20 || (p[off] >> 4) != 4 || p[off + 9] != 6)
            continue;
        ihl = (size_t)(p[off] & 15) * 4;
        iplen = (size_t)(p[off + 2] << 8 | p[off + 3]);
        if (iplen > n - off)
            iplen = n - off;
        if (iplen < ihl + 20)
            continue;
        doff = (size_t)(p[off + ihl + 12] >> 4) * 4;
        if (doff < 20 || iplen < ihl + doff)
            continue;
        snprintf(a, sizeof(a), "%u.%u.%u.%u:%u", p[off + 12], p[off + 13], p[off + 14], p[off + 15],
                 (unsigned)(p[off + ihl] << 8 | p[off + ihl + 1]));
        snprintf(b, sizeof(b), "%u.%u.%u.%u:%u", p[off + 16], p[off + 17], p[off + 18], p[off + 19],
                 (unsigned)(p[off + ihl + 2] << 8 | p[off + ihl + 3]));
        snprintf(label, sizeof(label), "%s>%s", a, b);
        snprintf(conn, sizeof(conn), "%s<>%s", strcmp(a, b) < 0 ? a : b, strcmp(a, b) < 0 ? b : a);
        seq = (uint32_t)p[off + ihl + 4] << 24 | (uint32_t)p[off + ihl + 5] << 16 |
              (uint32_t)p[off + ihl + 6] << 8 | p[off + ihl + 7];
        if (p[off + ihl + 13] & 0x02) /* SYN: data starts at seq + 1 */
            seq++;
        if (iplen > ihl + doff)
            dir_segment(w, walker_dir(w, label, conn), seq, p + off + ihl + doff,
                        iplen - ihl - doff);
    }
    pcap_close(pc);
    for (i = 0; i < w->n_dirs; i++)
        dir_deliver(w, &w->dirs[i], NULL, 0, CS_IN_EOF);
}

static void walker_free(walker *w)
{
    size_t i, j;

    for (i = 0; i < w->n_dirs; i++) {
        tcp_dir *d = &w->dirs[i];

        free(d->pending);
        for (j = 0; j < d->n_ooo; j++)
            free(d->ooo[j].data);
        free(d->ooo);
        if (d->dir == 0)
            cs_decoder_fix.state_free(d->state);
    }
    ctx_reset(&w->ctx);
}

/*
 * Compares the walker's messages with tests/data/fix/<name>.tsv: same
 * messages per direction, in order, with the same MsgType, ClOrdID and
 * checksum verdict. Returns the number compared.
 */
static size_t compare_with_tshark(walker *w, const char *name)
{
    char path[256], line[512];
    FILE *f;
    size_t used[MAX_DIRS] = {0}, total = 0, i;

    snprintf(path, sizeof(path), "tests/data/fix/%s.tsv", name);
    f = fopen(path, "r");
    if (f == NULL)
        fail_msg("missing %s", path);
    while (fgets(line, sizeof(line), f)) {
        char *col[7] = {0}, *s = line, label[64];
        size_t c = 0, d, k, seen;
        rec_msg *m = NULL;

        line[strcspn(line, "\n")] = '\0';
        while (c < 7) {
            col[c++] = s;
            s = strchr(s, '\t');
            if (s == NULL)
                break;
            *s++ = '\0';
        }
        assert_int_equal(c, 7);
        snprintf(label, sizeof(label), "%s:%s>%s:%s", col[0], col[1], col[2], col[3]);
        for (d = 0; d < w->n_dirs && strcmp(w->dirs[d].label, label) != 0; d++)
            ;
        if (d == w->n_dirs)
            fail_msg("%s: no stream %s", name, label);
        for (k = 0, seen = 0; k < w->ctx.n && m == NULL; k++) /* used[d]-th of label */
            if (strcmp(w->ctx.msgs[k].where, label) == 0 && seen++ == used[d])
                m = &w->ctx.msgs[k];
        if (m == NULL)
            fail_msg("%s: %s: message %zu missing", name, label, used[d]);
        used[d]++;
        if (strcmp(m->type, col[4]) != 0 || strcmp(m->match[0] ? m->match : "", col[5]) != 0)
            fail_msg("%s: %s msg %zu: got type %s clordid %s, tshark %s %s", name, label,
                     used[d] - 1, m->type, m->match, col[4], col[5]);
        if (col[5][0] && (m->role == CS_ROLE_NONE))
            fail_msg("%s: %s: order message %s without role", name, label, col[5]);
        assert_int_equal((m->flags & CS_MSG_BAD_CHECKSUM) != 0, strcmp(col[6], "1") == 0);
        total++;
    }
    fclose(f);
    for (i = 0; i < w->ctx.n; i++)
        assert_true(w->ctx.msgs[i].len > 0);
    if (total != w->ctx.n && getenv("FIX_TEST_DUMP"))
        for (i = 0; i < w->ctx.n; i++)
            fprintf(stderr, "%s\t%s\t%s\t%x\t%s\n", w->ctx.msgs[i].where, w->ctx.msgs[i].type,
                    w->ctx.msgs[i].match, w->ctx.msgs[i].flags, w->ctx.msgs[i].fields);
    if (total != w->ctx.n)
        fail_msg("%s: decoder found %zu messages, tshark %zu", name, w->ctx.n, total);
    return total;
}

static size_t run_capture(const char *rel, const char *name)
{
    walker *w = calloc(1, sizeof(walker));
    char path[256];
    size_t n;

    assert_non_null(w);
    w->ctx.ops = &rec_ops;
    snprintf(path, sizeof(path), "tests/pcaps/%s", rel);
    walk_capture(w, path);
    n = compare_with_tshark(w, name);
    walker_free(w);
    free(w);
    return n;
}

static void test_captures(void **unused)
{
    static const struct {
        const char *rel, *name;
        size_t n;
    } caps[] = {
        {"fix-ascii/trace-fix4.0.pcap", "trace-fix4.0", 4},
        {"fix-ascii/trace-fix4.0-mtu100.pcap", "trace-fix4.0-mtu100", 4},
        {"fix-ascii/trace-fix4.1.pcap", "trace-fix4.1", 4},
        {"fix-ascii/trace-fix4.2.pcap", "trace-fix4.2", 4},
        {"fix-ascii/trace-fix4.3.pcap", "trace-fix4.3", 4},
        {"fix-ascii/trace-fix4.4.pcap", "trace-fix4.4", 5},
        {"fix-ascii/trace-fixt1.1.pcap", "trace-fixt1.1", 4},
        {"fix-ascii/trace-fixt1.1-uncompliant.pcap", "trace-fixt1.1-uncompliant", 4},
        {"ndpi/fix.pcap", "fix", 34},
        {"ndpi/fix2.pcap", "fix2", 374},
    };
    size_t i;

    for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
        assert_int_equal(run_capture(caps[i].rel, caps[i].name), caps[i].n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_one_order),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_split_everywhere),
        cmocka_unit_test(test_several_in_one_slice),
        cmocka_unit_test(test_bad_checksum),
        cmocka_unit_test(test_bad_body_length),
        cmocka_unit_test(test_long_body_length_at_eof),
        cmocka_unit_test(test_garbage_then_message),
        cmocka_unit_test(test_gap_mid_message),
        cmocka_unit_test(test_midstream),
        cmocka_unit_test(test_midstream_flag_persists),
        cmocka_unit_test(test_truncated_at_eof),
        cmocka_unit_test(test_missing_msgtype_is_malformed),
        cmocka_unit_test(test_captures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

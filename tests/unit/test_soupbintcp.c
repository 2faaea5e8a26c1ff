/*
 * test_soupbintcp.c - unit tests of the SoupBinTCP decoder
 * (src/decode/soupbintcp/soupbintcp.c), driven alone the way the flow
 * layer drives it (unconsumed bytes offered again with the next ones).
 *
 * Packets are built by hand from the SoupBinTCP 3.00 table (2-byte length,
 * type, payload). Checked: every packet type and its fields; a session's
 * stream split at every byte and coalesced gives the same messages;
 * sequence numbers from Login Accepted and the gaps a re-login or a Login
 * Request reveals; OUCH payloads re-emitted with proto "ouch", the whole
 * packet's byte range, soup_type and seq; payload=none; the probe; bad
 * input (lengths 0 and 65535, unknown types, garbage, a gap mid-packet):
 * flagged, counted and resynchronised.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/error.h"
#include "decode/ouch/ouch.h"
#include "decode/soupbintcp/soupbintcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a recording context ------------------------------------------------- */

typedef struct smsg {
    char type[32], proto[16], error[48], match[32];
    char fields[512];
    uint32_t flags;
    size_t start, len; /* in stream offsets (the context adds its base) */
} smsg;

struct cs_decode_ctx {
    const cs_decode_ops *ops;
    smsg msgs[64];
    size_t n;
    char gaps[256]; /* "stream:first+count;" */
    size_t base;    /* stream offset of in.data[0] */
    size_t in_len;
};

static void s_emit(cs_decode_ctx *ctx, const cs_msg_out *m)
{
    smsg *r;
    size_t off = 0, n;

    assert_true(m->start + m->len <= ctx->in_len);
    assert_true(ctx->n < 64);
    r = &ctx->msgs[ctx->n++];
    memset(r, 0, sizeof(*r));
    n = m->type.len < sizeof(r->type) - 1 ? m->type.len : sizeof(r->type) - 1;
    memcpy(r->type, m->type.p, n);
    snprintf(r->proto, sizeof(r->proto), "%s", m->proto ? m->proto : "soupbintcp");
    snprintf(r->error, sizeof(r->error), "%.*s", (int)m->error.len, m->error.p);
    snprintf(r->match, sizeof(r->match), "%.*s", (int)m->match.len, m->match.p);
    r->flags = m->flags;
    r->start = ctx->base + m->start;
    r->len = m->len;
    for (size_t i = 0; i < m->n_fields; i++)
        off += (size_t)snprintf(r->fields + off, sizeof(r->fields) - off, "%.*s=%.*s|",
                                (int)m->fields[i].name.len, m->fields[i].name.p,
                                (int)m->fields[i].val.len, m->fields[i].val.p);
}

static void s_gap(cs_decode_ctx *ctx, const cs_seq_gap *g)
{
    size_t at = strlen(ctx->gaps);

    snprintf(ctx->gaps + at, sizeof(ctx->gaps) - at, "%.*s:%llu+%llu;", (int)g->stream.len,
             g->stream.p, (unsigned long long)g->first, (unsigned long long)g->count);
}

static const cs_decode_ops s_ops = {.emit = s_emit, .seq_gap = s_gap};

static cs_decoder_optset g_set;

static void *new_state(const char *opt)
{
    cs_decoder_opts opts = {&g_set, &cs_decoder_soupbintcp};

    memset(&g_set, 0, sizeof(g_set));
    if (opt != NULL)
        assert_int_equal(cs_decoder_optset_add(&g_set, opt), 0);
    return cs_decoder_soupbintcp.state_new(&(cs_endpoints){0}, &opts);
}

/* One direction's stream, fed in chunks as the flow layer does. */
typedef struct feeder {
    uint8_t buf[8192];
    size_t len;  /* bytes held (unconsumed) */
    size_t base; /* stream offset of buf[0] */
} feeder;

/* Appends p[0..n) and parses what is held; returns bytes left held. */
static size_t feed(void *st, cs_decode_ctx *ctx, feeder *f, uint8_t dir, const uint8_t *p, size_t n,
                   uint32_t flags)
{
    cs_decode_input in;
    size_t c;

    assert_true(f->len + n <= sizeof(f->buf));
    if (n)
        memcpy(f->buf + f->len, p, n);
    f->len += n;
    for (;;) {
        memset(&in, 0, sizeof(in));
        in.dir = dir;
        in.flags = flags;
        in.data = f->buf;
        in.len = f->len;
        ctx->base = f->base;
        ctx->in_len = f->len;
        c = cs_decoder_soupbintcp.parse(st, ctx, &in);
        assert_true(c <= f->len);
        memmove(f->buf, f->buf + c, f->len - c);
        f->len -= c;
        f->base += c;
        if (c == 0 || f->len == 0 || (flags & CS_IN_EOF) || in.needed > f->len)
            return f->len;
    }
}

/* ---- packet building ------------------------------------------------------- */

static size_t soup(uint8_t *out, char t, const void *p, size_t n)
{
    out[0] = (uint8_t)((n + 1) >> 8);
    out[1] = (uint8_t)(n + 1);
    out[2] = (uint8_t)t;
    if (n)
        memcpy(out + 3, p, n);
    return n + 3;
}

static size_t login_request(uint8_t *out, const char *session, unsigned seq)
{
    char pl[47];

    snprintf(pl, sizeof(pl), "%-6s%-10s%-10s%20u", "USER01", "secret", session, seq);
    return soup(out, 'L', pl, 46);
}

static size_t login_accepted(uint8_t *out, const char *session, unsigned seq)
{
    char pl[31];

    snprintf(pl, sizeof(pl), "%-10s%20u", session, seq);
    return soup(out, 'A', pl, 30);
}

/* An OUCH 4.2 Enter Order (client) or Accepted (venue) for "tok". */
static size_t ouch_enter(uint8_t *out, const char *tok)
{
    uint8_t p[49];

    memset(p, 0, sizeof(p));
    p[0] = 'O';
    memset(p + 1, ' ', 14);
    memcpy(p + 1, tok, strlen(tok));
    return soup(out, 'U', p, sizeof(p));
}

static size_t ouch_accepted(uint8_t *out, const char *tok)
{
    uint8_t p[66];

    memset(p, 0, sizeof(p));
    p[0] = 'A';
    memset(p + 9, ' ', 14);
    memcpy(p + 9, tok, strlen(tok));
    return soup(out, 'S', p, sizeof(p));
}

/* A venue stream: login accepted, heartbeat, two sequenced OUCH messages,
 * a debug packet, end of session. */
static size_t venue_stream(uint8_t *b)
{
    size_t n = login_accepted(b, "SESS01", 41);

    n += soup(b + n, 'H', NULL, 0);
    n += ouch_accepted(b + n, "T1");
    n += ouch_accepted(b + n, "T2");
    n += soup(b + n, '+', "hello", 5);
    n += soup(b + n, 'Z', NULL, 0);
    return n;
}

static const char *const venue_want[] = {
    "soupbintcp login_accepted packet_type=A|session=SESS01|sequence_number=41|",
    "soupbintcp server_heartbeat packet_type=H|",
    "ouch accepted soup_type=S|seq=41|",
    "ouch accepted soup_type=S|seq=42|",
    "soupbintcp debug packet_type=+|text=hello|",
    "soupbintcp end_of_session packet_type=Z|",
};

/* "proto type fields" of message i, OUCH fields cut to soup_type on. */
static void check_venue(const cs_decode_ctx *ctx)
{
    assert_int_equal(ctx->n, 6);
    for (size_t i = 0; i < 6; i++) {
        char got[600];
        const char *f = ctx->msgs[i].fields, *soup_part = strstr(f, "soup_type=");

        snprintf(got, sizeof(got), "%s %s %s", ctx->msgs[i].proto, ctx->msgs[i].type,
                 strcmp(ctx->msgs[i].proto, "ouch") == 0 && soup_part ? soup_part : f);
        assert_string_equal(got, venue_want[i]);
        assert_int_equal(ctx->msgs[i].flags & ~(uint32_t)(CS_MSG_LIFECYCLE | CS_MSG_MORE), 0);
    }
    /* the OUCH messages span their whole SoupBinTCP packet */
    assert_int_equal(ctx->msgs[2].start, 33 + 3);
    assert_int_equal(ctx->msgs[2].len, 69);
    assert_string_equal(ctx->msgs[2].match, "O:T1");
}

/* ---- tests ----------------------------------------------------------------- */

static void test_probe_and_registry(void **unused)
{
    uint8_t b[64];
    size_t n = login_request(b, "", 1);

    assert_int_equal(n, 49);
    assert_int_equal(cs_decoder_soupbintcp.probe(b, n, 0), CS_PROBE_YES);
    assert_int_equal(cs_decoder_soupbintcp.probe(b, 2, 0), CS_PROBE_NEED_MORE);
    assert_int_equal(cs_decoder_soupbintcp.probe(b, n, 1), CS_PROBE_NO);
    assert_int_equal(cs_decoder_soupbintcp.probe((const uint8_t *)"GET /", 5, 0), CS_PROBE_NO);
    assert_ptr_equal(cs_decoder_find("soupbintcp"), &cs_decoder_soupbintcp);
    assert_true(cs_decoder_soupbintcp.transports & CS_TRANSPORT_TCP);
    assert_int_equal(cs_decoder_optset_add(&g_set, "soupbintcp.ports=15000"), 0);
    assert_int_equal(cs_decoder_optset_add(&g_set, "soupbintcp.payload=none"), 0);
    assert_int_equal(cs_decoder_optset_add(&g_set, "soupbintcp.nosuch=1"), CS_EINVAL);
}

/* Every client packet type, and the fields of each. */
static void test_client_types(void **unused)
{
    void *st = new_state(NULL);
    cs_decode_ctx ctx = {.ops = &s_ops};
    feeder f = {0};
    uint8_t b[512];
    size_t n = login_request(b, "SESS01", 7);

    n += soup(b + n, 'R', NULL, 0);
    n += ouch_enter(b + n, "T1");
    n += soup(b + n, 'O', NULL, 0);
    assert_int_equal(feed(st, &ctx, &f, 0, b, n, 0), 0);
    assert_int_equal(ctx.n, 4);
    assert_string_equal(ctx.msgs[0].type, "login_request");
    assert_string_equal(ctx.msgs[0].fields,
                        "packet_type=L|username=USER01|requested_session=SESS01|"
                        "requested_sequence_number=7|"); /* no password */
    assert_string_equal(ctx.msgs[1].type, "client_heartbeat");
    assert_string_equal(ctx.msgs[2].type, "enter_order");
    assert_string_equal(ctx.msgs[2].proto, "ouch");
    assert_non_null(strstr(ctx.msgs[2].fields, "|soup_type=U|"));
    assert_null(strstr(ctx.msgs[2].fields, "seq="));
    assert_string_equal(ctx.msgs[3].type, "logout_request");
    cs_decoder_soupbintcp.state_free(st);
}

static void test_venue_types_and_numbers(void **unused)
{
    void *st = new_state(NULL);
    cs_decode_ctx ctx = {.ops = &s_ops};
    feeder f = {0};
    uint8_t b[512];
    size_t n = venue_stream(b);
    char pl[1] = {'A'};

    assert_int_equal(feed(st, &ctx, &f, 1, b, n, 0), 0);
    check_venue(&ctx);
    ctx.n = 0;
    n = soup(b, 'J', pl, 1);
    assert_int_equal(feed(st, &ctx, &f, 1, b, n, 0), 0);
    assert_string_equal(ctx.msgs[0].type, "login_rejected");
    assert_string_equal(ctx.msgs[0].error, "login rejected: A");
    assert_string_equal(ctx.gaps, "");
    cs_decoder_soupbintcp.state_free(st);
}

/* The venue stream split in two at every byte: the same messages. */
static void test_split_at_every_byte(void **unused)
{
    uint8_t b[512];
    size_t n = venue_stream(b);

    for (size_t k = 0; k <= n; k++) {
        void *st = new_state(NULL);
        cs_decode_ctx ctx = {.ops = &s_ops};
        feeder f = {0};

        feed(st, &ctx, &f, 1, b, k, 0);
        assert_int_equal(feed(st, &ctx, &f, 1, b + k, n - k, 0), 0);
        check_venue(&ctx);
        cs_decoder_soupbintcp.state_free(st);
    }
}

/* One byte at a time, then everything coalesced with a second copy. */
static void test_byte_by_byte_and_coalesced(void **unused)
{
    uint8_t b[1024];
    size_t n = venue_stream(b);
    void *st = new_state(NULL);
    cs_decode_ctx ctx = {.ops = &s_ops};
    feeder f = {0};

    for (size_t i = 0; i < n; i++)
        feed(st, &ctx, &f, 1, b + i, 1, 0);
    check_venue(&ctx);
    cs_decoder_soupbintcp.state_free(st);

    st = new_state(NULL);
    memset(&f, 0, sizeof(f));
    ctx.n = 0;
    memcpy(b + n, b, n);
    assert_int_equal(feed(st, &ctx, &f, 1, b, 2 * n, 0), 0);
    assert_int_equal(ctx.n, 12);
    assert_non_null(strstr(ctx.msgs[8].fields, "seq=41|")); /* numbered from the new login */
    cs_decoder_soupbintcp.state_free(st);
}

/* A re-login that skips numbers, and a Login Request asking beyond the
 * expected number, report gaps (once each); another session does not. */
static void test_relogin_gaps(void **unused)
{
    void *st = new_state(NULL);
    cs_decode_ctx ctx = {.ops = &s_ops};
    feeder c = {0}, v = {0};
    uint8_t b[512];
    size_t n;

    n = login_accepted(b, "SESS01", 10);
    n += ouch_accepted(b + n, "T1");
    n += ouch_accepted(b + n, "T2"); /* 10, 11: next expected 12 */
    feed(st, &ctx, &v, 1, b, n, 0);
    n = login_accepted(b, "SESS01", 15); /* 12..14 never seen */
    n += ouch_accepted(b + n, "T3");
    feed(st, &ctx, &v, 1, b, n, 0);
    assert_string_equal(ctx.gaps, "SESS01:12+3;");
    assert_non_null(strstr(ctx.msgs[ctx.n - 1].fields, "seq=15|"));
    n = login_request(b, "SESS01", 20); /* expected 16: 16..19 skipped */
    feed(st, &ctx, &c, 0, b, n, 0);
    n = login_accepted(b, "SESS01", 20);
    feed(st, &ctx, &v, 1, b, n, 0);
    assert_string_equal(ctx.gaps, "SESS01:12+3;SESS01:16+4;");
    n = login_accepted(b, "SESS02", 900); /* a new session starts anew */
    feed(st, &ctx, &v, 1, b, n, 0);
    assert_string_equal(ctx.gaps, "SESS01:12+3;SESS01:16+4;");
    cs_decoder_soupbintcp.state_free(st);
}

/* payload=none: data packets are soupbintcp messages with their seq. */
static void test_payload_none(void **unused)
{
    void *st = new_state("soupbintcp.payload=none");
    cs_decode_ctx ctx = {.ops = &s_ops};
    feeder f = {0};
    uint8_t b[512];
    size_t n = venue_stream(b);

    feed(st, &ctx, &f, 1, b, n, 0);
    assert_int_equal(ctx.n, 6);
    assert_string_equal(ctx.msgs[2].proto, "soupbintcp");
    assert_string_equal(ctx.msgs[2].type, "sequenced_data");
    assert_string_equal(ctx.msgs[2].fields, "packet_type=S|seq=41|");
    cs_decoder_soupbintcp.state_free(st);
}

/* Length 0, length 65535 and an unknown type: one bad_packet each, then
 * the next good packet decodes. */
static void test_bad_lengths_and_types(void **unused)
{
    static const uint8_t bad0[] = {0x00, 0x00}, bad_max[] = {0xff, 0xff, 'S', 1, 2},
                         bad_type[] = {0x00, 0x02, 'Q', 'x'};
    const uint8_t *bads[] = {bad0, bad_max, bad_type};
    size_t lens[] = {sizeof(bad0), sizeof(bad_max), sizeof(bad_type)};
    uint32_t faults[] = {CS_MSG_BAD_LENGTH, CS_MSG_BAD_LENGTH, CS_MSG_MALFORMED};

    for (size_t i = 0; i < 3; i++) {
        void *st = new_state(NULL);
        cs_decode_ctx ctx = {.ops = &s_ops};
        feeder f = {0};
        uint8_t b[512];
        size_t n = soup(b, 'H', NULL, 0);

        memcpy(b + n, bads[i], lens[i]);
        n += lens[i];
        n += venue_stream(b + n);
        assert_int_equal(feed(st, &ctx, &f, 1, b, n, 0), 0);
        assert_int_equal(ctx.n, 8);
        assert_string_equal(ctx.msgs[0].type, "server_heartbeat");
        assert_string_equal(ctx.msgs[1].type, "bad_packet");
        assert_int_equal(ctx.msgs[1].flags, faults[i]);
        assert_int_equal(ctx.msgs[1].start, 3);
        assert_int_equal(ctx.msgs[1].len, lens[i]);
        assert_string_equal(ctx.msgs[2].type, "login_accepted");
        assert_non_null(strstr(ctx.msgs[5].fields, "seq=42|"));
        cs_decoder_soupbintcp.state_free(st);
    }
}

/* A fixed-length type with another length, then garbage long enough to
 * be fed in pieces: reported once, skipped, and framing resumes. */
static void test_garbage_in_pieces(void **unused)
{
    void *st = new_state(NULL);
    cs_decode_ctx ctx = {.ops = &s_ops};
    feeder f = {0};
    uint8_t b[1024];
    size_t n = 0;

    b[n++] = 0x00;
    b[n++] = 0x05;
    b[n++] = 'H'; /* a heartbeat is 1 byte long */
    for (int i = 0; i < 300; i++)
        b[n++] = (uint8_t)(0xa0 + i % 7);
    n += venue_stream(b + n);
    for (size_t i = 0; i < n; i += 50)
        feed(st, &ctx, &f, 1, b + i, n - i < 50 ? n - i : 50, 0);
    assert_int_equal(ctx.n, 7);
    assert_string_equal(ctx.msgs[0].type, "bad_packet");
    assert_int_equal(ctx.msgs[0].flags, CS_MSG_BAD_LENGTH);
    assert_string_equal(ctx.msgs[1].type, "login_accepted");
    assert_int_equal(ctx.msgs[1].start, 303);
    cs_decoder_soupbintcp.state_free(st);
}

/* A gap mid-packet: the rest of the cut packet is skipped without a
 * bad_packet, the next whole packets decode, and the numbers are unknown
 * until the next Login Accepted. */
static void test_gap_resync(void **unused)
{
    void *st = new_state(NULL);
    cs_decode_ctx ctx = {.ops = &s_ops};
    feeder f = {0};
    uint8_t b[512];
    size_t n = venue_stream(b);

    feed(st, &ctx, &f, 1, b, 40, 0); /* login accepted, heartbeat, 4 bytes of S */
    assert_int_equal(ctx.n, 2);
    cs_decoder_soupbintcp.gap(st, 1);
    f.len = 0;
    f.base = 60;
    feed(st, &ctx, &f, 1, b + 60, n - 60, 0); /* inside the first S packet */
    assert_int_equal(ctx.n, 5);
    assert_string_equal(ctx.msgs[2].type, "accepted");
    assert_int_equal(ctx.msgs[2].start, 105);
    assert_null(strstr(ctx.msgs[2].fields, "seq="));
    assert_string_equal(ctx.msgs[3].type, "debug");
    assert_string_equal(ctx.msgs[4].type, "end_of_session");
    cs_decoder_soupbintcp.state_free(st);
}

/* A packet cut by the end of the stream is dropped; nothing is read past. */
static void test_eof_mid_packet(void **unused)
{
    void *st = new_state(NULL);
    cs_decode_ctx ctx = {.ops = &s_ops};
    feeder f = {0};
    uint8_t b[512];
    size_t n = venue_stream(b);

    feed(st, &ctx, &f, 1, b, 50, 0);
    assert_int_equal(feed(st, &ctx, &f, 1, NULL, 0, CS_IN_EOF), 0);
    assert_int_equal(ctx.n, 2);
    (void)n;
    cs_decoder_soupbintcp.state_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_and_registry),
        cmocka_unit_test(test_client_types),
        cmocka_unit_test(test_venue_types_and_numbers),
        cmocka_unit_test(test_split_at_every_byte),
        cmocka_unit_test(test_byte_by_byte_and_coalesced),
        cmocka_unit_test(test_relogin_gaps),
        cmocka_unit_test(test_payload_none),
        cmocka_unit_test(test_bad_lengths_and_types),
        cmocka_unit_test(test_garbage_in_pieces),
        cmocka_unit_test(test_gap_resync),
        cmocka_unit_test(test_eof_mid_packet),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

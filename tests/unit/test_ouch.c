/*
 * test_ouch.c - unit tests of the OUCH 4.2 / 5.0 decoder
 * (src/decode/ouch/ouch.c), alone and behind SoupBinTCP through the real
 * analyzer and pairing.
 *
 * Part 1 hands the decoder one message at a time, built by hand from the
 * tables of the OUCH 4.2 and 5.0 specifications (type byte, the order
 * token or UserRefNum at its offset, lengths per type), and checks the
 * type name, the fields, the role, key, match, closes, error and flags:
 * every type of both versions, the older 4.x lengths, appendages, version
 * detection and the version option, bad input.
 *
 * Part 2 builds SoupBinTCP sessions in TCP packets and runs them through
 * cs_analyzer with the registry's soupbintcp decoder: Enter -> Accepted
 * with executions attached, Enter -> Rejected with its error, Cancel ->
 * Canceled, a replace chain whose new order's executions attach, an
 * unsolicited Canceled, an unanswered Enter: measurements, resp_type,
 * attached counts, unmatched reports and the proto of the messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "analytics/analyzer.h"
#include "decode/ouch/ouch.h"
#include "decode/soupbintcp/soupbintcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a recording context --------------------------------------------------- */

typedef struct omsg {
    char type[32], key[32], match[32], closes[32], error[48], proto[16];
    char fields[1024];
    cs_role role;
    uint32_t flags;
    size_t start, len, n_fields;
} omsg;

struct cs_decode_ctx {
    const cs_decode_ops *ops;
    omsg msgs[8];
    size_t n;
};

static void cpy(char *dst, size_t cap, cs_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;

    if (n)
        memcpy(dst, s.p, n);
    dst[n] = '\0';
}

static void o_emit(cs_decode_ctx *ctx, const cs_msg_out *m)
{
    omsg *r;
    size_t off = 0;

    assert_true(ctx->n < 8);
    r = &ctx->msgs[ctx->n++];
    memset(r, 0, sizeof(*r));
    cpy(r->type, sizeof(r->type), m->type);
    cpy(r->key, sizeof(r->key), m->key);
    cpy(r->match, sizeof(r->match), m->match);
    cpy(r->closes, sizeof(r->closes), m->closes);
    cpy(r->error, sizeof(r->error), m->error);
    if (m->proto)
        snprintf(r->proto, sizeof(r->proto), "%s", m->proto);
    if (m->role != CS_ROLE_NONE)
        assert_string_equal(m->pair, "ouch");
    r->role = m->role;
    r->flags = m->flags;
    r->start = m->start;
    r->len = m->len;
    r->n_fields = m->n_fields;
    for (size_t i = 0; i < m->n_fields; i++)
        off += (size_t)snprintf(r->fields + off, sizeof(r->fields) - off, "%.*s=%.*s|",
                                (int)m->fields[i].name.len, m->fields[i].name.p,
                                (int)m->fields[i].val.len, m->fields[i].val.p);
}

static const cs_decode_ops o_ops = {.emit = o_emit};

static void *new_state(const char *version)
{
    static cs_decoder_optset set;
    char arg[64];
    cs_decoder_opts opts = {NULL, &cs_decoder_ouch};

    memset(&set, 0, sizeof(set));
    if (version != NULL) {
        snprintf(arg, sizeof(arg), "ouch.version=%s", version);
        assert_int_equal(cs_decoder_optset_add(&set, arg), 0);
        opts.set = &set;
    }
    return cs_decoder_ouch.state_new(&(cs_endpoints){0}, &opts);
}

/* Decodes one message "p[0..n)" sent in "dir"; the record in ctx. */
static const omsg *decode(void *st, cs_decode_ctx *ctx, uint8_t dir, const uint8_t *p, size_t n)
{
    cs_decode_input in = {dir, CS_IN_DATAGRAM, p, n, 0};

    ctx->n = 0;
    assert_int_equal(cs_decoder_ouch.parse(st, ctx, &in), n);
    assert_int_equal(ctx->n, 1);
    assert_int_equal(ctx->msgs[0].start, 0);
    assert_int_equal(ctx->msgs[0].len, n);
    return &ctx->msgs[0];
}

/* ---- message building ------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/* A 14-byte space-padded token. */
static void put_token(uint8_t *p, const char *tok)
{
    memset(p, ' ', 14);
    memcpy(p, tok, strlen(tok));
}

/* One row of a version's table: the message of type "type" from "dir",
 * "len" bytes, its order at "ord" ("prev" the replaced one), 5.0 AppLen
 * at "app" (0: none), and what the decoder must make of it. */
typedef struct row {
    char type;
    uint8_t dir;
    uint8_t len, ord, prev, app;
    const char *name;
    cs_role role;
    const char *key, *match, *closes; /* with the order "A1"/"B2" or 7/6 */
    uint32_t flags;
} row;

#define LC (CS_MSG_LIFECYCLE | CS_MSG_MORE)
#define REQ CS_ROLE_REQ
#define RSP CS_ROLE_RESP
#define NON CS_ROLE_NONE

static const row rows42[] = {
    {'O', 0, 49, 1, 0, 0, "enter_order", REQ, "O:A1", "O:A1", "", 0},
    {'U', 0, 47, 15, 1, 0, "replace_order", REQ, "U:B2", "O:A1", "", 0},
    {'X', 0, 19, 1, 0, 0, "cancel_order", REQ, "X:A1", "X:A1", "", 0},
    {'M', 0, 20, 1, 0, 0, "modify_order", NON, "", "", "", 0},
    {'S', 1, 10, 0, 0, 0, "system_event", NON, "", "", "", 0},
    {'A', 1, 66, 9, 0, 0, "accepted", RSP, "", "O:A1", "", LC},
    {'U', 1, 80, 9, 65, 0, "replaced", RSP, "", "O:A1", "O:B2", LC},
    {'C', 1, 28, 9, 0, 0, "canceled", RSP, "", "O:A1", "", LC},
    {'D', 1, 37, 9, 0, 0, "aiq_canceled", RSP, "", "O:A1", "", LC},
    {'E', 1, 40, 9, 0, 0, "executed", RSP, "", "O:A1", "", LC},
    {'B', 1, 32, 9, 0, 0, "broken_trade", RSP, "", "O:A1", "", LC},
    {'G', 1, 45, 9, 0, 0, "executed_ref_price", RSP, "", "O:A1", "", LC},
    {'F', 1, 41, 9, 0, 0, "trade_correction", RSP, "", "O:A1", "", LC},
    {'J', 1, 24, 9, 0, 0, "rejected", RSP, "", "O:A1", "", CS_MSG_LIFECYCLE},
    {'P', 1, 23, 9, 0, 0, "cancel_pending", RSP, "", "O:A1", "", LC},
    {'I', 1, 23, 9, 0, 0, "cancel_reject", RSP, "", "O:A1", "", LC},
    {'T', 1, 36, 9, 0, 0, "priority_update", RSP, "", "O:A1", "", LC},
    {'M', 1, 28, 9, 0, 0, "modified", RSP, "", "O:A1", "", LC},
    {'K', 1, 36, 9, 0, 0, "price_correction", RSP, "", "O:A1", "", LC},
};

static const row rows50[] = {
    {'O', 0, 47, 1, 0, 45, "enter_order", REQ, "O:7", "O:7", "", 0},
    {'U', 0, 40, 5, 1, 38, "replace_order", REQ, "U:6", "O:7", "", 0},
    {'X', 0, 9, 1, 0, 0, "cancel_order", REQ, "X:7", "X:7", "", 0},
    {'M', 0, 10, 1, 0, 0, "modify_order", NON, "", "", "", 0},
    {'Q', 0, 1, 0, 0, 0, "account_query", NON, "", "", "", 0},
    {'S', 1, 10, 0, 0, 0, "system_event", NON, "", "", "", 0},
    {'A', 1, 64, 9, 0, 62, "accepted", RSP, "", "O:7", "", LC},
    {'U', 1, 68, 13, 9, 66, "replaced", RSP, "", "O:7", "O:6", LC},
    {'C', 1, 18, 9, 0, 0, "canceled", RSP, "", "O:7", "", LC},
    {'D', 1, 31, 9, 0, 0, "aiq_canceled", RSP, "", "O:7", "", LC},
    {'E', 1, 36, 9, 0, 34, "executed", RSP, "", "O:7", "", LC},
    {'B', 1, 36, 9, 0, 0, "broken_trade", RSP, "", "O:7", "", LC},
    {'F', 1, 49, 9, 0, 0, "trade_correction", RSP, "", "O:7", "", LC},
    {'J', 1, 29, 9, 0, 0, "rejected", RSP, "", "O:7", "", CS_MSG_LIFECYCLE},
    {'P', 1, 13, 9, 0, 0, "cancel_pending", RSP, "", "O:7", "", LC},
    {'I', 1, 13, 9, 0, 0, "cancel_reject", RSP, "", "O:7", "", LC},
    {'T', 1, 30, 9, 0, 0, "priority_update", RSP, "", "O:7", "", LC},
    {'M', 1, 18, 9, 0, 0, "modified", RSP, "", "O:7", "", LC},
    {'R', 1, 16, 9, 0, 14, "restated", RSP, "", "O:7", "", LC},
    {'Q', 1, 13, 0, 0, 0, "account_query_response", NON, "", "", "", 0},
};

/* The message of "r": zeros, the type, the order(s), AppLen 0. */
static size_t build_row(const row *r, int v42, uint8_t *p)
{
    memset(p, 0, 128);
    p[0] = (uint8_t)r->type;
    if (v42) {
        if (r->ord)
            put_token(p + r->ord, "A1");
        if (r->prev)
            put_token(p + r->prev, "B2");
    } else {
        if (r->ord)
            put32(p + r->ord, 7);
        if (r->prev)
            put32(p + r->prev, 6);
    }
    return r->len;
}

static void check_rows(const row *rows, size_t n, int v42, const char *version)
{
    for (size_t i = 0; i < n; i++) {
        void *st = new_state(version);
        cs_decode_ctx ctx = {.ops = &o_ops};
        uint8_t p[128];
        size_t len = build_row(&rows[i], v42, p);
        const omsg *m = decode(st, &ctx, rows[i].dir, p, len);
        char want[24];

        assert_string_equal(m->type, rows[i].name);
        snprintf(want, sizeof(want), "packet_type=%c|", rows[i].type);
        assert_memory_equal(m->fields, want, strlen(want));
        assert_int_equal(m->role, rows[i].role);
        assert_string_equal(m->key, rows[i].key);
        assert_string_equal(m->match, rows[i].match);
        assert_string_equal(m->closes, rows[i].closes);
        assert_int_equal(m->flags, rows[i].flags);
        if (rows[i].ord)
            assert_non_null(strstr(m->fields, v42 ? "=A1|" : "user_ref_num=7|"));
        cs_decoder_ouch.state_free(st);
    }
}

/* ---- part 1: the decoder alone ------------------------------------------- */

static void test_registered_as_payload_decoder(void **unused)
{
    assert_ptr_equal(cs_decoder_find("ouch"), &cs_decoder_ouch);
    assert_int_equal(cs_decoder_ouch.transports, 0); /* never a flow's own */
    assert_int_equal(cs_decoder_ouch.probe((const uint8_t *)"O", 1, 0), CS_PROBE_NO);
    assert_string_equal(cs_decoder_ouch.pairs[0], "ouch");
}

static void test_every_type_42(void **unused)
{
    check_rows(rows42, sizeof(rows42) / sizeof(rows42[0]), 1, NULL);
    check_rows(rows42, sizeof(rows42) / sizeof(rows42[0]), 1, "4.2");
}

static void test_every_type_50(void **unused)
{
    check_rows(rows50, sizeof(rows50) / sizeof(rows50[0]), 0, NULL);
    check_rows(rows50, sizeof(rows50) / sizeof(rows50[0]), 0, "5.0");
}

/* An Enter Order 4.2 with every field set, and its older 48-byte form. */
static void test_enter_42_fields(void **unused)
{
    void *st = new_state(NULL);
    cs_decode_ctx ctx = {.ops = &o_ops};
    uint8_t p[49];
    const omsg *m;

    p[0] = 'O';
    put_token(p + 1, "ORD000001");
    p[15] = 'B';
    put32(p + 16, 300);
    memcpy(p + 20, "AAPL    ", 8);
    put32(p + 28, 1234500);
    put32(p + 32, 99999);
    memcpy(p + 36, "FIRM", 4);
    p[40] = 'Y';
    p[41] = 'A';
    p[42] = 'N';
    put32(p + 43, 0);
    p[47] = 'N';
    p[48] = 'R';
    m = decode(st, &ctx, 0, p, 49);
    assert_string_equal(m->fields,
                        "packet_type=O|order_token=ORD000001|side=B|shares=300|stock=AAPL|"
                        "price=123.4500|tif=99999|firm=FIRM|display=Y|capacity=A|iso=N|"
                        "min_qty=0|cross_type=N|customer_type=R|");
    assert_string_equal(m->key, "O:ORD000001");
    m = decode(st, &ctx, 0, p, 48); /* no Customer Type */
    assert_string_equal(m->type, "enter_order");
    assert_null(strstr(m->fields, "customer_type"));
    assert_int_equal(m->n_fields, 13);
    cs_decoder_ouch.state_free(st);
}

/* The older 4.x lengths of Accepted (65) and Replaced (79). */
static void test_older_42_lengths(void **unused)
{
    void *st = new_state(NULL);
    cs_decode_ctx ctx = {.ops = &o_ops};
    uint8_t p[80];
    const omsg *m;

    memset(p, 0, sizeof(p));
    p[0] = 'A';
    put_token(p + 9, "T1");
    m = decode(st, &ctx, 1, p, 65);
    assert_string_equal(m->type, "accepted");
    assert_string_equal(m->match, "O:T1");
    assert_null(strstr(m->fields, "bbo_weight"));
    p[0] = 'U';
    put_token(p + 65, "T0");
    m = decode(st, &ctx, 1, p, 79);
    assert_string_equal(m->type, "replaced");
    assert_string_equal(m->closes, "O:T0");
    cs_decoder_ouch.state_free(st);
}

/* 5.0 appendages: each option "app.<tag>"; the length must add up. */
static void test_appendages_50(void **unused)
{
    void *st = new_state(NULL);
    cs_decode_ctx ctx = {.ops = &o_ops};
    uint8_t p[64];
    const omsg *m;
    static const uint8_t app[] = {5, 2, 'L', 'I', 'M', 'E', 5, 3, 0, 0, 0x01, 0x2c};

    memset(p, 0, sizeof(p));
    p[0] = 'O';
    put32(p + 1, 4294967295u);
    p[5] = 'S';
    put32(p + 6, 100);
    memcpy(p + 10, "MSFT    ", 8);
    put64(p + 18, 4100000);
    memcpy(p + 31, "CLORD-9       ", 14);
    p[45] = 0;
    p[46] = sizeof(app);
    memcpy(p + 47, app, sizeof(app));
    m = decode(st, &ctx, 0, p, 47 + sizeof(app));
    assert_string_equal(m->type, "enter_order");
    assert_string_equal(m->key, "O:4294967295");
    assert_non_null(strstr(m->fields, "|price=410.0000|"));
    assert_non_null(strstr(m->fields, "|cl_ord_id=CLORD-9|app.2=LIME|app.3=300|"));
    assert_int_equal(m->flags, CS_MSG_NEW_ORDER); /* a new order on MSFT (tick-to-trade) */
    /* an option running past the end */
    p[47] = 20;
    m = decode(st, &ctx, 0, p, 47 + sizeof(app));
    assert_string_equal(m->type, "enter_order");
    assert_true(m->flags & CS_MSG_MALFORMED);
    cs_decoder_ouch.state_free(st);
}

/* The lengths tell the versions apart; the option fixes one. */
static void test_version_detection_and_option(void **unused)
{
    void *st;
    cs_decode_ctx ctx = {.ops = &o_ops};
    uint8_t p[128];
    const omsg *m;

    /* 5.0 Canceled (18) is no 4.2 length: learnt, kept */
    st = new_state(NULL);
    memset(p, 0, sizeof(p));
    p[0] = 'C';
    put32(p + 9, 42);
    m = decode(st, &ctx, 1, p, 18);
    assert_string_equal(m->type, "canceled");
    assert_string_equal(m->match, "O:42");
    cs_decoder_ouch.state_free(st);

    /* forced 5.0: a 4.2 Enter (49 bytes) has the wrong length */
    st = new_state("5.0");
    build_row(&rows42[0], 1, p);
    m = decode(st, &ctx, 0, p, 49);
    assert_string_equal(m->type, "bad_length");
    assert_int_equal(m->flags, CS_MSG_BAD_LENGTH);
    assert_int_equal(m->role, CS_ROLE_NONE);
    cs_decoder_ouch.state_free(st);

    /* forced 4.2: a 5.0 Executed is no 4.2 message */
    st = new_state("4.2");
    build_row(&rows50[10], 0, p);
    m = decode(st, &ctx, 1, p, 36);
    assert_string_equal(m->type, "bad_length");
    cs_decoder_ouch.state_free(st);
}

static void test_bad_input(void **unused)
{
    void *st = new_state(NULL);
    cs_decode_ctx ctx = {.ops = &o_ops};
    uint8_t p[64] = {'Z', 1, 2, 3};
    cs_decode_input empty = {0, CS_IN_DATAGRAM, p, 0, 0};
    const omsg *m;

    m = decode(st, &ctx, 0, p, 4);
    assert_string_equal(m->type, "unknown");
    assert_int_equal(m->flags, CS_MSG_MALFORMED);
    p[0] = 'O';
    m = decode(st, &ctx, 0, p, 30); /* Enter of no version's length */
    assert_string_equal(m->type, "bad_length");
    assert_int_equal(m->flags, CS_MSG_BAD_LENGTH);
    p[0] = 'E';
    m = decode(st, &ctx, 0, p, 1); /* an outbound type sent inbound */
    assert_string_equal(m->type, "unknown");
    ctx.n = 0;
    assert_int_equal(cs_decoder_ouch.parse(st, &ctx, &empty), 0);
    assert_int_equal(ctx.n, 0);
    cs_decoder_ouch.state_free(st);
}

/* Canceled / Cancel Reject answer a pending Cancel; a full cancel (size
 * 0) also ends the order; without a Cancel they are lifecycle events. */
static void test_cancel_semantics(void **unused)
{
    void *st = new_state(NULL);
    cs_decode_ctx ctx = {.ops = &o_ops};
    uint8_t x[19], c[28], j[24];
    const omsg *m;

    memset(x, 0, sizeof(x));
    x[0] = 'X';
    put_token(x + 1, "K1");
    memset(c, 0, sizeof(c));
    c[0] = 'C';
    put_token(c + 9, "K1");
    m = decode(st, &ctx, 0, x, 19);
    assert_string_equal(m->key, "X:K1");
    m = decode(st, &ctx, 1, c, 28);
    assert_string_equal(m->match, "X:K1");
    assert_string_equal(m->closes, "O:K1");
    assert_int_equal(m->flags, 0);
    m = decode(st, &ctx, 1, c, 28); /* again: nothing pending now */
    assert_string_equal(m->match, "O:K1");
    assert_int_equal(m->flags, LC);
    put32(x + 15, 50); /* reduce to 50: the order goes on */
    decode(st, &ctx, 0, x, 19);
    m = decode(st, &ctx, 1, c, 28);
    assert_string_equal(m->match, "X:K1");
    assert_string_equal(m->closes, "");
    decode(st, &ctx, 0, x, 19);
    c[0] = 'I';
    m = decode(st, &ctx, 1, c, 23);
    assert_string_equal(m->type, "cancel_reject");
    assert_string_equal(m->match, "X:K1");
    assert_string_equal(m->error, "cancel rejected");
    memset(j, 0, sizeof(j));
    j[0] = 'J';
    put_token(j + 9, "K2");
    j[23] = 'Y';
    m = decode(st, &ctx, 1, j, 24);
    assert_string_equal(m->error, "rejected: Y");
    assert_int_equal(m->flags, CS_MSG_LIFECYCLE);
    cs_decoder_ouch.state_free(st);
}

/* ---- part 2: through SoupBinTCP, the analyzer and the pairing ------------ */

typedef struct prec {
    int n_msgs, n_ouch, n_soup, unreq, unresp;
    char meas[16][96]; /* "key resp_type latency attached" */
    int n_meas;
    char unmatched[8][32];
    int n_unm;
    char errors[256];
} prec;

static void p_message(void *ud, const cs_message *m)
{
    prec *r = ud;

    r->n_msgs++;
    r->n_ouch += strcmp(m->proto, "ouch") == 0;
    r->n_soup += strcmp(m->proto, "soupbintcp") == 0;
    if (m->error.len)
        snprintf(r->errors + strlen(r->errors), sizeof(r->errors) - strlen(r->errors), "%.*s;",
                 (int)m->error.len, m->error.p);
}

static void p_measurement(void *ud, const cs_measurement *ms)
{
    prec *r = ud;

    assert_true(r->n_meas < 16);
    assert_string_equal(ms->pair, "ouch");
    snprintf(r->meas[r->n_meas++], sizeof(r->meas[0]), "%.*s %.*s %lld %u", (int)ms->key.len,
             ms->key.p, (int)ms->resp_type.len, ms->resp_type.p, (long long)ms->latency_ns,
             ms->attached);
}

static void p_unmatched(void *ud, const cs_message *m, int kind)
{
    prec *r = ud;

    if (kind == CS_UNMATCHED_REQUEST) {
        r->unreq++;
        if (r->n_unm < 8)
            cpy(r->unmatched[r->n_unm++], sizeof(r->unmatched[0]), m->key);
    } else {
        r->unresp++;
    }
}

typedef struct conn {
    cs_analyzer *a;
    prec r;
    uint32_t seq[2];
    uint32_t ref;
} conn;

static const cs_decoder *const soup_only[] = {&cs_decoder_soupbintcp, NULL};

static void tcp_send(conn *c, int dir, uint8_t flags, const uint8_t *data, uint32_t n, int64_t ts)
{
    cs_packet p;
    cs_layers l;

    memset(&p, 0, sizeof(p));
    memset(&l, 0, sizeof(l));
    p.ts_ns = ts;
    p.caplen = p.wirelen = n;
    p.data = data;
    l.flags = CS_L_IP | CS_L_L4;
    l.ip_version = 4;
    l.ip_proto = 6;
    l.src[0] = l.dst[0] = 10;
    l.src[3] = (uint8_t)(dir ? 2 : 1);
    l.dst[3] = (uint8_t)(dir ? 1 : 2);
    l.sport = dir ? 15000 : 40000;
    l.dport = dir ? 40000 : 15000;
    l.tcp_flags = flags;
    l.tcp_seq = c->seq[dir];
    l.tcp_ack = c->seq[!dir];
    l.payload_len = n;
    l.ip_payload_len = n + 20;
    c->seq[dir] += n + ((flags & 0x03) ? 1 : 0);
    cs_analyzer_packet(c->a, &p, &l, CS_PKTREF(1, 64 * ++c->ref));
}

static void conn_open(conn *c)
{
    cs_analyzer_cfg cfg;
    cs_sink sink;

    memset(c, 0, sizeof(*c));
    cs_analyzer_cfg_default(&cfg);
    cfg.decoders = soup_only;
    sink = (cs_sink){&c->r, p_message, p_measurement, p_unmatched, NULL, NULL};
    assert_int_equal(cs_analyzer_new(&cfg, &sink, &c->a), 0);
    c->seq[0] = 1000;
    c->seq[1] = 5000;
    tcp_send(c, 0, 0x02, NULL, 0, 1);
    tcp_send(c, 1, 0x12, NULL, 0, 2);
    tcp_send(c, 0, 0x10, NULL, 0, 3);
}

/* A SoupBinTCP packet of type "t" around p[0..n) at out; returns its size. */
static size_t soup(uint8_t *out, char t, const uint8_t *p, size_t n)
{
    out[0] = (uint8_t)((n + 1) >> 8);
    out[1] = (uint8_t)(n + 1);
    out[2] = (uint8_t)t;
    if (n)
        memcpy(out + 3, p, n);
    return n + 3;
}

static size_t login_request(uint8_t *out)
{
    uint8_t pl[46];

    memset(pl, ' ', sizeof(pl));
    memcpy(pl, "USER01", 6);
    memcpy(pl + 6, "secret", 6);
    pl[45] = '1';
    return soup(out, 'L', pl, sizeof(pl));
}

static size_t login_accepted(uint8_t *out, const char *session, unsigned seq)
{
    uint8_t pl[30];
    char digits[24];

    memset(pl, ' ', sizeof(pl));
    memcpy(pl, session, strlen(session));
    snprintf(digits, sizeof(digits), "%20u", seq);
    memcpy(pl + 10, digits, 20);
    return soup(out, 'A', pl, sizeof(pl));
}

/* 4.2 messages: Enter, Cancel(size), Replace(existing, new), and the
 * venue's Accepted, Rejected, Executed, Canceled, Replaced(new, prev). */
static size_t m_enter(uint8_t *out, const char *tok)
{
    uint8_t p[49];

    memset(p, 0, sizeof(p));
    p[0] = 'O';
    put_token(p + 1, tok);
    return soup(out, 'U', p, sizeof(p));
}

static size_t m_cancel(uint8_t *out, const char *tok, uint32_t size)
{
    uint8_t p[19];

    p[0] = 'X';
    put_token(p + 1, tok);
    put32(p + 15, size);
    return soup(out, 'U', p, sizeof(p));
}

static size_t m_replace(uint8_t *out, const char *old, const char *tok)
{
    uint8_t p[47];

    memset(p, 0, sizeof(p));
    p[0] = 'U';
    put_token(p + 1, old);
    put_token(p + 15, tok);
    return soup(out, 'U', p, sizeof(p));
}

static size_t m_out(uint8_t *out, char type, size_t len, const char *tok, const char *prev)
{
    uint8_t p[80];

    memset(p, 0, sizeof(p));
    p[0] = (uint8_t)type;
    put_token(p + 9, tok);
    if (prev)
        put_token(p + 65, prev);
    if (type == 'A' || type == 'U')
        p[64] = 'L'; /* order state: live */
    if (type == 'J')
        p[23] = 'X';
    return soup(out, 'S', p, len);
}

static void test_pairs_through_analyzer(void **unused)
{
    conn c;
    uint8_t b[512];
    size_t n;

    conn_open(&c);
    tcp_send(&c, 0, 0x18, b, (uint32_t)login_request(b), 10);
    tcp_send(&c, 1, 0x18, b, (uint32_t)login_accepted(b, "SESS01", 1), 20);
    /* Enter A1, split over two segments; Accepted; two executions */
    n = m_enter(b, "A1");
    tcp_send(&c, 0, 0x18, b, 20, 100);
    tcp_send(&c, 0, 0x18, b + 20, (uint32_t)(n - 20), 101);
    tcp_send(&c, 1, 0x18, b, (uint32_t)m_out(b, 'A', 66, "A1", NULL), 150);
    n = m_out(b, 'E', 40, "A1", NULL);
    n += m_out(b + n, 'E', 40, "A1", NULL); /* coalesced */
    tcp_send(&c, 1, 0x18, b, (uint32_t)n, 170);
    /* Enter R1 -> Rejected; Enter Q1 never answered */
    n = m_enter(b, "R1");
    n += m_enter(b + n, "Q1");
    tcp_send(&c, 0, 0x18, b, (uint32_t)n, 200);
    tcp_send(&c, 1, 0x18, b, (uint32_t)m_out(b, 'J', 24, "R1", NULL), 230);
    /* replace A1 by A2, then A2 by A3; executions of A3 attach */
    tcp_send(&c, 0, 0x18, b, (uint32_t)m_replace(b, "A1", "A2"), 300);
    tcp_send(&c, 1, 0x18, b, (uint32_t)m_out(b, 'U', 80, "A2", "A1"), 340);
    tcp_send(&c, 0, 0x18, b, (uint32_t)m_replace(b, "A2", "A3"), 400);
    tcp_send(&c, 1, 0x18, b, (uint32_t)m_out(b, 'U', 80, "A3", "A2"), 450);
    tcp_send(&c, 1, 0x18, b, (uint32_t)m_out(b, 'E', 40, "A3", NULL), 460);
    /* cancel A3 in full -> Canceled: answers X:A3, ends O:A3 */
    tcp_send(&c, 0, 0x18, b, (uint32_t)m_cancel(b, "A3", 0), 500);
    tcp_send(&c, 1, 0x18, b, (uint32_t)m_out(b, 'C', 28, "A3", NULL), 525);
    /* Enter V1, Accepted, then canceled by the venue (no cancel sent) */
    tcp_send(&c, 0, 0x18, b, (uint32_t)m_enter(b, "V1"), 600);
    tcp_send(&c, 1, 0x18, b, (uint32_t)m_out(b, 'A', 66, "V1", NULL), 610);
    tcp_send(&c, 1, 0x18, b, (uint32_t)m_out(b, 'C', 28, "V1", NULL), 690);
    cs_analyzer_finish(c.a);

    assert_int_equal(c.r.n_meas, 6);
    assert_string_equal(c.r.meas[0], "O:A1 accepted 50 0");
    assert_string_equal(c.r.meas[1], "O:R1 rejected 30 0");
    assert_string_equal(c.r.meas[2], "U:A1 replaced 40 0");
    assert_string_equal(c.r.meas[3], "U:A2 replaced 50 0");
    assert_string_equal(c.r.meas[4], "X:A3 canceled 25 0");
    assert_string_equal(c.r.meas[5], "O:V1 accepted 10 0");
    /* executions, the venue's cancel: lifecycle events, never orphans */
    assert_int_equal(c.r.unresp, 0);
    assert_int_equal(c.r.unreq, 1);
    assert_string_equal(c.r.unmatched[0], "O:Q1");
    assert_string_equal(c.r.errors, "rejected: X;");
    assert_int_equal(c.r.n_soup, 2);  /* login request, login accepted */
    assert_int_equal(c.r.n_ouch, 17); /* every OUCH message, proto "ouch" */
    assert_int_equal(c.r.n_msgs, 19);
    cs_analyzer_free(c.a);
}

/* Without the Replaced, the new order's execution has no order to attach
 * to: an orphan; the replace itself stays unanswered. */
static void test_replace_unanswered_orphan(void **unused)
{
    conn c;
    uint8_t b[512];

    conn_open(&c);
    tcp_send(&c, 0, 0x18, b, (uint32_t)login_request(b), 10);
    tcp_send(&c, 0, 0x18, b, (uint32_t)m_enter(b, "A1"), 100);
    tcp_send(&c, 1, 0x18, b, (uint32_t)m_out(b, 'A', 66, "A1", NULL), 150);
    tcp_send(&c, 0, 0x18, b, (uint32_t)m_replace(b, "A1", "A2"), 300);
    tcp_send(&c, 1, 0x18, b, (uint32_t)m_out(b, 'E', 40, "Z9", NULL), 340);
    cs_analyzer_finish(c.a);
    assert_int_equal(c.r.n_meas, 1);
    assert_int_equal(c.r.unresp, 1);
    assert_int_equal(c.r.unreq, 1);
    assert_string_equal(c.r.unmatched[0], "U:A1");
    cs_analyzer_free(c.a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registered_as_payload_decoder),
        cmocka_unit_test(test_every_type_42),
        cmocka_unit_test(test_every_type_50),
        cmocka_unit_test(test_enter_42_fields),
        cmocka_unit_test(test_older_42_lengths),
        cmocka_unit_test(test_appendages_50),
        cmocka_unit_test(test_version_detection_and_option),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_cancel_semantics),
        cmocka_unit_test(test_pairs_through_analyzer),
        cmocka_unit_test(test_replace_unanswered_orphan),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

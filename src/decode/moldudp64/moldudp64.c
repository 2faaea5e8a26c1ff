/*
 * moldudp64.c - decoder of MoldUDP64 1.00 (UDP), a cs_decoder plug-in
 * (src/decode/decoder.h); each message block is decoded as ITCH 5.0 by the
 * library of src/decode/itch/.
 *
 * Wire format (MoldUDP64 1.00; big-endian), one datagram = one packet:
 *
 *   +-------------+--------------+-------+---------------------------+
 *   | Session 10  | Sequence 8   | Count | Count blocks:             |
 *   | alpha       | of 1st block | 2     | Length 2 | Length bytes   |
 *   +-------------+--------------+-------+---------------------------+
 *   Count 0: heartbeat, 0xFFFF: end of session (no blocks; Sequence is the
 *   next expected number). A request (client -> re-request server) is
 *   exactly the 20-byte header with Count 1..0xFFFE: the first number and
 *   how many are wanted; the answer is an ordinary data packet.
 *
 * Messages out: one per packet, proto "moldudp64", type data / heartbeat /
 * end_of_session / request, fields session (trimmed), seq, count, and
 * retransmission=1 on data below the next expected number of its
 * direction (the answer to a request); then, for each block, one message
 * of proto "itch" covering the block, fields session and seq of that
 * block first, then ITCH's (src/decode/itch/itch.c).
 *
 * Sequence tracking, per flow direction: the session and the next expected
 * number. The first packet of a direction (or of a new session, which also
 * resets the ITCH instrument state) sets it; a data packet, heartbeat or
 * end of session whose number is above it reports cs_decode_seq_gap(stream
 * = session, first = expected, count = seq - expected); data then moves it
 * to seq + the blocks read, a heartbeat or end of session to seq.
 * Retransmissions (data below it) never move it back nor report a gap,
 * but one that reaches past it moves it to its end; a heartbeat below it
 * is late and changes nothing. A direction that answers requests (the
 * other one sent a request: a re-request server's flow) has no sequence
 * of its own: every data packet in it is a retransmission.
 *
 * A/B races: a data packet that is not a retransmission is a sighting
 * (decoder.h CS_ROLE_SIGHTING) of pair "ab" with key and match
 * "<session>:<seq of its first message>"; the analyzer pairs it with the
 * same packet on another flow at the same tap (the other feed), request
 * = the earlier copy.
 *
 * Bad input: a count beyond the blocks present, a block beyond the
 * datagram, or bytes after the last block flag the packet message
 * CS_MSG_BAD_LENGTH; a zero-length block flags it CS_MSG_MALFORMED; the
 * blocks before the fault are decoded and the rest of the datagram is
 * skipped; each is counted in the state (bad_packets). An unknown ITCH
 * type or a bad ITCH length flags that block's message (itch.c). Bounds:
 * only in.len bytes are read (the flow layer hands the UDP payload as the
 * UDP length gives it).
 *
 * Probe (strict, so other UDP is left alone): at least 20 bytes, a session
 * of printable ASCII that does not start with a space, and either Count 0
 * or 0xFFFF with nothing after the header, or Count >= 1 blocks of
 * non-zero length that end exactly at the datagram's end. Otherwise bound
 * by `--decoder-opt moldudp64.ports=N`.
 * State and ownership: per UDP flow the two directions' tracking, the ITCH
 * state and scratch for fields (valid during cs_decode_emit() only).
 * Threading: one state per flow, one thread at a time.
 */
#include "decode/moldudp64/moldudp64.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "decode/itch/itch.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define CS__MOLD_HDR 20
#define CS__MOLD_SESSION 10
#define CS__MOLD_HEARTBEAT 0u
#define CS__MOLD_END 0xFFFFu

typedef struct cs__mold_dir {
    bool known;
    bool requested; /* it sent a request: the other direction answers them */
    char session[CS__MOLD_SESSION];
    uint64_t next; /* the next expected number */
} cs__mold_dir;

typedef struct cs__mold_state {
    cs__mold_dir dir[2];
    cs_itch *itch;
    uint64_t bad_packets;
    char num[3][24];
    char key[CS__MOLD_SESSION + 1 + 24]; /* "<session>:<seq>" of a data packet */
    cs_kv fields[4];
    cs_itch_out out;
} cs__mold_state;

/* How the blocks after the header read: how many whole ones, and the fault. */
typedef struct cs__mold_scan {
    size_t blocks;
    uint32_t fault; /* 0, CS_MSG_BAD_LENGTH or CS_MSG_MALFORMED */
} cs__mold_scan;

/* Reads the block lengths of the datagram p (len bytes, count blocks).
 * With "itch" (parse(), not the probe), each whole block's order-table
 * slot starts loading too (cs_itch_prefetch), so the cache misses of a
 * packet's blocks overlap one another and the decoding before them. */
static cs__mold_scan cs__mold_scan_blocks(const uint8_t *p, size_t len, uint16_t count,
                                          const cs_itch *itch)
{
    cs__mold_scan s = {0, 0};
    cs_cursor c;

    cs_cursor_init(&c, p + CS__MOLD_HDR, len - CS__MOLD_HDR);
    while (s.blocks < count) {
        const uint8_t *lp = cs_cursor_need(&c, 2);
        uint16_t blen;

        if (lp == NULL) {
            s.fault = CS_MSG_BAD_LENGTH;
            return s;
        }
        blen = cs_rd_be16(lp);
        if (blen == 0) {
            s.fault = CS_MSG_MALFORMED;
            return s;
        }
        if (!cs_cursor_skip(&c, blen)) {
            s.fault = CS_MSG_BAD_LENGTH;
            return s;
        }
        if (itch != NULL)
            cs_itch_prefetch(itch, lp + 2, blen);
        s.blocks++;
    }
    if (cs_cursor_left(&c) != 0)
        s.fault = CS_MSG_BAD_LENGTH;
    return s;
}

static bool cs__mold_printable(const uint8_t *p, size_t n)
{
    if (p[0] == ' ')
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return false;
    return true;
}

static cs_probe cs__mold_probe(const uint8_t *data, size_t len, uint8_t dir)
{
    uint16_t count;

    (void)dir;
    if (len < CS__MOLD_HDR || !cs__mold_printable(data, CS__MOLD_SESSION))
        return CS_PROBE_NO;
    count = cs_rd_be16(data + 18);
    if (count == CS__MOLD_HEARTBEAT || count == CS__MOLD_END)
        return len == CS__MOLD_HDR ? CS_PROBE_YES : CS_PROBE_NO;
    if (len == CS__MOLD_HDR)
        return CS_PROBE_NO; /* a request: too little to tell */
    return cs__mold_scan_blocks(data, len, count, NULL).fault == 0 ? CS_PROBE_YES : CS_PROBE_NO;
}

static cs_str cs__mold_session(const uint8_t *p)
{
    size_t n = CS__MOLD_SESSION;

    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\0'))
        n--;
    return (cs_str){(const char *)p, n};
}

static cs_str cs__mold_num(char *buf, size_t cap, uint64_t v)
{
    (void)cap; /* >= 20 bytes: a u64 in decimal */
    return (cs_str){buf, cs_itch_u64_text(buf, v)};
}

static cs_kv cs__mold_kv(const char *name, cs_str val)
{
    return (cs_kv){{name, strlen(name)}, val};
}

static const char *cs__mold_type(uint16_t count, size_t len)
{
    if (count == CS__MOLD_HEARTBEAT)
        return "heartbeat";
    if (count == CS__MOLD_END)
        return "end_of_session";
    return len == CS__MOLD_HDR ? "request" : "data";
}

/* Checks the number against the direction's next expected: reports a gap
 * (or a new session), and says whether it is a retransmission. */
static bool cs__mold_track(cs__mold_state *st, cs_decode_ctx *ctx, uint8_t dir, const uint8_t *p,
                           uint64_t seq)
{
    cs__mold_dir *d = &st->dir[dir & 1];

    if (!d->known || memcmp(d->session, p, CS__MOLD_SESSION) != 0) {
        if (d->known)
            cs_itch_reset(st->itch);
        d->known = true;
        memcpy(d->session, p, CS__MOLD_SESSION);
        d->next = seq;
        return false;
    }
    if (seq < d->next)
        return true;
    if (seq > d->next) {
        cs_seq_gap g = {cs__mold_session(p), d->next, seq - d->next};

        cs_decode_seq_gap(ctx, &g);
        d->next = seq;
    }
    return false;
}

/* A data packet of a feed is a sighting of pair "ab": the same packet on
 * the other feed of an A/B pair (same session and first number, at the
 * same tap) races it. */
static void cs__mold_sighting(cs__mold_state *st, const uint8_t *p, cs_str seq, cs_msg_out *m)
{
    cs_str session = cs__mold_session(p);
    size_t n = session.len;

    memcpy(st->key, session.p, n);
    st->key[n++] = ':';
    memcpy(st->key + n, seq.p, seq.len);
    n += seq.len;
    m->role = CS_ROLE_SIGHTING;
    m->pair = "ab";
    m->key = m->match = (cs_str){st->key, n};
}

/* Emits the packet's own message; "seq" is its Sequence in decimal. */
static void cs__mold_emit_packet(cs__mold_state *st, cs_decode_ctx *ctx, const cs_decode_input *in,
                                 cs_str seq, uint32_t flags, bool retrans)
{
    const uint8_t *p = in->data;
    const char *type = cs__mold_type(cs_rd_be16(p + 18), in->len);
    cs_msg_out m;

    memset(&m, 0, sizeof(m));
    if (!retrans && type[0] == 'd') /* "data" */
        cs__mold_sighting(st, p, seq, &m);
    st->fields[0] = cs__mold_kv("session", cs__mold_session(p));
    st->fields[1] = cs__mold_kv("seq", seq);
    st->fields[2] =
        cs__mold_kv("count", cs__mold_num(st->num[1], sizeof(st->num[1]), cs_rd_be16(p + 18)));
    st->fields[3] = cs__mold_kv("retransmission", (cs_str){"1", 1});
    m.type = (cs_str){type, strlen(type)};
    m.len = in->len;
    m.flags = flags;
    m.fields = st->fields;
    m.n_fields = retrans ? 4 : 3;
    cs_decode_emit(ctx, &m);
}

/* Adds one to the decimal number in buf (n digits, room for one more);
 * returns its new length. */
static size_t cs__mold_text_inc(char *buf, size_t n)
{
    size_t i = n;

    while (i > 0 && buf[i - 1] == '9')
        buf[--i] = '0';
    if (i > 0) {
        buf[i - 1]++;
        return n;
    }
    memmove(buf + 1, buf, n); /* 99..9 + 1: one digit more */
    buf[0] = '1';
    return n + 1;
}

/* Emits the ITCH message of each of the first "blocks" blocks; "first" is
 * the packet's Sequence in decimal (the first block's number). */
static void cs__mold_emit_blocks(cs__mold_state *st, cs_decode_ctx *ctx, const cs_decode_input *in,
                                 cs_str first, size_t blocks)
{
    const uint8_t *p = in->data;
    size_t off = CS__MOLD_HDR;
    cs_itch_out *out = &st->out;
    cs_kv session = cs__mold_kv("session", cs__mold_session(p));
    cs_str seq = {st->num[2], first.len}; /* a copy of first: it counts up block by block */
    /* cleared once per packet, not per block: a block sets what differs */
    cs_msg_out m = {.fields = out->fields, .proto = cs_itch_proto};

    memcpy(st->num[2], first.p, first.len);
    for (size_t i = 0; i < blocks; i++) {
        uint16_t blen = cs_rd_be16(p + off);

        if (i > 0)
            seq.len = cs__mold_text_inc(st->num[2], seq.len);
        out->n_fields = 0;
        out->text_used = 0;
        out->fields[out->n_fields++] = session;
        out->fields[out->n_fields++] = cs__mold_kv("seq", seq);
        cs_itch_decode(st->itch, p + off + 2, blen, out);
        m.type = out->type;
        m.start = off;
        m.len = 2u + blen;
        m.flags = out->flags | (out->instrument.len > 0 ? CS_MSG_TICK : 0);
        m.instrument = out->instrument;
        m.n_fields = out->n_fields;
        cs_decode_emit(ctx, &m);
        off += 2u + blen;
    }
}

static size_t cs__mold_parse(void *state, cs_decode_ctx *ctx, cs_decode_input *in)
{
    cs__mold_state *st = state;
    const uint8_t *p = in->data;
    cs__mold_scan scan = {0, 0};
    uint16_t count;
    uint64_t seq;
    cs_str seq_text;
    bool retrans = false;

    if (in->len < CS__MOLD_HDR) {
        st->bad_packets++;
        return in->len; /* not a MoldUDP64 packet: skipped */
    }
    count = cs_rd_be16(p + 18);
    seq = cs_rd_be64(p + 10);
    seq_text = cs__mold_num(st->num[0], sizeof(st->num[0]), seq); /* once for every use */
    if (in->len == CS__MOLD_HDR && count != CS__MOLD_HEARTBEAT && count != CS__MOLD_END) {
        st->dir[in->dir & 1].requested = true;
        cs__mold_emit_packet(st, ctx, in, seq_text, 0, false); /* a request */
        return in->len;
    }
    if (count == CS__MOLD_HEARTBEAT || count == CS__MOLD_END) {
        if (in->len != CS__MOLD_HDR)
            scan.fault = CS_MSG_BAD_LENGTH;
    } else
        scan = cs__mold_scan_blocks(p, in->len, count, st->itch);
    if (scan.fault != 0)
        st->bad_packets++;
    if (st->dir[(in->dir & 1) ^ 1].requested) /* answers to requests: no sequence of their own */
        retrans = true;
    else
        retrans = cs__mold_track(st, ctx, in->dir, p, seq);
    if (count == CS__MOLD_HEARTBEAT || count == CS__MOLD_END) {
        cs__mold_emit_packet(st, ctx, in, seq_text, scan.fault, false); /* a late one: ignored */
        return in->len;
    }
    cs__mold_emit_packet(st, ctx, in, seq_text, scan.fault, retrans);
    cs__mold_emit_blocks(st, ctx, in, seq_text, scan.blocks);
    if (scan.blocks > 0) {
        cs_seq_span span = {cs__mold_session(p), seq, scan.blocks, retrans};

        cs_decode_seq_seen(ctx, &span);
    }
    if (!st->dir[(in->dir & 1) ^ 1].requested && seq + scan.blocks > st->dir[in->dir & 1].next)
        st->dir[in->dir & 1].next = seq + scan.blocks; /* a retransmission may reach past it */
    return in->len;
}

static void cs__mold_gap(void *state, uint8_t dir)
{
    (void)state;
    (void)dir; /* datagrams: numbers tell what was lost */
}

static void *cs__mold_state_new(const cs_endpoints *flow, const cs_decoder_opts *opts)
{
    cs__mold_state *st = cs_calloc(1, sizeof(*st));

    (void)flow;
    (void)opts;
    if (st == NULL)
        return NULL;
    st->itch = cs_itch_new(0);
    if (st->itch == NULL) {
        cs_free(st);
        return NULL;
    }
    return st;
}

static void cs__mold_state_free(void *state)
{
    cs__mold_state *st = state;

    cs_itch_free(st->itch);
    cs_free(st);
}

static const char *const cs__mold_pairs[] = {"ab", NULL};

const cs_decoder cs_decoder_moldudp64 = {
    .name = "moldudp64",
    .transports = CS_TRANSPORT_UDP,
    .ports = NULL,
    .probe = cs__mold_probe,
    .options = NULL,
    .pairs = cs__mold_pairs,
    .state_new = cs__mold_state_new,
    .state_free = cs__mold_state_free,
    .parse = cs__mold_parse,
    .gap = cs__mold_gap,
};

/*
 * soupbintcp.c - decoder of SoupBinTCP 3.00 (Nasdaq's TCP session protocol
 * under OUCH order entry and ITCH), a cs_decoder plug-in
 * (src/decode/decoder.h) over a TCP byte stream.
 *
 * Wire format (SoupBinTCP 3.00 specification); the logical packets are not
 * aligned to TCP segments:
 *
 *   +----------------+------+---------------------------+
 *   | Packet Length  | Type | payload (Length - 1 bytes) |
 *   | 2, big-endian  | 1    |                            |
 *   +----------------+------+---------------------------+
 *
 *   type  dir  name               payload                       Length
 *   '+'   both debug              text                          1+n
 *   'A'   S>C  login_accepted     Session 10, Sequence 20 (ASCII)  31
 *   'J'   S>C  login_rejected     Reason 1 ('A', 'S')           2
 *   'S'   S>C  sequenced_data     one message (OUCH, ITCH)      1+n
 *   'H'   S>C  server_heartbeat   -                             1
 *   'Z'   S>C  end_of_session     -                             1
 *   'L'   C>S  login_request      Username 6, Password 10,      47
 *                                 Session 10, Sequence 20 (ASCII)
 *   'U'   C>S  unsequenced_data   one message                   1+n
 *   'R'   C>S  client_heartbeat   -                             1
 *   'O'   C>S  logout_request     -                             1
 *   Numeric ASCII and alpha are trimmed of spaces and NULs on both sides.
 *
 * Framing, per direction (how it works):
 *   1. A header is plausible when its Length is 1..CS__SOUP_MAX_LEN, its
 *      type is in the table and a fixed-length type has its Length. A
 *      plausible header waits for its whole packet (in->needed).
 *   2. Otherwise (Length 0, 65535, an unknown type...) the bytes from the
 *      bad header to the next plausible header (step 3) are emitted as one
 *      "bad_packet" message flagged CS_MSG_BAD_LENGTH (a length) or
 *      CS_MSG_MALFORMED (a type), counted in the state, and framing goes on
 *      from there.
 *   3. Resynchronising: the first offset where a plausible header starts
 *      and, when the bytes are there, the header right after its packet is
 *      plausible too. Without one, all but the last two bytes are skipped
 *      (silently until a packet frames again).
 *   After gap() and at the first bytes of a connection picked up mid-stream
 *   the front is resynchronised the same way, without a bad_packet.
 *
 * Sequence numbers: Login Accepted gives the session and the number of the
 * next Sequenced Data packet; each 'S' is numbered from it. A Login
 * Accepted of the same session with a number beyond the one expected (the
 * client re-logged in and the numbers between were never seen) reports
 * cs_decode_seq_gap(stream = session, first = expected, count); so does a
 * Login Request asking for a later number than expected (which then
 * becomes the expected one, so its Login Accepted does not report it
 * twice). After a gap in the venue's direction the numbers are unknown
 * until the next Login Accepted.
 *
 * Message out: session-level packets are messages of proto "soupbintcp",
 * type = the readable name above, fields packet_type (the letter) and the
 * payload's fields (the password of a Login Request is not reported); a
 * Login Rejected carries error "login rejected: <reason>". The payload of
 * 'S' and 'U' goes to the payload decoder named by option
 * `soupbintcp.payload` (default "ouch"; "itch" or any payload decoder of
 * the registry; "none": the packet is a sequenced_data / unsequenced_data
 * message), 'U' as its direction 0 (client) and 'S' as 1 (venue); what it
 * emits is re-emitted with its proto (cs_msg_out.proto), its byte range
 * widened to the whole SoupBinTCP packet (so its time is that of the
 * packet's first byte), and two fields appended: soup_type ("S" or "U")
 * and, for 'S' with a known number, seq. A payload decoder that emits
 * nothing leaves a soupbintcp data message in its place.
 *
 * Probe: a Login Request as the client's first bytes (00 2F 'L'); else
 * bound by `--decoder-opt soupbintcp.ports=N`.
 * State and ownership: per connection the session, the next number, the
 * resync flags, counters, the payload decoder's state and scratch fields
 * (valid during cs_decode_emit() only); no stream bytes are buffered.
 * Threading: one state per connection, one thread at a time.
 */
#include "decode/soupbintcp/soupbintcp.h"

#include "core/alloc.h"
#include "core/cursor.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define CS__SOUP_MAX_LEN 16384u /* longer packets are implausible (step 1) */
#define CS__SOUP_HDR 3          /* length 2 + type 1 */
#define CS__SOUP_SESSION 10
#define CS__SOUP_SEQ_DIGITS 20
#define CS__SOUP_MAX_FIELDS 80 /* payload decoder's fields + 2 */

typedef struct cs__soup_type {
    char type;
    uint16_t len; /* the Length field of a fixed-length type, 0: variable */
    const char *name;
} cs__soup_type;

static const cs__soup_type cs__soup_types[] = {
    {'+', 0, "debug"},          {'A', 31, "login_accepted"},  {'J', 2, "login_rejected"},
    {'S', 0, "sequenced_data"}, {'H', 1, "server_heartbeat"}, {'Z', 1, "end_of_session"},
    {'L', 47, "login_request"}, {'U', 0, "unsequenced_data"}, {'R', 1, "client_heartbeat"},
    {'O', 1, "logout_request"},
};

typedef struct cs__soup_state {
    const cs_decoder *payload; /* NULL: none */
    void *payload_state;
    char session[CS__SOUP_SESSION];
    size_t session_len;
    bool seq_known;
    uint64_t next_seq; /* number of the next 'S' packet */
    bool resync[2];    /* the front must be found again (after a gap) */
    bool skipping[2];  /* in garbage already reported */
    uint64_t bad_packets, skipped_bytes;
    char error[40];
    char seq_text[24];
    cs_kv fields[CS__SOUP_MAX_FIELDS];
} cs__soup_state;

/* The context a payload decoder emits through (decoder.h): its messages
 * come back here and go on to the outer context, widened and tagged. */
struct cs_decode_ctx {
    const cs_decode_ops *ops; /* first (decoder.h): &cs__soup_payload_ops */
    cs_decode_ctx *outer;
    cs__soup_state *st;
    size_t start, len; /* the SoupBinTCP packet in the outer in.data */
    char soup_type;    /* 'S' or 'U' */
    bool has_seq;
    uint64_t seq;
    size_t emitted;
};

static const cs__soup_type *cs__soup_type_of(uint8_t t)
{
    for (size_t i = 0; i < sizeof(cs__soup_types) / sizeof(cs__soup_types[0]); i++)
        if ((uint8_t)cs__soup_types[i].type == t)
            return &cs__soup_types[i];
    return NULL;
}

/* Why the header at p (3 bytes there) is not plausible: 0 if it is,
 * CS_MSG_BAD_LENGTH or CS_MSG_MALFORMED. */
static uint32_t cs__soup_header_fault(const uint8_t *p)
{
    uint16_t len = cs_rd_be16(p);
    const cs__soup_type *t = cs__soup_type_of(p[2]);

    if (len == 0 || len > CS__SOUP_MAX_LEN)
        return CS_MSG_BAD_LENGTH;
    if (t == NULL)
        return CS_MSG_MALFORMED;
    if (t->len != 0 && t->len != len)
        return CS_MSG_BAD_LENGTH;
    return 0;
}

/* True if a packet can start at p[at..n): its header is plausible and so
 * is the next one, when its bytes are there (step 3). */
static bool cs__soup_resync_at(const uint8_t *p, size_t n, size_t at)
{
    size_t next;

    if (n - at < CS__SOUP_HDR || cs__soup_header_fault(p + at) != 0)
        return false;
    next = at + 2 + cs_rd_be16(p + at);
    if (next + CS__SOUP_HDR > n)
        return true;
    return cs__soup_header_fault(p + next) == 0;
}

/* The next offset >= from where a packet can start; n - 2 (or from) if
 * none, keeping a tail that may begin a header; n at EOF. */
static size_t cs__soup_find_resync(const uint8_t *p, size_t n, size_t from, bool eof)
{
    size_t i;

    for (i = from; i + CS__SOUP_HDR <= n; i++)
        if (cs__soup_resync_at(p, n, i))
            return i;
    if (eof)
        return n;
    return n - from > 2 ? n - 2 : from;
}

static cs_str cs__soup_trim(const uint8_t *p, size_t n)
{
    while (n > 0 && (p[0] == ' ' || p[0] == '\0')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\0'))
        n--;
    return (cs_str){(const char *)p, n};
}

/* Numeric ASCII (trimmed); false if it is not all digits (or too long). */
static bool cs__soup_number(const uint8_t *p, size_t n, uint64_t *out)
{
    cs_str s = cs__soup_trim(p, n);
    uint64_t v = 0;

    if (s.len == 0 || s.len > 19)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s.p[i] - '0');
    }
    *out = v;
    return true;
}

static void cs__soup_add(cs__soup_state *st, cs_msg_out *m, const char *name, cs_str val)
{
    if (m->n_fields >= CS__SOUP_MAX_FIELDS)
        return;
    st->fields[m->n_fields].name = (cs_str){name, strlen(name)};
    st->fields[m->n_fields].val = val;
    m->n_fields++;
}

/* Reports the numbers between the expected one and "seq" as missing. */
static void cs__soup_gap_to(cs__soup_state *st, cs_decode_ctx *ctx, uint64_t seq)
{
    cs_seq_gap g;

    if (!st->seq_known || seq <= st->next_seq || st->session_len == 0)
        return;
    g.stream = (cs_str){st->session, st->session_len};
    g.first = st->next_seq;
    g.count = seq - st->next_seq;
    cs_decode_seq_gap(ctx, &g);
}

static bool cs__soup_same_session(const cs__soup_state *st, cs_str s)
{
    return s.len == 0 || (s.len == st->session_len && memcmp(s.p, st->session, s.len) == 0);
}

static void cs__soup_login_accepted(cs__soup_state *st, cs_decode_ctx *ctx, cs_msg_out *m,
                                    const uint8_t *pl)
{
    cs_str session = cs__soup_trim(pl, CS__SOUP_SESSION);
    uint64_t seq;

    cs__soup_add(st, m, "session", session);
    cs__soup_add(st, m, "sequence_number", cs__soup_trim(pl + 10, CS__SOUP_SEQ_DIGITS));
    if (!cs__soup_number(pl + 10, CS__SOUP_SEQ_DIGITS, &seq)) {
        m->flags |= CS_MSG_MALFORMED;
        st->seq_known = false;
        return;
    }
    if (cs__soup_same_session(st, session) && session.len != 0)
        cs__soup_gap_to(st, ctx, seq);
    memcpy(st->session, session.p, session.len);
    st->session_len = session.len;
    st->next_seq = seq;
    st->seq_known = true;
}

static void cs__soup_login_request(cs__soup_state *st, cs_decode_ctx *ctx, cs_msg_out *m,
                                   const uint8_t *pl)
{
    cs_str session = cs__soup_trim(pl + 16, CS__SOUP_SESSION);
    uint64_t seq;

    cs__soup_add(st, m, "username", cs__soup_trim(pl, 6));
    cs__soup_add(st, m, "requested_session", session);
    cs__soup_add(st, m, "requested_sequence_number", cs__soup_trim(pl + 26, CS__SOUP_SEQ_DIGITS));
    if (!cs__soup_number(pl + 26, CS__SOUP_SEQ_DIGITS, &seq)) {
        m->flags |= CS_MSG_MALFORMED;
        return;
    }
    if (seq != 0 && cs__soup_same_session(st, session) && st->seq_known && seq > st->next_seq) {
        cs__soup_gap_to(st, ctx, seq);
        st->next_seq = seq;
    }
}

/* ---- the payload decoder's messages -------------------------------------- */

static void cs__soup_payload_emit(cs_decode_ctx *pctx, const cs_msg_out *pm)
{
    cs__soup_state *st = pctx->st;
    cs_msg_out m = *pm;
    size_t n = pm->n_fields < CS__SOUP_MAX_FIELDS - 2 ? pm->n_fields : CS__SOUP_MAX_FIELDS - 2;

    if (pm->part != CS_PART_WHOLE && pm->part != CS_PART_HEAD)
        return; /* a payload is one whole message */
    if (n)
        memmove(st->fields, pm->fields, n * sizeof(cs_kv));
    m.fields = st->fields;
    m.n_fields = n;
    m.part = CS_PART_WHOLE;
    m.start = pctx->start;
    m.len = pctx->len;
    m.proto = pctx->st->payload->name;
    cs__soup_add(st, &m, "soup_type", (cs_str){pctx->soup_type == 'S' ? "S" : "U", 1});
    if (pctx->has_seq) {
        int w = snprintf(st->seq_text, sizeof(st->seq_text), "%llu", (unsigned long long)pctx->seq);
        cs__soup_add(st, &m, "seq", (cs_str){st->seq_text, (size_t)w});
    }
    pctx->emitted++;
    cs_decode_emit(pctx->outer, &m);
}

static void cs__soup_payload_gap(cs_decode_ctx *pctx, const cs_seq_gap *g)
{
    cs_decode_seq_gap(pctx->outer, g);
}

static const cs_decode_ops cs__soup_payload_ops = {.emit = cs__soup_payload_emit,
                                                   .seq_gap = cs__soup_payload_gap};

/* Hands the payload of data packet [start, start + total) to the payload
 * decoder; returns how many messages it emitted. */
static size_t cs__soup_payload(cs__soup_state *st, cs_decode_ctx *ctx, const cs_decode_input *in,
                               size_t start, size_t total, bool has_seq, uint64_t seq)
{
    char t = (char)in->data[start + 2];
    cs_decode_ctx pctx = {&cs__soup_payload_ops, ctx, st, start, total, t, has_seq, seq, 0};
    cs_decode_input pin;

    if (st->payload == NULL || st->payload_state == NULL || total <= CS__SOUP_HDR)
        return 0;
    memset(&pin, 0, sizeof(pin));
    pin.dir = t == 'S' ? 1 : 0;
    pin.flags = CS_IN_DATAGRAM;
    pin.data = in->data + start + CS__SOUP_HDR;
    pin.len = total - CS__SOUP_HDR;
    st->payload->parse(st->payload_state, &pctx, &pin);
    return pctx.emitted;
}

/* ---- framing ------------------------------------------------------------- */

/* Decodes and emits the whole packet in->data[start, start + total). */
static void cs__soup_packet(cs__soup_state *st, cs_decode_ctx *ctx, const cs_decode_input *in,
                            size_t start, size_t total)
{
    const uint8_t *p = in->data + start, *pl = p + CS__SOUP_HDR;
    const cs__soup_type *t = cs__soup_type_of(p[2]);
    bool has_seq = false;
    uint64_t seq = 0;
    cs_msg_out m;

    if (t->type == 'S') {
        has_seq = st->seq_known;
        seq = st->next_seq;
        st->next_seq += st->seq_known;
    }
    if ((t->type == 'S' || t->type == 'U') &&
        cs__soup_payload(st, ctx, in, start, total, has_seq, seq) > 0)
        return;
    memset(&m, 0, sizeof(m));
    m.type = (cs_str){t->name, strlen(t->name)};
    m.start = start;
    m.len = total;
    m.fields = st->fields;
    cs__soup_add(st, &m, "packet_type", (cs_str){(const char *)p + 2, 1});
    switch (t->type) {
    case 'A':
        cs__soup_login_accepted(st, ctx, &m, pl);
        break;
    case 'L':
        cs__soup_login_request(st, ctx, &m, pl);
        break;
    case 'J': {
        int w = snprintf(st->error, sizeof(st->error), "login rejected: %c", (char)pl[0]);
        cs__soup_add(st, &m, "reject_reason", (cs_str){(const char *)pl, 1});
        m.error = (cs_str){st->error, (size_t)w};
        break;
    }
    case '+':
        cs__soup_add(st, &m, "text", (cs_str){(const char *)pl, total - CS__SOUP_HDR});
        break;
    case 'S':
        if (has_seq) {
            int w = snprintf(st->seq_text, sizeof(st->seq_text), "%llu", (unsigned long long)seq);
            cs__soup_add(st, &m, "seq", (cs_str){st->seq_text, (size_t)w});
        }
        break;
    default:
        break;
    }
    cs_decode_emit(ctx, &m);
}

/* A bad header at in->data[off]: the bytes up to where packets frame again
 * become one bad_packet message (step 2); returns that offset. */
static size_t cs__soup_bad(cs__soup_state *st, cs_decode_ctx *ctx, const cs_decode_input *in,
                           size_t off, uint32_t fault)
{
    bool eof = (in->flags & CS_IN_EOF) != 0;
    size_t next = cs__soup_find_resync(in->data, in->len, off + 1, eof);
    cs_msg_out m;

    st->bad_packets++;
    st->skipped_bytes += next - off;
    st->skipping[in->dir & 1] = !eof && next + CS__SOUP_HDR > in->len;
    memset(&m, 0, sizeof(m));
    m.type = (cs_str){"bad_packet", 10};
    m.start = off;
    m.len = next - off;
    m.flags = fault;
    cs_decode_emit(ctx, &m); /* no fields: the bytes say nothing trustworthy */
    return next;
}

/* Skips to where packets frame again without reporting (after a gap, mid-
 * stream, or in garbage already reported); returns the new offset. */
static size_t cs__soup_skip(cs__soup_state *st, const cs_decode_input *in, size_t off)
{
    uint8_t dir = in->dir & 1;
    size_t next = cs__soup_resync_at(in->data, in->len, off)
                      ? off
                      : cs__soup_find_resync(in->data, in->len, off, (in->flags & CS_IN_EOF) != 0);

    st->skipped_bytes += next - off;
    if (next + CS__SOUP_HDR <= in->len) {
        st->resync[dir] = false;
        st->skipping[dir] = false;
    }
    return next;
}

static size_t cs__soup_parse(void *state, cs_decode_ctx *ctx, cs_decode_input *in)
{
    cs__soup_state *st = state;
    uint8_t dir = in->dir & 1;
    size_t off = 0;

    in->needed = 0;
    if (in->flags & CS_IN_MIDSTREAM)
        st->resync[dir] = true;
    while (off < in->len) {
        size_t left = in->len - off, total;
        uint32_t fault;

        if (st->resync[dir] || st->skipping[dir]) {
            off = cs__soup_skip(st, in, off);
            if (st->resync[dir] || st->skipping[dir])
                break; /* no packet start in sight yet */
            continue;
        }
        if (left < CS__SOUP_HDR) {
            if (left == 2 && cs_rd_be16(in->data + off) == 0) {
                off = cs__soup_bad(st, ctx, in, off, CS_MSG_BAD_LENGTH);
                continue;
            }
            in->needed = CS__SOUP_HDR;
            break;
        }
        fault = cs__soup_header_fault(in->data + off);
        if (fault != 0) {
            off = cs__soup_bad(st, ctx, in, off, fault);
            continue;
        }
        total = 2 + (size_t)cs_rd_be16(in->data + off);
        if (left < total) {
            if (in->flags & CS_IN_EOF) {
                off = in->len; /* a packet cut by the end: nothing to decode */
                break;
            }
            in->needed = total;
            break;
        }
        cs__soup_packet(st, ctx, in, off, total);
        off += total;
    }
    if ((in->flags & CS_IN_EOF) && off < in->len)
        off = in->len;
    return off;
}

static void cs__soup_gap(void *state, uint8_t dir)
{
    cs__soup_state *st = state;

    st->resync[dir & 1] = true;
    st->skipping[dir & 1] = false;
    if ((dir & 1) == 1)
        st->seq_known = false; /* 'S' packets may have been lost */
    if (st->payload != NULL && st->payload_state != NULL)
        st->payload->gap(st->payload_state, dir);
}

/* The payload decoder named by option "payload" (default "ouch"): a
 * decoder of the registry other than this one, or none. */
static const cs_decoder *cs__soup_payload_decoder(const cs_decoder_opts *opts)
{
    const char *v = cs_decoder_opt_get(opts, "payload");
    const cs_decoder *d;

    if (v == NULL)
        v = "ouch";
    if (strcmp(v, "none") == 0)
        return NULL;
    d = cs_decoder_find(v);
    return d == &cs_decoder_soupbintcp ? NULL : d;
}

static void *cs__soup_state_new(const cs_endpoints *flow, const cs_decoder_opts *opts)
{
    cs__soup_state *st = cs_calloc(1, sizeof(*st));

    if (st == NULL)
        return NULL;
    st->payload = cs__soup_payload_decoder(opts);
    if (st->payload != NULL) {
        cs_decoder_opts popts = {opts != NULL ? opts->set : NULL, st->payload};

        st->payload_state = st->payload->state_new(flow, &popts);
        if (st->payload_state == NULL) {
            cs_free(st);
            return NULL;
        }
    }
    return st;
}

static void cs__soup_state_free(void *state)
{
    cs__soup_state *st = state;

    if (st->payload != NULL && st->payload_state != NULL)
        st->payload->state_free(st->payload_state);
    cs_free(st);
}

static cs_probe cs__soup_probe(const uint8_t *data, size_t len, uint8_t dir)
{
    static const uint8_t login[CS__SOUP_HDR] = {0x00, 47, 'L'};
    size_t n = len < CS__SOUP_HDR ? len : CS__SOUP_HDR;

    if (dir != 0 || memcmp(data, login, n) != 0)
        return CS_PROBE_NO;
    return len < CS__SOUP_HDR ? CS_PROBE_NEED_MORE : CS_PROBE_YES;
}

static const char *const cs__soup_pairs[] = {"ouch", NULL};
static const char *const cs__soup_options[] = {"payload", NULL};

const cs_decoder cs_decoder_soupbintcp = {
    .name = "soupbintcp",
    .transports = CS_TRANSPORT_TCP,
    .ports = NULL,
    .probe = cs__soup_probe,
    .options = cs__soup_options,
    .pairs = cs__soup_pairs,
    .state_new = cs__soup_state_new,
    .state_free = cs__soup_state_free,
    .parse = cs__soup_parse,
    .gap = cs__soup_gap,
};

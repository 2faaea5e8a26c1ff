/*
 * fix.c - decoder of FIX tag=value messages (FIX 4.0-4.4, FIXT.1.1) over a
 * TCP byte stream, as a cs_decoder plug-in (src/decode/decoder.h).
 *
 * Wire format (FIX Transport, "Standard Message Header/Trailer"); SOH = 0x01:
 *
 *   8=FIX.4.4|9=0123|35=D|49=...|11=ORD1|...|10=045|
 *   \_______/\_____/\________________________/\_____/
 *   BeginString  |   body: BodyLength(9) bytes, CheckSum(10): 3 digits,
 *   (first)  BodyLength  from after the SOH of   sum of every byte before
 *            (second)    9= up to and including  "10=" modulo 256
 *                        the SOH before "10="
 *
 * Framing, per message starting at "8=FIX" (how it works):
 *   1. BeginString and BodyLength must end with SOH within a few bytes.
 *      While they are incomplete the message needs more bytes.
 *   2. If BodyLength is plausible (digits, <= CS__FIX_MAX_BODY) the trailer
 *      "10=ddd|" must sit right after the body. If all those bytes are there
 *      and it does, the message is framed exactly. If the stream is shorter
 *      than the declared end, the decoder waits (in->needed = declared
 *      total), unless a complete trailer followed by the next "8=FIX" is
 *      already visible, which proves BodyLength wrong.
 *   3. Otherwise (BodyLength wrong, missing or absurd) the decoder scans for
 *      the first "|10=ddd|" after the header and flags CS_MSG_BAD_LENGTH.
 *      If another "8=FIX" comes first, the bytes before it are garbage and
 *      are dropped without an emit. The scan is bounded by CS__FIX_MAX_SCAN
 *      bytes; a candidate without a trailer that far is dropped as well.
 *   4. A CheckSum that does not match sets CS_MSG_BAD_CHECKSUM; the message
 *      is still emitted.
 * The BeginString value must start with "FIX." or "FIXT."; other "8=FIX..."
 * headers (FIXCOMP compressed FIX, for one) are garbage.
 * Anything that does not start with "8=FIX" (garbage, a connection picked up
 * mid-stream, bytes after a gap) is consumed up to the next "8=FIX" and
 * never emitted. Right after gap(), a candidate at the very front of the
 * data must frame exactly by BodyLength (step 2), else it is treated as
 * garbage: a flow layer that kept the unconsumed head of a message across
 * the lost bytes would glue it to the tail of another. A candidate found by
 * scanning is a real message start and frames normally.
 * At CS_IN_EOF an unfinished message whose BeginString and BodyLength are
 * complete is emitted with CS_MSG_TRUNCATED and its complete fields; a
 * shorter leftover is dropped.
 *
 * Message out: type = MsgType(35); fields = every tag=value in wire order,
 * 8, 9 and 10 included (name = tag text, val = value). Roles (pair "fix"):
 *   35=D NewOrderSingle, F OrderCancelRequest, G OrderCancelReplaceRequest
 *        -> request, key = match = ClOrdID(11)
 *   35=8 ExecutionReport, 9 OrderCancelReject -> response, match = ClOrdID(11)
 *   anything else, or no ClOrdID -> none.
 * Order lifecycle (FIX 4.2-5.0 ExecutionReport semantics): every
 * ExecutionReport with a ClOrdID is CS_MSG_LIFECYCLE: the first for a
 * ClOrdID answers its request (the measurement: order -> first report,
 * given out at once); later ones (fills, restatements) are attached to the
 * order, not orphans. It is CS_MSG_MORE (more reports follow) unless its
 * OrdStatus(39) ends the order: 2 Filled, 3 Done for day, 4 Canceled,
 * 8 Rejected, C Expired. A report with ExecType(150) 4 Canceled or
 * 5 Replaced and an OrigClOrdID(41) also ends the lifecycle of the order
 * named by 41 ("closes"): a replace ends the old ClOrdID and its new
 * ClOrdID (that of the 35=G request it answers) carries the order on; a
 * cancel ends the order it cancels. OrderCancelReject(35=9) only answers
 * its own request.
 * Errors ("error"): 35=3 Reject, 35=j BusinessMessageReject, 35=9
 * OrderCancelReject, and an ExecutionReport with 150=8 or 39=8 (Rejected).
 * A message without MsgType, or with a field lacking '=', is flagged
 * CS_MSG_MALFORMED. Fields beyond CS__FIX_MAX_FIELDS are not reported.
 *
 * CS_IN_MIDSTREAM needs nothing more than the garbage scan.
 * State and ownership: the per-connection state is two "after gap" bits; the
 * decoder never buffers stream bytes (the flow layer re-offers what parse()
 * did not consume). Emitted fields point into in->data and into a
 * thread-local scratch array, valid during cs_decode_emit() only.
 * Threading: one state per connection, used by one thread at a time.
 */
#include "decode/fix/fix.h"

#include "core/alloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define CS__FIX_MAX_FIELDS 2048
#define CS__FIX_MAX_BODY (1u << 20)    /* larger BodyLength is implausible */
#define CS__FIX_MAX_SCAN (64u * 1024u) /* bytes searched for a trailer */
#define CS__FIX_MAX_BEGIN 32           /* "8=FIXT.1.1|" fits easily */
#define CS__FIX_MAX_LEN_DIGITS 8
#define CS__FIX_TRAILER 7 /* "10=ddd|" */

static const char cs__fix_begin[] = "8=FIX";
#define CS__FIX_BEGIN_LEN 5
#define CS__FIX_SOH 0x01

typedef struct cs__fix_state {
    bool after_gap[2]; /* a candidate at the front must frame exactly */
} cs__fix_state;

/* What framing found at the start of a candidate message. */
typedef enum cs__fix_verdict {
    CS__FIX_NEED, /* wait for more bytes (needed may say how many) */
    CS__FIX_MSG,  /* a message of "len" bytes, flags in "flags" */
    CS__FIX_SKIP, /* "len" bytes of garbage to drop */
} cs__fix_verdict;

typedef struct cs__fix_frame {
    cs__fix_verdict verdict;
    size_t len;
    size_t needed;
    uint32_t flags;
} cs__fix_frame;

static _Thread_local cs_kv cs__fix_fields[CS__FIX_MAX_FIELDS];

static bool cs__fix_is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* True if p[0..n) starts with the "k" bytes of "s" (n may be short). */
static bool cs__fix_has(const uint8_t *p, size_t n, const char *s, size_t k)
{
    return n >= k && memcmp(p, s, k) == 0;
}

/* True if "8=FIX" could still start at p[0..n) given more bytes. */
static bool cs__fix_is_begin_prefix(const uint8_t *p, size_t n)
{
    return n < CS__FIX_BEGIN_LEN && memcmp(p, cs__fix_begin, n) == 0;
}

/* Offset of the first "8=FIX" in p[from..n), or n if none. */
static size_t cs__fix_find_begin(const uint8_t *p, size_t n, size_t from)
{
    const void *hit;

    if (from >= n)
        return n;
    hit = memmem(p + from, n - from, cs__fix_begin, CS__FIX_BEGIN_LEN);
    return hit ? (size_t)((const uint8_t *)hit - p) : n;
}

/* True if a trailer "10=ddd|" starts at p[at] (bounds checked). */
static bool cs__fix_trailer_at(const uint8_t *p, size_t n, size_t at)
{
    if (at > n || n - at < CS__FIX_TRAILER)
        return false;
    p += at;
    return p[0] == '1' && p[1] == '0' && p[2] == '=' && cs__fix_is_digit(p[3]) &&
           cs__fix_is_digit(p[4]) && cs__fix_is_digit(p[5]) && p[6] == CS__FIX_SOH;
}

/* Offset just past the SOH ending the field at p[from..], searching at most
 * "max" bytes, or 0 if there is none there. */
static size_t cs__fix_field_end(const uint8_t *p, size_t n, size_t from, size_t max)
{
    const uint8_t *soh;
    size_t span;

    if (from >= n)
        return 0;
    span = n - from < max ? n - from : max;
    soh = memchr(p + from, CS__FIX_SOH, span);
    return soh ? (size_t)(soh - p) + 1 : 0;
}

/*
 * Scans "p[0..n)" (a candidate starting with "8=FIX") from "from" for the
 * first "|10=ddd|" or for the next "8=FIX", whichever comes first.
 */
static void cs__fix_scan_trailer(const uint8_t *p, size_t n, size_t from, bool eof,
                                 cs__fix_frame *fr)
{
    size_t limit = n < CS__FIX_MAX_SCAN ? n : CS__FIX_MAX_SCAN;
    size_t i;

    for (i = from; i < limit; i++) {
        if (p[i] == CS__FIX_SOH && cs__fix_trailer_at(p, n, i + 1)) {
            fr->verdict = CS__FIX_MSG;
            fr->len = i + 1 + CS__FIX_TRAILER;
            fr->flags |= CS_MSG_BAD_LENGTH;
            return;
        }
        if (i > 0 && p[i] == '8' && cs__fix_has(p + i, n - i, cs__fix_begin, CS__FIX_BEGIN_LEN)) {
            fr->verdict = CS__FIX_SKIP;
            fr->len = i;
            return;
        }
    }
    if (n >= CS__FIX_MAX_SCAN) {
        fr->verdict = CS__FIX_SKIP;
        fr->len = limit - CS__FIX_TRAILER - 1;
    } else if (eof) {
        fr->verdict = CS__FIX_MSG;
        fr->len = n;
        fr->flags |= CS_MSG_TRUNCATED;
    } else {
        fr->verdict = CS__FIX_NEED;
        fr->needed = n + 1;
    }
}

/* True if a complete trailer followed by "8=FIX" appears in p[from..n):
 * proof that a BodyLength pointing beyond "n" is wrong. */
static bool cs__fix_early_trailer(const uint8_t *p, size_t n, size_t from)
{
    size_t i;

    for (i = from; i + 1 + CS__FIX_TRAILER < n; i++) {
        size_t next = i + 1 + CS__FIX_TRAILER;

        if (p[i] == CS__FIX_SOH && cs__fix_trailer_at(p, n, i + 1) &&
            cs__fix_has(p + next, n - next, cs__fix_begin, CS__FIX_BEGIN_LEN))
            return true;
    }
    return false;
}

/* True if the BeginString field p[0..h1) reads "8=FIX." or "8=FIXT." (h1 is
 * the offset past its SOH, so p[5] exists, and p[6] too when p[5] != SOH). */
static bool cs__fix_begin_string_ok(const uint8_t *p, size_t h1)
{
    return p[5] == '.' || (p[5] == 'T' && h1 > 7 && p[6] == '.');
}

/* Parses "9=digits|" at p[at..]; returns the offset past its SOH and sets
 * "*body_len", or 0 if it is not a plausible BodyLength field. */
static size_t cs__fix_body_length(const uint8_t *p, size_t n, size_t at, size_t *body_len)
{
    size_t i = at + 2, v = 0;

    if (!cs__fix_has(p + at, n - at, "9=", 2))
        return 0;
    for (; i < n && cs__fix_is_digit(p[i]); i++) {
        if (i - at - 2 >= CS__FIX_MAX_LEN_DIGITS)
            return 0;
        v = v * 10 + (size_t)(p[i] - '0');
    }
    if (i == at + 2 || i >= n || p[i] != CS__FIX_SOH || v > CS__FIX_MAX_BODY)
        return 0;
    *body_len = v;
    return i + 1;
}

/*
 * Frames the candidate message at "p[0..n)", which starts with "8=FIX".
 * "strict": after a gap, only an exact BodyLength framing is accepted.
 */
static void cs__fix_frame_at(const uint8_t *p, size_t n, bool eof, bool strict, cs__fix_frame *fr)
{
    size_t h1, h2, body_len = 0, end;

    memset(fr, 0, sizeof(*fr));
    h1 = cs__fix_field_end(p, n, 0, CS__FIX_MAX_BEGIN);
    if (h1 == 0) {
        bool short_input = n < CS__FIX_MAX_BEGIN;

        fr->verdict = short_input && !eof ? CS__FIX_NEED : CS__FIX_SKIP;
        fr->len = short_input ? n : 1;
        return;
    }
    if (!cs__fix_begin_string_ok(p, h1)) {
        fr->verdict = CS__FIX_SKIP; /* "8=FIXCOMP", "8=FIXML"...: not tag=value FIX */
        fr->len = 1;
        return;
    }
    if (cs__fix_field_end(p, n, h1, CS__FIX_MAX_LEN_DIGITS + 3) == 0 &&
        n - h1 < CS__FIX_MAX_LEN_DIGITS + 3 && !eof) {
        fr->verdict = CS__FIX_NEED;
        return;
    }
    h2 = cs__fix_body_length(p, n, h1, &body_len);
    if (h2 == 0) {
        if (strict) {
            fr->verdict = CS__FIX_SKIP;
            fr->len = 1;
            return;
        }
        if (cs__fix_field_end(p, n, h1, CS__FIX_MAX_LEN_DIGITS + 3) == 0) {
            /* No usable BodyLength field at all: truncated at EOF or junk. */
            fr->verdict = CS__FIX_SKIP;
            fr->len = eof ? n : 1;
            return;
        }
        cs__fix_scan_trailer(p, n, h1 - 1, eof, fr);
        return;
    }
    end = h2 + body_len;
    if (n >= end + CS__FIX_TRAILER) {
        if (p[end - 1] == CS__FIX_SOH && cs__fix_trailer_at(p, n, end)) {
            fr->verdict = CS__FIX_MSG;
            fr->len = end + CS__FIX_TRAILER;
            return;
        }
    } else if (!eof && !cs__fix_early_trailer(p, n, h2 - 1)) {
        fr->verdict = CS__FIX_NEED;
        fr->needed = end + CS__FIX_TRAILER;
        return;
    }
    if (strict) {
        fr->verdict = CS__FIX_SKIP;
        fr->len = 1;
        return;
    }
    cs__fix_scan_trailer(p, n, h2 - 1, eof, fr);
}

/* Checks CheckSum(10) of the exactly framed message p[0..n). */
static bool cs__fix_checksum_ok(const uint8_t *p, size_t n)
{
    size_t i, body = n - CS__FIX_TRAILER;
    unsigned sum = 0, want;

    for (i = 0; i < body; i++)
        sum += p[i];
    want = (unsigned)(p[body + 3] - '0') * 100 + (unsigned)(p[body + 4] - '0') * 10 +
           (unsigned)(p[body + 5] - '0');
    return (sum & 0xff) == want;
}

static cs_str cs__fix_str(const uint8_t *p, size_t n)
{
    cs_str s = {(const char *)p, n};
    return s;
}

static bool cs__fix_str_is(cs_str s, const char *lit)
{
    size_t k = strlen(lit);
    return s.len == k && memcmp(s.p, lit, k) == 0;
}

/* Splits p[0..n) into SOH-terminated tag=value fields (an unterminated tail
 * is ignored) into the scratch array; fills type, ClOrdID and flags. */
static size_t cs__fix_split_fields(const uint8_t *p, size_t n, cs_msg_out *m, cs_str *clordid)
{
    size_t off = 0, count = 0;
    bool have_type = false;

    while (off < n && count < CS__FIX_MAX_FIELDS) {
        const uint8_t *soh = memchr(p + off, CS__FIX_SOH, n - off);
        const uint8_t *field = p + off, *eq;
        size_t flen;
        cs_kv *kv = &cs__fix_fields[count];

        if (soh == NULL)
            break;
        flen = (size_t)(soh - field);
        eq = memchr(field, '=', flen);
        if (eq == NULL) {
            kv->name = cs__fix_str(field, flen);
            kv->val = cs__fix_str(soh, 0);
            m->flags |= CS_MSG_MALFORMED;
        } else {
            kv->name = cs__fix_str(field, (size_t)(eq - field));
            kv->val = cs__fix_str(eq + 1, (size_t)(soh - eq - 1));
        }
        if (!have_type && cs__fix_str_is(kv->name, "35")) {
            m->type = kv->val;
            have_type = true;
        } else if (clordid->p == NULL && cs__fix_str_is(kv->name, "11")) {
            *clordid = kv->val;
        }
        count++;
        off = (size_t)(soh - p) + 1;
    }
    if (!have_type)
        m->flags |= CS_MSG_MALFORMED;
    return count;
}

/* Sets role, pair, key and match from MsgType and ClOrdID. */
static void cs__fix_role(cs_msg_out *m, cs_str clordid)
{
    static const char *const requests[] = {"D", "F", "G"};
    static const char *const responses[] = {"8", "9"};
    size_t i;

    if (clordid.p == NULL)
        return;
    for (i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
        if (cs__fix_str_is(m->type, requests[i])) {
            m->role = CS_ROLE_REQ;
            m->key = clordid;
        }
    }
    for (i = 0; i < sizeof(responses) / sizeof(responses[0]); i++) {
        if (cs__fix_str_is(m->type, responses[i]))
            m->role = CS_ROLE_RESP;
    }
    if (m->role != CS_ROLE_NONE) {
        m->pair = "fix";
        m->match = clordid;
    }
}

/* The value of the first field "tag" of "m", or an empty string. */
static cs_str cs__fix_field(const cs_msg_out *m, const char *tag)
{
    cs_str none = {NULL, 0};

    for (size_t i = 0; i < m->n_fields; i++)
        if (cs__fix_str_is(m->fields[i].name, tag))
            return m->fields[i].val;
    return none;
}

/* Why "m" reports an error, or empty: a session Reject (35=3), a
 * BusinessMessageReject (35=j), an OrderCancelReject (35=9), or an
 * ExecutionReport (35=8) whose ExecType(150) or OrdStatus(39) is 8
 * (Rejected). */
static cs_str cs__fix_error(const cs_msg_out *m)
{
    static const struct {
        const char *type, *reason;
    } rejects[] = {{"3", "session reject"}, {"j", "business reject"}, {"9", "cancel reject"}};
    cs_str r = {NULL, 0};

    for (size_t i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++)
        if (cs__fix_str_is(m->type, rejects[i].type))
            r = (cs_str){rejects[i].reason, strlen(rejects[i].reason)};
    if (cs__fix_str_is(m->type, "8") && (cs__fix_str_is(cs__fix_field(m, "150"), "8") ||
                                         cs__fix_str_is(cs__fix_field(m, "39"), "8")))
        r = (cs_str){"order rejected", strlen("order rejected")};
    return r;
}

/* The pairing hints and "closes" of an ExecutionReport with a ClOrdID (see
 * "Order lifecycle" above). */
static void cs__fix_lifecycle(cs_msg_out *m)
{
    cs_str status = cs__fix_field(m, "39"), exec = cs__fix_field(m, "150");
    int ends = cs__fix_str_is(status, "2") || cs__fix_str_is(status, "3") ||
               cs__fix_str_is(status, "4") || cs__fix_str_is(status, "8") ||
               cs__fix_str_is(status, "C");

    if (m->role != CS_ROLE_RESP || !cs__fix_str_is(m->type, "8"))
        return;
    m->flags |= CS_MSG_LIFECYCLE | (ends ? 0 : CS_MSG_MORE);
    if (cs__fix_str_is(exec, "4") || cs__fix_str_is(exec, "5"))
        m->closes = cs__fix_field(m, "41");
}

/* Decodes and emits the framed message in->data[start .. start + fr->len). */
static void cs__fix_emit(cs_decode_ctx *ctx, const cs_decode_input *in, size_t start,
                         const cs__fix_frame *fr)
{
    const uint8_t *p = in->data + start;
    cs_msg_out m;
    cs_str clordid = {NULL, 0};

    memset(&m, 0, sizeof(m));
    m.start = start;
    m.len = fr->len;
    m.flags = fr->flags;
    if (!(fr->flags & CS_MSG_TRUNCATED) && !cs__fix_checksum_ok(p, fr->len))
        m.flags |= CS_MSG_BAD_CHECKSUM;
    m.n_fields = cs__fix_split_fields(p, fr->len, &m, &clordid);
    m.fields = cs__fix_fields;
    cs__fix_role(&m, clordid);
    cs__fix_lifecycle(&m);
    m.error = cs__fix_error(&m);
    if (m.role == CS_ROLE_REQ && cs__fix_str_is(m.type, "D") &&
        (m.instrument = cs__fix_field(&m, "55")).len > 0)
        m.flags |= CS_MSG_NEW_ORDER; /* a NewOrderSingle on Symbol(55): tick-to-trade */
    cs_decode_emit(ctx, &m);
}

/*
 * Consumes garbage at in->data[off..): returns the offset of the next
 * "8=FIX", or, if there is none, of a tail that may be its beginning (the
 * end of the data at EOF).
 */
static size_t cs__fix_skip_garbage(const cs_decode_input *in, size_t off)
{
    size_t next = cs__fix_find_begin(in->data, in->len, off);
    size_t tail;

    if (next < in->len || (in->flags & CS_IN_EOF))
        return next;
    for (tail = in->len - off < CS__FIX_BEGIN_LEN ? off : in->len - CS__FIX_BEGIN_LEN + 1;
         tail < in->len; tail++) {
        if (cs__fix_is_begin_prefix(in->data + tail, in->len - tail))
            return tail;
    }
    return in->len;
}

static size_t cs__fix_parse(void *state, cs_decode_ctx *ctx, cs_decode_input *in)
{
    cs__fix_state *st = state;
    uint8_t dir = in->dir & 1;
    bool eof = (in->flags & CS_IN_EOF) != 0;
    size_t off = 0;

    in->needed = 0;
    while (off < in->len) {
        cs__fix_frame fr;

        if (!cs__fix_has(in->data + off, in->len - off, cs__fix_begin, CS__FIX_BEGIN_LEN)) {
            size_t next = cs__fix_skip_garbage(in, off);

            if (next == off) {
                in->needed = CS__FIX_BEGIN_LEN;
                break;
            }
            off = next;
            st->after_gap[dir] = false; /* the next candidate was found by scanning */
            continue;
        }
        cs__fix_frame_at(in->data + off, in->len - off, eof, st->after_gap[dir] && off == 0, &fr);
        if (fr.verdict == CS__FIX_NEED) {
            in->needed = fr.needed;
            break;
        }
        if (fr.verdict == CS__FIX_MSG)
            cs__fix_emit(ctx, in, off, &fr);
        st->after_gap[dir] = false; /* one suspect candidate at most */
        off += fr.len;
    }
    return off;
}

static void cs__fix_gap(void *state, uint8_t dir)
{
    cs__fix_state *st = state;

    st->after_gap[dir & 1] = true;
}

static void *cs__fix_state_new(const cs_endpoints *flow, const cs_decoder_opts *opts)
{
    return cs_calloc(1, sizeof(cs__fix_state));
}

static void cs__fix_state_free(void *state)
{
    cs_free(state);
}

static cs_probe cs__fix_probe(const uint8_t *data, size_t len, uint8_t dir)
{
    if (len >= CS__FIX_BEGIN_LEN)
        return memcmp(data, cs__fix_begin, CS__FIX_BEGIN_LEN) == 0 ? CS_PROBE_YES : CS_PROBE_NO;
    return cs__fix_is_begin_prefix(data, len) ? CS_PROBE_NEED_MORE : CS_PROBE_NO;
}

static const char *const cs__fix_pairs[] = {"fix", NULL};

const cs_decoder cs_decoder_fix = {
    .pairs = cs__fix_pairs,
    .name = "fix",
    .transports = CS_TRANSPORT_TCP,
    .ports = NULL,
    .probe = cs__fix_probe,
    .state_new = cs__fix_state_new,
    .state_free = cs__fix_state_free,
    .parse = cs__fix_parse,
    .gap = cs__fix_gap,
};

/*
 * analyzer_stream.c - a flow direction's bytes into messages: the stream
 * buffer, parse(), message ids, held messages and their delivery.
 *
 * The stream of one direction (how timestamps and refs survive buffering):
 *
 *   buf:  [ unconsumed bytes, stream offsets off .. off+len )
 *   map:  (offset, ts, ref) for each run of bytes that came in one packet,
 *         sorted by offset; entry i covers [map[i].off, map[i+1].off)
 *
 *   New in-order bytes are handed to parse() straight from the packet when
 *   nothing is buffered (zero copy, with a one-entry map on the stack);
 *   only what the decoder leaves unconsumed is copied. Otherwise they are
 *   appended to buf (and map) and parse() sees buf. A message at
 *   in.data[start, start+len) is stream [base+start, ...): binary search in
 *   the map gives the packet of its first byte (ts_ns, message id) and of its
 *   last byte (last_ts_ns); the entries between give its refs. Because
 *   tcp_reasm delivers each byte once, from the first packet that carried
 *   it, out-of-order and retransmitted bytes keep their true timestamps.
 *
 * Held messages (a body that follows its head, decoder.h CS_PART_*): the
 * message is copied into its stream's "held" slot (its strings, fields and
 * refs owned there, the buffers reused by the next one) and each body part
 * appends the refs of its bytes, de-duplicated against the last, up to
 * HELD_MAX_REFS; it is delivered (sink, then pairing) at its end part, or
 * as it is at a gap, at the end of the direction, when its direction emits
 * another message, or when the other direction emits a response.
 *
 * Message ids: (ref of the packet with the first byte, k), k counting the
 * messages that started in that packet, any number of them (message.h says
 * how k >= 256 stays unique); a few recent (ref, k) per direction are kept
 * because several parse() calls may start messages in one packet. The
 * messages of one packet are consecutive in its direction's stream, so its
 * ref never leaves the recent ones while messages still start in it.
 * Packets not stored (ref 0) get ids from a counter with the top bit set.
 *
 * Delivery (deliver): a flow analyzer of a sharded analysis logs it
 * (anlog.h); otherwise deliver_now() hands it to the sink, the pairings
 * and tick-to-trade, as the correlating analyzer does with a logged one.
 */
#include "analytics/analyzer_int.h"
#include "analytics/pairing.h"
#include "analytics/t2t.h"
#include "core/alloc.h"
#include "core/error.h"

#include <string.h>

/* ---- stream buffer ---------------------------------------------------- */

void cs__an_stream_clear(stream *s)
{
    s->len = 0;
    s->n_map = 0;
    s->needed = 0;
    if (s->cap > SHRINK_ABOVE) {
        cs_free(s->buf);
        s->buf = NULL;
        s->cap = 0;
    }
}

static void held_free(heldmsg *h)
{
    if (h == NULL)
        return;
    cs_free(h->bytes);
    cs_free(h->fields);
    cs_free(h->refs);
    cs_free(h);
}

void cs__an_stream_release(stream *s)
{
    held_free(s->held);
    cs_free(s->buf);
    cs_free(s->map);
    memset(s, 0, sizeof(*s));
}

int cs__an_stream_append(stream *s, uint64_t off, const uint8_t *p, size_t n, int64_t ts,
                         cs_pktref ref)
{
    if (n == 0)
        return 0;
    if ((uint64_t)s->len + n > UINT32_MAX)
        return CS_ELIMIT;
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 512;
        uint8_t *nb;
        while (cap < s->len + n)
            cap *= 2;
        nb = cs_realloc(s->buf, cap);
        if (nb == NULL)
            return CS_ENOMEM;
        s->buf = nb;
        s->cap = (uint32_t)cap;
    }
    if (s->len == 0) {
        s->off = off;
        s->n_map = 0;
    }
    if (s->n_map == 0 || s->map[s->n_map - 1].ref != ref || s->map[s->n_map - 1].ts != ts) {
        if (cs_grow((void **)&s->map, &s->map_cap, s->n_map + 1, sizeof(*s->map)) < 0)
            return CS_ENOMEM;
        s->map[s->n_map++] = (mapent){off, ts, ref};
    }
    memcpy(s->buf + s->len, p, n);
    s->len += (uint32_t)n;
    return 0;
}

/* Drops the first "c" bytes of the buffer and the map entries before them. */
static void stream_trim(stream *s, size_t c)
{
    size_t drop = 0;

    if (c >= s->len) {
        cs__an_stream_clear(s);
        return;
    }
    memmove(s->buf, s->buf + c, s->len - c);
    s->len -= (uint32_t)c;
    s->off += c;
    while (drop + 1 < s->n_map && s->map[drop + 1].off <= s->off)
        drop++;
    if (drop > 0) {
        memmove(s->map, s->map + drop, (s->n_map - drop) * sizeof(*s->map));
        s->n_map -= drop;
    }
}

/* Index of the map entry holding stream offset "off" (the last entry whose
 * offset is <= off; 0 if off precedes them all). */
static size_t map_find(const mapent *map, size_t n, uint64_t off)
{
    size_t lo = 0, hi = n;

    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (map[mid].off <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* ---- messages --------------------------------------------------------- */

static uint32_t next_k(stream *s, cs_pktref ref)
{
    uint32_t slot;

    for (uint32_t i = 0; i < RECENT_IDS; i++)
        if (s->recent[i].ref == ref)
            return s->recent[i].k++;
    slot = s->recent_next++ % RECENT_IDS;
    s->recent[slot].ref = ref;
    s->recent[slot].k = 1;
    return 0;
}

static int ref_seen(const cs_pktref *refs, size_t n, cs_pktref r)
{
    for (size_t i = n; i-- > 0;)
        if (refs[i] == r)
            return 1;
    return 0;
}

/* Collects the nonzero refs of map entries [i0, i1], de-duplicated. */
static size_t collect_refs(cs_analyzer *a, const mapent *map, size_t i0, size_t i1)
{
    size_t n = 0;

    if (cs_grow((void **)&a->refs, &a->refs_cap, i1 - i0 + 1, sizeof(*a->refs)) < 0)
        return 0;
    for (size_t i = i0; i <= i1; i++)
        if (map[i].ref != 0 && !ref_seen(a->refs, n, map[i].ref))
            a->refs[n++] = map[i].ref;
    return n;
}

/* Hands "msg" to the sink, then to pairing as "c" says, then to
 * tick-to-trade as "t2t" (CS_AN_T2T_*) says. A response first delivers the
 * request its peer direction may still hold. */
static void deliver(cs_analyzer *a, aflow *fl, cs_message *msg, const cs_an_corr *c, int t2t,
                    cs_str instrument);

void cs__an_held_deliver(cs_analyzer *a, aflow *fl, uint8_t dir)
{
    heldmsg *h = fl->s[dir].held;
    cs_an_corr c;

    if (h == NULL || !h->active)
        return;
    h->active = 0;
    c = (cs_an_corr){h->role, h->pair, h->match, h->closes, h->flags, h->scope};
    deliver(a, fl, &h->m, &c, CS_AN_T2T_NONE, (cs_str){"", 0});
}

/* The cross-conversation half of deliver(): sink, pairings, tick-to-trade. */
void cs__an_deliver_now(cs_analyzer *a, cs_message *msg, const cs_an_corr *c, int t2t,
                        cs_str instrument)
{
    if (a->sink.message)
        a->sink.message(a->sink.ud, msg);
    if (c->role != CS_ROLE_NONE) {
        msg->flags = c->flags;
        cs_pairing_correlate(c->role == CS_ROLE_SIGHTING ? a->sight : a->pair, msg, c->pair,
                             c->match, c->closes, c->scope);
    }
    if (a->hops != HOPS_OFF && (c->role == CS_ROLE_REQ || c->role == CS_ROLE_SIGHTING) &&
        msg->key.len > 0)
        cs_pairing_hop(a->hop, msg, CS_PAIR_HOP);
    if (t2t == CS_AN_T2T_TICK)
        cs_t2t_tick(a->t2t, msg, instrument);
    else if (t2t == CS_AN_T2T_ORDER)
        cs_t2t_order(a->t2t, msg, instrument);
}

static void log_rc(cs_analyzer *a, int rc)
{
    if (rc < 0 && a->log_rc == 0)
        a->log_rc = rc;
}

static void deliver(cs_analyzer *a, aflow *fl, cs_message *msg, const cs_an_corr *c, int t2t,
                    cs_str instrument)
{
    if (c->role == CS_ROLE_RESP)
        cs__an_held_deliver(a, fl, (uint8_t)!msg->dir);
    if (a->log != NULL)
        log_rc(a, cs_an_log_deliver(a->log, a->seq, a->order, msg, c, t2t, instrument));
    else
        cs__an_deliver_now(a, msg, c, t2t, instrument);
}

/* Copies "n" bytes of "p" to "*at" and returns them as a string there. */
static cs_str held_copy(char **at, const char *p, size_t n)
{
    cs_str r = {*at, n};

    if (n)
        memcpy(*at, p, n);
    *at += n;
    return r;
}

/* Holds "msg" (emitted as "m", its refs in a->refs) in the stream of its
 * direction until its body ends. 0, or CS_ENOMEM (then deliver it now). */
static int held_take(stream *s, const cs_message *msg, const cs_msg_out *m, const char *pair,
                     uint8_t scope)
{
    size_t bytes = msg->type.len + msg->key.len + msg->error.len + m->match.len + m->closes.len +
                   strlen(pair) + 1;
    heldmsg *h;
    char *at;

    for (size_t i = 0; i < msg->n_fields; i++)
        bytes += msg->fields[i].name.len + msg->fields[i].val.len;
    if (s->held == NULL && (s->held = cs_calloc(1, sizeof(*s->held))) == NULL)
        return CS_ENOMEM;
    h = s->held;
    if (cs_grow((void **)&h->bytes, &h->bytes_cap, bytes, 1) < 0 ||
        cs_grow((void **)&h->fields, &h->fields_cap, msg->n_fields + 1, sizeof(*h->fields)) < 0 ||
        cs_grow((void **)&h->refs, &h->refs_cap, msg->n_refs + 1, sizeof(*h->refs)) < 0)
        return CS_ENOMEM;
    h->m = *msg;
    at = h->bytes;
    h->m.type = held_copy(&at, msg->type.p, msg->type.len);
    h->m.key = held_copy(&at, msg->key.p, msg->key.len);
    h->m.error = held_copy(&at, msg->error.p, msg->error.len);
    h->match = held_copy(&at, m->match.p, m->match.len);
    h->closes = held_copy(&at, m->closes.p, m->closes.len);
    h->pair = held_copy(&at, pair, strlen(pair) + 1).p;
    for (size_t i = 0; i < msg->n_fields; i++) {
        h->fields[i].name = held_copy(&at, msg->fields[i].name.p, msg->fields[i].name.len);
        h->fields[i].val = held_copy(&at, msg->fields[i].val.p, msg->fields[i].val.len);
    }
    h->m.fields = h->fields;
    if (msg->n_refs)
        memcpy(h->refs, msg->refs, msg->n_refs * sizeof(*h->refs));
    h->m.refs = h->refs;
    h->flags = m->flags;
    h->role = m->role;
    h->scope = scope;
    h->active = 1;
    return 0;
}

/* Adds the packets of stream bytes [first, last] to the held message. */
static void held_extend(const cs_decode_ctx *ctx, heldmsg *h, uint64_t first, uint64_t last)
{
    size_t i0 = map_find(ctx->map, ctx->n_map, first), i1 = map_find(ctx->map, ctx->n_map, last);

    for (size_t i = i0; i <= i1; i++) {
        cs_pktref r = ctx->map[i].ref;

        if (r == 0 || (h->m.n_refs > 0 && h->refs[h->m.n_refs - 1] == r) ||
            h->m.n_refs >= HELD_MAX_REFS)
            continue;
        if (cs_grow((void **)&h->refs, &h->refs_cap, h->m.n_refs + 1, sizeof(*h->refs)) < 0)
            return; /* the refs it has are still true */
        h->refs[h->m.n_refs++] = r;
    }
    h->m.refs = h->refs;
    h->m.last_ts_ns = ctx->map[i1].ts;
}

/* A body part of the held message of ctx's direction: its bytes [start,
 * start + len) of in.data; delivers the message at CS_PART_END. */
static void body_part(cs_decode_ctx *ctx, const cs_msg_out *m, size_t start, size_t len)
{
    heldmsg *h = ctx->fl->s[ctx->dir].held;

    if (h == NULL || !h->active)
        return; /* its head was delivered already (a gap, no memory) */
    if (len > 0 && ctx->n_map > 0)
        held_extend(ctx, h, ctx->base + start, ctx->base + start + len - 1);
    if (m->part == CS_PART_END)
        cs__an_held_deliver(ctx->a, ctx->fl, ctx->dir);
}

/* A response keyless by its decoder is stored with its match as its key
 * (a FIX ExecutionReport: its ClOrdID; an OUCH reply: its order token; a
 * DNS response: "ID QNAME"), so that a search by key finds an order's
 * replies as well as the order, through the key filters, however far
 * apart they are; pairing goes on reading the match, not the key. */
static int response_found_by_match(const cs_msg_out *m)
{
    return m->role == CS_ROLE_RESP && m->key.len == 0 && m->match.len > 0;
}

/* The flow layer's emit callback (cs_decode_ops): a decoded message becomes
 * a cs_message with id, times and refs, delivered or held. */
static void analyzer_emit(cs_decode_ctx *ctx, const cs_msg_out *m)
{
    cs_analyzer *a = ctx->a;
    aflow *fl = ctx->fl;
    size_t start = m->start < ctx->in_len ? m->start : ctx->in_len;
    size_t len = m->len < ctx->in_len - start ? m->len : ctx->in_len - start;
    uint64_t first = ctx->base + start, last = len ? first + len - 1 : first;
    const char *pair = m->pair ? m->pair : fl->dec->name;
    size_t i0, i1;
    uint8_t scope;
    int t2t;
    cs_message msg;

    if (m->part == CS_PART_BODY || m->part == CS_PART_END) {
        body_part(ctx, m, start, len);
        return;
    }
    cs__an_held_deliver(a, fl, ctx->dir); /* its body ended where this one starts */
    if (ctx->n_map == 0)
        return;
    i0 = map_find(ctx->map, ctx->n_map, first);
    i1 = map_find(ctx->map, ctx->n_map, last);
    memset(&msg, 0, sizeof(msg));
    if (ctx->map[i0].ref != 0)
        msg.id = CS_MSGID(ctx->map[i0].ref, next_k(&fl->s[ctx->dir], ctx->map[i0].ref));
    else
        msg.id = FALLBACK_ID_BIT | (uint64_t)a->shard << 56 | a->fallback_ids++;
    msg.proto = m->proto != NULL ? m->proto : fl->dec->name; /* static, like the name */
    msg.type = m->type;
    msg.ts_ns = ctx->map[i0].ts;
    msg.last_ts_ns = ctx->map[i1].ts;
    msg.flow_id = fl->f.id;
    msg.ep = fl->ep;
    msg.dir = ctx->dir;
    msg.flags = m->flags & ~(uint32_t)CS_MSG_PAIRING_HINTS; /* hints to pairing only */
    msg.role = m->role;
    msg.key = response_found_by_match(m) ? m->match : m->key;
    msg.fields = m->fields;
    msg.n_fields = m->n_fields;
    msg.n_refs = collect_refs(a, ctx->map, i0, i1);
    msg.refs = a->refs;
    msg.len = (uint32_t)len;
    msg.error = m->error;
    a->st.messages++;
    if (m->flags & (CS_MSG_BAD_CHECKSUM | CS_MSG_BAD_LENGTH | CS_MSG_MALFORMED))
        a->st.bad_messages++;
    scope = m->scope == CS_SCOPE_FLOW ? fl->scope : m->scope;
    if (m->part == CS_PART_HEAD && held_take(&fl->s[ctx->dir], &msg, m, pair, scope) == 0)
        return;
    t2t = m->instrument.len == 0          ? CS_AN_T2T_NONE
          : (m->flags & CS_MSG_TICK)      ? CS_AN_T2T_TICK
          : (m->flags & CS_MSG_NEW_ORDER) ? CS_AN_T2T_ORDER
                                          : CS_AN_T2T_NONE;
    deliver(a, fl, &msg, &(cs_an_corr){m->role, pair, m->match, m->closes, m->flags, scope}, t2t,
            m->instrument);
}

/* ---- parsing ---------------------------------------------------------- */

/* The flow layer's sequence-gap callback: counted, then told to the sink
 * with the flow and the capture time of the bytes being parsed. */
static void analyzer_seq_gap(cs_decode_ctx *ctx, const cs_seq_gap *g)
{
    cs_analyzer *a = ctx->a;
    cs_seq_gap_event ev;

    a->st.seq_gaps++;
    a->st.seq_gap_missing += g->count;
    if (a->sink.seq_gap == NULL && a->log == NULL)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.proto = ctx->fl->dec->name;
    ev.gap = *g;
    ev.flow_id = ctx->fl->f.id;
    ev.ep = ctx->fl->ep;
    ev.dir = ctx->dir;
    ev.ts_ns = ctx->n_map > 0 ? ctx->map[ctx->n_map - 1].ts : 0;
    ev.ref = ctx->n_map > 0 ? ctx->map[ctx->n_map - 1].ref : 0;
    if (a->log != NULL)
        log_rc(a, cs_an_log_seq_gap(a->log, a->seq, a->order, &ev));
    else
        a->sink.seq_gap(a->sink.ud, &ev);
}

/* The flow layer's callback for the numbers a packet carried: told to the
 * sink with the flow and the packet's capture time. */
static void analyzer_seq_seen(cs_decode_ctx *ctx, const cs_seq_span *s)
{
    cs_analyzer *a = ctx->a;
    cs_seq_span_event ev;

    if (a->sink.seq_seen == NULL && a->log == NULL)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.proto = ctx->fl->dec->name;
    ev.span = *s;
    ev.flow_id = ctx->fl->f.id;
    ev.ep = ctx->fl->ep;
    ev.dir = ctx->dir;
    ev.ts_ns = ctx->n_map > 0 ? ctx->map[ctx->n_map - 1].ts : 0;
    if (a->log != NULL)
        log_rc(a, cs_an_log_seq_seen(a->log, a->seq, a->order, &ev));
    else
        a->sink.seq_seen(a->sink.ud, &ev);
}

const cs_decode_ops cs__an_decode_ops = {
    .emit = analyzer_emit, .seq_gap = analyzer_seq_gap, .seq_seen = analyzer_seq_seen};

static uint32_t in_flags(const aflow *fl, uint8_t dir)
{
    return fl->is_tcp && fl->tcp.half[dir].midstream ? CS_IN_MIDSTREAM : 0;
}

/* Runs parse() over data[0, len) (stream offset "base") until it stops
 * consuming or wants more than is there; returns the bytes consumed. */
static size_t parse_loop(cs_analyzer *a, aflow *fl, uint8_t dir, const uint8_t *data, size_t len,
                         uint64_t base, const mapent *map, size_t n_map, uint32_t flags)
{
    stream *s = &fl->s[dir];
    size_t done = 0;

    for (;;) {
        const uint8_t *at = data != NULL ? data + done : data; /* EOF on an empty buffer */
        cs_decode_input in = {dir, flags | in_flags(fl, dir), at, len - done, 0};
        cs_decode_ctx ctx = {&cs__an_decode_ops, a, fl, dir, base + done, len - done, map, n_map};
        size_t c = fl->dec->parse(fl->state, &ctx, &in);

        if (c > len - done)
            c = len - done;
        done += c;
        s->needed = in.needed;
        if (c == 0 || done == len || (flags & CS_IN_EOF) || in.needed > len - done)
            return done;
    }
}

void cs__an_parse_buffered(cs_analyzer *a, aflow *fl, uint8_t dir, uint32_t flags)
{
    stream *s = &fl->s[dir];
    size_t c;

    if (!(flags & CS_IN_EOF) && (s->len == 0 || s->len < s->needed))
        return;
    c = parse_loop(a, fl, dir, s->buf, s->len, s->off, s->map, s->n_map, flags);
    stream_trim(s, c);
}

static void overflow_check(cs_analyzer *a, aflow *fl, uint8_t dir)
{
    stream *s = &fl->s[dir];

    if (s->len <= a->cfg.max_flow_buffer)
        return;
    a->stream_overflows++;
    cs__an_stream_clear(s);
    if (fl->dec->gap)
        fl->dec->gap(fl->state, dir);
    cs__an_held_deliver(a, fl, dir);
}

void cs__an_stream_bytes(cs_analyzer *a, aflow *fl, uint8_t dir, uint64_t off, const uint8_t *p,
                         size_t n, int64_t ts, cs_pktref ref)
{
    stream *s = &fl->s[dir];

    if (s->len == 0 && n >= s->needed) {
        mapent e = {off, ts, ref};
        size_t c = parse_loop(a, fl, dir, p, n, off, &e, 1, 0);
        if (c < n && cs__an_stream_append(s, off + c, p + c, n - c, ts, ref) < 0)
            a->stream_overflows++;
    } else {
        if (cs__an_stream_append(s, off, p, n, ts, ref) < 0)
            a->stream_overflows++;
        cs__an_parse_buffered(a, fl, dir, 0);
    }
    overflow_check(a, fl, dir);
}

/*
 * analyzer.c - flows -> reassembly -> decoder dispatch -> messages -> pairing.
 *
 * Per packet (capture order, one thread):
 *
 *   housekeeping: expire idle flows (LRU head), timed-out requests, stale
 *                 fragments - all by capture time
 *   IPv4/IPv6 fragment of UDP ──► ipfrag ──(complete)──► UDP header re-parsed
 *   flow lookup (canonical key, dir 0 = initiator)
 *   TCP ──► tcp_reasm ──data/gap/eof──► stream ──► decoder parse()
 *   UDP ──────────────────────────────────────────► decoder parse(DATAGRAM)
 *   decoder ──cs_decode_emit(ctx)──► cs_message ──► sink.message ──► pairing
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
 * Decoder dispatch, once per flow, on its first payload: every enabled
 * decoder for the transport probes the first bytes (up to PROBE_MAX) of each
 * direction seen. The first YES wins; else, when no probe wants more bytes
 * (or PROBE_MAX is reached), a decoder listing either port whose probes did
 * not say NO; else none. Mid-stream TCP flows and UDP flows re-probe from
 * the next segment or datagram (up to MAX_REPROBES times), since their first
 * bytes may be the tail of a message. Flows without a decoder cost one
 * lookup per packet: no reassembly, no buffering.
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
 * Hops (decoder.h "hop"): every request and sighting with a key is also
 * offered to a pairing of its own (cs_pairing_hop, window hop_window_ns,
 * a message left alone only counted in hops_alone) that measures its
 * latency between two taps. A capture with one tap has no hops, so the
 * offer is made only once a second tap has been seen, and for the first
 * window of capture time: the taps of a capture start together, yet the
 * first packets at one tap come before any at the other, and their
 * copies at the other tap must find them waiting. The start-up window
 * ending with one tap seen, the pairing is emptied quietly and nothing
 * more is offered (one comparison per packet, of its tap with the
 * first's) until a second tap shows up.
 *
 * Ordering guarantees: sink.message(request) before the measurement using
 * it; sink.message(response) before its measurement or unmatched report.
 *
 * Sharded analysis (analyzer.h): a flow analyzer ("log" set) runs the
 * per-conversation half and, instead of calling the sink, files each
 * delivery (with how it is paired and its tick-to-trade role), gap and
 * span as an event (anlog.h) under the packet's sequence number and the
 * order its flow would expire in; the correlating analyzer replays them
 * through deliver_now(), the one place where a message reaches the sink
 * and the pairings, sharded or not.
 */
#include "analytics/analyzer.h"
#include "analytics/anlog.h"
#include "analytics/pairing.h"
#include "analytics/t2t.h"
#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "flow/flowtable.h"
#include "flow/ipfrag.h"
#include "flow/tcp_reasm.h"

#include <string.h>

#define PROBE_MAX 256u
#define MAX_REPROBES 8u
#define RECENT_IDS 4u
#define MAX_PENDING (1u << 20)
#define FRAG_MAX 4096u
#define FRAG_TIMEOUT_NS (30ll * 1000000000ll)
#define SHRINK_ABOVE (64u * 1024u)
#define FALLBACK_ID_BIT (1ull << 63)
#define HELD_MAX_REFS (1u << 16) /* refs of one held message: 512 KiB */
#define OPT_PORTS_MAX 64u        /* ports one --decoder-opt NAME.ports may name */

enum { DISPATCH_PENDING = 0, DISPATCH_DECIDED, DISPATCH_NONE, DISPATCH_CLOSED };

/* Whether requests and sightings are offered to the hop pairing. */
enum {
    HOPS_START = 0, /* the first hop window of capture time: offered */
    HOPS_OFF,       /* one tap after that window: not offered */
    HOPS_ON,        /* a second tap seen: offered */
};

typedef struct mapent {
    uint64_t off;
    int64_t ts;
    cs_pktref ref;
} mapent;

/* A message whose body is still coming (see "Held messages" above). */
typedef struct heldmsg {
    cs_message m;   /* strings in "bytes", fields in "fields", refs in "refs" */
    uint32_t flags; /* the decoder's flags (CS_MSG_RETRY included: pairing) */
    cs_role role;
    const char *pair; /* in "bytes" */
    cs_str match;     /* in "bytes" */
    cs_str closes;    /* in "bytes" */
    uint8_t scope;
    char *bytes;
    size_t bytes_cap;
    cs_kv *fields;
    size_t fields_cap;
    cs_pktref *refs;
    size_t refs_cap;
    int active;
} heldmsg;

typedef struct stream {
    heldmsg *held; /* allocated on the first held message */
    uint8_t *buf;
    uint32_t len, cap;
    uint64_t off; /* stream offset of buf[0] */
    mapent *map;
    size_t n_map, map_cap;
    size_t needed;
    uint8_t eof;
    uint8_t recent_next;
    struct {
        cs_pktref ref;
        uint32_t k;
    } recent[RECENT_IDS];
} stream;

typedef struct aflow {
    cs_flow f; /* first: the flow table's part */
    cs_endpoints ep;
    uint8_t init_is_a; /* the initiator is canonical end a */
    uint8_t is_tcp;
    uint8_t dispatch;
    uint8_t reprobes;
    uint8_t has_syn;
    uint8_t scope; /* its decoder's "scope" option: what CS_SCOPE_FLOW becomes */
    uint32_t syn_seq;
    uint64_t last_seq; /* the sequence number of its latest packet (LRU order) */
    const cs_decoder *dec;
    void *state;
    cs_tcp_conn tcp;
    stream s[2];
} aflow;

struct cs_analyzer {
    cs_analyzer_cfg cfg;
    cs_sink sink;
    const cs_decoder **decs;
    size_t n_decs;
    uint16_t (*opt_ports)[OPT_PORTS_MAX + 1]; /* per decs[i]: its "ports" option, if
                                                 set (then it replaces d->ports) */
    uint8_t wk[2][8192];                      /* well-known port bitmaps: [0] TCP, [1] UDP */
    cs_flowtable *ft;
    cs_ipfrag *frag;
    cs_pairing *pair;
    cs_sink sight_sink;
    cs_t2t *t2t;
    cs_pairing *sight; /* sightings (A/B copies): their own window, no unmatched reports */
    cs_sink hop_sink;
    cs_pairing *hop; /* one message at two taps: its own window, no unmatched reports */
    uint8_t hops;    /* HOPS_* */
    uint16_t tap0;   /* the tap of the first packet */
    int64_t ts0;     /* the capture time of the first packet */
    cs_analyzer_stats st;
    cs_tcp_stats tcp_st;
    uint64_t stream_overflows;
    cs_tcp_ops tcp_ops;
    cs_tcp_env tcp_env;
    aflow *cur; /* the flow tcp_reasm callbacks refer to */
    cs_pktref *refs;
    size_t refs_cap;
    mapent *dmap; /* scratch map of a reassembled datagram */
    size_t dmap_cap;
    uint64_t fallback_ids;
    /* a flow analyzer of a sharded analysis (see "Sharded analysis"): */
    cs_an_log *log; /* its events go here instead of to the sink; NULL: not one */
    uint32_t shard; /* its index (ids of messages from packets not stored) */
    int log_rc;     /* the first failure to log an event */
    uint64_t seq;   /* the capture sequence number of the packet at hand */
    uint64_t order; /* what events made now are filed under (anlog.h) */
};

struct cs_decode_ctx {
    const cs_decode_ops *ops; /* first (decoder.h): &analyzer_decode_ops */
    cs_analyzer *a;
    aflow *fl;
    uint8_t dir;
    uint64_t base; /* stream offset of in.data[0] */
    size_t in_len;
    const mapent *map;
    size_t n_map;
};

/* ---- configuration ---------------------------------------------------- */

void cs_analyzer_cfg_default(cs_analyzer_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_flows = 1000000;
    cfg->max_flow_buffer = 1u << 20;
    cfg->flow_idle_ns = 300ll * 1000000000ll;
    cfg->pair_timeout_ns = 30ll * 1000000000ll;
    cfg->sight_window_ns = 100ll * 1000000ll;
    cfg->t2t_window_ns = 1000000ll;
    cfg->hop_window_ns = 100ll * 1000000ll;
}

static int transport_index(uint8_t ip_proto)
{
    return ip_proto == 6 ? 0 : 1;
}

static int decoder_serves(const cs_decoder *d, int tidx)
{
    return (d->transports & (tidx == 0 ? CS_TRANSPORT_TCP : CS_TRANSPORT_UDP)) != 0;
}

/* The ports "d" is bound to: the user's "ports" option, or its own. */
static const uint16_t *decoder_ports(const cs_analyzer *a, const cs_decoder *d)
{
    for (size_t i = 0; i < a->n_decs; i++)
        if (a->decs[i] == d && a->opt_ports[i][0] != 0)
            return a->opt_ports[i];
    return d->ports;
}

static int port_listed(const cs_analyzer *a, const cs_decoder *d, uint16_t port)
{
    for (const uint16_t *p = decoder_ports(a, d); p != NULL && *p != 0; p++)
        if (*p == port)
            return 1;
    return 0;
}

static int well_known(const cs_analyzer *a, int tidx, uint16_t port)
{
    return (a->wk[tidx][port >> 3] >> (port & 7)) & 1;
}

static int load_decoders(cs_analyzer *a)
{
    const cs_decoder *const *list = a->cfg.decoders ? a->cfg.decoders : cs_decoders;
    size_t n = 0;

    while (list[n] != NULL)
        n++;
    a->decs = cs_calloc(n ? n : 1, sizeof(*a->decs));
    a->opt_ports = cs_calloc(n ? n : 1, sizeof(*a->opt_ports));
    if (a->decs == NULL || a->opt_ports == NULL)
        return CS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const cs_decoder *d = list[i];
        cs_decoder_opts opts = {a->cfg.decoder_opts, d};
        cs_decoder_opt_ports(&opts, a->opt_ports[i], OPT_PORTS_MAX + 1);
        a->decs[a->n_decs++] = d;
        for (const uint16_t *p = decoder_ports(a, d); p != NULL && *p != 0; p++)
            for (int t = 0; t < 2; t++)
                if (decoder_serves(d, t))
                    a->wk[t][*p >> 3] |= (uint8_t)(1u << (*p & 7));
    }
    return 0;
}

/* ---- stream buffer ---------------------------------------------------- */

static void stream_clear(stream *s)
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

static void stream_release(stream *s)
{
    held_free(s->held);
    cs_free(s->buf);
    cs_free(s->map);
    memset(s, 0, sizeof(*s));
}

static int stream_append(stream *s, uint64_t off, const uint8_t *p, size_t n, int64_t ts,
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
        stream_clear(s);
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

static void held_deliver(cs_analyzer *a, aflow *fl, uint8_t dir)
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
static void deliver_now(cs_analyzer *a, cs_message *msg, const cs_an_corr *c, int t2t,
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
        held_deliver(a, fl, (uint8_t)!msg->dir);
    if (a->log != NULL)
        log_rc(a, cs_an_log_deliver(a->log, a->seq, a->order, msg, c, t2t, instrument));
    else
        deliver_now(a, msg, c, t2t, instrument);
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
        held_deliver(ctx->a, ctx->fl, ctx->dir);
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
    held_deliver(a, fl, ctx->dir); /* its body ended where this one starts */
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

static const cs_decode_ops analyzer_decode_ops = {
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
        cs_decode_ctx ctx = {&analyzer_decode_ops, a, fl, dir, base + done, len - done, map, n_map};
        size_t c = fl->dec->parse(fl->state, &ctx, &in);

        if (c > len - done)
            c = len - done;
        done += c;
        s->needed = in.needed;
        if (c == 0 || done == len || (flags & CS_IN_EOF) || in.needed > len - done)
            return done;
    }
}

static void parse_buffered(cs_analyzer *a, aflow *fl, uint8_t dir, uint32_t flags)
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
    stream_clear(s);
    if (fl->dec->gap)
        fl->dec->gap(fl->state, dir);
    held_deliver(a, fl, dir);
}

static void stream_bytes(cs_analyzer *a, aflow *fl, uint8_t dir, uint64_t off, const uint8_t *p,
                         size_t n, int64_t ts, cs_pktref ref)
{
    stream *s = &fl->s[dir];

    if (s->len == 0 && n >= s->needed) {
        mapent e = {off, ts, ref};
        size_t c = parse_loop(a, fl, dir, p, n, off, &e, 1, 0);
        if (c < n && stream_append(s, off + c, p + c, n - c, ts, ref) < 0)
            a->stream_overflows++;
    } else {
        if (stream_append(s, off, p, n, ts, ref) < 0)
            a->stream_overflows++;
        parse_buffered(a, fl, dir, 0);
    }
    overflow_check(a, fl, dir);
}

/* ---- dispatch --------------------------------------------------------- */

typedef enum { PICK_WAIT, PICK_DONE, PICK_NONE } pick_result;

static int combine_probe(const cs_decoder *d, const aflow *fl, int *need_more)
{
    int yes = 0, no = 0;

    for (uint8_t dir = 0; dir < 2; dir++) {
        const stream *s = &fl->s[dir];
        size_t n = s->len < PROBE_MAX ? s->len : PROBE_MAX;
        cs_probe r;

        if (n == 0)
            continue;
        r = d->probe ? d->probe(s->buf, n, dir) : CS_PROBE_NEED_MORE;
        if (r == CS_PROBE_YES)
            yes = 1;
        else if (r == CS_PROBE_NO)
            no = 1;
        else if (n < PROBE_MAX)
            *need_more = 1;
    }
    return yes ? CS_PROBE_YES : no ? CS_PROBE_NO : CS_PROBE_NEED_MORE;
}

static int decide(const cs_analyzer *a, aflow *fl, const cs_decoder *d)
{
    cs_decoder_opts opts = {a->cfg.decoder_opts, d};

    fl->state = d->state_new ? d->state_new(&fl->ep, &opts) : NULL;
    if (d->state_new && fl->state == NULL)
        return -1;
    fl->dec = d;
    fl->scope = cs_decoder_opt_scope(&opts);
    fl->dispatch = DISPATCH_DECIDED;
    return 0;
}

/* Chooses a decoder from the buffered first bytes of both directions. */
static pick_result pick_decoder(cs_analyzer *a, aflow *fl, int force)
{
    int tidx = fl->is_tcp ? 0 : 1, need_more = 0;
    const cs_decoder *by_port = NULL;

    for (size_t i = 0; i < a->n_decs; i++) {
        const cs_decoder *d = a->decs[i];
        int r;

        if (!decoder_serves(d, tidx))
            continue;
        r = combine_probe(d, fl, &need_more);
        if (r == CS_PROBE_YES)
            return decide(a, fl, d) == 0 ? PICK_DONE : PICK_NONE;
        if (r != CS_PROBE_NO && by_port == NULL &&
            (port_listed(a, d, fl->ep.port_a) || port_listed(a, d, fl->ep.port_b)))
            by_port = d;
    }
    if (need_more && !force)
        return PICK_WAIT;
    if (by_port != NULL)
        return decide(a, fl, by_port) == 0 ? PICK_DONE : PICK_NONE;
    return PICK_NONE;
}

static void give_up_or_reprobe(aflow *fl)
{
    int midstream = !fl->is_tcp || fl->tcp.half[0].midstream || fl->tcp.half[1].midstream;

    stream_clear(&fl->s[0]);
    stream_clear(&fl->s[1]);
    if (midstream && fl->reprobes < MAX_REPROBES)
        fl->reprobes++;
    else
        fl->dispatch = DISPATCH_NONE;
}

/* After a decision, hands the probed bytes to the decoder, earlier first. */
static void replay_probed(cs_analyzer *a, aflow *fl)
{
    stream *s0 = &fl->s[0], *s1 = &fl->s[1];
    uint8_t first = 0;

    if (s0->len == 0 || (s1->len > 0 && s1->map[0].ts < s0->map[0].ts))
        first = 1;
    parse_buffered(a, fl, first, 0);
    parse_buffered(a, fl, (uint8_t)(first ^ 1), 0);
}

static void tcp_pending_bytes(cs_analyzer *a, aflow *fl, uint8_t dir, uint64_t off,
                              const uint8_t *p, size_t n, int64_t ts, cs_pktref ref)
{
    pick_result r;

    if (stream_append(&fl->s[dir], off, p, n, ts, ref) < 0)
        return;
    r = pick_decoder(a, fl, 0);
    if (r == PICK_DONE)
        replay_probed(a, fl);
    else if (r == PICK_NONE)
        give_up_or_reprobe(fl);
}

/* ---- TCP callbacks ---------------------------------------------------- */

static void on_tcp_data(void *ud, uint8_t dir, uint64_t off, const uint8_t *p, size_t n, int64_t ts,
                        cs_pktref ref)
{
    cs_analyzer *a = ud;
    aflow *fl = a->cur;

    if (fl->dispatch == DISPATCH_PENDING)
        tcp_pending_bytes(a, fl, dir, off, p, n, ts, ref);
    else if (fl->dispatch == DISPATCH_DECIDED)
        stream_bytes(a, fl, dir, off, p, n, ts, ref);
}

static void on_tcp_gap(void *ud, uint8_t dir, uint64_t off, uint64_t n)
{
    cs_analyzer *a = ud;
    aflow *fl = a->cur;

    stream_clear(&fl->s[dir]);
    if (fl->dispatch == DISPATCH_DECIDED && fl->dec->gap)
        fl->dec->gap(fl->state, dir);
    held_deliver(a, fl, dir);
}

static void on_tcp_eof(void *ud, uint8_t dir)
{
    cs_analyzer *a = ud;
    aflow *fl = a->cur;
    stream *s = &fl->s[dir];

    if (fl->dispatch == DISPATCH_PENDING) {
        if (pick_decoder(a, fl, 1) == PICK_DONE)
            replay_probed(a, fl);
        else
            give_up_or_reprobe(fl);
    }
    if (fl->dispatch != DISPATCH_DECIDED || s->eof)
        return;
    s->eof = 1;
    parse_buffered(a, fl, dir, CS_IN_EOF);
    held_deliver(a, fl, dir);
    stream_clear(s);
}

static size_t on_tcp_held(void *ud, uint8_t dir)
{
    cs_analyzer *a = ud;
    return a->cur->s[dir].len;
}

/* ---- flows ------------------------------------------------------------ */

static void flow_close_decoder(aflow *fl)
{
    if (fl->dec != NULL && fl->dec->state_free != NULL && fl->state != NULL)
        fl->dec->state_free(fl->state);
    fl->state = NULL;
    fl->dec = NULL;
}

/* Ends both directions (delivering what reassembly holds) and frees the
 * decoder state and buffers; the flow stays in the table. */
static void flow_end(cs_analyzer *a, aflow *fl)
{
    if (fl->dispatch == DISPATCH_PENDING || fl->dispatch == DISPATCH_DECIDED) {
        a->cur = fl;
        if (fl->is_tcp) {
            cs_tcp_end(&fl->tcp, &a->tcp_env, 0);
            cs_tcp_end(&fl->tcp, &a->tcp_env, 1);
        }
    }
    held_deliver(a, fl, 0);
    held_deliver(a, fl, 1);
    flow_close_decoder(fl);
    cs_tcp_release(&fl->tcp);
    stream_release(&fl->s[0]);
    stream_release(&fl->s[1]);
    fl->dispatch = DISPATCH_CLOSED;
}

static void flow_drop(cs_analyzer *a, aflow *fl)
{
    flow_end(a, fl);
    cs_flowtable_remove(a->ft, &fl->f);
}

static int has_candidates(const cs_analyzer *a, int tidx)
{
    for (size_t i = 0; i < a->n_decs; i++)
        if (decoder_serves(a->decs[i], tidx))
            return 1;
    return 0;
}

static void fill_endpoints(aflow *fl, const cs_layers *l, int src_is_init, uint16_t sport,
                           uint16_t dport)
{
    cs_endpoints *ep = &fl->ep;

    ep->ip_version = l->ip_version;
    ep->ip_proto = l->ip_proto;
    ep->tap = fl->f.key.tap;
    ep->n_vlan = fl->f.key.n_vlan;
    ep->vlan[0] = fl->f.key.vlan[0];
    ep->vlan[1] = fl->f.key.vlan[1];
    memcpy(ep->addr_a, src_is_init ? l->src : l->dst, 16);
    memcpy(ep->addr_b, src_is_init ? l->dst : l->src, 16);
    ep->port_a = src_is_init ? sport : dport;
    ep->port_b = src_is_init ? dport : sport;
}

/* Decides whether the sender of a flow's first packet is its initiator. */
static int src_initiates(const cs_analyzer *a, const cs_layers *l, uint16_t sport, uint16_t dport)
{
    int tidx = transport_index(l->ip_proto);

    if (l->ip_proto == 6 && (l->tcp_flags & CS_TCP_SYN))
        return !(l->tcp_flags & CS_TCP_ACK);
    if (well_known(a, tidx, sport) != well_known(a, tidx, dport))
        return !well_known(a, tidx, sport);
    /* TCP picked up mid-stream: services listen on the lower port (9878 vs
     * an ephemeral 40000), so that side is the responder, whichever side
     * the first packet seen came from. UDP: the first sender asks. */
    if (l->ip_proto == 6 && sport != dport)
        return sport > dport;
    return 1;
}

static aflow *flow_get(cs_analyzer *a, const cs_packet *p, const cs_layers *l, uint16_t sport,
                       uint16_t dport, uint8_t *dir)
{
    cs_flow_key k;
    int src_is_a, src_init;
    uint64_t h;
    aflow *fl;

    cs_flow_key_make(l, p->tap, sport, dport, &k, &src_is_a);
    h = cs_flow_key_hash(&k);
    fl = (aflow *)(void *)cs_flowtable_lookup(a->ft, &k, h);
    if (fl == NULL) {
        if (cs_flowtable_full(a->ft)) {
            a->st.flows_evicted++;
            flow_drop(a, (aflow *)(void *)cs_flowtable_oldest(a->ft));
        }
        fl = (aflow *)(void *)cs_flowtable_insert(a->ft, &k, h);
        if (fl == NULL)
            return NULL;
        a->st.flows++;
        src_init = src_initiates(a, l, sport, dport);
        fl->init_is_a = (uint8_t)(src_init ? src_is_a : !src_is_a);
        fl->is_tcp = l->ip_proto == 6;
        fl->dispatch =
            has_candidates(a, transport_index(l->ip_proto)) ? DISPATCH_PENDING : DISPATCH_NONE;
        fill_endpoints(fl, l, src_init, sport, dport);
    }
    cs_flowtable_touch(a->ft, &fl->f, p->ts_ns);
    fl->last_seq = a->seq;
    *dir = (uint8_t)((src_is_a != 0) == (fl->init_is_a != 0) ? 0 : 1);
    return fl;
}

/* Flows idle too long end, least recently used first, each one's events
 * filed under its latest packet (anlog.h). */
static void flows_expire(cs_analyzer *a, int64_t now)
{
    cs_flow *f;

    while ((f = cs_flowtable_oldest(a->ft)) != NULL && now - f->last_ts_ns > a->cfg.flow_idle_ns) {
        a->order = ((aflow *)(void *)f)->last_seq;
        flow_drop(a, (aflow *)(void *)f);
    }
    a->order = CS_AN_ORDER_OWN;
}

static void pairings_expire(cs_analyzer *a, int64_t now)
{
    cs_pairing_expire(a->pair, now);
    cs_pairing_expire(a->sight, now);
    cs_pairing_expire(a->hop, now);
}

/* Notes the tap of packet "p" while a second tap is yet to be seen (see
 * "Hops" above): hops go on at a second tap, off when the start-up window
 * ends with one. */
static void taps_notice(cs_analyzer *a, const cs_packet *p)
{
    if (a->st.packets == 1) {
        a->tap0 = p->tap;
        a->ts0 = p->ts_ns;
    } else if (p->tap != a->tap0) {
        a->hops = HOPS_ON;
    } else if (a->hops == HOPS_START && p->ts_ns - a->ts0 > a->cfg.hop_window_ns) {
        a->hops = HOPS_OFF;
        cs_pairing_flush(a->hop); /* quietly: no copy can come from another tap */
    }
}

/* ---- TCP -------------------------------------------------------------- */

static void tcp_restart(cs_analyzer *a, aflow *fl)
{
    flow_end(a, fl);
    memset(&fl->tcp, 0, sizeof(fl->tcp));
    fl->reprobes = 0;
    fl->dispatch = has_candidates(a, 0) ? DISPATCH_PENDING : DISPATCH_NONE;
}

/* A new SYN from the initiator after the old connection ended (or was never
 * tracked) starts a new connection on the same flow (port reuse). */
static void tcp_syn_check(cs_analyzer *a, aflow *fl, uint8_t dir, const cs_layers *l)
{
    int syn_only = (l->tcp_flags & (CS_TCP_SYN | CS_TCP_ACK)) == CS_TCP_SYN;
    int old = fl->dispatch == DISPATCH_NONE || fl->dispatch == DISPATCH_CLOSED ||
              fl->tcp.half[0].ended || fl->tcp.half[1].ended || fl->tcp.half[0].fin;

    if (!syn_only || dir != 0)
        return;
    if (fl->has_syn && fl->syn_seq != l->tcp_seq && old)
        tcp_restart(a, fl);
    fl->has_syn = 1;
    fl->syn_seq = l->tcp_seq;
}

static uint32_t tcp_wire_len(const cs_layers *l, uint32_t plen)
{
    uint32_t hdr, wire;

    if (!(l->flags & CS_L_TRUNCATED) || l->payload_off < l->l4_off)
        return plen;
    hdr = l->payload_off - l->l4_off;
    wire = l->ip_payload_len > hdr ? l->ip_payload_len - hdr : 0;
    return wire > plen ? wire : plen;
}

static void tcp_packet(cs_analyzer *a, aflow *fl, uint8_t dir, const cs_packet *p,
                       const cs_layers *l, const uint8_t *pay, uint32_t plen, cs_pktref ref)
{
    cs_tcp_seg seg;

    tcp_syn_check(a, fl, dir, l);
    if (fl->dispatch != DISPATCH_PENDING && fl->dispatch != DISPATCH_DECIDED)
        return;
    seg.dir = dir;
    seg.flags = l->tcp_flags;
    seg.seq = l->tcp_seq;
    seg.ack = l->tcp_ack;
    seg.data = pay;
    seg.len = plen;
    seg.wire_len = tcp_wire_len(l, plen);
    seg.ts_ns = p->ts_ns;
    seg.ref = ref;
    a->cur = fl;
    cs_tcp_segment(&fl->tcp, &a->tcp_env, &seg);
    if (fl->dispatch == DISPATCH_DECIDED && fl->s[0].eof && fl->s[1].eof)
        flow_end(a, fl);
}

/* ---- UDP -------------------------------------------------------------- */

/* UDP dispatch probes each datagram alone. A decoder listing one of the
 * ports is taken even when its probe says NO: a datagram cannot be waited
 * on (it would be lost) and probes cannot know the transport (a DNS query
 * whose id happens to equal its length minus 2 looks like a TCP length
 * prefix); a wrong pick costs nothing but a failed parse per datagram. */
static void udp_dispatch(cs_analyzer *a, aflow *fl, uint8_t dir, const uint8_t *data, size_t len)
{
    const cs_decoder *by_port = NULL, *by_port_only = NULL;
    size_t n = len < PROBE_MAX ? len : PROBE_MAX;

    for (size_t i = 0; i < a->n_decs; i++) {
        const cs_decoder *d = a->decs[i];
        int listed;
        cs_probe r;

        if (!decoder_serves(d, 1))
            continue;
        r = d->probe ? d->probe(data, n, dir) : CS_PROBE_NEED_MORE;
        if (r == CS_PROBE_YES) {
            if (decide(a, fl, d) < 0)
                fl->dispatch = DISPATCH_NONE;
            return;
        }
        listed = port_listed(a, d, fl->ep.port_a) || port_listed(a, d, fl->ep.port_b);
        if (listed && r != CS_PROBE_NO && by_port == NULL)
            by_port = d;
        if (listed && by_port_only == NULL)
            by_port_only = d;
    }
    if (by_port == NULL)
        by_port = by_port_only;
    if (by_port != NULL && decide(a, fl, by_port) == 0)
        return;
    if (fl->dispatch == DISPATCH_PENDING && ++fl->reprobes >= MAX_REPROBES)
        fl->dispatch = DISPATCH_NONE;
}

static void udp_datagram(cs_analyzer *a, aflow *fl, uint8_t dir, const uint8_t *data, size_t len,
                         const mapent *map, size_t n_map)
{
    cs_decode_input in;
    cs_decode_ctx ctx;

    if (fl->dispatch == DISPATCH_PENDING)
        udp_dispatch(a, fl, dir, data, len);
    if (fl->dispatch != DISPATCH_DECIDED)
        return;
    in = (cs_decode_input){dir, CS_IN_DATAGRAM, data, len, 0};
    ctx = (cs_decode_ctx){&analyzer_decode_ops, a, fl, dir, 0, len, map, n_map};
    fl->dec->parse(fl->state, &ctx, &in);
}

/* Builds the map of a reassembled datagram's UDP payload from its pieces. */
static size_t frag_map(cs_analyzer *a, const cs_ipfrag_out *o)
{
    size_t n = 0;

    if (cs_grow((void **)&a->dmap, &a->dmap_cap, o->n_pieces + 1, sizeof(*a->dmap)) < 0)
        return 0;
    for (uint32_t i = 0; i < o->n_pieces; i++) {
        const cs_ipfrag_piece *pc = &o->pieces[i];
        if (pc->off + pc->len <= 8 || pc->off >= o->len)
            continue;
        a->dmap[n++] = (mapent){pc->off > 8 ? pc->off - 8u : 0, pc->ts_ns, pc->ref};
    }
    return n;
}

static void udp_reassembled(cs_analyzer *a, const cs_packet *p, const cs_layers *l,
                            const cs_ipfrag_out *o)
{
    cs_cursor c;
    cs_layers ul = *l;
    uint16_t ulen;
    size_t plen, n_map;
    uint8_t dir;
    aflow *fl;

    cs_cursor_init(&c, o->data, o->len);
    ul.sport = cs_get_be16(&c);
    ul.dport = cs_get_be16(&c);
    ulen = cs_get_be16(&c);
    cs_cursor_skip(&c, 2);
    if (!cs_cursor_ok(&c))
        return;
    plen = o->len - 8;
    if (ulen >= 8 && (size_t)ulen - 8 < plen)
        plen = (size_t)ulen - 8;
    n_map = frag_map(a, o);
    fl = flow_get(a, p, &ul, ul.sport, ul.dport, &dir);
    if (fl == NULL || n_map == 0)
        return;
    udp_datagram(a, fl, dir, o->data + 8, plen, a->dmap, n_map);
}

static void udp_fragment(cs_analyzer *a, const cs_packet *p, const cs_layers *l, cs_pktref ref)
{
    cs_ipfrag_key k;
    cs_ipfrag_out o;
    size_t start = l->frag_data_off, n;

    if (start == 0 || start > p->caplen)
        return;
    n = p->caplen - start;
    if (l->frag_data_len < n)
        n = l->frag_data_len;
    memset(&k, 0, sizeof(k));
    memcpy(k.src, l->src, 16);
    memcpy(k.dst, l->dst, 16);
    k.id = l->ip_id;
    k.tap = p->tap;
    k.ip_version = l->ip_version;
    k.proto = l->ip_proto;
    if (cs_ipfrag_add(a->frag, &k, l->frag_offset, p->data + start, (uint32_t)n, l->more_frags,
                      p->ts_ns, ref, &o) == 1)
        udp_reassembled(a, p, l, &o);
}

/* ---- public API ------------------------------------------------------- */

/* The sightings' and the hops' pairings: their measurements are the
 * analyzer's; a sighting left alone is only counted (a feed without a twin
 * is no fault). */
static void pass_measurement(void *ud, const cs_measurement *ms)
{
    cs_analyzer *a = ud;

    if (a->sink.measurement)
        a->sink.measurement(a->sink.ud, ms);
}

static void sight_alone(void *ud, const cs_message *m, int kind)
{
    (void)m;
    (void)kind;
    ((cs_analyzer *)ud)->st.sightings_alone++;
}

/* A message no other tap saw in the hop window is only counted, and only
 * once there are two taps (the start-up window's are no one's fault). */
static void hop_alone(void *ud, const cs_message *m, int kind)
{
    cs_analyzer *a = ud;

    (void)m;
    (void)kind;
    if (a->hops == HOPS_ON)
        a->st.hops_alone++;
}

int cs_analyzer_new(const cs_analyzer_cfg *cfg, const cs_sink *sink, cs_analyzer **out)
{
    cs_analyzer *a = cs_calloc(1, sizeof(*a));
    int rc = CS_ENOMEM;

    if (a == NULL)
        return CS_ENOMEM;
    if (cfg)
        a->cfg = *cfg;
    else
        cs_analyzer_cfg_default(&a->cfg);
    a->sink = *sink;
    a->sight_sink = (cs_sink){.ud = a, .measurement = pass_measurement, .unmatched = sight_alone};
    a->hop_sink = (cs_sink){.ud = a, .measurement = pass_measurement, .unmatched = hop_alone};
    a->tcp_ops = (cs_tcp_ops){a, on_tcp_data, on_tcp_gap, on_tcp_eof, on_tcp_held};
    a->tcp_env = (cs_tcp_env){&a->tcp_ops, &a->tcp_st, a->cfg.max_flow_buffer};
    if ((rc = load_decoders(a)) < 0 ||
        (rc = cs_flowtable_new(sizeof(aflow), a->cfg.max_flows, &a->ft)) < 0 ||
        (rc = cs_ipfrag_new(FRAG_MAX, FRAG_TIMEOUT_NS, &a->frag)) < 0 ||
        (rc = cs_pairing_new(MAX_PENDING, a->cfg.pair_timeout_ns, sink, &a->pair)) < 0 ||
        (rc = cs_pairing_new(MAX_PENDING, a->cfg.sight_window_ns, &a->sight_sink, &a->sight)) < 0 ||
        (rc = cs_pairing_new(MAX_PENDING, a->cfg.hop_window_ns, &a->hop_sink, &a->hop)) < 0 ||
        (rc = cs_t2t_new(a->cfg.t2t_window_ns, sink, &a->t2t)) < 0)
        goto fail;
    *out = a;
    return 0;
fail:
    cs_analyzer_free(a);
    return rc;
}

/* A packet's own part of the analysis, after the housekeeping its capture
 * time calls for: flows, reassembly, decoders. */
static void packet_flows(cs_analyzer *a, const cs_packet *p, const cs_layers *l, cs_pktref ref)
{
    const uint8_t *pay;
    uint32_t plen;
    uint8_t dir;
    aflow *fl;

    if (!(l->flags & CS_L_IP) || (l->ip_proto != 6 && l->ip_proto != 17))
        return;
    if ((l->flags & CS_L_FRAGMENT) && (l->frag_offset != 0 || l->more_frags)) {
        if (l->ip_proto == 17)
            udp_fragment(a, p, l, ref);
        return;
    }
    if (!(l->flags & CS_L_L4) || l->payload_off > p->caplen)
        return;
    pay = p->data + l->payload_off;
    plen = l->payload_len;
    if (plen > p->caplen - l->payload_off)
        plen = p->caplen - l->payload_off;
    fl = flow_get(a, p, l, l->sport, l->dport, &dir);
    if (fl == NULL)
        return;
    if (l->ip_proto == 6) {
        tcp_packet(a, fl, dir, p, l, pay, plen, ref);
    } else {
        mapent e = {0, p->ts_ns, ref};
        udp_datagram(a, fl, dir, pay, plen, &e, 1);
    }
}

void cs_analyzer_packet(cs_analyzer *a, const cs_packet *p, const cs_layers *l, cs_pktref ref)
{
    a->seq = ++a->st.packets;
    if (a->hops != HOPS_ON)
        taps_notice(a, p);
    flows_expire(a, p->ts_ns);
    pairings_expire(a, p->ts_ns);
    cs_ipfrag_expire(a->frag, p->ts_ns);
    packet_flows(a, p, l, ref);
}

/* Every flow ends, least recently used first. */
static void flows_finish(cs_analyzer *a)
{
    cs_flow *f;

    while ((f = cs_flowtable_oldest(a->ft)) != NULL) {
        a->order = ((aflow *)(void *)f)->last_seq;
        flow_drop(a, (aflow *)(void *)f);
    }
}

void cs_analyzer_finish(cs_analyzer *a)
{
    flows_finish(a);
    cs_analyzer_corr_finish(a);
}

/* ---- sharded analysis ----------------------------------------------- */

void cs_analyzer_shard(cs_analyzer *a, uint32_t index, cs_an_log *log)
{
    a->shard = index;
    a->log = log;
}

int cs_analyzer_shard_error(const cs_analyzer *a)
{
    return a->log_rc;
}

void cs_analyzer_flows_packet(cs_analyzer *a, const cs_packet *p, const cs_layers *l, cs_pktref ref,
                              uint64_t seq, int own)
{
    a->seq = seq;
    flows_expire(a, p->ts_ns);
    cs_ipfrag_expire(a->frag, p->ts_ns);
    if (own)
        packet_flows(a, p, l, ref);
}

void cs_analyzer_flows_finish(cs_analyzer *a)
{
    a->seq = CS_AN_SEQ_END;
    flows_finish(a);
}

void cs_analyzer_corr_packet(cs_analyzer *a, const cs_packet *p)
{
    a->seq = ++a->st.packets;
    if (a->hops != HOPS_ON)
        taps_notice(a, p);
}

void cs_analyzer_corr_expire(cs_analyzer *a, int64_t now_ns)
{
    pairings_expire(a, now_ns);
}

void cs_analyzer_corr_replay(cs_analyzer *a, const cs_an_event *e)
{
    cs_message m;

    switch (e->kind) {
    case CS_AN_DELIVER:
        m = e->u.d.m; /* pairing sets its flags */
        deliver_now(a, &m, &e->u.d.c, e->t2t, e->u.d.instrument);
        break;
    case CS_AN_SEQ_GAP:
        if (a->sink.seq_gap)
            a->sink.seq_gap(a->sink.ud, &e->u.gap);
        break;
    case CS_AN_SEQ_SEEN:
        if (a->sink.seq_seen)
            a->sink.seq_seen(a->sink.ud, &e->u.span);
        break;
    }
}

void cs_analyzer_corr_finish(cs_analyzer *a)
{
    cs_pairing_flush(a->pair);
    cs_pairing_flush(a->sight);
    cs_pairing_flush(a->hop);
}

void cs_analyzer_stats_add(cs_analyzer_stats *to, const cs_analyzer_stats *st)
{
    /* every field is a uint64_t count */
    uint64_t *t = (uint64_t *)(void *)to;
    const uint64_t *f = (const uint64_t *)(const void *)st;

    _Static_assert(sizeof(*st) % sizeof(uint64_t) == 0, "cs_analyzer_stats holds counts only");
    for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
        t[i] += f[i];
}

void cs_analyzer_stats_get(const cs_analyzer *a, cs_analyzer_stats *st)
{
    cs_pairing_stats ps;
    cs_t2t_stats ts;
    cs_ipfrag_stats fs;

    *st = a->st;
    st->tcp_gaps = a->tcp_st.gaps;
    st->tcp_gap_bytes = a->tcp_st.gap_bytes;
    st->tcp_retransmits = a->tcp_st.retransmits;
    st->tcp_out_of_order = a->tcp_st.out_of_order;
    st->buffer_overflows = a->tcp_st.overflows + a->stream_overflows;
    cs_ipfrag_stats_get(a->frag, &fs);
    st->frags = fs.frags;
    st->frags_reassembled = fs.reassembled;
    st->frags_dropped = fs.dropped;
    cs_t2t_stats_get(a->t2t, &ts);
    st->t2t_orders = ts.orders;
    st->t2t_measurements = ts.measurements;
    cs_pairing_stats_get(a->sight, &ps);
    st->measurements = ps.measurements + ts.measurements;
    cs_pairing_stats_get(a->hop, &ps);
    st->measurements += ps.measurements;
    cs_pairing_stats_get(a->pair, &ps);
    st->measurements += ps.measurements;
    st->unmatched_requests = ps.unmatched_requests;
    st->unmatched_responses = ps.unmatched_responses;
}

void cs_analyzer_free(cs_analyzer *a)
{
    cs_flow *f;

    if (a == NULL)
        return;
    if (a->ft != NULL) {
        while ((f = cs_flowtable_oldest(a->ft)) != NULL) {
            aflow *fl = (aflow *)(void *)f;
            flow_close_decoder(fl);
            cs_tcp_release(&fl->tcp);
            stream_release(&fl->s[0]);
            stream_release(&fl->s[1]);
            cs_flowtable_remove(a->ft, f);
        }
        cs_flowtable_free(a->ft);
    }
    cs_ipfrag_free(a->frag);
    cs_pairing_free(a->pair);
    cs_pairing_free(a->sight);
    cs_t2t_free(a->t2t);
    cs_pairing_free(a->hop);
    cs_free(a->decs);
    cs_free(a->opt_ports);
    cs_free(a->refs);
    cs_free(a->dmap);
    cs_free(a);
}

/*
 * analyzer_dispatch.c - which decoder a flow gets, and how its bytes reach
 * it: the configured decoders and their ports, the probes of a new flow's
 * first bytes, reassembly's callbacks, UDP datagrams and IP fragments.
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
 * UDP flows are dispatched on each datagram alone (udp_dispatch says why a
 * listed port wins over a probe's NO). A fragmented datagram is
 * reassembled by ipfrag, keyed by (addresses, IP id, tap, protocol); the
 * map of its payload gives each piece's packet, so a message spanning
 * fragments has every packet's ref.
 */
#include "analytics/analyzer_int.h"
#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"

#include <string.h>

/* ---- decoders and their ports ----------------------------------------- */

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

int cs__an_well_known(const cs_analyzer *a, int tidx, uint16_t port)
{
    return (a->wk[tidx][port >> 3] >> (port & 7)) & 1;
}

int cs__an_load_decoders(cs_analyzer *a)
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

int cs__an_has_candidates(const cs_analyzer *a, int tidx)
{
    for (size_t i = 0; i < a->n_decs; i++)
        if (decoder_serves(a->decs[i], tidx))
            return 1;
    return 0;
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

    cs__an_stream_clear(&fl->s[0]);
    cs__an_stream_clear(&fl->s[1]);
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
    cs__an_parse_buffered(a, fl, first, 0);
    cs__an_parse_buffered(a, fl, (uint8_t)(first ^ 1), 0);
}

static void tcp_pending_bytes(cs_analyzer *a, aflow *fl, uint8_t dir, uint64_t off,
                              const uint8_t *p, size_t n, int64_t ts, cs_pktref ref)
{
    pick_result r;

    if (cs__an_stream_append(&fl->s[dir], off, p, n, ts, ref) < 0)
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
        cs__an_stream_bytes(a, fl, dir, off, p, n, ts, ref);
}

static void on_tcp_gap(void *ud, uint8_t dir, uint64_t off, uint64_t n)
{
    cs_analyzer *a = ud;
    aflow *fl = a->cur;

    cs__an_stream_clear(&fl->s[dir]);
    if (fl->dispatch == DISPATCH_DECIDED && fl->dec->gap)
        fl->dec->gap(fl->state, dir);
    cs__an_held_deliver(a, fl, dir);
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
    cs__an_parse_buffered(a, fl, dir, CS_IN_EOF);
    cs__an_held_deliver(a, fl, dir);
    cs__an_stream_clear(s);
}

static size_t on_tcp_held(void *ud, uint8_t dir)
{
    cs_analyzer *a = ud;
    return a->cur->s[dir].len;
}

cs_tcp_ops cs__an_tcp_ops(cs_analyzer *a)
{
    return (cs_tcp_ops){a, on_tcp_data, on_tcp_gap, on_tcp_eof, on_tcp_held};
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

void cs__an_udp_datagram(cs_analyzer *a, aflow *fl, uint8_t dir, const uint8_t *data, size_t len,
                         const mapent *map, size_t n_map)
{
    cs_decode_input in;
    cs_decode_ctx ctx;

    if (fl->dispatch == DISPATCH_PENDING)
        udp_dispatch(a, fl, dir, data, len);
    if (fl->dispatch != DISPATCH_DECIDED)
        return;
    in = (cs_decode_input){dir, CS_IN_DATAGRAM, data, len, 0};
    ctx = (cs_decode_ctx){&cs__an_decode_ops, a, fl, dir, 0, len, map, n_map};
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
    fl = cs__an_flow_get(a, p, &ul, ul.sport, ul.dport, &dir);
    if (fl == NULL || n_map == 0)
        return;
    cs__an_udp_datagram(a, fl, dir, o->data + 8, plen, a->dmap, n_map);
}

void cs__an_udp_fragment(cs_analyzer *a, const cs_packet *p, const cs_layers *l, cs_pktref ref)
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

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
 * This file keeps the flows (table, idling, endpoints, who initiates), TCP
 * segments into reassembly, the analyzer's life and its sharded halves;
 * analyzer_stream.c turns a direction's bytes into messages (buffer, ids,
 * held messages, delivery); analyzer_dispatch.c chooses each flow's decoder
 * and carries reassembly's callbacks and UDP (fragments included) to it.
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
 * through deliver_now() (analyzer_stream.c), the one place where a message reaches the sink
 * and the pairings, sharded or not.
 */
#include "analytics/analyzer.h"
#include "analytics/analyzer_int.h"
#include "analytics/anlog.h"
#include "analytics/pairing.h"
#include "analytics/t2t.h"
#include "core/alloc.h"
#include "core/error.h"

#include <string.h>

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
    cs__an_held_deliver(a, fl, 0);
    cs__an_held_deliver(a, fl, 1);
    flow_close_decoder(fl);
    cs_tcp_release(&fl->tcp);
    cs__an_stream_release(&fl->s[0]);
    cs__an_stream_release(&fl->s[1]);
    fl->dispatch = DISPATCH_CLOSED;
}

static void flow_drop(cs_analyzer *a, aflow *fl)
{
    flow_end(a, fl);
    cs_flowtable_remove(a->ft, &fl->f);
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
    int tidx = cs__an_transport_index(l->ip_proto);

    if (l->ip_proto == 6 && (l->tcp_flags & CS_TCP_SYN))
        return !(l->tcp_flags & CS_TCP_ACK);
    if (cs__an_well_known(a, tidx, sport) != cs__an_well_known(a, tidx, dport))
        return !cs__an_well_known(a, tidx, sport);
    /* TCP picked up mid-stream: services listen on the lower port (9878 vs
     * an ephemeral 40000), so that side is the responder, whichever side
     * the first packet seen came from. UDP: the first sender asks. */
    if (l->ip_proto == 6 && sport != dport)
        return sport > dport;
    return 1;
}

aflow *cs__an_flow_get(cs_analyzer *a, const cs_packet *p, const cs_layers *l, uint16_t sport,
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
        fl->dispatch = cs__an_has_candidates(a, cs__an_transport_index(l->ip_proto))
                           ? DISPATCH_PENDING
                           : DISPATCH_NONE;
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
    fl->dispatch = cs__an_has_candidates(a, 0) ? DISPATCH_PENDING : DISPATCH_NONE;
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
    a->tcp_ops = cs__an_tcp_ops(a);
    a->tcp_env = (cs_tcp_env){&a->tcp_ops, &a->tcp_st, a->cfg.max_flow_buffer};
    if ((rc = cs__an_load_decoders(a)) < 0 ||
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
            cs__an_udp_fragment(a, p, l, ref);
        return;
    }
    if (!(l->flags & CS_L_L4) || l->payload_off > p->caplen)
        return;
    pay = p->data + l->payload_off;
    plen = l->payload_len;
    if (plen > p->caplen - l->payload_off)
        plen = p->caplen - l->payload_off;
    fl = cs__an_flow_get(a, p, l, l->sport, l->dport, &dir);
    if (fl == NULL)
        return;
    if (l->ip_proto == 6) {
        tcp_packet(a, fl, dir, p, l, pay, plen, ref);
    } else {
        mapent e = {0, p->ts_ns, ref};
        cs__an_udp_datagram(a, fl, dir, pay, plen, &e, 1);
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
        cs__an_deliver_now(a, &m, &e->u.d.c, e->t2t, e->u.d.instrument);
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
            cs__an_stream_release(&fl->s[0]);
            cs__an_stream_release(&fl->s[1]);
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

/*
 * tcp_reasm.c - TCP reassembly: sequence space to in-order stream bytes.
 *
 * How it works, per half (direction):
 *
 *   next_seq / next_off: the sequence number and stream offset of the next
 *   byte to deliver. A segment's position is rel = (int32_t)(seq - next_seq):
 *
 *        rel + len <= 0        all old: a retransmission, dropped
 *        rel <= 0 < rel + len  overlaps the edge: deliver bytes [-rel, len)
 *        rel > 0               ahead of a hole: copy into the ooo list
 *
 *   After every delivery the ooo list is drained while its head starts at or
 *   before next_off (overlaps with delivered bytes are cut off, so the first
 *   copy of every byte wins and keeps its packet's timestamp).
 *
 *   A hole [next_off, head of ooo) is declared lost (gap callback, next_off
 *   jumps over it) when:
 *     - the other half ACKs a sequence number beyond next_seq: the receiver
 *       had those bytes, so the tap lost them;
 *     - the ooo bytes plus the consumer's held bytes exceed max_buffer;
 *     - the half ends (FIN reached, RST, cs_tcp_end()).
 *
 *   The ACK of a segment is processed before its payload: it describes what
 *   the sender had received before sending, so the other half's bytes up to
 *   it come first in stream time (a request completed by a proven hole is
 *   delivered before the response that proved it).
 *
 *   Keep-alives (at most one byte at next_seq - 1) and SYN retransmissions
 *   are not data and are not counted as retransmissions. A SYN consumes one
 *   sequence number; data on a SYN starts after it.
 */
#include "flow/tcp_reasm.h"
#include "core/alloc.h"

#include <string.h>

static void advance(cs_tcp_half *h, uint64_t n)
{
    h->next_off += n;
    h->next_seq += (uint32_t)n;
}

static void declare_gap(cs_tcp_half *h, const cs_tcp_env *env, uint8_t dir, uint64_t n)
{
    if (n == 0)
        return;
    env->st->gaps++;
    env->st->gap_bytes += n;
    env->ops->gap(env->ops->ud, dir, h->next_off, n);
    advance(h, n);
}

/* Delivers "wire" bytes at next_off of which the first "n" were captured. */
static void deliver(cs_tcp_half *h, const cs_tcp_env *env, uint8_t dir, const uint8_t *p,
                    uint32_t n, uint32_t wire, int64_t ts, cs_pktref ref)
{
    if (n > 0) {
        env->ops->data(env->ops->ud, dir, h->next_off, p, n, ts, ref);
        advance(h, n);
    }
    if (wire > n)
        declare_gap(h, env, dir, wire - n);
}

/* Delivers the ooo segments that now start at or before next_off. */
static void drain(cs_tcp_half *h, const cs_tcp_env *env, uint8_t dir)
{
    cs_tcp_ooo *s;

    while ((s = h->ooo) != NULL && s->off <= h->next_off) {
        h->ooo = s->next;
        h->ooo_bytes -= s->len;
        if (s->off + s->len > h->next_off) {
            uint32_t skip = (uint32_t)(h->next_off - s->off);
            deliver(h, env, dir, s->data + skip, s->len - skip, s->len - skip, s->ts_ns, s->ref);
        }
        cs_free(s);
    }
}

/* Declares holes lost and drains until next_off reaches "target" or the
 * ooo list runs dry (then the rest up to target is one last hole). */
static void fill_to(cs_tcp_half *h, const cs_tcp_env *env, uint8_t dir, uint64_t target)
{
    while (h->next_off < target) {
        uint64_t stop = target;

        if (h->ooo != NULL && h->ooo->off < stop)
            stop = h->ooo->off;
        declare_gap(h, env, dir, stop - h->next_off);
        drain(h, env, dir);
    }
}

static void end_half(cs_tcp_half *h, const cs_tcp_env *env, uint8_t dir)
{
    if (h->ended)
        return;
    while (h->ooo != NULL) {
        declare_gap(h, env, dir, h->ooo->off - h->next_off);
        drain(h, env, dir);
    }
    h->ended = 1;
    env->ops->eof(env->ops->ud, dir);
}

static void check_fin(cs_tcp_half *h, const cs_tcp_env *env, uint8_t dir)
{
    if (h->fin && !h->ended && h->next_seq == h->fin_seq)
        end_half(h, env, dir);
}

static cs_tcp_ooo *ooo_piece(uint64_t off, const uint8_t *p, uint32_t n, const cs_tcp_seg *s)
{
    cs_tcp_ooo *o = cs_malloc(sizeof(*o) + n);

    if (o == NULL)
        return NULL;
    o->next = NULL;
    o->off = off;
    o->len = n;
    o->ts_ns = s->ts_ns;
    o->ref = s->ref;
    memcpy(o->data, p, n);
    return o;
}

/* Inserts the parts of [off, off + n) not yet held; returns bytes added. */
static uint32_t ooo_insert(cs_tcp_half *h, uint64_t off, const uint8_t *p, uint32_t n,
                           const cs_tcp_seg *s)
{
    cs_tcp_ooo **pp = &h->ooo;
    uint64_t cur = off, end = off + n;
    uint32_t added = 0;

    while (cur < end) {
        cs_tcp_ooo *e, *piece;
        uint64_t stop = end;

        while (*pp != NULL && (*pp)->off + (*pp)->len <= cur)
            pp = &(*pp)->next;
        e = *pp;
        if (e != NULL && e->off <= cur) {
            cur = e->off + e->len;
            continue;
        }
        if (e != NULL && e->off < stop)
            stop = e->off;
        piece = ooo_piece(cur, p + (cur - off), (uint32_t)(stop - cur), s);
        if (piece == NULL)
            break;
        piece->next = e;
        *pp = piece;
        pp = &piece->next;
        added += piece->len;
        cur = stop;
    }
    h->ooo_bytes += added;
    return added;
}

static size_t held(const cs_tcp_env *env, uint8_t dir)
{
    return env->ops->held ? env->ops->held(env->ops->ud, dir) : 0;
}

/* Enforces max_buffer by declaring the earliest holes lost. */
static void enforce_bound(cs_tcp_half *h, const cs_tcp_env *env, uint8_t dir)
{
    if (h->ooo == NULL || h->ooo_bytes + held(env, dir) <= env->max_buffer)
        return;
    env->st->overflows++;
    while (h->ooo != NULL && h->ooo_bytes + held(env, dir) > env->max_buffer) {
        declare_gap(h, env, dir, h->ooo->off - h->next_off);
        drain(h, env, dir);
    }
}

static void on_payload(cs_tcp_half *h, const cs_tcp_env *env, const cs_tcp_seg *s, uint32_t seq)
{
    int32_t rel;

    if (!h->started) {
        h->started = 1;
        h->midstream = 1;
        h->next_seq = seq;
    }
    if (h->ended) {
        env->st->retransmits++;
        return;
    }
    rel = (int32_t)(seq - h->next_seq);
    if (rel == -1 && s->wire_len <= 1)
        return; /* keep-alive */
    if ((int64_t)rel + s->wire_len <= 0) {
        env->st->retransmits++;
        return;
    }
    if (rel <= 0) {
        uint32_t skip = (uint32_t)-rel;
        uint32_t n = s->len > skip ? s->len - skip : 0;

        if (skip > 0)
            env->st->retransmits++;
        deliver(h, env, s->dir, s->data + (n ? skip : 0), n, s->wire_len - skip, s->ts_ns, s->ref);
        drain(h, env, s->dir);
        return;
    }
    if (s->len == 0)
        return;
    if (ooo_insert(h, h->next_off + (uint32_t)rel, s->data, s->len, s) == 0)
        env->st->retransmits++;
    else
        env->st->out_of_order++;
    enforce_bound(h, env, s->dir);
}

/* The ACK of a segment from one half proves what the other half sent. */
static void on_ack(cs_tcp_half *o, const cs_tcp_env *env, uint8_t odir, uint32_t ack)
{
    int32_t rel;

    if (!o->started || o->ended)
        return;
    if (o->fin && (int32_t)(ack - o->fin_seq) > 0)
        ack = o->fin_seq;
    rel = (int32_t)(ack - o->next_seq);
    if (rel <= 0)
        return;
    fill_to(o, env, odir, o->next_off + (uint32_t)rel);
}

void cs_tcp_segment(cs_tcp_conn *c, const cs_tcp_env *env, const cs_tcp_seg *s)
{
    cs_tcp_half *h = &c->half[s->dir & 1];
    uint8_t odir = (uint8_t)((s->dir & 1) ^ 1);
    uint32_t seq = s->seq;

    if (s->flags & CS_TCP_ACK)
        on_ack(&c->half[odir], env, odir, s->ack);
    if (s->flags & CS_TCP_SYN) {
        if (!h->started) {
            h->started = 1;
            h->next_seq = seq + 1;
        }
        seq++;
    }
    if (s->wire_len > 0)
        on_payload(h, env, s, seq);
    if (s->flags & CS_TCP_RST) {
        end_half(h, env, s->dir & 1);
        end_half(&c->half[odir], env, odir);
        return;
    }
    if ((s->flags & CS_TCP_FIN) && h->started && !h->fin) {
        h->fin = 1;
        h->fin_seq = seq + s->wire_len;
    }
    check_fin(h, env, s->dir & 1);
    check_fin(&c->half[odir], env, odir);
}

void cs_tcp_end(cs_tcp_conn *c, const cs_tcp_env *env, uint8_t dir)
{
    end_half(&c->half[dir & 1], env, dir & 1);
}

void cs_tcp_release(cs_tcp_conn *c)
{
    for (int d = 0; d < 2; d++) {
        cs_tcp_ooo *s = c->half[d].ooo;

        while (s != NULL) {
            cs_tcp_ooo *n = s->next;
            cs_free(s);
            s = n;
        }
    }
    memset(c, 0, sizeof(*c));
}

/*
 * synth_trading.c - the synthetic source's trading traffic (see synth.h,
 * synth_int.h): market data on an A/B pair of MoldUDP64 feeds and OUCH
 * order entry over SoupBinTCP, each packet seen at two taps. Laid out as
 * tools/gentrading.py lays out the same traffic (addresses, ports,
 * sessions), in real time and without its TCP quirks.
 *
 * Two taps: a tap aggregator tags each capture point with a VLAN (802.1Q);
 * capstream sees them apart with --tap-by vlan. VLAN 101 is the edge, 102
 * inside. Every packet is written twice, identical but for the tag: market
 * data and venue replies reach 101 first and 102 2-3.4 us later; orders and
 * the client's segments reach 102 first, then 101.
 *
 *   venue/exchange ──► [tap 101 edge] ──2-3.4us──► [tap 102 inside] ──► client
 *
 * Market data (MoldUDP64 1.00 carrying TotalView-ITCH 5.0, session
 * CSITCH0001): feed A 10.9.0.1:26477 -> 233.54.12.111:26477, feed B
 * 10.9.0.2:26478 -> 233.54.12.112:26478, the same datagram (session,
 * sequence numbers, messages) on both. B is 1-8 us behind A, and on one
 * packet in eight 1-5 us ahead. The first packet holds System Event 'O'
 * and a Stock Directory 'R' per symbol (Stock Locate = 1 + the symbol's
 * index); then 1-6 Add Order / Order Executed / Order Delete messages per
 * packet, an order's events carrying its locate. Every 200 ms both feeds
 * send a heartbeat (count 0, sequence = next expected). Loss is upstream of
 * both taps (a lost copy is missing at both): every 100-299 data packets
 * (one in 200 on average) one packet is lost on A only, B only, or both,
 * in the repeating pattern A B AB A B A B A B - so A-only and B-only gaps
 * each about 0.22% of packets (the other feed recovers them), gaps on both
 * about 0.06%.
 *
 *   +------------+----------+-------+-----+---------+-----+---------+
 *   | Session 10 | Seq 8    | Count | Len | ITCH    | Len | ITCH ...|
 *   +------------+----------+-------+-----+---------+-----+---------+
 *
 * Order entry (SoupBinTCP 3.00 carrying OUCH 4.2, session OUCH42S001):
 * client 10.1.0.10:40100 -> venue 10.2.0.20:15000. TCP handshake, Login
 * Request 'L' -> Login Accepted 'A' (sequenced data from 1), client 'R' and
 * server 'H' heartbeats every second, Enter Order 'O' (49 bytes, with
 * Customer Type) -> Accepted 'A' (66) or, one in twenty, Rejected 'J';
 * three in ten accepted orders then get an Executed 'E'; Cancel Order 'X'
 * -> Canceled 'C'. The venue answers after ~25 us (log-normal) at the edge.
 * A quarter of market data packets with a tick is followed by an Enter
 * Order on the symbol of its last message, 4-60 us after the tick reached
 * tap 102, so tick-to-trade shows.
 *
 *   SoupBinTCP: | Length 2 (= 1 + payload) | Type 1 | payload |
 *
 * Transactions here write their frames in any time order; one_tx
 * (synth.c) sorts them. Memory: the source's arena, no allocation.
 */
#include "source/synth_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define TAP_EDGE 101
#define TAP_INSIDE 102
#define MOLD_HB_NS 200000000ll
#define SOUP_HB_NS 1000000000ll
#define N_SYMBOLS 6

static const char *const symbols[N_SYMBOLS] = {"AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "TSLA"};
static const uint8_t feed_src[2][4] = {{10, 9, 0, 1}, {10, 9, 0, 2}};
static const uint8_t feed_grp[2][4] = {{233, 54, 12, 111}, {233, 54, 12, 112}};
static const uint16_t feed_port[2] = {26477, 26478};

enum { LOSE_A = 1, LOSE_B = 2, LOSE_BOTH = 3 };
static const uint8_t loss_pattern[] = {LOSE_A, LOSE_B, LOSE_BOTH, LOSE_A, LOSE_B,
                                       LOSE_A, LOSE_B, LOSE_A,    LOSE_B};

/* 2-3.4 us between the two taps. */
static int64_t hop_ns(synth *s)
{
    return 2000 + (int64_t)cs__syn_rnd_below(s, 1400);
}

static void put_alpha(uint8_t *p, const char *v, size_t n)
{
    size_t l = strlen(v);

    memset(p, ' ', n);
    memcpy(p, v, l < n ? l : n);
}

void cs__syn_trading_init(synth *s)
{
    static const uint8_t cli[4] = {10, 1, 0, 10}, venue[4] = {10, 2, 0, 20};
    tcp_conn *c = &s->tr.ouch;

    memcpy(c->ip[0], cli, 4);
    memcpy(c->ip[1], venue, 4);
    c->port[0] = 40100;
    c->port[1] = 15000;
    c->seq[0] = (uint32_t)cs__syn_rnd_u64(s);
    c->seq[1] = (uint32_t)cs__syn_rnd_u64(s);
    s->tr.loss_in = 30 + cs__syn_rnd_below(s, 20);
    s->tr.last_sym = -1;
}

/* ---- market data: ITCH 5.0 in MoldUDP64, feeds A and B ---------------- */

/* The common header of an ITCH message: type, Stock Locate ("sym" + 1;
 * 0 for a message about no symbol, sym = -1), tracking 0, the 6-byte
 * timestamp (ns since midnight). */
static void itch_head(uint8_t *p, char type, int sym, int64_t ts)
{
    uint64_t tod = (uint64_t)(ts % (86400ll * 1000000000ll));

    p[0] = (uint8_t)type;
    cs__syn_put16(p + 1, (uint16_t)(sym + 1));
    cs__syn_put16(p + 3, 0);
    cs__syn_put16(p + 5, (uint16_t)(tod >> 32));
    cs__syn_put32(p + 7, (uint32_t)tod);
}

/* Stock Directory (39 bytes) of symbol "sym". */
static size_t itch_directory(uint8_t *p, unsigned sym, int64_t ts)
{
    itch_head(p, 'R', (int)sym, ts);
    put_alpha(p + 11, symbols[sym], 8);
    memcpy(p + 19, "QN", 2);      /* market category, financial status */
    cs__syn_put32(p + 21, 100);   /* round lot */
    memcpy(p + 25, "NCZ PNN", 7); /* round lots only .. IPO flag */
    memcpy(p + 32, "1N", 2);      /* LULD tier, ETP flag */
    cs__syn_put32(p + 34, 0);     /* ETP leverage */
    p[38] = 'N';                  /* inverse */
    return 39;
}

/* One Add Order (36), Order Executed (31) or Order Delete (19) at p;
 * returns its length and sets "*sym" to the symbol it is about. */
static size_t itch_order_msg(synth *s, uint8_t *p, int64_t ts, unsigned *sym)
{
    syn_trading *tr = &s->tr;
    unsigned r = cs__syn_rnd_below(s, 4), i;
    uint64_t ref;

    if (r < 2 || tr->n_live == 0 || (r == 2 && tr->n_live < 4)) {
        *sym = cs__syn_rnd_below(s, N_SYMBOLS);
        ref = ++tr->itch_ref;
        if (tr->n_live == SYN_LIVE_REFS)
            tr->n_live--; /* forget the newest: a ring would be fairer, this is a demo */
        tr->live[tr->n_live] = ref;
        tr->live_sym[tr->n_live++] = (uint8_t)*sym;
        itch_head(p, 'A', (int)*sym, ts);
        cs__syn_put64(p + 11, ref);
        p[19] = cs__syn_rnd_below(s, 2) ? 'B' : 'S';
        cs__syn_put32(p + 20, 100 * (1 + cs__syn_rnd_below(s, 10)));
        put_alpha(p + 24, symbols[*sym], 8);
        cs__syn_put32(p + 32, 1500000 + cs__syn_rnd_below(s, 10000));
        return 36;
    }
    i = cs__syn_rnd_below(s, tr->n_live);
    ref = tr->live[i];
    *sym = tr->live_sym[i];
    if (r == 2) {
        itch_head(p, 'E', (int)*sym, ts);
        cs__syn_put64(p + 11, ref);
        cs__syn_put32(p + 19, 100);
        cs__syn_put64(p + 23, ++tr->itch_match);
        return 31;
    }
    tr->live[i] = tr->live[--tr->n_live];
    tr->live_sym[i] = tr->live_sym[tr->n_live];
    itch_head(p, 'D', (int)*sym, ts);
    cs__syn_put64(p + 11, ref);
    return 19;
}

/* Sends the datagram of "n" bytes in scratch on feed "f" (0 A, 1 B),
 * reaching tap 101 at "t" and tap 102 a hop later. */
static void feed_send(synth *s, int f, int64_t t, size_t n)
{
    s->vlan = TAP_EDGE;
    cs__syn_emit_udp(s, t, feed_src[f], feed_port[f], feed_grp[f], feed_port[f], s->scratch, n);
    cs__syn_twin(s, t + hop_ns(s), TAP_INSIDE);
    s->vlan = 0;
}

static int64_t order_enter(synth *s, int64_t t, unsigned sym);

int64_t cs__syn_tx_market_data(synth *s, int64_t t)
{
    syn_trading *tr = &s->tr;
    uint8_t *p = s->scratch;
    unsigned count = 0, sym = 0, lose = 0, ticks = 0;
    size_t n = 20;
    int64_t ta = t + 5000, tb, d;

    memcpy(p, "CSITCH0001", 10);
    cs__syn_put64(p + 10, tr->mold_seq + 1);
    if (!tr->directory_sent) { /* start of messages, then the directory */
        tr->directory_sent = 1;
        tr->mold_next_hb = t + MOLD_HB_NS;
        cs__syn_put16(p + n, 12);
        itch_head(p + n + 2, 'S', -1, t);
        p[n + 2 + 11] = 'O'; /* System Event: start of messages */
        n += 14;
        for (count = 1; count <= N_SYMBOLS; count++, n += 41) {
            cs__syn_put16(p + n, 39);
            itch_directory(p + n + 2, count - 1, t);
        }
    } else if (t >= tr->mold_next_hb) { /* count 0: next expected number */
        tr->mold_next_hb = t + MOLD_HB_NS;
    } else {
        count = ticks = 1 + cs__syn_rnd_below(s, 6);
        for (unsigned i = 0; i < count; i++) {
            size_t m = itch_order_msg(s, p + n + 2, t, &sym);
            cs__syn_put16(p + n, (uint16_t)m);
            n += 2 + m;
        }
        if (--tr->loss_in == 0) {
            lose = loss_pattern[tr->loss_ix++ % sizeof(loss_pattern)];
            tr->loss_in = 100 + cs__syn_rnd_below(s, 200);
        }
    }
    cs__syn_put16(p + 18, (uint16_t)count);
    tr->mold_seq += count;
    /* B 1-8 us behind A, one packet in eight 1-5 us ahead */
    d = cs__syn_rnd_below(s, 8) == 0 ? -(1000 + (int64_t)cs__syn_rnd_below(s, 4000))
                                     : 1000 + (int64_t)cs__syn_rnd_below(s, 7000);
    tb = ta + d;
    if (!(lose & LOSE_A))
        feed_send(s, 0, ta, n);
    if (!(lose & LOSE_B))
        feed_send(s, 1, tb, n);
    t = ta > tb ? ta : tb;
    if (ticks > 0 && lose != LOSE_BOTH && tr->logged_in && cs__syn_rnd_below(s, 4) == 0) {
        /* the tick reached tap 102 at most 3.4 us after the later copy's edge time */
        t = order_enter(s, t + 3400 + 4000 + (int64_t)cs__syn_rnd_below(s, 56000), sym);
    }
    return t + 3400;
}

/* ---- order entry: OUCH 4.2 in SoupBinTCP ------------------------------ */

/* One TCP segment of the SoupBinTCP connection from side "d" (0 client,
 * 1 venue) at both taps: the client's reaches 102 at "t" then 101, the
 * venue's 101 at "t" then 102. Returns the time at the second tap. */
static int64_t seg(synth *s, int64_t t, int d, uint8_t flags, const uint8_t *payload, size_t n)
{
    int64_t h = hop_ns(s);

    s->vlan = d == 0 ? TAP_INSIDE : TAP_EDGE;
    cs__syn_emit_tcp(s, t, &s->tr.ouch, d, flags, payload, n);
    cs__syn_twin(s, t + h, d == 0 ? TAP_EDGE : TAP_INSIDE);
    s->vlan = 0;
    return t + h;
}

/* One SoupBinTCP packet of type "type" with "n" bytes of payload. */
static int64_t soup_send(synth *s, int64_t t, int d, char type, const uint8_t *payload, size_t n)
{
    uint8_t buf[128];

    cs__syn_put16(buf, (uint16_t)(1 + n));
    buf[2] = (uint8_t)type;
    if (n)
        memcpy(buf + 3, payload, n);
    return seg(s, t, d, TCP_PSH | TCP_ACK, buf, 3 + n);
}

/* The venue's turnaround, seen at the edge: ~25 us log-normal. */
static int64_t venue_ns(synth *s)
{
    return cs__syn_rnd_lognormal(s, 25000.0, 0.3);
}

static void put_token(uint8_t *p, uint64_t token)
{
    char v[16];

    snprintf(v, sizeof(v), "D%" PRIu64, token);
    put_alpha(p, v, 14);
}

static void put_tod(uint8_t *p, int64_t ts)
{
    cs__syn_put64(p, (uint64_t)(ts % (86400ll * 1000000000ll)));
}

/* Enter Order at tap 102 at "t" on symbol "sym" -> Accepted (and maybe
 * Executed) or Rejected, then the client's ACK. Returns the last time. */
static int64_t order_enter(synth *s, int64_t t, unsigned sym)
{
    syn_trading *tr = &s->tr;
    uint8_t m[66];
    uint64_t token = ++tr->tokens;
    uint32_t shares = 100 * (1 + cs__syn_rnd_below(s, 10)), price;
    char side = cs__syn_rnd_below(s, 2) ? 'B' : 'S';
    int64_t edge;

    price = 1500000 + cs__syn_rnd_below(s, 10000);
    m[0] = 'O';
    put_token(m + 1, token);
    m[15] = (uint8_t)side;
    cs__syn_put32(m + 16, shares);
    put_alpha(m + 20, symbols[sym], 8);
    cs__syn_put32(m + 28, price);
    cs__syn_put32(m + 32, 99998); /* TIF: market hours */
    memcpy(m + 36, "DEMO", 4);
    memcpy(m + 40, "YAN", 3); /* display, capacity, ISO */
    cs__syn_put32(m + 43, 0);
    memcpy(m + 47, "NR", 2); /* cross type, customer type */
    edge = soup_send(s, t, 0, 'U', m, 49);
    t = edge + venue_ns(s);
    if (cs__syn_rnd_below(s, 20) == 0) {
        m[0] = 'J';
        put_tod(m + 1, t);
        put_token(m + 9, token);
        m[23] = 'S'; /* invalid stock */
        t = soup_send(s, t, 1, 'S', m, 24);
    } else {
        uint8_t o[49];

        memcpy(o, m, 49);
        m[0] = 'A';
        put_tod(m + 1, t);
        memcpy(m + 9, o + 1, 14);
        m[23] = (uint8_t)side;
        cs__syn_put32(m + 24, shares);
        memcpy(m + 28, o + 20, 8);
        cs__syn_put32(m + 36, price);
        memcpy(m + 40, o + 32, 8); /* TIF, firm */
        m[48] = 'Y';
        cs__syn_put64(m + 49, ++tr->ouch_ref);
        memcpy(m + 57, "AN", 2);
        cs__syn_put32(m + 59, 0);
        memcpy(m + 63, "NLN", 3); /* cross type, order state live, BBO weight */
        t = soup_send(s, t, 1, 'S', m, 66);
        if (cs__syn_rnd_below(s, 10) < 3) {
            uint32_t fill = shares / 2 ? shares / 2 : shares;

            t += 20000 + cs__syn_rnd_below(s, 280000);
            m[0] = 'E';
            put_tod(m + 1, t);
            put_token(m + 9, token);
            cs__syn_put32(m + 23, fill);
            cs__syn_put32(m + 27, price);
            m[31] = 'R';
            cs__syn_put64(m + 32, ++tr->matches);
            t = soup_send(s, t, 1, 'S', m, 40);
            shares -= fill;
        }
        if (shares > 0 && tr->n_open < SYN_LIVE_ORDERS) {
            tr->open[tr->n_open] = token;
            tr->open_shares[tr->n_open] = shares;
            tr->open_sym[tr->n_open++] = (uint8_t)sym;
        }
    }
    return seg(s, t + 10000, 0, TCP_ACK, NULL, 0);
}

/* Cancel Order (full) of an open order -> Canceled, then the ACK. */
static int64_t order_cancel(synth *s, int64_t t)
{
    syn_trading *tr = &s->tr;
    unsigned i = cs__syn_rnd_below(s, tr->n_open);
    uint8_t m[28];

    m[0] = 'X';
    put_token(m + 1, tr->open[i]);
    cs__syn_put32(m + 15, 0);
    t = soup_send(s, t, 0, 'U', m, 19) + venue_ns(s);
    m[0] = 'C';
    put_tod(m + 1, t);
    put_token(m + 9, tr->open[i]);
    cs__syn_put32(m + 23, tr->open_shares[i]);
    m[27] = 'U'; /* user requested */
    t = soup_send(s, t, 1, 'S', m, 28);
    tr->n_open--;
    tr->open[i] = tr->open[tr->n_open];
    tr->open_shares[i] = tr->open_shares[tr->n_open];
    tr->open_sym[i] = tr->open_sym[tr->n_open];
    return seg(s, t + 10000, 0, TCP_ACK, NULL, 0);
}

int64_t cs__syn_tx_order_entry(synth *s, int64_t t)
{
    syn_trading *tr = &s->tr;
    tcp_conn *c = &tr->ouch;
    uint8_t m[48];

    if (!c->up) { /* SYN, SYN-ACK, ACK */
        c->up = 1;
        t = seg(s, t, 0, TCP_SYN, NULL, 0) + 30000;
        t = seg(s, t, 1, TCP_SYN | TCP_ACK, NULL, 0) + 10000;
        return seg(s, t, 0, TCP_ACK, NULL, 0);
    }
    if (!tr->logged_in) { /* Login Request -> Login Accepted, from 1 */
        tr->logged_in = 1;
        c->next_hb = t + SOUP_HB_NS;
        put_alpha(m, "DEMO", 6);
        put_alpha(m + 6, "secret", 10);
        put_alpha(m + 16, "", 10);
        memset(m + 26, ' ', 20);
        m[45] = '1';
        t = soup_send(s, t, 0, 'L', m, 46) + venue_ns(s);
        put_alpha(m, "OUCH42S001", 10);
        memset(m + 10, ' ', 20);
        m[29] = '1';
        t = soup_send(s, t, 1, 'A', m, 30);
        return seg(s, t + 10000, 0, TCP_ACK, NULL, 0);
    }
    if (t >= c->next_hb) { /* the client's and the venue's heartbeats */
        c->next_hb = t + SOUP_HB_NS;
        soup_send(s, t, 0, 'R', NULL, 0);
        return soup_send(s, t + 20000, 1, 'H', NULL, 0);
    }
    if (tr->n_open > 0 && cs__syn_rnd_below(s, 10) < 6)
        return order_cancel(s, t);
    return order_enter(s, t, cs__syn_rnd_below(s, N_SYMBOLS));
}

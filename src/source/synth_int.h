/*
 * synth_int.h - what the two files of the synthetic source share (see
 * synth.h): the source's state, its PRNG and its frame writers. synth.c
 * holds the source, the frame writers and the FIX, HTTP and DNS traffic;
 * synth_trading.c the market data (A/B MoldUDP64 feeds) and the OUCH order
 * entry seen at two taps. Not for use outside src/source/.
 *
 * Frame writers append to the batch being filled ("cur"), each frame in its
 * own SYN_FRAME_MAX slot of the arena. A frame written while "vlan" is
 * non-zero carries an IEEE 802.1Q tag with that VLAN id (a tap
 * aggregator's capture point); 0 writes untagged frames.
 */
#ifndef CS_SOURCE_SYNTH_INT_H
#define CS_SOURCE_SYNTH_INT_H

#include "source/source.h"

#include <stddef.h>
#include <stdint.h>

#define SYN_FRAME_MAX 1518 /* 1514 + an 802.1Q tag */
#define SYN_TX_MAX_PKTS 32 /* frames one transaction may write */
#define SYN_N_FIX 3
#define SYN_N_HTTP 4
#define SYN_LIVE_REFS 64   /* ITCH orders resting on the book */
#define SYN_LIVE_ORDERS 16 /* OUCH orders accepted and not yet canceled */

enum { TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_PSH = 0x08, TCP_ACK = 0x10 };

typedef struct tcp_conn {
    uint8_t ip[2][4]; /* [0] client, [1] server */
    uint16_t port[2];
    uint32_t seq[2];     /* next sequence number each side sends */
    int up;              /* handshake done */
    uint32_t fix_seq[2]; /* FIX MsgSeqNum(34) each side */
    int64_t next_hb;     /* FIX / SoupBinTCP heartbeats due */
} tcp_conn;

/* The market data feed and the order entry session (synth_trading.c). */
typedef struct syn_trading {
    uint64_t mold_seq;    /* last sequence number sent (both feeds) */
    int64_t mold_next_hb; /* the feeds' next heartbeat */
    unsigned loss_in;     /* data packets until the next loss */
    unsigned loss_ix;     /* position in the loss pattern */
    int directory_sent;   /* Stock Directory messages sent */
    uint64_t itch_ref, itch_match;
    uint64_t live[SYN_LIVE_REFS];
    uint8_t live_sym[SYN_LIVE_REFS];
    unsigned n_live;
    int last_sym;  /* symbol of the latest Add Order, -1: none */
    tcp_conn ouch; /* the SoupBinTCP connection */
    int logged_in;
    uint64_t tokens; /* Order Tokens handed out */
    uint64_t open[SYN_LIVE_ORDERS];
    uint32_t open_shares[SYN_LIVE_ORDERS];
    uint8_t open_sym[SYN_LIVE_ORDERS];
    unsigned n_open;
    uint64_t matches;  /* OUCH Match Numbers */
    uint64_t ouch_ref; /* OUCH Order Reference Numbers */
} syn_trading;

typedef struct synth {
    cs_source base; /* first: generic code sees a cs_source */
    uint64_t rng;
    uint64_t rate, limit;
    int pace;
    int64_t vt, due, pkt_ns; /* virtual clock; when the budget says the next tx is due */
    uint8_t *arena;
    size_t used;
    cs_batch *cur;
    uint16_t vlan; /* 802.1Q VLAN id of the frames being written, 0: none */
    uint8_t scratch[SYN_FRAME_MAX];
    tcp_conn fix[SYN_N_FIX], http[SYN_N_HTTP];
    uint64_t orders, http_reqs, dns_qs;
    syn_trading tr;
    uint16_t ip_id;
    uint64_t packets, bytes;
} synth;

/* PRNG (splitmix64). */
uint64_t cs__syn_rnd_u64(synth *s);
double cs__syn_rnd_unit(synth *s); /* (0, 1) */
unsigned cs__syn_rnd_below(synth *s, unsigned n);
int64_t cs__syn_rnd_lognormal(synth *s, double median_ns, double sigma);

/* Big-endian stores. */
void cs__syn_put16(uint8_t *p, uint16_t v);
void cs__syn_put32(uint8_t *p, uint32_t v);
void cs__syn_put64(uint8_t *p, uint64_t v);

/* Frame writers (see above). */
void cs__syn_emit_udp(synth *s, int64_t ts, const uint8_t *src, uint16_t sport, const uint8_t *dst,
                      uint16_t dport, const uint8_t *payload, size_t n);
void cs__syn_emit_tcp(synth *s, int64_t ts, tcp_conn *c, int d, uint8_t flags,
                      const uint8_t *payload, size_t n);
int64_t cs__syn_tcp_handshake(synth *s, tcp_conn *c, int64_t t);
void cs__syn_twin(synth *s, int64_t ts, uint16_t vlan);

/* The trading traffic (synth_trading.c). Each transaction writes its
 * frames from "t" on, in any order (the caller sorts them), and returns
 * the time of its last frame. */
void cs__syn_trading_init(synth *s);
int64_t cs__syn_tx_market_data(synth *s, int64_t t);
int64_t cs__syn_tx_order_entry(synth *s, int64_t t);

#endif

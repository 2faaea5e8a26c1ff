/*
 * analyzer.h - the in-memory half of the single pass.
 *
 * cs_analyzer takes every packet (with its dissection and its store ref)
 * and runs: flow table -> IPv4 fragment reassembly (UDP) -> TCP reassembly
 * -> decoder dispatch (by content probe and by port, src/decode/registry.c)
 * -> messages -> pairing into measurements. Results go to a cs_sink.
 *
 *   packet ──► flows ──► reassembly ──► decoders ──► messages ──► sink.message
 *                                                        │
 *                                         pairing ◄──────┘──► sink.measurement
 *
 * Time: only capture time is used (timeouts too), so a file analysed at any
 * speed gives the same results.
 *
 * Memory is bounded by cs_analyzer_cfg: when a bound bites, the oldest state
 * goes and a counter in cs_analyzer_stats says so.
 *
 * Threading: one analyzer is used by one thread.
 */
#ifndef CS_ANALYTICS_ANALYZER_H
#define CS_ANALYTICS_ANALYZER_H

#include "core/packet.h"
#include "decode/decoder.h"
#include "packet/dissect.h"
#include "record/message.h"

#include <stdint.h>

typedef struct cs_analyzer cs_analyzer;

typedef struct cs_analyzer_cfg {
    const cs_decoder *const *decoders; /* enabled decoders, NULL-terminated;
                                          NULL = all in the registry */
    /* --decoder-opt settings, borrowed for the analyzer's life; NULL = none */
    const cs_decoder_optset *decoder_opts;
    uint32_t max_flows;       /* default 1,000,000 */
    uint32_t max_flow_buffer; /* bytes buffered per direction
                                 (out of order + unconsumed), default 1 MiB */
    int64_t flow_idle_ns;     /* idle flows expire, default 300 s */
    int64_t pair_timeout_ns;  /* unanswered requests expire, default 30 s */
    int64_t sight_window_ns;  /* a sighting waits this long for its copy on another
                                 flow (A/B feeds), default 100 ms */
    int64_t t2t_window_ns;    /* tick-to-trade: an order's tick is at most this much
                                 older than it, default 1 ms */
    int64_t hop_window_ns;    /* a message seen at one tap waits this long for its
                                 copy at another (hop latency), default 100 ms */
} cs_analyzer_cfg;

/* A sequence gap (decode/decoder.h) with where and when it was seen. */
typedef struct cs_seq_gap_event {
    const char *proto; /* the decoder's name */
    cs_seq_gap gap;
    uint64_t flow_id;
    cs_endpoints ep;
    uint8_t dir;
    int64_t ts_ns; /* capture time of the packet whose bytes showed the gap */
    cs_pktref ref; /* that packet's store ref (0 if not stored) */
} cs_seq_gap_event;

/* Numbers of a sequenced stream a packet carried (decode/decoder.h), with
 * where and when. */
typedef struct cs_seq_span_event {
    const char *proto; /* the decoder's name */
    cs_seq_span span;
    uint64_t flow_id;
    cs_endpoints ep;
    uint8_t dir;
    int64_t ts_ns;
} cs_seq_span_event;

/* Where results go. Pointers inside the records are valid only during the
 * call; a sink that keeps them copies them. */
typedef struct cs_sink {
    void *ud;
    void (*message)(void *ud, const cs_message *m);
    void (*measurement)(void *ud, const cs_measurement *ms);
    /* A request that timed out unanswered (kind CS_UNMATCHED_REQUEST) or a
     * response that matched no request (CS_UNMATCHED_RESPONSE). */
    void (*unmatched)(void *ud, const cs_message *m, int kind);
    /* A sequence gap a decoder reported on a flow (may be NULL), at the
     * capture time of the packet being decoded. */
    void (*seq_gap)(void *ud, const cs_seq_gap_event *g);
    /* The numbers of a sequenced stream a packet carried (may be NULL). */
    void (*seq_seen)(void *ud, const cs_seq_span_event *s);
} cs_sink;

enum {
    CS_UNMATCHED_REQUEST = 1,
    CS_UNMATCHED_RESPONSE = 2,
};

typedef struct cs_analyzer_stats {
    uint64_t packets;           /* packets seen */
    uint64_t flows;             /* flows created */
    uint64_t flows_evicted;     /* flows dropped by the max_flows bound */
    uint64_t tcp_gaps;          /* gaps (lost bytes) declared */
    uint64_t tcp_gap_bytes;     /* bytes lost in those gaps */
    uint64_t tcp_retransmits;   /* segments whose bytes were already delivered */
    uint64_t tcp_out_of_order;  /* segments buffered out of order */
    uint64_t buffer_overflows;  /* times max_flow_buffer forced bytes out */
    uint64_t frags;             /* IPv4 fragments seen */
    uint64_t frags_reassembled; /* datagrams rebuilt */
    uint64_t frags_dropped;     /* fragments that timed out / overflowed */
    uint64_t messages;          /* messages emitted */
    uint64_t bad_messages;      /* messages with CS_MSG_BAD_* / MALFORMED flags */
    uint64_t seq_gaps;          /* sequence gaps decoders reported */
    uint64_t seq_gap_missing;   /* sequence numbers missing in them */
    uint64_t measurements;
    uint64_t unmatched_requests;
    uint64_t unmatched_responses;
    uint64_t sightings_alone;  /* sightings no other flow matched in the window */
    uint64_t t2t_orders;       /* new orders (tick-to-trade) */
    uint64_t t2t_measurements; /* of them, with a tick in the window */
    uint64_t hops_alone;       /* messages no other tap saw in the hop window (counted
                                  once two taps were seen) */
} cs_analyzer_stats;

void cs_analyzer_cfg_default(cs_analyzer_cfg *cfg);

int cs_analyzer_new(const cs_analyzer_cfg *cfg, const cs_sink *sink, cs_analyzer **out);

/* Feeds one packet. "ref" is its store ref (0 if not stored). "l" is its
 * dissection (cs_dissect() of p). */
void cs_analyzer_packet(cs_analyzer *a, const cs_packet *p, const cs_layers *l, cs_pktref ref);

/* End of input: delivers what reassembly holds (as after a gap), ends every
 * stream with CS_IN_EOF, and reports still-pending requests as unmatched. */
void cs_analyzer_finish(cs_analyzer *a);

void cs_analyzer_stats_get(const cs_analyzer *a, cs_analyzer_stats *st);

void cs_analyzer_free(cs_analyzer *a);

/* Adds every count of "st" to "to" (the shards of one analysis). */
void cs_analyzer_stats_add(cs_analyzer_stats *to, const cs_analyzer_stats *st);

/*
 * Sharded analysis (--workers N, engine/shards.c). The analysis splits in
 * two halves:
 *
 *   - the per-conversation half (flows, fragments, reassembly, decoders)
 *     runs in N "flow analyzers", each the owner of the conversations
 *     hashed to it; every one of them sees every packet's capture time, so
 *     that its flows idle out at the packet they would in one analyzer;
 *   - the cross-conversation half (the sink, request/response pairing,
 *     A/B sightings, hops, tick-to-trade) runs in one "correlating"
 *     analyzer, which replays the flow analyzers' events (anlog.h) merged
 *     in the order one analyzer would have made them.
 *
 * Per packet "seq" (1, 2, ... over the packets analysed), in that order:
 * each flow analyzer: cs_analyzer_flows_packet(own = whether it owns the
 * packet's conversation); then the correlating analyzer:
 * cs_analyzer_corr_packet, the replay of the events filed under "seq"
 * before its own (flows that expired), cs_analyzer_corr_expire(its time),
 * the replay of the packet's own events. At the end:
 * cs_analyzer_flows_finish on each, the replay of the events filed under
 * CS_AN_SEQ_END, cs_analyzer_corr_finish.
 *
 * The results are those of one analyzer, but where a bound bites (each
 * flow analyzer has cfg.max_flows of its own), where capture times go
 * back by more than the flow idle time (each flow analyzer's LRU list is
 * in its own packets' order), and in the ids of messages from packets not
 * stored (numbered per flow analyzer: its index in bits 56-62).
 */
typedef struct cs_an_log cs_an_log;
typedef struct cs_an_event cs_an_event;

/* Makes "a" the flow analyzer number "index": its events go to "log"
 * (changed between batches by calling this again). */
void cs_analyzer_shard(cs_analyzer *a, uint32_t index, cs_an_log *log);

/* The first failure to log an event (CS_ENOMEM), or 0. */
int cs_analyzer_shard_error(const cs_analyzer *a);

void cs_analyzer_flows_packet(cs_analyzer *a, const cs_packet *p, const cs_layers *l, cs_pktref ref,
                              uint64_t seq, int own);
void cs_analyzer_flows_finish(cs_analyzer *a);

void cs_analyzer_corr_packet(cs_analyzer *a, const cs_packet *p);
void cs_analyzer_corr_expire(cs_analyzer *a, int64_t now_ns);
void cs_analyzer_corr_replay(cs_analyzer *a, const cs_an_event *e);
void cs_analyzer_corr_finish(cs_analyzer *a);

#endif

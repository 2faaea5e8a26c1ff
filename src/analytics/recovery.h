/*
 * recovery.h - what became of the numbers missing in a sequence gap: were
 * they filled elsewhere at the same tap (the other feed of an A/B pair, a
 * retransmission), and which numbers did two feeds both miss.
 *
 * A decoder reports gaps (cs_seq_gap_event) and the numbers each packet
 * carried (cs_seq_span_event) per flow direction; a stream is one
 * (tap, decoder, stream name) - a MoldUDP64 session seen at one capture
 * point - and a feed is a flow direction carrying it that is not a
 * retransmission. Each gap leaves through "emit" once, either
 *   - recovered, as soon as every missing number has been seen at its tap
 *     on another flow of its stream or in a retransmission (before the gap
 *     was revealed or after), or
 *   - not recovered, "hold_ns" of capture time after it was revealed (or
 *     at cs_recovery_flush) if that has not happened by then.
 * An arbitrated gap is a run of numbers missing on two feeds of a stream
 * (the intersection of a gap of each): it is made when the later of the
 * two gaps is revealed, carries that gap's flow, time and packet, and is
 * recovered only by retransmissions, under the same hold.
 *
 * Bounds: at most CS_RECOVERY_STREAMS streams (gaps of further ones leave
 * at once, not recovered, counted in "untracked"), per stream at most
 * 1024 held gaps (the oldest leaves first), per feed 4096 spans of numbers
 * seen (the lowest are forgotten first) and its 64 latest gaps.
 *
 * Threading: one thread. Ownership: events are copied; a gap given to
 * "emit" is valid during the call (its stream name is the tracker's).
 */
#ifndef CS_ANALYTICS_RECOVERY_H
#define CS_ANALYTICS_RECOVERY_H

#include "analytics/analyzer.h"

#include <stdint.h>

#define CS_RECOVERY_STREAMS 4096u

typedef struct cs_recovery cs_recovery;

/* A gap as it leaves the tracker. */
typedef struct cs_recovered_gap {
    cs_seq_gap_event ev; /* the decoder's gap, or for an arbitrated gap its numbers
                            with the later gap's flow, time and packet */
    uint8_t recovered;
    uint8_t arbitrated; /* missing on two feeds of the stream */
} cs_recovered_gap;

typedef void (*cs_recovery_emit_fn)(void *ud, const cs_recovered_gap *g);

typedef struct cs_recovery_stats {
    uint64_t gaps;       /* gaps given in */
    uint64_t arbitrated; /* arbitrated gaps made */
    uint64_t recovered;  /* gaps and arbitrated gaps that left recovered */
    uint64_t held;       /* waiting now */
    uint64_t untracked;  /* gaps of streams beyond the bound */
} cs_recovery_stats;

int cs_recovery_new(int64_t hold_ns, cs_recovery_emit_fn emit, void *ud, cs_recovery **out);
void cs_recovery_free(cs_recovery *r);

/* The numbers a packet carried. */
void cs_recovery_seen(cs_recovery *r, const cs_seq_span_event *s);
/* A gap a decoder found: held, or emitted at once if already filled. */
void cs_recovery_gap(cs_recovery *r, const cs_seq_gap_event *g);
/* Emits, not recovered, the gaps held longer than the hold at "now_ns". */
void cs_recovery_expire(cs_recovery *r, int64_t now_ns);
/* Emits every gap still held (end of input). */
void cs_recovery_flush(cs_recovery *r);
void cs_recovery_stats_get(const cs_recovery *r, cs_recovery_stats *st);

#endif

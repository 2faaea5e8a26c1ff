/*
 * anlog.h - what one flow analyzer of a sharded analysis found in one
 * batch of packets, kept for the correlating analyzer (analyzer.h,
 * "Sharded analysis"; engine/shards.c runs them).
 *
 * An event is a sink call the per-conversation half of the analysis would
 * have made at once: a message delivered (with how it is to be paired and
 * whether it is a tick or an order for tick-to-trade), a sequence gap, the
 * numbers a packet carried. Everything an event points to is copied into
 * the log's arena (but for borrowed bytes, cs_an_log_borrow, and string
 * literals of the program), so it stays valid until cs_an_log_reset().
 *
 * Order. An event is filed under (seq, order): "seq" is the capture
 * sequence number of the packet during which it was made (CS_AN_SEQ_END
 * at the end of input) and "order" says where in that packet's turn:
 * events of flows expiring before the packet (idle, or every flow at the
 * end) carry the sequence number of their flow's last packet, which is
 * the order one flow table's LRU list would expire them in; the packet's
 * own events carry CS_AN_ORDER_OWN. One log is sorted by (seq, order) as
 * it is written, and events of equal keys come from one flow or one
 * packet, hence from one log: merging the logs of every shard by (seq,
 * order) gives the order one analyzer makes them in.
 *
 * Threading: a log is written by one thread and read by another after it
 * (the caller orders the two).
 */
#ifndef CS_ANALYTICS_ANLOG_H
#define CS_ANALYTICS_ANLOG_H

#include "analytics/analyzer.h"

#include <stddef.h>
#include <stdint.h>

#define CS_AN_SEQ_END UINT64_MAX
#define CS_AN_ORDER_OWN UINT64_MAX

enum { CS_AN_DELIVER = 1, CS_AN_SEQ_GAP, CS_AN_SEQ_SEEN };
enum { CS_AN_T2T_NONE = 0, CS_AN_T2T_TICK, CS_AN_T2T_ORDER };

/* How a delivered message is to be correlated (its decoder's cs_msg_out). */
typedef struct cs_an_corr {
    cs_role role;
    const char *pair;
    cs_str match, closes;
    uint32_t flags; /* the decoder's, pairing hints included */
    uint8_t scope;
} cs_an_corr;

typedef struct cs_an_event {
    uint64_t seq, order;
    uint8_t kind; /* CS_AN_* */
    uint8_t t2t;  /* CS_AN_DELIVER: CS_AN_T2T_* */
    union {
        struct {
            cs_message m;
            cs_an_corr c;
            cs_str instrument;
        } d;
        cs_seq_gap_event gap;
        cs_seq_span_event span;
    } u;
} cs_an_event;

typedef struct cs_an_log cs_an_log;

int cs_an_log_new(cs_an_log **out);
void cs_an_log_free(cs_an_log *log);

/* Forgets every event; the memory is kept for the next batch. */
void cs_an_log_reset(cs_an_log *log);

size_t cs_an_log_count(const cs_an_log *log);
const cs_an_event *cs_an_log_get(const cs_an_log *log, size_t i);

/* Strings inside bytes [bytes, bytes + n) are not copied from now on:
 * the caller keeps those bytes as long as the events. */
void cs_an_log_borrow(cs_an_log *log, const void *bytes, size_t n);

/* Appends a copy of the event (and of all it points to). CS_ENOMEM. */
int cs_an_log_deliver(cs_an_log *log, uint64_t seq, uint64_t order, const cs_message *m,
                      const cs_an_corr *c, int t2t, cs_str instrument);
int cs_an_log_seq_gap(cs_an_log *log, uint64_t seq, uint64_t order, const cs_seq_gap_event *g);
int cs_an_log_seq_seen(cs_an_log *log, uint64_t seq, uint64_t order, const cs_seq_span_event *s);

#endif

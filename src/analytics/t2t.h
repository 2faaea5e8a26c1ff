/*
 * t2t.h - tick-to-trade: for each new order, the market data message about
 * its instrument that came last before it at the same tap.
 *
 * Decoders flag market data about an instrument CS_MSG_TICK (ITCH: the
 * symbol of its Stock Locate) and new orders CS_MSG_NEW_ORDER (OUCH Enter
 * Order, FIX NewOrderSingle), naming the instrument (decode/decoder.h).
 * For an order at tap T and time t, its tick is the latest tick on the
 * same instrument seen at T strictly before t (capture time), if t minus
 * its time is at most the window; the pair is a measurement of pair "t2t":
 *
 *   key      the order's key (an OUCH "O:<order>", a FIX ClOrdID)
 *   request  the tick (id, time; its flow: the feed it came on)
 *   response the order (id, time, last byte; resp_type its type)
 *   id       the tick's id (a tick is no other pair's request)
 *
 * Ticks of the same time as the order do not count; among ticks of one
 * time the last seen wins (the last message of a packet). An order whose
 * bytes took several packets is delivered after its first byte's time:
 * the few latest ticks of each instrument are kept (CS_T2T_RECENT) so one
 * that arrived meanwhile does not hide the right one.
 *
 * Bounds: at most CS_T2T_INSTRUMENTS (tap, instrument) entries; ticks of
 * further instruments are counted in "instruments_full" and not kept.
 * Instrument names longer than CS_T2T_NAME bytes are told apart by their
 * start only.
 *
 * Threading: one thread. Ownership: messages are borrowed for the call;
 * measurements given to the sink point into the order message and the
 * table, valid during the call.
 */
#ifndef CS_ANALYTICS_T2T_H
#define CS_ANALYTICS_T2T_H

#include "analytics/analyzer.h"

#include <stdint.h>

#define CS_T2T_INSTRUMENTS (1u << 20)
#define CS_T2T_RECENT 4u
#define CS_T2T_NAME 16u

typedef struct cs_t2t cs_t2t;

typedef struct cs_t2t_stats {
    uint64_t ticks;            /* ticks seen */
    uint64_t orders;           /* orders seen */
    uint64_t measurements;     /* orders with a tick in the window */
    uint64_t instruments;      /* (tap, instrument) entries */
    uint64_t instruments_full; /* ticks not kept: the table was full */
} cs_t2t_stats;

/* Measurements go to sink->measurement. */
int cs_t2t_new(int64_t window_ns, const cs_sink *sink, cs_t2t **out);
void cs_t2t_free(cs_t2t *t);

void cs_t2t_tick(cs_t2t *t, const cs_message *m, cs_str instrument);
void cs_t2t_order(cs_t2t *t, const cs_message *m, cs_str instrument);
void cs_t2t_stats_get(const cs_t2t *t, cs_t2t_stats *st);

#endif

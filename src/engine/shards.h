/*
 * shards.h - the analysis on several cores (--workers N): N flow
 * analyzers, each the owner of the conversations hashed to it, and one
 * correlating analyzer that merges their results in capture order
 * (analytics/analyzer.h, "Sharded analysis"). The results are those of
 * one analyzer, in the same order, ids included (the exceptions are
 * listed there).
 *
 *   caller ─ packets ─► batch ─┬─► flow analyzer 0 ─ events ─┐
 *   (copied, in order)         ├─► flow analyzer 1 ─ events ─┼─► correlating
 *                              └─► ...                       ┘   analyzer ─► sink
 *
 * The caller's thread copies packets into batches; each worker thread
 * runs one flow analyzer over every batch; one correlating thread replays
 * the batches' events in order to the correlating analyzer, whose sink is
 * the caller's, and calls the caller back after each packet and for each
 * control (advance, flush, end of input) in the order they were given.
 * Sink and callbacks all run on the correlating thread.
 */
#ifndef CS_ENGINE_SHARDS_H
#define CS_ENGINE_SHARDS_H

#include "analytics/analyzer.h"

#include <stdint.h>

#define CS_WORKERS_MAX 64

typedef struct cs_shards cs_shards;

enum { CS_SHARDS_ADVANCE = 1, CS_SHARDS_FLUSH, CS_SHARDS_INPUT_ENDED, CS_SHARDS_CALL };

typedef struct cs_shards_cfg {
    uint32_t workers;            /* flow analyzers, 1 to CS_WORKERS_MAX */
    const cs_analyzer_cfg *acfg; /* each analyzer's (read by cs_shards_new only) */
    const cs_sink *sink;         /* the correlating analyzer's (copied) */
    /* after each packet, analysed or not, in capture order (may be NULL) */
    void (*after_packet)(void *ud, const cs_packet *p, int analysed);
    /* each control given to cs_shards_control, in order with the packets */
    void (*control)(void *ud, int op, int64_t arg);
    void *ud;
} cs_shards_cfg;

int cs_shards_new(const cs_shards_cfg *cfg, cs_shards **out);

/* One packet, with its dissection "l" (NULL: not to be analysed, only
 * passed to after_packet) and store ref. Copied. 0 or CS_ENOMEM. */
int cs_shards_packet(cs_shards *sh, const cs_packet *p, const cs_layers *l, cs_pktref ref);

/* A control (CS_SHARDS_*, "arg": ADVANCE's capture time), made after the
 * packets given before it. */
void cs_shards_control(cs_shards *sh, int op, int64_t arg);

/* fn(ud) on the correlating thread, after the packets given before it. */
void cs_shards_call(cs_shards *sh, void (*fn)(void *ud), void *ud);

/* Whether the calling thread is the correlating thread (a sink, a
 * callback or a cs_shards_call function is running). */
int cs_shards_on_correlating_thread(const cs_shards *sh);

/* The end of input: every flow ends, every pending request is reported,
 * and the threads stop. "st" gets the analysis's counts. Returns the
 * first failure (CS_ENOMEM). */
int cs_shards_finish(cs_shards *sh, cs_analyzer_stats *st);

void cs_shards_free(cs_shards *sh);

#endif

/*
 * recwriter.h - the results writer of the live daemon's pipeline: a thread
 * that hands the analysis's records (messages, measurements, unmatched
 * reports, gaps) to the message store, so that a slow disk never stalls
 * the analysis. Records are encoded into a buffer on the caller's thread
 * and written on the writer's; one that finds no room is dropped and the
 * caller counts it (the writer never makes the caller wait).
 *
 * One thread puts records and flushes (the pipeline's sink thread); any
 * thread may read cs_recwriter_behind and cs_recwriter_counts_get. From
 * start to stop only the writer thread touches the message store.
 */
#ifndef CS_ENGINE_RECWRITER_H
#define CS_ENGINE_RECWRITER_H

#include "record/message.h"
#include "store/msgstore.h"

#include <stdint.h>

typedef struct cs_recwriter cs_recwriter;

/* What the writer has done so far. */
typedef struct cs_recwriter_counts {
    uint64_t messages_stored;
    uint64_t measurements_stored;
    uint64_t gaps_stored;
    uint64_t records_failed; /* the message store refused them */
    uint64_t records_lost;   /* it took them, then lost them to a failed write */
} cs_recwriter_counts;

/* Starts the writer thread over "ms" (the caller's again after stop). */
int cs_recwriter_start(cs_msgstore *ms, cs_recwriter **out);

/* Queues a record for the writer. 0: queued; CS_EBUSY: no room while the
 * writer is busy, dropped; another error: the record cannot be stored
 * (too large), dropped. "unmatched" is 0 for a message, else
 * CS_UNMATCHED_REQUEST or CS_UNMATCHED_RESPONSE. A plain message may use
 * only three quarters of the buffer: the rest is kept for the other
 * records, which a message flood (a market data feed) must not push out. */
int cs_recwriter_put_message(cs_recwriter *rw, const cs_message *m, int unmatched);
int cs_recwriter_put_measurement(cs_recwriter *rw, const cs_measurement *ms);
int cs_recwriter_put_gap(cs_recwriter *rw, const cs_gap *g);

/* Hands what is queued to the writer and asks it to make everything
 * visible to readers (after the buffer it is writing, if busy). Never
 * waits. */
void cs_recwriter_flush(cs_recwriter *rw);

/* Whether the writer is behind: half its next buffer waits while it still
 * writes the previous one (any thread). */
int cs_recwriter_behind(const cs_recwriter *rw);

/* The writer's counts so far (any thread). */
void cs_recwriter_counts_get(cs_recwriter *rw, cs_recwriter_counts *c);

/* Stores what is queued, stops the thread and frees the writer; its final
 * counts in "*c". Returns the first error the writer met. NULL: 0. */
int cs_recwriter_stop(cs_recwriter *rw, cs_recwriter_counts *c);

#endif

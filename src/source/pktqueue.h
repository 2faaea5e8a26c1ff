/*
 * pktqueue.h - packets handed from capture threads to the pipeline thread.
 *
 * A bounded byte ring of packet copies. Capture threads push whole batches
 * (one lock per batch); when the ring is full a lossy producer (a live
 * interface) drops the rest of its batch and counts it, so analysis never
 * stalls capture; a lossless producer (a capture file) waits instead.
 * The single consumer pops packets in push order; a popped packet's bytes
 * stay valid until the next pop.
 *
 *   ring:  [hdr|data][hdr|data][wrap]....[hdr|data]
 *           ^read                         ^write
 *   hdr:   u32 record bytes (0 = wrap to the start), then the cs_packet
 *          fields (ts_ns, caplen, wirelen, linktype, tap)
 */
#ifndef CS_SOURCE_PKTQUEUE_H
#define CS_SOURCE_PKTQUEUE_H

#include "source/source.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cs_pktqueue cs_pktqueue;

int cs_pktqueue_new(size_t bytes, cs_pktqueue **out);
void cs_pktqueue_free(cs_pktqueue *q);

/* Pushes the packets of "b". Lossy: returns how many were dropped (ring
 * full). Lossless: waits for room (or for close). */
unsigned cs_pktqueue_push(cs_pktqueue *q, const cs_batch *b, int lossy);

/* Pops the next packet into "*p" (data valid until the next pop): 1 if one
 * was returned, 0 if the queue is closed and empty, CS_EBUSY if nothing
 * arrived within "wait_ms". */
int cs_pktqueue_pop(cs_pktqueue *q, cs_packet *p, int wait_ms);

/* No more pushes: pop returns 0 once the ring is drained; blocked
 * lossless producers return. */
void cs_pktqueue_close(cs_pktqueue *q);

#endif

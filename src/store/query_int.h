/*
 * query_int.h - what the query's files share (query.c: the entry points
 * and the search unit by unit; query_read.c: the filter, the candidates
 * and their reads; query_order.c: capture order and the merge;
 * query_out.c: records handed over, the pcap output): the state of one
 * query (qctx) and of the unit being searched. Not part of the store's
 * interface: store.h is.
 *
 * Invariants the files rely on: a unit's segments stay open and flocked
 * shared (c->maps) from their first read until unit_reset; a hit's "seg"
 * is its segment's slot in c->maps, and its "at" is QHIT_MAPPED exactly
 * when its record is read from that slot's mapping, else the offset of
 * its copy in c->arena; c->runs holds one [next, end) pair of hits per
 * segment with hits, each in offset order until cs__query_order_unit; the
 * unit segments of one group are adjacent in c->useg.
 *
 * Threading: a qctx is used by the thread that runs the query; the pcap
 * output's writer thread sees only the buffers handed to it (core/aio.h).
 */
#ifndef CS_STORE_QUERY_INT_H
#define CS_STORE_QUERY_INT_H

#include "core/aio.h"
#include "store/flowpred.h"
#include "store/store_int.h"

#include <pcap/pcap.h>
#include <stddef.h>
#include <stdint.h>

/* A record the query returns: copied into the arena (at), or read from its
 * segment's mapping (at == QHIT_MAPPED). */
typedef struct qhit {
    int64_t ts;
    uint32_t seg; /* index into the unit's segment table */
    uint32_t off; /* record offset in its segment */
    uint64_t at;
    uint64_t seq; /* its place in its group (cmp_hit, cs__query_order_unit) */
} qhit;

#define QHIT_MAPPED UINT64_MAX
#define QUSEG_ALONE (-1)   /* the only segment of its group in the unit: file order */
#define QUSEG_BY_TIME (-2) /* its group has no capture-order record: by timestamp */

/* A segment of the unit being searched, opened and flocked shared. */
typedef struct qmap {
    uint32_t id, linktype;
    uint32_t group; /* first segment id of its group */
    int by_ts;      /* its hits are placed in the group by timestamp first (cmp_hit) */
    int fd;
    const uint8_t *map; /* NULL until mapped */
    size_t size;
    cs_captime *caps; /* host capture times (CS_PCAP_TIME_CAPTURE), loaded once */
    size_t n_caps;
    int caps_loaded;
} qmap;

/* A segment of the unit being searched and its candidates cand[from, to);
 * "ord" >= 0: its hits are put in capture order by record c->ords[ord]. */
typedef struct quseg {
    cs_segment *seg;
    size_t from, to;
    int ord;
} quseg;

/* The capture-order record (order.h) of a group with more than one
 * segment in the unit. */
typedef struct qord {
    uint32_t group;
    cs_order rec;
} qord;

/* The pcap output of cs_store_query_pcap (query_out.c). */
typedef struct qout {
    int fd; /* -1: only count */
    uint32_t linktype;
    cs_aio *aio;  /* NULL until the first record */
    uint8_t *buf; /* being filled */
    size_t used;
    uint64_t count;
    int rc;
} qout;

typedef struct qprog {
    uint32_t linktype;
    int compiled; /* 0: libpcap refuses the filter on this link type */
    struct bpf_program prog;
} qprog;

typedef struct qctx {
    cs_store *s;
    const cs_query *q;
    cs_flowpred *pred;
    int all; /* no filter: everything matches */
    qprog *progs;
    size_t n_progs, cap_progs;
    qmap *maps;
    size_t n_maps, cap_maps;
    qhit *hits;
    size_t n_hits, cap_hits;
    size_t run_start; /* first hit of the segment being searched */
    size_t *runs;     /* [next, end) pairs of the runs, one per segment with hits */
    size_t n_runs, cap_runs;
    uint64_t *cand; /* the unit's candidate offsets (bit 32: needs BPF) */
    size_t n_cand, cap_cand;
    quseg *useg; /* the unit's segments, with their candidates */
    size_t n_useg, cap_useg;
    qord *ords; /* the unit's capture-order records */
    size_t n_ords, cap_ords;
    size_t *tied; /* mark_ties: the hits of one timestamp */
    size_t cap_tied;
    qout *out;      /* set: records go to this pcap output, not to a callback */
    cs_query_fn fn; /* the caller's, unless "out" */
    void *ud;
    int streaming;  /* records go to the caller as they are read */
    uint8_t *arena; /* copies of the unit's records (pcap record header + data) */
    size_t arena_len, arena_cap;
    uint8_t *rbuf; /* pread buffer */
    size_t rbuf_cap;
    int stopped; /* the caller asked to stop */
    cs_query_stats st;
} qctx;

/* ---- query_read.c ----------------------------------------------------- */

/* CS_EFILTER, with libpcap's refusal, unless the filter compiles for a
 * link type of the store. */
int cs__query_check_filter(qctx *c);
/* Maps the segment in "slot", once (unit_reset unmaps it). */
int cs__query_map_segment(qctx *c, uint32_t slot);
/* Adds "seg" to the unit: its candidates, or the whole segment. */
int cs__query_plan_segment(qctx *c, cs_segment *seg);
/* Reads unit segment "u" as a run of hits, or to the caller when streaming;
 * 1 if the caller stopped. */
int cs__query_read_segment(qctx *c, const quseg *u);

/* ---- query_order.c ---------------------------------------------------- */

/* Puts in hits[from, to) of one segment (or those marked tied, with
 * "only_tied") their ranks in it. */
int cs__query_run_ranks(qctx *c, const cs_segment *seg, uint32_t slot, size_t from, size_t to,
                        int only_tied);
/* Decides how each unit segment's hits are ordered within its group. */
int cs__query_plan_orders(qctx *c);
/* Puts the unit's hits in capture order within each group. */
int cs__query_order_unit(qctx *c);
/* Merges the unit's runs to the caller. */
int cs__query_deliver(qctx *c);

/* ---- query_out.c ------------------------------------------------------ */

/* Hands record "h" (at "off" of the slot's segment) to the caller or the
 * pcap output; 1 if the caller asked to stop. */
int cs__query_hand_over(qctx *c, uint32_t slot, uint32_t off, const uint8_t *h, int64_t ts);
/* Writes what is left and stops the writer thread; the first error. */
int cs__query_out_finish(qout *o);

#endif

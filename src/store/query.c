/*
 * query.c - answering "packets matching FILTER in [after, before)" from the
 * segment indexes: the entry points (cs_store_query, cs_store_query_pcap),
 * and the search of the segments that overlap the range, unit by unit.
 *
 * The query's files share query_int.h (the state of one query, qctx):
 *   query.c        the entry points; which segments are searched, in which
 *                  order and units
 *   query_read.c   the filter, each segment's candidate records, their
 *                  reads, and which are kept
 *   query_order.c  a unit's results put in capture order and merged
 *   query_out.c    a record handed over: to the caller's function, or to
 *                  the pcap output and its writer thread
 *
 * How it works:
 *   1. Segments whose [min_ts, max_ts] misses the range are skipped without
 *      being opened.
 *   2. Segments are searched in order of their group's first timestamp,
 *      in units of whole groups whose time spans overlap (normally one
 *      group), and each unit is merged and handed over before the next is
 *      searched: memory holds one unit's results (their copies up to
 *      QARENA_CAP bytes, past which records stay in the mapping).
 * So the cost is the packets returned plus the keys of the segments that
 * overlap the range, not the size of the store.
 *
 * A unit's segments are opened and flocked shared until it is handed
 * over, so retention cannot delete one under a reader.
 */
#include "store/query_int.h"

#include "core/alloc.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Closes the unit's segments and forgets its hits (buffers are kept). */
static void unit_reset(qctx *c)
{
    for (size_t i = 0; i < c->n_maps; i++) {
        if (c->maps[i].map)
            munmap((void *)c->maps[i].map, c->maps[i].size);
        close(c->maps[i].fd);
        cs_free(c->maps[i].caps);
    }
    for (size_t i = 0; i < c->n_ords; i++)
        cs_order_free(&c->ords[i].rec);
    c->n_maps = c->n_hits = c->n_runs = c->arena_len = c->n_cand = c->n_useg = c->n_ords = 0;
}

static void qctx_free(qctx *c)
{
    unit_reset(c);
    for (size_t i = 0; i < c->n_progs; i++)
        if (c->progs[i].compiled)
            pcap_freecode(&c->progs[i].prog);
    cs_free(c->progs);
    cs_free(c->maps);
    cs_free(c->hits);
    cs_free(c->runs);
    cs_free(c->cand);
    cs_free(c->useg);
    cs_free(c->ords);
    cs_free(c->tied);
    cs_free(c->arena);
    cs_free(c->rbuf);
    cs_flowpred_free(c->pred);
}

/* The time span of the group of each segment: span[2i] its first and
 * span[2i + 1] its last timestamp. */
typedef struct qspans {
    const cs_segment *segs;
    int64_t *span;
} qspans;

static int cmp_seg_start(const void *a, const void *b, void *ud)
{
    const qspans *sp = ud;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;

    if (sp->span[2 * i] != sp->span[2 * j])
        return sp->span[2 * i] < sp->span[2 * j] ? -1 : 1;
    return sp->segs[i].id < sp->segs[j].id ? -1 : sp->segs[i].id > sp->segs[j].id;
}

/* Fills the group spans (segments are in ascending id, so a group's are
 * adjacent). */
static void group_spans(const cs_store *s, int64_t *span)
{
    for (size_t i = 0, j; i < s->n_segs; i = j) {
        uint32_t group = cs_store_group_of(s->segs[i].id, s->partitions);
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (j = i; j < s->n_segs && cs_store_group_of(s->segs[j].id, s->partitions) == group;
             j++) {
            if (s->segs[j].idx.n_pkts == 0)
                continue;
            lo = s->segs[j].idx.min_ts < lo ? s->segs[j].idx.min_ts : lo;
            hi = s->segs[j].idx.max_ts > hi ? s->segs[j].idx.max_ts : hi;
        }
        for (size_t k = i; k < j; k++) {
            span[2 * k] = lo;
            span[2 * k + 1] = hi;
        }
    }
}

/* The segments overlapping the range, by the first timestamp of their
 * group, a group's segments together ("*span": group_spans, cs_free). */
static int segments_by_start(qctx *c, size_t **order, size_t *n, int64_t **span)
{
    const cs_store *s = c->s;
    qspans sp;

    *n = 0;
    *order = cs_malloc((s->n_segs ? s->n_segs : 1) * sizeof(size_t));
    *span = cs_malloc((s->n_segs ? s->n_segs : 1) * 2 * sizeof(int64_t));
    if (*order == NULL || *span == NULL) {
        cs_free(*order);
        cs_free(*span);
        return CS_ENOMEM;
    }
    group_spans(s, *span);
    for (size_t i = 0; i < s->n_segs; i++) {
        const cs_idx *x = &s->segs[i].idx;
        if (x->n_pkts > 0 && x->max_ts >= c->q->after && x->min_ts < c->q->before)
            (*order)[(*n)++] = i;
    }
    sp = (qspans){s->segs, *span};
    qsort_r(*order, *n, sizeof(size_t), cmp_seg_start, &sp);
    return 0;
}

/* Reads the unit's segments and hands their records over in capture
 * order: straight from the reads when one segment has them all (the usual
 * answer to a one-flow query: a segment is in capture order), else
 * merged. */
static int run_unit(qctx *c)
{
    int rc = 0;

    if (c->n_useg == 1 && !c->all) {
        c->streaming = 1;
        rc = cs__query_read_segment(c, &c->useg[0]);
        c->streaming = 0;
    } else {
        rc = cs__query_plan_orders(c);
        for (size_t i = 0; i < c->n_useg && rc == 0; i++)
            rc = cs__query_read_segment(c, &c->useg[i]);
        if (rc == 0)
            rc = cs__query_order_unit(c);
        if (rc == 0)
            rc = cs__query_deliver(c);
    }
    unit_reset(c);
    return rc < 0 ? rc : 0;
}

/* Searches the segments in order of their group's first timestamp, in
 * units of whole groups whose time spans overlap (normally one group; two
 * ingests into one store overlap): each unit is merged and handed over
 * before the next, so memory holds one unit's results at a time. A group
 * is never split, as its capture order may not follow its timestamps. */
static int search_units(qctx *c)
{
    size_t *order, n;
    int64_t unit_end = INT64_MIN, *span;
    int rc;

    if ((rc = segments_by_start(c, &order, &n, &span)) < 0)
        return rc;
    for (size_t k = 0; k < n && rc == 0 && !c->stopped; k++) {
        cs_segment *seg = &c->s->segs[order[k]];
        if (span[2 * order[k]] > unit_end)
            rc = run_unit(c);
        if (rc == 0 && span[2 * order[k] + 1] > unit_end)
            unit_end = span[2 * order[k] + 1];
        if (rc == 0)
            rc = cs__query_plan_segment(c, seg);
    }
    if (rc == 0 && !c->stopped)
        rc = run_unit(c);
    cs_free(order);
    cs_free(span);
    return rc;
}

/* Runs "q", handing records to "fn" or, given "out", to that pcap output. */
static int query_run(cs_store *s, const cs_query *q, cs_query_fn fn, void *ud, qout *out,
                     cs_query_stats *st)
{
    qctx c;
    int rc;

    memset(&c, 0, sizeof(c));
    c.s = s;
    c.q = q;
    c.out = out;
    c.fn = fn;
    c.ud = ud;
    c.all = q->filter == NULL || q->filter[0] == '\0';
    c.st.segments_total = s->n_segs;
    if (q->after > q->before) {
        rc = cs_error_set(CS_ETIME, "the start of the range is after its end");
        goto out;
    }
    if (!c.all) {
        /* Validate with libpcap first, so a bad filter fails on any store. */
        if ((rc = cs__query_check_filter(&c)) < 0)
            goto out;
        /* libpcap accepted it: if the index parser cannot, every key is MAYBE. */
        if (cs_flowpred_compile(q->filter, &c.pred) < 0)
            c.pred = NULL;
        cs_error_clear();
    }
    rc = search_units(&c);
out:
    if (st)
        *st = c.st;
    qctx_free(&c);
    return rc;
}

int cs_store_query(cs_store *s, const cs_query *q, cs_query_fn fn, void *ud, cs_query_stats *st)
{
    return query_run(s, q, fn, ud, NULL, st);
}

int cs_store_query_pcap(cs_store *s, const cs_query *q, int fd, uint64_t *count, cs_query_stats *st)
{
    qout *o = cs_calloc(1, sizeof(*o));
    int rc, rc2;

    if (o == NULL)
        return CS_ENOMEM;
    o->fd = fd;
    o->linktype = s->n_segs ? s->segs[0].idx.linktype : CS_LINK_ETHERNET;
    rc = query_run(s, q, NULL, NULL, o, st);
    rc2 = cs__query_out_finish(o);
    if (rc == 0)
        rc = rc2;
    *count = o->count;
    cs_free(o);
    return rc;
}

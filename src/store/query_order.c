/*
 * query_order.c - a unit's results put in the capture order of each group
 * and merged as they are handed to the caller.
 *
 * How it works: each segment's results form a run in file order, which is
 * the capture order of its conversations. The runs are merged as they are
 * handed to the caller into the capture order of the whole group
 * (store.h): the P segments of a group cover the same stretch of time, so
 * a plain concatenation would not do, and timestamps cannot say which of
 * two packets of one instant came first (ties are common at microsecond
 * resolution) nor follow a capture whose clock went back. So when more
 * than one segment of a group has results, the group's capture-order
 * record (order.h) places them: a result's rank in its segment (index
 * blocks, then the records between) becomes its position in the record,
 * in one pass over it, and the runs are merged by position. In a closed
 * group whose clock never went back (the record says so) capture order is
 * timestamp order but for ties, so the runs are merged by timestamp and
 * only results sharing their timestamp with another segment's (found by a
 * merge of the runs) are ranked and placed; ranking costs a walk over the
 * records around them, which for every result of a sparse query would
 * cost more than the query. A query whose results sit in one segment of a
 * group (a one-flow query) never reads the record: file order is the
 * answer. Results past the record's end (a live group, a crash), and
 * groups without a record (a store written before records existed), are
 * merged by timestamp (ties: group, segment, offset), as are different
 * groups with one another (two ingests into one store).
 */
#include "store/query_int.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/heap.h"
#include "core/log.h"

#include <stdlib.h>

#define QSEQ_TIED (UINT64_MAX - 1) /* shares its timestamp with another segment's hit */

/* The order hits are handed over in (cs__query_order_unit sets seq): within
 * a group, capture order, which is seq for segments placed by position
 * alone, and timestamp then seq for those placed by timestamp first (their
 * seq tells ties apart); between groups, or where those do not tell,
 * timestamp, then group, segment and offset. */
static int cmp_hit(const void *a, const void *b, void *ctx)
{
    const qctx *c = ctx;
    const qhit *x = a, *y = b;
    const qmap *mx = &c->maps[x->seg], *my = &c->maps[y->seg];

    if (mx->group == my->group) {
        if (mx->by_ts && x->ts != y->ts)
            return x->ts < y->ts ? -1 : 1;
        if (x->seq != y->seq)
            return x->seq < y->seq ? -1 : 1;
    }
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (mx->group != my->group)
        return mx->group < my->group ? -1 : 1;
    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Puts in each hit of hits[from, to) (one segment's, ascending offsets),
 * or with "only_tied" in those marked QSEQ_TIED, its rank in its segment
 * (0: the first record), from the index's blocks: the rank where a hit's
 * block starts, plus the records between the block's first and the hit,
 * counted along the mapping. A hit off the record chain (a damaged
 * segment) gets no rank, so it is not put in capture order. */
int cs__query_run_ranks(qctx *c, const cs_segment *seg, uint32_t slot, size_t from, size_t to,
                        int only_tied)
{
    const qmap *m;
    cs_idx_block b, nb;
    uint64_t rank = 0, block_rank = 0, at;
    uint32_t blk = 0;
    int rc;

    if (seg->idx.n_blocks == 0)
        return 0;
    if ((rc = cs__query_map_segment(c, slot)) < 0)
        return rc;
    m = &c->maps[slot];
    cs_idx_block_get(&seg->idx, 0, &b);
    at = b.first_off;
    for (size_t i = from; i < to; i++) {
        qhit *h = &c->hits[i];
        if (only_tied && h->seq != QSEQ_TIED)
            continue;
        while (blk + 1 < seg->idx.n_blocks) {
            cs_idx_block_get(&seg->idx, blk + 1, &nb);
            if (nb.first_off > h->off)
                break;
            block_rank += b.n;
            b = nb;
            blk++;
            at = b.first_off;
            rank = block_rank;
        }
        while (at < h->off && at + CS_PCAP_RECHDR <= m->size) {
            at += CS_PCAP_RECHDR + (uint64_t)cs_rd_le32(m->map + at + 8);
            rank++;
        }
        h->seq = at == h->off ? rank + (only_tied ? 1 : 0) : CS_ORDER_NONE;
    }
    return 0;
}

/* Decides how each unit segment's hits are ordered within its group: a
 * group with one segment in the unit keeps file order (its hits' seq is
 * their offset), one with more is put in capture order by its record,
 * read here, or merged by timestamp if it has none (a store written
 * before records existed) or a damaged one. A group's segments are
 * adjacent in the unit (segments_by_start). */
int cs__query_plan_orders(qctx *c)
{
    for (size_t i = 0, j; i < c->n_useg; i = j) {
        uint32_t group = cs_store_group_of(c->useg[i].seg->id, c->s->partitions);
        int ord = QUSEG_ALONE, rc;
        for (j = i + 1;
             j < c->n_useg && cs_store_group_of(c->useg[j].seg->id, c->s->partitions) == group; j++)
            ;
        if (j - i > 1) {
            if ((rc = cs_grow((void **)&c->ords, &c->cap_ords, c->n_ords + 1, sizeof(qord))) < 0)
                return rc;
            rc = cs_order_read(c->s->pktdir, group, c->s->partitions, &c->ords[c->n_ords].rec);
            if (rc == 0) {
                c->ords[c->n_ords].group = group;
                ord = (int)c->n_ords++;
            } else {
                if (rc != CS_ENOTFOUND)
                    cs_log_warn("%s: merging it by timestamp", cs_error_msg(rc));
                cs_error_clear();
                ord = QUSEG_BY_TIME;
            }
        }
        for (size_t k = i; k < j; k++)
            c->useg[k].ord = ord;
    }
    return 0;
}

/* Runs of one group being merged by timestamp (mark_ties). */
typedef struct qmerge {
    const qhit *hits;
    size_t *at, *end; /* per run: next hit, end */
} qmerge;

static int tie_before(const void *ctx, size_t a, size_t b)
{
    const qmerge *m = ctx;
    int64_t ta = m->hits[m->at[a]].ts, tb = m->hits[m->at[b]].ts;

    return ta < tb || (ta == tb && a < b);
}

/* Marks QSEQ_TIED the "n_tied" hits c->tied[] of one timestamp if they
 * come from more than one run ("multi"). */
static void mark_tied(qctx *c, size_t n_tied, int multi)
{
    for (size_t i = 0; multi && i < n_tied; i++)
        c->hits[c->tied[i]].seq = QSEQ_TIED;
}

/* Marks QSEQ_TIED the hits of timestamps that more than one of the runs
 * "rs"[0, n) (one group's, each in timestamp order) have: a merge of the
 * runs by timestamp brings each timestamp's hits together. */
static int mark_ties(qctx *c, const size_t *rs, size_t n)
{
    size_t *heap = cs_malloc(3 * n * sizeof(size_t)), k = n, n_tied = 0, first_run = 0;
    qmerge m;
    int multi = 0, rc = 0;

    if (heap == NULL)
        return CS_ENOMEM;
    m = (qmerge){c->hits, heap + n, heap + 2 * n};
    for (size_t i = 0; i < n; i++) {
        heap[i] = i;
        m.at[i] = c->runs[2 * rs[i]];
        m.end[i] = c->runs[2 * rs[i] + 1];
    }
    cs_heap_make(heap, k, tie_before, &m);
    while (k > 0 && rc == 0) {
        size_t r = heap[0], h = m.at[r]++;
        if (n_tied > 0 && c->hits[h].ts != c->hits[c->tied[0]].ts) {
            mark_tied(c, n_tied, multi);
            n_tied = 0;
            multi = 0;
        }
        if ((rc = cs_grow((void **)&c->tied, &c->cap_tied, n_tied + 1, sizeof(size_t))) < 0)
            break;
        if (n_tied == 0)
            first_run = r;
        multi |= r != first_run;
        c->tied[n_tied++] = h;
        if (m.at[r] == m.end[r])
            heap[0] = heap[--k];
        cs_heap_down(heap, k, 0, tie_before, &m);
    }
    if (rc == 0)
        mark_tied(c, n_tied, multi);
    cs_free(heap);
    return rc;
}

/* Gives the group's hits marked QSEQ_TIED, in its runs "rs"[0, n), their
 * capture positions: their ranks (cs__query_run_ranks, which stores
 * rank + 1 here so that 0 stays "not tied"), gathered per partition,
 * become positions in one pass over the record "rec". Unmarked hits keep
 * seq 0: their timestamp alone places them. */
static int place_ties(qctx *c, const cs_order *rec, uint32_t group, const size_t *rs, size_t n)
{
    uint32_t np = c->s->partitions;
    uint64_t **rank = cs_calloc(np, sizeof(uint64_t *)), *buf = NULL;
    size_t *cnt = cs_calloc(np, sizeof(size_t)), total = 0, used = 0;
    int rc = rank == NULL || cnt == NULL ? CS_ENOMEM : 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t from = c->runs[2 * rs[i]], to = c->runs[2 * rs[i] + 1];
        uint32_t slot = c->hits[from].seg;
        cs_segment *seg = cs__seg_find(c->s, c->maps[slot].id);
        if (seg != NULL) { /* else deleted meanwhile: merged by timestamp */
            rc = cs__query_run_ranks(c, seg, slot, from, to, 1);
            cs_idx_release(&seg->idx);
        }
        for (size_t h = from; h < to; h++) {
            if (c->hits[h].seq == QSEQ_TIED || c->hits[h].seq == CS_ORDER_NONE)
                c->hits[h].seq = 0; /* no rank found: file order among its run */
            total += c->hits[h].seq != 0;
        }
    }
    if (rc == 0 && total > 0 && (buf = cs_malloc(total * sizeof(uint64_t))) == NULL)
        rc = CS_ENOMEM;
    for (size_t i = 0; i < n && rc == 0 && total > 0; i++) { /* a run per partition */
        size_t from = c->runs[2 * rs[i]], to = c->runs[2 * rs[i] + 1];
        uint32_t p = c->maps[c->hits[from].seg].id - group;
        rank[p] = buf + used;
        for (size_t h = from; h < to; h++)
            if (c->hits[h].seq != 0)
                buf[used + cnt[p]++] = c->hits[h].seq - 1;
        used += cnt[p];
    }
    if (rc == 0 && total > 0)
        cs_order_positions(rec, rank, cnt, sizeof(uint64_t));
    for (size_t i = 0; i < n && rc == 0 && total > 0; i++) {
        size_t from = c->runs[2 * rs[i]], to = c->runs[2 * rs[i] + 1], k = 0;
        uint32_t p = c->maps[c->hits[from].seg].id - group;
        for (size_t h = from; h < to; h++)
            if (c->hits[h].seq != 0)
                c->hits[h].seq = rank[p][k++];
    }
    cs_free(rank);
    cs_free(cnt);
    cs_free(buf);
    return rc;
}

/* Capture positions for the hits of record "k"'s group: where the group's
 * capture never went back in time (the usual case), only for hits that
 * share their timestamp with another segment's (placed by timestamp first,
 * seq 0 or that position), else for every hit (by position alone: seq the
 * rank cs__query_run_ranks left, made a position here in one pass). "rs"
 * has room for every run. */
static int order_group(qctx *c, size_t k, size_t *rs)
{
    const cs_order *rec = &c->ords[k].rec;
    uint32_t group = c->ords[k].group, np = c->s->partitions;
    uint64_t **rank;
    size_t n = 0, *cnt;
    int rc;

    for (size_t r = 0; r < c->n_runs; r++)
        if (c->maps[c->hits[c->runs[2 * r]].seg].group == group)
            rs[n++] = r;
    if (rec->in_time_order) {
        rc = mark_ties(c, rs, n);
        return rc < 0 ? rc : place_ties(c, rec, group, rs, n);
    }
    rank = cs_calloc(np, sizeof(uint64_t *));
    cnt = cs_calloc(np, sizeof(size_t));
    if (rank == NULL || cnt == NULL) {
        cs_free(rank);
        cs_free(cnt);
        return CS_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        qhit *h = &c->hits[c->runs[2 * rs[i]]];
        uint32_t p = c->maps[h->seg].id - group;
        rank[p] = &h->seq;
        cnt[p] = c->runs[2 * rs[i] + 1] - c->runs[2 * rs[i]];
    }
    cs_order_positions(rec, rank, cnt, sizeof(qhit));
    cs_free(rank);
    cs_free(cnt);
    return 0;
}

/* Puts the unit's hits in capture order within each group that has a
 * record (order_group), then sorts any run not in cmp_hit order (a group
 * merged by timestamp whose capture went backwards, hits past the end of
 * the record). */
int cs__query_order_unit(qctx *c)
{
    size_t *rs = cs_malloc((c->n_runs ? c->n_runs : 1) * sizeof(size_t));
    int rc = 0;

    if (rs == NULL)
        return CS_ENOMEM;
    for (size_t k = 0; k < c->n_ords && rc == 0; k++)
        rc = order_group(c, k, rs);
    cs_free(rs);
    for (size_t r = 0; r < c->n_runs && rc == 0; r++) {
        qhit *from = &c->hits[c->runs[2 * r]];
        size_t len = c->runs[2 * r + 1] - c->runs[2 * r];
        for (size_t i = 1; i < len; i++)
            if (cmp_hit(&from[i - 1], &from[i], c) > 0) {
                qsort_r(from, len, sizeof(qhit), cmp_hit, c);
                break;
            }
    }
    return rc;
}

/* Is the next hit of run "a" before that of run "b"? */
static int run_before(const void *ctx, size_t a, size_t b)
{
    const qctx *c = ctx;

    return cmp_hit(&c->hits[c->runs[2 * a]], &c->hits[c->runs[2 * b]], (void *)c) < 0;
}

static int deliver_hit(qctx *c, const qhit *h)
{
    const uint8_t *r = h->at == QHIT_MAPPED ? c->maps[h->seg].map + h->off : c->arena + h->at;

    return cs__query_hand_over(c, h->seg, h->off, r, h->ts);
}

/* The run at the top of the heap has the earliest next hit: hands over
 * its hits while they stay before the other runs' next ones ("bound", the
 * smaller of the top's children), then restores the heap. */
static int deliver_top(qctx *c, size_t *heap, size_t *n)
{
    size_t r = heap[0], *pos = &c->runs[2 * r], end = c->runs[2 * r + 1];
    const qhit *bound = NULL;

    if (*n > 1)
        bound = &c->hits[c->runs[2 * heap[1]]];
    if (*n > 2 && run_before(c, heap[2], heap[1]))
        bound = &c->hits[c->runs[2 * heap[2]]];
    do {
        if (deliver_hit(c, &c->hits[(*pos)++]))
            return 1;
    } while (*pos < end && (bound == NULL || cmp_hit(&c->hits[*pos], bound, c) < 0));
    if (*pos == end)
        heap[0] = heap[--*n];
    cs_heap_down(heap, *n, 0, run_before, c);
    return 0;
}

/* Merges the unit's runs by (timestamp, segment, offset) to the caller. */
int cs__query_deliver(qctx *c)
{
    size_t *heap, n = c->n_runs;

    if (n == 0)
        return 0;
    heap = cs_malloc(n * sizeof(size_t));
    if (heap == NULL)
        return CS_ENOMEM;
    for (size_t i = 0; i < n; i++)
        heap[i] = i;
    cs_heap_make(heap, n, run_before, c);
    while (n > 0 && deliver_top(c, heap, &n) == 0)
        ;
    cs_free(heap);
    return 0;
}

/*
 * msgstore_latblocks.c - the latency blocks of a measurement file: what
 * bounds each run of CS__LB_RECORDS consecutive records, noted by the
 * summary passes (msgstore_summary.c) and read by sorted queries
 * (msgstore_latency.c).
 *
 *   file ──► [ block 0: records 1..256 ][ block 1: 257..512 ][ block 2 ...
 *            each: [start, end) offsets, request-time bounds, the largest
 *            latency, and the largest per pair for its first CS__LB_PAIRS
 *            pairs (pairs_over counts records of any further pair)
 *
 * A query for the k slowest measurements of pair P reads the blocks in
 * descending order of their bound for P and stops at the first block
 * whose bound is below the k-th slowest it holds: no record of that block,
 * or of any after it, can sort before it. A block that holds no record of
 * P is never read. Pairs are told apart by a 32-bit hash; two pairs that
 * share one share a bound, the larger, which is still a bound for each.
 * A query for pair P in store or time order, or P's statistics, reads
 * likewise only the blocks that may hold P (cs__lb_may_hold_pair), in file
 * order (msgstore_summary.c): a file of other pairs only is not read.
 *
 * Invariants: blocks cover the file's records in order, without gaps,
 * from the first frame to the summary's valid_end; a tail read extends the
 * last block or adds blocks. Memory: sizeof(cs__latblock) (~100 bytes)
 * per CS__LB_RECORDS records. A block list that could not grow is not ok
 * and then never used.
 */
#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/sort.h"
#include "store/msgstore_int.h"

#include <string.h>

uint32_t cs__lb_pair_hash(const char *pair, size_t len)
{
    uint64_t h = cs_hash64(pair, len, 0x6c6174626c6f636bull);
    uint32_t v = (uint32_t)(h ^ (h >> 32));

    return v ? v : 1; /* 0 marks an unused slot */
}

void cs__lb_free(cs__latblocks *lb)
{
    cs_free(lb->v);
    memset(lb, 0, sizeof(*lb));
}

void cs__lb_dup(cs__latblocks *dst, const cs__latblocks *src)
{
    memset(dst, 0, sizeof(*dst));
    if (!src->ok || (src->n > 0 && (dst->v = cs_malloc(src->n * sizeof(*dst->v))) == NULL))
        return;
    if (src->n > 0)
        memcpy(dst->v, src->v, src->n * sizeof(*dst->v));
    dst->n = dst->cap = src->n;
    dst->ok = 1;
}

/* The block the next record goes to, a new one if the last is full. */
static cs__latblock *next_block(cs__latblocks *lb, uint64_t off)
{
    cs__latblock *b;

    if (lb->n > 0 && lb->v[lb->n - 1].records < CS__LB_RECORDS)
        return &lb->v[lb->n - 1];
    if (cs_grow((void **)&lb->v, &lb->cap, lb->n + 1, sizeof(*lb->v)) < 0) {
        cs__lb_free(lb); /* not ok: never used */
        return NULL;
    }
    b = &lb->v[lb->n++];
    memset(b, 0, sizeof(*b));
    b->start = off;
    b->min_ts = INT64_MAX;
    b->max_ts = INT64_MIN;
    b->max_latency = INT64_MIN;
    return b;
}

/* Raises the bound of pair hash "h" in "b" to "lat". */
static void pair_note(cs__latblock *b, uint32_t h, int64_t lat)
{
    for (int i = 0; i < CS__LB_PAIRS; i++) {
        if (b->pair_hash[i] == 0) {
            b->pair_hash[i] = h;
            b->pair_max[i] = lat;
            return;
        }
        if (b->pair_hash[i] == h) {
            b->pair_max[i] = lat > b->pair_max[i] ? lat : b->pair_max[i];
            return;
        }
    }
    b->pairs_over++;
}

void cs__lb_add(cs__latblocks *lb, uint64_t off, const uint8_t *p, size_t n)
{
    cs__latblock *b;
    int64_t ts, lat;
    size_t pair_len;

    if (!lb->ok || (b = next_block(lb, off)) == NULL)
        return;
    b->records++;
    b->end = off + CS__FRAME_PAYLOAD + n;
    if (n < CS__LAT_FIXED)
        return; /* undecodable: no query takes it, nothing to bound */
    ts = (int64_t)cs_rd_le64(p + CS__LAT_REQ_TS);
    lat = (int64_t)cs_rd_le64(p + CS__LAT_LATENCY);
    pair_len = p[CS__LAT_PAIR_LEN];
    if (n - CS__LAT_FIXED < pair_len)
        return;
    pair_len = strnlen((const char *)p + CS__LAT_FIXED, pair_len);
    b->min_ts = ts < b->min_ts ? ts : b->min_ts;
    b->max_ts = ts > b->max_ts ? ts : b->max_ts;
    b->max_latency = lat > b->max_latency ? lat : b->max_latency;
    pair_note(b, cs__lb_pair_hash((const char *)p + CS__LAT_FIXED, pair_len), lat);
}

int cs__lb_pair_slot(const cs__latblock *b, uint32_t h)
{
    for (int i = 0; i < CS__LB_PAIRS && b->pair_hash[i] != 0; i++)
        if (b->pair_hash[i] == h)
            return i;
    return -1;
}

int cs__lb_may_hold_pair(const cs__latblock *b, uint32_t h)
{
    return b->pairs_over > 0 || cs__lb_pair_slot(b, h) >= 0;
}

static uint64_t blocks_read, blocks_passed; /* process-wide, for tests */

void cs__lb_stats(uint64_t *read, uint64_t *passed)
{
    *read = __atomic_load_n(&blocks_read, __ATOMIC_RELAXED);
    *passed = __atomic_load_n(&blocks_passed, __ATOMIC_RELAXED);
}

void cs__lb_count(uint64_t read, uint64_t passed)
{
    __atomic_fetch_add(&blocks_read, read, __ATOMIC_RELAXED);
    __atomic_fetch_add(&blocks_passed, passed, __ATOMIC_RELAXED);
}

typedef struct block_ref {
    int64_t bound;
    size_t i;
} block_ref;

/* Descending bound; blocks of equal bound in file order. */
static int cmp_block_ref(const void *a, const void *b)
{
    const block_ref *x = a, *y = b;

    if (x->bound != y->bound)
        return x->bound > y->bound ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

int cs__lb_scan(cs_msgreader *r, int fd, const cs__latblocks *lb, const cs__block_order *o,
                cs__frame_fn fn, void *ud, cs__scan_result *res)
{
    block_ref *v = lb->n ? cs_malloc(lb->n * sizeof(*v)) : NULL;
    size_t m = 0;
    int rc = 0;

    memset(res, 0, sizeof(*res));
    if (lb->n && v == NULL)
        return CS_ENOMEM;
    for (size_t i = 0; i < lb->n; i++)
        if (o->bound(o->ud, &lb->v[i], &v[m].bound))
            v[m++].i = i;
    if (m == 0) { /* no block holds a record asked for */
        cs__lb_count(0, lb->n);
        cs_free(v);
        return 0;
    }
    if (o->k > m / 2) { /* about k blocks would be read, out of order: a pass is cheaper */
        cs_free(v);
        return 1;
    }
    cs_qsort(v, m, sizeof(*v), cmp_block_ref);
    size_t j = 0;
    for (; j < m && rc == 0 && !res->stopped && !res->torn; j++) {
        if (o->enough(o->ud, v[j].bound))
            break; /* neither it nor any after it can add a record */
        rc = cs__scan_range(r, fd, lb->v[v[j].i].start, lb->v[v[j].i].end, fn, ud, res);
    }
    cs__lb_count(j, lb->n - j);
    cs_free(v);
    return rc;
}

/*
 * query.c - answering "packets matching FILTER in [after, before)" from the
 * segment indexes.
 *
 * How it works:
 *   1. The filter is parsed twice: by libpcap into a BPF program (one per
 *      link type, the exact semantics tcpdump has) and by store/flowpred.c
 *      into a three-valued predicate over flow keys.
 *   2. Segments whose [min_ts, max_ts] misses the range are skipped without
 *      being opened.
 *   3. In a segment, every flow key is evaluated: FALSE keys are skipped,
 *      TRUE keys' packets are taken as they are, MAYBE keys' packets are
 *      checked with the BPF program. The time range narrows each key's
 *      postings to the byte window of the time blocks that overlap it.
 *      With no filter, the time blocks are walked directly.
 *   4. Every candidate record is read from the mapped segment (bounds
 *      checked), its timestamp checked against the range, and kept.
 *   5. Each segment's results form a run in file order, which is
 *      timestamp order unless the capture was not (such a run is sorted).
 *      The runs are merged by timestamp (ties: lower segment, then lower
 *      offset) as they are handed to the caller: the P segments of a group
 *      (store.h) cover the same stretch of time, so a plain concatenation
 *      would not do, and a merge costs far less than sorting every hit.
 * So the cost is the packets returned plus the keys of the segments that
 * overlap the range, not the size of the store.
 *
 * Segments are mapped read-only and flocked shared for the whole query, so
 * retention cannot delete one under a reader.
 */
#include "store/store_int.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "store/flowpred.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct qhit {
    int64_t ts;
    uint32_t seg; /* index into the query's map table */
    uint32_t off;
} qhit;

typedef struct qmap {
    uint32_t id;
    int fd;
    const uint8_t *map;
    size_t size;
} qmap;

typedef struct qprog {
    uint32_t linktype;
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
    int run_sorted;   /* its hits so far are in (ts, offset) order */
    size_t *runs;     /* [start, end) pairs of the runs, one per segment with hits */
    size_t n_runs, cap_runs;
    uint64_t *cand; /* candidate offsets (bit 32: needs BPF) */
    size_t n_cand, cap_cand;
    cs_query_stats st;
} qctx;

/* pcap files carry LINKTYPE_ values; libpcap's dead handles take DLT_ ones.
 * They coincide except where historic DLT numbers differ between systems:
 * LINKTYPE_RAW (101) is this platform's DLT_RAW. */
static int linktype_to_dlt(uint32_t linktype)
{
    return linktype == CS_LINK_RAW ? DLT_RAW : (int)linktype;
}

static int compile_bpf(qctx *c, uint32_t linktype, const struct bpf_program **out)
{
    pcap_t *dead;
    qprog *qp;
    int rc;

    for (size_t i = 0; i < c->n_progs; i++) {
        if (c->progs[i].linktype == linktype) {
            *out = &c->progs[i].prog;
            return 0;
        }
    }
    if ((rc = cs_grow((void **)&c->progs, &c->cap_progs, c->n_progs + 1, sizeof(qprog))) < 0)
        return rc;
    qp = &c->progs[c->n_progs];
    dead = pcap_open_dead_with_tstamp_precision(linktype_to_dlt(linktype), CS_PCAP_SNAPLEN,
                                                PCAP_TSTAMP_PRECISION_NANO);
    if (dead == NULL)
        return CS_ENOMEM;
    if (pcap_compile(dead, &qp->prog, c->q->filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        rc = cs_error_set(CS_EFILTER, "bad filter '%s': %s", c->q->filter, pcap_geterr(dead));
        pcap_close(dead);
        return rc;
    }
    pcap_close(dead);
    qp->linktype = linktype;
    c->n_progs++;
    *out = &qp->prog;
    return 0;
}

static int map_segment(qctx *c, const cs_segment *seg, uint32_t *slot)
{
    char path[4096];
    struct stat st;
    qmap *m;
    void *p;
    int rc;

    if ((rc = cs_grow((void **)&c->maps, &c->cap_maps, c->n_maps + 1, sizeof(qmap))) < 0)
        return rc;
    m = &c->maps[c->n_maps];
    cs__seg_path(c->s, seg->id, "pcap", path, sizeof(path));
    m->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (m->fd < 0)
        return 1; /* deleted by retention since the store was opened: skip */
    flock(m->fd, LOCK_SH);
    if (fstat(m->fd, &st) < 0 || (uint64_t)st.st_size < seg->idx.pcap_bytes) {
        close(m->fd);
        return cs_error_set(CS_ECORRUPT, "segment %" PRIu32 " is shorter than its index", seg->id);
    }
    p = mmap(NULL, seg->idx.pcap_bytes, PROT_READ, MAP_SHARED, m->fd, 0);
    if (p == MAP_FAILED) {
        close(m->fd);
        return cs_error_set(CS_EIO, "mmap %s: %s", path, strerror(errno));
    }
    m->id = seg->id;
    m->map = p;
    m->size = seg->idx.pcap_bytes;
    *slot = (uint32_t)c->n_maps++;
    return 0;
}

static int push_hit(qctx *c, int64_t ts, uint32_t slot, uint32_t off)
{
    int rc;

    if (c->n_hits == c->cap_hits &&
        (rc = cs_grow((void **)&c->hits, &c->cap_hits, c->n_hits + 1, sizeof(qhit))) < 0)
        return rc;
    if (c->n_hits > c->run_start) {
        const qhit *last = &c->hits[c->n_hits - 1];
        if (ts < last->ts || (ts == last->ts && off < last->off))
            c->run_sorted = 0;
    }
    c->hits[c->n_hits++] = (qhit){ts, slot, off};
    return 0;
}

/* Reads the record at "off", checks range and filter, keeps it. */
static int take_record(qctx *c, uint32_t slot, uint32_t off, const struct bpf_program *prog)
{
    const qmap *m = &c->maps[slot];
    const uint8_t *h;
    uint32_t caplen, wirelen;
    int64_t ts;

    if (off < CS_PCAP_FILEHDR || (size_t)off + CS_PCAP_RECHDR > m->size)
        return cs_error_set(CS_ECORRUPT, "segment %" PRIu32 ": bad record offset %" PRIu32, m->id,
                            off);
    h = m->map + off;
    caplen = cs_rd_le32(h + 8);
    wirelen = cs_rd_le32(h + 12);
    if ((size_t)off + CS_PCAP_RECHDR + caplen > m->size)
        return cs_error_set(CS_ECORRUPT, "segment %" PRIu32 ": record at %" PRIu32 " overruns",
                            m->id, off);
    c->st.candidates++;
    ts = (int64_t)cs_rd_le32(h) * 1000000000 + cs_rd_le32(h + 4);
    if (ts < c->q->after || ts >= c->q->before)
        return 0;
    if (prog != NULL) {
        c->st.bpf_runs++;
        if (bpf_filter(prog->bf_insns, h + CS_PCAP_RECHDR, wirelen, caplen) == 0)
            return 0;
    }
    return push_hit(c, ts, slot, off);
}

/* Byte window [lo, hi) of the blocks overlapping the time range. */
static void time_window(const qctx *c, const cs_segment *seg, uint32_t *lo, uint64_t *hi)
{
    cs_idx_block b;
    uint32_t first = UINT32_MAX, last = 0;

    *lo = 0;
    *hi = UINT64_MAX;
    if (seg->idx.min_ts >= c->q->after && seg->idx.max_ts < c->q->before)
        return;
    for (uint32_t i = 0; i < seg->idx.n_blocks; i++) {
        cs_idx_block_get(&seg->idx, i, &b);
        if (b.max_ts < c->q->after || b.min_ts >= c->q->before)
            continue;
        if (first == UINT32_MAX)
            first = i;
        last = i;
    }
    if (first == UINT32_MAX) {
        *hi = 0;
        return;
    }
    cs_idx_block_get(&seg->idx, first, &b);
    *lo = b.first_off;
    if (last + 1 < seg->idx.n_blocks) {
        cs_idx_block_get(&seg->idx, last + 1, &b);
        *hi = b.first_off;
    }
}

static int scan_all(qctx *c, const cs_segment *seg, uint32_t slot)
{
    const qmap *m = &c->maps[slot];
    cs_idx_block b;
    int rc;

    for (uint32_t i = 0; i < seg->idx.n_blocks; i++) {
        uint32_t off;
        cs_idx_block_get(&seg->idx, i, &b);
        if (b.max_ts < c->q->after || b.min_ts >= c->q->before)
            continue;
        off = b.first_off;
        for (uint32_t k = 0; k < b.n; k++) {
            if ((size_t)off + CS_PCAP_RECHDR > m->size)
                return cs_error_set(CS_ECORRUPT, "segment %" PRIu32 " is damaged", m->id);
            if ((rc = take_record(c, slot, off, NULL)) < 0)
                return rc;
            off += CS_PCAP_RECHDR + cs_rd_le32(m->map + off + 8);
        }
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a & 0xffffffffu, y = *(const uint64_t *)b & 0xffffffffu;
    return x < y ? -1 : x > y;
}

/* Collects the postings of every key the predicate does not rule out. */
static int gather_candidates(qctx *c, const cs_segment *seg, uint32_t lo, uint64_t hi, int *multi)
{
    int keys = 0, rc;

    c->n_cand = 0;
    for (uint32_t i = 0; i < seg->idx.n_keys; i++) {
        cs_flowkey k;
        uint32_t count;
        uint64_t first;
        cs_tri t;

        cs_idx_flow(&seg->idx, i, &k, &count, &first);
        t = c->pred ? cs_flowpred_eval(c->pred, &k) : CS_TRI_MAYBE;
        if (t == CS_TRI_FALSE || count == 0)
            continue;
        if (first + count > seg->idx.n_pkts)
            return cs_error_set(CS_ECORRUPT, "segment %" PRIu32 ": bad posting range", seg->id);
        keys++;
        rc = cs_grow((void **)&c->cand, &c->cap_cand, c->n_cand + count, sizeof(uint64_t));
        if (rc < 0)
            return rc;
        for (uint64_t p = first; p < first + count; p++) {
            uint32_t off = cs_idx_posting(&seg->idx, p);
            if (off < lo || off >= hi)
                continue;
            c->cand[c->n_cand++] = off | (t == CS_TRI_MAYBE ? (1ull << 32) : 0);
        }
    }
    *multi = keys > 1;
    return 0;
}

static int cmp_hit(const void *a, const void *b)
{
    const qhit *x = a, *y = b;

    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Closes the run of the segment just searched (sorting it if the capture
 * was out of order there). */
static int end_run(qctx *c)
{
    size_t n = c->n_hits - c->run_start;
    int rc;

    if (n == 0)
        return 0;
    if (!c->run_sorted)
        qsort(c->hits + c->run_start, n, sizeof(qhit), cmp_hit);
    if ((rc = cs_grow((void **)&c->runs, &c->cap_runs, 2 * c->n_runs + 2, sizeof(size_t))) < 0)
        return rc;
    c->runs[2 * c->n_runs] = c->run_start;
    c->runs[2 * c->n_runs + 1] = c->n_hits;
    c->n_runs++;
    return 0;
}

/* Maps the page tables of the span of the candidates in one call when they
 * are dense in it, rather than taking a page fault every few pages. */
static void prefault(const qctx *c, uint32_t slot)
{
    const qmap *m = &c->maps[slot];
    uint64_t lo, hi;
    long page = 4096;

    if (c->n_cand == 0)
        return;
    lo = (uint32_t)c->cand[0] & ~(uint64_t)(page - 1);
    hi = (uint32_t)c->cand[c->n_cand - 1] + CS_PCAP_RECHDR;
    if (hi > m->size || (hi - lo) / page > 4 * c->n_cand)
        return; /* sparse: faulting only what is read costs less */
    madvise((void *)(m->map + lo), hi - lo, MADV_POPULATE_READ);
}

static int search_segment(qctx *c, cs_segment *seg)
{
    const struct bpf_program *prog = NULL;
    uint32_t slot, lo = 0;
    uint64_t hi = 0;
    int rc, multi = 0;

    if (seg->idx.n_pkts == 0 || seg->idx.max_ts < c->q->after || seg->idx.min_ts >= c->q->before)
        return 0;
    if ((rc = cs__seg_verify(c->s, seg)) < 0)
        return rc;
    if (!c->all) {
        if ((rc = compile_bpf(c, seg->idx.linktype, &prog)) < 0)
            return rc;
        time_window(c, seg, &lo, &hi);
        rc = gather_candidates(c, seg, lo, hi, &multi);
        cs_idx_release(&seg->idx); /* the candidates are all it was needed for */
        if (rc < 0)
            return rc;
        if (c->n_cand == 0) /* most segments of a narrow query: not even opened */
            return 0;
    }
    if ((rc = map_segment(c, seg, &slot)) != 0)
        return rc > 0 ? 0 : rc;
    c->st.segments_searched++;
    c->run_start = c->n_hits;
    c->run_sorted = 1;
    if (c->all) {
        rc = scan_all(c, seg, slot);
        cs_idx_release(&seg->idx);
    } else {
        if (multi)
            qsort(c->cand, c->n_cand, sizeof(uint64_t), cmp_u64);
        if ((rc = cs_grow((void **)&c->hits, &c->cap_hits, c->n_hits + c->n_cand, sizeof(qhit))) <
            0)
            return rc;
        prefault(c, slot);
        for (size_t i = 0; i < c->n_cand && rc == 0; i++)
            rc = take_record(c, slot, (uint32_t)c->cand[i], (c->cand[i] >> 32) ? prog : NULL);
    }
    return rc < 0 ? rc : end_run(c);
}

static void qctx_free(qctx *c)
{
    for (size_t i = 0; i < c->n_progs; i++)
        pcap_freecode(&c->progs[i].prog);
    for (size_t i = 0; i < c->n_maps; i++) {
        munmap((void *)c->maps[i].map, c->maps[i].size);
        close(c->maps[i].fd);
    }
    cs_free(c->progs);
    cs_free(c->maps);
    cs_free(c->hits);
    cs_free(c->runs);
    cs_free(c->cand);
    cs_flowpred_free(c->pred);
}

/* Is the head of run "a" before the head of run "b"? */
static int run_before(const qctx *c, size_t a, size_t b)
{
    return cmp_hit(&c->hits[c->runs[2 * a]], &c->hits[c->runs[2 * b]]) < 0;
}

static void heap_down(const qctx *c, size_t *heap, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && run_before(c, heap[l], heap[m]))
            m = l;
        if (l + 1 < n && run_before(c, heap[l + 1], heap[m]))
            m = l + 1;
        if (m == i)
            return;
        size_t t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

static int deliver_hit(qctx *c, const qhit *h, cs_query_fn fn, void *ud)
{
    const qmap *m = &c->maps[h->seg];
    const uint8_t *r = m->map + h->off;
    cs_packet p = {.ts_ns = h->ts,
                   .caplen = cs_rd_le32(r + 8),
                   .wirelen = cs_rd_le32(r + 12),
                   .linktype = (uint16_t)cs_rd_le32(m->map + 20),
                   .data = r + CS_PCAP_RECHDR};

    return fn(ud, &p, CS_PKTREF(m->id, h->off));
}

/* Merges the runs by (timestamp, segment, offset) into "fn": a heap of the
 * runs keyed by their next hit (c->runs[2i] advances as hits go out). */
static int deliver(qctx *c, cs_query_fn fn, void *ud)
{
    size_t *heap, n = c->n_runs;

    if (n == 0)
        return 0;
    heap = cs_malloc(n * sizeof(size_t));
    if (heap == NULL)
        return CS_ENOMEM;
    for (size_t i = 0; i < n; i++)
        heap[i] = i;
    for (size_t i = n / 2; i-- > 0;)
        heap_down(c, heap, n, i);
    while (n > 0) {
        size_t r = heap[0];
        if (deliver_hit(c, &c->hits[c->runs[2 * r]++], fn, ud) != 0)
            break;
        if (c->runs[2 * r] == c->runs[2 * r + 1])
            heap[0] = heap[--n];
        heap_down(c, heap, n, 0);
    }
    cs_free(heap);
    return 0;
}

int cs_store_query(cs_store *s, const cs_query *q, cs_query_fn fn, void *ud, cs_query_stats *st)
{
    const struct bpf_program *prog;
    qctx c;
    int rc;

    memset(&c, 0, sizeof(c));
    c.s = s;
    c.q = q;
    c.all = q->filter == NULL || q->filter[0] == '\0';
    c.st.segments_total = s->n_segs;
    if (q->after > q->before) {
        rc = cs_error_set(CS_ETIME, "the start of the range is after its end");
        goto out;
    }
    if (!c.all) {
        /* Validate with libpcap first, so a bad filter fails on any store. */
        if ((rc = compile_bpf(&c, CS_LINK_ETHERNET, &prog)) < 0)
            goto out;
        /* libpcap accepted it: if the index parser cannot, every key is MAYBE. */
        if (cs_flowpred_compile(q->filter, &c.pred) < 0)
            c.pred = NULL;
        cs_error_clear();
    }
    for (size_t i = 0; i < s->n_segs; i++)
        if ((rc = search_segment(&c, &s->segs[i])) < 0)
            goto out;
    c.st.matched = c.n_hits;
    rc = deliver(&c, fn, ud);
out:
    if (st)
        *st = c.st;
    qctx_free(&c);
    return rc;
}

/* ---- pcap output ------------------------------------------------------ */

typedef struct qout {
    int fd;
    int started;
    uint32_t linktype;
    cs_pcapw w;
    uint64_t count;
    int rc;
} qout;

static int out_packet(void *ud, const cs_packet *p, cs_pktref ref)
{
    qout *o = ud;

    (void)ref;
    o->count++;
    if (o->fd < 0)
        return 0;
    if (!o->started) {
        o->rc = cs_pcapw_init(&o->w, o->fd, 0, p->linktype, CS_PCAP_SNAPLEN, 1u << 20);
        o->started = 1;
        o->linktype = p->linktype;
    } else if (p->linktype != o->linktype) {
        o->rc = cs_error_set(CS_EUNSUPPORTED,
                             "the result mixes link types %u and %u, which one pcap file cannot "
                             "hold; narrow the query (for example by time)",
                             o->linktype, p->linktype);
    }
    if (o->rc == 0)
        o->rc = cs_pcapw_put(&o->w, p, NULL);
    return o->rc != 0;
}

int cs_store_query_pcap(cs_store *s, const cs_query *q, int fd, uint64_t *count, cs_query_stats *st)
{
    qout o;
    int rc;

    memset(&o, 0, sizeof(o));
    o.fd = fd;
    rc = cs_store_query(s, q, out_packet, &o, st);
    if (rc == 0)
        rc = o.rc;
    if (rc == 0 && fd >= 0 && !o.started)
        rc = cs_pcapw_init(&o.w, fd, 0, CS_LINK_ETHERNET, CS_PCAP_SNAPLEN, 65536);
    if (o.w.buf != NULL) {
        int rc2 = cs_pcapw_close(&o.w);
        if (rc == 0)
            rc = rc2;
    }
    *count = o.count;
    return rc;
}

/* ---- single packet by ref --------------------------------------------- */

/* The tap of record "off" of segment "id", from its tap runs. */
static int read_tap(cs_store *s, uint32_t id, uint32_t off, uint16_t *tap)
{
    cs_tap_run *runs;
    size_t n;
    int rc = cs__seg_taps(s, id, &runs, &n);

    for (size_t i = 0; rc == 0 && i < n && runs[i].offset <= off; i++)
        *tap = runs[i].tap;
    cs_free(runs);
    return rc;
}

int cs_store_read(cs_store *s, cs_pktref ref, cs_packet *p)
{
    uint32_t id = CS_PKTREF_SEG(ref), off = CS_PKTREF_OFF(ref);
    const uint8_t *h;
    uint32_t caplen;
    int rc;

    if (cs__seg_find(s, id) == NULL)
        return cs_error_set(CS_ENOTFOUND,
                            "packet %" PRIu32 ":%" PRIu32
                            " is no longer stored (segment deleted by retention)",
                            id, off);
    if ((rc = cs__seg_map(s, id)) < 0)
        return rc;
    if (off < CS_PCAP_FILEHDR || (size_t)off + CS_PCAP_RECHDR > s->rd_size)
        return cs_error_set(CS_ENOTFOUND, "no packet at %" PRIu32 ":%" PRIu32, id, off);
    h = s->rd_map + off;
    caplen = cs_rd_le32(h + 8);
    if ((size_t)off + CS_PCAP_RECHDR + caplen > s->rd_size)
        return cs_error_set(CS_ECORRUPT, "packet %" PRIu32 ":%" PRIu32 " overruns", id, off);
    p->ts_ns = (int64_t)cs_rd_le32(h) * 1000000000 + cs_rd_le32(h + 4);
    p->caplen = caplen;
    p->wirelen = cs_rd_le32(h + 12);
    p->linktype = (uint16_t)cs_rd_le32(s->rd_map + 20);
    p->tap = 0;
    p->data = h + CS_PCAP_RECHDR;
    return read_tap(s, id, off, &p->tap);
}

/* ---- whole segments in store order ------------------------------------ */

/* One segment being scanned: its mapping, tap runs and next record. */
typedef struct sstream {
    uint32_t id, linktype;
    int fd;
    const uint8_t *map;
    size_t size;
    cs_tap_run *taps;
    size_t n_taps, t;
    uint64_t off, left; /* next record, records left */
    int64_t ts;         /* of the next record */
} sstream;

/* Reads the timestamp of the next record (checking it is whole). */
static int stream_peek(sstream *st)
{
    const uint8_t *h = st->map + st->off;

    if (st->off + CS_PCAP_RECHDR > st->size ||
        st->off + CS_PCAP_RECHDR + cs_rd_le32(h + 8) > st->size)
        return cs_error_set(CS_ECORRUPT, "segment %" PRIu32 " is damaged", st->id);
    st->ts = (int64_t)cs_rd_le32(h) * 1000000000 + cs_rd_le32(h + 4);
    return 0;
}

/* Opens segment "seg" for a scan; 1 if retention deleted it meanwhile. */
static int stream_open(cs_store *s, const cs_segment *seg, sstream *st)
{
    char path[4096];
    void *m;
    int rc;

    memset(st, 0, sizeof(*st));
    st->id = seg->id;
    st->linktype = seg->idx.linktype;
    st->left = seg->idx.n_pkts;
    st->off = CS_PCAP_FILEHDR;
    cs__seg_path(s, seg->id, "pcap", path, sizeof(path));
    st->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (st->fd < 0)
        return 1;
    flock(st->fd, LOCK_SH);
    st->size = seg->idx.pcap_bytes;
    m = mmap(NULL, st->size, PROT_READ, MAP_SHARED, st->fd, 0);
    if (m == MAP_FAILED) {
        close(st->fd);
        st->fd = -1;
        return cs_error_set(CS_EIO, "mmap %s: %s", path, strerror(errno));
    }
    madvise(m, st->size, MADV_SEQUENTIAL);
    st->map = m;
    if ((rc = cs__seg_taps(s, seg->id, &st->taps, &st->n_taps)) < 0)
        return rc;
    return st->left > 0 ? stream_peek(st) : 0;
}

static void stream_close(sstream *st)
{
    if (st->map)
        munmap((void *)st->map, st->size);
    if (st->fd >= 0)
        close(st->fd);
    cs_free(st->taps);
}

/* Hands the next record of "st" to "fn" and steps past it. */
static int stream_emit(sstream *st, cs_query_fn fn, void *ud, int *stop)
{
    const uint8_t *h = st->map + st->off;
    cs_packet p;

    while (st->t + 1 < st->n_taps && st->taps[st->t + 1].offset <= st->off)
        st->t++;
    p.ts_ns = st->ts;
    p.caplen = cs_rd_le32(h + 8);
    p.wirelen = cs_rd_le32(h + 12);
    p.linktype = (uint16_t)st->linktype;
    p.tap = st->n_taps ? st->taps[st->t].tap : 0;
    p.data = h + CS_PCAP_RECHDR;
    *stop = fn(ud, &p, CS_PKTREF(st->id, st->off)) != 0;
    st->off += CS_PCAP_RECHDR + p.caplen;
    return --st->left > 0 ? stream_peek(st) : 0;
}

/* The stream with the earliest next record (ties: the lower segment). */
static sstream *stream_next(sstream *sts, size_t n)
{
    sstream *best = NULL;

    for (size_t i = 0; i < n; i++)
        if (sts[i].left > 0 && (best == NULL || sts[i].ts < best->ts))
            best = &sts[i];
    return best;
}

/* Scans the segments segs[0..n) of one group, merged by timestamp: each
 * segment keeps its own (capture) order, as the P partitions of a group
 * were written side by side. */
static int scan_group(cs_store *s, cs_segment *segs, size_t n, cs_query_fn fn, void *ud)
{
    sstream *sts = cs_calloc(n, sizeof(sstream));
    size_t used = 0;
    int rc = 0, stop = 0;

    if (sts == NULL)
        return CS_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = stream_open(s, &segs[i], &sts[used]);
        if (rc == 0 || rc < 0)
            used++;
        if (rc > 0)
            rc = 0;
    }
    while (rc == 0 && !stop) {
        sstream *st = stream_next(sts, used);
        if (st == NULL)
            break;
        rc = stream_emit(st, fn, ud, &stop);
    }
    for (size_t i = 0; i < used; i++)
        stream_close(&sts[i]);
    cs_free(sts);
    return rc < 0 ? rc : stop;
}

int cs_store_scan(cs_store *s, uint32_t first_seg, uint32_t last_seg, cs_query_fn fn, void *ud)
{
    size_t i = 0;
    int rc = 0;

    while (i < s->n_segs && s->segs[i].id < first_seg)
        i++;
    while (i < s->n_segs && s->segs[i].id <= last_seg && rc == 0) {
        uint32_t group = cs_store_group_of(s->segs[i].id, s->partitions);
        size_t j = i;
        while (j < s->n_segs && s->segs[j].id <= last_seg &&
               cs_store_group_of(s->segs[j].id, s->partitions) == group)
            j++;
        rc = scan_group(s, &s->segs[i], j - i, fn, ud);
        i = j;
    }
    return rc < 0 ? rc : 0;
}

int cs_store_segments_in_range(cs_store *s, int64_t after, int64_t before, uint32_t *first_seg,
                               uint32_t *last_seg)
{
    *first_seg = *last_seg = 0;
    for (size_t i = 0; i < s->n_segs; i++) {
        const cs_segment *g = &s->segs[i];
        if (g->idx.n_pkts == 0 || g->idx.max_ts < after || g->idx.min_ts >= before)
            continue;
        if (*first_seg == 0)
            *first_seg = g->id;
        *last_seg = g->id;
    }
    if (*first_seg != 0) { /* whole groups: they are analysed together */
        *first_seg = cs_store_group_of(*first_seg, s->partitions);
        *last_seg = cs_store_group_of(*last_seg, s->partitions) + s->partitions - 1;
    }
    return 0;
}

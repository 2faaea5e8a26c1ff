/*
 * query_read.c - a query's filter, and the records of each segment that
 * may match it: which are candidates, how they are read, which are kept.
 *
 * How it works:
 *   1. The filter is parsed twice: by libpcap into a BPF program (one per
 *      link type, the exact semantics tcpdump has) and by store/flowpred.c
 *      into a three-valued predicate over flow keys.
 *   2. A segment whose key summary (index.h: Bloom filters of its hosts and
 *      ports) shows that none of its keys can match is skipped unread.
 *      In the others, every flow key is evaluated: FALSE keys are skipped,
 *      TRUE keys' packets are taken as they are, MAYBE keys' packets are
 *      checked with the BPF program. The time range narrows each key's
 *      postings to the byte window of the time blocks that overlap it.
 *      With no filter, the time blocks are walked directly.
 *   3. Every candidate record is read (bounds checked), its timestamp
 *      checked against the range, and kept. Candidates close together -
 *      the usual case, as a flow's packets share a partition - are read
 *      with large pread() calls and the kept records copied out; sparse
 *      ones are read through a mapping of the segment.
 * A kept record is handed over at once when the unit streams (one segment
 * has candidates: query.c), else it becomes a hit of its segment's run,
 * which query_order.c puts in capture order.
 */
#include "store/query_int.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define QREAD_CHUNK (1u << 20)    /* pread size for dense candidates */
#define QREAD_SLACK 4096u         /* read past the last candidate for its body */
#define QDENSE_BYTES 8192u        /* at most this many bytes per candidate: dense */
#define QARENA_CAP (256ull << 20) /* past this, a unit's records are mapped */

/* pcap files carry LINKTYPE_ values; libpcap's dead handles take DLT_ ones.
 * They coincide except where historic DLT numbers differ between systems:
 * LINKTYPE_RAW (101) is this platform's DLT_RAW. */
static int linktype_to_dlt(uint32_t linktype)
{
    return linktype == CS_LINK_RAW ? DLT_RAW : (int)linktype;
}

/* The filter compiled for "linktype", once per query: "*out" is NULL when
 * libpcap refuses it on that link type ("type mgt" on Ethernet), whose
 * packets then cannot match; the refusal's text is kept for
 * cs__query_check_filter. */
static int compile_bpf(qctx *c, uint32_t linktype, const struct bpf_program **out)
{
    pcap_t *dead;
    qprog *qp;
    int rc;

    for (size_t i = 0; i < c->n_progs; i++) {
        if (c->progs[i].linktype == linktype) {
            *out = c->progs[i].compiled ? &c->progs[i].prog : NULL;
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
    qp->linktype = linktype;
    qp->compiled = pcap_compile(dead, &qp->prog, c->q->filter, 1, PCAP_NETMASK_UNKNOWN) == 0;
    if (!qp->compiled)
        cs_error_set(CS_EFILTER, "bad filter '%s': %s", c->q->filter, pcap_geterr(dead));
    pcap_close(dead);
    c->n_progs++;
    *out = qp->compiled ? &qp->prog : NULL;
    return 0;
}

/* A filter is good if libpcap compiles it for at least one link type of
 * the store (Ethernet for an empty store), as tcpdump needs it to compile
 * for its file's: "type mgt" is good on a store of 802.11 packets. */
int cs__query_check_filter(qctx *c)
{
    const struct bpf_program *prog = NULL;
    int rc = 0;

    for (size_t i = 0; rc == 0 && prog == NULL && i < c->s->n_segs; i++)
        rc = compile_bpf(c, c->s->segs[i].idx.linktype, &prog);
    if (rc == 0 && prog == NULL && c->s->n_segs == 0)
        rc = compile_bpf(c, CS_LINK_ETHERNET, &prog);
    return rc == 0 && prog == NULL ? CS_EFILTER : rc; /* detail: libpcap's refusal */
}

/* Opens segment "seg" for the unit (shared lock: retention will not delete
 * it meanwhile); 1 if retention deleted it since the store was opened. */
static int open_segment(qctx *c, const cs_segment *seg, uint32_t *slot)
{
    char path[4096];
    struct stat st;
    qmap *m;
    int rc;

    if ((rc = cs_grow((void **)&c->maps, &c->cap_maps, c->n_maps + 1, sizeof(qmap))) < 0)
        return rc;
    m = &c->maps[c->n_maps];
    cs__seg_path(c->s, seg->id, "pcap", path, sizeof(path));
    m->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (m->fd < 0)
        return 1;
    flock(m->fd, LOCK_SH);
    if (fstat(m->fd, &st) < 0 || (uint64_t)st.st_size < seg->idx.pcap_bytes) {
        close(m->fd);
        return cs_error_set(CS_ECORRUPT, "segment %" PRIu32 " is shorter than its index", seg->id);
    }
    m->id = seg->id;
    m->group = cs_store_group_of(seg->id, c->s->partitions);
    m->by_ts = 0;
    m->linktype = seg->idx.linktype;
    m->map = NULL;
    m->size = seg->idx.pcap_bytes;
    m->caps = NULL;
    m->n_caps = 0;
    m->caps_loaded = 0;
    *slot = (uint32_t)c->n_maps++;
    return 0;
}

int cs__query_map_segment(qctx *c, uint32_t slot)
{
    qmap *m = &c->maps[slot];
    void *p;

    if (m->map != NULL)
        return 0;
    p = mmap(NULL, m->size, PROT_READ, MAP_SHARED, m->fd, 0);
    if (p == MAP_FAILED)
        return cs_error_set(CS_EIO, "mmap segment %" PRIu32 ": %s", m->id, strerror(errno));
    m->map = p;
    return 0;
}

static int push_hit(qctx *c, int64_t ts, uint32_t slot, uint32_t off, uint64_t at)
{
    int rc;

    if (c->n_hits == c->cap_hits &&
        (rc = cs_grow((void **)&c->hits, &c->cap_hits, c->n_hits + 1, sizeof(qhit))) < 0)
        return rc;
    c->hits[c->n_hits++] = (qhit){ts, slot, off, at, off};
    return 0;
}

/* Checks the record "h" (at "off", whole: the caller checked its bounds)
 * against the range and filter; 1 if it is kept. */
static int record_matches(qctx *c, const uint8_t *h, const struct bpf_program *prog, int64_t *ts)
{
    uint32_t caplen = cs_rd_le32(h + 8), wirelen = cs_rd_le32(h + 12);

    c->st.candidates++;
    *ts = (int64_t)cs_rd_le32(h) * 1000000000 + cs_rd_le32(h + 4);
    if (*ts < c->q->after || *ts >= c->q->before)
        return 0;
    if (prog != NULL) {
        c->st.bpf_runs++;
        if (bpf_filter(prog->bf_insns, h + CS_PCAP_RECHDR, wirelen, caplen) == 0)
            return 0;
    }
    return 1;
}

/* Keeps record "h" (at "off" of the slot's segment, whole) if it matches:
 * hands it over at once when streaming, else as a hit pointing into the
 * mapping ("mapped") or to a copy in the arena. 1 if the caller stopped. */
static int keep_record(qctx *c, uint32_t slot, uint32_t off, const uint8_t *h,
                       const struct bpf_program *prog, int mapped)
{
    size_t len = CS_PCAP_RECHDR + cs_rd_le32(h + 8);
    int64_t ts;
    int rc;

    if (!record_matches(c, h, prog, &ts))
        return 0;
    if (c->streaming)
        return cs__query_hand_over(c, slot, off, h, ts);
    if (mapped)
        return push_hit(c, ts, slot, off, QHIT_MAPPED);
    if ((rc = cs_grow((void **)&c->arena, &c->arena_cap, c->arena_len + len, 1)) < 0)
        return rc;
    memcpy(c->arena + c->arena_len, h, len);
    rc = push_hit(c, ts, slot, off, c->arena_len);
    c->arena_len += len;
    return rc;
}

/* Reads the record at "off" from the mapped segment and keeps it if it
 * matches. */
static int take_record(qctx *c, uint32_t slot, uint32_t off, const struct bpf_program *prog)
{
    const qmap *m = &c->maps[slot];
    const uint8_t *h;

    if (off < CS_PCAP_FILEHDR || (size_t)off + CS_PCAP_RECHDR > m->size)
        return cs_error_set(CS_ECORRUPT, "segment %" PRIu32 ": bad record offset %" PRIu32, m->id,
                            off);
    h = m->map + off;
    if ((size_t)off + CS_PCAP_RECHDR + cs_rd_le32(h + 8) > m->size)
        return cs_error_set(CS_ECORRUPT, "segment %" PRIu32 ": record at %" PRIu32 " overruns",
                            m->id, off);
    return keep_record(c, slot, off, h, prog, 1);
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
            if ((rc = take_record(c, slot, off, NULL)) != 0)
                return rc;
            off += CS_PCAP_RECHDR + cs_rd_le32(m->map + off + 8);
        }
    }
    return 0;
}

/* Merges the sorted runs of candidates cand[base, ...) (one per key, ends
 * in "ends") pairwise until one is left, through a scratch array:
 * O(n log keys), where sorting them afresh would be O(n log n). */
static int merge_candidates(qctx *c, size_t base, size_t *ends, size_t n_runs)
{
    size_t n = c->n_cand - base;
    uint64_t *tmp = cs_malloc(n * sizeof(uint64_t)), *src = c->cand + base, *dst = tmp;

    if (tmp == NULL)
        return CS_ENOMEM;
    while (n_runs > 1) {
        size_t out = 0, w = 0;
        for (size_t r = 0; r < n_runs; r += 2) {
            size_t a = r ? ends[r - 1] : 0, ae = ends[r];
            size_t b = ae, be = r + 1 < n_runs ? ends[r + 1] : ae;
            while (a < ae && b < be)
                dst[w++] = (uint32_t)src[a] <= (uint32_t)src[b] ? src[a++] : src[b++];
            while (a < ae)
                dst[w++] = src[a++];
            while (b < be)
                dst[w++] = src[b++];
            ends[out++] = w;
        }
        n_runs = out;
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != c->cand + base)
        memcpy(c->cand + base, src, n * sizeof(uint64_t));
    cs_free(tmp);
    return 0;
}

/* Appends to the unit's candidates, in offset order, the postings of every
 * key of "seg" the predicate does not rule out (ends are relative to the
 * segment's first candidate). */
static int gather_candidates(qctx *c, const cs_segment *seg, uint32_t lo, uint64_t hi)
{
    size_t *ends = NULL, n_ends = 0, cap_ends = 0, base = c->n_cand;
    int rc = 0;

    for (uint32_t i = 0; i < seg->idx.n_keys && rc == 0; i++) {
        cs_flowkey k;
        uint32_t count;
        uint64_t first;
        cs_tri t;

        cs_idx_flow(&seg->idx, i, &k, &count, &first);
        t = c->pred ? cs_flowpred_eval(c->pred, &k) : CS_TRI_MAYBE;
        if (t == CS_TRI_FALSE || count == 0)
            continue;
        if (first > seg->idx.n_pkts || count > seg->idx.n_pkts - first) {
            rc = cs_error_set(CS_ECORRUPT, "segment %" PRIu32 ": bad posting range", seg->id);
            break;
        }
        if ((rc = cs_grow((void **)&c->cand, &c->cap_cand, c->n_cand + count, sizeof(uint64_t))) <
                0 ||
            (rc = cs_grow((void **)&ends, &cap_ends, n_ends + 1, sizeof(size_t))) < 0)
            break;
        for (uint64_t p = first; p < first + count; p++) {
            uint32_t off = cs_idx_posting(&seg->idx, p);
            if (off < lo || off >= hi)
                continue;
            if (c->n_cand > base + (n_ends ? ends[n_ends - 1] : 0) &&
                off <= (uint32_t)c->cand[c->n_cand - 1]) {
                rc = cs_error_set(CS_ECORRUPT, "segment %" PRIu32 ": postings out of order",
                                  seg->id);
                break;
            }
            c->cand[c->n_cand++] = off | (t == CS_TRI_MAYBE ? (1ull << 32) : 0);
        }
        ends[n_ends++] = c->n_cand - base;
    }
    if (rc == 0 && n_ends > 1)
        rc = merge_candidates(c, base, ends, n_ends);
    cs_free(ends);
    return rc;
}

/* Reads "len" bytes at "at" of the slot's segment into the read buffer. */
static int read_span(qctx *c, uint32_t slot, uint64_t at, size_t len, size_t *got)
{
    const qmap *m = &c->maps[slot];
    ssize_t n;
    int rc;

    if ((rc = cs_grow((void **)&c->rbuf, &c->rbuf_cap, len, 1)) < 0)
        return rc;
    do
        n = pread(m->fd, c->rbuf, len, (off_t)at);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return cs_error_set(CS_EIO, "read segment %" PRIu32 ": %s", m->id, strerror(errno));
    *got = (size_t)n;
    return 0;
}

/* Candidates c->cand[*i, to) from one read of up to QREAD_CHUNK bytes at
 * the first of them; "*i" moves past those taken. */
static int take_chunk(qctx *c, uint32_t slot, const struct bpf_program *prog, size_t *i, size_t to)
{
    const qmap *m = &c->maps[slot];
    uint64_t start = (uint32_t)c->cand[*i], end = start;
    size_t j = *i, got;
    int rc;

    if (start < CS_PCAP_FILEHDR || start + CS_PCAP_RECHDR > m->size)
        return cs_error_set(CS_ECORRUPT, "segment %" PRIu32 ": bad record offset %" PRIu64, m->id,
                            start);
    for (size_t k = *i; k < to && (uint32_t)c->cand[k] < start + QREAD_CHUNK; k++)
        end = (uint32_t)c->cand[k];
    end = end + QREAD_SLACK < start + QREAD_CHUNK ? end + QREAD_SLACK : start + QREAD_CHUNK;
    if (end > m->size)
        end = m->size;
    if ((rc = read_span(c, slot, start, (size_t)(end - start), &got)) < 0)
        return rc;
    for (; j < to; j++) {
        uint64_t rel = (uint32_t)c->cand[j] - start;
        if (rel + CS_PCAP_RECHDR > got ||
            rel + CS_PCAP_RECHDR + cs_rd_le32(c->rbuf + rel + 8) > got)
            break;
        rc = keep_record(c, slot, (uint32_t)c->cand[j], c->rbuf + rel,
                         (c->cand[j] >> 32) ? prog : NULL, 0);
        if (rc != 0) {
            *i = j + 1;
            return rc;
        }
    }
    if (j == *i) { /* one record longer than the read: read it whole */
        uint32_t caplen = got >= CS_PCAP_RECHDR ? cs_rd_le32(c->rbuf + 8) : UINT32_MAX;
        if (caplen > CS_PCAP_SNAPLEN || start + CS_PCAP_RECHDR + caplen > m->size)
            return cs_error_set(CS_ECORRUPT, "segment %" PRIu32 ": record at %" PRIu64 " overruns",
                                m->id, start);
        if ((rc = read_span(c, slot, start, CS_PCAP_RECHDR + caplen, &got)) < 0)
            return rc;
        if (got != CS_PCAP_RECHDR + caplen)
            return cs_error_set(CS_ECORRUPT, "segment %" PRIu32 " is damaged", m->id);
        rc = keep_record(c, slot, (uint32_t)start, c->rbuf, (c->cand[j] >> 32) ? prog : NULL, 0);
        j++;
        if (rc != 0) {
            *i = j;
            return rc;
        }
    }
    *i = j;
    return 0;
}

/* Takes the sorted candidates cand[from, to) of the segment in "slot":
 * dense ones by large reads (a mapping would fault and miss the TLB on
 * nearly every record), sparse ones, or any past the arena's cap, through
 * a mapping. Non-zero: an error, or 1 if the caller stopped. */
static int take_candidates(qctx *c, uint32_t slot, const struct bpf_program *prog, size_t from,
                           size_t to)
{
    uint64_t span = (uint32_t)c->cand[to - 1] - (uint32_t)c->cand[from];
    size_t i = from;
    int rc = 0;

    if (span / (to - from) <= QDENSE_BYTES)
        while (i < to && c->arena_len < QARENA_CAP && rc == 0)
            rc = take_chunk(c, slot, prog, &i, to);
    if (rc == 0 && i < to)
        rc = cs__query_map_segment(c, slot);
    for (; i < to && rc == 0; i++)
        rc = take_record(c, slot, (uint32_t)c->cand[i], (c->cand[i] >> 32) ? prog : NULL);
    return rc;
}

/* Closes the run of the segment just searched (cs__query_order_unit sorts
 * it). */
static int end_run(qctx *c)
{
    size_t n = c->n_hits - c->run_start;
    int rc;

    if (n == 0)
        return 0;
    if ((rc = cs_grow((void **)&c->runs, &c->cap_runs, 2 * c->n_runs + 2, sizeof(size_t))) < 0)
        return rc;
    c->runs[2 * c->n_runs] = c->run_start;
    c->runs[2 * c->n_runs + 1] = c->n_hits;
    c->n_runs++;
    return 0;
}

/* Adds "seg" to the unit: with a filter, its candidates (a segment
 * without any is left out, never opened); without, the whole segment. */
int cs__query_plan_segment(qctx *c, cs_segment *seg)
{
    size_t from = c->n_cand;
    uint32_t lo = 0;
    uint64_t hi = 0;
    int rc;

    if (c->pred && seg->idx.has_sum && !cs_flowpred_may_match(c->pred, &seg->idx.sum)) {
        c->st.segments_skipped++; /* its summary rules the filter out */
        return 0;
    }
    if ((rc = cs__seg_verify(c->s, seg)) < 0)
        return rc == CS_ENOTFOUND ? 0 : rc; /* deleted meanwhile: nothing to answer */
    if (!c->all) {
        time_window(c, seg, &lo, &hi);
        rc = gather_candidates(c, seg, lo, hi);
        cs_idx_release(&seg->idx); /* the candidates are all it was needed for */
        if (rc < 0 || c->n_cand == from)
            return rc;
    }
    if ((rc = cs_grow((void **)&c->useg, &c->cap_useg, c->n_useg + 1, sizeof(quseg))) < 0)
        return rc;
    c->useg[c->n_useg++] = (quseg){seg, from, c->n_cand, QUSEG_ALONE};
    return 0;
}

/* Reads the records of unit segment "u" as a run of hits, or straight to
 * the caller when streaming. Non-zero: an error, or 1 if the caller
 * stopped. */
int cs__query_read_segment(qctx *c, const quseg *u)
{
    const struct bpf_program *prog = NULL;
    int by_ties = u->ord >= 0 && c->ords[u->ord].rec.in_time_order;
    uint32_t slot;
    int rc;

    if (!c->all && (rc = compile_bpf(c, u->seg->idx.linktype, &prog)) < 0)
        return rc;
    if (!c->all && prog == NULL) /* the filter means nothing on its link type */
        return 0;
    if ((rc = open_segment(c, u->seg, &slot)) != 0)
        return rc > 0 ? 0 : rc;
    c->st.segments_searched++;
    c->run_start = c->n_hits;
    if (c->all) {
        if ((rc = cs__seg_verify(c->s, u->seg)) == 0 && (rc = cs__query_map_segment(c, slot)) == 0)
            rc = scan_all(c, u->seg, slot);
    } else {
        if ((rc = cs_grow((void **)&c->hits, &c->cap_hits, c->n_hits + (u->to - u->from),
                          sizeof(qhit))) < 0)
            return rc;
        rc = take_candidates(c, slot, prog, u->from, u->to);
        if (rc == 0 && u->ord >= 0)
            rc = cs__seg_verify(c->s, u->seg); /* its blocks, for the ranks */
    }
    if (rc == 0 && u->ord >= 0 && !by_ties)
        rc = cs__query_run_ranks(c, u->seg, slot, c->run_start, c->n_hits, 0);
    c->maps[slot].by_ts = by_ties || u->ord == QUSEG_BY_TIME;
    for (size_t i = c->run_start; rc == 0 && c->maps[slot].by_ts && i < c->n_hits; i++)
        c->hits[i].seq = 0;
    if (!by_ties || rc != 0 || c->n_hits == c->run_start)
        cs_idx_release(&u->seg->idx); /* else cs__query_order_unit needs its blocks */
    if (rc == CS_ENOTFOUND)
        rc = 0;
    return rc != 0 ? rc : end_run(c);
}

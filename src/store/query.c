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
 *   3. A segment whose key summary (index.h: Bloom filters of its hosts and
 *      ports) shows that none of its keys can match is skipped unread.
 *      In the others, every flow key is evaluated: FALSE keys are skipped,
 *      TRUE keys' packets are taken as they are, MAYBE keys' packets are
 *      checked with the BPF program. The time range narrows each key's
 *      postings to the byte window of the time blocks that overlap it.
 *      With no filter, the time blocks are walked directly.
 *   4. Every candidate record is read (bounds checked), its timestamp
 *      checked against the range, and kept. Candidates close together -
 *      the usual case, as a flow's packets share a partition - are read
 *      with large pread() calls and the kept records copied out; sparse
 *      ones are read through a mapping of the segment.
 *   5. Each segment's results form a run in file order, which is the
 *      capture order of its conversations. The runs are merged as they are
 *      handed to the caller into the capture order of the whole group
 *      (store.h): the P segments of a group cover the same stretch of
 *      time, so a plain concatenation would not do, and timestamps cannot
 *      say which of two packets of one instant came first (ties are common
 *      at microsecond resolution) nor follow a capture whose clock went
 *      back. So when more than one segment of a group has results, the
 *      group's capture-order record (order.h) places them: a result's rank
 *      in its segment (index blocks, then the records between) becomes
 *      its position in the record, in one pass over it, and the runs are
 *      merged by position. In a closed group whose clock never went back
 *      (the record says so) capture order is timestamp order but for
 *      ties, so the runs are merged by timestamp and only results sharing
 *      their timestamp with another segment's (found by a merge of the
 *      runs) are ranked and placed; ranking costs a walk over the records
 *      around them, which for every result of a sparse query would cost
 *      more than the query. A query whose results sit in one segment of a
 *      group (a one-flow query) never reads the record: file order is the
 *      answer. Results past the record's end (a live group, a crash), and
 *      groups without a record (a store written before records existed),
 *      are merged by timestamp (ties: group, segment, offset), as are
 *      different groups with one another (two ingests into one store).
 *   6. Segments are searched in order of their group's first timestamp,
 *      in units of whole groups whose time spans overlap (normally one
 *      group), and each unit is merged and handed over before the next is
 *      searched: memory holds one unit's results (their copies up to
 *      QARENA_CAP bytes, past which records stay in the mapping).
 *   7. cs_store_query_pcap copies each record handed over into 1 MiB
 *      buffers that a writer thread writes to the output (qout below), so
 *      writing the result overlaps reading it.
 * So the cost is the packets returned plus the keys of the segments that
 * overlap the range, not the size of the store.
 *
 * A unit's segments are opened and flocked shared until it is handed
 * over, so retention cannot delete one under a reader.
 */
#include "store/store_int.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/heap.h"
#include "core/log.h"
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

/* A record the query returns: copied into the arena (at), or read from its
 * segment's mapping (at == QHIT_MAPPED). */
typedef struct qhit {
    int64_t ts;
    uint32_t seg; /* index into the unit's segment table */
    uint32_t off; /* record offset in its segment */
    uint64_t at;
    uint64_t seq; /* its place in its group (cmp_hit, order_unit) */
} qhit;

#define QHIT_MAPPED UINT64_MAX
#define QUSEG_ALONE (-1)           /* the only segment of its group in the unit: file order */
#define QUSEG_BY_TIME (-2)         /* its group has no capture-order record: by timestamp */
#define QSEQ_TIED (UINT64_MAX - 1) /* shares its timestamp with another segment's hit */
#define QREAD_CHUNK (1u << 20)     /* pread size for dense candidates */
#define QREAD_SLACK 4096u          /* read past the last candidate for its body */
#define QDENSE_BYTES 8192u         /* at most this many bytes per candidate: dense */
#define QARENA_CAP (256ull << 20)  /* past this, a unit's records are mapped */

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

/* The pcap output of cs_store_query_pcap. Records are copied into buffers
 * that a writer thread (core/aio.h) writes while the query reads on: the
 * write into the output's page cache, as long as the reads on this virtual
 * machine (longer when the host must back those pages anew), runs on the
 * other core instead of after them. Records are in the output's form
 * already (segments are nanosecond pcap, little-endian). */
#define QOUT_BUFS 8
#define QOUT_BUF (1u << 20) /* above any record: CS_PCAP_SNAPLEN + header */

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

/* pcap files carry LINKTYPE_ values; libpcap's dead handles take DLT_ ones.
 * They coincide except where historic DLT numbers differ between systems:
 * LINKTYPE_RAW (101) is this platform's DLT_RAW. */
static int linktype_to_dlt(uint32_t linktype)
{
    return linktype == CS_LINK_RAW ? DLT_RAW : (int)linktype;
}

/* The filter compiled for "linktype", once per query: "*out" is NULL when
 * libpcap refuses it on that link type ("type mgt" on Ethernet), whose
 * packets then cannot match; the refusal's text is kept for check_filter. */
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
static int check_filter(qctx *c)
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

static int map_segment(qctx *c, uint32_t slot)
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

/* Hands the buffer being filled to the writer thread and takes another;
 * stops at the first failed write (a closed pipe, a full disk). */
static int out_submit(qout *o)
{
    if (o->used > 0) {
        cs_aio_submit(o->aio, o->fd, o->buf, o->used);
        o->buf = cs_aio_get(o->aio);
        o->used = 0;
    }
    if (cs_aio_failed(o->aio) && o->rc == 0)
        o->rc = cs_aio_sync(o->aio);
    return o->rc;
}

static int out_bytes(qout *o, const uint8_t *p, size_t len)
{
    if (o->used + len > QOUT_BUF && out_submit(o) < 0)
        return o->rc;
    memcpy(o->buf + o->used, p, len);
    o->used += len;
    return 0;
}

/* Starts the output: its writer thread and the file header. */
static int out_start(qout *o, uint32_t linktype)
{
    uint8_t hdr[CS_PCAP_FILEHDR];

    o->linktype = linktype;
    if ((o->rc = cs_aio_new(QOUT_BUFS, QOUT_BUF, &o->aio)) < 0)
        return o->rc;
    o->buf = cs_aio_get(o->aio);
    cs_pcap_file_header(hdr, linktype, CS_PCAP_SNAPLEN);
    return out_bytes(o, hdr, sizeof(hdr));
}

/* The host capture time of record "off" of "m", or 0 (none kept). */
static int64_t record_captime(const qmap *m, uint32_t off)
{
    size_t lo = 0, hi = m->n_caps;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->caps[mid].offset < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->n_caps && m->caps[lo].offset == off ? m->caps[lo].cap_ns : 0;
}

/* Record "h" of "m" with its header's time set to the host's capture time,
 * in "buf" (which holds the header only); "h" itself when there is none. */
static const uint8_t *with_captime(cs_store *s, qmap *m, uint32_t off, const uint8_t *h,
                                   uint8_t *buf)
{
    int64_t cap;

    if (!m->caps_loaded) {
        m->caps_loaded = 1;
        if (cs__seg_captimes(s, m->id, &m->caps, &m->n_caps) < 0)
            cs_error_clear(); /* unreadable: the reference time stays */
    }
    if ((cap = record_captime(m, off)) == 0)
        return h;
    memcpy(buf, h, CS_PCAP_RECHDR);
    cs_wr_le32(buf, (uint32_t)(cap / 1000000000));
    cs_wr_le32(buf + 4, (uint32_t)(cap % 1000000000));
    return buf;
}

/* Adds record "h" (header and data) of a segment of "linktype" to the
 * output; non-zero to stop (an error in o->rc). With "hdr" (not NULL) the
 * record's header is that instead. */
static int out_record(qout *o, const uint8_t *h, uint32_t linktype, const uint8_t *hdr)
{
    o->count++;
    if (o->fd < 0)
        return 0;
    if (o->aio == NULL && out_start(o, linktype) < 0)
        return 1;
    if (linktype != o->linktype)
        o->rc = cs_error_set(CS_EUNSUPPORTED,
                             "the result mixes link types %u and %u, which one pcap file cannot "
                             "hold; narrow the query (for example by time)",
                             o->linktype, linktype);
    if (o->rc == 0 && hdr != NULL && hdr != h) {
        out_bytes(o, hdr, CS_PCAP_RECHDR);
        out_bytes(o, h + CS_PCAP_RECHDR, cs_rd_le32(h + 8));
    } else if (o->rc == 0) {
        out_bytes(o, h, CS_PCAP_RECHDR + cs_rd_le32(h + 8));
    }
    return o->rc != 0;
}

/* Writes what is left and stops the writer thread; the first error. */
static int out_finish(qout *o)
{
    uint8_t hdr[CS_PCAP_FILEHDR];
    int rc;

    if (o->aio == NULL) {
        if (o->fd < 0 || o->rc < 0)
            return o->rc;
        /* nothing matched: an empty capture, of the store's link type */
        cs_pcap_file_header(hdr, o->linktype, CS_PCAP_SNAPLEN);
        return cs_write_all(o->fd, hdr, sizeof(hdr));
    }
    if (o->rc == 0 && o->used > 0)
        cs_aio_submit(o->aio, o->fd, o->buf, o->used);
    else
        cs_aio_put(o->aio, o->buf);
    rc = cs_aio_free(o->aio);
    o->aio = NULL;
    return o->rc < 0 ? o->rc : rc;
}

/* Hands record "h" (at "off" of the slot's segment) to "fn"; 1 if the
 * caller asked to stop. */
static int hand_over(qctx *c, uint32_t slot, uint32_t off, const uint8_t *h, int64_t ts)
{
    qmap *m = &c->maps[slot];
    uint8_t hdr[CS_PCAP_RECHDR];
    cs_packet p;

    c->st.matched++;
    if (c->out) { /* the record as it is: the output's form */
        const uint8_t *with =
            c->q->pcap_time == CS_PCAP_TIME_CAPTURE ? with_captime(c->s, m, off, h, hdr) : NULL;
        if (out_record(c->out, h, m->linktype, with) != 0)
            c->stopped = 1;
        return c->stopped;
    }
    p = (cs_packet){.ts_ns = ts,
                    .caplen = cs_rd_le32(h + 8),
                    .wirelen = cs_rd_le32(h + 12),
                    .linktype = (uint16_t)m->linktype,
                    .data = h + CS_PCAP_RECHDR};
    if (c->fn(c->ud, &p, CS_PKTREF(m->id, off)) != 0)
        c->stopped = 1;
    return c->stopped;
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
        return hand_over(c, slot, off, h, ts);
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
        rc = map_segment(c, slot);
    for (; i < to && rc == 0; i++)
        rc = take_record(c, slot, (uint32_t)c->cand[i], (c->cand[i] >> 32) ? prog : NULL);
    return rc;
}

/* The order hits are handed over in (order_unit sets seq): within a
 * group, capture order, which is seq for segments placed by position
 * alone, and timestamp then seq for those placed by timestamp first
 * (their seq tells ties apart); between groups, or where those do not
 * tell, timestamp, then group, segment and offset. */
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

/* Closes the run of the segment just searched (order_unit sorts it). */
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
static int plan_segment(qctx *c, cs_segment *seg)
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

/* Puts in each hit of hits[from, to) (one segment's, ascending offsets),
 * or with "only_tied" in those marked QSEQ_TIED, its rank in its segment
 * (0: the first record), from the index's blocks: the rank where a hit's
 * block starts, plus the records between the block's first and the hit,
 * counted along the mapping. A hit off the record chain (a damaged
 * segment) gets no rank, so it is not put in capture order. */
static int run_ranks(qctx *c, const cs_segment *seg, uint32_t slot, size_t from, size_t to,
                     int only_tied)
{
    const qmap *m;
    cs_idx_block b, nb;
    uint64_t rank = 0, block_rank = 0, at;
    uint32_t blk = 0;
    int rc;

    if (seg->idx.n_blocks == 0)
        return 0;
    if ((rc = map_segment(c, slot)) < 0)
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

/* Reads the records of unit segment "u" as a run of hits, or straight to
 * the caller when streaming. Non-zero: an error, or 1 if the caller
 * stopped. */
static int read_segment(qctx *c, const quseg *u)
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
        if ((rc = cs__seg_verify(c->s, u->seg)) == 0 && (rc = map_segment(c, slot)) == 0)
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
        rc = run_ranks(c, u->seg, slot, c->run_start, c->n_hits, 0);
    c->maps[slot].by_ts = by_ties || u->ord == QUSEG_BY_TIME;
    for (size_t i = c->run_start; rc == 0 && c->maps[slot].by_ts && i < c->n_hits; i++)
        c->hits[i].seq = 0;
    if (!by_ties || rc != 0 || c->n_hits == c->run_start)
        cs_idx_release(&u->seg->idx); /* else order_unit needs its blocks */
    if (rc == CS_ENOTFOUND)
        rc = 0;
    return rc != 0 ? rc : end_run(c);
}

/* Decides how each unit segment's hits are ordered within its group: a
 * group with one segment in the unit keeps file order (its hits' seq is
 * their offset), one with more is put in capture order by its record,
 * read here, or merged by timestamp if it has none (a store written
 * before records existed) or a damaged one. A group's segments are
 * adjacent in the unit (segments_by_start). */
static int plan_orders(qctx *c)
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
 * capture positions: their ranks (run_ranks, which stores rank + 1 here
 * so that 0 stays "not tied"), gathered per partition, become positions
 * in one pass over the record "rec". Unmarked hits keep seq 0: their
 * timestamp alone places them. */
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
            rc = run_ranks(c, seg, slot, from, to, 1);
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
 * share their timestamp with another segment's (placed by
 * timestamp first, seq 0 or that position), else for every hit (by
 * position alone: seq the rank run_ranks left, made a position here in
 * one pass). "rs" has
 * room for every run. */
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
static int order_unit(qctx *c)
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

    return hand_over(c, h->seg, h->off, r, h->ts);
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
static int deliver(qctx *c)
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
        rc = read_segment(c, &c->useg[0]);
        c->streaming = 0;
    } else {
        rc = plan_orders(c);
        for (size_t i = 0; i < c->n_useg && rc == 0; i++)
            rc = read_segment(c, &c->useg[i]);
        if (rc == 0)
            rc = order_unit(c);
        if (rc == 0)
            rc = deliver(c);
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
            rc = plan_segment(c, seg);
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
        if ((rc = check_filter(&c)) < 0)
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
    rc2 = out_finish(o);
    if (rc == 0)
        rc = rc2;
    *count = o->count;
    cs_free(o);
    return rc;
}

/* ---- single packet by ref --------------------------------------------- */

/* The tap of record "off" of segment "id", from its tap runs, and its host
 * capture time when the store keeps one. */
static int read_side(cs_store *s, uint32_t id, uint32_t off, cs_packet *p)
{
    cs_tap_run *runs;
    cs_captime *caps = NULL;
    size_t n, n_caps = 0;
    int rc = cs__seg_taps(s, id, &runs, &n);

    for (size_t i = 0; rc == 0 && i < n && runs[i].offset <= off; i++)
        p->tap = runs[i].tap;
    if (rc == 0)
        rc = cs__seg_captimes(s, id, &caps, &n_caps);
    for (size_t i = 0; rc == 0 && i < n_caps && caps[i].offset <= off; i++)
        if (caps[i].offset == off)
            p->cap_ns = caps[i].cap_ns;
    cs_free(runs);
    cs_free(caps);
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
    p->tref = 0;
    p->cap_ns = 0;
    p->data = h + CS_PCAP_RECHDR;
    return read_side(s, id, off, p);
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

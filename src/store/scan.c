/*
 * scan.c - every stored packet of a range of segments, in store order, for
 * analysing stored packets again (reanalyze).
 *
 * The P segments of a group (store.h) were written side by side, each in
 * capture order. The group's capture-order record (order.h) says which
 * segment each next packet comes from, so a group is replayed in the
 * order the tap saw its packets, ties and timestamps that go backwards
 * included. Past the record's end (a live group, a crash) or without one
 * (a store of one partition needs none; stores written before it existed
 * have none), the rest is merged by timestamp (ties: the lower segment):
 * every segment keeps its own order, which is each conversation's capture
 * order. Groups follow one another in id order. Each segment is
 * mapped and flocked shared while its group is read, so retention cannot
 * delete it meanwhile; tap ids come from its run-length taps file.
 */
#include "store/store_int.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/heap.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

/* One segment being scanned: its mapping, tap runs, host capture times
 * and next record. */
typedef struct sstream {
    uint32_t id, linktype;
    int fd;
    const uint8_t *map;
    size_t size;
    cs_tap_run *taps;
    size_t n_taps, t;
    cs_captime *caps; /* host capture times, by record offset */
    size_t n_caps, c;
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
    if ((rc = cs__seg_taps(s, seg->id, &st->taps, &st->n_taps)) < 0 ||
        (rc = cs__seg_captimes(s, seg->id, &st->caps, &st->n_caps)) < 0)
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
    cs_free(st->caps);
}

/* Hands the next record of "st" to "fn" and steps past it. */
static int stream_emit(sstream *st, cs_query_fn fn, void *ud, int *stop)
{
    const uint8_t *h = st->map + st->off;
    cs_packet p = {0};

    while (st->t + 1 < st->n_taps && st->taps[st->t + 1].offset <= st->off)
        st->t++;
    while (st->c < st->n_caps && st->caps[st->c].offset < st->off)
        st->c++;
    p.ts_ns = st->ts;
    p.caplen = cs_rd_le32(h + 8);
    p.wirelen = cs_rd_le32(h + 12);
    p.linktype = (uint16_t)st->linktype;
    p.tap = st->n_taps ? st->taps[st->t].tap : 0;
    p.data = h + CS_PCAP_RECHDR;
    if (st->c < st->n_caps && st->caps[st->c].offset == st->off)
        p.cap_ns = st->caps[st->c].cap_ns;
    *stop = fn(ud, &p, CS_PKTREF(st->id, st->off)) != 0;
    st->off += CS_PCAP_RECHDR + p.caplen;
    return --st->left > 0 ? stream_peek(st) : 0;
}

/* Is stream "a"'s next record before stream "b"'s (ties: the lower
 * segment, which comes first in the array)? */
static int stream_before(const void *ctx, size_t a, size_t b)
{
    const sstream *sts = ctx;

    return sts[a].ts < sts[b].ts || (sts[a].ts == sts[b].ts && a < b);
}

/* Hands over the records of the open streams merged by timestamp: a heap
 * of the streams keyed by their next record. */
static int merge_streams(sstream *sts, size_t used, cs_query_fn fn, void *ud, int *stop)
{
    size_t *heap = cs_malloc((used ? used : 1) * sizeof(size_t));
    size_t n = 0;
    int rc = 0;

    if (heap == NULL)
        return CS_ENOMEM;
    for (size_t i = 0; i < used; i++)
        if (sts[i].left > 0)
            heap[n++] = i;
    cs_heap_make(heap, n, stream_before, sts);
    while (n > 0 && rc == 0 && !*stop) {
        sstream *st = &sts[heap[0]];
        rc = stream_emit(st, fn, ud, stop);
        if (st->left == 0)
            heap[0] = heap[--n];
        cs_heap_down(heap, n, 0, stream_before, sts);
    }
    cs_free(heap);
    return rc;
}

/* Hands over the group's records in the order its capture-order record
 * "o" gives: entry i names the partition whose next record comes next.
 * Entries naming a partition not scanned, or a record past the end of its
 * segment (a live group, a crash), are skipped. "stream_of"[p] is the
 * stream of partition p, or -1. */
static int replay_order(const cs_order *o, sstream *sts, const int *stream_of, cs_query_fn fn,
                        void *ud, int *stop)
{
    int rc = 0;

    for (uint64_t i = 0; i < o->n && rc == 0 && !*stop; i++) {
        uint32_t p = cs_order_get(o, i);
        if (p >= o->partitions || stream_of[p] < 0 || sts[stream_of[p]].left == 0)
            continue;
        rc = stream_emit(&sts[stream_of[p]], fn, ud, stop);
    }
    return rc;
}

/* Replays the group's capture-order record over its open streams, if it
 * has one (a store of one partition, or one written before the record
 * existed, has none; a damaged one is ignored with a warning). */
static int scan_in_capture_order(cs_store *s, uint32_t group, sstream *sts, size_t used,
                                 cs_query_fn fn, void *ud, int *stop)
{
    cs_order o;
    int *stream_of;
    int rc;

    if (s->partitions <= 1 || used < 2)
        return 0;
    if ((rc = cs_order_read(s->pktdir, group, s->partitions, &o)) < 0) {
        if (rc != CS_ENOTFOUND)
            cs_log_warn("%s: merging group %" PRIu32 " by timestamp", cs_error_msg(rc), group);
        cs_error_clear();
        return 0;
    }
    stream_of = cs_malloc(s->partitions * sizeof(int));
    if (stream_of == NULL) {
        cs_order_free(&o);
        return CS_ENOMEM;
    }
    for (uint32_t p = 0; p < s->partitions; p++)
        stream_of[p] = -1;
    for (size_t i = 0; i < used; i++)
        if (sts[i].id - group < s->partitions)
            stream_of[sts[i].id - group] = (int)i;
    rc = replay_order(&o, sts, stream_of, fn, ud, stop);
    cs_free(stream_of);
    cs_order_free(&o);
    return rc;
}

/* Scans the segments segs[0..n) of one group: in capture order as far as
 * its capture-order record reaches, then (or without one) merged by
 * timestamp; each segment keeps its own (capture) order either way. */
static int scan_group(cs_store *s, cs_segment *segs, size_t n, cs_query_fn fn, void *ud)
{
    sstream *sts = cs_calloc(n, sizeof(sstream));
    uint32_t group = cs_store_group_of(segs[0].id, s->partitions);
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
    if (rc == 0)
        rc = scan_in_capture_order(s, group, sts, used, fn, ud, &stop);
    if (rc == 0 && !stop)
        rc = merge_streams(sts, used, fn, ud, &stop);
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

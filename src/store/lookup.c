/*
 * lookup.c - the store's reads that need no search: the packet at a ref
 * (cs_store_read), with its tap and host capture time, and the ids of the
 * segments that hold a time range (cs_store_segments_in_range), widened
 * to whole groups.
 *
 * A ref names a segment and the offset of a record in it (CS_PKTREF). The
 * record is read through the store's one segment mapping (cs__seg_map,
 * which replaces the previous one), so "p->data" stays valid until the
 * next read or query on the store (store.h). A segment retention deleted,
 * or an offset before the first record or past the end, is CS_ENOTFOUND;
 * a record that runs past the end is CS_ECORRUPT. The tap and capture
 * time come from the segment's taps file (segwriter.c), read for each
 * packet.
 */
#include "store/store_int.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"

#include <inttypes.h>

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

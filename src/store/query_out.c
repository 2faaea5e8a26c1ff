/*
 * query_out.c - a record of the query handed over: to the caller's
 * function as a packet and its ref, or to the pcap output of
 * cs_store_query_pcap, whose records carry the host's capture time when
 * the query asks for it (CS_PCAP_TIME_CAPTURE) and the store keeps one.
 *
 * cs_store_query_pcap copies each record handed over into 1 MiB buffers
 * that a writer thread writes to the output (qout, query_int.h), so
 * writing the result overlaps reading it.
 */
#include "store/query_int.h"

#include "core/cursor.h"
#include "core/error.h"

#include <string.h>

/* Records are copied into buffers that a writer thread (core/aio.h)
 * writes while the query reads on: the write into the output's page cache,
 * which can cost as much as the reads (more when the kernel must allocate
 * those pages anew), runs on another core instead of after them.
 * Records are in the output's form already (segments are nanosecond pcap,
 * little-endian). */
#define QOUT_BUFS 8
#define QOUT_BUF (1u << 20) /* above any record: CS_PCAP_SNAPLEN + header */

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
int cs__query_out_finish(qout *o)
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
int cs__query_hand_over(qctx *c, uint32_t slot, uint32_t off, const uint8_t *h, int64_t ts)
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

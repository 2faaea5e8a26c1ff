/*
 * pcapw.c - buffered nanosecond pcap writer (format in pcapw.h).
 *
 * Records are appended to a user-space buffer; when the next record would
 * not fit, the buffer is written with one write(). A record larger than the
 * buffer is written directly after a flush. All integers are written
 * little-endian with explicit byte stores.
 */
#include "store/pcapw.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int cs_pcapw_flush(cs_pcapw *w)
{
    int rc;

    if (w->used == 0)
        return 0;
    if (w->aio != NULL) {
        cs_aio_submit(w->aio, w->fd, w->buf, w->used);
        w->buf = cs_aio_get(w->aio);
        w->used = 0;
        return 0;
    }
    rc = cs_write_all(w->fd, w->buf, w->used);
    w->used = 0;
    return rc;
}

static int pcapw_append(cs_pcapw *w, const void *data, size_t len)
{
    int rc;

    if (w->used + len > w->cap) {
        rc = cs_pcapw_flush(w);
        if (rc < 0)
            return rc;
        if (len > w->cap) {
            w->offset += len;
            if (w->aio != NULL && (rc = cs_aio_sync(w->aio)) < 0)
                return rc;
            return cs_write_all(w->fd, data, len);
        }
    }
    memcpy(w->buf + w->used, data, len);
    w->used += len;
    w->offset += len;
    return 0;
}

void cs_pcap_file_header(uint8_t *hdr, uint32_t linktype, uint32_t snaplen)
{
    cs_wr_le32(hdr, CS_PCAP_MAGIC_NS);
    cs_wr_le16(hdr + 4, 2);
    cs_wr_le16(hdr + 6, 4);
    cs_wr_le32(hdr + 8, 0);
    cs_wr_le32(hdr + 12, 0);
    cs_wr_le32(hdr + 16, snaplen);
    cs_wr_le32(hdr + 20, linktype);
}

static int pcapw_header(cs_pcapw *w, uint32_t linktype, uint32_t snaplen)
{
    uint8_t hdr[CS_PCAP_FILEHDR];

    cs_pcap_file_header(hdr, linktype, snaplen);
    return pcapw_append(w, hdr, sizeof(hdr));
}

int cs_pcapw_init(cs_pcapw *w, int fd, int own_fd, uint32_t linktype, uint32_t snaplen,
                  size_t bufsize)
{
    memset(w, 0, sizeof(*w));
    w->fd = fd;
    w->own_fd = own_fd;
    w->cap = bufsize < 65536 ? 65536 : bufsize;
    w->buf = cs_malloc(w->cap);
    if (w->buf == NULL)
        return CS_ENOMEM;
    return pcapw_header(w, linktype, snaplen);
}

int cs_pcapw_init_aio(cs_pcapw *w, int fd, cs_aio *aio, uint32_t linktype, uint32_t snaplen)
{
    memset(w, 0, sizeof(*w));
    w->fd = fd;
    w->aio = aio;
    w->cap = cs_aio_bufsize(aio);
    w->buf = cs_aio_get(aio);
    return pcapw_header(w, linktype, snaplen);
}

static void pcap_rechdr(uint8_t *h, const cs_packet *p)
{
    int64_t sec = p->ts_ns / 1000000000;
    int64_t nsec = p->ts_ns % 1000000000;

    if (nsec < 0) {
        nsec += 1000000000;
        sec -= 1;
    }
    cs_wr_le32(h, (uint32_t)sec);
    cs_wr_le32(h + 4, (uint32_t)nsec);
    cs_wr_le32(h + 8, p->caplen);
    cs_wr_le32(h + 12, p->wirelen);
}

/* Hands the buffer to the background writer if a fresh one is free now. */
static int pcapw_swap_nowait(cs_pcapw *w)
{
    uint8_t *fresh = cs_aio_try_get(w->aio);

    if (fresh == NULL)
        return CS_EBUSY;
    cs_aio_submit(w->aio, w->fd, w->buf, w->used);
    w->buf = fresh;
    w->used = 0;
    return 0;
}

/* Lossy mode: makes room for "need" bytes without waiting, or says CS_EBUSY. */
static int pcapw_room_nowait(cs_pcapw *w, size_t need)
{
    if (w->used + need <= w->cap)
        return 0;
    return need > w->cap ? CS_EBUSY : pcapw_swap_nowait(w);
}

int cs_pcapw_flush_nowait(cs_pcapw *w)
{
    if (w->aio == NULL)
        return cs_pcapw_flush(w);
    return w->used == 0 ? 0 : pcapw_swap_nowait(w);
}

int cs_pcapw_put(cs_pcapw *w, const cs_packet *p, uint64_t *offset)
{
    uint8_t h[CS_PCAP_RECHDR];
    int rc;

    if (w->nonblock && w->aio != NULL && (rc = pcapw_room_nowait(w, sizeof(h) + p->caplen)) < 0)
        return rc;

    if (offset)
        *offset = w->offset;
    pcap_rechdr(h, p);
    if (w->used + sizeof(h) + p->caplen <= w->cap) {
        memcpy(w->buf + w->used, h, sizeof(h));
        memcpy(w->buf + w->used + sizeof(h), p->data, p->caplen);
        w->used += sizeof(h) + p->caplen;
        w->offset += sizeof(h) + p->caplen;
        return 0;
    }
    rc = pcapw_append(w, h, sizeof(h));
    if (rc == 0)
        rc = pcapw_append(w, p->data, p->caplen);
    return rc;
}

int cs_pcapw_put_raw(cs_pcapw *w, const uint8_t *rec, size_t len)
{
    return pcapw_append(w, rec, len);
}

int cs_pcapw_close(cs_pcapw *w)
{
    int rc = 0;

    if (w->aio != NULL) {
        if (w->used > 0)
            cs_aio_submit(w->aio, w->fd, w->buf, w->used);
        else if (w->buf != NULL)
            cs_aio_put(w->aio, w->buf);
        rc = cs_aio_sync(w->aio); /* the fd may be closed or synced next */
    } else {
        if (w->buf != NULL)
            rc = cs_pcapw_flush(w);
        cs_free(w->buf);
    }
    w->buf = NULL;
    w->used = 0;
    if (w->own_fd && w->fd >= 0 && close(w->fd) < 0 && rc == 0)
        rc = cs_error_set(CS_EIO, "close failed: %s", strerror(errno));
    w->fd = -1;
    return rc;
}

void cs_pcapw_close_nowait(cs_pcapw *w)
{
    if (w->used > 0)
        cs_aio_submit(w->aio, w->fd, w->buf, w->used);
    else if (w->buf != NULL)
        cs_aio_put(w->aio, w->buf);
    if (w->fd >= 0)
        cs_aio_submit_close(w->aio, w->fd);
    w->buf = NULL;
    w->used = 0;
    w->fd = -1;
}

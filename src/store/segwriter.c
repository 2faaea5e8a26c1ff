/*
 * segwriter.c - appending packets to the store's open segment.
 *
 * A segment is opened lazily by the first append, named by the next
 * segment id (persisted in packets/next-id before the file is created, so
 * an id is never reused even if its segment is later deleted), and written
 * through large buffers that a background thread writes (cs_pcapw over
 * core/aio.h), so the disk's write() time runs beside the packet path. Every packet is dissected by
 * the caller; its flow key and record offset go to the in-memory index builder.
 *
 * A segment closes when the next record would pass segment_bytes, when the
 * link type changes (a pcap file has one link type), or when the store is
 * closed. Closing hands the last buffer and the close of the file to the
 * writer thread (with CS_STORE_SYNC it waits and syncs instead), writes the
 * index atomically and runs retention. The index may so appear a moment
 * before the last bytes: a reader then sees a length mismatch and indexes
 * the segment from its packets, and a crash then leaves a mismatch that
 * repair fixes, exactly as for a torn segment.
 *
 * With CS_STORE_CHECKPOINT (the daemon, whose API reads the store while it
 * writes), every CS_STORE_CHECKPOINT_BYTES handed to the writer thread the
 * open segment's index is written for the records handed so far (same name,
 * atomically, whole blocks): a reader of the live store then indexes only
 * what follows (store.c). The final index replaces it at close.
 *
 * Tap ids are not part of pcap records, so a run-length file seg-N.taps
 * gets a (record offset, tap) entry whenever the tap changes; it is written
 * before the records it describes reach the pcap, so a rebuilt index always
 * finds the right tap.
 */
#include "store/store_int.h"

#include "core/cursor.h"
#include "core/error.h"
#include "core/log.h"
#include "store/flowkey.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WRITE_BUFFER (4u << 20)
#define WRITE_BUFFERS 4 /* 16 MiB in flight to the disk at most */

int cs__seg_close_writer(cs_store *s);

static int write_next_id(cs_store *s, uint32_t next)
{
    char path[4096], tmp[4200], text[32];
    int fd, n, rc;

    snprintf(path, sizeof(path), "%s/next-id", s->pktdir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    n = snprintf(text, sizeof(text), "%" PRIu32 "\n", next);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return cs_error_set(cs_error_from_errno(errno), "%s: %s", tmp, strerror(errno));
    rc = cs_write_all(fd, text, (size_t)n);
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = cs_error_set(CS_EIO, "%s: %s", path, strerror(errno));
    return rc;
}

static int seg_open_writer(cs_store *s, uint32_t linktype)
{
    char path[4096];
    int rc;

    if ((rc = write_next_id(s, s->next_id + 1)) < 0)
        return rc;
    s->wr_id = s->next_id++;
    cs__seg_path(s, s->wr_id, "pcap", path, sizeof(path));
    s->wr_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (s->wr_fd < 0)
        return cs_error_set(cs_error_from_errno(errno), "cannot create segment %s: %s", path,
                            strerror(errno));
    if (s->aio == NULL && (rc = cs_aio_new(WRITE_BUFFERS, WRITE_BUFFER, &s->aio)) < 0)
        return rc;
    if ((rc = cs_pcapw_init_aio(&s->wr, s->wr_fd, s->aio, linktype, CS_PCAP_SNAPLEN)) < 0)
        return rc;
    s->wr.nonblock = (s->flags & CS_STORE_LOSSY) != 0;
    cs_idxb_reset(&s->wb);
    s->wr_linktype = linktype;
    s->wr_ckpt = 0;
    s->wr_tap = 0;
    s->wr_taps_fd = -1;
    s->wr_open = 1;
    return 0;
}

/* Records that records from "offset" on come from "tap". */
static int seg_note_tap(cs_store *s, uint16_t tap, uint64_t offset)
{
    char path[4096];
    uint8_t rec[8];

    if (s->wr_taps_fd < 0) {
        if (tap == 0)
            return 0; /* no file means every record is tap 0 */
        cs__seg_path(s, s->wr_id, "taps", path, sizeof(path));
        s->wr_taps_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (s->wr_taps_fd < 0)
            return cs_error_set(CS_EIO, "%s: %s", path, strerror(errno));
        if (offset > CS_PCAP_FILEHDR) {
            memset(rec, 0, sizeof(rec));
            cs_wr_le32(rec, CS_PCAP_FILEHDR);
            if (cs_write_all(s->wr_taps_fd, rec, sizeof(rec)) < 0)
                return CS_EIO;
        }
    }
    memset(rec, 0, sizeof(rec));
    cs_wr_le32(rec, (uint32_t)offset);
    cs_wr_le16(rec + 4, tap);
    s->wr_tap = tap;
    return cs_write_all(s->wr_taps_fd, rec, sizeof(rec));
}

int cs__seg_close_writer(cs_store *s)
{
    char path[4096];
    cs_idx_meta meta;
    int rc;

    s->wr_open = 0;
    meta = (cs_idx_meta){s->wr_id, s->wr_linktype, CS_PCAP_SNAPLEN, s->wr.offset};
    if (s->flags & CS_STORE_SYNC) {
        rc = cs_pcapw_close(&s->wr);
        if (rc == 0 && fdatasync(s->wr_fd) < 0)
            rc = cs_error_set(CS_EIO, "sync segment %" PRIu32 ": %s", s->wr_id, strerror(errno));
        close(s->wr_fd);
    } else {
        /* the writer thread finishes and closes it: the packet path goes on */
        cs_pcapw_close_nowait(&s->wr);
        rc = 0;
    }
    s->wr_fd = -1;
    if (s->wr_taps_fd >= 0) {
        if (s->flags & CS_STORE_SYNC)
            fdatasync(s->wr_taps_fd);
        close(s->wr_taps_fd);
        s->wr_taps_fd = -1;
    }
    if (rc < 0)
        return rc;
    cs__seg_path(s, s->wr_id, "idx", path, sizeof(path));
    if ((rc = cs_idxb_write(&s->wb, &meta, path, (s->flags & CS_STORE_SYNC) != 0)) < 0)
        return rc;
    if ((rc = cs__seg_register(s, s->wr_id, meta.pcap_bytes)) < 0)
        return rc;
    cs__retention(s, 0);
    return 0;
}

int cs_store_rotate(cs_store *s)
{
    return s->wr_open ? cs__seg_close_writer(s) : 0;
}

int cs_store_flush(cs_store *s)
{
    return s->wr_open ? cs_pcapw_flush_nowait(&s->wr) : 0;
}

int cs_store_sync(cs_store *s)
{
    int rc;

    if (!s->wr_open)
        return 0;
    if ((rc = cs_pcapw_flush(&s->wr)) < 0 || (rc = cs_aio_sync(s->aio)) < 0)
        return rc;
    if (fdatasync(s->wr_fd) < 0)
        return cs_error_set(CS_EIO, "sync: %s", strerror(errno));
    return 0;
}

/* Segment size in effect: with a retention budget, segments are at most a
 * quarter of it, so that trimming the oldest one frees a useful share. */
static uint64_t seg_limit(const cs_store *s)
{
    uint64_t limit = s->segment_bytes;

    if (s->max_bytes && limit > s->max_bytes / 4)
        limit = s->max_bytes / 4;
    return limit < 65536 ? 65536 : limit;
}

static int seg_ensure_room(cs_store *s, const cs_packet *p)
{
    uint64_t need = CS_PCAP_RECHDR + (uint64_t)p->caplen;
    int rc;

    if (s->wr_open && (s->wr_linktype != p->linktype ||
                       (s->wb.n_pkts > 0 && s->wr.offset + need > seg_limit(s)))) {
        if ((rc = cs__seg_close_writer(s)) < 0)
            return rc;
    }
    if (!s->wr_open) {
        if ((rc = seg_open_writer(s, p->linktype)) < 0)
            return rc;
        if (s->max_bytes)
            cs__retention(s, seg_limit(s));
    }
    return 0;
}

/* Writes the index of the open segment's records already handed to the
 * writer thread (whole blocks of them: the buffered ones may not reach the
 * file soon). A failure only costs readers a longer scan. */
static void seg_checkpoint(cs_store *s)
{
    char path[4096];
    uint64_t handed = cs_pcapw_handed(&s->wr), n = s->wb.n_pkts;
    cs_idx_meta meta = {s->wr_id, s->wr_linktype, CS_PCAP_SNAPLEN, 0};

    while (n > 0 && s->wb.pkt_off[n - 1] >= handed) /* records handed whole */
        n--;
    n -= n % CS_IDX_BLOCK;
    if (n == 0 || n == s->wb.n_pkts)
        return;
    meta.pcap_bytes = s->wb.pkt_off[n];
    s->wr_ckpt = meta.pcap_bytes;
    cs__seg_path(s, s->wr_id, "idx", path, sizeof(path));
    if (cs_idxb_write_prefix(&s->wb, n, &meta, path) < 0) {
        cs_log_warn("checkpoint of segment %" PRIu32 ": %s", s->wr_id, cs_error_msg(CS_EIO));
        cs_error_clear();
    }
}

int cs_store_append(cs_store *s, const cs_packet *p, const cs_layers *l, cs_pktref *ref)
{
    cs_flowkey key;
    uint64_t off;
    int rc;

    if (!(s->flags & CS_STORE_WRITE))
        return cs_error_set(CS_EPERM, "store opened read-only");
    if (p->caplen > CS_PCAP_SNAPLEN)
        return cs_error_set(CS_EBADRECORD, "packet of %" PRIu32 " bytes is too large to store",
                            p->caplen);
    if ((rc = seg_ensure_room(s, p)) < 0)
        return rc;
    if (p->tap != s->wr_tap && (rc = seg_note_tap(s, p->tap, s->wr.offset)) < 0)
        return rc;
    if ((rc = cs_pcapw_put(&s->wr, p, &off)) < 0)
        return rc;
    cs_flowkey_from_layers(p, l, &key);
    if ((rc = cs_idxb_add(&s->wb, &key, (uint32_t)off, p->ts_ns)) < 0)
        return rc;
    if (ref)
        *ref = CS_PKTREF(s->wr_id, off);
    if ((s->flags & CS_STORE_CHECKPOINT) &&
        cs_pcapw_handed(&s->wr) - s->wr_ckpt >= CS_STORE_CHECKPOINT_BYTES)
        seg_checkpoint(s);
    return 0;
}

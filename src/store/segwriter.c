/*
 * segwriter.c - appending packets to the store's open group of segments.
 *
 * Packets go to one of P open segments (P = the store's partition count,
 * store.h), chosen by cs_flowkey_partition, so each flow's packets are
 * written together. The P segments form a group, opened lazily by the first
 * append: the group takes the next aligned block of P segment ids
 * (persisted in packets/next-id before any file is created, so an id is
 * never reused even if its segment is later deleted), and partition p's
 * file, id base + p, is created by the first packet it receives. Every
 * packet is dissected by the caller; its flow key and record offset go to
 * its segment's in-memory index builder.
 *
 * Each segment is written through buffers that a background thread writes
 * (cs_pcapw over core/aio.h), so the disk's write() time runs beside the
 * packet path: 4 MiB buffers for a store of one partition, 256 KiB ones
 * with P of them (each open segment holds one while it fills).
 *
 * The group closes when the next record would take its files together past
 * segment_bytes, or when the store is closed. A pcap file has one link
 * type, so a group too: when a packet of another link type comes, the open
 * group is parked (set aside, its files open) and the parked group of that
 * link type, if any, is taken back, else a new one opened. So a capture
 * whose interfaces interleave link types (Ethernet and 802.11) makes one
 * group per link type, not one per change. At most CS_STORE_PARKED_MAX
 * groups are parked, holding at most parking_budget() segments (each holds
 * a write buffer, and the open group must still find one for each of its
 * partitions and some in flight): past either bound the open group is
 * closed instead. Closing the open group closes the parked ones too, and
 * so do a flush and a sync (rare: they let readers and the disk see every
 * group). Closing hands each segment's last
 * buffer and the close of its file to the writer thread (with
 * CS_STORE_SYNC it waits and syncs instead), writes each index atomically,
 * in id order, and runs retention. The group's catalog (catalog.c) is
 * written once the writer thread has written the group's last bytes: at a
 * later flush or close, or at once with CS_STORE_SYNC. An index may so appear a moment before
 * the last bytes of its segment: a reader then sees a length mismatch and
 * indexes the segment from its packets, and a crash then leaves a mismatch
 * that repair fixes, exactly as for a torn segment.
 *
 * With CS_STORE_CHECKPOINT (the daemon, whose API reads the store while it
 * writes), whenever a segment has handed another 1/P of
 * CS_STORE_CHECKPOINT_BYTES (at least 256 KiB), or a quarter of all it has
 * handed if that is more (ckpt_due), to the writer thread, its index is
 * written for the records handed so far (same name, atomically, whole
 * blocks): a reader of the live store then indexes only what follows
 * (store.c). The final index replaces it at close.
 *
 * A store of P > 1 partitions also keeps, per group, a capture-order
 * record (order.c): the partition of each packet appended, in the order
 * the packets came, so readers can put the group's packets back in
 * capture order. It is buffered and written on this thread (a few bits a
 * packet), flushed with the segments, finished when the group closes;
 * failing to write it costs order past that point, never a packet.
 *
 * With a retention budget, the store never holds more than it: before a
 * record would take the closed segments plus the open group (with an
 * estimate of its indexes) past the budget, the oldest group is deleted
 * (store.c), so the store fills its budget to within one group.
 *
 * A write the background thread loses (a full disk) is found at the next
 * append, flush or close (cs_aio_failed, one atomic load): the open group
 * is then dropped as it stands and cut back to what reached the disk
 * (cs__writes_lost in store.c). A file that cannot be created or extended
 * (next-id, a new segment, a taps file) costs the oldest group with a
 * budget, and marks the store full without one; a full store takes
 * packets again once cs_store_flush (the daemon, every second) finds the
 * disk with room.
 *
 * Tap ids are not part of pcap records, so a side file seg-N.taps gets a
 * (record offset, tap) run entry whenever the tap changes; it is written
 * before the records it describes reach the pcap, so a rebuilt index always
 * finds the right tap. A packet whose time is another reference's (a tap
 * aggregator's trailer: packet/timeref.h) keeps the host's capture time in
 * the same file, in a capture-time entry; these are gathered in a 4 KiB
 * buffer and written when it fills, before the next tap run (so entries
 * stay in record order), at each checkpoint and flush, and at close: a
 * crash can cost the host times of the last few hundred packets, never a
 * packet or its reference time. Entries (little-endian):
 *
 *   tap run        0 u32 record offset, 4 u16 tap, 6 u16 0          (8 bytes)
 *   capture time   0 u32 record offset, 4 u16 0, 6 u16 1, 8 i64 ns  (16 bytes)
 *
 * The file is created by the first entry either needs; if that is not a
 * tap run at the segment's first record, a run of tap 0 there comes first,
 * so runs always cover every record.
 */
#include "store/store_int.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/log.h"
#include "store/flowkey.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define WRITE_BUFFER (4u << 20) /* one partition: 4 x 4 MiB */
#define WRITE_BUFFERS 4
#define PART_BUFFER (256u << 10) /* P partitions: P held + 64 in flight */
#define PART_INFLIGHT 64
#define PART_CKPT_MIN (256u << 10)

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

static uint32_t aio_buffers(const cs_store *s)
{
    return s->partitions == 1 ? WRITE_BUFFERS : s->partitions + PART_INFLIGHT;
}

static int writers_init(cs_store *s)
{
    uint32_t n = s->partitions;
    int rc;

    if (s->wr == NULL) {
        s->wr = cs_calloc(n, sizeof(cs_segwr));
        if (s->wr == NULL)
            return CS_ENOMEM;
        for (uint32_t p = 0; p < n; p++) {
            s->wr[p].fd = s->wr[p].taps_fd = -1;
            cs_idxb_init(&s->wr[p].b);
        }
    }
    if (s->unindexed == NULL &&
        (s->unindexed = cs_calloc(CS_STORE_UNINDEXED_MAX(n), sizeof(uint32_t))) == NULL)
        return CS_ENOMEM;
    if (s->aio != NULL)
        return 0;
    rc = cs_aio_new(aio_buffers(s), n == 1 ? WRITE_BUFFER : PART_BUFFER, &s->aio);
    if (rc == 0)
        cs_aio_set_full_hook(s->aio, cs__make_room, s); /* a full disk: retention */
    return rc;
}

static void writers_array_free(cs_segwr *wr, uint32_t n)
{
    if (wr == NULL)
        return;
    for (uint32_t p = 0; p < n; p++) {
        cs_idxb_free(&wr[p].b);
        cs_free(wr[p].captimes);
    }
    cs_free(wr);
}

void cs__writers_free(cs_store *s)
{
    writers_array_free(s->wr, s->partitions);
    cs_order_writer_free(&s->ord);
    s->wr = NULL;
    for (uint32_t i = 0; i < s->n_parked; i++) {
        writers_array_free(s->parked[i].wr, s->partitions);
        cs_order_writer_free(&s->parked[i].ord);
    }
    s->n_parked = 0;
    cs_free(s->unindexed);
    s->unindexed = NULL;
}

/* Starts the capture-order record of the group just opened (order.h): a
 * store of one partition needs none. */
static void group_order_open(cs_store *s)
{
    char path[4096];

    if (s->partitions <= 1)
        return;
    cs_order_path(s->pktdir, s->wr_base, path, sizeof(path));
    s->ord.room = cs__make_room; /* a full disk: retention, then one retry */
    s->ord.room_ud = s;
    cs_order_writer_open(&s->ord, path, s->wr_base, s->partitions);
}

/* Opens a group at the next aligned block of segment ids. */
static int group_open(cs_store *s, uint32_t linktype)
{
    uint32_t base = s->next_id, n = s->partitions;
    int rc;

    if ((base - 1) % n != 0)
        base += n - (base - 1) % n;
    if (base > UINT32_MAX - 2 * n)
        return cs_error_set(CS_EINVAL, "the store has used up its segment ids");
    if ((rc = write_next_id(s, base + n)) < 0)
        return rc;
    s->next_id = base + n;
    s->wr_base = base;
    s->wr_linktype = linktype;
    s->wr_bytes = 0;
    s->wr_pkts = 0;
    s->wr_open = 1;
    group_order_open(s);
    if (s->session_first == 0)
        s->session_first = base;
    return 0;
}

/* Creates the file of partition "p" of the open group. */
static int part_open(cs_store *s, uint32_t p)
{
    cs_segwr *w = &s->wr[p];
    char path[4096];
    int rc;

    w->id = s->wr_base + p;
    cs__seg_path(s, w->id, "pcap", path, sizeof(path));
    w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        w->id = 0;
        return cs_error_set(cs_error_from_errno(errno), "cannot create segment %s: %s", path,
                            strerror(errno));
    }
    if ((rc = cs_pcapw_init_aio(&w->w, w->fd, s->aio, s->wr_linktype, CS_PCAP_SNAPLEN)) < 0)
        return rc;
    w->w.nonblock = (s->flags & CS_STORE_LOSSY) != 0;
    cs_idxb_reset(&w->b);
    w->ckpt = 0;
    w->tap = 0;
    w->taps_fd = -1;
    s->wr_bytes += w->w.offset;
    return 0;
}

/* Creates segment "w"'s taps file; unless "run_at_start" (the caller's
 * first entry is a tap run at the first record), a run of tap 0 at the
 * first record goes first. */
static int side_open(cs_store *s, cs_segwr *w, int run_at_start)
{
    char path[4096];
    uint8_t rec[CS_SIDE_RUN];

    cs__seg_path(s, w->id, "taps", path, sizeof(path));
    w->taps_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (w->taps_fd < 0)
        return cs_error_set(CS_EIO, "%s: %s", path, strerror(errno));
    if (run_at_start)
        return 0;
    memset(rec, 0, sizeof(rec));
    cs_wr_le32(rec, CS_PCAP_FILEHDR);
    return cs_write_all(w->taps_fd, rec, sizeof(rec)) < 0 ? CS_EIO : 0;
}

/* Writes segment "w"'s buffered capture-time entries to its taps file. */
static int side_flush_captimes(cs_store *s, cs_segwr *w)
{
    int rc;

    if (w->captimes_len == 0)
        return 0;
    if (w->taps_fd < 0 && (rc = side_open(s, w, 0)) < 0)
        return rc;
    rc = cs_write_all(w->taps_fd, w->captimes, w->captimes_len) < 0 ? CS_EIO : 0;
    w->captimes_len = 0;
    return rc;
}

/* Keeps the host capture time of "p", stored at record "offset", when it
 * is not the packet's time. */
static int side_note_captime(cs_store *s, cs_segwr *w, const cs_packet *p, uint64_t offset)
{
    uint8_t *e;
    int rc;

    if (p->cap_ns == 0 || p->cap_ns == p->ts_ns)
        return 0;
    if (w->captimes == NULL && (w->captimes = cs_malloc(CS_SIDE_CAPTIME_BUF)) == NULL)
        return CS_ENOMEM;
    if (w->captimes_len + CS_SIDE_CAPTIME > CS_SIDE_CAPTIME_BUF &&
        (rc = side_flush_captimes(s, w)) < 0)
        return rc;
    e = w->captimes + w->captimes_len;
    cs_wr_le32(e, (uint32_t)offset);
    cs_wr_le16(e + 4, 0);
    cs_wr_le16(e + 6, CS_SIDE_KIND_CAPTIME);
    cs_wr_le64(e + 8, (uint64_t)p->cap_ns);
    w->captimes_len += CS_SIDE_CAPTIME;
    s->wr_bytes += CS_SIDE_CAPTIME; /* the group's files: retention counts them */
    return 0;
}

/* Records that records of "w" from "offset" on come from "tap". */
static int seg_note_tap(cs_store *s, cs_segwr *w, uint16_t tap, uint64_t offset)
{
    uint8_t rec[CS_SIDE_RUN];
    int rc;

    if ((rc = side_flush_captimes(s, w)) < 0)
        return rc;
    if (w->taps_fd < 0) {
        if (tap == 0)
            return 0; /* no file means every record is tap 0 */
        if ((rc = side_open(s, w, offset <= CS_PCAP_FILEHDR)) < 0)
            return rc;
    }
    memset(rec, 0, sizeof(rec));
    cs_wr_le32(rec, (uint32_t)offset);
    cs_wr_le16(rec + 4, tap);
    w->tap = tap;
    return cs_write_all(w->taps_fd, rec, sizeof(rec));
}

/* Closes segment "w": its file, its taps, its index; registers it. */
static int part_close(cs_store *s, cs_segwr *w)
{
    char path[4096];
    cs_idx_meta meta = {w->id, s->wr_linktype, CS_PCAP_SNAPLEN, w->w.offset};
    int rc = 0;

    if (s->flags & CS_STORE_SYNC) {
        rc = cs_pcapw_close(&w->w);
        if (rc == 0 && fdatasync(w->fd) < 0)
            rc = cs_error_set(CS_EIO, "sync segment %" PRIu32 ": %s", w->id, strerror(errno));
        close(w->fd);
    } else {
        /* the writer thread finishes and closes it: the packet path goes on */
        cs_pcapw_close_nowait(&w->w);
    }
    w->fd = -1;
    if (side_flush_captimes(s, w) < 0)
        cs_error_clear(); /* costs host times, never packets */
    if (w->taps_fd >= 0) {
        if (s->flags & CS_STORE_SYNC)
            fdatasync(w->taps_fd);
        close(w->taps_fd);
        w->taps_fd = -1;
    }
    if (rc == 0) {
        cs__seg_path(s, w->id, "idx", path, sizeof(path));
        rc = cs_idxb_write(&w->b, &meta, path, (s->flags & CS_STORE_SYNC) != 0);
        if (rc < 0 && cs__make_room(s) > 0) /* a full disk, and a budget: retry once */
            rc = cs_idxb_write(&w->b, &meta, path, (s->flags & CS_STORE_SYNC) != 0);
        if (rc < 0 && s->unindexed != NULL) { /* no room: repaired by cs__writes_lost */
            s->unindexed[s->n_unindexed++] = w->id;
            s->unindexed_pkts += w->b.n_pkts;
            if (s->lost_why[0] == '\0')
                snprintf(s->lost_why, sizeof(s->lost_why), "%s", cs_error_msg(rc));
            cs_error_clear();
            w->id = 0;
            return 0;
        }
    }
    if (rc == 0)
        rc = cs__seg_register(s, w->id, meta.pcap_bytes);
    w->id = 0;
    return rc;
}

/* The catalog of the group just closed waits until the writer thread has
 * written the last of its files (at once with CS_STORE_SYNC: they are). */
static void group_catalog(cs_store *s)
{
    if (s->partitions <= 1)
        return;
    if (cs_grow((void **)&s->cat_wait, &s->cap_cat_wait, s->n_cat_wait + 1, sizeof(cs_cat_wait)) <
        0) {
        cs_error_clear(); /* without a catalog, opening reads the indexes */
        return;
    }
    s->cat_wait[s->n_cat_wait++] = (cs_cat_wait){s->wr_base, cs_aio_mark(s->aio)};
    cs__cat_write_waiting(s, (s->flags & CS_STORE_SYNC) != 0);
}

/* Closes the files of group "wr" as they stand after a lost write, adding
 * their ids to "ids" (at "*n") and their packets to "*appended". */
static void segs_drop(cs_store *s, cs_segwr *wr, uint32_t *ids, size_t *n, uint64_t *appended)
{
    for (uint32_t p = 0; p < s->partitions; p++) {
        cs_segwr *w = &wr[p];
        if (w->id == 0)
            continue;
        if (w->w.buf != NULL)
            cs_aio_put(s->aio, w->w.buf); /* unsent: lost */
        w->w.buf = NULL;
        w->w.used = 0;
        close(w->fd);
        w->fd = -1;
        if (w->taps_fd >= 0)
            close(w->taps_fd);
        w->taps_fd = -1;
        w->captimes_len = 0;
        *appended += w->b.n_pkts;
        ids[(*n)++] = w->id;
        w->id = 0;
    }
}

size_t cs__group_drop(cs_store *s, uint32_t *ids, uint64_t *appended)
{
    size_t n = 0;

    *appended = 0;
    if (s->wr_open)
        segs_drop(s, s->wr, ids, &n, appended);
    s->wr_open = 0;
    for (uint32_t i = 0; i < s->n_parked; i++) {
        segs_drop(s, s->parked[i].wr, ids, &n, appended);
        writers_array_free(s->parked[i].wr, s->partitions);
        cs_order_writer_free(&s->parked[i].ord);
    }
    s->n_parked = 0;
    return n;
}

/* Closes the open group. A segment whose index could not be written (no
 * room) is left to cs__writes_lost, which the caller runs: its group then
 * gets no catalog and triggers no retention here. */
static int group_close_open(cs_store *s)
{
    size_t unindexed = s->n_unindexed;
    int rc = 0;

    s->wr_open = 0;
    cs_order_writer_close(&s->ord, (s->flags & CS_STORE_SYNC) != 0);
    cs__cat_write_waiting(s, 0);
    for (uint32_t p = 0; p < s->partitions; p++) {
        if (s->wr[p].id != 0) {
            int rc2 = part_close(s, &s->wr[p]);
            if (rc == 0)
                rc = rc2;
        }
    }
    if (rc == 0 && s->n_unindexed > unindexed)
        return 0;
    if (rc == 0 && cs_grow((void **)&s->closing, &s->cap_closing, s->n_closing + 1,
                           sizeof(*s->closing)) == 0) /* the hook leaves it until done */
        s->closing[s->n_closing++] = (cs_cat_wait){s->wr_base, cs_aio_mark(s->aio)};
    if (rc == 0)
        group_catalog(s);
    if (rc == 0)
        cs__retention(s, 0);
    return rc;
}

/* The open group's state as a parked group holding "n_open" segments. */
static cs_parked_group group_as_parked(const cs_store *s, uint32_t n_open)
{
    return (cs_parked_group){s->wr,      s->wr_base, s->wr_linktype, s->wr_bytes,
                             s->wr_pkts, n_open,     s->ord};
}

/* Swaps the open group's state with parked group "g". */
static void group_swap(cs_store *s, cs_parked_group *g)
{
    cs_parked_group t = *g;

    *g = group_as_parked(s, 0);
    s->wr = t.wr;
    s->wr_base = t.base;
    s->wr_linktype = t.linktype;
    s->wr_bytes = t.bytes;
    s->wr_pkts = t.pkts;
    s->ord = t.ord;
}

static void parked_remove(cs_store *s, uint32_t i)
{
    memmove(&s->parked[i], &s->parked[i + 1], (s->n_parked - i - 1) * sizeof(s->parked[0]));
    s->n_parked--;
}

/* Closes every parked group (newest first); the open group stays open. */
static int parked_close_all(cs_store *s)
{
    int rc = 0, rc2, was_open = s->wr_open;

    while (s->n_parked > 0) {
        cs_parked_group *g = &s->parked[s->n_parked - 1];
        group_swap(s, g);
        rc2 = group_close_open(s);
        group_swap(s, g);
        writers_array_free(g->wr, s->partitions);
        cs_order_writer_free(&g->ord);
        parked_remove(s, s->n_parked - 1);
        rc = rc == 0 ? rc2 : rc;
    }
    s->wr_open = was_open;
    return rc;
}

/* Closes the open group and the parked ones. After a lost write (a full
 * disk) they are cut back to what reached the disk instead (store.c). */
int cs__group_close(cs_store *s)
{
    int rc, rc2;

    if (s->aio != NULL && cs_aio_failed(s->aio))
        return cs__writes_lost(s);
    rc = parked_close_all(s);
    rc2 = s->wr_open ? group_close_open(s) : 0;
    if (rc == 0)
        rc = rc2;
    if (rc == 0 && s->n_unindexed > 0)
        return cs__writes_lost(s);
    return rc;
}

static uint32_t group_open_segments(const cs_segwr *wr, uint32_t n)
{
    uint32_t open = 0;

    for (uint32_t p = 0; p < n; p++)
        open += wr[p].id != 0;
    return open;
}

/* Segments the parked groups may hold open: the write buffers beyond one
 * per partition of the open group and one in flight, so that the open
 * group always finds a buffer for each of its partitions and the writer
 * thread one to write (with one partition: 2 parked groups). */
static uint32_t parking_budget(const cs_store *s)
{
    return aio_buffers(s) - s->partitions - 1;
}

/* A packet of "linktype" comes while the open group holds another link
 * type: parks the open group (or closes it, past the bounds above), then
 * takes back the parked group of "linktype" if there is one. */
static int group_switch(cs_store *s, uint32_t linktype)
{
    uint32_t held = group_open_segments(s->wr, s->partitions), parked = 0;
    int rc;

    for (uint32_t i = 0; i < s->n_parked; i++)
        parked += s->parked[i].n_open;
    if (s->n_parked == CS_STORE_PARKED_MAX || parked + held > parking_budget(s)) {
        if ((rc = group_close_open(s)) < 0)
            return rc;
    } else {
        s->parked[s->n_parked++] = group_as_parked(s, held);
        cs_order_writer_init(&s->ord); /* the parked group took the record */
        s->wr = NULL;
        s->wr_open = 0;
    }
    for (uint32_t i = 0; i < s->n_parked; i++) {
        if (s->parked[i].linktype != linktype)
            continue;
        writers_array_free(s->wr, s->partitions);
        cs_order_writer_free(&s->ord);
        s->wr = NULL;
        group_swap(s, &s->parked[i]);
        parked_remove(s, i);
        s->wr_open = 1;
        break;
    }
    return 0;
}

int cs_store_rotate(cs_store *s)
{
    return s->wr_open ? cs__group_close(s) : 0;
}

/* A file the store could not create or extend ("rc"; a full disk): with a
 * budget the oldest group goes and the caller retries once (1); without
 * one, or if that freed nothing, the store is full from now on (0). */
static int out_of_room(cs_store *s, int rc)
{
    if (s->full || rc == CS_ENOMEM || rc == CS_EINVAL)
        return 0; /* already said, or not the disk */
    if (cs__make_room(s) > 0) {
        cs__victim_update(s);
        cs_error_clear();
        return 1;
    }
    snprintf(s->lost_why, sizeof(s->lost_why), "%s", cs_error_msg(rc));
    s->full = 1;
    cs_log_error("the store cannot write (%s): later packets are not stored", s->lost_why);
    return 0;
}

/* A store full for want of a budget resumes once the disk has this much
 * room again (someone freed it): more than the writer's buffers hold. */
#define RESUME_ROOM (64ull << 20)

static int disk_has_room(const cs_store *s)
{
    struct statvfs v;

    return statvfs(s->pktdir, &v) == 0 && (uint64_t)v.f_bavail * v.f_frsize >= RESUME_ROOM;
}

int cs_store_flush(cs_store *s)
{
    int rc = 0;

    if (s->aio != NULL && cs_aio_failed(s->aio) && (rc = cs__writes_lost(s)) < 0)
        return rc;
    if (s->full && !s->wr_open && disk_has_room(s)) {
        s->full = 0;
        cs_log_info("the disk has room again: packets are stored again");
    }
    rc = parked_close_all(s);
    if (rc < 0)
        return rc;
    if (s->n_unindexed > 0 && (rc = cs__writes_lost(s)) < 0)
        return rc;
    for (uint32_t p = 0; s->wr_open && p < s->partitions; p++) {
        if (s->wr[p].id != 0 && side_flush_captimes(s, &s->wr[p]) < 0)
            cs_error_clear(); /* costs host times, never packets */
        if (s->wr[p].id != 0 && cs_pcapw_flush_nowait(&s->wr[p].w) == CS_EBUSY)
            rc = CS_EBUSY;
    }
    if (s->wr_open)
        cs_order_writer_flush(&s->ord);
    cs__cat_write_waiting(s, 0);
    return rc;
}

int cs_store_sync(cs_store *s)
{
    int rc;

    if ((rc = parked_close_all(s)) < 0)
        return rc;
    if (!s->wr_open)
        return 0;
    for (uint32_t p = 0; p < s->partitions; p++)
        if (s->wr[p].id != 0 && (rc = cs_pcapw_flush(&s->wr[p].w)) < 0)
            return rc;
    if ((rc = cs_aio_sync(s->aio)) < 0)
        return rc;
    cs_order_writer_flush(&s->ord);
    if (s->ord.fd >= 0)
        fdatasync(s->ord.fd); /* the record only orders packets: best effort */
    for (uint32_t p = 0; p < s->partitions; p++)
        if (s->wr[p].id != 0 && fdatasync(s->wr[p].fd) < 0)
            return cs_error_set(CS_EIO, "sync: %s", strerror(errno));
    return 0;
}

/* Group size in effect: with a retention budget, groups are at most a
 * quarter of it, so that trimming the oldest one frees a useful share. */
static uint64_t seg_limit(const cs_store *s)
{
    uint64_t limit = s->segment_bytes;

    if (s->max_bytes && limit > s->max_bytes / 4)
        limit = s->max_bytes / 4;
    return limit < 65536 ? 65536 : limit;
}

/* What the open group will take on disk: its pcap and capture-time bytes, plus its
 * indexes as index.h sizes them (4 bytes a packet, 64 a flow key, about
 * 16 a key of summary, a header and a block record per 256 packets). */
static uint64_t open_group_bytes(const cs_store *s)
{
    uint64_t bytes = s->wr_bytes;

    for (uint32_t p = 0; p < s->partitions; p++) {
        const cs_idx_builder *b = &s->wr[p].b;
        if (s->wr[p].id != 0)
            bytes += CS_IDX_HDR + 64 + 80 * (uint64_t)b->n_keys + 4 * b->n_pkts +
                     CS_IDX_BLOCKREC * (b->n_pkts / CS_IDX_BLOCK + 1);
    }
    return bytes;
}

/* Makes sure partition "p" has an open segment with room for "pk". */
static int seg_ensure_room(cs_store *s, const cs_packet *pk, uint32_t p)
{
    uint64_t need = CS_PCAP_RECHDR + (uint64_t)pk->caplen;
    int rc;

    if (s->wr_open && s->wr_linktype != pk->linktype && (rc = group_switch(s, pk->linktype)) < 0)
        return rc;
    if (s->wr_open && s->wr_bytes > 0 && s->wr_bytes + need > seg_limit(s)) {
        if ((rc = cs__group_close(s)) < 0)
            return rc;
        if (s->full) /* its close found the disk full */
            return cs_error_set(CS_EIO, "packets are no longer stored: %s", s->lost_why);
    }
    if (!s->wr_open) {
        if ((rc = writers_init(s)) < 0 || (rc = group_open(s, pk->linktype)) < 0) {
            parked_close_all(s); /* parked groups exist only beside an open one */
            return rc;
        }
        cs__retention(s, 0);
    }
    if (s->wr[p].id == 0 && (rc = part_open(s, p)) < 0)
        return rc;
    if (s->wr_bytes + 4 * s->wr_pkts + need > s->wr_room)
        cs__retention(s, open_group_bytes(s) + need);
    return 0;
}

/* Writes the index of segment "w"'s records already handed to the writer
 * thread (whole blocks of them: the buffered ones may not reach the file
 * soon). A failure only costs readers a longer scan. */
static void seg_checkpoint(cs_store *s, cs_segwr *w)
{
    char path[4096];
    uint64_t handed = cs_pcapw_handed(&w->w), n = w->b.n_pkts;
    cs_idx_meta meta = {w->id, s->wr_linktype, CS_PCAP_SNAPLEN, 0};

    while (n > 0 && w->b.pkt_off[n - 1] >= handed) /* records handed whole */
        n--;
    n -= n % CS_IDX_BLOCK;
    if (n == 0 || n == w->b.n_pkts)
        return;
    meta.pcap_bytes = w->b.pkt_off[n];
    w->ckpt = meta.pcap_bytes;
    if (side_flush_captimes(s, w) < 0)
        cs_error_clear();
    cs__seg_path(s, w->id, "idx", path, sizeof(path));
    if (cs_idxb_write_prefix(&w->b, n, &meta, path) < 0) {
        if (!s->ckpt_warned) /* once: a full disk fails every one */
            cs_log_warn("checkpoint of segment %" PRIu32 ": %s (later failures not logged)", w->id,
                        cs_error_msg(CS_EIO));
        s->ckpt_warned = 1;
        cs_error_clear();
    }
}

/* A checkpoint rewrites the segment's whole index, so with P segments open
 * a fixed step would rewrite each one dozens of times (estimated at half
 * the packet bytes again on the corpus for 512 KiB steps). The step grows
 * with the segment instead: the last step, or a quarter of what was
 * handed, whichever is more. Rewrites then total about four times the
 * final index, and a reader indexes itself at most a quarter of each open
 * segment (and at least the step). */
static int ckpt_due(const cs_store *s, const cs_segwr *w)
{
    uint64_t handed = cs_pcapw_handed(&w->w), step = CS_STORE_CHECKPOINT_BYTES / s->partitions;

    if (s->partitions > 1 && step < PART_CKPT_MIN)
        step = PART_CKPT_MIN;
    if (s->partitions > 1 && handed / 4 > step)
        step = handed / 4;
    return handed - w->ckpt >= step;
}

int cs_store_append(cs_store *s, const cs_packet *p, const cs_layers *l, cs_pktref *ref)
{
    cs_flowkey key;
    cs_segwr *w;
    uint64_t off;
    uint32_t part;
    int rc;

    if (!(s->flags & CS_STORE_WRITE))
        return cs_error_set(CS_EPERM, "store opened read-only");
    if (atomic_load_explicit(&s->victim_gone, memory_order_relaxed))
        cs__victim_update(s);
    if (s->aio != NULL && cs_aio_failed(s->aio) && (rc = cs__writes_lost(s)) < 0)
        return rc;
    if (s->full)
        return cs_error_set(CS_EIO, "packets are no longer stored: %s", s->lost_why);
    if (p->caplen > CS_PCAP_SNAPLEN)
        return cs_error_set(CS_EBADRECORD, "packet of %" PRIu32 " bytes is too large to store",
                            p->caplen);
    cs_flowkey_from_layers(p, l, &key);
    part = cs_flowkey_partition(&key, s->partitions);
    if ((rc = seg_ensure_room(s, p, part)) < 0 && out_of_room(s, rc))
        rc = seg_ensure_room(s, p, part);
    if (rc < 0)
        return rc;
    w = &s->wr[part];
    if (p->tap != w->tap && (rc = seg_note_tap(s, w, p->tap, w->w.offset)) < 0) {
        out_of_room(s, rc);
        return rc;
    }
    if ((rc = cs_pcapw_put(&w->w, p, &off)) < 0)
        return rc;
    if ((rc = side_note_captime(s, w, p, off)) < 0 && rc == CS_ENOMEM)
        return rc;
    if (rc < 0)
        cs_error_clear(); /* a full disk costs the host time, not the packet */
    s->wr_bytes += CS_PCAP_RECHDR + (uint64_t)p->caplen;
    s->wr_pkts++;
    cs_order_writer_add(&s->ord, part, p->ts_ns);
    if ((rc = cs_idxb_add(&w->b, &key, (uint32_t)off, p->ts_ns)) < 0)
        return rc;
    if (ref)
        *ref = CS_PKTREF(w->id, off);
    if ((s->flags & CS_STORE_CHECKPOINT) && ckpt_due(s, w))
        seg_checkpoint(s, w);
    return 0;
}

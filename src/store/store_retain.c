/*
 * store_retain.c - what the packet store deletes to keep within its budget
 * and to go on storing when the disk fills: retention, room for the
 * background writer, and the recovery from a write the disk had no room
 * for. It also holds cs_store_finish, which closes the open group and
 * handles a write lost at the end, and the reports of what was lost
 * (cs_store_lost_packets, cs_store_full).
 *
 * Retention deletes whole groups, oldest first, when the next record would
 * take the closed segments plus the open group (its pcap bytes and an
 * estimate of its indexes) past the budget, so the store holds within one
 * group of the budget and never more; it skips any segment that a
 * reader holds: a reader flocks a segment shared while it reads it and the
 * deleter asks for an exclusive lock without waiting. The group's catalog
 * goes first, then each segment's pcap, so a crash mid-deletion leaves at
 * most an orphan index, which the next repair removes.
 *
 * Threading: the appending thread owns the segment list; the background
 * writer's thread runs only cs__make_room, which deletes the files of the
 * groups published to it, under victim_mu, and touches no list.
 */
#include "store/store_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ---- retention -------------------------------------------------------- */

/* Deletes the files of segment "id", pcap first, unless a reader holds it
 * (CS_EBUSY). Touches no list: the background writer calls it too. */
static int seg_files_delete(const cs_store *s, uint32_t id)
{
    char pcap[4096], idxp[4096], taps[4096];
    int fd;

    cs__seg_path(s, id, "pcap", pcap, sizeof(pcap));
    cs__seg_path(s, id, "idx", idxp, sizeof(idxp));
    cs__seg_path(s, id, "taps", taps, sizeof(taps));
    fd = open(pcap, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return CS_EBUSY; /* a reader holds it */
    }
    unlink(pcap);
    unlink(taps);
    unlink(idxp);
    if (fd >= 0)
        close(fd);
    return fd >= 0 ? 0 : CS_ENOTFOUND;
}

static int seg_delete(cs_store *s, size_t i)
{
    cs_segment *seg = &s->segs[i];

    if (seg_files_delete(s, seg->id) == CS_EBUSY)
        return CS_EBUSY;
    cs_idx_unload(&seg->idx);
    memmove(&s->segs[i], &s->segs[i + 1], (s->n_segs - i - 1) * sizeof(*seg));
    s->n_segs--;
    s->deleted++;
    return 0;
}

/* Frees the catalog of group "first" once no segment of it is left. */
static void cat_forget(cs_store *s, uint32_t first)
{
    for (size_t k = 0; k < s->n_segs; k++)
        if (cs_store_group_of(s->segs[k].id, s->partitions) == first)
            return;
    for (size_t k = 0; k < s->n_cats; k++)
        if (s->cats[k].first == first) {
            cs__cat_free(&s->cats[k]);
            s->cats[k] = s->cats[--s->n_cats];
            return;
        }
}

/* Deletes the segments of the group starting at list index "*i" (all but
 * those being written or read); "*i" moves past what is left of it. */
static uint64_t group_delete(cs_store *s, size_t *i)
{
    uint32_t group = cs_store_group_of(s->segs[*i].id, s->partitions);
    uint64_t freed = 0;
    char path[4096];

    cs__cat_path(s, group, path, sizeof(path));
    unlink(path); /* first: a catalog never lists a deleted segment */
    cs_order_path(s->pktdir, group, path, sizeof(path));
    unlink(path); /* its capture-order record (order.h) goes with it */
    while (*i < s->n_segs && cs_store_group_of(s->segs[*i].id, s->partitions) == group) {
        uint64_t bytes = s->segs[*i].disk_bytes + s->segs[*i].aux_bytes;
        if (s->segs[*i].live || seg_delete(s, *i) < 0) {
            (*i)++;
            continue;
        }
        freed += bytes;
    }
    cat_forget(s, group);
    return freed;
}

/* Sets what the open group may still take before retention runs again,
 * in the measure the append path keeps (pcap bytes + 4 per packet); with
 * the budget still exceeded (segments pinned by readers), a little more,
 * so that retention is retried, not run for every packet. */
static void set_room(cs_store *s, uint64_t budget, uint64_t closed, uint64_t open_bytes)
{
    uint64_t kept = s->wr_open ? s->wr_bytes + 4 * s->wr_pkts : 0;
    uint64_t extra = open_bytes > kept ? open_bytes - kept : 0; /* indexes' fixed part */

    if (closed + open_bytes <= budget)
        s->wr_room = budget - closed - extra;
    else
        s->wr_room = kept + 65536 + budget / 64;
}

/* The budget retention keeps to: --max-bytes, or less when the disk has
 * less room left than that: what is held plus the free space minus two
 * groups' worth (a group is at most a quarter of the budget), so that the
 * oldest groups go before the disk fills while the background writer may
 * still be a group or two behind (a write that finds the disk full can
 * only free a group the writer has closed). */
static uint64_t effective_budget(const cs_store *s, uint64_t held)
{
    struct statvfs v;
    uint64_t avail, reserve = s->max_bytes / 2, cap;

    if (statvfs(s->pktdir, &v) != 0)
        return s->max_bytes;
    avail = (uint64_t)v.f_bavail * v.f_frsize;
    cap = held + (avail > reserve ? avail - reserve : 0);
    return cap < s->max_bytes ? cap : s->max_bytes;
}

int cs__retention(cs_store *s, uint64_t open_bytes)
{
    uint64_t closed = 0, budget;
    size_t i = 0;
    int deleted = 0;

    if (s->max_bytes == 0) {
        s->wr_room = UINT64_MAX;
        return 0;
    }
    for (size_t k = 0; k < s->n_segs; k++)
        closed += s->segs[k].disk_bytes + s->segs[k].aux_bytes;
    /* whole groups, oldest first: what is left is the newest stretch of
     * time, in every partition */
    budget = effective_budget(s, closed + open_bytes);
    while (closed + open_bytes > budget && i < s->n_segs) {
        uint64_t freed = group_delete(s, &i);
        closed -= freed;
        deleted |= freed > 0;
    }
    set_room(s, budget, closed, open_bytes);
    cs__victim_update(s);
    return deleted;
}

/* ---- room for the background writer -------------------------------------
 *
 * How it works: a write that finds the disk full is retried once after
 * the writer thread has called cs__make_room (core/aio.h). That thread
 * must not touch the segment list, which the appending thread owns, so
 * the appending thread publishes, under victim_mu, the first id of the
 * oldest closed group whenever retention has run, and the newest one,
 * which is never given away, nor any from the first one whose files the
 * writer thread has yet to close (their space is freed only at close); each call of the hook
 * deletes the files of the oldest group left before it (catalog first, then each segment's pcap, as
 * retention does) and marks that something went; the appending thread, at its next append, drops
 * the entries whose pcap is gone. Without a budget nothing is published: the store never deletes
 * what it was not told to.
 */

int cs__make_room(void *store)
{
    cs_store *s = store;
    char path[4096];
    int freed = 0;

    pthread_mutex_lock(&s->victim_mu);
    for (; !freed && s->victim != 0 && s->victim < s->victim_end; s->victim += s->partitions) {
        cs__cat_path(s, s->victim, path, sizeof(path));
        unlink(path);
        for (uint32_t p = 0; p < s->partitions; p++)
            freed |= seg_files_delete(s, s->victim + p) == 0;
        atomic_store(&s->victim_gone, 1);
    }
    pthread_mutex_unlock(&s->victim_mu);
    return freed;
}

void cs__victim_update(cs_store *s)
{
    char pcap[4096];

    pthread_mutex_lock(&s->victim_mu);
    if (atomic_load(&s->victim_gone)) {
        for (size_t i = 0; i < s->n_segs && s->segs[i].id < s->victim;) {
            uint32_t group = cs_store_group_of(s->segs[i].id, s->partitions);
            cs__seg_path(s, s->segs[i].id, "pcap", pcap, sizeof(pcap));
            if (access(pcap, F_OK) == 0) {
                i++;
                continue;
            }
            cs_idx_unload(&s->segs[i].idx);
            memmove(&s->segs[i], &s->segs[i + 1], (s->n_segs - i - 1) * sizeof(s->segs[0]));
            s->n_segs--;
            s->deleted++;
            cat_forget(s, group);
        }
        atomic_store(&s->victim_gone, 0);
    }
    s->victim = s->victim_end = 0;
    if (s->max_bytes && s->n_segs > 0 && s->wr != NULL) { /* never the newest closed group */
        s->victim = cs_store_group_of(s->segs[0].id, s->partitions);
        s->victim_end = cs_store_group_of(s->segs[s->n_segs - 1].id, s->partitions);
    }
    /* nor one whose files the writer has yet to close: deleting it would
     * free nothing before the write that needs the room */
    while (s->n_closing > 0 && cs_aio_done(s->aio, s->closing[0].mark))
        memmove(&s->closing[0], &s->closing[1], --s->n_closing * sizeof(s->closing[0]));
    if (s->n_closing > 0 && s->closing[0].first < s->victim_end)
        s->victim_end = s->closing[0].first;
    pthread_mutex_unlock(&s->victim_mu);
}

int cs__retention_one(cs_store *s)
{
    size_t i = 0;

    while (i < s->n_segs)
        if (group_delete(s, &i) > 0)
            return 1;
    return 0;
}

/* ---- a lost write (full disk) ------------------------------------------
 *
 * How it works: the background writer drops every buffer after the one
 * that failed (core/aio.h), so each segment file holds a prefix of what
 * was appended to it, the last record perhaps torn. Once it has drained:
 *
 *   1. the open group's files are closed as they stand (cs__group_drop),
 *      and the segments this handle closed whose files came out shorter
 *      than their indexes say are taken off the list;
 *   2. with a budget, the oldest group is deleted, so that storing goes on
 *      in a new group (unless the last loss was not followed by a single
 *      closed group: then freeing more would only empty the store);
 *      without one the store is full and appends fail from then on;
 *   3. each of those segments is repaired as at open: cut back to its last
 *      complete record and indexed from its packets. When not even the
 *      index fits, the newest eighth of each segment left without one is
 *      cut off and the repair retried; a segment is one flow partition's
 *      records in order, so what stays is every conversation's first
 *      packets (an index that never fits is kept in memory);
 *   4. the packets appended but not in a repaired segment are counted lost.
 */

#define LOST_TRIES 6

static void seg_unlist(cs_store *s, size_t i)
{
    cs_idx_unload(&s->segs[i].idx);
    memmove(&s->segs[i], &s->segs[i + 1], (s->n_segs - i - 1) * sizeof(s->segs[0]));
    s->n_segs--;
}

/* Moves the last listed segment to its place in id order. */
static void seg_sort_last(cs_store *s)
{
    size_t i = s->n_segs - 1;
    cs_segment last = s->segs[i];

    for (; i > 0 && s->segs[i - 1].id > last.id; i--)
        s->segs[i] = s->segs[i - 1];
    s->segs[i] = last;
}

/* Takes off the list the segments this handle closed whose pcap is not
 * as long as their index says, adding their ids to "*ids"; returns the
 * packets their indexes listed. */
static uint64_t unlist_short(cs_store *s, uint32_t **ids, size_t *n, size_t *cap)
{
    char pcap[4096];
    uint64_t pkts = 0;

    for (size_t i = 0; i < s->n_segs;) {
        cs_segment *g = &s->segs[i];
        cs__seg_path(s, g->id, "pcap", pcap, sizeof(pcap));
        if (s->session_first == 0 || g->id < s->session_first || g->live ||
            cs__file_size(pcap) == g->idx.pcap_bytes ||
            cs_grow((void **)ids, cap, *n + 1, sizeof(**ids)) < 0) {
            i++;
            continue;
        }
        (*ids)[(*n)++] = g->id;
        pkts += g->idx.n_pkts;
        s->pkts_written -= g->idx.n_pkts;
        seg_unlist(s, i);
    }
    return pkts;
}

/* Repairs and lists those of segments "ids" not listed: the packets
 * they keep; "*unindexed": some index did not fit on the disk. */
static uint64_t repair_lost(cs_store *s, const uint32_t *ids, size_t n, int *unindexed)
{
    uint64_t kept = 0;

    *unindexed = 0;
    for (size_t i = 0; i < n; i++) {
        if (cs__seg_find(s, ids[i]) != NULL)
            continue; /* repaired by an earlier round */
        if (cs__seg_load(s, ids[i], -1, 1) < 0 || s->n_segs == 0 ||
            s->segs[s->n_segs - 1].id != ids[i]) {
            cs_error_clear();
            continue;
        }
        kept += s->segs[s->n_segs - 1].idx.n_pkts;
        *unindexed |= s->segs[s->n_segs - 1].mem_index;
        seg_sort_last(s);
    }
    return kept;
}

/* Cuts the newest eighth off each of "ids" left without an index file
 * and takes it off the list again; returns the packets it listed. */
static uint64_t trim_unindexed(cs_store *s, const uint32_t *ids, size_t n)
{
    char pcap[4096];
    uint64_t pkts = 0;

    for (size_t i = 0; i < n; i++) {
        cs_segment *g = cs__seg_find(s, ids[i]);
        uint64_t size;
        if (g == NULL || !g->mem_index)
            continue;
        size = g->disk_bytes - g->disk_bytes / 8;
        cs__seg_path(s, g->id, "pcap", pcap, sizeof(pcap));
        if (truncate(pcap, (off_t)(size > CS_PCAP_FILEHDR ? size : 0)) < 0)
            cs_log_warn("%s: %s", pcap, strerror(errno));
        pkts += g->idx.n_pkts;
        seg_unlist(s, (size_t)(g - s->segs));
    }
    return pkts;
}

int cs__writes_lost(cs_store *s)
{
    uint32_t *ids = NULL;
    size_t n = 0, cap = 0;
    uint64_t appended = 0, kept = 0, lost;
    int rc = cs_aio_sync(s->aio), freed = 0, unindexed = 1;

    if (rc < 0)
        snprintf(s->lost_why, sizeof(s->lost_why), "%s", cs_error_msg(rc));
    cs_error_clear();
    /* room for every open and parked group's segments, then the unindexed */
    if (cs_grow((void **)&ids, &cap, 2 * (size_t)CS_STORE_UNINDEXED_MAX(s->partitions),
                sizeof(*ids)) < 0)
        return CS_ENOMEM;
    cs__victim_update(s); /* the list without what the writer deleted */
    n = cs__group_drop(s, ids, &appended);
    for (size_t i = 0; i < s->n_unindexed; i++)
        ids[n++] = s->unindexed[i];
    appended += s->unindexed_pkts;
    s->n_unindexed = 0;
    s->unindexed_pkts = 0;
    appended += unlist_short(s, &ids, &n, &cap);
    if (s->max_bytes && (s->lost_at == 0 || s->pkts_written != s->written_at_loss))
        freed = cs__retention_one(s);
    s->quiet_repair = 1;
    for (int t = 0; unindexed && t <= LOST_TRIES; t++) {
        if (t > 0)
            kept -= trim_unindexed(s, ids, n);
        kept += repair_lost(s, ids, n, &unindexed);
    }
    s->quiet_repair = 0;
    if (unindexed)
        cs_log_warn("no room for some indexes even after cutting segments back: those "
                    "segments are indexed in memory until a later open repairs them");
    cs_free(ids);
    lost = appended > kept ? appended - kept : 0;
    s->pkts_written += kept;
    s->pkts_lost += lost;
    s->lost_at++;
    s->written_at_loss = s->pkts_written;
    cs_aio_clear_failure(s->aio);
    cs__victim_update(s);
    if (freed && lost == 0)
        return 0;
    if (freed) {
        cs_log_warn("disk full (%s): %" PRIu64 " packets lost; deleted the oldest group to make "
                    "room",
                    s->lost_why, lost);
        return 0;
    }
    s->full = 1;
    cs_log_error("disk full (%s): the %" PRIu64 " packets written so far are kept, indexed; "
                 "later packets are not stored",
                 s->lost_why, s->pkts_written);
    return 0;
}

int cs_store_finish(cs_store *s)
{
    int rc = 0, rc2;

    if (s->wr_open)
        rc = cs__group_close(s);
    if (s->aio == NULL)
        return rc;
    if ((rc2 = cs_aio_sync(s->aio)) < 0 && cs_aio_failed(s->aio)) {
        snprintf(s->lost_why, sizeof(s->lost_why), "%s", cs_error_msg(rc2));
        rc2 = cs__writes_lost(s); /* counted, and what reached the disk kept */
    }
    cs__cat_write_waiting(s, 0); /* every file is written now, unless one failed */
    return rc < 0 ? rc : rc2;
}

uint64_t cs_store_lost_packets(cs_store *s)
{
    return s->pkts_lost;
}

const char *cs_store_full(const cs_store *s)
{
    return s->full ? s->lost_why : NULL;
}

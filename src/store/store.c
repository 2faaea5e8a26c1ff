/*
 * store.c - opening, creating and repairing a packet store.
 *
 * Layout and guarantees are described in store.h. Opening goes:
 *
 *   1. check or create the directory and its "capstream.store" marker;
 *   2. lock: a writer takes writer.lock exclusively (or fails: one writer);
 *      a reader tries the same lock without waiting, and if it gets it
 *      nobody is writing, so it may repair, then drops it;
 *   3. list packets/seg-*.pcap and load each index's header and key
 *      summary: for a closed group from its catalog (catalog.c), one read
 *      for all its segments, which are then not looked at until a query
 *      reads them (cs__seg_verify checks the index body and the pcap's
 *      size then); otherwise from each index file. A segment whose index
 *      is missing, damaged or shorter than the pcap is
 *        - repaired when no writer is alive: the pcap is cut back to its
 *          last complete record and the index rebuilt from the packets;
 *        - indexed in memory (read-only) while a writer is alive.
 *   4. a writer also checks each catalogued pcap's size (and repairs a
 *      segment that is not as long as its catalog entry says), writes the
 *      catalogs that are missing or stale (a store from before catalogs, a
 *      crash before one was written, a repair) and removes those of groups
 *      that are gone.
 *
 * The store's files, one job each, share store_int.h:
 *   store.c         the settings file, the writer lock, the segment list
 *                   (opening and repair), info, close, and mapping a
 *                   segment for reading
 *   store_retain.c  retention, room for the background writer on a full
 *                   disk, a lost write, and cs_store_finish
 *   segwriter.c     appending: the open group and its segments
 *   catalog.c       group catalogs
 *   livecache.c     indexing a segment another process is writing
 *   query.c         answering a filter over a time range (with
 *                   query_read.c, query_order.c, query_out.c: query_int.h)
 *   lookup.c        one packet by its ref, the segments of a time range
 *   scan.c          every stored packet of a range of segments (reanalyze)
 *   index_dump.c    a segment index in readable form
 */
#include "store/store_int.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sort.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_MARKER "capstream.store"

int cs__seg_path(const cs_store *s, uint32_t id, const char *suffix, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/seg-%08" PRIu32 ".%s", s->pktdir, id, suffix);

    if (n < 0 || (size_t)n >= size)
        return cs_error_set(CS_EINVAL, "store path too long");
    return 0;
}

static int join_path(char **out, const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;

    *out = cs_malloc(n);
    if (*out == NULL)
        return CS_ENOMEM;
    snprintf(*out, n, "%s/%s", a, b);
    return 0;
}

/* ---- settings file ---------------------------------------------------- */

static int settings_write(const cs_store *s)
{
    char path[4096], tmp[4200], text[256];
    int fd, rc = 0, n;

    snprintf(path, sizeof(path), "%s/%s", s->dir, STORE_MARKER);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    n = snprintf(text, sizeof(text),
                 "capstream store\nformat 1\nsegment_bytes %" PRIu64 "\nmax_bytes %" PRIu64
                 "\nmax_message_bytes %" PRIu64 "\npartitions %" PRIu32 "\n",
                 s->segment_bytes, s->max_bytes, s->max_message_bytes, s->partitions);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return cs_error_set(cs_error_from_errno(errno), "%s: %s", tmp, strerror(errno));
    rc = cs_write_all(fd, text, (size_t)n);
    if (rc == 0 && fdatasync(fd) < 0)
        rc = cs_error_set(CS_EIO, "%s: %s", tmp, strerror(errno));
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    return rc;
}

static int settings_read(cs_store *s)
{
    char path[4096], line[256];
    FILE *f;
    int seen_marker = 0;

    snprintf(path, sizeof(path), "%s/%s", s->dir, STORE_MARKER);
    f = fopen(path, "re");
    if (f == NULL)
        return cs_error_set(CS_ENOTSTORE, "%s is not a capstream store (no %s)", s->dir,
                            STORE_MARKER);
    s->partitions = 1; /* a store from before partitions */
    while (fgets(line, sizeof(line), f)) {
        unsigned long long v;
        if (strcmp(line, "capstream store\n") == 0)
            seen_marker = 1;
        else if (sscanf(line, "segment_bytes %llu", &v) == 1)
            s->segment_bytes = v;
        else if (sscanf(line, "max_bytes %llu", &v) == 1)
            s->max_bytes = v;
        else if (sscanf(line, "max_message_bytes %llu", &v) == 1)
            s->max_message_bytes = v;
        else if (sscanf(line, "partitions %llu", &v) == 1)
            s->partitions = v >= 1 && v <= CS_STORE_MAX_PARTITIONS ? (uint32_t)v : 0;
    }
    fclose(f);
    if (s->partitions == 0)
        return cs_error_set(CS_ECORRUPT, "%s: bad partition count in %s", s->dir, STORE_MARKER);
    if (!seen_marker)
        return cs_error_set(CS_ENOTSTORE, "%s is not a capstream store (bad %s)", s->dir,
                            STORE_MARKER);
    return 0;
}

static int dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int empty = 1;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            empty = 0;
    closedir(d);
    return empty;
}

static int store_create(cs_store *s)
{
    if (mkdir(s->dir, 0755) < 0 && errno != EEXIST)
        return cs_error_set(cs_error_from_errno(errno), "cannot create store %s: %s", s->dir,
                            strerror(errno));
    if (!dir_is_empty(s->dir))
        return cs_error_set(
            CS_ENOTSTORE, "%s is not a capstream store and not empty; refusing to use it", s->dir);
    if (mkdir(s->pktdir, 0755) < 0 && errno != EEXIST)
        return cs_error_set(cs_error_from_errno(errno), "cannot create %s: %s", s->pktdir,
                            strerror(errno));
    if (s->segment_bytes == 0)
        s->segment_bytes = CS_STORE_DEFAULT_SEGMENT_BYTES;
    return settings_write(s);
}

uint32_t cs_store_dir_partitions(const char *dir)
{
    cs_store s;

    memset(&s, 0, sizeof(s));
    s.dir = (char *)dir;
    if (settings_read(&s) < 0) {
        cs_error_clear();
        return 1;
    }
    return s.partitions;
}

/* ---- locking ---------------------------------------------------------- */

/* Returns 1 if we hold the writer lock, 0 if a writer is alive (readers). */
static int store_lock(cs_store *s)
{
    char path[4096];
    int writer = (s->flags & CS_STORE_WRITE) != 0;

    snprintf(path, sizeof(path), "%s/writer.lock", s->dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0 && !writer)
        s->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->lock_fd < 0) {
        if (writer)
            return cs_error_set(cs_error_from_errno(errno), "cannot write to store %s: %s", s->dir,
                                strerror(errno));
        return 0;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0)
        return 1;
    if (writer)
        return cs_error_set(CS_EBUSY, "another capstream process is writing to %s", s->dir);
    return 0;
}

/* ---- segment list ----------------------------------------------------- */

cs_segment *cs__seg_find(cs_store *s, uint32_t id)
{
    size_t lo = 0, hi = s->n_segs;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->segs[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n_segs && s->segs[lo].id == id ? &s->segs[lo] : NULL;
}

uint64_t cs__file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* The ids of seg-*.pcap files, ascending, in one pass over the directory;
 * "taps"[i] says whether segment ids[i] has a taps file, and "cats" lists
 * the groups that have a catalog (catalog.c).
 * With "may_fix", leftovers of a crash go: temporary files, and indexes
 * or taps files whose pcap is gone (retention deletes the pcap first). */
typedef struct seg_entry {
    uint32_t id;
    uint8_t kind; /* ENTRY_* */
} seg_entry;

enum { ENTRY_PCAP, ENTRY_TAPS, ENTRY_IDX, ENTRY_CATALOG };

typedef struct seg_list {
    uint32_t *ids;
    uint8_t *taps;
    size_t n, cap, cap_taps;
    uint32_t *cats; /* first segment ids of the groups with a catalog */
    size_t n_cats, cap_cats;
} seg_list;

static int cmp_entry(const void *a, const void *b)
{
    const seg_entry *x = a, *y = b;

    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->kind < y->kind ? -1 : x->kind > y->kind;
}

/* The kind of directory entry "name" and its number; -1 if not ours. */
static int entry_kind(const char *name, uint32_t *id)
{
    unsigned v;
    char suffix[16], extra;

    if (sscanf(name, "seg-%8u.%15[a-z]%c", &v, suffix, &extra) == 2) {
        *id = v;
        return strcmp(suffix, "pcap") == 0   ? ENTRY_PCAP
               : strcmp(suffix, "taps") == 0 ? ENTRY_TAPS
                                             : ENTRY_IDX;
    }
    if (sscanf(name, "group-%8u.%15[a-z]%c", &v, suffix, &extra) == 2 &&
        strcmp(suffix, "cat") == 0) {
        *id = v;
        return ENTRY_CATALOG;
    }
    return -1;
}

static int read_entries(cs_store *s, int may_fix, seg_entry **out, size_t *n)
{
    DIR *d = opendir(s->pktdir);
    struct dirent *e;
    size_t cap = 0;
    int rc = 0;

    *out = NULL;
    *n = 0;
    if (d == NULL)
        return cs_error_set(CS_ENOTSTORE, "%s: %s", s->pktdir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        uint32_t id;
        int kind = entry_kind(e->d_name, &id);
        if (kind < 0) {
            if (may_fix && strstr(e->d_name, ".tmp") != NULL)
                unlinkat(dirfd(d), e->d_name, 0);
            continue;
        }
        if ((rc = cs_grow((void **)out, &cap, *n + 1, sizeof(seg_entry))) < 0)
            break;
        (*out)[(*n)++] = (seg_entry){id, (uint8_t)kind};
    }
    closedir(d);
    if (rc == 0 && *n > 1)
        cs_qsort(*out, *n, sizeof(seg_entry), cmp_entry);
    return rc;
}

static void seg_list_free(seg_list *l)
{
    cs_free(l->ids);
    cs_free(l->taps);
    cs_free(l->cats);
    memset(l, 0, sizeof(*l));
}

/* Files entry "e" in the list (entries come sorted: a pcap before the
 * other files of its segment); removes an orphan if allowed. */
static int list_entry(cs_store *s, int may_fix, const seg_entry *e, seg_list *l)
{
    int has_pcap = l->n > 0 && l->ids[l->n - 1] == e->id;
    char path[4096];
    int rc;

    switch (e->kind) {
    case ENTRY_PCAP:
        if ((rc = cs_grow((void **)&l->ids, &l->cap, l->n + 1, sizeof(uint32_t))) < 0 ||
            (rc = cs_grow((void **)&l->taps, &l->cap_taps, l->n + 1, 1)) < 0)
            return rc;
        l->ids[l->n] = e->id;
        l->taps[l->n++] = 0;
        return 0;
    case ENTRY_CATALOG:
        if ((rc = cs_grow((void **)&l->cats, &l->cap_cats, l->n_cats + 1, sizeof(uint32_t))) < 0)
            return rc;
        l->cats[l->n_cats++] = e->id;
        return 0;
    default:
        if (has_pcap && e->kind == ENTRY_TAPS)
            l->taps[l->n - 1] = 1;
        if (!has_pcap && may_fix) {
            cs__seg_path(s, e->id, e->kind == ENTRY_TAPS ? "taps" : "idx", path, sizeof(path));
            unlink(path);
        }
        return 0;
    }
}

static int list_segments(cs_store *s, int may_fix, seg_list *l)
{
    seg_entry *en;
    size_t n_en;
    int rc;

    memset(l, 0, sizeof(*l));
    if ((rc = read_entries(s, may_fix, &en, &n_en)) < 0)
        return rc;
    for (size_t i = 0; i < n_en && rc == 0; i++)
        rc = list_entry(s, may_fix, &en[i], l);
    cs_free(en);
    if (rc < 0)
        seg_list_free(l);
    return rc;
}

/* Calls "fn" for each whole entry of segment "id"'s taps file (a capture
 * time with its 16 bytes, a tap run with its 8); stops at a torn one. */
static int side_each(const cs_store *s, uint32_t id, int (*fn)(void *ud, const uint8_t *e),
                     void *ud)
{
    char path[4096];
    uint8_t e[CS_SIDE_CAPTIME];
    FILE *f;
    int rc;

    if ((rc = cs__seg_path(s, id, "taps", path, sizeof(path))) < 0)
        return rc;
    f = fopen(path, "rbe");
    if (f == NULL)
        return 0;
    while (rc == 0 && fread(e, 1, CS_SIDE_RUN, f) == CS_SIDE_RUN) {
        if (cs_rd_le16(e + 6) == CS_SIDE_KIND_CAPTIME &&
            fread(e + CS_SIDE_RUN, 1, CS_SIDE_CAPTIME - CS_SIDE_RUN, f) !=
                CS_SIDE_CAPTIME - CS_SIDE_RUN)
            break;
        rc = fn(ud, e);
    }
    fclose(f);
    return rc;
}

typedef struct side_list {
    void *v;
    size_t n, cap, size;
    int kind;
} side_list;

static int side_collect(void *ud, const uint8_t *e)
{
    side_list *l = ud;
    int rc;

    if ((cs_rd_le16(e + 6) == CS_SIDE_KIND_CAPTIME) != (l->kind == CS_SIDE_KIND_CAPTIME))
        return 0;
    if ((rc = cs_grow(&l->v, &l->cap, l->n + 1, l->size)) < 0)
        return rc;
    if (l->kind == CS_SIDE_KIND_CAPTIME)
        ((cs_captime *)l->v)[l->n++] =
            (cs_captime){cs_rd_le32(e), (int64_t)cs_rd_le64(e + CS_SIDE_RUN)};
    else
        ((cs_tap_run *)l->v)[l->n++] = (cs_tap_run){cs_rd_le32(e), cs_rd_le16(e + 4)};
    return 0;
}

int cs__seg_taps(const cs_store *s, uint32_t id, cs_tap_run **runs, size_t *n)
{
    side_list l = {.size = sizeof(cs_tap_run)};
    int rc = side_each(s, id, side_collect, &l);

    *runs = l.v;
    *n = l.n;
    return rc;
}

int cs__seg_captimes(const cs_store *s, uint32_t id, cs_captime **v, size_t *n)
{
    side_list l = {.size = sizeof(cs_captime), .kind = CS_SIDE_KIND_CAPTIME};
    int rc = side_each(s, id, side_collect, &l);

    *v = l.v;
    *n = l.n;
    return rc;
}

/* Indexes segment "seg" from all its packets. With "fix", cuts the pcap
 * to its complete part and writes the index file; otherwise keeps the
 * index in memory only. */
static int seg_rebuild(cs_store *s, cs_segment *seg, int fix)
{
    char pcap[4096], idxp[4096];
    cs_idx_builder b;
    cs_tap_run *taps = NULL;
    size_t n_taps = 0;
    uint64_t valid = 0;
    uint32_t linktype = 0, snaplen = 0;
    cs_idx_meta meta;
    int rc;

    cs__seg_path(s, seg->id, "pcap", pcap, sizeof(pcap));
    cs__seg_path(s, seg->id, "idx", idxp, sizeof(idxp));
    cs_idxb_init(&b);
    if ((rc = cs__seg_taps(s, seg->id, &taps, &n_taps)) < 0)
        goto out;
    rc = cs_idx_scan_pcap(pcap, CS_PCAP_FILEHDR, taps, n_taps, &b, &valid, &linktype, &snaplen);
    if (rc < 0)
        goto out;
    meta = (cs_idx_meta){seg->id, linktype, snaplen, valid};
    if (fix) {
        if (cs__file_size(pcap) != valid && truncate(pcap, (off_t)valid) < 0) {
            rc = cs_error_set(CS_EIO, "%s: cannot cut to %" PRIu64 " bytes: %s", pcap, valid,
                              strerror(errno));
            goto out;
        }
        s->repaired++;
        if ((rc = cs_idxb_write(&b, &meta, idxp, 1)) == 0) {
            rc = cs_idx_load(idxp, &seg->idx);
            goto out;
        }
        /* no room for the index (a full disk): the segment is still
         * served, from an index in memory, and repaired at a later open */
        if (!s->quiet_repair) /* cs__writes_lost makes room, then warns itself */
            cs_log_warn("segment %" PRIu32 ": %s; indexed in memory", seg->id, cs_error_msg(rc));
        cs_error_clear();
        seg->mem_index = 1;
        rc = cs_idx_from_builder(&b, &meta, &seg->idx);
    } else {
        rc = cs_idx_from_builder(&b, &meta, &seg->idx);
        seg->live = 1;
        seg->ckpt_bytes = 0;
    }
out:
    cs_free(taps);
    cs_idxb_free(&b);
    return rc;
}

/* Is the segment's pcap as long as its index says? A closed segment's
 * always is, unless the machine lost power before the file reached the
 * disk (without CS_STORE_SYNC) or the file was cut. */
static int seg_size_ok(const cs_store *s, const cs_segment *seg)
{
    char pcap[4096];
    struct stat st;

    if (seg->live)
        return 1; /* indexed in memory up to what is there */
    cs__seg_path(s, seg->id, "pcap", pcap, sizeof(pcap));
    if (stat(pcap, &st) < 0)
        return errno == ENOENT ? -1 : 0;
    return (uint64_t)st.st_size == seg->idx.pcap_bytes;
}

int cs__seg_verify(cs_store *s, cs_segment *seg)
{
    int rc, size_ok;

    if (seg->idx.verified)
        return 0;
    if ((size_ok = seg_size_ok(s, seg)) < 0)
        return cs_error_set(CS_ENOTFOUND, "segment %" PRIu32 " is no longer stored (retention)",
                            seg->id);
    rc = cs_idx_verify(&seg->idx);
    if (rc == CS_ENOTFOUND && seg_size_ok(s, seg) < 0)
        return rc; /* retention deleted the segment meanwhile */
    if (rc == CS_ENOTFOUND)
        rc = cs_error_set(CS_ECORRUPT, "the index of segment %" PRIu32 " is missing", seg->id);
    if (rc == 0 && !size_ok)
        rc = cs_error_set(CS_ECORRUPT, "segment %" PRIu32 " is not as long as its index says",
                          seg->id);
    if (rc == 0)
        return 0;
    cs_log_warn("%s; indexing segment %" PRIu32 " from its packets instead",
                cs_error_msg(CS_ECORRUPT), seg->id);
    cs_error_clear();
    cs_idx_unload(&seg->idx);
    if ((rc = seg_rebuild(s, seg, 0)) < 0)
        return rc;
    return cs_idx_verify(&seg->idx);
}

/* Appends "seg" (its index loaded, its sizes known) to the list; on
 * failure unloads it. */
static int seg_append(cs_store *s, cs_segment *seg)
{
    int rc;

    if ((rc = cs_grow((void **)&s->segs, &s->cap_segs, s->n_segs + 1, sizeof(*seg))) < 0) {
        cs_idx_unload(&seg->idx);
        return rc;
    }
    s->segs[s->n_segs++] = *seg;
    return 0;
}

/* Appends "seg" (its index loaded) to the list, with the size of its
 * index and taps files; "has_taps": whether it has a taps file (-1: look). */
static int seg_add(cs_store *s, cs_segment *seg, int has_taps)
{
    char idxp[4096], taps[4096];

    cs__seg_path(s, seg->id, "idx", idxp, sizeof(idxp));
    cs__seg_path(s, seg->id, "taps", taps, sizeof(taps));
    seg->aux_bytes = seg->idx.path ? seg->idx.size : cs__file_size(idxp);
    if (has_taps)
        seg->aux_bytes += cs__file_size(taps);
    return seg_append(s, seg);
}

int cs__seg_load(cs_store *s, uint32_t id, int has_taps, int may_fix)
{
    char pcap[4096], idxp[4096], taps[4096];
    cs_segment seg;
    uint64_t pcap_size;
    int rc;

    memset(&seg, 0, sizeof(seg));
    seg.id = id;
    cs__seg_path(s, id, "pcap", pcap, sizeof(pcap));
    cs__seg_path(s, id, "idx", idxp, sizeof(idxp));
    cs__seg_path(s, id, "taps", taps, sizeof(taps));
    if ((pcap_size = cs__file_size(pcap)) < CS_PCAP_FILEHDR) {
        /* Created but nothing written yet: a live writer's fresh segment, or
         * one whose writer died before its first flush. Holds no packet. */
        if (may_fix) {
            unlink(pcap);
            unlink(taps);
            unlink(idxp);
        }
        return 0;
    }
    /* a segment still being written: its writer's checkpoint and the
     * packets after it (livecache.c); if that fails, all its packets */
    if (may_fix || (rc = cs__seg_index_live(s, &seg)) > 0) {
        rc = cs_idx_load(idxp, &seg.idx);
        if (rc == 0 && (seg.idx.pcap_bytes != pcap_size || seg.idx.segment_id != id)) {
            cs_idx_unload(&seg.idx);
            rc = CS_ECORRUPT;
        }
    }
    cs_error_clear();
    if (rc < 0 && (rc = seg_rebuild(s, &seg, may_fix)) < 0) {
        /* A segment too damaged to read (no pcap header) is skipped, never served. */
        cs_log_warn("segment %s is unreadable and skipped: %s", pcap, cs_error_msg(rc));
        cs_error_clear();
        return 0;
    }
    seg.disk_bytes = seg.idx.pcap_bytes == pcap_size ? pcap_size : cs__file_size(pcap); /* cut */
    return seg_add(s, &seg, has_taps);
}

int cs__seg_register(cs_store *s, uint32_t id, uint64_t pcap_bytes)
{
    char idxp[4096];
    cs_segment seg;
    int rc;

    memset(&seg, 0, sizeof(seg));
    seg.id = id;
    cs__seg_path(s, id, "idx", idxp, sizeof(idxp));
    if ((rc = cs_idx_load(idxp, &seg.idx)) < 0)
        return rc;
    seg.idx.verified = 1; /* this process wrote it a moment ago */
    seg.disk_bytes = pcap_bytes;
    s->pkts_written += seg.idx.n_pkts;
    return seg_add(s, &seg, -1);
}

static int read_next_id(cs_store *s)
{
    char path[4096];
    FILE *f;
    unsigned long v = 0;

    snprintf(path, sizeof(path), "%s/next-id", s->pktdir);
    f = fopen(path, "re");
    if (f != NULL) {
        if (fscanf(f, "%lu", &v) != 1)
            v = 0;
        fclose(f);
    }
    s->next_id = v > 0 && v < UINT32_MAX ? (uint32_t)v : 1;
    if (s->n_segs > 0 && s->segs[s->n_segs - 1].id >= s->next_id)
        s->next_id = s->segs[s->n_segs - 1].id + 1;
    return 0;
}

/* Segment "id" from the head of its index that its group's catalog keeps
 * ("taps_bytes" its taps file's size): no file of it is read. 0 and
 * nothing added if the head does not describe it. */
static int seg_from_catalog(cs_store *s, uint32_t id, const uint8_t *head, size_t len,
                            uint64_t taps_bytes)
{
    char idxp[4096];
    cs_segment seg;

    memset(&seg, 0, sizeof(seg));
    seg.id = id;
    cs__seg_path(s, id, "idx", idxp, sizeof(idxp));
    if (cs_idx_load_head(idxp, head, len, &seg.idx) < 0 || seg.idx.segment_id != id) {
        cs_idx_unload(&seg.idx);
        cs_error_clear();
        return 0;
    }
    seg.disk_bytes = seg.idx.pcap_bytes;
    seg.aux_bytes = seg.idx.size + taps_bytes;
    if (seg_append(s, &seg) < 0)
        return CS_ENOMEM;
    return 1;
}

/* The first of the ascending "ids" that is not below "id". */
static size_t lower_bound(const uint32_t *ids, size_t n, uint32_t id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int has_id(const uint32_t *ids, size_t n, uint32_t id)
{
    size_t i = lower_bound(ids, n, id);

    return i < n && ids[i] == id;
}

/* Whether the catalog's entry for segment "id" (its index "head", "taps"
 * bytes of taps file) can stand for the segment's files: it says as much
 * about a taps file as the directory does ("has_taps") and, with
 * "check_size" (a writer's open: it repairs what readers only work around,
 * such as a segment cut short by a power loss), the pcap is as long as the
 * head says. */
static int catalog_entry_fits(const cs_store *s, uint32_t id, const uint8_t *head, uint64_t taps,
                              int has_taps, int check_size)
{
    char pcap[4096];

    if ((taps > 0) != (has_taps != 0))
        return 0;
    if (!check_size)
        return 1;
    cs__seg_path(s, id, "pcap", pcap, sizeof(pcap));
    return cs__file_size(pcap) == cs_rd_le64(head + 40); /* index.h: pcap bytes covered */
}

/* Loads the segments l->ids[from, to) of the group starting at "first":
 * from its catalog if it has a sound one, else (and for any segment the
 * catalog does not list as it is on disk) from their indexes. "*stale":
 * the catalog is missing or does not match. */
static int scan_group(cs_store *s, const seg_list *l, size_t from, size_t to, uint32_t first,
                      int may_fix, int *stale)
{
    cs_cat cat;
    int used = 0, rc = 0;

    *stale = 1;
    if (!has_id(l->cats, l->n_cats, first) || cs__cat_read(s, first, &cat) < 0) {
        cs_error_clear();
        memset(&cat, 0, sizeof(cat));
    } else {
        *stale = 0;
    }
    for (size_t i = from; i < to && rc >= 0; i++) {
        const uint8_t *head;
        size_t len;
        uint64_t taps;
        rc = 0;
        if (cat.buf && cs__cat_find(&cat, l->ids[i], &head, &len, &taps) &&
            catalog_entry_fits(s, l->ids[i], head, taps, l->taps[i],
                               may_fix && (s->flags & CS_STORE_WRITE)))
            rc = seg_from_catalog(s, l->ids[i], head, len, taps);
        if (rc == 1) {
            used = 1;
            continue;
        }
        if (cat.buf)
            *stale = 1;
        if (rc == 0)
            rc = cs__seg_load(s, l->ids[i], l->taps[i], may_fix);
    }
    if (used && rc >= 0 &&
        cs_grow((void **)&s->cats, &s->cap_cats, s->n_cats + 1, sizeof(cs_cat)) == 0) {
        s->cats[s->n_cats++] = cat; /* the summaries point into it */
        return 0;
    }
    if (used) { /* cannot keep it: the segments that point into it go */
        while (s->n_segs > 0 && s->segs[s->n_segs - 1].id >= first)
            cs_idx_unload(&s->segs[--s->n_segs].idx);
        rc = rc < 0 ? rc : CS_ENOMEM;
    }
    cs__cat_free(&cat);
    return rc;
}

/* A writer that opens the store writes the catalogs that are missing or
 * stale (every group on disk is closed: the writer starts a new one), and
 * removes those of groups that are gone. */
static void fix_catalogs(cs_store *s, const seg_list *l, const uint32_t *stale, size_t n_stale)
{
    char path[4096];

    for (size_t i = 0; i < n_stale; i++)
        if (cs__cat_write(s, stale[i]) < 0) {
            cs_log_warn("%s", cs_error_msg(CS_EIO));
            cs_error_clear();
        }
    for (size_t i = 0; i < l->n_cats; i++) {
        size_t k = lower_bound(l->ids, l->n, l->cats[i]);
        if (k == l->n || l->ids[k] - l->cats[i] >= s->partitions) {
            cs__cat_path(s, l->cats[i], path, sizeof(path));
            unlink(path);
        }
    }
}

static int store_scan(cs_store *s, int may_fix)
{
    seg_list l;
    uint32_t *stale = NULL;
    size_t n_stale = 0, cap_stale = 0;
    int rc;

    if ((rc = list_segments(s, may_fix, &l)) < 0)
        return rc;
    for (size_t i = 0, j; i < l.n && rc == 0; i = j) {
        uint32_t first = cs_store_group_of(l.ids[i], s->partitions);
        int is_stale = 0;
        for (j = i + 1; j < l.n && cs_store_group_of(l.ids[j], s->partitions) == first; j++)
            ;
        if (s->partitions > 1)
            rc = scan_group(s, &l, i, j, first, may_fix, &is_stale);
        else
            for (size_t k = i; k < j && rc == 0; k++)
                rc = cs__seg_load(s, l.ids[k], l.taps[k], may_fix);
        if (rc == 0 && is_stale &&
            (rc = cs_grow((void **)&stale, &cap_stale, n_stale + 1, sizeof(uint32_t))) == 0)
            stale[n_stale++] = first;
    }
    if (rc == 0 && may_fix && (s->flags & CS_STORE_WRITE) && s->partitions > 1)
        fix_catalogs(s, &l, stale, n_stale);
    seg_list_free(&l);
    cs_free(stale);
    if (rc == 0)
        rc = read_next_id(s);
    return rc;
}

static int store_init_paths(cs_store *s, const char *dir)
{
    int rc;

    s->dir = cs_strdup(dir);
    if (s->dir == NULL)
        return CS_ENOMEM;
    if ((rc = join_path(&s->pktdir, dir, "packets")) < 0)
        return rc;
    return 0;
}

static int store_prepare_dir(cs_store *s)
{
    struct stat st;
    char marker[4096];

    snprintf(marker, sizeof(marker), "%s/%s", s->dir, STORE_MARKER);
    if (stat(s->dir, &st) == 0 && !S_ISDIR(st.st_mode))
        return cs_error_set(CS_ENOTSTORE, "%s is not a directory", s->dir);
    if (access(marker, F_OK) == 0)
        return settings_read(s);
    if (!(s->flags & CS_STORE_CREATE)) {
        if (stat(s->dir, &st) != 0)
            return cs_error_set(CS_ENOTFOUND, "no store at %s", s->dir);
        return cs_error_set(CS_ENOTSTORE, "%s is not a capstream store", s->dir);
    }
    return store_create(s);
}

static int store_apply_opts(cs_store *s, const cs_store_opts *o)
{
    int changed = 0;

    if (o->partitions && o->partitions != s->partitions)
        return cs_error_set(CS_EINVAL,
                            "the store at %s has %" PRIu32 " partitions; a partition count "
                            "applies only when a store is created",
                            s->dir, s->partitions);
    if (o->segment_bytes && o->segment_bytes != s->segment_bytes) {
        s->segment_bytes = o->segment_bytes;
        changed = 1;
    }
    if (o->set_max_bytes && o->max_bytes != s->max_bytes) {
        s->max_bytes = o->max_bytes;
        changed = 1;
    }
    if (o->set_max_message_bytes && o->max_message_bytes != s->max_message_bytes) {
        s->max_message_bytes = o->max_message_bytes;
        changed = 1;
    }
    if (s->segment_bytes == 0)
        s->segment_bytes = CS_STORE_DEFAULT_SEGMENT_BYTES;
    if (s->segment_bytes > UINT32_MAX)
        s->segment_bytes = UINT32_MAX;
    return changed ? settings_write(s) : 0;
}

int cs_store_open(const char *dir, const cs_store_opts *opts, cs_store **out)
{
    cs_store *s = cs_calloc(1, sizeof(*s));
    int rc, locked;

    *out = NULL;
    if (s == NULL)
        return CS_ENOMEM;
    s->flags = opts->flags;
    s->lock_fd = s->rd_fd = -1;
    cs_order_writer_init(&s->ord); /* no record open: its fd is -1, not 0 */
    pthread_mutex_init(&s->victim_mu, NULL);
    s->partitions = opts->partitions ? opts->partitions : CS_STORE_DEFAULT_PARTITIONS;
    if (s->partitions > CS_STORE_MAX_PARTITIONS) {
        rc = cs_error_set(CS_EINVAL, "at most %u partitions", CS_STORE_MAX_PARTITIONS);
        goto err;
    }
    if ((rc = store_init_paths(s, dir)) < 0 || (rc = store_prepare_dir(s)) < 0)
        goto err;
    if ((rc = locked = store_lock(s)) < 0)
        goto err;
    if ((s->flags & CS_STORE_WRITE) && (rc = store_apply_opts(s, opts)) < 0)
        goto err;
    if (s->segment_bytes == 0)
        s->segment_bytes = CS_STORE_DEFAULT_SEGMENT_BYTES;
    if ((rc = store_scan(s, locked && access(s->pktdir, W_OK) == 0)) < 0)
        goto err;
    if (!(s->flags & CS_STORE_WRITE) && s->lock_fd >= 0) {
        close(s->lock_fd); /* readers keep no lock on the store itself */
        s->lock_fd = -1;
    }
    *out = s;
    return 0;
err:
    cs_store_close(s);
    return rc;
}

/* ---- info and close --------------------------------------------------- */

void cs_store_info_get(cs_store *s, cs_store_info *info)
{
    memset(info, 0, sizeof(*info));
    info->max_bytes = s->max_bytes;
    info->max_message_bytes = s->max_message_bytes;
    info->segment_bytes = s->segment_bytes;
    info->partitions = s->partitions;
    info->repaired = s->repaired;
    info->deleted_segments = s->deleted;
    info->written_packets = s->pkts_written;
    info->lost_packets = s->pkts_lost;
    info->full = s->full;
    for (size_t i = 0; i < s->n_segs; i++) {
        const cs_segment *g = &s->segs[i];
        if (g->idx.n_pkts == 0)
            continue;
        if (info->segments == 0 || g->idx.min_ts < info->min_ts)
            info->min_ts = g->idx.min_ts;
        if (info->segments == 0 || g->idx.max_ts > info->max_ts)
            info->max_ts = g->idx.max_ts;
        if (info->segments == 0)
            info->first_segment = g->id;
        if (info->segments == 0 || cs_store_group_of(g->id, s->partitions) !=
                                       cs_store_group_of(info->last_segment, s->partitions)) {
            info->groups++;
            if (s->partitions > 1) /* the group's capture-order record (order.h) */
                info->index_bytes +=
                    cs_order_file_bytes(s->pktdir, cs_store_group_of(g->id, s->partitions));
        }
        info->last_segment = g->id;
        info->segments++;
        info->packets += g->idx.n_pkts;
        cs_link_count_add(info->links, &info->n_links, g->idx.linktype, g->idx.n_pkts);
        info->packet_bytes += g->disk_bytes;
        info->index_bytes += g->aux_bytes;
    }
}

const char *cs_store_dir(const cs_store *s)
{
    return s->dir;
}

int cs_store_close(cs_store *s)
{
    int rc = 0;

    if (s == NULL)
        return 0;
    rc = cs_store_finish(s);
    if (s->aio != NULL) {
        int rc2 = cs_aio_free(s->aio);
        s->aio = NULL;
        if (rc == 0)
            rc = rc2;
    }
    cs__seg_unmap(s);
    for (size_t i = 0; i < s->n_segs; i++)
        cs_idx_unload(&s->segs[i].idx);
    cs_free(s->segs);
    for (size_t i = 0; i < s->n_cats; i++)
        cs__cat_free(&s->cats[i]);
    cs_free(s->cats);
    cs_free(s->cat_wait);
    cs_free(s->closing);
    cs__writers_free(s);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    cs_free(s->dir);
    cs_free(s->pktdir);
    pthread_mutex_destroy(&s->victim_mu);
    cs_free(s);
    return rc;
}

/* ---- reading ---------------------------------------------------------- */

void cs__seg_unmap(cs_store *s)
{
    if (s->rd_map)
        munmap((void *)s->rd_map, s->rd_size);
    if (s->rd_fd >= 0)
        close(s->rd_fd); /* drops the shared lock */
    s->rd_map = NULL;
    s->rd_fd = -1;
    s->rd_size = 0;
    s->rd_id = 0;
}

int cs__seg_map(cs_store *s, uint32_t id)
{
    char path[4096];
    struct stat st;
    void *m;

    if (s->rd_map && s->rd_id == id)
        return 0;
    cs__seg_unmap(s);
    cs__seg_path(s, id, "pcap", path, sizeof(path));
    s->rd_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->rd_fd < 0)
        return cs_error_set(CS_ENOTFOUND, "segment %" PRIu32 " is gone (retention)", id);
    flock(s->rd_fd, LOCK_SH);
    if (fstat(s->rd_fd, &st) < 0 || st.st_size < 24) {
        cs__seg_unmap(s);
        return cs_error_set(CS_ECORRUPT, "segment %" PRIu32 " is empty", id);
    }
    m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, s->rd_fd, 0);
    if (m == MAP_FAILED) {
        cs__seg_unmap(s);
        return cs_error_set(CS_EIO, "mmap %s: %s", path, strerror(errno));
    }
    s->rd_map = m;
    s->rd_size = (size_t)st.st_size;
    s->rd_id = id;
    return 0;
}

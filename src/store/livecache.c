/*
 * livecache.c - indexes a live segment (one another process is writing)
 * for a reader, scanning only the packets no earlier open of this process
 * has scanned.
 *
 * A reader indexes a live segment in memory: its writer's last checkpoint
 * (an index file covering the segment's first ckpt_bytes) plus a scan of
 * the packets written after it. A process that opens the store again and
 * again (the daemon's API and `serve`: every /status, packet download and
 * measurement detail) would rescan that tail each time, and the tail grows
 * to a quarter of what the partition has written before the writer's next
 * checkpoint. So the builder of each live segment is kept, process-wide:
 *
 *   entry (pcap dev, ino) ── ck:      the checkpoint, loaded and verified
 *                         ├─ b:       builder seeded from ck, then fed the
 *                         │           packets [ck.pcap_bytes, scanned)
 *                         └─ idx_id:  the index file's (dev, ino, size, mtime)
 *
 * A segment without a checkpoint yet (a partition's first few MiB) has no
 * index file: its entry has no ck, idx_id all zero, and its builder is fed
 * the packets from the pcap header on.
 *
 * An open finds the entry of the segment's pcap. If the index file is the
 * one the entry was seeded from and the pcap is not shorter than what was
 * scanned, it scans [scanned, end) into the builder and serializes an
 * index from it; otherwise (a new checkpoint: the writer renames a fresh
 * index file into place; a repair; a cut) the entry starts again from the
 * index file. The pcap is only appended to while its writer lives, and a
 * repair rewrites the index, so an unchanged index file means the bytes
 * already scanned are unchanged. A segment that is no longer live (its
 * index covers the whole pcap) is not cached here. Inodes are reused once
 * retention (or a user) deletes files, so an entry also names the store's
 * directory and the segment id, and keeps the pcap's first record header
 * (its capture time), checked at each open.
 *
 * Entries unused for ENTRY_IDLE_NS are freed at the next open of any
 * segment, so closed groups do not keep their builders; at most
 * ENTRIES_MAX are kept. Threading: one mutex over the table; the scan
 * runs under it, so two threads opening the same segment scan it once.
 */
#include "store/store_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timefmt.h"
#include "core/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ENTRIES_MAX 512
#define HEAD_LEN 16 /* a record header: its time tells two files apart */
#define NS_PER_SEC 1000000000LL
#define ENTRY_IDLE_NS (60 * NS_PER_SEC)

typedef struct file_id {
    uint64_t dev, ino, size;
    int64_t mtime_ns;
} file_id;

typedef struct live_entry {
    int used;
    uint64_t pcap_dev, pcap_ino;
    uint64_t dir_hash;      /* of the store's packet directory */
    uint8_t head[HEAD_LEN]; /* the pcap's first bytes after its file header */
    uint32_t seg_id;
    file_id idx_id;
    int has_ck;
    cs_idx ck;
    cs_idx_builder b;
    uint64_t scanned; /* pcap offset after the last packet fed to b */
    uint32_t linktype, snaplen;
    int64_t used_ns; /* CLOCK_MONOTONIC of the last open */
} live_entry;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static live_entry cache[ENTRIES_MAX];
static cs__livecache_stats stats;

static file_id id_of(const struct stat *st)
{
    return (file_id){(uint64_t)st->st_dev, (uint64_t)st->st_ino, (uint64_t)st->st_size,
                     (int64_t)st->st_mtim.tv_sec * NS_PER_SEC + st->st_mtim.tv_nsec};
}

static int same_file(const file_id *a, const file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns;
}

/* The first HEAD_LEN bytes of "pcap" after its file header (zeros where
 * it is shorter). */
static void pcap_head(const char *pcap, uint8_t head[HEAD_LEN])
{
    int fd = open(pcap, O_RDONLY | O_CLOEXEC);

    memset(head, 0, HEAD_LEN);
    if (fd < 0)
        return;
    if (pread(fd, head, HEAD_LEN, CS_PCAP_FILEHDR) < 0)
        memset(head, 0, HEAD_LEN);
    close(fd);
}

static void entry_free(live_entry *e)
{
    cs_idxb_free(&e->b);
    cs_idx_unload(&e->ck);
    memset(e, 0, sizeof(*e));
}

/* Frees the entries idle since before "now" - ENTRY_IDLE_NS. */
static void sweep(int64_t now)
{
    for (size_t i = 0; i < ENTRIES_MAX; i++)
        if (cache[i].used && now - cache[i].used_ns > ENTRY_IDLE_NS)
            entry_free(&cache[i]);
}

/* The entry of the pcap (dev, ino), or a free one (the least recently
 * used if none is free, emptied). */
static live_entry *entry_for(const struct stat *pcap)
{
    live_entry *lru = &cache[0];

    for (size_t i = 0; i < ENTRIES_MAX; i++)
        if (cache[i].used && cache[i].pcap_dev == (uint64_t)pcap->st_dev &&
            cache[i].pcap_ino == (uint64_t)pcap->st_ino)
            return &cache[i];
    for (size_t i = 0; i < ENTRIES_MAX; i++) {
        if (!cache[i].used)
            return &cache[i];
        if (cache[i].used_ns < lru->used_ns)
            lru = &cache[i];
    }
    entry_free(lru);
    return lru;
}

/*
 * (Re)starts "e" from the index file "idxp" (identity "idx_id"; NULL: there
 * is none) of segment "id": loads and verifies the checkpoint and seeds the
 * builder from it. 0 if the segment is live (the checkpoint covers less
 * than the pcap), 1 if it is not (nothing cached), negative on a damaged
 * checkpoint.
 */
static int entry_start(live_entry *e, uint32_t id, const char *idxp, const file_id *idx_id,
                       const struct stat *pcap)
{
    int rc;

    entry_free(e);
    cs_idxb_init(&e->b);
    e->has_ck = idx_id != NULL;
    if (e->has_ck && (rc = cs_idx_load(idxp, &e->ck)) < 0) {
        entry_free(e);
        return rc;
    }
    if (e->has_ck && (e->ck.segment_id != id || e->ck.pcap_bytes >= (uint64_t)pcap->st_size)) {
        entry_free(e);
        return 1;
    }
    if (e->has_ck && ((rc = cs_idx_verify(&e->ck)) < 0 || (rc = cs_idxb_seed(&e->b, &e->ck)) < 0)) {
        entry_free(e);
        return rc;
    }
    e->used = 1;
    e->pcap_dev = (uint64_t)pcap->st_dev;
    e->pcap_ino = (uint64_t)pcap->st_ino;
    e->seg_id = id;
    e->idx_id = idx_id ? *idx_id : (file_id){0, 0, 0, 0};
    e->scanned = e->has_ck ? e->ck.pcap_bytes : CS_PCAP_FILEHDR;
    e->linktype = e->ck.linktype; /* without a checkpoint: the first scan says */
    e->snaplen = e->ck.snaplen;
    return 0;
}

/* Feeds the packets of "pcap" after e->scanned to the builder. */
static int entry_scan(cs_store *s, live_entry *e, const char *pcap)
{
    cs_tap_run *taps = NULL;
    size_t n_taps = 0;
    uint64_t valid = 0;
    uint32_t linktype = 0, snaplen = 0;
    int rc;

    if ((rc = cs__seg_taps(s, e->seg_id, &taps, &n_taps)) < 0)
        return rc;
    rc = cs_idx_scan_pcap(pcap, e->scanned, taps, n_taps, &e->b, &valid, &linktype, &snaplen);
    cs_free(taps);
    if (rc == 0 && !e->has_ck && e->scanned == CS_PCAP_FILEHDR) {
        e->linktype = linktype;
        e->snaplen = snaplen;
    }
    if (rc == 0 && (linktype != e->linktype || snaplen != e->snaplen))
        rc = cs_error_set(CS_ECORRUPT, "segment %" PRIu32 ": checkpoint does not match", e->seg_id);
    if (rc == 0) {
        stats.bytes_scanned += valid - e->scanned;
        e->scanned = valid;
    }
    return rc;
}

static int index_live(cs_store *s, cs_segment *seg, const char *pcap, const char *idxp)
{
    struct stat pst, ist;
    file_id idx_id;
    uint8_t head[HEAD_LEN];
    uint64_t dir_hash;
    live_entry *e;
    cs_idx_meta meta;
    int rc;

    if (stat(pcap, &pst) < 0)
        return 1; /* the caller's path reports what is missing */
    if (stat(idxp, &ist) == 0)
        idx_id = id_of(&ist);
    else if (errno == ENOENT)
        idx_id = (file_id){0, 0, 0, 0}; /* no checkpoint yet */
    else
        return 1;
    dir_hash = cs_hash64(s->pktdir, strlen(s->pktdir), 0);
    pcap_head(pcap, head);
    sweep(cs_mono_ns());
    e = entry_for(&pst);
    if (e->used && e->seg_id == seg->id && e->dir_hash == dir_hash &&
        memcmp(e->head, head, HEAD_LEN) == 0 && same_file(&e->idx_id, &idx_id) &&
        (uint64_t)pst.st_size >= e->scanned)
        stats.resumed++;
    else if ((rc = entry_start(e, seg->id, idxp, idx_id.ino ? &idx_id : NULL, &pst)) == 0) {
        stats.starts++;
        e->dir_hash = dir_hash;
        memcpy(e->head, head, HEAD_LEN);
    } else
        return rc;
    e->used_ns = cs_mono_ns();
    if ((rc = entry_scan(s, e, pcap)) < 0) {
        entry_free(e); /* what it fed the builder is not known: start again next time */
        return rc;
    }
    meta = (cs_idx_meta){seg->id, e->linktype, e->snaplen, e->scanned};
    if ((rc = cs_idx_from_builder(&e->b, &meta, &seg->idx)) < 0)
        return rc;
    seg->live = 1;
    seg->ckpt_bytes = e->has_ck ? e->ck.pcap_bytes : 0;
    return 0;
}

int cs__seg_index_live(cs_store *s, cs_segment *seg)
{
    char pcap[4096], idxp[4096];
    int rc;

    cs__seg_path(s, seg->id, "pcap", pcap, sizeof(pcap));
    cs__seg_path(s, seg->id, "idx", idxp, sizeof(idxp));
    pthread_mutex_lock(&cache_lock);
    rc = index_live(s, seg, pcap, idxp);
    pthread_mutex_unlock(&cache_lock);
    return rc;
}

void cs__livecache_stats_get(cs__livecache_stats *out)
{
    pthread_mutex_lock(&cache_lock);
    *out = stats;
    pthread_mutex_unlock(&cache_lock);
}

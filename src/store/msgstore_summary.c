/*
 * msgstore_summary.c - the process-wide summaries of message store files,
 * with their key filters, and the reader's pass over one file that skips
 * files they rule out and fills them in as a by-product.
 *
 * How it works. Counting the records of a file, or knowing which times it
 * holds, needs a pass over it (records have no fixed size and files no
 * index). A process that asks again and again (the daemon's API) keeps,
 * per file, what the last pass saw: records, the offset after the last
 * good record, the first and last record time, and where the last record
 * starts with its checksum. The table is process-wide, behind a mutex, and
 * keyed by (device, inode, kind), so any reader of any store shares it.
 *
 *   stat(file) ─► entry with this size and mtime ──► use it as is
 *             └─► entry, file grew, its last record ─► read only the tail
 *                 still there (same offset + check)    from valid_end on
 *             └─► otherwise ───────────────────────► full pass
 *
 * Message files are only appended to, or replaced by rename (a new inode);
 * the writer's cut of a torn tail shrinks the file (a full pass again). An
 * inode reused by another file fails the last-record check. The table
 * holds at most SUM_CAP entries and is emptied when it fills. A query that
 * reads a whole file anyway fills in its summary as a by-product, so the
 * first time-filtered query costs one pass, the next ones skip the files
 * outside their range. Those passes checksum every record they read, so a
 * later reader of the file checksums only what lies past the summary's
 * valid_end (cs__scanbuf.trusted_end): what the checksums guard against,
 * a torn or cut write, shows on the first pass, and files change only by
 * appends, cuts and renames, each of which a summary notices.
 *
 * Key filters. The same passes also note every record's key (a message's
 * key, a measurement's key) and its id (hashed with a seed of its own) in
 * the file's key filter, so that a lookup by key (?key=) opens only the
 * files that may hold it, and a lookup by key or id in a file reads only
 * the spans that a block which may hold it overlaps. A key filter is a
 * list of Bloom filters ("blocks") of KF_BITS bits, each taking the next
 * KF_BLOCK_KEYS entries of the file and noting where its first record
 * lies; a tail read extends the last block or adds one, so a growing file
 * never needs a rebuild:
 *
 *   fsum.kf ──► [ block 0: entries 1..1024 ][ block 1: 1025..2048 ][ ...
 *               each KF_BITS bits; key k sets bits (h1 + i*h2) mod KF_BITS,
 *               i < KF_PROBES, where h1 | h2 << 32 = cs_hash64(k, KF_SEED);
 *               starts[b]: the file offset of block b's first record
 *
 * A key is absent from the file if some probe of every block is clear.
 * With 16 bits an entry and 11 probes a block answers "maybe" for an
 * absent key with probability (1 - e^(-11/16))^11 ~ 0.05 %, a file of
 * 20,000 keyed records (40 blocks) ~ 2 %. Memory: 2 bytes an entry, 4 a
 * keyed record. A filter
 * belongs to its table entry; callers get copies of an entry without it
 * (kf.ok = 0) and ask sum_may_hold_key(), which tests it under the lock.
 * A filter is trusted only while its entry matches the file's current
 * size and mtime; a filter that could not be allocated is marked not ok
 * and the file is then always read.
 *
 * Spans. The passes also note, per CS__SPAN_RECORDS records, where they
 * lie and their id and time bounds (cs__spans, msgstore_spans.c), owned
 * like the key filter. A lookup by id, key or time range in a current
 * file reads the spans that may hold it (spans_choose(): bounds, then the
 * key filter blocks that overlap each span) and then what was appended
 * after the summary; with more than half the spans chosen, the whole file.
 *
 * Latency blocks. The passes over a measurement file also note, per 256
 * records, their offsets and latency bounds per pair (cs__latblocks,
 * msgstore_latblocks.c), owned and copied like the key filter; a sorted
 * query reads a current file by them (h->order). A query for one pair
 * (h->pair), in any order, reads of a current file only the blocks that
 * may hold the pair (blocks_choose(): the pair, then the time range and
 * key filter as for spans), in file order, then what was appended after
 * the summary: a file none of whose blocks holds the pair is passed over,
 * and store order is kept. A hash shared by two pairs only makes it read
 * a block for nothing; the query's own filter still decides each record.
 *
 * Threading: the table (sum_tab) is shared by every thread of the
 * process and touched only under sum_lock; entries are copied out, never
 * pointed to, except by sum_may_hold_key() under the lock. The pass over
 * a file uses its reader's buffers (one reader, one thread at a time).
 */
#include "store/msgstore.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/hash.h"
#include "store/msgstore_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUM_CAP 8192 /* power of two */
#define KF_BITS (1u << 14)
#define KF_WORDS (KF_BITS / 64)
#define KF_BLOCK_KEYS 1024
#define KF_PROBES 11
#define KF_SEED 0x6b657966696c7472ull
#define KF_ID_SEED 0x6964ull
#define RANGE_MAX (1u << 20) /* chosen ranges that touch are joined up to this size */

static void kf_free(cs__keyfilter *kf)
{
    cs_free(kf->words);
    cs_free(kf->starts);
    memset(kf, 0, sizeof(*kf));
}

/* A copy of "src" into "dst" (not ok if it cannot be allocated). */
static void kf_dup(cs__keyfilter *dst, const cs__keyfilter *src)
{
    size_t bytes = src->n_blocks * KF_WORDS * sizeof(uint64_t);
    size_t starts = src->n_blocks * sizeof(uint64_t);

    memset(dst, 0, sizeof(*dst));
    if (!src->ok || (bytes > 0 && (dst->words = cs_malloc(bytes)) == NULL))
        return;
    if (bytes > 0 && (dst->starts = cs_malloc(starts)) == NULL) {
        kf_free(dst);
        return;
    }
    if (bytes > 0) {
        memcpy(dst->words, src->words, bytes);
        memcpy(dst->starts, src->starts, starts);
    }
    dst->n_blocks = src->n_blocks;
    dst->last_keys = src->last_keys;
    dst->ok = 1;
}

static uint64_t kf_hash(const uint8_t *key, size_t len)
{
    return cs_hash64(key, len, KF_SEED);
}

/* A record id as a key filter entry (its own seed: never a key's hash). */
static uint64_t kf_id_hash(uint64_t id)
{
    return cs_hash64(&id, sizeof(id), KF_SEED ^ KF_ID_SEED);
}

/* Does block "w" have every probe bit of hash "h" set? */
static int kf_block_has(const uint64_t *w, uint64_t h)
{
    uint32_t h1 = (uint32_t)h, h2 = (uint32_t)(h >> 32) | 1u;

    for (uint32_t i = 0; i < KF_PROBES; i++) {
        uint32_t bit = (h1 + i * h2) & (KF_BITS - 1);

        if (!(w[bit / 64] & (1ull << (bit % 64))))
            return 0;
    }
    return 1;
}

/* Adds a block whose first keyed record is at "off"; 0, or -1 (then the
 * filter is not ok). */
static int kf_new_block(cs__keyfilter *kf, uint64_t off)
{
    size_t words = (kf->n_blocks + 1) * KF_WORDS;
    uint64_t *w = cs_realloc(kf->words, words * sizeof(*w)), *s;

    if (w != NULL)
        kf->words = w;
    s = w ? cs_realloc(kf->starts, (kf->n_blocks + 1) * sizeof(*s)) : NULL;
    if (s == NULL) {
        kf_free(kf);
        return -1;
    }
    kf->starts = s;
    memset(w + kf->n_blocks * KF_WORDS, 0, KF_WORDS * sizeof(*w));
    s[kf->n_blocks] = off;
    return 0;
}

/* Notes the key of hash "h" of the record at "off"; a failed allocation
 * makes the filter not ok. */
static void kf_add(cs__keyfilter *kf, uint64_t h, uint64_t off)
{
    uint32_t h1 = (uint32_t)h, h2 = (uint32_t)(h >> 32) | 1u;
    uint64_t *w;

    if (!kf->ok)
        return;
    if (kf->n_blocks == 0 || kf->last_keys == KF_BLOCK_KEYS) {
        if (kf_new_block(kf, off) < 0)
            return;
        kf->n_blocks++;
        kf->last_keys = 0;
    }
    w = kf->words + (kf->n_blocks - 1) * KF_WORDS;
    for (uint32_t i = 0; i < KF_PROBES; i++) {
        uint32_t bit = (h1 + i * h2) & (KF_BITS - 1);

        w[bit / 64] |= 1ull << (bit % 64);
    }
    kf->last_keys++;
}

/* 0 if "kf" proves that no key of hash "h" was added, else 1. */
static int kf_may_hold(const cs__keyfilter *kf, uint64_t h)
{
    if (!kf->ok)
        return 1;
    for (size_t b = 0; b < kf->n_blocks; b++)
        if (kf_block_has(kf->words + b * KF_WORDS, h))
            return 1;
    return 0;
}

/* Frees what a summary owns beside its numbers: key filter, latency blocks. */
static void sum_att_free(cs__fsum *v)
{
    kf_free(&v->kf);
    cs__lb_free(&v->lb);
    cs__spans_free(&v->sp);
}

static pthread_mutex_t sum_lock = PTHREAD_MUTEX_INITIALIZER;
static cs__fsum *sum_tab; /* SUM_CAP slots, allocated on first use */
static size_t sum_used;

static size_t sum_slot(uint64_t dev, uint64_t ino, int kind)
{
    uint64_t h = (dev * 0x9e3779b97f4a7c15ull) ^ (ino * 0xc2b2ae3d27d4eb4full) ^ (uint64_t)kind;

    return (size_t)(h ^ (h >> 29)) & (SUM_CAP - 1);
}

/* The slot of (dev, ino, kind), or the free slot where it would go; NULL
 * if the table cannot be allocated. Call with sum_lock held. */
static cs__fsum *sum_find(uint64_t dev, uint64_t ino, int kind)
{
    size_t i;

    if (sum_tab == NULL) {
        if ((sum_tab = cs_calloc(SUM_CAP, sizeof(*sum_tab))) == NULL)
            return NULL;
        for (i = 0; i < SUM_CAP; i++)
            sum_tab[i].kind = -1;
    }
    for (i = sum_slot(dev, ino, kind);; i = (i + 1) & (SUM_CAP - 1)) {
        cs__fsum *e = &sum_tab[i];

        if (e->kind < 0 || (e->dev == dev && e->ino == ino && e->kind == kind))
            return e;
    }
}

/* Stores "*v" in the table, which takes over its key filter ("v->kf" is
 * then not ok: the caller's copy no longer owns it). */
static void sum_store(cs__fsum *v)
{
    cs__fsum *e;

    pthread_mutex_lock(&sum_lock);
    if (sum_used >= SUM_CAP * 3 / 4 && sum_tab) {
        for (size_t i = 0; i < SUM_CAP; i++) {
            if (sum_tab[i].kind >= 0)
                sum_att_free(&sum_tab[i]);
            sum_tab[i].kind = -1;
        }
        sum_used = 0;
    }
    if ((e = sum_find(v->dev, v->ino, v->kind)) != NULL) {
        if (e->kind >= 0)
            sum_att_free(e);
        sum_used += e->kind < 0;
        *e = *v;
    } else
        sum_att_free(v);
    memset(&v->kf, 0, sizeof(v->kf));
    memset(&v->lb, 0, sizeof(v->lb));
    memset(&v->sp, 0, sizeof(v->sp));
    pthread_mutex_unlock(&sum_lock);
}

static int64_t st_mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Does the table entry "e" describe the file as "st" shows it now? */
static int sum_current(const cs__fsum *e, const struct stat *st)
{
    return e->size == (uint64_t)st->st_size && e->mtime_ns == st_mtime_ns(st);
}

/*
 * 1 with "*out" if the table has an entry for this file, else 0. The copy
 * carries a key filter only if "dup_stale" and the entry is not current
 * (the caller is about to extend it by the file's new tail).
 */
static int sum_lookup(const struct stat *st, int kind, int dup_stale, cs__fsum *out)
{
    cs__fsum *e;
    int found = 0;

    pthread_mutex_lock(&sum_lock);
    e = sum_tab ? sum_find((uint64_t)st->st_dev, (uint64_t)st->st_ino, kind) : NULL;
    if (e && e->kind >= 0) {
        *out = *e;
        memset(&out->kf, 0, sizeof(out->kf));
        memset(&out->lb, 0, sizeof(out->lb));
        memset(&out->sp, 0, sizeof(out->sp));
        if (dup_stale && !sum_current(e, st)) {
            kf_dup(&out->kf, &e->kf);
            cs__lb_dup(&out->lb, &e->lb);
            cs__spans_dup(&out->sp, &e->sp);
        }
        found = 1;
    }
    pthread_mutex_unlock(&sum_lock);
    return found;
}

/* 1 with a copy of the latency blocks of the file "st" in "*out" if its
 * summary is current and they cover it, else 0. */
static int sum_blocks(const struct stat *st, int kind, cs__latblocks *out)
{
    cs__fsum *e;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&sum_lock);
    e = sum_tab ? sum_find((uint64_t)st->st_dev, (uint64_t)st->st_ino, kind) : NULL;
    if (e && e->kind >= 0 && sum_current(e, st) && !e->torn)
        cs__lb_dup(out, &e->lb);
    pthread_mutex_unlock(&sum_lock);
    return out->ok;
}

/* 0 if the current summary of the file "st" proves it holds no record
 * with key hash "h"; 1 if it may (or nothing is known). */
static int sum_may_hold_key(const struct stat *st, int kind, uint64_t h)
{
    cs__fsum *e;
    int may = 1;

    pthread_mutex_lock(&sum_lock);
    e = sum_tab ? sum_find((uint64_t)st->st_dev, (uint64_t)st->st_ino, kind) : NULL;
    if (e && e->kind >= 0 && sum_current(e, st))
        may = kf_may_hold(&e->kf, h);
    pthread_mutex_unlock(&sum_lock);
    return may;
}

static void sum_reset(cs__fsum *v, const struct stat *st, int kind)
{
    memset(v, 0, sizeof(*v));
    v->dev = (uint64_t)st->st_dev;
    v->ino = (uint64_t)st->st_ino;
    v->kind = kind;
    v->min_ts = INT64_MAX;
    v->max_ts = INT64_MIN;
    v->kf.ok = 1; /* empty, and complete for the no records seen */
    v->lb.ok = kind == CS__KIND_LAT;
    v->sp.ok = 1;
}

/* Notes one good frame (payload "p", "n" bytes) of a file being summarized. */
static void sum_frame(cs__fsum *v, const cs__scanbuf *sb, const uint8_t *p, size_t n)
{
    const uint8_t *key;
    size_t klen;
    int64_t ts;
    uint64_t off = cs__frame_offset(sb, p);

    if (v->kf.ok && cs__record_key(v->kind, p, n, &key, &klen) == 0)
        kf_add(&v->kf, kf_hash(key, klen), off);
    if (v->kf.ok && n >= sizeof(uint64_t)) /* every record starts with its id */
        kf_add(&v->kf, kf_id_hash(cs_rd_le64(p)), off);
    if (v->lb.ok)
        cs__lb_add(&v->lb, off, p, n);
    cs__spans_add(&v->sp, v->kind, off, p, n);
    v->records++;
    v->last_off = off;
    v->last_check = cs_rd_le64(p - CS__FRAME_PAYLOAD + CS__FRAME_CHECK);
    if (cs__record_ts(v->kind, p, n, &ts) == 0) {
        v->min_ts = ts < v->min_ts ? ts : v->min_ts;
        v->max_ts = ts > v->max_ts ? ts : v->max_ts;
    }
}

/* Is the last record the summary "v" saw still at its place in "fd"? */
static int sum_prefix_holds(int fd, const cs__fsum *v)
{
    uint8_t hdr[CS__FRAME_PAYLOAD];

    if (v->last_off == 0)
        return v->valid_end == CS__MSG_MAGIC_LEN;
    return pread(fd, hdr, sizeof(hdr), (off_t)v->last_off) == (ssize_t)sizeof(hdr) &&
           cs_rd_le64(hdr + CS__FRAME_CHECK) == v->last_check &&
           v->last_off + CS__FRAME_PAYLOAD + cs_rd_le32(hdr + CS__FRAME_LEN) == v->valid_end;
}

/* A query's frame callback wrapped so that the pass also summarizes. */
typedef struct sum_pass {
    cs__fsum v;
    const cs__scanbuf *sb;
    cs__frame_fn fn;
    void *ud;
    int summarize; /* 0: only pass the frames on */
} sum_pass;

static int sum_pass_frame(void *ud, const uint8_t *p, size_t n)
{
    sum_pass *sp = ud;

    if (sp->summarize)
        sum_frame(&sp->v, sp->sb, p, n);
    return sp->fn ? sp->fn(sp->ud, p, n) : 0;
}

/*
 * Brings the summary of the open file "fd" (kind "kind", stat "st") up to
 * date into "*v": from the table, by reading only its new tail, or (when
 * "full_ok") by a full pass. Returns 1 if "*v" is valid, 0 if a full pass
 * would be needed and "full_ok" is 0, negative on a read error.
 */
int cs__msgsum_update(int fd, const struct stat *st, int kind, cs__scanbuf *sb, int full_ok,
                      cs__fsum *v)
{
    sum_pass sp = {.sb = sb, .summarize = 1};
    cs__scan_result res;
    int known = sum_lookup(st, kind, 1, &sp.v), rc;

    if (known && sum_current(&sp.v, st)) {
        *v = sp.v;
        return 1;
    }
    /* ">=": a pass that read past the size it was stat'ed at (the file grew
     * meanwhile) left valid_end at the size seen now; only mtime moved */
    if (known && (uint64_t)st->st_size >= sp.v.valid_end && sum_prefix_holds(fd, &sp.v))
        rc = cs__msgfile_scan(fd, kind, sb, sp.v.valid_end, sum_pass_frame, &sp, &res);
    else if (full_ok) {
        sum_att_free(&sp.v);
        sum_reset(&sp.v, st, kind);
        rc = cs__msgfile_scan(fd, kind, sb, 0, sum_pass_frame, &sp, &res);
    } else {
        sum_att_free(&sp.v);
        return 0;
    }
    if (rc < 0 && rc != CS_ECORRUPT) {
        sum_att_free(&sp.v);
        return rc;
    }
    sp.v.valid_end = res.valid_end;
    sp.v.torn = res.torn || rc == CS_ECORRUPT;
    sp.v.size = (uint64_t)st->st_size;
    sp.v.mtime_ns = st_mtime_ns(st);
    sum_store(&sp.v);
    *v = sp.v;
    return 1;
}

static int hint_has_range(const cs__scan_hint *h)
{
    return h != NULL && (h->after != INT64_MIN || h->before != INT64_MAX);
}

static int hint_has_key(const cs__scan_hint *h)
{
    return h != NULL && h->key != NULL && h->key[0] != '\0';
}

static int hint_has_pair(const cs__scan_hint *h)
{
    return h != NULL && h->pair != NULL;
}

/* 1 with "*kh", the key filter entry a lookup by key or id in "h" tests,
 * if "h" has one and the file summarized by "e" a key filter to test it
 * on; else 0. */
static int hint_key_hash(const cs__fsum *e, const cs__scan_hint *h, uint64_t *kh)
{
    if (!(h->has_id || hint_has_key(h)) || !e->kf.ok)
        return 0;
    *kh = h->has_id ? kf_id_hash(h->id) : kf_hash((const uint8_t *)h->key, strlen(h->key));
    return 1;
}

/* Can span "sp" hold a record "h" asks for, by its id and time bounds? */
static int span_may_match(const cs__span *sp, const cs__scan_hint *h)
{
    if (h->has_id && (h->id < sp->min_id || h->id > sp->max_id))
        return 0;
    return !hint_has_range(h) || (sp->max_ts >= h->after && sp->min_ts < h->before);
}

/* Does a block of "kf" that may hold key hash "kh" overlap [start, end)?
 * Block i covers [starts[i], starts[i + 1]); "*b", the first block not
 * wholly before "start", moves on as the (ascending) ranges asked do. */
static int range_may_hold_key(const cs__keyfilter *kf, size_t *b, uint64_t start, uint64_t end,
                              uint64_t kh)
{
    while (*b + 1 < kf->n_blocks && kf->starts[*b + 1] <= start)
        (*b)++;
    for (size_t i = *b; i < kf->n_blocks && kf->starts[i] < end; i++)
        if (kf_block_has(kf->words + i * KF_WORDS, kh))
            return 1;
    return 0;
}

/* Appends [start, end) to the ranges "*v" ("*n" of them, "*cap" room),
 * joined to the last when they touch and the join stays within RANGE_MAX
 * bytes (each range is read into one buffer); -1 if out of memory. */
static int range_add(cs__range **v, size_t *n, size_t *cap, uint64_t start, uint64_t end)
{
    cs__range *last = *n > 0 ? &(*v)[*n - 1] : NULL;

    if (last && last->end == start && end - last->start <= RANGE_MAX) {
        last->end = end;
        return 0;
    }
    if (cs_grow((void **)v, cap, *n + 1, sizeof(**v)) < 0)
        return -1;
    (*v)[(*n)++] = (cs__range){start, end};
    return 0;
}

/* Drops the ranges chosen so far; returns 0 (read the file whole). */
static int ranges_drop(cs__range **out, size_t *n)
{
    cs_free(*out);
    *out = NULL;
    *n = 0;
    return 0;
}

/* Chooses the byte ranges of the file summarized by "e" that may hold what
 * "h" asks for: 1 with "*out" (cs_malloc'ed, "*n" ranges in file order,
 * perhaps none), or 0 when the file is better read whole. Called with
 * sum_lock held. */
typedef int (*ranges_fn)(const cs__fsum *e, const cs__scan_hint *h, cs__range **out, size_t *n);

/* ranges_fn by spans: their id and time bounds and the key filter; the
 * file whole when more than half its spans are chosen, or no memory. */
static int spans_choose(const cs__fsum *e, const cs__scan_hint *h, cs__range **out, size_t *n)
{
    const cs__spans *s = &e->sp;
    uint64_t kh = 0;
    int by_key = hint_key_hash(e, h, &kh);
    size_t b = 0, chosen = 0, cap = 0;

    if (!s->ok)
        return 0;
    for (size_t i = 0; i < s->n; i++) {
        const cs__span *sp = &s->v[i];

        if (!span_may_match(sp, h) ||
            (by_key && !range_may_hold_key(&e->kf, &b, sp->start, sp->end, kh)))
            continue;
        if (++chosen * 2 > s->n || range_add(out, n, &cap, sp->start, sp->end) < 0)
            return ranges_drop(out, n);
    }
    cs__spans_count(chosen, s->n - chosen);
    return 1;
}

/* Can latency block "b" hold a measurement "h" asks for, by its pair (of
 * hash "ph") and its time bounds? */
static int block_may_match(const cs__latblock *b, const cs__scan_hint *h, uint32_t ph)
{
    if (!cs__lb_may_hold_pair(b, ph))
        return 0;
    return !hint_has_range(h) || (b->max_ts >= h->after && b->min_ts < h->before);
}

/* ranges_fn by latency blocks, for a hint with a pair: the blocks that may
 * hold the pair, within the time range, that a key filter block which may
 * hold the key overlaps; the file whole when every block is chosen (or
 * none are known, or no memory). A file none of whose blocks holds the
 * pair gives no range: it is passed over. */
static int blocks_choose(const cs__fsum *e, const cs__scan_hint *h, cs__range **out, size_t *n)
{
    const cs__latblocks *lb = &e->lb;
    uint32_t ph = cs__lb_pair_hash(h->pair, strlen(h->pair));
    uint64_t kh = 0;
    int by_key = hint_key_hash(e, h, &kh);
    size_t b = 0, chosen = 0, cap = 0;

    if (!lb->ok)
        return 0;
    for (size_t i = 0; i < lb->n; i++) {
        const cs__latblock *blk = &lb->v[i];

        if (!block_may_match(blk, h, ph) ||
            (by_key && !range_may_hold_key(&e->kf, &b, blk->start, blk->end, kh)))
            continue;
        chosen++;
        if (range_add(out, n, &cap, blk->start, blk->end) < 0)
            return ranges_drop(out, n);
    }
    cs__lb_count(chosen, lb->n - chosen);
    return chosen == lb->n ? ranges_drop(out, n) : 1;
}

/* "choose" on the current, whole summary of the file "st"; 0 when there
 * is none. */
static int sum_ranges(const struct stat *st, int kind, const cs__scan_hint *h, ranges_fn choose,
                      cs__range **out, size_t *n)
{
    cs__fsum *e;
    int rc = 0;

    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&sum_lock);
    e = sum_tab ? sum_find((uint64_t)st->st_dev, (uint64_t)st->st_ino, kind) : NULL;
    if (e && e->kind >= 0 && sum_current(e, st) && !e->torn)
        rc = choose(e, h, out, n);
    pthread_mutex_unlock(&sum_lock);
    return rc;
}

/* Can the file summarized by "v" (stat "st") hold a record "h" asks for? */
static int sum_may_match(const cs__fsum *v, const struct stat *st, const cs__scan_hint *h)
{
    if (v->records == 0 || v->max_ts < h->after || v->min_ts >= h->before)
        return 0;
    return !hint_has_key(h) ||
           sum_may_hold_key(st, v->kind, kf_hash((const uint8_t *)h->key, strlen(h->key)));
}

/*
 * Reads, of the file "fd" summarized by "v" (current for "st"), only the
 * ranges "choose" says may hold what "h" asks for, then what was appended
 * after the summary; 1 if the file is better read whole, else 0 or
 * negative.
 */
static int scan_chosen(cs_msgreader *r, int fd, const struct stat *st, const cs__fsum *v,
                       const cs__scan_hint *h, ranges_fn choose, sum_pass *sp, cs__scan_result *res)
{
    cs__range *ranges;
    size_t n;
    int rc;

    if (!sum_ranges(st, v->kind, h, choose, &ranges, &n))
        return 1;
    rc = cs__scan_ranges(r, fd, ranges, n, sum_pass_frame, sp, res);
    cs_free(ranges);
    if (rc == 0 && !res->stopped && !res->torn) {
        r->sb.trusted_end = v->valid_end; /* nothing past it was checked */
        rc = cs__msgfile_scan(fd, v->kind, &r->sb, v->valid_end, sum_pass_frame, sp, res);
    }
    if (res->torn)
        r->torn++;
    return rc == CS_ECORRUPT ? 0 : rc;
}

/*
 * Streams the file (kind, seg) through "fn"; a missing file is empty. With
 * a range or a key in "h", a file whose summary (and key filter) says it
 * holds nothing asked for is skipped; a whole pass over a file not yet
 * summarized also fills in its summary and key filter. A file already
 * summarized (any "h", NULL too) is read without checksumming what its
 * summary's passes checked; a measurement file with its latency blocks,
 * block by block in the order h->order asks; with a pair in "h", only the
 * blocks that may hold it (and its range and key); with a range, key or
 * id in "h", only the spans that may hold it; then what was appended after
 * the blocks or spans. Each way falls back to the next when it would read
 * every block or more than half the spans.
 */
int cs__msgreader_scan_file(cs_msgreader *r, int kind, uint32_t seg, cs__frame_fn fn, void *ud,
                            cs__scan_result *res, const cs__scan_hint *h)
{
    char path[CS__MSG_PATH_MAX];
    struct stat st;
    sum_pass sp = {.sb = &r->sb, .fn = fn, .ud = ud};
    cs__fsum v;
    cs__latblocks lb;
    int fd, rc, known = 0;
    int use_sum = hint_has_range(h) || hint_has_key(h) || (h && h->has_id);

    memset(res, 0, sizeof(*res));
    cs__msgfile_path(path, r->dir, kind, seg, 0);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT
                   ? 0
                   : cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    r->cur_seg = seg;
    if (fstat(fd, &st) < 0) {
        rc = cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
        goto out;
    }
    /* a known summary also spares the pass its own work: the key filter's
     * hashes and the checksums of what it covers */
    if ((known = cs__msgsum_update(fd, &st, kind, &r->sb, 0, &v)) < 0) {
        rc = known;
        goto out;
    }
    if (known && use_sum && !sum_may_match(&v, &st, h)) {
        rc = 0; /* nothing asked for in this file */
        goto out;
    }
    if (known && h && h->order && sum_blocks(&st, kind, &lb)) {
        rc = cs__lb_scan(r, fd, &lb, h->order, sum_pass_frame, &sp, res);
        cs__lb_free(&lb);
        res->valid_end = v.valid_end;
        if (rc <= 0)
            goto out;
    }
    if (known && hint_has_pair(h) &&
        (rc = scan_chosen(r, fd, &st, &v, h, blocks_choose, &sp, res)) <= 0)
        goto out;
    if (known && use_sum && (rc = scan_chosen(r, fd, &st, &v, h, spans_choose, &sp, res)) <= 0)
        goto out;
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    sp.summarize = !known;
    if (sp.summarize)
        sum_reset(&sp.v, &st, kind);
    /* what the summary's passes read was checksummed then */
    r->sb.trusted_end = known && !v.torn ? v.valid_end : 0;
    rc = cs__msgfile_scan(fd, kind, &r->sb, 0, sum_pass_frame, &sp, res);
    if (rc >= 0 && !res->stopped && sp.summarize) {
        sp.v.valid_end = res->valid_end;
        sp.v.torn = res->torn;
        sp.v.size = (uint64_t)st.st_size;
        sp.v.mtime_ns = st_mtime_ns(&st);
        sum_store(&sp.v);
    }
    sum_att_free(&sp.v);
    if (rc == CS_ECORRUPT)
        rc = 0; /* a foreign file serves nothing */
    if (res->torn)
        r->torn++;
out:
    close(fd);
    return rc;
}

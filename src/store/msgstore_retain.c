/*
 * msgstore_retain.c - what the message store's writer deletes and
 * replaces: the retention budget (oldest segment groups go first) and the
 * replacement of a range of groups by a reanalysis. See msgstore.h for
 * the promises and msgstore_write.c for the writer these act on.
 *
 * Retention runs when the writer opens a file of a newer group than any
 * before: it sums the directory's bytes per file id (plus what is still in
 * the write buffers) and deletes whole groups, oldest first, while over
 * the budget.
 *
 * Replacement (reanalyze):
 *
 *   replace_range(first, last) ─► files of the range open for appending
 *                                 are closed; records for the range now go
 *                                 to NAME.bin.new (fresh the first time)
 *   close ─► carry over: records of the protocols not replaced are read
 *            from the old files and put into the .new ones
 *         ─► publish: every .new renamed over its NAME.bin; files of the
 *            range that got no new record unlinked (and stray .new files)
 *
 * Invariants:
 *   - Retention never deletes file 0 (packets not stored), the newest
 *     group's files, nor those of the group before it (the next-lower file
 *     id in the directory: late measurements are still filed there); it
 *     does nothing while a replacement is under way.
 *   - A reader sees either the old or the new records of a file, never a
 *     mix (rename is atomic). After an error nothing is replaced: the .new
 *     files are removed and the old records kept.
 *
 * Threading: the writer's thread only (as msgstore_write.c).
 */
#include "store/msgstore.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/sort.h"
#include "store/msgstore_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- retention ------------------------------------------------------------ */

typedef struct seg_bytes {
    uint32_t seg;
    uint64_t bytes;
} seg_bytes;

static int cmp_seg_bytes(const void *a, const void *b)
{
    uint32_t x = ((const seg_bytes *)a)->seg, y = ((const seg_bytes *)b)->seg;
    return x < y ? -1 : x > y;
}

/* The newest group and the one before it, "prev" (the next-lower file id
 * in the directory), still get records (a request answered after the next
 * group began files its measurement with it); file 0 always does. */
static int file_in_use(const cs_msgstore *w, uint32_t seg, uint32_t prev)
{
    return seg == 0 || seg >= w->newest_file || seg == prev;
}

/* The highest file id below the newest in "segs" (sorted), 0 if none. */
static uint32_t file_before_newest(const cs_msgstore *w, const seg_bytes *segs, size_t n)
{
    uint32_t prev = 0;

    for (size_t i = 0; i < n && segs[i].seg < w->newest_file; i++)
        prev = segs[i].seg;
    return prev;
}

/* Bytes per file id of the files in the directory (sorted by file id);
 * "*total" counts every file. */
static int list_seg_bytes(const cs_msgstore *w, seg_bytes **out, size_t *n, uint64_t *total)
{
    DIR *d = opendir(w->dir);
    struct dirent *e;
    size_t cap = 0;
    int rc = 0;

    *out = NULL;
    *n = 0;
    *total = 0;
    if (d == NULL)
        return cs_error_set(cs_error_from_errno(errno), "%s: %s", w->dir, strerror(errno));
    while ((e = readdir(d)) != NULL && rc == 0) {
        struct stat st;
        int kind, tmp;
        uint32_t seg;
        if (cs__msgfile_parse_name(e->d_name, &kind, &seg, &tmp) < 0 ||
            fstatat(dirfd(d), e->d_name, &st, 0) < 0)
            continue;
        *total += (uint64_t)st.st_size;
        if ((rc = cs_grow((void **)out, &cap, *n + 1, sizeof(**out))) == 0)
            (*out)[(*n)++] = (seg_bytes){seg, (uint64_t)st.st_size};
    }
    closedir(d);
    if (*n < 2)
        return rc;
    cs_qsort(*out, *n, sizeof(**out), cmp_seg_bytes);
    size_t j = 0; /* one entry per file id */
    for (size_t i = 1; i < *n; i++) {
        if ((*out)[i].seg == (*out)[j].seg)
            (*out)[j].bytes += (*out)[i].bytes;
        else
            (*out)[++j] = (*out)[i];
    }
    *n = j + 1;
    return rc;
}

static void delete_seg_files(cs_msgstore *w, uint32_t seg)
{
    char path[CS__MSG_PATH_MAX];

    for (int i = 0; i < CS__MSG_MAX_OPEN; i++) {
        if (w->files[i].kind >= 0 && w->files[i].seg == seg) {
            if (w->last[w->files[i].kind] == &w->files[i])
                w->last[w->files[i].kind] = NULL;
            cs__msgstore_err(w, cs__wfile_close(&w->files[i]));
        }
    }
    for (int k = 0; k < CS__N_KINDS; k++) {
        cs__msgfile_path(path, w->dir, k, seg, 0);
        if (unlink(path) == 0)
            w->deleted++;
    }
}

/* Deletes the oldest closed groups' files while over budget. */
void cs__msgstore_retain(cs_msgstore *w)
{
    seg_bytes *segs;
    size_t n;
    uint64_t total;
    uint32_t prev;

    if (w->max_bytes == 0 || w->replacing || list_seg_bytes(w, &segs, &n, &total) < 0) {
        cs_error_clear();
        return;
    }
    for (int f = 0; f < CS__MSG_MAX_OPEN; f++) { /* bytes still in the buffers count too */
        if (w->files[f].kind < 0)
            continue;
        total += w->files[f].used;
        for (size_t i = 0; i < n; i++)
            if (segs[i].seg == w->files[f].seg)
                segs[i].bytes += w->files[f].used;
    }
    prev = file_before_newest(w, segs, n);
    for (size_t i = 0; i < n && total > w->max_bytes; i++) {
        if (file_in_use(w, segs[i].seg, prev))
            continue;
        delete_seg_files(w, segs[i].seg);
        total -= segs[i].bytes;
    }
    cs_free(segs);
}

void cs_msgstore_set_budget(cs_msgstore *w, uint64_t max_bytes)
{
    w->max_bytes = max_bytes;
}

/* ---- reanalysis replacement ------------------------------------------------ */

static int tmp_seen(const cs_msgstore *w, int kind, uint32_t seg)
{
    for (size_t i = 0; i < w->n_tmps; i++)
        if (w->tmps[i].seg == seg && w->tmps[i].kind == kind)
            return 1;
    return 0;
}

/* Opens the replacement file of (kind, seg): fresh the first time, then appended. */
int cs__msgstore_open_replacement(cs_msgstore *w, int kind, uint32_t seg, int *fd, int *fresh)
{
    char path[CS__MSG_PATH_MAX];
    int seen = tmp_seen(w, kind, seg);

    cs__msgfile_path(path, w->dir, kind, seg, 1);
    if (!seen && cs_grow((void **)&w->tmps, &w->tmps_cap, w->n_tmps + 1, sizeof(*w->tmps)) < 0)
        return CS_ENOMEM;
    *fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (seen ? 0 : O_TRUNC), 0644);
    if (*fd < 0)
        return cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    if (!seen)
        w->tmps[w->n_tmps++] = (cs__tmpfile){seg, kind};
    *fresh = !seen;
    return 0;
}

int cs_msgstore_replace_range(cs_msgstore *w, uint32_t first_seg, uint32_t last_seg)
{
    if (w->replacing || first_seg > last_seg)
        return cs_error_set(CS_EINVAL, "bad replacement range %u..%u", (unsigned)first_seg,
                            (unsigned)last_seg);
    w->replacing = 1;
    w->rfirst = cs_store_group_of(first_seg, w->partitions);
    w->rlast = cs_store_group_of(last_seg, w->partitions);
    /* Files of the range already open for appending end here. */
    for (int i = 0; i < CS__MSG_MAX_OPEN; i++) {
        cs__wfile *f = &w->files[i];

        if (f->kind >= 0 && cs__msgstore_in_range(w, f->seg))
            cs__msgstore_err(w, cs__wfile_close(f));
    }
    return w->err;
}

int cs_msgstore_replace_protos(cs_msgstore *w, const char *const *protos)
{
    w->rprotos = protos;
    return 0;
}

static int proto_replaced(const cs_msgstore *w, const char *proto)
{
    if (w->rprotos == NULL)
        return 1;
    for (size_t i = 0; w->rprotos[i] != NULL; i++)
        if (proto != NULL && strcmp(w->rprotos[i], proto) == 0)
            return 1;
    return 0;
}

static int keep_message(void *ud, const cs_message *m)
{
    cs_msgstore *w = ud;

    if (!proto_replaced(w, m->proto))
        cs_msgstore_put_message(w, m);
    return 0;
}

static int keep_measurement(void *ud, const cs_measurement *ms)
{
    cs_msgstore *w = ud;

    if (!proto_replaced(w, ms->pair))
        cs_msgstore_put_measurement(w, ms);
    return 0;
}

static int keep_unmatched(void *ud, const cs_message *m, int kind)
{
    cs_msgstore *w = ud;

    if (!proto_replaced(w, m->proto))
        cs_msgstore_put_unmatched(w, m, kind);
    return 0;
}

typedef struct gap_keep {
    cs_msgstore *w;
    cs__recdec dec;
} gap_keep;

static int keep_gap_frame(void *ud, const uint8_t *p, size_t n)
{
    gap_keep *k = ud;
    cs_gap g;

    if (cs__decode_gap(p, n, &k->dec, &g) == 0 && !proto_replaced(k->w, g.proto))
        cs_msgstore_put_gap(k->w, &g);
    return 0;
}

/* The gaps of file image "data" ("len" bytes) of the protocols not replaced. */
static void carry_over_gaps(cs_msgstore *w, const uint8_t *data, size_t len)
{
    gap_keep k = {.w = w};
    size_t used, need;

    if (len < CS__MSG_MAGIC_LEN ||
        memcmp(data, cs__msgfile_magic[CS__KIND_GAP], CS__MSG_MAGIC_LEN) != 0)
        return;
    cs__msgfile_frames(data + CS__MSG_MAGIC_LEN, len - CS__MSG_MAGIC_LEN, 0, &used, &need,
                       keep_gap_frame, &k);
    cs__recdec_free(&k.dec);
}

/* Reads the old file "name" of the range and puts back the records of the
 * protocols that are not being replaced. */
static int carry_over_file(cs_msgstore *w, const char *name, int kind)
{
    static const char kinds[CS__N_KINDS] = {'m', 'l', 'u', 'g'};
    char path[CS__MSG_PATH_MAX];
    struct stat st;
    uint8_t *data = NULL;
    int fd, rc = 0;

    snprintf(path, sizeof(path), "%s/%s", w->dir, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (fstat(fd, &st) == 0 && st.st_size > 0 && (data = cs_malloc((size_t)st.st_size)) != NULL) {
        if (pread(fd, data, (size_t)st.st_size, 0) != st.st_size)
            rc = 0; /* unreadable: its records are not carried over */
        else if (kind == CS__KIND_GAP)
            carry_over_gaps(w, data, (size_t)st.st_size);
        else
            rc = cs_msgstore_parse_image(data, (size_t)st.st_size, kinds[kind], keep_message,
                                         keep_measurement, keep_unmatched, w, NULL);
    } else if (st.st_size > 0) {
        rc = CS_ENOMEM;
    }
    cs_free(data);
    close(fd);
    return rc == CS_ECORRUPT ? 0 : rc;
}

/* Keeps the other protocols' records of the replaced range. */
void cs__msgstore_carry_over(cs_msgstore *w)
{
    DIR *d;
    struct dirent *e;
    int kind, tmp;
    uint32_t seg;

    if (w->rprotos == NULL || w->err < 0 || (d = opendir(w->dir)) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (cs__msgfile_parse_name(e->d_name, &kind, &seg, &tmp) < 0 || tmp ||
            !cs__msgstore_in_range(w, seg))
            continue;
        cs__msgstore_err(w, carry_over_file(w, e->d_name, kind));
    }
    closedir(d);
}

/*
 * Publishes the replacement: renames every .new file over its file, then
 * removes files of the range that got no new records (and stray .new files
 * of the range, from an earlier run that died). After an error, removes the
 * .new files instead and keeps the old records.
 */
int cs__msgstore_publish(cs_msgstore *w)
{
    char from[CS__MSG_PATH_MAX], to[CS__MSG_PATH_MAX];
    DIR *d;
    struct dirent *e;
    int rc = 0, kind, tmp;
    uint32_t seg;

    for (size_t i = 0; i < w->n_tmps; i++) {
        cs__msgfile_path(from, w->dir, w->tmps[i].kind, w->tmps[i].seg, 1);
        cs__msgfile_path(to, w->dir, w->tmps[i].kind, w->tmps[i].seg, 0);
        if (w->err < 0)
            unlink(from);
        else if (rename(from, to) < 0 && rc == 0)
            rc = cs_error_set(cs_error_from_errno(errno), "%s: %s", to, strerror(errno));
    }
    if (w->err < 0 || rc < 0 || (d = opendir(w->dir)) == NULL)
        return rc;
    while ((e = readdir(d)) != NULL) {
        if (cs__msgfile_parse_name(e->d_name, &kind, &seg, &tmp) < 0 ||
            !cs__msgstore_in_range(w, seg))
            continue;
        if (tmp || !tmp_seen(w, kind, seg)) {
            snprintf(from, sizeof(from), "%s/%s", w->dir, e->d_name);
            unlink(from);
        }
    }
    closedir(d);
    return rc;
}

/*
 * mettail.c - the store's metrics windows and alert events from a durable
 * position (see mettail.h for why a byte offset per file is enough).
 *
 *   read:   list STORE/metrics/met-*.bin (by name: hour order), then
 *           STORE/alerts/alerts.jsonl ─► each file: stat ─► its entry in
 *           the working position (new, or replaced: offset 0) ─► pread the
 *           bytes after the offset, CHUNK at most at a time ─► metrics:
 *           cs_metricstore_image_points; alerts: whole lines, each parsed
 *           by cs_metricstore_alert_line (a line that is not an event is
 *           passed over, as the API does) ─► the offset moves past the
 *           last whole record; entries of files that are gone are dropped
 *           (their unread bytes counted lost)
 *   commit: write the working position to CURSOR.new, fsync, rename over
 *           CURSOR, fsync the directory; it becomes the committed one
 *
 * Files are read with pread, never mapped: the writer may cut a torn tail
 * off a file at any time, and a mapping past the new end would fault.
 *
 * Invariants: an entry's offset is 0 or the end of a complete record of
 * that file (a metrics record that checked, a line with its newline); the
 * working position is never behind the committed one except after a file
 * was replaced or deleted.
 */
#include "store/mettail.h"

#include "core/alloc.h"
#include "core/error.h"
#include "store/cursorfile.h"
#include "core/hash.h"
#include "core/sort.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CURSOR_MAGIC "capstream-mettail 1"
#define PATH_LEN 48      /* "metrics/met-YYYYMMDDTHH.bin", "alerts/alerts.jsonl" */
#define HEAD_MAX 64      /* first bytes hashed to tell a file from a later one */
#define CHUNK (8u << 20) /* bytes read at once: more than a metrics record's 1 MiB */
#define ALERT_LOG "alerts/alerts.jsonl"
#define HEAD_SEED 0x6d7461696cULL

typedef struct met_entry {
    char path[PATH_LEN];
    uint64_t ino, off, size, head;
    uint32_t head_len;
    int seen; /* in the listing being processed */
} met_entry;

typedef struct met_pos {
    met_entry *e;
    size_t n, cap;
} met_pos;

typedef struct met_file {
    char path[PATH_LEN];
    uint64_t ino, size;
} met_file;

struct cs_mettail {
    char store[4096];
    char cursor[4096];
    met_pos work, committed;
    uint64_t lost_bytes, replaced;
};

/* ---- positions ------------------------------------------------------------- */

static met_entry *pos_find(met_pos *p, const char *path)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->e[i].path, path) == 0)
            return &p->e[i];
    return NULL;
}

static met_entry *pos_add(met_pos *p, const met_entry *e)
{
    if (cs_grow((void **)&p->e, &p->cap, p->n + 1, sizeof(*p->e)) < 0)
        return NULL;
    p->e[p->n] = *e;
    return &p->e[p->n++];
}

static int pos_copy(met_pos *dst, const met_pos *src)
{
    dst->n = 0;
    for (size_t i = 0; i < src->n; i++)
        if (pos_add(dst, &src->e[i]) == NULL)
            return CS_ENOMEM;
    return 0;
}

static int parse_cursor_line(const char *line, met_entry *e)
{
    unsigned long long ino, head, off, size;
    unsigned head_len;
    char path[PATH_LEN];

    if (sscanf(line, "%47s %llu %u %llx %llu %llu", path, &ino, &head_len, &head, &off, &size) !=
            6 ||
        head_len > HEAD_MAX || strstr(path, "..") != NULL ||
        (strncmp(path, "metrics/met-", 12) != 0 && strcmp(path, ALERT_LOG) != 0))
        return -1;
    memset(e, 0, sizeof(*e));
    snprintf(e->path, sizeof(e->path), "%s", path);
    e->ino = ino, e->head_len = head_len, e->head = head, e->off = off, e->size = size;
    return 0;
}

/* One line of the cursor file into the committed position. */
static int cursor_line(void *ud, const char *line)
{
    cs_mettail *t = ud;
    met_entry e;

    memset(&e, 0, sizeof(e));
    if (parse_cursor_line(line, &e) < 0)
        return -1;
    return pos_add(&t->committed, &e) ? 0 : CS_ENOMEM;
}

static int load_cursor(cs_mettail *t)
{
    int rc = cs__cursorfile_load(t->cursor, CURSOR_MAGIC, "metrics cursor", cursor_line, t);

    return rc < 0 ? rc : pos_copy(&t->work, &t->committed);
}

int cs_mettail_open(const char *store_dir, const char *cursor_path, cs_mettail **out)
{
    cs_mettail *t;
    struct stat st;
    int rc;

    *out = NULL;
    if (stat(store_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cs_error_set(CS_ENOTFOUND, "no store at %s", store_dir);
    if ((t = cs_calloc(1, sizeof(*t))) == NULL)
        return CS_ENOMEM;
    snprintf(t->store, sizeof(t->store), "%s", store_dir);
    snprintf(t->cursor, sizeof(t->cursor), "%s", cursor_path);
    if ((rc = load_cursor(t)) < 0) {
        cs_mettail_close(t);
        return rc;
    }
    *out = t;
    return 0;
}

void cs_mettail_close(cs_mettail *t)
{
    if (t == NULL)
        return;
    cs_free(t->work.e);
    cs_free(t->committed.e);
    cs_free(t);
}

/* ---- the files ------------------------------------------------------------- */

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const met_file *)a)->path, ((const met_file *)b)->path);
}

static int add_file(const cs_mettail *t, const char *path, met_file **f, size_t *n, size_t *cap)
{
    char full[4096 + PATH_LEN];
    struct stat st;

    snprintf(full, sizeof(full), "%s/%s", t->store, path);
    if (stat(full, &st) != 0 || !S_ISREG(st.st_mode))
        return 0; /* gone meanwhile (retention), or never written */
    if (cs_grow((void **)f, cap, *n + 1, sizeof(**f)) < 0)
        return CS_ENOMEM;
    snprintf((*f)[*n].path, PATH_LEN, "%s", path);
    (*f)[*n].ino = (uint64_t)st.st_ino;
    (*f)[*n].size = (uint64_t)st.st_size;
    (*n)++;
    return 0;
}

/* The metrics files in hour order, then the alert log, as they are now. */
static int list_files(const cs_mettail *t, met_file **out, size_t *n)
{
    char dir[4096 + 16], path[PATH_LEN];
    met_file *f = NULL;
    size_t cap = 0, len;
    struct dirent *de;
    DIR *d;
    int rc = 0;

    *n = 0;
    snprintf(dir, sizeof(dir), "%s/metrics", t->store);
    if ((d = opendir(dir)) != NULL) {
        while (rc == 0 && (de = readdir(d)) != NULL) {
            len = strlen(de->d_name);
            if (strncmp(de->d_name, "met-", 4) != 0 || len < 8 || len > 30 ||
                strcmp(de->d_name + len - 4, ".bin") != 0)
                continue;
            memcpy(path, "metrics/", 8); /* 8 + len + 1 <= 39 < PATH_LEN */
            memcpy(path + 8, de->d_name, len + 1);
            rc = add_file(t, path, &f, n, &cap);
        }
        closedir(d);
    }
    if (rc == 0 && *n > 1)
        cs_qsort(f, *n, sizeof(*f), cmp_file);
    if (rc == 0)
        rc = add_file(t, ALERT_LOG, &f, n, &cap);
    if (rc < 0) {
        cs_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* Drops the entries of files not in "f", from the working position
 * (counting their unread bytes) and from the committed one (so that a
 * rollback does not bring them back to be counted twice). */
static void forget_deleted(cs_mettail *t, const met_file *f, size_t nf)
{
    size_t k = 0;

    for (size_t i = 0; i < t->work.n; i++) {
        met_entry *e = &t->work.e[i];
        int seen = 0;

        for (size_t j = 0; j < nf && !seen; j++)
            seen = strcmp(f[j].path, e->path) == 0;
        if (seen)
            t->work.e[k++] = *e;
        else
            t->lost_bytes += e->size > e->off ? e->size - e->off : 0;
    }
    t->work.n = k;
    k = 0;
    for (size_t i = 0; i < t->committed.n; i++)
        if (pos_find(&t->work, t->committed.e[i].path) != NULL)
            t->committed.e[k++] = t->committed.e[i];
    t->committed.n = k;
}

/* Reads up to "cap" bytes of "path" at "off" into "*buf" (grown as
 * needed); "*got" says how many. */
static int read_at(const cs_mettail *t, const char *path, uint64_t off, size_t cap, uint8_t **buf,
                   size_t *bcap, size_t *got)
{
    char full[4096 + PATH_LEN];
    ssize_t r = 0;
    int fd;

    *got = 0;
    snprintf(full, sizeof(full), "%s/%s", t->store, path);
    if (cs_grow((void **)buf, bcap, cap > 0 ? cap : 1, 1) < 0)
        return CS_ENOMEM;
    if ((fd = open(full, O_RDONLY | O_CLOEXEC)) < 0)
        return errno == ENOENT ? 0 : cs_error_set(CS_EIO, "%s: %s", full, strerror(errno));
    while (*got < cap && (r = pread(fd, *buf + *got, cap - *got, (off_t)(off + *got))) > 0)
        *got += (size_t)r;
    close(fd);
    return r < 0 ? cs_error_set(CS_EIO, "%s: %s", full, strerror(errno)) : 0;
}

/* Finds (or makes) the entry of file "f", starting it over if the file is
 * not the one the entry read: another inode, shorter than what was read,
 * or other first bytes. */
static int entry_of(cs_mettail *t, const met_file *f, uint8_t **buf, size_t *bcap, met_entry **out)
{
    met_entry fresh = {.ino = f->ino}, *e = pos_find(&t->work, f->path);
    size_t hl = f->size < HEAD_MAX ? (size_t)f->size : HEAD_MAX, got;
    int rc;

    snprintf(fresh.path, sizeof(fresh.path), "%s", f->path);
    if (e == NULL && (e = pos_add(&t->work, &fresh)) == NULL)
        return CS_ENOMEM;
    *out = e;
    if ((rc = read_at(t, f->path, 0, hl, buf, bcap, &got)) < 0)
        return rc;
    if (e->ino != f->ino || f->size < e->off || got < e->head_len ||
        cs_hash64(*buf, e->head_len, HEAD_SEED) != e->head) {
        t->replaced += e->off > 0;
        *e = fresh;
    }
    e->size = f->size;
    if (got > e->head_len) { /* hash more of the first bytes as they come */
        e->head_len = (uint32_t)got;
        e->head = cs_hash64(*buf, got, HEAD_SEED);
    }
    return 0;
}

/* ---- reading ---------------------------------------------------------------- */

typedef struct alert_ctx {
    const cs_mettail_fns *fns;
    const char *line;
    size_t len;
} alert_ctx;

static void alert_pass(void *ud, const cs_alert_event *ev)
{
    alert_ctx *c = ud;

    if (c->fns->alert)
        c->fns->alert(c->fns->ud, ev, c->line, c->len);
}

/* The whole lines of "data": each event goes to "fns"; "*used" gets the
 * bytes up to the end of the last line taken. */
static size_t alert_lines(const char *data, size_t len, size_t max, const cs_mettail_fns *fns,
                          size_t *used)
{
    alert_ctx c = {.fns = fns};
    size_t at = 0, n = 0;
    const char *nl;

    while (n < max && at < len && (nl = memchr(data + at, '\n', len - at)) != NULL) {
        c.line = data + at;
        c.len = (size_t)(nl - c.line);
        n += cs_metricstore_alert_line(c.line, c.len, alert_pass, &c) == 0;
        at += c.len + 1;
    }
    *used = at;
    return n;
}

static int no_window(void *ud, const cs_series_id *series, const cs_metric_point *p)
{
    (void)ud, (void)series, (void)p;
    return 0;
}

/* Reads file "f" after its entry's offset, "max" records at most; "*n"
 * gets how many were passed on. */
static int read_file(cs_mettail *t, const met_file *f, size_t max, const cs_mettail_fns *fns,
                     uint8_t **buf, size_t *bcap, size_t *n)
{
    int alerts = strcmp(f->path, ALERT_LOG) == 0;
    size_t got, used, k;
    met_entry *e;
    int rc;

    *n = 0;
    if ((rc = entry_of(t, f, buf, bcap, &e)) < 0)
        return rc;
    while (*n < max && e->off < f->size) {
        size_t want = f->size - e->off > CHUNK ? CHUNK : (size_t)(f->size - e->off);
        uint64_t before = e->off;

        if ((rc = read_at(t, f->path, e->off, want, buf, bcap, &got)) < 0)
            return rc;
        if (alerts) {
            k = alert_lines((const char *)*buf, got, max - *n, fns, &used);
            e->off += used;
        } else {
            size_t off = (size_t)e->off;

            rc = cs_metricstore_image_points(*buf, got, &off, max - *n,
                                             fns->window ? fns->window : no_window, fns->ud, &k);
            if (rc == CS_ENOTSTORE) /* its header is not all written yet */
                return 0;
            if (rc < 0)
                return rc;
            e->off = off;
        }
        *n += k;
        if (e->off == before) /* a record being written: the rest next time */
            break;
    }
    return 0;
}

int cs_mettail_read(cs_mettail *t, size_t max, const cs_mettail_fns *fns, size_t *n_windows,
                    size_t *n_alerts)
{
    uint8_t *buf = NULL;
    size_t nf = 0, bcap = 0, k;
    met_file *f = NULL;
    int rc;

    *n_windows = *n_alerts = 0;
    if (max == 0)
        max = SIZE_MAX;
    if ((rc = list_files(t, &f, &nf)) < 0)
        return rc;
    forget_deleted(t, f, nf);
    for (size_t i = 0; i < nf && rc == 0; i++) {
        int alerts = strcmp(f[i].path, ALERT_LOG) == 0;
        size_t *n = alerts ? n_alerts : n_windows;

        if (*n < max && (rc = read_file(t, &f[i], max - *n, fns, &buf, &bcap, &k)) == 0)
            *n += k;
    }
    cs_free(buf);
    cs_free(f);
    return rc;
}

/* ---- commit and rollback ------------------------------------------------ */

/* The working position, a line per file, into the cursor file. */
static void cursor_body(FILE *f, const void *ud)
{
    const cs_mettail *t = ud;

    for (size_t i = 0; i < t->work.n; i++) {
        const met_entry *e = &t->work.e[i];

        fprintf(f, "%s %llu %u %016llx %llu %llu\n", e->path, (unsigned long long)e->ino,
                (unsigned)e->head_len, (unsigned long long)e->head, (unsigned long long)e->off,
                (unsigned long long)e->size);
    }
}

int cs_mettail_commit(cs_mettail *t)
{
    int rc = cs__cursorfile_replace(t->cursor, CURSOR_MAGIC, cursor_body, t);

    return rc < 0 ? rc : pos_copy(&t->committed, &t->work);
}

int cs_mettail_rollback(cs_mettail *t)
{
    return pos_copy(&t->work, &t->committed);
}

int cs_mettail_stats_get(cs_mettail *t, cs_mettail_stats *st)
{
    met_file *f = NULL;
    size_t nf;
    int rc;

    memset(st, 0, sizeof(*st));
    if ((rc = list_files(t, &f, &nf)) < 0)
        return rc;
    forget_deleted(t, f, nf);
    for (size_t i = 0; i < nf; i++) {
        met_entry *e = pos_find(&t->work, f[i].path);
        uint64_t off = e != NULL && e->ino == f[i].ino ? e->off : 0;

        if (e != NULL && e->ino == f[i].ino)
            e->size = f[i].size; /* what retention would take unread */
        st->pending_bytes += f[i].size > off ? f[i].size - off : 0;
    }
    st->lost_bytes = t->lost_bytes;
    st->replaced = t->replaced;
    cs_free(f);
    return 0;
}

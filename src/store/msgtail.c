/*
 * msgtail.c - the message store's records from a durable position (see
 * msgtail.h).
 *
 *   read:   list STORE/messages (published files only, (file id, kind)
 *           order) ─► each file: stat ─► its entry in the working
 *           position (new: 0; another inode: 0, "replaced") ─► stream the
 *           frames after the entry's offset (cs__msgfile_scan) through
 *           cs__record_dispatch ─► the offset moves to the end of the last
 *           record passed on; entries of files that are gone are dropped
 *           (their unread bytes counted lost)
 *   commit: write the working position to CURSOR.new, fsync, rename over
 *           CURSOR, fsync the directory; it becomes the committed one
 *
 * A file is known by its inode and the header of its first record: a
 * file deleted and made again may get the same inode number, and is read
 * from its start like a replaced one.
 *
 * Invariants: an entry's offset is 0 or the end of a complete, checked
 * record of that file, so a read never starts inside a record;
 * the working position is never behind the committed one except after a
 * file was replaced or deleted. Entries are kept sorted by (seg, kind).
 */
#include "store/msgtail.h"

#include "core/alloc.h"
#include "core/error.h"
#include "store/cursorfile.h"
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

#define CURSOR_MAGIC "capstream-msgtail 1"

typedef struct tail_entry {
    uint32_t seg;
    int kind;
    uint64_t ino, off, size;
    uint64_t head; /* the file's first frame header (length, checksum); 0: none yet */
    int seen;      /* in the listing being processed */
} tail_entry;

typedef struct tail_pos {
    tail_entry *e;
    size_t n, cap;
} tail_pos;

struct cs_msgtail {
    char dir[CS__MSG_PATH_MAX]; /* STORE/messages */
    char cursor[CS__MSG_PATH_MAX];
    tail_pos work, committed;
    cs__scanbuf sb;
    cs__recdec dec;
    uint64_t read_bytes, lost_bytes, replaced;
    cs_msgtail_replaced_fn on_replaced;
    void *on_replaced_ud;
};

/* ---- positions ------------------------------------------------------------- */

static int entry_cmp(const void *a, const void *b)
{
    const tail_entry *x = a, *y = b;

    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    return (x->kind > y->kind) - (x->kind < y->kind);
}

static tail_entry *pos_find(tail_pos *p, uint32_t seg, int kind)
{
    tail_entry key = {.seg = seg, .kind = kind};

    return p->n ? bsearch(&key, p->e, p->n, sizeof(*p->e), entry_cmp) : NULL;
}

static int pos_add(tail_pos *p, const tail_entry *e)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        tail_entry *ne = cs_realloc(p->e, cap * sizeof(*ne));

        if (ne == NULL)
            return CS_ENOMEM;
        p->e = ne;
        p->cap = cap;
    }
    p->e[p->n++] = *e;
    return 0;
}

static int pos_copy(tail_pos *dst, const tail_pos *src)
{
    dst->n = 0;
    for (size_t i = 0; i < src->n; i++)
        if (pos_add(dst, &src->e[i]) < 0)
            return CS_ENOMEM;
    return 0;
}

static int kind_of(const char *name)
{
    for (int k = 0; k < CS__N_KINDS; k++)
        if (strcmp(name, cs__msgfile_prefix[k]) == 0)
            return k;
    return -1;
}

static int parse_cursor_line(const char *line, tail_entry *e)
{
    char kind[8];
    unsigned seg;
    unsigned long long ino, head, off, size;

    if (sscanf(line, "%7s %u %llu %llx %llu %llu", kind, &seg, &ino, &head, &off, &size) != 6 ||
        (e->kind = kind_of(kind)) < 0)
        return -1;
    e->seg = seg;
    e->ino = ino;
    e->head = head;
    e->off = off;
    e->size = size;
    return 0;
}

/* One line of the cursor file into the committed position. */
static int cursor_line(void *ud, const char *line)
{
    cs_msgtail *t = ud;
    tail_entry e;

    memset(&e, 0, sizeof(e));
    if (parse_cursor_line(line, &e) < 0)
        return -1;
    return pos_add(&t->committed, &e);
}

static int load_cursor(cs_msgtail *t)
{
    int rc = cs__cursorfile_load(t->cursor, CURSOR_MAGIC, "export cursor", cursor_line, t);

    if (rc == 0 && t->committed.n > 1)
        cs_qsort(t->committed.e, t->committed.n, sizeof(tail_entry), entry_cmp);
    return rc < 0 ? rc : pos_copy(&t->work, &t->committed);
}

int cs_msgtail_open(const char *store_dir, const char *cursor_path, cs_msgtail **out)
{
    cs_msgtail *t;
    struct stat st;
    int rc;

    *out = NULL;
    if (stat(store_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cs_error_set(CS_ENOTFOUND, "no store at %s", store_dir);
    if ((t = cs_calloc(1, sizeof(*t))) == NULL)
        return CS_ENOMEM;
    snprintf(t->dir, sizeof(t->dir), "%s/messages", store_dir);
    snprintf(t->cursor, sizeof(t->cursor), "%s", cursor_path);
    if ((rc = load_cursor(t)) < 0) {
        cs_msgtail_close(t);
        return rc;
    }
    *out = t;
    return 0;
}

void cs_msgtail_close(cs_msgtail *t)
{
    if (t == NULL)
        return;
    cs_free(t->work.e);
    cs_free(t->committed.e);
    cs_free(t->sb.buf);
    cs__recdec_free(&t->dec);
    cs_free(t);
}

void cs_msgtail_on_replaced(cs_msgtail *t, cs_msgtail_replaced_fn fn, void *ud)
{
    t->on_replaced = fn;
    t->on_replaced_ud = ud;
}

/* ---- the store's files ---------------------------------------------------- */

/* The header of the first frame of the file at "path" (its length and
 * checksum, 12 bytes after the magic, hashed into 64 bits), or 0 if it has
 * none yet. With the inode it tells a file from one made after it was
 * deleted: the inode number alone may be reused. */
static uint64_t file_head(const char *path)
{
    uint8_t b[CS__MSG_MAGIC_LEN + CS__FRAME_PAYLOAD];
    uint64_t h = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? pread(fd, b, sizeof(b), 0) : -1;

    if (fd >= 0)
        close(fd);
    if (n != (ssize_t)sizeof(b))
        return 0;
    for (size_t i = CS__MSG_MAGIC_LEN; i < sizeof(b); i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h | 1;
}

/* Marks every entry unseen, then brings each published file of the store
 * into the working position (new files at offset 0; a replaced file back
 * to 0), recording its inode and size. */
static int survey(cs_msgtail *t)
{
    DIR *d = opendir(t->dir);
    struct dirent *de;
    int rc = 0, kind, tmp;
    uint32_t seg;

    for (size_t i = 0; i < t->work.n; i++)
        t->work.e[i].seen = 0;
    if (d == NULL)
        return errno == ENOENT ? 0 : cs_error_set(CS_EIO, "%s: %s", t->dir, strerror(errno));
    while (rc == 0 && (de = readdir(d)) != NULL) {
        char path[CS__MSG_PATH_MAX];
        struct stat st;
        tail_entry *e;

        if (cs__msgfile_parse_name(de->d_name, &kind, &seg, &tmp) < 0 || tmp)
            continue;
        cs__msgfile_path(path, t->dir, kind, seg, 0);
        if (stat(path, &st) != 0)
            continue; /* deleted since the listing */
        if ((e = pos_find(&t->work, seg, kind)) == NULL) {
            tail_entry ne = {.seg = seg, .kind = kind, .ino = (uint64_t)st.st_ino};

            if ((rc = pos_add(&t->work, &ne)) < 0)
                break;
            cs_qsort(t->work.e, t->work.n, sizeof(tail_entry), entry_cmp);
            e = pos_find(&t->work, seg, kind);
        } else if (e->ino != (uint64_t)st.st_ino || (uint64_t)st.st_size < e->off ||
                   (e->head != 0 && file_head(path) != e->head)) {
            if (e->off > 0 && t->on_replaced != NULL &&
                (rc = t->on_replaced(t->on_replaced_ud, cs__msgfile_prefix[kind], seg)) != 0) {
                rc = rc < 0 ? rc : CS_EIO;
                break;
            }
            e->ino = (uint64_t)st.st_ino;
            e->off = 0;
            e->head = 0;
            t->replaced++;
        }
        if (e->head == 0)
            e->head = file_head(path);
        e->size = (uint64_t)st.st_size;
        e->seen = 1;
    }
    closedir(d);
    return rc;
}

/* Drops the entries of files that are gone, from the working position
 * (counting their unread bytes) and from the committed one (so that a
 * rollback does not bring them back to be counted twice). */
static void forget_deleted(cs_msgtail *t)
{
    size_t k = 0;

    for (size_t i = 0; i < t->work.n; i++) {
        tail_entry *e = &t->work.e[i];

        if (!e->seen) {
            t->lost_bytes += e->size > e->off ? e->size - e->off : 0;
            continue;
        }
        t->work.e[k++] = *e;
    }
    t->work.n = k;
    k = 0;
    for (size_t i = 0; i < t->committed.n; i++) {
        const tail_entry *c = &t->committed.e[i];

        if (pos_find(&t->work, c->seg, c->kind) != NULL)
            t->committed.e[k++] = *c;
    }
    t->committed.n = k;
}

/* ---- reading ---------------------------------------------------------------- */

typedef struct tail_read {
    cs_msgtail *t;
    int kind;
    const cs_record_fns *fns;
    size_t n, max;
    int cb_rc;
} tail_read;

static int tail_frame(void *ud, const uint8_t *p, size_t n)
{
    tail_read *r = ud;
    int rc = cs__record_dispatch(r->kind, p, n, &r->t->dec, r->fns);

    if (rc != 0) {
        r->cb_rc = rc < 0 ? rc : CS_EIO;
        return r->cb_rc;
    }
    r->n++;
    return r->max != 0 && r->n >= r->max ? 1 : 0;
}

static int read_file(cs_msgtail *t, tail_entry *e, tail_read *r)
{
    char path[CS__MSG_PATH_MAX];
    cs__scan_result res;
    struct stat st;
    int fd, rc;

    cs__msgfile_path(path, t->dir, e->kind, e->seg, 0);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno == ENOENT ? 0 : cs_error_set(CS_EIO, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_ino != e->ino) {
        close(fd); /* replaced since the survey: the next read starts it over */
        return 0;
    }
    r->kind = e->kind;
    rc = cs__msgfile_scan(fd, e->kind, &t->sb, e->off, tail_frame, r, &res);
    close(fd);
    if (r->cb_rc != 0)
        return r->cb_rc;
    if (rc < 0 && rc != CS_ECORRUPT)
        return rc;
    if (rc == CS_ECORRUPT) { /* a foreign file: nothing of it can be read */
        e->off = e->size;
        return 0;
    }
    t->read_bytes += res.valid_end - e->off;
    e->off = res.valid_end;
    return 0;
}

int cs_msgtail_read(cs_msgtail *t, size_t max_records, const cs_record_fns *fns, size_t *n_read)
{
    tail_read r = {.t = t, .fns = fns, .max = max_records};
    int rc;

    *n_read = 0;
    if ((rc = survey(t)) < 0)
        return rc;
    forget_deleted(t);
    for (size_t i = 0; i < t->work.n; i++) {
        tail_entry *e = &t->work.e[i];

        if (e->size <= e->off)
            continue;
        if ((rc = read_file(t, e, &r)) < 0)
            break;
        if (r.max != 0 && r.n >= r.max)
            break;
    }
    *n_read = r.n;
    return rc;
}

/* ---- commit and rollback ------------------------------------------------ */

/* The working position, a line per file, into the cursor file. */
static void cursor_body(FILE *f, const void *ud)
{
    const cs_msgtail *t = ud;

    for (size_t i = 0; i < t->work.n; i++) {
        const tail_entry *e = &t->work.e[i];

        fprintf(f, "%s %u %llu %016llx %llu %llu\n", cs__msgfile_prefix[e->kind], (unsigned)e->seg,
                (unsigned long long)e->ino, (unsigned long long)e->head, (unsigned long long)e->off,
                (unsigned long long)e->size);
    }
}

int cs_msgtail_commit(cs_msgtail *t)
{
    int rc = cs__cursorfile_replace(t->cursor, CURSOR_MAGIC, cursor_body, t);

    return rc < 0 ? rc : pos_copy(&t->committed, &t->work);
}

int cs_msgtail_rollback(cs_msgtail *t)
{
    return pos_copy(&t->work, &t->committed);
}

int cs_msgtail_stats_get(cs_msgtail *t, cs_msgtail_stats *st)
{
    int rc;

    memset(st, 0, sizeof(*st));
    if ((rc = survey(t)) < 0)
        return rc;
    forget_deleted(t);
    for (size_t i = 0; i < t->work.n; i++) {
        const tail_entry *e = &t->work.e[i];

        st->pending_bytes += e->size > e->off ? e->size - e->off : 0;
    }
    st->files = (uint32_t)t->work.n;
    st->read_bytes = t->read_bytes;
    st->lost_bytes = t->lost_bytes;
    st->replaced = t->replaced;
    return 0;
}

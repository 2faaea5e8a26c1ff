/*
 * msgstore_read.c - the message store's reader: the store's files, the
 * message and unmatched-record queries, lookups by id, and record counts
 * (info). Measurement queries are in msgstore_latency.c, the per-file
 * summaries that let a query skip files in msgstore_summary.c.
 *
 *   cs_msgreader_messages(filter) ─► list the files of the kind (file id
 *     order) ─► each file: skip it if its summary rules the filter out,
 *     else stream its frames ─► decode the head ─► filter ─► decode the
 *     body ─► callback (until it says stop or the limit is reached)
 *
 * A lookup by id reads only the one file the id names (its segment's
 * group). Records come out in store order: file id, then the order they
 * were written in.
 *
 * Invariants: only published files are read (never .new ones); a file
 * deleted under a reader reads as empty; a foreign or torn file serves
 * its good records only. Decoded records point into the reader's buffers
 * and are valid only during the callback.
 *
 * Threading: a reader is used by one thread at a time; any number of
 * readers, in any process, may run while the writer appends.
 */
#include "store/msgstore.h"

#include "core/alloc.h"
#include "core/cursor.h"
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

static int check_store(const char *dir)
{
    struct stat st;
    char marker[CS__MSG_PATH_MAX];

    if (stat(dir, &st) != 0)
        return cs_error_set(CS_ENOTFOUND, "no store at %s", dir);
    if (!S_ISDIR(st.st_mode))
        return cs_error_set(CS_ENOTSTORE, "%s is not a directory", dir);
    snprintf(marker, sizeof(marker), "%s/capstream.store", dir);
    if (access(marker, F_OK) != 0)
        return cs_error_set(CS_ENOTSTORE, "%s is not a capstream store", dir);
    return 0;
}

int cs_msgreader_open(const char *store_dir, cs_msgreader **out)
{
    cs_msgreader *r;
    size_t len;
    int rc;

    *out = NULL;
    if ((rc = check_store(store_dir)) < 0)
        return rc;
    if ((r = cs_calloc(1, sizeof(*r))) == NULL)
        return CS_ENOMEM;
    len = strlen(store_dir) + sizeof("/messages");
    if ((r->dir = cs_malloc(len)) == NULL) {
        cs_free(r);
        return CS_ENOMEM;
    }
    snprintf(r->dir, len, "%s/messages", store_dir);
    r->partitions = cs_store_dir_partitions(store_dir);
    *out = r;
    return 0;
}

void cs_msgreader_close(cs_msgreader *r)
{
    if (r == NULL)
        return;
    cs__recdec_free(&r->dec);
    cs_free(r->sb.buf);
    cs_free(r->files);
    cs_free(r->dir);
    cs_free(r);
}

static int rfile_cmp(const void *a, const void *b)
{
    const cs__rfile *x = a, *y = b;

    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    return x->kind - y->kind;
}

/* Lists the published files of kind "kind" in file id (group) order. */
static int list_files(cs_msgreader *r, int kind)
{
    DIR *d = opendir(r->dir);
    struct dirent *e;
    int k, tmp, rc = 0;
    uint32_t seg;

    r->n_files = 0;
    if (d == NULL)
        return errno == ENOENT
                   ? 0
                   : cs_error_set(cs_error_from_errno(errno), "%s: %s", r->dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        if (cs__msgfile_parse_name(e->d_name, &k, &seg, &tmp) < 0 || tmp || k != kind)
            continue;
        if (cs_grow((void **)&r->files, &r->files_cap, r->n_files + 1, sizeof(*r->files)) < 0) {
            rc = CS_ENOMEM;
            break;
        }
        r->files[r->n_files++] = (cs__rfile){seg, k};
    }
    closedir(d);
    if (r->n_files > 1)
        cs_qsort(r->files, r->n_files, sizeof(*r->files), rfile_cmp);
    return rc;
}

/* Streams every file of "kind" through "fn", in file id order, skipping
 * the files that hold nothing "h" asks for (NULL: none skipped). */
int cs__msgreader_scan_all(cs_msgreader *r, int kind, cs__frame_fn fn, void *ud,
                           const cs__scan_hint *h)
{
    cs__scan_result res;
    int rc;

    if ((rc = list_files(r, kind)) < 0)
        return rc;
    for (size_t i = 0; i < r->n_files; i++) {
        if ((rc = cs__msgreader_scan_file(r, kind, r->files[i].seg, fn, ud, &res, h)) < 0)
            return rc;
        if (res.stopped)
            break;
    }
    return 0;
}

/* ---- messages -------------------------------------------------------------- */

void cs_msgfilter_init(cs_msgfilter *f)
{
    memset(f, 0, sizeof(*f));
    f->after = INT64_MIN;
    f->before = INT64_MAX;
}

typedef struct msg_scan {
    cs_msgreader *r;
    const cs_msgfilter *f;
    cs_msg_fn mfn;
    cs_unm_fn ufn;
    void *ud;
    uint64_t emitted;
    cs_msgid want_id; /* find: only this id */
    int find, found;
} msg_scan;

static int msg_matches(const msg_scan *s, const cs_message *m)
{
    const cs_msgfilter *f = s->f;

    if (s->find)
        return m->id == s->want_id;
    if (f == NULL)
        return 1;
    if (m->ts_ns < f->after || m->ts_ns >= f->before)
        return 0;
    if (f->proto && strcmp(m->proto, f->proto) != 0)
        return 0;
    if (f->type && !cs__str_is(m->type, f->type))
        return 0;
    return f->key == NULL || cs__str_is(m->key, f->key);
}

static int msg_frame(void *ud, const uint8_t *p, size_t n)
{
    msg_scan *s = ud;
    cs_message m;
    cs__msg_head h;
    int rc;

    if (s->find && (n < CS__MSG_FIXED || cs_rd_le64(p + CS__MSG_ID) != s->want_id))
        return 0;
    if (cs__decode_msg_head(p, n, &s->r->dec, &m, &h) < 0 || !msg_matches(s, &m))
        return 0;
    if (s->f && s->f->fields_proto &&
        (m.proto[0] != s->f->fields_proto[0] || strcmp(m.proto, s->f->fields_proto) != 0))
        m.n_refs = m.n_fields = 0; /* the head is all the caller reads */
    else if ((rc = cs__decode_msg_body(&s->r->dec, &m, &h)) != 0)
        return rc < -1 ? rc : 0;
    s->emitted++;
    s->found = 1;
    rc = s->ufn ? s->ufn(s->ud, &m, h.kind) : s->mfn(s->ud, &m);
    if (rc != 0 || s->find)
        return 1;
    return s->f && s->f->limit && s->emitted >= s->f->limit;
}

int cs_msgreader_messages(cs_msgreader *r, const cs_msgfilter *f, cs_msg_fn fn, void *ud)
{
    msg_scan s = {.r = r, .f = f, .mfn = fn, .ud = ud};
    cs__scan_hint h = {.after = f ? f->after : INT64_MIN,
                       .before = f ? f->before : INT64_MAX,
                       .key = f ? f->key : NULL};

    return cs__msgreader_scan_all(r, CS__KIND_MSG, msg_frame, &s, &h);
}

typedef struct gap_scan {
    cs_msgreader *r;
    int64_t after, before;
    uint64_t limit, emitted;
    cs_gap_fn fn;
    void *ud;
} gap_scan;

static int gap_frame(void *ud, const uint8_t *p, size_t n)
{
    gap_scan *s = ud;
    cs_gap g;

    if (cs__decode_gap(p, n, &s->r->dec, &g) < 0 || g.ts_ns < s->after || g.ts_ns >= s->before)
        return 0;
    s->emitted++;
    if (s->fn(s->ud, &g) != 0)
        return 1;
    return s->limit && s->emitted >= s->limit;
}

int cs_msgreader_gaps(cs_msgreader *r, int64_t after, int64_t before, uint64_t limit, cs_gap_fn fn,
                      void *ud)
{
    gap_scan s = {.r = r, .after = after, .before = before, .limit = limit, .fn = fn, .ud = ud};
    cs__scan_hint h = {.after = after, .before = before};

    return cs__msgreader_scan_all(r, CS__KIND_GAP, gap_frame, &s, &h);
}

int cs_msgreader_unmatched(cs_msgreader *r, const cs_msgfilter *f, cs_unm_fn fn, void *ud)
{
    msg_scan s = {.r = r, .f = f, .ufn = fn, .ud = ud};
    cs__scan_hint h = {.after = f ? f->after : INT64_MIN,
                       .before = f ? f->before : INT64_MAX,
                       .key = f ? f->key : NULL};

    return cs__msgreader_scan_all(r, CS__KIND_UNM, msg_frame, &s, &h);
}

int cs_msgreader_find_message(cs_msgreader *r, cs_msgid id, cs_msg_fn fn, void *ud)
{
    msg_scan s = {.r = r, .mfn = fn, .ud = ud, .want_id = id, .find = 1};
    cs__scan_hint h = {.after = INT64_MIN, .before = INT64_MAX, .has_id = 1, .id = id};
    cs__scan_result res;
    char buf[40];
    int rc;

    if ((rc = cs__msgreader_scan_file(r, CS__KIND_MSG, cs_msgstore_file_seg(id, r->partitions),
                                      msg_frame, &s, &res, &h)) < 0)
        return rc;
    if (!s.found)
        return cs_error_set(CS_ENOTFOUND, "no message %s in the store", cs_id_format('m', id, buf));
    return 0;
}

/* ---- info ------------------------------------------------------------------ */

/* Counts from the file summaries: each file is read only as far as it is
 * new since the last call in this process (see msgstore_summary.c). */
static int info_file(cs_msgreader *r, int kind, uint32_t seg, cs__fsum *v)
{
    char path[CS__MSG_PATH_MAX];
    struct stat st;
    int fd, rc;

    cs__msgfile_path(path, r->dir, kind, seg, 0);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno == ENOENT
                   ? 0
                   : cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0)
        rc = cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    else
        rc = cs__msgsum_update(fd, &st, kind, &r->sb, 1, v);
    close(fd);
    return rc;
}

int cs_msgreader_info(cs_msgreader *r, cs_msgstore_info *info)
{
    uint64_t *counts[CS__N_KINDS] = {&info->messages, &info->measurements, &info->unmatched,
                                     &info->gaps};
    cs__fsum v;
    int rc;

    memset(info, 0, sizeof(*info));
    for (int k = 0; k < CS__N_KINDS; k++) {
        if ((rc = list_files(r, k)) < 0)
            return rc;
        for (size_t i = 0; i < r->n_files; i++) {
            if ((rc = info_file(r, k, r->files[i].seg, &v)) < 0)
                return rc;
            if (rc == 0)
                continue; /* removed meanwhile */
            *counts[k] += v.records;
            info->files++;
            info->bytes += v.valid_end;
            info->torn_tails += (uint64_t)v.torn;
        }
    }
    return 0;
}

int cs_store_holdings(const char *dir, cs_store_info *si, cs_msgstore_info *mi)
{
    cs_store_opts so = {0}; /* a reader: no writer lock */
    cs_store *s = NULL;
    cs_msgreader *r = NULL;
    int rc;

    if ((rc = cs_store_open(dir, &so, &s)) < 0 || (rc = cs_msgreader_open(dir, &r)) < 0 ||
        (rc = cs_msgreader_info(r, mi)) < 0)
        goto out;
    cs_store_info_get(s, si);
out:
    cs_msgreader_close(r);
    if (s)
        cs_store_close(s);
    return rc;
}

/*
 * msgstore_write.c - the message store's writer: files kept open, the
 * per-file write buffers, appending records, flush and close. See
 * msgstore.h for the directory and msgstore_format.c for the bytes.
 *
 *   put_message / put_unmatched / put_measurement / put_encoded
 *        │ file id = cs_msgstore_file_seg(record id)
 *        ▼
 *   get_file ─► one of CS__MSG_MAX_OPEN slots (least recently used evicted)
 *        │        opening: append (torn tail cut first) or, inside a
 *        │        replaced range, a .new file (msgstore_retain.c); a newer
 *        │        group than any opened so far runs retention
 *        ▼
 *   encode in place in the slot's buffer ─► frame (length, checksum)
 *        ─► write() when the buffer is full, at flush and at close
 *
 * Invariants:
 *   - The writer appends whole records from its buffer (per open file,
 *     grown only for a record larger than it), so the hot path encodes in
 *     place: no allocation and one copy per record.
 *   - At most CS__MSG_MAX_OPEN files are open; the least recently used is
 *     flushed and closed to make room (ingest moves through groups in
 *     order).
 *   - Before appending to a file the writer cuts off its torn tail (the
 *     first record that fails its length or checksum), so readers never
 *     see a good record after a bad one.
 *   - The first error of any call is kept and returned by close.
 *
 * Threading: one writer per store (the packet store's writer lock says
 * who), used by one thread. Ownership: records passed in are copied during
 * the call.
 */
#include "store/msgstore.h"

#include "core/aio.h"
#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "store/msgstore_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <unistd.h>

#define WBUF_SIZE (256u << 10) /* write buffer of an open file */

int cs__msgstore_err(cs_msgstore *w, int rc)
{
    if (rc < 0 && w->err == 0)
        w->err = rc;
    return rc;
}

/* Writes the buffer out. A failed write (a full disk) is cut off the file
 * again, so its records are all lost and counted, never half there; a
 * file cut back to nothing gets its magic again with the next write. */
static int wfile_flush(cs__wfile *f)
{
    off_t at = -1;
    int rc = 0;

    if (f->used > 0) {
        at = lseek(f->fd, 0, SEEK_CUR);
        rc = cs_write_all(f->fd, f->buf, f->used);
        if (rc < 0 && at >= 0 && ftruncate(f->fd, at) == 0)
            lseek(f->fd, at, SEEK_SET);
    }
    if (rc < 0)
        f->lost += f->n_buffered;
    f->used = 0;
    f->n_buffered = 0;
    if (rc < 0 && at == 0 && f->kind >= 0) {
        memcpy(f->buf, cs__msgfile_magic[f->kind], CS__MSG_MAGIC_LEN);
        f->used = CS__MSG_MAGIC_LEN;
    }
    return rc;
}

int cs__wfile_close(cs__wfile *f)
{
    int rc = 0;

    if (f->kind < 0)
        return 0;
    rc = wfile_flush(f);
    if (close(f->fd) < 0 && rc == 0)
        rc = cs_error_set(CS_EIO, "closing a message file: %s", strerror(errno));
    f->kind = -1;
    f->fd = -1;
    return rc;
}

/* Opens (kind, seg) for appending, cutting a torn tail off first. */
static int open_append(cs_msgstore *w, int kind, uint32_t seg, int *fd, int *fresh)
{
    char path[CS__MSG_PATH_MAX];
    cs__scan_result res;
    int rc;

    cs__msgfile_path(path, w->dir, kind, seg, 0);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0)
        return cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    if ((rc = cs__msgfile_scan(*fd, kind, &w->sb, 0, NULL, NULL, &res)) < 0) {
        cs_error_set(rc, "%s: %s", path, cs_error_msg(rc));
        goto fail;
    }
    if (res.torn && ftruncate(*fd, (off_t)res.valid_end) < 0) {
        rc = cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (lseek(*fd, (off_t)res.valid_end, SEEK_SET) < 0) {
        rc = cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
        goto fail;
    }
    *fresh = res.valid_end == 0;
    return 0;
fail:
    close(*fd);
    *fd = -1;
    return rc;
}

/* The least recently used slot (or a free one), closed and ready. */
static int free_slot(cs_msgstore *w, cs__wfile **out)
{
    cs__wfile *v = &w->files[0];

    for (int i = 0; i < CS__MSG_MAX_OPEN; i++) {
        if (w->files[i].kind < 0) {
            v = &w->files[i];
            break;
        }
        if (w->files[i].last_use < v->last_use)
            v = &w->files[i];
    }
    *out = v;
    return cs__wfile_close(v);
}

static int open_slot(cs_msgstore *w, int kind, uint32_t seg, cs__wfile **out)
{
    cs__wfile *f;
    int rc, fd, fresh;

    if ((rc = free_slot(w, &f)) < 0)
        return rc;
    if (f->buf == NULL && (f->buf = cs_malloc(WBUF_SIZE)) == NULL)
        return CS_ENOMEM;
    if (f->cap == 0)
        f->cap = WBUF_SIZE;
    rc = cs__msgstore_in_range(w, seg) ? cs__msgstore_open_replacement(w, kind, seg, &fd, &fresh)
                                       : open_append(w, kind, seg, &fd, &fresh);
    if (rc < 0)
        return rc;
    f->kind = kind;
    f->seg = seg;
    f->fd = fd;
    f->used = 0;
    f->n_buffered = 0;
    if (fresh) {
        memcpy(f->buf, cs__msgfile_magic[kind], CS__MSG_MAGIC_LEN);
        f->used = CS__MSG_MAGIC_LEN;
    }
    *out = f;
    if (seg > w->newest_file) {
        w->newest_file = seg;
        cs__msgstore_retain(w);
    }
    return 0;
}

/* The open file for (kind, seg) with room for a record of "need" bytes. */
static int get_file(cs_msgstore *w, int kind, uint32_t seg, size_t need, cs__wfile **out)
{
    cs__wfile *f = w->last[kind];
    int rc;

    if (f == NULL || f->kind != kind || f->seg != seg) {
        f = NULL;
        for (int i = 0; i < CS__MSG_MAX_OPEN && f == NULL; i++)
            if (w->files[i].kind == kind && w->files[i].seg == seg)
                f = &w->files[i];
        if (f == NULL && (rc = open_slot(w, kind, seg, &f)) < 0)
            return rc;
        w->last[kind] = f;
    }
    f->last_use = ++w->tick;
    if (f->cap - f->used < need && (rc = wfile_flush(f)) < 0)
        return rc;
    if (f->cap - f->used < need) {
        if (cs_grow((void **)&f->buf, &f->cap, f->used + need, 1) < 0)
            return CS_ENOMEM;
    }
    *out = f;
    return 0;
}

/* Frames the payload of "n" bytes just encoded at f->buf + f->used + CS__FRAME_PAYLOAD. */
static void commit_frame(cs__wfile *f, size_t n)
{
    uint8_t *hdr = f->buf + f->used;

    cs_wr_le32(hdr + CS__FRAME_LEN, (uint32_t)n);
    cs_wr_le64(hdr + CS__FRAME_CHECK, cs__msgstore_frame_check(hdr + CS__FRAME_PAYLOAD, n));
    f->used += CS__FRAME_PAYLOAD + n;
    f->n_buffered++;
}

int cs_msgstore_open(const char *store_dir, cs_msgstore **out)
{
    cs_msgstore *w = cs_calloc(1, sizeof(*w));
    size_t len;
    int rc = 0;

    *out = NULL;
    if (w == NULL)
        return CS_ENOMEM;
    for (int i = 0; i < CS__MSG_MAX_OPEN; i++) {
        w->files[i].kind = -1;
        w->files[i].fd = -1;
    }
    len = strlen(store_dir) + sizeof("/messages");
    if ((w->dir = cs_malloc(len)) == NULL) {
        rc = CS_ENOMEM;
        goto fail;
    }
    snprintf(w->dir, len, "%s/messages", store_dir);
    w->partitions = cs_store_dir_partitions(store_dir);
    if (mkdir(w->dir, 0755) < 0 && errno != EEXIST) {
        rc = cs_error_set(cs_error_from_errno(errno), "cannot create %s: %s", w->dir,
                          strerror(errno));
        goto fail;
    }
    *out = w;
    return 0;
fail:
    cs_free(w->dir);
    cs_free(w);
    return rc;
}

int cs_msgstore_put_message(cs_msgstore *w, const cs_message *m)
{
    return cs_msgstore_put_unmatched(w, m, 0);
}

int cs_msgstore_put_unmatched(cs_msgstore *w, const cs_message *m, int kind)
{
    size_t bound = 0, n;
    uint32_t file = cs_msgstore_file_seg(m->id, w->partitions);
    cs__wfile *f;
    int rc;

    if ((rc = cs_msgstore_message_bound(m, &bound)) < 0)
        return cs__msgstore_err(w, rc);
    if ((rc = get_file(w, kind ? CS__KIND_UNM : CS__KIND_MSG, file, CS__FRAME_PAYLOAD + bound,
                       &f)) < 0)
        return cs__msgstore_err(w, rc);
    n = cs_msgstore_encode_message(f->buf + f->used + CS__FRAME_PAYLOAD, m, kind);
    commit_frame(f, n);
    return 0;
}

int cs_msgstore_put_measurement(cs_msgstore *w, const cs_measurement *ms)
{
    size_t n = 0;
    uint32_t file = cs_msgstore_file_seg(ms->id, w->partitions);
    cs__wfile *f;
    int rc;

    if ((rc = cs_msgstore_measurement_size(ms, &n)) < 0)
        return cs__msgstore_err(w, rc);
    if ((rc = get_file(w, CS__KIND_LAT, file, CS__FRAME_PAYLOAD + n, &f)) < 0)
        return cs__msgstore_err(w, rc);
    n = cs_msgstore_encode_measurement(f->buf + f->used + CS__FRAME_PAYLOAD, ms);
    commit_frame(f, n);
    return 0;
}

int cs_msgstore_put_gap(cs_msgstore *w, const cs_gap *g)
{
    size_t n = 0;
    cs__wfile *f;
    int rc;

    if ((rc = cs_msgstore_gap_size(g, &n)) < 0)
        return cs__msgstore_err(w, rc);
    if ((rc = get_file(w, CS__KIND_GAP,
                       g->ref ? cs_store_group_of(CS_PKTREF_SEG(g->ref), w->partitions) : 0,
                       CS__FRAME_PAYLOAD + n, &f)) < 0)
        return cs__msgstore_err(w, rc);
    n = cs_msgstore_encode_gap(f->buf + f->used + CS__FRAME_PAYLOAD, g);
    commit_frame(f, n);
    return 0;
}

/* The file kind of an encoded record: 'm', 'l', 'u' or 'g'; -1 for others. */
static int encoded_kind(char kind)
{
    return kind == 'm'   ? CS__KIND_MSG
           : kind == 'l' ? CS__KIND_LAT
           : kind == 'u' ? CS__KIND_UNM
           : kind == 'g' ? CS__KIND_GAP
                         : -1;
}

int cs_msgstore_put_encoded(cs_msgstore *w, char kind, const uint8_t *rec, size_t n)
{
    int k = encoded_kind(kind);
    size_t fixed = k == CS__KIND_LAT   ? CS__LAT_FIXED
                   : k == CS__KIND_GAP ? CS__GAP_FIXED
                                       : CS__MSG_FIXED;
    cs__wfile *f;
    int rc;

    if (k < 0 || n < fixed || n > CS__MSG_REC_MAX)
        return cs__msgstore_err(w, cs_error_set(CS_EINVAL, "not an encoded record (%zu bytes)", n));
    /* every record's id (a gap's "at") is at offset 0 */
    if ((rc = get_file(w, k, cs_msgstore_file_seg(cs_rd_le64(rec + CS__MSG_ID), w->partitions),
                       CS__FRAME_PAYLOAD + n, &f)) < 0)
        return cs__msgstore_err(w, rc);
    memcpy(f->buf + f->used + CS__FRAME_PAYLOAD, rec, n);
    commit_frame(f, n);
    return 0;
}

uint64_t cs_msgstore_lost_records(const cs_msgstore *w)
{
    uint64_t lost = 0;

    for (int i = 0; w != NULL && i < CS__MSG_MAX_OPEN; i++)
        lost += w->files[i].lost;
    return lost;
}

int cs_msgstore_flush(cs_msgstore *w)
{
    for (int i = 0; i < CS__MSG_MAX_OPEN; i++)
        if (w->files[i].kind >= 0)
            cs__msgstore_err(w, wfile_flush(&w->files[i]));
    return w->err;
}

int cs_msgstore_close(cs_msgstore *w)
{
    int rc;

    if (w == NULL)
        return 0;
    if (w->replacing)
        cs__msgstore_carry_over(w);
    for (int i = 0; i < CS__MSG_MAX_OPEN; i++) {
        cs__msgstore_err(w, cs__wfile_close(&w->files[i]));
        cs_free(w->files[i].buf);
    }
    if (w->replacing)
        cs__msgstore_err(w, cs__msgstore_publish(w));
    rc = w->err;
    cs_free(w->tmps);
    cs_free(w->sb.buf);
    cs_free(w->dir);
    cs_free(w);
    return rc;
}

/*
 * catalog.c - group catalogs: for each closed group of a partitioned
 * store, one file holding the heads (header and key summary, index.h) of
 * its segments' indexes.
 *
 * Opening a store needs every segment's time span and key summary. Read
 * from the indexes, that is an open, a read and a close per segment, 64 per
 * group by default, plus a stat of its pcap and taps files; read from the
 * catalog it is one read per group, and no segment file is touched until a
 * query reads it. The format (little-endian):
 *
 *   packets/group-NNNNNNNN.cat   NNNNNNNN: the group's first segment id
 *   offset size
 *   0      8    magic "CSCAT\0\0\1"
 *   8      4    format version (1)
 *   12     4    entries N
 *   16     4    the group's first segment id
 *   20     4    the store's partition count
 *   24     8    checksum: cs_checksum64 of every byte after offset 32
 *   32          N entries in ascending segment id, each padded to 8 bytes:
 *     0    4    bytes H of the index head that follows
 *     4    4    zero
 *     8    8    bytes of the segment's taps file (0: none)
 *     16   H    the first H bytes of seg-N.idx (its header and summary)
 *
 * A catalog is a copy of what the indexes say, never the only record. It
 * is written (temp file and rename, synced with CS_STORE_SYNC) only once
 * every file of its group is complete on disk (segwriter.c waits for the
 * background writer), so a crash cannot leave one that promises more than
 * the segments hold. One that is missing, damaged or disagrees with the
 * directory is ignored (the indexes are read instead) and written again by
 * the next writer to open the store, which also checks every catalogued
 * segment's size and repairs one cut short. A reader checks a segment's
 * size when it first reads it (store.c, cs__seg_verify). Retention deletes
 * the catalog before the group's segments.
 */
#include "store/store_int.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CAT_MAGIC "CSCAT\0\0\1"
#define CAT_VERSION 1
#define CAT_HDR 32
#define CAT_ENTRY 16
#define CAT_SEED 0x63617461u
#define CAT_MAX_BYTES (1u << 30) /* a sanity bound: 1024 partitions of 64 KiB heads is 64 MiB */

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

void cs__cat_path(const cs_store *s, uint32_t first, char *buf, size_t size)
{
    snprintf(buf, size, "%s/group-%08" PRIu32 ".cat", s->pktdir, first);
}

/* The index head of loaded segment "g": its header and summary. */
static size_t seg_head_len(const cs_segment *g)
{
    return CS_IDX_HDR + (size_t)g->idx.sum_len;
}

/* Serializes the catalog of the segments segs[from, to) into "*out". */
static int cat_build(const cs_store *s, size_t from, size_t to, uint32_t first, uint8_t **out,
                     size_t *len)
{
    size_t n = CAT_HDR, at = CAT_HDR;
    uint8_t *b;

    for (size_t i = from; i < to; i++)
        n += CAT_ENTRY + pad8(seg_head_len(&s->segs[i]));
    b = cs_calloc(1, n);
    if (b == NULL)
        return CS_ENOMEM;
    memcpy(b, CAT_MAGIC, 8);
    cs_wr_le32(b + 8, CAT_VERSION);
    cs_wr_le32(b + 12, (uint32_t)(to - from));
    cs_wr_le32(b + 16, first);
    cs_wr_le32(b + 20, s->partitions);
    for (size_t i = from; i < to; i++) {
        const cs_segment *g = &s->segs[i];
        size_t h = seg_head_len(g);
        cs_wr_le32(b + at, (uint32_t)h);
        cs_wr_le64(b + at + 8, g->aux_bytes - g->idx.size);
        memcpy(b + at + CAT_ENTRY, g->idx.hdr, CS_IDX_HDR);
        if (g->idx.sum_len > 0)
            memcpy(b + at + CAT_ENTRY + CS_IDX_HDR, g->idx.sum_raw, g->idx.sum_len);
        at += CAT_ENTRY + pad8(h);
    }
    cs_wr_le64(b + 24, cs_checksum64(b + CAT_HDR, n - CAT_HDR, CAT_SEED));
    *out = b;
    *len = n;
    return 0;
}

static int cat_store(const cs_store *s, const char *path, const uint8_t *b, size_t len)
{
    char tmp[4200];
    int fd, rc;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return cs_error_set(cs_error_from_errno(errno), "%s: %s", tmp, strerror(errno));
    rc = cs_write_all(fd, b, len);
    if (rc == 0 && (s->flags & CS_STORE_SYNC) && fdatasync(fd) < 0)
        rc = cs_error_set(CS_EIO, "sync %s: %s", tmp, strerror(errno));
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = cs_error_set(CS_EIO, "%s: %s", path, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    return rc;
}

int cs__cat_write(cs_store *s, uint32_t first)
{
    char path[4096];
    size_t from = 0, to, len;
    uint8_t *b;
    int rc;

    while (from < s->n_segs && s->segs[from].id < first)
        from++;
    for (to = from; to < s->n_segs && s->segs[to].id < first + s->partitions; to++)
        if (s->segs[to].live)
            return 0; /* indexed in memory: nothing final to copy */
    if (to == from || s->partitions <= 1)
        return 0;
    if ((rc = cat_build(s, from, to, first, &b, &len)) < 0)
        return rc;
    cs__cat_path(s, first, path, sizeof(path));
    rc = cat_store(s, path, b, len);
    cs_free(b);
    return rc;
}

/* Checks the entries of catalog "c" (its header is checked): each fits,
 * and their ids ascend within the group. */
static int cat_check_entries(const cs_cat *c, uint32_t n, uint32_t partitions)
{
    size_t at = CAT_HDR;
    uint32_t last = 0;

    for (uint32_t i = 0; i < n; i++) {
        uint32_t h, id;
        if (at + CAT_ENTRY + CS_IDX_HDR > c->len)
            return CS_ECORRUPT;
        h = cs_rd_le32(c->buf + at);
        if (h < CS_IDX_HDR || h > c->len - at - CAT_ENTRY)
            return CS_ECORRUPT;
        id = cs_rd_le32(c->buf + at + CAT_ENTRY + 16);
        if (id < c->first || id - c->first >= partitions || (i > 0 && id <= last))
            return CS_ECORRUPT;
        last = id;
        at += CAT_ENTRY + pad8(h);
    }
    return at == c->len ? 0 : CS_ECORRUPT;
}

static int cat_check(const cs_store *s, cs_cat *c)
{
    uint32_t n;

    if (c->len < CAT_HDR || memcmp(c->buf, CAT_MAGIC, 8) != 0 ||
        cs_rd_le32(c->buf + 8) != CAT_VERSION || cs_rd_le32(c->buf + 16) != c->first ||
        cs_rd_le32(c->buf + 20) != s->partitions ||
        cs_rd_le64(c->buf + 24) != cs_checksum64(c->buf + CAT_HDR, c->len - CAT_HDR, CAT_SEED))
        return CS_ECORRUPT;
    n = cs_rd_le32(c->buf + 12);
    if (n == 0 || n > s->partitions)
        return CS_ECORRUPT;
    return cat_check_entries(c, n, s->partitions);
}

int cs__cat_read(const cs_store *s, uint32_t first, cs_cat *c)
{
    char path[4096];
    struct stat st;
    ssize_t got = -1;
    int fd;

    memset(c, 0, sizeof(*c));
    c->first = first;
    cs__cat_path(s, first, path, sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cs_error_set(CS_ENOTFOUND, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) == 0 && st.st_size >= CAT_HDR && st.st_size <= CAT_MAX_BYTES) {
        c->len = (size_t)st.st_size;
        c->buf = cs_malloc(c->len);
        if (c->buf != NULL)
            got = pread(fd, c->buf, c->len, 0);
    }
    close(fd);
    if (c->len > 0 && c->buf == NULL)
        return CS_ENOMEM;
    if (got != (ssize_t)c->len || c->len == 0 || cat_check(s, c) < 0) {
        cs__cat_free(c);
        return cs_error_set(CS_ECORRUPT, "%s: catalog is damaged", path);
    }
    c->at = CAT_HDR;
    return 0;
}

int cs__cat_find(cs_cat *c, uint32_t id, const uint8_t **head, size_t *head_len,
                 uint64_t *taps_bytes)
{
    while (c->at < c->len) {
        uint32_t h = cs_rd_le32(c->buf + c->at);
        const uint8_t *p = c->buf + c->at + CAT_ENTRY;
        uint32_t eid = cs_rd_le32(p + 16);
        if (eid > id)
            return 0;
        c->at += CAT_ENTRY + pad8(h);
        if (eid == id) {
            *head = p;
            *head_len = h;
            *taps_bytes = cs_rd_le64(p - CAT_ENTRY + 8);
            return 1;
        }
    }
    return 0;
}

void cs__cat_free(cs_cat *c)
{
    cs_free(c->buf);
    memset(c, 0, sizeof(*c));
}

void cs__cat_write_waiting(cs_store *s, int all)
{
    size_t kept = 0;

    for (size_t i = 0; i < s->n_cat_wait; i++) {
        const cs_cat_wait *w = &s->cat_wait[i];
        if (!all && (s->aio == NULL || !cs_aio_reached(s->aio, w->mark))) {
            s->cat_wait[kept++] = *w;
            continue;
        }
        if (cs__cat_write(s, w->first) < 0) {
            cs_log_warn("%s (the store opens without it, more slowly)", cs_error_msg(CS_EIO));
            cs_error_clear();
        }
    }
    s->n_cat_wait = kept;
}

/*
 * order.c - the capture-order record of a group of segments (order.h):
 * written beside the group's segments while it fills, read by queries and
 * scans that merge more than one partition of the group.
 *
 * Format (little-endian), one file per group of a store of P > 1
 * partitions (a store of one partition keeps capture order in its one
 * segment and has none):
 *
 *   packets/group-NNNNNNNN.ord   NNNNNNNN: the group's first segment id
 *   offset  size  (ORD_OFF_* below)
 *   0       8     magic "CSORD\0\0\1"
 *   8       4     format version (1)
 *   12      4     header size (CS_ORDER_HDR = 40)
 *   16      4     the group's first segment id
 *   20      4     the store's partition count P
 *   24      4     bits W an entry (ceil(log2 P))
 *   28      4     flags, written when the group closes (0 before):
 *                 bit 0 (ORD_F_IN_TIME_ORDER): no packet's timestamp is
 *                 below the one before it, so capture order is timestamp
 *                 order except among equal timestamps
 *   32      8     entries N, written when the group closes; 0 while it is
 *                 open or if its writer died (the entries are then the
 *                 whole W-bit fields the file holds)
 *   40            entries: entry i (the partition, 0..P-1, of the group's
 *                 i-th packet in capture order) is bits [i*W, i*W + W) of
 *                 this byte stream, bit b of the stream being bit b % 8 of
 *                 byte b / 8 (least significant first)
 *
 * Cost: W bits a packet (6 for the default 64 partitions): 0.14% of the
 * packet bytes of the generated trading traffic (tools/gentraffic.py) and
 * 0.05% of tests/pcaps/ndpi/1kxun.pcap. Run-length coding would not be
 * smaller: consecutive packets share a partition for 1.4 packets on
 * average in the first and 2.3 in the second, and a run costs W bits
 * plus its length.
 *
 * Invariants and how readers cope:
 *   - The file is only appended to (the flags and count are written once,
 *     at close), in whole bytes, so a reader sees a prefix of the entries:
 *     a live group, or one whose writer was killed, has a record shorter
 *     than its packets (the rest are merged by timestamp after it) or
 *     longer than what reached the segments (entries naming a packet past
 *     the end of its segment are skipped; a segment's packets are a prefix
 *     too).
 *   - An entry only chooses which partition's next packet comes next, so
 *     a damaged record can cost order, never a wrong packet; entries of P
 *     or more are skipped.
 *   - The flags are trusted only with the count, and only if the file
 *     holds that many entries (a closed, whole record).
 *   - Writing it never fails a packet: a record that cannot be created or
 *     written is left as far as it got (warned). A write that finds the
 *     disk full is first cut back to where it began and retried once after
 *     the writer's room hook (the store's retention) freed space.
 *
 * Threading: a writer is used by the store's writing thread; a record read
 * is owned by its reader.
 */
#include "store/order.h"

#include "core/alloc.h"
#include "core/aio.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ORD_MAGIC "CSORD\0\0\1"
#define ORD_VERSION 1
#define ORD_OFF_MAGIC 0
#define ORD_OFF_VERSION 8
#define ORD_OFF_HDR_SIZE 12
#define ORD_OFF_FIRST 16
#define ORD_OFF_PARTITIONS 20
#define ORD_OFF_WIDTH 24
#define ORD_OFF_FLAGS 28
#define ORD_OFF_COUNT 32
#define ORD_F_IN_TIME_ORDER 1u
#define ORD_BUF 4096u              /* bytes of entries buffered before a write */
#define ORD_MAX_BYTES (1ull << 32) /* a sanity bound on a file read whole */

uint32_t cs_order_width(uint32_t partitions)
{
    uint32_t w = 0;

    while (partitions > 1 && (1ull << w) < partitions)
        w++;
    return w;
}

void cs_order_path(const char *pktdir, uint32_t first, char *buf, size_t size)
{
    snprintf(buf, size, "%s/group-%08" PRIu32 ".ord", pktdir, first);
}

uint64_t cs_order_file_bytes(const char *pktdir, uint32_t first)
{
    char path[4096];
    struct stat st;

    cs_order_path(pktdir, first, path, sizeof(path));
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

void cs_order_writer_init(cs_order_writer *w)
{
    memset(w, 0, sizeof(*w));
    w->fd = -1;
}

void cs_order_writer_free(cs_order_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    cs_free(w->buf);
    cs_order_writer_init(w);
}

/* Stops recording the open group after a failed write (warned). */
static void writer_give_up(cs_order_writer *w, const char *what)
{
    cs_log_warn("capture-order record: %s: %s (the group is merged by timestamp past this point)",
                what, strerror(errno));
    close(w->fd);
    w->fd = -1;
}

void cs_order_writer_open(cs_order_writer *w, const char *path, uint32_t first, uint32_t partitions)
{
    uint8_t hdr[CS_ORDER_HDR];

    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    w->width = cs_order_width(partitions);
    w->acc = w->n_acc = 0;
    w->count = 0;
    w->used = 0;
    w->last_ts = INT64_MIN;
    w->backwards = 0;
    if (w->width == 0)
        return;
    if (w->buf == NULL && (w->buf = cs_malloc(ORD_BUF)) == NULL) {
        cs_error_clear();
        return;
    }
    memset(hdr, 0, sizeof(hdr));
    memcpy(hdr + ORD_OFF_MAGIC, ORD_MAGIC, 8);
    cs_wr_le32(hdr + ORD_OFF_VERSION, ORD_VERSION);
    cs_wr_le32(hdr + ORD_OFF_HDR_SIZE, CS_ORDER_HDR);
    cs_wr_le32(hdr + ORD_OFF_FIRST, first);
    cs_wr_le32(hdr + ORD_OFF_PARTITIONS, partitions);
    cs_wr_le32(hdr + ORD_OFF_WIDTH, w->width);
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        cs_log_warn("capture-order record %s: %s (the group is merged by timestamp)", path,
                    strerror(errno));
        return;
    }
    if (cs_write_all(w->fd, hdr, sizeof(hdr)) < 0) {
        cs_error_clear();
        writer_give_up(w, path);
    }
}

/* Writes the buffered bytes; a full disk gets one retry after the room
 * hook freed space, from where the write began (a write cut short is cut
 * back first, so no byte is written twice). */
static int write_buffered(cs_order_writer *w)
{
    off_t at = lseek(w->fd, 0, SEEK_CUR);
    int rc = cs_write_all(w->fd, w->buf, w->used);

    if (rc != CS_ENOSPACE || w->room == NULL || at < 0)
        return rc;
    cs_error_clear();
    if (ftruncate(w->fd, at) < 0 || lseek(w->fd, at, SEEK_SET) != at || w->room(w->room_ud) <= 0)
        return CS_ENOSPACE;
    return cs_write_all(w->fd, w->buf, w->used);
}

void cs_order_writer_flush(cs_order_writer *w)
{
    if (w->fd >= 0 && w->used > 0 && write_buffered(w) < 0) {
        cs_error_clear();
        writer_give_up(w, "write");
    }
    w->used = 0;
}

void cs_order_writer_add(cs_order_writer *w, uint32_t part, int64_t ts_ns)
{
    if (w->fd < 0)
        return;
    if (ts_ns < w->last_ts)
        w->backwards = 1;
    w->last_ts = ts_ns;
    w->acc |= (uint64_t)part << w->n_acc;
    w->n_acc += w->width;
    w->count++;
    while (w->n_acc >= 8) {
        w->buf[w->used++] = (uint8_t)w->acc;
        w->acc >>= 8;
        w->n_acc -= 8;
    }
    if (w->used > ORD_BUF - 8)
        cs_order_writer_flush(w);
}

void cs_order_writer_close(cs_order_writer *w, int sync)
{
    uint8_t tail[8 + ORD_OFF_COUNT - ORD_OFF_FLAGS];

    if (w->fd < 0)
        return;
    if (w->n_acc > 0) /* the last entry's bits, padded with zeros */
        w->buf[w->used++] = (uint8_t)w->acc;
    w->acc = w->n_acc = 0;
    cs_order_writer_flush(w);
    if (w->fd < 0)
        return;
    cs_wr_le32(tail, w->backwards ? 0 : ORD_F_IN_TIME_ORDER);
    cs_wr_le64(tail + ORD_OFF_COUNT - ORD_OFF_FLAGS, w->count);
    if (pwrite(w->fd, tail, sizeof(tail), ORD_OFF_FLAGS) != (ssize_t)sizeof(tail) ||
        (sync && fdatasync(w->fd) < 0)) {
        writer_give_up(w, "close");
        return;
    }
    close(w->fd);
    w->fd = -1;
}

int cs_order_parse(const uint8_t *buf, size_t len, uint32_t first, uint32_t partitions, cs_order *o)
{
    uint64_t whole, count;

    memset(o, 0, sizeof(*o));
    if (len < CS_ORDER_HDR || memcmp(buf + ORD_OFF_MAGIC, ORD_MAGIC, 8) != 0 ||
        cs_rd_le32(buf + ORD_OFF_VERSION) != ORD_VERSION ||
        cs_rd_le32(buf + ORD_OFF_HDR_SIZE) != CS_ORDER_HDR ||
        cs_rd_le32(buf + ORD_OFF_FIRST) != first ||
        cs_rd_le32(buf + ORD_OFF_PARTITIONS) != partitions ||
        cs_rd_le32(buf + ORD_OFF_WIDTH) != cs_order_width(partitions) ||
        cs_order_width(partitions) == 0)
        return cs_error_set(CS_ECORRUPT, "capture-order record of group %" PRIu32 " is damaged",
                            first);
    o->width = cs_order_width(partitions);
    o->partitions = partitions;
    o->ent = buf + CS_ORDER_HDR;
    whole = (uint64_t)(len - CS_ORDER_HDR) * 8 / o->width;
    count = cs_rd_le64(buf + ORD_OFF_COUNT);
    o->n = count != 0 && count < whole ? count : whole;
    o->in_time_order = count != 0 && count <= whole &&
                       (cs_rd_le32(buf + ORD_OFF_FLAGS) & ORD_F_IN_TIME_ORDER) != 0;
    return 0;
}

int cs_order_read(const char *pktdir, uint32_t first, uint32_t partitions, cs_order *o)
{
    char path[4096];
    struct stat st;
    uint8_t *buf;
    ssize_t got;
    int fd, rc;

    memset(o, 0, sizeof(*o));
    cs_order_path(pktdir, first, path, sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? CS_ENOTFOUND
                               : cs_error_set(CS_EIO, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > ORD_MAX_BYTES) {
        close(fd);
        return cs_error_set(CS_ECORRUPT, "%s: unreadable or too large", path);
    }
    if ((buf = cs_malloc((size_t)st.st_size + 1)) == NULL) {
        close(fd);
        return CS_ENOMEM;
    }
    do
        got = pread(fd, buf, (size_t)st.st_size, 0);
    while (got < 0 && errno == EINTR);
    close(fd);
    if (got < 0) {
        cs_free(buf);
        return cs_error_set(CS_EIO, "%s: %s", path, strerror(errno));
    }
    if ((rc = cs_order_parse(buf, (size_t)got, first, partitions, o)) < 0) {
        cs_free(buf);
        return rc;
    }
    o->file = buf;
    return 0;
}

void cs_order_free(cs_order *o)
{
    cs_free(o->file);
    memset(o, 0, sizeof(*o));
}

/*
 * How cs_order_positions works: walking the entries in capture order,
 * "seen[p]" counts the packets of partition p met so far, so entry i
 * naming p is the packet of rank seen[p] in p. When that is the next rank
 * asked of p, it gets position i and p's cursor moves on. The walk stops
 * once every partition's ranks are placed; what is left gets
 * CS_ORDER_NONE. Ranks asked are ascending within a partition, so each
 * is met at most once.
 */
void cs_order_positions(const cs_order *o, uint64_t *const *rank, const size_t *n, size_t stride)
{
    uint32_t np = o->partitions;
    uint64_t *seen = cs_calloc(np ? np : 1, sizeof(uint64_t));
    size_t *next = cs_calloc(np ? np : 1, sizeof(size_t)), pending = 0;

#define RANK_AT(p, k) (*(uint64_t *)((uint8_t *)rank[p] + (k)*stride))
    if (seen == NULL || next == NULL) {
        cs_error_clear();
        pending = 0; /* no memory: every rank stays unplaced below */
    } else {
        for (uint32_t p = 0; p < np; p++)
            pending += n[p];
    }
    for (uint64_t i = 0; i < o->n && pending > 0; i++) {
        uint32_t p = cs_order_get(o, i);
        if (p >= np)
            continue;                                             /* damaged: names no partition */
        while (next[p] < n[p] && RANK_AT(p, next[p]) < seen[p]) { /* not ascending */
            RANK_AT(p, next[p]) = CS_ORDER_NONE;
            next[p]++;
            pending--;
        }
        if (next[p] < n[p] && RANK_AT(p, next[p]) == seen[p]) {
            RANK_AT(p, next[p]) = i;
            next[p]++;
            pending--;
        }
        seen[p]++;
    }
    for (uint32_t p = 0; p < np; p++)
        for (size_t k = next ? next[p] : 0; k < n[p]; k++)
            RANK_AT(p, k) = CS_ORDER_NONE;
#undef RANK_AT
    cs_free(seen);
    cs_free(next);
}

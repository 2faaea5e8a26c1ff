/*
 * metricstore.c - metrics files (their format, writing and retention) and
 * the alert log (see metricstore.h for the directory layout); the queries
 * over them are in metricquery.c.
 *
 * Metrics file layout (all integers little-endian):
 *
 *   file header
 *   OFFSET SIZE  MEANING
 *        0    8  magic "CSMETRIC"
 *        8    4  format version (1)
 *       12    4  reserved (0)
 *
 *   record, repeated
 *   OFFSET SIZE  MEANING
 *        0    4  L: body length in bytes (1 .. 1 MiB)
 *        4    4  check: low 32 bits of cs_hash64(body, L, 0x6d6574)
 *        8    L  body:
 *                  0    8  start_ns (int64)
 *                  8    1  series kind (cs_series_kind)
 *                  9    1  N: series name length (< 32)
 *                 10    N  series name (no NUL)
 *               10+N    .  varints (LEB128, 7 bits a byte, low first):
 *                          dur_ns, packets, bytes, messages, errors,
 *                          measurements, late, burst_packets,
 *                          burst_packets_ms, burst_bytes, burst_bytes_ms,
 *                          gauges[0..2], hist_count
 *                          if hist_count > 0:
 *                            varint min, varint max, 8-byte double sum,
 *                            varint B (non-empty buckets), then B times:
 *                            varint bucket index delta (from the previous
 *                            index, the first from 0), varint bucket count
 *                          if gaps or missing > 0 (proto and feed
 *                          series), and always for clock and session
 *                          series:
 *                            varint gaps, varint missing (sequence gaps
 *                            and the numbers missing in them); records
 *                            without them (every record written before
 *                            gaps were counted) end after the histogram
 *                            and read as 0 gaps
 *                          clock series only, then:
 *                            varint zigzag(offset_sum_ns), varint
 *                            unsynced, varint backwards, varint untimed
 *                          session series only, then:
 *                            varint orders, varint accepts, varint
 *                            rejects
 *
 *                          A feed series' burst_packets(_ms) is its
 *                          busiest millisecond by ITCH messages, its
 *                          histogram the lead of the A/B races it won.
 *
 *   ┌────────┬──────┬──────┬──────────────┬──────┬──────┬──────────┬──
 *   │ header │ L    │check │ body ...     │ L    │check │ body ... │ ...
 *   └────────┴──────┴──────┴──────────────┴──────┴──────┴──────────┴──
 *
 * A record is served only if it is complete, its check matches and its
 * body decodes to exactly L bytes; the first one that is not ends the file
 * for readers (a torn tail), and the writer truncates there before it
 * appends.
 *
 * A full disk (ENOSPC, EDQUOT) is a loss, not a failure: a write cut short
 * is truncated back to the file's last whole record, the windows (or the
 * alert line) it carried are counted in cs_metricstore_lost(), and the next
 * write tries again, so the run goes on and says what it lost. Any other
 * write error is remembered and returned by cs_metricstore_close().
 *
 * Queries are in metricquery.c.
 */
#include "store/metricstore.h"
#include "store/metricstore_int.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/sort.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "CSMETRIC"
#define VERSION 1
#define REC_HEAD 8
#define MAX_BODY (1u << 20)
#define CHECK_SEED 0x6d6574u
#define FLUSH_AT (64u << 10)

/* ---- encoding --------------------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static int buf_need(buf *b, size_t more)
{
    return cs_grow((void **)&b->p, &b->cap, b->len + more, 1);
}

static void put_varint(buf *b, uint64_t v)
{
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        b->p[b->len++] = byte | (v ? 0x80 : 0);
    } while (v);
}

static uint64_t get_varint(cs_cursor *c)
{
    uint64_t v = 0;

    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t byte = cs_get_u8(c);
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return v;
    }
    c->err = true; /* more than 10 bytes */
    return 0;
}

/* Appends the record of "w" to "b". */
static int encode(buf *b, const cs_window *w)
{
    size_t name_len = strnlen(w->series.name, CS_SERIES_NAME_MAX - 1);
    const cs_histogram *h = w->hist;
    uint64_t hc = h ? h->count : 0, nb = 0, sum_bits;
    size_t at = b->len, body;
    uint64_t v[] = {
        (uint64_t)w->dur_ns, w->packets,   w->bytes,         w->messages,         w->errors,
        w->measurements,     w->late,      w->burst_packets, w->burst_packets_ms, w->burst_bytes,
        w->burst_bytes_ms,   w->gauges[0], w->gauges[1],     w->gauges[2],        hc};
    int prev = 0, first = 0, last = -1; /* non-empty buckets lie in [first, last] */

    if (hc) {
        first = cs_hist_bucket_of(h->min);
        last = cs_hist_bucket_of(h->max);
        for (int i = first; i <= last; i++)
            nb += h->buckets[i] != 0;
    }
    if (buf_need(b, REC_HEAD + 10 + name_len + 10 * 20 + 8 + nb * 20 + 6 * 10) < 0)
        return CS_ENOMEM;
    b->len += REC_HEAD;
    cs_wr_le64(b->p + b->len, (uint64_t)w->start_ns);
    b->p[b->len + 8] = w->series.kind;
    b->p[b->len + 9] = (uint8_t)name_len;
    memcpy(b->p + b->len + 10, w->series.name, name_len);
    b->len += 10 + name_len;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        put_varint(b, v[i]);
    if (hc) {
        put_varint(b, (uint64_t)h->min);
        put_varint(b, (uint64_t)h->max);
        memcpy(&sum_bits, &h->sum, 8);
        cs_wr_le64(b->p + b->len, sum_bits);
        b->len += 8;
        put_varint(b, nb);
        for (int i = first; i <= last; i++) {
            if (h->buckets[i] == 0)
                continue;
            put_varint(b, (uint64_t)(i - prev));
            put_varint(b, h->buckets[i]);
            prev = i;
        }
    }
    if ((w->gaps | w->missing) || w->series.kind == CS_SERIES_CLOCK ||
        w->series.kind == CS_SERIES_SESSION) {
        put_varint(b, w->gaps);
        put_varint(b, w->missing);
    }
    if (w->series.kind == CS_SERIES_CLOCK) {
        put_varint(b, ((uint64_t)w->offset_sum_ns << 1) ^ (uint64_t)(w->offset_sum_ns >> 63));
        put_varint(b, w->unsynced);
        put_varint(b, w->backwards);
        put_varint(b, w->untimed);
    }
    if (w->series.kind == CS_SERIES_SESSION) {
        put_varint(b, w->orders);
        put_varint(b, w->accepts);
        put_varint(b, w->rejects);
    }
    body = b->len - at - REC_HEAD;
    cs_wr_le32(b->p + at, (uint32_t)body);
    cs_wr_le32(b->p + at + 4, (uint32_t)cs_hash64(b->p + at + REC_HEAD, body, CHECK_SEED));
    return 0;
}

/* ---- decoding --------------------------------------------------------- */

/* Where the next record starts: its body in [*body, *body + *len). 1 for a
 * record, 0 at the end or at a torn/corrupt record. */
int cs__ms_next_record(const uint8_t *data, size_t len, size_t *off, const uint8_t **body,
                       size_t *blen)
{
    uint32_t l;

    if (len - *off < REC_HEAD)
        return 0;
    l = cs_rd_le32(data + *off);
    if (l < 10 || l > MAX_BODY || len - *off - REC_HEAD < l)
        return 0;
    if ((uint32_t)cs_hash64(data + *off + REC_HEAD, l, CHECK_SEED) != cs_rd_le32(data + *off + 4))
        return 0;
    *body = data + *off + REC_HEAD;
    *blen = l;
    *off += REC_HEAD + l;
    return 1;
}

int cs__ms_header_ok(const uint8_t *data, size_t len)
{
    return len >= CS__MS_HEADER_LEN && memcmp(data, MAGIC, 8) == 0 &&
           cs_rd_le32(data + 8) == VERSION;
}

/*
 * Decodes one body into "w". Buckets are added into "h" (which the caller
 * has prepared; its count/min/max/sum are merged here), tracking the bucket
 * index range touched in [*lo, *hi]. Returns 0 or CS_ECORRUPT.
 */
int cs__ms_decode(const uint8_t *body, size_t blen, cs_window *w, cs_histogram *h, int *lo, int *hi)
{
    cs_cursor c;
    uint64_t v[15], nb, sum_bits;
    const uint8_t *name;
    int64_t mn, mx;
    double sum;
    int idx = 0;

    memset(w, 0, sizeof(*w));
    cs_cursor_init(&c, body, blen);
    w->start_ns = (int64_t)cs_get_le64(&c);
    w->series.kind = cs_get_u8(&c);
    nb = cs_get_u8(&c);
    if (nb >= CS_SERIES_NAME_MAX || (name = cs_cursor_need(&c, nb)) == NULL)
        return CS_ECORRUPT;
    memcpy(w->series.name, name, nb);
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        v[i] = get_varint(&c);
    w->dur_ns = (int64_t)v[0];
    w->packets = v[1], w->bytes = v[2], w->messages = v[3], w->errors = v[4];
    w->measurements = v[5], w->late = v[6], w->burst_packets = (uint32_t)v[7];
    w->burst_packets_ms = (uint16_t)v[8], w->burst_bytes = v[9];
    w->burst_bytes_ms = (uint16_t)v[10];
    memcpy(w->gauges, v + 11, sizeof(w->gauges));
    if (v[14]) {
        mn = (int64_t)get_varint(&c);
        mx = (int64_t)get_varint(&c);
        sum_bits = cs_get_le64(&c);
        memcpy(&sum, &sum_bits, 8);
        nb = get_varint(&c);
        if (!cs_cursor_ok(&c) || nb > CS_HIST_BUCKETS || mn < 0 || mx < mn)
            return CS_ECORRUPT;
        if (h->count == 0 || mn < h->min)
            h->min = mn;
        if (h->count == 0 || mx > h->max)
            h->max = mx;
        h->count += v[14];
        h->sum += sum;
        for (uint64_t i = 0; i < nb; i++) {
            uint64_t d = get_varint(&c), cnt = get_varint(&c);
            if (d >= CS_HIST_BUCKETS || idx + (int)d >= CS_HIST_BUCKETS || (i > 0 && d == 0))
                return CS_ECORRUPT;
            idx += (int)d;
            h->buckets[idx] += cnt;
            if (idx < *lo)
                *lo = idx;
            if (idx > *hi)
                *hi = idx;
        }
    }
    if (cs_cursor_ok(&c) && cs_cursor_left(&c) > 0) { /* the gap counts */
        w->gaps = get_varint(&c);
        w->missing = get_varint(&c);
    }
    if (w->series.kind == CS_SERIES_CLOCK && cs_cursor_ok(&c) && cs_cursor_left(&c) > 0) {
        uint64_t z = get_varint(&c);
        w->offset_sum_ns = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
        w->unsynced = get_varint(&c);
        w->backwards = get_varint(&c);
        w->untimed = get_varint(&c);
    }
    if (w->series.kind == CS_SERIES_SESSION && cs_cursor_ok(&c) && cs_cursor_left(&c) > 0) {
        w->orders = get_varint(&c);
        w->accepts = get_varint(&c);
        w->rejects = get_varint(&c);
    }
    if (!cs_cursor_ok(&c) || cs_cursor_left(&c) != 0)
        return CS_ECORRUPT;
    return 0;
}

/* Empties "h", whose non-zero buckets all lie in [lo, hi]. */
void cs__ms_hist_clear(cs_histogram *h, int lo, int hi)
{
    h->count = 0;
    h->sum = 0;
    h->min = h->max = 0;
    if (hi >= lo)
        memset(&h->buckets[lo], 0, (size_t)(hi - lo + 1) * sizeof(h->buckets[0]));
}

int cs_metricstore_parse_image(const uint8_t *data, size_t len, cs_window_fn fn, void *ud,
                               size_t *valid_len)
{
    cs_histogram *h = NULL;
    const uint8_t *body;
    size_t off = CS__MS_HEADER_LEN, blen, good = CS__MS_HEADER_LEN;
    cs_window w;
    int lo, hi, rc;

    if (valid_len)
        *valid_len = 0;
    if (!cs__ms_header_ok(data, len))
        return cs_error_set(CS_ENOTSTORE, "not a capstream metrics file");
    if ((h = cs_malloc(sizeof(*h))) == NULL)
        return CS_ENOMEM;
    cs_hist_init(h);
    while (cs__ms_next_record(data, len, &off, &body, &blen)) {
        lo = CS_HIST_BUCKETS, hi = -1;
        rc = cs__ms_decode(body, blen, &w, h, &lo, &hi);
        if (rc == 0) {
            w.hist = w.series.kind == CS_SERIES_PAIR || w.series.kind == CS_SERIES_FEED ||
                             w.series.kind == CS_SERIES_SESSION
                         ? h
                         : NULL;
            good = off;
            if (fn)
                fn(ud, &w);
        }
        cs__ms_hist_clear(h, lo, hi);
        if (rc < 0)
            break;
    }
    if (valid_len)
        *valid_len = good;
    cs_free(h);
    return 0;
}

char *cs_metricstore_file_name(int64_t ts_ns, char *out)
{
    time_t t = (time_t)(cs__ms_floor_div(ts_ns, CS__MS_HOUR_NS) * 3600);
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(out, 64, "met-%04d%02d%02dT%02d.bin", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour);
    return out;
}

/* The hour start (ns) a file name stands for, or 0 with -1. */
static int file_hour(const char *name, int64_t *hour_ns)
{
    struct tm tm;
    int y, mo, d, h, n = 0;

    if (sscanf(name, "met-%4d%2d%2dT%2d.bin%n", &y, &mo, &d, &h, &n) != 4 || n != (int)strlen(name))
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_hour = h;
    *hour_ns = (int64_t)timegm(&tm) * CS_NS_PER_SEC;
    return 0;
}

/* ---- file lists ------------------------------------------------------- */

static int cmp_mfile(const void *a, const void *b)
{
    const cs__mfile *x = a, *y = b;
    return (x->hour_ns > y->hour_ns) - (x->hour_ns < y->hour_ns);
}

/* The metrics files of "dir", oldest first. A missing dir is empty. */
int cs__ms_list_files(const char *dir, cs__mfile **out, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct stat st;
    char path[4096];
    size_t cap = 0;
    cs__mfile *f = NULL;
    int rc = 0;

    *out = NULL;
    *n = 0;
    if (d == NULL)
        return errno == ENOENT ? 0 : cs_error_set(CS_EIO, "%s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        int64_t hour;
        if (strlen(de->d_name) >= 32 || file_hour(de->d_name, &hour) < 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &st) < 0)
            continue;
        if ((rc = cs_grow((void **)&f, &cap, *n + 1, sizeof(*f))) < 0)
            break;
        strcpy(f[*n].name, de->d_name);
        f[*n].hour_ns = hour;
        f[*n].size = (uint64_t)st.st_size;
        (*n)++;
    }
    closedir(d);
    if (rc < 0) {
        cs_free(f);
        *n = 0;
        return rc;
    }
    cs_qsort(f, *n, sizeof(*f), cmp_mfile);
    *out = f;
    return 0;
}

/* ---- writer ----------------------------------------------------------- */

struct cs_metricstore {
    char *dir;       /* STORE/metrics */
    char *alert_dir; /* STORE/alerts */
    cs_metricstore_opts opts;
    int fd;
    int64_t hour_ns; /* of the open file */
    int64_t newest_ns;
    buf out;
    uint64_t out_windows; /* windows encoded in "out" */
    cs_metricstore_lost lost;
    int err;
};

static int mkdir_p(const char *path)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    return 0;
}

static int remember(cs_metricstore *w, int rc)
{
    if (rc < 0 && w->err == 0)
        w->err = rc;
    return rc;
}

static int no_space(int rc)
{
    return rc == CS_ENOSPACE;
}

/* After a write that failed with "e" at file offset "start": cuts what it
 * wrote off the file (readers never see half a record) and drops the
 * buffer; a full disk counts its windows as lost, anything else is an
 * error. */
static int write_failed(cs_metricstore *w, off_t start, int e)
{
    uint64_t windows = w->out_windows;
    int rc = cs_error_from_errno(e);

    if (start >= 0 && ftruncate(w->fd, start) < 0)
        rc = CS_EIO;
    w->out.len = 0;
    w->out_windows = 0;
    if (no_space(rc)) {
        w->lost.windows += windows;
        return 0;
    }
    return remember(w, cs_error_set(rc, "%s: write: %s", w->dir, strerror(e)));
}

int cs_metricstore_flush(cs_metricstore *w)
{
    size_t done = 0;
    off_t start;

    if (w->out.len == 0 || w->fd < 0)
        return 0;
    start = lseek(w->fd, 0, SEEK_END);
    while (done < w->out.len) {
        ssize_t n = write(w->fd, w->out.p + done, w->out.len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return write_failed(w, start, errno);
        done += (size_t)n;
    }
    w->out.len = 0;
    w->out_windows = 0;
    return 0;
}

/* Cuts a torn tail off the file open at "fd" and returns 0 (or writes the
 * header of an empty file). */
static int prepare_file(cs_metricstore *w, int fd, const char *path)
{
    struct stat st;
    uint8_t *map, hdr[CS__MS_HEADER_LEN] = MAGIC;
    size_t valid = 0;
    int rc = 0;

    if (fstat(fd, &st) < 0)
        return cs_error_set(CS_EIO, "%s: %s", path, strerror(errno));
    if (st.st_size < CS__MS_HEADER_LEN) {
        cs_wr_le32(hdr + 8, VERSION);
        if (ftruncate(fd, 0) < 0 || pwrite(fd, hdr, CS__MS_HEADER_LEN, 0) != CS__MS_HEADER_LEN)
            return cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
        return 0;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        return cs_error_set(CS_EIO, "%s: mmap: %s", path, strerror(errno));
    rc = cs_metricstore_parse_image(map, (size_t)st.st_size, NULL, NULL, &valid);
    munmap(map, (size_t)st.st_size);
    if (rc == CS_ENOTSTORE)
        return cs_error_set(CS_ENOTSTORE, "%s: not a capstream metrics file", path);
    if (rc < 0)
        return rc;
    if (valid < (size_t)st.st_size && ftruncate(fd, (off_t)valid) < 0)
        return cs_error_set(CS_EIO, "%s: truncate: %s", path, strerror(errno));
    return 0;
}

static int open_hour(cs_metricstore *w, int64_t hour_ns)
{
    char name[64], path[4096];
    int fd, rc;

    if ((rc = cs_metricstore_flush(w)) < 0)
        return rc;
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    snprintf(path, sizeof(path), "%s/%s", w->dir, cs_metricstore_file_name(hour_ns, name));
    fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    if ((rc = prepare_file(w, fd, path)) < 0) {
        struct stat st;
        if (no_space(rc) && fstat(fd, &st) == 0 && st.st_size == 0)
            unlink(path); /* no room even for its header: leave no empty file */
        close(fd);
        return rc;
    }
    w->fd = fd;
    w->hour_ns = hour_ns;
    return 0;
}

int cs_metricstore_retain(cs_metricstore *w, int64_t now_ns, unsigned *deleted)
{
    cs__mfile *f;
    size_t n;
    uint64_t total = 0;
    char path[4096];
    int rc;

    if (deleted)
        *deleted = 0;
    if ((rc = cs__ms_list_files(w->dir, &f, &n)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        total += f[i].size;
    for (size_t i = 0; i < n; i++) {
        int too_big = w->opts.max_bytes && total > w->opts.max_bytes;
        int too_old =
            w->opts.max_age_ns && f[i].hour_ns + CS__MS_HOUR_NS <= now_ns - w->opts.max_age_ns;
        if (f[i].hour_ns == w->hour_ns && w->fd >= 0)
            continue;
        if (!too_big && !too_old)
            continue;
        snprintf(path, sizeof(path), "%s/%s", w->dir, f[i].name);
        if (unlink(path) == 0) {
            total -= f[i].size;
            if (deleted)
                (*deleted)++;
        }
    }
    cs_free(f);
    return 0;
}

int cs_metricstore_put(cs_metricstore *w, const cs_window *win)
{
    int64_t hour = cs__ms_floor_div(win->start_ns, CS__MS_HOUR_NS) * CS__MS_HOUR_NS;
    int rc;

    if (cs_window_empty(win))
        return 0;
    if (win->start_ns > w->newest_ns)
        w->newest_ns = win->start_ns;
    if (w->fd < 0 || hour != w->hour_ns) {
        int fresh = w->fd < 0 || hour > w->hour_ns;
        if ((rc = open_hour(w, hour)) < 0 && no_space(rc)) {
            w->lost.windows++; /* no room for the file's header */
            return 0;
        }
        if (rc < 0)
            return remember(w, rc);
        if (fresh && (rc = cs_metricstore_retain(w, w->newest_ns, NULL)) < 0)
            return remember(w, rc);
    }
    if ((rc = encode(&w->out, win)) < 0)
        return remember(w, rc);
    w->out_windows++;
    if (w->out.len >= FLUSH_AT)
        return cs_metricstore_flush(w);
    return 0;
}

void cs_metricstore_window_fn(void *metricstore, const cs_window *win)
{
    cs_metricstore_put(metricstore, win);
}

int cs_metricstore_open(const char *store_dir, const cs_metricstore_opts *opts,
                        cs_metricstore **out)
{
    cs_metricstore *w = cs_calloc(1, sizeof(*w));
    size_t len = strlen(store_dir) + 16;
    int rc = CS_ENOMEM;

    *out = NULL;
    if (w == NULL)
        return CS_ENOMEM;
    w->fd = -1;
    w->newest_ns = INT64_MIN;
    if (opts)
        w->opts = *opts;
    if ((w->dir = cs_malloc(len)) == NULL || (w->alert_dir = cs_malloc(len)) == NULL)
        goto fail;
    snprintf(w->dir, len, "%s/metrics", store_dir);
    snprintf(w->alert_dir, len, "%s/alerts", store_dir);
    if ((rc = mkdir_p(w->dir)) < 0 || (rc = mkdir_p(w->alert_dir)) < 0)
        goto fail;
    *out = w;
    return 0;
fail:
    cs_metricstore_close(w);
    return rc;
}

cs_metricstore_lost cs_metricstore_lost_so_far(const cs_metricstore *w)
{
    return w->lost;
}

int cs_metricstore_close(cs_metricstore *w)
{
    int rc;

    if (w == NULL)
        return 0;
    if (w->fd >= 0) {
        cs_metricstore_flush(w);
        close(w->fd);
    }
    rc = w->err;
    cs_free(w->out.p);
    cs_free(w->dir);
    cs_free(w->alert_dir);
    cs_free(w);
    return rc;
}

/* ---- alert log -------------------------------------------------------- */

static void series_text(const cs_series_id *s, char *out, size_t size)
{
    snprintf(out, size, "%s=%s", cs_series_kind_name(s->kind), s->name);
}

/* Appends "line" whole or not at all: a short write is cut back off. */
static int append_line(int fd, const char *line, size_t len, const char *path)
{
    off_t start = lseek(fd, 0, SEEK_END);
    ssize_t n = write(fd, line, len);
    int e = errno;

    if (n == (ssize_t)len)
        return 0;
    if (n >= 0) /* short: the disk filled in the middle */
        e = ENOSPC;
    if (start >= 0 && ftruncate(fd, start) < 0)
        e = EIO;
    return cs_error_set(cs_error_from_errno(e), "%s: %s", path, strerror(e));
}

int cs_metricstore_put_alert(cs_metricstore *w, const cs_alert_event *ev)
{
    char path[4096], series[8 + CS_SERIES_NAME_MAX]; /* "KIND=NAME" */
    json_t *o;
    char *line = NULL;
    int fd = -1, rc = 0;
    size_t len;

    series_text(&ev->series, series, sizeof(series));
    o = json_pack("{s:s, s:s, s:I, s:f, s:f, s:I, s:I, s:s, s:s, s:s}", "rule", ev->rule, "state",
                  cs_alert_state_name(ev->state), "ts_ns", (json_int_t)ev->ts_ns, "value",
                  ev->value, "threshold", ev->threshold, "from_ns", (json_int_t)ev->from_ns,
                  "to_ns", (json_int_t)ev->to_ns, "series", series, "metric",
                  cs_alert_metric_name(ev->metric), "text", ev->text ? ev->text : "");
    if (o == NULL || (line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
        rc = CS_ENOMEM;
        goto out;
    }
    len = strlen(line);
    line[len] = '\n'; /* json_dumps NUL-terminates; the NUL slot becomes the newline */
    snprintf(path, sizeof(path), "%s/alerts.jsonl", w->alert_dir);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        rc = cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    else
        rc = append_line(fd, line, len + 1, path);
    if (no_space(rc)) {
        w->lost.alerts++;
        rc = 0;
    }
out:
    if (fd >= 0)
        close(fd);
    free(line);
    json_decref(o);
    return remember(w, rc);
}

static int event_from_json(json_t *o, cs_alert_event *ev, const char **state)
{
    const char *series = NULL, *metric = NULL, *sep;
    json_int_t ts = 0, from = 0, to = 0;
    int kind;

    memset(ev, 0, sizeof(*ev));
    if (json_unpack(o, "{s:s, s:s, s:I, s:F, s:F, s:I, s:I, s:s, s:s, s:s}", "rule", &ev->rule,
                    "state", state, "ts_ns", &ts, "value", &ev->value, "threshold", &ev->threshold,
                    "from_ns", &from, "to_ns", &to, "series", &series, "metric", &metric, "text",
                    &ev->text) != 0)
        return -1;
    ev->ts_ns = ts, ev->from_ns = from, ev->to_ns = to;
    ev->state = strcmp(*state, "fired") == 0      ? CS_ALERT_FIRED
                : strcmp(*state, "resolved") == 0 ? CS_ALERT_RESOLVED
                                                  : 0;
    if ((sep = strchr(series, '=')) == NULL ||
        (kind = cs_series_kind_parse(series, (size_t)(sep - series))) == 0)
        return -1;
    ev->series.kind = (uint8_t)kind;
    snprintf(ev->series.name, sizeof(ev->series.name), "%s", sep + 1);
    for (int m = CS_AM_P50; m <= CS_AM_NOT_ANALYSED; m++)
        if (strcmp(cs_alert_metric_name(m), metric) == 0)
            ev->metric = m;
    return ev->state ? 0 : -1;
}

int cs_metricstore_alert_line(const char *line, size_t len, cs_alert_fn fn, void *ud)
{
    cs_alert_event ev;
    const char *state;
    json_t *o = json_loadb(line, len, 0, NULL);
    int rc = CS_ECORRUPT;

    if (o != NULL && event_from_json(o, &ev, &state) == 0) {
        fn(ud, &ev);
        rc = 0;
    }
    json_decref(o);
    return rc;
}

int cs_metricstore_alerts(const char *store_dir, int64_t after, int64_t before, cs_alert_fn fn,
                          void *ud)
{
    char path[4096], *line = NULL;
    size_t cap = 0;
    ssize_t n;
    FILE *f;

    snprintf(path, sizeof(path), "%s/alerts/alerts.jsonl", store_dir);
    if ((f = fopen(path, "r")) == NULL)
        return errno == ENOENT ? 0 : cs_error_set(CS_EIO, "%s: %s", path, strerror(errno));
    while ((n = getline(&line, &cap, f)) > 0) {
        cs_alert_event ev;
        const char *state;
        json_t *o;
        if (line[n - 1] != '\n')
            break; /* torn tail */
        if ((o = json_loadb(line, (size_t)n, 0, NULL)) == NULL)
            continue;
        if (event_from_json(o, &ev, &state) == 0 && ev.ts_ns >= after && ev.ts_ns < before)
            fn(ud, &ev);
        json_decref(o);
    }
    free(line);
    fclose(f);
    return 0;
}

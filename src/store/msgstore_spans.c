/*
 * msgstore_spans.c - the spans of a message store file: per
 * CS__SPAN_RECORDS consecutive records, where they lie and what bounds
 * their ids and times, noted by the summary passes (msgstore_summary.c);
 * and the reading of chosen byte ranges of a file, which lookups by span
 * and sorted queries by latency block (msgstore_latblocks.c) share.
 *
 *   file ──► [ span 0: records 1..1024 ][ span 1: 1025..2048 ][ span 2 ...
 *            each: [start, end) offsets, min/max id, min/max filing time
 *
 * A lookup by id reads the spans whose id bounds hold it; a time range the
 * spans that overlap it; a key the spans that a key filter block which
 * may hold it overlaps (msgstore_summary.c chooses them). The records read
 * are the same ones a whole pass would give the callback, in file order,
 * less records that cannot match: every record lies in exactly one span.
 *
 * Invariants: spans cover the file's records in order, without gaps, from
 * the first frame to the summary's valid_end; a tail read extends the last
 * span or adds spans. Memory: 52 bytes per CS__SPAN_RECORDS records. A span
 * list that could not grow is not ok and then never used.
 */
#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "store/msgstore_int.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void cs__spans_free(cs__spans *s)
{
    cs_free(s->v);
    memset(s, 0, sizeof(*s));
}

void cs__spans_dup(cs__spans *dst, const cs__spans *src)
{
    memset(dst, 0, sizeof(*dst));
    if (!src->ok || (src->n > 0 && (dst->v = cs_malloc(src->n * sizeof(*dst->v))) == NULL))
        return;
    if (src->n > 0)
        memcpy(dst->v, src->v, src->n * sizeof(*dst->v));
    dst->n = dst->cap = src->n;
    dst->ok = 1;
}

/* The span the next record goes to, a new one if the last is full. */
static cs__span *next_span(cs__spans *s, uint64_t off)
{
    cs__span *sp;

    if (s->n > 0 && s->v[s->n - 1].records < CS__SPAN_RECORDS)
        return &s->v[s->n - 1];
    if (cs_grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v)) < 0) {
        cs__spans_free(s); /* not ok: never used */
        return NULL;
    }
    sp = &s->v[s->n++];
    memset(sp, 0, sizeof(*sp));
    sp->start = off;
    sp->min_id = UINT64_MAX;
    sp->min_ts = INT64_MAX;
    sp->max_ts = INT64_MIN;
    return sp;
}

void cs__spans_add(cs__spans *s, int kind, uint64_t off, const uint8_t *p, size_t n)
{
    cs__span *sp;
    int64_t ts;
    uint64_t id;

    if (!s->ok || (sp = next_span(s, off)) == NULL)
        return;
    sp->records++;
    sp->end = off + CS__FRAME_PAYLOAD + n;
    if (n >= sizeof(uint64_t)) { /* every record starts with its id */
        id = cs_rd_le64(p);
        sp->min_id = id < sp->min_id ? id : sp->min_id;
        sp->max_id = id > sp->max_id ? id : sp->max_id;
    }
    if (cs__record_ts(kind, p, n, &ts) == 0) {
        sp->min_ts = ts < sp->min_ts ? ts : sp->min_ts;
        sp->max_ts = ts > sp->max_ts ? ts : sp->max_ts;
    }
}

static uint64_t spans_read, spans_passed; /* process-wide, for tests */

void cs__spans_stats(uint64_t *read, uint64_t *passed)
{
    *read = __atomic_load_n(&spans_read, __ATOMIC_RELAXED);
    *passed = __atomic_load_n(&spans_passed, __ATOMIC_RELAXED);
}

void cs__spans_count(uint64_t read, uint64_t passed)
{
    __atomic_fetch_add(&spans_read, read, __ATOMIC_RELAXED);
    __atomic_fetch_add(&spans_passed, passed, __ATOMIC_RELAXED);
}

int cs__scan_range(cs_msgreader *r, int fd, uint64_t start, uint64_t end, cs__frame_fn fn, void *ud,
                   cs__scan_result *res)
{
    size_t len = (size_t)(end - start), used, need;
    ssize_t got;
    int rc;

    if (r->sb.cap < len) {
        uint8_t *nb = cs_realloc(r->sb.buf, len);

        if (nb == NULL)
            return CS_ENOMEM;
        r->sb.buf = nb;
        r->sb.cap = len;
    }
    if ((got = pread(fd, r->sb.buf, len, (off_t)start)) < 0)
        return cs_error_set(cs_error_from_errno(errno), "reading a message store file: %s",
                            strerror(errno));
    r->sb.base = start;
    /* the summary's passes checked these frames: their lengths are walked again */
    rc = cs__msgfile_frames(r->sb.buf, (size_t)got, (size_t)got, &used, &need, fn, ud);
    if (rc < 0)
        return rc;
    if (rc == CS__FR_STOP)
        res->stopped = 1;
    else if (rc == CS__FR_BAD || used != len)
        res->torn = 1; /* cut under the reader: what it read is all there is */
    return 0;
}

int cs__scan_ranges(cs_msgreader *r, int fd, const cs__range *v, size_t n, cs__frame_fn fn,
                    void *ud, cs__scan_result *res)
{
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0 && !res->stopped && !res->torn; i++)
        rc = cs__scan_range(r, fd, v[i].start, v[i].end, fn, ud, res);
    return rc;
}

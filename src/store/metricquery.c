/*
 * metricquery.c - queries of the metrics store (metricstore.h): a series'
 * points over a time range at a step, with their heat buckets and, on
 * request, their histograms; the series of a range; points from a file's
 * image.
 *
 * How it works: the hour files overlapping [after, before) are mapped; one
 * pass picks the records of the series (comparing kind and name in place)
 * and notes (step, start, where); they are sorted, then decoded step by
 * step into one accumulator whose histogram is cleared only over the
 * bucket range it touched, so a day of one-second windows merges in a few
 * tens of milliseconds. The same pass over [lo, hi] sums the buckets into
 * the point's heat buckets (metricstore.h), a fixed map of histogram
 * buckets, and, for cs_metricstore_query_hist(), lists its non-empty
 * buckets. Files are only read (mmap of what the writer appended; a record
 * whose check fails ends a file), so queries run beside the writer.
 */
#include "store/metricstore.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/sort.h"
#include "store/metricstore_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- queries ---------------------------------------------------------- */

typedef struct mapped {
    uint8_t *p;
    size_t len;
} mapped;

typedef struct hit {
    int64_t step, start;
    uint32_t file;
    const uint8_t *body;
    uint32_t blen;
} hit;

static int cmp_hit(const void *a, const void *b)
{
    const hit *x = a, *y = b;
    if (x->step != y->step)
        return (x->step > y->step) - (x->step < y->step);
    return (x->start > y->start) - (x->start < y->start);
}

static int map_file(const char *dir, const char *name, mapped *m)
{
    char path[4096];
    struct stat st;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    m->p = NULL;
    m->len = 0;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno == ENOENT ? 0 : cs_error_set(CS_EIO, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) == 0 && st.st_size >= CS__MS_HEADER_LEN) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            m->p = p;
            m->len = (size_t)st.st_size;
        }
    }
    close(fd);
    return 0;
}

typedef struct scan {
    const char *dir;
    cs__mfile *files;
    size_t nfiles;
    mapped *maps;
} scan;

static void scan_free(scan *s)
{
    for (size_t i = 0; s->maps && i < s->nfiles; i++)
        if (s->maps[i].p)
            munmap(s->maps[i].p, s->maps[i].len);
    cs_free(s->maps);
    cs_free(s->files);
}

/* Maps the files overlapping [after, before). */
static int scan_open(scan *s, const char *store_dir, char *dir, size_t dsize, int64_t after,
                     int64_t before)
{
    size_t k = 0;
    int rc;

    memset(s, 0, sizeof(*s));
    snprintf(dir, dsize, "%s/metrics", store_dir);
    s->dir = dir;
    if ((rc = cs__ms_list_files(dir, &s->files, &s->nfiles)) < 0)
        return rc;
    for (size_t i = 0; i < s->nfiles; i++) {
        if (s->files[i].hour_ns + CS__MS_HOUR_NS > after && s->files[i].hour_ns < before)
            s->files[k++] = s->files[i];
    }
    s->nfiles = k;
    if (k && (s->maps = cs_calloc(k, sizeof(*s->maps))) == NULL)
        return CS_ENOMEM;
    for (size_t i = 0; i < k; i++) {
        if ((rc = map_file(dir, s->files[i].name, &s->maps[i])) < 0)
            return rc;
        if (s->maps[i].p && !cs__ms_header_ok(s->maps[i].p, s->maps[i].len)) {
            munmap(s->maps[i].p, s->maps[i].len);
            s->maps[i].p = NULL;
        }
    }
    return 0;
}

static int body_is(const uint8_t *body, size_t blen, const cs_series_id *series, size_t name_len)
{
    return blen >= 10 + name_len && body[8] == series->kind && body[9] == name_len &&
           memcmp(body + 10, series->name, name_len) == 0;
}

/* Collects the records of "series" in [after, before) as hits. */
static int collect_hits(const scan *s, const cs_series_id *series, int64_t after, int64_t before,
                        int64_t step, hit **out, size_t *n)
{
    size_t name_len = strnlen(series->name, CS_SERIES_NAME_MAX - 1), cap = 0;
    hit *h = NULL;

    *n = 0;
    for (size_t i = 0; i < s->nfiles; i++) {
        const uint8_t *body;
        size_t off = CS__MS_HEADER_LEN, blen;
        if (s->maps[i].p == NULL)
            continue;
        while (cs__ms_next_record(s->maps[i].p, s->maps[i].len, &off, &body, &blen)) {
            int64_t start = (int64_t)cs_rd_le64(body);
            if (!body_is(body, blen, series, name_len) || start < after || start >= before)
                continue;
            if (cs_grow((void **)&h, &cap, *n + 1, sizeof(*h)) < 0) {
                cs_free(h);
                return CS_ENOMEM;
            }
            h[*n] = (hit){cs__ms_floor_div(start, step), start, (uint32_t)i, body, (uint32_t)blen};
            (*n)++;
        }
    }
    cs_qsort(h, *n, sizeof(*h), cmp_hit);
    *out = h;
    return 0;
}

/*
 * cs_metrics_acc_finish() for an accumulator whose buckets are all in
 * [lo, hi]: the counts and rates come from it, the four quantiles from one
 * pass over [lo, hi] instead of four scans from bucket 0. Same definition
 * as cs_hist_quantile(): nearest rank ceil(q * count), reported as the
 * bucket's midpoint clamped to the exact [min, max].
 */
static void acc_finish_range(const cs_metrics_acc *acc, int lo, int hi, cs_metrics_summary *s)
{
    static const double q[4] = {0.50, 0.90, 0.99, 0.999};
    const cs_histogram *h = &acc->hist;
    int64_t *out[4] = {&s->p50, &s->p90, &s->p99, &s->p999}, blo, bhi, mid;
    uint64_t rank[4], seen = 0;
    double secs = (double)(acc->s.to_ns - acc->s.from_ns) / (double)CS_NS_PER_SEC;
    int k = 0;

    *s = acc->s;
    s->rate = secs > 0 ? (double)s->count / secs : 0;
    s->error_rate = secs > 0 ? (double)s->errors / secs : 0;
    s->max = cs_hist_max(h);
    s->min = cs_hist_min(h);
    s->mean = cs_hist_mean(h);
    s->p50 = s->p90 = s->p99 = s->p999 = 0;
    cs_metrics_acc_clock_finish(acc, s);
    if (h->count == 0)
        return;
    for (int i = 0; i < 4; i++) {
        rank[i] = (uint64_t)ceil(q[i] * (double)h->count - 1e-9);
        rank[i] = rank[i] < 1 ? 1 : rank[i] > h->count ? h->count : rank[i];
        *out[i] = h->max;
    }
    for (int i = lo; i <= hi && k < 4; i++) {
        seen += h->buckets[i];
        while (k < 4 && seen >= rank[k]) {
            cs_hist_bucket_range(i, &blo, &bhi);
            mid = blo + (bhi - blo) / 2;
            *out[k++] = mid < h->min ? h->min : mid > h->max ? h->max : mid;
        }
    }
}

#define HEAT_SQRT2_SUB 53 /* 1 + 53/128 = 1.41406, nearest to sqrt(2) */

/* The heat bucket of histogram bucket "i" (see histogram.h: bucket i >= 128
 * spans part of [2^e, 2^(e+1)) with e = i / 128 + 6, sub-bucket i % 128). */
static int heat_of_bucket(int i)
{
    int e = i / CS_HIST_SUB + CS_HIST_SUB_BITS - 1, sub = i % CS_HIST_SUB;

    if (i < CS_HIST_SUB || e < CS_METRIC_HEAT_OCTAVE_LO)
        return 0;
    if (e >= CS_METRIC_HEAT_OCTAVE_HI)
        return CS_METRIC_HEAT_BUCKETS - 1;
    return 1 + 2 * (e - CS_METRIC_HEAT_OCTAVE_LO) + (sub >= HEAT_SQRT2_SUB);
}

int64_t cs_metricstore_heat_lower(int k)
{
    int e = CS_METRIC_HEAT_OCTAVE_LO + (k - 1) / 2;
    int64_t lo, hi;

    if (k <= 0)
        return 0;
    if (k >= CS_METRIC_HEAT_BUCKETS - 1)
        return (int64_t)1 << CS_METRIC_HEAT_OCTAVE_HI;
    cs_hist_bucket_range((e - CS_HIST_SUB_BITS + 1) * CS_HIST_SUB + ((k - 1) % 2) * HEAT_SQRT2_SUB,
                         &lo, &hi);
    return lo;
}

static void heat_sum(const cs_histogram *h, int lo, int hi, uint64_t *heat)
{
    for (int i = lo; i <= hi; i++)
        heat[heat_of_bucket(i)] += h->buckets[i];
}

/* The non-empty buckets of the points of a query, appended point after
 * point; NULL when the caller does not want them. */
typedef struct pair_list {
    cs_hist_pair *p;
    size_t n, cap;
    int failed; /* CS_ENOMEM met */
} pair_list;

/* Appends the non-empty buckets in [lo, hi] of "h" to "pl" and notes
 * their number and the histogram's summary in "s" (buckets set later by
 * pairs_attach, once the list stops moving). */
static void pairs_take(pair_list *pl, const cs_histogram *h, int lo, int hi, cs_hist_sparse *s)
{
    s->count = h->count;
    s->min = cs_hist_min(h);
    s->max = cs_hist_max(h);
    s->sum = h->sum;
    for (int i = lo; i <= hi; i++) {
        if (h->buckets[i] == 0)
            continue;
        if (cs_grow((void **)&pl->p, &pl->cap, pl->n + 1, sizeof(*pl->p)) < 0) {
            pl->failed = 1;
            return;
        }
        pl->p[pl->n++] = (cs_hist_pair){(uint32_t)i, h->buckets[i]};
        s->n++;
    }
}

/* Points "pts" at their buckets in "pl" (taken in point order). */
static void pairs_attach(const pair_list *pl, cs_metric_point *pts, size_t n)
{
    size_t at = 0;

    for (size_t i = 0; i < n; i++) {
        pts[i].hist.buckets = pl->p ? pl->p + at : NULL;
        at += pts[i].hist.n;
    }
}

/* Finishes the point of "acc" (touched buckets [lo, hi]) into "p" (its
 * buckets into "pl" if not NULL) and clears the accumulator for the next
 * one. */
static void point_finish(cs_metrics_acc *acc, int lo, int hi, pair_list *pl, cs_metric_point *p)
{
    cs_metrics_summary s;

    acc_finish_range(acc, lo, hi, &s);
    memset(p, 0, sizeof(*p));
    p->ts_ns = acc->s.from_ns;
    p->windows = s.windows;
    p->count = s.count;
    p->bytes = s.bytes;
    p->packets = s.packets;
    p->messages = s.messages;
    p->measurements = s.measurements;
    p->orders = s.orders, p->accepts = s.accepts, p->rejects = s.rejects;
    p->errors = s.errors;
    p->gaps = s.gaps;
    p->missing = s.missing;
    p->burst_packets = s.burst_packets;
    p->burst_bytes = s.burst_bytes;
    memcpy(p->gauges, s.gauges, sizeof(p->gauges));
    p->rate = s.rate;
    p->p50 = s.p50, p->p90 = s.p90, p->p99 = s.p99, p->p999 = s.p999, p->max = s.max;
    p->unsynced = s.unsynced, p->backwards = s.backwards, p->untimed = s.untimed;
    p->offset_mean_ns = s.offset_mean_ns, p->drift_ns_per_min = s.drift_ns_per_min;
    heat_sum(&acc->hist, lo, hi, p->heat);
    if (pl)
        pairs_take(pl, &acc->hist, lo, hi, &p->hist);
    cs_metrics_acc_clear_counts(acc);
    cs__ms_hist_clear(&acc->hist, lo, hi);
}

static int merge_hits(const hit *h, size_t nh, int64_t step_ns, cs_metrics_acc *acc, pair_list *pl,
                      cs_metric_point *pts, size_t *np)
{
    int lo = CS_HIST_BUCKETS, hi = -1;
    cs_window w;

    *np = 0;
    for (size_t i = 0; i < nh; i++) {
        if (i == 0 || h[i].step != h[i - 1].step) {
            if (i > 0)
                point_finish(acc, lo, hi, pl, &pts[(*np)++]);
            lo = CS_HIST_BUCKETS, hi = -1;
            acc->s.from_ns = h[i].step * step_ns;
            acc->s.to_ns = acc->s.from_ns + step_ns;
        }
        if (cs__ms_decode(h[i].body, h[i].blen, &w, &acc->hist, &lo, &hi) < 0)
            return cs_error_set(CS_ECORRUPT, "metrics record at %lld does not decode",
                                (long long)h[i].start);
        cs_metrics_acc_add(acc, &w); /* w.hist is NULL: buckets went in above */
    }
    if (nh > 0)
        point_finish(acc, lo, hi, pl, &pts[(*np)++]);
    return 0;
}

/* cs_metricstore_query_hist() with "pl" NULL: the points without their
 * buckets. */
static int query(const char *store_dir, const cs_series_id *series, int64_t after, int64_t before,
                 int64_t step_ns, pair_list *pl, cs_metric_point **out, size_t *n)
{
    char dir[4096];
    scan s;
    hit *h = NULL;
    size_t nh = 0;
    cs_metrics_acc *acc = NULL;
    cs_metric_point *pts = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    if (step_ns < CS_NS_PER_SEC)
        return cs_error_set(CS_EINVAL, "step must be at least 1s");
    if ((rc = scan_open(&s, store_dir, dir, sizeof(dir), after, before)) < 0 ||
        (rc = collect_hits(&s, series, after, before, step_ns, &h, &nh)) < 0)
        goto out;
    rc = CS_ENOMEM;
    if (nh == 0) {
        rc = 0;
        goto out;
    }
    if ((acc = cs_malloc(sizeof(*acc))) == NULL || (pts = cs_malloc(nh * sizeof(*pts))) == NULL)
        goto out;
    cs_metrics_acc_init(acc, 0, step_ns);
    if ((rc = merge_hits(h, nh, step_ns, acc, pl, pts, n)) < 0)
        goto out;
    if (pl && pl->failed) {
        rc = CS_ENOMEM;
        goto out;
    }
    if (pl)
        pairs_attach(pl, pts, *n);
    *out = pts;
    pts = NULL;
out:
    cs_free(pts);
    cs_free(acc);
    cs_free(h);
    scan_free(&s);
    return rc;
}

int cs_metricstore_query(const char *store_dir, const cs_series_id *series, int64_t after,
                         int64_t before, int64_t step_ns, cs_metric_point **out, size_t *n)
{
    return query(store_dir, series, after, before, step_ns, NULL, out, n);
}

int cs_metricstore_query_hist(const char *store_dir, const cs_series_id *series, int64_t after,
                              int64_t before, int64_t step_ns, cs_metric_point **out, size_t *n,
                              cs_hist_pair **pairs)
{
    pair_list pl = {0};
    int rc = query(store_dir, series, after, before, step_ns, &pl, out, n);

    if (rc < 0) {
        cs_free(pl.p);
        pl.p = NULL;
    }
    *pairs = pl.p;
    return rc;
}

/* The point of the window of record "body" alone, merged in "acc" whose
 * histogram is empty and left empty. */
static int record_point(cs_metrics_acc *acc, const uint8_t *body, size_t blen, cs_series_id *series,
                        cs_metric_point *p)
{
    int lo = CS_HIST_BUCKETS, hi = -1;
    cs_window w;

    if (cs__ms_decode(body, blen, &w, &acc->hist, &lo, &hi) < 0) {
        cs__ms_hist_clear(&acc->hist, lo, hi);
        return CS_ECORRUPT;
    }
    acc->s.from_ns = cs__ms_floor_div(w.start_ns, CS_NS_PER_SEC) * CS_NS_PER_SEC;
    acc->s.to_ns = acc->s.from_ns + CS_NS_PER_SEC;
    cs_metrics_acc_add(acc, &w); /* w.hist is NULL: buckets went in above */
    *series = w.series;
    point_finish(acc, lo, hi, NULL, p);
    return 0;
}

int cs_metricstore_image_points(const uint8_t *data, size_t len, size_t *off, size_t max,
                                cs_metric_point_fn fn, void *ud, size_t *n)
{
    cs_metrics_acc *acc;
    cs_series_id series;
    cs_metric_point p;
    const uint8_t *body;
    size_t at = *off == 0 ? CS__MS_HEADER_LEN : 0, next = at, blen, done = 0;

    if (n)
        *n = 0;
    if (*off == 0 && !cs__ms_header_ok(data, len))
        return cs_error_set(CS_ENOTSTORE, "not a capstream metrics file");
    if ((acc = cs_malloc(sizeof(*acc))) == NULL)
        return CS_ENOMEM;
    cs_metrics_acc_init(acc, 0, CS_NS_PER_SEC);
    while ((max == 0 || done < max) && cs__ms_next_record(data, len, &next, &body, &blen) &&
           record_point(acc, body, blen, &series, &p) == 0) {
        at = next;
        done++;
        if (fn(ud, &series, &p) != 0)
            break;
    }
    cs_free(acc);
    *off += at;
    if (n)
        *n = done;
    return 0;
}

static int cmp_series(const void *a, const void *b)
{
    const cs_series_id *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind - y->kind;
    return strcmp(x->name, y->name);
}

int cs_metricstore_series(const char *store_dir, int64_t after, int64_t before, cs_series_id **out,
                          size_t *n)
{
    char dir[4096];
    scan s;
    cs_series_id *ids = NULL;
    size_t cap = 0, k = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = scan_open(&s, store_dir, dir, sizeof(dir), after, before)) < 0)
        goto out;
    for (size_t i = 0; i < s.nfiles; i++) {
        const uint8_t *body;
        size_t off = CS__MS_HEADER_LEN, blen;
        while (s.maps[i].p && cs__ms_next_record(s.maps[i].p, s.maps[i].len, &off, &body, &blen)) {
            int64_t start = (int64_t)cs_rd_le64(body);
            size_t nl = body[9];
            int seen = 0;
            if (start < after || start >= before || nl >= CS_SERIES_NAME_MAX || blen < 10 + nl)
                continue;
            for (size_t j = k; j-- > 0 && !seen;)
                seen = ids[j].kind == body[8] && strlen(ids[j].name) == nl &&
                       memcmp(ids[j].name, body + 10, nl) == 0;
            if (seen)
                continue;
            if ((rc = cs_grow((void **)&ids, &cap, k + 1, sizeof(*ids))) < 0)
                goto out;
            memset(&ids[k], 0, sizeof(ids[k]));
            ids[k].kind = body[8];
            memcpy(ids[k].name, body + 10, nl);
            k++;
        }
    }
    cs_qsort(ids, k, sizeof(*ids), cmp_series);
    *out = ids;
    *n = k;
    ids = NULL;
out:
    cs_free(ids);
    scan_free(&s);
    return rc;
}

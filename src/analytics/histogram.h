/*
 * histogram.h - log-linear latency histograms with bounded relative error.
 *
 * Values are non-negative nanoseconds (negative values are counted as 0).
 * Values below 2^7 = 128 get one bucket each (exact). A value v >= 128 with
 * its highest set bit at position e (2^e <= v < 2^(e+1)) falls in one of
 * 128 equal sub-buckets of [2^e, 2^(e+1)), each 2^(e-7) wide:
 *
 *   index(v) = v                               for v < 128
 *            = (e - 6) * 128 + ((v >> (e - 7)) & 127)   otherwise
 *
 *   e:      <7        7          8          ...   62
 *   index:  0..127    128..255   256..383   ...   7168..7295
 *
 * A bucket's width is at most 1/128 of its lower bound, so reporting its
 * midpoint is within 0.4% of any value in it: quantiles are within 1% of
 * the exact sample quantile (nearest-rank definition). min, max, count and
 * sum are exact.
 *
 * A cs_histogram is a plain struct (about 58 KiB) with no pointers: it can
 * be copied, zeroed with cs_hist_init(), and merged. record() is a few
 * instructions and never allocates. Not thread-safe.
 */
#ifndef CS_ANALYTICS_HISTOGRAM_H
#define CS_ANALYTICS_HISTOGRAM_H

#include <stdint.h>

#define CS_HIST_SUB_BITS 7
#define CS_HIST_SUB (1 << CS_HIST_SUB_BITS)
#define CS_HIST_BUCKETS ((63 - CS_HIST_SUB_BITS + 1) * CS_HIST_SUB)

typedef struct cs_histogram {
    uint64_t count;
    int64_t min, max; /* exact; meaningful when count > 0 */
    double sum;       /* for the mean */
    uint64_t buckets[CS_HIST_BUCKETS];
} cs_histogram;

void cs_hist_init(cs_histogram *h);

/* Adds one value (ns). */
void cs_hist_record(cs_histogram *h, int64_t v);

/* Adds "n" copies of "v". */
void cs_hist_record_n(cs_histogram *h, int64_t v, uint64_t n);

/* Adds every value of "src" to "dst". */
void cs_hist_merge(cs_histogram *dst, const cs_histogram *src);

uint64_t cs_hist_count(const cs_histogram *h);
int64_t cs_hist_min(const cs_histogram *h); /* 0 when empty */
int64_t cs_hist_max(const cs_histogram *h); /* 0 when empty */
double cs_hist_mean(const cs_histogram *h); /* 0 when empty */

/* The value of rank ceil(q * count) (nearest rank; q <= 0 gives min, q >= 1
 * max), within 1% of the exact sample quantile. 0 when empty. */
int64_t cs_hist_quantile(const cs_histogram *h, double q);

/* Bucket helpers (for exporters): the bucket of "v" and the range
 * [lo, hi] of values that bucket "i" holds. */
int cs_hist_bucket_of(int64_t v);
void cs_hist_bucket_range(int i, int64_t *lo, int64_t *hi);
/* What a quantile falling in bucket "i" reports: its midpoint, clamped to
 * [min, max], the exact range of the values recorded. */
int64_t cs_hist_bucket_value(int i, int64_t min, int64_t max);
/* The 1-based nearest rank of quantile q (0 < q < 1) among "count" values. */
uint64_t cs_hist_rank(uint64_t count, double q);

#endif

/*
 * histogram.c - log-linear latency histograms (see histogram.h for the
 * bucket layout and the error bound).
 *
 * How a quantile is found: the rank r = ceil(q * count) (1-based) is
 * located by summing bucket counts from the lowest bucket; the bucket
 * holding the r-th value is reported by its midpoint, clamped to the exact
 * [min, max] so that q = 0 and q = 1 (and single-valued histograms) are
 * exact. Buckets below 128 hold one value each, so small values are exact.
 */
#include "analytics/histogram.h"

#include <math.h>
#include <string.h>

void cs_hist_init(cs_histogram *h)
{
    memset(h, 0, sizeof(*h));
}

int cs_hist_bucket_of(int64_t v)
{
    uint64_t u;
    int e;

    if (v < CS_HIST_SUB)
        return v < 0 ? 0 : (int)v;
    u = (uint64_t)v;
    e = 63 - __builtin_clzll(u);
    return (e - CS_HIST_SUB_BITS + 1) * CS_HIST_SUB +
           (int)((u >> (e - CS_HIST_SUB_BITS)) & (CS_HIST_SUB - 1));
}

void cs_hist_bucket_range(int i, int64_t *lo, int64_t *hi)
{
    int e, sub;
    uint64_t width;

    if (i < CS_HIST_SUB) {
        *lo = *hi = i;
        return;
    }
    e = i / CS_HIST_SUB + CS_HIST_SUB_BITS - 1;
    sub = i % CS_HIST_SUB;
    width = 1ull << (e - CS_HIST_SUB_BITS);
    *lo = (int64_t)((1ull << e) + (uint64_t)sub * width);
    *hi = (int64_t)((uint64_t)*lo + (width - 1));
}

void cs_hist_record_n(cs_histogram *h, int64_t v, uint64_t n)
{
    if (n == 0)
        return;
    if (v < 0)
        v = 0;
    if (h->count == 0 || v < h->min)
        h->min = v;
    if (h->count == 0 || v > h->max)
        h->max = v;
    h->count += n;
    h->sum += (double)v * (double)n;
    h->buckets[cs_hist_bucket_of(v)] += n;
}

void cs_hist_record(cs_histogram *h, int64_t v)
{
    cs_hist_record_n(h, v, 1);
}

void cs_hist_merge(cs_histogram *dst, const cs_histogram *src)
{
    if (src->count == 0)
        return;
    if (dst->count == 0 || src->min < dst->min)
        dst->min = src->min;
    if (dst->count == 0 || src->max > dst->max)
        dst->max = src->max;
    dst->count += src->count;
    dst->sum += src->sum;
    for (int i = 0; i < CS_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
}

uint64_t cs_hist_count(const cs_histogram *h)
{
    return h->count;
}

int64_t cs_hist_min(const cs_histogram *h)
{
    return h->count ? h->min : 0;
}

int64_t cs_hist_max(const cs_histogram *h)
{
    return h->count ? h->max : 0;
}

double cs_hist_mean(const cs_histogram *h)
{
    return h->count ? h->sum / (double)h->count : 0;
}

int64_t cs_hist_bucket_value(int i, int64_t min, int64_t max)
{
    int64_t lo, hi, mid;

    cs_hist_bucket_range(i, &lo, &hi);
    mid = lo + (hi - lo) / 2;
    if (mid < min)
        mid = min;
    if (mid > max)
        mid = max;
    return mid;
}

uint64_t cs_hist_rank(uint64_t count, double q)
{
    uint64_t rank = (uint64_t)ceil(q * (double)count - 1e-9); /* 0.9 * 10 is 9.000000000000002 */

    if (rank < 1)
        rank = 1;
    return rank > count ? count : rank;
}

int64_t cs_hist_quantile(const cs_histogram *h, double q)
{
    uint64_t rank, seen = 0;

    if (h->count == 0)
        return 0;
    if (!(q > 0))
        return h->min;
    if (q >= 1)
        return h->max;
    rank = cs_hist_rank(h->count, q);
    for (int i = 0; i < CS_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank)
            return cs_hist_bucket_value(i, h->min, h->max);
    }
    return h->max;
}

/*
 * lazyhist.c - histograms that hold their values until they are many (see
 * lazyhist.h).
 *
 *   record(v) ─► hist? ──yes──► cs_hist_record_n-like update of buckets
 *                 └─no──► append to vals (doubling, from 4)
 *                          └─ the CS_LAZYHIST_VALUES + 1st value: allocate
 *                             the cs_histogram, move vals into its buckets
 *
 * Invariants: count, min, max and sum always describe every value recorded,
 * updated in recording order exactly as cs_histogram does (sum is the same
 * double); hist == NULL implies vals holds all count values; memory is at
 * most 8 * CS_LAZYHIST_VALUES bytes beside a cs_histogram.
 */
#include "analytics/lazyhist.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/sort.h"

#include <string.h>

void cs_lazyhist_init(cs_lazyhist *h)
{
    memset(h, 0, sizeof(*h));
}

void cs_lazyhist_free(cs_lazyhist *h)
{
    cs_free(h->vals);
    cs_free(h->hist);
    memset(h, 0, sizeof(*h));
}

/* Moves the value list into a new cs_histogram; CS_ENOMEM leaves h as is. */
static int to_buckets(cs_lazyhist *h)
{
    cs_histogram *hist = cs_malloc(sizeof(*hist));

    if (hist == NULL)
        return CS_ENOMEM;
    cs_hist_init(hist);
    hist->count = h->count;
    hist->min = h->min;
    hist->max = h->max;
    hist->sum = h->sum;
    for (uint64_t i = 0; i < h->count; i++)
        hist->buckets[cs_hist_bucket_of(h->vals[i])]++;
    cs_free(h->vals);
    h->vals = NULL;
    h->cap_vals = 0;
    h->hist = hist;
    return 0;
}

/* Room for one more value in the list; CS_ENOMEM leaves h as is. */
static int vals_room(cs_lazyhist *h)
{
    uint32_t cap = h->cap_vals ? h->cap_vals * 2 : 4;
    int64_t *v;

    if (h->count < h->cap_vals)
        return 0;
    if ((v = cs_realloc(h->vals, cap * sizeof(*v))) == NULL)
        return CS_ENOMEM;
    h->vals = v;
    h->cap_vals = cap;
    return 0;
}

int cs_lazyhist_record(cs_lazyhist *h, int64_t v)
{
    int rc;

    if (v < 0)
        v = 0;
    if (h->hist == NULL) {
        rc = h->count >= CS_LAZYHIST_VALUES ? to_buckets(h) : vals_room(h);
        if (rc < 0)
            return rc;
    }
    if (h->hist != NULL)
        h->hist->buckets[cs_hist_bucket_of(v)]++;
    else {
        h->vals[h->count] = v;
        h->sorted = 0;
    }
    if (h->count == 0 || v < h->min)
        h->min = v;
    if (h->count == 0 || v > h->max)
        h->max = v;
    h->count++;
    h->sum += (double)v;
    if (h->hist != NULL) { /* the figures the histogram reports are its own */
        h->hist->count = h->count;
        h->hist->min = h->min;
        h->hist->max = h->max;
        h->hist->sum = h->sum;
    }
    return 0;
}

uint64_t cs_lazyhist_count(const cs_lazyhist *h)
{
    return h->count;
}

int64_t cs_lazyhist_min(const cs_lazyhist *h)
{
    return h->count ? h->min : 0;
}

int64_t cs_lazyhist_max(const cs_lazyhist *h)
{
    return h->count ? h->max : 0;
}

double cs_lazyhist_mean(const cs_lazyhist *h)
{
    return h->count ? h->sum / (double)h->count : 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

int64_t cs_lazyhist_quantile(cs_lazyhist *h, double q)
{
    if (h->hist != NULL)
        return cs_hist_quantile(h->hist, q);
    if (h->count == 0)
        return 0;
    if (!(q > 0))
        return h->min;
    if (q >= 1)
        return h->max;
    if (!h->sorted) {
        cs_qsort(h->vals, (size_t)h->count, sizeof(*h->vals), cmp_i64);
        h->sorted = 1;
    }
    return cs_hist_bucket_value(cs_hist_bucket_of(h->vals[cs_hist_rank(h->count, q) - 1]), h->min,
                                h->max);
}

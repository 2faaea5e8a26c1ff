/*
 * histjson.h - a latency histogram (histogram.h) as JSON, sparse: what a
 * sensor's /api/v1/metrics?hist=1 adds to each point so that a hub can
 * merge many sensors' histograms and recompute the percentiles exactly.
 *
 *   "hist":{"count":N,"min_ns":MIN,"max_ns":MAX,"sum":SUM,
 *           "buckets":[[INDEX,COUNT],...]}
 *
 * Only the non-empty buckets are listed, in increasing INDEX (0 <= INDEX <
 * CS_HIST_BUCKETS); their COUNTs add up to N. "sum" is the double of the
 * histogram written with 17 significant digits, so it reads back to the
 * same bits. An empty histogram is {"count":0,"min_ns":0,"max_ns":0,
 * "sum":0,"buckets":[]}.
 */
#ifndef CS_ANALYTICS_HISTJSON_H
#define CS_ANALYTICS_HISTJSON_H

#include "analytics/histogram.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One non-empty bucket. */
typedef struct cs_hist_pair {
    uint32_t bucket;
    uint64_t count;
} cs_hist_pair;

/* A histogram by its non-empty buckets (borrowed, "n" of them). */
typedef struct cs_hist_sparse {
    uint64_t count;
    int64_t min, max; /* 0 when empty */
    double sum;
    const cs_hist_pair *buckets;
    size_t n;
} cs_hist_sparse;

/* Writes the object {"count":..,"buckets":[..]} of "s" to "f". */
void cs_hist_sparse_json(FILE *f, const cs_hist_sparse *s);

/* The same object for histogram "h" (its non-empty buckets). */
void cs_hist_json(FILE *f, const cs_histogram *h);

/* Adds the histogram of object "o" (as written above) to "dst". CS_EINVAL,
 * leaving "dst" as it was, if "o" is not such an object: a member missing
 * or not an integer, a bucket out of range, out of order or empty, counts
 * not adding up to "count", min_ns or max_ns outside the buckets; or a sum
 * of counts past INT64_MAX, which no JSON reader of 64-bit signed integers
 * (jansson, this project's own) could read back. */
int cs_hist_json_merge(const json_t *o, cs_histogram *dst);

#endif

/*
 * lazyhist.h - a latency histogram that costs memory in proportion to what
 * it holds: the values themselves while there are few, a cs_histogram
 * (about 58 KiB) once there are more than CS_LAZYHIST_VALUES.
 *
 * Every figure equals what a cs_histogram fed the same values reports:
 * count, min, max and sum are kept the same way, and a quantile of the
 * value list is the nearest-rank value's bucket as cs_hist_quantile()
 * reports it (midpoint clamped to [min, max]). So a table of many small
 * groups (latency per session: tens of thousands of DNS clients with one
 * query each) needs a few bytes a group, not 58 KiB.
 *
 * Not thread-safe. A cs_lazyhist owns heap memory: cs_lazyhist_free().
 */
#ifndef CS_ANALYTICS_LAZYHIST_H
#define CS_ANALYTICS_LAZYHIST_H

#include "analytics/histogram.h"

#include <stdint.h>

#define CS_LAZYHIST_VALUES 256 /* values kept as they are; then buckets */

typedef struct cs_lazyhist {
    uint64_t count;
    int64_t min, max; /* exact; meaningful when count > 0 */
    double sum;
    int64_t *vals; /* while hist == NULL: the values, count of them */
    uint32_t cap_vals;
    int sorted;         /* vals is in ascending order */
    cs_histogram *hist; /* once past CS_LAZYHIST_VALUES */
} cs_lazyhist;

void cs_lazyhist_init(cs_lazyhist *h);
void cs_lazyhist_free(cs_lazyhist *h);

/* Adds one value (ns; negative counts as 0). 0, or CS_ENOMEM (h unchanged). */
int cs_lazyhist_record(cs_lazyhist *h, int64_t v);

uint64_t cs_lazyhist_count(const cs_lazyhist *h);
int64_t cs_lazyhist_min(const cs_lazyhist *h); /* 0 when empty */
int64_t cs_lazyhist_max(const cs_lazyhist *h); /* 0 when empty */
double cs_lazyhist_mean(const cs_lazyhist *h); /* 0 when empty */
/* As cs_hist_quantile(); sorts the value list the first time. */
int64_t cs_lazyhist_quantile(cs_lazyhist *h, double q);

#endif

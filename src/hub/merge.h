/*
 * merge.h - many sensors' answers made one: JSON lists merged in order
 * with each row's sensor named, metrics merged per step, and pcap
 * downloads merged in time order.
 */
#ifndef CS_HUB_MERGE_H
#define CS_HUB_MERGE_H

#include "hub/fanout.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* How a list endpoint's rows are merged. */
typedef struct cs_hub_list_spec {
    const char *array;    /* the member holding the rows: "measurements" ... */
    const char *sort_key; /* an integer member rows are ordered by */
    int descending;       /* largest first (sort=latency) */
    size_t offset, limit; /* the page of the merged rows */
    int unpaged;          /* every row (an endpoint that is not paged: feeds) */
} cs_hub_list_spec;

/* Merges the lists in the answers of the asked ("use") sensors into one
 * JSON object (malloc'ed into "*out"): the page of rows, each with
 * "sensor", then "offset", "limit", "count", "more", "total" (the sum of
 * the sensors' when they give one), "sensors" (those that
 * answered), "missing" ([{"sensor", "why"}] for those that did not, or
 * answered with an error) and "partial" (true if any is missing). Each
 * sensor was asked for its first offset + limit rows in the same order,
 * so the page is exact. Returns 0, or CS_ENOMEM. */
int cs_hub_merge_lists(const cs_hub_list_spec *sp, const cs_hub_peer *peers, const cs_hub_fetch *f,
                       const int *use, int n, char **out, size_t *len);

/* Merges the answers of the asked ("use") sensors to one
 * /api/v1/metrics?hist=1 request into one JSON object (malloc'ed into
 * "*out"): {"series", "step_ns", ["heat_lower_ns",] "points",
 * "percentiles", "sensors", "missing", "partial"}, a point per step any
 * sensor has, its counters summed and its percentiles recomputed from the
 * sensors' histograms summed ("percentiles":"merged"); a point some
 * sensor gave without its histogram has the largest of the sensors'
 * percentiles and says "percentiles":"max_of_sensors", as does then the
 * answer (metmerge.c lists each member's rule). With "hist_out" each
 * exact point keeps its merged "hist". Answers with a step other than
 * the widest given are left out and named missing. "series" names the
 * series when no sensor answered. 0, or CS_ENOMEM. */
int cs_hub_merge_metrics(const char *series, int hist_out, const cs_hub_peer *peers,
                         const cs_hub_fetch *f, const int *use, int n, char **out, size_t *len);

/* The "step_ns" of one sensor's /api/v1/metrics answer, or 0. */
long long cs_hub_metrics_step(const cs_hub_fetch *f);

/* Merges the answers to /api/v1/series: {"series": [{"id", "kind",
 * "name", "sensors": [the sensors holding it]}] sorted by kind then name,
 * "sensors", "missing", "partial"}. 0, or CS_ENOMEM. */
int cs_hub_merge_series(const cs_hub_peer *peers, const cs_hub_fetch *f, const int *use, int n,
                        char **out, size_t *len);

/* ,"missing":[...],"partial":B for the sensors asked that gave no 200
 * answer, into "f" (already inside an object). */
void cs_hub_missing_json(FILE *out, const cs_hub_peer *peers, const cs_hub_fetch *f, const int *use,
                         int n);

/* The end of a merged answer: ,"sensors":[...] (those whose answer "docs"
 * holds), cs_hub_missing_json() and the closing "}". */
void cs_hub_tail_json(FILE *out, const cs_hub_peer *peers, json_t *const *docs,
                      const cs_hub_fetch *f, const int *use, int n);

/* Merges "n" pcap files (rewound here) into "out" as one nanosecond pcap
 * in time order (ties: the earlier input first). All inputs must share a
 * link type; an input that is empty or not a pcap is skipped and named in
 * "why" (the caller decides). Returns the records written, or CS_EINVAL
 * (mixed link types: "why" says which) or CS_EIO. */
long cs_hub_merge_pcaps(FILE **in, int n, FILE *out, char *why, size_t cap);

#endif

/*
 * histjson.c - a latency histogram as sparse JSON and back (see
 * histjson.h for the format).
 *
 * Reading checks the whole object before touching the histogram it adds
 * to, so a malformed answer (a sensor is another machine: its bytes are
 * input like any other) changes nothing. Once checked, the object is a
 * histogram cs_hist_record_n() could have built: every bucket index in
 * range and listed once in increasing order, counts adding up to "count",
 * and min and max falling in the first and last listed buckets.
 */
#include "analytics/histjson.h"

#include "core/error.h"

#include <inttypes.h>

/* {"count":..,"min_ns":..,"max_ns":..,"sum":..,"buckets":[ */
static void head_json(FILE *f, uint64_t count, int64_t min, int64_t max, double sum)
{
    fprintf(f,
            "{\"count\":%" PRIu64 ",\"min_ns\":%" PRId64 ",\"max_ns\":%" PRId64
            ",\"sum\":%.17g,\"buckets\":[",
            count, count ? min : 0, count ? max : 0, count ? sum : 0.0);
}

void cs_hist_sparse_json(FILE *f, const cs_hist_sparse *s)
{
    head_json(f, s->count, s->min, s->max, s->sum);
    for (size_t i = 0; i < s->n; i++)
        fprintf(f, "%s[%" PRIu32 ",%" PRIu64 "]", i ? "," : "", s->buckets[i].bucket,
                s->buckets[i].count);
    fputs("]}", f);
}

void cs_hist_json(FILE *f, const cs_histogram *h)
{
    int first = 1;

    head_json(f, h->count, h->min, h->max, h->sum);
    for (int i = 0; i < CS_HIST_BUCKETS; i++)
        if (h->buckets[i]) {
            fprintf(f, "%s[%d,%" PRIu64 "]", first ? "" : ",", i, h->buckets[i]);
            first = 0;
        }
    fputs("]}", f);
}

static int get_int(const json_t *o, const char *k, json_int_t *v)
{
    const json_t *j = json_object_get(o, k);

    if (!json_is_integer(j) || json_integer_value(j) < 0)
        return CS_EINVAL;
    *v = json_integer_value(j);
    return 0;
}

/* The index and count of pair "p" ([INDEX,COUNT], COUNT > 0). */
static int get_pair(const json_t *p, json_int_t *idx, json_int_t *n)
{
    const json_t *a = json_array_get(p, 0), *b = json_array_get(p, 1);

    if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_integer(a) || !json_is_integer(b))
        return CS_EINVAL;
    *idx = json_integer_value(a);
    *n = json_integer_value(b);
    return *idx >= 0 && *idx<CS_HIST_BUCKETS && * n> 0 ? 0 : CS_EINVAL;
}

/* Checks the buckets of "o" against its count, min and max. */
static int check(const json_t *o, json_int_t count, json_int_t min, json_int_t max)
{
    const json_t *bk = json_object_get(o, "buckets"), *p;
    json_int_t idx, n, prev = -1;
    uint64_t total = 0;
    size_t k;

    if (!json_is_array(bk) || !json_is_number(json_object_get(o, "sum")))
        return CS_EINVAL;
    json_array_foreach(bk, k, p)
    {
        if (get_pair(p, &idx, &n) < 0 || idx <= prev ||
            __builtin_add_overflow(total, (uint64_t)n, &total))
            return CS_EINVAL;
        if ((k == 0 && idx != cs_hist_bucket_of(min)) ||
            (k + 1 == json_array_size(bk) && idx != cs_hist_bucket_of(max)))
            return CS_EINVAL;
        prev = idx;
    }
    return total == (uint64_t)count && (count == 0 || min <= max) ? 0 : CS_EINVAL;
}

int cs_hist_json_merge(const json_t *o, cs_histogram *dst)
{
    json_int_t count, min, max, idx, n;
    const json_t *p;
    size_t k;

    if (!json_is_object(o) || get_int(o, "count", &count) < 0 || get_int(o, "min_ns", &min) < 0 ||
        get_int(o, "max_ns", &max) < 0 || check(o, count, min, max) < 0 ||
        dst->count > (uint64_t)INT64_MAX - (uint64_t)count)
        return CS_EINVAL;
    if (count == 0)
        return 0;
    json_array_foreach(json_object_get(o, "buckets"), k, p)
    {
        get_pair(p, &idx, &n);
        dst->buckets[idx] += (uint64_t)n;
    }
    if (dst->count == 0 || min < dst->min)
        dst->min = min;
    if (dst->count == 0 || max > dst->max)
        dst->max = max;
    dst->count += (uint64_t)count;
    dst->sum += json_number_value(json_object_get(o, "sum"));
    return 0;
}

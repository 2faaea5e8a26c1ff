/*
 * metmerge.c - sensors' answers to /api/v1/metrics and /api/v1/series made
 * one (see merge.h).
 *
 * Metrics: the answers that carry the widest "step_ns" given are parsed,
 * their points (one per step holding a stored window; "ts_ns" a multiple
 * of the step) gathered as (ts_ns, sensor, position) and sorted, and each
 * run of equal ts_ns folded into one point, member by member:
 *
 *   rule  members
 *   key   ts_ns
 *   sum   every integer member not named below: windows, count, bytes,
 *         errors, gaps, missing, kernel_drops, not_stored, not_analysed,
 *         unsynced, backwards, untimed, packets, messages, lost,
 *         races_won, measurements, orders, accepts, rejects
 *   hist  hist (asked with hist=1, analytics/histjson.h): the sensors'
 *         histograms summed bucket by bucket (cs_hist_json_merge), then
 *         p50_ns p90_ns p99_ns p999_ns max_ns recomputed from the sum by
 *         cs_hist_quantile(): the same rank and bucket a sensor holding
 *         every sensor's windows would report, at any step, since a
 *         sensor's step point is the sum of its windows' histograms.
 *         The merged "hist" is written only if the hub's client asked
 *         for hist=1.
 *   max   p50_ns p90_ns p99_ns p999_ns max_ns, when a sensor's point
 *         comes without a usable "hist" (a sensor that predates it): the
 *         worst sensor's, an upper bound of the union's (at that value
 *         every sensor has at least the quantile's share below it);
 *         max_ns is exact. Never averaged. Such a point says
 *         "percentiles":"max_of_sensors", and so does the answer
 *         ("merged" when every point's are exact).
 *         burst_packets burst_bytes: one sensor's busiest millisecond
 *         (the sensors' milliseconds are not aligned, so not summed)
 *   rate  rate: the merged count per second of the step, the sensor's
 *         own formula
 *   heat  heat: summed bucket by bucket (heat counts add exactly)
 *   drop  offset_mean_ns, drift_ns_per_min (one host's clock against its
 *         reference: no meaning across hosts), and any member that is not
 *         an integer
 *
 * Invariants: the merged points are in strictly increasing ts_ns; an
 * answer with another step (a range without after and before is widened
 * by each sensor to fit its own data) is left out and named missing,
 * never mixed in; a merged point's members are in the order its first
 * sensor's point gave them.
 *
 * Series: the union of the sensors' series lists, sorted as a sensor's
 * (by kind, then name), each with "sensors": the sensors that hold it;
 * rows are one series when kind, name and id are equal.
 */
#include "hub/merge.h"

#include "analytics/histjson.h"
#include "analytics/metrics.h"
#include "core/error.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct point_ref {
    json_t *pt;
    int sensor;
    size_t pos;
    long long key;         /* metrics: ts_ns; series: the kind */
    const char *name, *id; /* series: its name and id; metrics: NULL */
} point_ref;

typedef struct ref_acc {
    point_ref *refs;
    size_t n, cap;
} ref_acc;

static int ref_add(ref_acc *a, point_ref r)
{
    if (a->n == a->cap) {
        size_t c = a->cap ? a->cap * 2 : 256;
        point_ref *p = realloc(a->refs, c * sizeof(*p));

        if (p == NULL)
            return CS_ENOMEM;
        a->refs = p;
        a->cap = c;
    }
    a->refs[a->n++] = r;
    return 0;
}

static int cmp_refs(const void *a, const void *b)
{
    const point_ref *x = a, *y = b;
    int c;

    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->name && y->name && (c = strcmp(x->name, y->name)) != 0)
        return c;
    if (x->id && y->id && (c = strcmp(x->id, y->id)) != 0)
        return c;
    if (x->sensor != y->sensor)
        return x->sensor < y->sensor ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int answered(const cs_hub_fetch *f)
{
    return f->ok && f->status == 200 && f->body != NULL;
}

/* Parses the answers of the asked sensors into "docs" (NULL for those
 * without one, and for those whose answer has no array "array": then
 * marked in "g", a copy of "f" for cs_hub_missing_json). */
static void parse_answers(const cs_hub_fetch *f, const int *use, int n, const char *array,
                          json_t **docs, cs_hub_fetch *g)
{
    for (int i = 0; i < n; i++) {
        g[i] = f[i];
        if ((use && !use[i]) || !answered(&f[i]))
            continue;
        docs[i] = json_loads(f[i].body, 0, NULL);
        if (!json_is_array(json_object_get(docs[i], array))) {
            json_decref(docs[i]);
            docs[i] = NULL;
            g[i].ok = 0;
            snprintf(g[i].why, sizeof(g[i].why), "its answer is not a %s list", array);
        }
    }
}

/* ---- metrics -------------------------------------------------------------- */

enum { R_KEY, R_SUM, R_MAX, R_RATE, R_HEAT, R_DROP };

static int member_rule(const char *k, const json_t *v)
{
    static const char *const maxed[] = {"p50_ns", "p90_ns",        "p99_ns",     "p999_ns",
                                        "max_ns", "burst_packets", "burst_bytes"};

    if (strcmp(k, "ts_ns") == 0)
        return R_KEY;
    if (strcmp(k, "rate") == 0)
        return R_RATE;
    if (strcmp(k, "heat") == 0)
        return json_is_array(v) ? R_HEAT : R_DROP;
    if (!json_is_integer(v) || strcmp(k, "offset_mean_ns") == 0 ||
        strcmp(k, "drift_ns_per_min") == 0)
        return R_DROP;
    for (size_t i = 0; i < sizeof(maxed) / sizeof(maxed[0]); i++)
        if (strcmp(k, maxed[i]) == 0)
            return R_MAX;
    return R_SUM;
}

static json_int_t add_sat(json_int_t a, json_int_t b)
{
    json_int_t s;

    return __builtin_add_overflow(a, b, &s) ? (b > 0 ? INT64_MAX : INT64_MIN) : s;
}

/* Adds the integers of "from" to "into", bucket by bucket. */
static void heat_add(json_t *into, const json_t *from)
{
    for (size_t k = 0; k < json_array_size(from); k++) {
        json_int_t v = json_integer_value(json_array_get(from, k));

        if (k < json_array_size(into))
            json_integer_set(json_array_get(into, k),
                             add_sat(json_integer_value(json_array_get(into, k)), v));
        else
            json_array_append_new(into, json_integer(v));
    }
}

/* Folds point "pt" into "m" by the rules above. */
static void fold_point(json_t *m, json_t *pt)
{
    const char *k;
    json_t *v;

    json_object_foreach(pt, k, v)
    {
        int rule = member_rule(k, v);
        json_t *have = json_object_get(m, k);

        if (rule == R_DROP)
            continue;
        if (rule == R_HEAT) {
            if (!json_is_array(have))
                json_object_set_new(m, k, have = json_array());
            heat_add(have, v);
        } else if (rule == R_RATE) {
            if (have == NULL)
                json_object_set_new(m, k, json_real(0)); /* set when the fold ends */
        } else if (!json_is_integer(have)) {
            json_object_set_new(m, k, json_integer(json_integer_value(v)));
        } else {
            json_int_t a = json_integer_value(have), b = json_integer_value(v);
            json_integer_set(have, rule == R_SUM ? add_sat(a, b) : rule == R_MAX && b > a ? b : a);
        }
    }
}

/* The histograms of refs [from, to) summed into "h" (emptied first): 1,
 * or 0 if a point lacks a usable one ("h" then means nothing). */
static int hist_sum(const point_ref *r, size_t from, size_t to, cs_histogram *h)
{
    cs_hist_init(h);
    for (size_t k = from; k < to; k++)
        if (cs_hist_json_merge(json_object_get(r[k].pt, "hist"), h) < 0)
            return 0;
    return 1;
}

/* Sets the percentiles of "m" from "h", as a sensor computes a point's
 * (store/metricstore.c: nearest rank, bucket midpoint clamped to the
 * exact min and max). */
static void set_percentiles(json_t *m, const cs_histogram *h)
{
    static const char *const name[] = {"p50_ns", "p90_ns", "p99_ns", "p999_ns"};
    static const double q[] = {0.50, 0.90, 0.99, 0.999};

    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
        if (json_object_get(m, name[i]))
            json_object_set_new(m, name[i], json_integer(cs_hist_quantile(h, q[i])));
    if (json_object_get(m, "max_ns"))
        json_object_set_new(m, "max_ns", json_integer(cs_hist_max(h)));
}

/* The merged point of refs [from, to) (equal ts_ns), written to "o";
 * "h" is scratch. 1 if its percentiles are exact (merged histograms),
 * 0 if they are the worst sensor's. */
static int write_point(FILE *o, const point_ref *r, size_t from, size_t to, long long step,
                       int first, int hist_out, cs_histogram *h)
{
    json_t *m = json_object();
    json_t *count;
    int exact = hist_sum(r, from, to, h);
    char *s;

    for (size_t k = from; k < to; k++)
        fold_point(m, r[k].pt);
    count = json_object_get(m, "count");
    if (json_is_real(json_object_get(m, "rate")))
        json_real_set(json_object_get(m, "rate"),
                      json_is_integer(count) && step > 0
                          ? (double)json_integer_value(count) / ((double)step / 1e9)
                          : 0);
    if (exact)
        set_percentiles(m, h);
    else
        json_object_set_new(m, "percentiles", json_string("max_of_sensors"));
    s = json_dumps(m, JSON_COMPACT | JSON_REAL_PRECISION(12));
    if (s == NULL || strlen(s) < 2) {
        fprintf(o, "%s{}", first ? "" : ",");
    } else {
        s[strlen(s) - 1] = '\0'; /* the closing brace: the hist goes before it */
        fprintf(o, "%s%s", first ? "" : ",", s);
        if (exact && hist_out) {
            fprintf(o, "%s\"hist\":", s[1] ? "," : "");
            cs_hist_json(o, h);
        }
        fputc('}', o);
    }
    free(s);
    json_decref(m);
    return exact;
}

/* The step of the answers in "docs" the merge uses: the widest. */
static long long widest_step(json_t **docs, int n)
{
    long long step = 0;

    for (int i = 0; i < n; i++) {
        json_int_t s = json_integer_value(json_object_get(docs[i], "step_ns"));
        if (docs[i] && s > step)
            step = s;
    }
    return step;
}

/* Leaves out (names missing in "g") the answers of another step. */
static void drop_other_steps(json_t **docs, cs_hub_fetch *g, int n, long long step)
{
    for (int i = 0; i < n; i++) {
        json_int_t s = json_integer_value(json_object_get(docs[i], "step_ns"));

        if (docs[i] == NULL || s == step)
            continue;
        snprintf(g[i].why, sizeof(g[i].why), "it answered with step_ns %lld, not %lld",
                 (long long)s, step);
        g[i].ok = 0;
        json_decref(docs[i]);
        docs[i] = NULL;
    }
}

static int gather_points(json_t **docs, int n, ref_acc *a)
{
    for (int i = 0; i < n; i++) {
        json_t *pts = json_object_get(docs[i], "points"), *pt;
        size_t pos;

        json_array_foreach(pts, pos, pt)
        {
            json_t *ts = json_object_get(pt, "ts_ns");
            if (json_is_integer(ts) &&
                ref_add(a, (point_ref){pt, i, pos, json_integer_value(ts), NULL, NULL}) < 0)
                return CS_ENOMEM;
        }
    }
    if (a->n > 1)
        qsort(a->refs, a->n, sizeof(*a->refs), cmp_refs);
    return 0;
}

/* {"series":..,"step_ns":..[,"heat_lower_ns":..] of the first answer. */
static void write_head(FILE *o, json_t **docs, int n, const char *series, long long step)
{
    json_t *first = NULL, *lower, *name;
    char *s;

    for (int i = 0; i < n && first == NULL; i++)
        first = docs[i];
    if (json_is_string(json_object_get(first, "series")))
        series = json_string_value(json_object_get(first, "series"));
    name = json_string(series ? series : "");
    s = name ? json_dumps(name, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    fprintf(o, "{\"series\":%s,\"step_ns\":%lld", s ? s : "\"\"", step);
    free(s);
    json_decref(name);
    lower = json_object_get(first, "heat_lower_ns");
    if (json_is_array(lower) && (s = json_dumps(lower, JSON_COMPACT)) != NULL) {
        fprintf(o, ",\"heat_lower_ns\":%s", s);
        free(s);
    }
}

int cs_hub_merge_metrics(const char *series, int hist_out, const cs_hub_peer *peers,
                         const cs_hub_fetch *f, const int *use, int n, char **out, size_t *len)
{
    json_t *docs[CS_HUB_SENSORS_MAX] = {0};
    cs_hub_fetch *g = calloc((size_t)n + 1, sizeof(*g));
    cs_histogram *h = malloc(sizeof(*h));
    ref_acc a = {0};
    long long step;
    int rc = g ? 0 : CS_ENOMEM, exact = 1;
    FILE *o = g && h ? open_memstream(out, len) : NULL;

    if (o == NULL) {
        free(g);
        free(h);
        return CS_ENOMEM;
    }
    parse_answers(f, use, n, "points", docs, g);
    step = widest_step(docs, n);
    drop_other_steps(docs, g, n, step);
    rc = gather_points(docs, n, &a);
    write_head(o, docs, n, series, step);
    fputs(",\"points\":[", o);
    for (size_t k = 0, end; k < a.n; k = end) {
        for (end = k + 1; end < a.n && a.refs[end].key == a.refs[k].key; end++)
            ;
        exact &= write_point(o, a.refs, k, end, step, k == 0, hist_out, h);
    }
    fprintf(o, "],\"percentiles\":\"%s\"", exact ? "merged" : "max_of_sensors");
    cs_hub_tail_json(o, peers, docs, g, use, n);
    for (int i = 0; i < n; i++)
        json_decref(docs[i]);
    free(a.refs);
    free(g);
    free(h);
    if (fclose(o) != 0 && rc == 0)
        rc = CS_ENOMEM;
    return rc;
}

long long cs_hub_metrics_step(const cs_hub_fetch *f)
{
    json_t *j = answered(f) ? json_loads(f->body, 0, NULL) : NULL;
    long long step = json_integer_value(json_object_get(j, "step_ns"));

    json_decref(j);
    return step;
}

/* ---- series ------------------------------------------------------------------ */

static int gather_series(json_t **docs, int n, ref_acc *a)
{
    for (int i = 0; i < n; i++) {
        json_t *rows = json_object_get(docs[i], "series"), *row;
        size_t pos;

        json_array_foreach(rows, pos, row)
        {
            const char *kind = json_string_value(json_object_get(row, "kind"));
            const char *name = json_string_value(json_object_get(row, "name"));
            const char *id = json_string_value(json_object_get(row, "id"));

            if (id == NULL || kind == NULL || name == NULL)
                continue;
            if (ref_add(a, (point_ref){row, i, pos, cs_series_kind_parse(kind, strlen(kind)), name,
                                       id}) < 0)
                return CS_ENOMEM;
        }
    }
    if (a->n > 1)
        qsort(a->refs, a->n, sizeof(*a->refs), cmp_refs);
    return 0;
}

/* Refs [from, to) are one series: its row with the sensors holding it. */
static void write_series(FILE *o, const point_ref *r, size_t from, size_t to,
                         const cs_hub_peer *peers, int first)
{
    json_t *row = json_deep_copy(r[from].pt), *held = json_array();
    char *s;

    for (size_t k = from; k < to; k++)
        if (k == from || r[k].sensor != r[k - 1].sensor)
            json_array_append_new(held, json_string(peers[r[k].sensor].name));
    json_object_set_new(row, "sensors", held);
    s = json_dumps(row, JSON_COMPACT);
    fprintf(o, "%s%s", first ? "" : ",", s ? s : "{}");
    free(s);
    json_decref(row);
}

int cs_hub_merge_series(const cs_hub_peer *peers, const cs_hub_fetch *f, const int *use, int n,
                        char **out, size_t *len)
{
    json_t *docs[CS_HUB_SENSORS_MAX] = {0};
    cs_hub_fetch *g = calloc((size_t)n + 1, sizeof(*g));
    ref_acc a = {0};
    int rc, first = 1;
    FILE *o = g ? open_memstream(out, len) : NULL;

    if (o == NULL) {
        free(g);
        return CS_ENOMEM;
    }
    parse_answers(f, use, n, "series", docs, g);
    rc = gather_series(docs, n, &a);
    fputs("{\"series\":[", o);
    for (size_t k = 0, end; k < a.n; k = end) {
        for (end = k + 1; end < a.n && a.refs[end].key == a.refs[k].key &&
                          strcmp(a.refs[end].name, a.refs[k].name) == 0 &&
                          strcmp(a.refs[end].id, a.refs[k].id) == 0;
             end++)
            ;
        write_series(o, a.refs, k, end, peers, first);
        first = 0;
    }
    fputc(']', o);
    cs_hub_tail_json(o, peers, docs, g, use, n);
    for (int i = 0; i < n; i++)
        json_decref(docs[i]);
    free(a.refs);
    free(g);
    if (fclose(o) != 0 && rc == 0)
        rc = CS_ENOMEM;
    return rc;
}

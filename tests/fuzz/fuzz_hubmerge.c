/*
 * fuzz_hubmerge.c - libFuzzer harness for the hub's merges of sensors'
 * answers (hub/merge.h): pcap downloads merged in time order and JSON
 * lists merged into one page. Sensors are other machines: what they send
 * is input like any other.
 *
 * Input: one control byte, then bytes split in two at the point the
 * control byte gives (control * len / 255):
 *   - both halves as two sensors' pcaps, merged by cs_hub_merge_pcaps;
 *   - both halves as two sensors' JSON answers to /api/v1/measurements,
 *     merged by cs_hub_merge_lists (page offset control % 4, limit
 *     1 + control % 7, slowest first when control is odd);
 *   - both halves as two sensors' answers to /api/v1/metrics and to
 *     /api/v1/series, merged by cs_hub_merge_metrics (the merged "hist"
 *     kept when control is odd) and cs_hub_merge_series.
 * Invariants (abort on failure):
 *   - a merge that succeeds writes a nanosecond pcap that reads back
 *     whole: a 24-byte header, then exactly the records it counted, each
 *     with a fraction below a second and within the 256 KB record bound
 *     (not in time order: a sensor's own pcap may go back in time, as its
 *     tap saw it, and the merge keeps each input's order);
 *   - the merged list is valid JSON whose "count" equals the length of its
 *     array, is at most the limit, and whose "partial" is a boolean;
 *   - the merged metrics are valid JSON whose points are objects in
 *     strictly increasing "ts_ns", and whose "partial" is a boolean; a
 *     point's merged "hist" reads back (cs_hist_json_merge) and gives its
 *     p50_ns .. p999_ns (those its sensors' points have);
 *   - the merged series are valid JSON, each id once.
 * Everything is freed, so ASan's leak check stays meaningful.
 */
#include "hub/merge.h"

#include "analytics/histjson.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_pcap(const char *buf, size_t len, long records)
{
    size_t off = 24;
    long n = 0;

    if (len < 24)
        abort();
    while (off + 16 <= len) {
        uint32_t h[4];

        memcpy(h, buf + off, 16);
        if (h[1] >= 1000000000u || h[2] > (256u << 10) || off + 16 + h[2] > len)
            abort();
        off += 16 + h[2];
        n++;
    }
    if (off != len || n != records)
        abort();
}

static void merge_pcaps(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    FILE *in[2] = {fmemopen((void *)a, na ? na : 1, "r"), fmemopen((void *)b, nb ? nb : 1, "r")};
    char *out = NULL, why[256];
    size_t len = 0;
    FILE *o = open_memstream(&out, &len);
    long n;

    if (na == 0 && in[0]) {
        fclose(in[0]);
        in[0] = NULL;
    }
    if (nb == 0 && in[1]) {
        fclose(in[1]);
        in[1] = NULL;
    }
    n = cs_hub_merge_pcaps(in, 2, o, why, sizeof(why));
    fclose(o);
    if (n >= 0)
        check_pcap(out, len, n);
    free(out);
    for (int i = 0; i < 2; i++)
        if (in[i])
            fclose(in[i]);
}

static void merge_lists(uint8_t control, const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    cs_hub_peer peers[2] = {{.name = "a"}, {.name = "b"}};
    cs_hub_fetch f[2] = {{.ok = 1, .status = 200}, {.ok = 1, .status = 200}};
    cs_hub_list_spec sp = {.array = "measurements",
                           .sort_key = control & 1 ? "latency_ns" : "req_ts_ns",
                           .descending = control & 1,
                           .offset = control % 4,
                           .limit = 1 + control % 7};
    char *out = NULL;
    size_t len = 0;
    json_t *j;

    f[0].body = strndup((const char *)a, na);
    f[1].body = strndup((const char *)b, nb);
    if (f[0].body && f[1].body && cs_hub_merge_lists(&sp, peers, f, NULL, 2, &out, &len) == 0) {
        j = json_loadb(out, len, 0, NULL);
        if (j == NULL ||
            json_integer_value(json_object_get(j, "count")) !=
                (json_int_t)json_array_size(json_object_get(j, "measurements")) ||
            json_array_size(json_object_get(j, "measurements")) > sp.limit ||
            !json_is_boolean(json_object_get(j, "partial")))
            abort();
        json_decref(j);
    }
    free(out);
    cs_hub_fetch_free(f, 2);
}

/* Points of "j" in strictly increasing ts_ns. */
static int points_ordered(json_t *j)
{
    json_t *pts = json_object_get(j, "points"), *pt;
    json_int_t last = 0;
    size_t i;

    if (!json_is_array(pts))
        return 0;
    json_array_foreach(pts, i, pt)
    {
        json_t *ts = json_object_get(pt, "ts_ns");
        if (!json_is_integer(ts) || (i > 0 && json_integer_value(ts) <= last))
            return 0;
        last = json_integer_value(ts);
    }
    return 1;
}

/* Every series id of "j" once. */
static int series_unique(json_t *j)
{
    json_t *rows = json_object_get(j, "series"), *seen = json_object(), *row;
    size_t i;
    int ok = json_is_array(rows);

    json_array_foreach(rows, i, row)
    {
        const char *id = json_string_value(json_object_get(row, "id"));
        const char *kind = json_string_value(json_object_get(row, "kind"));
        const char *name = json_string_value(json_object_get(row, "name"));
        char key[1024];

        if (id == NULL || kind == NULL || name == NULL) {
            ok = 0;
            break;
        }
        snprintf(key, sizeof(key), "%s\n%s", kind, name);
        ok &= json_object_get(seen, key) == NULL;
        json_object_set_new(seen, key, json_true());
    }
    json_decref(seen);
    return ok;
}

/* Every point of "j" that carries a merged "hist" reads back as one and
 * reports the percentiles cs_hist_quantile() gives for it. */
static int hists_agree(json_t *j)
{
    static const char *const name[] = {"p50_ns", "p90_ns", "p99_ns", "p999_ns"};
    static const double q[] = {0.50, 0.90, 0.99, 0.999};
    cs_histogram *h = malloc(sizeof(*h));
    json_t *pt;
    size_t i;
    int ok = h != NULL;

    json_array_foreach(json_object_get(j, "points"), i, pt)
    {
        json_t *hist = json_object_get(pt, "hist");

        if (!ok || hist == NULL)
            continue;
        cs_hist_init(h);
        ok = cs_hist_json_merge(hist, h) == 0;
        for (int k = 0; ok && k < 4; k++) /* a member no sensor gave stays out */
            ok = json_object_get(pt, name[k]) == NULL ||
                 json_integer_value(json_object_get(pt, name[k])) == cs_hist_quantile(h, q[k]);
    }
    free(h);
    return ok;
}

static void merge_metrics(uint8_t control, const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    cs_hub_peer peers[2] = {{.name = "a"}, {.name = "b"}};
    cs_hub_fetch f[2] = {{.ok = 1, .status = 200}, {.ok = 1, .status = 200}};
    char *out = NULL;
    size_t len = 0;
    json_t *j;

    f[0].body = strndup((const char *)a, na);
    f[1].body = strndup((const char *)b, nb);
    if (f[0].body && f[1].body &&
        cs_hub_merge_metrics("pair:fix", control & 1, peers, f, NULL, 2, &out, &len) == 0) {
        j = json_loadb(out, len, 0, NULL);
        if (j == NULL || !points_ordered(j) || !json_is_boolean(json_object_get(j, "partial")) ||
            !hists_agree(j))
            abort();
        json_decref(j);
    }
    free(out);
    out = NULL;
    if (f[0].body && f[1].body && cs_hub_merge_series(peers, f, NULL, 2, &out, &len) == 0) {
        j = json_loadb(out, len, 0, NULL);
        if (j == NULL || !series_unique(j))
            abort();
        json_decref(j);
    }
    free(out);
    cs_hub_fetch_free(f, 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t split;

    if (size < 1)
        return 0;
    split = (size_t)data[0] * (size - 1) / 255;
    merge_pcaps(data + 1, split, data + 1 + split, size - 1 - split);
    merge_lists(data[0], data + 1, split, data + 1 + split, size - 1 - split);
    merge_metrics(data[0], data + 1, split, data + 1 + split, size - 1 - split);
    return 0;
}

/*
 * test_histjson.c - unit tests of src/analytics/histjson.c, the sparse
 * JSON form of a latency histogram that a sensor's /api/v1/metrics?hist=1
 * gives and a hub merges.
 *
 * Checked: a histogram written and read back is the same histogram, bit
 * for bit (count, min, max, sum, every bucket), empty or not; the sparse
 * writer (a list of non-empty buckets) and the dense one write the same
 * bytes; reading two histograms into one equals cs_hist_merge() of both,
 * so its quantiles are those of all the values recorded into one; every
 * malformed object (member missing, bucket out of range, out of order or
 * empty, counts not adding up, min or max outside the listed buckets) is
 * refused and leaves the target as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "analytics/histjson.h"
#include "core/error.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* "n" latencies, log-uniform over 100 ns .. 10 ms. */
static void fill(cs_histogram *h, int n)
{
    cs_hist_init(h);
    for (int i = 0; i < n; i++)
        cs_hist_record(h, (int64_t)(100 * pow(1e5, (double)(rng() % 1000000) / 1e6)));
}

/* The JSON text of "h" (malloc'ed). */
static char *dense_text(const cs_histogram *h)
{
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);

    cs_hist_json(f, h);
    fclose(f);
    return s;
}

static int merge_text(const char *text, cs_histogram *into)
{
    json_t *j = json_loads(text, 0, NULL);
    int rc;

    assert_non_null(j);
    rc = cs_hist_json_merge(j, into);
    json_decref(j);
    return rc;
}

static void test_round_trip(void **state)
{
    static const int sizes[] = {0, 1, 7, 5000};
    cs_histogram *h = malloc(sizeof(*h)), *back = malloc(sizeof(*back));

    (void)state;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        char *s;

        fill(h, sizes[k]);
        s = dense_text(h);
        cs_hist_init(back);
        assert_int_equal(merge_text(s, back), 0);
        assert_memory_equal(h, back, sizeof(*h));
        free(s);
    }
    free(h);
    free(back);
}

static void test_sparse_equals_dense(void **state)
{
    cs_histogram *h = malloc(sizeof(*h));
    cs_hist_pair *pairs = calloc(CS_HIST_BUCKETS, sizeof(*pairs));
    cs_hist_sparse sp = {0};
    char *dense, *sparse = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&sparse, &len);

    (void)state;
    fill(h, 3000);
    for (int i = 0; i < CS_HIST_BUCKETS; i++)
        if (h->buckets[i])
            pairs[sp.n++] = (cs_hist_pair){(uint32_t)i, h->buckets[i]};
    sp.count = h->count, sp.min = h->min, sp.max = h->max, sp.sum = h->sum, sp.buckets = pairs;
    cs_hist_sparse_json(f, &sp);
    fclose(f);
    dense = dense_text(h);
    assert_string_equal(sparse, dense);
    free(dense);
    free(sparse);
    free(pairs);
    free(h);
}

static void test_merge_equals_union(void **state)
{
    cs_histogram *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b)), *m = malloc(sizeof(*m));
    char *sa, *sb;

    (void)state;
    fill(a, 2000);
    fill(b, 333);
    sa = dense_text(a);
    sb = dense_text(b);
    cs_hist_init(m);
    assert_int_equal(merge_text(sa, m), 0);
    assert_int_equal(merge_text(sb, m), 0);
    cs_hist_merge(a, b);
    assert_memory_equal(a->buckets, m->buckets, sizeof(a->buckets));
    assert_true(a->count == m->count && a->min == m->min && a->max == m->max);
    for (double q = 0.5; q < 1; q += 0.049)
        assert_int_equal(cs_hist_quantile(a, q), cs_hist_quantile(m, q));
    free(sa);
    free(sb);
    free(a);
    free(b);
    free(m);
}

static void test_malformed_refused(void **state)
{
    static const char *const bad[] = {
        "[]",
        "{\"min_ns\":5,\"max_ns\":5,\"sum\":5,\"buckets\":[[5,1]]}",
        "{\"count\":1,\"min_ns\":5,\"max_ns\":5,\"buckets\":[[5,1]]}",
        "{\"count\":1,\"min_ns\":5,\"max_ns\":5,\"sum\":5}",
        "{\"count\":1,\"min_ns\":5,\"max_ns\":5,\"sum\":5,\"buckets\":[[5,2]]}",
        "{\"count\":2,\"min_ns\":5,\"max_ns\":6,\"sum\":11,\"buckets\":[[6,1],[5,1]]}",
        "{\"count\":2,\"min_ns\":5,\"max_ns\":5,\"sum\":10,\"buckets\":[[5,1],[5,1]]}",
        "{\"count\":1,\"min_ns\":5,\"max_ns\":5,\"sum\":5,\"buckets\":[[5,0],[5,1]]}",
        "{\"count\":1,\"min_ns\":4,\"max_ns\":5,\"sum\":5,\"buckets\":[[5,1]]}",
        "{\"count\":1,\"min_ns\":5,\"max_ns\":6,\"sum\":5,\"buckets\":[[5,1]]}",
        "{\"count\":1,\"min_ns\":-5,\"max_ns\":5,\"sum\":5,\"buckets\":[[5,1]]}",
        "{\"count\":1,\"min_ns\":7,\"max_ns\":5,\"sum\":5,\"buckets\":[[5,1]]}",
        "{\"count\":1,\"min_ns\":5,\"max_ns\":5,\"sum\":5,\"buckets\":[[7296,1]]}",
        "{\"count\":1,\"min_ns\":5,\"max_ns\":5,\"sum\":5,\"buckets\":[[5,1,0]]}",
        "{\"count\":1,\"min_ns\":5,\"max_ns\":5,\"sum\":5,\"buckets\":[[\"5\",1]]}",
        "{\"count\":0,\"min_ns\":0,\"max_ns\":0,\"sum\":0,\"buckets\":[[0,1]]}",
        "{\"count\":18446744073709551615,\"min_ns\":5,\"max_ns\":5,\"sum\":5,\"buckets\":[[5,1]]}",
    };
    cs_histogram *h = malloc(sizeof(*h)), *was = malloc(sizeof(*was));

    (void)state;
    fill(h, 100);
    memcpy(was, h, sizeof(*h));
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        json_t *j = json_loads(bad[k], 0, NULL);

        if (j == NULL) /* an integer jansson cannot hold: refused before us */
            continue;
        assert_int_equal(cs_hist_json_merge(j, h), CS_EINVAL);
        assert_memory_equal(h, was, sizeof(*h));
        json_decref(j);
    }
    assert_int_equal(cs_hist_json_merge(NULL, h), CS_EINVAL);
    assert_int_equal(
        merge_text("{\"count\":2,\"min_ns\":5,\"max_ns\":6,\"sum\":11,\"buckets\":[[5,1],[6,1]]}",
                   h),
        0);
    assert_int_equal(h->count, was->count + 2);
    free(h);
    free(was);
}

/* Two sensors' histograms each of INT64_MAX values: the second merge
 * would make a count no reader of 64-bit signed JSON integers (the hub's
 * clients) can read back, so it is refused and changes nothing. */
static void test_merge_past_int64_refused(void **state)
{
    static const char big[] = "{\"count\":9223372036854775807,\"min_ns\":5,\"max_ns\":5,"
                              "\"sum\":5,\"buckets\":[[5,9223372036854775807]]}";
    cs_histogram *h = calloc(1, sizeof(*h)), *was = malloc(sizeof(*was));

    (void)state;
    cs_hist_init(h);
    assert_int_equal(merge_text(big, h), 0);
    assert_true(h->count == (uint64_t)INT64_MAX);
    memcpy(was, h, sizeof(*h));
    assert_int_equal(merge_text(big, h), CS_EINVAL);
    assert_memory_equal(h, was, sizeof(*h));
    assert_int_equal(merge_text("{\"count\":1,\"min_ns\":5,\"max_ns\":5,\"sum\":5,"
                                "\"buckets\":[[5,1]]}",
                                h),
                     CS_EINVAL);
    free(h);
    free(was);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_sparse_equals_dense),
        cmocka_unit_test(test_merge_equals_union),
        cmocka_unit_test(test_malformed_refused),
        cmocka_unit_test(test_merge_past_int64_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_histogram.c - unit tests of src/analytics/histogram.c and lazyhist.c.
 *
 * Quantiles from the histogram are compared with exact nearest-rank
 * quantiles of the sorted samples (lognormal latencies, several spreads,
 * and wide uniform data): relative error at most 1%. Also: bucket ranges
 * tile the value space, small values are exact, merge equals recording
 * everything into one histogram, and empty/negative cases; a lazy
 * histogram reports exactly what a full one does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "analytics/histogram.h"
#include "analytics/lazyhist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double uniform01(void)
{
    return ((double)(rng() >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(void)
{
    return sqrt(-2.0 * log(uniform01())) * cos(2.0 * M_PI * uniform01());
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t exact_quantile(const int64_t *sorted, size_t n, double q)
{
    double x = q * (double)n - 1e-9;
    size_t rank = (size_t)ceil(x);

    if (q <= 0 || rank < 1)
        return sorted[0];
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static const double qs[] = {0,    0.001, 0.01, 0.05, 0.1,   0.25,   0.5,
                            0.75, 0.9,   0.95, 0.99, 0.999, 0.9999, 1};

static void check_quantiles(const cs_histogram *h, int64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_i64);
    assert_int_equal(cs_hist_count(h), n);
    assert_int_equal(cs_hist_min(h), v[0]);
    assert_int_equal(cs_hist_max(h), v[n - 1]);
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        int64_t want = exact_quantile(v, n, qs[i]);
        int64_t got = cs_hist_quantile(h, qs[i]);
        double err = want ? fabs((double)(got - want)) / (double)want : (double)llabs(got);

        if (err > 0.01)
            fail_msg("q=%g: histogram %lld, exact %lld (error %.4f)", qs[i], (long long)got,
                     (long long)want, err);
    }
}

static void test_lognormal(void **state)
{
    static const double sigmas[] = {0.25, 1.0, 2.5};
    size_t n = 200000;
    int64_t *v = malloc(n * sizeof(*v));
    cs_histogram *h = malloc(sizeof(*h));

    for (size_t s = 0; s < 3; s++) {
        cs_hist_init(h);
        for (size_t i = 0; i < n; i++) {
            v[i] = (int64_t)exp(log(35000.0) + sigmas[s] * normal());
            cs_hist_record(h, v[i]);
        }
        check_quantiles(h, v, n);
    }
    free(v);
    free(h);
}

static void test_uniform_wide_and_small(void **state)
{
    size_t n = 50000;
    int64_t *v = malloc(n * sizeof(*v));
    cs_histogram *h = malloc(sizeof(*h));

    /* Log-uniform over 1 ns .. 2^62 ns. */
    cs_hist_init(h);
    for (size_t i = 0; i < n; i++) {
        v[i] = (int64_t)(rng() >> (1 + rng() % 63));
        cs_hist_record(h, v[i]);
    }
    check_quantiles(h, v, n);
    /* Small values are exact. */
    cs_hist_init(h);
    for (size_t i = 0; i < 1000; i++) {
        v[i] = (int64_t)(rng() % 300);
        cs_hist_record(h, v[i]);
    }
    qsort(v, 1000, sizeof(*v), cmp_i64);
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        int64_t want = exact_quantile(v, 1000, qs[i]);
        if (want < 256)
            assert_int_equal(cs_hist_quantile(h, qs[i]), want);
    }
    free(v);
    free(h);
}

static void test_buckets_tile(void **state)
{
    int64_t prev_hi = -1;

    for (int i = 0; i < CS_HIST_BUCKETS; i++) {
        int64_t lo, hi;

        cs_hist_bucket_range(i, &lo, &hi);
        assert_int_equal(lo, prev_hi + 1);
        assert_true(hi >= lo);
        assert_int_equal(cs_hist_bucket_of(lo), i);
        assert_int_equal(cs_hist_bucket_of(hi), i);
        /* Width bound: at most 1/128 of the lower bound (buckets below 128 are exact). */
        assert_true(lo < 128 ? hi == lo : (double)(hi - lo + 1) <= (double)lo / 128.0);
        prev_hi = hi;
    }
    assert_int_equal(prev_hi, INT64_MAX);
    for (int k = 0; k < 100000; k++) {
        int64_t x = (int64_t)(rng() >> (1 + rng() % 63)), lo, hi;

        cs_hist_bucket_range(cs_hist_bucket_of(x), &lo, &hi);
        assert_true(lo <= x && x <= hi);
    }
}

static void test_merge_and_edges(void **state)
{
    cs_histogram *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b)), *all = malloc(sizeof(*all));

    cs_hist_init(a);
    cs_hist_init(b);
    cs_hist_init(all);
    /* Empty. */
    assert_int_equal(cs_hist_count(a), 0);
    assert_int_equal(cs_hist_quantile(a, 0.5), 0);
    assert_int_equal(cs_hist_min(a), 0);
    assert_int_equal(cs_hist_max(a), 0);
    for (int i = 0; i < 10000; i++) {
        int64_t x = (int64_t)exp(log(1e5) + normal());

        cs_hist_record(i % 3 ? a : b, x);
        cs_hist_record(all, x);
    }
    cs_hist_merge(a, b);
    assert_memory_equal(a->buckets, all->buckets, sizeof(a->buckets));
    assert_int_equal(cs_hist_count(a), cs_hist_count(all));
    assert_int_equal(cs_hist_min(a), cs_hist_min(all));
    assert_int_equal(cs_hist_max(a), cs_hist_max(all));
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
        assert_int_equal(cs_hist_quantile(a, qs[i]), cs_hist_quantile(all, qs[i]));
    assert_true(fabs(cs_hist_mean(a) - cs_hist_mean(all)) < 1e-6 * cs_hist_mean(all));
    /* Merging an empty histogram changes nothing; into an empty one copies. */
    cs_hist_init(b);
    cs_hist_merge(a, b);
    assert_int_equal(cs_hist_count(a), cs_hist_count(all));
    cs_hist_merge(b, all);
    assert_int_equal(cs_hist_min(b), cs_hist_min(all));
    /* Negative values count as 0; one value is exact at every quantile. */
    cs_hist_init(a);
    cs_hist_record(a, -5);
    assert_int_equal(cs_hist_quantile(a, 0.5), 0);
    cs_hist_init(a);
    cs_hist_record_n(a, 123456789, 3);
    assert_int_equal(cs_hist_count(a), 3);
    assert_int_equal(cs_hist_quantile(a, 0.5), 123456789);
    assert_int_equal(cs_hist_quantile(a, 0.999), 123456789);
    free(a);
    free(b);
    free(all);
}

/* A lazy histogram reports what a cs_histogram fed the same values does,
 * below, at and past the size where it turns its value list into buckets;
 * and it holds a list, not buckets, while small. */
static void test_lazy_equals_full(void **state)
{
    static const size_t counts[] = {1, 2, 3, 255, 256, 257, 258, 1000, 5000};
    static const double lq[] = {0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1};
    cs_histogram *full = malloc(sizeof(*full));
    uint64_t x = 0x2545f4914f6cdd1dull;

    (void)state;
    assert_non_null(full);
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        cs_lazyhist lazy;

        cs_hist_init(full);
        cs_lazyhist_init(&lazy);
        for (size_t i = 0; i < counts[c]; i++) {
            int64_t v;

            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            v = i % 17 == 5 ? -(int64_t)(x % 1000) : (int64_t)(x >> (x % 50 + 10));
            cs_hist_record(full, v);
            assert_int_equal(cs_lazyhist_record(&lazy, v), 0);
        }
        assert_true((lazy.hist == NULL) == (counts[c] <= CS_LAZYHIST_VALUES));
        assert_int_equal(cs_lazyhist_count(&lazy), cs_hist_count(full));
        assert_int_equal(cs_lazyhist_min(&lazy), cs_hist_min(full));
        assert_int_equal(cs_lazyhist_max(&lazy), cs_hist_max(full));
        assert_true(cs_lazyhist_mean(&lazy) == cs_hist_mean(full));
        for (size_t k = 0; k < sizeof(lq) / sizeof(lq[0]); k++)
            assert_int_equal(cs_lazyhist_quantile(&lazy, lq[k]), cs_hist_quantile(full, lq[k]));
        cs_lazyhist_free(&lazy);
    }
    {
        cs_lazyhist empty;

        cs_lazyhist_init(&empty);
        assert_int_equal(cs_lazyhist_quantile(&empty, 0.5), 0);
        assert_int_equal(cs_lazyhist_max(&empty), 0);
        cs_lazyhist_free(&empty);
    }
    free(full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lognormal),        cmocka_unit_test(test_uniform_wide_and_small),
        cmocka_unit_test(test_buckets_tile),     cmocka_unit_test(test_merge_and_edges),
        cmocka_unit_test(test_lazy_equals_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

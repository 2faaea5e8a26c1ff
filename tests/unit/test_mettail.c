/*
 * test_mettail.c - unit tests of reading the stored metrics windows and
 * alert events from a durable position (src/store/mettail.c): every
 * window and event is read once across batches, commits and reopenings,
 * and what is appended afterwards (a later hour file, more events) is read
 * next and only it; a rollback reads the same again; a window cut short is
 * read once the next writer cut the tear off and wrote on; an alert line
 * without its newline is not read until it has one, a line that is not an
 * event is passed over; a point equals what cs_metricstore_query gives
 * with a step of 1 s; a file retention deleted unread is counted lost, a
 * file made again is read from its start; a cursor that does not parse is
 * an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "store/metricstore.h"
#include "store/mettail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEC 1000000000ll
#define HOUR (3600 * SEC)
#define T0 1767621600000000000ll /* 2026-01-05T14:00:00Z, an hour's start */
#define MAXW 8192

typedef struct fixture {
    char dir[64], cursor[128];
    unsigned seen[MAXW]; /* windows read, by second since T0 */
    size_t alerts;
    int64_t last_alert_ts;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_mettail.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->cursor, sizeof(f->cursor), "%s/m.metrics-cursor", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* Tap windows of seconds [from, to) (since T0), window i with i + 1 packets. */
static void put_windows(const char *dir, int from, int to)
{
    cs_metricstore *ms;

    assert_int_equal(cs_metricstore_open(dir, NULL, &ms), 0);
    for (int i = from; i < to; i++) {
        cs_window w = {.series = {.kind = CS_SERIES_TAP, .name = "0"},
                       .start_ns = T0 + i * SEC,
                       .dur_ns = SEC,
                       .packets = (uint64_t)i + 1,
                       .bytes = 100};
        assert_int_equal(cs_metricstore_put(ms, &w), 0);
    }
    assert_int_equal(cs_metricstore_close(ms), 0);
}

static void put_alerts(const char *dir, int from, int to)
{
    cs_metricstore *ms;

    assert_int_equal(cs_metricstore_open(dir, NULL, &ms), 0);
    for (int i = from; i < to; i++) {
        cs_alert_event ev = {.rule = "fix_slow",
                             .text = "pair=fix p99 > 1ms",
                             .series = {.kind = CS_SERIES_PAIR, .name = "fix"},
                             .metric = CS_AM_P99,
                             .state = i % 2 ? CS_ALERT_RESOLVED : CS_ALERT_FIRED,
                             .ts_ns = T0 + i * SEC,
                             .value = 2e6,
                             .threshold = 1e6};
        assert_int_equal(cs_metricstore_put_alert(ms, &ev), 0);
    }
    assert_int_equal(cs_metricstore_close(ms), 0);
}

static int on_window(void *ud, const cs_series_id *s, const cs_metric_point *p)
{
    fixture *f = ud;
    int64_t i = (p->ts_ns - T0) / SEC;

    assert_true(i >= 0 && i < MAXW);
    assert_int_equal(s->kind, CS_SERIES_TAP);
    assert_int_equal(p->count, (uint64_t)i + 1); /* the point of that window */
    assert_int_equal(p->windows, 1);
    f->seen[i]++;
    return 0;
}

static void on_alert(void *ud, const cs_alert_event *ev, const char *line, size_t len)
{
    fixture *f = ud;

    assert_string_equal(ev->rule, "fix_slow");
    assert_true(len > 2 && line[0] == '{' && line[len - 1] == '}');
    f->alerts++;
    f->last_alert_ts = ev->ts_ns;
}

/* Reads everything, "max" at a time, committing each batch; returns the
 * windows read. */
static size_t drain(fixture *f, cs_mettail *t, size_t max)
{
    cs_mettail_fns fns = {.window = on_window, .alert = on_alert, .ud = f};
    size_t nw, na, total = 0;

    do {
        assert_int_equal(cs_mettail_read(t, max, &fns, &nw, &na), 0);
        assert_true(nw <= max && na <= max);
        assert_int_equal(cs_mettail_commit(t), 0);
        total += nw;
    } while (nw == max || na == max);
    return total;
}

static void assert_each_once(const fixture *f, int n)
{
    for (int i = 0; i < n; i++)
        if (f->seen[i] != 1)
            fail_msg("window %d read %u times", i, f->seen[i]);
}

static void test_every_window_once(void **state)
{
    fixture *f = *state;
    cs_mettail *t;
    cs_mettail_stats st;

    put_windows(f->dir, 0, 50);
    put_alerts(f->dir, 0, 9);
    assert_int_equal(cs_mettail_open(f->dir, f->cursor, &t), 0);
    assert_int_equal(cs_mettail_stats_get(t, &st), 0);
    assert_true(st.pending_bytes > 0);
    assert_int_equal(drain(f, t, 7), 50);
    assert_int_equal(f->alerts, 9);
    assert_int_equal(cs_mettail_stats_get(t, &st), 0);
    assert_int_equal(st.pending_bytes, 0);
    cs_mettail_close(t);
    /* more in this hour and in the next two, more events: only they are read */
    put_windows(f->dir, 50, 60);
    put_windows(f->dir, 3600, 3610);
    put_windows(f->dir, 7200, 7201);
    put_alerts(f->dir, 9, 12);
    assert_int_equal(cs_mettail_open(f->dir, f->cursor, &t), 0);
    assert_int_equal(drain(f, t, 4), 21);
    assert_int_equal(f->alerts, 12);
    assert_int_equal(f->last_alert_ts, T0 + 11 * SEC);
    cs_mettail_close(t);
    assert_each_once(f, 60);
    assert_int_equal(f->seen[3600] + f->seen[3609] + f->seen[3610], 2);
    /* reopened with nothing new: nothing */
    assert_int_equal(cs_mettail_open(f->dir, f->cursor, &t), 0);
    assert_int_equal(drain(f, t, 100), 0);
    cs_mettail_close(t);
}

static void test_rollback_reads_again(void **state)
{
    fixture *f = *state;
    cs_mettail_fns fns = {.window = on_window, .alert = on_alert, .ud = f};
    cs_mettail *t;
    size_t nw, na;

    put_windows(f->dir, 0, 20);
    put_alerts(f->dir, 0, 3);
    assert_int_equal(cs_mettail_open(f->dir, f->cursor, &t), 0);
    assert_int_equal(cs_mettail_read(t, 10, &fns, &nw, &na), 0);
    assert_int_equal(nw, 10);
    assert_int_equal(na, 3);
    assert_int_equal(cs_mettail_rollback(t), 0); /* the insert failed */
    memset(f->seen, 0, sizeof(f->seen));
    f->alerts = 0;
    assert_int_equal(drain(f, t, 10), 20);
    assert_int_equal(f->alerts, 3);
    assert_each_once(f, 20);
    /* a process that died before its commit reads from the last commit */
    cs_mettail_close(t);
    put_windows(f->dir, 20, 25);
    assert_int_equal(cs_mettail_open(f->dir, f->cursor, &t), 0);
    assert_int_equal(cs_mettail_read(t, 0, &fns, &nw, &na), 0);
    assert_int_equal(nw, 5);
    cs_mettail_close(t); /* no commit */
    assert_int_equal(cs_mettail_open(f->dir, f->cursor, &t), 0);
    assert_int_equal(cs_mettail_read(t, 0, &fns, &nw, &na), 0);
    assert_int_equal(nw, 5);
    assert_int_equal(f->seen[20], 2);
    cs_mettail_close(t);
}

static void metrics_file(const fixture *f, int64_t ts, char *path, size_t cap)
{
    char name[64];

    snprintf(path, cap, "%s/metrics/%s", f->dir, cs_metricstore_file_name(ts, name));
}

static void append_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "a");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_torn_tails(void **state)
{
    fixture *f = *state;
    cs_mettail *t;
    char path[256];
    struct stat st;

    put_windows(f->dir, 0, 10);
    metrics_file(f, T0, path, sizeof(path));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - 3), 0); /* window 9 cut short */
    put_alerts(f->dir, 0, 2);
    snprintf(path, sizeof(path), "%s/alerts/alerts.jsonl", f->dir);
    append_text(path, "not an event\n{\"rule\":\"fix_slow\",\"state\":\"fi");
    assert_int_equal(cs_mettail_open(f->dir, f->cursor, &t), 0);
    assert_int_equal(drain(f, t, 100), 9);
    assert_int_equal(f->alerts, 2);
    assert_int_equal(f->seen[9], 0);
    /* the line gets its end; the next writer cuts the torn window off */
    append_text(path, "red\",\"ts_ns\":1767621700000000000,\"value\":3,\"threshold\":1,"
                      "\"from_ns\":0,\"to_ns\":0,\"series\":\"pair=fix\",\"metric\":\"p99\","
                      "\"text\":\"x\"}\n");
    put_windows(f->dir, 9, 12);
    assert_int_equal(drain(f, t, 100), 3);
    assert_int_equal(f->alerts, 3);
    assert_int_equal(f->last_alert_ts, 1767621700000000000ll);
    assert_each_once(f, 12);
    cs_mettail_close(t);
}

static int collect(void *ud, const cs_series_id *s, const cs_metric_point *p)
{
    cs_metric_point *got = ud;
    int64_t i = (p->ts_ns - T0) / SEC;

    assert_true(i >= 0 && i < 3);
    assert_string_equal(s->name, "fix");
    got[i] = *p;
    return 0;
}

static void test_points_equal_query(void **state)
{
    fixture *f = *state;
    cs_series_id fix = {.kind = CS_SERIES_PAIR, .name = "fix"};
    cs_histogram *h = cs_malloc(sizeof(*h));
    cs_metric_point *pts, got[3];
    cs_metricstore *ms;
    cs_mettail_fns fns = {.window = collect, .ud = got};
    size_t n, nw, na;
    cs_mettail *t;

    assert_non_null(h);
    assert_int_equal(cs_metricstore_open(f->dir, NULL, &ms), 0);
    for (int i = 0; i < 3; i++) {
        cs_window w = {.series = fix, .start_ns = T0 + i * SEC, .dur_ns = SEC};

        cs_hist_init(h);
        for (int v = 1; v <= 1000; v++)
            cs_hist_record(h, (int64_t)v * 1000 * (i + 1));
        w.measurements = h->count;
        w.hist = h;
        assert_int_equal(cs_metricstore_put(ms, &w), 0);
    }
    assert_int_equal(cs_metricstore_close(ms), 0);
    cs_free(h);
    assert_int_equal(cs_metricstore_query(f->dir, &fix, T0, T0 + HOUR, SEC, &pts, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(cs_mettail_open(f->dir, f->cursor, &t), 0);
    assert_int_equal(cs_mettail_read(t, 0, &fns, &nw, &na), 0);
    assert_int_equal(nw, 3);
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(got[k].ts_ns, pts[k].ts_ns);
        assert_int_equal(got[k].count, 1000);
        assert_int_equal(got[k].p99, pts[k].p99);
        assert_true(got[k].p99 > 0);
        assert_int_equal(got[k].max, pts[k].max);
        assert_memory_equal(got[k].heat, pts[k].heat, sizeof(got[k].heat));
    }
    assert_true(got[2].p99 > got[0].p99);
    cs_free(pts);
    cs_mettail_close(t);
}

static void test_deleted_and_replaced(void **state)
{
    fixture *f = *state;
    cs_mettail *t;
    cs_mettail_stats st;
    char path[256];

    put_windows(f->dir, 0, 5);
    put_windows(f->dir, 3600, 3605);
    assert_int_equal(cs_mettail_open(f->dir, f->cursor, &t), 0);
    assert_int_equal(drain(f, t, 100), 10);
    /* the first hour is made again (deleted, then written anew): read again */
    metrics_file(f, T0, path, sizeof(path));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(cs_mettail_stats_get(t, &st), 0); /* noticed while gone */
    put_windows(f->dir, 10, 13);
    assert_int_equal(drain(f, t, 100), 3);
    /* the second hour gets more, then retention deletes it unread */
    put_windows(f->dir, 3605, 3608);
    assert_int_equal(cs_mettail_stats_get(t, &st), 0);
    assert_true(st.pending_bytes > 0);
    metrics_file(f, T0 + HOUR, path, sizeof(path));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(cs_mettail_stats_get(t, &st), 0);
    assert_true(st.lost_bytes > 0);
    assert_int_equal(drain(f, t, 100), 0);
    cs_mettail_close(t);
    assert_int_equal(f->seen[3605], 0);
    assert_each_once(f, 5);
    /* replaced in place while the tail was open: read again from its start */
    put_windows(f->dir, 20, 22);
    assert_int_equal(cs_mettail_open(f->dir, f->cursor, &t), 0);
    assert_int_equal(drain(f, t, 100), 2);
    metrics_file(f, T0, path, sizeof(path));
    assert_int_equal(unlink(path), 0);
    put_windows(f->dir, 30, 40); /* longer than before, another file */
    memset(f->seen, 0, sizeof(f->seen));
    assert_int_equal(drain(f, t, 100), 10);
    assert_int_equal(cs_mettail_stats_get(t, &st), 0);
    assert_true(st.replaced >= 1);
    assert_each_once(f, 0);
    for (int i = 30; i < 40; i++)
        assert_int_equal(f->seen[i], 1);
    cs_mettail_close(t);
}

static void test_bad_cursor(void **state)
{
    fixture *f = *state;
    cs_mettail *t = NULL;

    append_text(f->cursor, "capstream-mettail 1\nmetrics/met-x.bin 1 2\n");
    assert_int_equal(cs_mettail_open(f->dir, f->cursor, &t), CS_ECORRUPT);
    assert_null(t);
    unlink(f->cursor);
    append_text(f->cursor, "something else\n");
    assert_int_equal(cs_mettail_open(f->dir, f->cursor, &t), CS_ECORRUPT);
    unlink(f->cursor);
    append_text(f->cursor, "capstream-mettail 1\n../../etc/passwd 1 0 0 0 0\n");
    assert_int_equal(cs_mettail_open(f->dir, f->cursor, &t), CS_ECORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_window_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_reads_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_points_equal_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_and_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_cursor, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

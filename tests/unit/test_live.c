/*
 * test_live.c - the live event ring (server/live.c): order, skipping when
 * a reader falls behind, timeouts, status/prometheus copies, and
 * concurrent publishers and readers on threads (each reader must see
 * increasing sequence numbers, every event intact).
 */
#include "server/live.h"

#include "core/alloc.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_order_and_timeout(void **state)
{
    cs_live *l;
    cs_live_event ev;
    uint64_t cur, skipped = 0;

    assert_int_equal(cs_live_new(&l), 0);
    assert_false(cs_live_has_readers(l));
    cur = cs_live_reader_begin(l);
    assert_true(cs_live_has_readers(l));
    assert_int_equal(cs_live_next(l, &cur, 10, &ev, &skipped), 0);
    cs_live_publish(l, "metrics", "{\"a\":1}", 7);
    cs_live_publish(l, "alert", "{\"b\":2}", 7);
    cs_live_publish(l, "", "{}", 2);            /* dropped: no type */
    cs_live_publish(l, "measurement", "{}", 0); /* dropped: empty */
    assert_int_equal(cs_live_next(l, &cur, 10, &ev, &skipped), 1);
    assert_string_equal(ev.type, "metrics");
    assert_string_equal(ev.json, "{\"a\":1}");
    cs_free(ev.json);
    assert_int_equal(cs_live_next(l, &cur, 10, &ev, &skipped), 1);
    assert_string_equal(ev.type, "alert");
    assert_int_equal(ev.len, 7);
    cs_free(ev.json);
    assert_int_equal(cs_live_next(l, &cur, 10, &ev, &skipped), 0);
    assert_int_equal(skipped, 0);
    cs_live_reader_end(l);
    assert_false(cs_live_has_readers(l));
    cs_live_free(l);
}

static void test_skip_when_behind(void **state)
{
    cs_live *l;
    cs_live_event ev;
    uint64_t cur, skipped = 0;
    char json[32];

    assert_int_equal(cs_live_new(&l), 0);
    cur = cs_live_reader_begin(l);
    for (int i = 0; i < CS_LIVE_RING + 10; i++) {
        int n = snprintf(json, sizeof(json), "{\"i\":%d}", i);
        cs_live_publish(l, "metrics", json, (size_t)n);
    }
    assert_int_equal(cs_live_next(l, &cur, 0, &ev, &skipped), 1);
    assert_int_equal(skipped, 10);
    assert_string_equal(ev.json, "{\"i\":10}");
    cs_free(ev.json);
    cs_live_free(l);
}

static void test_status_and_prom(void **state)
{
    cs_live *l;
    cs_live_status st = {0}, got;
    char *text;
    size_t len;

    assert_int_equal(cs_live_new(&l), 0);
    assert_int_not_equal(cs_live_get_prometheus(l, &text, &len), 0);
    st.version = "9.9";
    st.packets = 42;
    st.kernel_drops = 3;
    snprintf(st.sources, sizeof(st.sources), "file x.pcap");
    cs_live_set_status(l, &st);
    memset(&st, 0, sizeof(st));
    cs_live_get_status(l, &got);
    assert_string_equal(got.version, "9.9");
    assert_int_equal(got.packets, 42);
    assert_int_equal(got.kernel_drops, 3);
    assert_string_equal(got.sources, "file x.pcap");
    cs_live_set_prometheus(l, "a 1\n", 4);
    assert_int_equal(cs_live_get_prometheus(l, &text, &len), 0);
    assert_int_equal(len, 4);
    assert_string_equal(text, "a 1\n");
    cs_free(text);
    cs_live_free(l);
}

#define PUBLISHERS 3
#define PER_PUBLISHER 20000

static void *publisher(void *arg)
{
    cs_live *l = arg;
    char json[64];

    for (int i = 0; i < PER_PUBLISHER; i++) {
        int n = snprintf(json, sizeof(json), "{\"n\":%d,\"pad\":\"xxxxxxxx\"}", i);
        cs_live_publish(l, "measurement", json, (size_t)n);
    }
    return NULL;
}

typedef struct reader_arg {
    cs_live *l;
    uint64_t seen, skipped, bad;
} reader_arg;

static void *reader(void *arg)
{
    reader_arg *r = arg;
    uint64_t cur = 1, last = 0;
    cs_live_event ev;

    while (r->seen + r->skipped < (uint64_t)PUBLISHERS * PER_PUBLISHER) {
        int rc = cs_live_next(r->l, &cur, 200, &ev, &r->skipped);
        if (rc == 0)
            break;
        if (ev.seq <= last || strncmp(ev.json, "{\"n\":", 5) != 0 || ev.json[ev.len - 1] != '}' ||
            strcmp(ev.type, "measurement") != 0)
            r->bad++;
        last = ev.seq;
        r->seen++;
        cs_free(ev.json);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    cs_live *l;
    pthread_t pub[PUBLISHERS], rd[2];
    reader_arg ra[2];

    assert_int_equal(cs_live_new(&l), 0);
    for (int i = 0; i < 2; i++) {
        ra[i] = (reader_arg){l, 0, 0, 0};
        pthread_create(&rd[i], NULL, reader, &ra[i]);
    }
    for (int i = 0; i < PUBLISHERS; i++)
        pthread_create(&pub[i], NULL, publisher, l);
    for (int i = 0; i < PUBLISHERS; i++)
        pthread_join(pub[i], NULL);
    for (int i = 0; i < 2; i++) {
        pthread_join(rd[i], NULL);
        assert_int_equal(ra[i].bad, 0);
        /* every event was either read or counted as skipped */
        assert_int_equal(ra[i].seen + ra[i].skipped, (uint64_t)PUBLISHERS * PER_PUBLISHER);
        assert_true(ra[i].seen >= CS_LIVE_RING / 2);
    }
    assert_int_equal(cs_live_reader_begin(l), (uint64_t)PUBLISHERS * PER_PUBLISHER + 1);
    cs_live_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_timeout),
        cmocka_unit_test(test_skip_when_behind),
        cmocka_unit_test(test_status_and_prom),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

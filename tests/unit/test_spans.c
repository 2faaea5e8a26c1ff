/*
 * test_spans.c - unit tests of the message store's spans
 * (src/store/msgstore_spans.c and their choice in msgstore_summary.c):
 * once a file is summarized, a lookup by id, by key or by time range reads
 * only the spans that may hold what it asks for, and finds exactly what a
 * whole pass finds, including records appended after the summary.
 *
 * The store: messages of four packet segments interleaved in one file
 * (ids from different segments alternate, so a span's id bounds cover
 * nearly every id and only its key filter blocks can rule it out), keys
 * repeating every KEYS messages, times 1 us apart; every other message has
 * a measurement.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/error.h"
#include "store/msgstore.h"
#include "store/msgstore_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 1767623400000000000ll
#define N_MSGS 40000u /* about 39 spans of messages */
#define KEYS 10000u   /* key "K<i % KEYS>": four messages a key */
#define N_SEGS 4u

typedef struct fixture {
    char dir[64];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char marker[128];
    FILE *fp;

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_spans.XXXXXX");
    if (f == NULL || mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(marker, sizeof(marker), "%s/capstream.store", f->dir);
    if ((fp = fopen(marker, "w")) == NULL)
        return -1;
    /* N_SEGS partitions: segments 1..N_SEGS are one group, one file */
    fprintf(fp,
            "capstream store\nformat 1\nsegment_bytes 1073741824\nmax_bytes 0\n"
            "max_message_bytes 0\npartitions %u\n",
            N_SEGS);
    fclose(fp);
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

static cs_msgid id_of(uint32_t i)
{
    return CS_MSGID(CS_PKTREF(1 + i % N_SEGS, 24 + 100 * (i / N_SEGS)), 0);
}

/* Message "i" (and its measurement when i is even) through "w". */
static void put_one(cs_msgstore *w, uint32_t i)
{
    char key[32];
    cs_message m;
    cs_measurement ms;

    memset(&m, 0, sizeof(m));
    snprintf(key, sizeof(key), "K%u", i % KEYS);
    m.id = id_of(i);
    m.proto = "fix";
    m.type = (cs_str){"D", 1};
    m.ts_ns = m.last_ts_ns = T0 + (int64_t)i * 1000;
    m.flow_id = 7;
    m.ep.ip_version = 4;
    m.key = (cs_str){key, strlen(key)};
    assert_int_equal(cs_msgstore_put_message(w, &m), 0);
    if (i % 2)
        return;
    memset(&ms, 0, sizeof(ms));
    ms.id = ms.req_id = m.id;
    ms.resp_id = id_of(i + 1);
    ms.req_ts_ns = m.ts_ns;
    ms.resp_ts_ns = m.ts_ns + 500;
    ms.latency_ns = 500;
    ms.pair = "fix";
    ms.key = m.key;
    ms.ep = m.ep;
    assert_int_equal(cs_msgstore_put_measurement(w, &ms), 0);
}

static void put_range(cs_msgstore *w, uint32_t from, uint32_t to)
{
    for (uint32_t i = from; i < to; i++)
        put_one(w, i);
    assert_int_equal(cs_msgstore_flush(w), 0);
}

static int on_msg(void *ud, const cs_message *m)
{
    cs_msgid *got = ud;

    *got = m->id;
    return 0;
}

static int on_lat(void *ud, const cs_measurement *ms)
{
    cs_msgid *got = ud;

    *got = ms->id;
    return 0;
}

static int count_msg(void *ud, const cs_message *m)
{
    (*(uint64_t *)ud)++;
    return 0;
}

static uint64_t spans_read(void)
{
    uint64_t read, passed;

    cs__spans_stats(&read, &passed);
    return read;
}

/* Messages with key "K<k>" in [a, b) (all time when a == b), by "r". */
static uint64_t by_key(cs_msgreader *r, uint32_t k, uint32_t a, uint32_t b)
{
    cs_msgfilter f;
    char key[32];
    uint64_t n = 0;

    cs_msgfilter_init(&f);
    snprintf(key, sizeof(key), "K%u", k);
    f.key = key;
    if (a < b) {
        f.after = T0 + (int64_t)a * 1000;
        f.before = T0 + (int64_t)b * 1000;
    }
    assert_int_equal(cs_msgreader_messages(r, &f, count_msg, &n), 0);
    return n;
}

static uint64_t by_range(cs_msgreader *r, uint32_t a, uint32_t b)
{
    cs_msgfilter f;
    uint64_t n = 0;

    cs_msgfilter_init(&f);
    f.after = T0 + (int64_t)a * 1000;
    f.before = T0 + (int64_t)b * 1000;
    assert_int_equal(cs_msgreader_messages(r, &f, count_msg, &n), 0);
    return n;
}

static void find_both(cs_msgreader *r, uint32_t i)
{
    cs_msgid got = 0;

    assert_int_equal(cs_msgreader_find_message(r, id_of(i), on_msg, &got), 0);
    assert_int_equal(got, id_of(i));
    got = 0;
    if (i % 2 == 0) {
        assert_int_equal(cs_msgreader_find_measurement(r, id_of(i), "fix", on_lat, &got), 0);
        assert_int_equal(got, id_of(i));
    } else
        assert_int_equal(cs_msgreader_find_measurement(r, id_of(i), "fix", on_lat, &got),
                         CS_ENOTFOUND);
}

/* Lookups by id read a span or two of a summarized file, and find what
 * they ask for; an id not stored is not found. */
static void test_ids(void **state)
{
    fixture *f = *state;
    cs_msgstore *w;
    cs_msgreader *r;
    cs_msgstore_info info;
    cs_msgid got = 0;
    uint64_t read0;

    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    put_range(w, 0, N_MSGS);
    assert_int_equal(cs_msgstore_close(w), 0);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    assert_int_equal(cs_msgreader_info(r, &info), 0); /* the summaries */
    assert_int_equal(info.messages, N_MSGS);
    read0 = spans_read();
    for (uint32_t i = 0; i < N_MSGS; i += 997)
        find_both(r, i);
    find_both(r, N_MSGS - 1);
    /* 42 message and 21 measurement lookups finding theirs: about a span
     * each, where a whole pass would be 39 or 20 */
    assert_true(spans_read() - read0 <= 2 * 63);
    assert_true(spans_read() - read0 >= 42);
    assert_int_equal(cs_msgreader_find_message(r, id_of(N_MSGS + 8), on_msg, &got), CS_ENOTFOUND);
    cs_msgreader_close(r);
}

/* By key and by time range: the same counts as the records written, from
 * a few spans. */
static void test_keys_and_ranges(void **state)
{
    fixture *f = *state;
    cs_msgstore *w;
    cs_msgreader *r;
    cs_msgstore_info info;
    uint64_t read0;

    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    put_range(w, 0, N_MSGS);
    assert_int_equal(cs_msgstore_close(w), 0);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    assert_int_equal(cs_msgreader_info(r, &info), 0);
    read0 = spans_read();
    for (uint32_t k = 0; k < KEYS; k += 613)
        assert_int_equal(by_key(r, k, 0, 0), N_MSGS / KEYS);
    assert_int_equal(by_key(r, KEYS + 5, 0, 0), 0);
    /* four messages a key, in four spans at most; 17 keys */
    assert_true(spans_read() - read0 <= 17 * 4 + 2);
    assert_int_equal(by_key(r, 5, 0, KEYS), 1);        /* the key's first only */
    assert_int_equal(by_range(r, 12345, 14345), 2000); /* two or three spans */
    assert_int_equal(by_range(r, N_MSGS - 10, N_MSGS + 10), 10);
    assert_int_equal(by_range(r, N_MSGS + 10, N_MSGS + 100), 0);
    cs_msgreader_close(r);
}

/* A file appended to after its summary: what was appended is found by id,
 * key and range, from the spans and the new tail. */
static void test_appended(void **state)
{
    fixture *f = *state;
    cs_msgstore *w;
    cs_msgreader *r;
    cs_msgstore_info info;

    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    put_range(w, 0, N_MSGS / 2);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    assert_int_equal(cs_msgreader_info(r, &info), 0);
    for (uint32_t n = N_MSGS / 2; n < N_MSGS; n += 2500) {
        put_range(w, n, n + 2500);
        find_both(r, n + 2498);
        find_both(r, n + 3);
        assert_int_equal(by_key(r, (n + 7) % KEYS, 0, 0), (n + 7) / KEYS + 1);
        assert_int_equal(by_range(r, n + 100, n + 2500), 2400);
        assert_int_equal(by_range(r, n - 50, n + 50), 100);
    }
    assert_int_equal(cs_msgstore_close(w), 0);
    cs_msgreader_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_and_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appended, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_pktqueue.c - the capture-to-pipeline ring: order and bytes kept
 * across wraps, lossy producers drop and count when full, lossless ones
 * wait, close drains then ends, and two threads pushing while one pops
 * lose nothing in lossless mode.
 */
#include "core/error.h"
#include "source/pktqueue.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static uint8_t payload[2000];

static void make_batch(cs_batch *b, unsigned n, uint32_t first, uint16_t tap)
{
    b->n = n;
    for (unsigned i = 0; i < n; i++) {
        uint32_t k = first + i;
        b->pkts[i] = (cs_packet){.ts_ns = (int64_t)k * 10, .caplen = 60 + k % 900,
                                 .wirelen = 60 + k % 900 + 4, .linktype = 1, .tap = tap,
                                 .data = payload + k % 1000};
    }
}

static void check_packet(const cs_packet *p, uint32_t k)
{
    assert_int_equal(p->ts_ns, (int64_t)k * 10);
    assert_int_equal(p->caplen, 60 + k % 900);
    assert_int_equal(p->wirelen, 60 + k % 900 + 4);
    assert_memory_equal(p->data, payload + k % 1000, p->caplen);
}

static void test_order_across_wraps(void **state)
{
    cs_pktqueue *q;
    cs_batch b;
    cs_packet p;
    uint32_t next = 0, popped = 0;

    assert_int_equal(cs_pktqueue_new(64 * 1024, &q), 0);
    for (int round = 0; round < 200; round++) {
        make_batch(&b, 20, next, 0);
        assert_int_equal(cs_pktqueue_push(q, &b, 1), 0);
        next += 20;
        for (int i = 0; i < 20; i++) {
            assert_int_equal(cs_pktqueue_pop(q, &p, 10), 1);
            check_packet(&p, popped++);
        }
    }
    assert_int_equal(cs_pktqueue_pop(q, &p, 1), CS_EBUSY);
    cs_pktqueue_close(q);
    assert_int_equal(cs_pktqueue_pop(q, &p, 1), 0);
    cs_pktqueue_free(q);
}

static void test_lossy_drops_when_full(void **state)
{
    cs_pktqueue *q;
    cs_batch b;
    cs_packet p;
    unsigned dropped = 0, got = 0;
    int64_t last = -1;

    assert_int_equal(cs_pktqueue_new(32 * 1024, &q), 0);
    for (int i = 0; i < 10; i++) {
        make_batch(&b, 100, (uint32_t)i * 100, 0);
        dropped += cs_pktqueue_push(q, &b, 1);
    }
    assert_true(dropped > 0);
    cs_pktqueue_close(q);
    while (cs_pktqueue_pop(q, &p, 1) == 1) {
        uint32_t k = (uint32_t)(p.ts_ns / 10);
        assert_true(p.ts_ns > last); /* what is kept stays in order */
        last = p.ts_ns;
        check_packet(&p, k);
        got++;
    }
    assert_int_equal(got + dropped, 1000);
    cs_pktqueue_free(q);
}

typedef struct producer {
    cs_pktqueue *q;
    uint16_t tap;
} producer;

static void *produce(void *arg)
{
    producer *pr = arg;
    static _Thread_local cs_batch b;

    for (uint32_t i = 0; i < 500; i++) {
        make_batch(&b, 10, i * 10, pr->tap);
        cs_pktqueue_push(pr->q, &b, 0);
    }
    return NULL;
}

static void test_lossless_threads(void **state)
{
    cs_pktqueue *q;
    pthread_t t[2];
    producer pr[2];
    uint32_t next[2] = {0, 0};
    cs_packet p;
    int rc;

    assert_int_equal(cs_pktqueue_new(16 * 1024, &q), 0);
    for (int i = 0; i < 2; i++) {
        pr[i] = (producer){q, (uint16_t)i};
        pthread_create(&t[i], NULL, produce, &pr[i]);
    }
    while (next[0] + next[1] < 10000 && (rc = cs_pktqueue_pop(q, &p, 1000)) != 0) {
        assert_int_not_equal(rc, CS_EBUSY);
        check_packet(&p, next[p.tap]++); /* each producer's order is kept */
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(next[0], 5000);
    assert_int_equal(next[1], 5000);
    cs_pktqueue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_across_wraps),
        cmocka_unit_test(test_lossy_drops_when_full),
        cmocka_unit_test(test_lossless_threads),
    };
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 31 + 7);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

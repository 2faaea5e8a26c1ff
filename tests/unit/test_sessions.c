/*
 * test_sessions.c - unit tests of latency per session (msgstore_latency.c):
 * a TCP session is its connection (client address and port), a UDP one
 * the client's address (a resolver's new port per query is no new
 * session); the name /sessions gives lists the session's measurements
 * when passed back as the session filter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/msgstore.h"
#include "tmpstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 1767623400000000000ll
#define UDP_QUERIES 100u
#define TCP_PER_CONN 30u

static int setup(void **state)
{
    char *dir = calloc(1, 64);

    if (dir == NULL)
        return -1;
    snprintf(dir, 64, "/tmp/test_sessions.XXXXXX");
    if (cs_test_store_make(dir) < 0)
        return -1;
    *state = dir;
    return 0;
}

static int teardown(void **state)
{
    int rc = cs_test_rmtree(*state);

    free(*state);
    return rc;
}

/* Measurement "i" from 10.0.0.<host>:<port> to 10.0.0.9:<sport>. */
static void put(cs_msgstore *w, uint32_t i, uint8_t proto, uint8_t host, uint16_t port,
                uint16_t sport, const char *pair)
{
    cs_measurement ms;

    memset(&ms, 0, sizeof(ms));
    ms.id = ms.req_id = CS_MSGID(CS_PKTREF(1, 24 + 100 * i), 0);
    ms.resp_id = CS_MSGID(CS_PKTREF(1, 74 + 100 * i), 0);
    ms.req_ts_ns = T0 + (int64_t)i * 1000;
    ms.resp_ts_ns = ms.req_ts_ns + 1000 + i;
    ms.latency_ns = 1000 + i;
    ms.pair = pair;
    ms.key = (cs_str){"k", 1};
    ms.ep.ip_version = 4;
    ms.ep.ip_proto = proto;
    ms.ep.addr_a[0] = ms.ep.addr_b[0] = 10;
    ms.ep.addr_a[3] = host;
    ms.ep.addr_b[3] = 9;
    ms.ep.port_a = port;
    ms.ep.port_b = sport;
    assert_int_equal(cs_msgstore_put_measurement(w, &ms), 0);
}

static int count_cb(void *ud, const cs_measurement *ms)
{
    (*(uint64_t *)ud)++;
    return 0;
}

static uint64_t listed(cs_msgreader *r, const char *session)
{
    cs_latfilter f;
    uint64_t n = 0;

    cs_latfilter_init(&f);
    f.session = session;
    assert_int_equal(cs_msgreader_measurements(r, &f, count_cb, &n), 0);
    return n;
}

static void test_udp_by_address_tcp_by_connection(void **state)
{
    cs_msgstore *w;
    cs_msgreader *r;
    cs_latstats *st;
    size_t n, i;
    uint32_t k = 0;

    assert_int_equal(cs_msgstore_open(*state, &w), 0);
    for (uint32_t q = 0; q < UDP_QUERIES; q++) /* one resolver, a port per query */
        put(w, k++, 17, 5, (uint16_t)(20000 + q), 53, "dns");
    for (uint32_t q = 0; q < TCP_PER_CONN; q++) { /* two connections of one client */
        put(w, k++, 6, 7, 40001, 9878, "fix");
        put(w, k++, 6, 7, 40002, 9878, "fix");
    }
    assert_int_equal(cs_msgstore_close(w), 0);
    assert_int_equal(cs_msgreader_open(*state, &r), 0);
    assert_int_equal(cs_msgreader_lat_stats(r, NULL, CS_LATBY_SESSION, &st, &n), 0);
    assert_int_equal(n, 3);
    /* sorted by pair, then session */
    assert_string_equal(st[0].pair, "dns");
    assert_string_equal(st[0].session, "10.0.0.5>10.0.0.9:53");
    assert_int_equal(cs_lazyhist_count(&st[0].hist), UDP_QUERIES);
    assert_int_equal(cs_lazyhist_max(&st[0].hist), 1000 + UDP_QUERIES - 1);
    assert_string_equal(st[1].session, "10.0.0.7:40001>10.0.0.9:9878");
    assert_string_equal(st[2].session, "10.0.0.7:40002>10.0.0.9:9878");
    for (i = 1; i < 3; i++)
        assert_int_equal(cs_lazyhist_count(&st[i].hist), TCP_PER_CONN);
    /* each name, passed back as the filter, lists its measurements */
    for (i = 0; i < n; i++)
        assert_int_equal(listed(r, st[i].session), cs_lazyhist_count(&st[i].hist));
    assert_int_equal(listed(r, "10.0.0.5:20007>10.0.0.9:53"), 0);
    cs_latstats_free(st, n);
    cs_msgreader_close(r);
}

/* More sessions than the by-session pass's cache of names holds, in turns,
 * two pairs on the same endpoints and a pair name too long for the cache:
 * every session its own entry with its own count. */
#define MANY_CONNS 3000u
#define MANY_ROUNDS 3u
static const char LONG_PAIR[] = "a_pair_name_of_forty_characters_long_xx";

static void test_many_sessions(void **state)
{
    static const char *const pairs[] = {"fix", "ouch", LONG_PAIR};
    cs_msgstore *w;
    cs_msgreader *r;
    cs_latstats *st;
    size_t n;
    uint32_t k = 0;

    assert_int_equal(cs_msgstore_open(*state, &w), 0);
    for (uint32_t round = 0; round < MANY_ROUNDS; round++)
        for (uint32_t c = 0; c < MANY_CONNS; c++)
            for (int p = 0; p < 3; p++)
                put(w, k++, 6, (uint8_t)(1 + c % 200), (uint16_t)(30000 + c / 200), 9878, pairs[p]);
    assert_int_equal(cs_msgstore_close(w), 0);
    assert_int_equal(cs_msgreader_open(*state, &r), 0);
    assert_int_equal(cs_msgreader_lat_stats(r, NULL, CS_LATBY_SESSION, &st, &n), 0);
    assert_int_equal(n, 3 * MANY_CONNS);
    for (size_t i = 0; i < n; i++) {
        unsigned host, port;

        assert_int_equal(cs_lazyhist_count(&st[i].hist), MANY_ROUNDS);
        assert_int_equal(sscanf(st[i].session, "10.0.0.%u:%u>10.0.0.9:9878", &host, &port), 2);
        assert_true(i == 0 || strcmp(st[i - 1].pair, st[i].pair) < 0 ||
                    strcmp(st[i - 1].session, st[i].session) < 0);
    }
    /* the session filter (its answers cached by binary session too) lists
     * each session's measurements of every pair, no other */
    for (size_t i = 0; i < MANY_CONNS; i += 97)
        assert_int_equal(listed(r, st[i].session), 3 * MANY_ROUNDS);
    cs_latstats_free(st, n);
    cs_msgreader_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_udp_by_address_tcp_by_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_sessions, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

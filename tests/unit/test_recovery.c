/*
 * test_recovery.c - unit tests of src/analytics/recovery.c.
 *
 * Gaps and the numbers packets carried are given by hand, on two feeds
 * (flows 1 and 2) and a retransmission flow (3) of one stream at tap 101,
 * and a feed at another tap; a recording emit callback checks which gaps
 * leave, when, recovered or not, arbitrated or not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "analytics/recovery.h"

#include <stdio.h>
#include <string.h>

#define HOLD 1000

typedef struct rec {
    char log[2048];
    int n;
} rec;

static void on_gap(void *ud, const cs_recovered_gap *g)
{
    rec *r = ud;
    char line[96];

    snprintf(line, sizeof(line), "%s%s f%llu %.*s %llu+%llu @%lld;", g->arbitrated ? "AB" : "G",
             g->recovered ? "r" : "", (unsigned long long)g->ev.flow_id, (int)g->ev.gap.stream.len,
             g->ev.gap.stream.p, (unsigned long long)g->ev.gap.first,
             (unsigned long long)g->ev.gap.count, (long long)g->ev.ts_ns);
    strcat(r->log, line);
    r->n++;
}

static cs_recovery *new_tracker(rec *r)
{
    cs_recovery *t;

    memset(r, 0, sizeof(*r));
    assert_int_equal(cs_recovery_new(HOLD, on_gap, r, &t), 0);
    return t;
}

static void seen(cs_recovery *t, uint64_t flow, uint16_t tap, uint64_t first, uint64_t count,
                 int retrans, int64_t ts)
{
    cs_seq_span_event e;

    memset(&e, 0, sizeof(e));
    e.proto = "moldudp64";
    e.span = (cs_seq_span){{"S1", 2}, first, count, (uint8_t)retrans};
    e.flow_id = flow;
    e.ep.tap = tap;
    e.ts_ns = ts;
    cs_recovery_seen(t, &e);
}

static void gap(cs_recovery *t, uint64_t flow, uint16_t tap, uint64_t first, uint64_t count,
                int64_t ts)
{
    cs_seq_gap_event e;

    memset(&e, 0, sizeof(e));
    e.proto = "moldudp64";
    e.gap = (cs_seq_gap){{"S1", 2}, first, count};
    e.flow_id = flow;
    e.ep.tap = tap;
    e.ts_ns = ts;
    cs_recovery_gap(t, &e);
}

/* B had the numbers before A's gap showed: recovered at once. */
static void test_filled_before(void **state)
{
    rec r;
    cs_recovery *t = new_tracker(&r);

    (void)state;
    seen(t, 2, 101, 1, 10, 0, 10);
    seen(t, 1, 101, 1, 4, 0, 11);
    gap(t, 1, 101, 5, 3, 12);
    assert_string_equal(r.log, "Gr f1 S1 5+3 @12;");
    cs_recovery_free(t);
}

/* B brings the numbers after the gap, in two pieces: recovered then. */
static void test_filled_after_in_pieces(void **state)
{
    rec r;
    cs_recovery *t = new_tracker(&r);

    (void)state;
    seen(t, 1, 101, 1, 4, 0, 10);
    gap(t, 1, 101, 5, 6, 12);
    seen(t, 2, 101, 1, 7, 0, 13);
    assert_int_equal(r.n, 0);
    seen(t, 2, 101, 9, 5, 0, 14); /* 8 still missing */
    assert_int_equal(r.n, 0);
    seen(t, 3, 101, 8, 1, 1, 15); /* a retransmission of 8 */
    assert_string_equal(r.log, "Gr f1 S1 5+6 @12;");
    cs_recovery_free(t);
}

/* Its own feed, another tap, or too late: not recovered. */
static void test_not_filled(void **state)
{
    rec r;
    cs_recovery *t = new_tracker(&r);

    (void)state;
    gap(t, 1, 101, 5, 3, 100);
    seen(t, 1, 101, 5, 3, 0, 101); /* the same feed: not another's */
    seen(t, 9, 102, 5, 3, 0, 102); /* another tap */
    cs_recovery_expire(t, 100 + HOLD - 1);
    assert_int_equal(r.n, 0);
    cs_recovery_expire(t, 100 + HOLD);
    assert_string_equal(r.log, "G f1 S1 5+3 @100;");
    seen(t, 2, 101, 5, 3, 0, 100 + HOLD + 1); /* after it left */
    assert_int_equal(r.n, 1);
    cs_recovery_free(t);
}

/* Both feeds miss 6..8: an arbitrated gap, made when the later gap shows,
 * recovered only by a retransmission; the feeds' own gaps by each other
 * where they can. */
static void test_arbitrated(void **state)
{
    rec r;
    cs_recovery *t = new_tracker(&r);
    cs_recovery_stats st;

    (void)state;
    seen(t, 1, 101, 1, 4, 0, 10);
    gap(t, 1, 101, 5, 4, 20); /* A misses 5..8 */
    seen(t, 2, 101, 1, 5, 0, 21);
    gap(t, 2, 101, 6, 5, 22); /* B misses 6..10 */
    assert_string_equal(r.log, "");
    seen(t, 1, 101, 9, 3, 0, 23); /* A has 9..11: B's 9, 10 */
    seen(t, 3, 101, 6, 3, 1, 24); /* the retransmission of 6..8 */
    assert_string_equal(r.log, "Gr f1 S1 5+4 @20;ABr f2 S1 6+3 @22;Gr f2 S1 6+5 @22;");
    cs_recovery_stats_get(t, &st);
    assert_int_equal(st.gaps, 2);
    assert_int_equal(st.arbitrated, 1);
    assert_int_equal(st.recovered, 3);
    assert_int_equal(st.held, 0);
    cs_recovery_free(t);
}

/* What is held leaves at flush in deadline order, over streams. */
static void test_flush_in_order(void **state)
{
    rec r;
    cs_recovery *t = new_tracker(&r);

    (void)state;
    gap(t, 7, 102, 50, 1, 30);
    gap(t, 1, 101, 5, 1, 10);
    gap(t, 1, 101, 8, 2, 20);
    cs_recovery_flush(t);
    assert_string_equal(r.log, "G f1 S1 5+1 @10;G f1 S1 8+2 @20;G f7 S1 50+1 @30;");
    cs_recovery_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filled_before),  cmocka_unit_test(test_filled_after_in_pieces),
        cmocka_unit_test(test_not_filled),     cmocka_unit_test(test_arbitrated),
        cmocka_unit_test(test_flush_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

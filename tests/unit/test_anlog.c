/*
 * test_anlog.c - unit tests of src/analytics/anlog.c: what an event keeps
 * and what it copies.
 *
 * A delivered message's strings come from three places: the batch's
 * packet bytes (borrowed: the event points into them), string literals
 * (the program's read-only segments: pointed to) and a decoder's scratch
 * (copied: the event keeps its text after the scratch is overwritten).
 * Events must survive the arena growing past a chunk, and a reset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "analytics/anlog.h"

#include <stdio.h>
#include <string.h>

static cs_str str_of(const char *s)
{
    return (cs_str){s, strlen(s)};
}

static int str_is(cs_str s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

/* A message with a field named by a literal, valued in "scratch", keyed
 * by bytes of "packet". */
static cs_message message_of(const char *packet, char *scratch, cs_kv *kv, cs_pktref *refs)
{
    cs_message m = {0};

    kv[0] = (cs_kv){str_of("price"), {scratch, strlen(scratch)}};
    kv[1] = (cs_kv){str_of("stock"), {packet + 4, 4}};
    m.proto = "itch";
    m.type = str_of("A");
    m.key = (cs_str){packet, 4};
    m.fields = kv;
    m.n_fields = 2;
    refs[0] = 77;
    refs[1] = 78;
    m.refs = refs;
    m.n_refs = 2;
    return m;
}

static void test_borrowed_literal_and_copied(void **state)
{
    (void)state;
    cs_an_log *log;
    char packet[] = "KEY1MSFTrest";
    char scratch[32] = "123.4500";
    cs_kv kv[2];
    cs_pktref refs[2];
    cs_message m = message_of(packet, scratch, kv, refs);
    cs_an_corr c = {.pair = "ab", .match = {scratch, 3}};
    const char *price_name = kv[0].name.p; /* a literal */
    const cs_an_event *e;

    assert_int_equal(cs_an_log_new(&log), 0);
    cs_an_log_borrow(log, packet, sizeof(packet));
    assert_int_equal(
        cs_an_log_deliver(log, 5, CS_AN_ORDER_OWN, &m, &c, CS_AN_T2T_TICK, (cs_str){packet + 4, 4}),
        0);
    strcpy(scratch, "999.0000"); /* the decoder's next message */
    memset(kv, 0, sizeof(kv));
    memset(refs, 0, sizeof(refs));
    assert_int_equal(cs_an_log_count(log), 1);
    e = cs_an_log_get(log, 0);
    assert_int_equal(e->kind, CS_AN_DELIVER);
    assert_int_equal(e->seq, 5);
    assert_int_equal(e->t2t, CS_AN_T2T_TICK);
    assert_ptr_equal(e->u.d.m.key.p, packet); /* borrowed */
    assert_ptr_equal(e->u.d.m.fields[1].val.p, packet + 4);
    assert_ptr_equal(e->u.d.instrument.p, packet + 4);
    assert_ptr_equal(e->u.d.m.fields[0].name.p, price_name); /* a literal: kept */
    assert_true(str_is(e->u.d.m.fields[0].name, "price"));
    assert_true(str_is(e->u.d.m.fields[0].val, "123.4500")); /* copied */
    assert_true(str_is(e->u.d.c.match, "123"));
    assert_string_equal(e->u.d.c.pair, "ab");
    assert_int_equal(e->u.d.m.n_refs, 2);
    assert_int_equal(e->u.d.m.refs[0], 77);
    assert_int_equal(e->u.d.m.refs[1], 78);
    cs_an_log_free(log);
}

/* A literal's pointer is kept; the same text on the stack is copied. */
static void test_literal_pointed_to(void **state)
{
    (void)state;
    cs_an_log *log;
    static const char *const literal = "order_reference_number";
    char stack[] = "order_reference_number";
    cs_seq_gap_event g = {0};

    assert_int_equal(cs_an_log_new(&log), 0);
    g.gap.stream = str_of(literal);
    assert_int_equal(cs_an_log_seq_gap(log, 1, 2, &g), 0);
    g.gap.stream = str_of(stack);
    assert_int_equal(cs_an_log_seq_gap(log, 1, 3, &g), 0);
    stack[0] = 'X';
    assert_ptr_equal(cs_an_log_get(log, 0)->u.gap.gap.stream.p, literal);
    assert_ptr_not_equal(cs_an_log_get(log, 1)->u.gap.gap.stream.p, stack);
    assert_true(str_is(cs_an_log_get(log, 1)->u.gap.gap.stream, "order_reference_number"));
    cs_an_log_free(log);
}

/* 100,000 events (past several 1 MiB chunks), each with its own copied
 * text; all readable after, and again after a reset and refill. */
static void test_many_events_and_reset(void **state)
{
    (void)state;
    cs_an_log *log;
    char text[64];
    cs_seq_span_event s = {0};

    assert_int_equal(cs_an_log_new(&log), 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 100000; i++) {
            snprintf(text, sizeof(text), "stream-%d-%d-padding-padding", round, i);
            s.span.stream = str_of(text);
            assert_int_equal(cs_an_log_seq_seen(log, (uint64_t)i, 0, &s), 0);
        }
        assert_int_equal(cs_an_log_count(log), 100000);
        for (int i = 0; i < 100000; i += 997) {
            snprintf(text, sizeof(text), "stream-%d-%d-padding-padding", round, i);
            assert_true(str_is(cs_an_log_get(log, (size_t)i)->u.span.span.stream, text));
            assert_int_equal(cs_an_log_get(log, (size_t)i)->seq, (uint64_t)i);
        }
        cs_an_log_reset(log);
        assert_int_equal(cs_an_log_count(log), 0);
    }
    cs_an_log_free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_borrowed_literal_and_copied),
        cmocka_unit_test(test_literal_pointed_to),
        cmocka_unit_test(test_many_events_and_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

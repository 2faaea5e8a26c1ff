/*
 * test_pairing.c - unit tests of src/analytics/pairing.c.
 *
 * Messages are made by hand and offered to the pairing table; a recording
 * sink checks which measurements (ids, keys, timestamps, latency) and which
 * unmatched reports come out, in which order: requests and responses,
 * continuations and lifecycles, sightings of one tap (A/B races) and hops
 * of one message across taps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "analytics/pairing.h"

#include <stdio.h>
#include <string.h>

typedef struct rec {
    char log[4096];
    int n_meas, n_unreq, n_unresp;
    cs_measurement last; /* the last measurement (its strings not kept) */
} rec;

static void on_meas(void *ud, const cs_measurement *ms)
{
    rec *r = ud;
    char line[160];

    snprintf(line, sizeof(line), "M %s %.*s %llu>%llu %lld;", ms->pair, (int)ms->key.len, ms->key.p,
             (unsigned long long)ms->req_id, (unsigned long long)ms->resp_id,
             (long long)ms->latency_ns);
    strcat(r->log, line);
    assert_int_equal(ms->id, ms->req_id);
    assert_int_equal(ms->latency_ns, ms->resp_ts_ns - ms->req_ts_ns);
    r->last = *ms;
    r->n_meas++;
}

static void on_unmatched(void *ud, const cs_message *m, int kind)
{
    rec *r = ud;
    char line[64];

    snprintf(line, sizeof(line), "U%d %llu;", kind, (unsigned long long)m->id);
    strcat(r->log, line);
    if (kind == CS_UNMATCHED_REQUEST)
        r->n_unreq++;
    else
        r->n_unresp++;
}

static cs_message msg(cs_msgid id, cs_role role, uint8_t dir, uint64_t flow, int64_t ts,
                      const char *key)
{
    static const cs_pktref refs[2] = {11, 12};
    cs_message m;

    memset(&m, 0, sizeof(m));
    m.id = id;
    m.proto = "t";
    m.role = role;
    m.dir = dir;
    m.flow_id = flow;
    m.ts_ns = ts;
    m.last_ts_ns = ts;
    m.key = (cs_str){key, strlen(key)};
    m.refs = refs;
    m.n_refs = 2;
    return m;
}

static cs_str S(const char *s)
{
    return (cs_str){s, strlen(s)};
}

static cs_pairing *new_pairing(rec *r, uint32_t max, int64_t timeout)
{
    cs_sink sink = {r, NULL, on_meas, on_unmatched, NULL, NULL};
    cs_pairing *p;

    memset(r, 0, sizeof(*r));
    assert_int_equal(cs_pairing_new(max, timeout, &sink, &p), 0);
    return p;
}

static void test_fifo_empty_match(void **state)
{
    rec r;
    cs_pairing *p = new_pairing(&r, 100, 1000000);
    cs_message a = msg(1, CS_ROLE_REQ, 0, 7, 100, "GET /a");
    cs_message b = msg(2, CS_ROLE_REQ, 0, 7, 110, "GET /b");
    cs_message x = msg(3, CS_ROLE_RESP, 1, 7, 150, "");
    cs_message y = msg(4, CS_ROLE_RESP, 1, 7, 170, "");

    cs_pairing_add(p, &a, "http", S(""));
    cs_pairing_add(p, &b, "http", S(""));
    cs_pairing_add(p, &x, "http", S(""));
    cs_pairing_add(p, &y, "http", S(""));
    assert_string_equal(r.log, "M http GET /a 1>3 50;M http GET /b 2>4 60;");
    cs_pairing_free(p);
}

static void test_match_keys(void **state)
{
    rec r;
    cs_pairing *p = new_pairing(&r, 100, 1000000);
    cs_message a = msg(1, CS_ROLE_REQ, 0, 7, 100, "A");
    cs_message b = msg(2, CS_ROLE_REQ, 0, 7, 105, "B");
    cs_message rb = msg(3, CS_ROLE_RESP, 1, 7, 120, "");
    cs_message ra = msg(4, CS_ROLE_RESP, 1, 7, 130, "");
    cs_message other_flow = msg(5, CS_ROLE_RESP, 1, 8, 140, "");
    cs_message other_pair = msg(6, CS_ROLE_RESP, 1, 7, 150, "");

    cs_pairing_add(p, &a, "fix", S("A"));
    cs_pairing_add(p, &b, "fix", S("B"));
    cs_pairing_add(p, &rb, "fix", S("B"));
    cs_pairing_add(p, &ra, "fix", S("A"));
    cs_pairing_add(p, &other_flow, "fix", S("A"));
    cs_pairing_add(p, &other_pair, "dns", S("A"));
    assert_string_equal(r.log, "M fix B 2>3 15;M fix A 1>4 30;U2 5;U2 6;");
    cs_pairing_free(p);
}

/* A retried request (CS_MSG_RETRY, a DNS retransmission) replaces the
 * pending one: the response answers the newest copy, the older one is
 * reported unanswered at once; without the flag equal keys stay FIFO. */
static void test_retry_replaces_pending(void **state)
{
    rec r;
    cs_pairing *p = new_pairing(&r, 100, 1000000);
    cs_message q1 = msg(1, CS_ROLE_REQ, 0, 7, 100, "9 a.example");
    cs_message q2 = msg(2, CS_ROLE_REQ, 0, 7, 5000, "9 a.example");
    cs_message other = msg(3, CS_ROLE_REQ, 0, 7, 5001, "10 a.example");
    cs_message resp = msg(4, CS_ROLE_RESP, 1, 7, 5083, "");
    cs_pairing_stats st;

    q1.flags = q2.flags = other.flags = CS_MSG_RETRY;
    cs_pairing_add(p, &q1, "dns", S("9 a.example"));
    cs_pairing_add(p, &q2, "dns", S("9 a.example"));
    cs_pairing_add(p, &other, "dns", S("10 a.example"));
    cs_pairing_add(p, &resp, "dns", S("9 a.example"));
    assert_string_equal(r.log, "U1 1;M dns 9 a.example 2>4 83;");
    cs_pairing_stats_get(p, &st);
    assert_int_equal(st.superseded, 1);
    assert_int_equal(st.unmatched_requests, 1);
    assert_int_equal(st.pending, 1); /* "10 a.example" still waits */
    cs_pairing_free(p);
}

static void test_opposite_direction_required(void **state)
{
    rec r;
    cs_pairing *p = new_pairing(&r, 100, 1000000);
    cs_message q = msg(1, CS_ROLE_REQ, 1, 7, 100, "k");
    cs_message same_dir = msg(2, CS_ROLE_RESP, 1, 7, 110, "");
    cs_message opp = msg(3, CS_ROLE_RESP, 0, 7, 120, "");

    cs_pairing_add(p, &q, "x", S("m"));
    cs_pairing_add(p, &same_dir, "x", S("m"));
    cs_pairing_add(p, &opp, "x", S("m"));
    assert_string_equal(r.log, "U2 2;M x k 1>3 20;");
    cs_pairing_free(p);
}

static void test_timeout_orphan_and_bound(void **state)
{
    rec r;
    cs_pairing *p = new_pairing(&r, 2, 1000);
    cs_message a = msg(1, CS_ROLE_REQ, 0, 7, 100, "a");
    cs_message b = msg(2, CS_ROLE_REQ, 0, 7, 900, "b");
    cs_message c = msg(3, CS_ROLE_REQ, 0, 7, 950, "c");
    cs_message d = msg(4, CS_ROLE_REQ, 0, 7, 960, "d");
    cs_message late = msg(5, CS_ROLE_RESP, 1, 7, 1200, "");
    cs_pairing_stats st;

    cs_pairing_add(p, &a, "x", S("a"));
    cs_pairing_add(p, &b, "x", S("b"));
    cs_pairing_expire(p, 1050); /* a waited 950: still fine */
    assert_int_equal(r.n_unreq, 0);
    cs_pairing_expire(p, 1101); /* a waited 1001 > 1000 */
    assert_string_equal(r.log, "U1 1;");
    cs_pairing_add(p, &late, "x", S("a")); /* its request is gone */
    cs_pairing_add(p, &c, "x", S("c"));
    cs_pairing_add(p, &d, "x", S("d")); /* bound 2: evicts b */
    cs_pairing_flush(p);
    assert_string_equal(r.log, "U1 1;U2 5;U1 2;U1 3;U1 4;");
    cs_pairing_stats_get(p, &st);
    assert_int_equal(st.unmatched_requests, 4);
    assert_int_equal(st.unmatched_responses, 1);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.pending, 0);
    cs_pairing_free(p);
}

static void check_unmatched_copy(void *ud, const cs_message *m, int kind)
{
    rec *r = ud;

    assert_int_equal(kind, CS_UNMATCHED_REQUEST);
    assert_int_equal(m->key.len, 300);
    assert_int_equal(m->key.p[299], 'z');
    assert_int_equal(m->n_refs, 2);
    assert_int_equal(m->refs[1], 12);
    assert_int_equal(m->ts_ns, 100);
    r->n_unreq++;
}

static void test_large_keys_are_copied(void **state)
{
    rec r;
    cs_sink sink = {&r, NULL, on_meas, check_unmatched_copy, NULL, NULL};
    cs_pairing *p;
    char key[301];
    cs_message a;

    memset(&r, 0, sizeof(r));
    memset(key, 'z', 300);
    key[300] = '\0';
    assert_int_equal(cs_pairing_new(10, 1000, &sink, &p), 0);
    a = msg(1, CS_ROLE_REQ, 0, 7, 100, key);
    cs_pairing_add(p, &a, "x", S(key));
    memset(key, 'q', 300); /* the caller's buffer changes after the call */
    cs_pairing_flush(p);
    assert_int_equal(r.n_unreq, 1);
    cs_pairing_free(p);
}

/* A measurement carries the response's last-byte time beside its first. */
static void test_response_last_byte_time(void **state)
{
    rec r;
    cs_pairing *p = new_pairing(&r, 100, 1000000);
    cs_message q = msg(1, CS_ROLE_REQ, 0, 7, 100, "1 a.test");
    cs_message a = msg(2, CS_ROLE_RESP, 1, 7, 150, "");

    a.last_ts_ns = 190; /* the response's last byte came in a later packet */
    cs_pairing_add(p, &q, "dns", S("1 a.test"));
    cs_pairing_add(p, &a, "dns", S("1 a.test"));
    assert_int_equal(r.n_meas, 1);
    assert_int_equal(r.last.resp_ts_ns, 150);
    assert_int_equal(r.last.resp_last_ts_ns, 190);
    assert_int_equal(r.last.latency_ns, 50);
    assert_int_equal(r.last.attached, 0);
    assert_int_equal(r.last.attached_last_id, 0);
    cs_pairing_free(p);
}

/* A response in several messages (zone transfer): the first closes the
 * query, the measurement waits for the last and carries the count of
 * attached messages; none is an orphan. A continuation with no
 * measurement held is one. */
static void test_continuations_attach(void **state)
{
    rec r;
    cs_pairing_stats st;
    cs_pairing *p = new_pairing(&r, 100, 1000000);
    cs_message q = msg(1, CS_ROLE_REQ, 0, 7, 100, "9 z.test");
    cs_message m1 = msg(2, CS_ROLE_RESP, 1, 7, 200, "");
    cs_message m2 = msg(3, CS_ROLE_RESP, 1, 7, 300, "");
    cs_message m3 = msg(4, CS_ROLE_RESP, 1, 7, 400, "");
    cs_message stray = msg(5, CS_ROLE_RESP, 1, 7, 500, "");

    m1.flags = CS_MSG_MORE;
    m1.last_ts_ns = 210;
    m2.flags = CS_MSG_CONTINUATION | CS_MSG_MORE;
    m3.flags = CS_MSG_CONTINUATION;
    m3.last_ts_ns = 450;
    stray.flags = CS_MSG_CONTINUATION;
    cs_pairing_add(p, &q, "dns", S("9 z.test"));
    cs_pairing_add(p, &m1, "dns", S("9 z.test"));
    assert_int_equal(r.n_meas, 0); /* held until the transfer ends */
    cs_pairing_add(p, &m2, "dns", S("9 z.test"));
    assert_int_equal(r.n_meas, 0);
    cs_pairing_add(p, &m3, "dns", S("9 z.test"));
    assert_string_equal(r.log, "M dns 9 z.test 1>2 100;");
    assert_int_equal(r.last.resp_ts_ns, 200);
    assert_int_equal(r.last.resp_last_ts_ns, 210);
    assert_int_equal(r.last.attached, 2);
    assert_int_equal(r.last.attached_last_id, 4);
    assert_int_equal(r.last.attached_last_ts_ns, 450);
    cs_pairing_add(p, &stray, "dns", S("9 z.test"));
    assert_string_equal(r.log, "M dns 9 z.test 1>2 100;U2 5;");
    cs_pairing_stats_get(p, &st);
    assert_int_equal(st.attached, 2);
    assert_int_equal(st.measurements, 1);
    assert_int_equal(st.unmatched_responses, 1);
    assert_int_equal(st.pending, 0);
    cs_pairing_free(p);
}

/* A held measurement whose transfer never ends goes out at its timeout
 * (and at flush), with what was attached by then; not as unmatched. */
/* A FIX order's lifecycle (flags as the FIX decoder sets them): the first
 * ExecutionReport answers the order and its measurement goes out at once;
 * the later ones attach to the order (counted), none is an orphan, and
 * after the report that ends the order a new one would be. A replace (ER
 * with "closes" = the old ClOrdID) ends the old order and answers the
 * replace request; the new ClOrdID's reports then attach to that one. */
static void test_fix_lifecycle_attach_and_replace(void **state)
{
    rec r;
    cs_pairing *p = new_pairing(&r, 100, 1000000);
    cs_message d = msg(1, CS_ROLE_REQ, 0, 7, 100, "A");
    cs_message er_new = msg(2, CS_ROLE_RESP, 1, 7, 130, "");
    cs_message er_part = msg(3, CS_ROLE_RESP, 1, 7, 150, "");
    cs_message er_fill = msg(4, CS_ROLE_RESP, 1, 7, 170, "");
    cs_message d2 = msg(5, CS_ROLE_REQ, 0, 7, 200, "C");
    cs_message er2 = msg(6, CS_ROLE_RESP, 1, 7, 210, "");
    cs_message g = msg(7, CS_ROLE_REQ, 0, 7, 220, "D");
    cs_message er_repl = msg(8, CS_ROLE_RESP, 1, 7, 240, "");
    cs_message er_fill2 = msg(9, CS_ROLE_RESP, 1, 7, 260, "");
    cs_pairing_stats st;

    er_new.flags = er_part.flags = CS_MSG_LIFECYCLE | CS_MSG_MORE;
    er_fill.flags = CS_MSG_LIFECYCLE; /* OrdStatus Filled ends it */
    cs_pairing_add(p, &d, "fix", S("A"));
    cs_pairing_correlate(p, &er_new, "fix", S("A"), S(""), CS_SCOPE_FLOW);
    assert_string_equal(r.log, "M fix A 1>2 30;"); /* out at once */
    cs_pairing_correlate(p, &er_part, "fix", S("A"), S(""), CS_SCOPE_FLOW);
    cs_pairing_correlate(p, &er_fill, "fix", S("A"), S(""), CS_SCOPE_FLOW);
    assert_string_equal(r.log, "M fix A 1>2 30;");
    assert_int_equal(r.n_unresp, 0);
    cs_pairing_stats_get(p, &st);
    assert_int_equal(st.attached, 2);
    assert_int_equal(st.pending, 0); /* the fill ended it */
    cs_pairing_correlate(p, &er_fill, "fix", S("A"), S(""), CS_SCOPE_FLOW);
    assert_int_equal(r.n_unresp, 1); /* after its end, an orphan */

    /* replace: C is acknowledged, D = replace of C answered by a report
     * that closes C, then D is filled */
    er2.flags = er_repl.flags = CS_MSG_LIFECYCLE | CS_MSG_MORE;
    er_fill2.flags = CS_MSG_LIFECYCLE;
    cs_pairing_add(p, &d2, "fix", S("C"));
    cs_pairing_correlate(p, &er2, "fix", S("C"), S(""), CS_SCOPE_FLOW);
    cs_pairing_add(p, &g, "fix", S("D"));
    cs_pairing_stats_get(p, &st);
    assert_int_equal(st.pending, 2); /* C and D both go on */
    cs_pairing_correlate(p, &er_repl, "fix", S("D"), S("C"), CS_SCOPE_FLOW);
    assert_string_equal(r.log, "M fix A 1>2 30;U2 4;M fix C 5>6 10;M fix D 7>8 20;");
    cs_pairing_stats_get(p, &st);
    assert_int_equal(st.attached, 3);
    assert_int_equal(st.pending, 1); /* C ended by the replace */
    cs_pairing_correlate(p, &er_fill2, "fix", S("D"), S(""), CS_SCOPE_FLOW);
    cs_pairing_stats_get(p, &st);
    assert_int_equal(st.attached, 4);
    assert_int_equal(st.pending, 0);
    assert_int_equal(r.n_unresp, 1);
    assert_int_equal(r.n_unreq, 0);

    /* a lifecycle report for an order never seen is still an orphan */
    cs_pairing_correlate(p, &er_fill2, "fix", S("Z"), S(""), CS_SCOPE_FLOW);
    assert_int_equal(r.n_unresp, 2);
    cs_pairing_free(p);
}

/* CS_SCOPE_ANY: a request on one flow is answered by a response with the
 * same pair and match on another flow, in either direction; the flow
 * scope still needs the same flow. */
static void test_scope_any_across_flows(void **state)
{
    rec r;
    cs_pairing *p = new_pairing(&r, 100, 1000000);
    cs_message q = msg(1, CS_ROLE_REQ, 0, 7, 100, "AAPL");
    cs_message a = msg(2, CS_ROLE_RESP, 0, 9, 130, "");
    cs_message q2 = msg(3, CS_ROLE_REQ, 0, 7, 200, "MSFT");
    cs_message a2 = msg(4, CS_ROLE_RESP, 1, 9, 230, "");

    cs_pairing_correlate(p, &q, "t2t", S("AAPL"), S(""), CS_SCOPE_ANY);
    cs_pairing_correlate(p, &a, "t2t", S("AAPL"), S(""), CS_SCOPE_ANY);
    assert_string_equal(r.log, "M t2t AAPL 1>2 30;");
    cs_pairing_correlate(p, &q2, "t2t", S("MSFT"), S(""), CS_SCOPE_FLOW);
    cs_pairing_correlate(p, &a2, "t2t", S("MSFT"), S(""), CS_SCOPE_FLOW);
    assert_string_equal(r.log, "M t2t AAPL 1>2 30;U2 4;");
    cs_pairing_free(p);
}

/* A/B copies: the first at a tap waits, the first on another flow of that
 * tap races it; a copy on the waiting flow or at another tap does not. */
static void test_sightings_race_across_flows_of_one_tap(void **state)
{
    rec r;
    cs_pairing *p = new_pairing(&r, 100, 1000);
    cs_message a = msg(1, CS_ROLE_SIGHTING, 0, 7, 100, "S:1");
    cs_message a_again = msg(2, CS_ROLE_SIGHTING, 0, 7, 101, "S:1");
    cs_message other_tap = msg(3, CS_ROLE_SIGHTING, 0, 8, 102, "S:1");
    cs_message b = msg(4, CS_ROLE_SIGHTING, 0, 9, 104, "S:1");
    cs_message b_next = msg(5, CS_ROLE_SIGHTING, 0, 9, 110, "S:2");
    cs_message a_next = msg(6, CS_ROLE_SIGHTING, 0, 7, 117, "S:2");
    cs_message alone = msg(7, CS_ROLE_SIGHTING, 0, 7, 120, "S:3");
    cs_pairing_stats st;

    (void)state;
    a.ep.tap = a_again.ep.tap = b.ep.tap = b_next.ep.tap = a_next.ep.tap = alone.ep.tap = 101;
    other_tap.ep.tap = 102;
    cs_pairing_correlate(p, &a, "ab", S("S:1"), S(""), CS_SCOPE_TAP);
    cs_pairing_correlate(p, &a_again, "ab", S("S:1"), S(""), CS_SCOPE_TAP);
    cs_pairing_correlate(p, &other_tap, "ab", S("S:1"), S(""), CS_SCOPE_TAP);
    cs_pairing_correlate(p, &b, "ab", S("S:1"), S(""), CS_SCOPE_TAP);
    assert_string_equal(r.log, "M ab S:1 1>4 4;");
    cs_pairing_correlate(p, &b_next, "ab", S("S:2"), S(""), CS_SCOPE_TAP);
    cs_pairing_correlate(p, &a_next, "ab", S("S:2"), S(""), CS_SCOPE_TAP);
    assert_string_equal(r.log, "M ab S:1 1>4 4;M ab S:2 5>6 7;");
    assert_int_equal(r.last.flow_id, 9); /* the winner's flow */
    cs_pairing_correlate(p, &alone, "ab", S("S:3"), S(""), CS_SCOPE_TAP);
    cs_pairing_flush(p); /* the other tap's copy and the lone one wait in vain */
    assert_string_equal(r.log, "M ab S:1 1>4 4;M ab S:2 5>6 7;U1 3;U1 7;");
    cs_pairing_stats_get(p, &st);
    assert_int_equal(st.duplicates, 1);
    cs_pairing_free(p);
}

/* Sets the endpoints of "m": a -> b is 10.0.0.<a>:<pa> -> 10.0.0.<b>:<pb>,
 * seen at "tap" with VLAN "vlan". */
static void route(cs_message *m, uint16_t tap, uint16_t vlan, uint8_t a, uint16_t pa, uint8_t b,
                  uint16_t pb)
{
    m->ep.ip_version = 4;
    m->ep.ip_proto = 17;
    m->ep.tap = tap;
    m->ep.n_vlan = 1;
    m->ep.vlan[0] = vlan;
    m->ep.addr_a[0] = m->ep.addr_b[0] = 10;
    m->ep.addr_a[3] = a;
    m->ep.addr_b[3] = b;
    m->ep.port_a = pa;
    m->ep.port_b = pb;
}

/* Hops: the first copy at a tap waits; a copy at the same tap changes
 * nothing; a copy of the same route and key at another tap makes the
 * measurement, whatever the flow id, VLAN or the flow's orientation there;
 * another route with the same key does not; the copy with the earlier
 * capture time is the request even when delivered second. */
static void test_hops_across_taps(void **state)
{
    rec r;
    cs_pairing *p = new_pairing(&r, 100, 1000);
    cs_message a = msg(1, CS_ROLE_SIGHTING, 0, 7, 100, "S:1");
    cs_message a_again = msg(2, CS_ROLE_SIGHTING, 0, 7, 101, "S:1");
    cs_message other_route = msg(3, CS_ROLE_SIGHTING, 0, 9, 102, "S:1");
    cs_message b = msg(4, CS_ROLE_SIGHTING, 0, 8, 105, "S:1");
    cs_message q = msg(5, CS_ROLE_REQ, 0, 17, 200, "O:7");
    cs_message q_turned = msg(6, CS_ROLE_REQ, 1, 18, 230, "O:7");
    cs_message late = msg(7, CS_ROLE_REQ, 0, 17, 300, "X:7");
    cs_message early = msg(8, CS_ROLE_REQ, 0, 18, 296, "X:7");
    cs_message again = msg(9, CS_ROLE_REQ, 0, 17, 400, "X:7");
    cs_pairing_stats st;

    (void)state;
    route(&a, 101, 101, 1, 26477, 2, 26477);
    route(&a_again, 101, 101, 1, 26477, 2, 26477);
    route(&other_route, 102, 102, 1, 26478, 2, 26477); /* another source port */
    route(&b, 102, 102, 1, 26477, 2, 26477);
    cs_pairing_hop(p, &a, "hop");
    cs_pairing_hop(p, &a_again, "hop");
    cs_pairing_hop(p, &other_route, "hop");
    assert_string_equal(r.log, "");
    cs_pairing_hop(p, &b, "hop");
    assert_string_equal(r.log, "M hop S:1 1>4 5;");
    assert_int_equal(r.last.ep.tap, 101);
    assert_int_equal(r.last.resp_tap, 102);
    assert_int_equal(r.last.flow_id, 7);

    /* the flow was first seen from the other end at tap 102: a and b swap,
     * dir 1, yet it is the same route */
    route(&q, 102, 102, 1, 40100, 3, 15000);
    route(&q_turned, 101, 101, 3, 15000, 1, 40100);
    cs_pairing_hop(p, &q, "hop");
    cs_pairing_hop(p, &q_turned, "hop");
    assert_string_equal(r.log, "M hop S:1 1>4 5;M hop O:7 5>6 30;");
    assert_int_equal(r.last.ep.tap, 102);
    assert_int_equal(r.last.resp_tap, 101);

    /* delivered second, captured first: the request */
    route(&late, 101, 101, 1, 40100, 3, 15000);
    route(&early, 102, 102, 1, 40100, 3, 15000);
    route(&again, 101, 101, 1, 40100, 3, 15000);
    cs_pairing_hop(p, &late, "hop");
    cs_pairing_hop(p, &early, "hop");
    assert_string_equal(r.log, "M hop S:1 1>4 5;M hop O:7 5>6 30;M hop X:7 8>7 4;");
    assert_int_equal(r.last.ep.tap, 102);
    assert_int_equal(r.last.resp_tap, 101);
    assert_int_equal(r.last.flow_id, 18);
    assert_int_equal(r.last.req_ts_ns, 296);
    assert_int_equal(r.last.resp_ts_ns, 300);

    cs_pairing_hop(p, &again, "hop"); /* matched already: it waits anew */
    cs_pairing_flush(p);              /* the other route's copy and it wait in vain */
    assert_string_equal(r.log, "M hop S:1 1>4 5;M hop O:7 5>6 30;M hop X:7 8>7 4;U1 3;U1 9;");
    cs_pairing_stats_get(p, &st);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(st.measurements, 3);
    cs_pairing_free(p);
}

/* One connection at two capture points (CS_SCOPE_SESSION): a tap that
 * sees only requests and one that sees only responses pair them, whatever
 * each flow's orientation; a tap that sees both pairs its own copies; a
 * copy at a tap that never sees the answer leaves quietly; another
 * connection never matches; FLOW scope leaves the split taps unpaired. */
static void test_session_scope_across_taps(void **state)
{
    rec r;
    cs_pairing *p = new_pairing(&r, 100, 1000000);
    cs_message q = msg(1, CS_ROLE_REQ, 0, 7, 100, "O1");
    cs_message a = msg(2, CS_ROLE_RESP, 0, 8, 130, ""); /* 102 saw the server first */
    cs_message q_b = msg(3, CS_ROLE_REQ, 0, 7, 200, "O2"),
               q_c = msg(4, CS_ROLE_REQ, 1, 8, 205, "O2");
    cs_message a_c = msg(5, CS_ROLE_RESP, 0, 8, 250, ""), a_b = msg(6, CS_ROLE_RESP, 1, 7, 255, "");
    cs_message q_seen_twice = msg(7, CS_ROLE_REQ, 0, 7, 300, "O3");
    cs_message q_copy = msg(8, CS_ROLE_REQ, 1, 8, 305, "O3");
    cs_message a_once = msg(9, CS_ROLE_RESP, 1, 7, 360, "");
    cs_message stranger = msg(10, CS_ROLE_RESP, 0, 9, 400, "");
    cs_pairing_stats st;

    (void)state;
    route(&q, 101, 10, 1, 40100, 2, 9878);
    route(&a, 102, 20, 2, 9878, 1, 40100);
    cs_pairing_correlate(p, &q, "fix", S("O1"), S(""), CS_SCOPE_FLOW);
    cs_pairing_correlate(p, &a, "fix", S("O1"), S(""), CS_SCOPE_FLOW);
    assert_string_equal(r.log, "U2 2;");
    cs_pairing_flush(p);
    assert_string_equal(r.log, "U2 2;U1 1;");
    memset(r.log, 0, sizeof(r.log));
    cs_pairing_correlate(p, &q, "fix", S("O1"), S(""), CS_SCOPE_SESSION);
    cs_pairing_correlate(p, &a, "fix", S("O1"), S(""), CS_SCOPE_SESSION);
    assert_string_equal(r.log, "M fix O1 1>2 30;");
    assert_int_equal(r.last.ep.tap, 101);
    assert_int_equal(r.last.resp_tap, 102);

    /* both taps see both directions: each pairs its own copies */
    route(&q_b, 101, 10, 1, 40100, 2, 9878);
    route(&q_c, 102, 20, 2, 9878, 1, 40100);
    route(&a_c, 102, 20, 2, 9878, 1, 40100);
    route(&a_b, 101, 10, 1, 40100, 2, 9878);
    cs_pairing_correlate(p, &q_b, "fix", S("O2"), S(""), CS_SCOPE_SESSION);
    cs_pairing_correlate(p, &q_c, "fix", S("O2"), S(""), CS_SCOPE_SESSION);
    cs_pairing_correlate(p, &a_c, "fix", S("O2"), S(""), CS_SCOPE_SESSION);
    cs_pairing_correlate(p, &a_b, "fix", S("O2"), S(""), CS_SCOPE_SESSION);
    assert_string_equal(r.log, "M fix O1 1>2 30;M fix O2 4>5 45;M fix O2 3>6 55;");

    /* tap 102 sees the request only: its copy leaves quietly */
    route(&q_seen_twice, 101, 10, 1, 40100, 2, 9878);
    route(&q_copy, 102, 20, 2, 9878, 1, 40100);
    route(&a_once, 101, 10, 1, 40100, 2, 9878);
    route(&stranger, 102, 20, 2, 9878, 1, 40101);
    cs_pairing_correlate(p, &q_seen_twice, "fix", S("O3"), S(""), CS_SCOPE_SESSION);
    cs_pairing_correlate(p, &q_copy, "fix", S("O3"), S(""), CS_SCOPE_SESSION);
    cs_pairing_correlate(p, &a_once, "fix", S("O3"), S(""), CS_SCOPE_SESSION);
    cs_pairing_correlate(p, &stranger, "fix", S("O3"), S(""), CS_SCOPE_SESSION);
    cs_pairing_flush(p);
    assert_string_equal(r.log,
                        "M fix O1 1>2 30;M fix O2 4>5 45;M fix O2 3>6 55;M fix O3 7>9 60;U2 10;");
    cs_pairing_stats_get(p, &st);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(st.unmatched_requests, 1); /* q, under FLOW scope */
    assert_int_equal(st.pending, 0);
    cs_pairing_free(p);
}

/* Session scope with an empty match (HTTP's FIFO): requests at one tap,
 * responses at the other, answered in order. */
static void test_session_scope_fifo(void **state)
{
    rec r;
    cs_pairing *p = new_pairing(&r, 100, 1000000);
    cs_message q1 = msg(1, CS_ROLE_REQ, 0, 7, 100, "GET /a");
    cs_message q2 = msg(2, CS_ROLE_REQ, 0, 7, 110, "GET /b");
    cs_message a1 = msg(3, CS_ROLE_RESP, 0, 8, 150, ""), a2 = msg(4, CS_ROLE_RESP, 0, 8, 170, "");

    (void)state;
    route(&q1, 1, 0, 5, 50000, 6, 80);
    route(&q2, 1, 0, 5, 50000, 6, 80);
    route(&a1, 2, 0, 6, 80, 5, 50000);
    route(&a2, 2, 0, 6, 80, 5, 50000);
    cs_pairing_correlate(p, &q1, "http", S(""), S(""), CS_SCOPE_SESSION);
    cs_pairing_correlate(p, &q2, "http", S(""), S(""), CS_SCOPE_SESSION);
    cs_pairing_correlate(p, &a1, "http", S(""), S(""), CS_SCOPE_SESSION);
    cs_pairing_correlate(p, &a2, "http", S(""), S(""), CS_SCOPE_SESSION);
    assert_string_equal(r.log, "M http GET /a 1>3 50;M http GET /b 2>4 60;");
    cs_pairing_free(p);
}

/* A measurement made at one tap says so: resp_tap is the response's tap. */
static void test_resp_tap_of_one_tap(void **state)
{
    rec r;
    cs_pairing *p = new_pairing(&r, 100, 1000);
    cs_message q = msg(1, CS_ROLE_REQ, 0, 7, 100, "k");
    cs_message s = msg(2, CS_ROLE_RESP, 1, 7, 150, "");

    (void)state;
    q.ep.tap = s.ep.tap = 4;
    cs_pairing_add(p, &q, "x", S("k"));
    cs_pairing_add(p, &s, "x", S("k"));
    assert_string_equal(r.log, "M x k 1>2 50;");
    assert_int_equal(r.last.ep.tap, 4);
    assert_int_equal(r.last.resp_tap, 4);
    cs_pairing_free(p);
}

static void test_held_measurement_times_out(void **state)
{
    rec r;
    cs_pairing *p = new_pairing(&r, 100, 1000);
    cs_message q = msg(1, CS_ROLE_REQ, 0, 7, 100, "9 z.test");
    cs_message m1 = msg(2, CS_ROLE_RESP, 1, 7, 200, "");
    cs_message m2 = msg(3, CS_ROLE_RESP, 1, 7, 300, "");
    cs_message q2 = msg(6, CS_ROLE_REQ, 0, 8, 5000, "8 y.test");
    cs_message n1 = msg(7, CS_ROLE_RESP, 1, 8, 5100, "");

    m1.flags = CS_MSG_MORE;
    m2.flags = CS_MSG_CONTINUATION | CS_MSG_MORE;
    n1.flags = CS_MSG_MORE;
    cs_pairing_add(p, &q, "dns", S("9 z.test"));
    cs_pairing_add(p, &m1, "dns", S("9 z.test"));
    cs_pairing_add(p, &m2, "dns", S("9 z.test"));
    cs_pairing_expire(p, 1000);
    assert_int_equal(r.n_meas, 0);
    cs_pairing_expire(p, 1200);
    assert_string_equal(r.log, "M dns 9 z.test 1>2 100;");
    assert_int_equal(r.last.attached, 1);
    assert_int_equal(r.n_unreq, 0);
    cs_pairing_add(p, &q2, "dns", S("8 y.test"));
    cs_pairing_add(p, &n1, "dns", S("8 y.test"));
    cs_pairing_flush(p);
    assert_string_equal(r.log, "M dns 9 z.test 1>2 100;M dns 8 y.test 6>7 100;");
    assert_int_equal(r.last.attached, 0);
    assert_int_equal(r.n_unreq, 0);
    cs_pairing_free(p);
}

static void test_many_pending_grow(void **state)
{
    rec r;
    cs_pairing *p = new_pairing(&r, 1u << 20, 1000000000);
    char k[32];

    for (int i = 0; i < 20000; i++) {
        cs_message q;
        snprintf(k, sizeof(k), "k%d", i);
        q = msg((cs_msgid)i + 1, CS_ROLE_REQ, 0, 7, 100 + i, k);
        cs_pairing_add(p, &q, "x", S(k));
    }
    for (int i = 19999; i >= 0; i -= 2) {
        cs_message s;
        snprintf(k, sizeof(k), "k%d", i);
        s = msg(100000 + (cs_msgid)i, CS_ROLE_RESP, 1, 7, 50000, "");
        r.log[0] = '\0';
        cs_pairing_add(p, &s, "x", S(k));
        assert_int_equal(r.n_meas, (19999 - i) / 2 + 1);
    }
    assert_int_equal(r.n_unresp, 0);
    cs_pairing_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_empty_match),
        cmocka_unit_test(test_match_keys),
        cmocka_unit_test(test_retry_replaces_pending),
        cmocka_unit_test(test_opposite_direction_required),
        cmocka_unit_test(test_timeout_orphan_and_bound),
        cmocka_unit_test(test_large_keys_are_copied),
        cmocka_unit_test(test_many_pending_grow),
        cmocka_unit_test(test_response_last_byte_time),
        cmocka_unit_test(test_continuations_attach),
        cmocka_unit_test(test_fix_lifecycle_attach_and_replace),
        cmocka_unit_test(test_scope_any_across_flows),
        cmocka_unit_test(test_sightings_race_across_flows_of_one_tap),
        cmocka_unit_test(test_hops_across_taps),
        cmocka_unit_test(test_session_scope_across_taps),
        cmocka_unit_test(test_session_scope_fifo),
        cmocka_unit_test(test_resp_tap_of_one_tap),
        cmocka_unit_test(test_held_measurement_times_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

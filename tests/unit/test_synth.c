/*
 * test_synth.c - the synthetic source: its frames dissect cleanly, the real
 * analyzer (with the decoder registry) decodes FIX, HTTP and DNS from them
 * and pairs them into measurements, ~10% of DNS answers are errors,
 * timestamps never go back, a seed makes the stream reproducible, and
 * pace=1 keeps timestamps at the wall clock. The trading traffic: the
 * analyzer, configured as `capstream demo` configures the daemon (tap =
 * VLAN id, moldudp64 and soupbintcp bound to the demo's ports), decodes
 * MoldUDP64, ITCH, SoupBinTCP and OUCH and measures pairs ouch, ab, hop and
 * t2t at taps 101 and 102; feeds A and B carry the same sequence numbers
 * but for the losses, which happen on A only, B only and both; every
 * trading frame is seen at both taps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "analytics/analyzer.h"
#include "core/alloc.h"
#include "packet/dissect.h"
#include "source/synth.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct tally {
    uint64_t msgs[3], meas[3], dns_resp, dns_err, bad;
    int64_t fix_max_ns;
} tally;

static int proto_ix(const char *p)
{
    return strcmp(p, "fix") == 0 ? 0 : strcmp(p, "http") == 0 ? 1 : strcmp(p, "dns") == 0 ? 2 : -1;
}

static void on_msg(void *ud, const cs_message *m)
{
    tally *t = ud;
    int ix = proto_ix(m->proto);

    if (ix >= 0)
        t->msgs[ix]++;
    if (m->flags != 0)
        t->bad++;
    if (ix == 2 && m->role == CS_ROLE_RESP) {
        t->dns_resp++;
        for (size_t i = 0; i < m->n_fields; i++)
            if (m->fields[i].name.len == 5 && memcmp(m->fields[i].name.p, "rcode", 5) == 0 &&
                !(m->fields[i].val.len == 1 && m->fields[i].val.p[0] == '0'))
                t->dns_err++;
    }
}

static void on_meas(void *ud, const cs_measurement *ms)
{
    tally *t = ud;
    int ix = proto_ix(ms->pair);

    if (ix >= 0)
        t->meas[ix]++;
    if (ix == 0 && ms->latency_ns > t->fix_max_ns)
        t->fix_max_ns = ms->latency_ns;
}

/* Runs "n" packets of "spec" through dissect + analyzer into *t; fills
 * hash with a digest of every frame and timestamp. */
static void run_spec(const char *spec, tally *t, uint64_t *hash, uint64_t *npkts)
{
    cs_source *src = NULL;
    cs_batch *b = cs_calloc(1, sizeof(*b));
    cs_sink sink = {t, on_msg, on_meas, NULL, NULL, NULL};
    cs_analyzer *a = NULL;
    int64_t prev = 0;
    uint64_t h = 1469598103934665603ull;

    assert_non_null(b);
    assert_int_equal(cs_source_synth_ops.open(&src, spec), 0);
    assert_int_equal(cs_analyzer_new(NULL, &sink, &a), 0);
    *npkts = 0;
    for (;;) {
        assert_int_equal(src->ops->next_batch(src, b), 0);
        if (b->n == 0)
            break;
        for (unsigned i = 0; i < b->n; i++) {
            const cs_packet *p = &b->pkts[i];
            cs_layers l;
            assert_int_equal(cs_dissect(p, &l), 0);
            assert_false(l.flags & CS_L_MALFORMED);
            assert_true(l.flags & CS_L_L4);
            assert_int_equal(l.ip_version, 4);
            assert_true(p->ts_ns >= prev);
            prev = p->ts_ns;
            for (uint32_t k = 0; k < p->caplen; k++)
                h = (h ^ p->data[k]) * 1099511628211ull;
            h = (h ^ (uint64_t)p->ts_ns) * 1099511628211ull;
            cs_analyzer_packet(a, p, &l, 0);
            (*npkts)++;
        }
        src->ops->release_batch(src, b);
    }
    cs_analyzer_finish(a);
    cs_analyzer_free(a);
    src->ops->close(src);
    cs_free(b);
    *hash = h;
}

static void test_decodes_and_pairs(void **state)
{
    tally t;
    memset(&t, 0, sizeof(t));
    uint64_t h, n;

    run_spec("pace=0,seed=7,limit=40000", &t, &h, &n);
    assert_true(n >= 40000 && n < 40000 + 16);
    assert_int_equal(t.bad, 0);
    for (int i = 0; i < 3; i++) {
        assert_true(t.msgs[i] > 100);
        assert_true(t.meas[i] > 50);
    }
    /* every FIX request is answered: orders and cancels pair, so the
     * measurements are about half the FIX application messages */
    assert_true(t.meas[0] * 2 <= t.msgs[0]);
    /* ~10% NXDOMAIN */
    assert_true(t.dns_err * 100 > t.dns_resp * 5);
    assert_true(t.dns_err * 100 < t.dns_resp * 16);
    /* slow acks (1-5 ms) exist, and none beyond 5 ms */
    assert_true(t.fix_max_ns >= 1000000);
    assert_true(t.fix_max_ns <= 5000000);
}

static void test_deterministic(void **state)
{
    tally t1, t2, t3;

    memset(&t1, 0, sizeof(t1));
    memset(&t2, 0, sizeof(t2));
    memset(&t3, 0, sizeof(t3));
    uint64_t h1, h2, h3, n1, n2, n3;

    run_spec("pace=0,seed=3,limit=5000,rate=20000", &t1, &h1, &n1);
    run_spec("pace=0,seed=3,limit=5000,rate=20000", &t2, &h2, &n2);
    run_spec("pace=0,seed=4,limit=5000,rate=20000", &t3, &h3, &n3);
    assert_int_equal(n1, n2);
    assert_int_equal(h1, h2);
    assert_int_equal(t1.meas[0], t2.meas[0]);
    assert_int_not_equal(h1, h3);
}

static void test_paced_realtime(void **state)
{
    cs_source *src = NULL;
    cs_batch *b = cs_calloc(1, sizeof(*b));
    struct timespec t0, t1;
    uint64_t n = 0;
    int64_t first = 0, last = 0, now;

    assert_non_null(b);
    assert_int_equal(cs_source_synth_ops.open(&src, "rate=2000,seed=1"), 0);
    clock_gettime(CLOCK_REALTIME, &t0);
    while (n < 600) {
        assert_int_equal(src->ops->next_batch(src, b), 0);
        assert_true(b->n > 0);
        if (first == 0)
            first = b->pkts[0].ts_ns;
        last = b->pkts[b->n - 1].ts_ns;
        n += b->n;
        src->ops->release_batch(src, b);
    }
    clock_gettime(CLOCK_REALTIME, &t1);
    now = (int64_t)t1.tv_sec * 1000000000 + t1.tv_nsec;
    /* 600 packets at 2000/s take ~0.3 s of wall time... */
    assert_true(now - ((int64_t)t0.tv_sec * 1000000000 + t0.tv_nsec) > 200000000);
    /* ...and not much more: the rate is kept, slow acks notwithstanding */
    assert_true(now - ((int64_t)t0.tv_sec * 1000000000 + t0.tv_nsec) < 700000000);
    assert_true(last <= now); /* never from the future */
    assert_true(first >= (int64_t)t0.tv_sec * 1000000000 - 1000000000);
    src->ops->close(src);
    cs_free(b);
}

/* ---- trading traffic -------------------------------------------------- */

enum { P_MOLD, P_ITCH, P_SOUP, P_OUCH, N_TP };
enum { M_OUCH, M_AB, M_HOP, M_T2T, N_TM };
#define SEQ_MAX 65536

typedef struct trading_tally {
    uint64_t msgs[N_TP], bad, gaps[2]; /* gaps: [0] tap 101, [1] tap 102 */
    uint64_t meas[N_TM][2];            /* per pair, at tap 101 / 102 */
    uint64_t frames_by_tap[3];         /* untagged, VLAN 101, VLAN 102 */
    uint8_t covered[SEQ_MAX];          /* per MoldUDP64 number at tap 101: 1 A, 2 B */
    uint64_t max_seq;
    uint64_t ouch_types[5]; /* by ouch_type_names */
} trading_tally;

static const char *const ouch_type_names[5] = {"enter_order", "accepted", "rejected", "executed",
                                               "canceled"};

static int tap_ix(uint16_t tap)
{
    return tap == 101 ? 0 : tap == 102 ? 1 : -1;
}

static void tr_msg(void *ud, const cs_message *m)
{
    static const char *const names[N_TP] = {"moldudp64", "itch", "soupbintcp", "ouch"};
    trading_tally *t = ud;

    for (int i = 0; i < N_TP; i++)
        if (strcmp(m->proto, names[i]) == 0) {
            t->msgs[i]++;
            if (m->flags & (CS_MSG_MALFORMED | CS_MSG_BAD_LENGTH))
                t->bad++;
        }
    if (strcmp(m->proto, "ouch") == 0)
        for (int i = 0; i < 5; i++)
            if (m->type.len == strlen(ouch_type_names[i]) &&
                memcmp(m->type.p, ouch_type_names[i], m->type.len) == 0)
                t->ouch_types[i]++;
}

static void tr_meas(void *ud, const cs_measurement *ms)
{
    static const char *const pairs[N_TM] = {"ouch", "ab", "hop", "t2t"};
    trading_tally *t = ud;
    int tap = tap_ix(ms->ep.tap);

    for (int i = 0; i < N_TM; i++)
        if (strcmp(ms->pair, pairs[i]) == 0 && tap >= 0)
            t->meas[i][tap]++;
}

static void tr_gap(void *ud, const cs_seq_gap_event *g)
{
    trading_tally *t = ud;

    (void)g;
    t->gaps[0]++;
}

/* A MoldUDP64 data packet of feed A or B at tap 101: marks its numbers. */
static void note_feed(trading_tally *t, const cs_packet *p, const cs_layers *l)
{
    const uint8_t *d = p->data + l->payload_off;
    uint64_t seq = 0;
    unsigned count;

    if (l->n_vlan == 0 || l->vlan[0] != 101 || (l->dport != 26477 && l->dport != 26478) ||
        l->payload_len < 20)
        return;
    for (int i = 0; i < 8; i++)
        seq = seq << 8 | d[10 + i];
    count = (unsigned)d[18] << 8 | d[19];
    if (count == 0 || count == 0xFFFF)
        return;
    for (unsigned i = 0; i < count && seq + i < SEQ_MAX; i++)
        t->covered[seq + i] |= l->dport == 26477 ? 1 : 2;
    if (seq + count - 1 > t->max_seq)
        t->max_seq = seq + count - 1;
}

static void test_trading(void **state)
{
    static trading_tally t;
    cs_decoder_optset opts = {0};
    cs_analyzer_cfg cfg;
    cs_sink sink = {&t, tr_msg, tr_meas, NULL, tr_gap, NULL};
    cs_analyzer *a = NULL;
    cs_source *src = NULL;
    cs_batch *b = cs_calloc(1, sizeof(*b));
    uint64_t n = 0, k[4] = {0};

    memset(&t, 0, sizeof(t));
    assert_non_null(b);
    assert_int_equal(cs_decoder_optset_add(&opts, "moldudp64.ports=26477,26478"), 0);
    assert_int_equal(cs_decoder_optset_add(&opts, "soupbintcp.ports=15000"), 0);
    cs_analyzer_cfg_default(&cfg);
    cfg.decoder_opts = &opts;
    assert_int_equal(cs_source_synth_ops.open(&src, "pace=0,seed=5,limit=60000"), 0);
    assert_int_equal(cs_analyzer_new(&cfg, &sink, &a), 0);
    for (;;) {
        assert_int_equal(src->ops->next_batch(src, b), 0);
        if (b->n == 0)
            break;
        for (unsigned i = 0; i < b->n; i++) {
            cs_packet p = b->pkts[i];
            cs_layers l;

            assert_int_equal(cs_dissect(&p, &l), 0);
            assert_false(l.flags & CS_L_MALFORMED);
            t.frames_by_tap[l.n_vlan == 0 ? 0 : l.vlan[0] == 101 ? 1 : 2]++;
            if (l.n_vlan > 0) { /* --tap-by vlan */
                assert_true(l.vlan[0] == 101 || l.vlan[0] == 102);
                p.tap = l.vlan[0];
            }
            note_feed(&t, &p, &l);
            cs_analyzer_packet(a, &p, &l, 0);
            n++;
        }
        src->ops->release_batch(src, b);
    }
    cs_analyzer_finish(a);
    cs_analyzer_free(a);
    src->ops->close(src);
    cs_free(b);

    /* every protocol decodes, nothing malformed */
    /* SoupBinTCP's own messages: login, heartbeats; its data is OUCH's */
    for (int i = 0; i < N_TP; i++)
        assert_true(t.msgs[i] > (i == P_SOUP ? 10u : 1000u));
    assert_int_equal(t.bad, 0);
    assert_true(t.ouch_types[0] > 100);                      /* enter_order */
    assert_true(t.ouch_types[1] > t.ouch_types[0] * 8 / 10); /* accepted */
    assert_true(t.ouch_types[2] > 0);                        /* rejected */
    assert_true(t.ouch_types[3] > 10);                       /* executed */
    assert_true(t.ouch_types[4] > 10);                       /* canceled */
    /* each pair measured at both taps */
    for (int i = 0; i < N_TM; i++) {
        assert_true(t.meas[i][0] > 10);
        assert_true(t.meas[i][1] > 10);
    }
    /* both taps see every trading frame; FIX/HTTP/DNS stay untagged */
    assert_true(t.frames_by_tap[0] > n / 3);
    assert_true(t.frames_by_tap[1] > n / 5);
    assert_int_equal(t.frames_by_tap[1], t.frames_by_tap[2]);
    /* A and B carry the same numbers; losses on A only, B only, both */
    assert_true(t.max_seq > 1000 && t.max_seq < SEQ_MAX);
    for (uint64_t q = 1; q <= t.max_seq; q++)
        k[t.covered[q]]++;
    assert_true(k[3] * 100 > t.max_seq * 97); /* on both feeds */
    assert_true(k[1] > 0);                    /* lost on B only */
    assert_true(k[2] > 0);                    /* lost on A only */
    assert_true(k[0] > 0);                    /* lost on both */
    assert_true(t.gaps[0] > 4);
}

static void test_bad_spec(void **state)
{
    cs_source *src = (cs_source *)1;

    assert_true(cs_source_synth_ops.open(&src, "rate=abc") < 0);
    assert_null(src);
    assert_true(cs_source_synth_ops.open(&src, "colour=3") < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decodes_and_pairs), cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_paced_realtime),    cmocka_unit_test(test_trading),
        cmocka_unit_test(test_bad_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

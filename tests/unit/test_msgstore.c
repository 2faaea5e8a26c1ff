/*
 * test_msgstore.c - unit tests of the message store (src/store/msgstore_*.c).
 *
 * Messages, measurements and unmatched reports are generated from an index
 * i (so each one read back can be regenerated and compared field by field),
 * written with the writer into a temporary store, and read back with the
 * reader: every field round trip, filters, sorting, per-pair statistics,
 * lookups by id, torn and zero-filled tails after a "crash", replacement of
 * a segment range, many segments open at once (LRU), and garbage files;
 * sorted pages (bounded top-k) equal the slices of the full sorted list,
 * and counts and time-ranged reads stay right while files are appended to
 * and replaced under the process-wide file summaries. Lookups by key find
 * every record through the per-file key filters (also after appends) and
 * do skip a file whose filter rules the key out; the record checksum keeps
 * the values stores were written with (pinned vectors), and so do whole
 * files (pinned sizes and checksums); records encoded ahead and put as
 * bytes (the pipeline's writer thread) make the same files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "analytics/analyzer.h"
#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/hash.h"
#include "record/json.h"
#include "store/msgstore.h"
#include "store/msgstore_int.h"
#include "store/store.h"
#include "tmpstore.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define T0 1767623400000000000ll

typedef struct fixture {
    char dir[64];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_msgstore.XXXXXX");
    if (cs_test_store_make(f->dir) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    if (cs_test_rmtree(f->dir) < 0)
        return -1;
    free(f);
    return 0;
}

/* ---- generated records --------------------------------------------------- */

typedef struct genmsg {
    cs_message m;
    cs_kv kv[4];
    cs_pktref refs[3];
    char key[32], val[64], type[8];
} genmsg;

static const char *const protos[3] = {"fix", "http", "dns"};

/* Message number "i" in packet segment "seg" (0 = not stored: top-bit id). */
static void gen_message(genmsg *g, uint32_t i, uint32_t seg)
{
    cs_message *m = &g->m;
    size_t vl;

    memset(g, 0, sizeof(*g));
    m->id = seg ? CS_MSGID(CS_PKTREF(seg, 24 + 100 * i), i % 3) : ((1ull << 63) | i);
    m->proto = protos[i % 3];
    snprintf(g->type, sizeof(g->type), "%s", i % 2 ? "8" : "D");
    m->type = (cs_str){g->type, strlen(g->type)};
    m->ts_ns = T0 + (int64_t)i * 1000;
    m->last_ts_ns = m->ts_ns + (i % 5);
    m->flow_id = 0x1000000000000000ull + i;
    m->ep.ip_version = i % 7 == 0 ? 6 : 4;
    m->ep.ip_proto = 6;
    m->ep.tap = (uint16_t)(i % 4);
    m->ep.n_vlan = (uint8_t)(i % 3);
    m->ep.vlan[0] = 101;
    m->ep.vlan[1] = (uint16_t)(i & 0xfff);
    m->ep.port_a = (uint16_t)(40000 + i % 100);
    m->ep.port_b = 9878;
    for (int k = 0; k < 16; k++) {
        m->ep.addr_a[k] = (uint8_t)(i + k);
        m->ep.addr_b[k] = (uint8_t)(200 - k);
    }
    m->dir = (uint8_t)(i % 2);
    m->flags = i % 11 == 0 ? CS_MSG_BAD_CHECKSUM : 0;
    m->role = (cs_role)(i % 3);
    snprintf(g->key, sizeof(g->key), "ORD%u", i);
    m->key = (cs_str){g->key, i % 4 == 3 ? 0 : strlen(g->key)};
    m->len = 100 + i;
    /* A value with control bytes, a NUL and high bytes. */
    vl = (size_t)snprintf(g->val, sizeof(g->val), "v%u", i);
    g->val[vl++] = '\x01';
    g->val[vl++] = '\0';
    g->val[vl++] = '\xff';
    g->kv[0] = (cs_kv){{"35", 2}, {g->type, strlen(g->type)}};
    g->kv[1] = (cs_kv){{"11", 2}, {g->key, strlen(g->key)}};
    g->kv[2] = (cs_kv){{"58", 2}, {g->val, vl}};
    g->kv[3] = (cs_kv){{"", 0}, {"", 0}};
    m->fields = g->kv;
    m->n_fields = i % 5 == 4 ? 0 : 4;
    for (int k = 0; k < 3; k++)
        g->refs[k] = CS_PKTREF(seg, 24 + 100 * i + 1000 * (uint32_t)k);
    m->refs = g->refs;
    m->n_refs = (size_t)(i % 4);
    if (i % 50 == 49) /* not in the pinned set (i < 8, 100 <= i < 108) */
        m->error = (cs_str){"rcode NXDOMAIN", strlen("rcode NXDOMAIN")};
}

static void gen_measurement(cs_measurement *ms, char *keybuf, uint32_t i, uint32_t seg)
{
    genmsg g;

    gen_message(&g, i, seg);
    memset(ms, 0, sizeof(*ms));
    ms->id = ms->req_id = g.m.id;
    ms->resp_id = g.m.id + 1;
    ms->pair = protos[i % 3];
    snprintf(keybuf, 32, "ORD%u", i);
    ms->key = (cs_str){keybuf, strlen(keybuf)};
    ms->req_ts_ns = g.m.ts_ns;
    ms->latency_ns = 1000 + (int64_t)((i * 7919u) % 100000u);
    ms->resp_ts_ns = ms->req_ts_ns + ms->latency_ns;
    ms->flow_id = g.m.flow_id;
    ms->ep = g.m.ep;
    ms->resp_last_ts_ns = ms->resp_ts_ns + (i % 3) * 1000;
    /* a hop, its response seen at another tap (not in the pinned set) */
    ms->resp_tap = i % 50 == 48 ? (uint16_t)(ms->ep.tap + 100) : ms->ep.tap;
    if (i % 4 == 0) { /* a zone transfer's later messages attached */
        ms->attached = 1 + i % 5;
        ms->attached_last_id = ms->resp_id + ms->attached;
        ms->attached_last_ts_ns = ms->resp_last_ts_ns + 7777;
    }
}

static int str_eq(cs_str a, cs_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* Checks "m" against the message it was generated as (index in flow_id). */
static void check_message(const cs_message *m)
{
    uint32_t i = (uint32_t)(m->flow_id - 0x1000000000000000ull);
    uint32_t seg = (m->id >> 63) ? 0 : CS_MSGID_SEG(m->id);
    genmsg g;

    gen_message(&g, i, seg);
    assert_int_equal(m->id, g.m.id);
    assert_string_equal(m->proto, g.m.proto);
    assert_true(str_eq(m->type, g.m.type));
    assert_int_equal(m->ts_ns, g.m.ts_ns);
    assert_int_equal(m->last_ts_ns, g.m.last_ts_ns);
    assert_memory_equal(&m->ep, &g.m.ep, sizeof(m->ep));
    assert_int_equal(m->dir, g.m.dir);
    assert_int_equal(m->flags, g.m.flags);
    assert_int_equal(m->role, g.m.role);
    assert_true(str_eq(m->key, g.m.key));
    assert_true(str_eq(m->error, g.m.error));
    assert_int_equal(m->len, g.m.len);
    assert_int_equal(m->n_refs, g.m.n_refs);
    for (size_t k = 0; k < m->n_refs; k++)
        assert_int_equal(m->refs[k], g.m.refs[k]);
    assert_int_equal(m->n_fields, g.m.n_fields);
    for (size_t k = 0; k < m->n_fields; k++) {
        assert_true(str_eq(m->fields[k].name, g.m.fields[k].name));
        assert_true(str_eq(m->fields[k].val, g.m.fields[k].val));
    }
}

static void check_measurement(const cs_measurement *ms)
{
    uint32_t i = (uint32_t)(ms->flow_id - 0x1000000000000000ull);
    uint32_t seg = (ms->id >> 63) ? 0 : CS_MSGID_SEG(ms->id);
    cs_measurement want;
    char key[32];

    gen_measurement(&want, key, i, seg);
    assert_int_equal(ms->id, want.id);
    assert_int_equal(ms->req_id, want.req_id);
    assert_int_equal(ms->resp_id, want.resp_id);
    assert_string_equal(ms->pair, want.pair);
    assert_true(str_eq(ms->key, want.key));
    assert_int_equal(ms->req_ts_ns, want.req_ts_ns);
    assert_int_equal(ms->resp_ts_ns, want.resp_ts_ns);
    assert_int_equal(ms->latency_ns, want.latency_ns);
    assert_memory_equal(&ms->ep, &want.ep, sizeof(ms->ep));
    assert_int_equal(ms->resp_last_ts_ns, want.resp_last_ts_ns);
    assert_int_equal(ms->attached, want.attached);
    assert_int_equal(ms->attached_last_id, want.attached_last_id);
    assert_int_equal(ms->attached_last_ts_ns, want.attached_last_ts_ns);
    assert_int_equal(ms->resp_tap, want.resp_tap);
}

/* ---- collecting callbacks ------------------------------------------------ */

typedef struct seen {
    uint64_t n;
    uint64_t ids[4096];
    int64_t vals[4096];
    int kinds[4096];
    uint64_t stop_after; /* 0 = never */
} seen;

static int on_msg(void *ud, const cs_message *m)
{
    seen *s = ud;

    check_message(m);
    if (s->n < 4096) {
        s->ids[s->n] = m->id;
        s->vals[s->n] = m->ts_ns;
    }
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

static int on_unm(void *ud, const cs_message *m, int kind)
{
    seen *s = ud;

    check_message(m);
    if (s->n < 4096) {
        s->ids[s->n] = m->id;
        s->kinds[s->n] = kind;
    }
    s->n++;
    return 0;
}

static int on_lat(void *ud, const cs_measurement *ms)
{
    seen *s = ud;

    check_measurement(ms);
    if (s->n < 4096) {
        s->ids[s->n] = ms->id;
        s->vals[s->n] = ms->latency_ns;
    }
    s->n++;
    return 0;
}

/* Writes messages [from, to) of segment seg(i) = 1 + i % nseg (0 = top-bit ids for i % 50 == 49).
 */
static void write_range(const char *dir, uint32_t from, uint32_t to, uint32_t nseg)
{
    cs_msgstore *w;
    genmsg g;
    cs_measurement ms;
    char key[32];

    assert_int_equal(cs_msgstore_open(dir, &w), 0);
    for (uint32_t i = from; i < to; i++) {
        uint32_t seg = i % 50 == 49 ? 0 : 1 + i % nseg;

        gen_message(&g, i, seg);
        assert_int_equal(cs_msgstore_put_message(w, &g.m), 0);
        if (i % 2 == 0) {
            gen_measurement(&ms, key, i, seg);
            assert_int_equal(cs_msgstore_put_measurement(w, &ms), 0);
        }
        if (i % 10 == 1)
            assert_int_equal(cs_msgstore_put_unmatched(w, &g.m, 1 + (i / 10) % 2), 0);
    }
    assert_int_equal(cs_msgstore_close(w), 0);
}

static uint64_t count_messages(const char *dir, const cs_msgfilter *f)
{
    cs_msgreader *r;
    seen *s = calloc(1, sizeof(*s));
    uint64_t n;

    assert_int_equal(cs_msgreader_open(dir, &r), 0);
    assert_int_equal(cs_msgreader_messages(r, f, on_msg, s), 0);
    cs_msgreader_close(r);
    n = s->n;
    free(s);
    return n;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_roundtrip_and_filters(void **state)
{
    fixture *f = *state;
    cs_msgreader *r;
    cs_msgfilter mf;
    seen *s = calloc(1, sizeof(*s));
    uint64_t expect;

    write_range(f->dir, 0, 600, 3);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    cs_msgfilter_init(&mf);
    assert_int_equal(cs_msgreader_messages(r, &mf, on_msg, s), 0);
    assert_int_equal(s->n, 600);
    /* Store order: segment 0 (top-bit ids) first, then segments 1..3. */
    assert_true(s->ids[0] >> 63);
    assert_int_equal(CS_MSGID_SEG(s->ids[599]), 3);

    /* proto = i % 3 == 1 ("http"). */
    memset(s, 0, sizeof(*s));
    mf.proto = "http";
    assert_int_equal(cs_msgreader_messages(r, &mf, on_msg, s), 0);
    assert_int_equal(s->n, 200);
    /* proto http and type "8" (odd i): i % 6 == 1 or 3... i%3==1 && i odd. */
    expect = 0;
    for (uint32_t i = 0; i < 600; i++)
        expect += i % 3 == 1 && i % 2 == 1;
    memset(s, 0, sizeof(*s));
    mf.type = "8";
    assert_int_equal(cs_msgreader_messages(r, &mf, on_msg, s), 0);
    assert_int_equal(s->n, expect);

    /* key: exactly one message (i = 100: key present since 100 % 4 != 3). */
    cs_msgfilter_init(&mf);
    mf.key = "ORD100";
    memset(s, 0, sizeof(*s));
    assert_int_equal(cs_msgreader_messages(r, &mf, on_msg, s), 0);
    assert_int_equal(s->n, 1);
    assert_int_equal(s->vals[0], T0 + 100 * 1000);
    mf.key = "ORD103"; /* stored with an empty key */
    memset(s, 0, sizeof(*s));
    assert_int_equal(cs_msgreader_messages(r, &mf, on_msg, s), 0);
    assert_int_equal(s->n, 0);

    /* Time range [after, before): i in [100, 200). */
    cs_msgfilter_init(&mf);
    mf.after = T0 + 100 * 1000;
    mf.before = T0 + 200 * 1000;
    memset(s, 0, sizeof(*s));
    assert_int_equal(cs_msgreader_messages(r, &mf, on_msg, s), 0);
    assert_int_equal(s->n, 100);
    for (uint64_t k = 0; k < s->n; k++)
        assert_true(s->vals[k] >= mf.after && s->vals[k] < mf.before);

    /* Limit, and a callback that stops. */
    mf.limit = 7;
    memset(s, 0, sizeof(*s));
    assert_int_equal(cs_msgreader_messages(r, &mf, on_msg, s), 0);
    assert_int_equal(s->n, 7);
    cs_msgfilter_init(&mf);
    memset(s, 0, sizeof(*s));
    s->stop_after = 3;
    assert_int_equal(cs_msgreader_messages(r, &mf, on_msg, s), 0);
    assert_int_equal(s->n, 3);

    /* Unmatched: i % 10 == 1, kinds alternate. */
    memset(s, 0, sizeof(*s));
    cs_msgfilter_init(&mf);
    assert_int_equal(cs_msgreader_unmatched(r, &mf, on_unm, s), 0);
    assert_int_equal(s->n, 60);
    for (uint64_t k = 0; k < s->n; k++)
        assert_true(s->kinds[k] == CS_UNMATCHED_REQUEST || s->kinds[k] == CS_UNMATCHED_RESPONSE);
    cs_msgreader_close(r);
    free(s);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_measurements(void **state)
{
    fixture *f = *state;
    cs_msgreader *r;
    cs_latfilter lf;
    seen *s = calloc(1, sizeof(*s));
    cs_latstats *st;
    size_t n_st;
    int64_t lats[300];
    size_t n_lats = 0;

    write_range(f->dir, 0, 600, 4);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    cs_latfilter_init(&lf);
    assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, s), 0);
    assert_int_equal(s->n, 300);

    /* Sorted by latency, descending. */
    memset(s, 0, sizeof(*s));
    lf.sort = CS_LATSORT_LATENCY;
    assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, s), 0);
    assert_int_equal(s->n, 300);
    for (uint64_t k = 1; k < s->n; k++)
        assert_true(s->vals[k - 1] >= s->vals[k]);
    /* The limit applies after sorting: the 5 largest. */
    memset(s, 0, sizeof(*s));
    lf.limit = 5;
    assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, s), 0);
    assert_int_equal(s->n, 5);
    for (uint32_t i = 0; i < 600; i += 2)
        lats[n_lats++] = 1000 + (int64_t)((i * 7919u) % 100000u);
    qsort(lats, n_lats, sizeof(lats[0]), cmp_i64);
    assert_int_equal(s->vals[0], lats[n_lats - 1]);
    assert_int_equal(s->vals[4], lats[n_lats - 5]);

    /* Sorted by time: ascending req_ts (ids across segments interleave). */
    cs_latfilter_init(&lf);
    lf.sort = CS_LATSORT_TIME;
    lf.pair = "dns";
    memset(s, 0, sizeof(*s));
    assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, s), 0);
    assert_int_equal(s->n, 100); /* even i with i % 3 == 2 */
    /* min latency */
    cs_latfilter_init(&lf);
    lf.min_latency_ns = lats[n_lats - 10];
    memset(s, 0, sizeof(*s));
    assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, s), 0);
    assert_int_equal(s->n, 10);

    /* Stats per pair, sorted by name; counts and exact min/max. */
    cs_latfilter_init(&lf);
    assert_int_equal(cs_msgreader_lat_stats(r, &lf, CS_LATBY_PAIR, &st, &n_st), 0);
    assert_int_equal(n_st, 3);
    assert_string_equal(st[0].pair, "dns");
    assert_string_equal(st[1].pair, "fix");
    assert_string_equal(st[2].pair, "http");
    assert_int_equal(cs_lazyhist_count(&st[0].hist) + cs_lazyhist_count(&st[1].hist) +
                         cs_lazyhist_count(&st[2].hist),
                     300);
    {
        int64_t mn = INT64_MAX, mx = INT64_MIN;

        for (size_t k = 0; k < n_st; k++) {
            if (cs_lazyhist_min(&st[k].hist) < mn)
                mn = cs_lazyhist_min(&st[k].hist);
            if (cs_lazyhist_max(&st[k].hist) > mx)
                mx = cs_lazyhist_max(&st[k].hist);
        }
        assert_int_equal(mn, lats[0]);
        assert_int_equal(mx, lats[n_lats - 1]);
    }
    /* A pair filter gives that pair only. */
    cs_latstats_free(st, n_st);
    lf.pair = "fix";
    assert_int_equal(cs_msgreader_lat_stats(r, &lf, CS_LATBY_PAIR, &st, &n_st), 0);
    assert_int_equal(n_st, 1);
    assert_string_equal(st[0].pair, "fix");
    assert_int_equal(cs_lazyhist_count(&st[0].hist), 100);
    cs_latstats_free(st, n_st);

    /* max latency: the 10 fastest */
    cs_latfilter_init(&lf);
    lf.max_latency_ns = lats[9];
    memset(s, 0, sizeof(*s));
    assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, s), 0);
    assert_int_equal(s->n, 10);

    /* per session: each measurement has a client of its own (300 groups,
     * past the first table size), sorted by pair then session */
    cs_latfilter_init(&lf);
    assert_int_equal(cs_msgreader_lat_stats(r, &lf, CS_LATBY_SESSION, &st, &n_st), 0);
    assert_int_equal(n_st, 300);
    for (size_t k = 0; k < n_st; k++) {
        assert_int_equal(cs_lazyhist_count(&st[k].hist), 1);
        assert_non_null(strchr(st[k].session, '>'));
        if (k > 0) {
            int c = strcmp(st[k - 1].pair, st[k].pair);

            assert_true(c < 0 || (c == 0 && strcmp(st[k - 1].session, st[k].session) < 0));
        }
    }
    /* one session's filter: its one measurement, whose latency it holds */
    {
        cs_measurement want;
        char key[32], src[CS_EP_BUFLEN], dst[CS_EP_BUFLEN], sess[CS_LATSTATS_NAME];

        gen_measurement(&want, key, 42, 1);
        snprintf(sess, sizeof(sess), "%s>%s", cs_endpoint_format(&want.ep, 0, src),
                 cs_endpoint_format(&want.ep, 1, dst));
        lf.session = sess;
        memset(s, 0, sizeof(*s));
        assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, s), 0);
        assert_int_equal(s->n, 1);
        assert_int_equal(s->vals[0], want.latency_ns);
        cs_latstats_free(st, n_st);
        assert_int_equal(cs_msgreader_lat_stats(r, &lf, CS_LATBY_SESSION, &st, &n_st), 0);
        assert_int_equal(n_st, 1);
        assert_string_equal(st[0].session, sess);
        assert_int_equal(cs_lazyhist_max(&st[0].hist), want.latency_ns);
        lf.session = "10.0.0.1:1>10.0.0.2:2";
        memset(s, 0, sizeof(*s));
        assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, s), 0);
        assert_int_equal(s->n, 0);
    }
    cs_latstats_free(st, n_st);
    cs_msgreader_close(r);
    free(s);
}

static int find_cb(void *ud, const cs_message *m)
{
    check_message(m);
    *(cs_msgid *)ud = m->id;
    return 0;
}

static int find_lat_cb(void *ud, const cs_measurement *ms)
{
    check_measurement(ms);
    *(cs_msgid *)ud = ms->id;
    return 0;
}

static int find_pair_cb(void *ud, const cs_measurement *ms)
{
    snprintf(ud, 16, "%s", ms->pair);
    return 0;
}

/* Two measurements with one id (a message's A/B race and its hop): a
 * lookup by id and pair finds each; by id alone, the first stored. */
static void test_lookup_by_pair(void **state)
{
    fixture *f = *state;
    cs_msgstore *w;
    cs_msgreader *r;
    cs_measurement ms;
    char key[32], got[16] = "";

    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    gen_measurement(&ms, key, 4, 1);
    ms.pair = "ab";
    assert_int_equal(cs_msgstore_put_measurement(w, &ms), 0);
    ms.pair = "hop";
    assert_int_equal(cs_msgstore_put_measurement(w, &ms), 0);
    assert_int_equal(cs_msgstore_close(w), 0);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    assert_int_equal(cs_msgreader_find_measurement(r, ms.id, "hop", find_pair_cb, got), 0);
    assert_string_equal(got, "hop");
    assert_int_equal(cs_msgreader_find_measurement(r, ms.id, "ab", find_pair_cb, got), 0);
    assert_string_equal(got, "ab");
    assert_int_equal(cs_msgreader_find_measurement(r, ms.id, NULL, find_pair_cb, got), 0);
    assert_string_equal(got, "ab");
    assert_int_equal(cs_msgreader_find_measurement(r, ms.id, "ouch", find_pair_cb, got),
                     CS_ENOTFOUND);
    cs_msgreader_close(r);
}

static void test_lookup(void **state)
{
    fixture *f = *state;
    cs_msgreader *r;
    genmsg g;
    cs_msgid got = 0;

    write_range(f->dir, 0, 300, 3);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    gen_message(&g, 137, 1 + 137 % 3);
    assert_int_equal(cs_msgreader_find_message(r, g.m.id, find_cb, &got), 0);
    assert_int_equal(got, g.m.id);
    got = 0;
    assert_int_equal(cs_msgreader_find_measurement(r, g.m.id, NULL, find_lat_cb, &got),
                     CS_ENOTFOUND);
    gen_message(&g, 138, 1 + 138 % 3);
    assert_int_equal(cs_msgreader_find_measurement(r, g.m.id, NULL, find_lat_cb, &got), 0);
    assert_int_equal(got, g.m.id);
    /* A top-bit id lives in the segment-0 file. */
    gen_message(&g, 149, 0);
    got = 0;
    assert_int_equal(cs_msgreader_find_message(r, g.m.id, find_cb, &got), 0);
    assert_int_equal(got, g.m.id);
    /* Unknown ids, unknown segments. */
    assert_int_equal(cs_msgreader_find_message(r, CS_MSGID(CS_PKTREF(2, 7), 0), find_cb, &got),
                     CS_ENOTFOUND);
    assert_int_equal(cs_msgreader_find_message(r, CS_MSGID(CS_PKTREF(99, 7), 0), find_cb, &got),
                     CS_ENOTFOUND);
    cs_msgreader_close(r);
}

static void file_name(char *buf, size_t size, const char *dir, const char *kind, uint32_t seg)
{
    snprintf(buf, size, "%s/messages/%s-%08u.bin", dir, kind, (unsigned)seg);
}

static off_t file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void test_torn_tail(void **state)
{
    fixture *f = *state;
    char path[256];
    cs_msgfilter mf;
    cs_msgreader *r;
    cs_msgstore_info info;
    off_t size;
    int fd;
    FILE *fp;
    static const char zeros[100];

    /* 300 messages over 3 segments + seg 0: segment 1 gets i % 3 == 0, i % 50 != 49. */
    write_range(f->dir, 0, 300, 3);
    cs_msgfilter_init(&mf);
    assert_int_equal(count_messages(f->dir, &mf), 300);
    file_name(path, sizeof(path), f->dir, "msg", 1);
    size = file_size(path);
    /* Cut the last record in the middle: one message fewer, never a half one. */
    assert_int_equal(truncate(path, size - 5), 0);
    assert_int_equal(count_messages(f->dir, &mf), 299);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    assert_int_equal(cs_msgreader_info(r, &info), 0);
    assert_int_equal(info.messages, 299);
    assert_int_equal(info.torn_tails, 1);
    assert_int_equal(info.measurements, 150);
    cs_msgreader_close(r);

    /* A zero-filled tail (crash after the file grew) is ignored too. */
    fp = fopen(path, "ab");
    assert_non_null(fp);
    assert_int_equal(fwrite(zeros, 1, sizeof(zeros), fp), sizeof(zeros));
    fclose(fp);
    assert_int_equal(count_messages(f->dir, &mf), 299);

    /* The next writer cuts the torn tail off before appending: new records are served. */
    write_range(f->dir, 300, 303, 3); /* i = 300 goes to segment 1 */
    assert_int_equal(count_messages(f->dir, &mf), 302);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    assert_int_equal(cs_msgreader_info(r, &info), 0);
    assert_int_equal(info.torn_tails, 0);
    cs_msgreader_close(r);

    /* A file cut inside its magic, and a file with a foreign magic: no records, no crash. */
    file_name(path, sizeof(path), f->dir, "msg", 77);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "csm", 3), 3);
    close(fd);
    file_name(path, sizeof(path), f->dir, "msg", 78);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_int_equal(write(fd, "GIF89a..garbage garbage garbage", 31), 31);
    close(fd);
    assert_int_equal(count_messages(f->dir, &mf), 302);
}

static void test_garbage_files(void **state)
{
    fixture *f = *state;
    char path[256];
    uint8_t buf[8192];
    cs_msgfilter mf;
    cs_latfilter lf;
    cs_msgreader *r;
    seen *s = calloc(1, sizeof(*s));
    const char *kinds[3] = {"msg", "lat", "unm"};
    const char *magics[3] = {"csmsg01\n", "cslat01\n", "csunm01\n"};
    size_t valid;

    srand(7);
    for (int k = 0; k < 3; k++) {
        for (uint32_t seg = 1; seg <= 20; seg++) {
            int fd;
            size_t n = (size_t)(rand() % (int)sizeof(buf));

            for (size_t j = 0; j < n; j++)
                buf[j] = (uint8_t)rand();
            memcpy(buf, magics[k], CS__MSG_MAGIC_LEN);
            /* Plausible lengths, so the length check alone does not stop it. */
            if (n > CS__MSG_MAGIC_LEN + CS__FRAME_CHECK)
                cs_wr_le32(buf + CS__MSG_MAGIC_LEN + CS__FRAME_LEN, 40);
            file_name(path, sizeof(path), f->dir, kinds[k], seg);
            snprintf(path, sizeof(path), "%s/messages", f->dir);
            mkdir(path, 0755);
            file_name(path, sizeof(path), f->dir, kinds[k], seg);
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            assert_true(fd >= 0);
            assert_int_equal(write(fd, buf, n), (ssize_t)n);
            close(fd);
            assert_int_equal(
                cs_msgstore_parse_image(buf, n, kinds[k][0], on_msg, on_lat, on_unm, s, &valid), 0);
            assert_true(valid <= n && (n < 8 || valid >= 8));
        }
    }
    assert_int_equal(s->n, 0);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    cs_msgfilter_init(&mf);
    cs_latfilter_init(&lf);
    lf.sort = CS_LATSORT_LATENCY;
    assert_int_equal(cs_msgreader_messages(r, &mf, on_msg, s), 0);
    assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, s), 0);
    assert_int_equal(cs_msgreader_unmatched(r, &mf, on_unm, s), 0);
    assert_int_equal(s->n, 0);
    cs_msgreader_close(r);
    /* A writer refuses to append to a file that is not a message file. */
    {
        cs_msgstore *w;
        genmsg g;
        int fd;

        file_name(path, sizeof(path), f->dir, "msg", 30);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_int_equal(write(fd, "not a message file at all", 25), 25);
        close(fd);
        gen_message(&g, 0, 30);
        assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
        assert_int_equal(cs_msgstore_put_message(w, &g.m), CS_ECORRUPT);
        assert_int_equal(cs_msgstore_close(w), CS_ECORRUPT);
        assert_int_equal(file_size(path), 25);
    }
    free(s);
}

static void test_replace_range(void **state)
{
    fixture *f = *state;
    char path[256];
    cs_msgstore *w;
    cs_msgfilter mf;
    genmsg g;
    cs_measurement ms;
    char key[32];
    seen *s = calloc(1, sizeof(*s));
    cs_msgreader *r;
    uint64_t per_seg[6] = {0};

    /* Segments 1..4, 400 messages (i % 50 == 49 to segment 0). */
    write_range(f->dir, 0, 400, 4);
    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    /* Appended before the range starts: replaced away with the rest. */
    gen_message(&g, 1000, 2);
    assert_int_equal(cs_msgstore_put_message(w, &g.m), 0);
    assert_int_equal(cs_msgstore_replace_range(w, 2, 3), 0);
    assert_int_equal(cs_msgstore_replace_range(w, 2, 3), CS_EINVAL);
    /* New records: 5 messages for segment 2, none for 3, 2 appended to 4. */
    for (uint32_t i = 2000; i < 2005; i++) {
        gen_message(&g, i, 2);
        assert_int_equal(cs_msgstore_put_message(w, &g.m), 0);
    }
    gen_measurement(&ms, key, 2000, 2);
    assert_int_equal(cs_msgstore_put_measurement(w, &ms), 0);
    for (uint32_t i = 3000; i < 3002; i++) {
        gen_message(&g, i, 4);
        assert_int_equal(cs_msgstore_put_message(w, &g.m), 0);
    }
    assert_int_equal(cs_msgstore_flush(w), 0);
    /* Before close: readers still see the old records of 2 and 3. */
    cs_msgfilter_init(&mf);
    assert_int_equal(count_messages(f->dir, &mf), 400 + 1 + 2);
    assert_int_equal(cs_msgstore_close(w), 0);

    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    assert_int_equal(cs_msgreader_messages(r, &mf, on_msg, s), 0);
    for (uint64_t k = 0; k < s->n; k++) {
        uint32_t seg = (s->ids[k] >> 63) ? 0 : CS_MSGID_SEG(s->ids[k]);
        per_seg[seg < 5 ? seg : 5]++;
    }
    assert_int_equal(per_seg[2], 5);
    assert_int_equal(per_seg[3], 0);
    assert_int_equal(per_seg[1], 100);    /* i % 4 == 0 (never i % 50 == 49) */
    assert_int_equal(per_seg[4], 96 + 2); /* i % 4 == 3 but not 99, 199, 299, 399 */
    assert_int_equal(per_seg[0], 8);
    memset(s, 0, sizeof(*s));
    {
        cs_latfilter lf;

        cs_latfilter_init(&lf);
        lf.pair = NULL;
        assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, s), 0);
    }
    cs_msgreader_close(r);
    /* Measurements of segment 2 are only the new one; segment 3's files are gone. */
    file_name(path, sizeof(path), f->dir, "lat", 3);
    assert_int_equal(access(path, F_OK), -1);
    file_name(path, sizeof(path), f->dir, "msg", 3);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/messages/msg-00000002.bin.new", f->dir);
    assert_int_equal(access(path, F_OK), -1);
    {
        uint64_t lat_seg2 = 0, lat_total = s->n;

        for (uint64_t k = 0; k < s->n; k++)
            lat_seg2 += !(s->ids[k] >> 63) && CS_MSGID_SEG(s->ids[k]) == 2;
        assert_int_equal(lat_seg2, 1);
        /* 200 even i originally; those of segments 2 and 3 (i % 4 == 1, 2 -> even: i % 4 == 2,
         * minus top-bit ones) are gone. */
        {
            uint64_t want = 1;

            for (uint32_t i = 0; i < 400; i += 2)
                want += i % 50 == 49 || (1 + i % 4 != 2 && 1 + i % 4 != 3);
            assert_int_equal(lat_total, want);
        }
    }
    free(s);
}

static void test_many_segments_lru(void **state)
{
    fixture *f = *state;
    cs_msgfilter mf;
    cs_msgreader *r;
    cs_msgstore_info info;

    /* Round robin over 25 segments: far more than the writer keeps open. */
    write_range(f->dir, 0, 2000, 25);
    write_range(f->dir, 2000, 2500, 25);
    cs_msgfilter_init(&mf);
    assert_int_equal(count_messages(f->dir, &mf), 2500);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    assert_int_equal(cs_msgreader_info(r, &info), 0);
    assert_int_equal(info.messages, 2500);
    assert_int_equal(info.measurements, 1250);
    assert_int_equal(info.unmatched, 250);
    assert_int_equal(info.torn_tails, 0);
    /* msg: segments 0..25; lat (even i): 1..25; unm (i % 10 == 1): 5 segments. */
    assert_int_equal(info.files, 26 + 25 + 5);
    cs_msgreader_close(r);
}

static uint64_t dir_bytes(const char *dir, uint32_t *oldest, uint32_t *newest, int *seg0)
{
    char path[128];
    uint64_t total = 0;
    static const char *const kinds[3] = {"msg", "lat", "unm"};

    *oldest = UINT32_MAX;
    *newest = 0;
    *seg0 = 0;
    for (uint32_t seg = 0; seg <= 40; seg++) {
        for (int k = 0; k < 3; k++) {
            struct stat st;
            file_name(path, sizeof(path), dir, kinds[k], seg);
            if (stat(path, &st) != 0)
                continue;
            total += (uint64_t)st.st_size;
            if (seg == 0)
                *seg0 = 1;
            else if (seg < *oldest)
                *oldest = seg;
            if (seg > *newest)
                *newest = seg;
        }
    }
    return total;
}

/* With a budget, starting a newer segment deletes the oldest segments'
 * files (all kinds) until the directory fits; segment 0 and the segment
 * being written stay; what is left reads back whole. */
static void test_retention_budget(void **state)
{
    fixture *f = *state;
    cs_msgstore *w;
    genmsg g;
    cs_measurement ms;
    char key[32];
    uint32_t oldest, newest;
    uint64_t total, per_seg = 0;
    int seg0;
    cs_msgfilter mf;

    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    cs_msgstore_set_budget(w, 60000);
    for (uint32_t seg = 1; seg <= 30; seg++) {
        for (uint32_t i = 0; i < 100; i++) {
            uint32_t n = seg * 1000 + i;
            gen_message(&g, n, i == 7 ? 0 : seg);
            assert_int_equal(cs_msgstore_put_message(w, &g.m), 0);
            gen_measurement(&ms, key, n, seg);
            assert_int_equal(cs_msgstore_put_measurement(w, &ms), 0);
        }
        assert_int_equal(cs_msgstore_flush(w), 0);
        total = dir_bytes(f->dir, &oldest, &newest, &seg0);
        if (seg == 1)
            per_seg = total;
        assert_int_equal(newest, seg);
        assert_true(seg0);
        /* within the budget, give or take the segment being written */
        assert_true(total <= 60000 + 2 * per_seg);
    }
    assert_int_equal(cs_msgstore_close(w), 0);
    total = dir_bytes(f->dir, &oldest, &newest, &seg0);
    assert_true(oldest > 10); /* the old ones went */
    assert_int_equal(newest, 30);
    assert_true(total + 2 * per_seg > 60000); /* and not far below it */
    cs_msgfilter_init(&mf);
    /* every remaining segment whole: 99 messages each, plus segment 0's */
    assert_int_equal(count_messages(f->dir, &mf), (uint64_t)(30 - oldest + 1) * 99 + 30);
}

static void test_not_a_store(void **state)
{
    fixture *f = *state;
    cs_msgreader *r;
    char path[256];

    assert_int_equal(cs_msgreader_open("/nonexistent/capstream", &r), CS_ENOTFOUND);
    assert_int_equal(cs_msgreader_open("/etc", &r), CS_ENOTSTORE);
    snprintf(path, sizeof(path), "%s/capstream.store", f->dir);
    assert_int_equal(cs_msgreader_open(path, &r), CS_ENOTSTORE);
    /* An empty store (no messages directory yet) reads as empty. */
    {
        cs_msgfilter mf;

        cs_msgfilter_init(&mf);
        assert_int_equal(count_messages(f->dir, &mf), 0);
    }
}

static void test_big_record(void **state)
{
    fixture *f = *state;
    cs_msgstore *w;
    cs_msgreader *r;
    genmsg g;
    char *big = malloc(3u << 20);
    seen *s = calloc(1, sizeof(*s));
    cs_msgfilter mf;

    memset(big, 'x', 3u << 20);
    /* A record larger than both the write and the read buffer. */
    gen_message(&g, 5, 1);
    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    assert_int_equal(cs_msgstore_put_message(w, &g.m), 0);
    g.kv[2].val = (cs_str){big, 3u << 20};
    g.m.n_fields = 3;
    assert_int_equal(cs_msgstore_put_message(w, &g.m), 0);
    gen_message(&g, 6, 1);
    assert_int_equal(cs_msgstore_put_message(w, &g.m), 0);
    /* Too large to store at all. */
    g.kv[2].val = (cs_str){big, 17u << 20};
    assert_int_equal(cs_msgstore_put_message(w, &g.m), CS_ERANGE);
    assert_int_equal(cs_msgstore_close(w), CS_ERANGE);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    cs_msgfilter_init(&mf);
    mf.key = "ORD6";
    assert_int_equal(cs_msgreader_messages(r, &mf, on_msg, s), 0);
    assert_int_equal(s->n, 1);
    cs_msgreader_close(r);
    free(s);
    free(big);
}

/* Every allocation failure is reported as CS_ENOMEM and leaks nothing (ASan). */
static void test_alloc_failures(void **state)
{
    fixture *f = *state;
    int saw_ok = 0, saw_nomem = 0;

    for (long n = 0; n < 40; n++) {
        cs_msgstore *w = NULL;
        cs_msgreader *r = NULL;
        cs_latfilter lf;
        cs_msgfilter mf;
        seen *s = calloc(1, sizeof(*s));
        genmsg g;
        int rc, rc2;

        cs_alloc_fail_after(n);
        rc = cs_msgstore_open(f->dir, &w);
        if (rc == 0) {
            for (uint32_t i = 0; i < 30; i++) {
                gen_message(&g, i, 1 + i % 12);
                rc2 = cs_msgstore_put_message(w, &g.m);
                assert_true(rc2 == 0 || rc2 == CS_ENOMEM);
            }
            rc = cs_msgstore_close(w);
        }
        assert_true(rc == 0 || rc == CS_ENOMEM);
        cs_alloc_fail_after(n);
        rc = cs_msgreader_open(f->dir, &r);
        if (rc == 0) {
            cs_latfilter_init(&lf);
            lf.sort = CS_LATSORT_TIME;
            cs_msgfilter_init(&mf);
            rc = cs_msgreader_messages(r, &mf, on_msg, s);
            assert_true(rc == 0 || rc == CS_ENOMEM);
            rc = cs_msgreader_measurements(r, &lf, on_lat, s);
            cs_msgreader_close(r);
        }
        cs_alloc_fail_after(-1);
        assert_true(rc == 0 || rc == CS_ENOMEM);
        saw_ok += rc == 0;
        saw_nomem += rc == CS_ENOMEM;
        free(s);
    }
    assert_true(saw_ok > 0 && saw_nomem > 0);
}

/* ---- heads only: cs_msgfilter.fields_proto --------------------------------
 * Only the named protocol's messages come with refs and fields; every
 * other message still comes, its head intact, without them. */
typedef struct heads {
    uint64_t n, with_body;
} heads;

static int on_head(void *ud, const cs_message *m)
{
    heads *h = ud;
    cs_message head = *m;
    uint32_t i = (uint32_t)(m->flow_id - 0x1000000000000000ull);
    genmsg g;

    h->n++;
    if (strcmp(m->proto, "http") == 0) {
        check_message(m);
        h->with_body += m->n_fields > 0;
        return 0;
    }
    assert_int_equal(m->n_refs, 0);
    assert_int_equal(m->n_fields, 0);
    gen_message(&g, i, (m->id >> 63) ? 0 : CS_MSGID_SEG(m->id));
    head.n_refs = g.m.n_refs; /* the rest must be the message's */
    head.refs = g.m.refs;
    head.n_fields = g.m.n_fields;
    head.fields = g.m.fields;
    check_message(&head);
    return 0;
}

static void test_heads_only(void **state)
{
    fixture *f = *state;
    cs_msgreader *r;
    cs_msgfilter mf;
    heads h = {0};

    write_range(f->dir, 0, 3000, 5);
    cs_msgfilter_init(&mf);
    mf.fields_proto = "http";
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    assert_int_equal(cs_msgreader_messages(r, &mf, on_head, &h), 0);
    cs_msgreader_close(r);
    assert_int_equal(h.n, 3000);
    assert_int_equal(h.with_body, 800); /* http: i % 3 == 1, of which i % 5 != 4 */
}

/* ---- paging of sorted measurements (bounded top-k) -----------------------
 * A page (a heap of offset + limit) equals the same stretch of the whole
 * sorted list, with and without a pair filter: records ruled out before
 * their decode (lat_ruled_out) are exactly those the decoded path drops. */

/* Every measurement of "pair" (NULL: all) in "sort" order (no limit): the
 * reference for pages. */
static void read_all_sorted(cs_msgreader *r, int sort, const char *pair, seen *all)
{
    cs_latfilter lf;

    cs_latfilter_init(&lf);
    lf.sort = sort;
    lf.pair = pair;
    memset(all, 0, sizeof(*all));
    assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, all), 0);
}

static void check_page(cs_msgreader *r, int sort, const char *pair, const seen *all,
                       uint64_t offset, uint64_t limit)
{
    cs_latfilter lf;
    seen *page = calloc(1, sizeof(*page));
    uint64_t want = offset >= all->n ? 0 : all->n - offset < limit ? all->n - offset : limit;

    cs_latfilter_init(&lf);
    lf.sort = sort;
    lf.pair = pair;
    lf.offset = offset;
    lf.limit = limit;
    assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, page), 0);
    assert_int_equal(page->n, want);
    for (uint64_t k = 0; k < want; k++)
        assert_int_equal(page->ids[k], all->ids[offset + k]);
    free(page);
}

static void test_sorted_pages(void **state)
{
    fixture *f = *state;
    cs_msgreader *r;
    seen *all = calloc(1, sizeof(*all));
    static const uint64_t pages[][2] = {{0, 1},     {0, 7},    {7, 7},    {100, 100},
                                        {1490, 20}, {1499, 5}, {1500, 5}, {0, 4000}};
    static const int sorts[] = {CS_LATSORT_LATENCY, CS_LATSORT_TIME, CS_LATSORT_STORE};

    static const char *const pairs[] = {NULL, "http", "nosuch"};
    static const uint64_t of_pair[] = {1500, 500, 0};

    write_range(f->dir, 0, 3000, 5); /* 1500 measurements in 6 files */
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    for (size_t pi = 0; pi < sizeof(pairs) / sizeof(pairs[0]); pi++) {
        for (size_t si = 0; si < sizeof(sorts) / sizeof(sorts[0]); si++) {
            read_all_sorted(r, sorts[si], pairs[pi], all);
            assert_int_equal(all->n, of_pair[pi]);
            for (uint64_t k = 1; k < all->n && sorts[si] == CS_LATSORT_LATENCY; k++)
                assert_true(all->vals[k - 1] >= all->vals[k]);
            for (size_t p = 0; p < sizeof(pages) / sizeof(pages[0]); p++)
                check_page(r, sorts[si], pairs[pi], all, pages[p][0], pages[p][1]);
        }
    }
    cs_msgreader_close(r);
    free(all);
}

/* The slowest measurements of a file already summarized come from its
 * latency blocks, the slowest blocks first: the same pages as the
 * unlimited sorted read, for every pair, time window and latency band,
 * with most blocks never read for a small page. */
static void test_sorted_from_blocks(void **state)
{
    fixture *f = *state;
    cs_msgreader *r;
    seen *all = calloc(1, sizeof(*all)), *page = calloc(1, sizeof(*page));
    static const char *const pairs[] = {NULL, "fix", "http", "dns", "nosuch"};
    static const uint64_t pages[][2] = {{0, 1},   {0, 100},  {5, 50},
                                        {90, 40}, {0, 1000}, {2000, 1000}};
    static const int64_t bands[][2] = {{INT64_MIN, INT64_MAX}, {30000, 70000}, {99000, INT64_MAX}};
    uint64_t read0, passed0, read1, passed1;

    write_range(f->dir, 0, 200000, 1); /* 100,000 measurements, ~390 blocks */
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    for (size_t pi = 0; pi < sizeof(pairs) / sizeof(pairs[0]); pi++)
        for (size_t bi = 0; bi < sizeof(bands) / sizeof(bands[0]); bi++)
            for (int w = 0; w < 2; w++) {
                cs_latfilter lf;

                cs_latfilter_init(&lf);
                lf.sort = CS_LATSORT_LATENCY;
                lf.pair = pairs[pi];
                lf.min_latency_ns = bands[bi][0];
                lf.max_latency_ns = bands[bi][1];
                if (w) { /* a window in the middle of the file */
                    lf.after = T0 + 40000000;
                    lf.before = T0 + 160000123;
                }
                memset(all, 0, sizeof(*all));
                assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, all), 0);
                for (size_t p = 0; p < sizeof(pages) / sizeof(pages[0]); p++) {
                    uint64_t off = pages[p][0], lim = pages[p][1];
                    uint64_t want = off >= all->n ? 0 : all->n - off < lim ? all->n - off : lim;

                    lf.offset = off;
                    lf.limit = lim;
                    memset(page, 0, sizeof(*page));
                    assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, page), 0);
                    assert_int_equal(page->n, want);
                    for (uint64_t k = 0; k < want && off + k < 4096; k++)
                        assert_int_equal(page->ids[k], all->ids[off + k]);
                    lf.offset = lf.limit = 0;
                }
            }
    /* the slowest one: a few blocks read, most passed over */
    cs__lb_stats(&read0, &passed0);
    {
        cs_latfilter lf;

        cs_latfilter_init(&lf);
        lf.sort = CS_LATSORT_LATENCY;
        lf.pair = "fix";
        lf.limit = 1;
        memset(page, 0, sizeof(*page));
        assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, page), 0);
        assert_int_equal(page->n, 1);
    }
    cs__lb_stats(&read1, &passed1);
    assert_true(read1 - read0 >= 1);
    assert_true(read1 - read0 <= 3);
    assert_true(passed1 - passed0 >= 380);
    /* a pair no block holds: nothing read */
    {
        cs_latfilter lf;

        cs_latfilter_init(&lf);
        lf.sort = CS_LATSORT_LATENCY;
        lf.pair = "nosuch";
        lf.limit = 10;
        memset(page, 0, sizeof(*page));
        assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, page), 0);
        assert_int_equal(page->n, 0);
    }
    cs__lb_stats(&read0, &passed0);
    assert_int_equal(read0, read1);
    assert_true(passed0 - passed1 >= 380);
    cs_msgreader_close(r);
    free(all);
    free(page);
}

/* ---- info and time ranges through the file summaries --------------------- */

static void check_info(const char *dir, uint64_t msgs, uint64_t meas)
{
    cs_msgreader *r;
    cs_msgstore_info info;

    assert_int_equal(cs_msgreader_open(dir, &r), 0);
    assert_int_equal(cs_msgreader_info(r, &info), 0);
    assert_int_equal(info.messages, msgs);
    assert_int_equal(info.measurements, meas);
    assert_int_equal(info.torn_tails, 0);
    cs_msgreader_close(r);
}

/* Messages with ts in [T0 + a us, T0 + b us) counted by the reader. */
static uint64_t count_range(const char *dir, uint32_t a, uint32_t b)
{
    cs_msgfilter mf;

    cs_msgfilter_init(&mf);
    mf.after = T0 + (int64_t)a * 1000;
    mf.before = T0 + (int64_t)b * 1000;
    return count_messages(dir, &mf);
}

static uint64_t count_lat_range(const char *dir, uint32_t a, uint32_t b)
{
    cs_msgreader *r;
    cs_latfilter lf;
    seen *s = calloc(1, sizeof(*s));
    uint64_t n;

    cs_latfilter_init(&lf);
    lf.after = T0 + (int64_t)a * 1000;
    lf.before = T0 + (int64_t)b * 1000;
    lf.sort = CS_LATSORT_LATENCY;
    lf.limit = 3;
    assert_int_equal(cs_msgreader_open(dir, &r), 0);
    assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, s), 0);
    cs_msgreader_close(r);
    n = s->n;
    free(s);
    return n;
}

/* Writes messages [from, to) into segment files by blocks of 100 (so each
 * file holds one stretch of time) and measurements for even i. */
static void write_blocks(const char *dir, uint32_t from, uint32_t to)
{
    cs_msgstore *w;
    genmsg g;
    cs_measurement ms;
    char key[32];

    assert_int_equal(cs_msgstore_open(dir, &w), 0);
    for (uint32_t i = from; i < to; i++) {
        gen_message(&g, i, 1 + i / 100);
        assert_int_equal(cs_msgstore_put_message(w, &g.m), 0);
        if (i % 2 == 0) {
            gen_measurement(&ms, key, i, 1 + i / 100);
            assert_int_equal(cs_msgstore_put_measurement(w, &ms), 0);
        }
    }
    assert_int_equal(cs_msgstore_close(w), 0);
}

static void test_info_and_ranges_incremental(void **state)
{
    fixture *f = *state;

    write_blocks(f->dir, 0, 450);
    check_info(f->dir, 450, 225);
    check_info(f->dir, 450, 225); /* from the summaries */
    assert_int_equal(count_range(f->dir, 120, 180), 60);
    assert_int_equal(count_range(f->dir, 120, 180), 60); /* files skipped now */
    assert_int_equal(count_range(f->dir, 0, 450), 450);
    assert_int_equal(count_range(f->dir, 460, 900), 0);
    assert_int_equal(count_lat_range(f->dir, 120, 124), 2);
    /* Appends: to the last file (segment 5) and to new ones; the summaries
     * read only the tails and the new ranges are found. */
    write_blocks(f->dir, 450, 720);
    check_info(f->dir, 720, 360);
    assert_int_equal(count_range(f->dir, 460, 900), 260);
    assert_int_equal(count_range(f->dir, 440, 460), 20);
    assert_int_equal(count_lat_range(f->dir, 456, 457), 1);
    assert_int_equal(count_range(f->dir, 120, 180), 60);
    /* A segment rewritten through a replacement (new file, new inode). */
    {
        cs_msgstore *w;
        genmsg g;

        assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
        assert_int_equal(cs_msgstore_replace_range(w, 2, 2), 0);
        for (uint32_t i = 100; i < 110; i++) {
            gen_message(&g, i, 2);
            assert_int_equal(cs_msgstore_put_message(w, &g.m), 0);
        }
        assert_int_equal(cs_msgstore_close(w), 0);
    }
    check_info(f->dir, 720 - 90, 360 - 50);
    assert_int_equal(count_range(f->dir, 100, 200), 10);
    assert_int_equal(count_lat_range(f->dir, 100, 200), 0);
}

/* ---- record checksum: values pinned from the stores already written ------ */

/*
 * cs__msgstore_frame_check is cs_checksum64; these values were printed by
 * the store's earlier checksum implementation (before the fold), over the
 * xorshift bytes below. Any change would make every stored
 * record fail its check.
 */
static void test_frame_check_pinned(void **state)
{
    static const struct {
        size_t len;
        uint64_t check;
    } pinned[] = {
        {0, 0x414b111d991f4de5ull},   {1, 0x95ffe816a2c85d6cull},   {7, 0xcc790d91416986d5ull},
        {8, 0x7b5a984a60239d00ull},   {12, 0x9145a2ddc9c22c00ull},  {31, 0xf57db815d1c3390dull},
        {32, 0x48c4feda9a7abea2ull},  {33, 0xd3afc543b6c82cddull},  {63, 0x2eec2c5f2c7173feull},
        {64, 0x4f9881580fca96bdull},  {65, 0x19184a81ece66382ull},  {100, 0xbd85d4b9b8d2a686ull},
        {108, 0x08b06aaa35b7cdd2ull}, {255, 0xdd82e02abefedceaull}, {300, 0x1e7c31c106fa0633ull},
    };
    uint8_t buf[300];
    uint64_t x = 0x123456789abcdefull;

    (void)state;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++)
        assert_int_equal(cs__msgstore_frame_check(buf, pinned[i].len), pinned[i].check);
}

/* Two frames of "n" payload bytes each at buf, good checksums. */
static size_t two_frames(uint8_t *buf, uint32_t n)
{
    size_t at = 0;

    for (int f = 0; f < 2; f++) {
        uint8_t *p = buf + at + CS__FRAME_PAYLOAD;

        for (uint32_t i = 0; i < n; i++)
            p[i] = (uint8_t)(i * 7 + (uint32_t)f);
        memset(buf + at, 0, CS__FRAME_PAYLOAD);
        cs_wr_le32(buf + at + CS__FRAME_LEN, n);
        cs_wr_le64(buf + at + CS__FRAME_CHECK, cs__msgstore_frame_check(p, n));
        at += CS__FRAME_PAYLOAD + n;
    }
    return at;
}

/* Frames within the trusted bytes (checked by an earlier pass) are not
 * checksummed again; a frame reaching past them is, and so is every frame
 * when nothing is trusted. */
static void test_frames_trusted(void **state)
{
    uint8_t buf[2 * (CS__FRAME_PAYLOAD + 200)];
    const uint32_t n = 200;
    const size_t one = CS__FRAME_PAYLOAD + n;
    size_t len, used, need;

    (void)state;
    len = two_frames(buf, n);
    assert_int_equal(cs__msgfile_frames(buf, len, 0, &used, &need, NULL, NULL), CS__FR_OK);
    assert_int_equal(used, len);
    buf[CS__FRAME_PAYLOAD + 5] ^= 1; /* the first frame's payload changes */
    assert_int_equal(cs__msgfile_frames(buf, len, 0, &used, &need, NULL, NULL), CS__FR_BAD);
    assert_int_equal(used, 0);
    assert_int_equal(cs__msgfile_frames(buf, len, one - 1, &used, &need, NULL, NULL), CS__FR_BAD);
    assert_int_equal(cs__msgfile_frames(buf, len, one, &used, &need, NULL, NULL), CS__FR_OK);
    assert_int_equal(used, len);
    buf[one + CS__FRAME_PAYLOAD + 5] ^= 1; /* and the second's, past the trusted part */
    assert_int_equal(cs__msgfile_frames(buf, len, one, &used, &need, NULL, NULL), CS__FR_BAD);
    assert_int_equal(used, one);
    assert_int_equal(cs__msgfile_frames(buf, len, len, &used, &need, NULL, NULL), CS__FR_OK);
}

static int keep_measurement(void *ud, const cs_measurement *ms)
{
    cs_measurement *out = ud;

    *out = *ms;
    out->key = (cs_str){"", 0}; /* the reader's buffers go after the call */
    out->pair = NULL;
    return 0;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A measurement record written before the tail existed (byte 57 zero,
 * nothing after the key) reads with resp_last_ts_ns = resp_ts_ns,
 * nothing attached and its response at its own tap; the JSON says so too. */
static void test_measurement_without_tail(void **state)
{
    fixture *f = *state;
    uint8_t rec[CS__FRAME_PAYLOAD + CS__LAT_FIXED + 3 + 4];
    uint8_t *p = rec + CS__FRAME_PAYLOAD;
    cs_msgid id = CS_MSGID(CS_PKTREF(5, 24), 0);
    cs_measurement got;
    cs_latfilter lf;
    cs_msgreader *r;
    char path[256], *json = NULL;
    size_t json_len = 0;
    FILE *fp;

    memset(rec, 0, sizeof(rec));
    put_le(p + CS__LAT_ID, id, 8);
    put_le(p + CS__LAT_REQ_ID, id, 8);
    put_le(p + CS__LAT_RESP_ID, id + 1, 8);
    put_le(p + CS__LAT_REQ_TS, (uint64_t)T0, 8);
    put_le(p + CS__LAT_RESP_TS, (uint64_t)T0 + 5000, 8);
    put_le(p + CS__LAT_LATENCY, 5000, 8);
    put_le(p + CS__LAT_FLOW, 0x1234, 8);
    p[CS__LAT_PAIR_LEN] = 3; /* p[CS__LAT_PARTS] = 0: no tail */
    put_le(p + CS__LAT_KEY_LEN, 4, 4);
    p[CS__LAT_EP + CS__EP_IP_VERSION] = 4;
    p[CS__LAT_EP + CS__EP_IP_PROTO] = 6;
    put_le(p + CS__LAT_EP + CS__EP_TAP, 7, 2);
    memcpy(p + CS__LAT_FIXED, "dnsKEY1", 7);
    put_le(rec + CS__FRAME_LEN, sizeof(rec) - CS__FRAME_PAYLOAD, 4);
    put_le(rec + CS__FRAME_CHECK, cs__msgstore_frame_check(p, sizeof(rec) - CS__FRAME_PAYLOAD), 8);
    snprintf(path, sizeof(path), "%s/messages", f->dir);
    assert_int_equal(mkdir(path, 0755), 0);
    file_name(path, sizeof(path), f->dir, "lat", 5);
    fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite("cslat01\n", 1, CS__MSG_MAGIC_LEN, fp), CS__MSG_MAGIC_LEN);
    assert_int_equal(fwrite(rec, 1, sizeof(rec), fp), sizeof(rec));
    fclose(fp);

    memset(&got, 0x55, sizeof(got));
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    cs_latfilter_init(&lf);
    assert_int_equal(cs_msgreader_measurements(r, &lf, keep_measurement, &got), 0);
    cs_msgreader_close(r);
    assert_int_equal(got.id, id);
    assert_int_equal(got.resp_ts_ns, T0 + 5000);
    assert_int_equal(got.resp_last_ts_ns, T0 + 5000);
    assert_int_equal(got.attached, 0);
    assert_int_equal(got.attached_last_id, 0);
    assert_int_equal(got.ep.tap, 7);
    assert_int_equal(got.resp_tap, 7);
    got.pair = "dns";
    fp = open_memstream(&json, &json_len);
    cs_measurement_json(fp, &got);
    fclose(fp);
    assert_non_null(strstr(json, "\"resp_last_ts_ns\":1767623400000005000,\"attached\":0}"));
    free(json);
}

/* Encodes "ms", checks its parts and size, decodes it into "back". */
static size_t lat_roundtrip(const cs_measurement *ms, uint8_t want_parts, cs__recdec *dec,
                            uint8_t *buf, cs_measurement *back)
{
    size_t size, n;

    assert_int_equal(cs_msgstore_measurement_size(ms, &size), 0);
    n = cs_msgstore_encode_measurement(buf, ms);
    assert_int_equal(n, size);
    assert_int_equal(buf[CS__LAT_PARTS], want_parts);
    assert_int_equal(cs__decode_measurement(buf, n, dec, back), 0);
    return n;
}

/* resp_tap: a hop's (another tap than the request's) is stored as an
 * optional part and read back; one at the request's tap is written
 * without it, as before the part existed, and a record of that layout
 * (the part's bit clear) reads as resp_tap = ep.tap. A record whose part
 * is cut short is malformed. The JSON names both taps of a hop only. */
static void test_measurement_resp_tap(void **state)
{
    static uint8_t buf[4096];
    cs__recdec dec;
    cs_measurement ms, back;
    char key[32], *json = NULL;
    size_t n_hop, n_same, json_len = 0;
    FILE *fp;

    (void)state;
    memset(&dec, 0, sizeof(dec));
    gen_measurement(&ms, key, 5, 3);
    ms.pair = "hop";
    ms.ep.tap = 101;
    ms.resp_tap = 102;
    n_hop = lat_roundtrip(&ms, CS__LAT_PART_TAIL | CS__LAT_PART_RESP_TAP, &dec, buf, &back);
    assert_int_equal(back.ep.tap, 101);
    assert_int_equal(back.resp_tap, 102);
    assert_int_equal(cs_rd_le16(buf + n_hop - CS__LAT_RESP_TAP_SIZE), 102);
    assert_int_equal(cs__decode_measurement(buf, n_hop - 1, &dec, &back), -1);
    fp = open_memstream(&json, &json_len);
    cs_measurement_json(fp, &ms);
    fclose(fp);
    assert_non_null(strstr(json, "\"tap\":101,"));
    assert_non_null(strstr(json, ",\"req_tap\":101,\"resp_tap\":102}"));
    free(json);

    /* with a resp_type too: the tap comes after it */
    ms.resp_type = (cs_str){"data", 4};
    lat_roundtrip(&ms, CS__LAT_PART_TAIL | CS__LAT_PART_RESP_TYPE | CS__LAT_PART_RESP_TAP, &dec,
                  buf, &back);
    assert_int_equal(back.resp_tap, 102);
    assert_int_equal(back.resp_type.len, 4);
    assert_memory_equal(back.resp_type.p, "data", 4);
    ms.resp_type = (cs_str){NULL, 0};

    ms.resp_tap = 101; /* one tap: the old layout, byte for byte */
    n_same = lat_roundtrip(&ms, CS__LAT_PART_TAIL, &dec, buf, &back);
    assert_int_equal(n_same + CS__LAT_RESP_TAP_SIZE, n_hop);
    assert_int_equal(back.resp_tap, 101);
    put_le(buf + CS__LAT_EP + CS__EP_TAP, 9, 2); /* read as old: resp_tap follows its tap */
    assert_int_equal(cs__decode_measurement(buf, n_same, &dec, &back), 0);
    assert_int_equal(back.resp_tap, 9);
    json = NULL;
    fp = open_memstream(&json, &json_len);
    cs_measurement_json(fp, &back);
    fclose(fp);
    assert_null(strstr(json, "resp_tap"));
    free(json);
    cs__recdec_free(&dec);
}

/* The JSON of a measurement with attached messages names the last one. */
static void test_measurement_json_attached(void **state)
{
    cs_measurement ms;
    char *json = NULL;
    size_t json_len = 0;
    FILE *fp;

    (void)state;
    memset(&ms, 0, sizeof(ms));
    ms.pair = "dns";
    ms.key = (cs_str){"", 0};
    ms.id = ms.req_id = CS_MSGID(CS_PKTREF(5, 24), 0);
    ms.resp_id = CS_MSGID(CS_PKTREF(5, 200), 0);
    ms.resp_last_ts_ns = 42;
    ms.attached = 2;
    ms.attached_last_id = CS_MSGID(CS_PKTREF(5, 900), 1);
    ms.attached_last_ts_ns = 77;
    fp = open_memstream(&json, &json_len);
    cs_measurement_json(fp, &ms);
    fclose(fp);
    assert_non_null(strstr(json, "\"resp_last_ts_ns\":42,\"attached\":2,"
                                 "\"attached_last_msg\":\"m5.900.1\",\"attached_last_ts_ns\":77}"));
    free(json);
}

/* ---- lookups by key through the per-file key filters --------------------- */

static uint64_t count_key(const char *dir, const char *key, uint32_t a, uint32_t b)
{
    cs_msgfilter mf;

    cs_msgfilter_init(&mf);
    mf.key = key;
    if (a < b) {
        mf.after = T0 + (int64_t)a * 1000;
        mf.before = T0 + (int64_t)b * 1000;
    }
    return count_messages(dir, &mf);
}

static uint64_t count_lat_key(const char *dir, const char *key, int sort)
{
    cs_msgreader *r;
    cs_latfilter lf;
    seen *s = calloc(1, sizeof(*s));
    uint64_t n;

    cs_latfilter_init(&lf);
    lf.key = key;
    lf.sort = sort;
    lf.limit = sort == CS_LATSORT_STORE ? 0 : 10;
    assert_int_equal(cs_msgreader_open(dir, &r), 0);
    assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, s), 0);
    cs_msgreader_close(r);
    n = s->n;
    free(s);
    return n;
}

/* Messages of generated index "i" carry key "ORD<i>" unless i % 4 == 3. */
static uint64_t want_msgs_with_key(uint32_t i, uint32_t written)
{
    return i < written && i % 4 != 3;
}

/* Every key of [0, n) is found exactly as often as it was written, twice
 * (the first pass may build the filters, the second uses them). */
static void check_keys(const char *dir, uint32_t n, uint32_t step)
{
    char key[32];

    for (int pass = 0; pass < 2; pass++)
        for (uint32_t i = 0; i < n + 50; i += step) {
            snprintf(key, sizeof(key), "ORD%u", i);
            assert_int_equal(count_key(dir, key, 0, 0), want_msgs_with_key(i, n));
            assert_int_equal(count_lat_key(dir, key, pass ? CS_LATSORT_LATENCY : CS_LATSORT_STORE),
                             i < n && i % 2 == 0);
        }
}

typedef struct key_count {
    const char *key;
    uint64_t n;
} key_count;

static int on_key_count(void *ud, const cs_message *m)
{
    key_count *k = ud;

    k->n += m->key.len == strlen(k->key) && memcmp(m->key.p, k->key, m->key.len) == 0;
    return 0;
}

/*
 * Rewrites, in place, the key of the first message of the message file of
 * segment "seg" to "key" (same length), with a valid checksum, and puts
 * the file's size and mtime back: a file whose summary no longer tells the
 * truth about its keys, which only a lookup that skips it would miss.
 */
static void forge_first_key(const char *dir, uint32_t seg, const char *key)
{
    char path[256];
    uint8_t rec[4096];
    uint8_t *frame = rec + CS__MSG_MAGIC_LEN, *p = frame + CS__FRAME_PAYLOAD;
    struct stat st;
    struct timespec times[2];
    uint32_t n;
    size_t at;
    int fd;

    snprintf(path, sizeof(path), "%s/messages/msg-%08u.bin", dir, (unsigned)seg);
    assert_true((fd = open(path, O_RDWR)) >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(pread(fd, rec, sizeof(rec), 0), (ssize_t)sizeof(rec));
    n = cs_rd_le32(frame + CS__FRAME_LEN);
    at = CS__MSG_FIXED + p[CS__MSG_PROTO_LEN] + cs_rd_le16(p + CS__MSG_TYPE_LEN);
    assert_int_equal(cs_rd_le32(p + CS__MSG_KEY_LEN), strlen(key));
    memcpy(p + at, key, strlen(key));
    cs_wr_le64(frame + CS__FRAME_CHECK, cs__msgstore_frame_check(p, n));
    assert_int_equal(pwrite(fd, rec, (size_t)(p - rec) + n, 0), (ssize_t)((size_t)(p - rec) + n));
    times[0] = st.st_atim;
    times[1] = st.st_mtim;
    assert_int_equal(futimens(fd, times), 0);
    close(fd);
}

static void test_key_filters(void **state)
{
    fixture *f = *state;
    cs_msgreader *r;
    cs_msgfilter mf;
    key_count kc = {"ORD300", 0};

    write_blocks(f->dir, 0, 450); /* 5 files of 100 keys (the last one 50) */
    check_keys(f->dir, 450, 7);
    check_info(f->dir, 450, 225); /* summaries from the info pass too */
    check_keys(f->dir, 450, 11);
    assert_int_equal(count_key(f->dir, "ORD120", 100, 200), 1);
    assert_int_equal(count_key(f->dir, "ORD120", 200, 300), 0);
    assert_int_equal(count_key(f->dir, "nope", 0, 0), 0);
    /* Appends: the tail of segment 5 (keys 450..499) and new files; the
     * filters are extended by the tail reads, never rebuilt. */
    write_blocks(f->dir, 450, 720);
    check_keys(f->dir, 720, 5);
    check_info(f->dir, 720, 360);
    check_keys(f->dir, 720, 3);
    /* The filter of segment 2 (keys 100..199) knows no ORD300: after its
     * first key is forged to ORD300 behind the summary's back, a lookup
     * still finds only the real one in segment 4, so segment 2 was not
     * read; a scan without a key sees both. */
    forge_first_key(f->dir, 2, "ORD300");
    assert_int_equal(count_key(f->dir, "ORD300", 0, 0), 1);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    cs_msgfilter_init(&mf);
    assert_int_equal(cs_msgreader_messages(r, &mf, on_key_count, &kc), 0);
    cs_msgreader_close(r);
    assert_int_equal(kc.n, 2);
}

/* Puts messages [from, to) (and measurements for even i) into segment 1
 * through the open writer "w", then flushes: what a capturing daemon does
 * between two reads. */
static void put_live(cs_msgstore *w, uint32_t from, uint32_t to)
{
    genmsg g;
    cs_measurement ms;
    char key[32];

    for (uint32_t i = from; i < to; i++) {
        gen_message(&g, i, 1);
        assert_int_equal(cs_msgstore_put_message(w, &g.m), 0);
        if (i % 2 == 0) {
            gen_measurement(&ms, key, i, 1);
            assert_int_equal(cs_msgstore_put_measurement(w, &ms), 0);
        }
    }
    assert_int_equal(cs_msgstore_flush(w), 0);
}

/*
 * A writer keeps appending to the file it has open while readers ask, by
 * time range and by key, between its flushes; each read's first look at a
 * grown file brings the file's summary up to date from its tail. Every
 * flushed record must be found by every filter on every read, the first
 * read after a flush included.
 */
static void test_reads_between_appends(void **state)
{
    fixture *f = *state;
    cs_msgstore *w;
    char key[32];

    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    put_live(w, 0, 40);
    assert_int_equal(count_range(f->dir, 0, 1000), 40); /* summaries made */
    assert_int_equal(count_lat_range(f->dir, 0, 1000), 3);
    for (uint32_t n = 40; n < 400; n += 40) {
        put_live(w, n, n + 40);
        snprintf(key, sizeof(key), "ORD%u", n + 4);
        assert_int_equal(count_key(f->dir, key, 0, 0), 1);
        put_live(w, n + 40, n + 40); /* a flush of nothing */
        assert_int_equal(count_range(f->dir, n, n + 40), 40);
        put_live(w, n + 40, n + 40);
        assert_int_equal(count_lat_range(f->dir, n + 2, n + 5), 2);
        assert_int_equal(count_lat_key(f->dir, key, CS_LATSORT_STORE), 1);
    }
    for (uint32_t n = 400; n < 480; n += 20) {
        put_live(w, n, n + 20);
        assert_int_equal(count_lat_range(f->dir, n, n + 20), 3);
        put_live(w, n + 20, n + 20);
        snprintf(key, sizeof(key), "ORD%u", n + 8);
        assert_int_equal(count_lat_key(f->dir, key, CS_LATSORT_LATENCY), 1);
    }
    assert_int_equal(cs_msgstore_close(w), 0);
    check_info(f->dir, 480, 240);
}

/* One file of many keys (several filter blocks): no key is ever missed. */
static void test_key_filter_big_file(void **state)
{
    fixture *f = *state;
    cs_msgstore *w;
    genmsg g;
    char key[32];
    uint64_t found = 0, want = 0;

    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    for (uint32_t i = 0; i < 20000; i++) {
        gen_message(&g, i, 1);
        assert_int_equal(cs_msgstore_put_message(w, &g.m), 0);
    }
    assert_int_equal(cs_msgstore_close(w), 0);
    check_info(f->dir, 20000, 0);
    for (uint32_t i = 0; i < 20000; i += 397) {
        snprintf(key, sizeof(key), "ORD%u", i);
        found += count_key(f->dir, key, 0, 0);
        want += want_msgs_with_key(i, 20000);
    }
    assert_true(want > 30);
    assert_int_equal(found, want);
}

/* ---- segment groups (a store of 4 partitions) ------------------------------ */

/* A store made by the packet store with 4 flow partitions: segments 1..4
 * are group 1, 5..8 group 5, 9..12 group 9, ... */
static int setup_p4(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    cs_store_opts o = {.flags = CS_STORE_CREATE | CS_STORE_WRITE, .partitions = 4};
    cs_store *st;

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_msgstore.XXXXXX");
    if (mkdtemp(f->dir) == NULL || cs_store_open(f->dir, &o, &st) < 0 || cs_store_close(st) < 0)
        return -1;
    *state = f;
    return 0;
}

static int file_exists(const char *dir, const char *kind, uint32_t id)
{
    char path[256];

    file_name(path, sizeof(path), dir, kind, id);
    return access(path, F_OK) == 0;
}

/* The segment write_range() gives record "i" with "nseg" segments. */
static uint32_t range_seg(uint32_t i, uint32_t nseg)
{
    return i % 50 == 49 ? 0 : 1 + i % nseg;
}

/* The ids write_range(0, n, nseg) stores, of kind 'm', 'l' or 'u', in the
 * order a reader of 4 partitions must return them: file 0, then each group
 * in turn, each in the order written. Returns how many. */
static uint64_t want_group_order(uint64_t *ids, uint32_t n, uint32_t nseg, char kind)
{
    uint64_t k = 0;

    for (uint32_t group = 0; group <= nseg; group = group ? group + 4 : 1) {
        for (uint32_t i = 0; i < n; i++) {
            uint32_t seg = range_seg(i, nseg);
            genmsg g;

            if (cs_store_group_of(seg, 4) != group || (kind == 'l' && i % 2) ||
                (kind == 'u' && i % 10 != 1))
                continue;
            gen_message(&g, i, seg);
            ids[k++] = g.m.id;
        }
    }
    return k;
}

/* Records of segments 1..8 land in two files per kind (groups 1 and 5) and
 * read back group by group in the order they were written. */
static void test_groups_one_file_in_order(void **state)
{
    fixture *f = *state;
    static const char *const kinds[3] = {"msg", "lat", "unm"};
    uint64_t *want = calloc(4096, sizeof(*want));
    seen *s = calloc(1, sizeof(*s));
    cs_msgreader *r;
    cs_msgfilter mf;
    cs_latfilter lf;
    cs_msgstore_info info;
    uint64_t n;

    assert_int_equal(cs_store_dir_partitions(f->dir), 4);
    write_range(f->dir, 0, 400, 8);
    /* Files 1 and 5, and 0 for messages (top-bit ids: i % 50 == 49, all odd,
     * so no measurement or unmatched record has one). */
    for (int k = 0; k < 3; k++) {
        for (uint32_t id = 0; id <= 9; id++)
            assert_int_equal(file_exists(f->dir, kinds[k], id),
                             id == 1 || id == 5 || (id == 0 && k == 0));
    }
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    cs_msgfilter_init(&mf);
    assert_int_equal(cs_msgreader_messages(r, &mf, on_msg, s), 0);
    n = want_group_order(want, 400, 8, 'm');
    assert_int_equal(s->n, 400);
    assert_int_equal(n, 400);
    assert_memory_equal(s->ids, want, n * sizeof(*want));

    memset(s, 0, sizeof(*s));
    cs_latfilter_init(&lf);
    assert_int_equal(cs_msgreader_measurements(r, &lf, on_lat, s), 0);
    n = want_group_order(want, 400, 8, 'l');
    assert_int_equal(s->n, 200);
    assert_int_equal(n, 200);
    assert_memory_equal(s->ids, want, n * sizeof(*want));

    memset(s, 0, sizeof(*s));
    assert_int_equal(cs_msgreader_unmatched(r, &mf, on_unm, s), 0);
    n = want_group_order(want, 400, 8, 'u');
    assert_int_equal(s->n, 40);
    assert_int_equal(n, 40);
    assert_memory_equal(s->ids, want, n * sizeof(*want));

    assert_int_equal(cs_msgreader_info(r, &info), 0);
    assert_int_equal(info.files, 3 + 2 + 2);
    assert_int_equal(info.messages, 400);
    cs_msgreader_close(r);
    free(s);
    free(want);
}

/* Lookups by id open the group file, for ids of every partition. */
static void test_groups_lookup(void **state)
{
    fixture *f = *state;
    cs_msgreader *r;
    genmsg g;
    cs_msgid got;

    write_range(f->dir, 0, 400, 8);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    for (uint32_t i = 100; i < 116; i++) {
        uint32_t seg = range_seg(i, 8);

        gen_message(&g, i, seg);
        got = 0;
        assert_int_equal(cs_msgreader_find_message(r, g.m.id, find_cb, &got), 0);
        assert_int_equal(got, g.m.id);
        got = 0;
        assert_int_equal(cs_msgreader_find_measurement(r, g.m.id, NULL, find_lat_cb, &got),
                         i % 2 ? CS_ENOTFOUND : 0);
        assert_int_equal(got, i % 2 ? 0 : g.m.id);
    }
    /* An id of a stored group that was never written, and one of group 9. */
    assert_int_equal(cs_msgreader_find_message(r, CS_MSGID(CS_PKTREF(7, 11), 0), find_cb, &got),
                     CS_ENOTFOUND);
    gen_message(&g, 100, 9);
    assert_int_equal(cs_msgreader_find_message(r, g.m.id, find_cb, &got), CS_ENOTFOUND);
    cs_msgreader_close(r);
}

/* Messages read back per group file: [0] file 0, [1] group 1, [2] group 5,
 * [3] group 9, [4] others. */
static void count_per_group(const char *dir, uint64_t counts[5])
{
    seen *s = calloc(1, sizeof(*s));
    cs_msgfilter mf;
    cs_msgreader *r;

    memset(counts, 0, 5 * sizeof(*counts));
    cs_msgfilter_init(&mf);
    assert_int_equal(cs_msgreader_open(dir, &r), 0);
    assert_int_equal(cs_msgreader_messages(r, &mf, on_msg, s), 0);
    cs_msgreader_close(r);
    for (uint64_t k = 0; k < s->n; k++) {
        uint32_t g = cs_msgstore_file_seg(s->ids[k], 4);

        counts[g == 0 ? 0 : g == 1 ? 1 : g == 5 ? 2 : g == 9 ? 3 : 4]++;
    }
    free(s);
}

/* replace_range(6, 7) replaces all of group 5 (segments 5..8) and nothing
 * else; a group that gets no new records loses its files. */
static void test_groups_replace_range(void **state)
{
    fixture *f = *state;
    uint64_t before[5], after[5], orig[5] = {0};
    cs_msgstore *w;
    cs_measurement ms;
    char key[32];
    genmsg g;

    write_range(f->dir, 0, 600, 12);
    for (uint32_t i = 0; i < 600; i++) {
        uint32_t grp = cs_store_group_of(range_seg(i, 12), 4);
        orig[grp == 0 ? 0 : grp == 1 ? 1 : grp == 5 ? 2 : grp == 9 ? 3 : 4]++;
    }
    count_per_group(f->dir, before);
    assert_memory_equal(before, orig, sizeof(orig));
    assert_true(orig[2] > 100);

    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    assert_int_equal(cs_msgstore_replace_range(w, 6, 7), 0);
    for (uint32_t i = 5000; i < 5005; i++) { /* segments 5 and 8: outside 6..7, in its group */
        gen_message(&g, i, i % 2 ? 5 : 8);
        assert_int_equal(cs_msgstore_put_message(w, &g.m), 0);
    }
    gen_measurement(&ms, key, 5000, 6);
    assert_int_equal(cs_msgstore_put_measurement(w, &ms), 0);
    assert_int_equal(cs_msgstore_close(w), 0);
    count_per_group(f->dir, after);
    assert_int_equal(after[0], orig[0]);
    assert_int_equal(after[1], orig[1]);
    assert_int_equal(after[2], 5);
    assert_int_equal(after[3], orig[3]);
    assert_int_equal(after[4], 0);
    assert_true(file_exists(f->dir, "lat", 5));
    assert_false(file_exists(f->dir, "unm", 5)); /* no new unmatched in group 5 */
    assert_true(file_exists(f->dir, "unm", 1));
    for (uint32_t id = 6; id <= 8; id++)
        assert_false(file_exists(f->dir, "msg", id) || file_exists(f->dir, "lat", id));

    /* Group 9 replaced by nothing: its files go, the others stay. */
    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    assert_int_equal(cs_msgstore_replace_range(w, 9, 12), 0);
    assert_int_equal(cs_msgstore_close(w), 0);
    assert_false(file_exists(f->dir, "msg", 9) || file_exists(f->dir, "lat", 9) ||
                 file_exists(f->dir, "unm", 9));
    count_per_group(f->dir, after);
    assert_int_equal(after[1], orig[1]);
    assert_int_equal(after[2], 5);
    assert_int_equal(after[3], 0);
}

/* Writes message and measurement "i" of segment "seg" and flushes. */
static void put_pair(cs_msgstore *w, uint32_t i, uint32_t seg)
{
    cs_measurement ms;
    char key[32];
    genmsg g;

    gen_message(&g, i, seg);
    assert_int_equal(cs_msgstore_put_message(w, &g.m), 0);
    gen_measurement(&ms, key, i, seg);
    assert_int_equal(cs_msgstore_put_measurement(w, &ms), 0);
    assert_int_equal(cs_msgstore_flush(w), 0);
}

/* Retention over budget keeps file 0, the newest group file and the one
 * before it in the directory (group 9 when group 17 follows it with no
 * group 13 in between), and deletes the rest whole. */
static void test_groups_retention(void **state)
{
    fixture *f = *state;
    static const uint32_t segs[4] = {2, 7, 12, 19}; /* groups 1, 5, 9, 17 */
    cs_msgreader *r;
    cs_msgstore *w;
    cs_msgid got = 0;
    genmsg g;

    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    cs_msgstore_set_budget(w, 1);
    put_pair(w, 1, 0);
    for (int k = 0; k < 4; k++) {
        uint32_t grp = cs_store_group_of(segs[k], 4);
        uint32_t prev = k ? cs_store_group_of(segs[k - 1], 4) : 0;

        put_pair(w, 10 + (uint32_t)k, segs[k]);
        for (int j = 0; j < 4; j++) {
            uint32_t old = cs_store_group_of(segs[j], 4);
            int kept = old == grp || old == prev;

            assert_int_equal(file_exists(f->dir, "msg", old), kept);
            assert_int_equal(file_exists(f->dir, "lat", old), kept);
        }
        assert_true(file_exists(f->dir, "msg", 0));
    }
    assert_false(file_exists(f->dir, "msg", 13));
    /* A late measurement of group 9 still finds its file. */
    put_pair(w, 20, 10);
    assert_true(file_exists(f->dir, "lat", 9));
    assert_int_equal(cs_msgstore_close(w), 0);
    assert_int_equal(cs_msgreader_open(f->dir, &r), 0);
    gen_message(&g, 20, 10);
    assert_int_equal(cs_msgreader_find_measurement(r, g.m.id, NULL, find_lat_cb, &got), 0);
    assert_int_equal(got, g.m.id);
    gen_message(&g, 12, 12);
    assert_int_equal(cs_msgreader_find_message(r, g.m.id, find_cb, &got), 0);
    assert_int_equal(got, g.m.id);
    cs_msgreader_close(r);
}

/* ---- one serialization: the layout pinned, records encoded ahead -------- */

static uint8_t rec_buf[1 << 16];

/* Puts message "m" (unmatched of "kind", 0 for a message) directly, or
 * (if "encoded") as bytes from cs_msgstore_encode_message, the way the
 * pipeline's writer thread stores it. */
static void put_message_as(cs_msgstore *w, const cs_message *m, int kind, int encoded)
{
    size_t bound = 0, n;

    if (!encoded) {
        assert_int_equal(
            kind ? cs_msgstore_put_unmatched(w, m, kind) : cs_msgstore_put_message(w, m), 0);
        return;
    }
    assert_int_equal(cs_msgstore_message_bound(m, &bound), 0);
    assert_true(bound <= sizeof(rec_buf));
    memset(rec_buf, 0xa5, sizeof(rec_buf));
    n = cs_msgstore_encode_message(rec_buf, m, kind);
    assert_true(n >= CS__MSG_FIXED && n <= bound);
    assert_int_equal(cs_msgstore_put_encoded(w, kind ? 'u' : 'm', rec_buf, n), 0);
}

static void put_measurement_as(cs_msgstore *w, const cs_measurement *ms, int encoded)
{
    size_t size = 0;

    if (!encoded) {
        assert_int_equal(cs_msgstore_put_measurement(w, ms), 0);
        return;
    }
    assert_int_equal(cs_msgstore_measurement_size(ms, &size), 0);
    assert_true(size <= sizeof(rec_buf));
    memset(rec_buf, 0xa5, sizeof(rec_buf));
    assert_int_equal(cs_msgstore_encode_measurement(rec_buf, ms), size);
    assert_int_equal(cs_msgstore_put_encoded(w, 'l', rec_buf, size), 0);
}

/* Writes 8 messages, 8 measurements and 8 unmatched reports of packet
 * segment 3 into the store at "dir" (directly, or "encoded"). */
static void write_fixed_set(const char *dir, int encoded)
{
    cs_msgstore *w;
    cs_measurement ms;
    genmsg g;
    char key[32];

    assert_int_equal(cs_msgstore_open(dir, &w), 0);
    for (uint32_t i = 0; i < 8; i++) {
        gen_message(&g, i, 3);
        put_message_as(w, &g.m, 0, encoded);
        gen_measurement(&ms, key, i, 3);
        put_measurement_as(w, &ms, encoded);
        gen_message(&g, i + 100, 3);
        put_message_as(w, &g.m, i % 2 ? CS_UNMATCHED_RESPONSE : CS_UNMATCHED_REQUEST, encoded);
    }
    assert_int_equal(cs_msgstore_close(w), 0);
}

/* Reads STORE/messages/KIND-00000003.bin of "dir" into "buf"; its size. */
static size_t read_seg3_file(const char *dir, const char *kind, uint8_t *buf, size_t cap)
{
    char path[256];
    FILE *fp;
    size_t n;

    snprintf(path, sizeof(path), "%s/messages/%s-00000003.bin", dir, kind);
    assert_non_null(fp = fopen(path, "rb"));
    n = fread(buf, 1, cap, fp);
    fclose(fp);
    assert_true(n < cap);
    return n;
}

/*
 * The bytes the writer puts on disk are those stores were written with:
 * the sizes and cs_checksum64 (seed 0) of the three files below were
 * printed by the message store before its split into files by job (a
 * program linked with that build wrote the same records). And the named
 * offsets of msgstore_int.h find the fields where they are.
 */
static void test_layout_pinned(void **state)
{
    static const struct {
        const char *kind;
        size_t len;
        uint64_t check;
    } pinned[] = {
        {"msg", 1291, 0xba9234e799256805ull},
        {"lat", 1283, 0x836598e469364f0full},
        {"unm", 1331, 0x5da656381ae10d0aull},
    };
    fixture *f = *state;
    static uint8_t buf[1 << 16];
    const uint8_t *p = buf + CS__MSG_MAGIC_LEN + CS__FRAME_PAYLOAD;
    cs_measurement ms;
    genmsg g;
    char key[32];
    size_t n;

    write_fixed_set(f->dir, 0);
    for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
        n = read_seg3_file(f->dir, pinned[i].kind, buf, sizeof(buf));
        assert_int_equal(n, pinned[i].len);
        assert_int_equal(cs_checksum64(buf, n, 0), pinned[i].check);
    }
    /* the first record of each file, field by field */
    gen_message(&g, 0, 3);
    read_seg3_file(f->dir, "msg", buf, sizeof(buf));
    n = CS__MSG_FIXED + strlen("fix") + g.m.type.len + g.m.key.len + g.m.n_refs * CS__MSG_REF_SIZE;
    for (size_t i = 0; i < g.m.n_fields; i++) /* one-byte varints */
        n += 2 + g.kv[i].name.len + g.kv[i].val.len;
    assert_int_equal(cs_rd_le32(buf + CS__MSG_MAGIC_LEN + CS__FRAME_LEN), n);
    assert_int_equal(cs_rd_le64(p + CS__MSG_ID), g.m.id);
    assert_int_equal((int64_t)cs_rd_le64(p + CS__MSG_TS), g.m.ts_ns);
    assert_int_equal((int64_t)cs_rd_le64(p + CS__MSG_LAST_TS), g.m.last_ts_ns);
    assert_int_equal(cs_rd_le64(p + CS__MSG_FLOW), g.m.flow_id);
    assert_int_equal(cs_rd_le32(p + CS__MSG_LEN), g.m.len);
    assert_int_equal(p[CS__MSG_PROTO_LEN], 3);
    assert_int_equal(cs_rd_le16(p + CS__MSG_TYPE_LEN), 1);
    assert_int_equal(cs_rd_le32(p + CS__MSG_N_FIELDS), 4);
    assert_int_equal(p[CS__MSG_UNM_KIND], 0);
    assert_int_equal(cs_rd_le16(p + CS__MSG_EP + CS__EP_PORT_B), 9878);
    assert_memory_equal(p + CS__MSG_EP + CS__EP_ADDR_B, g.m.ep.addr_b, CS__EP_ADDR_SIZE);
    assert_memory_equal(p + CS__MSG_FIXED, "fixD", 4);
    gen_measurement(&ms, key, 0, 3);
    read_seg3_file(f->dir, "lat", buf, sizeof(buf));
    assert_int_equal((int64_t)cs_rd_le64(p + CS__LAT_LATENCY), ms.latency_ns);
    assert_int_equal(cs_rd_le64(p + CS__LAT_RESP_ID), ms.resp_id);
    assert_int_equal(p[CS__LAT_PAIR_LEN], 3);
    assert_int_equal(p[CS__LAT_PARTS], CS__LAT_PART_TAIL);
    assert_int_equal(cs_rd_le32(p + CS__LAT_KEY_LEN), ms.key.len);
    p += CS__LAT_FIXED + 3 + ms.key.len;
    assert_int_equal((int64_t)cs_rd_le64(p + CS__LAT_TAIL_RESP_LAST), ms.resp_last_ts_ns);
    assert_int_equal(cs_rd_le32(p + CS__LAT_TAIL_ATTACHED), ms.attached);
    assert_int_equal((int64_t)cs_rd_le64(p + CS__LAT_TAIL_ATTACHED_TS), ms.attached_last_ts_ns);
    read_seg3_file(f->dir, "unm", buf, sizeof(buf));
    p = buf + CS__MSG_MAGIC_LEN + CS__FRAME_PAYLOAD;
    assert_int_equal(p[CS__MSG_UNM_KIND], CS_UNMATCHED_REQUEST);
}

/* Records encoded ahead (the pipeline's writer thread) and put as bytes
 * make the very files the writer makes from the structs. */
static void test_encoded_same_bytes(void **state)
{
    static const char *const kinds[] = {"msg", "lat", "unm"};
    static uint8_t a[1 << 16], b[1 << 16];
    fixture *f = *state;
    char da[128], db[128];
    size_t na, nb;

    snprintf(da, sizeof(da), "%s/direct", f->dir);
    snprintf(db, sizeof(db), "%s/encoded", f->dir);
    assert_int_equal(mkdir(da, 0755), 0);
    assert_int_equal(mkdir(db, 0755), 0);
    write_fixed_set(da, 0);
    write_fixed_set(db, 1);
    for (int k = 0; k < 3; k++) {
        na = read_seg3_file(da, kinds[k], a, sizeof(a));
        nb = read_seg3_file(db, kinds[k], b, sizeof(b));
        assert_true(na > CS__MSG_MAGIC_LEN);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
    }
}

/* cs_msgstore_put_encoded refuses what is not a record, and the writer
 * keeps that error; records too large to store are refused when sized. */
static void test_put_encoded_rejects(void **state)
{
    fixture *f = *state;
    cs_msgstore *w;
    cs_measurement ms;
    genmsg g;
    char key[32], pair[300];
    size_t n = 0;

    gen_message(&g, 1, 3);
    assert_int_equal(cs_msgstore_message_bound(&g.m, &n), 0);
    n = cs_msgstore_encode_message(rec_buf, &g.m, 0);
    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    assert_int_equal(cs_msgstore_put_encoded(w, 'x', rec_buf, n), CS_EINVAL);
    assert_int_equal(cs_msgstore_put_encoded(w, 'm', rec_buf, CS__MSG_FIXED - 1), CS_EINVAL);
    assert_int_equal(cs_msgstore_put_encoded(w, 'l', rec_buf, CS__LAT_FIXED - 1), CS_EINVAL);
    assert_int_equal(cs_msgstore_put_encoded(w, 'm', rec_buf, CS__MSG_REC_MAX + 1), CS_EINVAL);
    assert_int_equal(cs_msgstore_put_encoded(w, 'm', rec_buf, n), 0);
    assert_int_equal(cs_msgstore_close(w), CS_EINVAL);
    memset(pair, 'p', sizeof(pair) - 1);
    pair[sizeof(pair) - 1] = '\0';
    gen_measurement(&ms, key, 1, 3);
    ms.pair = pair;
    assert_int_equal(cs_msgstore_measurement_size(&ms, &n), CS_ERANGE);
    g.m.proto = pair;
    assert_int_equal(cs_msgstore_message_bound(&g.m, &n), CS_ERANGE);
}

/* Keeps a copy of the one message read, its error reason and JSON. */
typedef struct one_msg {
    int n;
    cs_msgid id;
    char error[64];
    char json[4096];
} one_msg;

static int keep_one_message(void *ud, const cs_message *m)
{
    one_msg *o = ud;
    FILE *fp = fmemopen(o->json, sizeof(o->json), "w");

    o->n++;
    o->id = m->id;
    assert_true(m->error.len < sizeof(o->error));
    if (m->error.len > 0) /* (no error: p may be NULL) */
        memcpy(o->error, m->error.p, m->error.len);
    o->error[m->error.len] = '\0';
    cs_message_json(fp, m);
    fclose(fp);
    return 0;
}

/* Makes "dir" a store (its marker file), empty. */
static void make_store_dir(const char *dir)
{
    char marker[256];
    FILE *fp;

    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(marker, sizeof(marker), "%s/capstream.store", dir);
    assert_non_null(fp = fopen(marker, "w"));
    fputs("capstream store\n", fp);
    fclose(fp);
}

/* Reads the messages of the store at "dir" into "o": "want" of them. */
static void read_one_message(const char *dir, one_msg *o, int want)
{
    cs_msgreader *r;
    cs_msgfilter mf;

    memset(o, 0, sizeof(*o));
    assert_int_equal(cs_msgreader_open(dir, &r), 0);
    cs_msgfilter_init(&mf);
    cs_msgreader_messages(r, &mf, keep_one_message, o);
    cs_msgreader_close(r);
    assert_int_equal(o->n, want);
}

/*
 * A message's error reason is stored (flagged in CS__MSG_PARTS, after the
 * key), read back, and printed as "error" in its JSON; a message without
 * one is written as before (parts 0) and a record of the old layout (parts
 * 0, nothing after the key) reads as a message without an error, with no
 * "error" in its JSON. Unknown part bits make a record unreadable.
 */
static void test_message_error_stored(void **state)
{
    fixture *f = *state;
    static uint8_t buf[1 << 16];
    const uint8_t *p = buf + CS__MSG_MAGIC_LEN + CS__FRAME_PAYLOAD;
    char sub[160], path[256];
    cs_msgstore *w;
    one_msg o;
    genmsg g;
    FILE *fp;
    size_t n, at;

    /* with an error: parts says so, the reason follows the key */
    snprintf(sub, sizeof(sub), "%s/err", f->dir);
    make_store_dir(sub);
    gen_message(&g, 3, 3);
    g.m.error = (cs_str){"status 5xx", 10};
    assert_int_equal(cs_msgstore_open(sub, &w), 0);
    assert_int_equal(cs_msgstore_put_message(w, &g.m), 0);
    assert_int_equal(cs_msgstore_close(w), 0);
    read_seg3_file(sub, "msg", buf, sizeof(buf));
    assert_int_equal(cs_rd_le16(p + CS__MSG_PARTS), CS__MSG_PART_ERROR);
    at = CS__MSG_FIXED + p[CS__MSG_PROTO_LEN] + cs_rd_le16(p + CS__MSG_TYPE_LEN) + g.m.key.len;
    assert_int_equal(cs_rd_le16(p + at), 10);
    assert_memory_equal(p + at + CS__MSG_ERROR_LEN_SIZE, "status 5xx", 10);
    read_one_message(sub, &o, 1);
    assert_int_equal(o.id, g.m.id);
    assert_string_equal(o.error, "status 5xx");
    assert_non_null(strstr(o.json, ",\"error\":\"status 5xx\","));

    /* without: parts 0, and such a record (the old layout) reads as before */
    snprintf(sub, sizeof(sub), "%s/noerr", f->dir);
    make_store_dir(sub);
    gen_message(&g, 3, 3);
    assert_int_equal(cs_msgstore_open(sub, &w), 0);
    assert_int_equal(cs_msgstore_put_message(w, &g.m), 0);
    assert_int_equal(cs_msgstore_close(w), 0);
    n = read_seg3_file(sub, "msg", buf, sizeof(buf));
    assert_int_equal(cs_rd_le16(p + CS__MSG_PARTS), 0);
    read_one_message(sub, &o, 1);
    assert_int_equal(o.id, g.m.id);
    assert_string_equal(o.error, "");
    assert_null(strstr(o.json, "\"error\""));

    /* an unknown part bit: the record is not misread as a message */
    buf[CS__MSG_MAGIC_LEN + CS__FRAME_PAYLOAD + CS__MSG_PARTS] = 0x02;
    cs_wr_le64(buf + CS__MSG_MAGIC_LEN + CS__FRAME_CHECK,
               cs__msgstore_frame_check(p, n - CS__MSG_MAGIC_LEN - CS__FRAME_PAYLOAD));
    file_name(path, sizeof(path), sub, "msg", 3);
    assert_non_null(fp = fopen(path, "wb"));
    assert_int_equal(fwrite(buf, 1, n, fp), n);
    fclose(fp);
    read_one_message(sub, &o, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_and_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_measurements, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_by_pair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_segments_lru, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heads_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sorted_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sorted_from_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_info_and_ranges_incremental, setup, teardown),
        cmocka_unit_test(test_frame_check_pinned),
        cmocka_unit_test(test_frames_trusted),
        cmocka_unit_test_setup_teardown(test_measurement_without_tail, setup, teardown),
        cmocka_unit_test(test_measurement_json_attached),
        cmocka_unit_test(test_measurement_resp_tap),
        cmocka_unit_test_setup_teardown(test_key_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_filter_big_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_between_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups_one_file_in_order, setup_p4, teardown),
        cmocka_unit_test_setup_teardown(test_groups_lookup, setup_p4, teardown),
        cmocka_unit_test_setup_teardown(test_groups_replace_range, setup_p4, teardown),
        cmocka_unit_test_setup_teardown(test_groups_retention, setup_p4, teardown),
        cmocka_unit_test_setup_teardown(test_layout_pinned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encoded_same_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_encoded_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_error_stored, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

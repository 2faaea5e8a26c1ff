/*
 * api_records.c - the HTTP API's lists of stored records: measurements
 * (paged, sorted by time, latency or store order, brief or whole), latency
 * per session, messages, gaps, the feeds table, and one measurement or
 * message with the packets that carried it (api_int.h, docs/api.md).
 *
 * /api/v1/gaps lists the stored sequence gaps (msgstore.h cs_gap, one JSON
 * object each as cs_gap_json writes it), paged like messages.
 * /api/v1/feeds lists one summary per MoldUDP64 feed and tap (store/feeds.h,
 * as cs_feed_json writes it, the objects of `capstream feeds --json`), not
 * paged: one object per feed and tap, a few per store.
 *
 * A list is written as the store yields it: the reader skips the offset
 * where it can (sorted pages cost memory for offset + limit small entries,
 * not for every measurement of the range) and stops one record after the
 * limit, which says whether there is a next page.
 */
#include "server/api_int.h"

#include "core/error.h"
#include "core/sort.h"
#include "packet/dissect.h"
#include "record/json.h"
#include "store/feeds.h"
#include "store/feeds_cache.h"
#include "store/msgstore.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- measurements and messages ----------------------------------------- */

typedef struct page_ctx {
    FILE *f;
    uint64_t seen, written, offset, limit;
    int more;
    int brief; /* measurements: brief=1 */
} page_ctx;

/* Skips "offset" records, writes "limit", then notes there are more and
 * stops. */
static int page_take(page_ctx *c)
{
    if (c->seen++ < c->offset)
        return 0;
    if (c->written == c->limit) {
        c->more = 1;
        return 1;
    }
    fputs(c->written++ ? "," : "", c->f);
    return -1; /* write this one */
}

/* brief=1: what a chart's point needs (a fifth of the bytes of the whole). */
static void measurement_brief_json(FILE *f, const cs_measurement *ms)
{
    char id[40];

    fprintf(f, "{\"id\":\"%s\",\"pair\":", cs_id_format('l', ms->id, id));
    cs__json_str(f, ms->pair);
    fputs(",\"key\":", f);
    cs_msgstore_json_string(f, ms->key.p, ms->key.len);
    fprintf(f, ",\"req_ts_ns\":%lld,\"latency_ns\":%lld}", (long long)ms->req_ts_ns,
            (long long)ms->latency_ns);
}

static int page_measurement(void *ud, const cs_measurement *ms)
{
    page_ctx *c = ud;
    int rc = page_take(c);

    if (rc >= 0)
        return rc;
    if (c->brief)
        measurement_brief_json(c->f, ms);
    else
        cs_measurement_json(c->f, ms);
    return 0;
}

static int page_message(void *ud, const cs_message *m)
{
    page_ctx *c = ud;
    int rc = page_take(c);

    if (rc >= 0)
        return rc;
    cs_message_json(c->f, m);
    return 0;
}

static void page_end(FILE *f, const page_ctx *c)
{
    fprintf(f, "],\"offset\":%" PRIu64 ",\"limit\":%" PRIu64 ",\"count\":%" PRIu64 ",\"more\":%s",
            c->offset, c->limit, c->written, c->more ? "true" : "false");
}

/* ,"total":N: the measurements matching "lf" (its offset and limit aside),
 * counted from the store's per-pair latency histograms. */
static int total_json(FILE *f, cs_msgreader *r, const cs_latfilter *lf)
{
    cs_latstats *st = NULL;
    size_t n = 0;
    uint64_t total = 0;
    int rc = cs_msgreader_lat_stats(r, lf, CS_LATBY_PAIR, &st, &n);

    for (size_t i = 0; i < n; i++)
        total += cs_lazyhist_count(&st[i].hist);
    cs_latstats_free(st, n);
    if (rc == 0)
        fprintf(f, ",\"total\":%" PRIu64, total);
    return rc;
}

/* The measurement filter of query "q". */
static void query_latfilter(const cs__query *q, cs_latfilter *lf)
{
    cs_latfilter_init(lf);
    lf->pair = q->pair;
    lf->key = q->key;
    lf->session = q->session;
    lf->after = q->after;
    lf->before = q->before;
    lf->min_latency_ns = q->min_ns;
    lf->max_latency_ns = q->max_ns;
}

/* A page of measurements; with total=1 also how many match in all, so a
 * page can say "1-100 of 3,412". */
int cs__api_reply_measurements(FILE *f, const char *dir, const cs__query *q)
{
    page_ctx c = {f, 0, 0, 0, q->limit, 0, q->brief}; /* the store skips the offset */
    cs_msgreader *r = NULL;
    cs_latfilter lf;
    int rc;

    if ((rc = cs_msgreader_open(dir, &r)) < 0)
        return rc;
    query_latfilter(q, &lf);
    lf.sort = q->sort;
    lf.offset = q->offset;
    lf.limit = q->limit + 1; /* one more says whether there is a next page */
    fputs("{\"measurements\":[", f);
    rc = cs_msgreader_measurements(r, &lf, page_measurement, &c);
    c.offset = q->offset;
    page_end(f, &c);
    if (rc >= 0 && q->total)
        rc = total_json(f, r, &lf);
    cs_msgreader_close(r);
    return rc;
}

/* Slowest first: max, then more measurements, then pair and session. */
static int cmp_session_slowest(const void *a, const void *b)
{
    const cs_latstats *x = a, *y = b;
    int64_t mx = cs_lazyhist_max(&x->hist), my = cs_lazyhist_max(&y->hist);
    uint64_t cx = cs_lazyhist_count(&x->hist), cy = cs_lazyhist_count(&y->hist);
    int c;

    if (mx != my)
        return mx > my ? -1 : 1;
    if (cx != cy)
        return cx > cy ? -1 : 1;
    c = strcmp(x->pair, y->pair);
    return c ? c : strcmp(x->session, y->session);
}

static void session_json(FILE *f, cs_latstats *st)
{
    cs_lazyhist *h = &st->hist;
    const char *gt = strchr(st->session, '>');

    fputs("{\"pair\":", f);
    cs__json_str(f, st->pair);
    fputs(",\"session\":", f);
    cs__json_str(f, st->session);
    fputs(",\"src\":", f);
    cs_msgstore_json_string(f, st->session, (size_t)(gt - st->session));
    fputs(",\"dst\":", f);
    cs__json_str(f, gt + 1);
    fprintf(f,
            ",\"count\":%" PRIu64 ",\"min_ns\":%" PRId64 ",\"p50_ns\":%" PRId64
            ",\"p90_ns\":%" PRId64 ",\"p99_ns\":%" PRId64 ",\"max_ns\":%" PRId64 "}",
            cs_lazyhist_count(h), cs_lazyhist_min(h), cs_lazyhist_quantile(h, 0.5),
            cs_lazyhist_quantile(h, 0.9), cs_lazyhist_quantile(h, 0.99), cs_lazyhist_max(h));
}

/* Latency per session (client -> server) and pair of the measurements
 * matching the filters, slowest first, a page of them and how many. */
int cs__api_reply_sessions(FILE *f, const char *dir, const cs__query *q)
{
    cs_msgreader *r = NULL;
    cs_latfilter lf;
    cs_latstats *st = NULL;
    size_t n = 0, i;
    int rc;

    if ((rc = cs_msgreader_open(dir, &r)) < 0)
        return rc;
    query_latfilter(q, &lf);
    rc = cs_msgreader_lat_stats(r, &lf, CS_LATBY_SESSION, &st, &n);
    cs_msgreader_close(r);
    if (rc < 0)
        return rc;
    if (n > 1)
        cs_qsort(st, n, sizeof(*st), cmp_session_slowest);
    fputs("{\"sessions\":[", f);
    for (i = q->offset; i < n && i - q->offset < q->limit; i++) {
        if (i > q->offset)
            fputc(',', f);
        session_json(f, &st[i]);
    }
    fprintf(
        f, "],\"offset\":%" PRIu64 ",\"limit\":%" PRIu64 ",\"count\":%zu,\"more\":%s,\"total\":%zu",
        q->offset, q->limit, i > q->offset ? i - q->offset : 0, i < n ? "true" : "false", n);
    cs_latstats_free(st, n);
    return 0;
}

int cs__api_reply_messages(FILE *f, const char *dir, const cs__query *q)
{
    page_ctx c = {f, 0, 0, q->offset, q->limit, 0, 0};
    cs_msgreader *r = NULL;
    cs_msgfilter mf;
    int rc;

    if ((rc = cs_msgreader_open(dir, &r)) < 0)
        return rc;
    cs_msgfilter_init(&mf);
    mf.proto = q->proto;
    mf.type = q->type;
    mf.key = q->key;
    mf.after = q->after;
    mf.before = q->before;
    mf.limit = q->offset + q->limit + 1;
    fputs("{\"messages\":[", f);
    rc = cs_msgreader_messages(r, &mf, page_message, &c);
    page_end(f, &c);
    cs_msgreader_close(r);
    return rc;
}

static int page_gap(void *ud, const cs_gap *g)
{
    page_ctx *c = ud;
    int rc = page_take(c);

    if (rc >= 0)
        return rc;
    cs_gap_json(c->f, g);
    return 0;
}

int cs__api_reply_gaps(FILE *f, const char *dir, const cs__query *q)
{
    page_ctx c = {f, 0, 0, q->offset, q->limit, 0, 0};
    cs_msgreader *r = NULL;
    int rc;

    if ((rc = cs_msgreader_open(dir, &r)) < 0)
        return rc;
    fputs("{\"gaps\":[", f);
    rc = cs_msgreader_gaps(r, q->after, q->before, q->offset + q->limit + 1, page_gap, &c);
    page_end(f, &c);
    cs_msgreader_close(r);
    return rc;
}

int cs__api_reply_feeds(FILE *f, const char *dir, cs_feeds_cache *cache, const cs__query *q)
{
    cs_msgreader *r = NULL;
    cs_feeds *fs = NULL;
    int rc;

    if ((rc = cs_msgreader_open(dir, &r)) < 0)
        return rc;
    rc = cache ? cs_feeds_cache_read(cache, r, q->after, q->before, &fs)
               : cs_feeds_read(r, q->after, q->before, &fs);
    if (rc == 0) {
        fputs("{\"feeds\":[", f);
        for (size_t i = 0; i < cs_feeds_count(fs); i++) {
            fputs(i ? "," : "", f);
            cs_feed_json(f, cs_feeds_get(fs, i));
        }
        fputs("]", f);
    }
    cs_feeds_free(fs);
    cs_msgreader_close(r);
    return rc;
}

/* One message with its packets (ref, ts, lengths, summary). */
typedef struct detail_ctx {
    FILE *f;
    cs_store *store;
    int found;
} detail_ctx;

static void packet_json(FILE *f, cs_store *s, cs_pktref ref, int first)
{
    cs_packet p;
    cs_layers l;
    char summary[512];
    int rc = s ? cs_store_read(s, ref, &p) : CS_ENOTFOUND;

    fprintf(f, "%s{\"ref\":\"%u:%u\"", first ? "" : ",", CS_PKTREF_SEG(ref), CS_PKTREF_OFF(ref));
    if (rc < 0) {
        fputs(rc == CS_ENOTFOUND ? ",\"expired\":true}" : ",\"error\":\"unreadable\"}", f);
        return;
    }
    cs_dissect(&p, &l);
    cs_dissect_summary(&p, &l, summary, sizeof(summary));
    fprintf(f,
            ",\"ts_ns\":%" PRId64 ",\"capture_ts_ns\":%" PRId64
            ",\"caplen\":%u,\"wirelen\":%u,\"summary\":",
            p.ts_ns, cs_packet_cap_ns(&p), (unsigned)p.caplen, (unsigned)p.wirelen);
    cs__json_str(f, summary);
    fputs("}", f);
}

static int detail_message(void *ud, const cs_message *m)
{
    detail_ctx *c = ud;

    c->found = 1;
    fputs("{\"message\":", c->f);
    cs_message_json(c->f, m);
    fputs(",\"packets\":[", c->f);
    for (size_t i = 0; i < m->n_refs; i++)
        packet_json(c->f, c->store, m->refs[i], i == 0);
    fputs("]}", c->f);
    return 1;
}

typedef struct ms_keep {
    FILE *f;
    cs_msgid req, resp;
    int found;
} ms_keep;

static int keep_measurement(void *ud, const cs_measurement *ms)
{
    ms_keep *k = ud;

    k->found = 1;
    k->req = ms->req_id;
    k->resp = ms->resp_id;
    cs_measurement_json(k->f, ms);
    return 1;
}

static int linked_message(detail_ctx *c, cs_msgreader *r, const char *what, cs_msgid id)
{
    int rc;

    fprintf(c->f, ",\"%s\":", what);
    c->found = 0;
    rc = cs_msgreader_find_message(r, id, detail_message, c);
    if (rc == CS_ENOTFOUND && !c->found) {
        fputs("null", c->f);
        rc = 0;
    }
    return rc;
}

int cs__api_reply_one(FILE *f, const char *dir, const cs__route *rt, const char *pair, cs__err *e)
{
    cs_store_opts so = {0};
    detail_ctx c = {f, NULL, 0};
    cs_msgreader *r = NULL;
    ms_keep k = {f, 0, 0, 0};
    char id[40];
    int rc;

    if ((rc = cs_msgreader_open(dir, &r)) < 0)
        return rc;
    if (cs_store_open(dir, &so, &c.store) < 0)
        c.store = NULL; /* packets then read as expired */
    if (rt->ep == CS__EP_MESSAGE) {
        rc = cs_msgreader_find_message(r, rt->id, detail_message, &c);
        k.found = c.found;
    } else {
        fputs("{\"measurement\":", f);
        rc = cs_msgreader_find_measurement(r, rt->id, pair, keep_measurement, &k);
        if (rc == 0 && (rc = linked_message(&c, r, "request", k.req)) == 0 &&
            (rc = linked_message(&c, r, "response", k.resp)) == 0)
            fputs("}", f);
    }
    if (rc == CS_ENOTFOUND && !k.found)
        rc = cs__api_fail(e, 404, "id", "%s not in the store",
                          cs_id_format(rt->ep == CS__EP_MESSAGE ? 'm' : 'l', rt->id, id));
    if (c.store)
        cs_store_close(c.store);
    cs_msgreader_close(r);
    return rc;
}

/*
 * feeds.c - per feed and tap summaries of MoldUDP64 market data (feeds.h),
 * from the message store's records: moldudp64 packet messages, ITCH
 * messages, moldudp64 gaps and A/B races (measurements of pair "ab").
 *
 * How it works. A feed is found by its key (tap, IP version, destination
 * address and port) in an open-addressing table (linear probing, load at
 * most 1/2, doubled when full) of pointers to heap feeds, so a summary
 * never moves while records come in. Per feed:
 *
 *   - counters (packets, data, heartbeats, ITCH messages by type letter,
 *     gaps and numbers lost, races and races won);
 *   - the leads of the races it won, a growing vector, from which the
 *     nearest-rank p50 and p99 (rank = ceil(p/100 * n)) and the max are
 *     selected once at the end (quickselect, no full sort);
 *   - the busiest millisecond: a ring of CS_FEED_BUSY_WINDOW per-ms counts
 *     ending at the newest ms seen. When a message moves the newest ms
 *     forward, the ms leaving the ring are closed in ascending order and
 *     compared with the best so far (strictly more wins, so the earliest of
 *     equals stays); at the end the rest are closed. A message older than
 *     the ring is counted in busiest_late only.
 *
 *          ring slot = ms mod W            closed (compared, zeroed)
 *     ... | ms-W+1 | ... | ms-1 | ms |  <- a message of ms+k closes the
 *                                          k oldest
 *
 * Races: the winner is the measurement's request side (side b of its
 * endpoints: where the earlier copy went); the loser is the feed of its
 * response message, which only the message itself names. So each race
 * leaves (response id, winner) in a vector, sorted by id once messages
 * start coming; a sighting found in it counts the race for its feed (once;
 * not when it is the winner's own feed). The responses of races near the
 * end of cs_feeds_read()'s time range may come after it: one more scan of
 * the data packets from "before" to the latest response time finds them.
 *
 * Relied on: store order is capture order per flow up to reassembly delays
 * (msgstore.h), and a MoldUDP64 message has none (one datagram), so a
 * feed's messages come in time order when the capture was in time order;
 * the ring absorbs W ms of disorder.
 *
 * Memory: per feed a fixed struct plus 8 bytes per race won; 24 bytes per
 * race for the losers; nothing per message.
 * Threading: a cs_feeds is used by one thread.
 */
#include "store/feeds.h"

#include "core/alloc.h"
#include "store/feeds_int.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/sort.h"

#include <stddef.h>
#include <string.h>

#define NS_PER_MS 1000000

typedef cs__feed_key feed_key;

typedef struct feed {
    cs_feed_summary s; /* public, read-only; first, so a summary is its feed */
    feed_key key;
    int64_t *leads; /* leads of the races won */
    size_t n_leads, cap_leads;
    int busy_started;
    int64_t busy_head_ms; /* the newest ms seen */
    uint64_t busy_ring[CS_FEED_BUSY_WINDOW];
} feed;

_Static_assert(offsetof(feed, s) == 0, "a summary's address is its feed's (feeds_int.h)");

typedef struct race_pending {
    cs_msgid resp_id;
    feed *winner;
    int resolved;
} race_pending;

struct cs_feeds {
    feed **feeds;
    size_t n, cap;
    feed **slots; /* open addressing, NULL = empty */
    size_t n_slots;
    race_pending *pending;
    size_t n_pending, cap_pending;
    int pending_sorted;
    int64_t resp_ts_max; /* the latest response time of a race */
    feed *last;          /* the feed found last (a datagram's messages: one feed) */
    int err;             /* the first error met inside a reader's callback */
};

int cs_feeds_new(cs_feeds **out)
{
    cs_feeds *fs = cs_calloc(1, sizeof(*fs));

    *out = NULL;
    if (fs == NULL)
        return CS_ENOMEM;
    fs->n_slots = 16;
    if ((fs->slots = cs_calloc(fs->n_slots, sizeof(*fs->slots))) == NULL) {
        cs_free(fs);
        return CS_ENOMEM;
    }
    *out = fs;
    return 0;
}

void cs_feeds_free(cs_feeds *fs)
{
    if (fs == NULL)
        return;
    for (size_t i = 0; i < fs->n; i++) {
        cs_free(fs->feeds[i]->leads);
        cs_free(fs->feeds[i]);
    }
    cs_free(fs->feeds);
    cs_free(fs->slots);
    cs_free(fs->pending);
    cs_free(fs);
}

/* ---- finding a feed ------------------------------------------------------ */

cs__feed_key cs__feed_key_of(const cs_endpoints *ep, int side)
{
    feed_key k;

    memset(&k, 0, sizeof(k));
    k.tap = ep->tap;
    k.port = side ? ep->port_b : ep->port_a;
    k.ip_version = ep->ip_version;
    memcpy(k.addr, side ? ep->addr_b : ep->addr_a, sizeof(k.addr));
    return k;
}

static size_t slot_of(feed *const *slots, size_t n_slots, const feed_key *k)
{
    size_t i = (size_t)cs_hash64(k, sizeof(*k), 0) & (n_slots - 1);

    while (slots[i] != NULL && memcmp(&slots[i]->key, k, sizeof(*k)) != 0)
        i = (i + 1) & (n_slots - 1);
    return i;
}

/* Doubles the table when it is half full. */
static int slots_make_room(cs_feeds *fs)
{
    size_t n_slots = fs->n_slots * 2;
    feed **slots;

    if (2 * (fs->n + 1) <= fs->n_slots)
        return 0;
    if ((slots = cs_calloc(n_slots, sizeof(*slots))) == NULL)
        return CS_ENOMEM;
    for (size_t i = 0; i < fs->n; i++)
        slots[slot_of(slots, n_slots, &fs->feeds[i]->key)] = fs->feeds[i];
    cs_free(fs->slots);
    fs->slots = slots;
    fs->n_slots = n_slots;
    return 0;
}

static int feed_add(cs_feeds *fs, const cs_endpoints *ep, int side, const feed_key *k, feed **out)
{
    feed *f;

    if (slots_make_room(fs) < 0 || cs_grow((void **)&fs->feeds, &fs->cap, fs->n + 1, sizeof(f)) < 0)
        return CS_ENOMEM;
    if ((f = cs_calloc(1, sizeof(*f))) == NULL)
        return CS_ENOMEM;
    f->key = *k;
    f->s.tap = ep->tap;
    cs_endpoint_format(ep, side, f->s.feed);
    fs->feeds[fs->n++] = f;
    fs->slots[slot_of(fs->slots, fs->n_slots, k)] = f;
    *out = f;
    return 0;
}

/* The feed of side "side" of "ep" at its tap, made if new. */
static int feed_of(cs_feeds *fs, const cs_endpoints *ep, int side, feed **out)
{
    feed_key k = cs__feed_key_of(ep, side);
    feed *f;
    int rc;

    if (fs->last != NULL && memcmp(&fs->last->key, &k, sizeof(k)) == 0) {
        *out = fs->last;
        return 0;
    }
    if ((f = fs->slots[slot_of(fs->slots, fs->n_slots, &k)]) != NULL) {
        *out = fs->last = f;
        return 0;
    }
    if ((rc = feed_add(fs, ep, side, &k, out)) == 0)
        fs->last = *out;
    return rc;
}

/* ---- races --------------------------------------------------------------- */

int cs_feeds_add_race(cs_feeds *fs, const cs_measurement *ms)
{
    race_pending *p;
    feed *f;
    int rc;

    if (ms->pair == NULL || strcmp(ms->pair, "ab") != 0)
        return 0;
    if ((rc = feed_of(fs, &ms->ep, 1, &f)) < 0)
        return rc;
    if (cs_grow((void **)&f->leads, &f->cap_leads, f->n_leads + 1, sizeof(*f->leads)) < 0 ||
        cs_grow((void **)&fs->pending, &fs->cap_pending, fs->n_pending + 1, sizeof(*p)) < 0)
        return CS_ENOMEM;
    f->s.races++;
    f->s.races_won++;
    f->leads[f->n_leads++] = ms->latency_ns;
    p = &fs->pending[fs->n_pending++];
    p->resp_id = ms->resp_id;
    p->winner = f;
    p->resolved = 0;
    fs->pending_sorted = 0;
    if (fs->n_pending == 1 || ms->resp_ts_ns > fs->resp_ts_max)
        fs->resp_ts_max = ms->resp_ts_ns;
    return 0;
}

static int pending_cmp(const void *a, const void *b)
{
    cs_msgid x = ((const race_pending *)a)->resp_id, y = ((const race_pending *)b)->resp_id;

    return x < y ? -1 : x > y;
}

static race_pending *pending_find(cs_feeds *fs, cs_msgid id)
{
    race_pending want = {id, NULL, 0};

    if (fs->n_pending == 0)
        return NULL;
    if (!fs->pending_sorted) {
        cs_qsort(fs->pending, fs->n_pending, sizeof(*fs->pending), pending_cmp);
        fs->pending_sorted = 1;
    }
    return bsearch(&want, fs->pending, fs->n_pending, sizeof(want), pending_cmp);
}

/* Message "id" of feed "f": if it answered a race, "f" lost that race. */
static void race_loser(cs_feeds *fs, cs_msgid id, feed *f)
{
    race_pending *p = pending_find(fs, id);

    if (p == NULL || p->resolved)
        return;
    p->resolved = 1;
    if (p->winner != f)
        f->s.races++;
}

/* ---- messages ------------------------------------------------------------ */

static cs_str field_of(const cs_message *m, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < m->n_fields; i++)
        if (m->fields[i].name.len == n && memcmp(m->fields[i].name.p, name, n) == 0)
            return m->fields[i].val;
    return (cs_str){"", 0};
}

static int str_is(cs_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

static void session_seen(cs_feed_summary *s, cs_str session)
{
    size_t n = session.len < CS_FEED_SESSION_LEN ? session.len : CS_FEED_SESSION_LEN;

    for (uint32_t i = 0; i < s->n_sessions; i++)
        if (strlen(s->session[i]) == n && memcmp(s->session[i], session.p, n) == 0)
            return;
    if (s->n_sessions == CS_FEED_SESSIONS_MAX)
        return;
    memcpy(s->session[s->n_sessions], session.p, n);
    s->session[s->n_sessions++][n] = '\0';
}

static int add_packet(cs_feeds *fs, const cs_message *m)
{
    int data = str_is(m->type, "data");
    feed *f;
    int rc;

    if (!data && !str_is(m->type, "heartbeat") && !str_is(m->type, "end_of_session"))
        return 0; /* a request: its direction is no feed */
    if ((rc = feed_of(fs, &m->ep, !m->dir, &f)) < 0)
        return rc;
    f->s.packets++;
    f->s.heartbeats += str_is(m->type, "heartbeat");
    session_seen(&f->s, field_of(m, "session"));
    if (!data)
        return 0;
    f->s.data_packets++;
    f->s.retrans_data += str_is(field_of(m, "retransmission"), "1");
    if (m->role == CS_ROLE_SIGHTING)
        race_loser(fs, m->id, f);
    return 0;
}

static int64_t ms_of(int64_t ts_ns)
{
    int64_t q = ts_ns / NS_PER_MS;

    return ts_ns % NS_PER_MS < 0 ? q - 1 : q;
}

static uint64_t *busy_slot(feed *f, int64_t ms)
{
    return &f->busy_ring[(uint64_t)ms % CS_FEED_BUSY_WINDOW];
}

/* Closes millisecond "ms" of the ring: compares it with the best, empties it. */
static void busy_close(feed *f, int64_t ms)
{
    uint64_t *n = busy_slot(f, ms);

    if (*n > f->s.busiest_messages) {
        f->s.busiest_messages = *n;
        f->s.busiest_ts_ns = ms * NS_PER_MS;
    }
    *n = 0;
}

static void busy_add(feed *f, int64_t ts_ns)
{
    int64_t ms = ms_of(ts_ns), head = f->busy_head_ms;

    if (!f->busy_started) {
        f->busy_started = 1;
        f->busy_head_ms = ms;
    } else if (ms > head) {
        int64_t last = ms - CS_FEED_BUSY_WINDOW < head ? ms - CS_FEED_BUSY_WINDOW : head;

        for (int64_t x = head - CS_FEED_BUSY_WINDOW + 1; x <= last; x++)
            busy_close(f, x);
        f->busy_head_ms = ms;
    } else if (ms <= head - CS_FEED_BUSY_WINDOW) {
        f->s.busiest_late++;
        return;
    }
    (*busy_slot(f, ms))++;
}

static int add_itch(cs_feeds *fs, const cs_message *m)
{
    feed *f;
    int rc;

    if ((rc = feed_of(fs, &m->ep, !m->dir, &f)) < 0)
        return rc;
    f->s.messages++;
    if (m->type.len == 1)
        f->s.by_type[(uint8_t)m->type.p[0]]++;
    else
        f->s.unknown_types++;
    busy_add(f, m->ts_ns);
    return 0;
}

/* strcmp(p, lit) == 0 inline: called for every message of a store, where a
 * call to strcmp cost 5 % of a read. */
static inline int proto_is(const char *p, const char *lit)
{
    while (*lit != '\0' && *p == *lit)
        p++, lit++;
    return *p == *lit;
}

int cs_feeds_add_message(cs_feeds *fs, const cs_message *m)
{
    if (m->proto == NULL)
        return 0;
    if (proto_is(m->proto, "itch"))
        return add_itch(fs, m);
    if (proto_is(m->proto, "moldudp64"))
        return add_packet(fs, m);
    return 0;
}

int cs_feeds_add_gap(cs_feeds *fs, const cs_gap *g)
{
    feed *f;
    int rc;

    if (g->proto == NULL || strcmp(g->proto, "moldudp64") != 0 || g->arbitrated)
        return 0; /* (an abgap is the pair's loss, not one more of the feed's) */
    if ((rc = feed_of(fs, &g->ep, !g->dir, &f)) < 0)
        return rc;
    f->s.gaps++;
    f->s.messages_lost += g->count;
    return 0;
}

/* ---- finishing ----------------------------------------------------------- */

static int lead_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* The index of the nearest-rank "pct" percentile among n > 0 values: the
 * ceil(pct/100 * n)-th smallest. */
static size_t nearest_rank(size_t n, unsigned pct)
{
    size_t rank = (pct * n + 99) / 100;

    return rank > 0 ? rank - 1 : 0;
}

static void swap64(int64_t *a, int64_t *b)
{
    int64_t t = *a;

    *a = *b;
    *b = t;
}

/* Moves v[lo..hi]'s median of three to v[hi] (the pivot). */
static void pivot_to_end(int64_t *v, size_t lo, size_t hi)
{
    size_t mid = lo + (hi - lo) / 2;

    if (v[mid] < v[lo])
        swap64(&v[mid], &v[lo]);
    if (v[hi] < v[lo])
        swap64(&v[hi], &v[lo]);
    if (v[mid] < v[hi])
        swap64(&v[mid], &v[hi]);
}

/* Puts the k-th smallest of v[0..n) at v[k], the smaller ones before it,
 * the larger after (quickselect, median of three; after 2 log2 n rounds
 * without an end it sorts what is left, so the worst case stays
 * O(n log n)). */
static void select_nth(int64_t *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1, rounds = 0, limit = 2;

    for (size_t m = n; m > 1; m >>= 1)
        limit += 2;
    while (lo < hi) {
        size_t store = lo;

        if (rounds++ == limit) {
            cs_qsort(v + lo, hi - lo + 1, sizeof(*v), lead_cmp);
            return;
        }
        pivot_to_end(v, lo, hi);
        for (size_t i = lo; i < hi; i++)
            if (v[i] < v[hi])
                swap64(&v[i], &v[store++]);
        swap64(&v[store], &v[hi]);
        if (store == k)
            return;
        if (k < store)
            hi = store - 1;
        else
            lo = store + 1;
    }
}

static void feed_finish(feed *f)
{
    cs_feed_summary *s = &f->s;

    s->retransmission = s->data_packets > 0 && s->retrans_data == s->data_packets;
    if (f->n_leads > 0) {
        size_t n = f->n_leads, r99 = nearest_rank(n, 99), r50 = nearest_rank(n, 50);

        /* p99 first; p50 is then among the values before it, the max after */
        select_nth(f->leads, n, r99);
        if (r50 < r99)
            select_nth(f->leads, r99, r50);
        s->has_lead = 1;
        s->lead_p50 = f->leads[r50];
        s->lead_p99 = f->leads[r99];
        s->lead_max = f->leads[r99];
        for (size_t i = r99 + 1; i < n; i++)
            if (f->leads[i] > s->lead_max)
                s->lead_max = f->leads[i];
    }
    if (f->busy_started)
        for (int64_t x = f->busy_head_ms - CS_FEED_BUSY_WINDOW + 1; x <= f->busy_head_ms; x++)
            busy_close(f, x);
}

static int feed_order(const void *a, const void *b)
{
    const feed_key *x = &(*(feed *const *)a)->key, *y = &(*(feed *const *)b)->key;
    int c;

    if (x->tap != y->tap)
        return x->tap < y->tap ? -1 : 1;
    if (x->ip_version != y->ip_version)
        return x->ip_version < y->ip_version ? -1 : 1;
    if ((c = memcmp(x->addr, y->addr, sizeof(x->addr))) != 0)
        return c;
    return x->port < y->port ? -1 : x->port > y->port;
}

void cs_feeds_finish(cs_feeds *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        feed_finish(fs->feeds[i]);
    cs_qsort(fs->feeds, fs->n, sizeof(*fs->feeds), feed_order);
}

size_t cs_feeds_count(const cs_feeds *fs)
{
    return fs->n;
}

const cs_feed_summary *cs_feeds_get(const cs_feeds *fs, size_t i)
{
    return &fs->feeds[i]->s;
}

/* ---- reading a store ----------------------------------------------------- */

/* The readers' callbacks: an error stops the read and waits in fs->err. */
static int read_race(void *ud, const cs_measurement *ms)
{
    cs_feeds *fs = ud;

    return (fs->err = cs_feeds_add_race(fs, ms)) < 0;
}

static int read_message(void *ud, const cs_message *m)
{
    cs_feeds *fs = ud;

    return (fs->err = cs_feeds_add_message(fs, m)) < 0;
}

static int read_gap(void *ud, const cs_gap *g)
{
    cs_feeds *fs = ud;

    return (fs->err = cs_feeds_add_gap(fs, g)) < 0;
}

/* A data packet after the time range: the losing copy of a race in it? */
static int read_loser(void *ud, const cs_message *m)
{
    cs_feeds *fs = ud;
    feed *f;

    if (m->role != CS_ROLE_SIGHTING || pending_find(fs, m->id) == NULL)
        return 0;
    if ((fs->err = feed_of(fs, &m->ep, !m->dir, &f)) < 0)
        return 1;
    race_loser(fs, m->id, f);
    return 0;
}

/* Finds the responses of the races in the range that came at or after
 * "before": the data packets from "before" to the latest response. A
 * response no longer in the store (retention) leaves its loser unknown. */
static int read_losers_after(cs_feeds *fs, cs_msgreader *r, int64_t before)
{
    cs_msgfilter mf;
    size_t left = 0;
    int rc;

    for (size_t i = 0; i < fs->n_pending; i++)
        left += !fs->pending[i].resolved;
    if (left == 0 || before == INT64_MAX || fs->resp_ts_max < before)
        return 0;
    cs_msgfilter_init(&mf);
    mf.proto = "moldudp64";
    mf.type = "data";
    mf.after = before;
    mf.before = fs->resp_ts_max + 1;
    if ((rc = cs_msgreader_messages(r, &mf, read_loser, fs)) < 0)
        return rc;
    return fs->err;
}

int cs__feeds_read_range(cs_feeds *fs, cs_msgreader *r, int64_t after, int64_t before)
{
    cs_latfilter lf;
    cs_msgfilter mf;
    int rc;

    cs_latfilter_init(&lf);
    lf.pair = "ab";
    lf.after = after;
    lf.before = before;
    lf.sort = CS_LATSORT_STORE;
    if ((rc = cs_msgreader_measurements(r, &lf, read_race, fs)) < 0 || fs->err < 0)
        return rc < 0 ? rc : fs->err;
    cs_msgfilter_init(&mf);
    mf.after = after;
    mf.before = before;
    mf.fields_proto = "moldudp64"; /* ITCH messages count by their heads */
    if ((rc = cs_msgreader_messages(r, &mf, read_message, fs)) < 0 || fs->err < 0)
        return rc < 0 ? rc : fs->err;
    return read_losers_after(fs, r, before);
}

int cs__feeds_read_gaps(cs_feeds *fs, cs_msgreader *r, int64_t after, int64_t before)
{
    int rc;

    if ((rc = cs_msgreader_gaps(r, after, before, 0, read_gap, fs)) < 0 || fs->err < 0)
        return rc < 0 ? rc : fs->err;
    return 0;
}

static int read_all(cs_feeds *fs, cs_msgreader *r, int64_t after, int64_t before)
{
    int rc;

    if ((rc = cs__feeds_read_range(fs, r, after, before)) < 0)
        return rc;
    return cs__feeds_read_gaps(fs, r, after, before);
}

int cs_feeds_read(cs_msgreader *r, int64_t after, int64_t before, cs_feeds **out)
{
    cs_feeds *fs;
    int rc;

    *out = NULL;
    if ((rc = cs_feeds_new(&fs)) < 0)
        return rc;
    if ((rc = read_all(fs, r, after, before)) < 0) {
        cs_feeds_free(fs);
        return rc;
    }
    cs_feeds_finish(fs);
    *out = fs;
    return 0;
}

/* ---- for the cache (feeds_int.h) ----------------------------------------- */

int cs__feeds_summary(cs_feeds *fs, const cs_endpoints *ep, int side, cs_feed_summary **out)
{
    feed *f;
    int rc = feed_of(fs, ep, side, &f);

    *out = rc < 0 ? NULL : &f->s;
    return rc;
}

void cs__feeds_session(cs_feed_summary *s, const char *p, size_t len)
{
    session_seen(s, (cs_str){p, len});
}

int cs__feeds_add_leads(cs_feed_summary *s, const int32_t *v, size_t n)
{
    feed *f = (feed *)s;

    if (n == 0)
        return 0;
    if (cs_grow((void **)&f->leads, &f->cap_leads, f->n_leads + n, sizeof(*f->leads)) < 0)
        return CS_ENOMEM;
    for (size_t i = 0; i < n; i++)
        f->leads[f->n_leads++] = v[i];
    return 0;
}

void cs__feeds_offer_busiest(cs_feed_summary *s, int64_t ms, uint64_t n)
{
    if (n > s->busiest_messages ||
        (n > 0 && n == s->busiest_messages && ms * NS_PER_MS < s->busiest_ts_ns)) {
        s->busiest_messages = n;
        s->busiest_ts_ns = ms * NS_PER_MS;
    }
}

/* ---- JSON ---------------------------------------------------------------- */

static void json_by_type(FILE *out, const cs_feed_summary *s)
{
    int first = 1;

    fputs(",\"by_type\":{", out);
    for (unsigned t = 0; t < 256; t++) {
        char c = (char)t;

        if (s->by_type[t] == 0)
            continue;
        fputs(first ? "" : ",", out);
        cs_msgstore_json_string(out, &c, 1);
        fprintf(out, ":%llu", (unsigned long long)s->by_type[t]);
        first = 0;
    }
    if (s->unknown_types > 0)
        fprintf(out, "%s\"unknown\":%llu", first ? "" : ",", (unsigned long long)s->unknown_types);
    putc('}', out);
}

static void json_races(FILE *out, const cs_feed_summary *s)
{
    fprintf(out, ",\"races\":%llu,\"races_won\":%llu,\"won_share\":%.4f,\"lead_ns\":",
            (unsigned long long)s->races, (unsigned long long)s->races_won,
            s->races ? (double)s->races_won / (double)s->races : 0.0);
    if (s->has_lead)
        fprintf(out, "{\"p50\":%lld,\"p99\":%lld,\"max\":%lld}", (long long)s->lead_p50,
                (long long)s->lead_p99, (long long)s->lead_max);
    else
        fputs("null", out);
}

static void json_busiest(FILE *out, const cs_feed_summary *s)
{
    fputs(",\"busiest_ms\":", out);
    if (s->messages == 0 || s->busiest_messages == 0) {
        fputs("null", out);
        return;
    }
    fprintf(out, "{\"ts_ns\":%lld,\"messages\":%llu", (long long)s->busiest_ts_ns,
            (unsigned long long)s->busiest_messages);
    if (s->busiest_late > 0)
        fprintf(out, ",\"late\":%llu", (unsigned long long)s->busiest_late);
    putc('}', out);
}

void cs_feed_json(FILE *out, const cs_feed_summary *s)
{
    fprintf(out, "{\"tap\":%u,\"feed\":", (unsigned)s->tap);
    cs_msgstore_json_string(out, s->feed, strlen(s->feed));
    fputs(",\"session\":[", out);
    for (uint32_t i = 0; i < s->n_sessions; i++) {
        fputs(i ? "," : "", out);
        cs_msgstore_json_string(out, s->session[i], strlen(s->session[i]));
    }
    fprintf(out,
            "],\"retransmission\":%s,\"packets\":%llu,\"data_packets\":%llu,\"heartbeats\":%llu,"
            "\"messages\":%llu",
            s->retransmission ? "true" : "false", (unsigned long long)s->packets,
            (unsigned long long)s->data_packets, (unsigned long long)s->heartbeats,
            (unsigned long long)s->messages);
    json_by_type(out, s);
    fprintf(out, ",\"gaps\":%llu,\"messages_lost\":%llu", (unsigned long long)s->gaps,
            (unsigned long long)s->messages_lost);
    json_races(out, s);
    json_busiest(out, s);
    putc('}', out);
}

/*
 * msgstore_latency.c - measurement queries of the message store: by
 * filter in store order, sorted by time or latency with offset and limit
 * (a bounded top-K), latency histograms per pair or per pair and session
 * (grouped through an open-addressing table of their hashes), and lookup
 * by id.
 *
 * Sorted queries. How it works: a page of the slowest (or
 * earliest) measurements of millions must not hold millions in memory.
 *
 *   pass 1: scan the files (skipping those outside the time range); each
 *           matching record becomes a 40-byte pick (its sort key, id, file
 *           and offset). With a limit, the picks are a max-heap of
 *           k = offset + limit entries whose root is the last in sort order:
 *           a record that does not sort before the root is dropped, one
 *           that does replaces it. Memory O(k), time O(n log k).
 *   pass 2: sort the picks; for picks [offset, k), FETCH_CHUNK at a time,
 *           read their records back by (file, offset) order (one pread per
 *           window of neighbouring records), check them (length, checksum,
 *           id) and call the callback in sort order.
 *
 * In pass 1 of a query by latency, a file already summarized is read by
 * its latency blocks (msgstore_latblocks.c), the slowest first, until the
 * next block's bound is below the heap's root: the k slowest of millions
 * then read about k blocks of 256 records, not the file (unless k is more
 * than half its blocks). The picks, and so the reply, are the same either
 * way: the sort order is total, and no record passed over could sort
 * before the root.
 *
 * A record that is gone by pass 2 (its file replaced by a reanalysis in
 * between) is left out of the reply.
 *
 * Threading: as the reader (msgstore_read.c): one thread at a time per
 * reader; every buffer of a query is its own and freed at its end.
 */
#include "store/msgstore.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/sort.h"
#include "packet/dissect.h"
#include "record/json.h"
#include "store/msgstore_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FETCH_CHUNK 1024
#define CS__IPPROTO_UDP 17
#define FETCH_WINDOW (64u << 10)

void cs_latfilter_init(cs_latfilter *f)
{
    memset(f, 0, sizeof(*f));
    f->after = INT64_MIN;
    f->before = INT64_MAX;
    f->min_latency_ns = INT64_MIN;
    f->max_latency_ns = INT64_MAX;
}

typedef struct lat_pick {
    int64_t latency_ns, ts_ns;
    uint64_t id;
    uint64_t off; /* frame offset in its file */
    uint32_t seg;
    uint32_t rank; /* position within the chunk being fetched */
} lat_pick;

/* A measurement's session in binary (over UDP without the client's
 * port, as session_of() names it): equal sessions, equal names. */
typedef struct sess_ep {
    uint8_t ip_version, udp;
    uint16_t port_a, port_b;
    uint8_t addr_a[16], addr_b[16];
} sess_ep;

#define FILTER_MEMO 64 /* a power of two */

typedef struct lat_scan {
    cs_msgreader *r;
    const cs_latfilter *f;
    cs_lat_fn fn;
    void *ud;
    uint64_t emitted, skipped;
    cs_msgid want_id;
    const char *want_pair; /* find: NULL = any */
    int find, found;
    /* sorting */
    lat_pick *picks;
    size_t n_picks, picks_cap, k; /* k = 0: unbounded */
    /* fetching */
    uint8_t *win;
    size_t win_cap, win_len;
    uint64_t win_base;
    uint8_t *arena;
    size_t arena_len, arena_cap;
    size_t rec_at[FETCH_CHUNK], rec_len[FETCH_CHUNK];
    /* stats */
    int by; /* CS_LATBY_* */
    cs_latstats *stats;
    size_t n_stats, stats_cap;
    uint32_t *slots;        /* open addressing: index + 1 into stats, 0 = free */
    size_t n_slots;         /* a power of two, at least twice n_stats */
    struct sess_memo *memo; /* CS_LATBY_SESSION: SESS_MEMO entries, or NULL */
    /* the session filter's answers by binary session (a 2.5 KB cache, as
     * the memo: a session's name formatted once per miss) */
    struct filter_memo {
        sess_ep ep;
        uint8_t state; /* 0 empty, 1 not the filter's session, 2 the filter's */
    } fmemo[FILTER_MEMO];
} lat_scan;

/* A measurement's pair and session in binary, as session_of() would name
 * them (over UDP without the client's port): equal keys, equal names. */
typedef struct sess_key {
    sess_ep ep;
    char pair[32]; /* NUL-padded */
} sess_key;

/* Which stats entry a binary key went to: a direct-mapped cache in front
 * of the grouping by name, so that a session's name is formatted (four
 * printf calls, 40 % of a by-session pass) once per cache miss, not per
 * measurement. A miss, or a pair too long for the key, takes the path by
 * name, which alone decides the entry; the cache only remembers it. */
#define SESS_MEMO 1024 /* a power of two */
typedef struct sess_memo {
    sess_key key;
    uint32_t idx; /* into stats, + 1; 0 = empty */
} sess_memo;

/* "SRC>DST" of "ms" into "buf" (CS_LATSTATS_NAME bytes): its endpoints as
 * the JSON writes them, but over UDP the client's address alone. UDP has
 * no connection to name, and a client takes a new port for each query
 * (DNS resolvers do, on purpose): by port, every query would be a session
 * of its own. */
static const char *session_of(const cs_measurement *ms, char *buf)
{
    char src[CS_EP_BUFLEN], dst[CS_EP_BUFLEN];

    if (ms->ep.ip_proto == CS__IPPROTO_UDP)
        cs_addr_format(ms->ep.ip_version, ms->ep.addr_a, src);
    else
        cs_endpoint_format(&ms->ep, 0, src);
    snprintf(buf, CS_LATSTATS_NAME, "%s>%s", src, cs_endpoint_format(&ms->ep, 1, dst));
    return buf;
}

static void sess_ep_of(const cs_measurement *ms, sess_ep *e)
{
    memset(e, 0, sizeof(*e));
    e->ip_version = ms->ep.ip_version;
    e->udp = ms->ep.ip_proto == CS__IPPROTO_UDP;
    e->port_a = e->udp ? 0 : ms->ep.port_a;
    e->port_b = ms->ep.port_b;
    memcpy(e->addr_a, ms->ep.addr_a, sizeof(e->addr_a));
    memcpy(e->addr_b, ms->ep.addr_b, sizeof(e->addr_b));
}

/* Is "ms" of the session filter's session? Decided by name, remembered by
 * binary session. */
static int is_filter_session(lat_scan *s, const cs_measurement *ms)
{
    struct filter_memo *e;
    char buf[CS_LATSTATS_NAME];
    sess_ep k;

    sess_ep_of(ms, &k);
    e = &s->fmemo[cs_hash64(&k, sizeof(k), 0) & (FILTER_MEMO - 1)];
    if (e->state == 0 || memcmp(&e->ep, &k, sizeof(k)) != 0) {
        e->ep = k;
        e->state = strcmp(session_of(ms, buf), s->f->session) == 0 ? 2 : 1;
    }
    return e->state == 2;
}

/* The filters a decoded record is needed for; time, latency and pair were
 * applied to the record's fixed fields before it was decoded
 * (lat_ruled_out). */
static int lat_matches(lat_scan *s, const cs_measurement *ms)
{
    const cs_latfilter *f = s->f;

    if (s->find)
        return ms->id == s->want_id &&
               (s->want_pair == NULL || strcmp(ms->pair, s->want_pair) == 0);
    if (f == NULL)
        return 1;
    if (f->key != NULL && !cs__str_is(ms->key, f->key))
        return 0;
    return f->session == NULL || is_filter_session(s, ms);
}

/* Does "a" come before "b" in sort order "sort"? */
static int pick_before(int sort, const lat_pick *a, const lat_pick *b)
{
    if (sort == CS_LATSORT_LATENCY && a->latency_ns != b->latency_ns)
        return a->latency_ns > b->latency_ns;
    if (a->ts_ns != b->ts_ns)
        return a->ts_ns < b->ts_ns;
    return a->id < b->id;
}

static int cmp_pick_time(const void *a, const void *b)
{
    return pick_before(CS_LATSORT_TIME, a, b) ? -1 : pick_before(CS_LATSORT_TIME, b, a);
}

static int cmp_pick_latency(const void *a, const void *b)
{
    return pick_before(CS_LATSORT_LATENCY, a, b) ? -1 : pick_before(CS_LATSORT_LATENCY, b, a);
}

static int cmp_pick_place(const void *a, const void *b)
{
    const lat_pick *x = a, *y = b;

    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

static void swap_picks(lat_pick *a, lat_pick *b)
{
    lat_pick t = *a;

    *a = *b;
    *b = t;
}

/* Restores the heap (root = last in sort order) after the root changed. */
static void heap_down(lat_pick *h, size_t n, int sort)
{
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;

        if (l < n && pick_before(sort, &h[m], &h[l]))
            m = l;
        if (r < n && pick_before(sort, &h[m], &h[r]))
            m = r;
        if (m == i)
            return;
        swap_picks(&h[i], &h[m]);
        i = m;
    }
}

static void heap_up(lat_pick *h, size_t i, int sort)
{
    while (i > 0 && pick_before(sort, &h[(i - 1) / 2], &h[i])) {
        swap_picks(&h[(i - 1) / 2], &h[i]);
        i = (i - 1) / 2;
    }
}

/* Keeps "p" if it is among the first k in sort order seen so far. */
static int lat_pick_add(lat_scan *s, const lat_pick *p)
{
    int sort = s->f->sort;

    if (s->k && s->n_picks == s->k) {
        if (pick_before(sort, p, &s->picks[0])) {
            s->picks[0] = *p;
            heap_down(s->picks, s->n_picks, sort);
        }
        return 0;
    }
    if (cs_grow((void **)&s->picks, &s->picks_cap, s->n_picks + 1, sizeof(*s->picks)) < 0)
        return CS_ENOMEM;
    s->picks[s->n_picks++] = *p;
    if (s->k)
        heap_up(s->picks, s->n_picks - 1, sort);
    return 0;
}

/* Rebuilds the slots for twice as many entries as "stats" may grow to. */
static int stats_reslot(lat_scan *s)
{
    size_t n = s->n_slots ? s->n_slots * 2 : 64;
    uint32_t *slots = cs_calloc(n, sizeof(*slots));

    if (slots == NULL)
        return CS_ENOMEM;
    for (size_t i = 0; i < s->n_stats; i++) {
        size_t j = s->stats[i].hash & (n - 1);

        while (slots[j] != 0)
            j = (j + 1) & (n - 1);
        slots[j] = (uint32_t)i + 1;
    }
    cs_free(s->slots);
    s->slots = slots;
    s->n_slots = n;
    return 0;
}

/* The entry of "pair" and "session" (its hash "h"), added if new. */
static cs_latstats *stats_entry(lat_scan *s, const char *pair, const char *session, uint64_t h)
{
    cs_latstats *st;
    size_t j;

    if ((s->n_stats + 1) * 2 > s->n_slots && stats_reslot(s) < 0)
        return NULL;
    for (j = h & (s->n_slots - 1); s->slots[j] != 0; j = (j + 1) & (s->n_slots - 1)) {
        st = &s->stats[s->slots[j] - 1];
        if (st->hash == h && strncmp(st->pair, pair, sizeof(st->pair) - 1) == 0 &&
            strcmp(st->session, session) == 0)
            return st;
    }
    if (cs_grow((void **)&s->stats, &s->stats_cap, s->n_stats + 1, sizeof(*s->stats)) < 0)
        return NULL;
    st = &s->stats[s->n_stats++];
    s->slots[j] = (uint32_t)s->n_stats;
    cs_lazyhist_init(&st->hist);
    snprintf(st->pair, sizeof(st->pair), "%s", pair);
    snprintf(st->session, sizeof(st->session), "%s", session);
    st->hash = h;
    return st;
}

/* The binary key of "ms" into "k"; 0 if its pair does not fit. */
static int sess_key_of(const cs_measurement *ms, sess_key *k)
{
    size_t n = strlen(ms->pair);

    if (n >= sizeof(k->pair))
        return 0;
    memset(k, 0, sizeof(*k));
    sess_ep_of(ms, &k->ep);
    memcpy(k->pair, ms->pair, n);
    return 1;
}

/* The entry of "ms"'s pair and session, by name. */
static cs_latstats *stats_by_name(lat_scan *s, const cs_measurement *ms)
{
    char buf[CS_LATSTATS_NAME];
    const char *session = s->by == CS_LATBY_SESSION ? session_of(ms, buf) : "";
    uint64_t h = cs_hash64(session, strlen(session), cs_hash64(ms->pair, strlen(ms->pair), 0));

    return stats_entry(s, ms->pair, session, h);
}

static int lat_stat(lat_scan *s, const cs_measurement *ms)
{
    cs_latstats *st;
    sess_memo *e = NULL;
    sess_key k;

    if (s->memo != NULL && sess_key_of(ms, &k)) {
        e = &s->memo[cs_hash64(&k, sizeof(k), 0) & (SESS_MEMO - 1)];
        if (e->idx != 0 && memcmp(&e->key, &k, sizeof(k)) == 0) {
            st = &s->stats[e->idx - 1];
            return cs_lazyhist_record(&st->hist, ms->latency_ns);
        }
    }
    if ((st = stats_by_name(s, ms)) == NULL)
        return CS_ENOMEM;
    if (e != NULL) {
        e->key = k;
        e->idx = (uint32_t)(st - s->stats) + 1;
    }
    return cs_lazyhist_record(&st->hist, ms->latency_ns);
}

/* Is the pair of record "p" (n bytes) "want", as the decoded record's
 * C-string pair would compare? 0 for a record too short to decode. */
static int rec_pair_is(const uint8_t *p, size_t n, const char *want)
{
    const char *pair = (const char *)p + CS__LAT_FIXED;
    size_t len = p[CS__LAT_PAIR_LEN], want_len = strlen(want);

    if (n - CS__LAT_FIXED < len)
        return 0;
    len = strnlen(pair, len);
    return len == want_len && memcmp(pair, want, len) == 0;
}

/* Rules record "p" out from its fixed fields alone: outside the filter's
 * time, latency or pair, or, with a full heap, not sorting before the
 * root. Most records of a pair's slowest-k query are then passed over
 * without a full decode; a record too short for its fixed fields fails
 * its decode. Key and session filters are lat_matches()'. */
static int lat_ruled_out(const lat_scan *s, const uint8_t *p, size_t n)
{
    const cs_latfilter *f = s->f;
    lat_pick pk;

    if (s->find || f == NULL || n < CS__LAT_FIXED)
        return 0;
    pk.ts_ns = (int64_t)cs_rd_le64(p + CS__LAT_REQ_TS);
    pk.latency_ns = (int64_t)cs_rd_le64(p + CS__LAT_LATENCY);
    pk.id = cs_rd_le64(p + CS__LAT_ID);
    if (pk.ts_ns < f->after || pk.ts_ns >= f->before || pk.latency_ns < f->min_latency_ns ||
        pk.latency_ns > f->max_latency_ns || (f->pair != NULL && !rec_pair_is(p, n, f->pair)))
        return 1;
    if (f->sort != CS_LATSORT_TIME && f->sort != CS_LATSORT_LATENCY)
        return 0;
    return s->k && s->n_picks == s->k && !pick_before(f->sort, &pk, &s->picks[0]);
}

static int lat_frame(void *ud, const uint8_t *p, size_t n)
{
    lat_scan *s = ud;
    cs_measurement ms;
    int rc;

    if (s->find && (n < CS__LAT_FIXED || cs_rd_le64(p + CS__LAT_ID) != s->want_id))
        return 0;
    if (lat_ruled_out(s, p, n))
        return 0;
    if (cs__decode_measurement(p, n, &s->r->dec, &ms) < 0 || !lat_matches(s, &ms))
        return 0;
    s->found = 1;
    if (s->f && s->f->sort == -1)
        return lat_stat(s, &ms);
    if (!s->find && s->f && s->f->sort != CS_LATSORT_STORE) {
        lat_pick pk = {
            ms.latency_ns, ms.req_ts_ns, ms.id, cs__frame_offset(&s->r->sb, p), s->r->cur_seg, 0};
        return lat_pick_add(s, &pk);
    }
    if (!s->find && s->f && s->skipped < s->f->offset) {
        s->skipped++;
        return 0;
    }
    s->emitted++;
    if ((rc = s->fn(s->ud, &ms)) != 0 || s->find)
        return 1;
    return s->f && s->f->limit && s->emitted >= s->f->limit;
}

/* Points "*payload" at the checked record of pick "pk" in file "fd"; 0 if
 * it is there, 1 if it is gone, negative on error. */
static int fetch_frame(lat_scan *s, int fd, const lat_pick *pk, const uint8_t **payload, size_t *n)
{
    uint64_t end = s->win_base + s->win_len;
    ssize_t got;
    uint32_t len;
    const uint8_t *f;

    if (pk->off < s->win_base || pk->off + CS__FRAME_PAYLOAD > end) {
        if (cs_grow((void **)&s->win, &s->win_cap, FETCH_WINDOW, 1) < 0)
            return CS_ENOMEM;
        if ((got = pread(fd, s->win, FETCH_WINDOW, (off_t)pk->off)) < 0)
            return cs_error_set(CS_EIO, "reading measurements: %s", strerror(errno));
        s->win_base = pk->off;
        s->win_len = (size_t)got;
    }
    f = s->win + (pk->off - s->win_base);
    if (pk->off + CS__FRAME_PAYLOAD > s->win_base + s->win_len)
        return 1;
    len = cs_rd_le32(f + CS__FRAME_LEN);
    if (len < CS__MSG_MIN_PAYLOAD || len > CS__MSG_REC_MAX)
        return 1;
    if (pk->off + CS__FRAME_PAYLOAD + len > s->win_base + s->win_len) {
        if (cs_grow((void **)&s->win, &s->win_cap, CS__FRAME_PAYLOAD + (size_t)len, 1) < 0)
            return CS_ENOMEM;
        if ((got = pread(fd, s->win, CS__FRAME_PAYLOAD + (size_t)len, (off_t)pk->off)) < 0)
            return cs_error_set(CS_EIO, "reading measurements: %s", strerror(errno));
        s->win_base = pk->off;
        s->win_len = (size_t)got;
        f = s->win;
        if (s->win_len < CS__FRAME_PAYLOAD + (size_t)len)
            return 1;
    }
    if (cs_rd_le64(f + CS__FRAME_CHECK) != cs__msgstore_frame_check(f + CS__FRAME_PAYLOAD, len) ||
        cs_rd_le64(f + CS__FRAME_PAYLOAD + CS__LAT_ID) != pk->id)
        return 1;
    *payload = f + CS__FRAME_PAYLOAD;
    *n = len;
    return 0;
}

/* Reads the records of "picks"[0..m) (sorted by place) into the arena. */
static int fetch_chunk(lat_scan *s, lat_pick *picks, size_t m)
{
    char path[CS__MSG_PATH_MAX];
    int fd = -1, rc = 0;
    uint32_t fd_seg = 0;

    s->arena_len = 0;
    for (size_t i = 0; i < m && rc >= 0; i++) {
        const uint8_t *p = NULL;
        size_t n = 0;

        s->rec_len[picks[i].rank] = 0;
        if (fd < 0 || fd_seg != picks[i].seg) {
            if (fd >= 0)
                close(fd);
            fd_seg = picks[i].seg;
            s->win_len = 0;
            cs__msgfile_path(path, s->r->dir, CS__KIND_LAT, fd_seg, 0);
            if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                continue; /* gone: its records are left out */
        }
        if ((rc = fetch_frame(s, fd, &picks[i], &p, &n)) != 0)
            continue;
        if (cs_grow((void **)&s->arena, &s->arena_cap, s->arena_len + n, 1) < 0) {
            rc = CS_ENOMEM;
            break;
        }
        memcpy(s->arena + s->arena_len, p, n);
        s->rec_at[picks[i].rank] = s->arena_len;
        s->rec_len[picks[i].rank] = n;
        s->arena_len += n;
    }
    if (fd >= 0)
        close(fd);
    return rc < 0 ? rc : 0;
}

/* Pass 2: the picks [offset, end) in sort order through the callback. */
static int lat_emit_sorted(lat_scan *s)
{
    lat_pick chunk[FETCH_CHUNK];
    size_t first = s->f->offset < s->n_picks ? (size_t)s->f->offset : s->n_picks;
    int rc;

    if (s->n_picks == 0)
        return 0;
    cs_qsort(s->picks, s->n_picks, sizeof(*s->picks),
             s->f->sort == CS_LATSORT_LATENCY ? cmp_pick_latency : cmp_pick_time);
    for (size_t at = first; at < s->n_picks; at += FETCH_CHUNK) {
        size_t m = s->n_picks - at < FETCH_CHUNK ? s->n_picks - at : FETCH_CHUNK;

        for (size_t i = 0; i < m; i++) {
            chunk[i] = s->picks[at + i];
            chunk[i].rank = (uint32_t)i;
        }
        cs_qsort(chunk, m, sizeof(*chunk), cmp_pick_place);
        if ((rc = fetch_chunk(s, chunk, m)) < 0)
            return rc;
        for (size_t i = 0; i < m; i++) {
            cs_measurement ms;

            if (s->rec_len[i] == 0 ||
                cs__decode_measurement(s->arena + s->rec_at[i], s->rec_len[i], &s->r->dec, &ms) < 0)
                continue;
            if (s->fn(s->ud, &ms) != 0)
                return 0;
        }
    }
    return 0;
}

/* cs__block_order's bound for a query by latency: the largest latency a
 * block may hold that the filter lets through; 0 if it holds none (its
 * times outside the range, its latencies below the minimum, the pair not
 * in it: cs__lb_may_hold_pair, the test the reads by pair make too). */
static int lat_block_bound(void *ud, const cs__latblock *b, int64_t *bound)
{
    const cs_latfilter *f = ((const lat_scan *)ud)->f;
    int64_t max = b->max_latency;

    if (b->records == 0 || b->max_ts < f->after || b->min_ts >= f->before ||
        max < f->min_latency_ns)
        return 0;
    if (f->pair != NULL) {
        uint32_t h = cs__lb_pair_hash(f->pair, strlen(f->pair));
        int i = cs__lb_pair_slot(b, h);

        if (!cs__lb_may_hold_pair(b, h))
            return 0;
        if (i >= 0) /* else max_latency bounds it */
            max = b->pair_max[i];
    }
    *bound = max < f->max_latency_ns ? max : f->max_latency_ns;
    return *bound >= f->min_latency_ns;
}

/* No record of latency "bound" or below sorts before the heap's root. */
static int lat_block_enough(void *ud, int64_t bound)
{
    const lat_scan *s = ud;

    return s->k && s->n_picks == s->k && bound < s->picks[0].latency_ns;
}

int cs_msgreader_measurements(cs_msgreader *r, const cs_latfilter *f, cs_lat_fn fn, void *ud)
{
    lat_scan s = {.r = r, .f = f, .fn = fn, .ud = ud};
    cs__scan_hint h = {.after = f ? f->after : INT64_MIN,
                       .before = f ? f->before : INT64_MAX,
                       .key = f ? f->key : NULL,
                       .pair = f ? f->pair : NULL};
    cs__block_order order = {lat_block_bound, lat_block_enough, &s, 0};
    int rc;

    if (f && f->limit && f->offset <= SIZE_MAX / 2 && f->limit <= SIZE_MAX / 2)
        s.k = (size_t)(f->offset + f->limit);
    order.k = s.k;
    /* the k slowest: each file's slowest blocks first, until none can add */
    if (s.k && f->sort == CS_LATSORT_LATENCY)
        h.order = &order;
    rc = cs__msgreader_scan_all(r, CS__KIND_LAT, lat_frame, &s, &h);
    if (rc == 0 && f && f->sort != CS_LATSORT_STORE)
        rc = lat_emit_sorted(&s);
    cs_free(s.picks);
    cs_free(s.win);
    cs_free(s.arena);
    return rc;
}

static int cmp_stats(const void *a, const void *b)
{
    const cs_latstats *x = a, *y = b;
    int c = strcmp(x->pair, y->pair);

    return c ? c : strcmp(x->session, y->session);
}

int cs_msgreader_lat_stats(cs_msgreader *r, const cs_latfilter *f, int by, cs_latstats **out,
                           size_t *n)
{
    cs_latfilter sf;
    lat_scan s = {.r = r, .f = &sf, .by = by};
    int rc;

    *out = NULL;
    *n = 0;
    if (f)
        sf = *f;
    else
        cs_latfilter_init(&sf);
    sf.sort = -1; /* collect histograms */
    sf.limit = 0;
    if (by == CS_LATBY_SESSION && (s.memo = cs_calloc(SESS_MEMO, sizeof(*s.memo))) == NULL)
        return CS_ENOMEM;
    rc = cs__msgreader_scan_all(
        r, CS__KIND_LAT, lat_frame, &s,
        &(cs__scan_hint){.after = sf.after, .before = sf.before, .key = sf.key, .pair = sf.pair});
    cs_free(s.slots);
    cs_free(s.memo);
    if (rc < 0) {
        cs_latstats_free(s.stats, s.n_stats);
        return rc;
    }
    if (s.n_stats > 1)
        cs_qsort(s.stats, s.n_stats, sizeof(*s.stats), cmp_stats);
    *out = s.stats;
    *n = s.n_stats;
    return 0;
}

void cs_latstats_free(cs_latstats *st, size_t n)
{
    for (size_t i = 0; i < n && st != NULL; i++)
        cs_lazyhist_free(&st[i].hist);
    cs_free(st);
}

int cs_msgreader_find_measurement(cs_msgreader *r, cs_msgid id, const char *pair, cs_lat_fn fn,
                                  void *ud)
{
    lat_scan s = {.r = r, .fn = fn, .ud = ud, .want_id = id, .want_pair = pair, .find = 1};
    cs__scan_hint h = {.after = INT64_MIN, .before = INT64_MAX, .has_id = 1, .id = id};
    cs__scan_result res;
    char buf[40];
    int rc;

    if ((rc = cs__msgreader_scan_file(r, CS__KIND_LAT, cs_msgstore_file_seg(id, r->partitions),
                                      lat_frame, &s, &res, &h)) < 0)
        return rc;
    if (!s.found)
        return cs_error_set(CS_ENOTFOUND, "no measurement %s%s%s in the store",
                            cs_id_format('l', id, buf), pair ? " of pair " : "", pair ? pair : "");
    return 0;
}

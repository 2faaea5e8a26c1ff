/*
 * metrics.c - the per-second metrics aggregator (see metrics.h for the
 * window model, grace, late events and gauges).
 *
 * Data structures:
 *
 *   cs_metrics ── tab[]  open-addressing hash (kind, name) ──► series*
 *              └─ list[] the same series in creation order (close order)
 *
 *   series ── slots[CS_METRICS_SLOTS]  open windows, slot = second mod 4
 *          └─ totals since start (cs_window + histogram) for the snapshot
 *
 * Invariant: the open seconds are [open_lo, floor(W / 1 s)], at most
 * 1 + ceil(grace / 1 s) <= 3 of them (grace <= 2 s), so two open seconds
 * never share a slot; a slot whose "sec" tag is not the second being
 * filled holds nothing (it was emitted and cleared when its second closed).
 *
 * Closing second k walks every series once: O(series) per second, plus
 * 1000 steps per tap series for the busiest millisecond. Nothing on the
 * event path allocates; a series is allocated when it is first seen.
 */
#include "analytics/metrics.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/hash.h"
#include "record/json.h"

#include <stdio.h>
#include <string.h>

#define CS_METRICS_SLOTS 4
#define MS_PER_SEC 1000
#define NO_SEC INT64_MIN
#define MAX_GRACE_NS (2 * CS_NS_PER_SEC)

typedef struct slot {
    int64_t sec; /* the second this slot holds, NO_SEC if empty */
    uint64_t packets, bytes, messages, errors, measurements, late;
    uint64_t gaps, missing;
    int64_t offset_sum;                    /* clock series */
    uint64_t unsynced, backwards, untimed; /* clock series */
    uint64_t orders, accepts, rejects;     /* session series */
    cs_histogram *hist;                    /* pair, clock, feed, session series */
    uint32_t *ms_packets;                  /* tap (packets), feed (ITCH messages)
                                              series: MS_PER_SEC entries */
    uint64_t *ms_bytes;
    int ms_touched;
} slot;

typedef struct series {
    cs_series_id id;
    uint64_t hash;
    int64_t first_sec, last_sec; /* seconds of its first and latest event */
    slot slots[CS_METRICS_SLOTS];
    cs_window total;
    cs_histogram *total_hist;
    uint64_t gauge_at_close[CS_GAUGE_COUNT]; /* capture series */
    int64_t last_ref_ns;                     /* clock series: the latest reference time */
} series;

/* The series of the endpoint looked up last for a kind (a datagram's
 * ITCH messages, dozens a packet, all go to one feed): series are freed
 * only with the metrics, so the pointers stay good. */
typedef struct ep_memo {
    int valid;
    uint8_t ip_version;
    uint16_t tap, port;
    uint8_t addr[16];
    series *s[2];
} ep_memo;

struct cs_metrics {
    cs_metrics_cfg cfg;
    cs_window_fn fn;
    void *ud;
    series **tab;
    size_t tab_mask;
    series **list;
    size_t n;
    series *capture;
    int started;
    int64_t wm;      /* watermark: latest capture time seen */
    int64_t open_lo; /* first second not closed yet */
    int64_t last_active_sec;
    uint64_t gauges[CS_GAUGE_COUNT];
    cs_metrics_stats st;
    ep_memo memo[2]; /* the last feed and session endpoint looked up */
};

static const char *const kind_names[] = {"?",       "tap",   "proto", "pair",
                                         "capture", "clock", "feed",  "session"};
static const char *const gauge_names[CS_GAUGE_COUNT] = {"kernel_drops", "not_stored",
                                                        "not_analysed"};

const char *cs_series_kind_name(int kind)
{
    return kind >= CS_SERIES_TAP && kind <= CS_SERIES_SESSION ? kind_names[kind] : "?";
}

int cs_series_kind_parse(const char *s, size_t len)
{
    for (int k = CS_SERIES_TAP; k <= CS_SERIES_SESSION; k++) {
        if (strlen(kind_names[k]) == len && memcmp(kind_names[k], s, len) == 0)
            return k;
    }
    return 0;
}

const char *cs_gauge_name(int g)
{
    return g >= 0 && g < CS_GAUGE_COUNT ? gauge_names[g] : "?";
}

int cs_gauge_parse(const char *s, size_t len)
{
    for (int g = 0; g < CS_GAUGE_COUNT; g++) {
        if (strlen(gauge_names[g]) == len && memcmp(gauge_names[g], s, len) == 0)
            return g;
    }
    return -1;
}

uint64_t cs_window_count(const cs_window *w)
{
    switch (w->series.kind) {
    case CS_SERIES_PROTO:
    case CS_SERIES_FEED:
        return w->messages;
    case CS_SERIES_PAIR:
        return w->measurements;
    case CS_SERIES_SESSION:
        return w->orders;
    default:
        return w->packets;
    }
}

int cs_window_empty(const cs_window *w)
{
    uint64_t g = 0;

    for (int i = 0; i < CS_GAUGE_COUNT; i++)
        g |= w->gauges[i];
    return (w->packets | w->bytes | w->messages | w->errors | w->measurements | w->late | w->gaps |
            w->missing | w->unsynced | w->backwards | w->untimed | w->orders | w->accepts |
            w->rejects | g) == 0 &&
           (w->hist == NULL || w->hist->count == 0);
}

void cs_metrics_cfg_default(cs_metrics_cfg *cfg)
{
    cfg->grace_ns = 200 * 1000 * 1000;
    cfg->idle_windows = 300;
    cfg->max_series = 1024;
}

/* floor(ns / 1 s), also for negative times. */
static int64_t sec_of(int64_t ns)
{
    int64_t q = ns / CS_NS_PER_SEC;
    return (ns % CS_NS_PER_SEC < 0) ? q - 1 : q;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_sub_overflow(a, b, &r) ? INT64_MIN : r;
}

/* ---- series ----------------------------------------------------------- */

static void slot_clear(slot *sl)
{
    sl->sec = NO_SEC;
    sl->packets = sl->bytes = sl->messages = sl->errors = sl->measurements = sl->late = 0;
    sl->gaps = sl->missing = 0;
    sl->offset_sum = 0;
    sl->unsynced = sl->backwards = sl->untimed = 0;
    sl->orders = sl->accepts = sl->rejects = 0;
    if (sl->hist && sl->hist->count)
        cs_hist_init(sl->hist);
    if (sl->ms_touched) {
        memset(sl->ms_packets, 0, MS_PER_SEC * sizeof(*sl->ms_packets));
        memset(sl->ms_bytes, 0, MS_PER_SEC * sizeof(*sl->ms_bytes));
        sl->ms_touched = 0;
    }
}

static void series_free(series *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < CS_METRICS_SLOTS; i++) {
        cs_free(s->slots[i].hist);
        cs_free(s->slots[i].ms_packets);
        cs_free(s->slots[i].ms_bytes);
    }
    cs_free(s->total_hist);
    cs_free(s);
}

/* Series with a histogram: latency (pair, session), clock offset, lead (feed). */
static int has_hist(int kind)
{
    return kind == CS_SERIES_PAIR || kind == CS_SERIES_CLOCK || kind == CS_SERIES_FEED ||
           kind == CS_SERIES_SESSION;
}

static series *series_new(int kind, const char *name, size_t len, uint64_t hash)
{
    series *s = cs_calloc(1, sizeof(*s));
    int bad = 0;

    if (s == NULL)
        return NULL;
    s->id.kind = (uint8_t)kind;
    memcpy(s->id.name, name, len);
    s->hash = hash;
    s->first_sec = s->last_sec = NO_SEC;
    s->last_ref_ns = INT64_MIN;
    s->total.series = s->id;
    for (int i = 0; i < CS_METRICS_SLOTS; i++) {
        slot *sl = &s->slots[i];
        sl->sec = NO_SEC;
        if (has_hist(kind) && (sl->hist = cs_malloc(sizeof(*sl->hist))) == NULL)
            bad = 1;
        if ((kind == CS_SERIES_TAP || kind == CS_SERIES_FEED) &&
            ((sl->ms_packets = cs_calloc(MS_PER_SEC, sizeof(uint32_t))) == NULL ||
             (sl->ms_bytes = cs_calloc(MS_PER_SEC, sizeof(uint64_t))) == NULL))
            bad = 1;
        if (sl->hist)
            cs_hist_init(sl->hist);
    }
    if (has_hist(kind) && (s->total_hist = cs_malloc(sizeof(*s->total_hist))) == NULL)
        bad = 1;
    if (bad) {
        series_free(s);
        return NULL;
    }
    if (s->total_hist)
        cs_hist_init(s->total_hist);
    return s;
}

/* The series (kind, name[0..len)), created if new; NULL when the table is
 * full or memory runs out (counted). */
static series *series_get(cs_metrics *m, int kind, const char *name, size_t len)
{
    uint64_t h;
    size_t i;
    series *s;

    if (len >= CS_SERIES_NAME_MAX)
        len = CS_SERIES_NAME_MAX - 1;
    h = cs_hash64(name, len, (uint64_t)kind);
    for (i = h & m->tab_mask; (s = m->tab[i]) != NULL; i = (i + 1) & m->tab_mask) {
        if (s->hash == h && s->id.kind == kind && strlen(s->id.name) == len &&
            memcmp(s->id.name, name, len) == 0)
            return s;
    }
    if (m->n >= m->cfg.max_series || (s = series_new(kind, name, len, h)) == NULL) {
        m->st.series_dropped++;
        return NULL;
    }
    m->tab[i] = s;
    m->list[m->n++] = s;
    m->st.series = m->n;
    return s;
}

/* ---- closing windows -------------------------------------------------- */

static void busiest_ms(const slot *sl, cs_window *w)
{
    for (int i = 0; i < MS_PER_SEC; i++) {
        if (sl->ms_packets[i] > w->burst_packets) {
            w->burst_packets = sl->ms_packets[i];
            w->burst_packets_ms = (uint16_t)i;
        }
        if (sl->ms_bytes[i] > w->burst_bytes) {
            w->burst_bytes = sl->ms_bytes[i];
            w->burst_bytes_ms = (uint16_t)i;
        }
    }
}

static void close_series(cs_metrics *m, series *s, int64_t k)
{
    slot *sl = &s->slots[(uint64_t)k % CS_METRICS_SLOTS];
    int has = sl->sec == k;
    cs_window w;

    memset(&w, 0, sizeof(w));
    w.series = s->id;
    w.start_ns = k * CS_NS_PER_SEC;
    w.dur_ns = CS_NS_PER_SEC;
    if (has) {
        w.packets = sl->packets;
        w.bytes = sl->bytes;
        w.messages = sl->messages;
        w.errors = sl->errors;
        w.measurements = sl->measurements;
        w.gaps = sl->gaps;
        w.missing = sl->missing;
        w.late = sl->late;
        w.offset_sum_ns = sl->offset_sum;
        w.unsynced = sl->unsynced;
        w.backwards = sl->backwards;
        w.untimed = sl->untimed;
        w.orders = sl->orders;
        w.accepts = sl->accepts;
        w.rejects = sl->rejects;
        if (sl->ms_touched)
            busiest_ms(sl, &w);
    }
    if (sl->hist) {
        if (!has && sl->hist->count)
            cs_hist_init(sl->hist);
        w.hist = sl->hist;
    }
    if (s->id.kind == CS_SERIES_CAPTURE) {
        for (int g = 0; g < CS_GAUGE_COUNT; g++) {
            w.gauges[g] = m->gauges[g] - s->gauge_at_close[g];
            s->gauge_at_close[g] = m->gauges[g];
        }
    }
    m->st.windows++;
    if (m->fn)
        m->fn(m->ud, &w);
    if (has)
        slot_clear(sl);
}

static void close_second(cs_metrics *m, int64_t k)
{
    for (size_t i = 0; i < m->n; i++) {
        series *s = m->list[i];
        if (s->first_sec == NO_SEC || k < s->first_sec ||
            k > s->last_sec + (int64_t)m->cfg.idle_windows)
            continue;
        close_series(m, s, k);
    }
}

/* Closes every second k < "target", skipping idle stretches. */
static void close_until(cs_metrics *m, int64_t target)
{
    while (m->open_lo < target) {
        if (m->open_lo > m->last_active_sec + (int64_t)m->cfg.idle_windows) {
            m->open_lo = target;
            break;
        }
        close_second(m, m->open_lo);
        m->open_lo++;
    }
}

static void close_due(cs_metrics *m)
{
    close_until(m, sec_of(sat_sub(m->wm, m->cfg.grace_ns)));
}

/* Moves the watermark for an event at "ts"; starts the clock on the first. */
static void observe(cs_metrics *m, int64_t ts)
{
    if (!m->started) {
        m->started = 1;
        m->wm = ts;
        m->open_lo = sec_of(sat_sub(ts, m->cfg.grace_ns));
        m->last_active_sec = sec_of(ts);
        return;
    }
    if (ts > m->wm) {
        m->wm = ts;
        close_due(m);
    }
}

/* The slot an event of series "s" at "ts" counts in (its own second, or
 * the newest open one if its second is closed). */
static slot *slot_for(cs_metrics *m, series *s, int64_t ts)
{
    int64_t k = sec_of(ts);
    int late = 0;
    slot *sl;

    if (k < m->open_lo) {
        k = sec_of(m->wm);
        late = 1;
        m->st.late++;
    }
    sl = &s->slots[(uint64_t)k % CS_METRICS_SLOTS];
    if (sl->sec != k) {
        slot_clear(sl);
        sl->sec = k;
    }
    sl->late += (uint64_t)late;
    if (s->first_sec == NO_SEC || k < s->first_sec)
        s->first_sec = k;
    if (s->last_sec == NO_SEC || k > s->last_sec)
        s->last_sec = k;
    if (k > m->last_active_sec)
        m->last_active_sec = k;
    s->total.late += (uint64_t)late;
    return sl;
}

/* ---- events ----------------------------------------------------------- */

static void count_packet(cs_metrics *m, series *s, const cs_packet *p)
{
    slot *sl = slot_for(m, s, p->ts_ns);

    sl->packets++;
    sl->bytes += p->wirelen;
    s->total.packets++;
    s->total.bytes += p->wirelen;
    if (sl->ms_packets && sl->sec == sec_of(p->ts_ns)) {
        int64_t ms = (p->ts_ns - sl->sec * CS_NS_PER_SEC) / 1000000;
        sl->ms_packets[ms]++;
        sl->ms_bytes[ms] += p->wirelen;
        sl->ms_touched = 1;
    }
}

/* |v| as an unsigned count of ns, INT64_MIN included. */
static uint64_t magnitude(int64_t v)
{
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

/* Clock quality of the packet's tap (its time from a reference). */
static void count_clock(cs_metrics *m, series *s, const cs_packet *p)
{
    slot *sl = slot_for(m, s, p->ts_ns);
    int64_t off;

    if (p->tref & CS_TREF_UNTIMED) {
        sl->untimed++;
        s->total.untimed++;
        return;
    }
    off = sat_sub(cs_packet_cap_ns(p), p->ts_ns);
    sl->packets++;
    s->total.packets++;
    sl->offset_sum += off;
    s->total.offset_sum_ns += off;
    cs_hist_record(sl->hist, (int64_t)(magnitude(off) > INT64_MAX ? INT64_MAX : magnitude(off)));
    cs_hist_record(s->total_hist,
                   (int64_t)(magnitude(off) > INT64_MAX ? INT64_MAX : magnitude(off)));
    if (p->tref & CS_TREF_UNSYNCED) {
        sl->unsynced++;
        s->total.unsynced++;
    }
    if (p->ts_ns < s->last_ref_ns) {
        sl->backwards++;
        s->total.backwards++;
    } else {
        s->last_ref_ns = p->ts_ns;
    }
}

void cs_metrics_packet(cs_metrics *m, const cs_packet *p)
{
    char name[8];
    int len = snprintf(name, sizeof(name), "%u", (unsigned)p->tap);
    series *s;

    observe(m, p->ts_ns);
    if ((s = series_get(m, CS_SERIES_TAP, name, (size_t)len)) != NULL)
        count_packet(m, s, p);
    count_packet(m, m->capture, p);
    if (p->tref && (s = series_get(m, CS_SERIES_CLOCK, name, (size_t)len)) != NULL)
        count_clock(m, s, p);
}

/* A message its decoder marked as an error (decoder.h, cs_msg_out.error):
 * for dns exactly the responses whose RCODE is not 0. */
static int message_is_error(const cs_message *msg)
{
    return msg->error.len > 0;
}

/* ---- feeds and sessions ----------------------------------------------- */

static int str_is(cs_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

/* The series of kind "kind" named by endpoint "side" of "ep": [0] at its
 * tap ("TAP/ADDR:PORT"), [1] over all taps ("ADDR:PORT"); NULL where the
 * table is full. */
static void endpoint_series(cs_metrics *m, int kind, const cs_endpoints *ep, int side,
                            series *out[2])
{
    ep_memo *mo = &m->memo[kind == CS_SERIES_FEED];
    const uint8_t *addr = side ? ep->addr_b : ep->addr_a;
    uint16_t port = side ? ep->port_b : ep->port_a;
    char name[8 + CS_EP_BUFLEN];
    int off;

    if (mo->valid && mo->tap == ep->tap && mo->port == port && mo->ip_version == ep->ip_version &&
        memcmp(mo->addr, addr, sizeof(mo->addr)) == 0) {
        out[0] = mo->s[0];
        out[1] = mo->s[1];
        return;
    }
    off = snprintf(name, 8, "%u/", (unsigned)ep->tap);
    cs_endpoint_format(ep, side, name + off);
    out[0] = series_get(m, kind, name, strlen(name));
    out[1] = series_get(m, kind, name + off, strlen(name + off));
    /* a series refused (too many) is looked up, and counted, each time */
    *mo = (ep_memo){.valid = out[0] != NULL && out[1] != NULL,
                    .ip_version = ep->ip_version,
                    .tap = ep->tap,
                    .port = port,
                    .s = {out[0], out[1]}};
    memcpy(mo->addr, addr, sizeof(mo->addr));
}

/* A moldudp64 packet or an ITCH message of the feed its datagram went to
 * (side !dir, as store/feeds.c finds it); requests (a re-request to the
 * server) are no feed's. ITCH messages also go to the busiest millisecond. */
static void count_feed(cs_metrics *m, const cs_message *msg, int itch)
{
    series *fs[2];

    if (!itch && !str_is(msg->type, "data") && !str_is(msg->type, "heartbeat") &&
        !str_is(msg->type, "end_of_session"))
        return;
    endpoint_series(m, CS_SERIES_FEED, &msg->ep, !msg->dir, fs);
    for (int i = 0; i < 2; i++) {
        slot *sl;
        if (fs[i] == NULL)
            continue;
        sl = slot_for(m, fs[i], msg->ts_ns);
        if (!itch) {
            sl->packets++;
            fs[i]->total.packets++;
            continue;
        }
        sl->messages++;
        fs[i]->total.messages++;
        if (sl->sec == sec_of(msg->ts_ns)) {
            sl->ms_packets[(msg->ts_ns - sl->sec * CS_NS_PER_SEC) / 1000000]++;
            sl->ms_touched = 1;
        }
    }
}

/* An OUCH message of the session of its connection's client (side a, the
 * initiator). */
static void count_session(cs_metrics *m, const cs_message *msg, int err)
{
    uint64_t order = str_is(msg->type, "enter_order"), accept = str_is(msg->type, "accepted"),
             reject = str_is(msg->type, "rejected");
    series *ss[2];

    endpoint_series(m, CS_SERIES_SESSION, &msg->ep, 0, ss);
    for (int i = 0; i < 2; i++) {
        slot *sl;
        if (ss[i] == NULL)
            continue;
        sl = slot_for(m, ss[i], msg->ts_ns);
        sl->messages++;
        sl->errors += (uint64_t)err;
        sl->orders += order;
        sl->accepts += accept;
        sl->rejects += reject;
        ss[i]->total.messages++;
        ss[i]->total.errors += (uint64_t)err;
        ss[i]->total.orders += order;
        ss[i]->total.accepts += accept;
        ss[i]->total.rejects += reject;
    }
}

void cs_metrics_message(cs_metrics *m, const cs_message *msg)
{
    series *s;
    slot *sl;
    int err;

    if (msg->proto == NULL)
        return;
    observe(m, msg->ts_ns);
    err = message_is_error(msg);
    if (strcmp(msg->proto, "moldudp64") == 0 || strcmp(msg->proto, "itch") == 0)
        count_feed(m, msg, msg->proto[0] == 'i');
    else if (strcmp(msg->proto, "ouch") == 0)
        count_session(m, msg, err);
    if ((s = series_get(m, CS_SERIES_PROTO, msg->proto, strlen(msg->proto))) == NULL)
        return;
    sl = slot_for(m, s, msg->ts_ns);
    sl->messages++;
    sl->errors += (uint64_t)err;
    s->total.messages++;
    s->total.errors += (uint64_t)err;
}

void cs_metrics_seq_gap(cs_metrics *m, const char *proto, uint64_t count, int64_t ts_ns)
{
    series *s;
    slot *sl;

    if (proto == NULL)
        return;
    observe(m, ts_ns);
    if ((s = series_get(m, CS_SERIES_PROTO, proto, strlen(proto))) == NULL)
        return;
    sl = slot_for(m, s, ts_ns);
    sl->gaps++;
    sl->missing += count;
    s->total.gaps++;
    s->total.missing += count;
}

void cs_metrics_feed_gap(cs_metrics *m, const cs_endpoints *ep, uint8_t dir, uint64_t count,
                         int64_t ts_ns)
{
    series *fs[2];

    observe(m, ts_ns);
    endpoint_series(m, CS_SERIES_FEED, ep, !dir, fs);
    for (int i = 0; i < 2; i++) {
        slot *sl;
        if (fs[i] == NULL)
            continue;
        sl = slot_for(m, fs[i], ts_ns);
        sl->gaps++;
        sl->missing += count;
        fs[i]->total.gaps++;
        fs[i]->total.missing += count;
    }
}

/* One measurement in "s" (NULL: none) at "ts_ns": counted, its latency
 * recorded. */
static void count_measurement(cs_metrics *m, series *s, int64_t ts_ns, int64_t latency_ns)
{
    slot *sl;

    if (s == NULL)
        return;
    sl = slot_for(m, s, ts_ns);
    sl->measurements++;
    cs_hist_record(sl->hist, latency_ns);
    s->total.measurements++;
    cs_hist_record(s->total_hist, latency_ns);
}

void cs_metrics_measurement(cs_metrics *m, const cs_measurement *ms)
{
    series *s[2];

    if (ms->pair == NULL)
        return;
    observe(m, ms->req_ts_ns);
    count_measurement(m, series_get(m, CS_SERIES_PAIR, ms->pair, strlen(ms->pair)), ms->req_ts_ns,
                      ms->latency_ns);
    if (strcmp(ms->pair, "ab") == 0) /* a race: won by the feed of the earlier copy */
        endpoint_series(m, CS_SERIES_FEED, &ms->ep, 1, s);
    else if (strcmp(ms->pair, "ouch") == 0)
        endpoint_series(m, CS_SERIES_SESSION, &ms->ep, 0, s);
    else
        return;
    count_measurement(m, s[0], ms->req_ts_ns, ms->latency_ns);
    count_measurement(m, s[1], ms->req_ts_ns, ms->latency_ns);
}

int cs_metrics_gauge(cs_metrics *m, const char *name, uint64_t value)
{
    int g = cs_gauge_parse(name, strlen(name));

    if (g < 0)
        return cs_error_set(CS_EINVAL, "unknown capture gauge \"%s\"", name);
    if (value != m->gauges[g] && m->started) {
        series *s = m->capture;
        int64_t k = sec_of(m->wm);
        if (s->first_sec == NO_SEC)
            s->first_sec = k;
        if (s->last_sec == NO_SEC || k > s->last_sec)
            s->last_sec = k;
        if (k > m->last_active_sec)
            m->last_active_sec = k;
    }
    m->gauges[g] = value;
    m->capture->total.gauges[g] = value;
    return 0;
}

void cs_metrics_advance(cs_metrics *m, int64_t now_ns)
{
    if (m->started && now_ns > m->wm) {
        m->wm = now_ns;
        close_due(m);
    }
}

void cs_metrics_flush(cs_metrics *m)
{
    if (m->started)
        close_until(m, sec_of(m->wm) + 1);
}

void cs_metrics_snapshot(const cs_metrics *m, cs_window_fn fn, void *ud)
{
    for (size_t i = 0; i < m->n; i++) {
        const series *s = m->list[i];
        cs_window w = s->total;
        if (s->first_sec == NO_SEC)
            continue;
        w.start_ns = s->first_sec * CS_NS_PER_SEC;
        w.dur_ns = m->wm > w.start_ns ? m->wm - w.start_ns : 0;
        w.hist = s->total_hist;
        fn(ud, &w);
    }
}

void cs_metrics_stats_get(const cs_metrics *m, cs_metrics_stats *st)
{
    *st = m->st;
}

int cs_metrics_new(const cs_metrics_cfg *cfg, cs_window_fn fn, void *ud, cs_metrics **out)
{
    cs_metrics *m = cs_calloc(1, sizeof(*m));
    size_t cap = 16;

    *out = NULL;
    if (m == NULL)
        return CS_ENOMEM;
    if (cfg)
        m->cfg = *cfg;
    else
        cs_metrics_cfg_default(&m->cfg);
    if (m->cfg.grace_ns < 0)
        m->cfg.grace_ns = 0;
    if (m->cfg.grace_ns > MAX_GRACE_NS)
        m->cfg.grace_ns = MAX_GRACE_NS;
    if (m->cfg.max_series < 1)
        m->cfg.max_series = 1;
    while (cap < 2 * (size_t)m->cfg.max_series)
        cap *= 2;
    m->fn = fn;
    m->ud = ud;
    m->tab_mask = cap - 1;
    m->tab = cs_calloc(cap, sizeof(*m->tab));
    m->list = cs_calloc(m->cfg.max_series, sizeof(*m->list));
    if (m->tab == NULL || m->list == NULL ||
        (m->capture = series_get(m, CS_SERIES_CAPTURE, "capture", 7)) == NULL) {
        cs_metrics_free(m);
        return CS_ENOMEM;
    }
    m->st.series_dropped = 0;
    *out = m;
    return 0;
}

void cs_metrics_free(cs_metrics *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++)
        series_free(m->list[i]);
    cs_free(m->list);
    cs_free(m->tab);
    cs_free(m);
}

/* ---- merging ---------------------------------------------------------- */

void cs_metrics_acc_clear_counts(cs_metrics_acc *acc)
{
    memset(&acc->s, 0, sizeof(acc->s));
    acc->offset_sum = acc->n_fit = acc->st = acc->sm = acc->stm = acc->stt = 0;
    acc->t0 = 0;
}

void cs_metrics_acc_init(cs_metrics_acc *acc, int64_t from_ns, int64_t to_ns)
{
    cs_metrics_acc_clear_counts(acc);
    acc->s.from_ns = from_ns;
    acc->s.to_ns = to_ns;
    cs_hist_init(&acc->hist);
}

/* A clock window: its counts, and its mean offset as one point of the
 * drift fit (time in seconds from the first window fitted). */
static void acc_add_clock(cs_metrics_acc *acc, const cs_window *w)
{
    double t, mean;

    acc->s.unsynced += w->unsynced;
    acc->s.backwards += w->backwards;
    acc->s.untimed += w->untimed;
    if (w->packets == 0)
        return;
    acc->offset_sum += (double)w->offset_sum_ns;
    if (acc->n_fit == 0)
        acc->t0 = w->start_ns;
    t = (double)(w->start_ns - acc->t0) / (double)CS_NS_PER_SEC;
    mean = (double)w->offset_sum_ns / (double)w->packets;
    acc->n_fit += 1;
    acc->st += t;
    acc->sm += mean;
    acc->stm += t * mean;
    acc->stt += t * t;
}

void cs_metrics_acc_add(cs_metrics_acc *acc, const cs_window *w)
{
    cs_metrics_summary *s = &acc->s;

    s->windows++;
    s->count += cs_window_count(w);
    s->packets += w->packets;
    s->bytes += w->bytes;
    s->messages += w->messages;
    s->errors += w->errors;
    s->measurements += w->measurements;
    s->gaps += w->gaps;
    s->missing += w->missing;
    s->late += w->late;
    s->orders += w->orders;
    s->accepts += w->accepts;
    s->rejects += w->rejects;
    for (int g = 0; g < CS_GAUGE_COUNT; g++)
        s->gauges[g] += w->gauges[g];
    if (w->burst_packets > s->burst_packets)
        s->burst_packets = w->burst_packets;
    if (w->burst_bytes > s->burst_bytes)
        s->burst_bytes = w->burst_bytes;
    if (w->hist)
        cs_hist_merge(&acc->hist, w->hist);
    if (w->series.kind == CS_SERIES_CLOCK)
        acc_add_clock(acc, w);
}

void cs_metrics_acc_clock_finish(const cs_metrics_acc *acc, cs_metrics_summary *out)
{
    double den = acc->n_fit * acc->stt - acc->st * acc->st;

    out->offset_mean_ns = out->packets ? acc->offset_sum / (double)out->packets : 0;
    out->drift_ns_per_min =
        acc->n_fit >= 2 && den > 0 ? 60.0 * (acc->n_fit * acc->stm - acc->st * acc->sm) / den : 0;
}

void cs_metrics_acc_finish(const cs_metrics_acc *acc, cs_metrics_summary *out)
{
    double secs = (double)(acc->s.to_ns - acc->s.from_ns) / (double)CS_NS_PER_SEC;
    const cs_histogram *h = &acc->hist;

    *out = acc->s;
    out->rate = secs > 0 ? (double)out->count / secs : 0;
    out->error_rate = secs > 0 ? (double)out->errors / secs : 0;
    out->p50 = cs_hist_quantile(h, 0.50);
    out->p90 = cs_hist_quantile(h, 0.90);
    out->p99 = cs_hist_quantile(h, 0.99);
    out->p999 = cs_hist_quantile(h, 0.999);
    out->max = cs_hist_max(h);
    out->min = cs_hist_min(h);
    out->mean = cs_hist_mean(h);
    cs_metrics_acc_clock_finish(acc, out);
}

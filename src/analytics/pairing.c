/*
 * pairing.c - pending-request table and response matching.
 *
 * Layout:
 *   buckets[h & mask] : head <-> ... <-> tail   entries with that key hash,
 *                                                oldest first (FIFO per key)
 *   age list          : head <-> ... <-> tail   every pending request,
 *                                                in arrival order
 *   pool              : slabs of fixed-size entries with a free list
 *
 * A response hashes (pair, flow, opposite direction, match) and walks its
 * bucket from the head; the first entry with an equal key is the oldest
 * such request. Timeouts pop the age-list head while it is too old (capture
 * time; arrival order is close enough to time order for a timeout).
 *
 * Each entry stores its strings and refs in an inline buffer when they fit
 * (the usual case) or in one allocation of its own otherwise.
 *
 * A request answered by a response flagged CS_MSG_MORE stays in its bucket
 * and on the age list, marked answered, with the response's part of the
 * measurement: it is a held measurement. Request lookups skip answered
 * entries, continuation lookups (CS_MSG_CONTINUATION) see only them. When
 * an entry leaves (timeout, eviction, flush) an answered one becomes its
 * measurement and an unanswered one an unmatched request (retire_entry).
 * A lifecycle's entry (CS_MSG_LIFECYCLE | CS_MSG_MORE) is answered and
 * "emitted": its measurement went out when answered, later events only
 * count on it, and it leaves quietly.
 *
 * A sighting (CS_ROLE_SIGHTING) is filed as a request keyed by pair,
 * match and its tap (CS_SCOPE_TAP: kflow = TAP_SCOPE_BIT | tap, dir 0); a
 * sighting on another flow finds it as a response would and answers it.
 * Unanswered sightings leave as unmatched requests: the analyzer keeps
 * them in a pairing of their own whose sink counts them quietly.
 *
 * CS_SCOPE_SESSION files a request under its connection at any tap:
 * kflow = SESSION_SCOPE_BITS | a hash of its ends in canonical order
 * (b_first), dir = which of those ends sent it. Each tap's copy of a
 * request is its own entry; a response takes the oldest at its own tap,
 * else the oldest at any tap (find_session_request), and marks the oldest
 * copy at each other tap "copy_answered" (mark_copies), which then leaves
 * quietly, counted in "duplicates", if no answer comes at its tap.
 *
 * A hop (cs_pairing_hop) is filed the same way under a route instead of a
 * tap: kflow = HOP_SCOPE_BIT | a hash of the message's source and
 * destination (addresses, ports, IP version and protocol, in the
 * direction it was sent; neither tap nor VLANs, which differ between
 * capture points), dir 0, match = the message's key. A copy at another
 * tap answers it, a copy at its own tap is a duplicate.
 */
#include "analytics/pairing.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/hash.h"

#include <string.h>

#define INLINE_BYTES 160u
#define RESP_TYPE_MAX 24u /* bytes of the answer's type kept (names are short) */
#define SLAB_ENTRIES 1024u
#define TAP_SCOPE_BIT (1ull << 63) /* kflow of CS_SCOPE_TAP: this bit and the tap */
#define HOP_SCOPE_BIT (1ull << 62) /* kflow of a hop: this bit and 62 bits of its route */
#define SCOPE_HOP 0xffu            /* the scope of hops, no decoder's (decoder.h CS_SCOPE_*) */
#define ROUTE_SEED 0x686f70726f757465ull
#define SESSION_SCOPE_BITS (3ull << 62) /* kflow of CS_SCOPE_SESSION: these and its session */
#define SESSION_SEED 0x73657373696f6e73ull

typedef struct pend {
    struct pend *bnext, *bprev; /* bucket chain, oldest first */
    struct pend *anext, *aprev; /* age list, oldest first */
    uint64_t h;
    uint64_t kflow; /* the flow it is filed under (0: CS_SCOPE_ANY) */
    uint8_t kdir;   /* the direction it is filed under (0: CS_SCOPE_ANY) */
    uint64_t flow_id;
    cs_msgid id;
    int64_t ts, last_ts;
    const char *proto; /* the decoder's static name */
    cs_endpoints ep;
    uint32_t flags, len;
    uint32_t n_refs;
    uint16_t pair_len, match_len, key_len, type_len;
    uint8_t dir;
    uint8_t answered;      /* a held measurement: resp_* and attached_* are set */
    uint8_t emitted;       /* answered, its measurement already given to the sink: kept
                              only so its lifecycle's later events attach to it */
    uint8_t copy_answered; /* CS_SCOPE_SESSION: its copy at another tap was answered,
                              so it leaves quietly if its own tap sees no answer */
    cs_msgid resp_id, attached_last_id;
    int64_t resp_ts, resp_last_ts, attached_last_ts;
    uint32_t attached;
    uint16_t resp_tap;
    uint8_t resp_type_len;
    char resp_type[RESP_TYPE_MAX]; /* the answer's message type */
    unsigned char *ext;            /* owned, or NULL when the inline buffer holds it all */
    _Alignas(8) unsigned char buf[INLINE_BYTES];
} pend;

typedef struct bucket {
    pend *head, *tail;
} bucket;

typedef struct pslab {
    struct pslab *next;
    pend e[SLAB_ENTRIES];
} pslab;

struct cs_pairing {
    cs_sink sink;
    uint32_t max;
    int64_t timeout;
    bucket *buckets;
    uint64_t mask;
    pend *age_head, *age_tail;
    pend *free;
    pslab *slabs;
    cs_pairing_stats st;
};

static unsigned char *pend_data(pend *e)
{
    return e->ext ? e->ext : e->buf;
}

/* Data layout: refs[n_refs] | pair | '\0' | match | key | type */
static const cs_pktref *pend_refs(pend *e)
{
    return (const cs_pktref *)(void *)pend_data(e);
}

static const char *pend_pair(pend *e)
{
    return (const char *)pend_data(e) + e->n_refs * sizeof(cs_pktref);
}

static const char *pend_match(pend *e)
{
    return pend_pair(e) + e->pair_len + 1;
}

static const char *pend_key(pend *e)
{
    return pend_match(e) + e->match_len;
}

static const char *pend_type(pend *e)
{
    return pend_key(e) + e->key_len;
}

static uint64_t key_hash(const char *pair, size_t pair_len, uint64_t flow, uint8_t dir, cs_str m)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < pair_len; i++)
        h = (h ^ (uint8_t)pair[i]) * 1099511628211ull;
    h = (h ^ flow) * 1099511628211ull;
    h = (h ^ dir) * 1099511628211ull;
    for (size_t i = 0; i < m.len; i++)
        h = (h ^ (uint8_t)m.p[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

int cs_pairing_new(uint32_t max_pending, int64_t timeout_ns, const cs_sink *sink, cs_pairing **out)
{
    cs_pairing *p = cs_calloc(1, sizeof(*p));

    if (p == NULL)
        return CS_ENOMEM;
    p->sink = *sink;
    p->max = max_pending ? max_pending : 1;
    p->timeout = timeout_ns;
    p->mask = 4095;
    p->buckets = cs_calloc(p->mask + 1, sizeof(*p->buckets));
    if (p->buckets == NULL) {
        cs_free(p);
        return CS_ENOMEM;
    }
    *out = p;
    return 0;
}

void cs_pairing_free(cs_pairing *p)
{
    if (p == NULL)
        return;
    for (pend *e = p->age_head; e != NULL; e = e->anext)
        cs_free(e->ext);
    while (p->slabs != NULL) {
        pslab *n = p->slabs->next;
        cs_free(p->slabs);
        p->slabs = n;
    }
    cs_free(p->buckets);
    cs_free(p);
}

static void grow_buckets(cs_pairing *p)
{
    uint64_t nmask = p->mask * 2 + 1;
    bucket *nb = cs_calloc(nmask + 1, sizeof(*nb));

    if (nb == NULL)
        return;
    /* Re-insert in age order so every chain stays oldest first. */
    for (pend *e = p->age_head; e != NULL; e = e->anext) {
        bucket *b = &nb[e->h & nmask];
        e->bnext = NULL;
        e->bprev = b->tail;
        if (b->tail)
            b->tail->bnext = e;
        else
            b->head = e;
        b->tail = e;
    }
    cs_free(p->buckets);
    p->buckets = nb;
    p->mask = nmask;
}

static pend *entry_alloc(cs_pairing *p)
{
    pend *e;

    if (p->free == NULL) {
        pslab *s = cs_malloc(sizeof(*s));
        if (s == NULL)
            return NULL;
        s->next = p->slabs;
        p->slabs = s;
        for (uint32_t i = SLAB_ENTRIES; i-- > 0;) {
            s->e[i].bnext = p->free;
            p->free = &s->e[i];
        }
    }
    e = p->free;
    p->free = e->bnext;
    return e;
}

static void unlink_entry(cs_pairing *p, pend *e)
{
    bucket *b = &p->buckets[e->h & p->mask];

    if (e->bprev)
        e->bprev->bnext = e->bnext;
    else
        b->head = e->bnext;
    if (e->bnext)
        e->bnext->bprev = e->bprev;
    else
        b->tail = e->bprev;
    if (e->aprev)
        e->aprev->anext = e->anext;
    else
        p->age_head = e->anext;
    if (e->anext)
        e->anext->aprev = e->aprev;
    else
        p->age_tail = e->aprev;
    cs_free(e->ext);
    e->ext = NULL;
    e->bnext = p->free;
    p->free = e;
    p->st.pending--;
}

static void report_unmatched(cs_pairing *p, pend *e)
{
    cs_message m;

    p->st.unmatched_requests++;
    if (p->sink.unmatched == NULL)
        return;
    memset(&m, 0, sizeof(m));
    m.id = e->id;
    m.proto = e->proto;
    m.type = (cs_str){pend_type(e), e->type_len};
    m.ts_ns = e->ts;
    m.last_ts_ns = e->last_ts;
    m.flow_id = e->flow_id;
    m.ep = e->ep;
    m.dir = e->dir;
    m.flags = e->flags;
    m.role = CS_ROLE_REQ;
    m.key = (cs_str){pend_key(e), e->key_len};
    m.refs = pend_refs(e);
    m.n_refs = e->n_refs;
    m.len = e->len;
    p->sink.unmatched(p->sink.ud, &m, CS_UNMATCHED_REQUEST);
}

static size_t clamp16(size_t n)
{
    return n > 0xffff ? 0xffff : n;
}

/* A hash of one direction of a connection at any tap: IP version and
 * protocol, then "from" and "to" (address and port each), without the tap
 * and VLANs that flow ids include. */
static uint64_t ends_hash(const cs_message *m, int from_b, uint64_t seed)
{
    const cs_endpoints *ep = &m->ep;
    const uint8_t *src = from_b ? ep->addr_b : ep->addr_a, *dst = from_b ? ep->addr_a : ep->addr_b;
    uint16_t sport = from_b ? ep->port_b : ep->port_a, dport = from_b ? ep->port_a : ep->port_b;
    uint8_t k[2 + 2 * (sizeof(ep->addr_a) + 2)];

    k[0] = ep->ip_version;
    k[1] = ep->ip_proto;
    memcpy(k + 2, src, sizeof(ep->addr_a));
    memcpy(k + 2 + sizeof(ep->addr_a), &sport, 2);
    memcpy(k + 4 + sizeof(ep->addr_a), dst, sizeof(ep->addr_a));
    memcpy(k + 4 + 2 * sizeof(ep->addr_a), &dport, 2);
    return cs_hash64(k, sizeof(k), seed);
}

/* The route of "m" at any tap: where it went from and to. */
static uint64_t route_hash(const cs_message *m)
{
    return ends_hash(m, m->dir, ROUTE_SEED);
}

/* 1 if endpoint b of "m" sorts before endpoint a (address, then port): a
 * session's ends in an order that does not depend on which end a tap saw
 * first, so that its flows at every tap agree on it. */
static int b_first(const cs_endpoints *ep)
{
    int c = memcmp(ep->addr_b, ep->addr_a, sizeof(ep->addr_a));

    return c < 0 || (c == 0 && ep->port_b < ep->port_a);
}

/* The session of "m" at any tap: its connection with its ends in canonical
 * order (b_first), so both directions and every tap give one hash. */
static uint64_t session_hash(const cs_message *m)
{
    return ends_hash(m, b_first(&m->ep), SESSION_SEED);
}

/* The flow and direction a request is filed under ("resp" 0), or that a
 * response looks under ("resp" 1: the request's direction): the message's
 * own, or none (0, 0) when matching is by key anywhere (CS_SCOPE_ANY). */
static uint64_t scope_flow(const cs_message *m, uint8_t scope)
{
    if (scope == CS_SCOPE_TAP) /* the tap, where no flow id can be (ids are hashes) */
        return TAP_SCOPE_BIT | m->ep.tap;
    if (scope == SCOPE_HOP) /* the route: the same at every tap */
        return HOP_SCOPE_BIT | (route_hash(m) >> 2);
    if (scope == CS_SCOPE_SESSION) /* the connection: the same at every tap */
        return SESSION_SCOPE_BITS | (session_hash(m) >> 2);
    return scope == CS_SCOPE_ANY ? 0 : m->flow_id;
}

/* The direction: the message's in its flow, or for CS_SCOPE_SESSION
 * whether it was sent by the session's second end in canonical order (a
 * flow's a and b depend on which packet its tap saw first). */
static uint8_t scope_dir(const cs_message *m, uint8_t scope, int resp)
{
    if (scope == CS_SCOPE_ANY || scope == CS_SCOPE_TAP || scope == SCOPE_HOP)
        return 0;
    if (scope == CS_SCOPE_SESSION)
        return (uint8_t)(m->dir ^ b_first(&m->ep) ^ (resp ? 1 : 0));
    return (uint8_t)(m->dir ^ (resp ? 1 : 0));
}

static int store_request(cs_pairing *p, const cs_message *m, const char *pair, cs_str match,
                         uint64_t h, uint8_t scope)
{
    size_t pair_len = clamp16(strlen(pair)), match_len = clamp16(match.len);
    size_t key_len = clamp16(m->key.len), type_len = clamp16(m->type.len);
    size_t need = m->n_refs * sizeof(cs_pktref) + pair_len + 1 + match_len + key_len + type_len;
    pend *e = entry_alloc(p);
    unsigned char *d;
    bucket *b;

    if (e == NULL)
        return CS_ENOMEM;
    e->ext = NULL;
    if (need > INLINE_BYTES && (e->ext = cs_malloc(need)) == NULL) {
        e->bnext = p->free;
        p->free = e;
        return CS_ENOMEM;
    }
    e->h = h;
    e->kflow = scope_flow(m, scope);
    e->kdir = scope_dir(m, scope, 0);
    e->flow_id = m->flow_id;
    e->id = m->id;
    e->ts = m->ts_ns;
    e->last_ts = m->last_ts_ns;
    e->proto = m->proto;
    e->ep = m->ep;
    e->flags = m->flags;
    e->len = m->len;
    e->dir = m->dir;
    e->answered = 0;
    e->emitted = 0;
    e->copy_answered = 0;
    e->resp_id = e->attached_last_id = 0;
    e->resp_ts = e->resp_last_ts = e->attached_last_ts = 0;
    e->attached = 0;
    e->resp_tap = m->ep.tap;
    e->resp_type_len = 0;
    e->n_refs = (uint32_t)m->n_refs;
    e->pair_len = (uint16_t)pair_len;
    e->match_len = (uint16_t)match_len;
    e->key_len = (uint16_t)key_len;
    e->type_len = (uint16_t)type_len;
    d = pend_data(e);
    if (m->n_refs)
        memcpy(d, m->refs, m->n_refs * sizeof(cs_pktref));
    d += m->n_refs * sizeof(cs_pktref);
    memcpy(d, pair, pair_len);
    d[pair_len] = '\0';
    d += pair_len + 1;
    if (match_len)
        memcpy(d, match.p, match_len);
    d += match_len;
    if (key_len)
        memcpy(d, m->key.p, key_len);
    d += key_len;
    if (type_len)
        memcpy(d, m->type.p, type_len);

    b = &p->buckets[h & p->mask];
    e->bnext = NULL;
    e->bprev = b->tail;
    if (b->tail)
        b->tail->bnext = e;
    else
        b->head = e;
    b->tail = e;
    e->anext = NULL;
    e->aprev = p->age_tail;
    if (p->age_tail)
        p->age_tail->anext = e;
    else
        p->age_head = e;
    p->age_tail = e;
    p->st.pending++;
    return 0;
}

/* Whether pending entry "e" is filed under this key (find_request's test). */
static int same_key(pend *e, uint64_t h, uint64_t kflow, uint8_t kdir, const char *pair,
                    size_t pair_len, cs_str match)
{
    return e->h == h && !e->answered && e->kflow == kflow && e->kdir == kdir &&
           e->pair_len == pair_len && e->match_len == match.len &&
           memcmp(pend_pair(e), pair, pair_len) == 0 &&
           (match.len == 0 || memcmp(pend_match(e), match.p, match.len) == 0);
}

/* CS_SCOPE_SESSION: the oldest pending request filed under the session
 * and match of "m" ("resp": as a response looks, in the other direction)
 * at the tap of "m", else, unless "own_tap", the oldest at any tap (a
 * response at a tap that sees one direction only). */
static pend *find_session_request(cs_pairing *p, const cs_message *m, const char *pair,
                                  cs_str match, int resp, int own_tap)
{
    uint64_t kflow = scope_flow(m, CS_SCOPE_SESSION);
    uint8_t kdir = scope_dir(m, CS_SCOPE_SESSION, resp);
    size_t pair_len = strlen(pair);
    uint64_t h = key_hash(pair, pair_len, kflow, kdir, match);
    pend *any = NULL;

    for (pend *e = p->buckets[h & p->mask].head; e != NULL; e = e->bnext) {
        if (!same_key(e, h, kflow, kdir, pair, pair_len, match))
            continue;
        if (e->ep.tap == m->ep.tap)
            return e;
        if (any == NULL && !own_tap)
            any = e;
    }
    return any;
}

static pend *find_request(cs_pairing *p, uint64_t flow_id, uint8_t dir, const char *pair,
                          cs_str match, uint8_t answered);
static void retire_entry(cs_pairing *p, pend *e);

static void add_request(cs_pairing *p, const cs_message *m, const char *pair, cs_str match,
                        uint8_t scope)
{
    uint64_t kflow = scope_flow(m, scope);
    uint8_t kdir = scope_dir(m, scope, 0);
    uint64_t h = key_hash(pair, strlen(pair), kflow, kdir, match);
    pend *old;

    if ((m->flags & CS_MSG_RETRY) &&
        (old = scope == CS_SCOPE_SESSION ? find_session_request(p, m, pair, match, 0, 1)
                                         : find_request(p, kflow, kdir, pair, match, 0))) {
        p->st.superseded++; /* a retransmission: the older copy stays unanswered */
        report_unmatched(p, old);
        unlink_entry(p, old);
    }
    if (p->st.pending >= p->max) {
        old = p->age_head;
        p->st.evicted++;
        retire_entry(p, old);
    }
    if (p->st.pending >= (p->mask + 1) * 2)
        grow_buckets(p);
    if (store_request(p, m, pair, match, h, scope) < 0) {
        p->st.unmatched_requests++;
        if (p->sink.unmatched)
            p->sink.unmatched(p->sink.ud, m, CS_UNMATCHED_REQUEST);
    }
}

/* The oldest entry of "flow_id" whose request was sent in direction "dir"
 * with this pair and match key: a pending request if "answered" is 0, a
 * held measurement if 1. */
static pend *find_request(cs_pairing *p, uint64_t flow_id, uint8_t dir, const char *pair,
                          cs_str match, uint8_t answered)
{
    size_t pair_len = strlen(pair);
    uint64_t h = key_hash(pair, pair_len, flow_id, dir, match);

    for (pend *e = p->buckets[h & p->mask].head; e != NULL; e = e->bnext) {
        if (e->h == h && e->answered == answered && e->kflow == flow_id && e->kdir == dir &&
            e->pair_len == pair_len && e->match_len == match.len &&
            memcmp(pend_pair(e), pair, pair_len) == 0 &&
            (match.len == 0 || memcmp(pend_match(e), match.p, match.len) == 0))
            return e;
    }
    return NULL;
}

/* CS_SCOPE_SESSION: "e" was answered, so the oldest pending copy with its
 * key at each other tap is marked: it is the same request seen there (the
 * key's requests are answered in order), and leaves quietly if that tap
 * never sees the answer (a path the responses do not take). */
static void mark_copies(cs_pairing *p, pend *e)
{
    cs_str match = {pend_match(e), e->match_len};
    uint16_t taps[16];
    size_t n = 0, i;

    taps[n++] = e->ep.tap;
    for (pend *o = p->buckets[e->h & p->mask].head; o != NULL && n < 16; o = o->bnext) {
        if (o == e || o->copy_answered ||
            !same_key(o, e->h, e->kflow, e->kdir, pend_pair(e), e->pair_len, match))
            continue;
        for (i = 0; i < n && taps[i] != o->ep.tap; i++)
            ;
        if (i < n)
            continue; /* not the oldest of its tap */
        o->copy_answered = 1;
        taps[n++] = o->ep.tap;
    }
}

/* Gives the measurement of answered entry "e" to the sink. */
static void emit_measurement(cs_pairing *p, pend *e)
{
    cs_measurement ms;

    memset(&ms, 0, sizeof(ms));
    ms.id = e->id;
    ms.pair = pend_pair(e);
    ms.key = (cs_str){pend_key(e), e->key_len};
    ms.req_id = e->id;
    ms.resp_id = e->resp_id;
    ms.req_ts_ns = e->ts;
    ms.resp_ts_ns = e->resp_ts;
    ms.latency_ns = e->resp_ts - e->ts;
    ms.flow_id = e->flow_id;
    ms.ep = e->ep;
    ms.resp_last_ts_ns = e->resp_last_ts;
    ms.attached = e->attached;
    ms.attached_last_id = e->attached_last_id;
    ms.attached_last_ts_ns = e->attached_last_ts;
    ms.resp_type = (cs_str){e->resp_type, e->resp_type_len};
    ms.resp_tap = e->resp_tap;
    p->st.measurements++;
    if (p->sink.measurement)
        p->sink.measurement(p->sink.ud, &ms);
}

/* Removes entry "e": a held measurement goes to the sink, a pending request
 * is reported unmatched. */
static void retire_entry(cs_pairing *p, pend *e)
{
    if (e->answered && !e->emitted)
        emit_measurement(p, e);
    else if (!e->answered && e->copy_answered)
        p->st.duplicates++; /* its copy at another tap was answered */
    else if (!e->answered)
        report_unmatched(p, e);
    unlink_entry(p, e); /* an emitted lifecycle ends quietly */
}

static void report_orphan(cs_pairing *p, const cs_message *m)
{
    p->st.unmatched_responses++;
    if (p->sink.unmatched)
        p->sink.unmatched(p->sink.ud, m, CS_UNMATCHED_RESPONSE);
}

/* A later message of a response in several messages: attached to the held
 * measurement of its request, which goes out with the last one. */
static void add_continuation(cs_pairing *p, const cs_message *m, const char *pair, cs_str match,
                             uint8_t scope)
{
    pend *e = find_request(p, scope_flow(m, scope), scope_dir(m, scope, 1), pair, match, 1);

    if (e == NULL) {
        report_orphan(p, m);
        return;
    }
    p->st.attached++;
    e->attached++;
    e->attached_last_id = m->id;
    e->attached_last_ts = m->last_ts_ns;
    if (!(m->flags & CS_MSG_MORE)) {
        if (!e->emitted)
            emit_measurement(p, e);
        unlink_entry(p, e);
    }
}

/* Attaches "m" to held measurement "e" and releases it, "m" ending the
 * lifecycle of its request (a replace or a cancel naming it). */
static void end_lifecycle(cs_pairing *p, pend *e, const cs_message *m)
{
    p->st.attached++;
    e->attached++;
    e->attached_last_id = m->id;
    e->attached_last_ts = m->last_ts_ns;
    if (!e->emitted)
        emit_measurement(p, e);
    unlink_entry(p, e);
}

/* Records response "m" on pending request "e". */
static void answer(pend *e, const cs_message *m)
{
    e->answered = 1;
    e->resp_id = m->id;
    e->resp_ts = m->ts_ns;
    e->resp_last_ts = m->last_ts_ns;
    e->resp_tap = m->ep.tap;
    e->resp_type_len = (uint8_t)(m->type.len < RESP_TYPE_MAX ? m->type.len : RESP_TYPE_MAX);
    if (e->resp_type_len)
        memcpy(e->resp_type, m->type.p, e->resp_type_len);
}

static void add_response(cs_pairing *p, const cs_message *m, const char *pair, cs_str match,
                         uint8_t scope)
{
    pend *e;

    if (m->flags & CS_MSG_CONTINUATION) {
        add_continuation(p, m, pair, match, scope);
        return;
    }
    if (scope == CS_SCOPE_SESSION)
        e = find_session_request(p, m, pair, match, 1, 0);
    else
        e = find_request(p, scope_flow(m, scope), scope_dir(m, scope, 1), pair, match, 0);
    if (e == NULL && (m->flags & CS_MSG_LIFECYCLE)) {
        add_continuation(p, m, pair, match, scope); /* a later event of an answered request */
        return;
    }
    if (e == NULL) {
        report_orphan(p, m);
        return;
    }
    answer(e, m);
    if (scope == CS_SCOPE_SESSION)
        mark_copies(p, e);
    if ((m->flags & (CS_MSG_MORE | CS_MSG_LIFECYCLE)) == (CS_MSG_MORE | CS_MSG_LIFECYCLE)) {
        emit_measurement(p, e); /* out now; the entry stays for later events */
        e->emitted = 1;
        return;
    }
    if (m->flags & CS_MSG_MORE)
        return; /* held until the response's last message */
    emit_measurement(p, e);
    unlink_entry(p, e);
}

/* A copy of a message sent on several flows (CS_ROLE_SIGHTING): the first
 * at its tap waits, the first on another flow of that tap answers it, a
 * later copy on the waiting flow is a duplicate and changes nothing. */
static void add_sighting(cs_pairing *p, const cs_message *m, const char *pair, cs_str match)
{
    pend *e = find_request(p, scope_flow(m, CS_SCOPE_TAP), 0, pair, match, 0);

    if (e == NULL) {
        add_request(p, m, pair, match, CS_SCOPE_TAP);
        return;
    }
    if (e->flow_id == m->flow_id) {
        p->st.duplicates++;
        return;
    }
    answer(e, m);
    emit_measurement(p, e);
    unlink_entry(p, e);
}

/* The hop of waiting sighting "e" answered by "m" at another tap, when
 * "m" was seen first: delivery order is not capture order (a TCP message
 * is delivered when its last byte comes, its time is its first byte's).
 * The measurement goes the other way: request = "m", response = "e". */
static void emit_hop_reversed(cs_pairing *p, pend *e, const cs_message *m)
{
    cs_measurement ms;

    memset(&ms, 0, sizeof(ms));
    ms.id = ms.req_id = m->id;
    ms.pair = pend_pair(e);
    ms.key = m->key;
    ms.resp_id = e->id;
    ms.req_ts_ns = m->ts_ns;
    ms.resp_ts_ns = e->ts;
    ms.latency_ns = e->ts - m->ts_ns;
    ms.flow_id = m->flow_id;
    ms.ep = m->ep;
    ms.resp_last_ts_ns = e->last_ts;
    ms.resp_type =
        (cs_str){pend_type(e), e->type_len < RESP_TYPE_MAX ? e->type_len : RESP_TYPE_MAX};
    ms.resp_tap = e->ep.tap;
    p->st.measurements++;
    if (p->sink.measurement)
        p->sink.measurement(p->sink.ud, &ms);
}

void cs_pairing_hop(cs_pairing *p, const cs_message *m, const char *pair)
{
    cs_str match = m->key.p != NULL ? m->key : (cs_str){"", 0};
    pend *e = find_request(p, scope_flow(m, SCOPE_HOP), 0, pair, match, 0);

    if (e == NULL) {
        add_request(p, m, pair, match, SCOPE_HOP);
        return;
    }
    if (e->ep.tap == m->ep.tap) {
        p->st.duplicates++;
        return;
    }
    if (m->ts_ns < e->ts) {
        emit_hop_reversed(p, e, m);
    } else {
        answer(e, m);
        emit_measurement(p, e);
    }
    unlink_entry(p, e);
}

void cs_pairing_correlate(cs_pairing *p, const cs_message *m, const char *pair, cs_str match,
                          cs_str closes, uint8_t scope)
{
    pend *e;

    if (pair == NULL)
        return;
    if (match.p == NULL)
        match.len = 0;
    if (m->role == CS_ROLE_REQ)
        add_request(p, m, pair, match, scope);
    else if (m->role == CS_ROLE_RESP)
        add_response(p, m, pair, match, scope);
    else if (m->role == CS_ROLE_SIGHTING)
        add_sighting(p, m, pair, match);
    if (m->role != CS_ROLE_RESP || closes.p == NULL || closes.len == 0 ||
        (closes.len == match.len && memcmp(closes.p, match.p, match.len) == 0))
        return;
    e = find_request(p, scope_flow(m, scope), scope_dir(m, scope, 1), pair, closes, 1);
    if (e != NULL)
        end_lifecycle(p, e, m);
}

void cs_pairing_add(cs_pairing *p, const cs_message *m, const char *pair, cs_str match)
{
    cs_pairing_correlate(p, m, pair, match, (cs_str){NULL, 0}, CS_SCOPE_FLOW);
}

void cs_pairing_expire(cs_pairing *p, int64_t now_ns)
{
    while (p->age_head != NULL && now_ns - p->age_head->ts > p->timeout)
        retire_entry(p, p->age_head);
}

void cs_pairing_flush(cs_pairing *p)
{
    while (p->age_head != NULL)
        retire_entry(p, p->age_head);
}

void cs_pairing_stats_get(const cs_pairing *p, cs_pairing_stats *st)
{
    *st = p->st;
}

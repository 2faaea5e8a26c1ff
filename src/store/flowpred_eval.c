/*
 * flowpred_eval.c - a compiled filter tree (flowpred_int.h) evaluated over
 * one flow key with Kleene three-valued logic (cs_flowpred_eval), and over
 * a summary of a segment's keys (cs_keysum_*, cs_flowpred_may_match).
 *
 * Soundness: how a primitive becomes TRUE or FALSE
 * -------------------------------------------------
 * libpcap compiles each primitive to loads at fixed offsets for the file's
 * link type. A primitive is decided from a key only where we know exactly
 * what those loads see:
 *
 *  - Keys flagged CS_FK_ODD, NULL/LOOP keys (BSD address families differ
 *    between libpcap and the dissector), and non-Ethernet keys with VLAN
 *    tags: always MAYBE.
 *  - Link-layer "view" at vlan depth d (d = number of "vlan" keywords parsed
 *    before the primitive; each shifts all later primitives by 4 bytes, in
 *    parse order, across and/or/not): on Ethernet, d < n_vlan sees a tag
 *    (not IP), d == n_vlan sees the key's ethertype and IP header,
 *    d > n_vlan sees garbage (MAYBE). Raw IP links are always depth 0.
 *  - "host"/"net" without ip/ip6 also matches ARP/RARP sender and target
 *    addresses: MAYBE on ARP keys.
 *  - "port" needs the transport header: FALSE on non-first fragments
 *    (libpcap tests the fragment offset), MAYBE when the header is absent.
 *  - "vlan" is TRUE only on IP keys (whose tags are known to be plain
 *    802.1Q/ad tags directly after the Ethernet header).
 *
 * A BPF program that loads past the captured bytes rejects the packet
 * outright, whatever the and/or around the load. A primitive whose loads
 * may fail is MAYBE, and while "not"/"and"/"or" handle a MAYBE leaf soundly
 * for ordinary truth values, such an abort can turn a TRUE into a reject.
 * So the final answer is TRUE only if no leaf was MAYBE; FALSE is always
 * safe (an abort rejects too).
 *
 * Key summaries: Bloom filters of a segment's addresses and ports (two bits
 * an item from one 64-bit hash, seeds KS_ADDR_SEED / KS_PORT_SEED) plus
 * flags. cs_flowpred_may_match answers false only when eval would give
 * FALSE for every key the summary holds.
 *
 * Threading: everything here reads the tree only; cs_flowpred_eval and
 * cs_flowpred_may_match are thread-safe on a shared predicate.
 * cs_keysum_add writes the caller's summary.
 */
#include "store/flowpred.h"

#include "core/hash.h"
#include "store/flowpred_int.h"

#include <stdbool.h>
#include <string.h>

enum { VIEW_UNKNOWN, VIEW_IPV4, VIEW_IPV6, VIEW_ARP, VIEW_OTHER };

/* ---- public API: eval -------------------------------------------------------------- */

static int view_of_ethertype(const cs_flowkey *k)
{
    switch (k->ethertype) {
    case 0x0800:
        return k->ip_version == 4 ? VIEW_IPV4 : VIEW_UNKNOWN;
    case 0x86dd:
        return k->ip_version == 6 ? VIEW_IPV6 : VIEW_UNKNOWN;
    case 0x0806:
    case 0x8035:
        return VIEW_ARP;
    case 0:
        return VIEW_UNKNOWN;
    default:
        return VIEW_OTHER;
    }
}

/* What libpcap's link-layer test sees at vlan depth "depth" (see top). */
static int view_at(const cs_flowkey *k, unsigned depth)
{
    if (k->flags & CS_FK_ODD)
        return VIEW_UNKNOWN;
    switch (k->linktype) {
    case CS_LINK_RAW:
    case CS_LINK_IPV4:
    case CS_LINK_IPV6:
        if (depth)
            return VIEW_UNKNOWN;
        return k->ip_version == 4 ? VIEW_IPV4 : k->ip_version == 6 ? VIEW_IPV6 : VIEW_UNKNOWN;
    case CS_LINK_LINUX_SLL:
    case CS_LINK_LINUX_SLL2:
        return depth || k->n_vlan ? VIEW_UNKNOWN : view_of_ethertype(k);
    case CS_LINK_ETHERNET:
        if (depth > k->n_vlan)
            return VIEW_UNKNOWN;
        if (k->n_vlan == 0)
            return view_of_ethertype(k);
        if (k->ip_version == 0) /* tags inside LLC/SNAP look the same: only offset 12 is sure */
            return depth == 0 ? VIEW_OTHER : VIEW_UNKNOWN;
        return depth < k->n_vlan ? VIEW_OTHER : view_of_ethertype(k);
    default:
        return VIEW_UNKNOWN;
    }
}

static cs_tri tri(bool b)
{
    return b ? CS_TRI_TRUE : CS_TRI_FALSE;
}

static bool masked_eq(const uint8_t *a, const prim *pr, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((a[i] & pr->mask[i]) != pr->addr[i])
            return false;
    }
    return true;
}

static bool dir_match(uint8_t dir, bool s, bool d)
{
    switch (dir) {
    case DIR_SRC:
        return s;
    case DIR_DST:
        return d;
    case DIR_SRC_AND_DST:
        return s && d;
    default:
        return s || d;
    }
}

static cs_tri eval_host(const prim *pr, const cs_flowkey *k, int view)
{
    int want = pr->family == 4 ? VIEW_IPV4 : VIEW_IPV6;
    if (view == want) {
        size_t n = pr->family == 4 ? 4 : 16;
        return tri(dir_match(pr->dir, masked_eq(k->src, pr, n), masked_eq(k->dst, pr, n)));
    }
    if (view == VIEW_ARP && pr->family == 4 && pr->pq == PQ_DEFAULT)
        return CS_TRI_MAYBE; /* libpcap also matches ARP/RARP addresses */
    return CS_TRI_FALSE;
}

static bool port_proto_ok(uint8_t pq, uint8_t proto)
{
    switch (pq) {
    case PQ_TCP:
        return proto == 6;
    case PQ_UDP:
        return proto == 17;
    case PQ_SCTP:
        return proto == 132;
    default:
        return proto == 6 || proto == 17 || proto == 132;
    }
}

static cs_tri eval_port(const prim *pr, const cs_flowkey *k, int view)
{
    if (view != VIEW_IPV4 && view != VIEW_IPV6)
        return CS_TRI_FALSE;
    if (!port_proto_ok(pr->pq, k->ip_proto) || (k->flags & CS_FK_FRAG))
        return CS_TRI_FALSE;
    if (!(k->flags & CS_FK_PORTS))
        return CS_TRI_MAYBE;
    bool s = k->sport >= pr->lo && k->sport <= pr->hi;
    bool d = k->dport >= pr->lo && k->dport <= pr->hi;
    return tri(dir_match(pr->dir, s, d));
}

static cs_tri eval_vlan(const prim *pr, const cs_flowkey *k)
{
    if ((k->flags & CS_FK_ODD) || k->linktype != CS_LINK_ETHERNET)
        return CS_TRI_MAYBE;
    if (pr->depth < k->n_vlan) {
        if (pr->hi && pr->depth >= 2)
            return CS_TRI_MAYBE; /* id not recorded in the key */
        if (pr->hi && k->vlan[pr->depth] != pr->lo)
            return CS_TRI_FALSE;
        return k->ip_version ? CS_TRI_TRUE : CS_TRI_MAYBE;
    }
    if (pr->depth == k->n_vlan && k->ip_version)
        return CS_TRI_FALSE; /* the ethertype 0x0800/0x86dd sits where a tag would be */
    return CS_TRI_MAYBE;
}

static cs_tri eval_prim(const prim *pr, const cs_flowkey *k)
{
    if (pr->poisoned || pr->type == PR_UNKNOWN)
        return CS_TRI_MAYBE;
    if (pr->type == PR_VLAN)
        return eval_vlan(pr, k);
    int view = view_at(k, pr->depth);
    if (view == VIEW_UNKNOWN)
        return CS_TRI_MAYBE;
    switch (pr->type) {
    case PR_LINK:
        return tri((view == VIEW_IPV4 && (pr->versions & VER4)) ||
                   (view == VIEW_IPV6 && (pr->versions & VER6)));
    case PR_PROTO:
        return tri(((view == VIEW_IPV4 && (pr->versions & VER4)) ||
                    (view == VIEW_IPV6 && (pr->versions & VER6))) &&
                   k->ip_proto == pr->proto);
    case PR_HOST:
        return eval_host(pr, k, view);
    default:
        return eval_port(pr, k, view);
    }
}

static cs_tri tri_not(cs_tri v)
{
    return v == CS_TRI_MAYBE ? v : v == CS_TRI_TRUE ? CS_TRI_FALSE : CS_TRI_TRUE;
}

/* Evaluates node "i"; sets "*unsure" when any primitive below is MAYBE. */
static cs_tri eval_node(const cs_flowpred *p, uint32_t i, const cs_flowkey *k, bool *unsure)
{
    const node *n = &p->nodes[i];
    if (n->kind == N_TRUE)
        return CS_TRI_TRUE;
    if (n->kind == N_PRIM) {
        cs_tri v = eval_prim(&n->p, k);
        *unsure |= v == CS_TRI_MAYBE;
        return v;
    }
    if (n->kind == N_NOT)
        return tri_not(eval_node(p, p->kids[n->first], k, unsure));
    /* and: FALSE dominates; or: TRUE dominates (Kleene); every child is
     * still visited so that "unsure" sees all primitives. */
    cs_tri dominant = n->kind == N_AND ? CS_TRI_FALSE : CS_TRI_TRUE;
    cs_tri acc = tri_not(dominant);
    for (uint32_t c = 0; c < n->count; c++) {
        cs_tri v = eval_node(p, p->kids[n->first + c], k, unsure);
        if (v == dominant || acc == dominant)
            acc = dominant;
        else if (v == CS_TRI_MAYBE)
            acc = CS_TRI_MAYBE;
    }
    return acc;
}

cs_tri cs_flowpred_eval(const cs_flowpred *p, const cs_flowkey *k)
{
    bool unsure = false;
    cs_tri v = eval_node(p, p->root, k, &unsure);
    /* A MAYBE leaf may be a BPF load past the capture, which rejects the
     * packet whatever the rest says: never answer TRUE then. */
    return v == CS_TRI_TRUE && unsure ? CS_TRI_MAYBE : v;
}

/* ---- key summaries ---------------------------------------------------- */

#define KS_ADDR_SEED 0x6b73616464720001ULL
#define KS_PORT_SEED 0x6b73706f72740002ULL

uint32_t cs_keysum_bits(size_t n)
{
    uint32_t bits = 64;

    while (bits < 65536 && bits < 8 * n)
        bits *= 2;
    return bits;
}

static void bloom_set(uint8_t *bits, uint32_t n_bits, uint64_t h)
{
    uint32_t a = (uint32_t)h & (n_bits - 1), b = (uint32_t)(h >> 32) & (n_bits - 1);

    bits[a / 8] |= (uint8_t)(1u << (a % 8));
    bits[b / 8] |= (uint8_t)(1u << (b % 8));
}

static bool bloom_has(const uint8_t *bits, uint32_t n_bits, uint64_t h)
{
    uint32_t a = (uint32_t)h & (n_bits - 1), b = (uint32_t)(h >> 32) & (n_bits - 1);

    return (bits[a / 8] >> (a % 8) & 1) && (bits[b / 8] >> (b % 8) & 1);
}

static uint64_t port_hash(uint16_t port)
{
    uint8_t le[2] = {(uint8_t)port, (uint8_t)(port >> 8)};

    return cs_hash64(le, 2, KS_PORT_SEED);
}

/* An address as a filter primitive sees it: IPv4 in 4 bytes, the rest
 * taken as zero whatever the key holds there. */
static uint64_t addr_hash(const uint8_t addr[16], uint8_t ip_version)
{
    uint8_t a[16] = {0};

    memcpy(a, addr, ip_version == 4 ? 4 : 16);
    return cs_hash64(a, 16, KS_ADDR_SEED);
}

void cs_keysum_add(cs_keysum *s, const cs_flowkey *k)
{
    int view = view_at(k, 0);

    if (view != VIEW_IPV4 && view != VIEW_IPV6 && view != VIEW_OTHER)
        s->flags |= CS_KS_UNUSUAL;
    if (port_proto_ok(PQ_DEFAULT, k->ip_proto) && !(k->flags & (CS_FK_PORTS | CS_FK_FRAG)))
        s->flags |= CS_KS_PORTLESS;
    bloom_set(s->addr, s->addr_bits, addr_hash(k->src, k->ip_version));
    bloom_set(s->addr, s->addr_bits, addr_hash(k->dst, k->ip_version));
    if (k->flags & CS_FK_PORTS) {
        bloom_set(s->port, s->port_bits, port_hash(k->sport));
        bloom_set(s->port, s->port_bits, port_hash(k->dport));
    }
}

/* Only a whole address (host, not net) can be looked up. */
static bool may_have_host(const prim *pr, const cs_keysum *s)
{
    size_t n = pr->family == 4 ? 4 : 16;
    uint8_t addr[16] = {0};

    for (size_t i = 0; i < n; i++)
        if (pr->mask[i] != 0xff)
            return true;
    memcpy(addr, pr->addr, n);
    return bloom_has(s->addr, s->addr_bits, addr_hash(addr, pr->family == 4 ? 4 : 6));
}

static bool may_have_port(const prim *pr, const cs_keysum *s)
{
    if ((s->flags & CS_KS_PORTLESS) || pr->hi - pr->lo >= 64)
        return true;
    for (uint32_t p = pr->lo; p <= pr->hi; p++)
        if (bloom_has(s->port, s->port_bits, port_hash((uint16_t)p)))
            return true;
    return false;
}

/* Sound for the set: a primitive is "impossible" only if eval_prim gives
 * FALSE for every key the summary holds. Without "vlan" before it (depth
 * 0) a host or port primitive is TRUE or MAYBE only on keys whose view is
 * plain IP (whose addresses and ports are in the filters) or unusual (then
 * the flag answers "possible"). */
static bool may_prim(const prim *pr, const cs_keysum *s)
{
    if (pr->poisoned || pr->depth != 0 || (s->flags & CS_KS_UNUSUAL))
        return true;
    if (pr->type == PR_HOST)
        return may_have_host(pr, s);
    if (pr->type == PR_PORT)
        return may_have_port(pr, s);
    return true;
}

static bool may_node(const cs_flowpred *p, uint32_t i, const cs_keysum *s)
{
    const node *n = &p->nodes[i];

    if (n->kind == N_PRIM)
        return may_prim(&n->p, s);
    if (n->kind == N_AND) { /* one key must pass every child */
        for (uint32_t c = 0; c < n->count; c++)
            if (!may_node(p, p->kids[n->first + c], s))
                return false;
        return true;
    }
    if (n->kind == N_OR) {
        for (uint32_t c = 0; c < n->count; c++)
            if (may_node(p, p->kids[n->first + c], s))
                return true;
        return false;
    }
    return true; /* TRUE, and NOT: a key may well lack what it negates */
}

bool cs_flowpred_may_match(const cs_flowpred *p, const cs_keysum *s)
{
    return may_node(p, p->root, s);
}

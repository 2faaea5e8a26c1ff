/*
 * flowtable.c - flow table: slab pool, chained hash, LRU list.
 *
 *   buckets[h & mask] -> flow -> flow -> NULL     (hnext chain)
 *   lru_head <-> ... <-> lru_tail                 (least recent first)
 *   free -> flow -> flow                          (hnext reused)
 *
 * Invariants: every live flow is on exactly one chain and on the LRU list;
 * "count" live flows; buckets >= count / 2 (the table doubles before the
 * chains grow long). Slabs are never returned before cs_flowtable_free, so
 * flow pointers stay valid until removed.
 *
 * Hash: the 48-byte key is read as six little-endian 64-bit words and mixed
 * with multiply-xorshift rounds (constants from the splitmix64 finaliser):
 * byte-order independent and fixed, so flow ids are stable.
 */
#include "flow/flowtable.h"
#include "core/alloc.h"
#include "core/hash.h"
#include "core/cursor.h"
#include "core/error.h"

#include <string.h>

#define SLAB_FLOWS 1024u

typedef struct slab {
    struct slab *next;
    unsigned char mem[];
} slab;

struct cs_flowtable {
    size_t flow_size;
    uint32_t max_flows, count;
    cs_flow **buckets;
    uint64_t mask;
    cs_flow *lru_head, *lru_tail;
    cs_flow *free;
    slab *slabs;
};

void cs_flow_key_make(const cs_layers *l, uint16_t tap, uint16_t sport, uint16_t dport,
                      cs_flow_key *k, int *src_is_a)
{
    int c;

    memset(k, 0, sizeof(*k));
    k->tap = tap;
    k->n_vlan = l->n_vlan > 2 ? 2 : l->n_vlan;
    for (int i = 0; i < k->n_vlan; i++)
        k->vlan[i] = l->vlan[i];
    k->ip_version = l->ip_version;
    k->ip_proto = l->ip_proto;
    c = memcmp(l->src, l->dst, 16);
    if (c == 0)
        c = (int)sport - (int)dport;
    *src_is_a = c <= 0;
    memcpy(k->addr[0], *src_is_a ? l->src : l->dst, 16);
    memcpy(k->addr[1], *src_is_a ? l->dst : l->src, 16);
    k->port[0] = *src_is_a ? sport : dport;
    k->port[1] = *src_is_a ? dport : sport;
}

uint64_t cs_flow_key_hash(const cs_flow_key *k)
{
    uint8_t b[48];
    uint64_t h = 0x63617073747265ull; /* "capstre" */

    /* A fixed byte layout, independent of struct layout and endianness. */
    memcpy(b, k->addr, 32);
    cs_wr_le16(b + 32, k->port[0]);
    cs_wr_le16(b + 34, k->port[1]);
    cs_wr_le16(b + 36, k->tap);
    cs_wr_le16(b + 38, k->vlan[0]);
    cs_wr_le16(b + 40, k->vlan[1]);
    b[42] = k->n_vlan;
    b[43] = k->ip_version;
    b[44] = k->ip_proto;
    b[45] = b[46] = b[47] = 0;
    for (int i = 0; i < 48; i += 8)
        h = cs_mix64(h ^ cs_rd_le64(b + i));
    return h;
}

int cs_flowtable_new(size_t flow_size, uint32_t max_flows, cs_flowtable **out)
{
    cs_flowtable *t = cs_calloc(1, sizeof(*t));

    if (t == NULL)
        return CS_ENOMEM;
    t->flow_size = (flow_size + 15) & ~(size_t)15;
    t->max_flows = max_flows ? max_flows : 1;
    t->mask = 1023;
    t->buckets = cs_calloc(t->mask + 1, sizeof(*t->buckets));
    if (t->buckets == NULL) {
        cs_free(t);
        return CS_ENOMEM;
    }
    *out = t;
    return 0;
}

void cs_flowtable_free(cs_flowtable *t)
{
    if (t == NULL)
        return;
    while (t->slabs != NULL) {
        slab *n = t->slabs->next;
        cs_free(t->slabs);
        t->slabs = n;
    }
    cs_free(t->buckets);
    cs_free(t);
}

cs_flow *cs_flowtable_lookup(cs_flowtable *t, const cs_flow_key *k, uint64_t h)
{
    for (cs_flow *f = t->buckets[h & t->mask]; f != NULL; f = f->hnext)
        if (f->id == h && memcmp(&f->key, k, sizeof(*k)) == 0)
            return f;
    return NULL;
}

static int add_slab(cs_flowtable *t)
{
    slab *s = cs_malloc(sizeof(*s) + t->flow_size * SLAB_FLOWS);

    if (s == NULL)
        return CS_ENOMEM;
    s->next = t->slabs;
    t->slabs = s;
    for (uint32_t i = SLAB_FLOWS; i-- > 0;) {
        cs_flow *f = (cs_flow *)(void *)(s->mem + i * t->flow_size);
        f->hnext = t->free;
        t->free = f;
    }
    return 0;
}

static void grow_buckets(cs_flowtable *t)
{
    uint64_t nmask = t->mask * 2 + 1;
    cs_flow **nb = cs_calloc(nmask + 1, sizeof(*nb));

    if (nb == NULL)
        return; /* keep the old table: longer chains, still correct */
    for (uint64_t i = 0; i <= t->mask; i++) {
        cs_flow *f = t->buckets[i];
        while (f != NULL) {
            cs_flow *n = f->hnext;
            f->hnext = nb[f->id & nmask];
            nb[f->id & nmask] = f;
            f = n;
        }
    }
    cs_free(t->buckets);
    t->buckets = nb;
    t->mask = nmask;
}

static void lru_unlink(cs_flowtable *t, cs_flow *f)
{
    if (f->lru_prev)
        f->lru_prev->lru_next = f->lru_next;
    else
        t->lru_head = f->lru_next;
    if (f->lru_next)
        f->lru_next->lru_prev = f->lru_prev;
    else
        t->lru_tail = f->lru_prev;
    f->lru_prev = f->lru_next = NULL;
}

static void lru_append(cs_flowtable *t, cs_flow *f)
{
    f->lru_prev = t->lru_tail;
    f->lru_next = NULL;
    if (t->lru_tail)
        t->lru_tail->lru_next = f;
    else
        t->lru_head = f;
    t->lru_tail = f;
}

cs_flow *cs_flowtable_insert(cs_flowtable *t, const cs_flow_key *k, uint64_t h)
{
    cs_flow *f;

    if (t->count >= t->max_flows)
        return NULL;
    if (t->free == NULL && add_slab(t) < 0)
        return NULL;
    if (t->count >= (t->mask + 1) * 2)
        grow_buckets(t);
    f = t->free;
    t->free = f->hnext;
    memset(f, 0, t->flow_size);
    f->key = *k;
    f->id = h;
    f->hnext = t->buckets[h & t->mask];
    t->buckets[h & t->mask] = f;
    lru_append(t, f);
    t->count++;
    return f;
}

void cs_flowtable_touch(cs_flowtable *t, cs_flow *f, int64_t ts_ns)
{
    if (ts_ns > f->last_ts_ns)
        f->last_ts_ns = ts_ns;
    if (t->lru_tail != f) {
        lru_unlink(t, f);
        lru_append(t, f);
    }
}

cs_flow *cs_flowtable_oldest(const cs_flowtable *t)
{
    return t->lru_head;
}

void cs_flowtable_remove(cs_flowtable *t, cs_flow *f)
{
    cs_flow **pp = &t->buckets[f->id & t->mask];

    while (*pp != NULL && *pp != f)
        pp = &(*pp)->hnext;
    if (*pp == f)
        *pp = f->hnext;
    lru_unlink(t, f);
    f->hnext = t->free;
    t->free = f;
    t->count--;
}

uint32_t cs_flowtable_count(const cs_flowtable *t)
{
    return t->count;
}

int cs_flowtable_full(const cs_flowtable *t)
{
    return t->count >= t->max_flows;
}

/*
 * flowtable.h - bidirectional flows: canonical keys, hash lookup, LRU.
 *
 * A flow is one conversation at one tap: (tap, VLAN ids, IP version,
 * protocol, the two (address, port) ends). The key is canonical: end "a" is
 * the smaller (address, port), so both directions find the same flow; the
 * caller learns from cs_flow_key_make() whether the packet went a -> b.
 * The flow id is a 64-bit hash of the canonical key (tap included) with
 * fixed constants and a byte-order-independent layout, so it is stable
 * across runs and machines.
 *
 * The table stores flows of a caller-chosen size ("flow_size" >= sizeof
 * cs_flow, with cs_flow as the first member), allocated from slabs with a
 * free list (no allocation per packet; one slab per 1024 new flows at most).
 * Lookup is a chained hash on the key hash, grown by doubling. Flows are kept
 * on an LRU list (least recently touched first) for idle expiry and for
 * eviction when the table is full; the caller decides both.
 *
 * Threading: one table per thread.
 */
#ifndef CS_FLOW_FLOWTABLE_H
#define CS_FLOW_FLOWTABLE_H

#include "packet/dissect.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cs_flow_key {
    uint8_t addr[2][16]; /* canonical: [0] = end a (the smaller), [1] = end b */
    uint16_t port[2];
    uint16_t tap;
    uint16_t vlan[2];
    uint8_t n_vlan; /* capped at 2 */
    uint8_t ip_version;
    uint8_t ip_proto;
    uint8_t pad[3]; /* zero */
} cs_flow_key;

_Static_assert(sizeof(cs_flow_key) == 48, "cs_flow_key has no hidden padding");

typedef struct cs_flow {
    struct cs_flow *hnext;               /* private: hash chain / free list */
    struct cs_flow *lru_prev, *lru_next; /* private: LRU list */
    cs_flow_key key;                     /* read-only */
    uint64_t id;                         /* read-only: hash of the key */
    int64_t last_ts_ns;                  /* read-only: set by cs_flowtable_touch() */
} cs_flow;

typedef struct cs_flowtable cs_flowtable;

/* Builds the canonical key of a packet going from (src, sport) to
 * (dst, dport); sets "*src_is_a". Unused bytes are zero. */
void cs_flow_key_make(const cs_layers *l, uint16_t tap, uint16_t sport, uint16_t dport,
                      cs_flow_key *k, int *src_is_a);

/* The stable 64-bit hash of a key (the flow id). */
uint64_t cs_flow_key_hash(const cs_flow_key *k);

int cs_flowtable_new(size_t flow_size, uint32_t max_flows, cs_flowtable **out);
void cs_flowtable_free(cs_flowtable *t);

/* Finds the flow with key "k" whose hash is "h", or NULL. */
cs_flow *cs_flowtable_lookup(cs_flowtable *t, const cs_flow_key *k, uint64_t h);

/* Adds a zeroed flow for "k" (the caller checked it is absent) at the LRU
 * tail. Returns NULL when the table holds max_flows flows (evict first) or
 * memory runs out. */
cs_flow *cs_flowtable_insert(cs_flowtable *t, const cs_flow_key *k, uint64_t h);

/* Marks "f" used at "ts_ns": moves it to the LRU tail. */
void cs_flowtable_touch(cs_flowtable *t, cs_flow *f, int64_t ts_ns);

/* The least recently touched flow, or NULL. */
cs_flow *cs_flowtable_oldest(const cs_flowtable *t);

/* Unlinks "f" and returns it to the pool. */
void cs_flowtable_remove(cs_flowtable *t, cs_flow *f);

uint32_t cs_flowtable_count(const cs_flowtable *t);
int cs_flowtable_full(const cs_flowtable *t);

#endif

/*
 * flowpred.h - what a tcpdump filter says about a whole flow key.
 *
 * The packet index files packets by cs_flowkey. To answer a BPF filter from
 * the index, capstream parses the filter (the tcpdump/pcap-filter(7)
 * language) into an expression tree of its own and evaluates it over a key
 * with three-valued logic:
 *
 *   CS_TRI_TRUE   every packet with this key matches the filter,
 *   CS_TRI_FALSE  no packet with this key matches,
 *   CS_TRI_MAYBE  cannot tell from the key: read the packets and run the
 *                 real BPF program (libpcap's) on each.
 *
 * Soundness is the only hard rule: TRUE and FALSE must agree with libpcap's
 * compiled filter for every packet with that key, whatever its link type.
 * A primitive the tree does not understand, a key flagged CS_FK_ODD, or any
 * doubt yields MAYBE; "not" swaps TRUE and FALSE, "and"/"or" follow Kleene's
 * logic. The query layer always runs the exact BPF program on the packets it
 * returns unless the answer was TRUE, so MAYBE costs speed, never
 * correctness.
 *
 * Understood primitives (others become MAYBE): host, src/dst host, net with
 * /len or mask, port, src/dst port, portrange, ip, ip6, tcp, udp, icmp,
 * icmp6, sctp, proto N / ip proto N / ip6 proto N, vlan [id], and their
 * combinations with and/or/not/&&/||/!/parentheses.
 */
#ifndef CS_STORE_FLOWPRED_H
#define CS_STORE_FLOWPRED_H

#include "store/flowkey.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum cs_tri {
    CS_TRI_FALSE = 0,
    CS_TRI_TRUE = 1,
    CS_TRI_MAYBE = 2,
} cs_tri;

typedef struct cs_flowpred cs_flowpred;

/*
 * Parses "filter" (NULL or "" = match everything). A filter that is valid
 * for libpcap but beyond this parser still compiles (to MAYBE where it is
 * not understood); syntax that this parser can tell is wrong gives
 * CS_EFILTER. The caller validates the filter with libpcap as well.
 */
int cs_flowpred_compile(const char *filter, cs_flowpred **out);

/* Evaluates the predicate on key "k". */
cs_tri cs_flowpred_eval(const cs_flowpred *p, const cs_flowkey *k);

/*
 * A summary of a set of flow keys (one segment's, stored in its index):
 * Bloom filters of their addresses and of their ports (two bits per item,
 * set from one 64-bit hash), and flags for keys whose answer does not rest
 * on those. It lets a query skip a whole segment without reading its keys:
 * when a filter needs a host or a port the summary has not seen, no key of
 * the segment can match (cs_flowpred_may_match).
 */
enum {
    CS_KS_UNUSUAL = 1u << 0,  /* a key not plainly IPv4, IPv6 or tagged (ARP, odd ...) */
    CS_KS_PORTLESS = 1u << 1, /* a TCP/UDP/SCTP key without ports */
};

typedef struct cs_keysum {
    uint32_t flags;                /* CS_KS_* */
    uint32_t addr_bits, port_bits; /* powers of two, at least 64 */
    uint8_t *addr, *port;          /* addr_bits / 8 and port_bits / 8 bytes */
} cs_keysum;

/* Filter size in bits for "n" items: about 8 bits an item (a false
 * positive rate near 5%), 64 to 65536. */
uint32_t cs_keysum_bits(size_t n);

/* Adds key "k" to the summary (whose bit arrays the caller provides). */
void cs_keysum_add(cs_keysum *s, const cs_flowkey *k);

/* Might a key summarized by "s" match "p"? false only when none can. */
bool cs_flowpred_may_match(const cs_flowpred *p, const cs_keysum *s);

void cs_flowpred_free(cs_flowpred *p);

#endif

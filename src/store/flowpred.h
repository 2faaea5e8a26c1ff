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

void cs_flowpred_free(cs_flowpred *p);

#endif

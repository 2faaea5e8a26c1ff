/*
 * flowpred_int.h - the filter tree of a compiled cs_flowpred, shared by the
 * compiler (flowpred.c), which builds it, and the evaluator
 * (flowpred_eval.c), which reads it. Nothing outside those two files
 * includes it.
 *
 * Memory: one cs_flowpred owns two growable arrays (nodes, child indexes);
 * children always precede their parent. and/or runs of one operator become
 * one n-ary node, so long "host a or host b or ..." lists stay flat; nesting
 * (parentheses, not, and/or alternations) is limited to MAX_NEST
 * (flowpred.c). A compiled tree is never changed afterwards.
 */
#ifndef CS_STORE_FLOWPRED_INT_H
#define CS_STORE_FLOWPRED_INT_H

#include "store/flowpred.h"

#include <stddef.h>
#include <stdint.h>

/* ---- tree -------------------------------------------------------------------------- */

enum { N_TRUE, N_PRIM, N_NOT, N_AND, N_OR };
enum { PR_UNKNOWN, PR_LINK, PR_PROTO, PR_HOST, PR_PORT, PR_VLAN };
enum { DIR_SRC_OR_DST, DIR_SRC, DIR_DST, DIR_SRC_AND_DST };
enum { PQ_DEFAULT, PQ_IP, PQ_IP6, PQ_TCP, PQ_UDP, PQ_SCTP, PQ_NONE };
enum { VER4 = 1, VER6 = 2 };

typedef struct prim {
    uint8_t type;     /* PR_* */
    uint8_t depth;    /* "vlan" keywords parsed before this primitive */
    uint8_t poisoned; /* an offset-shifting keyword we do not model came before */
    uint8_t dir;      /* DIR_* */
    uint8_t pq;       /* PQ_* (host: which protocols; port: which transport) */
    uint8_t family;   /* PR_HOST: 4 or 6 */
    uint8_t versions; /* PR_LINK / PR_PROTO: VER4 | VER6 */
    uint8_t proto;    /* PR_PROTO */
    uint16_t lo, hi;  /* PR_PORT range; PR_VLAN: id in lo, hi = 1 if an id was given */
    uint8_t addr[16]; /* PR_HOST, already masked */
    uint8_t mask[16];
} prim;

typedef struct node {
    uint8_t kind;   /* N_* */
    uint32_t first; /* N_NOT/N_AND/N_OR: first index into kids */
    uint32_t count; /* number of kids */
    prim p;         /* N_PRIM */
} node;

struct cs_flowpred {
    node *nodes;
    size_t n_nodes, cap_nodes;
    uint32_t *kids;
    size_t n_kids, cap_kids;
    uint32_t root;
};

#endif

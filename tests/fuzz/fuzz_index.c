/*
 * fuzz_index.c - libFuzzer harness for the segment index loader and the
 * checkpoint join (store/index.c).
 *
 * Input: an index file image. Random bytes would never pass the two
 * checksums, so the harness writes the magic, version (2 if byte 8 says
 * so, else 3) and header size and recomputes both checksums over the
 * input first: the layout checks, the
 * block checks of cs_idx_verify, the flow table and postings walk that a
 * query does, and cs_idxb_seed (a reader joining a writer's checkpoint with
 * the packets after it) all see arbitrary contents. When header field 108
 * gives a key summary (S >= 24 bytes that fit the input) its own checksum
 * is fixed up too, so random summaries get parsed. Invariants (abort on
 * failure): whatever loads and verifies has every section inside the file,
 * and a joined index is again a valid one holding the checkpoint's packets
 * plus the added ones, with a summary flagged unusual (the added key has no
 * IP); a summary the loader accepts has power-of-two filter
 * sizes in 64..65536 that fill exactly S bytes inside the file, and
 * cs_flowpred_may_match on it answers true for filters no summary can rule
 * out ("", a negation); and a summary rebuilt from the index's own flow
 * keys prunes a filter only when every one of those keys evaluates FALSE
 * (the soundness a query relies on to skip a segment).
 */
#include "core/cursor.h"
#include "core/error.h"
#include "core/hash.h"
#include "store/flowpred.h"
#include "store/index.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IDX_SEED 0x6373696478ull /* as in index.c */

/* Filters tried on every summary; the first ones no summary may prune. */
static const char *const filters[] = {
    "",
    "not host 10.1.0.13",
    "host 10.1.0.13",
    "port 80",
    "src host 141.142.228.5 and port 80",
    "(host 192.150.187.43 or port 53) and tcp",
    "host 2001:db8::1 or dst port 9878",
    "portrange 10-20",
    "net 10.0.0.0/8 and udp port 53",
    "host 0.0.0.0 or port 0",
};
#define N_FILTERS (sizeof(filters) / sizeof(filters[0]))
#define N_NEVER_PRUNED 2

static cs_flowpred *preds[N_FILTERS];

static void compile_filters(void)
{
    for (size_t i = 0; i < N_FILTERS; i++) {
        if (preds[i] == NULL && cs_flowpred_compile(filters[i], &preds[i]) != 0)
            abort();
    }
}

/* The stored summary, as the loader accepted it. */
static void check_stored_summary(const cs_idx *x)
{
    const cs_keysum *s = &x->sum;
    uint32_t a = s->addr_bits, b = s->port_bits;

    if (a < 64 || a > 65536 || (a & (a - 1)) || b < 64 || b > 65536 || (b & (b - 1)) ||
        24 + (size_t)a / 8 + b / 8 != x->sum_len || CS_IDX_HDR + (size_t)x->sum_len > x->size)
        abort();
    for (size_t i = 0; i < N_FILTERS; i++) {
        if (!cs_flowpred_may_match(preds[i], s) && i < N_NEVER_PRUNED)
            abort();
    }
}

/* A summary rebuilt from the verified index's keys must be sound for them.
 * Keys keep the flow key contract (flowkey.h: an IPv4 address fills the
 * first 4 bytes, the rest zero), as every key capstream writes does. */
static void check_rebuilt_summary(const cs_idx *x)
{
    static uint8_t addr[65536 / 8], port[65536 / 8];
    static cs_flowkey keys[1024];
    uint32_t n = x->n_keys < 1024 ? x->n_keys : 1024;
    uint32_t count;
    uint64_t first;
    cs_keysum s = {0, cs_keysum_bits(2 * (size_t)n), cs_keysum_bits(2 * (size_t)n), addr, port};

    memset(addr, 0, s.addr_bits / 8);
    memset(port, 0, s.port_bits / 8);
    for (uint32_t i = 0; i < n; i++) {
        cs_idx_flow(x, i, &keys[i], &count, &first);
        if (keys[i].ip_version == 4) {
            memset(keys[i].src + 4, 0, 12);
            memset(keys[i].dst + 4, 0, 12);
        }
        cs_keysum_add(&s, &keys[i]);
    }
    for (size_t f = 0; f < N_FILTERS; f++) {
        if (cs_flowpred_may_match(preds[f], &s))
            continue;
        for (uint32_t i = 0; i < n; i++) {
            if (cs_flowpred_eval(preds[f], &keys[i]) != CS_TRI_FALSE)
                abort();
        }
    }
}

/* Walks what a query reads and checks it lies inside the mapping. */
static void walk(const cs_idx *x)
{
    const uint8_t *end = (const uint8_t *)x->map + x->size;
    volatile uint64_t sink = 0;

    if (x->flows + (size_t)x->n_keys * CS_IDX_FLOW > end || x->postings + x->n_pkts * 4 > end ||
        x->blocks + (size_t)x->n_blocks * CS_IDX_BLOCKREC > end)
        abort();
    for (uint32_t i = 0; i < x->n_keys; i++) {
        cs_flowkey k;
        uint32_t count;
        uint64_t first;
        cs_idx_flow(x, i, &k, &count, &first);
        if (first > x->n_pkts || count > x->n_pkts - first)
            continue; /* the query refuses such a key (query_read.c) */
        for (uint64_t p = first; p < first + count; p++)
            sink += cs_idx_posting(x, p);
    }
    (void)sink;
}

/* Joins the index with two more packets, as a reader of a live segment. */
static void join(const cs_idx *x)
{
    cs_idx_builder b;
    cs_flowkey k;
    cs_idx joined;
    cs_idx_meta meta = {x->segment_id, x->linktype, x->snaplen, x->pcap_bytes + 200};

    memset(&k, 0, sizeof(k));
    cs_idxb_init(&b);
    if (cs_idxb_seed(&b, x) == 0 && cs_idxb_add(&b, &k, (uint32_t)x->pcap_bytes, x->max_ts) == 0 &&
        cs_idxb_add(&b, &k, (uint32_t)x->pcap_bytes + 100, x->max_ts + 1) == 0 &&
        cs_idx_from_builder(&b, &meta, &joined) == 0) {
        if (joined.n_pkts != x->n_pkts + 2)
            abort();
        /* A written index always has a summary; the added key (link type
         * 0, no IP) must have made it unusual, so nothing is pruned. */
        if (!joined.has_sum || !(joined.sum.flags & CS_KS_UNUSUAL))
            abort();
        check_stored_summary(&joined);
        walk(&joined);
        cs_idx_unload(&joined);
    }
    cs_idxb_free(&b);
    cs_error_clear();
}

/* Gives a summary of S >= 24 bytes that fits the input a valid checksum. */
static void fix_summary(uint8_t *img, size_t size)
{
    uint32_t s = cs_rd_le32(img + 108);

    if (s >= 24 && (size_t)s <= size - CS_IDX_HDR)
        cs_wr_le64(img + CS_IDX_HDR, cs_hash64(img + CS_IDX_HDR + 8, (size_t)s - 8, IDX_SEED));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    uint8_t *img;
    cs_idx x;
    int fd;

    compile_filters();
    if (size < CS_IDX_HDR || size > (1u << 20) || (img = malloc(size)) == NULL)
        return 0;
    memcpy(img, data, size);
    memcpy(img, CS_IDX_MAGIC, 8);
    cs_wr_le32(img + 8, img[8] == 2 ? 2 : CS_IDX_VERSION); /* both readable versions */
    cs_wr_le32(img + 12, CS_IDX_HDR);
    fix_summary(img, size);
    cs_wr_le64(img + 112, cs_checksum64(img + CS_IDX_HDR, size - CS_IDX_HDR, IDX_SEED));
    cs_wr_le64(img + 120, cs_hash64(img, 120, IDX_SEED));
    fd = memfd_create("idx", 0);
    if (fd >= 0 && write(fd, img, size) == (ssize_t)size) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (cs_idx_load(path, &x) == 0) {
            if (x.has_sum)
                check_stored_summary(&x);
            if (cs_idx_verify(&x) == 0) {
                walk(&x);
                check_rebuilt_summary(&x);
                join(&x);
            }
            cs_idx_unload(&x);
        }
    }
    if (fd >= 0)
        close(fd);
    cs_error_clear();
    free(img);
    return 0;
}

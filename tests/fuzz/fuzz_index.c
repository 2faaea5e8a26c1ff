/*
 * fuzz_index.c - libFuzzer harness for the segment index loader and the
 * checkpoint join (store/index.c).
 *
 * Input: an index file image. Random bytes would never pass the two
 * checksums, so the harness writes the magic, version and header size and
 * recomputes both checksums over the input first: the layout checks, the
 * block checks of cs_idx_verify, the flow table and postings walk that a
 * query does, and cs_idxb_seed (a reader joining a writer's checkpoint with
 * the packets after it) all see arbitrary contents. Invariants (abort on
 * failure): whatever loads and verifies has every section inside the file,
 * and a joined index is again a valid one holding the checkpoint's packets
 * plus the added ones.
 */
#include "core/cursor.h"
#include "core/error.h"
#include "core/hash.h"
#include "store/index.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IDX_SEED 0x6373696478ull /* as in index.c */

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
        if (first + count > x->n_pkts)
            continue; /* the query refuses such a key (query.c) */
        for (uint64_t p = first; p < first + count; p++)
            sink += cs_idx_posting(x, p);
    }
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
        walk(&joined);
        cs_idx_unload(&joined);
    }
    cs_idxb_free(&b);
    cs_error_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    uint8_t *img;
    cs_idx x;
    int fd;

    if (size < CS_IDX_HDR || size > (1u << 20) || (img = malloc(size)) == NULL)
        return 0;
    memcpy(img, data, size);
    memcpy(img, CS_IDX_MAGIC, 8);
    cs_wr_le32(img + 8, CS_IDX_VERSION);
    cs_wr_le32(img + 12, CS_IDX_HDR);
    cs_wr_le64(img + 112, cs_checksum64(img + CS_IDX_HDR, size - CS_IDX_HDR, IDX_SEED));
    cs_wr_le64(img + 120, cs_hash64(img, 120, IDX_SEED));
    fd = memfd_create("idx", 0);
    if (fd >= 0 && write(fd, img, size) == (ssize_t)size) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (cs_idx_load(path, &x) == 0) {
            if (cs_idx_verify(&x) == 0) {
                walk(&x);
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

/*
 * fuzz_catalog.c - libFuzzer harness for the store's group catalogs
 * (store/catalog.c) and the index heads they hold (cs_idx_load_head,
 * store/index.c).
 *
 * Input: four control bytes, then a catalog file image.
 *
 *   offset size
 *   0      1    fix-up flags (FIX_*, below)
 *   1      2    the store's partition count, little-endian (1..1024; any
 *               other value means 64)
 *   3      1    reserved
 *   4           the catalog, written as <tmpdir>/group-NNNNNNNN.cat
 *
 * The catalog's first segment id is 1, or with FIX_FIRST the u32 at its
 * offset 16; the file name is the one cs__cat_path gives for it. Random
 * bytes never pass the catalog's checksum, nor an index head's, so on
 * request the harness rewrites the fields that only identify or protect
 * (magics, versions, header sizes, the first id and partition count) and
 * recomputes the checksums, as fuzz_index.c does for whole indexes: the
 * entry walk, the id checks and the index header and summary parsers then
 * see arbitrary contents. The fixing walk follows the entries as
 * cat_check_entries does and stops at the first one that does not fit.
 *
 * Then, as opening a store does (store.c, scan_group): cs__cat_read, and
 * for every id of the group in ascending order cs__cat_find, and for each
 * head found cs_idx_load_head. Invariants (abort on failure):
 *   - a found head lies inside the catalog buffer, after its header;
 *   - finds come in ascending id order and a found head's segment id
 *     (offset 16) is the id asked; every one of the N entries the catalog
 *     declares is found, and the walk ends at the end of the buffer;
 *   - an accepted head is 128 + S bytes (S its summary length), gives the
 *     segment id it carries, and its sections (summary, flows, postings,
 *     blocks) add up to the index size it claims without wrapping around,
 *     with no more packets than its blocks hold;
 *   - an accepted summary's address and port bit arrays lie inside the
 *     head, one after the other, and cs_flowpred_may_match on it answers
 *     true for the filters no summary may rule out ("", a negation);
 *   - cs_idx_verify of an accepted head, whose index file is absent from
 *     the temporary directory, reports CS_ENOTFOUND (the segment is gone,
 *     as after retention) whatever size the head claims.
 * Everything is freed, so ASan's leak check stays meaningful.
 */
#include "core/cursor.h"
#include "core/error.h"
#include "core/hash.h"
#include "store/flowpred.h"
#include "store/index.h"
#include "store/store_int.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IDX_SEED 0x6373696478ull /* as in index.c */
#define CAT_SEED 0x63617461u     /* as in catalog.c */
#define CAT_MAGIC "CSCAT\0\0\1"
#define CAT_HDR 32
#define CAT_ENTRY 16
#define CTL_BYTES 4
#define MAX_INPUT (1u << 20)

/* Control flags (input byte 0). */
#define FIX_CAT_HDR 0x01u /* catalog magic, version, first id, partitions, checksum */
#define FIX_HEADS 0x02u   /* each head's magic, version, size, summary and header checksums */
#define FIX_FIRST 0x04u   /* the first id is the catalog's own (offset 16), not 1 */
#define FIX_IDS 0x08u     /* entries get ids first, first+1, ... and the count N is theirs */
#define FIX_LAYOUT 0x10u  /* each head's S and section offsets agree with its counts */

/* Filters tried on every accepted summary; the first ones no summary may
 * prune. */
static const char *const filters[] = {
    "",
    "not host 10.1.0.13",
    "host 10.1.0.13",
    "port 80",
    "src host 141.142.228.5 and port 80",
    "host 2001:db8::1 or dst port 9878",
    "net 10.0.0.0/8 and udp port 53",
};
#define N_FILTERS (sizeof(filters) / sizeof(filters[0]))
#define N_NEVER_PRUNED 2

static cs_flowpred *preds[N_FILTERS];
static char tmpdir[64];
static char cat_file[4200];

static void cleanup(void)
{
    if (cat_file[0] != '\0')
        unlink(cat_file);
    if (tmpdir[0] != '\0')
        rmdir(tmpdir);
    for (size_t i = 0; i < N_FILTERS; i++)
        cs_flowpred_free(preds[i]);
}

/* Once: the filters and the private packets directory. */
static void setup(void)
{
    if (tmpdir[0] != '\0')
        return;
    for (size_t i = 0; i < N_FILTERS; i++)
        if (cs_flowpred_compile(filters[i], &preds[i]) != 0)
            abort();
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/fuzz_catalog.XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        abort();
    atexit(cleanup);
}

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Makes the head's layout fields agree with its length "h" and its counts,
 * so the header checks go on to the summary. */
static void fix_layout(uint8_t *head, uint32_t h)
{
    uint64_t flows = h, post, blocks;

    cs_wr_le32(head + 68, CS_IDX_BLOCK);
    cs_wr_le32(head + 108, h - CS_IDX_HDR);
    post = flows + (uint64_t)cs_rd_le32(head + 28) * CS_IDX_FLOW;
    blocks = post + cs_rd_le64(head + 32) * 4;
    cs_wr_le64(head + 72, flows);
    cs_wr_le64(head + 80, post);
    cs_wr_le64(head + 88, blocks);
    cs_wr_le64(head + 96, blocks + (uint64_t)cs_rd_le32(head + 64) * CS_IDX_BLOCKREC);
}

/* Gives the head's identifying fields their values and its summary (when
 * S >= 24 bytes fit the head) and header valid checksums. */
static void fix_head(uint8_t *head, uint32_t h)
{
    uint32_t s;

    memcpy(head, CS_IDX_MAGIC, 8);
    cs_wr_le32(head + 8, head[8] == 2 ? 2 : CS_IDX_VERSION);
    cs_wr_le32(head + 12, CS_IDX_HDR);
    s = cs_rd_le32(head + 108);
    if (s >= 24 && s <= h - CS_IDX_HDR)
        cs_wr_le64(head + CS_IDX_HDR, cs_hash64(head + CS_IDX_HDR + 8, (size_t)s - 8, IDX_SEED));
    cs_wr_le64(head + 120, cs_hash64(head, 120, IDX_SEED));
}

/* Walks the entries of "img" as cat_check_entries does, fixing what
 * "flags" asks; returns how many fit. */
static uint32_t fix_entries(uint8_t *img, size_t len, unsigned flags, uint32_t first)
{
    size_t at = CAT_HDR;
    uint32_t n = 0;

    while (at + CAT_ENTRY + CS_IDX_HDR <= len) {
        uint32_t h = cs_rd_le32(img + at);
        uint8_t *head = img + at + CAT_ENTRY;
        if (h < CS_IDX_HDR || h > len - at - CAT_ENTRY)
            break;
        if (flags & FIX_IDS)
            cs_wr_le32(head + 16, first + n);
        if (flags & FIX_LAYOUT)
            fix_layout(head, h);
        if (flags & FIX_HEADS)
            fix_head(head, h);
        n++;
        at += CAT_ENTRY + pad8(h);
    }
    return n;
}

static void fix_catalog(uint8_t *img, size_t len, unsigned flags, uint32_t first,
                        uint32_t partitions)
{
    uint32_t n = fix_entries(img, len, flags, first);

    if (flags & FIX_IDS)
        cs_wr_le32(img + 12, n);
    if (flags & FIX_CAT_HDR) {
        memcpy(img, CAT_MAGIC, 8);
        cs_wr_le32(img + 8, 1);
        cs_wr_le32(img + 16, first);
        cs_wr_le32(img + 20, partitions);
        cs_wr_le64(img + 24, cs_checksum64(img + CAT_HDR, len - CAT_HDR, CAT_SEED));
    }
}

/* The summary the loader accepted from "head" ("len" bytes). */
static void check_summary(const cs_idx *x, const uint8_t *head, size_t len)
{
    const cs_keysum *s = &x->sum;
    const uint8_t *end = head + len;

    if (x->sum_raw != head + CS_IDX_HDR || s->addr < head + CS_IDX_HDR + 24 || s->addr > end ||
        (size_t)(end - s->addr) < s->addr_bits / 8 || s->port != s->addr + s->addr_bits / 8 ||
        (size_t)(end - s->port) < s->port_bits / 8)
        abort();
    for (size_t i = 0; i < N_FILTERS; i++)
        if (!cs_flowpred_may_match(preds[i], s) && i < N_NEVER_PRUNED)
            abort();
}

/* The sections an accepted header gives fill exactly the size it claims,
 * computed without wrapping (index.h: 128 + S + 64F + 4P + 24B), and its
 * blocks can hold its packets. */
static void check_layout(const cs_idx *x)
{
    uint64_t need = CS_IDX_HDR + (uint64_t)x->sum_len + (uint64_t)x->n_keys * CS_IDX_FLOW;
    uint64_t rest;

    if (need > x->size)
        abort();
    rest = x->size - need;
    if (x->n_pkts > rest / 4 || rest - x->n_pkts * 4 != (uint64_t)x->n_blocks * CS_IDX_BLOCKREC ||
        x->n_pkts > (uint64_t)x->n_blocks * CS_IDX_BLOCK || x->n_blocks > x->n_pkts)
        abort();
}

/* Loads the head of segment "id", found in catalog "c", as store.c does. */
static void load_head(const cs_store *s, const cs_cat *c, uint32_t id, const uint8_t *head,
                      size_t len)
{
    char path[4200];
    cs_idx x;

    if (head < c->buf + CAT_HDR + CAT_ENTRY || head > c->buf + c->len ||
        len > (size_t)(c->buf + c->len - head) || len < CS_IDX_HDR || cs_rd_le32(head + 16) != id)
        abort();
    cs__seg_path(s, id, "idx", path, sizeof(path));
    if (cs_idx_load_head(path, head, len, &x) != 0) {
        cs_error_clear();
        return;
    }
    if (len != CS_IDX_HDR + (size_t)x.sum_len || x.segment_id != id ||
        (x.has_sum && x.sum_len == 0))
        abort();
    check_layout(&x);
    if (x.has_sum)
        check_summary(&x, head, len);
    /* The body is read from "path", which does not exist: the segment is
     * gone, as after retention, whatever size the head claims. */
    if (cs_idx_verify(&x) != CS_ENOTFOUND)
        abort();
    cs_error_clear();
    cs_idx_unload(&x);
}

/* Reads the catalog of group "first" and walks every id of the group. */
static void walk_catalog(const cs_store *s, uint32_t first)
{
    uint64_t last = first, found = 0;
    cs_cat c;

    if (cs__cat_read(s, first, &c) != 0) {
        cs_error_clear();
        return;
    }
    for (uint64_t id = first; id < (uint64_t)first + s->partitions && id <= UINT32_MAX; id++) {
        const uint8_t *head = NULL;
        size_t len = 0;
        uint64_t taps = 0;
        if (!cs__cat_find(&c, (uint32_t)id, &head, &len, &taps))
            continue;
        if (found > 0 && id <= last)
            abort();
        last = id;
        found++;
        load_head(s, &c, (uint32_t)id, head, len);
    }
    if (found != cs_rd_le32(c.buf + 12) || c.at != c.len)
        abort();
    cs__cat_free(&c);
}

static uint32_t partitions_of(const uint8_t *ctl)
{
    uint32_t p = (uint32_t)ctl[1] | ((uint32_t)ctl[2] << 8);

    return p >= 1 && p <= 1024 ? p : 64;
}

static int write_file(const char *path, const uint8_t *b, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int ok;

    if (fd < 0)
        return -1;
    ok = write(fd, b, len) == (ssize_t)len;
    close(fd);
    return ok ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_store s;
    uint8_t *img;
    size_t len;
    uint32_t first = 1;
    unsigned flags;

    setup();
    if (size < CTL_BYTES + CAT_HDR || size > MAX_INPUT)
        return 0;
    flags = data[0];
    len = size - CTL_BYTES;
    if ((img = malloc(len)) == NULL)
        return 0;
    memcpy(img, data + CTL_BYTES, len);
    memset(&s, 0, sizeof(s));
    s.pktdir = tmpdir;
    s.partitions = partitions_of(data);
    s.flags = 0;
    if (flags & FIX_FIRST)
        first = cs_rd_le32(img + 16);
    fix_catalog(img, len, flags, first, s.partitions);
    if (cat_file[0] != '\0')
        unlink(cat_file); /* the previous input's, under another first id */
    cs__cat_path(&s, first, cat_file, sizeof(cat_file));
    if (write_file(cat_file, img, len) != 0)
        abort();
    walk_catalog(&s, first);
    free(img);
    cs_error_clear();
    return 0;
}

/*
 * index.c - builds, writes, loads and rebuilds segment indexes.
 *
 * The on-disk layout is documented in index.h. While a segment is written,
 * cs_idx_builder keeps two u32 per packet (record offset, key index), one
 * entry per distinct flow key in an open-addressing table, and one block
 * record per CS_IDX_BLOCK packets. At close the postings are produced by a
 * counting sort of the packets by key (stable, so offsets stay ascending
 * within a key) and the file is written once, to a temporary name, synced
 * and renamed: a reader sees either no index or a whole one.
 *
 * Loading maps the file read-only and checks the magic, version, sizes,
 * every section's bounds and the header checksum; the body checksum is
 * checked by cs_idx_verify before the body is first used (index.h).
 */
#include "store/index.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/hash.h"
#include "store/pcapw.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define IDX_SEED 0x6373696478ull /* "csidx" */

void cs_idxb_init(cs_idx_builder *b)
{
    memset(b, 0, sizeof(*b));
    b->ordered = 1;
}

void cs_idxb_reset(cs_idx_builder *b)
{
    if (b->slots)
        memset(b->slots, 0, ((size_t)b->slot_mask + 1) * sizeof(uint32_t));
    b->n_keys = 0;
    b->n_pkts = 0;
    b->n_blocks = 0;
    b->min_ts = b->max_ts = b->last_ts = 0;
    b->ordered = 1;
    b->base = NULL;
    b->base_pkts = 0;
    b->base_keys = 0;
}

void cs_idxb_free(cs_idx_builder *b)
{
    cs_free(b->keys);
    cs_free(b->key_hash);
    cs_free(b->key_count);
    cs_free(b->slots);
    cs_free(b->pkt_off);
    cs_free(b->pkt_key);
    cs_free(b->blocks);
    memset(b, 0, sizeof(*b));
}

static int idxb_rehash(cs_idx_builder *b, uint32_t nslots)
{
    uint32_t *slots = cs_calloc(nslots, sizeof(uint32_t));
    uint32_t mask = nslots - 1;

    if (slots == NULL)
        return CS_ENOMEM;
    for (uint32_t i = 0; i < b->n_keys; i++) {
        uint32_t s = (uint32_t)b->key_hash[i] & mask;
        while (slots[s] != 0)
            s = (s + 1) & mask;
        slots[s] = i + 1;
    }
    cs_free(b->slots);
    b->slots = slots;
    b->slot_mask = mask;
    return 0;
}

static int idxb_new_key(cs_idx_builder *b, const cs_flowkey *k, uint64_t h, uint32_t slot,
                        uint32_t *out)
{
    size_t cap = b->cap_keys;
    int rc;

    if (b->n_keys == b->cap_keys) {
        cap = b->cap_keys;
        if ((rc = cs_grow((void **)&b->keys, &cap, b->n_keys + 1, sizeof(*b->keys))) < 0)
            return rc;
        cap = b->cap_keys;
        if ((rc = cs_grow((void **)&b->key_hash, &cap, b->n_keys + 1, sizeof(uint64_t))) < 0)
            return rc;
        cap = b->cap_keys;
        if ((rc = cs_grow((void **)&b->key_count, &cap, b->n_keys + 1, sizeof(uint32_t))) < 0)
            return rc;
        b->cap_keys = (uint32_t)cap;
    }
    b->keys[b->n_keys] = *k;
    b->key_hash[b->n_keys] = h;
    b->key_count[b->n_keys] = 0;
    b->slots[slot] = b->n_keys + 1;
    *out = b->n_keys++;
    if ((uint64_t)b->n_keys * 2 > b->slot_mask)
        return idxb_rehash(b, (b->slot_mask + 1) * 2);
    return 0;
}

static int idxb_find_key(cs_idx_builder *b, const cs_flowkey *k, uint32_t *out)
{
    uint64_t h = cs_flowkey_hash(k);
    uint32_t s;
    int rc;

    if (b->slots == NULL && (rc = idxb_rehash(b, 1024)) < 0)
        return rc;
    s = (uint32_t)h & b->slot_mask;
    for (;;) {
        uint32_t v = b->slots[s];
        if (v == 0)
            return idxb_new_key(b, k, h, s, out);
        if (b->key_hash[v - 1] == h && memcmp(&b->keys[v - 1], k, sizeof(*k)) == 0) {
            *out = v - 1;
            return 0;
        }
        s = (s + 1) & b->slot_mask;
    }
}

static int idxb_note_block(cs_idx_builder *b, uint32_t offset, int64_t ts)
{
    cs_idx_block *blk;
    int rc;

    if (b->n_pkts % CS_IDX_BLOCK == 0) {
        rc = cs_grow((void **)&b->blocks, &b->cap_blocks, b->n_blocks + 1, sizeof(*b->blocks));
        if (rc < 0)
            return rc;
        blk = &b->blocks[b->n_blocks++];
        blk->min_ts = blk->max_ts = ts;
        blk->first_off = offset;
        blk->n = 0;
    }
    blk = &b->blocks[b->n_blocks - 1];
    if (ts < blk->min_ts)
        blk->min_ts = ts;
    if (ts > blk->max_ts)
        blk->max_ts = ts;
    blk->n++;
    return 0;
}

int cs_idxb_add(cs_idx_builder *b, const cs_flowkey *k, uint32_t offset, int64_t ts_ns)
{
    uint32_t key;
    int rc;

    if (b->n_pkts == b->cap_pkts) {
        size_t cap = b->cap_pkts;
        if ((rc = cs_grow((void **)&b->pkt_off, &cap, b->n_pkts + 1, sizeof(uint32_t))) < 0)
            return rc;
        cap = b->cap_pkts;
        if ((rc = cs_grow((void **)&b->pkt_key, &cap, b->n_pkts + 1, sizeof(uint32_t))) < 0)
            return rc;
        b->cap_pkts = cap;
    }
    if ((rc = idxb_find_key(b, k, &key)) < 0)
        return rc;
    if ((rc = idxb_note_block(b, offset, ts_ns)) < 0)
        return rc;
    if (b->n_pkts == 0 && b->base_pkts == 0) {
        b->min_ts = b->max_ts = ts_ns;
    } else {
        if (ts_ns < b->last_ts)
            b->ordered = 0;
        if (ts_ns < b->min_ts)
            b->min_ts = ts_ns;
        if (ts_ns > b->max_ts)
            b->max_ts = ts_ns;
    }
    b->last_ts = ts_ns;
    b->pkt_off[b->n_pkts] = offset;
    b->pkt_key[b->n_pkts] = key;
    b->n_pkts++;
    b->key_count[key]++;
    return 0;
}

int cs_idxb_seed(cs_idx_builder *b, const cs_idx *base)
{
    uint64_t total = 0;
    int rc;

    cs_idxb_reset(b);
    for (uint32_t i = 0; i < base->n_keys; i++) {
        cs_flowkey k;
        uint32_t count, key;
        uint64_t first;
        cs_idx_flow(base, i, &k, &count, &first);
        if ((rc = idxb_find_key(b, &k, &key)) < 0)
            return rc;
        if (key != i || first > base->n_pkts || count > base->n_pkts - first)
            return cs_error_set(CS_ECORRUPT, "checkpoint of segment %" PRIu32 " is inconsistent",
                                base->segment_id);
        b->key_count[key] = count;
        total += count;
    }
    if (total != base->n_pkts) /* the postings would not fit their table */
        return cs_error_set(CS_ECORRUPT, "checkpoint of segment %" PRIu32 " is inconsistent",
                            base->segment_id);
    rc = cs_grow((void **)&b->blocks, &b->cap_blocks, base->n_blocks + 1, sizeof(*b->blocks));
    if (rc < 0)
        return rc;
    for (uint32_t i = 0; i < base->n_blocks; i++)
        cs_idx_block_get(base, i, &b->blocks[i]);
    b->n_blocks = base->n_blocks;
    b->base = base;
    b->base_pkts = base->n_pkts;
    b->base_keys = base->n_keys;
    b->min_ts = base->min_ts;
    b->max_ts = b->last_ts = base->max_ts; /* when ordered, the last packet's */
    b->ordered = (base->flags & CS_IDX_F_ORDERED) != 0;
    return 0;
}

/* Postings of the checkpoint (if any) first, each key's at the front of
 * its run; "next" is advanced past them. */
static void idxb_put_base_postings(const cs_idx_builder *b, uint8_t *post, uint64_t *next)
{
    for (uint32_t i = 0; i < b->base_keys; i++) {
        cs_flowkey k;
        uint32_t count;
        uint64_t first;
        cs_idx_flow(b->base, i, &k, &count, &first);
        memcpy(post + 4 * next[i], b->base->postings + 4 * first, (size_t)count * 4);
        next[i] += count;
    }
}

/* Writes the key summary of "b" at "p" ("len" bytes, "bits" per filter). */
static void idxb_put_summary(const cs_idx_builder *b, uint8_t *p, size_t len, uint32_t bits)
{
    cs_keysum sum = {0, bits, bits, p + 24, p + 24 + bits / 8};

    for (uint32_t i = 0; i < b->n_keys; i++)
        cs_keysum_add(&sum, &b->keys[i]);
    cs_wr_le32(p + 8, sum.flags);
    cs_wr_le32(p + 12, bits);
    cs_wr_le32(p + 16, bits);
    cs_wr_le64(p, cs_hash64(p + 8, len - 8, IDX_SEED));
}

/* Lays the whole index out in one buffer (header last, for the checksum). */
static int idxb_serialize(const cs_idx_builder *b, const cs_idx_meta *meta, uint8_t **out,
                          size_t *out_len)
{
    uint32_t bits = cs_keysum_bits(2 * (size_t)b->n_keys);
    size_t sum_len = 24 + 2 * (size_t)bits / 8;
    size_t flows_off = CS_IDX_HDR + sum_len;
    size_t post_off = flows_off + (size_t)b->n_keys * CS_IDX_FLOW;
    uint64_t n_pkts = b->base_pkts + b->n_pkts;
    size_t blocks_off = post_off + (size_t)n_pkts * 4;
    size_t total = blocks_off + b->n_blocks * CS_IDX_BLOCKREC;
    uint8_t *buf = cs_calloc(1, total);
    uint64_t *next = cs_malloc(((size_t)b->n_keys + 1) * sizeof(uint64_t));
    uint64_t pos = 0, sum;

    if (buf == NULL || next == NULL) {
        cs_free(buf);
        cs_free(next);
        return CS_ENOMEM;
    }
    idxb_put_summary(b, buf + CS_IDX_HDR, sum_len, bits);
    for (uint32_t i = 0; i < b->n_keys; i++) {
        uint8_t *f = buf + flows_off + (size_t)i * CS_IDX_FLOW;
        memcpy(f, &b->keys[i], sizeof(cs_flowkey));
        cs_wr_le32(f + 52, b->key_count[i]);
        cs_wr_le64(f + 56, pos);
        next[i] = pos;
        pos += b->key_count[i];
    }
    idxb_put_base_postings(b, buf + post_off, next);
    for (uint64_t p = 0; p < b->n_pkts; p++)
        cs_wr_le32(buf + post_off + 4 * next[b->pkt_key[p]]++, b->pkt_off[p]);
    for (size_t i = 0; i < b->n_blocks; i++) {
        uint8_t *r = buf + blocks_off + i * CS_IDX_BLOCKREC;
        cs_wr_le64(r, (uint64_t)b->blocks[i].min_ts);
        cs_wr_le64(r + 8, (uint64_t)b->blocks[i].max_ts);
        cs_wr_le32(r + 16, b->blocks[i].first_off);
        cs_wr_le32(r + 20, b->blocks[i].n);
    }
    memcpy(buf, CS_IDX_MAGIC, 8);
    cs_wr_le32(buf + 8, CS_IDX_VERSION);
    cs_wr_le32(buf + 12, CS_IDX_HDR);
    cs_wr_le32(buf + 16, meta->segment_id);
    cs_wr_le32(buf + 20, meta->linktype);
    cs_wr_le32(buf + 24, meta->snaplen);
    cs_wr_le32(buf + 28, b->n_keys);
    cs_wr_le64(buf + 32, n_pkts);
    cs_wr_le64(buf + 40, meta->pcap_bytes);
    cs_wr_le64(buf + 48, (uint64_t)b->min_ts);
    cs_wr_le64(buf + 56, (uint64_t)b->max_ts);
    cs_wr_le32(buf + 64, (uint32_t)b->n_blocks);
    cs_wr_le32(buf + 68, CS_IDX_BLOCK);
    cs_wr_le64(buf + 72, flows_off);
    cs_wr_le64(buf + 80, post_off);
    cs_wr_le64(buf + 88, blocks_off);
    cs_wr_le64(buf + 96, total);
    cs_wr_le32(buf + 104, b->ordered ? CS_IDX_F_ORDERED : 0);
    cs_wr_le32(buf + 108, (uint32_t)sum_len);
    cs_wr_le64(buf + 112, cs_checksum64(buf + CS_IDX_HDR, total - CS_IDX_HDR, IDX_SEED));
    sum = cs_hash64(buf, 120, IDX_SEED);
    cs_wr_le64(buf + 120, sum);
    cs_free(next);
    *out = buf;
    *out_len = total;
    return 0;
}

int cs_idxb_write(const cs_idx_builder *b, const cs_idx_meta *meta, const char *path, int sync)
{
    char tmp[4096];
    uint8_t *buf = NULL;
    size_t len = 0;
    int fd = -1, rc;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return cs_error_set(CS_EINVAL, "path too long: %s", path);
    if ((rc = idxb_serialize(b, meta, &buf, &len)) < 0)
        return rc;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = cs_error_set(cs_error_from_errno(errno), "%s: %s", tmp, strerror(errno));
        goto out;
    }
    if ((rc = cs_write_all(fd, buf, len)) < 0)
        goto out;
    if ((sync && fdatasync(fd) < 0) || close(fd) < 0) {
        fd = -1;
        rc = cs_error_set(CS_EIO, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        rc = cs_error_set(cs_error_from_errno(errno), "rename %s: %s", tmp, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    cs_free(buf);
    return rc;
}

int cs_idxb_write_prefix(const cs_idx_builder *b, uint64_t n, const cs_idx_meta *meta,
                         const char *path)
{
    cs_idx_builder v = *b; /* a view of the first n packets */
    uint32_t *counts;
    int rc;

    if (n == 0 || n > b->n_pkts || n % CS_IDX_BLOCK != 0 || b->base != NULL)
        return cs_error_set(CS_EINVAL, "no index prefix of %" PRIu64 " packets", n);
    if ((counts = cs_calloc((size_t)b->n_keys + 1, sizeof(uint32_t))) == NULL)
        return CS_ENOMEM;
    for (uint64_t p = 0; p < n; p++)
        counts[b->pkt_key[p]]++;
    v.key_count = counts;
    v.n_pkts = n;
    v.n_blocks = (size_t)(n / CS_IDX_BLOCK);
    v.min_ts = b->blocks[0].min_ts;
    v.max_ts = b->blocks[0].max_ts;
    for (size_t i = 1; i < v.n_blocks; i++) {
        if (b->blocks[i].min_ts < v.min_ts)
            v.min_ts = b->blocks[i].min_ts;
        if (b->blocks[i].max_ts > v.max_ts)
            v.max_ts = b->blocks[i].max_ts;
    }
    rc = cs_idxb_write(&v, meta, path, 0);
    cs_free(counts);
    return rc;
}

static int idx_check_layout(cs_idx *x, const uint8_t *p, size_t size)
{
    uint64_t flows_off = cs_rd_le64(p + 72), post_off = cs_rd_le64(p + 80);
    uint64_t blocks_off = cs_rd_le64(p + 88), total = cs_rd_le64(p + 96);

    x->segment_id = cs_rd_le32(p + 16);
    x->linktype = cs_rd_le32(p + 20);
    x->snaplen = cs_rd_le32(p + 24);
    x->n_keys = cs_rd_le32(p + 28);
    x->n_pkts = cs_rd_le64(p + 32);
    x->pcap_bytes = cs_rd_le64(p + 40);
    x->min_ts = (int64_t)cs_rd_le64(p + 48);
    x->max_ts = (int64_t)cs_rd_le64(p + 56);
    x->n_blocks = cs_rd_le32(p + 64);
    x->flags = cs_rd_le32(p + 104);
    x->sum_len = cs_rd_le32(p + 108);
    if (cs_rd_le32(p + 8) == 2 && x->sum_len != 0)
        return CS_ECORRUPT;
    if (total != size || flows_off != CS_IDX_HDR + (uint64_t)x->sum_len ||
        cs_rd_le32(p + 68) != CS_IDX_BLOCK)
        return CS_ECORRUPT;
    /* The blocks hold the packets and none is empty; P <= 256 B < 2^40
     * also keeps the sums below from wrapping around. */
    if (x->n_pkts > (uint64_t)x->n_blocks * CS_IDX_BLOCK || x->n_blocks > x->n_pkts)
        return CS_ECORRUPT;
    if (post_off != flows_off + (uint64_t)x->n_keys * CS_IDX_FLOW ||
        blocks_off != post_off + x->n_pkts * 4 ||
        total != blocks_off + (uint64_t)x->n_blocks * CS_IDX_BLOCKREC)
        return CS_ECORRUPT;
    x->flows = p + flows_off;
    x->postings = p + post_off;
    x->blocks = p + blocks_off;
    return 0;
}

/* Blocks: 1..CS_IDX_BLOCK packets each, ascending offsets, summing to P. */
static int idx_check_blocks(const cs_idx *x)
{
    uint64_t total = 0, last_off = 0;

    for (uint32_t i = 0; i < x->n_blocks; i++) {
        cs_idx_block b;
        cs_idx_block_get(x, i, &b);
        if (b.n == 0 || b.n > CS_IDX_BLOCK || (i > 0 && b.first_off <= last_off) ||
            b.first_off >= x->pcap_bytes)
            return CS_ECORRUPT;
        last_off = b.first_off;
        total += b.n;
    }
    return total == x->n_pkts ? 0 : CS_ECORRUPT;
}

/* Parses the key summary in "p" ("x->sum_len" bytes); a damaged one is
 * only ignored (queries then read the segment's keys, and the body
 * checksum, which covers it too, tells whether the index is sound). */
static void idx_parse_summary(cs_idx *x, const uint8_t *p)
{
    uint32_t a, b;

    x->has_sum = 0;
    if (x->sum_len < 24 || cs_rd_le64(p) != cs_hash64(p + 8, x->sum_len - 8, IDX_SEED))
        return;
    a = cs_rd_le32(p + 12);
    b = cs_rd_le32(p + 16);
    if (a < 64 || a > 65536 || (a & (a - 1)) || b < 64 || b > 65536 || (b & (b - 1)) ||
        24 + (size_t)a / 8 + b / 8 != x->sum_len)
        return;
    x->sum = (cs_keysum){cs_rd_le32(p + 8), a, b, (uint8_t *)p + 24, (uint8_t *)p + 24 + a / 8};
    x->has_sum = 1;
}

/* Takes the summary from "first" (the file's first "got" bytes, read with
 * the header) or reads it. */
static int idx_read_summary(cs_idx *x, int fd, const uint8_t *first, size_t got)
{
    if (x->sum_len == 0)
        return 0;
    x->sum_buf = cs_malloc(x->sum_len);
    if (x->sum_buf == NULL)
        return CS_ENOMEM;
    if (CS_IDX_HDR + (size_t)x->sum_len <= got)
        memcpy(x->sum_buf, first + CS_IDX_HDR, x->sum_len);
    else if (pread(fd, x->sum_buf, x->sum_len, CS_IDX_HDR) != (ssize_t)x->sum_len)
        return CS_ECORRUPT;
    x->sum_raw = x->sum_buf;
    idx_parse_summary(x, x->sum_buf);
    return 0;
}

/* Takes the header from "p" and checks it against a file of "size"
 * bytes: magic, version, checksum and layout. */
static int idx_take_header(cs_idx *x, const uint8_t *p, size_t size)
{
    uint32_t version = cs_rd_le32(p + 8);

    memcpy(x->hdr, p, CS_IDX_HDR);
    x->size = size;
    if (memcmp(x->hdr, CS_IDX_MAGIC, 8) != 0 || version < 2 || version > CS_IDX_VERSION ||
        cs_rd_le32(x->hdr + 12) != CS_IDX_HDR ||
        cs_rd_le64(x->hdr + 120) != cs_hash64(x->hdr, 120, IDX_SEED))
        return CS_ECORRUPT;
    return idx_check_layout(x, x->hdr, x->size);
}

/* The loaded header keeps only its path for the body, read later. */
static int idx_keep_path(cs_idx *x, const char *path)
{
    x->flows = x->postings = x->blocks = NULL; /* until the body is read */
    x->path = cs_strdup(path);
    if (x->path == NULL) {
        cs_idx_unload(x);
        return CS_ENOMEM;
    }
    return 0;
}

/* Bytes read at once when an index is loaded: the header and, for all but
 * the largest segments, the key summary after it. */
#define IDX_FIRST_READ 8192

int cs_idx_load(const char *path, cs_idx *x)
{
    uint8_t first[IDX_FIRST_READ];
    struct stat st;
    ssize_t got = -1;
    int fd, rc = CS_ECORRUPT;

    memset(x, 0, sizeof(*x));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || st.st_size < CS_IDX_HDR ||
        (got = pread(fd, first, sizeof(first), 0)) < CS_IDX_HDR ||
        idx_take_header(x, first, (size_t)st.st_size) < 0)
        goto bad;
    if ((rc = idx_read_summary(x, fd, first, (size_t)got)) < 0)
        goto bad;
    close(fd);
    return idx_keep_path(x, path);
bad:
    if (fd >= 0)
        close(fd);
    cs_idx_unload(x);
    if (rc == CS_ENOMEM)
        return rc;
    return cs_error_set(CS_ECORRUPT, "%s: index is damaged", path);
}

int cs_idx_load_head(const char *path, const uint8_t *head, size_t len, cs_idx *x)
{
    memset(x, 0, sizeof(*x));
    if (len < CS_IDX_HDR || idx_take_header(x, head, (size_t)cs_rd_le64(head + 96)) < 0 ||
        CS_IDX_HDR + (size_t)x->sum_len != len) {
        memset(x, 0, sizeof(*x));
        return cs_error_set(CS_ECORRUPT, "%s: catalogued index head is damaged", path);
    }
    if (x->sum_len > 0) {
        x->sum_raw = head + CS_IDX_HDR;
        idx_parse_summary(x, x->sum_raw);
    }
    return idx_keep_path(x, path);
}

/* Reads the whole file into memory; it must still have the size and the
 * header that cs_idx_load checked (an index replaced since is reported as
 * damaged). The size is checked before anything is allocated: a head taken
 * from a catalog (cs_idx_load_head) gives a size no file has vouched for. */
static int idx_read_body(cs_idx *x)
{
    struct stat st;
    uint8_t *buf = NULL;
    ssize_t n = -1;
    int fd = open(x->path, O_RDONLY | O_CLOEXEC), rc = CS_ECORRUPT;

    if (fd < 0 && errno == ENOENT)
        return cs_error_set(CS_ENOTFOUND, "segment %" PRIu32 " is no longer stored (retention)",
                            x->segment_id);
    if (fd < 0 || fstat(fd, &st) < 0 || (uint64_t)st.st_size != x->size)
        goto out;
    if ((buf = cs_malloc(x->size)) == NULL) {
        rc = CS_ENOMEM;
        goto out;
    }
    n = pread(fd, buf, x->size, 0);
    if (n == (ssize_t)x->size && memcmp(buf, x->hdr, CS_IDX_HDR) == 0) {
        x->map = buf;
        buf = NULL;
        rc = idx_check_layout(x, x->map, x->size);
    }
out:
    if (fd >= 0)
        close(fd);
    cs_free(buf);
    if (rc == CS_ECORRUPT)
        return cs_error_set(CS_ECORRUPT, "index of segment %" PRIu32 " is damaged or gone",
                            x->segment_id);
    return rc;
}

int cs_idx_verify(cs_idx *x)
{
    int rc;

    if (x->verified)
        return 0;
    if (x->map == NULL && (rc = idx_read_body(x)) < 0)
        return rc;
    if (cs_rd_le64(x->hdr + 112) !=
        cs_checksum64(x->map + CS_IDX_HDR, x->size - CS_IDX_HDR, IDX_SEED))
        return cs_error_set(CS_ECORRUPT, "index of segment %" PRIu32 " is damaged", x->segment_id);
    if (idx_check_blocks(x) < 0)
        return cs_error_set(CS_ECORRUPT, "index of segment %" PRIu32 " has bad time blocks",
                            x->segment_id);
    x->verified = 1;
    return 0;
}

void cs_idx_release(cs_idx *x)
{
    if (x->path == NULL || x->map == NULL)
        return; /* built in memory: there is nothing to read it back from */
    cs_free(x->map);
    x->map = NULL;
    x->flows = x->postings = x->blocks = NULL;
    x->verified = 0;
}

void cs_idx_unload(cs_idx *x)
{
    cs_free(x->map);
    cs_free(x->path);
    cs_free(x->sum_buf);
    memset(x, 0, sizeof(*x));
}

void cs_idx_flow(const cs_idx *x, uint32_t i, cs_flowkey *k, uint32_t *count, uint64_t *first)
{
    const uint8_t *f = x->flows + (size_t)i * CS_IDX_FLOW;

    memcpy(k, f, sizeof(*k));
    *count = cs_rd_le32(f + 52);
    *first = cs_rd_le64(f + 56);
}

void cs_idx_block_get(const cs_idx *x, uint32_t i, cs_idx_block *blk)
{
    const uint8_t *r = x->blocks + (size_t)i * CS_IDX_BLOCKREC;

    blk->min_ts = (int64_t)cs_rd_le64(r);
    blk->max_ts = (int64_t)cs_rd_le64(r + 8);
    blk->first_off = cs_rd_le32(r + 16);
    blk->n = cs_rd_le32(r + 20);
}

static uint16_t scan_tap_at(const cs_tap_run *taps, size_t n_taps, size_t *cursor, uint64_t off)
{
    while (*cursor + 1 < n_taps && taps[*cursor + 1].offset <= off)
        (*cursor)++;
    return n_taps ? taps[*cursor].tap : 0;
}

static int scan_records(const uint8_t *p, size_t size, size_t off, uint32_t linktype,
                        const cs_tap_run *taps, size_t n_taps, cs_idx_builder *b,
                        uint64_t *valid_len)
{
    size_t tcur = 0;
    int rc;

    while (size - off >= CS_PCAP_RECHDR) {
        const uint8_t *h = p + off;
        uint32_t caplen = cs_rd_le32(h + 8), wirelen = cs_rd_le32(h + 12);
        uint32_t nsec = cs_rd_le32(h + 4);
        cs_packet pkt = {0};
        cs_layers l;
        cs_flowkey k;

        if (caplen > CS_PCAP_SNAPLEN || nsec >= 1000000000u || wirelen < caplen ||
            size - off - CS_PCAP_RECHDR < caplen || off > UINT32_MAX)
            break;
        pkt.ts_ns = (int64_t)cs_rd_le32(h) * 1000000000 + nsec;
        pkt.caplen = caplen;
        pkt.wirelen = wirelen;
        pkt.linktype = (uint16_t)linktype;
        pkt.tap = scan_tap_at(taps, n_taps, &tcur, off);
        pkt.data = h + CS_PCAP_RECHDR;
        cs_dissect(&pkt, &l);
        cs_flowkey_from_layers(&pkt, &l, &k);
        if ((rc = cs_idxb_add(b, &k, (uint32_t)off, pkt.ts_ns)) < 0)
            return rc;
        off += CS_PCAP_RECHDR + caplen;
    }
    *valid_len = off;
    return 0;
}

int cs_idx_scan_pcap(const char *path, uint64_t start, const cs_tap_run *taps, size_t n_taps,
                     cs_idx_builder *b, uint64_t *valid_len, uint32_t *linktype, uint32_t *snaplen)
{
    struct stat st;
    void *map = NULL;
    const uint8_t *p;
    int fd, rc;

    *valid_len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || st.st_size < CS_PCAP_FILEHDR) {
        close(fd);
        return cs_error_set(CS_ECORRUPT, "%s: segment has no complete pcap header", path);
    }
    if (start < CS_PCAP_FILEHDR || start > (uint64_t)st.st_size) {
        close(fd);
        return cs_error_set(CS_ECORRUPT, "%s: no record starts at %" PRIu64, path, start);
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return cs_error_set(CS_EIO, "%s: mmap: %s", path, strerror(errno));
    p = map;
    if (cs_rd_le32(p) != CS_PCAP_MAGIC_NS) {
        rc = cs_error_set(CS_ECORRUPT, "%s: not a capstream segment (bad magic)", path);
        goto out;
    }
    *snaplen = cs_rd_le32(p + 16);
    *linktype = cs_rd_le32(p + 20);
    madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
    rc = scan_records(p, (size_t)st.st_size, (size_t)start, *linktype, taps, n_taps, b, valid_len);
out:
    munmap(map, (size_t)st.st_size);
    return rc;
}

int cs_idx_from_builder(const cs_idx_builder *b, const cs_idx_meta *meta, cs_idx *x)
{
    uint8_t *buf;
    size_t len;
    int rc;

    memset(x, 0, sizeof(*x));
    if ((rc = idxb_serialize(b, meta, &buf, &len)) < 0)
        return rc;
    x->map = buf;
    x->size = len;
    memcpy(x->hdr, buf, CS_IDX_HDR);
    if (idx_check_layout(x, buf, len) < 0 || idx_check_blocks(x) < 0) {
        cs_idx_unload(x);
        return CS_ECORRUPT;
    }
    idx_parse_summary(x, buf + CS_IDX_HDR);
    x->verified = 1;
    return 0;
}

/*
 * ipfrag.c - IP fragment reassembly: table, first-wins pieces, timeouts.
 *
 * Table: 1024 hash chains of pending datagrams plus an age list in order of
 * first fragment (head = oldest), for the timeout and for eviction when
 * "max_datagrams" are pending.
 *
 * A pending datagram owns a byte buffer (grown to the highest offset seen,
 * at most 65535 + 8 bytes), a piece list (disjoint byte ranges, each tagged
 * with the fragment that carried it) and the refs of its fragments. Adding a
 * fragment copies only the ranges no piece covers yet (first copy wins), so
 * "have" (bytes covered) grows monotonically; the datagram is complete when
 * the total length is known (a fragment with MF = 0) and have == total.
 * The completed buffers move to "done" and are freed at the next call.
 */
#include "flow/ipfrag.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/sort.h"

#include <stdlib.h>
#include <string.h>

#define NBUCKETS 1024u
#define MAX_DGRAM (65535u + 8u)

typedef struct dgram {
    struct dgram *hnext, *age_prev, *age_next;
    cs_ipfrag_key key;
    int64_t first_ts;
    uint32_t total; /* 0 until the last fragment is seen */
    uint32_t have, cap, nfrags;
    uint8_t *buf;
    cs_ipfrag_piece *pieces;
    size_t n_pieces, pieces_cap;
    cs_pktref *refs;
    size_t n_refs, refs_cap;
} dgram;

struct cs_ipfrag {
    uint32_t max, count;
    int64_t timeout;
    dgram *buckets[NBUCKETS];
    dgram *age_head, *age_tail;
    dgram *done;
    cs_ipfrag_stats st;
};

static uint32_t key_hash(const cs_ipfrag_key *k)
{
    uint32_t h = 2166136261u;
    const uint8_t *b = (const uint8_t *)k;

    for (size_t i = 0; i < sizeof(*k); i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

int cs_ipfrag_new(uint32_t max_datagrams, int64_t timeout_ns, cs_ipfrag **out)
{
    cs_ipfrag *f = cs_calloc(1, sizeof(*f));

    if (f == NULL)
        return CS_ENOMEM;
    f->max = max_datagrams ? max_datagrams : 1;
    f->timeout = timeout_ns;
    *out = f;
    return 0;
}

static void dgram_free(dgram *d)
{
    if (d == NULL)
        return;
    cs_free(d->buf);
    cs_free(d->pieces);
    cs_free(d->refs);
    cs_free(d);
}

static void unlink_dgram(cs_ipfrag *f, dgram *d)
{
    dgram **pp = &f->buckets[key_hash(&d->key) % NBUCKETS];

    while (*pp != d)
        pp = &(*pp)->hnext;
    *pp = d->hnext;
    if (d->age_prev)
        d->age_prev->age_next = d->age_next;
    else
        f->age_head = d->age_next;
    if (d->age_next)
        d->age_next->age_prev = d->age_prev;
    else
        f->age_tail = d->age_prev;
    f->count--;
}

static void drop_dgram(cs_ipfrag *f, dgram *d)
{
    unlink_dgram(f, d);
    f->st.dropped += d->nfrags;
    dgram_free(d);
}

void cs_ipfrag_free(cs_ipfrag *f)
{
    if (f == NULL)
        return;
    while (f->age_head != NULL)
        drop_dgram(f, f->age_head);
    dgram_free(f->done);
    cs_free(f);
}

void cs_ipfrag_expire(cs_ipfrag *f, int64_t now_ns)
{
    while (f->age_head != NULL && now_ns - f->age_head->first_ts > f->timeout)
        drop_dgram(f, f->age_head);
}

static dgram *find_or_add(cs_ipfrag *f, const cs_ipfrag_key *k, int64_t ts)
{
    uint32_t b = key_hash(k) % NBUCKETS;
    dgram *d;

    for (d = f->buckets[b]; d != NULL; d = d->hnext)
        if (memcmp(&d->key, k, sizeof(*k)) == 0)
            return d;
    if (f->count >= f->max)
        drop_dgram(f, f->age_head);
    d = cs_calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->key = *k;
    d->first_ts = ts;
    d->hnext = f->buckets[b];
    f->buckets[b] = d;
    d->age_prev = f->age_tail;
    if (f->age_tail)
        f->age_tail->age_next = d;
    else
        f->age_head = d;
    f->age_tail = d;
    f->count++;
    return d;
}

static int piece_cmp(const void *a, const void *b)
{
    const cs_ipfrag_piece *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static int add_piece(dgram *d, uint32_t off, uint32_t len, const uint8_t *src, int64_t ts,
                     cs_pktref ref)
{
    if (cs_grow((void **)&d->pieces, &d->pieces_cap, d->n_pieces + 1, sizeof(*d->pieces)) < 0)
        return CS_ENOMEM;
    d->pieces[d->n_pieces++] = (cs_ipfrag_piece){off, len, ts, ref};
    memcpy(d->buf + off, src, len);
    d->have += len;
    return 0;
}

/* Copies the parts of [off, off + n) that no piece covers yet. */
static int add_bytes(dgram *d, uint32_t off, const uint8_t *p, uint32_t n, int64_t ts,
                     cs_pktref ref)
{
    uint32_t cur = off, end = off + n;
    size_t existing = d->n_pieces;

    for (size_t i = 0; i < existing && cur < end; i++) {
        const cs_ipfrag_piece *e = &d->pieces[i];
        uint32_t e_end = e->off + e->len;

        if (e_end <= cur || e->off >= end)
            continue;
        if (e->off > cur && add_piece(d, cur, e->off - cur, p + (cur - off), ts, ref) < 0)
            return CS_ENOMEM;
        e = &d->pieces[i]; /* add_piece may have moved the array */
        cur = e->off + e->len > cur ? e->off + e->len : cur;
    }
    if (cur < end && add_piece(d, cur, end - cur, p + (cur - off), ts, ref) < 0)
        return CS_ENOMEM;
    cs_qsort(d->pieces, d->n_pieces, sizeof(*d->pieces), piece_cmp);
    return 0;
}

static int ensure_buf(dgram *d, uint32_t need)
{
    uint8_t *nb;

    if (need <= d->cap)
        return 0;
    nb = cs_realloc(d->buf, need);
    if (nb == NULL)
        return CS_ENOMEM;
    d->buf = nb;
    d->cap = need;
    return 0;
}

/* Bytes of [0, total) the pieces cover (pieces past a bogus end don't count). */
static uint32_t covered(const dgram *d)
{
    uint32_t c = 0;

    for (size_t i = 0; i < d->n_pieces; i++) {
        const cs_ipfrag_piece *e = &d->pieces[i];
        if (e->off < d->total)
            c += (e->off + e->len > d->total ? d->total : e->off + e->len) - e->off;
    }
    return c;
}

static void complete(cs_ipfrag *f, dgram *d, cs_ipfrag_out *out)
{
    unlink_dgram(f, d);
    dgram_free(f->done);
    f->done = d;
    f->st.reassembled++;
    out->data = d->buf;
    out->len = d->total;
    out->pieces = d->pieces;
    out->n_pieces = (uint32_t)d->n_pieces;
    out->refs = d->refs;
    out->n_refs = (uint32_t)d->n_refs;
}

int cs_ipfrag_add(cs_ipfrag *f, const cs_ipfrag_key *k, uint32_t off, const uint8_t *p, uint32_t n,
                  int more, int64_t ts_ns, cs_pktref ref, cs_ipfrag_out *out)
{
    dgram *d;

    f->st.frags++;
    dgram_free(f->done);
    f->done = NULL;
    if ((uint64_t)off + n > MAX_DGRAM) {
        f->st.dropped++;
        return 0;
    }
    d = find_or_add(f, k, ts_ns);
    if (d == NULL || ensure_buf(d, off + n) < 0 || add_bytes(d, off, p, n, ts_ns, ref) < 0 ||
        cs_grow((void **)&d->refs, &d->refs_cap, d->n_refs + 1, sizeof(*d->refs)) < 0) {
        f->st.dropped++;
        return 0;
    }
    d->nfrags++;
    if (ref != 0)
        d->refs[d->n_refs++] = ref;
    if (!more && d->total == 0)
        d->total = off + n;
    if (d->total != 0 && d->have >= d->total && covered(d) == d->total) {
        complete(f, d, out);
        return 1;
    }
    return 0;
}

void cs_ipfrag_stats_get(const cs_ipfrag *f, cs_ipfrag_stats *st)
{
    *st = f->st;
}

/*
 * itch_decode.c - micro-benchmark of MoldUDP64 + ITCH 5.0 decoding on one
 * core: builds an in-memory feed of MoldUDP64 packets (1..10 ITCH blocks
 * each: stock directory, add orders, executions, cancels, replaces,
 * deletes, in a realistic mix), one packet in 500 dropped so gap tracking
 * runs, then hands every packet to the registry's moldudp64 decoder
 * (parse(), the way the flow layer does) with a context whose emit
 * callback reads each message's fields, as a consumer must. Each round
 * is a new session on the same flow state (the ITCH maps reset, their
 * memory kept). Prints the ITCH messages decoded per second in the first
 * round (fresh memory: on this VM a page's first touch costs ~15 us) and
 * the best of ROUNDS, the packets, the gaps and the missing numbers.
 *
 *   itch_decode [MESSAGES [ROUNDS]]     (default 2,000,000 and 5)
 *
 * Build: bench/itch_bench.sh (links build/libcapstream.a).
 * Deterministic (a fixed xorshift seed); no allocation while timing.
 */
#include "core/alloc.h"
#include "decode/decoder.h"
#include "decode/itch/itch.h"
#include "decode/moldudp64/moldudp64.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REFS_MAX (1u << 20) /* live orders the generator tracks */

struct cs_decode_ctx {
    const cs_decode_ops *ops;
    uint64_t itch, packets, gaps, missing, sink;
};

static void on_emit(cs_decode_ctx *c, const cs_msg_out *m)
{
    if (m->proto != NULL)
        c->itch++;
    else
        c->packets++;
    for (size_t i = 0; i < m->n_fields; i++)
        c->sink += m->fields[i].val.len;
}

static void on_gap(cs_decode_ctx *c, const cs_seq_gap *g)
{
    c->gaps++;
    c->missing += g->count;
}

static const cs_decode_ops ops = {.emit = on_emit, .seq_gap = on_gap};

static uint64_t rng = 88172645463325252ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void put_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* One ITCH message at p; returns its length. Live orders in refs[]. */
static size_t make_msg(uint8_t *p, uint64_t *refs, size_t *n_refs, uint64_t *next_ref, uint64_t ts)
{
    uint64_t r = next_rand() % 100;
    uint16_t locate = (uint16_t)(1 + next_rand() % 500);
    char t = r < 2                      ? 'R'
             : (r < 45 || *n_refs < 10) ? 'A'
             : r < 60                   ? 'E'
             : r < 70                   ? 'X'
             : r < 80                   ? 'U'
                                        : 'D';
    size_t len = cs_itch_type_len((uint8_t)t);
    size_t k = *n_refs ? next_rand() % *n_refs : 0;

    memset(p, 0, len);
    p[0] = (uint8_t)t;
    put_be(p + 1, locate, 2);
    put_be(p + 5, ts, 6);
    switch (t) {
    case 'R':
        memcpy(p + 11, "SYM     ", 8);
        put_be(p + 11 + 3, locate, 2);
        break;
    case 'A':
        put_be(p + 11, *next_ref, 8);
        p[19] = 'B';
        put_be(p + 20, 100, 4);
        memcpy(p + 24, "SYMB    ", 8);
        put_be(p + 32, 1000000 + next_rand() % 10000, 4);
        if (*n_refs < REFS_MAX)
            refs[(*n_refs)++] = *next_ref;
        (*next_ref)++;
        break;
    case 'U':
        put_be(p + 11, refs[k], 8);
        put_be(p + 19, *next_ref, 8);
        refs[k] = (*next_ref)++;
        put_be(p + 27, 100, 4);
        put_be(p + 31, 1000100, 4);
        break;
    case 'D':
        put_be(p + 11, refs[k], 8);
        refs[k] = refs[--*n_refs];
        break;
    default: /* E, X */
        put_be(p + 11, refs[k], 8);
        put_be(p + 19, 10, 4);
        break;
    }
    return len;
}

typedef struct pkt {
    uint32_t off, len;
} pkt;

int main(int argc, char **argv)
{
    size_t want = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    size_t cap = want * 60 + 4096, used = 0, n_pkts = 0, made = 0, n_refs = 0;
    uint8_t *buf;
    pkt *pkts;
    uint64_t *refs;
    uint64_t seq = 1, next_ref = 1, ts = 34200000000000ULL;
    static const cs_endpoints flow;
    static const cs_decoder_opts opts;
    double best = 0, first = 0;
    cs_decode_ctx c;
    void *st;

    cs_alloc_init(); /* capstream's allocation policy, as main() sets it */
    buf = malloc(cap);
    pkts = malloc((want + 1) * sizeof(pkt));
    refs = malloc(REFS_MAX * sizeof(uint64_t));
    if (buf == NULL || pkts == NULL || refs == NULL || want == 0 || rounds < 1)
        return 2;
    while (made < want) {
        size_t count = 1 + next_rand() % 10, start = used;

        if (count > want - made)
            count = want - made;
        memcpy(buf + used, "BENCH00001", 10);
        put_be(buf + used + 10, seq, 8);
        put_be(buf + used + 18, count, 2);
        used += 20;
        for (size_t i = 0; i < count; i++) {
            size_t len = make_msg(buf + used + 2, refs, &n_refs, &next_ref, ts += 500);

            put_be(buf + used, len, 2);
            used += 2 + len;
        }
        seq += count;
        made += count;
        if (next_rand() % 500 == 0) { /* dropped: a gap */
            used = start;
            continue;
        }
        pkts[n_pkts++] = (pkt){(uint32_t)start, (uint32_t)(used - start)};
    }
    st = cs_decoder_moldudp64.state_new(&flow, &opts);
    if (st == NULL)
        return 2;
    for (int r = 0; r < rounds; r++) {
        struct timespec a, b;
        double s;

        /* each round a new session (a new trading day on the same flow):
         * the ITCH state is reset, its memory kept, as a live flow's is */
        for (size_t i = 0; i < n_pkts; i++)
            buf[pkts[i].off + 9] = (uint8_t)('0' + r % 10);
        memset(&c, 0, sizeof(c));
        c.ops = &ops;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (size_t i = 0; i < n_pkts; i++) {
            cs_decode_input in = {
                .dir = 0, .flags = CS_IN_DATAGRAM, .data = buf + pkts[i].off, .len = pkts[i].len};

            cs_decoder_moldudp64.parse(st, &c, &in);
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
        if (r == 0)
            first = (double)c.itch / s;
        if (c.itch / s > best)
            best = (double)c.itch / s;
    }
    cs_decoder_moldudp64.state_free(st);
    printf("itch_decode: %llu ITCH messages in %llu packets, %llu gaps (%llu missing); "
           "first round (fresh state: its memory first touched) %.2f M messages/s, "
           "best of %d: %.2f M messages/s (sink %llu)\n",
           (unsigned long long)c.itch, (unsigned long long)c.packets, (unsigned long long)c.gaps,
           (unsigned long long)c.missing, first / 1e6, rounds, best / 1e6,
           (unsigned long long)(c.sink & 1));
    free(buf);
    free(pkts);
    free(refs);
    return 0;
}

/*
 * decoder_harness.h - drives one application decoder (src/decode/decoder.h)
 * the way the flow layer does, from a fuzzer's input, for libFuzzer harnesses.
 *
 * Include it once per fuzz binary (tests/fuzz/fuzz_<name>.c): it defines a
 * private struct cs_decode_ctx whose emit callback (decoder.h) checks every
 * message, so the decoder is tested alone, without the flow layer.
 *
 * Input layout (every byte string is a valid input):
 *
 *   +------+-------------------+--------------------------------------+
 *   | mode | ctl[0 .. n_ctl)   | payload: the bytes handed to parse() |
 *   +------+-------------------+--------------------------------------+
 *   mode bits 0-3: n_ctl - 1 (1..16 control bytes)
 *   mode bit  4  : first chunk of each direction carries CS_IN_MIDSTREAM
 *   mode bit  5  : datagram mode, when "transport_flags" has both TCP and UDP
 *                  (UDP alone: always datagram mode; TCP alone: never)
 *   mode bit  6  : skip the final CS_IN_EOF parse
 *   ctl byte c   : bit 7 = direction, bit 6 = call gap() on that direction
 *                  first (stream mode), bits 0-5 = chunk length: 0 -> 256,
 *                  63 -> all that is left, else that many bytes.
 *   The control bytes are used round-robin until the payload is exhausted.
 *
 * Stream mode emulates the flow layer's re-offer of unconsumed bytes: each
 * direction keeps the bytes parse() did not consume; the next call sees them
 * followed by the new chunk, copied into a fresh malloc'd buffer of exactly
 * that size so AddressSanitizer catches any read past in.len. A gap() drops
 * the pending bytes of that direction, as the flow layer does. At the end
 * each direction gets one parse() with CS_IN_EOF.
 *
 * Invariants checked (abort() on breach, so the fuzzer reports it):
 *   - parse() never reports more consumed than in.len;
 *   - every emitted message lies inside in.data (start + len <= in.len);
 *   - role != NONE comes with a pair name;
 *   - every byte of type, match, key and every field name/value is readable
 *     (they are summed, so ASan sees any dangling or overlong pointer).
 *
 * Ownership: the harness owns every buffer it passes; nothing outlives one
 * cs_fuzz_decoder() call.
 */
#ifndef CS_TESTS_FUZZ_DECODER_HARNESS_H
#define CS_TESTS_FUZZ_DECODER_HARNESS_H

#include "decode/decoder.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct cs_decode_ctx {
    const cs_decode_ops *ops;  /* first (decoder.h): &cs__fuzz_ops */
    const cs_decode_input *in; /* the parse() call in progress */
    size_t n_msgs;             /* messages emitted so far */
    uint64_t sum;              /* sum of every byte of every emitted string */
};

static uint64_t cs__fuzz_sum(cs_str s)
{
    uint64_t sum = 0;
    size_t i;

    if (s.len != 0 && s.p == NULL)
        abort();
    for (i = 0; i < s.len; i++)
        sum += (uint8_t)s.p[i];
    return sum;
}

static void cs__fuzz_emit(cs_decode_ctx *ctx, const cs_msg_out *m)
{
    size_t i;

    if (ctx == NULL || ctx->in == NULL || m == NULL)
        abort();
    if (m->start > ctx->in->len || m->len > ctx->in->len - m->start)
        abort();
    if (m->role != CS_ROLE_NONE && m->pair == NULL)
        abort();
    if (m->n_fields != 0 && m->fields == NULL)
        abort();
    ctx->sum += cs__fuzz_sum(m->type) + cs__fuzz_sum(m->match) + cs__fuzz_sum(m->key);
    if (m->pair != NULL)
        ctx->sum += strlen(m->pair);
    for (i = 0; i < m->n_fields; i++)
        ctx->sum += cs__fuzz_sum(m->fields[i].name) + cs__fuzz_sum(m->fields[i].val);
    ctx->n_msgs++;
}

static const cs_decode_ops cs__fuzz_ops = {.emit = cs__fuzz_emit};

/* What the decoder's state is born with: no flow, no options. */
static const cs_endpoints no_flow;
static const cs_decoder_opts no_opts;

typedef struct cs__fuzz_dir {
    uint8_t *pending; /* unconsumed bytes, owned */
    size_t n_pending;
    int started; /* a chunk was already delivered */
} cs__fuzz_dir;

/* One parse() call on pending bytes + "chunk"; keeps what is not consumed.
 * Returns 0, or -1 if the harness itself ran out of memory. */
static int cs__fuzz_feed(const cs_decoder *d, void *state, cs_decode_ctx *ctx, cs__fuzz_dir *fd,
                         uint8_t dir, uint32_t flags, const uint8_t *chunk, size_t n)
{
    size_t total = fd->n_pending + n;
    uint8_t *buf = malloc(total); /* exact size, even 0: reads past it trap */
    cs_decode_input in;
    size_t consumed;

    if (buf == NULL)
        return -1;
    if (fd->n_pending)
        memcpy(buf, fd->pending, fd->n_pending);
    if (n)
        memcpy(buf + fd->n_pending, chunk, n);
    free(fd->pending);
    fd->pending = NULL;
    fd->n_pending = 0;

    memset(&in, 0, sizeof(in));
    in.dir = dir;
    in.flags = flags;
    in.data = buf;
    in.len = total;
    ctx->in = &in;
    consumed = d->parse(state, ctx, &in);
    ctx->in = NULL;
    if (consumed > total)
        abort();
    if (consumed < total) {
        fd->pending = malloc(total - consumed);
        if (fd->pending == NULL) {
            free(buf);
            return -1;
        }
        memcpy(fd->pending, buf + consumed, total - consumed);
        fd->n_pending = total - consumed;
    }
    free(buf);
    return 0;
}

/* One datagram: exactly sized copy, CS_IN_DATAGRAM. */
static void cs__fuzz_datagram(const cs_decoder *d, void *state, cs_decode_ctx *ctx, uint8_t dir,
                              uint32_t flags, const uint8_t *chunk, size_t n)
{
    uint8_t *buf = malloc(n);
    cs_decode_input in;
    size_t consumed;

    if (buf == NULL)
        return;
    if (n)
        memcpy(buf, chunk, n);
    memset(&in, 0, sizeof(in));
    in.dir = dir;
    in.flags = flags | CS_IN_DATAGRAM;
    in.data = buf;
    in.len = n;
    ctx->in = &in;
    consumed = d->parse(state, ctx, &in);
    ctx->in = NULL;
    if (consumed > n)
        abort();
    free(buf);
}

static size_t cs__fuzz_chunk_len(uint8_t ctl, size_t left)
{
    size_t n = ctl & 0x3f;

    if (n == 0)
        n = 256;
    else if (n == 0x3f)
        n = left;
    return n < left ? n : left;
}

/*
 * Feeds "data" (see the layout above) to decoder "d" as a flow layer would,
 * over the transports in "transport_flags" (CS_TRANSPORT_*). Always returns
 * 0 (libFuzzer's convention); breaches of the interface's invariants abort().
 */
static int cs_fuzz_decoder(const cs_decoder *d, uint32_t transport_flags, const uint8_t *data,
                           size_t size)
{
    cs_decode_ctx ctx;
    cs__fuzz_dir dirs[2];
    const uint8_t *ctl, *p;
    size_t n_ctl, left, i = 0;
    uint8_t mode;
    int datagram, midstream, skip_eof;
    void *state;

    if (size < 2)
        return 0;
    mode = data[0];
    n_ctl = (size_t)(mode & 0x0f) + 1;
    if (size < 1 + n_ctl)
        return 0;
    ctl = data + 1;
    p = data + 1 + n_ctl;
    left = size - 1 - n_ctl;
    midstream = (mode >> 4) & 1;
    skip_eof = (mode >> 6) & 1;
    if ((transport_flags & CS_TRANSPORT_TCP) && (transport_flags & CS_TRANSPORT_UDP))
        datagram = (mode >> 5) & 1;
    else
        datagram = (transport_flags & CS_TRANSPORT_UDP) != 0;

    state = d->state_new(&no_flow, &no_opts);
    if (state == NULL)
        return 0;
    memset(&ctx, 0, sizeof(ctx));
    ctx.ops = &cs__fuzz_ops;
    memset(dirs, 0, sizeof(dirs));

    while (left > 0) {
        uint8_t c = ctl[i++ % n_ctl];
        uint8_t dir = (uint8_t)(c >> 7);
        size_t n = cs__fuzz_chunk_len(c, left);
        uint32_t flags = 0;

        if (midstream && !dirs[dir].started)
            flags |= CS_IN_MIDSTREAM;
        dirs[dir].started = 1;
        if (datagram) {
            cs__fuzz_datagram(d, state, &ctx, dir, flags, p, n);
        } else {
            if ((c >> 6) & 1) {
                d->gap(state, dir);
                free(dirs[dir].pending);
                dirs[dir].pending = NULL;
                dirs[dir].n_pending = 0;
            }
            if (cs__fuzz_feed(d, state, &ctx, &dirs[dir], dir, flags, p, n) != 0)
                break;
        }
        p += n;
        left -= n;
    }
    if (!datagram && !skip_eof) {
        cs__fuzz_feed(d, state, &ctx, &dirs[0], 0, CS_IN_EOF, NULL, 0);
        cs__fuzz_feed(d, state, &ctx, &dirs[1], 1, CS_IN_EOF, NULL, 0);
    }
    free(dirs[0].pending);
    free(dirs[1].pending);
    d->state_free(state);
    return 0;
}

#endif

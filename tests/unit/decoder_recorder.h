/*
 * decoder_recorder.h - a recording decode context for decoder unit tests.
 *
 * A decoder calls cs_decode_emit(ctx), which calls the emit callback the
 * context starts with (decoder.h); a test that drives a decoder alone
 * includes this header once, starts each context as CTX_INIT, and every
 * emitted message is copied into ctx->msgs (type, match, key, pair, role,
 * flags, byte range and the fields as "name=val|..."), checked against the
 * input slice's bounds.
 */
#ifndef CS_TESTS_DECODER_RECORDER_H
#define CS_TESTS_DECODER_RECORDER_H

#include "decode/decoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rec_msg {
    char type[16];
    char match[300];
    char key[300];
    char pair[8];
    char where[64];    /* direction label in capture tests */
    char fields[4096]; /* "name=val|name=val|..." rebuilt from the kv list */
    char error[32];    /* the error reason, "" if none */
    char closes[64];   /* the match whose lifecycle it ends, "" if none */
    cs_role role;
    uint32_t flags;
    size_t start, len, n_fields;
} rec_msg;

struct cs_decode_ctx {
    const cs_decode_ops *ops; /* first (decoder.h): &rec_ops */
    rec_msg *msgs;
    size_t n, cap;
    const cs_decode_input *in;
    const char *where;
};

static void copy_str(char *dst, size_t size, cs_str s)
{
    size_t n = s.len < size - 1 ? s.len : size - 1;

    if (n)
        memcpy(dst, s.p, n);
    dst[n] = '\0';
}

static void rec_emit(cs_decode_ctx *ctx, const cs_msg_out *m)
{
    rec_msg *r;
    size_t i, off = 0;

    assert_non_null(ctx->in);
    assert_true(m->start + m->len <= ctx->in->len);
    if (ctx->n == ctx->cap) {
        ctx->cap = ctx->cap ? ctx->cap * 2 : 16;
        ctx->msgs = realloc(ctx->msgs, ctx->cap * sizeof(rec_msg));
        assert_non_null(ctx->msgs);
    }
    r = &ctx->msgs[ctx->n++];
    memset(r, 0, sizeof(*r));
    copy_str(r->type, sizeof(r->type), m->type);
    copy_str(r->match, sizeof(r->match), m->match);
    copy_str(r->key, sizeof(r->key), m->key);
    copy_str(r->error, sizeof(r->error), m->error);
    copy_str(r->closes, sizeof(r->closes), m->closes);
    if (m->pair)
        snprintf(r->pair, sizeof(r->pair), "%s", m->pair);
    if (ctx->where)
        snprintf(r->where, sizeof(r->where), "%s", ctx->where);
    r->role = m->role;
    r->flags = m->flags;
    r->start = m->start;
    r->len = m->len;
    r->n_fields = m->n_fields;
    for (i = 0; i < m->n_fields && off + 4 < sizeof(r->fields); i++) {
        int w = snprintf(r->fields + off, sizeof(r->fields) - off, "%.*s=%.*s|",
                         (int)m->fields[i].name.len, m->fields[i].name.p, (int)m->fields[i].val.len,
                         m->fields[i].val.p);
        off += (size_t)w < sizeof(r->fields) - off ? (size_t)w : sizeof(r->fields) - off - 1;
    }
}

static const cs_decode_ops rec_ops = {.emit = rec_emit};

/* What a decoder's state is born with when a test drives it alone. */
static const cs_endpoints no_flow;
static const cs_decoder_opts no_opts;

/* A context that records into itself, empty. */
#define CTX_INIT                                                                                   \
    {                                                                                              \
        .ops = &rec_ops                                                                            \
    }

static void ctx_reset(cs_decode_ctx *ctx)
{
    free(ctx->msgs);
    memset(ctx, 0, sizeof(*ctx));
    ctx->ops = &rec_ops;
}

#endif

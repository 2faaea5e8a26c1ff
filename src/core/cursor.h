/*
 * cursor.h - bounds-checked reading of packet and file bytes.
 *
 * Packet bytes are never read by casting a struct over the buffer: a decoder
 * may be handed a packet cut off at any byte. A cs_cursor walks a borrowed
 * byte range; every read checks the bounds, and the first read past the end
 * latches "err" and returns zero from then on, so a parser can read a whole
 * header and check cs_cursor_ok() once (tcpdump's GET_BE_U_2 does the same
 * job with longjmp).
 *
 * The cs_rd_* helpers read at a pointer the caller has already bounds-checked
 * (for example after cs_cursor_need()); they are alignment-safe.
 */
#ifndef CS_CORE_CURSOR_H
#define CS_CORE_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct cs_cursor {
    const uint8_t *base; /* borrowed: the caller keeps it alive */
    size_t len;          /* bytes in base */
    size_t off;          /* next byte to read */
    bool err;            /* a read went past the end */
} cs_cursor;

static inline void cs_cursor_init(cs_cursor *c, const void *base, size_t len)
{
    c->base = (const uint8_t *)base;
    c->len = len;
    c->off = 0;
    c->err = false;
}

static inline size_t cs_cursor_left(const cs_cursor *c)
{
    return c->err ? 0 : c->len - c->off;
}

static inline bool cs_cursor_ok(const cs_cursor *c)
{
    return !c->err;
}

static inline const uint8_t *cs_cursor_ptr(const cs_cursor *c)
{
    return c->base + c->off;
}

/* Returns a pointer to the next "n" bytes and advances, or NULL (latching err). */
static inline const uint8_t *cs_cursor_need(cs_cursor *c, size_t n)
{
    const uint8_t *p;

    if (c->err || c->len - c->off < n) {
        c->err = true;
        return NULL;
    }
    p = c->base + c->off;
    c->off += n;
    return p;
}

static inline bool cs_cursor_skip(cs_cursor *c, size_t n)
{
    return cs_cursor_need(c, n) != NULL;
}

static inline uint16_t cs_rd_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t cs_rd_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t cs_rd_be64(const uint8_t *p)
{
    return ((uint64_t)cs_rd_be32(p) << 32) | cs_rd_be32(p + 4);
}

static inline uint16_t cs_rd_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t cs_rd_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline uint64_t cs_rd_le64(const uint8_t *p)
{
    return (uint64_t)cs_rd_le32(p) | ((uint64_t)cs_rd_le32(p + 4) << 32);
}

static inline void cs_wr_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void cs_wr_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void cs_wr_le64(uint8_t *p, uint64_t v)
{
    cs_wr_le32(p, (uint32_t)v);
    cs_wr_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint8_t cs_get_u8(cs_cursor *c)
{
    const uint8_t *p = cs_cursor_need(c, 1);
    return p ? p[0] : 0;
}

static inline uint16_t cs_get_be16(cs_cursor *c)
{
    const uint8_t *p = cs_cursor_need(c, 2);
    return p ? cs_rd_be16(p) : 0;
}

static inline uint32_t cs_get_be32(cs_cursor *c)
{
    const uint8_t *p = cs_cursor_need(c, 4);
    return p ? cs_rd_be32(p) : 0;
}

static inline uint64_t cs_get_be64(cs_cursor *c)
{
    const uint8_t *p = cs_cursor_need(c, 8);
    return p ? cs_rd_be64(p) : 0;
}

static inline uint16_t cs_get_le16(cs_cursor *c)
{
    const uint8_t *p = cs_cursor_need(c, 2);
    return p ? cs_rd_le16(p) : 0;
}

static inline uint32_t cs_get_le32(cs_cursor *c)
{
    const uint8_t *p = cs_cursor_need(c, 4);
    return p ? cs_rd_le32(p) : 0;
}

static inline uint64_t cs_get_le64(cs_cursor *c)
{
    const uint8_t *p = cs_cursor_need(c, 8);
    return p ? cs_rd_le64(p) : 0;
}

#endif

/*
 * msgstore_format.c - the message store's record layout: the one place
 * that turns a cs_message / cs_measurement into record bytes and back.
 * The store's writer (msgstore_write.c) and the pipeline's writer thread
 * (engine/recwriter.c) encode with cs_msgstore_encode_message() and
 * cs_msgstore_encode_measurement(); every reader decodes with
 * cs__decode_msg_head/body() and cs__decode_measurement().
 *
 * Integers are little-endian; nothing is aligned (decoding reads through
 * core/cursor.h helpers). Each offset below is a named constant of
 * msgstore_int.h (name in brackets); code uses the names, never numbers.
 *
 *   file:    +0  8  magic "csmsg01\n", "cslat01\n" or "csunm01\n"  [CS__MSG_MAGIC_LEN]
 *            +8     record, record, ...
 *
 *   record:  +0  u32 n        payload bytes, MIN_PAYLOAD..REC_MAX  [CS__FRAME_LEN]
 *            +4  u64 check    cs__msgstore_frame_check(payload, n) [CS__FRAME_CHECK]
 *            +12 n bytes      payload                              [CS__FRAME_PAYLOAD]
 *
 *   message payload (msg- and unm- files), [CS__MSG_*]:
 *            +0   u64 id         [ID]          +40  u8  dir          [DIR]
 *            +8   i64 ts_ns      [TS]          +41  u8  role         [ROLE]
 *            +16  i64 last_ts_ns [LAST_TS]     +42  u8  unmatched kind, 0 in msg- [UNM_KIND]
 *            +24  u64 flow_id    [FLOW]        +43  u8  proto_len    [PROTO_LEN]
 *            +32  u32 flags      [FLAGS]       +44  u32 n_refs       [N_REFS]
 *            +36  u32 len        [LEN]         +48  u32 n_fields     [N_FIELDS]
 *            +52  u32 key_len    [KEY_LEN]     +56  u16 type_len     [TYPE_LEN]
 *            +58  u16 parts      [PARTS]       +60  48  endpoints    [EP]
 *            +108 proto, type, key bytes (lengths above)             [FIXED]
 *            then, if parts & CS__MSG_PART_ERROR, the error reason:
 *                 u16 error_len, error_len bytes                     [CS__MSG_ERROR_LEN_SIZE]
 *            then n_refs x u64 packet ref                            [CS__MSG_REF_SIZE]
 *            then n_fields x (varint name_len, varint val_len, name, val)
 *                 (varint: LEB128, 7 bits a byte, at most 5 bytes)   [CS__MSG_VARINT_MAX]
 *
 *   measurement payload (lat- files), [CS__LAT_*]:
 *            +0   u64 id         [ID]          +48  u64 flow_id      [FLOW]
 *            +8   u64 req_id     [REQ_ID]      +56  u8  pair_len     [PAIR_LEN]
 *            +16  u64 resp_id    [RESP_ID]     +57  u8  parts        [PARTS]
 *            +24  i64 req_ts_ns  [REQ_TS]      +58  u16 0            [PAD]
 *            +32  i64 resp_ts_ns [RESP_TS]     +60  u32 key_len      [KEY_LEN]
 *            +40  i64 latency_ns [LATENCY]     +64  48  endpoints    [EP]
 *            +112 pair, key bytes                                    [FIXED]
 *            then, if parts & CS__LAT_PART_TAIL, the tail
 *            then, if parts & CS__LAT_PART_RESP_TYPE, u8 n + n bytes: the
 *                 answer's message type (resp_type), written when known
 *            then, if parts & CS__LAT_PART_RESP_TAP, u16 resp_tap: the
 *                 response's tap, written when it is not the request's
 *                 (ep.tap; a hop between two capture points)
 *
 *   measurement tail (28 bytes), [CS__LAT_TAIL_*]:
 *            +0  i64 resp_last_ts_ns [RESP_LAST]    +12 u64 attached_last_id    [ATTACHED_ID]
 *            +8  u32 attached        [ATTACHED]     +20 i64 attached_last_ts_ns [ATTACHED_TS]
 *
 *   gap payload (gap- files), [CS__GAP_*]:
 *            +0   u64 at (CS_MSGID(ref, 0), or the top bit set if ref 0) [AT]
 *            +8   i64 ts_ns       [TS]        +48  u8  dir          [DIR]
 *            +16  u64 flow_id     [FLOW]      +49  u8  flags        [RECOVERED]
 *            +24  u64 ref         [REF]       +50  u8  proto_len    [PROTO_LEN]
 *            +32  u64 first_seq   [FIRST]     +51  u8  0            [PAD]
 *            +40  u64 count       [COUNT]     +52  u16 session_len  [SESSION_LEN]
 *            +54  u16 0           [PAD2]      +56  48  endpoints    [EP]
 *            +104 proto, session bytes                              [FIXED]
 *            flags: bit 0 recovered, bit 1 arbitrated (an abgap); records
 *            written before abgaps existed have bit 1 clear
 *
 *   endpoints (48 bytes), [CS__EP_*]:
 *            +0 u8 ip_version [IP_VERSION]  +1 u8 ip_proto [IP_PROTO]  +2 u16 tap [TAP]
 *            +4 u16 vlan[0] [VLAN0]  +6 u16 vlan[1] [VLAN1]  +8 u8 n_vlan [N_VLAN]  +9 u8 0
 *            +10 u16 port_a [PORT_A]  +12 u16 port_b [PORT_B]  +14 u16 0
 *            +16 16 addr_a [ADDR_A]   +32 16 addr_b [ADDR_B]
 *
 * Invariants:
 *   - A message's optional parts are flagged in its "parts" (0 in records
 *     written before messages had any): the writer sets CS__MSG_PART_ERROR
 *     only for a message with an error reason, so a message without one is
 *     written byte for byte as before, and a record with parts 0 reads as
 *     a message without an error. Unknown part bits make a record
 *     malformed (a newer writer's record is not misread).
 *   - The writer always writes the measurement tail. A record without it
 *     (parts 0: written before measurements had it) reads as
 *     resp_last_ts_ns = resp_ts_ns (the response taken as one packet) and
 *     nothing attached.
 *   - A measurement whose response was seen at the request's tap (all but
 *     hops) is written without CS__LAT_PART_RESP_TAP, byte for byte as
 *     before the part existed; a record without it reads as resp_tap =
 *     ep.tap.
 *   - Encoding writes into a buffer the caller sized with
 *     cs_msgstore_message_bound() / cs_msgstore_measurement_size(); it
 *     never allocates (the hot path encodes in place).
 *   - Decoding accepts any bytes: a payload whose lengths do not add up to
 *     exactly its size is malformed (-1), never read past.
 *   - Decoded records point into the payload and into the cs__recdec's
 *     scratch (refs, fields, the NUL-terminated proto or pair).
 *
 * A gap's "at" is the id a message starting in its revealing packet would
 * have, so a gap is filed in that packet's group (msgstore.h) by the same
 * code that files messages.
 *
 * Threading: no state; a cs__recdec belongs to one reader at a time.
 */
#include "store/msgstore.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/hash.h"
#include "store/msgstore_int.h"

#include <string.h>

#define CHECK_SEED 0x63736d7367737472ull

/*
 * The record checksum: cs_checksum64 (core/hash.c), which folds the payload
 * into four independent lanes (xor, odd multiply, rotate) and hashes the
 * lanes and the length with cs_hash64, seeded with CHECK_SEED
 * (test_msgstore pins values, so stores stay readable). Detects torn,
 * zero-filled and corrupted records; it is not an authenticity check.
 */
uint64_t cs__msgstore_frame_check(const uint8_t *p, size_t n)
{
    return cs_checksum64(p, n, CHECK_SEED);
}

/* ---- encoding ------------------------------------------------------------ */

static uint8_t *put_varint(uint8_t *p, uint32_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Copies "n" bytes: short strings (field names and values) with a few
 * fixed-size moves that read exactly [s, s + n), longer ones with memcpy. */
static uint8_t *put_bytes(uint8_t *p, const void *s, size_t n)
{
    const uint8_t *q = s;

    if (n >= 8 && n <= 16) {
        memcpy(p, q, 8);
        memcpy(p + n - 8, q + n - 8, 8);
    } else if (n >= 4 && n < 8) {
        memcpy(p, q, 4);
        memcpy(p + n - 4, q + n - 4, 4);
    } else if (n > 0 && n < 4) {
        p[0] = q[0];
        p[n / 2] = q[n / 2];
        p[n - 1] = q[n - 1];
    } else if (n > 16)
        memcpy(p, q, n);
    return p + n;
}

static void put_endpoints(uint8_t *p, const cs_endpoints *ep)
{
    memset(p, 0, CS__EP_SIZE);
    p[CS__EP_IP_VERSION] = ep->ip_version;
    p[CS__EP_IP_PROTO] = ep->ip_proto;
    cs_wr_le16(p + CS__EP_TAP, ep->tap);
    cs_wr_le16(p + CS__EP_VLAN0, ep->vlan[0]);
    cs_wr_le16(p + CS__EP_VLAN1, ep->vlan[1]);
    p[CS__EP_N_VLAN] = ep->n_vlan;
    cs_wr_le16(p + CS__EP_PORT_A, ep->port_a);
    cs_wr_le16(p + CS__EP_PORT_B, ep->port_b);
    memcpy(p + CS__EP_ADDR_A, ep->addr_a, CS__EP_ADDR_SIZE);
    memcpy(p + CS__EP_ADDR_B, ep->addr_b, CS__EP_ADDR_SIZE);
}

int cs_msgstore_message_bound(const cs_message *m, size_t *out)
{
    size_t proto_len = m->proto ? strlen(m->proto) : 0;
    size_t n = CS__MSG_FIXED + proto_len + m->type.len + m->key.len + CS__MSG_REF_SIZE * m->n_refs;

    if (m->error.len > 0)
        n += CS__MSG_ERROR_LEN_SIZE + m->error.len;
    for (size_t i = 0; i < m->n_fields; i++)
        n += 2 * CS__MSG_VARINT_MAX + m->fields[i].name.len + m->fields[i].val.len;
    if (proto_len > UINT8_MAX || m->type.len > UINT16_MAX || m->error.len > UINT16_MAX ||
        n > CS__MSG_REC_MAX)
        return cs_error_set(CS_ERANGE, "message too large to store (%zu bytes)", n);
    *out = n;
    return 0;
}

/* The fixed part of message "m" at "p". */
static void put_msg_fixed(uint8_t *p, const cs_message *m, int kind, size_t proto_len)
{
    cs_wr_le64(p + CS__MSG_ID, m->id);
    cs_wr_le64(p + CS__MSG_TS, (uint64_t)m->ts_ns);
    cs_wr_le64(p + CS__MSG_LAST_TS, (uint64_t)m->last_ts_ns);
    cs_wr_le64(p + CS__MSG_FLOW, m->flow_id);
    cs_wr_le32(p + CS__MSG_FLAGS, m->flags);
    cs_wr_le32(p + CS__MSG_LEN, m->len);
    p[CS__MSG_DIR] = m->dir;
    p[CS__MSG_ROLE] = (uint8_t)m->role;
    p[CS__MSG_UNM_KIND] = (uint8_t)kind;
    p[CS__MSG_PROTO_LEN] = (uint8_t)proto_len;
    cs_wr_le32(p + CS__MSG_N_REFS, (uint32_t)m->n_refs);
    cs_wr_le32(p + CS__MSG_N_FIELDS, (uint32_t)m->n_fields);
    cs_wr_le32(p + CS__MSG_KEY_LEN, (uint32_t)m->key.len);
    cs_wr_le16(p + CS__MSG_TYPE_LEN, (uint16_t)m->type.len);
    cs_wr_le16(p + CS__MSG_PARTS, m->error.len > 0 ? CS__MSG_PART_ERROR : 0);
    put_endpoints(p + CS__MSG_EP, &m->ep);
}

size_t cs_msgstore_encode_message(uint8_t *p, const cs_message *m, int kind)
{
    size_t proto_len = m->proto ? strlen(m->proto) : 0;
    uint8_t *q = p + CS__MSG_FIXED;

    put_msg_fixed(p, m, kind, proto_len);
    q = put_bytes(q, m->proto, proto_len);
    q = put_bytes(q, m->type.p, m->type.len);
    q = put_bytes(q, m->key.p, m->key.len);
    if (m->error.len > 0) {
        cs_wr_le16(q, (uint16_t)m->error.len);
        q = put_bytes(q + CS__MSG_ERROR_LEN_SIZE, m->error.p, m->error.len);
    }
    for (size_t i = 0; i < m->n_refs; i++, q += CS__MSG_REF_SIZE)
        cs_wr_le64(q, m->refs[i]);
    for (size_t i = 0; i < m->n_fields; i++) {
        const cs_kv *kv = &m->fields[i];

        q = put_varint(q, (uint32_t)kv->name.len);
        q = put_varint(q, (uint32_t)kv->val.len);
        q = put_bytes(q, kv->name.p, kv->name.len);
        q = put_bytes(q, kv->val.p, kv->val.len);
    }
    return (size_t)(q - p);
}

int cs_msgstore_measurement_size(const cs_measurement *ms, size_t *out)
{
    size_t pair_len = ms->pair ? strlen(ms->pair) : 0;
    size_t n = CS__LAT_FIXED + pair_len + ms->key.len + CS__LAT_TAIL_SIZE;

    if (ms->resp_type.len > 0)
        n += 1 + (ms->resp_type.len > UINT8_MAX ? UINT8_MAX : ms->resp_type.len);
    if (ms->resp_tap != ms->ep.tap)
        n += CS__LAT_RESP_TAP_SIZE;
    if (pair_len > UINT8_MAX || n > CS__MSG_REC_MAX)
        return cs_error_set(CS_ERANGE, "measurement too large to store");
    *out = n;
    return 0;
}

size_t cs_msgstore_encode_measurement(uint8_t *p, const cs_measurement *ms)
{
    size_t pair_len = ms->pair ? strlen(ms->pair) : 0;
    uint8_t *q = p + CS__LAT_FIXED;

    cs_wr_le64(p + CS__LAT_ID, ms->id);
    cs_wr_le64(p + CS__LAT_REQ_ID, ms->req_id);
    cs_wr_le64(p + CS__LAT_RESP_ID, ms->resp_id);
    cs_wr_le64(p + CS__LAT_REQ_TS, (uint64_t)ms->req_ts_ns);
    cs_wr_le64(p + CS__LAT_RESP_TS, (uint64_t)ms->resp_ts_ns);
    cs_wr_le64(p + CS__LAT_LATENCY, (uint64_t)ms->latency_ns);
    cs_wr_le64(p + CS__LAT_FLOW, ms->flow_id);
    p[CS__LAT_PAIR_LEN] = (uint8_t)pair_len;
    p[CS__LAT_PARTS] = CS__LAT_PART_TAIL | (ms->resp_type.len > 0 ? CS__LAT_PART_RESP_TYPE : 0) |
                       (ms->resp_tap != ms->ep.tap ? CS__LAT_PART_RESP_TAP : 0);
    cs_wr_le16(p + CS__LAT_PAD, 0);
    cs_wr_le32(p + CS__LAT_KEY_LEN, (uint32_t)ms->key.len);
    put_endpoints(p + CS__LAT_EP, &ms->ep);
    q = put_bytes(q, ms->pair, pair_len);
    q = put_bytes(q, ms->key.p, ms->key.len);
    cs_wr_le64(q + CS__LAT_TAIL_RESP_LAST, (uint64_t)ms->resp_last_ts_ns);
    cs_wr_le32(q + CS__LAT_TAIL_ATTACHED, ms->attached);
    cs_wr_le64(q + CS__LAT_TAIL_ATTACHED_ID, ms->attached_last_id);
    cs_wr_le64(q + CS__LAT_TAIL_ATTACHED_TS, (uint64_t)ms->attached_last_ts_ns);
    q += CS__LAT_TAIL_SIZE;
    if (ms->resp_type.len > 0) {
        size_t n = ms->resp_type.len > UINT8_MAX ? UINT8_MAX : ms->resp_type.len;

        *q++ = (uint8_t)n;
        q = put_bytes(q, ms->resp_type.p, n);
    }
    if (ms->resp_tap != ms->ep.tap) {
        cs_wr_le16(q, ms->resp_tap);
        q += CS__LAT_RESP_TAP_SIZE;
    }
    return (size_t)(q - p);
}

#define GAP_AT_NOT_STORED (1ull << 63) /* file 0, like ids of packets not stored */

int cs_msgstore_gap_size(const cs_gap *g, size_t *out)
{
    size_t proto_len = g->proto ? strlen(g->proto) : 0;

    if (proto_len > UINT8_MAX || g->session.len > UINT16_MAX)
        return cs_error_set(CS_ERANGE, "gap too large to store");
    *out = CS__GAP_FIXED + proto_len + g->session.len;
    return 0;
}

size_t cs_msgstore_encode_gap(uint8_t *p, const cs_gap *g)
{
    size_t proto_len = g->proto ? strlen(g->proto) : 0;
    uint8_t *q = p + CS__GAP_FIXED;

    cs_wr_le64(p + CS__GAP_AT, g->ref != 0 ? CS_MSGID(g->ref, 0) : GAP_AT_NOT_STORED);
    cs_wr_le64(p + CS__GAP_TS, (uint64_t)g->ts_ns);
    cs_wr_le64(p + CS__GAP_FLOW, g->flow_id);
    cs_wr_le64(p + CS__GAP_REF, g->ref);
    cs_wr_le64(p + CS__GAP_FIRST, g->first);
    cs_wr_le64(p + CS__GAP_COUNT, g->count);
    p[CS__GAP_DIR] = g->dir;
    p[CS__GAP_RECOVERED] = (uint8_t)((g->recovered ? 1 : 0) | (g->arbitrated ? 2 : 0));
    p[CS__GAP_PROTO_LEN] = (uint8_t)proto_len;
    p[CS__GAP_PAD] = 0;
    cs_wr_le16(p + CS__GAP_SESSION_LEN, (uint16_t)g->session.len);
    cs_wr_le16(p + CS__GAP_PAD2, 0);
    put_endpoints(p + CS__GAP_EP, &g->ep);
    q = put_bytes(q, g->proto, proto_len);
    q = put_bytes(q, g->session.p, g->session.len);
    return (size_t)(q - p);
}

/* ---- decoding ------------------------------------------------------------ */

static int get_varint(cs_cursor *c, uint32_t *out)
{
    uint32_t v = 0;

    for (int shift = 0; shift < 7 * CS__MSG_VARINT_MAX; shift += 7) {
        uint8_t b = cs_get_u8(c);

        if (!cs_cursor_ok(c) || (shift == 28 && b > 0x0f))
            return -1;
        v |= (uint32_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static void get_endpoints(const uint8_t *p, cs_endpoints *ep)
{
    ep->ip_version = p[CS__EP_IP_VERSION];
    ep->ip_proto = p[CS__EP_IP_PROTO];
    ep->tap = cs_rd_le16(p + CS__EP_TAP);
    ep->vlan[0] = cs_rd_le16(p + CS__EP_VLAN0);
    ep->vlan[1] = cs_rd_le16(p + CS__EP_VLAN1);
    ep->n_vlan = p[CS__EP_N_VLAN];
    ep->port_a = cs_rd_le16(p + CS__EP_PORT_A);
    ep->port_b = cs_rd_le16(p + CS__EP_PORT_B);
    memcpy(ep->addr_a, p + CS__EP_ADDR_A, CS__EP_ADDR_SIZE);
    memcpy(ep->addr_b, p + CS__EP_ADDR_B, CS__EP_ADDR_SIZE);
}

void cs__recdec_free(cs__recdec *d)
{
    cs_free(d->kv);
    cs_free(d->refs);
}

/* The fixed part of a message at "fx" into "m" and "h"; returns proto_len. */
static uint32_t get_msg_fixed(const uint8_t *fx, cs_message *m, cs__msg_head *h)
{
    memset(m, 0, sizeof(*m));
    m->id = cs_rd_le64(fx + CS__MSG_ID);
    m->ts_ns = (int64_t)cs_rd_le64(fx + CS__MSG_TS);
    m->last_ts_ns = (int64_t)cs_rd_le64(fx + CS__MSG_LAST_TS);
    m->flow_id = cs_rd_le64(fx + CS__MSG_FLOW);
    m->flags = cs_rd_le32(fx + CS__MSG_FLAGS);
    m->len = cs_rd_le32(fx + CS__MSG_LEN);
    m->dir = fx[CS__MSG_DIR];
    m->role = (cs_role)fx[CS__MSG_ROLE];
    h->kind = fx[CS__MSG_UNM_KIND];
    h->n_refs = cs_rd_le32(fx + CS__MSG_N_REFS);
    h->n_fields = cs_rd_le32(fx + CS__MSG_N_FIELDS);
    get_endpoints(fx + CS__MSG_EP, &m->ep);
    return fx[CS__MSG_PROTO_LEN];
}

int cs__decode_msg_head(const uint8_t *p, size_t n, cs__recdec *d, cs_message *m, cs__msg_head *h)
{
    cs_cursor c;
    const uint8_t *fx, *proto, *type, *key, *error = NULL;
    uint32_t key_len, type_len, proto_len, parts, error_len = 0;

    cs_cursor_init(&c, p, n);
    if ((fx = cs_cursor_need(&c, CS__MSG_FIXED)) == NULL)
        return -1;
    proto_len = get_msg_fixed(fx, m, h);
    key_len = cs_rd_le32(fx + CS__MSG_KEY_LEN);
    type_len = cs_rd_le16(fx + CS__MSG_TYPE_LEN);
    proto = cs_cursor_need(&c, proto_len);
    type = cs_cursor_need(&c, type_len);
    key = cs_cursor_need(&c, key_len);
    parts = cs_rd_le16(fx + CS__MSG_PARTS);
    if (parts & CS__MSG_PART_ERROR) {
        error_len = cs_get_le16(&c);
        error = cs_cursor_need(&c, error_len);
    }
    if (!cs_cursor_ok(&c) || m->role > CS_ROLE_SIGHTING || (parts & ~CS__MSG_PART_ERROR) != 0)
        return -1;
    memcpy(d->name, proto, proto_len);
    d->name[proto_len] = '\0';
    m->proto = d->name;
    m->type = (cs_str){(const char *)type, type_len};
    m->key = (cs_str){(const char *)key, key_len};
    m->error = (cs_str){(const char *)error, error_len};
    h->rest = c;
    return 0;
}

int cs__decode_msg_body(cs__recdec *d, cs_message *m, cs__msg_head *h)
{
    cs_cursor *c = &h->rest;
    const uint8_t *refs;

    /* each ref takes 8 bytes, each field at least 2 (two one-byte varints) */
    if (h->n_refs > cs_cursor_left(c) / CS__MSG_REF_SIZE || h->n_fields > cs_cursor_left(c) / 2)
        return -1;
    if (cs_grow((void **)&d->refs, &d->refs_cap, h->n_refs + 1, sizeof(*d->refs)) < 0 ||
        cs_grow((void **)&d->kv, &d->kv_cap, h->n_fields + 1, sizeof(*d->kv)) < 0)
        return CS_ENOMEM;
    refs = cs_cursor_need(c, (size_t)h->n_refs * CS__MSG_REF_SIZE);
    for (uint32_t i = 0; i < h->n_refs; i++)
        d->refs[i] = cs_rd_le64(refs + CS__MSG_REF_SIZE * (size_t)i);
    for (uint32_t i = 0; i < h->n_fields; i++) {
        uint32_t nl, vl;
        const uint8_t *name, *val;

        if (get_varint(c, &nl) < 0 || get_varint(c, &vl) < 0)
            return -1;
        name = cs_cursor_need(c, nl);
        val = cs_cursor_need(c, vl);
        if (!cs_cursor_ok(c))
            return -1;
        d->kv[i].name = (cs_str){(const char *)name, nl};
        d->kv[i].val = (cs_str){(const char *)val, vl};
    }
    if (cs_cursor_left(c) != 0)
        return -1;
    m->refs = d->refs;
    m->n_refs = h->n_refs;
    m->fields = d->kv;
    m->n_fields = h->n_fields;
    return 0;
}

/* Reads the measurement tail (CS__LAT_TAIL_*) at "t" into "ms". */
static void get_measurement_tail(const uint8_t *t, cs_measurement *ms)
{
    ms->resp_last_ts_ns = (int64_t)cs_rd_le64(t + CS__LAT_TAIL_RESP_LAST);
    ms->attached = cs_rd_le32(t + CS__LAT_TAIL_ATTACHED);
    ms->attached_last_id = cs_rd_le64(t + CS__LAT_TAIL_ATTACHED_ID);
    ms->attached_last_ts_ns = (int64_t)cs_rd_le64(t + CS__LAT_TAIL_ATTACHED_TS);
}

/* The fixed part of a measurement at "fx" into "ms". */
static void get_lat_fixed(const uint8_t *fx, cs_measurement *ms)
{
    memset(ms, 0, sizeof(*ms));
    ms->id = cs_rd_le64(fx + CS__LAT_ID);
    ms->req_id = cs_rd_le64(fx + CS__LAT_REQ_ID);
    ms->resp_id = cs_rd_le64(fx + CS__LAT_RESP_ID);
    ms->req_ts_ns = (int64_t)cs_rd_le64(fx + CS__LAT_REQ_TS);
    ms->resp_ts_ns = (int64_t)cs_rd_le64(fx + CS__LAT_RESP_TS);
    ms->latency_ns = (int64_t)cs_rd_le64(fx + CS__LAT_LATENCY);
    ms->flow_id = cs_rd_le64(fx + CS__LAT_FLOW);
    get_endpoints(fx + CS__LAT_EP, &ms->ep);
}

int cs__decode_measurement(const uint8_t *p, size_t n, cs__recdec *d, cs_measurement *ms)
{
    cs_cursor c;
    const uint8_t *fx, *pair, *key, *tail = NULL, *rtype = NULL, *rlen = NULL, *rtap = NULL;
    uint32_t pair_len, key_len;

    cs_cursor_init(&c, p, n);
    if ((fx = cs_cursor_need(&c, CS__LAT_FIXED)) == NULL)
        return -1;
    get_lat_fixed(fx, ms);
    pair_len = fx[CS__LAT_PAIR_LEN];
    key_len = cs_rd_le32(fx + CS__LAT_KEY_LEN);
    pair = cs_cursor_need(&c, pair_len);
    key = cs_cursor_need(&c, key_len);
    if (fx[CS__LAT_PARTS] & CS__LAT_PART_TAIL)
        tail = cs_cursor_need(&c, CS__LAT_TAIL_SIZE);
    if ((fx[CS__LAT_PARTS] & CS__LAT_PART_RESP_TYPE) && (rlen = cs_cursor_need(&c, 1)) != NULL)
        rtype = cs_cursor_need(&c, *rlen);
    if (fx[CS__LAT_PARTS] & CS__LAT_PART_RESP_TAP)
        rtap = cs_cursor_need(&c, CS__LAT_RESP_TAP_SIZE);
    if (!cs_cursor_ok(&c) || cs_cursor_left(&c) != 0)
        return -1;
    memcpy(d->name, pair, pair_len);
    d->name[pair_len] = '\0';
    ms->pair = d->name;
    ms->key = (cs_str){(const char *)key, key_len};
    ms->resp_last_ts_ns = ms->resp_ts_ns;
    if (tail != NULL)
        get_measurement_tail(tail, ms);
    if (rtype != NULL)
        ms->resp_type = (cs_str){(const char *)rtype, *rlen};
    ms->resp_tap = rtap != NULL ? cs_rd_le16(rtap) : ms->ep.tap;
    return 0;
}

int cs__decode_gap(const uint8_t *p, size_t n, cs__recdec *d, cs_gap *g)
{
    cs_cursor c;
    const uint8_t *fx, *proto, *session;
    uint32_t proto_len, session_len;

    cs_cursor_init(&c, p, n);
    if ((fx = cs_cursor_need(&c, CS__GAP_FIXED)) == NULL)
        return -1;
    memset(g, 0, sizeof(*g));
    g->ts_ns = (int64_t)cs_rd_le64(fx + CS__GAP_TS);
    g->flow_id = cs_rd_le64(fx + CS__GAP_FLOW);
    g->ref = cs_rd_le64(fx + CS__GAP_REF);
    g->first = cs_rd_le64(fx + CS__GAP_FIRST);
    g->count = cs_rd_le64(fx + CS__GAP_COUNT);
    g->dir = fx[CS__GAP_DIR];
    g->recovered = fx[CS__GAP_RECOVERED] & 1;
    g->arbitrated = (fx[CS__GAP_RECOVERED] >> 1) & 1;
    get_endpoints(fx + CS__GAP_EP, &g->ep);
    proto_len = fx[CS__GAP_PROTO_LEN];
    session_len = cs_rd_le16(fx + CS__GAP_SESSION_LEN);
    proto = cs_cursor_need(&c, proto_len);
    session = cs_cursor_need(&c, session_len);
    if (!cs_cursor_ok(&c) || cs_cursor_left(&c) != 0 || g->dir > 1 ||
        (fx[CS__GAP_RECOVERED] & ~3u) != 0)
        return -1;
    memcpy(d->name, proto, proto_len);
    d->name[proto_len] = '\0';
    g->proto = d->name;
    g->session = (cs_str){(const char *)session, session_len};
    return 0;
}

/* ---- fields read without decoding ---------------------------------------- */

int cs__record_key(int kind, const uint8_t *p, size_t n, const uint8_t **key, size_t *len)
{
    size_t at, klen;

    if (kind == CS__KIND_GAP)
        return -1; /* gaps have no key */
    if (kind == CS__KIND_LAT) {
        if (n < CS__LAT_FIXED)
            return -1;
        at = CS__LAT_FIXED + (size_t)p[CS__LAT_PAIR_LEN];
        klen = cs_rd_le32(p + CS__LAT_KEY_LEN);
    } else {
        if (n < CS__MSG_FIXED)
            return -1;
        at = CS__MSG_FIXED + (size_t)p[CS__MSG_PROTO_LEN] + cs_rd_le16(p + CS__MSG_TYPE_LEN);
        klen = cs_rd_le32(p + CS__MSG_KEY_LEN);
    }
    if (klen == 0 || at > n || klen > n - at)
        return -1;
    *key = p + at;
    *len = klen;
    return 0;
}

int cs__record_ts(int kind, const uint8_t *p, size_t n, int64_t *ts)
{
    size_t fixed = kind == CS__KIND_LAT   ? CS__LAT_FIXED
                   : kind == CS__KIND_GAP ? CS__GAP_FIXED
                                          : CS__MSG_FIXED;
    size_t at = kind == CS__KIND_LAT ? CS__LAT_REQ_TS : CS__MSG_TS; /* CS__GAP_TS too */

    if (n < fixed)
        return -1;
    *ts = (int64_t)cs_rd_le64(p + at);
    return 0;
}

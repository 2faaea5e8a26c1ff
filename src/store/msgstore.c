/*
 * msgstore.c - the message store's files: writer (ingest, reanalyze) and
 * reader (latency, messages, show). See msgstore.h for the directory.
 *
 * Every file (msg-, lat- or unm-NNNNNNNN.bin) is an 8-byte magic followed
 * by records. NNNNNNNN, the file id (called "seg" in the structs below),
 * is the first segment id of the segment group its records' ids name
 * (cs_msgstore_file_seg: cs_store_group_of with the store's partition
 * count P, read at open), or 0 for records of packets not stored. Every
 * comparison below is between file ids, never raw segment ids: a segment
 * id from outside (replace_range) is mapped to its group first.
 *
 * Integers are little-endian; nothing is aligned (every read goes through
 * core/cursor.h helpers).
 *
 *   file:    +0  8  magic "csmsg01\n", "cslat01\n" or "csunm01\n"
 *            +8     record, record, ...
 *
 *   record:  +0  u32 n         payload bytes (MIN_PAYLOAD..REC_MAX)
 *            +4  u64 check     checksum of the payload (cs__msgstore_frame_check =
 *                              cs_checksum64 with seed CHECK_SEED)
 *            +12 n bytes       payload
 *
 *   message payload (msg- and unm- files):
 *            +0   u64 id            +40  u8  dir
 *            +8   i64 ts_ns         +41  u8  role (cs_role)
 *            +16  i64 last_ts_ns    +42  u8  unmatched kind (0 in msg- files)
 *            +24  u64 flow_id       +43  u8  proto_len
 *            +32  u32 flags         +44  u32 n_refs
 *            +36  u32 len           +48  u32 n_fields
 *            +52  u32 key_len       +56  u16 type_len   +58 u16 0
 *            +60  48  endpoints (below)
 *            +108 proto, type, key bytes (lengths above)
 *            then n_refs x u64 packet ref
 *            then n_fields x (varint name_len, varint val_len, name, val)
 *                 (varint: LEB128, 7 bits a byte, at most 5 bytes)
 *
 *   measurement payload (lat- files):
 *            +0   u64 id            +48  u64 flow_id
 *            +8   u64 req_id        +56  u8  pair_len  +57 u8 parts  +58 u16 0
 *            +16  u64 resp_id       +60  u32 key_len
 *            +24  i64 req_ts_ns     +64  48  endpoints
 *            +32  i64 resp_ts_ns    +112 pair, key bytes
 *            +40  i64 latency_ns    then, if parts & LAT_PART_TAIL, the tail:
 *
 *   measurement tail (28 bytes, LAT_TAIL_*):
 *            +0  i64 resp_last_ts_ns       +12 u64 attached_last_id
 *            +8  u32 attached              +20 i64 attached_last_ts_ns
 *
 *   The writer always writes the tail. A record without it (parts 0:
 *   written before measurements had it) reads as resp_last_ts_ns =
 *   resp_ts_ns (the response taken as one packet) and nothing attached.
 *
 *   endpoints (48 bytes):
 *            +0 u8 ip_version  +1 u8 ip_proto  +2 u16 tap  +4 u16 vlan[0]
 *            +6 u16 vlan[1]    +8 u8 n_vlan    +9 u8 0     +10 u16 port_a
 *            +12 u16 port_b    +14 u16 0       +16 16 addr_a  +32 16 addr_b
 *
 * Invariants:
 *   - A record is served only if its length is sane and its checksum
 *     matches; the first record that fails ends the file for readers (a
 *     torn tail after a crash), and the next writer that appends to the
 *     file cuts it there first. Zero-filled tails fail the length check.
 *   - The writer appends whole records from its buffer (per open file,
 *     grown only for a record larger than it), so the hot path encodes in
 *     place: no allocation and one copy per record.
 *   - At most MAX_OPEN files are open; the least recently used is flushed
 *     and closed to make room (ingest moves through groups in order).
 *   - Replacement (reanalyze) writes NAME.bin.new files and renames them
 *     over NAME.bin at close; files of replaced groups that got no new
 *     record are unlinked then. After an error nothing is replaced.
 *
 * Readers stream each file in chunks (read(), not mmap, so a file cut
 * short under a reader cannot fault it) and decode records into cs_message
 * / cs_measurement whose strings point into the chunk buffer.
 */
#include "store/msgstore.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/hash.h"
#include "flow/dissect.h"
#include "store/msgstore_int.h"
#include "store/pcapw.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC_LEN CS__MSG_MAGIC_LEN
#define FRAME_HDR CS__MSG_FRAME_HDR
#define MIN_PAYLOAD CS__MSG_MIN_PAYLOAD
#define REC_MAX CS__MSG_REC_MAX
#define CHECK_SEED 0x63736d7367737472ull
#define MSG_FIXED 108
#define LAT_FIXED 112
#define LAT_PARTS 57            /* u8: which optional parts follow the key */
#define LAT_PART_TAIL 0x01u     /* the measurement tail */
#define LAT_TAIL 28             /* bytes of the tail */
#define LAT_TAIL_RESP_LAST 0    /* i64 resp_last_ts_ns */
#define LAT_TAIL_ATTACHED 8     /* u32 attached */
#define LAT_TAIL_ATTACHED_ID 12 /* u64 attached_last_id */
#define LAT_TAIL_ATTACHED_TS 20 /* i64 attached_last_ts_ns */
#define EP_LEN 48
#define MAX_OPEN 8
#define WBUF_SIZE (256u << 10)
#define RBUF_SIZE (1u << 20)
#define PATH_MAX_LEN 4096

enum { K_MSG = 0, K_LAT = 1, K_UNM = 2, N_KINDS = 3 };

static const char *const kind_prefix[N_KINDS] = {"msg", "lat", "unm"};
static const char *const kind_magic[N_KINDS] = {"csmsg01\n", "cslat01\n", "csunm01\n"};

/*
 * The record checksum: cs_checksum64 (core/hash.c), which folds the payload
 * into four independent lanes (xor, odd multiply, rotate) and hashes the
 * lanes and the length with cs_hash64. It is the algorithm this file used
 * to carry a copy of, with the same constants, so stores written before
 * and after agree bit for bit (test_msgstore pins values). Detects torn,
 * zero-filled and corrupted records; it is not an authenticity check.
 */
uint64_t cs__msgstore_frame_check(const uint8_t *p, size_t n)
{
    return cs_checksum64(p, n, CHECK_SEED);
}

static void file_path(char *buf, const char *dir, int kind, uint32_t seg, int tmp)
{
    snprintf(buf, PATH_MAX_LEN, "%s/%s-%08u.bin%s", dir, kind_prefix[kind], (unsigned)seg,
             tmp ? ".new" : "");
}

/* Parses "msg-00000007.bin" (or with ".new" if "tmp"): kind and file id. */
static int parse_name(const char *name, int *kind, uint32_t *seg, int *tmp)
{
    const char *p = name + 4;
    uint64_t v = 0;
    int digits = 0;

    *kind = -1;
    for (int k = 0; k < N_KINDS; k++)
        if (strncmp(name, kind_prefix[k], 3) == 0 && name[3] == '-')
            *kind = k;
    if (*kind < 0)
        return -1;
    for (; *p >= '0' && *p <= '9' && digits < 10; p++, digits++)
        v = v * 10 + (uint64_t)(*p - '0');
    if (digits < 8 || v > UINT32_MAX)
        return -1;
    *seg = (uint32_t)v;
    if (strcmp(p, ".bin") == 0)
        *tmp = 0;
    else if (strcmp(p, ".bin.new") == 0)
        *tmp = 1;
    else
        return -1;
    return 0;
}

/* ---- frames ------------------------------------------------------------ */

enum { FR_OK = 0, FR_STOP = 1, FR_BAD = 2 };

typedef int (*frame_fn)(void *ud, const uint8_t *p, size_t n);

/*
 * Walks the complete, valid frames in "d"[0..len): calls "fn" for each.
 * "*used" gets the bytes of the frames walked, "*need" the size of the
 * incomplete frame at the end (FR_OK). FR_BAD at a frame that fails its
 * length or checksum; FR_STOP (or fn's negative code) when fn says stop.
 */
static int parse_frames(const uint8_t *d, size_t len, size_t *used, size_t *need, frame_fn fn,
                        void *ud)
{
    size_t pos = 0;
    int rc;

    *need = FRAME_HDR;
    while (len - pos >= FRAME_HDR) {
        uint32_t n = cs_rd_le32(d + pos);

        *used = pos;
        if (n < MIN_PAYLOAD || n > REC_MAX)
            return FR_BAD;
        if (len - pos - FRAME_HDR < n) {
            *need = FRAME_HDR + (size_t)n;
            break;
        }
        if (cs_rd_le64(d + pos + 4) != cs__msgstore_frame_check(d + pos + FRAME_HDR, n))
            return FR_BAD;
        rc = fn ? fn(ud, d + pos + FRAME_HDR, n) : 0;
        pos += FRAME_HDR + (size_t)n;
        if (rc != 0) {
            *used = pos;
            return rc < 0 ? rc : FR_STOP;
        }
    }
    *used = pos;
    return FR_OK;
}

typedef struct scanbuf {
    uint8_t *buf;
    size_t cap;
    uint64_t base; /* file offset of buf[0] while a scan runs */
} scanbuf;

/* The file offset of the frame whose payload "payload" lies in "sb". */
static uint64_t frame_offset(const scanbuf *sb, const uint8_t *payload)
{
    return sb->base + (uint64_t)(payload - sb->buf) - FRAME_HDR;
}

typedef struct scan_result {
    uint64_t valid_end; /* file offset after the last good record */
    int torn;           /* stopped at an incomplete or bad record */
    int stopped;        /* the callback said stop */
} scan_result;

/* Reads from "fd" until "sb" holds "want" bytes from "*have" on, or EOF. */
static int fill(int fd, scanbuf *sb, size_t *have, int *eof)
{
    while (!*eof && *have < sb->cap) {
        ssize_t k = read(fd, sb->buf + *have, sb->cap - *have);

        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return cs_error_set(cs_error_from_errno(errno), "reading messages: %s",
                                strerror(errno));
        if (k == 0)
            *eof = 1;
        *have += (size_t)k;
    }
    return 0;
}

static int scanbuf_reserve(scanbuf *sb, size_t need)
{
    uint8_t *nb;

    if (sb->cap >= need)
        return 0;
    nb = cs_realloc(sb->buf, need);
    if (nb == NULL)
        return CS_ENOMEM;
    sb->buf = nb;
    sb->cap = need;
    return 0;
}

/* Checks the magic at the start of "sb"; 0 ok, 1 short (torn), -1 wrong. */
static int check_magic(const scanbuf *sb, size_t have, int kind)
{
    if (have < MAGIC_LEN)
        return 1;
    return memcmp(sb->buf, kind_magic[kind], MAGIC_LEN) == 0 ? 0 : -1;
}

/*
 * Streams the file "fd" of kind "kind" through "fn", frame by frame, in
 * chunks of "sb" (grown for a record larger than it), from file offset
 * "start" (0, or the end of a record already read: the magic is then not
 * checked again), wherever an earlier pass left the file offset of "fd".
 * CS_ECORRUPT for a file with a foreign magic; a short file counts as torn.
 */
static int scan_fd(int fd, int kind, scanbuf *sb, uint64_t start, frame_fn fn, void *ud,
                   scan_result *res)
{
    size_t have = 0, pos = 0, used, need;
    uint64_t base = start;
    int eof = 0, rc, m;

    memset(res, 0, sizeof(*res));
    res->valid_end = start;
    if (lseek(fd, (off_t)start, SEEK_SET) < 0)
        return cs_error_set(cs_error_from_errno(errno), "reading messages: %s", strerror(errno));
    if ((rc = scanbuf_reserve(sb, RBUF_SIZE)) < 0 || (rc = fill(fd, sb, &have, &eof)) < 0)
        return rc;
    if (have == 0)
        return 0;
    if (start == 0 && (m = check_magic(sb, have, kind)) != 0) {
        res->torn = 1;
        return m < 0 ? cs_error_set(CS_ECORRUPT, "not a %s file (bad magic)", kind_prefix[kind])
                     : 0;
    }
    pos = start == 0 ? MAGIC_LEN : 0;
    for (;;) {
        sb->base = base;
        rc = parse_frames(sb->buf + pos, have - pos, &used, &need, fn, ud);
        pos += used;
        res->valid_end = base + pos;
        if (rc < 0)
            return rc;
        if (rc == FR_STOP) {
            res->stopped = 1;
            return 0;
        }
        if (rc == FR_BAD || (eof && pos < have)) {
            res->torn = 1;
            return 0;
        }
        if (eof)
            return 0;
        memmove(sb->buf, sb->buf + pos, have - pos);
        base += pos;
        have -= pos;
        pos = 0;
        if ((rc = scanbuf_reserve(sb, need)) < 0 || (rc = fill(fd, sb, &have, &eof)) < 0)
            return rc;
    }
}

/* ---- record encoding ---------------------------------------------------- */

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
    memset(p, 0, EP_LEN);
    p[0] = ep->ip_version;
    p[1] = ep->ip_proto;
    cs_wr_le16(p + 2, ep->tap);
    cs_wr_le16(p + 4, ep->vlan[0]);
    cs_wr_le16(p + 6, ep->vlan[1]);
    p[8] = ep->n_vlan;
    cs_wr_le16(p + 10, ep->port_a);
    cs_wr_le16(p + 12, ep->port_b);
    memcpy(p + 16, ep->addr_a, 16);
    memcpy(p + 32, ep->addr_b, 16);
}

/* Upper bound of the payload of message "m"; CS_ERANGE if it cannot be stored. */
static int msg_size_bound(const cs_message *m, size_t *out)
{
    size_t proto_len = m->proto ? strlen(m->proto) : 0;
    size_t n = MSG_FIXED + proto_len + m->type.len + m->key.len + 8 * m->n_refs;

    for (size_t i = 0; i < m->n_fields; i++)
        n += 10 + m->fields[i].name.len + m->fields[i].val.len;
    if (proto_len > 255 || m->type.len > 0xffff || n > REC_MAX)
        return cs_error_set(CS_ERANGE, "message too large to store (%zu bytes)", n);
    *out = n;
    return 0;
}

/* Encodes message "m" at "p" (room for its size bound); returns its length. */
static size_t encode_message(uint8_t *p, const cs_message *m, int kind)
{
    size_t proto_len = m->proto ? strlen(m->proto) : 0;
    uint8_t *q = p + MSG_FIXED;

    cs_wr_le64(p, m->id);
    cs_wr_le64(p + 8, (uint64_t)m->ts_ns);
    cs_wr_le64(p + 16, (uint64_t)m->last_ts_ns);
    cs_wr_le64(p + 24, m->flow_id);
    cs_wr_le32(p + 32, m->flags);
    cs_wr_le32(p + 36, m->len);
    p[40] = m->dir;
    p[41] = (uint8_t)m->role;
    p[42] = (uint8_t)kind;
    p[43] = (uint8_t)proto_len;
    cs_wr_le32(p + 44, (uint32_t)m->n_refs);
    cs_wr_le32(p + 48, (uint32_t)m->n_fields);
    cs_wr_le32(p + 52, (uint32_t)m->key.len);
    cs_wr_le16(p + 56, (uint16_t)m->type.len);
    cs_wr_le16(p + 58, 0);
    put_endpoints(p + 60, &m->ep);
    q = put_bytes(q, m->proto, proto_len);
    q = put_bytes(q, m->type.p, m->type.len);
    q = put_bytes(q, m->key.p, m->key.len);
    for (size_t i = 0; i < m->n_refs; i++, q += 8)
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

static size_t encode_measurement(uint8_t *p, const cs_measurement *ms, size_t pair_len)
{
    uint8_t *q = p + LAT_FIXED;

    cs_wr_le64(p, ms->id);
    cs_wr_le64(p + 8, ms->req_id);
    cs_wr_le64(p + 16, ms->resp_id);
    cs_wr_le64(p + 24, (uint64_t)ms->req_ts_ns);
    cs_wr_le64(p + 32, (uint64_t)ms->resp_ts_ns);
    cs_wr_le64(p + 40, (uint64_t)ms->latency_ns);
    cs_wr_le64(p + 48, ms->flow_id);
    p[56] = (uint8_t)pair_len;
    p[LAT_PARTS] = LAT_PART_TAIL;
    cs_wr_le16(p + 58, 0);
    cs_wr_le32(p + 60, (uint32_t)ms->key.len);
    put_endpoints(p + 64, &ms->ep);
    q = put_bytes(q, ms->pair, pair_len);
    q = put_bytes(q, ms->key.p, ms->key.len);
    cs_wr_le64(q + LAT_TAIL_RESP_LAST, (uint64_t)ms->resp_last_ts_ns);
    cs_wr_le32(q + LAT_TAIL_ATTACHED, ms->attached);
    cs_wr_le64(q + LAT_TAIL_ATTACHED_ID, ms->attached_last_id);
    cs_wr_le64(q + LAT_TAIL_ATTACHED_TS, (uint64_t)ms->attached_last_ts_ns);
    q += LAT_TAIL;
    return (size_t)(q - p);
}

/* ---- record decoding ---------------------------------------------------- */

static int get_varint(cs_cursor *c, uint32_t *out)
{
    uint32_t v = 0;

    for (int shift = 0; shift < 35; shift += 7) {
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
    ep->ip_version = p[0];
    ep->ip_proto = p[1];
    ep->tap = cs_rd_le16(p + 2);
    ep->vlan[0] = cs_rd_le16(p + 4);
    ep->vlan[1] = cs_rd_le16(p + 6);
    ep->n_vlan = p[8];
    ep->port_a = cs_rd_le16(p + 10);
    ep->port_b = cs_rd_le16(p + 12);
    memcpy(ep->addr_a, p + 16, 16);
    memcpy(ep->addr_b, p + 32, 16);
}

/* Scratch space that decoded records point into (beside the file bytes). */
typedef struct decoder {
    cs_kv *kv;
    size_t kv_cap;
    cs_pktref *refs;
    size_t refs_cap;
    char name[256]; /* proto or pair, NUL-terminated */
} decoder;

static void decoder_free(decoder *d)
{
    cs_free(d->kv);
    cs_free(d->refs);
}

/* Decoded fixed part of a message payload, enough to filter on. */
typedef struct msg_head {
    uint32_t n_refs, n_fields;
    int kind;
    cs_cursor rest; /* refs and fields */
} msg_head;

/* Decodes the fixed part and strings of a message; 0, or -1 if malformed. */
static int decode_msg_head(const uint8_t *p, size_t n, decoder *d, cs_message *m, msg_head *h)
{
    cs_cursor c;
    const uint8_t *fx, *proto, *type, *key;
    uint32_t key_len, type_len, proto_len;

    cs_cursor_init(&c, p, n);
    if ((fx = cs_cursor_need(&c, MSG_FIXED)) == NULL)
        return -1;
    memset(m, 0, sizeof(*m));
    m->id = cs_rd_le64(fx);
    m->ts_ns = (int64_t)cs_rd_le64(fx + 8);
    m->last_ts_ns = (int64_t)cs_rd_le64(fx + 16);
    m->flow_id = cs_rd_le64(fx + 24);
    m->flags = cs_rd_le32(fx + 32);
    m->len = cs_rd_le32(fx + 36);
    m->dir = fx[40];
    m->role = (cs_role)fx[41];
    h->kind = fx[42];
    proto_len = fx[43];
    h->n_refs = cs_rd_le32(fx + 44);
    h->n_fields = cs_rd_le32(fx + 48);
    key_len = cs_rd_le32(fx + 52);
    type_len = cs_rd_le16(fx + 56);
    get_endpoints(fx + 60, &m->ep);
    proto = cs_cursor_need(&c, proto_len);
    type = cs_cursor_need(&c, type_len);
    key = cs_cursor_need(&c, key_len);
    if (!cs_cursor_ok(&c) || m->role > CS_ROLE_RESP)
        return -1;
    memcpy(d->name, proto, proto_len);
    d->name[proto_len] = '\0';
    m->proto = d->name;
    m->type = (cs_str){(const char *)type, type_len};
    m->key = (cs_str){(const char *)key, key_len};
    h->rest = c;
    return 0;
}

/* Decodes refs and fields after decode_msg_head(); 0, -1 malformed, or CS_ENOMEM. */
static int decode_msg_body(decoder *d, cs_message *m, msg_head *h)
{
    cs_cursor *c = &h->rest;
    const uint8_t *refs;

    if (h->n_refs > cs_cursor_left(c) / 8 || h->n_fields > cs_cursor_left(c) / 2)
        return -1;
    if (cs_grow((void **)&d->refs, &d->refs_cap, h->n_refs + 1, sizeof(*d->refs)) < 0 ||
        cs_grow((void **)&d->kv, &d->kv_cap, h->n_fields + 1, sizeof(*d->kv)) < 0)
        return CS_ENOMEM;
    refs = cs_cursor_need(c, (size_t)h->n_refs * 8);
    for (uint32_t i = 0; i < h->n_refs; i++)
        d->refs[i] = cs_rd_le64(refs + 8 * (size_t)i);
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

/* Reads the measurement tail (LAT_TAIL_*) at "t" into "ms". */
static void decode_measurement_tail(const uint8_t *t, cs_measurement *ms)
{
    ms->resp_last_ts_ns = (int64_t)cs_rd_le64(t + LAT_TAIL_RESP_LAST);
    ms->attached = cs_rd_le32(t + LAT_TAIL_ATTACHED);
    ms->attached_last_id = cs_rd_le64(t + LAT_TAIL_ATTACHED_ID);
    ms->attached_last_ts_ns = (int64_t)cs_rd_le64(t + LAT_TAIL_ATTACHED_TS);
}

static int decode_measurement(const uint8_t *p, size_t n, decoder *d, cs_measurement *ms)
{
    cs_cursor c;
    const uint8_t *fx, *pair, *key, *tail = NULL;
    uint32_t pair_len, key_len;

    cs_cursor_init(&c, p, n);
    if ((fx = cs_cursor_need(&c, LAT_FIXED)) == NULL)
        return -1;
    memset(ms, 0, sizeof(*ms));
    ms->id = cs_rd_le64(fx);
    ms->req_id = cs_rd_le64(fx + 8);
    ms->resp_id = cs_rd_le64(fx + 16);
    ms->req_ts_ns = (int64_t)cs_rd_le64(fx + 24);
    ms->resp_ts_ns = (int64_t)cs_rd_le64(fx + 32);
    ms->latency_ns = (int64_t)cs_rd_le64(fx + 40);
    ms->flow_id = cs_rd_le64(fx + 48);
    pair_len = fx[56];
    key_len = cs_rd_le32(fx + 60);
    get_endpoints(fx + 64, &ms->ep);
    pair = cs_cursor_need(&c, pair_len);
    key = cs_cursor_need(&c, key_len);
    if (fx[LAT_PARTS] & LAT_PART_TAIL)
        tail = cs_cursor_need(&c, LAT_TAIL);
    if (!cs_cursor_ok(&c) || cs_cursor_left(&c) != 0)
        return -1;
    memcpy(d->name, pair, pair_len);
    d->name[pair_len] = '\0';
    ms->pair = d->name;
    ms->key = (cs_str){(const char *)key, key_len};
    ms->resp_last_ts_ns = ms->resp_ts_ns;
    if (tail != NULL)
        decode_measurement_tail(tail, ms);
    return 0;
}

/* ---- writer ------------------------------------------------------------- */

typedef struct wfile {
    int kind;     /* K_*; -1 = slot unused */
    uint32_t seg; /* file id (first segment of the group) */
    int fd;
    uint64_t last_use;
    uint8_t *buf;
    size_t used, cap;
    uint32_t n_buffered; /* records in buf */
    uint64_t lost;       /* records a failed write cost, over the slot's life */
} wfile;

typedef struct tmpfile_ent {
    uint32_t seg;
    int kind;
} tmpfile_ent;

struct cs_msgstore {
    char *dir; /* STORE/messages */
    wfile files[MAX_OPEN];
    wfile *last[N_KINDS];
    uint64_t tick;
    int err;
    int replacing;
    uint32_t rfirst, rlast; /* file ids (groups) of the replaced range */
    tmpfile_ent *tmps;
    size_t n_tmps, tmps_cap;
    scanbuf sb;
    const char *const *rprotos; /* replaced protocols (NULL: all) */
    uint64_t max_bytes;         /* retention budget (0: none) */
    uint32_t partitions;        /* the store's P (store.h), 1 for old stores */
    uint32_t newest_file;       /* newest file id (group) with a file opened */
    uint64_t deleted;           /* files deleted by retention */
};

static int remember_err(cs_msgstore *w, int rc)
{
    if (rc < 0 && w->err == 0)
        w->err = rc;
    return rc;
}

static int in_range(const cs_msgstore *w, uint32_t seg)
{
    return w->replacing && seg >= w->rfirst && seg <= w->rlast;
}

/* Writes the buffer out. A failed write (a full disk) is cut off the file
 * again, so its records are all lost and counted, never half there; a
 * file cut back to nothing gets its magic again with the next write. */
static int wfile_flush(wfile *f)
{
    off_t at = -1;
    int rc = 0;

    if (f->used > 0) {
        at = lseek(f->fd, 0, SEEK_CUR);
        rc = cs_write_all(f->fd, f->buf, f->used);
        if (rc < 0 && at >= 0 && ftruncate(f->fd, at) == 0)
            lseek(f->fd, at, SEEK_SET);
    }
    if (rc < 0)
        f->lost += f->n_buffered;
    f->used = 0;
    f->n_buffered = 0;
    if (rc < 0 && at == 0 && f->kind >= 0) {
        memcpy(f->buf, kind_magic[f->kind], MAGIC_LEN);
        f->used = MAGIC_LEN;
    }
    return rc;
}

static int wfile_close(wfile *f)
{
    int rc = 0;

    if (f->kind < 0)
        return 0;
    rc = wfile_flush(f);
    if (close(f->fd) < 0 && rc == 0)
        rc = cs_error_set(CS_EIO, "closing a message file: %s", strerror(errno));
    f->kind = -1;
    f->fd = -1;
    return rc;
}

static int tmp_seen(const cs_msgstore *w, int kind, uint32_t seg)
{
    for (size_t i = 0; i < w->n_tmps; i++)
        if (w->tmps[i].seg == seg && w->tmps[i].kind == kind)
            return 1;
    return 0;
}

/* Opens the replacement file of (kind, seg): fresh the first time, then appended. */
static int open_tmp(cs_msgstore *w, int kind, uint32_t seg, int *fd, int *fresh)
{
    char path[PATH_MAX_LEN];
    int seen = tmp_seen(w, kind, seg);

    file_path(path, w->dir, kind, seg, 1);
    if (!seen && cs_grow((void **)&w->tmps, &w->tmps_cap, w->n_tmps + 1, sizeof(*w->tmps)) < 0)
        return CS_ENOMEM;
    *fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (seen ? 0 : O_TRUNC), 0644);
    if (*fd < 0)
        return cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    if (!seen)
        w->tmps[w->n_tmps++] = (tmpfile_ent){seg, kind};
    *fresh = !seen;
    return 0;
}

/* Opens (kind, seg) for appending, cutting a torn tail off first. */
static int open_append(cs_msgstore *w, int kind, uint32_t seg, int *fd, int *fresh)
{
    char path[PATH_MAX_LEN];
    scan_result res;
    int rc;

    file_path(path, w->dir, kind, seg, 0);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0)
        return cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    if ((rc = scan_fd(*fd, kind, &w->sb, 0, NULL, NULL, &res)) < 0) {
        cs_error_set(rc, "%s: %s", path, cs_error_msg(rc));
        goto fail;
    }
    if (res.torn && ftruncate(*fd, (off_t)res.valid_end) < 0) {
        rc = cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (lseek(*fd, (off_t)res.valid_end, SEEK_SET) < 0) {
        rc = cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
        goto fail;
    }
    *fresh = res.valid_end == 0;
    return 0;
fail:
    close(*fd);
    *fd = -1;
    return rc;
}

/* The least recently used slot (or a free one), closed and ready. */
static int free_slot(cs_msgstore *w, wfile **out)
{
    wfile *v = &w->files[0];

    for (int i = 0; i < MAX_OPEN; i++) {
        if (w->files[i].kind < 0) {
            v = &w->files[i];
            break;
        }
        if (w->files[i].last_use < v->last_use)
            v = &w->files[i];
    }
    *out = v;
    return wfile_close(v);
}

/* ---- retention ---------------------------------------------------------- */

typedef struct seg_bytes {
    uint32_t seg;
    uint64_t bytes;
} seg_bytes;

static int cmp_seg_bytes(const void *a, const void *b)
{
    uint32_t x = ((const seg_bytes *)a)->seg, y = ((const seg_bytes *)b)->seg;
    return x < y ? -1 : x > y;
}

/* The newest group and the one before it, "prev" (the next-lower file id
 * in the directory), still get records (a request answered after the next
 * group began files its measurement with it); file 0 always does. */
static int file_in_use(const cs_msgstore *w, uint32_t seg, uint32_t prev)
{
    return seg == 0 || seg >= w->newest_file || seg == prev;
}

/* The highest file id below the newest in "segs" (sorted), 0 if none. */
static uint32_t file_before_newest(const cs_msgstore *w, const seg_bytes *segs, size_t n)
{
    uint32_t prev = 0;

    for (size_t i = 0; i < n && segs[i].seg < w->newest_file; i++)
        prev = segs[i].seg;
    return prev;
}

/* Bytes per file id of the files in the directory (sorted by file id);
 * "*total" counts every file. */
static int list_seg_bytes(const cs_msgstore *w, seg_bytes **out, size_t *n, uint64_t *total)
{
    DIR *d = opendir(w->dir);
    struct dirent *e;
    size_t cap = 0;
    int rc = 0;

    *out = NULL;
    *n = 0;
    *total = 0;
    if (d == NULL)
        return cs_error_set(cs_error_from_errno(errno), "%s: %s", w->dir, strerror(errno));
    while ((e = readdir(d)) != NULL && rc == 0) {
        struct stat st;
        int kind, tmp;
        uint32_t seg;
        if (parse_name(e->d_name, &kind, &seg, &tmp) < 0 ||
            fstatat(dirfd(d), e->d_name, &st, 0) < 0)
            continue;
        *total += (uint64_t)st.st_size;
        if ((rc = cs_grow((void **)out, &cap, *n + 1, sizeof(**out))) == 0)
            (*out)[(*n)++] = (seg_bytes){seg, (uint64_t)st.st_size};
    }
    closedir(d);
    if (*n < 2)
        return rc;
    qsort(*out, *n, sizeof(**out), cmp_seg_bytes);
    size_t j = 0; /* one entry per file id */
    for (size_t i = 1; i < *n; i++) {
        if ((*out)[i].seg == (*out)[j].seg)
            (*out)[j].bytes += (*out)[i].bytes;
        else
            (*out)[++j] = (*out)[i];
    }
    *n = j + 1;
    return rc;
}

static void delete_seg_files(cs_msgstore *w, uint32_t seg)
{
    char path[PATH_MAX_LEN];

    for (int i = 0; i < MAX_OPEN; i++) {
        if (w->files[i].kind >= 0 && w->files[i].seg == seg) {
            if (w->last[w->files[i].kind] == &w->files[i])
                w->last[w->files[i].kind] = NULL;
            remember_err(w, wfile_close(&w->files[i]));
        }
    }
    for (int k = 0; k < N_KINDS; k++) {
        file_path(path, w->dir, k, seg, 0);
        if (unlink(path) == 0)
            w->deleted++;
    }
}

/* Deletes the oldest closed groups' files while over budget. */
static void retention(cs_msgstore *w)
{
    seg_bytes *segs;
    size_t n;
    uint64_t total;
    uint32_t prev;

    if (w->max_bytes == 0 || w->replacing || list_seg_bytes(w, &segs, &n, &total) < 0) {
        cs_error_clear();
        return;
    }
    for (int f = 0; f < MAX_OPEN; f++) { /* bytes still in the buffers count too */
        if (w->files[f].kind < 0)
            continue;
        total += w->files[f].used;
        for (size_t i = 0; i < n; i++)
            if (segs[i].seg == w->files[f].seg)
                segs[i].bytes += w->files[f].used;
    }
    prev = file_before_newest(w, segs, n);
    for (size_t i = 0; i < n && total > w->max_bytes; i++) {
        if (file_in_use(w, segs[i].seg, prev))
            continue;
        delete_seg_files(w, segs[i].seg);
        total -= segs[i].bytes;
    }
    cs_free(segs);
}

void cs_msgstore_set_budget(cs_msgstore *w, uint64_t max_bytes)
{
    w->max_bytes = max_bytes;
}

static int open_slot(cs_msgstore *w, int kind, uint32_t seg, wfile **out)
{
    wfile *f;
    int rc, fd, fresh;

    if ((rc = free_slot(w, &f)) < 0)
        return rc;
    if (f->buf == NULL && (f->buf = cs_malloc(WBUF_SIZE)) == NULL)
        return CS_ENOMEM;
    if (f->cap == 0)
        f->cap = WBUF_SIZE;
    rc = in_range(w, seg) ? open_tmp(w, kind, seg, &fd, &fresh)
                          : open_append(w, kind, seg, &fd, &fresh);
    if (rc < 0)
        return rc;
    f->kind = kind;
    f->seg = seg;
    f->fd = fd;
    f->used = 0;
    f->n_buffered = 0;
    if (fresh) {
        memcpy(f->buf, kind_magic[kind], MAGIC_LEN);
        f->used = MAGIC_LEN;
    }
    *out = f;
    if (seg > w->newest_file) {
        w->newest_file = seg;
        retention(w);
    }
    return 0;
}

/* The open file for (kind, seg) with room for a record of "need" bytes. */
static int get_file(cs_msgstore *w, int kind, uint32_t seg, size_t need, wfile **out)
{
    wfile *f = w->last[kind];
    int rc;

    if (f == NULL || f->kind != kind || f->seg != seg) {
        f = NULL;
        for (int i = 0; i < MAX_OPEN && f == NULL; i++)
            if (w->files[i].kind == kind && w->files[i].seg == seg)
                f = &w->files[i];
        if (f == NULL && (rc = open_slot(w, kind, seg, &f)) < 0)
            return rc;
        w->last[kind] = f;
    }
    f->last_use = ++w->tick;
    if (f->cap - f->used < need && (rc = wfile_flush(f)) < 0)
        return rc;
    if (f->cap - f->used < need) {
        if (cs_grow((void **)&f->buf, &f->cap, f->used + need, 1) < 0)
            return CS_ENOMEM;
    }
    *out = f;
    return 0;
}

/* Frames the payload of "n" bytes just encoded at f->buf + f->used + FRAME_HDR. */
static void commit_frame(wfile *f, size_t n)
{
    uint8_t *hdr = f->buf + f->used;

    cs_wr_le32(hdr, (uint32_t)n);
    cs_wr_le64(hdr + 4, cs__msgstore_frame_check(hdr + FRAME_HDR, n));
    f->used += FRAME_HDR + n;
    f->n_buffered++;
}

int cs_msgstore_open(const char *store_dir, cs_msgstore **out)
{
    cs_msgstore *w = cs_calloc(1, sizeof(*w));
    size_t len;
    int rc = 0;

    *out = NULL;
    if (w == NULL)
        return CS_ENOMEM;
    for (int i = 0; i < MAX_OPEN; i++) {
        w->files[i].kind = -1;
        w->files[i].fd = -1;
    }
    len = strlen(store_dir) + sizeof("/messages");
    if ((w->dir = cs_malloc(len)) == NULL) {
        rc = CS_ENOMEM;
        goto fail;
    }
    snprintf(w->dir, len, "%s/messages", store_dir);
    w->partitions = cs_store_dir_partitions(store_dir);
    if (mkdir(w->dir, 0755) < 0 && errno != EEXIST) {
        rc = cs_error_set(cs_error_from_errno(errno), "cannot create %s: %s", w->dir,
                          strerror(errno));
        goto fail;
    }
    *out = w;
    return 0;
fail:
    cs_free(w->dir);
    cs_free(w);
    return rc;
}

int cs_msgstore_replace_range(cs_msgstore *w, uint32_t first_seg, uint32_t last_seg)
{
    if (w->replacing || first_seg > last_seg)
        return cs_error_set(CS_EINVAL, "bad replacement range %u..%u", (unsigned)first_seg,
                            (unsigned)last_seg);
    w->replacing = 1;
    w->rfirst = cs_store_group_of(first_seg, w->partitions);
    w->rlast = cs_store_group_of(last_seg, w->partitions);
    /* Files of the range already open for appending end here. */
    for (int i = 0; i < MAX_OPEN; i++) {
        wfile *f = &w->files[i];

        if (f->kind >= 0 && in_range(w, f->seg))
            remember_err(w, wfile_close(f));
    }
    return w->err;
}

int cs_msgstore_replace_protos(cs_msgstore *w, const char *const *protos)
{
    w->rprotos = protos;
    return 0;
}

static int proto_replaced(const cs_msgstore *w, const char *proto)
{
    if (w->rprotos == NULL)
        return 1;
    for (size_t i = 0; w->rprotos[i] != NULL; i++)
        if (proto != NULL && strcmp(w->rprotos[i], proto) == 0)
            return 1;
    return 0;
}

static int keep_message(void *ud, const cs_message *m)
{
    cs_msgstore *w = ud;

    if (!proto_replaced(w, m->proto))
        cs_msgstore_put_message(w, m);
    return 0;
}

static int keep_measurement(void *ud, const cs_measurement *ms)
{
    cs_msgstore *w = ud;

    if (!proto_replaced(w, ms->pair))
        cs_msgstore_put_measurement(w, ms);
    return 0;
}

static int keep_unmatched(void *ud, const cs_message *m, int kind)
{
    cs_msgstore *w = ud;

    if (!proto_replaced(w, m->proto))
        cs_msgstore_put_unmatched(w, m, kind);
    return 0;
}

/* Reads the old file "name" of the range and puts back the records of the
 * protocols that are not being replaced. */
static int carry_over_file(cs_msgstore *w, const char *name, int kind)
{
    static const char kinds[N_KINDS] = {'m', 'l', 'u'};
    char path[PATH_MAX_LEN];
    struct stat st;
    uint8_t *data = NULL;
    int fd, rc = 0;

    snprintf(path, sizeof(path), "%s/%s", w->dir, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (fstat(fd, &st) == 0 && st.st_size > 0 && (data = cs_malloc((size_t)st.st_size)) != NULL) {
        if (pread(fd, data, (size_t)st.st_size, 0) == st.st_size)
            rc = cs_msgstore_parse_image(data, (size_t)st.st_size, kinds[kind], keep_message,
                                         keep_measurement, keep_unmatched, w, NULL);
    } else if (st.st_size > 0) {
        rc = CS_ENOMEM;
    }
    cs_free(data);
    close(fd);
    return rc == CS_ECORRUPT ? 0 : rc;
}

/* Keeps the other protocols' records of the replaced range. */
static void carry_over(cs_msgstore *w)
{
    DIR *d;
    struct dirent *e;
    int kind, tmp;
    uint32_t seg;

    if (w->rprotos == NULL || w->err < 0 || (d = opendir(w->dir)) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (parse_name(e->d_name, &kind, &seg, &tmp) < 0 || tmp || !in_range(w, seg))
            continue;
        remember_err(w, carry_over_file(w, e->d_name, kind));
    }
    closedir(d);
}

int cs_msgstore_put_message(cs_msgstore *w, const cs_message *m)
{
    return cs_msgstore_put_unmatched(w, m, 0);
}

int cs_msgstore_put_unmatched(cs_msgstore *w, const cs_message *m, int kind)
{
    size_t bound = 0, n;
    uint32_t file = cs_msgstore_file_seg(m->id, w->partitions);
    wfile *f;
    int rc;

    if ((rc = msg_size_bound(m, &bound)) < 0)
        return remember_err(w, rc);
    if ((rc = get_file(w, kind ? K_UNM : K_MSG, file, FRAME_HDR + bound, &f)) < 0)
        return remember_err(w, rc);
    n = encode_message(f->buf + f->used + FRAME_HDR, m, kind);
    commit_frame(f, n);
    return 0;
}

int cs_msgstore_put_measurement(cs_msgstore *w, const cs_measurement *ms)
{
    size_t pair_len = ms->pair ? strlen(ms->pair) : 0;
    size_t n = LAT_FIXED + pair_len + ms->key.len + LAT_TAIL;
    uint32_t file = cs_msgstore_file_seg(ms->id, w->partitions);
    wfile *f;
    int rc;

    if (pair_len > 255 || n > REC_MAX)
        return remember_err(w, cs_error_set(CS_ERANGE, "measurement too large to store"));
    if ((rc = get_file(w, K_LAT, file, FRAME_HDR + n, &f)) < 0)
        return remember_err(w, rc);
    n = encode_measurement(f->buf + f->used + FRAME_HDR, ms, pair_len);
    commit_frame(f, n);
    return 0;
}

uint64_t cs_msgstore_lost_records(const cs_msgstore *w)
{
    uint64_t lost = 0;

    for (int i = 0; w != NULL && i < MAX_OPEN; i++)
        lost += w->files[i].lost;
    return lost;
}

int cs_msgstore_flush(cs_msgstore *w)
{
    for (int i = 0; i < MAX_OPEN; i++)
        if (w->files[i].kind >= 0)
            remember_err(w, wfile_flush(&w->files[i]));
    return w->err;
}

/*
 * Publishes the replacement: renames every .new file over its file, then
 * removes files of the range that got no new records (and stray .new files
 * of the range, from an earlier run that died). After an error, removes the
 * .new files instead and keeps the old records.
 */
static int publish_replacement(cs_msgstore *w)
{
    char from[PATH_MAX_LEN], to[PATH_MAX_LEN];
    DIR *d;
    struct dirent *e;
    int rc = 0, kind, tmp;
    uint32_t seg;

    for (size_t i = 0; i < w->n_tmps; i++) {
        file_path(from, w->dir, w->tmps[i].kind, w->tmps[i].seg, 1);
        file_path(to, w->dir, w->tmps[i].kind, w->tmps[i].seg, 0);
        if (w->err < 0)
            unlink(from);
        else if (rename(from, to) < 0 && rc == 0)
            rc = cs_error_set(cs_error_from_errno(errno), "%s: %s", to, strerror(errno));
    }
    if (w->err < 0 || rc < 0 || (d = opendir(w->dir)) == NULL)
        return rc;
    while ((e = readdir(d)) != NULL) {
        if (parse_name(e->d_name, &kind, &seg, &tmp) < 0 || !in_range(w, seg))
            continue;
        if (tmp || !tmp_seen(w, kind, seg)) {
            snprintf(from, sizeof(from), "%s/%s", w->dir, e->d_name);
            unlink(from);
        }
    }
    closedir(d);
    return rc;
}

int cs_msgstore_close(cs_msgstore *w)
{
    int rc;

    if (w == NULL)
        return 0;
    if (w->replacing)
        carry_over(w);
    for (int i = 0; i < MAX_OPEN; i++) {
        remember_err(w, wfile_close(&w->files[i]));
        cs_free(w->files[i].buf);
    }
    if (w->replacing)
        remember_err(w, publish_replacement(w));
    rc = w->err;
    cs_free(w->tmps);
    cs_free(w->sb.buf);
    cs_free(w->dir);
    cs_free(w);
    return rc;
}

/* ---- reader ------------------------------------------------------------- */

typedef struct rfile {
    uint32_t seg;
    int kind;
} rfile;

struct cs_msgreader {
    char *dir; /* STORE/messages */
    scanbuf sb;
    decoder dec;
    rfile *files;
    size_t n_files, files_cap;
    uint64_t torn;
    uint32_t partitions; /* the store's P (store.h), 1 for old stores */
    uint32_t cur_seg;    /* file id of the file being scanned */
};

static int check_store(const char *dir)
{
    struct stat st;
    char marker[PATH_MAX_LEN];

    if (stat(dir, &st) != 0)
        return cs_error_set(CS_ENOTFOUND, "no store at %s", dir);
    if (!S_ISDIR(st.st_mode))
        return cs_error_set(CS_ENOTSTORE, "%s is not a directory", dir);
    snprintf(marker, sizeof(marker), "%s/capstream.store", dir);
    if (access(marker, F_OK) != 0)
        return cs_error_set(CS_ENOTSTORE, "%s is not a capstream store", dir);
    return 0;
}

int cs_msgreader_open(const char *store_dir, cs_msgreader **out)
{
    cs_msgreader *r;
    size_t len;
    int rc;

    *out = NULL;
    if ((rc = check_store(store_dir)) < 0)
        return rc;
    if ((r = cs_calloc(1, sizeof(*r))) == NULL)
        return CS_ENOMEM;
    len = strlen(store_dir) + sizeof("/messages");
    if ((r->dir = cs_malloc(len)) == NULL) {
        cs_free(r);
        return CS_ENOMEM;
    }
    snprintf(r->dir, len, "%s/messages", store_dir);
    r->partitions = cs_store_dir_partitions(store_dir);
    *out = r;
    return 0;
}

void cs_msgreader_close(cs_msgreader *r)
{
    if (r == NULL)
        return;
    decoder_free(&r->dec);
    cs_free(r->sb.buf);
    cs_free(r->files);
    cs_free(r->dir);
    cs_free(r);
}

static int rfile_cmp(const void *a, const void *b)
{
    const rfile *x = a, *y = b;

    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    return x->kind - y->kind;
}

/* Lists the published files of kind "kind" in file id (group) order. */
static int list_files(cs_msgreader *r, int kind)
{
    DIR *d = opendir(r->dir);
    struct dirent *e;
    int k, tmp, rc = 0;
    uint32_t seg;

    r->n_files = 0;
    if (d == NULL)
        return errno == ENOENT
                   ? 0
                   : cs_error_set(cs_error_from_errno(errno), "%s: %s", r->dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        if (parse_name(e->d_name, &k, &seg, &tmp) < 0 || tmp || k != kind)
            continue;
        if (cs_grow((void **)&r->files, &r->files_cap, r->n_files + 1, sizeof(*r->files)) < 0) {
            rc = CS_ENOMEM;
            break;
        }
        r->files[r->n_files++] = (rfile){seg, k};
    }
    closedir(d);
    if (r->n_files > 1)
        qsort(r->files, r->n_files, sizeof(*r->files), rfile_cmp);
    return rc;
}

/*
 * ---- file summaries ------------------------------------------------------
 *
 * How it works. Counting the records of a file, or knowing which times it
 * holds, needs a pass over it (records have no fixed size and files no
 * index). A process that asks again and again (the daemon's API) keeps,
 * per file, what the last pass saw: records, the offset after the last
 * good record, the first and last record time, and where the last record
 * starts with its checksum. The table is process-wide, behind a mutex, and
 * keyed by (device, inode, kind), so any reader of any store shares it.
 *
 *   stat(file) ─► entry with this size and mtime ──► use it as is
 *             └─► entry, file grew, its last record ─► read only the tail
 *                 still there (same offset + check)    from valid_end on
 *             └─► otherwise ───────────────────────► full pass
 *
 * Message files are only appended to, or replaced by rename (a new inode);
 * the writer's cut of a torn tail shrinks the file (a full pass again). An
 * inode reused by another file fails the last-record check. The table
 * holds at most SUM_CAP entries and is emptied when it fills. A query that
 * reads a whole file anyway fills in its summary as a by-product, so the
 * first time-filtered query costs one pass, the next ones skip the files
 * outside their range.
 *
 * Key filters. The same passes also note every record's key (a message's
 * key, a measurement's key) in the file's key filter, so that a lookup by
 * key (?key=) opens only the files that may hold it. A key filter is a
 * list of Bloom filters ("blocks") of KF_BITS bits, each taking the next
 * KF_BLOCK_KEYS keys of the file; a tail read extends the last block or
 * adds one, so a growing file never needs a rebuild:
 *
 *   fsum.kf ──► [ block 0: keys 1..4096 ][ block 1: 4097..8192 ][ block 2 ...
 *               each KF_BITS bits; key k sets bits (h1 + i*h2) mod KF_BITS,
 *               i < KF_PROBES, where h1 | h2 << 32 = cs_hash64(k, KF_SEED)
 *
 * A key is absent from the file if some probe of every block is clear.
 * With 16 bits a key and 11 probes a block answers "maybe" for an absent
 * key with probability (1 - e^(-11/16))^11 ~ 0.05 %, a file of 40,000
 * keys (10 blocks) ~ 0.5 %. Memory: 2 bytes a stored key. A filter
 * belongs to its table entry; callers get copies of an entry without it
 * (kf.ok = 0) and ask sum_may_hold_key(), which tests it under the lock.
 * A filter is trusted only while its entry matches the file's current
 * size and mtime; a filter that could not be allocated is marked not ok
 * and the file is then always read.
 */
#define SUM_CAP 8192 /* power of two */
#define KF_BITS (1u << 16)
#define KF_WORDS (KF_BITS / 64)
#define KF_BLOCK_KEYS 4096
#define KF_PROBES 11
#define KF_SEED 0x6b657966696c7472ull

typedef struct keyfilter {
    uint64_t *words; /* n_blocks * KF_WORDS, cs_malloc'ed */
    size_t n_blocks;
    uint32_t last_keys; /* keys in the last block */
    int ok;             /* holds every key of the records summarized */
} keyfilter;

typedef struct fsum {
    uint64_t dev, ino;
    int kind; /* K_*; -1 = free slot */
    uint64_t size;
    int64_t mtime_ns;
    uint64_t valid_end;  /* offset after the last good record */
    uint64_t last_off;   /* offset of the last good record (0: none) */
    uint64_t last_check; /* its checksum */
    uint64_t records;
    int64_t min_ts, max_ts; /* INT64_MAX / INT64_MIN when no record */
    int torn;
    keyfilter kf; /* owned by the table entry; ok = 0 in callers' copies */
} fsum;

static void kf_free(keyfilter *kf)
{
    cs_free(kf->words);
    memset(kf, 0, sizeof(*kf));
}

/* A copy of "src" into "dst" (not ok if it cannot be allocated). */
static void kf_dup(keyfilter *dst, const keyfilter *src)
{
    size_t bytes = src->n_blocks * KF_WORDS * sizeof(uint64_t);

    memset(dst, 0, sizeof(*dst));
    if (!src->ok || (bytes > 0 && (dst->words = cs_malloc(bytes)) == NULL))
        return;
    if (bytes > 0)
        memcpy(dst->words, src->words, bytes);
    dst->n_blocks = src->n_blocks;
    dst->last_keys = src->last_keys;
    dst->ok = 1;
}

static uint64_t kf_hash(const uint8_t *key, size_t len)
{
    return cs_hash64(key, len, KF_SEED);
}

/* Does block "w" have every probe bit of hash "h" set? */
static int kf_block_has(const uint64_t *w, uint64_t h)
{
    uint32_t h1 = (uint32_t)h, h2 = (uint32_t)(h >> 32) | 1u;

    for (uint32_t i = 0; i < KF_PROBES; i++) {
        uint32_t bit = (h1 + i * h2) & (KF_BITS - 1);

        if (!(w[bit / 64] & (1ull << (bit % 64))))
            return 0;
    }
    return 1;
}

/* Notes the key of hash "h"; a failed allocation makes the filter not ok. */
static void kf_add(keyfilter *kf, uint64_t h)
{
    uint32_t h1 = (uint32_t)h, h2 = (uint32_t)(h >> 32) | 1u;
    uint64_t *w;

    if (!kf->ok)
        return;
    if (kf->n_blocks == 0 || kf->last_keys == KF_BLOCK_KEYS) {
        size_t words = (kf->n_blocks + 1) * KF_WORDS;

        if ((w = cs_realloc(kf->words, words * sizeof(*w))) == NULL) {
            kf_free(kf);
            return;
        }
        memset(w + kf->n_blocks * KF_WORDS, 0, KF_WORDS * sizeof(*w));
        kf->words = w;
        kf->n_blocks++;
        kf->last_keys = 0;
    }
    w = kf->words + (kf->n_blocks - 1) * KF_WORDS;
    for (uint32_t i = 0; i < KF_PROBES; i++) {
        uint32_t bit = (h1 + i * h2) & (KF_BITS - 1);

        w[bit / 64] |= 1ull << (bit % 64);
    }
    kf->last_keys++;
}

/* 0 if "kf" proves that no key of hash "h" was added, else 1. */
static int kf_may_hold(const keyfilter *kf, uint64_t h)
{
    if (!kf->ok)
        return 1;
    for (size_t b = 0; b < kf->n_blocks; b++)
        if (kf_block_has(kf->words + b * KF_WORDS, h))
            return 1;
    return 0;
}

/* The key of a record payload "p" of "n" bytes of kind "kind" (a message's
 * or a measurement's); 0 with "*key", "*len", or -1 if it has none. */
static int record_key(int kind, const uint8_t *p, size_t n, const uint8_t **key, size_t *len)
{
    size_t at, klen;

    if (kind == K_LAT) {
        if (n < LAT_FIXED)
            return -1;
        at = LAT_FIXED + (size_t)p[56];
        klen = cs_rd_le32(p + 60);
    } else {
        if (n < MSG_FIXED)
            return -1;
        at = MSG_FIXED + (size_t)p[43] + cs_rd_le16(p + 56);
        klen = cs_rd_le32(p + 52);
    }
    if (klen == 0 || at > n || klen > n - at)
        return -1;
    *key = p + at;
    *len = klen;
    return 0;
}

static pthread_mutex_t sum_lock = PTHREAD_MUTEX_INITIALIZER;
static fsum *sum_tab; /* SUM_CAP slots, allocated on first use */
static size_t sum_used;

static size_t sum_slot(uint64_t dev, uint64_t ino, int kind)
{
    uint64_t h = (dev * 0x9e3779b97f4a7c15ull) ^ (ino * 0xc2b2ae3d27d4eb4full) ^ (uint64_t)kind;

    return (size_t)(h ^ (h >> 29)) & (SUM_CAP - 1);
}

/* The slot of (dev, ino, kind), or the free slot where it would go; NULL
 * if the table cannot be allocated. Call with sum_lock held. */
static fsum *sum_find(uint64_t dev, uint64_t ino, int kind)
{
    size_t i;

    if (sum_tab == NULL) {
        if ((sum_tab = cs_calloc(SUM_CAP, sizeof(*sum_tab))) == NULL)
            return NULL;
        for (i = 0; i < SUM_CAP; i++)
            sum_tab[i].kind = -1;
    }
    for (i = sum_slot(dev, ino, kind);; i = (i + 1) & (SUM_CAP - 1)) {
        fsum *e = &sum_tab[i];

        if (e->kind < 0 || (e->dev == dev && e->ino == ino && e->kind == kind))
            return e;
    }
}

/* Stores "*v" in the table, which takes over its key filter ("v->kf" is
 * then not ok: the caller's copy no longer owns it). */
static void sum_store(fsum *v)
{
    fsum *e;

    pthread_mutex_lock(&sum_lock);
    if (sum_used >= SUM_CAP * 3 / 4 && sum_tab) {
        for (size_t i = 0; i < SUM_CAP; i++) {
            if (sum_tab[i].kind >= 0)
                kf_free(&sum_tab[i].kf);
            sum_tab[i].kind = -1;
        }
        sum_used = 0;
    }
    if ((e = sum_find(v->dev, v->ino, v->kind)) != NULL) {
        if (e->kind >= 0)
            kf_free(&e->kf);
        sum_used += e->kind < 0;
        *e = *v;
    } else
        kf_free(&v->kf);
    memset(&v->kf, 0, sizeof(v->kf));
    pthread_mutex_unlock(&sum_lock);
}

static int64_t st_mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Does the table entry "e" describe the file as "st" shows it now? */
static int sum_current(const fsum *e, const struct stat *st)
{
    return e->size == (uint64_t)st->st_size && e->mtime_ns == st_mtime_ns(st);
}

/*
 * 1 with "*out" if the table has an entry for this file, else 0. The copy
 * carries a key filter only if "dup_stale" and the entry is not current
 * (the caller is about to extend it by the file's new tail).
 */
static int sum_lookup(const struct stat *st, int kind, int dup_stale, fsum *out)
{
    fsum *e;
    int found = 0;

    pthread_mutex_lock(&sum_lock);
    e = sum_tab ? sum_find((uint64_t)st->st_dev, (uint64_t)st->st_ino, kind) : NULL;
    if (e && e->kind >= 0) {
        *out = *e;
        if (dup_stale && !sum_current(e, st))
            kf_dup(&out->kf, &e->kf);
        else
            memset(&out->kf, 0, sizeof(out->kf));
        found = 1;
    }
    pthread_mutex_unlock(&sum_lock);
    return found;
}

/* 0 if the current summary of the file "st" proves it holds no record
 * with key hash "h"; 1 if it may (or nothing is known). */
static int sum_may_hold_key(const struct stat *st, int kind, uint64_t h)
{
    fsum *e;
    int may = 1;

    pthread_mutex_lock(&sum_lock);
    e = sum_tab ? sum_find((uint64_t)st->st_dev, (uint64_t)st->st_ino, kind) : NULL;
    if (e && e->kind >= 0 && sum_current(e, st))
        may = kf_may_hold(&e->kf, h);
    pthread_mutex_unlock(&sum_lock);
    return may;
}

static void sum_reset(fsum *v, const struct stat *st, int kind)
{
    memset(v, 0, sizeof(*v));
    v->dev = (uint64_t)st->st_dev;
    v->ino = (uint64_t)st->st_ino;
    v->kind = kind;
    v->min_ts = INT64_MAX;
    v->max_ts = INT64_MIN;
    v->kf.ok = 1; /* empty, and complete for the no records seen */
}

/* Notes one good frame (payload "p", "n" bytes) of a file being summarized. */
static void sum_frame(fsum *v, const scanbuf *sb, const uint8_t *p, size_t n)
{
    size_t ts_at = v->kind == K_LAT ? 24 : 8, fixed = v->kind == K_LAT ? LAT_FIXED : MSG_FIXED;
    const uint8_t *key;
    size_t klen;

    if (v->kf.ok && record_key(v->kind, p, n, &key, &klen) == 0)
        kf_add(&v->kf, kf_hash(key, klen));
    v->records++;
    v->last_off = frame_offset(sb, p);
    v->last_check = cs_rd_le64(p - FRAME_HDR + 4);
    if (n >= fixed) {
        int64_t ts = (int64_t)cs_rd_le64(p + ts_at);

        v->min_ts = ts < v->min_ts ? ts : v->min_ts;
        v->max_ts = ts > v->max_ts ? ts : v->max_ts;
    }
}

/* Is the last record the summary "v" saw still at its place in "fd"? */
static int sum_prefix_holds(int fd, const fsum *v)
{
    uint8_t hdr[FRAME_HDR];

    if (v->last_off == 0)
        return v->valid_end == MAGIC_LEN;
    return pread(fd, hdr, sizeof(hdr), (off_t)v->last_off) == (ssize_t)sizeof(hdr) &&
           cs_rd_le64(hdr + 4) == v->last_check &&
           v->last_off + FRAME_HDR + cs_rd_le32(hdr) == v->valid_end;
}

/* A query's frame callback wrapped so that the pass also summarizes. */
typedef struct sum_pass {
    fsum v;
    const scanbuf *sb;
    frame_fn fn;
    void *ud;
    int summarize; /* 0: only pass the frames on */
} sum_pass;

static int sum_pass_frame(void *ud, const uint8_t *p, size_t n)
{
    sum_pass *sp = ud;

    if (sp->summarize)
        sum_frame(&sp->v, sp->sb, p, n);
    return sp->fn ? sp->fn(sp->ud, p, n) : 0;
}

/*
 * Brings the summary of the open file "fd" (kind "kind", stat "st") up to
 * date into "*v": from the table, by reading only its new tail, or (when
 * "full_ok") by a full pass. Returns 1 if "*v" is valid, 0 if a full pass
 * would be needed and "full_ok" is 0, negative on a read error.
 */
static int summarize_fd(int fd, const struct stat *st, int kind, scanbuf *sb, int full_ok, fsum *v)
{
    sum_pass sp = {.sb = sb, .summarize = 1};
    scan_result res;
    int known = sum_lookup(st, kind, 1, &sp.v), rc;

    if (known && sum_current(&sp.v, st)) {
        *v = sp.v;
        return 1;
    }
    /* ">=": a pass that read past the size it was stat'ed at (the file grew
     * meanwhile) left valid_end at the size seen now; only mtime moved */
    if (known && (uint64_t)st->st_size >= sp.v.valid_end && sum_prefix_holds(fd, &sp.v))
        rc = scan_fd(fd, kind, sb, sp.v.valid_end, sum_pass_frame, &sp, &res);
    else if (full_ok) {
        kf_free(&sp.v.kf);
        sum_reset(&sp.v, st, kind);
        rc = scan_fd(fd, kind, sb, 0, sum_pass_frame, &sp, &res);
    } else {
        kf_free(&sp.v.kf);
        return 0;
    }
    if (rc < 0 && rc != CS_ECORRUPT) {
        kf_free(&sp.v.kf);
        return rc;
    }
    sp.v.valid_end = res.valid_end;
    sp.v.torn = res.torn || rc == CS_ECORRUPT;
    sp.v.size = (uint64_t)st->st_size;
    sp.v.mtime_ns = st_mtime_ns(st);
    sum_store(&sp.v);
    *v = sp.v;
    return 1;
}

/* What a scan may use to skip files: records with after <= ts < before,
 * and (if "key" is not NULL or empty) with that exact key. */
typedef struct scan_hint {
    int64_t after, before;
    const char *key;
} scan_hint;

static int hint_has_range(const scan_hint *h)
{
    return h != NULL && (h->after != INT64_MIN || h->before != INT64_MAX);
}

static int hint_has_key(const scan_hint *h)
{
    return h != NULL && h->key != NULL && h->key[0] != '\0';
}

/* Can the file summarized by "v" (stat "st") hold a record "h" asks for? */
static int sum_may_match(const fsum *v, const struct stat *st, const scan_hint *h)
{
    if (v->records == 0 || v->max_ts < h->after || v->min_ts >= h->before)
        return 0;
    return !hint_has_key(h) ||
           sum_may_hold_key(st, v->kind, kf_hash((const uint8_t *)h->key, strlen(h->key)));
}

/*
 * Streams the file (kind, seg) through "fn"; a missing file is empty. With
 * a range or a key in "h", a file whose summary (and key filter) says it
 * holds nothing asked for is skipped; a whole pass over a file not yet
 * summarized also fills in its summary and key filter.
 */
static int scan_file(cs_msgreader *r, int kind, uint32_t seg, frame_fn fn, void *ud,
                     scan_result *res, const scan_hint *h)
{
    char path[PATH_MAX_LEN];
    struct stat st;
    sum_pass sp = {.sb = &r->sb, .fn = fn, .ud = ud};
    fsum v;
    int fd, rc, known = 0;
    int use_sum = hint_has_range(h) || hint_has_key(h);

    memset(res, 0, sizeof(*res));
    file_path(path, r->dir, kind, seg, 0);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT
                   ? 0
                   : cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    r->cur_seg = seg;
    if (fstat(fd, &st) < 0) {
        rc = cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
        goto out;
    }
    if (use_sum && (known = summarize_fd(fd, &st, kind, &r->sb, 0, &v)) < 0) {
        rc = known;
        goto out;
    }
    if (known && !sum_may_match(&v, &st, h)) {
        rc = 0; /* nothing asked for in this file */
        goto out;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    sp.summarize = !known;
    if (sp.summarize)
        sum_reset(&sp.v, &st, kind);
    rc = scan_fd(fd, kind, &r->sb, 0, sum_pass_frame, &sp, res);
    if (rc >= 0 && !res->stopped && sp.summarize) {
        sp.v.valid_end = res->valid_end;
        sp.v.torn = res->torn;
        sp.v.size = (uint64_t)st.st_size;
        sp.v.mtime_ns = st_mtime_ns(&st);
        sum_store(&sp.v);
    }
    kf_free(&sp.v.kf);
    if (rc == CS_ECORRUPT)
        rc = 0; /* a foreign file serves nothing */
    if (res->torn)
        r->torn++;
out:
    close(fd);
    return rc;
}

/* Streams every file of "kind" through "fn", in file id order, skipping
 * the files that hold nothing "h" asks for (NULL: none skipped). */
static int scan_all(cs_msgreader *r, int kind, frame_fn fn, void *ud, const scan_hint *h)
{
    scan_result res;
    int rc;

    if ((rc = list_files(r, kind)) < 0)
        return rc;
    for (size_t i = 0; i < r->n_files; i++) {
        if ((rc = scan_file(r, kind, r->files[i].seg, fn, ud, &res, h)) < 0)
            return rc;
        if (res.stopped)
            break;
    }
    return 0;
}

void cs_msgfilter_init(cs_msgfilter *f)
{
    memset(f, 0, sizeof(*f));
    f->after = INT64_MIN;
    f->before = INT64_MAX;
}

void cs_latfilter_init(cs_latfilter *f)
{
    memset(f, 0, sizeof(*f));
    f->after = INT64_MIN;
    f->before = INT64_MAX;
    f->min_latency_ns = INT64_MIN;
}

static int str_is(cs_str s, const char *want)
{
    size_t n = strlen(want);

    return s.len == n && (n == 0 || memcmp(s.p, want, n) == 0);
}

typedef struct msg_scan {
    cs_msgreader *r;
    const cs_msgfilter *f;
    cs_msg_fn mfn;
    cs_unm_fn ufn;
    void *ud;
    uint64_t emitted;
    cs_msgid want_id; /* find: only this id */
    int find, found;
} msg_scan;

static int msg_matches(const msg_scan *s, const cs_message *m)
{
    const cs_msgfilter *f = s->f;

    if (s->find)
        return m->id == s->want_id;
    if (f == NULL)
        return 1;
    if (m->ts_ns < f->after || m->ts_ns >= f->before)
        return 0;
    if (f->proto && strcmp(m->proto, f->proto) != 0)
        return 0;
    if (f->type && !str_is(m->type, f->type))
        return 0;
    return f->key == NULL || str_is(m->key, f->key);
}

static int msg_frame(void *ud, const uint8_t *p, size_t n)
{
    msg_scan *s = ud;
    cs_message m;
    msg_head h;
    int rc;

    if (s->find && (n < 8 || cs_rd_le64(p) != s->want_id))
        return 0;
    if (decode_msg_head(p, n, &s->r->dec, &m, &h) < 0 || !msg_matches(s, &m))
        return 0;
    if ((rc = decode_msg_body(&s->r->dec, &m, &h)) != 0)
        return rc < -1 ? rc : 0;
    s->emitted++;
    s->found = 1;
    rc = s->ufn ? s->ufn(s->ud, &m, h.kind) : s->mfn(s->ud, &m);
    if (rc != 0 || s->find)
        return 1;
    return s->f && s->f->limit && s->emitted >= s->f->limit;
}

int cs_msgreader_messages(cs_msgreader *r, const cs_msgfilter *f, cs_msg_fn fn, void *ud)
{
    msg_scan s = {.r = r, .f = f, .mfn = fn, .ud = ud};
    scan_hint h = {f ? f->after : INT64_MIN, f ? f->before : INT64_MAX, f ? f->key : NULL};

    return scan_all(r, K_MSG, msg_frame, &s, &h);
}

int cs_msgreader_unmatched(cs_msgreader *r, const cs_msgfilter *f, cs_unm_fn fn, void *ud)
{
    msg_scan s = {.r = r, .f = f, .ufn = fn, .ud = ud};
    scan_hint h = {f ? f->after : INT64_MIN, f ? f->before : INT64_MAX, f ? f->key : NULL};

    return scan_all(r, K_UNM, msg_frame, &s, &h);
}

int cs_msgreader_find_message(cs_msgreader *r, cs_msgid id, cs_msg_fn fn, void *ud)
{
    msg_scan s = {.r = r, .mfn = fn, .ud = ud, .want_id = id, .find = 1};
    scan_result res;
    char buf[40];
    int rc;

    if ((rc = scan_file(r, K_MSG, cs_msgstore_file_seg(id, r->partitions), msg_frame, &s, &res,
                        NULL)) < 0)
        return rc;
    if (!s.found)
        return cs_error_set(CS_ENOTFOUND, "no message %s in the store", cs_id_format('m', id, buf));
    return 0;
}

/* ---- measurements -------------------------------------------------------- */

/*
 * Sorted measurement queries. How it works: a page of the slowest (or
 * earliest) measurements of millions must not hold millions in memory.
 *
 *   pass 1: scan the files (skipping those outside the time range); each
 *           matching record becomes a 40-byte pick (its sort key, id, file
 *           and offset). With a limit, the picks are a max-heap of
 *           k = offset + limit entries whose root is the last in sort order:
 *           a record that does not sort before the root is dropped, one
 *           that does replaces it. Memory O(k), time O(n log k).
 *   pass 2: sort the picks; for picks [offset, k), FETCH_CHUNK at a time,
 *           read their records back by (file, offset) order (one pread per
 *           window of neighbouring records), check them (length, checksum,
 *           id) and call the callback in sort order.
 *
 * A record that is gone by pass 2 (its file replaced by a reanalysis in
 * between) is left out of the reply.
 */
#define FETCH_CHUNK 1024
#define FETCH_WINDOW (64u << 10)

typedef struct lat_pick {
    int64_t latency_ns, ts_ns;
    uint64_t id;
    uint64_t off; /* frame offset in its file */
    uint32_t seg;
    uint32_t rank; /* position within the chunk being fetched */
} lat_pick;

typedef struct lat_scan {
    cs_msgreader *r;
    const cs_latfilter *f;
    cs_lat_fn fn;
    void *ud;
    uint64_t emitted, skipped;
    cs_msgid want_id;
    int find, found;
    /* sorting */
    lat_pick *picks;
    size_t n_picks, picks_cap, k; /* k = 0: unbounded */
    /* fetching */
    uint8_t *win;
    size_t win_cap, win_len;
    uint64_t win_base;
    uint8_t *arena;
    size_t arena_len, arena_cap;
    size_t rec_at[FETCH_CHUNK], rec_len[FETCH_CHUNK];
    /* stats */
    cs_latstats *stats;
    size_t n_stats, stats_cap;
} lat_scan;

static int lat_matches(const lat_scan *s, const cs_measurement *ms)
{
    const cs_latfilter *f = s->f;

    if (s->find)
        return ms->id == s->want_id;
    if (f == NULL)
        return 1;
    if (ms->req_ts_ns < f->after || ms->req_ts_ns >= f->before ||
        ms->latency_ns < f->min_latency_ns)
        return 0;
    if (f->pair && strcmp(ms->pair, f->pair) != 0)
        return 0;
    return f->key == NULL || str_is(ms->key, f->key);
}

/* Does "a" come before "b" in sort order "sort"? */
static int pick_before(int sort, const lat_pick *a, const lat_pick *b)
{
    if (sort == CS_LATSORT_LATENCY && a->latency_ns != b->latency_ns)
        return a->latency_ns > b->latency_ns;
    if (a->ts_ns != b->ts_ns)
        return a->ts_ns < b->ts_ns;
    return a->id < b->id;
}

static int cmp_pick_time(const void *a, const void *b)
{
    return pick_before(CS_LATSORT_TIME, a, b) ? -1 : pick_before(CS_LATSORT_TIME, b, a);
}

static int cmp_pick_latency(const void *a, const void *b)
{
    return pick_before(CS_LATSORT_LATENCY, a, b) ? -1 : pick_before(CS_LATSORT_LATENCY, b, a);
}

static int cmp_pick_place(const void *a, const void *b)
{
    const lat_pick *x = a, *y = b;

    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

static void swap_picks(lat_pick *a, lat_pick *b)
{
    lat_pick t = *a;

    *a = *b;
    *b = t;
}

/* Restores the heap (root = last in sort order) after the root changed. */
static void heap_down(lat_pick *h, size_t n, int sort)
{
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;

        if (l < n && pick_before(sort, &h[m], &h[l]))
            m = l;
        if (r < n && pick_before(sort, &h[m], &h[r]))
            m = r;
        if (m == i)
            return;
        swap_picks(&h[i], &h[m]);
        i = m;
    }
}

static void heap_up(lat_pick *h, size_t i, int sort)
{
    while (i > 0 && pick_before(sort, &h[(i - 1) / 2], &h[i])) {
        swap_picks(&h[(i - 1) / 2], &h[i]);
        i = (i - 1) / 2;
    }
}

/* Keeps "p" if it is among the first k in sort order seen so far. */
static int lat_pick_add(lat_scan *s, const lat_pick *p)
{
    int sort = s->f->sort;

    if (s->k && s->n_picks == s->k) {
        if (pick_before(sort, p, &s->picks[0])) {
            s->picks[0] = *p;
            heap_down(s->picks, s->n_picks, sort);
        }
        return 0;
    }
    if (cs_grow((void **)&s->picks, &s->picks_cap, s->n_picks + 1, sizeof(*s->picks)) < 0)
        return CS_ENOMEM;
    s->picks[s->n_picks++] = *p;
    if (s->k)
        heap_up(s->picks, s->n_picks - 1, sort);
    return 0;
}

static int lat_stat(lat_scan *s, const cs_measurement *ms)
{
    cs_latstats *st = NULL;

    for (size_t i = 0; i < s->n_stats && st == NULL; i++)
        if (strncmp(s->stats[i].pair, ms->pair, sizeof(st->pair) - 1) == 0)
            st = &s->stats[i];
    if (st == NULL) {
        if (cs_grow((void **)&s->stats, &s->stats_cap, s->n_stats + 1, sizeof(*s->stats)) < 0)
            return CS_ENOMEM;
        st = &s->stats[s->n_stats++];
        cs_hist_init(&st->hist);
        snprintf(st->pair, sizeof(st->pair), "%s", ms->pair);
    }
    cs_hist_record(&st->hist, ms->latency_ns);
    return 0;
}

static int lat_frame(void *ud, const uint8_t *p, size_t n)
{
    lat_scan *s = ud;
    cs_measurement ms;
    int rc;

    if (s->find && (n < 8 || cs_rd_le64(p) != s->want_id))
        return 0;
    if (decode_measurement(p, n, &s->r->dec, &ms) < 0 || !lat_matches(s, &ms))
        return 0;
    s->found = 1;
    if (s->f && s->f->sort == -1)
        return lat_stat(s, &ms);
    if (!s->find && s->f && s->f->sort != CS_LATSORT_STORE) {
        lat_pick pk = {
            ms.latency_ns, ms.req_ts_ns, ms.id, frame_offset(&s->r->sb, p), s->r->cur_seg, 0};
        return lat_pick_add(s, &pk);
    }
    if (!s->find && s->f && s->skipped < s->f->offset) {
        s->skipped++;
        return 0;
    }
    s->emitted++;
    if ((rc = s->fn(s->ud, &ms)) != 0 || s->find)
        return 1;
    return s->f && s->f->limit && s->emitted >= s->f->limit;
}

/* Points "*payload" at the checked record of pick "pk" in file "fd"; 0 if
 * it is there, 1 if it is gone, negative on error. */
static int fetch_frame(lat_scan *s, int fd, const lat_pick *pk, const uint8_t **payload, size_t *n)
{
    uint64_t end = s->win_base + s->win_len;
    ssize_t got;
    uint32_t len;
    const uint8_t *f;

    if (pk->off < s->win_base || pk->off + FRAME_HDR > end) {
        if (cs_grow((void **)&s->win, &s->win_cap, FETCH_WINDOW, 1) < 0)
            return CS_ENOMEM;
        if ((got = pread(fd, s->win, FETCH_WINDOW, (off_t)pk->off)) < 0)
            return cs_error_set(CS_EIO, "reading measurements: %s", strerror(errno));
        s->win_base = pk->off;
        s->win_len = (size_t)got;
    }
    f = s->win + (pk->off - s->win_base);
    if (pk->off + FRAME_HDR > s->win_base + s->win_len)
        return 1;
    len = cs_rd_le32(f);
    if (len < MIN_PAYLOAD || len > REC_MAX)
        return 1;
    if (pk->off + FRAME_HDR + len > s->win_base + s->win_len) {
        if (cs_grow((void **)&s->win, &s->win_cap, FRAME_HDR + (size_t)len, 1) < 0)
            return CS_ENOMEM;
        if ((got = pread(fd, s->win, FRAME_HDR + (size_t)len, (off_t)pk->off)) < 0)
            return cs_error_set(CS_EIO, "reading measurements: %s", strerror(errno));
        s->win_base = pk->off;
        s->win_len = (size_t)got;
        f = s->win;
        if (s->win_len < FRAME_HDR + (size_t)len)
            return 1;
    }
    if (cs_rd_le64(f + 4) != cs__msgstore_frame_check(f + FRAME_HDR, len) ||
        cs_rd_le64(f + FRAME_HDR) != pk->id)
        return 1;
    *payload = f + FRAME_HDR;
    *n = len;
    return 0;
}

/* Reads the records of "picks"[0..m) (sorted by place) into the arena. */
static int fetch_chunk(lat_scan *s, lat_pick *picks, size_t m)
{
    char path[PATH_MAX_LEN];
    int fd = -1, rc = 0;
    uint32_t fd_seg = 0;

    s->arena_len = 0;
    for (size_t i = 0; i < m && rc >= 0; i++) {
        const uint8_t *p = NULL;
        size_t n = 0;

        s->rec_len[picks[i].rank] = 0;
        if (fd < 0 || fd_seg != picks[i].seg) {
            if (fd >= 0)
                close(fd);
            fd_seg = picks[i].seg;
            s->win_len = 0;
            file_path(path, s->r->dir, K_LAT, fd_seg, 0);
            if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                continue; /* gone: its records are left out */
        }
        if ((rc = fetch_frame(s, fd, &picks[i], &p, &n)) != 0)
            continue;
        if (cs_grow((void **)&s->arena, &s->arena_cap, s->arena_len + n, 1) < 0) {
            rc = CS_ENOMEM;
            break;
        }
        memcpy(s->arena + s->arena_len, p, n);
        s->rec_at[picks[i].rank] = s->arena_len;
        s->rec_len[picks[i].rank] = n;
        s->arena_len += n;
    }
    if (fd >= 0)
        close(fd);
    return rc < 0 ? rc : 0;
}

/* Pass 2: the picks [offset, end) in sort order through the callback. */
static int lat_emit_sorted(lat_scan *s)
{
    lat_pick chunk[FETCH_CHUNK];
    size_t first = s->f->offset < s->n_picks ? (size_t)s->f->offset : s->n_picks;
    int rc;

    if (s->n_picks == 0)
        return 0;
    qsort(s->picks, s->n_picks, sizeof(*s->picks),
          s->f->sort == CS_LATSORT_LATENCY ? cmp_pick_latency : cmp_pick_time);
    for (size_t at = first; at < s->n_picks; at += FETCH_CHUNK) {
        size_t m = s->n_picks - at < FETCH_CHUNK ? s->n_picks - at : FETCH_CHUNK;

        for (size_t i = 0; i < m; i++) {
            chunk[i] = s->picks[at + i];
            chunk[i].rank = (uint32_t)i;
        }
        qsort(chunk, m, sizeof(*chunk), cmp_pick_place);
        if ((rc = fetch_chunk(s, chunk, m)) < 0)
            return rc;
        for (size_t i = 0; i < m; i++) {
            cs_measurement ms;

            if (s->rec_len[i] == 0 ||
                decode_measurement(s->arena + s->rec_at[i], s->rec_len[i], &s->r->dec, &ms) < 0)
                continue;
            if (s->fn(s->ud, &ms) != 0)
                return 0;
        }
    }
    return 0;
}

int cs_msgreader_measurements(cs_msgreader *r, const cs_latfilter *f, cs_lat_fn fn, void *ud)
{
    lat_scan s = {.r = r, .f = f, .fn = fn, .ud = ud};
    scan_hint h = {f ? f->after : INT64_MIN, f ? f->before : INT64_MAX, f ? f->key : NULL};
    int rc;

    if (f && f->limit && f->offset <= SIZE_MAX / 2 && f->limit <= SIZE_MAX / 2)
        s.k = (size_t)(f->offset + f->limit);
    rc = scan_all(r, K_LAT, lat_frame, &s, &h);
    if (rc == 0 && f && f->sort != CS_LATSORT_STORE)
        rc = lat_emit_sorted(&s);
    cs_free(s.picks);
    cs_free(s.win);
    cs_free(s.arena);
    return rc;
}

static int cmp_stats(const void *a, const void *b)
{
    return strcmp(((const cs_latstats *)a)->pair, ((const cs_latstats *)b)->pair);
}

int cs_msgreader_lat_stats(cs_msgreader *r, const cs_latfilter *f, cs_latstats **out, size_t *n)
{
    cs_latfilter sf;
    lat_scan s = {.r = r, .f = &sf};
    int rc;

    *out = NULL;
    *n = 0;
    if (f)
        sf = *f;
    else
        cs_latfilter_init(&sf);
    sf.sort = -1; /* collect histograms */
    sf.limit = 0;
    rc = scan_all(r, K_LAT, lat_frame, &s, &(scan_hint){sf.after, sf.before, sf.key});
    if (rc < 0) {
        cs_free(s.stats);
        return rc;
    }
    if (s.n_stats > 1)
        qsort(s.stats, s.n_stats, sizeof(*s.stats), cmp_stats);
    *out = s.stats;
    *n = s.n_stats;
    return 0;
}

int cs_msgreader_find_measurement(cs_msgreader *r, cs_msgid id, cs_lat_fn fn, void *ud)
{
    lat_scan s = {.r = r, .fn = fn, .ud = ud, .want_id = id, .find = 1};
    scan_result res;
    char buf[40];
    int rc;

    if ((rc = scan_file(r, K_LAT, cs_msgstore_file_seg(id, r->partitions), lat_frame, &s, &res,
                        NULL)) < 0)
        return rc;
    if (!s.found)
        return cs_error_set(CS_ENOTFOUND, "no measurement %s in the store",
                            cs_id_format('l', id, buf));
    return 0;
}

/* ---- info and raw images ------------------------------------------------- */

/* Counts from the file summaries: each file is read only as far as it is
 * new since the last call in this process (see "file summaries"). */
static int info_file(cs_msgreader *r, int kind, uint32_t seg, fsum *v)
{
    char path[PATH_MAX_LEN];
    struct stat st;
    int fd, rc;

    file_path(path, r->dir, kind, seg, 0);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno == ENOENT
                   ? 0
                   : cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0)
        rc = cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    else
        rc = summarize_fd(fd, &st, kind, &r->sb, 1, v);
    close(fd);
    return rc;
}

int cs_msgreader_info(cs_msgreader *r, cs_msgstore_info *info)
{
    uint64_t *counts[N_KINDS] = {&info->messages, &info->measurements, &info->unmatched};
    fsum v;
    int rc;

    memset(info, 0, sizeof(*info));
    for (int k = 0; k < N_KINDS; k++) {
        if ((rc = list_files(r, k)) < 0)
            return rc;
        for (size_t i = 0; i < r->n_files; i++) {
            if ((rc = info_file(r, k, r->files[i].seg, &v)) < 0)
                return rc;
            if (rc == 0)
                continue; /* removed meanwhile */
            *counts[k] += v.records;
            info->files++;
            info->bytes += v.valid_end;
            info->torn_tails += (uint64_t)v.torn;
        }
    }
    return 0;
}

typedef struct image_scan {
    decoder dec;
    int kind;
    cs_msg_fn mfn;
    cs_lat_fn lfn;
    cs_unm_fn ufn;
    void *ud;
} image_scan;

static int image_frame(void *ud, const uint8_t *p, size_t n)
{
    image_scan *s = ud;
    cs_message m;
    cs_measurement ms;
    msg_head h;
    int rc;

    if (s->kind == K_LAT) {
        if (decode_measurement(p, n, &s->dec, &ms) < 0 || s->lfn == NULL)
            return 0;
        return s->lfn(s->ud, &ms);
    }
    if (decode_msg_head(p, n, &s->dec, &m, &h) < 0)
        return 0;
    if ((rc = decode_msg_body(&s->dec, &m, &h)) != 0)
        return rc < -1 ? rc : 0;
    if (s->kind == K_UNM)
        return s->ufn ? s->ufn(s->ud, &m, h.kind) : 0;
    return s->mfn ? s->mfn(s->ud, &m) : 0;
}

int cs_msgstore_parse_image(const uint8_t *data, size_t len, char kind, cs_msg_fn mfn,
                            cs_lat_fn lfn, cs_unm_fn ufn, void *ud, size_t *valid_len)
{
    image_scan s = {.mfn = mfn, .lfn = lfn, .ufn = ufn, .ud = ud};
    size_t used = 0, need;
    int rc;

    if (valid_len)
        *valid_len = 0;
    s.kind = kind == 'l' ? K_LAT : kind == 'u' ? K_UNM : kind == 'm' ? K_MSG : -1;
    if (s.kind < 0)
        return CS_EINVAL;
    if (len < MAGIC_LEN || memcmp(data, kind_magic[s.kind], MAGIC_LEN) != 0)
        return len == 0 ? 0 : CS_ECORRUPT;
    rc = parse_frames(data + MAGIC_LEN, len - MAGIC_LEN, &used, &need, image_frame, &s);
    if (valid_len)
        *valid_len = MAGIC_LEN + used;
    decoder_free(&s.dec);
    return rc < 0 ? rc : 0;
}

/* ---- formatting ------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at "p" (at most "n" bytes), or 0. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    size_t len;
    uint32_t cp;

    if (p[0] < 0xc2 || p[0] > 0xf4)
        return 0;
    len = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
    if (n < len)
        return 0;
    cp = p[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

void cs_msgstore_json_string(FILE *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = (const uint8_t *)s;
    size_t run = 0, i = 0;

    putc('"', out);
    while (i < n) {
        uint8_t c = p[i];
        size_t u = 1;
        char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};

        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80 && (u = utf8_len(p + i, n - i)) > 0) {
            i += u;
            continue;
        }
        fwrite(p + run, 1, i - run, out);
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            esc[2] = 0;
        }
        fputs(esc, out);
        run = ++i;
    }
    fwrite(p + run, 1, n - run, out);
    putc('"', out);
}

char *cs_endpoint_format(const cs_endpoints *ep, int side, char *buf)
{
    char a[46];
    const uint8_t *addr = side ? ep->addr_b : ep->addr_a;
    unsigned port = side ? ep->port_b : ep->port_a;

    cs_addr_format(ep->ip_version, addr, a);
    snprintf(buf, CS_EP_BUFLEN, ep->ip_version == 6 ? "[%s]:%u" : "%s:%u", a, port);
    return buf;
}

static void json_cstr(FILE *out, const char *s)
{
    cs_msgstore_json_string(out, s ? s : "", s ? strlen(s) : 0);
}

static void json_flags(FILE *out, uint32_t flags)
{
    static const char *const names[] = {"bad_checksum", "bad_length", "truncated", "malformed"};
    int first = 1;

    putc('[', out);
    for (unsigned b = 0; b < 32; b++) {
        if (!(flags & (1u << b)))
            continue;
        if (!first)
            putc(',', out);
        first = 0;
        if (b < 4)
            fprintf(out, "\"%s\"", names[b]);
        else
            fprintf(out, "\"flag%u\"", b);
    }
    putc(']', out);
}

void cs_message_json(FILE *out, const cs_message *m)
{
    static const char *const roles[] = {"none", "request", "response"};
    char id[40], src[CS_EP_BUFLEN], dst[CS_EP_BUFLEN];

    cs_endpoint_format(&m->ep, m->dir, src);
    cs_endpoint_format(&m->ep, !m->dir, dst);
    fprintf(out, "{\"id\":\"%s\",\"proto\":", cs_id_format('m', m->id, id));
    json_cstr(out, m->proto);
    fputs(",\"type\":", out);
    cs_msgstore_json_string(out, m->type.p, m->type.len);
    fprintf(out,
            ",\"ts_ns\":%lld,\"last_ts_ns\":%lld,\"flow\":\"%016llx\",\"dir\":%u,"
            "\"src\":\"%s\",\"dst\":\"%s\",\"role\":\"%s\",\"key\":",
            (long long)m->ts_ns, (long long)m->last_ts_ns, (unsigned long long)m->flow_id,
            (unsigned)m->dir, src, dst, m->role <= CS_ROLE_RESP ? roles[m->role] : "none");
    cs_msgstore_json_string(out, m->key.p, m->key.len);
    fprintf(out, ",\"len\":%u,\"flags\":", (unsigned)m->len);
    json_flags(out, m->flags);
    fputs(",\"packets\":[", out);
    for (size_t i = 0; i < m->n_refs; i++)
        fprintf(out, "%s\"%u:%u\"", i ? "," : "", (unsigned)CS_PKTREF_SEG(m->refs[i]),
                (unsigned)CS_PKTREF_OFF(m->refs[i]));
    fputs("],\"fields\":[", out);
    for (size_t i = 0; i < m->n_fields; i++) {
        fputs(i ? ",[" : "[", out);
        cs_msgstore_json_string(out, m->fields[i].name.p, m->fields[i].name.len);
        putc(',', out);
        cs_msgstore_json_string(out, m->fields[i].val.p, m->fields[i].val.len);
        putc(']', out);
    }
    fputs("]}", out);
}

void cs_measurement_json(FILE *out, const cs_measurement *ms)
{
    char id[40], req[40], resp[40], src[CS_EP_BUFLEN], dst[CS_EP_BUFLEN];

    fprintf(out, "{\"id\":\"%s\",\"pair\":", cs_id_format('l', ms->id, id));
    json_cstr(out, ms->pair);
    fputs(",\"key\":", out);
    cs_msgstore_json_string(out, ms->key.p, ms->key.len);
    fprintf(out,
            ",\"req_msg\":\"%s\",\"resp_msg\":\"%s\",\"req_ts_ns\":%lld,\"resp_ts_ns\":%lld,"
            "\"latency_ns\":%lld,\"flow\":\"%016llx\",\"src\":\"%s\",\"dst\":\"%s\","
            "\"resp_last_ts_ns\":%lld,\"attached\":%u",
            cs_id_format('m', ms->req_id, req), cs_id_format('m', ms->resp_id, resp),
            (long long)ms->req_ts_ns, (long long)ms->resp_ts_ns, (long long)ms->latency_ns,
            (unsigned long long)ms->flow_id, cs_endpoint_format(&ms->ep, 0, src),
            cs_endpoint_format(&ms->ep, 1, dst), (long long)ms->resp_last_ts_ns,
            (unsigned)ms->attached);
    if (ms->attached > 0)
        fprintf(out, ",\"attached_last_msg\":\"%s\",\"attached_last_ts_ns\":%lld",
                cs_id_format('m', ms->attached_last_id, req), (long long)ms->attached_last_ts_ns);
    putc('}', out);
}

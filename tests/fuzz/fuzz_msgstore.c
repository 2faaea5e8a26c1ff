/*
 * fuzz_msgstore.c - libFuzzer harness for the message store's record
 * reading and writing (store/msgstore_file.c, msgstore_format.c) and its
 * JSON formatting (record/json.c).
 *
 * Input: byte 0 picks the file kind (msg, lat or unm) and bit 0x80 the
 * mode; the rest is used two ways:
 *   raw mode:    the bytes are a message file image after its magic, read
 *                as is (almost every record fails its checksum, which
 *                exercises framing, lengths and torn tails);
 *   framed mode: the bytes are cut into payloads (u16 length + bytes) that
 *                are framed with valid lengths and checksums, so the record
 *                decoders see arbitrary payloads.
 * Every record the reader returns is printed as JSON into a memory buffer,
 * which must hold no raw control byte, and encoded again with the store's
 * encoder (cs_msgstore_encode_message / _measurement, the one
 * serialization the writer and the pipeline use): the new bytes must
 * decode to the same record. Invariants checked (abort on failure): the
 * valid prefix is within the image and starts after the magic; decoded
 * strings and arrays lie within sane bounds; encode(decode(x)) decodes to
 * decode(x). A framed measurement image is also noted in latency blocks
 * (msgstore_latblocks.c) as a summary pass notes it: the blocks must cover
 * every frame in order without gaps, hold at most CS__LB_RECORDS each, and
 * bound every decodable record's latency and time, per pair too.
 */
#include "core/cursor.h"
#include "record/json.h"
#include "store/msgstore.h"
#include "store/msgstore_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const magics[3] = {"csmsg01\n", "cslat01\n", "csunm01\n"};
static const char kinds[3] = {'m', 'l', 'u'};

static char json_buf[1 << 20];
static uint8_t enc_buf[1 << 20];
static cs__recdec enc_dec; /* scratch of the re-decoded records */

/* Formats with "fn" into json_buf and checks there is no raw control byte. */
static void check_json_out(size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)json_buf[i] < 0x20)
            abort();
}

static int same_str(cs_str a, cs_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static int same_message(const cs_message *a, const cs_message *b)
{
    if (a->id != b->id || a->ts_ns != b->ts_ns || a->last_ts_ns != b->last_ts_ns ||
        a->flow_id != b->flow_id || a->flags != b->flags || a->len != b->len || a->dir != b->dir ||
        a->role != b->role || strcmp(a->proto, b->proto) != 0 || !same_str(a->type, b->type) ||
        !same_str(a->key, b->key) || !same_str(a->error, b->error) ||
        memcmp(&a->ep, &b->ep, sizeof(a->ep)) != 0 || a->n_refs != b->n_refs ||
        a->n_fields != b->n_fields)
        return 0;
    for (size_t i = 0; i < a->n_refs; i++)
        if (a->refs[i] != b->refs[i])
            return 0;
    for (size_t i = 0; i < a->n_fields; i++)
        if (!same_str(a->fields[i].name, b->fields[i].name) ||
            !same_str(a->fields[i].val, b->fields[i].val))
            return 0;
    return 1;
}

/* Encodes "m" (unmatched "kind") again; it must decode to "m". */
static void check_message_roundtrip(const cs_message *m, int kind)
{
    cs_message back;
    cs__msg_head h;
    size_t bound, n;

    if (cs_msgstore_message_bound(m, &bound) < 0 || bound > sizeof(enc_buf))
        return;
    n = cs_msgstore_encode_message(enc_buf, m, kind);
    if (n > bound || cs__decode_msg_head(enc_buf, n, &enc_dec, &back, &h) != 0 ||
        cs__decode_msg_body(&enc_dec, &back, &h) != 0 || h.kind != (kind & 0xff) ||
        !same_message(m, &back))
        abort();
}

/* Encodes "ms" again; it must decode to "ms". */
static void check_measurement_roundtrip(const cs_measurement *ms)
{
    cs_measurement back;
    size_t size;

    if (cs_msgstore_measurement_size(ms, &size) < 0 || size > sizeof(enc_buf))
        return;
    if (cs_msgstore_encode_measurement(enc_buf, ms) != size ||
        cs__decode_measurement(enc_buf, size, &enc_dec, &back) != 0)
        abort();
    if (back.id != ms->id || back.req_id != ms->req_id || back.resp_id != ms->resp_id ||
        back.req_ts_ns != ms->req_ts_ns || back.resp_ts_ns != ms->resp_ts_ns ||
        back.latency_ns != ms->latency_ns || back.flow_id != ms->flow_id ||
        strcmp(back.pair, ms->pair) != 0 || !same_str(back.key, ms->key) ||
        memcmp(&back.ep, &ms->ep, sizeof(ms->ep)) != 0 ||
        back.resp_last_ts_ns != ms->resp_last_ts_ns || back.attached != ms->attached ||
        back.attached_last_id != ms->attached_last_id ||
        back.attached_last_ts_ns != ms->attached_last_ts_ns || back.resp_tap != ms->resp_tap)
        abort();
}

static int on_msg(void *ud, const cs_message *m)
{
    FILE *f = fmemopen(json_buf, sizeof(json_buf), "w");
    long len;

    if (m->proto == NULL || strlen(m->proto) > 255)
        abort();
    for (size_t i = 0; i < m->n_fields; i++)
        if (m->fields[i].name.len > (1u << 24) || m->fields[i].val.len > (1u << 24))
            abort();
    if (f == NULL)
        return 0;
    cs_message_json(f, m);
    len = ftell(f);
    fclose(f);
    if (len > 0 && (size_t)len < sizeof(json_buf))
        check_json_out((size_t)len);
    if (ud == NULL)
        check_message_roundtrip(m, 0);
    return 0;
}

static int on_lat(void *ud, const cs_measurement *ms)
{
    FILE *f = fmemopen(json_buf, sizeof(json_buf), "w");
    long len;

    if (ms->pair == NULL || strlen(ms->pair) > 255)
        abort();
    if (f == NULL)
        return 0;
    cs_measurement_json(f, ms);
    len = ftell(f);
    fclose(f);
    if (len > 0 && (size_t)len < sizeof(json_buf))
        check_json_out((size_t)len);
    check_measurement_roundtrip(ms);
    return 0;
}

static int on_unm(void *ud, const cs_message *m, int kind)
{
    int unmatched = 1; /* non-NULL: on_msg leaves the round trip to us */

    on_msg(&unmatched, m);
    check_message_roundtrip(m, kind);
    return 0;
}

/* Builds a file image with valid frames around payloads cut from "in". */
static size_t frame_image(const uint8_t *in, size_t n, uint8_t *out, int k)
{
    size_t o = CS__MSG_MAGIC_LEN, i = 0;

    memcpy(out, magics[k], CS__MSG_MAGIC_LEN);
    while (i + 2 <= n) {
        size_t len = cs_rd_le16(in + i);

        i += 2;
        if (len > n - i)
            len = n - i;
        if (len < CS__MSG_MIN_PAYLOAD)
            break;
        cs_wr_le32(out + o + CS__FRAME_LEN, (uint32_t)len);
        cs_wr_le64(out + o + CS__FRAME_CHECK, cs__msgstore_frame_check(in + i, len));
        memcpy(out + o + CS__FRAME_PAYLOAD, in + i, len);
        o += CS__FRAME_PAYLOAD + len;
        i += len;
    }
    return o;
}

static cs__latblocks lat_blocks;

static int lat_block_frame(void *ud, const uint8_t *p, size_t n)
{
    const uint8_t *img = ud;

    cs__lb_add(&lat_blocks, (uint64_t)(p - img) - CS__FRAME_PAYLOAD, p, n);
    return 0;
}

/* Does block "b" bound record "p" (n bytes): its time, its latency, and
 * its pair's latency when the pair has a slot? */
static int block_bounds(const cs__latblock *b, const uint8_t *p, size_t n)
{
    int64_t ts, lat;
    size_t len;
    uint32_t h;

    if (n < CS__LAT_FIXED || n - CS__LAT_FIXED < p[CS__LAT_PAIR_LEN])
        return 1;
    ts = (int64_t)cs_rd_le64(p + CS__LAT_REQ_TS);
    lat = (int64_t)cs_rd_le64(p + CS__LAT_LATENCY);
    if (ts < b->min_ts || ts > b->max_ts || lat > b->max_latency)
        return 0;
    len = strnlen((const char *)p + CS__LAT_FIXED, p[CS__LAT_PAIR_LEN]);
    h = cs__lb_pair_hash((const char *)p + CS__LAT_FIXED, len);
    for (int i = 0; i < CS__LB_PAIRS; i++)
        if (b->pair_hash[i] == h)
            return lat <= b->pair_max[i];
    return b->pairs_over > 0;
}

/* The blocks of the framed measurement image "img" (n bytes). */
static void check_lat_blocks(const uint8_t *img, size_t n)
{
    size_t used, need, at = CS__MSG_MAGIC_LEN, blk = 0, in_blk = 0;

    memset(&lat_blocks, 0, sizeof(lat_blocks));
    lat_blocks.ok = 1;
    cs__msgfile_frames(img + CS__MSG_MAGIC_LEN, n - CS__MSG_MAGIC_LEN, 0, &used, &need,
                       lat_block_frame, (void *)img);
    if (!lat_blocks.ok)
        return;      /* out of memory */
    while (at < n) { /* walk the frames again beside the blocks */
        size_t len = cs_rd_le32(img + at + CS__FRAME_LEN);
        const cs__latblock *b;

        if (blk >= lat_blocks.n)
            abort();
        b = &lat_blocks.v[blk];
        if ((in_blk == 0 && b->start != at) || !block_bounds(b, img + at + CS__FRAME_PAYLOAD, len))
            abort();
        at += CS__FRAME_PAYLOAD + len;
        if (++in_blk == b->records) {
            if (b->end != at || b->records > CS__LB_RECORDS)
                abort();
            blk++;
            in_blk = 0;
        }
    }
    if (blk != lat_blocks.n || in_blk != 0)
        abort();
    cs__lb_free(&lat_blocks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *img;
    size_t n, valid = 0;
    int k, framed;

    if (size < 1 || size > (1u << 16))
        return 0;
    k = data[0] % 3;
    framed = data[0] & 0x80;
    /* Framing adds 12 bytes per >= 10 input bytes: at most 2.2x. */
    img = malloc(CS__MSG_MAGIC_LEN + 3 * size);
    if (img == NULL)
        return 0;
    if (framed) {
        n = frame_image(data + 1, size - 1, img, k);
    } else {
        memcpy(img, magics[k], CS__MSG_MAGIC_LEN);
        memcpy(img + CS__MSG_MAGIC_LEN, data + 1, size - 1);
        n = CS__MSG_MAGIC_LEN + size - 1;
    }
    if (cs_msgstore_parse_image(img, n, kinds[k], on_msg, on_lat, on_unm, NULL, &valid) < 0)
        abort();
    if (valid < CS__MSG_MAGIC_LEN || valid > n)
        abort();
    if (framed && valid != n)
        abort(); /* every frame was built valid */
    if (framed && kinds[k] == 'l')
        check_lat_blocks(img, n);
    /* The bare JSON string escaper over the raw bytes. */
    {
        FILE *f = fmemopen(json_buf, sizeof(json_buf), "w");

        if (f != NULL) {
            long len;

            cs_msgstore_json_string(f, (const char *)data, size);
            len = ftell(f);
            fclose(f);
            if (len > 0 && (size_t)len < sizeof(json_buf))
                check_json_out((size_t)len);
        }
    }
    free(img);
    return 0;
}

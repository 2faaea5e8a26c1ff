/*
 * fuzz_msgstore.c - libFuzzer harness for the message store reader
 * (store/msgstore.c) and its JSON formatting.
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
 * which must hold no raw control byte. Invariants checked (abort on
 * failure): the valid prefix is within the image and starts after the
 * magic; decoded strings and arrays lie within sane bounds.
 */
#include "core/cursor.h"
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

/* Formats with "fn" into json_buf and checks there is no raw control byte. */
static void check_json_out(size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)json_buf[i] < 0x20)
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
    return 0;
}

static int on_unm(void *ud, const cs_message *m, int kind)
{
    return on_msg(ud, m);
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
        cs_wr_le32(out + o, (uint32_t)len);
        cs_wr_le64(out + o + 4, cs__msgstore_frame_check(in + i, len));
        memcpy(out + o + CS__MSG_FRAME_HDR, in + i, len);
        o += CS__MSG_FRAME_HDR + len;
        i += len;
    }
    return o;
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

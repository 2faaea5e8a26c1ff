/*
 * msgstore_file.c - the message store's files as streams of framed
 * records: file names and magics, walking the frames of a buffer,
 * streaming a file through a callback in chunks, and reading a whole file
 * image (cs_msgstore_parse_image, for the fuzzer, tools and the carry-over
 * of a reanalysis). The frame and payload layout is in msgstore_format.c.
 *
 *   STORE/messages/msg-NNNNNNNN.bin[.new]    (and lat-, unm-, gap-)
 *
 * NNNNNNNN, the file id (called "seg" in the code), is the first segment
 * id of the segment group its records' ids name (cs_msgstore_file_seg),
 * or 0 for records of packets not stored; ".new" marks a replacement
 * being written by a reanalysis (msgstore_retain.c).
 *
 * Invariants:
 *   - A frame is passed on only if its length is within MIN_PAYLOAD ..
 *     REC_MAX and its checksum matches; the first frame that fails ends the
 *     walk (a torn tail after a crash). Zero-filled tails fail the length.
 *   - A scan reads with read(), not mmap, so a file cut short under a
 *     reader cannot fault it; the scan buffer grows only for a record
 *     larger than it, and a callback's payload pointer is valid only
 *     during the call.
 *
 * Threading: no shared state; a cs__scanbuf belongs to one caller.
 */
#include "store/msgstore.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "store/msgstore_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RBUF_SIZE (1u << 20) /* scan chunk */
#define PREFIX_LEN 3         /* "msg", "lat", "unm", "gap", then '-' */

const char *const cs__msgfile_prefix[CS__N_KINDS] = {"msg", "lat", "unm", "gap"};
const char *const cs__msgfile_magic[CS__N_KINDS] = {"csmsg01\n", "cslat01\n", "csunm01\n",
                                                    "csgap01\n"};

void cs__msgfile_path(char *buf, const char *dir, int kind, uint32_t seg, int tmp)
{
    snprintf(buf, CS__MSG_PATH_MAX, "%s/%s-%08u.bin%s", dir, cs__msgfile_prefix[kind],
             (unsigned)seg, tmp ? ".new" : "");
}

/* Parses "msg-00000007.bin" (or with ".new" if "tmp"): kind and file id. */
int cs__msgfile_parse_name(const char *name, int *kind, uint32_t *seg, int *tmp)
{
    const char *p = name + PREFIX_LEN + 1;
    uint64_t v = 0;
    int digits = 0;

    *kind = -1;
    for (int k = 0; k < CS__N_KINDS; k++)
        if (strncmp(name, cs__msgfile_prefix[k], PREFIX_LEN) == 0 && name[PREFIX_LEN] == '-')
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

/* ---- frames -------------------------------------------------------------- */

/*
 * Walks the complete, valid frames in "d"[0..len): calls "fn" for each.
 * "*used" gets the bytes of the frames walked, "*need" the size of the
 * incomplete frame at the end (CS__FR_OK). CS__FR_BAD at a frame that fails its
 * length or checksum; CS__FR_STOP (or fn's negative code) when fn says stop.
 * A frame that ends within the first "trusted" bytes was checked before:
 * its checksum is not computed again (its length still is).
 */
int cs__msgfile_frames(const uint8_t *d, size_t len, size_t trusted, size_t *used, size_t *need,
                       cs__frame_fn fn, void *ud)
{
    size_t pos = 0;
    int rc;

    *need = CS__FRAME_PAYLOAD;
    while (len - pos >= CS__FRAME_PAYLOAD) {
        uint32_t n = cs_rd_le32(d + pos + CS__FRAME_LEN);

        *used = pos;
        if (n < CS__MSG_MIN_PAYLOAD || n > CS__MSG_REC_MAX)
            return CS__FR_BAD;
        if (len - pos - CS__FRAME_PAYLOAD < n) {
            *need = CS__FRAME_PAYLOAD + (size_t)n;
            break;
        }
        if (pos + CS__FRAME_PAYLOAD + n > trusted &&
            cs_rd_le64(d + pos + CS__FRAME_CHECK) !=
                cs__msgstore_frame_check(d + pos + CS__FRAME_PAYLOAD, n))
            return CS__FR_BAD;
        rc = fn ? fn(ud, d + pos + CS__FRAME_PAYLOAD, n) : 0;
        pos += CS__FRAME_PAYLOAD + (size_t)n;
        if (rc != 0) {
            *used = pos;
            return rc < 0 ? rc : CS__FR_STOP;
        }
    }
    *used = pos;
    return CS__FR_OK;
}

/* Reads from "fd" until "sb" holds "want" bytes from "*have" on, or EOF. */
static int fill(int fd, cs__scanbuf *sb, size_t *have, int *eof)
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

static int scanbuf_reserve(cs__scanbuf *sb, size_t need)
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
static int check_magic(const cs__scanbuf *sb, size_t have, int kind)
{
    if (have < CS__MSG_MAGIC_LEN)
        return 1;
    return memcmp(sb->buf, cs__msgfile_magic[kind], CS__MSG_MAGIC_LEN) == 0 ? 0 : -1;
}

/*
 * Streams the file "fd" of kind "kind" through "fn", frame by frame, in
 * chunks of "sb" (grown for a record larger than it), from file offset
 * "start" (0, or the end of a record already read: the magic is then not
 * checked again), wherever an earlier pass left the file offset of "fd".
 * CS_ECORRUPT for a file with a foreign magic; a short file counts as torn.
 * Frames before sb->trusted_end are not checksummed again; the scan clears
 * it.
 */
int cs__msgfile_scan(int fd, int kind, cs__scanbuf *sb, uint64_t start, cs__frame_fn fn, void *ud,
                     cs__scan_result *res)
{
    size_t have = 0, pos = 0, used, need;
    uint64_t base = start, trusted_end = sb->trusted_end;
    int eof = 0, rc, m;

    sb->trusted_end = 0;
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
        return m < 0 ? cs_error_set(CS_ECORRUPT, "not a %s file (bad magic)",
                                    cs__msgfile_prefix[kind])
                     : 0;
    }
    pos = start == 0 ? CS__MSG_MAGIC_LEN : 0;
    for (;;) {
        sb->base = base;
        rc = cs__msgfile_frames(sb->buf + pos, have - pos,
                                trusted_end > base + pos ? trusted_end - (base + pos) : 0, &used,
                                &need, fn, ud);
        pos += used;
        res->valid_end = base + pos;
        if (rc < 0)
            return rc;
        if (rc == CS__FR_STOP) {
            res->stopped = 1;
            return 0;
        }
        if (rc == CS__FR_BAD || (eof && pos < have)) {
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

/* ---- whole images ---------------------------------------------------------- */

/*
 * Decodes one record payload of a "kind" file and hands it to its
 * callback in "fns" (none: skipped). A malformed record is skipped (its
 * frame checked out, so it is a newer or foreign writer's, not a tear).
 * Returns the callback's result, or CS_ENOMEM.
 */
int cs__record_dispatch(int kind, const uint8_t *p, size_t n, cs__recdec *d,
                        const cs_record_fns *fns)
{
    cs_message m;
    cs_measurement ms;
    cs_gap g;
    cs__msg_head h;
    int rc;

    if (kind == CS__KIND_LAT)
        return fns->lat && cs__decode_measurement(p, n, d, &ms) == 0 ? fns->lat(fns->ud, &ms) : 0;
    if (kind == CS__KIND_GAP)
        return fns->gap && cs__decode_gap(p, n, d, &g) == 0 ? fns->gap(fns->ud, &g) : 0;
    if ((kind == CS__KIND_UNM ? fns->unm == NULL : fns->msg == NULL) ||
        cs__decode_msg_head(p, n, d, &m, &h) < 0)
        return 0;
    if ((rc = cs__decode_msg_body(d, &m, &h)) != 0)
        return rc < -1 ? rc : 0;
    return kind == CS__KIND_UNM ? fns->unm(fns->ud, &m, h.kind) : fns->msg(fns->ud, &m);
}

typedef struct image_scan {
    cs__recdec dec;
    int kind;
    cs_record_fns fns;
} image_scan;

static int image_frame(void *ud, const uint8_t *p, size_t n)
{
    image_scan *s = ud;

    return cs__record_dispatch(s->kind, p, n, &s->dec, &s->fns);
}

int cs_msgstore_parse_image(const uint8_t *data, size_t len, char kind, cs_msg_fn mfn,
                            cs_lat_fn lfn, cs_unm_fn ufn, void *ud, size_t *valid_len)
{
    image_scan s = {.fns = {.msg = mfn, .lat = lfn, .unm = ufn, .ud = ud}};
    size_t used = 0, need;
    int rc;

    if (valid_len)
        *valid_len = 0;
    s.kind = kind == 'l'   ? CS__KIND_LAT
             : kind == 'u' ? CS__KIND_UNM
             : kind == 'm' ? CS__KIND_MSG
                           : -1;
    if (s.kind < 0)
        return CS_EINVAL;
    if (len < CS__MSG_MAGIC_LEN || memcmp(data, cs__msgfile_magic[s.kind], CS__MSG_MAGIC_LEN) != 0)
        return len == 0 ? 0 : CS_ECORRUPT;
    rc = cs__msgfile_frames(data + CS__MSG_MAGIC_LEN, len - CS__MSG_MAGIC_LEN, 0, &used, &need,
                            image_frame, &s);
    if (valid_len)
        *valid_len = CS__MSG_MAGIC_LEN + used;
    cs__recdec_free(&s.dec);
    return rc < 0 ? rc : 0;
}

/*
 * capfile.c - capstream's own reader of classic pcap and pcapng files.
 *
 * What it reads (all integers in the byte order the file announces):
 *
 *   classic pcap (draft-ietf-opsawg-pcap)
 *
 *     file header, 24 bytes              record header, 16 bytes + data
 *     +0  magic      a1b2c3d4 (us)       +0  ts_sec   seconds (unsigned)
 *                    a1b23c4d (ns)       +4  ts_frac  us or ns (unsigned)
 *     +4  version    2.4                 +8  caplen   bytes that follow
 *     +8  thiszone, +12 sigfigs          +12 wirelen  bytes on the wire
 *     +16 snaplen                        +16 data[caplen]
 *     +20 linktype (low 26 bits)
 *
 *   pcapng (draft-ietf-opsawg-pcapng): a sequence of blocks
 *
 *     +0 type  +4 total_len  +8 body ...  +total_len-4 total_len again
 *
 *     SHB 0a0d0d0a: byte-order magic 1a2b3c4d, version 1.0, section length
 *     IDB 00000001: linktype u16, reserved u16, snaplen u32, options
 *                   (if_tsresol = 9: 1 byte, 10^-n or 2^-n if bit 7 is set;
 *                    if_tsoffset = 14: int64 seconds added to every stamp)
 *     EPB 00000006: if_id u32, ts_hi u32, ts_lo u32, caplen, wirelen, data
 *     SPB 00000003: wirelen, data (interface 0, no timestamp)
 *     PB  00000002: if_id u16, drops u16, ts_hi, ts_lo, caplen, wirelen, data
 *     anything else (NRB, ISB, DSB, custom, ...) is skipped whole.
 *
 * Acceptance mirrors libpcap 1.10, so that every file tcpdump reads gives the
 * same packets here: pcap versions 2.0-2.4 and 543.0 (with the historic
 * caplen/wirelen swap of versions below 2.3), a snap length of 0 or above the
 * link type's maximum (262144, more for a few types) taken as that maximum,
 * a record caplen above the maximum rejected, a caplen above the snap length
 * cut to the snap length (the excess bytes skipped), timestamp fractions out
 * of range kept as they are (ts = sec * 1e9 + frac * 1000 or * 1). pcapng
 * rejects a caplen above the interface's snap length and blocks whose trailer
 * length disagrees. Where libpcap refuses a file that is still well defined
 * (interfaces of different link types or snap lengths) this reader goes on.
 * Two deliberate differences: wirelen is raised to caplen when a record says
 * less (capstream's packets promise wirelen >= caplen), and a timestamp that
 * does not fit int64 nanoseconds (after the year 2262) is CS_EBADRECORD.
 *
 * Taps: a pcapng packet's tap is its interface index within its section;
 * each new SHB starts a new section whose interfaces are numbered from 0
 * again (like libpcap), and cs_capfile_snaplen() answers for the section
 * being read (262144 for a tap it does not have). Classic pcap packets have
 * tap 0.
 *
 * Buffering: the input is a window "data[pos, end)" with "data[0]" at file
 * offset "base_off". In memory mode the window is the caller's buffer. For
 * files and stdin it is an owned buffer (4 MiB at first) filled with large
 * read() calls; a record is parsed only when it lies whole in the window, and
 * when it does not, the unread tail is moved to the front and more is read,
 * growing the buffer (doubling, only as data actually arrives) up to the
 * record limit of 256 MiB. A returned packet points into the window, so it
 * stays valid until the next refill, which only cs_capfile_next() can start.
 * cs__capfile_next_buffered() returns only packets already in the window and
 * never refills; the file source uses it to fill a whole batch whose packets
 * all stay valid together.
 *
 * Errors latch: after one, cs_capfile_next() returns it again (with its
 * detail). The one exception is CS_ELINKTYPE: the packet of a link type
 * that does not fit a cs_packet's 16 bits (a classic pcap header with
 * reserved bits 16-25 set) is filled into "*pkt" (link type cut to 16 bits)
 * and consumed, the code is returned, and the next call goes on with the
 * next packet, so a caller may stop or skip. Every other link type is
 * returned as it is, whether or not capstream can dissect it (802.11,
 * radiotap, ...): the store keeps whatever the capture holds.
 *
 * Threading: a reader belongs to one thread at a time.
 */
#include "source/capfile.h"
#include "source/capfile_int.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CAPFILE_MAX_RECORD (256u << 20)
#define CAPFILE_MAX_BLOCK (CAPFILE_MAX_RECORD + (1u << 20))
#define CAPFILE_BUF_INIT ((size_t)4 << 20)
#define CAPFILE_MAX_IFACES 65536u
#define CAPFILE_DEFAULT_SNAPLEN 262144u

#define PCAP_FILE_HDR 24u
#define PCAP_REC_HDR 16u

#define PCAPNG_SHB 0x0A0D0D0Au
#define PCAPNG_IDB 0x00000001u
#define PCAPNG_PB 0x00000002u
#define PCAPNG_SPB 0x00000003u
#define PCAPNG_EPB 0x00000006u
#define PCAPNG_BOM 0x1A2B3C4Du
#define PCAPNG_END 4 /* internal: clean end of the blocks */
#define PCAPNG_OPT_TSRESOL 9u
#define PCAPNG_OPT_TSOFFSET 14u

__extension__ typedef __int128 capfile_i128;
__extension__ typedef unsigned __int128 capfile_u128;

enum { LENGTHS_AS_IS, LENGTHS_SWAPPED, LENGTHS_MAYBE_SWAPPED };

typedef struct capfile_iface {
    uint32_t linktype;
    uint32_t snaplen; /* 0 or too big already replaced by the maximum */
    bool storable;    /* cs_linktype_storable(linktype) */
    bool res_binary;  /* resolution 2^-res_exp, else 10^-res_exp */
    uint8_t res_exp;
    uint64_t res_units; /* timestamp units per second */
    int64_t offset_s;   /* if_tsoffset */
} capfile_iface;

struct cs_capfile {
    /* Input window: data[pos, end) unread, data[0] at file offset base_off. */
    const uint8_t *data;
    size_t pos;
    size_t end;
    uint64_t base_off;
    uint8_t *own; /* owned buffer (files), NULL in memory mode */
    size_t cap;
    int fd; /* -1 in memory mode */
    bool close_fd;
    bool eof;
    bool no_refill;
    uint64_t size;

    cs_capfile_format format;
    bool big_endian;  /* file (pcap) or current section (pcapng) */
    uint64_t records; /* records (pcap) or blocks (pcapng) fully read */
    uint64_t packets; /* packets returned */

    /* classic pcap */
    capfile_iface pcap_if;
    int lengths;
    uint32_t frac_mult; /* 1000 (us) or 1 (ns) */

    /* pcapng: interfaces of the current section */
    capfile_iface *ifaces;
    size_t n_ifaces;
    size_t cap_ifaces;

    int err;
    char errmsg[320];
};

/* ---- helpers -------------------------------------------------------- */

static inline uint32_t rd32(const cs_capfile *f, const uint8_t *p)
{
    return f->big_endian ? cs_rd_be32(p) : cs_rd_le32(p);
}

static inline uint16_t rd16(const cs_capfile *f, const uint8_t *p)
{
    return f->big_endian ? cs_rd_be16(p) : cs_rd_le16(p);
}

static inline uint64_t rec_offset(const cs_capfile *f)
{
    return f->base_off + f->pos;
}

/* Latches error "err" with a detail sentence and returns it. */
__attribute__((format(printf, 3, 4))) static int fail(cs_capfile *f, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(f->errmsg, sizeof(f->errmsg), fmt, ap);
    va_end(ap);
    f->err = err;
    return cs_error_set(err, "%s", f->errmsg);
}

/* The input ended "have" bytes into a record or block of "want" bytes. */
static int fail_cut(cs_capfile *f, const char *what, size_t want)
{
    size_t have = f->end - f->pos;

    return fail(f, CS_ETRUNCATED,
                "capture cut off inside %s %" PRIu64 " (at byte %" PRIu64 "): %zu of %zu bytes "
                "present",
                what, f->records + 1, rec_offset(f), have, want);
}

/* Largest caplen libpcap accepts for "linktype" (its max_snaplen_for_dlt). */
static uint32_t max_snaplen(uint32_t linktype)
{
    switch (linktype) {
    case 231: /* DBUS */
        return 128u << 20;
    case 279: /* EBHSCR */
        return 8u << 20;
    case 249: /* USBPCAP */
        return 1u << 20;
    default:
        return CAPFILE_DEFAULT_SNAPLEN;
    }
}

static uint32_t adjust_snaplen(uint32_t linktype, uint32_t snaplen)
{
    uint32_t max = max_snaplen(linktype);

    return (snaplen == 0 || snaplen > max) ? max : snaplen;
}

int cs_linktype_storable(uint32_t linktype)
{
    return linktype <= UINT16_MAX;
}

/* ---- input window --------------------------------------------------- */

/* Grows the owned buffer so that it can hold at least one more byte, by
 * doubling but never beyond "need" (so memory follows the data read). */
static int buffer_grow(cs_capfile *f, size_t need)
{
    size_t ncap = f->cap * 2;
    uint8_t *nb;

    if (ncap > need)
        ncap = need;
    nb = cs_realloc(f->own, ncap);
    if (nb == NULL)
        return fail(f, CS_ENOMEM, "no memory for a %zu-byte capture buffer", ncap);
    f->own = nb;
    f->data = nb;
    f->cap = ncap;
    return 0;
}

/* Moves the unread tail to the front of the owned buffer. */
static void buffer_compact(cs_capfile *f)
{
    size_t left = f->end - f->pos;

    if (f->pos == 0)
        return;
    if (left > 0)
        memmove(f->own, f->own + f->pos, left);
    f->base_off += f->pos;
    f->pos = 0;
    f->end = left;
}

/*
 * Makes "need" bytes available at data + pos. Returns 1 when they are, 0 when
 * the input ends first, CS__CAPFILE_REFILL when reading is needed but not
 * allowed now, or a negative error (latched).
 */
static int input_fill_slow(cs_capfile *f, size_t need)
{
    ssize_t n;
    int rc;

    if (f->fd < 0 || f->eof)
        return 0;
    if (f->no_refill)
        return CS__CAPFILE_REFILL;
    buffer_compact(f);
    while (f->end < need) {
        if (f->end == f->cap && (rc = buffer_grow(f, need)) < 0)
            return rc;
        n = read(f->fd, f->own + f->end, f->cap - f->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            return fail(f, cs_error_from_errno(errno), "read error at byte %" PRIu64 ": %s",
                        f->base_off + f->end, strerror(errno));
        }
        if (n == 0) {
            f->eof = true;
            return 0;
        }
        f->end += (size_t)n;
    }
    return 1;
}

static inline int input_fill(cs_capfile *f, size_t need)
{
    if (f->end - f->pos >= need)
        return 1;
    return input_fill_slow(f, need);
}

/* ---- timestamps ----------------------------------------------------- */

/*
 * Converts a pcapng timestamp "t" in units of interface "ifc" to ns since
 * the epoch, exactly: seconds and fraction are split in the file's units,
 * the fraction scaled to ns rounding down (as libpcap does), 128-bit
 * arithmetic for binary resolutions. Fails if the result leaves int64.
 */
static int ts_from_units(const capfile_iface *ifc, uint64_t t, int64_t *out)
{
    static const uint64_t pow10[] = {1u,         10u,         100u,         1000u,
                                     10000u,     100000u,     1000000u,     10000000u,
                                     100000000u, 1000000000u, 10000000000u, 100000000000u};
    uint64_t sec, frac, ns;
    capfile_i128 total;

    if (ifc->res_binary) {
        sec = t >> ifc->res_exp;
        frac = t & ((UINT64_C(1) << ifc->res_exp) - 1);
        ns = (uint64_t)(((capfile_u128)frac * 1000000000u) >> ifc->res_exp);
    } else {
        sec = t / ifc->res_units;
        frac = t % ifc->res_units;
        if (ifc->res_exp <= 9)
            ns = frac * pow10[9 - ifc->res_exp];
        else
            ns = frac / pow10[ifc->res_exp - 9];
    }
    total = ((capfile_i128)sec + ifc->offset_s) * 1000000000 + (capfile_i128)ns;
    if (total > INT64_MAX || total < INT64_MIN)
        return -1;
    *out = (int64_t)total;
    return 0;
}

/* ---- classic pcap --------------------------------------------------- */

/*
 * Reads the next classic pcap record. The fast path needs only the 16-byte
 * header and the data to lie in the window; everything else is checks.
 */
static int pcap_next(cs_capfile *f, cs_packet *pkt)
{
    const uint8_t *p;
    uint32_t sec, frac, caplen, wirelen, keep, t;
    int rc;

    rc = input_fill(f, PCAP_REC_HDR);
    if (rc != 1) {
        if (rc == 0 && f->end == f->pos)
            return 0;
        return rc == 0 ? fail_cut(f, "the header of record", PCAP_REC_HDR) : rc;
    }
    p = f->data + f->pos;
    sec = rd32(f, p);
    frac = rd32(f, p + 4);
    caplen = rd32(f, p + 8);
    wirelen = rd32(f, p + 12);
    if (f->lengths != LENGTHS_AS_IS && (f->lengths == LENGTHS_SWAPPED || caplen > wirelen)) {
        t = caplen;
        caplen = wirelen;
        wirelen = t;
    }
    if (caplen > max_snaplen(f->pcap_if.linktype)) {
        return fail(f, CS_EBADRECORD,
                    "record %" PRIu64 " (at byte %" PRIu64 ") has caplen %" PRIu32
                    ", more than the maximum %" PRIu32,
                    f->records + 1, rec_offset(f), caplen, max_snaplen(f->pcap_if.linktype));
    }
    rc = input_fill(f, PCAP_REC_HDR + (size_t)caplen);
    if (rc != 1)
        return rc == 0 ? fail_cut(f, "record", PCAP_REC_HDR + (size_t)caplen) : rc;
    keep = caplen < f->pcap_if.snaplen ? caplen : f->pcap_if.snaplen;
    pkt->ts_ns = (int64_t)sec * 1000000000 + (int64_t)frac * f->frac_mult;
    pkt->caplen = keep;
    pkt->wirelen = wirelen < keep ? keep : wirelen;
    pkt->linktype = (uint16_t)f->pcap_if.linktype; /* checked by capfile_next */
    pkt->tap = 0;
    pkt->tref = 0;
    pkt->cap_ns = 0;
    pkt->data = f->data + f->pos + PCAP_REC_HDR;
    f->pos += PCAP_REC_HDR + (size_t)caplen;
    f->records++;
    return 1;
}

static int pcap_open_header(cs_capfile *f, uint32_t magic)
{
    const uint8_t *p;
    uint16_t major, minor;
    uint32_t linktype;
    int rc;

    rc = input_fill(f, PCAP_FILE_HDR);
    if (rc != 1)
        return rc == 0 ? fail_cut(f, "the file header", PCAP_FILE_HDR) : rc;
    p = f->data + f->pos;
    f->big_endian = (magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u);
    f->format =
        (magic == 0xa1b23c4du || magic == 0x4d3cb2a1u) ? CS_CAPFILE_PCAP_NS : CS_CAPFILE_PCAP_US;
    f->frac_mult = f->format == CS_CAPFILE_PCAP_NS ? 1 : 1000;
    major = rd16(f, p + 4);
    minor = rd16(f, p + 6);
    if (!((major == 2 && minor <= 4) || (major == 543 && minor == 0)))
        return fail(f, CS_EFORMAT, "unsupported pcap version %u.%u", major, minor);
    if (major == 543 || minor < 3)
        f->lengths = LENGTHS_SWAPPED;
    else
        f->lengths = minor == 3 ? LENGTHS_MAYBE_SWAPPED : LENGTHS_AS_IS;
    linktype = rd32(f, p + 20) & 0x03FFFFFFu;
    f->pcap_if.linktype = linktype;
    f->pcap_if.snaplen = adjust_snaplen(linktype, rd32(f, p + 16));
    f->pcap_if.storable = cs_linktype_storable(linktype);
    f->pos += PCAP_FILE_HDR;
    return 0;
}

/* ---- pcapng --------------------------------------------------------- */

static int block_error(cs_capfile *f, uint32_t type, const char *why)
{
    return fail(f, CS_EBADRECORD,
                "pcapng block %" PRIu64 " (type 0x%08" PRIx32 ", at byte %" PRIu64 "): %s",
                f->records + 1, type, rec_offset(f), why);
}

/* Applies one IDB option to "ifc"; "seen" tracks duplicates (bit 0 tsresol,
 * bit 1 tsoffset). Returns 0 or a latched error. */
static int idb_option(cs_capfile *f, capfile_iface *ifc, uint16_t code, const uint8_t *val,
                      uint16_t len, unsigned *seen)
{
    uint8_t r;

    if (code == PCAPNG_OPT_TSRESOL) {
        if (len != 1 || (*seen & 1u))
            return block_error(f, PCAPNG_IDB, "bad or repeated if_tsresol option");
        *seen |= 1u;
        r = val[0];
        ifc->res_binary = (r & 0x80u) != 0;
        ifc->res_exp = (uint8_t)(r & 0x7Fu);
        if (ifc->res_exp > (ifc->res_binary ? 63 : 19))
            return block_error(f, PCAPNG_IDB, "if_tsresol too fine");
        ifc->res_units = 1;
        for (unsigned i = 0; i < ifc->res_exp; i++)
            ifc->res_units = ifc->res_binary ? ifc->res_units * 2 : ifc->res_units * 10;
    } else if (code == PCAPNG_OPT_TSOFFSET) {
        if (len != 8 || (*seen & 2u))
            return block_error(f, PCAPNG_IDB, "bad or repeated if_tsoffset option");
        *seen |= 2u;
        ifc->offset_s = (int64_t)(f->big_endian ? cs_rd_be64(val) : cs_rd_le64(val));
    }
    return 0;
}

/* Walks the options of an IDB ("opts", "len" bytes). */
static int idb_options(cs_capfile *f, capfile_iface *ifc, const uint8_t *opts, size_t len)
{
    cs_cursor c;
    const uint8_t *h, *val;
    uint16_t code, olen;
    size_t pad;
    unsigned seen = 0;
    int rc;

    cs_cursor_init(&c, opts, len);
    while (cs_cursor_left(&c) >= 4) {
        h = cs_cursor_need(&c, 4);
        code = rd16(f, h);
        olen = rd16(f, h + 2);
        if (code == 0)
            break;
        val = cs_cursor_need(&c, olen);
        if (val == NULL)
            return block_error(f, PCAPNG_IDB, "option runs past the end of the block");
        if ((rc = idb_option(f, ifc, code, val, olen, &seen)) < 0)
            return rc;
        pad = (4u - olen % 4u) % 4u;
        cs_cursor_skip(&c, pad < cs_cursor_left(&c) ? pad : cs_cursor_left(&c));
    }
    return 0;
}

static int pcapng_idb(cs_capfile *f, const uint8_t *body, size_t len)
{
    capfile_iface ifc = {.res_units = 1000000u, .res_exp = 6};
    int rc;

    if (len < 8)
        return block_error(f, PCAPNG_IDB, "interface description block too short");
    if (f->n_ifaces >= CAPFILE_MAX_IFACES)
        return block_error(f, PCAPNG_IDB, "more than 65536 interfaces in one section");
    ifc.linktype = rd16(f, body);
    ifc.snaplen = adjust_snaplen(ifc.linktype, rd32(f, body + 4));
    ifc.storable = cs_linktype_storable(ifc.linktype);
    if ((rc = idb_options(f, &ifc, body + 8, len - 8)) < 0)
        return rc;
    if (f->n_ifaces == f->cap_ifaces &&
        cs_grow((void **)&f->ifaces, &f->cap_ifaces, f->n_ifaces + 1, sizeof(ifc)) < 0)
        return fail(f, CS_ENOMEM, "no memory for pcapng interface %zu", f->n_ifaces);
    f->ifaces[f->n_ifaces++] = ifc;
    return 0;
}

/* Fills "pkt" from a packet block's fields; "if_id" and lengths unchecked. */
static int pcapng_packet(cs_capfile *f, uint32_t type, uint32_t if_id, uint64_t t, uint32_t caplen,
                         uint32_t wirelen, const uint8_t *data, size_t room, cs_packet *pkt)
{
    const capfile_iface *ifc;

    if (if_id >= f->n_ifaces)
        return block_error(f, type, "packet on an interface with no interface description");
    ifc = &f->ifaces[if_id];
    if (caplen > room)
        return block_error(f, type, "captured length runs past the end of the block");
    if (caplen > ifc->snaplen)
        return block_error(f, type, "captured length above the interface's snap length");
    if (ts_from_units(ifc, t, &pkt->ts_ns) < 0)
        return block_error(f, type, "timestamp beyond the range of int64 nanoseconds");
    pkt->caplen = caplen;
    pkt->wirelen = wirelen < caplen ? caplen : wirelen;
    pkt->linktype = (uint16_t)ifc->linktype;
    pkt->tap = (uint16_t)if_id;
    pkt->tref = 0;
    pkt->cap_ns = 0;
    pkt->data = data;
    return 1;
}

/* Decodes a packet block (EPB, PB or SPB) whose body is "body", "len". */
static int pcapng_packet_block(cs_capfile *f, uint32_t type, const uint8_t *b, size_t len,
                               cs_packet *pkt)
{
    uint32_t wirelen, caplen;
    uint64_t t;

    if (type == PCAPNG_SPB) {
        if (len < 4)
            return block_error(f, type, "simple packet block too short");
        if (f->n_ifaces == 0)
            return block_error(f, type, "packet on an interface with no interface description");
        wirelen = rd32(f, b);
        caplen = wirelen < f->ifaces[0].snaplen ? wirelen : f->ifaces[0].snaplen;
        return pcapng_packet(f, type, 0, 0, caplen, wirelen, b + 4, len - 4, pkt);
    }
    if (len < 20)
        return block_error(f, type, "packet block too short");
    t = ((uint64_t)rd32(f, b + 4) << 32) | rd32(f, b + 8);
    return pcapng_packet(f, type, type == PCAPNG_EPB ? rd32(f, b) : rd16(f, b), t, rd32(f, b + 12),
                         rd32(f, b + 16), b + 20, len - 20, pkt);
}

/* Starts a new section from an SHB whose byte order is already known. */
static int pcapng_shb(cs_capfile *f, const uint8_t *body, size_t len, bool first)
{
    uint16_t major = rd16(f, body + 4), minor = rd16(f, body + 6);

    if (major != 1 || (minor != 0 && minor != 2)) {
        return fail(f, first ? CS_EFORMAT : CS_EBADRECORD,
                    "unsupported pcapng version %u.%u (section at byte %" PRIu64 ")", major, minor,
                    rec_offset(f));
    }
    f->n_ifaces = 0;
    return 0;
}

/*
 * Reads the type and total length of the block at "pos" (learning the byte
 * order from an SHB). Returns 1 with "*type", "*blen" set, PCAPNG_END at a
 * clean end, or an error / CS__CAPFILE_REFILL.
 */
static int pcapng_block_head(cs_capfile *f, uint32_t *type, uint32_t *blen)
{
    const uint8_t *p;
    uint32_t bom;
    int rc;

    rc = input_fill(f, 8);
    if (rc != 1) {
        if (rc == 0 && f->end == f->pos)
            return PCAPNG_END;
        return rc == 0 ? fail_cut(f, "block", 8) : rc;
    }
    *type = rd32(f, f->data + f->pos);
    if (*type == PCAPNG_SHB) {
        rc = input_fill(f, 12);
        if (rc != 1)
            return rc == 0 ? fail_cut(f, "block", 12) : rc;
        bom = cs_rd_le32(f->data + f->pos + 8);
        if (bom != PCAPNG_BOM && bom != 0x4D3C2B1Au) {
            return fail(f, f->records == 0 ? CS_EFORMAT : CS_EBADRECORD,
                        "pcapng section header at byte %" PRIu64 " has a bad byte-order magic",
                        rec_offset(f));
        }
        f->big_endian = bom != PCAPNG_BOM;
    }
    p = f->data + f->pos;
    *blen = rd32(f, p + 4);
    if (*blen < 12 || *blen % 4 != 0 || *blen > CAPFILE_MAX_BLOCK ||
        (*type == PCAPNG_SHB && *blen < 28)) {
        return fail(f, f->records == 0 ? CS_EFORMAT : CS_EBADRECORD,
                    "pcapng block %" PRIu64 " (at byte %" PRIu64 ") has a bad length %" PRIu32,
                    f->records + 1, rec_offset(f), *blen);
    }
    return 1;
}

/*
 * Reads exactly one block: 1 if it was a packet (filled into "pkt"), 0 if it
 * was another block, PCAPNG_END at a clean end, or an error / refill code.
 * Nothing is consumed unless the whole block is.
 */
static int pcapng_one_block(cs_capfile *f, cs_packet *pkt)
{
    const uint8_t *p;
    uint32_t type = 0, blen = 0;
    int rc;

    rc = pcapng_block_head(f, &type, &blen);
    if (rc != 1)
        return rc;
    rc = input_fill(f, blen);
    if (rc != 1)
        return rc == 0 ? fail_cut(f, "block", blen) : rc;
    p = f->data + f->pos;
    if (rd32(f, p + blen - 4) != blen)
        return block_error(f, type, "trailing length differs from the leading one");
    if (f->records == 0 && type != PCAPNG_SHB)
        return fail(f, CS_EFORMAT, "pcapng file does not begin with a section header");
    rc = 0;
    if (type == PCAPNG_SHB)
        rc = pcapng_shb(f, p + 8, blen - 12, f->records == 0);
    else if (type == PCAPNG_IDB)
        rc = pcapng_idb(f, p + 8, blen - 12);
    else if (type == PCAPNG_EPB || type == PCAPNG_SPB || type == PCAPNG_PB)
        rc = pcapng_packet_block(f, type, p + 8, blen - 12, pkt);
    if (rc < 0)
        return rc;
    f->pos += blen;
    f->records++;
    return rc;
}

/* Reads blocks until a packet (1), the end (0), or an error. */
static int pcapng_next(cs_capfile *f, cs_packet *pkt)
{
    int rc;

    do {
        rc = pcapng_one_block(f, pkt);
    } while (rc == 0);
    return rc == PCAPNG_END ? 0 : rc;
}

/* ---- open / next / close -------------------------------------------- */

/* Whether the "n" bytes at "p" begin one of the known magic numbers. */
static bool is_magic_prefix(const uint8_t *p, size_t n)
{
    static const uint8_t magics[5][4] = {{0xd4, 0xc3, 0xb2, 0xa1},
                                         {0xa1, 0xb2, 0xc3, 0xd4},
                                         {0x4d, 0x3c, 0xb2, 0xa1},
                                         {0xa1, 0xb2, 0x3c, 0x4d},
                                         {0x0a, 0x0d, 0x0d, 0x0a}};

    for (size_t i = 0; i < 5; i++) {
        if (memcmp(magics[i], p, n) == 0)
            return true;
    }
    return false;
}

/* Reads the magic and the file header (pcap) or first SHB (pcapng). */
static int read_file_header(cs_capfile *f)
{
    uint32_t magic;
    size_t have;
    int rc;
    cs_packet unused;

    rc = input_fill(f, 4);
    if (rc < 0)
        return rc;
    have = f->end - f->pos;
    if (rc == 0 && have == 0)
        return fail(f, CS_EFORMAT, "empty file (0 bytes): not a capture file");
    if (rc == 0 && is_magic_prefix(f->data + f->pos, have))
        return fail_cut(f, "the file header", 4);
    magic = have >= 4 ? cs_rd_le32(f->data + f->pos) : 0;
    switch (magic) {
    case 0xa1b2c3d4u:
    case 0xd4c3b2a1u:
    case 0xa1b23c4du:
    case 0x4d3cb2a1u:
        return pcap_open_header(f, magic);
    case PCAPNG_SHB:
        /* The first SHB is read now so that a bad one fails the open. */
        f->format = CS_CAPFILE_PCAPNG;
        rc = pcapng_one_block(f, &unused);
        return rc < 0 ? rc : 0;
    default:
        return fail(f, CS_EFORMAT, "not a capture file: unknown magic number 0x%08" PRIx32,
                    have >= 4 ? cs_rd_be32(f->data + f->pos) : 0);
    }
}

static int capfile_new(cs_capfile **out)
{
    cs_capfile *f = cs_calloc(1, sizeof(*f));

    if (f == NULL)
        return cs_error_set(CS_ENOMEM, "no memory for a capture reader");
    f->fd = -1;
    *out = f;
    return 0;
}

/* Opens "f"'s descriptor for "path" and sizes its buffer. */
static int open_input(cs_capfile *f, const char *path)
{
    struct stat st;

    if (strcmp(path, "-") == 0) {
        f->fd = STDIN_FILENO;
    } else {
        f->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (f->fd < 0)
            return fail(f, cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
        f->close_fd = true;
    }
    if (fstat(f->fd, &st) == 0 && S_ISDIR(st.st_mode))
        return fail(f, CS_EINVAL, "%s: is a directory, not a capture file", path);
    if (fstat(f->fd, &st) == 0 && S_ISREG(st.st_mode)) {
        f->size = (uint64_t)st.st_size;
        (void)posix_fadvise(f->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    f->cap = CAPFILE_BUF_INIT;
    f->own = cs_malloc(f->cap);
    if (f->own == NULL)
        return fail(f, CS_ENOMEM, "no memory for a capture buffer");
    f->data = f->own;
    return 0;
}

int cs_capfile_open(const char *path, cs_capfile **out)
{
    cs_capfile *f = NULL;
    int rc;

    *out = NULL;
    if (path == NULL)
        return cs_error_set(CS_EINVAL, "no capture file path given");
    if ((rc = capfile_new(&f)) < 0)
        return rc;
    if ((rc = open_input(f, path)) < 0)
        goto fail;
    if ((rc = read_file_header(f)) < 0)
        goto fail;
    *out = f;
    return 0;
fail:
    cs_capfile_close(f);
    return rc;
}

int cs_capfile_open_mem(const void *buf, size_t len, cs_capfile **out)
{
    cs_capfile *f = NULL;
    int rc;

    *out = NULL;
    if (buf == NULL && len > 0)
        return cs_error_set(CS_EINVAL, "no capture buffer given");
    if ((rc = capfile_new(&f)) < 0)
        return rc;
    f->data = len > 0 ? buf : (const uint8_t *)"";
    f->end = len;
    f->size = len;
    if ((rc = read_file_header(f)) < 0) {
        cs_capfile_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

static int capfile_next(cs_capfile *f, cs_packet *pkt)
{
    int rc;
    bool storable;

    if (f->err != 0)
        return cs_error_set(f->err, "%s", f->errmsg);
    if (f->format == CS_CAPFILE_PCAPNG) {
        rc = pcapng_next(f, pkt);
        storable = rc == 1 && f->ifaces[pkt->tap].storable;
    } else {
        rc = pcap_next(f, pkt);
        storable = rc == 1 && f->pcap_if.storable;
    }
    if (rc != 1)
        return rc;
    f->packets++;
    if (storable)
        return 1;
    return cs_error_set(CS_ELINKTYPE,
                        "packet %" PRIu64 " (before byte %" PRIu64 ") has link type %" PRIu32
                        ", which has reserved bits set (a link type is 16 bits)",
                        f->packets, rec_offset(f), f->pcap_if.linktype);
}

int cs_capfile_next(cs_capfile *f, cs_packet *pkt)
{
    return capfile_next(f, pkt);
}

/* Like cs_capfile_next(), but returns CS__CAPFILE_REFILL instead of reading
 * more input, so that packets returned before stay valid. */
int cs__capfile_next_buffered(cs_capfile *f, cs_packet *pkt)
{
    int rc;

    f->no_refill = true;
    rc = capfile_next(f, pkt);
    f->no_refill = false;
    return rc;
}

void cs_capfile_close(cs_capfile *f)
{
    if (f == NULL)
        return;
    if (f->close_fd)
        close(f->fd);
    cs_free(f->ifaces);
    cs_free(f->own);
    cs_free(f);
}

cs_capfile_format cs_capfile_get_format(const cs_capfile *f)
{
    return f->format;
}

uint32_t cs_capfile_snaplen(const cs_capfile *f, uint16_t tap)
{
    if (f->format != CS_CAPFILE_PCAPNG)
        return f->pcap_if.snaplen;
    if (tap < f->n_ifaces)
        return f->ifaces[tap].snaplen;
    return CAPFILE_DEFAULT_SNAPLEN;
}

uint64_t cs_capfile_offset(const cs_capfile *f)
{
    return f->base_off + f->pos;
}

uint64_t cs_capfile_size(const cs_capfile *f)
{
    return f->size;
}

/*
 * trailer.c - readers of the timestamp trailers of tap aggregators.
 *
 * How it works
 * ------------
 * cs_trailer_read() first finds the region a trailer can occupy (trailer.h:
 * [max(ip_end, 60), caplen), or the whole frame when ip_end is 0), then hands
 * it to the reader of the kind asked for. Every reader works on a cs_cursor
 * over exactly that region, so no byte outside frame[start..caplen) is read
 * whatever the lengths inside the trailer say. The wire layouts, with their
 * sources, are drawn in trailer.h; the offsets below are named once per
 * format, counted back from the trailer's end (all but VSS) or forward from
 * the region's start (VSS).
 *
 * Each reader decides in the same order:
 *   1. too few bytes for the format's fixed part      -> CS_TRAILER_CUT
 *   2. the fixed part does not look like the format   -> CS_TRAILER_ABSENT
 *      (Ixia's signature, lengths and checksum; VSS's exact length)
 *   3. seconds 0 or nanoseconds >= 10^9               -> CS_TRAILER_BAD_TIME
 *   4. a variable part that runs past the region      -> CS_TRAILER_CUT
 *      (Metamako's extension TLVs, then its original FCS)
 * and fills the result only when all pass. A frame cut short of its wire
 * length is CS_TRAILER_CUT before any of this: the trailer is at the end of
 * the frame on the wire, which the capture does not hold.
 *
 * Invariants (checked by tests/fuzz/fuzz_trailer.c): on CS_TRAILER_OK,
 * 0 < len <= caplen - start, 0 <= ts_ns's nanoseconds < 10^9 and its seconds
 * are not 0, synced implies sync_known; on any other status "*out" is
 * untouched.
 *
 * Threading and ownership: pure functions; "frame" is only read, never kept.
 */
#include "packet/trailer.h"

#include "core/cursor.h"

#include <string.h>

enum {
    ETH_MIN_FRAME = 60, /* bytes of a minimum Ethernet frame without its FCS */
    NS_PER_SEC = 1000000000,

    /* Metamako: the fixed tail, then the original FCS before any TLVs */
    MM_TAIL = 12, /* seconds 4, nanoseconds 4, flags 1, device 2, port 1 */
    MM_FCS = 4,
    MM_MIN = MM_FCS + MM_TAIL,
    MM_FLAG_FCS_VALID = 0x01,
    MM_FLAG_EXTENSIONS = 0x02,
    MM_FLAG_TS_DEGRADED = 0x10,
    MM_TLV_WORD = 4,
    MM_TLV_TAG_MASK = 0x1f,
    MM_TLV_TAG_SECONDARY = 0x1f,
    MM_TLV_LAST = 0x20,
    MM_TLV_LEN_SHIFT = 6,
    MM_TLV_LEN_MASK = 0x3,        /* data words of a primary header */
    MM_TLV_LONG_LEN_MASK = 0x3ff, /* data words - 1 of a secondary header */

    /* Exablaze */
    EXA_LEN = 16,
    EXA_OFF_DEVICE = 4,
    EXA_OFF_PORT = 5,
    EXA_OFF_SECONDS = 6,
    EXA_OFF_FRACTION = 10, /* 5 bytes */

    /* Ixia */
    IXIA_LEN = 15,
    IXIA_OFF_SOURCE = 0,
    IXIA_OFF_TIME_LEN = 1,
    IXIA_OFF_SECONDS = 2,
    IXIA_OFF_NANOS = 6,
    IXIA_OFF_TRAILER_LEN = 10,
    IXIA_OFF_SIGNATURE = 11,
    IXIA_OFF_CHECKSUM = 13,
    IXIA_TIME_LEN = 8,
    IXIA_TRAILER_LEN = 10, /* the bytes before the length byte */
    IXIA_SIGNATURE = 0xaf12,
    IXIA_SRC_LOCAL = 3,
    IXIA_SRC_NTP = 4,
    IXIA_SRC_GPS = 5,
    IXIA_SRC_PTP = 6,
    IXIA_SRC_HOLDOVER = 7,

    /* VSS Monitoring */
    VSS_TIME_LEN = 8,
    VSS_PORT1_LEN = 9,
    VSS_CLKSRC_SHIFT = 30,
    VSS_NS_MASK = 0x3fffffff,
    VSS_CLKSRC_LOCAL = 0,
};

static const char *const kind_names[] = {
    [CS_TRAILER_NONE] = "none",         [CS_TRAILER_METAMAKO] = "metamako",
    [CS_TRAILER_EXABLAZE] = "exablaze", [CS_TRAILER_IXIA] = "ixia",
    [CS_TRAILER_VSS] = "vss",
};

int cs_trailer_kind_parse(const char *name, cs_trailer_kind *out)
{
    for (int k = CS_TRAILER_METAMAKO; k <= CS_TRAILER_VSS; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (cs_trailer_kind)k;
            return 0;
        }
    }
    return -1;
}

const char *cs_trailer_kind_name(cs_trailer_kind kind)
{
    if ((unsigned)kind > CS_TRAILER_VSS)
        return "unknown";
    return kind_names[kind];
}

/* ---- shared ----------------------------------------------------------------------- */

static cs_trailer_status check_time(uint32_t sec, uint32_t nsec)
{
    return sec == 0 || nsec >= NS_PER_SEC ? CS_TRAILER_BAD_TIME : CS_TRAILER_OK;
}

static int64_t to_ns(uint32_t sec, uint32_t nsec)
{
    return (int64_t)sec * NS_PER_SEC + nsec;
}

/* The last "n" bytes of the region (the caller has checked there are n). */
static const uint8_t *tail(const cs_cursor *r, size_t n)
{
    return r->base + r->len - n;
}

/* The Internet checksum (RFC 1071) of "n" bytes, an odd last byte padded with zero. */
static uint16_t inet_checksum(const uint8_t *p, size_t n)
{
    uint32_t sum = 0;

    for (size_t i = 0; i + 1 < n; i += 2)
        sum += cs_rd_be16(p + i);
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* ---- Metamako ----------------------------------------------------------------------- */

/* Walks the extension TLVs backwards from the end of "r" (positioned just before the
 * seconds, i.e. r->len excludes the fixed tail) and returns the bytes they take, or -1
 * if the chain runs past the region's start before a TLV marked last. */
static long metamako_tlv_bytes(const cs_cursor *r)
{
    size_t used = 0;

    for (;;) {
        uint32_t word, words;

        if (r->len - used < MM_TLV_WORD)
            return -1;
        word = cs_rd_be32(r->base + r->len - used - MM_TLV_WORD);
        if ((word & MM_TLV_TAG_MASK) == MM_TLV_TAG_SECONDARY)
            words = ((word >> MM_TLV_LEN_SHIFT) & MM_TLV_LONG_LEN_MASK) + 1;
        else
            words = (word >> MM_TLV_LEN_SHIFT) & MM_TLV_LEN_MASK;
        if ((r->len - used - MM_TLV_WORD) / MM_TLV_WORD < words)
            return -1;
        used += MM_TLV_WORD * (1 + (size_t)words);
        if (word & MM_TLV_LAST)
            return (long)used;
    }
}

static cs_trailer_status read_metamako(const cs_cursor *r, cs_trailer *out)
{
    const uint8_t *t;
    uint32_t sec, nsec;
    uint8_t flags;
    size_t len = MM_MIN;
    cs_cursor before;
    cs_trailer_status st;

    if (r->len < MM_MIN)
        return CS_TRAILER_CUT;
    t = tail(r, MM_TAIL);
    sec = cs_rd_be32(t);
    nsec = cs_rd_be32(t + 4);
    flags = t[8];
    if ((st = check_time(sec, nsec)) != CS_TRAILER_OK)
        return st;
    if (flags & MM_FLAG_EXTENSIONS) {
        long ext;

        cs_cursor_init(&before, r->base, r->len - MM_TAIL);
        ext = metamako_tlv_bytes(&before);
        if (ext < 0 || r->len - MM_TAIL - (size_t)ext < MM_FCS)
            return CS_TRAILER_CUT;
        len += (size_t)ext;
    }
    out->ts_ns = to_ns(sec, nsec);
    out->device = cs_rd_be16(t + 9);
    out->port = t[11];
    out->sync_known = 1;
    out->synced = (flags & MM_FLAG_TS_DEGRADED) == 0;
    out->len = (uint32_t)len;
    return CS_TRAILER_OK;
}

/* ---- Exablaze ----------------------------------------------------------------------- */

/* ns = fraction * 10^9 / 2^40 rounded down, computed exactly: 10^9 = 2^9 * 1953125, so
 * it is fraction * 1953125 / 2^31, and fraction * 1953125 < 2^61 fits. */
static uint32_t exablaze_ns(uint64_t fraction)
{
    return (uint32_t)((fraction * 1953125u) >> 31);
}

static cs_trailer_status read_exablaze(const cs_cursor *r, cs_trailer *out)
{
    const uint8_t *t;
    uint32_t sec, nsec;
    uint64_t fraction;

    if (r->len < EXA_LEN)
        return CS_TRAILER_CUT;
    t = tail(r, EXA_LEN);
    sec = cs_rd_be32(t + EXA_OFF_SECONDS);
    fraction = ((uint64_t)t[EXA_OFF_FRACTION] << 32) | cs_rd_be32(t + EXA_OFF_FRACTION + 1);
    nsec = exablaze_ns(fraction);
    if (check_time(sec, nsec) != CS_TRAILER_OK)
        return CS_TRAILER_BAD_TIME;
    out->ts_ns = to_ns(sec, nsec);
    out->device = t[EXA_OFF_DEVICE];
    out->port = t[EXA_OFF_PORT];
    out->sync_known = 0;
    out->synced = 0;
    out->len = EXA_LEN;
    return CS_TRAILER_OK;
}

/* ---- Ixia --------------------------------------------------------------------------- */

static int ixia_is_time_source(uint8_t source)
{
    return source >= IXIA_SRC_LOCAL && source <= IXIA_SRC_HOLDOVER;
}

static int ixia_is_synced(uint8_t source)
{
    return source == IXIA_SRC_NTP || source == IXIA_SRC_GPS || source == IXIA_SRC_PTP;
}

static cs_trailer_status read_ixia(const cs_cursor *r, cs_trailer *out)
{
    const uint8_t *t;
    uint32_t sec, nsec;
    cs_trailer_status st;

    if (r->len < IXIA_LEN)
        return CS_TRAILER_CUT;
    t = tail(r, IXIA_LEN);
    if (cs_rd_be16(t + IXIA_OFF_SIGNATURE) != IXIA_SIGNATURE ||
        t[IXIA_OFF_TRAILER_LEN] != IXIA_TRAILER_LEN || t[IXIA_OFF_TIME_LEN] != IXIA_TIME_LEN ||
        !ixia_is_time_source(t[IXIA_OFF_SOURCE]) ||
        inet_checksum(t, IXIA_OFF_CHECKSUM) != cs_rd_be16(t + IXIA_OFF_CHECKSUM))
        return CS_TRAILER_ABSENT;
    sec = cs_rd_be32(t + IXIA_OFF_SECONDS);
    nsec = cs_rd_be32(t + IXIA_OFF_NANOS);
    if ((st = check_time(sec, nsec)) != CS_TRAILER_OK)
        return st;
    out->ts_ns = to_ns(sec, nsec);
    out->device = 0;
    out->port = 0;
    out->sync_known = 1;
    out->synced = (uint8_t)ixia_is_synced(t[IXIA_OFF_SOURCE]);
    out->len = IXIA_LEN;
    return CS_TRAILER_OK;
}

/* ---- VSS Monitoring ------------------------------------------------------------------ */

static cs_trailer_status read_vss(const cs_cursor *r, int start_known, cs_trailer *out)
{
    uint32_t sec, word, nsec;
    cs_trailer_status st;

    if (!start_known || r->len > VSS_PORT1_LEN)
        return CS_TRAILER_ABSENT;
    if (r->len < VSS_TIME_LEN)
        return CS_TRAILER_CUT;
    sec = cs_rd_be32(r->base);
    word = cs_rd_be32(r->base + 4);
    nsec = word & VSS_NS_MASK;
    if ((st = check_time(sec, nsec)) != CS_TRAILER_OK)
        return st;
    out->ts_ns = to_ns(sec, nsec);
    out->device = 0;
    out->port = r->len == VSS_PORT1_LEN ? r->base[VSS_TIME_LEN] : 0;
    out->sync_known = 1;
    out->synced = (word >> VSS_CLKSRC_SHIFT) != VSS_CLKSRC_LOCAL;
    out->len = (uint32_t)r->len;
    return CS_TRAILER_OK;
}

/* ---- entry -------------------------------------------------------------------------- */

/* Where a trailer can start: just past the IP packet, past the padding of a minimum
 * frame, or (unknown IP end) the frame's first byte. */
static uint32_t region_start(uint32_t caplen, uint32_t ip_end)
{
    if (ip_end != 0 && ip_end < ETH_MIN_FRAME && caplen >= ETH_MIN_FRAME)
        return ETH_MIN_FRAME;
    return ip_end;
}

cs_trailer_status cs_trailer_read(cs_trailer_kind kind, const uint8_t *frame, uint32_t caplen,
                                  uint32_t wirelen, uint32_t ip_end, cs_trailer *out)
{
    uint32_t start;
    cs_cursor r;
    cs_trailer t;
    cs_trailer_status st;

    if (kind <= CS_TRAILER_NONE || kind > CS_TRAILER_VSS)
        return CS_TRAILER_ABSENT;
    if (caplen < wirelen || ip_end > caplen)
        return CS_TRAILER_CUT;
    start = region_start(caplen, ip_end);
    if (start == caplen)
        return CS_TRAILER_ABSENT;
    cs_cursor_init(&r, frame + start, caplen - start);
    switch (kind) {
    case CS_TRAILER_METAMAKO:
        st = read_metamako(&r, &t);
        break;
    case CS_TRAILER_EXABLAZE:
        st = read_exablaze(&r, &t);
        break;
    case CS_TRAILER_IXIA:
        st = read_ixia(&r, &t);
        break;
    default:
        st = read_vss(&r, ip_end != 0, &t);
        break;
    }
    if (st == CS_TRAILER_OK)
        *out = t;
    return st;
}

/*
 * test_trailer.c - unit tests for src/packet/trailer.c.
 *
 * Hand-built Ethernet/IPv4/UDP frames, padded to 60 bytes when short as on
 * the wire, with a trailer of each format appended as the tap appends it
 * (layouts in trailer.h): good trailers and their fields, Metamako's 16- and
 * 20-byte forms and longer TLV chains, flags, clock sources, cut-short
 * frames, bad times, frames without a trailer, padding before the trailer,
 * and "ip_end" unknown. Every frame is read from an exactly sized heap copy
 * (ASan sees any read past caplen), and every good frame is also read cut
 * at each shorter length, as captured (caplen < wirelen) and as if it ended
 * there (caplen == wirelen), where it must never claim more than it holds.
 *
 * The formats themselves are checked against tshark by
 * tests/golden/trailer_tshark.py (that script's header says how).
 */
#include "packet/trailer.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

enum {
    SEC = 1700000000u, /* 2023-11-14 */
    NSEC = 123456789u,
    ETH_MIN = 60,
    IP_OFF = 14,
};

/* ---- frame building ------------------------------------------------------------- */

typedef struct frame {
    uint8_t b[512];
    uint32_t n;
    uint32_t ip_end; /* offset just past the IP packet */
} frame;

static void put(frame *f, const void *d, size_t n)
{
    assert_true(f->n + n <= sizeof(f->b));
    memcpy(f->b + f->n, d, n);
    f->n += (uint32_t)n;
}

static void put_u8(frame *f, uint8_t v)
{
    put(f, &v, 1);
}

static void put_be16(frame *f, uint16_t v)
{
    put_u8(f, (uint8_t)(v >> 8));
    put_u8(f, (uint8_t)v);
}

static void put_be32(frame *f, uint32_t v)
{
    put_be16(f, (uint16_t)(v >> 16));
    put_be16(f, (uint16_t)v);
}

/* Ethernet + IPv4 + UDP with "payload" bytes, padded to 60 bytes when shorter. */
static void udp_frame(frame *f, size_t payload)
{
    static const uint8_t eth[14] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00};

    memset(f, 0, sizeof(*f));
    put(f, eth, sizeof(eth));
    put_be16(f, 0x4500);
    put_be16(f, (uint16_t)(28 + payload));
    put_be32(f, 0);
    put_be32(f, 0x40110000); /* TTL 64, UDP, checksum not checked here */
    put_be32(f, 0x0a000001);
    put_be32(f, 0x0a000002);
    put_be32(f, (1000u << 16) | 2000u);
    put_be32(f, (uint32_t)(8 + payload) << 16);
    for (size_t i = 0; i < payload; i++)
        put_u8(f, (uint8_t)('a' + i % 26));
    f->ip_end = f->n;
    while (f->n < ETH_MIN)
        put_u8(f, 0);
}

static void metamako_tail(frame *f, uint32_t sec, uint32_t nsec, uint8_t flags, uint16_t dev,
                          uint8_t port)
{
    put_be32(f, sec);
    put_be32(f, nsec);
    put_u8(f, flags);
    put_be16(f, dev);
    put_u8(f, port);
}

/* A TLV header word: inline data 24 bits, then | len 2b | last 1b | tag 5b |. */
static uint32_t tlv_word(uint32_t inline24, unsigned len, bool last, unsigned tag)
{
    return (inline24 << 8) | (len << 6) | (last ? 0x20u : 0) | tag;
}

static void exablaze(frame *f, uint8_t dev, uint8_t port, uint32_t sec, uint64_t fraction)
{
    put_be32(f, 0xdeadbeef); /* original FCS */
    put_u8(f, dev);
    put_u8(f, port);
    put_be32(f, sec);
    put_u8(f, (uint8_t)(fraction >> 32));
    put_be32(f, (uint32_t)fraction);
    put_u8(f, 0);
}

static uint16_t inet_checksum(const uint8_t *p, size_t n)
{
    uint32_t sum = 0;

    for (size_t i = 0; i < n; i++)
        sum += i % 2 ? p[i] : (uint32_t)p[i] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void ixia(frame *f, uint8_t source, uint32_t sec, uint32_t nsec)
{
    uint32_t start = f->n;

    put_u8(f, source);
    put_u8(f, 8);
    put_be32(f, sec);
    put_be32(f, nsec);
    put_u8(f, 10);
    put_be16(f, 0xaf12);
    put_be16(f, inet_checksum(f->b + start, 13));
}

static void vss(frame *f, uint32_t sec, unsigned clksrc, uint32_t nsec)
{
    put_be32(f, sec);
    put_be32(f, ((uint32_t)clksrc << 30) | nsec);
}

/* ---- reading ---------------------------------------------------------------------- */

/* Reads "f" cut to "caplen" bytes of "wirelen", from an exactly sized heap copy; checks
 * that *out is untouched unless the result is OK, and what an OK result claims. */
static cs_trailer_status read_cut(cs_trailer_kind kind, const frame *f, uint32_t caplen,
                                  uint32_t wirelen, uint32_t ip_end, cs_trailer *out)
{
    uint8_t *copy = malloc(caplen ? caplen : 1);
    cs_trailer before;
    cs_trailer_status st;

    assert_non_null(copy);
    memcpy(copy, f->b, caplen);
    memset(out, 0xa5, sizeof(*out));
    before = *out;
    st = cs_trailer_read(kind, copy, caplen, wirelen, ip_end, out);
    free(copy);
    if (st != CS_TRAILER_OK) {
        assert_memory_equal(out, &before, sizeof(*out));
        return st;
    }
    assert_true(out->len > 0 && out->len <= caplen);
    assert_true(out->ts_ns % 1000000000 >= 0);
    assert_true(out->ts_ns >= 1000000000);
    assert_true(!out->synced || out->sync_known);
    return st;
}

static cs_trailer_status read_frame(cs_trailer_kind kind, const frame *f, cs_trailer *out)
{
    return read_cut(kind, f, f->n, f->n, f->ip_end, out);
}

/* Every shorter capture of a good frame: cut (caplen < wirelen) is always CUT; a frame
 * that really ends there never yields a trailer longer than what is left of it. */
static void check_every_cut(cs_trailer_kind kind, const frame *f)
{
    cs_trailer t;

    for (uint32_t n = 0; n < f->n; n++) {
        uint32_t ip_end = f->ip_end <= n ? f->ip_end : n;

        assert_int_equal(read_cut(kind, f, n, f->n, f->ip_end, &t), CS_TRAILER_CUT);
        if (read_cut(kind, f, n, n, ip_end, &t) == CS_TRAILER_OK)
            assert_true(t.len <= n);
    }
}

static void expect_ok(cs_trailer_kind kind, const frame *f, int64_t ts_ns, uint16_t dev,
                      uint16_t port, uint32_t len, cs_trailer *t)
{
    assert_int_equal(read_frame(kind, f, t), CS_TRAILER_OK);
    assert_int_equal(t->ts_ns, ts_ns);
    assert_int_equal(t->device, dev);
    assert_int_equal(t->port, port);
    assert_int_equal(t->len, len);
    check_every_cut(kind, f);
}

static const int64_t TS = (int64_t)SEC * 1000000000 + NSEC;

/* ---- names ------------------------------------------------------------------------- */

static void test_kind_names(void **state)
{
    static const char *const names[] = {"metamako", "exablaze", "ixia", "vss"};
    cs_trailer_kind k = CS_TRAILER_NONE;

    (void)state;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cs_trailer_kind_parse(names[i], &k), 0);
        assert_int_equal(k, CS_TRAILER_METAMAKO + i);
        assert_string_equal(cs_trailer_kind_name(k), names[i]);
    }
    k = CS_TRAILER_VSS;
    assert_int_equal(cs_trailer_kind_parse("arista", &k), -1);
    assert_int_equal(cs_trailer_kind_parse("", &k), -1);
    assert_int_equal(cs_trailer_kind_parse("Metamako", &k), -1);
    assert_int_equal(k, CS_TRAILER_VSS);
    assert_string_equal(cs_trailer_kind_name(CS_TRAILER_NONE), "none");
}

/* ---- Metamako ------------------------------------------------------------------------ */

static void test_metamako_16(void **state)
{
    frame f;
    cs_trailer t;

    (void)state;
    udp_frame(&f, 100);
    put_be32(&f, 0x11223344); /* original FCS */
    metamako_tail(&f, SEC, NSEC, 0x01, 0xbeef, 7);
    expect_ok(CS_TRAILER_METAMAKO, &f, TS, 0xbeef, 7, 16, &t);
    assert_int_equal(t.sync_known, 1);
    assert_int_equal(t.synced, 1);
    /* flag 0x10: the timestamp is degraded, the clock not synchronised */
    udp_frame(&f, 100);
    put_be32(&f, 0x11223344);
    metamako_tail(&f, SEC, NSEC, 0x11, 0xbeef, 7);
    expect_ok(CS_TRAILER_METAMAKO, &f, TS, 0xbeef, 7, 16, &t);
    assert_int_equal(t.sync_known, 1);
    assert_int_equal(t.synced, 0);
}

static void test_metamako_20_one_tlv(void **state)
{
    frame f;
    cs_trailer t;

    (void)state;
    udp_frame(&f, 100);
    put_be32(&f, 0x11223344);
    put_be32(&f, tlv_word(0x00abcd, 0, true, 0)); /* tag 0: sequence number 0xabcd */
    metamako_tail(&f, SEC, NSEC, 0x03, 1, 255);
    expect_ok(CS_TRAILER_METAMAKO, &f, TS, 1, 255, 20, &t);
}

static void test_metamako_tlv_chain(void **state)
{
    frame f;
    cs_trailer t;

    (void)state;
    /* frame order: last TLV (secondary header, 2 data words), a 1-data-word tag, then
     * the first TLV (sub-nanoseconds) next to the seconds: 3 + 2 + 1 words */
    udp_frame(&f, 100);
    put_be32(&f, 0x11223344);
    put_be32(&f, 0xaaaaaaaa);
    put_be32(&f, 0xbbbbbbbb);
    put_be32(&f, (5u << 16) | (1u << 6) | 0x20 | 0x1f); /* 1 + 1 data words, last */
    put_be32(&f, 0xcccccccc);
    put_be32(&f, tlv_word(0x123456, 1, false, 7));
    put_be32(&f, tlv_word(0x800000, 0, false, 1));
    metamako_tail(&f, SEC, NSEC, 0x02, 9, 3);
    expect_ok(CS_TRAILER_METAMAKO, &f, TS, 9, 3, 16 + 24, &t);
}

static void test_metamako_flags(void **state)
{
    frame f;
    cs_trailer t;

    (void)state;
    /* TLV words present but the flag clear: they are taken for padding */
    udp_frame(&f, 100);
    put_be32(&f, 0x11223344);
    put_be32(&f, tlv_word(1, 0, true, 0));
    metamako_tail(&f, SEC, NSEC, 0x00, 2, 4);
    assert_int_equal(read_frame(CS_TRAILER_METAMAKO, &f, &t), CS_TRAILER_OK);
    assert_int_equal(t.len, 16);

    /* the flag set but no room for the TLV and the original FCS */
    udp_frame(&f, 100);
    put_be32(&f, 0x11223344);
    metamako_tail(&f, SEC, NSEC, 0x02, 2, 4);
    assert_int_equal(read_frame(CS_TRAILER_METAMAKO, &f, &t), CS_TRAILER_CUT);

    /* a chain that never says "last" runs out of region */
    udp_frame(&f, 100);
    put_be32(&f, 0x11223344);
    put_be32(&f, tlv_word(1, 0, false, 0));
    put_be32(&f, tlv_word(1, 0, false, 0));
    metamako_tail(&f, SEC, NSEC, 0x02, 2, 4);
    assert_int_equal(read_frame(CS_TRAILER_METAMAKO, &f, &t), CS_TRAILER_CUT);

    /* a TLV whose data words reach back past the region */
    udp_frame(&f, 100);
    put_be32(&f, 0x11223344);
    put_be32(&f, (1000u << 6) | 0x20 | 0x1f);
    metamako_tail(&f, SEC, NSEC, 0x02, 2, 4);
    assert_int_equal(read_frame(CS_TRAILER_METAMAKO, &f, &t), CS_TRAILER_CUT);
}

static void test_metamako_bad_time(void **state)
{
    frame f;
    cs_trailer t;

    (void)state;
    udp_frame(&f, 100);
    put_be32(&f, 0);
    metamako_tail(&f, 0, NSEC, 0, 1, 1);
    assert_int_equal(read_frame(CS_TRAILER_METAMAKO, &f, &t), CS_TRAILER_BAD_TIME);
    udp_frame(&f, 100);
    put_be32(&f, 0);
    metamako_tail(&f, SEC, 1000000000u, 0, 1, 1);
    assert_int_equal(read_frame(CS_TRAILER_METAMAKO, &f, &t), CS_TRAILER_BAD_TIME);
    udp_frame(&f, 100);
    put_be32(&f, 0);
    metamako_tail(&f, SEC, 999999999u, 0, 1, 1);
    assert_int_equal(read_frame(CS_TRAILER_METAMAKO, &f, &t), CS_TRAILER_OK);
    assert_int_equal(t.ts_ns, (int64_t)SEC * 1000000000 + 999999999);
}

/* ---- Exablaze ------------------------------------------------------------------------ */

static void test_exablaze(void **state)
{
    static const struct {
        uint64_t fraction;
        uint32_t ns;
    } cases[] = {
        {0, 0},
        {1, 0},
        {1ull << 39, 500000000},
        {1ull << 38, 250000000},
        {(1ull << 40) - 1, 999999999},
        {0x1f9add373aull, 123456789}, /* 123456789.0002 ns */
        {0x1f9add3739ull, 123456788}, /* 123456788.9993 ns: rounded down */
    };
    frame f;
    cs_trailer t;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        udp_frame(&f, 80);
        exablaze(&f, 200, 17, SEC, cases[i].fraction);
        expect_ok(CS_TRAILER_EXABLAZE, &f, (int64_t)SEC * 1000000000 + cases[i].ns, 200, 17, 16,
                  &t);
        assert_int_equal(t.sync_known, 0);
    }
    udp_frame(&f, 80);
    exablaze(&f, 1, 1, 0, 5);
    assert_int_equal(read_frame(CS_TRAILER_EXABLAZE, &f, &t), CS_TRAILER_BAD_TIME);
}

/* ---- Ixia ----------------------------------------------------------------------------- */

static void test_ixia(void **state)
{
    frame f;
    cs_trailer t;

    (void)state;
    for (uint8_t src = 3; src <= 7; src++) {
        udp_frame(&f, 80);
        ixia(&f, src, SEC, NSEC);
        expect_ok(CS_TRAILER_IXIA, &f, TS, 0, 0, 15, &t);
        assert_int_equal(t.sync_known, 1);
        assert_int_equal(t.synced, src >= 4 && src <= 6);
    }
    udp_frame(&f, 80);
    ixia(&f, 4, SEC, 1000000000u);
    assert_int_equal(read_frame(CS_TRAILER_IXIA, &f, &t), CS_TRAILER_BAD_TIME);
    udp_frame(&f, 80);
    ixia(&f, 4, 0, NSEC);
    assert_int_equal(read_frame(CS_TRAILER_IXIA, &f, &t), CS_TRAILER_BAD_TIME);
}

static void test_ixia_not_ixia(void **state)
{
    frame f;
    cs_trailer t;

    (void)state;
    udp_frame(&f, 80);
    ixia(&f, 4, SEC, NSEC);
    f.b[f.n - 1] ^= 1; /* checksum */
    assert_int_equal(read_frame(CS_TRAILER_IXIA, &f, &t), CS_TRAILER_ABSENT);
    udp_frame(&f, 80);
    ixia(&f, 4, SEC, NSEC);
    f.b[f.n - 4] = 0xae; /* signature */
    assert_int_equal(read_frame(CS_TRAILER_IXIA, &f, &t), CS_TRAILER_ABSENT);
    udp_frame(&f, 80);
    ixia(&f, 2, SEC, NSEC); /* not a time source */
    assert_int_equal(read_frame(CS_TRAILER_IXIA, &f, &t), CS_TRAILER_ABSENT);
    udp_frame(&f, 80);
    put_be32(&f, 0x11223344); /* a Metamako trailer is no Ixia one */
    metamako_tail(&f, SEC, NSEC, 0, 1, 1);
    assert_int_equal(read_frame(CS_TRAILER_IXIA, &f, &t), CS_TRAILER_ABSENT);
}

/* ---- VSS Monitoring ------------------------------------------------------------------- */

static void test_vss(void **state)
{
    frame f;
    cs_trailer t;

    (void)state;
    udp_frame(&f, 80);
    vss(&f, SEC, 0, NSEC);
    expect_ok(CS_TRAILER_VSS, &f, TS, 0, 0, 8, &t);
    assert_int_equal(t.sync_known, 1);
    assert_int_equal(t.synced, 0);
    for (unsigned clk = 1; clk <= 3; clk++) {
        udp_frame(&f, 80);
        vss(&f, SEC, clk, NSEC);
        put_u8(&f, 42);
        expect_ok(CS_TRAILER_VSS, &f, TS, 0, 42, 9, &t);
        assert_int_equal(t.synced, 1);
    }
    udp_frame(&f, 80); /* a 2-byte port stamp: tshark 4.0 reads none, nor does capstream */
    vss(&f, SEC, 3, NSEC);
    put_be16(&f, 300);
    assert_int_equal(read_frame(CS_TRAILER_VSS, &f, &t), CS_TRAILER_ABSENT);
    udp_frame(&f, 80);
    vss(&f, SEC, 3, 0x3fffffff); /* 1073741823 ns */
    assert_int_equal(read_frame(CS_TRAILER_VSS, &f, &t), CS_TRAILER_BAD_TIME);
    udp_frame(&f, 80);
    put_be32(&f, 1);
    put_u8(&f, 1); /* 5 bytes: too few */
    assert_int_equal(read_frame(CS_TRAILER_VSS, &f, &t), CS_TRAILER_CUT);
}

/* ---- where the trailer is --------------------------------------------------------------- */

static void test_no_trailer(void **state)
{
    frame f;
    cs_trailer t;

    (void)state;
    for (cs_trailer_kind k = CS_TRAILER_METAMAKO; k <= CS_TRAILER_VSS; k++) {
        udp_frame(&f, 100); /* ip_end == caplen */
        assert_int_equal(read_frame(k, &f, &t), CS_TRAILER_ABSENT);
        udp_frame(&f, 4); /* padding only: ip_end 46, caplen 60 */
        assert_int_equal(f.n, ETH_MIN);
        assert_int_equal(read_frame(k, &f, &t), CS_TRAILER_ABSENT);
        assert_int_equal(read_frame(CS_TRAILER_NONE, &f, &t), CS_TRAILER_ABSENT);
    }
}

static void test_padding_before_trailer(void **state)
{
    frame f;
    cs_trailer t;

    (void)state;
    udp_frame(&f, 2);
    put_be32(&f, 0x11223344);
    metamako_tail(&f, SEC, NSEC, 0, 5, 6);
    expect_ok(CS_TRAILER_METAMAKO, &f, TS, 5, 6, 16, &t);
    udp_frame(&f, 2);
    exablaze(&f, 5, 6, SEC, 0);
    expect_ok(CS_TRAILER_EXABLAZE, &f, (int64_t)SEC * 1000000000, 5, 6, 16, &t);
    udp_frame(&f, 2);
    ixia(&f, 6, SEC, NSEC);
    expect_ok(CS_TRAILER_IXIA, &f, TS, 0, 0, 15, &t);
    udp_frame(&f, 2);
    vss(&f, SEC, 2, NSEC);
    put_u8(&f, 6);
    expect_ok(CS_TRAILER_VSS, &f, TS, 0, 6, 9, &t);

    /* bytes between the IP packet and a Metamako trailer, in a frame over 60 bytes */
    udp_frame(&f, 100);
    put_be32(&f, 0x55555555);
    put_be32(&f, 0x11223344);
    metamako_tail(&f, SEC, NSEC, 0, 5, 6);
    expect_ok(CS_TRAILER_METAMAKO, &f, TS, 5, 6, 16, &t);
}

static void test_cut_short(void **state)
{
    frame f;
    cs_trailer t;

    (void)state;
    udp_frame(&f, 100);
    put_be32(&f, 0x11223344);
    metamako_tail(&f, SEC, NSEC, 0, 5, 6);
    assert_int_equal(read_cut(CS_TRAILER_METAMAKO, &f, f.n, f.n + 1, f.ip_end, &t), CS_TRAILER_CUT);
    assert_int_equal(read_cut(CS_TRAILER_METAMAKO, &f, f.n - 1, f.n - 1, f.ip_end, &t),
                     CS_TRAILER_CUT);
    /* the IP packet claims more than the frame holds */
    assert_int_equal(read_cut(CS_TRAILER_METAMAKO, &f, f.n, f.n, f.n + 1, &t), CS_TRAILER_CUT);
    for (cs_trailer_kind k = CS_TRAILER_METAMAKO; k <= CS_TRAILER_IXIA; k++) {
        udp_frame(&f, 100);
        put_be32(&f, 0x01020304); /* 4 bytes after the IP packet */
        assert_int_equal(read_frame(k, &f, &t), CS_TRAILER_CUT);
    }
}

static void test_ip_end_unknown(void **state)
{
    frame f;
    cs_trailer t;

    (void)state;
    udp_frame(&f, 100);
    put_be32(&f, 0x11223344);
    metamako_tail(&f, SEC, NSEC, 0, 5, 6);
    assert_int_equal(read_cut(CS_TRAILER_METAMAKO, &f, f.n, f.n, 0, &t), CS_TRAILER_OK);
    assert_int_equal(t.ts_ns, TS);
    assert_int_equal(t.len, 16);
    udp_frame(&f, 2);
    ixia(&f, 5, SEC, NSEC);
    assert_int_equal(read_cut(CS_TRAILER_IXIA, &f, f.n, f.n, 0, &t), CS_TRAILER_OK);
    assert_int_equal(t.ts_ns, TS);
    udp_frame(&f, 100);
    exablaze(&f, 1, 2, SEC, 1ull << 39);
    assert_int_equal(read_cut(CS_TRAILER_EXABLAZE, &f, f.n, f.n, 0, &t), CS_TRAILER_OK);
    udp_frame(&f, 100); /* VSS has no length of its own: unknown start, unknown trailer */
    vss(&f, SEC, 2, NSEC);
    assert_int_equal(read_cut(CS_TRAILER_VSS, &f, f.n, f.n, 0, &t), CS_TRAILER_ABSENT);
    /* the frame's own last bytes read as a trailer: a bad time, not a crash */
    udp_frame(&f, 100);
    assert_int_not_equal(read_cut(CS_TRAILER_METAMAKO, &f, 10, 10, 0, &t), CS_TRAILER_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_metamako_16),
        cmocka_unit_test(test_metamako_20_one_tlv),
        cmocka_unit_test(test_metamako_tlv_chain),
        cmocka_unit_test(test_metamako_flags),
        cmocka_unit_test(test_metamako_bad_time),
        cmocka_unit_test(test_exablaze),
        cmocka_unit_test(test_ixia),
        cmocka_unit_test(test_ixia_not_ixia),
        cmocka_unit_test(test_vss),
        cmocka_unit_test(test_no_trailer),
        cmocka_unit_test(test_padding_before_trailer),
        cmocka_unit_test(test_cut_short),
        cmocka_unit_test(test_ip_end_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_timeref.c - the capture's time source (packet/timeref.h): parsing
 * its names, a Metamako trailer giving a dissected packet its reference
 * time and tap while the host's stamp moves to cap_ns, every reason a frame
 * keeps the host's time (no trailer, cut short, bad time, too far) counted,
 * the not-synchronised flag, idempotence on a packet read back from the
 * store, per-tap time sources.
 */
#include "packet/timeref.h"

#include "core/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define HOST_NS 1767623400000100000LL /* the pcap record's time */
#define SEC 1767623400u
#define NSEC 75000u /* trailer time: 25 us before the host's */
#define REF_NS ((int64_t)SEC * 1000000000 + NSEC)

typedef struct frame {
    uint8_t b[256];
    uint32_t n;
} frame;

static void put(frame *f, const void *p, size_t n)
{
    memcpy(f->b + f->n, p, n);
    f->n += (uint32_t)n;
}

static void be32(frame *f, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(f, b, 4);
}

/* Ethernet / IPv4 / UDP with "payload" bytes, padded to 60 bytes. */
static void udp_frame(frame *f, uint16_t payload)
{
    static const uint8_t eth[14] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00};
    uint16_t ip_len = (uint16_t)(20 + 8 + payload);
    uint8_t ip[20] = {0x45,
                      0,
                      (uint8_t)(ip_len >> 8),
                      (uint8_t)ip_len,
                      0,
                      0,
                      0,
                      0,
                      64,
                      17,
                      0,
                      0,
                      10,
                      9,
                      0,
                      1,
                      233,
                      54,
                      12,
                      111};
    uint8_t udp[8] = {0x67, 0x6d, 0x67, 0x6d, (uint8_t)((8 + payload) >> 8), (uint8_t)(8 + payload),
                      0,    0};

    f->n = 0;
    put(f, eth, sizeof(eth));
    put(f, ip, sizeof(ip));
    put(f, udp, sizeof(udp));
    memset(f->b + f->n, 'x', payload);
    f->n += payload;
    while (f->n < 60)
        f->b[f->n++] = 0;
}

/* The 16-byte Metamako trailer: original FCS, seconds, ns, flags, device, port. */
static void metamako(frame *f, uint32_t sec, uint32_t nsec, uint8_t flags, uint16_t device,
                     uint8_t port)
{
    uint8_t tail[4] = {flags, (uint8_t)(device >> 8), (uint8_t)device, port};

    be32(f, 0xdeadbeef);
    be32(f, sec);
    be32(f, nsec);
    put(f, tail, sizeof(tail));
}

/* Applies "cfg" to frame "f" stamped HOST_NS by the host; the trailer's tap
 * (or 0xffff) in "*tap". */
static cs_packet apply(const cs_timeref_cfg *cfg, frame *f, uint32_t wirelen, cs_timeref_stats *st,
                       uint16_t *tap)
{
    cs_packet p = {.ts_ns = HOST_NS,
                   .caplen = f->n,
                   .wirelen = wirelen ? wirelen : f->n,
                   .linktype = CS_LINK_ETHERNET,
                   .tap = 3,
                   .data = f->b};
    cs_layers l;

    assert_int_equal(cs_dissect(&p, &l), 0);
    *tap = 0xffff;
    cs_timeref_apply(cfg, &p, &l, tap, st);
    return p;
}

static cs_timeref_cfg metamako_cfg(void)
{
    cs_timeref_cfg c = {0};

    assert_int_equal(cs_timeref_parse("trailer:metamako", &c), 0);
    c.tap_by_trailer = 1;
    return c;
}

static void test_parse(void **state)
{
    cs_timeref_cfg c = {0};
    char buf[64];

    (void)state;
    assert_int_equal(cs_timeref_parse("kernel", &c), 0);
    assert_int_equal(c.source, CS_TIME_KERNEL);
    assert_int_equal(cs_timeref_parse("hardware", &c), 0);
    assert_int_equal(c.source, CS_TIME_HARDWARE);
    assert_int_equal(c.hw_fallback, 0);
    assert_int_equal(cs_timeref_parse("hardware,fallback", &c), 0);
    assert_int_equal(c.hw_fallback, 1);
    assert_string_equal(cs_timeref_name(&c, buf, sizeof(buf)), "hardware,fallback");
    assert_int_equal(cs_timeref_parse("trailer:exablaze", &c), 0);
    assert_int_equal(c.source, CS_TIME_TRAILER);
    assert_int_equal(c.trailer, CS_TRAILER_EXABLAZE);
    assert_string_equal(cs_timeref_name(&c, buf, sizeof(buf)), "trailer:exablaze");
    assert_int_equal(cs_timeref_parse("trailer:sundial", &c), CS_EINVAL);
    assert_non_null(strstr(cs_error_msg(CS_EINVAL), "unknown time source 'trailer:sundial'"));
    assert_int_equal(cs_timeref_parse("trailer:", &c), CS_EINVAL);
    assert_int_equal(cs_timeref_parse("gps", &c), CS_EINVAL);
    cs_error_clear();
}

/* A good trailer: its time, the host's beside it, its tap. */
static void test_trailer_gives_time_and_tap(void **state)
{
    cs_timeref_cfg c = metamako_cfg();
    cs_timeref_stats st = {0};
    uint16_t tap;
    frame f;
    cs_packet p;

    (void)state;
    udp_frame(&f, 100);
    metamako(&f, SEC, NSEC, 0x01, 1, 101);
    p = apply(&c, &f, 0, &st, &tap);
    assert_true(p.ts_ns == REF_NS);
    assert_true(p.cap_ns == HOST_NS);
    assert_true(cs_packet_cap_ns(&p) == HOST_NS);
    assert_int_equal(p.tref, CS_TREF_TRAILER);
    assert_int_equal(tap, 357);
    assert_int_equal(p.tap, 3); /* the source's tap is kept */
    assert_int_equal(st.timed, 1);
    assert_int_equal(st.missing + st.cut + st.bad_time + st.far + st.unsynced, 0);
    /* a padded frame: the trailer after the padding */
    udp_frame(&f, 4);
    metamako(&f, SEC, NSEC, 0x01, 2, 7);
    p = apply(&c, &f, 0, &st, &tap);
    assert_true(p.ts_ns == REF_NS);
    assert_int_equal(tap, 2 * 256 + 7);
    /* device 257 port 7 would wrap onto device 1 port 7 (tap 263): no tap
     * is given, the packet is counted, its time is still the trailer's */
    udp_frame(&f, 100);
    metamako(&f, SEC, NSEC, 0x01, 257, 7);
    p = apply(&c, &f, 0, &st, &tap);
    assert_true(p.ts_ns == REF_NS);
    assert_int_equal(tap, 0xffff);
    assert_int_equal(st.tap_over, 1);
    udp_frame(&f, 100); /* the highest device that has taps */
    metamako(&f, SEC, NSEC, 0x01, 255, 254);
    p = apply(&c, &f, 0, &st, &tap);
    assert_int_equal(tap, 255 * 256 + 254);
    assert_int_equal(st.tap_over, 1);
    /* without --tap-by trailer the trailer's tap is not given */
    c.tap_by_trailer = 0;
    p = apply(&c, &f, 0, &st, &tap);
    assert_int_equal(tap, 0xffff);
}

static void test_unsynced(void **state)
{
    cs_timeref_cfg c = metamako_cfg();
    cs_timeref_stats st = {0};
    uint16_t tap;
    frame f;
    cs_packet p;

    (void)state;
    udp_frame(&f, 100);
    metamako(&f, SEC, NSEC, 0x11, 1, 102);
    p = apply(&c, &f, 0, &st, &tap);
    assert_true(p.ts_ns == REF_NS);
    assert_int_equal(p.tref, CS_TREF_TRAILER | CS_TREF_UNSYNCED);
    assert_int_equal(st.unsynced, 1);
    assert_int_equal(st.timed, 1);
}

/* Each reason a frame keeps the host's time, counted. */
static void test_untimed(void **state)
{
    cs_timeref_cfg c = metamako_cfg();
    cs_timeref_stats st = {0};
    uint16_t tap;
    frame f;
    cs_packet p;

    (void)state;
    udp_frame(&f, 100); /* no trailer */
    p = apply(&c, &f, 0, &st, &tap);
    assert_true(p.ts_ns == HOST_NS && p.cap_ns == 0);
    assert_int_equal(p.tref, CS_TREF_UNTIMED);
    assert_int_equal(tap, 0xffff);
    assert_int_equal(st.missing, 1);

    udp_frame(&f, 100); /* cut: the capture ends before the frame */
    metamako(&f, SEC, NSEC, 0x01, 1, 101);
    p = apply(&c, &f, f.n + 20, &st, &tap);
    assert_true(p.ts_ns == HOST_NS && p.cap_ns == 0);
    assert_int_equal(st.cut, 1);

    udp_frame(&f, 100); /* zero seconds */
    metamako(&f, 0, NSEC, 0x01, 1, 101);
    p = apply(&c, &f, 0, &st, &tap);
    assert_true(p.ts_ns == HOST_NS);
    udp_frame(&f, 100); /* nanoseconds >= 10^9 */
    metamako(&f, SEC, 1000000000u, 0x01, 1, 101);
    p = apply(&c, &f, 0, &st, &tap);
    assert_true(p.ts_ns == HOST_NS);
    assert_int_equal(st.bad_time, 2);

    udp_frame(&f, 100); /* two hours from the host's time */
    metamako(&f, SEC + 7200, NSEC, 0x01, 1, 101);
    p = apply(&c, &f, 0, &st, &tap);
    assert_true(p.ts_ns == HOST_NS && p.cap_ns == 0);
    assert_int_equal(p.tref, CS_TREF_UNTIMED);
    assert_int_equal(st.far, 1);
    c.max_skew_ns = 3 * 3600LL * 1000000000LL; /* ... within a three-hour skew */
    p = apply(&c, &f, 0, &st, &tap);
    assert_true(p.ts_ns == REF_NS + 7200LL * 1000000000LL);
    assert_int_equal(st.timed, 1);
}

/* A packet read back from the store (ts_ns already the trailer's, cap_ns
 * the host's) gets the same times again; other time sources leave the
 * packet alone. */
static void test_idempotent_and_kernel(void **state)
{
    cs_timeref_cfg c = metamako_cfg(), k = {0};
    cs_timeref_stats st = {0};
    uint16_t tap = 0;
    frame f;
    cs_packet p = {0};
    cs_layers l;

    (void)state;
    udp_frame(&f, 100);
    metamako(&f, SEC, NSEC, 0x01, 1, 101);
    p = (cs_packet){.ts_ns = REF_NS,
                    .cap_ns = HOST_NS,
                    .caplen = f.n,
                    .wirelen = f.n,
                    .linktype = CS_LINK_ETHERNET,
                    .data = f.b};
    assert_int_equal(cs_dissect(&p, &l), 0);
    cs_timeref_apply(&c, &p, &l, &tap, &st);
    assert_true(p.ts_ns == REF_NS && p.cap_ns == HOST_NS);
    assert_int_equal(tap, 357);
    p = (cs_packet){
        .ts_ns = HOST_NS, .caplen = f.n, .wirelen = f.n, .linktype = CS_LINK_ETHERNET, .data = f.b};
    cs_timeref_apply(&k, &p, &l, &tap, &st);
    assert_true(p.ts_ns == HOST_NS && p.cap_ns == 0 && p.tref == 0);
}

static void test_per_tap(void **state)
{
    cs_timerefs t;

    (void)state;
    memset(&t, 0, sizeof(t));
    assert_int_equal(cs_timerefs_trailer(&t), 0);
    assert_int_equal(cs_timerefs_tap_by_trailer(&t), CS_EINVAL);
    assert_non_null(strstr(cs_error_msg(CS_EINVAL), "needs --time-source trailer"));
    assert_int_equal(cs_timeref_parse("trailer:vss", &t.tap[1]), 0);
    t.has_tap[1] = 1;
    assert_int_equal(cs_timerefs_for(&t, 0)->source, CS_TIME_KERNEL);
    assert_int_equal(cs_timerefs_for(&t, 1)->source, CS_TIME_TRAILER);
    assert_int_equal(cs_timerefs_for(&t, 999)->source, CS_TIME_KERNEL);
    assert_int_equal(cs_timerefs_tap_by_trailer(&t), 0);
    assert_int_equal(cs_timerefs_for(&t, 1)->tap_by_trailer, 1);
    cs_error_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_trailer_gives_time_and_tap),
        cmocka_unit_test(test_unsynced),
        cmocka_unit_test(test_untimed),
        cmocka_unit_test(test_idempotent_and_kernel),
        cmocka_unit_test(test_per_tap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

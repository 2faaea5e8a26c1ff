/*
 * test_afpacket.c - unit tests of the AF_PACKET live source and of the
 * privilege drop, on a real veth pair.
 *
 * Needs root (CI runs as root). Before the tests, the process moves into a
 * network namespace of its own (unshare(CLONE_NEWNET)), so the interfaces it
 * makes exist only for it and vanish with it:
 *
 *     [ source on csa0 ] <--- veth ---> [ csb0: raw AF_PACKET sender ]
 *
 * IPv6 is turned off in the namespace so the kernel sends nothing by itself
 * (router solicitations, MLD): every frame seen on csa0 is one the test
 * sent. Frames carry a local ethertype (0x88b5), a sequence number and a
 * pattern. Checked:
 *   - every frame arrives exactly (bytes, lengths, tap, link type), including
 *     802.1Q, priority-tagged, 802.1ad-over-802.1Q (QinQ) and double 802.1Q
 *     frames whose outer tag the kernel removed and the source put back;
 *   - timestamps are nanoseconds near CLOCK_REALTIME and nondecreasing;
 *   - kernel filters ("vlan 100", a MAC address) keep only matching frames;
 *   - stats count the delivered packets and bytes; a tiny ring that is not
 *     read drops, the drops are reported and accumulate, and delivered +
 *     dropped == sent, the delivered ones being the first sent;
 *   - cs_afpacket_stop delivers what was captured before it, nothing after,
 *     then ends; idle_ms returns CS_EBUSY on a quiet link;
 *   - the generic ops table and the loopback device (each packet once);
 *   - a link going down and up is transient, a link removed is CS_EIO;
 *   - errors: unknown interface, bad filter, bad ring geometry, no
 *     CAP_NET_RAW, unknown user; every allocation failing in turn;
 *   - after cs_privs_drop("nobody") in a forked child, root cannot be
 *     regained and the already open capture keeps working;
 *   - hardware timestamps on veth and lo, which have no hardware clock: the
 *     open fails with a message naming the interface and what is missing;
 *     with the fallback it warns (on stderr), captures with software time
 *     and counts every frame as lacking a hardware stamp; without
 *     hw_timestamps nothing is counted.
 * If namespaces or veth cannot be made, the test fails and says why.
 *
 * Before the namespace, without root, the pure pieces of hardware
 * timestamping are checked with made-up kernel answers: the timestamp kind
 * of a frame's tp_status (hardware, software, none), the capabilities of
 * ETHTOOL_GET_TS_INFO (all there, none, PTP-only filters), and the driver's
 * answer to SIOCSHWTSTAMP (the filter asked for, a wider one, a narrower one).
 */
#include "core/alloc.h"
#include "core/error.h"
#include "core/privs.h"
#include "source/afpacket.h"
#include "source/source.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/net_tstamp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define IF_CAP "csa0"
#define IF_TX "csb0"
#define ETYPE_TEST 0x88b5
#define MAX_FRAME 9100
#define MAX_CAP 1024

/* ---- captured packets (copied out of the batches) ----------------------- */

typedef struct cap {
    uint8_t data[MAX_FRAME];
    uint32_t caplen, wirelen;
    int64_t ts_ns;
    uint16_t tap, linktype;
} cap;

static cap *caps;
static size_t ncaps;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void keep_batch(const cs_batch *b)
{
    for (unsigned i = 0; i < b->n && ncaps < MAX_CAP; i++) {
        cap *c = &caps[ncaps++];
        const cs_packet *p = &b->pkts[i];
        c->caplen = p->caplen;
        c->wirelen = p->wirelen;
        c->ts_ns = p->ts_ns;
        c->tap = p->tap;
        c->linktype = p->linktype;
        memcpy(c->data, p->data, p->caplen < MAX_FRAME ? p->caplen : MAX_FRAME);
    }
}

/*
 * Reads from "src" (opened with idle_ms set) until "want" packets are kept,
 * the source ends, or "max_ms" pass. Returns 1 if it ended, 0 otherwise, or
 * a negative error other than the idle CS_EBUSY.
 */
static int collect(cs_source *src, size_t want, int max_ms)
{
    static cs_batch b;
    int64_t deadline = mono_ms() + max_ms;

    while (ncaps < want && mono_ms() < deadline) {
        int rc = src->ops->next_batch(src, &b);
        if (rc == CS_EBUSY)
            continue;
        if (rc < 0)
            return rc;
        if (b.n == 0)
            return 1;
        keep_batch(&b);
        src->ops->release_batch(src, &b);
    }
    return 0;
}

/* Reads until the source ends (after cs_afpacket_stop). */
static int collect_to_end(cs_source *src, int max_ms)
{
    return collect(src, MAX_CAP, max_ms);
}

/* ---- frames and the sender ------------------------------------------------- */

typedef struct frame {
    uint8_t b[MAX_FRAME];
    size_t len;
} frame;

/* dst 02::02, src 02::<src_last>, the "ntags" (tpid, tci) tags, ethertype
 * 0x88b5, a 4-byte sequence number and a pattern, "len" bytes in all. */
static void mk_frame(frame *f, uint8_t src_last, const uint16_t *tags, int ntags, uint32_t seq,
                     size_t len)
{
    size_t off = 0;
    static const uint8_t dst[6] = {2, 0, 0, 0, 0, 2};

    assert_true(len <= MAX_FRAME && len >= 12 + 4 * (size_t)ntags + 6);
    memcpy(f->b, dst, 6);
    uint8_t src[6] = {2, 0, 0, 0, 0, src_last};
    memcpy(f->b + 6, src, 6);
    off = 12;
    for (int i = 0; i < ntags; i++) {
        f->b[off++] = (uint8_t)(tags[2 * i] >> 8);
        f->b[off++] = (uint8_t)tags[2 * i];
        f->b[off++] = (uint8_t)(tags[2 * i + 1] >> 8);
        f->b[off++] = (uint8_t)tags[2 * i + 1];
    }
    f->b[off++] = ETYPE_TEST >> 8;
    f->b[off++] = ETYPE_TEST & 0xff;
    f->b[off++] = (uint8_t)(seq >> 24);
    f->b[off++] = (uint8_t)(seq >> 16);
    f->b[off++] = (uint8_t)(seq >> 8);
    f->b[off++] = (uint8_t)seq;
    for (; off < len; off++)
        f->b[off] = (uint8_t)(seq * 7 + off);
    f->len = len;
}

static int tx_open(void)
{
    int fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: sends only */
    assert_true(fd >= 0);
    return fd;
}

static int tx_send_on(int fd, const char *ifname, const frame *f)
{
    struct sockaddr_ll sll;

    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = (int)if_nametoindex(ifname);
    sll.sll_halen = 6;
    memcpy(sll.sll_addr, f->b, 6);
    return sendto(fd, f->b, f->len, 0, (struct sockaddr *)&sll, sizeof(sll)) == (ssize_t)f->len
               ? 0
               : -1;
}

static int tx_send(int fd, const frame *f)
{
    return tx_send_on(fd, IF_TX, f);
}

static void send_all(const frame *fs, size_t n)
{
    int fd = tx_open();
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tx_send(fd, &fs[i]), 0);
    close(fd);
}

static cs_source *open_cap(uint16_t tap, const char *filter, uint32_t bsize, uint32_t bcount)
{
    cs_afpacket_opts o = {
        .block_size = bsize, .block_count = bcount, .idle_ms = 50, .filter = filter};
    cs_source *src = NULL;
    int rc = cs_afpacket_open(IF_CAP, tap, &o, &src);
    if (rc < 0)
        fail_msg("cs_afpacket_open: %s", cs_error_msg(rc));
    assert_non_null(src);
    return src;
}

static void assert_cap_is(const cap *c, const frame *f)
{
    assert_int_equal(c->caplen, f->len);
    assert_int_equal(c->wirelen, f->len);
    assert_memory_equal(c->data, f->b, f->len);
}

static int reset_caps(void **state)
{
    ncaps = 0;
    return 0;
}

/* ---- the tests ------------------------------------------------------------- */

static frame *frames;

/* The mix of test_exact_frames: plain of many sizes and tagged ones. */
static size_t mk_mix(void)
{
    static const size_t plain_len[] = {20, 60, 61, 100, 777, 1514, 9014};
    const uint16_t q100[] = {0x8100, 0x6064};                 /* prio 3, vid 100 */
    const uint16_t prio0[] = {0x8100, 0xa000};                /* prio 5, vid 0 */
    const uint16_t zero[] = {0x8100, 0x0000};                 /* tci 0 */
    const uint16_t qinq[] = {0x88a8, 0x00c8, 0x8100, 0x0064}; /* 802.1ad 200 / 802.1Q 100 */
    const uint16_t qq[] = {0x8100, 0x0fff, 0x8100, 0x0001};   /* 802.1Q in 802.1Q */
    const uint16_t q9100[] = {0x9100, 0x0005};                /* not a tag to the kernel */
    size_t n = 0;
    uint32_t seq = 1;

    for (size_t i = 0; i < sizeof(plain_len) / sizeof(plain_len[0]); i++)
        mk_frame(&frames[n++], 1, NULL, 0, seq++, plain_len[i]);
    mk_frame(&frames[n++], 1, q100, 1, seq++, 64);
    mk_frame(&frames[n++], 1, q100, 1, seq++, 1518);
    mk_frame(&frames[n++], 1, prio0, 1, seq++, 100);
    mk_frame(&frames[n++], 1, zero, 1, seq++, 100);
    mk_frame(&frames[n++], 1, qinq, 2, seq++, 300);
    mk_frame(&frames[n++], 1, qinq, 2, seq++, 1522);
    mk_frame(&frames[n++], 1, qq, 2, seq++, 90);
    mk_frame(&frames[n++], 1, q9100, 1, seq++, 80);
    for (int i = 0; i < 40; i++) /* enough to fill more than one block */
        mk_frame(&frames[n++], 1, i % 3 ? NULL : q100, i % 3 ? 0 : 1, seq++,
                 60 + (size_t)i * 97 % 1400);
    return n;
}

static void test_exact_frames(void **state)
{
    cs_source *src = open_cap(5, NULL, 1 << 14, 8);
    size_t n = mk_mix();
    int64_t t0 = real_ns(), t1;
    cs_source_stats st;
    cs_afpacket_kstats ks;
    uint64_t bytes = 0;
    bool sub_us = false;

    assert_int_equal(cs_afpacket_linktype(src), CS_LINK_ETHERNET);
    send_all(frames, n);
    assert_true(collect(src, n, 3000) >= 0);
    t1 = real_ns();
    assert_int_equal(ncaps, n);
    for (size_t i = 0; i < n; i++) {
        assert_cap_is(&caps[i], &frames[i]);
        assert_int_equal(caps[i].tap, 5);
        assert_int_equal(caps[i].linktype, CS_LINK_ETHERNET);
        assert_true(caps[i].ts_ns >= t0 - 1000000 && caps[i].ts_ns <= t1 + 1000000);
        if (i > 0)
            assert_true(caps[i].ts_ns >= caps[i - 1].ts_ns);
        sub_us |= caps[i].ts_ns % 1000 != 0;
        bytes += frames[i].len;
    }
    assert_true(sub_us); /* nanoseconds, not microseconds scaled up */
    src->ops->stats(src, &st);
    assert_int_equal(st.packets, n);
    assert_int_equal(st.bytes, bytes);
    assert_int_equal(st.kernel_drops, 0);
    cs_afpacket_kstats_get(src, &ks);
    assert_int_equal(ks.seen, n);
    assert_int_equal(ks.drops, 0);
    assert_int_equal(cs_afpacket_hw_ts_active(src), 0);
    assert_int_equal(cs_afpacket_hw_ts_missing(src), 0); /* not asked for: not counted */
    src->ops->close(src);
}

static void test_filter_vlan(void **state)
{
    cs_source *src = open_cap(0, "vlan 100", 1 << 14, 4);
    const uint16_t q100[] = {0x8100, 0x0064}, q200[] = {0x8100, 0x00c8};
    const uint16_t qinq[] = {0x88a8, 0x00c8, 0x8100, 0x0064};

    mk_frame(&frames[0], 1, NULL, 0, 1, 80);
    mk_frame(&frames[1], 1, q100, 1, 2, 80);
    mk_frame(&frames[2], 1, q200, 1, 3, 80);
    mk_frame(&frames[3], 1, qinq, 2, 4, 80);
    mk_frame(&frames[4], 1, q100, 1, 5, 200);
    send_all(frames, 5);
    assert_true(collect(src, 3, 500) >= 0); /* ask for more than should come */
    assert_int_equal(ncaps, 2);
    assert_cap_is(&caps[0], &frames[1]);
    assert_cap_is(&caps[1], &frames[4]);
    src->ops->close(src);
}

static void test_filter_mac(void **state)
{
    cs_source *src = open_cap(0, "ether src 02:00:00:00:00:07", 1 << 14, 4);

    for (uint32_t i = 0; i < 10; i++)
        mk_frame(&frames[i], i % 2 ? 7 : 8, NULL, 0, i, 100);
    send_all(frames, 10);
    assert_true(collect(src, 6, 500) >= 0);
    assert_int_equal(ncaps, 5);
    for (size_t i = 0; i < 5; i++)
        assert_cap_is(&caps[i], &frames[2 * i + 1]);
    src->ops->close(src);
}

static uint32_t seq_of(const cap *c)
{
    return (uint32_t)c->data[14] << 24 | (uint32_t)c->data[15] << 16 | (uint32_t)c->data[16] << 8 |
           c->data[17];
}

static void test_drops_tiny_ring(void **state)
{
    cs_source *src = open_cap(0, NULL, 4096, 4);
    cs_source_stats st, st2;
    cs_afpacket_kstats ks;
    const size_t sent = 300;

    for (uint32_t i = 0; i < sent; i++)
        mk_frame(&frames[i], 1, NULL, 0, i, 1000);
    send_all(frames, sent); /* nobody reads meanwhile: the ring fills up */
    usleep(50 * 1000);
    src->ops->stats(src, &st);
    assert_true(st.kernel_drops > 0);
    assert_true(collect(src, sent, 500) >= 0);
    assert_true(ncaps > 0 && ncaps < sent);
    for (size_t i = 0; i < ncaps; i++)
        assert_int_equal(seq_of(&caps[i]), i); /* the first ones, in order */
    src->ops->stats(src, &st2);
    assert_true(st2.kernel_drops >= st.kernel_drops); /* accumulated, not reset */
    assert_int_equal(st2.packets, ncaps);
    assert_int_equal(ncaps + st2.kernel_drops, sent);
    cs_afpacket_kstats_get(src, &ks);
    assert_int_equal(ks.seen, sent);
    assert_int_equal(ks.drops, st2.kernel_drops);
    assert_true(ks.freezes >= 1);
    src->ops->close(src);
}

static void test_stop_drains_then_ends(void **state)
{
    /* A long block timeout: at the stop the frames sit in an open block. */
    cs_afpacket_opts o = {.block_size = 1 << 16, .block_count = 4, .block_timeout_ms = 300};
    cs_source *src = NULL;
    static cs_batch b;
    int64_t t0;

    assert_int_equal(cs_afpacket_open(IF_CAP, 0, &o, &src), 0);
    for (uint32_t i = 0; i < 15; i++)
        mk_frame(&frames[i], 1, NULL, 0, i, 200);
    send_all(frames, 10);
    cs_afpacket_stop(src);
    send_all(frames + 10, 5); /* after the stop: not captured */
    t0 = mono_ms();
    assert_int_equal(collect_to_end(src, 3000), 1);
    assert_true(mono_ms() - t0 < 2000);
    assert_int_equal(ncaps, 10);
    for (size_t i = 0; i < 10; i++)
        assert_cap_is(&caps[i], &frames[i]);
    assert_int_equal(src->ops->next_batch(src, &b), 0); /* the end stays the end */
    assert_int_equal(b.n, 0);
    src->ops->close(src);
}

static void test_idle_returns_busy(void **state)
{
    cs_source *src = open_cap(0, NULL, 1 << 14, 2);
    static cs_batch b;
    int64_t t0 = mono_ms(), dt;

    assert_int_equal(src->ops->next_batch(src, &b), CS_EBUSY);
    dt = mono_ms() - t0;
    assert_int_equal(b.n, 0);
    assert_true(dt >= 40 && dt < 1000);
    src->ops->close(src);
}

static void test_generic_ops(void **state)
{
    cs_source *src = NULL;

    assert_string_equal(cs_source_afpacket_ops.name, "afpacket");
    assert_int_equal(cs_source_afpacket_ops.open(&src, IF_CAP), 0);
    for (uint32_t i = 0; i < 3; i++)
        mk_frame(&frames[i], 1, NULL, 0, i, 100 + i);
    send_all(frames, 3);
    usleep(100 * 1000); /* past the default 10 ms block timeout */
    cs_afpacket_stop(src);
    assert_int_equal(collect_to_end(src, 3000), 1);
    assert_int_equal(ncaps, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_cap_is(&caps[i], &frames[i]);
        assert_int_equal(caps[i].tap, 0);
    }
    src->ops->close(src);
}

static void test_loopback_once(void **state)
{
    cs_afpacket_opts o = {
        .block_size = 1 << 16, .block_count = 2, .idle_ms = 50, .filter = "udp port 39999"};
    cs_source *src = NULL;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(39999)};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    const char *msg[3] = {"one", "two!", "three"};

    assert_int_equal(cs_afpacket_open("lo", 9, &o, &src), 0);
    assert_int_equal(cs_afpacket_linktype(src), CS_LINK_ETHERNET);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(sendto(fd, msg[i], strlen(msg[i]), 0, (struct sockaddr *)&to, sizeof(to)),
                         (ssize_t)strlen(msg[i]));
    close(fd);
    assert_true(collect(src, 6, 500) >= 0);
    assert_int_equal(ncaps, 3); /* not 6: outgoing copies are left out on lo */
    for (int i = 0; i < 3; i++) {
        size_t len = strlen(msg[i]);
        assert_int_equal(caps[i].caplen, 14 + 20 + 8 + len);
        assert_memory_equal(caps[i].data + 14 + 28, msg[i], len);
        assert_int_equal(caps[i].tap, 9);
    }
    src->ops->close(src);
}

static int sh(const char *cmd);

static void test_link_flap_and_removal(void **state)
{
    cs_afpacket_opts o = {.block_size = 1 << 14, .block_count = 4, .idle_ms = 50};
    cs_source *src = NULL;
    static cs_batch b;
    int rc = 0, tx;

    assert_int_equal(sh("ip link add csc0 type veth peer name csd0 && ip link set csc0 up && "
                        "ip link set csd0 up"),
                     0);
    assert_int_equal(cs_afpacket_open("csc0", 0, &o, &src), 0);
    /* Down and up again: transient, the capture goes on. */
    assert_int_equal(sh("ip link set csc0 down"), 0);
    assert_int_equal(src->ops->next_batch(src, &b), CS_EBUSY);
    assert_int_equal(sh("ip link set csc0 up"), 0);
    usleep(100 * 1000);
    tx = tx_open();
    mk_frame(&frames[0], 1, NULL, 0, 1, 64);
    assert_int_equal(tx_send_on(tx, "csd0", &frames[0]), 0);
    close(tx);
    assert_true(collect(src, 1, 2000) >= 0);
    assert_int_equal(ncaps, 1);
    assert_cap_is(&caps[0], &frames[0]);
    /* Removed: an error, not an endless wait. */
    assert_int_equal(sh("ip link del csc0"), 0);
    for (int i = 0; i < 20 && (rc == 0 || rc == CS_EBUSY); i++)
        rc = src->ops->next_batch(src, &b);
    assert_int_equal(rc, CS_EIO);
    assert_non_null(strstr(cs_error_msg(rc), "'csc0' went away"));
    src->ops->close(src);
}

/* Every allocation of cs_afpacket_open failing in turn: CS_ENOMEM and no
 * leak (the sanitizer build checks), until enough succeed to open. */
static void test_alloc_failures(void **state)
{
    cs_afpacket_opts o = {.block_size = 1 << 14, .block_count = 2, .filter = "udp"};
    int nomem = 0, rc = CS_ENOMEM;

    for (long n = 0; n < 10 && rc == CS_ENOMEM; n++) {
        cs_source *src = NULL;
        cs_alloc_fail_after(n);
        rc = cs_afpacket_open(IF_CAP, 0, &o, &src);
        cs_alloc_fail_after(-1);
        if (rc == CS_ENOMEM) {
            assert_null(src);
            nomem++;
        } else {
            assert_int_equal(rc, 0);
            src->ops->close(src);
        }
    }
    assert_int_equal(rc, 0);
    assert_int_equal(nomem, 3); /* the source, the filter program, the arena */
}

static void test_errors(void **state)
{
    cs_afpacket_opts bad_filter = {.filter = "tcp port"};
    cs_afpacket_opts bad_block = {.block_size = 1000};
    cs_afpacket_opts odd_block = {.block_size = 12288};
    cs_afpacket_opts huge = {.block_size = 1u << 30, .block_count = 8};
    static cs_source dummy;
    cs_source *src = &dummy;

    assert_int_equal(cs_afpacket_open("nosuchif0", 0, NULL, &src), CS_ENOTFOUND);
    assert_null(src);
    assert_non_null(strstr(cs_error_msg(CS_ENOTFOUND), "no interface 'nosuchif0'"));
    assert_int_equal(cs_afpacket_open("", 0, NULL, &src), CS_ENOTFOUND);
    assert_int_equal(cs_afpacket_open("an-interface-name-too-long", 0, NULL, &src), CS_ENOTFOUND);
    assert_int_equal(cs_afpacket_open(IF_CAP, 0, &bad_filter, &src), CS_EFILTER);
    assert_non_null(strstr(cs_error_msg(CS_EFILTER), "tcp port"));
    assert_int_equal(cs_afpacket_open(IF_CAP, 0, &bad_block, &src), CS_EINVAL);
    assert_int_equal(cs_afpacket_open(IF_CAP, 0, &odd_block, &src), CS_EINVAL);
    assert_int_equal(cs_afpacket_open(IF_CAP, 0, &huge, &src), CS_ERANGE);
    assert_null(src);
    assert_int_equal(cs_privs_drop("no-such-user-cs"), CS_ENOTFOUND);
    assert_non_null(strstr(cs_error_msg(CS_ENOTFOUND), "no user 'no-such-user-cs'"));
    assert_int_equal(cs_privs_drop("root"), CS_EINVAL);
    assert_int_equal(cs_privs_drop(""), CS_EINVAL);
    assert_int_equal(getuid(), 0); /* none of these changed anything */
}

/* ---- hardware timestamps on interfaces without a hardware clock ----------- */

/* Runs cs_afpacket_open with standard error going to a file, whose text
 * (up to "errcap" bytes) ends up in "err". */
static int open_logged(const char *ifname, const cs_afpacket_opts *o, cs_source **src, char *err,
                       size_t errcap)
{
    FILE *tmp = tmpfile();
    int saved, rc;
    size_t n;

    assert_non_null(tmp);
    fflush(stderr);
    saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), 2) == 2);
    rc = cs_afpacket_open(ifname, 0, o, src);
    fflush(stderr);
    assert_true(dup2(saved, 2) == 2);
    close(saved);
    rewind(tmp);
    n = fread(err, 1, errcap - 1, tmp);
    err[n] = '\0';
    fclose(tmp);
    return rc;
}

static void test_hwts_refused_without_clock(void **state)
{
    cs_afpacket_opts o = {.block_size = 1 << 14, .block_count = 2, .hw_timestamps = true};
    static const char *const ifs[] = {IF_CAP, "lo"};
    char log[1024], want[128];

    for (size_t i = 0; i < 2; i++) {
        cs_source *src = NULL;
        int rc = open_logged(ifs[i], &o, &src, log, sizeof(log));
        const char *msg = cs_error_msg(rc);

        assert_int_equal(rc, CS_EUNSUPPORTED);
        assert_null(src);
        snprintf(want, sizeof(want), "'%s' has no hardware receive timestamps", ifs[i]);
        assert_non_null(strstr(msg, want));
        snprintf(want, sizeof(want), "`ethtool -T %s`", ifs[i]);
        assert_non_null(strstr(msg, want));
        assert_non_null(
            strstr(msg, "missing: hardware-receive, hardware-raw-clock, rx filter all"));
        assert_non_null(strstr(msg, "use --time-source kernel"));
        assert_string_equal(log, ""); /* an error for the caller, not a log line */
    }
}

static void test_hwts_fallback_counts(void **state)
{
    cs_afpacket_opts o = {.block_size = 1 << 14,
                          .block_count = 4,
                          .idle_ms = 50,
                          .hw_timestamps = true,
                          .hw_timestamps_fallback = true};
    cs_source *src = NULL;
    char log[1024];
    const size_t n = 25;
    int64_t t0, t1;
    cs_source_stats st;

    assert_int_equal(open_logged(IF_CAP, &o, &src, log, sizeof(log)), 0);
    assert_non_null(src);
    assert_non_null(strstr(log, "capstream: warning: 'csa0' has no hardware receive timestamps"));
    assert_non_null(strstr(log, "`ethtool -T csa0`"));
    assert_non_null(strstr(log, "capturing with software timestamps"));
    assert_null(strstr(log, "--time-source kernel"));
    assert_int_equal(cs_afpacket_hw_ts_active(src), 0);
    assert_int_equal(cs_afpacket_hw_ts_missing(src), 0);
    for (uint32_t i = 0; i < n; i++)
        mk_frame(&frames[i], 1, NULL, 0, i, 60 + i * 31);
    t0 = real_ns();
    send_all(frames, n);
    assert_true(collect(src, n, 3000) >= 0);
    t1 = real_ns();
    assert_int_equal(ncaps, n);
    for (size_t i = 0; i < n; i++) {
        assert_cap_is(&caps[i], &frames[i]);
        /* software time: the host's CLOCK_REALTIME at arrival */
        assert_true(caps[i].ts_ns >= t0 - 1000000 && caps[i].ts_ns <= t1 + 1000000);
    }
    assert_int_equal(cs_afpacket_hw_ts_missing(src), n); /* every frame sent */
    src->ops->stats(src, &st);
    assert_int_equal(st.packets, n);
    src->ops->close(src);
}

/* ---- in a forked child: privileges dropped --------------------------------- */

#define CHILD_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child check failed at line %d: %s (%s)\n", __LINE__, #cond,           \
                    cs_error_msg(-1));                                                             \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

static int run_child(void (*body)(void))
{
    int status = 0;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        body();
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void child_capture_after_drop(void)
{
    cs_afpacket_opts o = {.block_size = 1 << 14, .block_count = 4, .idle_ms = 50};
    struct passwd *pw = getpwnam("nobody");
    cs_source *src = NULL;
    int tx = socket(AF_PACKET, SOCK_RAW, 0);
    cs_source_stats st;

    CHILD_CHECK(pw != NULL && tx >= 0);
    CHILD_CHECK(cs_afpacket_open(IF_CAP, 2, &o, &src) == 0);
    CHILD_CHECK(cs_privs_drop("nobody") == 0);
    CHILD_CHECK(getuid() == pw->pw_uid && geteuid() == pw->pw_uid);
    CHILD_CHECK(getgid() == pw->pw_gid && getegid() == pw->pw_gid);
    CHILD_CHECK(setuid(0) == -1 && errno == EPERM);
    CHILD_CHECK(seteuid(0) == -1);
    CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
    CHILD_CHECK(socket(AF_PACKET, SOCK_RAW, 0) < 0); /* no CAP_NET_RAW left */
    for (uint32_t i = 0; i < 20; i++) {
        mk_frame(&frames[i], 1, NULL, 0, i, 64 + i * 50);
        CHILD_CHECK(tx_send(tx, &frames[i]) == 0);
    }
    CHILD_CHECK(collect(src, 20, 3000) >= 0);
    CHILD_CHECK(ncaps == 20);
    for (size_t i = 0; i < 20; i++)
        CHILD_CHECK(caps[i].caplen == frames[i].len &&
                    memcmp(caps[i].data, frames[i].b, frames[i].len) == 0 && caps[i].tap == 2);
    src->ops->stats(src, &st);
    CHILD_CHECK(st.packets == 20 && st.kernel_drops == 0);
    cs_afpacket_stop(src);
    CHILD_CHECK(collect_to_end(src, 3000) == 1);
    src->ops->close(src);
}

static void test_privdrop_keeps_capture(void **state)
{
    assert_int_equal(run_child(child_capture_after_drop), 0);
    assert_int_equal(getuid(), 0);
}

static void child_open_without_caps(void)
{
    cs_source *src = NULL;
    int rc;

    CHILD_CHECK(cs_privs_drop("nobody") == 0);
    rc = cs_afpacket_open(IF_CAP, 0, NULL, &src);
    CHILD_CHECK(rc == CS_EPERM && src == NULL);
    CHILD_CHECK(strstr(cs_error_msg(rc), "CAP_NET_RAW") != NULL);
    CHILD_CHECK(cs_privs_drop("nobody") == 0); /* already that user: fine */
    CHILD_CHECK(cs_privs_drop("daemon") == CS_EPERM);
}

static void test_open_without_caps(void **state)
{
    assert_int_equal(run_child(child_open_without_caps), 0);
}

/* ---- hardware timestamps: the pure pieces (no root, no NIC) ------------- */

static void test_ts_kind_of_status(void **state)
{
    const uint32_t other = TP_STATUS_USER | TP_STATUS_VLAN_VALID | TP_STATUS_CSUMNOTREADY;

    assert_int_equal(cs_afpacket_ts_kind_of(TP_STATUS_TS_RAW_HARDWARE), CS_AFPACKET_TS_HARDWARE);
    assert_int_equal(cs_afpacket_ts_kind_of(TP_STATUS_TS_RAW_HARDWARE | other),
                     CS_AFPACKET_TS_HARDWARE);
    assert_int_equal(cs_afpacket_ts_kind_of(TP_STATUS_TS_SOFTWARE), CS_AFPACKET_TS_SOFTWARE);
    assert_int_equal(cs_afpacket_ts_kind_of(TP_STATUS_TS_SOFTWARE | other),
                     CS_AFPACKET_TS_SOFTWARE);
    /* the raw hardware stamp is what tp_sec holds when both bits are set */
    assert_int_equal(cs_afpacket_ts_kind_of(TP_STATUS_TS_RAW_HARDWARE | TP_STATUS_TS_SOFTWARE),
                     CS_AFPACKET_TS_HARDWARE);
    assert_int_equal(cs_afpacket_ts_kind_of(0), CS_AFPACKET_TS_NONE);
    assert_int_equal(cs_afpacket_ts_kind_of(other), CS_AFPACKET_TS_NONE);
    /* deprecated, never set by the kernel: not a raw hardware stamp */
    assert_int_equal(cs_afpacket_ts_kind_of(TP_STATUS_TS_SYS_HARDWARE), CS_AFPACKET_TS_NONE);
}

static void test_hwts_capabilities(void **state)
{
    const uint32_t sw =
        SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
    const uint32_t hw =
        SOF_TIMESTAMPING_TX_HARDWARE | SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_RAW_HARDWARE;
    struct ethtool_ts_info full = {.cmd = ETHTOOL_GET_TS_INFO,
                                   .so_timestamping = sw | hw,
                                   .phc_index = 0,
                                   .tx_types = 1u << HWTSTAMP_TX_OFF | 1u << HWTSTAMP_TX_ON,
                                   .rx_filters =
                                       1u << HWTSTAMP_FILTER_NONE | 1u << HWTSTAMP_FILTER_ALL};
    struct ethtool_ts_info veth = {
        .cmd = ETHTOOL_GET_TS_INFO, .so_timestamping = sw, .phc_index = -1};
    struct ethtool_ts_info ptp_only = full;
    struct ethtool_ts_info no_raw = full;
    char buf[96];

    ptp_only.rx_filters = 1u << HWTSTAMP_FILTER_NONE | 1u << HWTSTAMP_FILTER_PTP_V2_EVENT |
                          1u << HWTSTAMP_FILTER_PTP_V2_L2_EVENT;
    no_raw.so_timestamping &= ~(uint32_t)SOF_TIMESTAMPING_RAW_HARDWARE;

    assert_int_equal(cs_afpacket_hwts_missing(&full), 0);
    assert_int_equal(cs_afpacket_hwts_missing(&veth), CS_AFPACKET_HWTS_NO_RX_HARDWARE |
                                                          CS_AFPACKET_HWTS_NO_RAW_HARDWARE |
                                                          CS_AFPACKET_HWTS_NO_FILTER_ALL);
    assert_int_equal(cs_afpacket_hwts_missing(&ptp_only), CS_AFPACKET_HWTS_NO_FILTER_ALL);
    assert_int_equal(cs_afpacket_hwts_missing(&no_raw), CS_AFPACKET_HWTS_NO_RAW_HARDWARE);

    cs_afpacket_hwts_missing_str(cs_afpacket_hwts_missing(&veth), buf, sizeof(buf));
    assert_string_equal(buf, "hardware-receive, hardware-raw-clock, rx filter all");
    cs_afpacket_hwts_missing_str(cs_afpacket_hwts_missing(&ptp_only), buf, sizeof(buf));
    assert_string_equal(buf, "rx filter all");
    cs_afpacket_hwts_missing_str(0, buf, sizeof(buf));
    assert_string_equal(buf, "");
    cs_afpacket_hwts_missing_str(CS_AFPACKET_HWTS_NO_RX_HARDWARE | CS_AFPACKET_HWTS_NO_FILTER_ALL,
                                 buf, 20); /* too small: whole names only, terminated */
    assert_string_equal(buf, "hardware-receive");
}

static void test_hwts_driver_answer(void **state)
{
    struct hwtstamp_config got = {.tx_type = HWTSTAMP_TX_OFF, .rx_filter = HWTSTAMP_FILTER_ALL};

    assert_int_equal(cs_afpacket_hwts_check_answer(&got), 0);
    got.rx_filter = HWTSTAMP_FILTER_SOME; /* what was asked for, and more */
    assert_int_equal(cs_afpacket_hwts_check_answer(&got), 0);
    got.tx_type = HWTSTAMP_TX_ON; /* the transmit side does not matter */
    assert_int_equal(cs_afpacket_hwts_check_answer(&got), 0);
    got.rx_filter = HWTSTAMP_FILTER_PTP_V2_EVENT; /* PTP frames only */
    assert_int_equal(cs_afpacket_hwts_check_answer(&got), CS_EUNSUPPORTED);
    got.rx_filter = HWTSTAMP_FILTER_NTP_ALL;
    assert_int_equal(cs_afpacket_hwts_check_answer(&got), CS_EUNSUPPORTED);
    got.rx_filter = HWTSTAMP_FILTER_NONE;
    assert_int_equal(cs_afpacket_hwts_check_answer(&got), CS_EUNSUPPORTED);

    assert_string_equal(cs_afpacket_hwts_filter_name(HWTSTAMP_FILTER_ALL), "all");
    assert_string_equal(cs_afpacket_hwts_filter_name(HWTSTAMP_FILTER_SOME), "some");
    assert_string_equal(cs_afpacket_hwts_filter_name(HWTSTAMP_FILTER_PTP_V2_EVENT), "ptpv2-event");
    assert_string_equal(cs_afpacket_hwts_filter_name(HWTSTAMP_FILTER_NTP_ALL), "ntp-all");
    assert_string_equal(cs_afpacket_hwts_filter_name(-1), "unknown");
    assert_string_equal(cs_afpacket_hwts_filter_name(1000), "unknown");
}

/* ---- the namespace and the veth pair --------------------------------------- */

static int sh(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "FAIL: test_afpacket: '%s' exited with %d\n", cmd, rc);
    return rc;
}

static void write_proc(const char *path, const char *val)
{
    int fd = open(path, O_WRONLY);
    if (fd >= 0) {
        ssize_t w = write(fd, val, strlen(val));
        (void)w;
        close(fd);
    }
}

static int make_network(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "FAIL: test_afpacket must run as root (it makes a network namespace "
                        "and a veth pair)\n");
        return -1;
    }
    if (unshare(CLONE_NEWNET) != 0) {
        fprintf(stderr,
                "FAIL: test_afpacket: unshare(CLONE_NEWNET): %s - this sandbox forbids "
                "network namespaces, which the live-capture tests need\n",
                strerror(errno));
        return -1;
    }
    write_proc("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    write_proc("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    if (sh("ip link add " IF_CAP " type veth peer name " IF_TX) != 0 ||
        sh("ip link set " IF_CAP " mtu 9000") != 0 || sh("ip link set " IF_TX " mtu 9000") != 0 ||
        sh("ip link set " IF_CAP " up") != 0 || sh("ip link set " IF_TX " up") != 0 ||
        sh("ip link set lo up") != 0)
        return -1;
    usleep(200 * 1000); /* let the links settle (carrier) */
    return 0;
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_ts_kind_of_status),
        cmocka_unit_test(test_hwts_capabilities),
        cmocka_unit_test(test_hwts_driver_answer),
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_exact_frames, reset_caps),
        cmocka_unit_test_setup(test_filter_vlan, reset_caps),
        cmocka_unit_test_setup(test_filter_mac, reset_caps),
        cmocka_unit_test_setup(test_drops_tiny_ring, reset_caps),
        cmocka_unit_test_setup(test_stop_drains_then_ends, reset_caps),
        cmocka_unit_test_setup(test_idle_returns_busy, reset_caps),
        cmocka_unit_test_setup(test_generic_ops, reset_caps),
        cmocka_unit_test_setup(test_loopback_once, reset_caps),
        cmocka_unit_test_setup(test_link_flap_and_removal, reset_caps),
        cmocka_unit_test_setup(test_alloc_failures, reset_caps),
        cmocka_unit_test_setup(test_errors, reset_caps),
        cmocka_unit_test_setup(test_privdrop_keeps_capture, reset_caps),
        cmocka_unit_test_setup(test_open_without_caps, reset_caps),
        cmocka_unit_test_setup(test_hwts_refused_without_clock, reset_caps),
        cmocka_unit_test_setup(test_hwts_fallback_counts, reset_caps),
    };
    int rc;

    rc = cmocka_run_group_tests_name("afpacket_pure", pure, NULL, NULL);
    if (make_network() != 0)
        return 1;
    caps = calloc(MAX_CAP, sizeof(*caps));
    frames = calloc(MAX_CAP, sizeof(*frames));
    if (caps == NULL || frames == NULL)
        return 1;
    rc |= cmocka_run_group_tests_name("afpacket_veth", tests, NULL, NULL);
    free(caps);
    free(frames);
    return rc;
}

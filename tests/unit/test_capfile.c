/*
 * test_capfile.c - unit tests of the capture-file reader and file source.
 *
 * The reference is libpcap: every capture under tests/pcaps is read by
 * both, packet by packet (count, caplen, wirelen, bytes, ns timestamp, link
 * type); where libpcap stops with an error, capstream must have returned the
 * same packets and then an error too. Hand-built captures (made here, in
 * memory, by small writers of the formats) cover what the corpus lacks:
 * big-endian and nanosecond pcap, pcapng interfaces with different
 * resolutions, offsets and link types, several sections, every truncation
 * point of a small file, bad magic, absurd lengths, a record larger than the
 * read buffer, standard input through a pipe, and the batching file source.
 */
#include "core/error.h"
#include "source/capfile.h"
#include "source/source.h"

#include <dirent.h>
#include <pcap/pcap.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define PCAPS_DIR "tests/pcaps"

/* ---- a growable byte buffer and writers of the two formats ---------- */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put16(bytes *b, uint16_t v, bool be)
{
    uint8_t x[2] = {be ? (uint8_t)(v >> 8) : (uint8_t)v, be ? (uint8_t)v : (uint8_t)(v >> 8)};
    put(b, x, 2);
}

static void put32(bytes *b, uint32_t v, bool be)
{
    put16(b, (uint16_t)(be ? v >> 16 : v), be);
    put16(b, (uint16_t)(be ? v : v >> 16), be);
}

static void put64(bytes *b, uint64_t v, bool be)
{
    put32(b, (uint32_t)(be ? v >> 32 : v), be);
    put32(b, (uint32_t)(be ? v : v >> 32), be);
}

static uint8_t pattern(uint32_t seed, size_t i)
{
    return (uint8_t)(seed * 31u + i * 7u + (i >> 8));
}

static void put_pattern(bytes *b, uint32_t seed, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = pattern(seed, i);
        put(b, &c, 1);
    }
}

static void pcap_header(bytes *b, bool be, bool ns, uint32_t snaplen, uint32_t linktype)
{
    put32(b, ns ? 0xa1b23c4du : 0xa1b2c3d4u, be);
    put16(b, 2, be);
    put16(b, 4, be);
    put32(b, 0, be);
    put32(b, 0, be);
    put32(b, snaplen, be);
    put32(b, linktype, be);
}

static void pcap_record(bytes *b, bool be, uint32_t sec, uint32_t frac, uint32_t caplen,
                        uint32_t wirelen, uint32_t seed)
{
    put32(b, sec, be);
    put32(b, frac, be);
    put32(b, caplen, be);
    put32(b, wirelen, be);
    put_pattern(b, seed, caplen);
}

static void ng_shb(bytes *b, bool be)
{
    put32(b, 0x0A0D0D0Au, be);
    put32(b, 28, be);
    put32(b, 0x1A2B3C4Du, be);
    put16(b, 1, be);
    put16(b, 0, be);
    put64(b, UINT64_MAX, be);
    put32(b, 28, be);
}

/* An IDB; "tsresol" < 0 leaves the option out, "with_offset" adds one. */
static void ng_idb(bytes *b, bool be, uint16_t linktype, uint32_t snaplen, int tsresol,
                   bool with_offset, int64_t offset)
{
    uint32_t len = 20 + (tsresol >= 0 ? 8 : 0) + (with_offset ? 12 : 0) + 4;
    uint8_t r = (uint8_t)tsresol, zero[3] = {0, 0, 0};

    put32(b, 1, be);
    put32(b, len, be);
    put16(b, linktype, be);
    put16(b, 0, be);
    put32(b, snaplen, be);
    if (tsresol >= 0) {
        put16(b, 9, be);
        put16(b, 1, be);
        put(b, &r, 1);
        put(b, zero, 3);
    }
    if (with_offset) {
        put16(b, 14, be);
        put16(b, 8, be);
        put64(b, (uint64_t)offset, be);
    }
    put32(b, 0, be); /* opt_endofopt */
    put32(b, len, be);
}

static void ng_epb(bytes *b, bool be, uint32_t ifid, uint64_t t, uint32_t caplen, uint32_t wirelen,
                   uint32_t seed)
{
    uint32_t pad = (4 - caplen % 4) % 4, len = 32 + caplen + pad;
    uint8_t zero[3] = {0, 0, 0};

    put32(b, 6, be);
    put32(b, len, be);
    put32(b, ifid, be);
    put32(b, (uint32_t)(t >> 32), be);
    put32(b, (uint32_t)t, be);
    put32(b, caplen, be);
    put32(b, wirelen, be);
    put_pattern(b, seed, caplen);
    put(b, zero, pad);
    put32(b, len, be);
}

static void ng_spb(bytes *b, bool be, uint32_t wirelen, uint32_t seed)
{
    uint32_t pad = (4 - wirelen % 4) % 4, len = 16 + wirelen + pad;
    uint8_t zero[3] = {0, 0, 0};

    put32(b, 3, be);
    put32(b, len, be);
    put32(b, wirelen, be);
    put_pattern(b, seed, wirelen);
    put(b, zero, pad);
    put32(b, len, be);
}

static void ng_other(bytes *b, bool be, uint32_t type, uint32_t body)
{
    put32(b, type, be);
    put32(b, 12 + body, be);
    put_pattern(b, 9, body);
    put32(b, 12 + body, be);
}

static void write_file(const char *path, const bytes *b)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(b->p, 1, b->n, fp), b->n);
    assert_int_equal(fclose(fp), 0);
}

static void check_pattern(const cs_packet *pkt, uint32_t seed)
{
    for (uint32_t i = 0; i < pkt->caplen; i++) {
        if (pkt->data[i] != pattern(seed, i))
            fail_msg("byte %u of packet with seed %u differs", i, seed);
    }
}

/* ---- comparison with libpcap ---------------------------------------- */

/* pcap_datalink() gives DLT_ values; a few differ from the LINKTYPE_ ones. */
static int dlt_of_linktype(int lt)
{
    switch (lt) {
    case 101:
        return DLT_RAW;
    case 100:
        return DLT_ATM_RFC1483;
    default:
        return lt;
    }
}

/*
 * libpcap 1.10's ns timestamp of "h". For classic pcap it reads the seconds
 * and the fraction as signed 32-bit numbers, while the format (and newer
 * libpcap, and tcpdump's own expected outputs for timestamp_invalid_*.pcap)
 * says unsigned: undo the sign extension so both mean the same fields.
 */
static int64_t libpcap_ts_ns(cs_capfile_format fmt, const struct pcap_pkthdr *h)
{
    int64_t frac = h->ts.tv_usec;

    if (fmt == CS_CAPFILE_PCAPNG) /* 64-bit stamps: nothing to undo */
        return (int64_t)h->ts.tv_sec * 1000000000 + frac;
    if (fmt == CS_CAPFILE_PCAP_US)
        frac = (int64_t)(uint32_t)(int32_t)(frac / 1000) * 1000;
    else
        frac = (int64_t)(uint32_t)(int32_t)frac;
    return (int64_t)(uint32_t)(int32_t)h->ts.tv_sec * 1000000000 + frac;
}

/*
 * Reads the capture with libpcap ("lp", already open) and with "f" side by
 * side and fails at the first difference. Returns the number of packets.
 */
static size_t compare_with_libpcap(const char *name, pcap_t *lp, cs_capfile *f)
{
    struct pcap_pkthdr *h;
    const u_char *d;
    cs_packet pkt;
    size_t n = 0;
    int r, rc;

    for (;;) {
        r = pcap_next_ex(lp, &h, &d);
        rc = cs_capfile_next(f, &pkt);
        if (r == PCAP_ERROR_BREAK) {
            if (rc != 0)
                fail_msg("%s: libpcap ended after %zu packets, capstream said %d (%s)", name, n, rc,
                         cs_error_msg(rc));
            return n;
        }
        if (r != 1) {
            if (rc >= 0)
                fail_msg("%s: libpcap failed after %zu packets (%s), capstream returned %d", name,
                         n, pcap_geterr(lp), rc);
            return n;
        }
        if (rc != 1 && rc != CS_ELINKTYPE)
            fail_msg("%s: packet %zu: libpcap has it, capstream said %d (%s)", name, n + 1, rc,
                     cs_error_msg(rc));
        n++;
        int64_t lts = libpcap_ts_ns(cs_capfile_get_format(f), h);
        if (pkt.caplen != h->caplen || pkt.wirelen != (h->len < h->caplen ? h->caplen : h->len) ||
            pkt.ts_ns != lts || memcmp(pkt.data, d, h->caplen) != 0 ||
            dlt_of_linktype(pkt.linktype) != pcap_datalink(lp)) {
            fail_msg("%s: packet %zu differs: caplen %u/%u wirelen %u/%u ts %lld/%lld "
                     "link %u/%d",
                     name, n, pkt.caplen, h->caplen, pkt.wirelen, h->len, (long long)pkt.ts_ns,
                     (long long)lts, pkt.linktype, pcap_datalink(lp));
        }
        assert_int_equal(rc == CS_ELINKTYPE, !cs_linktype_storable(pkt.linktype));
    }
}

/* Compares a whole in-memory capture with libpcap's reading of it. */
static size_t compare_mem_with_libpcap(const char *name, const bytes *b)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    FILE *fp = fmemopen(b->p, b->n, "rb");
    pcap_t *lp;
    cs_capfile *f;
    size_t n;

    assert_non_null(fp);
    lp = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (lp == NULL)
        fail_msg("%s: libpcap cannot open it: %s", name, errbuf);
    assert_int_equal(cs_capfile_open_mem(b->p, b->n, &f), 0);
    n = compare_with_libpcap(name, lp, f);
    cs_capfile_close(f);
    pcap_close(lp);
    return n;
}

typedef struct corpus {
    size_t files, packets, libpcap_refused;
} corpus;

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* A pcapng file libpcap refuses because its interfaces differ: check what
 * can be checked without it (reads cleanly, taps within the IDB count). */
static void check_without_libpcap(const char *path, const char *why)
{
    cs_capfile *f;
    cs_packet pkt;
    int rc;

    if (cs_capfile_open(path, &f) < 0)
        fail_msg("%s: libpcap refused it (%s) and so did capstream (%s)", path, why,
                 cs_error_msg(0));
    assert_int_equal(cs_capfile_get_format(f), CS_CAPFILE_PCAPNG);
    while ((rc = cs_capfile_next(f, &pkt)) == 1 || rc == CS_ELINKTYPE)
        assert_true(pkt.caplen <= pkt.wirelen);
    assert_int_equal(rc, 0);
    cs_capfile_close(f);
}

static void compare_file(const char *path, corpus *c)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *lp;
    cs_capfile *f;
    int rc;

    c->files++;
    lp = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    rc = cs_capfile_open(path, &f);
    if (lp == NULL) {
        /* libpcap's pcapng reader wants one link type and snap length. */
        if (strstr(errbuf, "different from") != NULL) {
            c->libpcap_refused++;
            if (rc == 0)
                cs_capfile_close(f);
            check_without_libpcap(path, errbuf);
            return;
        }
        if (rc == 0)
            fail_msg("%s: libpcap refuses it (%s), capstream opened it", path, errbuf);
        return;
    }
    if (rc < 0)
        fail_msg("%s: libpcap opens it, capstream: %s", path, cs_error_msg(rc));
    c->packets += compare_with_libpcap(path, lp, f);
    cs_capfile_close(f);
    pcap_close(lp);
}

static void walk(const char *dir, corpus *c)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    struct stat st;

    if (d == NULL)
        fail_msg("cannot open %s (run the tests from the repository root)", dir);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || has_suffix(e->d_name, ".expected"))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        assert_int_equal(stat(path, &st), 0);
        if (S_ISDIR(st.st_mode))
            walk(path, c);
        else if (has_suffix(e->d_name, ".pcap") || has_suffix(e->d_name, ".pcapng"))
            compare_file(path, c);
    }
    closedir(d);
}

static void test_corpus_matches_libpcap(void **state)
{
    corpus c = {0};

    walk(PCAPS_DIR, &c);
    print_message("compared %zu capture files, %zu packets with libpcap (%zu refused by it)\n",
                  c.files, c.packets, c.libpcap_refused);
    assert_true(c.files >= 100);
    assert_true(c.packets >= 10000);
}

/* ---- hand-built captures -------------------------------------------- */

static void test_pcap_byte_orders_and_precisions(void **state)
{
    for (int v = 0; v < 4; v++) {
        bool be = v & 1, ns = v & 2;
        bytes b = {0};
        cs_capfile *f;
        cs_packet pkt;

        pcap_header(&b, be, ns, 65535, 1);
        pcap_record(&b, be, 1700000000u, ns ? 123456789u : 123456u, 60, 60, 1);
        pcap_record(&b, be, 4000000000u, ns ? 999999999u : 999999u, 1514, 9000, 2);
        pcap_record(&b, be, 5, ns ? 1500000000u : 1500000u, 0, 0, 3); /* fraction too big */
        assert_int_equal(compare_mem_with_libpcap("byte order", &b), 3);
        assert_int_equal(cs_capfile_open_mem(b.p, b.n, &f), 0);
        assert_int_equal(cs_capfile_get_format(f), ns ? CS_CAPFILE_PCAP_NS : CS_CAPFILE_PCAP_US);
        assert_int_equal(cs_capfile_snaplen(f, 0), 65535);
        assert_int_equal(cs_capfile_next(f, &pkt), 1);
        assert_int_equal(pkt.ts_ns, 1700000000123456789ll - (ns ? 0 : 789));
        assert_int_equal(pkt.caplen, 60);
        check_pattern(&pkt, 1);
        assert_int_equal(cs_capfile_next(f, &pkt), 1);
        assert_int_equal(pkt.ts_ns, 4000000000999999999ll - (ns ? 0 : 999));
        assert_int_equal(pkt.wirelen, 9000);
        check_pattern(&pkt, 2);
        assert_int_equal(cs_capfile_next(f, &pkt), 1);
        assert_int_equal(pkt.ts_ns, 6500000000ll);
        assert_int_equal(cs_capfile_next(f, &pkt), 0);
        assert_int_equal(cs_capfile_next(f, &pkt), 0);
        assert_int_equal(cs_capfile_offset(f), b.n);
        cs_capfile_close(f);
        free(b.p);
    }
}

/* Like libpcap, a caplen above the snap length (but sane) is cut to it. */
static void test_pcap_caplen_above_snaplen(void **state)
{
    bytes b = {0};
    cs_capfile *f;
    cs_packet pkt;

    pcap_header(&b, false, false, 100, 1);
    pcap_record(&b, false, 1, 2, 300, 300, 4);
    pcap_record(&b, false, 1, 3, 50, 40, 5); /* wirelen below caplen */
    assert_int_equal(compare_mem_with_libpcap("snaplen", &b), 2);
    assert_int_equal(cs_capfile_open_mem(b.p, b.n, &f), 0);
    assert_int_equal(cs_capfile_next(f, &pkt), 1);
    assert_int_equal(pkt.caplen, 100);
    assert_int_equal(pkt.wirelen, 300);
    check_pattern(&pkt, 4);
    assert_int_equal(cs_capfile_next(f, &pkt), 1);
    assert_int_equal(pkt.caplen, 50);
    assert_int_equal(pkt.wirelen, 50);
    check_pattern(&pkt, 5);
    cs_capfile_close(f);
    free(b.p);
}

static void test_pcapng_interfaces_and_resolutions(void **state)
{
    bytes b = {0};
    cs_capfile *f;
    cs_packet pkt;
    const uint64_t bin = (7ull << 20) + (1ull << 19) + 1; /* 7.5 s + 2^-20 s */

    ng_shb(&b, false);
    ng_idb(&b, false, 1, 0, 9, false, 0);         /* if 0: 10^-9 */
    ng_idb(&b, false, 1, 0, 0x80 | 20, true, 10); /* if 1: 2^-20, +10 s */
    ng_other(&b, false, 4, 16);                   /* NRB: skipped */
    ng_idb(&b, false, 1, 0, 3, true, -5);         /* if 2: 10^-3, -5 s */
    ng_epb(&b, false, 0, 1700000000123456789ull, 64, 64, 1);
    ng_epb(&b, false, 1, bin, 100, 200, 2);
    ng_epb(&b, false, 2, 1700000000123ull, 10, 10, 3);
    ng_spb(&b, false, 42, 4);
    ng_other(&b, false, 5, 24); /* ISB: skipped */
    assert_int_equal(compare_mem_with_libpcap("resolutions", &b), 4);

    assert_int_equal(cs_capfile_open_mem(b.p, b.n, &f), 0);
    assert_int_equal(cs_capfile_get_format(f), CS_CAPFILE_PCAPNG);
    assert_int_equal(cs_capfile_next(f, &pkt), 1);
    assert_int_equal(pkt.ts_ns, 1700000000123456789ll);
    assert_int_equal(pkt.tap, 0);
    check_pattern(&pkt, 1);
    assert_int_equal(cs_capfile_next(f, &pkt), 1);
    /* 2^-20 s = 953.67431640625 ns, rounded down. */
    assert_int_equal(pkt.ts_ns, 17500000000ll + 953);
    assert_int_equal(pkt.tap, 1);
    assert_int_equal(pkt.wirelen, 200);
    check_pattern(&pkt, 2);
    assert_int_equal(cs_capfile_next(f, &pkt), 1);
    assert_int_equal(pkt.ts_ns, 1699999995123000000ll);
    assert_int_equal(pkt.tap, 2);
    assert_int_equal(cs_capfile_next(f, &pkt), 1);
    assert_int_equal(pkt.tap, 0);
    assert_int_equal(pkt.caplen, 42);
    assert_int_equal(pkt.ts_ns, 0);
    check_pattern(&pkt, 4);
    assert_int_equal(cs_capfile_next(f, &pkt), 0);
    cs_capfile_close(f);
    free(b.p);
}

/* Two sections (the second big-endian) and interfaces of different link
 * types, which libpcap cannot read: taps restart in each section. */
static void test_pcapng_sections_and_mixed_links(void **state)
{
    bytes b = {0};
    cs_capfile *f;
    cs_packet pkt;

    ng_shb(&b, false);
    ng_idb(&b, false, 1, 0, -1, false, 0);
    ng_idb(&b, false, 101, 1500, -1, false, 0);
    ng_epb(&b, false, 1, 5000000, 20, 20, 1); /* 5 s in microseconds */
    ng_epb(&b, false, 0, 6000000, 30, 30, 2);
    ng_shb(&b, true);
    ng_idb(&b, true, 113, 0, 6, false, 0);
    ng_epb(&b, true, 0, 7000001, 40, 40, 3);
    ng_epb(&b, true, 1, 7000001, 40, 40, 4); /* no interface 1 in this section */

    assert_int_equal(cs_capfile_open_mem(b.p, b.n, &f), 0);
    assert_int_equal(cs_capfile_next(f, &pkt), 1);
    assert_int_equal(cs_capfile_snaplen(f, 1), 1500);
    assert_int_equal(cs_capfile_snaplen(f, 0), 262144);
    assert_int_equal(pkt.linktype, 101);
    assert_int_equal(pkt.tap, 1);
    assert_int_equal(pkt.ts_ns, 5000000000ll);
    check_pattern(&pkt, 1);
    assert_int_equal(cs_capfile_next(f, &pkt), 1);
    assert_int_equal(pkt.linktype, 1);
    assert_int_equal(pkt.tap, 0);
    assert_int_equal(cs_capfile_next(f, &pkt), 1);
    assert_int_equal(pkt.linktype, 113);
    assert_int_equal(pkt.tap, 0);
    assert_int_equal(pkt.ts_ns, 7000001000ll);
    check_pattern(&pkt, 3);
    assert_int_equal(cs_capfile_next(f, &pkt), CS_EBADRECORD);
    assert_non_null(strstr(cs_error_msg(CS_EBADRECORD), "interface"));
    cs_error_clear();
    assert_int_equal(cs_capfile_next(f, &pkt), CS_EBADRECORD);
    assert_non_null(strstr(cs_error_msg(CS_EBADRECORD), "interface"));
    cs_capfile_close(f);
    free(b.p);
}

/* Cuts "b" at every length and checks that no cut crashes, every complete
 * packet comes back (packet i ends at "ends[i]"), and the end is clean (at
 * one of the "clean" block boundaries) or CS_ETRUNCATED at once. The file
 * header is "hdr" bytes. */
static void check_every_cut(const bytes *b, const size_t *ends, size_t n_ends, size_t hdr,
                            const size_t *clean, size_t n_clean)
{
    for (size_t cut = 0; cut < b->n; cut++) {
        uint8_t *copy = malloc(cut + 1); /* exact size: ASan sees overreads */
        cs_capfile *f;
        cs_packet pkt;
        size_t want = 0, got = 0;
        int rc;

        memcpy(copy, b->p, cut);
        while (want < n_ends && ends[want] <= cut)
            want++;
        rc = cs_capfile_open_mem(copy, cut, &f);
        if (cut < hdr) {
            assert_int_equal(rc, cut == 0 ? CS_EFORMAT : CS_ETRUNCATED);
            free(copy);
            continue;
        }
        assert_int_equal(rc, 0);
        while ((rc = cs_capfile_next(f, &pkt)) == 1) {
            check_pattern(&pkt, (uint32_t)got + 1);
            got++;
        }
        assert_int_equal(got, want);
        bool boundary = false;
        for (size_t i = 0; i < n_clean; i++)
            boundary |= clean[i] == cut;
        if (boundary) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, CS_ETRUNCATED);
            assert_non_null(strstr(cs_error_msg(rc), "cut off inside"));
            assert_int_equal(cs_capfile_next(f, &pkt), CS_ETRUNCATED);
        }
        cs_capfile_close(f);
        free(copy);
    }
}

static void test_truncated_at_every_byte(void **state)
{
    bytes b = {0};
    size_t ends[3], clean[8], n_clean = 0;

    pcap_header(&b, false, false, 0, 1);
    clean[n_clean++] = b.n;
    for (uint32_t i = 0; i < 3; i++) {
        pcap_record(&b, false, i, i, 10 + i, 10 + i, i + 1);
        ends[i] = clean[n_clean++] = b.n;
    }
    check_every_cut(&b, ends, 3, 24, clean, n_clean);
    free(b.p);

    memset(&b, 0, sizeof(b));
    n_clean = 0;
    ng_shb(&b, true);
    clean[n_clean++] = b.n;
    ng_idb(&b, true, 1, 0, 9, true, 3);
    clean[n_clean++] = b.n;
    ng_epb(&b, true, 0, 1, 5, 5, 1);
    ends[0] = clean[n_clean++] = b.n;
    ng_other(&b, true, 4, 8);
    clean[n_clean++] = b.n;
    ng_spb(&b, true, 6, 2);
    ends[1] = clean[n_clean++] = b.n;
    ng_epb(&b, true, 0, 2, 0, 0, 3);
    ends[2] = clean[n_clean++] = b.n;
    check_every_cut(&b, ends, 3, 28, clean, n_clean);
    free(b.p);
}

static void test_bad_input(void **state)
{
    static const uint8_t junk[] = "GET / HTTP/1.1\r\n\r\n";
    static const uint8_t half_magic[] = {0xd4, 0xc3};
    bytes b = {0};
    cs_capfile *f;
    cs_packet pkt;

    assert_int_equal(cs_capfile_open_mem(junk, sizeof(junk), &f), CS_EFORMAT);
    assert_null(f);
    assert_non_null(strstr(cs_error_msg(CS_EFORMAT), "magic"));
    assert_int_equal(cs_capfile_open_mem(junk, 3, &f), CS_EFORMAT);
    assert_int_equal(cs_capfile_open_mem(half_magic, 2, &f), CS_ETRUNCATED);
    assert_int_equal(cs_capfile_open_mem(junk, 0, &f), CS_EFORMAT);
    assert_non_null(strstr(cs_error_msg(CS_EFORMAT), "empty"));
    assert_int_equal(cs_capfile_open("/nonexistent/x.pcap", &f), CS_ENOTFOUND);
    assert_int_equal(cs_capfile_open(".", &f), CS_EINVAL);

    /* An absurd record length, then the error repeats. */
    pcap_header(&b, true, false, 65535, 1);
    pcap_record(&b, true, 1, 1, 8, 8, 1);
    put32(&b, 1, true);
    put32(&b, 1, true);
    put32(&b, 0x7fffffff, true);
    put32(&b, 0x7fffffff, true);
    assert_int_equal(cs_capfile_open_mem(b.p, b.n, &f), 0);
    assert_int_equal(cs_capfile_next(f, &pkt), 1);
    assert_int_equal(cs_capfile_next(f, &pkt), CS_EBADRECORD);
    assert_non_null(strstr(cs_error_msg(CS_EBADRECORD), "at byte 48"));
    assert_int_equal(cs_capfile_next(f, &pkt), CS_EBADRECORD);
    cs_capfile_close(f);

    /* Unknown pcap version, pcapng block with a mismatched trailer. */
    b.p[5] = 9;
    assert_int_equal(cs_capfile_open_mem(b.p, b.n, &f), CS_EFORMAT);
    b.n = 0;
    ng_shb(&b, false);
    ng_idb(&b, false, 1, 0, -1, false, 0);
    ng_epb(&b, false, 0, 1, 4, 4, 1);
    b.p[b.n - 4] ^= 4;
    assert_int_equal(cs_capfile_open_mem(b.p, b.n, &f), 0);
    assert_int_equal(cs_capfile_next(f, &pkt), CS_EBADRECORD);
    cs_capfile_close(f);
    free(b.p);
}

/* Every link type a capture holds is returned like Ethernet (802.11 and
 * radiotap too: capstream stores what it cannot dissect). Only a classic
 * pcap link type field whose reserved bits 16-25 are set, which a packet's
 * 16-bit link type cannot carry, gives CS_ELINKTYPE; the reader goes on. */
static void test_every_linktype_returned(void **state)
{
    static const uint32_t links[] = {105, 127, 147, 231, 65535};
    bytes b = {0};
    cs_capfile *f;
    cs_packet pkt;

    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        assert_true(cs_linktype_storable(links[i]));
        b.n = 0;
        pcap_header(&b, false, false, 0, links[i]);
        pcap_record(&b, false, 1, 0, 20, 20, 1);
        assert_int_equal(cs_capfile_open_mem(b.p, b.n, &f), 0);
        assert_int_equal(cs_capfile_next(f, &pkt), 1);
        assert_int_equal(pkt.linktype, links[i]);
        check_pattern(&pkt, 1);
        assert_int_equal(cs_capfile_next(f, &pkt), 0);
        cs_capfile_close(f);
    }
    assert_false(cs_linktype_storable(0x10069));
    b.n = 0;
    pcap_header(&b, false, false, 0, 0x10069);
    pcap_record(&b, false, 1, 0, 20, 20, 1);
    pcap_record(&b, false, 2, 0, 20, 20, 2);
    assert_int_equal(cs_capfile_open_mem(b.p, b.n, &f), 0);
    assert_int_equal(cs_capfile_next(f, &pkt), CS_ELINKTYPE);
    assert_non_null(strstr(cs_error_msg(CS_ELINKTYPE), "link type 65641"));
    check_pattern(&pkt, 1);
    assert_int_equal(cs_capfile_next(f, &pkt), CS_ELINKTYPE);
    check_pattern(&pkt, 2);
    assert_int_equal(cs_capfile_next(f, &pkt), 0);
    cs_capfile_close(f);
    free(b.p);
}

/* A record larger than the 4 MiB read buffer (DBUS allows 128 MiB). */
static void test_record_larger_than_buffer(void **state)
{
    char path[] = "/tmp/test_capfile_big_XXXXXX";
    int fd = mkstemp(path);
    bytes b = {0};
    cs_capfile *f;
    cs_packet pkt;

    assert_true(fd >= 0);
    close(fd);
    pcap_header(&b, false, true, 0, 231);
    pcap_record(&b, false, 1, 1, 100, 100, 1);
    pcap_record(&b, false, 2, 2, 9u << 20, 9u << 20, 2);
    pcap_record(&b, false, 3, 3, 100, 100, 3);
    write_file(path, &b);
    assert_int_equal(cs_capfile_open(path, &f), 0);
    assert_int_equal(cs_capfile_size(f), b.n);
    for (uint32_t i = 1; i <= 3; i++) {
        assert_int_equal(cs_capfile_next(f, &pkt), 1);
        assert_int_equal(pkt.caplen, i == 2 ? 9u << 20 : 100);
        check_pattern(&pkt, i);
    }
    assert_int_equal(cs_capfile_next(f, &pkt), 0);
    assert_int_equal(cs_capfile_offset(f), b.n);
    cs_capfile_close(f);
    unlink(path);
    free(b.p);
}

static void test_stdin_pipe(void **state)
{
    bytes b = {0};
    int fds[2], saved, status;
    pid_t pid;
    cs_capfile *f;
    cs_packet pkt;
    uint32_t n = 0;

    pcap_header(&b, false, false, 0, 1);
    for (uint32_t i = 0; i < 3000; i++)
        pcap_record(&b, false, i, i, 60 + i % 1400, 1500, i + 1);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* the writer: odd-sized chunks */
        close(fds[0]);
        for (size_t off = 0; off < b.n; off += 777) {
            size_t len = b.n - off < 777 ? b.n - off : 777;
            if (write(fds[1], b.p + off, len) != (ssize_t)len)
                _exit(1);
        }
        _exit(0);
    }
    close(fds[1]);
    saved = dup(STDIN_FILENO);
    assert_true(dup2(fds[0], STDIN_FILENO) >= 0);
    close(fds[0]);
    assert_int_equal(cs_capfile_open("-", &f), 0);
    assert_int_equal(cs_capfile_size(f), 0);
    while (cs_capfile_next(f, &pkt) == 1) {
        assert_int_equal(pkt.caplen, 60 + n % 1400);
        assert_int_equal(pkt.ts_ns, (int64_t)n * 1000000000 + n * 1000);
        check_pattern(&pkt, n + 1);
        n++;
    }
    assert_int_equal(n, 3000);
    assert_int_equal(cs_capfile_offset(f), b.n);
    cs_capfile_close(f);
    dup2(saved, STDIN_FILENO);
    close(saved);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(b.p);
}

/* The file source: batches across buffer refills keep every packet valid
 * until release, and every packet arrives once, in order. */
static void test_file_source_batches(void **state)
{
    char path[] = "/tmp/test_capfile_src_XXXXXX";
    int fd = mkstemp(path);
    static cs_batch batch;
    bytes b = {0};
    cs_source *src;
    cs_source_stats st;
    uint32_t n = 0, total = 6000, batches = 0;
    uint64_t bytes_sum = 0;

    assert_true(fd >= 0);
    close(fd);
    pcap_header(&b, false, false, 0, 1);
    for (uint32_t i = 0; i < total; i++) {
        pcap_record(&b, false, i, 0, 40 + (i * 37) % 1461, 1501, i + 1);
        bytes_sum += 40 + (i * 37) % 1461;
    }
    write_file(path, &b);
    assert_int_equal(cs_source_file_ops.open(&src, path), 0);
    assert_ptr_equal(src->ops, &cs_source_file_ops);
    assert_int_equal(cs_source_file_snaplen(src, 0), 262144);
    for (;;) {
        assert_int_equal(src->ops->next_batch(src, &batch), 0);
        if (batch.n == 0)
            break;
        batches++;
        /* Checked only now that the whole batch is read. */
        for (unsigned i = 0; i < batch.n; i++, n++) {
            assert_int_equal(batch.pkts[i].ts_ns, (int64_t)n * 1000000000);
            check_pattern(&batch.pkts[i], n + 1);
        }
        src->ops->release_batch(src, &batch);
    }
    assert_int_equal(n, total);
    assert_true(batches >= total / CS_BATCH_MAX);
    src->ops->stats(src, &st);
    assert_int_equal(st.packets, total);
    assert_int_equal(st.bytes, bytes_sum);
    assert_int_equal(st.input_offset, b.n);
    assert_int_equal(st.input_size, b.n);
    src->ops->close(src);
    assert_int_equal(cs_source_file_ops.open(&src, "/nonexistent.pcap"), CS_ENOTFOUND);

    /* An error after some packets: those come first, then the error. */
    b.n -= 5;
    write_file(path, &b);
    assert_int_equal(cs_source_file_ops.open(&src, path), 0);
    n = 0;
    int rc;
    while ((rc = src->ops->next_batch(src, &batch)) == 0 && batch.n > 0) {
        n += batch.n;
        src->ops->release_batch(src, &batch);
    }
    assert_int_equal(rc, CS_ETRUNCATED);
    assert_int_equal(n, total - 1);
    assert_int_equal(src->ops->next_batch(src, &batch), CS_ETRUNCATED);
    src->ops->close(src);
    unlink(path);
    free(b.p);
}

/* Ethernet and 802.11 interfaces interleaved: one batch holds them all,
 * each packet with its interface's link type. */
static void test_file_source_mixed_linktypes(void **state)
{
    char path[] = "/tmp/test_capfile_lt_XXXXXX";
    int fd = mkstemp(path);
    static cs_batch batch;
    static const uint16_t want[] = {1, 1, 105, 1};
    bytes b = {0};
    cs_source *src;

    assert_true(fd >= 0);
    close(fd);
    ng_shb(&b, false);
    ng_idb(&b, false, 1, 0, -1, false, 0);
    ng_idb(&b, false, 105, 0, -1, false, 0);
    ng_epb(&b, false, 0, 1, 10, 10, 1);
    ng_epb(&b, false, 0, 2, 10, 10, 2);
    ng_epb(&b, false, 1, 3, 10, 10, 3);
    ng_epb(&b, false, 0, 4, 10, 10, 4);
    write_file(path, &b);
    assert_int_equal(cs_source_file_ops.open(&src, path), 0);
    assert_int_equal(src->ops->next_batch(src, &batch), 0);
    assert_int_equal(batch.n, 4);
    for (unsigned i = 0; i < 4; i++) {
        check_pattern(&batch.pkts[i], i + 1);
        assert_int_equal(batch.pkts[i].linktype, want[i]);
        assert_int_equal(batch.pkts[i].tap, want[i] == 105);
    }
    src->ops->release_batch(src, &batch);
    assert_int_equal(src->ops->next_batch(src, &batch), 0);
    assert_int_equal(batch.n, 0);
    src->ops->close(src);
    unlink(path);
    free(b.p);
}

/* A link type no packet can carry: the file source returns CS_ELINKTYPE
 * for the packet (detail: the link type), then goes on to the end. */
static void test_file_source_linktype_error(void **state)
{
    char path[] = "/tmp/test_capfile_lt_XXXXXX";
    int fd = mkstemp(path);
    static cs_batch batch;
    bytes b = {0};
    cs_source *src;

    assert_true(fd >= 0);
    close(fd);
    pcap_header(&b, false, false, 0, 0x10001);
    pcap_record(&b, false, 1, 0, 10, 10, 1);
    write_file(path, &b);
    assert_int_equal(cs_source_file_ops.open(&src, path), 0);
    cs_error_clear();
    assert_int_equal(src->ops->next_batch(src, &batch), CS_ELINKTYPE);
    assert_non_null(strstr(cs_error_msg(CS_ELINKTYPE), "link type 65537"));
    assert_int_equal(src->ops->next_batch(src, &batch), 0);
    assert_int_equal(batch.n, 0);
    src->ops->close(src);
    unlink(path);
    free(b.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_matches_libpcap),
        cmocka_unit_test(test_pcap_byte_orders_and_precisions),
        cmocka_unit_test(test_pcap_caplen_above_snaplen),
        cmocka_unit_test(test_pcapng_interfaces_and_resolutions),
        cmocka_unit_test(test_pcapng_sections_and_mixed_links),
        cmocka_unit_test(test_truncated_at_every_byte),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_every_linktype_returned),
        cmocka_unit_test(test_record_larger_than_buffer),
        cmocka_unit_test(test_stdin_pipe),
        cmocka_unit_test(test_file_source_batches),
        cmocka_unit_test(test_file_source_mixed_linktypes),
        cmocka_unit_test(test_file_source_linktype_error),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

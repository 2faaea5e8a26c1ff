/*
 * test_flowpred.c - unit tests for store/flowkey.c and store/flowpred.c.
 *
 * The central test is soundness against libpcap itself: every packet of a
 * set of real captures (VLAN, QinQ, MPLS, IPv6, fragments, SLL2, raw IP,
 * NFLOG, truncated and malformed packets) and of a generated trading
 * capture is dissected (cs_dissect), keyed (cs_flowkey_from_layers) and
 * judged by cs_flowpred_eval for many filters, fixed and random; each
 * verdict is checked against pcap_offline_filter with the same filter
 * compiled by pcap_compile for that capture's link type:
 *
 *   TRUE  => the BPF program accepts the packet,
 *   FALSE => the BPF program rejects it.
 *
 * It also checks that plain host/net/port/proto filters on untagged
 * traffic are decided (MAYBE on < 1% of packets), hand-built keys for the
 * rules that the captures may not exercise, parse errors, allocation
 * failure, and the key builder's flags, zero padding and hash.
 *
 * Key summaries (cs_keysum, cs_flowpred_may_match) are held to the same
 * rule from the other side: a summary may prune a filter only if every key
 * it summarizes evaluates to FALSE. That is checked on thousands of random
 * key sets drawn from small pools of addresses, ports, protocols, link
 * types and VLAN stacks (fixed seed), and on the real captures' keys in
 * runs of 32; then that summaries do prune absent hosts and ports (and not
 * nets, negations, or sets with unusual or portless keys), that their false
 * positive rate stays low, and that the index stores a summary and drops a
 * damaged one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "packet/dissect.h"
#include "store/flowkey.h"
#include "store/flowpred.h"
#include "store/index.h"

#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PCAP_DIR "tests/pcaps/"

/* ---- captures in memory ------------------------------------------------------------ */

typedef struct capture {
    char path[512];
    pcap_t *handle; /* kept open: pcap_compile needs the link type */
    size_t n;
    struct pcap_pkthdr *hdrs;
    uint8_t **data;
    cs_flowkey *keys;
} capture;

static uint16_t linktype_of(int dlt)
{
    return dlt == 12 || dlt == 14 ? CS_LINK_RAW : (uint16_t)dlt; /* DLT_RAW variants */
}

static void load_capture(capture *c, const char *path)
{
    char err[PCAP_ERRBUF_SIZE];
    snprintf(c->path, sizeof(c->path), "%s", path);
    c->handle = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
    if (!c->handle)
        fail_msg("cannot open %s: %s", path, err);
    uint16_t linktype = linktype_of(pcap_datalink(c->handle));
    size_t cap = 0;
    struct pcap_pkthdr *h;
    const u_char *bytes;
    int rc;
    while ((rc = pcap_next_ex(c->handle, &h, &bytes)) == 1) {
        if (c->n == cap) {
            cap = cap ? cap * 2 : 64;
            c->hdrs = realloc(c->hdrs, cap * sizeof(*c->hdrs));
            c->data = realloc(c->data, cap * sizeof(*c->data));
            c->keys = realloc(c->keys, cap * sizeof(*c->keys));
            assert_non_null(c->hdrs);
            assert_non_null(c->data);
            assert_non_null(c->keys);
        }
        c->hdrs[c->n] = *h;
        c->data[c->n] = malloc(h->caplen ? h->caplen : 1);
        assert_non_null(c->data[c->n]);
        memcpy(c->data[c->n], bytes, h->caplen);
        cs_packet p = {.ts_ns = (int64_t)h->ts.tv_sec * 1000000000 + h->ts.tv_usec,
                       .caplen = h->caplen,
                       .wirelen = h->len,
                       .linktype = linktype,
                       .tap = 0,
                       .data = c->data[c->n]};
        cs_layers l;
        cs_dissect(&p, &l);
        cs_flowkey_from_layers(&p, &l, &c->keys[c->n]);
        c->n++;
    }
    /* -2: end of file; -1: a damaged record, after which we use what we read. */
    assert_true(rc == -2 || rc == -1);
}

/* Frees what load_capture set up; a capture it never reached is all zero. */
static void free_capture(capture *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->data[i]);
    free(c->data);
    free(c->hdrs);
    free(c->keys);
    if (c->handle != NULL)
        pcap_close(c->handle);
    memset(c, 0, sizeof(*c));
}

static const char *const capture_files[] = {
    "zeek/http/get.pcap",
    "zeek/http-vlan-0.pcap",
    "zeek/http-qinq-0.pcap",
    "zeek/q-in-q.pcap",
    "zeek/mixed-vlan-mpls.pcap",
    "zeek/icmp_dot1q.pcap",
    "zeek/dns53.pcap",
    "zeek/http/1000-requests-one-dropped-response.pcap",
    "zeek/ipv6-http-atomic-frag.pcap",
    "zeek/ipv6-fragmented-dns.pcap",
    "zeek/ipv4/fragmented-1.pcap",
    "zeek/ipv4/fragmented-2.pcap",
    "zeek/ipv4/fragmented-3.pcap",
    "zeek/ipv4/fragmented-4.pcap",
    "zeek/ipv4/fragmented-syn.pcap",
    "zeek/linux_dlt_sll2.pcap",
    "zeek/nflog-http.pcap",
    "zeek/snap-tcp.pcap",
    "zeek/pcapng-multi-interface.pcapng",
    "zeek/communityid/ipv6.pcap",
    "zeek/trunc/ip4-trunc.pcap",
    "zeek/trunc/ip6-trunc.pcap",
    "zeek/trunc/icmp-payload-trunc.pcap",
    "zeek/trunc/ipv4-truncated-broken-header.pcap",
    "zeek/ip-bogus-header-len.pcap",
    "zeek/tcp/truncated-header.pcap",
    "zeek/udp-contents-truncated-oob.pcap",
    "ndpi/dns_fragmented.pcap",
    "ndpi/fix2.pcap",
    "ndpi/ip_fragmented_garbage.pcap",
    "ndpi/fuzz-2006-06-26-2594.pcap",
    "ndpi/fuzz-2020-02-16-11740.pcap",
    "ndpi/fuzz-2021-10-13.pcap",
    "ndpi/malformed_dns.pcap",
    "tcpdump/802.1ad_QinQ.pcap",
    "tcpdump/LINKTYPE_RAW_ipv6.pcap",
    "tcpdump/ip6_frag_asan.pcap",
    "tcpdump/ipv4_invalid_total_length.pcap",
    "tcpdump/ipv4_tcp_http_xml_tso.pcap",
    "tcpdump/ipv6-routing-header.pcap",
    "tcpdump/ipv6_jumbogram_1.pcap",
    "tcpdump/heapoverflow-tcp_print.pcap",
    "tcpdump/tcp_header_heapoverflow.pcap",
};
#define N_FILES (sizeof(capture_files) / sizeof(capture_files[0]))
#define N_CAPTURES (N_FILES + 1) /* + the generated one, last */

static capture captures[N_CAPTURES];
static char gen_dir[64];

static int setup_captures(void **state)
{
    (void)state;
    char path[600];
    for (size_t i = 0; i < N_FILES; i++) {
        snprintf(path, sizeof(path), PCAP_DIR "%s", capture_files[i]);
        load_capture(&captures[i], path);
    }
    snprintf(gen_dir, sizeof(gen_dir), "/tmp/flowpred_test_XXXXXX");
    if (!mkdtemp(gen_dir)) {
        gen_dir[0] = '\0'; /* nothing for the teardown to remove */
        fail_msg("mkdtemp failed");
    }
    char cmd[300];
    snprintf(cmd, sizeof(cmd),
             "python3 tools/gentraffic.py %s/g.pcap --seconds 0.2 --quirks --hop "
             "--seed 5 >/dev/null",
             gen_dir);
    if (system(cmd) != 0)
        fail_msg("gentraffic.py failed: %s", cmd);
    snprintf(path, sizeof(path), "%s/g.pcap", gen_dir);
    load_capture(&captures[N_FILES], path);
    assert_true(captures[N_FILES].n > 1000);
    return 0;
}

static int teardown_captures(void **state)
{
    (void)state;
    char path[128];
    /* the setup may have stopped at any step: free only what it set up */
    for (size_t i = 0; i < N_CAPTURES; i++)
        free_capture(&captures[i]);
    if (gen_dir[0] == '\0')
        return 0;
    snprintf(path, sizeof(path), "%s/g.pcap", gen_dir);
    unlink(path);
    rmdir(gen_dir);
    return 0;
}

/* ---- checking one filter ----------------------------------------------------------- */

typedef struct tally {
    size_t packets, t, f, maybe, bpf_match;
} tally;

static void describe_key(const cs_flowkey *k, char *buf, size_t size)
{
    snprintf(buf, size,
             "link %u et 0x%04x vlans %u [%u %u] flags 0x%x v%u proto %u "
             "%u.%u.%u.%u:%u > %u.%u.%u.%u:%u",
             k->linktype, k->ethertype, k->n_vlan, k->vlan[0], k->vlan[1], k->flags, k->ip_version,
             k->ip_proto, k->src[0], k->src[1], k->src[2], k->src[3], k->sport, k->dst[0],
             k->dst[1], k->dst[2], k->dst[3], k->dport);
}

/*
 * Checks "filter" on every packet of "c". Returns false if libpcap cannot
 * compile it for this link type (e.g. "vlan" on SLL2).
 */
static bool check_filter(capture *c, const char *filter, tally *t)
{
    struct bpf_program prog;
    if (pcap_compile(c->handle, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0)
        return false;
    cs_flowpred *p = NULL;
    int rc = cs_flowpred_compile(filter, &p);
    if (rc != 0)
        fail_msg("cs_flowpred_compile(\"%s\") failed: %s", filter, cs_error_msg(rc));
    for (size_t i = 0; i < c->n; i++) {
        cs_tri v = cs_flowpred_eval(p, &c->keys[i]);
        bool bpf = pcap_offline_filter(&prog, &c->hdrs[i], c->data[i]) != 0;
        if ((v == CS_TRI_TRUE && !bpf) || (v == CS_TRI_FALSE && bpf)) {
            char kd[200];
            describe_key(&c->keys[i], kd, sizeof(kd));
            fail_msg("UNSOUND: %s packet %zu filter \"%s\": flowpred %s, BPF %s (key: %s)", c->path,
                     i + 1, filter, v == CS_TRI_TRUE ? "TRUE" : "FALSE", bpf ? "match" : "no match",
                     kd);
        }
        t->packets++;
        t->t += v == CS_TRI_TRUE;
        t->f += v == CS_TRI_FALSE;
        t->maybe += v == CS_TRI_MAYBE;
        t->bpf_match += bpf;
    }
    cs_flowpred_free(p);
    pcap_freecode(&prog);
    return true;
}

/* Filters built from the addresses and ports actually present. */
static const char *const fixed_filters[] = {
    "",
    "ip",
    "ip6",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "sctp",
    "ip and tcp",
    "ip6 and udp",
    "proto 6",
    "ip proto 17",
    "ip6 proto 6",
    "proto \\udp",
    "ip proto \\tcp",
    "proto 6 or 17",
    "host 141.142.228.5",
    "host 192.150.187.43",
    "src host 141.142.228.5",
    "dst host 141.142.228.5",
    "src or dst host 192.150.187.43",
    "src and dst host 192.150.187.43",
    "ip host 141.142.228.5",
    "host 141.142.228.5 or 192.150.187.43",
    "host 141.142.228.5 and not 192.150.187.43",
    "net 141.142.0.0/16",
    "net 141.142",
    "net 141",
    "net 192.168.1.0 mask 255.255.255.0",
    "src net 10.0.0.0/8",
    "dst net 192.168.0.0/16 or 172.16.0.0/12",
    "net 0.0.0.0/0",
    "host 10",
    "host 10.1",
    "port 80",
    "tcp port 80",
    "udp port 53",
    "src port 80",
    "dst port 80",
    "port 53 or 80",
    "tcp port 80 or 443",
    "not port 80",
    "port http",
    "port 0x50",
    "port 0120",
    "portrange 1-1024",
    "tcp portrange 40000-65535",
    "udp dst portrange 53-53",
    "sctp port 80",
    "src and dst port 80",
    "ip6 host 2001:470:1f05:17a6:d69a:20ff:fefd:6b88",
    "host 2001:470:1f05:17a6:d69a:20ff:fefd:6b88",
    "ip6 net 2001:470::/32",
    "ip6 net fd00::/16",
    "net ::/0",
    "tcp and (port 80 or port 8080)",
    "not tcp",
    "!udp && !tcp",
    "tcp or udp or icmp",
    "(tcp or udp) and not (port 80 or port 53)",
    "not (host 141.142.228.5 or host 192.150.187.43) or tcp",
    "vlan",
    "vlan 0",
    "vlan 100",
    "vlan and tcp",
    "vlan 0 and host 141.142.228.5",
    "vlan and vlan and tcp port 80",
    "vlan or tcp",
    "not vlan",
    "tcp or vlan",
    "host 141.142.228.5 or vlan",
    "vlan and ip",
    "vlan and not ip",
    "vlan 0 or vlan 1",
    "mpls",
    "mpls and tcp",
    "mpls 100 or tcp",
    "pppoes and udp",
    "tcp[13] & 2 != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) != 0",
    "tcp[13] & 2 != 0 or host 141.142.228.5",
    "host 141.142.228.5 or tcp[100] = 1",
    "not tcp[100] = 1",
    "tcp[1000] = 1 or host 141.142.228.5",
    "ip[1500] = 1 or tcp or udp",
    "not (ip[1500] = 1 and tcp)",
    "(tcp[13] & 2) != 0",
    "greater 100",
    "less 100 and tcp",
    "len > 100 or udp",
    "ether host 00:00:0c:07:ac:01",
    "ether proto 0x0800",
    "arp",
    "broadcast or multicast",
    "ip multicast",
    "ip[6:2] & 0x1fff != 0",
    "ip[6] & 0x20 != 0 or tcp port 80",
    "icmp[icmptype] == icmp-echo",
    "udp[8:2] > 0",
    "ip6[40] = 6",
};
#define N_FIXED (sizeof(fixed_filters) / sizeof(fixed_filters[0]))

static void test_soundness_fixed(void **state)
{
    (void)state;
    size_t compiled_somewhere[N_FIXED] = {0};
    tally total = {0};
    for (size_t f = 0; f < N_FIXED; f++) {
        for (size_t c = 0; c < N_CAPTURES; c++)
            compiled_somewhere[f] += check_filter(&captures[c], fixed_filters[f], &total);
        if (!compiled_somewhere[f])
            fail_msg("libpcap compiled \"%s\" for no capture: typo in the test?", fixed_filters[f]);
    }
    print_message("fixed filters: %zu verdicts, %zu TRUE, %zu FALSE, %zu MAYBE\n", total.packets,
                  total.t, total.f, total.maybe);
    assert_true(total.t > 0);
    assert_true(total.f > 0);
}

/* Plain filters on untagged captures must be decided, or the index is useless. */
static void test_untagged_decided(void **state)
{
    (void)state;
    static const char *const plain[] = {
        "host 141.142.228.5",
        "src host 10.0.0.1",
        "net 10.0.0.0/8",
        "port 80",
        "tcp port 80",
        "udp port 53",
        "tcp",
        "udp",
        "ip",
        "ip6",
        "proto 6",
        "portrange 1000-2000",
        "host 2001:470:1f05:17a6:d69a:20ff:fefd:6b88",
        "not port 22",
        "tcp and not host 1.2.3.4",
    };
    static const char *const untagged[] = {"zeek/http/get.pcap", "zeek/dns53.pcap",
                                           "zeek/http/1000-requests-one-dropped-response.pcap",
                                           "zeek/communityid/ipv6.pcap", "ndpi/fix2.pcap"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        tally t = {0};
        for (size_t c = 0; c < N_CAPTURES; c++) {
            bool wanted = c == N_FILES; /* the generated capture */
            for (size_t u = 0; u < sizeof(untagged) / sizeof(untagged[0]); u++)
                wanted |= strstr(captures[c].path, untagged[u]) != NULL;
            if (wanted)
                assert_true(check_filter(&captures[c], plain[i], &t));
        }
        assert_true(t.packets > 5000);
        if (t.maybe * 100 >= t.packets)
            fail_msg("\"%s\": %zu of %zu untagged packets MAYBE (>= 1%%)", plain[i], t.maybe,
                     t.packets);
    }
}

/* VLAN keys must be decided by "vlan N" (outer id) and plain filters must be
 * FALSE on them (libpcap looks at the outer ethertype). */
static void test_vlan_decided(void **state)
{
    (void)state;
    capture *vlan0 = NULL;
    for (size_t c = 0; c < N_FILES; c++) {
        if (strstr(captures[c].path, "http-vlan-0.pcap"))
            vlan0 = &captures[c];
    }
    assert_non_null(vlan0);
    const char *decided[] = {
        "vlan 0", "vlan 5", "tcp", "host 141.142.228.5", "vlan and tcp", "vlan 0 and port 80"};
    for (size_t i = 0; i < sizeof(decided) / sizeof(decided[0]); i++) {
        tally t = {0};
        assert_true(check_filter(vlan0, decided[i], &t));
        if (t.maybe != 0)
            fail_msg("\"%s\" on http-vlan-0: %zu MAYBE", decided[i], t.maybe);
    }
}

/* ---- random filters ---------------------------------------------------------------- */

static const char *const atoms[] = {
    "host 141.142.228.5",
    "host 192.150.187.43",
    "net 10.0.0.0/8",
    "src net 141.142",
    "dst host 10.0.0.1",
    "host 2001:470:1f05:17a6:d69a:20ff:fefd:6b88",
    "ip6 net 2001::/16",
    "port 80",
    "port 53",
    "src port 80",
    "dst port 1024",
    "tcp port 80",
    "udp port 53",
    "portrange 1-1023",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "ip",
    "ip6",
    "proto 17",
    "ip proto 6",
    "vlan",
    "vlan 0",
    "vlan 1",
    "tcp[13] & 2 != 0",
    "greater 200",
    "arp",
    "mpls",
    "ip[6:2] & 0x1fff != 0",
    "host 10.1",
    "net 192.168.0.0/16",
    "port 9878",
    "port 443",
    "sctp",
    "host 10.1.0.13",
    "host 10.2.0.1",
};
#define N_ATOMS (sizeof(atoms) / sizeof(atoms[0]))

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void random_expr(uint64_t *s, int depth, char *buf, size_t size)
{
    size_t len = strlen(buf);
    unsigned pick = (unsigned)(rng_next(s) % 6);
    if (depth == 0 || pick < 2) {
        snprintf(buf + len, size - len, "%s%s", rng_next(s) % 4 == 0 ? "not " : "",
                 atoms[rng_next(s) % N_ATOMS]);
        return;
    }
    snprintf(buf + len, size - len, "%s(", rng_next(s) % 5 == 0 ? "not " : "");
    random_expr(s, depth - 1, buf, size);
    len = strlen(buf);
    snprintf(buf + len, size - len, pick % 2 ? " and " : " or ");
    random_expr(s, depth - 1, buf, size);
    len = strlen(buf);
    snprintf(buf + len, size - len, ")");
}

static void test_soundness_random(void **state)
{
    (void)state;
    uint64_t seed = 0x1234567887654321ULL;
    tally total = {0};
    size_t compiled = 0;
    for (int i = 0; i < 400; i++) {
        char filter[1024] = "";
        random_expr(&seed, 3, filter, sizeof(filter));
        for (size_t c = 0; c < N_CAPTURES; c++)
            compiled += check_filter(&captures[c], filter, &total);
    }
    print_message("random filters: %zu compilations, %zu verdicts, %zu TRUE, %zu FALSE, %zu "
                  "MAYBE\n",
                  compiled, total.packets, total.t, total.f, total.maybe);
    assert_true(compiled > 1000);
    assert_true(total.t > 0 && total.f > 0);
}

/* ---- hand-built keys --------------------------------------------------------------- */

static cs_flowkey ipv4_key(uint8_t proto, uint16_t sport, uint16_t dport)
{
    cs_flowkey k;
    memset(&k, 0, sizeof(k));
    k.linktype = CS_LINK_ETHERNET;
    k.ethertype = 0x0800;
    k.flags = CS_FK_IP | CS_FK_PORTS;
    k.ip_version = 4;
    k.ip_proto = proto;
    k.sport = sport;
    k.dport = dport;
    memcpy(k.src, (uint8_t[]){10, 1, 0, 13}, 4);
    memcpy(k.dst, (uint8_t[]){10, 2, 0, 1}, 4);
    return k;
}

/* Compiles "filter", failing the test if it does not. */
static cs_flowpred *compile_ok(const char *filter)
{
    cs_flowpred *p = NULL;
    int rc = cs_flowpred_compile(filter, &p);
    if (rc != 0)
        fail_msg("compile \"%s\": %s", filter, cs_error_msg(rc));
    return p;
}

static cs_tri eval_str(const char *filter, const cs_flowkey *k)
{
    cs_flowpred *p = compile_ok(filter);
    cs_tri v = cs_flowpred_eval(p, k);
    cs_flowpred_free(p);
    return v;
}

#define EXPECT(filter, key, want)                                                                  \
    do {                                                                                           \
        cs_tri got_ = eval_str(filter, key);                                                       \
        if (got_ != (want))                                                                        \
            fail_msg("\"%s\": got %d, expected %d", filter, got_, want);                           \
    } while (0)

static void test_semantics(void **state)
{
    (void)state;
    const cs_tri T = CS_TRI_TRUE, F = CS_TRI_FALSE, M = CS_TRI_MAYBE;
    cs_flowkey k = ipv4_key(6, 40003, 9878);
    EXPECT("", &k, T);
    EXPECT("host 10.1.0.13", &k, T);
    EXPECT("src host 10.2.0.1", &k, F);
    EXPECT("dst host 10.2.0.1", &k, T);
    EXPECT("src and dst host 10.2.0.1", &k, F);
    EXPECT("host 10.9.9.9 or 10.2.0.1", &k, T);
    EXPECT("host 10.1.0.13 and not 10.2.0.1", &k, F);
    EXPECT("net 10", &k, T);
    EXPECT("net 10.2", &k, T);
    EXPECT("src net 10.2", &k, F);
    EXPECT("net 10.1.0.0/24", &k, T);
    EXPECT("net 10.3.0.0 mask 255.255.0.0", &k, F);
    EXPECT("host 10.1", &k, T); /* short form: 10.1.0.0/16 */
    EXPECT("host 13", &k, F);   /* a plain number is 0.0.0.13 */
    EXPECT("port 9878", &k, T);
    EXPECT("port 80 or 9878", &k, T);
    EXPECT("tcp port 80 or 9878", &k, T);
    EXPECT("udp port 9878", &k, F);
    EXPECT("src port 9878", &k, F);
    EXPECT("portrange 9000-9999", &k, T);
    EXPECT("portrange 9999-9000", &k, T);
    EXPECT("tcp and not udp", &k, T);
    EXPECT("ip6 or icmp", &k, F);
    EXPECT("proto \\tcp", &k, T);
    EXPECT("ip6 proto 6", &k, F);
    EXPECT("host somehost.example", &k, M);              /* names are not resolved */
    EXPECT("host 10.1.0.13 or tcp[13] & 2 != 0", &k, M); /* BPF may abort on tcp[13] */
    EXPECT("host 10.9.9.9 and tcp[13] & 2 != 0", &k, F);
    EXPECT("not (host 10.1.0.13 or greater 100)", &k, F);
    EXPECT("vlan", &k, F);
    EXPECT("vlan or tcp", &k, M); /* "tcp" is read 4 bytes further on */
    EXPECT("tcp or vlan", &k, T);
    EXPECT("mpls or tcp", &k, M);
    EXPECT("a and b", &k, M);

    cs_flowkey nofrag = k;
    nofrag.flags = CS_FK_IP | CS_FK_FRAG;
    nofrag.sport = nofrag.dport = 0;
    EXPECT("port 9878", &nofrag, F); /* non-first fragment: offset != 0 */
    EXPECT("tcp", &nofrag, T);
    EXPECT("host 10.1.0.13", &nofrag, T);

    cs_flowkey noports = k;
    noports.flags = CS_FK_IP;
    EXPECT("port 9878", &noports, M);
    EXPECT("port 9878 or tcp", &noports, M); /* the port load may abort */

    cs_flowkey odd = k;
    odd.flags |= CS_FK_ODD;
    EXPECT("tcp", &odd, M);
    EXPECT("not host 1.2.3.4", &odd, M);
    EXPECT("", &odd, T);

    cs_flowkey tagged = k;
    tagged.n_vlan = 2;
    tagged.vlan[0] = 100;
    tagged.vlan[1] = 200;
    EXPECT("tcp", &tagged, F);
    EXPECT("host 10.1.0.13", &tagged, F);
    EXPECT("vlan 100", &tagged, T);
    EXPECT("vlan 200", &tagged, F);
    EXPECT("vlan 100 and vlan 200 and tcp port 9878", &tagged, T);
    EXPECT("vlan 100 and vlan 201", &tagged, F);
    EXPECT("vlan and tcp", &tagged, F); /* inner ethertype is another tag */
    EXPECT("vlan and vlan and vlan", &tagged, F);

    cs_flowkey arp;
    memset(&arp, 0, sizeof(arp));
    arp.linktype = CS_LINK_ETHERNET;
    arp.ethertype = 0x0806;
    EXPECT("host 10.1.0.13", &arp, M); /* ARP sender/target addresses */
    EXPECT("ip host 10.1.0.13", &arp, F);
    EXPECT("host ::1", &arp, F);
    EXPECT("tcp or port 80 or ip or ip6", &arp, F);

    cs_flowkey raw6;
    memset(&raw6, 0, sizeof(raw6));
    raw6.linktype = CS_LINK_RAW;
    raw6.flags = CS_FK_IP | CS_FK_PORTS;
    raw6.ip_version = 6;
    raw6.ip_proto = 17;
    raw6.dport = 53;
    raw6.dst[15] = 1;
    EXPECT("ip6 and udp port 53 and dst host ::1", &raw6, T);
    EXPECT("ip6 net fe80::/10", &raw6, F);
    EXPECT("vlan", &raw6, M);

    cs_flowkey loop = k;
    loop.linktype = CS_LINK_NULL;
    EXPECT("tcp", &loop, M);
}

static void test_parse_errors(void **state)
{
    (void)state;
    const char *bad[] = {"host",
                         "port abc",
                         "((tcp",
                         "tcp and",
                         "and",
                         "()",
                         ")",
                         "tcp)",
                         "not",
                         "src",
                         "tcp port",
                         "port 70000",
                         "host 1.2.3.4 or",
                         "(host 1.2.3.4",
                         "greater (1",
                         "tcp || && udp"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cs_flowpred *p = (cs_flowpred *)&p;
        int rc = cs_flowpred_compile(bad[i], &p);
        if (rc != CS_EFILTER)
            fail_msg("\"%s\" gave %d, expected CS_EFILTER", bad[i], rc);
        assert_null(p);
        assert_non_null(strstr(cs_error_msg(rc), "bad filter"));
    }
    /* Valid for libpcap, beyond this parser: must compile. */
    const char *ok[] = {NULL,
                        "   ",
                        "tcp[tcpflags] & (tcp-syn|tcp-ack) != 0",
                        "ether src 00:11:22:33:44:55 or 66:77:88:99:aa:bb",
                        "port http or 443",
                        "(tcp[13] & 2) != 0 and not host 1.2.3.4",
                        "ip6 multicast",
                        "gateway foo"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cs_flowpred *p = NULL;
        int rc = cs_flowpred_compile(ok[i], &p);
        if (rc != 0)
            fail_msg("\"%s\" failed: %s", ok[i] ? ok[i] : "(null)", cs_error_msg(rc));
        cs_flowpred_free(p);
    }
    /* Deep nesting is refused, not a stack overflow. */
    char deep[4096];
    size_t n = 0;
    for (int i = 0; i < 1500; i++)
        deep[n++] = '(';
    memcpy(deep + n, "tcp", 4);
    cs_flowpred *p = NULL;
    assert_int_equal(cs_flowpred_compile(deep, &p), CS_EFILTER);
    /* Long flat lists are fine. */
    char *list = malloc(200000);
    assert_non_null(list);
    n = 0;
    for (int i = 0; i < 5000; i++)
        n += (size_t)sprintf(list + n, "%shost 10.0.%d.%d", i ? " or " : "", i / 256, i % 256);
    assert_int_equal(cs_flowpred_compile(list, &p), 0);
    cs_flowkey k = ipv4_key(6, 1, 2);
    k.src[1] = 0;
    k.src[2] = 19;
    k.src[3] = 135; /* 10.0.19.135 = entry 5000 - 1 */
    k.dst[0] = 9;
    assert_int_equal(cs_flowpred_eval(p, &k), CS_TRI_TRUE);
    k.src[3] = 136;
    assert_int_equal(cs_flowpred_eval(p, &k), CS_TRI_FALSE);
    cs_flowpred_free(p);
    free(list);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    const char *f = "(host 10.1.0.13 or port 80) and not (tcp[13] & 2 != 0 or vlan) or udp";
    int ok = 0;
    for (long n = 0; n < 100 && !ok; n++) {
        cs_flowpred *p = NULL;
        cs_alloc_fail_after(n);
        int rc = cs_flowpred_compile(f, &p);
        cs_alloc_fail_after(-1);
        if (rc == 0) {
            ok = 1;
            cs_flowpred_free(p);
        } else {
            assert_int_equal(rc, CS_ENOMEM);
            assert_null(p);
        }
    }
    assert_true(ok);
}

/* ---- flow keys --------------------------------------------------------------------- */

static void test_flowkey_mapping(void **state)
{
    (void)state;
    uint8_t bytes[1] = {0};
    cs_packet p = {
        .caplen = 1, .wirelen = 1, .linktype = CS_LINK_ETHERNET, .tap = 7, .data = bytes};
    cs_layers l;
    memset(&l, 0xa5, sizeof(l)); /* garbage in unused fields */
    l.flags = CS_L_IP | CS_L_L4;
    l.ethertype = 0x0800;
    l.n_vlan = 3;
    l.vlan[0] = 10;
    l.vlan[1] = 20;
    l.ip_version = 4;
    l.ip_proto = 17;
    l.sport = 53;
    l.dport = 1234;
    cs_flowkey k, k2;
    cs_flowkey_from_layers(&p, &l, &k);
    assert_int_equal(k.tap, 7);
    assert_int_equal(k.flags, CS_FK_IP | CS_FK_PORTS);
    assert_int_equal(k.n_vlan, 3);
    assert_int_equal(k.vlan[1], 20);
    assert_int_equal(k.sport, 53);
    assert_int_equal(k.reserved, 0);
    for (int i = 4; i < 16; i++)
        assert_int_equal(k.src[i] | k.dst[i], 0); /* IPv4: rest zero */
    assert_memory_equal(k.src, l.src, 4);
    cs_flowkey_from_layers(&p, &l, &k2);
    assert_memory_equal(&k, &k2, sizeof(k));
    assert_true(cs_flowkey_hash(&k) == cs_flowkey_hash(&k2));

    /* Non-first fragment: no ports. First fragment: ports. */
    l.flags = CS_L_IP | CS_L_FRAGMENT;
    cs_flowkey_from_layers(&p, &l, &k);
    assert_int_equal(k.flags, CS_FK_IP | CS_FK_FRAG);
    assert_int_equal(k.sport | k.dport, 0);
    l.flags = CS_L_IP | CS_L_FRAGMENT | CS_L_FRAG_FIRST | CS_L_L4;
    cs_flowkey_from_layers(&p, &l, &k);
    assert_int_equal(k.flags, CS_FK_IP | CS_FK_FRAG_FIRST | CS_FK_PORTS);

    /* ODD causes. */
    const uint32_t odd_flags[] = {CS_L_MALFORMED, CS_L_TRUNCATED, CS_L_MPLS, CS_L_ENCAP};
    for (size_t i = 0; i < 4; i++) {
        l.flags = CS_L_IP | CS_L_L4 | odd_flags[i];
        cs_flowkey_from_layers(&p, &l, &k);
        assert_true(k.flags & CS_FK_ODD);
    }
    l.flags = CS_L_IP | CS_L_L4;
    p.linktype = CS_LINK_NFLOG;
    cs_flowkey_from_layers(&p, &l, &k);
    assert_true(k.flags & CS_FK_ODD);
    p.linktype = CS_LINK_ETHERNET;
    l.ethertype = 0x86dd; /* version 4 under the IPv6 ethertype */
    cs_flowkey_from_layers(&p, &l, &k);
    assert_true(k.flags & CS_FK_ODD);

    /* IPv6: extension headers make the key ODD. */
    l.ip_version = 6;
    l.l3_off = 14;
    l.l4_off = 54;
    cs_flowkey_from_layers(&p, &l, &k);
    assert_false(k.flags & CS_FK_ODD);
    assert_memory_equal(k.src, l.src, 16);
    l.l4_off = 62;
    cs_flowkey_from_layers(&p, &l, &k);
    assert_true(k.flags & CS_FK_ODD);

    /* ICMP: type/code kept, but not flagged as ports. */
    l.ip_version = 4;
    l.ethertype = 0x0800;
    l.ip_proto = 1;
    l.sport = 8;
    l.dport = 0;
    cs_flowkey_from_layers(&p, &l, &k);
    assert_int_equal(k.flags, CS_FK_IP);
    assert_int_equal(k.sport, 8);

    /* Non-IP: addresses and ports zero. */
    l.flags = 0;
    l.ethertype = 0x0806;
    cs_flowkey_from_layers(&p, &l, &k);
    assert_int_equal(k.flags, 0);
    assert_int_equal(k.ip_version | k.ip_proto | k.sport | k.dport, 0);
}

static void test_flowkey_hash(void **state)
{
    (void)state;
    cs_flowkey k = ipv4_key(6, 1000, 80);
    uint64_t base = cs_flowkey_hash(&k);
    uint8_t *b = (uint8_t *)&k;
    /* Every single-bit change changes the hash, and flips ~half the bits. */
    unsigned total_flips = 0;
    for (size_t i = 0; i < sizeof(k) * 8; i++) {
        b[i / 8] ^= (uint8_t)(1u << (i % 8));
        uint64_t h = cs_flowkey_hash(&k);
        b[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_true(h != base);
        total_flips += (unsigned)__builtin_popcountll(h ^ base);
    }
    double avg = (double)total_flips / (sizeof(k) * 8);
    assert_true(avg > 24 && avg < 40);
    assert_true(cs_flowkey_hash(&k) == base);
}

/* ---- key summaries (cs_keysum, cs_flowpred_may_match) ------------------------------ */

/* A summary with its own zeroed bit arrays, sized for "n" keys as the index does. */
typedef struct test_sum {
    cs_keysum s;
    uint8_t addr[65536 / 8], port[65536 / 8];
} test_sum;

static void sum_init(test_sum *t, size_t n_keys)
{
    memset(t, 0, sizeof(*t));
    t->s.addr_bits = t->s.port_bits = cs_keysum_bits(2 * n_keys);
    t->s.addr = t->addr;
    t->s.port = t->port;
}

static void sum_of(test_sum *t, const cs_flowkey *keys, size_t n)
{
    sum_init(t, n);
    for (size_t i = 0; i < n; i++)
        cs_keysum_add(&t->s, &keys[i]);
}

static bool may_str(const char *filter, const cs_keysum *s)
{
    cs_flowpred *p = compile_ok(filter);
    bool may = cs_flowpred_may_match(p, s);
    cs_flowpred_free(p);
    return may;
}

#define EXPECT_MAY(filter, sum, want)                                                              \
    do {                                                                                           \
        if (may_str(filter, sum) != (want))                                                        \
            fail_msg("may_match(\"%s\") gave %s, expected %s", filter, (want) ? "false" : "true",  \
                     (want) ? "true" : "false");                                                   \
    } while (0)

/* Pools the random keys draw from, so that the filters below hit them. */
static const uint8_t v4_pool[][4] = {{10, 1, 0, 13},  {10, 2, 0, 1}, {192, 168, 1, 1},
                                     {172, 16, 0, 5}, {8, 8, 8, 8},  {10, 9, 9, 9}};
static const uint8_t v6_pool[][16] = {
    {0x20, 0x01, 0x0d, 0xb8, [15] = 1},
    {0x20, 0x01, 0x0d, 0xb8, [15] = 2},
    {0xfe, 0x80, [15] = 1},
    {[15] = 1},
    {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0x01, 0x00, 0x0d}, /* ends 10.1.0.13 */
};
static const uint16_t port_pool[] = {53, 80, 443, 1024, 9878, 40000, 0, 65535, 8080};
static const uint8_t proto_pool[] = {6, 17, 1, 132, 58, 6, 17};
static const uint16_t link_pool[] = {
    CS_LINK_ETHERNET,  CS_LINK_ETHERNET,   CS_LINK_ETHERNET, CS_LINK_ETHERNET,
    CS_LINK_ETHERNET,  CS_LINK_ETHERNET,   CS_LINK_RAW,      CS_LINK_RAW,
    CS_LINK_LINUX_SLL, CS_LINK_LINUX_SLL2, CS_LINK_IPV4,     CS_LINK_IPV6,
    CS_LINK_ETHERNET,  CS_LINK_ETHERNET,   CS_LINK_ETHERNET, CS_LINK_NULL};
static const uint16_t other_ethertypes[] = {0x0806, 0x8035, 0x88cc, 0x0000, 0x8847};

#define PICK(rng, arr) ((arr)[rng_next(rng) % (sizeof(arr) / sizeof((arr)[0]))])

static void random_ip_fields(uint64_t *rng, cs_flowkey *k)
{
    size_t n_v4 = sizeof(v4_pool) / sizeof(v4_pool[0]);
    size_t n_v6 = sizeof(v6_pool) / sizeof(v6_pool[0]);
    k->flags = CS_FK_IP;
    k->ethertype = k->ip_version == 4 ? 0x0800 : 0x86dd;
    if (rng_next(rng) % 16 == 0)
        k->ethertype = PICK(rng, other_ethertypes); /* a mismatch: unusual */
    if (k->ip_version == 4) {
        memcpy(k->src, v4_pool[rng_next(rng) % n_v4], 4);
        memcpy(k->dst, v4_pool[rng_next(rng) % n_v4], 4);
    } else {
        memcpy(k->src, v6_pool[rng_next(rng) % n_v6], 16);
        memcpy(k->dst, v6_pool[rng_next(rng) % n_v6], 16);
    }
    k->ip_proto = PICK(rng, proto_pool);
    bool transport = k->ip_proto == 6 || k->ip_proto == 17 || k->ip_proto == 132;
    unsigned shape = (unsigned)(rng_next(rng) % 8);
    if (shape == 0) {
        k->flags |= CS_FK_FRAG; /* a later fragment: no ports */
    } else if (shape == 1) {
        /* no transport header captured: ports unknown */
    } else if (transport) {
        k->flags |= CS_FK_PORTS | (shape == 2 ? CS_FK_FRAG_FIRST : 0);
        k->sport = PICK(rng, port_pool);
        k->dport = PICK(rng, port_pool);
    } else {
        k->sport = PICK(rng, port_pool); /* ICMP type/code: not ports */
        k->dport = (uint16_t)(rng_next(rng) % 4);
    }
}

static void random_key(uint64_t *rng, cs_flowkey *k)
{
    memset(k, 0, sizeof(*k));
    k->tap = (uint16_t)(rng_next(rng) % 2);
    k->linktype = PICK(rng, link_pool);
    unsigned v = (unsigned)(rng_next(rng) % 10);
    k->ip_version = v < 6 ? 4 : v < 9 ? 6 : 0;
    if (k->ip_version)
        random_ip_fields(rng, k);
    else
        k->ethertype = PICK(rng, other_ethertypes);
    if (k->linktype == CS_LINK_ETHERNET || rng_next(rng) % 8 == 0) {
        k->n_vlan = (uint8_t)(rng_next(rng) % 5 < 3 ? 0 : rng_next(rng) % 3);
        for (unsigned i = 0; i < k->n_vlan && i < 2; i++)
            k->vlan[i] = (uint16_t)(rng_next(rng) % 3 * 100); /* 0, 100, 200 */
    }
    if (rng_next(rng) % 40 == 0)
        k->flags |= CS_FK_ODD;
}

/* Filters that name the pools' hosts and ports, and ones that do not. */
static const char *const sum_filters[] = {
    "",
    "host 10.1.0.13",
    "host 10.2.0.1",
    "host 10.7.7.7",
    "src host 10.1.0.13",
    "dst host 192.168.1.1",
    "src and dst host 8.8.8.8",
    "ip host 172.16.0.5",
    "host 2001:db8::1",
    "ip6 host 2001:db8::2",
    "src host fe80::1",
    "dst host ::1",
    "host 2001:db8::99",
    "host 2001:db8::a01:d",
    "net 10.0.0.0/8",
    "net 10.1.0.13/32",
    "net 10.7.7.7/32",
    "net 192.168.1.0 mask 255.255.255.0",
    "ip6 net 2001:db8::/32",
    "ip6 net 2001:db8::2/128",
    "host 10.1",
    "port 80",
    "port 9878",
    "port 7",
    "port 0",
    "port 65535",
    "src port 443",
    "dst port 1024",
    "tcp port 80",
    "udp port 53",
    "sctp port 9878",
    "tcp dst port 7",
    "portrange 1-100",
    "portrange 9870-9880",
    "portrange 100-200",
    "portrange 1-60000",
    "port 80 or 7",
    "vlan and host 10.1.0.13",
    "vlan 100 and host 10.7.7.7",
    "vlan and port 7",
    "vlan 200 and vlan and port 80",
    "not host 10.1.0.13",
    "not host 10.7.7.7",
    "not port 80",
    "host 10.1.0.13 or host 10.2.0.1",
    "host 10.7.7.7 or host 192.168.1.1",
    "host 10.7.7.7 or host 10.8.8.8",
    "host 10.1.0.13 and port 9878",
    "host 10.7.7.7 and port 80",
    "host 10.1.0.13 and port 7",
    "(host 10.1.0.13 or port 80) and tcp",
    "(host 10.7.7.7 or port 7) and tcp",
    "(host 10.7.7.7 or port 7) and not tcp",
    "not (host 10.7.7.7 or port 7)",
    "icmp",
    "icmp6",
    "tcp",
    "udp",
    "ip",
    "ip6",
    "proto 132",
    "ip proto 17",
    "ip6 proto 58",
    "arp",
    "host 10.7.7.7 or tcp[13] & 2 != 0",
    "tcp[13] & 2 != 0 and host 10.7.7.7",
    "mpls and host 10.7.7.7",
    "host 10.7.7.7 or vlan",
    "vlan or host 10.7.7.7",
    "host somehost.example",
    "port http",
    "udp and (port 53 or host 2001:db8::99)",
};
#define N_SUM_FILTERS (sizeof(sum_filters) / sizeof(sum_filters[0]))

/* Soundness: when any key of a random set is TRUE or MAYBE for a filter,
 * the set's summary must say it may match (else a query loses packets). */
static void test_keysum_sound(void **state)
{
    (void)state;
    cs_flowpred *preds[N_SUM_FILTERS];
    size_t pruned[N_SUM_FILTERS] = {0}, cases = 0;
    uint64_t rng = 0x5eed5eed12345678ULL;
    test_sum *t = malloc(sizeof(*t));
    assert_non_null(t);
    for (size_t f = 0; f < N_SUM_FILTERS; f++)
        assert_int_equal(cs_flowpred_compile(sum_filters[f], &preds[f]), 0);
    for (int set = 0; set < 4000; set++) {
        cs_flowkey keys[12];
        size_t n = 1 + rng_next(&rng) % 12;
        for (size_t i = 0; i < n; i++)
            random_key(&rng, &keys[i]);
        sum_of(t, keys, n);
        for (size_t f = 0; f < N_SUM_FILTERS; f++) {
            bool may = cs_flowpred_may_match(preds[f], &t->s);
            cases++;
            pruned[f] += !may;
            for (size_t i = 0; i < n && !may; i++) {
                if (cs_flowpred_eval(preds[f], &keys[i]) != CS_TRI_FALSE) {
                    char kd[200];
                    describe_key(&keys[i], kd, sizeof(kd));
                    fail_msg("UNSOUND summary: set %d filter \"%s\" pruned, but key %zu of %zu "
                             "is %s (key: %s, summary flags 0x%x)",
                             set, sum_filters[f], i, n,
                             cs_flowpred_eval(preds[f], &keys[i]) == CS_TRI_TRUE ? "TRUE" : "MAYBE",
                             kd, t->s.flags);
                }
            }
        }
    }
    /* The pools make absent hosts and ports common: the summary must prune. */
    size_t total_pruned = 0;
    for (size_t f = 0; f < N_SUM_FILTERS; f++) {
        total_pruned += pruned[f];
        if (strcmp(sum_filters[f], "host 10.7.7.7") == 0 || strcmp(sum_filters[f], "port 7") == 0)
            assert_true(pruned[f] > 500);
        if (strcmp(sum_filters[f], "") == 0 || strcmp(sum_filters[f], "not host 10.7.7.7") == 0 ||
            strcmp(sum_filters[f], "net 10.0.0.0/8") == 0)
            assert_int_equal(pruned[f], 0);
    }
    print_message("key summaries: %zu cases, %zu pruned\n", cases, total_pruned);
    assert_true(cases >= 100000);
    for (size_t f = 0; f < N_SUM_FILTERS; f++)
        cs_flowpred_free(preds[f]);
    free(t);
}

/* Soundness on real keys: every capture's keys, summarized in runs of 32
 * as a small segment would be, against the fixed and 200 random filters. */
#define N_CAPTURE_FILTERS (N_FIXED + 200)

static void check_window(cs_flowpred *const *preds, const char *const *filters, const capture *c,
                         size_t start, size_t n, const cs_keysum *s, size_t *pruned)
{
    for (size_t f = 0; f < N_CAPTURE_FILTERS; f++) {
        if (cs_flowpred_may_match(preds[f], s))
            continue;
        (*pruned)++;
        for (size_t k = 0; k < n; k++) {
            if (cs_flowpred_eval(preds[f], &c->keys[start + k]) != CS_TRI_FALSE)
                fail_msg("UNSOUND summary: %s packets %zu..%zu, filter \"%s\" pruned but "
                         "packet %zu is not FALSE",
                         c->path, start + 1, start + n, filters[f], start + k + 1);
        }
    }
}

static void test_keysum_sound_captures(void **state)
{
    (void)state;
    static char random_filters[200][1024];
    const char *filters[N_CAPTURE_FILTERS];
    cs_flowpred *preds[N_CAPTURE_FILTERS];
    test_sum *t = malloc(sizeof(*t));
    uint64_t seed = 0x0badc0ffee0ddf00ULL;
    size_t windows = 0, pruned = 0;
    assert_non_null(t);
    for (size_t i = 0; i < N_CAPTURE_FILTERS; i++) {
        if (i < N_FIXED) {
            filters[i] = fixed_filters[i];
        } else {
            random_filters[i - N_FIXED][0] = '\0';
            random_expr(&seed, 3, random_filters[i - N_FIXED], sizeof(random_filters[0]));
            filters[i] = random_filters[i - N_FIXED];
        }
        if (cs_flowpred_compile(filters[i], &preds[i]) != 0)
            fail_msg("compile \"%s\" failed", filters[i]);
    }
    for (size_t c = 0; c < N_CAPTURES; c++) {
        for (size_t start = 0; start < captures[c].n; start += 32) {
            size_t n = captures[c].n - start < 32 ? captures[c].n - start : 32;
            sum_of(t, &captures[c].keys[start], n);
            check_window(preds, filters, &captures[c], start, n, &t->s, &pruned);
            windows++;
        }
    }
    print_message("capture key summaries: %zu windows x %zu filters, %zu pruned\n", windows,
                  (size_t)N_CAPTURE_FILTERS, pruned);
    assert_true(windows > 500);
    assert_true(pruned > 1000);
    for (size_t i = 0; i < N_CAPTURE_FILTERS; i++)
        cs_flowpred_free(preds[i]);
    free(t);
}

/* Usefulness: what a summary must prune, and what it must not. */
static void test_keysum_prunes(void **state)
{
    (void)state;
    test_sum *t = malloc(sizeof(*t));
    assert_non_null(t);
    cs_flowkey keys[4] = {ipv4_key(6, 40003, 9878), ipv4_key(17, 5353, 53), ipv4_key(6, 80, 1234),
                          ipv4_key(132, 2905, 2905)};
    keys[1].src[3] = 77; /* 10.1.0.77 */
    keys[2].dst[2] = 5;  /* 10.2.5.1 */
    keys[3].n_vlan = 1;  /* a tagged key: summarized, not unusual */
    keys[3].vlan[0] = 100;
    sum_of(t, keys, 4);
    assert_int_equal(t->s.flags, 0);
    assert_int_equal(t->s.addr_bits, 64);
    EXPECT_MAY("host 10.9.9.9", &t->s, false);
    EXPECT_MAY("host 10.9.9.9 and port 1", &t->s, false);
    EXPECT_MAY("src host 10.9.9.9", &t->s, false);
    EXPECT_MAY("ip host 10.9.9.9 and tcp", &t->s, false);
    EXPECT_MAY("host 10.9.9.9 or host 10.9.9.10", &t->s, false);
    EXPECT_MAY("(host 10.9.9.9 or port 1) and tcp", &t->s, false);
    EXPECT_MAY("host 2001:db8::1", &t->s, false);
    EXPECT_MAY("port 1", &t->s, false);
    EXPECT_MAY("tcp port 7 or udp port 9", &t->s, false);
    EXPECT_MAY("portrange 10-20", &t->s, false);
    /* Present hosts and ports, nets, negations, vlan-shifted primitives. */
    EXPECT_MAY("host 10.1.0.13", &t->s, true);
    EXPECT_MAY("host 10.1.0.77", &t->s, true);
    EXPECT_MAY("dst host 10.2.5.1", &t->s, true);
    EXPECT_MAY("src host 10.2.0.1", &t->s, true); /* present as a dst: a summary has no sides */
    EXPECT_MAY("host 10.9.9.9 or host 10.1.0.13", &t->s, true);
    EXPECT_MAY("port 9878", &t->s, true);
    EXPECT_MAY("port 53", &t->s, true);
    EXPECT_MAY("port 1234 and host 10.2.5.1", &t->s, true);
    EXPECT_MAY("portrange 50-60", &t->s, true);
    EXPECT_MAY("portrange 1-1000", &t->s, true); /* too wide to look up */
    EXPECT_MAY("net 10.0.0.0/8", &t->s, true);
    EXPECT_MAY("net 11.0.0.0/8", &t->s, true);
    EXPECT_MAY("host 10.9", &t->s, true);
    EXPECT_MAY("not host 10.1.0.13", &t->s, true);
    EXPECT_MAY("not host 10.9.9.9", &t->s, true);
    EXPECT_MAY("vlan and host 10.9.9.9", &t->s, true);
    EXPECT_MAY("tcp", &t->s, true);
    EXPECT_MAY("host 10.9.9.9 or tcp", &t->s, true);
    EXPECT_MAY("tcp[13] & 2 != 0 and host 10.9.9.9", &t->s, false); /* and: one FALSE child */
    EXPECT_MAY("tcp[13] & 2 != 0 or host 10.9.9.9", &t->s, true);

    /* A TCP key without ports: any port may be behind it. */
    cs_flowkey more[5];
    memcpy(more, keys, sizeof(keys));
    more[4] = ipv4_key(6, 0, 0);
    more[4].flags = CS_FK_IP;
    sum_of(t, more, 5);
    assert_int_equal(t->s.flags, CS_KS_PORTLESS);
    EXPECT_MAY("port 1", &t->s, true);
    EXPECT_MAY("host 10.9.9.9", &t->s, false);
    /* A later fragment has no ports but "port" is FALSE on it: not portless. */
    more[4].flags = CS_FK_IP | CS_FK_FRAG;
    sum_of(t, more, 5);
    assert_int_equal(t->s.flags, 0);
    EXPECT_MAY("port 1", &t->s, false);

    /* Unusual keys: ARP, no IP at all, ODD, a loopback link. */
    cs_flowkey arp;
    memset(&arp, 0, sizeof(arp));
    arp.linktype = CS_LINK_ETHERNET;
    arp.ethertype = 0x0806;
    const cs_flowkey unusual[] = {arp, arp, keys[0], keys[0]};
    for (size_t u = 0; u < 4; u++) {
        memcpy(more, keys, sizeof(keys));
        more[4] = unusual[u];
        if (u == 1)
            more[4].ethertype = 0;
        if (u == 2)
            more[4].flags |= CS_FK_ODD;
        if (u == 3)
            more[4].linktype = CS_LINK_NULL;
        sum_of(t, more, 5);
        assert_true(t->s.flags & CS_KS_UNUSUAL);
        EXPECT_MAY("host 10.9.9.9", &t->s, true);
        EXPECT_MAY("port 1", &t->s, true);
    }
    free(t);
}

/* Bloom filters stay selective: absent hosts and ports are mostly pruned. */
static void test_keysum_false_positives(void **state)
{
    (void)state;
    test_sum *t = malloc(sizeof(*t));
    cs_flowkey keys[200];
    char filter[64];
    size_t fp_host = 0, fp_port = 0;
    assert_non_null(t);
    for (size_t i = 0; i < 200; i++) {
        keys[i] = ipv4_key(6, (uint16_t)(20000 + i), (uint16_t)(30000 + i));
        keys[i].src[2] = (uint8_t)i; /* 10.1.i.13 -> 10.2.0.1 */
    }
    sum_of(t, keys, 200);
    assert_int_equal(t->s.addr_bits, 4096);
    for (int i = 0; i < 1000; i++) {
        snprintf(filter, sizeof(filter), "host 10.%d.%d.%d", 3 + i / 200, i % 200, 1 + i % 7);
        fp_host += may_str(filter, &t->s);
        snprintf(filter, sizeof(filter), "port %d", 1000 + i);
        fp_port += may_str(filter, &t->s);
    }
    print_message("false positives in 1000: hosts %zu, ports %zu\n", fp_host, fp_port);
    assert_true(fp_host < 100);
    assert_true(fp_port < 100);
    for (size_t i = 0; i < 200; i++) { /* no false negatives */
        snprintf(filter, sizeof(filter), "src host 10.1.%zu.13 and dst port %zu", i, 30000 + i);
        EXPECT_MAY(filter, &t->s, true);
    }
    free(t);
}

/* ---- link types capstream stores but cannot dissect ------------------------------ */

/* An 802.11 QoS data frame to the DS carrying LLC/SNAP, IPv4 and UDP
 * 192.168.7.11:50001 > 10.9.0.1:41234 (the layout tools/genwifi.py writes),
 * then a beacon; "radiotap" puts an 8-byte radiotap header (no fields) in
 * front. Returns the length written into "out". */
static size_t wifi_frame(uint8_t *out, bool beacon, bool radiotap)
{
    static const uint8_t data_hdr[] = {0x88, 0x01, 0x2c, 0x00, 0x02, 0x00, 0x00, 0x00, 0xa0,
                                       0x01, 0x02, 0x00, 0x00, 0x00, 0xb0, 0x01, 0x02, 0x00,
                                       0x00, 0x00, 0xc0, 0x01, 0x10, 0x00, 0x05, 0x00, 0xaa,
                                       0xaa, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00};
    static const uint8_t ip_udp[] = {
        0x45, 0x00, 0x00, 0x20, 0x00, 0x01, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 192, 168, 7,   11,
        10,   9,    0,    1,    0xc3, 0x51, 0xa1, 0x12, 0x00, 0x0c, 0x00, 0x00, 'a', 'b', 'c', 'd'};
    static const uint8_t beacon_frame[] = {
        0x80, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00,
        0xa0, 0x01, 0x02, 0x00, 0x00, 0x00, 0xa0, 0x01, 0x20, 0x00, 0,    0,    0,    0,
        0,    0,    0,    0,    0x64, 0x00, 0x01, 0x04, 0x00, 0x03, 'c',  's',  '1'};
    static const uint8_t rt[] = {0, 0, 8, 0, 0, 0, 0, 0};
    size_t n = 0;

    if (radiotap) {
        memcpy(out, rt, sizeof(rt));
        n += sizeof(rt);
    }
    if (beacon) {
        memcpy(out + n, beacon_frame, sizeof(beacon_frame));
        return n + sizeof(beacon_frame);
    }
    memcpy(out + n, data_hdr, sizeof(data_hdr));
    memcpy(out + n + sizeof(data_hdr), ip_udp, sizeof(ip_udp));
    return n + sizeof(data_hdr) + sizeof(ip_udp);
}

static const char *const wifi_filters[] = {
    "type mgt",
    "type data subtype qos-data",
    "subtype beacon",
    "wlan host 02:00:00:00:b0:01",
    "wlan addr2 02:00:00:00:b0:01",
    "ether host 02:00:00:00:a0:01",
    "host 10.9.0.1",
    "host 192.168.7.11 and udp",
    "port 41234",
    "udp port 41234",
    "not udp",
    "ip",
    "ip6 or arp",
    "net 10.0.0.0/8",
    "proto 17",
    "vlan",
    "not host 10.9.0.1",
};

/* Packets of a link type cs_dissect() cannot read (802.11, radiotap, user
 * 0) are stored with a key that cannot speak for them: every filter is
 * MAYBE on it (only "" is TRUE), whatever libpcap says of the packet, and
 * a summary holding it prunes nothing (its IP addresses are not in it). */
static void test_undissected_keys(void **state)
{
    (void)state;
    static const uint16_t links[] = {105, 127, 147};
    uint8_t frame[128];
    size_t checked = 0;
    for (size_t li = 0; li < sizeof(links) / sizeof(links[0]); li++) {
        for (int beacon = 0; beacon <= 1; beacon++) {
            size_t n = wifi_frame(frame, beacon, links[li] == 127);
            cs_packet p = {.caplen = (uint32_t)n,
                           .wirelen = (uint32_t)n,
                           .linktype = links[li],
                           .data = frame};
            cs_layers l;
            cs_flowkey k;
            assert_int_equal(cs_dissect(&p, &l), CS_ELINKTYPE);
            assert_false(cs_dissect_knows(links[li]));
            cs_flowkey_from_layers(&p, &l, &k);
            assert_true(k.flags & CS_FK_ODD);
            assert_int_equal(k.linktype, links[li]);
            cs_flowpred *all = compile_ok("");
            assert_int_equal(cs_flowpred_eval(all, &k), CS_TRI_TRUE);
            cs_flowpred_free(all);
            for (size_t f = 0; f < N_FIXED + sizeof(wifi_filters) / sizeof(wifi_filters[0]); f++) {
                const char *text = f < N_FIXED ? fixed_filters[f] : wifi_filters[f - N_FIXED];
                cs_flowpred *pred;
                if (text[0] == '\0')
                    continue; /* checked above */
                if (cs_flowpred_compile(text, &pred) < 0) {
                    cs_error_clear();
                    continue;
                }
                if (cs_flowpred_eval(pred, &k) != CS_TRI_MAYBE)
                    fail_msg("link type %u: \"%s\" decided from a key that cannot speak for "
                             "the packet",
                             links[li], text);
                cs_flowpred_free(pred);
                checked++;
            }
            test_sum *t = malloc(sizeof(*t));
            assert_non_null(t);
            sum_of(t, &k, 1);
            assert_true(t->s.flags & CS_KS_UNUSUAL);
            EXPECT_MAY("host 10.9.0.1", &t->s, true);
            EXPECT_MAY("port 41234", &t->s, true);
            EXPECT_MAY("host 10.77.0.1 and port 9", &t->s, true);
            free(t);
        }
    }
    assert_true(checked > 100);
}

/* The index stores the summary and reads it back; a damaged one is
 * ignored (has_sum 0), never trusted. */
static void test_keysum_index(void **state)
{
    (void)state;
    char dir[] = "/tmp/keysum_idx_XXXXXX", path[64];
    cs_idx_builder b;
    cs_idx x;
    cs_idx_meta meta = {7, CS_LINK_ETHERNET, 65535, 4096};
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/seg.idx", dir);
    cs_idxb_init(&b);
    for (uint32_t i = 0; i < 50; i++) {
        cs_flowkey k = ipv4_key(6, (uint16_t)(1000 + i), 80);
        k.src[3] = (uint8_t)i;
        assert_int_equal(cs_idxb_add(&b, &k, 24 + i * 80, 1000 + i), 0);
    }
    assert_int_equal(cs_idxb_write(&b, &meta, path, 0), 0);
    assert_int_equal(cs_idx_load(path, &x), 0);
    assert_true(x.has_sum);
    assert_int_equal(x.sum.addr_bits, cs_keysum_bits(100));
    assert_int_equal(x.sum_len, 24 + 2 * x.sum.addr_bits / 8);
    EXPECT_MAY("host 10.1.0.49", &x.sum, true);
    EXPECT_MAY("port 1049", &x.sum, true);
    EXPECT_MAY("host 10.1.0.50 or port 1050", &x.sum, false);
    cs_idx_unload(&x);
    assert_int_equal(cs_idx_from_builder(&b, &meta, &x), 0);
    assert_true(x.has_sum);
    EXPECT_MAY("host 10.1.0.49", &x.sum, true);
    EXPECT_MAY("host 10.1.0.50", &x.sum, false);
    cs_idx_unload(&x);
    cs_idxb_free(&b);

    /* Flip one byte of the summary's bits: the summary is dropped. */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, CS_IDX_HDR + 30, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, CS_IDX_HDR + 30, SEEK_SET), 0);
    fputc(c ^ 0x10, f);
    fclose(f);
    assert_int_equal(cs_idx_load(path, &x), 0); /* the header is intact */
    assert_false(x.has_sum);
    assert_int_equal(cs_idx_verify(&x), CS_ECORRUPT); /* the body checksum covers it */
    cs_idx_unload(&x);
    cs_error_clear();
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flowkey_mapping),
        cmocka_unit_test(test_flowkey_hash),
        cmocka_unit_test(test_semantics),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_vlan_decided),
        cmocka_unit_test(test_untagged_decided),
        cmocka_unit_test(test_soundness_fixed),
        cmocka_unit_test(test_soundness_random),
        cmocka_unit_test(test_keysum_sound),
        cmocka_unit_test(test_keysum_sound_captures),
        cmocka_unit_test(test_keysum_prunes),
        cmocka_unit_test(test_keysum_false_positives),
        cmocka_unit_test(test_keysum_index),
        cmocka_unit_test(test_undissected_keys),
    };
    return cmocka_run_group_tests(tests, setup_captures, teardown_captures);
}

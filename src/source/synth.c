/*
 * synth.c - the synthetic source (see synth.h): trading-floor traffic
 * written frame by frame from the protocol specs, in real time.
 *
 * Design: a virtual clock "vt" and a sequence of transactions. Each
 * transaction (one FIX order and its ack, one HTTP exchange, one DNS lookup,
 * one ITCH datagram on feeds A and B at two taps, an OUCH order...) writes
 * its 1-12 frames with timestamps from vt on; they are sorted by time
 * (the two taps see a packet at different times), then vt moves past its
 * last frame and on by the packet budget (1e9 / rate ns per frame, every
 * frame counted). Transactions never overlap, so timestamps are
 * nondecreasing by construction. The packet
 * budget is kept apart ("due"): after a slow transaction (a 5 ms ack) the
 * next ones follow 1 us apart until the budget is met again, so the mean
 * rate stays "rate" while there is time for it.
 *
 *   vt ─► [D ─35us─► 8 ─► ACK] ─► [GET ─1ms─► 200 ─► ACK] ─► [ITCH A,B] ─► ...
 *
 * Pacing (pace=1): a batch holds about 10 ms of traffic; before it is
 * returned the source sleeps until CLOCK_REALTIME reaches its last
 * timestamp, so packets are never "from the future" and come at a steady
 * rate. Falling behind by more than a second resynchronises vt to now.
 *
 * Frames (every field big-endian, IPv4 header checksum RFC 791, TCP
 * checksum with the RFC 793 pseudo-header, UDP checksum 0 = none, RFC 768):
 *
 *   +--------------+-------------+----------------+-------------------+
 *   | Ethernet 14  | IPv4 20     | TCP 20 / UDP 8 | payload           |
 *   | dst src 0800 | 45 00 len.. | ports seq ack..| FIX/HTTP/DNS/ITCH |
 *   +--------------+-------------+----------------+-------------------+
 *   (the trading traffic's Ethernet header is 18 bytes: dst src, 8100
 *   and the tag's VLAN id, then 0800)
 *
 * TCP: each connection starts with SYN, SYN-ACK, ACK; seq/ack are exact, so
 * reassembly sees no gaps. FIX 4.4: 8=FIX.4.4|9=BodyLength|35=...|10=CheckSum
 * (BodyLength counts from after "9=..|" up to "10=", CheckSum is the byte sum
 * mod 256 of everything before "10="). DNS: RFC 1035 header + question
 * (+ A answers with a compression pointer 0xC00C). ITCH, MoldUDP64,
 * SoupBinTCP and OUCH: synth_trading.c.
 *
 * Memory: frames live in one arena of CS_BATCH_MAX full-size frames, owned
 * by the source and reused at release_batch - no allocation per packet.
 * PRNG: splitmix64, seeded from the spec. Not thread-safe.
 */
#include "source/synth.h"

#include "source/synth_int.h"

#include "core/alloc.h"
#include "core/error.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SYN_N_DNS 4
#define SYN_DEFAULT_T0 (1767225600ll * 1000000000ll)

/* ---- randomness (splitmix64) ------------------------------------------ */

uint64_t cs__syn_rnd_u64(synth *s)
{
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double cs__syn_rnd_unit(synth *s) /* (0, 1) */
{
    return ((double)(cs__syn_rnd_u64(s) >> 11) + 0.5) / 9007199254740992.0;
}

unsigned cs__syn_rnd_below(synth *s, unsigned n)
{
    return (unsigned)(cs__syn_rnd_u64(s) % n);
}

/* Log-normal with the given median: median * e^(sigma * N(0,1)). */
int64_t cs__syn_rnd_lognormal(synth *s, double median_ns, double sigma)
{
    double n = sqrt(-2.0 * log(cs__syn_rnd_unit(s))) * cos(6.283185307179586 * cs__syn_rnd_unit(s));
    double v = median_ns * exp(sigma * n);

    return v < 1000.0 ? 1000 : (int64_t)v;
}

/* ---- byte writing ----------------------------------------------------- */

void cs__syn_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void cs__syn_put32(uint8_t *p, uint32_t v)
{
    cs__syn_put16(p, (uint16_t)(v >> 16));
    cs__syn_put16(p + 2, (uint16_t)v);
}

void cs__syn_put64(uint8_t *p, uint64_t v)
{
    cs__syn_put32(p, (uint32_t)(v >> 32));
    cs__syn_put32(p + 4, (uint32_t)v);
}

static uint32_t sum16(uint32_t acc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        acc += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        acc += (uint32_t)p[n - 1] << 8;
    return acc;
}

static uint16_t fold(uint32_t acc)
{
    while (acc >> 16)
        acc = (acc & 0xFFFF) + (acc >> 16);
    return (uint16_t)~acc;
}

static void mac_for(uint8_t *mac, const uint8_t ip[4])
{
    if (ip[0] >= 224 && ip[0] <= 239) { /* RFC 1112 multicast mapping */
        const uint8_t m[6] = {0x01, 0x00, 0x5e, (uint8_t)(ip[1] & 0x7f), ip[2], ip[3]};
        memcpy(mac, m, 6);
        return;
    }
    mac[0] = 0x02;
    mac[1] = 0x00;
    memcpy(mac + 2, ip, 4);
}

/* Appends one Ethernet/IPv4 frame carrying "l4" to the current batch. */
static void emit_ip(synth *s, int64_t ts, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                    const uint8_t *l4, size_t l4len)
{
    cs_batch *b = s->cur;
    uint8_t *f = s->arena + s->used;
    size_t l2 = s->vlan ? 18 : 14, len = l2 + 20 + l4len;

    if (b->n >= CS_BATCH_MAX || len > SYN_FRAME_MAX)
        return; /* cannot happen: callers leave room, payloads are small */
    mac_for(f, dst);
    mac_for(f + 6, src);
    if (s->vlan) { /* IEEE 802.1Q: TPID 0x8100, TCI = priority 0, VLAN id */
        cs__syn_put16(f + 12, 0x8100);
        cs__syn_put16(f + 14, s->vlan & 0x0FFF);
        f += 4;
    }
    cs__syn_put16(f + 12, 0x0800);
    f[14] = 0x45;
    f[15] = 0;
    cs__syn_put16(f + 16, (uint16_t)(20 + l4len));
    cs__syn_put16(f + 18, s->ip_id++);
    cs__syn_put16(f + 20, 0x4000); /* DF */
    f[22] = 64;
    f[23] = proto;
    cs__syn_put16(f + 24, 0);
    memcpy(f + 26, src, 4);
    memcpy(f + 30, dst, 4);
    cs__syn_put16(f + 24, fold(sum16(0, f + 14, 20)));
    memcpy(f + 34, l4, l4len);
    if (proto == 6) { /* TCP checksum over the pseudo-header */
        uint32_t acc = sum16(0, f + 26, 8) + 6 + (uint32_t)l4len;
        cs__syn_put16(f + 34 + 16, fold(sum16(acc, f + 34, l4len)));
    }
    b->pkts[b->n] = (cs_packet){.ts_ns = ts,
                                .caplen = (uint32_t)len,
                                .wirelen = (uint32_t)len,
                                .linktype = CS_LINK_ETHERNET,
                                .tap = 0,
                                .data = s->arena + s->used};
    b->n++;
    s->used += SYN_FRAME_MAX;
    s->packets++;
    s->bytes += len;
}

/* The frame just written again, as a second capture point sees it: the
 * same bytes with VLAN id "vlan" in its 802.1Q tag, at time "ts". */
void cs__syn_twin(synth *s, int64_t ts, uint16_t vlan)
{
    cs_batch *b = s->cur;
    const cs_packet *p;
    uint8_t *f = s->arena + s->used;

    if (b->n == 0 || b->n >= CS_BATCH_MAX)
        return; /* cannot happen: callers leave room */
    p = &b->pkts[b->n - 1];
    memcpy(f, p->data, p->caplen);
    if (p->caplen >= 18 && f[12] == 0x81 && f[13] == 0x00)
        cs__syn_put16(f + 14, vlan & 0x0FFF);
    b->pkts[b->n] = *p;
    b->pkts[b->n].ts_ns = ts;
    b->pkts[b->n].data = f;
    b->n++;
    s->used += SYN_FRAME_MAX;
    s->packets++;
    s->bytes += p->caplen;
}

void cs__syn_emit_udp(synth *s, int64_t ts, const uint8_t *src, uint16_t sport, const uint8_t *dst,
                      uint16_t dport, const uint8_t *payload, size_t n)
{
    uint8_t l4[SYN_FRAME_MAX];

    cs__syn_put16(l4, sport);
    cs__syn_put16(l4 + 2, dport);
    cs__syn_put16(l4 + 4, (uint16_t)(8 + n));
    cs__syn_put16(l4 + 6, 0);
    memcpy(l4 + 8, payload, n);
    emit_ip(s, ts, src, dst, 17, l4, 8 + n);
}

/* One TCP segment from side "d" of "c"; advances that side's sequence. */
void cs__syn_emit_tcp(synth *s, int64_t ts, tcp_conn *c, int d, uint8_t flags,
                      const uint8_t *payload, size_t n)
{
    uint8_t l4[SYN_FRAME_MAX];

    cs__syn_put16(l4, c->port[d]);
    cs__syn_put16(l4 + 2, c->port[1 - d]);
    cs__syn_put32(l4 + 4, c->seq[d]);
    cs__syn_put32(l4 + 8, (flags & TCP_ACK) ? c->seq[1 - d] : 0);
    l4[12] = 5 << 4;
    l4[13] = flags;
    cs__syn_put16(l4 + 14, 65535);
    cs__syn_put16(l4 + 16, 0);
    cs__syn_put16(l4 + 18, 0);
    if (n)
        memcpy(l4 + 20, payload, n);
    emit_ip(s, ts, c->ip[d], c->ip[1 - d], 6, l4, 20 + n);
    c->seq[d] += (uint32_t)n + ((flags & (TCP_SYN | TCP_FIN)) ? 1 : 0);
}

/* SYN, SYN-ACK, ACK; returns the time of the last. */
int64_t cs__syn_tcp_handshake(synth *s, tcp_conn *c, int64_t t)
{
    cs__syn_emit_tcp(s, t, c, 0, TCP_SYN, NULL, 0);
    cs__syn_emit_tcp(s, t + 30000, c, 1, TCP_SYN | TCP_ACK, NULL, 0);
    cs__syn_emit_tcp(s, t + 60000, c, 0, TCP_ACK, NULL, 0);
    c->up = 1;
    return t + 60000;
}

/* ---- FIX 4.4 ---------------------------------------------------------- */

/* Writes a whole FIX message of type "type" with "fields" ("tag=v\x01"...)
 * from side d of c into buf; returns its length. */
static size_t fix_build(tcp_conn *c, int d, int64_t ts, const char *type, const char *fields,
                        char *buf, size_t cap)
{
    static const char *const comp[2] = {"CLIENT", "BROKER"};
    char body[512];
    time_t secs = (time_t)(ts / 1000000000);
    struct tm tm;
    int bl, n;
    unsigned sum = 0;

    gmtime_r(&secs, &tm);
    bl = snprintf(body, sizeof(body),
                  "35=%s\x01"
                  "49=%s\x01"
                  "56=%s\x01"
                  "34=%" PRIu32 "\x01"
                  "52=%04d%02d%02d-%02d:%02d:%02d.%03d\x01%s",
                  type, comp[d], comp[1 - d], ++c->fix_seq[d], tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts / 1000000 % 1000), fields);
    n = snprintf(buf, cap,
                 "8=FIX.4.4\x01"
                 "9=%d\x01%s",
                 bl, body);
    for (int i = 0; i < n; i++)
        sum += (uint8_t)buf[i];
    n += snprintf(buf + n, cap - (size_t)n, "10=%03u\x01", sum % 256);
    return (size_t)n;
}

static int64_t fix_send(synth *s, tcp_conn *c, int d, int64_t ts, const char *type,
                        const char *fields)
{
    size_t n = fix_build(c, d, ts, type, fields, (char *)s->scratch, sizeof(s->scratch));

    cs__syn_emit_tcp(s, ts, c, d, TCP_PSH | TCP_ACK, s->scratch, n);
    return ts;
}

/* 99%: ~35 us log-normal; 1%: 1-5 ms. */
static int64_t fix_ack_latency(synth *s)
{
    if (cs__syn_rnd_below(s, 100) == 0)
        return 1000000 + (int64_t)cs__syn_rnd_below(s, 4000000);
    return cs__syn_rnd_lognormal(s, 35000.0, 0.35);
}

static int64_t tx_fix(synth *s, int64_t t)
{
    static const char *const syms[] = {"AAPL", "MSFT", "ESZ6", "EURUSD"};
    tcp_conn *c = &s->fix[cs__syn_rnd_below(s, SYN_N_FIX)];
    char f[256];
    uint64_t id;

    if (!c->up)
        return cs__syn_tcp_handshake(s, c, t);
    if (t >= c->next_hb) { /* both sides' Heartbeat(0) */
        c->next_hb = t + 1000000000;
        fix_send(s, c, 0, t, "0", "");
        return fix_send(s, c, 1, t + 15000, "0", "");
    }
    id = ++s->orders;
    if (id > 1 && cs__syn_rnd_below(s, 10) == 0) { /* cancel an earlier order */
        snprintf(f, sizeof(f),
                 "11=C%" PRIu64 "\x01"
                 "41=O%" PRIu64 "\x01"
                 "55=%s\x01"
                 "54=1\x01",
                 id, id - 1, syms[id % 4]);
        fix_send(s, c, 0, t, "F", f);
        t += cs__syn_rnd_lognormal(s, 40000.0, 0.35);
        snprintf(f, sizeof(f),
                 "37=X%" PRIu64 "\x01"
                 "11=C%" PRIu64 "\x01"
                 "41=O%" PRIu64 "\x01"
                 "17=E%" PRIu64 "\x01"
                 "150=4\x01"
                 "39=4\x01"
                 "55=%s\x01",
                 id, id, id - 1, id, syms[id % 4]);
    } else {
        snprintf(f, sizeof(f),
                 "11=O%" PRIu64 "\x01"
                 "55=%s\x01"
                 "54=%u\x01"
                 "38=%u\x01"
                 "40=2\x01"
                 "44=%u.%02u\x01",
                 id, syms[id % 4], 1 + cs__syn_rnd_below(s, 2),
                 100 * (1 + cs__syn_rnd_below(s, 10)), 100 + cs__syn_rnd_below(s, 50),
                 cs__syn_rnd_below(s, 100));
        fix_send(s, c, 0, t, "D", f);
        t += fix_ack_latency(s);
        snprintf(f, sizeof(f),
                 "37=X%" PRIu64 "\x01"
                 "11=O%" PRIu64 "\x01"
                 "17=E%" PRIu64 "\x01"
                 "150=0\x01"
                 "39=0\x01"
                 "55=%s\x01",
                 id, id, id, syms[id % 4]);
    }
    fix_send(s, c, 1, t, "8", f);
    cs__syn_emit_tcp(s, t + 20000, c, 0, TCP_ACK, NULL, 0);
    return t + 20000;
}

/* ---- HTTP/1.1 --------------------------------------------------------- */

static int64_t tx_http(synth *s, int64_t t)
{
    static const char *const paths[] = {"/api/v1/quote?symbol=AAPL", "/api/v1/orders/", "/health",
                                        "/static/app.js"};
    tcp_conn *c = &s->http[cs__syn_rnd_below(s, SYN_N_HTTP)];
    char *buf = (char *)s->scratch, body[256];
    uint64_t k = ++s->http_reqs;
    int found = cs__syn_rnd_below(s, 20) != 0, n, bn;

    if (!c->up)
        return cs__syn_tcp_handshake(s, c, t);
    n = snprintf(buf, sizeof(s->scratch),
                 "GET %s%" PRIu64 " HTTP/1.1\r\nHost: md.example\r\nUser-Agent: capstream-demo\r\n"
                 "Accept: */*\r\n\r\n",
                 paths[k % 4], k);
    cs__syn_emit_tcp(s, t, c, 0, TCP_PSH | TCP_ACK, s->scratch, (size_t)n);
    t += cs__syn_rnd_lognormal(s, 1000000.0, 0.5);
    bn = snprintf(body, sizeof(body), "{\"req\":%" PRIu64 ",\"px\":%u}", k,
                  cs__syn_rnd_below(s, 100000));
    n = snprintf(buf, sizeof(s->scratch),
                 "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                 found ? "200 OK" : "404 Not Found", bn, body);
    cs__syn_emit_tcp(s, t, c, 1, TCP_PSH | TCP_ACK, s->scratch, (size_t)n);
    cs__syn_emit_tcp(s, t + 30000, c, 0, TCP_ACK, NULL, 0);
    return t + 30000;
}

/* ---- DNS (RFC 1035) --------------------------------------------------- */

/* Header + one question for "h<k>.<zone>" type A class IN; returns length. */
static size_t dns_build(uint8_t *p, uint16_t id, uint16_t flags, uint16_t ancount, uint64_t k,
                        const char *zone)
{
    char label[32];
    size_t n = 12, ll;
    const char *z = zone;

    cs__syn_put16(p, id);
    cs__syn_put16(p + 2, flags);
    cs__syn_put16(p + 4, 1);
    cs__syn_put16(p + 6, ancount);
    cs__syn_put32(p + 8, 0);
    ll = (size_t)snprintf(label, sizeof(label), "h%" PRIu64, k);
    p[n++] = (uint8_t)ll;
    memcpy(p + n, label, ll);
    n += ll;
    while (*z) {
        const char *dot = strchr(z, '.');
        ll = dot ? (size_t)(dot - z) : strlen(z);
        p[n++] = (uint8_t)ll;
        memcpy(p + n, z, ll);
        n += ll;
        z += ll + (dot ? 1 : 0);
    }
    p[n++] = 0;
    cs__syn_put16(p + n, 1);
    cs__syn_put16(p + n + 2, 1);
    return n + 4;
}

static int64_t tx_dns(synth *s, int64_t t)
{
    static const char *const zones[] = {"example.com", "exchange.test", "feed.internal"};
    static const uint8_t srv[4] = {10, 5, 255, 53};
    uint8_t cli[4] = {10, 5, 0, 0};
    uint64_t k = ++s->dns_qs;
    uint16_t id = (uint16_t)cs__syn_rnd_u64(s),
             sport = (uint16_t)(20000 + cs__syn_rnd_below(s, 40000));
    int nx = cs__syn_rnd_below(s, 10) == 0;
    uint16_t nans = nx ? 0 : (uint16_t)(1 + cs__syn_rnd_below(s, 3));
    const char *zone = zones[k % 3];
    size_t n;

    cli[3] = (uint8_t)(10 + k % SYN_N_DNS);
    n = dns_build(s->scratch, id, 0x0100, 0, k, zone);
    cs__syn_emit_udp(s, t, cli, sport, srv, 53, s->scratch, n);
    t += cs__syn_rnd_lognormal(s, 250000.0, 0.7);
    n = dns_build(s->scratch, id, nx ? 0x8183 : 0x8180, nans, k, zone);
    for (uint16_t i = 0; i < nans; i++, n += 16) {
        cs__syn_put16(s->scratch + n, 0xC00C);
        cs__syn_put16(s->scratch + n + 2, 1);
        cs__syn_put16(s->scratch + n + 4, 1);
        cs__syn_put32(s->scratch + n + 6, 300);
        cs__syn_put16(s->scratch + n + 10, 4);
        cs__syn_put32(s->scratch + n + 12, 0xC0000201u + i); /* 192.0.2.1+ (RFC 5737) */
    }
    cs__syn_emit_udp(s, t, srv, 53, cli, sport, s->scratch, n);
    return t;
}

/* ---- the source ------------------------------------------------------- */

static int64_t realtime_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void conn_init(tcp_conn *c, const uint8_t cli[4], uint16_t cport, const uint8_t srv[4],
                      uint16_t sport, synth *s)
{
    memcpy(c->ip[0], cli, 4);
    memcpy(c->ip[1], srv, 4);
    c->port[0] = cport;
    c->port[1] = sport;
    c->seq[0] = (uint32_t)cs__syn_rnd_u64(s);
    c->seq[1] = (uint32_t)cs__syn_rnd_u64(s);
}

static void conns_init(synth *s)
{
    for (int i = 0; i < SYN_N_FIX; i++) {
        const uint8_t cli[4] = {10, 1, 0, (uint8_t)(10 + i)}, srv[4] = {10, 2, 0, 1};
        conn_init(&s->fix[i], cli, (uint16_t)(40000 + i), srv, 9878, s);
    }
    for (int i = 0; i < SYN_N_HTTP; i++) {
        const uint8_t cli[4] = {10, 3, 0, (uint8_t)(10 + i)}, srv[4] = {10, 4, 0, 1};
        conn_init(&s->http[i], cli, (uint16_t)(50000 + i), srv, i % 2 ? 80 : 8080, s);
    }
}

static int parse_spec(synth *s, const char *spec)
{
    const char *p = spec ? spec : "";

    while (*p) {
        char key[16];
        unsigned long long v;
        int used = 0;

        if (sscanf(p, "%15[a-z0]=%llu%n", key, &v, &used) != 2 || used == 0)
            return cs_error_set(CS_EINVAL, "synth: bad spec at '%s' (want key=N,...)", p);
        if (strcmp(key, "rate") == 0 && v > 0 && v <= 10000000)
            s->rate = v;
        else if (strcmp(key, "seed") == 0)
            s->rng = v;
        else if (strcmp(key, "pace") == 0 && v <= 1)
            s->pace = (int)v;
        else if (strcmp(key, "t0") == 0)
            s->vt = (int64_t)v;
        else if (strcmp(key, "limit") == 0)
            s->limit = v;
        else
            return cs_error_set(CS_EINVAL, "synth: bad '%s=%llu'", key, v);
        p += used;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int synth_open(cs_source **out, const char *spec)
{
    synth *s;
    int rc;

    *out = NULL;
    s = cs_calloc(1, sizeof(*s));
    if (s == NULL)
        return cs_error_set(CS_ENOMEM, "no memory for the synth source");
    s->base.ops = &cs_source_synth_ops;
    s->rate = 5000;
    s->rng = 1;
    s->pace = 1;
    s->vt = SYN_DEFAULT_T0;
    if ((rc = parse_spec(s, spec)) < 0)
        goto fail;
    s->arena = cs_malloc((size_t)CS_BATCH_MAX * SYN_FRAME_MAX);
    if (s->arena == NULL) {
        rc = cs_error_set(CS_ENOMEM, "no memory for the synth source");
        goto fail;
    }
    if (s->pace)
        s->vt = realtime_ns();
    s->pkt_ns = (int64_t)(1000000000ull / s->rate);
    if (s->pkt_ns < 1)
        s->pkt_ns = 1;
    s->due = s->vt;
    conns_init(s);
    cs__syn_trading_init(s);
    *out = &s->base;
    return 0;
fail:
    cs_free(s);
    return rc;
}

/* Sorts the frames [from, n) of the batch by time, keeping the order of
 * frames of the same time (insertion sort: a transaction writes a few, at
 * two taps, mostly in order already). */
static void sort_frames(cs_batch *b, unsigned from)
{
    for (unsigned i = from + 1; i < b->n; i++) {
        cs_packet p = b->pkts[i];
        unsigned j = i;

        for (; j > from && b->pkts[j - 1].ts_ns > p.ts_ns; j--)
            b->pkts[j] = b->pkts[j - 1];
        b->pkts[j] = p;
    }
}

/* One transaction at vt; moves vt past it by at least the packet budget.
 * A transaction's frames may be written out of time order (the two taps
 * see a packet at different times): they are sorted before the next. */
static void one_tx(synth *s)
{
    int64_t start = s->vt, end;
    unsigned before = s->cur->n, r = cs__syn_rnd_below(s, 100), k;

    if (r < 33)
        end = cs__syn_tx_market_data(s, start);
    else if (r < 40)
        end = cs__syn_tx_order_entry(s, start);
    else if (r < 75)
        end = tx_fix(s, start);
    else if (r < 87)
        end = tx_http(s, start);
    else
        end = tx_dns(s, start);
    k = s->cur->n - before;
    sort_frames(s->cur, before);
    if (k > 0 && s->cur->pkts[s->cur->n - 1].ts_ns > end)
        end = s->cur->pkts[s->cur->n - 1].ts_ns;
    s->due += (int64_t)k * s->pkt_ns;
    s->vt = end + 1000 > s->due ? end + 1000 : s->due;
}

static void sleep_until(int64_t t)
{
    int64_t now = realtime_ns();
    struct timespec d;

    if (t <= now)
        return;
    d.tv_sec = (t - now) / 1000000000;
    d.tv_nsec = (t - now) % 1000000000;
    nanosleep(&d, NULL);
}

static int synth_next_batch(cs_source *src, cs_batch *batch)
{
    synth *s = (synth *)src;
    unsigned want = CS_BATCH_MAX - SYN_TX_MAX_PKTS;
    int64_t last;

    batch->n = 0;
    s->used = 0;
    s->cur = batch;
    if (s->pace) {
        uint64_t per_10ms = s->rate / 100;
        want = per_10ms < 1 ? 1 : per_10ms < want ? (unsigned)per_10ms : want;
        if (realtime_ns() - s->vt > 1000000000)
            s->vt = s->due = realtime_ns(); /* fell far behind (suspended?): resync */
    }
    while (batch->n < want && (s->limit == 0 || s->packets < s->limit))
        one_tx(s);
    if (batch->n == 0)
        return 0;
    last = batch->pkts[batch->n - 1].ts_ns;
    if (s->pace)
        sleep_until(last);
    return 0;
}

static void synth_release_batch(cs_source *src, cs_batch *batch)
{
    synth *s = (synth *)src;

    batch->n = 0;
    s->used = 0;
}

static void synth_stats(const cs_source *src, cs_source_stats *st)
{
    const synth *s = (const synth *)src;

    memset(st, 0, sizeof(*st));
    st->packets = s->packets;
    st->bytes = s->bytes;
}

static void synth_close(cs_source *src)
{
    synth *s = (synth *)src;

    if (s == NULL)
        return;
    cs_free(s->arena);
    cs_free(s);
}

const cs_source_ops cs_source_synth_ops = {
    .name = "synth",
    .open = synth_open,
    .next_batch = synth_next_batch,
    .release_batch = synth_release_batch,
    .stats = synth_stats,
    .close = synth_close,
};

/*
 * fuzz_dissect.c - libFuzzer harness for cs_dissect() and cs_dissect_summary().
 *
 * Input layout:  | link selector 1 | packet bytes ... |
 * The selector picks one supported link type (modulo the table below); the
 * rest is copied into an exactly sized heap buffer so that ASan reports any
 * read past caplen. After dissection the harness checks the invariants the
 * header promises and abort()s on a breach:
 *   - payload_off + payload_len <= caplen;
 *   - l3_off <= l4_off <= payload_off whenever l4_off is set;
 *   - CS_L_L4 implies CS_L_IP and the whole fixed transport header captured;
 *   - CS_L_FRAG_FIRST implies CS_L_FRAGMENT; the IP header lies in the capture;
 *   - a non-first fragment has no transport header;
 *   - the summary is NUL-terminated inside its buffer for a few sizes, and
 *     never writes past it (a guard byte is checked);
 *   - each trailer time source (packet/timeref.h) on the dissected packet,
 *     as the pipeline runs it: the packet either takes a valid trailer time
 *     (nanoseconds of a whole second, the host's time kept in cap_ns) or
 *     keeps the host's, counted exactly once either way.
 */
#include "packet/dissect.h"
#include "packet/timeref.h"

#include "core/alloc.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t link_types[] = {
    CS_LINK_ETHERNET, CS_LINK_LINUX_SLL, CS_LINK_LINUX_SLL2, CS_LINK_RAW, CS_LINK_IPV4,
    CS_LINK_IPV6,     CS_LINK_NULL,      CS_LINK_LOOP,       CS_LINK_PPP, CS_LINK_NFLOG,
};

static void check(int ok)
{
    if (!ok)
        abort();
}

static void check_layers(const cs_layers *l, size_t caplen)
{
    size_t fixed;

    check((uint64_t)l->payload_off + l->payload_len <= caplen);
    if (l->l4_off) {
        check(l->l4_off >= l->l3_off);
        check(l->l4_off <= l->payload_off);
    }
    check(!(l->flags & CS_L_FRAG_FIRST) || (l->flags & CS_L_FRAGMENT));
    if (l->flags & CS_L_IP) {
        check(l->ip_version == 4 || l->ip_version == 6);
        check((size_t)l->l3_off + (l->ip_version == 4 ? 20 : 40) <= caplen);
    } else {
        check(!(l->flags & (CS_L_L4 | CS_L_FRAGMENT | CS_L_TRUNCATED | CS_L_MPLS | CS_L_ENCAP)));
    }
    if (l->flags & CS_L_L4) {
        check(l->flags & CS_L_IP);
        check(!(l->flags & CS_L_FRAGMENT) || (l->flags & CS_L_FRAG_FIRST));
        fixed = l->ip_proto == 6 ? 20 : l->ip_proto == 132 ? 12 : 8;
        check(l->l4_off != 0 && (size_t)l->l4_off + fixed <= caplen);
        check(l->payload_off >= (size_t)l->l4_off + fixed || (l->flags & CS_L_MALFORMED));
    }
    if ((l->flags & CS_L_FRAGMENT) && !(l->flags & CS_L_FRAG_FIRST))
        check(l->l4_off == 0 && !(l->flags & CS_L_L4));
    check(l->vlan[0] <= 0x0fff && l->vlan[1] <= 0x0fff);
}

static void check_summary(const cs_packet *p, const cs_layers *l)
{
    static const size_t sizes[] = {1, 7, 40, 200};
    char buf[201];

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        memset(buf, 0x5a, sizeof(buf));
        cs_dissect_summary(p, l, buf, sizes[i]);
        check(memchr(buf, '\0', sizes[i]) != NULL);
        if (sizes[i] < sizeof(buf))
            check((unsigned char)buf[sizes[i]] == 0x5a);
    }
}

/* Every trailer kind applied to a copy of "in" (stamped 1 s after a time
 * the fuzzer's trailers may give, so some land within the skew). */
static void check_timerefs(const cs_packet *in, const cs_layers *l)
{
    for (int k = CS_TRAILER_METAMAKO; k <= CS_TRAILER_VSS; k++) {
        cs_timeref_cfg cfg = {
            .source = CS_TIME_TRAILER, .trailer = (uint8_t)k, .tap_by_trailer = 1};
        cs_timeref_stats st = {0};
        cs_packet p = *in;
        uint16_t tap = 0xffff;

        p.ts_ns = 1767623401000000000LL;
        cs_timeref_apply(&cfg, &p, l, &tap, &st);
        check(st.timed + st.missing + st.cut + st.bad_time + st.far == 1);
        if (p.tref & CS_TREF_TRAILER) {
            check(st.timed == 1 && p.cap_ns == 1767623401000000000LL && p.ts_ns > 0);
        } else {
            check(p.tref == CS_TREF_UNTIMED && p.ts_ns == 1767623401000000000LL && p.cap_ns == 0);
            check(tap == 0xffff);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_packet p = {0};
    cs_layers l;
    uint8_t *copy;

    if (size < 1)
        return 0;
    p.linktype = link_types[data[0] % (sizeof(link_types) / sizeof(link_types[0]))];
    p.caplen = p.wirelen = (uint32_t)(size - 1);
    copy = cs_malloc(size - 1 ? size - 1 : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data + 1, size - 1);
    p.data = copy;
    check(cs_dissect(&p, &l) == 0);
    check_layers(&l, p.caplen);
    check_summary(&p, &l);
    check_timerefs(&p, &l);
    cs_free(copy);
    return 0;
}

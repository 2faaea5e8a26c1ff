/*
 * index_dump.c - prints a segment index in readable form: the header
 * fields of index.h's layout, the time blocks and the flow keys with their
 * packet counts, the key summary (its filter sizes, how many bits are set,
 * and its flags). This is the tool that makes the on-disk format
 * inspectable (`capstream inspect`).
 */
#include "store/store_int.h"

#include "core/error.h"
#include "core/timefmt.h"
#include "packet/dissect.h"

#include <inttypes.h>
#include <stdio.h>

static void dump_key(FILE *out, const cs_flowkey *k, uint32_t count)
{
    char a[64], b[64];

    fprintf(out, "  tap %-3u vlan", k->tap);
    if (k->n_vlan == 0)
        fprintf(out, " -        ");
    else
        fprintf(out, " %4u/%-4u", k->vlan[0], k->n_vlan > 1 ? k->vlan[1] : 0);
    if (k->ip_version == 0) {
        fprintf(out, " ethertype 0x%04x", k->ethertype);
    } else {
        cs_addr_format(k->ip_version, k->src, a);
        cs_addr_format(k->ip_version, k->dst, b);
        fprintf(out, " ip%u proto %-3u %s.%u > %s.%u", k->ip_version, k->ip_proto, a, k->sport, b,
                k->dport);
    }
    fprintf(out, "%s%s%s  packets %" PRIu32 "\n", k->flags & CS_FK_FRAG ? " [frag]" : "",
            k->flags & CS_FK_ODD ? " [odd]" : "", k->flags & CS_FK_PORTS ? "" : " [no ports]",
            count);
}

static uint32_t bits_set(const uint8_t *bits, uint32_t n_bits)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < n_bits / 8; i++)
        n += (uint32_t)__builtin_popcount(bits[i]);
    return n;
}

static void dump_summary(FILE *out, const cs_idx *x)
{
    const cs_keysum *k = &x->sum;

    if (x->sum_len == 0) {
        fprintf(out, "  key summary: none (index version 2)\n");
        return;
    }
    if (!x->has_sum) {
        fprintf(out, "  key summary: damaged, not used\n");
        return;
    }
    fprintf(out,
            "  key summary: addresses %" PRIu32 " of %" PRIu32 " bits set, ports %" PRIu32
            " of %" PRIu32 "%s%s\n",
            bits_set(k->addr, k->addr_bits), k->addr_bits, bits_set(k->port, k->port_bits),
            k->port_bits, k->flags & CS_KS_UNUSUAL ? ", has keys it cannot rule out" : "",
            k->flags & CS_KS_PORTLESS ? ", has keys without ports" : "");
}

static void dump_one(FILE *out, const cs_segment *g, int flows)
{
    const cs_idx *x = &g->idx;
    char t0[CS_TIME_BUFLEN], t1[CS_TIME_BUFLEN];

    char live[96] = "";

    if (g->live && g->ckpt_bytes)
        snprintf(live, sizeof(live),
                 " (being written: indexed in memory from a checkpoint of %" PRIu64 " bytes)",
                 g->ckpt_bytes);
    else if (g->live)
        snprintf(live, sizeof(live), " (being written: indexed in memory)");
    fprintf(out,
            "segment %" PRIu32 "%s\n  link type %" PRIu32 ", snap length %" PRIu32
            "\n  packets %" PRIu64 ", pcap bytes %" PRIu64 ", index bytes %zu\n"
            "  time %s .. %s%s\n  flow keys %" PRIu32 ", time blocks %" PRIu32 " of %d packets\n",
            x->segment_id, live, x->linktype, x->snaplen, x->n_pkts, x->pcap_bytes, x->size,
            cs_time_format(x->min_ts, t0), cs_time_format(x->max_ts, t1),
            x->flags & CS_IDX_F_ORDERED ? "" : " (not in time order)", x->n_keys, x->n_blocks,
            CS_IDX_BLOCK);
    dump_summary(out, x);
    if (!flows)
        return;
    for (uint32_t i = 0; i < x->n_keys; i++) {
        cs_flowkey k;
        uint32_t count;
        uint64_t first;
        cs_idx_flow(x, i, &k, &count, &first);
        dump_key(out, &k, count);
    }
}

int cs_store_dump_index(cs_store *s, uint32_t seg_id, int flows, FILE *out)
{
    int found = 0, rc;

    for (size_t i = 0; i < s->n_segs; i++) {
        if (seg_id != 0 && s->segs[i].id != seg_id)
            continue;
        if (flows && (rc = cs__seg_verify(s, &s->segs[i])) < 0)
            return rc;
        dump_one(out, &s->segs[i], flows);
        found = 1;
    }
    if (seg_id != 0 && !found)
        return cs_error_set(CS_ENOTFOUND, "no segment %" PRIu32 " in the store", seg_id);
    return 0;
}

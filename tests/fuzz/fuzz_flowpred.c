/*
 * fuzz_flowpred.c - libFuzzer harness for store/flowpred.c.
 *
 * The input is a filter string (NUL-terminated copy). It is compiled with
 * cs_flowpred_compile; a successful compile is evaluated on a handful of
 * keys (IPv4 TCP, IPv6 UDP, tagged, fragment, ARP, ODD). Checks: no crash,
 * verdicts in range, failures leave "*out" NULL with CS_EFILTER or
 * CS_ENOMEM, and an ODD key can only be TRUE when the empty filter is.
 */
#include "core/error.h"
#include "store/flowpred.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void make_keys(cs_flowkey *k)
{
    memset(k, 0, 6 * sizeof(*k));
    for (int i = 0; i < 6; i++) {
        k[i].linktype = 1;
        k[i].ethertype = 0x0800;
        k[i].flags = 1 | 2;
        k[i].ip_version = 4;
        k[i].ip_proto = 6;
        k[i].sport = 40003;
        k[i].dport = 80;
        k[i].src[0] = 10;
        k[i].src[3] = 13;
        k[i].dst[0] = 10;
        k[i].dst[3] = 1;
    }
    k[1].ethertype = 0x86dd;
    k[1].ip_version = 6;
    k[1].ip_proto = 17;
    k[1].dst[15] = 1;
    k[2].n_vlan = 2;
    k[2].vlan[0] = 100;
    k[2].vlan[1] = 7;
    k[3].flags = 1 | 4;
    k[3].sport = k[3].dport = 0;
    k[4].ethertype = 0x0806;
    k[4].flags = 0;
    k[4].ip_version = 0;
    k[5].flags |= 16;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    cs_flowpred *p = (cs_flowpred *)&p;
    int rc = cs_flowpred_compile(s, &p);
    if (rc != 0) {
        if (p != NULL || (rc != CS_EFILTER && rc != CS_ENOMEM))
            abort();
    } else {
        cs_flowkey k[6];
        make_keys(k);
        for (int i = 0; i < 6; i++) {
            cs_tri v = cs_flowpred_eval(p, &k[i]);
            if (v != CS_TRI_TRUE && v != CS_TRI_FALSE && v != CS_TRI_MAYBE)
                abort();
            if (i == 5 && v == CS_TRI_TRUE && strspn(s, " \t\r\n") != strlen(s))
                abort(); /* ODD key: only the empty filter is TRUE */
        }
        cs_flowpred_free(p);
    }
    free(s);
    return 0;
}

/*
 * fuzz_pairing.c - libFuzzer harness of request/response matching
 * (src/analytics/pairing.c): every scope, lifecycle, continuation, retry,
 * replace, sighting and hop path, over few flows, taps and keys so that
 * they meet.
 *
 * Input: 4 bytes per message, then one byte that picks the bound on pending
 * requests.
 *   b0  bits 0-1 role (request, response, sighting, hop), bits 2-5 the
 *       pairing hints RETRY, MORE, CONTINUATION, LIFECYCLE, bit 6: expire
 *       before it, bit 7: reversed ends (the flow first seen from b)
 *   b1  bits 0-1 tap, bit 2 direction, bits 3-4 connection, bits 5-7 time step
 *   b2  bits 0-2 match (0: empty), bits 3-5 closes (0: none)
 *   b3  scope: flow, session, any or tap
 * Checked, abort() on a breach: every measurement's latency is its
 * response time minus its request time and its id its request's; an
 * unmatched report names a request (or sighting, or hop) or a response as
 * its kind says; pending never exceeds the bound; after a flush nothing
 * is pending and the counters never went down.
 */
#include "analytics/pairing.h"
#include "decode/decoder.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const MATCHES[8] = {"", "O1", "O2", "O3", "X1", "1 a.example", "GET /", "O1 "};

static void on_meas(void *ud, const cs_measurement *ms)
{
    (void)ud;
    if (ms->latency_ns != ms->resp_ts_ns - ms->req_ts_ns || ms->id != ms->req_id)
        abort();
}

static void on_unmatched(void *ud, const cs_message *m, int kind)
{
    (void)ud;
    if (kind == CS_UNMATCHED_RESPONSE ? m->role != CS_ROLE_RESP : m->role == CS_ROLE_RESP)
        abort();
}

/* Endpoints of connection "conn" at "tap": 10.0.0.1:4000+conn <-> 10.0.0.2:9878,
 * end a first unless "reversed". */
static void set_ends(cs_message *m, unsigned conn, unsigned tap, int reversed)
{
    uint8_t *cli = reversed ? m->ep.addr_b : m->ep.addr_a;
    uint8_t *srv = reversed ? m->ep.addr_a : m->ep.addr_b;

    m->ep.ip_version = 4;
    m->ep.ip_proto = 6;
    m->ep.tap = (uint16_t)tap;
    cli[0] = srv[0] = 10;
    cli[3] = 1;
    srv[3] = 2;
    m->ep.port_a = (uint16_t)(reversed ? 9878 : 4000 + conn);
    m->ep.port_b = (uint16_t)(reversed ? 4000 + conn : 9878);
    m->flow_id = 0x1000u + conn * 16u + tap * 2u + (unsigned)reversed;
}

static void offer(cs_pairing *p, const uint8_t *op, cs_msgid id, int64_t ts)
{
    static const uint8_t scopes[4] = {CS_SCOPE_FLOW, CS_SCOPE_SESSION, CS_SCOPE_ANY, CS_SCOPE_TAP};
    static const cs_pktref refs[1] = {7};
    static const cs_role roles[4] = {CS_ROLE_REQ, CS_ROLE_RESP, CS_ROLE_SIGHTING, CS_ROLE_REQ};
    const char *match = MATCHES[op[2] & 7], *closes = MATCHES[(op[2] >> 3) & 7];
    cs_message m;

    memset(&m, 0, sizeof(m));
    m.id = id;
    m.proto = "t";
    m.role = roles[op[0] & 3];
    m.flags = (uint32_t)((op[0] >> 2) & 15) << 4; /* CS_MSG_RETRY .. CS_MSG_LIFECYCLE */
    m.dir = (op[1] >> 2) & 1;
    m.ts_ns = m.last_ts_ns = ts;
    m.key = (cs_str){match, strlen(match)};
    m.refs = refs;
    m.n_refs = 1;
    set_ends(&m, (op[1] >> 3) & 3, op[1] & 3, op[0] >> 7);
    if ((op[0] & 3) == 3) {
        cs_pairing_hop(p, &m, "hop");
        return;
    }
    cs_pairing_correlate(p, &m, "t", (cs_str){match, strlen(match)},
                         (cs_str){closes, strlen(closes)}, scopes[op[3] & 3]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_sink sink = {NULL, NULL, on_meas, on_unmatched, NULL, NULL};
    uint32_t max = size % 4 ? 1u + data[size - 1] % 16u : 8u;
    cs_pairing_stats before, after;
    cs_pairing *p;
    int64_t ts = 1000;

    if (cs_pairing_new(max, 50, &sink, &p) != 0)
        return 0;
    for (size_t i = 0; i + 4 <= size; i += 4) {
        ts += (data[i + 1] >> 5) * 7;
        if (data[i] & 0x40)
            cs_pairing_expire(p, ts);
        cs_pairing_stats_get(p, &before);
        offer(p, data + i, (cs_msgid)(i / 4 + 1), ts);
        cs_pairing_stats_get(p, &after);
        if (after.pending > max || after.measurements < before.measurements ||
            after.unmatched_requests < before.unmatched_requests ||
            after.unmatched_responses < before.unmatched_responses)
            abort();
    }
    cs_pairing_flush(p);
    cs_pairing_stats_get(p, &after);
    if (after.pending != 0)
        abort();
    cs_pairing_free(p);
    return 0;
}

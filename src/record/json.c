/*
 * json.c - JSON of messages, measurements and gaps (one object, no
 * newline), as the CLI, the HTTP API and the live stream print them, and
 * the JSON string escaping they share.
 *
 * Invariants: the output is always valid JSON in UTF-8 whatever the
 * bytes: control bytes, DEL and bytes that are not valid UTF-8 become
 * \u00XX; times are integer nanoseconds; ids are their text form
 * (cs_id_format). The field list of each object is in json.h.
 *
 * Threading: no state; writes only to the FILE it is given.
 */
#include "record/json.h"

#include "packet/dissect.h"

#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at "p" (at most "n" bytes), or 0. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    size_t len;
    uint32_t cp;

    if (p[0] < 0xc2 || p[0] > 0xf4)
        return 0;
    len = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
    if (n < len)
        return 0;
    cp = p[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

void cs_msgstore_json_string(FILE *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = (const uint8_t *)s;
    size_t run = 0, i = 0;

    putc('"', out);
    while (i < n) {
        uint8_t c = p[i];
        size_t u = 1;
        char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};

        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80 && (u = utf8_len(p + i, n - i)) > 0) {
            i += u;
            continue;
        }
        fwrite(p + run, 1, i - run, out);
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            esc[2] = 0;
        }
        fputs(esc, out);
        run = ++i;
    }
    fwrite(p + run, 1, n - run, out);
    putc('"', out);
}

char *cs_endpoint_format(const cs_endpoints *ep, int side, char *buf)
{
    char a[46];
    const uint8_t *addr = side ? ep->addr_b : ep->addr_a;
    unsigned port = side ? ep->port_b : ep->port_a;

    cs_addr_format(ep->ip_version, addr, a);
    snprintf(buf, CS_EP_BUFLEN, ep->ip_version == 6 ? "[%s]:%u" : "%s:%u", a, port);
    return buf;
}

static void json_cstr(FILE *out, const char *s)
{
    cs_msgstore_json_string(out, s ? s : "", s ? strlen(s) : 0);
}

static void json_flags(FILE *out, uint32_t flags)
{
    static const char *const names[] = {"bad_checksum", "bad_length", "truncated", "malformed"};
    int first = 1;

    putc('[', out);
    for (unsigned b = 0; b < 32; b++) {
        if (!(flags & (1u << b)))
            continue;
        if (!first)
            putc(',', out);
        first = 0;
        if (b < 4)
            fprintf(out, "\"%s\"", names[b]);
        else
            fprintf(out, "\"flag%u\"", b);
    }
    putc(']', out);
}

void cs_message_json(FILE *out, const cs_message *m)
{
    static const char *const roles[] = {"none", "request", "response", "sighting"};
    char id[40], src[CS_EP_BUFLEN], dst[CS_EP_BUFLEN];

    cs_endpoint_format(&m->ep, m->dir, src);
    cs_endpoint_format(&m->ep, !m->dir, dst);
    fprintf(out, "{\"id\":\"%s\",\"proto\":", cs_id_format('m', m->id, id));
    json_cstr(out, m->proto);
    fputs(",\"type\":", out);
    cs_msgstore_json_string(out, m->type.p, m->type.len);
    fprintf(out,
            ",\"ts_ns\":%lld,\"last_ts_ns\":%lld,\"flow\":\"%016llx\",\"tap\":%u,\"dir\":%u,"
            "\"src\":\"%s\",\"dst\":\"%s\",\"role\":\"%s\",\"key\":",
            (long long)m->ts_ns, (long long)m->last_ts_ns, (unsigned long long)m->flow_id,
            (unsigned)m->ep.tap, (unsigned)m->dir, src, dst,
            m->role <= CS_ROLE_SIGHTING ? roles[m->role] : "none");
    cs_msgstore_json_string(out, m->key.p, m->key.len);
    fprintf(out, ",\"len\":%u,\"flags\":", (unsigned)m->len);
    json_flags(out, m->flags);
    if (m->error.len > 0) {
        fputs(",\"error\":", out);
        cs_msgstore_json_string(out, m->error.p, m->error.len);
    }
    fputs(",\"packets\":[", out);
    for (size_t i = 0; i < m->n_refs; i++)
        fprintf(out, "%s\"%u:%u\"", i ? "," : "", (unsigned)CS_PKTREF_SEG(m->refs[i]),
                (unsigned)CS_PKTREF_OFF(m->refs[i]));
    fputs("],\"fields\":[", out);
    for (size_t i = 0; i < m->n_fields; i++) {
        fputs(i ? ",[" : "[", out);
        cs_msgstore_json_string(out, m->fields[i].name.p, m->fields[i].name.len);
        putc(',', out);
        cs_msgstore_json_string(out, m->fields[i].val.p, m->fields[i].val.len);
        putc(']', out);
    }
    fputs("]}", out);
}

void cs_measurement_json(FILE *out, const cs_measurement *ms)
{
    char id[40], req[40], resp[40], src[CS_EP_BUFLEN], dst[CS_EP_BUFLEN];

    fprintf(out, "{\"id\":\"%s\",\"pair\":", cs_id_format('l', ms->id, id));
    json_cstr(out, ms->pair);
    fputs(",\"key\":", out);
    cs_msgstore_json_string(out, ms->key.p, ms->key.len);
    fprintf(out,
            ",\"req_msg\":\"%s\",\"resp_msg\":\"%s\",\"req_ts_ns\":%lld,\"resp_ts_ns\":%lld,"
            "\"latency_ns\":%lld,\"flow\":\"%016llx\",\"tap\":%u,\"src\":\"%s\",\"dst\":\"%s\","
            "\"resp_last_ts_ns\":%lld,\"attached\":%u",
            cs_id_format('m', ms->req_id, req), cs_id_format('m', ms->resp_id, resp),
            (long long)ms->req_ts_ns, (long long)ms->resp_ts_ns, (long long)ms->latency_ns,
            (unsigned long long)ms->flow_id, (unsigned)ms->ep.tap,
            cs_endpoint_format(&ms->ep, 0, src), cs_endpoint_format(&ms->ep, 1, dst),
            (long long)ms->resp_last_ts_ns, (unsigned)ms->attached);
    if (ms->attached > 0)
        fprintf(out, ",\"attached_last_msg\":\"%s\",\"attached_last_ts_ns\":%lld",
                cs_id_format('m', ms->attached_last_id, req), (long long)ms->attached_last_ts_ns);
    if (ms->resp_type.len > 0) {
        fputs(",\"resp_type\":", out);
        cs_msgstore_json_string(out, ms->resp_type.p, ms->resp_type.len);
    }
    if (ms->resp_tap != ms->ep.tap) /* across capture points (a hop): "tap" is the request's */
        fprintf(out, ",\"req_tap\":%u,\"resp_tap\":%u", (unsigned)ms->ep.tap,
                (unsigned)ms->resp_tap);
    if (ms->pair != NULL &&
        strcmp(ms->pair, "ab") == 0) /* a race: the earlier copy's feed won by the latency */
        fprintf(out, ",\"winner\":\"%s\",\"lead_ns\":%lld", dst, (long long)ms->latency_ns);
    putc('}', out);
}

char *cs_gap_feed(const cs_gap *g, char *buf)
{
    char a[CS_EP_BUFLEN], b[CS_EP_BUFLEN];

    if (g->ep.ip_proto == 6) /* TCP: the connection, initiator first */
        snprintf(buf, CS_FEED_BUFLEN, "%s-%s", cs_endpoint_format(&g->ep, 0, a),
                 cs_endpoint_format(&g->ep, 1, b));
    else /* UDP: where the datagrams of the direction went */
        snprintf(buf, CS_FEED_BUFLEN, "%s", cs_endpoint_format(&g->ep, !g->dir, a));
    return buf;
}

void cs_gap_json(FILE *out, const cs_gap *g)
{
    char feed[CS_FEED_BUFLEN];

    fprintf(out, "{\"kind\":\"%s\",\"tap\":%u,\"feed\":\"%s\",\"proto\":",
            g->arbitrated ? "abgap" : "gap", (unsigned)g->ep.tap, cs_gap_feed(g, feed));
    json_cstr(out, g->proto);
    fputs(",\"session\":", out);
    cs_msgstore_json_string(out, g->session.p, g->session.len);
    fprintf(out, ",\"first_seq\":%llu,\"count\":%llu,\"ts_ns\":%lld,\"recovered\":%s,\"packet\":",
            (unsigned long long)g->first, (unsigned long long)g->count, (long long)g->ts_ns,
            g->recovered ? "true" : "false");
    if (g->ref != 0)
        fprintf(out, "\"%u:%u\"", (unsigned)CS_PKTREF_SEG(g->ref), (unsigned)CS_PKTREF_OFF(g->ref));
    else
        fputs("null", out);
    fprintf(out, ",\"flow\":\"%016llx\"}", (unsigned long long)g->flow_id);
}

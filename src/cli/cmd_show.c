/*
 * cmd_show.c - `capstream show ID`: drill from a measurement or a message
 * down to the packets that carried it.
 *
 *   capstream show -d STORE ID [--pair P] [--json] [-w OUT.pcap]
 *
 * For a measurement id (l7.1234.0): the measurement, then its request and
 * response messages with their fields, each followed by its packets (ref,
 * capture time, caplen and a one-line layer summary from packet/dissect.c).
 * For a message id (m7.1234.0): the message and its packets. Packets come
 * from the packet store by ref (store/store.h); a packet whose segment was
 * deleted by retention is reported as expired, not as an error.
 *
 * -w writes the packets (the request's, then the response's, duplicates
 * removed, then put in timestamp order) as a nanosecond pcap.
 */
#include "cli/cli.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timefmt.h"
#include "core/sort.h"
#include "packet/dissect.h"
#include "record/json.h"
#include "store/msgstore.h"
#include "store/pcapw.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char show_help[] =
    "usage: capstream show -d STORE ID [--pair P] [--json] [-w OUT.pcap]\n\n"
    "Shows one measurement (ID l<seg>.<offset>.<k>) with its request and response\n"
    "messages, or one message (ID m<seg>.<offset>.<k>), down to the packets that\n"
    "carried them: capture time in ns, caplen and a one-line layer summary. Packets\n"
    "deleted by retention are shown as expired.\n\n"
    "  -d, --store DIR     the store\n"
    "  -p, --pair P        the measurement of pair P with that id: a message's A/B\n"
    "                      race and its hop share its id (default: the first stored)\n"
    "      --json          one JSON object: {\"measurement\", \"request\", \"response\"} or\n"
    "                      {\"message\", \"packets\"}\n"
    "  -w, --write OUT     also write the packets as a nanosecond pcap (request's first,\n"
    "                      duplicates removed, in timestamp order)\n\n"
    "IDs come from 'capstream latency' (l...) and 'capstream messages' (m...).\n\n"
    "examples:\n"
    "  capstream show -d S l7.1234.0\n"
    "  capstream show -d S l7.1234.0 -w order.pcap && tcpdump -r order.pcap\n"
    "  capstream show -d S m7.1234.0 --json\n";

typedef struct show_args {
    const char *dir, *id_text, *out, *pair;
    int json;
    char kind;
    cs_msgid id;
} show_args;

/* A packet kept for -w (bytes copied: the store reuses its read buffer). */
typedef struct kept_pkt {
    cs_packet p;
    cs_pktref ref;
    size_t order;
} kept_pkt;

typedef struct show_ctx {
    const show_args *a;
    cs_store *store;
    kept_pkt *pkts;
    size_t n_pkts, pkts_cap;
    cs_measurement ms;
    char pair[256];
    char *key;
    size_t expired; /* packets whose segment retention deleted */
    int err;
} show_ctx;

static int show_parse(int argc, char **argv, show_args *a)
{
    static const struct option opts[] = {
        {"store", required_argument, 0, 'd'}, {"json", no_argument, 0, 'j'},
        {"write", required_argument, 0, 'w'}, {"pair", required_argument, 0, 'p'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    int c;

    while ((c = getopt_long(argc, argv, "d:w:p:h", opts, NULL)) != -1) {
        if (c == 'd')
            a->dir = optarg;
        else if (c == 'p')
            a->pair = optarg;
        else if (c == 'j')
            a->json = 1;
        else if (c == 'w')
            a->out = optarg;
        else if (c == 'h') {
            fputs(show_help, stdout);
            return -1;
        } else
            return cs_cli_usage_error("show", "bad option");
    }
    if (a->dir == NULL)
        return cs_cli_usage_error("show", "-d STORE is required");
    if (optind != argc - 1)
        return cs_cli_usage_error("show", optind >= argc ? "an ID is required"
                                                         : "exactly one ID is expected");
    a->id_text = argv[optind];
    if (cs_id_parse(a->id_text, &a->kind, &a->id) < 0)
        return cs_cli_usage_error("show",
                                  "bad id '%s' (expected l<segment>.<offset>.<k> for a "
                                  "measurement or m<segment>.<offset>.<k> for a message)",
                                  a->id_text);
    return 0;
}

static void print_text(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        putchar(c < 0x20 || c == 0x7f ? '.' : c);
    }
}

static int keep_packet(show_ctx *c, const cs_packet *p, cs_pktref ref)
{
    kept_pkt *k;
    uint8_t *copy;

    for (size_t i = 0; i < c->n_pkts; i++)
        if (c->pkts[i].ref == ref)
            return 0;
    if (cs_grow((void **)&c->pkts, &c->pkts_cap, c->n_pkts + 1, sizeof(*c->pkts)) < 0 ||
        (copy = cs_malloc(p->caplen ? p->caplen : 1)) == NULL)
        return CS_ENOMEM;
    memcpy(copy, p->data, p->caplen);
    k = &c->pkts[c->n_pkts];
    k->p = *p;
    k->p.data = copy;
    k->ref = ref;
    k->order = c->n_pkts++;
    return 0;
}

/* Prints one packet of a message (text line or JSON object). */
static void show_packet(show_ctx *c, cs_pktref ref, int first)
{
    cs_packet p;
    cs_layers l;
    char t[CS_TIME_BUFLEN], summary[512];
    unsigned seg = CS_PKTREF_SEG(ref), off = CS_PKTREF_OFF(ref);
    int rc = cs_store_read(c->store, ref, &p);

    if (c->a->json)
        printf("%s{\"ref\":\"%u:%u\"", first ? "" : ",", seg, off);
    else
        printf("    %u:%u  ", seg, off);
    if (rc < 0) {
        c->expired += rc == CS_ENOTFOUND;
        if (c->a->json && rc == CS_ENOTFOUND)
            fputs(",\"expired\":true}", stdout);
        else if (c->a->json) {
            fputs(",\"error\":", stdout);
            cs_msgstore_json_string(stdout, cs_error_msg(rc), strlen(cs_error_msg(rc)));
            putchar('}');
        } else
            printf("%s\n", rc == CS_ENOTFOUND ? "expired (segment deleted by retention)"
                                              : cs_error_msg(rc));
        return;
    }
    cs_dissect(&p, &l);
    cs_dissect_summary(&p, &l, summary, sizeof(summary));
    if (c->a->json) {
        printf(",\"ts_ns\":%lld,\"capture_ts_ns\":%lld,\"caplen\":%u,\"wirelen\":%u,"
               "\"summary\":",
               (long long)p.ts_ns, (long long)cs_packet_cap_ns(&p), (unsigned)p.caplen,
               (unsigned)p.wirelen);
        cs_msgstore_json_string(stdout, summary, strlen(summary));
        putchar('}');
    } else {
        printf("%s  %lld  caplen %u  %s\n", cs_time_format(p.ts_ns, t), (long long)p.ts_ns,
               (unsigned)p.caplen, summary);
        if (p.cap_ns != 0) /* the time is a reference's: the host's beside it */
            printf("        host capture time %s  (%+lld ns from the reference)\n",
                   cs_time_format(p.cap_ns, t), (long long)(p.cap_ns - p.ts_ns));
    }
    if (c->a->out && c->err == 0)
        c->err = keep_packet(c, &p, ref);
}

static void show_message_text(const cs_message *m)
{
    static const char *const roles[] = {"", "request", "response", "sighting"};
    char id[40], t[CS_TIME_BUFLEN], src[CS_EP_BUFLEN], dst[CS_EP_BUFLEN];

    printf("message %s  %s ", cs_id_format('m', m->id, id), m->proto);
    print_text(m->type.p, m->type.len);
    printf("  %s\n", m->role <= CS_ROLE_SIGHTING ? roles[m->role] : "");
    printf("  time      %s  (%lld ns)\n", cs_time_format(m->ts_ns, t), (long long)m->ts_ns);
    printf("  flow      %016llx  %s -> %s\n", (unsigned long long)m->flow_id,
           cs_endpoint_format(&m->ep, m->dir, src), cs_endpoint_format(&m->ep, !m->dir, dst));
    printf("  length    %u bytes%s\n", (unsigned)m->len, m->flags ? "  (flagged, see --json)" : "");
    if (m->key.len) {
        fputs("  key       ", stdout);
        print_text(m->key.p, m->key.len);
        putchar('\n');
    }
    if (m->error.len) {
        fputs("  error     ", stdout);
        print_text(m->error.p, m->error.len);
        putchar('\n');
    }
    printf("  fields\n");
    for (size_t i = 0; i < m->n_fields; i++) {
        fputs("    ", stdout);
        print_text(m->fields[i].name.p, m->fields[i].name.len);
        fputs(" = ", stdout);
        print_text(m->fields[i].val.p, m->fields[i].val.len);
        putchar('\n');
    }
    printf("  packets\n");
}

static int show_message(void *ud, const cs_message *m)
{
    show_ctx *c = ud;

    if (c->a->json) {
        fputs("{\"message\":", stdout);
        cs_message_json(stdout, m);
        fputs(",\"packets\":[", stdout);
    } else
        show_message_text(m);
    for (size_t i = 0; i < m->n_refs; i++)
        show_packet(c, m->refs[i], i == 0);
    if (c->a->json)
        fputs("]}", stdout);
    return 0;
}

/* Shows the message "id" (request or response of a measurement). */
static int show_linked(show_ctx *c, cs_msgid id, const char *what, cs_msgreader *r)
{
    char buf[40];
    int rc;

    if (c->a->json)
        printf(",\"%s\":", what);
    else
        printf("\n%s ", what);
    rc = cs_msgreader_find_message(r, id, show_message, c);
    if (rc == CS_ENOTFOUND) {
        if (c->a->json)
            fputs("null", stdout);
        else
            printf("%s: not in the store\n", cs_id_format('m', id, buf));
        return 0;
    }
    return rc;
}

static int keep_measurement(void *ud, const cs_measurement *ms)
{
    show_ctx *c = ud;

    c->ms = *ms;
    snprintf(c->pair, sizeof(c->pair), "%s", ms->pair);
    c->ms.pair = c->pair;
    if ((c->key = cs_strndup(ms->key.p ? ms->key.p : "", ms->key.len)) == NULL)
        return c->err = CS_ENOMEM;
    c->ms.key.p = c->key;
    return 0;
}

static void show_measurement_text(const cs_measurement *ms)
{
    char id[40], req[40], resp[40], t1[CS_TIME_BUFLEN], t2[CS_TIME_BUFLEN], d[32];
    char src[CS_EP_BUFLEN], dst[CS_EP_BUFLEN];

    printf("measurement %s  %s  key ", cs_id_format('l', ms->id, id), ms->pair);
    print_text(ms->key.p, ms->key.len);
    printf("\n  latency   %s  (%lld ns)\n", cs_duration_format(ms->latency_ns, d),
           (long long)ms->latency_ns);
    printf("  request   %s  %s\n", cs_id_format('m', ms->req_id, req),
           cs_time_format(ms->req_ts_ns, t1));
    printf("  response  %s  %s\n", cs_id_format('m', ms->resp_id, resp),
           cs_time_format(ms->resp_ts_ns, t2));
    printf("  flow      %016llx  %s -> %s\n", (unsigned long long)ms->flow_id,
           cs_endpoint_format(&ms->ep, 0, src), cs_endpoint_format(&ms->ep, 1, dst));
    if (ms->resp_tap != ms->ep.tap) /* a hop: seen at two capture points */
        printf("  taps      %u -> %u\n", (unsigned)ms->ep.tap, (unsigned)ms->resp_tap);
}

static int show_measurement(show_ctx *c, cs_msgreader *r)
{
    int rc = cs_msgreader_find_measurement(r, c->a->id, c->a->pair, keep_measurement, c);

    if (rc < 0 || (rc = c->err) < 0)
        return rc;
    if (c->a->json) {
        fputs("{\"measurement\":", stdout);
        cs_measurement_json(stdout, &c->ms);
    } else
        show_measurement_text(&c->ms);
    if ((rc = show_linked(c, c->ms.req_id, "request", r)) < 0 ||
        (rc = show_linked(c, c->ms.resp_id, "response", r)) < 0)
        return rc;
    if (c->a->json)
        fputs("}\n", stdout);
    return c->err;
}

static int cmp_kept(const void *x, const void *y)
{
    const kept_pkt *a = x, *b = y;

    if (a->p.ts_ns != b->p.ts_ns)
        return a->p.ts_ns < b->p.ts_ns ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static int write_pcap(show_ctx *c)
{
    cs_pcapw w;
    uint32_t link = c->n_pkts ? c->pkts[0].p.linktype : CS_LINK_ETHERNET;
    int fd, rc;

    for (size_t i = 0; i < c->n_pkts; i++)
        if (c->pkts[i].p.linktype != link)
            return cs_error_set(CS_EUNSUPPORTED, "the packets have different link types; "
                                                 "one pcap cannot hold them");
    if (c->n_pkts > 1)
        cs_qsort(c->pkts, c->n_pkts, sizeof(*c->pkts), cmp_kept);
    fd = open(c->a->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return cs_error_set(cs_error_from_errno(errno), "%s: %s", c->a->out, strerror(errno));
    if ((rc = cs_pcapw_init(&w, fd, 1, link, CS_PCAP_SNAPLEN, 1 << 16)) < 0) {
        close(fd);
        return rc;
    }
    for (size_t i = 0; i < c->n_pkts && rc == 0; i++)
        rc = cs_pcapw_put(&w, &c->pkts[i].p, NULL);
    if ((fd = cs_pcapw_close(&w)) < 0 && rc == 0)
        rc = fd;
    if (rc == 0)
        fprintf(stderr, "wrote %zu packets to %s (%zu expired)\n", c->n_pkts, c->a->out,
                c->expired);
    return rc;
}

int cs_cmd_show(int argc, char **argv)
{
    show_args a;
    show_ctx c;
    cs_store_opts so = {0};
    cs_msgreader *r = NULL;
    int rc, status;

    memset(&a, 0, sizeof(a));
    memset(&c, 0, sizeof(c));
    c.a = &a;
    if ((status = show_parse(argc, argv, &a)) != 0)
        return status < 0 ? CS_EXIT_OK : status;
    if ((rc = cs_msgreader_open(a.dir, &r)) < 0 || (rc = cs_store_open(a.dir, &so, &c.store)) < 0)
        goto out;
    if (a.kind == 'l')
        rc = show_measurement(&c, r);
    else if ((rc = cs_msgreader_find_message(r, a.id, show_message, &c)) == 0 && a.json)
        putchar('\n');
    if (rc == 0)
        rc = c.err;
    fflush(stdout);
    if (rc == 0 && a.out)
        rc = write_pcap(&c);
out:
    for (size_t i = 0; i < c.n_pkts; i++)
        cs_free((void *)c.pkts[i].p.data);
    cs_free(c.pkts);
    cs_free(c.key);
    cs_store_close(c.store);
    cs_msgreader_close(r);
    return rc < 0 ? cs_cli_fail(rc) : CS_EXIT_OK;
}

/*
 * cmd_messages.c - `capstream messages`: stored decoded messages.
 *
 *   capstream messages -d STORE [--proto P] [--type T] [--key K]
 *                      [--after T] [--before T] [--limit N] [--json]
 *
 * Reads the message store (store/msgstore.c) in store order (packet
 * segment, then decoding order, which is capture order up to reassembly
 * delays) and prints each message that passes the filters: one text line
 * with its fields as name=value, or one JSON object a line with every
 * field value JSON-escaped (FIX values may hold any byte).
 */
#include "cli/cli.h"

#include "core/error.h"
#include "core/timefmt.h"
#include "record/json.h"
#include "store/msgstore.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char messages_help[] =
    "usage: capstream messages -d STORE [--proto P] [--type T] [--key K]\n"
    "                          [--after T] [--before T] [--limit N] [--json]\n\n"
    "Prints the stored decoded messages (FIX, HTTP, DNS...), one a line: id, protocol,\n"
    "type, time, source -> destination, key and fields, in store order.\n\n"
    "  -d, --store DIR    the store\n"
    "  -p, --proto P      only protocol P ({protos})\n"
    "  -t, --type T       only message type T (FIX MsgType 'D', '8'; 'request', 'response',\n"
    "                     'query')\n"
    "  -k, --key K        only messages whose measurement key is K (a ClOrdID, 'GET /x')\n"
    "      --after T      messages at or after T\n"
    "      --before T     messages before T\n"
    "  -n, --limit N      at most N messages\n"
    "      --json         JSON lines: id, proto, type, ts_ns, last_ts_ns, flow, dir, src,\n"
    "                     dst, role, key, len, flags, packets ('seg:offset' refs) and\n"
    "                     fields ([name, value] pairs in wire order)\n\n"
    "T is RFC 3339 with up to 9 fractional digits (2026-01-05T14:30:00.000123456Z),\n"
    "integer epoch nanoseconds, or relative ('90s ago', '5m ago', 'now').\n\n"
    "examples:\n"
    "  capstream messages -d S --proto fix --type D --limit 20\n"
    "  capstream messages -d S --key S00O0000001 --json\n"
    "  capstream messages -d S --proto http --after '5m ago'\n"
    "  capstream show -d S m7.1234.0      (a message with its packets)\n";

typedef struct messages_args {
    const char *dir;
    int json;
    cs_msgfilter f;
} messages_args;

static int messages_option(int c, messages_args *a)
{
    char *end;

    switch (c) {
    case 'd':
        a->dir = optarg;
        return 0;
    case 'p':
        a->f.proto = optarg;
        return 0;
    case 't':
        a->f.type = optarg;
        return 0;
    case 'k':
        a->f.key = optarg;
        return 0;
    case 'A':
        return cs_cli_parse_time("--after", optarg, &a->f.after) < 0 ? CS_EXIT_USAGE : 0;
    case 'B':
        return cs_cli_parse_time("--before", optarg, &a->f.before) < 0 ? CS_EXIT_USAGE : 0;
    case 'n':
        a->f.limit = strtoull(optarg, &end, 10);
        if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' || a->f.limit == 0)
            return cs_cli_usage_error("messages", "--limit: bad count '%s'", optarg);
        return 0;
    case 'j':
        a->json = 1;
        return 0;
    case 'h':
        cs_cli_help(stdout, messages_help);
        return -1;
    default:
        return cs_cli_usage_error("messages", "bad option");
    }
}

static int messages_parse(int argc, char **argv, messages_args *a)
{
    static const struct option opts[] = {
        {"store", required_argument, 0, 'd'}, {"proto", required_argument, 0, 'p'},
        {"type", required_argument, 0, 't'},  {"key", required_argument, 0, 'k'},
        {"after", required_argument, 0, 'A'}, {"before", required_argument, 0, 'B'},
        {"limit", required_argument, 0, 'n'}, {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    int c, rc;

    cs_msgfilter_init(&a->f);
    while ((c = getopt_long(argc, argv, "d:p:t:k:n:h", opts, NULL)) != -1)
        if ((rc = messages_option(c, a)) != 0)
            return rc;
    if (optind < argc)
        return cs_cli_usage_error("messages", "unexpected argument '%s'", argv[optind]);
    if (a->dir == NULL)
        return cs_cli_usage_error("messages", "-d STORE is required");
    if (a->f.after > a->f.before)
        return cs_cli_usage_error("messages", "--after is later than --before");
    return 0;
}

/* Prints bytes with control bytes shown as '.', for one-line text output. */
static void print_text(cs_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        putchar(c < 0x20 || c == 0x7f ? '.' : c);
    }
}

static int print_message(void *ud, const cs_message *m)
{
    const messages_args *a = ud;
    char id[40], t[CS_TIME_BUFLEN], src[CS_EP_BUFLEN], dst[CS_EP_BUFLEN];

    if (a->json) {
        cs_message_json(stdout, m);
        putchar('\n');
        return 0;
    }
    printf("%s  %s  ", cs_id_format('m', m->id, id), m->proto);
    print_text(m->type);
    printf("  %s  %s -> %s  len %u", cs_time_format(m->ts_ns, t),
           cs_endpoint_format(&m->ep, m->dir, src), cs_endpoint_format(&m->ep, !m->dir, dst),
           (unsigned)m->len);
    if (m->key.len) {
        fputs("  key ", stdout);
        print_text(m->key);
    }
    if (m->error.len) {
        fputs("  error ", stdout);
        print_text(m->error);
    }
    fputs(" ", stdout);
    for (size_t i = 0; i < m->n_fields; i++) {
        putchar(' ');
        print_text(m->fields[i].name);
        putchar('=');
        print_text(m->fields[i].val);
    }
    putchar('\n');
    return 0;
}

int cs_cmd_messages(int argc, char **argv)
{
    static char outbuf[1 << 16];
    messages_args a;
    cs_msgreader *r = NULL;
    int rc, status;

    memset(&a, 0, sizeof(a));
    if ((status = messages_parse(argc, argv, &a)) != 0)
        return status < 0 ? CS_EXIT_OK : status;
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
    if ((rc = cs_msgreader_open(a.dir, &r)) < 0)
        return cs_cli_fail(rc);
    rc = cs_msgreader_messages(r, &a.f, print_message, &a);
    cs_msgreader_close(r);
    if (fflush(stdout) != 0 && rc == 0)
        rc = cs_error_set(CS_EIO, "writing the output failed");
    return rc < 0 ? cs_cli_fail(rc) : CS_EXIT_OK;
}

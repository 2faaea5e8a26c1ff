/*
 * dns.c - decoder of DNS messages (RFC 1035 section 4, RFC 3596 AAAA), over
 * UDP (one message per datagram, CS_IN_DATAGRAM) and over TCP (RFC 1035
 * 4.2.2 / RFC 7766: each message behind a 2-byte big-endian length), as a
 * cs_decoder plug-in (src/decode/decoder.h).
 *
 * Header (12 bytes), then qdcount questions and an/ns/ar resource records:
 *
 *   0               16                              (bits)
 *   +---------------+   flags: |QR|Opcode(4)|AA|TC|RD|RA|Z|AD|CD|RCODE(4)|
 *   |      ID       |
 *   |     flags     |   question: QNAME QTYPE(16) QCLASS(16)
 *   |    QDCOUNT    |   RR:       NAME TYPE(16) CLASS(16) TTL(32)
 *   |    ANCOUNT    |             RDLENGTH(16) RDATA(RDLENGTH)
 *   |    NSCOUNT    |   names: labels (len 1..63, bytes), ended by a zero
 *   |    ARCOUNT    |   byte or by a 2-byte pointer 11xxxxxx xxxxxxxx to an
 *   +---------------+   earlier offset in the message (compression)
 *
 * Names are decoded loop-safely: a pointer must point strictly before the
 * place it was read from (so every jump goes backwards and the walk ends),
 * at most CS__DNS_MAX_JUMPS pointers are followed, and the name may not
 * exceed 255 wire bytes. Labels are rendered as on the wire (case kept),
 * dot-separated, no trailing dot; '.', '\' and non-printable bytes inside a
 * label are escaped as "\." "\\" "\DDD" (RFC 1035 5.1). The root name is "".
 *
 * Fields, in this order: "id" (decimal), "qr", "opcode", "rcode" (decimal),
 * "flags" (hex, "0x8180"), then per question "qname", "qtype", "qclass",
 * then "answers", "ns", "ar" (header counts, present even when a question
 * is malformed), then per answer record
 * "an.name", "an.type", "an.ttl", "an.data". Types are mnemonics ("A",
 * "MX"; "TYPE65280" otherwise), classes "IN"/"CH"/"HS"/"ANY" or "CLASSn".
 * an.data: A and AAAA addresses, CNAME/NS/PTR names, MX "pref name", TXT
 * its first string; other types hex (up to 64 bytes, then "...").
 * type = "query" (QR=0) or "response" (QR=1). Roles (pair "dns"): query ->
 * request, response -> response, match = "ID QNAME" from the first
 * question (key the same, on queries), with "ID ." for the root name. No
 * readable question (qdcount 0 or cut off) -> role none.
 *
 * Malformed messages: a message whose 12-byte header is readable is always
 * emitted; if a count runs past the data, a name is bad (loop, forward
 * pointer, too long, reserved label type) or rdata overruns, the walk stops
 * there and the message carries CS_MSG_MALFORMED with what was decoded.
 * Fewer than 12 bytes: not emitted. A TCP message cut off at EOF is emitted
 * with CS_MSG_TRUNCATED (and MALFORMED when its sections do not fit).
 *
 * TCP framing (RFC 1035 4.2.2, RFC 7766 8): every message is behind a
 * 2-byte big-endian length. The prefix is framing, not part of the DNS
 * message: a message is reported to the flow layer as starting at the byte
 * after its prefix (start, len exclude the prefix), so its time is the
 * capture time of the packet carrying its first DNS byte, however long
 * before that a lone prefix arrived, and its packet refs are those of the
 * packets carrying its DNS bytes. The prefix may come in a segment of its
 * own: the probe answers NEED_MORE for bytes that may still become a
 * framed query (a lone prefix, a cut header), and parse() asks for the
 * whole frame ("needed"). Any segmentation gives the same messages.
 *
 * Zone transfers (RFC 5936 2.2, RFC 1995): the answer to an AXFR/IXFR
 * query may span several messages with the query's id, the later ones
 * possibly without a question; it ends with the SOA it began with. The
 * first message that opens a transfer without closing it is flagged
 * CS_MSG_MORE; each later one with that id in that direction is flagged
 * CS_MSG_CONTINUATION and carries the first one's match and the response
 * role (and CS_MSG_MORE again unless it closes the transfer), so pairing
 * closes the query on the first message and attaches the others to it.
 * A one-message transfer (both SOAs in it) carries neither flag.
 *
 * TCP resynchronisation: after gap() or a CS_IN_MIDSTREAM start the decoder
 * no longer trusts the byte at the front to be a length prefix; it scans for
 * an offset whose length and header are plausible and whose message decodes
 * without fault, dropping the bytes before it (no emit).
 * CS_IN_MIDSTREAM stays on for the whole connection; only the first
 * parse() of a direction acts on it.
 *
 * State and ownership: per connection, two resync bits and, allocated once
 * the connection's first zone transfer opens (rare: most connections never
 * pay for it), the transfer's id, direction, opening SOA serial and match. Rendered text and
 * the field array live in thread-local scratch space, valid during the
 * cs_decode_emit() call only. Threading: one state per flow, one thread.
 */
#include "decode/dns/dns.h"

#include "core/alloc.h"
#include "core/cursor.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define CS__DNS_HEADER 12
#define CS__DNS_MAX_NAME 255     /* wire bytes of a name (RFC 1035 2.3.4) */
#define CS__DNS_MAX_JUMPS 64     /* compression pointers followed per name */
#define CS__DNS_NAME_TEXT 1024   /* 255 wire bytes, escaped: at most 4 each */
#define CS__DNS_MAX_QUESTIONS 16 /* questions rendered as fields */
#define CS__DNS_MAX_ANSWERS 128  /* answer records rendered as fields */
#define CS__DNS_MAX_HEX 64       /* rdata bytes shown in hex */
#define CS__DNS_SCRATCH (96u * 1024u)
#define CS__DNS_MAX_FIELDS (8 + 3 * CS__DNS_MAX_QUESTIONS + 4 * CS__DNS_MAX_ANSWERS + 4)
#define CS__DNS_RESYNC_SCAN (64u * 1024u) /* bytes scanned per call */
#define CS__DNS_RESYNC_TRIES 64           /* full decodes per call */

#define CS__DNS_KEY_MAX (CS__DNS_NAME_TEXT + 8) /* "ID QNAME" */
#define CS__DNS_TYPE_SOA 6
#define CS__DNS_TYPE_IXFR 251
#define CS__DNS_TYPE_AXFR 252

/* A zone transfer whose answer continues in later messages (TCP only). */
typedef struct cs__dns_xfer {
    bool open;       /* its closing SOA has not been seen yet */
    uint8_t dir;     /* direction its responses travel in */
    uint16_t id;     /* the transfer's message id */
    uint32_t serial; /* serial of the opening SOA, which the closing one repeats */
    size_t match_len;
    char match[CS__DNS_KEY_MAX]; /* the first response's match ("ID QNAME") */
} cs__dns_xfer;

typedef struct cs__dns_state {
    bool resync[2];     /* front bytes may not be a length prefix */
    bool started[2];    /* parse() has seen this direction */
    cs__dns_xfer *xfer; /* owned; allocated when the first transfer opens */
} cs__dns_state;

/* Rendered output of one message: text arena + field list. */
typedef struct cs__dns_out {
    char *buf;
    size_t used;
    cs_kv *kv;
    size_t n_kv;
} cs__dns_out;

/* What the decoder learned about one message. */
typedef struct cs__dns_info {
    uint16_t id, flags, qd, an, ns, ar;
    bool header_ok;
    bool question_ok; /* first question fully read */
    bool malformed;
    cs_str qname;   /* first question's name, rendered */
    uint16_t qtype; /* first question's type */
    /* Answer records (all of them, rendered or not): the first's and the
     * last's type, and their SOA serials when they are SOA records. */
    uint16_t first_an_type, last_an_type;
    uint32_t first_soa_serial, last_soa_serial;
} cs__dns_info;

static _Thread_local char cs__dns_scratch[CS__DNS_SCRATCH];
static _Thread_local cs_kv cs__dns_fields[CS__DNS_MAX_FIELDS];

/* ---- output arena ---------------------------------------------------- */

static void cs__dns_out_init(cs__dns_out *o)
{
    o->buf = cs__dns_scratch;
    o->used = 0;
    o->kv = cs__dns_fields;
    o->n_kv = 0;
}

/* Copies "val" into the arena; returns the copy (empty if the arena is full). */
static cs_str cs__dns_store(cs__dns_out *o, const char *val, size_t len)
{
    cs_str s = {"", 0};

    if (CS__DNS_SCRATCH - o->used < len)
        return s;
    if (len)
        memcpy(o->buf + o->used, val, len);
    s.p = o->buf + o->used;
    s.len = len;
    o->used += len;
    return s;
}

/* Adds field "name" with a copy of "val"; silently stops when the arena or
 * the field array is full. Returns the stored value. */
static cs_str cs__dns_add(cs__dns_out *o, const char *name, const char *val, size_t len)
{
    cs_str s = {"", 0};

    if (o->n_kv == CS__DNS_MAX_FIELDS)
        return s;
    s = cs__dns_store(o, val, len);
    if (s.len != len)
        return s;
    o->kv[o->n_kv].name.p = name;
    o->kv[o->n_kv].name.len = strlen(name);
    o->kv[o->n_kv].val = s;
    o->n_kv++;
    return s;
}

static cs_str cs__dns_addf(cs__dns_out *o, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static cs_str cs__dns_addf(cs__dns_out *o, const char *name, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    return cs__dns_add(o, name, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* ---- names --------------------------------------------------------------- */

/* Appends label byte "c" to text "t" (escaped if needed); false if full. */
static bool cs__dns_put_char(char *t, size_t *len, uint8_t c)
{
    if (*len + 4 >= CS__DNS_NAME_TEXT)
        return false;
    if (c == '.' || c == '\\') {
        t[(*len)++] = '\\';
        t[(*len)++] = (char)c;
    } else if (c < 0x21 || c > 0x7e) {
        *len += (size_t)snprintf(t + *len, 5, "\\%03u", c);
    } else {
        t[(*len)++] = (char)c;
    }
    return true;
}

/*
 * Reads the name at "msg[off]" (msg[0..n) is the whole DNS message) into
 * text "t" (CS__DNS_NAME_TEXT bytes) and its length "*tlen". "*next" gets
 * the offset just past the name where it was read (not where pointers led).
 * Returns true, or false if the name is malformed or runs past "n".
 */
static bool cs__dns_name(const uint8_t *msg, size_t n, size_t off, size_t *next, char *t,
                         size_t *tlen)
{
    size_t pos = off, wire = 0, jumps = 0;
    bool jumped = false;

    *tlen = 0;
    for (;;) {
        uint8_t len;

        if (pos >= n)
            return false;
        len = msg[pos];
        if ((len & 0xc0) == 0xc0) {
            size_t target;

            if (pos + 1 >= n || ++jumps > CS__DNS_MAX_JUMPS)
                return false;
            target = (size_t)(len & 0x3f) << 8 | msg[pos + 1];
            if (target >= pos)
                return false; /* forward or self pointer: could loop */
            if (!jumped)
                *next = pos + 2;
            jumped = true;
            pos = target;
            continue;
        }
        if (len & 0xc0)
            return false; /* 01/10: extended label types, obsolete */
        wire += (size_t)len + 1;
        if (wire > CS__DNS_MAX_NAME || pos + 1 + len > n)
            return false;
        if (len == 0)
            break;
        if (*tlen > 0)
            t[(*tlen)++] = '.';
        for (size_t i = 0; i < len; i++)
            if (!cs__dns_put_char(t, tlen, msg[pos + 1 + i]))
                return false;
        pos += 1 + (size_t)len;
    }
    if (!jumped)
        *next = pos + 1;
    return true;
}

/* ---- types and rdata ------------------------------------------------- */

static const char *cs__dns_type_name(uint16_t type)
{
    static const struct {
        uint16_t type;
        const char *name;
    } names[] = {
        {1, "A"},      {2, "NS"},    {5, "CNAME"}, {6, "SOA"},    {12, "PTR"},  {13, "HINFO"},
        {15, "MX"},    {16, "TXT"},  {28, "AAAA"}, {29, "LOC"},   {33, "SRV"},  {35, "NAPTR"},
        {39, "DNAME"}, {41, "OPT"},  {43, "DS"},   {46, "RRSIG"}, {47, "NSEC"}, {48, "DNSKEY"},
        {50, "NSEC3"}, {52, "TLSA"}, {64, "SVCB"}, {65, "HTTPS"}, {99, "SPF"},  {252, "AXFR"},
        {255, "ANY"},  {257, "CAA"},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].type == type)
            return names[i].name;
    return NULL;
}

static cs_str cs__dns_add_type(cs__dns_out *o, const char *field, uint16_t type)
{
    const char *name = cs__dns_type_name(type);

    return name ? cs__dns_add(o, field, name, strlen(name))
                : cs__dns_addf(o, field, "TYPE%u", (unsigned)type);
}

static void cs__dns_add_class(cs__dns_out *o, const char *field, uint16_t cls)
{
    switch (cls & 0x7fff) { /* top bit: mDNS unicast-response / cache-flush */
    case 1:
        cs__dns_add(o, field, "IN", 2);
        break;
    case 3:
        cs__dns_add(o, field, "CH", 2);
        break;
    case 4:
        cs__dns_add(o, field, "HS", 2);
        break;
    case 255:
        cs__dns_add(o, field, "ANY", 3);
        break;
    default:
        cs__dns_addf(o, field, "CLASS%u", (unsigned)cls);
    }
}

static void cs__dns_add_hex(cs__dns_out *o, const uint8_t *p, size_t n)
{
    char t[2 * CS__DNS_MAX_HEX + 4];
    size_t show = n < CS__DNS_MAX_HEX ? n : CS__DNS_MAX_HEX, len = 0;
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < show; i++) {
        t[len++] = digits[p[i] >> 4];
        t[len++] = digits[p[i] & 15];
    }
    if (show < n) {
        memcpy(t + len, "...", 3);
        len += 3;
    }
    cs__dns_add(o, "an.data", t, len);
}

/*
 * Renders the rdata of "type" at msg[off .. off + rdlen) as the field
 * "an.data". Returns false if the rdata is inconsistent (a name running
 * outside it, a short address...), after adding the hex form.
 */
static bool cs__dns_add_rdata(cs__dns_out *o, const uint8_t *msg, size_t off, size_t rdlen,
                              uint16_t type)
{
    const uint8_t *rd = msg + off;
    size_t end = off + rdlen, next = 0, tlen = 0, pref = 0;
    char t[CS__DNS_NAME_TEXT + 8], addr[INET6_ADDRSTRLEN];

    switch (type) {
    case 1:  /* A */
    case 28: /* AAAA */
        if (rdlen != (type == 1 ? 4u : 16u))
            break;
        inet_ntop(type == 1 ? AF_INET : AF_INET6, rd, addr, sizeof(addr));
        cs__dns_add(o, "an.data", addr, strlen(addr));
        return true;
    case 15: /* MX: preference, exchange */
        if (rdlen < 3)
            break;
        pref = (size_t)snprintf(t, sizeof(t), "%u ", (unsigned)cs_rd_be16(rd));
        off += 2;
        /* fall through */
    case 2:  /* NS */
    case 5:  /* CNAME */
    case 12: /* PTR */
        if (!cs__dns_name(msg, end, off, &next, t + pref, &tlen) || next != end)
            break;
        cs__dns_add(o, "an.data", t, pref + tlen);
        return true;
    case 16: /* TXT: first character-string */
        if (rdlen < 1 || rd[0] >= rdlen)
            break;
        for (size_t i = 0; i < rd[0]; i++)
            if (!cs__dns_put_char(t, &tlen, rd[1 + i]))
                break;
        cs__dns_add(o, "an.data", t, tlen);
        return true;
    default:
        cs__dns_add_hex(o, rd, rdlen);
        return true;
    }
    cs__dns_add_hex(o, rd, rdlen);
    return false;
}

/* ---- message --------------------------------------------------------- */

static bool cs__dns_header(cs_cursor *c, cs__dns_info *info)
{
    info->id = cs_get_be16(c);
    info->flags = cs_get_be16(c);
    info->qd = cs_get_be16(c);
    info->an = cs_get_be16(c);
    info->ns = cs_get_be16(c);
    info->ar = cs_get_be16(c);
    info->header_ok = cs_cursor_ok(c);
    return info->header_ok;
}

static void cs__dns_add_header(cs__dns_out *o, const cs__dns_info *info)
{
    cs__dns_addf(o, "id", "%u", (unsigned)info->id);
    cs__dns_addf(o, "qr", "%u", (unsigned)(info->flags >> 15));
    cs__dns_addf(o, "opcode", "%u", (unsigned)((info->flags >> 11) & 15));
    cs__dns_addf(o, "rcode", "%u", (unsigned)(info->flags & 15));
    cs__dns_addf(o, "flags", "0x%04x", (unsigned)info->flags);
}

/* Reads the questions; false on a fault. */
static bool cs__dns_questions(cs_cursor *c, cs__dns_out *o, cs__dns_info *info)
{
    char t[CS__DNS_NAME_TEXT];

    for (unsigned i = 0; i < info->qd; i++) {
        size_t next = 0, tlen = 0;
        uint16_t qtype, qclass;
        cs_str name;

        if (!cs__dns_name(c->base, c->len, c->off, &next, t, &tlen))
            return false;
        c->off = next;
        qtype = cs_get_be16(c);
        qclass = cs_get_be16(c);
        if (!cs_cursor_ok(c))
            return false;
        if (i >= CS__DNS_MAX_QUESTIONS)
            continue;
        name = cs__dns_add(o, "qname", t, tlen);
        cs__dns_add_type(o, "qtype", qtype);
        cs__dns_add_class(o, "qclass", qclass);
        if (i == 0) {
            info->qname = name;
            info->qtype = qtype;
            info->question_ok = name.len == tlen;
        }
    }
    return true;
}

/* The serial of the SOA rdata at msg[off .. off + rdlen) (MNAME, RNAME,
 * SERIAL...), or 0 if it does not parse. */
static uint32_t cs__dns_soa_serial(const uint8_t *msg, size_t off, size_t rdlen)
{
    char t[CS__DNS_NAME_TEXT];
    size_t end = off + rdlen, next = 0, tlen = 0;

    if (!cs__dns_name(msg, end, off, &next, t, &tlen) ||
        !cs__dns_name(msg, end, next, &next, t, &tlen) || next + 4 > end)
        return 0;
    return cs_rd_be32(msg + next);
}

/* Notes answer "i" (of type "type", rdata at msg[rdoff, +rdlen)) in "info":
 * the first and the last answer's type and SOA serial. */
static void cs__dns_note_answer(cs__dns_info *info, const uint8_t *msg, unsigned i, uint16_t type,
                                size_t rdoff, size_t rdlen)
{
    uint32_t serial = type == CS__DNS_TYPE_SOA ? cs__dns_soa_serial(msg, rdoff, rdlen) : 0;

    if (i == 0) {
        info->first_an_type = type;
        info->first_soa_serial = serial;
    }
    info->last_an_type = type;
    info->last_soa_serial = serial;
}

/* Reads "count" records; renders them as answers and notes them in "info"
 * if "info" is not NULL. False on a fault. */
static bool cs__dns_records(cs_cursor *c, cs__dns_out *o, unsigned count, cs__dns_info *info)
{
    char t[CS__DNS_NAME_TEXT];

    for (unsigned i = 0; i < count; i++) {
        size_t next = 0, tlen = 0, rdoff;
        uint16_t type, rdlen;
        uint32_t ttl;

        if (!cs__dns_name(c->base, c->len, c->off, &next, t, &tlen))
            return false;
        c->off = next;
        type = cs_get_be16(c);
        cs_get_be16(c); /* class */
        ttl = cs_get_be32(c);
        rdlen = cs_get_be16(c);
        rdoff = c->off;
        if (!cs_cursor_skip(c, rdlen))
            return false;
        if (info == NULL)
            continue;
        cs__dns_note_answer(info, c->base, i, type, rdoff, rdlen);
        if (i >= CS__DNS_MAX_ANSWERS)
            continue;
        cs__dns_add(o, "an.name", t, tlen);
        cs__dns_add_type(o, "an.type", type);
        cs__dns_addf(o, "an.ttl", "%u", (unsigned)ttl);
        if (!cs__dns_add_rdata(o, c->base, rdoff, rdlen, type))
            return false;
    }
    return true;
}

/*
 * Decodes the DNS message p[0..n) into "o" and "info". info->header_ok
 * says whether anything was decoded; info->malformed whether a fault
 * stopped the walk.
 */
static void cs__dns_decode(const uint8_t *p, size_t n, cs__dns_out *o, cs__dns_info *info)
{
    cs_cursor c;
    bool ok;

    memset(info, 0, sizeof(*info));
    cs__dns_out_init(o);
    cs_cursor_init(&c, p, n);
    if (!cs__dns_header(&c, info))
        return;
    cs__dns_add_header(o, info);
    ok = cs__dns_questions(&c, o, info);
    cs__dns_addf(o, "answers", "%u", (unsigned)info->an);
    cs__dns_addf(o, "ns", "%u", (unsigned)info->ns);
    cs__dns_addf(o, "ar", "%u", (unsigned)info->ar);
    if (!ok || !cs__dns_records(&c, o, info->an, info) || !cs__dns_records(&c, o, info->ns, NULL) ||
        !cs__dns_records(&c, o, info->ar, NULL))
        info->malformed = true;
}

/* ---- zone transfers ------------------------------------------------- */

/* True if response "info" opens a zone transfer: an AXFR or IXFR answer
 * whose first record is the zone's SOA. */
static bool cs__dns_xfer_opens(const cs__dns_info *info)
{
    return (info->qtype == CS__DNS_TYPE_AXFR || info->qtype == CS__DNS_TYPE_IXFR) &&
           (info->flags & 15) == 0 && info->an >= 1 && info->first_an_type == CS__DNS_TYPE_SOA &&
           !info->malformed;
}

/* True if response "info" is the last message of transfer "x": it ends with
 * the opening SOA again, or it carries an error. */
static bool cs__dns_xfer_closes(const cs__dns_xfer *x, const cs__dns_info *info)
{
    if ((info->flags & 15) != 0 || info->malformed)
        return true;
    return info->an >= 1 && info->last_an_type == CS__DNS_TYPE_SOA &&
           info->last_soa_serial == x->serial;
}

/* True if the opening message "info" holds the whole transfer: an AXFR
 * answer with both SOAs, or an IXFR answer that is one SOA (up to date). */
static bool cs__dns_xfer_whole(const cs__dns_info *info)
{
    if (info->qtype == CS__DNS_TYPE_IXFR && info->an == 1)
        return true;
    return info->an >= 2 && info->last_an_type == CS__DNS_TYPE_SOA &&
           info->last_soa_serial == info->first_soa_serial;
}

/*
 * Follows zone transfers over TCP (RFC 5936 2.2): the answer may span
 * several messages with the query's id, the later ones possibly without a
 * question. Sets on response "m" (decoded as "info", sent in "dir"):
 * CS_MSG_MORE on every message of a transfer but its last, and
 * CS_MSG_CONTINUATION, the first message's match and the response role on
 * every message after the first, so pairing closes the query on the first
 * and attaches the others to it.
 */
static void cs__dns_xfer_track(cs__dns_state *st, uint8_t dir, const cs__dns_info *info,
                               cs_msg_out *m)
{
    cs__dns_xfer *x = st->xfer;
    bool continues = x != NULL && x->open && x->dir == dir && x->id == info->id &&
                     (!info->question_ok || (m->match.len == x->match_len &&
                                             memcmp(m->match.p, x->match, x->match_len) == 0));

    if (continues) {
        m->match = (cs_str){x->match, x->match_len};
        m->role = CS_ROLE_RESP;
        m->pair = "dns";
        m->flags |= CS_MSG_CONTINUATION;
        if (cs__dns_xfer_closes(x, info))
            x->open = false;
        else
            m->flags |= CS_MSG_MORE;
        return;
    }
    if (m->role != CS_ROLE_RESP || (m->flags & CS_MSG_TRUNCATED) || !cs__dns_xfer_opens(info) ||
        cs__dns_xfer_whole(info) || m->match.len > CS__DNS_KEY_MAX)
        return;
    if (x == NULL && (x = st->xfer = cs_malloc(sizeof(*x))) == NULL)
        return; /* untracked: the first message closes the query, the others are orphans */
    x->open = true;
    x->dir = dir;
    x->id = info->id;
    x->serial = info->first_soa_serial;
    x->match_len = m->match.len;
    memcpy(x->match, m->match.p, m->match.len);
    m->flags |= CS_MSG_MORE;
}

/* ---- emitting ---------------------------------------------------------- */

/* The error reason of a response with a nonzero RCODE (RFC 1035 4.1.1,
 * RFC 2136 2.2): its mnemonic, "rcode N" for the others. */
static cs_str cs__dns_rcode_error(unsigned rcode)
{
    static const char *const names[16] = {
        "rcode 0",       "rcode FORMERR", "rcode SERVFAIL", "rcode NXDOMAIN",
        "rcode NOTIMP",  "rcode REFUSED", "rcode YXDOMAIN", "rcode YXRRSET",
        "rcode NXRRSET", "rcode NOTAUTH", "rcode NOTZONE",  "rcode 11",
        "rcode 12",      "rcode 13",      "rcode 14",       "rcode 15"};
    cs_str r = {names[rcode & 15], strlen(names[rcode & 15])};

    return r;
}

/*
 * Decodes and emits in->data[start .. start + len), skipping "body" bytes
 * of TCP length prefix: the message reported to the flow layer starts after
 * the prefix, so its time is that of the packet carrying its first DNS
 * byte. "st" is the connection's state over TCP (zone transfers are
 * followed), NULL for a datagram. Nothing is emitted without a whole header.
 */
static void cs__dns_emit(cs__dns_state *st, cs_decode_ctx *ctx, const cs_decode_input *in,
                         size_t start, size_t len, size_t body, uint32_t flags)
{
    cs__dns_out o;
    cs__dns_info info;
    cs_msg_out m;
    char key[CS__DNS_KEY_MAX];
    int klen;

    cs__dns_decode(in->data + start + body, len - body, &o, &info);
    if (!info.header_ok)
        return;
    memset(&m, 0, sizeof(m));
    m.start = start + body;
    m.len = len - body;
    m.flags = flags | (info.malformed ? CS_MSG_MALFORMED : 0);
    m.type.p = (info.flags & 0x8000) ? "response" : "query";
    m.type.len = strlen(m.type.p);
    if (info.question_ok) {
        klen =
            snprintf(key, sizeof(key), "%u %.*s", (unsigned)info.id,
                     info.qname.len ? (int)info.qname.len : 1, info.qname.len ? info.qname.p : ".");
        m.match =
            cs__dns_store(&o, key, (size_t)klen < sizeof(key) ? (size_t)klen : sizeof(key) - 1);
        m.role = (info.flags & 0x8000) ? CS_ROLE_RESP : CS_ROLE_REQ;
        m.pair = "dns";
        if (m.role == CS_ROLE_REQ) {
            m.key = m.match;
            m.flags |= CS_MSG_RETRY; /* a resent query replaces the pending one */
        }
    }
    if ((info.flags & 0x8000) && (info.flags & 15) != 0)
        m.error = cs__dns_rcode_error(info.flags & 15);
    if (st != NULL && (info.flags & 0x8000))
        cs__dns_xfer_track(st, in->dir & 1, &info, &m);
    m.fields = o.kv;
    m.n_fields = o.n_kv;
    cs_decode_emit(ctx, &m);
}

/* ---- TCP framing ------------------------------------------------------ */

/* True if a message of "len" bytes with this header could be DNS. */
static bool cs__dns_plausible(const uint8_t *h, size_t len)
{
    uint16_t flags = cs_rd_be16(h + 2);
    unsigned opcode = (flags >> 11) & 15;
    size_t qd = cs_rd_be16(h + 4);
    size_t rr = (size_t)cs_rd_be16(h + 6) + cs_rd_be16(h + 8) + cs_rd_be16(h + 10);

    if (opcode == 3 || opcode > 6 || (flags & 0x0040) || qd > 16)
        return false;
    return len >= CS__DNS_HEADER + qd * 5 + rr * 11;
}

/* True if p[0..n) is one well-formed DNS message (nothing emitted). */
static bool cs__dns_clean(const uint8_t *p, size_t n)
{
    cs__dns_out o;
    cs__dns_info info;

    if (n < CS__DNS_HEADER || !cs__dns_plausible(p, n))
        return false;
    cs__dns_decode(p, n, &o, &info);
    return info.header_ok && !info.malformed;
}

/*
 * Looks for a message boundary in in->data[off..) after lost bytes: the
 * first offset whose length prefix and header are plausible and whose whole
 * message decodes cleanly. Returns that offset with "*found" set; else the
 * first offset still worth keeping: the earliest plausible candidate whose
 * message is not all there yet (none at EOF), or where the scan stopped.
 */
static size_t cs__dns_resync(const cs_decode_input *in, size_t off, bool *found)
{
    size_t i, limit = in->len - off > CS__DNS_RESYNC_SCAN ? off + CS__DNS_RESYNC_SCAN : in->len;
    size_t keep = SIZE_MAX, tries = 0;

    *found = false;
    for (i = off; i + 2 + CS__DNS_HEADER <= limit; i++) {
        size_t len = cs_rd_be16(in->data + i);

        if (len < CS__DNS_HEADER || !cs__dns_plausible(in->data + i + 2, len))
            continue;
        if (in->len - i - 2 < len) {
            if (keep == SIZE_MAX && !(in->flags & CS_IN_EOF))
                keep = i; /* may prove whole and clean later */
            continue;
        }
        if (cs__dns_clean(in->data + i + 2, len)) {
            *found = true;
            return i;
        }
        if (++tries == CS__DNS_RESYNC_TRIES)
            break; /* bound the work of one call; the bytes before i go */
    }
    if (in->flags & CS_IN_EOF)
        return in->len;
    return keep < i ? keep : i;
}

static size_t cs__dns_parse_stream(cs__dns_state *st, cs_decode_ctx *ctx, cs_decode_input *in)
{
    uint8_t dir = in->dir & 1;
    bool eof = (in->flags & CS_IN_EOF) != 0;
    size_t off = 0;

    if ((in->flags & CS_IN_MIDSTREAM) && !st->started[dir])
        st->resync[dir] = true; /* the flag stays on for the connection */
    st->started[dir] = true;
    while (off < in->len) {
        size_t len, avail = in->len - off;

        if (st->resync[dir]) {
            bool found;

            off = cs__dns_resync(in, off, &found);
            if (!found)
                break;
            st->resync[dir] = false;
            continue;
        }
        if (avail < 2) {
            if (eof)
                off = in->len;
            else
                in->needed = 2;
            break;
        }
        len = cs_rd_be16(in->data + off);
        if (avail - 2 < len) {
            if (eof) {
                cs__dns_emit(st, ctx, in, off, avail, 2, CS_MSG_TRUNCATED);
                off = in->len;
            } else {
                in->needed = 2 + len;
            }
            break;
        }
        cs__dns_emit(st, ctx, in, off, 2 + len, 2, 0);
        off += 2 + len;
    }
    return off;
}

static size_t cs__dns_parse(void *state, cs_decode_ctx *ctx, cs_decode_input *in)
{
    in->needed = 0;
    if (in->flags & CS_IN_DATAGRAM) {
        cs__dns_emit(NULL, ctx, in, 0, in->len, 0, 0);
        return in->len;
    }
    return cs__dns_parse_stream(state, ctx, in);
}

static void cs__dns_gap(void *state, uint8_t dir)
{
    cs__dns_state *st = state;

    st->resync[dir & 1] = true;
}

static void *cs__dns_state_new(const cs_endpoints *flow, const cs_decoder_opts *opts)
{
    return cs_calloc(1, sizeof(cs__dns_state));
}

static void cs__dns_state_free(void *state)
{
    cs__dns_state *st = state;

    if (st != NULL)
        cs_free(st->xfer);
    cs_free(st);
}

/*
 * True if "data[0..len)" may be the start of a TCP-framed query not yet
 * all there: a length prefix of at least a header's worth, then as much of
 * a header as is there being plausible with one question and opcode QUERY
 * (a client may write the prefix in a segment of its own, well before the
 * query: RFC 7766 8 asks it not to, and some do).
 */
static bool cs__dns_partial_frame(const uint8_t *data, size_t len)
{
    uint8_t h[CS__DNS_HEADER] = {0, 0, 0, 0, 0, 1}; /* what is missing: qd 1 */
    size_t want;

    if (len < 2)
        return true;
    want = cs_rd_be16(data);
    if (want < CS__DNS_HEADER || len - 2 >= want)
        return false;
    memcpy(h, data + 2, len - 2 < CS__DNS_HEADER ? len - 2 : CS__DNS_HEADER);
    if (len - 2 >= 6 && cs_rd_be16(h + 4) != 1)
        return false;
    return ((cs_rd_be16(h + 2) >> 11) & 15) == 0 && cs__dns_plausible(h, want);
}

/*
 * Port-less content check, deliberately strict (port 53 is dispatched by
 * port anyway): the bytes must be exactly one clean DNS message with one
 * question and opcode QUERY, either bare (a datagram) or the first TCP
 * frame, whole (other frames may follow it: queries coalesced): YES. Bytes that could still
 * become such a TCP-framed query (a lone length prefix, a header cut
 * short): NEED_MORE, so a connection whose first segment is only the
 * prefix is not given up on. Else NO.
 */
/* True if p[0..n) is one clean query with one question (opcode QUERY). */
static bool cs__dns_clean_query(const uint8_t *p, size_t n)
{
    return n >= CS__DNS_HEADER && cs_rd_be16(p + 4) == 1 && ((cs_rd_be16(p + 2) >> 11) & 15) == 0 &&
           cs__dns_clean(p, n);
}

static cs_probe cs__dns_probe(const uint8_t *data, size_t len, uint8_t dir)
{
    size_t framed = len >= 2 ? cs_rd_be16(data) : 0;

    if (framed >= CS__DNS_HEADER && framed <= len - 2 && cs__dns_clean_query(data + 2, framed))
        return CS_PROBE_YES; /* the first TCP frame; more may follow it (coalesced) */
    if (cs__dns_clean_query(data, len))
        return CS_PROBE_YES;
    return cs__dns_partial_frame(data, len) ? CS_PROBE_NEED_MORE : CS_PROBE_NO;
}

static const uint16_t cs__dns_ports[] = {53, 5353, 0};

static const char *const cs__dns_pairs[] = {"dns", NULL};

const cs_decoder cs_decoder_dns = {
    .pairs = cs__dns_pairs,
    .name = "dns",
    .transports = CS_TRANSPORT_UDP | CS_TRANSPORT_TCP,
    .ports = cs__dns_ports,
    .probe = cs__dns_probe,
    .state_new = cs__dns_state_new,
    .state_free = cs__dns_state_free,
    .parse = cs__dns_parse,
    .gap = cs__dns_gap,
};

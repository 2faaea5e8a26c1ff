/*
 * flowpred.c - a tcpdump filter compiled into a tree that is evaluated over
 * whole flow keys (flowpred.h): the lexer, the parser and the public
 * compile entry points.
 *
 * Design
 * ------
 * compile:  filter text ──► tokens ──► recursive-descent parser ──► tree
 * eval:     tree × cs_flowkey ──► Kleene three-valued result
 *
 * The files of the module, one job each:
 *   flowpred.c        compile: tokens, parser, tree building,
 *                     cs_flowpred_compile / cs_flowpred_free
 *   flowpred_eval.c   eval: the link-layer view of a key, primitives and
 *                     Kleene logic (cs_flowpred_eval), and the key
 *                     summaries (cs_keysum_*, cs_flowpred_may_match)
 *   flowpred_int.h    the tree both share (node, prim, struct cs_flowpred)
 *
 * The parser covers the pcap-filter(7) subset listed in flowpred.h and
 * parses past everything else: a primitive it does not understand (from its
 * first token up to the next and/or, unmatched ')' or the end, nested
 * parentheses included, so "tcp[tcpflags] & (tcp-syn|tcp-ack) != 0" is one
 * primitive) becomes an UNKNOWN leaf. Grammar, as pcap-filter(7) defines it:
 *
 *   expr    := term { ("and" | "&&" | "or" | "||") (term | id) }   equal
 *              precedence, left to right
 *   term    := ("not" | "!") term | "(" expr ")" | primitive
 *   primitive := [proto] [dir] [addr] id | proto-name | "vlan" [num] | unknown
 *   proto   := ip | ip6 | tcp | udp | sctp     (icmp, icmp6 only alone)
 *   dir     := src | dst | src or dst | src and dst
 *   addr    := host | net | port | portrange | proto
 *
 * A bare id after and/or/not takes the qualifiers of the previous primitive
 * ("host a or b", "tcp port 80 or 443"), as in libpcap.
 *
 * Each "vlan" keyword raises the vlan depth recorded in every later
 * primitive, and a keyword after which libpcap shifts offsets we do not
 * model marks them poisoned; flowpred_eval.c says how both are read.
 *
 * Memory: the tree's layout is described in flowpred_int.h; the parser's
 * tokens are freed when cs_flowpred_compile returns. Nesting is limited to
 * MAX_NEST.
 */
#include "store/flowpred.h"

#include "core/alloc.h"
#include "core/error.h"
#include "store/flowpred_int.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdbool.h>
#include <string.h>

#define MAX_NEST 500
#define SHOWN_MAX 80

/* ---- tokens ------------------------------------------------------------------------ */

typedef enum tok_type {
    TK_END,
    TK_WORD,
    TK_LP,
    TK_RP,
    TK_AND,
    TK_OR,
    TK_NOT,
    TK_SLASH,
    TK_OTHER,
} tok_type;

typedef struct token {
    tok_type type;
    const char *s;
    size_t len;
} token;

/* ---- parser state ------------------------------------------------------------------ */

enum { AQ_DEFAULT, AQ_HOST, AQ_NET, AQ_PORT, AQ_PORTRANGE, AQ_PROTO };

/* Qualifiers a bare id inherits from the previous primitive. */
typedef struct qual {
    bool known;
    uint8_t pq, dir, aq;
} qual;

typedef struct parser {
    const char *src;
    token *toks;
    size_t n_toks, cap_toks, pos;
    cs_flowpred *out;
    qual last;
    unsigned vlan_depth;
    bool poisoned;
    unsigned nest;
} parser;

/* ---- errors ------------------------------------------------------------------------ */

static int syntax_error(const parser *ps, const char *what)
{
    return cs_error_set(CS_EFILTER, "bad filter '%.*s': %s", SHOWN_MAX, ps->src, what);
}

static int token_error(const parser *ps, const char *what, const token *t)
{
    if (t->type == TK_END)
        return cs_error_set(CS_EFILTER, "bad filter '%.*s': %s at the end", SHOWN_MAX, ps->src,
                            what);
    return cs_error_set(CS_EFILTER, "bad filter '%.*s': %s at '%.*s'", SHOWN_MAX, ps->src, what,
                        (int)(t->len > 40 ? 40 : t->len), t->s);
}

/* ---- lexer ------------------------------------------------------------------------- */

static bool is_word_char(char c, bool first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    if (c == '_' || c == '.' || c == ':' || c == '\\' || c == '$')
        return true;
    return c == '-' && !first;
}

static bool word_is(const token *t, const char *w)
{
    return t->type == TK_WORD && strlen(w) == t->len && memcmp(t->s, w, t->len) == 0;
}

/* Classifies one token starting at "s" and returns its length. */
static size_t lex_one(const char *s, tok_type *type)
{
    if (is_word_char(s[0], true)) {
        size_t n = 1;
        while (is_word_char(s[n], false))
            n++;
        *type = TK_WORD;
        return n;
    }
    if ((s[0] == '&' && s[1] == '&') || (s[0] == '|' && s[1] == '|')) {
        *type = s[0] == '&' ? TK_AND : TK_OR;
        return 2;
    }
    if (s[0] == '!' && s[1] == '=') {
        *type = TK_OTHER;
        return 2;
    }
    *type = s[0] == '('   ? TK_LP
            : s[0] == ')' ? TK_RP
            : s[0] == '!' ? TK_NOT
            : s[0] == '/' ? TK_SLASH
                          : TK_OTHER;
    return 1;
}

static int push_token(parser *ps, tok_type type, const char *s, size_t len)
{
    if (cs_grow((void **)&ps->toks, &ps->cap_toks, ps->n_toks + 1, sizeof(token)) != 0)
        return CS_ENOMEM;
    token *t = &ps->toks[ps->n_toks++];
    t->type = type;
    t->s = s;
    t->len = len;
    if (word_is(t, "and"))
        t->type = TK_AND;
    else if (word_is(t, "or"))
        t->type = TK_OR;
    else if (word_is(t, "not"))
        t->type = TK_NOT;
    return 0;
}

static int tokenize(parser *ps)
{
    const char *s = ps->src;
    while (*s) {
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
            s++;
            continue;
        }
        tok_type type;
        size_t len = lex_one(s, &type);
        if (push_token(ps, type, s, len) != 0)
            return CS_ENOMEM;
        s += len;
    }
    return push_token(ps, TK_END, s, 0);
}

static const token *peek(const parser *ps, size_t ahead)
{
    size_t i = ps->pos + ahead;
    return &ps->toks[i < ps->n_toks ? i : ps->n_toks - 1];
}

static bool at_boundary(const parser *ps)
{
    tok_type t = peek(ps, 0)->type;
    return t == TK_END || t == TK_AND || t == TK_OR || t == TK_RP;
}

/* ---- keywords ---------------------------------------------------------------------- */

/* libpcap keywords that start a primitive we do not model; a word from this
 * list is never taken as a bare id. */
static const char *const other_keywords[] = {
    "gateway",    "less",       "greater",   "byte",      "broadcast",  "multicast",   "len",
    "inbound",    "outbound",   "ifindex",   "mpls",      "pppoed",     "pppoes",      "geneve",
    "vxlan",      "lane",       "llc",       "metac",     "bcc",        "oam",         "oamf4",
    "oamf4ec",    "oamf4sc",    "sc",        "ilmic",     "connectmsg", "metaconnect", "on",
    "ifname",     "rnr",        "rulenum",   "reason",    "rset",       "ruleset",     "srnr",
    "subrulenum", "action",     "fisu",      "lssu",      "lsu",        "msu",         "hfisu",
    "hlssu",      "hmsu",       "sio",       "opc",       "dpc",        "sls",         "hsio",
    "hopc",       "hdpc",       "hsls",      "ether",     "fddi",       "tr",          "wlan",
    "ppp",        "slip",       "link",      "arp",       "rarp",       "igmp",        "igrp",
    "pim",        "vrrp",       "carp",      "radio",     "ah",         "esp",         "atalk",
    "aarp",       "decnet",     "lat",       "sca",       "moprc",      "mopdl",       "iso",
    "esis",       "es-is",      "isis",      "is-is",     "l1",         "l2",          "iih",
    "lsp",        "snp",        "csnp",      "psnp",      "clnp",       "stp",         "ipx",
    "netbeui",    "type",       "subtype",   "direction", "dir",        "address1",    "addr1",
    "address2",   "addr2",      "address3",  "addr3",     "address4",   "addr4",       "ra",
    "ta",         "protochain", "mask",      "icmp6",     "icmp",       "vlan",        "ip",
    "ip6",        "tcp",        "udp",       "sctp",      "src",        "dst",         "host",
    "net",        "port",       "portrange", "proto",
};

/* Keywords after which libpcap reads later primitives at shifted offsets we
 * do not track. */
static const char *const poison_keywords[] = {"mpls", "pppoes", "geneve", "vxlan", "lane", "vlan"};

static bool word_in(const token *t, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (word_is(t, list[i]))
            return true;
    }
    return false;
}

static bool is_keyword(const token *t)
{
    return word_in(t, other_keywords, sizeof(other_keywords) / sizeof(other_keywords[0]));
}

static int pname_of(const token *t)
{
    static const char *const names[] = {"ip", "ip6", "tcp", "udp", "sctp"};
    static const int pqs[] = {PQ_IP, PQ_IP6, PQ_TCP, PQ_UDP, PQ_SCTP};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (word_is(t, names[i]))
            return pqs[i];
    }
    return -1;
}

static bool is_qualifier(const token *t)
{
    static const char *const q[] = {"src", "dst", "host", "net", "port", "portrange", "proto"};
    return word_in(t, q, sizeof(q) / sizeof(q[0]));
}

/* ---- tree building ----------------------------------------------------------------- */

static int add_node(parser *ps, const node *n, uint32_t *index)
{
    cs_flowpred *p = ps->out;
    if (cs_grow((void **)&p->nodes, &p->cap_nodes, p->n_nodes + 1, sizeof(node)) != 0)
        return CS_ENOMEM;
    p->nodes[p->n_nodes] = *n;
    *index = (uint32_t)p->n_nodes++;
    return 0;
}

static int add_prim(parser *ps, const prim *pr, uint32_t *index)
{
    node n;
    memset(&n, 0, sizeof(n));
    n.kind = N_PRIM;
    n.p = *pr;
    n.p.depth = (uint8_t)(ps->vlan_depth > 255 ? 255 : ps->vlan_depth);
    n.p.poisoned = ps->poisoned;
    return add_node(ps, &n, index);
}

/* Adds an operator node over "count" children listed in "kids". */
static int add_op(parser *ps, int kind, const uint32_t *kids, size_t count, uint32_t *index)
{
    cs_flowpred *p = ps->out;
    if (cs_grow((void **)&p->kids, &p->cap_kids, p->n_kids + count, sizeof(uint32_t)) != 0)
        return CS_ENOMEM;
    node n;
    memset(&n, 0, sizeof(n));
    n.kind = (uint8_t)kind;
    n.first = (uint32_t)p->n_kids;
    n.count = (uint32_t)count;
    memcpy(p->kids + p->n_kids, kids, count * sizeof(uint32_t));
    p->n_kids += count;
    return add_node(ps, &n, index);
}

/* ---- literals ---------------------------------------------------------------------- */

/* Parses a libpcap NUM (decimal, 0x hex, 0-prefixed octal) into "*v". */
static bool parse_num(const token *t, uint32_t *v)
{
    const char *s = t->s;
    size_t n = t->len, i = 0;
    unsigned base = 10;
    uint64_t acc = 0;
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        i = 2;
    } else if (n > 1 && s[0] == '0') {
        base = 8;
        i = 1;
    }
    if (i == n)
        return false;
    for (; i < n; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 99;
        if (d >= base)
            return false;
        acc = acc * base + d;
        if (acc > UINT32_MAX)
            return false;
    }
    *v = (uint32_t)acc;
    return true;
}

/* Parses a dotted "a[.b[.c[.d]]]" (decimal parts <= 255) like libpcap's
 * __pcap_atoin: value in the low bits, "*bits" = 8 per part. */
static bool parse_dotted(const token *t, uint32_t *v, unsigned *bits)
{
    uint32_t acc = 0, part = 0;
    unsigned parts = 0, digits = 0;
    for (size_t i = 0; i <= t->len; i++) {
        char c = i < t->len ? t->s[i] : '.';
        if (c >= '0' && c <= '9') {
            part = part * 10 + (uint32_t)(c - '0');
            if (part > 255 || ++digits > 3)
                return false;
            continue;
        }
        if (c != '.' || digits == 0 || parts == 4)
            return false;
        acc = acc << 8 | part;
        parts++;
        part = 0;
        digits = 0;
    }
    *v = acc;
    *bits = parts * 8;
    return true;
}

static bool has_char(const token *t, char c)
{
    return memchr(t->s, c, t->len) != NULL;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- primitives -------------------------------------------------------------------- */

/* True when a "/len" or "mask m" tail follows (with its word). */
static bool has_mask_tail(const parser *ps)
{
    const token *t = peek(ps, 0);
    return (t->type == TK_SLASH || word_is(t, "mask")) && peek(ps, 1)->type == TK_WORD;
}

/* Skips the "/len" or "mask m" tail of an address we do not model. */
static void skip_mask_tail(parser *ps)
{
    if (has_mask_tail(ps))
        ps->pos += 2;
}

/*
 * Consumes an unknown primitive: every token up to the next and/or or
 * unmatched ')' at nesting level 0, or the end. Words that shift libpcap's
 * offsets poison every later primitive.
 */
static int parse_unknown(parser *ps, uint32_t *index)
{
    unsigned depth = 0;
    bool poison = false;
    for (;;) {
        const token *t = peek(ps, 0);
        if (t->type == TK_END)
            break;
        if (depth == 0 && (t->type == TK_AND || t->type == TK_OR || t->type == TK_RP))
            break;
        if (t->type == TK_LP)
            depth++;
        else if (t->type == TK_RP)
            depth--;
        poison |= word_in(t, poison_keywords, sizeof(poison_keywords) / sizeof(poison_keywords[0]));
        ps->pos++;
    }
    if (depth != 0)
        return syntax_error(ps, "unbalanced parentheses");
    prim pr;
    memset(&pr, 0, sizeof(pr));
    pr.type = PR_UNKNOWN;
    int rc = add_prim(ps, &pr, index);
    ps->poisoned |= poison;
    ps->last.known = false;
    return rc;
}

/* Reads "addr[/len | mask m]" for host/net. Sets pr->type to PR_HOST, or
 * leaves PR_UNKNOWN for names and forms we do not model. */
static void parse_ipv4_id(parser *ps, const token *id, uint8_t aq, prim *pr)
{
    uint32_t v, m = 0xffffffffu;
    unsigned bits = 32;
    bool dotted = has_char(id, '.');
    if (dotted ? !parse_dotted(id, &v, &bits) : !parse_num(id, &v))
        return;
    if (has_mask_tail(ps)) {
        bool slash = peek(ps, 0)->type == TK_SLASH;
        const token *arg = peek(ps, 1);
        uint32_t mv;
        unsigned mbits = 32;
        ps->pos += 2;
        if (!dotted)
            bits = v > 0xffffff ? 32 : v > 0xffff ? 24 : v > 0xff ? 16 : 8;
        if (bits < 32)
            v <<= 32 - bits;
        if (slash ? !parse_num(arg, &mv) || mv > 32 : !parse_dotted(arg, &mv, &mbits))
            return;
        m = slash ? (mv == 0 ? 0 : 0xffffffffu << (32 - mv)) : mv << (32 - mbits);
    } else if (!dotted && aq == AQ_NET) {
        while (v && (v & 0xff000000u) == 0) { /* libpcap: "promote short net number" */
            v <<= 8;
            m <<= 8;
        }
    } else if (bits < 32) {
        v <<= 32 - bits;
        m <<= 32 - bits;
    }
    if (v & ~m)
        return; /* libpcap rejects non-network bits */
    pr->type = PR_HOST;
    pr->family = 4;
    put_be32(pr->addr, v);
    put_be32(pr->mask, m);
}

static void parse_ipv6_id(parser *ps, const token *id, prim *pr)
{
    char text[64];
    unsigned len = 128;
    if (id->len >= sizeof(text))
        return;
    memcpy(text, id->s, id->len);
    text[id->len] = '\0';
    uint8_t a[16];
    if (inet_pton(AF_INET6, text, a) != 1)
        return;
    if (peek(ps, 0)->type == TK_SLASH && peek(ps, 1)->type == TK_WORD) {
        uint32_t l;
        const token *arg = peek(ps, 1);
        ps->pos += 2;
        if (!parse_num(arg, &l) || l > 128)
            return;
        len = l;
    }
    memset(pr->mask, 0, 16);
    for (unsigned i = 0; i < 16; i++) {
        unsigned b = len > i * 8 ? len - i * 8 : 0;
        pr->mask[i] = (uint8_t)(b >= 8 ? 0xff : (0xff00 >> b) & 0xff);
        if (a[i] & ~pr->mask[i])
            return;
        pr->addr[i] = a[i];
    }
    pr->type = PR_HOST;
    pr->family = 6;
}

static void parse_addr_id(parser *ps, const qual *q, const token *id, prim *pr)
{
    bool six = has_char(id, ':');
    pr->dir = q->dir;
    pr->pq = q->pq;
    if (six)
        parse_ipv6_id(ps, id, pr);
    else if (id->s[0] >= '0' && id->s[0] <= '9')
        parse_ipv4_id(ps, id, q->aq, pr);
    else
        skip_mask_tail(ps); /* a host name: not resolved */
    if (pr->type != PR_HOST)
        return;
    bool pq_ok = q->pq == PQ_DEFAULT || q->pq == (pr->family == 4 ? PQ_IP : PQ_IP6);
    if (!pq_ok || (q->aq == AQ_HOST && !six && has_char(id, '/')))
        pr->type = PR_UNKNOWN;
}

/* Is "name" a service libpcap could resolve (tcp or udp)? */
static bool service_known(const token *id)
{
    char name[64], buf[1024];
    struct servent se, *res = NULL;
    if (id->len >= sizeof(name))
        return false;
    memcpy(name, id->s, id->len);
    name[id->len] = '\0';
    const char *n = name[0] == '\\' ? name + 1 : name;
    if (getservbyname_r(n, "tcp", &se, buf, sizeof(buf), &res) == 0 && res)
        return true;
    return getservbyname_r(n, "udp", &se, buf, sizeof(buf), &res) == 0 && res;
}

static int parse_port_id(parser *ps, const qual *q, const token *id, prim *pr)
{
    uint32_t lo, hi;
    bool pq_ok = q->pq == PQ_DEFAULT || q->pq == PQ_TCP || q->pq == PQ_UDP || q->pq == PQ_SCTP;
    const char *dash = memchr(id->s, '-', id->len);
    if (q->aq == AQ_PORTRANGE && dash) {
        token a = {TK_WORD, id->s, (size_t)(dash - id->s)};
        token b = {TK_WORD, dash + 1, id->len - a.len - 1};
        if (!parse_num(&a, &lo) || !parse_num(&b, &hi))
            return 0; /* service names in a range: not modelled */
    } else if (parse_num(id, &lo)) {
        hi = lo;
    } else {
        if (!service_known(id))
            return token_error(ps, "unknown port", id);
        return 0;
    }
    if (lo > 65535 || hi > 65535)
        return token_error(ps, "port number out of range", id);
    if (!pq_ok)
        return 0;
    pr->type = PR_PORT;
    pr->dir = q->dir;
    pr->pq = q->pq;
    pr->lo = (uint16_t)(lo < hi ? lo : hi);
    pr->hi = (uint16_t)(lo < hi ? hi : lo);
    return 0;
}

static void parse_proto_id(const qual *q, const token *id, prim *pr)
{
    static const char *const names[] = {"\\tcp", "\\udp", "\\icmp", "\\sctp"};
    static const uint8_t nums[] = {6, 17, 1, 132};
    uint32_t v = 256;
    if (!parse_num(id, &v)) {
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (word_is(id, names[i]))
                v = nums[i];
        }
    }
    if (v > 255 || q->dir != DIR_SRC_OR_DST)
        return;
    if (q->pq != PQ_DEFAULT && q->pq != PQ_IP && q->pq != PQ_IP6)
        return;
    pr->type = PR_PROTO;
    pr->proto = (uint8_t)v;
    pr->versions = q->pq == PQ_IP ? VER4 : q->pq == PQ_IP6 ? VER6 : VER4 | VER6;
}

/* Parses the id of a primitive with qualifiers "q" (explicit or inherited). */
static int parse_id(parser *ps, const qual *q, uint32_t *index)
{
    const token *id = peek(ps, 0);
    prim pr;
    int rc = 0;
    if (id->type != TK_WORD || is_keyword(id))
        return token_error(ps, "expected an address, port or number", id);
    ps->pos++;
    memset(&pr, 0, sizeof(pr));
    pr.type = PR_UNKNOWN;
    if (!q->known)
        skip_mask_tail(ps);
    else if (q->aq == AQ_PORT || q->aq == AQ_PORTRANGE)
        rc = parse_port_id(ps, q, id, &pr);
    else if (q->aq == AQ_PROTO)
        parse_proto_id(q, id, &pr);
    else
        parse_addr_id(ps, q, id, &pr);
    if (rc != 0)
        return rc;
    if (!at_boundary(ps)) /* something we do not model follows: give up on it */
        return parse_unknown(ps, index);
    return add_prim(ps, &pr, index);
}

/* Reads [src|dst|src or dst|src and dst] into "*dir". */
static void parse_dir(parser *ps, uint8_t *dir)
{
    const token *t = peek(ps, 0);
    bool src = word_is(t, "src");
    if (!src && !word_is(t, "dst"))
        return;
    ps->pos++;
    *dir = src ? DIR_SRC : DIR_DST;
    const token *op = peek(ps, 0);
    if ((op->type == TK_AND || op->type == TK_OR) && word_is(peek(ps, 1), src ? "dst" : "src")) {
        ps->pos += 2;
        *dir = op->type == TK_AND ? DIR_SRC_AND_DST : DIR_SRC_OR_DST;
    }
}

static bool parse_aq(parser *ps, uint8_t *aq)
{
    static const char *const names[] = {"host", "net", "port", "portrange", "proto"};
    static const uint8_t aqs[] = {AQ_HOST, AQ_NET, AQ_PORT, AQ_PORTRANGE, AQ_PROTO};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (word_is(peek(ps, 0), names[i])) {
            ps->pos++;
            *aq = aqs[i];
            return true;
        }
    }
    return false;
}

/* [proto] [dir] [addr] id, with the tokens of "proto" already consumed. */
static int parse_head(parser *ps, uint8_t pq, size_t start, uint32_t *index)
{
    qual q = {.known = true, .pq = pq, .dir = DIR_SRC_OR_DST, .aq = AQ_DEFAULT};
    parse_dir(ps, &q.dir);
    parse_aq(ps, &q.aq);
    const token *t = peek(ps, 0);
    if (t->type == TK_WORD && is_keyword(t) && !word_is(t, "mask")) {
        ps->pos = start; /* e.g. "ip multicast", "src gateway": not modelled */
        return parse_unknown(ps, index);
    }
    if (t->type != TK_WORD)
        return token_error(ps, "expected an address, port or number", t);
    ps->last = q;
    return parse_id(ps, &q, index);
}

static int parse_vlan(parser *ps, uint32_t *index)
{
    size_t start = ps->pos;
    prim pr;
    uint32_t id;
    memset(&pr, 0, sizeof(pr));
    pr.type = PR_VLAN;
    ps->pos++;
    const token *t = peek(ps, 0);
    if (t->type == TK_WORD && parse_num(t, &id) && id <= 4095) {
        pr.lo = (uint16_t)id;
        pr.hi = 1;
        ps->pos++;
    }
    ps->last.known = false;
    if (!at_boundary(ps)) {
        ps->pos = start;
        return parse_unknown(ps, index); /* poisons: contains "vlan" */
    }
    int rc = add_prim(ps, &pr, index);
    ps->vlan_depth++;
    return rc;
}

/* ip, ip6, tcp, udp, sctp, icmp, icmp6 alone. */
static int parse_pname(parser *ps, const token *t, uint32_t *index)
{
    prim pr;
    memset(&pr, 0, sizeof(pr));
    ps->pos++;
    ps->last.known = false;
    if (word_is(t, "ip") || word_is(t, "ip6")) {
        pr.type = PR_LINK;
        pr.versions = word_is(t, "ip") ? VER4 : VER6;
    } else {
        pr.type = PR_PROTO;
        pr.versions = word_is(t, "icmp") ? VER4 : word_is(t, "icmp6") ? VER6 : VER4 | VER6;
        pr.proto = word_is(t, "tcp")    ? 6
                   : word_is(t, "udp")  ? 17
                   : word_is(t, "sctp") ? 132
                   : word_is(t, "icmp") ? 1
                                        : 58;
    }
    return add_prim(ps, &pr, index);
}

static bool is_pname_alone(const parser *ps, const token *t)
{
    static const char *const names[] = {"ip", "ip6", "tcp", "udp", "sctp", "icmp", "icmp6"};
    if (!word_in(t, names, sizeof(names) / sizeof(names[0])))
        return false;
    tok_type n = peek(ps, 1)->type;
    return n == TK_END || n == TK_AND || n == TK_OR || n == TK_RP;
}

static int parse_primitive(parser *ps, uint32_t *index)
{
    const token *t = peek(ps, 0);
    size_t start = ps->pos;
    int pq = pname_of(t);
    if (pq >= 0 && is_qualifier(peek(ps, 1))) {
        ps->pos++;
        return parse_head(ps, (uint8_t)pq, start, index);
    }
    if (is_pname_alone(ps, t))
        return parse_pname(ps, t, index);
    if (is_qualifier(t))
        return parse_head(ps, PQ_DEFAULT, start, index);
    if (word_is(t, "vlan"))
        return parse_vlan(ps, index);
    const token *next = peek(ps, 1);
    bool id_like = next->type == TK_END || next->type == TK_AND || next->type == TK_OR ||
                   next->type == TK_RP || next->type == TK_SLASH || word_is(next, "mask");
    if (t->type == TK_WORD && !is_keyword(t) && id_like)
        return parse_id(ps, &ps->last, index); /* bare id: inherited qualifiers */
    return parse_unknown(ps, index);
}

/* ---- expressions ------------------------------------------------------------------- */

static int parse_expr(parser *ps, uint32_t *index);

/* True when the '(' at the cursor opens arithmetic ("(tcp[13] & 2) != 0"):
 * the token after its matching ')' is an operator. */
static bool paren_is_arith(const parser *ps)
{
    unsigned depth = 0;
    for (size_t i = ps->pos; i < ps->n_toks; i++) {
        tok_type t = ps->toks[i].type;
        if (t == TK_LP)
            depth++;
        else if (t == TK_RP && --depth == 0) {
            tok_type after = i + 1 < ps->n_toks ? ps->toks[i + 1].type : TK_END;
            return after == TK_OTHER || after == TK_SLASH;
        }
    }
    return false;
}

static int parse_term(parser *ps, uint32_t *index)
{
    const token *t = peek(ps, 0);
    int rc;
    uint32_t kid;
    if (ps->nest >= MAX_NEST)
        return syntax_error(ps, "nested too deeply");
    switch (t->type) {
    case TK_NOT:
        ps->pos++;
        ps->nest++;
        rc = parse_term(ps, &kid);
        ps->nest--;
        return rc ? rc : add_op(ps, N_NOT, &kid, 1, index);
    case TK_LP:
        if (paren_is_arith(ps))
            return parse_unknown(ps, index);
        ps->pos++;
        ps->nest++;
        rc = parse_expr(ps, index);
        ps->nest--;
        if (rc)
            return rc;
        if (peek(ps, 0)->type != TK_RP)
            return token_error(ps, "expected ')'", peek(ps, 0));
        ps->pos++;
        return 0;
    case TK_END:
    case TK_AND:
    case TK_OR:
    case TK_RP:
        return token_error(ps, "expected a primitive", t);
    default:
        return parse_primitive(ps, index);
    }
}

/*
 * and/or have equal precedence and group left to right; a run of one
 * operator becomes one n-ary node, and each change of operator wraps the
 * run so far as the first child of the next run.
 */
static int parse_expr(parser *ps, uint32_t *index)
{
    uint32_t *run = NULL;
    size_t n_run = 0, cap_run = 0;
    unsigned alternations = 0;
    int op = -1, rc;
    uint32_t kid;

    rc = parse_term(ps, &kid);
    while (rc == 0) {
        if (cs_grow((void **)&run, &cap_run, n_run + 1, sizeof(uint32_t)) != 0) {
            rc = CS_ENOMEM;
            break;
        }
        run[n_run++] = kid;
        tok_type t = peek(ps, 0)->type;
        if (t != TK_AND && t != TK_OR)
            break;
        int next_op = t == TK_AND ? N_AND : N_OR;
        if (op != -1 && next_op != op) {
            if (++alternations + ps->nest >= MAX_NEST) {
                rc = syntax_error(ps, "nested too deeply");
                break;
            }
            rc = add_op(ps, op, run, n_run, &run[0]);
            n_run = 1;
            if (rc)
                break;
        }
        op = next_op;
        ps->pos++;
        rc = parse_term(ps, &kid);
    }
    if (rc == 0)
        rc = n_run == 1 ? (*index = run[0], 0) : add_op(ps, op, run, n_run, index);
    cs_free(run);
    return rc;
}

/* ---- public API: compile ----------------------------------------------------------- */

static int compile_into(parser *ps, cs_flowpred *p)
{
    int rc = tokenize(ps);
    if (rc)
        return rc;
    if (ps->toks[0].type == TK_END) {
        node n;
        memset(&n, 0, sizeof(n));
        n.kind = N_TRUE;
        return add_node(ps, &n, &p->root);
    }
    rc = parse_expr(ps, &p->root);
    if (rc)
        return rc;
    if (peek(ps, 0)->type != TK_END)
        return token_error(ps, peek(ps, 0)->type == TK_RP ? "unbalanced ')'" : "unexpected token",
                           peek(ps, 0));
    return 0;
}

int cs_flowpred_compile(const char *filter, cs_flowpred **out)
{
    parser ps;
    int rc;
    cs_flowpred *p = cs_calloc(1, sizeof(*p));

    *out = NULL;
    if (!p)
        return CS_ENOMEM;
    memset(&ps, 0, sizeof(ps));
    ps.src = filter ? filter : "";
    ps.out = p;
    ps.last.known = true; /* a leading bare id reads as "host id" */
    rc = compile_into(&ps, p);
    cs_free(ps.toks);
    if (rc) {
        cs_flowpred_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void cs_flowpred_free(cs_flowpred *p)
{
    if (!p)
        return;
    cs_free(p->nodes);
    cs_free(p->kids);
    cs_free(p);
}

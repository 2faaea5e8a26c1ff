/*
 * http.c - HTTP/1.x decoder: finds request and response messages in the two
 * byte streams of a TCP connection and frames their bodies (RFC 9112).
 *
 * Wire format (RFC 9112 section 2.1), lines end in CRLF or a bare LF:
 *
 *   request-line   METHOD SP request-target SP HTTP/1.x      (dir 0)
 *   status-line    HTTP/1.x SP 3DIGIT [SP reason]           (dir 1)
 *   *( field-name ":" OWS field-value OWS )
 *   empty line
 *   [ body ]  framed by, in this order of precedence:
 *     - responses: none for 1xx, 204, 304 and answers to HEAD; 101 and a
 *       2xx to CONNECT turn the connection into a tunnel (decoding stops);
 *     - Transfer-Encoding whose last coding is "chunked":
 *         chunk-size(hex) [;ext] CRLF data CRLF ... 0 [;ext] CRLF
 *         *(trailer-field CRLF) CRLF
 *       (a response with another last coding: until the connection closes);
 *     - Content-Length;
 *     - otherwise: requests have none, responses last until close (EOF).
 *
 * What a message covers (its [start, start + len) in in.data, and so its
 * "len" and the first-byte timestamp the flow layer derives): the start
 * line and the header block, up to and including the empty line. The
 * message is emitted as soon as the header block is complete; the body is
 * then consumed as it arrives. This keeps the memory bounded (a body is
 * never held unconsumed, only a header block of at most CS__HTTP_MAX_HEAD
 * bytes) while the first byte, which the latency pairing uses, stays
 * exact. A message with a body is emitted as CS_PART_HEAD, and every body
 * byte consumed (Content-Length data; chunk-size lines, chunk data, their
 * CRLFs and the trailer; a body until close) is passed on as a
 * CS_PART_BODY part, the last as CS_PART_END (decoder.h), so the flow
 * layer gives the message the packets of its whole body too. The body
 * ends where its framing says, at EOF, or at bad chunk framing. Problems
 * found later in the body (a bad chunk size) cannot be flagged on the
 * message any more; they only resynchronise.
 *
 * Fields, in order: requests "method", "uri", "version"; responses
 * "version", "status", "reason"; then every header as "h.<lowercased name>"
 * with its value trimmed of OWS (obs-fold continuation lines are skipped);
 * then "body_len": the declared Content-Length, "chunked", "close" (until
 * the connection closes), "0" (no body) or "unknown" (bad Content-Length).
 * Requests are CS_ROLE_REQ with pair "http" and key "METHOD URI" (the
 * request-target exactly as on the wire); final responses (status >= 200,
 * and 101) are CS_ROLE_RESP; interim 1xx responses are CS_ROLE_NONE. Match
 * is empty: the flow layer pairs HTTP first-in first-out per connection.
 *
 * Which kind a message is depends on its start line ("HTTP/1." = response),
 * not on the direction. The methods of the requests that still await their
 * response are queued (pipelining, up to CS__HTTP_MAX_PENDING) so that the
 * response to HEAD has no body and a 2xx to CONNECT starts a tunnel.
 *
 * Resynchronisation: after gap() (an unknown number of bytes was lost), on a
 * connection picked up mid-stream (CS_IN_MIDSTREAM on the first call), after
 * garbage where a start line should be, an absurd or contradictory
 * Content-Length (flagged CS_MSG_MALFORMED) or a bad chunk, the direction
 * discards whole lines until one looks like a start line (a request line
 * whose method is a token of uppercase letters, digits, '_' or '-', or an
 * "HTTP/1." status line; either kind is accepted in either direction). A
 * start line glued to the end of other bytes (a body that ended without a
 * newline, as after a capture hole in bro.org.pcap) is found inside the line
 * too (find_embedded_start). A gap inside a body delimited by the
 * connection's close keeps that body going.
 *
 * Leniency: bare LF line ends, any case in header names, runs of spaces in
 * the start line. At a message boundary of the client's stream, a request
 * line missing its target or version ("OPTIONS", "GET /x", "GET / HTTP/1.")
 * is still a request, flagged CS_MSG_MALFORMED, since the server answers it
 * and the FIFO pairing needs it (zeek's methods.pcap); such lines are not
 * accepted while resynchronising. A header line without a colon is skipped
 * and flags the message CS_MSG_MALFORMED.
 *
 * State: one cs__http_state per connection (both directions), small and
 * fixed size. Field names are lowercased into a thread-local scratch area
 * that lives only for the cs_decode_emit() call; field values point into
 * in.data. No allocation happens in parse().
 */
#include "decode/http/http.h"

#include "core/alloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define CS__HTTP_MAX_HEAD (64u * 1024u) /* start line + headers, kept until complete */
#define CS__HTTP_MAX_LINE 8192u         /* chunk-size and trailer lines */
#define CS__HTTP_MAX_FIELDS 128u
#define CS__HTTP_NAMES_BYTES 8192u
#define CS__HTTP_MAX_PENDING 64u              /* requests awaiting a response */
#define CS__HTTP_MAX_BODY ((uint64_t)1 << 48) /* larger Content-Length: absurd */

typedef enum cs__http_phase {
    PH_HEAD = 0,   /* expecting a start line + header block */
    PH_SEEK,       /* resynchronising: skipping lines until a start line */
    PH_BODY_LEN,   /* "remaining" body bytes (Content-Length) */
    PH_BODY_CLOSE, /* body until the connection closes */
    PH_CHUNK_SIZE, /* expecting a chunk-size line */
    PH_CHUNK_DATA, /* "remaining" bytes of chunk data */
    PH_CHUNK_END,  /* expecting the CRLF after chunk data */
    PH_TRAILER,    /* trailer fields until an empty line */
} cs__http_phase;

typedef enum cs__http_method_kind {
    MK_OTHER = 0,
    MK_HEAD,
    MK_CONNECT,
} cs__http_method_kind;

typedef struct cs__http_dir {
    uint8_t phase;      /* cs__http_phase */
    bool started;       /* parse() was called on this direction */
    bool at_line_start; /* PH_SEEK: the next byte starts a line */
    size_t scanned;     /* bytes at the unconsumed start already searched */
    uint64_t remaining; /* PH_BODY_LEN, PH_CHUNK_DATA */
} cs__http_dir;

typedef struct cs__http_state {
    cs__http_dir dir[2];
    uint8_t pending[CS__HTTP_MAX_PENDING]; /* ring of cs__http_method_kind */
    unsigned pending_head, pending_count;
    bool tunnel; /* CONNECT 2xx or 101: nothing more to decode */
} cs__http_state;

/* The header block being parsed, and what decides its framing. */
typedef struct cs__http_head {
    const uint8_t *p; /* the block, from the start line to the empty line */
    size_t len;
    bool is_response;
    cs_str method, uri, version, status, reason;
    unsigned status_code;
    bool te_present, te_chunked;
    bool cl_present, cl_bad;
    uint64_t cl;
    cs_str cl_text;
    uint32_t flags;
} cs__http_head;

/* Per-thread scratch for one emit: lowercased names, the key, the fields. */
typedef struct cs__http_scratch {
    cs_kv fields[CS__HTTP_MAX_FIELDS + 8];
    size_t n_fields;
    char names[CS__HTTP_NAMES_BYTES];
    size_t names_used;
    char key[CS__HTTP_MAX_HEAD + 2];
} cs__http_scratch;

static _Thread_local cs__http_scratch http_scratch;

static const uint16_t http_ports[] = {80, 8080, 8000, 8008, 8888, 3128, 0};

/* ---------------------------------------------------------------- text helpers */

static bool is_method_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static cs_str mkstr(const uint8_t *p, size_t len)
{
    cs_str s = {(const char *)p, len};
    return s;
}

static cs_str cstr(const char *s)
{
    cs_str r = {s, strlen(s)};
    return r;
}

static cs_str trim(const uint8_t *p, size_t len)
{
    while (len > 0 && is_ws(p[0])) {
        p++;
        len--;
    }
    while (len > 0 && (is_ws(p[len - 1]) || p[len - 1] == '\r'))
        len--;
    return mkstr(p, len);
}

static bool str_ieq(cs_str s, const char *lit)
{
    size_t n = strlen(lit), i;

    if (s.len != n)
        return false;
    for (i = 0; i < n; i++) {
        char c = s.p[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return false;
    }
    return true;
}

static bool str_eq(cs_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

/* Length of the line at "p" (up to "n" bytes) without its LF, or SIZE_MAX
 * if no LF is found. */
static size_t line_len(const uint8_t *p, size_t n)
{
    const uint8_t *lf = memchr(p, '\n', n);
    return lf ? (size_t)(lf - p) : SIZE_MAX;
}

/* ---------------------------------------------------------------- start lines */

/* "HTTP/1.x" exactly, x a digit. */
static bool is_version(const uint8_t *p, size_t n)
{
    return n == 8 && memcmp(p, "HTTP/1.", 7) == 0 && p[7] >= '0' && p[7] <= '9';
}

static bool is_letters(const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!((p[i] >= 'A' && p[i] <= 'Z') || p[i] == '_' || p[i] == '-'))
            return false;
    return true;
}

/*
 * Parses "METHOD SP+ target SP+ HTTP/1.x [ws] [CR]" (a line without its LF).
 * With "lenient" (at a message boundary of the client's stream), a line that
 * lacks its version, or its target and version, or has a bad version
 * ("OPTIONS", "GET /x", "GET / HTTP/1."), is accepted too, flagged CS_MSG_MALFORMED: the client did
 * send it and the server answers it (with a 400), so the FIFO pairing needs it. Its method must
 * then be at least 3 letters.
 */
static bool parse_request_line(const uint8_t *p, size_t n, cs__http_head *h, bool lenient)
{
    size_t i = 0, m_end, t_start, t_end, v_start;
    cs_str line = trim(p, n);

    p = (const uint8_t *)line.p;
    n = line.len;
    while (i < n && is_method_char(p[i]))
        i++;
    m_end = i;
    if (m_end == 0 || (i < n && p[i] != ' '))
        return false;
    while (i < n && p[i] == ' ')
        i++;
    t_start = i;
    while (i < n && p[i] > ' ' && p[i] != 0x7f)
        i++;
    t_end = i;
    if (i < n && p[i] != ' ')
        return false;
    while (i < n && p[i] == ' ')
        i++;
    v_start = i;
    h->is_response = false;
    h->method = mkstr(p, m_end);
    h->uri = mkstr(p + t_start, t_end - t_start);
    h->version = mkstr(p + v_start, n - v_start);
    if (t_end > t_start && is_version(p + v_start, n - v_start))
        return true;
    if (!lenient || m_end < 3 || !is_letters(p, m_end))
        return false;
    if (v_start != n && (n - v_start < 5 || memcmp(p + v_start, "HTTP/", 5) != 0))
        return false;
    h->flags |= CS_MSG_MALFORMED;
    return true;
}

/* Parses "HTTP/1.x SP+ 3DIGIT [SP reason] [CR]" (line without its LF). */
static bool parse_status_line(const uint8_t *p, size_t n, cs__http_head *h)
{
    size_t i = 8;
    cs_str line = trim(p, n);

    p = (const uint8_t *)line.p;
    n = line.len;
    if (n < 12 || !is_version(p, 8) || p[8] != ' ')
        return false;
    while (i < n && p[i] == ' ')
        i++;
    if (n - i < 3 || p[i] < '1' || p[i] > '9' || p[i + 1] < '0' || p[i + 1] > '9' ||
        p[i + 2] < '0' || p[i + 2] > '9')
        return false;
    if (n - i > 3 && !is_ws(p[i + 3]))
        return false;
    h->is_response = true;
    h->version = mkstr(p, 8);
    h->status = mkstr(p + i, 3);
    h->status_code = (unsigned)((p[i] - '0') * 100 + (p[i + 1] - '0') * 10 + (p[i + 2] - '0'));
    h->reason = trim(p + i + 3, n - i - 3);
    return true;
}

static bool parse_start_line(const uint8_t *p, size_t n, cs__http_head *h, bool lenient)
{
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
        return parse_status_line(p, n, h);
    return parse_request_line(p, n, h, lenient);
}

/* Could the "n" bytes at "p" (a line's start, maybe partial) begin a start
 * line? Lets garbage be skipped without waiting for its line to end. */
static bool start_plausible(const uint8_t *p, size_t n)
{
    static const char ver[] = "HTTP/1.";
    size_t i, k = n < 7 ? n : 7;

    if (n == 0)
        return true;
    if (memcmp(p, ver, k) == 0)
        return true;
    for (i = 0; i < n && is_method_char(p[i]); i++)
        ;
    return i > 0 && (i == n || p[i] == ' ' || p[i] == '\r' || p[i] == '\n');
}

/* ---------------------------------------------------------------- headers */

/* Parses a Content-Length value into "h" (digits only, bounded). */
static void note_content_length(cs__http_head *h, cs_str v)
{
    uint64_t cl = 0;
    size_t i;

    if (v.len == 0)
        h->cl_bad = true;
    for (i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9' || cl > CS__HTTP_MAX_BODY) {
            h->cl_bad = true;
            break;
        }
        cl = cl * 10 + (uint64_t)(v.p[i] - '0');
    }
    if (cl > CS__HTTP_MAX_BODY)
        h->cl_bad = true;
    if (h->cl_present && cl != h->cl)
        h->cl_bad = true;
    h->cl_present = true;
    h->cl = cl;
    h->cl_text = v;
}

/* Transfer-Encoding: is "chunked" the last coding? */
static void note_transfer_encoding(cs__http_head *h, cs_str v)
{
    size_t i = v.len;

    while (i > 0 && v.p[i - 1] != ',')
        i--;
    h->te_present = true;
    h->te_chunked = str_ieq(trim((const uint8_t *)v.p + i, v.len - i), "chunked");
}

static void add_field(cs_str name, cs_str val)
{
    cs__http_scratch *s = &http_scratch;

    if (s->n_fields >= sizeof(s->fields) / sizeof(s->fields[0]))
        return;
    s->fields[s->n_fields].name = name;
    s->fields[s->n_fields].val = val;
    s->n_fields++;
}

/* Adds "h.<lowercased name>" = "val", if the scratch area has room. */
static void add_header_field(cs_str name, cs_str val)
{
    cs__http_scratch *s = &http_scratch;
    char *out = s->names + s->names_used;
    size_t i;

    if (s->n_fields >= CS__HTTP_MAX_FIELDS + 3 || name.len + 2 > sizeof(s->names) - s->names_used)
        return;
    out[0] = 'h';
    out[1] = '.';
    for (i = 0; i < name.len; i++) {
        char c = name.p[i];
        out[2 + i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    s->names_used += name.len + 2;
    add_field(mkstr((const uint8_t *)out, name.len + 2), val);
}

/* One header line (without LF): records it and what it says about framing. */
static void parse_header_line(cs__http_head *h, const uint8_t *p, size_t n)
{
    const uint8_t *colon;
    cs_str name, val;

    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n == 0 || is_ws(p[0]))
        return; /* obs-fold continuation: skipped */
    colon = memchr(p, ':', n);
    if (colon == NULL || colon == p) {
        h->flags |= CS_MSG_MALFORMED;
        return;
    }
    name = trim(p, (size_t)(colon - p));
    val = trim(colon + 1, n - (size_t)(colon - p) - 1);
    add_header_field(name, val);
    if (str_ieq(name, "content-length"))
        note_content_length(h, val);
    else if (str_ieq(name, "transfer-encoding"))
        note_transfer_encoding(h, val);
}

/* Parses the block h->p[0 .. h->len): start line, then header lines (an
 * unterminated last line, at EOF, is parsed too; see parse_request_line()
 * for "lenient"). Fills the scratch fields
 * with the start-line fields and the headers. */
static bool parse_head_block(cs__http_head *h, bool lenient)
{
    size_t off, n = line_len(h->p, h->len);

    if (n == SIZE_MAX)
        n = h->len;
    if (!parse_start_line(h->p, n, h, lenient))
        return false;
    http_scratch.n_fields = 0;
    http_scratch.names_used = 0;
    if (h->is_response) {
        add_field(cstr("version"), h->version);
        add_field(cstr("status"), h->status);
        add_field(cstr("reason"), h->reason);
    } else {
        add_field(cstr("method"), h->method);
        add_field(cstr("uri"), h->uri);
        add_field(cstr("version"), h->version);
    }
    for (off = n + 1; off < h->len; off += n + 1) {
        n = line_len(h->p + off, h->len - off);
        if (n == SIZE_MAX)
            n = h->len - off;
        parse_header_line(h, h->p + off, n);
    }
    return true;
}

/* ---------------------------------------------------------------- pending requests */

static void pending_push(cs__http_state *st, cs_str method)
{
    uint8_t kind = MK_OTHER;

    if (str_eq(method, "HEAD"))
        kind = MK_HEAD;
    else if (str_eq(method, "CONNECT"))
        kind = MK_CONNECT;
    if (st->pending_count == CS__HTTP_MAX_PENDING) { /* forget the oldest */
        st->pending_head = (st->pending_head + 1) % CS__HTTP_MAX_PENDING;
        st->pending_count--;
    }
    st->pending[(st->pending_head + st->pending_count) % CS__HTTP_MAX_PENDING] = kind;
    st->pending_count++;
}

static uint8_t pending_pop(cs__http_state *st)
{
    uint8_t kind;

    if (st->pending_count == 0)
        return MK_OTHER;
    kind = st->pending[st->pending_head];
    st->pending_head = (st->pending_head + 1) % CS__HTTP_MAX_PENDING;
    st->pending_count--;
    return kind;
}

/* ---------------------------------------------------------------- framing */

typedef struct cs__http_framing {
    uint8_t phase;
    bool tunnel;
    const char *body_len; /* NULL: the Content-Length text */
} cs__http_framing;

static cs__http_framing frame_by_headers(cs__http_head *h, bool is_response)
{
    cs__http_framing f = {PH_HEAD, false, "0"};

    if (h->te_present && h->te_chunked) {
        f.phase = PH_CHUNK_SIZE;
        f.body_len = "chunked";
    } else if (h->te_present && is_response) {
        f.phase = PH_BODY_CLOSE;
        f.body_len = "close";
    } else if (h->te_present || h->cl_bad) {
        h->flags |= CS_MSG_MALFORMED;
        f.phase = PH_SEEK;
        f.body_len = "unknown";
    } else if (h->cl_present) {
        f.phase = h->cl > 0 ? PH_BODY_LEN : PH_HEAD;
        f.body_len = NULL;
    } else if (is_response) {
        f.phase = PH_BODY_CLOSE;
        f.body_len = "close";
    }
    return f;
}

/* Decides how the body of the message in "h" is framed (RFC 9112 6.3). */
static cs__http_framing frame_message(cs__http_state *st, cs__http_head *h)
{
    cs__http_framing none = {PH_HEAD, false, "0"};
    unsigned s = h->status_code;
    uint8_t method;

    if (!h->is_response)
        return frame_by_headers(h, false);
    if (s >= 100 && s < 200 && s != 101)
        return none; /* interim: the request still waits for its answer */
    method = pending_pop(st);
    if (s == 101 || (method == MK_CONNECT && s >= 200 && s < 300)) {
        none.tunnel = true;
        return none;
    }
    if (method == MK_HEAD || s == 204 || s == 304)
        return none;
    return frame_by_headers(h, true);
}

/* ---------------------------------------------------------------- emitting */

/* Is "phase" one of a body's (a message's bytes after its header block)? */
static bool body_phase(uint8_t phase)
{
    return phase == PH_BODY_LEN || phase == PH_BODY_CLOSE || phase == PH_CHUNK_SIZE ||
           phase == PH_CHUNK_DATA || phase == PH_CHUNK_END || phase == PH_TRAILER;
}

/* Emits the message whose header block is "h", at "start" in in.data, and
 * returns how its body is framed. */
static cs__http_framing emit_head(cs__http_state *st, cs_decode_ctx *ctx, cs__http_head *h,
                                  size_t start)
{
    cs__http_framing f = frame_message(st, h);
    cs_msg_out m;

    add_field(cstr("body_len"), f.body_len ? cstr(f.body_len) : h->cl_text);
    memset(&m, 0, sizeof(m));
    m.start = start;
    m.len = h->len;
    m.flags = h->flags;
    m.fields = http_scratch.fields;
    m.n_fields = http_scratch.n_fields;
    if (h->is_response) {
        m.type = cstr("response");
        if (h->status_code >= 500 && h->status_code <= 599)
            m.error = cstr("status 5xx");
        if (h->status_code >= 200 || h->status_code == 101) {
            m.role = CS_ROLE_RESP;
            m.pair = "http";
        }
    } else {
        char *k = http_scratch.key;

        memcpy(k, h->method.p, h->method.len);
        k[h->method.len] = ' ';
        memcpy(k + h->method.len + 1, h->uri.p, h->uri.len);
        m.type = cstr("request");
        m.role = CS_ROLE_REQ;
        m.pair = "http";
        m.key = mkstr((const uint8_t *)k, h->method.len + 1 + h->uri.len);
        pending_push(st, h->method);
    }
    if (!f.tunnel && body_phase(f.phase))
        m.part = CS_PART_HEAD;
    cs_decode_emit(ctx, &m);
    if (f.tunnel)
        st->tunnel = true;
    return f;
}

/* Passes in.data[start, start + len) on as body bytes of the message just
 * emitted; "end": they are its last. */
static void emit_body(cs_decode_ctx *ctx, size_t start, size_t len, bool end)
{
    cs_msg_out m;

    memset(&m, 0, sizeof(m));
    m.start = start;
    m.len = len;
    m.part = end ? CS_PART_END : CS_PART_BODY;
    cs_decode_emit(ctx, &m);
}

/* ---------------------------------------------------------------- phases */

/*
 * Each phase step looks at in.data[*pos ..], advances *pos past what it
 * consumed and/or changes the phase, and returns true if it made progress,
 * false if it needs more bytes. A step that changes the phase without
 * consuming always leads to a step that consumes (PH_SEEK skips the line
 * it was handed unless that line is a valid start line).
 */

static void enter_seek(cs__http_dir *d, bool at_line_start)
{
    d->phase = PH_SEEK;
    d->at_line_start = at_line_start;
    d->scanned = 0;
}

static void set_phase(cs__http_dir *d, uint8_t phase)
{
    d->phase = phase;
    d->scanned = 0;
}

/* Finds the end of the header block starting at "p" (after its empty line).
 * Returns its length, 0 if more bytes are needed; "*scanned" remembers how
 * far the search went. */
static size_t find_head_end(const uint8_t *p, size_t n, size_t *scanned)
{
    size_t i = *scanned;

    for (;;) {
        const uint8_t *lf = memchr(p + i, '\n', n - i);
        size_t at;

        if (lf == NULL) {
            *scanned = n;
            return 0;
        }
        at = (size_t)(lf - p);
        if (at + 1 >= n || (p[at + 1] == '\r' && at + 2 >= n)) {
            *scanned = at;
            return 0;
        }
        if (p[at + 1] == '\n')
            return at + 2;
        if (p[at + 1] == '\r' && p[at + 2] == '\n')
            return at + 3;
        i = at + 1;
    }
}

static bool step_head(cs__http_state *st, cs__http_dir *d, cs_decode_ctx *ctx, cs_decode_input *in,
                      size_t *pos)
{
    const uint8_t *p = in->data + *pos;
    size_t n = in->len - *pos, end;
    cs__http_framing f;
    cs__http_head h;

    if (p[0] == '\n' || (p[0] == '\r' && n >= 2 && p[1] == '\n')) {
        *pos += p[0] == '\n' ? 1 : 2; /* empty lines between messages */
        return true;
    }
    if (p[0] == '\r' && n < 2)
        return false;
    if (!start_plausible(p, n < 16 ? n : 16)) {
        enter_seek(d, false);
        return true;
    }
    end = find_head_end(p, n, &d->scanned);
    if (end > CS__HTTP_MAX_HEAD) { /* complete, but over the bound all the same */
        enter_seek(d, false);
        return true;
    }
    if (end == 0) {
        if (n > CS__HTTP_MAX_HEAD)
            enter_seek(d, false);
        return n > CS__HTTP_MAX_HEAD;
    }
    memset(&h, 0, sizeof(h));
    h.p = p;
    h.len = end;
    if (!parse_head_block(&h, in->dir == 0)) {
        enter_seek(d, false);
        return true;
    }
    f = emit_head(st, ctx, &h, *pos);
    set_phase(d, f.phase);
    d->remaining = h.cl;
    d->at_line_start = true;
    *pos += end;
    return true;
}

/* At EOF with an unfinished header block: emit what there is, truncated. */
static void flush_head_at_eof(cs__http_state *st, cs__http_dir *d, cs_decode_ctx *ctx,
                              cs_decode_input *in, size_t pos)
{
    cs__http_head h;

    if (pos >= in->len || in->len - pos > CS__HTTP_MAX_HEAD)
        return;
    memset(&h, 0, sizeof(h));
    h.p = in->data + pos;
    h.len = in->len - pos;
    if (line_len(h.p, h.len) == SIZE_MAX || !parse_head_block(&h, in->dir == 0))
        return;
    h.flags |= CS_MSG_TRUNCATED;
    if (body_phase(emit_head(st, ctx, &h, pos).phase))
        emit_body(ctx, in->len, 0, true); /* no body will come */
    set_phase(d, PH_HEAD);
}

/*
 * A start line that does not begin at a line start: a body that ended
 * without a newline, or bytes lost before it, glue it to the end of other
 * bytes ("...}HTTP/1.1 200 OK", "...\x00GET /x HTTP/1.1"). Looks in the line
 * "p"[0 .. "n") for "HTTP/1." opening a valid status line, or closing a
 * request line whose method (letters, '_', '-', at least 3) and target can be
 * walked back to. Returns the offset of the start line, or SIZE_MAX.
 */
static size_t find_embedded_start(const uint8_t *p, size_t n)
{
    size_t k;
    cs__http_head h;

    for (k = 0; k + 8 <= n; k++) {
        size_t t_end, t_start, m_start;

        if (p[k] != 'H' || memcmp(p + k, "HTTP/1.", 7) != 0)
            continue;
        memset(&h, 0, sizeof(h));
        if (parse_status_line(p + k, n - k, &h))
            return k;
        if (trim(p + k, n - k).len != 8 || k == 0 || p[k - 1] != ' ')
            continue;
        for (t_end = k; t_end > 0 && p[t_end - 1] == ' '; t_end--)
            ;
        for (t_start = t_end; t_start > 0 && p[t_start - 1] > ' ' && p[t_start - 1] != 0x7f;
             t_start--)
            ;
        if (t_start == t_end || t_start == 0 || p[t_start - 1] != ' ')
            continue;
        for (m_start = t_start - 1; m_start > 0 && p[m_start - 1] == ' '; m_start--)
            ;
        while (m_start > 0 && is_letters(p + m_start - 1, 1))
            m_start--;
        if (t_start - m_start >= 4 && parse_request_line(p + m_start, n - m_start, &h, false))
            return m_start;
    }
    return SIZE_MAX;
}

/* PH_SEEK without a line end in sight: consume all but a tail that may hold
 * the beginning of a start line glued to the garbage before it. */
#define CS__HTTP_SEEK_TAIL 512u

static bool step_seek(cs__http_dir *d, cs_decode_input *in, size_t *pos)
{
    const uint8_t *p = in->data + *pos;
    size_t n = in->len - *pos, len, off;
    cs__http_head h;

    if (d->at_line_start && !start_plausible(p, n < 16 ? n : 16))
        d->at_line_start = false;
    len = line_len(p + d->scanned, n - d->scanned);
    if (len == SIZE_MAX) {
        if (d->at_line_start && n <= CS__HTTP_MAX_HEAD) {
            d->scanned = n;
            return false; /* maybe a start line: wait for its end */
        }
        d->at_line_start = false;
        d->scanned = 0;
        if (n <= CS__HTTP_SEEK_TAIL)
            return false;
        *pos += n - CS__HTTP_SEEK_TAIL;
        return true;
    }
    len += d->scanned;
    memset(&h, 0, sizeof(h));
    if (d->at_line_start && parse_start_line(p, len, &h, false)) {
        set_phase(d, PH_HEAD);
        return true;
    }
    off = find_embedded_start(p, len);
    if (off != SIZE_MAX && off > 0) {
        *pos += off;
        set_phase(d, PH_HEAD);
        return true;
    }
    *pos += len + 1;
    d->at_line_start = true;
    d->scanned = 0;
    return true;
}

static bool step_body(cs__http_dir *d, cs_decode_ctx *ctx, cs_decode_input *in, size_t *pos,
                      uint8_t next)
{
    size_t n = in->len - *pos;

    if ((uint64_t)n > d->remaining)
        n = (size_t)d->remaining;
    d->remaining -= n;
    emit_body(ctx, *pos, n, d->remaining == 0 && next == PH_HEAD);
    *pos += n;
    if (d->remaining == 0)
        set_phase(d, next);
    return true;
}

/* Parses "hex [BWS] [; ext] [CR]"; false if it is not a chunk-size line. */
static bool parse_chunk_size(const uint8_t *p, size_t n, uint64_t *size)
{
    size_t i = 0;
    uint64_t v = 0;
    cs_str line = trim(p, n);

    p = (const uint8_t *)line.p;
    n = line.len;
    for (; i < n; i++) {
        uint8_t c = p[i];
        unsigned digit;

        if (c >= '0' && c <= '9')
            digit = c - '0';
        else if (c >= 'a' && c <= 'f')
            digit = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            digit = c - 'A' + 10;
        else
            break;
        if (v > CS__HTTP_MAX_BODY)
            return false;
        v = v * 16 + digit;
    }
    while (i < n && is_ws(p[i]))
        i++;
    if (i == 0 || (i < n && p[i] != ';') || v > CS__HTTP_MAX_BODY)
        return false;
    *size = v;
    return true;
}

/* The next whole line for the chunked-body phases: its length (without LF)
 * or SIZE_MAX if more bytes are needed; too long a line resynchronises. */
static size_t body_line(cs__http_dir *d, cs_decode_input *in, size_t pos)
{
    size_t n = in->len - pos;
    size_t len = line_len(in->data + pos + d->scanned, n - d->scanned);

    if (len != SIZE_MAX)
        return d->scanned + len;
    d->scanned = n;
    if (n > CS__HTTP_MAX_LINE)
        enter_seek(d, false);
    return SIZE_MAX;
}

static bool step_chunked(cs__http_dir *d, cs_decode_ctx *ctx, cs_decode_input *in, size_t *pos)
{
    const uint8_t *p = in->data + *pos;
    uint8_t phase = d->phase;
    size_t len = body_line(d, in, *pos);
    uint64_t size = 0;

    if (len == SIZE_MAX)
        return d->phase != phase;
    if (phase == PH_CHUNK_SIZE && parse_chunk_size(p, len, &size)) {
        set_phase(d, size ? PH_CHUNK_DATA : PH_TRAILER);
        d->remaining = size;
    } else if (phase == PH_CHUNK_END && trim(p, len).len == 0) {
        set_phase(d, PH_CHUNK_SIZE);
    } else if (phase == PH_TRAILER) {
        set_phase(d, trim(p, len).len == 0 ? PH_HEAD : PH_TRAILER);
    } else {
        emit_body(ctx, *pos, 0, true); /* the body ends at bad chunk framing */
        enter_seek(d, true);           /* and this line is looked at again */
        return true;
    }
    emit_body(ctx, *pos, len + 1, d->phase == PH_HEAD);
    *pos += len + 1;
    return true;
}

/* ---------------------------------------------------------------- plug-in ops */

static bool step(cs__http_state *st, cs__http_dir *d, cs_decode_ctx *ctx, cs_decode_input *in,
                 size_t *pos)
{
    switch (d->phase) {
    case PH_HEAD:
        return step_head(st, d, ctx, in, pos);
    case PH_SEEK:
        return step_seek(d, in, pos);
    case PH_BODY_LEN:
        return step_body(d, ctx, in, pos, PH_HEAD);
    case PH_CHUNK_DATA:
        return step_body(d, ctx, in, pos, PH_CHUNK_END);
    case PH_BODY_CLOSE:
        emit_body(ctx, *pos, in->len - *pos, false);
        *pos = in->len;
        return true;
    default:
        return step_chunked(d, ctx, in, pos);
    }
}

static size_t http_parse(void *state, cs_decode_ctx *ctx, cs_decode_input *in)
{
    cs__http_state *st = state;
    cs__http_dir *d = &st->dir[in->dir & 1];
    size_t pos = 0;

    in->needed = 0;
    if (!d->started) {
        d->started = true;
        if (in->flags & CS_IN_MIDSTREAM)
            enter_seek(d, true);
    }
    while (pos < in->len && !st->tunnel) {
        if (!step(st, d, ctx, in, &pos)) {
            in->needed = in->len - pos + 1;
            break;
        }
    }
    if (st->tunnel)
        return in->len;
    if (in->flags & CS_IN_EOF) {
        if (d->phase == PH_HEAD)
            flush_head_at_eof(st, d, ctx, in, pos);
        else if (body_phase(d->phase))
            emit_body(ctx, pos, in->len - pos, true); /* the body ends with the stream */
        set_phase(d, PH_HEAD);
        in->needed = 0;
        return in->len;
    }
    return pos;
}

static void http_gap(void *state, uint8_t dir)
{
    cs__http_state *st = state;
    cs__http_dir *d = &st->dir[dir & 1];

    if (d->phase != PH_BODY_CLOSE)
        enter_seek(d, true);
}

static void *http_state_new(const cs_endpoints *flow, const cs_decoder_opts *opts)
{
    return cs_calloc(1, sizeof(cs__http_state));
}

static void http_state_free(void *state)
{
    cs_free(state);
}

/*
 * Content detection. A known method or a status line is a YES (HTTP on any
 * port). An unknown method token (CCM_POST, PROPFIND...) followed by a space
 * is a NEED_MORE: on its own it proves little, but it does not rule HTTP
 * out either, so the flow layer keeps the bytes until the other direction's
 * "HTTP/1." settles it, or falls back to the port.
 */
static cs_probe http_probe(const uint8_t *data, size_t len, uint8_t dir)
{
    static const char *const starts[] = {"GET ",     "POST ",  "PUT ",     "DELETE ", "HEAD ",
                                         "OPTIONS ", "TRACE ", "CONNECT ", "PATCH ",  "HTTP/1."};
    bool more = false;
    size_t i;

    for (i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
        size_t n = strlen(starts[i]);

        if (len >= n && memcmp(data, starts[i], n) == 0)
            return CS_PROBE_YES;
        if (len < n && memcmp(data, starts[i], len) == 0)
            more = true;
    }
    if (more)
        return CS_PROBE_NEED_MORE;
    for (i = 0; i < len && i < 32; i++) {
        uint8_t c = data[i];
        if (c == ' ' || c == '\r' || c == '\n') /* "OPTIONS\n": broken, yet answered */
            return i > 0 ? CS_PROBE_NEED_MORE : CS_PROBE_NO;
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return CS_PROBE_NO;
    }
    return i < 32 ? CS_PROBE_NEED_MORE : CS_PROBE_NO;
}

static const char *const cs__http_pairs[] = {"http", NULL};

const cs_decoder cs_decoder_http = {
    .pairs = cs__http_pairs,
    .name = "http",
    .transports = CS_TRANSPORT_TCP,
    .ports = http_ports,
    .probe = http_probe,
    .state_new = http_state_new,
    .state_free = http_state_free,
    .parse = http_parse,
    .gap = http_gap,
};

/*
 * server.c - libmicrohttpd glue for the HTTP API: listening socket,
 * authentication, replies and dispatch.
 *
 * Request flow (one thread per connection):
 *
 *   method GET? ──no──► 405      token ok? ──no──► 401
 *   route (api.c) ──► 404 / 400(id)      params (api.c) ──► 400(param)
 *   JSON endpoints ──► cs__api_json (body built in memory, paged so bounded)
 *   /packets       ──► producer thread: cs_store_query_pcap(store, q, pipe)
 *                      MHD reads the pipe's other end as the body
 *   /{id}/pcap     ──► packets of one message/measurement into a memfd
 *   /stream        ──► body callback waits on cs_live_next(), formats SSE
 *                      (only the kinds of "events", measurements >= "min_latency")
 *   /metrics       ──► latest Prometheus text from cs_live
 *   with cfg.api (a hub, no store): every path but the UI's goes to it
 *
 * The downloads are server_pcap.c's, the event stream server_sse.c's.
 *
 * Stop: "stopping" makes SSE callbacks end their streams within 250 ms,
 * then cs__mhd.stop_daemon() closes the connections and joins their threads.
 *
 * Idle connections: a connection costs a thread and a descriptor until it
 * closes, and one beyond the limit is closed at once, so clients that
 * connect and send nothing (or half a request, or a blank line) must not
 * hold the slots that real requests need. Hence:
 *   - a connection that sends or receives nothing for IDLE_TIMEOUT_S before
 *     its first request is complete is closed: a silent one, one that sent
 *     a blank line, one stalled inside its request line or headers;
 *   - once a request has come, the connection may be quiet for
 *     REQUEST_TIMEOUT_S: while the request is answered (a query under load,
 *     a streamed /packets reply whose bytes come as they are found, a
 *     /stream whose keep-alive comes every 15 s) and then between requests;
 *   - the connection limit is large (MAX_CONNECTIONS) but leaves half the
 *     descriptors of RLIMIT_NOFILE to the downloads' pipes and the stores,
 *     and the threads wait with poll(), so no descriptor number is too big;
 *   - the listen backlog is SOMAXCONN, so a burst of connects waits in the
 *     kernel's queue instead of being dropped.
 * A client can still hold every slot by opening the whole limit again and
 * again; a token file (required off loopback) does not stop that, as
 * authentication comes after the request.
 *
 * TLS: with cfg->tls_cert and cfg->tls_key the daemon is started with
 * MHD_USE_TLS and the two PEM texts (read here, kept until the daemon
 * stops, the key wiped then); every connection must then complete a TLS
 * handshake, and one that speaks plain HTTP is closed without an answer.
 * Policy (cs_server_check, before anything is opened):
 *
 *   loopback ───────────────────────────────► HTTP or HTTPS
 *   other, no token file ───────────────────► refused
 *   other, token, TLS ──────────────────────► HTTPS
 *   other, token, no TLS ──► insecure? ─no──► refused (the token would
 *                                 └─yes──► HTTP        cross the network in clear)
 *
 * libmicrohttpd's messages go to mhd_log: the first one is kept (one
 * writer, claimed atomically) so that a start that fails can say why
 * (a key that does not match the certificate); the others are dropped.
 *
 * Memory: every connection is a new thread, and glibc gives threads up to
 * 8 malloc arenas per core; what each request frees stays in its arena,
 * fragmented, so the daemon's resident memory crept up without bound (no
 * leak: LeakSanitizer finds none): from 36 MB to 140 MB over 13,200
 * requests from 200 clients at a time, still rising 2 to 5 MB per 2,200.
 * Starting the server caps the process at MALLOC_ARENAS arenas: under the
 * same load it stays between 88 and 89 MB from 15,000 to 22,000 requests.
 * The data path does not malloc per packet, so it does not contend for them.
 */
#include "server/server.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timefmt.h"
#include "server/server_int.h"
#include "server/static.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define IDLE_TIMEOUT_S 10u
#define REQUEST_TIMEOUT_S 60u
#define MAX_CONNECTIONS 1000u
#define MIN_CONNECTIONS 64u
#define FD_RESERVE 128u /* the daemon's own: stores, capture, logs */
#define MALLOC_ARENAS 2
#define PEM_MAX (1u << 20) /* a certificate chain or a key is a few KB */

/* ---- listen address --------------------------------------------------- */

typedef struct listen_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    int loopback;
} listen_addr;

static int parse_port(const char *s, uint16_t *port)
{
    unsigned long v = 0;

    if (*s == '\0' || strlen(s) > 5)
        return CS_EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return CS_EINVAL;
        v = v * 10 + (unsigned long)(*s - '0');
    }
    if (v > 65535)
        return CS_EINVAL;
    *port = (uint16_t)v;
    return 0;
}

static int parse_listen(const char *listen, listen_addr *a)
{
    char host[64];
    const char *colon, *hs = listen;
    size_t hlen;
    uint16_t port;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&a->ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->ss;

    memset(a, 0, sizeof(*a));
    if ((colon = strrchr(listen, ':')) == NULL || parse_port(colon + 1, &port) < 0)
        return cs_error_set(CS_EINVAL, "--listen %s: expected HOST:PORT", listen);
    hlen = (size_t)(colon - listen);
    if (hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']') {
        hs++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(host))
        return cs_error_set(CS_EINVAL, "--listen %s: expected HOST:PORT", listen);
    memcpy(host, hs, hlen);
    host[hlen] = '\0';
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        a->len = sizeof(*v4);
        a->loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        a->len = sizeof(*v6);
        a->loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) ||
                      (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) && v6->sin6_addr.s6_addr[12] == 127);
    } else
        return cs_error_set(CS_EINVAL, "--listen %s: '%s' is not an IP address", listen, host);
    return 0;
}

int cs_server_listen_is_loopback(const char *listen)
{
    listen_addr a;
    int rc = parse_listen(listen, &a);

    return rc < 0 ? rc : a.loopback;
}

static int read_token(const char *path, cs_server *s)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return cs_error_set(cs_error_from_errno(errno), "--token-file %s: %s", path,
                            strerror(errno));
    n = read(fd, s->token, sizeof(s->token) - 1);
    close(fd);
    if (n < 0)
        return cs_error_set(CS_EIO, "--token-file %s: %s", path, strerror(errno));
    s->token[n] = '\0';
    s->token_len = strcspn(s->token, "\r\n");
    while (s->token_len &&
           (s->token[s->token_len - 1] == ' ' || s->token[s->token_len - 1] == '\t'))
        s->token_len--;
    s->token[s->token_len] = '\0';
    if (s->token_len < 8)
        return cs_error_set(CS_EINVAL,
                            "--token-file %s: the token (first line) must have at "
                            "least 8 characters",
                            path);
    return 0;
}

/* ---- policy and TLS files ---------------------------------------------- */

/* The rules of "TLS" at the top, for "cfg" listening on "a". */
static int check_policy(const cs_server_cfg *cfg, const char *listen_s, const listen_addr *a)
{
    int has_cert = cfg->tls_cert && *cfg->tls_cert, has_key = cfg->tls_key && *cfg->tls_key;
    int has_token = cfg->token_file && *cfg->token_file;

    if (has_cert != has_key)
        return cs_error_set(CS_EINVAL, "--tls-cert and --tls-key go together: give the "
                                       "certificate and its private key");
    if (a->loopback)
        return 0;
    if (!has_token)
        return cs_error_set(CS_EPERM,
                            "--listen %s is not a loopback address: refusing to serve the API "
                            "there without --token-file",
                            listen_s);
    if (!has_cert && !cfg->insecure)
        return cs_error_set(CS_EPERM,
                            "--listen %s is not a loopback address: refusing to send the API "
                            "and its bearer token over plain HTTP there, where anyone on the "
                            "path can read the token; give --tls-cert and --tls-key, or "
                            "--insecure if the network is trusted",
                            listen_s);
    return 0;
}

int cs_server_check(const cs_server_cfg *cfg)
{
    const char *listen_s = cfg->listen && *cfg->listen ? cfg->listen : CS_SERVER_DEFAULT_LISTEN;
    listen_addr a;
    int rc = parse_listen(listen_s, &a);

    return rc < 0 ? rc : check_policy(cfg, listen_s, &a);
}

/* The PEM file "path" of option "opt", NUL-terminated, into "*out"
 * (cs_malloc'ed). CS_EIO (or the errno's code) naming the file. */
static int read_pem(const char *opt, const char *path, char **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    struct stat st;
    ssize_t n = 0;
    char *buf = NULL;

    *out = NULL;
    if (fd < 0)
        return cs_error_set(cs_error_from_errno(errno), "%s %s: %s", opt, path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > PEM_MAX)
        rc = cs_error_set(CS_EIO, "%s %s: not a PEM file of 1 byte to %u KB", opt, path,
                          PEM_MAX >> 10);
    else if ((buf = cs_malloc((size_t)st.st_size + 1)) == NULL)
        rc = CS_ENOMEM;
    else if ((n = read(fd, buf, (size_t)st.st_size)) != st.st_size)
        rc = cs_error_set(CS_EIO, "%s %s: %s", opt, path, n < 0 ? strerror(errno) : "short read");
    else if ((buf[n] = '\0', strstr(buf, "-----BEGIN ")) == NULL)
        rc = cs_error_set(CS_EIO, "%s %s: not PEM (no -----BEGIN line)", opt, path);
    close(fd);
    if (rc < 0) {
        if (buf)
            explicit_bzero(buf, (size_t)st.st_size);
        cs_free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}

/* Frees the PEM texts, the key wiped first. */
static void free_pems(cs_server *s)
{
    if (s->tls_key)
        explicit_bzero(s->tls_key, strlen(s->tls_key));
    cs_free(s->tls_key);
    cs_free(s->tls_cert);
    s->tls_key = s->tls_cert = NULL;
}

/* The certificate and key of "cfg" into "s", when it has them. */
static int load_tls(const cs_server_cfg *cfg, cs_server *s)
{
    int rc;

    if (cfg->tls_cert == NULL || *cfg->tls_cert == '\0')
        return 0;
    if (cs__mhd.is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return cs_error_set(CS_EUNSUPPORTED,
                            "this libmicrohttpd was built without TLS: cannot serve HTTPS "
                            "(--tls-cert %s)",
                            cfg->tls_cert);
    if ((rc = read_pem("--tls-cert", cfg->tls_cert, &s->tls_cert)) < 0 ||
        (rc = read_pem("--tls-key", cfg->tls_key, &s->tls_key)) < 0)
        free_pems(s);
    return rc;
}

static int open_listener(const listen_addr *a, int *port)
{
    int one = 1, fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage got;
    socklen_t glen = sizeof(got);

    if (fd < 0)
        return cs_error_set(CS_EIO, "socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, SOMAXCONN) < 0 ||
        getsockname(fd, (struct sockaddr *)&got, &glen) < 0) {
        int e = errno;
        close(fd);
        return cs_error_set(CS_EIO, "cannot listen: %s", strerror(e));
    }
    *port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                            : ((struct sockaddr_in *)&got)->sin_port);
    return fd;
}

/* ---- replies ---------------------------------------------------------- */

enum MHD_Result cs__srv_queue(struct MHD_Connection *c, int status, struct MHD_Response *r,
                              const char *ctype)
{
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    cs__mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    cs__mhd.add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    cs__mhd.add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == 401)
        cs__mhd.add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == 405)
        cs__mhd.add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET");
    ret = cs__mhd.queue_response(c, (unsigned)status, r);
    cs__mhd.destroy_response(r);
    return ret;
}

enum MHD_Result cs__srv_queue_reply(struct MHD_Connection *c, cs__reply *rep)
{
    struct MHD_Response *r =
        cs__mhd.create_response_from_buffer(rep->len, rep->body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = cs__srv_queue(c, rep->status, r, rep->ctype);

    cs__reply_free(rep);
    return ret;
}

enum MHD_Result cs__srv_queue_error(struct MHD_Connection *c, int status, const char *param,
                                    const char *msg)
{
    cs__err e;
    cs__reply rep = {0};

    cs__api_fail(&e, status, param, "%s", msg);
    if (cs__api_error_reply(&e, &rep) < 0)
        return MHD_NO;
    return cs__srv_queue_reply(c, &rep);
}

enum MHD_Result cs__srv_queue_err(struct MHD_Connection *c, const cs__err *e)
{
    cs__reply rep = {0};

    if (cs__api_error_reply(e, &rep) < 0)
        return MHD_NO;
    return cs__srv_queue_reply(c, &rep);
}

enum MHD_Result cs__srv_queue_internal(struct MHD_Connection *c, int rc)
{
    if (rc == CS_ENOTFOUND || rc == CS_ENOTSTORE)
        return cs__srv_queue_error(c, 503, NULL, "the store is not available");
    return cs__srv_queue_error(c, 500, NULL, cs_strerror(rc));
}

/* ---- authentication --------------------------------------------------- */

/* "Authorization: Bearer TOKEN": the scheme in any case (RFC 7235 2.1),
 * then one space (RFC 6750 2.1), then the token, compared exactly and in
 * constant time in the header's content (time depends on the token length
 * only). */
static int token_ok(const cs_server *s, const char *auth)
{
    static const char bearer[] = "Bearer ";
    size_t alen;
    unsigned diff;

    if (s->token_len == 0)
        return 1;
    if (auth == NULL || strncasecmp(auth, bearer, sizeof(bearer) - 1) != 0)
        return 0;
    auth += sizeof(bearer) - 1;
    alen = strlen(auth);
    diff = alen != s->token_len;
    for (size_t i = 0; i < s->token_len; i++)
        diff |= (unsigned)(unsigned char)(i < alen ? auth[i] : 0) ^
                (unsigned)(unsigned char)s->token[i];
    return diff == 0;
}

/* ---- parameters ------------------------------------------------------- */

static enum MHD_Result collect_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    cs__params_add(cls, key, value);
    return MHD_YES;
}

/* ---- Prometheus -------------------------------------------------------- */

static enum MHD_Result serve_prometheus(cs_server *s, struct MHD_Connection *c)
{
    static const char ctype[] = "text/plain; version=0.0.4; charset=utf-8";
    char *text = NULL;
    size_t len = 0;
    struct MHD_Response *r;

    if (s->live == NULL || cs_live_get_prometheus(s->live, &text, &len) < 0) {
        static const char none[] = "# capstream: no metrics yet\n";
        r = cs__mhd.create_response_from_buffer(sizeof(none) - 1, (void *)none,
                                                MHD_RESPMEM_PERSISTENT);
        return cs__srv_queue(c, 200, r, ctype);
    }
    r = cs__mhd.create_response_from_buffer(len, text, MHD_RESPMEM_MUST_COPY);
    cs_free(text);
    return cs__srv_queue(c, 200, r, ctype);
}

/* ---- an api handler (the hub) ------------------------------------------------ */

static enum MHD_Result collect_api_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    cs_server_params *p = cls;

    if (p->n == CS_SERVER_PARAMS_MAX)
        return MHD_NO;
    p->key[p->n] = key;
    p->value[p->n++] = value ? value : "";
    return MHD_YES;
}

static enum MHD_Result queue_api_reply(struct MHD_Connection *c, cs_server_reply *rep)
{
    struct MHD_Response *r;

    if (rep->body == NULL && rep->fd >= 0)
        r = cs__mhd.create_response_from_fd(rep->len, rep->fd); /* it closes fd */
    else
        r = cs__mhd.create_response_from_buffer(rep->len, rep->body ? rep->body : "",
                                                MHD_RESPMEM_MUST_COPY);
    if (r == NULL && rep->body == NULL && rep->fd >= 0)
        close(rep->fd);
    free(rep->body);
    if (r != NULL && rep->filename)
        cs__srv_add_attachment(r, rep->filename);
    if (r != NULL && rep->header[0])
        cs__mhd.add_response_header(r, rep->header, rep->header_value);
    return cs__srv_queue(c, rep->status, r, rep->ctype ? rep->ctype : "application/json");
}

static enum MHD_Result serve_api(cs_server *s, struct MHD_Connection *c, const char *url)
{
    cs_server_params p = {0};
    cs_server_reply rep;
    int rc;

    cs__mhd.get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_api_param, &p);
    if (p.n == CS_SERVER_PARAMS_MAX)
        return cs__srv_queue_error(c, 400, NULL, "too many parameters");
    memset(&rep, 0, sizeof(rep));
    rep.fd = -1;
    if ((rc = s->api(s->api_ud, url, &p, &rep)) < 0) {
        free(rep.body);
        if (rep.fd >= 0)
            close(rep.fd);
        return cs__srv_queue_internal(c, rc);
    }
    return queue_api_reply(c, &rep);
}

/* ---- dispatch ----------------------------------------------------------- */

static enum MHD_Result dispatch(cs_server *s, struct MHD_Connection *c, const char *url)
{
    cs__params params = {0};
    cs__route rt;
    cs__query q;
    cs__err e = {0};
    cs__reply rep;
    int64_t now = cs_now_ns();
    int rc;

    if (cs_static_wants(url)) /* the web UI: /, /ui/... (static.c) */
        return (enum MHD_Result)cs_static_serve(c, url);
    if (s->api)
        return serve_api(s, c, url);
    if (cs__api_route(url, &rt, &e) < 0)
        return cs__srv_queue_err(c, &e);
    cs__mhd.get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_param, &params);
    if (cs__api_parse(rt.ep, &params, now, &q, &e) < 0)
        return cs__srv_queue_err(c, &e);
    switch (rt.ep) {
    case CS__EP_PACKETS:
        return cs__srv_serve_packets(s, c, &q);
    case CS__EP_MESSAGE_PCAP:
    case CS__EP_MEASUREMENT_PCAP:
        return cs__srv_serve_one_pcap(s, c, &rt, q.pair);
    case CS__EP_STREAM:
        return cs__srv_serve_stream(s, c, &q);
    case CS__EP_PROMETHEUS:
        return serve_prometheus(s, c);
    }
    if ((rc = cs__api_json(s->store_dir, s->live, s->feeds, &rt, &q, now, &rep)) < 0)
        return cs__srv_queue_internal(c, rc);
    return cs__srv_queue_reply(c, &rep);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    static int first_call_marker;
    cs_server *s = cls;

    if (*con_cls == NULL) { /* headers only; wait for the (ignored) body */
        *con_cls = &first_call_marker;
        /* a request came: no longer an idle connection (see the top) */
        cs__mhd.set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, REQUEST_TIMEOUT_S);
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (!token_ok(
            s, cs__mhd.lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION)))
        return cs__srv_queue_error(c, 401, NULL, "missing or wrong bearer token");
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return cs__srv_queue_error(c, 405, NULL, "only GET is supported");
    return dispatch(s, c, url);
}

/* ---- start / stop ------------------------------------------------------- */

/* MAX_CONNECTIONS, or fewer so that connections take at most half of the
 * descriptors left after FD_RESERVE (a download holds a pipe too). */
static unsigned connection_limit(void)
{
    struct rlimit rl;
    rlim_t fds;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return MAX_CONNECTIONS;
    fds = rl.rlim_cur > FD_RESERVE ? (rl.rlim_cur - FD_RESERVE) / 2 : 0;
    if (fds < MIN_CONNECTIONS)
        return MIN_CONNECTIONS;
    return fds < MAX_CONNECTIONS ? (unsigned)fds : MAX_CONNECTIONS;
}

/* libmicrohttpd's messages (MHD_OPTION_EXTERNAL_LOGGER): the first is kept
 * for a failing start to report; see "TLS" at the top. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    cs_server *s = cls;
    size_t n;

    if (atomic_exchange(&s->mhd_log_taken, 1) != 0)
        return;
    vsnprintf(s->mhd_error, sizeof(s->mhd_error), fmt, ap);
    n = strcspn(s->mhd_error, "\r\n");
    s->mhd_error[n] = '\0';
}

/* The daemon on listening socket "fd": HTTPS when "s" has the PEM texts. */
static struct MHD_Daemon *start_mhd(cs_server *s, int fd, int ipv6)
{
    unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0) |
                     (s->tls_cert ? MHD_USE_TLS : 0);
    struct MHD_OptionItem tls[] = {{MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
                                   {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
                                   {MHD_OPTION_END, 0, NULL}};

    return cs__mhd.start_daemon(
        flags, 0, NULL, NULL, handle, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, connection_limit(),
        MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(64 * 1024), MHD_OPTION_ARRAY, s->tls_cert ? tls : tls + 2, MHD_OPTION_END);
}

/* The error of a failed start_mhd, naming the TLS files if any. */
static int start_error(const cs_server *s, const cs_server_cfg *cfg, const char *listen_s)
{
    const char *why = s->mhd_error[0] ? s->mhd_error : "libmicrohttpd gave no reason";

    if (s->tls_cert)
        return cs_error_set(CS_EIO,
                            "cannot serve HTTPS on %s with --tls-cert %s and --tls-key %s "
                            "(is the key the certificate's?): %s",
                            listen_s, cfg->tls_cert, cfg->tls_key, why);
    return cs_error_set(CS_EIO, "cannot start the HTTP server on %s: %s", listen_s, why);
}

/* CS_FEEDS_CACHE=off: /feeds read whole by every request (tests compare
 * the cached answers with a server started so). */
static int feeds_cache_off(void)
{
    const char *v = getenv("CS_FEEDS_CACHE");

    return v != NULL && strcmp(v, "off") == 0;
}

int cs_server_start(const cs_server_cfg *cfg, cs_live *live, cs_server **out)
{
    const char *listen_s = cfg->listen && *cfg->listen ? cfg->listen : CS_SERVER_DEFAULT_LISTEN;
    listen_addr a;
    cs_server *s;
    int fd, rc;

    if ((rc = parse_listen(listen_s, &a)) < 0 || (rc = check_policy(cfg, listen_s, &a)) < 0 ||
        (rc = cs__mhd_load()) < 0)
        return rc;
    if (cfg->store_dir == NULL && cfg->api == NULL)
        return cs_error_set(CS_EINVAL, "the HTTP server needs a store");
    mallopt(M_ARENA_MAX, MALLOC_ARENAS); /* see "Memory" at the top */
    if ((s = cs_calloc(1, sizeof(*s))) == NULL)
        return CS_ENOMEM;
    s->live = live;
    s->api = cfg->api;
    s->api_ud = cfg->api_ud;
    if ((cfg->token_file && *cfg->token_file && (rc = read_token(cfg->token_file, s)) < 0) ||
        (rc = (s->store_dir = cs_strdup(cfg->store_dir ? cfg->store_dir : "")) ? 0 : CS_ENOMEM) <
            0 ||
        (rc = load_tls(cfg, s)) < 0 || (rc = fd = open_listener(&a, &s->port)) < 0)
        goto fail;
    /* before the daemon: its connection threads read "s->feeds" */
    if (cfg->store_dir != NULL && !feeds_cache_off() &&
        cs_feeds_cache_start(cfg->store_dir, &s->feeds) < 0)
        s->feeds = NULL; /* /feeds read whole, as without it */
    if ((s->mhd = start_mhd(s, fd, a.ss.ss_family == AF_INET6)) == NULL) {
        close(fd);
        rc = start_error(s, cfg, listen_s);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    cs_feeds_cache_stop(s->feeds);
    free_pems(s);
    cs_free(s->store_dir);
    cs_free(s);
    return rc;
}

int cs_server_tls(const cs_server *s)
{
    return s->tls_cert != NULL;
}

int cs_server_port(const cs_server *s)
{
    return s->port;
}

void cs_server_stop(cs_server *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->stopping, 1);
    cs__mhd.stop_daemon(s->mhd); /* no request under way now */
    cs_feeds_cache_stop(s->feeds);
    free_pems(s);
    cs_free(s->store_dir);
    cs_free(s);
}

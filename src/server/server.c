/*
 * server.c - libmicrohttpd glue for the HTTP API: listening socket,
 * authentication, dispatch, pcap downloads and the SSE stream.
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
 * Downloads: the pipe bounds memory to its buffer. When the client goes
 * away MHD frees the response: the read end is closed, so the producer's
 * next write fails with EPIPE (SIGPIPE is blocked in the producer thread)
 * and the query stops; the free callback joins the producer.
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
#include "core/sort.h"
#include "server/api_int.h"
#include "server/mhd.h"
#include "server/static.h"
#include "store/msgstore.h"
#include "store/pcapw.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TOKEN_MAX 512
#define IDLE_TIMEOUT_S 10u
#define REQUEST_TIMEOUT_S 60u
#define MAX_CONNECTIONS 1000u
#define MIN_CONNECTIONS 64u
#define FD_RESERVE 128u /* the daemon's own: stores, capture, logs */
#define MALLOC_ARENAS 2
#define SSE_WAIT_MS 250
#define SSE_KEEPALIVE_NS (15 * CS_NS_PER_SEC)
#define PEM_MAX (1u << 20) /* a certificate chain or a key is a few KB */

struct cs_server {
    struct MHD_Daemon *mhd;
    cs_live *live;
    char *store_dir;
    cs_feeds_cache *feeds; /* /feeds of the store (NULL: no store, or CS_FEEDS_CACHE=off) */
    char token[TOKEN_MAX];
    size_t token_len; /* 0 = no token required */
    int port;
    atomic_int stopping;
    cs_server_api_fn api; /* a hub: answers instead of the store */
    void *api_ud;
    char *tls_cert, *tls_key; /* PEM texts while the daemon runs; NULL: plain HTTP */
    atomic_int mhd_log_taken; /* mhd_error holds libmicrohttpd's first message */
    char mhd_error[256];
};

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

static enum MHD_Result queue(struct MHD_Connection *c, int status, struct MHD_Response *r,
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

static enum MHD_Result queue_reply(struct MHD_Connection *c, cs__reply *rep)
{
    struct MHD_Response *r =
        cs__mhd.create_response_from_buffer(rep->len, rep->body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = queue(c, rep->status, r, rep->ctype);

    cs__reply_free(rep);
    return ret;
}

static enum MHD_Result queue_error(struct MHD_Connection *c, int status, const char *param,
                                   const char *msg)
{
    cs__err e;
    cs__reply rep = {0};

    cs__api_fail(&e, status, param, "%s", msg);
    if (cs__api_error_reply(&e, &rep) < 0)
        return MHD_NO;
    return queue_reply(c, &rep);
}

static enum MHD_Result queue_err(struct MHD_Connection *c, const cs__err *e)
{
    cs__reply rep = {0};

    if (cs__api_error_reply(e, &rep) < 0)
        return MHD_NO;
    return queue_reply(c, &rep);
}

static enum MHD_Result queue_internal(struct MHD_Connection *c, int rc)
{
    if (rc == CS_ENOTFOUND || rc == CS_ENOTSTORE)
        return queue_error(c, 503, NULL, "the store is not available");
    return queue_error(c, 500, NULL, cs_strerror(rc));
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

/* ---- packet downloads -------------------------------------------------- */

typedef struct pcap_job {
    pthread_t th;
    int rfd, wfd;
    cs_store *store;
    cs_query q;
    char *filter;
} pcap_job;

static void *pcap_produce(void *arg)
{
    pcap_job *j = arg;
    sigset_t set;
    uint64_t count;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    cs_store_query_pcap(j->store, &j->q, j->wfd, &count, NULL);
    close(j->wfd);
    j->wfd = -1;
    return NULL;
}

static ssize_t pcap_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    pcap_job *j = cls;
    ssize_t n;

    do
        n = read(j->rfd, buf, max);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

static void pcap_done(void *cls)
{
    pcap_job *j = cls;

    close(j->rfd); /* the producer's next write fails: it stops */
    pthread_join(j->th, NULL);
    cs_store_close(j->store);
    cs_free(j->filter);
    cs_free(j);
}

/* Compiles "filter" for Ethernet to reject bad syntax before streaming. */
static int filter_ok(const char *filter, char *why, size_t n)
{
    pcap_t *p;
    struct bpf_program prog;
    int ok;

    if (filter == NULL || *filter == '\0')
        return 1;
    if ((p = pcap_open_dead(DLT_EN10MB, 262144)) == NULL)
        return 0;
    ok = pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) == 0;
    if (ok)
        pcap_freecode(&prog);
    else
        snprintf(why, n, "filter: %s", pcap_geterr(p));
    pcap_close(p);
    return ok;
}

static void add_attachment(struct MHD_Response *r, const char *name)
{
    char v[128];

    snprintf(v, sizeof(v), "attachment; filename=\"%s.pcap\"", name);
    cs__mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, v);
}

static enum MHD_Result serve_packets(cs_server *s, struct MHD_Connection *c, const cs__query *q)
{
    cs_store_opts so = {0};
    pcap_job *j;
    struct MHD_Response *r;
    char why[300];
    int fds[2], rc;

    if (!filter_ok(q->filter, why, sizeof(why)))
        return queue_error(c, 400, "filter", why);
    if ((j = cs_calloc(1, sizeof(*j))) == NULL)
        return queue_internal(c, CS_ENOMEM);
    if ((rc = cs_store_open(s->store_dir, &so, &j->store)) < 0) {
        cs_free(j);
        return queue_internal(c, rc);
    }
    j->q.after = q->after;
    j->q.before = q->before;
    j->q.filter = j->filter = q->filter ? cs_strdup(q->filter) : NULL;
    j->q.pcap_time = q->pcap_time;
    if (pipe2(fds, O_CLOEXEC) < 0 ||
        (j->rfd = fds[0], j->wfd = fds[1], pthread_create(&j->th, NULL, pcap_produce, j) != 0)) {
        cs_store_close(j->store);
        cs_free(j->filter);
        cs_free(j);
        return queue_internal(c, CS_EIO);
    }
    r = cs__mhd.create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, pcap_read, j, pcap_done);
    if (r == NULL) {
        pcap_done(j);
        return MHD_NO;
    }
    add_attachment(r, "capstream-packets");
    return queue(c, 200, r, "application/vnd.tcpdump.pcap");
}

/* The packets of one message or measurement, in time order, duplicates
 * removed, written to a memfd (a message's packets are few). */
typedef struct ref_list {
    cs_pktref *refs;
    size_t n, cap;
    cs_msgid req, resp;
    int err;
} ref_list;

static int add_refs(void *ud, const cs_message *m)
{
    ref_list *l = ud;

    for (size_t i = 0; i < m->n_refs; i++) {
        size_t k = 0;
        while (k < l->n && l->refs[k] != m->refs[i])
            k++;
        if (k < l->n)
            continue;
        if (cs_grow((void **)&l->refs, &l->cap, l->n + 1, sizeof(*l->refs)) < 0)
            return l->err = CS_ENOMEM;
        l->refs[l->n++] = m->refs[i];
    }
    return 1;
}

static int keep_ids(void *ud, const cs_measurement *ms)
{
    ref_list *l = ud;

    l->req = ms->req_id;
    l->resp = ms->resp_id;
    return 1;
}

static int collect_refs(const char *dir, const cs__route *rt, const char *pair, ref_list *l)
{
    cs_msgreader *r = NULL;
    int rc;

    if ((rc = cs_msgreader_open(dir, &r)) < 0)
        return rc;
    if (rt->ep == CS__EP_MESSAGE_PCAP)
        rc = cs_msgreader_find_message(r, rt->id, add_refs, l);
    else if ((rc = cs_msgreader_find_measurement(r, rt->id, pair, keep_ids, l)) == 0) {
        rc = cs_msgreader_find_message(r, l->req, add_refs, l);
        if (rc == 0 || rc == CS_ENOTFOUND)
            rc = cs_msgreader_find_message(r, l->resp, add_refs, l);
        if (rc == CS_ENOTFOUND)
            rc = 0;
    }
    cs_msgreader_close(r);
    return rc < 0 ? rc : l->err;
}

typedef struct ts_ref {
    int64_t ts;
    size_t order;
    cs_pktref ref;
} ts_ref;

static int cmp_ts_ref(const void *x, const void *y)
{
    const ts_ref *a = x, *b = y;

    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Writes the readable packets of "l" to "fd" in time order. */
static int write_refs_pcap(cs_store *st, const ref_list *l, int fd)
{
    ts_ref *v = cs_calloc(l->n ? l->n : 1, sizeof(*v));
    cs_packet p;
    cs_pcapw w;
    size_t n = 0;
    uint32_t link = 1; /* LINKTYPE_ETHERNET when nothing is readable */
    int rc;

    if (v == NULL)
        return CS_ENOMEM;
    for (size_t i = 0; i < l->n; i++)
        if (cs_store_read(st, l->refs[i], &p) == 0) {
            link = n ? link : p.linktype;
            v[n++] = (ts_ref){p.ts_ns, i, l->refs[i]};
        }
    cs_qsort(v, n, sizeof(*v), cmp_ts_ref);
    if ((rc = cs_pcapw_init(&w, fd, 0, link, CS_PCAP_SNAPLEN, 1 << 16)) == 0) {
        for (size_t i = 0; i < n && rc == 0; i++)
            if ((rc = cs_store_read(st, v[i].ref, &p)) == 0 && p.linktype == link)
                rc = cs_pcapw_put(&w, &p, NULL);
        int crc = cs_pcapw_close(&w);
        rc = rc ? rc : crc;
    }
    cs_free(v);
    return rc;
}

static enum MHD_Result serve_one_pcap(cs_server *s, struct MHD_Connection *c, const cs__route *rt,
                                      const char *pair)
{
    cs_store_opts so = {0};
    ref_list l = {0};
    cs_store *st = NULL;
    struct MHD_Response *r;
    struct stat sb;
    char name[48];
    int fd = -1, rc;

    cs_id_format(rt->ep == CS__EP_MESSAGE_PCAP ? 'm' : 'l', rt->id, name);
    if ((rc = collect_refs(s->store_dir, rt, pair, &l)) == CS_ENOTFOUND) {
        cs_free(l.refs);
        return queue_error(c, 404, "id", "not in the store");
    }
    if (rc < 0 || (rc = cs_store_open(s->store_dir, &so, &st)) < 0)
        goto fail;
    if ((fd = memfd_create("capstream-pcap", MFD_CLOEXEC)) < 0) {
        rc = CS_EIO;
        goto fail;
    }
    if ((rc = write_refs_pcap(st, &l, fd)) < 0 || fstat(fd, &sb) < 0)
        goto fail;
    cs_store_close(st);
    cs_free(l.refs);
    if ((r = cs__mhd.create_response_from_fd((uint64_t)sb.st_size, fd)) == NULL) {
        close(fd);
        return MHD_NO;
    }
    add_attachment(r, name);
    return queue(c, 200, r, "application/vnd.tcpdump.pcap");
fail:
    if (fd >= 0)
        close(fd);
    if (st)
        cs_store_close(st);
    cs_free(l.refs);
    return queue_internal(c, rc < 0 ? rc : CS_EIO);
}

/* ---- Server-Sent Events ------------------------------------------------ */

typedef struct sse_ctx {
    cs_server *srv;
    uint64_t cursor;
    int64_t min_ns;
    unsigned events; /* CS__EV_* the client asked for */
    char *buf;       /* pending bytes, cs_malloc'ed */
    size_t len, pos;
    int64_t last_write;
} sse_ctx;

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * CS_NS_PER_SEC + ts.tv_nsec;
}

/* Formats one event ("data" on one line: JSON newlines become spaces). */
static int sse_format(sse_ctx *x, const cs_live_event *ev)
{
    size_t cap = ev->len + CS_LIVE_TYPE_MAX + 64;
    int n;

    if ((x->buf = cs_malloc(cap)) == NULL)
        return CS_ENOMEM;
    n = snprintf(x->buf, cap, "event: %s\nid: %" PRIu64 "\ndata: ", ev->type, ev->seq);
    for (size_t i = 0; i < ev->len; i++)
        x->buf[n++] = ev->json[i] == '\n' || ev->json[i] == '\r' ? ' ' : ev->json[i];
    memcpy(x->buf + n, "\n\n", 2);
    x->len = (size_t)n + 2;
    x->pos = 0;
    return 0;
}

/* Is "ev" of a kind the client asked for ("events": only the kinds
 * listed; all without the parameter), and if a measurement, at least
 * "min_latency" slow? */
static int sse_wanted(const sse_ctx *x, const cs_live_event *ev)
{
    unsigned bit = cs__api_event_bit(ev->type);

    if (x->events != CS__EV_ALL && !(x->events & bit))
        return 0;
    if (bit != CS__EV_MEASUREMENT || x->min_ns == INT64_MIN)
        return 1;
    return cs__api_json_latency(ev->json) >= x->min_ns;
}

/* Waits for the next event or keep-alive into x->buf; 1 when there is one,
 * 0 when the server stops, negative on error. */
static int sse_fill(sse_ctx *x)
{
    cs_live_event ev;
    int rc;

    cs_free(x->buf);
    x->buf = NULL;
    while (!atomic_load(&x->srv->stopping)) {
        rc = cs_live_next(x->srv->live, &x->cursor, SSE_WAIT_MS, &ev, NULL);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            rc = sse_wanted(x, &ev) ? sse_format(x, &ev) : 1;
            cs_free(ev.json);
            if (rc <= 0)
                return rc < 0 ? rc : 1;
            continue;
        }
        if (mono_ns() - x->last_write >= SSE_KEEPALIVE_NS) {
            if ((x->buf = cs_strdup(": keep-alive\n\n")) == NULL)
                return CS_ENOMEM;
            x->len = strlen(x->buf);
            x->pos = 0;
            return 1;
        }
    }
    return 0;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    sse_ctx *x = cls;
    size_t n;
    int rc;

    if (x->buf == NULL || x->pos == x->len) {
        if ((rc = sse_fill(x)) <= 0)
            return rc == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
    }
    n = x->len - x->pos < max ? x->len - x->pos : max;
    memcpy(out, x->buf + x->pos, n);
    x->pos += n;
    x->last_write = mono_ns();
    return (ssize_t)n;
}

static void sse_done(void *cls)
{
    sse_ctx *x = cls;

    cs_live_reader_end(x->srv->live);
    cs_free(x->buf);
    cs_free(x);
}

static enum MHD_Result serve_stream(cs_server *s, struct MHD_Connection *c, const cs__query *q)
{
    static const char hello[] = ": capstream live stream\nretry: 2000\n\n";
    struct MHD_Response *r;
    sse_ctx *x;

    if (s->live == NULL)
        return queue_error(c, 404, NULL, "no live stream: not a running daemon");
    if ((x = cs_calloc(1, sizeof(*x))) == NULL || (x->buf = cs_strdup(hello)) == NULL) {
        cs_free(x);
        return queue_internal(c, CS_ENOMEM);
    }
    x->srv = s;
    x->cursor = cs_live_reader_begin(s->live);
    x->min_ns = q->min_ns;
    x->events = q->events;
    x->len = sizeof(hello) - 1;
    x->last_write = mono_ns();
    if ((r = cs__mhd.create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, x,
                                                   sse_done)) == NULL) {
        sse_done(x);
        return MHD_NO;
    }
    return queue(c, 200, r, "text/event-stream");
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
        return queue(c, 200, r, ctype);
    }
    r = cs__mhd.create_response_from_buffer(len, text, MHD_RESPMEM_MUST_COPY);
    cs_free(text);
    return queue(c, 200, r, ctype);
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
        add_attachment(r, rep->filename);
    if (r != NULL && rep->header[0])
        cs__mhd.add_response_header(r, rep->header, rep->header_value);
    return queue(c, rep->status, r, rep->ctype ? rep->ctype : "application/json");
}

static enum MHD_Result serve_api(cs_server *s, struct MHD_Connection *c, const char *url)
{
    cs_server_params p = {0};
    cs_server_reply rep;
    int rc;

    cs__mhd.get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_api_param, &p);
    if (p.n == CS_SERVER_PARAMS_MAX)
        return queue_error(c, 400, NULL, "too many parameters");
    memset(&rep, 0, sizeof(rep));
    rep.fd = -1;
    if ((rc = s->api(s->api_ud, url, &p, &rep)) < 0) {
        free(rep.body);
        if (rep.fd >= 0)
            close(rep.fd);
        return queue_internal(c, rc);
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
        return queue_err(c, &e);
    cs__mhd.get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_param, &params);
    if (cs__api_parse(rt.ep, &params, now, &q, &e) < 0)
        return queue_err(c, &e);
    switch (rt.ep) {
    case CS__EP_PACKETS:
        return serve_packets(s, c, &q);
    case CS__EP_MESSAGE_PCAP:
    case CS__EP_MEASUREMENT_PCAP:
        return serve_one_pcap(s, c, &rt, q.pair);
    case CS__EP_STREAM:
        return serve_stream(s, c, &q);
    case CS__EP_PROMETHEUS:
        return serve_prometheus(s, c);
    }
    if ((rc = cs__api_json(s->store_dir, s->live, s->feeds, &rt, &q, now, &rep)) < 0)
        return queue_internal(c, rc);
    return queue_reply(c, &rep);
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
        return queue_error(c, 401, NULL, "missing or wrong bearer token");
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return queue_error(c, 405, NULL, "only GET is supported");
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

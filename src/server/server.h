/*
 * server.h - the daemon's HTTP API server (libmicrohttpd): JSON under
 * /api/v1, pcap downloads, a Server-Sent Events stream and Prometheus
 * /metrics. The endpoints are documented in docs/api.md.
 *
 * Security: it listens on 127.0.0.1:8642 unless told otherwise; any
 * non-loopback address needs a token file, and then every request must
 * carry "Authorization: Bearer TOKEN" (compared in constant time) or gets
 * 401. Paths are routed strings, never file paths; parameters are checked
 * strictly (400 naming the parameter).
 *
 * TLS: with a certificate and its key (PEM files) it speaks only HTTPS
 * (libmicrohttpd over GnuTLS); a plain-HTTP client gets no answer. A token
 * sent in clear is a password on the wire, so a non-loopback address with
 * a token but without TLS is refused unless "insecure" says the network
 * is trusted. Loopback may serve plain HTTP.
 *
 * Threading: one thread per connection (libmicrohttpd), plus one producer
 * thread per packet download. Requests open the store read-only, so the
 * server shares nothing with the daemon but "live" (thread-safe).
 *
 * Connections: up to 1000 (fewer under a low RLIMIT_NOFILE); one that is
 * quiet for 10 s before its first request is complete is closed (60 s once
 * a request came), so idle clients cannot keep real requests out (server.c).
 */
#ifndef CS_SERVER_SERVER_H
#define CS_SERVER_SERVER_H

#include "server/live.h"

#define CS_SERVER_DEFAULT_LISTEN "127.0.0.1:8642"

typedef struct cs_server cs_server;

/* ---- a server without a store: the hub ----------------------------------- */

#define CS_SERVER_PARAMS_MAX 32

/* A request's query parameters, decoded, in order (borrowed for the call). */
typedef struct cs_server_params {
    size_t n;
    const char *key[CS_SERVER_PARAMS_MAX], *value[CS_SERVER_PARAMS_MAX];
} cs_server_params;

/* What an api handler answers. */
typedef struct cs_server_reply {
    int status;                         /* HTTP status */
    const char *ctype;                  /* content type (a literal) */
    char *body;                         /* malloc'ed (the server frees it), "len" bytes; or */
    int fd;                             /* >= 0 (and body NULL): the body is this file's first
                                           "len" bytes (the server closes it) */
    size_t len;                         /* of body or fd */
    const char *filename;               /* Content-Disposition: attachment, or NULL */
    char header[64], header_value[448]; /* one more header, if header[0] */
} cs_server_reply;

/* Answers GET "url" (an /api/v1/... or /metrics path) with "params". The
 * reply starts with fd -1, the rest zero. Called from the connection's
 * thread, any number at once. Returns 0 (the reply is set) or an error
 * (500). */
typedef int (*cs_server_api_fn)(void *ud, const char *url, const cs_server_params *params,
                                cs_server_reply *rep);

typedef struct cs_server_cfg {
    const char *listen;     /* "127.0.0.1:8642" default; "[::1]:8642"; port 0 = any free */
    const char *token_file; /* first line = the bearer token; required off loopback */
    const char *store_dir;  /* the store the API reads; or NULL with "api" */
    cs_server_api_fn api;   /* answers every request but the web UI's files */
    void *api_ud;
    const char *tls_cert; /* PEM certificate (chain first the server's): HTTPS only; NULL: HTTP */
    const char *tls_key;  /* PEM private key of tls_cert; given exactly when tls_cert is */
    int insecure;         /* allows plain HTTP with a token off loopback */
} cs_server_cfg;

/* Checks "cfg" without starting anything, so a command can refuse it
 * before it opens captures or stores:
 *   - CS_EINVAL for a bad address, or tls_cert without tls_key (or the
 *     reverse);
 *   - CS_EPERM (with a detail) for a non-loopback address without
 *     token_file, or with one but without TLS and without "insecure".
 * The files themselves are read by cs_server_start. */
int cs_server_check(const cs_server_cfg *cfg);

/* Starts serving; "live" may be NULL (no status counters, no stream).
 * The errors of cs_server_check; CS_EINVAL for an empty token; for TLS,
 * CS_EUNSUPPORTED if libmicrohttpd was built without it and CS_EIO (naming
 * the files) if they cannot be read or libmicrohttpd refuses them (a key
 * that does not belong to the certificate); CS_EIO if it cannot bind. */
int cs_server_start(const cs_server_cfg *cfg, cs_live *live, cs_server **out);

/* 1 if "s" speaks HTTPS, else 0. */
int cs_server_tls(const cs_server *s);

/* The port it listens on (useful with port 0). */
int cs_server_port(const cs_server *s);

/* Stops (closes open streams and downloads) and frees "s" (NULL is fine). */
void cs_server_stop(cs_server *s);

/* 1 if "listen" ("host:port") names a loopback address, 0 if not, CS_EINVAL
 * if it is malformed. */
int cs_server_listen_is_loopback(const char *listen);

#endif

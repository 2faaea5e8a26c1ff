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

typedef struct cs_server_cfg {
    const char *listen;     /* "127.0.0.1:8642" default; "[::1]:8642"; port 0 = any free */
    const char *token_file; /* first line = the bearer token; required off loopback */
    const char *store_dir;
} cs_server_cfg;

/* Starts serving; "live" may be NULL (no status counters, no stream).
 * CS_EPERM (with a detail) for a non-loopback address without token_file,
 * CS_EINVAL for a bad address or empty token, CS_EIO if it cannot bind. */
int cs_server_start(const cs_server_cfg *cfg, cs_live *live, cs_server **out);

/* The port it listens on (useful with port 0). */
int cs_server_port(const cs_server *s);

/* Stops (closes open streams and downloads) and frees "s" (NULL is fine). */
void cs_server_stop(cs_server *s);

/* 1 if "listen" ("host:port") names a loopback address, 0 if not, CS_EINVAL
 * if it is malformed. */
int cs_server_listen_is_loopback(const char *listen);

#endif

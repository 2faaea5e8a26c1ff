/*
 * server_int.h - what the HTTP server's files share: the server's state,
 * the replies every handler queues, and the handlers of the two streamed
 * bodies (server_pcap.c: packet downloads; server_sse.c: /stream).
 */
#ifndef CS_SERVER_SERVER_INT_H
#define CS_SERVER_SERVER_INT_H

#include "server/api_int.h"
#include "server/mhd.h"
#include "server/server.h"

#include <stdatomic.h>
#include <stddef.h>

#define TOKEN_MAX 512

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

/* Queues response "r" (NULL: MHD_NO) with the headers every reply has. */
enum MHD_Result cs__srv_queue(struct MHD_Connection *c, int status, struct MHD_Response *r,
                              const char *ctype);
/* Queues "rep" and frees its body. */
enum MHD_Result cs__srv_queue_reply(struct MHD_Connection *c, cs__reply *rep);
/* A JSON error body {"error": msg, "param": param}. */
enum MHD_Result cs__srv_queue_error(struct MHD_Connection *c, int status, const char *param,
                                    const char *msg);
enum MHD_Result cs__srv_queue_err(struct MHD_Connection *c, const cs__err *e);
/* 503 when the store is not there (yet), else 500 with the error. */
enum MHD_Result cs__srv_queue_internal(struct MHD_Connection *c, int rc);

/* Content-Disposition: attachment; filename="name". */
void cs__srv_add_attachment(struct MHD_Response *r, const char *name);
/* GET /api/v1/packets: the query's pcap, streamed as it is found. */
enum MHD_Result cs__srv_serve_packets(cs_server *s, struct MHD_Connection *c, const cs__query *q);
/* GET /api/v1/{measurements,messages}/ID/pcap: the packets of one record. */
enum MHD_Result cs__srv_serve_one_pcap(cs_server *s, struct MHD_Connection *c, const cs__route *rt,
                                       const char *pair);
/* GET /api/v1/stream: Server-Sent Events from the live daemon. */
enum MHD_Result cs__srv_serve_stream(cs_server *s, struct MHD_Connection *c, const cs__query *q);

#endif

/*
 * fanout.h - one GET to several sensors at once, each answer kept apart,
 * all of it bounded by one deadline (libcurl's multi interface).
 *
 * A sensor that refuses the connection fails at once; one that is slow or
 * hung fails when the deadline passes; either way the others' answers are
 * kept, so the caller can give a partial answer that names the missing.
 * A sensor's answer goes into memory (JSON) or into a file the caller
 * gives (pcap downloads, which can be large).
 */
#ifndef CS_HUB_FANOUT_H
#define CS_HUB_FANOUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CS_HUB_URL_MAX 2048
#define CS_HUB_SENSORS_MAX 64
#define CS_HUB_NAME_MAX 64

/* One sensor, as the hub reaches it. */
typedef struct cs_hub_peer {
    char name[CS_HUB_NAME_MAX];
    char base[CS_HUB_URL_MAX]; /* "http[s]://HOST:PORT" without a trailing '/' */
    char auth[600];            /* "Authorization: Bearer TOKEN", or "" */
} cs_hub_peer;

/* One sensor's answer to a fan-out. */
typedef struct cs_hub_fetch {
    int ok;           /* an HTTP answer came (any status) */
    long status;      /* its HTTP status */
    char *body;       /* NUL-terminated, malloc'ed (NULL with "sink") */
    size_t len;       /* bytes received */
    FILE *sink;       /* if set by the caller: the body goes here instead */
    char why[256];    /* no answer: why (refused, timed out, TLS...) */
    char header[448]; /* the value of the header asked for, if any */
} cs_hub_fetch;

typedef struct cs_hub_fanout_cfg {
    const char *ca_file;     /* verify https sensors against it (else the system's) */
    int64_t deadline_ms;     /* for everything; with "streaming", for the first byte */
    const char *want_header; /* a reply header to keep in fetch.header, or NULL */
    int streaming;           /* a download (pcap): once its first byte came by the
                                deadline it may take as long as it keeps moving
                                (aborted after CS_HUB_STALL_S without a byte) */
} cs_hub_fanout_cfg;

#define CS_HUB_STALL_S 30

/* GETs "path" (starting with '/', query string included) from each of the
 * "n" peers whose "use" entry is non-zero (NULL: all), answers into
 * "out[i]" (zeroed first, except "sink"). Returns 0 once every transfer
 * ended or the deadline passed, or CS_ENOMEM. */
int cs_hub_fanout(const cs_hub_fanout_cfg *cfg, const cs_hub_peer *peers, int n, const int *use,
                  const char *path, cs_hub_fetch *out);

void cs_hub_fetch_free(cs_hub_fetch *f, int n);

#endif

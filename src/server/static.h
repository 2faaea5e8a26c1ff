/*
 * static.h - the web UI's files, embedded into the binary at build time
 * (web/build.sh assembles them, scripts/embed.py turns them into the
 * generated table cs_webassets[] in $(BUILD)/gen/webassets.c), served by
 * the API server at / (index.html) and /ui/NAME with their content type, a
 * strong ETag (If-None-Match -> 304) and "Cache-Control: no-cache" (the
 * browser revalidates, so a new binary's files are picked up at once).
 * No file system access: a URL is only ever compared with the table.
 */
#ifndef CS_SERVER_STATIC_H
#define CS_SERVER_STATIC_H

#include <stddef.h>

struct MHD_Connection;

typedef struct cs_webasset {
    const char *path;  /* "/ui/app.js"; NULL ends the table */
    const char *ctype; /* Content-Type */
    const char *etag;  /* quoted, e.g. "\"0123456789abcdef\"" */
    const unsigned char *data;
    size_t len;
} cs_webasset;

extern const cs_webasset cs_webassets[]; /* generated */

/* 1 if "url" is the UI's ("/", "/index.html" or under "/ui/"), else 0. */
int cs_static_wants(const char *url);

/* The asset for "url" ("/" and "/index.html" mean "/ui/index.html"), or NULL. */
const cs_webasset *cs_static_find(const char *url);

/* Queues the reply for a UI url: 200 with the file, 304 if "if_none_match"
 * holds its ETag, 404 if there is no such file. Returns an MHD_Result. */
int cs_static_serve(struct MHD_Connection *c, const char *url);

#endif

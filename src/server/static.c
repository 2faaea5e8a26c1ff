/*
 * static.c - serves the embedded web UI (see static.h). The table is
 * generated (scripts/embed.py); lookups are a linear scan over a handful of
 * entries by exact string match, so no URL can name anything outside it.
 *
 *   GET /            -> /ui/index.html
 *   GET /ui/NAME     -> table entry or 404
 *   If-None-Match == entry's ETag -> 304, no body
 *
 * Bodies point into the read-only table (MHD_RESPMEM_PERSISTENT): no copy,
 * nothing to free.
 */
#include "server/static.h"

#include "server/mhd.h"

#include <string.h>

#define INDEX_PATH "/ui/index.html"

int cs_static_wants(const char *url)
{
    return strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0 || strcmp(url, "/ui") == 0 ||
           strncmp(url, "/ui/", 4) == 0;
}

const cs_webasset *cs_static_find(const char *url)
{
    const char *want = url;

    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0 || strcmp(url, "/ui") == 0 ||
        strcmp(url, "/ui/") == 0)
        want = INDEX_PATH;
    for (const cs_webasset *a = cs_webassets; a->path != NULL; a++)
        if (strcmp(a->path, want) == 0)
            return a;
    return NULL;
}

static enum MHD_Result queue_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *r =
        cs__mhd.create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    cs__mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    cs__mhd.add_response_header(r, "X-Content-Type-Options", "nosniff");
    ret = cs__mhd.queue_response(c, status, r);
    cs__mhd.destroy_response(r);
    return ret;
}

static void add_headers(struct MHD_Response *r, const cs_webasset *a)
{
    cs__mhd.add_response_header(r, MHD_HTTP_HEADER_ETAG, a->etag);
    cs__mhd.add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    cs__mhd.add_response_header(r, "X-Content-Type-Options", "nosniff");
    cs__mhd.add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self' "
                                "'unsafe-inline'; frame-ancestors 'none'");
}

int cs_static_serve(struct MHD_Connection *c, const char *url)
{
    const cs_webasset *a = cs_static_find(url);
    const char *inm;
    struct MHD_Response *r;
    enum MHD_Result ret;
    unsigned status = 200;

    if (a == NULL)
        return queue_text(c, 404, "not found\n");
    inm = cs__mhd.lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (inm != NULL && strstr(inm, a->etag) != NULL) {
        status = 304;
        r = cs__mhd.create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else {
        r = cs__mhd.create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    }
    if (r == NULL)
        return MHD_NO;
    if (status == 200)
        cs__mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->ctype);
    add_headers(r, a);
    ret = cs__mhd.queue_response(c, status, r);
    cs__mhd.destroy_response(r);
    return ret;
}

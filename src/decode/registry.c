/*
 * registry.c - the table of every application decoder capstream has.
 *
 * Adding a protocol = adding its folder under src/decode/ and one line
 * here; the flow layer (src/analytics/analyzer.c) never names a protocol.
 * Order matters only as a tie-break: when several decoders' probes say YES
 * on a flow's first bytes, the first listed wins.
 */
#include "decode/decoder.h"

#include "core/error.h"

#include <stdio.h>
#include <string.h>

/* Each defined in src/decode/<name>/<name>.c. */
extern const cs_decoder cs_decoder_fix;
extern const cs_decoder cs_decoder_http;
extern const cs_decoder cs_decoder_dns;

const cs_decoder *const cs_decoders[] = {&cs_decoder_fix, &cs_decoder_http, &cs_decoder_dns, NULL};

const cs_decoder *cs_decoder_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; cs_decoders[i] != NULL; i++)
        if (strcmp(cs_decoders[i]->name, name) == 0)
            return cs_decoders[i];
    return NULL;
}

static int decoders_add(const cs_decoder **out, size_t *n, const cs_decoder *d)
{
    for (size_t i = 0; i < *n; i++)
        if (out[i] == d)
            return 0;
    if (*n >= CS_DECODERS_MAX)
        return cs_error_set(CS_EINVAL, "too many decoders");
    out[(*n)++] = d;
    return 0;
}

int cs_decoders_parse(const char *list, const cs_decoder **out)
{
    size_t n = 0;
    const char *p = list;
    int rc = 0;

    if (strcmp(list, "all") == 0) {
        for (size_t i = 0; cs_decoders[i] != NULL && rc == 0; i++)
            rc = decoders_add(out, &n, cs_decoders[i]);
    } else if (strcmp(list, "none") != 0) {
        while (rc == 0 && *p != '\0') {
            size_t len = strcspn(p, ",");
            char name[32];
            const cs_decoder *d;
            snprintf(name, sizeof(name), "%.*s", (int)(len < 31 ? len : 31), p);
            d = len < 31 ? cs_decoder_find(name) : NULL;
            if (d == NULL)
                return cs_error_set(CS_EINVAL, "unknown decoder '%.*s' (have: fix, http, dns; or "
                                    "all, none)", (int)len, p);
            rc = decoders_add(out, &n, d);
            p += len + (p[len] == ',');
        }
    }
    out[n] = NULL;
    return rc;
}

/*
 * registry.c - the table of every application decoder capstream has.
 *
 * Adding a protocol = adding its folder under src/decode/ and one line
 * here; the flow layer (src/analytics/analyzer.c) never names a protocol.
 * Order matters only as a tie-break: when several decoders' probes say YES
 * on a flow's first bytes, the first listed wins.
 */
#include "decode/decoder.h"

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

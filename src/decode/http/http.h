/*
 * http.h - the HTTP/1.x decoder plug-in (RFC 9112 message framing).
 *
 * One `const cs_decoder` driven through src/decode/decoder.h; the registry
 * (src/decode/registry.c) lists it. See http.c for the framing rules, what a
 * message's byte range covers and how the decoder resynchronises.
 */
#ifndef CS_DECODE_HTTP_HTTP_H
#define CS_DECODE_HTTP_HTTP_H

#include "decode/decoder.h"

/* name "http", TCP, ports 80 8080 8000 8008 8888 3128. */
extern const cs_decoder cs_decoder_http;

#endif

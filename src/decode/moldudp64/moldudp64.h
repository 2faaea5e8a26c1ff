/*
 * moldudp64.h - the MoldUDP64 1.00 decoder (Nasdaq's UDP transport of ITCH
 * market data), a cs_decoder plug-in listed in src/decode/registry.c. It
 * decodes each message block with the ITCH library (src/decode/itch/).
 * See moldudp64.c for the packets, the sequence tracking and the probe.
 */
#ifndef CS_DECODE_MOLDUDP64_MOLDUDP64_H
#define CS_DECODE_MOLDUDP64_MOLDUDP64_H

#include "decode/decoder.h"

extern const cs_decoder cs_decoder_moldudp64;

#endif

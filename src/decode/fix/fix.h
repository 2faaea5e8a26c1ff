/*
 * fix.h - the FIX tag=value decoder (FIX 4.0-4.4, FIXT.1.1), a cs_decoder
 * plug-in listed in src/decode/registry.c. See fix.c for the framing rules.
 */
#ifndef CS_DECODE_FIX_FIX_H
#define CS_DECODE_FIX_FIX_H

#include "decode/decoder.h"

extern const cs_decoder cs_decoder_fix;

#endif

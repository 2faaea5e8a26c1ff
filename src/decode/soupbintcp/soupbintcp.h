/*
 * soupbintcp.h - the SoupBinTCP 3.00 decoder (TCP session layer of Nasdaq
 * OUCH and ITCH), a cs_decoder plug-in listed in src/decode/registry.c.
 * It hands the payload of each data packet to a payload decoder (OUCH by
 * default). See soupbintcp.c for the framing, the sequence numbers and the
 * messages it reports.
 */
#ifndef CS_DECODE_SOUPBINTCP_SOUPBINTCP_H
#define CS_DECODE_SOUPBINTCP_SOUPBINTCP_H

#include "decode/decoder.h"

extern const cs_decoder cs_decoder_soupbintcp;

#endif

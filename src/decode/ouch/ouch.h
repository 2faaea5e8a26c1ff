/*
 * ouch.h - the OUCH 4.2 / 5.0 order-entry decoder, a payload decoder listed
 * in src/decode/registry.c: it has no transports (the flow layer never
 * dispatches a flow to it); SoupBinTCP (src/decode/soupbintcp/) hands it the
 * payload of each Sequenced or Unsequenced Data packet. See ouch.c for the
 * message tables and the pairing.
 */
#ifndef CS_DECODE_OUCH_OUCH_H
#define CS_DECODE_OUCH_OUCH_H

#include "decode/decoder.h"

extern const cs_decoder cs_decoder_ouch;

#endif

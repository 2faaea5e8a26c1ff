/*
 * dns.h - the DNS decoder (RFC 1035 over UDP datagrams and over TCP with
 * the 2-byte length prefix), a cs_decoder plug-in listed in
 * src/decode/registry.c. See dns.c for the fields it reports.
 */
#ifndef CS_DECODE_DNS_DNS_H
#define CS_DECODE_DNS_DNS_H

#include "decode/decoder.h"

extern const cs_decoder cs_decoder_dns;

#endif

/*
 * fuzz_dns.c - libFuzzer harness of the DNS decoder (src/decode/dns/dns.c).
 *
 * tests/fuzz/decoder_harness.h turns the input into datagrams or TCP stream
 * chunks (mode bit 5 picks), with gaps and a final EOF; the probe is run on
 * the whole input too. Seeds in tests/fuzz/seeds/fuzz_dns/ are real DNS
 * messages (tcpdump/zeek captures) behind a few control bytes, and TCP
 * framing cases from tools/gentraffic.py's DNS-over-TCP messages: a
 * length prefix in a chunk of its own (tcp-lone-prefix), two messages in
 * one chunk (tcp-two-msgs), a zone transfer in three messages cut into
 * 40-byte chunks (tcp-axfr-messages).
 */
#include "decode/dns/dns.h"

#include "../../tests/fuzz/decoder_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (cs_decoder_dns.probe(data, size, 0) > CS_PROBE_NEED_MORE)
        abort();
    return cs_fuzz_decoder(&cs_decoder_dns, CS_TRANSPORT_TCP | CS_TRANSPORT_UDP, data, size);
}

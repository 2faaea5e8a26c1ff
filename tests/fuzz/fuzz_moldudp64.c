/*
 * fuzz_moldudp64.c - libFuzzer harness of the MoldUDP64 decoder
 * (src/decode/moldudp64/moldudp64.c) and, through it, the ITCH library.
 *
 * tests/fuzz/decoder_harness.h turns the input into datagrams of either
 * direction (a UDP decoder: always datagram mode); the probe is run on the
 * whole input too. Seeds in tests/fuzz/seeds/fuzz_moldudp64/ are MoldUDP64
 * packets behind one control byte (63: the whole rest is one datagram):
 * data packets of ITCH blocks, a heartbeat, an end of session, a request,
 * a gap followed by a retransmission, a count beyond the datagram and a
 * zero-length block.
 */
#include "decode/moldudp64/moldudp64.h"

#include "../../tests/fuzz/decoder_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (cs_decoder_moldudp64.probe(data, size, 0) > CS_PROBE_NEED_MORE)
        abort();
    return cs_fuzz_decoder(&cs_decoder_moldudp64, CS_TRANSPORT_UDP, data, size);
}

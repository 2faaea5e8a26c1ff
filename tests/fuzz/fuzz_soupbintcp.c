/*
 * fuzz_soupbintcp.c - libFuzzer harness of the SoupBinTCP 3.00 decoder
 * (src/decode/soupbintcp/soupbintcp.c) with its default payload decoder,
 * OUCH.
 *
 * The input is split into stream chunks of both directions, with gaps and a
 * final EOF, by tests/fuzz/decoder_harness.h (see its layout comment), so
 * packets split at every byte, coalesced, and cut by gaps are all reached.
 * Seeds in tests/fuzz/seeds/fuzz_soupbintcp/ are the two directions of
 * OUCH 4.2 and 5.0 sessions from tools/gentrading.py, in 32-byte chunks.
 */
#include "decode/soupbintcp/soupbintcp.h"

#include "../../tests/fuzz/decoder_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return cs_fuzz_decoder(&cs_decoder_soupbintcp, CS_TRANSPORT_TCP, data, size);
}

/*
 * fuzz_ouch.c - libFuzzer harness of the OUCH 4.2/5.0 payload decoder
 * (src/decode/ouch/ouch.c) alone: each chunk of the input is one message,
 * as SoupBinTCP hands it one Unsequenced (direction 0) or Sequenced
 * (direction 1) Data payload (tests/fuzz/decoder_harness.h, datagram
 * mode). Seeds in tests/fuzz/seeds/fuzz_ouch/ are OUCH 4.2 and 5.0
 * messages of both directions from tools/gentrading.py.
 */
#include "decode/ouch/ouch.h"

#include "../../tests/fuzz/decoder_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return cs_fuzz_decoder(&cs_decoder_ouch, CS_TRANSPORT_UDP, data, size);
}

/*
 * fuzz_fix.c - libFuzzer harness of the FIX decoder (src/decode/fix/fix.c).
 *
 * The input is split into stream chunks of both directions, with gaps and a
 * final EOF, by tests/fuzz/decoder_harness.h (see its layout comment). Seeds
 * in tests/fuzz/seeds/fuzz_fix/ are real FIX sessions behind a few control
 * bytes.
 */
#include "decode/fix/fix.h"

#include "../../tests/fuzz/decoder_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return cs_fuzz_decoder(&cs_decoder_fix, CS_TRANSPORT_TCP, data, size);
}

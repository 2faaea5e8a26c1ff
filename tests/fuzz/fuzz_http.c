/*
 * fuzz_http.c - libFuzzer harness for the HTTP/1.x decoder
 * (src/decode/http/http.c).
 *
 * The input is split into per-direction stream chunks, gaps, a mid-stream
 * start and a final EOF by tests/fuzz/decoder_harness.h, which plays the
 * flow layer (re-offering unconsumed bytes in exactly sized buffers) and
 * aborts on any breach of the decoder interface's invariants. The probe is
 * run on the raw input as well. Seeds: tests/fuzz/seeds/fuzz_http/.
 */
#include "decode/http/http.h"

#include "decoder_harness.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_probe p = cs_decoder_http.probe(data, size, size ? data[0] & 1 : 0);

    if (p != CS_PROBE_NO && p != CS_PROBE_YES && p != CS_PROBE_NEED_MORE)
        abort();
    return cs_fuzz_decoder(&cs_decoder_http, CS_TRANSPORT_TCP, data, size);
}

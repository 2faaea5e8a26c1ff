/*
 * fuzz_capfile.c - libFuzzer harness for the capture-file reader.
 *
 * The input is a whole capture file, opened with cs_capfile_open_mem() from
 * an exactly sized copy, and read to the end (going on after CS_ELINKTYPE
 * as a skipping caller would). Every byte of every packet is read, so that
 * ASan reports a packet that reaches past the input; the invariants every
 * caller relies on (caplen <= wirelen, data inside the input, the offset
 * never going back, errors repeating) are checked with abort().
 */
#include "core/error.h"
#include "source/capfile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_packet(const cs_packet *pkt, const uint8_t *buf, size_t size)
{
    volatile uint8_t sink = 0;

    if (pkt->caplen > pkt->wirelen)
        abort();
    if (pkt->caplen > 0 && (pkt->data < buf || pkt->data + pkt->caplen > buf + size))
        abort();
    for (uint32_t i = 0; i < pkt->caplen; i++)
        sink ^= pkt->data[i];
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    cs_capfile *f = NULL;
    cs_packet pkt;
    uint64_t last_off = 0;
    int rc;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    if (cs_capfile_open_mem(copy, size, &f) == 0) {
        (void)cs_capfile_snaplen(f, 0);
        while ((rc = cs_capfile_next(f, &pkt)) == 1 || rc == CS_ELINKTYPE) {
            check_packet(&pkt, copy, size);
            (void)cs_capfile_snaplen(f, pkt.tap);
            if (cs_capfile_offset(f) <= last_off || cs_capfile_offset(f) > size)
                abort();
            last_off = cs_capfile_offset(f);
        }
        if (rc < 0 && cs_capfile_next(f, &pkt) != rc)
            abort();
        cs_capfile_close(f);
    }
    free(copy);
    return 0;
}

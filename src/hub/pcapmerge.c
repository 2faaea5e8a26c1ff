/*
 * pcapmerge.c - sensors' pcap downloads merged into one in time order
 * (cs_hub_merge_pcaps, merge.h).
 *
 * A k-way merge holding one record per input: the record with the
 * smallest time (in nanoseconds, whatever the input's resolution) goes out
 * next, ties to the earlier input, so each input's own order is kept.
 * Inputs in either byte order and in micro- or nanosecond resolution are
 * read; the output is a nanosecond pcap in this host's byte order with the
 * largest snap length of the inputs. A record longer than its input's snap
 * length or than MAX_RECORD is a corrupt input: the merge stops there with
 * CS_EIO rather than write garbage.
 */
#include "hub/merge.h"

#include "core/alloc.h"
#include "core/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC_US 0xa1b2c3d4u
#define MAGIC_NS 0xa1b23c4du
#define MAX_RECORD (256u << 10)

typedef struct input {
    FILE *f;
    int swapped, ns, live; /* live: "rec" holds the next record */
    uint32_t snaplen, linktype;
    int64_t ts;
    uint32_t caplen, wirelen;
    uint8_t *rec;
} input;

static uint32_t get32(const uint8_t *p, int swapped)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return swapped ? __builtin_bswap32(v) : v;
}

/* Reads the next record of "in" into it; live 0 at its end. */
static int next_record(input *in)
{
    uint8_t h[16];

    in->live = 0;
    if (fread(h, 1, 16, in->f) != 16)
        return 0;
    in->caplen = get32(h + 8, in->swapped);
    in->wirelen = get32(h + 12, in->swapped);
    if (in->caplen > MAX_RECORD || fread(in->rec, 1, in->caplen, in->f) != in->caplen)
        return cs_error_set(CS_EIO, "a sensor's pcap is cut short or corrupt");
    in->ts = (int64_t)get32(h, in->swapped) * 1000000000ll +
             (int64_t)get32(h + 4, in->swapped) * (in->ns ? 1 : 1000);
    in->live = 1;
    return 0;
}

/* Opens input "in" at its start: 1 if it is a pcap, 0 if not (or empty). */
static int open_input(input *in, FILE *f)
{
    uint8_t h[24];
    uint32_t magic;

    memset(in, 0, sizeof(*in));
    in->f = f;
    rewind(f);
    if (fread(h, 1, 24, f) != 24)
        return 0;
    memcpy(&magic, h, 4);
    in->swapped = magic == __builtin_bswap32(MAGIC_US) || magic == __builtin_bswap32(MAGIC_NS);
    magic = in->swapped ? __builtin_bswap32(magic) : magic;
    if (magic != MAGIC_US && magic != MAGIC_NS)
        return 0;
    in->ns = magic == MAGIC_NS;
    in->snaplen = get32(h + 16, in->swapped);
    in->linktype = get32(h + 20, in->swapped);
    return 1;
}

static int write_header(FILE *out, uint32_t snaplen, uint32_t linktype)
{
    uint32_t h[6] = {MAGIC_NS, 2 | (4u << 16), 0, 0, snaplen, linktype};

    return fwrite(h, 1, sizeof(h), out) == sizeof(h) ? 0 : CS_EIO;
}

static int write_record(FILE *out, const input *in)
{
    uint32_t h[4] = {(uint32_t)(in->ts / 1000000000ll), (uint32_t)(in->ts % 1000000000ll),
                     in->caplen, in->wirelen};

    if (fwrite(h, 1, sizeof(h), out) != sizeof(h) ||
        fwrite(in->rec, 1, in->caplen, out) != in->caplen)
        return cs_error_set(CS_EIO, "cannot write the merged pcap");
    return 0;
}

/* The input with the earliest record, or -1 when all have ended. */
static int earliest(const input *in, int n)
{
    int best = -1;

    for (int i = 0; i < n; i++)
        if (in[i].live && (best < 0 || in[i].ts < in[best].ts))
            best = i;
    return best;
}

/* Opens the inputs; the common link type and largest snap length. */
static int open_all(FILE **files, input *in, int n, uint32_t *snap, uint32_t *link, char *why,
                    size_t cap)
{
    int have = 0;

    for (int i = 0; i < n; i++) {
        if (!files[i] || !open_input(&in[i], files[i])) {
            in[i].f = NULL;
            continue;
        }
        if (have && in[i].linktype != *link) {
            snprintf(why, cap, "the sensors' packets have different link types (%u, %u)", *link,
                     in[i].linktype);
            return CS_EINVAL;
        }
        *link = in[i].linktype;
        *snap = in[i].snaplen > *snap ? in[i].snaplen : *snap;
        have = 1;
        if ((in[i].rec = cs_malloc(MAX_RECORD)) == NULL)
            return CS_ENOMEM;
    }
    return 0;
}

long cs_hub_merge_pcaps(FILE **files, int n, FILE *out, char *why, size_t cap)
{
    input in[CS_HUB_SENSORS_MAX];
    uint32_t snap = 0, link = 1;
    long written = 0;
    int rc, i;

    if (n > CS_HUB_SENSORS_MAX)
        return CS_EINVAL;
    memset(in, 0, sizeof(in));
    rc = open_all(files, in, n, &snap, &link, why, cap);
    if (rc == 0)
        rc = write_header(out, snap ? snap : 262144, link);
    for (i = 0; i < n && rc == 0; i++)
        if (in[i].f)
            rc = next_record(&in[i]);
    while (rc == 0 && (i = earliest(in, n)) >= 0) {
        if ((rc = write_record(out, &in[i])) == 0)
            rc = next_record(&in[i]);
        written++;
    }
    for (i = 0; i < n; i++)
        cs_free(in[i].rec);
    if (rc == 0 && fflush(out) != 0)
        rc = CS_EIO;
    return rc < 0 ? rc : written;
}

/*
 * source_file.c - the capture-file source: a cs_capfile behind the source
 * ops table (spec = a path, or "-" for standard input).
 *
 * Batches without copies: every packet of a batch points into the reader's
 * buffer, so the buffer must not move while a batch is out. The first
 * packet of a batch is read with cs_capfile_next(), which may refill (and so
 * move) the buffer - allowed, because the previous batch was released. The
 * rest come from cs__capfile_next_buffered(), which returns only packets
 * already in the buffer and says CS__CAPFILE_REFILL instead of reading; the
 * batch then ends early (at most once per 4 MiB buffer fill).
 *
 *     next_batch:  [capfile_next] [buffered] [buffered] ... until 256,
 *                  refill needed, end of file or an error
 *
 * Errors: an error met after some packets were batched is kept and returned
 * by the next call, so no packet is lost before it. Like the reader, the
 * source goes on after CS_ELINKTYPE (that packet is left out of the batch and
 * the error returned once): a caller that must stop on a link type wider
 * than 16 bits stops; one that wants to skip calls again. All other errors
 * repeat. Packets of every other link type are batched, dissectable or not.
 *
 * Ownership: the source owns its reader. Not thread-safe.
 */
#include "source/source.h"

#include "core/alloc.h"
#include "core/error.h"
#include "source/capfile.h"
#include "source/capfile_int.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Internal to the capture-file module (defined in capfile.c). */

typedef struct source_file {
    cs_source base; /* first: generic code sees a cs_source */
    cs_capfile *file;
    bool linktype_pending; /* a CS_ELINKTYPE to report at the next call */
    char linktype_msg[256];
    uint64_t packets;
    uint64_t bytes;
} source_file;

static int file_open(cs_source **out, const char *spec)
{
    source_file *s;
    int rc;

    *out = NULL;
    s = cs_calloc(1, sizeof(*s));
    if (s == NULL)
        return cs_error_set(CS_ENOMEM, "no memory for a file source");
    s->base.ops = &cs_source_file_ops;
    rc = cs_capfile_open(spec, &s->file);
    if (rc < 0) {
        cs_free(s);
        return rc;
    }
    *out = &s->base;
    return 0;
}

static int file_next_batch(cs_source *src, cs_batch *batch)
{
    source_file *s = (source_file *)src;
    int rc = 0;

    batch->n = 0;
    if (s->linktype_pending) {
        s->linktype_pending = false;
        return cs_error_set(CS_ELINKTYPE, "%s", s->linktype_msg);
    }
    while (batch->n < CS_BATCH_MAX) {
        cs_packet *pkt = &batch->pkts[batch->n];
        rc =
            batch->n == 0 ? cs_capfile_next(s->file, pkt) : cs__capfile_next_buffered(s->file, pkt);
        if (rc != 1)
            break;
        s->packets++;
        s->bytes += pkt->caplen;
        batch->n++;
    }
    if (rc >= 0 || batch->n == 0)
        return rc >= 0 ? 0 : rc;
    /* Deliver what was batched first; a latched reader error comes back by
     * itself at the next call, a link-type error must be remembered. */
    if (rc == CS_ELINKTYPE) {
        snprintf(s->linktype_msg, sizeof(s->linktype_msg), "%s", cs_error_msg(rc));
        s->linktype_pending = true;
    }
    return 0;
}

static void file_release_batch(cs_source *src, cs_batch *batch)
{
    batch->n = 0;
}

static void file_stats(const cs_source *src, cs_source_stats *st)
{
    const source_file *s = (const source_file *)src;

    st->packets = s->packets;
    st->bytes = s->bytes;
    st->input_offset = cs_capfile_offset(s->file);
    st->input_size = cs_capfile_size(s->file);
    st->kernel_drops = 0;
}

static void file_close(cs_source *src)
{
    source_file *s = (source_file *)src;

    if (s == NULL)
        return;
    cs_capfile_close(s->file);
    cs_free(s);
}

const cs_source_ops cs_source_file_ops = {
    .name = "file",
    .open = file_open,
    .next_batch = file_next_batch,
    .release_batch = file_release_batch,
    .stats = file_stats,
    .close = file_close,
};

uint32_t cs_source_file_snaplen(const cs_source *src, uint16_t tap)
{
    const source_file *s = (const source_file *)src;

    return cs_capfile_snaplen(s->file, tap);
}

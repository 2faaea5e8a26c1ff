/*
 * metricstore_int.h - what the metrics store's two files share: the file
 * format's reading (metricstore.c, which also writes the files and keeps
 * the alert log) and the queries (metricquery.c). Not for other modules.
 */
#ifndef CS_STORE_METRICSTORE_INT_H
#define CS_STORE_METRICSTORE_INT_H

#include "analytics/histogram.h"
#include "store/metricstore.h"

#include <stddef.h>
#include <stdint.h>

#define CS__MS_HEADER_LEN 16 /* a metrics file's header */
#define CS__MS_HOUR_NS (3600LL * CS_NS_PER_SEC)

/* a / b rounded toward minus infinity (b > 0). */
static inline int64_t cs__ms_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b < 0) ? q - 1 : q;
}

/* A metrics file of an hour, as listed. */
typedef struct cs__mfile {
    char name[32];
    int64_t hour_ns;
    uint64_t size;
} cs__mfile;

/* Where the next record starts: its body in [*body, *body + *blen). 1 for
 * a record, 0 at the end or at a torn/corrupt record. */
int cs__ms_next_record(const uint8_t *data, size_t len, size_t *off, const uint8_t **body,
                       size_t *blen);
/* Does a file start with a header this build reads? */
int cs__ms_header_ok(const uint8_t *data, size_t len);
/* Decodes one body into "w", adding its buckets into "h" and widening the
 * touched bucket range [*lo, *hi]; 0 or CS_ECORRUPT. */
int cs__ms_decode(const uint8_t *body, size_t blen, cs_window *w, cs_histogram *h, int *lo,
                  int *hi);
/* Empties "h", whose non-zero buckets all lie in [lo, hi]. */
void cs__ms_hist_clear(cs_histogram *h, int lo, int hi);
/* The metrics files of "dir", oldest first (cs_malloc'ed); a missing dir
 * is empty. */
int cs__ms_list_files(const char *dir, cs__mfile **out, size_t *n);

#endif

/*
 * source.h - where packets come from: one ops table, several sources.
 *
 * Every source (capture file, later AF_PACKET ring and the synthetic demo
 * generator) sits behind the same ops table (Redis's ConnectionType), so the
 * pipeline never knows which one feeds it:
 *
 *     open -> next_batch -> release_batch -> next_batch ... -> close
 *
 * next_batch fills a batch of up to CS_BATCH_MAX packets whose "data" stays
 * valid until release_batch. A batch with n == 0 and return 0 is the end.
 */
#ifndef CS_SOURCE_SOURCE_H
#define CS_SOURCE_SOURCE_H

#include "core/packet.h"

#include <stdint.h>

#define CS_BATCH_MAX 256

typedef struct cs_batch {
    cs_packet pkts[CS_BATCH_MAX];
    unsigned n;
} cs_batch;

typedef struct cs_source_stats {
    uint64_t packets;       /* packets delivered */
    uint64_t bytes;         /* captured bytes delivered */
    uint64_t input_offset;  /* bytes of input consumed (files) */
    uint64_t input_size;    /* total input bytes if known, else 0 */
    uint64_t kernel_drops;  /* live sources only */
} cs_source_stats;

typedef struct cs_source cs_source;

typedef struct cs_source_ops {
    const char *name;
    int (*open)(cs_source **out, const char *spec);
    int (*next_batch)(cs_source *src, cs_batch *batch);
    void (*release_batch)(cs_source *src, cs_batch *batch);
    void (*stats)(const cs_source *src, cs_source_stats *st);
    void (*close)(cs_source *src);
} cs_source_ops;

/* Every source begins with this header, so generic code can find its ops. */
struct cs_source {
    const cs_source_ops *ops;
};

/* The capture-file source: spec is a path or "-". */
extern const cs_source_ops cs_source_file_ops;

/* Snap length for link type / tap of a file source (for BPF compilation). */
uint32_t cs_source_file_snaplen(const cs_source *src, uint16_t tap);

#endif

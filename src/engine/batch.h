/*
 * batch.h - the two batch passes: `ingest` (a capture file into the store,
 * analysed on the way) and `reanalyze` (stored packets decoded again),
 * each one call that opens what it needs, runs the single pass
 * (engine/pipeline.h) and closes everything, whatever happened midway.
 *
 *   ingest:    capture file ─► pipeline ─┬─► store (segments + index)
 *                                        └─► analysis ─► message store
 *   reanalyze: store scan (capture order, refs) ─► analysis ─► message
 *              store, replacing what it held for those segments
 *
 * Both run on the caller's thread; the caller prints what they report.
 */
#ifndef CS_ENGINE_BATCH_H
#define CS_ENGINE_BATCH_H

#include "analytics/analyzer.h"
#include "decode/decoder.h"
#include "engine/pipeline.h"
#include "export/chexport.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/* A batch pass's export (--export): its thread sends records while the
 * pass stores them, then drains what is left once the pass ended. */
#define CS_BATCH_EXPORT_DRAIN_MS (3600 * 1000ll) /* while ClickHouse takes batches */
#define CS_BATCH_EXPORT_DELAY_MS 100             /* kept close behind the pass */

typedef struct cs_batch_export {
    int ran;      /* cfg.exp was given and opened: the fields below are set */
    int complete; /* every record the store holds was sent */
    cs_chexport_stats st;
} cs_batch_export;

typedef struct cs_ingest_cfg {
    const char *file; /* capture file (pcap or pcapng; "-" = standard input) */
    const char *dir;  /* the store (opened with "so") */
    cs_store_opts so;
    const cs_decoder *const *decoders;     /* NULL-terminated; empty = packets only */
    const cs_decoder_optset *decoder_opts; /* or NULL */
    const cs_analyzer_cfg *limits;         /* or NULL for the defaults */
    int tap_by_vlan;                       /* --tap-by vlan (pipeline.h) */
    cs_timerefs timeref;                   /* --time-source, --tap-by trailer */
    uint32_t workers;                      /* --workers (pipeline.h); 0 = 1 */
    const cs_chexport_cfg *exp; /* records on to ClickHouse (store_dir: "dir"), or NULL */
    /* called every 4096 packets (may be NULL): bytes of the file read, its
     * size (0 if unknown), packets so far */
    void (*progress)(void *ud, uint64_t done_bytes, uint64_t total_bytes, uint64_t packets);
    void *ud;
} cs_ingest_cfg;

typedef struct cs_ingest_result {
    int ran; /* the file and the store opened: the fields below are set */
    uint64_t packets, bytes;
    int64_t min_ts, max_ts;
    cs_pipeline_stats ps;
    cs_store_info before; /* the store as opened */
    cs_store_info fin;    /* as closed: what it really stored */
    char why[512];        /* what stopped the pass, when ingest fails after "ran" */
    cs_batch_export exp;
} cs_ingest_result;

/*
 * Reads every packet of cfg->file through the pipeline into the store.
 * A failure in the middle (file cut off, bad record, full disk) still
 * closes the store properly, so every complete packet before the fault is
 * stored and indexed; "res->why" then says what it was. Returns 0, or the
 * error (res->ran 0: the file or the store did not open).
 */
int cs_ingest(const cs_ingest_cfg *cfg, cs_ingest_result *res);

typedef struct cs_reanalyze_cfg {
    const char *dir;       /* the store (its writer lock is taken) */
    int64_t after, before; /* the segments holding packets in [after, before) */
    const cs_decoder *const *decoders;
    const cs_decoder_optset *decoder_opts; /* or NULL */
    int tap_by_vlan;                       /* --tap-by vlan (pipeline.h) */
    cs_timerefs timeref;                   /* --time-source, --tap-by trailer */
    uint32_t workers;                      /* --workers (pipeline.h); 0 = 1 */
    const cs_chexport_cfg *exp; /* records on to ClickHouse (store_dir: "dir"), or NULL */
} cs_reanalyze_cfg;

typedef struct cs_reanalyze_result {
    uint32_t first_seg, last_seg; /* the segments reanalysed (0, 0: none in range) */
    cs_pipeline_stats ps;
    cs_batch_export exp; /* the replaced records are sent again */
} cs_reanalyze_result;

/*
 * Decodes the stored packets of the segments that overlap the range again
 * and replaces what the message store holds for them when the pass ends.
 * Returns 0 (also when no segment is in range: res->first_seg 0) or the
 * error.
 */
int cs_reanalyze(const cs_reanalyze_cfg *cfg, cs_reanalyze_result *res);

#endif

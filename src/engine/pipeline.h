/*
 * pipeline.h - the single pass: every packet goes to the store and to the
 * analyzer, and what the analyzer finds goes to the message store.
 *
 *   packet ─► dissect ─► time source ─┬─► store (segment + index) ─► ref
 *                                     └─► analyzer(ref) ─► messages, measurements, gaps ─► msgstore
 *
 * The packet is dissected once and both halves use that dissection and the
 * reference time the time source gives it (packet/timeref.h). Used
 * by `ingest` (store + analysis), `reanalyze` (analysis of stored packets,
 * whose refs are known) and later by the live daemon.
 *
 * Threading: one pipeline is driven by one thread (with lossy_store, an
 * internal thread writes the message store).
 */
#ifndef CS_ENGINE_PIPELINE_H
#define CS_ENGINE_PIPELINE_H

#include "analytics/analyzer.h"
#include "core/packet.h"
#include "packet/timeref.h"
#include "store/store.h"

typedef struct cs_pipeline cs_pipeline;

typedef struct cs_pipeline_cfg {
    cs_store *store;                   /* append packets here (NULL: packets already stored) */
    const char *store_dir;             /* where messages go (NULL: not stored) */
    const cs_decoder *const *decoders; /* NULL-terminated; empty list = no analysis */
    uint32_t replace_first_seg;        /* reanalyze: replace messages of these segments */
    uint32_t replace_last_seg;         /* (0, 0 = append) */
    const cs_sink *observer;           /* also told of every message, measurement,
                                          unmatched request and sequence gap (live
                                          daemon: metrics, live stream); may be NULL */
    int lossy_store;                   /* a packet the store refuses (disk behind) is
                                          counted as not stored and still analysed;
                                          messages go to the store from a thread of
                                          their own, dropped (counted) when it is
                                          behind: the caller never waits for the disk */
    const cs_analyzer_cfg *limits;     /* analyzer bounds (flows, buffers, timeouts);
                                          NULL = defaults; its decoders are ignored */
    /* --decoder-opt settings (decode/decoder.h); NULL = none */
    const cs_decoder_optset *decoder_opts;
    /* --tap-by vlan: analysis sees a tagged packet's tap as its outer VLAN
     * id (a tap aggregator tags each capture point's port); the store keeps
     * the source's tap. 0 = the source's tap (interface) */
    int tap_by_vlan;
    /* --time-source (and --tap-by trailer): where packet times come from,
     * per source tap; zero = the capture's stamps (packet/timeref.h). Store
     * and analysis both see the reference time. */
    cs_timerefs timeref;
    /* --workers: flow analyzers on threads of their own (engine/shards.h);
     * 0 or 1 = one analyzer on the caller's thread. With more, the sink,
     * the observer and on_packet run on the correlating thread, and
     * cs_pipeline_advance, _input_ended and _flush take effect there
     * after the packets given before them (at once when called there). */
    uint32_t workers;
    /* every packet analysed, with its analysis tap (may be NULL) */
    void (*on_packet)(void *ud, const cs_packet *p);
    void *on_packet_ud;
} cs_pipeline_cfg;

typedef struct cs_pipeline_stats {
    uint64_t packets;
    uint64_t bytes;
    uint64_t not_stored;         /* packets the store refused (lossy_store) */
    uint64_t records_not_stored; /* messages, measurements and unmatched records
                                    dropped because the disk was behind
                                    (lossy_store) */
    uint64_t messages_stored;
    uint64_t measurements_stored;
    uint64_t gaps_stored; /* sequence gaps stored (gap records) */
    cs_analyzer_stats analyzer;
    int analyzed; /* the analyzer ran */
    /* packets of link types cs_dissect() cannot read (802.11, radiotap...):
     * stored, not analysed, counted in total and per link type */
    uint64_t undissected;
    cs_link_count undissected_by_link[CS_LINK_COUNTS];
    uint32_t n_undissected_links;
    cs_timeref_stats timeref; /* --time-source trailer: timed and untimed packets */
} cs_pipeline_stats;

int cs_pipeline_new(const cs_pipeline_cfg *cfg, cs_pipeline **out);

/* One packet from a source: dissected, stored, analysed. A packet whose
 * link type cs_dissect() cannot read is stored and counted, not analysed. */
int cs_pipeline_packet(cs_pipeline *pl, const cs_packet *p);

/* One packet already in the store at "ref": dissected and analysed. */
int cs_pipeline_stored_packet(cs_pipeline *pl, const cs_packet *p, cs_pktref ref);

/* The counters so far (the analyzer's are filled in at finish only). On
 * the correlating thread (--workers), the caller's counters are those of
 * the latest cs_pipeline_call. */
void cs_pipeline_stats_peek(const cs_pipeline *pl, cs_pipeline_stats *st);

/* Capture time "now_ns" has come even without packets (the daemon's tick:
 * the wall clock live, the newest packet of a file): gaps held to learn
 * whether they are filled leave after their hold. */
void cs_pipeline_advance(cs_pipeline *pl, int64_t now_ns);

/* Every packet has come (a replayed file is done, the daemon serves on):
 * the gaps still held leave now, as at finish. */
void cs_pipeline_input_ended(cs_pipeline *pl);

/* fn(ud) once the packets given so far are analysed: now with one
 * analyzer, on the correlating thread with workers. There the sink's side
 * (metrics fed by the observer and on_packet, cs_pipeline_advance, _flush,
 * _input_ended, _stats_peek) is the thread's own. */
void cs_pipeline_call(cs_pipeline *pl, void (*fn)(void *ud), void *ud);

/* Makes the messages stored so far visible to readers (live daemon). */
int cs_pipeline_flush(cs_pipeline *pl);

/* Ends the analysis (flushes reassembly and pending pairs) and publishes
 * the messages. Returns the first error met by the sink, if any. */
int cs_pipeline_finish(cs_pipeline *pl, cs_pipeline_stats *st);

void cs_pipeline_free(cs_pipeline *pl);

#endif

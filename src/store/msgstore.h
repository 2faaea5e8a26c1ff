/*
 * msgstore.h - the message store: decoded messages, latency measurements
 * and unmatched requests/responses, kept next to the packets that carried
 * them.
 *
 *   STORE/messages/
 *     msg-00000007.bin    messages whose id names a segment of the group
 *                         starting at 7 (segments 7 .. 7+P-1)
 *     lat-00000007.bin    measurements whose id (= request id) names a
 *                         segment of the group starting at 7
 *     unm-00000007.bin    unanswered requests / orphan responses, likewise
 *     gap-00000007.bin    sequence gaps, filed by the packet that revealed
 *                         them, likewise
 *     msg-00000000.bin    ... messages whose packets were not stored (ids with
 *                         the top bit set), likewise lat- and unm-
 *
 * Files by segment group. The packet store writes P flow partitions at
 * once (store.h; P is fixed when the store is made, 1 for stores made
 * before partitions): segment ids come in aligned groups of P, partition p
 * of group g being segment 1 + g*P + p. A record goes to the file of its
 * segment's group, named by the group's first segment id
 * (cs_store_group_of), so a group's records of one kind are in one file in
 * the order they were written (arrival order), and there are as many
 * files as groups, not segments. With P = 1 a group is one segment. Writer
 * and reader read P from the store directory when they open.
 *
 * Every file is a short header followed by length-prefixed, checksummed
 * records (the byte layout is in msgstore_format.c). Files are only appended to
 * during ingest; a record cut short by a crash fails its checksum and is
 * never served (and the next writer cuts it off before appending).
 * Reanalysis replaces a range of segment groups: the new files are written
 * beside the old ones and renamed over them when the writer closes, so a
 * reader sees either the old or the new records of a file, never a mix.
 *
 * Writer: one per store (the packet store's writer lock says who), used by
 * one thread. Readers: any number, in any process, while the writer runs;
 * they see what the writer has flushed.
 *
 * Ownership: records passed to the writer are copied during the call.
 * Records passed to a reader's callback point into the reader's buffers and
 * are valid only during the call.
 */
#ifndef CS_STORE_MSGSTORE_H
#define CS_STORE_MSGSTORE_H

#include "analytics/histogram.h"
#include "analytics/lazyhist.h"
#include "record/message.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- writer ----------------------------------------------------------- */

typedef struct cs_msgstore cs_msgstore;

/* Opens the writer of the store at "store_dir" (creates STORE/messages/
 * if missing). */
int cs_msgstore_open(const char *store_dir, cs_msgstore **out);

/* Starts replacing everything stored for packet segments [first_seg,
 * last_seg] (reanalyze), widened to whole groups: the files of every group
 * from the group of "first_seg" to the group of "last_seg". Records
 * written for those groups after this call go to fresh files that replace
 * the old ones atomically at cs_msgstore_close(); files of groups in the
 * range that get no new records are removed then. Groups outside the range
 * are appended to as usual. At most one range per writer. */
int cs_msgstore_replace_range(cs_msgstore *w, uint32_t first_seg, uint32_t last_seg);

/* Narrows the replacement of cs_msgstore_replace_range to the records of
 * these protocols (messages by proto, measurements by pair): records of
 * other protocols in the range are kept. "protos" is NULL-terminated and
 * must stay valid until close. Without this call every record is replaced. */
int cs_msgstore_replace_protos(cs_msgstore *w, const char *const *protos);

/*
 * Retention: keeps STORE/messages/ within "max_bytes" (0 = unlimited).
 * Whenever the writer starts the files of a newer segment group, the files
 * (msg-, lat- and unm-) of the oldest groups go, whole groups at a time,
 * while the directory holds more than the budget; the newest group's files
 * and those of the group before it (the next-lower file id in the
 * directory: still filed into by late measurements) are never deleted, nor
 * file 0 (records whose packets were not stored).
 * Readers skip a file deleted under them.
 */
void cs_msgstore_set_budget(cs_msgstore *w, uint64_t max_bytes);

int cs_msgstore_put_message(cs_msgstore *w, const cs_message *m);
int cs_msgstore_put_measurement(cs_msgstore *w, const cs_measurement *ms);
/* "kind" is CS_UNMATCHED_REQUEST or CS_UNMATCHED_RESPONSE (analyzer.h). */
int cs_msgstore_put_unmatched(cs_msgstore *w, const cs_message *m, int kind);
int cs_msgstore_put_gap(cs_msgstore *w, const cs_gap *g);

/*
 * Records encoded ahead of the store: the store's own serialization (the
 * layout is in msgstore_format.c), for a thread that queues records for
 * the writer's thread (engine/recwriter.c) without a second format.
 *
 *   cs_msgstore_message_bound(m, &bound)   room to encode "m" (an upper
 *                                          bound); CS_ERANGE if too large
 *   n = cs_msgstore_encode_message(p, m, kind)   at "p"; returns its length
 *                                          ("kind" as put_unmatched, 0 for
 *                                          a message)
 *   cs_msgstore_measurement_size(ms, &n)   its exact size; CS_ERANGE if too
 *                                          large
 *   cs_msgstore_encode_measurement(p, ms)  at "p"; returns its length
 *   cs_msgstore_gap_size(g, &n)            its exact size; CS_ERANGE if too
 *                                          large
 *   cs_msgstore_encode_gap(p, g)           at "p"; returns its length
 *   cs_msgstore_put_encoded(w, kind, p, n) appends the record "p" of "n"
 *                                          bytes to the file of kind 'm'
 *                                          (message), 'l' (measurement),
 *                                          'u' (unmatched) or 'g' (gap):
 *                                          the same bytes as put_message /
 *                                          put_measurement / put_unmatched /
 *                                          put_gap write
 *
 * Encoding never allocates and needs no writer.
 */
int cs_msgstore_message_bound(const cs_message *m, size_t *bound);
size_t cs_msgstore_encode_message(uint8_t *p, const cs_message *m, int kind);
int cs_msgstore_measurement_size(const cs_measurement *ms, size_t *size);
size_t cs_msgstore_encode_measurement(uint8_t *p, const cs_measurement *ms);
int cs_msgstore_gap_size(const cs_gap *g, size_t *size);
size_t cs_msgstore_encode_gap(uint8_t *p, const cs_gap *g);
int cs_msgstore_put_encoded(cs_msgstore *w, char kind, const uint8_t *p, size_t n);

/* Writes out what is buffered, so that readers see it (appended files
 * only; replacement files become visible at close). */
int cs_msgstore_flush(cs_msgstore *w);

/* Records accepted and then lost to a failed write (a full disk): a
 * failed write is cut off its file again, so these are exactly the
 * records missing. */
uint64_t cs_msgstore_lost_records(const cs_msgstore *w);

/* Flushes everything, publishes replacement files, frees "w" (NULL is
 * fine). Returns the first error met by any call on "w". */
int cs_msgstore_close(cs_msgstore *w);

/* The file a record with id "id" is filed in, in a store of "partitions"
 * partitions: the first segment id of its packet segment's group, or 0 for
 * ids of packets that were not stored (top bit set). */
static inline uint32_t cs_msgstore_file_seg(uint64_t id, uint32_t partitions)
{
    return (id >> 63) ? 0 : cs_store_group_of(CS_MSGID_SEG(id), partitions);
}

/* ---- reader ----------------------------------------------------------- */

typedef struct cs_msgreader cs_msgreader;

/* Opens the messages of the store at "store_dir" for reading. CS_ENOTFOUND
 * ("no store at ...") or CS_ENOTSTORE if it is not a capstream store. A
 * store without messages reads as empty. */
int cs_msgreader_open(const char *store_dir, cs_msgreader **out);

void cs_msgreader_close(cs_msgreader *r);

/* Called for each record a read returns; the record is valid only during
 * the call. Return non-zero to stop (the read then returns 0). */
typedef int (*cs_msg_fn)(void *ud, const cs_message *m);
typedef int (*cs_lat_fn)(void *ud, const cs_measurement *ms);
typedef int (*cs_unm_fn)(void *ud, const cs_message *m, int kind);
typedef int (*cs_gap_fn)(void *ud, const cs_gap *g);

/* A callback for each kind of record (a NULL one skips that kind), for
 * the readers that pass every kind: whole images, tails (msgtail.h). */
typedef struct cs_record_fns {
    cs_msg_fn msg;
    cs_lat_fn lat;
    cs_unm_fn unm;
    cs_gap_fn gap;
    void *ud;
} cs_record_fns;

typedef struct cs_msgfilter {
    const char *proto; /* NULL = any */
    const char *type;  /* NULL = any */
    const char *key;   /* NULL = any; exact match */
    int64_t after;     /* ts_ns >= after (INT64_MIN = none) */
    int64_t before;    /* ts_ns < before (INT64_MAX = none) */
    uint64_t limit;    /* 0 = no limit */
    /* NULL: every message comes with its packet refs and fields; else only
     * messages of this protocol do, the others with none (n_refs and
     * n_fields 0), their bodies not read: for a caller that needs only
     * the heads of most messages (store/feeds.c: ITCH by the million) */
    const char *fields_proto;
} cs_msgfilter;

/* A filter that matches everything. */
void cs_msgfilter_init(cs_msgfilter *f);

/* Messages matching "f", in store order (segment group, then the order they
 * were decoded in, which is capture order up to reassembly delays). */
int cs_msgreader_messages(cs_msgreader *r, const cs_msgfilter *f, cs_msg_fn fn, void *ud);

/* Unanswered requests and orphan responses matching "f" ("proto" matches the
 * message's protocol), in store order. */
int cs_msgreader_unmatched(cs_msgreader *r, const cs_msgfilter *f, cs_unm_fn fn, void *ud);

enum {
    CS_LATSORT_STORE = 0,   /* store order: no buffering (fastest) */
    CS_LATSORT_TIME = 1,    /* by req_ts_ns, then id */
    CS_LATSORT_LATENCY = 2, /* by latency_ns descending, then req_ts_ns, then id */
};

typedef struct cs_latfilter {
    const char *pair;       /* NULL = any */
    const char *key;        /* NULL = any; exact match */
    int64_t after;          /* req_ts_ns >= after (INT64_MIN = none) */
    int64_t before;         /* req_ts_ns < before (INT64_MAX = none) */
    int64_t min_latency_ns; /* latency_ns >= this (INT64_MIN = none) */
    int64_t max_latency_ns; /* latency_ns <= this (INT64_MAX = none) */
    const char *session;    /* NULL = any; "SRC>DST", its client and server as the JSON's
                               src and dst ("10.1.0.5:40001>10.2.0.1:9878"); over UDP
                               the client's address alone ("10.5.0.3>10.5.255.53:53") */
    uint64_t offset;        /* skips this many first (in "sort" order) */
    uint64_t limit;         /* 0 = no limit; then at most this many */
    int sort;               /* CS_LATSORT_* */
} cs_latfilter;

void cs_latfilter_init(cs_latfilter *f);

/* Measurements matching "f", in the order "f->sort" asks for, from the
 * "f->offset"-th on, at most "f->limit". A sorted order with a limit keeps
 * only offset + limit small entries in memory (a bounded top-k), and a time
 * range skips the files that hold nothing in it (once this process has
 * read them once: see msgstore_summary.c). */
int cs_msgreader_measurements(cs_msgreader *r, const cs_latfilter *f, cs_lat_fn fn, void *ud);

/* What cs_msgreader_lat_stats() groups by. */
enum {
    CS_LATBY_PAIR = 0,    /* the pair's name */
    CS_LATBY_SESSION = 1, /* "SRC>DST" (cs_latfilter.session) and the pair */
};

#define CS_LATSTATS_NAME 160 /* two endpoints, '>', the pair */

/* Latency distribution of one pair, or of one session of a pair. */
typedef struct cs_latstats {
    char pair[32];
    char session[CS_LATSTATS_NAME]; /* CS_LATBY_SESSION: "SRC>DST"; else "" */
    uint64_t hash;                  /* of pair and session, for the grouping */
    cs_lazyhist hist;               /* a few bytes a value while small */
} cs_latstats;

/* Histograms of the measurements matching "f" (its sort and limit are
 * ignored) per pair, or per pair and session ("by": CS_LATBY_*), sorted
 * by pair then session, in a cs_malloc'ed array "*out" of "*n" entries
 * that the caller frees with cs_latstats_free(). */
int cs_msgreader_lat_stats(cs_msgreader *r, const cs_latfilter *f, int by, cs_latstats **out,
                           size_t *n);
/* Frees the "n" entries of "st" (from cs_msgreader_lat_stats()) and "st". */
void cs_latstats_free(cs_latstats *st, size_t n);

/* Looks up one message (in the one file its id names: its segment's
 * group). CS_ENOTFOUND with a detail if it is not there. */
int cs_msgreader_find_message(cs_msgreader *r, cs_msgid id, cs_msg_fn fn, void *ud);

/* Looks up one measurement by its id and, unless "pair" is NULL, its pair:
 * the measurements a message starts can share its id (its A/B race and
 * its hop, an OUCH request's measurement and its hop), so a caller that
 * knows the pair names it; without it the first one stored is found.
 * CS_ENOTFOUND if it is not there. */
int cs_msgreader_find_measurement(cs_msgreader *r, cs_msgid id, const char *pair, cs_lat_fn fn,
                                  void *ud);

/* Record counts over the whole store (complete records only). Repeated
 * calls in one process read only what was appended since the last call. */
/* Gaps with after <= ts_ns < before (INT64_MIN / INT64_MAX: no bound), in
 * store order (segment group, then the order they were found in), at most
 * "limit" (0: no limit). */
int cs_msgreader_gaps(cs_msgreader *r, int64_t after, int64_t before, uint64_t limit, cs_gap_fn fn,
                      void *ud);

typedef struct cs_msgstore_info {
    uint32_t files;
    uint64_t messages, measurements, unmatched, gaps;
    uint64_t bytes;
    uint64_t torn_tails; /* files ending in an incomplete/corrupt record */
} cs_msgstore_info;

int cs_msgreader_info(cs_msgreader *r, cs_msgstore_info *info);

/* What the store at "dir" holds, read as a reader (no writer lock, so a
 * writer may be appending): its packets ("*si") and its records ("*mi"). */
int cs_store_holdings(const char *dir, cs_store_info *si, cs_msgstore_info *mi);

/* Reads one file image "data" of "len" bytes (a msg-, lat- or unm- file,
 * as told by "kind": 'm', 'l' or 'u') and calls the matching callback for
 * each complete record. Stops at the first incomplete or corrupt record
 * and sets "*valid_len" (may be NULL) to the bytes before it. For the
 * fuzzer and for tools; any bytes are safe to pass. */
int cs_msgstore_parse_image(const uint8_t *data, size_t len, char kind, cs_msg_fn mfn,
                            cs_lat_fn lfn, cs_unm_fn ufn, void *ud, size_t *valid_len);

#endif

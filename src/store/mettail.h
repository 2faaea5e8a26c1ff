/*
 * mettail.h - reading the store's metrics windows and alert events as
 * they are written, from a durable position: what an exporter needs to
 * send each stored window and event once (export/chexport.h), beside the
 * daemon writing them or afterwards. The records' counterpart is
 * store/msgtail.h.
 *
 * The position is, per file (STORE/metrics/met-*.bin, one an hour, and
 * STORE/alerts/alerts.jsonl), the file's identity and the bytes already
 * consumed, which always end at a record boundary (a whole metrics record,
 * a whole line). That is enough because both are append-only logs whose
 * complete records never change (metricstore.c): the writer only ever
 * appends, and cuts off only a torn tail (bytes after the last complete
 * record, which a reader never consumes); a window is written once, when
 * its second closes (analytics/metrics.c closes second k once the
 * watermark passes k + 1 s + grace, never reopens it, and counts later
 * events of k in an open second as "late"). So a window or an event read
 * once is never changed afterwards, and the offset of a file tells
 * exactly what was read, whatever the order of the times in it (a
 * restarted daemon, capture time going back).
 *
 * A read moves a working position; commit makes it durable (the cursor
 * file is written beside, fsynced and renamed over); rollback returns to
 * the last committed one. A consumer that commits after its rows are safe
 * elsewhere sends each window and event at least once, and at most twice
 * (the batch in flight when it died); the destination's key makes a
 * repeat harmless (ClickHouse's ReplacingMergeTree, export/chschema.c).
 *
 * What a file's history does to the position:
 *   - appended to: what follows the offset is read, up to the last
 *     complete record;
 *   - replaced (another inode, other first bytes, or shorter than the
 *     offset: a full disk cut back what was written): read again from the
 *     start, counted in "replaced";
 *   - deleted by retention: dropped; bytes it held unread are counted in
 *     "lost_bytes".
 *
 * Cursor file, text: "capstream-mettail 1\n", then a line per file
 * "PATH INODE HEADLEN HEAD OFFSET SIZE\n": PATH relative to the store
 * ("metrics/met-20260105T14.bin", "alerts/alerts.jsonl"), HEAD (16 hex
 * digits) a hash of the file's first HEADLEN (<= 64) bytes, which with the
 * inode tells a file from a later one of the same name, SIZE its size
 * when last seen. A cursor that does not parse is an error (CS_ECORRUPT),
 * never silently reset.
 *
 * Threading: a tail is used by one thread; the daemon may write the files
 * in another thread or process meanwhile.
 */
#ifndef CS_STORE_METTAIL_H
#define CS_STORE_METTAIL_H

#include "store/metricstore.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cs_mettail cs_mettail;

typedef struct cs_mettail_fns {
    /* A stored window, as the point of it alone (cs_metricstore_image_points);
     * nonzero stops the read after it. */
    int (*window)(void *ud, const cs_series_id *series, const cs_metric_point *p);
    /* An alert event and its line in the log (JSON, "len" bytes without the
     * newline); both valid during the call. */
    void (*alert)(void *ud, const cs_alert_event *ev, const char *line, size_t len);
    void *ud;
} cs_mettail_fns;

/* Opens the metrics and alerts of the store at "store_dir" at the position
 * saved in "cursor_path" (from the start if the file does not exist). */
int cs_mettail_open(const char *store_dir, const char *cursor_path, cs_mettail **out);

/* Reads the windows after the working position (files in time order) and
 * the alert events after it, at most "max" of each (0: no limit);
 * "*n_windows" and "*n_alerts" say how many. Both 0 (and below "max"):
 * caught up with what the writer has flushed. */
int cs_mettail_read(cs_mettail *t, size_t max, const cs_mettail_fns *fns, size_t *n_windows,
                    size_t *n_alerts);

/* Makes the working position durable. */
int cs_mettail_commit(cs_mettail *t);

/* Returns the working position to the last committed one. */
int cs_mettail_rollback(cs_mettail *t);

typedef struct cs_mettail_stats {
    uint64_t pending_bytes; /* in the files after the working position */
    uint64_t lost_bytes;    /* unread when retention deleted their file */
    uint64_t replaced;      /* files read again from their start */
} cs_mettail_stats;

/* Looks at the files (without reading records) and fills "st". */
int cs_mettail_stats_get(cs_mettail *t, cs_mettail_stats *st);

void cs_mettail_close(cs_mettail *t);

#endif

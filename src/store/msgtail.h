/*
 * msgtail.h - reading the message store's records as they are appended,
 * from a durable position: what an exporter needs to send every record
 * once (export/chexport.h), whether it runs beside the writer or later.
 *
 * The position is, per record file of the store (msgstore.h: msg-, lat-,
 * unm-, gap- files by segment group), the file's identity (inode) and
 * the bytes already consumed, which always end at a record boundary. A
 * read moves a working position; commit makes it durable (the cursor
 * file is written beside, fsynced and renamed over), rollback returns to
 * the last committed one. So a consumer that commits only after its
 * records are safely elsewhere, and reads again after a crash or a
 * failure, sends every record at least once and a record at most twice
 * (the batch in flight when it died): the destination makes a repeat
 * harmless (ClickHouse's ReplacingMergeTree, export/chschema.c).
 *
 * What a file's history does to the position:
 *   - appended to: the records after the position are read, up to the
 *     last complete one (a record being written is read next time);
 *   - replaced by a reanalysis (another inode), or cut shorter than the
 *     position: read again from its start, counted in "replaced"; if any
 *     of it had been read, the consumer is told first (on_replaced), so
 *     that it can drop what it took from the old file;
 *   - deleted by retention: dropped from the position; records it still
 *     held unread are counted in "lost_bytes" (they cannot be read any
 *     more, and the consumer should say so).
 *
 * Cursor file, text: "capstream-msgtail 1\n" then a line per file
 * "KIND SEG INODE HEAD OFFSET SIZE\n" (KIND one of msg lat unm gap; HEAD,
 * 16 hex digits, a hash of its first record's frame header, which with
 * the inode tells the file from a later one; SIZE its size when last
 * seen). A cursor that does not parse is an error
 * (CS_ECORRUPT), never silently reset.
 *
 * Threading: a tail is used by one thread; the store's writer may append
 * in another thread or process while it reads.
 */
#ifndef CS_STORE_MSGTAIL_H
#define CS_STORE_MSGTAIL_H

#include "store/msgstore.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cs_msgtail cs_msgtail;

/* Opens the records of the store at "store_dir" at the position saved in
 * "cursor_path" (from the start if the file does not exist). */
int cs_msgtail_open(const char *store_dir, const char *cursor_path, cs_msgtail **out);

/* Reads the records after the working position, file by file in (file
 * id, kind) order, through "fns", stopping once "max_records" were read
 * (0: no limit); "*n_read" says how many. 0 read: caught up with what the
 * writer has flushed. */
int cs_msgtail_read(cs_msgtail *t, size_t max_records, const cs_record_fns *fns, size_t *n_read);

/* Told, before any record of it is read again, that the file of "kind"
 * ("msg", "lat", "unm", "gap") and id "seg" was replaced after some of it
 * had been read. A nonzero return ends the read with that error; the
 * working position keeps the replacement, so a consumer that then rolls
 * back (to a position holding the old file) is told again next read. */
typedef int (*cs_msgtail_replaced_fn)(void *ud, const char *kind, uint32_t seg);

/* Sets the replacement hook (NULL: none). */
void cs_msgtail_on_replaced(cs_msgtail *t, cs_msgtail_replaced_fn fn, void *ud);

/* Makes the working position durable. */
int cs_msgtail_commit(cs_msgtail *t);

/* Returns the working position to the last committed one (CS_ENOMEM). */
int cs_msgtail_rollback(cs_msgtail *t);

typedef struct cs_msgtail_stats {
    uint64_t pending_bytes; /* in the store's record files after the working position */
    uint64_t read_bytes;    /* consumed since open */
    uint64_t lost_bytes;    /* unread when retention deleted their file */
    uint64_t replaced;      /* files a reanalysis replaced, read again */
    uint32_t files;
} cs_msgtail_stats;

/* Looks at the store's files (without reading records) and fills "st". */
int cs_msgtail_stats_get(cs_msgtail *t, cs_msgtail_stats *st);

void cs_msgtail_close(cs_msgtail *t);

#endif

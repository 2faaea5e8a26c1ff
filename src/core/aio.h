/*
 * aio.h - a background writer thread, so that disk writes never hold up
 * the packet path.
 *
 * The producer fills buffers from a fixed pool and hands each full buffer
 * to the writer thread with the file descriptor it belongs to; the thread
 * write()s jobs in submission order and returns the buffers to the pool.
 * When every buffer is queued the producer waits for one (bounded memory:
 * the pool is the whole budget). Errors are latched and reported by the
 * next cs_aio_sync(), which also waits until everything submitted is
 * written (call it before closing, syncing or renaming a file).
 *
 *   producer:  get ─► fill ─► submit(fd) ─┐        ┌─► free list ─► get
 *   thread:                     queue ────┴► write ┘
 *
 * A file can also be closed by the thread (cs_aio_submit_close), after the
 * jobs queued before it, so that the producer never waits for a file's
 * last writes.
 *
 * Threading: one producer thread; the writer thread is internal.
 */
#ifndef CS_CORE_AIO_H
#define CS_CORE_AIO_H

#include <stddef.h>
#include <stdint.h>

typedef struct cs_aio cs_aio;

/* Starts a writer with "nbuf" buffers of "bufsize" bytes. */
int cs_aio_new(unsigned nbuf, size_t bufsize, cs_aio **out);

/* A free buffer of cs_aio_bufsize() bytes (waits for one if none is free). */
uint8_t *cs_aio_get(cs_aio *a);
size_t cs_aio_bufsize(const cs_aio *a);

/* A free buffer, or NULL at once if every buffer is queued (lossy writers
 * that must never wait). */
uint8_t *cs_aio_try_get(cs_aio *a);

/* Queues "len" bytes of "buf" (from cs_aio_get) for writing to "fd";
 * the buffer goes back to the pool once written. */
void cs_aio_submit(cs_aio *a, int fd, uint8_t *buf, size_t len);

/* Queues close(fd) after everything submitted before it. Waits only when
 * as many closes as the writer has buffers are already queued (a store
 * closes one file per partition at once). */
void cs_aio_submit_close(cs_aio *a, int fd);

/* Returns a buffer from cs_aio_get unused. */
void cs_aio_put(cs_aio *a, uint8_t *buf);

/* A mark for everything submitted so far, and whether all of it is done
 * (never waits) and no job has ever failed: so that a record of finished
 * files (the store's group catalogs) is only written once the files are,
 * and never after a write was lost. */
uint64_t cs_aio_mark(cs_aio *a);
int cs_aio_reached(cs_aio *a, uint64_t mark);

/* Whether every job up to "mark" has run (written, dropped or failed):
 * the files closed by then are closed (never waits). */
int cs_aio_done(cs_aio *a, uint64_t mark);

/* Sets the hook the writer thread calls, at most once per job, when a
 * write finds the disk full: it returns > 0 if it freed room, and the
 * write is then retried. It runs on the writer thread. */
void cs_aio_set_full_hook(cs_aio *a, int (*on_full)(void *ctx), void *ctx);

/* Whether a write has failed since the last clear (never waits, no lock):
 * from then on buffer jobs are dropped unwritten, so each file holds a
 * prefix of its data. A producer that cannot go on without its output
 * stops early; cs_aio_sync reports the error. */
int cs_aio_failed(cs_aio *a);

/* After a failure, once the producer has synced and dealt with what was
 * lost (cut its files back), lets buffer jobs be written again. */
void cs_aio_clear_failure(cs_aio *a);

/* Waits until every submitted job is written; returns the first write
 * error since the last sync (0 if none). */
int cs_aio_sync(cs_aio *a);

/* Syncs, stops the thread, frees the pool. */
int cs_aio_free(cs_aio *a);

/* Writes all of "buf" to "fd" now, retrying on EINTR and short writes. */
int cs_write_all(int fd, const void *buf, size_t len);

#endif

/*
 * aio.c - the background writer of aio.h.
 *
 * A mutex and two condition variables guard a FIFO of jobs (fd, buffer,
 * length) and a stack of free buffers. The thread pops the oldest job,
 * writes it outside the lock (cs_write_all semantics: retries EINTR and
 * short writes), then returns the buffer and signals the producer. Jobs are
 * written strictly in submission order, so one file's data stays in order
 * and a later file's data never overtakes an earlier one's.
 *
 * A write that finds the disk full first asks the owner's hook for room
 * (cs_aio_set_full_hook: the store deletes its oldest group) and, if some
 * was freed, retries the rest of the job once. A write that still fails
 * puts the writer in a lost state: every
 * later buffer job is dropped unwritten (closes still run) until the
 * producer clears it. So a file never has data after a hole: what reached
 * it is a prefix of what was submitted for it, and the producer, once it
 * has synced, can cut each file back to its last complete record. The
 * lost state is an atomic flag, so the producer checks it per packet
 * without the lock.
 */
#include "core/aio.h"

#include "core/alloc.h"
#include "core/error.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct aio_job {
    int fd;
    uint8_t *buf; /* NULL: close fd */
    size_t len;
} aio_job;

struct cs_aio {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* a job arrived, or stop */
    pthread_cond_t done; /* a job finished */
    size_t bufsize;
    unsigned nbuf;
    uint8_t **free_bufs; /* stack */
    unsigned n_free;
    aio_job *jobs; /* ring of nbuf buffer jobs + nbuf close jobs */
    unsigned head, n_jobs, ring, n_closes;
    int busy; /* the thread is writing a job */
    int stop;
    int error;                    /* first error since the last sync */
    char error_msg[256];          /* its message (the thread's own detail) */
    uint64_t submitted, finished; /* jobs, since the start */
    uint64_t failures;            /* jobs that failed, since the start */
    atomic_int lost;              /* a job failed: buffer jobs are dropped */
    int (*on_full)(void *ctx);    /* frees room on ENOSPC (writer thread) */
    void *full_ctx;
    uint8_t *pool;
};

int cs_write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cs_error_set(cs_error_from_errno(errno), "write failed: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes one job; on a full disk asks for room once and goes on. */
static int aio_write(cs_aio *a, int fd, const uint8_t *p, size_t len)
{
    int asked = 0;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n >= 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == ENOSPC && !asked && a->on_full != NULL) {
            asked = 1;
            if (a->on_full(a->full_ctx) > 0)
                continue;
            errno = ENOSPC;
        }
        return cs_error_set(cs_error_from_errno(errno), "write failed: %s", strerror(errno));
    }
    return 0;
}

void cs_aio_set_full_hook(cs_aio *a, int (*on_full)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&a->mu);
    a->on_full = on_full;
    a->full_ctx = ctx;
    pthread_mutex_unlock(&a->mu);
}

static int aio_close(int fd)
{
    if (close(fd) < 0 && errno != EINTR)
        return cs_error_set(CS_EIO, "close failed: %s", strerror(errno));
    return 0;
}

static void *aio_main(void *arg)
{
    cs_aio *a = arg;

    pthread_mutex_lock(&a->mu);
    for (;;) {
        aio_job job;
        int rc;

        while (a->n_jobs == 0 && !a->stop)
            pthread_cond_wait(&a->work, &a->mu);
        if (a->n_jobs == 0 && a->stop)
            break;
        job = a->jobs[a->head];
        a->head = (a->head + 1) % a->ring;
        a->n_jobs--;
        a->busy = 1;
        pthread_mutex_unlock(&a->mu);
        if (job.buf == NULL)
            rc = aio_close(job.fd);
        else if (atomic_load_explicit(&a->lost, memory_order_relaxed))
            rc = 0; /* dropped: nothing after a hole */
        else
            rc = aio_write(a, job.fd, job.buf, job.len);
        pthread_mutex_lock(&a->mu);
        if (rc < 0 && a->error == 0) {
            a->error = rc;
            snprintf(a->error_msg, sizeof(a->error_msg), "%s", cs_error_msg(rc));
        }
        if (rc < 0 && job.buf != NULL)
            atomic_store_explicit(&a->lost, 1, memory_order_relaxed);
        if (rc < 0)
            a->failures++;
        if (job.buf)
            a->free_bufs[a->n_free++] = job.buf;
        else
            a->n_closes--;
        a->busy = 0;
        a->finished++;
        pthread_cond_broadcast(&a->done);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

int cs_aio_new(unsigned nbuf, size_t bufsize, cs_aio **out)
{
    cs_aio *a = cs_calloc(1, sizeof(*a));

    *out = NULL;
    if (a == NULL)
        return CS_ENOMEM;
    a->nbuf = nbuf < 2 ? 2 : nbuf;
    a->bufsize = bufsize;
    a->pool = cs_malloc((size_t)a->nbuf * bufsize);
    a->free_bufs = cs_calloc(a->nbuf, sizeof(uint8_t *));
    a->ring = 2 * a->nbuf;
    a->jobs = cs_calloc(a->ring, sizeof(aio_job));
    if (a->pool == NULL || a->free_bufs == NULL || a->jobs == NULL)
        goto nomem;
    for (unsigned i = 0; i < a->nbuf; i++)
        a->free_bufs[a->n_free++] = a->pool + (size_t)i * bufsize;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->work, NULL);
    pthread_cond_init(&a->done, NULL);
    if (pthread_create(&a->thread, NULL, aio_main, a) != 0) {
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->work);
        pthread_cond_destroy(&a->done);
        goto nomem;
    }
    *out = a;
    return 0;
nomem:
    cs_free(a->pool);
    cs_free(a->free_bufs);
    cs_free(a->jobs);
    cs_free(a);
    return CS_ENOMEM;
}

size_t cs_aio_bufsize(const cs_aio *a)
{
    return a->bufsize;
}

uint8_t *cs_aio_get(cs_aio *a)
{
    uint8_t *b;

    pthread_mutex_lock(&a->mu);
    while (a->n_free == 0)
        pthread_cond_wait(&a->done, &a->mu);
    b = a->free_bufs[--a->n_free];
    pthread_mutex_unlock(&a->mu);
    return b;
}

uint8_t *cs_aio_try_get(cs_aio *a)
{
    uint8_t *b = NULL;

    pthread_mutex_lock(&a->mu);
    if (a->n_free > 0)
        b = a->free_bufs[--a->n_free];
    pthread_mutex_unlock(&a->mu);
    return b;
}

void cs_aio_put(cs_aio *a, uint8_t *buf)
{
    pthread_mutex_lock(&a->mu);
    a->free_bufs[a->n_free++] = buf;
    pthread_cond_broadcast(&a->done);
    pthread_mutex_unlock(&a->mu);
}

void cs_aio_submit(cs_aio *a, int fd, uint8_t *buf, size_t len)
{
    pthread_mutex_lock(&a->mu);
    /* at most nbuf buffers and nbuf closes are queued, so the
     * ring never overflows */
    a->jobs[(a->head + a->n_jobs) % a->ring] = (aio_job){fd, buf, len};
    a->n_jobs++;
    a->submitted++;
    pthread_cond_signal(&a->work);
    pthread_mutex_unlock(&a->mu);
}

void cs_aio_submit_close(cs_aio *a, int fd)
{
    pthread_mutex_lock(&a->mu);
    while (a->n_closes == a->nbuf)
        pthread_cond_wait(&a->done, &a->mu);
    a->jobs[(a->head + a->n_jobs) % a->ring] = (aio_job){fd, NULL, 0};
    a->n_jobs++;
    a->n_closes++;
    a->submitted++;
    pthread_cond_signal(&a->work);
    pthread_mutex_unlock(&a->mu);
}

uint64_t cs_aio_mark(cs_aio *a)
{
    uint64_t m;

    pthread_mutex_lock(&a->mu);
    m = a->submitted;
    pthread_mutex_unlock(&a->mu);
    return m;
}

int cs_aio_reached(cs_aio *a, uint64_t mark)
{
    int done;

    pthread_mutex_lock(&a->mu);
    done = a->finished >= mark && a->failures == 0;
    pthread_mutex_unlock(&a->mu);
    return done;
}

int cs_aio_done(cs_aio *a, uint64_t mark)
{
    int done;

    pthread_mutex_lock(&a->mu);
    done = a->finished >= mark;
    pthread_mutex_unlock(&a->mu);
    return done;
}

int cs_aio_failed(cs_aio *a)
{
    return atomic_load_explicit(&a->lost, memory_order_relaxed);
}

void cs_aio_clear_failure(cs_aio *a)
{
    pthread_mutex_lock(&a->mu);
    atomic_store_explicit(&a->lost, 0, memory_order_relaxed);
    a->error = 0;
    pthread_mutex_unlock(&a->mu);
}

int cs_aio_sync(cs_aio *a)
{
    int rc;

    pthread_mutex_lock(&a->mu);
    while (a->n_jobs > 0 || a->busy)
        pthread_cond_wait(&a->done, &a->mu);
    rc = a->error;
    a->error = 0;
    pthread_mutex_unlock(&a->mu);
    if (rc < 0)
        return cs_error_set(rc, "background write failed: %s", a->error_msg);
    return 0;
}

int cs_aio_free(cs_aio *a)
{
    int rc;

    if (a == NULL)
        return 0;
    rc = cs_aio_sync(a);
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_signal(&a->work);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->work);
    pthread_cond_destroy(&a->done);
    cs_free(a->pool);
    cs_free(a->free_bufs);
    cs_free(a->jobs);
    cs_free(a);
    return rc;
}

/*
 * test_aio.c - the background writer (core/aio) and the checksum of
 * core/hash.
 *
 * The writer is driven through pipes, so what it wrote, in which order, and
 * when it closed a descriptor are read back exactly: a closed write end
 * shows as end-of-file after the bytes queued before the close; a full
 * disk is /dev/full, which fails every write with ENOSPC.
 */
#include "core/aio.h"
#include "core/hash.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* Reads "fd" to end-of-file into "buf"; returns the byte count. */
static size_t drain(int fd, uint8_t *buf, size_t cap)
{
    size_t n = 0;

    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        assert_true(r >= 0);
        if (r == 0)
            return n;
        n += (size_t)r;
        assert_true(n < cap);
    }
}

static void test_writes_in_order_then_closes(void **state)
{
    static uint8_t got[1 << 16];
    cs_aio *a;
    int p[2];
    size_t n;

    assert_int_equal(pipe(p), 0);
    assert_int_equal(cs_aio_new(2, 4096, &a), 0);
    for (int i = 0; i < 6; i++) { /* more jobs than buffers: get waits */
        uint8_t *b = cs_aio_get(a);
        memset(b, 'a' + i, 1000);
        cs_aio_submit(a, p[1], b, 1000);
    }
    cs_aio_submit_close(a, p[1]);
    assert_int_equal(cs_aio_sync(a), 0);
    n = drain(p[0], got, sizeof(got)); /* ends: the write end was closed */
    assert_int_equal(n, 6000);
    for (int i = 0; i < 6; i++)
        assert_int_equal(got[i * 1000 + 999], 'a' + i);
    close(p[0]);
    assert_int_equal(cs_aio_free(a), 0);
}

static void test_many_closes_wait_for_slots(void **state)
{
    uint8_t got[64];
    cs_aio *a;
    int p[2];

    assert_int_equal(pipe(p), 0);
    /* two buffers: at most two closes queued, so most of these wait */
    assert_int_equal(cs_aio_new(2, 64, &a), 0);
    for (int i = 0; i < 24; i++) {
        int fd = dup(p[1]);
        uint8_t *b = cs_aio_get(a);
        assert_true(fd >= 0);
        b[0] = (uint8_t)i;
        cs_aio_submit(a, fd, b, 1);
        cs_aio_submit_close(a, fd);
    }
    close(p[1]);
    assert_int_equal(cs_aio_sync(a), 0);
    assert_int_equal(drain(p[0], got, sizeof(got)), 24);
    for (int i = 0; i < 24; i++)
        assert_int_equal(got[i], i);
    close(p[0]);
    assert_int_equal(cs_aio_free(a), 0);
}

static void test_write_error_reported_at_sync(void **state)
{
    cs_aio *a;
    int p[2];
    uint8_t *b;

    assert_int_equal(pipe(p), 0);
    close(p[1]);
    assert_int_equal(cs_aio_new(2, 64, &a), 0);
    b = cs_aio_get(a);
    cs_aio_submit(a, p[1], b, 8); /* a closed descriptor */
    assert_int_not_equal(cs_aio_sync(a), 0);
    assert_int_equal(cs_aio_sync(a), 0); /* reported once */
    close(p[0]);
    assert_int_equal(cs_aio_free(a), 0);
}

/* After a failed write every later buffer is dropped, so no file gets data
 * after a hole, until the producer clears the failure. */
static void test_after_a_failure_later_buffers_are_dropped(void **state)
{
    uint8_t got[64], *b;
    cs_aio *a;
    int p[2];

    assert_int_equal(pipe(p), 0);
    assert_int_equal(cs_aio_new(2, 64, &a), 0);
    b = cs_aio_get(a);
    cs_aio_submit(a, -1, b, 8); /* fails: a bad descriptor */
    b = cs_aio_get(a);
    memset(b, 'x', 8);
    cs_aio_submit(a, p[1], b, 8); /* dropped */
    assert_int_not_equal(cs_aio_sync(a), 0);
    assert_true(cs_aio_failed(a));
    cs_aio_clear_failure(a);
    assert_false(cs_aio_failed(a));
    b = cs_aio_get(a);
    memset(b, 'y', 8);
    cs_aio_submit(a, p[1], b, 8);
    cs_aio_submit_close(a, p[1]);
    assert_int_equal(cs_aio_sync(a), 0);
    assert_int_equal(drain(p[0], got, sizeof(got)), 8);
    assert_int_equal(got[0], 'y');
    close(p[0]);
    assert_int_equal(cs_aio_free(a), 0);
}

typedef struct room_hook {
    int calls;
    int fd_full, fd_room; /* the hook puts fd_room in place of fd_full */
    int dup_rc;
} room_hook;

static int make_room(void *ctx)
{
    room_hook *h = ctx;

    h->calls++;
    if (h->fd_room < 0)
        return 0;                             /* nothing to free */
    h->dup_rc = dup2(h->fd_room, h->fd_full); /* checked by the test's thread */
    return 1;
}

/* A full disk (/dev/full) asks the hook once; the write is retried if it
 * freed room, and fails (writer in the lost state) if not. */
static void test_full_disk_asks_for_room_once(void **state)
{
    room_hook h = {0, -1, -1, 0};
    uint8_t got[64], *b;
    cs_aio *a;
    int p[2];

    h.fd_full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    assert_true(h.fd_full >= 0);
    assert_int_equal(cs_aio_new(2, 64, &a), 0);
    cs_aio_set_full_hook(a, make_room, &h);
    b = cs_aio_get(a);
    cs_aio_submit(a, h.fd_full, b, 8); /* no room to be had */
    assert_int_not_equal(cs_aio_sync(a), 0);
    assert_int_equal(h.calls, 1);
    assert_true(cs_aio_failed(a));
    cs_aio_clear_failure(a);

    assert_int_equal(pipe(p), 0);
    h.calls = 0;
    h.fd_room = p[1];
    b = cs_aio_get(a);
    memset(b, 'z', 8);
    cs_aio_submit(a, h.fd_full, b, 8); /* the hook frees room: retried */
    cs_aio_submit_close(a, h.fd_full);
    assert_int_equal(cs_aio_sync(a), 0);
    close(p[1]); /* the hook's copy of it is closed too: drain ends */
    assert_int_equal(h.calls, 1);
    assert_int_equal(h.dup_rc, h.fd_full);
    assert_false(cs_aio_failed(a));
    assert_int_equal(drain(p[0], got, sizeof(got)), 8);
    assert_int_equal(got[7], 'z');
    close(p[0]);
    assert_int_equal(cs_aio_free(a), 0);
}

/* Any one changed byte, anywhere (lanes, tail), changes the checksum. */
static void test_checksum_sees_every_byte(void **state)
{
    static uint8_t buf[1000];
    uint64_t base;

    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 7);
    base = cs_checksum64(buf, sizeof(buf), 1);
    assert_int_not_equal(base, cs_checksum64(buf, sizeof(buf), 2));
    assert_int_not_equal(base, cs_checksum64(buf, sizeof(buf) - 1, 1));
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] ^= 0x10;
        assert_int_not_equal(base, cs_checksum64(buf, sizeof(buf), 1));
        buf[i] ^= 0x10;
    }
    assert_int_equal(base, cs_checksum64(buf, sizeof(buf), 1));
}

int main(void)
{
    alarm(60); /* a close that never happens would hang a drain: fail instead */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writes_in_order_then_closes),
        cmocka_unit_test(test_many_closes_wait_for_slots),
        cmocka_unit_test(test_write_error_reported_at_sync),
        cmocka_unit_test(test_after_a_failure_later_buffers_are_dropped),
        cmocka_unit_test(test_full_disk_asks_for_room_once),
        cmocka_unit_test(test_checksum_sees_every_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

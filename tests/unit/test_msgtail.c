/*
 * test_msgtail.c - unit tests of reading the message store from a durable
 * position (src/store/msgtail.c): every record is read once across
 * batches, commits and reopenings, appended records are read next and
 * only they; a rollback reads the same records again; a record cut short
 * is read once it is whole (after the next writer cut the tear off); a
 * file a reanalysis replaced is read again from its start; a file
 * retention deleted before it was read is counted lost; a cursor that does
 * not parse is an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/error.h"
#include "store/msgstore.h"
#include "store/msgtail.h"
#include "tmpstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T0 1767623400000000000ll

typedef struct fixture {
    char dir[64], cursor[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_msgtail.XXXXXX");
    if (cs_test_store_make(f->dir) < 0)
        return -1;
    snprintf(f->cursor, sizeof(f->cursor), "%s/tail.cursor", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    if (cs_test_rmtree(f->dir) < 0)
        return -1;
    free(f);
    return 0;
}

/* Message i, in packet segment 1 + i % nseg; a measurement for even i, a
 * gap for i % 10 == 3. */
static void write_range(const char *dir, uint32_t from, uint32_t to, uint32_t nseg)
{
    cs_msgstore *w;

    assert_int_equal(cs_msgstore_open(dir, &w), 0);
    for (uint32_t i = from; i < to; i++) {
        uint32_t seg = 1 + i % nseg;
        cs_message m = {.id = CS_MSGID(CS_PKTREF(seg, 24 + 100 * i), 0),
                        .proto = "fix",
                        .type = {"D", 1},
                        .ts_ns = T0 + i,
                        .last_ts_ns = T0 + i,
                        .len = 10};
        cs_measurement ms = {.id = m.id,
                             .req_id = m.id,
                             .resp_id = m.id + 1,
                             .pair = "fix",
                             .req_ts_ns = m.ts_ns,
                             .resp_ts_ns = m.ts_ns + 5,
                             .latency_ns = 5};
        cs_gap g = {.proto = "moldudp64",
                    .session = {"S1", 2},
                    .first = i,
                    .count = 1,
                    .ts_ns = m.ts_ns,
                    .ref = CS_PKTREF(seg, 24 + 100 * i)};

        assert_int_equal(cs_msgstore_put_message(w, &m), 0);
        if (i % 2 == 0)
            assert_int_equal(cs_msgstore_put_measurement(w, &ms), 0);
        if (i % 10 == 3)
            assert_int_equal(cs_msgstore_put_gap(w, &g), 0);
    }
    assert_int_equal(cs_msgstore_close(w), 0);
}

typedef struct tally {
    uint64_t msgs, lats, gaps;
    int64_t first_ts; /* of the first message read */
    uint8_t *seen;    /* by message number: times read */
    size_t cap;
} tally;

static int on_msg(void *ud, const cs_message *m)
{
    tally *t = ud;
    uint64_t i = (uint64_t)(m->ts_ns - T0);

    if (t->msgs++ == 0)
        t->first_ts = m->ts_ns;
    if (i < t->cap)
        t->seen[i]++;
    return 0;
}

static int on_lat(void *ud, const cs_measurement *ms)
{
    ((tally *)ud)->lats++;
    return 0;
}

static int on_gap(void *ud, const cs_gap *g)
{
    ((tally *)ud)->gaps++;
    return 0;
}

/* Reads everything after the position in batches of "batch", committing
 * after each; returns the records read. */
static size_t drain(cs_msgtail *t, tally *ty, size_t batch)
{
    cs_record_fns fns = {.msg = on_msg, .lat = on_lat, .gap = on_gap, .ud = ty};
    size_t n, total = 0;

    do {
        assert_int_equal(cs_msgtail_read(t, batch, &fns, &n), 0);
        assert_true(batch == 0 || n <= batch);
        assert_int_equal(cs_msgtail_commit(t), 0);
        total += n;
    } while (n > 0);
    return total;
}

static void tally_init(tally *t, size_t cap)
{
    memset(t, 0, sizeof(*t));
    t->seen = calloc(cap, 1);
    t->cap = cap;
}

static void assert_each_once(const tally *t, uint32_t from, uint32_t to)
{
    for (uint32_t i = from; i < to; i++)
        if (t->seen[i] != 1)
            fail_msg("message %u read %u times", i, t->seen[i]);
}

static void test_every_record_once(void **state)
{
    fixture *f = *state;
    cs_msgtail *t;
    cs_msgtail_stats st;
    tally ty;

    tally_init(&ty, 1000);
    write_range(f->dir, 0, 500, 3);
    assert_int_equal(cs_msgtail_open(f->dir, f->cursor, &t), 0);
    assert_int_equal(cs_msgtail_stats_get(t, &st), 0);
    assert_true(st.pending_bytes > 0);
    assert_int_equal(drain(t, &ty, 37), 500 + 250 + 50);
    assert_int_equal(ty.lats, 250);
    assert_int_equal(ty.gaps, 50);
    assert_each_once(&ty, 0, 500);
    assert_int_equal(cs_msgtail_stats_get(t, &st), 0);
    assert_int_equal(st.pending_bytes, 0);
    cs_msgtail_close(t);

    /* Reopened from the cursor: nothing; appended records, and only they. */
    write_range(f->dir, 500, 600, 4); /* a new file too: segment 4 */
    assert_int_equal(cs_msgtail_open(f->dir, f->cursor, &t), 0);
    assert_int_equal(drain(t, &ty, 0), 100 + 50 + 10);
    assert_each_once(&ty, 0, 600);
    assert_int_equal(drain(t, &ty, 0), 0);
    cs_msgtail_close(t);
    free(ty.seen);
}

static void test_rollback_reads_again(void **state)
{
    fixture *f = *state;
    cs_msgtail *t;
    tally a, b;
    cs_record_fns fa = {.msg = on_msg, .ud = &a}, fb = {.msg = on_msg, .ud = &b};
    size_t n;

    tally_init(&a, 1000);
    tally_init(&b, 1000);
    write_range(f->dir, 0, 300, 2);
    assert_int_equal(cs_msgtail_open(f->dir, f->cursor, &t), 0);
    assert_int_equal(cs_msgtail_read(t, 120, &fa, &n), 0);
    assert_int_equal(n, 120);
    assert_int_equal(cs_msgtail_rollback(t), 0);
    assert_int_equal(cs_msgtail_read(t, 120, &fb, &n), 0);
    assert_int_equal(n, 120);
    assert_int_equal(a.msgs, b.msgs);
    assert_int_equal(a.first_ts, b.first_ts);
    assert_memory_equal(a.seen, b.seen, 1000);
    cs_msgtail_close(t); /* never committed: a new tail starts over */
    assert_int_equal(cs_msgtail_open(f->dir, f->cursor, &t), 0);
    memset(&b.seen[0], 0, 1000);
    b.msgs = 0;
    assert_int_equal(cs_msgtail_read(t, 120, &fb, &n), 0);
    assert_int_equal(b.first_ts, a.first_ts);
    cs_msgtail_close(t);
    free(a.seen);
    free(b.seen);
}

static void msg_file(char *buf, size_t n, const char *dir, const char *kind, unsigned seg)
{
    snprintf(buf, n, "%s/messages/%s-%08u.bin", dir, kind, seg);
}

static void test_torn_record_read_once_whole(void **state)
{
    fixture *f = *state;
    char path[256];
    struct stat st;
    cs_msgtail *t;
    tally ty;

    tally_init(&ty, 1000);
    write_range(f->dir, 0, 100, 1);
    msg_file(path, sizeof(path), f->dir, "msg", 1);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - 3), 0); /* message 99 cut short */
    assert_int_equal(cs_msgtail_open(f->dir, f->cursor, &t), 0);
    drain(t, &ty, 0);
    assert_int_equal(ty.msgs, 99);
    assert_int_equal(ty.seen[99], 0);
    write_range(f->dir, 100, 110, 1); /* the writer cuts the tear off and appends */
    drain(t, &ty, 0);
    assert_int_equal(ty.msgs, 99 + 10);
    assert_each_once(&ty, 0, 99);
    assert_each_once(&ty, 100, 110);
    cs_msgtail_close(t);
    free(ty.seen);
}

static void test_replaced_and_deleted_files(void **state)
{
    fixture *f = *state;
    char path[256];
    cs_msgstore *w;
    cs_msgtail *t;
    cs_msgtail_stats st;
    tally ty;

    tally_init(&ty, 1000);
    write_range(f->dir, 0, 200, 2);
    assert_int_equal(cs_msgtail_open(f->dir, f->cursor, &t), 0);
    drain(t, &ty, 0);
    assert_int_equal(ty.msgs, 200);

    /* A reanalysis of segment 2 (empty now): its files are replaced. */
    assert_int_equal(cs_msgstore_open(f->dir, &w), 0);
    assert_int_equal(cs_msgstore_replace_range(w, 2, 2), 0);
    assert_int_equal(cs_msgstore_close(w), 0);
    write_range(f->dir, 201, 202, 2); /* message 201 -> segment 2, file started anew */
    memset(ty.seen, 0, ty.cap);
    ty.msgs = 0;
    drain(t, &ty, 0);
    assert_int_equal(ty.msgs, 1);
    assert_int_equal(ty.seen[201], 1);
    assert_int_equal(cs_msgtail_stats_get(t, &st), 0);
    assert_true(st.replaced >= 1);
    assert_int_equal(st.lost_bytes, 0);

    /* Segment 1 gets records, then its file goes before they are read. */
    write_range(f->dir, 300, 310, 2); /* even i -> segment 1 */
    msg_file(path, sizeof(path), f->dir, "msg", 1);
    assert_int_equal(cs_msgtail_stats_get(t, &st), 0);
    assert_true(st.pending_bytes > 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(cs_msgtail_stats_get(t, &st), 0);
    assert_true(st.lost_bytes > 0);
    cs_msgtail_close(t);
    free(ty.seen);
}

/* Copies the file at "path" and renames the copy over it: a replacement
 * (another inode) with the same records. */
static void replace_file(const char *path)
{
    char tmp[300], cmd[700];

    snprintf(tmp, sizeof(tmp), "%s.copy", path);
    snprintf(cmd, sizeof(cmd), "cp %s %s", path, tmp);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(rename(tmp, path), 0);
}

typedef struct hook_calls {
    int n, fail;
    char kind[4];
    uint32_t seg;
} hook_calls;

static int on_replaced(void *ud, const char *kind, uint32_t seg)
{
    hook_calls *h = ud;

    h->n++;
    snprintf(h->kind, sizeof(h->kind), "%s", kind);
    h->seg = seg;
    return h->fail ? CS_EIO : 0;
}

/* The consumer is told of a replaced file it had read from, before its
 * records come again; a refusal ends the read, and after a rollback it is
 * told again; once the file is read anew, never again. */
static void test_replaced_hook(void **state)
{
    fixture *f = *state;
    hook_calls h = {0};
    cs_record_fns fns;
    char path[256];
    cs_msgtail *t;
    tally ty;
    size_t n;

    tally_init(&ty, 1000);
    fns = (cs_record_fns){.msg = on_msg, .ud = &ty};
    write_range(f->dir, 0, 100, 1);
    assert_int_equal(cs_msgtail_open(f->dir, f->cursor, &t), 0);
    cs_msgtail_on_replaced(t, on_replaced, &h);
    drain(t, &ty, 0);
    assert_int_equal(h.n, 0); /* files seen first are no replacement */
    msg_file(path, sizeof(path), f->dir, "msg", 1);
    replace_file(path);
    h.fail = 1;
    assert_int_equal(cs_msgtail_read(t, 0, &fns, &n), CS_EIO);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.kind, "msg");
    assert_int_equal(h.seg, 1);
    assert_int_equal(cs_msgtail_rollback(t), 0);
    h.fail = 0;
    ty.msgs = 0;
    drain(t, &ty, 0);
    assert_int_equal(h.n, 2);
    assert_int_equal(ty.msgs, 100); /* read again from its start */
    drain(t, &ty, 0);
    assert_int_equal(h.n, 2);
    cs_msgtail_close(t);
    free(ty.seen);
}

static void test_bad_cursor(void **state)
{
    fixture *f = *state;
    cs_msgtail *t = NULL;
    FILE *fp = fopen(f->cursor, "w");

    assert_non_null(fp);
    fputs("capstream-msgtail 1\nmsg one two\n", fp);
    fclose(fp);
    assert_int_equal(cs_msgtail_open(f->dir, f->cursor, &t), CS_ECORRUPT);
    assert_null(t);
    fp = fopen(f->cursor, "w");
    fputs("GIF89a\n", fp);
    fclose(fp);
    assert_int_equal(cs_msgtail_open(f->dir, f->cursor, &t), CS_ECORRUPT);
    assert_int_equal(cs_msgtail_open("/nonexistent/store", f->cursor, &t), CS_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_record_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_reads_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_record_read_once_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replaced_and_deleted_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replaced_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_cursor, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_order.c - the capture-order record (store/order.c): entries
 * written and read back at every width, a record read while its writer
 * is still appending (whole entries only), one cut short or damaged, and
 * ranks turned into capture positions, with ranks past the record's end
 * left unplaced.
 */
#include "core/error.h"
#include "store/order.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct fixture {
    char dir[64];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/cs-test-order.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static uint64_t file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

/* A reproducible partition sequence below "parts". */
static uint32_t part_at(uint32_t i, uint32_t parts)
{
    return (uint32_t)(((uint64_t)i * 2654435761u >> 7) % parts);
}

static void test_width(void **state)
{
    (void)state;
    assert_int_equal(cs_order_width(1), 0);
    assert_int_equal(cs_order_width(2), 1);
    assert_int_equal(cs_order_width(3), 2);
    assert_int_equal(cs_order_width(4), 2);
    assert_int_equal(cs_order_width(5), 3);
    assert_int_equal(cs_order_width(64), 6);
    assert_int_equal(cs_order_width(65), 7);
    assert_int_equal(cs_order_width(1024), 10);
}

/* Every width round-trips: the file holds the header and the entries'
 * bits, nothing more, and the count written at close is honoured. */
static void test_write_read(void **state)
{
    static const uint32_t parts[] = {2, 3, 5, 64, 100, 1024};
    fixture *f = *state;
    cs_order_writer w;
    cs_order o;
    char path[128];

    cs_order_writer_init(&w);
    for (size_t k = 0; k < sizeof(parts) / sizeof(parts[0]); k++) {
        uint32_t n = 10007, width = cs_order_width(parts[k]);
        cs_order_path(f->dir, 65, path, sizeof(path));
        cs_order_writer_open(&w, path, 65, parts[k]);
        for (uint32_t i = 0; i < n; i++)
            cs_order_writer_add(&w, part_at(i, parts[k]), i);
        cs_order_writer_close(&w, 0);
        assert_int_equal(file_size(path), CS_ORDER_HDR + ((uint64_t)n * width + 7) / 8);
        assert_int_equal(cs_order_file_bytes(f->dir, 65), file_size(path));
        assert_int_equal(cs_order_read(f->dir, 65, parts[k], &o), 0);
        assert_int_equal(o.n, n); /* the padding of the last byte is no entry */
        for (uint32_t i = 0; i < n; i++)
            assert_int_equal(cs_order_get(&o, i), part_at(i, parts[k]));
        cs_order_free(&o);
        /* not this group's, not this store's */
        assert_int_equal(cs_order_read(f->dir, 65, parts[k] + 1, &o), CS_ECORRUPT);
        cs_error_clear();
    }
    cs_order_writer_free(&w);
    assert_int_equal(cs_order_read(f->dir, 129, 64, &o), CS_ENOTFOUND);
}

/* A reader of a group being written sees the whole entries flushed so
 * far, never a partial one (no count yet: the file's length says). */
static void test_read_while_written(void **state)
{
    fixture *f = *state;
    cs_order_writer w;
    cs_order o;
    char path[128];

    cs_order_writer_init(&w);
    cs_order_path(f->dir, 1, path, sizeof(path));
    cs_order_writer_open(&w, path, 1, 64);
    for (uint32_t i = 0; i < 7; i++) /* 42 bits: 5 whole bytes and 2 bits */
        cs_order_writer_add(&w, part_at(i, 64), i);
    cs_order_writer_flush(&w);
    assert_int_equal(file_size(path), CS_ORDER_HDR + 5);
    assert_int_equal(cs_order_read(f->dir, 1, 64, &o), 0);
    assert_int_equal(o.n, 6);      /* 40 bits: the 7th is not whole yet */
    assert_false(o.in_time_order); /* not known before the group closes */
    for (uint32_t i = 0; i < 6; i++)
        assert_int_equal(cs_order_get(&o, i), part_at(i, 64));
    cs_order_free(&o);
    cs_order_writer_add(&w, 63, 7);
    cs_order_writer_close(&w, 0);
    assert_int_equal(cs_order_read(f->dir, 1, 64, &o), 0);
    assert_int_equal(o.n, 8);
    assert_int_equal(cs_order_get(&o, 7), 63);
    assert_true(o.in_time_order); /* stamped 0, 1, ... 6, 7 */
    cs_order_free(&o);
    cs_order_writer_free(&w);
}

/* A record cut short (a crash, a torn copy) keeps its whole entries; a
 * damaged header is refused, never believed. */
static void test_cut_short_and_damaged(void **state)
{
    fixture *f = *state;
    cs_order_writer w;
    cs_order o;
    char path[128];
    uint8_t buf[CS_ORDER_HDR + 64];
    FILE *fp;
    size_t len;

    cs_order_writer_init(&w);
    cs_order_path(f->dir, 1, path, sizeof(path));
    cs_order_writer_open(&w, path, 1, 8);
    for (uint32_t i = 0; i < 100; i++)
        cs_order_writer_add(&w, part_at(i, 8), i);
    cs_order_writer_close(&w, 0);
    cs_order_writer_free(&w);
    assert_int_equal(truncate(path, CS_ORDER_HDR + 10), 0); /* 80 bits */
    assert_int_equal(cs_order_read(f->dir, 1, 8, &o), 0);
    assert_int_equal(o.n, 26);     /* the count says 100: only 26 are there */
    assert_false(o.in_time_order); /* cut short: the flags are not trusted */
    for (uint32_t i = 0; i < 26; i++)
        assert_int_equal(cs_order_get(&o, i), part_at(i, 8));
    cs_order_free(&o);

    fp = fopen(path, "rb");
    assert_non_null(fp);
    len = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    assert_int_equal(cs_order_parse(buf, 20, 1, 8, &o), CS_ECORRUPT); /* shorter than a header */
    cs_error_clear();
    buf[0] ^= 1; /* magic */
    assert_int_equal(cs_order_parse(buf, len, 1, 8, &o), CS_ECORRUPT);
    cs_error_clear();
    buf[0] ^= 1;
    assert_int_equal(cs_order_parse(buf, len, 1, 8, &o), 0);
    assert_null(o.file);
    buf[24] = 7; /* a width that is not the partition count's */
    assert_int_equal(cs_order_parse(buf, len, 1, 8, &o), CS_ECORRUPT);
    cs_error_clear();
}

/* Ranks become capture positions; ranks past the record's end (or of a
 * partition the record never reaches again) stay unplaced. */
static void test_positions(void **state)
{
    /* capture order: partitions 2 0 2 1 2 0 0 3 */
    static const uint32_t seq[] = {2, 0, 2, 1, 2, 0, 0, 3};
    fixture *f = *state;
    cs_order_writer w;
    cs_order o;
    char path[128];
    uint64_t r0[] = {0, 2, 3}, r1[] = {0}, r2[] = {1, 2}, r3[] = {1};
    uint64_t *rank[4] = {r0, r1, r2, r3};
    size_t n[4] = {3, 1, 2, 1};

    cs_order_writer_init(&w);
    cs_order_path(f->dir, 1, path, sizeof(path));
    cs_order_writer_open(&w, path, 1, 4);
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
        cs_order_writer_add(&w, seq[i], i == 5 ? 0 : (int64_t)i); /* the clock goes back */
    cs_order_writer_close(&w, 0);
    cs_order_writer_free(&w);
    assert_int_equal(cs_order_read(f->dir, 1, 4, &o), 0);
    assert_false(o.in_time_order);
    cs_order_positions(&o, rank, n, sizeof(uint64_t));
    assert_int_equal(r0[0], 1); /* partition 0's first packet: position 1 */
    assert_int_equal(r0[1], 6);
    assert_int_equal(r0[2], CS_ORDER_NONE); /* partition 0 has 3 entries only */
    assert_int_equal(r1[0], 3);
    assert_int_equal(r2[0], 2);
    assert_int_equal(r2[1], 4);
    assert_int_equal(r3[0], CS_ORDER_NONE);
    cs_order_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_width),
        cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_while_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_short_and_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_positions, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_store.c - unit tests of the packet store (store/store.c,
 * segwriter.c, index.c, query*.c, lookup.c).
 *
 * Packets are made here (Ethernet/IPv4/UDP or TCP with chosen addresses,
 * ports and timestamps), appended to a store in a temporary directory, and
 * read back: refs resolve to the same bytes, queries by filter and time
 * return exactly the expected packets in timestamp order, segments rotate
 * by size and by link type, tap ids survive, an index that is deleted,
 * damaged or missing after a "crash" is rebuilt, a segment cut mid-record
 * is repaired, retention trims the oldest segments, and a write lost to
 * a full disk leaves the store holding, indexed, what reached it.
 */
#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"
#include "packet/dissect.h"
#include "store/index.h"
#include "store/store.h"
#include "store/store_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct fixture {
    char dir[64];
    char store[96];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/cs-test-store.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->store, sizeof(f->store), "%s/s", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[160];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* Builds an Ethernet/IPv4/{UDP,TCP} frame from 10.0.0.<a>:<sp> to 10.0.0.<b>:<dp>. */
static size_t make_frame(uint8_t *buf, uint8_t proto, uint8_t a, uint8_t b, uint16_t sp,
                         uint16_t dp, size_t payload)
{
    size_t l4 = proto == 6 ? 20 : 8, ip_len = 20 + l4 + payload;

    memset(buf, 0, 14 + ip_len);
    buf[12] = 0x08;
    buf[14] = 0x45;
    buf[16] = (uint8_t)(ip_len >> 8);
    buf[17] = (uint8_t)ip_len;
    buf[22] = 64;
    buf[23] = proto;
    buf[26] = 10, buf[29] = a;
    buf[30] = 10, buf[33] = b;
    buf[34] = (uint8_t)(sp >> 8), buf[35] = (uint8_t)sp;
    buf[36] = (uint8_t)(dp >> 8), buf[37] = (uint8_t)dp;
    if (proto == 6)
        buf[46] = 0x50;
    else
        buf[38] = (uint8_t)((8 + payload) >> 8), buf[39] = (uint8_t)(8 + payload);
    for (size_t i = 0; i < payload; i++)
        buf[14 + 20 + l4 + i] = (uint8_t)(i * 7 + a);
    return 14 + ip_len;
}

/* Opens (or creates with "parts" flow partitions, 0 = default) a store. */
static cs_store *open_store_p(const char *dir, uint32_t flags, uint64_t seg_bytes, uint64_t max,
                              uint32_t parts)
{
    cs_store_opts o = {.flags = flags,
                       .segment_bytes = seg_bytes,
                       .max_bytes = max,
                       .set_max_bytes = max != 0,
                       .partitions = parts};
    cs_store *s = NULL;

    assert_int_equal(cs_store_open(dir, &o, &s), 0);
    return s;
}

static cs_store *open_store(const char *dir, uint32_t flags, uint64_t seg_bytes, uint64_t max)
{
    return open_store_p(dir, flags, seg_bytes, max, 0);
}

/* Appends n packets alternating between two flows; ts = base + i*1000. */
static void fill(cs_store *s, int n, int64_t base, cs_pktref *refs, uint16_t tap)
{
    uint8_t buf[2048];

    for (int i = 0; i < n; i++) {
        size_t len = make_frame(buf, i % 2 ? 6 : 17, 1, (uint8_t)(2 + i % 2), 1000,
                                (uint16_t)(i % 2 ? 80 : 53), (size_t)(100 + i % 300));
        cs_packet p = {.ts_ns = base + (int64_t)i * 1000,
                       .caplen = (uint32_t)len,
                       .wirelen = (uint32_t)len,
                       .linktype = CS_LINK_ETHERNET,
                       .tap = tap,
                       .data = buf};
        cs_layers l;
        cs_dissect(&p, &l);
        assert_int_equal(cs_store_append(s, &p, &l, refs ? &refs[i] : NULL), 0);
    }
}

typedef struct collected {
    int n;
    int64_t last_ts;
    int ordered;
    cs_pktref refs[20000];
} collected;

static int collect(void *ud, const cs_packet *p, cs_pktref ref)
{
    collected *c = ud;

    if (c->n > 0 && p->ts_ns < c->last_ts)
        c->ordered = 0;
    c->last_ts = p->ts_ns;
    c->refs[c->n++] = ref;
    return 0;
}

static int run_query(cs_store *s, int64_t after, int64_t before, const char *filter, collected *c)
{
    cs_query q = {after, before, filter, CS_PCAP_TIME_REFERENCE};

    memset(c, 0, sizeof(*c));
    c->ordered = 1;
    return cs_store_query(s, &q, collect, c, NULL);
}

static void test_append_read_query(void **state)
{
    fixture *f = *state;
    static cs_pktref refs[2000];
    static collected c;
    cs_store *s = open_store(f->store, CS_STORE_WRITE | CS_STORE_CREATE, 64 * 1024, 0);
    cs_store_info info;
    cs_packet p;
    uint8_t buf[2048];

    fill(s, 2000, 1000000000, refs, 0);
    assert_int_equal(cs_store_close(s), 0);
    s = open_store(f->store, 0, 0, 0);
    cs_store_info_get(s, &info);
    assert_int_equal(info.packets, 2000);
    assert_true(info.segments > 5); /* 64 KiB segments */
    assert_int_equal(info.min_ts, 1000000000);
    assert_int_equal(info.max_ts, 1000000000 + 1999 * 1000);
    /* every ref resolves to its packet's bytes */
    for (int i = 0; i < 2000; i += 37) {
        size_t len = make_frame(buf, i % 2 ? 6 : 17, 1, (uint8_t)(2 + i % 2), 1000,
                                (uint16_t)(i % 2 ? 80 : 53), (size_t)(100 + i % 300));
        assert_int_equal(cs_store_read(s, refs[i], &p), 0);
        assert_int_equal(p.caplen, len);
        assert_memory_equal(p.data, buf, len);
        assert_int_equal(p.ts_ns, 1000000000 + (int64_t)i * 1000);
    }
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "udp", &c), 0);
    assert_int_equal(c.n, 1000);
    assert_true(c.ordered);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "tcp and dst port 80", &c), 0);
    assert_int_equal(c.n, 1000);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "host 10.0.0.3", &c), 0);
    assert_int_equal(c.n, 1000);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "host 10.0.0.9", &c), 0);
    assert_int_equal(c.n, 0);
    /* [after, before): packets 100..199 */
    assert_int_equal(run_query(s, 1000000000 + 100 * 1000, 1000000000 + 200 * 1000, "", &c), 0);
    assert_int_equal(c.n, 100);
    assert_int_equal(c.refs[0], refs[100]);
    assert_int_equal(run_query(s, 1000000000 + 100 * 1000, 1000000000 + 200 * 1000, "udp", &c), 0);
    assert_int_equal(c.n, 50);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "host and and", &c), CS_EFILTER);
    assert_int_equal(run_query(s, 10, 5, "", &c), CS_ETIME);
    cs_store_close(s);
}

static void test_timestamp_order_across_ingests(void **state)
{
    fixture *f = *state;
    static collected c;
    cs_store *s = open_store(f->store, CS_STORE_WRITE | CS_STORE_CREATE, 0, 0);

    fill(s, 100, 5000000, NULL, 0);
    assert_int_equal(cs_store_close(s), 0);
    s = open_store(f->store, CS_STORE_WRITE, 0, 0);
    fill(s, 100, 5000500, NULL, 1); /* interleaves in time with the first */
    assert_int_equal(cs_store_close(s), 0);
    s = open_store(f->store, 0, 0, 0);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "", &c), 0);
    assert_int_equal(c.n, 200);
    assert_true(c.ordered);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "udp", &c), 0);
    assert_int_equal(c.n, 100);
    assert_true(c.ordered);
    cs_store_close(s);
}

static void seg_file(const fixture *f, int id, const char *suffix, char *buf, size_t n)
{
    snprintf(buf, n, "%s/packets/seg-%08d.%s", f->store, id, suffix);
}

static void test_rebuild_missing_and_damaged_index(void **state)
{
    fixture *f = *state;
    static collected c;
    char idx[256], pcap[256];
    cs_store *s = open_store_p(f->store, CS_STORE_WRITE | CS_STORE_CREATE, 0, 0, 1);
    struct stat st;
    FILE *fp;

    fill(s, 500, 1000, NULL, 3);
    assert_int_equal(cs_store_close(s), 0);
    seg_file(f, 1, "idx", idx, sizeof(idx));
    seg_file(f, 1, "pcap", pcap, sizeof(pcap));
    assert_int_equal(unlink(idx), 0);
    s = open_store(f->store, 0, 0, 0); /* no writer alive: repairs */
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "tcp", &c), 0);
    assert_int_equal(c.n, 250);
    cs_store_close(s);
    assert_int_equal(stat(idx, &st), 0); /* rebuilt on disk */
    /* damage one byte of the index: checksum catches it, index rebuilt */
    fp = fopen(idx, "r+b");
    assert_non_null(fp);
    fseek(fp, 200, SEEK_SET);
    fputc(0x5a, fp);
    fclose(fp);
    s = open_store(f->store, 0, 0, 0);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "udp", &c), 0);
    assert_int_equal(c.n, 250);
    cs_store_close(s);
    /* cut the segment mid-record (a crash mid-write) and drop the index */
    assert_int_equal(stat(pcap, &st), 0);
    assert_int_equal(truncate(pcap, st.st_size - 50), 0);
    assert_int_equal(unlink(idx), 0);
    s = open_store(f->store, 0, 0, 0);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "", &c), 0);
    assert_int_equal(c.n, 499); /* the torn last record is not served */
    cs_store_close(s);
    assert_int_equal(stat(pcap, &st), 0);
    s = open_store(f->store, CS_STORE_WRITE, 0, 0); /* appends after the repair */
    fill(s, 10, 9000000, NULL, 0);
    assert_int_equal(cs_store_close(s), 0);
    s = open_store(f->store, 0, 0, 0);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "", &c), 0);
    assert_int_equal(c.n, 509);
    cs_store_close(s);
}

static void poke(const char *path, long at, int byte)
{
    FILE *fp = fopen(path, "r+b");

    assert_non_null(fp);
    assert_int_equal(fseek(fp, at, SEEK_SET), 0);
    assert_int_not_equal(fputc(byte, fp), EOF);
    assert_int_equal(fclose(fp), 0);
}

/* The header is checked at open (a bad one is repaired there); the body
 * only when a query first uses it, and a bad body is then indexed from the
 * packets in memory, so every query still answers. */
static void test_index_checked_in_two_stages(void **state)
{
    fixture *f = *state;
    static collected c;
    char idx[256];
    cs_store *s = open_store_p(f->store, CS_STORE_WRITE | CS_STORE_CREATE, 64 * 1024, 0, 1);
    cs_store_info info;

    fill(s, 2000, 1000000000, NULL, 0);
    assert_int_equal(cs_store_close(s), 0);
    seg_file(f, 2, "idx", idx, sizeof(idx));
    poke(idx, 300, 0xa5); /* in the flow table */
    s = open_store(f->store, 0, 0, 0);
    cs_store_info_get(s, &info);
    assert_int_equal(info.repaired, 0); /* the body was not read at open */
    assert_int_equal(info.packets, 2000);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "udp", &c), 0);
    assert_int_equal(c.n, 1000);
    assert_true(c.ordered);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "host 10.0.0.3 and port 80", &c), 0);
    assert_int_equal(c.n, 1000);
    cs_store_close(s);
    poke(idx, 40, 0x01); /* pcap bytes in the header: caught at open, repaired */
    s = open_store(f->store, 0, 0, 0);
    cs_store_info_get(s, &info);
    assert_int_equal(info.repaired, 1);
    assert_int_equal(info.packets, 2000);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "tcp", &c), 0);
    assert_int_equal(c.n, 1000);
    cs_store_close(s);
    s = open_store(f->store, 0, 0, 0); /* the repaired file is whole again */
    cs_store_info_get(s, &info);
    assert_int_equal(info.repaired, 0);
    cs_store_close(s);
}

typedef struct tally {
    uint64_t n, ref_sum;
    int64_t last_ts;
    int ordered;
} tally;

static int count_packets(void *ud, const cs_packet *p, cs_pktref ref)
{
    tally *t = ud;

    if (t->n > 0 && p->ts_ns < t->last_ts)
        t->ordered = 0;
    t->last_ts = p->ts_ns;
    t->n++;
    t->ref_sum += ref * 2654435761u;
    return 0;
}

static tally query_tally(cs_store *s, const char *filter)
{
    cs_query q = {INT64_MIN, INT64_MAX, filter, CS_PCAP_TIME_REFERENCE};
    tally t = {0, 0, 0, 1};

    int rc = cs_store_query(s, &q, count_packets, &t, NULL);

    if (rc != 0)
        fprintf(stderr, "query: %s\n", cs_error_msg(rc));
    assert_int_equal(rc, 0);
    return t;
}

static int inspect_says(cs_store *s, const char *what)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    int found;

    assert_non_null(mem);
    assert_int_equal(cs_store_dump_index(s, 0, 0, mem), 0);
    fclose(mem);
    found = strstr(text, what) != NULL;
    free(text);
    return found;
}

/* A reader of a live store takes the writer's checkpoint of each open
 * segment and indexes only what follows it; the answers are those of a
 * full scan of the segments. With one partition the checkpoint comes every
 * 32 MiB; with four, every 8 MiB of each partition. */
static void reader_uses_checkpoint(const fixture *f, uint32_t parts)
{
    static cs_pktref refs[200000];
    char idx[256], pcap[256];
    cs_store *w = open_store_p(f->store, CS_STORE_WRITE | CS_STORE_CREATE | CS_STORE_CHECKPOINT,
                               1u << 30, 0, parts);
    cs_store *r;
    struct stat st_pcap;
    cs_idx ck;
    tally with_ck[2], full[2];
    const char *filters[2] = {"udp", "host 10.0.0.3 and port 80"};
    int id;

    fill(w, 200000, 1000000000, refs, 0); /* ~52 MB */
    assert_int_equal(cs_store_sync(w), 0);
    id = (int)CS_PKTREF_SEG(refs[0]); /* the UDP flow's segment */
    seg_file(f, id, "idx", idx, sizeof(idx));
    seg_file(f, id, "pcap", pcap, sizeof(pcap));
    assert_int_equal(cs_idx_load(idx, &ck), 0);
    assert_int_equal(stat(pcap, &st_pcap), 0);
    assert_true(ck.pcap_bytes >= CS_STORE_CHECKPOINT_BYTES / parts);
    assert_true(ck.pcap_bytes < (uint64_t)st_pcap.st_size);
    /* what a reader indexes itself: at most a step (the fixed one, or a
     * quarter of the segment with partitions) plus a buffer and a block */
    uint64_t step = CS_STORE_CHECKPOINT_BYTES / parts,
             tail = (uint64_t)st_pcap.st_size - ck.pcap_bytes;
    if (parts > 1 && (uint64_t)st_pcap.st_size / 4 > step)
        step = (uint64_t)st_pcap.st_size / 4;
    assert_true(tail <= step + (1u << 20));
    cs_idx_unload(&ck);

    r = open_store(f->store, 0, 0, 0);
    assert_true(inspect_says(r, "from a checkpoint"));
    for (int i = 0; i < 2; i++)
        with_ck[i] = query_tally(r, filters[i]);
    cs_store_close(r);
    for (int k = 1; k <= (int)parts; k++) { /* without them: full scans */
        seg_file(f, k, "idx", idx, sizeof(idx));
        unlink(idx);
    }
    r = open_store(f->store, 0, 0, 0);
    assert_false(inspect_says(r, "from a checkpoint"));
    for (int i = 0; i < 2; i++)
        full[i] = query_tally(r, filters[i]);
    cs_store_close(r);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(with_ck[i].n, 100000);
        assert_int_equal(with_ck[i].n, full[i].n);
        assert_int_equal(with_ck[i].ref_sum, full[i].ref_sum);
        assert_true(with_ck[i].ordered);
    }
    assert_int_equal(cs_store_close(w), 0);
    r = open_store(f->store, 0, 0, 0); /* closed: the final index replaced it */
    assert_int_equal(query_tally(r, "udp").n, 100000);
    assert_int_equal(query_tally(r, "").n, 200000);
    assert_true(query_tally(r, "").ordered);
    cs_store_close(r);
}

/* A process that opens a live store again and again (the daemon's API)
 * scans each live segment's packets after its checkpoint (or, before the
 * first checkpoint, all of them) once: the next open goes on from where
 * the last one stopped, and its answers are those of a full scan. A new
 * checkpoint starts the segment's scan again from it. Four partitions:
 * a checkpoint at 8 MiB of each, the next at 16 MiB; the two
 * conversations take one partition each (~306 bytes a packet). */
static void test_reader_resumes_live_scan(void **state)
{
    const fixture *f = *state;
    cs_store *w = open_store_p(f->store, CS_STORE_WRITE | CS_STORE_CREATE | CS_STORE_CHECKPOINT,
                               1u << 30, 0, 4);
    cs__livecache_stats a, b, c, d;
    cs_store *r;
    tally t;

    fill(w, 20000, 1000000000, NULL, 0); /* ~3 MB a partition: no checkpoint yet */
    assert_int_equal(cs_store_sync(w), 0);
    cs__livecache_stats_get(&a);
    r = open_store(f->store, 0, 0, 0);
    assert_int_equal(query_tally(r, "udp").n, 10000);
    cs_store_close(r);
    cs__livecache_stats_get(&b);
    assert_int_equal(b.starts, a.starts + 2);
    assert_true(b.bytes_scanned - a.bytes_scanned > 20000 * 100);

    fill(w, 2000, 1000000000 + 20000 * 1000, NULL, 0);
    assert_int_equal(cs_store_sync(w), 0);
    r = open_store(f->store, 0, 0, 0); /* only the new packets are scanned */
    t = query_tally(r, "udp");
    assert_int_equal(t.n, 11000);
    assert_true(t.ordered);
    assert_int_equal(query_tally(r, "host 10.0.0.3 and port 80").n, 11000);
    assert_int_equal(query_tally(r, "").n, 22000);
    cs_store_close(r);
    cs__livecache_stats_get(&c);
    assert_int_equal(c.starts, b.starts);
    assert_int_equal(c.resumed, b.resumed + 2);
    assert_true(c.bytes_scanned - b.bytes_scanned < 2000 * 500);

    fill(w, 60000, 1000000000 + 22000 * 1000, NULL, 0); /* past 16 MiB: checkpoints */
    assert_int_equal(cs_store_sync(w), 0);
    r = open_store(f->store, 0, 0, 0);
    assert_int_equal(query_tally(r, "udp").n, 41000);
    cs_store_close(r);
    cs__livecache_stats_get(&d);
    assert_int_equal(d.starts, c.starts + 2); /* from the checkpoints */
    r = open_store(f->store, 0, 0, 0);        /* and nothing new to scan */
    assert_int_equal(query_tally(r, "").n, 82000);
    assert_true(inspect_says(r, "from a checkpoint"));
    cs_store_close(r);
    cs__livecache_stats_get(&a);
    assert_int_equal(a.bytes_scanned, d.bytes_scanned);
    assert_int_equal(a.resumed, d.resumed + 2);
    assert_int_equal(cs_store_close(w), 0);
}

static void test_reader_uses_checkpoint(void **state)
{
    reader_uses_checkpoint(*state, 1);
}

static void test_reader_uses_partition_checkpoints(void **state)
{
    reader_uses_checkpoint(*state, 4);
}

/* 16 partitions: a 2 MiB step, so past 8 MiB a segment's checkpoints come
 * every quarter of its size. */
static void test_reader_uses_growing_checkpoints(void **state)
{
    reader_uses_checkpoint(*state, 16);
}

static void test_tap_survives_rebuild(void **state)
{
    fixture *f = *state;
    static cs_pktref refs[300];
    char idx[256];
    cs_store *s = open_store_p(f->store, CS_STORE_WRITE | CS_STORE_CREATE, 0, 0, 1);
    cs_packet p;

    fill(s, 100, 1000, refs, 0);
    fill(s, 100, 200000, refs + 100, 7);
    fill(s, 100, 400000, refs + 200, 2);
    assert_int_equal(cs_store_close(s), 0);
    seg_file(f, 1, "idx", idx, sizeof(idx));
    assert_int_equal(unlink(idx), 0);
    s = open_store(f->store, 0, 0, 0);
    assert_int_equal(cs_store_read(s, refs[50], &p), 0);
    assert_int_equal(p.tap, 0);
    assert_int_equal(cs_store_read(s, refs[150], &p), 0);
    assert_int_equal(p.tap, 7);
    assert_int_equal(cs_store_read(s, refs[250], &p), 0);
    assert_int_equal(p.tap, 2);
    assert_int_equal(cs_store_read(s, CS_PKTREF(99, 24), &p), CS_ENOTFOUND);
    assert_int_equal(cs_store_read(s, CS_PKTREF(1, 3), &p), CS_ENOTFOUND);
    cs_store_close(s);
}

/* Appends n packets like fill(); every third has a host capture time
 * (cap_ns) 25 us + i ns after its time, the others none; the tap changes
 * every 40 packets, so capture-time entries and tap runs interleave. */
static void fill_captimes(cs_store *s, int n, int64_t base, cs_pktref *refs)
{
    uint8_t buf[2048];

    for (int i = 0; i < n; i++) {
        size_t len = make_frame(buf, i % 2 ? 6 : 17, 1, (uint8_t)(2 + i % 2), 1000,
                                (uint16_t)(i % 2 ? 80 : 53), (size_t)(100 + i % 300));
        cs_packet p = {.ts_ns = base + (int64_t)i * 1000,
                       .caplen = (uint32_t)len,
                       .wirelen = (uint32_t)len,
                       .linktype = CS_LINK_ETHERNET,
                       .tap = (uint16_t)(i / 40 % 2 ? 9 : 0),
                       .data = buf};
        cs_layers l;
        if (i % 3 == 0)
            p.cap_ns = p.ts_ns + 25000 + i;
        cs_dissect(&p, &l);
        assert_int_equal(cs_store_append(s, &p, &l, &refs[i]), 0);
    }
}

/* The pcap records of "fd" (a query's output) read back: their times. */
static int read_pcap_times(int fd, int64_t *ts, int max)
{
    uint8_t b[65536 * 2];
    ssize_t len = pread(fd, b, sizeof(b), 0);
    int n = 0;

    for (size_t off = 24; len > 0 && off + 16 <= (size_t)len && n < max; n++) {
        ts[n] = (int64_t)cs_rd_le32(b + off) * 1000000000 + cs_rd_le32(b + off + 4);
        off += 16 + cs_rd_le32(b + off + 8);
    }
    return n;
}

/* Packets whose time is another reference's keep the host's capture time
 * in the store: read, scanned and written as pcap with either time, with
 * their taps right, after a reopen, in stores of one and of 64 partitions
 * (the first capture-time entry of a segment may open its side file before
 * any tap run). */
static void captimes_kept(fixture *f, uint32_t parts)
{
    static cs_pktref refs[400];
    static int64_t ts[400];
    cs_store *s = open_store_p(f->store, CS_STORE_WRITE | CS_STORE_CREATE, 0, 0, parts);
    cs_query q = {INT64_MIN, INT64_MAX, NULL, CS_PCAP_TIME_CAPTURE};
    char path[128];
    uint64_t count;
    cs_packet p;
    int fd, n;

    fill_captimes(s, 400, 1000000, refs);
    assert_int_equal(cs_store_close(s), 0);
    s = open_store(f->store, 0, 0, 0);
    for (int i = 0; i < 400; i++) {
        assert_int_equal(cs_store_read(s, refs[i], &p), 0);
        assert_true(p.ts_ns == 1000000 + (int64_t)i * 1000);
        assert_true(p.cap_ns == (i % 3 == 0 ? p.ts_ns + 25000 + i : 0));
        assert_int_equal(p.tap, i / 40 % 2 ? 9 : 0);
    }
    snprintf(path, sizeof(path), "%s/out.pcap", f->dir);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(cs_store_query_pcap(s, &q, fd, &count, NULL), 0);
    assert_int_equal(count, 400);
    n = read_pcap_times(fd, ts, 400);
    assert_int_equal(n, 400);
    for (int i = 0; i < 400; i++)
        assert_true(ts[i] == 1000000 + (int64_t)i * 1000 + (i % 3 == 0 ? 25000 + i : 0));
    q.pcap_time = CS_PCAP_TIME_REFERENCE;
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    assert_int_equal(cs_store_query_pcap(s, &q, fd, &count, NULL), 0);
    assert_int_equal(read_pcap_times(fd, ts, 400), 400);
    for (int i = 0; i < 400; i++)
        assert_true(ts[i] == 1000000 + (int64_t)i * 1000);
    close(fd);
    cs_store_close(s);
}

static void test_captimes_kept(void **state)
{
    captimes_kept(*state, 1);
}

static void test_captimes_kept_partitions(void **state)
{
    captimes_kept(*state, 64);
}

/* Appends n packets of three conversations, in both directions: UDP
 * 10.0.0.1:1000 <-> 10.0.0.2:53, TCP 10.0.0.1:1000 <-> 10.0.0.3:80 and UDP
 * 10.0.0.4:7 <-> 10.0.0.5:9; packet i is conversation i % 3, at base + i us. */
static void fill_both_ways(cs_store *s, int n, int64_t base, cs_pktref *refs)
{
    static const uint8_t proto[3] = {17, 6, 17}, a[3] = {1, 1, 4}, b[3] = {2, 3, 5};
    static const uint16_t sp[3] = {1000, 1000, 7}, dp[3] = {53, 80, 9};
    uint8_t buf[2048];

    for (int i = 0; i < n; i++) {
        int c = i % 3, back = (i / 3) % 2;
        size_t len = back ? make_frame(buf, proto[c], b[c], a[c], dp[c], sp[c], 100 + i % 200)
                          : make_frame(buf, proto[c], a[c], b[c], sp[c], dp[c], 100 + i % 200);
        cs_packet p = {.ts_ns = base + (int64_t)i * 1000,
                       .caplen = (uint32_t)len,
                       .wirelen = (uint32_t)len,
                       .linktype = CS_LINK_ETHERNET,
                       .data = buf};
        cs_layers l;
        cs_dissect(&p, &l);
        assert_int_equal(cs_store_append(s, &p, &l, &refs[i]), 0);
    }
}

static uint32_t part_of(cs_pktref ref, uint32_t parts)
{
    return (CS_PKTREF_SEG(ref) - 1) % parts;
}

/* Each group's segments together stay within the segment size. */
static void assert_groups_within(cs_store *s, uint64_t limit)
{
    uint64_t bytes = 0;
    uint32_t group = 0;

    for (size_t i = 0; i < s->n_segs; i++) {
        uint32_t g = cs_store_group_of(s->segs[i].id, s->partitions);
        if (g != group)
            bytes = 0;
        group = g;
        bytes += s->segs[i].disk_bytes;
        assert_true(bytes <= limit);
    }
}

/* Packets go to P segments at once by a hash of their conversation: both
 * directions of one in the same partition, ids in aligned groups, groups
 * closed by their total size; queries and scans merge a group's segments
 * back into timestamp order. */
static void test_flow_partitions(void **state)
{
    fixture *f = *state;
    static cs_pktref refs[3030];
    static collected c;
    cs_store *s = open_store_p(f->store, CS_STORE_WRITE | CS_STORE_CREATE, 64 * 1024, 0, 4);
    cs_store_opts other = {.flags = CS_STORE_WRITE, .partitions = 8};
    cs_store_info info;
    uint32_t first, last;

    fill_both_ways(s, 3000, 1000000, refs);
    assert_int_equal(cs_store_close(s), 0);
    assert_int_equal(cs_store_dir_partitions(f->store), 4);
    s = open_store(f->store, 0, 0, 0);
    cs_store_info_get(s, &info);
    assert_int_equal(info.partitions, 4);
    assert_int_equal(info.packets, 3000);
    assert_true(info.groups >= 5); /* ~700 KB in 64 KiB groups */
    assert_true(info.segments > info.groups);
    assert_groups_within(s, 64 * 1024);
    assert_true(inspect_says(s, "key summary: addresses"));
    for (int i = 3; i < 3000; i++) /* a conversation stays in its partition */
        assert_int_equal(part_of(refs[i], 4), part_of(refs[i % 3], 4));
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "", &c), 0);
    assert_int_equal(c.n, 3000);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(c.refs[i], refs[i]);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "udp", &c), 0);
    assert_int_equal(c.n, 2000);
    assert_true(c.ordered);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "host 10.0.0.3", &c), 0);
    assert_int_equal(c.n, 1000);
    memset(&c, 0, sizeof(c));
    assert_int_equal(cs_store_scan(s, 1, UINT32_MAX, collect, &c), 0);
    assert_int_equal(c.n, 3000);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(c.refs[i], refs[i]);
    assert_int_equal(
        cs_store_segments_in_range(s, 1000000 + 1500 * 1000, 1000000 + 1501 * 1000, &first, &last),
        0);
    assert_int_equal(first, cs_store_group_of(CS_PKTREF_SEG(refs[1500]), 4));
    assert_int_equal(last, first + 3);
    cs_store_close(s);
    assert_int_equal(cs_store_open(f->store, &other, &s), CS_EINVAL);
    s = open_store_p(f->store, CS_STORE_WRITE, 0, 0, 4); /* the same count is fine */
    fill_both_ways(s, 30, 9000000, refs + 3000);
    assert_int_equal(cs_store_close(s), 0);
    assert_true(CS_PKTREF_SEG(refs[3000]) > CS_PKTREF_SEG(refs[2999]));
    assert_int_equal(cs_store_group_of(CS_PKTREF_SEG(refs[3000]), 4),
                     CS_PKTREF_SEG(refs[3000]) - part_of(refs[3000], 4));
}

/* Appends "n" packets of four conversations, interleaved in a scrambled
 * order, five to a timestamp, the clock stepping back 3 us every 37th
 * packet if "back": ties across partitions, and a capture not in time
 * order. Fills refs[i], ts[i] and conv[i] (conversation 1 is TCP, the
 * others UDP). */
static void fill_ties_opt(cs_store *s, int n, int64_t base, cs_pktref *refs, int64_t *ts, int *conv,
                          int back)
{
    static const uint8_t proto[4] = {17, 6, 17, 17}, a[4] = {1, 1, 4, 6}, b[4] = {2, 3, 5, 7};
    static const uint16_t sp[4] = {1000, 1000, 7, 99}, dp[4] = {53, 80, 9, 99};
    uint8_t buf[2048];

    for (int i = 0; i < n; i++) {
        int c = (int)(((uint64_t)i * 2654435761u >> 9) % 4);
        size_t len = make_frame(buf, proto[c], a[c], b[c], sp[c], dp[c], 60 + (size_t)i % 500);
        cs_packet p = {.ts_ns = base + (int64_t)(i / 5) * 1000 - (back && i % 37 == 36 ? 3000 : 0),
                       .caplen = (uint32_t)len,
                       .wirelen = (uint32_t)len,
                       .linktype = CS_LINK_ETHERNET,
                       .data = buf};
        cs_layers l;
        cs_dissect(&p, &l);
        assert_int_equal(cs_store_append(s, &p, &l, &refs[i]), 0);
        ts[i] = p.ts_ns;
        conv[i] = c;
    }
}

static void fill_ties(cs_store *s, int n, int64_t base, cs_pktref *refs, int64_t *ts, int *conv)
{
    fill_ties_opt(s, n, base, refs, ts, conv, 1);
}

/* Checks that "c" holds exactly the refs[i] with keep[i], in order. */
static void assert_refs_in_order(const collected *c, const cs_pktref *refs, const int *keep, int n)
{
    int k = 0;

    for (int i = 0; i < n; i++) {
        if (!keep[i])
            continue;
        assert_true(k < c->n);
        assert_int_equal(c->refs[k], refs[i]);
        k++;
    }
    assert_int_equal(c->n, k);
}

/* Packets of different conversations stamped with the same instant, with
 * a clock that goes back ("back") or not, come out of every query (any
 * filter, any range) and of a scan in the order they were appended (the
 * capture's). */
static void check_capture_order(fixture *f, int back)
{
    enum { N = 3000 };
    static cs_pktref refs[N];
    static int64_t ts[N];
    static int conv[N], keep[N];
    static collected c;
    cs_store *s = open_store_p(f->store, CS_STORE_WRITE | CS_STORE_CREATE, 256 * 1024, 0, 4);
    int64_t after = 1000000 + 100 * 1000, before = 1000000 + 400 * 1000;
    uint32_t udp_parts = 0;

    fill_ties_opt(s, N, 1000000, refs, ts, conv, back);
    assert_int_equal(cs_store_close(s), 0);
    s = open_store(f->store, 0, 0, 0);
    for (int i = 0; i < N; i++) {
        keep[i] = 1;
        if (conv[i] != 1)
            udp_parts |= 1u << part_of(refs[i], 4);
    }
    assert_true(__builtin_popcount(udp_parts) >= 2); /* "udp" merges partitions */
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "", &c), 0);
    assert_refs_in_order(&c, refs, keep, N);
    for (int i = 0; i < N; i++)
        keep[i] = conv[i] != 1;
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "udp", &c), 0);
    assert_refs_in_order(&c, refs, keep, N);
    for (int i = 0; i < N; i++)
        keep[i] = ts[i] >= after && ts[i] < before;
    assert_int_equal(run_query(s, after, before, "", &c), 0);
    assert_refs_in_order(&c, refs, keep, N);
    for (int i = 0; i < N; i++)
        keep[i] = ts[i] >= after && ts[i] < before && conv[i] != 1;
    assert_int_equal(run_query(s, after, before, "udp", &c), 0);
    assert_refs_in_order(&c, refs, keep, N);
    for (int i = 0; i < N; i++)
        keep[i] = 1;
    memset(&c, 0, sizeof(c));
    assert_int_equal(cs_store_scan(s, 1, UINT32_MAX, collect, &c), 0);
    assert_refs_in_order(&c, refs, keep, N);
    cs_store_close(s);
}

static void test_capture_order_with_ties(void **state)
{
    check_capture_order(*state, 0);
}

static void test_capture_order_with_ties_and_clock_back(void **state)
{
    check_capture_order(*state, 1);
}

/* A reader of a live store (the daemon's API) sees the open group in
 * capture order as far as the writer has synced it. */
static void test_capture_order_live(void **state)
{
    enum { N = 3000 };
    fixture *f = *state;
    static cs_pktref refs[N];
    static int64_t ts[N];
    static int conv[N], keep[N];
    static collected c;
    cs_store *w =
        open_store_p(f->store, CS_STORE_WRITE | CS_STORE_CREATE | CS_STORE_CHECKPOINT, 0, 0, 4);
    cs_store *r;

    fill_ties(w, N, 1000000, refs, ts, conv);
    assert_int_equal(cs_store_sync(w), 0);
    r = open_store(f->store, 0, 0, 0);
    for (int i = 0; i < N; i++)
        keep[i] = 1;
    assert_int_equal(run_query(r, INT64_MIN, INT64_MAX, "", &c), 0);
    assert_refs_in_order(&c, refs, keep, N);
    for (int i = 0; i < N; i++)
        keep[i] = conv[i] != 1;
    assert_int_equal(run_query(r, INT64_MIN, INT64_MAX, "udp", &c), 0);
    assert_refs_in_order(&c, refs, keep, N);
    cs_store_close(r);
    assert_int_equal(cs_store_close(w), 0);
}

static int cmp_ref(const void *a, const void *b)
{
    cs_pktref x = *(const cs_pktref *)a, y = *(const cs_pktref *)b;

    return x < y ? -1 : x > y;
}

/* "c" holds the refs of "refs" (all n), the first "prefix" in order. */
static void assert_all_with_prefix(collected *c, const cs_pktref *refs, int n, int prefix)
{
    static cs_pktref want[20000];

    assert_int_equal(c->n, n);
    for (int i = 0; i < prefix; i++)
        assert_int_equal(c->refs[i], refs[i]);
    memcpy(want, refs, (size_t)n * sizeof(cs_pktref));
    qsort(want, (size_t)n, sizeof(cs_pktref), cmp_ref);
    qsort(c->refs, (size_t)n, sizeof(cs_pktref), cmp_ref);
    for (int i = 0; i < n; i++)
        assert_int_equal(c->refs[i], want[i]);
}

/* A capture-order record cut short (a writer killed before it flushed)
 * orders the packets it covers and the rest follow by timestamp; one
 * naming packets its segments do not hold (killed before they reached
 * the disk) has those entries skipped; a damaged one is not used. Every
 * packet is answered once either way. */
static void test_capture_order_record_damaged(void **state)
{
    enum { N = 3000 };
    fixture *f = *state;
    static cs_pktref refs[N];
    static int64_t ts[N];
    static int conv[N];
    static collected c;
    cs_store *s = open_store_p(f->store, CS_STORE_WRITE | CS_STORE_CREATE, 0, 0, 4);
    cs_order_writer w;
    char path[160], pktdir[128];
    FILE *fp;

    fill_ties(s, N, 1000000, refs, ts, conv);
    assert_int_equal(cs_store_close(s), 0);
    snprintf(pktdir, sizeof(pktdir), "%s/packets", f->store);
    cs_order_path(pktdir, 1, path, sizeof(path));
    assert_int_equal(truncate(path, CS_ORDER_HDR + 100), 0); /* 400 entries of 2 bits */
    s = open_store(f->store, 0, 0, 0);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "", &c), 0);
    assert_all_with_prefix(&c, refs, N, 400);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "udp or tcp", &c), 0);
    assert_all_with_prefix(&c, refs, N, 400);
    memset(&c, 0, sizeof(c));
    assert_int_equal(cs_store_scan(s, 1, UINT32_MAX, collect, &c), 0);
    assert_all_with_prefix(&c, refs, N, 400);
    cs_store_close(s);

    cs_order_writer_init(&w); /* the whole record, then 200 packets that never came */
    cs_order_writer_open(&w, path, 1, 4);
    for (int i = 0; i < N; i++)
        cs_order_writer_add(&w, part_of(refs[i], 4), ts[i]);
    for (int i = 0; i < 200; i++)
        cs_order_writer_add(&w, (uint32_t)i % 4, ts[N - 1]);
    cs_order_writer_close(&w, 0);
    cs_order_writer_free(&w);
    s = open_store(f->store, 0, 0, 0);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "", &c), 0);
    assert_all_with_prefix(&c, refs, N, N);
    memset(&c, 0, sizeof(c));
    assert_int_equal(cs_store_scan(s, 1, UINT32_MAX, collect, &c), 0);
    assert_all_with_prefix(&c, refs, N, N);
    cs_store_close(s);

    fp = fopen(path, "r+b"); /* its magic damaged */
    assert_non_null(fp);
    fputc('X', fp);
    fclose(fp);
    s = open_store(f->store, 0, 0, 0);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "", &c), 0);
    assert_all_with_prefix(&c, refs, N, 0);
    memset(&c, 0, sizeof(c));
    assert_int_equal(cs_store_scan(s, 1, UINT32_MAX, collect, &c), 0);
    assert_all_with_prefix(&c, refs, N, 0);
    cs_store_close(s);
}

/* Every group has its capture-order record, counted in the index bytes,
 * and retention deletes it with its group. */
static void test_capture_order_records_follow_groups(void **state)
{
    fixture *f = *state;
    static cs_pktref refs[6000];
    static int64_t ts[6000];
    static int conv[6000];
    cs_store *s = open_store_p(f->store, CS_STORE_WRITE | CS_STORE_CREATE, 0, 512 * 1024, 4);
    cs_store_info info;
    char pktdir[128];
    uint64_t aux = 0, ord = 0;
    uint32_t groups = 0, last = 0;

    fill_ties(s, 6000, 1000000, refs, ts, conv); /* ~1.9 MB through 512 KiB */
    assert_int_equal(cs_store_close(s), 0);
    s = open_store(f->store, 0, 0, 0);
    cs_store_info_get(s, &info);
    assert_true(info.groups >= 3);
    snprintf(pktdir, sizeof(pktdir), "%s/packets", f->store);
    for (size_t i = 0; i < s->n_segs; i++) {
        uint32_t g = cs_store_group_of(s->segs[i].id, 4);
        aux += s->segs[i].aux_bytes;
        if (g != last) {
            groups++;
            assert_true(cs_order_file_bytes(pktdir, g) > CS_ORDER_HDR);
            ord += cs_order_file_bytes(pktdir, g);
        }
        last = g;
    }
    assert_int_equal(groups, info.groups);
    assert_int_equal(info.index_bytes, aux + ord);
    for (uint32_t g = 1; g < cs_store_group_of(s->segs[0].id, 4); g += 4)
        assert_int_equal(cs_order_file_bytes(pktdir, g), 0); /* deleted groups: gone */
    assert_true(cs_store_group_of(s->segs[0].id, 4) > 1);
    cs_store_close(s);
}

/* The group catalogs (catalog.c) in the store's packets directory. */
static int count_catalogs(const fixture *f)
{
    char dir[160];
    struct dirent *e;
    DIR *d;
    int n = 0;

    snprintf(dir, sizeof(dir), "%s/packets", f->store);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, "group-", 6) == 0 && strstr(e->d_name, ".cat") != NULL &&
             strstr(e->d_name, ".tmp") == NULL;
    closedir(d);
    return n;
}

static void catalog_file(const fixture *f, uint32_t first, char *buf, size_t n)
{
    snprintf(buf, n, "%s/packets/group-%08u.cat", f->store, (unsigned)first);
}

static void read_whole(const char *path, uint8_t **buf, size_t *len)
{
    FILE *fp = fopen(path, "rb");

    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *len = (size_t)ftell(fp);
    rewind(fp);
    *buf = malloc(*len);
    assert_int_equal(fread(*buf, 1, *len, fp), *len);
    fclose(fp);
}

/* What a reader sees: the store's totals and three queries' answers. */
typedef struct seen {
    cs_store_info info;
    tally all, udp, host;
} seen;

static seen reader_sees(const fixture *f)
{
    cs_store *s = open_store(f->store, 0, 0, 0);
    seen v;

    cs_store_info_get(s, &v.info);
    v.all = query_tally(s, "");
    v.udp = query_tally(s, "udp");
    v.host = query_tally(s, "host 10.0.0.3");
    cs_store_close(s);
    return v;
}

static void assert_seen_equal(const seen *a, const seen *b)
{
    assert_int_equal(a->info.packets, b->info.packets);
    assert_int_equal(a->info.segments, b->info.segments);
    assert_int_equal(a->info.packet_bytes, b->info.packet_bytes);
    assert_int_equal(a->info.index_bytes, b->info.index_bytes);
    assert_int_equal(a->info.min_ts, b->info.min_ts);
    assert_int_equal(a->info.max_ts, b->info.max_ts);
    assert_int_equal(a->all.n, b->all.n);
    assert_int_equal(a->all.ref_sum, b->all.ref_sum);
    assert_int_equal(a->udp.ref_sum, b->udp.ref_sum);
    assert_int_equal(a->host.ref_sum, b->host.ref_sum);
    assert_true(a->all.ordered && b->all.ordered);
}

/* Each closed group gets a catalog of its segments' index heads. A reader
 * opens the store from the catalogs alone (with every index file gone, it
 * still sees the same store, and its queries index those segments from
 * their packets); a damaged or missing catalog is passed over, and the next
 * writer writes it again. */
static void test_group_catalogs(void **state)
{
    fixture *f = *state;
    static cs_pktref refs[3000];
    cs_store *s = open_store_p(f->store, CS_STORE_WRITE | CS_STORE_CREATE, 64 * 1024, 0, 4);
    char path[256];
    uint8_t *good, *now;
    size_t good_len, now_len;
    seen before, after;
    FILE *fp;

    fill_both_ways(s, 3000, 1000000, refs);
    assert_int_equal(cs_store_close(s), 0);
    before = reader_sees(f);
    assert_int_equal(before.all.n, 3000);
    assert_int_equal(before.udp.n, 2000);
    assert_int_equal(before.host.n, 1000);
    assert_true(before.info.groups >= 5);
    assert_int_equal(count_catalogs(f), (int)before.info.groups);

    /* index files gone: the catalogs still describe the store */
    for (uint32_t id = 1; id < 200; id++) {
        seg_file(f, (int)id, "idx", path, sizeof(path));
        unlink(path);
    }
    after = reader_sees(f);
    assert_seen_equal(&before, &after);

    /* a damaged catalog is passed over; a writer's open rewrites it */
    catalog_file(f, cs_store_group_of(CS_PKTREF_SEG(refs[0]), 4), path, sizeof(path));
    read_whole(path, &good, &good_len);
    fp = fopen(path, "r+b");
    fseek(fp, (long)good_len / 2, SEEK_SET);
    fputc(good[good_len / 2] ^ 0x5a, fp);
    fclose(fp);
    after = reader_sees(f);
    assert_seen_equal(&before, &after);
    s = open_store(f->store, CS_STORE_WRITE, 0, 0);
    assert_int_equal(cs_store_close(s), 0);
    read_whole(path, &now, &now_len);
    assert_int_equal(now_len, good_len);
    assert_memory_equal(now, good, good_len);
    free(now);

    /* all gone: a writer's open writes every one again */
    for (uint32_t first = 1; first < 200; first += 4) {
        catalog_file(f, first, path, sizeof(path));
        unlink(path);
    }
    assert_int_equal(count_catalogs(f), 0);
    after = reader_sees(f);
    assert_seen_equal(&before, &after);
    s = open_store(f->store, CS_STORE_WRITE, 0, 0);
    assert_int_equal(cs_store_close(s), 0);
    assert_int_equal(count_catalogs(f), (int)before.info.groups);
    free(good);
}

/* A catalogued segment cut short (power lost before the file reached the
 * disk, without CS_STORE_SYNC): a reader notices when it first reads it and
 * answers from the packets that are there; the next writer repairs it. */
static void test_catalogued_segment_cut(void **state)
{
    fixture *f = *state;
    static cs_pktref refs[3000];
    cs_store *s = open_store_p(f->store, CS_STORE_WRITE | CS_STORE_CREATE, 64 * 1024, 0, 4);
    char path[256], idx[256];
    cs_idx x;
    struct stat st;
    uint32_t seg;
    int lost = 0;

    fill_both_ways(s, 3000, 1000000, refs);
    assert_int_equal(cs_store_close(s), 0);
    seg = CS_PKTREF_SEG(refs[0]);
    seg_file(f, (int)seg, "pcap", path, sizeof(path));
    assert_int_equal(stat(path, &st), 0);
    for (int i = 0; i < 3000; i++) { /* fill_both_ways' frame: 14 + 20 + UDP or TCP + payload */
        uint64_t end =
            CS_PKTREF_OFF(refs[i]) + 16 + 14 + 20 + (i % 3 == 1 ? 20 : 8) + 100 + i % 200;
        lost += CS_PKTREF_SEG(refs[i]) == seg && end > (uint64_t)st.st_size / 2;
    }
    assert_true(lost > 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);
    s = open_store(f->store, 0, 0, 0);
    assert_int_equal(query_tally(s, "").n, 3000 - lost);
    assert_true(query_tally(s, "").ordered);
    cs_store_close(s);

    /* a writer's open repairs it for good: the pcap cut to its last whole
     * record, the index rebuilt, the catalog rewritten to match */
    s = open_store(f->store, CS_STORE_WRITE, 0, 0);
    assert_int_equal(cs_store_close(s), 0);
    assert_int_equal(stat(path, &st), 0);
    seg_file(f, (int)seg, "idx", idx, sizeof(idx));
    assert_int_equal(cs_idx_load(idx, &x), 0);
    assert_int_equal(x.pcap_bytes, (uint64_t)st.st_size);
    cs_idx_unload(&x);
    s = open_store(f->store, 0, 0, 0);
    assert_int_equal(cs__seg_find(s, seg)->idx.pcap_bytes, (uint64_t)st.st_size);
    assert_int_equal(query_tally(s, "").n, 3000 - lost);
    cs_store_close(s);
}

/* Retention takes a group's catalog with it; none is left for a group that
 * is gone. A daemon's store (checkpoints, flushed once a second) writes
 * the catalog of a group it closed while it still runs. */
static void test_catalogs_follow_groups(void **state)
{
    fixture *f = *state;
    static cs_pktref refs[6000];
    cs_store *s = open_store_p(f->store, CS_STORE_WRITE | CS_STORE_CREATE | CS_STORE_CHECKPOINT,
                               64 * 1024, 512 * 1024, 4);
    cs_store_info info;
    int tries = 0;

    fill_both_ways(s, 6000, 1000000, refs);
    while (count_catalogs(f) == 0 && tries++ < 1000) { /* the writer thread catches up */
        cs_store_flush(s);
        usleep(1000);
    }
    assert_true(count_catalogs(f) > 0);
    assert_int_equal(cs_store_close(s), 0);
    s = open_store(f->store, 0, 0, 0);
    cs_store_info_get(s, &info);
    assert_true(info.segments > 0);
    assert_true(info.packet_bytes + info.index_bytes <= 512 * 1024);
    assert_int_equal(count_catalogs(f), (int)info.groups);
    assert_int_equal(query_tally(s, "").n, info.packets);
    cs_store_close(s);
}

/* Retention may delete a segment after a reader opened the store: its
 * queries still answer, from what is left. */
static void test_segment_deleted_under_reader(void **state)
{
    fixture *f = *state;
    static cs_pktref refs[3000];
    static collected c;
    char path[256];
    cs_store *s = open_store_p(f->store, CS_STORE_WRITE | CS_STORE_CREATE, 64 * 1024, 0, 4);
    int gone = 0;

    fill_both_ways(s, 3000, 1000000, refs);
    assert_int_equal(cs_store_close(s), 0);
    s = open_store(f->store, 0, 0, 0);
    for (int i = 0; i < 3000; i++) /* the first segment's packets */
        gone += CS_PKTREF_SEG(refs[i]) == CS_PKTREF_SEG(refs[0]);
    seg_file(f, (int)CS_PKTREF_SEG(refs[0]), "pcap", path, sizeof(path));
    assert_int_equal(unlink(path), 0);
    seg_file(f, (int)CS_PKTREF_SEG(refs[0]), "idx", path, sizeof(path));
    assert_int_equal(unlink(path), 0);
    assert_true(gone > 0);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "", &c), 0);
    assert_int_equal(c.n, 3000 - gone);
    assert_true(c.ordered);
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "udp or tcp", &c), 0);
    assert_int_equal(c.n, 3000 - gone);
    cs_store_close(s);
}

/* A store made before partitions existed has none in its settings: it
 * reads as one partition and keeps writing that way. */
static void test_store_without_partitions(void **state)
{
    fixture *f = *state;
    static cs_pktref refs[300];
    char marker[160];
    cs_store *s = open_store_p(f->store, CS_STORE_WRITE | CS_STORE_CREATE, 0, 0, 1);
    cs_store_info info;
    FILE *fp;

    assert_int_equal(cs_store_close(s), 0);
    snprintf(marker, sizeof(marker), "%s/capstream.store", f->store);
    fp = fopen(marker, "w");
    fputs("capstream store\nformat 1\nsegment_bytes 268435456\nmax_bytes 0\n", fp);
    fclose(fp);
    assert_int_equal(cs_store_dir_partitions(f->store), 1);
    s = open_store(f->store, CS_STORE_WRITE, 0, 0);
    fill_both_ways(s, 300, 1000, refs);
    assert_int_equal(cs_store_close(s), 0);
    for (int i = 0; i < 300; i++)
        assert_int_equal(CS_PKTREF_SEG(refs[i]), 1);
    s = open_store(f->store, 0, 0, 0);
    cs_store_info_get(s, &info);
    assert_int_equal(info.partitions, 1);
    assert_int_equal(info.segments, 1);
    cs_store_close(s);
}

static void test_retention(void **state)
{
    fixture *f = *state;
    static collected c;
    cs_store *s = open_store(f->store, CS_STORE_WRITE | CS_STORE_CREATE, 0, 256 * 1024);
    cs_store_info info;

    fill(s, 6000, 1000000, NULL, 0); /* ~2.4 MB through a 256 KiB budget */
    assert_int_equal(cs_store_close(s), 0);
    s = open_store(f->store, 0, 0, 0);
    cs_store_info_get(s, &info);
    assert_true(info.packet_bytes + info.index_bytes <= 256 * 1024);
    assert_true(info.segments >= 3);
    assert_int_equal(info.max_ts, 1000000 + 5999 * 1000); /* newest kept */
    assert_true(info.min_ts > 1000000);                   /* oldest gone */
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "", &c), 0);
    assert_int_equal((uint64_t)c.n, info.packets);
    cs_store_close(s);
}

/* A write the background writer loses (here: past RLIMIT_FSIZE, as a
 * full disk would) ends storing: the store keeps exactly the records that
 * reached the file, indexed, the first ones appended, and counts the rest
 * as lost. */
static void test_lost_write_keeps_what_reached_the_disk(void **state)
{
    fixture *f = *state;
    static collected c;
    struct rlimit lim = {300 * 1024, RLIM_INFINITY}, old;
    cs_store *s = open_store_p(f->store, CS_STORE_WRITE | CS_STORE_CREATE, 0, 0, 1);
    cs_store_info info;
    uint8_t buf[2048];
    int i, rc = 0;

    signal(SIGXFSZ, SIG_IGN); /* the write fails with EFBIG instead */
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    for (i = 0; i < 100000 && rc == 0; i++) {
        size_t len = make_frame(buf, 17, 1, 2, 1000, 53, 400);
        cs_packet p = {.ts_ns = 1000000 + (int64_t)i * 1000,
                       .caplen = (uint32_t)len,
                       .wirelen = (uint32_t)len,
                       .linktype = CS_LINK_ETHERNET,
                       .data = buf};
        cs_layers l;
        cs_dissect(&p, &l);
        rc = cs_store_append(s, &p, &l, NULL);
    }
    assert_true(rc < 0); /* stopped well before 100000 x 458 bytes */
    assert_non_null(cs_store_full(s));
    assert_int_equal(cs_store_finish(s), 0);
    cs_store_info_get(s, &info);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_true(info.written_packets > 0);
    assert_true(info.written_packets * 458 + 24 <= 300 * 1024);
    assert_int_equal(info.written_packets + info.lost_packets, (uint64_t)(i - 1));
    assert_int_equal(cs_store_close(s), 0);

    s = open_store(f->store, 0, 0, 0);
    cs_store_info_get(s, &info);
    assert_int_equal(info.repaired, 0); /* indexed as it was cut */
    assert_int_equal(run_query(s, INT64_MIN, INT64_MAX, "", &c), 0);
    assert_int_equal((uint64_t)c.n, info.packets);
    assert_int_equal(info.min_ts, 1000000);
    assert_int_equal(info.max_ts, 1000000 + (int64_t)(info.packets - 1) * 1000);
    cs_store_close(s);
}

static void test_not_a_store(void **state)
{
    fixture *f = *state;
    char path[160];
    cs_store_opts o = {0};
    cs_store *s;
    FILE *fp;

    assert_int_equal(cs_store_open(f->store, &o, &s), CS_ENOTFOUND);
    snprintf(path, sizeof(path), "%s/junk", f->dir);
    fp = fopen(path, "w");
    fputs("x", fp);
    fclose(fp);
    assert_int_equal(cs_store_open(f->dir, &o, &s), CS_ENOTSTORE);
    o.flags = CS_STORE_WRITE | CS_STORE_CREATE;
    assert_int_equal(cs_store_open(f->dir, &o, &s), CS_ENOTSTORE);
    assert_int_equal(cs_store_open(path, &o, &s), CS_ENOTSTORE);
}

static void test_one_writer(void **state)
{
    fixture *f = *state;
    cs_store *s = open_store(f->store, CS_STORE_WRITE | CS_STORE_CREATE, 0, 0);
    cs_store_opts o = {.flags = CS_STORE_WRITE};
    cs_store *t;

    assert_int_equal(cs_store_open(f->store, &o, &t), CS_EBUSY);
    cs_store_close(s);
}

static void test_alloc_failures(void **state)
{
    fixture *f = *state;
    int ok = 0;

    /* Every allocation failure in open/append/close is reported, never a crash. */
    for (long n = 0; n < 400 && !ok; n++) {
        cs_store_opts o = {.flags = CS_STORE_WRITE | CS_STORE_CREATE};
        cs_store *s = NULL;
        char cmd[160];
        int rc;

        snprintf(cmd, sizeof(cmd), "rm -rf %s", f->store);
        assert_int_equal(system(cmd), 0);
        cs_alloc_fail_after(n);
        rc = cs_store_open(f->store, &o, &s);
        if (rc == 0) {
            uint8_t buf[256];
            size_t len = make_frame(buf, 17, 1, 2, 5, 6, 10);
            cs_packet p = {.ts_ns = 1,
                           .caplen = (uint32_t)len,
                           .wirelen = (uint32_t)len,
                           .linktype = CS_LINK_ETHERNET,
                           .data = buf};
            cs_layers l;
            cs_dissect(&p, &l);
            rc = cs_store_append(s, &p, &l, NULL);
            int rc2 = cs_store_close(s);
            if (rc == 0)
                rc = rc2;
        }
        cs_alloc_fail_after(-1);
        if (rc == 0)
            ok = 1;
        else
            assert_int_equal(rc, CS_ENOMEM);
    }
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_read_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timestamp_order_across_ingests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_missing_and_damaged_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_checked_in_two_stages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_uses_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_uses_partition_checkpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_uses_growing_checkpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flow_partitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture_order_with_ties, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture_order_with_ties_and_clock_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_capture_order_record_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture_order_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_resumes_live_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture_order_records_follow_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_without_partitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_catalogs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catalogued_segment_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catalogs_follow_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segment_deleted_under_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tap_survives_rebuild, setup, teardown),
        cmocka_unit_test_setup_teardown(test_captimes_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_captimes_kept_partitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_write_keeps_what_reached_the_disk, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_not_a_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

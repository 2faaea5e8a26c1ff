/*
 * msgstore_int.h - the message store's internals, shared by its files
 * (msgstore_*.c), its tests and its fuzz harness. Nothing outside
 * src/store/msgstore_*.c and tests/ includes it, but one reader: the feeds
 * cache (feeds_cache_int.h), which scans each message and latency file
 * from where its last read stopped (cs__msgfile_scan, file names and
 * kinds, frame offsets) and decodes the records itself, to read only what
 * a file gained; the store's public reader answers queries by time, not
 * "the records after this offset".
 *
 * The on-disk layout is drawn, with every offset, in the opening comment
 * of msgstore_format.c; the constants below name those offsets and sizes
 * (CS__FRAME_* for the record frame, CS__MSG_* for a message payload,
 * CS__LAT_* for a measurement payload and its tail, CS__EP_* for the
 * endpoints block). Code reads and writes a record only through them.
 *
 * The files of the module, one job each:
 *   msgstore_format.c   the record layout: checksum, encode, decode
 *   msgstore_file.c     file names and magics, frame walking, file scans,
 *                       raw images (cs_msgstore_parse_image)
 *   msgstore_write.c    the writer: open files, buffers, flush, close
 *   msgstore_retain.c   retention budget, reanalysis replacement
 *   msgstore_summary.c  the process-wide file summaries and key filters,
 *                       and the reader's pass over one file that uses them
 *   msgstore_read.c     the reader: files, message queries, info
 *   msgstore_latency.c  measurement queries: filters, top-K, histograms
 * (The JSON of messages, measurements and gaps is the record model's:
 * record/json.c.)
 */
#ifndef CS_STORE_MSGSTORE_INT_H
#define CS_STORE_MSGSTORE_INT_H

#include "core/cursor.h"
#include "store/msgstore.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the layout (see msgstore_format.c) -------------------------------- */

#define CS__MSG_MAGIC_LEN 8         /* file magic, "csmsg01\n" ... */
#define CS__MSG_MIN_PAYLOAD 8       /* shorter records are corrupt (zero fill) */
#define CS__MSG_REC_MAX (16u << 20) /* longer records are corrupt */

/* Record frame. */
enum {
    CS__FRAME_LEN = 0,     /* u32 payload bytes */
    CS__FRAME_CHECK = 4,   /* u64 cs__msgstore_frame_check(payload, n) */
    CS__FRAME_PAYLOAD = 12 /* the payload */
};

/* Message payload (msg- and unm- files). */
enum {
    CS__MSG_ID = 0,         /* u64 id */
    CS__MSG_TS = 8,         /* i64 ts_ns */
    CS__MSG_LAST_TS = 16,   /* i64 last_ts_ns */
    CS__MSG_FLOW = 24,      /* u64 flow_id */
    CS__MSG_FLAGS = 32,     /* u32 flags */
    CS__MSG_LEN = 36,       /* u32 len */
    CS__MSG_DIR = 40,       /* u8 dir */
    CS__MSG_ROLE = 41,      /* u8 role (cs_role) */
    CS__MSG_UNM_KIND = 42,  /* u8 unmatched kind (0 in msg- files) */
    CS__MSG_PROTO_LEN = 43, /* u8 */
    CS__MSG_N_REFS = 44,    /* u32 */
    CS__MSG_N_FIELDS = 48,  /* u32 */
    CS__MSG_KEY_LEN = 52,   /* u32 */
    CS__MSG_TYPE_LEN = 56,  /* u16 */
    CS__MSG_PARTS = 58,     /* u16: which optional parts follow the key */
    CS__MSG_EP = 60,        /* endpoints (CS__EP_SIZE bytes) */
    CS__MSG_FIXED = 108     /* then proto, type, key, optional parts, refs, fields */
};
#define CS__MSG_PART_ERROR 0x0001u /* CS__MSG_PARTS: the error reason follows the key */
#define CS__MSG_ERROR_LEN_SIZE 2   /* u16 length of the error reason, then its bytes */
#define CS__MSG_REF_SIZE 8         /* u64 packet ref */
#define CS__MSG_VARINT_MAX 5       /* LEB128 of a u32 */

/* Measurement payload (lat- files). */
enum {
    CS__LAT_ID = 0,        /* u64 id (= request id) */
    CS__LAT_REQ_ID = 8,    /* u64 */
    CS__LAT_RESP_ID = 16,  /* u64 */
    CS__LAT_REQ_TS = 24,   /* i64 req_ts_ns */
    CS__LAT_RESP_TS = 32,  /* i64 resp_ts_ns */
    CS__LAT_LATENCY = 40,  /* i64 latency_ns */
    CS__LAT_FLOW = 48,     /* u64 flow_id */
    CS__LAT_PAIR_LEN = 56, /* u8 */
    CS__LAT_PARTS = 57,    /* u8: which optional parts follow the key */
    CS__LAT_PAD = 58,      /* u16 0 */
    CS__LAT_KEY_LEN = 60,  /* u32 */
    CS__LAT_EP = 64,       /* endpoints (CS__EP_SIZE bytes) */
    CS__LAT_FIXED = 112    /* then pair, key, optional parts */
};
#define CS__LAT_PART_TAIL 0x01u /* CS__LAT_PARTS: the measurement tail follows */
#define CS__LAT_PART_RESP_TYPE                                                                     \
    0x02u /* CS__LAT_PARTS: u8 length + the answer's type follow                                   \
             (after the tail) */
#define CS__LAT_PART_RESP_TAP                                                                      \
    0x04u /* CS__LAT_PARTS: the response's tap follows (after the answer's type),                  \
             CS__LAT_RESP_TAP_SIZE bytes */
#define CS__LAT_RESP_TAP_SIZE 2 /* u16 resp_tap */

/* Measurement tail, after the key when CS__LAT_PART_TAIL is set. */
enum {
    CS__LAT_TAIL_RESP_LAST = 0,    /* i64 resp_last_ts_ns */
    CS__LAT_TAIL_ATTACHED = 8,     /* u32 attached */
    CS__LAT_TAIL_ATTACHED_ID = 12, /* u64 attached_last_id */
    CS__LAT_TAIL_ATTACHED_TS = 20, /* i64 attached_last_ts_ns */
    CS__LAT_TAIL_SIZE = 28
};

/* Gap payload (gap- files). Its "at" and ts sit where a message's id and
 * ts_ns do, so filing (by the id at offset 0) and time summaries treat it
 * alike. */
enum {
    CS__GAP_AT = 0,           /* u64 CS_MSGID(ref, 0): the revealing packet as an id */
    CS__GAP_TS = 8,           /* i64 ts_ns */
    CS__GAP_FLOW = 16,        /* u64 flow_id */
    CS__GAP_REF = 24,         /* u64 packet ref of the revealing packet (0: not stored) */
    CS__GAP_FIRST = 32,       /* u64 first missing sequence number */
    CS__GAP_COUNT = 40,       /* u64 numbers missing */
    CS__GAP_DIR = 48,         /* u8 dir of the flow the gap was seen in */
    CS__GAP_RECOVERED = 49,   /* u8 0 when written; 1 once a filler marks it */
    CS__GAP_PROTO_LEN = 50,   /* u8 */
    CS__GAP_PAD = 51,         /* u8 0 */
    CS__GAP_SESSION_LEN = 52, /* u16 */
    CS__GAP_PAD2 = 54,        /* u16 0 */
    CS__GAP_EP = 56,          /* endpoints (CS__EP_SIZE bytes) */
    CS__GAP_FIXED = 104       /* then proto, session bytes */
};

/* Endpoints block, in every payload. */
enum {
    CS__EP_IP_VERSION = 0, /* u8 */
    CS__EP_IP_PROTO = 1,   /* u8 */
    CS__EP_TAP = 2,        /* u16 */
    CS__EP_VLAN0 = 4,      /* u16 vlan[0] */
    CS__EP_VLAN1 = 6,      /* u16 vlan[1] */
    CS__EP_N_VLAN = 8,     /* u8, then u8 0 */
    CS__EP_PORT_A = 10,    /* u16 */
    CS__EP_PORT_B = 12,    /* u16, then u16 0 */
    CS__EP_ADDR_A = 16,    /* 16 bytes */
    CS__EP_ADDR_B = 32,    /* 16 bytes */
    CS__EP_ADDR_SIZE = 16,
    CS__EP_SIZE = 48
};

_Static_assert((int)CS__MSG_ID == (int)CS__LAT_ID && (int)CS__MSG_ID == (int)CS__GAP_AT,
               "every record starts with its id");
_Static_assert((int)CS__MSG_TS == (int)CS__GAP_TS, "a gap's time is where a message's is");

/* File kinds: prefixes "msg", "lat", "unm", "gap". */
enum { CS__KIND_MSG = 0, CS__KIND_LAT = 1, CS__KIND_UNM = 2, CS__KIND_GAP = 3, CS__N_KINDS = 4 };

#define CS__MSG_PATH_MAX 4096
#define CS__MSG_MAX_OPEN 8 /* files a writer keeps open */

extern const char *const cs__msgfile_prefix[CS__N_KINDS];
extern const char *const cs__msgfile_magic[CS__N_KINDS];

/* ---- records (msgstore_format.c) ---------------------------------------- */

/* The checksum of a record payload "p" of "n" bytes. */
uint64_t cs__msgstore_frame_check(const uint8_t *p, size_t n);

/* Scratch space that decoded records point into (beside the file bytes). */
typedef struct cs__recdec {
    cs_kv *kv;
    size_t kv_cap;
    cs_pktref *refs;
    size_t refs_cap;
    char name[256]; /* proto or pair, NUL-terminated */
} cs__recdec;

void cs__recdec_free(cs__recdec *d);

/* Decoded fixed part of a message payload, enough to filter on. */
typedef struct cs__msg_head {
    uint32_t n_refs, n_fields;
    int kind;
    cs_cursor rest; /* refs and fields */
} cs__msg_head;

/* Decodes the fixed part and strings of a message; 0, or -1 if malformed. */
int cs__decode_msg_head(const uint8_t *p, size_t n, cs__recdec *d, cs_message *m, cs__msg_head *h);
/* Decodes refs and fields after cs__decode_msg_head(); 0, -1 malformed, or CS_ENOMEM. */
int cs__decode_msg_body(cs__recdec *d, cs_message *m, cs__msg_head *h);
/* Decodes a measurement payload; 0, or -1 if malformed. */
int cs__decode_measurement(const uint8_t *p, size_t n, cs__recdec *d, cs_measurement *ms);
/* Decodes a gap payload; 0, or -1 if malformed. */
int cs__decode_gap(const uint8_t *p, size_t n, cs__recdec *d, cs_gap *g);

/* The key of a record payload "p" of "n" bytes of kind "kind" (a message's
 * or a measurement's); 0 with "*key", "*len", or -1 if it has none. */
int cs__record_key(int kind, const uint8_t *p, size_t n, const uint8_t **key, size_t *len);

/* The time a record of kind "kind" is filed by (a message's ts_ns, a
 * measurement's req_ts_ns); 0 with "*ts", or -1 if "n" is too short. */
int cs__record_ts(int kind, const uint8_t *p, size_t n, int64_t *ts);

/* ---- files and frames (msgstore_file.c) --------------------------------- */

void cs__msgfile_path(char *buf, const char *dir, int kind, uint32_t seg, int tmp);
/* Parses "msg-00000007.bin" (or with ".new" if "tmp"): kind and file id. */
int cs__msgfile_parse_name(const char *name, int *kind, uint32_t *seg, int *tmp);

enum { CS__FR_OK = 0, CS__FR_STOP = 1, CS__FR_BAD = 2 };

typedef int (*cs__frame_fn)(void *ud, const uint8_t *p, size_t n);

/* Walks the complete, valid frames in "d"[0..len) (see msgstore_file.c);
 * those within its first "trusted" bytes are not checksummed again. */
int cs__msgfile_frames(const uint8_t *d, size_t len, size_t trusted, size_t *used, size_t *need,
                       cs__frame_fn fn, void *ud);

typedef struct cs__scanbuf {
    uint8_t *buf;
    size_t cap;
    uint64_t base;        /* file offset of buf[0] while a scan runs */
    uint64_t trusted_end; /* frames ending at or before this offset were checked by an
                             earlier pass of this process over the same file (its
                             summary says so): a scan does not checksum them again.
                             0: check every frame. Set for one scan, then cleared */
} cs__scanbuf;

/* The file offset of the frame whose payload "payload" lies in "sb". */
static inline uint64_t cs__frame_offset(const cs__scanbuf *sb, const uint8_t *payload)
{
    return sb->base + (uint64_t)(payload - sb->buf) - CS__FRAME_PAYLOAD;
}

typedef struct cs__scan_result {
    uint64_t valid_end; /* file offset after the last good record */
    int torn;           /* stopped at an incomplete or bad record */
    int stopped;        /* the callback said stop */
} cs__scan_result;

/* Decodes a record payload of a "kind" file and calls its callback in
 * "fns"; malformed records are skipped (msgstore_file.c). */
int cs__record_dispatch(int kind, const uint8_t *p, size_t n, cs__recdec *d,
                        const cs_record_fns *fns);

/* Streams the file "fd" of kind "kind" through "fn" from offset "start". */
int cs__msgfile_scan(int fd, int kind, cs__scanbuf *sb, uint64_t start, cs__frame_fn fn, void *ud,
                     cs__scan_result *res);

/* ---- writer (msgstore_write.c, msgstore_retain.c) ----------------------- */

typedef struct cs__wfile {
    int kind;     /* CS__KIND_*; -1 = slot unused */
    uint32_t seg; /* file id (first segment of the group) */
    int fd;
    uint64_t last_use;
    uint8_t *buf;
    size_t used, cap;
    uint32_t n_buffered; /* records in buf */
    uint64_t lost;       /* records a failed write cost, over the slot's life */
} cs__wfile;

typedef struct cs__tmpfile {
    uint32_t seg;
    int kind;
} cs__tmpfile;

struct cs_msgstore {
    char *dir; /* STORE/messages */
    cs__wfile files[CS__MSG_MAX_OPEN];
    cs__wfile *last[CS__N_KINDS];
    uint64_t tick;
    int err;
    int replacing;
    uint32_t rfirst, rlast; /* file ids (groups) of the replaced range */
    cs__tmpfile *tmps;
    size_t n_tmps, tmps_cap;
    cs__scanbuf sb;
    const char *const *rprotos; /* replaced protocols (NULL: all) */
    uint64_t max_bytes;         /* retention budget (0: none) */
    uint32_t partitions;        /* the store's P (store.h), 1 for old stores */
    uint32_t newest_file;       /* newest file id (group) with a file opened */
    uint64_t deleted;           /* files deleted by retention */
};

/* Remembers the first error of "w"; returns "rc". */
int cs__msgstore_err(cs_msgstore *w, int rc);
/* Writes out and closes the file of slot "f" (an unused slot is fine). */
int cs__wfile_close(cs__wfile *f);

/* Is file id "seg" in the range being replaced? */
static inline int cs__msgstore_in_range(const cs_msgstore *w, uint32_t seg)
{
    return w->replacing && seg >= w->rfirst && seg <= w->rlast;
}

/* Deletes the oldest groups' files while over the budget (msgstore_retain.c). */
void cs__msgstore_retain(cs_msgstore *w);
/* Opens the replacement file of (kind, seg): fresh the first time, then appended. */
int cs__msgstore_open_replacement(cs_msgstore *w, int kind, uint32_t seg, int *fd, int *fresh);
/* Puts back the records of the range of protocols not replaced. */
void cs__msgstore_carry_over(cs_msgstore *w);
/* Renames the replacement files over the old ones (or drops them after an error). */
int cs__msgstore_publish(cs_msgstore *w);

/* ---- reader (msgstore_read.c, msgstore_summary.c, msgstore_latency.c) --- */

typedef struct cs__rfile {
    uint32_t seg;
    int kind;
} cs__rfile;

struct cs_msgreader {
    char *dir; /* STORE/messages */
    cs__scanbuf sb;
    cs__recdec dec;
    cs__rfile *files;
    size_t n_files, files_cap;
    uint64_t torn;
    uint32_t partitions; /* the store's P (store.h), 1 for old stores */
    uint32_t cur_seg;    /* file id of the file being scanned */
};

/* A file's key filter: Bloom filter blocks (see msgstore_summary.c). */
typedef struct cs__keyfilter {
    uint64_t *words;  /* n_blocks * KF_WORDS, cs_malloc'ed */
    uint64_t *starts; /* n_blocks: file offset of each block's first keyed record */
    size_t n_blocks;
    uint32_t last_keys; /* keys in the last block */
    int ok;             /* holds every key of the records summarized */
} cs__keyfilter;

/* Blocks of a measurement file's records, each with what bounds them (see
 * msgstore_latblocks.c): a sorted query reads the slowest blocks first and
 * stops at the first that cannot hold anything slower than what it has. */
#define CS__LB_RECORDS 256 /* records a block */
#define CS__LB_PAIRS 8     /* pairs a block bounds one by one */
typedef struct cs__latblock {
    uint64_t start, end;              /* file offsets: its first frame, after its last */
    int64_t min_ts, max_ts;           /* of its records' request times */
    int64_t max_latency;              /* over all its records */
    int64_t pair_max[CS__LB_PAIRS];   /* per pair, of the pairs in pair_hash */
    uint32_t pair_hash[CS__LB_PAIRS]; /* cs__lb_pair_hash; 0 = unused */
    uint32_t records;
    uint32_t pairs_over; /* it holds more pairs than CS__LB_PAIRS: max_latency bounds them */
} cs__latblock;

typedef struct cs__latblocks {
    cs__latblock *v; /* cs_malloc'ed */
    size_t n, cap;
    int ok; /* covers every record summarized */
} cs__latblocks;

uint32_t cs__lb_pair_hash(const char *pair, size_t len);
/* The slot of pair hash "h" in "b" (its pair_max), or -1 if it has none.
 * A pair with a slot has every record of the block in it: slots are taken
 * in order and never given up, so a pair finding them full never gets one. */
int cs__lb_pair_slot(const cs__latblock *b, uint32_t h);
/* 0 if block "b" holds no record of the pair of hash "h", else 1 (it may:
 * hashes collide, and a block of more than CS__LB_PAIRS pairs names none). */
int cs__lb_may_hold_pair(const cs__latblock *b, uint32_t h);
void cs__lb_free(cs__latblocks *lb);
void cs__lb_dup(cs__latblocks *dst, const cs__latblocks *src);
/* Notes the measurement record "p" (n bytes) at file offset "off". */
void cs__lb_add(cs__latblocks *lb, uint64_t off, const uint8_t *p, size_t n);

/* Spans of a file's records (msgstore_spans.c): per CS__SPAN_RECORDS
 * consecutive records, their byte range and the bounds of their ids and
 * filing times, so that a lookup by id, key or time reads the spans that
 * may hold it instead of the file. */
#define CS__SPAN_RECORDS 1024
typedef struct cs__span {
    uint64_t start, end;     /* file offsets: its first frame, after its last */
    uint64_t min_id, max_id; /* of its records long enough to have one */
    int64_t min_ts, max_ts;  /* cs__record_ts; INT64_MAX / INT64_MIN: none */
    uint32_t records;
} cs__span;

typedef struct cs__spans {
    cs__span *v; /* cs_malloc'ed */
    size_t n, cap;
    int ok; /* covers every record summarized */
} cs__spans;

void cs__spans_free(cs__spans *s);
void cs__spans_dup(cs__spans *dst, const cs__spans *src);
/* Notes the record "p" (n bytes) of a "kind" file at file offset "off". */
void cs__spans_add(cs__spans *s, int kind, uint64_t off, const uint8_t *p, size_t n);

/* A byte range [start, end) of a file, from one frame to after another. */
typedef struct cs__range {
    uint64_t start, end;
} cs__range;

/* Reads [start, end) of "fd" (frames a summary's pass checked) into r->sb
 * and passes them to "fn"; sets res->stopped or res->torn. */
int cs__scan_range(cs_msgreader *r, int fd, uint64_t start, uint64_t end, cs__frame_fn fn, void *ud,
                   cs__scan_result *res);
/* cs__scan_range() over "n" ranges in order, until one stops or is torn. */
int cs__scan_ranges(cs_msgreader *r, int fd, const cs__range *v, size_t n, cs__frame_fn fn,
                    void *ud, cs__scan_result *res);
/* Spans read and passed over by lookups so far, process-wide (for tests). */
void cs__spans_stats(uint64_t *read, uint64_t *passed);
void cs__spans_count(uint64_t read, uint64_t passed);

/* What one pass over a file saw (see msgstore_summary.c). */
typedef struct cs__fsum {
    uint64_t dev, ino;
    int kind; /* CS__KIND_*; -1 = free slot */
    uint64_t size;
    int64_t mtime_ns;
    uint64_t valid_end;  /* offset after the last good record */
    uint64_t last_off;   /* offset of the last good record (0: none) */
    uint64_t last_check; /* its checksum */
    uint64_t records;
    int64_t min_ts, max_ts; /* INT64_MAX / INT64_MIN when no record */
    int torn;
    cs__keyfilter kf; /* owned by the table entry; ok = 0 in callers' copies */
    cs__latblocks lb; /* measurement files: owned like kf */
    cs__spans sp;     /* owned like kf */
} cs__fsum;

/* Brings the summary of the open file "fd" up to date into "*v": 1 if
 * valid, 0 if a full pass would be needed and "full_ok" is 0, negative on
 * a read error. */
int cs__msgsum_update(int fd, const struct stat *st, int kind, cs__scanbuf *sb, int full_ok,
                      cs__fsum *v);

/* What a scan may use to skip files: records with after <= ts < before,
 * (if "key" is not NULL or empty) with that exact key, and (measurements,
 * if "pair" is not NULL) of that pair. */
typedef struct cs__scan_hint {
    int64_t after, before;
    const char *key;
    const struct cs__block_order *order; /* NULL: files are read whole, in order */
    int has_id;                          /* only records of id "id" are asked for */
    uint64_t id;
    const char *pair; /* only measurements of this pair (NULL: any) */
} cs__scan_hint;

/*
 * A measurement file summarized with its blocks may be read block by
 * block, in the order a query asks: "bound" gives a block's bound on the
 * query's sort key (0: the block holds nothing asked for), the blocks are
 * read in descending order of it, and reading stops at the first block
 * whose bound "enough" says cannot add anything (msgstore_latency.c). A
 * query keeping the first "k" would read about k blocks: with more than
 * half the file's, the file is read whole instead.
 */
typedef struct cs__block_order {
    int (*bound)(void *ud, const cs__latblock *b, int64_t *bound);
    int (*enough)(void *ud, int64_t bound);
    void *ud;
    size_t k;
} cs__block_order;

/* Reads the blocks "lb" of the measurement file "fd" through "fn" in the
 * order "o" asks (msgstore_latblocks.c): 0, or 1 if the file is better read
 * whole (nothing was read), or negative on error. */
int cs__lb_scan(cs_msgreader *r, int fd, const cs__latblocks *lb, const cs__block_order *o,
                cs__frame_fn fn, void *ud, cs__scan_result *res);
/* Blocks read and passed over in this process (for tests): by cs__lb_scan,
 * and by the reads by pair of msgstore_summary.c (a file they read whole
 * counts as all its blocks read). */
void cs__lb_stats(uint64_t *read, uint64_t *passed);
void cs__lb_count(uint64_t read, uint64_t passed);

/* Streams the file (kind, seg) of "r" through "fn", skipping it when its
 * summary says it holds nothing "h" asks for (msgstore_summary.c). */
int cs__msgreader_scan_file(cs_msgreader *r, int kind, uint32_t seg, cs__frame_fn fn, void *ud,
                            cs__scan_result *res, const cs__scan_hint *h);
/* Streams every file of "kind" through "fn", in file id order (msgstore_read.c). */
int cs__msgreader_scan_all(cs_msgreader *r, int kind, cs__frame_fn fn, void *ud,
                           const cs__scan_hint *h);

/* Is "s" exactly the C string "want"? */
static inline int cs__str_is(cs_str s, const char *want)
{
    size_t n = strlen(want);

    return s.len == n && (n == 0 || memcmp(s.p, want, n) == 0);
}

#endif

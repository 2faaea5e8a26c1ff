/*
 * chexport.c - the store's records into ClickHouse (see chexport.h).
 *
 *   one pass:  tables ready? (else create them) ─► read at most batch_rows
 *              records past the working position (store/msgtail.h) ─►
 *              each becomes a JSONEachRow line in its table's buffer: the
 *              record's JSON (record/json.h) with "sensor" added (and
 *              "unmatched" for unmatched records, req_tap/resp_tap for
 *              measurements at one tap) ─► insert each table's rows ─► all
 *              accepted: commit the position; a refusal: roll it back, so
 *              the same records are read and sent again next pass
 *
 *   a record file replaced after some of it was sent (a reanalysis): its
 *   rows are deleted from its table first (chschema.c), then its records
 *   are sent again from its start
 *
 *   then the same for windows and alerts (store/mettail.h): at most
 *   batch_rows of each past their own working position ─► a metrics row
 *   is the window's point (cs_metric_point_json, as /api/v1/metrics gives
 *   it with step 1s, heat included) with "sensor", "kind" and "name"; an
 *   alerts row the event's line of the alert log with "sensor" ─► insert
 *   ─► commit that position, or roll it back
 *
 *   thread:    pass; caught up (fewer than batch_rows read): wait up to
 *              max_delay_ms; failed: wait 0.5 s, 1 s, 2 s ... 10 s; a stop
 *              request wakes every wait. A draining stop runs passes until
 *              one begun after the stop reads to the store's end, one
 *              fails (the rest goes next time) or the deadline passes.
 *
 * Invariants: a position is committed only after every insert of the
 * rows read from it succeeded (records and windows/alerts have separate
 * positions, so a refusal of one never rolls back the other); stats are
 * changed under "lock" only.
 */
#include "export/chexport_int.h"

#include "analytics/analyzer.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "record/json.h"
#include "store/mettail.h"
#include "store/msgtail.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 10000

/* One table's rows of a batch: a stdio stream (fopencookie) writing into
 * "data", which is kept from batch to batch, so a batch neither frees nor
 * faults in its memory again (open_memstream's did, at 16% of the
 * exporter's time). */
typedef struct row_buf {
    FILE *f;
    char *data;
    size_t len, cap, pos; /* bytes written, allocated, the stream's position */
    uint64_t rows;
} row_buf;

struct cs_chexport {
    cs_chexport_cfg cfg;
    char sensor[CS_CHX_SENSOR_MAX];
    cs_ch_target target;
    cs_ch *ch;
    cs_msgtail *tail;
    cs_mettail *mtail;
    uint32_t partitions; /* the store's (its record files are segment groups) */
    int tables_ready;
    row_buf rows[CS_CHX_TABLES];
    uint64_t skipped; /* in the batch being built */
    int row_err;

    pthread_t thread;
    int running;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop, drain, drained;
    int64_t drain_deadline_ns;
    cs_chexport_stats st;
};

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* ---- configuration ------------------------------------------------------- */

static int sensor_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= CS_CHX_SENSOR_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '_' || s[i] == '-' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9') ||
              (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
            return 0;
    return 1;
}

/* STORE/export/clickhouse-HOST-PORT-DB"suffix", the URL's odd bytes as '-'. */
static int cursor_path(const cs_chexport *x, const char *suffix, char *path, size_t cap)
{
    char name[CS_CH_URL_MAX];
    const char *host = strstr(x->target.base, "://") + 3;
    const char *at = strchr(host, '@');
    size_t n = 0;

    if (at != NULL)
        host = at + 1;
    for (const char *p = host; *p && *p != '/' && n + 1 < sizeof(name); p++)
        name[n++] = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == '.' ? *p : '-';
    name[n] = '\0';
    snprintf(path, cap, "%s/export", x->cfg.store_dir);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    snprintf(path, cap, "%s/export/clickhouse-%s-%s%s", x->cfg.store_dir, name, x->target.db,
             suffix);
    return 0;
}

int cs_chexport_parse_tables(const char *list, unsigned *mask)
{
    const char *p = list;

    *mask = 0;
    if (strcmp(list, "all") == 0) {
        *mask = (1u << CS_CHX_TABLES) - 1;
        return 0;
    }
    while (*p) {
        size_t n = strcspn(p, ",");
        int i = 0;

        while (i < CS_CHX_TABLES &&
               (strlen(cs__chx_table_names[i]) != n || strncmp(cs__chx_table_names[i], p, n) != 0))
            i++;
        if (i == CS_CHX_TABLES)
            return cs_error_set(CS_EINVAL,
                                "no table '%.*s' (messages, unmatched, measurements, "
                                "gaps, metrics, alerts, or all)",
                                (int)n, p);
        *mask |= 1u << i;
        p += n + (p[n] == ',');
    }
    return *mask ? 0 : cs_error_set(CS_EINVAL, "no table named");
}

/* ".cursor" for every table; "+messages+gaps.cursor" for a set of them. */
static void cursor_suffix(unsigned tables, const char *ext, char *buf, size_t cap)
{
    size_t n = 0;

    buf[0] = '\0';
    for (int i = 0; tables != (1u << CS_CHX_TABLES) - 1 && i < CS_CHX_TABLES; i++)
        if (tables & (1u << i))
            n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "+%s", cs__chx_table_names[i]);
    snprintf(buf + n, n < cap ? cap - n : 0, "%s", ext);
}

/* The tail's hook: a record file was replaced (a reanalysis) after some of
 * it was sent. Its rows are deleted before its new records are sent, so
 * that a record the reanalysis no longer yields leaves ClickHouse too. */
static int file_replaced(void *ud, const char *kind, uint32_t seg)
{
    static const struct {
        char kind[4];
        int table;
    } tables[] = {{"msg", CS_CHX_MESSAGES},
                  {"unm", CS_CHX_UNMATCHED},
                  {"lat", CS_CHX_MEASUREMENTS},
                  {"gap", CS_CHX_GAPS}};
    cs_chexport *x = ud;

    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        if (strcmp(kind, tables[i].kind) == 0 && (x->cfg.tables & (1u << tables[i].table)))
            return cs__chx_delete_file(x->ch, x->target.db, tables[i].table, x->sensor, seg,
                                       x->partitions);
    return 0;
}

int cs_chexport_open(const cs_chexport_cfg *cfg, cs_chexport **out)
{
    cs_chexport *x;
    char path[4096], ext[128];
    int rc;

    *out = NULL;
    if ((x = cs_calloc(1, sizeof(*x))) == NULL)
        return CS_ENOMEM;
    x->cfg = *cfg;
    x->cfg.tables = cfg->tables ? cfg->tables : (1u << CS_CHX_TABLES) - 1;
    x->cfg.batch_rows = cfg->batch_rows ? cfg->batch_rows : CS_CHX_BATCH_ROWS;
    x->cfg.max_delay_ms = cfg->max_delay_ms > 0 ? cfg->max_delay_ms : CS_CHX_MAX_DELAY_MS;
    pthread_mutex_init(&x->lock, NULL);
    pthread_cond_init(&x->wake, NULL);
    if (cfg->sensor != NULL)
        snprintf(x->sensor, sizeof(x->sensor), "%s", cfg->sensor);
    else if (gethostname(x->sensor, sizeof(x->sensor) - 1) != 0)
        snprintf(x->sensor, sizeof(x->sensor), "capstream");
    if (!sensor_ok(x->sensor))
        rc = cs_error_set(CS_EINVAL, "sensor name '%s': use 1-63 letters, digits, '.', '_', '-'",
                          x->sensor);
    else if ((rc = cs_ch_parse_target(cfg->url, &x->target)) == 0 &&
             (cursor_suffix(x->cfg.tables, ".cursor", ext, sizeof(ext)),
              rc = cursor_path(x, ext, path, sizeof(path))) == 0 &&
             (rc = cs_msgtail_open(cfg->store_dir, path, &x->tail)) == 0 &&
             (cursor_suffix(x->cfg.tables, ".metrics-cursor", ext, sizeof(ext)),
              rc = cursor_path(x, ext, path, sizeof(path))) == 0 &&
             (rc = cs_mettail_open(cfg->store_dir, path, &x->mtail)) == 0)
        rc = cs_ch_open(&x->target, cfg->ca_file, &x->ch);
    if (rc == 0) {
        x->partitions = cs_store_dir_partitions(cfg->store_dir);
        cs_msgtail_on_replaced(x->tail, file_replaced, x);
    }
    if (rc < 0) {
        cs_chexport_close(x);
        return rc;
    }
    x->st.opened_ns = clock_ns(CLOCK_REALTIME);
    snprintf(x->st.sensor, sizeof(x->st.sensor), "%s", x->sensor);
    snprintf(x->st.target, sizeof(x->st.target), "%s%s", x->target.shown, x->target.db);
    *out = x;
    return 0;
}

/* ---- rows ------------------------------------------------------------------ */

static ssize_t rows_write(void *cookie, const char *p, size_t n)
{
    row_buf *b = cookie;

    if (b->pos + n > b->cap) {
        size_t cap = b->cap ? b->cap : (1u << 20);
        char *d;

        while (cap < b->pos + n)
            cap *= 2;
        if ((d = realloc(b->data, cap)) == NULL)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->pos, p, n);
    b->pos += n;
    if (b->pos > b->len)
        b->len = b->pos;
    return (ssize_t)n;
}

/* Seeks within what was written (row_close steps back over a '}'); the
 * bytes after the new position are dropped, as they are rewritten. */
static int rows_seek(void *cookie, off64_t *off, int whence)
{
    row_buf *b = cookie;
    off64_t at = whence == SEEK_SET   ? *off
                 : whence == SEEK_CUR ? (off64_t)b->pos + *off
                                      : (off64_t)b->len + *off;

    if (at < 0 || at > (off64_t)b->len)
        return -1;
    b->pos = b->len = (size_t)at;
    *off = at;
    return 0;
}

/* Opens an empty stream for each table of [lo, hi). */
static int rows_begin(cs_chexport *x, int lo, int hi)
{
    static const cookie_io_functions_t io = {.write = rows_write, .seek = rows_seek};

    for (int i = lo; i < hi; i++) {
        row_buf *b = &x->rows[i];

        b->len = b->pos = 0;
        b->rows = 0;
        if ((b->f = fopencookie(b, "w", io)) == NULL)
            return CS_ENOMEM;
        __fsetlocking(b->f, FSETLOCKING_BYCALLER); /* one thread writes it: no locks */
    }
    x->skipped = 0;
    x->row_err = 0;
    return 0;
}

static int rows_end(cs_chexport *x)
{
    int rc = 0;

    for (int i = 0; i < CS_CHX_TABLES; i++)
        if (x->rows[i].f != NULL) {
            if (fclose(x->rows[i].f) != 0)
                rc = CS_ENOMEM;
            x->rows[i].f = NULL;
        }
    return rc;
}

/* Ends the JSON object just written to "f" with the sensor and "extra"
 * (", ..." members, or ""), and a newline. */
static void row_close(cs_chexport *x, row_buf *b, const char *extra)
{
    if (fseeko(b->f, -1, SEEK_CUR) != 0)
        x->row_err = CS_ENOMEM;
    fprintf(b->f, ",\"sensor\":\"%s\"%s}\n", x->sensor, extra);
    b->rows++;
}

static int keep(cs_chexport *x, int64_t ts_ns)
{
    if (ts_ns >= x->cfg.after)
        return 1;
    x->skipped++;
    return 0;
}

static int row_message(void *ud, const cs_message *m)
{
    cs_chexport *x = ud;
    row_buf *b = &x->rows[CS_CHX_MESSAGES];

    if (keep(x, m->ts_ns)) {
        cs_message_json(b->f, m);
        row_close(x, b, "");
    }
    return 0;
}

static int row_unmatched(void *ud, const cs_message *m, int kind)
{
    cs_chexport *x = ud;
    row_buf *b = &x->rows[CS_CHX_UNMATCHED];

    if (keep(x, m->ts_ns)) {
        cs_message_json(b->f, m);
        row_close(x, b,
                  kind == CS_UNMATCHED_REQUEST ? ",\"unmatched\":\"request\""
                                               : ",\"unmatched\":\"response\"");
    }
    return 0;
}

static int row_measurement(void *ud, const cs_measurement *ms)
{
    cs_chexport *x = ud;
    row_buf *b = &x->rows[CS_CHX_MEASUREMENTS];
    char taps[64] = "";

    if (!keep(x, ms->req_ts_ns))
        return 0;
    cs_measurement_json(b->f, ms);
    if (ms->resp_tap == ms->ep.tap) /* the JSON names both taps only for a hop */
        snprintf(taps, sizeof(taps), ",\"req_tap\":%u,\"resp_tap\":%u", (unsigned)ms->ep.tap,
                 (unsigned)ms->resp_tap);
    row_close(x, b, taps);
    return 0;
}

static int row_gap(void *ud, const cs_gap *g)
{
    cs_chexport *x = ud;
    row_buf *b = &x->rows[CS_CHX_GAPS];

    if (keep(x, g->ts_ns)) {
        cs_gap_json(b->f, g);
        row_close(x, b, "");
    }
    return 0;
}

/* The window's point as /api/v1/metrics gives it (heat included), with
 * its series' kind and name and the sensor. */
static int row_window(void *ud, const cs_series_id *series, const cs_metric_point *p)
{
    cs_chexport *x = ud;
    row_buf *b = &x->rows[CS_CHX_METRICS];

    if (!keep(x, p->ts_ns))
        return 0;
    cs_metric_point_json(b->f, p, series->kind, 1, 0);
    if (fseeko(b->f, -1, SEEK_CUR) != 0) /* reopen the object */
        x->row_err = CS_ENOMEM;
    fprintf(b->f, ",\"kind\":\"%s\",\"name\":", cs_series_kind_name(series->kind));
    cs_msgstore_json_string(b->f, series->name, strlen(series->name));
    fputs("}", b->f);
    row_close(x, b, "");
    return 0;
}

/* The event's own line of the alert log is the row (its members are the
 * columns of table alerts), with the sensor. */
static void row_alert(void *ud, const cs_alert_event *ev, const char *line, size_t len)
{
    cs_chexport *x = ud;
    row_buf *b = &x->rows[CS_CHX_ALERTS];

    if (!keep(x, ev->ts_ns))
        return;
    fwrite(line, 1, len, b->f);
    row_close(x, b, "");
}

/* ---- passes ---------------------------------------------------------------- */

/* Inserts the rows of the tables of [lo, hi). */
static int send_rows(cs_chexport *x, int lo, int hi)
{
    int rc;

    for (int i = lo; i < hi; i++)
        if (x->rows[i].len > 0 &&
            (rc = cs_ch_insert(x->ch, cs__chx_table_names[i], x->rows[i].data, x->rows[i].len)) < 0)
            return rc;
    return 0;
}

/* Counts the rows of the tables of [lo, hi) once accepted. */
static void note_rows(cs_chexport *x, int lo, int hi)
{
    pthread_mutex_lock(&x->lock);
    for (int i = lo; i < hi; i++)
        x->st.rows[i] += x->rows[i].rows;
    x->st.rows_skipped += x->skipped;
    pthread_mutex_unlock(&x->lock);
}

/* "more": a part read a whole batch, so the store may hold more. */
static void note_pass(cs_chexport *x, int rc, int sent, int more)
{
    pthread_mutex_lock(&x->lock);
    if (rc < 0) {
        x->st.failures++;
        x->st.up = 0;
        snprintf(x->st.last_error, sizeof(x->st.last_error), "%s", cs_error_msg(rc));
    } else {
        x->st.batches += sent;
        x->st.up = 1;
        x->st.last_ok_ns = clock_ns(CLOCK_REALTIME);
        if (!more) /* every read reached the store's end */
            x->st.caught_up_ns = x->st.last_ok_ns;
    }
    pthread_mutex_unlock(&x->lock);
}

/* Ends the rows of one part ([lo, hi) tables, "n" read): inserts them
 * and commits ("commit") or, on any failure, rolls back ("rollback"). */
static int rows_finish(cs_chexport *x, int rc, int lo, int hi, size_t n, void *tail,
                       int (*commit)(void *), int (*rollback)(void *))
{
    if (rows_end(x) < 0 && rc == 0)
        rc = CS_ENOMEM;
    if (rc == 0 && x->row_err)
        rc = x->row_err;
    if (rc == 0 && n > 0 && (rc = send_rows(x, lo, hi)) == 0)
        rc = commit(tail);
    if (rc < 0)
        rollback(tail);
    else
        note_rows(x, lo, hi);
    return rc;
}

static int msg_commit(void *t)
{
    return cs_msgtail_commit(t);
}
static int msg_rollback(void *t)
{
    return cs_msgtail_rollback(t);
}
static int met_commit(void *t)
{
    return cs_mettail_commit(t);
}
static int met_rollback(void *t)
{
    return cs_mettail_rollback(t);
}

/* One batch of records; "*n" read. */
static int pass_records(cs_chexport *x, size_t *n)
{
    unsigned t = x->cfg.tables;
    /* a table not sent: its records are not even decoded */
    cs_record_fns fns = {.msg = t & (1u << CS_CHX_MESSAGES) ? row_message : NULL,
                         .lat = t & (1u << CS_CHX_MEASUREMENTS) ? row_measurement : NULL,
                         .unm = t & (1u << CS_CHX_UNMATCHED) ? row_unmatched : NULL,
                         .gap = t & (1u << CS_CHX_GAPS) ? row_gap : NULL,
                         .ud = x};
    int rc;

    *n = 0;
    if ((rc = rows_begin(x, CS_CHX_MESSAGES, CS_CHX_GAPS + 1)) == 0)
        rc = cs_msgtail_read(x->tail, x->cfg.batch_rows, &fns, n);
    return rows_finish(x, rc, CS_CHX_MESSAGES, CS_CHX_GAPS + 1, *n, x->tail, msg_commit,
                       msg_rollback);
}

/* One batch of metrics windows and alert events; "*n" the larger count. */
static int pass_metrics(cs_chexport *x, size_t *n)
{
    unsigned t = x->cfg.tables;
    cs_mettail_fns fns = {.window = t & (1u << CS_CHX_METRICS) ? row_window : NULL,
                          .alert = t & (1u << CS_CHX_ALERTS) ? row_alert : NULL,
                          .ud = x};
    size_t nw = 0, na = 0;
    int rc;

    if ((rc = rows_begin(x, CS_CHX_METRICS, CS_CHX_ALERTS + 1)) == 0)
        rc = cs_mettail_read(x->mtail, x->cfg.batch_rows, &fns, &nw, &na);
    *n = nw > na ? nw : na;
    return rows_finish(x, rc, CS_CHX_METRICS, CS_CHX_ALERTS + 1, nw + na, x->mtail, met_commit,
                       met_rollback);
}

/* Sends one batch of each part; "*more": one read a whole batch. */
static int pass(cs_chexport *x, int *more)
{
    size_t nr = 0, nm = 0;
    int rc;

    *more = 0;
    rc = x->tables_ready ? 0 : cs__chx_create_tables(x->ch, x->target.db);
    x->tables_ready = rc == 0;
    if (rc == 0 && (rc = pass_records(x, &nr)) == 0)
        rc = pass_metrics(x, &nm);
    if (rc < 0)
        x->tables_ready = 0; /* ClickHouse may have been replaced: check again */
    *more = nr >= x->cfg.batch_rows || nm >= x->cfg.batch_rows;
    note_pass(x, rc, nr + nm > 0, *more);
    return rc;
}

static void note_tail(cs_chexport *x)
{
    cs_msgtail_stats ts;
    cs_mettail_stats ms;

    if (cs_msgtail_stats_get(x->tail, &ts) < 0 || cs_mettail_stats_get(x->mtail, &ms) < 0)
        return;
    pthread_mutex_lock(&x->lock);
    x->st.pending_bytes = ts.pending_bytes + ms.pending_bytes;
    x->st.lost_bytes = ts.lost_bytes + ms.lost_bytes;
    x->st.replaced = ts.replaced + ms.replaced;
    pthread_mutex_unlock(&x->lock);
}

int cs_chexport_catch_up(cs_chexport *x)
{
    int rc, more;

    do
        rc = pass(x, &more);
    while (rc == 0 && more);
    note_tail(x);
    return rc;
}

/* ---- the thread ------------------------------------------------------------- */

/* Waits "ms", or less if told to stop without draining; returns the
 * stop flag. */
static int wait_ms(cs_chexport *x, int64_t ms)
{
    struct timespec until;
    int64_t t = clock_ns(CLOCK_REALTIME) + ms * 1000000ll;
    int stop;

    until.tv_sec = (time_t)(t / 1000000000ll);
    until.tv_nsec = (long)(t % 1000000000ll);
    pthread_mutex_lock(&x->lock);
    if (!x->stop || x->drain)
        pthread_cond_timedwait(&x->wake, &x->lock, &until);
    stop = x->stop;
    pthread_mutex_unlock(&x->lock);
    return stop;
}

/* While draining: stop once caught up, at the first refused batch (the
 * rest is sent next time, from the cursor) or past the deadline. */
static int drain_done(cs_chexport *x, int rc, int more, int began_draining)
{
    int done;

    pthread_mutex_lock(&x->lock);
    if (began_draining && rc == 0 && !more)
        x->drained = 1;
    done = x->drain && (x->drained || rc < 0 || clock_ns(CLOCK_MONOTONIC) >= x->drain_deadline_ns);
    pthread_mutex_unlock(&x->lock);
    return done;
}

static void *export_main(void *arg)
{
    cs_chexport *x = arg;
    int64_t backoff = BACKOFF_MIN_MS;
    int rc, more, stopping = 0, draining;

    while (!stopping) {
        /* only a pass begun after the stop saw everything the store got */
        pthread_mutex_lock(&x->lock);
        draining = x->drain;
        pthread_mutex_unlock(&x->lock);
        rc = pass(x, &more);
        note_tail(x);
        if (drain_done(x, rc, more, draining))
            break;
        pthread_mutex_lock(&x->lock);
        stopping = x->stop && !x->drain;
        draining = x->drain;
        pthread_mutex_unlock(&x->lock);
        if (stopping)
            break;
        if (rc < 0) {
            wait_ms(x, backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        backoff = BACKOFF_MIN_MS;
        if (!more && !draining)
            wait_ms(x, x->cfg.max_delay_ms);
    }
    return NULL;
}

int cs_chexport_start(cs_chexport *x)
{
    int e = pthread_create(&x->thread, NULL, export_main, x);

    if (e != 0)
        return cs_error_set(CS_ENOMEM, "cannot start the export thread: %s", strerror(e));
    x->running = 1;
    return 0;
}

int cs_chexport_stop(cs_chexport *x, int64_t drain_ms)
{
    int drained;

    if (!x->running)
        return 0;
    pthread_mutex_lock(&x->lock);
    x->stop = 1;
    x->drain = drain_ms > 0;
    x->drain_deadline_ns = clock_ns(CLOCK_MONOTONIC) + drain_ms * 1000000ll;
    pthread_cond_broadcast(&x->wake);
    pthread_mutex_unlock(&x->lock);
    pthread_join(x->thread, NULL);
    x->running = 0;
    pthread_mutex_lock(&x->lock);
    drained = x->drained;
    pthread_mutex_unlock(&x->lock);
    return drained || drain_ms <= 0 ? 0 : CS_EBUSY;
}

void cs_chexport_stats_get(cs_chexport *x, cs_chexport_stats *st)
{
    pthread_mutex_lock(&x->lock);
    *st = x->st;
    pthread_mutex_unlock(&x->lock);
}

int64_t cs_chexport_lag_ns(const cs_chexport_stats *st, int64_t now_ns)
{
    int64_t since = st->caught_up_ns ? st->caught_up_ns : st->opened_ns;

    return st->pending_bytes == 0 || now_ns < since ? 0 : now_ns - since;
}

const char *cs_chexport_table(int i)
{
    return i >= 0 && i < CS_CHX_TABLES ? cs__chx_table_names[i] : "";
}

int cs_chexport_finish(cs_chexport *x, int64_t drain_ms, cs_chexport_stats *st)
{
    int rc = cs_chexport_stop(x, drain_ms);

    cs_chexport_stats_get(x, st);
    if (rc < 0 || st->pending_bytes > 0)
        cs_log_warn("export to %s: %llu bytes of records, metrics and alerts not sent yet (%s); "
                    "the next run with "
                    "--export, or capstream export, sends them",
                    st->target, (unsigned long long)st->pending_bytes,
                    st->last_error[0] ? st->last_error : "stopped before catching up");
    cs_chexport_close(x);
    return rc < 0 || st->pending_bytes > 0 ? CS_EBUSY : 0;
}

void cs_chexport_close(cs_chexport *x)
{
    if (x == NULL)
        return;
    cs_chexport_stop(x, 0);
    rows_end(x);
    for (int i = 0; i < CS_CHX_TABLES; i++)
        free(x->rows[i].data);
    cs_ch_close(x->ch);
    cs_msgtail_close(x->tail);
    cs_mettail_close(x->mtail);
    pthread_mutex_destroy(&x->lock);
    pthread_cond_destroy(&x->wake);
    cs_free(x);
}

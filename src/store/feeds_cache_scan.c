/*
 * feeds_cache_scan.c - reading what a store's message files gained into
 * the feeds cache's per-second parts (feeds_cache_int.h says what they
 * hold and why their sum is cs_feeds_read()'s answer).
 *
 * An update lists the messages directory, drops the groups deleted whole,
 * then reads every lat- file, then every msg- file, each from the offset
 * after its last good record (races wait for their losers' sightings; a
 * sighting read first waits for its race). Per message it adds to the part
 * of its second and feed: counts, ITCH types, the session, the busiest-ms
 * ring; per race, the lead of the winner or a loss of the loser.
 *
 * A file replaced (shrunk, another inode, or its last record read no
 * longer the same) has the data emptied and read again at once, or is
 * reported to the owner, who drops the data (cs__fc_update's "rebuild").
 * A build (cs__fc.cancel set) checks at every record whether its owner
 * stops it, and pauses while requests read the store whole. Invariants: a
 * part's "end" only grows while its file stays the same; a record is read
 * once. Threading: as cs__fc (one thread at a time).
 */
#include "store/feeds_cache_int.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define YIELD_MAX_MS 10000 /* a build's waits for requests, in all */

/* ---- reading messages ------------------------------------------------------- */

/* Closes ms "ms" of "feed"'s ring of "f" into its second's busiest. */
static int ring_close(cs__fc *c, fc_file *f, uint32_t feed, fc_ring *g, int64_t ms)
{
    uint64_t *n = &g->n[(uint64_t)ms % WINDOW];
    fc_bucket *b;
    fc_agg *a;
    int rc;

    if (*n == 0)
        return 0;
    if ((rc = cs__fc_agg_at(c, f, floor_div(ms, MS_PER_SEC), feed, &b, &a)) < 0)
        return rc;
    if (*n > a->best) {
        a->best = *n;
        a->best_ms = ms;
    }
    *n = 0;
    return 0;
}

/* feeds.c busy_add() over one file: the ring and what is late in it. */
static int ring_add(cs__fc *c, fc_file *f, uint32_t feed, fc_bucket *b, int64_t ms)
{
    fc_ring *g = cs__fc_ring_of(f, feed);
    int rc;

    if (g == NULL)
        return CS_ENOMEM;
    if (!g->started) {
        g->started = 1;
        g->head_ms = g->min_ms = g->max_ms = ms;
    } else if (ms > g->head_ms) {
        int64_t last = ms - WINDOW < g->head_ms ? ms - WINDOW : g->head_ms;

        for (int64_t x = g->head_ms - WINDOW + 1; x <= last; x++)
            if ((rc = ring_close(c, f, feed, g, x)) < 0)
                return rc;
        g->head_ms = ms;
    } else if (ms <= g->head_ms - WINDOW) {
        b->late++;
        g->min_ms = ms < g->min_ms ? ms : g->min_ms;
        return 0;
    }
    g->min_ms = ms < g->min_ms ? ms : g->min_ms;
    g->max_ms = ms > g->max_ms ? ms : g->max_ms;
    g->n[(uint64_t)ms % WINDOW]++;
    return 0;
}

static int take_itch(cs__fc *c, const cs_message *m)
{
    fc_file *f = c->cur;
    uint32_t feed;
    fc_bucket *b;
    fc_agg *a;
    int rc;

    if ((rc = cs__fc_feed_index(c, &m->ep, !m->dir, &feed)) < 0 ||
        (rc = cs__fc_agg_at(c, f, floor_div(m->ts_ns, NS_PER_SEC), feed, &b, &a)) < 0)
        return rc;
    a->messages++;
    b->has_itch = 1;
    if (m->type.len != 1) {
        a->unknown_types++;
    } else {
        uint8_t t = (uint8_t)m->type.p[0];
        size_t i = 0;

        while (i < a->n_types && a->types[i].t != t)
            i++;
        if (i == a->n_types) {
            if (cs_grow((void **)&a->types, &a->cap_types, i + 1, sizeof(*a->types)) < 0)
                return CS_ENOMEM;
            a->types[a->n_types++] = (fc_type){0, t};
            c->bytes += sizeof(fc_type);
        }
        if (++a->types[i].n == 0)
            b->inexact = 1; /* (2^32 of one type in a second) */
    }
    return ring_add(c, f, feed, b, floor_div(m->ts_ns, NS_PER_MS));
}

static cs_str field_of(const cs_message *m, const char *name)
{
    for (size_t i = 0; i < m->n_fields; i++)
        if (cs__str_is(m->fields[i].name, name))
            return m->fields[i].val;
    return (cs_str){"", 0};
}

static int note_session(cs__fc *c, fc_agg *a, cs_str session, uint64_t pos)
{
    uint32_t idx;
    int rc;

    if ((rc = cs__fc_sess_index(c, session, &idx)) < 0)
        return rc;
    for (uint32_t i = 0; i < a->n_sess; i++)
        if (a->sess[i].idx == idx)
            return 0;
    if (a->n_sess == CS_FEED_SESSIONS_MAX)
        return 0;
    if (cs_grow((void **)&a->sess, &a->cap_sess, a->n_sess + 1, sizeof(*a->sess)) < 0)
        return CS_ENOMEM;
    a->sess[a->n_sess++] = (fc_sess){pos, idx};
    c->bytes += sizeof(fc_sess);
    return 0;
}

/* Race "p" (pending, from either side) lost by "loser", whose copy came at
 * "ts" in group "seg". */
static int resolve(cs__fc *c, const fc_pend *race, uint32_t loser, int64_t ts, uint32_t seg)
{
    fc_file *f, *s;
    fc_bucket *b;
    fc_agg *a;
    size_t at;
    int rc;

    if ((f = cs__fc_file_find(c, race->seg, &at)) == NULL ||
        (s = cs__fc_file_find(c, seg, &at)) == NULL)
        return CS_EINVAL; /* (both are read, so both are known) */
    if ((rc = cs__fc_agg_at(c, f, race->sec, loser, &b, &a)) < 0)
        return rc;
    if (ts != race->ts)
        b->inexact = 1; /* feeds.c looks for it by the race's times */
    if (loser != race->feed)
        a->races_lost++;
    if (seg != race->seg)
        s->lent = 1;
    return 0;
}

static int take_sighting(cs__fc *c, uint64_t id, uint32_t feed, int64_t ts)
{
    fc_pend *p = cs__fc_map_find(&c->races, id), race;
    int rc;

    if (p != NULL) {
        race = *p;
        cs__fc_map_del(&c->races, p);
        return resolve(c, &race, feed, ts, c->cur->seg);
    }
    if (ts < c->sight_floor)
        return 0; /* its race, if any, is older than what is kept: it marks itself */
    if ((rc = cs__fc_map_put(&c->sights, &(fc_pend){id, ts, 0, c->cur->seg, feed, 1})) == 0)
        c->bytes += 2 * sizeof(fc_pend);
    return rc;
}

static int take_packet(cs__fc *c, const cs_message *m, uint64_t off)
{
    int data = cs__str_is(m->type, "data");
    uint32_t feed;
    fc_bucket *b;
    fc_agg *a;
    int rc;

    if (!data && !cs__str_is(m->type, "heartbeat") && !cs__str_is(m->type, "end_of_session"))
        return 0;
    if ((rc = cs__fc_feed_index(c, &m->ep, !m->dir, &feed)) < 0 ||
        (rc = cs__fc_agg_at(c, c->cur, floor_div(m->ts_ns, NS_PER_SEC), feed, &b, &a)) < 0)
        return rc;
    a->packets++;
    a->heartbeats += cs__str_is(m->type, "heartbeat");
    if ((rc = note_session(c, a, field_of(m, "session"),
                           (uint64_t)c->cur->seg << POS_SEG_SHIFT | off)) < 0)
        return rc;
    if (!data)
        return 0;
    a->data_packets++;
    a->retrans_data += cs__str_is(field_of(m, "retransmission"), "1");
    return m->role == CS_ROLE_SIGHTING ? take_sighting(c, m->id, feed, m->ts_ns) : 0;
}

/* Has the owner asked a build under way to stop (cs__fc.cancel)? While
 * requests read the store whole (cs__fc.yield_to), a build waits for them,
 * YIELD_MAX_MS in all at most (requests one after the other would starve
 * it): both reading gigabytes at once, each would take twice as long. */
static int cancelled(cs__fc *c)
{
    const struct timespec ms = {0, 1000000};

    if (c->cancel == NULL)
        return 0;
    while (c->yield_to != NULL && c->yielded_ms < YIELD_MAX_MS &&
           atomic_load_explicit(c->yield_to, memory_order_relaxed) > 0 &&
           !atomic_load_explicit(c->cancel, memory_order_relaxed)) {
        nanosleep(&ms, NULL);
        c->yielded_ms++;
    }
    return atomic_load_explicit(c->cancel, memory_order_relaxed);
}

static int msg_frame(void *ud, const uint8_t *p, size_t n)
{
    cs__fc *c = ud;
    cs_message m;
    cs__msg_head h;
    int rc = 0;

    if (cancelled(c))
        return (c->err = CS_EBUSY), 1;
    c->cur_frame = cs__frame_offset(&c->sb, p);
    if (cs__decode_msg_head(p, n, &c->dec, &m, &h) < 0 || m.proto == NULL)
        return 0;
    if (strcmp(m.proto, "itch") == 0) {
        rc = take_itch(c, &m);
    } else if (strcmp(m.proto, "moldudp64") == 0) {
        if ((rc = cs__decode_msg_body(&c->dec, &m, &h)) != 0)
            return rc < -1 ? (c->err = rc, 1) : 0;
        rc = take_packet(c, &m, c->cur_frame);
    }
    return rc < 0 ? (c->err = rc, 1) : 0;
}

/* ---- reading races ---------------------------------------------------------- */

static int take_race(cs__fc *c, const cs_measurement *ms)
{
    int64_t sec = floor_div(ms->req_ts_ns, NS_PER_SEC);
    fc_pend *s, race;
    uint32_t feed;
    fc_bucket *b;
    fc_agg *a;
    int rc;

    if ((rc = cs__fc_feed_index(c, &ms->ep, 1, &feed)) < 0 ||
        (rc = cs__fc_agg_at(c, c->cur, sec, feed, &b, &a)) < 0)
        return rc;
    if (cs_grow((void **)&a->leads, &a->cap_leads, a->n_leads + 1, sizeof(*a->leads)) < 0)
        return CS_ENOMEM;
    if (ms->latency_ns < 0 || ms->latency_ns > INT32_MAX)
        b->inexact = 1;
    a->leads[a->n_leads++] = (int32_t)ms->latency_ns;
    c->bytes += sizeof(int32_t);
    if (ms->req_ts_ns > c->max_req_ts)
        c->max_req_ts = ms->req_ts_ns;
    race = (fc_pend){ms->resp_id, ms->resp_ts_ns, sec, c->cur->seg, feed, 1};
    if ((s = cs__fc_map_find(&c->sights, ms->resp_id)) != NULL) {
        fc_pend sight = *s;

        cs__fc_map_del(&c->sights, s);
        return resolve(c, &race, sight.feed, sight.ts, sight.seg);
    }
    if (ms->resp_ts_ns < c->sight_floor || cs__fc_map_find(&c->races, ms->resp_id) != NULL) {
        b->inexact = 1; /* its sighting may be forgotten, or it shares it */
        return 0;
    }
    if ((rc = cs__fc_map_put(&c->races, &race)) == 0)
        c->bytes += 2 * sizeof(fc_pend);
    return rc;
}

static int lat_frame(void *ud, const uint8_t *p, size_t n)
{
    cs__fc *c = ud;
    cs_measurement ms;
    int rc;

    if (cancelled(c))
        return (c->err = CS_EBUSY), 1;
    c->cur_frame = cs__frame_offset(&c->sb, p);
    if (cs__decode_measurement(p, n, &c->dec, &ms) < 0 || ms.pair == NULL ||
        strcmp(ms.pair, "ab") != 0)
        return 0;
    return (rc = take_race(c, &ms)) < 0 ? (c->err = rc, 1) : 0;
}

/* ---- bringing the cache up to date ------------------------------------------ */

enum { PART_SAME = 0, PART_GONE = 1, PART_REPLACED = 2 };

/* Has the file "fd" of part "pt" been replaced since it was read? */
static int part_replaced(const fc_part *pt, int fd, const struct stat *st)
{
    uint8_t head[CS__FRAME_PAYLOAD];

    if (!pt->read)
        return 0;
    if ((uint64_t)st->st_dev != pt->dev || (uint64_t)st->st_ino != pt->ino ||
        (uint64_t)st->st_size < pt->end)
        return 1;
    return pt->last_off > 0 &&
           (pread(fd, head, sizeof(head), (off_t)pt->last_off) != (ssize_t)sizeof(head) ||
            memcmp(head, pt->last_head, sizeof(head)) != 0);
}

/* Reads what part "kind" of "f" gained; PART_REPLACED if it was replaced. */
static int part_read(cs__fc *c, const char *dir, fc_file *f, int kind)
{
    static const int file_kind[N_PARTS] = {CS__KIND_MSG, CS__KIND_LAT};
    fc_part *pt = &f->part[kind];
    char path[CS__MSG_PATH_MAX];
    cs__scan_result res;
    struct stat st;
    int fd, rc;

    cs__msgfile_path(path, dir, file_kind[kind], f->seg, 0);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno == ENOENT
                   ? (pt->read ? PART_REPLACED : 0)
                   : cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0) {
        rc = cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
        goto out;
    }
    if ((rc = part_replaced(pt, fd, &st) ? PART_REPLACED : 0) != 0)
        goto out;
    c->cur = f;
    c->cur_frame = 0;
    c->err = 0;
    rc = cs__msgfile_scan(fd, file_kind[kind], &c->sb, pt->end,
                          kind == PART_MSG ? msg_frame : lat_frame, c, &res);
    if (rc == CS_ECORRUPT)
        rc = 0; /* a foreign file serves nothing, as to cs_feeds_read() */
    if (rc < 0 || (rc = c->err) < 0)
        goto out;
    pt->read = 1;
    pt->dev = (uint64_t)st.st_dev;
    pt->ino = (uint64_t)st.st_ino;
    if (c->cur_frame > 0 && res.valid_end > pt->end) {
        pt->last_off = c->cur_frame;
        if (pread(fd, pt->last_head, sizeof(pt->last_head), (off_t)pt->last_off) !=
            (ssize_t)sizeof(pt->last_head))
            pt->last_off = 0;
    }
    pt->end = res.valid_end > pt->end ? res.valid_end : pt->end;
out:
    close(fd);
    return rc;
}

/* Marks the parts of the files in "dir" listed; adds the files new. */
static int list_parts(cs__fc *c, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int kind, tmp, rc = 0;
    uint32_t seg;
    fc_file *f;

    for (size_t i = 0; i < c->n_files; i++)
        c->files[i]->part[PART_MSG].listed = c->files[i]->part[PART_LAT].listed = 0;
    if (d == NULL)
        return errno == ENOENT
                   ? 0
                   : cs_error_set(cs_error_from_errno(errno), "%s: %s", dir, strerror(errno));
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (cs__msgfile_parse_name(e->d_name, &kind, &seg, &tmp) < 0 || tmp ||
            (kind != CS__KIND_MSG && kind != CS__KIND_LAT))
            continue;
        if ((rc = cs__fc_file_get(c, seg, &f)) == 0)
            f->part[kind == CS__KIND_MSG ? PART_MSG : PART_LAT].listed = 1;
    }
    closedir(d);
    return rc;
}

/* Drops the groups deleted whole; 1 if the cache must be rebuilt instead. */
static int drop_deleted(cs__fc *c)
{
    for (size_t i = c->n_files; i-- > 0;) {
        fc_file *f = c->files[i];
        int gone = !f->part[PART_MSG].listed && !f->part[PART_LAT].listed;

        if (!gone)
            continue;
        if (f->lent)
            return 1;
        if (cs__fc_map_rebuild(&c->races, c->races.cap ? c->races.cap : 1024, f->seg, INT64_MIN) <
                0 ||
            cs__fc_map_rebuild(&c->sights, c->sights.cap ? c->sights.cap : 1024, f->seg,
                               INT64_MIN) < 0)
            return 1;
        cs__fc_file_drop(c, i);
    }
    return 0;
}

/* Forgets the sightings older than SIGHT_KEEP_NS before the newest race. */
static int forget_sightings(cs__fc *c)
{
    int64_t floor;

    if (c->max_req_ts < INT64_MIN + SIGHT_KEEP_NS)
        return 0;
    floor = c->max_req_ts - SIGHT_KEEP_NS;
    if (floor > c->sight_floor) {
        c->sight_floor = floor;
        if (c->sights.n > 0 && cs__fc_map_rebuild(&c->sights, c->sights.cap, -1, floor) < 0)
            return CS_ENOMEM;
    }
    return cs__fc_map_shrink(&c->sights) < 0 || cs__fc_map_shrink(&c->races) < 0 ? CS_ENOMEM : 0;
}

static int update_once(cs__fc *c, const char *dir)
{
    int rc;

    if ((rc = list_parts(c, dir)) < 0)
        return rc;
    if (drop_deleted(c))
        return PART_REPLACED;
    for (int kind = PART_LAT; kind >= PART_MSG; kind--) /* races wait for their losers */
        for (size_t i = 0; i < c->n_files; i++)
            if ((rc = part_read(c, dir, c->files[i], kind)) != 0)
                return rc;
    return forget_sightings(c);
}

int cs__fc_update(cs__fc *c, const char *dir, int rebuild)
{
    int rc;

    if (c->dir == NULL || strcmp(c->dir, dir) != 0) {
        cs__fc_empty(c);
        cs_free(c->dir);
        c->over = 0;
        if ((c->dir = cs_strdup(dir)) == NULL)
            return CS_ENOMEM;
    }
    if (c->over)
        return CS__FC_UNCACHED;
    if ((rc = update_once(c, dir)) == PART_REPLACED) {
        if (!rebuild)
            return CS__FC_REPLACED;
        cs__fc_empty(c);
        c->rebuilds++;
        rc = update_once(c, dir);
    }
    if (rc != 0 || c->bytes > CACHE_BYTES_MAX) {
        c->over = rc == 0;
        cs__fc_empty(c);
        return rc < 0 ? rc : CS__FC_UNCACHED;
    }
    return 0;
}

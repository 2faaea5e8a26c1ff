/*
 * hub_ch.c - the hub's lists from ClickHouse (cs__hub_ch_list): the
 * measurements, messages and gaps every sensor exported, with the sensor
 * API's parameters turned into one SELECT.
 *
 *   parameters ─► WHERE (each value checked: times and durations parsed,
 *   strings quoted) ─► SELECT * FROM DB.T FINAL ... ORDER BY ... LIMIT
 *   offset, limit + 1 ─► JSONEachRow lines ─► {"T":[...],"offset",
 *   "limit","count","more","source":"clickhouse"}
 *
 * FINAL: a row sent twice after a failure is merged before it is counted
 * (docs/clickhouse.md), so every record shows once. The order is the
 * sensor API's (request time, or slowest first), ties broken by the
 * table's identity, so pages do not overlap. A parameter the hub cannot
 * turn into SQL is a 400 naming it, never silently ignored.
 */
#include "hub/hub_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CH_LIMIT_MAX 1000
#define CH_OFFSET_MAX 100000000ull

typedef struct sql_buf {
    FILE *f;
    char *text;
    size_t len;
} sql_buf;

/* 'value' with quotes and backslashes escaped. */
static void sql_string(FILE *f, const char *v)
{
    fputc('\'', f);
    for (; *v; v++) {
        if (*v == '\'' || *v == '\\')
            fputc('\\', f);
        fputc(*v, f);
    }
    fputc('\'', f);
}

/* One parameter into a condition; 0, or -1 with a 400 in "rep". */
static int condition(FILE *f, const char *what, const char *k, const char *v, int64_t now,
                     cs_server_reply *rep)
{
    int meas = strcmp(what, "measurements") == 0;
    const char *ts = meas ? "req_ts_ns" : "ts_ns";
    int64_t ns;

    if (strcmp(k, "after") == 0 || strcmp(k, "before") == 0) {
        if (cs_time_parse(v, now, &ns) < 0)
            return cs__hub_error(rep, 400, k, "bad time '%s'", v), -1;
        fprintf(f, " AND %s %s %lld", ts, k[0] == 'a' ? ">=" : "<", (long long)ns);
    } else if (meas && (strcmp(k, "min") == 0 || strcmp(k, "max") == 0)) {
        if (cs_duration_parse(v, &ns) < 0)
            return cs__hub_error(rep, 400, k, "bad duration '%s'", v), -1;
        fprintf(f, " AND latency_ns %s %lld", k[1] == 'i' ? ">=" : "<=", (long long)ns);
    } else if (meas && strcmp(k, "session") == 0) {
        const char *gt = strchr(v, '>');
        char src[128];

        if (gt == NULL || (size_t)(gt - v) >= sizeof(src))
            return cs__hub_error(rep, 400, k, "give session=SRC>DST"), -1;
        snprintf(src, sizeof(src), "%.*s", (int)(gt - v), v);
        fputs(" AND src = ", f), sql_string(f, src);
        fputs(" AND dst = ", f), sql_string(f, gt + 1);
    } else if ((meas && strcmp(k, "pair") == 0) ||
               (strcmp(what, "gaps") != 0 && strcmp(k, "key") == 0) ||
               (strcmp(what, "messages") == 0 &&
                (strcmp(k, "proto") == 0 || strcmp(k, "type") == 0))) {
        fprintf(f, " AND %s = ", k);
        sql_string(f, v);
    } else if (strcmp(k, "sort") != 0 && strcmp(k, "limit") != 0 && strcmp(k, "offset") != 0 &&
               strcmp(k, "total") != 0 && strcmp(k, "brief") != 0) { /* brief: rows whole */
        return cs__hub_error(rep, 400, k, "the hub's ClickHouse lists do not take '%s'", k), -1;
    }
    return 0;
}

static int count_param(const cs_server_params *p, const char *k, unsigned long long max,
                       unsigned long long *out, cs_server_reply *rep)
{
    const char *v = cs__hub_param(p, k);
    char *end;

    if (v == NULL)
        return 0;
    *out = strtoull(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || *out > max ||
        (strcmp(k, "limit") == 0 && *out == 0))
        return cs__hub_error(rep, 400, k, "bad %s (at most %llu)", k, max), -1;
    return 0;
}

static const char *order_of(const char *what, const cs_server_params *p)
{
    const char *sort = cs__hub_param(p, "sort");

    if (strcmp(what, "measurements") == 0)
        return sort && strcmp(sort, "latency") == 0
                   ? "latency_ns DESC, req_ts_ns, sensor, pair, id, resp_msg"
                   : "req_ts_ns, sensor, pair, id, resp_msg";
    if (strcmp(what, "gaps") == 0)
        return "ts_ns, sensor, feed, tap, kind, session, first_seq";
    return "ts_ns, sensor, id";
}

/* The SELECT for "p" into "sql"; 0, or -1 with a 400 in "rep". */
static int build_sql(const cs_hub *h, const char *what, const cs_server_params *p,
                     unsigned long long offset, unsigned long long limit, sql_buf *sql,
                     cs_server_reply *rep)
{
    int64_t now = cs_now_ns();

    fprintf(sql->f, "SELECT * FROM %s.%s FINAL WHERE 1", h->ch.db, what);
    for (size_t i = 0; i < p->n; i++)
        if (condition(sql->f, what, p->key[i], p->value[i], now, rep) < 0)
            return -1;
    fprintf(sql->f, " ORDER BY %s LIMIT %llu, %llu FORMAT JSONEachRow", order_of(what, p), offset,
            limit + 1);
    return 0;
}

/* The JSONEachRow lines as the sensor API's page. */
static int page_reply(const char *what, const char *rows, unsigned long long offset,
                      unsigned long long limit, cs_server_reply *rep)
{
    size_t len = 0, count = 0;
    char *body = NULL;
    FILE *o = open_memstream(&body, &len);
    const char *line = rows;

    if (o == NULL)
        return CS_ENOMEM;
    fprintf(o, "{\"%s\":[", what);
    while (*line && count < limit) {
        size_t n = strcspn(line, "\n");
        if (n > 0)
            fprintf(o, "%s%.*s", count++ ? "," : "", (int)n, line);
        line += n + (line[n] == '\n');
    }
    while (*line == '\n')
        line++;
    fprintf(o,
            "],\"offset\":%llu,\"limit\":%llu,\"count\":%zu,\"more\":%s,\"source\":\"clickhouse\"}",
            offset, limit, count, *line ? "true" : "false");
    if (fclose(o) != 0) {
        free(body);
        return CS_ENOMEM;
    }
    rep->status = 200;
    rep->ctype = "application/json";
    rep->body = body;
    rep->len = len;
    return 0;
}

int cs__hub_ch_list(const cs_hub *h, const char *what, const cs_server_params *p,
                    cs_server_reply *rep)
{
    unsigned long long offset = 0, limit = 100;
    sql_buf sql = {0};
    cs_ch *ch = NULL;
    char *rows = NULL;
    size_t rows_len = 0;
    int rc;

    if (count_param(p, "limit", CH_LIMIT_MAX, &limit, rep) < 0 ||
        count_param(p, "offset", CH_OFFSET_MAX, &offset, rep) < 0)
        return 0;
    if ((sql.f = open_memstream(&sql.text, &sql.len)) == NULL)
        return CS_ENOMEM;
    rc = build_sql(h, what, p, offset, limit, &sql, rep);
    if (fclose(sql.f) != 0 && rc == 0)
        rc = CS_ENOMEM;
    if (rc != 0) { /* -1: the 400 is in "rep" */
        free(sql.text);
        return rc < -1 ? rc : 0;
    }
    if ((rc = cs_ch_open(&h->ch, h->ca_file[0] ? h->ca_file : NULL, &ch)) == 0 &&
        (rc = cs_ch_query(ch, sql.text, &rows, &rows_len)) == 0)
        rc = page_reply(what, rows, offset, limit, rep);
    else if (rc == CS_EIO)
        rc = cs__hub_error(rep, 502, NULL, "%s", cs_error_msg(rc));
    cs_ch_close(ch);
    cs_free(rows);
    free(sql.text);
    return rc;
}

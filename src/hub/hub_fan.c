/*
 * hub_fan.c - the hub's answers that ask the sensors (see hub.c for the
 * routing): status summed, lists merged, packets merged, one sensor's
 * answer passed on, and the hub's own Prometheus gauges.
 *
 * Status: counters ("capture", "drops", "messages", "measurements" and
 * the store's) are summed over the sensors that answered; the store's
 * time range is the union of theirs; "decoders" and "pairs" are the first
 * answering sensor's; "sensors" lists each one with its own status or why
 * it gave none.
 *
 * Packets: each sensor's pcap goes to an unlinked temporary file (memory
 * stays bounded whatever the sizes), then one merged pcap to another,
 * which the server sends. Sensors missing are named in the
 * X-Capstream-Missing header ("NAME: why; ...").
 */
#include "hub/hub_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/version.h"
#include "hub/merge.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIST_DEFAULT_LIMIT 100
#define LIST_FANOUT_MAX 1000 /* a sensor's largest page (offset + limit) */

static int json_reply(cs_server_reply *rep, char *body, size_t len)
{
    rep->status = 200;
    rep->ctype = "application/json";
    rep->body = body;
    rep->len = len;
    return 0;
}

/* ---- status --------------------------------------------------------------------- */

/* Adds "from"'s integer members to "into"'s (min/max for *min_ts_ns and
 * *max_ts_ns), recursing into objects. */
static void sum_into(json_t *into, json_t *from)
{
    const char *k;
    json_t *v;

    json_object_foreach(from, k, v)
    {
        json_t *have = json_object_get(into, k);
        size_t kl = strlen(k);

        if (json_is_object(v) && json_is_object(have)) {
            sum_into(have, v);
        } else if (json_is_integer(v) && json_is_integer(have)) {
            json_int_t a = json_integer_value(have), b = json_integer_value(v);
            int is_min = kl >= 9 && strcmp(k + kl - 9, "min_ts_ns") == 0;
            int is_max = kl >= 9 && strcmp(k + kl - 9, "max_ts_ns") == 0;

            if (is_min)
                json_integer_set(have, a == 0 || (b && b < a) ? b : a);
            else if (is_max)
                json_integer_set(have, b > a ? b : a);
            else
                json_integer_set(have, a + b);
        } else if (have == NULL && (json_is_integer(v) || json_is_object(v))) {
            json_object_set_new(into, k, json_deep_copy(v));
        }
    }
}

static json_t *sensor_entry(const cs_hub_peer *p, const cs_hub_fetch *f, json_t *st)
{
    json_t *o = json_pack("{s:s,s:s,s:b}", "sensor", p->name, "url", p->base, "up", st != NULL);

    char why[300];

    if (st) {
        json_object_set(o, "status", st);
        return o;
    }
    if (f->ok && f->status == 200)
        snprintf(why, sizeof(why), "its status is not JSON");
    else if (f->ok)
        snprintf(why, sizeof(why), "HTTP %ld", f->status);
    else
        snprintf(why, sizeof(why), "%s", f->why);
    json_object_set_new(o, "why", json_string(why));
    return o;
}

/* The summed status of the answering sensors into "root". */
static void status_body(const cs_hub *h, json_t **st, const cs_hub_fetch *f, json_t *root)
{
    json_t *sensors = json_array(), *sum = json_object();
    char sources[512] = "hub:";
    int capturing = 0, first = 1;

    for (int i = 0; i < h->n; i++) {
        json_array_append_new(sensors, sensor_entry(&h->peers[i], &f[i], st[i]));
        snprintf(sources + strlen(sources), sizeof(sources) - strlen(sources), "%s %s%s",
                 i ? "," : "", h->peers[i].name, st[i] ? "" : " (down)");
        if (st[i] == NULL)
            continue;
        capturing |= json_is_true(json_object_get(st[i], "capturing"));
        json_t *part = json_pack(
            "{s:O*,s:O*,s:O*,s:O*,s:O*}", "capture", json_object_get(st[i], "capture"), "drops",
            json_object_get(st[i], "drops"), "messages", json_object_get(st[i], "messages"),
            "measurements", json_object_get(st[i], "measurements"), "store",
            json_object_get(st[i], "store"));
        sum_into(sum, part);
        json_decref(part);
        if (first) {
            json_object_set(root, "decoders", json_object_get(st[i], "decoders"));
            json_object_set(root, "pairs", json_object_get(st[i], "pairs"));
            first = 0;
        }
    }
    json_object_update(root, sum);
    json_decref(sum);
    json_object_set_new(root, "capturing", json_boolean(capturing));
    json_object_set_new(root, "sources", json_string(sources));
    json_object_set_new(root, "sensors", sensors);
}

int cs__hub_status(const cs_hub *h, int per_sensor, cs_server_reply *rep)
{
    cs_hub_fetch f[CS_HUB_SENSORS_MAX] = {0};
    json_t *st[CS_HUB_SENSORS_MAX] = {0}, *root;
    char *body = NULL, *doc;
    size_t len = 0;
    FILE *o;
    int rc = cs_hub_fanout(&h->fan, h->peers, h->n, NULL, "/api/v1/status", f);

    for (int i = 0; rc == 0 && i < h->n; i++)
        if (f[i].ok && f[i].status == 200 && f[i].body)
            st[i] = json_loads(f[i].body, 0, NULL);
    root = json_pack("{s:s,s:b}", "version", CS_VERSION_STRING, "hub", 1);
    if (rc == 0 && !per_sensor)
        status_body(h, st, f, root);
    else if (rc == 0)
        for (int i = 0; i < h->n; i++)
            json_object_set_new(root, h->peers[i].name, sensor_entry(&h->peers[i], &f[i], st[i]));
    doc = json_dumps(root, JSON_COMPACT);
    if (rc == 0 && doc && (o = open_memstream(&body, &len)) != NULL) {
        fwrite(doc, 1, strlen(doc) - 1, o); /* without its closing brace */
        cs_hub_missing_json(o, h->peers, f, NULL, h->n);
        fputc('}', o);
        rc = fclose(o) == 0 ? 0 : CS_ENOMEM;
    } else if (rc == 0) {
        rc = CS_ENOMEM;
    }
    free(doc);
    json_decref(root);
    for (int i = 0; i < h->n; i++)
        json_decref(st[i]);
    cs_hub_fetch_free(f, h->n);
    return rc < 0 ? (free(body), rc) : json_reply(rep, body, len);
}

/* ---- lists ---------------------------------------------------------------------- */

static int parse_count(const char *v, size_t max, size_t *out)
{
    char *end;
    unsigned long long n;

    if (v == NULL)
        return 0;
    n = strtoull(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || n > max)
        return -1;
    *out = (size_t)n;
    return 0;
}

/* The list's order: measurements by request time, or slowest first. */
static void list_spec(const char *what, const cs_server_params *p, cs_hub_list_spec *sp)
{
    const char *sort = cs__hub_param(p, "sort");

    memset(sp, 0, sizeof(*sp));
    sp->array = what;
    sp->sort_key = strcmp(what, "measurements") == 0 ? "req_ts_ns" : "ts_ns";
    if (strcmp(what, "measurements") == 0 && sort && strcmp(sort, "latency") == 0) {
        sp->sort_key = "latency_ns";
        sp->descending = 1;
    } else if (strcmp(what, "alerts") == 0) { /* newest first, as a sensor's */
        sp->descending = 1;
    } else if (strcmp(what, "sessions") == 0) { /* slowest first */
        sp->sort_key = "max_ns";
        sp->descending = 1;
    } else if (strcmp(what, "feeds") == 0) { /* by tap, all of them */
        sp->sort_key = "tap";
        sp->unpaged = 1;
    }
}

int cs__hub_all_refused(const cs_hub_fetch *f, const int *use, int n)
{
    int seen = 0;
    long status = 0;

    for (int i = 0; i < n; i++) {
        if (!use[i])
            continue;
        if (!f[i].ok || f[i].status < 400 || f[i].status >= 500 || (seen && f[i].status != status))
            return -1;
        status = f[i].status;
        seen = 1;
    }
    for (int i = 0; seen && i < n; i++)
        if (use[i])
            return i;
    return -1;
}

int cs__hub_list(const cs_hub *h, const char *what, const cs_server_params *p, const int *use,
                 cs_server_reply *rep)
{
    cs_hub_fetch f[CS_HUB_SENSORS_MAX] = {0};
    cs_hub_list_spec sp;
    char path[CS_HUB_URL_MAX], ep[64];
    char *body = NULL;
    size_t len = 0;
    int rc, bad;

    list_spec(what, p, &sp);
    sp.limit = LIST_DEFAULT_LIMIT;
    if (sp.unpaged)
        sp.limit = 0; /* the request is passed as it is */
    else if (parse_count(cs__hub_param(p, "limit"), LIST_FANOUT_MAX, &sp.limit) < 0 ||
             sp.limit == 0)
        return cs__hub_error(rep, 400, "limit", "bad limit (1 to %d)", LIST_FANOUT_MAX);
    if (!sp.unpaged && (parse_count(cs__hub_param(p, "offset"), LIST_FANOUT_MAX, &sp.offset) < 0 ||
                        sp.offset + sp.limit > LIST_FANOUT_MAX))
        return cs__hub_error(rep, 400, "offset",
                             "offset + limit at most %d when the hub asks the sensors (give the "
                             "hub --clickhouse to page further)",
                             LIST_FANOUT_MAX);
    snprintf(ep, sizeof(ep), "/api/v1/%s", what);
    if ((rc = cs__hub_path(ep, p, sp.offset + sp.limit, path, sizeof(path))) < 0 ||
        (rc = cs_hub_fanout(&h->fan, h->peers, h->n, use, path, f)) < 0)
        return rc;
    if ((bad = cs__hub_all_refused(f, use, h->n)) >= 0) { /* the request itself is wrong */
        rep->status = (int)f[bad].status;
        rep->ctype = "application/json";
        rep->body = f[bad].body;
        rep->len = f[bad].len;
        f[bad].body = NULL;
    } else if ((rc = cs_hub_merge_lists(&sp, h->peers, f, use, h->n, &body, &len)) == 0) {
        json_reply(rep, body, len);
    }
    cs_hub_fetch_free(f, h->n);
    return rc;
}

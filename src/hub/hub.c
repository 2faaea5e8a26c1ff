/*
 * hub.c - the hub's configuration and its answers (see hub.h).
 *
 *   request ─► route by path
 *     status, sensors ─► fan-out /api/v1/status ─► sum counters, union of
 *                        store ranges, each sensor's own status or why not
 *     measurements, messages, gaps (no id)
 *                     ─► ClickHouse (hub_ch.c) when configured and no
 *                        sensor=; else fan-out with offset 0 and limit
 *                        offset + limit ─► merge (merge.c) ─► the page
 *     metrics, series ─► fan-out ─► merged per step (hub_met.c, metmerge.c)
 *     packets         ─► fan-out into temporary files ─► merged pcap
 *                        (pcapmerge.c) served from a temporary file
 *     ?sensor=NAME    ─► that sensor's answer as it is (status, type, body)
 *     /metrics        ─► the hub's own gauges: each sensor up or not
 *
 * Invariants: a sensor's token goes only to that sensor; every fan-out
 * ends by the deadline; a missing sensor is named in every answer that
 * lacks it; the "sensor" parameter is never passed on.
 */
#include "hub/hub_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "hub/merge.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define API "/api/v1/"

/* ---- configuration ----------------------------------------------------------- */

static int name_ok(const char *s, size_t n)
{
    if (n == 0 || n >= CS_HUB_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

/* "NAME=http[s]://HOST:PORT[/]" into a peer. */
static int parse_sensor(const char *spec, cs_hub_peer *p)
{
    const char *eq = strchr(spec, '='), *url, *slash;
    size_t n;

    if (eq == NULL || !name_ok(spec, (size_t)(eq - spec)))
        return cs_error_set(CS_EINVAL,
                            "--sensor %s: give NAME=URL, NAME of 1-63 letters, digits, '.', "
                            "'_', '-'",
                            spec);
    url = eq + 1;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return cs_error_set(CS_EINVAL, "--sensor %s: the URL must be http:// or https://", spec);
    n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    slash = strchr(strstr(url, "://") + 3, '/');
    if (n >= sizeof(p->base) || (slash != NULL && slash < url + n))
        return cs_error_set(CS_EINVAL, "--sensor %s: give the sensor's base URL, no path", spec);
    snprintf(p->name, sizeof(p->name), "%.*s", (int)(eq - spec), spec);
    snprintf(p->base, sizeof(p->base), "%.*s", (int)n, url);
    return 0;
}

/* "NAME=FILE": the first line of FILE is NAME's bearer token. */
static int parse_token(cs_hub *h, const char *spec)
{
    const char *eq = strchr(spec, '=');
    char line[512] = "";
    FILE *f;
    size_t n;

    for (int i = 0; eq && i < h->n; i++) {
        if (strlen(h->peers[i].name) != (size_t)(eq - spec) ||
            strncmp(h->peers[i].name, spec, (size_t)(eq - spec)) != 0)
            continue;
        if ((f = fopen(eq + 1, "r")) == NULL)
            return cs_error_set(CS_EINVAL, "--sensor-token %s: cannot read %s", spec, eq + 1);
        if (fgets(line, sizeof(line), f) == NULL)
            line[0] = '\0';
        fclose(f);
        n = strcspn(line, "\r\n");
        if (n == 0)
            return cs_error_set(CS_EINVAL, "--sensor-token %s: the file's first line is empty",
                                spec);
        snprintf(h->peers[i].auth, sizeof(h->peers[i].auth), "Authorization: Bearer %.*s", (int)n,
                 line);
        return 0;
    }
    return cs_error_set(CS_EINVAL, "--sensor-token %s: give NAME=FILE for a --sensor NAME", spec);
}

int cs_hub_new(const cs_hub_cfg *cfg, cs_hub **out)
{
    cs_hub *h;
    int rc = 0;

    *out = NULL;
    if (cfg->n_sensors < 1 || cfg->n_sensors > CS_HUB_SENSORS_MAX)
        return cs_error_set(CS_EINVAL, "give 1 to %d --sensor NAME=URL", CS_HUB_SENSORS_MAX);
    if ((h = cs_calloc(1, sizeof(*h))) == NULL)
        return CS_ENOMEM;
    for (int i = 0; i < cfg->n_sensors && rc == 0; i++) {
        rc = parse_sensor(cfg->sensors[i], &h->peers[i]);
        for (int j = 0; j < i && rc == 0; j++)
            if (strcmp(h->peers[j].name, h->peers[i].name) == 0)
                rc = cs_error_set(CS_EINVAL, "two sensors named %s", h->peers[i].name);
        h->n = i + 1;
    }
    for (int i = 0; i < cfg->n_sensor_tokens && rc == 0; i++)
        rc = parse_token(h, cfg->sensor_tokens[i]);
    if (rc == 0 && cfg->clickhouse && (rc = cs_ch_parse_target(cfg->clickhouse, &h->ch)) == 0)
        h->has_ch = 1;
    if (rc < 0) {
        cs_free(h);
        return rc;
    }
    snprintf(h->ca_file, sizeof(h->ca_file), "%s", cfg->ca_file ? cfg->ca_file : "");
    h->fan.ca_file = h->ca_file[0] ? h->ca_file : NULL;
    h->fan.deadline_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : CS_HUB_DEFAULT_TIMEOUT_MS;
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread uses libcurl */
    *out = h;
    return 0;
}

void cs_hub_free(cs_hub *h)
{
    cs_free(h);
}

/* ---- replies and parameters ------------------------------------------------------ */

const char *cs__hub_param(const cs_server_params *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->key[i], key) == 0)
            return p->value[i];
    return NULL;
}

int cs__hub_error(cs_server_reply *rep, int status, const char *param, const char *fmt, ...)
{
    char msg[512];
    json_t *o;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    o = param ? json_pack("{s:s,s:s}", "error", msg, "param", param)
              : json_pack("{s:s}", "error", msg);
    rep->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (rep->body == NULL)
        return CS_ENOMEM;
    rep->len = strlen(rep->body);
    rep->status = status;
    rep->ctype = "application/json";
    return 0;
}

int cs__hub_path(const char *path, const cs_server_params *p, size_t limit, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "%s", path);
    char sep = '?';

    for (size_t i = 0; i < p->n && n < cap; i++) {
        char *k, *v;

        if (strcmp(p->key[i], "sensor") == 0 ||
            (limit && (strcmp(p->key[i], "offset") == 0 || strcmp(p->key[i], "limit") == 0)))
            continue;
        k = curl_easy_escape(NULL, p->key[i], 0);
        v = curl_easy_escape(NULL, p->value[i], 0);
        if (k && v)
            n += (size_t)snprintf(buf + n, cap - n, "%c%s=%s", sep, k, v);
        curl_free(k);
        curl_free(v);
        sep = '&';
    }
    if (limit && n < cap)
        n += (size_t)snprintf(buf + n, cap - n, "%climit=%zu", sep, limit);
    return n < cap ? 0 : cs_error_set(CS_EINVAL, "the request is too long");
}

/* The index of sensor "name", or -1. */
static int sensor_index(const cs_hub *h, const char *name)
{
    for (int i = 0; i < h->n; i++)
        if (strcmp(h->peers[i].name, name) == 0)
            return i;
    return -1;
}

/* "use" for sensor= (that one) or all; -1 (with a 400 in "rep") if unknown. */
static int choose(const cs_hub *h, const cs_server_params *p, int *use, cs_server_reply *rep)
{
    const char *s = cs__hub_param(p, "sensor");
    int i = s ? sensor_index(h, s) : -1;

    for (int k = 0; k < h->n; k++)
        use[k] = s == NULL || k == i;
    if (s && i < 0) {
        cs__hub_error(rep, 400, "sensor", "no sensor named '%s'", s);
        return -1;
    }
    return 0;
}

/* ---- routing ------------------------------------------------------------------- */

/* The lists ClickHouse holds (and the hub merges otherwise). */
static int is_ch_list(const char *ep)
{
    return strcmp(ep, "measurements") == 0 || strcmp(ep, "messages") == 0 ||
           strcmp(ep, "gaps") == 0;
}

/* The lists the hub merges from the sensors' answers. */
static int is_list(const char *ep)
{
    return is_ch_list(ep) || strcmp(ep, "alerts") == 0 || strcmp(ep, "sessions") == 0 ||
           strcmp(ep, "feeds") == 0;
}

/* An endpoint the hub does not merge: one sensor's answer, sensor= naming
 * it unless there is only one. */
static int pass_on(const cs_hub *h, const char *url, const cs_server_params *p,
                   cs_server_reply *rep)
{
    const char *s = cs__hub_param(p, "sensor");
    int i = s ? sensor_index(h, s) : h->n == 1 ? 0 : -1;

    if (strcmp(url, API "stream") == 0)
        return cs__hub_error(rep, 400, NULL,
                             "the hub does not relay the live stream: open /api/v1/stream on "
                             "the sensor");
    if (s && i < 0)
        return cs__hub_error(rep, 400, "sensor", "no sensor named '%s'", s);
    if (i < 0)
        return cs__hub_error(rep, 400, "sensor",
                             "give sensor=NAME: the hub merges status, metrics, series, the "
                             "lists and packets, and passes the rest to one sensor");
    return cs__hub_proxy(h, i, url, p, rep);
}

int cs_hub_answer(void *hub, const char *url, const cs_server_params *p, cs_server_reply *rep)
{
    const cs_hub *h = hub;
    const char *ep = strncmp(url, API, sizeof(API) - 1) == 0 ? url + sizeof(API) - 1 : NULL;
    int use[CS_HUB_SENSORS_MAX];

    if (strcmp(url, "/metrics") == 0)
        return cs__hub_prometheus(h, rep);
    if (ep == NULL)
        return cs__hub_error(rep, 404, NULL, "no such endpoint");
    if (strcmp(ep, "status") == 0 || strcmp(ep, "sensors") == 0)
        return cs__hub_status(h, strcmp(ep, "sensors") == 0, rep);
    if (is_ch_list(ep) && h->has_ch && cs__hub_param(p, "sensor") == NULL)
        return cs__hub_ch_list(h, ep, p, rep);
    if ((strcmp(ep, "metrics") == 0 || strcmp(ep, "series") == 0) &&
        cs__hub_param(p, "sensor") == NULL)
        return cs__hub_metrics(h, ep, p, rep);
    if (is_list(ep) || strcmp(ep, "packets") == 0) {
        if (choose(h, p, use, rep) < 0)
            return 0;
        return is_list(ep) ? cs__hub_list(h, ep, p, use, rep) : cs__hub_packets(h, p, use, rep);
    }
    return pass_on(h, url, p, rep);
}

/*
 * hub_pass.c - the hub's answers made of sensors' bytes: packets merged
 * from every sensor, one sensor's answer passed on as it is, and the
 * hub's own Prometheus text (each sensor up or not).
 *
 * Packets: each asked sensor's pcap goes to an unlinked temporary file
 * (memory stays bounded whatever the sizes), then the merged pcap to
 * another, which the server sends from its descriptor. A sensor that gave
 * no pcap is named in the X-Capstream-Missing header ("NAME: why; ...");
 * if every sensor refused the request the same way (a filter that does
 * not compile: 400), that refusal is the answer.
 *
 * Pass-on: status, content type and body of the sensor's answer; a
 * sensor that does not answer is 502 (unreachable) or 504 (too slow),
 * with the reason.
 */
#include "hub/hub_int.h"

#include "core/error.h"
#include "hub/merge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- packets -------------------------------------------------------------------- */

/* "NAME: why; ..." of the asked sensors that gave no pcap. */
static void missing_header(const cs_hub *h, const cs_hub_fetch *f, const int *use, char *out,
                           size_t cap)
{
    size_t n = 0;

    out[0] = '\0';
    for (int i = 0; i < h->n && n < cap; i++)
        if (use[i] && !(f[i].ok && f[i].status == 200))
            n += (size_t)snprintf(out + n, cap - n, "%s%s: %s", n ? "; " : "", h->peers[i].name,
                                  f[i].ok ? "refused the request" : f[i].why);
    for (size_t k = 0; k < n && k < cap; k++)
        if (out[k] == '\r' || out[k] == '\n')
            out[k] = ' ';
}

/* A refusal every asked sensor gave (the request is wrong): its body. */
static int refused_by_all(const cs_hub *h, cs_hub_fetch *f, const int *use, cs_server_reply *rep)
{
    int first = -1;

    for (int i = 0; i < h->n; i++) {
        if (!use[i])
            continue;
        if (!f[i].ok || f[i].status < 400 || f[i].status >= 500)
            return 0;
        first = first < 0 ? i : first;
    }
    if (first < 0)
        return 0;
    rewind(f[first].sink);
    rep->body = calloc(1, f[first].len + 1);
    if (rep->body && fread(rep->body, 1, f[first].len, f[first].sink) != f[first].len)
        rep->len = 0;
    else
        rep->len = f[first].len;
    rep->status = (int)f[first].status;
    rep->ctype = "application/json";
    return 1;
}

static int merged_reply(const cs_hub *h, cs_hub_fetch *f, const int *use, cs_server_reply *rep)
{
    FILE *in[CS_HUB_SENSORS_MAX] = {0}, *out = tmpfile();
    char why[256] = "";
    long n;

    if (out == NULL)
        return cs_error_set(CS_EIO, "no temporary file for the merged pcap");
    for (int i = 0; i < h->n; i++)
        in[i] = use[i] && f[i].ok && f[i].status == 200 ? f[i].sink : NULL;
    if ((n = cs_hub_merge_pcaps(in, h->n, out, why, sizeof(why))) < 0) {
        fclose(out);
        return n == CS_EINVAL ? cs__hub_error(rep, 502, NULL, "%s", why) : (int)n;
    }
    rep->status = 200;
    rep->ctype = "application/vnd.tcpdump.pcap";
    rep->filename = "capstream-packets";
    rep->len = (size_t)ftell(out);
    rep->fd = dup(fileno(out));
    fclose(out);
    missing_header(h, f, use, rep->header_value, sizeof(rep->header_value));
    if (rep->header_value[0])
        snprintf(rep->header, sizeof(rep->header), "X-Capstream-Missing");
    return rep->fd < 0 ? cs_error_set(CS_EIO, "cannot serve the merged pcap") : 0;
}

int cs__hub_packets(const cs_hub *h, const cs_server_params *p, const int *use,
                    cs_server_reply *rep)
{
    cs_hub_fetch f[CS_HUB_SENSORS_MAX] = {0};
    char path[CS_HUB_URL_MAX];
    cs_hub_fanout_cfg fan = h->fan;
    int rc = cs__hub_path("/api/v1/packets", p, 0, path, sizeof(path));

    fan.streaming = 1; /* a big range takes longer than the deadline to send */
    for (int i = 0; rc == 0 && i < h->n; i++)
        if (use[i] && (f[i].sink = tmpfile()) == NULL)
            rc = cs_error_set(CS_EIO, "no temporary file for a sensor's packets");
    if (rc == 0)
        rc = cs_hub_fanout(&fan, h->peers, h->n, use, path, f);
    if (rc == 0 && !refused_by_all(h, f, use, rep))
        rc = merged_reply(h, f, use, rep);
    for (int i = 0; i < h->n; i++)
        if (f[i].sink)
            fclose(f[i].sink);
    return rc;
}

/* ---- one sensor's answer ---------------------------------------------------------- */

int cs__hub_proxy(const cs_hub *h, int sensor, const char *url, const cs_server_params *p,
                  cs_server_reply *rep)
{
    static const char *const kept[] = {"application/json", "application/vnd.tcpdump.pcap",
                                       "text/plain; version=0.0.4; charset=utf-8"};
    cs_hub_fanout_cfg fan = h->fan;
    cs_hub_fetch f[CS_HUB_SENSORS_MAX] = {0};
    int use[CS_HUB_SENSORS_MAX] = {0};
    char path[CS_HUB_URL_MAX];
    int rc = cs__hub_path(url, p, 0, path, sizeof(path));

    use[sensor] = 1;
    fan.want_header = "Content-Type";
    fan.streaming = strstr(url, "/pcap") != NULL; /* a download */
    if (rc == 0)
        rc = cs_hub_fanout(&fan, h->peers, h->n, use, path, f);
    if (rc == 0 && !f[sensor].ok) {
        int slow = strstr(f[sensor].why, "imeout") || strstr(f[sensor].why, "imed out");
        rc = cs__hub_error(rep, slow ? 504 : 502, "sensor", "sensor %s: %s", h->peers[sensor].name,
                           f[sensor].why);
    } else if (rc == 0) {
        rep->status = (int)f[sensor].status;
        rep->ctype = kept[0];
        for (size_t k = 0; k < sizeof(kept) / sizeof(kept[0]); k++)
            if (strcmp(f[sensor].header, kept[k]) == 0)
                rep->ctype = kept[k];
        if (strcmp(rep->ctype, "application/vnd.tcpdump.pcap") == 0)
            rep->filename = "capstream-packets";
        rep->body = f[sensor].body;
        rep->len = f[sensor].len;
        f[sensor].body = NULL;
    }
    cs_hub_fetch_free(f, h->n);
    return rc;
}

/* ---- the hub's /metrics ------------------------------------------------------------ */

int cs__hub_prometheus(const cs_hub *h, cs_server_reply *rep)
{
    cs_hub_fetch f[CS_HUB_SENSORS_MAX] = {0};
    size_t len = 0;
    char *body = NULL;
    FILE *o;
    int rc = cs_hub_fanout(&h->fan, h->peers, h->n, NULL, "/api/v1/status", f);

    if (rc == 0 && (o = open_memstream(&body, &len)) != NULL) {
        fputs("# HELP capstream_hub_sensor_up 1 if the sensor answered /api/v1/status in time.\n"
              "# TYPE capstream_hub_sensor_up gauge\n",
              o);
        for (int i = 0; i < h->n; i++)
            fprintf(o, "capstream_hub_sensor_up{sensor=\"%s\"} %d\n", h->peers[i].name,
                    f[i].ok && f[i].status == 200);
        rc = fclose(o) == 0 ? 0 : CS_ENOMEM;
    }
    cs_hub_fetch_free(f, h->n);
    if (rc < 0) {
        free(body);
        return rc;
    }
    rep->status = 200;
    rep->ctype = "text/plain; version=0.0.4; charset=utf-8";
    rep->body = body;
    rep->len = len;
    return 0;
}

/*
 * hub_int.h - what the hub's files share: the hub itself, replies, query
 * strings, and the ClickHouse lists (hub_ch.c).
 */
#ifndef CS_HUB_HUB_INT_H
#define CS_HUB_HUB_INT_H

#include "export/chclient.h"
#include "hub/fanout.h"
#include "hub/hub.h"

struct cs_hub {
    cs_hub_peer peers[CS_HUB_SENSORS_MAX];
    int n;
    char ca_file[1024]; /* "" for the system's CAs */
    int has_ch;
    cs_ch_target ch;
    cs_hub_fanout_cfg fan;
};

/* The value of parameter "key" in "p", or NULL. */
const char *cs__hub_param(const cs_server_params *p, const char *key);

/* Sets "rep" to a JSON error {"error": msg, "param": param}. */
int cs__hub_error(cs_server_reply *rep, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "path?..." of "p" without "sensor" (and, when "limit" is non-zero,
 * with that limit instead of the request's offset and limit). */
int cs__hub_path(const char *path, const cs_server_params *p, size_t limit, char *buf, size_t cap);

/* The answers of hub_fan.c: the sensors' statuses summed (/status), each
 * sensor's (/sensors), a list endpoint merged, the packets merged, one
 * sensor's answer passed on, and the hub's Prometheus text. "use" marks
 * the sensors asked. */
int cs__hub_status(const cs_hub *h, int per_sensor, cs_server_reply *rep);
int cs__hub_list(const cs_hub *h, const char *what, const cs_server_params *p, const int *use,
                 cs_server_reply *rep);
int cs__hub_packets(const cs_hub *h, const cs_server_params *p, const int *use,
                    cs_server_reply *rep);
int cs__hub_proxy(const cs_hub *h, int sensor, const char *url, const cs_server_params *p,
                  cs_server_reply *rep);
int cs__hub_prometheus(const cs_hub *h, cs_server_reply *rep);

/* Every asked sensor refused the request the same way (a bad parameter):
 * the index of one of them (its answer is the hub's), else -1. */
int cs__hub_all_refused(const cs_hub_fetch *f, const int *use, int n);

/* /api/v1/metrics or /series ("what") of every sensor, merged (hub_met.c). */
int cs__hub_metrics(const cs_hub *h, const char *what, const cs_server_params *p,
                    cs_server_reply *rep);

/* The answer of /api/v1/{measurements,messages,gaps} ("what") from the
 * hub's ClickHouse, with the sensor API's parameters (a bad one: 400). */
int cs__hub_ch_list(const cs_hub *h, const char *what, const cs_server_params *p,
                    cs_server_reply *rep);

#endif

/*
 * hub.h - one API over many sensors (`capstream hub`): the answers a
 * sensor's /api/v1 gives, for all of them at once.
 *
 *   /api/v1/status, /sensors      every sensor's status, summed, and which
 *                                 are up (the web UI's status line)
 *   /api/v1/measurements|messages|gaps
 *                                 from ClickHouse when the hub has one
 *                                 (--clickhouse), else asked of every sensor
 *                                 and merged; each row names its "sensor"
 *   /api/v1/alerts|sessions|feeds asked of every sensor and merged
 *   /api/v1/packets               every sensor's packets for the filter and
 *                                 range, one pcap merged in time order
 *   anything else, ?sensor=NAME   passed to that sensor as it is (a row's
 *                                 drill-down: /measurements/{id}?sensor=..,
 *                                 its /pcap, /messages/{id}, ...)
 *
 * A sensor that is down or slow never fails or holds an answer: every
 * fan-out has one deadline (cfg.timeout_ms), and what comes back says
 * which sensors are missing and why ("partial": true; for a pcap the
 * X-Capstream-Missing header).
 *
 * Threading: cs_hub_answer is called from many connection threads at
 * once; the hub is read-only after cs_hub_new.
 */
#ifndef CS_HUB_HUB_H
#define CS_HUB_HUB_H

#include "server/server.h"

#include <stdint.h>

#define CS_HUB_DEFAULT_TIMEOUT_MS 1500

typedef struct cs_hub cs_hub;

typedef struct cs_hub_cfg {
    const char *const *sensors; /* "NAME=URL" each, URL http[s]://HOST:PORT */
    int n_sensors;
    const char *const *sensor_tokens; /* "NAME=FILE": that sensor's bearer token */
    int n_sensor_tokens;
    const char *ca_file;    /* verify https sensors and ClickHouse against it */
    const char *clickhouse; /* "http[s]://HOST:PORT/DB" the sensors export to, or NULL */
    int64_t timeout_ms;     /* one fan-out's deadline (0: the default) */
} cs_hub_cfg;

/* Checks the configuration (names, URLs, token files); contacts nobody.
 * CS_EINVAL with a reason. */
int cs_hub_new(const cs_hub_cfg *cfg, cs_hub **out);

/* The server's api handler (server.h cs_server_api_fn); "hub" is a cs_hub. */
int cs_hub_answer(void *hub, const char *url, const cs_server_params *params, cs_server_reply *rep);

void cs_hub_free(cs_hub *h);

#endif

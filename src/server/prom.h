/*
 * prom.h - the Prometheus text exposition (format 0.0.4) of the daemon's
 * counters, gauges and per-pair latency histograms.
 *
 * The daemon renders it once a second on its pipeline thread (the one that
 * owns the cs_metrics) and hands the text to cs_live_set_prometheus(); the
 * HTTP server only serves the latest text, so a scrape never touches the
 * pipeline.
 */
#ifndef CS_SERVER_PROM_H
#define CS_SERVER_PROM_H

#include "analytics/metrics.h"
#include "server/live.h"

#include <stddef.h>

/*
 * Renders "st" and the since-start snapshot of "metrics" (may be NULL: only
 * the capture counters then; read through cs_metrics_snapshot(), so call it
 * on the thread that owns "metrics") into a cs_malloc'ed, NUL-terminated
 * "*text" of "*len" bytes. 0 or CS_ENOMEM.
 *
 * Families: capstream_build_info, capstream_up, capstream_capturing,
 * capstream_uptime_seconds, capstream_{packets,bytes,messages,
 * measurements}_total, capstream_drops_total{kind}, per series
 * capstream_tap_{packets,bytes}_total{tap}, capstream_proto_{messages,
 * errors}_total{proto}, capstream_pair_measurements_total{pair} and the
 * histogram capstream_pair_latency_seconds{pair,le}.
 */
int cs_prom_render(const cs_live_status *st, const cs_metrics *metrics, char **text, size_t *len);

#endif

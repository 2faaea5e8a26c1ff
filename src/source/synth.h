/*
 * synth.h - the synthetic source: trading-floor traffic made up in real time.
 *
 * A cs_source ("synth") that needs no root, no interface and no file. It
 * writes Ethernet/IPv4 frames of four kinds of traffic, in the spirit of
 * ../shared/tools/gentraffic.py:
 *
 *   FIX 4.4 order entry over TCP  NewOrderSingle -> ExecutionReport (ack
 *                                 latency log-normal ~35 us, 1% slow 1-5 ms),
 *                                 OrderCancelRequest -> ExecutionReport,
 *                                 Heartbeats
 *   HTTP/1.1 keep-alive over TCP  GET -> 200/404 (latency ~1 ms)
 *   DNS over UDP (RFC 1035)       A query -> answer, ~10% NXDOMAIN (rcode 3)
 *   ITCH 5.0 in MoldUDP64         Add/Execute/Delete to 239.1.1.1:26400
 *
 * Spec string: comma-separated key=value, all optional:
 *   rate=PPS   packets per second (default 5000)
 *   seed=N     PRNG seed (default 1); same seed + same t0 = same packets
 *   pace=0|1   1 (default): sleep so packets come at "rate" in real time,
 *              timestamps from CLOCK_REALTIME; 0: as fast as asked
 *   t0=NS      first timestamp when pace=0 (default 1767225600 s, 2026-01-01)
 *   limit=N    end (a batch with n == 0) after N packets, rounded up to the
 *              end of a transaction (default: never)
 */
#ifndef CS_SOURCE_SYNTH_H
#define CS_SOURCE_SYNTH_H

#include "source/source.h"

extern const cs_source_ops cs_source_synth_ops;

#endif

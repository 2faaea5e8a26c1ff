/*
 * synth.h - the synthetic source: trading-floor traffic made up in real time.
 *
 * A cs_source ("synth") that needs no root, no interface and no file. It
 * writes Ethernet/IPv4 frames of five kinds of traffic, in the spirit of
 * tools/gentraffic.py and tools/gentrading.py:
 *
 *   FIX 4.4 order entry over TCP  NewOrderSingle -> ExecutionReport (ack
 *                                 latency log-normal ~35 us, 1% slow 1-5 ms),
 *                                 OrderCancelRequest -> ExecutionReport,
 *                                 Heartbeats                  (untagged)
 *   HTTP/1.1 keep-alive over TCP  GET -> 200/404 (latency ~1 ms) (untagged)
 *   DNS over UDP (RFC 1035)       A query -> answer, ~10% NXDOMAIN (rcode 3)
 *                                                             (untagged)
 *   ITCH 5.0 in MoldUDP64         an A/B pair, session CSITCH0001: feed A
 *                                 to 233.54.12.111:26477, B to
 *                                 233.54.12.112:26478, same sequence
 *                                 numbers, heartbeats every 200 ms; one
 *                                 packet in ~200 lost on A, B or (one loss
 *                                 in nine) both
 *   OUCH 4.2 in SoupBinTCP 3.00   10.1.0.10:40100 -> 10.2.0.20:15000:
 *                                 login, Enter Order -> Accepted / Rejected,
 *                                 Executed, Cancel -> Canceled, heartbeats;
 *                                 orders a few us after a tick on their
 *                                 symbol (tick-to-trade)
 *
 * The trading traffic (ITCH, OUCH) is seen at two taps: every frame twice,
 * with an 802.1Q tag of VLAN 101 (edge) or 102 (inside), 2-3.4 us apart
 * (analyse it with --tap-by vlan and moldudp64.ports=26477,26478,
 * soupbintcp.ports=15000, as `capstream demo` does). Details in
 * synth_trading.c.
 *
 * Spec string: comma-separated key=value, all optional:
 *   rate=PPS   packets per second, every frame counted (both taps' copies
 *              too; default 5000)
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

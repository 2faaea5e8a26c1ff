#!/usr/bin/env python3
"""Synthetic trading network seen by two taps, as a nanosecond pcap, with ground truth.

    gentrading.py OUT.pcap --truth OUT.jsonl [--seconds S] [--seed N] [--scale K]
                  [--taps 1|2] [--bench] [--t0 EPOCH_S]
                  [--trailer metamako [--host-delay-ns N] [--host-jitter-ns N]
                   [--host-drift-ppm P] [--unsynced-every N]]
                  [--trailer metamako [--host-delay-ns D] [--host-jitter-ns J]
                   [--host-drift-ppm P] [--unsynced-every N]]

The same seed and options always write the same bytes (without --trailer,
the same bytes as before the option existed).

What is on the wire
-------------------
Two capture points merged by a tap aggregator that tags each input port with
one VLAN (run capstream with `--tap-by vlan`): VLAN 101 = tap 1 at the edge,
VLAN 102 = tap 2 inside. Every packet below is seen at both taps (one copy per
tap, identical bytes apart from the tag). The pcap record time is the true
capture time (nanosecond pcap, records in time order). Traffic from outside
(market data, venue replies, retransmissions) passes tap 1 first and tap 2
2-3.4 us later; traffic from inside (orders, re-requests) passes tap 2
first, tap 1 after.

With --trailer metamako the capture is the one a host behind a Metamako
(Arista 7130 MetaWatch) aggregator records: no VLAN tags; each frame is
padded with zeros to the 60-byte Ethernet minimum if shorter (as on the
wire), followed by its original FCS (the Ethernet CRC-32 of the frame as it
was, little-endian as on the wire) and the 12 bytes of the 16-byte trailer,
big-endian: seconds (4), nanoseconds (4), flags (1), source device (2),
source port (1). The trailer time is the true capture time (the time the
VLAN capture records); device 1, port 101 = tap 1 (edge), port 102 = tap 2
(inside); a tap's id is device*256 + port: 357 and 358, the ids the truth
uses (the mapping a trailer-aware capstream is to apply). Flags are
0x01 (original FCS valid): no trailer extensions (0x02), no duplicate
(0x04), and the timestamp-degraded bit 0x10 (the device clock not
synchronised to its time source) clear, except on every Nth frame (in
record order, frames N, 2N, ...) with --unsynced-every N (default 0: never),
whose flags are 0x11. tshark decodes the trailer with `--enable-heuristic
metamako_eth` (Wireshark 4.0 names bit 0x10 "reserved"; 4.2 on, "Timestamp
degraded"). The pcap record time is the host's clock, later than the true
time: host = true + --host-delay-ns (default 25000) + a jitter drawn from a
generator seeded by --seed, uniform in [0, --host-jitter-ns) (default
15000; 0 draws nothing) + (true - true time of the first record) *
--host-drift-ppm / 10^6 (default 0; truncated to whole ns), raised to the
previous record's host time + 1 when it would not be later than it. The
records are in true-time order (the order the VLAN capture has: the
aggregator delivers them so), and the host times strictly increase, so
record order and capture order are the same.

* MoldUDP64 1.00 carrying TotalView-ITCH 5.0, session SESSION, an A/B pair:
  feed A 10.9.0.1:26477 -> 233.54.12.111:26477, feed B 10.9.0.2:26478 ->
  233.54.12.112:26478, the same packets (same session, sequence numbers and
  messages) on both. B is 1-8 us behind A on most packets and 1-5 us ahead
  on about one in eight. Capture times of feed A packets are even and of
  feed B odd, so no A and B packet ever share a timestamp. Packets hold 1-12
  ITCH messages: first S (start of messages), R (Stock Directory) for every
  symbol and H (trading) for every symbol, then A F E C X D U P and some S
  (none), H Y L I; every message's Stock Locate is its instrument's (0 for
  S), and order events use the locate of the order they act on. Traffic
  comes in bursts of 20 ms; in each 1.5 ms pause both feeds send a heartbeat
  (count 0, sequence = next expected). Loss happens upstream of both taps
  (a lost packet is missing at both): on A only, on B only and on both, in
  the middle of bursts and at the end of a burst (then the pause's heartbeat
  is what reveals it). The session ends with three End of Session packets
  (count 0xFFFF, sequence = next expected) on each feed. One loss on both
  feeds is re-requested: the feed handler 10.1.0.30:40001 sends a 20-byte
  request (session, first sequence, count) to the re-request server
  10.9.0.5:26500, which answers with one ordinary downstream packet
  (unicast, source port 26500) carrying the lost messages. Bind
  moldudp64 to 26477, 26478 and 26500 to see all of it.
  Symbol ZVZZT has only its R and H messages at the start.
* SoupBinTCP 3.00 order entry from client 10.1.0.10: OUCH 4.2 on
  10.1.0.10:40100 -> 10.2.0.20:15000 (session OUCH42S001, sequenced data
  from 1) and OUCH 5.0 on 10.1.0.10:40101 -> 10.2.0.20:15001 (session
  OUCH50S001, sequenced data from 1001). Each: TCP handshake, Login Request
  -> Login Accepted, System Event, client and server heartbeats every
  100 ms, Enter Order -> Accepted (8% Rejected), Executed fills (some in
  the same segment as the Accepted), Cancel -> Canceled, unsolicited
  Canceled, Replace chains (O1 -U-> O2 -U-> O3, often then cancelled),
  3 Enter Orders at the end that get no reply, then Logout Request and FIN.
  OUCH 4.2 Enter Order is the 49-byte form (with Customer Type); OUCH 5.0
  messages carry a 6-byte appendage (Firm, tag 2). TCP quirks on each
  connection: an Enter Order split over two segments 5 us apart (and one
  split inside the 2-byte length prefix), two Enter Orders coalesced in one
  segment, two more coalesced then split and the two segments captured in
  reverse order, an Accepted whose segment is retransmitted 200 us later,
  and an Accepted + Executed coalesced in one segment. A segment acknowledges
  only the bytes that can have reached its sender (sent a hop earlier), so
  no tap ever sees an ACK ahead of the data it covers.
* Tick-to-trade: each Enter Order (except those on ZVZZT) is sent 4-60 us
  (at tap 2) after the earliest tap-2 sighting of a chosen ITCH message on
  its symbol.

Truth file (JSONL)
------------------
One JSON object per line (keys sorted), lines sorted by (kind, ts, tap,
key) where ts is req_ts_ns or ts_ns. All times are capture times in integer
ns since the epoch: with --trailer, the trailer times (true times), never the
pcap record's host times. `tap` (and req_tap, resp_tap) is the VLAN id (101
or 102), or with --trailer device*256 + port (357 or 358). A feed is named
"<dst ip>:<dst port>" ("233.54.12.111:26477" A, "233.54.12.112:26478" B).
"Data packet" below means a MoldUDP64 packet on a feed with 1..0xFFFE
messages (not a heartbeat, end of session, request or retransmission).

kind "gap": a hole in one feed's sequence at one tap.
  tap, feed, session, first_seq, count (messages), ts_ns = capture time of
  the packet that revealed it (the first packet of that feed at that tap,
  data, heartbeat or end of session, whose sequence number is beyond
  first_seq + count - 1), recovered = true when every missing sequence
  number was seen at the same tap, at any time, in a data packet of the
  other feed or in a retransmission, else false.
  A feed's expected sequence starts at 1; a data packet moves it to
  seq + count, a heartbeat or end of session to its seq.
kind "abgap": a maximal run of sequence numbers missing on both feeds at one
  tap. tap, session, first_seq, count, ts_ns = the later of the two feeds'
  "gap" ts_ns that cover it, recovered = true when a retransmission seen at
  that tap carries every one of them.
kind "ab": a data packet seen on both feeds at one tap. key =
  "<session>:<seq of its first message>", tap, req_ts_ns = the earlier copy,
  resp_ts_ns = the later, winner = the feed of the earlier copy, lead_ns =
  resp_ts_ns - req_ts_ns (> 0).
kind "hop": one packet or request seen at both taps. key = "<session>:<seq>"
  for a data packet (then also feed), "O:<order>", "X:<order>" or
  "U:<order>" for an OUCH Enter, Cancel or Replace request (then also conn);
  req_tap/req_ts_ns = the first tap's sighting, resp_tap/resp_ts_ns = the
  second's, latency_ns = their difference. Data packets go 101 -> 102,
  OUCH requests 102 -> 101.
kind "ouch": a request and its reply at one tap. key = "O:<order>" (Enter
  Order), "X:<order>" (Cancel), "U:<order>" (Replace; <order> is the order
  being replaced), <order> = the OUCH 4.2 order token without its space
  padding or the OUCH 5.0 UserRefNum in decimal. tap, conn
  ("10.1.0.10:40100>10.2.0.20:15000"), version ("4.2" or "5.0"),
  req_ts_ns, resp_ts_ns = capture times at that tap of the packets that
  carry the first byte (the 2-byte length) of the request's and the reply's
  SoupBinTCP packets (the earliest such packet: a retransmission never
  counts, a reordered segment counts at its own time), resp_type =
  "Accepted", "Rejected", "Canceled" or "Replaced", latency_ns.
kind "ouch_unmatched": a request never answered. key, tap, conn, version,
  req_ts_ns.
kind "t2t": tick-to-trade of one Enter Order at one tap. key = the order's
  key ("O:<order>"), tap, resp_ts_ns = the order's req_ts_ns at that tap,
  req_ts_ns = capture time at that tap of the most recent ITCH message about
  the same instrument (same symbol, by the Stock Directory's locate) seen
  at that tap strictly before resp_ts_ns with resp_ts_ns - req_ts_ns <=
  1 000 000 (data packets of both feeds and retransmissions count; among
  messages of one packet the last one wins), itch = that message's
  "<session>:<seq>", itch_type (its ITCH type letter), feed (the feed it was
  seen on, or "retransmission"), symbol, latency_ns. An order with no such
  message has no t2t record at that tap.
kind "retrans": the re-request. tap, session, first_seq, count, req_ts_ns
  = the request's capture time, resp_ts_ns = the retransmission's.
kind "soup": every SoupBinTCP packet at every tap. tap, conn, dir ("in" =
  client to venue, "out"), n (its rank in that direction of the
  connection, from 0, in stream order), ts_ns (capture time of its first
  byte, as for "ouch"), type (SoupBinTCP packet type letter), msg (OUCH
  message type letter for U and S packets, else absent), seq (sequence
  number of S packets, from Login Accepted), key (for requests their key;
  for replies the key of the request they answer; for Executed and
  unsolicited Canceled "O:<order>" of the order they are about).

kind "clock" (with --trailer only): one per tap. tap, packets (the tap's
  frames), host_delay_p50_ns and host_delay_p99_ns = the nearest-rank 50th
  and 99th percentiles of (pcap record time - trailer time) over the tap's
  frames: with the n differences sorted ascending, the p-th percentile is
  the one of rank ceil(p/100 * n), counted from 1 (an actual difference,
  no interpolation).

Sort order of the lines: kind, then req_ts_ns (or ts_ns), tap (or req_tap),
conn, dir, n, key, feed.
"""
import argparse
import bisect
import json
import os
import random
import struct
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gentraffic as gt  # noqa: E402  (the project's generator: Wire, Host, TcpConn, Capture)

TAP_EDGE, TAP_INSIDE = 101, 102
SESSION = b"CSITCH0001"
FEED_A = ("233.54.12.111", 26477)
FEED_B = ("233.54.12.112", 26478)
FEED_NAMES = ("%s:%d" % FEED_A, "%s:%d" % FEED_B)
RETRANS = "retransmission"
REREQ_SERVER = ("10.9.0.5", 26500)
REQUESTER = ("10.1.0.30", 40001)
VENUE = "10.2.0.20"
CLIENT = "10.1.0.10"
SYMBOLS = [b"AAPL", b"MSFT", b"NVDA", b"AMZN", b"GOOG", b"TSLA", b"META", b"JPM", b"ZVZZT"]
QUIET = b"ZVZZT"  # only R and H at the start: orders on it have no tick-to-trade
BASE_PKTS_PER_S = 20_000  # per feed at --scale 1
BURST_NS = 20_000_000
PAUSE_NS = 1_500_000
T2T_WINDOW_NS = 1_000_000
ORDERS_PER_S = 300  # per OUCH session


def vlan_tag(frame, vid):
    """One 802.1Q tag inserted after the MAC addresses of an untagged frame."""
    return frame[:12] + struct.pack("!HH", 0x8100, vid) + frame[12:]


class VlanCapture(gt.Capture):
    """The capture the aggregator writes when it tags each tap with its VLAN."""

    def add_tap(self, ts, tap, frame):
        self.add(ts, vlan_tag(frame, tap))


METAMAKO_DEVICE = 1    # the aggregator's device id; a tap is its port (101 edge, 102 inside)
MM_ORIG_FCS_VALID = 0x01  # flags: the original FCS (first 4 trailer bytes) was valid
MM_TS_DEGRADED = 0x10     # flags: timestamp degraded (device clock not synchronised)
ETH_MIN_FRAME = 60     # without FCS: shorter frames are padded on the wire


def metamako_tap(port, device=METAMAKO_DEVICE):
    """A trailer's (device, port) as a tap id: device * 256 + port."""
    return device * 256 + port


def metamako_frame(frame, ts, flags, device, port):
    """frame padded to the Ethernet minimum, its FCS, then the 16-byte trailer."""
    if len(frame) < ETH_MIN_FRAME:
        frame += bytes(ETH_MIN_FRAME - len(frame))
    return frame + struct.pack("<I", zlib.crc32(frame)) + struct.pack(
        "!IIBHB", ts // 10**9, ts % 10**9, flags, device, port)


def nearest_rank(sorted_values, pct):
    """The nearest-rank percentile: the value of rank ceil(pct/100 * n) (from 1)."""
    n = len(sorted_values)
    return sorted_values[max(1, (pct * n + 99) // 100) - 1]


class MetamakoCapture:
    """The capture a host behind a Metamako (Arista 7130 MetaWatch) aggregator
    writes: each frame untagged, with the trailer holding its true time and
    tap; the pcap record holding the host's clock (module docstring)."""

    def __init__(self, seed, delay_ns, jitter_ns, drift_ppm, unsynced_every):
        self.pkts = []  # (true ts, n, tap port, frame)
        self.rng = random.Random("host clock %d" % seed)
        self.delay_ns, self.jitter_ns = delay_ns, jitter_ns
        self.drift_ppm, self.unsynced_every = drift_ppm, unsynced_every
        self.records = None

    def add_tap(self, ts, tap, frame):
        self.pkts.append((ts, len(self.pkts), tap, frame))

    def finish(self):
        """[(host ts, true ts, tap port, flags, frame)] in true-time order (as
        gt.Capture sorts), the host times strictly increasing."""
        if self.records is None:
            self.pkts.sort(key=lambda p: (p[0], p[1]))
            out = []
            prev = None
            t_first = self.pkts[0][0] if self.pkts else 0
            for k, (ts, _, tap, frame) in enumerate(self.pkts, 1):
                jitter = self.rng.randrange(self.jitter_ns) if self.jitter_ns else 0
                drift = int((ts - t_first) * self.drift_ppm / 1e6)
                host = ts + self.delay_ns + jitter + drift
                if prev is not None:
                    host = max(host, prev + 1)
                prev = host
                flags = MM_ORIG_FCS_VALID
                if self.unsynced_every and k % self.unsynced_every == 0:
                    flags |= MM_TS_DEGRADED
                out.append((host, ts, tap, flags, frame))
            self.records = out
        return self.records

    def clock_truth(self):
        """One "clock" record per tap: nearest-rank p50/p99 of host - true time."""
        by_tap = {}
        for host, ts, tap, _, _ in self.finish():
            by_tap.setdefault(tap, []).append(host - ts)
        out = []
        for tap, d in sorted(by_tap.items()):
            d.sort()
            out.append({"kind": "clock", "tap": metamako_tap(tap), "packets": len(d),
                        "host_delay_p50_ns": nearest_rank(d, 50),
                        "host_delay_p99_ns": nearest_rank(d, 99)})
        return out

    def write(self, path):
        cap = gt.Capture()  # its header and record format; the host times keep the order
        for host, ts, tap, flags, frame in self.finish():
            cap.add(host, metamako_frame(frame, ts, flags, METAMAKO_DEVICE, tap))
        return cap.write(path)


def truth_to_metamako(r):
    """A truth record with its taps renamed from ports to capstream's tap ids."""
    for k in ("tap", "req_tap", "resp_tap"):
        if k in r:
            r[k] = metamako_tap(r[k])
    return r


class FrameSink:
    """Stands in for a Capture: keeps the frames a Wire or TcpConn builds."""

    def __init__(self):
        self.frames = []

    def add(self, ts, frame):
        self.frames.append((ts, frame))


def multicast_host(addr, n):
    h = gt.Host(addr, n)
    b = h.raw
    h.mac = bytes([0x01, 0x00, 0x5E, b[1] & 0x7F, b[2], b[3]])
    return h


# ---------------------------------------------------------------- ITCH 5.0

class Itch:
    """ITCH 5.0 message builder with per-symbol order books (live refs only)."""

    def __init__(self, rnd):
        self.rnd = rnd
        self.locate = {s: i + 1 for i, s in enumerate(SYMBOLS)}
        self.symbol_of = {i + 1: s for i, s in enumerate(SYMBOLS)}
        self.live = {s: [] for s in SYMBOLS}
        self.ref = 0
        self.match = 0
        self.tracking = 0

    def hdr(self, typ, loc, tns):
        self.tracking = (self.tracking + 1) & 0xFFFF
        return typ + struct.pack("!HH", loc, self.tracking) + struct.pack(
            "!Q", tns % (86400 * 10**9))[2:]

    @staticmethod
    def stock(sym):
        return sym.ljust(8)

    def system_event(self, tns, code):
        return (b"S", 0, self.hdr(b"S", 0, tns) + code)

    def directory(self, sym, tns):
        loc = self.locate[sym]
        body = self.stock(sym) + b"QN" + struct.pack("!I", 100) + b"NCZ PN 1N" + struct.pack(
            "!I", 0) + b"N"
        return (b"R", loc, self.hdr(b"R", loc, tns) + body)

    def trading_action(self, sym, tns):
        loc = self.locate[sym]
        return (b"H", loc, self.hdr(b"H", loc, tns) + self.stock(sym) + b"T " + b"    ")

    def order_event(self, tns):
        rnd = self.rnd
        sym = rnd.choice(SYMBOLS[:-1])
        loc = self.locate[sym]
        live = self.live[sym]
        r = rnd.random()
        price = 1_000_000 + rnd.randrange(100_000)
        if r < 0.36 or not live:
            self.ref += 1
            live.append(self.ref)
            side = rnd.choice(b"BS")
            body = struct.pack("!QcI8sI", self.ref, bytes([side]), 100 * rnd.randrange(1, 10),
                               self.stock(sym), price)
            if r < 0.06:
                return (b"F", loc, self.hdr(b"F", loc, tns) + body + b"CSTR")
            return (b"A", loc, self.hdr(b"A", loc, tns) + body)
        if r < 0.48:
            self.match += 1
            return (b"E", loc, self.hdr(b"E", loc, tns) + struct.pack(
                "!QIQ", rnd.choice(live), 100, self.match))
        if r < 0.52:
            self.match += 1
            return (b"C", loc, self.hdr(b"C", loc, tns) + struct.pack(
                "!QIQcI", rnd.choice(live), 100, self.match, b"Y", price))
        if r < 0.59:
            return (b"X", loc, self.hdr(b"X", loc, tns) + struct.pack(
                "!QI", rnd.choice(live), 100))
        if r < 0.76:
            ref = live.pop(rnd.randrange(len(live)))
            return (b"D", loc, self.hdr(b"D", loc, tns) + struct.pack("!Q", ref))
        if r < 0.85:
            i = rnd.randrange(len(live))
            self.ref += 1
            old, live[i] = live[i], self.ref
            return (b"U", loc, self.hdr(b"U", loc, tns) + struct.pack(
                "!QQII", old, self.ref, 200, price))
        if r < 0.92:
            self.match += 1
            return (b"P", loc, self.hdr(b"P", loc, tns) + struct.pack(
                "!QcI8sIQ", 0, b"B", 100, self.stock(sym), price, self.match))
        if r < 0.94:
            return (b"H", loc, self.hdr(b"H", loc, tns) + self.stock(sym) + b"T " + b"    ")
        if r < 0.96:
            return (b"Y", loc, self.hdr(b"Y", loc, tns) + self.stock(sym) + b"0")
        if r < 0.98:
            return (b"L", loc, self.hdr(b"L", loc, tns) + b"CSMM" + self.stock(sym) + b"YNA")
        return (b"I", loc, self.hdr(b"I", loc, tns) + struct.pack(
            "!QQc8sIIIcc", 1000, 200, b"B", self.stock(sym), price, price, price, b"O", b"L"))


ITCH_LEN = {b"S": 12, b"R": 39, b"H": 25, b"Y": 20, b"L": 26, b"A": 36, b"F": 40, b"E": 31,
            b"C": 36, b"X": 23, b"D": 19, b"U": 35, b"P": 44, b"I": 50}


def mold_packet(seq, msgs):
    """MoldUDP64 downstream packet; msgs are (type, locate, bytes)."""
    out = [SESSION, struct.pack("!QH", seq, len(msgs))]
    for _, _, m in msgs:
        out.append(struct.pack("!H", len(m)))
        out.append(m)
    return b"".join(out)


# ---------------------------------------------------------------- feeds

class FeedPacket:
    __slots__ = ("t_a", "t_b", "seq", "count", "msgs", "lost_a", "lost_b")

    def __init__(self, t_a, t_b, seq, count, msgs):
        self.t_a, self.t_b, self.seq, self.count, self.msgs = t_a, t_b, seq, count, msgs
        self.lost_a = self.lost_b = False


def plan_feed(rnd, itch, t0, dur, pkts_per_s):
    """The packets the publisher sends: data, heartbeats, end of session.

    t_a/t_b are the tap-1 capture times of the A and B copies (A even, B odd).
    Losses are marked on the packets; the returned dict names the re-requested
    both-feeds loss (first_seq, count) and the packet after which it is asked."""
    pkts = []
    seq = 1
    last_b = [0]

    def b_time(t_a):
        off = rnd.randrange(1_000, 8_000) if rnd.random() >= 0.125 else -rnd.randrange(1_000, 5_000)
        t_b = max(t_a + off, last_b[0] + 501)
        t_b |= 1
        last_b[0] = t_b
        return t_b

    def data(t, msgs):
        nonlocal seq
        t &= ~1
        p = FeedPacket(t, b_time(t), seq, len(msgs), msgs)
        seq += len(msgs)
        pkts.append(p)
        return p

    def control(t, count):
        t &= ~1
        pkts.append(FeedPacket(t, b_time(t), seq, count, []))

    t = t0 + 10_000
    start = [itch.system_event(t, b"O")] + [itch.directory(s, t) for s in SYMBOLS] + [
        itch.trading_action(s, t) for s in SYMBOLS]
    while start:
        n = rnd.randint(1, 12)
        data(t, start[:n])
        start = start[n:]
        t += 2_000
    end = t0 + dur - 2_000_000
    mean_gap = 1e9 / pkts_per_s
    burst = 0
    while t < end:
        burst_end = min(t + BURST_NS, end)
        first = len(pkts)
        while True:
            t += int(rnd.expovariate(1.0) * mean_gap) + 1_000
            if t >= burst_end:
                break
            data(t, [itch.order_event(t) for _ in range(rnd.randint(1, 12))])
        mark_losses(rnd, pkts, first, burst)
        burst += 1
        control(burst_end + PAUSE_NS // 2, 0)
        t = burst_end + PAUSE_NS
    t = max(t, end)
    data(t, [itch.system_event(t, b"C")])
    for k in range(3):
        control(t + 50_000 + 100_000 * k, 0xFFFF)
    return pkts


def mark_losses(rnd, pkts, first, burst):
    """Losses in one burst (pkts[first:]): planned ones in the first bursts, then rare ones."""
    data = [p for p in pkts[first:] if p.count]
    n = len(data)
    if n < 12:
        return

    def lose(p, a, b):
        p.lost_a |= a
        p.lost_b |= b

    if burst == 0:
        lose(data[n // 5], True, False)           # A only
        for p in data[2 * n // 5:2 * n // 5 + 2]:
            lose(p, False, True)                  # B only, two packets
        lose(data[3 * n // 5], True, True)        # both: re-requested
    elif burst == 1:
        for p in data[n // 2:n // 2 + 3]:
            lose(p, True, True)                   # both, three packets, not recovered
        for p in data[-2:]:
            lose(p, True, False)                  # A only at the end: heartbeat reveals it
    elif burst == 2:
        lose(data[-1], True, True)                # both at the end: heartbeat reveals it
        lose(data[n // 3], False, True)
    else:
        for p in data:
            r = rnd.random()
            if r < 0.0004:
                lose(p, True, False)
            elif r < 0.0008:
                lose(p, False, True)
            elif r < 0.001:
                lose(p, True, True)


class Sighting:
    """One copy of a MoldUDP64 packet at one tap."""
    __slots__ = ("ts", "feed", "pkt")

    def __init__(self, ts, feed, pkt):
        self.ts, self.feed, self.pkt = ts, feed, pkt


def hop_ns(rnd, base):
    return base + 2 * rnd.randrange(200)  # even: keeps A even and B odd at tap 2


def emit_feeds(rnd, cap, pkts, taps):
    """Writes both feeds at every tap; returns sightings[tap] = [Sighting] in time order."""
    sink = FrameSink()
    wire = gt.Wire(sink)
    src = (gt.Host("10.9.0.1", 901), gt.Host("10.9.0.2", 902))
    dst = (multicast_host(FEED_A[0], 911), multicast_host(FEED_B[0], 912))
    ports = (FEED_A[1], FEED_B[1])
    sightings = {tap: [] for tap in taps}
    for p in pkts:
        payload = mold_packet(p.seq, p.msgs) if p.count != 0xFFFF or p.msgs else None
        if payload is None:
            payload = SESSION + struct.pack("!QH", p.seq, 0xFFFF)
        for f, (t1, lost) in enumerate(((p.t_a, p.lost_a), (p.t_b, p.lost_b))):
            if lost:
                continue
            wire.udp(t1, src[f], ports[f], dst[f], ports[f], payload)
            frame = sink.frames.pop()[1]
            hop = hop_ns(rnd, 2_000)
            for tap in taps:
                ts = t1 if tap == TAP_EDGE else t1 + hop
                cap.add_tap(ts, tap, frame)
                sightings[tap].append(Sighting(ts, f, p))
    for tap in taps:
        sightings[tap].sort(key=lambda s: (s.ts, s.feed))
    return sightings


def rerequest(rnd, cap, pkts, sightings, taps):
    """The re-request of the first loss on both feeds, and its retransmission.

    Returns (request record, retransmitted FeedPacket, {tap: Sighting}) or None."""
    both = [p for p in pkts if p.count and p.lost_a and p.lost_b]
    if not both:
        return None
    lost = both[0]
    # the feed handler asks 40 us after the next data packet on A reaches tap 2
    after = next(p for p in pkts if p.seq > lost.seq and p.count and not p.lost_a)
    t_req = after.t_a + 2_400 + 40_000
    sink = FrameSink()
    wire = gt.Wire(sink)
    cli, srv = gt.Host(REQUESTER[0], 930), gt.Host(REREQ_SERVER[0], 905)
    req = SESSION + struct.pack("!QH", lost.seq, lost.count)
    wire.udp(t_req, cli, REQUESTER[1], srv, REREQ_SERVER[1], req)
    t_resp = t_req + 60_000
    retrans = FeedPacket(t_resp, t_resp, lost.seq, lost.count, lost.msgs)
    wire.udp(t_resp, srv, REREQ_SERVER[1], cli, REQUESTER[1], mold_packet(lost.seq, lost.msgs))
    (_, f_req), (_, f_resp) = sink.frames
    seen = {}
    req_seen = {}
    hop_in, hop_out = hop_ns(rnd, 3_000), hop_ns(rnd, 2_000)
    for tap in taps:
        tq = t_req + (0 if tap == TAP_INSIDE or len(taps) == 1 else hop_in)
        tr = t_resp + (0 if tap == TAP_EDGE or len(taps) == 1 else hop_out)
        cap.add_tap(tq, tap, f_req)
        cap.add_tap(tr, tap, f_resp)
        seen[tap] = Sighting(tr, 2, retrans)
        req_seen[tap] = tq
    return req_seen, retrans, seen


# ---------------------------------------------------------------- feed truth

def feed_truth(sightings, rr, taps):
    out = []
    retrans_seen = rr[2] if rr else {}
    for tap in taps:
        by_feed = ([], [])
        for s in sightings[tap]:
            by_feed[s.feed].append(s)
        covered = [set(), set()]  # seqs carried by data packets of each feed at this tap
        for f in (0, 1):
            for s in by_feed[f]:
                if s.pkt.count and s.pkt.count != 0xFFFF:
                    covered[f].update(range(s.pkt.seq, s.pkt.seq + s.pkt.count))
        re_cov = set()
        if tap in retrans_seen:
            p = retrans_seen[tap].pkt
            re_cov.update(range(p.seq, p.seq + p.count))
        gaps = ([], [])
        for f in (0, 1):
            expected = 1
            for s in by_feed[f]:
                p = s.pkt
                if p.seq > expected:
                    missing = range(expected, p.seq)
                    rec = all(q in covered[1 - f] or q in re_cov for q in missing)
                    gaps[f].append((expected, p.seq - expected, s.ts))
                    out.append({"kind": "gap", "tap": tap, "feed": FEED_NAMES[f],
                                "session": SESSION.decode(), "first_seq": expected,
                                "count": p.seq - expected, "ts_ns": s.ts, "recovered": rec})
                if p.count == 0 or p.count == 0xFFFF:
                    expected = max(expected, p.seq)
                else:
                    expected = max(expected, p.seq + p.count)
        out += abgaps(tap, gaps, re_cov)
        out += ab_records(tap, by_feed)
    if len(taps) == 2:
        out += feed_hops(sightings)
    if rr:
        req_seen, p, seen = rr
        for tap in taps:
            out.append({"kind": "retrans", "tap": tap, "session": SESSION.decode(),
                        "first_seq": p.seq, "count": p.count, "req_ts_ns": req_seen[tap],
                        "resp_ts_ns": seen[tap].ts})
    return out


def abgaps(tap, gaps, re_cov):
    """Runs missing on both feeds: the intersections of A's and B's gaps."""
    out = []
    for a_first, a_n, a_ts in gaps[0]:
        for b_first, b_n, b_ts in gaps[1]:
            lo, hi = max(a_first, b_first), min(a_first + a_n, b_first + b_n)
            if lo < hi:
                out.append({"kind": "abgap", "tap": tap, "session": SESSION.decode(),
                            "first_seq": lo, "count": hi - lo, "ts_ns": max(a_ts, b_ts),
                            "recovered": all(q in re_cov for q in range(lo, hi))})
    return out


def ab_records(tap, by_feed):
    out = []
    first = {}
    for f in (0, 1):
        for s in by_feed[f]:
            if s.pkt.count and s.pkt.count != 0xFFFF:
                first.setdefault(s.pkt.seq, []).append(s)
    for seq, copies in first.items():
        if len(copies) != 2:
            continue
        early, late = sorted(copies, key=lambda s: s.ts)
        out.append({"kind": "ab", "key": "%s:%d" % (SESSION.decode(), seq), "tap": tap,
                    "req_ts_ns": early.ts, "resp_ts_ns": late.ts,
                    "winner": FEED_NAMES[early.feed], "lead_ns": late.ts - early.ts})
    return out


def feed_hops(sightings):
    out = []
    edge = {(s.feed, s.pkt.seq): s.ts for s in sightings[TAP_EDGE]
            if s.pkt.count and s.pkt.count != 0xFFFF}
    for s in sightings[TAP_INSIDE]:
        if not s.pkt.count or s.pkt.count == 0xFFFF:
            continue
        t1 = edge[(s.feed, s.pkt.seq)]
        out.append({"kind": "hop", "key": "%s:%d" % (SESSION.decode(), s.pkt.seq),
                    "feed": FEED_NAMES[s.feed], "req_tap": TAP_EDGE, "resp_tap": TAP_INSIDE,
                    "req_ts_ns": t1, "resp_ts_ns": s.ts, "latency_ns": s.ts - t1})
    return out


# ---------------------------------------------------------------- OUCH / SoupBinTCP

def soup(typ, payload=b""):
    return struct.pack("!H", 1 + len(payload)) + typ + payload


def ts8(tns):
    return struct.pack("!Q", tns % (86400 * 10**9))


class Order:
    """One order identity: a 4.2 token or a 5.0 UserRefNum, given when first sent."""
    __slots__ = ("sym", "side", "qty", "price", "ident", "cl")

    def __init__(self, sym, side, qty, price):
        self.sym, self.side, self.qty, self.price = sym, side, qty, price
        self.ident = None
        self.cl = None


class Ouch:
    """Encoders for one OUCH version. ident() names orders in send order."""

    def __init__(self, version):
        self.version = version
        self.next_ident = 1

    def name(self, o):
        if o.ident is None:
            n = self.next_ident
            self.next_ident += 1
            o.ident = ("T42%07d" % n) if self.version == "4.2" else n
            o.cl = b"CL%07d" % n
        return o

    def key(self, o):
        return str(o.ident)

    def token(self, o):
        return str(o.ident).encode().ljust(14)

    def enter(self, o):
        o = self.name(o)
        if self.version == "4.2":
            return b"O" + self.token(o) + o.side + struct.pack("!I", o.qty) + o.sym.ljust(8) + \
                struct.pack("!II", o.price, 99998) + b"CSTR" + b"YAN" + struct.pack("!I", 0) + b"NR"
        return b"O" + struct.pack("!IcI", o.ident, o.side, o.qty) + o.sym.ljust(8) + \
            struct.pack("!Q", o.price) + b"0YANN" + o.cl.ljust(14) + self.appendage()

    def replace(self, old, new):
        new = self.name(new)
        if self.version == "4.2":
            return b"U" + self.token(old) + self.token(new) + struct.pack(
                "!III", new.qty, new.price, 99998) + b"YN" + struct.pack("!I", 0)
        return b"U" + struct.pack("!IIIQ", old.ident, new.ident, new.qty, new.price) + b"0YN" + \
            new.cl.ljust(14) + struct.pack("!H", 0)

    def cancel(self, o):
        if self.version == "4.2":
            return b"X" + self.token(o) + struct.pack("!I", 0)
        return b"X" + struct.pack("!II", o.ident, 0)

    @staticmethod
    def appendage():
        firm = b"\x05\x02CSTR"
        return struct.pack("!H", len(firm)) + firm

    def accepted(self, tns, o, ref):
        if self.version == "4.2":
            return b"A" + ts8(tns) + self.token(o) + o.side + struct.pack("!I", o.qty) + \
                o.sym.ljust(8) + struct.pack("!II", o.price, 99998) + b"CSTR" + b"Y" + \
                struct.pack("!Q", ref) + b"AN" + struct.pack("!I", 0) + b"NL" + b" "
        return b"A" + ts8(tns) + struct.pack("!IcI", o.ident, o.side, o.qty) + o.sym.ljust(8) + \
            struct.pack("!Q", o.price) + b"0Y" + struct.pack("!Q", ref) + b"ANNL" + \
            o.cl.ljust(14) + self.appendage()

    def replaced(self, tns, old, new, ref):
        if self.version == "4.2":
            return b"U" + ts8(tns) + self.token(new) + new.side + struct.pack("!I", new.qty) + \
                new.sym.ljust(8) + struct.pack("!II", new.price, 99998) + b"CSTR" + b"Y" + \
                struct.pack("!Q", ref) + b"AN" + struct.pack("!I", 0) + b"NL" + self.token(old) + b" "
        return b"U" + ts8(tns) + struct.pack("!IIcI", old.ident, new.ident, new.side, new.qty) + \
            new.sym.ljust(8) + struct.pack("!Q", new.price) + b"0Y" + struct.pack("!Q", ref) + \
            b"ANNL" + new.cl.ljust(14) + self.appendage()

    def canceled(self, tns, o, reason):
        if self.version == "4.2":
            return b"C" + ts8(tns) + self.token(o) + struct.pack("!I", o.qty) + reason
        return b"C" + ts8(tns) + struct.pack("!II", o.ident, o.qty) + reason

    def executed(self, tns, o, qty, match):
        if self.version == "4.2":
            return b"E" + ts8(tns) + self.token(o) + struct.pack("!II", qty, o.price) + b"A" + \
                struct.pack("!Q", match)
        return b"E" + ts8(tns) + struct.pack("!IIQ", o.ident, qty, o.price) + b"A" + \
            struct.pack("!Q", match) + struct.pack("!H", 0)

    def rejected(self, tns, o):
        if self.version == "4.2":
            return b"J" + ts8(tns) + self.token(o) + b"S"
        return b"J" + ts8(tns) + struct.pack("!IH", o.ident, 1) + o.cl.ljust(14)

    @staticmethod
    def system_event(tns):
        return b"S" + ts8(tns) + b"S"


OUCH_LEN = {"4.2": {"O": 49, "U": 47, "X": 19, "A": 66, "R": 80, "C": 28, "E": 40, "J": 24},
            "5.0": {"O": 53, "U": 40, "X": 9, "A": 70, "R": 74, "C": 18, "E": 36, "J": 29}}


class Item:
    """One SoupBinTCP packet to send; encoded lazily so order names follow send order.

    kind: "req" (O/U/X: opens a pair), "resp" (closes pair "req"), or "other"."""
    __slots__ = ("soup_type", "make", "kind", "req", "resp_type", "order", "key", "data",
                 "offset", "ts", "msg", "seq", "n")

    def __init__(self, soup_type, make, kind="other", req=None, resp_type=None, order=None):
        self.soup_type, self.make, self.kind, self.req = soup_type, make, kind, req
        self.resp_type, self.order = resp_type, order
        self.key = None
        self.ts = {}
        self.msg = None
        self.seq = None


class Send:
    """Items written by one side in one TcpConn.send() call."""
    __slots__ = ("ts", "dir", "items", "split", "gap", "reorder", "retransmit")

    def __init__(self, ts, d, items, split=None, gap=1_000, reorder=False, retransmit=False):
        self.ts, self.dir, self.items = ts, d, items
        self.split, self.gap, self.reorder, self.retransmit = split, gap, reorder, retransmit


def plan_session(rnd, ouch, t_login, t_end, triggers, quiet_times):
    """Every Send of one OUCH session, in no particular order.

    triggers: [(tap-2 order time, symbol)]; quiet_times: times of orders on ZVZZT."""
    sends = []
    match = [5000]
    ref = [700000]

    def venue_lat():
        return 8_000 + int(rnd.lognormvariate(0, 0.4) * 20_000)

    def req(ts, o, make, kind_key, **kw):
        it = Item(b"U", make, "req", order=o)
        it.key = kind_key
        sends.append(Send(ts, 0, [it], **kw))
        return it

    def resp(ts, req_item, make, resp_type, o, extra=(), **kw):
        it = Item(b"S", make, "resp", req=req_item, resp_type=resp_type, order=o)
        sends.append(Send(ts, 1, [it] + list(extra), **kw))
        return it

    def unsolicited(ts, make, o):
        return Item(b"S", make, "other", order=o)

    user = b"CSUSR1" if ouch.version == "4.2" else b"CSUSR2"
    sess = b"OUCH42S001" if ouch.version == "4.2" else b"OUCH50S001"
    first_seq = 1 if ouch.version == "4.2" else 1001
    sends.append(Send(t_login, 0, [Item(b"L", lambda: user + b"secret".ljust(10) + b" " * 10 +
                                        str(first_seq).encode().rjust(20))]))
    sends.append(Send(t_login + 40_000, 1, [Item(b"A", lambda: sess + str(first_seq).encode().rjust(20))]))
    sends.append(Send(t_login + 60_000, 1, [Item(b"S", lambda: Ouch.system_event(t_login + 60_000))]))
    t = t_login + 100_000_000
    while t < t_end:
        sends.append(Send(t + 17_000, 0, [Item(b"R", lambda: b"")]))
        sends.append(Send(t + 31_000, 1, [Item(b"H", lambda: b"")]))
        t += 100_000_000

    orders = sorted([(ts, sym) for ts, sym in triggers] + [(ts, QUIET) for ts in quiet_times])
    # quirks by position: 2 split, 4 split in the length prefix, 6+7 coalesced,
    # 8+9 coalesced and split in two reordered segments, 3's Accepted retransmitted,
    # 5's Accepted and first fill coalesced
    skip = set()
    for i, (ts, sym) in enumerate(orders):
        if i in skip:
            continue
        group = [(ts, sym)]
        kw = {}
        if i in (6, 8) and i + 1 < len(orders):
            group.append(orders[i + 1])
            skip.add(i + 1)
        items = []
        for gts, gsym in group:
            o = Order(gsym, rnd.choice((b"B", b"S")), 100 * rnd.randrange(1, 20),
                      1_000_000 + 100 * rnd.randrange(1000))
            it = Item(b"U", (lambda o=o: ouch.enter(o)), "req", order=o)
            it.key = "O"
            items.append((it, o))
        if i == 2:
            kw = dict(split=[20], gap=5_000)
        elif i == 4:
            kw = dict(split=[1], gap=5_000)
        elif i == 8:
            first_len = 2 + 1 + OUCH_LEN[ouch.version]["O"]
            kw = dict(split=[first_len + 10], gap=5_000, reorder=True)
        elif rnd.random() < 0.03:
            kw = dict(split=[rnd.randrange(3, 30)], gap=5_000)
        sends.append(Send(ts, 0, [it for it, _ in items], **kw))
        for j, (it, o) in enumerate(items):
            lifecycle(rnd, ouch, sends, ts + 3_000 * j, it, o, venue_lat, resp, req, unsolicited,
                      match, ref, forced=(i + j))
    return sends, sess, first_seq


def lifecycle(rnd, ouch, sends, ts, enter, o, venue_lat, resp, req, unsolicited, match, ref,
              forced):
    """The venue's replies to one Enter Order and what follows it."""
    t_acc = ts + venue_lat()
    if forced not in (3, 5) and rnd.random() < 0.08:
        resp(t_acc, enter, lambda: ouch.rejected(t_acc, o), "Rejected", o)
        return
    ref[0] += 1
    r0 = ref[0]
    extra = []
    if forced == 5 or rnd.random() < 0.04:
        match[0] += 1
        m0 = match[0]
        extra.append(unsolicited(t_acc, lambda: ouch.executed(t_acc, o, o.qty // 2 or 1, m0), o))
    resp(t_acc, enter, lambda: ouch.accepted(t_acc, o, r0), "Accepted", o, extra,
         retransmit=(forced == 3))
    if extra:
        return
    r = {10: 0.5, 11: 0.58, 12: 0.3, 13: 0.1}.get(forced, rnd.random())
    if r < 0.25:  # fills
        t = t_acc
        for _ in range(rnd.randint(1, 2)):
            t += rnd.randrange(50_000, 1_500_000)
            match[0] += 1
            m = match[0]
            sends.append(Send(t, 1, [unsolicited(t, lambda t=t, m=m: ouch.executed(t, o, 100, m), o)]))
    elif r < 0.45:  # cancel
        tx = t_acc + rnd.randrange(200_000, 2_000_000)
        x = req(tx, o, lambda: ouch.cancel(o), "X")
        tc = tx + venue_lat()
        resp(tc, x, lambda: ouch.canceled(tc, o, b"U"), "Canceled", o)
    elif r < 0.55:  # replace chain
        cur, t = o, t_acc
        for _ in range(rnd.randint(1, 2) if forced != 10 else 2):
            new = Order(o.sym, o.side, cur.qty + 100, cur.price + 100)
            t += rnd.randrange(100_000, 1_000_000)
            u = req(t, cur, (lambda cur=cur, new=new: ouch.replace(cur, new)), "U")
            t += venue_lat()
            ref[0] += 1
            rr = ref[0]
            resp(t, u, (lambda t=t, cur=cur, new=new, rr=rr: ouch.replaced(t, cur, new, rr)),
                 "Replaced", new)
            cur = new
        if rnd.random() < 0.6:
            tx = t + rnd.randrange(100_000, 1_000_000)
            x = req(tx, cur, lambda cur=cur: ouch.cancel(cur), "X")
            tc = tx + venue_lat()
            resp(tc, x, lambda tc=tc, cur=cur: ouch.canceled(tc, cur, b"U"), "Canceled", cur)
    elif r < 0.60:  # unsolicited cancel by the venue
        tc = t_acc + rnd.randrange(500_000, 3_000_000)
        sends.append(Send(tc, 1, [unsolicited(tc, lambda: ouch.canceled(tc, o, b"D"), o)]))


def space_sends(sends):
    """Per side, time order; a Send starts >= 2 us after the previous one's last segment."""
    out = []
    for d in (0, 1):
        mine = sorted((s for s in sends if s.dir == d), key=lambda s: s.ts)
        last = None
        for s in mine:
            if last is not None:
                s.ts = max(s.ts, last + 2_000)
            last = s.ts + s.gap * len(s.split or ())
            out.append(s)
    return sorted(out, key=lambda s: (s.ts, s.dir))


def emit_session(rnd, cap, ouch, sends, cport, sport, t_hand, t_close, taps, sess, first_seq):
    """Writes one SoupBinTCP connection at every tap; returns its truth records."""
    sink = FrameSink()
    c = gt.TcpConn(gt.Wire(sink), gt.Host(CLIENT, 1010 + cport), cport, gt.Host(VENUE, 1020),
                   sport)
    c.handshake(t_hand)
    base = (c.seq[0], c.seq[1])
    seq_no = first_seq
    count = [0, 0]
    all_items = []
    for s in sends:
        chunks = []
        for it in s.items:
            body = it.make()
            if it.soup_type in (b"U", b"S"):
                it.msg = body[:1].decode()
            if it.soup_type == b"S":
                it.seq = seq_no
                seq_no += 1
            it.offset = (c.seq[s.dir] - base[s.dir], s.dir)
            it.n = count[s.dir]
            count[s.dir] += 1
            if it.kind == "req":
                it.key = "%s:%s" % (it.key, ouch.key(it.order))
            chunks.append(soup(it.soup_type, body))
            c.seq[s.dir] += len(chunks[-1])
            all_items.append(it)
        c.seq[s.dir] -= sum(len(x) for x in chunks)
        q = {"reorder": s.reorder, "retransmit": s.retransmit}
        c.send(s.ts, s.dir, b"".join(chunks), gap_ns=s.gap, split_at=s.split, q=q)
    c.close(t_close)
    conn = "%s:%d>%s:%d" % (CLIENT, cport, VENUE, sport)
    segs = fan_out(rnd, cap, sink.frames, sport, base, taps)
    for it in all_items:
        off, d = it.offset
        for tap in taps:
            it.ts[tap] = min(ts for ts, a, b in segs[(tap, d)] if a <= off < b)
    return ouch_truth(all_items, ouch, conn, taps)


TCP_SEQ_AT, TCP_ACK_AT, TCP_FLAGS_AT, TCP_DATA_AT = 38, 42, 47, 54  # untagged frame offsets


def frame_dir(frame, sport):
    return 0 if struct.unpack_from("!H", frame, 36)[0] == sport else 1


def fix_acks(frames, hops, sport, base):
    """Rewrites each frame's ACK to what its sender can have received.

    The connection is written on one time line (a frame's time is its
    sender's), acknowledging everything the other side sent before; but a
    byte reaches the other side only a hop later. A frame sent at t
    acknowledges the other direction's bytes, contiguous from the start,
    whose frames were sent at t' with t' + hop' <= t, never more than it
    did (the frames carry no TCP checksum to update)."""
    order = sorted(range(len(frames)), key=lambda i: frames[i][0])
    pending = {0: [], 1: []}  # per direction: (arrival, start, end) not yet arrived
    arrived = {0: [], 1: []}
    contig = {0: 0, 1: 0}
    out = list(frames)
    for i in order:
        ts, frame = frames[i]
        d = frame_dir(frame, sport)
        o = 1 - d
        for item in [x for x in pending[o] if x[0] <= ts]:
            pending[o].remove(item)
            bisect.insort(arrived[o], item[1:])
        while arrived[o] and arrived[o][0][0] <= contig[o]:
            contig[o] = max(contig[o], arrived[o].pop(0)[1])
        flags = frame[TCP_FLAGS_AT]
        ack = struct.unpack_from("!I", frame, TCP_ACK_AT)[0]
        rel = (ack - base[o]) % 2**32
        if flags & gt.TcpConn.ACK and 0 < rel < 2**31 and rel > contig[o]:
            ack = (base[o] + contig[o]) % 2**32
            frame = frame[:TCP_ACK_AT] + struct.pack("!I", ack) + frame[TCP_ACK_AT + 4:]
            out[i] = (ts, frame)
        start = (struct.unpack_from("!I", frame, TCP_SEQ_AT)[0] - base[d]) % 2**32
        length = len(frame) - TCP_DATA_AT + (1 if flags & gt.TcpConn.FIN else 0)
        if length and start < 2**31:
            pending[d].append((ts + hops[i], start, start + length))
    return out


def fan_out(rnd, cap, frames, sport, base, taps):
    """Copies each frame to every tap; returns {(tap, dir): [(ts, start, end)]} of data."""
    segs = {(tap, d): [] for tap in taps for d in (0, 1)}
    hops = [hop_ns(rnd, 3_000) for _ in frames]
    frames = fix_acks(frames, hops, sport, base)
    for (ts, frame), hop in zip(frames, hops):
        d = frame_dir(frame, sport)
        tcp_seq = struct.unpack_from("!I", frame, TCP_SEQ_AT)[0]
        n = len(frame) - TCP_DATA_AT
        first_tap = TAP_INSIDE if d == 0 else TAP_EDGE
        for tap in taps:
            t = ts if tap == first_tap or len(taps) == 1 else ts + hop
            cap.add_tap(t, tap, frame)
            if n:
                start = (tcp_seq - base[d]) % 2**32
                segs[(tap, d)].append((t, start, start + n))
    return segs


def ouch_truth(items, ouch, conn, taps):
    out = []
    answered = set()
    for it in items:
        if it.kind == "resp":
            answered.add(id(it.req))
            for tap in taps:
                out.append({"kind": "ouch", "key": it.req.key, "tap": tap, "conn": conn,
                            "version": ouch.version, "req_ts_ns": it.req.ts[tap],
                            "resp_ts_ns": it.ts[tap], "resp_type": it.resp_type,
                            "latency_ns": it.ts[tap] - it.req.ts[tap]})
                assert it.ts[tap] > it.req.ts[tap], it.req.key
    for it in items:
        if it.kind == "req" and id(it) not in answered:
            for tap in taps:
                out.append({"kind": "ouch_unmatched", "key": it.key, "tap": tap, "conn": conn,
                            "version": ouch.version, "req_ts_ns": it.ts[tap]})
        if it.kind == "req" and len(taps) == 2:
            out.append({"kind": "hop", "key": it.key, "conn": conn, "req_tap": TAP_INSIDE,
                        "resp_tap": TAP_EDGE, "req_ts_ns": it.ts[TAP_INSIDE],
                        "resp_ts_ns": it.ts[TAP_EDGE],
                        "latency_ns": it.ts[TAP_EDGE] - it.ts[TAP_INSIDE]})
        for tap in taps:
            rec = {"kind": "soup", "tap": tap, "conn": conn, "dir": "in" if it.offset[1] == 0
                   else "out", "n": it.n, "ts_ns": it.ts[tap], "type": it.soup_type.decode()}
            if it.msg:
                rec["msg"] = it.msg
            if it.seq is not None:
                rec["seq"] = it.seq
            if it.kind == "req":
                rec["key"] = it.key
            elif it.order is not None and it.order.ident is not None:
                rec["key"] = "O:" + ouch.key(it.order) if it.kind != "resp" else it.req.key
            out.append(rec)
    return out


def enter_orders(items_truth):
    return [r for r in items_truth if r["kind"] == "soup" and r.get("msg") == "O"
            and r["dir"] == "in"]


# ---------------------------------------------------------------- tick-to-trade

def pick_triggers(rnd, sightings, itch, t_from, t_to, n):
    """n (order time at tap 2, symbol): 4-60 us after a message's first tap-2 sighting
    (with one tap, its sighting there)."""
    tap = TAP_INSIDE if TAP_INSIDE in sightings else TAP_EDGE
    seen = [s for s in sightings[tap] if t_from <= s.ts < t_to and s.pkt.count
            and s.pkt.count != 0xFFFF and s.feed < 2]
    first = {}
    for s in seen:
        first.setdefault(s.pkt.seq, s)
    cands = sorted(first.values(), key=lambda s: s.ts)
    out = []
    for s in rnd.sample(cands, min(n, len(cands))):
        locs = [loc for _, loc, _ in s.pkt.msgs if loc]
        if not locs:
            continue
        out.append((s.ts + rnd.randrange(4_000, 60_000), itch.symbol_of[rnd.choice(locs)]))
    return out


def t2t_truth(sightings, retrans_seen, soup_recs, itch, taps, orders_sym):
    """The tick-to-trade records: the rule of the module docstring, applied per tap."""
    out = []
    for tap in taps:
        seen = list(sightings[tap])
        if tap in retrans_seen:
            seen.append(retrans_seen[tap])
            seen.sort(key=lambda s: (s.ts, s.feed))
        times = [s.ts for s in seen]
        for rec in soup_recs:
            if rec["tap"] != tap:
                continue
            sym = orders_sym[rec["key"]]
            loc = itch.locate[sym]
            t_order = rec["ts_ns"]
            i = bisect.bisect_left(times, t_order) - 1
            best = None
            while i >= 0 and t_order - seen[i].ts <= T2T_WINDOW_NS:
                s = seen[i]
                hits = [k for k, (_, l, _) in enumerate(s.pkt.msgs) if l == loc]
                if hits:
                    cand = (s.ts, s.pkt.seq + hits[-1], s)
                    if best is None or cand[:2] > best[:2]:
                        best = cand
                if best is not None and s.ts < best[0]:
                    break
                i -= 1
            if best is None:
                continue
            ts, seq, s = best
            out.append({"kind": "t2t", "key": rec["key"], "tap": tap, "req_ts_ns": ts,
                        "resp_ts_ns": t_order, "latency_ns": t_order - ts,
                        "itch": "%s:%d" % (SESSION.decode(), seq),
                        "itch_type": s.pkt.msgs[seq - s.pkt.seq][0].decode(),
                        "feed": FEED_NAMES[s.feed] if s.feed < 2 else RETRANS,
                        "symbol": sym.decode()})
    return out


# ---------------------------------------------------------------- main

def generate(seed, seconds, scale, taps, want_truth, cap=None):
    """The capture (a VlanCapture unless cap is given) and the truth records."""
    rnd = random.Random(seed)
    random.seed(seed)  # gentraffic's Wire and TcpConn draw from the module generator
    cap = VlanCapture() if cap is None else cap
    t0 = gt.T0_NS
    dur = int(seconds * 1e9)
    itch = Itch(rnd)
    pkts = plan_feed(rnd, itch, t0, dur, BASE_PKTS_PER_S * scale)
    sightings = emit_feeds(rnd, cap, pkts, taps)
    rr = rerequest(rnd, cap, pkts, sightings, taps)
    truth = feed_truth(sightings, rr, taps) if want_truth else []
    t_end = t0 + dur - 1_000_000
    n_orders = max(12, int(seconds * ORDERS_PER_S))
    orders_sym = {}
    soup_all = []
    for k, (version, sport) in enumerate((("4.2", 15000), ("5.0", 15001))):
        ouch = Ouch(version)
        t_hand = t0 + 100_000 + 20_000 * k
        triggers = pick_triggers(rnd, sightings, itch, t0 + 3_000_000, t_end - 12_000_000,
                                 n_orders)
        quiet = [t0 + rnd.randrange(5_000_000, max(6_000_000, dur - 15_000_000))
                 for _ in range(3)]
        sends, sess, first_seq = plan_session(rnd, ouch, t_hand + 100_000, t_end - 5_000_000,
                                              triggers, quiet)
        # three Enter Orders that are never answered, then the logout
        for j in range(3):
            o = Order(SYMBOLS[j], b"B", 100, 1_000_000)
            it = Item(b"U", (lambda o=o: ouch.enter(o)), "req", order=o)
            it.key = "O"
            sends.append(Send(t_end - 3_000_000 + 250_000 * j, 0, [it]))
        sends.append(Send(t_end - 2_000_000, 0, [Item(b"O", lambda: b"")]))
        sends = space_sends(sends)
        recs = emit_session(rnd, cap, ouch, sends, 40100 + k, sport, t_hand, t_end - 1_000_000,
                            taps, sess, first_seq)
        for s in sends:
            for it in s.items:
                if it.kind == "req" and it.key.startswith("O:"):
                    orders_sym[it.key] = it.order.sym
        soup_all += enter_orders(recs)
        if want_truth:
            truth += recs
    if want_truth:
        truth += t2t_truth(sightings, rr[2] if rr else {}, soup_all, itch, taps, orders_sym)
    return cap, truth


def sort_key(r):
    return (r["kind"], r.get("req_ts_ns", r.get("ts_ns", 0)), r.get("tap", r.get("req_tap", 0)),
            r.get("conn", ""), r.get("dir", ""), r.get("n", 0), r.get("key", ""),
            r.get("feed", ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--truth", help="ground-truth JSONL path")
    ap.add_argument("--seconds", type=float, default=1.0, help="simulated duration (>= 0.1)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=float, default=None,
                    help="multiplies the feed rate (%d packets/s per feed)" % BASE_PKTS_PER_S)
    ap.add_argument("--taps", type=int, choices=(1, 2), default=None,
                    help="capture points: 2 (VLAN 101 and 102, default) or 1 (VLAN 101)")
    ap.add_argument("--bench", action="store_true",
                    help="bench sizing: each feed at 200k packets/s (--scale 10), one tap")
    ap.add_argument("--trailer", choices=("metamako",), default=None,
                    help="no VLANs: a Metamako trailer (true time, device 1, port 101/102) "
                    "on every frame, the pcap record time the host's later clock")
    ap.add_argument("--host-delay-ns", type=int, default=None,
                    help="with --trailer: host clock behind the true time (default 25000)")
    ap.add_argument("--host-jitter-ns", type=int, default=None,
                    help="with --trailer: plus a seeded random [0, J) per packet "
                    "(default 15000)")
    ap.add_argument("--host-drift-ppm", type=float, default=None,
                    help="with --trailer: host clock drift from the first packet (default 0)")
    ap.add_argument("--t0", type=int, default=None,
                    help="capture start, epoch seconds (default 2026-01-05T14:30:00Z); a "
                    "live replay behind --trailer uses 'now' so the trailer times are the host's")
    ap.add_argument("--unsynced-every", type=int, default=None,
                    help="with --trailer: every Nth frame's trailer says the clock is not "
                    "synchronised (default 0, never)")
    a = ap.parse_args()
    host_opts = {"host_delay_ns": 25_000, "host_jitter_ns": 15_000, "host_drift_ppm": 0.0,
                 "unsynced_every": 0}
    for k, default in host_opts.items():
        if getattr(a, k) is not None and not a.trailer:
            ap.error("--%s needs --trailer" % k.replace("_", "-"))
        if getattr(a, k) is None:
            setattr(a, k, default)
        if k != "host_drift_ppm" and getattr(a, k) < 0:
            ap.error("--%s must not be negative" % k.replace("_", "-"))
    if a.seconds < 0.1:
        ap.error("--seconds must be at least 0.1")
    if a.t0 is not None:
        if a.t0 <= 0:
            ap.error("--t0 must be positive epoch seconds")
        gt.T0_NS = a.t0 * 10**9
    scale = a.scale if a.scale is not None else (10.0 if a.bench else 1.0)
    if scale <= 0:
        ap.error("--scale must be positive")
    ntaps = a.taps or (1 if a.bench else 2)
    taps = (TAP_EDGE, TAP_INSIDE)[:ntaps]
    started = time.monotonic()
    cap = None
    if a.trailer:
        cap = MetamakoCapture(a.seed, a.host_delay_ns, a.host_jitter_ns, a.host_drift_ppm,
                              a.unsynced_every)
    cap, truth = generate(a.seed, a.seconds, scale, taps, bool(a.truth), cap)
    if a.trailer and a.truth:
        truth = [truth_to_metamako(r) for r in truth] + cap.clock_truth()
    n = cap.write(a.out)
    if a.truth:
        truth.sort(key=sort_key)
        with open(a.truth, "w") as f:
            for r in truth:
                f.write(json.dumps(r, sort_keys=True) + "\n")
    took = time.monotonic() - started
    print("wrote %d packets (%.0f packets/s of generation), %d truth records"
          % (n, n / took if took else 0, len(truth)), file=sys.stderr)


if __name__ == "__main__":
    main()

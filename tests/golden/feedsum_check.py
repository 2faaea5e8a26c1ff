#!/usr/bin/env python3
"""Checks `capstream feeds --json` against the capture and the ground truth
of tools/gentrading.py, with no capstream code.

    feedsum_check.py CAPTURE.pcap TRUTH.jsonl GOT.jsonl [--after NS] [--before NS]

From the capture, read here (pcap, Ethernet, 802.1Q tags, IPv4, UDP,
MoldUDP64 header and block lengths, the first byte of each ITCH block), it
computes per tap (the outer VLAN id) and feed (the destination ip:port of
a direction of a UDP flow on the MoldUDP64 ports): the sessions seen, the
packets (data, heartbeat, end of session), data packets, heartbeats, ITCH
messages by type and the busiest whole millisecond of capture time (the
earliest of equals); a direction whose reverse sent a request (20 bytes,
count 1..0xFFFE) is a re-request server's: its feed is a retransmission
feed. From the truth: per tap and feed the "gap" records (count, sum of
their counts) and the "ab" races (the winner's and the other A/B feed's
races, wins, nearest-rank p50/p99 and max of the winner's leads).
Packets and gaps count when their time is in [after, before), races when
their req_ts_ns is. Every field of every object must equal exactly, and
the objects come in order of tap, address, port. Exit 1 naming the first
differences.
"""
import argparse
import collections
import json
import struct
import sys

MOLD_PORTS = {26477, 26478, 26500}
HEARTBEAT, END = 0, 0xFFFF


def packets(path):
    """(ts_ns, frame bytes) of each record of a pcap (ns or us)."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic not in (0xA1B23C4D, 0xA1B2C3D4):
        sys.exit("feedsum_check: %s: not a little-endian pcap" % path)
    scale = 1 if magic == 0xA1B23C4D else 1000
    if struct.unpack_from("<I", data, 20)[0] != 1:
        sys.exit("feedsum_check: %s: not Ethernet" % path)
    off = 24
    while off + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack_from("<IIII", data, off)
        yield sec * 1_000_000_000 + frac * scale, data[off + 16:off + 16 + caplen]
        off += 16 + caplen


def udp_of(frame):
    """(tap, src ip, sport, dst ip, dport, payload) of a UDP/IPv4 frame, or None."""
    etype, off, tap = struct.unpack_from(">H", frame, 12)[0], 14, 0
    while etype in (0x8100, 0x88A8):
        tci, etype = struct.unpack_from(">HH", frame, off)
        tap = tap or (tci & 0xFFF)  # the outer tag
        off += 4
    if etype != 0x0800 or frame[off + 9] != 17:
        return None
    ihl = (frame[off] & 15) * 4
    src = ".".join(map(str, frame[off + 12:off + 16]))
    dst = ".".join(map(str, frame[off + 16:off + 20]))
    sport, dport, ulen = struct.unpack_from(">HHH", frame, off + ihl)
    payload = frame[off + ihl + 8:off + ihl + ulen]
    return tap, src, sport, dst, dport, payload


def mold_packets(path):
    """(ts, tap, src, dst, kind, session, itch types) per MoldUDP64 packet."""
    for ts, frame in packets(path):
        u = udp_of(frame)
        if u is None or (u[2] not in MOLD_PORTS and u[4] not in MOLD_PORTS):
            continue
        tap, sip, sport, dip, dport, p = u
        session, count = p[:10].rstrip(b" \0").decode(), struct.unpack_from(">H", p, 18)[0]
        kind, types, off = "data", [], 20
        if count == HEARTBEAT:
            kind = "heartbeat"
        elif count == END:
            kind = "end_of_session"
        elif len(p) == 20:
            kind = "request"
        for _ in range(count if kind == "data" else 0):
            blen = struct.unpack_from(">H", p, off)[0]
            types.append(chr(p[off + 2]))
            off += 2 + blen
        yield ts, tap, "%s:%d" % (sip, sport), "%s:%d" % (dip, dport), kind, session, types


def new_feed(tap, feed):
    return {"tap": tap, "feed": feed, "session": [], "retransmission": False, "packets": 0,
            "data_packets": 0, "heartbeats": 0, "messages": 0, "by_type": {}, "gaps": 0,
            "messages_lost": 0, "races": 0, "races_won": 0, "won_share": 0.0, "lead_ns": None,
            "busiest_ms": None, "_ms": collections.Counter(), "_leads": [], "_rtx": set()}


def from_capture(path, after, before, feeds):
    rerequest = set()  # (tap, src, dst) directions that answer requests
    rows = list(mold_packets(path))
    for ts, tap, src, dst, kind, _, _ in rows:
        if kind == "request":
            rerequest.add((tap, dst, src))
    for ts, tap, src, dst, kind, session, types in rows:
        if kind == "request" or not after <= ts < before:
            continue
        f = feeds.setdefault((tap, dst), new_feed(tap, dst))
        if session not in f["session"]:
            f["session"].append(session)
        f["packets"] += 1
        f["heartbeats"] += kind == "heartbeat"
        if kind != "data":
            continue
        f["data_packets"] += 1
        f["_rtx"].add((tap, src, dst) in rerequest)
        f["messages"] += len(types)
        for t in types:
            f["by_type"][t] = f["by_type"].get(t, 0) + 1
            f["_ms"][ts // 1_000_000] += 1


def nearest_rank(v, pct):
    return v[-(-pct * len(v) // 100) - 1]


def from_truth(path, after, before, feeds):
    truth = [json.loads(line) for line in open(path)]
    ab = sorted({d["winner"] for d in truth if d["kind"] == "ab"})
    for d in truth:
        if d["kind"] == "gap" and after <= d["ts_ns"] < before:
            f = feeds.setdefault((d["tap"], d["feed"]), new_feed(d["tap"], d["feed"]))
            f["gaps"] += 1
            f["messages_lost"] += d["count"]
        if d["kind"] == "ab" and after <= d["req_ts_ns"] < before:
            loser = [x for x in ab if x != d["winner"]][0]
            w = feeds.setdefault((d["tap"], d["winner"]), new_feed(d["tap"], d["winner"]))
            l = feeds.setdefault((d["tap"], loser), new_feed(d["tap"], loser))
            w["races"] += 1
            w["races_won"] += 1
            w["_leads"].append(d["lead_ns"])
            l["races"] += 1


def finish(f):
    f["retransmission"] = f["_rtx"] == {True}
    f["by_type"] = dict(sorted(f["by_type"].items()))
    if f["races"]:
        f["won_share"] = round(f["races_won"] / f["races"], 4)
    leads = sorted(f["_leads"])
    if leads:
        f["lead_ns"] = {"p50": nearest_rank(leads, 50), "p99": nearest_rank(leads, 99),
                        "max": leads[-1]}
    if f["_ms"]:
        best = max(f["_ms"].values())
        ms = min(m for m, n in f["_ms"].items() if n == best)
        f["busiest_ms"] = {"ts_ns": ms * 1_000_000, "messages": best}
    return {k: v for k, v in f.items() if not k.startswith("_")}


def order(o):
    ip, port = o["feed"].rsplit(":", 1)
    return o["tap"], tuple(map(int, ip.split("."))), int(port)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pcap")
    ap.add_argument("truth")
    ap.add_argument("got")
    ap.add_argument("--after", type=int, default=-(1 << 63))
    ap.add_argument("--before", type=int, default=(1 << 63) - 1)
    a = ap.parse_args()
    feeds = {}
    from_capture(a.pcap, a.after, a.before, feeds)
    from_truth(a.truth, a.after, a.before, feeds)
    want = sorted((finish(f) for f in feeds.values()), key=order)
    got = [json.loads(line) for line in open(a.got)]
    diffs = []
    for w in want:
        g = next((x for x in got if (x["tap"], x["feed"]) == (w["tap"], w["feed"])), None)
        if g is None:
            diffs.append("tap %s feed %s missing" % (w["tap"], w["feed"]))
            continue
        diffs += ["tap %s feed %s %s: capstream %s, expected %s" % (w["tap"], w["feed"], k,
                  json.dumps(g.get(k)), json.dumps(v)) for k, v in w.items() if g.get(k) != v]
        diffs += ["tap %s feed %s: extra field %s" % (w["tap"], w["feed"], k)
                  for k in g if k not in w]
    keys = [(w["tap"], w["feed"]) for w in want]
    diffs += ["tap %s feed %s: not expected" % (x["tap"], x["feed"]) for x in got
              if (x["tap"], x["feed"]) not in keys]
    if not diffs and [(x["tap"], x["feed"]) for x in got] != keys:
        diffs.append("order: capstream %s, expected %s" % ([(x["tap"], x["feed"]) for x in got],
                                                           keys))
    print("feeds: capstream %d, expected %d (%d ITCH messages, %d races), differing %d%s" % (
        len(got), len(want), sum(w["messages"] for w in want), sum(w["races_won"] for w in want),
        len(diffs), "; " + "; ".join(diffs[:4]) if diffs else ""))
    return 1 if diffs or not want else 0


if __name__ == "__main__":
    sys.exit(main())

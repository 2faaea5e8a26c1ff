#!/usr/bin/env python3
"""Compares capstream's trading measurements with tools/gentrading.py's truth.

    trading_truth.py hop HOP.jsonl TRUTH.jsonl
    trading_truth.py t2t T2T.jsonl ITCH.jsonl TRUTH.jsonl [MAX_NS]
    trading_truth.py clock METRICS_DIR_JSON TRUTH.jsonl

HOP.jsonl is `capstream latency --pair hop --json`, T2T.jsonl the same for
t2t and ITCH.jsonl `capstream messages --proto itch --json`. Each compares
exactly, as a multiset, and prints the counts and the first difference:

  hop  every truth "hop" record is one hop measurement with the same key,
       feed (a MoldUDP64 packet's destination) or connection (an OUCH
       request's src>dst), both taps, both capture times and the latency;
  t2t  every truth "t2t" record with latency <= MAX_NS is one t2t
       measurement with the same order key, tap, tick and order times,
       latency, and tick (its session:seq, ITCH type and feed, read back
       through the measurement's request message id);
  clock per tap, the clock-offset series' p50 and p99 (a JSON object
       {"TAP": {"p50_ns": .., "p99_ns": .., "count": ..}}) are within one
       histogram bucket (1/128 of the value: analytics/histogram.h) of the
       truth's "clock" records' exact nearest-rank host delays, over the
       same number of packets.

Exit 1 on any difference, or when the truth has none of what is compared.
"""
import collections
import json
import re
import sys


def truth(path, kind):
    return [d for d in map(json.loads, open(path)) if d["kind"] == kind]


def compare(name, got, want, detail=""):
    diff = sorted(k for k in set(got) | set(want) if got[k] != want[k])
    print("%s: capstream %d, truth %d%s, differing %d%s" % (
        name, sum(got.values()), sum(want.values()), detail, len(diff),
        ", first %s" % (diff[0],) if diff else ""))
    return 1 if diff or not want else 0


def hop(measured, truth_path):
    def got_key(d):
        if d["tap"] != d["req_tap"]:
            raise SystemExit("tap %d is not req_tap %d" % (d["tap"], d["req_tap"]))
        # an OUCH request is named by its connection (client>venue), a data
        # packet by its feed (where it went)
        where = "%s>%s" % (d["src"], d["dst"]) if re.match(r"[OXU]:", d["key"]) else d["dst"]
        return (d["key"], where, d["req_tap"], d["resp_tap"], d["req_ts_ns"], d["resp_ts_ns"],
                d["latency_ns"])

    got = collections.Counter(got_key(json.loads(l)) for l in open(measured))
    want = collections.Counter((d["key"], d.get("conn", d.get("feed")), d["req_tap"],
                                d["resp_tap"], d["req_ts_ns"], d["resp_ts_ns"], d["latency_ns"])
                               for d in truth(truth_path, "hop"))
    ouch = sum(1 for k in want if ">" in k[1])
    return compare("hops", got, want, " (%d OUCH)" % ouch) or (0 if ouch else 1)


def t2t(measured, itch_path, truth_path, max_ns=1000000):
    itch = {}
    for line in open(itch_path):
        m = json.loads(line)
        f = dict(m["fields"])
        itch[m["id"]] = (m["tap"], "%s:%s" % (f["session"], f["seq"]), m["type"],
                         "retransmission" if f.get("retransmission") == "1" else m["dst"])
    got = collections.Counter()
    for line in open(measured):
        d = json.loads(line)
        tap, seq, typ, feed = itch[d["req_msg"]]
        if tap != d["tap"]:
            raise SystemExit("tick at tap %d, order at tap %d: %s" % (tap, d["tap"], d))
        got[(d["key"], d["tap"], d["req_ts_ns"], d["resp_ts_ns"], d["latency_ns"], seq, typ,
             feed)] += 1
    want = collections.Counter((d["key"], d["tap"], d["req_ts_ns"], d["resp_ts_ns"],
                                d["latency_ns"], d["itch"], d["itch_type"], d["feed"])
                               for d in truth(truth_path, "t2t") if d["latency_ns"] <= max_ns)
    return compare("t2t", got, want)


def clock(measured, truth_path):
    got = json.load(open(measured))
    want = {str(d["tap"]): d for d in truth(truth_path, "clock")}
    bad = 0
    for tap, w in sorted(want.items()):
        g = got.get(tap)
        if g is None:
            print("clock: tap %s has no clock series" % tap)
            bad = 1
            continue
        for q in ("p50", "p99"):
            exact, seen = w["host_delay_%s_ns" % q], g["%s_ns" % q]
            # a histogram bucket is at most 1/128 of its lower bound wide
            ok = abs(seen - exact) <= exact / 128 + 1
            print("clock: tap %s %s capstream %d, truth %d%s" % (
                tap, q, seen, exact, "" if ok else " (differs)"))
            bad |= not ok
        if g["count"] != w["packets"]:
            print("clock: tap %s frames capstream %d, truth %d" % (tap, g["count"],
                                                                   w["packets"]))
            bad = 1
    return 1 if bad or not want or set(got) != set(want) else 0


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "hop":
        sys.exit(hop(*args))
    if cmd == "t2t":
        sys.exit(t2t(args[0], args[1], args[2], *(int(a) for a in args[3:])))
    if cmd == "clock":
        sys.exit(clock(*args))
    raise SystemExit("unknown comparison %r" % cmd)

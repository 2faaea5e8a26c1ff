#!/usr/bin/env python3
"""Compares what capstream stored from a tools/gentrading.py capture (one
tap) with the generator's truth, for SoupBinTCP and OUCH.

    ouch_check.py CAPSTREAM_BIN STORE TRUTH.jsonl

Each record is compared with its tap: the truth's is the VLAN id of the
capture point, so the store must have been analysed with --tap-by vlan.

Three comparisons, each exact, each printing the first difference:
  - every SoupBinTCP packet ("soup" truth) is one stored message (proto
    soupbintcp, or ouch when it carries an OUCH message) with the same
    connection, direction, SoupBinTCP type and capture time of its first
    byte;
  - every request answered ("ouch" truth) is one measurement of pair ouch
    with the same key, connection, request and response times, latency
    and reply type;
  - every request never answered ("ouch_unmatched") is one unmatched
    request with the same key and time.
Exit 1 if any differs or if the truth has none of a kind.
"""
import collections
import json
import subprocess
import sys


def run_json(binary, *args):
    out = subprocess.run([binary, *args], check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def conn_of(m):
    """"client>server" of a stored message (dir 0 = client to server)."""
    return "%s>%s" % ((m["src"], m["dst"]) if m["dir"] == 0 else (m["dst"], m["src"]))


def stored(binary, store):
    soup = collections.Counter()
    for proto in ("soupbintcp", "ouch"):
        for m in run_json(binary, "messages", "-d", store, "--proto", proto, "--json",
                          "--limit", "100000000"):
            f = dict(m["fields"])
            kind = f.get("soup_type", f.get("packet_type"))
            soup[(m["tap"], conn_of(m), "in" if m["dir"] == 0 else "out", kind, m["ts_ns"])] += 1
    pairs = collections.Counter(
        (d["tap"], d["key"], "%s>%s" % (d["src"], d["dst"]), d["req_ts_ns"], d["resp_ts_ns"],
         d["latency_ns"], d["resp_type"])
        for d in run_json(binary, "latency", "-d", store, "--pair", "ouch", "--json",
                          "--limit", "100000000"))
    unmatched = collections.Counter(
        (d["message"]["tap"], d["message"]["key"], conn_of(d["message"]), d["message"]["ts_ns"])
        for d in run_json(binary, "latency", "-d", store, "--pair", "ouch", "--unmatched",
                          "--json", "--limit", "100000000")
        if d["unmatched"] == "request")
    return soup, pairs, unmatched


def truth(path):
    soup, pairs, unmatched = collections.Counter(), collections.Counter(), collections.Counter()
    for line in open(path):
        d = json.loads(line)
        if d["kind"] == "soup":
            soup[(d["tap"], d["conn"], d["dir"], d["type"], d["ts_ns"])] += 1
        elif d["kind"] == "ouch":
            pairs[(d["tap"], d["key"], d["conn"], d["req_ts_ns"], d["resp_ts_ns"], d["latency_ns"],
                   d["resp_type"].lower())] += 1
        elif d["kind"] == "ouch_unmatched":
            unmatched[(d["tap"], d["key"], d["conn"], d["req_ts_ns"])] += 1
    return soup, pairs, unmatched


def compare(name, got, want):
    diff = sorted(k for k in set(got) | set(want) if got.get(k, 0) != want.get(k, 0))
    if not want:
        print("%s: the truth has none" % name)
        return 1
    if diff:
        k = diff[0]
        print("%s: %d differ; first %s: capstream %d, truth %d"
              % (name, len(diff), k, got.get(k, 0), want.get(k, 0)))
        return 1
    print("%s: %d equal" % (name, sum(want.values())))
    return 0


def main():
    got = stored(sys.argv[1], sys.argv[2])
    want = truth(sys.argv[3])
    bad = 0
    for name, g, w in zip(("SoupBinTCP packets", "OUCH measurements", "unanswered requests"),
                          got, want):
        bad |= compare(name, g, w)
    sys.exit(bad)


if __name__ == "__main__":
    main()

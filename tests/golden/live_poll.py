#!/usr/bin/env python3
"""live_poll.py - polls a capturing daemon's API every 100 ms and checks
that every record older than one second was returned (t_live_query.sh).

  live_poll.py poll BASE PCAP REF.jsonl SECONDS LOG.jsonl
      waits for the replay's first packet (status capture.packets > 0: its
      wall time W bounds from above when pacing started), then every
      100 ms asks, for a window of the last 2 s of capture time:
        measurements by time range, by pair (fix) and time range,
        measurements by key and messages by key (a FIX ClOrdID whose
        response, by the reference REF, arrived 1 to 3 s before),
      and logs each poll (its wall time, query, ids returned).
  live_poll.py check PCAP LOG.jsonl FINAL.jsonl
      FINAL is `latency --json` of the daemon's store after the run. A
      packet of capture time ts arrived at wall time <= W + (ts - first_ts)
      (realtime replay paces from the first packet). Every measurement a
      poll's filter covers whose response arrived more than 1 s before the
      poll must be in that poll's answer (for messages by key: both of its
      messages). Exits 1, listing the first misses, if one is not.
"""
import json
import struct
import sys
import time
import urllib.parse
import urllib.request

AGE_NS = 1_000_000_000
WINDOW_NS = 2_000_000_000


def first_ts(pcap):
    with open(pcap, "rb") as f:
        hdr = f.read(24)
        magic = struct.unpack("<I", hdr[:4])[0]
        sec, frac = struct.unpack("<II", f.read(8))
    return sec * 1_000_000_000 + (frac if magic == 0xA1B23C4D else frac * 1000)


def get(base, path):
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return json.load(r)


def wall_ns():
    return time.time_ns()


def poll(base, pcap, ref_path, seconds, log_path):
    t0 = first_ts(pcap)
    ref = [json.loads(l) for l in open(ref_path)]
    fix = sorted((m for m in ref if m["pair"] == "fix"), key=lambda m: m["resp_ts_ns"])
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if get(base, "/api/v1/status")["capture"]["packets"] > 0:
                break
        except OSError:
            pass
        time.sleep(0.02)
    else:
        sys.exit("the daemon never started capturing")
    w = wall_ns()
    out = open(log_path, "w")
    out.write(json.dumps({"w": w, "first_ts": t0}) + "\n")
    end = time.time() + seconds
    ki = 0
    while time.time() < end:
        now = wall_ns()
        cap_now = t0 + (now - w)
        rng = "after=%d&before=%d" % (cap_now - WINDOW_NS, cap_now)
        # a FIX key whose response came 1 to 3 s ago
        while ki < len(fix) and fix[ki]["resp_ts_ns"] < cap_now - 3 * AGE_NS:
            ki += 1
        key = fix[ki]["key"] if ki < len(fix) and fix[ki]["resp_ts_ns"] <= cap_now - AGE_NS else None
        queries = [("range", "/api/v1/measurements?%s&limit=1000" % rng),
                   ("pair", "/api/v1/measurements?pair=fix&%s&limit=1000" % rng)]
        if key is not None:
            q = urllib.parse.quote(key)
            queries += [("key", "/api/v1/measurements?key=%s&limit=1000" % q),
                        ("msgkey", "/api/v1/messages?key=%s&limit=1000" % q)]
        for kind, path in queries:
            at = wall_ns()
            d = get(base, path)
            recs = d["measurements"] if "measurements" in d else d["messages"]
            out.write(json.dumps({"kind": kind, "at": at, "path": path, "key": key,
                                  "after": cap_now - WINDOW_NS, "before": cap_now,
                                  "more": d["more"], "ids": [r["id"] for r in recs]}) + "\n")
        time.sleep(0.1)
    out.close()


def covers(p, m):
    if p["kind"] in ("range", "pair"):
        if not (p["after"] <= m["req_ts_ns"] < p["before"]):
            return False
        return p["kind"] == "range" or m["pair"] == "fix"
    return m["key"] == p["key"]


def check(pcap, log_path, final_path):
    lines = [json.loads(l) for l in open(log_path)]
    w, t0 = lines[0]["w"], lines[0]["first_ts"]
    polls = lines[1:]
    final = [json.loads(l) for l in open(final_path)]
    by_key = {}
    for m in final:
        by_key.setdefault(m["key"], []).append(m)
    misses, covered, kinds = [], 0, {}
    for p in polls:
        if p["more"]:
            misses.append("%s: a page was full, the window is too wide" % p["path"])
            continue
        got = set(p["ids"])
        cands = by_key.get(p["key"], []) if p["kind"] in ("key", "msgkey") else final
        for m in cands:
            if not covers(p, m):
                continue
            arrived = w + (m["resp_ts_ns"] - t0)
            if p["at"] - arrived <= AGE_NS:
                continue
            covered += 1
            kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
            want = [m["req_msg"], m["resp_msg"]] if p["kind"] == "msgkey" else [m["id"]]
            if not all(i in got for i in want):
                misses.append("%s at +%.2fs: %s (response %.2fs old) missing, got %d records"
                              % (p["path"], (p["at"] - w) / 1e9, m["id"],
                                 (p["at"] - arrived) / 1e9, len(got)))
    print("polls %d, records covered %d %s, missed %d" % (len(polls), covered, kinds, len(misses)),
          file=sys.stderr)
    for line in misses[:10]:
        print("  " + line, file=sys.stderr)
    need = {"range", "pair", "key", "msgkey"}
    if set(kinds) != need:
        print("  some query kind covered nothing: %s" % sorted(need - set(kinds)), file=sys.stderr)
        return 1
    return 1 if misses else 0


if __name__ == "__main__":
    if sys.argv[1] == "poll":
        poll(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]), sys.argv[6])
    else:
        sys.exit(check(sys.argv[2], sys.argv[3], sys.argv[4]))

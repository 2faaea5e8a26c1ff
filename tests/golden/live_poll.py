#!/usr/bin/env python3
"""live_poll.py - polls a capturing daemon's API every 100 ms and checks
that every record older than one second was returned (t_live_query.sh).

  live_poll.py poll BASE PCAP REF.jsonl SECONDS LOG.jsonl
      follows the daemon's live stream (/api/v1/stream) to learn when the
      replay started (below), then every 100 ms asks, for a window of the
      last 2 s of capture time:
        measurements by time range, by pair (fix) and time range,
        measurements by key and messages by key (a FIX ClOrdID whose
        response, by the reference REF, arrived 1 to 3 s before), and the
        detail of the FIX measurement found by key (its messages and
        packets; the key's tick-to-trade measurement has the same key),
      and logs each poll (its wall time, query, ids returned).
  live_poll.py check PCAP LOG.jsonl FINAL.jsonl MSGS.jsonl
      FINAL is `latency --json` and MSGS `messages --json` of the daemon's
      store after the run. When did the daemon have the packet of capture
      time T? The daemon reads packets in capture order, so by the wall
      time E of any live measurement event whose response is at T or
      later: arrival(T) <= the least such E. That bound holds however far
      a loaded machine makes the replay lag behind its schedule. (Past the
      last event, the replay's schedule W + (T - first_ts) stands in, W
      the least start the events allow.)
      Every measurement a poll's filter covers whose response arrived more
      than 1 s before the poll must be in that poll's answer; for messages
      by key, every message with that key whose last packet did; a detail
      must show both messages with every packet readable. Exits 1,
      listing the first misses, if one is not.
"""
import bisect
import json
import struct
import sys
import threading
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


class StartBound:
    """The least bound on the replay's start W that the live stream gave."""

    def __init__(self, base, t0):
        self.w, self.events, self.t0 = None, 0, t0
        self.seen = []  # (resp_ts_ns, wall time the event came)
        self.lock = threading.Lock()
        self.stream = urllib.request.urlopen(base + "/api/v1/stream?events=measurement",
                                             timeout=60)
        threading.Thread(target=self.follow, daemon=True).start()

    def follow(self):
        try:
            for raw in self.stream:
                if not raw.startswith(b"data: "):
                    continue
                came = wall_ns()
                resp_ts = json.loads(raw[6:])["resp_ts_ns"]
                bound = came - (resp_ts - self.t0)
                with self.lock:
                    self.events += 1
                    self.seen.append((resp_ts, came))
                    self.w = bound if self.w is None else min(self.w, bound)
        except (OSError, ValueError):
            pass

    def get(self):
        with self.lock:
            return self.w


def connect(base):
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            get(base, "/api/v1/status")
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("the daemon never answered")


def detail(base, mid, key):
    """A measurement's detail: "ids" names it if both of its messages and
    every packet they list could be read."""
    at = wall_ns()
    path = "/api/v1/measurements/" + mid
    d = get(base, path)
    sides = [d.get(s) or {} for s in ("request", "response")]
    ok = all(s.get("packets") and all("ts_ns" in p for p in s["packets"]) for s in sides)
    return {"kind": "detail", "at": at, "path": path, "key": key, "more": False,
            "ids": [mid] if ok else []}


def poll(base, pcap, ref_path, seconds, log_path):
    t0 = first_ts(pcap)
    ref = [json.loads(l) for l in open(ref_path)]
    fix = sorted((m for m in ref if m["pair"] == "fix"), key=lambda m: m["resp_ts_ns"])
    connect(base)
    sb = StartBound(base, t0)
    deadline = time.time() + 20
    while sb.get() is None:
        if time.time() > deadline:
            sys.exit("no live measurement event in 20 s")
        time.sleep(0.02)
    out = open(log_path, "w")
    end = time.time() + seconds
    ki = 0
    while time.time() < end:
        now = wall_ns()
        cap_now = t0 + (now - sb.get())
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
            fix_recs = [r for r in recs if kind == "key" and r["pair"] == "fix"]
            if fix_recs:  # (the order's tick-to-trade measurement has its key too)
                out.write(json.dumps(detail(base, fix_recs[0]["id"], key)) + "\n")
        time.sleep(0.1)
    with sb.lock:
        seen = list(sb.seen)
    out.write(json.dumps({"w": sb.get(), "first_ts": t0, "events": sb.events,
                          "seen": seen}) + "\n")
    out.close()


def covers(p, m):
    if p["kind"] in ("range", "pair"):
        if not (p["after"] <= m["req_ts_ns"] < p["before"]):
            return False
        return p["kind"] == "range" or m["pair"] == "fix"
    return m["key"] == p["key"]


class Arrival:
    """arrival(T): the least wall time of an event at capture time >= T."""

    def __init__(self, seen, w, t0):
        seen = sorted(seen)
        self.ts = [t for t, _ in seen]
        self.least = [e for _, e in seen]
        for i in range(len(seen) - 2, -1, -1):
            self.least[i] = min(self.least[i], self.least[i + 1])
        self.w, self.t0 = w, t0

    def __call__(self, t):
        i = bisect.bisect_left(self.ts, t)
        return self.least[i] if i < len(self.ts) else self.w + (t - self.t0)


def check(pcap, log_path, final_path, msgs_path):
    lines = [json.loads(l) for l in open(log_path)]
    w, t0 = lines[-1]["w"], lines[-1]["first_ts"]
    arrival = Arrival(lines[-1]["seen"], w, t0)
    polls = lines[:-1]
    final = [json.loads(l) for l in open(final_path)]
    by_key, msgs_by_key = {}, {}
    for m in final:
        by_key.setdefault(m["key"], []).append(m)
    for line in open(msgs_path):
        m = json.loads(line)
        if m.get("key"):
            msgs_by_key.setdefault(m["key"], []).append(
                {"id": m["id"], "key": m["key"], "resp_ts_ns": m["last_ts_ns"]})
    misses, covered, kinds = [], 0, {}
    for p in polls:
        if p["more"]:
            misses.append("%s: a page was full, the window is too wide" % p["path"])
            continue
        got = set(p["ids"])
        cands = {"key": by_key, "detail": by_key, "msgkey": msgs_by_key}.get(p["kind"])
        cands = cands.get(p["key"], []) if cands is not None else final
        if p["kind"] == "detail":  # the FIX measurement of the key is the one detailed
            cands = [m for m in cands if m["pair"] == "fix"]
        for m in cands:
            if not covers(p, m):
                continue
            arrived = arrival(m["resp_ts_ns"])
            if p["at"] - arrived <= AGE_NS:
                continue
            covered += 1
            kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
            if m["id"] not in got:
                misses.append("%s at +%.2fs: %s (response %.2fs old) missing, got %d records"
                              % (p["path"], (p["at"] - w) / 1e9, m["id"],
                                 (p["at"] - arrived) / 1e9, len(got)))
    print("polls %d, records covered %d %s, missed %d" % (len(polls), covered, kinds, len(misses)),
          file=sys.stderr)
    for line in misses[:10]:
        print("  " + line, file=sys.stderr)
    need = {"range", "pair", "key", "msgkey", "detail"}
    if set(kinds) != need:
        print("  some query kind covered nothing: %s" % sorted(need - set(kinds)), file=sys.stderr)
        return 1
    return 1 if misses else 0


if __name__ == "__main__":
    if sys.argv[1] == "poll":
        poll(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]), sys.argv[6])
    else:
        sys.exit(check(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]))

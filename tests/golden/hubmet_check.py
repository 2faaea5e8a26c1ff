#!/usr/bin/env python3
"""hubmet_check.py - the hub's merged /api/v1/metrics against its sensors'
own answers, series by series, step by step.

usage: hubmet_check.py HUB SENSOR_A SENSOR_B TOKEN_B AFTER BEFORE [STEP] [UNION]

The truth is the two sensors' /api/v1/series and /api/v1/metrics (with
heatmap=1, the range AFTER..BEFORE, step STEP, default 1s; sensor b is
asked with TOKEN_B). Passes (exit 0) when the hub's series list is the
union of both, each naming the sensors that hold it, and for every series
the hub's points are one per step either sensor has, in time order, with:
  - every counter (windows, count, bytes, errors, gaps, missing, the
    capture gauges, the feed and session counters) the sum of both;
  - p50_ns .. max_ns those of UNION's point (a server of one store that
    took both sensors' captures: what one sensor holding all the data
    reports), exactly, and the hub's answer "percentiles": "merged";
    without UNION (a sensor that gives no histograms), the larger of both
    sensors', the answer saying "percentiles": "max_of_sensors";
  - burst_packets and burst_bytes the larger of both;
  - heat the sum of both, bucket by bucket;
  - rate the merged count per second of the step;
  - offset_mean_ns and drift_ns_per_min absent;
and no sensor missing; no point carries "hist" unless asked. With UNION
the hub is also asked with hist=1: each point's "hist" (count, min_ns,
max_ns, buckets) is UNION's. Prints the first differences and what it
compared.
"""

import json
import sys
import urllib.parse
import urllib.request

PCTL = {"p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns"}
MAXED = PCTL | {"burst_packets", "burst_bytes"}
STATS = {"differ": 0}
DROPPED = {"offset_mean_ns", "drift_ns_per_min"}


def get(base, path, token=None, **q):
    url = base + path + ("?" + urllib.parse.urlencode(q) if q else "")
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def expected(pa, pb, step):
    """The merged point of sensor points pa and pb (either may be None)."""
    parts = [p for p in (pa, pb) if p]
    want = {}
    for p in parts:
        for k, v in p.items():
            if k in DROPPED or k == "rate":
                continue
            if k == "ts_ns":
                want[k] = v
            elif k == "heat":
                h = want.setdefault("heat", [0] * len(v))
                want["heat"] = [x + y for x, y in zip(h, v)]
            elif k in MAXED:
                want[k] = max(want.get(k, v), v)
            elif isinstance(v, int):
                want[k] = want.get(k, 0) + v
    want["rate"] = want["count"] / (step / 1e9)
    return want


def check_union(hub, union, sid, q, errs):
    """The hub's percentiles and histograms are those of the union store."""
    h = get(hub, "/api/v1/metrics", series=sid, hist="1", **q)
    u = get(union, "/api/v1/metrics", series=sid, hist="1", **q)
    if h.get("percentiles") != "merged":
        errs.append(f"{sid}: percentiles {h.get('percentiles')}")
    pu = {p["ts_ns"]: p for p in u["points"]}
    if h["step_ns"] != u["step_ns"] or sorted(pu) != [p["ts_ns"] for p in h["points"]]:
        errs.append(f"{sid}: union steps {sorted(pu)[:5]} at {u['step_ns']}")
        return
    for p in h["points"]:
        want = pu[p["ts_ns"]]
        for k in sorted(PCTL) + ["count", "hist"]:
            if p.get(k) != want.get(k):
                errs.append(f"{sid} {p['ts_ns']}: {k} hub {p.get(k)}, union {want.get(k)}")


def check_series(hub, sa, sb, token, sid, q, errs, union=None):
    h = get(hub, "/api/v1/metrics", series=sid, **q)
    a = get(sa, "/api/v1/metrics", series=sid, **q)
    b = get(sb, "/api/v1/metrics", token, series=sid, **q)
    step = h["step_ns"]
    if not (step == a["step_ns"] == b["step_ns"]):
        errs.append(f"{sid}: steps hub {step}, a {a['step_ns']}, b {b['step_ns']}")
        return 0
    if h["partial"] or h["missing"] or h["sensors"] != ["a", "b"]:
        errs.append(f"{sid}: partial {h['partial']} missing {h['missing']}")
    if h.get("heat_lower_ns") != a.get("heat_lower_ns"):
        errs.append(f"{sid}: heat_lower_ns differs from the sensor's")
    pa = {p["ts_ns"]: p for p in a["points"]}
    pb = {p["ts_ns"]: p for p in b["points"]}
    stamps = sorted(set(pa) | set(pb))
    got = [p["ts_ns"] for p in h["points"]]
    if got != stamps:
        errs.append(f"{sid}: steps {got[:5]}..., want {stamps[:5]}...")
        return 0
    if union:
        check_union(hub, union, sid, q, errs)
    if not union and h.get("percentiles") != "max_of_sensors":
        errs.append(f"{sid}: percentiles {h.get('percentiles')}, want max_of_sensors")
    for p in h["points"]:
        if not union and p.pop("percentiles", "max_of_sensors") != "max_of_sensors":
            errs.append(f"{sid} {p['ts_ns']}: a point's percentiles are not max_of_sensors")
        if "hist" in p:
            errs.append(f"{sid} {p['ts_ns']}: a hist not asked for")
        want = expected(pa.get(p["ts_ns"]), pb.get(p["ts_ns"]), step)
        if union:  # checked against the union above
            STATS["differ"] += any(want[k] != p.get(k) for k in PCTL)
            for k in PCTL:
                want[k] = p.get(k)
        rate = p.pop("rate", None)
        if rate is None or abs(rate - want.pop("rate")) > 1e-6 * max(1.0, rate):
            errs.append(f"{sid} {p['ts_ns']}: rate {rate}")
        if p != want:
            diff = {k: (p.get(k), want.get(k)) for k in set(p) | set(want) if p.get(k) != want.get(k)}
            errs.append(f"{sid} {p['ts_ns']}: (hub, a+b) {diff}")
    return len(got)


def main():
    hub, sa, sb, token, after, before = sys.argv[1:7]
    step = sys.argv[7] if len(sys.argv) > 7 else "1s"
    union = sys.argv[8] if len(sys.argv) > 8 else None
    q = {"after": after, "before": before, "step": step, "heatmap": "1"}
    errs = []
    hs = get(hub, "/api/v1/series", after=after, before=before)
    a = {s["id"]: s for s in get(sa, "/api/v1/series", after=after, before=before)["series"]}
    b = {s["id"]: s for s in get(sb, "/api/v1/series", token, after=after, before=before)["series"]}
    ids = [s["id"] for s in hs["series"]]
    if sorted(ids) != sorted(set(a) | set(b)) or len(ids) != len(set(ids)):
        errs.append(f"series: hub {ids}, want the union of {sorted(a)} and {sorted(b)}")
    for s in hs["series"]:
        held = [n for n, own in (("a", a), ("b", b)) if s["id"] in own]
        if s["sensors"] != held:
            errs.append(f"series {s['id']}: sensors {s['sensors']}, want {held}")
    points = 0
    for sid in ids:
        points += check_series(hub, sa, sb, token, sid, q, errs, union)
    for e in errs[:10]:
        print(e)
    print(f"{len(ids)} series, {points} merged points compared (step {step}"
          + (f", percentiles against the union store; {STATS['differ']} points where they "
             "are not the larger sensor's)" if union else ")"))
    return 1 if errs or points == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

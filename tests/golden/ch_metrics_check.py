#!/usr/bin/env python3
"""ch_metrics_check.py - ClickHouse's metrics and alerts tables against the
sensor's own API (`capstream serve` over its store).

usage: ch_metrics_check.py API_BASE SENSOR METRICS_ROWS ALERTS_ROWS

METRICS_ROWS and ALERTS_ROWS are the JSONEachRow output of `SELECT * FROM
metrics FINAL` and `SELECT * FROM alerts FINAL` (64-bit integers
unquoted). The truth is the API: every series of /api/v1/series, each
one's points of /api/v1/metrics with step=1s and heatmap=1 (a point per
stored window: "windows" must be 1), and every event of /api/v1/alerts.
Passes (exit 0) when each window is one row (same kind, name, ts_ns and
every member the point has: counts, rate, percentiles, heat), each event
one row (rule, state, ts_ns, series as the alert log writes it, metric,
value, threshold, from_ns, to_ns, text), with no row left over and none twice. Prints the first
differences and the counts it compared.
"""

import json
import sys
import urllib.parse
import urllib.request

BEFORE = 2**62


def get(base, path, **q):
    url = base + path + "?" + urllib.parse.urlencode(q)
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def once(items, key, what, errs):
    seen = {}
    for it in items:
        k = key(it)
        if k in seen:
            errs.append(f"{what} {k} twice")
        seen[k] = it
    return seen


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
    return a == b


def store_range(base):
    """The store's capture time range, 10 s wider each side: every window lies in it."""
    st = get(base, "/api/v1/status")["store"]
    return st["min_ts_ns"] - 10 * 10**9, st["max_ts_ns"] + 10 * 10**9


def api_windows(base, errs):
    out = []
    after, before = store_range(base)
    if before - after > 9000 * 10**9:
        errs.append("the store spans more than 9000 s: one request cannot list it per second")
    for s in get(base, "/api/v1/series", after=0, before=BEFORE)["series"]:
        r = get(base, "/api/v1/metrics", series=s["id"], after=after, before=before, step="1s",
                heatmap=1)
        if r["step_ns"] != 10**9:
            errs.append(f"{s['id']}: step widened to {r['step_ns']}")
        for p in r["points"]:
            if p.pop("windows") != 1:
                errs.append(f"{s['id']} at {p['ts_ns']}: more than one stored window")
            p["kind"], p["name"] = s["kind"], s["name"]
            out.append(p)
    return out


def log_series(api):
    """The API's "pair:fix" ("capture") as the alert log writes it: "pair=fix"."""
    return "capture=capture" if api == "capture" else api.replace(":", "=", 1)


def api_alerts(base):
    out, offset = [], 0
    while True:
        r = get(base, "/api/v1/alerts", after=0, before=BEFORE, limit=1000, offset=offset)
        for a in r["alerts"]:
            a["series"] = log_series(a["series"])
        out += r["alerts"]
        if not r["more"]:
            return out
        offset += len(r["alerts"])


def compare(what, truth, got, key, sensor, skip, errs):
    t = once(truth, key, what + " (API)", errs)
    g = once(got, key, what + " (ClickHouse)", errs)
    for k in sorted(t.keys() - g.keys())[:5]:
        errs.append(f"{what} {k} missing from ClickHouse")
    for k in sorted(g.keys() - t.keys())[:5]:
        errs.append(f"{what} {k} in ClickHouse but not in the store")
    for k in sorted(t.keys() & g.keys()):
        row = g[k]
        if row.get("sensor") != sensor:
            errs.append(f"{what} {k}: sensor {row.get('sensor')!r}")
        for m, v in t[k].items():
            if m not in skip and not same(v, row.get(m)):
                errs.append(f"{what} {k}: {m} is {row.get(m)!r} in ClickHouse, {v!r} in the API")
    return len(t)


def main():
    base, sensor, mrows, arows = sys.argv[1:5]
    errs = []
    win = api_windows(base, errs)
    al = api_alerts(base)
    nw = compare("window", win, rows(mrows), lambda r: (r["kind"], r["name"], r["ts_ns"]),
                 sensor, set(), errs)
    na = compare("alert", al, rows(arows), lambda r: (r["rule"], r["series"], r["state"],
                                                      r["ts_ns"]),
                 sensor, {"unit", "measurements"}, errs)
    print(f"{nw} windows, {na} alert events compared")
    for e in errs[:20]:
        print("  " + e)
    sys.exit(1 if errs else 0)


if __name__ == "__main__":
    main()

"""feedmetrics_check.py DIR - checks of t_feedmetrics.sh.

DIR holds t.jsonl (the gentrading truth), feeds.jsonl (`capstream feeds
--json`), points.tsv (series name, tab, /api/v1/metrics reply over the
whole range), prom.txt (/metrics) and alerts.json (/api/v1/alerts). Prints
each comparison (a differing one on stderr); exits 1 if any differs.
"""
import collections
import json
import re
import sys

d = sys.argv[1]
truth = [json.loads(l) for l in open(d + "/t.jsonl")]
feeds = {(f["tap"], f["feed"]): f for f in map(json.loads, open(d + "/feeds.jsonl"))}
series = {}
for line in open(d + "/points.tsv"):
    if not line.strip():
        continue
    name, reply = line.rstrip("\n").split("\t", 1)
    pts = json.loads(reply)["points"]
    series[name] = {k: sum(p.get(k, 0) for p in pts) for k in
                    ("count", "packets", "messages", "gaps", "missing", "lost", "races_won",
                     "orders", "accepts", "rejects", "errors", "measurements")}
    series[name]["burst"] = max((p["burst_packets"] for p in pts), default=0)
    series[name]["max_ns"] = max((p["max_ns"] for p in pts), default=0)
prom = open(d + "/prom.txt").read()
bad = 0


def same(what, want, got):
    global bad
    ok = want == got
    bad += not ok
    print("%s %s: want %s, got %s" % ("ok  " if ok else "FAIL", what, want, got),
          file=sys.stdout if ok else sys.stderr)


# feeds: truth gaps per (tap, feed), A/B races won per (tap, winner)
gaps = collections.Counter()
lost = collections.Counter()
won = collections.Counter()
for r in truth:
    if r["kind"] == "gap":
        gaps[(r["tap"], r["feed"])] += 1
        lost[(r["tap"], r["feed"])] += r["count"]
    if r["kind"] == "ab":
        won[(r["tap"], r["winner"])] += 1
same("feeds with gaps in the truth exist", True, len(gaps) >= 2)
all_taps = collections.defaultdict(lambda: collections.Counter())
for key, f in sorted(feeds.items()):
    tap, feed = key
    name = "feed:%d/%s" % key
    s = series.get(name)
    if s is None:
        same(name + " listed", True, False)
        continue
    same(name + " gaps = truth", gaps[key], s["gaps"])
    same(name + " lost = truth", lost[key], s["lost"])
    same(name + " gaps, lost = feeds --json", (f["gaps"], f["messages_lost"]),
         (s["gaps"], s["missing"]))
    same(name + " packets, ITCH messages = feeds --json", (f["packets"], f["messages"]),
         (s["packets"], s["messages"]))
    same(name + " races won = truth", won[key], s["races_won"])
    # every ms lies in one window: the busiest of the windows is the feed's
    busiest = f["busiest_ms"]["messages"] if f.get("busiest_ms") else 0
    same(name + " busiest ms = feeds --json", busiest, s["burst"])
    lead_max = f["lead_ns"]["max"] if f.get("lead_ns") else 0
    same(name + " longest lead = feeds --json", lead_max, s["max_ns"])
    for k in ("gaps", "messages", "packets"):
        all_taps[feed][k] += s[k]
    m = re.search(r'^capstream_feed_gaps_total\{feed="%s",tap="%d"\} (\d+)$' % (feed, tap), prom,
                  re.M)
    same(name + " Prometheus gaps", gaps[key], int(m.group(1)) if m else None)
    m = re.search(r'^capstream_feed_lost_total\{feed="%s",tap="%d"\} (\d+)$' % (feed, tap), prom,
                  re.M)
    same(name + " Prometheus lost", lost[key], int(m.group(1)) if m else None)
for feed, c in sorted(all_taps.items()):
    s = series.get("feed:" + feed, {})
    same("feed:%s (all taps) sums its taps" % feed, dict(c),
         {k: s.get(k) for k in ("gaps", "messages", "packets")})

# sessions: truth OUCH records per (tap, client)
want = collections.defaultdict(collections.Counter)
for r in truth:
    if r["kind"] not in ("ouch", "ouch_unmatched"):
        continue
    key = (r["tap"], r["conn"].split(">")[0])
    if r["kind"] == "ouch":
        want[key]["measurements"] += 1
    if r["key"].startswith("O:"):
        want[key]["orders"] += 1
        want[key]["accepts"] += r.get("resp_type") == "Accepted"
        want[key]["rejects"] += r.get("resp_type") == "Rejected"
same("sessions in the truth", True, len(want) >= 2)
for key, c in sorted(want.items()):
    name = "session:%d/%s" % key
    s = series.get(name, {})
    same(name + " orders, accepts, rejects, measurements = truth",
         (c["orders"], c["accepts"], c["rejects"], c["measurements"]),
         tuple(s.get(k) for k in ("orders", "accepts", "rejects", "measurements")))
    same(name + " count is orders", c["orders"], s.get("count"))
    for fam, k in (("orders", "orders"), ("rejects", "rejects")):
        m = re.search(r'^capstream_session_%s_total\{session="%s",tap="%d"\} (\d+)$' %
                      (fam, key[1], key[0]), prom, re.M)
        same(name + " Prometheus " + fam, c[k], int(m.group(1)) if m else None)
same("Prometheus has the lead and latency histograms", True,
     "capstream_feed_lead_seconds_bucket{" in prom and
     "capstream_session_latency_seconds_count{" in prom)

fired = collections.Counter(a["rule"] for a in json.load(open(d + "/alerts.json"))["alerts"]
                            if a["state"] == "fired")
alerts = json.load(open(d + "/alerts.json"))["alerts"]
series_of = {a["rule"]: a["series"] for a in alerts}
value_of = {a["rule"]: a["value"] for a in alerts if a["state"] == "fired"}
for rule in ("feed_gap", "feed_lost_b", "ouch_rejects_any", "session_rejects"):
    same("rule %s fired" % rule, True, fired[rule] > 0)
same("feed_gap's series", "feed:233.54.12.111:26477", series_of.get("feed_gap"))
same("no_such_feed never fired", 0, fired["no_such_feed"])
# the capture lasts half a second: one window holds everything
same("feed_gap fired on the truth's gaps of the feed at both taps",
     sum(n for (tap, feed), n in gaps.items() if feed == "233.54.12.111:26477"),
     value_of.get("feed_gap"))
same("ouch_rejects (errors rate > 10/s) fired on the truth's Rejecteds",
     sum(1 for r in truth if r["kind"] == "ouch" and r.get("resp_type") == "Rejected"),
     value_of.get("ouch_rejects"))
sys.exit(1 if bad else 0)

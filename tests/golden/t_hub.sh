# t_hub.sh - `capstream hub`: one API over two sensors (`capstream run` on
# two generated captures, the second behind a bearer token the hub is
# given). Checked: the status sums the sensors'; a pcap for a filter and a
# time range equals tcpdump's selection of the two inputs merged by time
# (mergecap); the slowest measurements across sensors equal the top of
# both sensors' own records, each row naming its sensor, and pages do not
# overlap; the merged per-second metrics of every series equal the sum of
# both sensors' own, and their percentiles (recomputed from the sensors'
# histograms) those of one store that took both captures, exactly, at
# 1 s and at a 2 s step, and a sensor refusing hist=1 gets the largest of
# the sensors' percentiles, said so; a row's drill-down (details, pcap) through the hub equals the
# sensor's own answer; with ClickHouse (both stores exported) the hub's
# lists come from it and equal the fan-out's, its merged metrics agree with
# the metrics table summed per second, and a ClickHouse row leads to its
# packets on the right sensor; a stopped sensor (SIGSTOP) and a killed one
# give marked partial answers (lists, metrics) within the 2 s a client
# waits; bad
# options are refused. The web UI's sensor picker is checked in Chromium
# (tests/browser/hub.test.js).

X=$CS_TMP/hub
mkdir -p "$X"
python3 "$GENTRAFFIC" "$X/a.pcap" --seconds 3 --scale 0.1 --seed 7 >/dev/null 2>&1
python3 "$GENTRAFFIC" "$X/b.pcap" --seconds 3 --scale 0.1 --seed 8 >/dev/null 2>&1
echo "sensor-b-secret" >"$X/b.token"

# sensor NAME PCAP [run args]: `run -r PCAP` on a free port (sets PORT_NAME,
# PID_NAME), waits until its replay is done
sensor() {
    local port
    port=$(free_port)
    "$CS_BIN" run -r "$2" -d "$X/s$1" --listen "127.0.0.1:$port" "${@:3}" >"$X/$1.out" 2>&1 &
    eval "PID_$1=$! PORT_$1=$port"
    for _ in $(seq 200); do
        curl -s -H "Authorization: Bearer sensor-b-secret" "http://127.0.0.1:$port/api/v1/status" \
            2>/dev/null | grep -q '"capturing":false' && return 0
        sleep 0.1
    done
    return 1
}
check "sensor a runs" sensor a "$X/a.pcap"
check "sensor b runs behind a token" sensor b "$X/b.pcap" --token-file "$X/b.token"
SA=http://127.0.0.1:$PORT_a
SB=http://127.0.0.1:$PORT_b
AUTH="Authorization: Bearer sensor-b-secret"

# hub_up ARGS...: a hub over both sensors on a free port (sets HUB, HUB_PID)
hub_up() {
    local port
    port=$(free_port)
    HUB=http://127.0.0.1:$port
    "$CS_BIN" hub --sensor "a=$SA" --sensor "b=$SB" --sensor-token "b=$X/b.token" \
        --listen "127.0.0.1:$port" "$@" >"$X/hub.out" 2>&1 &
    HUB_PID=$!
    for _ in $(seq 100); do
        curl -sf "$HUB/api/v1/status" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}
trap 'kill -CONT "$PID_a" 2>/dev/null; kill "$PID_a" "$PID_b" "${HUB_PID:-}" "${PID_u:-}" "${OLD_PID:-}" "${OLDHUB_PID:-}" 2>/dev/null
      [ -f "$X/ch/pid" ] && "$REPO/scripts/clickhouse.sh" stop "$X/ch"' EXIT
check "the hub starts" hub_up

# ---- status ------------------------------------------------------------------
curl -s "$HUB/api/v1/status" >"$X/status.json"
curl -s "$SA/api/v1/status" >"$X/sa.json"
curl -s -H "$AUTH" "$SB/api/v1/status" >"$X/sb.json"
check "the status sums both sensors' packets, messages and measurements" python3 -c '
import json, sys
h, a, b = (json.load(open(p)) for p in sys.argv[1:4])
assert h["hub"] and not h["partial"] and h["missing"] == [], h.get("missing")
assert [s["sensor"] for s in h["sensors"]] == ["a", "b"] and all(s["up"] for s in h["sensors"])
for k in ("messages", "measurements"):
    assert h[k] == a[k] + b[k] > 0, (k, h[k], a[k], b[k])
assert h["capture"]["packets"] == a["capture"]["packets"] + b["capture"]["packets"]
assert h["store"]["min_ts_ns"] == min(a["store"]["min_ts_ns"], b["store"]["min_ts_ns"])
assert h["store"]["max_ts_ns"] == max(a["store"]["max_ts_ns"], b["store"]["max_ts_ns"])
' "$X/status.json" "$X/sa.json" "$X/sb.json"

# ---- packets: one pcap merged in time order ---------------------------------------
after=1767623400200000000 before=1767623400700000000
curl -s -D "$X/pk.h" -o "$X/hub.pcap" \
    "$HUB/api/v1/packets?filter=tcp%20port%209878&after=$after&before=$before"
for s in a b; do
    tcpdump --time-stamp-precision=nano -r "$X/$s.pcap" -w "$X/r$s.pcap" 'tcp port 9878' 2>/dev/null
done
mergecap -F nsecpcap -w "$X/ref.pcap" "$X/ra.pcap" "$X/rb.pcap"
check "the hub's pcap equals tcpdump on both inputs, merged by time" \
    python3 "$GOLDEN/pcapcmp.py" "$X/hub.pcap" "$X/ref.pcap" --after "$after" --before "$before" \
    --time-merge
check "it has packets of both sensors ($(stat -c %s "$X/hub.pcap") bytes)" \
    test "$(stat -c %s "$X/hub.pcap")" -gt 10000
check "and names no sensor missing" bash -c "! grep -qi x-capstream-missing '$X/pk.h'"

# ---- measurements across sensors -------------------------------------------------
curl -s "$HUB/api/v1/measurements?pair=fix&sort=latency&limit=40" >"$X/top.json"
curl -s "$SA/api/v1/measurements?pair=fix&sort=latency&limit=40" >"$X/topa.json"
curl -s -H "$AUTH" "$SB/api/v1/measurements?pair=fix&sort=latency&limit=40" >"$X/topb.json"
check "the slowest 40 across sensors are the top of both sensors' own, each naming its sensor" \
    python3 -c '
import json, sys
h, a, b = (json.load(open(p)) for p in sys.argv[1:4])
want = [dict(r, sensor="a") for r in a["measurements"]] + [dict(r, sensor="b") for r in b["measurements"]]
want.sort(key=lambda r: -r["latency_ns"])
got = h["measurements"]
assert len(got) == 40 and h["more"] and {r["sensor"] for r in got} == {"a", "b"}, len(got)
assert [r["latency_ns"] for r in got] == [r["latency_ns"] for r in want[:40]]
byid = {(r["sensor"], r["id"]): r for r in want}
assert all(byid[(r["sensor"], r["id"])] == r for r in got)
' "$X/top.json" "$X/topa.json" "$X/topb.json"
curl -s "$HUB/api/v1/measurements?pair=fix&sort=latency&limit=20" >"$X/p0.json"
curl -s "$HUB/api/v1/measurements?pair=fix&sort=latency&limit=20&offset=20" >"$X/p1.json"
check "two pages are the 40, without overlap" python3 -c '
import json, sys
t, p0, p1 = (json.load(open(p))["measurements"] for p in sys.argv[1:4])
key = lambda r: (r["sensor"], r["id"])
assert [key(r) for r in p0 + p1] == [key(r) for r in t]
' "$X/top.json" "$X/p0.json" "$X/p1.json"

curl -s "$HUB/api/v1/sessions?pair=fix&limit=50" >"$X/sess.json"
curl -s "$SA/api/v1/sessions?pair=fix&limit=50" >"$X/sessa.json"
curl -s -H "$AUTH" "$SB/api/v1/sessions?pair=fix&limit=50" >"$X/sessb.json"
check "sessions across sensors: both sensors' own, slowest first, totals summed" python3 -c '
import json, sys
h, a, b = (json.load(open(p)) for p in sys.argv[1:4])
want = [dict(r, sensor="a") for r in a["sessions"]] + [dict(r, sensor="b") for r in b["sessions"]]
want.sort(key=lambda r: -r["max_ns"])
assert h["sessions"] == want[:50] and len(h["sessions"]) > 2, len(h["sessions"])
assert h["total"] == a["total"] + b["total"], (h.get("total"), a["total"], b["total"])
' "$X/sess.json" "$X/sessa.json" "$X/sessb.json"
curl -s "$HUB/api/v1/feeds" >"$X/feeds.json"
curl -s "$SA/api/v1/feeds" >"$X/feedsa.json"
curl -s -H "$AUTH" "$SB/api/v1/feeds" >"$X/feedsb.json"
check "feeds across sensors: every sensor's feeds, each naming its sensor" python3 -c '
import json, sys
h, a, b = (json.load(open(p)) for p in sys.argv[1:4])
want = [dict(r, sensor="a") for r in a["feeds"]] + [dict(r, sensor="b") for r in b["feeds"]]
want.sort(key=lambda r: r["tap"])
assert h["feeds"] == want and len(want) >= 2 and not h["partial"], len(h["feeds"])
' "$X/feeds.json" "$X/feedsa.json" "$X/feedsb.json"
check_eq "alerts are merged too (none here: no rules)" '[] false' \
    "$(curl -s "$HUB/api/v1/alerts" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["alerts"], str(j["partial"]).lower())')"

# ---- per-second metrics across sensors ------------------------------------------------
# The union: one store that took both captures (`run -r a`, stopped, then
# `run -r b` on the same store, served); its points' percentiles are what
# one sensor holding all the data reports.
union() {
    sensor u "$X/a.pcap" && kill "$PID_u" && wait "$PID_u" 2>/dev/null
    sensor u "$X/b.pcap"
}
check "one store takes both captures" union
UNION=http://127.0.0.1:$PORT_u
mafter=1767623390000000000 mbefore=1767623410000000000
check "every series' merged metrics are both sensors' own summed, percentiles the union's, second by second" \
    python3 "$GOLDEN/hubmet_check.py" "$HUB" "$SA" "$SB" sensor-b-secret "$mafter" "$mbefore" 1s "$UNION"
check "and at a 2 s step" \
    python3 "$GOLDEN/hubmet_check.py" "$HUB" "$SA" "$SB" sensor-b-secret "$mafter" "$mbefore" 2s "$UNION"
check "and at a 3 s step" \
    python3 "$GOLDEN/hubmet_check.py" "$HUB" "$SA" "$SB" sensor-b-secret "$mafter" "$mbefore" 3s "$UNION"
OPORT=$(free_port)
python3 "$GOLDEN/oldsensor.py" "$OPORT" "$SB" &
OLD_PID=$!
HPORT=$(free_port)
"$CS_BIN" hub --sensor "a=$SA" --sensor "b=http://127.0.0.1:$OPORT" --sensor-token "b=$X/b.token" \
    --listen "127.0.0.1:$HPORT" >"$X/oldhub.out" 2>&1 &
OLDHUB_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HPORT/api/v1/status" >/dev/null 2>&1 && break; sleep 0.1; done
check "with a sensor refusing hist=1, the percentiles are the larger sensor's, said so" \
    python3 "$GOLDEN/hubmet_check.py" "http://127.0.0.1:$HPORT" "$SA" "$SB" sensor-b-secret \
    "$mafter" "$mbefore" 2s
kill "$OLD_PID" "$OLDHUB_PID"
wait "$OLD_PID" "$OLDHUB_PID" 2>/dev/null
check_eq "the hub refuses a bad hist" "400 hist" \
    "$(curl -s -o "$X/eh.json" -w '%{http_code}' "$HUB/api/v1/metrics?series=pair:fix&hist=2") $(python3 -c '
import json, sys; print(json.load(open(sys.argv[1]))["param"])' "$X/eh.json")"
check_eq "a sensor still refuses an unknown metrics parameter" "400 bogus" \
    "$(curl -s -o "$X/eb.json" -w '%{http_code}' "$SA/api/v1/metrics?series=pair:fix&bogus=1") $(python3 -c '
import json, sys; print(json.load(open(sys.argv[1]))["param"])' "$X/eb.json")"
check_eq "merged metrics without a series are the sensors' 400" "400 series" \
    "$(curl -s -o "$X/e.json" -w '%{http_code}' "$HUB/api/v1/metrics") $(python3 -c '
import json, sys; print(json.load(open(sys.argv[1]))["param"])' "$X/e.json")"

# ---- drill-down: a row's details and packets from its sensor ---------------------------
read -r sid mid < <(python3 -c '
import json, sys
r = [r for r in json.load(open(sys.argv[1]))["measurements"] if r["sensor"] == "b"][0]
print(r["sensor"], r["id"])' "$X/top.json")
check_eq "a row's details through the hub are its sensor's own" \
    "$(curl -s -H "$AUTH" "$SB/api/v1/measurements/$mid")" \
    "$(curl -s "$HUB/api/v1/measurements/$mid?sensor=$sid")"
curl -s -H "$AUTH" -o "$X/own.pcap" "$SB/api/v1/measurements/$mid/pcap"
curl -s -o "$X/via.pcap" "$HUB/api/v1/measurements/$mid/pcap?sensor=$sid"
check "its pcap through the hub is its sensor's own ($(stat -c %s "$X/own.pcap") bytes)" \
    cmp "$X/own.pcap" "$X/via.pcap"
check_eq "a detail without sensor= is a 400 naming it" "400 sensor" \
    "$(curl -s -o "$X/e.json" -w '%{http_code}' "$HUB/api/v1/measurements/$mid") $(python3 -c '
import json, sys; print(json.load(open(sys.argv[1]))["param"])' "$X/e.json")"

# ---- the UI: a sensor picker; views and drill-down are the chosen sensor's --------------
if [ -d "$REPO/tests/browser/node_modules/playwright-core" ]; then
    shots=${CS_ARTIFACTS:-$CS_TMP/screenshots}/chromium
    mkdir -p "$shots"
    if (cd "$REPO/tests/browser" && timeout 120 node hub.test.js chromium "$HUB" "$shots" "$mid") \
        >"$X/ui.log" 2>&1; then
        pass
    else
        fail "the hub's web UI: $(grep FAIL "$X/ui.log" | head -5)"
    fi
else
    fail "tests/browser/node_modules missing (npm ci --prefix tests/browser)"
fi

# ---- ClickHouse behind the hub -------------------------------------------------
if command -v clickhouse-server >/dev/null 2>&1; then
    HP=$(free_port) TP=$(free_port) IP=$(free_port)
    check "ClickHouse starts" env CH_INTERSERVER_PORT="$IP" "$REPO/scripts/clickhouse.sh" start \
        "$X/ch" "$HP" "$TP"
    check "sensor a's store exported" "$CS_BIN" export -d "$X/sa" \
        --to "clickhouse=http://127.0.0.1:$HP/hub" --sensor a
    check "sensor b's store exported" "$CS_BIN" export -d "$X/sb" \
        --to "clickhouse=http://127.0.0.1:$HP/hub" --sensor b
    kill "$HUB_PID"
    wait "$HUB_PID" 2>/dev/null
    check "a hub with --clickhouse starts" hub_up --clickhouse "http://127.0.0.1:$HP/hub"
    curl -s "$HUB/api/v1/measurements?pair=fix&sort=latency&limit=40" >"$X/ch.json"
    check "its slowest 40 come from ClickHouse and equal the fan-out's" python3 -c '
import json, sys
c, f = (json.load(open(p)) for p in sys.argv[1:3])
assert c["source"] == "clickhouse" and c["count"] == 40 and c["more"], c.get("source")
key = lambda r: (r["latency_ns"], r["sensor"], r["id"])
assert sorted(map(key, c["measurements"])) == sorted(map(key, f["measurements"]))
' "$X/ch.json" "$X/top.json"
    read -r csid cmid < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["measurements"][0]
print(r["sensor"], r["id"])' "$X/ch.json")
    own=$SA
    [ "$csid" = b ] && own=$SB
    curl -s -H "$AUTH" -o "$X/chown.pcap" "$own/api/v1/measurements/$cmid/pcap"
    curl -s -o "$X/chvia.pcap" "$HUB/api/v1/measurements/$cmid/pcap?sensor=$csid"
    check "a ClickHouse row's packets come from its sensor ($csid $cmid)" \
        cmp "$X/chown.pcap" "$X/chvia.pcap"
    check "and they are its packets: request and response, $(tcpdump -r "$X/chvia.pcap" 2>/dev/null | wc -l) of them" \
        test "$(tcpdump -r "$X/chvia.pcap" 2>/dev/null | wc -l)" -ge 2
    check "its merged metrics are the ClickHouse metrics table summed per second" python3 -c '
import json, sys, urllib.parse, urllib.request
hub, ch = sys.argv[1:3]
sql = ("SELECT kind, name, ts_ns, count() AS windows, sum(count) AS count, sum(bytes) AS bytes, "
       "max(max_ns) AS max_ns FROM hub.metrics FINAL "
       "GROUP BY kind, name, ts_ns ORDER BY kind, name, ts_ns FORMAT JSONEachRow")
url = ch + "/?output_format_json_quote_64bit_integers=0&query=" + urllib.parse.quote(sql)
rows = [json.loads(l) for l in urllib.request.urlopen(url).read().decode().splitlines() if l]
want = {}
for r in rows:
    sid = "capture" if r["kind"] == "capture" else r["kind"] + ":" + r["name"]
    want.setdefault(sid, {})[r["ts_ns"]] = r
assert len(want) > 5, sorted(want)
n = 0
for sid, pts in want.items():
    q = urllib.parse.urlencode({"series": sid, "after": min(pts), "before": max(pts) + 1, "step": "1s"})
    h = json.load(urllib.request.urlopen(hub + "/api/v1/metrics?" + q))
    got = {p["ts_ns"]: p for p in h["points"]}
    assert sorted(got) == sorted(pts), (sid, sorted(got), sorted(pts))
    for ts, r in pts.items():
        for k in ("windows", "count", "bytes", "max_ns"):
            assert got[ts][k] == r[k], (sid, ts, k, got[ts][k], r[k])
        n += 1
print(n, "points of", len(want), "series")
' "$HUB" "http://127.0.0.1:$HP"
    check_eq "a parameter ClickHouse lists do not take is a 400 naming it" \
        "400 {\"error\":\"the hub's ClickHouse lists do not take 'bogus'\",\"param\":\"bogus\"}" \
        "$(curl -s -w '%{http_code} ' -o "$X/bogus.json" "$HUB/api/v1/measurements?bogus=1")$(cat "$X/bogus.json")"
    kill "$HUB_PID"
    wait "$HUB_PID" 2>/dev/null
    "$REPO/scripts/clickhouse.sh" stop "$X/ch"
    check "the hub starts again without ClickHouse" hub_up
else
    fail "clickhouse-server is not installed (scripts/bootstrap.sh installs it)"
fi

# ---- a sensor stopped, then gone -------------------------------------------------
kill -STOP "$PID_a"
curl -s --max-time 2 -o "$X/slow.json" -w '%{http_code}' "$HUB/api/v1/measurements?limit=5" \
    >"$X/slow.code"
check_eq "with sensor a stopped the hub still answers within 2 s" 200 "$(cat "$X/slow.code")"
check "a marked partial answer: b's rows, a missing (timed out)" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["partial"] and [m["sensor"] for m in j["missing"]] == ["a"], j.get("missing")
assert "timed out" in j["missing"][0]["why"], j["missing"]
assert j["count"] == 5 and {r["sensor"] for r in j["measurements"]} == {"b"}
' "$X/slow.json"
curl -s --max-time 2 -o "$X/slowm.json" -w '%{http_code}' \
    "$HUB/api/v1/metrics?series=pair:fix&after=$mafter&before=$mbefore" >"$X/slowm.code"
check_eq "with sensor a stopped the merged metrics come within 2 s" 200 "$(cat "$X/slowm.code")"
check "marked partial: a missing (timed out), the points b's own" python3 -c '
import json, sys, urllib.request
j = json.load(open(sys.argv[1]))
assert j["partial"] and [m["sensor"] for m in j["missing"]] == ["a"], j.get("missing")
assert "timed out" in j["missing"][0]["why"] and j["sensors"] == ["b"], j["missing"]
req = urllib.request.Request(sys.argv[2] + "/api/v1/metrics?series=pair:fix&after=%s&before=%s" % tuple(sys.argv[3:5]),
                             headers={"Authorization": "Bearer sensor-b-secret"})
b = json.load(urllib.request.urlopen(req))
assert [(p["ts_ns"], p["count"], p["p99_ns"]) for p in j["points"]] == \
    [(p["ts_ns"], p["count"], p["p99_ns"]) for p in b["points"]] and b["points"]
' "$X/slowm.json" "$SB" "$mafter" "$mbefore"
check "the status says a is down, within 2 s" python3 -c '
import json, subprocess, sys
j = json.loads(subprocess.run(["curl", "-s", "--max-time", "2", sys.argv[1] + "/api/v1/status"],
                              capture_output=True, text=True).stdout)
assert [s["up"] for s in j["sensors"]] == [False, True] and j["partial"], j["sensors"]
' "$HUB"
curl -s --max-time 3 -D "$X/stopped.h" -o "$X/stopped.pcap" \
    "$HUB/api/v1/packets?filter=tcp%20port%209878&after=$after&before=$before"
check "a pcap with sensor a stopped comes within 3 s: b's packets alone" \
    python3 "$GOLDEN/pcapcmp.py" "$X/stopped.pcap" "$X/rb.pcap" --after "$after" --before "$before"
check "and X-Capstream-Missing says a sent nothing in time" \
    grep -qi '^X-Capstream-Missing: a: no first byte by the deadline' "$X/stopped.h"
kill -CONT "$PID_a"
kill "$PID_a"
wait "$PID_a" 2>/dev/null
curl -s --max-time 2 -D "$X/gone.h" -o "$X/gone.pcap" \
    "$HUB/api/v1/packets?filter=tcp%20port%209878&after=$after&before=$before"
check "with sensor a gone the pcap is b's alone" \
    python3 "$GOLDEN/pcapcmp.py" "$X/gone.pcap" "$X/rb.pcap" --after "$after" --before "$before"
check "and its X-Capstream-Missing header names a" grep -qi '^X-Capstream-Missing: a: ' "$X/gone.h"

# ---- options -----------------------------------------------------------------
check_fails "a sensor without NAME= is refused" "NAME=URL" "$CS_BIN" hub --sensor "$SA"
check_fails "a sensor URL with a path is refused" "no path" "$CS_BIN" hub --sensor "a=$SA/api/v1"
check_fails "two sensors of one name are refused" "two sensors named a" \
    "$CS_BIN" hub --sensor "a=$SA" --sensor "a=$SB"
check_fails "a token for no sensor is refused" "for a --sensor NAME" \
    "$CS_BIN" hub --sensor "a=$SA" --sensor-token "c=$X/b.token"
check_fails "off loopback the hub needs a token file" "token-file" \
    "$CS_BIN" hub --sensor "a=$SA" --listen "0.0.0.0:$(free_port)"

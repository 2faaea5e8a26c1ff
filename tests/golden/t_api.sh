# t_api.sh - the HTTP API against the real daemon: `capstream run -r
# sample -d STORE --listen 127.0.0.1:PORT`, then curl on every endpoint
# (status codes, JSON that parses, pcap downloads that tcpdump reads with
# the same packet count as `capstream query`), bad requests (400 naming the
# parameter, 404, 405), /metrics checked by promtool when it is installed,
# the drop counters (records not stored: 0 on a full-speed replay, the same
# in /status and /metrics), /alerts paged like the lists, /stream's events
# parameter, and a non-loopback --listen without --token-file refused.

S=$CS_TMP/store
daemon_start "$S" -r "$REPO/samples/trading-sample.pcap" # and lets the file finish

code() { curl -s -o "$CS_TMP/body" -w '%{http_code}' "$@"; }
json_ok() { python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$CS_TMP/body"; }

for path in /api/v1/status /api/v1/series "/api/v1/metrics?series=capture" \
    "/api/v1/measurements?sort=latency&limit=5" "/api/v1/messages?proto=fix&limit=5" \
    /api/v1/alerts; do
    check "GET $path is 200" test "$(code "$B$path")" = 200
    check "GET $path is JSON" json_ok
done

code "$B/api/v1/measurements?limit=1" >/dev/null
ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["measurements"][0]["id"])' \
    "$CS_TMP/body" 2>/dev/null)
check "a measurement id is listed" test -n "$ID"
check "GET /api/v1/measurements/ID is 200" test "$(code "$B/api/v1/measurements/$ID")" = 200
check "the measurement's messages resolve" python3 - "$CS_TMP/body" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["request"]["message"]["id"] == d["measurement"]["req_msg"]
assert d["response"]["message"]["id"] == d["measurement"]["resp_msg"]
PY
check "measurement pcap is 200" test "$(code "$B/api/v1/measurements/$ID/pcap")" = 200
check "measurement pcap has its packets" test "$(tcpdump -r "$CS_TMP/body" 2>/dev/null | wc -l)" -ge 2

check "packets download is 200" test "$(code "$B/api/v1/packets?filter=tcp%20port%209878")" = 200
"$CS_BIN" query -d "$S" -w "$CS_TMP/q.pcap" 'tcp port 9878' >/dev/null 2>&1
check "packets download equals capstream query" \
    test "$(tcpdump -r "$CS_TMP/body" 2>/dev/null | wc -l)" = "$(tcpdump -r "$CS_TMP/q.pcap" 2>/dev/null | wc -l)"

code "$B/api/v1/status" >/dev/null
check "/status reports every drop kind, records not stored 0 on a full-speed replay" \
    python3 - "$CS_TMP/body" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["drops"]
assert set(d) == {"kernel", "not_stored", "not_analysed", "records_not_stored",
                  "windows_not_stored", "alerts_not_stored"}, d
assert all(isinstance(v, int) and v >= 0 for v in d.values()), d
assert d["records_not_stored"] == 0 and d["not_stored"] == 0, d
assert d["windows_not_stored"] == 0 and d["alerts_not_stored"] == 0, d
PY
check "/alerts is a page: limit, offset, count, more, total" \
    test "$(code "$B/api/v1/alerts?limit=5&offset=0")" = 200
check "/alerts page fields agree" python3 - "$CS_TMP/body" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["limit"] == 5 and d["offset"] == 0, d
assert d["count"] == len(d["alerts"]) <= 5 and d["total"] >= d["count"], d
assert d["more"] == (d["total"] > 5), d
ts = [a["ts_ns"] for a in d["alerts"]]
assert ts == sorted(ts, reverse=True), ts
PY
check "/alerts limit over 1000 is 400" test "$(code "$B/api/v1/alerts?limit=1001")" = 400
check "/stream with a bad events list is 400" test "$(code "$B/api/v1/stream?events=metrics,x")" = 400
check "400 names events" grep -q '"param":"events"' "$CS_TMP/body"
check "/stream?events=metrics,alert is an event stream" \
    test "$(curl -s -o /dev/null -m 1 -w '%{http_code} %{content_type}' "$B/api/v1/stream?events=metrics,alert")" = "200 text/event-stream"

# latency per session, grouped on the server, and the list filtered by one
check "GET /api/v1/sessions?pair=fix is 200" test "$(code "$B/api/v1/sessions?pair=fix")" = 200
check "each session's count and max are its own filtered list's, every match counted once" \
    python3 - "$B/api/v1" "$CS_TMP/body" <<'PY'
import json, sys, urllib.parse, urllib.request
base, d = sys.argv[1], json.load(open(sys.argv[2]))
get = lambda q: json.load(urllib.request.urlopen(base + q))
ss = d["sessions"]
assert d["total"] == len(ss) >= 2 and not d["more"], d
assert [s["max_ns"] for s in ss] == sorted((s["max_ns"] for s in ss), reverse=True), "slowest first"
assert sum(s["count"] for s in ss) == get("/measurements?pair=fix&limit=1&total=1")["total"]
for s in ss:
    assert s["session"] == s["src"] + ">" + s["dst"], s
    q = "/measurements?pair=fix&session=" + urllib.parse.quote(s["session"])
    one = get(q + "&sort=latency&limit=1000&total=1")
    assert one["total"] == s["count"], (s, one["total"])
    assert all(m["src"] == s["src"] and m["dst"] == s["dst"] for m in one["measurements"]), s
    assert one["measurements"][0]["latency_ns"] == s["max_ns"], s
    assert s["min_ns"] <= s["p50_ns"] <= s["p90_ns"] <= s["p99_ns"] <= s["max_ns"], s
PY
check "max filters the latency from above, min and max together a range" python3 - "$B/api/v1" <<'PY'
import json, sys, urllib.request
get = lambda q: json.load(urllib.request.urlopen(sys.argv[1] + q))
lats = sorted(m["latency_ns"] for m in get("/measurements?pair=fix&limit=1000")["measurements"])
mid = lats[len(lats) // 2]
got = get("/measurements?pair=fix&limit=1000&total=1&max=%dns" % mid)
assert got["total"] == sum(1 for x in lats if x <= mid) and all(m["latency_ns"] <= mid for m in got["measurements"])
band = get("/measurements?pair=fix&limit=1000&total=1&min=%dns&max=%dns" % (lats[1], lats[-2]))
assert band["total"] == sum(1 for x in lats if lats[1] <= x <= lats[-2]), band["total"]
assert get("/sessions?pair=fix&min=%dns&max=%dns" % (lats[-1] + 1, lats[-1] + 2))["total"] == 0
PY
check "capstream latency --stats --by-session equals /sessions" python3 - "$CS_TMP/body" "$CS_BIN" "$S" <<'PY'
import json, subprocess, sys
api = {(s["session"], s["count"], s["max_ns"]) for s in json.load(open(sys.argv[1]))["sessions"]}
out = subprocess.run([sys.argv[2], "latency", "-d", sys.argv[3], "--pair", "fix", "--stats",
                      "--by-session", "--json"], capture_output=True, text=True, check=True).stdout
cli = {(d["session"], d["count"], d["max_ns"]) for d in map(json.loads, out.splitlines())}
assert cli == api, (cli ^ api)
PY
check "brief=1 lists the same measurements, each with id, pair, key and times only" \
    python3 - "$B/api/v1" <<'PY'
import json, sys, urllib.request
get = lambda q: json.load(urllib.request.urlopen(sys.argv[1] + q))
for q in ("/measurements?sort=latency&limit=50", "/measurements?pair=fix&limit=20&offset=3"):
    whole, brief = get(q), get(q + "&brief=1")
    assert len(whole["measurements"]) > 0, q
    assert [sorted(m) for m in brief["measurements"]] == \
        [["id", "key", "latency_ns", "pair", "req_ts_ns"]] * len(whole["measurements"]), q
    assert [{k: m[k] for k in ("id", "pair", "key", "req_ts_ns", "latency_ns")}
            for m in whole["measurements"]] == brief["measurements"], q
    assert {k: v for k, v in whole.items() if k != "measurements"} == \
        {k: v for k, v in brief.items() if k != "measurements"}, q
PY
check "brief=2 is 400" test "$(code "$B/api/v1/measurements?brief=2")" = 400
check "its 400 names brief" grep -q '"param":"brief"' "$CS_TMP/body"
check "a session without '>' is 400" test "$(code "$B/api/v1/measurements?session=10.0.0.1:5")" = 400
check "its 400 names session" grep -q '"param":"session"' "$CS_TMP/body"
check "bad max is 400" test "$(code "$B/api/v1/sessions?max=slow")" = 400

check "bad min is 400" test "$(code "$B/api/v1/measurements?min=fast")" = 400
check "400 names the parameter" grep -q '"param":"min"' "$CS_TMP/body"
check "bad filter is 400" test "$(code "$B/api/v1/packets?filter=tcp%20portx")" = 400
check "unknown path is 404" test "$(code "$B/api/v1/../../etc/passwd")" = 404
check "POST is 405" test "$(code -X POST "$B/api/v1/status")" = 405

check "GET /metrics is 200" test "$(code "$B/metrics")" = 200
check "/metrics has the packet counter" grep -q '^capstream_packets_total ' "$CS_TMP/body"
check "/metrics counts records not stored: 0" \
    grep -q '^capstream_records_not_stored_total 0$' "$CS_TMP/body"
if command -v promtool >/dev/null 2>&1; then
    check "promtool check metrics" bash -c "promtool check metrics <'$CS_TMP/body'"
else
    echo "t_api: promtool not installed; /metrics not linted" >&2
fi

kill "$RUN_PID" 2>/dev/null
wait "$RUN_PID" 2>/dev/null

check_fails "non-loopback --listen without --token-file is refused" "token" \
    "$CS_BIN" run -r "$REPO/samples/trading-sample.pcap" -d "$CS_TMP/s2" --listen 0.0.0.0:0

# t_serve.sh - `capstream serve -d STORE`: the API, UI and /metrics over an
# existing store, read-only, without capturing. Over a store a `run` made:
# the status counts are the store's (equal to `stats --json`), capturing
# false, the lists and a measurement's pcap as `latency`/`show` give them,
# the stored rate metrics charted, Prometheus counting the store. Over an
# empty store: zero counts and empty lists. While another process writes
# the store (a realtime `run`): serve starts (it takes no writer lock), its
# counts grow, and a new `ingest` into the store it serves succeeds. Bad
# arguments: a usage error or a clear error, never a crash.

require_data
code() { curl -s -o "$CS_TMP/body" -w '%{http_code}' "$@"; }

check_fails "serve without a store" "STORE is required" "$CS_BIN" serve
check_fails "serve of a missing store" "no store at" "$CS_BIN" serve -d "$CS_TMP/none"
mkdir -p "$CS_TMP/notstore"
check_fails "serve of a directory that is no store" "not a capstream store" \
    "$CS_BIN" serve -d "$CS_TMP/notstore"
check "serve --help documents it" sh -c "'$CS_BIN' serve --help | grep -qi 'read-only'"

# serve_start STORE: starts `serve -d STORE` on a random port (SERVE_PID, SB)
# and waits until it answers, at most 10 s.
serve_start() {
    SB_PORT=$(free_port)
    SB=http://127.0.0.1:$SB_PORT
    "$CS_BIN" serve -d "$1" --listen "127.0.0.1:$SB_PORT" >"$CS_TMP/serve.out" \
        2>"$CS_TMP/serve.err" &
    SERVE_PID=$!
    for _ in $(seq 100); do
        curl -sf "$SB/api/v1/status" >/dev/null 2>&1 && break
        sleep 0.1
    done
}

serve_stop() {
    kill -TERM "$SERVE_PID"
    wait "$SERVE_PID"
    check_eq "serve exits 0 on SIGTERM" 0 $?
}

# ---- a store a daemon wrote, served after it stopped ----------------------
S=$CS_TMP/store
python3 "$GENTRAFFIC" "$CS_TMP/g.pcap" --seconds 6 --scale 0.01 --seed 5 >/dev/null
daemon_start "$S" -r "$CS_TMP/g.pcap"
daemon_stop "$RUN_PID"
"$CS_BIN" stats -d "$S" --json >"$CS_TMP/stats.json"
"$CS_BIN" latency -d "$S" --json >"$CS_TMP/lat.jsonl"
serve_start "$S"
check "serve answers over a finished store" test "$(code "$SB/api/v1/status")" = 200
check "status: the store's counts, not capturing" python3 - "$CS_TMP/body" "$CS_TMP/stats.json" <<'PY'
import json, sys
d, s = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert d["capturing"] is False, d
assert s["packets"] > 0 and s["measurements"] > 0, s
assert d["capture"]["packets"] == s["packets"] == d["store"]["packets"], (d, s)
assert d["messages"] == s["messages"] and d["measurements"] == s["measurements"], (d, s)
assert (d["store"]["min_ts_ns"], d["store"]["max_ts_ns"]) == (s["min_ts_ns"], s["max_ts_ns"]), d
assert "read-only" in d["sources"], d
PY
check "measurements: every one latency lists" python3 - "$SB" "$CS_TMP/lat.jsonl" <<'PY'
import json, sys, urllib.request
want = [json.loads(l)["id"] for l in open(sys.argv[2])]
got, off = [], 0
while True:
    d = json.load(urllib.request.urlopen("%s/api/v1/measurements?sort=time&limit=1000&offset=%d"
                                         % (sys.argv[1], off)))
    got += [m["id"] for m in d["measurements"]]
    off += 1000
    if not d["more"]:
        break
assert sorted(got) == sorted(want), (len(got), len(want))
PY
ID=$(head -n 1 "$CS_TMP/lat.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
check "a measurement's pcap is served" test "$(code "$SB/api/v1/measurements/$ID/pcap")" = 200
"$CS_BIN" show -d "$S" "$ID" -w "$CS_TMP/show.pcap" >/dev/null 2>&1
check "the pcap is the one show -w writes" cmp -s "$CS_TMP/body" "$CS_TMP/show.pcap"
check "the stored rate metrics are listed" python3 - "$SB" <<'PY'
import json, sys, urllib.request
b = sys.argv[1]
ser = json.load(urllib.request.urlopen(b + "/api/v1/series"))["series"]
kinds = {s["kind"] for s in ser}
assert {"capture", "tap", "pair"} <= kinds, kinds
tap = [s for s in ser if s["kind"] == "tap"][0]
pts = json.load(urllib.request.urlopen(b + "/api/v1/metrics?series=" + tap["id"]))["points"]
assert sum(int(p["count"]) for p in pts) > 0, pts[:3]
PY
check "/metrics counts the store" sh -c "curl -s '$SB/metrics' | grep -qx \
    'capstream_packets_total $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["packets"])' "$CS_TMP/stats.json")'"
check "the web UI is served" test "$(code "$SB/")" = 200
serve_stop

# ---- an empty store ----------------------------------------------------------
python3 -c 'import struct,sys; open(sys.argv[1], "wb").write(struct.pack("<IHHiIII", 0xa1b23c4d, 2, 4, 0, 0, 65535, 1))' \
    "$CS_TMP/empty.pcap"
"$CS_BIN" ingest -q -r "$CS_TMP/empty.pcap" -d "$CS_TMP/empty"
serve_start "$CS_TMP/empty"
check "serve answers over an empty store" test "$(code "$SB/api/v1/status")" = 200
check "empty store: zero counts" python3 - "$CS_TMP/body" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["capture"]["packets"] == 0 and d["measurements"] == 0 and d["messages"] == 0, d
PY
check "empty store: an empty list" sh -c "test \"\$(curl -s '$SB/api/v1/measurements?limit=5')\" != '' && \
    curl -s '$SB/api/v1/measurements?limit=5' | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"count\"] == 0'"
serve_stop

# ---- a store another process is writing ----------------------------------------
W=$CS_TMP/writing
daemon_port=$(free_port)
"$CS_BIN" run -r "$CS_TMP/g.pcap" --replay realtime -d "$W" --listen "127.0.0.1:$daemon_port" \
    >"$CS_TMP/w.out" 2>"$CS_TMP/w.err" &
W_PID=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$daemon_port/api/v1/status" >/dev/null 2>&1 && break
    sleep 0.1
done
serve_start "$W"
check "serve starts next to the store's writer" test "$(code "$SB/api/v1/status")" = 200
check "its counts grow while the writer writes" python3 - "$SB" <<'PY'
import json, sys, time, urllib.request
def st():
    return json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/status"))
a = st()
time.sleep(2.5)
b = st()
assert b["capture"]["packets"] > a["capture"]["packets"], (a["capture"], b["capture"])
assert b["measurements"] > a["measurements"], (a["measurements"], b["measurements"])
assert b["capturing"] is False, b
d = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/measurements?after=1&limit=5"))
assert d["count"] > 0, d
PY
kill -TERM "$W_PID"
wait "$W_PID"
check "ingest into the store serve is serving" "$CS_BIN" ingest -q -r "$CS_TMP/g.pcap" -d "$W"
serve_stop

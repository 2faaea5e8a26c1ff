# t_clickhouse_live.sh - the export to ClickHouse while capstream runs:
# the live daemon (`capstream demo`, synthetic trading-floor traffic in
# real time) exporting with --export to a real ClickHouse (Debian's
# clickhouse-server, on loopback via scripts/clickhouse.sh). ClickHouse is
# killed with -9 in the middle of the run: the daemon keeps capturing, and
# /api/v1/status and /metrics say the export is down, with bytes pending
# and a lag; ClickHouse comes back and the export catches up by itself.
# Then the daemon is killed with -9 and started again on the same store,
# and stopped with SIGTERM: every record the store holds is in ClickHouse
# exactly once, and a back-fill afterwards finds nothing left to send.
# The web UI's status line says the export is down, then caught up.
# Also `ingest --export` and `reanalyze --export`: rows equal --json; and
# --export-tables sends only the tables chosen, another set of tables (a
# later `export --tables`) getting everything from the start.

X=$CS_TMP/chlive
CH=$REPO/scripts/clickhouse.sh
mkdir -p "$X"

if ! command -v clickhouse-server >/dev/null 2>&1; then
    fail "clickhouse-server is not installed (scripts/bootstrap.sh installs it)"
    return 0 2>/dev/null || exit 0
fi

HP=$(free_port) TP=$(free_port) IP=$(free_port)
ch_up() { CH_INTERSERVER_PORT=$IP "$CH" start "$X/ch" "$HP" "$TP" >"$X/ch.out" 2>&1; }
sql() {
    curl -sS --fail-with-body "http://127.0.0.1:$HP/?output_format_json_quote_64bit_integers=0" \
        --data-binary "$1"
}
trap '"$CH" stop "$X/ch"; [ -n "${DEMO_PID:-}" ] && kill -9 "$DEMO_PID" 2>/dev/null' EXIT
check "ClickHouse starts ($(cat "$X/ch.out" 2>/dev/null))" ch_up
U=http://127.0.0.1:$HP/live

# demo_up: the demo daemon on store $X/s exporting to $U (sets DEMO_PID, DB)
demo_up() {
    local port
    port=$(free_port)
    DB=http://127.0.0.1:$port
    # TMPDIR: the rules file of a demo killed with -9 stays with the test
    TMPDIR=$X "$CS_BIN" demo --store "$X/s" --listen "127.0.0.1:$port" --rate 2000 --seed "$1" \
        --export "clickhouse=$U" --sensor edge1 >"$X/demo$1.out" 2>"$X/demo$1.err" &
    DEMO_PID=$!
    for _ in $(seq 100); do
        curl -sf "$DB/api/v1/status" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}
# until_status SECONDS PYEXPR: polls /api/v1/status until PYEXPR (over "s",
# the status, and "x", its export object) holds
until_status() {
    python3 - "$DB/api/v1/status" "$1" "$2" <<'PY'
import json, sys, time, urllib.request
url, secs, expr = sys.argv[1], float(sys.argv[2]), sys.argv[3]
end = time.time() + secs
s = {}
while time.time() < end:
    try:
        s = json.load(urllib.request.urlopen(url, timeout=2))
        x = s.get("export", {})
        if eval(expr):
            sys.exit(0)
    except (OSError, ValueError, KeyError):  # not up yet, no export object yet
        pass
    time.sleep(0.2)
print("status never had", expr, ":", json.dumps(s.get("export")), file=sys.stderr)
sys.exit(1)
PY
}

# ui_says STATE: the web UI's status line in Chromium (tests/browser/export.test.js)
ui_says() {
    local shots=${CS_ARTIFACTS:-$CS_TMP/screenshots}/chromium
    mkdir -p "$shots"
    if [ ! -d "$REPO/tests/browser/node_modules/playwright-core" ]; then
        fail "tests/browser/node_modules missing (npm ci --prefix tests/browser)"
    elif (cd "$REPO/tests/browser" && timeout 120 node export.test.js chromium "$DB" "$shots" "$1") \
        >"$X/ui-$1.log" 2>&1; then
        pass
    else
        fail "the web UI's export status ($1): $(grep FAIL "$X/ui-$1.log" | head -5)"
    fi
}

check "the demo daemon starts with --export" demo_up 1
check "its status shows the export sending rows" \
    until_status 20 'x["up"] and x["rows"]["messages"] > 0 and x["rows"]["measurements"] > 0'
check "and metrics windows, with a count for alerts" \
    until_status 10 'x["rows"]["metrics"] > 0 and x["rows"]["alerts"] >= 0'
check "the status names the target and sensor" \
    until_status 2 'x["target"] == "'"$U"'" and x["sensor"] == "edge1"'

# ---- ClickHouse killed with -9 while the daemon runs ----------------------
kill -9 "$(cat "$X/ch/pid")"
check "with ClickHouse gone the status says the export is down" \
    until_status 20 'not x["up"] and x["failures"] > 0 and "ClickHouse" in x["last_error"]'
msgs0=$(curl -s "$DB/api/v1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
check "and records pile up, pending, with a lag" \
    until_status 20 'x["pending_bytes"] > 0 and x["lag_s"] >= 1'
check "capture and analysis go on meanwhile" until_status 10 's["messages"] > '"$msgs0"
curl -s "$DB/metrics" >"$X/down.prom"
check "/metrics says the export is down" grep -qx 'capstream_export_up 0' "$X/down.prom"
check "/metrics counts the windows sent" \
    grep -Eq '^capstream_export_rows_total\{table="metrics"\} [1-9][0-9]*$' "$X/down.prom"
check "/metrics has the bytes pending" \
    grep -Eq '^capstream_export_pending_bytes [1-9][0-9]*$' "$X/down.prom"
check "/metrics has the lag" grep -Eq '^capstream_export_lag_seconds [1-9]' "$X/down.prom"
ui_says "down"
check "ClickHouse restarts" ch_up
check "the export catches up by itself once ClickHouse is back" \
    until_status 40 'x["up"] and x["pending_bytes"] == 0 and x["lag_s"] == 0'
ui_says "up"

# ---- the daemon killed with -9, started again, stopped ---------------------
kill -9 "$DEMO_PID"
wait "$DEMO_PID" 2>/dev/null
check "the demo daemon starts again on the same store" demo_up 2
check "the restarted daemon exports" until_status 20 'x["up"] and x["rows"]["messages"] > 0'
kill -TERM "$DEMO_PID"
wait "$DEMO_PID"
status=$?
DEMO_PID=
check_eq "it exits 0 on SIGTERM ($(tail -c 300 "$X/demo2.err"))" 0 "$status"
check "it sent everything before exiting" grep -q "every record sent" "$X/demo2.err"

"$CS_BIN" messages -d "$X/s" --json >"$X/s.msg"
"$CS_BIN" latency -d "$X/s" --json >"$X/s.lat"
check "the store holds thousands of messages ($(wc -l <"$X/s.msg"))" \
    test "$(wc -l <"$X/s.msg")" -gt 5000
sql "SELECT * FROM live.messages FINAL FORMAT JSONEachRow" >"$X/final.msg"
sql "SELECT * FROM live.measurements FINAL FORMAT JSONEachRow" >"$X/final.lat"
check "after ClickHouse and the daemon were killed: every message exactly once" \
    python3 "$GOLDEN/ch_check.py" messages "$X/final.msg" "edge1=$X/s.msg"
check "and every measurement exactly once" \
    python3 "$GOLDEN/ch_check.py" measurements "$X/final.lat" "edge1=$X/s.lat"
"$CS_BIN" gaps -d "$X/s" --json >"$X/s.gap"
sql "SELECT * FROM live.gaps FINAL FORMAT JSONEachRow" >"$X/final.gap"
check "and every feed gap exactly once ($(wc -l <"$X/s.gap"))" \
    python3 "$GOLDEN/ch_check.py" gaps "$X/final.gap" "edge1=$X/s.gap"
check "a back-fill afterwards finds nothing left" \
    "$CS_BIN" export -d "$X/s" --to "clickhouse=$U" --sensor edge1 2>"$X/backfill.err"
check "it says it sent nothing ($(cat "$X/backfill.err"))" \
    grep -q "0 messages, 0 measurements, 0 unmatched, 0 gaps, 0 metrics windows, 0 alert events in 0 batches" "$X/backfill.err"

# ---- per-second metrics windows and alert events ------------------------------
# The truth is the sensor's own API over the store (`capstream serve`):
# every stored window (/api/v1/metrics, step 1s) and alert event is one row
# of tables metrics and alerts, equal member for member, none twice.
SP=$(free_port)
"$CS_BIN" serve -d "$X/s" --listen "127.0.0.1:$SP" >"$X/serve.out" 2>"$X/serve.err" &
SERVE_PID=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$SP/api/v1/status" >/dev/null 2>&1 && break
    sleep 0.1
done
sql "SELECT * FROM live.metrics FINAL FORMAT JSONEachRow" >"$X/final.met"
sql "SELECT * FROM live.alerts FINAL FORMAT JSONEachRow" >"$X/final.alr"
check "the store holds windows of tens of series ($(wc -l <"$X/final.met") rows)" \
    test "$(wc -l <"$X/final.met")" -gt 200
check "the demo's rules fired ($(wc -l <"$X/final.alr") alert rows)" \
    test "$(wc -l <"$X/final.alr")" -gt 0
check "every metrics window and alert event exactly once ($(python3 "$GOLDEN/ch_metrics_check.py" \
    "http://127.0.0.1:$SP" edge1 "$X/final.met" "$X/final.alr" 2>&1 | head -1))" \
    python3 "$GOLDEN/ch_metrics_check.py" "http://127.0.0.1:$SP" edge1 "$X/final.met" "$X/final.alr"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null

# ---- ingest --export, reanalyze --export ------------------------------------
python3 "$GENTRAFFIC" "$X/g.pcap" --seconds 1 --scale 0.2 --seed 3 >/dev/null 2>&1
check "ingest --export" "$CS_BIN" ingest -r "$X/g.pcap" -d "$X/g" \
    --export "clickhouse=http://127.0.0.1:$HP/batch" --sensor g1 >"$X/ingest.out"
check "its summary says what it sent ($(tail -1 "$X/ingest.out"))" \
    grep -Eq "^export to http://127.0.0.1:$HP/batch as g1: [1-9][0-9]* messages" "$X/ingest.out"
"$CS_BIN" messages -d "$X/g" --json >"$X/g.msg"
"$CS_BIN" latency -d "$X/g" --json >"$X/g.lat"
sql "SELECT * FROM batch.messages FINAL FORMAT JSONEachRow" >"$X/g.rows"
check "ingest --export: ClickHouse's messages equal messages --json" \
    python3 "$GOLDEN/ch_check.py" messages "$X/g.rows" "g1=$X/g.msg"
check "reanalyze --export" "$CS_BIN" reanalyze -d "$X/g" \
    --export "clickhouse=http://127.0.0.1:$HP/batch" --sensor g1 >"$X/re.out"
check "it sent the reanalysed records again ($(tail -1 "$X/re.out"))" \
    grep -Eq "as g1: [1-9][0-9]* messages, [1-9][0-9]* measurements" "$X/re.out"
sql "SELECT * FROM batch.measurements FINAL FORMAT JSONEachRow" >"$X/g.lrows"
check "after reanalyze: measurements still exactly once" \
    python3 "$GOLDEN/ch_check.py" measurements "$X/g.lrows" "g1=$X/g.lat"
# a file replaced with fewer records (as a reanalysis by a decoder that no
# longer yields some leaves it: here the FIX messages and measurements are
# dropped from copies renamed over the files): the export deletes the old
# files' rows before it sends the new ones, so those records leave
# ClickHouse too
fix_rows() { sql "SELECT count() FROM batch.$1 FINAL WHERE sensor = 'g1' AND $2"; }
check "FIX rows were sent" test "$(fix_rows messages "proto = 'fix'")" -gt 0
for f in "$X"/g/messages/msg-*.bin; do python3 "$GOLDEN/msgfile_drop.py" "$f" msg fix; done >/dev/null
for f in "$X"/g/messages/lat-*.bin; do python3 "$GOLDEN/msgfile_drop.py" "$f" lat fix; done >/dev/null
"$CS_BIN" messages -d "$X/g" --json >"$X/g2.msg"
"$CS_BIN" latency -d "$X/g" --json >"$X/g2.lat"
check_eq "the store has no FIX message left" 0 "$(grep -c '"proto":"fix"' "$X/g2.msg")"
check "capstream export sends the replaced files" "$CS_BIN" export -d "$X/g" \
    --to "clickhouse=http://127.0.0.1:$HP/batch" --sensor g1
# the deletes are mutations, which ClickHouse applies in the background
for _ in $(seq 100); do
    [ "$(fix_rows messages "proto = 'fix'") $(fix_rows measurements "pair = 'fix'")" = "0 0" ] &&
        break
    sleep 0.2
done
check_eq "nor has ClickHouse: the replaced files' rows were deleted" "0 0" \
    "$(fix_rows messages "proto = 'fix'") $(fix_rows measurements "pair = 'fix'")"
sql "SELECT * FROM batch.messages FINAL FORMAT JSONEachRow" >"$X/g2.rows"
check "ClickHouse's messages equal messages --json again" \
    python3 "$GOLDEN/ch_check.py" messages "$X/g2.rows" "g1=$X/g2.msg"
sql "SELECT * FROM batch.measurements FINAL FORMAT JSONEachRow" >"$X/g2.lrows"
check "and its measurements latency --json" \
    python3 "$GOLDEN/ch_check.py" measurements "$X/g2.lrows" "g1=$X/g2.lat"
# --export-tables: only those tables; another set has its own cursor
check "ingest --export-tables measurements,gaps" "$CS_BIN" ingest -q -r "$X/g.pcap" -d "$X/g3" \
    --export "clickhouse=http://127.0.0.1:$HP/part" --sensor g1 --export-tables measurements,gaps
sql "SELECT * FROM part.measurements FINAL FORMAT JSONEachRow" >"$X/p.lrows"
check "its measurements equal latency --json" \
    python3 "$GOLDEN/ch_check.py" measurements "$X/p.lrows" "g1=$X/g.lat"
check_eq "and no message was sent" 0 "$(sql "SELECT count() FROM part.messages")"
check "capstream export --tables messages back-fills the messages" "$CS_BIN" export -d "$X/g3" \
    --to "clickhouse=http://127.0.0.1:$HP/part" --sensor g1 --tables messages
sql "SELECT * FROM part.messages FINAL FORMAT JSONEachRow" >"$X/p.rows"
check "from the start: they equal messages --json" \
    python3 "$GOLDEN/ch_check.py" messages "$X/p.rows" "g1=$X/g.msg"
check_eq "the measurements were not sent twice" "$(wc -l <"$X/g.lat")" \
    "$(sql "SELECT count() FROM part.measurements")"
check_fails "an unknown table is refused" "no table 'trades'" \
    "$CS_BIN" export -d "$X/g3" --to "clickhouse=http://127.0.0.1:$HP/part" --tables trades
check_fails "--sensor without --export is refused" "give --export" \
    "$CS_BIN" ingest -r "$X/g.pcap" -d "$X/g2" --sensor g1
check_fails "--export needs clickhouse=URL" "clickhouse=URL" \
    "$CS_BIN" run -r "$X/g.pcap" -d "$X/g2" --export "http://127.0.0.1:$HP/x"

# t_run.sh - the daemon on a capture file: `capstream run -r FILE` replays it
# through the same single pass as ingest (measurements equal the ground
# truth), keeps per-second metrics and fires alert rules, serves while it
# runs, reloads its rules on SIGHUP and exits 0 on SIGTERM.

python3 "$GENTRAFFIC" "$CS_TMP/g.pcap" --truth "$CS_TMP/g.truth" --seconds 3 --scale 0.1 \
    --quirks --seed 51 >/dev/null
PORT=$(free_port)
S=$CS_TMP/store
cat >"$CS_TMP/rules.conf" <<'RULES'
# alert rules for the test
fix_slow: pair=fix p99 > 200us for 1s
never: pair=dns max > 1h
RULES
"$CS_BIN" run -r "$CS_TMP/g.pcap" -d "$S" --listen "127.0.0.1:$PORT" \
    --config "$CS_TMP/rules.conf" >"$CS_TMP/run.out" 2>"$CS_TMP/run.err" &
pid=$!

api() { curl -s --max-time 5 "http://127.0.0.1:$PORT$1"; }
done_replaying() {
    api /api/v1/status | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["capturing"] in (0, False) else 1)' 2>/dev/null
}
for i in $(seq 1 300); do
    done_replaying && break
    sleep 0.1
done
check "daemon replayed the file and reports it" done_replaying
sleep 1.2 # one more tick: messages and metrics flushed
status=$(api /api/v1/status)
check "status counts every packet" python3 -c '
import json, sys
s = json.loads(sys.argv[1]); sys.exit(0 if s["capture"]["packets"] == int(sys.argv[2]) else 1)' \
    "$status" "$(tcpdump -r "$CS_TMP/g.pcap" 2>/dev/null | wc -l)"
"$CS_BIN" latency -d "$S" --json >"$CS_TMP/lat.jsonl"
check "run's measurements equal the ground truth" \
    python3 "$GOLDEN/truth_check.py" "$CS_TMP/lat.jsonl" "$CS_TMP/g.truth" --pairs fix,http,dns
check "per-second metrics stored" test -n "$(ls "$S"/metrics/ 2>/dev/null)"
api "/api/v1/alerts" >"$CS_TMP/alerts.json"
check "fix_slow fired" grep -q '"fix_slow"' "$CS_TMP/alerts.json"
check "the rule that cannot fire did not" bash -c "! grep -q '\"never\"' '$CS_TMP/alerts.json'"
api /metrics >"$CS_TMP/prom.txt"
check "/metrics has per-pair latency histograms" grep -q 'pair="fix"' "$CS_TMP/prom.txt"
# SIGHUP: a broken rule file is refused and the old rules stay; a good one loads.
echo "broken rule line" >"$CS_TMP/rules.conf"
kill -HUP "$pid"
sleep 1.5
check "bad rules on reload are reported" grep -q "rules.conf" "$CS_TMP/run.err"
check "daemon alive after a bad reload" kill -0 "$pid"
kill -TERM "$pid"
for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid"
check_eq "SIGTERM: exit 0" 0 "$?"
check "store consistent after shutdown" "$CS_BIN" query -d "$S" --count tcp
check_fails "run without a source" "either -i IFACE or -r FILE" "$CS_BIN" run -d "$S"
check_fails "run on a missing interface" "no interface" "$CS_BIN" run -i nosuchif0 -d "$S" --listen "127.0.0.1:$PORT"
check_fails "non-loopback listen without a token" "token" "$CS_BIN" run -r "$CS_TMP/g.pcap" -d "$S" --listen "0.0.0.0:$PORT"
# An alert on a pair links to the measurements of its windows, slowest first.
link=$(python3 -c 'import json,sys; a=[x for x in json.load(open(sys.argv[1]))["alerts"] if x["rule"]=="fix_slow"]; print(a[0]["measurements"])' "$CS_TMP/alerts.json" 2>/dev/null)
check "fix_slow links to its measurements" test -n "$link"

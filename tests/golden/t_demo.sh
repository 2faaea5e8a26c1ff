# t_demo.sh - `capstream demo`: the daemon on the built-in synthetic
# traffic, no root and no file. It prints the UI's URL, serves the API while
# the packet count grows, exits 0 after --seconds, leaves a store (--store)
# with packets and FIX, HTTP and DNS measurements; without --store its
# temporary store is removed at exit. Its trading traffic is analysed as
# with --tap-by vlan and the demo's decoder ports: the store has OUCH, A/B,
# hop and tick-to-trade measurements, gaps on feeds A and B at taps 101 and
# 102 (some recovered by the other feed, and some missing on both), and
# `capstream feeds` lists both feeds at both taps.

# 5 seconds: on a loaded machine the daemon may take a second or two to
# serve, and the status must still answer twice before the run ends
PORT=$(free_port)
S=$CS_TMP/store
"$CS_BIN" demo --seconds 5 --listen "127.0.0.1:$PORT" --store "$S" \
    >"$CS_TMP/demo.out" 2>"$CS_TMP/demo.err" &
pid=$!

packets_now() {
    curl -s --max-time 2 "http://127.0.0.1:$PORT/api/v1/status" | python3 -c \
        'import json,sys; print(json.load(sys.stdin)["capture"]["packets"])' 2>/dev/null
}
first=""
for i in $(seq 1 30); do
    first=$(packets_now) && [ -n "$first" ] && break
    sleep 0.1
done
sleep 1
second=$(packets_now)
check "status answered during the run ($first then $second packets)" \
    test -n "$first" -a -n "$second"
check "the packet count grows" test "${second:-0}" -gt "${first:-0}"
wait "$pid"
status=$?
check "demo --seconds 5 exits 0 (got $status)" test "$status" -eq 0
check "demo printed the UI URL" grep -q "http://127.0.0.1:$PORT/" "$CS_TMP/demo.out"
check "the store has packets" python3 -c '
import re, sys
m = re.search(r"^packets:\s+(\d+)", sys.stdin.read(), re.M)
sys.exit(0 if m and int(m.group(1)) > 3000 else 1)' < <("$CS_BIN" stats -d "$S")
"$CS_BIN" latency -d "$S" --stats >"$CS_TMP/lat.txt"
for p in fix http dns ouch ab hop t2t; do
    check "$p measurements stored" awk -v p=$p '$1 == p && $2 > 50 { ok = 1 } END { exit !ok }' \
        "$CS_TMP/lat.txt"
done
"$CS_BIN" gaps -d "$S" --json >"$CS_TMP/gaps.jsonl"
check "gaps on feeds A and B at taps 101 and 102, some recovered" python3 -c '
import json, sys
g = [json.loads(l) for l in open(sys.argv[1])]
gaps = [x for x in g if x["kind"] == "gap"]
seen = {(x["tap"], x["feed"]) for x in gaps}
want = {(t, f) for t in (101, 102) for f in ("233.54.12.111:26477", "233.54.12.112:26478")}
sys.exit(0 if seen == want and any(x["recovered"] for x in gaps) else 1)' "$CS_TMP/gaps.jsonl"
check "numbers missing on both feeds (abgap) at both taps" python3 -c '
import json, sys
g = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if {x["tap"] for x in g if x["kind"] == "abgap"} == {101, 102} else 1)' \
    "$CS_TMP/gaps.jsonl"
"$CS_BIN" feeds -d "$S" --json >"$CS_TMP/feeds.jsonl"
check "feeds: A and B at taps 101 and 102, with data, heartbeats and A/B races" python3 -c '
import json, sys
f = [json.loads(l) for l in open(sys.argv[1])]
ok = {(x["tap"], x["feed"]) for x in f
      if x["data_packets"] > 0 and x["heartbeats"] > 0 and x["races"] > 0}
want = {(t, d) for t in (101, 102) for d in ("233.54.12.111:26477", "233.54.12.112:26478")}
sys.exit(0 if ok == want else 1)' "$CS_TMP/feeds.jsonl"

# without --store: a temporary store under $TMPDIR, gone at exit
mkdir -p "$CS_TMP/tmpdir"
TMPDIR=$CS_TMP/tmpdir "$CS_BIN" demo --seconds 1 --listen "127.0.0.1:$((PORT + 1))" \
    >"$CS_TMP/demo2.out" 2>"$CS_TMP/demo2.err"
check "demo with a temporary store exits 0" test $? -eq 0
check "it said where the temporary store was" grep -q "$CS_TMP/tmpdir/capstream-demo-" \
    "$CS_TMP/demo2.out"
check "the temporary store is removed at exit" test -z "$(ls -A "$CS_TMP/tmpdir")"
check_fails "a bad --rate is a usage error" "rate" "$CS_BIN" demo --rate nope

# a taken port: an error, and no URL printed for a UI that is not there
BUSY=$((PORT + 2))
python3 -c 'import socket,sys,time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(8)' "$BUSY" &
holder=$!
for _ in $(seq 100); do # until the holder really listens (python may start slowly)
    ss -ltn 2>/dev/null | grep -q "127.0.0.1:$BUSY " && break
    sleep 0.1
done
check_fails "demo on a taken port fails" "listen" "$CS_BIN" demo --seconds 1 --listen "127.0.0.1:$BUSY"
check "no URL printed when the server could not start" bash -c "! grep -q http: '$CS_TMP/out'"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

# Ctrl-C: exits 0 and removes the temporary store
mkdir -p "$CS_TMP/tmpdir3"
TMPDIR=$CS_TMP/tmpdir3 "$CS_BIN" demo --listen "127.0.0.1:$((PORT + 3))" \
    >"$CS_TMP/demo3.out" 2>"$CS_TMP/demo3.err" &
pid=$!
sleep 1.5
kill -INT "$pid"
wait "$pid"
check "demo exits 0 on SIGINT" test $? -eq 0
check "and removes its temporary store" test -z "$(ls -A "$CS_TMP/tmpdir3")"

#!/usr/bin/env bash
# bench/ui_demo.sh - how long the web UI takes to render each view of the
# demo after it has captured for a while: `capstream demo` (synthetic
# trading-floor traffic at its default 5,000 packets/s, the full live
# pipeline) runs for $MINUTES minutes, then bench/ui_load.js loads each
# view over the whole capture in headless Chromium while the demo goes on
# capturing: the overview, the slowest FIX measurements (pages 1 and 100),
# one measurement with its packets, a search by ClOrdID. Prints the median
# and worst of $RUNS loads per view, in milliseconds.
#
#   bench/ui_demo.sh                    (15 minutes, 5 runs)
#
# Environment: CS_BIN (default build/capstream), MINUTES (default 15),
# RUNS (default 5), PORT (default 18643), BASE (an already running
# daemon's URL: no demo is started, MINUTES is not waited), SLOWEST (the
# slowest API requests of each view to list, see bench/ui_load.js).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
CS_BIN=${CS_BIN:-$REPO/build/capstream}
MINUTES=${MINUTES:-15}
RUNS=${RUNS:-5}
PORT=${PORT:-18643}

if [ -z "${BASE:-}" ]; then
    BASE=http://127.0.0.1:$PORT
    STORE=$(mktemp -d /tmp/capstream-uidemo.XXXXXX)
    "$CS_BIN" demo --listen "127.0.0.1:$PORT" --store "$STORE/s" \
        --seconds $((MINUTES * 60 + 600)) >"$STORE/demo.log" 2>&1 &
    DEMO=$!
    trap 'kill $DEMO 2>/dev/null; wait $DEMO 2>/dev/null; rm -rf "$STORE"' EXIT
    echo "demo capturing for $MINUTES minutes ..." >&2
    sleep $((MINUTES * 60))
fi

# the range (first stored packet to now), a slow FIX measurement and its key
read -r AFTER BEFORE MEAS KEY < <(python3 - "$BASE/api/v1" <<'PY'
import json, sys, urllib.request
get = lambda q: json.load(urllib.request.urlopen(sys.argv[1] + q))
st = get("/status")
m = get("/measurements?pair=fix&sort=latency&limit=1")["measurements"][0]
print(st["store"]["min_ts_ns"], st["store"]["max_ts_ns"] + 1, m["id"], m["key"])
PY
)
echo "range $AFTER .. $BEFORE, measurement $MEAS, key $KEY" >&2
curl -s "$BASE/api/v1/status" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("store:", d["store"])' >&2
node "$REPO/bench/ui_load.js" "$BASE" "$AFTER" "$BEFORE" "$MEAS" "$KEY" "$RUNS"

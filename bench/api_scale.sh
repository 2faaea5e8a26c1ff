#!/usr/bin/env bash
# bench/api_scale.sh - the HTTP API on a big store: a day of per-second
# metrics and millions of measurements (bench/bigstore.c drives the real
# message and metric store writers), served by the real daemon while it
# captures (`capstream run -r GEN.pcap --replay realtime`). For every
# endpoint the web UI uses it prints median and p99 milliseconds over
# $RUNS sequential curl requests and the response size, then wrk (if
# installed) on a few with $CONC connections, then how long the web UI
# takes to render each view in headless Chromium (bench/ui_load.js).
#
#   bench/api_scale.sh                  (2,000,000 measurements, one day)
#
# Environment: CS_BIN (default build/capstream), LIB (default
# build/libcapstream.a), MEAS (measurements, default 2000000), RUNS
# (default 21), CONC (wrk connections, default 8), OUT (default
# bench/out). The store is rebuilt only when
# MEAS changes (bench/out/api-store, ~1 GB for 2 M measurements).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
CS_BIN=${CS_BIN:-$REPO/build/capstream}
LIB=${LIB:-$REPO/build/libcapstream.a}
MEAS=${MEAS:-2000000}
RUNS=${RUNS:-21}
CONC=${CONC:-8}
OUT=${OUT:-$REPO/bench/out}
STORE=$OUT/api-store
mkdir -p "$OUT"

# --- the store ---------------------------------------------------------------
cc -std=c11 -O2 -D_GNU_SOURCE -I"$REPO/src" "$REPO/bench/bigstore.c" "$LIB" \
    $(pkg-config --libs libpcap jansson libzstd libmicrohttpd) -lpthread -lm -o "$OUT/bigstore"
if [ "$(cat "$STORE.params" 2>/dev/null)" != "$MEAS" ]; then
    rm -rf "$STORE"
    echo "building $STORE: $MEAS measurements over a day ..." >&2
    "$OUT/bigstore" "$STORE" "$MEAS" >"$STORE.info"
    echo "$MEAS" >"$STORE.params"
fi
read -r DAY_A DAY_B N_MEAS N_MSGS N_ALERTS <"$STORE.info"
echo "store: $N_MEAS measurements, $N_MSGS messages, $N_ALERTS alert events, $(du -sh "$STORE" | cut -f1)" >&2

# --- the daemon, capturing meanwhile -----------------------------------------
python3 "$REPO/tools/gentraffic.py" "$OUT/api-live.pcap" --seconds 120 --scale 0.05 \
    --seed 5 >/dev/null
PORT=$((20000 + RANDOM % 20000))
B=http://127.0.0.1:$PORT
"$CS_BIN" run -r "$OUT/api-live.pcap" --replay realtime -d "$STORE" --listen "127.0.0.1:$PORT" \
    >"$OUT/api-run.out" 2>"$OUT/api-run.err" &
RUN_PID=$!
trap 'kill $RUN_PID 2>/dev/null; wait $RUN_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -sf "$B/api/v1/status" >/dev/null 2>&1 && break
    sleep 0.1
done

ID=$(curl -s "$B/api/v1/measurements?pair=fix&after=$DAY_A&before=$DAY_B&sort=store&limit=1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["measurements"][0]["id"])')
KEY=C$(printf '%09d' $((N_MEAS / 2)))
MID=$((DAY_A + (DAY_B - DAY_A) / 2))
STEP=$(((86400 + 299) / 300))s # the UI's step: ceil(range / 300 points)
R="after=$DAY_A&before=$DAY_B"

ENDPOINTS=(
    "/api/v1/status"
    "/api/v1/series?$R"
    "/api/v1/metrics?series=pair:fix&$R&step=$STEP"
    "/api/v1/metrics?series=tap:0&$R&step=$STEP"
    "/api/v1/metrics?series=pair:fix&$R&step=1s"
    "/api/v1/measurements?pair=fix&$R&limit=1"
    "/api/v1/measurements?pair=fix&$R&sort=latency&limit=1000"
    "/api/v1/measurements?pair=fix&$R&sort=latency&limit=100"
    "/api/v1/measurements?pair=fix&$R&sort=latency&limit=100&offset=9900"
    "/api/v1/measurements?pair=fix&after=$MID&before=$((MID + 2000000000))&sort=latency&limit=100"
    "/api/v1/measurements/$ID"
    "/api/v1/messages?key=$KEY&limit=100"
    "/api/v1/measurements?key=$KEY&limit=100"
    "/api/v1/alerts?$R"
    "/api/v1/alerts?$R&limit=100&offset=1000"
)

# time_one URL: RUNS sequential requests; prints "median_ms p99_ms bytes".
time_one() {
    local url=$1 i
    for i in $(seq 1 "$RUNS"); do
        curl -s -o /dev/null -w '%{time_total} %{size_download} %{http_code}\n' "$url"
    done | python3 -c '
import sys
rows = [l.split() for l in sys.stdin if l.strip()]
t = sorted(float(r[0]) * 1000 for r in rows)
codes = {r[2] for r in rows}
p99 = t[min(len(t) - 1, int(0.99 * len(t)))]
print("%9.1f %9.1f %10s %s" % (t[len(t) // 2], p99, rows[-1][1], ",".join(sorted(codes))))'
}

printf '%-100s %9s %9s %10s %s\n' endpoint median_ms p99_ms bytes http
for ep in "${ENDPOINTS[@]}"; do
    curl -s -o /dev/null "$B$ep" # warm
    printf '%-100s %s\n' "${ep:0:100}" "$(time_one "$B$ep")"
done

if command -v wrk >/dev/null; then
    for ep in "/api/v1/status" "/api/v1/metrics?series=pair:fix&$R&step=$STEP" \
        "/api/v1/measurements?pair=fix&$R&sort=latency&limit=100"; do
        echo "wrk -c$CONC -t2 -d10s --latency $ep" >&2
        wrk -c"$CONC" -t2 -d10s --latency "$B$ep" |
            awk '/Requests\/sec|^ +50%|^ +99%/ {printf "  %s", $0} END {print ""}'
    done
fi
if command -v node >/dev/null && [ -d "$REPO/tests/browser/node_modules/playwright-core" ]; then
    echo "web UI in headless Chromium, rendered view by view (bench/ui_load.js):" >&2
    node "$REPO/bench/ui_load.js" "$B" "$DAY_A" "$DAY_B" "$ID" "$KEY" 5
else
    echo "no node or tests/browser/node_modules: no web UI timings" >&2
fi
curl -s "$B/api/v1/status" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("still capturing:", d["capturing"], "store:", d["store"])'

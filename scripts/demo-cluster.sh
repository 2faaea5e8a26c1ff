#!/usr/bin/env bash
# demo-cluster.sh - many sensors seen as one, on this machine: a ClickHouse
# server (Debian's clickhouse-server, via scripts/clickhouse.sh, its data in
# a temporary directory), two `capstream demo` sensors on synthetic
# trading-floor traffic (ny4 and ld4, different seeds) exporting to it
# live, and a `capstream hub` over both with ClickHouse behind it.
#
#   scripts/demo-cluster.sh [BIN]        (make demo-cluster)
#
# Ports (loopback only), each overridable from the environment:
#   HUB_PORT 8650 (the web UI and API of the hub), SENSOR1_PORT 8642,
#   SENSOR2_PORT 8643, CH_HTTP_PORT 18123, CH_TCP_PORT 19000.
# Ctrl-C (or SIGTERM) stops everything and removes the temporary data;
# DEMO_SECONDS=N stops it after N seconds (the test uses it).
set -euo pipefail

BIN=${1:-build/capstream}
HERE=$(cd "$(dirname "$0")" && pwd)
HUB_PORT=${HUB_PORT:-8650}
S1=${SENSOR1_PORT:-8642}
S2=${SENSOR2_PORT:-8643}
CHH=${CH_HTTP_PORT:-18123}
CHT=${CH_TCP_PORT:-19000}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/capstream-cluster-XXXXXX")
PIDS=()

cleanup() {
    trap - EXIT INT TERM
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    "$HERE/clickhouse.sh" stop "$DIR/ch" || true
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

echo "demo-cluster: starting ClickHouse on 127.0.0.1:$CHH (data in $DIR/ch)"
CH_INTERSERVER_PORT=$((CHT + 9)) "$HERE/clickhouse.sh" start "$DIR/ch" "$CHH" "$CHT"
CH=http://127.0.0.1:$CHH/capstream

sensor() { # sensor NAME PORT SEED
    "$BIN" demo --listen "127.0.0.1:$2" --seed "$3" --store "$DIR/$1" \
        --export "clickhouse=$CH" --sensor "$1" >"$DIR/$1.out" 2>"$DIR/$1.err" &
    PIDS+=($!)
}
sensor ny4 "$S1" 1
sensor ld4 "$S2" 2
"$BIN" hub --sensor "ny4=http://127.0.0.1:$S1" --sensor "ld4=http://127.0.0.1:$S2" \
    --clickhouse "$CH" --listen "127.0.0.1:$HUB_PORT" >"$DIR/hub.out" 2>"$DIR/hub.err" &
PIDS+=($!)
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$HUB_PORT/api/v1/status" 2>/dev/null | grep -q '"partial":false' && break
    sleep 0.1
done
cat <<EOF
demo-cluster: sensors ny4 http://127.0.0.1:$S1/ and ld4 http://127.0.0.1:$S2/ (capstream demo --export)
demo-cluster: ClickHouse $CH (tables messages, measurements, gaps, metrics, alerts)
demo-cluster: open http://127.0.0.1:$HUB_PORT/ — the hub's web UI over both; its API is under /api/v1/
demo-cluster: try  curl -s 'http://127.0.0.1:$HUB_PORT/api/v1/measurements?sort=latency&limit=5'
demo-cluster: Ctrl-C stops everything
EOF
if [ -n "${DEMO_SECONDS:-}" ]; then
    sleep "$DEMO_SECONDS"
else
    while kill -0 "${PIDS[0]}" 2>/dev/null; do sleep 1; done
fi

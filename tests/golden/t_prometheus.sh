# t_prometheus.sh - a real Prometheus server (Debian `prometheus`) scrapes
# the daemon's /metrics: `capstream run -r sample --listen 127.0.0.1:PORT`
# replays the bundled sample (the test waits for capturing=false, so the
# per-pair latency histograms exist), `promtool check metrics` lints the
# exposition text with no complaint, then /usr/bin/prometheus with a
# temporary config scrapes 127.0.0.1:PORT every second and its query API
# must show: up == 1, capstream_packets_total equal to the packets of
# /api/v1/status, per pair the +Inf bucket equal to _count and to
# capstream_pair_measurements_total, and a finite, positive
# histogram_quantile() - so Prometheus parsed the histogram families as
# histograms. Both servers stop on SIGTERM; capstream must exit 0.
#
#   capstream run :PORT  <-- scrape every 1 s --  prometheus :PPORT  <-- queries
#
# Every wait is bounded; both ports free ones below the ephemeral range
# (free_port), all on 127.0.0.1.
# Needs prometheus and promtool (scripts/bootstrap.sh installs them).

S=$CS_TMP/store
PORT=$(free_port)
PPORT=$(free_port)
while [ "$PPORT" = "$PORT" ]; do PPORT=$(free_port); done
B=http://127.0.0.1:$PORT
PB=http://127.0.0.1:$PPORT
RUN_PID=
PROM_PID=

prom_cleanup() {
    local p
    for p in "$PROM_PID" "$RUN_PID"; do
        if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
            kill -KILL "$p" 2>/dev/null
            wait "$p" 2>/dev/null
        fi
    done
}

# wait_for SECONDS COMMAND...: retries COMMAND every 0.1 s until it succeeds
# or SECONDS have passed.
wait_for() {
    local tries=$(($1 * 10))
    shift
    for _ in $(seq "$tries"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

replay_done() { curl -sf "$B/api/v1/status" | grep -q '"capturing":false'; }

# stop_pid PID: SIGTERM, at most 30 s to exit; sets STOP_STATUS to the
# exit status, or "timeout" (not in $(...): wait needs this shell).
stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        STOP_STATUS=timeout
        return
    fi
    wait "$pid"
    STOP_STATUS=$?
}

prom_start_capstream() {
    "$CS_BIN" run -r "$REPO/samples/trading-sample.pcap" -d "$S" --listen "127.0.0.1:$PORT" \
        >"$CS_TMP/run.out" 2>"$CS_TMP/run.err" &
    RUN_PID=$!
    if ! wait_for 15 curl -sf "$B/api/v1/status"; then
        fail "capstream run did not answer on $B: $(head -c 300 "$CS_TMP/run.err")"
        return 1
    fi
    if ! wait_for 30 replay_done; then
        fail "capstream run still capturing the sample after 30 s"
        return 1
    fi
}

prom_check_exposition() {
    check "GET /metrics is 200" \
        test "$(curl -s -o "$CS_TMP/metrics.txt" -w '%{http_code}' "$B/metrics")" = 200
    check "/metrics has per-pair latency histogram buckets" \
        grep -q '^capstream_pair_latency_seconds_bucket{pair="fix",le="+Inf"} [1-9]' \
        "$CS_TMP/metrics.txt"
    promtool check metrics <"$CS_TMP/metrics.txt" >"$CS_TMP/promtool.out" 2>&1
    check_eq "promtool check metrics exits 0 ($(head -c 300 "$CS_TMP/promtool.out"))" 0 $?
    check "promtool reports no lint problem" test ! -s "$CS_TMP/promtool.out"
    check "/metrics has the records-not-stored counter with its help" \
        grep -q '^# HELP capstream_records_not_stored_total .*disk was behind' "$CS_TMP/metrics.txt"
    check "capstream_records_not_stored_total is a counter" \
        grep -q '^# TYPE capstream_records_not_stored_total counter$' "$CS_TMP/metrics.txt"
    local rns
    rns=$(curl -s "$B/api/v1/status" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["drops"]["records_not_stored"])')
    check_eq "a file replayed at full speed stores every record (/status)" 0 "$rns"
    check_eq "/metrics says the same as /status" "capstream_records_not_stored_total $rns" \
        "$(grep '^capstream_records_not_stored_total ' "$CS_TMP/metrics.txt")"
}

prom_start_prometheus() {
    cat >"$CS_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: capstream
    static_configs:
      - targets: ['127.0.0.1:$PORT']
EOF
    check "promtool check config" promtool check config "$CS_TMP/prometheus.yml" \
        >"$CS_TMP/promtool.config.out" 2>&1
    prometheus --config.file="$CS_TMP/prometheus.yml" \
        --storage.tsdb.path="$CS_TMP/tsdb" --web.listen-address="127.0.0.1:$PPORT" \
        --log.level=warn >"$CS_TMP/prometheus.log" 2>&1 &
    PROM_PID=$!
    if ! wait_for 30 curl -sf "$PB/-/ready"; then
        fail "prometheus not ready on $PB in 30 s: $(tail -c 400 "$CS_TMP/prometheus.log")"
        return 1
    fi
}

# Polls Prometheus (at most 30 s) until every expectation holds, then
# exits 0; otherwise prints the first unmet one and exits 1.
prom_check_scraped() {
    local want_packets
    want_packets=$(curl -s "$B/api/v1/status" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["capture"]["packets"])')
    check "the daemon captured packets" test "${want_packets:-0}" -gt 0
    check "prometheus scraped capstream and agrees with it" \
        python3 - "$PB" "$want_packets" "$CS_TMP/metrics.txt" <<'PY'
import json, math, sys, time, urllib.parse, urllib.request

base, want_packets, expo = sys.argv[1], int(sys.argv[2]), sys.argv[3]
pairs = {}
for line in open(expo):
    if line.startswith("capstream_pair_measurements_total{pair="):
        name = line.split('"')[1]
        pairs[name] = int(line.rsplit(" ", 1)[1])
if not pairs:
    sys.exit("no capstream_pair_measurements_total series in /metrics")

def query(q):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url, timeout=5) as r:
        d = json.load(r)
    if d.get("status") != "success":
        raise RuntimeError("query %s: %s" % (q, d))
    return {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in d["data"]["result"]}

def by_pair(q):
    return {dict(k).get("pair"): v for k, v in query(q).items()}

def unmet():
    up = list(query('up{job="capstream"}').values())
    if up != [1.0]:
        return "up{job=\"capstream\"} is %s, not [1]" % up
    pk = list(query('capstream_packets_total{job="capstream"}').values())
    if pk != [float(want_packets)]:
        return "capstream_packets_total is %s, status says %d" % (pk, want_packets)
    rns = list(query('capstream_records_not_stored_total{job="capstream"}').values())
    if rns != [0.0]:
        return "capstream_records_not_stored_total is %s, not [0]" % rns
    meas = by_pair('capstream_pair_measurements_total{job="capstream"}')
    inf = by_pair('capstream_pair_latency_seconds_bucket{job="capstream",le="+Inf"}')
    cnt = by_pair('capstream_pair_latency_seconds_count{job="capstream"}')
    want = {p: float(n) for p, n in pairs.items()}
    for name, got in (("measurements_total", meas), ("+Inf bucket", inf), ("_count", cnt)):
        if got != want:
            return "per-pair %s is %s, /metrics says %s" % (name, got, want)
    q = by_pair('histogram_quantile(0.5, sum by (pair, le) '
                '(capstream_pair_latency_seconds_bucket{job="capstream"}))')
    for p, n in want.items():
        v = q.get(p)
        if n > 0 and (v is None or not math.isfinite(v) or v <= 0):
            return "histogram_quantile(0.5) for pair %s is %s" % (p, v)
    return None

deadline, why = time.time() + 30, "no query made"
while time.time() < deadline:
    try:
        why = unmet()
    except Exception as e:  # Prometheus still starting up
        why = "query failed: %s" % e
    if why is None:
        sys.exit(0)
    time.sleep(0.5)
sys.exit("after 30 s: " + why)
PY
}

prom_test() {
    if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
        fail "prometheus/promtool not installed (scripts/bootstrap.sh installs them)"
        return
    fi
    prom_start_capstream || return
    prom_check_exposition
    prom_start_prometheus || return
    prom_check_scraped
    stop_pid "$PROM_PID"
    check_eq "prometheus exits 0 on SIGTERM" 0 "$STOP_STATUS"
    PROM_PID=
    stop_pid "$RUN_PID"
    check_eq "capstream run exits 0 on SIGTERM ($(head -c 300 "$CS_TMP/run.err"))" 0 \
        "$STOP_STATUS"
    RUN_PID=
}

prom_test
prom_cleanup

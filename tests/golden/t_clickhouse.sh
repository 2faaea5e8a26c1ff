# t_clickhouse.sh - the export to ClickHouse against real servers: two
# ClickHouse servers (Debian's clickhouse-server, started on loopback by
# scripts/clickhouse.sh) as the two shards of a Distributed table, and two
# sensors - a trading capture (gentrading.py: ITCH, OUCH, gaps, t2t, hops)
# and a FIX/HTTP/DNS one (gentraffic.py) - exporting to one shard each.
# Through the Distributed table, messages, measurements and gaps equal,
# row for row, the union of the sensors' own --json output; p99 latency per
# pair per minute computed in ClickHouse equals the exact p99 of those
# records; a second export sends nothing; an exporter killed with -9, a
# ClickHouse killed mid-export and a refused connection leave every
# record in ClickHouse exactly once after the export is run again.

X=$CS_TMP/ch
CH=$REPO/scripts/clickhouse.sh
mkdir -p "$X"

if ! command -v clickhouse-server >/dev/null 2>&1; then
    fail "clickhouse-server is not installed (scripts/bootstrap.sh installs it)"
    return 0 2>/dev/null || exit 0
fi

H1=$(free_port) T1=$(free_port) I1=$(free_port)
H2=$(free_port) T2=$(free_port) I2=$(free_port)
ch_up() { # ch_up N: starts shard N (1 or 2) of the cluster
    local h t i
    if [ "$1" = 1 ]; then h=$H1 t=$T1 i=$I1; else h=$H2 t=$T2 i=$I2; fi
    CH_INTERSERVER_PORT=$i "$CH" start "$X/ch$1" "$h" "$t" "$T1" "$T2" >"$X/ch$1.out" 2>&1
}
# sql PORT QUERY: runs QUERY on the server at PORT, 64-bit integers unquoted
sql() {
    curl -sS --fail-with-body "http://127.0.0.1:$1/?output_format_json_quote_64bit_integers=0" \
        --data-binary "$2"
}
trap '"$CH" stop "$X/ch1"; "$CH" stop "$X/ch2"' EXIT
check "ClickHouse shard 1 starts ($(cat "$X/ch1.out" 2>/dev/null))" ch_up 1
check "ClickHouse shard 2 starts" ch_up 2
U1=http://127.0.0.1:$H1/cs
U2=http://127.0.0.1:$H2/cs

# ---- two sensors, one shard each -------------------------------------------
python3 "$REPO/tools/gentrading.py" "$X/t.pcap" --seconds 0.3 --seed 12 >/dev/null 2>&1
python3 "$GENTRAFFIC" "$X/g.pcap" --seconds 2 --scale 0.2 --seed 7 >/dev/null 2>&1
"$CS_BIN" ingest -q -r "$X/t.pcap" -d "$X/a" --tap-by vlan \
    --decoder-opt moldudp64.ports=26477,26478,26500 --decoder-opt soupbintcp.ports=15000,15001
"$CS_BIN" ingest -q -r "$X/g.pcap" -d "$X/b"
for s in a b; do
    "$CS_BIN" messages -d "$X/$s" --json >"$X/$s.msg"
    "$CS_BIN" latency -d "$X/$s" --json >"$X/$s.lat"
    "$CS_BIN" gaps -d "$X/$s" --json >"$X/$s.gap"
done
check "sensor a has trading records (ITCH, t2t, gaps)" test "$(grep -c '"itch"' "$X/a.msg")" -gt 1000 \
    -a "$(grep -c '"t2t"' "$X/a.lat")" -gt 10 -a -s "$X/a.gap"
check "sensor b has FIX, HTTP and DNS measurements" python3 -c '
import json, sys
assert {"fix", "http", "dns"} <= {json.loads(l)["pair"] for l in open(sys.argv[1])}' "$X/b.lat"

check "export of sensor a to shard 1" "$CS_BIN" export -d "$X/a" --to "clickhouse=$U1" --sensor ny4
check "export of sensor b to shard 2" "$CS_BIN" export -d "$X/b" --to "clickhouse=$U2" --sensor ld4
for t in messages measurements gaps; do
    sql "$H1" "CREATE TABLE IF NOT EXISTS cs.${t}_all AS cs.$t ENGINE = Distributed(capstream, cs, $t)" \
        >/dev/null
    sql "$H1" "SELECT * FROM cs.${t}_all FORMAT JSONEachRow" >"$X/$t.rows"
done
check "Distributed messages equal both sensors' messages --json, row for row" \
    python3 "$GOLDEN/ch_check.py" messages "$X/messages.rows" "ny4=$X/a.msg" "ld4=$X/b.msg"
check "Distributed measurements equal both sensors' latency --json, row for row" \
    python3 "$GOLDEN/ch_check.py" measurements "$X/measurements.rows" "ny4=$X/a.lat" "ld4=$X/b.lat"
check "Distributed gaps equal both sensors' gaps --json, row for row" \
    python3 "$GOLDEN/ch_check.py" gaps "$X/gaps.rows" "ny4=$X/a.gap" "ld4=$X/b.gap"

# p99 per pair per minute, in ClickHouse and exactly from the records
sql "$H1" "SELECT pair, toStartOfMinute(time) AS minute, quantileExact(0.99)(latency_ns) AS p99,
    count() AS n FROM cs.measurements_all GROUP BY pair, minute ORDER BY pair, minute
    FORMAT JSONEachRow" >"$X/p99.rows"
check "p99 per pair per minute in ClickHouse equals the records' exact p99" python3 -c '
import collections, json, sys
by = collections.defaultdict(list)
for path in sys.argv[2:]:
    for line in open(path):
        r = json.loads(line)
        minute = r["req_ts_ns"] // 60000000000 * 60
        by[(r["pair"], minute)].append(r["latency_ns"])
got = [json.loads(l) for l in open(sys.argv[1])]
assert len(got) == len(by) and len(got) >= 6, (len(got), len(by))
import calendar, time
for g in got:
    minute = calendar.timegm(time.strptime(g["minute"], "%Y-%m-%d %H:%M:%S"))
    v = sorted(by[(g["pair"], minute)])
    want = v[min(len(v) - 1, int(0.99 * len(v)))]
    assert g["n"] == len(v) and g["p99"] == want, (g, want, len(v))
' "$X/p99.rows" "$X/a.lat" "$X/b.lat"

# ---- nothing twice ---------------------------------------------------------
count() { sql "$1" "SELECT count() FROM cs.$2"; }
before=$(count "$H1" messages)
check "a second export sends nothing new" "$CS_BIN" export -d "$X/a" --to "clickhouse=$U1" \
    --sensor ny4 2>"$X/again.err"
check_eq "a second export: the same rows" "$before" "$(count "$H1" messages)"
check "the second export says it sent nothing ($(cat "$X/again.err"))" \
    grep -q "0 messages, 0 measurements, 0 unmatched, 0 gaps, 0 metrics windows, 0 alert events in 0 batches" "$X/again.err"

# exactly_once PORT DB STORE SENSOR: the db's tables, merged (FINAL), hold
# each of the store's messages and measurements once
exactly_once() {
    sql "$1" "SELECT * FROM $2.messages FINAL FORMAT JSONEachRow" >"$X/once.msg" &&
        sql "$1" "SELECT * FROM $2.measurements FINAL FORMAT JSONEachRow" >"$X/once.lat" &&
        python3 "$GOLDEN/ch_check.py" messages "$X/once.msg" "$4=$X/$3.msg" &&
        python3 "$GOLDEN/ch_check.py" measurements "$X/once.lat" "$4=$X/$3.lat"
}
# wait_cursor STORE: until the store's first export cursor appears (10 s)
wait_cursor() {
    for _ in $(seq 200); do
        ls "$1"/export/*.cursor >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}

# ---- the exporter killed with -9 mid-way -----------------------------------
rm -rf "$X/a/export"
"$CS_BIN" export -d "$X/a" --to "clickhouse=http://127.0.0.1:$H1/kill" --sensor ny4 \
    --batch-rows 300 2>"$X/kill.err" &
pid=$!
wait_cursor "$X/a"
check "the exporter was still sending when killed" kill -9 "$pid"
wait "$pid" 2>/dev/null
partial=$(sql "$H1" "SELECT count() FROM kill.messages")
check "it had sent part of the messages ($partial)" test "$partial" -gt 0 -a \
    "$partial" -lt "$(wc -l <"$X/a.msg")"
check "export again after kill -9" "$CS_BIN" export -d "$X/a" \
    --to "clickhouse=http://127.0.0.1:$H1/kill" --sensor ny4
check "after kill -9 and a second export: every record exactly once" exactly_once "$H1" kill a ny4

# ---- ClickHouse killed mid-export, then back ----------------------------------
"$CS_BIN" export -d "$X/b" --to "clickhouse=http://127.0.0.1:$H2/down" --sensor ld4 \
    --batch-rows 200 2>"$X/down.err" &
pid=$!
for _ in $(seq 200); do
    [ -f "$X/b/export/clickhouse-127.0.0.1-$H2-down.cursor" ] && break
    sleep 0.05
done
kill -9 "$(cat "$X/ch2/pid")"
wait "$pid"
status=$?
check_eq "the export fails when ClickHouse dies under it" 1 "$status"
check "its error names ClickHouse" grep -q "ClickHouse at http://127.0.0.1:$H2/" "$X/down.err"
check "ClickHouse shard 2 restarts" ch_up 2
check "export again once ClickHouse is back" "$CS_BIN" export -d "$X/b" \
    --to "clickhouse=http://127.0.0.1:$H2/down" --sensor ld4
check "after ClickHouse died mid-export: every record exactly once" exactly_once "$H2" down b ld4

# ---- refused, then allowed ----------------------------------------------------
dead=$(free_port)
check_fails "a refused connection is an error naming ClickHouse" "ClickHouse at .*connect" \
    "$CS_BIN" export -d "$X/b" --to "clickhouse=http://127.0.0.1:$dead/cs" --sensor ld4
# a cursor that marks nothing sent: none, or its header line only
nothing_marked() { [ ! -f "$1" ] || [ "$(wc -l <"$1")" -le 1 ]; }
check "nothing was marked sent to the refusing server" \
    nothing_marked "$X/b/export/clickhouse-127.0.0.1-$dead-cs.cursor"
check_fails "a URL without a database is refused" "database" \
    "$CS_BIN" export -d "$X/b" --to "clickhouse=http://127.0.0.1:$H2"
check_fails "--to must name clickhouse" "clickhouse=URL" \
    "$CS_BIN" export -d "$X/b" --to "http://127.0.0.1:$H2/cs"
check_fails "a bad sensor name is refused" "sensor name" \
    "$CS_BIN" export -d "$X/b" --to "clickhouse=$U2" --sensor "a b"

#!/usr/bin/env bash
# bench/export.sh - issue 15's speed targets for the ClickHouse export, in
# one run, against a local ClickHouse (Debian's clickhouse-server 18.16,
# started with scripts/clickhouse.sh and stopped at the end):
#
#   1. ingest of the benchmark corpus (`gentraffic.py corpus.pcap --seconds
#      10 --seed 7 --hop`, the one of bench/run.sh) with --export
#      clickhouse=URL against the same ingest without it: wall time (median
#      of $RUNS), user+sys CPU of capstream and the CPU ClickHouse spent
#      meanwhile (both share this machine's cores), and the ratio
#      (target <= 1.15). Every export run is checked: each table's count()
#      equals the store's `messages/latency/latency --unmatched/gaps --json`.
#   2. 10 M measurements in capstream's measurements table (made by a real
#      export, then multiplied with INSERT ... SELECT: several sensors, the
#      corpus's 10 s stretched and shifted over an hour, latencies kept), and
#      the query "p99 latency per pair per minute" over them with quantile,
#      quantileExact and FINAL: client wall time of curl on the HTTP port,
#      median of $QRUNS after one warm-up (target <= 1 s).
#
#   bench/export.sh [ingest|query|trading|all]     (default: ingest and query)
#
# "trading" (not in the default) does part 1 on bench/run.sh's trading
# corpus (`gentrading.py --bench --seconds 2`, 4.7 M messages).
#
# Environment: CS_BIN (default build/capstream), RUNS (default 3), QRUNS
# (default 5), OUT (work directory, default bench/out; ~4 GB), ROWS (default
# 10000000), PERF=1 (also perf record the last export run: OUT/perf.*.data),
# EXPORT_TABLES=LIST (part 1 exports only those tables: --export-tables).
# Not part of the CI test command.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
CS_BIN=${CS_BIN:-$REPO/build/capstream}
RUNS=${RUNS:-3}
QRUNS=${QRUNS:-5}
ROWS=${ROWS:-10000000}
OUT=${OUT:-$REPO/bench/out}
GEN=$REPO/tools/gentraffic.py
CH=$REPO/scripts/clickhouse.sh
CHDIR=$OUT/ch
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
what=${1:-default}

# free_port: a TCP port on 127.0.0.1 that nothing holds now, below the
# kernel's ephemeral range (as tests/golden/lib.sh does).
free_port() {
    python3 - "$@" <<'PY'
import random, socket, sys
top = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
taken = {int(p) for p in sys.argv[1:]}
for _ in range(1000):
    port = random.randint(10000, min(top, 65536) - 1)
    if port in taken:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
PY
}

ratio() { python3 -c "import sys; print('%.3f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# ---- ClickHouse -------------------------------------------------------------

HTTP=$(free_port)
TCP=$(free_port "$HTTP")
export CH_INTERSERVER_PORT
CH_INTERSERVER_PORT=$(free_port "$HTTP" "$TCP")
DB=bench
URL=http://127.0.0.1:$HTTP/$DB

sql() {
    curl -sS --fail-with-body "http://127.0.0.1:$HTTP/" --data-binary "$1"
}
ch_cpu() { # the server's user+sys CPU so far, in clock ticks
    awk '{print $14 + $15}' "/proc/$(cat "$CHDIR/pid")/stat"
}
ticks() { python3 -c "import os,sys; print('%.2f' % (int(sys.argv[1]) / os.sysconf('SC_CLK_TCK')))" "$1"; }

rm -rf "$CHDIR"
"$CH" start "$CHDIR" "$HTTP" "$TCP" >&2
trap '"$CH" stop "$CHDIR"' EXIT
echo "ClickHouse $(sql 'SELECT version()') on 127.0.0.1:$HTTP ($CHDIR), machine: $(nproc) cores shared by capstream and ClickHouse" >&2

# ---- corpora ------------------------------------------------------------------

corpus() {
    if [ ! -f "$OUT/corpus.pcap" ]; then
        echo "generating corpus (1.34 M packets)..." >&2
        python3 "$GEN" "$OUT/corpus.pcap" --seconds 10 --seed 7 --hop --truth "$OUT/corpus.truth" >&2
    fi
}

trading_corpus() {
    if [ ! -f "$OUT/trading.pcap" ]; then
        echo "generating the trading corpus..." >&2
        python3 "$REPO/tools/gentrading.py" "$OUT/trading.pcap" --truth "$OUT/trading.truth" --bench \
            --seconds 2 --seed 7 >&2
    fi
}

# ---- part 1: ingest with and without --export ---------------------------------

# check_rows STORE: every table's count() in ClickHouse equals the store's
# records of that kind; prints "messages measurements unmatched gaps".
check_rows() {
    local s=$1 t n want got=()
    for t in messages measurements unmatched gaps; do
        case $t in
        messages) want=$("$CS_BIN" messages -d "$s" --json | wc -l) ;;
        measurements) want=$("$CS_BIN" latency -d "$s" --json | wc -l) ;;
        unmatched) want=$("$CS_BIN" latency --unmatched -d "$s" --json | wc -l) ;;
        gaps) want=$("$CS_BIN" gaps -d "$s" --json | wc -l) ;;
        esac
        if [ -n "${EXPORT_TABLES:-}" ] && [[ ",$EXPORT_TABLES," != *",$t,"* ]]; then
            want=0 # a table left out by --export-tables
        fi
        n=$(sql "SELECT count() FROM $DB.$t")
        if [ "$n" != "$want" ]; then
            echo "export incomplete: $DB.$t has $n rows, the store $want" >&2
            return 1
        fi
        got+=("$n")
    done
    echo "${got[*]}"
}

# ingest_runs PCAP [ingest options...]: $RUNS runs each of ingest without
# and with --export, alternating (the machine's other load falls on both
# alike), each from a fresh store and a fresh database, page cache warm.
# Sets t_no u_no c_no (wall, capstream user+sys, ClickHouse CPU) and t_ex
# u_ex c_ex, medians, and rows (the last export's row counts).
ingest_runs() {
    local pcap=$1 i mode t u s c0 c1 TIMEFORMAT='%3R %3U %3S'
    shift
    local w_no=() w_ex=() cu_no=() cu_ex=() ch_no=() ch_ex=()
    for i in $(seq 1 "$RUNS"); do
        for mode in no ex; do
            rm -rf "$OUT/X"
            sql "DROP DATABASE IF EXISTS $DB"
            sync
            echo 1 >/proc/sys/vm/drop_caches 2>/dev/null || true
            cat "$pcap" >/dev/null
            local exp=()
            [ "$mode" = ex ] && exp=(--export "clickhouse=$URL" --sensor b)
            [ "$mode" = ex ] && [ -n "${EXPORT_TABLES:-}" ] && exp+=(--export-tables "$EXPORT_TABLES")
            c0=$(ch_cpu)
            { time "$CS_BIN" ingest -q -r "$pcap" -d "$OUT/X" "$@" "${exp[@]}" >/dev/null 2>"$OUT/err.txt"; } \
                2>"$OUT/time.txt" || {
                cat "$OUT/err.txt" >&2
                return 1
            }
            c1=$(ch_cpu)
            read -r t u s <"$OUT/time.txt"
            u=$(python3 -c "print('%.3f' % ($u + $s))")
            c1=$(ticks $((c1 - c0)))
            echo "  run $i $mode: wall ${t}s, capstream CPU ${u}s, ClickHouse CPU ${c1}s" >&2
            if [ "$mode" = no ]; then
                w_no+=("$t") cu_no+=("$u") ch_no+=("$c1")
            else
                w_ex+=("$t") cu_ex+=("$u") ch_ex+=("$c1")
                rows=$(check_rows "$OUT/X")
            fi
        done
    done
    t_no=$(printf '%s\n' "${w_no[@]}" | median) u_no=$(printf '%s\n' "${cu_no[@]}" | median)
    c_no=$(printf '%s\n' "${ch_no[@]}" | median)
    t_ex=$(printf '%s\n' "${w_ex[@]}" | median) u_ex=$(printf '%s\n' "${cu_ex[@]}" | median)
    c_ex=$(printf '%s\n' "${ch_ex[@]}" | median)
    if [ -n "${PERF:-}" ]; then
        rm -rf "$OUT/X"
        sql "DROP DATABASE IF EXISTS $DB"
        perf record -q -g -o "$OUT/perf.export.data" -- "$CS_BIN" ingest -q -r "$pcap" -d "$OUT/X" \
            "$@" --export "clickhouse=$URL" --sensor b >/dev/null 2>&1 &
        local pr=$!
        sleep 0.2
        perf record -q -g -p "$(cat "$CHDIR/pid")" -o "$OUT/perf.clickhouse.data" >/dev/null 2>&1 &
        local pc=$!
        wait "$pr"
        kill -INT "$pc"
        wait "$pc" || true
        echo "perf: $OUT/perf.export.data (capstream), $OUT/perf.clickhouse.data (ClickHouse)" >&2
    fi
}

ingest_report() { # NAME
    local r
    read -r -a r <<<"$rows"
    echo "$1: ${r[0]} messages, ${r[1]} measurements, ${r[2]} unmatched, ${r[3]} gaps exported and counted in ClickHouse (every export run)"
    echo "ingest without --export:       ${t_no}s  capstream CPU ${u_no}s  ClickHouse CPU ${c_no}s"
    echo "ingest with --export:          ${t_ex}s  capstream CPU ${u_ex}s  ClickHouse CPU ${c_ex}s"
    echo "wall ratio with/without:       $(ratio "$t_ex" "$t_no")   (target <= 1.15)"
    echo "CPU ratio (capstream + ClickHouse) with/without: $(python3 -c "print('%.2f' % (($u_ex + $c_ex) / ($u_no + $c_no)))")"
    echo "export rate:                   $(python3 -c "print('%.0f rows/s' % ((${r[0]} + ${r[1]} + ${r[2]} + ${r[3]}) / $t_ex))")"
}

bench_ingest() {
    corpus
    echo "== ingest of the corpus ($(stat -c %s "$OUT/corpus.pcap") bytes), all decoders, with and without --export, median of $RUNS" >&2
    ingest_runs "$OUT/corpus.pcap"
    echo "== ingest of the corpus, all decoders, with and without --export clickhouse (local), median of $RUNS"
    ingest_report corpus
}

bench_trading() {
    trading_corpus
    echo "== trading ingest with and without --export, median of $RUNS" >&2
    ingest_runs "$OUT/trading.pcap" --decoder-opt moldudp64.ports=26477,26478,26500 \
        --decoder-opt soupbintcp.ports=15000,15001
    echo "== trading corpus (gentrading.py --bench --seconds 2), with and without --export, median of $RUNS"
    ingest_report trading
}

# ---- part 2: p99 per pair per minute over 10 M measurements ---------------------

MCOLS="sensor, id, pair, key, req_msg, resp_msg, req_ts_ns, resp_ts_ns, latency_ns, flow, tap,
src, dst, resp_last_ts_ns, attached, attached_last_msg, attached_last_ts_ns, resp_type, req_tap,
resp_tap, winner, lead_ns"

# build_measurements: capstream exports the corpus (it makes the tables), its
# measurements table becomes measurements_src, and a fresh table of the same
# schema gets $ROWS rows: copy k (0..C-1) of every measurement goes to sensor
# "s(k mod 5)", its times stretched 72x (the corpus's 10 s become 12 minutes)
# and shifted by 12 minutes times (k div 5), so 5 sensors each cover an hour
# (one UTC day, one partition); latencies, pairs, keys and flows are the
# corpus's. "time" is MATERIALIZED from req_ts_ns, so it is not inserted.
build_measurements() {
    corpus
    rm -rf "$OUT/M"
    sql "DROP DATABASE IF EXISTS $DB"
    "$CS_BIN" ingest -q -r "$OUT/corpus.pcap" -d "$OUT/M" --export "clickhouse=$URL" --sensor b
    local base t0 copies
    base=$(sql "SELECT count() FROM $DB.measurements")
    t0=$(sql "SELECT min(req_ts_ns) FROM $DB.measurements")
    copies=$(((ROWS + base - 1) / base))
    sql "RENAME TABLE $DB.measurements TO $DB.measurements_src"
    sql "CREATE TABLE $DB.measurements AS $DB.measurements_src"
    local TIMEFORMAT=%1R d="(toInt64($t0) + (req_ts_ns - $t0) * 72 + intDiv(k, 5) * 720000000000 - req_ts_ns)"
    echo "filling $DB.measurements: $copies copies of $base measurements, LIMIT $ROWS" >&2
    time sql "INSERT INTO $DB.measurements ($MCOLS)
        SELECT concat('s', toString(k % 5)), id, pair, key, req_msg, resp_msg,
               req_ts_ns + $d, resp_ts_ns + $d, latency_ns, flow, tap, src, dst,
               if(resp_last_ts_ns = 0, 0, resp_last_ts_ns + $d), attached, attached_last_msg,
               if(attached_last_ts_ns = 0, 0, attached_last_ts_ns + $d), resp_type, req_tap,
               resp_tap, winner, lead_ns
        FROM $DB.measurements_src ARRAY JOIN range($copies) AS k LIMIT $ROWS"
    # the background merges the inserts started, done (what a table that
    # has been there a while looks like); at most 5 minutes
    local i
    for i in $(seq 1 300); do
        [ "$(sql "SELECT count() FROM system.merges WHERE database = '$DB'")" = 0 ] && break
        sleep 1
    done
}

# time_query SQL: median client wall time of $QRUNS runs after one warm-up
# (curl on the HTTP port, result read whole); sets q_t and q_rows.
time_query() {
    local q=$1 i t times=() TIMEFORMAT=%3R
    sql "$q FORMAT TSV" | wc -l >"$OUT/qrows.txt"
    q_rows=$(cat "$OUT/qrows.txt")
    for i in $(seq 1 "$QRUNS"); do
        { time sql "$q FORMAT TSV" >/dev/null; } 2>"$OUT/time.txt"
        read -r t <"$OUT/time.txt"
        times+=("$t")
    done
    q_t=$(printf '%s\n' "${times[@]}" | median)
    q_all="${times[*]}"
}

bench_query() {
    build_measurements
    local n parts minutes pairs sensors
    n=$(sql "SELECT count() FROM $DB.measurements")
    parts=$(sql "SELECT count() FROM system.parts WHERE database = '$DB' AND table = 'measurements' AND active")
    read -r minutes pairs sensors < <(sql "SELECT uniqExact(toStartOfMinute(time)), uniqExact(pair), uniqExact(sensor) FROM $DB.measurements FORMAT TSV")
    echo "== p99 latency per pair per minute over $n measurements ($pairs pairs, $sensors sensors, $minutes minutes, $parts parts), client wall time, median of $QRUNS after a warm-up"
    local name agg fin
    for name in "quantile" "quantileExact" "quantile, FINAL" "quantileExact, FINAL"; do
        agg=${name%%,*}
        fin=""
        [ "$name" != "$agg" ] && fin=" FINAL"
        time_query "SELECT pair, toStartOfMinute(time) AS minute, $agg(0.99)(latency_ns) FROM $DB.measurements$fin GROUP BY pair, minute"
        printf '%-28s %ss  (%s rows; runs: %s)   (target <= 1 s)\n' "$name:" "$q_t" "$q_rows" "$q_all"
    done
}

case "$what" in
ingest) bench_ingest ;;
query) bench_query ;;
trading) bench_trading ;;
default)
    bench_ingest
    bench_query
    ;;
all)
    bench_ingest
    bench_trading
    bench_query
    ;;
*)
    echo "usage: bench/export.sh [ingest|query|trading|all]" >&2
    exit 2
    ;;
esac

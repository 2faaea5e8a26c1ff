#!/usr/bin/env bash
# bench/run.sh - capstream side by side with the reference tools, on the
# corpus of the issues: `gentraffic.py corpus.pcap --seconds 10 --seed 7
# --hop` (1.34 M packets, 734 MB). Prints medians of several runs and the
# ratios. Page cache warm (every input is read once before timing).
#
#   bench/run.sh [ingest|query|analytics|trading|workers|all]     (default all)
#
# "trading" uses its own corpus: `gentrading.py --bench --seconds 2` (two
# MoldUDP64/ITCH feeds at 200k packets/s each with 1-12 messages, OUCH
# order entry; one tap), ingested with every decoder and the feeds bound.
#
# Environment: CS_BIN (default build/capstream), RUNS (default 5),
# OUT (work directory, default bench/out; needs ~10 GB for the query part).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
CS_BIN=${CS_BIN:-$REPO/build/capstream}
RUNS=${RUNS:-5}
OUT=${OUT:-$REPO/bench/out}
GEN=$REPO/tools/gentraffic.py
mkdir -p "$OUT"
what=${1:-all}

# median_of CMD...: runs CMD $RUNS times; prints "median_seconds peak_rss_kib".
# $PREP, if set, runs untimed before each run (removing the previous output).
# Times come from bash's own `time` (to the millisecond, no process of its
# own: /usr/bin/time added about 10 ms to every run, a fifth of a one-flow
# query); the peak RSS from one more run under /usr/bin/time. With RUNS=1
# (tshark's 80 s) that run gives the time too.
median_of() {
    local times=() i t m TIMEFORMAT=%3R first=0
    [ "$RUNS" = 1 ] && first=1
    for i in $(seq "$first" "$RUNS"); do
        [ -n "${PREP:-}" ] && bash -c "$PREP"
        # the same start for every run: dirty pages written (no earlier
        # output is being written back during the run), clean cache dropped
        # (root only), then the input read back in (warm); with STEADY=1
        # nothing is dropped (a machine that has been running)
        sync
        if [ -z "${STEADY:-}" ]; then
            echo 1 >/proc/sys/vm/drop_caches 2>/dev/null || true
        fi
        [ -n "${WARM:-}" ] && cat $WARM >/dev/null
        if [ "$i" = 0 ] || [ "$RUNS" = 1 ]; then
            /usr/bin/time -f '%e %M' -o "$OUT/time.txt" "$@" >/dev/null 2>"$OUT/err.txt" || {
                cat "$OUT/err.txt" >&2
                return 1
            }
            read -r t m <"$OUT/time.txt"
            [ "$i" = 0 ] && continue
            times+=("$t")
            continue
        fi
        { time "$@" >/dev/null 2>"$OUT/err.txt"; } 2>"$OUT/time.txt" || {
            cat "$OUT/err.txt" >&2
            return 1
        }
        read -r t <"$OUT/time.txt"
        times+=("$t")
    done
    printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {printf "%s ", a[int((NR+1)/2)]}'
    echo "$m"
}

ratio() { python3 -c "import sys; print('%.3f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }

corpus() {
    if [ ! -f "$OUT/corpus.pcap" ]; then
        echo "generating corpus (1.34 M packets)..." >&2
        python3 "$GEN" "$OUT/corpus.pcap" --seconds 10 --seed 7 --hop --truth "$OUT/corpus.truth" >&2
    fi
    cat "$OUT/corpus.pcap" >/dev/null
}

bench_ingest() {
    corpus
    local pkts bytes
    pkts=$(capinfos -c -M "$OUT/corpus.pcap" | awk '/Number of packets/ {print $NF}')
    bytes=$(stat -c %s "$OUT/corpus.pcap")
    echo "== ingest, store only ($pkts packets, $bytes bytes), median of $RUNS"
    read -r t_tcp m_tcp < <(WARM="$OUT/corpus.pcap" PREP="rm -f '$OUT/copy.pcap'" median_of tcpdump -r "$OUT/corpus.pcap" -w "$OUT/copy.pcap")
    read -r t_cs m_cs < <(WARM="$OUT/corpus.pcap" PREP="rm -rf '$OUT/S'" median_of "$CS_BIN" ingest -q --decoders none -r "$OUT/corpus.pcap" -d "$OUT/S")
    idx=$("$CS_BIN" stats -d "$OUT/S" --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["index_bytes"], s["packet_bytes"])')
    echo "tcpdump -r -w (copy):          ${t_tcp}s  peak RSS ${m_tcp} KiB"
    echo "capstream ingest --decoders none: ${t_cs}s  peak RSS ${m_cs} KiB"
    echo "wall ratio capstream/tcpdump:  $(ratio "$t_cs" "$t_tcp")   (target <= 0.7)"
    echo "peak RSS: $((m_cs / 1024)) MiB   (target <= 128 MiB)"
    set -- $idx
    echo "index bytes / packet bytes:    $(python3 -c "print('%.2f%%' % (100.0*$1/$2))")   (target <= 3%)"
}

bench_analytics() {
    corpus
    echo "== ingest with all decoders, median of $RUNS"
    read -r t_tcp m_tcp < <(WARM="$OUT/corpus.pcap" PREP="rm -f '$OUT/copy.pcap'" median_of tcpdump -r "$OUT/corpus.pcap" -w "$OUT/copy.pcap")
    read -r t_cs m_cs < <(WARM="$OUT/corpus.pcap" PREP="rm -rf '$OUT/A'" median_of "$CS_BIN" ingest -q -r "$OUT/corpus.pcap" -d "$OUT/A")
    echo "tcpdump -r -w (copy):          ${t_tcp}s"
    echo "capstream ingest (all):        ${t_cs}s  peak RSS ${m_cs} KiB"
    echo "wall ratio capstream/tcpdump:  $(ratio "$t_cs" "$t_tcp")   (target <= 0.8)"
    echo "peak RSS: $((m_cs / 1024)) MiB   (target <= 256 MiB)"
    RUNS=1 read -r t_ts m_ts < <(RUNS=1 median_of tshark -r "$OUT/corpus.pcap" -T fields -e fix.ClOrdID -e http.time -e dns.time)
    echo "tshark -T fields (1 run):      ${t_ts}s  peak RSS ${m_ts} KiB"
    echo "speed-up over tshark:          $(ratio "$t_ts" "$t_cs")x   (target >= 50)"
    read -r t_st m_st < <(median_of "$CS_BIN" latency -d "$OUT/A" --stats)
    echo "latency --stats whole store:   ${t_st}s   (target < 1 s)"
    if [ -f "$REPO/tests/golden/truth_check.py" ] && [ -f "$OUT/corpus.truth" ]; then
        "$CS_BIN" latency -d "$OUT/A" --json >"$OUT/meas.jsonl"
        python3 "$REPO/tests/golden/truth_check.py" "$OUT/meas.jsonl" "$OUT/corpus.truth" --pairs fix,http,dns &&
            echo "measurements equal the ground truth (fix, http, dns)"
    fi
}

trading_corpus() {
    if [ ! -f "$OUT/trading.pcap" ]; then
        echo "generating the trading corpus..." >&2
        python3 "$REPO/tools/gentrading.py" "$OUT/trading.pcap" --truth "$OUT/trading.truth" \
            --bench --seconds 2 --seed 7 >&2
    fi
}

bench_trading() {
    local tp=$OUT/trading.pcap pkts msgs
    trading_corpus
    pkts=$(capinfos -c -M "$tp" | awk '/Number of packets/ {print $NF}')
    echo "== trading: ingest with all decoders ($pkts packets, $(stat -c %s "$tp") bytes), median of $RUNS"
    read -r t_tcp m_tcp < <(WARM="$tp" PREP="rm -f '$OUT/copy.pcap'" median_of tcpdump -r "$tp" -w "$OUT/copy.pcap")
    read -r t_cs m_cs < <(WARM="$tp" PREP="rm -rf '$OUT/T'" median_of "$CS_BIN" ingest -q -r "$tp" -d "$OUT/T" \
        --decoder-opt moldudp64.ports=26477,26478,26500 --decoder-opt soupbintcp.ports=15000,15001)
    msgs=$("$CS_BIN" stats -d "$OUT/T" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
    echo "tcpdump -r -w (copy):          ${t_tcp}s  peak RSS ${m_tcp} KiB"
    echo "capstream ingest (all):        ${t_cs}s  peak RSS ${m_cs} KiB  ($msgs messages stored)"
    echo "wall ratio capstream/tcpdump:  $(ratio "$t_cs" "$t_tcp")   (target <= 0.8)"
    echo "peak RSS: $((m_cs / 1024)) MiB   (target <= 256 MiB)"
    echo "messages/s decoded and stored: $(python3 -c "print('%.2f M' % ($msgs / $t_cs / 1e6))")"
}

bench_query() {
    local t0=1767623400 i
    for i in $(seq 1 10); do
        if [ ! -f "$OUT/q$i.pcap" ]; then
            echo "generating capture $i of 10..." >&2
            python3 "$GEN" "$OUT/q$i.pcap" --seconds 10 --seed "$i" --hop --t0 $((t0 + (i - 1) * 3600)) >&2
        fi
    done
    # stores from before flow partitions or group catalogs are rebuilt
    if ! grep -q '^partitions' "$OUT/Q10/capstream.store" 2>/dev/null ||
        ! ls "$OUT"/Q10/packets/group-*.cat >/dev/null 2>&1; then
        rm -rf "$OUT/Q10" "$OUT/Q1"
    fi
    if [ ! -d "$OUT/Q10" ]; then
        for i in $(seq 1 10); do
            "$CS_BIN" ingest -q --decoders none -r "$OUT/q$i.pcap" -d "$OUT/Q10"
        done
        "$CS_BIN" ingest -q --decoders none -r "$OUT/q1.pcap" -d "$OUT/Q1"
    fi
    for i in $(seq 1 10); do cat "$OUT/q$i.pcap" >/dev/null; done
    local f="host 10.1.0.13 and port 40003" n10 n1
    local t_tcp m_tcp t_q10 m_q10 t_q1 m_q1 t_h1 m_h1 t_dn m_dn
    n10=$("$CS_BIN" query -d "$OUT/Q10" --count "$f")
    n1=$("$CS_BIN" query -d "$OUT/Q1" --count "$f")
    "$CS_BIN" query -d "$OUT/Q10" -w /dev/null "$f" # warm the page cache like tcpdump's inputs
    "$CS_BIN" query -d "$OUT/Q1" -w /dev/null "$f"
    # The issue's condition, page cache warm: a machine that has been
    # running, outputs removed and dirty pages written before each run.
    echo "== query '$f' over the whole range, page cache warm, median of $RUNS"
    query_runs STEADY
    echo "tcpdump -r over 10 files:      ${t_tcp}s"
    echo "capstream query, 10-capture store: ${t_q10}s (to /dev/null: ${t_dn}s), RSS ${m_q10} KB  ($n10 packets)"
    echo "capstream query, 1-capture store:  ${t_q1}s  ($n1 packets)"
    echo "capstream query, 10-capture store, first hour only: ${t_h1}s"
    echo "ratio capstream/tcpdump:       $(ratio "$t_q10" "$t_tcp")   (target <= 0.02)"
    echo "ratio 10-store/1-store:        $(ratio "$t_q10" "$t_q1")   (target <= 2; the result is 10x larger)"
    echo "ratio same result, 10-store/1-store: $(ratio "$t_h1" "$t_q1")   (store size alone)"
    # The same after dropping the page cache before each run (inputs read
    # back in). On this Firecracker VM the memory that drop frees goes back
    # to the host a moment later, and the host must back each page again
    # when the next file's page cache takes it: writing the 94 MB result
    # then costs both tools about 0.3 s more (perf: 80% of the query in
    # copy_folio_from_iter_atomic), whatever writes it.
    echo "== the same, page cache dropped and inputs read back before each run, median of $RUNS"
    query_runs
    echo "tcpdump -r over 10 files:      ${t_tcp}s"
    echo "capstream query, 10-capture store: ${t_q10}s"
    echo "capstream query, 1-capture store:  ${t_q1}s"
    echo "ratio capstream/tcpdump:       $(ratio "$t_q10" "$t_tcp")"
}

# query_runs [STEADY]: times tcpdump and the four capstream queries into
# t_tcp, t_q10 (m_q10: its RSS), t_q1, t_h1 and t_dn (to /dev/null).
query_runs() {
    local steady=${1:+1} files=() i
    for i in $(seq 1 10); do files+=("$OUT/q$i.pcap"); done
    read -r t_tcp m_tcp < <(STEADY=$steady PREP="rm -f '$OUT/ref.out'" WARM="${files[*]}" median_of bash -c "for x in ${files[*]}; do tcpdump -r \$x -w - '$f' 2>/dev/null; done >'$OUT/ref.out'")
    read -r t_q10 m_q10 < <(STEADY=$steady PREP="rm -f '$OUT/q10.out'" WARM="$OUT/Q10/packets/*" median_of "$CS_BIN" query -d "$OUT/Q10" -w "$OUT/q10.out" "$f")
    read -r t_q1 m_q1 < <(STEADY=$steady PREP="rm -f '$OUT/q1.out'" WARM="$OUT/Q1/packets/*" median_of "$CS_BIN" query -d "$OUT/Q1" -w "$OUT/q1.out" "$f")
    read -r t_h1 m_h1 < <(STEADY=$steady PREP="rm -f '$OUT/h1.out'" WARM="$OUT/Q10/packets/*" median_of "$CS_BIN" query -d "$OUT/Q10" --after "${t0}000000000" --before "$((t0 + 3600))000000000" -w "$OUT/h1.out" "$f")
    read -r t_dn m_dn < <(STEADY=$steady WARM="$OUT/Q10/packets/*" median_of "$CS_BIN" query -d "$OUT/Q10" -w /dev/null "$f")
}

# --workers N (issue 17): ingest with every decoder on 1, 2 and 3 analysis
# threads, the message stores compared byte for byte, on the corpus and on
# the trading corpus (where one MoldUDP64 feed carries most messages).
workers_on() {
    local name=$1 input=$2 n t m t1=
    shift 2
    echo "== --workers, $name: ingest with all decoders, median of $RUNS"
    read -r t m < <(WARM="$input" PREP="rm -f '$OUT/copy.pcap'" median_of tcpdump -r "$input" -w "$OUT/copy.pcap")
    echo "tcpdump -r -w (copy):          ${t}s  peak RSS ${m} KiB"
    for n in 1 2 3; do
        read -r t m < <(WARM="$input" PREP="rm -rf '$OUT/W$n'" median_of "$CS_BIN" ingest -q -r "$input" -d "$OUT/W$n" --workers $n "$@")
        [ -z "$t1" ] && t1=$t
        echo "capstream ingest --workers $n:  ${t}s  peak RSS ${m} KiB  speed-up $(ratio "$t1" "$t")   (target for 2 on 2 cores: >= 1.6)"
        if [ "$n" != 1 ] && ! diff -r -q "$OUT/W1/messages" "$OUT/W$n/messages" >/dev/null; then
            echo "the message store of --workers $n DIFFERS from one analyzer's" >&2
            return 1
        fi
    done
    echo "message stores of 2 and 3 workers equal one analyzer's, byte for byte"
}

bench_workers() {
    corpus
    workers_on corpus "$OUT/corpus.pcap"
    trading_corpus
    workers_on trading "$OUT/trading.pcap" \
        --decoder-opt moldudp64.ports=26477,26478,26500 --decoder-opt soupbintcp.ports=15000,15001
}

case "$what" in
ingest) bench_ingest ;;
workers) bench_workers ;;
analytics) bench_analytics ;;
query) bench_query ;;
trading) bench_trading ;;
all)
    bench_ingest
    bench_analytics
    bench_query
    bench_trading
    bench_workers
    ;;
*)
    echo "usage: bench/run.sh [ingest|query|analytics|trading|workers|all]" >&2
    exit 2
    ;;
esac

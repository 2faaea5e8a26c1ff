#!/usr/bin/env bash
# bench/live.sh - live capture, capstream side by side with Google's
# Stenographer (Debian `stenographer`, its capture engine `stenotype`), on the
# veth set-up of the golden tests (tests/golden/netns.sh): a gentraffic
# capture is replayed by tcpreplay at increasing rates into one end of a veth
# pair; the capturer listens on the other end, one capturer at a time.
#
#   netns:  [ capstream run -i A | stenotype --iface=A ] <-- veth --> [ B ] <- tcpreplay --pps R
#
# tcpdump -w (a 256 MiB buffer) is run at each rate too: like capstream and
# unlike stenotype it reads every frame out of the ring to write it, so its
# CPU per packet is the floor for a capturer that looks at the packets.
#
# Per rate it prints packets offered (what tcpreplay reports it sent) and,
# for capstream, captured (/api/v1/status capture.packets), stored
# (captured - drops.not_stored), analysed (captured - drops.not_analysed) and
# kernel drops, CPU per packet and peak RSS; for Stenographer, captured (packets in the TPACKET_V3 blocks
# stenotype wrote, summed from each block's header: its files are raw 1 MiB
# kernel blocks, not pcap) and the drops its own stats line reports. Then
# each one's highest loss-free rate (every offered packet captured - and for
# capstream stored and analysed too); the searchable delay of each (a
# marker packet sent under load, polled for in the store); and, while
# capstream captures at its
# highest loss-free rate, wrk's latency for GET /api/v1/status and
# GET /api/v1/measurements?limit=100 (5 s each).
#
#   sudo bench/live.sh
#
# Environment: CS_BIN (default build/capstream), OUT (work directory on a
# disk file system - stenotype writes with O_DIRECT, which tmpfs refuses;
# default bench/out/live), RATES (packets/s, or "topspeed", or "topspeedN"
# for N senders at once; default "50000 100000 200000 400000 topspeed
# topspeed2"), CS_ARGS (more `capstream run` options, e.g. "--decoders
# none"), SEARCH_RATE (pps of the searchable-delay run, default 100000),
# SEARCH_WAIT (its longest wait, default 90 s), GEN_SECONDS (gentraffic
# --seconds, default 2), WRK_SECONDS (default 5), WARMUP (1, the default:
# each tool's CPU is measured over a second replay, in steady state; 0: over
# the first, start-up costs included).
# Installs tcpreplay, wrk and stenographer with apt-get when missing, and
# says so. Needs root (network namespaces, AF_PACKET). The replayer, the
# capturer and wrk share this machine's CPUs: figures are for this machine.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
CS_BIN=${CS_BIN:-$REPO/build/capstream}
CS_ARGS=${CS_ARGS:-}
SEARCH_RATE=${SEARCH_RATE:-100000}
SEARCH_WAIT=${SEARCH_WAIT:-90}
OUT=${OUT:-$REPO/bench/out/live}
RATES=${RATES:-50000 100000 200000 400000 topspeed topspeed2}
GEN_SECONDS=${GEN_SECONDS:-2}
WARMUP=${WARMUP:-1}
WRK_SECONDS=${WRK_SECONDS:-5}
source "$REPO/tests/golden/netns.sh"

NS=csbench$$
VA=cba$$
VB=cbb$$
PORT=$((20000 + RANDOM % 40000))
PIDS=()
STENO_WHY=
declare -A CS_ROW ST_ROW TD_ROW

say() { echo "live.sh: $*" >&2; }

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
    done
    netns_del "$NS"
}
trap cleanup EXIT

# ensure_tool COMMAND PACKAGE: apt-get installs PACKAGE if COMMAND is missing.
ensure_tool() {
    command -v "$1" >/dev/null && return 0
    say "$1 missing: installing Debian package $2 with apt-get"
    if ! apt-cache show "$2" >/dev/null 2>&1; then
        apt-get update -qq >/dev/null 2>&1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" \
        >"$OUT/apt-$2.log" 2>&1
    command -v "$1" >/dev/null
}

# stop_pid PID SECONDS SIGNAL [quiet]: signals PID, waits at most SECONDS,
# then SIGKILL (said on stderr unless quiet). Sets STOP_STATUS.
stop_pid() {
    local pid=$1
    kill -"$3" "$pid" 2>/dev/null
    for _ in $(seq $(($2 * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        [ -n "${4:-}" ] || say "pid $pid did not stop within $2 s of SIG$3; killed"
    fi
    wait "$pid" 2>/dev/null
    STOP_STATUS=$?
}

# replay RATE: replays the capture into B; prints "offered_packets
# achieved_pps". The capture is preloaded into memory (-K), so the file
# system does not pace the sender. RATE "topspeedN" runs N senders at top
# speed side by side (one tcpreplay tops out near 300k pps here): their
# packets and rates add up.
replay() {
    local rate=$1 how n=1 i pids=()
    case $rate in
    topspeed) how=(--topspeed) ;;
    topspeed[0-9]*) how=(--topspeed) n=${rate#topspeed} ;;
    *) how=(--pps "$rate") ;;
    esac
    for i in $(seq 1 "$n"); do
        ip netns exec "$NS" tcpreplay -K -i "$VB" "${how[@]}" "$OUT/gen.pcap" \
            >"$OUT/replay.$i.out" 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}"
    python3 - "$OUT"/replay.[0-9]*.out <<'PY'
import re, sys
sent = pps = 0
for name in sys.argv[1:]:
    t = open(name).read()
    m = re.search(r"Actual: (\d+) packets .* sent in ([\d.]+) seconds", t)
    r = re.search(r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps", t)
    sent += int(m.group(1)) if m else 0
    pps += int(float(r.group(1))) if r else 0
print(sent, pps)
PY
    rm -f "$OUT"/replay.[0-9]*.out
}

# cpu_ticks PID: the user+system CPU PID (all its threads) used so far, in
# clock ticks; hwm_mib PID: its peak resident set, MiB.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
hwm_mib() { awk '/^VmHWM/ {print int($2 / 1024)}' "/proc/$1/status" 2>/dev/null || echo 0; }

# us_per_pkt TICKS PACKETS: microseconds of CPU per packet.
us_per_pkt() {
    awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "-" }'
}

# measure PID RATE SETTLE: the CPU PID spends on one replay at RATE, in
# steady state: with WARMUP=1 (the default) the capture is replayed once
# before, unmeasured, so that what a capturer does once (buffers touched
# for the first time, files created) is not charged to the packets; the
# same for every tool. Waits SETTLE seconds after each replay. Sets M_OFF
# (packets offered by every replay), M_PPS (the measured replay's rate),
# M_PKTS (its packets) and M_TICKS (CPU clock ticks over it and SETTLE).
measure() {
    local pid=$1 rate=$2 settle=$3 warm=0 t0
    if [ "$WARMUP" = 1 ]; then
        read -r warm _ <<<"$(replay "$rate")"
        sleep "$settle"
    fi
    t0=$(cpu_ticks "$pid")
    read -r M_PKTS M_PPS <<<"$(replay "$rate")"
    sleep "$settle"
    M_TICKS=$(($(cpu_ticks "$pid") - t0))
    M_OFF=$((warm + M_PKTS))
}

cs_status() {
    ip netns exec "$NS" curl -s -m 5 "http://127.0.0.1:$PORT/api/v1/status"
}

cs_start() {
    rm -rf "$OUT/store"
    # shellcheck disable=SC2086 # CS_ARGS: words, e.g. "--decoders none"
    ip netns exec "$NS" "$OUT/capstream" run -i "$VA" -d "$OUT/store" --listen "127.0.0.1:$PORT" \
        $CS_ARGS >"$OUT/run.out" 2>"$OUT/run.err" &
    CS_PID=$!
    PIDS+=("$CS_PID")
    if ! netns_wait_port "$NS" "$PORT" 15; then
        say "capstream run did not listen: $(head -c 300 "$OUT/run.err")"
        return 1
    fi
}

# capstream at one rate: sets CS_ROW[rate]="offered pps captured stored
# analysed kdrops us_per_packet peak_rss_mib" (CPU from when it listens to
# when the replay has drained)
cs_rate() {
    local rate=$1 st rss
    cs_start || return 1
    measure "$CS_PID" "$rate" 1.5 # past the ring's block timeout and the pipeline's drain
    st=$(cs_status | python3 -c 'import json, sys
d = json.load(sys.stdin); c = d["capture"]["packets"]; k = d["drops"]
print(c, c - k["not_stored"], c - k["not_analysed"], k["kernel"])')
    rss=$(hwm_mib "$CS_PID")
    stop_pid "$CS_PID" 30 TERM
    [ "$STOP_STATUS" -eq 0 ] || say "capstream run exited $STOP_STATUS at rate $rate"
    CS_ROW[$rate]="$M_OFF $M_PPS ${st:-0 0 0 ?} $(us_per_pkt "$M_TICKS" "$M_PKTS") $rss"
}

# tcpdump at one rate: sets TD_ROW[rate]="offered pps captured drops
# us_per_packet peak_rss_mib", from its own "captured" and "dropped by
# kernel" lines; CPU from when it has started to when the replay has drained.
td_rate() {
    local rate=$1 rss pid cap drops
    rm -f "$OUT/td.pcap"
    ip netns exec "$NS" tcpdump -n -i "$VA" -B 262144 -w "$OUT/td.pcap" >"$OUT/td.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 50); do
        grep -q 'listening on' "$OUT/td.log" && break
        sleep 0.1
    done
    measure "$pid" "$rate" 1.5
    rss=$(hwm_mib "$pid")
    stop_pid "$pid" 10 INT
    cap=$(awk '/packets captured/ {print $1}' "$OUT/td.log")
    drops=$(awk '/dropped by kernel/ {print $1}' "$OUT/td.log")
    TD_ROW[$rate]="$M_OFF $M_PPS ${cap:-0} ${drops:-?} $(us_per_pkt "$M_TICKS" "$M_PKTS") $rss"
    rm -f "$OUT/td.pcap"
}

steno_count() {
    python3 - "$OUT/steno" <<'PY'
import glob, os, struct, sys
# stenotype's packet files are TPACKET_V3 blocks as the kernel filled them:
# struct tpacket_block_desc {u32 version; u32 offset_to_priv;
#   struct tpacket_hdr_v1 {u32 block_status; u32 num_pkts; ...}}
# one every --blocksize_kb (default 1024 KiB).
n = 0
for f in glob.glob(os.path.join(sys.argv[1], "PKT*", "*")) + \
        glob.glob(os.path.join(sys.argv[1], "PKT*", ".*")):
    d = open(f, "rb").read()
    for off in range(0, len(d) - 16, 1 << 20):
        version, _, _, num = struct.unpack_from("<IIII", d, off)
        if version in (2, 3):  # the kernel writes 2 here; unused space is 0
            n += num
print(n)
PY
}

# Stenographer at one rate: sets ST_ROW[rate]="offered pps captured drops
# us_per_packet peak_rss_mib"
# Starts stenotype on A into $OUT/steno (sets ST_PID); 1 if it did not start.
steno_start() {
    rm -rf "$OUT/steno"
    mkdir -p "$OUT/steno/PKT0" "$OUT/steno/IDX0"
    chown -R nobody:nogroup "$OUT/steno" # stenotype drops root for nobody
    ip netns exec "$NS" stenotype --iface="$VA" --dir="$OUT/steno" --threads=1 \
        --seccomp=none --no_watchdogs --blocks=256 --blockage_sec=1 -v --stats_sec=1 \
        >"$OUT/steno.log" 2>&1 &
    ST_PID=$!
    PIDS+=("$ST_PID")
    for _ in $(seq 150); do
        grep -q 'starting to process packets' "$OUT/steno.log" && break
        kill -0 "$ST_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q 'starting to process packets' "$OUT/steno.log"; then
        STENO_WHY="stenotype did not start: $(grep -m1 -E 'CHECK|rror|ABORT' "$OUT/steno.log")"
        stop_pid "$ST_PID" 5 INT
        return 1
    fi
}

steno_rate() {
    local rate=$1 cap drops rss
    steno_start || return 1
    measure "$ST_PID" "$rate" 2.5 # --blockage_sec=1: the kernel hands over a partial block after 1 s
    rss=$(hwm_mib "$ST_PID")
    # stenotype notices SIGINT only when its next block arrives, so on an idle
    # link it never exits; every block is on disk by now (O_DIRECT writes of
    # the blocks handed over), so it is killed after 3 s.
    stop_pid "$ST_PID" 3 INT quiet
    cap=$(steno_count)
    drops=$(grep -o 'drops=[0-9]*' "$OUT/steno.log" | tail -n 1 | cut -d= -f2)
    ST_ROW[$rate]="$M_OFF $M_PPS $cap ${drops:-?} $(us_per_pkt "$M_TICKS" "$M_PKTS") $rss"
}

# ---- searchable delay --------------------------------------------------------
# While the capture is replayed at RATE in a loop, one marker packet (UDP
# 10.99.0.1:47998 > 10.99.0.2:47999, a payload unique to the run) is sent
# into B; then the capturer's store is polled until the marker is found.
# capstream: `capstream query --count` (the CLI, reading the store the
# daemon writes) and GET /api/v1/packets, every 50 ms; Stenographer: its
# packet files become searchable when stenotype renames them into PKT0 (its
# open file is hidden, ".NAME"), so the marker's bytes in a visible file,
# every 0.5 s. At most SEARCH_WAIT seconds.

MARKER_PORT=47999

# send_marker PAYLOAD: sends the marker frame into B; prints the send time
# (epoch seconds, from the sender's clock, which is this machine's).
send_marker() {
    ip netns exec "$NS" python3 - "$VB" "$1" <<'PY'
import socket, struct, sys, time
payload = sys.argv[2].encode()
udp = struct.pack("!HHHH", 47998, 47999, 8 + len(payload), 0) + payload
ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                           socket.inet_aton("10.99.0.1"), socket.inet_aton("10.99.0.2")))
csum = sum(struct.unpack("!10H", bytes(ip)))
csum = (csum & 0xFFFF) + (csum >> 16)
csum = (csum & 0xFFFF) + (csum >> 16)
struct.pack_into("!H", ip, 10, ~csum & 0xFFFF)
frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + bytes(ip) + udp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
t = time.time()
s.send(frame)
print("%.6f" % t)
PY
}

now_s() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# replay_loop RATE SECONDS: the capture replayed in a loop in the background
# (sets LOOP_PID).
replay_loop() {
    ip netns exec "$NS" tcpreplay -K -i "$VB" --pps "$1" --loop 0 --duration "$2" \
        "$OUT/gen.pcap" >"$OUT/replay.loop.out" 2>&1 &
    LOOP_PID=$!
    PIDS+=("$LOOP_PID")
}

cs_marker_found_cli() {
    [ "$("$OUT/capstream" query -d "$OUT/store" --count udp port "$MARKER_PORT" 2>/dev/null)" \
        = 1 ]
}

cs_marker_found_api() {
    [ "$(ip netns exec "$NS" curl -s -m 2 \
        "http://127.0.0.1:$PORT/api/v1/packets?filter=udp%20port%20$MARKER_PORT" | wc -c)" -gt 24 ]
}

# searchable_cs RATE: prints "cli_seconds api_seconds" (- if never found).
searchable_cs() {
    local t0 t cli=- api=- deadline
    cs_start || return 1
    replay_loop "$1" $((SEARCH_WAIT + 3))
    sleep 1
    t0=$(send_marker "capstream-marker-$$-$RANDOM") || return 1
    deadline=$(($(date +%s) + SEARCH_WAIT))
    # a query that finds it shows it searchable when the query started
    while [ "$(date +%s)" -lt "$deadline" ] && { [ "$cli" = - ] || [ "$api" = - ]; }; do
        t=$(now_s)
        [ "$cli" = - ] && cs_marker_found_cli && cli=$(elapsed "$t0" "$t")
        t=$(now_s)
        [ "$api" = - ] && cs_marker_found_api && api=$(elapsed "$t0" "$t")
        sleep 0.05
    done
    stop_pid "$LOOP_PID" 5 INT quiet
    stop_pid "$CS_PID" 30 TERM
    echo "$cli $api"
}

# searchable_steno RATE: prints the seconds until the marker is in a packet
# file stenotype renamed into place (- if not within SEARCH_WAIT).
searchable_steno() {
    local t0 t found=- deadline marker="capstream-marker-$$-$RANDOM"
    steno_start || return 1
    replay_loop "$1" $((SEARCH_WAIT + 3))
    sleep 1
    t0=$(send_marker "$marker") || return 1
    deadline=$(($(date +%s) + SEARCH_WAIT))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        t=$(now_s)
        if grep -qlF "$marker" "$OUT"/steno/PKT0/[!.]* 2>/dev/null; then
            found=$(elapsed "$t0" "$t")
            break
        fi
        sleep 0.5
    done
    stop_pid "$LOOP_PID" 5 INT quiet
    stop_pid "$ST_PID" 3 INT quiet
    echo "$found"
}

print_searchable() {
    local cli api st
    echo
    echo "searchable delay: one marker packet sent while the capture is replayed at" \
        "$SEARCH_RATE pps; seconds until found"
    read -r cli api <<<"$(searchable_cs "$SEARCH_RATE")"
    echo "    capstream: capstream query ${cli:--} s, GET /api/v1/packets ${api:--} s"
    if [ -n "$STENO_WHY" ]; then
        echo "    stenographer: not measured - $STENO_WHY"
        return
    fi
    st=$(searchable_steno "$SEARCH_RATE")
    echo "    stenographer: in a packet file it renamed into place ${st:--} s" \
        "(not found = later than $SEARCH_WAIT s)"
}

# wrk_api: capstream captures at RATE (looped replay for the whole run)
# while wrk measures both endpoints; prints wrk's summary lines.
wrk_api() {
    local rate=$1 how rp path
    cs_start || return 1
    case $rate in
    topspeed*) how=(--topspeed) ;; # one looping sender: the API figures are per sender
    *) how=(--pps "$rate") ;;
    esac
    ip netns exec "$NS" tcpreplay -K -i "$VB" "${how[@]}" --loop 0 \
        --duration $((2 * WRK_SECONDS + 4)) "$OUT/gen.pcap" >"$OUT/replay.wrk.out" 2>&1 &
    rp=$!
    PIDS+=("$rp")
    sleep 1
    for path in /api/v1/status "/api/v1/measurements?limit=100"; do
        echo "GET $path while capturing at $rate pps:"
        ip netns exec "$NS" wrk -t2 -c4 -d"${WRK_SECONDS}s" --latency \
            "http://127.0.0.1:$PORT$path" 2>&1 |
            grep -E 'Latency|50%|90%|99%|Requests/sec|requests in|Non-2xx|Socket errors' |
            sed 's/^/    /'
    done
    wait "$rp"
    sleep 1.5
    echo "    capture meanwhile: $(grep -E '^Actual' "$OUT/replay.wrk.out");" \
        "status: $(cs_status | python3 -c 'import json, sys
d = json.load(sys.stdin)
print("captured %d, drops %s" % (d["capture"]["packets"], d["drops"]))')"
    stop_pid "$CS_PID" 30 TERM
}

loss_free_cs() {
    local off pps cap sto ana kd
    read -r off pps cap sto ana kd _ <<<"${CS_ROW[$1]:-}"
    [ -n "${off:-}" ] && [ "$off" -gt 0 ] && [ "$cap" = "$off" ] && [ "$sto" = "$off" ] &&
        [ "$ana" = "$off" ] && [ "$kd" = 0 ]
}

loss_free_st() {
    local off pps cap
    read -r off pps cap _ <<<"${ST_ROW[$1]:-}"
    [ -n "${off:-}" ] && [ "$off" -gt 0 ] && [ "$cap" = "$off" ]
}

# best_pps ARRAY RATE: the pps tcpreplay achieved in that row (0 if none).
best_pps() {
    local -n rows=$1
    if [ -z "$2" ]; then
        echo 0
        return
    fi
    cut -d' ' -f2 <<<"${rows[$2]}"
}

# print_best NAME ARRAY RATE
print_best() {
    if [ -n "$3" ]; then
        echo "$1 highest loss-free rate: $(best_pps "$2" "$3") pps (tcpreplay --pps $3)"
    else
        echo "$1 highest loss-free rate: none (every run lost packets)"
    fi
}

main() {
    local rate best_cs= best_st= off pps cap sto ana kd spps scap sdrops cus crss sus srss tpps tcap tdrops tus trss
    [ "$(id -u)" -eq 0 ] || {
        say "needs root (network namespaces, AF_PACKET)"
        exit 1
    }
    mkdir -p "$OUT"
    [ -x "$CS_BIN" ] || {
        say "no capstream binary at $CS_BIN (make first)"
        exit 1
    }
    # A private copy: a rebuild of build/ during the run must not swap it.
    cp "$CS_BIN" "$OUT/capstream" || exit 1
    ensure_tool tcpreplay tcpreplay || exit 1
    ensure_tool wrk wrk || say "wrk could not be installed; no API latency figures"
    ensure_tool stenotype stenographer ||
        STENO_WHY="the stenographer package could not be installed (see $OUT/apt-stenographer.log)"
    python3 "$REPO/tools/gentraffic.py" "$OUT/gen.pcap" --seconds "$GEN_SECONDS" --seed 7 \
        >/dev/null || exit 1
    netns_setup "$NS" "$VA" "$VB" || exit 1
    say "capture: $(tcpdump -r "$OUT/gen.pcap" 2>/dev/null | wc -l) packets," \
        "$(stat -c %s "$OUT/gen.pcap") bytes; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"

    for rate in $RATES; do
        say "rate $rate: capstream"
        cs_rate "$rate"
        say "rate $rate: tcpdump"
        td_rate "$rate"
        if [ -z "$STENO_WHY" ]; then
            say "rate $rate: stenographer"
            steno_rate "$rate"
        fi
    done

    echo
    echo "packets per run (offered: every replay of the run); pps = the rate tcpreplay"
    echo "achieved in the measured replay; us/pkt = CPU (user+system, every thread) per"
    echo "packet of the measured replay$([ "$WARMUP" = 1 ] && echo ", after one unmeasured replay (WARMUP=1)");"
    echo "rss = peak resident MiB (the capture ring included); capstream ${CS_ARGS:-with every decoder}"
    printf '%-9s | %-67s | %-36s | %s\n' "" "capstream" "tcpdump -w" "stenographer"
    printf '%-9s | %8s %7s %8s %8s %8s %7s %6s %5s | %7s %8s %6s %6s %5s | %7s %8s %6s %6s %5s\n' \
        rate offered pps captured stored analysed k_drops us/pkt rss pps captured drops us/pkt rss \
        pps captured drops us/pkt rss
    for rate in $RATES; do
        read -r off pps cap sto ana kd cus crss <<<"${CS_ROW[$rate]:-- - - - - - - -}"
        read -r _ tpps tcap tdrops tus trss <<<"${TD_ROW[$rate]:-- - - - - -}"
        read -r _ spps scap sdrops sus srss <<<"${ST_ROW[$rate]:-- - - - - -}"
        printf '%-9s | %8s %7s %8s %8s %8s %7s %6s %5s | %7s %8s %6s %6s %5s | %7s %8s %6s %6s %5s\n' \
            "$rate" "$off" "$pps" "$cap" "$sto" "$ana" "$kd" "$cus" "$crss" "$tpps" "$tcap" \
            "$tdrops" "$tus" "$trss" "$spps" "$scap" "$sdrops" "$sus" "$srss"
        if loss_free_cs "$rate" && [ "$pps" -gt "$(best_pps CS_ROW "$best_cs")" ]; then
            best_cs=$rate
        fi
        if loss_free_st "$rate" && [ "$spps" -gt "$(best_pps ST_ROW "$best_st")" ]; then
            best_st=$rate
        fi
    done
    echo
    echo "highest loss-free rate = the fastest run (pps achieved) with nothing lost"
    print_best capstream CS_ROW "$best_cs"
    if [ -n "$STENO_WHY" ]; then
        echo "stenographer: not measured - $STENO_WHY"
    else
        print_best stenographer ST_ROW "$best_st"
    fi
    print_searchable
    if [ -n "$best_cs" ] && command -v wrk >/dev/null; then
        echo
        wrk_api "$best_cs"
    fi
}

main "$@"

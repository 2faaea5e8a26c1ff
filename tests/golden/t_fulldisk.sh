# t_fulldisk.sh - a full disk never loses or lies. A store on a small ext4
# image (a loop mount made here) is fed a generated capture larger than
# the image:
#   - ingest without a budget fails (exit 1) saying how many packets were
#     stored; that is what `stats` and `query --count` say, with no
#     warning; the stored packets are each conversation's first ones (with
#     one partition: the capture's first packets, compared with tcpdump's);
#     once a file placed on the image first is deleted, a second ingest
#     appends and is queried;
#   - ingest with a budget above the room left: retention makes room,
#     nothing is lost, the store holds the newest packets;
#   - the daemon (fast replay) without a budget: analysis goes on, every
#     packet not stored is counted in drops.not_stored (status and
#     Prometheus), SIGTERM exits 0 and the store then holds exactly the
#     packets seen minus those, each conversation's first ones;
#   - the daemon with a budget: retention frees room, storing goes on, no
#     packet is lost.
#   - the daemon without a budget resumes storing once room is freed;
#   - metrics windows a full disk keeps out are counted (status,
#     Prometheus, log), the metrics files hold whole records, exit 0.
# Needs root (loop mount): anything missing is a failure, never a skip.

FD_IMG=$CS_TMP/full.img
FD_MNT=$CS_TMP/fullmnt
FD_IMG2=$CS_TMP/full2.img # a second, full file system (section 7)
FD_PID=

fulldisk_cleanup() {
    if [ -n "$FD_PID" ] && kill -0 "$FD_PID" 2>/dev/null; then
        kill -KILL "$FD_PID" 2>/dev/null
        wait "$FD_PID" 2>/dev/null
    fi
    mountpoint -q "$FD_MNT/store/metrics" 2>/dev/null && umount "$FD_MNT/store/metrics"
    mountpoint -q "$FD_MNT" 2>/dev/null && umount "$FD_MNT"
    rm -f "$FD_IMG" "$FD_IMG2"
}
trap fulldisk_cleanup EXIT
trap 'fulldisk_cleanup; exit 1' INT TERM

# fulldisk_mount SIZE: a fresh ext4 image of SIZE mounted on $FD_MNT.
fulldisk_mount() {
    fulldisk_cleanup
    mkdir -p "$FD_MNT"
    if [ "$(id -u)" != 0 ]; then
        fail "full disk: needs root to loop-mount an image"
        return 1
    fi
    if ! truncate -s "$1" "$FD_IMG" || ! mkfs.ext4 -q -F "$FD_IMG" 2>"$CS_TMP/mkfs.err"; then
        fail "full disk: cannot make an ext4 image: $(cat "$CS_TMP/mkfs.err")"
        return 1
    fi
    if ! mount -o loop "$FD_IMG" "$FD_MNT" 2>"$CS_TMP/mount.err"; then
        fail "full disk: cannot loop-mount the image: $(cat "$CS_TMP/mount.err")"
        return 1
    fi
}

# jfield KEY.KEY: a number from the JSON on stdin; -1 if it is not there
# (the check that uses it then fails, the script goes on).
jfield() { python3 -c 'import json,sys
try:
    d = json.load(sys.stdin)
    for k in sys.argv[1].split("."): d = d[k]
    print(int(d))
except Exception:
    print(-1)' "$1"; }

# The count an ingest's error message says was stored.
said_stored() { sed -n 's/.*error: \([0-9]*\) of the [0-9]* packets read were stored.*/\1/p' "$1"; }

# check_stored STORE N WHAT: stats and query agree with N, without a warning.
check_stored() {
    local st n
    st=$("$CS_BIN" stats -d "$1" --json 2>"$CS_TMP/stats.err" | jfield packets)
    check_eq "$3: stats counts what was stored" "$2" "$st"
    check_eq "$3: stats warns of nothing" "" "$(cat "$CS_TMP/stats.err")"
    n=$("$CS_BIN" query -d "$1" --count 2>"$CS_TMP/query.err")
    check_eq "$3: query --count counts what was stored" "$2" "$n"
    check_eq "$3: query warns of nothing" "" "$(cat "$CS_TMP/query.err")"
}

python3 "$GENTRAFFIC" "$CS_TMP/big.pcap" --seconds 1 --seed 41 >/dev/null
total=$(tcpdump -r "$CS_TMP/big.pcap" 2>/dev/null | wc -l)
GET=$PCAPS/zeek/http/get.pcap

# ---- 1. ingest, no budget, 64 partitions ----------------------------------
if fulldisk_mount 40M; then
    S=$FD_MNT/store
    dd if=/dev/zero of="$FD_MNT/filler" bs=1M count=4 status=none
    "$CS_BIN" ingest -q -r "$CS_TMP/big.pcap" -d "$S" 2>"$CS_TMP/ingest.err"
    st=$?
    check_eq "ingest onto a full disk exits 1 ($(tail -c 300 "$CS_TMP/ingest.err"))" 1 "$st"
    check "ingest says the disk is full" grep -q "No space left on device" "$CS_TMP/ingest.err"
    n=$(said_stored "$CS_TMP/ingest.err")
    check "ingest says how many packets were stored ($n)" test -n "$n"
    n=${n:-0}
    check "part of the capture was stored ($n of $total)" test "$n" -gt 0 -a "$n" -lt "$total"
    check_stored "$S" "$n" "full disk, 64 partitions"
    "$CS_BIN" query -d "$S" -w "$CS_TMP/after.pcap"
    check "each conversation's stored packets are its first ones ($n packets)" \
        python3 "$GOLDEN/flowprefix.py" "$CS_TMP/after.pcap" "$CS_TMP/big.pcap"
    rm -f "$FD_MNT/filler"
    check "an ingest after room was freed" "$CS_BIN" ingest -q -r "$GET" -d "$S"
    check_stored "$S" "$((n + 14))" "after room was freed"
fi

# ---- 2. ingest, one partition: the capture's prefix, against tcpdump -------
if fulldisk_mount 32M; then
    S=$FD_MNT/store
    "$CS_BIN" ingest -q -r "$CS_TMP/big.pcap" -d "$S" --partitions 1 2>"$CS_TMP/ingest.err"
    st=$?
    check_eq "one partition: ingest onto a full disk exits 1" 1 "$st"
    n=$(said_stored "$CS_TMP/ingest.err")
    n=${n:-0}
    check "one partition: part of the capture was stored ($n of $total)" \
        test "$n" -gt 0 -a "$n" -lt "$total"
    check_stored "$S" "$n" "full disk, one partition"
    "$CS_BIN" query -d "$S" -w "$CS_TMP/after1.pcap"
    tcpdump --time-stamp-precision=nano -r "$CS_TMP/big.pcap" -c "$n" \
        -w "$CS_TMP/prefix1.pcap" 2>/dev/null
    check "one partition: the stored packets are the capture's first $n" \
        python3 "$GOLDEN/pcapcmp.py" "$CS_TMP/after1.pcap" "$CS_TMP/prefix1.pcap"
fi

# ---- 3. ingest with a budget above the room left: retention makes room -----
if fulldisk_mount 40M; then
    S=$FD_MNT/store
    dd if=/dev/zero of="$FD_MNT/filler" bs=1M count=16 status=none
    "$CS_BIN" ingest -q -r "$CS_TMP/big.pcap" -d "$S" --max-bytes 30M --segment-bytes 4M \
        --decoders none 2>"$CS_TMP/ingest.err"
    st=$?
    check_eq "budget over the room left: ingest exits 0 ($(tail -c 300 "$CS_TMP/ingest.err"))" \
        0 "$st"
    n=$("$CS_BIN" stats -d "$S" --json | jfield packets)
    check_stored "$S" "$n" "budget over the room left"
    "$CS_BIN" query -d "$S" -w "$CS_TMP/left.pcap"
    python3 "$GOLDEN/pcaptail.py" "$CS_TMP/big.pcap" "$n" "$CS_TMP/tail.pcap"
    check "budget over the room left: the store holds the newest $n packets, none lost" \
        python3 "$GOLDEN/pcapcmp.py" "$CS_TMP/left.pcap" "$CS_TMP/tail.pcap"
fi

# ---- 4 and 5. the daemon, without and with a budget -------------------------
# daemon_full WHAT [run args...]: replays $FD_PCAP ($FD_TOTAL packets) into
# a store on the image, checks the counters, stops it; sets not_stored
# (packets), records (messages and measurements seen) and records_not_stored.
daemon_full() {
    local what=$1 status seen prom
    shift
    S=$FD_MNT/store
    daemon_start "$S" -r "$FD_PCAP" "$@"
    FD_PID=$RUN_PID
    for _ in $(seq 600); do # daemon_start waits 20 s; a loaded machine may need more
        curl -s "$B/api/v1/status" 2>/dev/null | grep -q '"capturing":false' && break
        sleep 0.1
    done
    sleep 2.2 # two more ticks: losses found by the last flushes are counted
    status=$(curl -s --max-time 5 "$B/api/v1/status")
    seen=$(echo "$status" | jfield capture.packets)
    not_stored=$(echo "$status" | jfield drops.not_stored)
    records_not_stored=$(echo "$status" | jfield drops.records_not_stored)
    records=$(($(echo "$status" | jfield messages) + $(echo "$status" | jfield measurements)))
    prom=$(curl -s --max-time 5 "$B/metrics" |
        sed -n 's/^capstream_drops_total{kind="not_stored"} //p')
    check_eq "$what: the daemon analysed every packet" "$FD_TOTAL" "$seen"
    check_eq "$what: Prometheus counts what status counts" "$not_stored" "$prom"
    daemon_stop "$RUN_PID"
    FD_PID=
    check "$what: no checkpoint warning per second" \
        test "$(grep -c checkpoint "$CS_TMP/run.err")" -le 1
}

FD_PCAP=$CS_TMP/big.pcap
FD_TOTAL=$total
if fulldisk_mount 40M; then
    daemon_full "daemon, no budget"
    held=$("$CS_BIN" stats -d "$S" --json | jfield packets)
    check_eq "daemon, no budget: not_stored is the packets seen minus those stored" \
        "$((total - held))" "$not_stored"
    check_stored "$S" "$held" "daemon, no budget"
    check "daemon, no budget: the disk did fill ($not_stored not stored)" test "$not_stored" -gt 0
    stored=$("$CS_BIN" stats -d "$S" --json)
    stored=$(($(echo "$stored" | jfield messages) + $(echo "$stored" | jfield measurements)))
    check "daemon, no budget: records not stored counted ($records_not_stored >= $records - $stored)" \
        test "$records_not_stored" -ge $((records - stored)) -a "$records_not_stored" -gt 0
    check "daemon, no budget: it said so" grep -q "disk full" "$CS_TMP/run.err"
    "$CS_BIN" query -d "$S" -w "$CS_TMP/run.pcap"
    check "daemon, no budget: each conversation's stored packets are its first ones" \
        python3 "$GOLDEN/flowprefix.py" "$CS_TMP/run.pcap" "$CS_TMP/big.pcap"
fi

# At the capture's own pace, as from an interface: a replay as fast as the
# file reads lets the background writer fall a whole group behind, and a
# group it has yet to close cannot make room. The capture is 42 MB over
# 6 s (7 MB/s): big.pcap's 67 MB in one second is more than a CI VM's disk
# takes through a nearly full loop-mounted ext4 (ext4 then writes back
# before it allocates), and a disk that falls behind costs packets,
# counted, whatever the budget (t_slowdisk).
python3 "$GENTRAFFIC" "$CS_TMP/paced.pcap" --seconds 6 --scale 0.1 --seed 41 >/dev/null
FD_PCAP=$CS_TMP/paced.pcap
FD_TOTAL=$(tcpdump -r "$FD_PCAP" 2>/dev/null | wc -l)
if fulldisk_mount 40M; then
    dd if=/dev/zero of="$FD_MNT/filler" bs=1M count=16 status=none
    daemon_full "daemon, budget over the room left" --max-bytes 30M --decoders none \
        --replay realtime
    check_eq "daemon with a budget: retention made room, nothing lost" 0 "$not_stored"
    held=$("$CS_BIN" stats -d "$S" --json | jfield packets)
    check "daemon with a budget: the capture outgrew the disk ($held of $FD_TOTAL held)" \
        test "$held" -gt 0 -a "$held" -lt "$FD_TOTAL"
    check_stored "$S" "$held" "daemon with a budget"
    "$CS_BIN" query -d "$S" -w "$CS_TMP/left.pcap"
    python3 "$GOLDEN/pcaptail.py" "$FD_PCAP" "$held" "$CS_TMP/tail.pcap"
    check "daemon with a budget: the store holds the newest $held packets, none lost" \
        python3 "$GOLDEN/pcapcmp.py" "$CS_TMP/left.pcap" "$CS_TMP/tail.pcap"
fi

# ---- 6. the daemon resumes storing once room is freed ----------------------
# A real-time replay fills the disk, then the file placed on it first is
# deleted: storing resumes (no budget is needed), and the counters still
# add up.
python3 "$GENTRAFFIC" "$CS_TMP/rt.pcap" --seconds 6 --scale 0.2 --seed 7 >/dev/null
rt_total=$(tcpdump -r "$CS_TMP/rt.pcap" 2>/dev/null | wc -l)
if fulldisk_mount 150M; then
    dd if=/dev/zero of="$FD_MNT/filler" bs=1M count=100 status=none
    S=$FD_MNT/store
    PORT=$(free_port)
    "$CS_BIN" run -r "$CS_TMP/rt.pcap" --replay realtime -d "$S" --decoders none \
        --listen "127.0.0.1:$PORT" >"$CS_TMP/run.out" 2>"$CS_TMP/run.err" &
    FD_PID=$!
    for _ in $(seq 100); do # until the disk is full
        grep -q "disk full" "$CS_TMP/run.err" && break
        sleep 0.1
    done
    rm -f "$FD_MNT/filler"
    for _ in $(seq 600); do
        curl -s "http://127.0.0.1:$PORT/api/v1/status" 2>/dev/null |
            grep -q '"capturing":false' && break
        sleep 0.1
    done
    sleep 1.2
    not_stored=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/api/v1/status" |
        jfield drops.not_stored)
    daemon_stop "$FD_PID"
    FD_PID=
    check "resume: the disk did fill" grep -q "disk full" "$CS_TMP/run.err"
    check "resume: storing resumed" grep -q "packets are stored again" "$CS_TMP/run.err"
    held=$("$CS_BIN" stats -d "$S" --json | jfield packets)
    check_eq "resume: not_stored is the packets seen minus those stored" \
        "$((rt_total - held))" "$not_stored"
    check_stored "$S" "$held" "resume"
    first=$("$CS_BIN" stats -d "$S" --json | jfield groups)
    check "resume: packets were stored after the gap too ($first groups)" test "$first" -ge 2
fi

# ---- 7. metrics on a full disk: counted, no empty file, exit 0 --------------
# STORE/metrics is a second file system, full from the start, while the
# packets have room (the packet store freeing its own lost writes would
# otherwise make room at random): every metrics window is counted as not
# stored (status, Prometheus, the log), no empty metrics file is left, and
# SIGTERM still exits 0.
if fulldisk_mount 40M; then
    S=$FD_MNT/store
    "$CS_BIN" ingest -q -r "$GET" -d "$S" --decoders none
    mkdir -p "$S/metrics"
    if truncate -s 2M "$FD_IMG2" && mkfs.ext4 -q -F "$FD_IMG2" 2>"$CS_TMP/mkfs.err" &&
        mount -o loop "$FD_IMG2" "$S/metrics" 2>"$CS_TMP/mount.err"; then
        # delayed allocation frees a block or two after the first fill: fill again
        dd if=/dev/zero of="$S/metrics/filler" bs=4k status=none 2>/dev/null
        sync
        dd if=/dev/zero of="$S/metrics/filler2" bs=1k status=none 2>/dev/null
        sync
        daemon_start "$S" -r "$GET"
        FD_PID=$RUN_PID
        sleep 2.2 # two more ticks: the last window is closed and flushed
        status=$(curl -s --max-time 5 "$B/api/v1/status")
        windows_lost=$(echo "$status" | jfield drops.windows_not_stored)
        prom=$(curl -s --max-time 5 "$B/metrics" |
            sed -n 's/^capstream_metrics_not_stored_total{kind="window"} //p')
        daemon_stop "$RUN_PID"
        FD_PID=
        check "metrics on a full disk: windows not stored are counted ($windows_lost)" \
            test "${windows_lost:-0}" -gt 0
        check_eq "metrics on a full disk: Prometheus counts what status counts" \
            "$windows_lost" "$prom"
        check "metrics on a full disk: the log says so" \
            grep -q "disk full: $windows_lost metrics windows" "$CS_TMP/run.err"
        check "metrics on a full disk: no empty metrics file is left" \
            test -z "$(find "$S/metrics" -type f -name 'met-*')"
        check "metrics on a full disk: the packets were stored" \
            test "$("$CS_BIN" stats -d "$S" --json | jfield packets)" = 28
    else
        fail "metrics on a full disk: cannot mount a second image: $(cat "$CS_TMP/mount.err")"
    fi
fi

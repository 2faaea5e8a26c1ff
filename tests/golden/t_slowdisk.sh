# t_slowdisk.sh - a slow disk costs stored packets, never analysis: the
# daemon replays a generated capture in real time into a store on a disk
# that really is slow, and
#   - some packets are not stored, and counted: stored + not_stored ==
#     captured, not_analysed == 0;
#   - every stored packet is one of the capture's, byte for byte, in order;
#   - the analysis is complete: the measurements equal the ground truth;
#   - records give way in order: the ITCH messages of the capture's market
#     data feed are not all stored (counted), the measurements all are;
#   - the daemon answers /api/v1/status all along, exits 0 on SIGTERM, and
#     the store opens afterwards.
#
# The slow disk: a loop device with ext4, mounted as the store, whose
# writes the block layer throttles (cgroup v1 blkio.throttle at the root,
# which also covers the kernel's writeback) to SLOW_BPS; the device's own
# dirty-page limit (bdi strict_limit + max_bytes) is small, so write()s
# really block instead of filling the page cache:
#
#   capstream run ─► ext4 on /dev/loopN ─► blkio throttle ─► disk.img
#                       (bdi: 4 MiB dirty at most)     (SLOW_BPS bytes/s)
#
# device-mapper (dm-delay) would be the other way, but kernels without it
# exist (this CI's VM has none); cgroup v2 io.max needs the io controller
# on the unified hierarchy. Needs root; anything missing is a failure.

SLOW_BPS=$((2 << 20))
DIRTY_MAX=$((4 << 20))
SD_IMG=$CS_TMP/disk.img
SD_MNT=$CS_TMP/mnt
SD_LOOP=
SD_MM=
SD_PID=
THROTTLE=/sys/fs/cgroup/blkio/blkio.throttle.write_bps_device

slowdisk_cleanup() {
    if [ -n "$SD_PID" ] && kill -0 "$SD_PID" 2>/dev/null; then
        kill -KILL "$SD_PID" 2>/dev/null
        wait "$SD_PID" 2>/dev/null
    fi
    if [ -n "$SD_MM" ]; then
        echo "$SD_MM 0" >"$THROTTLE" 2>/dev/null
        echo 0 >"/sys/class/bdi/$SD_MM/strict_limit" 2>/dev/null
    fi
    mountpoint -q "$SD_MNT" 2>/dev/null && umount "$SD_MNT"
    [ -n "$SD_LOOP" ] && losetup -d "$SD_LOOP" 2>/dev/null
    SD_LOOP=
    SD_MM=
    rm -f "$SD_IMG"
}
trap slowdisk_cleanup EXIT
trap 'slowdisk_cleanup; exit 1' INT TERM

# Makes the slow disk and mounts it on $SD_MNT.
slowdisk_setup() {
    local tool bdi
    if [ "$(id -u)" != 0 ]; then
        fail "slow disk: needs root (loop device, mount, blkio throttle)"
        return 1
    fi
    for tool in losetup mkfs.ext4 mount umount mountpoint; do
        if ! command -v "$tool" >/dev/null; then
            fail "slow disk: $tool is not installed"
            return 1
        fi
    done
    if [ ! -w "$THROTTLE" ]; then
        fail "slow disk: no cgroup v1 blkio throttle ($THROTTLE) to slow the device with"
        return 1
    fi
    truncate -s 256M "$SD_IMG" && SD_LOOP=$(losetup -f --show "$SD_IMG") || {
        fail "slow disk: cannot attach a loop device"
        return 1
    }
    SD_MM=$(lsblk -dno MAJ:MIN "$SD_LOOP" | tr -d ' ')
    bdi=/sys/class/bdi/$SD_MM
    if [ ! -w "$bdi/strict_limit" ] || [ ! -w "$bdi/max_bytes" ]; then
        fail "slow disk: $bdi has no strict_limit/max_bytes (kernel older than 6.2?)"
        return 1
    fi
    mkdir -p "$SD_MNT"
    if ! mkfs.ext4 -q -F "$SD_LOOP" >"$CS_TMP/mkfs.out" 2>&1 || ! mount "$SD_LOOP" "$SD_MNT"; then
        fail "slow disk: mkfs/mount of $SD_LOOP failed: $(head -c 300 "$CS_TMP/mkfs.out")"
        return 1
    fi
    if ! echo 1 >"$bdi/strict_limit" || ! echo "$DIRTY_MAX" >"$bdi/max_bytes" ||
        ! echo "$SD_MM $SLOW_BPS" >"$THROTTLE"; then
        fail "slow disk: cannot limit $SD_LOOP ($SD_MM)"
        return 1
    fi
}

# The disk is slow for real: 4 MiB through it take over a second.
slowdisk_is_slow() {
    local t0 t1
    t0=$(date +%s%N)
    dd if=/dev/zero of="$SD_MNT/probe" bs=1M count=4 conv=fsync status=none || return 1
    t1=$(date +%s%N)
    rm -f "$SD_MNT/probe"
    [ $((t1 - t0)) -gt 1000000000 ]
}

sd_api() { curl -s --max-time 2 "http://127.0.0.1:$SD_PORT$1"; }

# status_field JSON PATH: one number from a status document ("a.b").
status_field() {
    python3 -c 'import json, sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    v = v[k]
print(int(v))' "$1" "$2" 2>/dev/null
}

# Replays the capture in real time; polls the status while it runs and
# for 2 s after, while the disk still drains the store's backlog.
slowdisk_run() {
    local i answered=0 polls=0 after=0 st=
    # (no python in this loop: its start-up alone can take a second)
    SD_PORT=$(free_port)
    "$CS_BIN" run -r "$CS_TMP/g.pcap" --replay realtime -d "$SD_MNT/store" \
        --listen "127.0.0.1:$SD_PORT" >"$CS_TMP/run.out" 2>"$CS_TMP/run.err" &
    SD_PID=$!
    for i in $(seq 100); do
        sd_api /api/v1/status >/dev/null && break
        sleep 0.1
    done
    for i in $(seq 300); do
        polls=$((polls + 1))
        if st=$(sd_api /api/v1/status) && [ -n "$st" ]; then
            answered=$((answered + 1))
            echo "$st" >"$CS_TMP/status.json"
        fi
        if [[ "$st" == *'"capturing":false'* ]]; then
            after=$((after + 1))
            [ "$after" -gt 20 ] && break
        fi
        sleep 0.1
    done
    check "replay finished on the slow disk within 30 s" \
        test "$(status_field "$st" capturing)" = 0
    check "the API answered every poll while the disk was behind ($answered of $polls)" \
        test "$answered" -eq "$polls" -a "$answered" -gt 20
}

slowdisk_stop() {
    daemon_stop "$SD_PID" || return
    SD_PID=
}

# Every stored packet is an original one (ts, lengths, bytes), in order.
stored_subset_of_original() {
    python3 -c 'import sys
sys.path.insert(0, sys.argv[1])
from pcapcmp import read_pcap
orig, stored = read_pcap(sys.argv[2])[2], read_pcap(sys.argv[3])[2]
if not stored:
    sys.exit("nothing stored")
i = 0
for n, p in enumerate(stored):
    while i < len(orig) and orig[i][:4] != p[:4]:
        i += 1
    if i == len(orig):
        sys.exit("stored packet %d (ts %d, %d bytes) is not an original one in order" % (n, p[0], p[1]))
    i += 1
print("%d of %d packets stored, all original, in order" % (len(stored), len(orig)))' \
        "$GOLDEN" "$CS_TMP/g.pcap" "$CS_TMP/stored.pcap"
}

slowdisk_test() {
    local st captured sent not_stored not_analysed stored truth
    python3 "$GENTRAFFIC" "$CS_TMP/g.pcap" --truth "$CS_TMP/g.truth" --seconds 1 --scale "${SD_SCALE:-1}" \
        --quirks --seed 29 >/dev/null
    slowdisk_setup || return
    check "the store's disk is really slow (4 MiB take over 1 s)" slowdisk_is_slow
    slowdisk_run
    st=$(cat "$CS_TMP/status.json" 2>/dev/null)
    slowdisk_stop || return
    captured=$(status_field "$st" capture.packets)
    not_stored=$(status_field "$st" drops.not_stored)
    not_analysed=$(status_field "$st" drops.not_analysed)
    sent=$(tcpdump -r "$CS_TMP/g.pcap" 2>/dev/null | wc -l)
    truth=$(wc -l <"$CS_TMP/g.truth")
    check_eq "every packet captured" "$sent" "$captured"
    check "the slow disk cost stored packets (not_stored=$not_stored)" \
        test "${not_stored:-0}" -gt 0
    check_eq "no packet left unanalysed" 0 "$not_analysed"
    lat_all=$("$CS_BIN" latency -d "$SD_MNT/store" --json --limit 100000000 2>/dev/null | wc -l)

    stored=$("$CS_BIN" query -d "$SD_MNT/store" --count 2>"$CS_TMP/q.err")
    check "the store opens after shutdown ($(head -c 200 "$CS_TMP/q.err"))" test -n "$stored"
    check_eq "stored + not stored == captured ($stored + $not_stored)" "$captured" \
        "$((stored + not_stored))"
    "$CS_BIN" query -d "$SD_MNT/store" -w "$CS_TMP/stored.pcap" 2>>"$CS_TMP/q.err"
    check "stored packets are original ones, byte for byte" stored_subset_of_original
    "$CS_BIN" latency -d "$SD_MNT/store" --json >"$CS_TMP/lat.jsonl" 2>>"$CS_TMP/q.err"
    check "stored measurements equal the ground truth" \
        python3 "$GOLDEN/truth_check.py" "$CS_TMP/lat.jsonl" "$CS_TMP/g.truth" --pairs fix,http,dns
    # (the truth knows FIX, HTTP and DNS; tick-to-trade pairs its FIX orders
    # with its ITCH ticks too): every measurement made live was stored
    check_eq "every live measurement (all pairs) is stored" "$(status_field "$st" measurements)" \
        "$lat_all"
    # The capture's MoldUDP64/ITCH feed floods the results writer with
    # messages; they give way (counted), the measurements do not.
    check "the message flood cost stored messages (records not stored: $(status_field "$st" drops.records_not_stored))" \
        test "$(status_field "$st" drops.records_not_stored)" -gt 0
    check_eq "stored messages + records not stored == messages decoded" \
        "$(status_field "$st" messages)" \
        "$(($("$CS_BIN" stats -d "$SD_MNT/store" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])') + $(status_field "$st" drops.records_not_stored)))"
    check "the daemon said what the disk cost" grep -q "not stored" "$CS_TMP/run.err"
    # the measurements matched the truth, so no record was lost: the status
    # must say 0 records not stored, as the exit log does
    check_eq "status: records not stored" \
        "$(sed -n 's/.*not stored.* and \([0-9]*\) messages\/measurements.*/\1/p' "$CS_TMP/run.err")" \
        "$(status_field "$st" drops.records_not_stored)"
    echo "slowdisk: captured $captured, stored $stored, not stored $not_stored," \
        "records not stored $(status_field "$st" drops.records_not_stored),"\
        "measurements $(wc -l <"$CS_TMP/lat.jsonl") of $truth" >&2
}

slowdisk_test
slowdisk_cleanup

# t_timeref.sh - one time reference across capture points: a tap
# aggregator's Metamako trailer gives each packet its time and its tap.
# tools/gentrading.py --trailer metamako writes the capture a host behind
# the aggregator records: no VLANs, each frame with a trailer holding the
# true time and the tap as (device 1, port 101/102), the pcap record
# holding the host's later, jittered clock. With
# --time-source trailer:metamako --tap-by trailer:
#   - OUCH pairs, hop latency and tick-to-trade equal the truth to the
#     nanosecond, taps 357 and 358 included; `reanalyze` gives the same;
#   - the packets' times and taps equal tshark's reading of the trailers;
#   - the stored bytes are the captured ones, and `query --pcap-time
#     capture` gives back the capture's own records; `show` has both times;
#   - the daemon's clock series per tap have the truth's host delay (p50,
#     p99) and frame counts, Prometheus and the status count them, and a
#     clock_offset alert rule fires on the host's delay;
#   - with the kernel (host) time on a one-tap capture, OUCH latencies and
#     ticks-to-trade do not equal the truth;
#   - bad trailers (cut short, zero seconds, nanoseconds >= 10^9, a time
#     far from the host's, none) are counted, the packet keeps the host's
#     time, and nothing crashes;
#   - live on a veth pair: --time-source hardware is refused at start with
#     the interface and `ethtool -T` named, hardware,fallback counts every
#     frame as lacking a NIC stamp, and IFACE=trailer:metamako on a capture
#     tcpreplay sends at its own pace stores and measures in the trailers'
#     time (OUCH latencies equal the truth).

GENTRADING=$REPO/tools/gentrading.py
X=$CS_TMP/timeref
mkdir -p "$X"
python3 "$GENTRADING" "$X/t.pcap" --truth "$X/t.jsonl" --seconds 0.3 --seed 8 \
    --trailer metamako --unsynced-every 500 >/dev/null 2>&1
OPTS=(--decoder-opt moldudp64.ports=26477,26478,26500 --decoder-opt soupbintcp.ports=15000,15001)
TR=(--time-source trailer:metamako --tap-by trailer)

"$CS_BIN" ingest -r "$X/t.pcap" -d "$X/s" "${TR[@]}" "${OPTS[@]}" >"$X/ingest.out"
packets=$(sed -n 's/^ingested \([0-9]*\) packets.*/\1/p' "$X/ingest.out")
check "ingest names the time source and counts every packet timed by its trailer" \
    grep -q "^time source trailer:metamako: $packets packets timed by their trailer" "$X/ingest.out"
check "the trailer capture has no VLAN tags" \
    test "$(tcpdump -nr "$X/t.pcap" vlan 2>/dev/null | wc -l)" = 0

# the measurements equal the truth, taps 357/358 included
trading_equal() {
    python3 "$GOLDEN/ouch_check.py" "$CS_BIN" "$1" "$X/t.jsonl" &&
        "$CS_BIN" latency -d "$1" --pair hop --json --limit 100000000 >"$X/hop.jsonl" &&
        python3 "$GOLDEN/trading_truth.py" hop "$X/hop.jsonl" "$X/t.jsonl" &&
        "$CS_BIN" latency -d "$1" --pair t2t --json --limit 100000000 >"$X/t2t.jsonl" &&
        "$CS_BIN" messages -d "$1" --proto itch --json >"$X/itch.jsonl" &&
        python3 "$GOLDEN/trading_truth.py" t2t "$X/t2t.jsonl" "$X/itch.jsonl" "$X/t.jsonl"
}
check "trailer time: OUCH, hops and ticks-to-trade equal the truth" trading_equal "$X/s"
check "the truth's taps are the trailers' (357, 358)" python3 -c '
import json, sys
taps = {d["tap"] for d in map(json.loads, open(sys.argv[1])) if d["kind"] == "ouch"}
assert taps == {357, 358}, taps' "$X/t.jsonl"
check "reanalyze runs" "$CS_BIN" reanalyze -q -d "$X/s" "${TR[@]}" "${OPTS[@]}"
check "reanalyzed: the same" trading_equal "$X/s"

# tshark reads the same times and taps from the trailers
python3 "$GOLDEN/trailer_tshark.py" tshark "$X/t.pcap" --kind metamako >"$X/tshark.jsonl"
"$CS_BIN" query -d "$X/s" -w "$X/ref.pcap"
"$CS_BIN" query -d "$X/s" -w "$X/cap.pcap" --pcap-time capture
"$CS_BIN" messages -d "$X/s" --json --limit 100000000 >"$X/msgs.jsonl"
check "packet times are the trailers' and taps device*256+port, as tshark reads them" \
    python3 - "$X/tshark.jsonl" "$X/ref.pcap" "$X/msgs.jsonl" <<'PY'
import json, struct, sys

def records(path):
    data = open(path, "rb").read()
    off, out = 24, []
    while off < len(data):
        sec, frac, caplen, _ = struct.unpack_from("<IIII", data, off)
        out.append((sec * 10**9 + frac, data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return out

ts = [json.loads(l) for l in open(sys.argv[1])]
assert all(t["ts_ns"] is not None for t in ts), "a frame without a trailer"
ref = [r[0] for r in records(sys.argv[2])]
assert ref == [t["ts_ns"] for t in ts], "stored times differ from tshark's (%d, %d frames)" % (
    len(ref), len(ts))
frames = {(t["ts_ns"], t["device"] * 256 + t["port"]) for t in ts}
msgs = [json.loads(l) for l in open(sys.argv[3])]
bad = [m for m in msgs if (m["ts_ns"], m["tap"]) not in frames]
assert msgs and not bad, "%d of %d messages have no frame of that time and tap: %s" % (
    len(bad), len(msgs), bad[:1])
print("%d frames, %d messages agree with tshark" % (len(ts), len(msgs)))
PY
check "--pcap-time capture gives back the capture's records, trailers and host times" \
    python3 - "$X/t.pcap" "$X/cap.pcap" <<'PY'
import struct, sys
def records(path):
    data = open(path, "rb").read()
    off, out = 24, []
    while off < len(data):
        caplen = struct.unpack_from("<I", data, off + 8)[0]
        out.append(data[off:off + 16 + caplen])
        off += 16 + caplen
    return out
a, b = records(sys.argv[1]), records(sys.argv[2])
assert a and a == b, "%d and %d records, first differing at %s" % (
    len(a), len(b), next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None))
PY
ouch_id=$("$CS_BIN" latency -d "$X/s" --pair ouch --json | head -1 |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
check "show --json: each packet's host capture time, 25 us or more after its reference time" \
    python3 -c '
import json, sys
d = json.load(sys.stdin)
pk = d["request"]["packets"] + d["response"]["packets"]
assert pk and all(p["capture_ts_ns"] - p["ts_ns"] >= 25000 for p in pk), pk' \
    < <("$CS_BIN" show -d "$X/s" "$ouch_id" --pair ouch --json)
check "show: the host capture time beside the reference" \
    grep -q "host capture time .*ns from the reference" < <("$CS_BIN" show -d "$X/s" "$ouch_id")

# retention counts the host times kept beside the packets
"$CS_BIN" ingest -q -r "$X/t.pcap" -d "$X/r" --time-source trailer:metamako --max-bytes 2M \
    --segment-bytes 256K --partitions 1 --decoders none
check "a 2 MB budget holds the packets, their indexes and their host times" \
    test "$(du -sb "$X/r/packets" | cut -f1)" -le 2097152
"$CS_BIN" query -d "$X/r" -w "$X/r_ref.pcap"
"$CS_BIN" query -d "$X/r" -w "$X/r_cap.pcap" --pcap-time capture
check "...and every packet it kept still has its host time, 25 us or more after the trailer's" \
    python3 - "$X/r_ref.pcap" "$X/r_cap.pcap" <<'PY'
import struct, sys
def times(path):
    data = open(path, "rb").read()
    off, out = 24, []
    while off < len(data):
        sec, frac, caplen, _ = struct.unpack_from("<IIII", data, off)
        out.append(sec * 10**9 + frac)
        off += 16 + caplen
    return out
ref, cap = times(sys.argv[1]), times(sys.argv[2])
assert ref and len(ref) == len(cap) and all(c - r >= 25000 for r, c in zip(ref, cap)), len(ref)
PY

# the daemon: clock series, Prometheus, status, an alert on the offset
printf 'clock_offset: tap=357 p99 > 20us\nclock_ok: tap=358 p99 > 1ms\n' >"$X/alerts.conf"
daemon_start "$X/d" -r "$X/t.pcap" "${TR[@]}" "${OPTS[@]}" --config "$X/alerts.conf"
for tap in 357 358; do
    curl -s "$B/api/v1/metrics?series=clock:$tap&step=3600s" >"$X/clock$tap.json"
done
python3 - "$X/clock357.json" "$X/clock358.json" >"$X/clock.json" <<'PY'
import json, sys
out = {}
for path in sys.argv[1:]:
    d = json.load(open(path))
    p = d["points"]
    assert len(p) == 1, d
    out[d["series"].split(":")[1]] = {"p50_ns": p[0]["p50_ns"], "p99_ns": p[0]["p99_ns"],
                                     "count": p[0]["count"], "unsynced": p[0]["unsynced"]}
print(json.dumps(out))
PY
check "clock series per tap: p50 and p99 of the host's delay and the frames are the truth's" \
    python3 "$GOLDEN/trading_truth.py" clock "$X/clock.json" "$X/t.jsonl"
check_eq "clock series: the frames saying the clock is not synchronised (every 500th)" \
    $((packets / 500)) "$(python3 -c '
import json, sys; print(sum(v["unsynced"] for v in json.load(open(sys.argv[1])).values()))' \
        "$X/clock.json")"
curl -s "$B/metrics" >"$X/prom.txt"
check "Prometheus: the clock offset histogram of each tap" \
    grep -q '^capstream_clock_offset_seconds_count{tap="358"} [1-9]' "$X/prom.txt"
check_eq "Prometheus: frames timed by the trailer, both taps" "$packets" \
    "$(awk '/^capstream_clock_timed_total/ {n += $2} END {print n}' "$X/prom.txt")"
check_eq "status: every packet timed by its trailer" "$packets" \
    "$(curl -s "$B/api/v1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["time"]["trailer_timed"])')"
check "the clock_offset alert fired on tap 357's host delay, clock_ok did not" python3 -c '
import json, sys
rules = {a["rule"] for a in json.load(sys.stdin)["alerts"] if a["state"] == "fired"}
assert "clock_offset" in rules and "clock_ok" not in rules, rules' \
    < <(curl -s "$B/api/v1/alerts")
daemon_stop "$RUN_PID"

# the host's time is not the truth: one tap, kernel time against trailer time
python3 "$GENTRADING" "$X/one.pcap" --truth "$X/one.jsonl" --seconds 0.3 --seed 9 --taps 1 \
    --trailer metamako >/dev/null 2>&1
"$CS_BIN" ingest -q -r "$X/one.pcap" -d "$X/host" "${OPTS[@]}"
"$CS_BIN" ingest -q -r "$X/one.pcap" -d "$X/ref" "${OPTS[@]}" --time-source trailer:metamako
# latencies_equal STORE PAIR KIND [TRUTH]: the (key, latency) of PAIR equal
# the truth's KIND (TRUTH: one.jsonl)
latencies_equal() { latencies_equal_to "$1" "$2" "$3" "$X/one.jsonl"; }
latencies_equal_to() {
    "$CS_BIN" latency -d "$1" --pair "$2" --json --limit 100000000 | python3 -c '
import collections, json, sys
got = collections.Counter((d["key"], d["latency_ns"]) for d in map(json.loads, sys.stdin))
want = collections.Counter((d["key"], d["latency_ns"]) for d in map(json.loads, open(sys.argv[1]))
                           if d["kind"] == sys.argv[2])
print("%s: %d of %d equal" % (sys.argv[2], sum((got & want).values()), sum(want.values())))
sys.exit(0 if got == want and want else 1)' "$4" "$3"
}
check "trailer time, no --tap-by: OUCH latencies equal the truth" latencies_equal "$X/ref" ouch ouch
check "trailer time: ticks-to-trade equal the truth" latencies_equal "$X/ref" t2t t2t
check "kernel (host) time: OUCH latencies differ from the truth" \
    test "$(latencies_equal "$X/host" ouch ouch >/dev/null; echo $?)" = 1
check "kernel (host) time: ticks-to-trade differ from the truth" \
    test "$(latencies_equal "$X/host" t2t t2t >/dev/null; echo $?)" = 1

# bad trailers: counted, the packet keeps the host's time, never a crash
python3 - "$X/one.pcap" "$X/bad.pcap" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
out, off, n = [data[:24]], 24, 0
while off < len(data) and n < 200:
    sec, frac, caplen, wirelen = struct.unpack_from("<IIII", data, off)
    frame = bytearray(data[off + 16:off + 16 + caplen])
    off += 16 + caplen
    kind = n % 40
    if kind == 1:    # cut short: the capture ends inside the trailer
        frame, caplen = frame[:-6], caplen - 6
    elif kind == 2:  # zero seconds
        frame[-12:-8] = b"\0\0\0\0"
    elif kind == 3:  # nanoseconds >= 10^9
        frame[-8:-4] = struct.pack(">I", 1000000007)
    elif kind == 4:  # a day away from the host's time
        frame[-12:-8] = struct.pack(">I", struct.unpack(">I", frame[-12:-8])[0] + 86400)
    out.append(struct.pack("<IIII", sec, frac, caplen, wirelen) + bytes(frame))
    n += 1
open(sys.argv[2], "wb").write(b"".join(out))
PY
check "bad trailers: ingest succeeds" \
    "$CS_BIN" ingest -r "$X/bad.pcap" -d "$X/bad" "${OPTS[@]}" --time-source trailer:metamako \
    -q
"$CS_BIN" ingest -r "$X/bad.pcap" -d "$X/bad2" "${OPTS[@]}" --time-source trailer:metamako \
    >"$X/bad.out" 2>&1
check "bad trailers counted by why: 5 cut short, 5 bad times (zero s, ns >= 10^9) each, 5 far" \
    grep -q "20 kept the host's time (0 without a trailer, 5 cut short, 10 with a bad time, 5 too far" \
    "$X/bad.out"
"$CS_BIN" query -d "$X/bad2" -w "$X/bad_ref.pcap"
check "bad trailers: those packets keep the host's time, the others take the trailer's" \
    python3 - "$X/bad.pcap" "$X/bad_ref.pcap" <<'PY'
import struct, sys
def records(path):
    data = open(path, "rb").read()
    off, out = 24, []
    while off < len(data):
        sec, frac, caplen, _ = struct.unpack_from("<IIII", data, off)
        out.append((sec * 10**9 + frac, data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return out
src, got = records(sys.argv[1]), records(sys.argv[2])
assert [b for _, b in src] == [b for _, b in got], "the stored bytes differ"
for i, ((host, frame), (t, _)) in enumerate(zip(src, got)):
    trailer = struct.unpack(">I", frame[-12:-8])[0] * 10**9 + struct.unpack(">I", frame[-8:-4])[0]
    want = host if i % 40 in (1, 2, 3, 4) else trailer
    assert t == want, (i, t, want)
PY
check_fails "--tap-by trailer needs a trailer time source" "needs --time-source trailer" \
    "$CS_BIN" ingest -r "$X/one.pcap" -d "$X/x" --tap-by trailer
check_fails "an unknown time source is refused" "unknown time source 'sundial'" \
    "$CS_BIN" ingest -r "$X/one.pcap" -d "$X/x" --time-source sundial
check_fails "hardware time is for live capture only" "live capture" \
    "$CS_BIN" ingest -r "$X/one.pcap" -d "$X/x" --time-source hardware

# Live, on a veth pair in a namespace of its own: a NIC without a hardware
# clock is refused with a clear message (and its frames counted with
# hardware,fallback); a capture behind a trailer-stamping aggregator,
# replayed by tcpreplay at its own pace, is stored and measured in the
# trailers' time: OUCH latencies equal the truth however the host stamped it.
source "$GOLDEN/netns.sh"
NS=cstref$$
VA=cta$$
VB=ctb$$
RUN_PID=
timeref_live_cleanup() {
    if [ -n "$RUN_PID" ] && kill -0 "$RUN_PID" 2>/dev/null; then
        kill -KILL "$RUN_PID" 2>/dev/null
    fi
    netns_del "$NS"
}
# live_run STORE ARGS...: capstream run -i VA in the namespace, listening
live_run() {
    local store=$1
    shift
    PORT=$(free_port)
    ip netns exec "$NS" "$CS_BIN" run -i "$VA" -d "$store" --listen "127.0.0.1:$PORT" "$@" \
        >"$X/live.out" 2>"$X/live.err" &
    RUN_PID=$!
    netns_wait_port "$NS" "$PORT" 15
}
live_status() { ip netns exec "$NS" curl -s --max-time 2 "http://127.0.0.1:$PORT/api/v1/status"; }
if ! command -v tcpreplay >/dev/null; then
    fail "tcpreplay is not installed (scripts/bootstrap.sh installs it)"
elif ! netns_setup "$NS" "$VA" "$VB" 2>"$X/netns.err"; then
    fail "$(cat "$X/netns.err")"
else
    trap timeref_live_cleanup EXIT
    check_fails "run --time-source hardware on veth: refused at start, naming it and ethtool -T" \
        "'$VA' has no hardware receive timestamps.*ethtool -T $VA" \
        ip netns exec "$NS" "$CS_BIN" run -i "$VA" -d "$X/hw" --listen 127.0.0.1:1 \
        --time-source hardware
    check_fails "--time-source for an interface not captured is refused" \
        "eth9 is not one of the -i interfaces" \
        "$CS_BIN" run -i "$VA" -d "$X/hw" --time-source eth9=trailer:metamako

    if live_run "$X/fb" --time-source hardware,fallback; then
        ip netns exec "$NS" tcpreplay -i "$VB" --mbps 50 "$X/bad.pcap" >"$X/replay.out" 2>&1
        for _ in $(seq 100); do # the status is refreshed every second
            [ "$(live_status | python3 -c 'import json,sys; print(json.load(sys.stdin)["time"]["hw_ts_missing"])')" = 200 ] && break
            sleep 0.1
        done
        check_eq "hardware,fallback: every frame counted as lacking a hardware stamp" \
            "200 200" "$(live_status | python3 -c '
import json, sys; d = json.load(sys.stdin); print(d["capture"]["packets"], d["time"]["hw_ts_missing"])')"
        check "hardware,fallback: the start warned, naming the interface" \
            grep -q "'$VA' has no hardware receive timestamps.*software timestamps" "$X/live.err"
        daemon_stop "$RUN_PID"
    else
        fail "run --time-source hardware,fallback did not start: $(head -c 300 "$X/live.err")"
    fi

    # the aggregator's clock is the host's, to within the jitter: a capture
    # starting now
    python3 "$GENTRADING" "$X/now.pcap" --truth "$X/now.jsonl" --seconds 0.3 --seed 9 --taps 1 \
        --trailer metamako --t0 "$(date +%s)" >/dev/null 2>&1
    if live_run "$X/live" --time-source "$VA=trailer:metamako" "${OPTS[@]}"; then
        ip netns exec "$NS" tcpreplay -i "$VB" --mbps 50 "$X/now.pcap" >"$X/replay.out" 2>&1
        sent=$(tcpdump -nr "$X/now.pcap" 2>/dev/null | wc -l)
        for _ in $(seq 100); do # the status is refreshed every second
            [ "$(live_status | python3 -c 'import json,sys; print(json.load(sys.stdin)["time"]["trailer_timed"])')" = "$sent" ] && break
            sleep 0.1
        done
        check_eq "live, trailer time: every packet captured and timed by its trailer" \
            "$sent $sent 0" "$(live_status | python3 -c '
import json, sys; d = json.load(sys.stdin); t = d["time"]
print(d["capture"]["packets"], t["trailer_timed"], t["trailer_missing"] + t["trailer_cut"] + t["trailer_far"])')"
        daemon_stop "$RUN_PID"
        RUN_PID=
        check "live, trailer time: OUCH latencies equal the truth (the host's stamps are the replay's)" \
            latencies_equal_to "$X/live" ouch ouch "$X/now.jsonl"
        "$CS_BIN" query -d "$X/live" -w "$X/live.pcap"
        check "live: the stored packets carry the trailers' times, the bytes as sent" \
            python3 - "$X/now.pcap" "$X/live.pcap" <<'PY'
import struct, sys
def records(path):
    data = open(path, "rb").read()
    off, out = 24, []
    while off < len(data):
        sec, frac, caplen, _ = struct.unpack_from("<IIII", data, off)
        out.append((sec * 10**9 + frac, data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return out
want = sorted((struct.unpack(">I", b[-12:-8])[0] * 10**9 + struct.unpack(">I", b[-8:-4])[0], b)
              for _, b in records(sys.argv[1]))
got = sorted(records(sys.argv[2]))
assert got == want, "%d stored, %d sent" % (len(got), len(want))
PY
    else
        fail "run --time-source $VA=trailer:metamako did not start: $(head -c 300 "$X/live.err")"
    fi
    timeref_live_cleanup
    trap - EXIT
fi

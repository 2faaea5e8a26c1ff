# t_live_capture.sh - `capstream run` captures a live interface end to end:
# in a network namespace of its own, a veth pair carries a gentraffic
# capture replayed by tcpreplay into the end that `run -i` listens on; after
# SIGTERM the daemon exits cleanly and the store holds every packet sent,
# byte for byte (VLAN tags the kernel removed are back), in order, with
# live nanosecond timestamps, and the measurements are exactly the ground
# truth once each live timestamp is mapped back to the replayed packet's
# original one (replay changes the times, never the order). Once with one
# analyzer, once with --workers 2 (the kernel's ring read in place, each
# packet copied to the workers' batches).
#
#   netns cslive$$:  [ run -i cla$$ -d STORE ] <-- veth --> [ clb$$ ] <- tcpreplay
#
# Needs root, `ip netns` and tcpreplay (scripts/bootstrap.sh installs it);
# the namespace set-up is tests/golden/netns.sh, shared with bench/live.sh.

NS=cslive$$
VA=cla$$
VB=clb$$
S=$CS_TMP/store
PORT=$(free_port)
RUN_PID=

source "$GOLDEN/netns.sh"

live_cleanup() {
    if [ -n "$RUN_PID" ] && kill -0 "$RUN_PID" 2>/dev/null; then
        kill -KILL "$RUN_PID" 2>/dev/null
    fi
    netns_del "$NS"
}

live_setup() {
    if ! command -v tcpreplay >/dev/null; then
        fail "tcpreplay is not installed (scripts/bootstrap.sh installs it)"
        return 1
    fi
    if ! netns_setup "$NS" "$VA" "$VB" 2>"$CS_TMP/netns.err"; then
        fail "$(cat "$CS_TMP/netns.err")"
        return 1
    fi
}

# live_start [run options]: starts the daemon and waits until its HTTP
# port answers.
live_start() {
    ip netns exec "$NS" "$CS_BIN" run -i "$VA" -d "$S" --listen "127.0.0.1:$PORT" "$@" \
        >"$CS_TMP/run.out" 2>"$CS_TMP/run.err" &
    RUN_PID=$!
    if ! netns_wait_port "$NS" "$PORT" 15; then
        fail "capstream run did not listen on 127.0.0.1:$PORT: $(head -c 300 "$CS_TMP/run.err")"
        return 1
    fi
}

# SIGTERM, then the daemon must exit 0 by itself within 30 s.
live_stop() {
    daemon_stop "$RUN_PID" || return
    RUN_PID=
}

# A few seconds of API clients inside the namespace (bounded loop).
api_clients() {
    local b=http://127.0.0.1:$PORT i
    for i in $(seq 20); do
        ip netns exec "$NS" curl -s --max-time 2 "$b/api/v1/status" >"$CS_TMP/api.status"
        ip netns exec "$NS" curl -s --max-time 2 "$b/api/v1/measurements?limit=50" >/dev/null
        ip netns exec "$NS" curl -s --max-time 2 -o /dev/null -w '%{http_code}' \
            "$b/api/v1/measurements?limit=abc" >"$CS_TMP/api.bad"
        ip netns exec "$NS" curl -s --max-time 2 "$b/api/v1/packets?filter=tcp" | head -c 100 \
            >/dev/null
        sleep 0.05
    done
}

# live_test [run options]: one capture into a new store.
live_test() {
    local sent stored
    S=$CS_TMP/store$#
    PORT=$(free_port)
    live_start "$@" || return
    # While it captures, clients use the API: good and bad requests, and
    # downloads cut off midway. Capture must not lose a packet to them.
    api_clients &
    local api_pid=$!
    ip netns exec "$NS" tcpreplay -i "$VB" --mbps 50 "$CS_TMP/gen.pcap" \
        >"$CS_TMP/replay.out" 2>&1
    wait "$api_pid"
    check "the API answered while capturing" grep -q '"capture"' "$CS_TMP/api.status"
    check_eq "a bad parameter got 400 while capturing" 400 "$(cat "$CS_TMP/api.bad")"
    check "tcpreplay sent the capture ($(tail -n 3 "$CS_TMP/replay.out"))" \
        grep -qE 'Failed packets: +0$' "$CS_TMP/replay.out"
    sleep 0.5 # well past the ring's block timeout
    live_stop || return

    sent=$(python3 -c 'import sys
d = open(sys.argv[1], "rb").read(); off, n = 24, 0
while off + 16 <= len(d):
    off += 16 + int.from_bytes(d[off + 8:off + 12], "little"); n += 1
print(n)' "$CS_TMP/gen.pcap")
    stored=$("$CS_BIN" query -d "$S" --count)
    check_eq "packets captured == packets sent ($*)" "$sent" "$stored"

    # Same bytes in the same order; live timestamps near now, ns, increasing.
    # Then the measurements, with live times mapped back to original ones.
    "$CS_BIN" query -d "$S" -w "$CS_TMP/live.pcap"
    "$CS_BIN" latency -d "$S" --json >"$CS_TMP/lat.jsonl"
    check "stored packets are the sent ones, byte for byte, in order" \
        python3 - "$CS_TMP/gen.pcap" "$CS_TMP/live.pcap" "$CS_TMP/lat.jsonl" \
        "$CS_TMP/lat.orig.jsonl" <<'PY'
import json, struct, sys, time

def read(path):
    d = open(path, "rb").read()
    nano = struct.unpack("<I", d[:4])[0] == 0xA1B23C4D
    out, off = [], 24
    while off + 16 <= len(d):
        s, f, cl, wl = struct.unpack("<IIII", d[off:off + 16])
        out.append((s * 10**9 + f * (1 if nano else 1000), wl, d[off + 16:off + 16 + cl]))
        off += 16 + cl
    return out

sent, live = read(sys.argv[1]), read(sys.argv[2])
if len(sent) != len(live):
    sys.exit("sent %d packets, stored %d" % (len(sent), len(live)))
for i, (a, b) in enumerate(zip(sent, live)):
    if a[1:] != b[1:]:
        sys.exit("packet %d differs: sent %d bytes, stored %d" % (i, len(a[2]), len(b[2])))
now = time.time_ns()
if not all(now - 600 * 10**9 < t < now for t, _, _ in live):
    sys.exit("live timestamps not within the last 10 minutes")
if any(b[0] < a[0] for a, b in zip(live, live[1:])):
    sys.exit("live timestamps decrease")
if all(t % 1000 == 0 for t, _, _ in live):
    sys.exit("live timestamps are whole microseconds: not nanosecond capture")
# live ts -> original ts of the same packet (a function if live ts differ)
orig = {}
for (ot, _, _), (lt, _, _) in zip(sent, live):
    if orig.setdefault(lt, ot) != ot:
        sys.exit("two packets share live timestamp %d" % lt)
with open(sys.argv[3]) as f, open(sys.argv[4], "w") as out:
    for line in f:
        r = json.loads(line)
        for k in ("req_ts_ns", "resp_ts_ns"):
            if r[k] not in orig:
                sys.exit("measurement time %d is no packet's time" % r[k])
            r[k] = orig[r[k]]
        out.write(json.dumps(r) + "\n")
PY
    check "measurements equal the ground truth (times mapped back) ($*)" \
        python3 "$GOLDEN/truth_check.py" "$CS_TMP/lat.orig.jsonl" "$CS_TMP/gen.truth" \
        --pairs fix,http,dns
}

python3 "$GENTRAFFIC" "$CS_TMP/gen.pcap" --truth "$CS_TMP/gen.truth" --seconds 0.3 \
    --quirks --seed 17 >/dev/null
if live_setup; then
    live_test
    live_test --workers 2
fi
live_cleanup

# lib.sh - shared helpers of the end-to-end (golden) tests. Sourced by
# run.sh and by each t_*.sh. Every check counts as passed or failed; a
# failed check prints what was expected and what came out.

: "${CS_BIN:?CS_BIN must point at the capstream binary}"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# the real captures the tests read (tests/pcaps/MANIFEST.md: origin, licence)
# and the project's traffic generator, both kept in the repository
PCAPS=$REPO/tests/pcaps
GENTRAFFIC=$REPO/tools/gentraffic.py
GOLDEN=$REPO/tests/golden
: "${CS_TMP:=$(mktemp -d /tmp/capstream-golden.XXXXXX)}"
PASSED=${PASSED:-0}
FAILED=${FAILED:-0}

pass() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }

# check DESCRIPTION COMMAND...: passes when COMMAND exits 0.
check() {
    local what=$1
    shift
    if "$@"; then pass; else fail "$what"; fi
}

# check_fails DESCRIPTION PATTERN COMMAND...: COMMAND must exit non-zero
# (but not crash: status < 128) and its stderr must match PATTERN.
check_fails() {
    local what=$1 pattern=$2 status
    shift 2
    "$@" >"$CS_TMP/out" 2>"$CS_TMP/err"
    status=$?
    if [ "$status" -eq 0 ]; then
        fail "$what: expected a failure, got exit 0"
    elif [ "$status" -ge 128 ]; then
        fail "$what: crashed (exit $status): $(head -c 300 "$CS_TMP/err")"
    elif ! grep -qiE "$pattern" "$CS_TMP/err"; then
        fail "$what: error does not mention /$pattern/: $(head -c 300 "$CS_TMP/err")"
    elif [ "$(grep -c 'error' "$CS_TMP/err")" -lt 1 ]; then
        fail "$what: no error line"
    else
        pass
    fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
    if [ "$2" == "$3" ]; then pass; else fail "$1: expected '$2', got '$3'"; fi
}

require_data() {
    if [ ! -f "$PCAPS/MANIFEST.md" ] || [ ! -f "$GENTRAFFIC" ]; then
        echo "FAIL: tests/pcaps or tools/gentraffic.py missing under $REPO" >&2
        exit 1
    fi
}

# free_port: a TCP port on 127.0.0.1 that nothing holds now, below the
# kernel's ephemeral range, so that no outgoing connection (a curl, a
# scrape) can be given it before the server that is to listen on it
# binds: a random port in that range once collided with one
# ("bind: address already in use").
free_port() {
    python3 - <<'PY'
import random, socket
top = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(1000):
    port = random.randint(10000, min(top, 65536) - 1)
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

# daemon_start STORE [capstream run args...]: starts `capstream run -d STORE
# ARGS` on a random loopback port (sets RUN_PID, PORT and B, the API base
# URL) and waits until it answers, then until its replay is done
# ("capturing":false), at most 10 s and 20 s.
daemon_start() {
    local store=$1
    shift
    PORT=$(free_port)
    B=http://127.0.0.1:$PORT
    "$CS_BIN" run "$@" -d "$store" --listen "127.0.0.1:$PORT" \
        >"$CS_TMP/run.out" 2>"$CS_TMP/run.err" &
    RUN_PID=$!
    for _ in $(seq 100); do
        curl -sf "$B/api/v1/status" >/dev/null 2>&1 && break
        sleep 0.1
    done
    for _ in $(seq 200); do
        curl -s "$B/api/v1/status" 2>/dev/null | grep -q '"capturing":false' && break
        sleep 0.1
    done
}

# daemon_stop PID: SIGTERM; the daemon must exit 0 by itself within 30 s
# (a check). Returns 1 if it did not exit.
daemon_stop() {
    local pid=$1 status
    kill -TERM "$pid"
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        fail "capstream run still running 30 s after SIGTERM"
        return 1
    fi
    wait "$pid"
    status=$?
    check_eq "capstream run exits 0 on SIGTERM ($(tail -c 300 "$CS_TMP/run.err"))" 0 "$status"
}

# live_poll_test DIR SECONDS POLL_SECONDS [run options...]: `capstream run
# --replay realtime` of SECONDS of gentraffic into DIR/store, polled by
# live_poll.py for POLL_SECONDS while it captures (checks: the poller ran,
# the daemon was still capturing after it), stopped; then every measurement
# and message older than 1 s must have been in every poll covering it.
live_poll_test() {
    local dir=$1 seconds=$2 polls=$3 b
    shift 3
    mkdir -p "$dir"
    python3 "$GENTRAFFIC" "$dir/live.pcap" --seconds "$seconds" --scale 0.01 --seed 11 >/dev/null
    # the reference (a fast ingest of the same file) only chooses the keys to ask for
    "$CS_BIN" ingest -q -r "$dir/live.pcap" -d "$dir/ref" >/dev/null 2>&1
    "$CS_BIN" latency -d "$dir/ref" --json >"$dir/ref.jsonl"
    PORT=$(free_port)
    b=http://127.0.0.1:$PORT
    "$CS_BIN" run -r "$dir/live.pcap" --replay realtime -d "$dir/store" \
        --listen "127.0.0.1:$PORT" "$@" >"$CS_TMP/run.out" 2>"$CS_TMP/run.err" &
    RUN_PID=$!
    timeout $((polls * 3)) python3 "$GOLDEN/live_poll.py" poll "$b" "$dir/live.pcap" \
        "$dir/ref.jsonl" "$polls" "$dir/polls.jsonl"
    check "the poller ran against the capturing daemon ($*)" test -s "$dir/polls.jsonl"
    check "the daemon was still capturing after the polls ($*)" \
        sh -c "curl -s '$b/api/v1/status' | grep -q '\"capturing\":true'"
    daemon_stop "$RUN_PID"
    "$CS_BIN" latency -d "$dir/store" --json >"$dir/final.jsonl"
    "$CS_BIN" messages -d "$dir/store" --proto fix --json >"$dir/msgs.jsonl"
    check "every measurement older than 1 s was returned by every poll covering it ($*)" \
        python3 "$GOLDEN/live_poll.py" check "$dir/live.pcap" "$dir/polls.jsonl" \
        "$dir/final.jsonl" "$dir/msgs.jsonl"
}

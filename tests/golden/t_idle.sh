# t_idle.sh - the API stays available while many clients hold idle
# connections: 150 TCP connections that send nothing (and 10 that send only
# a blank line, and 10 that stop halfway through a request line) are
# opened to the real daemon, then 40 requests are timed while they stay
# open: every request must be answered 200 within 5 s (a generous bound for
# "answered at all", not a speed target). The connections that sent a blank
# line or half a request must be answered (4xx) or closed by the server
# within 30 s, and so must the silent ones, while a live stream that sends
# only its keep-alive stays open. Afterwards the daemon still answers and
# stops cleanly.

S=$CS_TMP/store
daemon_start "$S" -r "$REPO/samples/trading-sample.pcap"

check "the daemon answers before the idle connections" \
    test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$B/api/v1/status")" = 200

# a live stream with nothing to say is not idle: it outlives the idle
# timeout and gets its keep-alive comment (every 15 s)
curl -sN --max-time 20 "$B/api/v1/stream?events=alert" >"$CS_TMP/stream" 2>/dev/null &
STREAM_PID=$!

check "150 idle connections do not starve requests; idle ones are answered or closed" \
    timeout 120 python3 - "$PORT" <<'PY'
import socket, subprocess, sys, threading, time

port = int(sys.argv[1])
def open_conn(payload):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if payload:
        s.sendall(payload)
    return s

idle = [open_conn(b"") for _ in range(150)]
blank = [open_conn(b"\r\n\r\n") for _ in range(10)]
partial = [open_conn(b"GET /api/v1/sta") for _ in range(10)]

bad = []
for i in range(40):
    path = "/api/v1/status" if i % 2 else "/api/v1/measurements?limit=3"
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        "--max-time", "5", "http://127.0.0.1:%d%s" % (port, path)],
                       capture_output=True, text=True)
    if r.stdout != "200":
        bad.append((i, path, r.stdout, r.returncode))
if bad:
    sys.exit("requests not answered 200 within 5 s while 150 connections idle: %d of 40, first %r"
             % (len(bad), bad[:3]))

def answered_or_closed(s, what):
    """The server must send a 4xx or close; a reset counts as a close."""
    s.settimeout(30)
    try:
        data = s.recv(4096)
    except socket.timeout:
        return "%s: neither answered nor closed in 30 s" % what
    except ConnectionResetError:
        return None
    if data and not data.startswith(b"HTTP/1.1 4") and not data.startswith(b"HTTP/1.0 4"):
        return "%s: unexpected reply %r" % (what, data[:60])
    return None

errors = []
def watch(s, what):
    e = answered_or_closed(s, what)
    if e:
        errors.append(e)
threads = [threading.Thread(target=watch, args=(s, w))
           for group, w in ((blank, "blank line"), (partial, "half a request line"),
                            (idle, "silent connection")) for s in group]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    sys.exit("%d connections: %s" % (len(errors), errors[0]))
PY

wait "$STREAM_PID"
check "a quiet /stream stays open past the idle timeout, to its keep-alive" \
    grep -q '^: keep-alive' "$CS_TMP/stream"
check "the daemon answers after the idle connections" \
    test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$B/api/v1/status")" = 200
daemon_stop "$RUN_PID"

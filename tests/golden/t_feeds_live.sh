# t_feeds_live.sh - GET /api/v1/feeds of a capturing daemon, answered from
# the feeds cache its server keeps (store/feeds_cache.c), is what
# `capstream feeds` reads from the records (cs_feeds_read, no cache):
#   - `capstream run -r FILE --replay realtime` on 15 s of tools/gentrading.py
#     traffic seen at two taps (--taps 2: A/B races at each), --tap-by vlan;
#   - while it captures, /feeds is polled every 150 ms: every answer is 200
#     and valid JSON, and the whole store's packets and messages (summed over
#     the feeds) never decrease from one poll to the next;
#   - once the replay is done ("capturing":false), for 24 ranges (the whole
#     store, after only, before only, random after/before in ns, some inside
#     a second, some whole seconds, some a few ms) the served body is, byte
#     for byte, {"feeds":[...]} of the `capstream feeds --json` lines with
#     the same --after/--before; a differing range names the first feed that
#     differs. The first comparison comes after two refresh periods of the
#     cache, so the cache is built and answers the ranges it can.

require_data
GENTRADING=$REPO/tools/gentrading.py
F=$CS_TMP/feedslive
mkdir -p "$F"
MOLD=moldudp64.ports=26477,26478,26500
python3 "$GENTRADING" "$F/t.pcap" --truth "$F/t.jsonl" --seconds 15 --scale 0.05 --seed 21 \
    --taps 2 >/dev/null 2>&1
check "gentrading wrote 15 s of two-tap traffic" test -s "$F/t.pcap"

PORT=$(free_port)
B=http://127.0.0.1:$PORT
"$CS_BIN" run -r "$F/t.pcap" --replay realtime --tap-by vlan --decoder-opt "$MOLD" -d "$F/s" \
    --listen "127.0.0.1:$PORT" >"$CS_TMP/run.out" 2>"$CS_TMP/run.err" &
RUN_PID=$!
for _ in $(seq 100); do
    curl -sf "$B/api/v1/status" >/dev/null 2>&1 && break
    sleep 0.1
done

# poll_while_capturing BASE: /feeds every 150 ms until the status says the
# replay is done (at most 60 s); fails on a bad answer or a count that fell
poll_while_capturing() {
    python3 - "$1" <<'PY'
import json, sys, time, urllib.request
base = sys.argv[1]
def get(path):
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return r.status, r.read()
polls, prev, bad, deadline = 0, (0, 0), [], time.time() + 60
while time.time() < deadline:
    capturing = json.loads(get("/api/v1/status")[1]).get("capturing")
    status, body = get("/api/v1/feeds")
    try:
        feeds = json.loads(body)["feeds"]
    except (ValueError, KeyError) as e:
        bad.append("poll %d: not the feeds JSON (%s): %r" % (polls, e, body[:200]))
        feeds = []
    if status != 200:
        bad.append("poll %d: status %d" % (polls, status))
    now = (sum(f["packets"] for f in feeds), sum(f["messages"] for f in feeds))
    if now[0] < prev[0] or now[1] < prev[1]:
        bad.append("poll %d: packets, messages %s after %s" % (polls, now, prev))
    prev, polls = now, polls + 1
    if not capturing:
        break
    time.sleep(0.15)
print("%d polls while capturing, last packets %d, messages %d; %d bad%s"
      % (polls, prev[0], prev[1], len(bad), ": " + "; ".join(bad[:3]) if bad else ""))
sys.exit(1 if bad or polls < 20 or prev[0] == 0 or capturing else 0)
PY
}
check "/feeds while capturing: 200, JSON, whole-store counts never decrease" \
    poll_while_capturing "$B"
sleep 2.5 # the cache's thread has read the rest of the store (it refreshes every second)

# same_as_cli BASE STORE PCAP: 24 ranges, the served body against the CLI's
same_as_cli() {
    python3 - "$@" "$CS_BIN" <<'PY'
import json, random, struct, subprocess, sys, urllib.request
base, store, pcap, cs_bin = sys.argv[1:5]
ts = []
with open(pcap, "rb") as f:  # nanosecond pcap: the first and last record times
    f.read(24)
    while True:
        h = f.read(16)
        if len(h) < 16:
            break
        sec, frac, incl, _ = struct.unpack("<IIII", h)
        ts.append(sec * 10**9 + frac)
        f.seek(incl, 1)
t0, t1 = min(ts), max(ts) + 1
S = 10**9
rnd = random.Random(7)
ranges = [(None, None), (t0 + 3 * S + 250_000_000, None), (None, t0 + 9 * S + 1)]
for i in range(21):
    a = rnd.randrange(t0 - S, t1)
    kind = i % 3
    if kind == 0:   # anywhere, partial seconds at both ends
        b = rnd.randrange(a + 1, t1 + S)
    elif kind == 1:  # whole seconds
        a -= a % S
        b = a + rnd.randrange(1, 6) * S
    else:           # a few ms, inside a second or across one
        b = a + rnd.randrange(1, 40_000_000)
    ranges.append((a, b))
bad = []
for a, b in ranges:
    q = "&".join(k + "=" + str(v) for k, v in (("after", a), ("before", b)) if v is not None)
    with urllib.request.urlopen(base + "/api/v1/feeds" + ("?" + q if q else ""), timeout=30) as r:
        served = r.read().decode()
    cmd = [cs_bin, "feeds", "-d", store, "--json"]
    cmd += ["--after", str(a)] if a is not None else []
    cmd += ["--before", str(b)] if b is not None else []
    lines = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()
    want = '{"feeds":[' + ",".join(lines) + "]}\n"
    if served != want:
        got = json.loads(served)["feeds"]
        first = next((i for i in range(max(len(got), len(lines)))
                      if i >= len(got) or i >= len(lines) or json.loads(lines[i]) != got[i]), None)
        bad.append("after %s before %s: %d feeds served, %d read; first differing: %s"
                   % (a, b, len(got), len(lines), lines[first][:300] if first is not None and
                      first < len(lines) else first))
n_feeds = len(subprocess.run([cs_bin, "feeds", "-d", store, "--json"], check=True,
                             capture_output=True, text=True).stdout.splitlines())
print("%d ranges over %d feeds, %d differ%s" % (len(ranges), n_feeds, len(bad),
      ": " + " | ".join(bad[:2]) if bad else ""))
sys.exit(1 if bad or n_feeds < 4 else 0)
PY
}
check "/feeds of the daemon equals capstream feeds over 24 ranges" \
    same_as_cli "$B" "$F/s" "$F/t.pcap"
daemon_stop "$RUN_PID"

# t_api_scale.sh - the HTTP API's replies stay bounded and consistent on a
# big store: a day of per-second metrics and 200,000 measurements (with
# their 400,000 messages and the alerts of a rule), written by
# bench/bigstore.c through the real store writers, served by the real
# daemon (`capstream run -r sample`). No wall-clock assertion: it checks
# that metrics over the day hold at most the points asked for (and at most
# 10000 for a 1 s step), that their counts add up to the measurements
# written, that sorted measurement pages are exactly `limit` long and in
# order across pages (page k's last >= page k+1's first), that a page deep
# in the list (offset 9900) is the matching slice of one long reply, and
# that /status, a narrow time window and /alerts agree with what was written.

S=$CS_TMP/store
N=200000
BINDIR=$(dirname "$CS_BIN")
LIBS="$(pkg-config --libs libpcap jansson libzstd libmicrohttpd) -lpthread -lm"
# The library may be an ASan build: link the generator the same way.
cc -std=c11 -O1 -D_GNU_SOURCE -I"$REPO/src" "$REPO/bench/bigstore.c" "$BINDIR/libcapstream.a" \
    $LIBS -o "$CS_TMP/bigstore" 2>/dev/null ||
    cc -std=c11 -O1 -fsanitize=address,undefined -D_GNU_SOURCE -I"$REPO/src" \
        "$REPO/bench/bigstore.c" "$BINDIR/libcapstream.a" $LIBS -o "$CS_TMP/bigstore"
check "bigstore builds" test -x "$CS_TMP/bigstore"
"$CS_TMP/bigstore" "$S" "$N" >"$CS_TMP/info"
read -r DAY_A DAY_B N_MEAS N_MSGS N_ALERTS <"$CS_TMP/info"
check_eq "bigstore wrote the measurements" "$N" "$N_MEAS"
check_eq "bigstore wrote their messages" "$((2 * N))" "$N_MSGS"

daemon_start "$S" -r "$REPO/samples/trading-sample.pcap"

R="after=$DAY_A&before=$DAY_B"
get() { curl -s -o "$CS_TMP/$1.json" -w '%{http_code}' "$B$2"; }
check_eq "metrics over the day, UI step" 200 "$(get m288 "/api/v1/metrics?series=pair:fix&$R&step=288s")"
check_eq "fix metrics, 1 s step" 200 "$(get m1fix "/api/v1/metrics?series=pair:fix&$R&step=1s")"
check_eq "http metrics, 1 s step" 200 "$(get m1http "/api/v1/metrics?series=pair:http&$R&step=1s")"
check_eq "http metrics, UI step" 200 "$(get m288h "/api/v1/metrics?series=pair:http&$R&step=288s")"
check_eq "tap metrics, UI step" 200 "$(get mtap "/api/v1/metrics?series=tap:0&$R&step=288s")"
check "metrics points are bounded and add up" python3 - "$CS_TMP" "$N" "$DAY_A" "$DAY_B" <<'PY'
import json, sys
d, n, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ld = lambda k: json.load(open(f"{d}/{k}.json"))
m288, m1f, m1h, m288h, tap = ld("m288"), ld("m1fix"), ld("m1http"), ld("m288h"), ld("mtap")
want = -(-(b - a) // (288 * 10**9))
for m in (m288, m288h, tap):
    assert m["step_ns"] == 288 * 10**9, m["step_ns"]
    assert 0 < len(m["points"]) <= want, (len(m["points"]), want)
for m in (m1f, m1h):
    assert m["step_ns"] >= 9 * 10**9 and m["step_ns"] % 10**9 == 0, m["step_ns"]
    assert len(m["points"]) <= 10000, len(m["points"])
    assert len(m["points"]) <= -(-(b - a) // m["step_ns"])
tot = lambda m: sum(p["count"] for p in m["points"])
assert tot(m288) + tot(m288h) == n, (tot(m288), tot(m288h), n)
assert tot(m1f) == tot(m288) and tot(m1h) == tot(m288h)
assert sum(p["windows"] for p in tap["points"]) == 86400
for m in (m288, m1f, tap):
    ts = [p["ts_ns"] for p in m["points"]]
    assert ts == sorted(ts) and all(a <= t < b for t in ts)
PY

# Sorted pages: 1..5 and 100 by latency, 1..3 by time, and one long reply.
for k in 0 1 2 3 4 99; do
    get "lat$k" "/api/v1/measurements?pair=fix&$R&sort=latency&limit=100&offset=$((k * 100))" >/dev/null
done
for k in 0 1 2; do
    get "time$k" "/api/v1/measurements?$R&limit=100&offset=$((k * 100))" >/dev/null
done
get long "/api/v1/measurements?pair=fix&$R&sort=latency&limit=1000&offset=9500" >/dev/null
check "sorted pages are full, ordered across pages and match one long reply" \
    python3 - "$CS_TMP" "$DAY_A" "$DAY_B" <<'PY'
import json, sys
d, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ld = lambda k: json.load(open(f"{d}/{k}.json"))
lat = [ld(f"lat{k}") for k in (0, 1, 2, 3, 4)]
seen = set()
prev = None
for p in lat:
    assert p["count"] == 100 and len(p["measurements"]) == 100 and p["more"] is True, p["count"]
    for m in p["measurements"]:
        assert m["pair"] == "fix" and a <= m["req_ts_ns"] < b
        assert m["id"] not in seen
        seen.add(m["id"])
        key = (-m["latency_ns"], m["req_ts_ns"])
        assert prev is None or prev <= key, (prev, key)
        prev = key
p100, long = ld("lat99"), ld("long")
assert p100["count"] == 100 and p100["offset"] == 9900
assert long["count"] == 1000 and long["offset"] == 9500
assert [m["id"] for m in long["measurements"][400:500]] == [m["id"] for m in p100["measurements"]]
assert p100["measurements"][0]["latency_ns"] <= lat[-1]["measurements"][-1]["latency_ns"]
prev = None
for k in (0, 1, 2):
    p = ld(f"time{k}")
    assert p["count"] == 100 and len(p["measurements"]) == 100
    for m in p["measurements"]:
        key = (m["req_ts_ns"],)
        assert prev is None or prev <= key
        prev = key
PY

MID=$((DAY_A + (DAY_B - DAY_A) / 2))
get narrow "/api/v1/measurements?after=$MID&before=$((MID + 3000000000))&sort=latency&limit=1000" >/dev/null
get status /api/v1/status >/dev/null
get alerts "/api/v1/alerts?$R&limit=1000" >/dev/null
get alerts2 "/api/v1/alerts?$R&limit=1000&offset=1000" >/dev/null
check "a narrow window, /status and /alerts agree with the store" \
    python3 - "$CS_TMP" "$MID" "$N" "$N_ALERTS" <<'PY'
import json, sys
d, mid, n, na = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ld = lambda k: json.load(open(f"{d}/{k}.json"))
w = ld("narrow")["measurements"]
per_s = n / 86400
assert 2.5 * per_s <= len(w) <= 3.5 * per_s + 2, len(w)
assert all(mid <= m["req_ts_ns"] < mid + 3 * 10**9 for m in w)
assert [m["latency_ns"] for m in w] == sorted((m["latency_ns"] for m in w), reverse=True)
st = ld("status")["store"]
assert st["measurements"] >= n and st["messages"] >= 2 * n, st
al, al2 = ld("alerts"), ld("alerts2")
assert al["total"] == al2["total"] == na > 0, (al["total"], na)
assert al["count"] == min(na, 1000) and al["more"] == (na > 1000)
assert al2["count"] == max(0, min(na - 1000, 1000)) and al2["more"] is False
ts = [a["ts_ns"] for a in al["alerts"] + al2["alerts"]]
assert len(ts) == min(na, 2000) and ts == sorted(ts, reverse=True)
PY
ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["measurements"][0]["id"])' \
    "$CS_TMP/lat0.json")
check_eq "the slowest measurement opens" 200 "$(get one "/api/v1/measurements/$ID")"
check "its messages resolve" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["request"]["message"]["id"] == d["measurement"]["req_msg"]
assert d["response"]["message"]["id"] == d["measurement"]["resp_msg"]' "$CS_TMP/one.json"

kill "$RUN_PID" 2>/dev/null
wait "$RUN_PID" 2>/dev/null

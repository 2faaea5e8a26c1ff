# t_messages.sh - the message store end to end: `ingest` decodes gentraffic
# captures, and `latency`, `messages` and `show` give back exactly what the
# generator's ground truth says (pairs, keys, ns timestamps), statistics
# consistent with the measurements, messages by key, and the packets that
# carried a measurement's two messages. Bad input fails cleanly.

S=$CS_TMP/store
python3 "$GENTRAFFIC" "$CS_TMP/t.pcap" --truth "$CS_TMP/t.truth" --seconds 1 --quirks --seed 11 \
    >/dev/null
check "ingest of a gentraffic capture" "$CS_BIN" ingest -q -r "$CS_TMP/t.pcap" -d "$S"

# Every fix/http/dns measurement, exactly (multisets of pair, key, req_ts_ns, resp_ts_ns).
"$CS_BIN" latency -d "$S" --json >"$CS_TMP/lat.jsonl"
check "latency --json equals the ground truth" \
    python3 "$GOLDEN/truth_check.py" "$CS_TMP/lat.jsonl" "$CS_TMP/t.truth" --pairs fix,http,dns

# Every JSON line carries the documented fields, ids parse, latency = resp - req,
# and the default order is by request time.
check "latency --json fields and order" python3 - "$CS_TMP/lat.jsonl" <<'PY'
import json, re, sys
prev = None
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    for k in ("id", "pair", "key", "req_ts_ns", "resp_ts_ns", "latency_ns", "req_msg",
              "resp_msg", "flow", "src", "dst"):
        assert k in r, (k, r)
    assert re.fullmatch(r"l\d+\.\d+\.\d+", r["id"]), r["id"]
    assert re.fullmatch(r"m\d+\.\d+\.\d+", r["req_msg"]) and r["req_msg"][1:] == r["id"][1:]
    assert re.fullmatch(r"m\d+\.\d+\.\d+", r["resp_msg"])
    assert re.fullmatch(r"[0-9a-f]{16}", r["flow"]), r["flow"]
    assert re.fullmatch(r"[0-9.]+:\d+|\[[0-9a-f:.]+\]:\d+", r["src"]), r["src"]
    assert r["latency_ns"] == r["resp_ts_ns"] - r["req_ts_ns"]
    assert prev is None or prev <= r["req_ts_ns"], "not in time order"
    prev = r["req_ts_ns"]
    n += 1
assert n > 1000, n
PY

# --stats: exact count/min/max, percentiles within 1% of the exact nearest-rank ones.
"$CS_BIN" latency -d "$S" --stats --json >"$CS_TMP/stats.jsonl"
check "latency --stats consistent with the measurements" \
    python3 - "$CS_TMP/lat.jsonl" "$CS_TMP/stats.jsonl" <<'PY'
import collections, json, math, sys
lat = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    lat[r["pair"]].append(r["latency_ns"])
stats = [json.loads(l) for l in open(sys.argv[2])]
assert sorted(s["pair"] for s in stats) == sorted(lat), (stats, list(lat))
for s in stats:
    v = sorted(lat[s["pair"]])
    assert s["count"] == len(v) and s["min_ns"] == v[0] and s["max_ns"] == v[-1], s
    for q, k in ((0.5, "p50_ns"), (0.9, "p90_ns"), (0.99, "p99_ns"), (0.999, "p999_ns")):
        exact = v[max(1, math.ceil(q * len(v) - 1e-9)) - 1]
        assert abs(s[k] - exact) <= 0.01 * exact, (s["pair"], k, s[k], exact)
PY
text_stats=$("$CS_BIN" latency -d "$S" --stats)
check "latency --stats text has a line per pair" \
    grep -qE '^fix +[0-9]+ ' <<<"$text_stats"

# Filters: --pair, --min, --sort latency with --limit.
fix_count=$(grep -c '"pair":"fix"' "$CS_TMP/lat.jsonl")
check_eq "latency --pair fix" "$fix_count" "$("$CS_BIN" latency -d "$S" --pair fix | wc -l)"
top=$("$CS_BIN" latency -d "$S" --sort latency --limit 5 --json | python3 -c '
import json, sys
print(",".join(str(json.loads(l)["latency_ns"]) for l in sys.stdin))')
want=$(python3 -c '
import json, sys
v = sorted((json.loads(l)["latency_ns"] for l in open(sys.argv[1])), reverse=True)
print(",".join(str(x) for x in v[:5]))' "$CS_TMP/lat.jsonl")
check_eq "latency --sort latency --limit 5" "$want" "$top"
min_count=$(python3 -c '
import json, sys
print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["latency_ns"] >= 1000000))' \
    "$CS_TMP/lat.jsonl")
check_eq "latency --min 1ms" "$min_count" "$("$CS_BIN" latency -d "$S" --min 1ms | wc -l)"

# messages --key finds the request and the response of a ClOrdID.
line=$(grep -m1 '"pair":"fix"' "$CS_TMP/lat.jsonl")
read -r lid key req resp < <(python3 -c '
import json, sys
r = json.loads(sys.argv[1]); print(r["id"], r["key"], r["req_msg"], r["resp_msg"])' "$line")
"$CS_BIN" messages -d "$S" --key "$key" --json >"$CS_TMP/msgs.jsonl"
check "messages --key finds the ClOrdID request and its execution report" python3 - "$CS_TMP/msgs.jsonl" "$key" "$req" "$resp" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert any(r["id"] == sys.argv[3] for r in rows), rows
assert any(r["id"] == sys.argv[4] and r["type"] == "8" for r in rows), rows
for r in rows:
    assert r["proto"] == "fix" and r["key"] == sys.argv[2]
    assert ["11", sys.argv[2]] in r["fields"], r["fields"]
    assert all(isinstance(p, str) and ":" in p for p in r["packets"]) and r["packets"]
    for k in ("ts_ns", "flow", "dir", "flags", "type"):
        assert k in r
PY
check "messages --proto dns --json is valid JSON" bash -c \
    "'$CS_BIN' messages -d '$S' --proto dns --limit 200 --json | python3 -c '
import json, sys
n = 0
for l in sys.stdin:
    r = json.loads(l); assert r[\"proto\"] == \"dns\"; n += 1
assert n == 200, n'"

# Error reasons are stored with the message: every DNS response with a
# nonzero rcode names it (the generator answers NXDOMAIN), every HTTP 5xx
# says so, and no other message has an "error".
"$CS_BIN" messages -d "$S" --json >"$CS_TMP/all.jsonl"
check "messages carry their error reason" python3 - "$CS_TMP/all.jsonl" <<'PY'
import collections, json, sys
seen = collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    f = dict((k, v) for k, v in r["fields"])
    want = None
    if r["proto"] == "dns" and f.get("qr") == "1" and f.get("rcode") not in (None, "0"):
        assert f["rcode"] == "3", f
        want = "rcode NXDOMAIN"
    elif r["proto"] == "http" and r["type"] == "response" and f["status"].startswith("5"):
        want = "status 5xx"
    assert r.get("error") == want, (want, r)
    if want:
        seen[want] += 1
assert seen["rcode NXDOMAIN"] > 10 and seen["status 5xx"] > 10, seen
PY
F=$CS_TMP/fixrej
"$CS_BIN" ingest -q -r "$PCAPS/fix-ascii/trace-fix4.4.pcap" -d "$F"
rej=$("$CS_BIN" messages -d "$F" --json | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
rej = [r for r in rows if ["35", "3"] in r["fields"]]
assert len(rej) == 1 and rej[0]["error"] == "session reject", rej
assert all("error" not in r for r in rows if r is not rej[0])
print(rej[0]["id"])')
check "a FIX session reject carries its reason" test -n "$rej"
check "messages text shows the reason" bash -c \
    "'$CS_BIN' messages -d '$F' | grep -q '  error session reject '"
check "show text shows the reason" bash -c \
    "'$CS_BIN' show -d '$F' '$rej' | grep -qE '^  error +session reject$'"
check "show --json has the reason" bash -c "'$CS_BIN' show -d '$F' '$rej' --json |
    python3 -c 'import json, sys; assert json.load(sys.stdin)[\"message\"][\"error\"] == \"session reject\"'"

# show: the measurement, both messages, their packets; -w writes both messages' bytes.
"$CS_BIN" show -d "$S" "$lid" >"$CS_TMP/show.txt"
check "show lists the request" grep -q "$req" "$CS_TMP/show.txt"
check "show lists the response" grep -q "$resp" "$CS_TMP/show.txt"
check "show lists the packets" grep -qE 'caplen [0-9]+ .*TCP' "$CS_TMP/show.txt"
"$CS_BIN" show -d "$S" "$lid" --json >"$CS_TMP/show.json"
check "show --json" python3 - "$CS_TMP/show.json" "$req" "$resp" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["request"]["message"]["id"] == sys.argv[2]
assert r["response"]["message"]["id"] == sys.argv[3]
assert r["measurement"]["resp_msg"] == sys.argv[3]
for side in ("request", "response"):
    pk = r[side]["packets"]
    assert pk and all("ts_ns" in p and "caplen" in p and "summary" in p for p in pk), pk
PY
check "show -w writes a pcap" bash -c "'$CS_BIN' show -d '$S' '$lid' -w '$CS_TMP/one.pcap' 2>/dev/null"
check "the pcap holds the request and the response" python3 - "$CS_TMP/one.pcap" "$key" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
magic, = struct.unpack_from("<I", data, 0)
assert magic == 0xa1b23c4d, hex(magic)
off, pkts, ts = 24, [], []
while off < len(data):
    sec, nsec, cap, wire = struct.unpack_from("<IIII", data, off)
    pkts.append(data[off + 16: off + 16 + cap]); ts.append(sec * 10**9 + nsec)
    off += 16 + cap
assert ts == sorted(ts), ts
blob = b"".join(pkts)
key = sys.argv[2].encode()
assert b"35=D\x01" in blob and b"35=8\x01" in blob, "both messages"
assert blob.count(b"11=" + key + b"\x01") >= 2, "ClOrdID in request and response"
PY
check "tcpdump reads the pcap" bash -c "tcpdump -nr '$CS_TMP/one.pcap' 2>/dev/null | grep -q ."
check "show of a message id" bash -c "'$CS_BIN' show -d '$S' '$req' | grep -q 'packets'"

# Retention: packets of deleted segments are "expired" in show, not errors;
# the messages and measurements themselves stay.
R=$CS_TMP/small
"$CS_BIN" ingest -q -r "$CS_TMP/t.pcap" -d "$R" --segment-bytes 4M --max-bytes 12M
first=$("$CS_BIN" latency -d "$R" --limit 1 --json | python3 -c '
import json, sys; print(json.loads(sys.stdin.readline())["id"])')
check "show of a measurement whose packets expired" bash -c \
    "'$CS_BIN' show -d '$R' '$first' | grep -q 'expired'"
check "show --json marks expired packets" bash -c "'$CS_BIN' show -d '$R' '$first' --json |
    python3 -c 'import json, sys; r = json.load(sys.stdin); assert r[\"request\"][\"packets\"][0][\"expired\"]'"

# Unmatched requests/responses agree with what the analyzer counted: valid JSON lines.
check "latency --unmatched --json" bash -c "'$CS_BIN' latency -d '$S' --unmatched --json |
    python3 -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l); assert r[\"unmatched\"] in (\"request\", \"response\"); r[\"message\"][\"id\"]'"

# Bad input: one clear error line, non-zero exit, no crash.
check_fails "show: bad id" "bad id" "$CS_BIN" show -d "$S" "x1.2.3"
check_fails "show: id with junk" "bad id" "$CS_BIN" show -d "$S" "l1.2.3junk"
check_fails "show: unknown measurement" "no measurement" "$CS_BIN" show -d "$S" "l1.2.3"
check_fails "show: unknown message" "no message" "$CS_BIN" show -d "$S" "m99.2.3"
check_fails "show: no id" "id is required" "$CS_BIN" show -d "$S"
check_fails "latency: bad --sort" "sort" "$CS_BIN" latency -d "$S" --sort fastest
check_fails "latency: bad --min" "duration" "$CS_BIN" latency -d "$S" --min 5parsecs
check_fails "latency: bad --after" "time|month" "$CS_BIN" latency -d "$S" --after 2026-13-01T00:00:00Z
check_fails "latency: bad --limit" "limit" "$CS_BIN" latency -d "$S" --limit -3
check_fails "messages: bad --before" "time" "$CS_BIN" messages -d "$S" --before "5 parsecs ago"
mkdir -p "$CS_TMP/notastore"
check_fails "latency on a non-store" "not a capstream store" "$CS_BIN" latency -d "$CS_TMP/notastore"
check_fails "messages on a missing store" "no store" "$CS_BIN" messages -d "$CS_TMP/missing"
check_fails "show on a non-store" "not a capstream store" "$CS_BIN" show -d "$CS_TMP/notastore" l1.2.3
check_fails "gaps: bad --after" "time" "$CS_BIN" gaps -d "$S" --after "5 parsecs ago"
check_fails "gaps: bad --limit" "limit" "$CS_BIN" gaps -d "$S" --limit 0
check_fails "gaps on a missing store" "no store" "$CS_BIN" gaps -d "$CS_TMP/missing"
check_fails "gaps without a store" "STORE is required" "$CS_BIN" gaps
# the generator's one sequenced feed is ITCH over MoldUDP64, which --quirks
# drops packets of: gaps stored, every one of them moldudp64's
"$CS_BIN" gaps -d "$S" --json >"$CS_TMP/gaps.jsonl"
check "gaps: only the MoldUDP64 feed's, and some" python3 -c '
import json, sys
g = [json.loads(l) for l in open(sys.argv[1])]
assert g and all(x["proto"] == "moldudp64" and x["feed"] == "239.1.1.1:26400" for x in g), g[:2]
' "$CS_TMP/gaps.jsonl"
for c in latency messages show gaps; do
    check "$c --help lists examples" bash -c "'$CS_BIN' $c --help | grep -q examples"
done

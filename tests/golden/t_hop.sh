# t_hop.sh - hop latency (the same message seen at two taps) against the
# ground truth of tools/gentrading.py: one capture merged from two capture
# points, VLAN 101 at the edge and VLAN 102 inside (run with --tap-by vlan),
# every packet seen at both. Market data comes in at the edge, orders go
# out from inside.
#   - `latency --pair hop --json` after `ingest --tap-by vlan` lists exactly
#     the truth's "hop" records: every MoldUDP64 data packet of both feeds
#     (key <session>:<seq>, feed = dst) from tap 101 to tap 102, and every
#     OUCH Enter, Cancel and Replace request (key O:, X:, U:<order>, conn
#     src>dst) from tap 102 to tap 101, with both taps (req_tap, resp_tap;
#     tap = the request's), both capture times and the latency, none
#     missing, none extra;
#   - `reanalyze` of that store gives the same hops;
#   - without --tap-by vlan (one tap) there are no hop measurements;
#   - the A/B races (--pair ab) are as many as the truth's, hops or not;
#   - the checker fails on a truth with one latency changed, or one hop
#     fewer.

GENTRADING=$REPO/tools/gentrading.py
H=$CS_TMP/hop
mkdir -p "$H"
python3 "$GENTRADING" "$H/t.pcap" --truth "$H/t.jsonl" --seconds 0.3 --seed 8 >/dev/null 2>&1
OPTS=(--decoder-opt moldudp64.ports=26477,26478,26500 --decoder-opt soupbintcp.ports=15000,15001)

# hops_equal STORE TRUTH: the stored hop measurements equal the truth's
hops_equal() {
    "$CS_BIN" latency -d "$1" --pair hop --json --limit 100000000 >"$H/hop.jsonl" &&
        python3 "$GOLDEN/trading_truth.py" hop "$H/hop.jsonl" "$2"
}

"$CS_BIN" ingest -q -r "$H/t.pcap" -d "$H/s" --tap-by vlan "${OPTS[@]}"
check "ingest --tap-by vlan: the hops equal the truth's" hops_equal "$H/s" "$H/t.jsonl"
check "reanalyze runs" "$CS_BIN" reanalyze -q -d "$H/s" --tap-by vlan "${OPTS[@]}"
check "reanalyzed: the hops equal the truth's" hops_equal "$H/s" "$H/t.jsonl"
check_eq "-p hop is a pair the help lists" 1 \
    "$("$CS_BIN" latency --help 2>&1 | grep -c -- "-p, --pair P .*\bhop\b")"

want_ab=$(python3 -c '
import json, sys
print(sum(1 for d in map(json.loads, open(sys.argv[1])) if d["kind"] == "ab"))' "$H/t.jsonl")
check_eq "the A/B races are the truth's, hops or not" "$want_ab" \
    "$("$CS_BIN" latency -d "$H/s" --pair ab --json --limit 100000000 | wc -l)"

"$CS_BIN" ingest -q -r "$H/t.pcap" -d "$H/one" "${OPTS[@]}"
check_eq "without --tap-by vlan (one tap): no hop measurements" 0 \
    "$("$CS_BIN" latency -d "$H/one" --pair hop --json | wc -l)"
check "without --tap-by vlan: OUCH is still measured" \
    test "$("$CS_BIN" latency -d "$H/one" --pair ouch --json | wc -l)" -gt 0

python3 - "$H/t.jsonl" "$H/doctored.jsonl" "$H/fewer.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
hops = [i for i, d in enumerate(lines) if d["kind"] == "hop"]
doctored = [dict(d) for d in lines]
doctored[hops[len(hops) // 2]]["latency_ns"] += 1
fewer = [d for i, d in enumerate(lines) if i != hops[-1]]
for path, recs in ((sys.argv[2], doctored), (sys.argv[3], fewer)):
    open(path, "w").write("".join(json.dumps(d, sort_keys=True) + "\n" for d in recs))
PY
check "the checker fails on a truth with one latency changed" \
    test "$(hops_equal "$H/s" "$H/doctored.jsonl" >/dev/null; echo $?)" = 1
check "the checker fails on a truth with one hop fewer" \
    test "$(hops_equal "$H/s" "$H/fewer.jsonl" >/dev/null; echo $?)" = 1

# A message's A/B race and its hop share its id (the id of the measurement
# is its first copy's): `show --pair` and the API's ?pair= pick each, and
# the wrong pair is not found.
shared=$(python3 - "$H/s" "$CS_BIN" <<'PY'
import json, subprocess, sys
ids = lambda p: {json.loads(l)["id"] for l in subprocess.run(
    [sys.argv[2], "latency", "-d", sys.argv[1], "--pair", p, "--json", "--limit", "100000000"],
    capture_output=True, text=True).stdout.splitlines()}
both = sorted(ids("ab") & ids("hop"))
print(both[0] if both else "")
PY
)
check "some hop shares its id with an A/B race ($shared)" test -n "$shared"
pair_of() { "$CS_BIN" show -d "$H/s" "$shared" --json "$@" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["measurement"]["pair"])'; }
check_eq "show --pair hop shows the hop" hop "$(pair_of --pair hop)"
check_eq "show --pair ab shows the race" ab "$(pair_of --pair ab)"
check_fails "show --pair ouch: no such measurement" "of pair ouch" \
    "$CS_BIN" show -d "$H/s" "$shared" --pair ouch
SPORT=$(free_port)
"$CS_BIN" serve -d "$H/s" --listen "127.0.0.1:$SPORT" >"$H/serve.out" 2>"$H/serve.err" &
SPID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$SPORT/api/v1/status" >/dev/null && break; sleep 0.1; done
api_pair() { curl -s "http://127.0.0.1:$SPORT/api/v1/measurements/$shared?pair=$1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["measurement"]["pair"])'; }
check_eq "API ?pair=hop gives the hop" hop "$(api_pair hop)"
check_eq "API ?pair=ab gives the race" ab "$(api_pair ab)"
check_eq "the measurement's pcap with ?pair=hop holds the two taps' copies" 2 \
    "$(curl -s "http://127.0.0.1:$SPORT/api/v1/measurements/$shared/pcap?pair=hop" -o "$H/hop.pcap" &&
        tcpdump -r "$H/hop.pcap" 2>/dev/null | wc -l)"
kill "$SPID" && wait "$SPID" 2>/dev/null

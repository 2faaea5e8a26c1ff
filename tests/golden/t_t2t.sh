# t_t2t.sh - tick-to-trade against the ground truth of tools/gentrading.py:
# each OUCH Enter Order is sent a few microseconds after an ITCH message on
# its symbol (A/B MoldUDP64 feeds and a retransmission, two taps as VLANs
# 101 and 102). `latency --pair t2t --json` after `ingest --tap-by vlan`
# must list exactly the truth's t2t records: per order and tap, the order's
# key, the capture times of the tick and of the order, the latency, and the
# tick itself (its session:seq, ITCH type and feed, read back through its
# message id), none missing, none extra; `reanalyze` gives the same; a
# 5 us window keeps only the orders that followed their tick that closely;
# without --tap-by vlan the taps do not match.

GENTRADING=$REPO/tools/gentrading.py
X=$CS_TMP/t2t
mkdir -p "$X"
python3 "$GENTRADING" "$X/t.pcap" --truth "$X/t.jsonl" --seconds 0.3 --seed 12 >/dev/null 2>&1
OPTS=(--tap-by vlan --decoder-opt moldudp64.ports=26477,26478,26500
    --decoder-opt soupbintcp.ports=15000,15001)

# t2t_equal STORE [MAX_NS]: the store's t2t measurements equal the truth's
# (those with latency <= MAX_NS)
t2t_equal() {
    "$CS_BIN" latency -d "$1" --pair t2t --json >"$X/t2t.jsonl" &&
        "$CS_BIN" messages -d "$1" --proto itch --json >"$X/itch.jsonl" &&
        python3 "$GOLDEN/trading_truth.py" t2t "$X/t2t.jsonl" "$X/itch.jsonl" "$X/t.jsonl" \
            "${2:-1000000}"
}

"$CS_BIN" ingest -q -r "$X/t.pcap" -d "$X/s" "${OPTS[@]}"
check "ingest: tick-to-trade equals the truth (order, tap, times, the tick)" t2t_equal "$X/s"
check "the truth has orders at both taps and ticks of both feeds" python3 -c '
import json, sys
t = [d for d in map(json.loads, open(sys.argv[1])) if d["kind"] == "t2t"]
assert {d["tap"] for d in t} == {101, 102} and len({d["feed"] for d in t}) >= 2, t[:1]' "$X/t.jsonl"
check "reanalyze runs" "$CS_BIN" reanalyze -q -d "$X/s" "${OPTS[@]}"
check "reanalyze: the same tick-to-trade" t2t_equal "$X/s"
"$CS_BIN" ingest -q -r "$X/t.pcap" -d "$X/w" "${OPTS[@]}" --t2t-window 5us
check "--t2t-window 5us: only the orders within 5 us of their tick" t2t_equal "$X/w" 5000
check "a 5 us window drops some" test "$(wc -l <"$X/t2t.jsonl")" -lt \
    "$(grep -c '"kind": "t2t"' "$X/t.jsonl")"
check "ingest without --tap-by vlan" "$CS_BIN" ingest -q -r "$X/t.pcap" -d "$X/notap" "${OPTS[@]:2}"
check "without --tap-by vlan there are ticks-to-trade, but not the truth's (tap 0)" \
    test "$(t2t_equal "$X/notap" >/dev/null; echo $?)" = 1 -a -s "$X/t2t.jsonl"
check_fails "a bad --t2t-window fails" "t2t-window" \
    "$CS_BIN" ingest -q -r "$X/t.pcap" -d "$X/bad" "${OPTS[@]}" --t2t-window soon

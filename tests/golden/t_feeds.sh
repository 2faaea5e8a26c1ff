# t_feeds.sh - MoldUDP64 market data feeds against the ground truth of
# tools/gentrading.py (A/B feeds seen at two taps, VLAN 101 and 102, with
# losses on A only, B only and both, heartbeats and end of session that
# reveal gaps, a re-request and its retransmission; its truth is checked
# against tshark by t_gentrading.sh):
#   - `capstream gaps --json` after `ingest --tap-by vlan` lists exactly the
#     truth's gaps: tap, feed, session, first missing number, count, the
#     capture time of the packet that revealed each and whether the other
#     feed or the retransmission filled it, none missing, none extra; and
#     exactly its arbitrated gaps (numbers both feeds missed, recovered only
#     by the retransmission);
#   - the daemon (--tap-by vlan, fast replay) counts them per second: the
#     metrics of proto:moldudp64 and Prometheus capstream_seq_gaps_total and
#     capstream_seq_missing_total equal the truth's gaps and numbers missing;
#   - without --tap-by vlan the gaps carry tap 0, not the truth's taps;
#   - `latency --pair ab --json` lists exactly the truth's A/B races: per
#     data packet seen on both feeds at one tap, its key, tap, both copies'
#     capture times, the winning feed and the lead, none missing, none extra;
#     retransmissions and packets lost on one feed race nothing.

GENTRADING=$REPO/tools/gentrading.py
F=$CS_TMP/feeds
mkdir -p "$F"
python3 "$GENTRADING" "$F/t.pcap" --truth "$F/t.jsonl" --seconds 0.5 --seed 8 >/dev/null 2>&1
MOLD=moldudp64.ports=26477,26478,26500

# gaps_equal STORE KIND: the stored gaps (KIND gap) or arbitrated gaps (abgap)
# equal the truth's, whether recovered included
gaps_equal() {
    "$CS_BIN" gaps -d "$1" --json >"$F/gaps.jsonl" &&
        python3 - "$F/gaps.jsonl" "$F/t.jsonl" "$2" <<'PY'
import collections, json, sys
kind = sys.argv[3]
key = lambda d: (d["tap"], d["feed"] if kind == "gap" else "", d["session"], d["first_seq"],
                 d["count"], d["ts_ns"], d["recovered"])
got = collections.Counter(key(d) for d in map(json.loads, open(sys.argv[1])) if d["kind"] == kind)
want = collections.Counter(key(d) for d in map(json.loads, open(sys.argv[2])) if d["kind"] == kind)
diff = sorted(k for k in set(got) | set(want) if got[k] != want[k])
print("%ss: capstream %d, truth %d, differing %d%s" % (kind, sum(got.values()), sum(want.values()),
      len(diff), ", first %s" % (diff[0],) if diff else ""))
sys.exit(1 if diff or not want else 0)
PY
}

"$CS_BIN" ingest -q -r "$F/t.pcap" -d "$F/s" --tap-by vlan --decoder-opt "$MOLD"
check "ingest --tap-by vlan: the gaps equal the truth's, recovered or not" gaps_equal "$F/s" gap
check "the arbitrated gaps (missing on A and B) equal the truth's" gaps_equal "$F/s" abgap
check "some gaps were recovered and some not (the test can tell)" python3 -c '
import json, sys
r = [d["recovered"] for d in map(json.loads, open(sys.argv[1]))]
sys.exit(0 if any(r) and not all(r) else 1)' "$F/gaps.jsonl"
# races_equal STORE: the stored A/B races equal the truth's
races_equal() {
    "$CS_BIN" latency -d "$1" --pair ab --json >"$F/ab.jsonl" &&
        python3 - "$F/ab.jsonl" "$F/t.jsonl" <<'PY'
import collections, json, sys
key = lambda d: (d["key"], d["tap"], d["req_ts_ns"], d["resp_ts_ns"], d["winner"], d["lead_ns"])
got = collections.Counter(key(json.loads(l)) for l in open(sys.argv[1]))
want = collections.Counter(key(d) for d in map(json.loads, open(sys.argv[2])) if d["kind"] == "ab")
diff = sorted(k for k in set(got) | set(want) if got[k] != want[k])
print("races: capstream %d, truth %d, differing %d%s" % (sum(got.values()), sum(want.values()),
      len(diff), ", first %s" % (diff[0],) if diff else ""))
sys.exit(1 if diff or not want else 0)
PY
}
check "latency --pair ab: the A/B races equal the truth's" races_equal "$F/s"

"$CS_BIN" ingest -q -r "$F/t.pcap" -d "$F/s0" --decoder-opt "$MOLD"
check "without --tap-by vlan the gaps do not carry the taps" \
    test "$(gaps_equal "$F/s0" gap >/dev/null; echo $?)" = 1
check "without --tap-by vlan the races are not the truth's (two taps' copies meet)" \
    test "$(races_equal "$F/s0" >/dev/null; echo $?)" = 1

read -r n_gaps n_missing < <(python3 -c '
import json, sys
g = [d for d in map(json.loads, open(sys.argv[1])) if d["kind"] == "gap"]
print(len(g), sum(d["count"] for d in g))' "$F/t.jsonl")
daemon_start "$F/live" -r "$F/t.pcap" --tap-by vlan --decoder-opt "$MOLD"
sleep 2.2 # two more ticks: the last windows are closed
prom=$(curl -s --max-time 5 "$B/metrics")
metrics=$(curl -s --max-time 5 "$B/api/v1/metrics?series=proto:moldudp64&after=0&step=3600s")
served=$(curl -s --max-time 5 "$B/api/v1/gaps?limit=1000" | python3 -c '
import json, sys
print(len(json.load(sys.stdin)["gaps"]))')
daemon_stop "$RUN_PID"
check_eq "the serving daemon has stored every gap and abgap of the replayed file (none held)" \
    "$(python3 -c 'import json, sys
print(sum(d["kind"] in ("gap", "abgap") for d in map(json.loads, open(sys.argv[1]))))' "$F/t.jsonl")" "$served"
check_eq "Prometheus counts the truth's gaps" "$n_gaps" \
    "$(echo "$prom" | sed -n 's/^capstream_seq_gaps_total{proto="moldudp64"} //p')"
check_eq "Prometheus counts the numbers missing in them" "$n_missing" \
    "$(echo "$prom" | sed -n 's/^capstream_seq_missing_total{proto="moldudp64"} //p')"
check_eq "the stored per-second metrics sum to the truth's gaps and numbers missing" \
    "$n_gaps $n_missing" "$(echo "$metrics" | python3 -c '
import json, sys
p = json.load(sys.stdin)["points"]
print(sum(x["gaps"] for x in p), sum(x["missing"] for x in p))')"

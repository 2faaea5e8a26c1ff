# t_feedsum.sh - `capstream feeds` and GET /api/v1/feeds, one summary per
# MoldUDP64 feed and tap, against figures computed without capstream from
# tools/gentrading.py's capture and truth (A/B feeds seen at two taps, VLAN
# 101 and 102, losses, heartbeats, end of session, a re-request answered by
# a retransmission; tests/golden/feedsum_check.py reads the pcap itself):
#   - after `ingest --tap-by vlan`, `feeds --json` equals them field by
#     field for every feed and tap: sessions, retransmission, packets, data
#     packets, heartbeats, ITCH messages by type, gaps and messages lost
#     (truth "gap"), races, races won, won share and nearest-rank lead
#     percentiles (truth "ab"), the busiest millisecond; in order;
#   - the same over an --after/--before window whose edges fall inside two
#     races (one whose earlier copy is before --after: not counted, one
#     whose later copy is at --before: counted for both feeds), and one
#     nanosecond more in --before no longer matches;
#   - the text table has one line per feed and tap, in the same order;
#   - without --tap-by vlan the per-tap figures are not the truth's;
#   - the live daemon's store (`run -r`) gives the same figures;
#   - `capstream serve`'s /api/v1/feeds lists exactly the CLI's objects, with
#     and without the window; bad times and a missing store are errors.

F=$CS_TMP/feedsum
mkdir -p "$F"
python3 "$REPO/tools/gentrading.py" "$F/t.pcap" --truth "$F/t.jsonl" --seconds 0.3 --seed 8 \
    >/dev/null 2>&1
MOLD=moldudp64.ports=26477,26478,26500
CHECK=$REPO/tests/golden/feedsum_check.py

# feeds_equal STORE [--after NS --before NS]: `feeds --json` equals the
# figures of the capture and the truth over that window
feeds_equal() {
    local store=$1
    shift
    "$CS_BIN" feeds -d "$store" --json "$@" >"$F/got.jsonl" &&
        python3 "$CHECK" "$F/t.pcap" "$F/t.jsonl" "$F/got.jsonl" "$@"
}

"$CS_BIN" ingest -q -r "$F/t.pcap" -d "$F/s" --tap-by vlan --decoder-opt "$MOLD"
check "ingest --tap-by vlan: feeds equal the capture's and the truth's" feeds_equal "$F/s"
check_eq "six feeds: A, B and the retransmissions at each of two taps" 6 \
    "$(wc -l <"$F/got.jsonl")"

# A window from the later copy of a race near 100 ms (its earlier copy is
# outside) to the later copy of a race near 200 ms (its earlier one inside).
read -r AFTER BEFORE < <(python3 -c '
import json, sys
ab = sorted((d["req_ts_ns"], d["resp_ts_ns"]) for d in map(json.loads, open(sys.argv[1]))
            if d["kind"] == "ab")
pick = lambda t: next(r for q, r in ab if q >= t)
print(pick(ab[0][0] + 100_000_000), pick(ab[0][0] + 200_000_000))' "$F/t.jsonl")
check "feeds --after/--before: equal over a window cutting two races" \
    feeds_equal "$F/s" --after "$AFTER" --before "$BEFORE"
check "one ns more in --before takes a later copy in: no longer equal" \
    test "$(
        "$CS_BIN" feeds -d "$F/s" --json --after "$AFTER" --before $((BEFORE + 1)) >"$F/got1.jsonl"
        python3 "$CHECK" "$F/t.pcap" "$F/t.jsonl" "$F/got1.jsonl" --after "$AFTER" \
            --before "$BEFORE" >/dev/null
        echo $?
    )" = 1

"$CS_BIN" feeds -d "$F/s" --json >"$F/cli.jsonl"
"$CS_BIN" feeds -d "$F/s" >"$F/cli.txt"
check_eq "the text table: a header and one line per feed and tap, in order" \
    "$(python3 -c '
import json, sys
print("TAP FEED"); [print(d["tap"], d["feed"]) for d in map(json.loads, open(sys.argv[1]))]' \
        "$F/cli.jsonl")" "$(awk '{print $1, $2}' "$F/cli.txt")"
check "the text table shows each feed's figures" python3 - "$F/cli.jsonl" "$F/cli.txt" <<'PY'
import json, sys
rows = [l.split() for l in open(sys.argv[2])][1:]
for d, row in zip(map(json.loads, open(sys.argv[1])), rows):
    lead = [str(d["lead_ns"][k]) for k in ("p50", "p99", "max")] if d["lead_ns"] else ["-"] * 3
    want = [str(d["tap"]), d["feed"], d["session"][0], "yes" if d["retransmission"] else "no"] + \
        [str(d[k]) for k in ("packets", "data_packets", "heartbeats", "messages", "gaps",
                             "messages_lost", "races")] + ["%.2f" % (100 * d["races_won"] / (d["races"] or 1))] + \
        lead + ["(%d)" % d["busiest_ms"]["messages"]]
    got = row[:15] + row[16:]
    assert got == want, (got, want)
PY

"$CS_BIN" ingest -q -r "$F/t.pcap" -d "$F/s0" --decoder-opt "$MOLD"
check "without --tap-by vlan the per-tap figures are not the truth's" \
    test "$(feeds_equal "$F/s0" >/dev/null; echo $?)" = 1
check_eq "without --tap-by vlan both taps' copies are one feed at tap 0" "0 0 0" \
    "$("$CS_BIN" feeds -d "$F/s0" --json | python3 -c '
import json, sys; print(" ".join(str(json.loads(l)["tap"]) for l in sys.stdin))')"

daemon_start "$F/live" -r "$F/t.pcap" --tap-by vlan --decoder-opt "$MOLD"
daemon_stop "$RUN_PID"
check "the live daemon's store: feeds equal the capture's and the truth's" feeds_equal "$F/live"

# ---- GET /api/v1/feeds over `capstream serve` ------------------------------
SB_PORT=$(free_port)
SB=http://127.0.0.1:$SB_PORT
"$CS_BIN" serve -d "$F/s" --listen "127.0.0.1:$SB_PORT" >"$CS_TMP/serve.out" 2>"$CS_TMP/serve.err" &
SERVE_PID=$!
for _ in $(seq 100); do
    curl -sf "$SB/api/v1/status" >/dev/null 2>&1 && break
    sleep 0.1
done
# api_equal QUERY CLI.jsonl: the API's "feeds" are the CLI's JSON lines
api_equal() {
    curl -s --max-time 10 "$SB/api/v1/feeds$1" >"$F/api.json" &&
        python3 - "$F/api.json" "$2" <<'PY'
import json, sys
api = json.load(open(sys.argv[1]))["feeds"]
cli = [json.loads(l) for l in open(sys.argv[2])]
print("api: %d feeds, cli: %d, equal: %s" % (len(api), len(cli), api == cli))
sys.exit(0 if api == cli and cli else 1)
PY
}
"$CS_BIN" feeds -d "$F/s" --json --after "$AFTER" --before "$BEFORE" >"$F/cliw.jsonl"
check "GET /api/v1/feeds lists the CLI's objects" api_equal "" "$F/cli.jsonl"
check "GET /api/v1/feeds?after=&before= lists the CLI's objects over the window" \
    api_equal "?after=$AFTER&before=$BEFORE" "$F/cliw.jsonl"
check "the window's API reply is not the whole store's" \
    test "$(api_equal "?after=$AFTER&before=$BEFORE" "$F/cli.jsonl" >/dev/null; echo $?)" = 1
check_eq "GET /api/v1/feeds?after=bad is 400 naming after" "400 after" \
    "$(curl -s -o "$F/err.json" -w '%{http_code}' "$SB/api/v1/feeds?after=bad") $(python3 -c '
import json, sys; print(json.load(open(sys.argv[1]))["param"])' "$F/err.json")"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
check_eq "serve exits 0 on SIGTERM" 0 $?

check_fails "feeds --after with a bad time" "after: bad time" "$CS_BIN" feeds -d "$F/s" --after yesterday
check_fails "feeds of a missing store" "no store at" "$CS_BIN" feeds -d "$F/none"
check_fails "feeds without a store" "STORE is required" "$CS_BIN" feeds
check_fails "feeds with --after later than --before" "later than" \
    "$CS_BIN" feeds -d "$F/s" --after "$BEFORE" --before "$AFTER"

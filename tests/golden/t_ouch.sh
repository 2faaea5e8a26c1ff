# t_ouch.sh - SoupBinTCP 3.00 and OUCH 4.2/5.0 order entry against the
# ground truth of tools/gentrading.py (its truth is itself checked against
# tshark by t_gentrading.sh). The capture has logins, heartbeats,
# Enter/Cancel/Replace with Accepted, Rejected, Executed, Canceled and
# Replaced, unanswered orders, and TCP quirks (splits inside the length
# prefix, coalesced packets, reordered and retransmitted segments), seen at
# one tap, then at two taps (VLAN 101 and 102 on one merged capture).
# ouch_check.py requires, exactly and per tap: every SoupBinTCP packet one
# message with its connection, direction, type and first-byte time; every
# answered request one ouch measurement (key, times, latency, reply type);
# every unanswered one an unmatched request. Checked with the decoder bound
# to its ports, found by its probe, and added later by reanalyze to a store
# ingested without decoders; without --tap-by vlan the taps do not match;
# and the checker fails on a truth with one latency changed.

GENTRADING=$REPO/tools/gentrading.py
O=$CS_TMP/ouch
mkdir -p "$O"
python3 "$GENTRADING" "$O/t.pcap" --truth "$O/t.jsonl" --seconds 0.5 --seed 5 --taps 1 \
    >/dev/null 2>&1
python3 "$GENTRADING" "$O/two.pcap" --truth "$O/two.jsonl" --seconds 0.3 --seed 6 \
    >/dev/null 2>&1

"$CS_BIN" ingest -q -r "$O/t.pcap" -d "$O/ports" --tap-by vlan \
    --decoder-opt soupbintcp.ports=15000,15001
check "one tap, bound to its ports: capstream equals the truth" \
    python3 "$GOLDEN/ouch_check.py" "$CS_BIN" "$O/ports" "$O/t.jsonl"

"$CS_BIN" ingest -q -r "$O/t.pcap" -d "$O/probe" --tap-by vlan
check "one tap, found by its probe: capstream equals the truth" \
    python3 "$GOLDEN/ouch_check.py" "$CS_BIN" "$O/probe" "$O/t.jsonl"

"$CS_BIN" ingest -q -r "$O/two.pcap" -d "$O/two" --tap-by vlan
check "two taps: capstream equals the truth at each tap" \
    python3 "$GOLDEN/ouch_check.py" "$CS_BIN" "$O/two" "$O/two.jsonl"
"$CS_BIN" ingest -q -r "$O/two.pcap" -d "$O/notap"
check "two taps without --tap-by vlan: the taps differ from the truth" \
    test "$(python3 "$GOLDEN/ouch_check.py" "$CS_BIN" "$O/notap" "$O/two.jsonl" \
        >/dev/null; echo $?)" = 1

"$CS_BIN" ingest -q -r "$O/two.pcap" -d "$O/later" --decoders none
check_eq "no decoders: no ouch measurement" 0 \
    "$("$CS_BIN" latency -d "$O/later" --pair ouch --json | wc -l)"
check "reanalyze adds SoupBinTCP and OUCH" \
    "$CS_BIN" reanalyze -d "$O/later" --decoders soupbintcp,ouch --tap-by vlan
check "reanalyzed: capstream equals the truth at each tap" \
    python3 "$GOLDEN/ouch_check.py" "$CS_BIN" "$O/later" "$O/two.jsonl"
check_eq "--tap-by takes interface or vlan" 2 \
    "$("$CS_BIN" ingest -q -r "$O/t.pcap" -d "$O/bad" --tap-by port 2>/dev/null; echo $?)"

python3 - "$O/t.jsonl" "$O/doctored.jsonl" <<'PY'
import json, sys
out = []
done = False
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d["kind"] == "ouch" and not done:
        d["latency_ns"] += 1
        done = True
    out.append(json.dumps(d, sort_keys=True))
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
check "the checker fails on a truth with one latency changed" \
    test "$(python3 "$GOLDEN/ouch_check.py" "$CS_BIN" "$O/ports" "$O/doctored.jsonl" \
        >/dev/null; echo $?)" = 1

# The daemon's config file carries decoder options beside its alert rules
# ("decoder-opt NAME.KEY=VALUE", read at start); the command line's win.
# soupbintcp.payload=itch there turns the OUCH sessions into ITCH payload:
# no OUCH measurements, while the rule beside it is loaded.
count_ouch() { "$CS_BIN" latency -d "$1" --pair ouch --json | wc -l; }
printf '# rules and options\nitch_seen: proto=itch count > 0\ndecoder-opt soupbintcp.payload=itch  # not OUCH\n' \
    >"$O/run.conf"
daemon_start "$O/cfg" -r "$O/t.pcap" --tap-by vlan --config "$O/run.conf"
sleep 2.2 # two more ticks: the last windows are closed
fired=$(curl -s --max-time 5 "$B/api/v1/alerts" | python3 -c '
import json, sys
print(sum(e["rule"] == "itch_seen" and e["state"] == "fired" for e in json.load(sys.stdin)["alerts"]))')
daemon_stop "$RUN_PID"
check "config: the alert rule beside the decoder option is loaded and fires ($fired)" \
    test "${fired:-0}" -ge 1
check_eq "config: decoder-opt soupbintcp.payload=itch applies (no OUCH measurements)" 0 \
    "$(count_ouch "$O/cfg")"
daemon_start "$O/cfg2" -r "$O/t.pcap" --tap-by vlan --config "$O/run.conf" \
    --decoder-opt soupbintcp.payload=ouch
daemon_stop "$RUN_PID"
check "config: --decoder-opt on the command line wins over the file" \
    test "$(count_ouch "$O/cfg2")" -gt 0
printf 'ouch_slow: pair=ouch p99 > 1s\ndecoder-opt soupbintcp.nosuch=1\n' >"$O/bad.conf"
check_fails "config: a bad decoder option is an error naming its line" "bad.conf:2" \
    "$CS_BIN" run -r "$O/t.pcap" -d "$O/cfg3" --config "$O/bad.conf"

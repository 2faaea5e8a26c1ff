# t_reanalyze.sh - after `ingest --decoders none`, `reanalyze` yields exactly
# what a full ingest would have (same messages, measurements and ids);
# running it twice changes nothing; a time range replaces only its
# segments; the measurements equal the generator's ground truth.

python3 "$GENTRAFFIC" "$CS_TMP/g.pcap" --truth "$CS_TMP/g.truth" --seconds 0.3 --quirks \
    --seed 41 >/dev/null
full=$CS_TMP/full
late=$CS_TMP/late
"$CS_BIN" ingest -q -r "$CS_TMP/g.pcap" -d "$full" --segment-bytes 4M
"$CS_BIN" ingest -q -r "$CS_TMP/g.pcap" -d "$late" --segment-bytes 4M --decoders none

dump() { # everything the store decoded, in a stable order
    "$CS_BIN" latency -d "$1" --json | sort >"$2.lat"
    "$CS_BIN" messages -d "$1" --json | sort >"$2.msg"
    "$CS_BIN" latency -d "$1" --unmatched --json | sort >"$2.unm"
}

dump "$late" "$CS_TMP/before"
check_eq "packets-only ingest decoded nothing" 0 "$(cat "$CS_TMP/before.lat" "$CS_TMP/before.msg" | wc -l)"
check "reanalyze runs" "$CS_BIN" reanalyze -q -d "$late"
dump "$full" "$CS_TMP/full"
dump "$late" "$CS_TMP/re1"
check_eq "measurements found" 1 "$([ -s "$CS_TMP/full.lat" ] && echo 1)"
check "reanalyze measurements == full ingest" cmp -s "$CS_TMP/full.lat" "$CS_TMP/re1.lat"
check "reanalyze messages == full ingest" cmp -s "$CS_TMP/full.msg" "$CS_TMP/re1.msg"
check "reanalyze unmatched == full ingest" cmp -s "$CS_TMP/full.unm" "$CS_TMP/re1.unm"
check "second reanalyze runs" "$CS_BIN" reanalyze -q -d "$late"
dump "$late" "$CS_TMP/re2"
check "reanalyzing twice changes nothing" cmp -s "$CS_TMP/re1.lat" "$CS_TMP/re2.lat"
check "reanalyzing twice changes no message" cmp -s "$CS_TMP/re1.msg" "$CS_TMP/re2.msg"
check "measurements equal the ground truth" \
    python3 "$GOLDEN/truth_check.py" "$CS_TMP/re2.lat" "$CS_TMP/g.truth" --pairs fix,http,dns
# Only the segments of a range are replaced: reanalysing the last segment
# with the FIX decoder alone keeps every earlier segment's messages.
read -r min max < <("$CS_BIN" stats -d "$late" --json | python3 -c \
    'import json,sys; s=json.load(sys.stdin); print(s["min_ts_ns"], s["max_ts_ns"])')
check "reanalyze a range" "$CS_BIN" reanalyze -q -d "$late" --after "$max" --decoders fix
"$CS_BIN" messages -d "$late" --json --before "$((min + 1000000))" | sort >"$CS_TMP/early"
"$CS_BIN" messages -d "$full" --json --before "$((min + 1000000))" | sort >"$CS_TMP/early.full"
check "messages outside the range untouched" cmp -s "$CS_TMP/early" "$CS_TMP/early.full"
# ...and inside the range, the decoders that did not run keep their records.
for proto in http dns; do
    check_eq "$proto messages kept by a fix-only reanalysis" \
        "$("$CS_BIN" messages -d "$full" --proto $proto --json | wc -l)" \
        "$("$CS_BIN" messages -d "$late" --proto $proto --json | wc -l)"
done
check_eq "fix measurements after the fix-only reanalysis" \
    "$("$CS_BIN" latency -d "$full" --pair fix --json | sort | md5sum)" \
    "$("$CS_BIN" latency -d "$late" --pair fix --json | sort | md5sum)"
check_fails "reanalyze with a bad decoder" "unknown decoder" "$CS_BIN" reanalyze -d "$late" --decoders smtp
check_fails "reanalyze a missing store" "no store" "$CS_BIN" reanalyze -d "$CS_TMP/nope"

# Capture order on ties: the same traffic at microsecond resolution (two
# taps with --hop), where packets of different conversations share a
# timestamp. Reanalysing replays the packets in the order the tap saw
# them, as the full ingest read them: the same messages, with the same
# ids and times, and the same measurements.
python3 "$GENTRAFFIC" "$CS_TMP/h.pcap" --seconds 0.3 --quirks --hop --seed 43 >/dev/null
editcap -F pcap "$CS_TMP/h.pcap" "$CS_TMP/h-us.pcap"
"$CS_BIN" ingest -q -r "$CS_TMP/h-us.pcap" -d "$CS_TMP/fullus" --segment-bytes 4M
"$CS_BIN" ingest -q -r "$CS_TMP/h-us.pcap" -d "$CS_TMP/lateus" --segment-bytes 4M --decoders none
check "reanalyze the microsecond capture" "$CS_BIN" reanalyze -q -d "$CS_TMP/lateus"
"$CS_BIN" messages -d "$CS_TMP/fullus" --json >"$CS_TMP/us.full.msg"
"$CS_BIN" messages -d "$CS_TMP/lateus" --json >"$CS_TMP/us.re.msg"
check_eq "microsecond capture: messages found" 1 "$([ "$(wc -l <"$CS_TMP/us.full.msg")" -gt 1000 ] && echo 1)"
check "microsecond ties: reanalyzed messages == full ingest, in order" \
    cmp -s "$CS_TMP/us.full.msg" "$CS_TMP/us.re.msg"
check_eq "microsecond ties: reanalyzed measurements == full ingest" \
    "$("$CS_BIN" latency -d "$CS_TMP/fullus" --json | md5sum)" \
    "$("$CS_BIN" latency -d "$CS_TMP/lateus" --json | md5sum)"

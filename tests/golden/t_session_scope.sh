# t_session_scope.sh - one connection seen at two capture points
# (--decoder-opt NAME.scope=session), against the same traffic seen at one.
# tools/gentraffic.py writes FIX, HTTP and DNS at one point (VLAN-less);
# splittaps.py makes from it what two points see, as VLANs 10 and 20, read
# with --tap-by vlan:
#   - split (requests at 10, responses at 20, as a fibre tap's two monitor
#     ports): with scope=session the FIX, HTTP and DNS measurements are
#     those of the one-point capture, same keys and both capture times,
#     with tap 10 and resp_tap 20, none unanswered, none orphaned;
#     reanalyze gives them again; with the default scope (flow) none pair;
#   - mirror (both points see both directions; 20 nearer the server): each
#     point measures its own copies: tap 10 has the one-point measurements,
#     tap 20 each one 2 us shorter, none unanswered;
#   - mixed (20 sees the requests only): the measurements are the
#     one-point ones and the copies at 20 are not reported unanswered;
#   - the comparison fails when one response time of the reference changes;
#   - a scope other than flow or session is refused with a clear error.

S=$CS_TMP/scope
mkdir -p "$S"
python3 "$REPO/tools/gentraffic.py" "$S/t.pcap" --seconds 0.2 --seed 5 >/dev/null 2>&1
for mode in split mirror mixed; do
    python3 "$GOLDEN/splittaps.py" $mode "$S/t.pcap" "$S/$mode.pcap"
done
SESSION=(--tap-by vlan --decoder-opt fix.scope=session --decoder-opt http.scope=session
    --decoder-opt dns.scope=session)

# pairs STORE OUT: the store's FIX, HTTP and DNS measurements, one a line:
# pair key req_ts resp_ts tap resp_tap, tab-separated (keys hold spaces), sorted
pairs() {
    "$CS_BIN" latency -d "$1" --json --limit 100000000 | python3 -c '
import json, sys
for d in map(json.loads, sys.stdin):
    if d["pair"] in ("fix", "http", "dns"):
        print(d["pair"], d["key"], d["req_ts_ns"], d["resp_ts_ns"], d["tap"],
              d.get("resp_tap", d["tap"]), sep="\t")
' | sort >"$2"
}

# moved REF OUT TAP RESP_TAP SHIFT: REF's lines at taps TAP/RESP_TAP, the
# request SHIFT ns later and the response SHIFT ns earlier
moved() {
    python3 -c '
import sys
_, ref, tap, resp_tap, shift = sys.argv
for line in open(ref):
    pair, key, req, resp, _, _ = line.rstrip("\n").split("\t")
    print(pair, key, int(req) + int(shift), int(resp) - int(shift), tap, resp_tap, sep="\t")
' "$1" "$3" "$4" "$5" | sort >"$2"
}

unmatched() {
    "$CS_BIN" latency -d "$1" --unmatched --json --limit 100000000 | wc -l
}

"$CS_BIN" ingest -q -r "$S/t.pcap" -d "$S/one"
pairs "$S/one" "$S/one.txt"
check "the one-point capture has FIX, HTTP and DNS measurements" \
    test "$(cut -f1 "$S/one.txt" | sort -u | tr '\n' ' ')" = "dns fix http "
check_eq "the one-point capture has none unmatched" 0 "$(unmatched "$S/one")"

"$CS_BIN" ingest -q -r "$S/split.pcap" -d "$S/split" "${SESSION[@]}"
pairs "$S/split" "$S/split.txt"
moved "$S/one.txt" "$S/want_split.txt" 10 20 0
check "split, scope=session: the one-point measurements, tap 10 to 20" \
    cmp "$S/split.txt" "$S/want_split.txt"
check_eq "split, scope=session: none unanswered or orphaned" 0 "$(unmatched "$S/split")"
check "reanalyze runs with scope=session" "$CS_BIN" reanalyze -q -d "$S/split" "${SESSION[@]}"
pairs "$S/split" "$S/split2.txt"
check "reanalyzed: the same measurements" cmp "$S/split2.txt" "$S/want_split.txt"

"$CS_BIN" ingest -q -r "$S/split.pcap" -d "$S/flow" --tap-by vlan
pairs "$S/flow" "$S/flow.txt"
check_eq "split, default scope: no FIX, HTTP or DNS pairs" 0 "$(wc -l <"$S/flow.txt")"
check "split, default scope: the requests are unanswered" \
    test "$(unmatched "$S/flow")" -ge "$(wc -l <"$S/one.txt")"

"$CS_BIN" ingest -q -r "$S/mirror.pcap" -d "$S/mirror" "${SESSION[@]}"
pairs "$S/mirror" "$S/mirror.txt"
moved "$S/one.txt" "$S/want_20.txt" 20 20 1000
moved "$S/one.txt" "$S/want_10.txt" 10 10 0
sort "$S/want_10.txt" "$S/want_20.txt" >"$S/want_mirror.txt"
check "mirror: each point its own copies (tap 20: 2 us shorter)" \
    cmp "$S/mirror.txt" "$S/want_mirror.txt"
check_eq "mirror: none unanswered or orphaned" 0 "$(unmatched "$S/mirror")"

"$CS_BIN" ingest -q -r "$S/mixed.pcap" -d "$S/mixed" "${SESSION[@]}"
pairs "$S/mixed" "$S/mixed.txt"
check "mixed: the one-point measurements" cmp "$S/mixed.txt" "$S/want_10.txt"
check_eq "mixed: the requests seen only at 20 are not unanswered" 0 "$(unmatched "$S/mixed")"

sed '7s/\t\([0-9]*\)\t10\t20$/\t1\1\t10\t20/' "$S/want_split.txt" >"$S/doctored.txt"
check "the comparison fails on one response time changed" \
    bash -c '! cmp -s "$1" "$2"' _ "$S/split.txt" "$S/doctored.txt"
check_fails "scope=tap is refused with what scope may be" "scope is flow or session" \
    "$CS_BIN" ingest -q -r "$S/t.pcap" -d "$S/bad" --decoder-opt fix.scope=tap

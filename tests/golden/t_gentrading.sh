# t_gentrading.sh - the trading generator's ground truth is right, so the
# tests that compare capstream with it compare with facts: tools/gentrading.py
# writes the same bytes for the same seed; tshark reads its capture, and the
# MoldUDP64 sequence gaps per feed and tap, the re-request with its
# retransmission, and the SoupBinTCP packets by type per tap, connection and
# direction that tshark sees equal the truth (gentrading_check.py). The
# checker is shown to fail on a truth with one gap removed and on one with a
# SoupBinTCP packet retyped.

GENTRADING=$REPO/tools/gentrading.py
G=$CS_TMP/trading
mkdir -p "$G"

python3 "$GENTRADING" "$G/a.pcap" --truth "$G/a.jsonl" --seconds 0.3 --seed 3 >"$G/gen.out" 2>&1
python3 "$GENTRADING" "$G/b.pcap" --truth "$G/b.jsonl" --seconds 0.3 --seed 3 >/dev/null 2>&1
python3 "$GENTRADING" "$G/c.pcap" --truth "$G/c.jsonl" --seconds 0.3 --seed 4 >/dev/null 2>&1
check "same seed, same capture" cmp -s "$G/a.pcap" "$G/b.pcap"
check "same seed, same truth" cmp -s "$G/a.jsonl" "$G/b.jsonl"
check "another seed, another capture" test "$(cmp -s "$G/a.pcap" "$G/c.pcap"; echo $?)" = 1

wrote=$(sed -n 's/^wrote \([0-9]*\) packets.*/\1/p' "$G/gen.out")
read_back=$(tcpdump -r "$G/a.pcap" 2>/dev/null | wc -l)
check_eq "tcpdump reads every packet the generator says it wrote" "$wrote" "$read_back"

if ! command -v tshark >/dev/null 2>&1; then
    fail "tshark is needed to check the generator's truth (apt-get install tshark)"
else
    check "tshark agrees with the truth (gaps, re-requests, SoupBinTCP)" \
        python3 "$GOLDEN/gentrading_check.py" "$G/a.pcap" "$G/a.jsonl" "$G"
    # the checker can fail: one gap less, one SoupBinTCP packet retyped
    python3 - "$G/a.jsonl" "$G/nogap.jsonl" "$G/retyped.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
gap = next(i for i, l in enumerate(lines) if json.loads(l)["kind"] == "gap")
open(sys.argv[2], "w").write("\n".join(lines[:gap] + lines[gap + 1:]) + "\n")
soup = next(i for i, l in enumerate(lines) if json.loads(l)["kind"] == "soup")
d = json.loads(lines[soup])
d["type"] = "Z"
lines[soup] = json.dumps(d, sort_keys=True)
open(sys.argv[3], "w").write("\n".join(lines) + "\n")
PY
    check "the checker fails on a truth with one gap removed" \
        test "$(python3 "$GOLDEN/gentrading_check.py" "$G/a.pcap" "$G/nogap.jsonl" "$G" \
            >/dev/null; echo $?)" = 1
    check "the checker fails on a truth with a SoupBinTCP packet retyped" \
        test "$(python3 "$GOLDEN/gentrading_check.py" "$G/a.pcap" "$G/retyped.jsonl" "$G" \
            >/dev/null; echo $?)" = 1
fi

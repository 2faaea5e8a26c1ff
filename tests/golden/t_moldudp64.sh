# t_moldudp64.sh - MoldUDP64 + ITCH 5.0 end to end. tools/gentraffic.py
# writes ITCH over MoldUDP64 on UDP 26400 (--quirks drops packets: gaps;
# --hop: the same feed at two VLAN taps). `ingest` with
# --decoder-opt moldudp64.ports=26400 must give, for every MoldUDP64
# packet, the session, sequence number and count tshark's moldudp64
# dissector gives (matched by capture time), one ITCH message per block,
# and exactly the sequence gaps the feed has at each tap: a run of numbers
# missing when a packet of a tap (VLAN) as tshark reads them jumps past the
# next expected number; without --hop these are the generator's dropped
# ranges; with --hop the second tap also sees a few packets late
# (reordered behind the next one), reported as gaps like any receiver
# would, and the late packet does not move the expected number back. The probe alone (no ports
# option) must claim the same packets and no other UDP. Skips the tshark
# part, saying so, only if tshark is absent.

PY_CMP='
import collections, json, sys
cs = sys.argv[1]; ts = sys.argv[2]; gaps = sys.argv[3]; taps = int(sys.argv[4])
mine = []
for line in open(cs):
    r = json.loads(line)
    f = dict(r["fields"])
    mine.append((r["ts_ns"], f["session"], int(f["seq"]), int(f["count"])))
theirs = []
for line in open(ts):
    num, t, sess, seq, cnt, vlan = line.rstrip("\n").split("\t")
    sec, frac = t.split(".")
    theirs.append((int(sec) * 10**9 + int(frac.ljust(9, "0")), sess.strip(), int(seq), int(cnt), vlan))
theirs.sort()
theirs_tap = theirs
theirs = [x[:4] for x in theirs]
mine.sort()
assert len(theirs) > 1000, len(theirs)
assert mine == theirs, ("packets differ", len(mine), len(theirs),
                        [x for x in zip(mine, theirs) if x[0] != x[1]][:3])
# the feed'"'"'s gaps, per tap (VLAN): consecutive packets of a tap
expect = collections.Counter()
nxt = {}
for _, sess, seq, cnt, tap in theirs_tap:
    if tap in nxt and seq > nxt[tap]:
        expect[(sess, nxt[tap], seq - nxt[tap])] += 1
    nxt[tap] = max(nxt.get(tap, 0), seq + cnt)  # a late packet does not move it back
assert len(nxt) == taps, nxt
got = collections.Counter()
for line in open(gaps):
    g = json.loads(line)
    assert g["proto"] == "moldudp64", g
    if g["kind"] == "gap":  # (abgaps: numbers two flows of the session both missed)
        got[(g["session"], g["first_seq"], g["count"])] += 1
assert sum(expect.values()) > 0, "no gaps in the capture"
assert got == expect, ("gaps differ", sorted((got - expect).items())[:3], sorted((expect - got).items())[:3])
'

for hop in "" "--hop"; do
    taps=1
    [ -n "$hop" ] && taps=2
    name="quirks${hop}"
    python3 "$GENTRAFFIC" "$CS_TMP/$name.pcap" --seconds 0.5 --quirks $hop --seed 7 >/dev/null
    S=$CS_TMP/store$name
    check "ingest $name with moldudp64.ports=26400" \
        "$CS_BIN" ingest -q -r "$CS_TMP/$name.pcap" -d "$S" --decoder-opt moldudp64.ports=26400
    "$CS_BIN" messages -d "$S" --proto moldudp64 --json >"$CS_TMP/$name.mold.jsonl"
    "$CS_BIN" messages -d "$S" --proto itch --json >"$CS_TMP/$name.itch.jsonl"
    "$CS_BIN" gaps -d "$S" --json >"$CS_TMP/$name.gaps.jsonl"

    check "$name: one ITCH message per block, none flagged" python3 - \
        "$CS_TMP/$name.mold.jsonl" "$CS_TMP/$name.itch.jsonl" <<'PY'
import json, sys
blocks = sum(int(dict(json.loads(l)["fields"])["count"]) for l in open(sys.argv[1]))
itch = [json.loads(l) for l in open(sys.argv[2])]
assert blocks == len(itch) and blocks > 1000, (blocks, len(itch))
assert all(not m["flags"] and m["type"] in "AFEXDUCP" for m in itch), itch[:1]
ev = [m for m in itch if m["type"] in "ECXDU"]
assert ev and all("stock" in dict(m["fields"]) for m in ev[:50]), ev[:1]
PY

    if command -v tshark >/dev/null 2>&1; then
        tshark -r "$CS_TMP/$name.pcap" -d udp.port==26400,moldudp64 -Y moldudp64 -T fields \
            -e frame.number -e frame.time_epoch -e moldudp64.session -e moldudp64.sequence \
            -e moldudp64.count -e vlan.id >"$CS_TMP/$name.tshark.tsv" 2>/dev/null
        check "$name: session, seq, count of every packet and the gaps agree with tshark" \
            python3 -c "$PY_CMP" "$CS_TMP/$name.mold.jsonl" "$CS_TMP/$name.tshark.tsv" \
            "$CS_TMP/$name.gaps.jsonl" "$taps"
    else
        echo "t_moldudp64: tshark not installed: skipping the tshark comparison" >&2
    fi
done

# The probe alone: the same packets, and no other UDP flow claimed.
S=$CS_TMP/store-probe
check "ingest without a ports option" "$CS_BIN" ingest -q -r "$CS_TMP/quirks.pcap" -d "$S"
"$CS_BIN" messages -d "$S" --proto moldudp64 --json >"$CS_TMP/probe.mold.jsonl"
check "the probe claims every MoldUDP64 packet and nothing else" python3 - \
    "$CS_TMP/probe.mold.jsonl" "$CS_TMP/quirks.mold.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert all(m["dst"].endswith(":26400") for m in a), [m["dst"] for m in a if not m["dst"].endswith(":26400")][:3]
assert len(a) == len(b) > 1000, (len(a), len(b))
PY

# Bad input: a capture that is not one fails cleanly.
printf 'not a capture' >"$CS_TMP/bad.pcap"
check_fails "ingest of a non-capture fails" "not a capture" "$CS_BIN" ingest -q -r "$CS_TMP/bad.pcap" -d "$CS_TMP/sbad" \
    --decoder-opt moldudp64.ports=26400
check_fails "a bad ports option fails" "ports are" "$CS_BIN" ingest -q -r "$CS_TMP/quirks.pcap" -d "$CS_TMP/sbad2" \
    --decoder-opt moldudp64.ports=notaport

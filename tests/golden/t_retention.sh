# t_retention.sh - --max-bytes keeps the store within its budget by deleting
# the oldest segments, never one that a query is reading, and fills it to
# within one group; packet refs of the remaining segments stay valid.

python3 "$GENTRAFFIC" "$CS_TMP/r.pcap" --seconds 0.5 --seed 31 >/dev/null
S=$CS_TMP/store
"$CS_BIN" ingest -q -r "$CS_TMP/r.pcap" -d "$S" --segment-bytes 1M --max-bytes 8M
used=$("$CS_BIN" stats -d "$S" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["used_bytes"])')
check "store within budget ($used <= 8388608)" test "$used" -le 8388608
check "store kept several segments" test "$("$CS_BIN" stats -d "$S" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["segments"])')" -ge 4
# The budget is filled, not two thirds of it: with the default group size
# (a quarter of the budget when segment_bytes is larger), what is held is
# within one group of the budget, for two budgets.
for budget in 8 20; do
    B2=$CS_TMP/fill$budget
    "$CS_BIN" ingest -q -r "$CS_TMP/r.pcap" -d "$B2" --max-bytes ${budget}M
    held=$("$CS_BIN" stats -d "$B2" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["used_bytes"])')
    max=$((budget << 20))
    check "budget ${budget}M: held $held bytes, within one group ($((max / 4))) of $max" \
        test "$held" -le "$max" -a "$held" -gt $((max - max / 4))
    rm -rf "$B2"
done
# and with groups of --segment-bytes, within one of them
"$CS_BIN" ingest -q -r "$CS_TMP/r.pcap" -d "$CS_TMP/fill1" --segment-bytes 1M --max-bytes 12M
held=$("$CS_BIN" stats -d "$CS_TMP/fill1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["used_bytes"])')
check "budget 12M, 1M groups: held $held bytes, within 1M of the budget" \
    test "$held" -le $((12 << 20)) -a "$held" -gt $((11 << 20))
rm -rf "$CS_TMP/fill1"

# What is left is the newest part of the capture.
n=$("$CS_BIN" query -d "$S" --count)
"$CS_BIN" query -d "$S" -w "$CS_TMP/left.pcap"
python3 "$GOLDEN/pcaptail.py" "$CS_TMP/r.pcap" "$n" "$CS_TMP/tail.pcap"
check "retained packets are the newest ones" python3 "$GOLDEN/pcapcmp.py" "$CS_TMP/left.pcap" "$CS_TMP/tail.pcap"

# A segment being read is not deleted under its reader: hold a shared lock
# on the oldest segment (what a running query holds) while an ingest pushes
# the store over budget; that segment survives, younger ones go instead.
oldest=$(ls "$S"/packets/seg-*.pcap | head -n 1)
flock -s "$oldest" sleep 3 &
locker=$!
sleep 0.3
"$CS_BIN" ingest -q -r "$CS_TMP/r.pcap" -d "$S"
check "segment held by a reader survived retention" test -f "$oldest"
used=$("$CS_BIN" stats -d "$S" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["used_bytes"])')
check "store still near budget with one pinned segment ($used)" test "$used" -le $((8388608 + 2 * 1048576 + 65536))
wait "$locker"
# Released, it is the oldest again: the next push over budget deletes it first.
"$CS_BIN" ingest -q -r "$CS_TMP/r.pcap" -d "$S"
check "pinned segment deleted once released" test ! -f "$oldest"

# Messages and measurements have a budget of their own (remembered by the
# store, like --max-bytes): whole packet segments' message files go, oldest
# first, and what is left still reads back; packets are not touched by it.
M=$CS_TMP/mstore
"$CS_BIN" ingest -q -r "$CS_TMP/r.pcap" -d "$M" --segment-bytes 1M
full=$("$CS_BIN" stats -d "$M" --json)
"$CS_BIN" ingest -q -r "$CS_TMP/r.pcap" -d "$M" --max-message-bytes 400K
"$CS_BIN" ingest -q -r "$CS_TMP/r.pcap" -d "$M" # the budget is remembered
after=$("$CS_BIN" stats -d "$M" --json)
jf() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
check_eq "message budget remembered" 409600 "$(jf "$after" max_message_bytes)"
check "full store's messages exceed the budget ($(jf "$full" message_bytes))" \
    test "$(jf "$full" message_bytes)" -gt 409600
# within budget, give or take the two newest groups' files (message, measurement
# and gap files are one per segment group, so a group is what retention deletes)
check "messages within budget ($(jf "$after" message_bytes))" \
    test "$(jf "$after" message_bytes)" -le $((409600 + 2 * $(jf "$full" message_bytes) / $(jf "$full" groups)))
check_eq "packets untouched by the message budget" "$((3 * $(jf "$full" packets)))" \
    "$(jf "$after" packets)"
n_meas=$("$CS_BIN" latency -d "$M" --json | wc -l)
check_eq "latency reads every measurement left" "$(jf "$after" measurements)" "$n_meas"
check "the newest measurements are kept" test "$n_meas" -gt 0

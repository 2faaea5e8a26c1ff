# t_crash.sh - kill -9 during an ingest, at several moments; afterwards the
# store opens, every query answers, and what was stored before the kill is
# there: each conversation's stored packets are exactly the first packets
# of that conversation in the capture (a segment cut short is repaired and
# its index rebuilt from its packets; the flow partitions reach the disk
# separately, so they may be cut at different points). With one partition
# the stored packets are a prefix of the whole capture.

python3 "$GENTRAFFIC" "$CS_TMP/big.pcap" --seconds 1 --seed 21 --quirks >/dev/null
total=$(tcpdump -r "$CS_TMP/big.pcap" 2>/dev/null | wc -l)

# Feeds the capture slowly through a pipe so that kills land mid-ingest.
slow_cat() {
    python3 -c '
import sys, time
d = open(sys.argv[1], "rb").read()
try:
    for i in range(0, len(d), 1 << 16):
        sys.stdout.buffer.write(d[i:i + (1 << 16)])
        sys.stdout.flush()
        time.sleep(0.003)
except BrokenPipeError:
    pass
' "$1"
}

# crash_once GROUPS PARTITIONS: kill -9 once that many groups of segments
# have been closed (their indexes written) in a store of that many
# partitions.
crash_once() {
    local want=$1 parts=$2 store=$CS_TMP/crash.$1.$2 n pid i
    rm -rf "$store"
    slow_cat "$CS_TMP/big.pcap" |
        "$CS_BIN" ingest -q -r - -d "$store" --segment-bytes 1M --partitions "$parts" &
    pid=$!
    for i in $(seq 1 2000); do
        [ "$(ls "$store"/packets/seg-*.idx 2>/dev/null | sed 's/.*seg-0*//; s/\.idx//' |
            awk -v p="$parts" '{ g[int(($1 - 1) / p)] = 1 } END { print length(g) }')" -ge "$want" ] &&
            break
        sleep 0.01
    done
    sleep 0.0$((RANDOM % 10))
    pkill -9 -f "ingest -q -r - -d $store"
    wait "$pid" 2>/dev/null
    if ! "$CS_BIN" stats -d "$store" --json >"$CS_TMP/stats.json" 2>"$CS_TMP/err"; then
        fail "stats after kill at segment $want ($parts partitions): $(cat "$CS_TMP/err")"
        return
    fi
    pass
    n=$("$CS_BIN" query -d "$store" --count 2>"$CS_TMP/err")
    if ! [[ "$n" =~ ^[0-9]+$ ]]; then
        fail "count after kill at segment $want: $(cat "$CS_TMP/err")"
        return
    fi
    check "kill at segment $want landed mid-ingest ($n of $total stored)" test "$n" -lt "$total"
    # The stored packets are the first n packets of the capture (n may be 0
    # when the kill came before the first buffer reached the disk).
    "$CS_BIN" query -d "$store" -w "$CS_TMP/after.pcap"
    if [ "$n" -eq 0 ]; then
        check_eq "nothing stored, nothing served (kill at segment $want)" 24 \
            "$(stat -c %s "$CS_TMP/after.pcap")"
    elif [ "$parts" -eq 1 ]; then
        tcpdump --time-stamp-precision=nano -r "$CS_TMP/big.pcap" -c "$n" \
            -w "$CS_TMP/prefix.pcap" 2>/dev/null
        check "stored packets are the capture's prefix (kill at segment $want, $n packets)" \
            python3 "$GOLDEN/pcapcmp.py" "$CS_TMP/after.pcap" "$CS_TMP/prefix.pcap"
    else
        check "each conversation's stored packets are its first ones (kill after group $want of $parts partitions, $n packets)" \
            python3 "$GOLDEN/flowprefix.py" "$CS_TMP/after.pcap" "$CS_TMP/big.pcap"
    fi
    check "filtered query after kill at segment $want" \
        "$CS_BIN" query -d "$store" --count "tcp and port 9878"
    # A new ingest appends after the repaired segments.
    check "ingest after the crash" "$CS_BIN" ingest -q -r "$PCAPS/zeek/http/get.pcap" -d "$store"
    n2=$("$CS_BIN" query -d "$store" --count)
    check_eq "count after the crash plus 14 packets" "$((n + 14))" "$n2"
}

for k in 1 3 8; do
    crash_once "$k" 64
done
crash_once 2 1

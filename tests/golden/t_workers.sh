# t_workers.sh - the analysis on several threads (--workers N) gives what
# one analyzer gives, byte for byte: every record file of the message
# store (messages, measurements, unmatched reports, gaps; ids, order and
# times included) and the counts of the summary, for ingest and for
# reanalyze, over the generators' traffic (FIX, HTTP, DNS over UDP and
# TCP, MoldUDP64/ITCH with A/B feeds and gaps, OUCH, two taps, hops,
# tick-to-trade, timestamp trailers, TCP quirks) and every real capture
# in tests/pcaps. The daemon (`run -r FILE --workers 2`) serves what
# `run` with one analyzer serves (records, feeds, gaps, per-second
# metrics, alerts, status) and, replaying in real time, answers every
# query within a second of a record's packet (live_poll.py). A bad
# --workers is a usage error.

GENTRADING=$REPO/tools/gentrading.py
W=$CS_TMP/w
mkdir -p "$W"

# same_store NAME A B: the message stores of A and B hold the same files
# with the same bytes.
same_store() {
    local name=$1 a=$2/messages b=$3/messages f
    if [ "$(cd "$a" && ls | sort)" != "$(cd "$b" && ls | sort)" ]; then
        echo "  $name: files differ: $(cd "$a" && ls | tr '\n' ' ') / $(cd "$b" && ls | tr '\n' ' ')" >&2
        return 1
    fi
    for f in $(cd "$a" && ls); do
        if ! cmp -s "$a/$f" "$b/$f"; then
            echo "  $name: $f differs" >&2
            return 1
        fi
    done
}

# decoded_line STORE-LOG: the ingest summary's analysis line
decoded_line() { grep '^decoded' "$1"; }

python3 "$GENTRAFFIC" "$W/mix.pcap" --seconds 0.5 --seed 11 --hop --quirks >/dev/null
python3 "$GENTRAFFIC" "$W/dnstcp.pcap" --dns-tcp >/dev/null
# flows idling out: a capture of many HTTP connections, several still
# holding messages, then one packet 400 s after its last, at which every
# flow idles out (300 s) in every worker at once (merged by LRU order)
python3 - "$PCAPS/ndpi/1kxun.pcap" "$W/idle.pcap" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
off, last, first = 24, 0, None
while off + 16 <= len(data):
    sec, n = struct.unpack_from("<I", data, off)[0], struct.unpack_from("<I", data, off + 8)[0]
    first = first or data[off:off + 16 + n]
    last = max(last, sec)
    off += 16 + n
late = struct.pack("<I", last + 400) + first[4:]
open(sys.argv[2], "wb").write(data[:off] + late)
PY
python3 "$GENTRADING" "$W/trade.pcap" --seconds 0.5 --taps 2 --seed 5 >/dev/null
python3 "$GENTRADING" "$W/trailer.pcap" --seconds 0.3 --seed 6 --trailer metamako >/dev/null

for input in mix dnstcp trade idle; do
    opts=()
    [ "$input" = trade ] && opts=(--tap-by vlan) # its two taps are VLANs
    "$CS_BIN" ingest -r "$W/$input.pcap" -d "$W/$input.1" "${opts[@]}" >"$W/$input.1.log" 2>&1
    check_eq "$input: records made" 1 "$([ -s "$W/$input.1/messages/msg-00000001.bin" ] && echo 1)"
    for n in 2 3; do
        check "$input: ingest --workers $n" \
            "$CS_BIN" ingest -r "$W/$input.pcap" -d "$W/$input.$n" --workers $n "${opts[@]}" \
            >"$W/$input.$n.log" 2>&1
        check "$input: --workers $n stores what one analyzer stores" \
            same_store "$input/$n" "$W/$input.1" "$W/$input.$n"
        check_eq "$input: --workers $n counts what one analyzer counts" \
            "$(decoded_line "$W/$input.1.log")" "$(decoded_line "$W/$input.$n.log")"
    done
done
check_eq "trade: A/B races, hops and tick-to-trade among the records" 3 \
    "$("$CS_BIN" latency -d "$W/trade.2" --json | python3 -c '
import json, sys
pairs = {json.loads(l)["pair"] for l in sys.stdin}
print(len(pairs & {"ab", "hop", "t2t"}))')"

# timestamp trailers name the taps and the times
tr="--time-source trailer:metamako --tap-by trailer"
"$CS_BIN" ingest -q -r "$W/trailer.pcap" -d "$W/tr.1" $tr
check "trailers: ingest --workers 2" "$CS_BIN" ingest -q -r "$W/trailer.pcap" -d "$W/tr.2" \
    --workers 2 $tr
check "trailers: --workers 2 stores what one analyzer stores" same_store tr "$W/tr.1" "$W/tr.2"

# reanalyze: packets stored first, decoded later on 2 threads
"$CS_BIN" ingest -q -r "$W/mix.pcap" -d "$W/re.1" --decoders none
cp -a "$W/re.1" "$W/re.2"
"$CS_BIN" reanalyze -q -d "$W/re.1"
check "reanalyze --workers 2" "$CS_BIN" reanalyze -q -d "$W/re.2" --workers 2
check "reanalyze: --workers 2 stores what one analyzer stores" same_store re "$W/re.1" "$W/re.2"
"$CS_BIN" messages -d "$W/re.2" --json | sort >"$W/re.2.msg"
"$CS_BIN" messages -d "$W/mix.1" --json | sort >"$W/mix.1.msg"
check "reanalyze --workers 2: the messages of a full ingest" cmp -s "$W/mix.1.msg" "$W/re.2.msg"

# every real capture of tests/pcaps, on 3 threads
differ=0
n_pcaps=0
while IFS= read -r f; do
    n_pcaps=$((n_pcaps + 1))
    rm -rf "$W/p.1" "$W/p.3"
    "$CS_BIN" ingest -q -r "$f" -d "$W/p.1" >/dev/null 2>&1
    rc1=$?
    "$CS_BIN" ingest -q -r "$f" -d "$W/p.3" --workers 3 >/dev/null 2>&1
    rc3=$?
    if [ "$rc1" != "$rc3" ] || { [ -d "$W/p.1/messages" ] && ! same_store "$f" "$W/p.1" "$W/p.3"; }; then
        differ=$((differ + 1))
        echo "  $f: --workers 3 differs (exit $rc1 / $rc3)" >&2
    fi
done < <(find "$PCAPS" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) | sort)
check_eq "real captures read" 1 "$([ "$n_pcaps" -ge 50 ] && echo 1)"
check_eq "real captures: --workers 3 stores what one analyzer stores" 0 "$differ"

# the daemon: a fast replay with 1 and 2 workers, the API compared while
# it serves
api_sum() { curl -s --max-time 10 "http://127.0.0.1:$1/api/v1/$2" | md5sum; }
declare -A PORTS
for n in 1 2; do
    daemon_start "$W/run.$n" -r "$W/trade.pcap" --tap-by vlan --workers $n
    PORTS[$n]=$PORT
    eval "RUN_PID_$n=$RUN_PID"
    cp "$CS_TMP/run.err" "$W/run.$n.err"
done
sleep 1.2 # a tick past the replay's end
status_of() {
    curl -s "http://127.0.0.1:$1/api/v1/status" | python3 -c '
import json, sys
s = json.load(sys.stdin)
for k in ("uptime_s", "started_ns"):
    s.pop(k)
s["store"].pop("index_bytes") # the open segments checkpoint their index as time allows
print(json.dumps(s, sort_keys=True))'
}
check_eq "run --workers 2: the replay is done" 1 \
    "$(status_of "${PORTS[2]}" | grep -c '"capturing": false')"
check_eq "run --workers 2: the status of one analyzer" "$(status_of "${PORTS[1]}")" \
    "$(status_of "${PORTS[2]}")"
for q in "measurements?limit=1000" "measurements?limit=1000&pair=ab" \
    "measurements?limit=1000&pair=t2t" "messages?limit=1000&proto=itch" "feeds" "gaps" "sessions" "alerts" "series" \
    "metrics?series=pair:ab" "metrics?series=pair:t2t" "metrics?series=pair:hop" \
    "metrics?series=capture" "metrics?series=tap:101"; do
    check_eq "run --workers 2: /api/v1/$q as one analyzer's" "$(api_sum "${PORTS[1]}" "$q")" \
        "$(api_sum "${PORTS[2]}" "$q")"
done
for n in 1 2; do
    daemon_stop "$(eval echo "\$RUN_PID_$n")"
done
# trailers: the status counts the packets they timed, as one analyzer does
for n in 1 2; do
    daemon_start "$W/runtr.$n" -r "$W/trailer.pcap" $tr --workers $n
    PORTS[$n]=$PORT
    eval "RUN_PID_$n=$RUN_PID"
done
sleep 1.2
check_eq "run --workers 2, trailers: packets timed" 1 \
    "$(status_of "${PORTS[2]}" | grep -c '"trailer_timed": [1-9]')"
check_eq "run --workers 2, trailers: the status of one analyzer" "$(status_of "${PORTS[1]}")" \
    "$(status_of "${PORTS[2]}")"
for n in 1 2; do
    daemon_stop "$(eval echo "\$RUN_PID_$n")"
done
"$CS_BIN" latency -d "$W/trade.1" --json >"$W/ingest.lat"
"$CS_BIN" latency -d "$W/run.2" --json >"$W/run.2.lat"
check "run --workers 2: the measurements of ingest, ids and order included" \
    cmp -s "$W/ingest.lat" "$W/run.2.lat"

# a real-time replay with 2 workers: queryable within a second while it runs
live_poll_test "$W/lq" 20 12 --workers 2

for bad in 0 65 two -1; do
    check_fails "--workers $bad refused" "workers" \
        "$CS_BIN" ingest -r "$W/dnstcp.pcap" -d "$W/bad" --workers "$bad"
done
check_fails "run --workers 0 refused" "workers" "$CS_BIN" run -r "$W/dnstcp.pcap" -d "$W/bad" \
    --workers 0

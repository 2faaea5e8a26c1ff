# t_query_equiv.sh - `capstream query` returns exactly the packets that
# `tcpdump -r ORIGINAL FILTER` keeps, in the capture's order (ties of
# timestamps and timestamps that go backwards included) with identical
# bytes and nanosecond timestamps, for many filters and time bounds, on
# real captures and on generated trading traffic, also written at
# microsecond resolution with two taps, where packets of different
# conversations share a timestamp. Stores use small segments so that
# queries cross segment boundaries. A store filled by two ingests merges
# them by time (compared with mergecap's merge, ties as sets).
#
# Not here: tcpdump/timestamp_invalid_*.pcap, whose fraction fields are out
# of range (2^31 microseconds). libpcap 1.10 reads them as signed numbers and
# tcpdump prints garbage times; capstream reads them as the format defines
# (unsigned) and keeps the instant they denote. tests/unit/test_capfile.c
# covers those files.

REAL="zeek/http/get.pcap zeek/http-vlan-0.pcap zeek/http-qinq-0.pcap zeek/q-in-q.pcap
zeek/mixed-vlan-mpls.pcap zeek/dns53.pcap zeek/http/1000-requests-one-dropped-response.pcap
ndpi/dns_fragmented.pcap ndpi/fix2.pcap tcpdump/802.1ad_QinQ.pcap zeek/linux_dlt_sll2.pcap
tcpdump/LINKTYPE_RAW_ipv6.pcap ndpi/nano.pcapng tcpdump/tcp-handshake-nano.pcap
zeek/ipv6-http-atomic-frag.pcap zeek/snap-tcp.pcap
ndpi/1kxun.pcap"

FILTERS=(
    ""
    "tcp"
    "udp"
    "ip"
    "ip6"
    "icmp"
    "not tcp"
    "host 10.1.0.13"
    "src host 10.2.0.1"
    "dst host 10.2.0.1"
    "net 10.1.0.0/16"
    "dst net 239.0.0.0/8"
    "port 80"
    "src port 53"
    "dst port 8080 or dst port 80"
    "portrange 40000-40004"
    "tcp and port 9878"
    "host 10.1.0.13 and port 40003"
    "udp and not port 53"
    "proto 17"
    "ip6 and tcp"
    "vlan"
    "vlan 101"
    "vlan and host 10.1.0.11"
    "tcp[tcpflags] & tcp-syn != 0"
    "greater 1000"
    "host 192.168.1.1 or host 10.5.255.53"
    "not (tcp or udp)"
    "ether broadcast"
)

# equiv STORE ORIGINAL FILTER [AFTER BEFORE]: runs both tools; the pair of
# outputs is compared at the end, all at once (one python start, not 600).
MANIFEST=$CS_TMP/manifest
: >"$MANIFEST"
NCMP=0
equiv() {
    local store=$1 orig=$2 filter=$3 after=${4:-} before=${5:-}
    local targs=() ours ref
    NCMP=$((NCMP + 1))
    ours=$CS_TMP/ours.$NCMP.pcap
    ref=$CS_TMP/ref.$NCMP.pcap
    if [ -n "$after" ]; then
        targs=(--after "$after" --before "$before")
    fi
    if ! "$CS_BIN" query -d "$store" "${targs[@]}" -w "$ours" $filter 2>"$CS_TMP/qerr"; then
        fail "query '$filter' on $orig: $(cat "$CS_TMP/qerr")"
        return
    fi
    if ! tcpdump --time-stamp-precision=nano -r "$orig" -w "$ref" $filter 2>/dev/null; then
        fail "tcpdump rejected '$filter' on $orig"
        return
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$ours" "$ref" "${after:--9223372036854775808}" \
        "${before:-9223372036854775807}" "${EQUIV_MODE:-exact}" \
        "query '$filter' ${targs[*]} on $(basename "$orig")" >>"$MANIFEST"
}

compare_all() {
    local counts p f
    counts=$(python3 "$GOLDEN/pcapcmp.py" --batch "$MANIFEST" | tail -n 1)
    p=${counts%% passed*}
    f=${counts#*passed, }
    f=${f%% failed*}
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    rm -f "$CS_TMP"/ours.*.pcap "$CS_TMP"/ref.*.pcap
    : >"$MANIFEST"
}

span_of() { # prints min_ts max_ts of a store
    "$CS_BIN" stats -d "$1" --json | python3 -c \
        'import json,sys; s=json.load(sys.stdin); print(s["min_ts_ns"], s["max_ts_ns"])'
}

run_file() {
    local orig=$1 store=$CS_TMP/store.$2 min max third
    rm -rf "$store"
    if ! "$CS_BIN" ingest -q -r "$orig" -d "$store" --segment-bytes 64K 2>"$CS_TMP/ierr"; then
        fail "ingest $orig: $(cat "$CS_TMP/ierr")"
        return
    fi
    for f in "${FILTERS[@]}"; do
        # tcpdump rejects some filters on some link types; so must we
        if ! tcpdump -r "$orig" -w /dev/null $f >/dev/null 2>&1; then
            check_fails "bad-for-linktype filter '$f' on $orig" "filter" \
                "$CS_BIN" query -d "$store" --count $f
            continue
        fi
        equiv "$store" "$orig" "$f"
    done
    read -r min max < <(span_of "$store")
    third=$(((max - min) / 3))
    equiv "$store" "$orig" "" "$((min + third))" "$((max - third))"
    equiv "$store" "$orig" "tcp" "$((min + third))" "$((max - third))"
    equiv "$store" "$orig" "" "$min" "$((min + 1))"
    equiv "$store" "$orig" "udp or icmp" "$((min + third))" "$max"
}

python3 "$GENTRAFFIC" "$CS_TMP/gen.pcap" --seconds 0.3 --quirks --hop --seed 11 >/dev/null
run_file "$CS_TMP/gen.pcap" gen
compare_all
# The same traffic at microsecond resolution: two taps (--hop) and ties
# across conversations.
editcap -F pcap "$CS_TMP/gen.pcap" "$CS_TMP/gen-us.pcap"
ties=$(tcpdump -tt -r "$CS_TMP/gen-us.pcap" 2>/dev/null | awk '{print $1}' | uniq -d | wc -l)
check_eq "the microsecond capture has ties" 1 "$([ "$ties" -gt 100 ] && echo 1)"
run_file "$CS_TMP/gen-us.pcap" genus
compare_all
i=0
for f in $REAL; do
    i=$((i + 1))
    run_file "$PCAPS/$f" "$i"
    compare_all
done

# Two ingests into one store: queries span both, ordered by time.
python3 "$GENTRAFFIC" "$CS_TMP/gen2.pcap" --seconds 0.1 --seed 12 --t0 1767623500 >/dev/null
rm -rf "$CS_TMP/both"
"$CS_BIN" ingest -q -r "$CS_TMP/gen2.pcap" -d "$CS_TMP/both" --segment-bytes 256K
"$CS_BIN" ingest -q -r "$CS_TMP/gen.pcap" -d "$CS_TMP/both"
mergecap -F nsecpcap -w "$CS_TMP/merged.pcap" "$CS_TMP/gen.pcap" "$CS_TMP/gen2.pcap"
EQUIV_MODE=time-merge equiv "$CS_TMP/both" "$CS_TMP/merged.pcap" "host 10.1.0.13 and port 40003"
EQUIV_MODE=time-merge equiv "$CS_TMP/both" "$CS_TMP/merged.pcap" "udp"
compare_all
count=$("$CS_BIN" query -d "$CS_TMP/both" --count)
expected=$(($(tcpdump -r "$CS_TMP/gen.pcap" 2>/dev/null | wc -l) + $(tcpdump -r "$CS_TMP/gen2.pcap" 2>/dev/null | wc -l)))
check_eq "count over two ingests" "$expected" "$count"

# t_linktypes.sh - a store keeps packets of every link type, and answers
# BPF queries on them exactly like tcpdump; `query` takes its options after
# the filter too, as tcpdump users type them.
#
# Captures come from tools/genwifi.py: 802.11 (LINKTYPE 105), radiotap
# (127) and a pcapng whose Ethernet and 802.11 interfaces interleave packet
# by packet. capstream cannot dissect 802.11, so every such packet must be
# stored, counted as undissected (never as an error), and every filter
# answered by running libpcap's program on it: the index cannot speak for
# these packets.

GENTRAFFIC_WIFI=$REPO/tools/genwifi.py

WIFI_FILTERS=(
    ""
    "type mgt"
    "type data"
    "type data subtype qos-data"
    "subtype beacon"
    "subtype probe-req"
    "wlan host 02:00:00:00:b0:01"
    "wlan addr1 02:00:00:00:a0:01"
    "wlan addr2 02:00:00:00:b0:02"
    "wlan src 02:00:00:00:a0:01"
    "ether host 02:00:00:00:b0:03"
    "host 10.9.0.1"
    "host 192.168.7.12"
    "src host 192.168.7.11 and udp"
    "tcp port 41234"
    "udp"
    "not ip"
    "ip and not tcp"
    "port 50002 or subtype beacon"
    "greater 100"
)

MANIFEST=$CS_TMP/manifest
: >"$MANIFEST"
NCMP=0

# equiv STORE ORIGINAL FILTER: the query's pcap and tcpdump's, queued for
# pcapcmp.py (timestamps, lengths, bytes, order).
equiv() {
    local store=$1 orig=$2 filter=$3 ours ref
    NCMP=$((NCMP + 1))
    ours=$CS_TMP/ours.$NCMP.pcap
    ref=$CS_TMP/ref.$NCMP.pcap
    if ! "$CS_BIN" query -d "$store" -w "$ours" $filter 2>"$CS_TMP/qerr"; then
        fail "query '$filter' on $orig: $(cat "$CS_TMP/qerr")"
        return
    fi
    if ! tcpdump --time-stamp-precision=nano -r "$orig" -w "$ref" $filter 2>/dev/null; then
        fail "tcpdump rejected '$filter' on $orig"
        return
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$ours" "$ref" -9223372036854775808 9223372036854775807 \
        exact "query '$filter' on $(basename "$orig")" >>"$MANIFEST"
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

# linktype_of PCAP: the link type field of a classic pcap's header.
linktype_of() {
    python3 -c 'import struct,sys; print(struct.unpack("<I", open(sys.argv[1],"rb").read()[20:24])[0])' "$1"
}

# ---- 802.11 and radiotap captures, stored and queried like tcpdump ----
for link in 80211 radiotap; do
    orig=$CS_TMP/$link.pcap
    store=$CS_TMP/store.$link
    python3 "$GENTRAFFIC_WIFI" "$orig" --link "$link" --frames 600 --seed 3 >/dev/null
    check "tcpdump reads the $link capture" tcpdump -r "$orig" -w /dev/null 2>/dev/null
    if command -v tshark >/dev/null; then
        check_eq "tshark finds nothing malformed in the $link capture" 0 \
            "$(tshark -r "$orig" -Y '_ws.malformed or _ws.expert.severity >= warning' 2>/dev/null | wc -l)"
    fi
    if ! "$CS_BIN" ingest -r "$orig" -d "$store" --segment-bytes 16K --partitions 4 \
        >"$CS_TMP/ingest.out" 2>"$CS_TMP/ingest.err"; then
        fail "ingest of the $link capture: $(cat "$CS_TMP/ingest.err")"
        continue
    fi
    check_eq "ingest of $link writes nothing on stderr" "" "$(cat "$CS_TMP/ingest.err")"
    want=$([ "$link" = 80211 ] && echo 105 || echo 127)
    check "ingest summary counts the $link packets as undissected" \
        grep -q "600 packets not dissected (link type $want: 600)" "$CS_TMP/ingest.out"
    check_eq "stats counts the $link packets as undissected" "600" \
        "$("$CS_BIN" stats -d "$store" --json | python3 -c \
            'import json,sys; print(json.load(sys.stdin)["undissected"]["'$want'"])')"
    check_eq "every $link packet is stored" 600 "$("$CS_BIN" query -d "$store" --count)"
    "$CS_BIN" query -d "$store" -w "$CS_TMP/all.pcap"
    check_eq "the $link store's pcap keeps link type $want" "$want" "$(linktype_of "$CS_TMP/all.pcap")"
    "$CS_BIN" query -d "$store" -w "$CS_TMP/none.pcap" "host 10.77.0.1"
    check_eq "an empty result on $link is an empty pcap of link type $want" "$want" \
        "$(linktype_of "$CS_TMP/none.pcap")"
    for f in "${WIFI_FILTERS[@]}"; do
        equiv "$store" "$orig" "$f"
    done
    check_fails "a filter bad on $link is refused" "filter" \
        "$CS_BIN" query -d "$store" --count "wlan frobnicate"
    compare_all
done

# ---- Ethernet and 802.11 interleaved in one pcapng ----
mixed=$CS_TMP/mixed.pcapng
python3 "$GENTRAFFIC_WIFI" "$mixed" --link mixed --frames 600 --seed 4 --split "$CS_TMP/part" \
    >/dev/null
store=$CS_TMP/store.mixed
if "$CS_BIN" ingest -r "$mixed" -d "$store" --partitions 4 >"$CS_TMP/ingest.out" \
    2>"$CS_TMP/ingest.err"; then
    pass
    check "mixed ingest counts only the 802.11 packets as undissected" \
        grep -q "600 packets not dissected (link type 105: 600)" "$CS_TMP/ingest.out"
    # one open group per link type: 2 groups, not one per change of link type
    check_eq "interleaved link types make one group each" 2 \
        "$("$CS_BIN" stats -d "$store" --json | python3 -c \
            'import json,sys; print(json.load(sys.stdin)["groups"])')"
    rm -rf "$store.1"
    "$CS_BIN" ingest -q -r "$mixed" -d "$store.1" --partitions 1
    check_eq "... with one partition too" 2 \
        "$("$CS_BIN" stats -d "$store.1" --json | python3 -c \
            'import json,sys; print(json.load(sys.stdin)["groups"])')"
    check_eq "every packet of the mixed capture is stored" 1200 \
        "$("$CS_BIN" query -d "$store" --count)"
    # tcpdump refuses interfaces of different link types: the reference for
    # each link type is its interface's packets, written apart by genwifi.py
    if command -v tshark >/dev/null; then
        check_eq "the split-out 802.11 packets are the pcapng's interface 1" \
            "$(tshark -r "$mixed" -Y 'frame.interface_id == 1' -T fields -e frame.time_epoch \
                -e frame.len 2>/dev/null | md5sum)" \
            "$(tshark -r "$CS_TMP/part.wifi.pcap" -T fields -e frame.time_epoch -e frame.len \
                2>/dev/null | md5sum)"
    fi
    equiv "$store" "$CS_TMP/part.wifi.pcap" "type mgt"
    equiv "$store" "$CS_TMP/part.wifi.pcap" "wlan host 02:00:00:00:b0:02"
    equiv "$store" "$CS_TMP/part.eth.pcap" "ether src 02:00:00:00:d0:01"
    compare_all
    # a filter that means something on both link types answers on both
    for f in "ether broadcast" "udp"; do
        check_eq "'$f' counts the packets of both link types" \
            "$(($(tcpdump -r "$CS_TMP/part.eth.pcap" $f 2>/dev/null | wc -l) + \
                $(tcpdump -r "$CS_TMP/part.wifi.pcap" $f 2>/dev/null | wc -l)))" \
            "$("$CS_BIN" query -d "$store" --count $f)"
    done
    # a filter meaning something on both: one pcap cannot hold both link types
    check_fails "a result mixing link types is refused, not garbled" "link types" \
        "$CS_BIN" query -d "$store" -w "$CS_TMP/both.pcap" "udp"
else
    fail "ingest of the mixed capture: $(cat "$CS_TMP/ingest.err")"
fi

# ---- options after the filter (the README's own example) ----
store=$CS_TMP/store.opts
python3 "$GENTRAFFIC" "$CS_TMP/gen.pcap" --seconds 0.2 --seed 5 >/dev/null
"$CS_BIN" ingest -q -r "$CS_TMP/gen.pcap" -d "$store"
"$CS_BIN" query -d "$store" 'host 10.1.0.13 and port 40003' -w "$CS_TMP/after.pcap" \
    >"$CS_TMP/stdout" 2>"$CS_TMP/stderr"
check_eq "-w after the filter: exit 0, nothing on stdout or stderr" "0 0 0" \
    "$? $(wc -c <"$CS_TMP/stdout") $(wc -c <"$CS_TMP/stderr")"
equiv "$store" "$CS_TMP/gen.pcap" "host 10.1.0.13 and port 40003"
if [ -f "$CS_TMP/after.pcap" ]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$CS_TMP/after.pcap" "$CS_TMP/ref.$NCMP.pcap" \
        -9223372036854775808 9223372036854775807 exact "-w after the filter" >>"$MANIFEST"
else
    fail "-w after the filter wrote no file"
fi
compare_all
check_eq "options between and after the filter's words" \
    "$(tcpdump -r "$CS_TMP/gen.pcap" udp and port 53 2>/dev/null | wc -l)" \
    "$("$CS_BIN" query udp -d "$store" and port --count 53)"
check_eq "'--' ends the options: a filter word may start with '-'" \
    "$(tcpdump -r "$CS_TMP/gen.pcap" 'len != -1' 2>/dev/null | wc -l)" \
    "$("$CS_BIN" query -d "$store" --count -- len != -1)"
check_fails "without '--' such a word is an option" "option" \
    "$CS_BIN" query -d "$store" --count len != -1
check_fails "an option after the filter still needs its argument" "option|argument" \
    "$CS_BIN" query -d "$store" udp -w

# t_tshark.sh - on real captures, what capstream decodes agrees with
# tshark's dissectors: DNS messages and latencies equal tshark's and
# dns.time (over IPv4 and IPv6 fragments, retransmitted queries, and over
# TCP: see tshark_cmp.py for how TCP times compare), FIX MsgTypes and
# ClOrdIDs equal the FIX dissector's, HTTP request/response pairs equal
# tshark's links. Then DNS over TCP from gentraffic --dns-tcp (a lone
# length prefix 218 ms before a zone transfer's query, every split of
# prefix and body, coalesced queries, an AXFR in several messages,
# retransmissions) against tshark and against the generator's truth.

DNS="zeek/dns53.pcap tcpdump/dns_udp.pcap zeek/dns-two-responses.pcap
zeek/dns/long-connection.pcap tcpdump/edns-opts.pcap tcpdump/dnssec.pcap
zeek/ipv6-fragmented-dns.pcap ndpi/dns_fragmented.pcap tcpdump/dns_tcp.pcap
zeek/dns-edns-ecs.pcap"
FIX="fix-ascii/trace-fix4.0.pcap fix-ascii/trace-fix4.0-mtu100.pcap fix-ascii/trace-fix4.1.pcap
fix-ascii/trace-fix4.2.pcap fix-ascii/trace-fix4.3.pcap fix-ascii/trace-fix4.4.pcap
fix-ascii/trace-fixt1.1.pcap ndpi/fix2.pcap"
HTTP="zeek/http/get.pcap zeek/http/pipelined-requests.pcap zeek/http/100-continue.pcap
zeek/http/methods.pcap zeek/http/post.pcap zeek/http/no_crlf.pcap zeek/http/get_nosyn.pcap
zeek/http/get-without-fins.pcap zeek/http/1000-requests-one-dropped-response.pcap"

# compare MODE FILE [KEEP_STORE]: FILE under tests/pcaps, or an absolute path.
compare() {
    local mode=$1 file=$2 store=${3:-$CS_TMP/s.$RANDOM} path=$PCAPS/$2
    [[ "$file" == /* ]] && path=$file
    rm -rf "$store"
    if ! "$CS_BIN" ingest -q -r "$path" -d "$store" 2>"$CS_TMP/err"; then
        fail "ingest $file: $(cat "$CS_TMP/err")"
        return
    fi
    check "$mode decoding of $file agrees with tshark" \
        python3 "$GOLDEN/tshark_cmp.py" "$mode" "$CS_BIN" "$store" "$path"
    [ -n "${3:-}" ] || rm -rf "$store"
}

for f in $DNS; do compare dns "$f"; done
for f in $FIX; do compare fix "$f"; done
for f in $HTTP; do compare http "$f"; done

# DNS over TCP, generated: every case against tshark, then against the
# generator's truth (first-DNS-byte times), then the zone transfer itself.
T=$CS_TMP/dnstcp
python3 "$GENTRAFFIC" "$T.pcap" --dns-tcp --truth "$T.truth" >/dev/null
compare dns "$T.pcap" "$T.store"
"$CS_BIN" latency -d "$T.store" --pair dns --json >"$T.lat"
check "DNS over TCP: measurements equal the truth" \
    python3 "$GOLDEN/truth_check.py" "$T.lat" "$T.truth"
check_eq "DNS over TCP: no orphan or unanswered message" "" \
    "$("$CS_BIN" latency -d "$T.store" --unmatched)"
check "DNS over TCP: the zone transfer's query is timed by its own segment, not the lone prefix" \
    python3 - "$T.lat" "$T.truth" <<'PY'
import json, sys
lat = {m["key"]: m for m in map(json.loads, open(sys.argv[1]))}
truth = {t["key"]: t for t in map(json.loads, open(sys.argv[2]))}
z, want = lat["23063 zone.test"], truth["23063 zone.test"]
assert z["latency_ns"] == 21769000, z
assert z["req_ts_ns"] == want["req_ts_ns"] and z["resp_last_ts_ns"] == z["resp_ts_ns"], z
assert z["attached"] == 0, z
x = lat["12288 multi.test"]
assert x["attached"] == 2 and x["latency_ns"] == 2000000, x
assert x["attached_last_ts_ns"] - x["req_ts_ns"] == 3400000, x
PY

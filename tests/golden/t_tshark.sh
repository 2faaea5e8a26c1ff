# t_tshark.sh - on real captures, what capstream decodes agrees with
# tshark's dissectors: DNS latencies equal dns.time (over IPv4 and IPv6
# fragments and retransmitted queries too), FIX MsgTypes and
# ClOrdIDs equal the FIX dissector's, HTTP request/response pairs equal
# tshark's links.

DNS="zeek/dns53.pcap tcpdump/dns_udp.pcap zeek/dns-two-responses.pcap
zeek/dns/long-connection.pcap tcpdump/edns-opts.pcap tcpdump/dnssec.pcap
zeek/ipv6-fragmented-dns.pcap ndpi/dns_fragmented.pcap"
FIX="fix-ascii/trace-fix4.0.pcap fix-ascii/trace-fix4.0-mtu100.pcap fix-ascii/trace-fix4.1.pcap
fix-ascii/trace-fix4.2.pcap fix-ascii/trace-fix4.3.pcap fix-ascii/trace-fix4.4.pcap
fix-ascii/trace-fixt1.1.pcap ndpi/fix2.pcap"
HTTP="zeek/http/get.pcap zeek/http/pipelined-requests.pcap zeek/http/100-continue.pcap
zeek/http/methods.pcap zeek/http/post.pcap zeek/http/no_crlf.pcap zeek/http/get_nosyn.pcap
zeek/http/get-without-fins.pcap zeek/http/1000-requests-one-dropped-response.pcap"

compare() {
    local mode=$1 file=$2 store=$CS_TMP/s.$RANDOM
    rm -rf "$store"
    if ! "$CS_BIN" ingest -q -r "$PCAPS/$file" -d "$store" 2>"$CS_TMP/err"; then
        fail "ingest $file: $(cat "$CS_TMP/err")"
        return
    fi
    check "$mode decoding of $file agrees with tshark" \
        python3 "$GOLDEN/tshark_cmp.py" "$mode" "$CS_BIN" "$store" "$PCAPS/$file"
    rm -rf "$store"
}

for f in $DNS; do compare dns "$f"; done
for f in $FIX; do compare fix "$f"; done
for f in $HTTP; do compare http "$f"; done

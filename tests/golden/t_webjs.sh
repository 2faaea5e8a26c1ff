# t_webjs.sh - the web UI's pure helpers run by node: web/format.js (typed
# times, nanosecond times, durations, SI quantities, axis ticks, escaping;
# tests/web/format.test.js) and web/packet.js (pcap records, hex dumps,
# Ethernet/VLAN/IP/TCP/UDP headers, a flow's BPF filter;
# tests/web/packet.test.js) on hand-made frames and on every frame of
# samples/trading-sample.pcap (VLANs, QinQ, IPv6, IP fragments) against
# tshark's fields of it. Needs node (installed with npm) and tshark.

if ! command -v node >/dev/null; then
    fail "webjs: node missing (the bootstrap installs nodejs/npm)"
    return 0 2>/dev/null || exit 0
fi
check "web/format.js reads and writes times, durations and quantities as the CLI does" \
    node "$REPO/tests/web/format.test.js"
SAMPLE=$REPO/samples/trading-sample.pcap
if ! tshark -r "$SAMPLE" -T fields -E separator=';' -E aggregator=/ -E occurrence=a \
    -e frame.cap_len -e frame.len -e ieee8021ad.id -e vlan.id -e ip.src -e ip.dst \
    -e ipv6.src -e ipv6.dst -e tcp.srcport -e tcp.dstport -e udp.srcport -e udp.dstport \
    -e ip.frag_offset -e ip.flags.mf >"$CS_TMP/webjs.fields" 2>"$CS_TMP/webjs.err"; then
    fail "webjs: tshark on $SAMPLE: $(head -c 300 "$CS_TMP/webjs.err")"
fi
check "web/packet.js reads pcap and dissects every frame of the sample as tshark does" \
    node "$REPO/tests/web/packet.test.js" "$SAMPLE" "$CS_TMP/webjs.fields"

# t_http_refs.sh - an HTTP message names every packet that carried its
# bytes, head and body, chunked bodies included: each real capture below is
# ingested and every message's packets (`show --json`) are compared with
# the frames tshark reassembled its PDU from (http_refs.py).

require_data
for f in get post bro.org 206_example_b; do
    "$CS_BIN" ingest -q -r "$PCAPS/zeek/http/$f.pcap" -d "$CS_TMP/$f" >/dev/null 2>&1
    check "$f.pcap: every HTTP message lists the packets tshark reassembled it from" \
        python3 "$GOLDEN/http_refs.py" "$CS_BIN" "$CS_TMP/$f" "$PCAPS/zeek/http/$f.pcap"
done

#!/usr/bin/env bash
# demo.sh BIN STORE - capstream's main job on a built-in default: ingest the
# bundled sample of trading-floor traffic (FIX order entry, HTTP, DNS,
# ITCH market data, with retransmissions, reordering, VLANs, IPv6...) into
# STORE in one pass, then show what the store holds and drill from the
# latency numbers to the slowest measurement, its two messages and packets.
set -euo pipefail
BIN=$1
STORE=$2
SAMPLE=$(dirname "$0")/../samples/trading-sample.pcap

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

rm -rf "$STORE"
step "$BIN" ingest -r "$SAMPLE" -d "$STORE" --segment-bytes 1M
step "$BIN" stats -d "$STORE"
step "$BIN" latency -d "$STORE" --stats
step "$BIN" latency -d "$STORE" --sort latency --limit 5
slowest=$("$BIN" latency -d "$STORE" --pair fix --sort latency --limit 1 --json |
    python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"])')
step "$BIN" show -d "$STORE" "$slowest"
step "$BIN" show -d "$STORE" "$slowest" -w "$STORE/slowest.pcap"
step tcpdump -nn -r "$STORE/slowest.pcap"
step "$BIN" query -d "$STORE" --count "tcp and port 9878"
printf '\nThe store is in %s; try: %s messages -d %s --proto dns --limit 5\n' "$STORE" "$BIN" "$STORE"

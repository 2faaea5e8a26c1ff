#!/usr/bin/env bash
# bench/itch_bench.sh - builds and runs bench/itch_decode.c (MoldUDP64 +
# ITCH 5.0 decoding with gap tracking, in memory, one core) against the
# release library build/libcapstream.a (`make` first). Target: >= 10 M
# ITCH messages/s.
#
#   bench/itch_bench.sh [MESSAGES [ROUNDS]]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$REPO/bench/out}
mkdir -p "$OUT"
make -C "$REPO" -s build/libcapstream.a
cc -std=c11 -O2 -D_GNU_SOURCE -I"$REPO/src" "$REPO/bench/itch_decode.c" "$REPO/build/libcapstream.a" \
    $(pkg-config --libs libpcap jansson libzstd) -lpthread -lm -o "$OUT/itch_decode"
"$OUT/itch_decode" "$@"

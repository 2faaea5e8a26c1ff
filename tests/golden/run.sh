#!/usr/bin/env bash
# run.sh - runs every end-to-end test (tests/golden/t_*.sh) against the
# built binary $CS_BIN and prints one closing line "N passed, M failed".
# Each t_*.sh is sourced in a subshell and reports its counts back.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
require_data
total_pass=0
total_fail=0
for t in "$HERE"/t_*.sh; do
    name=$(basename "$t" .sh)
    if [ -n "${CS_GOLDEN_ONLY:-}" ] && [[ "$name" != *"$CS_GOLDEN_ONLY"* ]]; then
        continue
    fi
    dir="$CS_TMP/$name"
    mkdir -p "$dir"
    counts=$(CS_TMP=$dir bash -c 'source "$1"; source "$2"; echo "$PASSED $FAILED"' _ \
        "$HERE/lib.sh" "$t" | tail -n 1)
    p=${counts% *}
    f=${counts#* }
    if ! [[ "$p" =~ ^[0-9]+$ && "$f" =~ ^[0-9]+$ ]]; then
        echo "FAIL: $name did not finish" >&2
        p=0
        f=1
    fi
    echo "== $name: $p passed, $f failed"
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
done
rm -rf "$CS_TMP"
echo "golden: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]

# lib.sh - shared helpers of the end-to-end (golden) tests. Sourced by
# run.sh and by each t_*.sh. Every check counts as passed or failed; a
# failed check prints what was expected and what came out.

: "${CS_BIN:?CS_BIN must point at the capstream binary}"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=${CS_SHARED:-$REPO/../shared}
PCAPS=$SHARED/pcaps
GENTRAFFIC=$SHARED/tools/gentraffic.py
GOLDEN=$REPO/tests/golden
: "${CS_TMP:=$(mktemp -d /tmp/capstream-golden.XXXXXX)}"
PASSED=${PASSED:-0}
FAILED=${FAILED:-0}

pass() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }

# check DESCRIPTION COMMAND...: passes when COMMAND exits 0.
check() {
    local what=$1
    shift
    if "$@"; then pass; else fail "$what"; fi
}

# check_fails DESCRIPTION PATTERN COMMAND...: COMMAND must exit non-zero
# (but not crash: status < 128) and its stderr must match PATTERN.
check_fails() {
    local what=$1 pattern=$2 status
    shift 2
    "$@" >"$CS_TMP/out" 2>"$CS_TMP/err"
    status=$?
    if [ "$status" -eq 0 ]; then
        fail "$what: expected a failure, got exit 0"
    elif [ "$status" -ge 128 ]; then
        fail "$what: crashed (exit $status): $(head -c 300 "$CS_TMP/err")"
    elif ! grep -qiE "$pattern" "$CS_TMP/err"; then
        fail "$what: error does not mention /$pattern/: $(head -c 300 "$CS_TMP/err")"
    elif [ "$(grep -c 'error' "$CS_TMP/err")" -lt 1 ]; then
        fail "$what: no error line"
    else
        pass
    fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
    if [ "$2" == "$3" ]; then pass; else fail "$1: expected '$2', got '$3'"; fi
}

require_shared() {
    if [ ! -d "$PCAPS" ] || [ ! -f "$GENTRAFFIC" ]; then
        echo "FAIL: ../shared (pcaps and gentraffic.py) not found at $SHARED" >&2
        exit 1
    fi
}

# t_webdict.sh - the web UI's FIX names by version (web/fixdict.js), run by
# node on its own rules (tests/web/fixdict.test.js) and on the messages
# capstream decodes from real FIX 4.0 to 4.4 and FIXT 1.1 captures: every
# message of a capture is found in the version the capture is in (a
# FIXT.1.1 session whose Logon names DefaultApplVerID 10 is "Latest" there,
# 5.0 SP2 in its other messages). Needs node (installed with npm).

if ! command -v node >/dev/null; then
    fail "webdict: node missing (the bootstrap installs nodejs/npm)"
    return 0 2>/dev/null || exit 0
fi
args=()
for spec in 4.0=trace-fix4.0 4.1=trace-fix4.1 4.2=trace-fix4.2 4.3=trace-fix4.3 4.4=trace-fix4.4 \
    Latest,5.0SP2=trace-fixt1.1; do
    want=${spec%%=*} name=${spec#*=} store=$CS_TMP/wd.$RANDOM
    if ! "$CS_BIN" ingest -q -r "$PCAPS/fix-ascii/$name.pcap" -d "$store" 2>"$CS_TMP/err"; then
        fail "webdict: ingest $name: $(cat "$CS_TMP/err")"
        continue
    fi
    "$CS_BIN" messages -d "$store" --proto fix --json >"$CS_TMP/$name.jsonl"
    args+=("$want=$CS_TMP/$name.jsonl")
    rm -rf "$store"
done
check "web/fixdict.js names FIX fields by version, on its rules and on real captures" \
    node "$REPO/tests/web/fixdict.test.js" "${args[@]}"

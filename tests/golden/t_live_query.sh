# t_live_query.sh - every record is queryable while the daemon captures:
# `capstream run -r FILE --replay realtime --listen` on 40 s of generated
# traffic, polled every 100 ms for 30 s while it replays (live_poll.py):
# measurements by time range, by pair and time range, by key, and messages
# by key, and the detail (messages, packets) of the measurement found by
# key. After the run, against `latency --json` and `messages --json` of
# the whole store: every measurement whose response packet (every message
# whose last packet) was more than 1 s old when a poll that covered it ran
# was in that poll's answer.

require_data
S=$CS_TMP/store
python3 "$GENTRAFFIC" "$CS_TMP/live.pcap" --seconds 40 --scale 0.01 --seed 11 >/dev/null
# the reference (a fast ingest of the same file) only chooses the keys to ask for
"$CS_BIN" ingest -q -r "$CS_TMP/live.pcap" -d "$CS_TMP/ref" >/dev/null 2>&1
"$CS_BIN" latency -d "$CS_TMP/ref" --json >"$CS_TMP/ref.jsonl"

PORT=$(free_port)
B=http://127.0.0.1:$PORT
"$CS_BIN" run -r "$CS_TMP/live.pcap" --replay realtime -d "$S" --listen "127.0.0.1:$PORT" \
    >"$CS_TMP/run.out" 2>"$CS_TMP/run.err" &
RUN_PID=$!
timeout 90 python3 "$GOLDEN/live_poll.py" poll "$B" "$CS_TMP/live.pcap" "$CS_TMP/ref.jsonl" 30 \
    "$CS_TMP/polls.jsonl"
check "the poller ran against the capturing daemon" test -s "$CS_TMP/polls.jsonl"
check "the daemon was still capturing after the polls" \
    sh -c "curl -s '$B/api/v1/status' | grep -q '\"capturing\":true'"
daemon_stop "$RUN_PID"
"$CS_BIN" latency -d "$S" --json >"$CS_TMP/final.jsonl"
"$CS_BIN" messages -d "$S" --proto fix --json >"$CS_TMP/msgs.jsonl"
check "every measurement older than 1 s was returned by every poll covering it" \
    python3 "$GOLDEN/live_poll.py" check "$CS_TMP/live.pcap" "$CS_TMP/polls.jsonl" \
    "$CS_TMP/final.jsonl" "$CS_TMP/msgs.jsonl"

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
live_poll_test "$CS_TMP/lq" 40 30

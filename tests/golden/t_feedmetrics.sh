# t_feedmetrics.sh - feed and session metrics series (analytics/metrics.h)
# against the ground truth of tools/gentrading.py and `capstream feeds`,
# from the daemon replaying a capture with --tap-by vlan (A/B MoldUDP64
# feeds and two OUCH sessions seen at taps 101 and 102, gaps on each feed):
#   - /api/v1/series lists feed:TAP/ADDR:PORT and session:TAP/ADDR:PORT of
#     every feed and session of the truth, and the all-taps feed:ADDR:PORT;
#   - per feed and tap the windows over the whole range sum to the truth's
#     gaps and numbers lost and to `capstream feeds --json`'s gaps,
#     messages_lost, packets and ITCH messages; the races won equal the
#     truth's A/B races won by that feed there, the busiest millisecond and
#     the longest lead those of `feeds`;
#   - the all-taps feed series sums its taps;
#   - per session and tap the orders (Enter Orders answered or not),
#     accepts, rejects and measurements equal the truth's OUCH records;
#   - Prometheus capstream_feed_gaps_total / _lost_total{feed,tap} and
#     capstream_session_orders_total / _rejects_total{session,tap} equal
#     the truth's;
#   - the issue's rules parse and fire: "feed=233.54.12.111:26477 gaps > 0"
#     (all taps), a one-tap "lost" rule, "proto=ouch errors rate > 10/s"
#     and a session rejects rule; a rule on a feed that does not exist
#     never fires.

GENTRADING=$REPO/tools/gentrading.py
FM=$CS_TMP/feedmetrics
mkdir -p "$FM"
python3 "$GENTRADING" "$FM/t.pcap" --truth "$FM/t.jsonl" --seconds 0.5 --seed 8 >/dev/null 2>&1
cat >"$FM/rules.conf" <<'RULES'
feed_gap: feed=233.54.12.111:26477 gaps > 0
feed_lost_b: feed=102/233.54.12.112:26478 lost > 0
ouch_rejects: proto=ouch errors rate > 10/s
ouch_rejects_any: proto=ouch errors count > 0
session_rejects: session=102/10.1.0.10:40101 rejects > 0
no_such_feed: feed=239.1.1.1:1 gaps > 0
RULES

daemon_start "$FM/live" -r "$FM/t.pcap" --tap-by vlan --config "$FM/rules.conf" \
    --decoder-opt moldudp64.ports=26477,26478,26500 --decoder-opt soupbintcp.ports=15000,15001
sleep 2.2 # two more ticks: the last windows are closed
curl -s --max-time 5 "$B/metrics" >"$FM/prom.txt"
curl -s --max-time 5 "$B/api/v1/series?after=0" >"$FM/series.json"
curl -s --max-time 5 "$B/api/v1/alerts?after=0&limit=1000" >"$FM/alerts.json"
python3 - "$FM/series.json" <<'PY' >"$FM/names.txt"
import json, sys
for s in json.load(open(sys.argv[1]))["series"]:
    name = s["id"]
    if name.startswith(("feed:", "session:")):
        print(name)
PY
while read -r s; do
    printf '%s\t' "$s"
    curl -s --max-time 5 "$B/api/v1/metrics?series=$s&after=0&step=3600s"
    echo
done <"$FM/names.txt" >"$FM/points.tsv"
daemon_stop "$RUN_PID"
"$CS_BIN" feeds -d "$FM/live" --json >"$FM/feeds.jsonl"

check "feed and session series equal the truth, feeds --json and Prometheus; the rules fire" \
    python3 "$GOLDEN/feedmetrics_check.py" "$FM"

# t_demo_cluster.sh - `make demo-cluster` (scripts/demo-cluster.sh) as a
# user runs it: ClickHouse, two demo sensors exporting to it and a hub
# over both come up on the ports given; the hub's status has both sensors
# up, its slowest measurements come from ClickHouse and name both sensors,
# and the script stops everything and removes its data when it ends.

X=$CS_TMP/cluster
mkdir -p "$X"
HP=$(free_port) P1=$(free_port) P2=$(free_port) CH1=$(free_port) CH2=$(free_port)
TMPDIR=$X DEMO_SECONDS=20 HUB_PORT=$HP SENSOR1_PORT=$P1 SENSOR2_PORT=$P2 CH_HTTP_PORT=$CH1 \
    CH_TCP_PORT=$CH2 "$REPO/scripts/demo-cluster.sh" "$CS_BIN" >"$X/out" 2>&1 &
DC=$!
hub_has() { # hub_has PYEXPR: polls the hub's status (20 s) until PYEXPR over "s"
    python3 - "http://127.0.0.1:$HP/api/v1/status" "$1" <<'PY'
import json, sys, time, urllib.request
end = time.time() + 20
while time.time() < end:
    try:
        s = json.load(urllib.request.urlopen(sys.argv[1], timeout=3))
        if eval(sys.argv[2]):
            sys.exit(0)
    except (OSError, ValueError, KeyError):
        pass
    time.sleep(0.3)
sys.exit(1)
PY
}
check "the cluster's hub has both sensors up ($(tail -c 300 "$X/out"))" \
    hub_has '[x["sensor"] for x in s["sensors"] if x["up"]] == ["ny4", "ld4"] and s["measurements"] > 0'
check "the slowest measurements come from ClickHouse, from both sensors" python3 - "$HP" <<'PY'
import json, sys, time, urllib.request
url = "http://127.0.0.1:%s/api/v1/measurements?sort=latency&limit=200" % sys.argv[1]
for _ in range(40):  # the first export batches arrive within a second or two
    j = json.load(urllib.request.urlopen(url, timeout=3))
    if j.get("source") == "clickhouse" and {r["sensor"] for r in j["measurements"]} == {"ny4", "ld4"}:
        sys.exit(0)
    time.sleep(0.5)
sys.exit("never both sensors: %s" % json.dumps(j)[:300])
PY
check "the script prints where the hub's UI is" grep -q "open http://127.0.0.1:$HP/" "$X/out"
wait "$DC"
check_eq "demo-cluster exits 0 when its time is up ($(tail -c 300 "$X/out"))" 0 "$?"
check "and leaves no data behind" bash -c "! ls -d '$X'/capstream-cluster-* 2>/dev/null | grep -q ."
check "and no process on the hub's port" bash -c "! curl -s -m 1 http://127.0.0.1:$HP/ >/dev/null"

# t_browser.sh - the web UI end to end in a real browser: `capstream run`
# replays samples/trading-sample.pcap (drill-down, search, shared URL) and a
# 3-second generated capture (per-second metrics closed, so the rate charts
# have points); tests/browser/ui.test.js runs one scenario against both in
# each browser: Debian's headless Chromium through playwright-core and
# Debian's Firefox ESR through puppeteer-core (WebDriver BiDi); then
# tests/browser/expired.test.js opens, in each browser, a measurement whose
# packets retention deleted (the same capture under --max-bytes 1M); then
# tests/browser/defects.test.js checks issue 14's UI defects, its live cases
# against a 90 s capture replayed in real time (capturing while it clicks),
# and an empty store; tests/browser/feeds.test.js the feeds and gaps tables
# on a two-tap A/B MoldUDP64 capture with losses, and
# tests/browser/orders.test.js the Orders view (OUCH sessions, an order's
# lifecycle across taps, a message's packets) on the same capture. Screenshots
# of every step are kept per browser in $CS_ARTIFACTS/<browser> (or
# $CS_TMP/screenshots/<browser>). Needs /usr/bin/chromium (apt chromium),
# /usr/bin/firefox-esr (apt firefox-esr) and tests/browser/node_modules
# (npm ci --prefix tests/browser); a missing one is a failure, not a skip.

BROWSER_DIR=$REPO/tests/browser
SHOTS=${CS_ARTIFACTS:-$CS_TMP/screenshots}
mkdir -p "$SHOTS"

BROWSERS="chromium firefox"

browser_ready() {
    local ok=0
    if [ ! -x "${CS_CHROMIUM:-/usr/bin/chromium}" ]; then
        fail "browser: ${CS_CHROMIUM:-/usr/bin/chromium} missing (apt-get install chromium)"
        ok=1
    fi
    if [ ! -x "${CS_FIREFOX:-/usr/bin/firefox-esr}" ]; then
        fail "browser: ${CS_FIREFOX:-/usr/bin/firefox-esr} missing (apt-get install firefox-esr)"
        ok=1
    fi
    for m in playwright-core puppeteer-core; do
        if [ ! -d "$BROWSER_DIR/node_modules/$m" ]; then
            fail "browser: tests/browser/node_modules/$m missing (npm ci --prefix tests/browser)"
            ok=1
        fi
    done
    return $ok
}

# start_daemon PCAP STORE [run args] -> sets DPID, DPORT; waits until the replay is done
start_daemon() {
    DPORT=$(free_port)
    "$CS_BIN" run -r "$1" -d "$2" "${@:3}" --listen "127.0.0.1:$DPORT" >"$2.out" 2>"$2.err" &
    DPID=$!
    for _ in $(seq 1 300); do
        curl -s --max-time 2 "http://127.0.0.1:$DPORT/api/v1/status" 2>/dev/null |
            grep -q '"capturing":false' && return 0
        sleep 0.1
    done
    fail "browser: daemon on $1 did not finish replaying: $(head -c 300 "$2.err")"
    return 1
}

# start_live NAME -> sets PID4, DPORT4: a real-time replay of live.pcap into
# a new store, answering and capturing
start_live() {
    DPORT4=$(free_port)
    "$CS_BIN" run -r "$CS_TMP/live.pcap" -d "$CS_TMP/store-live-$1" --replay realtime \
        --config "$CS_TMP/alerts.conf" --listen "127.0.0.1:$DPORT4" >"$CS_TMP/live-$1.out" 2>"$CS_TMP/live-$1.err" &
    PID4=$!
    for _ in $(seq 1 100); do
        curl -s --max-time 2 "http://127.0.0.1:$DPORT4/api/v1/status" 2>/dev/null | grep -q '"capturing":true' && return 0
        sleep 0.1
    done
    fail "browser: the real-time replay did not start: $(head -c 300 "$CS_TMP/live-$1.err")"
}

if browser_ready; then
    python3 "$GENTRAFFIC" "$CS_TMP/g.pcap" --seconds 3 --scale 0.1 --seed 7 >/dev/null
    start_daemon "$REPO/samples/trading-sample.pcap" "$CS_TMP/store-sample" && PID1=$DPID && PORT1=$DPORT
    start_daemon "$CS_TMP/g.pcap" "$CS_TMP/store-gen" && PID2=$DPID && PORT2=$DPORT
    # a packet budget far below the capture: the oldest measurements' packets
    # are gone, their messages stay
    start_daemon "$CS_TMP/g.pcap" "$CS_TMP/store-expired" --max-bytes 1M && PID3=$DPID &&
        PORT3=$DPORT
    # for defects.test.js: a capture replayed in real time (120 s, started
    # afresh for each browser by start_live) with a rule that fires, so the
    # live cases click while it is capturing; and a store with no packet
    python3 "$GENTRAFFIC" "$CS_TMP/live.pcap" --seconds 120 --scale 0.005 --seed 3 >/dev/null
    printf 'fix_slow: pair=fix p99 > 200us for 1s\n' >"$CS_TMP/alerts.conf"
    python3 -c 'import struct,sys; open(sys.argv[1],"wb").write(struct.pack("<IHHiIII",0xa1b2c3d4,2,4,0,0,65535,1))' \
        "$CS_TMP/empty.pcap"
    start_daemon "$CS_TMP/empty.pcap" "$CS_TMP/store-empty" && PID5=$DPID && PORT5=$DPORT
    # for feeds.test.js: A/B MoldUDP64 feeds at two taps with losses, behind
    # a tap aggregator that stamps a Metamako trailer (the clock table)
    python3 "$REPO/tools/gentrading.py" "$CS_TMP/feeds.pcap" --truth "$CS_TMP/feeds.jsonl" \
        --seconds 0.2 --seed 5 --trailer metamako >/dev/null 2>&1
    start_daemon "$CS_TMP/feeds.pcap" "$CS_TMP/store-feeds" --time-source trailer:metamako \
        --tap-by trailer && PID6=$DPID && PORT6=$DPORT
    sleep 1.2 # one more tick: the generated capture's per-second windows are stored
    check_eq "GET / serves the page" "200 text/html; charset=utf-8" \
        "$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "http://127.0.0.1:$PORT1/")"
    etag=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PORT1/ui/app.js" | tr -d '\r' | sed -n 's/^ETag: //Ip')
    check_eq "an unchanged file is 304 on revalidation" "304" \
        "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "http://127.0.0.1:$PORT1/ui/app.js")"
    check_eq "no such UI file is 404" "404" \
        "$(curl -s --path-as-is -o /dev/null -w "%{http_code}" "http://127.0.0.1:$PORT1/ui/../api/v1/status")"
    for b in $BROWSERS; do
        if (cd "$BROWSER_DIR" && timeout 300 node ui.test.js "$b" "http://127.0.0.1:$PORT1" \
            "$SHOTS/$b" "http://127.0.0.1:$PORT2") >"$CS_TMP/browser-$b.log" 2>&1; then
            pass
        else
            fail "browser tests in $b: $(grep -E 'FAIL' "$CS_TMP/browser-$b.log" | head -20)"
        fi
        cp "$CS_TMP/browser-$b.log" "$SHOTS/$b/test.log" 2>/dev/null
        if (cd "$BROWSER_DIR" && timeout 120 node expired.test.js "$b" "http://127.0.0.1:$PORT3" \
            "$SHOTS/$b") >"$CS_TMP/expired-$b.log" 2>&1; then
            pass
        else
            fail "expired packets in $b: $(grep -E 'FAIL' "$CS_TMP/expired-$b.log" | head -5)"
        fi
        if (cd "$BROWSER_DIR" && timeout 120 node feeds.test.js "$b" "http://127.0.0.1:$PORT6" \
            "$SHOTS/$b") >"$CS_TMP/feeds-$b.log" 2>&1; then
            pass
        else
            fail "feeds and gaps in $b: $(grep -E 'FAIL' "$CS_TMP/feeds-$b.log" | head -5)"
        fi
        cp "$CS_TMP/feeds-$b.log" "$SHOTS/$b/feeds.log" 2>/dev/null
        if (cd "$BROWSER_DIR" && timeout 120 node orders.test.js "$b" "http://127.0.0.1:$PORT6" \
            "$SHOTS/$b") >"$CS_TMP/orders-$b.log" 2>&1; then
            pass
        else
            fail "orders view in $b: $(grep -E 'FAIL' "$CS_TMP/orders-$b.log" | head -5)"
        fi
        cp "$CS_TMP/orders-$b.log" "$SHOTS/$b/orders.log" 2>/dev/null
        start_live "$b"
        if (cd "$BROWSER_DIR" && timeout 300 node defects.test.js "$b" "$SHOTS/$b" "http://127.0.0.1:$PORT1" \
            "http://127.0.0.1:$DPORT4" "http://127.0.0.1:$PORT5" "http://127.0.0.1:$PORT2") \
            >"$CS_TMP/defects-$b.log" 2>&1; then
            pass
        else
            fail "UI defects in $b: $(grep -E 'FAIL' "$CS_TMP/defects-$b.log" | head -20)"
        fi
        cp "$CS_TMP/defects-$b.log" "$SHOTS/$b/defects.log" 2>/dev/null
        kill "$PID4" 2>/dev/null && wait "$PID4" 2>/dev/null
        PID4=
    done
    [ -n "${PID1:-}" ] && kill "$PID1" 2>/dev/null && wait "$PID1" 2>/dev/null
    [ -n "${PID2:-}" ] && kill "$PID2" 2>/dev/null && wait "$PID2" 2>/dev/null
    [ -n "${PID3:-}" ] && kill "$PID3" 2>/dev/null && wait "$PID3" 2>/dev/null
    [ -n "${PID4:-}" ] && kill "$PID4" 2>/dev/null && wait "$PID4" 2>/dev/null
    [ -n "${PID5:-}" ] && kill "$PID5" 2>/dev/null && wait "$PID5" 2>/dev/null
    [ -n "${PID6:-}" ] && kill "$PID6" 2>/dev/null && wait "$PID6" 2>/dev/null
    echo "browser screenshots: $SHOTS" >&2
fi

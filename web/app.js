/* capstream web UI (plain JS, no framework).
 *
 * Charts per pair: latency percentiles with the slowest measurements as
 * points, and a heatmap of the API's heat counts (metrics?heatmap=1) drawn
 * by a uPlot draw hook, one cell per step and latency bucket. Per
 * MoldUDP64 feed and tap: message rate, messages lost with the sequence
 * gaps marked on the time axis, and the A/B lead of the races won. The
 * measurement list asks for total=1 to say "1–100 of N". The preset buttons
 * (1m ... 7d) and the menu set a relative range ending now: live.
 *
 * State lives in the URL hash (#preset=5m | #after=T&before=T, pair=fix&wa=NS&wb=NS,
 * pg=N, sort=time, min=DUR, max=DUR, lkey=K, lsess=SRC>DST, m=ID, p=REF, key=K,
 * view=orders, order=ID, osess=SRC>DST, om=MSGID; pg is the measurement list's
 * page, 1-based; sort, min, max, lkey and lsess its order and filters (all
 * applied by the server); the last four the Orders view):
 * render() reads it and fills every section, so a shared URL restores the
 * view and Back/Forward walk through views; user actions only change the
 * hash (setState). After a render the section the change was about (packet,
 * measurement, list, search) is scrolled into view.
 *
 * Times: the API's *_ns integers exceed 2^53, so JSON text is rewritten to
 * keep every "*_ns" number as a string and times are BigInt nanoseconds.
 * Charts (uPlot) take float seconds on x; drill-down windows are widened by
 * 1 us to absorb the float rounding. Every time shown is UTC, 24-hour.
 * The pure helpers are scripts of their own, loaded before this one:
 * web/format.js (CsFmt: times, durations, quantities, escaping),
 * web/packet.js (CsPkt: pcap records, headers, a flow's filter) and
 * web/fixdict.js (CsFix: FIX names by version).
 *
 * Ranges: "now" is the newest stored packet (for a live daemon that is the
 * present; for a replayed file, the end of the file). A range is live when
 * it ends at now (a preset, or a "before" of "now"): then stream events
 * redraw the charts in place (uPlot setData, no rebuild) and refresh the
 * from/to inputs. A zoom or an absolute range unticks "live"; the status
 * line follows the stream in every case.
 *
 * Rates are per second of time the step covers within the store, so the
 * first and last (partial) seconds of a store are not drawn too low.
 *
 * Loading: the overview holds every chart's place first, then loads the
 * charts in the window, then the others and the tables (loadCharts); the
 * feeds table, the slowest (the server reads each MoldUDP64 record of the
 * range), fills in when it comes, after the charts. body[data-content="1"]
 * says the view's own content is drawn (the overview's charts in the
 * window, the list, the measurement, the search, the Orders view) and
 * body[data-ready="1"] that every request is answered and every chart
 * drawn: the browser tests and bench/ui_load.js time them. */
"use strict";
(function () {
  const API = "/api/v1";
  const NS = 1000000000n;
  const $ = (id) => document.getElementById(id);
  const { esc, fmtNs, fmtDur, fmtSignedDur, fmtDurShort, fmtSI, fmtTick, parseTime, secOf, nsOfSec } = CsFmt; /* web/format.js */
  const { parsePcap, hexdump, layers, flowFilter } = CsPkt; /* web/packet.js */
  let storeMin = null, storeMax = null, busy = false, lastLive = 0;
  let rangeSec = null; /* the shown range in float seconds: every chart's x scale */
  let curRange = null; /* {a, b} BigInt ns of the shown range */
  let prevState = null; /* the state of the previous render, for scrolling */
  let knownPairs = []; /* pairs the store has (series and measurements) */
  const charts = new Map(); /* chart id -> {fig, u, sig} */

  /* ---- helpers ---- */
  /* A hub's API (status "hub"): its sensors ([{sensor, up}]); null for a
   * sensor's own. Under a hub the hash's "sensor" names the sensor chosen
   * in the page and every request carries it, so every view is that
   * sensor's; without one (the default) the page shows all sensors: the
   * requests carry no sensor, and the hub answers with its merged metrics
   * and lists, whose rows name their "sensor". A row's drill-down (its
   * details, its pcap) goes to that row's sensor: rowSensor() puts it in
   * the link's state, or apiUrl() is given it. The status line covers
   * them all. */
  let hubSensors = null;
  function chosenSensor() {
    if (!hubSensors || !hubSensors.length) return null;
    const want = getState().sensor;
    return hubSensors.some((s) => s.sensor === want) ? want : null;
  }
  const allSensors = () => hubSensors !== null && chosenSensor() === null;
  /* the state patch that opens a row on its own sensor (rows of a merged list) */
  const rowSensor = (r) => (r && r.sensor ? { sensor: r.sensor } : {});
  function apiUrl(path, sensor) {
    const s = sensor || chosenSensor();
    return API + path + (!s ? "" : (path.includes("?") ? "&" : "?") + "sensor=" + encodeURIComponent(s));
  }
  async function getJSON(path) {
    const r = await fetch(apiUrl(path));
    const text = await r.text();
    const safe = text.replace(/"(\w*_ns)":\s*(-?\d+)/g, '"$1":"$2"');
    let j = null;
    try { j = JSON.parse(safe); } catch (e) { throw new Error(`${path}: HTTP ${r.status}, not JSON`); }
    if (!r.ok) throw new Error((j && j.error) || r.status);
    return j;
  }
  function showError(text) {
    const e = $("msg");
    e.textContent = text;
    e.hidden = !text;
  }

  /* ---- state in the hash ---- */
  function getState() {
    const p = new URLSearchParams(location.hash.slice(1));
    const st = {};
    for (const [k, v] of p) st[k] = v;
    return st;
  }
  function clean(st) {
    for (const k of Object.keys(st)) if (st[k] === null || st[k] === undefined || st[k] === "") delete st[k];
    return st;
  }
  function setState(patch, replace) {
    const h = "#" + new URLSearchParams(clean(Object.assign(getState(), patch))).toString();
    if (replace) { history.replaceState(null, "", h); render(); }
    else if (h !== location.hash) {
      /* not ready from the moment the URL says the new view: the
       * hashchange event that starts its render() comes later */
      document.body.dataset.ready = "0";
      document.body.dataset.content = "0";
      location.hash = h; /* hashchange -> render() */
    }
  }
  const PRESETS = { "1m": 60n, "5m": 300n, "15m": 900n, "1h": 3600n, "6h": 21600n, "24h": 86400n, "7d": 604800n };
  function nowNs() { return storeMax !== null ? storeMax + 1n : BigInt(Date.now()) * 1000000n; }
  const isLive = (st) => !st.before || st.before.trim() === "now";
  /* the range the state asks for: {a, b} (BigInt ns), with err set and the
   * default range given when the URL's times are not times */
  function range(st) {
    const now = nowNs();
    if (st.after || st.before) {
      const a = parseTime(st.after || "", now), b = parseTime(st.before || "now", now);
      let err = null;
      if (a === null) err = `"${st.after || ""}" is not a time (from)`;
      else if (b === null) err = `"${st.before}" is not a time (to)`;
      else if (a >= b) err = `the range ends before it starts (${fmtNs(a)} – ${fmtNs(b)})`;
      if (!err) return { a, b };
      return Object.assign(range({ preset: "5m" }), { err: err + "; use RFC 3339 UTC, 'YYYY-MM-DD hh:mm:ss', epoch ns, '5m ago' or 'now'" });
    }
    const preset = st.preset || "5m";
    if (preset === "all" && storeMin !== null) return { a: storeMin - (storeMin % NS), b: now };
    return { a: now - (PRESETS[preset] || 300n) * NS, b: now };
  }

  /* ---- status ---- */
  let recordsNotStored = 0; /* messages/measurements the disk could not take */
  let registryPairs = []; /* the pair names of capstream's decoders (/status) */
  async function loadStatus() {
    try {
      const s = await getJSON("/status");
      storeMin = storeMax = null;
      if (s.store && s.store.packets > 0) {
        if (s.store.min_ts_ns) storeMin = BigInt(s.store.min_ts_ns);
        if (s.store.max_ts_ns) storeMax = BigInt(s.store.max_ts_ns);
      }
      const d = s.drops || {};
      recordsNotStored = Number(d.records_not_stored || 0);
      registryPairs = s.pairs || [];
      const view = isLive(getState()) && $("live").checked ? "view live" : "view paused (fixed range)";
      $("status").textContent = `v${s.version} · ${s.capturing ? "capturing" : "idle"} · ${view} · ${s.sources || ""} · ` +
        `${(s.capture || {}).packets || 0} packets · ${s.messages || 0} messages · ${s.measurements || 0} measurements · ` +
        `drops kernel ${d.kernel || 0}, not stored ${d.not_stored || 0}, not analysed ${d.not_analysed || 0}, ` +
        `records not stored ${d.records_not_stored || 0}` +
        (d.windows_not_stored || d.alerts_not_stored ?
          `, metrics windows not stored ${d.windows_not_stored || 0}, alerts not stored ${d.alerts_not_stored || 0}` : "");
      if (s.export) $("status").appendChild(exportStatus(s.export));
      if (s.hub) showSensors(s);
    } catch (e) { $("status").innerHTML = `<span class="err">status: ${esc(e.message)}</span>`; }
  }
  /* a hub: the sensor picker, each sensor marked up or down, and the
   * sensors missing from the status named on the status line */
  function showSensors(s) {
    hubSensors = s.sensors || [];
    const sel = $("sensor"), want = chosenSensor();
    sel.innerHTML = `<option value=""${want === null ? " selected" : ""}>all sensors</option>` + hubSensors.map((x) => `<option value="${esc(x.sensor)}"${x.sensor === want ? " selected" : ""}>` +
      `${esc(x.sensor)}${x.up ? "" : " (down)"}</option>`).join("");
    $("sensor-pick").hidden = false;
    const down = (s.missing || []).map((m) => `${m.sensor}: ${m.why}`);
    if (down.length) {
      const el = document.createElement("span");
      el.id = "hub-missing";
      el.className = "err";
      el.textContent = ` · sensors missing: ${down.join("; ")}`;
      $("status").appendChild(el);
    }
  }
  /* --export: " · ClickHouse up, N rows, caught up", or down with what is
   * pending, how far behind and why; marked when down or behind */
  const CAUGHT_UP_S = 3;
  function exportStatus(x) {
    const el = document.createElement("span");
    const rows = Object.values(x.rows || {}).reduce((a, b) => a + Number(b), 0);
    const pending = Number(x.pending_bytes || 0);
    let text = ` · ClickHouse ${x.target} as ${x.sensor}: ${x.up ? "up" : "DOWN"}, ${rows} rows sent`;
    /* a live store always has a few records the next batch (within a
     * second) will take: caught up is ClickHouse having held everything
     * within the last CAUGHT_UP_S seconds */
    const behind = pending && (!x.up || Number(x.lag_s) >= CAUGHT_UP_S);
    text += behind ? `, ${fmtSI(pending, "B")} pending, ${Number(x.lag_s).toFixed(0)} s behind` : ", caught up";
    if (Number(x.lost_bytes)) text += `, ${fmtSI(Number(x.lost_bytes), "B")} deleted before sent`;
    if (!x.up && x.last_error) text += ` (${x.last_error})`;
    el.id = "export-status";
    el.textContent = text;
    if (!x.up || Number(x.lag_s) > 5 || Number(x.lost_bytes)) el.className = "err";
    return el;
  }

  /* ---- charts ---- */
  /* at most ~300 points per series: a day is a 288 s step */
  function stepFor(a, b) {
    const s = Number((b - a) / NS);
    return Math.max(1, Math.ceil(s / 300));
  }
  async function metrics(series, a, b, step) {
    const j = await getJSON(`/metrics?series=${encodeURIComponent(series)}&after=${a}&before=${b}&step=${step}s`);
    return j.points;
  }
  function chartBox(title, id) {
    const fig = document.createElement("figure");
    fig.className = "chart";
    fig.id = id;
    fig.setAttribute("role", "group");
    fig.setAttribute("aria-label", title);
    const h = document.createElement("h3");
    h.textContent = title;
    fig.appendChild(h);
    if (staleWatch) staleWatch.observe(fig);
    return fig;
  }
  /* chart widths follow the page: latency charts the full width, the rate
   * charts two a row when there is room */
  let chartsWidth = null; /* #charts' width while a pass draws (one layout read) */
  function chartWidth(wide) {
    const w = Math.max(240, (chartsWidth === null ? $("charts").clientWidth : chartsWidth) - 12);
    return wide || w < 900 ? w : Math.floor((w - 16) / 2) - 12;
  }
  function xRange(xs) {
    return xs.length < 2 || xs[0] === xs[xs.length - 1] ? rangeSec.slice() : [xs[0], xs[xs.length - 1]];
  }
  const COLORS = ["#1d3557", "#e63946", "#2a9d8f", "#f4a261", "#6a4c93", "#8ab17d"];
  function makePlot(fig, names, data, opts) {
    const series = [{ label: "time (UTC)", value: (u, v) => v == null ? "" : fmtNs(nsOfSec(v)) }];
    names.forEach((n, i) => series.push(Object.assign({ label: n, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
      points: { show: true, size: 4 }, value: (u, v) => (opts.yfmt ? opts.yfmt(v) : fmtSI(v)) }, (opts.series || [])[i] || {})));
    const y = opts.log && opts.yrange ? { distr: 3, range: () => opts.yrange(fig) } : opts.log ? { distr: 3, range: (u, mn, mx) => [mn > 0 ? 10 ** Math.floor(Math.log10(mn)) : 1e3, mx > 0 ? 10 ** Math.ceil(Math.log10(mx)) : 1e6] } : {};
    const u = new uPlot({
      width: chartWidth(opts.wide), height: 200, series,
      /* x follows the data; one distinct x value (a short capture has a
       * single 1 s window) would make uPlot invent a range of years: the
       * selected range is shown then */
      scales: { x: { time: true, range: (u2) => xRange(u2.data[0]) }, y },
      axes: [{ values: (u2, vals, ai, space, incr) => vals.map((v) => fmtTick(v, incr, u2.scales.x.max - u2.scales.x.min)), space: 96 },
        { size: 74, values: (u2, vals) => vals.map((v) => (opts.yfmt ? opts.yfmt(v) : fmtSI(v))) }],
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
      cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: { setSelect: [(u2) => { if (u2.select.width > 2) onSelect(u2, opts); }], draw: [(u2) => drawAlerts(u2, fig)].concat(opts.draw ? [(u2) => opts.draw(u2, fig)] : []) },
    }, data, fig);
    u.over.addEventListener("click", () => { if (opts.pair && u.cursor.idx != null && u.select.width <= 2) onClick(u, opts); });
    fig.uplot = u;
    return u;
  }
  /* alert markers (latency charts): a red band over each alert event's
   * [from, to) and a dashed line at each rule's threshold, from
   * fig.alerts = {bands: [[from_s, to_s]], thresholds: [ns]} */
  function drawAlerts(u, fig) {
    const al = fig.alerts;
    if (!al) return;
    const ctx = u.ctx, bb = u.bbox;
    ctx.save();
    ctx.fillStyle = "rgba(230, 57, 70, 0.16)";
    for (const [a, b] of al.bands) {
      const l = Math.max(u.valToPos(a, "x", true), bb.left), r = Math.min(u.valToPos(b, "x", true), bb.left + bb.width);
      if (r >= l) ctx.fillRect(l, bb.top, Math.max(r - l, 2), bb.height);
    }
    ctx.strokeStyle = "#b00020";
    ctx.setLineDash([6, 4]);
    for (const t of al.thresholds) {
      const y = u.valToPos(t, "y", true);
      if (y < bb.top || y > bb.top + bb.height) continue;
      ctx.beginPath(); ctx.moveTo(bb.left, y); ctx.lineTo(bb.left + bb.width, y); ctx.stroke();
    }
    ctx.restore();
  }
  /* draws chart "id" in place: a chart with the same series gets the new
   * data (no flicker, the canvas stays), any other is built anew */
  function upsertChart(seen, id, title, names, data, opts, extra) {
    const sig = names.join("|") + (opts.log ? "|log" : "");
    let c = charts.get(id);
    if (c && c.sig !== sig) { c.u.destroy(); c.fig.remove(); charts.delete(id); c = null; }
    if (c) {
      c.fig.alerts = opts.alerts;
      c.fig.heat = opts.heat;
      c.fig.querySelector("h3").textContent = title;
      c.u.setData(data);
    } else {
      const fig = placeholders.get(id) || chartBox(title, id);
      if (placeholders.delete(id)) { fig.classList.remove("pending"); fig.replaceChildren(fig.firstChild); fig.firstChild.textContent = title; }
      if (extra) extra(fig);
      fig.alerts = opts.alerts;
      fig.heat = opts.heat;
      c = { fig, sig, u: null };
      if (fig.parentNode !== $("charts")) $("charts").appendChild(fig);
      c.u = makePlot(fig, names, data, opts);
      charts.set(id, c);
    }
    c.fig.dataset.points = String(data[0].length);
    placeChart(c.fig, chartRank(id));
    seen.add(id);
    return c.fig;
  }
  /* The overview's fixed order, whichever chart's data comes first: the
   * rates, then per pair (in pairOrder) its latency and its heatmap, then
   * the feeds and the clocks. */
  const FIXED_RANKS = { "c-pps": 0, "c-bps": 1, "c-burst": 2, "c-mps": 3, "c-drops": 4,
    "c-feed-mps": 1e6, "c-feed-lost": 1e6 + 1, "c-feed-lead": 1e6 + 2, "c-clock": 1e6 + 3 };
  let pairOrder = [];
  function chartRank(id) {
    if (id in FIXED_RANKS) return FIXED_RANKS[id];
    const m = /^c-(lat|heat)-(.*)$/.exec(id);
    const i = m ? pairOrder.indexOf(m[2]) : -1;
    return 10 + 2 * (i < 0 ? pairOrder.length : i) + (m && m[1] === "heat" ? 1 : 0);
  }
  /* moves "fig" before the first chart of a higher rank (only if it is not there) */
  function placeChart(fig, rank) {
    fig.dataset.rank = String(rank);
    const box = $("charts");
    let next = null;
    for (const el of box.children)
      if (el !== fig && el.dataset.rank !== undefined && Number(el.dataset.rank) > rank) { next = el; break; }
    if (fig.parentNode !== box || fig.nextElementSibling !== next) box.insertBefore(fig, next);
  }
  function onSelect(u, opts) {
    const a = nsOfSec(u.posToVal(u.select.left, "x")) - 1000n;
    const b = nsOfSec(u.posToVal(u.select.left + u.select.width, "x")) + 1000n;
    u.setSelect({ left: 0, width: 0 }, false);
    if (opts.pair) setState({ pair: opts.pair, wa: a.toString(), wb: b.toString(), m: "", p: "", pg: "" });
    else setState({ preset: "", after: a.toString(), before: b.toString() });
  }
  function onClick(u, opts) {
    const x = u.data[0][u.cursor.idx];
    /* a click picks the nearest point; the window is 1/200 of the visible span around it */
    const span = u.scales.x.max - u.scales.x.min;
    const half = BigInt(Math.max(1000, Math.round((span * 1e9) / 200)));
    const c = nsOfSec(x);
    setState({ pair: opts.pair, wa: (c - half).toString(), wb: (c + half).toString(), m: "", p: "", pg: "" });
  }
  /* seconds of store time in [ts, ts + step): a step at either end of the
   * store covers only part of its length */
  function covered(tsNs, stepNs) {
    let lo = BigInt(tsNs), hi = lo + stepNs;
    if (storeMin !== null && storeMin > lo) lo = storeMin;
    if (storeMax !== null && storeMax + 1n < hi) hi = storeMax + 1n;
    return Math.max(Number(hi - lo) / 1e9, 0.001);
  }
  function rateData(list, value) {
    /* list: [[name, points]] -> aligned uPlot data */
    const tables = list.map(([, pts]) => [pts.map((p) => secOf(p.ts_ns)), pts.map(value)]);
    if (tables.length === 0) return null;
    return tables.length === 1 ? tables[0] : uPlot.join(tables);
  }
  /* The view's range (curRange, rangeSec, the range line) and the charts'
   * step; every loader reads the range, so it is set before any starts. */
  function chartRange(st) {
    const r = range(st);
    const { a, b } = r;
    if (r.err) showError(r.err);
    const step = stepFor(a, b);
    const stepNs = BigInt(step) * NS;
    /* metrics windows start on step boundaries: the first one holding the
     * range's start begins at or before it */
    const am = a - (((a % stepNs) + stepNs) % stepNs);
    curRange = { a, b };
    rangeSec = [secOf(st.preset === "all" ? am : a), secOf(b)];
    const empty = storeMax === null;
    $("rangetext").textContent = empty ? "the store is empty: no packet yet" : `${fmtNs(a)} – ${fmtNs(b)} · step ${step}s`;
    return { a, b, am, step, stepNs, empty };
  }
  /* The overview's charts in groups (a group's charts come from the same
   * requests), each with the ids it draws and its loader. */
  function chartGroups(ser, ps, ctx) {
    const { am, b, step, perSec, seen, gapsP } = ctx;
    const byKind = (k) => ser.filter((s) => s.kind === k);
    const fetchAll = (arr) => Promise.all(arr.map(async (s) => [s.name, await metrics(s.id, am, b, step)]));
    const cap = byKind("capture"), groups = [];
    const add = (ids, wide, run) => groups.push({ ids, wide, run });
    if (byKind("tap").length)
      add(["c-pps", "c-bps", "c-burst"], false, () => fetchAll(byKind("tap")).then((taps) => {
        const names = taps.map((t) => "tap " + t[0]);
        upsertChart(seen, "c-pps", "packets/s per tap", names, rateData(taps, perSec("count")), {});
        upsertChart(seen, "c-bps", "bit rate per tap (b/s)", names, rateData(taps, perSec("bytes", 8)), { yfmt: (v) => fmtSI(v, "b/s") });
        upsertChart(seen, "c-burst", "busiest millisecond per step, per tap (packets in that ms)", names,
          rateData(taps, (p) => Number(p.burst_packets || 0)), {});
      }));
    if (byKind("proto").length)
      add(["c-mps"], false, () => fetchAll(byKind("proto")).then((protos) =>
        upsertChart(seen, "c-mps", "messages/s per protocol", protos.map((t) => t[0]), rateData(protos, perSec("count")), {})));
    if (cap.length) add(["c-drops"], false, () => metrics(cap[0].id, am, b, step).then((pts) => dropsChart(seen, pts)));
    for (const pair of ps) groups.push(pairGroup(pair, ctx));
    if (byKind("feed").length)
      add(["c-feed-mps", "c-feed-lost", "c-feed-lead"], false, () => Promise.all([fetchAll(feedSeries(byKind("feed"))), gapsP()])
        .then(([feedPts, gaps]) => feedCharts(seen, feedPts, perSec, gaps.gaps)));
    if (byKind("clock").length)
      add(["c-clock"], false, () => fetchAll(byKind("clock")).then((clocks) =>
        upsertChart(seen, "c-clock", "clock offset p99 per tap: |host capture time - trailer time|",
          clocks.map((t) => "tap " + t[0]), rateData(clocks, (p) => Number(p.p99_ns)), { yfmt: fmtDurShort })));
    return groups;
  }
  function pairGroup(pair, ctx) {
    const { a, am, b, step, seen } = ctx;
    return { ids: ["c-lat-" + pair, "c-heat-" + pair], wide: true,
      run: () => Promise.all([latencyData(pair, a, am, b, step), ctx.alertsP()]).then(([d, alerts]) => {
        latencyChart(seen, pair, step, d, alertMarks(alerts.alerts, pair));
        heatChart(seen, pair, d);
      }) };
  }
  /* An empty box of a chart's size in the chart's place, for a chart not
   * on the page yet: the page's layout is final before any data comes, and
   * says which charts are in the first screen. upsertChart fills it. */
  const placeholders = new Map(); /* chart id -> its empty figure */
  /* ids whose place was held and never filled (a heatmap without data, the
   * A/B lead without races): not held again, or every live refresh would
   * open and close a gap in the page */
  const unfilled = new Set();
  function holdPlace(id, wide) {
    if (charts.has(id) || placeholders.has(id) || unfilled.has(id)) return;
    const fig = chartBox("…", id);
    fig.classList.add("pending");
    const box = document.createElement("div");
    box.style.width = chartWidth(wide) + "px";
    box.style.height = PLACE_HEIGHT + "px";
    fig.appendChild(box);
    placeholders.set(id, fig);
    placeChart(fig, chartRank(id));
  }
  const PLACE_HEIGHT = 226; /* uPlot's 200 px and its legend's line */
  function inWindow(el) {
    const r = el ? el.getBoundingClientRect() : null;
    return r !== null && r.top < window.innerHeight && r.bottom > 0 && r.width > 0;
  }
  const chartInWindow = (id) => inWindow(charts.has(id) ? charts.get(id).fig : placeholders.get(id));
  function dropPlaceholders() {
    for (const [id, fig] of placeholders) { fig.remove(); unfilled.add(id); }
    placeholders.clear();
  }
  /* ids of the charts and tables a live refresh left as they were (out of
   * the window): the first of them to scroll into the window refreshes at
   * once, as Grafana loads its panels */
  const stale = new Set();
  const staleWatch = window.IntersectionObserver ? new IntersectionObserver((es) => {
    if (es.some((e) => e.isIntersecting && stale.has(e.target.id))) liveRefresh(true);
  }) : null;
  /* The overview: the charts in the window first, then the rest. Their
   * places are held (holdPlace) in their fixed order, then the groups with
   * a chart in the window load together and are drawn as their data comes;
   * shown() is called when they are all drawn (the view's time), and only
   * then do the other groups' requests, the tables' and the feeds' go out
   * (and those learning which pairs without metrics have measurements), so
   * the first screen does not queue behind thirty requests for charts below
   * it (a browser opens six connections to a host). A live refresh (live)
   * stops there: only charts and tables not on the page yet load too, the
   * others wait for the window (stale). */
  async function loadCharts(st, rg, shown, live) {
    const { a, b, am, step, stepNs, empty } = rg || chartRange(st);
    const ser = (await getJSON(`/series?after=${am}&before=${b}`)).series;
    const ps = ser.filter((s) => s.kind === "pair").map((s) => s.name);
    knownPairs = Array.from(new Set(knownPairs.concat(ps)));
    pairOrder = ps;
    const once = (f) => { let p = null; return () => p || (p = f()); };
    const ctx = { st, ser, live, a, am, b, step, seen: new Set(), perSec: (f, k) => (p) => (Number(p[f]) * (k || 1)) / covered(p.ts_ns, stepNs),
      alertsP: once(() => getJSON(`/alerts?after=${am}&before=${b}&limit=${ALERTS_SHOWN}`)),
      gapsP: once(() => getJSON(`/gaps?after=${a}&before=${b}&limit=${GAPS_SHOWN}`)) };
    chartsWidth = $("charts").clientWidth;
    const groups = chartGroups(ser, ps, ctx);
    for (const g of groups) for (const id of g.ids) holdPlace(id, g.wide);
    const first = groups.filter((g) => g.ids.some(chartInWindow));
    stale.clear();
    let feedsTable;
    try {
      await Promise.all(first.map((g) => g.run()));
      if (shown && first.length) shown();
      const more = (await extraPairs(ps, a, b)).map((pair) => pairGroup(pair, ctx));
      for (const g of more) for (const id of g.ids) holdPlace(id, g.wide);
      feedsTable = (await loadBelow(groups.filter((g) => !first.includes(g)).concat(more), ctx)).table;
      if (shown && !first.length) shown();
    } finally {
      chartsWidth = null;
      dropPlaceholders();
    }
    for (const [id, c] of charts) if (!ctx.seen.has(id)) { c.u.destroy(); c.fig.remove(); charts.delete(id); }
    let none = $("nodata");
    if (!charts.size) {
      if (!none) { none = document.createElement("p"); none.id = "nodata"; $("charts").appendChild(none); }
      none.textContent = empty ? "no data: the store is empty" : "no data in the range";
    } else if (none) none.remove();
    return { feedsTable };
  }
  /* The groups below the window and the tables: all of them, or on a live
   * refresh those in the window or not on the page yet. Returns the feeds
   * table's promise as {table}: the feeds table, the slowest request (the
   * server reads each MoldUDP64 record of the range), is filled when it
   * comes, the charts do not wait for it; it never rejects, a failure
   * shows in its place. */
  async function loadBelow(groups, ctx) {
    const missing = (g) => g.ids.some((id) => !charts.has(id) && !unfilled.has(id));
    const keep = (ids) => { for (const id of ids) { stale.add(id); if (charts.has(id)) ctx.seen.add(id); } return false; };
    const run = groups.filter((g) => !ctx.live || missing(g) || g.ids.some(chartInWindow) || keep(g.ids));
    const want = (id) => !ctx.live || inWindow($(id)) || keep([id]);
    const feeds = want("feeds") ? feedsOf(ctx.st, ctx.a, ctx.b) : null;
    const [alerts, gaps, clockSums] = await Promise.all([want("alerts") ? ctx.alertsP() : null, want("gaps") ? ctx.gapsP() : null,
      want("clocks") ? clockSummaries(ctx.ser.filter((s) => s.kind === "clock"), ctx.am, ctx.b) : null].concat(run.map((g) => g.run())));
    /* a live refresh leaves a table under the pointer as it is (stale, for
     * a later pass): a click on a link it replaced would be lost */
    const put = (id, show, v) => {
      if (v === null) return;
      if (ctx.live && $(id).matches(":hover")) keep([id]);
      else show(v);
    };
    put("alerts", showAlerts, alerts);
    put("gaps", showGaps, gaps);
    put("clocks", showClocks, clockSums);
    return { table: feeds ? feeds.then((f) => put("feeds", (v) => showFeeds(v.feeds), f),
      (e) => { setHTML("feeds", `<p class="err">feeds: ${esc(e.message)}</p>`); }) : Promise.resolve() };
  }
  /* sets element "id"'s content to "html" unless it is already that (the
   * tables are rebuilt from strings: an unchanged one keeps its nodes) */
  const shownHTML = new Map();
  function setHTML(id, html) {
    if (shownHTML.get(id) === html) return;
    shownHTML.set(id, html);
    $(id).innerHTML = html;
  }
  /* packets per kind per step; records (messages, measurements) not
   * stored when the metrics carry them, and their total from /status in
   * the title in any case */
  function dropsChart(seen, pts) {
    const x = pts.map((p) => secOf(p.ts_ns));
    const names = ["kernel", "not stored", "not analysed"];
    const data = [x, pts.map((p) => Number(p.kernel_drops)), pts.map((p) => Number(p.not_stored)), pts.map((p) => Number(p.not_analysed))];
    if (pts.length && pts.every((p) => "records_not_stored" in p)) {
      names.push("records not stored");
      data.push(pts.map((p) => Number(p.records_not_stored)));
    }
    upsertChart(seen, "c-drops", `drops per step (records not stored since start: ${recordsNotStored})`, names, data, {});
  }
  /* The feed series to chart: one per feed and tap (feed:TAP/ADDR:PORT),
   * or the all-taps ones when no tap has its own. */
  function feedSeries(ser) {
    const perTap = ser.filter((s) => s.name.includes("/"));
    return perTap.length ? perTap : ser;
  }
  /* Feeds over time, per MoldUDP64 feed and tap: ITCH messages/s; messages
   * lost per step with each sequence gap of the range (the gaps table's)
   * marked on the time axis; the lead of the A/B races each won, p50 and
   * p99, in the steps it won any. */
  function feedCharts(seen, feeds, perSec, gapList) {
    const names = feeds.map(([n]) => "feed " + n);
    upsertChart(seen, "c-feed-mps", "ITCH messages/s per feed and tap", names, rateData(feeds, perSec("count")), {});
    const marks = { bands: gapList.map((g) => [secOf(g.ts_ns), secOf(g.ts_ns)]), thresholds: [] };
    upsertChart(seen, "c-feed-lost", "messages lost per step, per feed and tap (red: each sequence gap)", names,
      rateData(feeds, (p) => Number(p.lost || 0)), { alerts: marks });
    const racing = feeds.filter(([, pts]) => pts.some((p) => Number(p.races_won) > 0));
    if (!racing.length) return;
    const tables = racing.map(([, pts]) => {
      const won = pts.filter((p) => Number(p.races_won) > 0);
      return [won.map((p) => secOf(p.ts_ns)), won.map((p) => Number(p.p50_ns)), won.map((p) => Number(p.p99_ns))];
    });
    upsertChart(seen, "c-feed-lead", "A/B lead of the races won, per feed and tap", racing.flatMap(([n]) => [`${n} p50`, `${n} p99`]),
      tables.length === 1 ? tables[0] : uPlot.join(tables), { yfmt: fmtDurShort });
  }
  /* One point per clock series over the whole range (GET /metrics with a
   * step as long as the range): the table's figures. */
  function clockSummaries(ser, am, b) {
    const step = Math.max(1, Math.ceil(Number(b - am) / 1e9));
    return Promise.all(ser.map(async (s) => [s.name, (await getJSON(
      `/metrics?series=${encodeURIComponent(s.id)}&after=${am}&before=${b}&step=${step}s`)).points]));
  }
  function showClocks(sums) {
    const rows = sums.filter(([, pts]) => pts.length).map(([tap, pts]) => {
      const p = pts[0];
      return [tap, String(p.count), `${fmtDur(p.p50_ns)} / ${fmtDur(p.p99_ns)} / ${fmtDur(p.max_ns)}`,
        p.offset_mean_ns === undefined ? "per sensor" : fmtSignedDur(Number(p.offset_mean_ns)),
        p.drift_ns_per_min === undefined ? "per sensor" : `${fmtSignedDur(p.drift_ns_per_min)}/min`,
        String(p.unsynced), String(p.backwards), String(p.untimed)];
    });
    setHTML("clocks", rows.length ? table(["tap", "frames timed", "offset p50 / p99 / max", "mean offset",
      "drift", "not synchronised", "went back", "no usable trailer"], rows)
      : "<p>no tap takes its time from a trailer in the range</p>");
  }
  /* Feeds (GET /feeds: per MoldUDP64 feed and tap) and the range's first
   * GAPS_SHOWN sequence gaps; a gap links to the pcap of its feed's packets
   * from 1 ms before to 1 ms after the packet that revealed it. */
  const GAPS_SHOWN = 100, FEEDS_EVERY_MS = 10000;
  /* {key, at, p}: the request of the range, kept while it runs and, for a
   * live range, 10 s after it started, so refreshes do not pile up */
  let feedsCache = null;
  function feedsOf(st, a, b) {
    const key = isLive(st) ? "live:" + (st.preset || st.after) : `${a}-${b}`;
    if (feedsCache && feedsCache.key === key && (!isLive(st) || Date.now() - feedsCache.at < FEEDS_EVERY_MS))
      return feedsCache.p;
    const p = getJSON(`/feeds?after=${a}&before=${b}`);
    feedsCache = { key, at: Date.now(), p };
    p.catch(() => { if (feedsCache && feedsCache.p === p) feedsCache = null; });
    return p;
  }
  function showFeeds(feeds) {
    const lead = (f) => (f.lead_ns ? `${fmtDur(f.lead_ns.p50)} / ${fmtDur(f.lead_ns.p99)} / ${fmtDur(f.lead_ns.max)}` : "");
    setHTML("feeds", feeds.length ? table(["tap", "feed", "session", "packets", "messages/s", "gaps", "lost", "races won", "lead p50 / p99 / max", "busiest ms"],
      feeds.map((f) => [String(f.tap), f.feed + (f.retransmission ? " (retransmissions)" : ""), f.session.join(" "), String(f.packets),
        fmtSI(f.messages / Math.max(1e-9, Number(curRange.b - curRange.a) / 1e9)), String(f.gaps), String(f.messages_lost),
        f.races ? `${f.races_won} of ${f.races} (${(100 * f.won_share).toFixed(1)}%)` : "", lead(f),
        f.busiest_ms ? `${f.busiest_ms.messages} at ${fmtNs(f.busiest_ms.ts_ns)}` : ""]),
      (i) => ` data-feed="${esc(feeds[i].feed)}" data-tap="${feeds[i].tap}"`) : "<p>no MoldUDP64 feed in the range</p>");
  }
  function showGaps(page) {
    const pcap = (g) => {
      const [host, port] = g.feed.split(/:(?=\d+$)/), t = BigInt(g.ts_ns), ms = 1000000n;
      const one = `udp and dst host ${host.replace(/^\[|\]$/g, "")} and dst port ${port}`;
      const f = `(${one}) or (vlan and ${one})`; /* untagged or tagged once (taps by VLAN) */
      return { html: `<a download href="${esc(apiUrl(`/packets?filter=${encodeURIComponent(f)}&after=${t - ms}&before=${t + ms}`, g.sensor))}">pcap ±1 ms</a>` };
    };
    const shown = page.gaps;
    setHTML("gaps", shown.length ? (page.more ? `<p>the first ${shown.length} gaps of the range</p>` : "") +
      table(["time (UTC)", "kind", "tap", "feed", "session", "first missing", "missing", "recovered", "packets"],
        shown.map((g) => [fmtNs(g.ts_ns), g.kind === "abgap" ? "A and B" : "gap", String(g.tap), g.feed, g.session,
          String(g.first_seq), String(g.count), g.recovered ? "yes" : "no", g.feed.includes("-") ? "" : pcap(g)]))
      : "<p>no sequence gaps in the range</p>");
  }
  /* the pairs with measurements in the range but no metrics (no closed
   * per-second window yet: a short replayed file), after those with
   * metrics ("pairs"); asked for after the first screen */
  async function extraPairs(pairs, a, b) {
    const extra = (await Promise.all(registryPairs.filter((c) => !pairs.includes(c)).map(async (cand) =>
      (await getJSON(`/measurements?pair=${cand}&after=${a}&before=${b}&sort=store&limit=1`)).measurements.length ? cand : null)))
      .filter((c) => c);
    if (extra.length) {
      pairOrder = pairs.concat(extra);
      knownPairs = Array.from(new Set(knownPairs.concat(extra)));
    }
    return extra;
  }
  /* the newest ALERTS_SHOWN alert events of the range (the API pages them
   * newest first), so a flapping rule over a day cannot flood the page;
   * the table scrolls inside a box of its own */
  const ALERTS_SHOWN = 100;
  const LATENCY_METRICS = /^(p\d+|max|min|mean)$/;
  function alertValue(x) {
    const f = x.unit === "ns" || LATENCY_METRICS.test(x.metric) ? fmtDur : (v) => fmtSI(Number(v)) + (x.unit === "1/s" ? "/s" : "");
    return x.threshold === undefined ? f(x.value) : `${x.metric} ${f(x.value)} (threshold ${f(x.threshold)})`;
  }
  function showAlerts(page) {
    const shown = page.alerts;
    const note = page.more ? `<p id="alertsmore">the newest ${shown.length} of ${page.total} alert events; narrow the range to see the others</p>` : "";
    setHTML("alerts", shown.length ? note + table(["time (UTC)", "rule", "state", "text", "value"],
      shown.map((x) => [fmtNs(x.ts_ns), x.rule, x.state,
        /^pair:/.test(x.series) ? link({ pair: x.series.slice(5), wa: String(x.from_ns), wb: String(x.to_ns), m: "", p: "", pg: "" }, x.text) : x.text,
        alertValue(x)])) : "<p>no alerts in the range</p>");
  }
  /* p50/p90/p99/p99.9/max per step from the metrics, plus the slowest
   * measurements of the range as points, so a spike can be clicked even
   * inside one step. */
  async function latencyData(pair, a, am, b, step) {
    const [m, j] = await Promise.all([getJSON(`/metrics?series=pair:${encodeURIComponent(pair)}&after=${am}&before=${b}&step=${step}s&heatmap=1`),
      getJSON(`/measurements?pair=${encodeURIComponent(pair)}&after=${a}&before=${b}&sort=latency&limit=1000&brief=1`)]);
    return { pts: m.points, lower: (m.heat_lower_ns || []).map(Number), stepSec: Number(BigInt(m.step_ns) / NS), ms: j.measurements };
  }
  const PCTS = [["p50", "p50_ns"], ["p90", "p90_ns"], ["p99", "p99_ns"], ["p99.9", "p999_ns"], ["max", "max_ns"]];
  function alertMarks(events, pair) {
    const mine = events.filter((x) => x.series === "pair:" + pair);
    return { bands: mine.map((x) => [secOf(x.from_ns), secOf(x.to_ns)]),
      thresholds: Array.from(new Set(mine.filter((x) => LATENCY_METRICS.test(x.metric)).map((x) => Number(x.threshold)))) };
  }
  function latencyChart(seen, pair, step, d, alerts) {
    const pts = d.pts;
    const ms = d.ms.map((m) => [BigInt(m.req_ts_ns), m]).sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)).map((x) => x[1]);
    const pos = (v) => (v > 0 ? v : null); /* a log axis has no 0 */
    const ms1 = [ms.map((m) => secOf(m.req_ts_ns)), ms.map((m) => pos(Number(m.latency_ns)))];
    const mt = [pts.map((p) => secOf(p.ts_ns))].concat(PCTS.map(([, f]) => pts.map((p) => pos(Number(p[f])))));
    let data;
    if (ms1[0].length && mt[0].length) data = uPlot.join([ms1, mt]);
    else if (ms1[0].length) data = [ms1[0], ms1[1]].concat(PCTS.map(() => ms1[0].map(() => null)));
    else data = [mt[0], mt[0].map(() => null)].concat(mt.slice(1));
    const fmt = (u, v) => (v == null ? "" : fmtDur(v));
    const fig = upsertChart(seen, "c-lat-" + pair, `latency ${pair} (log scale; slowest measurements, p50/p90/p99/p99.9/max per ${step}s)`,
      ["measurement"].concat(PCTS.map((p) => p[0])), data, {
        pair, wide: true, log: true, yfmt: fmtDurShort, alerts,
        series: [{ paths: () => null, points: { show: true, size: 5 }, value: fmt }].concat(PCTS.map(() => ({ value: fmt }))),
      }, (f) => {
        /* keyboard path to the drill-down (the chart itself needs a pointer) */
        const btn = document.createElement("button");
        btn.type = "button";
        btn.textContent = `List the slowest ${pair} measurements in the range`;
        btn.addEventListener("click", () => setState({ pair, wa: curRange.a.toString(), wb: curRange.b.toString(), m: "", p: "", pg: "" }));
        f.appendChild(btn);
      });
    fig.classList.add("latency");
    fig.dataset.pair = pair;
    fig.dataset.alerts = String(alerts.bands.length);
  }
  /* Latency heatmap of a pair: one column per step, one cell per latency
   * bucket of the API's heatmap (log-spaced, exact counts), coloured by its
   * count on a log scale (one measurement is still visible beside
   * thousands), on a log latency axis: a p50 of 37 us shows as its own band
   * under 5 ms maxima. Bucket 0 (below 1 us) is drawn from 512 ns, the last
   * (17 s and more) up to twice its start. fig.heat = {xs, cols, lower,
   * stepSec, max, ylo, yhi} is what the draw hook paints. */
  function heatModel(d) {
    const lower = d.lower, nb = lower.length;
    const top = (k) => (k + 1 < nb ? lower[k + 1] : lower[k] * 2);
    const bottom = (k) => (k === 0 ? top(0) / 2 : lower[k]);
    let max = 0, klo = nb, khi = -1, total = 0;
    const cols = d.pts.map((p) => (p.heat || []).map(Number));
    for (const col of cols)
      col.forEach((c, k) => { if (c > 0) { max = Math.max(max, c); klo = Math.min(klo, k); khi = Math.max(khi, k); total += c; } });
    const ylo = khi < 0 ? 1e3 : bottom(klo), yhi = khi < 0 ? 1e6 : top(khi);
    return { xs: d.pts.map((p) => secOf(p.ts_ns)), cols, top, bottom, stepSec: d.stepSec, max, total,
      /* a decade of room around the cells, on decade ticks */
      ylo: 10 ** Math.floor(Math.log10(ylo)), yhi: 10 ** Math.ceil(Math.log10(yhi)) };
  }
  function heatColour(c, max) {
    const t = max > 1 ? Math.log(c) / Math.log(max) : 1; /* 0 for one, 1 for the most */
    return `hsl(${Math.round(50 - 50 * t)}, 95%, ${Math.round(72 - 44 * t)}%)`; /* pale yellow to dark red */
  }
  function drawHeat(u, fig) {
    const h = fig.heat;
    if (!h) return;
    const ctx = u.ctx, bb = u.bbox;
    ctx.save();
    ctx.beginPath();
    ctx.rect(bb.left, bb.top, bb.width, bb.height);
    ctx.clip();
    const colour = new Map(); /* count -> fill style: many cells share a count */
    h.xs.forEach((x, i) => {
      const l = u.valToPos(x, "x", true), r = u.valToPos(x + h.stepSec, "x", true);
      h.cols[i].forEach((c, k) => {
        if (!c) return;
        const yt = u.valToPos(h.top(k), "y", true), yb = u.valToPos(h.bottom(k), "y", true);
        if (!colour.has(c)) colour.set(c, heatColour(c, h.max));
        ctx.fillStyle = colour.get(c);
        ctx.fillRect(l, yt, Math.max(r - l, 1), Math.max(yb - yt, 1));
      });
    });
    ctx.restore();
  }
  /* the legend's text for the cell under the cursor: "412 in 32.8 µs – 46.3 µs" */
  function heatAt(u, fig) {
    const h = fig && fig.heat;
    if (!h || u.cursor.left == null || u.cursor.left < 0 || u.cursor.top == null || u.cursor.top < 0) return "";
    const x = u.posToVal(u.cursor.left, "x"), y = u.posToVal(u.cursor.top, "y");
    const i = h.xs.findIndex((x0) => x0 <= x && x < x0 + h.stepSec);
    const k = i < 0 ? -1 : h.cols[i].findIndex((c, kk) => h.bottom(kk) <= y && y < h.top(kk));
    if (k < 0) return "";
    return `${h.cols[i][k].toLocaleString("en-US")} in ${fmtDurShort(h.bottom(k))} – ${fmtDurShort(h.top(k))}`;
  }
  function heatChart(seen, pair, d) {
    if (!d.lower.length) return;
    const h = heatModel(d);
    /* x: the step starts plus the end of the last step, so its column shows */
    const xs = h.xs.length ? h.xs.concat([h.xs[h.xs.length - 1] + h.stepSec]) : [];
    const data = [xs, xs.map(() => null)];
    const fig = upsertChart(seen, "c-heat-" + pair, `latency heatmap ${pair} (log scale; measurements per ${d.stepSec}s and latency bucket, ` +
      `pale = 1, dark red = ${h.max.toLocaleString("en-US")})`, ["measurements"], data, {
      pair, wide: true, log: true, yfmt: fmtDurShort, heat: h, yrange: (f) => [f.heat.ylo, f.heat.yhi], draw: drawHeat,
      series: [{ paths: () => null, points: { show: false }, value: (u) => heatAt(u, u.root.parentNode) }],
    });
    fig.classList.add("heatmap");
    fig.dataset.pair = pair;
    fig.dataset.total = String(h.total);
    fig.dataset.max = String(h.max);
  }
  /* charts follow the page's width (a chart added makes #charts taller,
   * which is no reason to redraw them all) */
  let chartsSeenWidth = null;
  if (window.ResizeObserver)
    new ResizeObserver(() => {
      const w = $("charts").clientWidth;
      if (w === chartsSeenWidth) return;
      chartsSeenWidth = w;
      if (chartsWidth !== null) chartsWidth = w; /* a pass drawing now draws at the new width */
      for (const c of charts.values()) c.u.setSize({ width: chartWidth(c.sig.endsWith("|log")), height: 200 });
    }).observe($("charts"));

  /* ---- tables ---- */
  function table(head, rows, rowAttrs) {
    let h = "<table><thead><tr>" + head.map((x) => `<th scope="col">${x && x.html !== undefined ? x.html : esc(x)}</th>`).join("") + "</tr></thead><tbody>";
    rows.forEach((r, i) => {
      h += `<tr${rowAttrs ? rowAttrs(i) : ""}>` + r.map((c) => (c && c.html !== undefined ? `<td>${c.html}</td>` : `<td>${esc(c)}</td>`)).join("") + "</tr>";
    });
    return h + "</tbody></table>";
  }
  const link = (patch, text) => ({ html: `<a href="${esc(hrefWith(patch))}">${esc(text)}</a>` });
  function hrefWith(patch) {
    const st = Object.assign(getState(), patch);
    for (const k of Object.keys(st)) if (!st[k]) delete st[k];
    return "#" + new URLSearchParams(st).toString();
  }

  /* ---- drill-down ---- */
  /* The list shows PAGE measurements at a time; "pg" in the hash (1-based,
   * absent = 1) is the page, so a shared link restores it. The API's offset
   * stops at 1000000, so the last reachable page is MAXPG. */
  const PAGE = 100, MAXPG = 1000000 / PAGE + 1;
  function pageOf(st) {
    const n = parseInt(st.pg || "1", 10);
    return Number.isInteger(n) ? Math.min(Math.max(n, 1), MAXPG) : 1;
  }
  async function loadList(st) {
    if (!st.pair || !st.wa) { $("list").hidden = true; return; }
    $("list").hidden = false;
    const pairs = (await getJSON("/series")).series.filter((x) => x.kind === "pair").map((x) => x.name);
    knownPairs = Array.from(new Set(knownPairs.concat(pairs)));
    if (knownPairs.length && !knownPairs.includes(st.pair)) {
      $("listinfo").innerHTML = `<span class="err">no pair "${esc(st.pair)}" in this store; its pairs: ${esc(knownPairs.join(", "))}</span>`;
      $("listtable").innerHTML = "";
      $("prevpage").disabled = $("nextpage").disabled = true;
      return;
    }
    const pg = pageOf(st), off = (pg - 1) * PAGE;
    const sort = st.sort === "time" ? "time" : "latency";
    $("minlat").value = st.min || "";
    $("maxlat").value = st.max || "";
    $("listkey").value = st.lkey || "";
    $("listsess").value = st.lsess || "";
    const q = (k, v) => (v ? `&${k}=${encodeURIComponent(v)}` : "");
    const filters = q("min", st.min) + q("max", st.max) + q("key", st.lkey);
    const sessions = loadSessions(st, filters);
    const j = await getJSON(`/measurements?pair=${encodeURIComponent(st.pair)}&after=${st.wa}&before=${st.wb}&sort=${sort}${filters}${q("session", st.lsess)}&limit=${PAGE}&offset=${off}&total=1`);
    $("listinfo").textContent = `pair ${st.pair}, requests in ${fmtNs(st.wa)} – ${fmtNs(st.wb)}` +
      (st.min ? `, latency ≥ ${st.min}` : "") + (st.max ? `, latency ≤ ${st.max}` : "") + (st.lkey ? `, key ${st.lkey}` : "") +
      (st.lsess ? `, session ${st.lsess.replace(">", " → ")}` : "") + (sort === "time" ? ", oldest first" : ", slowest first") +
      (j.count ? "" : ", none on this page");
    const total = j.total === undefined ? (j.more ? "more" : String(off + j.count)) : Number(j.total).toLocaleString("en-US");
    $("pageinfo").textContent = j.count ? `${(off + 1).toLocaleString("en-US")}–${(off + j.count).toLocaleString("en-US")} of ${total} (page ${pg})`
      : `page ${pg}, none of ${total}`;
    $("prevpage").disabled = pg <= 1;
    $("nextpage").disabled = !j.more || pg >= MAXPG;
    /* a click on the latency or time header sorts by it (on the server) */
    const sortLink = (key, text) => ({ html: `<a class="sort" href="${esc(hrefWith({ sort: key === "latency" ? "" : key, pg: "" }))}"` +
      `${sort === key ? ' aria-sort="descending"' : ""}>${esc(text)}${sort === key ? (key === "time" ? " ▲" : " ▼") : ""}</a>` });
    const all = allSensors();
    $("listtable").innerHTML = table([sortLink("latency", "latency"), sortLink("time", "request time (UTC)"), "key", "src → dst", "id"].concat(all ? ["sensor"] : []),
      j.measurements.map((m) => [fmtDur(m.latency_ns), fmtNs(m.req_ts_ns), m.key, `${m.src} → ${m.dst}`,
        link(Object.assign({ m: m.id, p: "" }, rowSensor(m)), m.id)].concat(all ? [m.sensor || ""] : [])),
      (i) => (j.measurements[i].id === st.m ? ' class="sel"' : ""));
    await sessions;
  }
  /* latency per session (client → server) of the list's window and
   * filters, over all its measurements (GET /sessions: the server groups
   * them), slowest first; a session filters the list, shown selected */
  const SESSIONS_SHOWN = 100;
  async function loadSessions(st, filters) {
    const j = await getJSON(`/sessions?pair=${encodeURIComponent(st.pair)}&after=${st.wa}&before=${st.wb}${filters}&limit=${SESSIONS_SHOWN}`);
    const rows = j.sessions.map((x) => [link({ lsess: st.lsess === x.session ? "" : x.session, pg: "", m: "", p: "" },
      `${x.src} → ${x.dst}`), Number(x.count).toLocaleString("en-US"), fmtDur(x.p50_ns), fmtDur(x.p99_ns), fmtDur(x.max_ns)]);
    $("sessions").innerHTML = `<p class="hint">${j.total} session${j.total === 1 ? "" : "s"}, slowest first` +
      (j.more ? `; the first ${j.count} shown` : "") + "; one filters the list, again to clear</p>" +
      (rows.length ? table(["session (client → server)", "measurements", "p50", "p99", "max"], rows,
        (i) => (j.sessions[i].session === st.lsess ? ' class="sel"' : "")) : "<p>none</p>");
  }
  let pcapCache = { id: null, recs: null };
  /* the records of a pcap download; none (linktype -1) if the server said no */
  async function pcapRecords(url) {
    const r = await fetch(url);
    if (!r.ok) return Object.assign([], { linktype: -1 });
    return parsePcap(await r.arrayBuffer());
  }
  function msgBlock(title, side, st) {
    if (!side || !side.message) return `<div><h3>${esc(title)}</h3><p>message no longer in the store</p></div>`;
    const m = side.message;
    const ver = CsFix.label(fixVer(m));
    let h = `<div><h3>${esc(title)}: ${esc(m.proto)} ${esc(msgType(m))}${ver ? ` <span class="ver">(${esc(ver)})</span>` : ""}</h3>`;
    h += table(["", ""], [["id", m.id], ["time (UTC)", fmtNs(m.ts_ns)], ["last packet (UTC)", fmtNs(m.last_ts_ns)],
      ["src → dst", `${m.src} → ${m.dst}`], ["key", m.key], ["length", String(m.len)]]);
    h += "<h4>Fields</h4>" + table(["field", "value"], m.fields.map((f) => [fieldName(m, f[0]), f[1]]));
    h += "<h4>Packets</h4>" + table(["time (UTC)", "caplen", "summary", "ref"],
      side.packets.map((p) => p.ts_ns === undefined /* expired (retention) or unreadable */
        ? ["—", "—", p.expired ? "no longer stored (retention)" : "unreadable", p.ref]
        : [fmtNs(p.ts_ns), String(p.caplen), p.summary, link({ p: p.ref }, p.ref)]),
      (i) => ` class="pkt${side.packets[i].ref === st.p ? " sel" : ""}" data-ref="${esc(side.packets[i].ref)}"`);
    return h + "</div>";
  }
  async function loadDetail(st) {
    if (!st.m) { $("detail").hidden = true; $("bytes").hidden = true; return null; }
    $("detail").hidden = false;
    /* the measurements a message starts share its id (its A/B race and its
     * hop): the pair of the view says which one */
    const which = st.pair ? `?pair=${encodeURIComponent(st.pair)}` : "";
    const j = await getJSON("/measurements/" + encodeURIComponent(st.m) + which);
    const m = j.measurement;
    const pcapUrl = apiUrl(`/measurements/${encodeURIComponent(m.id)}/pcap${which}`);
    const refs = new Set();
    for (const s of [j.request, j.response]) if (s) s.packets.forEach((p) => refs.add(p.ref));
    if (pcapCache.id !== st.m + which) pcapCache = { id: st.m + which, recs: await pcapRecords(pcapUrl) };
    let h = `<p class="mono">${esc(m.id)} · pair ${esc(m.pair)} · key ${esc(m.key)} · ` +
      `request ${esc(fmtNs(m.req_ts_ns))} · response ${esc(fmtNs(m.resp_ts_ns))} · latency <strong id="latency">${esc(fmtDur(m.latency_ns))}</strong> (${esc(m.latency_ns)} ns)</p>`;
    h += `<p><a id="pcaplink" href="${esc(pcapUrl)}" download="${esc(m.id)}.pcap" data-packets="${refs.size}">Download the pcap of these ${refs.size} packets</a></p>`;
    h += flowLink(m, pcapCache.recs);
    h += `<div class="side">${msgBlock("Request", j.request, st)}${msgBlock("Response", j.response, st)}</div>`;
    $("detailbody").innerHTML = h;
    return { j, pcapUrl };
  }
  /* the second download: every stored packet of the flow around the
   * measurement, both directions, over the whole store's time range (as
   * known at this render), through GET /packets with flowFilter's BPF */
  function flowLink(m, recs) {
    const f = flowFilter(recs);
    if (!f) return `<p id="flownone">no pcap of the whole flow: none of the measurement's packets has Ethernet, IP and TCP/UDP headers in the store</p>`;
    let q = `filter=${encodeURIComponent(f)}`;
    if (storeMin !== null && storeMax !== null) q += `&after=${storeMin}&before=${storeMax + 1n}`;
    return `<p><a id="flowlink" href="${esc(apiUrl("/packets?" + q))}" download="${esc(m.id)}-flow.pcap" data-filter="${esc(f)}">` +
      `Download the pcap of the whole flow</a> (both directions, all of its stored packets) · filter <code>${esc(f)}</code></p>`;
  }
  async function loadBytes(st, det) {
    if (!st.p || !det) { $("bytes").hidden = true; return; }
    $("bytes").hidden = false;
    const all = [].concat(det.j.request ? det.j.request.packets : [], det.j.response ? det.j.response.packets : []);
    const p = all.find((x) => x.ref === st.p);
    const rec = p && pcapCache.recs.find((r) => r.ts_ns === String(p.ts_ns) && r.caplen === p.caplen);
    if (!rec) { $("bytesbody").innerHTML = `<p class="err">packet ${esc(st.p)} not in the measurement's pcap</p>`; return; }
    $("bytesbody").innerHTML = `<p class="mono">${esc(p.ref)} · ${esc(fmtNs(p.ts_ns))} · caplen ${p.caplen} · wirelen ${p.wirelen}</p>` +
      `<p class="mono">${esc(p.summary)}</p><ul class="mono" aria-label="decoded layers">` +
      layers(rec.bytes).map((l) => `<li>${esc(l)}</li>`).join("") + `</ul><pre class="hex" aria-label="bytes in hex and ASCII">${esc(hexdump(rec.bytes))}</pre>`;
  }

  /* ---- search ---- */
  /* FIX field and message type names of the version a message is in
   * (web/fixdict.js); a tag or type it does not know is shown by number */
  const fixVer = (m) => (m.proto === "fix" ? CsFix.version(m.fields || []) : "");
  const named = (code, name) => (name ? `${code} ${name}` : code);
  const msgType = (m) => (m.proto === "fix" ? named(m.type, CsFix.typeName(fixVer(m), m.type)) : m.type);
  const fieldName = (m, tag) => (m.proto === "fix" ? named(tag, CsFix.tagName(fixVer(m), tag)) : tag);

  /* Search. The API matches keys exactly (FIX: ClOrdID; HTTP: "METHOD
   * URI"; DNS: "ID NAME"), so one text is tried as several keys and two
   * bounded scans add what keys cannot find:
   *   - a path ("/x") is also tried as "GET /x", "POST /x", ...;
   *   - a DNS name is matched against the names of the range's first
   *     SCAN DNS messages, and their keys then find their measurements;
   *   - a FIX order's execution reports come with it by key (a reply is
   *     stored with the ClOrdID it answers, tag 11); those naming it as
   *     OrigClOrdID (tag 41: a cancel or replace, keyed by its new
   *     ClOrdID) are found among the SCAN type-8 messages from the order on.
   * Every id is a link: a measurement opens in the page, a message opens
   * its measurement when one is known, else its JSON. */
  const SCAN = 1000, METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"];
  function keyForms(q) { return /^\//.test(q) ? [q].concat(METHODS.map((m) => m + " " + q)) : [q]; }
  const isDnsName = (q) => /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+\.?$/.test(q);
  async function byKeys(keys) {
    const got = await Promise.all(keys.map((k) => Promise.all([getJSON(`/messages?key=${encodeURIComponent(k)}&limit=100`),
      getJSON(`/measurements?key=${encodeURIComponent(k)}&limit=100`)])));
    return { msgs: got.flatMap((g) => g[0].messages), meas: got.flatMap((g) => g[1].measurements) };
  }
  async function dnsByName(q, r) {
    const name = q.replace(/\.$/, "");
    const j = await getJSON(`/messages?proto=dns&after=${r.a}&before=${r.b}&limit=${SCAN}`);
    return j.messages.filter((m) => (m.key.split(" ")[1] || "").replace(/\.$/, "") === name);
  }
  async function fixReports(q, orders) {
    if (!orders.length) return [];
    const j = await getJSON(`/messages?proto=fix&type=8&after=${orders[0].ts_ns}&limit=${SCAN}`);
    return j.messages.filter((m) => m.fields.some((f) => (f[0] === "11" || f[0] === "41") && f[1] === q));
  }
  /* one row per record: ids are a sensor's own, so a hub's rows are told apart by sensor too */
  const uniqBy = (xs) => Array.from(new Map(xs.map((x) => [(x.sensor || "") + "\n" + x.id, x])).values());
  async function loadSearch(st) {
    $("key").value = st.key || "";
    if (!st.key) { $("searchresults").innerHTML = ""; return; }
    const q = st.key, r = curRange || range(st);
    let { msgs, meas } = await byKeys(keyForms(q));
    const notes = [];
    if (isDnsName(q)) {
      const dns = await dnsByName(q, r);
      notes.push(`DNS names matched among the first ${SCAN} DNS messages of the range`);
      const more = await byKeys(Array.from(new Set(dns.map((m) => m.key))).slice(0, 20));
      msgs = msgs.concat(dns, more.msgs);
      meas = meas.concat(more.meas);
    }
    const orders = msgs.filter((m) => m.proto === "fix" && m.role === "request" && m.key === q).sort((x, y) => (BigInt(x.ts_ns) < BigInt(y.ts_ns) ? -1 : 1));
    if (orders.length) {
      msgs = msgs.concat(await fixReports(q, orders));
      notes.push(`execution reports (tag 11 or 41 = ${q}) among the first ${SCAN} after the order`);
    }
    msgs = uniqBy(msgs).sort((x, y) => (BigInt(x.ts_ns) < BigInt(y.ts_ns) ? -1 : 1));
    meas = uniqBy(meas);
    const measOf = new Map();
    const msgKey = (sensor, id) => (sensor || "") + "\n" + id;
    meas.forEach((m) => { measOf.set(msgKey(m.sensor, m.req_msg), m); measOf.set(msgKey(m.sensor, m.resp_msg), m); });
    const msgLink = (m) => {
      const ms = measOf.get(msgKey(m.sensor, m.id));
      return ms ? link(Object.assign({ m: ms.id, pair: ms.pair, p: "", pg: "" }, rowSensor(ms)), m.id)
        : { html: `<a href="${esc(apiUrl("/messages/" + encodeURIComponent(m.id), m.sensor))}">${esc(m.id)}</a>` };
    };
    let h = `<h3>Measurements for “${esc(q)}”</h3>`;
    h += meas.length ? table(["latency", "request time (UTC)", "pair", "key", "id"],
      meas.map((m) => [fmtDur(m.latency_ns), fmtNs(m.req_ts_ns), m.pair, m.key, link(Object.assign({ m: m.id, pair: m.pair, p: "", pg: "" }, rowSensor(m)), m.id)])) : "<p>none</p>";
    h += `<h3>Messages for “${esc(q)}”</h3>`;
    h += msgs.length ? table(["time (UTC)", "proto", "type", "key", "src → dst", "id", "packets"],
      msgs.map((m) => [fmtNs(m.ts_ns), m.proto, msgType(m), m.key, `${m.src} → ${m.dst}`, msgLink(m),
        { html: `<a href="${esc(apiUrl(`/messages/${encodeURIComponent(m.id)}/pcap`, m.sensor))}" download="${esc(m.id)}.pcap">pcap (${m.packets.length})</a>` }])) : "<p>none</p>";
    if (notes.length) h += `<p class="hint">Also searched: ${esc(notes.join("; "))}.</p>`;
    $("searchresults").innerHTML = h;
  }

  /* ---- orders (OUCH order entry) ----
   * #view=orders shows the section; order=ID&osess=SRC>DST opens one
   * order's lifecycle (ID: the 5.0 UserRefNum or the 4.2 token, without the
   * O:/X:/U: prefix; the session is the client → venue connection, since an
   * ID repeats across sessions); om=MSGID opens one message of it.
   *
   * Sessions: the pair ouch measurements of the range in time order, at
   * most ORDER_PAGES pages of 1000 (GET /measurements?pair=ouch&sort=time),
   * grouped per session and tap; the hop (tap to tap) and t2t (tick to
   * trade) measurements of the same pages' bounds whose order message is
   * one of those, per session and taps. Percentiles are nearest-rank over
   * exactly those measurements. The recent orders are the newest
   * ORDERS_SHOWN Enter orders of those pages.
   *
   * Lifecycle: the requests by key (GET /messages?proto=ouch&key=O:ID,
   * X:ID, U:ID), the responses of their ouch measurements (Accepted,
   * Rejected, Canceled, Replaced, Cancel Reject: resp_msg, GET
   * /messages/{id}), and the key-less order events (Executed, unsolicited
   * Canceled...) found among the first ORDER_SCAN OUCH messages from the
   * order's first sighting, on the session's connection, by their order
   * field. A Replace's replacement token renames the order: the new ID's
   * messages join the same time line (at most CHAIN_MAX renames). */
  const ORDER_PAGES = 5, ORDERS_SHOWN = 50, ORDER_SCAN = 1000, CHAIN_MAX = 20;
  const ORDER_FIELDS = ["user_ref_num", "order_token", "existing_order_token", "replacement_order_token", "previous_order_token", "orig_user_ref_num"];
  const sessOf = (m) => `${m.src}>${m.dst}`; /* a request's (client > venue) */
  const sessOfResp = (m) => `${m.dst}>${m.src}`;
  const sessText = (s) => s.replace(">", " → ");
  const orderIdOf = (key) => key.replace(/^[OXU]:/, "");
  const byTime = (x, y) => { const a = BigInt(x.ts_ns), b = BigInt(y.ts_ns); return a < b ? -1 : a > b ? 1 : 0; };
  async function pages(path) { /* up to ORDER_PAGES pages of 1000 */
    let all = [], more = false;
    for (let pg = 0; pg < ORDER_PAGES; pg++) {
      const j = await getJSON(`${path}&limit=1000&offset=${pg * 1000}`);
      all = all.concat(j.measurements);
      more = j.more;
      if (!more) break;
    }
    return { list: all, more };
  }
  const nearest = (xs, p) => xs[Math.max(0, Math.ceil(p * xs.length) - 1)];
  function latRow(pair, sess, taps, ms) {
    const xs = ms.map((m) => BigInt(m.latency_ns)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return { pair, sess, taps, count: xs.length, rejects: ms.filter((m) => m.resp_type === "rejected").length,
      p50: nearest(xs, 0.5), p99: nearest(xs, 0.99), max: xs[xs.length - 1] };
  }
  let ordersCache = null; /* {key, got} */
  async function orderSessions(st, a, b) {
    const key = `${a}-${b}`;
    if (ordersCache && ordersCache.key === key && !isLive(st)) return ordersCache.got;
    const q = `after=${a}&before=${b}&sort=time`;
    const [ouch, hop, t2t] = await Promise.all(["ouch", "hop", "t2t"].map((p) => pages(`/measurements?pair=${p}&${q}`)));
    const reqOf = new Map(ouch.list.map((m) => [m.req_msg, m]));
    const groups = new Map();
    const add = (k, row, m) => { if (!groups.has(k)) groups.set(k, { row, ms: [] }); groups.get(k).ms.push(m); };
    for (const m of ouch.list) add(`${sessOf(m)}|ouch|${m.tap}`, ["ouch", sessOf(m), String(m.tap)], m);
    for (const m of hop.list) {
      const o = reqOf.get(m.req_msg);
      if (o) add(`${sessOf(o)}|hop|${m.req_tap}>${m.resp_tap}`, ["hop", sessOf(o), `${m.req_tap} → ${m.resp_tap}`], m);
    }
    for (const m of t2t.list) {
      const o = reqOf.get(m.resp_msg);
      if (o) add(`${sessOf(o)}|t2t|${m.req_tap}>${o.tap}`, ["t2t", sessOf(o), `${m.req_tap} → ${o.tap}`], m);
    }
    const order = { ouch: 0, hop: 1, t2t: 2 };
    const rows = Array.from(groups.values()).map((g) => latRow(g.row[0], g.row[1], g.row[2], g.ms))
      .sort((x, y) => (x.sess < y.sess ? -1 : x.sess > y.sess ? 1 : order[x.pair] - order[y.pair] || (x.taps < y.taps ? -1 : x.taps > y.taps ? 1 : 0)));
    /* recent orders: one row per session and order, first sighting first seen */
    const orders = new Map();
    for (const m of ouch.list) {
      if (!m.key.startsWith("O:")) continue;
      const k = `${sessOf(m)}|${m.key}`;
      const o = orders.get(k);
      if (!o) orders.set(k, { sess: sessOf(m), id: orderIdOf(m.key), first: m, taps: [m.tap], resp: m.resp_type });
      else if (!o.taps.includes(m.tap)) o.taps.push(m.tap);
    }
    const recent = Array.from(orders.values()).sort((x, y) => -byTime({ ts_ns: x.first.req_ts_ns }, { ts_ns: y.first.req_ts_ns })).slice(0, ORDERS_SHOWN);
    const got = { rows, recent, more: { ouch: ouch.more, hop: hop.more, t2t: t2t.more }, n: ouch.list.length };
    ordersCache = { key, got };
    return got;
  }
  /* every message of order "id" on session "sess" and of the orders it was
   * renamed to: {msgs (time order), chain, notes, sessions (of the id when
   * sess is not given)} */
  async function orderMessages(id, sess) {
    const chain = [id], seen = new Map(), notes = [];
    const respIds = new Set();
    let sessions = null;
    for (let i = 0; i < chain.length && i < CHAIN_MAX; i++) {
      const ks = ["O:", "X:", "U:"].map((p) => p + chain[i]);
      const got = await Promise.all(ks.map((k) => Promise.all([
        getJSON(`/messages?proto=ouch&key=${encodeURIComponent(k)}&limit=1000`),
        getJSON(`/measurements?pair=ouch&key=${encodeURIComponent(k)}&limit=1000`)])));
      let reqs = got.flatMap((g) => g[0].messages), meas = got.flatMap((g) => g[1].measurements);
      if (!sess) { /* which sessions have this order: the caller picks */
        sessions = Array.from(new Set(reqs.map(sessOf))).sort();
        if (sessions.length !== 1) return { msgs: [], chain, notes, sessions };
        sess = sessions[0];
      }
      reqs = reqs.filter((m) => sessOf(m) === sess);
      meas = meas.filter((m) => sessOf(m) === sess);
      for (const m of reqs) {
        seen.set(m.id, m);
        if (m.type === "replace_order") {
          const f = m.fields.find((x) => x[0] === "replacement_order_token" || x[0] === "user_ref_num");
          if (f && !chain.includes(f[1])) chain.push(f[1]);
        }
      }
      meas.forEach((m) => { if (m.resp_msg) respIds.add(m.resp_msg); });
    }
    if (chain.length > CHAIN_MAX) notes.push(`the first ${CHAIN_MAX} orders of the replace chain`);
    const resps = await Promise.all(Array.from(respIds).filter((x) => !seen.has(x)).map(async (x) => {
      try { return (await getJSON("/messages/" + encodeURIComponent(x))).message; } catch (e) { return null; }
    }));
    resps.forEach((m) => { if (m) seen.set(m.id, m); });
    const first = Array.from(seen.values()).sort(byTime)[0];
    if (first) {
      const j = await getJSON(`/messages?proto=ouch&after=${first.ts_ns}&limit=${ORDER_SCAN}`);
      const ids = new Set(chain);
      for (const m of j.messages) {
        if (seen.has(m.id) || m.role === "request" || sessOfResp(m) !== sess) continue;
        if (m.fields.some((f) => ORDER_FIELDS.includes(f[0]) && ids.has(f[1]))) seen.set(m.id, m);
      }
      notes.push(`order events without a key (executions, unsolicited cancels) among the first ${ORDER_SCAN} OUCH messages from the order's first sighting` +
        (j.more ? " (more followed)" : ""));
    }
    return { msgs: Array.from(seen.values()).sort(byTime), chain, notes, sessions: [sess], sess };
  }
  async function loadOrders(st) {
    const on = st.view === "orders";
    $("orders").hidden = !on;
    for (const a of document.querySelectorAll("#views a")) {
      a.setAttribute("aria-current", String((a.dataset.view || "") === (st.view || "")));
      a.href = hrefWith(a.dataset.view ? { view: a.dataset.view } : { view: "", om: "" });
    }
    if (!on) { $("ordermsg").hidden = true; return; }
    if (allSensors()) { /* an order lives on one sensor's sessions */
      $("ordersessions").innerHTML = `<p class="hint" id="orders-pick">The Orders view is one sensor's: pick a sensor above.</p>`;
      $("recentorders").innerHTML = $("lifecycle").innerHTML = "";
      $("ordermsg").hidden = true;
      return;
    }
    const { a, b } = curRange || range(st);
    const [s] = await Promise.all([orderSessions(st, a, b), loadOrder(st)]);
    const cut = Object.entries(s.more).filter(([, v]) => v).map(([k]) => k);
    $("ordersessions").innerHTML = (cut.length ? `<p class="hint">from the first ${ORDER_PAGES * 1000} ${esc(cut.join(", "))} measurements of the range</p>` : "") +
      (s.rows.length ? table(["session (client → venue)", "pair", "tap", "measurements", "rejects", "p50", "p99", "max"],
        s.rows.map((r) => [sessText(r.sess), r.pair, r.taps, String(r.count), r.pair === "ouch" ? String(r.rejects) : "",
          fmtDur(r.p50), fmtDur(r.p99), fmtDur(r.max)]),
        (i) => ` data-session="${esc(s.rows[i].sess)}" data-pair="${esc(s.rows[i].pair)}"`) : "<p>no OUCH orders in the range</p>");
    $("orderid").value = st.order || "";
    $("recentorders").innerHTML = s.recent.length ? table(["first seen (UTC)", "order", "session", "taps", "answer", "latency (first tap)"],
      s.recent.map((o) => [fmtNs(o.first.req_ts_ns), link({ order: o.id, osess: o.sess, om: "", p: "" }, o.id), sessText(o.sess),
        o.taps.join(", "), o.resp || "", fmtDur(o.first.latency_ns)]),
      (i) => ` data-order="${esc(s.recent[i].id)}" data-session="${esc(s.recent[i].sess)}"`) : "<p>none</p>";
  }
  async function loadOrder(st) {
    if (!st.order) { $("lifecycle").innerHTML = ""; $("ordermsg").hidden = true; return; }
    const r = await orderMessages(st.order, st.osess || "");
    if (!st.osess && r.sessions && r.sessions.length !== 1) {
      $("lifecycle").innerHTML = r.sessions.length ? `<p>order ${esc(st.order)} is on ${r.sessions.length} sessions: </p><ul id="ordersess">` +
        r.sessions.map((x) => `<li>${link({ osess: x, om: "" }, sessText(x)).html}</li>`).join("") + "</ul>"
        : `<p>no OUCH order ${esc(st.order)} (keys O:, X:, U:) in the store</p>`;
      $("ordermsg").hidden = true;
      return;
    }
    const msgs = r.msgs;
    if (!msgs.length) { $("lifecycle").innerHTML = `<p>no message of order ${esc(st.order)} on ${esc(sessText(r.sess))}</p>`; $("ordermsg").hidden = true; return; }
    const t0 = BigInt(msgs[0].ts_ns);
    const taps = Array.from(new Set(msgs.map((m) => m.tap))).sort((x, y) => x - y);
    const orderOf = (m) => (m.key ? orderIdOf(m.key) : ((m.fields.find((f) => ORDER_FIELDS.includes(f[0])) || [])[1] || ""));
    const cell = (m) => ({ html: `<a href="${esc(hrefWith({ om: m.id, p: "" }))}">${esc(m.type)}</a>` +
      (m.error ? ` <span class="err">${esc(m.error)}</span>` : "") + ` <span class="hint">${m.dir === 0 ? "→ venue" : "← venue"}</span>` });
    let h = `<p class="mono" id="orderinfo">order ${esc(r.chain.join(" → "))} · session ${esc(sessText(r.sess))} · ` +
      `${msgs.length} messages at ${taps.length === 1 ? "tap" : "taps"} ${esc(taps.join(", "))} · first seen ${esc(fmtNs(msgs[0].ts_ns))}</p>`;
    h += table(["+ from first sighting", "time (UTC)", "order"].concat(taps.map((t) => `tap ${t}`)),
      msgs.map((m) => [fmtDur(BigInt(m.ts_ns) - t0), fmtNs(m.ts_ns), orderOf(m)].concat(taps.map((t) => (m.tap === t ? cell(m) : "")))),
      (i) => ` data-msg="${esc(msgs[i].id)}" data-tap="${msgs[i].tap}" data-type="${esc(msgs[i].type)}"${msgs[i].id === st.om ? ' class="sel"' : ""}`);
    if (r.notes.length) h += `<p class="hint">Also: ${esc(r.notes.join("; "))}.</p>`;
    $("lifecycle").innerHTML = h;
    await loadOrderMsg(st);
  }
  /* one message: its fields, its packets (hex dumps from its pcap) and the pcap download */
  async function loadOrderMsg(st) {
    if (!st.om) { $("ordermsg").hidden = true; return; }
    $("ordermsg").hidden = false;
    const j = await getJSON("/messages/" + encodeURIComponent(st.om));
    const m = j.message, url = apiUrl(`/messages/${encodeURIComponent(m.id)}/pcap`);
    const recs = await pcapRecords(url);
    let h = `<p class="mono">${esc(m.id)} · ${esc(m.proto)} ${esc(m.type)} · tap ${esc(m.tap)} · ${esc(fmtNs(m.ts_ns))} · ${esc(m.src)} → ${esc(m.dst)}` +
      (m.key ? ` · key ${esc(m.key)}` : "") + (m.error ? ` · <span class="err">${esc(m.error)}</span>` : "") + "</p>";
    h += `<p><a id="msgpcap" href="${esc(url)}" download="${esc(m.id)}.pcap" data-packets="${j.packets.length}">Download the pcap of its ${j.packets.length} packet${j.packets.length === 1 ? "" : "s"}</a></p>`;
    h += `<div class="side"><div><h3>Fields</h3>` + table(["field", "value"], m.fields.map((f) => [f[0], f[1]])) + "</div>";
    h += `<div><h3>Packets</h3>` + table(["time (UTC)", "caplen", "summary", "ref"],
      j.packets.map((p) => (p.ts_ns === undefined ? ["—", "—", p.expired ? "no longer stored (retention)" : "unreadable", p.ref]
        : [fmtNs(p.ts_ns), String(p.caplen), p.summary, p.ref])),
      (i) => ` class="pkt" data-ref="${esc(j.packets[i].ref)}"`);
    for (const p of j.packets) {
      const rec = p.ts_ns !== undefined && recs.find((x) => x.ts_ns === String(p.ts_ns) && x.caplen === p.caplen);
      if (rec) h += `<details class="pktbytes" data-ref="${esc(p.ref)}"><summary>${esc(p.ref)}: layers and bytes</summary><ul class="mono">` +
        layers(rec.bytes).map((l) => `<li>${esc(l)}</li>`).join("") + `</ul><pre class="hex" aria-label="bytes in hex and ASCII">${esc(hexdump(rec.bytes))}</pre></details>`;
    }
    $("ordermsgbody").innerHTML = h + "</div></div>";
  }

  /* ---- render ---- */
  /* the section a change of state is about, to be scrolled into view: the
   * deepest one that changed (on first load, the deepest one shown) */
  function scrollTarget(prev, st) {
    const changed = (...ks) => !prev || ks.some((k) => prev[k] !== st[k]);
    if (st.p && changed("p")) return "bytes";
    if (st.m && changed("m")) return "detail";
    if (st.pair && st.wa && changed("pair", "wa", "wb", "pg", "sort", "min", "max", "lkey", "lsess")) return "list";
    if (st.view === "orders" && st.om && changed("om")) return "ordermsg";
    if (st.view === "orders" && changed("view", "order", "osess")) return "orders";
    if (st.key && changed("key")) return "search";
    return null;
  }
  function fillInputs(st) {
    const { a, b } = curRange || range(st);
    const live = isLive(st);
    $("preset").value = st.after || st.before ? "custom" : (st.preset || "5m");
    for (const btn of $("presets").querySelectorAll("button"))
      btn.setAttribute("aria-pressed", String(!st.after && !st.before && btn.dataset.preset === (st.preset || "5m")));
    $("live").checked = live;
    /* a live range keeps its relative text; the inputs are not touched while edited */
    for (const [id, v] of [["after", a], ["before", b]])
      if (document.activeElement !== $(id)) $(id).value = storeMax === null && !st.after ? "" : fmtNs(v);
  }
  async function render() {
    if (busy) { render.again = true; return; }
    busy = true;
    document.body.dataset.ready = "0";
    document.body.dataset.content = "0";
    const st = getState();
    showError("");
    try {
      await loadStatus();
      const rg = chartRange(st);
      const list0 = loadList(st), search0 = loadSearch(st);
      const detail0 = list0.then(() => loadDetail(st)).then((det) => loadBytes(st, det));
      /* a view of its own (a measurement, a search, a list) is drawn
       * first and the overview's charts after it: their thirty-odd
       * requests would otherwise share the server with its few */
      const own = st.m || st.p ? detail0 : st.key ? search0 : st.view === "orders" ? null : st.pair && st.wa ? list0 : null;
      /* data-content: the view's own content is on the page (what a view
       * time measures: the overview's, its charts in the window); data-ready:
       * everything is */
      const content = () => { document.body.dataset.content = "1"; };
      const overview = !own && st.view !== "orders";
      const charts0 = own ? own.then(() => loadCharts(st, rg), () => loadCharts(st, rg)) : loadCharts(st, rg, overview ? content : null);
      const orders0 = charts0.then(() => loadOrders(st));
      if (!overview) (own || orders0).then(content, () => {});
      await Promise.all([charts0.then(() => fillInputs(st)), search0, detail0, orders0, charts0.then((c) => c.feedsTable)]);
      const target = scrollTarget(prevState, st);
      if (target) $(target).scrollIntoView({ block: "start" });
    } catch (e) {
      showError("error: " + e.message);
    }
    prevState = st;
    busy = false;
    document.body.dataset.content = "1";
    document.body.dataset.ready = "1";
    if (render.again) { render.again = false; render(); }
  }

  /* ---- wiring ---- */
  $("preset").addEventListener("change", () => {
    const v = $("preset").value;
    if (v !== "custom") setState({ preset: v, after: "", before: "" });
  });
  /* quick ranges: one click sets a range ending now, live */
  for (const btn of $("presets").querySelectorAll("button"))
    btn.addEventListener("click", () => setState({ preset: btn.dataset.preset, after: "", before: "" }));
  $("apply").addEventListener("click", () => {
    const now = nowNs(), ta = $("after").value.trim(), tb = $("before").value.trim() || "now";
    const a = parseTime(ta, now), b = parseTime(tb, now);
    const bad = a === null ? ta : b === null ? tb : null;
    if (bad !== null) { showError(`"${bad}" is not a time: use RFC 3339 UTC, 'YYYY-MM-DD hh:mm:ss', epoch ns, '5m ago' or 'now'`); return; }
    if (a >= b) { showError(`the range ends before it starts (${fmtNs(a)} – ${fmtNs(b)})`); return; }
    /* a range ending "now" stays relative (live); any other is absolute */
    const rel = (t, v) => (/ago$|^now/.test(t) ? t : v.toString());
    if (tb === "now") setState({ preset: "", after: rel(ta, a), before: "now" });
    else setState({ preset: "", after: a.toString(), before: b.toString() });
  });
  $("live").addEventListener("change", () => {
    const st = getState();
    if ($("live").checked) {
      /* back to "now": a fixed range keeps its length, as a preset when one fits */
      const { a, b } = curRange || range(st);
      const len = (b - a) / NS;
      const preset = Object.keys(PRESETS).find((k) => PRESETS[k] >= len) || "7d";
      setState({ preset, after: "", before: "" });
    } else {
      const { a, b } = curRange || range(st);
      setState({ preset: "", after: a.toString(), before: b.toString() });
    }
  });
  /* zoom out (twice the span, same centre) and pan (half a span); a pan
   * that reaches now goes live again */
  function shift(kind) {
    const { a, b } = curRange || range(getState());
    const span = b - a, now = nowNs();
    let na = a, nb = b;
    if (kind === "out") { na = a - span / 2n; nb = b + span / 2n; }
    else if (kind === "left") { na = a - span / 2n; nb = b - span / 2n; }
    else { na = a + span / 2n; nb = b + span / 2n; }
    if (nb >= now) setState({ preset: "", after: `${nb - na}ns ago`, before: "now" });
    else setState({ preset: "", after: na.toString(), before: nb.toString() });
  }
  $("zoomout").addEventListener("click", () => shift("out"));
  $("panleft").addEventListener("click", () => shift("left"));
  $("panright").addEventListener("click", () => shift("right"));
  $("prevpage").addEventListener("click", () => {
    const pg = pageOf(getState());
    setState({ pg: pg > 2 ? String(pg - 1) : "" });
  });
  $("nextpage").addEventListener("click", () => setState({ pg: String(pageOf(getState()) + 1) }));
  $("minform").addEventListener("submit", (ev) => {
    ev.preventDefault();
    setState({ min: $("minlat").value.trim(), max: $("maxlat").value.trim(), lkey: $("listkey").value.trim(),
      lsess: $("listsess").value.trim().replace(/\s*→\s*/, ">"), pg: "" });
  });
  $("orderform").addEventListener("submit", (ev) => {
    ev.preventDefault();
    setState({ view: "orders", order: $("orderid").value.trim().replace(/^[OXU]:/, ""), osess: "", om: "" });
  });
  $("keyform").addEventListener("submit", (ev) => { ev.preventDefault(); setState({ key: $("key").value.trim() }); });
  /* the filter is tried first: a 400 (bad filter) is shown, not downloaded;
   * a good one is aborted after its headers and then downloaded by the link */
  $("bpfform").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const l = $("bpflink"), f = $("bpf").value.trim();
    l.hidden = true;
    showError("");
    const { a, b } = curRange || range(getState());
    const url = apiUrl(`/packets?filter=${encodeURIComponent(f)}&after=${a}&before=${b}`);
    const ctl = new AbortController();
    try {
      const r = await fetch(url, { signal: ctl.signal });
      if (!r.ok) {
        let why = "HTTP " + r.status;
        try { why = (await r.json()).error || why; } catch (e) { /* not JSON: the status says it */ }
        showError(`filter "${f}" refused: ${why}`);
        return;
      }
      ctl.abort();
    } catch (e) {
      if (e.name !== "AbortError") { showError(`filter "${f}": ${e.message}`); return; }
    }
    l.href = url;
    l.hidden = false;
    l.textContent = "pcap of packets matching “" + f + "”";
    l.click();
  });
  window.addEventListener("hashchange", render);
  /* live: stream events refresh the status line (always) and, while the
   * range ends at now, the charts and tables in the window in place and the
   * from/to inputs; at most every 2 s (or at once when a chart left stale
   * scrolls into the window: force), never mid-drag */
  let mouseDown = false;
  document.addEventListener("mousedown", () => { mouseDown = true; });
  document.addEventListener("mouseup", () => { mouseDown = false; });
  async function liveRefresh(force) {
    const st = getState();
    if (busy || mouseDown || (!force && Date.now() - lastLive < 2000)) return;
    lastLive = Date.now();
    busy = true;
    try {
      await loadStatus();
      if (isLive(st) && $("live").checked) { await loadCharts(st, null, null, true); fillInputs(st); }
    } catch (e) { /* next event retries */ }
    busy = false;
    if (render.again) { render.again = false; render(); }
  }
  for (const id of ["alerts", "feeds", "gaps", "clocks"]) if (staleWatch) staleWatch.observe($(id));
  if (window.EventSource) {
    /* only metrics and alert events are used: measurement events, which
     * would come at the full measurement rate, are not asked for */
    const es = new EventSource(API + "/stream?events=metrics,alert");
    const kick = () => liveRefresh(false);
    es.addEventListener("metrics", kick);
    es.addEventListener("alert", kick);
    /* a hub relays no stream: its views refresh every 2 s instead */
    setInterval(() => { if (hubSensors) kick(); }, 2000);
  }
  $("sensor").addEventListener("change", (e) => setState({ sensor: e.target.value }));
  render();
})();

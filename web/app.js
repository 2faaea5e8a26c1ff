/* capstream web UI (plain JS, no framework).
 *
 * State lives in the URL hash (#preset=5m&after=NS&before=NS&pair=fix&wa=NS&wb=NS
 * &pg=N&m=ID&p=REF&key=K; pg is the measurement list's page, 1-based): render() reads it and fills every section, so a shared
 * URL restores the view; user actions only change the hash (setState).
 *
 * Times: the API's *_ns integers exceed 2^53, so JSON text is rewritten to
 * keep every "*_ns" number as a string and times are BigInt nanoseconds.
 * Charts (uPlot) take float seconds on x; drill-down windows are widened by
 * 1 us to absorb the float rounding.
 *
 * Ranges: presets are anchored at the newest stored packet (for a live
 * daemon that is "now"; for a replayed file, the end of the file). */
"use strict";
(function () {
  const API = "/api/v1";
  const NS = 1000000000n;
  const $ = (id) => document.getElementById(id);
  let storeMin = null, storeMax = null, plots = [], busy = false, lastLive = 0;
  let rangeSec = null; /* the selected range in float seconds, for degenerate x data */

  /* ---- helpers ---- */
  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }
  async function getJSON(path) {
    const r = await fetch(API + path);
    const text = await r.text();
    const safe = text.replace(/"(\w*_ns)":\s*(-?\d+)/g, '"$1":"$2"');
    const j = JSON.parse(safe);
    if (!r.ok) throw new Error((j && j.error) || r.status);
    return j;
  }
  function fmtNs(ns) {
    ns = BigInt(ns);
    const ms = Number(ns / 1000000n);
    const frac = (ns % NS).toString().padStart(9, "0");
    return new Date(ms).toISOString().slice(0, 19) + "." + frac + "Z";
  }
  function fmtDur(ns) {
    const n = Number(ns);
    if (n >= 1e9) return (n / 1e9).toFixed(3) + " s";
    if (n >= 1e6) return (n / 1e6).toFixed(3) + " ms";
    if (n >= 1e3) return (n / 1e3).toFixed(3) + " us";
    return n + " ns";
  }
  function parseTime(s) { /* RFC 3339 UTC with up to 9 fraction digits, or epoch ns */
    s = s.trim();
    if (/^\d+$/.test(s)) return BigInt(s);
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(s);
    if (!m) return null;
    const base = Date.parse(m[1] + "Z");
    if (isNaN(base)) return null;
    return BigInt(base) * 1000000n + BigInt((m[2] || "").padEnd(9, "0"));
  }
  function secOf(ns) { return Number(BigInt(ns)) / 1e9; }
  function nsOfSec(s) { return BigInt(Math.round(s * 1e6)) * 1000n; }

  /* ---- state in the hash ---- */
  function getState() {
    const p = new URLSearchParams(location.hash.slice(1));
    const st = {};
    for (const [k, v] of p) st[k] = v;
    return st;
  }
  function setState(patch, replace) {
    const st = Object.assign(getState(), patch);
    for (const k of Object.keys(st)) if (st[k] === null || st[k] === undefined || st[k] === "") delete st[k];
    const h = "#" + new URLSearchParams(st).toString();
    if (replace) { history.replaceState(null, "", h); render(); }
    else location.hash = h; /* hashchange -> render() */
  }
  function range(st) {
    if (st.after && st.before) return [BigInt(st.after), BigInt(st.before)];
    const end = (storeMax !== null ? storeMax : BigInt(Date.now()) * 1000000n) + 1n;
    const preset = st.preset || "5m";
    if (preset === "all" && storeMin !== null) return [storeMin, end];
    const len = preset === "1h" ? 3600n * NS : 300n * NS;
    return [end - len, end];
  }

  /* ---- status ---- */
  let recordsNotStored = 0; /* messages/measurements the disk could not take */
  let registryPairs = []; /* the pair names of capstream's decoders (/status) */
  async function loadStatus() {
    try {
      const s = await getJSON("/status");
      if (s.store) {
        if (s.store.min_ts_ns) storeMin = BigInt(s.store.min_ts_ns);
        if (s.store.max_ts_ns) storeMax = BigInt(s.store.max_ts_ns);
      }
      const d = s.drops || {};
      recordsNotStored = Number(d.records_not_stored || 0);
      registryPairs = s.pairs || [];
      $("status").textContent = `v${s.version} · ${s.capturing ? "capturing" : "idle"} · ${s.sources || ""} · ` +
        `${(s.capture || {}).packets || 0} packets · ${s.messages || 0} messages · ${s.measurements || 0} measurements · ` +
        `drops kernel ${d.kernel || 0}, not stored ${d.not_stored || 0}, not analysed ${d.not_analysed || 0}, ` +
        `records not stored ${d.records_not_stored || 0}`;
    } catch (e) { $("status").textContent = "status: " + e.message; }
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
    $("charts").appendChild(fig);
    return fig;
  }
  const COLORS = ["#1d3557", "#e63946", "#2a9d8f", "#f4a261", "#6a4c93", "#8ab17d"];
  function makePlot(fig, names, data, opts) {
    const series = [{ label: "time (UTC)", value: (u, v) => v == null ? "" : fmtNs(nsOfSec(v)) }];
    names.forEach((n, i) => series.push(Object.assign({ label: n, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
      points: { show: true, size: 4 } }, (opts.series || [])[i] || {})));
    /* one distinct x value (a short capture has a single 1 s window) would
     * make uPlot invent a range of years: show the selected range instead */
    const xs = data[0];
    const degenerate = xs.length < 2 || xs[0] === xs[xs.length - 1];
    const xscale = degenerate && rangeSec ? { time: true, range: () => rangeSec } : { time: true };
    const u = new uPlot({
      width: opts.width || 460, height: 200, series, scales: { x: xscale },
      axes: [{}, { size: 84, values: opts.yfmt ? (u2, vals) => vals.map(opts.yfmt) : undefined }],
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
      cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: { setSelect: [(u2) => { if (u2.select.width > 2) onSelect(u2, opts); }] },
    }, data, fig);
    fig.dataset.points = String(data[0].length);
    u.over.addEventListener("click", () => { if (opts.pair && u.cursor.idx != null && u.select.width <= 2) onClick(u, opts); });
    plots.push(u);
    return u;
  }
  function onSelect(u, opts) {
    const a = nsOfSec(u.posToVal(u.select.left, "x")) - 1000n;
    const b = nsOfSec(u.posToVal(u.select.left + u.select.width, "x")) + 1000n;
    u.setSelect({ left: 0, width: 0 }, false);
    if (opts.pair) setState({ pair: opts.pair, wa: a.toString(), wb: b.toString(), m: "", p: "", pg: "" });
    else setState({ preset: "custom", after: a.toString(), before: b.toString() });
  }
  function onClick(u, opts) {
    const x = u.data[0][u.cursor.idx];
    /* a click picks the nearest point; the window is 1/200 of the visible span around it */
    const span = u.scales.x.max - u.scales.x.min;
    const half = BigInt(Math.max(1000, Math.round((span * 1e9) / 200)));
    const c = nsOfSec(x);
    setState({ pair: opts.pair, wa: (c - half).toString(), wb: (c + half).toString(), m: "", p: "", pg: "" });
  }
  function rateData(list, field, perStep) {
    /* list: [[name, points]] -> aligned uPlot data */
    const tables = list.map(([, pts]) => [pts.map((p) => secOf(p.ts_ns)), pts.map((p) => perStep(p, field))]);
    if (tables.length === 0) return null;
    return tables.length === 1 ? tables[0] : uPlot.join(tables);
  }
  async function loadCharts(st) {
    plots.forEach((p) => p.destroy());
    plots = [];
    $("charts").innerHTML = "";
    const [a, b] = range(st);
    const step = stepFor(a, b);
    rangeSec = [secOf(a), secOf(b)];
    $("rangetext").textContent = `${fmtNs(a)} – ${fmtNs(b)} · step ${step}s`;
    const ser = (await getJSON(`/series?after=${a}&before=${b}`)).series;
    const byKind = (k) => ser.filter((s) => s.kind === k);
    const fetchAll = (arr) => Promise.all(arr.map(async (s) => [s.name, await metrics(s.id, a, b, step)]));
    const stepS = step;
    const cap = byKind("capture");
    /* every request of the overview at once (the server answers them in
     * parallel); the charts are then drawn in their fixed order */
    const [taps, protos, capPts, pairs, alerts] = await Promise.all([
      fetchAll(byKind("tap")), fetchAll(byKind("proto")),
      cap.length ? metrics(cap[0].id, a, b, step) : null,
      chartPairs(byKind("pair").map((s) => s.name), a, b).then((ps) =>
        Promise.all(ps.map(async (pair) => [pair, await latencyData(pair, a, b, step)]))),
      getJSON(`/alerts?after=${a}&before=${b}&limit=${ALERTS_SHOWN}`)]);
    const perSec = (p, f) => Number(p[f]) / stepS;
    if (taps.length) {
      makePlot(chartBox("packets/s per tap", "c-pps"), taps.map((t) => "tap " + t[0]), rateData(taps, "count", perSec), {});
      makePlot(chartBox("bytes/s per tap", "c-bps"), taps.map((t) => "tap " + t[0]), rateData(taps, "bytes", perSec), {});
    }
    if (protos.length)
      makePlot(chartBox("messages/s per protocol", "c-mps"), protos.map((t) => t[0]), rateData(protos, "count", perSec), {});
    if (capPts) {
      const pts = capPts;
      const x = pts.map((p) => secOf(p.ts_ns));
      /* packets per kind per step; records (messages, measurements) not
       * stored when the metrics carry them, and their total from /status
       * in the title in any case */
      const names = ["kernel", "not stored", "not analysed"];
      const data = [x, pts.map((p) => Number(p.kernel_drops)), pts.map((p) => Number(p.not_stored)), pts.map((p) => Number(p.not_analysed))];
      if (pts.length && pts.every((p) => "records_not_stored" in p)) {
        names.push("records not stored");
        data.push(pts.map((p) => Number(p.records_not_stored)));
      }
      makePlot(chartBox(`drops per step (records not stored since start: ${recordsNotStored})`, "c-drops"), names, data, {});
    }
    for (const [pair, d] of pairs) latencyChart(pair, a, b, step, d);
    if (!plots.length) $("charts").innerHTML = "<p>no data in the range</p>";
    showAlerts(alerts);
  }
  /* pairs with metrics, plus those with measurements but no closed
   * per-second window yet (a short replayed file) */
  async function chartPairs(pairs, a, b) {
    const extra = await Promise.all(registryPairs.filter((c) => !pairs.includes(c)).map(async (cand) =>
      (await getJSON(`/measurements?pair=${cand}&after=${a}&before=${b}&limit=1`)).measurements.length ? cand : null));
    return pairs.concat(extra.filter((c) => c));
  }
  /* the newest ALERTS_SHOWN alert events of the range (the API pages them
   * newest first), so a flapping rule over a day cannot flood the page */
  const ALERTS_SHOWN = 100;
  function showAlerts(page) {
    const shown = page.alerts;
    const note = page.more ? `<p id="alertsmore">the newest ${shown.length} of ${page.total} alert events; narrow the range to see the others</p>` : "";
    $("alerts").innerHTML = shown.length ? note + table(["time (UTC)", "rule", "state", "text", "value"],
      shown.map((x) => [fmtNs(x.ts_ns), x.rule, x.state,
        /^pair:/.test(x.series) ? link({ pair: x.series.slice(5), wa: String(x.from_ns), wb: String(x.to_ns), m: "", p: "", pg: "" }, x.text) : x.text,
        String(x.value)])) : "<p>no alerts in the range</p>";
  }
  /* p50/p99/max per step from the metrics, plus the slowest measurements
   * of the range as points, so a spike can be clicked even inside one step. */
  async function latencyData(pair, a, b, step) {
    const [pts, j] = await Promise.all([metrics("pair:" + pair, a, b, step),
      getJSON(`/measurements?pair=${encodeURIComponent(pair)}&after=${a}&before=${b}&sort=latency&limit=1000`)]);
    return { pts, ms: j.measurements };
  }
  function latencyChart(pair, a, b, step, d) {
    const pts = d.pts, ms = d.ms;
    ms.sort((x, y) => (BigInt(x.req_ts_ns) < BigInt(y.req_ts_ns) ? -1 : 1));
    const ms1 = [ms.map((m) => secOf(m.req_ts_ns)), ms.map((m) => Number(m.latency_ns))];
    const mt = [pts.map((p) => secOf(p.ts_ns)), pts.map((p) => Number(p.p50_ns)), pts.map((p) => Number(p.p99_ns)), pts.map((p) => Number(p.max_ns))];
    let data;
    if (ms1[0].length && mt[0].length) data = uPlot.join([ms1, mt]);
    else if (ms1[0].length) data = [ms1[0], ms1[1], ms1[0].map(() => null), ms1[0].map(() => null), ms1[0].map(() => null)];
    else data = mt.length ? [mt[0], mt[0].map(() => null), mt[1], mt[2], mt[3]] : [[], [], [], [], []];
    const fig = chartBox(`latency ${pair} (slowest measurements, p50/p99/max per ${step}s)`, "c-lat-" + pair);
    fig.classList.add("latency");
    fig.dataset.pair = pair;
    /* keyboard path to the drill-down (the chart itself needs a pointer) */
    const btn = document.createElement("button");
    btn.type = "button";
    btn.textContent = `List the slowest ${pair} measurements in the range`;
    btn.addEventListener("click", () => setState({ pair, wa: a.toString(), wb: b.toString(), m: "", p: "", pg: "" }));
    fig.appendChild(btn);
    makePlot(fig, ["measurement", "p50", "p99", "max"], data, {
      pair, width: 940,
      yfmt: (v) => fmtDur(v),
      series: [{ paths: () => null, points: { show: true, size: 5 }, value: (u, v) => v == null ? "" : fmtDur(v) },
        { value: (u, v) => v == null ? "" : fmtDur(v) }, { value: (u, v) => v == null ? "" : fmtDur(v) }, { value: (u, v) => v == null ? "" : fmtDur(v) }],
    });
  }

  /* ---- tables ---- */
  function table(head, rows, rowAttrs) {
    let h = "<table><thead><tr>" + head.map((x) => `<th scope="col">${esc(x)}</th>`).join("") + "</tr></thead><tbody>";
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
    const pg = pageOf(st), off = (pg - 1) * PAGE;
    const j = await getJSON(`/measurements?pair=${encodeURIComponent(st.pair)}&after=${st.wa}&before=${st.wb}&sort=latency&limit=${PAGE}&offset=${off}`);
    $("listinfo").textContent = `pair ${st.pair}, requests in ${fmtNs(st.wa)} – ${fmtNs(st.wb)}, slowest first` +
      (j.count ? `, ${off + 1}–${off + j.count}${j.more ? " of more" : ""}` : ", none on this page");
    $("pageinfo").textContent = `page ${pg}`;
    $("prevpage").disabled = pg <= 1;
    $("nextpage").disabled = !j.more || pg >= MAXPG;
    $("listtable").innerHTML = table(["latency", "request time (UTC)", "key", "src → dst", "id"],
      j.measurements.map((m) => [fmtDur(m.latency_ns), fmtNs(m.req_ts_ns), m.key, `${m.src} → ${m.dst}`, link({ m: m.id, p: "" }, m.id)]),
      (i) => (j.measurements[i].id === st.m ? ' class="sel"' : ""));
  }
  let pcapCache = { id: null, recs: null };
  /* the records of a pcap download; none (linktype -1) if the server said no */
  async function pcapRecords(url) {
    const r = await fetch(url);
    if (!r.ok) return Object.assign([], { linktype: -1 });
    return parsePcap(await r.arrayBuffer());
  }
  function parsePcap(buf) {
    const dv = new DataView(buf);
    if (buf.byteLength < 24) return Object.assign([], { linktype: -1 });
    const magic = dv.getUint32(0, true);
    let le = true, nano = false;
    if (magic === 0xa1b2c3d4) nano = false; else if (magic === 0xa1b23c4d) nano = true;
    else { le = false; nano = dv.getUint32(0, false) === 0xa1b23c4d; }
    const recs = [];
    recs.linktype = dv.getUint32(20, le) & 0xffff; /* the high bits may carry FCS flags */
    for (let off = 24; off + 16 <= buf.byteLength;) {
      const sec = dv.getUint32(off, le), frac = dv.getUint32(off + 4, le), incl = dv.getUint32(off + 8, le), orig = dv.getUint32(off + 12, le);
      const ts = BigInt(sec) * NS + BigInt(frac) * (nano ? 1n : 1000n);
      recs.push({ ts_ns: ts.toString(), caplen: incl, wirelen: orig, bytes: new Uint8Array(buf, off + 16, Math.min(incl, buf.byteLength - off - 16)) });
      off += 16 + incl;
    }
    return recs;
  }
  function msgBlock(title, side, st) {
    if (!side || !side.message) return `<div><h3>${esc(title)}</h3><p>message no longer in the store</p></div>`;
    const m = side.message;
    let h = `<div><h3>${esc(title)}: ${esc(m.proto)} ${esc(m.type)}</h3>`;
    h += table(["", ""], [["id", m.id], ["time (UTC)", fmtNs(m.ts_ns)], ["last packet (UTC)", fmtNs(m.last_ts_ns)],
      ["src → dst", `${m.src} → ${m.dst}`], ["key", m.key], ["length", String(m.len)]]);
    h += "<h4>Fields</h4>" + table(["field", "value"], m.fields.map((f) => [f[0], f[1]]));
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
    const j = await getJSON("/measurements/" + encodeURIComponent(st.m));
    const m = j.measurement;
    const pcapUrl = `${API}/measurements/${encodeURIComponent(m.id)}/pcap`;
    const refs = new Set();
    for (const s of [j.request, j.response]) if (s) s.packets.forEach((p) => refs.add(p.ref));
    if (pcapCache.id !== st.m) pcapCache = { id: st.m, recs: await pcapRecords(pcapUrl) };
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
    return `<p><a id="flowlink" href="${esc(API + "/packets?" + q)}" download="${esc(m.id)}-flow.pcap" data-filter="${esc(f)}">` +
      `Download the pcap of the whole flow</a> (both directions, all of its stored packets) · filter <code>${esc(f)}</code></p>`;
  }
  function hexdump(bytes) {
    let out = "";
    for (let off = 0; off < bytes.length; off += 16) {
      const row = bytes.subarray(off, off + 16);
      const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ").padEnd(47, " ");
      const asc = Array.from(row, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
      out += off.toString(16).padStart(4, "0") + "  " + hex + "  " + asc + "\n";
    }
    return out;
  }
  /* dissect(b): the Ethernet frame "b" (Uint8Array) as {vlans, type, ip, l4};
   * ip = {v6, src, dst, proto, ...} and l4 = {proto: "tcp"|"udp", sport,
   * dport, ...} when present and not cut short. Every read is bounds-checked
   * against b.length first. VLAN tags: 802.1Q (0x8100), 802.1ad (0x88a8) and
   * the old QinQ 0x9100, the TPIDs libpcap's `vlan` keyword accepts. */
  function dissect(b) {
    const d = { vlans: [], type: -1, ip: null, l4: null };
    if (b.length < 14) return d;
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    let off = 12, type = dv.getUint16(off);
    while ((type === 0x8100 || type === 0x88a8 || type === 0x9100) && off + 6 <= b.length) {
      d.vlans.push(dv.getUint16(off + 2) & 0xfff);
      off += 4; type = dv.getUint16(off);
    }
    d.type = type;
    off += 2;
    let first = true; /* a non-first IPv4 fragment carries no L4 header */
    if (type === 0x0800 && off + 20 <= b.length) {
      d.ip = { v6: false, src: b.subarray(off + 12, off + 16).join("."), dst: b.subarray(off + 16, off + 20).join("."),
        proto: b[off + 9], ttl: b[off + 8], len: dv.getUint16(off + 2) };
      first = (dv.getUint16(off + 6) & 0x1fff) === 0;
      off += (b[off] & 15) * 4;
    } else if (type === 0x86dd && off + 40 <= b.length) {
      const a6 = (o) => Array.from({ length: 8 }, (_, i) => dv.getUint16(o + 2 * i).toString(16)).join(":");
      d.ip = { v6: true, src: a6(off + 8), dst: a6(off + 24), proto: b[off + 6], hlim: b[off + 7] };
      off += 40;
    }
    if (!d.ip || !first) return d;
    if (d.ip.proto === 6 && off + 20 <= b.length) {
      d.l4 = { proto: "tcp", sport: dv.getUint16(off), dport: dv.getUint16(off + 2), seq: dv.getUint32(off + 4),
        ack: dv.getUint32(off + 8), flags: b[off + 13], win: dv.getUint16(off + 14), payload: b.length - off - ((b[off + 12] >> 4) * 4) };
    } else if (d.ip.proto === 17 && off + 8 <= b.length) {
      d.l4 = { proto: "udp", sport: dv.getUint16(off), dport: dv.getUint16(off + 2), len: dv.getUint16(off + 4) };
    }
    return d;
  }
  function layers(b) { /* Ethernet, VLAN tags, IPv4/IPv6, TCP/UDP header fields, one line each */
    const out = [];
    if (b.length < 14) return out;
    const mac = (o) => Array.from(b.subarray(o, o + 6), (x) => x.toString(16).padStart(2, "0")).join(":");
    const d = dissect(b), ip = d.ip, l4 = d.l4;
    out.push(`Ethernet ${mac(6)} → ${mac(0)}`);
    d.vlans.forEach((v) => out.push(`VLAN ${v}`));
    if (ip && !ip.v6) out.push(`IPv4 ${ip.src} → ${ip.dst} ttl ${ip.ttl} proto ${ip.proto} len ${ip.len}`);
    else if (ip) out.push(`IPv6 ${ip.src} → ${ip.dst} next ${ip.proto} hlim ${ip.hlim}`);
    else out.push(`ethertype 0x${d.type.toString(16)}`);
    if (l4 && l4.proto === "tcp") {
      const names = ["FIN", "SYN", "RST", "PSH", "ACK", "URG"];
      out.push(`TCP ${l4.sport} → ${l4.dport} seq ${l4.seq} ack ${l4.ack} [${names.filter((_, i) => l4.flags & (1 << i)).join(",")}] win ${l4.win} payload ${l4.payload}`);
    } else if (l4) out.push(`UDP ${l4.sport} → ${l4.dport} len ${l4.len}`);
    return out;
  }
  /* flowFilter(recs): the BPF filter of the whole flow (both directions)
   * that carried the pcap records "recs" of one measurement, from the first
   * record with IP and TCP/UDP headers; null if none (packets expired, not
   * Ethernet). The flow's VLAN ids are part of it (a flow is the 5-tuple plus
   * VLANs), and they are needed: libpcap's `host`/`port` read at fixed
   * offsets, so a tagged frame only matches after one `vlan` per tag.
   *   vlan 300 and vlan 42 and ip and tcp and
   *     ((src host A and src port P and dst host B and dst port Q) or (… B,Q → A,P))
   * Non-first IP fragments (no ports) fall outside it. */
  function flowFilter(recs) {
    if (recs.linktype !== 1) return null; /* DLT_EN10MB */
    for (const r of recs) {
      const d = dissect(r.bytes);
      if (!d.ip || !d.l4) continue;
      const dir = (a, ap, b2, bp) => `(src host ${a} and src port ${ap} and dst host ${b2} and dst port ${bp})`;
      const parts = d.vlans.map((v) => `vlan ${v}`);
      parts.push(d.ip.v6 ? "ip6" : "ip", d.l4.proto,
        `(${dir(d.ip.src, d.l4.sport, d.ip.dst, d.l4.dport)} or ${dir(d.ip.dst, d.l4.dport, d.ip.src, d.l4.sport)})`);
      return parts.join(" and ");
    }
    return null;
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
  async function loadSearch(st) {
    $("key").value = st.key || "";
    if (!st.key) { $("searchresults").innerHTML = ""; return; }
    const k = encodeURIComponent(st.key);
    const [msgs, meas] = await Promise.all([getJSON(`/messages?key=${k}&limit=100`), getJSON(`/measurements?key=${k}&limit=100`)]);
    let h = `<h3>Measurements with key ${esc(st.key)}</h3>`;
    h += meas.measurements.length ? table(["latency", "request time (UTC)", "pair", "id"],
      meas.measurements.map((m) => [fmtDur(m.latency_ns), fmtNs(m.req_ts_ns), m.pair, link({ m: m.id, pair: m.pair, p: "", pg: "" }, m.id)])) : "<p>none</p>";
    h += `<h3>Messages with key ${esc(st.key)}</h3>`;
    h += msgs.messages.length ? table(["time (UTC)", "proto", "type", "src → dst", "id", "packets"],
      msgs.messages.map((m) => [fmtNs(m.ts_ns), m.proto, m.type, `${m.src} → ${m.dst}`, m.id,
        { html: `<a href="${API}/messages/${encodeURIComponent(m.id)}/pcap" download="${esc(m.id)}.pcap">pcap (${m.packets.length})</a>` }])) : "<p>none</p>";
    $("searchresults").innerHTML = h;
  }

  /* ---- render ---- */
  async function render() {
    if (busy) { render.again = true; return; }
    busy = true;
    document.body.dataset.ready = "0";
    const st = getState();
    try {
      await loadStatus();
      $("preset").value = st.after ? "custom" : (st.preset || "5m");
      const [a, b] = range(st);
      $("after").value = fmtNs(a);
      $("before").value = fmtNs(b);
      await loadCharts(st);
      await loadSearch(st);
      await loadList(st);
      const det = await loadDetail(st);
      await loadBytes(st, det);
    } catch (e) {
      $("status").innerHTML = `<span class="err">error: ${esc(e.message)}</span>`;
    }
    busy = false;
    document.body.dataset.ready = "1";
    if (render.again) { render.again = false; render(); }
  }

  /* ---- wiring ---- */
  $("preset").addEventListener("change", () => {
    const v = $("preset").value;
    if (v !== "custom") setState({ preset: v, after: "", before: "" });
  });
  $("apply").addEventListener("click", () => {
    const a = parseTime($("after").value), b = parseTime($("before").value);
    if (a === null || b === null || a >= b) { $("rangetext").textContent = "bad range: use RFC 3339 UTC (…Z) or epoch ns"; return; }
    setState({ preset: "custom", after: a.toString(), before: b.toString() });
  });
  $("prevpage").addEventListener("click", () => {
    const pg = pageOf(getState());
    setState({ pg: pg > 2 ? String(pg - 1) : "" });
  });
  $("nextpage").addEventListener("click", () => setState({ pg: String(pageOf(getState()) + 1) }));
  $("keyform").addEventListener("submit", (ev) => { ev.preventDefault(); setState({ key: $("key").value.trim() }); });
  $("bpfform").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const [a, b] = range(getState());
    const l = $("bpflink");
    l.href = `${API}/packets?filter=${encodeURIComponent($("bpf").value)}&after=${a}&before=${b}`;
    l.hidden = false;
    l.textContent = "pcap of packets matching “" + $("bpf").value + "”";
    l.click();
  });
  window.addEventListener("hashchange", render);
  /* live: while a preset range is shown, redraw at most every 2 s on stream events */
  if (window.EventSource) {
    /* only metrics and alert events are used: measurement events, which
     * would come at the full measurement rate, are not asked for */
    const es = new EventSource(API + "/stream?events=metrics,alert");
    /* only the status line and the charts follow the stream; the drill-down
     * sections stay as they are, and nothing is redrawn mid-drag */
    let mouseDown = false;
    document.addEventListener("mousedown", () => { mouseDown = true; });
    document.addEventListener("mouseup", () => { mouseDown = false; });
    const kick = async () => {
      const st = getState();
      if (!$("live").checked || st.after || busy || mouseDown || Date.now() - lastLive < 2000) return;
      lastLive = Date.now();
      busy = true;
      try { await loadStatus(); await loadCharts(st); } catch (e) { /* next event retries */ }
      busy = false;
      if (render.again) { render.again = false; render(); }
    };
    es.addEventListener("metrics", kick);
    es.addEventListener("alert", kick);
  }
  render();
})();

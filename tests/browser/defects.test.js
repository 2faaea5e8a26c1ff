/* defects.test.js BROWSER ARTIFACT_DIR SAMPLE_URL LIVE_URL EMPTY_URL METRICS_URL -
 * the web UI defects of issue 14 (items 2-7, 11, 12), one check group each,
 * in one browser (chromium or firefox, through driver.js). The daemons
 * (tests/golden/t_browser.sh starts them):
 *   SAMPLE_URL  samples/trading-sample.pcap, replayed and idle
 *   LIVE_URL    a generated capture replayed in real time with a fix_slow
 *               alert rule: capturing while the test clicks
 *   EMPTY_URL   a store with no packet at all
 *   METRICS_URL a 3 s generated capture, replayed and idle (closed windows)
 * Checks:
 *   2  results land on screen: the list after a drag, the measurement after
 *      a click, the packet after a click and from a shared URL, the list
 *      after an alert link (each section's top inside the viewport)
 *   3  live refresh: over 6 s of live updates the chart area never empties,
 *      the charts keep their canvas (updated, not rebuilt) and the page
 *      height stays put; a live refresh asks again for the charts in the
 *      window only, and a chart it left stale is asked for within 1.5 s of
 *      scrolling into the window
 *   4  live state: a zoom unticks "live" while the status line keeps
 *      updating; ticking "live" again resumes the charts and the from/to
 *      inputs follow
 *   5  bad input: a malformed BPF filter shows the API's error, and no
 *      download; errors are readable (contrast >= 4.5:1); a bad time in
 *      the URL names the value; "5m ago", "now" and "YYYY-MM-DD hh:mm:ss"
 *      are accepted; 2026-02-30 is refused; an unknown pair is named
 *   6  an empty store shows no 1969 range
 *   7  "whole store" draws every per-second point the API has, and the
 *      last partial second is no cliff
 *   11 at 800x600 nothing scrolls sideways
 *   8  search: a path finds "GET path", a DNS name its query, a ClOrdID
 *      its order's execution reports; ids in the results are links
 *   navigation: zoom out, pan and Back/Forward through views
 *   12 time ticks are UTC 24-hour, latency ticks carry units, byte rates
 *      are drawn as bit rates
 *   presets: a click on 1m ... 7d from a fixed range sets that range
 *      ending now, live, marked, and the range then follows the capture
 *   totals: the measurement list says "1–100 of N" with N every match,
 *      also on the next page and under a latency filter
 *   heatmap: per pair a latency heatmap on a log axis holding every
 *      measurement the API counts (heatmap=1), full cells painted, empty
 *      buckets blank
 *   progressive: the overview holds every chart's place, draws the charts
 *      in the window (and marks its content) while the latency and feed
 *      charts below it are held back, asks for those (and whether a pair
 *      without metrics has measurements) only then, and every chart ends
 *      in its fixed place with no empty place left
 * Screenshots go to ARTIFACT_DIR. Exits 1 if any check failed. */
"use strict";
const fs = require("fs");
const path = require("path");
const driver = require("./driver.js");

const [browserName, artifacts, sample, live, empty, metricsBase] = process.argv.slice(2);
if (!driver.names.includes(browserName) || !metricsBase) {
  console.error("usage: node defects.test.js chromium|firefox ARTIFACT_DIR SAMPLE_URL LIVE_URL EMPTY_URL METRICS_URL");
  process.exit(2);
}
fs.mkdirSync(artifacts, { recursive: true });
let failures = 0;
function check(what, ok, detail) {
  if (ok) console.log(`ok   [${browserName}] ${what}`);
  else { failures++; console.log(`FAIL [${browserName}] ${what}` + (detail !== undefined ? ": " + JSON.stringify(detail) : "")); }
}
const ready = (page) => page.waitFor(() => document.body.dataset.ready === "1", null, 20000);
const shot = (page, name, full) => page.screenshot(path.join(artifacts, name + ".png"), { fullPage: !!full });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Runs "act" (a click, a screenshot of an element) again when a live
 * refresh replaced the element between finding and using it. */
async function onLiveElement(act) {
  for (let i = 0; ; i++) {
    try { return await act(); } catch (e) {
      /* (Firefox names a replaced node "not clickable or not an Element") */
      if (i >= 5 || !/detached|not attached|stale|not connected|not clickable/i.test(String(e))) throw e;
      await sleep(200);
    }
  }
}
/* the section's top edge is inside the viewport (without scrolling it there) */
const onScreen = (page, sel) => page.evaluate((s) => {
  const e = document.querySelector(s);
  if (!e || e.hidden) return { shown: false };
  const r = e.getBoundingClientRect();
  return { shown: true, top: Math.round(r.top), vh: window.innerHeight, ok: r.top >= -1 && r.top < window.innerHeight - 40 };
}, sel);
async function drag(page, sel, from, to) {
  const box = await page.box(sel);
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * from, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * (from + to) / 2, y, { steps: 5 });
  await page.mouse.move(box.x + box.width * to, y, { steps: 5 });
  await page.mouse.up();
}
const visibleErrors = (page) => page.evalAll(".err", (es) => es.filter((e) => e.offsetParent !== null && e.textContent.trim()).map((e) => e.textContent));

/* WCAG contrast of an element's text on its nearest opaque background */
function contrastOf(page, sel) {
  return page.evaluate((s) => {
    const e = document.querySelector(s);
    const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
    let bg = null;
    for (let x = e; x && !bg; x = x.parentElement) {
      const c = rgb(getComputedStyle(x).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) bg = c;
    }
    bg = bg || [255, 255, 255];
    const lum = (c) => { const l = c.slice(0, 3).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2]; };
    const a = lum(rgb(getComputedStyle(e).color)), b = lum(bg);
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  }, sel);
}

async function offScreen(browser) { /* item 2 */
  const page = await browser.newPage();
  await page.goto(sample + "/");
  await ready(page);
  await drag(page, 'figure.latency[data-pair="fix"] .u-over', 0.002, 0.998);
  await page.waitForSelector("#list:not([hidden]) #listtable tbody tr", 20000);
  await ready(page);
  check("2: after a drag the measurement list is on screen", (await onScreen(page, "#list")).ok, await onScreen(page, "#list"));
  await page.click("#listtable tbody tr:first-child a");
  await page.waitForSelector("#detail:not([hidden]) #pcaplink", 20000);
  await ready(page);
  check("2: an opened measurement is on screen", (await onScreen(page, "#detail")).ok, await onScreen(page, "#detail"));
  await page.click("#detailbody tr.pkt a");
  await page.waitForSelector("#bytes:not([hidden]) pre.hex", 20000);
  await ready(page);
  check("2: an opened packet is on screen", (await onScreen(page, "#bytes")).ok, await onScreen(page, "#bytes"));
  const url = page.url();
  await page.close();
  const p2 = await browser.newPage();
  await p2.goto(url);
  await p2.waitForSelector("#bytes:not([hidden]) pre.hex", 20000);
  await ready(p2);
  await sleep(300);
  check("2: a shared URL opens at its packet", (await onScreen(p2, "#bytes")).ok, await onScreen(p2, "#bytes"));
  await shot(p2, "d2-shared-url");
  await p2.close();
}

async function alertLink(browser) { /* item 2, alerts; item 10's unit and threshold */
  const page = await browser.newPage();
  await page.goto(live + "/#preset=5m");
  await ready(page);
  await page.waitFor(() => document.querySelector("#alerts a"), null, 30000);
  const row = await page.evalAll("#alerts tbody tr", (trs) => trs.length ? trs[0].textContent : "");
  check("10: an alert's value carries its unit and threshold", /(ms|µs|us|ns)\b.*(>|threshold)/.test(row), row);
  /* table and chart come from one refresh, drawn in one task; both are
   * read in one evaluation, so a live refresh cannot fall between them.
   * A refresh may still land between polls: wait until one reading agrees. */
  const alertView = () => page.evaluate(() => {
    const rows = Array.from(document.querySelectorAll("#alerts tbody tr"));
    const fig = document.querySelector('figure.latency[data-pair="fix"]');
    return { fixRows: rows.filter((tr) => /pair=fix/.test(tr.textContent)).length, marks: fig ? Number(fig.dataset.alerts) : -1 };
  });
  let seenView = await alertView();
  for (let i = 0; i < 20 && !(seenView.fixRows > 0 && seenView.marks === seenView.fixRows); i++) {
    await sleep(500);
    seenView = await alertView();
  }
  check("10: the fix latency chart marks each of its alert events", seenView.fixRows > 0 && seenView.marks === seenView.fixRows, seenView);
  await onLiveElement(() => page.shotElement('figure.latency[data-pair="fix"]', path.join(artifacts, "d10-alert-marks.png")));
  await onLiveElement(() => page.click("#alerts a"));
  await page.waitForSelector("#list:not([hidden]) #listtable", 20000);
  await ready(page);
  check("2: an alert link shows its measurements on screen", (await onScreen(page, "#list")).ok, await onScreen(page, "#list"));
  await page.close();
}

async function liveRefresh(browser) { /* item 3 */
  const page = await browser.newPage();
  await page.goto(live + "/#preset=1m");
  await ready(page);
  await page.waitFor(() => document.querySelector("#charts canvas"), null, 20000);
  await page.evaluate(() => { document.querySelector("#charts canvas").dataset.mark = "first"; });
  const status0 = await page.text("#status");
  const samples = await page.evaluate(async () => {
    const out = [];
    const t0 = performance.now();
    while (performance.now() - t0 < 6000) {
      out.push({ canvases: document.querySelectorAll("#charts canvas").length, h: document.documentElement.scrollHeight });
      await new Promise((r) => setTimeout(r, 40));
    }
    return out;
  });
  const empty = samples.filter((s) => s.canvases === 0).length;
  const hs = samples.map((s) => s.h);
  check("3: live updates happened during the samples", (await page.text("#status")) !== status0);
  check("3: the chart area never empties during live updates", empty === 0, { empty, of: samples.length });
  check("3: the page height stays put during live updates", Math.max(...hs) - Math.min(...hs) <= 40, { min: Math.min(...hs), max: Math.max(...hs) });
  check("3: the charts are updated in place, not rebuilt", (await page.count('#charts canvas[data-mark="first"]')) === 1);
  await page.shotElement("#overview", path.join(artifacts, "d3-live-overview.png"));
  await page.close();
}

/* a live refresh asks again only for what is in the window; a chart it
 * left stale is asked for as soon as it scrolls into the window */
async function liveWindow(browser) {
  const page = await browser.newPage();
  await page.goto(live + "/#preset=1m");
  await ready(page);
  await page.waitFor(() => document.querySelector("figure.latency canvas"), null, 20000);
  const pair = await page.evaluate(() => Array.from(document.querySelectorAll("figure.latency")).pop().dataset.pair);
  await page.evaluate(() => {
    window.__urls = [];
    const real = window.fetch;
    window.fetch = (url, opts) => { window.__urls.push(decodeURIComponent(String(url))); return real(url, opts); };
  });
  await sleep(5000);
  const idle = await page.evaluate((p) => ({ status: window.__urls.filter((u) => /\/status$/.test(u)).length,
    pps: window.__urls.filter((u) => /series=tap:/.test(u)).length,
    latency: window.__urls.filter((u) => u.includes(`pair=${p}&`) && /sort=latency/.test(u)).length,
    below: document.getElementById("c-lat-" + p).getBoundingClientRect().top >= window.innerHeight }), pair);
  check("live: refreshes asked again for the charts in the window", idle.status >= 2 && idle.pps >= 2, idle);
  check("live: a chart below the window is not asked for again while out of it", idle.below && idle.latency === 0, idle);
  await page.evaluate((p) => { window.__urls = []; document.getElementById("c-lat-" + p).scrollIntoView(); }, pair);
  const came = await page.waitFor((p) => window.__urls.some((u) => u.includes(`pair=${p}&`) && /sort=latency/.test(u)), pair, 1500)
    .then(() => true, () => false);
  check(`live: the stale latency chart of ${pair} is asked for within 1.5 s of scrolling into the window`, came);
  await page.close();
}

async function liveState(browser) { /* item 4 */
  const page = await browser.newPage();
  await page.goto(live + "/#preset=1m");
  await ready(page);
  await drag(page, "#c-pps .u-over", 0.2, 0.8);
  await page.waitFor(() => /before=/.test(location.hash), null, 10000);
  await ready(page);
  check("4: a zoom unticks live", !(await page.evaluate(() => document.getElementById("live").checked)));
  const s0 = await page.text("#status");
  await sleep(5000);
  const s1 = await page.text("#status");
  check("4: the status line keeps updating on a custom range", s0 !== s1, { s0, s1 });
  await page.click("#live");
  await page.waitFor(() => !/before=/.test(location.hash), null, 10000);
  await ready(page);
  const a0 = await page.value("#after");
  await sleep(5000);
  const a1 = await page.value("#after");
  check("4: with live ticked again the from/to inputs follow", a0 !== a1, { a0, a1 });
  await shot(page, "d4-live", false);
  await page.close();
}

/* issue 14, time presets: one click on 1m ... 7d from a fixed range sets
 * that relative range ending now, marks its button, ticks live, and the
 * range then follows the capture */
async function presets(browser) {
  const page = await browser.newPage();
  await page.goto(live + "/#preset=1m");
  await ready(page);
  const names = await page.evalAll("#presets button", (bs) => bs.map((b) => b.textContent.trim()));
  check("presets: one button each for 1m, 5m, 15m, 1h, 6h, 24h, 7d", JSON.stringify(names) === JSON.stringify(["1m", "5m", "15m", "1h", "6h", "24h", "7d"]), names);
  if (names.length !== 7) { await page.close(); return; }
  await drag(page, "#c-pps .u-over", 0.2, 0.8); /* a fixed range: live off */
  await page.waitFor(() => /before=/.test(location.hash), null, 10000);
  await ready(page);
  const fixedLive = await page.evaluate(() => document.getElementById("live").checked);
  await page.click('#presets button[data-preset="15m"]');
  await page.waitFor(() => /preset=15m/.test(location.hash), null, 10000);
  /* "ready" may still be the fixed range's: wait until the page has applied
   * the preset (or fail on the time-out), whatever the daemon's speed */
  await page.waitFor(() => document.getElementById("preset").value === "15m" &&
    document.getElementById("live").checked, null, 20000).catch(() => {});
  await ready(page);
  const st = await page.evaluate(() => ({ hash: location.hash, live: document.getElementById("live").checked,
    pressed: Array.from(document.querySelectorAll('#presets button[aria-pressed="true"]')).map((b) => b.dataset.preset),
    range: document.getElementById("rangetext").textContent, sel: document.getElementById("preset").value }));
  const span = (t) => { const [a, b] = t.split(" · ")[0].split(" – ").map((x) => Date.parse(x.replace(/(\.\d{3})\d*Z$/, "$1Z"))); return { a, b, len: b - a }; };
  check("presets: a fixed range had live off", fixedLive === false, fixedLive);
  check("presets: 15m sets a relative range (no from/to in the URL)", !/after=|before=/.test(st.hash), st.hash);
  check("presets: 15m turns live on and is marked", st.live && JSON.stringify(st.pressed) === '["15m"]' && st.sel === "15m", st);
  check("presets: the range is 15 minutes", span(st.range).len === 900000, st.range);
  await sleep(5000);
  const r1 = await page.text("#rangetext");
  check("presets: live resumes, the range's end moves with the capture", span(r1).b > span(st.range).b, { before: st.range, after: r1 });
  await shot(page, "presets-15m", false);
  await page.close();
}

async function badInput(browser) { /* item 5 */
  const page = await browser.newPage();
  await page.goto(sample + "/");
  await ready(page);
  await page.fill("#bpf", "tcp port");
  await page.click("#bpfform button");
  await page.waitFor(() => Array.from(document.querySelectorAll(".err")).some((e) => e.offsetParent !== null && /filter/i.test(e.textContent)), null, 10000).catch(() => {});
  const errs = await visibleErrors(page);
  check("5: a malformed BPF filter shows the API's error", errs.some((e) => /filter/i.test(e)), errs);
  check("5: a malformed BPF filter offers no download", await page.evaluate(() => document.getElementById("bpflink").hidden));
  const c = errs.length ? await contrastOf(page, ".err") : 0;
  check("5: the error text is readable (contrast >= 4.5:1)", c >= 4.5, c);
  await shot(page, "d5-bpf-error");

  await page.goto(sample + "/#after=abc&before=1767623400062836739");
  await ready(page);
  const e2 = await visibleErrors(page);
  check("5: a bad time in the URL names the value", e2.some((e) => /abc/.test(e) && !/BigInt/.test(e)), e2);
  check("5: a bad time in the URL: status has no BigInt text", !/BigInt/.test(await page.text("body")));
  const hdr = await contrastOf(page, "#status");
  check("5: the header text is readable", hdr >= 4.5, hdr);

  const apply = async (a, b) => {
    await page.fill("#after", a);
    await page.fill("#before", b);
    await page.click("#apply");
    await sleep(300);
    await ready(page);
    return { errs: await visibleErrors(page), after: await page.value("#after"), hash: await page.evaluate(() => location.hash) };
  };
  let r = await apply("5m ago", "now");
  check("5: '5m ago' to 'now' is accepted", r.errs.length === 0 && /after=/.test(r.hash), r);
  r = await apply("2026-01-05 14:29:00", "2026-01-05 14:31:00");
  check("5: 'YYYY-MM-DD hh:mm:ss' is accepted as UTC", r.errs.length === 0 && r.after.startsWith("2026-01-05T14:29:00"), r);
  r = await apply("2026-02-30T00:00:00Z", "2026-03-02T00:00:00Z");
  check("5: 2026-02-30 is refused, naming it", r.errs.some((e) => /2026-02-30/.test(e)), r);

  await page.goto(sample + "/#pair=nosuch&wa=1767623400000000000&wb=1767623401000000000");
  await ready(page);
  const li = await page.text("#listinfo");
  check("5: an unknown pair is named as such", /no pair .*nosuch/i.test(li) && /fix/.test(li), li);
  await page.close();
}

async function emptyStore(browser) { /* item 6 */
  const page = await browser.newPage();
  await page.goto(empty + "/");
  await ready(page);
  const t = await page.text("#rangetext");
  const a = await page.value("#after");
  check("6: an empty store shows no 1969 range", !/1969/.test(t + a), { t, a });
  check("6: an empty store says so", /empty/i.test(t + (await page.text("#charts"))), t);
  await page.close();
}

async function wholeStore(browser) { /* item 7 */
  const page = await browser.newPage();
  await page.goto(metricsBase + "/#preset=all");
  await ready(page);
  const api = await page.evaluate(async () => {
    /* ns times exceed 2^53: read them from the JSON text */
    const m = await (await fetch("/api/v1/metrics?series=tap:0&step=1s")).text();
    const s = await (await fetch("/api/v1/status")).text();
    const ts = m.match(/"ts_ns":(\d+)/g).map((x) => x.split(":")[1]);
    return { counts: JSON.parse(m).points.map((p) => p.count), lastTs: ts[ts.length - 1], maxTs: s.match(/"max_ts_ns":(\d+)/)[1] };
  });
  const drawn = await page.evaluate(() => { const u = document.getElementById("c-pps").uplot; return u ? u.data[1].filter((v) => v != null) : null; });
  check("7: whole store draws every per-second point of the API", drawn && drawn.length === api.counts.length, { api, drawn });
  /* the last second ends with the store: its rate is its packets over the
   * part of the second the store covers, not over a whole second */
  const cov = Number(BigInt(api.maxTs) + 1n - BigInt(api.lastTs)) / 1e9;
  const want = api.counts[api.counts.length - 1] / cov;
  const last = drawn ? drawn[drawn.length - 1] : null;
  check("7: the last, partial second is drawn as a rate over the time it covers", last !== null && Math.abs(last - want) <= 0.01 * want, { last, want, cov });
  await page.close();
}

async function narrow(browser800) { /* item 11 */
  const page = await browser800.newPage();
  await page.goto(sample + "/");
  await ready(page);
  const w = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  check("11: at 800x600 nothing scrolls sideways", w.scroll <= w.client, w);
  await shot(page, "d11-800x600", false);
  await page.close();
}

async function ticks(browser) { /* item 12 */
  const page = await browser.newPage();
  await page.goto(metricsBase + "/#preset=all");
  await ready(page);
  const t = await page.evaluate(() => {
    const ax = (id, i) => { const u = document.getElementById(id) && document.getElementById(id).uplot; return u ? (u.axes[i]._values || []).filter((v) => v !== "" && v != null) : null; };
    const lat = document.querySelector("figure.latency");
    return { x: ax("c-pps", 0), lat: lat ? ax(lat.id, 1) : null, bps: ax("c-bps", 1), bpsTitle: (document.querySelector("#c-bps h3") || {}).textContent };
  });
  check("12: time ticks are UTC 24-hour", t.x && t.x.length > 0 && t.x.every((v) => /^(\d\d-\d\d )?\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(v)), t.x);
  check("12: latency ticks carry a unit and no thousands comma", t.lat && t.lat.length > 0 && t.lat.every((v) => /(s|ms|µs|ns)$/.test(v) && !/,/.test(v)), t.lat);
  check("12: byte rates are drawn as bit rates", /b\/s/.test(t.bpsTitle || "") && t.bps && t.bps.every((v) => /b\/s$/.test(v)), t);
  await shot(page, "d12-ticks", false);
  await page.close();
}

/* issue 14, latency distributions: per pair a heatmap of the API's heat
 * counts (heatmap=1 at the chart's step), on a log latency axis, each
 * non-empty cell painted and an empty one left blank */
async function heatmap(browser) {
  const page = await browser.newPage();
  await page.goto(metricsBase + "/#preset=all");
  await ready(page);
  await page.waitForSelector("figure.heatmap canvas", 10000).catch(() => {});
  const got = await page.evaluate(async () => {
    const fig = document.querySelector('figure.heatmap[data-pair="fix"]');
    if (!fig || !fig.uplot || !fig.heat) return { fig: !!fig };
    const u = fig.uplot, h = fig.heat;
    const m = await (await fetch(`/api/v1/metrics?series=pair:fix&after=${BigInt(Math.round(u.data[0][0])) * 1000000000n}` +
      `&before=${BigInt(Math.round(u.data[0][u.data[0].length - 1])) * 1000000000n}&step=${h.stepSec}s&heatmap=1`)).json();
    const apiTotal = m.points.reduce((t, p) => t + p.heat.reduce((x, y) => x + y, 0), 0);
    const apiCount = m.points.reduce((t, p) => t + p.count, 0);
    /* the pixel at the centre of the fullest cell, and of an empty bucket of the same column */
    const px = (x, y) => Array.from(u.ctx.getImageData(Math.round(x), Math.round(y), 1, 1).data);
    let best = null;
    h.cols.forEach((col, i) => col.forEach((c, k) => { if (!best || c > best.c) best = { c, i, k }; }));
    const cx = u.valToPos(h.xs[best.i] + h.stepSec / 2, "x", true);
    const mid = (k) => Math.sqrt(h.top(k) * h.bottom(k));
    const emptyK = h.cols[best.i].findIndex((c, k) => c === 0 && mid(k) > h.ylo && mid(k) < h.yhi);
    const ticks = (u.axes[1]._values || []).filter((v) => v !== "" && v != null);
    return { fig: true, distr: u.scales.y.distr, total: Number(fig.dataset.total), apiTotal, apiCount, ticks,
      full: px(cx, u.valToPos(mid(best.k), "y", true)), empty: emptyK < 0 ? null : px(cx, u.valToPos(mid(emptyK), "y", true)),
      title: fig.querySelector("h3").textContent };
  });
  check("heatmap: a latency heatmap per pair is drawn", got.fig && got.distr !== undefined, got);
  check("heatmap: its latency axis is logarithmic", got.distr === 3, got.distr);
  check("heatmap: latency ticks carry units", got.ticks && got.ticks.length > 1 && got.ticks.every((v) => /(s|ms|µs|ns)$/.test(v)), got.ticks);
  check("heatmap: it holds every measurement the API counts over its range", got.total > 0 && got.total === got.apiTotal && got.apiTotal === got.apiCount, got);
  check("heatmap: the fullest cell is painted", got.full && got.full[3] === 255 && !(got.full[0] > 250 && got.full[1] > 250 && got.full[2] > 250), got.full);
  /* blank: at most a faint grid line (uPlot's grid is black at alpha ~0.07); cells are opaque */
  check("heatmap: an empty bucket is left blank", got.empty && got.empty[3] < 64, got.empty);
  await page.shotElement('figure.heatmap[data-pair="fix"]', path.join(artifacts, "heatmap-fix.png")).catch(() => {});
  await page.close();
}

/* The overview draws each group of charts as soon as its own requests are
 * answered, in a fixed order whatever order the answers come in. The page's
 * fetch is wrapped so that the per-tap metrics are held until released: the
 * latency charts must be drawn meanwhile, the tap charts must not be, and
 * once released every chart must sit in its place (rates, then per pair
 * its latency chart and its heatmap, then the feeds). */
async function progressive(browser) {
  const page = await browser.newPage();
  await page.goto(metricsBase + "/#after=1&before=2"); /* no data: no charts */
  await ready(page);
  /* the latency and feed requests are held until released; each records
   * whether the view's content mark was set when it went out */
  await page.evaluate(() => {
    const real = window.fetch;
    let release;
    window.__calls = [];
    const gate = new Promise((r) => { release = r; });
    window.__release = release;
    window.fetch = async (url, opts) => {
      const below = /sort=latency|sort=store&limit=1|heatmap=1|series=feed/.test(decodeURIComponent(String(url)));
      if (below) window.__calls.push(document.body.dataset.content);
      const r = await real(url, opts);
      if (below) await gate;
      return r;
    };
    location.hash = "preset=all";
  });
  const shown = await page.waitFor(() => document.body.dataset.content === "1", null, 15000).then(() => true, () => false);
  const meanwhile = await page.evaluate(() => {
    const lat = Array.from(document.querySelectorAll('#charts > figure[id^="c-lat-"]'));
    return { pps: !!document.querySelector("#c-pps canvas"), ready: document.body.dataset.ready,
      latency: lat.length, latencyPending: lat.filter((f) => f.classList.contains("pending")).length,
      latencyBelow: lat.every((f) => f.getBoundingClientRect().top >= window.innerHeight) };
  });
  check("progressive: the charts in the window are drawn, and the view's content marked, while the charts below it are still on their way",
    shown && meanwhile.pps && meanwhile.ready === "0" && meanwhile.latency > 0 && meanwhile.latencyBelow &&
    meanwhile.latencyPending === meanwhile.latency, meanwhile);
  await page.evaluate(() => window.__release());
  await ready(page);
  const calls = await page.evaluate(() => ({ held: window.__calls.length, before: window.__calls.filter((c) => c !== "1").length }));
  check("progressive: the charts below the window are asked for only after those in it are drawn",
    calls.held > 0 && calls.before === 0, calls);
  const ids = await page.evaluate(() => Array.from(document.querySelectorAll("#charts > figure")).map((f) => f.id));
  const at = (id) => ids.indexOf(id);
  const pairs = ids.filter((id) => id.startsWith("c-lat-")).map((id) => id.slice(6));
  const firstLat = ids.findIndex((id) => id.startsWith("c-lat-"));
  const inPlace = at("c-pps") === 0 && at("c-bps") === 1 && at("c-mps") > at("c-bps") && firstLat > at("c-mps") &&
    pairs.length > 0 && pairs.every((p) => at("c-heat-" + p) === at("c-lat-" + p) + 1) &&
    ids.slice(firstLat, firstLat + 2 * pairs.length).every((id) => /^c-(lat|heat)-/.test(id)) &&
    ids.slice(firstLat + 2 * pairs.length).every((id) => !/^c-(lat|heat|pps|bps|mps|drops)/.test(id));
  check("progressive: every chart ends in its fixed place", inPlace, ids);
  check("progressive: no empty place is left", (await page.count("#charts > figure.pending")) === 0);
  await page.close();
}

/* issue 14, list totals: the measurement list says "1–100 of N", N the
 * count of every measurement the filters match (the API listed page by
 * page), and the next page "101–200 of N"; a latency filter changes N */
async function listTotals(browser) {
  const page = await browser.newPage();
  const wa = "1767623400000000000", wb = "1767623460000000000";
  const count = async (filters) => page.evaluate(async (q) => {
    let n = 0;
    for (let off = 0; ; off += 1000) {
      const j = await (await fetch(`/api/v1/measurements?pair=fix&after=${q.wa}&before=${q.wb}&limit=1000&offset=${off}${q.filters}`)).json();
      n += j.measurements.length;
      if (!j.more) return n;
    }
  }, { wa, wb, filters });
  const fmt = (n) => n.toLocaleString("en-US");
  await page.goto(`${metricsBase}/#preset=all&pair=fix&wa=${wa}&wb=${wb}`);
  await page.waitForSelector("#list:not([hidden]) #listtable tbody tr", 20000);
  await ready(page);
  const all = await count("");
  let info = await page.text("#pageinfo");
  check("totals: the list says 1–100 of every match", all > 200 && info.includes(`1–100 of ${fmt(all)}`), { info, all });
  /* latency by session is the server's grouping of every match, not of a first page */
  const sessSum = (await page.evalAll("#sessions tbody tr", (trs) => trs.map((tr) => Number(tr.cells[1].textContent.replace(/,/g, "")))))
    .reduce((t, n) => t + n, 0);
  check("totals: latency by session counts every match of the window", sessSum === all, { sessSum, all });
  await page.click("#nextpage");
  await page.waitFor(() => /(^#|&)pg=2(&|$)/.test(location.hash), null, 10000);
  await ready(page);
  info = await page.text("#pageinfo");
  check("totals: the next page says 101–200 of the same", info.includes(`101–200 of ${fmt(all)}`), { info, all });
  await page.fill("#minlat", "100us");
  await page.click("#minform button");
  await page.waitFor(() => /min=100us/.test(location.hash), null, 10000);
  await ready(page);
  const slow = await count("&min=100us");
  info = await page.text("#pageinfo");
  check("totals: a latency filter gives its own total", slow < all && info.includes(`of ${fmt(slow)}`), { info, slow });
  await page.evaluate(() => document.getElementById("list").scrollIntoView());
  await shot(page, "totals-list", false);
  await page.close();
}

async function listControls(browser) { /* sortable by a header click, filtered by latency */
  const page = await browser.newPage();
  await page.goto(sample + "/#preset=all&pair=fix&wa=1767623400000000000&wb=1767623401000000000");
  await page.waitForSelector("#list:not([hidden]) #listtable tbody tr", 20000);
  await ready(page);
  const rows = () => page.evalAll("#listtable tbody tr", (trs) => trs.map((tr) => ({ lat: tr.cells[0].textContent, t: tr.cells[1].textContent })));
  const durNs = (x) => { const [v, u] = x.split(" "); return Number(v) * { s: 1e9, ms: 1e6, "µs": 1e3, us: 1e3, ns: 1 }[u]; };
  await page.click("#listtable th a.sort[href*='sort=time']");
  await page.waitFor(() => /sort=time/.test(location.hash), null, 10000);
  await ready(page);
  let r = await rows();
  check("list: a click on the time header sorts oldest first", r.length > 1 && r.every((x, i) => i === 0 || r[i - 1].t <= x.t), r.slice(0, 3));
  await page.fill("#minlat", "1ms");
  await page.click("#minform button");
  await page.waitFor(() => /min=1ms/.test(location.hash), null, 10000);
  await ready(page);
  r = await rows();
  check("list: a minimum latency filters the list", r.length > 0 && r.every((x) => durNs(x.lat) >= 1e6), r.slice(0, 3));
  /* latency by session: the window's measurements grouped by client → server */
  const want = await page.evaluate(async () => {
    const j = await (await fetch("/api/v1/measurements?pair=fix&after=1767623400000000000&before=1767623401000000000&sort=time&min=1ms&limit=1000")).json();
    const by = {};
    for (const m of j.measurements) by[`${m.src} → ${m.dst}`] = (by[`${m.src} → ${m.dst}`] || 0) + 1;
    return by;
  });
  const got = await page.evalAll("#sessions tbody tr", (trs) => Object.fromEntries(trs.map((tr) => [tr.cells[0].textContent, Number(tr.cells[1].textContent.replace(/,/g, ""))])));
  check("list: latency by session counts each session's measurements", Object.keys(want).length > 0 && JSON.stringify(Object.entries(got).sort()) === JSON.stringify(Object.entries(want).sort()), { want, got });
  const key = (await page.evalAll("#listtable tbody tr", (trs) => trs.map((tr) => tr.cells[2].textContent)))[0];
  await page.fill("#listkey", key);
  await page.click("#minform button");
  await page.waitFor(() => /lkey=/.test(location.hash), null, 10000);
  await ready(page);
  const keys = await page.evalAll("#listtable tbody tr", (trs) => trs.map((tr) => tr.cells[2].textContent));
  check("list: a key filters the list", keys.length > 0 && keys.every((k) => k === key), { key, keys });
  /* a session filters the list on the server: every row is of it, the total is its count */
  await page.fill("#listkey", "");
  await page.fill("#maxlat", "3ms");
  await page.click("#minform button");
  await page.waitFor(() => /max=3ms/.test(location.hash) && !/lkey=/.test(location.hash), null, 10000);
  await ready(page);
  r = await rows();
  check("list: a latency range filters the list", r.length > 0 && r.every((x) => durNs(x.lat) >= 1e6 && durNs(x.lat) <= 3e6), r.slice(0, 3));
  const first = await page.evaluate(() => {
    const tr = document.querySelector("#sessions tbody tr");
    return { text: tr.cells[0].textContent, n: Number(tr.cells[1].textContent.replace(/,/g, "")) };
  });
  await page.click("#sessions tbody tr:first-child a");
  await page.waitFor(() => /lsess=/.test(location.hash), null, 10000);
  await ready(page);
  const srcdst = await page.evalAll("#listtable tbody tr", (trs) => trs.map((tr) => tr.cells[3].textContent));
  const info = await page.text("#pageinfo");
  const sel = await page.evalAll("#sessions tbody tr.sel", (trs) => trs.map((tr) => tr.cells[0].textContent));
  check("list: a session's row filters the list to it, its count the total, its row selected",
    srcdst.length > 0 && srcdst.every((x) => x === first.text) && info.includes(`of ${first.n.toLocaleString("en-US")}`) &&
    sel.length === 1 && sel[0] === first.text, { first, srcdst: srcdst.slice(0, 3), info, sel });
  await page.close();
}

/* time navigation: zoom out doubles the span around the same centre, a pan
 * moves it by half, Back returns to the previous view */
async function navigation(browser) {
  const page = await browser.newPage();
  await page.goto(metricsBase + "/#preset=all");
  await ready(page);
  const span = async () => {
    const [a, b] = (await page.text("#rangetext")).split(" · ")[0].split(" – ");
    return { a, b, len: (Date.parse(b.slice(0, 23) + "Z") - Date.parse(a.slice(0, 23) + "Z")) / 1000 };
  };
  const r0 = await span();
  await drag(page, "#c-pps .u-over", 0.3, 0.6);
  await page.waitFor(() => /before=\d+/.test(location.hash), null, 10000);
  await ready(page);
  const r1 = await span();
  check("nav: a drag zooms in", r1.len < r0.len * 0.6, { r0, r1 });
  await page.click("#panleft");
  await page.waitFor((a) => !location.hash.includes(a), r1.a, 10000).catch(() => {});
  await ready(page);
  const r2 = await span();
  check("nav: a pan keeps the span and moves it back by half", Math.abs(r2.len - r1.len) < 0.01 &&
    Math.abs((Date.parse(r1.a.slice(0, 23) + "Z") - Date.parse(r2.a.slice(0, 23) + "Z")) / 1000 - r1.len / 2) < 0.01, { r1, r2 });
  await page.click("#zoomout");
  await sleep(300);
  await ready(page);
  const r3 = await span();
  check("nav: zoom out doubles the span", Math.abs(r3.len - 2 * r2.len) < 0.01, { r2, r3 });
  await page.evaluate(() => history.back());
  await sleep(300);
  await ready(page);
  check("nav: Back returns to the previous view", JSON.stringify(await span()) === JSON.stringify(r2), { back: await span(), r2 });
  await page.evaluate(() => { history.back(); history.back(); });
  await sleep(500);
  await ready(page);
  check("nav: Back to the first view restores the whole store", (await page.value("#preset")) === "all" && (await span()).a === r0.a, await span());
  await page.close();
}

async function search(browser) { /* item 8 */
  const page = await browser.newPage();
  await page.goto(sample + "/#preset=all");
  await ready(page);
  const api = (u) => page.evaluate(async (x) => (await (await fetch(x)).json()), u);
  const find = async (q) => {
    await page.fill("#key", q);
    await page.press("Enter");
    await page.waitFor((k) => new URLSearchParams(location.hash.slice(1)).get("key") === k, q, 10000);
    await ready(page);
    return page.evalAll("#searchresults tbody tr", (trs) => trs.map((tr) => Array.from(tr.cells, (c) => c.textContent)));
  };
  const http = (await api("/api/v1/messages?proto=http&type=request&limit=1")).messages[0];
  const path0 = http.key.replace(/^[A-Z]+ /, "");
  let rows = await find(path0);
  check("8: a path finds its HTTP request without the method", rows.some((r) => r.includes(http.id)), { q: path0, id: http.id, rows: rows.slice(0, 3) });
  const dns = (await api("/api/v1/messages?proto=dns&type=query&limit=1")).messages[0];
  const name = dns.key.split(" ")[1];
  rows = await find(name);
  check("8: a DNS name finds its query without the DNS id", rows.some((r) => r.includes(dns.id)), { q: name, id: dns.id, rows: rows.slice(0, 3) });
  const ord = (await api("/api/v1/messages?proto=fix&type=D&limit=1")).messages[0];
  const reports = (await api("/api/v1/messages?proto=fix&type=8&limit=1000")).messages.filter((m) => m.fields.some((f) => (f[0] === "11" || f[0] === "41") && f[1] === ord.key));
  rows = await find(ord.key);
  const shown = reports.filter((m) => rows.some((r) => r.includes(m.id)));
  check("8: a ClOrdID finds its order's execution reports", reports.length > 0 && shown.length === reports.length, { q: ord.key, want: reports.map((m) => m.id), shown: shown.map((m) => m.id) });
  const unlinked = await page.evalAll("#searchresults tbody tr", (trs) => trs.filter((tr) => !Array.from(tr.cells).some((c) => /^[lm]\d+\.\d+\.\d+$/.test(c.textContent) && c.querySelector("a"))).length);
  check("8: every id in the results is a link", rows.length > 0 && unlinked === 0, unlinked);
  await page.shotElement("#search", path.join(artifacts, "d8-search.png"));
  await page.close();
}

/* view times, printed not asserted: navigation to the view's content
 * visible (data-ready set and the view's element shown), median of 3 */
async function viewTimes(browser) {
  const m = (await (await fetch(sample + "/api/v1/measurements?pair=fix&sort=latency&limit=1")).json()).measurements[0];
  const views = [
    ["overview, live capture, last 5 min", live + "/#preset=5m", "figure.latency canvas"],
    ["overview, live capture, last 1 min", live + "/#preset=1m", "figure.latency canvas"],
    ["measurement list (sample, whole store)", `${sample}/#preset=all&pair=fix&wa=1767623400000000000&wb=1767623401000000000`, "#listtable tbody tr"],
    ["measurement (sample)", `${sample}/#preset=all&m=${encodeURIComponent(m.id)}`, "#detail:not([hidden]) #pcaplink"],
  ];
  /* content: the view's own part is drawn (body[data-content="1"] and its
   * element); complete: every request of the page answered (data-ready) */
  for (const [what, url, sel] of views) {
    const t = [], all = [];
    for (let i = 0; i < 3; i++) {
      const page = await browser.newPage();
      const t0 = Date.now();
      await page.goto(url);
      await page.waitForSelector(sel, 20000);
      await page.waitFor(() => document.body.dataset.content === "1", null, 20000);
      t.push(Date.now() - t0);
      await ready(page);
      all.push(Date.now() - t0);
      await page.close();
    }
    t.sort((x, y) => x - y);
    all.sort((x, y) => x - y);
    console.log(`time [${browserName}] ${what}: ${t[1]} ms to content (runs ${t.join(", ")} ms), ${all[1]} ms complete`);
  }
}

(async () => {
  let browser = null, small = null;
  try {
    browser = await driver.launch(browserName, { width: 1280, height: 900 });
    const only = process.env.CS_DEFECTS_ONLY;
    const steps = { navigation, search, listControls, offScreen, alertLink, liveRefresh, liveWindow, liveState, badInput, emptyStore, wholeStore, ticks, heatmap, progressive, listTotals, presets, viewTimes };
    for (const [name, fn] of Object.entries(steps)) {
      if (only && !only.split(",").includes(name)) continue;
      try { await fn(browser); } catch (e) { failures++; console.log(`FAIL [${browserName}] ${name}: exception ` + (e && e.stack ? e.stack : e)); }
    }
    if (!only || only.includes("narrow")) {
      small = await driver.launch(browserName, { width: 800, height: 600 });
      try { await narrow(small); } catch (e) { failures++; console.log(`FAIL [${browserName}] narrow: exception ` + e); }
    }
  } catch (e) {
    failures++;
    console.log(`FAIL [${browserName}] exception: ` + (e && e.stack ? e.stack : e));
  } finally {
    if (browser) await browser.close();
    if (small) await small.close();
  }
  console.log(failures ? `${failures} failed` : "all passed");
  process.exit(failures ? 1 : 0);
})();

/* ui.test.js BROWSER BASE_URL ARTIFACT_DIR [METRICS_BASE_URL] - drives the
 * web UI in a headless browser, BROWSER = chromium (Debian's chromium through
 * playwright-core) or firefox (Debian's firefox-esr through puppeteer-core);
 * driver.js hides the difference, the scenario below is the same for both:
 *   1. overview: every chart has a canvas; the latency chart has points
 *      (and, on METRICS_BASE_URL, a daemon with closed per-second windows,
 *      the packets/s chart has points too; a drag zooms every chart)
 *   2. drill-down: drag over the latency chart -> measurement list (slowest
 *      first, 100 a page) -> next page: other measurements, still slowest
 *      first, none slower than page 1's fastest; previous page: page 1 again
 *      -> page 2's first measurement: both messages with fields and packets;
 *      the measurement's pcap holds exactly the packets listed; the pcap of
 *      the whole flow holds them and more, every record of that one 5-tuple
 *      (both directions; records parsed here down to TCP/UDP) -> one
 *      packet's hex dump
 *   3. search by the measurement's key (ClOrdID) finds it
 *   4. the URL of the last view, opened in a new page, restores it (page 2
 *      of the list, the measurement, the packet)
 *   5. every list the page asked the API for (measurements, messages,
 *      alerts) had a limit, every metrics query a step bounding its points
 *      (and the status line shows the daemon's records-not-stored count)
 *   6. the flow pcap of a QinQ-tagged FIX flow, an IPv6 HTTP flow and a UDP
 *      DNS exchange, each opened by its measurement's URL
 * Screenshots of each step go to ARTIFACT_DIR. Exits 1 if any check failed. */
"use strict";
const fs = require("fs");
const path = require("path");
const driver = require("./driver.js");

const [browserName, base, artifacts, metricsBase] = process.argv.slice(2);
if (!driver.names.includes(browserName) || !base || !artifacts) {
  console.error("usage: node ui.test.js chromium|firefox BASE_URL ARTIFACT_DIR [METRICS_BASE_URL]");
  process.exit(2);
}
const VIEWPORT = { width: 1280, height: 900 };
fs.mkdirSync(artifacts, { recursive: true });
let failures = 0;
function check(what, ok, detail) {
  if (ok) console.log(`ok   [${browserName}] ${what}`);
  else { failures++; console.log(`FAIL [${browserName}] ${what}` + (detail !== undefined ? ": " + JSON.stringify(detail) : "")); }
}
async function ready(page) {
  await page.waitFor(() => document.body.dataset.ready === "1", null, 20000);
}
async function shot(page, name) {
  await page.screenshot(path.join(artifacts, name + ".png"), { fullPage: true });
}

/* The test's own pcap reader (independent of app.js): [{ts_ns, caplen, flow}]
 * where flow is the record's "proto src:port > dst:port" from its Ethernet,
 * VLAN, IPv4/IPv6 and TCP/UDP headers (null when it has none of those). */
function parsePcap(buf) {
  const magic = buf.readUInt32LE(0);
  const nano = magic === 0xa1b23c4d;
  if (!nano && magic !== 0xa1b2c3d4) throw new Error("not a little-endian pcap: " + magic.toString(16));
  if (buf.readUInt32LE(20) !== 1) throw new Error("not an Ethernet pcap: linktype " + buf.readUInt32LE(20));
  const recs = [];
  let off = 24;
  while (off + 16 <= buf.length) {
    const sec = BigInt(buf.readUInt32LE(off)), frac = BigInt(buf.readUInt32LE(off + 4));
    const incl = buf.readUInt32LE(off + 8);
    if (off + 16 + incl > buf.length) throw new Error("pcap record cut short at " + off);
    recs.push({ ts_ns: (sec * 1000000000n + (nano ? frac : frac * 1000n)).toString(), caplen: incl,
      flow: frameFlow(buf.subarray(off + 16, off + 16 + incl)) });
    off += 16 + incl;
  }
  if (off !== buf.length) throw new Error("pcap has trailing bytes");
  return recs;
}
function frameFlow(f) {
  if (f.length < 14) return null;
  let off = 12, type = f.readUInt16BE(off);
  while ([0x8100, 0x88a8, 0x9100].includes(type) && off + 6 <= f.length) { off += 4; type = f.readUInt16BE(off); }
  off += 2;
  let src, dst, proto;
  if (type === 0x0800 && off + 20 <= f.length) {
    src = ip4(f, off + 12); dst = ip4(f, off + 16); proto = f[off + 9];
    off += (f[off] & 15) * 4;
  } else if (type === 0x86dd && off + 40 <= f.length) {
    src = ip6(f, off + 8); dst = ip6(f, off + 24); proto = f[off + 6];
    off += 40;
  } else return null;
  if (off + 4 > f.length || (proto !== 6 && proto !== 17)) return null;
  return `${proto === 6 ? "tcp" : "udp"} ${src}:${f.readUInt16BE(off)} > ${dst}:${f.readUInt16BE(off + 2)}`;
}
const ip4 = (f, o) => Array.from(f.subarray(o, o + 4)).join(".");
const ip6 = (f, o) => Array.from({ length: 8 }, (_, i) => f.readUInt16BE(o + 2 * i).toString(16)).join(":");
/* "10.1.0.16:40006" or "[fd00::3:b]:50001" (the API's endpoints) -> the same
 * "addr:port" text frameFlow writes (IPv6 with all 8 groups, no zero run) */
function endpoint(s) {
  const m = /^\[([0-9a-f:]+)\]:(\d+)$/i.exec(s) || /^([0-9.]+):(\d+)$/.exec(s);
  if (!m) throw new Error("bad endpoint " + s);
  let a = m[1];
  if (a.includes(":")) {
    const [l, r] = a.split("::");
    const L = l ? l.split(":") : [], R = r !== undefined ? (r ? r.split(":") : []) : [];
    const groups = r !== undefined ? [...L, ...Array(8 - L.length - R.length).fill("0"), ...R] : L;
    a = groups.map((g) => parseInt(g, 16).toString(16)).join(":");
  }
  return `${a}:${m[2]}`;
}
/* "12.345 ms" -> ns (the list's latency column) */
function durNs(s) { const [v, u] = s.split(" "); return Number(v) * { s: 1e9, ms: 1e6, us: 1e3, "µs": 1e3, ns: 1 }[u]; }
async function pageBytes(page, url) {
  const b64 = await page.evaluate(async (u) => {
    const r = await fetch(u);
    if (!r.ok) return "!" + r.status + " " + (await r.text());
    const b = new Uint8Array(await r.arrayBuffer());
    let s = "";
    for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
    return btoa(s);
  }, url);
  if (b64.startsWith("!")) throw new Error(`GET ${url}: ${b64.slice(1)}`);
  return Buffer.from(b64, "base64");
}
/* the list's rows: [{id, lat}] */
function listRows(page) {
  return page.evalAll("#listtable tbody tr", (trs) => trs.map((tr) => ({ id: tr.cells[4].textContent, lat: tr.cells[0].textContent })));
}

async function overview(page) {
  await page.goto(base + "/");
  await ready(page);
  check("a latency chart is drawn", (await page.count("figure.latency")) >= 1);
  check("the latency chart has a canvas", (await page.count("figure.latency canvas")) >= 1);
  const pts = Number(await page.attr("figure.latency", "data-points"));
  check("the latency chart has data points", pts > 0, pts);
  const status = await page.text("#status");
  check("status line shows the packets", /\d+ packets/.test(status), status);
  const st = await (await fetch(base + "/api/v1/status")).json();
  const rns = st.drops && st.drops.records_not_stored;
  check("status line shows the records not stored, as /status counts them",
    Number.isInteger(rns) && status.includes(`records not stored ${rns}`), { rns, status });
  await shot(page, "01-overview");
}

async function drag(page, sel, from, to) {
  const box = await page.box(sel);
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * from, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * (from + to) / 2, y, { steps: 5 });
  await page.mouse.move(box.x + box.width * to, y, { steps: 5 });
  await page.mouse.up();
}

async function overviewMetrics(browser) {
  const page = await browser.newPage();
  await page.goto(metricsBase + "/#preset=all");
  await ready(page);
  for (const id of ["c-pps", "c-bps", "c-mps", "c-drops"])
    check(`chart ${id} exists with a canvas`, (await page.count(`#${id} canvas`)) >= 1);
  const n = Number(await page.attr("#c-pps", "data-points"));
  check("packets/s chart has points", n > 0, n);
  const m = Number(await page.attr("#c-mps", "data-points"));
  check("messages/s chart has points", m > 0, m);
  await shot(page, "00-overview-metrics");
  /* zoom: a drag on a rate chart sets a custom range shared by every chart */
  const before = await page.text("#rangetext");
  await drag(page, "#c-pps .u-over", 0.1, 0.9);
  await page.waitFor(() => /after=\d+&before=\d+/.test(location.hash), null, 10000);
  await ready(page);
  const after = await page.text("#rangetext");
  check("a drag on a chart zooms every chart to a custom range", after !== before && (await page.value("#preset")) === "custom", { before, after });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot(path.join(artifacts, "00b-overview-top.png"), { clip: { x: 0, y: 0, width: 1280, height: 900 } });
  await page.close();
}

/* next/previous page of the measurement list; returns page 2's rows */
async function paging(page, page1) {
  const sorted = (rows) => rows.every((r, i) => i === 0 || durNs(rows[i - 1].lat) >= durNs(r.lat));
  check("page 1 is full (100 measurements)", page1.length === 100, page1.length);
  check("a next page is offered", !(await page.evaluate(() => document.getElementById("nextpage").disabled)));
  check("page 1 has no previous page", await page.evaluate(() => document.getElementById("prevpage").disabled));
  await page.click("#nextpage");
  await page.waitFor(() => /(^#|&)pg=2(&|$)/.test(location.hash), null, 10000);
  await ready(page);
  const page2 = await listRows(page);
  const ids1 = new Set(page1.map((r) => r.id));
  check("page 2 lists measurements", page2.length > 0, page2.length);
  check("page 2's measurements are not page 1's", page2.every((r) => !ids1.has(r.id)), page2.slice(0, 3));
  check("page 2 is slowest first", sorted(page2), page2.slice(0, 5));
  const slowest2 = durNs(page2[0].lat), fastest1 = durNs(page1[page1.length - 1].lat);
  check("page 2's slowest is no slower than page 1's fastest", slowest2 <= fastest1, { slowest2, fastest1 });
  check("the page is shown", /page 2/.test(await page.text("#pageinfo")), await page.text("#pageinfo"));
  await shot(page, "02b-measurements-page2");
  await page.click("#prevpage");
  await page.waitFor(() => !/(^#|&)pg=/.test(location.hash), null, 10000);
  await ready(page);
  const back = await listRows(page);
  check("previous page shows page 1 again", JSON.stringify(back) === JSON.stringify(page1));
  await page.click("#nextpage");
  await page.waitFor(() => /(^#|&)pg=2(&|$)/.test(location.hash), null, 10000);
  await ready(page);
  return page2;
}

/* the pcap of the whole flow: every packet of the measurement and more,
 * each record one of the flow's two directions */
async function flowPcap(page, pkts, expectMore) {
  const ends = await page.evalAll("#detailbody .side > div:first-child table:first-of-type tr", (trs) =>
    trs.filter((tr) => tr.cells[0].textContent === "src → dst").map((tr) => tr.cells[1].textContent));
  const [src, dst] = (ends[0] || "").split(" → ");
  const href = await page.attr("#flowlink", "href");
  check("the flow pcap link uses the packets endpoint", /^\/api\/v1\/packets\?filter=/.test(href), href);
  const recs = parsePcap(await pageBytes(page, href));
  const proto = /TCP/.test(pkts[0].summary) ? "tcp" : "udp";
  const fwd = `${proto} ${endpoint(src)} > ${endpoint(dst)}`, rev = `${proto} ${endpoint(dst)} > ${endpoint(src)}`;
  const bad = recs.filter((r) => r.flow !== fwd && r.flow !== rev);
  check("every record of the flow pcap is of the measurement's flow", recs.length > 0 && bad.length === 0,
    { records: recs.length, want: fwd, bad: bad.slice(0, 3) });
  check("the flow pcap holds both directions", recs.some((r) => r.flow === fwd) && recs.some((r) => r.flow === rev));
  const have = new Set(recs.map((r) => r.ts_ns + "/" + r.caplen));
  const missing = pkts.filter((p) => !have.has(p.ts_ns + "/" + p.caplen));
  check("the flow pcap holds every packet of the measurement", missing.length === 0, missing);
  if (expectMore)
    check("the flow pcap holds more than the measurement's packets", recs.length > new Set(pkts.map((p) => p.ref)).size,
      { flow: recs.length, measurement: pkts.length });
  const times = recs.map((r) => BigInt(r.ts_ns));
  check("the flow pcap is in time order", times.every((t, i) => i === 0 || times[i - 1] <= t));
}

/* the packets the measurement view lists: [{ref, ts, caplen, summary}] */
function shownPackets(page) {
  return page.evalAll("#detailbody tr.pkt", (trs) => trs.map((tr) => ({ ref: tr.dataset.ref, ts: tr.cells[0].textContent,
    caplen: Number(tr.cells[1].textContent), summary: tr.cells[2].textContent })));
}
/* the measurement's pcap holds exactly the listed packets; returns them
 * with their ns times from the pcap: [{ref, ts_ns, caplen, summary}] */
async function measurementPcap(page, pkts) {
  const recs = parsePcap(await pageBytes(page, await page.attr("#pcaplink", "href")));
  const uniq = new Map(pkts.map((p) => [p.ref, p]));
  check("the pcap holds as many packets as listed", recs.length === uniq.size, { pcap: recs.length, listed: uniq.size });
  const fmt = (ns) => { ns = BigInt(ns); return new Date(Number(ns / 1000000n)).toISOString().slice(0, 19) + "." + (ns % 1000000000n).toString().padStart(9, "0") + "Z"; };
  const want = [...uniq.values()].map((p) => p.ts + "/" + p.caplen).sort();
  const got = recs.map((r) => fmt(r.ts_ns) + "/" + r.caplen).sort();
  check("the pcap's packets are the listed ones (ns time, length)", JSON.stringify(want) === JSON.stringify(got), { want, got });
  const byText = new Map(recs.map((r) => [fmt(r.ts_ns) + "/" + r.caplen, r.ts_ns]));
  return pkts.map((p) => ({ ref: p.ref, ts_ns: byText.get(p.ts + "/" + p.caplen), caplen: p.caplen, summary: p.summary }));
}

/* The flow download for other kinds of flow than the drill-down's: a FIX
 * flow under two VLAN tags (802.1ad + 802.1Q), an HTTP flow over IPv6 and a
 * DNS exchange over UDP (its own flow: one query, one response, so no
 * "more packets" there). Each is found through the API, opened by its URL. */
async function otherFlows(browser) {
  const get = async (u) => { const r = await fetch(base + u); if (!r.ok) throw new Error(`GET ${u}: ${r.status}`); return r.json(); };
  const kinds = [
    { what: "a VLAN-tagged FIX flow", pair: "fix", ok: (m, d) => /vlan \d+, vlan \d+/.test(d.request.packets[0].summary), more: true },
    { what: "an IPv6 HTTP flow", pair: "http", ok: (m) => m.src.startsWith("["), more: true },
    { what: "a UDP DNS flow", pair: "dns", ok: (m, d) => /UDP/.test(d.request.packets[0].summary), more: false },
  ];
  for (const k of kinds) {
    let id = null;
    const seen = new Set();
    for (const m of (await get(`/api/v1/measurements?pair=${k.pair}&limit=1000`)).measurements) {
      if (seen.has(m.src)) continue;
      seen.add(m.src);
      const d = await get(`/api/v1/measurements/${encodeURIComponent(m.id)}`);
      if (d.request && d.request.packets.length && k.ok(m, d)) { id = m.id; break; }
    }
    check(`the sample has ${k.what}`, id !== null);
    if (!id) continue;
    const page = await browser.newPage();
    await page.goto(`${base}/#m=${encodeURIComponent(id)}`);
    await page.waitForSelector("#detail:not([hidden]) #pcaplink", 20000);
    await ready(page);
    console.log(`     ${k.what}: ${id}, filter ${await page.attr("#flowlink", "data-filter")}`);
    await flowPcap(page, await measurementPcap(page, await shownPackets(page)), k.more);
    await page.close();
  }
}

async function drill(page) {
  /* the FIX chart: its measurements' keys are ClOrdIDs, searched for below */
  await drag(page, 'figure.latency[data-pair="fix"] .u-over', 0.002, 0.998);
  await page.waitForSelector("#list:not([hidden]) #listtable tbody tr", 20000);
  await ready(page);
  const page1 = await listRows(page);
  check("the drag lists measurements", page1.length > 0);
  check("the list is slowest first", page1.every((r, i) => i === 0 || durNs(page1[i - 1].lat) >= durNs(r.lat)), page1.slice(0, 5));
  await shot(page, "02-measurements");
  await paging(page, page1);

  await page.click("#listtable tbody tr:first-child a");
  await page.waitForSelector("#detail:not([hidden]) #pcaplink", 20000);
  await ready(page);
  const sides = await page.evalAll("#detailbody .side > div h3", (hs) => hs.map((h) => h.textContent));
  check("request and response are shown side by side", sides.length === 2 && /Request/.test(sides[0]) && /Response/.test(sides[1]), sides);
  const pkts = await shownPackets(page);
  check("both messages list packets", pkts.length >= 2, pkts.length);
  const fields = await page.evalAll("#detailbody h4", (hs) => hs.filter((h) => h.textContent === "Fields").map((h) => h.nextElementSibling.querySelectorAll("tbody tr").length));
  check("decoded fields are shown", fields.length === 2 && fields[0] > 2, fields);
  /* the sample is FIX 4.4: its version is named, and tags and types by its dictionary */
  check("the FIX version of each message is named", sides.every((h) => /\(FIX 4\.4\)$/.test(h)), sides);
  check("the request's type is named", /D NewOrderSingle/.test(sides[0]), sides[0]);
  const tagRows = await page.evalAll("#detailbody .side > div:first-child td:first-child", (tds) => tds.map((td) => td.textContent));
  check("FIX tags are shown with their names", tagRows.includes("11 ClOrdID") && tagRows.includes("35 MsgType"), tagRows.slice(0, 20));
  await shot(page, "03-measurement");
  await page.shotElement("#detail", path.join(artifacts, "03b-measurement-detail.png"));

  const listed = await measurementPcap(page, pkts);
  await flowPcap(page, listed, true);

  await page.click("#detailbody tr.pkt a");
  await page.waitForSelector("#bytes:not([hidden]) pre.hex", 20000);
  await ready(page);
  const hex = await page.text("#bytes pre.hex");
  const lines = hex.trim().split("\n").length;
  check("the packet's bytes are dumped in hex", lines === Math.ceil(pkts[0].caplen / 16), { lines, caplen: pkts[0].caplen });
  const layers = await page.evalAll("#bytes li", (li) => li.map((x) => x.textContent));
  check("the packet's layers are decoded", layers.some((l) => /^Ethernet/.test(l)) && layers.some((l) => /^(TCP|UDP)/.test(l)), layers);
  await shot(page, "04-packet");
  await page.shotElement("#bytes", path.join(artifacts, "04b-packet-bytes.png"));
  const url = page.url();
  const id = new URL(url).hash.match(/m=([^&]+)/)[1];
  const key = (await page.text("#detailbody p.mono")).match(/key (\S+)/)[1];
  return { id: decodeURIComponent(id), key, url, latency: await page.text("#latency"), hex, list: await listRows(page) };
}

async function search(page, got) {
  await page.fill("#key", got.key);
  await page.press("Enter");
  await page.waitForSelector("#searchresults table", 20000);
  await ready(page);
  const text = await page.text("#searchresults");
  check("search by ClOrdID finds the measurement", text.includes(got.id), { key: got.key, id: got.id });
  await page.shotElement("#search", path.join(artifacts, "05-search.png"));
}

async function shared(browser, got) {
  const page = await browser.newPage();
  await page.goto(got.url);
  await ready(page);
  await page.waitForSelector("#bytes:not([hidden]) pre.hex", 20000);
  check("the shared URL is of list page 2", /(^#|&)pg=2(&|$)/.test(new URL(got.url).hash), got.url);
  check("a shared URL restores the measurement", (await page.text("#latency")) === got.latency);
  check("a shared URL restores the packet view", (await page.text("#bytes pre.hex")) === got.hex);
  const list = await listRows(page);
  check("a shared URL restores the list page", list.length > 0 && JSON.stringify(list) === JSON.stringify(got.list), list.slice(0, 3));
  await shot(page, "06-shared-url");
  await page.close();
}

/* Every API list the page asked for was bounded: lists (measurements,
 * messages, alerts) by a limit of at most 1000, metrics by a step giving
 * at most 2000 points over the range (the page's requests as the Resource
 * Timing API recorded them). /series takes no limit in the API. */
async function boundedRequests(page) {
  const urls = await page.evaluate(() => performance.getEntriesByType("resource").map((e) => e.name));
  const api = urls.map((u) => new URL(u)).filter((u) => u.pathname.startsWith("/api/v1/"));
  const lists = api.filter((u) => /^\/api\/v1\/(measurements|messages|alerts)$/.test(u.pathname));
  check("the page asked for the alerts", lists.some((u) => u.pathname === "/api/v1/alerts"));
  const metrics = api.filter((u) => u.pathname === "/api/v1/metrics");
  check("the page asked for lists and metrics", lists.length > 0 && metrics.length > 0, { lists: lists.length, metrics: metrics.length });
  const unbounded = lists.filter((u) => !(Number(u.searchParams.get("limit")) >= 1 && Number(u.searchParams.get("limit")) <= 1000));
  check("every list request has a limit of at most 1000", unbounded.length === 0, unbounded.map(String).slice(0, 3));
  const points = (u) => {
    const a = BigInt(u.searchParams.get("after") || 0), b = BigInt(u.searchParams.get("before") || 0);
    const step = /^(\d+)s$/.exec(u.searchParams.get("step") || "");
    return step ? Number((b - a) / (BigInt(step[1]) * 1000000000n)) : Infinity;
  };
  const dense = metrics.filter((u) => !(points(u) <= 2000));
  check("every metrics request has a step giving at most 2000 points", dense.length === 0, dense.map(String).slice(0, 3));
}

(async () => {
  let browser = null;
  try {
    browser = await driver.launch(browserName, VIEWPORT);
    const page = await browser.newPage();
    console.log(`browser: ${browserName} ${await page.evaluate(() => navigator.userAgent)}`);
    const errors = [];
    page.onPageError((e) => errors.push(e));
    await overview(page);
    if (metricsBase) await overviewMetrics(browser);
    const got = await drill(page);
    await search(page, got);
    await boundedRequests(page);
    await shared(browser, got);
    await otherFlows(browser);
    check("no script errors on the page", errors.length === 0, errors);
  } catch (e) {
    failures++;
    console.log(`FAIL [${browserName}] exception: ` + (e && e.stack ? e.stack : e));
  } finally {
    if (browser) await browser.close();
  }
  console.log(failures ? `${failures} failed` : "all passed");
  process.exit(failures ? 1 : 0);
})();

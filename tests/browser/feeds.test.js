/* feeds.test.js BROWSER BASE_URL ARTIFACT_DIR - the overview's market data
 * feeds, sequence gaps and clock quality, against a daemon that replayed a
 * two-tap A/B MoldUDP64 capture with losses, taken behind a tap aggregator
 * stamping Metamako trailers (tools/gentrading.py --trailer metamako;
 * --time-source trailer:metamako --tap-by trailer; tests/golden/t_browser.sh):
 *   - the feeds table has one row per feed and tap of GET /api/v1/feeds for
 *     the page's range, in its order, with its packets, gaps and races won;
 *   - the gaps table has one row per gap of GET /api/v1/gaps (gaps and
 *     arbitrated A-and-B gaps, recovered or not);
 *   - the feed charts: ITCH messages/s with one series per feed and tap;
 *     messages lost per step summing to the feeds' messages lost, with one
 *     mark per gap of the table; the A/B lead (p50, p99) of each feed and
 *     tap that won races;
 *   - a gap's pcap link downloads its feed's packets around the packet that
 *     revealed it: a pcap whose records are all UDP to the feed, and among
 *     them the revealing packet's time;
 *   - the clock table has one row per clock series (taps 357 and 358) with
 *     the frames timed and the offset percentiles of GET /api/v1/metrics
 *     over the page's range, and a chart of the offset per tap is drawn.
 * Exits 1 if any check failed. */
"use strict";
const path = require("path");
const driver = require("./driver");

const [name, base, artifacts] = process.argv.slice(2);
let failures = 0;
function check(what, ok, detail) {
  if (ok) console.log("ok   " + what);
  else { failures++; console.log("FAIL " + what + (detail !== undefined ? ": " + JSON.stringify(detail) : "")); }
}

/* [{ts_ns, dst}] of a nanosecond pcap of Ethernet (VLAN-tagged or not)
 * IPv4/UDP records: dst = "ip:port" */
function udpRecords(buf) {
  const recs = [];
  if (buf.readUInt32LE(0) !== 0xa1b23c4d) throw new Error("not a nanosecond pcap");
  for (let off = 24; off + 16 <= buf.length;) {
    const ts = BigInt(buf.readUInt32LE(off)) * 1000000000n + BigInt(buf.readUInt32LE(off + 4));
    const len = buf.readUInt32LE(off + 8), f = buf.subarray(off + 16, off + 16 + len);
    let o = 12;
    while (f.readUInt16BE(o) === 0x8100) o += 4;
    const ip = o + 2, udp = ip + (f[ip] & 15) * 4;
    recs.push({ ts_ns: ts.toString(), udp: f.readUInt16BE(o) === 0x0800 && f[ip + 9] === 17,
      dst: `${f[ip + 16]}.${f[ip + 17]}.${f[ip + 18]}.${f[ip + 19]}:${f.readUInt16BE(udp + 2)}` });
    off += 16 + len;
  }
  return recs;
}

/* the page's own duration format */
const { fmtDur } = require(path.join(__dirname, "..", "..", "web", "format.js"));

/* the API's JSON with every "*_ns" number kept as a string (they exceed 2^53) */
async function api(url) {
  const text = await (await fetch(url)).text();
  return JSON.parse(text.replace(/"(\w*_ns)":\s*(-?\d+)/g, '"$1":"$2"'));
}

(async () => {
  const browser = await driver.launch(name, { width: 1280, height: 900 });
  const page = await browser.newPage();
  const errors = [];
  page.onPageError((e) => errors.push(e));
  await page.goto(`${base}/#preset=all`);
  await page.waitFor(() => document.body.dataset.ready === "1", null, 30000);
  /* the range the page asked the feeds for */
  const asked = await page.evaluate(() => performance.getEntriesByType("resource").map((e) => e.name)
    .find((u) => /\/api\/v1\/feeds\?/.test(u)));
  check("the page asked for the feeds of its range", !!asked, asked);
  const q = new URL(asked).search;
  const feeds = (await api(`${base}/api/v1/feeds${q}`)).feeds;
  const gaps = (await api(`${base}/api/v1/gaps${q}&limit=100`)).gaps;
  const rows = await page.evalAll("#feeds tbody tr", (trs) => trs.map((tr) => [tr.dataset.tap, tr.dataset.feed,
    Array.from(tr.cells).map((c) => c.textContent)]));
  check("one feeds row per feed and tap of the API, in its order",
    feeds.length >= 4 && rows.length === feeds.length &&
    rows.every((r, i) => r[0] === String(feeds[i].tap) && r[1] === feeds[i].feed), { rows: rows.length, api: feeds.length });
  check("each row shows its packets, gaps and races won",
    rows.every((r, i) => r[2][3] === String(feeds[i].packets) && r[2][5] === String(feeds[i].gaps) &&
      (!feeds[i].races || r[2][7].startsWith(`${feeds[i].races_won} of ${feeds[i].races}`))), rows.slice(0, 2));
  const grows = await page.evalAll("#gaps tbody tr", (trs) => trs.map((tr) => Array.from(tr.cells).map((c) => c.textContent)));
  check("one gaps row per gap of the API, both kinds, recovered or not",
    grows.length === gaps.length && gaps.length > 0 && grows.some((r) => r[1] === "A and B") &&
    grows.some((r) => r[7] === "yes") && grows.some((r) => r[7] === "no") &&
    grows.every((r, i) => r[6] === String(gaps[i].count) && r[5] === String(gaps[i].first_seq)), { rows: grows.length, api: gaps.length });
  const href = await page.attr("#gaps tbody tr:first-child a", "href");
  const buf = Buffer.from(await (await fetch(new URL(href, base))).arrayBuffer());
  const recs = udpRecords(buf);
  check("a gap's pcap holds its feed's packets around it, the revealing one included",
    recs.length > 0 && recs.every((r) => r.udp && r.dst === gaps[0].feed) && recs.some((r) => r.ts_ns === String(gaps[0].ts_ns)),
    { n: recs.length, first: recs[0], gap: gaps[0] });
  /* the feed charts: one series per feed and tap; the lost chart sums to
   * the feeds' messages lost and marks every gap of the table */
  const fc = await page.evaluate(() => Object.fromEntries(["c-feed-mps", "c-feed-lost", "c-feed-lead"].map((id) => {
    const f = document.getElementById(id);
    if (!f || !f.uplot) return [id, null];
    const ys = f.uplot.data.slice(1);
    return [id, { series: ys.length, points: Number(f.dataset.points),
      sum: ys.flat().reduce((t, v) => t + (v || 0), 0), marks: f.alerts ? f.alerts.bands.length : 0 }];
  })));
  const lost = feeds.reduce((t, f) => t + Number(f.messages_lost), 0);
  check("a messages/s chart with one series per feed and tap",
    fc["c-feed-mps"] && fc["c-feed-mps"].series === feeds.length && fc["c-feed-mps"].points > 0, fc["c-feed-mps"]);
  check("the lost chart sums to the feeds' messages lost and marks each gap of the table",
    fc["c-feed-lost"] && lost > 0 && fc["c-feed-lost"].sum === lost && fc["c-feed-lost"].marks === gaps.length,
    { chart: fc["c-feed-lost"], lost, gaps: gaps.length });
  const racing = feeds.filter((f) => f.races_won > 0).length;
  check("an A/B lead chart, p50 and p99 per feed and tap that won races",
    fc["c-feed-lead"] && racing > 0 && fc["c-feed-lead"].series === 2 * racing && fc["c-feed-lead"].sum > 0,
    { chart: fc["c-feed-lead"], racing });
  const crows = await page.evalAll("#clocks tbody tr", (trs) => trs.map((tr) => Array.from(tr.cells).map((c) => c.textContent)));
  const clockAsked = await page.evaluate(() => performance.getEntriesByType("resource").map((e) => e.name)
    .filter((u) => /\/api\/v1\/metrics\?series=clock/.test(u)));
  /* the table's request: the one whose reply is one point over the range */
  const sums = await Promise.all(["357", "358"].map(async (tap) => {
    const mine = clockAsked.filter((x) => decodeURIComponent(x).includes(`series=clock:${tap}&`));
    const replies = await Promise.all(mine.map(async (u) => (await api(u)).points));
    const one = replies.filter((pts) => pts.length === 1);
    return one.length ? one[0][0] : null;
  }));
  check("one clock row per tap (357, 358), with the API's frames timed and offset p50",
    crows.length === 2 && crows[0][0] === "357" && crows[1][0] === "358" && sums.every((p, i) => p &&
      crows[i][1] === String(p.count) && crows[i][2].startsWith(fmtDur(p.p50_ns))), { crows, sums });
  check("the clock offset chart is drawn", await page.evaluate(() => !!document.querySelector('[data-chart="c-clock"], #c-clock')));
  check("no script errors on the page", errors.length === 0, errors);
  await page.shotElement("#overview", path.join(artifacts, "feeds.png"));
  await browser.close();
  process.exit(failures ? 1 : 0);
})().catch((e) => { console.log("FAIL " + (e && e.stack ? e.stack : e)); process.exit(1); });

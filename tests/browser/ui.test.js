/* ui.test.js BASE_URL ARTIFACT_DIR [METRICS_BASE_URL] - drives the web UI in
 * Debian's headless Chromium (playwright-core, no bundled browser):
 *   1. overview: every chart has a canvas; the latency chart has points
 *      (and, on METRICS_BASE_URL, a daemon with closed per-second windows,
 *      the packets/s chart has points too)
 *   2. drill-down: drag over the latency chart -> measurement list (slowest
 *      first) -> first measurement: both messages with fields and packets;
 *      the pcap the page links holds exactly the packets listed (records
 *      parsed here, timestamps compared) -> one packet's hex dump
 *   3. search by the measurement's key (ClOrdID) finds it
 *   4. the URL of the last view, opened in a new page, restores it
 * Screenshots of each step go to ARTIFACT_DIR. Exits 1 on the first failure. */
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const [base, artifacts, metricsBase] = process.argv.slice(2);
if (!base || !artifacts) {
  console.error("usage: node ui.test.js BASE_URL ARTIFACT_DIR [METRICS_BASE_URL]");
  process.exit(2);
}
fs.mkdirSync(artifacts, { recursive: true });
let failures = 0;
function check(what, ok, detail) {
  if (ok) console.log("ok   " + what);
  else { failures++; console.log("FAIL " + what + (detail !== undefined ? ": " + JSON.stringify(detail) : "")); }
}
async function ready(page) {
  await page.waitForFunction(() => document.body.dataset.ready === "1", null, { timeout: 20000 });
}
async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, name + ".png"), fullPage: true });
}

/* the pcap parser of the test (independent of app.js): [{ts_ns, caplen}] */
function parsePcap(buf) {
  const magic = buf.readUInt32LE(0);
  const nano = magic === 0xa1b23c4d;
  if (!nano && magic !== 0xa1b2c3d4) throw new Error("not a little-endian pcap: " + magic.toString(16));
  const recs = [];
  let off = 24;
  while (off + 16 <= buf.length) {
    const sec = BigInt(buf.readUInt32LE(off)), frac = BigInt(buf.readUInt32LE(off + 4));
    const incl = buf.readUInt32LE(off + 8);
    recs.push({ ts_ns: (sec * 1000000000n + (nano ? frac : frac * 1000n)).toString(), caplen: incl });
    off += 16 + incl;
  }
  if (off !== buf.length) throw new Error("pcap has trailing bytes");
  return recs;
}

async function overview(page) {
  await page.goto(base + "/");
  await ready(page);
  const lat = page.locator("figure.latency").first();
  check("a latency chart is drawn", (await lat.count()) === 1);
  check("the latency chart has a canvas", (await lat.locator("canvas").count()) >= 1);
  const pts = Number(await lat.getAttribute("data-points"));
  check("the latency chart has data points", pts > 0, pts);
  const status = await page.textContent("#status");
  check("status line shows the packets", /\d+ packets/.test(status), status);
  await shot(page, "01-overview");
}

async function overviewMetrics(ctx) {
  const page = await ctx.newPage();
  await page.goto(metricsBase + "/#preset=all");
  await ready(page);
  for (const id of ["c-pps", "c-bps", "c-mps", "c-drops"]) {
    const fig = page.locator("#" + id);
    check(`chart ${id} exists with a canvas`, (await fig.locator("canvas").count()) >= 1);
  }
  const n = Number(await page.getAttribute("#c-pps", "data-points"));
  check("packets/s chart has points", n > 0, n);
  const m = Number(await page.getAttribute("#c-mps", "data-points"));
  check("messages/s chart has points", m > 0, m);
  await shot(page, "00-overview-metrics");
  /* zoom: a drag on a rate chart sets a custom range shared by every chart */
  const before = await page.textContent("#rangetext");
  const box = await page.locator("#c-pps .u-over").boundingBox();
  await page.mouse.move(box.x + box.width * 0.1, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.9, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction(() => /after=\d+&before=\d+/.test(location.hash), null, { timeout: 10000 });
  await ready(page);
  const after = await page.textContent("#rangetext");
  check("a drag on a chart zooms every chart to a custom range", after !== before && (await page.inputValue("#preset")) === "custom", { before, after });
  await page.screenshot({ path: path.join(artifacts, "00b-overview-top.png"), clip: { x: 0, y: 0, width: 1280, height: 900 } });
  await page.close();
}

async function drill(page) {
  /* the FIX chart: its measurements' keys are ClOrdIDs, searched for below */
  const over = page.locator('figure.latency[data-pair="fix"] .u-over').first();
  await over.scrollIntoViewIfNeeded(); /* below the rate charts when metrics exist */
  const box = await over.boundingBox();
  await page.mouse.move(box.x + 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 5 });
  await page.mouse.move(box.x + box.width - 2, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForSelector("#list:not([hidden]) #listtable tbody tr", { timeout: 20000 });
  await ready(page);
  const rows = page.locator("#listtable tbody tr");
  check("the drag lists measurements", (await rows.count()) > 0);
  const lats = await page.$$eval("#listtable tbody tr td:first-child", (tds) => tds.map((t) => t.textContent));
  const toNs = (s) => { const [v, u] = s.split(" "); return Number(v) * { s: 1e9, ms: 1e6, us: 1e3, ns: 1 }[u]; };
  check("the list is slowest first", lats.every((x, i) => i === 0 || toNs(lats[i - 1]) >= toNs(x)), lats.slice(0, 5));
  await shot(page, "02-measurements");

  await rows.first().locator("a").click();
  await page.waitForSelector("#detail:not([hidden]) #pcaplink", { timeout: 20000 });
  await ready(page);
  const sides = await page.$$eval("#detailbody .side > div h3", (hs) => hs.map((h) => h.textContent));
  check("request and response are shown side by side", sides.length === 2 && /Request/.test(sides[0]) && /Response/.test(sides[1]), sides);
  const pkts = await page.$$eval("#detailbody tr.pkt", (trs) => trs.map((tr) => ({ ref: tr.dataset.ref, ts: tr.cells[0].textContent, caplen: Number(tr.cells[1].textContent) })));
  check("both messages list packets", pkts.length >= 2, pkts.length);
  const fields = await page.locator("#detailbody h4:text('Fields') + table tbody tr").count();
  check("decoded fields are shown", fields > 2, fields);
  await shot(page, "03-measurement");
  await page.locator("#detail").screenshot({ path: path.join(artifacts, "03b-measurement-detail.png") });

  const href = await page.getAttribute("#pcaplink", "href");
  const b64 = await page.evaluate(async (u) => {
    const b = new Uint8Array(await (await fetch(u)).arrayBuffer());
    let s = ""; for (const x of b) s += String.fromCharCode(x); return btoa(s);
  }, href);
  const recs = parsePcap(Buffer.from(b64, "base64"));
  const uniq = new Map(pkts.map((p) => [p.ref, p]));
  check("the pcap holds as many packets as listed", recs.length === uniq.size, { pcap: recs.length, listed: uniq.size });
  const fmt = (ns) => { ns = BigInt(ns); return new Date(Number(ns / 1000000n)).toISOString().slice(0, 19) + "." + (ns % 1000000000n).toString().padStart(9, "0") + "Z"; };
  const want = [...uniq.values()].map((p) => p.ts + "/" + p.caplen).sort();
  const got = recs.map((r) => fmt(r.ts_ns) + "/" + r.caplen).sort();
  check("the pcap's packets are the listed ones (ns time, length)", JSON.stringify(want) === JSON.stringify(got), { want, got });

  await page.locator("#detailbody tr.pkt a").first().click();
  await page.waitForSelector("#bytes:not([hidden]) pre.hex", { timeout: 20000 });
  await ready(page);
  const hex = await page.textContent("#bytes pre.hex");
  const lines = hex.trim().split("\n").length;
  check("the packet's bytes are dumped in hex", lines === Math.ceil(pkts[0].caplen / 16), { lines, caplen: pkts[0].caplen });
  const layers = await page.$$eval("#bytes li", (li) => li.map((x) => x.textContent));
  check("the packet's layers are decoded", layers.some((l) => /^Ethernet/.test(l)) && layers.some((l) => /^(TCP|UDP)/.test(l)), layers);
  await shot(page, "04-packet");
  await page.locator("#bytes").screenshot({ path: path.join(artifacts, "04b-packet-bytes.png") });
  const id = new URL(page.url()).hash.match(/m=([^&]+)/)[1];
  const key = (await page.textContent("#detailbody p.mono")).match(/key (\S+)/)[1];
  return { id: decodeURIComponent(id), key, url: page.url(), latency: await page.textContent("#latency"), hex };
}

async function search(page, got) {
  await page.fill("#key", got.key);
  await page.press("#key", "Enter");
  await page.waitForSelector("#searchresults table", { timeout: 20000 });
  await ready(page);
  const text = await page.textContent("#searchresults");
  check("search by ClOrdID finds the measurement", text.includes(got.id), { key: got.key, id: got.id });
  await page.locator("#search").screenshot({ path: path.join(artifacts, "05-search.png") });
}

async function shared(ctx, got) {
  const page = await ctx.newPage();
  await page.goto(got.url);
  await ready(page);
  await page.waitForSelector("#bytes:not([hidden]) pre.hex", { timeout: 20000 });
  check("a shared URL restores the measurement", (await page.textContent("#latency")) === got.latency);
  check("a shared URL restores the packet view", (await page.textContent("#bytes pre.hex")) === got.hex);
  check("a shared URL restores the list", (await page.locator("#listtable tbody tr").count()) > 0);
  await shot(page, "06-shared-url");
  await page.close();
}

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "cs-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CS_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    bypassCSP: true, /* waitForFunction evaluates strings; the page itself runs under the CSP */
    viewport: { width: 1280, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await ctx.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await overview(page);
    if (metricsBase) await overviewMetrics(ctx);
    const got = await drill(page);
    await search(page, got);
    await shared(ctx, got);
    check("no script errors on the page", errors.length === 0, errors);
  } catch (e) {
    failures++;
    console.log("FAIL exception: " + (e && e.stack ? e.stack : e));
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(failures ? `${failures} failed` : "all passed");
  process.exit(failures ? 1 : 0);
})();

/* bench/ui_load.js BASE_URL AFTER_NS BEFORE_NS MEAS_ID KEY [RUNS] - how long
 * the web UI takes, in Debian's headless Chromium (playwright-core from
 * tests/browser/node_modules), to render each view on a big store (run by
 * bench/api_scale.sh): the whole day's overview, the drill-down list of the
 * day's slowest measurements (page 1 and page 100), one measurement with its
 * packets, and a search by key. A view is rendered when the page sets
 * body[data-ready="1"] after its last request. Prints the median and worst
 * of RUNS loads per view, in milliseconds, and the requests each view made. */
"use strict";
const path = require("path");
const { chromium } = require(path.join(__dirname, "..", "tests", "browser", "node_modules",
                                       "playwright-core"));

const [base, after, before, measId, key, runsArg] = process.argv.slice(2);
if (!key) {
  console.error("usage: node ui_load.js BASE_URL AFTER_NS BEFORE_NS MEAS_ID KEY [RUNS]");
  process.exit(2);
}
const runs = Number(runsArg || 5);
const day = `after=${after}&before=${before}`;
const views = [
  ["overview, one day", `${day}`],
  ["slowest measurements of the day, page 1", `${day}&pair=fix&wa=${after}&wb=${before}`],
  ["slowest measurements of the day, page 100", `${day}&pair=fix&wa=${after}&wb=${before}&pg=100`],
  ["one measurement with its packets", `${day}&pair=fix&m=${encodeURIComponent(measId)}`],
  ["search by ClOrdID", `${day}&key=${encodeURIComponent(key)}`],
];

async function loadOnce(browser, hash) {
  /* waitForFunction evaluates strings: the page's CSP (no eval) is bypassed
   * for the harness only, as in tests/browser/driver.js */
  const page = await browser.newPage({ bypassCSP: true });
  let requests = 0;
  page.on("request", (r) => { if (r.url().includes("/api/v1/")) requests++; });
  const t0 = Date.now();
  await page.goto(`${base}/#${hash}`);
  await page.waitForFunction(() => document.body.dataset.ready === "1" &&
                                   !document.querySelector("#status .err"),
                             null, { timeout: 60000 });
  const ms = Date.now() - t0;
  await page.close();
  return [ms, requests];
}

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CS_CHROMIUM || "/usr/bin/chromium",
                                          args: ["--no-sandbox"] });
  console.log("%s", "view".padEnd(44) + "median_ms".padStart(10) + "worst_ms".padStart(10) +
              "requests".padStart(10));
  for (const [name, hash] of views) {
    const times = [];
    let requests = 0;
    await loadOnce(browser, hash); /* warm the browser's and the server's caches */
    for (let i = 0; i < runs; i++) {
      const [ms, n] = await loadOnce(browser, hash);
      times.push(ms);
      requests = n;
    }
    times.sort((a, b) => a - b);
    console.log(name.padEnd(44) + String(times[times.length >> 1]).padStart(10) +
                String(times[times.length - 1]).padStart(10) + String(requests).padStart(10));
  }
  await browser.close();
})().catch((e) => { console.error(e); process.exit(1); });

/* bench/ui_load.js BASE_URL AFTER_NS BEFORE_NS MEAS_ID KEY [RUNS] - how long
 * the web UI takes, in Debian's headless Chromium (playwright-core from
 * tests/browser/node_modules), to render each view on a big store (run by
 * bench/api_scale.sh): the whole day's overview, the drill-down list of the
 * day's slowest measurements (page 1 and page 100), one measurement with its
 * packets, and a search by key. A view's content is on the page when the
 * page sets body[data-content="1"] (the view's own part: the overview's
 * charts in the window, 1280x720, the list, the measurement, the search
 * results; the overview draws each chart as its data comes, so its first
 * chart is on the page earlier, at "first_ms"), and the view is complete
 * at body[data-ready="1"] after its last request (the overview's charts
 * below the window and its feeds table included). Prints per view the median and worst of RUNS
 * loads to content and the median to complete, in milliseconds, and the
 * requests the view made; with SLOWEST=N, also the N slowest API requests
 * of its last load (from the browser's start of the request to the end of
 * its response), to show where a view's time goes; with ONLY=REGEX, only
 * the views whose names match it. */
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
  const page = await browser.newPage({ bypassCSP: true, viewport: { width: 1280, height: 720 } });
  let requests = 0;
  const timed = [];
  page.on("request", (r) => { if (r.url().includes("/api/v1/")) requests++; });
  page.on("requestfinished", (r) => {
    const t = r.timing();
    if (r.url().includes("/api/v1/")) timed.push([Math.round(t.responseEnd), r.url().replace(/^.*\/api\/v1/, "")]);
  });
  const t0 = Date.now();
  await page.goto(`${base}/#${hash}`);
  await page.waitForFunction(() => document.querySelector("#charts canvas") !== null || document.body.dataset.content === "1",
                             null, { timeout: 60000, polling: 10 });
  const first = Date.now() - t0;
  await page.waitForFunction(() => document.body.dataset.content === "1", null, { timeout: 60000 });
  const content = Date.now() - t0;
  await page.waitForFunction(() => document.body.dataset.ready === "1" &&
                                   !document.querySelector("#status .err"),
                             null, { timeout: 60000 });
  const ms = Date.now() - t0;
  await page.close();
  return [content, ms, requests, timed.sort((a, b) => b[0] - a[0]), first];
}

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CS_CHROMIUM || "/usr/bin/chromium",
                                          args: ["--no-sandbox"] });
  console.log("%s", "view".padEnd(44) + "first_ms".padStart(9) + "content_ms".padStart(11) + "worst_ms".padStart(10) +
              "complete_ms".padStart(12) + "requests".padStart(10));
  const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
  const only = new RegExp(process.env.ONLY || ".");
  for (const [name, hash] of views.filter(([n]) => only.test(n))) {
    const content = [], complete = [], first = [];
    let requests = 0, timed = [];
    await loadOnce(browser, hash); /* warm the browser's and the server's caches */
    for (let i = 0; i < runs; i++) {
      const [c, ms, n, t, f] = await loadOnce(browser, hash);
      content.push(c);
      first.push(f);
      complete.push(ms);
      requests = n;
      timed = t;
    }
    console.log(name.padEnd(44) + String(median(first)).padStart(9) + String(median(content)).padStart(11) +
                String(Math.max(...content)).padStart(10) + String(median(complete)).padStart(12) +
                String(requests).padStart(10));
    for (const [t, u] of timed.slice(0, Number(process.env.SLOWEST || 0)))
      console.log("    %s ms  %s", String(t).padStart(6), u.slice(0, 110));
  }
  await browser.close();
})().catch((e) => { console.error(e); process.exit(1); });

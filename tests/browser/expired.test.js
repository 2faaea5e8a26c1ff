/* expired.test.js BROWSER BASE_URL ARTIFACT_DIR - a measurement whose
 * packets retention has deleted (messages outlive their packets) still
 * opens: the page shows both messages, says each packet is no longer
 * stored, offers no flow pcap, and reports no error. BASE_URL is a daemon
 * whose --max-bytes was far below its capture (tests/golden/t_browser.sh).
 * Exits 1 on the first failed check. */
"use strict";
const path = require("path");
const driver = require("./driver");

const [name, base, artifacts] = process.argv.slice(2);
let failures = 0;
function check(what, ok, detail) {
  if (ok) console.log("ok   " + what);
  else { failures++; console.log("FAIL " + what + (detail !== undefined ? ": " + JSON.stringify(detail) : "")); }
}

(async () => {
  /* the oldest measurement: its packets went first */
  const r = await fetch(`${base}/api/v1/measurements?sort=time&limit=1`);
  const m = (await r.json()).measurements[0];
  const det = await (await fetch(`${base}/api/v1/measurements/${encodeURIComponent(m.id)}`)).json();
  const pkts = [].concat(det.request.packets, det.response.packets);
  check("the API says the oldest measurement's packets expired", pkts.length > 0 && pkts.every((p) => p.expired),
    pkts.slice(0, 3));
  const browser = await driver.launch(name, { width: 1280, height: 900 });
  const page = await browser.newPage();
  const errors = [];
  page.onPageError((e) => errors.push(e));
  await page.goto(`${base}/#pair=${encodeURIComponent(m.pair)}&m=${encodeURIComponent(m.id)}`);
  await page.waitFor(() => document.body.dataset.ready === "1", null, 30000);
  /* errors show in the header's status line or in the message line under the range bar */
  const status = await page.text("#status") + " " + await page.evaluate(() => { const m = document.getElementById("msg"); return m && !m.hidden ? m.textContent : ""; });
  check("no error on the page", !/error|refused|is not a time/i.test(status) && errors.length === 0, { status, errors });
  check("the measurement is shown", (await page.text("#latency")).length > 0);
  check("each packet says it is no longer stored",
    (await page.count("#detailbody tr.pkt")) === pkts.length &&
    (await page.evalAll("#detailbody tr.pkt", (rows) => rows.every((tr) => /no longer stored/.test(tr.textContent)))));
  check("no flow pcap is offered", (await page.count("#flownone")) === 1);
  await page.screenshot(path.join(artifacts, "expired.png"), { fullPage: true });
  await browser.close();
  process.exit(failures ? 1 : 0);
})().catch((e) => { console.log("FAIL " + e); process.exit(1); });

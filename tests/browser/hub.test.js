/* hub.test.js BROWSER HUB_URL ARTIFACT_DIR MEASUREMENT_ID - the web UI served
 * by `capstream hub` over sensors a and b (t_hub.sh; MEASUREMENT_ID is one
 * of sensor b's FIX measurements):
 *   - the status line is the hub's (sources "hub: a, b") and a sensor
 *     picker lists both sensors;
 *   - choosing b puts sensor=b in the URL, and the measurement list's rows
 *     are b's (the page's own requests carry sensor=b);
 *   - the measurement's detail (drill-down) opens with its request and
 *     response, and its pcap link goes through the hub to sensor b.
 * Screenshots: hub-picker.png, hub-detail.png. Exits 1 if a check failed. */
"use strict";
const path = require("path");
const driver = require("./driver");

const [name, base, artifacts, mid] = process.argv.slice(2);
let failures = 0;
function check(what, ok, detail) {
  if (ok) console.log("ok   " + what);
  else { failures++; console.log("FAIL " + what + (detail !== undefined ? ": " + JSON.stringify(detail) : "")); }
}
const ready = (page) => page.waitFor(() => document.body.dataset.ready === "1", null, 30000);

(async () => {
  const browser = await driver.launch(name, { width: 1280, height: 900 });
  const page = await browser.newPage();
  const errors = [];
  page.onPageError((e) => errors.push(e));
  try {
    await page.goto(base + "/#preset=all");
    await page.waitFor(() => !document.getElementById("sensor-pick").hidden, null, 20000);
    const status = await page.text("#status");
    check("the status line is the hub's", status.includes("hub: a, b"), status);
    const opts = await page.evalAll("#sensor option", (es) => es.map((e) => e.value));
    check("the picker lists both sensors", JSON.stringify(opts) === '["a","b"]', opts);
    await page.evaluate(() => {
      const s = document.getElementById("sensor");
      s.value = "b";
      s.dispatchEvent(new Event("change"));
    });
    await page.waitFor(() => location.hash.includes("sensor=b"), null, 10000);
    await ready(page);
    await page.screenshot(path.join(artifacts, "hub-picker.png"));
    const hash = await page.evaluate(() => location.hash);
    await page.goto(`${base}/${hash}&m=${encodeURIComponent(mid)}&pair=fix`);
    await page.waitFor(() => !document.getElementById("detail").hidden &&
      document.getElementById("detailbody").textContent.includes("Fields"), null, 20000);
    await ready(page);
    const body = await page.text("#detailbody");
    check("the drill-down shows the measurement's id", body.includes(mid), body.slice(0, 200));
    check("with its request and response", (body.match(/Fields/g) || []).length === 2, body.slice(0, 200));
    const pcap = await page.evaluate(() => {
      const a = [...document.querySelectorAll("#detail a")].find((x) => x.href.includes("/pcap"));
      return a ? a.href : null;
    });
    check("its pcap link goes to sensor b through the hub", pcap && pcap.includes("sensor=b"), pcap);
    const r = pcap ? await fetch(pcap) : null;
    const buf = r ? Buffer.from(await r.arrayBuffer()) : Buffer.alloc(0);
    check("and gives a pcap", r && r.status === 200 && buf.length > 24 && buf.readUInt32LE(0) === 0xa1b23c4d,
      r && r.status);
    await page.screenshot(path.join(artifacts, "hub-detail.png"));
    check("no script errors", errors.length === 0, errors);
  } catch (e) {
    check("the scenario ran", false, String(e));
  } finally {
    await browser.close();
  }
  process.exit(failures ? 1 : 0);
})();

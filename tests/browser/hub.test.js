/* hub.test.js BROWSER HUB_URL ARTIFACT_DIR MEASUREMENT_ID - the web UI served
 * by `capstream hub` over sensors a and b (t_hub.sh; MEASUREMENT_ID is one
 * of sensor b's FIX measurements):
 *   - the status line is the hub's (sources "hub: a, b") and a sensor
 *     picker lists "all sensors" and both sensors, "all sensors" chosen
 *     and no sensor in the URL;
 *   - with all sensors the overview's charts are drawn (packets per tap,
 *     the fix latency) from the hub's merged metrics: no request of the
 *     page names a sensor;
 *   - a row of the merged measurement list names its sensor, and its link
 *     opens that sensor's measurement (sensor= in the URL), with its
 *     request, response and a pcap link through the hub to that sensor;
 *   - choosing b puts sensor=b in the URL, and the measurement list's rows
 *     are b's (the page's own requests carry sensor=b);
 *   - the measurement's detail (drill-down) opens with its request and
 *     response, and its pcap link goes through the hub to sensor b.
 * Screenshots: hub-all.png, hub-picker.png, hub-detail.png. Exits 1 if a check failed. */
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
    check("the picker lists all sensors and both sensors", JSON.stringify(opts) === '["","a","b"]', opts);
    await ready(page);
    const chosen = await page.evaluate(() => [document.getElementById("sensor").value,
      document.getElementById("sensor").selectedOptions[0].textContent, location.hash]);
    check("\"all sensors\" is the default, no sensor in the URL", chosen[0] === "" &&
      chosen[1] === "all sensors" && !chosen[2].includes("sensor="), chosen);
    await page.waitFor(() => document.getElementById("c-pps") && document.getElementById("c-lat-fix"), null, 20000);
    const drawn = await page.evaluate(() => ["c-pps", "c-lat-fix"].map((id) =>
      document.querySelectorAll(`#${id} canvas`).length));
    check("the overview charts are drawn (packets per tap, fix latency)", drawn.every((n) => n > 0), drawn);
    const asked = await page.evaluate(() => performance.getEntriesByType("resource").map((e) => e.name)
      .filter((u) => u.includes("/api/v1/")));
    check("from the hub's merged answers: no request names a sensor",
      asked.some((u) => u.includes("/api/v1/metrics")) && !asked.some((u) => u.includes("sensor=")),
      asked.filter((u) => u.includes("sensor=")).slice(0, 3));
    const merged = await (await fetch(`${base}/api/v1/metrics?series=tap:0`)).json();
    check("the merged metrics name both sensors", JSON.stringify(merged.sensors) === '["a","b"]' &&
      merged.points.length > 0, merged.sensors);
    await page.screenshot(path.join(artifacts, "hub-all.png"));

    /* the merged measurement list: a row of sensor b opens b's details */
    const st = await (await fetch(`${base}/api/v1/status`)).json();
    const wa = BigInt(st.store.min_ts_ns), wb = BigInt(st.store.max_ts_ns) + 1n;
    await page.goto(`${base}/#preset=all&pair=fix&wa=${wa}&wb=${wb}`);
    await page.waitFor(() => document.querySelectorAll("#listtable tbody tr").length > 0, null, 20000);
    await ready(page);
    const rows = await page.evalAll("#listtable tbody tr", (trs) => trs.map((tr) =>
      [tr.lastElementChild.textContent, tr.querySelector("a") ? tr.querySelector("a").getAttribute("href") : ""]));
    check("the merged list's rows name their sensors, both of them",
      new Set(rows.map((r) => r[0])).size === 2 && rows.every((r) => r[0] === "a" || r[0] === "b"), rows.slice(0, 3));
    const rowB = rows.find((r) => r[0] === "b");
    check("a row of sensor b links to its measurement on b", rowB && rowB[1].includes("sensor=b") && rowB[1].includes("m="), rowB);
    if (rowB) {
      await page.evaluate((href) => {
        const a = [...document.querySelectorAll("#listtable tbody a")].find((x) => x.getAttribute("href") === href);
        a.click();
      }, rowB[1]);
      await page.waitFor(() => location.hash.includes("sensor=b") && !document.getElementById("detail").hidden &&
        document.getElementById("detailbody").textContent.includes("Fields"), null, 20000);
      await ready(page);
      const det = await page.text("#detailbody");
      const rid = decodeURIComponent(/[#&]m=([^&]*)/.exec(rowB[1])[1]);
      check("the row opens its measurement's details on its sensor", det.includes(rid) &&
        (det.match(/Fields/g) || []).length === 2, det.slice(0, 200));
      const dp = await page.evaluate(() => document.getElementById("pcaplink").href);
      check("whose pcap link goes to sensor b", dp.includes("sensor=b"), dp);
      const pick = await page.value("#sensor");
      check("and the picker shows sensor b", pick === "b", pick);
    }
    await page.goto(base + "/#preset=all");
    await ready(page);
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

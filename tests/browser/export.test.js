/* export.test.js BROWSER BASE_URL ARTIFACT_DIR STATE - the export to
 * ClickHouse as the web UI's status line shows it, against the demo daemon
 * t_clickhouse_live.sh runs with --export:
 *   STATE down (ClickHouse killed): the line says DOWN, what is pending and
 *     how far behind, with ClickHouse's error, marked as an error;
 *   STATE up (ClickHouse back, caught up): the line says up and caught up,
 *     unmarked, and counts rows equal to /api/v1/status's export rows
 *     within what arrived between the two reads.
 * A screenshot of the status line is kept as export-STATE.png.
 * Exits 1 if any check failed. */
"use strict";
const path = require("path");
const driver = require("./driver");

const [name, base, artifacts, state] = process.argv.slice(2);
let failures = 0;
function check(what, ok, detail) {
  if (ok) console.log("ok   " + what);
  else { failures++; console.log("FAIL " + what + (detail !== undefined ? ": " + JSON.stringify(detail) : "")); }
}

(async () => {
  const browser = await driver.launch(name, { width: 1280, height: 900 });
  const page = await browser.newPage();
  const errors = [];
  page.onPageError((e) => errors.push(e));
  try {
    await page.goto(base + "/");
    const want = state === "down" ? "DOWN" : "caught up";
    await page.waitFor((w) => {
      const e = document.getElementById("export-status");
      return e && e.textContent.includes(w);
    }, want, 20000);
    const text = await page.text("#export-status");
    const cls = await page.attr("#export-status", "class");
    const st = await (await fetch(base + "/api/v1/status")).json();
    check("the status line names ClickHouse and the sensor",
      text.includes(`ClickHouse ${st.export.target} as ${st.export.sensor}`), text);
    if (state === "down") {
      check("down: it says what is pending and how far behind", /B pending, \d+ s behind/.test(text), text);
      check("down: it gives ClickHouse's error", text.includes("(") && text.includes("ClickHouse"), text);
      check("down: it is marked as an error", cls === "err", cls);
    } else {
      const sent = Number((text.match(/(\d+) rows sent/) || [])[1]);
      const rows = Object.values(st.export.rows).reduce((a, b) => a + b, 0);
      check("up: it is not marked", cls === null || cls === "", cls);
      check("up: its row count is the status's, read just after", sent > 0 && sent <= rows, { sent, rows });
    }
    await page.shotElement("#status", path.join(artifacts, `export-${state}.png`));
    check("no script errors", errors.length === 0, errors);
  } catch (e) {
    check("the scenario ran", false, String(e));
  } finally {
    await browser.close();
  }
  process.exit(failures ? 1 : 0);
})();

/* orders.test.js BROWSER BASE_URL ARTIFACT_DIR - the Orders view, against
 * the daemon t_browser.sh starts for feeds.test.js (tools/gentrading.py
 * --trailer metamako, --time-source trailer:metamako --tap-by trailer: OUCH
 * order entry on two sessions seen at taps 357 and 358):
 *   - the nav's Orders link opens the view (#view=orders);
 *   - the sessions table has one row per session, pair and tap(s), with the
 *     count, rejects and nearest-rank p50 / p99 / max of the measurements
 *     the page asked for (GET /measurements?pair=ouch|hop|t2t&sort=time,
 *     paged), recomputed here from the API;
 *   - an order that was replaced, opened through the order form (and the
 *     session choice), shows exactly: the messages GET
 *     /api/v1/messages?proto=ouch&key=O:|X:|U:<id> returns on its session
 *     for it and for its replacement, the responses of their ouch
 *     measurements, and the key-less order events (executions) of the
 *     session naming those orders; in time order, each in its tap's column;
 *   - an executed order shows its executions (key-less) among its messages;
 *   - a message opens its fields and packets: the refs of GET
 *     /api/v1/messages/{id}, a hex dump of each, and a pcap download with
 *     that many records.
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
/* the page's own duration format */
const { fmtDur } = require(path.join(__dirname, "..", "..", "web", "format.js"));
async function api(url) {
  const text = await (await fetch(url)).text();
  return JSON.parse(text.replace(/"(\w*_ns)":\s*(-?\d+)/g, '"$1":"$2"'));
}
async function allPages(url) {
  let out = [];
  for (let off = 0; ; off += 1000) {
    const j = await api(`${url}&limit=1000&offset=${off}`);
    out = out.concat(j.measurements);
    if (!j.more || off >= 4000) return out;
  }
}
const sessOf = (m) => `${m.src}>${m.dst}`;
const cmpNs = (a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);
const ready = (page) => page.waitFor(() => document.body.dataset.ready === "1", null, 30000);
const ORDER_FIELDS = ["user_ref_num", "order_token", "existing_order_token", "replacement_order_token", "previous_order_token", "orig_user_ref_num"];

(async () => {
  const browser = await driver.launch(name, { width: 1280, height: 900 });
  const page = await browser.newPage();
  const errors = [];
  page.onPageError((e) => errors.push(e));
  await page.goto(`${base}/#preset=all`);
  await ready(page);
  check("the Orders section is hidden on the overview", await page.evaluate(() => document.getElementById("orders").hidden));
  await page.click("#nav-orders");
  await page.waitForSelector("#orders:not([hidden]) #ordersessions table", 30000);
  await ready(page);
  check("the nav's Orders link opens the view", /(^#|&)view=orders(&|$)/.test(new URL(page.url()).hash), page.url());

  /* sessions: the API's figures over the range the page asked for */
  const asked = await page.evaluate(() => performance.getEntriesByType("resource").map((e) => e.name)
    .find((u) => /\/api\/v1\/measurements\?pair=ouch&after=\d+&before=\d+&sort=time/.test(u)));
  check("the page asked for the ouch measurements of its range", !!asked, asked);
  const q = new URL(asked).searchParams;
  const rq = `after=${q.get("after")}&before=${q.get("before")}&sort=time`;
  const [ouch, hop, t2t] = await Promise.all(["ouch", "hop", "t2t"].map((p) => allPages(`${base}/api/v1/measurements?pair=${p}&${rq}`)));
  const reqOf = new Map(ouch.map((m) => [m.req_msg, m]));
  const groups = new Map();
  const add = (k, m) => { if (!groups.has(k)) groups.set(k, []); groups.get(k).push(m); };
  ouch.forEach((m) => add(`${sessOf(m)}|ouch|${m.tap}`, m));
  hop.forEach((m) => { const o = reqOf.get(m.req_msg); if (o) add(`${sessOf(o)}|hop|${m.req_tap} → ${m.resp_tap}`, m); });
  t2t.forEach((m) => { const o = reqOf.get(m.resp_msg); if (o) add(`${sessOf(o)}|t2t|${m.req_tap} → ${o.tap}`, m); });
  const nr = (xs, p) => xs[Math.max(0, Math.ceil(p * xs.length) - 1)];
  const want = new Map(Array.from(groups, ([k, ms]) => {
    const xs = ms.map((m) => m.latency_ns).sort(cmpNs);
    const [sess, pair, taps] = k.split("|");
    return [k, [sess.replace(">", " → "), pair, taps, String(ms.length),
      pair === "ouch" ? String(ms.filter((m) => m.resp_type === "rejected").length) : "",
      fmtDur(nr(xs, 0.5)), fmtDur(nr(xs, 0.99)), fmtDur(xs[xs.length - 1])]];
  }));
  const rows = await page.evalAll("#ordersessions tbody tr", (trs) => trs.map((tr) => Array.from(tr.cells).map((c) => c.textContent)));
  const got = new Map(rows.map((r) => [`${r[0].replace(" → ", ">")}|${r[1]}|${r[2]}`, r]));
  const sessions = new Set(ouch.map(sessOf));
  check("OUCH sessions at taps 357 and 358 in the capture", sessions.size >= 2 &&
    ouch.some((m) => m.tap === 357) && ouch.some((m) => m.tap === 358), Array.from(sessions));
  check("one sessions row per session, pair and tap(s), ouch, hop and t2t among them",
    rows.length === want.size && ["ouch", "hop", "t2t"].every((p) => rows.some((r) => r[1] === p)), { rows: rows.length, api: want.size });
  const bad = Array.from(want).filter(([k, w]) => JSON.stringify(got.get(k)) !== JSON.stringify(w));
  check("each row's count, rejects and p50 / p99 / max equal the API's measurements", bad.length === 0, bad.slice(0, 3).map(([k, w]) => [w, got.get(k)]));
  check("rejects are counted", rows.some((r) => r[1] === "ouch" && Number(r[4]) > 0));

  /* an order that was replaced; one whose chain was also executed if any */
  const mkChain = async (sess, id) => {
    const chain = [id], msgs = new Map(), resp = new Set();
    for (let i = 0; i < chain.length; i++) {
      for (const p of ["O:", "X:", "U:"]) {
        const k = encodeURIComponent(p + chain[i]);
        for (const m of (await api(`${base}/api/v1/messages?proto=ouch&key=${k}&limit=1000`)).messages) {
          if (sessOf(m) !== sess) continue;
          msgs.set(m.id, m);
          const f = m.type === "replace_order" && m.fields.find((x) => x[0] === "replacement_order_token" || x[0] === "user_ref_num");
          if (f && !chain.includes(f[1])) chain.push(f[1]);
        }
        for (const m of (await api(`${base}/api/v1/measurements?pair=ouch&key=${k}&limit=1000`)).measurements)
          if (sessOf(m) === sess) resp.add(m.resp_msg);
      }
    }
    for (const r of resp) if (!msgs.has(r)) { const m = (await api(`${base}/api/v1/messages/${r}`)).message; msgs.set(m.id, m); }
    const first = Array.from(msgs.values()).sort((x, y) => cmpNs(x.ts_ns, y.ts_ns))[0];
    const events = (await api(`${base}/api/v1/messages?proto=ouch&after=${first.ts_ns}&limit=1000`)).messages
      .filter((m) => !msgs.has(m.id) && m.role !== "request" && `${m.dst}>${m.src}` === sess &&
        m.fields.some((f) => ORDER_FIELDS.includes(f[0]) && chain.includes(f[1])));
    events.forEach((m) => msgs.set(m.id, m));
    return { chain, msgs: Array.from(msgs.values()).sort((x, y) => cmpNs(x.ts_ns, y.ts_ns)), events: events.length };
  };
  const replaced = ouch.filter((m) => m.key.startsWith("U:") && m.resp_type === "replaced");
  let pick = null;
  for (const m of replaced.slice(0, 12)) {
    const c = await mkChain(sessOf(m), m.key.slice(2));
    if (!pick || (!pick.c.events && c.events)) pick = { sess: sessOf(m), id: m.key.slice(2), c };
    if (pick.c.events) break;
  }
  check("the capture has a replaced order", !!pick, replaced.length);
  const byKey = (await api(`${base}/api/v1/messages?proto=ouch&key=O:${encodeURIComponent(pick.id)}&limit=1000`)).messages;
  await page.fill("#orderid", pick.id);
  await page.click("#orderform button");
  await page.waitFor((id) => new URLSearchParams(location.hash.slice(1)).get("order") === id, pick.id, 10000);
  await ready(page);
  if (await page.count("#ordersess a")) {
    const links = await page.evalAll("#ordersess a", (as) => as.map((a) => a.textContent));
    const i = links.indexOf(pick.sess.replace(">", " → "));
    check("the order's session is offered among those with the order", i >= 0, links);
    await page.click(`#ordersess li:nth-child(${i + 1}) a`);
  }
  await page.waitForSelector("#lifecycle tr[data-msg]", 30000);
  await ready(page);
  const shown = await page.evalAll("#lifecycle tbody tr", (trs) => trs.map((tr) => ({ id: tr.dataset.msg, tap: tr.dataset.tap,
    cells: Array.from(tr.cells).map((c) => c.textContent) })));
  const head = await page.evalAll("#lifecycle thead th", (ths) => ths.map((t) => t.textContent));
  const want2 = pick.c.msgs;
  check(`order ${pick.id} → ${pick.c.chain.slice(1).join(" → ")}: exactly its messages and its replacement's, in time order`,
    shown.length === want2.length && shown.every((r, i) => r.id === want2[i].id), { shown: shown.map((r) => r.id), api: want2.map((m) => m.id) });
  check("its Enter messages by key (both taps) are among them", byKey.filter((m) => sessOf(m) === pick.sess).every((m) => shown.some((r) => r.id === m.id)));
  const types = new Set(want2.map((m) => m.type));
  check("the time line holds the enter, replace and replaced messages (and the renamed order's)",
    ["enter_order", "replace_order", "replaced"].every((t) => types.has(t)), Array.from(types));
  check("each message sits in its tap's column", shown.length > 0 && shown.every((r, i) => r.tap === String(want2[i].tap) &&
    r.cells[head.indexOf(`tap ${want2[i].tap}`)].startsWith(want2[i].type)), { head, first: shown[0] });
  check("times count from the first sighting", shown.length > 0 && shown[0].cells[0] === "0 ns" &&
    shown.every((r, i) => r.cells[0] === fmtDur(BigInt(want2[i].ts_ns) - BigInt(want2[0].ts_ns))), shown.map((r) => r.cells[0]));
  console.log(`# order ${pick.id} on ${pick.sess}: ${want2.length} messages, ${pick.c.events} key-less events`);

  /* an executed order: its executions carry no key, the view finds them */
  const ex = (await api(`${base}/api/v1/messages?proto=ouch&type=executed&limit=1`)).messages[0];
  if (ex) {
    const sess = `${ex.dst}>${ex.src}`, id = (ex.fields.find((f) => f[0] === "user_ref_num" || f[0] === "order_token") || [])[1];
    const c = await mkChain(sess, id);
    await page.goto(`${base}/#preset=all&view=orders&order=${encodeURIComponent(id)}&osess=${encodeURIComponent(sess)}`);
    await page.waitFor((o) => (document.querySelector("#orderinfo") || {}).textContent.startsWith(`order ${o} `), id, 30000);
    await ready(page);
    const ids = await page.evalAll("#lifecycle tbody tr", (trs) => trs.map((tr) => tr.dataset.msg));
    check(`executed order ${id}: its messages with its executions, in time order`, c.events > 0 && ids.includes(ex.id) &&
      JSON.stringify(ids) === JSON.stringify(c.msgs.map((m) => m.id)), { ids, api: c.msgs.map((m) => m.id) });
    await page.goto(`${base}/#preset=all&view=orders&order=${encodeURIComponent(pick.id)}&osess=${encodeURIComponent(pick.sess)}`);
    await page.waitFor((o) => (document.querySelector("#orderinfo") || {}).textContent.startsWith(`order ${o} `), pick.id, 30000);
    await ready(page);
  } else check("the capture has an executed order", false);

  /* a message opens its packets */
  const mid = shown[0].id;
  await page.click(`#lifecycle tr[data-msg="${mid}"] a`);
  await page.waitForSelector("#ordermsg:not([hidden]) #msgpcap", 30000);
  await ready(page);
  const det = await api(`${base}/api/v1/messages/${mid}`);
  const refs = await page.evalAll("#ordermsgbody tr.pkt", (trs) => trs.map((tr) => tr.dataset.ref));
  check("the message shows its packets", refs.length > 0 && JSON.stringify(refs) === JSON.stringify(det.packets.map((p) => p.ref)), { refs, api: det.packets.map((p) => p.ref) });
  check("each packet has its layers and bytes", (await page.count("#ordermsgbody details.pktbytes pre.hex")) === refs.length);
  const href = await page.attr("#msgpcap", "href");
  const buf = Buffer.from(await (await fetch(new URL(href, base))).arrayBuffer());
  let n = 0;
  for (let off = 24; off + 16 <= buf.length; off += 16 + buf.readUInt32LE(off + 8)) n++;
  check("its pcap download holds its packets", n === refs.length, { n, refs: refs.length });
  check("no script errors on the page", errors.length === 0, errors);
  await page.shotElement("#orders", path.join(artifacts, "orders.png"));
  await page.shotElement("#ordermsg", path.join(artifacts, "order-message.png"));
  await browser.close();
  process.exit(failures ? 1 : 0);
})().catch((e) => { console.log("FAIL " + (e && e.stack ? e.stack : e)); process.exit(1); });

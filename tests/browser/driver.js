/* driver.js - the few browser operations ui.test.js uses, over two engines,
 * so one scenario runs unchanged in both browsers:
 *   chromium: playwright-core driving Debian's /usr/bin/chromium (CDP)
 *   firefox:  puppeteer-core driving Debian's /usr/bin/firefox-esr through
 *             WebDriver BiDi (Playwright only drives its own patched Firefox)
 * Neither downloads a browser; CS_CHROMIUM / CS_FIREFOX override the paths.
 *
 * launch(name, viewport) -> Browser { name, newPage(), close() }
 * Page (every selector is CSS; an operation on a selector acts on its first
 * match; timeouts are milliseconds):
 *   goto(url) url() close() onPageError(cb)
 *   waitFor(fn, arg, timeout)     until fn(arg), run in the page, is truthy
 *   waitForSelector(sel, timeout) until sel matches
 *   evaluate(fn, arg)             fn(arg) in the page, its (serialisable) result
 *   text(sel) attr(sel, name) value(sel) count(sel) evalAll(sel, fn)
 *   click(sel) fill(sel, text) press(key)
 *   box(sel)                      scrolled into view, its viewport rectangle
 *   mouse.move(x, y, {steps}) mouse.down() mouse.up()
 *   screenshot(file, {fullPage, clip}) shotElement(sel, file)
 * Both libraries give Page the same $eval/$$eval/evaluate/mouse/screenshot/
 * click/goto signatures; the engine parts below are only launching, waiting
 * on a page function (argument order differs) and filling an input. */
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");

class Page {
  constructor(page, engine) {
    this.p = page;
    this.engine = engine;
    this.mouse = page.mouse;
  }
  goto(url) { return this.p.goto(url); }
  url() { return this.p.url(); }
  close() { return this.p.close(); }
  onPageError(cb) { this.p.on("pageerror", (e) => cb(String(e))); }
  waitFor(fn, arg, timeout) { return this.engine.waitFor(this.p, fn, arg, timeout); }
  waitForSelector(sel, timeout) { return this.p.waitForSelector(sel, { timeout }); }
  evaluate(fn, arg) { return this.p.evaluate(fn, arg); }
  text(sel) { return this.p.$eval(sel, (e) => e.textContent); }
  attr(sel, name) { return this.p.$eval(sel, (e, n) => e.getAttribute(n), name); }
  value(sel) { return this.p.$eval(sel, (e) => e.value); }
  count(sel) { return this.p.$$eval(sel, (es) => es.length); }
  evalAll(sel, fn) { return this.p.$$eval(sel, fn); }
  click(sel) { return this.p.click(sel); }
  fill(sel, text) { return this.engine.fill(this.p, sel, text); }
  press(key) { return this.p.keyboard.press(key); }
  async box(sel) {
    await this.p.$eval(sel, (e) => e.scrollIntoView({ block: "center" }));
    return (await this.p.$(sel)).boundingBox();
  }
  screenshot(file, opts) { return this.p.screenshot(Object.assign({ path: file }, opts || {})); }
  async shotElement(sel, file) { await (await this.p.$(sel)).screenshot({ path: file }); }
}

const chromium = {
  async launch(viewport) {
    const { chromium: pw } = require("playwright-core");
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), "cs-chromium-"));
    const ctx = await pw.launchPersistentContext(profile, {
      executablePath: process.env.CS_CHROMIUM || "/usr/bin/chromium",
      headless: true,
      bypassCSP: true, /* waitForFunction evaluates strings; the page itself runs under the CSP */
      viewport,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    return {
      newPage: async () => new Page(await ctx.newPage(), chromium),
      close: async () => { await ctx.close(); fs.rmSync(profile, { recursive: true, force: true }); },
    };
  },
  waitFor: (p, fn, arg, timeout) => p.waitForFunction(fn, arg, { timeout }),
  fill: (p, sel, text) => p.fill(sel, text),
};

const firefox = {
  async launch(viewport) {
    const puppeteer = require("puppeteer-core");
    const b = await puppeteer.launch({
      browser: "firefox",
      executablePath: process.env.CS_FIREFOX || "/usr/bin/firefox-esr",
      headless: true,
      defaultViewport: viewport,
      /* no update checks, telemetry or first-run pages in the throwaway profile */
      extraPrefsFirefox: { "app.update.enabled": false, "datareporting.policy.dataSubmissionEnabled": false,
        "toolkit.telemetry.enabled": false, "browser.shell.checkDefaultBrowser": false },
    });
    return {
      newPage: async () => new Page(await b.newPage(), firefox),
      close: () => b.close(),
    };
  },
  waitFor: (p, fn, arg, timeout) => p.waitForFunction(fn, { timeout, polling: 100 }, arg),
  async fill(p, sel, text) {
    await p.$eval(sel, (e) => { e.value = ""; });
    await p.type(sel, text);
  },
};

const engines = { chromium, firefox };

async function launch(name, viewport) {
  const e = engines[name];
  if (!e) throw new Error(`no browser "${name}" (chromium or firefox)`);
  const b = await e.launch(viewport);
  b.name = name;
  return b;
}

module.exports = { launch, names: Object.keys(engines) };

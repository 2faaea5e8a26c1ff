/*
 * format.js - how the web UI writes and reads times, durations and
 * quantities: every time is UTC, 24-hour, to the nanosecond (BigInt ns,
 * as the API's *_ns strings are); durations take the largest unit that
 * keeps them >= 1 ("4.000 ms", axis ticks "4 ms"); rates and sizes SI
 * ("1.23k", "12.3 Mb/s"); typed times as the CLI and the API take them
 * (epoch ns, "now", "5m ago", RFC 3339 UTC), a date that does not exist
 * refused, not rolled over; and HTML escaping. Pure functions of their
 * arguments.
 *
 * Loaded as a plain script (window.CsFmt) by the UI, and by node
 * (module.exports) in tests/web/format.test.js.
 */
(function (root) {
  "use strict";
  const NS = 1000000000n;
  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }
  function fmtNs(ns) {
    ns = BigInt(ns);
    if (ns < 0n) return "before 1970";
    const ms = Number(ns / 1000000n);
    const frac = (ns % NS).toString().padStart(9, "0");
    return new Date(ms).toISOString().slice(0, 19) + "." + frac + "Z";
  }
  function fmtDur(ns) {
    const n = Number(ns);
    if (n >= 1e9) return (n / 1e9).toFixed(3) + " s";
    if (n >= 1e6) return (n / 1e6).toFixed(3) + " ms";
    if (n >= 1e3) return (n / 1e3).toFixed(3) + " µs";
    return n + " ns";
  }
  const fmtSignedDur = (ns) => (ns < 0 ? "-" : "") + fmtDur(Math.round(Math.abs(ns)));
  /* short durations for axis ticks: "4 ms", "37 µs", "1.5 s" */
  function fmtDurShort(n) {
    if (n == null) return "";
    const [d, u] = n >= 1e9 ? [1e9, "s"] : n >= 1e6 ? [1e6, "ms"] : n >= 1e3 ? [1e3, "µs"] : [1, "ns"];
    return Number((n / d).toPrecision(3)) + " " + u;
  }
  /* SI quantities: 1234 -> "1.23k"; with a unit, "12.3 Mb/s" */
  function fmtSI(v, unit) {
    if (v == null) return "";
    const a = Math.abs(v);
    const [d, p] = a >= 1e9 ? [1e9, "G"] : a >= 1e6 ? [1e6, "M"] : a >= 1e3 ? [1e3, "k"] : [1, ""];
    const num = Number((v / d).toPrecision(3));
    return unit ? `${num} ${p}${unit}` : `${num}${p}`;
  }
  /* x ticks: UTC, 24-hour, as fine as the tick spacing needs */
  function fmtTick(v, incr, span) {
    const iso = new Date(Math.floor(v) * 1000).toISOString();
    if (span > 2 * 86400) return iso.slice(5, 10) + " " + iso.slice(11, 16);
    if (incr >= 60) return iso.slice(11, 16);
    if (incr >= 1) return iso.slice(11, 19);
    const digits = incr >= 0.001 ? 3 : 6;
    return iso.slice(11, 19) + "." + String(Math.round((v - Math.floor(v)) * 10 ** digits)).padStart(digits, "0");
  }
  const UNIT_NS = { ns: 1n, us: 1000n, "µs": 1000n, ms: 1000000n, s: NS, m: 60n * NS, h: 3600n * NS, d: 86400n * NS };
  const DUR = "(\\d+)(ns|us|µs|ms|s|m|h|d)";
  /* a time as the CLI and the API take it: epoch ns, "now", "5m ago" (or
   * "now-5m"), RFC 3339 UTC with "T" or a space, seconds and Z optional,
   * up to 9 fraction digits. Relative times count back from "now". A date
   * that does not exist (2026-02-30) is refused, not rolled over. null if
   * not a time. */
  function parseTime(s, now) {
    s = String(s).trim();
    if (/^\d+$/.test(s)) return BigInt(s);
    if (s === "now") return now;
    let m = new RegExp(`^${DUR} ago$`).exec(s) || new RegExp(`^now-${DUR}$`).exec(s);
    if (m) return now - BigInt(m[1]) * UNIT_NS[m[2]];
    m = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?(Z|[+-]00:?00)?$/.exec(s);
    if (!m) return null;
    const [Y, Mo, D, h, mi, se] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] || 0));
    const ms = Date.UTC(Y, Mo - 1, D, h, mi, se);
    const d = new Date(ms);
    if (d.getUTCFullYear() !== Y || d.getUTCMonth() !== Mo - 1 || d.getUTCDate() !== D || h > 23 || mi > 59 || se > 59) return null;
    return BigInt(ms) * 1000000n + BigInt((m[7] || "").padEnd(9, "0"));
  }
  function secOf(ns) { return Number(BigInt(ns)) / 1e9; }
  function nsOfSec(s) { return BigInt(Math.round(s * 1e6)) * 1000n; }

  const api = { esc, fmtNs, fmtDur, fmtSignedDur, fmtDurShort, fmtSI, fmtTick, parseTime, secOf, nsOfSec };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.CsFmt = api;
})(typeof window !== "undefined" ? window : this);

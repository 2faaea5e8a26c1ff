/*
 * format.test.js - web/format.js, how the UI writes and reads times,
 * durations and quantities: typed times as the CLI and the API take them
 * (and the dates and forms refused), nanosecond times written back exactly,
 * durations and SI quantities at each unit's edges, UTC 24-hour axis ticks
 * and HTML escaping. Exit 1 on any failure.
 */
"use strict";
const path = require("path");
const f = require(path.join(__dirname, "..", "..", "web", "format.js"));

let failed = 0, passed = 0;
function eq(what, got, want) {
  const g = typeof got === "bigint" ? got.toString() + "n" : JSON.stringify(got);
  const w = typeof want === "bigint" ? want.toString() + "n" : JSON.stringify(want);
  if (g === w) passed++;
  else { failed++; console.log(`FAIL: ${what}: got ${g}, want ${w}`); }
}

const now = 1767623400123456789n; /* 2026-01-05T14:30:00.123456789Z */
eq("epoch ns", f.parseTime("1767623400000000001", now), 1767623400000000001n);
eq("now", f.parseTime(" now ", now), now);
eq("5m ago", f.parseTime("5m ago", now), now - 300000000000n);
eq("now-250ms", f.parseTime("now-250ms", now), now - 250000000n);
eq("90us ago and 90µs ago agree", f.parseTime("90us ago", now), f.parseTime("90µs ago", now));
eq("RFC 3339 with T and Z", f.parseTime("2026-01-05T14:30:00Z", now), 1767623400000000000n);
eq("a space, no seconds, no zone", f.parseTime("2026-01-05 14:30", now), 1767623400000000000n);
eq("nine fraction digits", f.parseTime("2026-01-05 14:30:00.123456789", now), 1767623400123456789n);
eq("three fraction digits", f.parseTime("2026-01-05T14:30:00.5Z", now), 1767623400500000000n);
eq("+00:00 is UTC", f.parseTime("2026-01-05T14:30:00+00:00", now), 1767623400000000000n);
eq("2026-02-30 is refused, not 2 March", f.parseTime("2026-02-30 00:00:00", now), null);
eq("hour 24 is refused", f.parseTime("2026-01-05 24:00:00", now), null);
eq("another zone is refused", f.parseTime("2026-01-05T14:30:00+01:00", now), null);
eq("ten fraction digits are refused", f.parseTime("2026-01-05T14:30:00.1234567890Z", now), null);
eq("a word is refused", f.parseTime("abc", now), null);
eq("5 minutes ago is refused", f.parseTime("5 minutes ago", now), null);

eq("fmtNs keeps every nanosecond", f.fmtNs("1767623400000000001"), "2026-01-05T14:30:00.000000001Z");
eq("fmtNs of a BigInt", f.fmtNs(now), "2026-01-05T14:30:00.123456789Z");
eq("fmtNs before 1970", f.fmtNs(-1n), "before 1970");
eq("fmtNs reads back with parseTime", f.parseTime(f.fmtNs(now), 0n), now);

eq("fmtDur ns", f.fmtDur(999), "999 ns");
eq("fmtDur µs", f.fmtDur(1000), "1.000 µs");
eq("fmtDur ms", f.fmtDur("4000000"), "4.000 ms");
eq("fmtDur s", f.fmtDur(1.5e9), "1.500 s");
eq("fmtSignedDur negative", f.fmtSignedDur(-1500), "-1.500 µs");
eq("fmtDurShort 37 µs", f.fmtDurShort(37000), "37 µs");
eq("fmtDurShort 4 ms", f.fmtDurShort(4e6), "4 ms");
eq("fmtDurShort 1.5 s", f.fmtDurShort(1.5e9), "1.5 s");
eq("fmtDurShort empty", f.fmtDurShort(null), "");
eq("fmtSI plain", f.fmtSI(999), "999");
eq("fmtSI k", f.fmtSI(1234), "1.23k");
eq("fmtSI with a unit", f.fmtSI(12.3e6, "b/s"), "12.3 Mb/s");
eq("fmtSI G", f.fmtSI(2e9), "2G");
eq("fmtSI negative", f.fmtSI(-1500), "-1.5k");

const t = 1767623400; /* 14:30:00 */
eq("tick by the minute", f.fmtTick(t, 60, 3600), "14:30");
eq("tick by the second", f.fmtTick(t + 5, 1, 60), "14:30:05");
eq("tick by the millisecond", f.fmtTick(t + 0.25, 0.05, 1), "14:30:00.250");
eq("tick by the microsecond", f.fmtTick(t + 0.000125, 0.00005, 0.001), "14:30:00.000125");
eq("ticks over days carry the date", f.fmtTick(t, 3600, 3 * 86400), "01-05 14:30");

eq("nsOfSec(secOf(t)) to the microsecond", f.nsOfSec(f.secOf("1767623400123456789")), 1767623400123457000n);
eq("esc", f.esc(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");

console.log(`format.test.js: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

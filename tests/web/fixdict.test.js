/*
 * fixdict.test.js - web/fixdict.js, the FIX names by version the UI shows,
 * checked two ways: hand-made field lists (every rule: BeginString,
 * ApplVerID, DefaultApplVerID, renamed tags, tags and types a version does
 * not have), and, when given a file of `capstream messages --json` output
 * per FIX trace (argv: EXPECTED_VERSION=FILE ...), the version found in
 * every message of a real capture. Exit 1 on any failure.
 */
"use strict";
const fs = require("fs");
const path = require("path");
const fix = require(path.join(__dirname, "..", "..", "web", "fixdict.js"));

let failed = 0, passed = 0;
function eq(what, got, want) {
  if (got === want) passed++;
  else { failed++; console.log(`FAIL: ${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`); }
}

const v = (fields) => fix.version(fields);
eq("FIX.4.2 is 4.2", v([["8", "FIX.4.2"], ["35", "D"]]), "4.2");
eq("FIX.4.0 is 4.0", v([["8", "FIX.4.0"]]), "4.0");
eq("FIXT with ApplVerID 9 is 5.0SP2", v([["8", "FIXT.1.1"], ["1128", "9"]]), "5.0SP2");
eq("FIXT with DefaultApplVerID 7 is 5.0", v([["8", "FIXT.1.1"], ["1137", "7"]]), "5.0");
eq("FIXT with DefaultApplVerID 10 is Latest", v([["8", "FIXT.1.1"], ["1137", "10"]]), "Latest");
eq("FIXT alone is 5.0SP2", v([["8", "FIXT.1.1"]]), "5.0SP2");
eq("an unknown BeginString has no version", v([["8", "FIX.9.9"]]), "");
eq("no BeginString, no version", v([["35", "D"]]), "");

eq("32 is LastShares in 4.2", fix.tagName("4.2", "32"), "LastShares");
eq("32 is LastQty in 4.3", fix.tagName("4.3", "32"), "LastQty");
eq("32 is LastQty in 5.0SP2", fix.tagName("5.0SP2", "32"), "LastQty");
eq("22 is IDSource in 4.1", fix.tagName("4.1", "22"), "IDSource");
eq("22 is SecurityIDSource in 4.4", fix.tagName("4.4", "22"), "SecurityIDSource");
eq("64 is FutSettDate in 4.3", fix.tagName("4.3", "64"), "FutSettDate");
eq("64 is SettlDate in 4.4", fix.tagName("4.4", "64"), "SettlDate");
eq("77 is OpenClose in 4.2", fix.tagName("4.2", "77"), "OpenClose");
eq("150 is unnamed in 4.0", fix.tagName("4.0", "150"), "");
eq("150 is ExecType in 4.1", fix.tagName("4.1", "150"), "ExecType");
eq("1128 is unnamed in 4.4", fix.tagName("4.4", "1128"), "");
eq("1128 is ApplVerID in 5.0", fix.tagName("5.0", "1128"), "ApplVerID");
eq("an unknown version gets 4.4's names", fix.tagName("", "32"), "LastQty");
eq("a tag not listed is unnamed", fix.tagName("4.4", "9999"), "");
eq("D is NewOrderSingle everywhere", fix.typeName("4.0", "D"), "NewOrderSingle");
eq("j is unnamed in 4.1", fix.typeName("4.1", "j"), "");
eq("j is BusinessMessageReject in 4.2", fix.typeName("4.2", "j"), "BusinessMessageReject");
eq("AE is TradeCaptureReport in 4.4", fix.typeName("4.4", "AE"), "TradeCaptureReport");
eq("labels read as FIX 5.0 SP2", fix.label("5.0SP2"), "FIX 5.0 SP2");

/* real captures: every message of each file is in its version */
for (const arg of process.argv.slice(2)) {
  const [want, file] = arg.split("=");
  const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim());
  const msgs = lines.map((l) => JSON.parse(l)).filter((m) => m.proto === "fix");
  eq(`${path.basename(file)}: has FIX messages`, msgs.length > 0, true);
  const got = Array.from(new Set(msgs.map((m) => fix.version(m.fields)))).join(",");
  eq(`${path.basename(file)}: every message's version`, got, want);
}
console.log(`fixdict: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

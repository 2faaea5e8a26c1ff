/*
 * fixdict.js - FIX field (tag) and message type (MsgType 35) names by the
 * FIX version a message is in, for the web UI's message views.
 *
 * The version comes from the message's own fields: BeginString (8) "FIX.4.2"
 * gives 4.2; "FIXT.1.1" is the session layer of FIX 5.0, whose application
 * version is ApplVerID (1128) when the message carries it, else the
 * DefaultApplVerID (1137) a Logon names (10 = FIX Latest), else 5.0 SP2.
 * Names are FIX 4.4's (BASE_TAGS, BASE_TYPES) with, per version, the tags
 * named otherwise there (RENAMED: 32 was LastShares before 4.3, LastQty
 * since) and the tags and types that version does not have yet (SINCE: a
 * tag is shown by number only in versions before the one that defined it).
 * A tag or type not listed is shown by number only: never a wrong name.
 *
 * Loaded as a plain script (window.CsFix) by the UI, and by node
 * (module.exports) in tests/web/fixdict.test.js.
 */
(function (root) {
  "use strict";
  /* FIX 4.4 names of the tags the UI names */
  const BASE_TAGS = {
    1: "Account", 6: "AvgPx", 7: "BeginSeqNo", 8: "BeginString", 9: "BodyLength", 10: "CheckSum", 11: "ClOrdID",
    14: "CumQty", 15: "Currency", 16: "EndSeqNo", 17: "ExecID", 18: "ExecInst", 19: "ExecRefID", 20: "ExecTransType",
    21: "HandlInst", 22: "SecurityIDSource", 30: "LastMkt", 31: "LastPx", 32: "LastQty", 34: "MsgSeqNum",
    35: "MsgType", 36: "NewSeqNo", 37: "OrderID", 38: "OrderQty", 39: "OrdStatus", 40: "OrdType", 41: "OrigClOrdID",
    43: "PossDupFlag", 44: "Price", 45: "RefSeqNum", 48: "SecurityID", 49: "SenderCompID", 50: "SenderSubID",
    52: "SendingTime", 53: "Quantity", 54: "Side", 55: "Symbol", 56: "TargetCompID", 57: "TargetSubID", 58: "Text",
    59: "TimeInForce", 60: "TransactTime", 63: "SettlType", 64: "SettlDate", 77: "PositionEffect", 97: "PossResend",
    98: "EncryptMethod", 100: "ExDestination", 102: "CxlRejReason", 103: "OrdRejReason", 108: "HeartBtInt",
    112: "TestReqID", 115: "OnBehalfOfCompID", 122: "OrigSendingTime", 123: "GapFillFlag", 128: "DeliverToCompID",
    141: "ResetSeqNumFlag", 150: "ExecType", 151: "LeavesQty", 167: "SecurityType", 207: "SecurityExchange",
    369: "LastMsgSeqNumProcessed", 371: "RefTagID", 372: "RefMsgType", 373: "SessionRejectReason",
    434: "CxlRejResponseTo", 528: "OrderCapacity", 1128: "ApplVerID", 1137: "DefaultApplVerID",
  };
  const BASE_TYPES = {
    0: "Heartbeat", 1: "TestRequest", 2: "ResendRequest", 3: "Reject", 4: "SequenceReset", 5: "Logout",
    8: "ExecutionReport", 9: "OrderCancelReject", A: "Logon", D: "NewOrderSingle", F: "OrderCancelRequest",
    G: "OrderCancelReplaceRequest", H: "OrderStatusRequest", Q: "DontKnowTrade", V: "MarketDataRequest",
    W: "MarketDataSnapshotFullRefresh", X: "MarketDataIncrementalRefresh", j: "BusinessMessageReject",
    q: "OrderMassCancelRequest", r: "OrderMassCancelReport", AE: "TradeCaptureReport",
  };
  /* versions in order; "5.0" .. "Latest" (the extension packs after 5.0
   * SP2) run over FIXT.1.1 */
  const ORDER = ["4.0", "4.1", "4.2", "4.3", "4.4", "5.0", "5.0SP1", "5.0SP2", "Latest"];
  /* tag -> [[first version of a name, name], ...] for tags renamed on the way */
  const RENAMED = {
    22: [["4.0", "IDSource"], ["4.3", "SecurityIDSource"]],
    32: [["4.0", "LastShares"], ["4.3", "LastQty"]],
    53: [["4.0", "Shares"], ["4.3", "Quantity"]],
    63: [["4.0", "SettlmntTyp"], ["4.4", "SettlType"]],
    64: [["4.0", "FutSettDate"], ["4.4", "SettlDate"]],
    77: [["4.0", "OpenClose"], ["4.3", "PositionEffect"]],
  };
  /* the first version that has a tag or a MsgType (absent: all of them) */
  const SINCE_TAGS = {
    141: "4.1", 150: "4.1", 151: "4.1", 167: "4.1", 207: "4.1", 369: "4.2", 371: "4.2", 372: "4.2", 373: "4.2",
    434: "4.2", 528: "4.3", 1128: "5.0", 1137: "5.0",
  };
  const SINCE_TYPES = { Q: "4.1", V: "4.2", W: "4.2", X: "4.2", j: "4.2", q: "4.3", r: "4.3", AE: "4.3" };
  /* ApplVerID (1128) / DefaultApplVerID (1137) values */
  const APPL_VER = { 2: "4.0", 3: "4.1", 4: "4.2", 5: "4.3", 6: "4.4", 7: "5.0", 8: "5.0SP1", 9: "5.0SP2", 10: "Latest" };

  const rank = (v) => ORDER.indexOf(v);
  const field = (fields, tag) => { const f = fields.find((x) => x[0] === tag); return f ? f[1] : undefined; };

  /* The FIX version of a message's fields ([[tag, value], ...]), or "" when
   * it names none that is known. */
  function version(fields) {
    const begin = field(fields, "8") || "";
    const m = /^FIX\.(4\.[0-4])$/.exec(begin);
    if (m) return m[1];
    if (begin !== "FIXT.1.1") return "";
    const appl = field(fields, "1128") || field(fields, "1137");
    return APPL_VER[appl] || "5.0SP2";
  }
  function present(since, key, ver) {
    return !since[key] || !ver || rank(ver) >= rank(since[key]);
  }
  /* The name of "tag" in version "ver" ("" = unknown version: FIX 4.4's), or "" */
  function tagName(ver, tag) {
    if (!BASE_TAGS[tag] || !present(SINCE_TAGS, tag, ver)) return "";
    const r = RENAMED[tag];
    if (!r || !ver) return BASE_TAGS[tag];
    let name = "";
    for (const [from, n] of r) if (rank(ver) >= rank(from)) name = n;
    return name;
  }
  function typeName(ver, type) {
    return BASE_TYPES[type] && present(SINCE_TYPES, type, ver) ? BASE_TYPES[type] : "";
  }
  /* a version as users read it: "FIX 4.2", "FIX 5.0 SP2" */
  const label = (ver) => (ver ? "FIX " + ver.replace("SP", " SP") : "");

  const api = { version, tagName, typeName, label };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.CsFix = api;
})(typeof window !== "undefined" ? window : this);

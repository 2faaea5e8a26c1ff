/*
 * packet.test.js - web/packet.js, how the UI reads the pcap the API sends,
 * checked two ways: hand-made frames and files (both pcap magics and byte
 * orders, a record cut short, VLAN and QinQ tags, IPv4 and IPv6, TCP and
 * UDP, a non-first fragment, frames cut short at every length: no read past
 * the end, no throw), and, given a capture and tshark's fields of it
 * (argv: PCAP FIELDS_FILE, the fields below, one frame a line), every
 * frame's lengths, VLAN ids, addresses and ports against tshark's. Exit 1 on
 * any failure.
 *   tshark -r PCAP -T fields -E separator=';' -E aggregator=/ -E occurrence=a
 *     -e frame.cap_len -e frame.len -e ieee8021ad.id -e vlan.id -e ip.src -e ip.dst
 *     -e ipv6.src -e ipv6.dst -e tcp.srcport -e tcp.dstport -e udp.srcport
 *     -e udp.dstport -e ip.frag_offset -e ip.flags.mf
 */
"use strict";
const fs = require("fs");
const path = require("path");
const pkt = require(path.join(__dirname, "..", "..", "web", "packet.js"));

let failed = 0, passed = 0;
function eq(what, got, want) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g === w) passed++;
  else { failed++; console.log(`FAIL: ${what}: got ${g}, want ${w}`); }
}

/* ---- hand-made frames ---- */
const bytes = (...parts) => Uint8Array.from(parts.flat());
const u16 = (v) => [v >> 8, v & 255];
const u32 = (v) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
const MACS = [0, 1, 2, 3, 4, 5, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf];
const ipv4 = (proto, src, dst, fragWord, l4len) =>
  [0x45, 0, ...u16(20 + l4len), 0, 1, ...u16(fragWord), 64, proto, 0, 0, ...src, ...dst];
const tcp = (sp, dp, payload) => [...u16(sp), ...u16(dp), ...u32(1000), ...u32(2000), 0x50, 0x18, ...u16(512), 0, 0, 0, 0,
  ...new Array(payload).fill(0x41)];
const udp = (sp, dp, payload) => [...u16(sp), ...u16(dp), ...u16(8 + payload), 0, 0, ...new Array(payload).fill(0x42)];

const v4tcp = bytes(MACS, u16(0x0800), ipv4(6, [10, 1, 0, 10], [10, 2, 0, 20], 0, 25), tcp(40100, 9878, 5));
let d = pkt.dissect(v4tcp);
eq("IPv4 TCP addresses", [d.ip.src, d.ip.dst, d.ip.v6], ["10.1.0.10", "10.2.0.20", false]);
eq("IPv4 TCP ports, flags, payload", [d.l4.proto, d.l4.sport, d.l4.dport, d.l4.flags, d.l4.payload], ["tcp", 40100, 9878, 0x18, 5]);
eq("IPv4 TCP layers", pkt.layers(v4tcp), ["Ethernet 0a:0b:0c:0d:0e:0f → 00:01:02:03:04:05"].concat(
  ["IPv4 10.1.0.10 → 10.2.0.20 ttl 64 proto 6 len 45", "TCP 40100 → 9878 seq 1000 ack 2000 [PSH,ACK] win 512 payload 5"]));

const qinq = bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], u16(0x88a8), u16(300), u16(0x8100), u16(42), u16(0x0800),
  ipv4(17, [192, 168, 1, 1], [233, 54, 12, 111], 0, 12), udp(5000, 26477, 4));
d = pkt.dissect(qinq);
eq("QinQ: both VLAN ids, outer first", d.vlans, [300, 42]);
eq("QinQ UDP ports", [d.l4.proto, d.l4.sport, d.l4.dport, d.l4.len], ["udp", 5000, 26477, 12]);
const recs = Object.assign([{ bytes: qinq }], { linktype: 1 });
eq("flow filter with two VLANs", pkt.flowFilter(recs), "vlan 300 and vlan 42 and ip and udp and " +
  "((src host 192.168.1.1 and src port 5000 and dst host 233.54.12.111 and dst port 26477) or " +
  "(src host 233.54.12.111 and src port 26477 and dst host 192.168.1.1 and dst port 5000))");
eq("no flow filter off Ethernet", pkt.flowFilter(Object.assign([{ bytes: qinq }], { linktype: 101 })), null);

const frag = bytes(MACS, u16(0x0800), ipv4(17, [10, 0, 0, 1], [10, 0, 0, 2], 185, 12), udp(1, 2, 4));
d = pkt.dissect(frag);
eq("a non-first fragment has no L4 header", [d.ip !== null, d.l4], [true, null]);
eq("no flow filter from fragments only", pkt.flowFilter(Object.assign([{ bytes: frag }], { linktype: 1 })), null);

const v6 = [0x60, 0, 0, 0, ...u16(28), 17, 7, 0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1,
  0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 2];
const v6udp = bytes(MACS, u16(0x86dd), v6, udp(53, 40000, 20));
d = pkt.dissect(v6udp);
eq("IPv6 addresses, next header, hop limit", [d.ip.src, d.ip.dst, d.ip.proto, d.ip.hlim, d.ip.v6],
  ["2001:db8:0:0:0:0:0:1", "2001:db8:0:0:0:0:0:2", 17, 7, true]);
eq("IPv6 UDP ports", [d.l4.sport, d.l4.dport], [53, 40000]);

/* every frame cut at every length: in bounds, and the headers it still holds */
/* [frame, where its IP header ends, where its L4 header ends (0: none)] */
const ends = [[v4tcp, 34, 54], [qinq, 42, 50], [frag, 34, 0], [v6udp, 54, 62]];
const wrong = [];
for (const [f, ipEnd, l4End] of ends)
  for (let n = 0; n <= f.length; n++) {
    try {
      const c = pkt.dissect(f.subarray(0, n));
      pkt.layers(f.subarray(0, n));
      if ((c.ip !== null) !== (n >= ipEnd) || (c.l4 !== null) !== (l4End > 0 && n >= l4End)) wrong.push(n);
    } catch (e) { wrong.push(`${n}: ${e}`); }
  }
eq("frames cut at every length: no throw, each header only when whole", wrong, []);
eq("a frame shorter than Ethernet has no layers", pkt.layers(new Uint8Array(13)), []);

/* ---- pcap files ---- */
function pcapFile(le, nano, frames, cutLast) {
  const w = (n, v) => { const b = Buffer.alloc(n); if (n === 4) le ? b.writeUInt32LE(v) : b.writeUInt32BE(v); else le ? b.writeUInt16LE(v) : b.writeUInt16BE(v); return b; };
  const parts = [w(4, nano ? 0xa1b23c4d : 0xa1b2c3d4), w(2, 2), w(2, 4), w(4, 0), w(4, 0), w(4, 65535), w(4, 1)];
  frames.forEach((f, i) => parts.push(w(4, 1767623400 + i), w(4, nano ? 123456789 : 123456), w(4, f.length), w(4, f.length + 4), Buffer.from(f)));
  const all = Buffer.concat(parts);
  const out = cutLast ? all.subarray(0, all.length - 3) : all;
  return out.buffer.slice(out.byteOffset, out.byteOffset + out.length);
}
for (const [le, nano] of [[true, false], [true, true], [false, false], [false, true]]) {
  const r = pkt.parsePcap(pcapFile(le, nano, [v4tcp, qinq], false));
  const what = `${le ? "little" : "big"}-endian ${nano ? "ns" : "us"} pcap`;
  eq(`${what}: linktype and records`, [r.linktype, r.length], [1, 2]);
  eq(`${what}: times to the ns`, r.map((x) => x.ts_ns), nano ? ["1767623400123456789", "1767623401123456789"]
    : ["1767623400123456000", "1767623401123456000"]);
  eq(`${what}: lengths`, r.map((x) => [x.caplen, x.wirelen, x.bytes.length]), [[v4tcp.length, v4tcp.length + 4, v4tcp.length],
    [qinq.length, qinq.length + 4, qinq.length]]);
}
const cut = pkt.parsePcap(pcapFile(true, true, [v4tcp, qinq], true));
eq("a record cut short keeps what is there", cut.map((x) => x.bytes.length), [v4tcp.length, qinq.length - 3]);
eq("a buffer shorter than a pcap header has no linktype", pkt.parsePcap(new ArrayBuffer(10)).linktype, -1);
eq("hex dump: offset, hex, ASCII", pkt.hexdump(Uint8Array.from([0x41, 0x00, 0x7e, 0x7f])),
  "0000  41 00 7e 7f                                      A.~.\n");

/* ---- a real capture against tshark ---- */
const expand6 = (a) => {
  if (!a) return "";
  const [h, t] = a.split("::");
  const hs = h ? h.split(":") : [], ts = t === undefined ? [] : t ? t.split(":") : [];
  const all = t === undefined ? hs : hs.concat(new Array(8 - hs.length - ts.length).fill("0"), ts);
  return all.map((g) => parseInt(g, 16).toString(16)).join(":");
};
const [pcapPath, fieldsPath] = process.argv.slice(2);
if (pcapPath) {
  const buf = fs.readFileSync(pcapPath);
  const r = pkt.parsePcap(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  const rows = fs.readFileSync(fieldsPath, "utf8").split("\n").filter((l) => l !== "").map((l) => l.split(";"));
  eq(`${path.basename(pcapPath)}: records as tshark's frames`, r.length, rows.length);
  let bad = 0;
  r.forEach((x, i) => {
    const [cap, len, ad, vlan, s4, d4, s6, d6, ts, td, us, ud, off, mf] = rows[i] || [];
    const tags = [ad, vlan].filter((t) => t).join("/"); /* 802.1ad (outer) tags, then 802.1Q */
    const dd = pkt.dissect(x.bytes);
    const whole = (off || "0") === "0" && (mf || "0") === "0";
    const want = [Number(cap), Number(len), tags ? tags.split("/").map(Number) : [],
      s4 ? s4.split("/")[0] : expand6(s6 && s6.split("/")[0]), d4 ? d4.split("/")[0] : expand6(d6 && d6.split("/")[0]),
      whole ? Number(ts || us || 0) : 0, whole ? Number(td || ud || 0) : 0];
    const got = [x.caplen, x.wirelen, dd.vlans, dd.ip ? dd.ip.src : "", dd.ip ? dd.ip.dst : "",
      whole && dd.l4 ? dd.l4.sport : 0, whole && dd.l4 ? dd.l4.dport : 0];
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      if (bad++ < 5) console.log(`FAIL: frame ${i + 1}: got ${JSON.stringify(got)}, tshark ${JSON.stringify(want)}`);
    }
  });
  eq(`${path.basename(pcapPath)}: every frame's lengths, VLANs, addresses and ports as tshark's`, bad, 0);
}

console.log(`packet.test.js: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

/*
 * packet.js - the web UI's reading of the packets the API sends as pcap:
 * the records of a classic pcap file (microsecond or nanosecond magic,
 * either byte order; a record cut short by the end of the buffer keeps
 * what is there), each frame's hex dump, its Ethernet, VLAN, IPv4/IPv6 and
 * TCP/UDP headers (dissect: every read bounds-checked against the frame's
 * length first; a non-first IPv4 fragment has no L4 header) as one line a
 * layer, and the BPF filter of a measurement's whole flow. Pure functions
 * of their arguments.
 *
 * Loaded as a plain script (window.CsPkt) by the UI, and by node
 * (module.exports) in tests/web/packet.test.js.
 */
(function (root) {
  "use strict";
  const NS = 1000000000n;
  function parsePcap(buf) {
    const dv = new DataView(buf);
    if (buf.byteLength < 24) return Object.assign([], { linktype: -1 });
    const magic = dv.getUint32(0, true);
    let le = true, nano = false;
    if (magic === 0xa1b2c3d4) nano = false; else if (magic === 0xa1b23c4d) nano = true;
    else { le = false; nano = dv.getUint32(0, false) === 0xa1b23c4d; }
    const recs = [];
    recs.linktype = dv.getUint32(20, le) & 0xffff; /* the high bits may carry FCS flags */
    for (let off = 24; off + 16 <= buf.byteLength;) {
      const sec = dv.getUint32(off, le), frac = dv.getUint32(off + 4, le), incl = dv.getUint32(off + 8, le), orig = dv.getUint32(off + 12, le);
      const ts = BigInt(sec) * NS + BigInt(frac) * (nano ? 1n : 1000n);
      recs.push({ ts_ns: ts.toString(), caplen: incl, wirelen: orig, bytes: new Uint8Array(buf, off + 16, Math.min(incl, buf.byteLength - off - 16)) });
      off += 16 + incl;
    }
    return recs;
  }
  function hexdump(bytes) {
    let out = "";
    for (let off = 0; off < bytes.length; off += 16) {
      const row = bytes.subarray(off, off + 16);
      const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ").padEnd(47, " ");
      const asc = Array.from(row, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
      out += off.toString(16).padStart(4, "0") + "  " + hex + "  " + asc + "\n";
    }
    return out;
  }
  /* dissect(b): the Ethernet frame "b" (Uint8Array) as {vlans, type, ip, l4};
   * ip = {v6, src, dst, proto, ...} and l4 = {proto: "tcp"|"udp", sport,
   * dport, ...} when present and not cut short. Every read is bounds-checked
   * against b.length first. VLAN tags: 802.1Q (0x8100), 802.1ad (0x88a8) and
   * the old QinQ 0x9100, the TPIDs libpcap's `vlan` keyword accepts. */
  function dissect(b) {
    const d = { vlans: [], type: -1, ip: null, l4: null };
    if (b.length < 14) return d;
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    let off = 12, type = dv.getUint16(off);
    while ((type === 0x8100 || type === 0x88a8 || type === 0x9100) && off + 6 <= b.length) {
      d.vlans.push(dv.getUint16(off + 2) & 0xfff);
      off += 4; type = dv.getUint16(off);
    }
    d.type = type;
    off += 2;
    let first = true; /* a non-first IPv4 fragment carries no L4 header */
    if (type === 0x0800 && off + 20 <= b.length) {
      d.ip = { v6: false, src: b.subarray(off + 12, off + 16).join("."), dst: b.subarray(off + 16, off + 20).join("."),
        proto: b[off + 9], ttl: b[off + 8], len: dv.getUint16(off + 2) };
      first = (dv.getUint16(off + 6) & 0x1fff) === 0;
      off += (b[off] & 15) * 4;
    } else if (type === 0x86dd && off + 40 <= b.length) {
      const a6 = (o) => Array.from({ length: 8 }, (_, i) => dv.getUint16(o + 2 * i).toString(16)).join(":");
      d.ip = { v6: true, src: a6(off + 8), dst: a6(off + 24), proto: b[off + 6], hlim: b[off + 7] };
      off += 40;
    }
    if (!d.ip || !first) return d;
    if (d.ip.proto === 6 && off + 20 <= b.length) {
      d.l4 = { proto: "tcp", sport: dv.getUint16(off), dport: dv.getUint16(off + 2), seq: dv.getUint32(off + 4),
        ack: dv.getUint32(off + 8), flags: b[off + 13], win: dv.getUint16(off + 14), payload: b.length - off - ((b[off + 12] >> 4) * 4) };
    } else if (d.ip.proto === 17 && off + 8 <= b.length) {
      d.l4 = { proto: "udp", sport: dv.getUint16(off), dport: dv.getUint16(off + 2), len: dv.getUint16(off + 4) };
    }
    return d;
  }
  function layers(b) { /* Ethernet, VLAN tags, IPv4/IPv6, TCP/UDP header fields, one line each */
    const out = [];
    if (b.length < 14) return out;
    const mac = (o) => Array.from(b.subarray(o, o + 6), (x) => x.toString(16).padStart(2, "0")).join(":");
    const d = dissect(b), ip = d.ip, l4 = d.l4;
    out.push(`Ethernet ${mac(6)} → ${mac(0)}`);
    d.vlans.forEach((v) => out.push(`VLAN ${v}`));
    if (ip && !ip.v6) out.push(`IPv4 ${ip.src} → ${ip.dst} ttl ${ip.ttl} proto ${ip.proto} len ${ip.len}`);
    else if (ip) out.push(`IPv6 ${ip.src} → ${ip.dst} next ${ip.proto} hlim ${ip.hlim}`);
    else out.push(`ethertype 0x${d.type.toString(16)}`);
    if (l4 && l4.proto === "tcp") {
      const names = ["FIN", "SYN", "RST", "PSH", "ACK", "URG"];
      out.push(`TCP ${l4.sport} → ${l4.dport} seq ${l4.seq} ack ${l4.ack} [${names.filter((_, i) => l4.flags & (1 << i)).join(",")}] win ${l4.win} payload ${l4.payload}`);
    } else if (l4) out.push(`UDP ${l4.sport} → ${l4.dport} len ${l4.len}`);
    return out;
  }
  /* flowFilter(recs): the BPF filter of the whole flow (both directions)
   * that carried the pcap records "recs" of one measurement, from the first
   * record with IP and TCP/UDP headers; null if none (packets expired, not
   * Ethernet). The flow's VLAN ids are part of it (a flow is the 5-tuple plus
   * VLANs), and they are needed: libpcap's `host`/`port` read at fixed
   * offsets, so a tagged frame only matches after one `vlan` per tag.
   *   vlan 300 and vlan 42 and ip and tcp and
   *     ((src host A and src port P and dst host B and dst port Q) or (… B,Q → A,P))
   * Non-first IP fragments (no ports) fall outside it. */
  function flowFilter(recs) {
    if (recs.linktype !== 1) return null; /* DLT_EN10MB */
    for (const r of recs) {
      const d = dissect(r.bytes);
      if (!d.ip || !d.l4) continue;
      const dir = (a, ap, b2, bp) => `(src host ${a} and src port ${ap} and dst host ${b2} and dst port ${bp})`;
      const parts = d.vlans.map((v) => `vlan ${v}`);
      parts.push(d.ip.v6 ? "ip6" : "ip", d.l4.proto,
        `(${dir(d.ip.src, d.l4.sport, d.ip.dst, d.l4.dport)} or ${dir(d.ip.dst, d.l4.dport, d.ip.src, d.l4.sport)})`);
      return parts.join(" and ");
    }
    return null;
  }

  const api = { parsePcap, hexdump, dissect, layers, flowFilter };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.CsPkt = api;
})(typeof window !== "undefined" ? window : this);

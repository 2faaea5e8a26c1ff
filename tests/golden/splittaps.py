#!/usr/bin/env python3
"""splittaps.py - one capture made into what two capture points see.

    splittaps.py MODE IN.pcap OUT.pcap [--offset-ns N]

Every Ethernet frame of IN is written to OUT with an 802.1Q tag that names
its capture point (VLAN 10 or VLAN 20, for capstream's --tap-by vlan). A
packet's side is told by its ports: the one sent from the lower port to the
higher is the server's answer, the rest (equal ports, no ports) the
client's.

MODE
  split   the client's packets at VLAN 10, the server's at VLAN 20 (a
          fibre tap whose two directions go to two monitor ports)
  mirror  every packet at VLAN 10, and a copy at VLAN 20, a point nearer
          the server: the client's OFFSET later, the server's OFFSET
          earlier (so VLAN 20 measures each latency 2 * OFFSET shorter)
  mixed   every packet at VLAN 10; a copy of the client's only at VLAN 20
          OFFSET later (an asymmetric route: answers take another path)

OFFSET (--offset-ns, default 1000) must stay under half the shortest
latency: a point on the path cannot see an answer before its question.

OUT is in capture order (copies merged by time), nanosecond pcap.
"""
import heapq
import struct
import sys

NS_MAGIC, US_MAGIC = 0xA1B23C4D, 0xA1B2C3D4


def read_pcap(path):
    """Yields (ts_ns, frame, original length) of an Ethernet pcap, micro- or nanosecond."""
    with open(path, "rb") as f:
        head = f.read(24)
        magic, = struct.unpack("<I", head[:4])
        if magic not in (NS_MAGIC, US_MAGIC) or struct.unpack("<I", head[20:24])[0] != 1:
            sys.exit(f"splittaps: {path}: not a little-endian Ethernet pcap")
        scale = 1 if magic == NS_MAGIC else 1000
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, frac, incl, orig = struct.unpack("<IIII", rec)
            yield sec * 1_000_000_000 + frac * scale, f.read(incl), orig


def from_server(frame):
    """True if the frame is sent from the lower port to the higher one."""
    ethertype, off = struct.unpack(">H", frame[12:14])[0], 14
    while ethertype in (0x8100, 0x88A8):
        ethertype, off = struct.unpack(">H", frame[off + 2:off + 4])[0], off + 4
    if ethertype == 0x0800:
        ihl, proto = (frame[off] & 15) * 4, frame[off + 9]
        l4 = off + ihl
        if struct.unpack(">H", frame[off + 6:off + 8])[0] & 0x1FFF:
            return False  # a later fragment: no ports
    elif ethertype == 0x86DD:
        proto, l4 = frame[off + 6], off + 40
    else:
        return False
    if proto not in (6, 17) or len(frame) < l4 + 4:
        return False
    sport, dport = struct.unpack(">HH", frame[l4:l4 + 4])
    return sport < dport


def tagged(frame, vlan):
    return frame[:12] + struct.pack(">HH", 0x8100, vlan) + frame[12:]


def copies(mode, frames, offset):
    """Yields (ts_ns, seq, frame, orig) at each capture point, not merged."""
    for seq, (ts, frame, orig) in enumerate(frames):
        server = from_server(frame)
        if mode == "split":
            yield ts, seq, tagged(frame, 20 if server else 10), orig + 4
            continue
        yield ts, seq, tagged(frame, 10), orig + 4
        if mode == "mirror" or not server:
            yield ts - offset if server else ts + offset, seq, tagged(frame, 20), orig + 4


def write_pcap(path, records):
    """Writes (ts_ns, seq, frame, orig) records as a nanosecond pcap."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", NS_MAGIC, 2, 4, 0, 0, 262144, 1))
        for ts, _seq, frame, orig in records:
            sec, ns = divmod(ts, 1_000_000_000)
            f.write(struct.pack("<IIII", sec, ns, len(frame), orig) + frame)


def merged(recs, offset):
    """The records in capture order: a copy is at most "offset" from its
    original, so none comes more than 2 * "offset" before one already read."""
    pending = []
    for rec in recs:
        heapq.heappush(pending, rec)
        while pending[0][0] + 2 * offset < rec[0]:
            yield heapq.heappop(pending)
    while pending:
        yield heapq.heappop(pending)


def main():
    args = sys.argv[1:]
    offset = 1000
    if "--offset-ns" in args:
        i = args.index("--offset-ns")
        offset = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 3 or args[0] not in ("split", "mirror", "mixed"):
        sys.exit(__doc__)
    mode, src, dst = args
    write_pcap(dst, merged(copies(mode, read_pcap(src), offset), offset))


if __name__ == "__main__":
    main()

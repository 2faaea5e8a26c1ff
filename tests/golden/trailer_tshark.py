#!/usr/bin/env python3
"""Timestamp trailers of tap aggregators: test captures, and tshark's reading.

usage: trailer_tshark.py write OUT.pcap --kind KIND [--seed N] [--count N]
       trailer_tshark.py tshark IN.pcap --kind KIND

KIND is metamako, exablaze, ixia or vss (the names cs_trailer_kind_parse()
takes, src/packet/trailer.h).

write:  a pcap (microsecond, LINKTYPE_ETHERNET) of COUNT (default 300)
        Ethernet/IPv4/UDP frames, each with a random trailer of KIND after
        the IP packet, as the tap appends it: short frames are padded to 60
        bytes first, and the frame's FCS is not captured. The UDP payload is
        0 to 120 bytes, so about one frame in six is padded. One frame in
        twenty has no trailer at all. Trailer times are within a few days of
        now and each record's pcap time is within a second of its trailer's
        (tshark rejects a Metamako, Exablaze or VSS trailer more than a week
        or 30 days from the pcap time). Per kind:
          metamako  the 16-byte base form and forms with 1 to 3 extension
                    TLVs (sequence number, sub-nanoseconds, a 2-word unknown
                    tag, a secondary-header tag), both values of the
                    original-FCS-valid flag, device and port at random;
          exablaze  16 bytes, device and port 8-bit, a 40-bit fraction;
          ixia      15 bytes, clock source 3 to 7, the checksum right;
          vss       8 bytes of time, plus a 1- or 2-byte port stamp or none
                    (tshark 4.0 decodes no 2-byte stamp: those frames print
                    null, and capstream's reader finds none either).
        Reproducible for a given --seed.

tshark: runs tshark (Debian's 4.0) on IN.pcap with only KIND's heuristic
        trailer dissector enabled and prints one JSON line per frame:
          {"frame": N, "ts_ns": T, "device": D, "port": P}
        T is the trailer's time in ns since the epoch; D and P are null
        where the format has none (Ixia: both; VSS: device) and all three
        are null where tshark found no trailer. tshark dissects the trailer
        after the payload, so a payload dissector that throws loses it; the
        frames' UDP payload is a fixed text for that reason.
"""
import argparse
import json
import os
import random
import struct
import subprocess
import sys
import time
import zlib

KINDS = {
    # kind: (tshark 4.0's heuristic short name, time field, device field, port field);
    # the short names end in "_eth" ("tshark -G heuristic-decodes" shows the protocols)
    "metamako": ("metamako_eth", "metamako.time", "metamako.srcdevice", "metamako.srcport"),
    "exablaze": ("exablaze_eth", "exablaze.timestamp", "exablaze.device", "exablaze.port"),
    "ixia": ("ixiatrailer_eth", "ixiatrailer.timestamp", None, None),
    "vss": ("vssmonitoring_eth", "vssmonitoring.time", None, "vssmonitoring.srcport"),
}

ETH_MIN = 60  # bytes of an Ethernet frame without its FCS
PAYLOAD = b"capstream trailer test. "


def ip_checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_frame(rng):
    """An Ethernet/IPv4/UDP frame, padded to 60 bytes when short."""
    # A fixed text, not random bytes: a random payload now and then looks like some
    # protocol to one of tshark's UDP heuristics (Thrift), whose dissector then throws
    # before the Ethernet trailer is dissected, so tshark reports no trailer.
    payload = (PAYLOAD * 8)[:rng.randint(0, 120)]
    udp = struct.pack("!HHHH", rng.randint(1024, 65535), rng.randint(1, 65535),
                      8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), rng.getrandbits(16), 0x4000,
                     64, 17, 0, bytes([10, 0, 0, rng.randint(1, 254)]),
                     bytes([10, 1, 0, rng.randint(1, 254)]))
    ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
    eth = bytes.fromhex("020000000001020000000002") + b"\x08\x00"
    frame = eth + ip + udp
    return frame + b"\0" * max(0, ETH_MIN - len(frame))


def fcs(frame):
    return struct.pack("<I", zlib.crc32(frame) & 0xFFFFFFFF)


def metamako_tlvs(rng):
    """0 to 3 extension TLVs, in frame order (the last one sits just before the seconds)."""
    n = rng.choice([0, 0, 1, 1, 2, 3])
    tlvs = []  # walking order: first = nearest the seconds
    for i in range(n):
        last = 0x20 if i == n - 1 else 0
        choice = rng.randrange(4)
        if choice == 0:  # sequence number: tag 0, no extra words, value inline
            tlvs.append(struct.pack("!BHB", 0, rng.getrandbits(16), 0 | last))
        elif choice == 1:  # sub-nanoseconds: tag 1, 24-bit inline fraction
            tlvs.append(struct.pack("!I", (rng.getrandbits(24) << 8) | last | 1))
        elif choice == 2:  # an unknown tag 5 with 2 extra words before its header
            words = bytes(rng.getrandbits(8) for _ in range(8))
            tlvs.append(words + struct.pack("!I", (rng.getrandbits(24) << 8) | (2 << 6) | last | 5))
        else:  # secondary tag header: tag 0x1F, 10-bit length-1, 16-bit tag extension
            extra = rng.randint(0, 2)  # words after the header = extra + 1
            words = bytes(rng.getrandbits(8) for _ in range(4 * (extra + 1)))
            tlvs.append(words + struct.pack("!I", (rng.randint(1, 9) << 16) | (extra << 6) | last | 0x1F))
    return b"".join(reversed(tlvs))


def metamako(rng, frame, ts):
    tlvs = metamako_tlvs(rng)
    flags = (0x02 if tlvs else 0) | rng.choice([0, 1])
    tail = struct.pack("!IIBHB", ts // 10**9, ts % 10**9, flags, rng.getrandbits(16),
                       rng.getrandbits(8))
    return fcs(frame) + tlvs + tail


def exablaze(rng, frame, ts):
    sec, ns = divmod(ts, 10**9)
    frac = rng.getrandbits(40)  # the time is what the fraction says
    return fcs(frame) + struct.pack("!BBI", rng.getrandbits(8), rng.getrandbits(8), sec) + \
        frac.to_bytes(5, "big") + b"\0"


def ixia(rng, frame, ts):
    body = struct.pack("!BBIIB", rng.randint(3, 7), 8, ts // 10**9, ts % 10**9, 10) + b"\xaf\x12"
    return body + struct.pack("!H", ip_checksum(body))


def vss(rng, frame, ts):
    clksrc = rng.randrange(4)
    out = struct.pack("!II", ts // 10**9, (clksrc << 30) | (ts % 10**9))
    stamp = rng.choice([0, 1, 2])
    if stamp == 1:
        out += struct.pack("!B", rng.getrandbits(8))
    elif stamp == 2:
        out += struct.pack("!H", rng.getrandbits(16))
    return out


BUILDERS = {"metamako": metamako, "exablaze": exablaze, "ixia": ixia, "vss": vss}


def write(path, kind, seed, count):
    rng = random.Random(seed)
    base = (int(time.time()) - rng.randint(0, 3 * 86400)) * 10**9
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(count):
            ts = base + i * 10**6 + rng.getrandbits(20)
            frame = udp_frame(rng)
            if rng.randrange(20):
                frame += BUILDERS[kind](rng, frame, ts)
            cap_ts = ts + rng.randint(0, 10**9 - 1)
            f.write(struct.pack("<IIII", cap_ts // 10**9, cap_ts % 10**9 // 1000, len(frame),
                                len(frame)))
            f.write(frame)


def ns_of_abs(text):
    """tshark 4.0's absolute time in UTC ("Jan  2, 2024 10:00:00.123456789 UTC") to ns."""
    stamp, _, frac = text.rsplit(" ", 1)[0].partition(".")
    t = time.strptime(stamp, "%b %d, %Y %H:%M:%S")
    import calendar
    return calendar.timegm(t) * 10**9 + int((frac + "000000000")[:9])


def run_tshark(path, kind):
    heur, *fields = KINDS[kind]
    cmd = ["tshark", "-n", "-r", path, "-T", "fields", "-E", "separator=\t",
           "-E", "occurrence=f", "-e", "frame.number"]
    for other, _, _, _ in KINDS.values():
        cmd += ["--enable-heuristic" if other == heur else "--disable-heuristic", other]
    for fld in fields:
        if fld:
            cmd += ["-e", fld]
    env = dict(os.environ, TZ="UTC")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    for line in out.splitlines():
        cols = line.split("\t")
        vals = iter(cols[1:])
        row = {"frame": int(cols[0]), "ts_ns": None, "device": None, "port": None}
        t = next(vals)
        if t:
            row["ts_ns"] = ns_of_abs(t)
            for key, fld in (("device", fields[1]), ("port", fields[2])):
                if fld:
                    v = next(vals)
                    row[key] = int(v) if v else None
        print(json.dumps(row))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cmd", choices=["write", "tshark"])
    ap.add_argument("pcap")
    ap.add_argument("--kind", required=True, choices=sorted(KINDS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=300)
    a = ap.parse_args()
    if a.cmd == "write":
        write(a.pcap, a.kind, a.seed, a.count)
    else:
        run_tshark(a.pcap, a.kind)
    return 0


if __name__ == "__main__":
    sys.exit(main())

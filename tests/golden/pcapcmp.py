#!/usr/bin/env python3
"""Compare capstream's query output with a reference pcap written by tcpdump.

usage: pcapcmp.py OURS.pcap REFERENCE.pcap [--after NS] [--before NS] [--time-merge]
       pcapcmp.py --batch MANIFEST   (lines: OURS REF AFTER BEFORE MODE LABEL...,
                                      MODE "exact" or "time-merge";
                                      prints "N passed, M failed")

OURS must be a nanosecond pcap. REFERENCE is what
`tcpdump -r ORIGINAL -w REFERENCE FILTER` kept (in file order, any
precision), filtered to [after, before). Every packet must match, in the
same order: timestamp in ns, caplen, wirelen and bytes. The order is the
capture's exactly, ties of timestamps and timestamps that go backwards
included: that is the order the tap saw.

With --time-merge (a store filled by more than one ingest, compared with
mergecap's merge of the captures: the store interleaves ingests by time),
REFERENCE is sorted by timestamp and packets of one timestamp are compared
as a set. Exits 1 on the first difference, printing it.
"""
import struct
import sys


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise SystemExit("%s: too short for a pcap" % path)
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        end = "<"
    else:
        end = ">"
        magic = struct.unpack(">I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        raise SystemExit("%s: not a pcap file" % path)
    scale = 1 if magic == 0xA1B23C4D else 1000
    linktype = struct.unpack(end + "I", data[20:24])[0]
    pkts, off = [], 24
    while off + 16 <= len(data):
        sec, frac, caplen, wirelen = struct.unpack(end + "IIII", data[off:off + 16])
        body = data[off + 16:off + 16 + caplen]
        if len(body) < caplen:
            raise SystemExit("%s: truncated record at %d" % (path, off))
        pkts.append((sec * 10**9 + frac * scale, caplen, wirelen, body))
        off += 16 + caplen
    return magic, linktype, pkts


def compare(ours_path, ref_path, after, before, time_merge=False):
    """Returns None when equal, else a sentence saying what differs."""
    magic, _, ours = read_pcap(ours_path)
    if magic != 0xA1B23C4D:
        return "%s is not a nanosecond pcap" % ours_path
    _, _, ref = read_pcap(ref_path)
    ref = [p for p in ref if after <= p[0] < before]
    if len(ours) != len(ref):
        return "%d packets, tcpdump kept %d" % (len(ours), len(ref))
    if not time_merge:
        for i, (a, b) in enumerate(zip(ours, ref)):
            if a != b:
                return ("packet %d differs: ours ts=%d len=%d/%d, tcpdump ts=%d len=%d/%d"
                        % (i, a[0], a[1], a[2], b[0], b[1], b[2]))
        return None
    ref.sort(key=lambda p: p[0])
    for i in range(1, len(ours)):
        if ours[i][0] < ours[i - 1][0]:
            return "packet %d is out of timestamp order" % i
    i = 0
    while i < len(ours):
        j = i
        while j < len(ours) and ours[j][0] == ours[i][0]:
            j += 1
        a_group, b_group = sorted(ours[i:j]), sorted(ref[i:j])
        for k, (a, b) in enumerate(zip(a_group, b_group)):
            if a != b:
                return ("packet %d differs: ours ts=%d len=%d/%d, tcpdump ts=%d len=%d/%d"
                        % (i + k, a[0], a[1], a[2], b[0], b[1], b[2]))
        i = j
    return None


def batch(manifest):
    passed = failed = 0
    for line in open(manifest):
        ours, ref, after, before, mode, label = line.rstrip("\n").split("\t", 5)
        why = compare(ours, ref, int(after), int(before), mode == "time-merge")
        if why is None:
            passed += 1
        else:
            failed += 1
            print("FAIL: %s: %s" % (label, why), file=sys.stderr)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def main():
    args = sys.argv[1:]
    if args[:1] == ["--batch"]:
        return batch(args[1])
    after, before = -(2**63), 2**63
    if "--after" in args:
        i = args.index("--after")
        after = int(args[i + 1])
        del args[i:i + 2]
    if "--before" in args:
        i = args.index("--before")
        before = int(args[i + 1])
        del args[i:i + 2]
    time_merge = "--time-merge" in args
    if time_merge:
        args.remove("--time-merge")
    ours_path, ref_path = args
    why = compare(ours_path, ref_path, after, before, time_merge)
    if why is not None:
        print("FAIL: " + why)
        return 1
    return 0

if __name__ == "__main__":
    sys.exit(main())

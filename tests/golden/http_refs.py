#!/usr/bin/env python3
"""http_refs.py CAPSTREAM STORE CAPTURE - every stored HTTP message names
every packet that carried its bytes, head and body (chunked bodies too).

The oracle is tshark: an HTTP PDU it dissects in frame F was reassembled
from the frames in F's tcp.segment list (or is F alone). Our message with
the same first packet (capture time and length) must list exactly those
packets (`capstream show --json`: ts_ns and caplen of each). Prints
"messages compared N" and exits 1 listing the first differences; a
message tshark sees whose first packet starts no message of ours, or
starts several, is left out (the decoders' agreement with tshark is
tested elsewhere).
"""
import json
import subprocess
import sys
from decimal import Decimal


def tshark(capture, *args):
    out = subprocess.run(["tshark", "-r", capture, "-T", "fields", "-E", "separator=\t"]
                         + list(args), capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def main(binary, store, capture):
    frames = {}
    for num, epoch, caplen in tshark(capture, "-e", "frame.number", "-e", "frame.time_epoch",
                                     "-e", "frame.cap_len"):
        frames[int(num)] = (int(Decimal(epoch) * 1_000_000_000), int(caplen))
    theirs = {}
    for num, segs in tshark(capture, "-Y", "http", "-e", "frame.number", "-e", "tcp.segment"):
        nums = [int(x) for x in segs.split(",")] if segs else [int(num)]
        pkts = sorted(frames[n] for n in nums)
        theirs.setdefault(pkts[0], []).append(pkts)
    listed = subprocess.run([binary, "messages", "-d", store, "--proto", "http", "--json"],
                            capture_output=True, text=True, check=True).stdout
    ours = {}
    for line in listed.splitlines():
        mid = json.loads(line)["id"]
        d = json.loads(subprocess.run([binary, "show", "-d", store, mid, "--json"],
                                      capture_output=True, text=True, check=True).stdout)
        pkts = sorted((p["ts_ns"], p["caplen"]) for p in d["packets"])
        ours.setdefault(pkts[0] if pkts else None, []).append((mid, pkts))
    compared, bad = 0, []
    for first, lists in theirs.items():
        if len(lists) != 1 or len(ours.get(first, [])) != 1:
            continue
        mid, pkts = ours[first][0]
        compared += 1
        if pkts != lists[0]:
            bad.append("%s: ours %d packets, tshark %d (missing %s, extra %s)"
                       % (mid, len(pkts), len(lists[0]),
                          sorted(set(lists[0]) - set(pkts))[:3],
                          sorted(set(pkts) - set(lists[0]))[:3]))
    print("%s: messages compared %d, differing %d" % (capture, compared, len(bad)),
          file=sys.stderr)
    for line in bad[:10]:
        print("  " + line, file=sys.stderr)
    return 1 if bad or compared == 0 else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))

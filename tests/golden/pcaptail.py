#!/usr/bin/env python3
"""pcaptail.py SRC N OUT: writes to OUT the global header of the classic pcap
SRC followed by its last N records, byte for byte (the packets a retention
budget or a full disk should have left in a store: the newest ones).
Either byte order; exits 1 on a file that is not a classic pcap."""
import struct
import sys


def main():
    src, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    d = open(src, "rb").read()
    magic = d[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        print("pcaptail: %s is not a classic pcap" % src, file=sys.stderr)
        return 1
    recs, off = [], 24
    while off + 16 <= len(d):
        caplen = struct.unpack(endian + "I", d[off + 8:off + 12])[0]
        recs.append(d[off:off + 16 + caplen])
        off += 16 + caplen
    kept = recs[len(recs) - n:] if n > 0 else []
    open(out, "wb").write(d[:24] + b"".join(kept))
    return 0


if __name__ == "__main__":
    sys.exit(main())

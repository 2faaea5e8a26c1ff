#!/usr/bin/env python3
"""Checks that a store's packets after a crash are what a crash may leave.

usage: flowprefix.py STORED.pcap ORIGINAL.pcap

The store writes each conversation to one flow partition, and each
partition's file reaches the disk in order, so after kill -9 every
conversation's stored packets must be the first packets of that
conversation in the capture - no more, no fewer in between - though the
partitions may have been cut at different points. "Conversation" is what
picks the partition (store/flowkey.c): VLAN ids, IP version, protocol and
both (address, port) endpoints in either direction; fragments by their
addresses only; anything else (ARP, ...) is one conversation. Exits 1 with
a sentence on the first violation.
"""
import struct
import sys

from pcapcmp import read_pcap


def conversation(frame):
    """The partition key of an Ethernet frame (a hashable tuple)."""
    off, vlans, etype = 12, [], None
    while off + 2 <= len(frame):
        etype = struct.unpack(">H", frame[off:off + 2])[0]
        if etype in (0x8100, 0x88A8) and off + 4 <= len(frame):
            vlans.append(struct.unpack(">H", frame[off + 2:off + 4])[0] & 0xFFF)
            off += 4
            continue
        off += 2
        break
    ip = frame[off:]
    if etype == 0x0800 and len(ip) >= 20:
        ihl = (ip[0] & 15) * 4
        proto, frag = ip[9], struct.unpack(">H", ip[6:8])[0]
        src, dst, l4 = ip[12:16], ip[16:20], ip[ihl:]
        fragment = (frag & 0x3FFF) != 0
    elif etype == 0x86DD and len(ip) >= 40:
        proto, src, dst, l4, fragment = ip[6], ip[8:24], ip[24:40], ip[40:], False
        if proto == 44 and len(l4) >= 8:
            proto, l4, fragment = l4[0], l4[8:], True
    else:
        return ("other",)
    sport = dport = 0
    if not fragment and proto in (6, 17, 132) and len(l4) >= 4:
        sport, dport = struct.unpack(">HH", l4[:4])
    ends = sorted([(src, sport), (dst, dport)])
    return (tuple(vlans[:2]), etype, proto, fragment, ends[0], ends[1])


def main():
    _, _, stored = read_pcap(sys.argv[1])
    _, _, original = read_pcap(sys.argv[2])
    by_conv = {}
    for p in original:
        by_conv.setdefault(conversation(p[3]), []).append(p)
    kept = {}
    for p in stored:
        kept.setdefault(conversation(p[3]), []).append(p)
    for conv, pkts in kept.items():
        first = by_conv.get(conv, [])[:len(pkts)]
        if sorted(pkts) != sorted(first):
            sys.exit("conversation %r: the %d stored packets are not its first %d"
                     % (conv[:3], len(pkts), len(pkts)))
    print("%d packets in %d conversations, each a prefix of its own" % (len(stored), len(kept)))


if __name__ == "__main__":
    main()

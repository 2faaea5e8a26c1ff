#!/usr/bin/env python3
"""Checks tools/gentrading.py's ground truth against what tshark reads in the
capture it wrote, so the truth the trading tests compare capstream with is
itself right.

    gentrading_check.py CAPTURE.pcap TRUTH.jsonl WORKDIR

From tshark's MoldUDP64 fields (session, sequence, count per packet, in
capture order) it recomputes, independently of the generator, every feed's
sequence gaps at every tap (the rule of the truth's "gap" kind) and the
re-request with its retransmission ("retrans"); from its SoupBinTCP fields
it counts the packets of each type per tap, connection and direction
("soup"). Each must equal the truth exactly. Exit 1 naming the first
difference of each kind.
"""
import collections
import json
import os
import subprocess
import sys

FEEDS = ("233.54.12.111:26477", "233.54.12.112:26478")
REREQ_PORT = "26500"
NO_BLOCKS = (0, 0xFFFF)  # heartbeat, end of session


def ts_ns(epoch):
    sec, _, frac = epoch.partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])


def tshark(pcap, decode_as, fields, dfilter):
    cmd = ["tshark", "-r", pcap, "-o", "tcp.reassemble_out_of_order:TRUE", "-T", "fields",
           "-E", "separator=\t", "-E", "aggregator=;"]
    for d in decode_as:
        cmd += ["-d", d]
    for f in fields:
        cmd += ["-e", f]
    cmd.append(dfilter)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def mold_rows(pcap):
    decode = ["udp.port==%s,moldudp64" % p for p in ("26477", "26478", REREQ_PORT)]
    fields = ["frame.time_epoch", "vlan.id", "ip.dst", "udp.srcport", "udp.dstport",
              "moldudp64.sequence", "moldudp64.count"]
    return tshark(pcap, decode, fields, "moldudp64")


def mold_truth(rows):
    """The gaps and re-requests the packets show, by the truth's rules."""
    expected, gaps, requests, answers = {}, [], {}, {}
    for epoch, tap, dst, sport, dport, seq, count in rows:
        tap, seq, count, ts = int(tap), int(seq), int(count), ts_ns(epoch)
        if dport == REREQ_PORT:
            requests[tap] = (seq, count, ts)
            continue
        if sport == REREQ_PORT:
            answers.setdefault(tap, ts)
            continue
        feed = "%s:%s" % (dst, dport)
        nxt = expected.get((tap, feed), 1)
        if seq > nxt:
            gaps.append((tap, feed, nxt, seq - nxt, ts))
        expected[(tap, feed)] = seq if count in NO_BLOCKS else max(nxt, seq + count)
    retrans = sorted((tap, r[0], r[1], r[2], answers.get(tap)) for tap, r in requests.items())
    return sorted(gaps), retrans


def soup_counts(pcap, workdir):
    """Per tap: tshark keys TCP conversations without the VLAN, so each
    tap's copy is split out first (tcpdump) and reassembled on its own."""
    decode = ["tcp.port==15000,soupbintcp", "tcp.port==15001,soupbintcp"]
    fields = ["tcp.srcport", "tcp.dstport", "soupbintcp.packet_type"]
    counts = collections.Counter()
    for tap in (101, 102):
        part = os.path.join(workdir, "tap%d.pcap" % tap)
        subprocess.run(["tcpdump", "-r", pcap, "-w", part, "vlan %d" % tap], check=True,
                       capture_output=True)
        for sport, dport, types in tshark(part, decode, fields, "soupbintcp"):
            client_port, direction = (sport, "in") if dport in ("15000", "15001") else (dport, "out")
            for t in filter(None, types.split(";")):
                counts[(tap, client_port, direction, t.strip("'"))] += 1
    return counts


def truth_records(path):
    gaps, retrans, soup = [], [], collections.Counter()
    for line in open(path):
        d = json.loads(line)
        if d["kind"] == "gap":
            gaps.append((d["tap"], d["feed"], d["first_seq"], d["count"], d["ts_ns"]))
        elif d["kind"] == "retrans":
            retrans.append((d["tap"], d["first_seq"], d["count"], d["req_ts_ns"],
                            d["resp_ts_ns"]))
        elif d["kind"] == "soup":
            client_port = d["conn"].split(">")[0].split(":")[1]
            soup[(d["tap"], client_port, d["dir"], d["type"])] += 1
    return sorted(gaps), sorted(retrans), soup


def first_difference(name, got, want):
    if got == want:
        print("%s: %d equal" % (name, len(want)))
        return 0
    if isinstance(want, collections.Counter):
        keys = sorted(set(got) | set(want))
        diff = [(k, got.get(k, 0), want.get(k, 0)) for k in keys if got.get(k) != want.get(k)]
    else:
        diff = [(g, w) for g, w in zip(got, want) if g != w] or [(len(got), len(want))]
    print("%s: tshark and the truth differ, first: %s" % (name, diff[0]))
    return 1


def main():
    pcap, truth, workdir = sys.argv[1], sys.argv[2], sys.argv[3]
    gaps, retrans = mold_truth(mold_rows(pcap))
    t_gaps, t_retrans, t_soup = truth_records(truth)
    bad = first_difference("moldudp64 gaps", gaps, t_gaps)
    bad |= first_difference("re-requests", retrans, t_retrans)
    bad |= first_difference("soupbintcp packets by type", soup_counts(pcap, workdir), t_soup)
    if not t_gaps or not t_retrans or not t_soup:
        print("the truth lacks gaps, re-requests or SoupBinTCP packets")
        bad = 1
    sys.exit(bad)


if __name__ == "__main__":
    main()

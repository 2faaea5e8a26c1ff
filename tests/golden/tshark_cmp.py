#!/usr/bin/env python3
"""Compare what capstream decoded from a capture with what tshark finds.

usage: tshark_cmp.py dns|fix|http CAPSTREAM STORE CAPTURE

dns:  every answered query's latency equals tshark's dns.time, as a multiset
      of (id, qname, latency_ns). A response reassembled from IP fragments is
      timed by tshark at its last fragment and by capstream at its first
      (the packet with its first byte), so tshark's time is moved back to
      the first fragment's.
fix:  the FIX messages' MsgTypes and ClOrdIDs equal tshark's FIX dissector's
      (multisets; tshark's copies of retransmitted segments left out).
http: the requests paired with a final response equal tshark's
      request/response links, as a multiset of "METHOD URI".
Prints the differences and exits 1 if there are any.
"""
import collections
import json
import subprocess
import sys


def tshark(capture, display, *fields):
    cmd = ["tshark", "-n", "-r", capture, "-Y", display, "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=\x1f"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def capstream(bin_, store, *args):
    out = subprocess.run([bin_, *args, "-d", store, "--json"], check=True,
                         capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def field(msg, name):
    for pair in msg["fields"]:
        if pair[0] == name:
            return pair[1]
    return None


def ns_of(seconds):
    whole, _, frac = seconds.partition(".")
    return int(whole) * 10**9 + int((frac + "000000000")[:9])


def frame_times(capture):
    return {int(n): ns_of(t) for n, t in tshark(capture, "", "frame.number",
                                                    "frame.time_epoch")}


def cmp_dns(bin_, store, capture):
    theirs = collections.Counter()
    times = frame_times(capture)
    for qid, name, t, num, f4, f6 in tshark(
            capture, "dns.flags.response == 1 && dns.time", "dns.id", "dns.qry.name",
            "dns.time", "frame.number", "ip.fragment", "ipv6.fragment"):
        frags = [int(x) for x in (f4 + "\x1f" + f6).split("\x1f") if x]
        shift = times[int(num)] - times[min(frags)] if frags else 0
        theirs[(int(qid, 16), name.split("\x1f")[0], ns_of(t) - shift)] += 1
    for qid, resp in tshark(capture, "dns", "dns.id", "dns.flags.response"):
        theirs[("message", int(qid, 16), resp == "1" or resp == "True")] += 1
    ours = collections.Counter()
    for m in capstream(bin_, store, "latency", "--pair", "dns"):
        qid, _, name = m["key"].partition(" ")
        ours[(int(qid), name, m["latency_ns"])] += 1
    for m in capstream(bin_, store, "messages", "--proto", "dns"):
        ours[("message", int(field(m, "id")), m["type"] == "response")] += 1
    return theirs, ours


def cmp_fix(bin_, store, capture):
    theirs = collections.Counter()
    for row in tshark(capture, "fix && !tcp.analysis.retransmission", "fix.MsgType",
                      "fix.ClOrdID"):
        for t in row[0].split("\x1f"):
            if t:
                theirs[("type", t)] += 1
        for c in (row[1].split("\x1f") if len(row) > 1 else []):
            if c:
                theirs[("clordid", c)] += 1
    ours = collections.Counter()
    for m in capstream(bin_, store, "messages", "--proto", "fix"):
        if m["type"]:
            ours[("type", m["type"])] += 1
        for pair in m["fields"]:
            if pair[0] == "11":
                ours[("clordid", pair[1])] += 1
    return theirs, ours


def cmp_http(bin_, store, capture):
    requests = {}
    for num, method, uri in tshark(capture, "http.request", "frame.number",
                                   "http.request.method", "http.request.uri"):
        requests[num] = list(zip(method.split("\x1f"), uri.split("\x1f")))
    theirs = collections.Counter()
    for req_in, code in tshark(capture, "http.response && http.response.code >= 200",
                               "http.request_in", "http.response.code"):
        for r in req_in.split("\x1f"):
            if r in requests and requests[r]:
                method, uri = requests[r][0]
                theirs["%s %s" % (method, uri)] += 1
    ours = collections.Counter(m["key"] for m in capstream(bin_, store, "latency", "--pair",
                                                              "http"))
    return theirs, ours


def main():
    mode, bin_, store, capture = sys.argv[1:5]
    theirs, ours = {"dns": cmp_dns, "fix": cmp_fix, "http": cmp_http}[mode](bin_, store,
                                                                          capture)
    missing = theirs - ours
    extra = ours - theirs
    if not theirs:
        print("FAIL: tshark found nothing to compare in %s" % capture)
        return 1
    if missing or extra:
        print("FAIL %s %s: %d of tshark's missing, %d extra" % (mode, capture,
              sum(missing.values()), sum(extra.values())))
        for k in list(missing)[:5]:
            print("  missing", k)
        for k in list(extra)[:5]:
            print("  extra  ", k)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

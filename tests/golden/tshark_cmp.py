#!/usr/bin/env python3
"""Compare what capstream decoded from a capture with what tshark finds.

usage: tshark_cmp.py dns|fix|http CAPSTREAM STORE CAPTURE

dns:  the same DNS messages (id, query/response) as tshark, and every
      answered query's latency equal to tshark's dns.time, as multisets.
      Over UDP, (id, qname, latency_ns): a response reassembled from IP
      fragments is timed by tshark at its last fragment and by capstream at
      its first (the packet with its first byte), so tshark's time is moved
      back to the first fragment's. Over TCP tshark times each message by
      the frame that completes it: each message's last_ts_ns must be that
      frame's time, and dns.time must equal resp_last_ts_ns minus the
      request message's last_ts_ns (= resp_last_ts_ns - req_ts_ns when the
      query is one frame); a response in several messages (zone transfer)
      is one measurement whose attached count and attached_last_ts_ns match
      tshark's later responses to the same query.
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


def split(value):
    return [x for x in value.split("\x1f")] if value else []


def tshark_dns_messages(capture):
    """One dict per DNS message tshark finds (several may share a frame):
    frame, tcp (bool), id, response (bool), name (first question or None),
    time (dns.time in ns or None), query_frame (dns.response_to or None)."""
    out = []
    for num, stream, qids, resps, names, times, tos, f4, f6 in tshark(
            capture, "dns", "frame.number", "tcp.stream", "dns.id", "dns.flags.response",
            "dns.qry.name", "dns.time", "dns.response_to", "ip.fragment", "ipv6.fragment"):
        qids, resps, names = split(qids), split(resps), split(names)
        times, tos = split(times), split(tos)
        answered = [i for i, r in enumerate(resps) if r in ("1", "True") ]
        for i, qid in enumerate(qids):
            m = {"frame": int(num), "tcp": stream != "", "id": int(qid, 16),
                 "response": resps[i] in ("1", "True"), "time": None, "query_frame": None,
                 "frags": [int(x) for x in split(f4) + split(f6)],
                 "name": names[i] if len(names) == len(qids) else (
                     names[0] if len(qids) == 1 and names else None)}
            if m["response"] and len(times) == len(answered):
                k = answered.index(i)
                m["time"], m["query_frame"] = ns_of(times[k]), int(tos[k])
            out.append(m)
    return out


def cmp_dns(bin_, store, capture):
    """Over UDP: latency_ns equals dns.time (moved back to the first IP
    fragment). Over TCP, where tshark times a message by the frame that
    completes it: dns.time equals resp_last_ts_ns minus the request
    message's last_ts_ns (both last-byte times; when the query is one frame
    that is resp_last_ts_ns - req_ts_ns), every message's last_ts_ns is the
    time of the frame tshark shows it in, and a response in several messages
    (zone transfer) is one measurement whose "attached" count and
    attached_last_ts_ns match tshark's later responses to the same query."""
    times = frame_times(capture)
    theirs = collections.Counter()
    firsts = {}
    for m in tshark_dns_messages(capture):
        if not m["tcp"]:
            theirs[("message", m["id"], m["response"])] += 1
        else:
            theirs[("tcp message", m["id"], m["response"], times[m["frame"]])] += 1
        if m["time"] is None:
            continue
        if not m["tcp"]:
            shift = times[m["frame"]] - times[min(m["frags"])] if m["frags"] else 0
            theirs[(m["id"], m["name"], m["time"] - shift)] += 1
            continue
        q = (m["query_frame"], m["id"])
        if q not in firsts:
            firsts[q] = m
            theirs[("tcp", m["id"], m["name"], m["time"])] += 1
        else:
            first = firsts[q]
            first["attached"] = first.get("attached", 0) + 1
            first["attached_time"] = max(first.get("attached_time", 0), m["time"])
    for first in firsts.values():
        if first.get("attached"):
            theirs[("attached", first["id"], first["attached"], first["attached_time"])] += 1

    tcp_flows = set()  # (src, dst) as capstream prints them, "1.2.3.4:53" / "[::1]:53"
    for src, src6, sport, dst, dst6, dport in tshark(capture, "tcp", "ip.src", "ipv6.src",
                                                     "tcp.srcport", "ip.dst", "ipv6.dst",
                                                     "tcp.dstport"):
        a = "%s:%s" % (src, sport) if src else "[%s]:%s" % (src6, sport)
        b = "%s:%s" % (dst, dport) if dst else "[%s]:%s" % (dst6, dport)
        tcp_flows.add((a, b))
    ours = collections.Counter()
    msgs = {}
    for m in capstream(bin_, store, "messages", "--proto", "dns"):
        msgs[m["id"]] = m
        if (m["src"], m["dst"]) in tcp_flows:
            ours[("tcp message", int(field(m, "id")), m["type"] == "response",
                  m["last_ts_ns"])] += 1
        else:
            ours[("message", int(field(m, "id")), m["type"] == "response")] += 1
    for m in capstream(bin_, store, "latency", "--pair", "dns"):
        qid, _, name = m["key"].partition(" ")
        if (m["src"], m["dst"]) not in tcp_flows:
            ours[(int(qid), name, m["latency_ns"])] += 1
            continue
        req_last = msgs[m["req_msg"]]["last_ts_ns"]
        ours[("tcp", int(qid), name, m["resp_last_ts_ns"] - req_last)] += 1
        if m["attached"]:
            ours[("attached", int(qid), m["attached"], m["attached_last_ts_ns"] - req_last)] += 1
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

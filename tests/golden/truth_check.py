#!/usr/bin/env python3
"""Compare capstream measurements with a gentraffic ground-truth file.

usage: truth_check.py MEASUREMENTS.jsonl TRUTH.jsonl [--pairs fix,http,dns]

Both files are JSON lines; only the fields pair, key, req_ts_ns and
resp_ts_ns are compared, as multisets (a measurement found twice must be in
the truth twice). Lines whose pair is not in --pairs are ignored. Prints the
counts, then up to 10 missing (in truth, not measured) and 10 extra
(measured, not in truth) entries; exits 1 on any difference, 2 on bad input.
"""
import argparse
import collections
import json
import sys


def load(path, pairs):
    out = collections.Counter()
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
                if r.get("pair") not in pairs:
                    continue
                out[(r["pair"], r["key"], int(r["req_ts_ns"]), int(r["resp_ts_ns"]))] += 1
            except (ValueError, KeyError, TypeError) as e:
                print("%s:%d: bad line (%s)" % (path, n, e), file=sys.stderr)
                sys.exit(2)
    return out


def show(title, counter):
    items = sorted(counter.elements())
    print("%s: %d" % (title, len(items)))
    for pair, key, req, resp in items[:10]:
        print("  %s %r req_ts_ns=%d resp_ts_ns=%d" % (pair, key, req, resp))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("measurements")
    ap.add_argument("truth")
    ap.add_argument("--pairs", default="fix,http,dns")
    a = ap.parse_args()
    pairs = set(p for p in a.pairs.split(",") if p)
    got = load(a.measurements, pairs)
    want = load(a.truth, pairs)
    missing = want - got
    extra = got - want
    print("truth %d, measured %d" % (sum(want.values()), sum(got.values())))
    show("missing", missing)
    show("extra", extra)
    return 1 if missing or extra else 0


if __name__ == "__main__":
    sys.exit(main())

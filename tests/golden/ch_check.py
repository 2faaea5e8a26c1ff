#!/usr/bin/env python3
"""ch_check.py - ClickHouse rows against the sensors' own `--json` output.

usage: ch_check.py KIND CH_ROWS SENSOR=JSONL [SENSOR=JSONL ...]

KIND is messages, measurements or gaps. CH_ROWS is the JSONEachRow output
of `SELECT * FROM table FINAL` (64-bit integers unquoted). Each JSONL is
what a sensor's `capstream messages|latency|gaps --json` printed. Passes
(exit 0) when the rows are, one for one, the union of the sensors' records
with "sensor" added: every member a record has is in its row with the same
value (true/false as 1/0, null as null), and the row's other columns hold
their defaults ("", 0, []), except req_tap/resp_tap which a row always has.
Each row must be there exactly once. Prints the first differences.
"""

import collections
import json
import sys

KEYS = {
    "messages": ("sensor", "id"),
    "measurements": ("sensor", "pair", "id", "resp_msg"),
    "gaps": ("sensor", "tap", "feed", "kind", "session", "first_seq", "ts_ns"),
}
ALWAYS = {"req_tap", "resp_tap"}


def norm(v):
    if v is True:
        return 1
    if v is False:
        return 0
    return v


def key_of(kind, row):
    return tuple(json.dumps(row.get(k)) for k in KEYS[kind])


def expected_rows(kind, specs):
    rows = []
    for spec in specs:
        sensor, path = spec.split("=", 1)
        for line in open(path):
            rec = json.loads(line)
            rec = {k: norm(v) for k, v in rec.items()}
            rec["sensor"] = sensor
            if kind == "measurements" and "req_tap" not in rec:
                rec["req_tap"] = rec["resp_tap"] = rec["tap"]
            rows.append(rec)
    return rows


def differences(want, got):
    out = []
    for k, v in want.items():
        if k not in got:
            out.append("column %s missing" % k)
        elif got[k] != v:
            out.append("%s: want %r got %r" % (k, v, got[k]))
    for k, v in got.items():
        if k not in want and k not in ALWAYS and v not in ("", 0, [], None):
            out.append("%s: want the default, got %r" % (k, v))
    return out


def main():
    kind, ch_path, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
    got = collections.defaultdict(list)
    n_got = 0
    for line in open(ch_path):
        row = json.loads(line)
        got[key_of(kind, row)].append(row)
        n_got += 1
    want = expected_rows(kind, specs)
    problems = []
    for w in want:
        rows = got.get(key_of(kind, w), [])
        if len(rows) != 1:
            problems.append("%s: %d rows in ClickHouse" % (key_of(kind, w), len(rows)))
            continue
        d = differences(w, rows[0])
        if d:
            problems.append("%s: %s" % (key_of(kind, w), "; ".join(d[:4])))
    if n_got != len(want):
        problems.append("%d rows in ClickHouse, %d records in the sensors" % (n_got, len(want)))
    if not want:
        problems.append("no records to compare")
    for p in problems[:8]:
        print("ch_check %s: %s" % (kind, p), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

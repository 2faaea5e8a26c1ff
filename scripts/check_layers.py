#!/usr/bin/env python3
"""check_layers.py - fails when a file of src/ includes a folder above its own.

usage: scripts/check_layers.py [SRCDIR]    (default: the src/ next to scripts/)

Every folder of src/ is a layer, and a layer may include only itself and the
layers before it in LAYERS, so the pipeline reads from the bottom up and no
two folders depend on each other (DESIGN.md, "Layers"). The script reads every
.c and .h file under SRCDIR, takes each `#include "FOLDER/..."` and compares
the rank of FOLDER with the rank of the file's own top folder (a decoder in
src/decode/fix/ is in layer "decode"). For each include that points up it
prints

    src/store/msgstore.h:44: store includes engine (engine/pipeline.h): engine is above store

and exits 1; exit 0 when every include points down or sideways, 2 on a usage
error. A folder of SRCDIR that LAYERS does not name is an error too, so a new
folder gets its place in the order before it gets code. System includes
(<...>) and includes without a folder are not layers and are ignored.
"""

import os
import re
import sys

# Lowest first. Each folder may include only itself and the folders before it.
LAYERS = [
    "core",  # allocation, errors, cursors, time, hashing: needs nothing
    "packet",  # the packet as captured and its dissection (link, IP, ports)
    "record",  # the record model: messages, measurements, ids, fields, JSON
    "source",  # where packets come from: AF_PACKET, capture files, synthetic
    "flow",  # flow table, IP reassembly, TCP reassembly
    "decode",  # protocol decoders: bytes of a flow -> messages (record/)
    "analytics",  # correlation, pairing, metrics, alerts over records
    "store",  # packets, records and metrics on disk, and their readers
    "export",  # records of the store sent on: ClickHouse (libcurl), with a durable cursor
    "engine",  # the one pass of ingest, reanalyze, run, demo: wires the above
    "server",  # the HTTP API, live stream, Prometheus over store and engine
    "hub",  # one API over many sensors: fan-out (libcurl), merges, ClickHouse lists
    "cli",  # the commands: parse options, call the engine, print
]

INCLUDE = re.compile(r'^\s*#\s*include\s+"([A-Za-z0-9_]+)/')


def layer_of(srcdir, path):
    """The top folder of "path" under "srcdir" (None for a file at its root)."""
    parts = os.path.relpath(path, srcdir).split(os.sep)
    return parts[0] if len(parts) > 1 else None


def source_files(srcdir):
    for root, dirs, files in os.walk(srcdir):
        dirs.sort()
        for name in sorted(files):
            if name.endswith((".c", ".h")):
                yield os.path.join(root, name)


def upward_includes(srcdir):
    """(file, line, own layer, included layer, included path) of each
    include that points up, and the folders LAYERS does not name."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    bad, unknown = [], set()
    for entry in sorted(os.listdir(srcdir)):
        if os.path.isdir(os.path.join(srcdir, entry)) and entry not in rank:
            unknown.add(entry)
    for path in source_files(srcdir):
        own = layer_of(srcdir, path)
        if own is None or own not in rank:
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = m.group(1)
                if target not in rank:
                    if os.path.isdir(os.path.join(srcdir, target)):
                        unknown.add(target)
                    continue
                if rank[target] > rank[own]:
                    included = line.split('"')[1]
                    bad.append((path, lineno, own, target, included))
    return bad, sorted(unknown)


def shown(path):
    """"path" as a user would type it: relative to here when inside."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in ("-h", "--help")):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    srcdir = argv[1] if len(argv) == 2 else os.path.join(here, "..", "src")
    if not os.path.isdir(srcdir):
        print(f"check_layers: {srcdir}: not a directory", file=sys.stderr)
        return 2
    bad, unknown = upward_includes(srcdir)
    for path, lineno, own, target, included in bad:
        print(f"{shown(path)}:{lineno}: {own} includes {target} ({included}): "
              f"{target} is above {own}")
    for name in unknown:
        print(f"{shown(os.path.join(srcdir, name))}: folder '{name}' has no place in "
              f"LAYERS (scripts/check_layers.py)")
    if bad or unknown:
        print(f"check_layers: {len(bad)} include(s) point up, "
              f"{len(unknown)} folder(s) without a layer; order: "
              + " -> ".join(LAYERS), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

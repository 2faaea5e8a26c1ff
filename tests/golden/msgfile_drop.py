#!/usr/bin/env python3
"""msgfile_drop.py FILE KIND PROTO_OR_PAIR - replaces a message store record
file with a copy that lacks the records of one protocol (KIND msg or unm) or
one pair (KIND lat), as a reanalysis that no longer yields them leaves it: a
new file renamed over the old one (another inode), the other records byte for
byte (frames are copied whole, checksums included). Layout: store/msgstore_format.c
(file: 8-byte magic, then frames of u32 n, u64 check, n bytes of payload; a
message's proto_len at +43 and its proto at +108, a measurement's pair_len at
+56 and its pair at +112). Prints the records kept and dropped."""
import os
import struct
import sys

path, kind, name = sys.argv[1], sys.argv[2], sys.argv[3].encode()
len_at, name_at = (56, 112) if kind == "lat" else (43, 108)
data = open(path, "rb").read()
out, kept, dropped, i = [data[:8]], 0, 0, 8
while i + 12 <= len(data):
    (n,) = struct.unpack_from("<I", data, i)
    frame = data[i:i + 12 + n]
    if len(frame) < 12 + n:
        break
    payload = frame[12:]
    if payload[name_at:name_at + payload[len_at]] == name:
        dropped += 1
    else:
        out.append(frame)
        kept += 1
    i += 12 + n
with open(path + ".drop", "wb") as f:
    f.write(b"".join(out))
os.rename(path + ".drop", path)
print(kept, dropped)

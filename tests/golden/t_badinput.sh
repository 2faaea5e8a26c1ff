# t_badinput.sh - bad input gets one clear error line and a non-zero exit,
# never a crash, and never damages what the store already holds.

S=$CS_TMP/store
"$CS_BIN" ingest -q -r "$PCAPS/zeek/http/get.pcap" -d "$S"
before=$("$CS_BIN" query -d "$S" --count)
check_eq "baseline count" 14 "$before"

printf 'this is not a capture file, just text\n' >"$CS_TMP/text.txt"
check_fails "text file" "not a capture" "$CS_BIN" ingest -r "$CS_TMP/text.txt" -d "$S"
: >"$CS_TMP/empty"
check_fails "empty file" "empty" "$CS_BIN" ingest -r "$CS_TMP/empty" -d "$S"
check_fails "missing file" "no such file|not found" "$CS_BIN" ingest -r "$CS_TMP/nope.pcap" -d "$S"

# Cut off inside a record: every complete packet is stored, the cut is named.
head -c 3000 "$PCAPS/zeek/http/get.pcap" >"$CS_TMP/cut.pcap"
complete=$(tcpdump -r "$CS_TMP/cut.pcap" 2>/dev/null | wc -l)
check_fails "truncated capture" "cut off.*byte" "$CS_BIN" ingest -r "$CS_TMP/cut.pcap" -d "$S"
after=$("$CS_BIN" query -d "$S" --count)
check_eq "complete packets before the cut are stored" "$((before + complete))" "$after"
before=$after

# A record whose length is absurd.
python3 - "$CS_TMP/absurd.pcap" <<'PY'
import struct, sys
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    f.write(struct.pack("<IIII", 1, 0, 60, 60) + bytes(60))
    f.write(struct.pack("<IIII", 2, 0, 0x7FFFFFFF, 0x7FFFFFFF) + bytes(100))
PY
check_fails "absurd record length" "record|length" "$CS_BIN" ingest -r "$CS_TMP/absurd.pcap" -d "$S"
# A link type field with reserved bits set (0x10093): no link type a
# packet can carry. (Every real link type is stored: t_linktypes.sh.)
python3 - "$CS_TMP/dlt.pcap" <<'PY'
import struct, sys
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 0x10093))
    f.write(struct.pack("<IIII", 1, 0, 20, 20) + bytes(20))
PY
check_fails "link type with reserved bits" "link type" "$CS_BIN" ingest -r "$CS_TMP/dlt.pcap" -d "$S"
after=$("$CS_BIN" query -d "$S" --count)
check_eq "failed ingests changed nothing" "$((before + 1))" "$after"
check "earlier data still queryable after failures" \
    "$CS_BIN" query -d "$S" --count "tcp port 80"

# The partition count is fixed when a store is created.
check_fails "zero partitions" "partitions" "$CS_BIN" ingest -r "$PCAPS/zeek/http/get.pcap" -d "$CS_TMP/p0" --partitions 0
check_fails "too many partitions" "partitions" "$CS_BIN" ingest -r "$PCAPS/zeek/http/get.pcap" -d "$CS_TMP/p0" --partitions 5000
check_fails "another partition count on an existing store" "partitions" \
    "$CS_BIN" ingest -r "$PCAPS/zeek/http/get.pcap" -d "$S" --partitions 3
check_eq "refused ingest changed nothing" "$after" "$("$CS_BIN" query -d "$S" --count)"

# Bad filters and times.
check_fails "bad filter" "filter" "$CS_BIN" query -d "$S" --count "host and and"
check_fails "unknown filter word" "filter" "$CS_BIN" query -d "$S" --count "frobnicate 3"
check_fails "bad time" "time|month" "$CS_BIN" query -d "$S" --after "2026-13-01T00:00:00Z" --count
check_fails "bad relative time" "time" "$CS_BIN" query -d "$S" --after "5 parsecs ago" --count
check_fails "after later than before" "after" "$CS_BIN" query -d "$S" --after 20 --before 10 --count

# Stores that are not stores, or cannot be written.
mkdir -p "$CS_TMP/notastore" && echo hello >"$CS_TMP/notastore/file"
check_fails "non-empty directory that is not a store" "not a capstream store" \
    "$CS_BIN" ingest -r "$PCAPS/zeek/http/get.pcap" -d "$CS_TMP/notastore"
check_fails "query on a directory that is not a store" "not a capstream store" \
    "$CS_BIN" query -d "$CS_TMP/notastore" --count
check_fails "store path is a file" "not a directory|not a capstream" \
    "$CS_BIN" query -d "$CS_TMP/notastore/file" --count
check_fails "missing store" "no store" "$CS_BIN" stats -d "$CS_TMP/missing"
check_fails "store cannot be created" "cannot create|permission|denied|not found" \
    "$CS_BIN" ingest -r "$PCAPS/zeek/http/get.pcap" -d /proc/capstream-store
if command -v setpriv >/dev/null && [ "$(id -u)" -eq 0 ]; then
    chmod 755 "$CS_TMP"
    check_fails "store not writable (as nobody)" "permission|cannot write|denied" \
        setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$CS_BIN" ingest -r "$PCAPS/zeek/http/get.pcap" -d "$S"
fi
check_eq "store intact after everything" "$after" "$("$CS_BIN" query -d "$S" --count)"
check_fails "unknown command" "unknown command" "$CS_BIN" frobnicate
check_fails "missing arguments" "required" "$CS_BIN" ingest -d "$S"

# Analysis bounds: when they bite, counters say so and nothing crashes.
check_fails "zero flows" "max-flows" "$CS_BIN" ingest -r "$PCAPS/zeek/http/get.pcap" -d "$CS_TMP/b" --max-flows 0
"$CS_BIN" ingest -r "$REPO/samples/trading-sample.pcap" -d "$CS_TMP/bounded" --max-flows 8 \
    --flow-buffer 2K --pair-timeout 1ms >"$CS_TMP/bounded.out" 2>&1
check_eq "ingest with tiny bounds succeeds" 0 "$?"
check "evictions are counted" grep -qE "flows \([1-9][0-9]* evicted\)" "$CS_TMP/bounded.out"
check_eq "every packet still stored" 6147 "$("$CS_BIN" query -d "$CS_TMP/bounded" --count)"

# t_layers.sh - scripts/check_layers.py keeps src/'s folders one-way: it
# passes on the real tree, and on a copy of it where one file includes a
# folder above its own it fails (exit 1), naming that file and line and
# the two folders; an unknown folder fails too. The copy shows the check
# can fail, so a passing run on src/ means something.

CHECK=$REPO/scripts/check_layers.py

check "src/ has no include that points up" "$CHECK" "$REPO/src"

# one upward include: the record model reaching for the store
cp -r "$REPO/src" "$CS_TMP/src"
line=$(grep -n '^#include' "$CS_TMP/src/record/message.c" | head -n 1 | cut -d: -f1)
sed -i "${line}a #include \"store/msgstore.h\"" "$CS_TMP/src/record/message.c"
"$CHECK" "$CS_TMP/src" >"$CS_TMP/out" 2>"$CS_TMP/err"
check_eq "an upward include fails the check" 1 "$?"
check "the failure names the file, its line and the two folders" \
    grep -q "src/record/message.c:$((line + 1)): record includes store (store/msgstore.h)" \
    "$CS_TMP/out"
check_eq "only that include is reported" 1 "$(grep -c ' includes ' "$CS_TMP/out")"

# a header, and a decoder's own subfolder, count as their top folder
sed -i '0,/^#include "core\/packet.h"/s//#include "core\/packet.h"\n#include "cli\/cli.h"/' \
    "$CS_TMP/src/packet/dissect.h"
mkdir -p "$CS_TMP/src/decode/newproto"
printf '#include "decode/decoder.h"\n#include "analytics/analyzer.h"\n' \
    >"$CS_TMP/src/decode/newproto/newproto.c"
"$CHECK" "$CS_TMP/src" >"$CS_TMP/out" 2>"$CS_TMP/err"
check_eq "three upward includes fail the check" 1 "$?"
check "a header including the cli is named" \
    grep -q "src/packet/dissect.h:[0-9]*: packet includes cli (cli/cli.h)" "$CS_TMP/out"
check "a decoder in a subfolder is in layer decode" \
    grep -q "src/decode/newproto/newproto.c:2: decode includes analytics (analytics/analyzer.h)" \
    "$CS_TMP/out"
check_eq "three includes reported" 3 "$(grep -c ' includes ' "$CS_TMP/out")"

# a folder the order does not know
rm -rf "$CS_TMP/src"
cp -r "$REPO/src" "$CS_TMP/src"
mkdir "$CS_TMP/src/plugins"
printf '#include "core/error.h"\n' >"$CS_TMP/src/plugins/plugins.c"
"$CHECK" "$CS_TMP/src" >"$CS_TMP/out" 2>"$CS_TMP/err"
check_eq "a folder without a layer fails the check" 1 "$?"
check "the folder is named" grep -q "folder 'plugins' has no place in LAYERS" "$CS_TMP/out"

"$CHECK" "$CS_TMP/nope" >"$CS_TMP/out" 2>"$CS_TMP/err"
check_eq "a missing folder is a usage error" 2 "$?"

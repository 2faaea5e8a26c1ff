# t_tls.sh - TLS on the API's listeners and verified HTTPS to ClickHouse,
# with a CA and certificates made here (openssl): a test CA, a server
# certificate it signs for IP 127.0.0.1 (subjectAltName), and an unrelated
# second CA.
#   - `run --tls-cert --tls-key --token-file` on loopback answers
#     /api/v1/status over HTTPS to a client trusting the test CA (and 401
#     without the token); a client trusting only the other CA fails the
#     handshake; a plain-HTTP request gets no HTTP answer at all;
#   - `serve` with the same certificate answers over HTTPS too, and a
#     `hub` (itself on HTTPS) over it reaches it with --tls-ca of the test
#     CA and refuses it, naming the certificate, with the other CA;
#   - off loopback, a token without TLS is refused (before any store is
#     made) unless --insecure, which then serves; --tls-cert without
#     --tls-key is a usage error; a missing, non-PEM or mismatched file is
#     a clear error naming it;
#   - a real ClickHouse (scripts/clickhouse.sh, HTTPS with the test
#     certificate): `export --tls-ca` with the test CA sends every record
#     (counted over its plain HTTP port); with the other CA, with the
#     system's CAs, or to a host name the certificate does not carry, the
#     export fails naming the TLS reason and nothing arrives.

X=$CS_TMP/tls
mkdir -p "$X"

if ! command -v openssl >/dev/null 2>&1; then
    fail "openssl is not installed (scripts/bootstrap.sh installs it)"
    return 0 2>/dev/null || exit 0
fi

# ---- a CA, a server certificate for 127.0.0.1, another CA ----------------
mkca() { # mkca NAME: self-signed CA NAME.pem with key NAME.key
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=capstream test $1" \
        -keyout "$X/$1.key" -out "$X/$1.pem" >/dev/null 2>&1
}
mkserver() {
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
        >"$X/srv.ext"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=capstream test server" \
        -keyout "$X/srv.key" -out "$X/srv.csr" >/dev/null 2>&1 &&
        openssl x509 -req -in "$X/srv.csr" -CA "$X/ca.pem" -CAkey "$X/ca.key" -set_serial 2 \
            -days 2 -extfile "$X/srv.ext" -out "$X/srv.pem" >/dev/null 2>&1
}
check "openssl makes the test CA" mkca ca
check "openssl makes an unrelated CA" mkca other
check "openssl makes a server certificate for 127.0.0.1 signed by the test CA" mkserver
check "the server certificate verifies against the test CA only" \
    bash -c "openssl verify -CAfile '$X/ca.pem' '$X/srv.pem' >/dev/null &&
             ! openssl verify -CAfile '$X/other.pem' '$X/srv.pem' >/dev/null 2>&1"

python3 "$GENTRAFFIC" "$X/f.pcap" --seconds 1 --scale 0.05 --seed 1 >/dev/null 2>&1
TOKEN=tls-token-$RANDOM$RANDOM
echo "$TOKEN" >"$X/token"
AUTH="Authorization: Bearer $TOKEN"

# https_wait URL [curl args]: until URL answers 200 with the test CA (10 s)
https_wait() {
    local url=$1
    shift
    for _ in $(seq 100); do
        curl -sf --cacert "$X/ca.pem" "$@" "$url" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# ---- run over HTTPS -------------------------------------------------------
PORT=$(free_port)
S=https://127.0.0.1:$PORT
"$CS_BIN" run -r "$X/f.pcap" -d "$X/s" --listen "127.0.0.1:$PORT" --tls-cert "$X/srv.pem" \
    --tls-key "$X/srv.key" --token-file "$X/token" >"$CS_TMP/run.out" 2>"$CS_TMP/run.err" &
RUN_PID=$!
check "run serves HTTPS with the test certificate ($(tail -c 300 "$CS_TMP/run.err"))" \
    https_wait "$S/api/v1/status" -H "$AUTH"
for _ in $(seq 100); do # until the replay is done: its counts are in the status
    code=$(curl -s --cacert "$X/ca.pem" -H "$AUTH" -o "$X/status.json" -w '%{http_code}' \
        "$S/api/v1/status")
    grep -q '"capturing":false' "$X/status.json" && break
    sleep 0.1
done
check_eq "GET /api/v1/status over HTTPS with the token" 200 "$code"
check "the status is JSON with the capture's counts" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["capture"]["packets"] > 0, s' "$X/status.json"
code=$(curl -s --cacert "$X/ca.pem" -o /dev/null -w '%{http_code}' "$S/api/v1/status")
check_eq "over HTTPS without the token: 401" 401 "$code"
curl -s --cacert "$X/other.pem" -H "$AUTH" -o "$X/other.body" "$S/api/v1/status"
check_eq "a client trusting only the other CA fails verification (curl exit 60)" 60 "$?"
check "and gets no body" test ! -s "$X/other.body"
code=$(curl -s -m 5 -H "$AUTH" -o "$X/plain.body" -w '%{http_code}' "http://127.0.0.1:$PORT/api/v1/status")
check_eq "plain HTTP to the TLS port gets no HTTP answer" 000 "$code"
check "and no body" test ! -s "$X/plain.body"
check "the log says the API is on https://" grep -q "API on https://127.0.0.1:$PORT/" "$CS_TMP/run.err"
daemon_stop "$RUN_PID"

# ---- serve over HTTPS -----------------------------------------------------
PORT=$(free_port)
"$CS_BIN" serve -d "$X/s" --listen "127.0.0.1:$PORT" --tls-cert "$X/srv.pem" \
    --tls-key "$X/srv.key" >"$X/serve.out" 2>"$X/serve.err" &
SERVE_PID=$!
check "serve answers /api/v1/status over HTTPS" https_wait "https://127.0.0.1:$PORT/api/v1/status"
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/v1/status")
check_eq "serve: plain HTTP to the TLS port gets no HTTP answer" 000 "$code"

# ---- a hub over the HTTPS sensor: verified with --tls-ca, itself on HTTPS ------
# hub_status CA_FOR_SENSORS: a hub (HTTPS) over the serve above; its /status
hub_status() {
    local hp
    hp=$(free_port)
    "$CS_BIN" hub --sensor "s=https://127.0.0.1:$PORT" --tls-ca "$1" --listen "127.0.0.1:$hp"         --tls-cert "$X/srv.pem" --tls-key "$X/srv.key" >"$X/hub.out" 2>&1 &
    HUB_PID=$!
    https_wait "https://127.0.0.1:$hp/api/v1/status" &&
        curl -s --cacert "$X/ca.pem" "https://127.0.0.1:$hp/api/v1/status"
    kill "$HUB_PID"
    wait "$HUB_PID" 2>/dev/null
}
hub_status "$X/ca.pem" >"$X/hub-ok.json"
check "a hub on HTTPS reaches the HTTPS sensor it verifies with --tls-ca" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["sensors"][0]["up"] and not j["partial"] and j["capture"]["packets"] > 0, j
' "$X/hub-ok.json"
hub_status "$X/other.pem" >"$X/hub-bad.json"
check "with an unrelated CA the hub refuses the sensor's certificate and says so" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
why = j["missing"][0]["why"]
assert j["partial"] and not j["sensors"][0]["up"] and "certificate" in why.lower(), j["missing"]
' "$X/hub-bad.json"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
check_eq "serve exits 0 on SIGTERM" 0 "$?"

# ---- the rules off loopback and bad TLS options ---------------------------
PORT=$(free_port)
check_fails "run: 0.0.0.0 with a token but without TLS is refused" \
    "not a loopback address.*--tls-cert and --tls-key, or --insecure" \
    "$CS_BIN" run -r "$X/f.pcap" -d "$X/s2" --listen "0.0.0.0:$PORT" --token-file "$X/token"
check "the refused run made no store" test ! -e "$X/s2"
check_fails "serve: 0.0.0.0 with a token but without TLS is refused" "tls-key, or --insecure" \
    "$CS_BIN" serve -d "$X/s" --listen "0.0.0.0:$PORT" --token-file "$X/token"
check_fails "demo: 0.0.0.0 with a token but without TLS is refused" "tls-key, or --insecure" \
    "$CS_BIN" demo --seconds 1 --listen "0.0.0.0:$PORT" --token-file "$X/token"
check_fails "run: 0.0.0.0 without a token is refused even with --insecure" "without --token-file" \
    "$CS_BIN" run -r "$X/f.pcap" -d "$X/s2" --listen "0.0.0.0:$PORT" --insecure

"$CS_BIN" run -r "$X/f.pcap" -d "$X/s3" --listen "0.0.0.0:$PORT" --token-file "$X/token" \
    --insecure >"$CS_TMP/run.out" 2>"$CS_TMP/run.err" &
RUN_PID=$!
ok=1
for _ in $(seq 100); do
    code=$(curl -s -H "$AUTH" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/v1/status")
    [ "$code" = 200 ] && ok=0 && break
    sleep 0.1
done
check "run: 0.0.0.0 with a token and --insecure serves plain HTTP ($(tail -c 300 "$CS_TMP/run.err"))" \
    test "$ok" = 0
daemon_stop "$RUN_PID"

"$CS_BIN" run -r "$X/f.pcap" -d "$X/s2" --tls-cert "$X/srv.pem" >/dev/null 2>"$X/err"
check_eq "run: --tls-cert without --tls-key is a usage error (exit 2)" 2 "$?"
check "and says so" grep -q -- "--tls-cert without --tls-key" "$X/err"
"$CS_BIN" serve -d "$X/s" --tls-key "$X/srv.key" >/dev/null 2>"$X/err"
check_eq "serve: --tls-key without --tls-cert is a usage error (exit 2)" 2 "$?"
"$CS_BIN" demo --seconds 1 --tls-cert "$X/srv.pem" >/dev/null 2>"$X/err"
check_eq "demo: --tls-cert without --tls-key is a usage error (exit 2)" 2 "$?"
PORT=$(free_port)
check_fails "run: a missing certificate file is an error naming it" \
    "tls-cert $X/missing.pem: No such file" \
    "$CS_BIN" run -r "$X/f.pcap" -d "$X/s4" --listen "127.0.0.1:$PORT" \
    --tls-cert "$X/missing.pem" --tls-key "$X/srv.key"
check_fails "run: a certificate file that is not PEM is an error naming it" \
    "tls-cert $X/srv.ext: not PEM" \
    "$CS_BIN" run -r "$X/f.pcap" -d "$X/s4" --listen "127.0.0.1:$PORT" \
    --tls-cert "$X/srv.ext" --tls-key "$X/srv.key"
check_fails "run: a key that is not the certificate's is an error naming both" \
    "tls-cert $X/srv.pem and --tls-key $X/other.key.*do not match" \
    "$CS_BIN" run -r "$X/f.pcap" -d "$X/s4" --listen "127.0.0.1:$PORT" \
    --tls-cert "$X/srv.pem" --tls-key "$X/other.key"
check_fails "serve: a missing key file is an error naming it" "tls-key $X/missing.key" \
    "$CS_BIN" serve -d "$X/s" --listen "127.0.0.1:$PORT" --tls-cert "$X/srv.pem" \
    --tls-key "$X/missing.key"

# ---- ClickHouse over HTTPS ------------------------------------------------
if ! command -v clickhouse-server >/dev/null 2>&1; then
    fail "clickhouse-server is not installed (scripts/bootstrap.sh installs it)"
    return 0 2>/dev/null || exit 0
fi
CH=$REPO/scripts/clickhouse.sh
HP=$(free_port) TP=$(free_port) IP=$(free_port) SP=$(free_port)
trap '"$CH" stop "$X/ch"' EXIT
check "ClickHouse starts with an HTTPS port and the test certificate ($(cat "$X/ch.out" 2>/dev/null))" \
    env CH_INTERSERVER_PORT="$IP" CH_HTTPS_PORT="$SP" CH_CERT="$X/srv.pem" CH_KEY="$X/srv.key" \
    "$CH" start "$X/ch" "$HP" "$TP"
check "ClickHouse answers HTTPS to a client trusting the test CA" \
    https_wait "https://127.0.0.1:$SP/?query=SELECT%201"
sql() { curl -sS "http://127.0.0.1:$HP/" --data-binary "$1"; }
"$CS_BIN" messages -d "$X/s" --json >"$X/s.msg"
"$CS_BIN" latency -d "$X/s" --json >"$X/s.lat"
check "the store has messages and measurements" test -s "$X/s.msg" -a -s "$X/s.lat"

U=https://127.0.0.1:$SP/tls
check_fails "export trusting only the other CA fails on the certificate" \
    "ClickHouse at https://127.0.0.1:$SP/: TLS: .*certificate.*--tls-ca $X/other.pem" \
    "$CS_BIN" export -d "$X/s" --to "clickhouse=$U" --tls-ca "$X/other.pem"
check_fails "export trusting the system's CAs fails on the certificate" \
    "TLS: .*certificate.*system's CAs" "$CS_BIN" export -d "$X/s" --to "clickhouse=$U"
check_fails "export to a host name the certificate does not carry fails" \
    "TLS: .*(subject name|host name|localhost)" \
    "$CS_BIN" export -d "$X/s" --to "clickhouse=https://localhost:$SP/tls" --tls-ca "$X/ca.pem"
check_eq "nothing reached ClickHouse from the refused exports" 0 \
    "$(sql "SELECT count() FROM system.databases WHERE name = 'tls'")"
check_fails "--tls-ca with a plain http:// URL is refused" "no certificate to verify" \
    "$CS_BIN" export -d "$X/s" --to "clickhouse=http://127.0.0.1:$HP/tls" --tls-ca "$X/ca.pem"
check_fails "a missing --tls-ca file is an error naming it" "tls-ca $X/missing.pem" \
    "$CS_BIN" export -d "$X/s" --to "clickhouse=$U" --tls-ca "$X/missing.pem"
check "export over HTTPS verified against --tls-ca succeeds" \
    "$CS_BIN" export -d "$X/s" --to "clickhouse=$U" --tls-ca "$X/ca.pem"
check_eq "every message arrived over HTTPS" "$(wc -l <"$X/s.msg")" \
    "$(sql "SELECT count() FROM tls.messages FINAL")"
check_eq "every measurement arrived over HTTPS" "$(wc -l <"$X/s.lat")" \
    "$(sql "SELECT count() FROM tls.measurements FINAL")"
check "ingest --export https:// --tls-ca sends as it stores" \
    "$CS_BIN" ingest -q -r "$X/f.pcap" -d "$X/i" --export "clickhouse=https://127.0.0.1:$SP/tlsi" \
    --tls-ca "$X/ca.pem"
check_eq "ingest's messages arrived over HTTPS" "$(wc -l <"$X/s.msg")" \
    "$(sql "SELECT count() FROM tlsi.messages FINAL")"
# ingest keeps what ClickHouse refused for a later export: a warning, exit 0
"$CS_BIN" ingest -q -r "$X/f.pcap" -d "$X/i2" --export "clickhouse=https://127.0.0.1:$SP/tlsi2" \
    --tls-ca "$X/other.pem" 2>"$X/err"
check "ingest --export with the other CA warns of the certificate, nothing sent" \
    grep -q "not sent yet (ClickHouse at https://127.0.0.1:$SP/: TLS: .*certificate" "$X/err"
check_eq "nothing reached ClickHouse from that ingest" 0 \
    "$(sql "SELECT count() FROM system.databases WHERE name = 'tlsi2'")"
"$CH" stop "$X/ch"
trap - EXIT

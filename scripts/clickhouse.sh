#!/usr/bin/env bash
# clickhouse.sh - runs Debian's clickhouse-server as an ordinary process on
# loopback, with its own data directory, for tests and the cluster demo.
#
#   scripts/clickhouse.sh start DIR HTTP_PORT TCP_PORT [SHARD_TCP_PORT ...]
#   scripts/clickhouse.sh stop DIR
#
# start writes DIR/config.xml and DIR/users.xml (every path inside DIR, the
# three ports on 127.0.0.1: HTTP, native TCP, and interserver: TCP_PORT + 1
# or $CH_INTERSERVER_PORT),
# starts the server in the background (pid in DIR/pid, log in DIR/log/)
# and waits until it answers `SELECT 1` on the HTTP port (at most 60 s).
# Each SHARD_TCP_PORT names one shard of the cluster "capstream" (one
# replica each, on 127.0.0.1), so a Distributed(capstream, ...) table can
# span several servers started this way. stop sends SIGTERM and waits.
# The default user has no password and accepts only loopback clients.
#
# HTTPS (optional): with CH_HTTPS_PORT, CH_CERT and CH_KEY set (a port and
# the PEM files of a certificate and its key), the server answers HTTPS on
# CH_HTTPS_PORT as well, with that certificate (<https_port> and
# <openSSL><server> of config.xml); the plain HTTP port stays, for start's
# own wait and for tests. Setting only some of the three is an error.
set -euo pipefail

die() {
    echo "clickhouse.sh: $*" >&2
    exit 1
}

server_bin() {
    command -v clickhouse-server 2>/dev/null || { [ -x /usr/bin/clickhouse ] && echo "/usr/bin/clickhouse server"; } ||
        die "clickhouse-server is not installed (apt-get install clickhouse-server)"
}

write_config() {
    local dir=$1 http=$2 tcp=$3
    shift 3
    local shards="" p
    [ $# -gt 0 ] || set -- "$tcp" # no shards given: a cluster of this server alone
    for p in "$@"; do
        shards+="<shard><replica><host>127.0.0.1</host><port>$p</port></replica></shard>"
    done
    local https=""
    if [ -n "${CH_HTTPS_PORT:-}" ]; then
        https="<https_port>$CH_HTTPS_PORT</https_port>
    <openSSL><server><certificateFile>$CH_CERT</certificateFile><privateKeyFile>$CH_KEY</privateKeyFile><verificationMode>none</verificationMode><loadDefaultCAFile>false</loadDefaultCAFile><cacheSessions>true</cacheSessions><disableProtocols>sslv2,sslv3</disableProtocols><preferServerCiphers>true</preferServerCiphers></server></openSSL>"
    fi
    cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/server.err.log</errorlog><size>100M</size><count>2</count></logger>
    <http_port>$http</http_port>
    $https
    <tcp_port>$tcp</tcp_port>
    <interserver_http_port>${CH_INTERSERVER_PORT:-$((tcp + 1))}</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <listen_host>127.0.0.1</listen_host>
    <max_connections>256</max_connections>
    <keep_alive_timeout>30</keep_alive_timeout>
    <max_concurrent_queries>64</max_concurrent_queries>
    <uncompressed_cache_size>1073741824</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <remote_servers><capstream>$shards</capstream></remote_servers>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
</yandex>
EOF
    cat >"$dir/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>4000000000</max_memory_usage><load_balancing>in_order</load_balancing></default></profiles>
    <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
EOF
}

# CH_HTTPS_PORT, CH_CERT and CH_KEY: all three or none; the files readable.
check_https() {
    [ -n "${CH_HTTPS_PORT:-}${CH_CERT:-}${CH_KEY:-}" ] || return 0
    [ -n "${CH_HTTPS_PORT:-}" ] && [ -n "${CH_CERT:-}" ] && [ -n "${CH_KEY:-}" ] ||
        die "HTTPS needs CH_HTTPS_PORT, CH_CERT and CH_KEY together"
    [ -r "$CH_CERT" ] || die "CH_CERT $CH_CERT is not readable"
    [ -r "$CH_KEY" ] || die "CH_KEY $CH_KEY is not readable"
    CH_CERT=$(cd "$(dirname "$CH_CERT")" && pwd)/$(basename "$CH_CERT")
    CH_KEY=$(cd "$(dirname "$CH_KEY")" && pwd)/$(basename "$CH_KEY")
}

start() {
    [ $# -ge 3 ] || die "usage: start DIR HTTP_PORT TCP_PORT [SHARD_TCP_PORT ...]"
    local dir http=$2 tcp=$3 bin i
    check_https
    mkdir -p "$1"
    dir=$(cd "$1" && pwd)
    shift 3
    mkdir -p "$dir/log" "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
    write_config "$dir" "$http" "$tcp" "$@"
    bin=$(server_bin)
    # shellcheck disable=SC2086 # "clickhouse server" is two words
    (cd "$dir" && exec $bin --config-file="$dir/config.xml" >"$dir/log/stdout" 2>&1) &
    echo $! >"$dir/pid"
    for i in $(seq 1 600); do
        if curl -sf "http://127.0.0.1:$http/?query=SELECT%201" >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$(cat "$dir/pid")" 2>/dev/null || die "server exited; see $dir/log/"
        sleep 0.1
    done
    die "server did not answer on port $http within 60 s; see $dir/log/"
}

stop() {
    local dir=$1 pid i
    [ -f "$dir/pid" ] || return 0
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/pid"
}

case "${1:-}" in
start) shift && start "$@" ;;
stop) shift && stop "$@" ;;
*) die "usage: $0 start DIR HTTP_PORT TCP_PORT [SHARD_TCP_PORT ...] | stop DIR" ;;
esac

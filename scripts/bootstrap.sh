#!/usr/bin/env bash
# Installs the Debian 12 packages that building and testing capstream need,
# that is every tool the Makefile and the tests run:
#   build      cc, ar, objdump (build-essential), pkg-config, the -dev libraries
#              (libcurl: the ClickHouse export's HTTP client),
#              clang with its runtime (the fuzz preset), python3 (scripts/embed.py),
#              npm (`npm ci` fetches uPlot for web/ and the browser tests' drivers)
#   tests      tcpdump, tshark, tcpreplay, ip and ss (iproute2), unshare, losetup,
#              mount and setpriv (util-linux), mkfs.ext4 (e2fsprogs), curl,
#              promtool (prometheus), chromium, firefox-esr, node (nodejs), git
#              (.ci/run clones the repository), clickhouse-server (the export's
#              tests start their own servers on loopback: scripts/clickhouse.sh),
#              openssl (t_tls makes its own CA and certificates)
# Runs `apt-get update` once, then one `apt-get install` of what is missing.
# Needs root (or sudo).
set -euo pipefail

PACKAGES=(
    build-essential pkg-config clang libclang-rt-14-dev
    libpcap-dev libjansson-dev libzstd-dev libcmocka-dev libmicrohttpd-dev libcurl4-openssl-dev
    tcpdump tshark python3 tcpreplay iproute2 curl prometheus chromium firefox-esr nodejs
    util-linux e2fsprogs git ca-certificates clickhouse-server openssl
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Debian's nodejs comes without npm, which is its own package; a nodejs
# from elsewhere (NodeSource's) carries npm and conflicts with Debian's, so
# the package goes in only when the command is missing.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "bootstrap: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

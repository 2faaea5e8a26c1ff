#!/usr/bin/env bash
# Installs the Debian packages that building and testing capstream need.
# Runs `apt-get update` once, then one `apt-get install`. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
    build-essential pkg-config clang libclang-rt-14-dev
    libpcap-dev libjansson-dev libzstd-dev libcmocka-dev libmicrohttpd-dev
    tcpdump tshark python3 tcpreplay iproute2 curl prometheus chromium firefox-esr nodejs
    util-linux e2fsprogs
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
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

#!/usr/bin/env bash
# Installs the Debian 12 packages Ironbark builds, tests and benchmarks with,
# when any is missing. Idempotent and quiet when nothing is needed.
set -euo pipefail
packages=(
  build-essential meson ninja-build pkg-config
  libjansson-dev libsqlite3-dev libcmocka-dev node-llhttp
  libcoap3-dev libcoap3-bin libwolfssl-dev libcjose-dev libssl-dev
  curl openssl python3 wrk clang libclang-rt-14-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

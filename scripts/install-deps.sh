#!/usr/bin/env bash
# Installs the Debian 12 packages Ironbark builds, tests and benchmarks with,
# and the npm packages of tests/interop, when any is missing. Idempotent and
# quiet when nothing is needed.
set -euo pipefail
packages=(
  build-essential meson ninja-build pkg-config
  libjansson-dev libsqlite3-dev libpq-dev postgresql libcmocka-dev node-llhttp libcbor-dev
  libcoap3-dev libcoap3-bin libwolfssl-dev libcjose-dev libssl-dev libc-ares-dev
  curl openssl python3 wrk clang libclang-rt-14-dev systemd iproute2
  python3-jwt python3-jwcrypto python3-cryptography python3-cbor2
  chromium chromium-driver python3-selenium
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js runs the CoAP interoperability drivers (tests/interop). Checked by
# command, not package: a nodejs from elsewhere (NodeSource) bundles npm and
# conflicts with Debian's npm package.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The npm CoAP libraries of the interop tests, into tests/interop/node_modules
# (never global), as package-lock.json pins them. Not `npm ci`: it refuses
# this tree because node-aead-crypto (an optional DTLS helper of
# node-coap-client, not needed for coap://) names platform packages the
# registry does not have; `install --no-save` follows the lock and leaves it
# unchanged. The stamp is the lock that was installed: nothing to do while it
# matches.
interop="$(cd "$(dirname "$0")/.." && pwd)/tests/interop"
stamp="$interop/node_modules/.installed-lock.json"
if ! cmp -s "$interop/package-lock.json" "$stamp"; then
  echo "installing: npm packages of tests/interop"
  npm install --prefix "$interop" --no-save --omit=optional --ignore-scripts --no-audit --no-fund \
    --loglevel=error >/dev/null
  cp "$interop/package-lock.json" "$stamp"
fi

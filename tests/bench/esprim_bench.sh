#!/usr/bin/env bash
# A sealed RETRIEVE (ESPrim) against a plain one in the same run, and the JWE
# seal+open rate (tests/bench/esprim_bench.c). Starts its own m2m-cse.
# Usage: tests/bench/esprim_bench.sh [build-dir] [requests]   (build in ./build)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
n=${2:-2000}
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
umask 077
printf 'esprim = true\nesprim-key = bench-k:%s:Cbench\nhttp-port = %s\ncoap-port = 0\ncoaps-port = 0\nhttps-port = 0\ndata-dir = %s\nlog-level = warn\n' \
    "$key" "$port" "$dir" > "$dir/cse.conf"
"$build/m2m-cse" --config "$dir/cse.conf" & pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
export M2M_URL="http://127.0.0.1:$port"
"$build/m2m" --from Cbench create cse-in --ty 2 --body '{"m2m:ae":{"rn":"bench","api":"Nb","rr":false,"srv":["3"]}}' >/dev/null
"$build/m2m" --from Cbench create cse-in/bench --ty 3 --body '{"m2m:cnt":{"rn":"c"}}' >/dev/null
"$build/tests/esprim_bench" "$M2M_URL" bench-k "$key" cse-in/bench/c Cbench "$n"

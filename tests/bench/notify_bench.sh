#!/usr/bin/env bash
# Notifications delivered per second: 1000 subscriptions on one container,
# N contentInstance creates, all to one keep-alive receiver.
# Usage: tests/bench/notify_bench.sh [subscriptions] [cin-creates]  (build in ./build)
set -euo pipefail
cd "$(dirname "$0")/../.."
export M2M_CSE=${M2M_CSE:-build/m2m-cse}
exec python3 tests/bench/notify_bench.py "${1:-1000}" "${2:-9}"

#!/usr/bin/env bash
# make bench: builds nothing itself (the Makefile's build target runs first),
# then measures the CSE against the hello-world baseline. See run.py --help.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 tests/bench/run.py "$@"

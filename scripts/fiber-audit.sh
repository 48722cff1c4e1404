#!/usr/bin/env bash
# Lists where the event loop still waits itself on PostgreSQL: runs the whole
# integration suite with every CSE's tree in PostgreSQL (meson test --setup
# postgresql) under the test setting IRONBARK_FIBER_AUDIT, which makes every
# m2m-cse append each new site of a wait outside a fiber (a database round
# trip, a fiber driven to its end; cse/base/loop_waits.h) with the test's
# name to one file; then prints each site with the tests that hit it.
# Not part of make test: a diagnosis, run when moving waits into fibers
# (docs/testing.md). Usage: scripts/fiber-audit.sh [builddir] [test ...]
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}; shift || true
out=$PWD/$build/fiber-audit.tsv
rm -f "$out"
ninja -C "$build" >/dev/null || { echo "build failed"; exit 1; }
IRONBARK_FIBER_AUDIT=$out meson test -C "$build" --setup postgresql --num-processes "${TEST_PROCS:-2}" \
  ${@:---suite integration} >"$build/fiber-audit.test.log" 2>&1
rc=$?
grep -E "^(Ok|Fail|Timeout):" "$build/fiber-audit.test.log"
python3 - "$out" <<'PY'
import collections, os, sys
sites = collections.defaultdict(set)
if os.path.exists(sys.argv[1]):
    for line in open(sys.argv[1]):
        test, kind, site = line.rstrip("\n").split("\t", 2)
        sites[(kind, site)].add(test)
print("%d sites of waits outside a fiber" % len(sites))
for (kind, site), tests in sorted(sites.items(), key=lambda kv: kv[0][1]):
    print("%s (%s)\n    %s" % (site, kind, ", ".join(sorted(tests))))
# The same by caller: the store call left out, three callers kept (one
# Reset, say, is a dozen store calls).
callers = collections.defaultdict(set)
for (kind, site), tests in sites.items():
    callers[" < ".join(site.split(" < ")[1:4]) or site].update(tests)
print("\n%d callers" % len(callers))
for caller, tests in sorted(callers.items()):
    print("%s\n    %s" % (caller, ", ".join(sorted(tests))))
PY
exit $rc

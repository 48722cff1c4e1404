#!/usr/bin/env bash
# Runs the whole suite twice: a normal build (its integration tests once more
# with the PostgreSQL store) and an ASan+UBSan build, then
# the fuzz targets for a short bounded time each (tests/fuzz/run.sh, clang
# build in build-fuzz/). Ends with one line "N passed, M failed" summed over
# all of them; each fuzz target's run counts as one test.
set -uo pipefail
cd "$(dirname "$0")/.."
total_pass=0; total_fail=0
# One line per failed test, printed again just before the final count: CI
# keeps only the tail of what this prints, and a failure must be named there.
failures=()
# Tests at a time. The integration tests mostly wait (on timers, on the
# network, on the CSE), so the 2 cores CI has sit about half idle with 2
# at a time (load average ~1): 4 keeps them busy. TEST_PROCS overrides.
procs=${TEST_PROCS:-4}
# setup: a meson test setup (tests/meson.build) and the suite it runs; its
# logs are <dir>.<setup>.test.log and testlog-<setup>.json.
setup=""; suite=""
run_suite() {  # name builddir [meson setup args...]
  local name=$1 dir=$2 started=$SECONDS; shift 2
  local log="$dir${setup:+.$setup}.test.log" json="$dir/meson-logs/testlog${setup:+-$setup}.json"
  local args=(${setup:+--setup "$setup"} ${suite:+--suite "$suite"})
  if [ ! -d "$dir" ]; then meson setup "$dir" "$@" >/dev/null || { echo "$name: setup failed"; failures+=("FAILED $name: meson setup"); total_fail=$((total_fail+1)); return; }; fi
  if ! ninja -C "$dir" >"$dir.ninja.log" 2>&1; then
    cat "$dir.ninja.log"; echo "$name: build failed"; failures+=("FAILED $name: build"); total_fail=$((total_fail+1)); return
  fi
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    meson test -C "$dir" --print-errorlogs --num-processes "$procs" "${args[@]}" >"$log" 2>&1
  cat "$log" | grep -E "^ *[0-9]+/[0-9]+ |^(Ok|Fail|Skipped|Timeout|Expected)" || true
  # Count individual TAP results from meson's JSON log; name each failed test
  # with its first "not ok" line (or its result when it printed none).
  local counts
  counts=$(python3 - "$json" "$name" <<'PY'
import json, sys, re
p = f = 0
named = []
for line in open(sys.argv[1]):
    t = json.loads(line)
    out = t.get("stdout", "") or ""
    oks = len(re.findall(r"^ok \d+", out, re.M))
    # a "not ok" line with the diagnostic line that follows it, if any
    bad = [m.group(0).replace("\n", " | ")
           for m in re.finditer(r"^not ok \d+.*(?:\n#.*)?", out, re.M)]
    noks = len(bad)
    if t.get("result") not in ("OK", "EXPECTEDFAIL") and noks == 0:
        noks = 1  # crashed, timed out, or failed without a TAP line
        bad = [f"{t.get('result')} after {oks} ok (exit {t.get('returncode')})"]
    if noks:
        named.append(f"FAILED {sys.argv[2]}/{t.get('name')}: {bad[0][:240]}")
    p += oks; f += noks
for n in named[:10]:
    print(n)
print(p, f)
PY
)
  local p f
  read -r p f <<<"$(tail -n 1 <<<"$counts")"
  p=${p:-0}; f=${f:-1}  # an unreadable log counts as a failure
  while IFS= read -r l; do [ -n "$l" ] && failures+=("$l"); done < <(head -n -1 <<<"$counts")
  echo "$name: $p passed, $f failed ($((SECONDS-started)) s)"
  total_pass=$((total_pass+p)); total_fail=$((total_fail+f))
}
# The fuzz stage: tests/fuzz/run.sh prints one TAP line per target.
run_fuzz() {
  local started=$SECONDS
  # 12 s per target here (run.sh's own default is 20): the whole of make test
  # stays under 20 minutes on 2 cores now that the integration suite also
  # runs on PostgreSQL. FUZZ_SECONDS overrides.
  FUZZ_SECONDS=${FUZZ_SECONDS:-12} tests/fuzz/run.sh >build-fuzz.test.log 2>&1
  local rc=$?
  grep -E "^(ok|not ok) |^# " build-fuzz.test.log || true
  local p f
  p=$(grep -c "^ok " build-fuzz.test.log)
  f=$(grep -c "^not ok " build-fuzz.test.log)
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then cat build-fuzz.test.log; f=1; fi
  echo "fuzz: $p passed, $f failed ($((SECONDS-started)) s)"
  total_pass=$((total_pass+p)); total_fail=$((total_fail+f))
}
run_suite plain build
# The integration suite of the plain build again, every CSE's tree in
# PostgreSQL (a private server per test process, tests/integration/pg_server.py).
setup=postgresql suite=integration run_suite postgresql build
run_suite asan build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
run_fuzz
for l in "${failures[@]}"; do echo "$l"; done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]

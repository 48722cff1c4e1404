#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, build-fuzz/) and runs each for a
# bounded time from its corpus (tests/fuzz/corpus/<target>/, crash
# reproducers included). Prints TAP, one result per target; exits non-zero
# when any target crashed, leaked, timed out or failed to build.
#   FUZZ_SECONDS   time per target (default 20)
#   FUZZ_BUILD     build directory (default build-fuzz)
#   FUZZ_TARGETS   targets to run (default: all, in the order below)
#   FUZZ_JOBS      targets run at once (default 2)
# New inputs found go to $FUZZ_BUILD/fuzz-work/<target>/ (not the tree);
# a crashing input is kept as $FUZZ_BUILD/fuzz-artifacts/<target>-crash-*.
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-20}
build=${FUZZ_BUILD:-build-fuzz}
targets=(${FUZZ_TARGETS:-fuzz_http fuzz_coap fuzz_coap_block fuzz_body fuzz_query fuzz_san fuzz_cbor fuzz_token fuzz_jose fuzz_esprim fuzz_mef fuzz_maf fuzz_ppm fuzz_console})
declare -A dict=([fuzz_http]=http [fuzz_coap]=coap [fuzz_body]=body [fuzz_query]=query)

echo "1..${#targets[@]}"
fail_all() {  # reason
    local i=0
    for t in "${targets[@]}"; do i=$((i+1)); echo "not ok $i - $t: $1"; done
    exit 1
}
if [ ! -d "$build" ]; then
    command -v clang >/dev/null || fail_all "clang is not installed (scripts/install-deps.sh)"
    CC=clang meson setup "$build" -Dfuzz=true >"$build.setup.log" 2>&1 ||
        { cat "$build.setup.log"; rm -rf "$build"; fail_all "meson setup failed"; }
fi
if ! ninja -C "$build" "${targets[@]/#/tests/fuzz/}" >"$build.ninja.log" 2>&1; then
    tail -40 "$build.ninja.log"
    fail_all "build failed"
fi

# Two targets at a time (libFuzzer uses one core each; CI has two), results
# printed in the list's order.
jobs=${FUZZ_JOBS:-2}
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-work"
run_one() {  # target
    local t=$1 name=${1#fuzz_}
    local work="$build/fuzz-work/$name" log="$build/fuzz-work/$1.log"
    mkdir -p "$work" tests/fuzz/corpus/"$name"
    local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
                -artifact_prefix="$build/fuzz-artifacts/$t-")
    [ -n "${dict[$t]:-}" ] && args+=(-dict=tests/fuzz/dict/"${dict[$t]}".dict)
    local start=$(date +%s)
    "$build/tests/fuzz/$t" "${args[@]}" "$work" tests/fuzz/corpus/"$name" >"$log" 2>&1
    echo "$? $(( $(date +%s) - start ))" >"$log.rc"
}
for t in "${targets[@]}"; do
    rm -f "$build/fuzz-work/$t.log.rc"
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
    run_one "$t" &
done
wait

failed=0 i=0
for t in "${targets[@]}"; do
    i=$((i+1))
    log="$build/fuzz-work/$t.log"
    read -r rc took <"$log.rc" 2>/dev/null || { rc=99 took=0; }
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ "$rc" -eq 0 ]; then
        echo "ok $i - $t: ${runs:-?} inputs in ${took} s, no finding"
    else
        failed=$((failed+1))
        echo "not ok $i - $t: exit $rc after ${took} s (log: $log)"
        grep -E "ERROR|invariant failed|SUMMARY|Test unit written" "$log" | head -8 | sed 's/^/# /'
    fi
done
exit $(( failed > 0 ))

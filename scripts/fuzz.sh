#!/usr/bin/env bash
# Build the libFuzzer targets of tests/fuzz with clang and run each for a bounded time.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 60; scripts/test.sh passes 45)
#
# Targets (docs/api.md "Tests"):
#   fuzz_npy         the .npy parser (crmti_npy_parse_header / crmti_npy_parse on memory)
#   fuzz_model_load  the model file parser (crmt_model_load_buffer, then save/load round trip)
# Each is built with -fsanitize=fuzzer,address,undefined (-fno-sanitize-recover=all) against
# the library sources, in $CRMT_FUZZ_DIR (default build-fuzz), and run with -detect_leaks=1
# and -max_total_time=SECONDS on a working corpus seeded from tests/fuzz/corpus/<name>/ (the
# committed seeds are never modified). Any crash, leak, sanitizer report, timeout (-timeout,
# default 25 s per input) or out-of-memory (-rss_limit_mb 2048) fails the script; the
# reproducer is left in $CRMT_FUZZ_DIR/artifacts/ and the log in $CRMT_FUZZ_DIR/logs/.
# Reproduce with: $CRMT_FUZZ_DIR/tests/fuzz/<target> <artifact file>
#
# Environment:
#   CRMT_SKIP_APT=1        never call apt-get (clang and libclang-rt-14-dev must be present)
#   CRMT_FUZZ_DIR=DIR      build directory (default build-fuzz)
#   CRMT_FUZZ_TARGETS="…"  subset of targets to run (default: all fuzz_*.c)
#   CRMT_JOBS=N            build parallelism (default 2)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$CRMT_ROOT"

seconds=${1:-60}
case $seconds in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2 ;;
esac
build=${CRMT_FUZZ_DIR:-$CRMT_ROOT/build-fuzz}
start_all=$SECONDS

# --- packages --------------------------------------------------------------------------------
packages=(clang libclang-rt-14-dev cmake pkg-config libopenblas-dev)
crmt_install_packages fuzz "${packages[@]}"
command -v clang >/dev/null || { echo "error: clang not found" >&2; exit 1; }

# --- build -----------------------------------------------------------------------------------
crmt_log "fuzz: build ($build, clang $(clang -dumpversion))"
t=$SECONDS
mkdir -p "$build"
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRMT_WERROR=ON \
    -DCRMT_SANITIZE=OFF -DCRMT_BUILD_FUZZERS=ON -DCRMT_BUILD_TESTS=OFF \
    -DCRMT_BUILD_EXAMPLES=OFF -DCRMT_INSTALL=OFF >"$build/crmt-configure.log" 2>&1 ||
    { cat "$build/crmt-configure.log"; exit 1; }
cmake --build "$build" --target crmt_fuzzers -j "$CRMT_JOBS"
echo "fuzz: built in $((SECONDS - t))s"

targets=${CRMT_FUZZ_TARGETS:-$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')}

# --- run -------------------------------------------------------------------------------------
# OpenBLAS: one thread (no worker pool; never set OPENBLAS_CORETYPE).
export OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:symbolize=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
mkdir -p "$build/artifacts" "$build/logs"
failed=()
summary=()
for target in $targets; do
    name=${target#fuzz_}
    case $name in model_load) seeds=tests/fuzz/corpus/model ;; *) seeds=tests/fuzz/corpus/$name ;; esac
    exe=$build/tests/fuzz/$target
    work=$build/corpus/$name
    log=$build/logs/$target.log
    mkdir -p "$work"
    [ -d "$seeds" ] || { echo "error: no seed corpus $seeds for $target" >&2; exit 1; }
    crmt_log "fuzz: $target for ${seconds}s (seeds $seeds, $(ls "$seeds" | wc -l) files)"
    t=$SECONDS
    rc=0
    "$exe" -max_total_time="$seconds" -detect_leaks=1 -timeout=25 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$build/artifacts/$target-" \
        "$work" "$seeds" >"$log" 2>&1 || rc=$?
    # A sanitizer report that did not stop the run (should not happen with
    # -fno-sanitize-recover) still fails it.
    if [ "$rc" -eq 0 ] && grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|contract violated' "$log"; then
        rc=99
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 || true)
    summary+=("$(printf '%-16s %4ss  %s runs  %s  exit %s' "$target" $((SECONDS - t)) "${runs:-?}" "${cov:-cov: ?}" "$rc")")
    if [ "$rc" -ne 0 ]; then
        echo "fuzz: $target FAILED (exit $rc); log $log; last lines:" >&2
        tail -n 60 "$log" >&2
        ls -l "$build/artifacts" >&2 || true
        failed+=("$target")
    else
        tail -n 12 "$log" | grep -E '^(stat::|Done|INFO: .*corpus)' || true
    fi
done

crmt_log "fuzz summary"
printf '  %s\n' "${summary[@]}"
echo "  total $((SECONDS - start_all))s"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: all targets clean (no crash, leak, sanitizer report or timeout)"

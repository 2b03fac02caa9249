#!/usr/bin/env bash
# ThreadSanitizer build and run of the concurrency tests.
#
#   bash scripts/tsan.sh
#
# Configures $CRMT_TSAN_DIR (default build-tsan) with -fsanitize=thread on the library and
# the tests (gcc, RelWithDebInfo, -Werror), builds the suites that use threads and runs them
# with TSAN_OPTIONS=halt_on_error=1: any data race, lock-order inversion or thread leak fails.
#
# Suites: every tests/test_*.c that creates threads (mentions pthread_create), found
# automatically; today that is test_certify (test_concurrent_certification: 6 threads
# certifying on one certifier, single and batch calls, one thread failing on purpose while
# the others succeed, so thread-local error messages are exercised too). A suite that puts
# its threaded tests in a Check tcase named "threads" gets only that tcase run here
# (CK_RUN_CASE=threads); otherwise the whole suite runs (today test_certify's one tcase
# "core", which also trains digits models: ~2 minutes under TSan on 2 cores).
# OpenBLAS is not instrumented; OPENBLAS_NUM_THREADS=1 keeps it from starting worker threads
# of its own (OPENBLAS_CORETYPE is never set).
#
# Environment:
#   CRMT_SKIP_APT=1          never call apt-get
#   CRMT_TSAN_DIR=DIR        build directory (default build-tsan)
#   CRMT_TSAN_SUITES="…"     suites to run instead of the automatic list
#   CRMT_JOBS=N              build parallelism (default 2)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$CRMT_ROOT"

build=${CRMT_TSAN_DIR:-$CRMT_ROOT/build-tsan}
start_all=$SECONDS

# --- packages (gcc's libtsan comes with build-essential) -------------------------------------
crmt_install_packages tsan build-essential cmake pkg-config libopenblas-dev check

# --- suites ----------------------------------------------------------------------------------
suites=()
if [ -n "${CRMT_TSAN_SUITES:-}" ]; then
    read -r -a suites <<<"$CRMT_TSAN_SUITES"
else
    for src in tests/test_*.c; do
        if grep -q 'pthread_create' "$src"; then
            suites+=("$(basename "$src" .c)")
        fi
    done
fi
if [ "${#suites[@]}" -eq 0 ]; then
    echo "tsan: no test creates threads (no pthread_create in tests/test_*.c); nothing to run" >&2
    exit 1
fi

# --- build -----------------------------------------------------------------------------------
crmt_log "tsan: build ($build, -fsanitize=thread): ${suites[*]}"
t=$SECONDS
tsan_flags="-fsanitize=thread -fno-omit-frame-pointer"
mkdir -p "$build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRMT_WERROR=ON -DCRMT_SANITIZE=OFF \
    -DCRMT_BUILD_TESTS=ON -DCRMT_BUILD_EXAMPLES=OFF -DCRMT_INSTALL=OFF \
    -DCMAKE_C_FLAGS="$tsan_flags" -DCMAKE_CXX_FLAGS="$tsan_flags" \
    -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread \
    >"$build/crmt-configure.log" 2>&1 || { cat "$build/crmt-configure.log"; exit 1; }
cmake --build "$build" -j "$CRMT_JOBS" --target "${suites[@]}"
echo "tsan: built in $((SECONDS - t))s"

# --- run -------------------------------------------------------------------------------------
mkdir -p "$build/tsan"
failed=()
summary=()
for name in "${suites[@]}"; do
    log=$build/tsan/$name.log
    crmt_log "tsan: $name"
    t=$SECONDS
    rc=0
    # CK_FORK=no: the tests run in this process, so a report ends it with TSan's exit code.
    # (Only set CK_RUN_CASE when selecting: Check takes an empty value as a tcase name.)
    select=()
    if grep -q 'tcase_create("threads")' "tests/$name.c"; then
        select=(CK_RUN_CASE=threads)
        echo "tsan: $name: only its tcase \"threads\""
    fi
    env CK_FORK=no CK_DEFAULT_TIMEOUT=0 "${select[@]}" OPENBLAS_NUM_THREADS=1 \
        TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 report_thread_leaks=1 exitcode=66" \
        "$build/tests/$name" >"$log" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ] && grep -q 'WARNING: ThreadSanitizer' "$log"; then
        rc=67
    fi
    checks=$(grep -oE '[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$log" | tail -n 1 || true)
    summary+=("$(printf '%-16s %4ss  exit %-3s %s' "$name" $((SECONDS - t)) "$rc" "${checks:-no Check summary}")")
    grep -E '^threads:' "$log" || true
    if [ "$rc" -ne 0 ]; then
        echo "tsan: $name FAILED (exit $rc; 66 = ThreadSanitizer report); log $log:" >&2
        grep -n -A30 'WARNING: ThreadSanitizer' "$log" | head -n 80 >&2 || tail -n 60 "$log" >&2
        failed+=("$name")
    fi
done

crmt_log "tsan summary"
printf '  %s\n' "${summary[@]}"
echo "  total $((SECONDS - start_all))s"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "tsan: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "tsan: no data race, lock-order inversion or thread leak"

#!/usr/bin/env bash
# The libcrmt test command (README "Quick start"; CI runs it through .ci/run).
#
# On a fresh Debian 12 machine, as root:
#  1. installs the Debian packages the build and the checks need (skipped when present);
#  2. configures with -Werror, builds, runs ctest (Check suites, header tests, ABI tests);
#  3. the same in a second build directory with ASan + UBSan (-DCRMT_SANITIZE=ON);
#  4. scripts/consumer-check.sh: install to a temporary prefix, build and run out-of-tree
#     consumers through CMake and pkg-config;
#  5. scripts/abi-check.sh: abidiff against the baseline abi/libcrmt.abi;
#  6. hardening: scripts/valgrind.sh, scripts/tsan.sh, scripts/fuzz.sh (docs/api.md).
#
# Environment:
#   CRMT_SKIP_SANITIZE=1   skip step 3 (quick local runs; CI runs it)
#   CRMT_SKIP_HARDENING=1  skip step 6 (quick local runs; CI runs it)
#   CRMT_SKIP_APT=1        never call apt-get (missing tools then fail later)
#   CRMT_JOBS=N            build and ctest parallelism (default 2)
#   CRMT_BUILD_DIR=DIR     main build directory (default build-ci; sanitizer one: DIR-asan)
#   OPENBLAS_NUM_THREADS   default 1 here: ctest already runs CRMT_JOBS tests at once, and
#                          OpenBLAS threads spinning on busy cores would only slow them down
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$CRMT_ROOT"
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

# Debian packages: compilers and make, CMake, pkg-config, OpenBLAS (CBLAS), Check, zlib
# (the test support reads digits.csv.gz), libabigail's abidw/abidiff, NumPy for the Python
# helpers that write .npy test data, and libgfortran-12-dev because openblas.pc lists
# -lgfortran in Libs.private, which the `pkg-config --static` link of consumer-check.sh uses.
packages=(build-essential cmake pkg-config libopenblas-dev check zlib1g-dev abigail-tools
          python3-numpy libgfortran-12-dev)
build=${CRMT_BUILD_DIR:-$CRMT_ROOT/build-ci}
asan_build=$build-asan
stages=()
start_all=$SECONDS

stage_done() { stages+=("$(printf '%-28s %5ss' "$1" $((SECONDS - $2)))"); }

crmt_log "packages"
missing=()
for p in "${packages[@]}"; do
    if [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" != "ii " ]; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "all present: ${packages[*]}"
elif [ "${CRMT_SKIP_APT:-0}" = 1 ]; then
    echo "missing (CRMT_SKIP_APT=1, not installing): ${missing[*]}"
else
    echo "installing: ${missing[*]}"
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "error: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Up to three tries: a mirror hiccup should not fail a CI run.
    for try in 1 2 3; do
        if "${sudo[@]}" apt-get update -qq &&
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends "${missing[@]}"; then
            break
        fi
        [ "$try" -lt 3 ] || { echo "error: apt-get failed 3 times" >&2; exit 1; }
        echo "apt-get failed (try $try of 3); retrying in 10 s"
        sleep 10
    done
fi
echo "$(cmake --version | head -n 1); $(cc --version | head -n 1); abidiff $(abidiff --version | awk '{print $NF}')"

crmt_log "build ($build: RelWithDebInfo, -Werror, static library on)"
t=$SECONDS
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRMT_WERROR=ON -DCRMT_SANITIZE=OFF \
    -DCRMT_BUILD_TESTS=ON -DCRMT_BUILD_EXAMPLES=ON -DCRMT_BUILD_STATIC=ON
cmake --build "$build" -j "$CRMT_JOBS"
stage_done "build" "$t"

crmt_log "ctest ($build)"
t=$SECONDS
ctest --test-dir "$build" --output-on-failure -j "$CRMT_JOBS"
stage_done "ctest" "$t"

if [ "${CRMT_SKIP_SANITIZE:-0}" = 1 ]; then
    crmt_log "sanitizer pass skipped (CRMT_SKIP_SANITIZE=1)"
else
    crmt_log "build ($asan_build: ASan + UBSan)"
    t=$SECONDS
    cmake -S . -B "$asan_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRMT_WERROR=ON \
        -DCRMT_SANITIZE=ON -DCRMT_BUILD_TESTS=ON -DCRMT_BUILD_EXAMPLES=ON
    cmake --build "$asan_build" -j "$CRMT_JOBS"
    stage_done "build (sanitizers)" "$t"

    crmt_log "ctest ($asan_build: ASan + UBSan)"
    t=$SECONDS
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        ctest --test-dir "$asan_build" --output-on-failure -j "$CRMT_JOBS"
    stage_done "ctest (sanitizers)" "$t"
fi

t=$SECONDS
bash scripts/consumer-check.sh "$build"
stage_done "consumer-check" "$t"

t=$SECONDS
bash scripts/abi-check.sh "$build"
stage_done "abi-check" "$t"

# Hardening (docs/api.md, "The hardening scripts"): valgrind memcheck on the main build's Check
# suites, ThreadSanitizer on the threaded suites (build-tsan), libFuzzer on the .npy and model
# parsers (build-fuzz, 45 s per target). CRMT_SKIP_HARDENING=1 skips the three (local runs).
if [ "${CRMT_SKIP_HARDENING:-0}" = 1 ]; then
    crmt_log "hardening (valgrind, tsan, fuzz) skipped (CRMT_SKIP_HARDENING=1)"
else
    t=$SECONDS
    bash scripts/valgrind.sh "$build"
    stage_done "valgrind" "$t"

    t=$SECONDS
    bash scripts/tsan.sh
    stage_done "tsan" "$t"

    t=$SECONDS
    bash scripts/fuzz.sh 45
    stage_done "fuzz (45 s per target)" "$t"
fi

crmt_log "all checks passed"
printf '  %s\n' "${stages[@]}"
echo "  total $((SECONDS - start_all))s"

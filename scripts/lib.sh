# Shared helpers of the scripts in scripts/ (sourced, not run).
# CRMT_JOBS: parallel build jobs (default 2, the CI machine's core count).

CRMT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CRMT_JOBS=${CRMT_JOBS:-2}

crmt_log() { printf '\n==> %s\n' "$*"; }

# crmt_build_library DIR: configure DIR (RelWithDebInfo, no sanitizers) when needed and build
# libcrmt.so only. A new DIR gets a lean configuration without tests and examples; an
# existing one keeps its other options, so the main build directory can be reused.
crmt_build_library() {
    local dir=$1
    local args=(-S "$CRMT_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRMT_SANITIZE=OFF)
    if [ ! -f "$dir/CMakeCache.txt" ]; then
        args+=(-DCRMT_BUILD_TESTS=OFF -DCRMT_BUILD_EXAMPLES=OFF)
    fi
    mkdir -p "$dir"
    cmake "${args[@]}" >"$dir/crmt-configure.log" 2>&1 || { cat "$dir/crmt-configure.log"; return 1; }
    cmake --build "$dir" --target crmt -j "$CRMT_JOBS"
}

# crmt_abidw BUILD_DIR OUT: the ABI of BUILD_DIR/libcrmt.so as ABIXML, restricted to the
# types of the public headers, with machine-independent paths.
crmt_abidw() {
    local dir=$1 out=$2
    if ! LC_ALL=C readelf -S "$dir/libcrmt.so" | grep -q '\.debug_info'; then
        echo "error: $dir/libcrmt.so has no debug info (needs a RelWithDebInfo build)" >&2
        return 1
    fi
    abidw --headers-dir "$CRMT_ROOT/include/crmt" --headers-dir "$dir/include/crmt" \
        --drop-private-types --no-corpus-path --no-comp-dir-path --short-locs \
        --type-id-style hash --out-file "$out" "$dir/libcrmt.so"
}

#!/usr/bin/env bash
# Landsat "Satellite" as two-modality .npy files (docs/data.md):
#
#   bash scripts/prepare-satellite.sh [OUT_DIR]     (default data/generated/satellite)
#
# Reads the committed data/satellite.csv.gz (UCI Statlog Landsat Satellite, exported from
# Debian's r-cran-mlbench, see data/README.md), builds tools/prepare_satellite into
# build-tools/ and writes OUT_DIR/{train,val,test}_{m0,m1,y}.npy and info.txt:
#   m0  visible bands 1-2, 18 float32 features; m1  near-infrared bands 3-4, 18 features;
#       both standardised with the training split's statistics;
#   y   int64 labels 0..5;
#   a stratified 60/20/20 train/validation/test split with a fixed seed.
# Idempotent: when OUT_DIR/.stamp matches the input, the seed and the tool's sources, nothing
# is rebuilt or rewritten.
#
# Environment: CRMT_SATELLITE_SEED (default 1), CRMT_TOOLS_BUILD_DIR (default build-tools),
# CRMT_SKIP_APT=1 (never call apt-get), CRMT_JOBS (default 2).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
out=${1:-$CRMT_ROOT/data/generated/satellite}
case $out in /*) ;; *) out=$PWD/$out ;; esac # relative to the caller's folder
cd "$CRMT_ROOT"
seed=${CRMT_SATELLITE_SEED:-1}
build=${CRMT_TOOLS_BUILD_DIR:-$CRMT_ROOT/build-tools}
input=data/satellite.csv.gz # relative to the repository root (the working directory)
input_sha256=adc4a22a9c3b41914a112a0a1143a98b654e6fa36c8b22dd4c0e2b8dc74a5c87
start=$SECONDS

# Debian packages to build the tool (the top-level CMake project needs OpenBLAS).
packages=(build-essential cmake pkg-config libopenblas-dev zlib1g-dev)
missing=()
for p in "${packages[@]}"; do
    if [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" != "ii " ]; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "${CRMT_SKIP_APT:-0}" = 1 ]; then
        echo "missing Debian packages (CRMT_SKIP_APT=1, not installing): ${missing[*]}" >&2
    else
        crmt_log "installing ${missing[*]}"
        sudo=()
        [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        "${sudo[@]}" apt-get update -qq
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
fi

echo "$(sha256sum "$input" | cut -d' ' -f1)" | grep -qx "$input_sha256" ||
    { echo "error: $input does not have the committed sha256 $input_sha256" >&2; exit 1; }

# The key of this output: input, seed and the sources of the tool.
key=$( { echo "satellite seed=$seed"; sha256sum "$input";
         cat tools/prepare_satellite.c tools/npy_write.c tools/npy_write.h tools/rng.c tools/rng.h; } |
       sha256sum | cut -d' ' -f1)
files=()
for s in train val test; do files+=("$out/${s}_m0.npy" "$out/${s}_m1.npy" "$out/${s}_y.npy"); done
up_to_date=1
[ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$key" ] || up_to_date=0
for f in "${files[@]}"; do [ -f "$f" ] || up_to_date=0; done
if [ "$up_to_date" = 1 ]; then
    crmt_log "satellite: $out is up to date (seed $seed)"
    cat "$out/info.txt"
    exit 0
fi

crmt_log "building tools/prepare_satellite in $build"
if [ ! -f "$build/CMakeCache.txt" ]; then
    mkdir -p "$build"
    cmake -S "$CRMT_ROOT" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCRMT_BUILD_TESTS=OFF \
        -DCRMT_BUILD_EXAMPLES=OFF -DCRMT_BUILD_BENCH=OFF -DCRMT_BUILD_TOOLS=ON \
        -DCRMT_INSTALL=OFF >"$build/crmt-configure.log" 2>&1 || { cat "$build/crmt-configure.log"; exit 1; }
fi
cmake --build "$build" --target prepare_satellite -j "$CRMT_JOBS" >/dev/null

crmt_log "satellite: writing $out (seed $seed)"
rm -f "$out/.stamp"
mkdir -p "$out"
"$build/tools/prepare_satellite" --seed "$seed" "$input" "$out"
echo "$key" >"$out/.stamp"
cat "$out/info.txt"
echo "done in $((SECONDS - start)) s"

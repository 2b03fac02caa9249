#!/usr/bin/env bash
# The main job: JT versus CRMT-JT on the embedded handwritten-digits data split into two
# modalities (image rows 0-1 / rows 2-7). Installs the Debian packages it needs when missing,
# builds libcrmt (Release) into build-main/, runs examples/main_job and prints a table of
# clean / attacked / missing-modality / certified accuracy per method. Writes
# out/certificates.csv and out/certified_accuracy.svg (relative to the repository root).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build-main"
OUT="$ROOT/out"
JOBS=${CRMT_JOBS:-2}

# Packages: library deps (OpenBLAS, zlib for the digits loader, Check because the build is
# configured with the tests), build tools.
PACKAGES=(libopenblas-dev check pkg-config zlib1g-dev cmake gcc g++)
missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing: ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

echo "==> configuring and building (Release) in $BUILD"
mkdir -p "$BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCRMT_BUILD_TESTS=ON \
    -DCRMT_BUILD_EXAMPLES=ON -DCRMT_SANITIZE=OFF >"$BUILD/crmt-configure.log" 2>&1 ||
    { cat "$BUILD/crmt-configure.log"; exit 1; }
cmake --build "$BUILD" --target main_job -j "$JOBS"

echo "==> running the main job"
cd "$ROOT"
start=$(date +%s)
"$BUILD/examples/main_job" "$OUT"
end=$(date +%s)

echo
echo "==> done in $((end - start)) s"
echo "    table:        printed above"
echo "    certificates: $OUT/certificates.csv"
echo "    plot:         $OUT/certified_accuracy.svg"

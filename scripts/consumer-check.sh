#!/usr/bin/env bash
# Install libcrmt into a temporary prefix, check the installed layout, then build and run
# out-of-tree consumers against it:
#  1. tests/consumer through CMake: find_package(crmt 0.1 REQUIRED), crmt::crmt, one C and
#     one C++ program, plus the C program on crmt::crmt_static (libcrmt.a);
#  2. the same C file through pkg-config (`cc ... $(pkg-config --cflags --libs crmt)`), and
#     statically (`pkg-config --static`);
#  3. find_package(crmt 1.0) must be refused (SameMajorVersion);
#  4. the C example of README.md (between the readme-example markers) compiled against the
#     installed library and run.
#
#   bash scripts/consumer-check.sh [BUILD_DIR]     # default BUILD_DIR: build-consumer
set -euo pipefail
source "$(dirname "$0")/lib.sh"
dir=${1:-$CRMT_ROOT/build-consumer}
CC=${CC:-cc}
work=$(mktemp -d "${TMPDIR:-/tmp}/crmt-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

crmt_log "consumer-check: building and installing libcrmt (shared + static) into $prefix"
# A new BUILD_DIR gets a lean configuration; an existing one (e.g. scripts/test.sh's main
# build directory) keeps its other options and only gains the static library.
args=(-S "$CRMT_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRMT_SANITIZE=OFF
      -DCRMT_BUILD_STATIC=ON)
[ -f "$dir/CMakeCache.txt" ] || args+=(-DCRMT_BUILD_TESTS=OFF -DCRMT_BUILD_EXAMPLES=OFF)
mkdir -p "$dir"
cmake "${args[@]}" >"$dir/crmt-configure.log" 2>&1 || { cat "$dir/crmt-configure.log"; exit 1; }
cmake --build "$dir" --target crmt crmt_static -j "$CRMT_JOBS"
cmake --install "$dir" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; exit 1; }

crmt_log "consumer-check: installed layout"
pcfile=$(find "$prefix" -path '*/pkgconfig/crmt.pc' | head -n 1)
[ -n "$pcfile" ] || { echo "FAIL: crmt.pc not installed"; exit 1; }
libdir=$(dirname "$(dirname "$pcfile")")
fail=0
expect() { if [ -e "$1" ]; then echo "  ok  ${1#"$prefix"/}"; else echo "  MISSING ${1#"$prefix"/}"; fail=1; fi; }
for h in "$CRMT_ROOT"/include/crmt/*.h; do expect "$prefix/include/crmt/$(basename "$h")"; done
expect "$prefix/include/crmt/version.h"
expect "$libdir/libcrmt.so.0.1.0"
expect "$libdir/libcrmt.so.0"
expect "$libdir/libcrmt.so"
expect "$libdir/libcrmt.a"
expect "$libdir/cmake/crmt/crmtConfig.cmake"
expect "$libdir/cmake/crmt/crmtConfigVersion.cmake"
expect "$pcfile"
if [ -e "$prefix/include/crmt/version.h.in" ] || [ -e "$libdir/libcrmt_internal.a" ]; then
    echo "  FAIL: internal files installed"; fail=1
fi
soname=$(LC_ALL=C readelf -d "$libdir/libcrmt.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
echo "  SONAME $soname"
[ "$soname" = libcrmt.so.0 ] || { echo "  FAIL: SONAME should be libcrmt.so.0"; fail=1; }
[ "$fail" = 0 ] || exit 1

crmt_log "consumer-check: CMake consumer (find_package(crmt 0.1 REQUIRED), crmt::crmt)"
cmake -S "$CRMT_ROOT/tests/consumer" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_TYPE=Release >"$work/consumer-configure.log" 2>&1 ||
    { cat "$work/consumer-configure.log"; exit 1; }
cmake --build "$work/cmake-build" -j "$CRMT_JOBS"
for exe in consumer_c consumer_cxx consumer_c_static; do
    [ -x "$work/cmake-build/$exe" ] || { echo "FAIL: $exe was not built"; exit 1; }
    "$work/cmake-build/$exe"
done
# The shared consumers must load the installed library, not some other copy.
resolved=$(ldd "$work/cmake-build/consumer_c" | awk '$1 == "libcrmt.so.0" { print $3 }')
case $resolved in
    "$libdir"/*) echo "  consumer_c loads $resolved" ;;
    *) echo "FAIL: consumer_c loads libcrmt.so.0 from '$resolved', not $libdir"; exit 1 ;;
esac
if ldd "$work/cmake-build/consumer_c_static" | grep -q libcrmt; then
    echo "FAIL: consumer_c_static depends on libcrmt.so"; exit 1
fi

crmt_log "consumer-check: find_package(crmt 1.0) must be refused"
mkdir -p "$work/major"
cat >"$work/major/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.20)
project(crmt_major_check LANGUAGES C)
find_package(crmt 1.0 QUIET)
if(crmt_FOUND)
  message(FATAL_ERROR "crmt ${crmt_VERSION} accepted for a 1.0 request")
endif()
CMAKE
cmake -S "$work/major" -B "$work/major/build" -DCMAKE_PREFIX_PATH="$prefix" >"$work/major.log" 2>&1 ||
    { cat "$work/major.log"; exit 1; }
echo "  ok: refused"

crmt_log "consumer-check: pkg-config consumer"
export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
version=$(pkg-config --modversion crmt)
echo "  pkg-config --modversion crmt: $version"
echo "  pkg-config --cflags --libs crmt: $(pkg-config --cflags --libs crmt)"
# shellcheck disable=SC2046 # word splitting of pkg-config output is intended
"$CC" -std=c99 -Wall -Wextra -pedantic -Werror -o "$work/consumer_pc" \
    "$CRMT_ROOT/tests/consumer/consumer.c" $(pkg-config --cflags --libs crmt)
LD_LIBRARY_PATH="$libdir" "$work/consumer_pc"
static_libs=$(pkg-config --static --libs-only-l crmt | sed 's/\(^\| \)-lcrmt\( \|$\)/ /')
echo "  static: $libdir/libcrmt.a $static_libs"
# shellcheck disable=SC2046,SC2086
"$CC" -std=c99 -Wall -Wextra -pedantic -Werror -o "$work/consumer_pc_static" \
    "$CRMT_ROOT/tests/consumer/consumer.c" $(pkg-config --cflags crmt) \
    "$libdir/libcrmt.a" $(pkg-config --static --libs-only-L crmt) $static_libs
"$work/consumer_pc_static"

crmt_log "consumer-check: the C example of README.md"
sed -n '/<!-- readme-example:begin -->/,/<!-- readme-example:end -->/p' "$CRMT_ROOT/README.md" |
    sed '/^```/d; /readme-example/d' >"$work/readme_example.c"
[ -s "$work/readme_example.c" ] || { echo "FAIL: no readme-example block in README.md"; exit 1; }
# shellcheck disable=SC2046
"$CC" -std=c99 -Wall -Wextra -pedantic -Werror -o "$work/readme_example" \
    "$work/readme_example.c" $(pkg-config --cflags --libs crmt)
(cd "$work" && LD_LIBRARY_PATH="$libdir" ./readme_example)

crmt_log "consumer-check: OK"

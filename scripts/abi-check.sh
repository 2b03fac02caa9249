#!/usr/bin/env bash
# Compare the ABI of a fresh RelWithDebInfo build of libcrmt.so with the committed baseline
# abi/libcrmt.abi using abidiff (Debian package abigail-tools). Policy (docs/abi.md):
#  - incompatible change (abidiff exit bit 3: removed function, SONAME change, ...): FAIL;
#  - change to an existing interface (bit 2 still set when added symbols are ignored:
#    struct layout, enum, parameter types ...): FAIL, abidiff cannot prove it compatible;
#  - additions only: pass, print them and ask for a baseline update
#    (CRMT_ABI_STRICT=1 makes this fail too);
#  - every report is printed.
# A deliberate change passes once scripts/update-abi-baseline.sh has been run (and, for an
# incompatible one, the major version bumped) in the same commit.
#
#   bash scripts/abi-check.sh [BUILD_DIR]     # default BUILD_DIR: build-abi
set -euo pipefail
source "$(dirname "$0")/lib.sh"
dir=${1:-$CRMT_ROOT/build-abi}
baseline=$CRMT_ROOT/abi/libcrmt.abi

command -v abidiff >/dev/null || { echo "error: abidiff not found (apt-get install abigail-tools)" >&2; exit 1; }
[ -f "$baseline" ] || { echo "error: no baseline $baseline (run scripts/update-abi-baseline.sh)" >&2; exit 1; }

crmt_log "abi-check: building libcrmt.so in $dir"
crmt_build_library "$dir"
current=$dir/libcrmt.current.abi
crmt_abidw "$dir" "$current"

# Changes inside opaque handles and internal structs are invisible to hosts: suppressed
# (see crmt_write_suppressions in scripts/lib.sh). abi/libcrmt.suppr, when present, adds
# hand-written suppressions.
crmt_write_suppressions "$dir/libcrmt.generated.suppr"
suppr=(--suppressions "$dir/libcrmt.generated.suppr")
[ -f "$CRMT_ROOT/abi/libcrmt.suppr" ] && suppr+=(--suppressions "$CRMT_ROOT/abi/libcrmt.suppr")

crmt_log "abi-check: abidiff abi/libcrmt.abi (baseline) -> current build"
rc=0
abidiff "${suppr[@]}" "$baseline" "$current" || rc=$?
if (( rc & 3 )); then
    echo "FAIL: abidiff could not compare (exit code $rc)"
    exit 1
fi
if (( rc & 8 )); then
    echo "FAIL: incompatible ABI change against abi/libcrmt.abi (abidiff exit code $rc)."
    echo "Undo it, or bump the major version in CMakeLists.txt (new SONAME) and run"
    echo "scripts/update-abi-baseline.sh in the same commit (docs/abi.md)."
    exit 1
fi
if (( rc & 4 )); then
    rc2=0
    abidiff "${suppr[@]}" --no-added-syms "$baseline" "$current" >/dev/null || rc2=$?
    if (( rc2 & 4 )); then
        echo "FAIL: existing interfaces changed (see the report above); abidiff cannot tell"
        echo "that this is compatible. If it is (e.g. a field appended to a struct that carries"
        echo "struct_size), record it with scripts/update-abi-baseline.sh in the same commit;"
        echo "otherwise bump the major version as well (docs/abi.md)."
        exit 1
    fi
    if [ "${CRMT_ABI_STRICT:-0}" = 1 ]; then
        echo "FAIL (CRMT_ABI_STRICT=1): functions added since the baseline; run"
        echo "scripts/update-abi-baseline.sh and scripts/update-symbols.sh."
        exit 1
    fi
    echo "NOTE: only additions since the baseline (compatible). Record them with"
    echo "scripts/update-abi-baseline.sh in the commit that adds them (docs/abi.md)."
    exit 0
fi
echo "OK: ABI identical to abi/libcrmt.abi"

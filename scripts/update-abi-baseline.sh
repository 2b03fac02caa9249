#!/usr/bin/env bash
# Regenerate the ABI baseline abi/libcrmt.abi with abidw from a RelWithDebInfo build of
# libcrmt.so. Commit it in the same commit as the ABI change it records; an incompatible
# change also needs a new major version (new SONAME) there (docs/abi.md).
#
#   bash scripts/update-abi-baseline.sh [BUILD_DIR]     # default BUILD_DIR: build-abi
set -euo pipefail
source "$(dirname "$0")/lib.sh"
dir=${1:-$CRMT_ROOT/build-abi}

crmt_build_library "$dir"
crmt_abidw "$dir" "$CRMT_ROOT/abi/libcrmt.abi"
echo "wrote abi/libcrmt.abi ($(grep -c '<elf-symbol ' "$CRMT_ROOT/abi/libcrmt.abi") symbols)"
git -C "$CRMT_ROOT" --no-pager diff --stat -- abi/libcrmt.abi || true

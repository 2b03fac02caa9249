#!/usr/bin/env bash
# Regenerate abi/crmt.symbols (the exported-symbol list checked by ctest abi.exported_symbols)
# from a fresh build of libcrmt.so. Run it in the commit that adds or removes a public
# function, together with the src/crmt.map node and the ABI baseline (docs/abi.md).
#
#   bash scripts/update-symbols.sh [BUILD_DIR]     # default BUILD_DIR: build-abi
set -euo pipefail
source "$(dirname "$0")/lib.sh"
dir=${1:-$CRMT_ROOT/build-abi}

crmt_build_library "$dir"
bash "$CRMT_ROOT/tests/abi/exported-symbols.sh" "$dir/libcrmt.so" >"$CRMT_ROOT/abi/crmt.symbols"
echo "wrote abi/crmt.symbols ($(wc -l <"$CRMT_ROOT/abi/crmt.symbols") symbols)"
git -C "$CRMT_ROOT" --no-pager diff --stat -- abi/crmt.symbols || true

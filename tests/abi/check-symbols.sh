#!/usr/bin/env bash
# ctest abi.exported_symbols: the symbols libcrmt.so exports must be exactly those listed
# in abi/crmt.symbols. On a difference, print it ('-' = listed but not exported,
# '+' = exported but not listed) and fail. Regenerate the list with
# scripts/update-symbols.sh after a deliberate API change (docs/abi.md).
#
#   tests/abi/check-symbols.sh build/libcrmt.so abi/crmt.symbols
set -euo pipefail
lib=${1:?usage: check-symbols.sh LIBRARY SYMBOL_LIST}
list=${2:?usage: check-symbols.sh LIBRARY SYMBOL_LIST}
here=$(cd "$(dirname "$0")" && pwd)

actual=$(mktemp)
expected=$(mktemp)
trap 'rm -f "$actual" "$expected"' EXIT
bash "$here/exported-symbols.sh" "$lib" >"$actual"
grep -v -e '^[[:space:]]*$' -e '^#' "$list" | LC_ALL=C sort -u >"$expected"

if ! diff -u --label "$list (committed)" --label "$lib (exported)" "$expected" "$actual"; then
    echo
    echo "FAIL: the exported symbols of $lib differ from $list."
    echo "If the change is intended, run scripts/update-symbols.sh, check that src/crmt.map"
    echo "exports the new functions (after a release: in a new node), and commit both with"
    echo "the change (see docs/abi.md)."
    exit 1
fi
echo "OK: $(wc -l <"$actual") exported symbols match $list"

#!/usr/bin/env bash
# ctest abi.declared_exported: every function declared with CRMT_API in include/crmt/*.h
# must be exported by libcrmt.so (a declared but unimplemented or unexported function is a
# link error waiting for a host), and every exported symbol must be declared in a public
# header (nothing exported by accident).
#
#   tests/abi/check-declarations.sh build/libcrmt.so include/crmt
set -euo pipefail
lib=${1:?usage: check-declarations.sh LIBRARY INCLUDE_DIR}
incdir=${2:?usage: check-declarations.sh LIBRARY INCLUDE_DIR}
here=$(cd "$(dirname "$0")" && pwd)

declared=$(mktemp)
exported=$(mktemp)
trap 'rm -f "$declared" "$exported"' EXIT
# Join each header into one line, drop /* */ comments, then take the identifier right
# before the first '(' that follows each CRMT_API.
for h in "$incdir"/*.h; do
    tr '\n' ' ' <"$h" | sed 's:/\*[^*]*\*\+\([^/*][^*]*\*\+\)*/: :g'
    echo
done | grep -oE 'CRMT_API[^;(]*[^A-Za-z0-9_]crmt_[A-Za-z0-9_]+[[:space:]]*\(' |
    grep -oE 'crmt_[A-Za-z0-9_]+[[:space:]]*\($' | tr -d ' (\t' |
    LC_ALL=C sort -u >"$declared"
bash "$here/exported-symbols.sh" "$lib" >"$exported"

status=0
missing=$(LC_ALL=C comm -23 "$declared" "$exported")
if [ -n "$missing" ]; then
    echo "FAIL: declared with CRMT_API in $incdir but not exported by $lib:"
    printf '  %s\n' $missing
    status=1
fi
extra=$(LC_ALL=C comm -13 "$declared" "$exported")
if [ -n "$extra" ]; then
    echo "FAIL: exported by $lib but not declared in any public header:"
    printf '  %s\n' $extra
    status=1
fi
[ "$status" -eq 0 ] && echo "OK: $(wc -l <"$declared") declared functions, all exported, nothing else"
exit "$status"

#!/usr/bin/env bash
# ctest abi.symbol_prefix: every global symbol defined in a static archive of the library
# objects starts with crmt_ (public API) or crmti_ (internal). libcrmt.a has no version
# script to hide internals, so a host linking it statically must not meet a bare name
# (e.g. `train`, `dot`) that could clash with its own. Make such helpers static, or prefix
# them crmti_.
#
#   tests/abi/check-prefix.sh build/libcrmt_internal.a
set -euo pipefail
archive=${1:?usage: check-prefix.sh ARCHIVE}
bad=$(nm -g --defined-only "$archive" 2>/dev/null |
    awk 'NF == 3 { print $3 }' | grep -v -E '^(crmti?_|__)' | LC_ALL=C sort -u || true)
if [ -n "$bad" ]; then
    echo "FAIL: global symbols without the crmt_/crmti_ prefix in $archive:"
    printf '  %s\n' $bad
    echo "(object files defining them:)"
    nm -g --defined-only -A "$archive" 2>/dev/null | awk 'NF == 3 { print }' |
        grep -v -E ' crmti?_' | sed 's/^/  /'
    exit 1
fi
echo "OK: all global symbols of $archive are prefixed crmt_ or crmti_"

#!/usr/bin/env bash
# Print the dynamic symbols a shared library defines (exports), one name per line, sorted,
# without symbol versions and without version-node names (e.g. CRMT_0.1, an absolute
# symbol). Used by check-symbols.sh and scripts/update-symbols.sh.
#
#   tests/abi/exported-symbols.sh build/libcrmt.so
set -euo pipefail
lib=${1:?usage: exported-symbols.sh LIBRARY}
# nm prints "VALUE TYPE NAME[@@VERSION]"; type A marks the version-node definitions.
nm -D --defined-only "$lib" |
    awk 'NF >= 3 && $2 != "A" { sub(/@.*/, "", $3); print $3 }' |
    LC_ALL=C sort -u

#!/usr/bin/env bash
# ctest abi.soname: libcrmt.so's SONAME must be libcrmt.so.<major version>.
#
#   tests/abi/check-soname.sh build/libcrmt.so 0
set -euo pipefail
lib=${1:?usage: check-soname.sh LIBRARY MAJOR}
major=${2:?usage: check-soname.sh LIBRARY MAJOR}
soname=$(LC_ALL=C readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" != "libcrmt.so.$major" ]; then
    echo "FAIL: SONAME of $lib is '$soname', expected 'libcrmt.so.$major'"
    exit 1
fi
echo "OK: SONAME $soname"

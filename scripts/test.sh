#!/bin/sh
# SPDX-License-Identifier: MIT
# The whole test suite, as the README and CI run it: install what is missing,
# then build and run every unit and integration test twice, in a Debug build
# and in an ASan+UBSan build.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
for type in Debug Asan; do
    dir=build-$(echo "$type" | tr 'A-Z' 'a-z')
    echo "== $type build in $dir"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" >/dev/null
    cmake --build "$dir" -j "$jobs"
    (cd "$dir" && ctest --output-on-failure -j "$jobs")
done

#!/bin/sh
# SPDX-License-Identifier: MIT
# The whole test suite, as the README and CI run it: install what is missing,
# then build and run every unit, black-box, browser and package test twice,
# in a Debug build and in an ASan+UBSan build (the .deb test, which builds
# its own Release tree, only once); then the black-box REST tests with the
# server under valgrind, and every libFuzzer target for a bounded time.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
for type in Debug Asan; do
    dir=build-$(echo "$type" | tr 'A-Z' 'a-z')
    echo "== $type build in $dir"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" >/dev/null
    cmake --build "$dir" -j "$jobs"
    skip=""
    [ "$type" = Asan ] && skip="-LE package"
    # shellcheck disable=SC2086
    (cd "$dir" && ctest --output-on-failure -j "$jobs" $skip)
done
echo "== valgrind memcheck on the black-box tests"
sh scripts/valgrind.sh build-debug
echo "== fuzzing, bounded"
sh scripts/fuzz.sh

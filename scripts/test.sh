#!/bin/sh
# SPDX-License-Identifier: MIT
# The whole test suite, as the README and CI run it: install what is missing,
# then build and run every unit, black-box, browser and package test twice,
# in a Debug build and in an ASan+UBSan build (the .deb test, which builds
# its own Release tree, only once); then the unit tests and a live smoke test
# in a ThreadSanitizer build, the black-box REST tests with the server under
# valgrind, and every libFuzzer target for a bounded time.
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
# ThreadSanitizer: the unit tests and a live smoke test (tests/integration/
# tsan_smoke.py: the feed thread's hand-off to the service threads and the
# refcounted messages they share). Any report fails them: exit 66, and the
# smoke test also reads the server's stderr. tests/tsan.supp holds only what
# lies inside libwebsockets, each line with its reason.
echo "== Tsan build in build-tsan: unit tests and the live smoke test"
supp=$PWD/tests/tsan.supp
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Tsan >/dev/null
cmake --build build-tsan -j "$jobs"
# GCC 12's TSan cannot place its shadow memory when the kernel randomises
# mmap with more bits than 28-30 (vm.mmap_rnd_bits=32 on some newer hosts:
# "FATAL: ThreadSanitizer: unexpected memory mapping", google/sanitizers#1716):
# run these tests without address randomisation where that is allowed.
norand=""
if setarch "$(uname -m)" -R true 2>/dev/null; then norand="setarch $(uname -m) -R"; fi
# shellcheck disable=SC2086
(cd build-tsan && TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 suppressions=$supp" \
    $norand ctest --output-on-failure -j "$jobs" -L '^(unit|tsan)$')
echo "== valgrind memcheck on the black-box tests"
sh scripts/valgrind.sh build-debug
echo "== fuzzing, bounded"
sh scripts/fuzz.sh

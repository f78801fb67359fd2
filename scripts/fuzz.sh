#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) in their
# own build directory, then run each one for a bounded time on a scratch copy
# of its seed corpus, so nothing is ever written into the source tree. Prints
# one line per target and exits 1 when any target found a crash, a leak, a
# timeout or ran out of memory (its input and log are kept and named).
# Installs the build dependencies and clang when they are missing.
#
#   FUZZ_SECONDS    seconds per target (default 20)
#   FUZZ_TARGETS    targets to run (default: every tests/fuzz/fuzz_*.c)
#   FUZZ_BUILD_DIR  build directory (default build-fuzz)
#   FUZZ_WORK_DIR   scratch directory (default: a new one under ${TMPDIR:-/tmp},
#                   removed afterwards unless something was found)
#   FUZZ_JOBS       parallel build jobs (default 2)
set -eu
cd "$(dirname "$0")/.."

SECONDS_EACH=${FUZZ_SECONDS:-20}
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${FUZZ_JOBS:-2}
TARGETS=${FUZZ_TARGETS:-$(for f in tests/fuzz/fuzz_*.c; do printf '%s ' "$(basename "$f" .c)"; done)}

# The same root-or-sudo pattern as install-deps.sh, for the compiler. clang
# only recommends the runtime libFuzzer lives in, so name it too.
install_clang() {
    echo "installing: clang libclang-rt-dev" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-dev >/dev/null
}

# Can clang link a libFuzzer target here? (An installed clang may still lack
# the runtime.)
clang_can_fuzz() {
    command -v clang >/dev/null 2>&1 || return 1
    printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' |
        clang -x c - -fsanitize=fuzzer,address,undefined -o "$WORK/probe" >/dev/null 2>&1
}

if [ -n "${FUZZ_WORK_DIR:-}" ]; then
    WORK=$FUZZ_WORK_DIR
    KEEP_WORK=1
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/waypointd-fuzz.XXXXXX")
    KEEP_WORK=0
fi
cleanup() {
    [ "$KEEP_WORK" -eq 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

sh scripts/install-deps.sh
clang_can_fuzz || { install_clang && clang_can_fuzz; } || {
    echo "fuzz.sh: clang cannot link -fsanitize=fuzzer even after installing clang and libclang-rt-dev" >&2
    exit 1
}

echo "== building $TARGETS in $BUILD"
cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DWAYPOINTD_FUZZ=ON -DBUILD_TESTING=OFF \
    -DCMAKE_BUILD_TYPE=Debug >/dev/null
# shellcheck disable=SC2086
cmake --build "$BUILD" -j "$JOBS" --target $TARGETS

# The value of libFuzzer's "stat::NAME: VALUE" line in a log (empty if none).
fuzz_stat() {
    sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$2" | tail -n 1
}

echo "== running each target for ${SECONDS_EACH}s (scratch: $WORK)"
failed=0
for t in $TARGETS; do
    dir=$WORK/$t
    mkdir -p "$dir/corpus"
    cp tests/fuzz/corpus/"$t"/* "$dir/corpus/"
    dict=""
    [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
    # TMPDIR: where fuzz_routes makes its database, so nothing outlives $WORK.
    # The outer timeout only guards against a target that never starts.
    set +e
    # shellcheck disable=SC2086
    TMPDIR=$dir timeout $((SECONDS_EACH + 120)) "$BUILD/tests/fuzz/$t" \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="$dir/" $dict "$dir/corpus" >"$dir/log" 2>&1
    rc=$?
    set -e
    execs=$(fuzz_stat number_of_executed_units "$dir/log")
    rate=$(fuzz_stat average_exec_per_sec "$dir/log")
    rss=$(fuzz_stat peak_rss_mb "$dir/log")
    corpus=$(find "$dir/corpus" -type f | wc -l)
    found=""
    for f in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*; do
        [ -e "$f" ] && found=$f && break
    done
    if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
        echo "$t: ok, ${execs:-?} executions in ${SECONDS_EACH}s (${rate:-?}/s), corpus $corpus inputs, peak RSS ${rss:-?} MB"
    else
        failed=1
        echo "$t: FAILED (exit $rc) after ${execs:-?} executions; input: ${found:-none}; log: $dir/log"
        # The reason, then the stack frames in waypointd's own code.
        grep -E 'ERROR: |SUMMARY: |property failed|runtime error|#[0-9]+ .* in .* [^ ]*/(src|tests/fuzz)/[^ ]*\.c:[0-9]' "$dir/log" |
            head -n 30 | sed 's/^/    /'
    fi
done

if [ "$failed" -ne 0 ]; then
    KEEP_WORK=1
    echo "fuzz.sh: a target failed; reproduce with: $BUILD/tests/fuzz/TARGET INPUT (scratch kept: $WORK)" >&2
    exit 1
fi

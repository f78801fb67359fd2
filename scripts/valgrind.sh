#!/bin/sh
# SPDX-License-Identifier: MIT
# The black-box tests with the server under valgrind memcheck: REST,
# caching, config, metrics, the live channel and SSE. Fails when valgrind
# reports any error or a definite leak in any server process. Left out:
# test_hostile (floods of a million frames) and test_faults (deadlines of a
# few seconds), which valgrind's 20-50x slowdown turns into timeouts. Usage: sh scripts/valgrind.sh [BUILD_DIR]
# (default build-debug, built by scripts/test.sh).
set -eu
cd "$(dirname "$0")/.."
build=${1:-build-debug}
[ -x "$build/waypointd" ] || { echo "valgrind.sh: no $build/waypointd (build it first)" >&2; exit 2; }
command -v valgrind >/dev/null 2>&1 || { echo "valgrind.sh: valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
logs=$(mktemp -d /tmp/wpd-valgrind-XXXXXX)
trap 'rm -rf "$logs"' EXIT

export WAYPOINTD="$PWD/$build/waypointd" WAYPOINTD_SOURCE_DIR="$PWD"
export WAYPOINTD_WRAPPER="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite --track-fds=no --log-file=$logs/vg.%p.log"
export WAYPOINTD_SLOW=6
status=0
for t in test_rest test_http_caching test_metrics test_config test_live test_sse; do
    echo "== $t under valgrind"
    timeout 1200 /usr/bin/python3 "tests/integration/$t.py" || status=1
done
# Every server's report: errors or definite leaks fail the run.
bad=0
for f in "$logs"/vg.*.log; do
    [ -s "$f" ] || continue
    if grep -q "ERROR SUMMARY: [1-9]\|definitely lost: [1-9]\|Invalid \(read\|write\|free\)\|uninitialised" "$f"; then
        echo "== $f" >&2
        cat "$f" >&2
        bad=1
    fi
done
n=$(ls "$logs" | wc -l)
echo "valgrind.sh: $n server processes checked; $( [ $bad = 0 ] && echo "no errors, no definite leaks" || echo "ERRORS above")"
[ $bad = 0 ] && [ $status = 0 ]

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/run.sh — issue 5's whole benchmark suite in one command, side by side
# with nginx (static file) and nginx + nchan (pub/sub), one combined table of
# every target at the end, and docs/performance.md rewritten with it.
#
#   bench/run.sh                  # everything (20-30 minutes here; longer on a busy machine)
#   bench/run.sh --quick          # N = 1000 only, short runs, no profile; docs untouched
#   bench/run.sh --help
#
# It builds one Release waypointd (cmake -DCMAKE_BUILD_TYPE=Release
# -DBUILD_TESTING=OFF into --build-dir, default build-bench/) and the load
# client bench/wsload.c from the work tree as it is, copies both into a temp
# folder (a rebuild meanwhile changes nothing measured), and runs, in turn:
#   rest     bench/rest_bench.sh: GET waypoints over HTTPS, wrk HTTP/1.1 -c64
#            and -c256, h2load HTTP/2 -c64 -m10, new TLS connections per
#            second (resumed and full handshakes), waypointd and nginx, 1
#            (pinned) and 2 workers
#   idle     bench/idle_cpu.sh: the server with no connections, then with 100
#            idle subscribers
#   push     bench/push_bench.sh: spread, broadcast and idle for N = 1000,
#            10000, 15000 wss subscribers, and nchan's broadcast beside it
#   snapshot bench/snapshot_bench.py: 3 dashboards open a DC of 20,000
#            PENDING stops at once (--threads 1, 3 rounds) while a tracking
#            client on the same thread pings: its round trips meanwhile
#   profile  perf record -g of the server during a broadcast at N = 10000
#            (waypointd and nchan) and during the h2load and wrk -c64 runs
#            (waypointd and nginx), in separate runs whose figures are not used
# then prints the combined table and rewrites the generated parts of
# docs/performance.md (between its "bench/run.sh" markers; the rest of the
# page is kept). waypointd always runs with --rate-limit-addr 0
# --rate-limit-key 0. Any REST answer other than 200 (a 429 above all) stops
# the run with exit status 1 and leaves the docs alone. Anomalies in the push
# runs (lost messages, refused subscribers, unanswered closes...) are shown in
# the table and make the exit status 1 too.
#
# Only 127.0.0.1 is used; every phase runs under `timeout` (its own process
# group, killed as a whole when its time is up or on Ctrl-C/SIGTERM); the
# scripts it runs bound every wait and stop every process they start.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
HERE=$REPO/bench
ARGS_GIVEN=("$@")

SIZES=
PUSH_SCENARIOS=
REST_TESTS=
REST_WORKERS=
REST_DURATION=
QUIET_WAIT=
IDLE_SUBS=
IDLE_SECS=
PHASES=
PROFILE_N=10000
PERF_RECORD_OPTS="-F 499 --call-graph dwarf,16384"
QUICK=0
DOC=
DOC_FILE=$REPO/docs/performance.md
BUILD_DIR=$REPO/build-bench
BINARY=
KEEP=0
INSTALL=1
PUSH_EXTRA=
REST_EXTRA=
SNAP_EXTRA=

usage() {
    sed -n '3,40p' "$0" | sed 's/^# \{0,1\}//'
    cat <<EOF

options (defaults in brackets; --quick's in braces):
  --sizes "N ..."         push subscriber counts ["1000 10000 15000"] {"1000"}
  --scenarios "..."       push scenarios: spread broadcast nchan ["spread broadcast nchan"]
  --rest-tests "..."      h1-c64 h1-c256 h2-c64-m10 conn-resumed conn-full [all five]
  --rest-workers "..."    REST rows: server workers/threads ["1 2"] {"2"}
  --rest-duration S       seconds per REST run [10] {3}
  --quiet-wait S          before each REST run, wait up to S s for the machine to be quiet [30] {5}
  --idle-subscribers ".." idle_cpu.sh runs: subscribers each ["0 100"] {"100"}
  --idle-seconds S        idle_cpu.sh measuring window [30] {10}
  --phases "..."          any of: rest idle push snapshot profile ["rest idle push snapshot profile"]
                          {"rest idle push snapshot"}
  --snapshot-args "..."   options for snapshot_bench.py [""] {"--waypoints 5000 --rounds 1"}
  --profile               add the profile phase (with --quick)
  --no-profile            leave it out
  --profile-size N        subscribers of the profiled broadcast [10000]
  --perf-opts "..."       perf record's sampling options ["$PERF_RECORD_OPTS"]; "-F 999 -g"
                          unwinds by frame pointers only, which Debian's libraries lack
  --push-args "..."       more options for push_bench.sh, e.g. "--seconds 10 --rounds 3"
                          {"--seconds 5 --rounds 3 --idle 5"}
  --rest-args "..."       more options for rest_bench.sh, e.g. "--pin no"
  --doc FILE              write the results into FILE [docs/performance.md when the phases
                          include rest, idle and push; otherwise nothing] {--quick: nothing}
  --no-doc                write no doc
  --build-dir DIR         where to build [build-bench]
  --binary FILE           measure this waypointd instead of building one (wsload is still built)
  --no-install            do not apt-get install what is missing
  --keep                  keep the temp folder (every tool's raw output, perf data)
EOF
}

while [ $# -gt 0 ]; do
    case $1 in
    --sizes) SIZES=$2; shift ;;
    --scenarios) PUSH_SCENARIOS=$2; shift ;;
    --rest-tests) REST_TESTS=$2; shift ;;
    --rest-workers) REST_WORKERS=$2; shift ;;
    --rest-duration) REST_DURATION=$2; shift ;;
    --quiet-wait) QUIET_WAIT=$2; shift ;;
    --idle-subscribers) IDLE_SUBS=$2; shift ;;
    --idle-seconds) IDLE_SECS=$2; shift ;;
    --phases) PHASES=$2; shift ;;
    --profile) PROFILE_FLAG=1 ;;
    --no-profile) PROFILE_FLAG=0 ;;
    --profile-size) PROFILE_N=$2; shift ;;
    --perf-opts) PERF_RECORD_OPTS=$2; shift ;;
    --push-args) PUSH_EXTRA=$2; shift ;;
    --rest-args) REST_EXTRA=$2; shift ;;
    --snapshot-args) SNAP_EXTRA=$2; shift ;;
    --quick) QUICK=1 ;;
    --doc) DOC=1; DOC_FILE=$2; shift ;;
    --no-doc) DOC=0 ;;
    --build-dir) BUILD_DIR=$2; shift ;;
    --binary) BINARY=$2; shift ;;
    --no-install) INSTALL=0 ;;
    --keep) KEEP=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if ((QUICK)); then
    : "${SIZES:=1000}" "${REST_WORKERS:=2}" "${REST_DURATION:=3}" "${QUIET_WAIT:=5}" "${IDLE_SUBS:=100}"
    : "${IDLE_SECS:=10}" "${PHASES:=rest idle push snapshot}" "${DOC:=0}"
    [ -n "$PUSH_EXTRA" ] || PUSH_EXTRA="--seconds 5 --rounds 3 --idle 5"
    [ -n "$SNAP_EXTRA" ] || SNAP_EXTRA="--waypoints 5000 --rounds 1"
fi
: "${SIZES:=1000 10000 15000}" "${PUSH_SCENARIOS:=spread broadcast nchan}"
: "${REST_TESTS:=h1-c64 h1-c256 h2-c64-m10 conn-resumed conn-full}" "${REST_WORKERS:=1 2}"
: "${REST_DURATION:=10}" "${QUIET_WAIT:=30}" "${IDLE_SUBS:=0 100}" "${IDLE_SECS:=30}"
: "${PHASES:=rest idle push snapshot profile}"
if [ -z "$DOC" ]; then
    # A partial run does not replace a whole one on docs/performance.md unless asked (--doc FILE).
    DOC=1
    for p in rest idle push; do [[ " $PHASES " == *" $p "* ]] || DOC=0; done
fi
if [ -n "${PROFILE_FLAG:-}" ]; then
    PHASES=$(echo "$PHASES" | tr ' ' '\n' | grep -vx profile | tr '\n' ' ' || true)
    ((PROFILE_FLAG)) && PHASES="$PHASES profile"
fi
for p in $PHASES; do
    case $p in rest | idle | push | snapshot | profile) ;; *) echo "run.sh: unknown phase $p" >&2; exit 2 ;; esac
done
for v in REST_DURATION QUIET_WAIT IDLE_SECS PROFILE_N; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "run.sh: ${v,,} must be a whole number" >&2; exit 2; }
done
for n in $SIZES $IDLE_SUBS; do [[ $n =~ ^[0-9]+$ ]] || { echo "run.sh: bad number $n" >&2; exit 2; }; done
# shellcheck disable=SC2206
PUSH_EXTRA_A=($PUSH_EXTRA)
# shellcheck disable=SC2206
REST_EXTRA_A=($REST_EXTRA)
# shellcheck disable=SC2206
SNAP_EXTRA_A=($SNAP_EXTRA)
NOINST=()
((INSTALL)) || NOINST=(--no-install)
has_phase() { [[ " $PHASES " == *" $1 "* ]]; }

say() { printf '[run %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# ------------------------------------------------------------------ cleanup
TMP=
CHILD=      # the running phase: a `timeout` that leads its own process group
SAMPLER=    # the load-average sampler
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
        say "stopping the running phase (pid $CHILD and its process group)"
        kill -TERM -- "-$CHILD" 2>/dev/null || kill -TERM "$CHILD" 2>/dev/null || true
        for _ in $(seq 600); do kill -0 "$CHILD" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    if [ -n "$SAMPLER" ]; then kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; fi
    if [ -n "$TMP" ] && [ -d "$TMP" ]; then
        if ((KEEP)); then say "kept $TMP"; else rm -rf "$TMP"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# ------------------------------------------------------------------ 1. tools
PATH=$PATH:/usr/sbin:/sbin
need=()
for p in gcc libc6-dev cmake pkg-config libssl-dev libwebsockets-dev libwebsockets-evlib-ev libev-dev \
    libjson-c-dev libsqlite3-dev sqlite3 python3 python3-websockets curl openssl procps util-linux coreutils \
    nginx libnginx-mod-nchan wrk nghttp2-client; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if has_phase profile && ! command -v perf >/dev/null; then need+=(linux-perf); fi
if ((${#need[@]})); then
    ((INSTALL)) || die "missing: ${need[*]} (run without --no-install, as root)"
    [ "$(id -u)" = 0 ] || die "missing: ${need[*]}; run as root to apt-get install them"
    say "installing: ${need[*]}"
    # Debian's nginx package would start its default site: forbid that for this install.
    policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"
    fi
    rc=0
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"; } \
        >/dev/null || rc=$?
    [ -z "$policy" ] || rm -f "$policy"
    ((rc == 0)) || die "apt-get install ${need[*]} failed"
fi
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

# ------------------------------------------------------------------ 2. build
TMP=$(mktemp -d /tmp/waypointd-run-XXXXXX)
chmod 755 "$TMP"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START_EPOCH=$(date +%s)
START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
HEAD_FULL=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)
HEAD_SHORT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
# What the binary is built from: HEAD and whatever differs from it under the
# paths that make the server (untracked files included), with a fingerprint.
CHANGED=$(git -C "$REPO" status --porcelain --untracked-files=all -- src include CMakeLists.txt cmake 2>/dev/null |
    awk '{print $NF}' | tr '\n' ' ' | sed 's/ $//')
if [ -n "$CHANGED" ]; then
    FP=$( { git -C "$REPO" diff HEAD -- src include CMakeLists.txt cmake;
            git -C "$REPO" ls-files --others --exclude-standard -- src include CMakeLists.txt cmake |
                (cd "$REPO" && xargs -r cat); } 2>/dev/null | sha256sum | cut -c1-12)
    NCH=$(echo "$CHANGED" | wc -w)
    COMMIT="$HEAD_SHORT + uncommitted changes in $NCH file(s) (diff fingerprint $FP)"
else
    COMMIT="$HEAD_SHORT"
fi
mkdir -p "$BUILD_DIR"
if [ -n "$BINARY" ]; then
    [ -x "$BINARY" ] || die "--binary $BINARY is not an executable"
    cp "$BINARY" "$TMP/waypointd"
    BUILD_NOTE="--binary $BINARY, not built by bench/run.sh: the commit is the work tree's"
else
    say "building a Release waypointd and wsload in $BUILD_DIR from $COMMIT"
    { cmake -S "$REPO" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF &&
        cmake --build "$BUILD_DIR" -j2 --target waypointd; } >"$TMP/build.log" 2>&1 ||
        { tail -n 30 "$TMP/build.log" >&2; die "the build failed"; }
    cp "$BUILD_DIR/waypointd" "$TMP/waypointd"
    BUILD_NOTE="${BUILD_DIR#"$REPO"/}/ (Release, built by bench/run.sh"
fi
cc -O2 -std=c11 -Wall -Wextra -o "$BUILD_DIR/wsload" "$HERE/wsload.c" -lssl -lcrypto -lm >>"$TMP/build.log" 2>&1 ||
    { tail -n 30 "$TMP/build.log" >&2; die "building wsload failed"; }
cp "$BUILD_DIR/wsload" "$TMP/wsload"
BIN_SHA=$(sha256sum "$TMP/waypointd" | cut -c1-12)
"$TMP/waypointd" serve --help 2>&1 | grep -q -- '--rate-limit-addr' ||
    die "this waypointd has no --rate-limit-addr: the scripts pass --rate-limit-addr 0 --rate-limit-key 0"
export BENCH_COMMIT=$COMMIT
if [ -n "$BINARY" ]; then BUILD_NOTE="$BUILD_NOTE (sha256 $BIN_SHA…)"; else BUILD_NOTE="$BUILD_NOTE; sha256 $BIN_SHA…)"; fi
export BENCH_BUILD_NOTE=$BUILD_NOTE
printf '%s\n' "$CHANGED" >"$TMP/changed.txt"

# The machine's load over the run: one sample every 10 s (at most 8 hours).
(for _ in $(seq 2880); do echo "$(date +%s) $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 10; done) >"$TMP/load.samples" &
SAMPLER=$!

# ------------------------------------------------------------------ phases
: >"$TMP/phases.tsv"   # phase rc seconds load-before load-after
run_phase() { # NAME LIMIT_S STDOUT_FILE command...
    local name=$1 limit=$2 out=$3 rc=0 t0 l0
    shift 3
    t0=$SECONDS
    l0=$(cut -d' ' -f1-3 /proc/loadavg)
    say "phase $name (at most $((limit / 60)) min): $*"
    timeout --kill-after=60 "$limit" "$@" >"$out" </dev/null &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=
    ((rc != 124)) || say "phase $name: its time limit ($limit s) ran out"
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" "$l0" "$(cut -d' ' -f1-3 /proc/loadavg)" \
        >>"$TMP/phases.tsv"
    cat "$out"
    say "phase $name: exit status $rc after $((SECONDS - t0)) s"
    return "$rc"
}
nwords() { echo $#; }
INVALID=0
ANOMALIES=0

if has_phase rest; then
    nw=$(nwords $REST_WORKERS); nt=$(nwords $REST_TESTS)
    limit=$((nw * nt * 2 * (REST_DURATION + QUIET_WAIT + 75) + nw * 300 + 300))
    rc=0
    WAYPOINTD=$TMP/waypointd run_phase rest "$limit" "$TMP/rest.md" \
        "$HERE/rest_bench.sh" --workers "$REST_WORKERS" --tests "$REST_TESTS" --duration "$REST_DURATION" \
        --quiet-wait "$QUIET_WAIT" --json "$TMP/rest.jsonl" "${NOINST[@]}" "${REST_EXTRA_A[@]}" || rc=$?
    if ((rc != 0)); then
        if [ -s "$TMP/rest.jsonl" ] && grep -q '"non200": [1-9]\|"non2xx": [1-9]' "$TMP/rest.jsonl"; then
            INVALID=1
            {
                echo
                echo "################################################################################"
                echo "run.sh: FAILED: REST answers other than 200 (see the errors column above):"
                echo "the rate limits were not off, or the server refused the load; the CPU per"
                echo "request of such runs is not the cost of the real answer. Nothing else is run,"
                echo "and $(basename "$DOC_FILE") is not touched."
                echo "################################################################################"
            } >&2
        else
            ANOMALIES=1
        fi
    fi
fi

if has_phase idle && ((!INVALID)); then
    for s in $IDLE_SUBS; do
        run_phase "idle-$s" $((IDLE_SECS + 300)) "$TMP/idle-$s.txt" \
            "$HERE/idle_cpu.sh" --binary "$TMP/waypointd" --subscribers "$s" --duration "$IDLE_SECS" ||
            ANOMALIES=1
    done
fi

if has_phase push && ((!INVALID)); then
    limit=$(($(nwords $SIZES) * $(nwords $PUSH_SCENARIOS) * 900 + 600))
    rc=0
    run_phase push "$limit" "$TMP/push.md" \
        "$HERE/push_bench.sh" --binary "$TMP/waypointd" --wsload "$TMP/wsload" --sizes "$SIZES" \
        --scenarios "$PUSH_SCENARIOS" --results "$TMP/push.jsonl" "${NOINST[@]}" "${PUSH_EXTRA_A[@]}" || rc=$?
    ((rc == 0)) || ANOMALIES=1
fi

if has_phase snapshot && ((!INVALID)); then
    run_phase snapshot 900 "$TMP/snapshot.txt" \
        $PY "$HERE/snapshot_bench.py" --binary "$TMP/waypointd" "${SNAP_EXTRA_A[@]}" || ANOMALIES=1
fi

if has_phase profile && ((!INVALID)); then
    # Separate runs, after the measured ones: perf's own cost must not reach the figures.
    mkdir -p "$TMP/perf"
    export PERF_RECORD_OPTS
    rc=0
    run_phase profile-push $((2 * 900 + 600)) "$TMP/profile-push.md" \
        "$HERE/push_bench.sh" --binary "$TMP/waypointd" --wsload "$TMP/wsload" --sizes "$PROFILE_N" \
        --scenarios "broadcast nchan" --idle 0 --perf "$TMP/perf" --results "$TMP/profile-push.jsonl" \
        "${NOINST[@]}" || rc=$?
    WAYPOINTD=$TMP/waypointd run_phase profile-rest $((4 * (REST_DURATION + QUIET_WAIT + 75) + 600)) \
        "$TMP/profile-rest.md" "$HERE/rest_bench.sh" --workers 1 --tests "h2-c64-m10 h1-c64" \
        --duration "$REST_DURATION" --quiet-wait "$QUIET_WAIT" --perf "$TMP/perf" \
        --json "$TMP/profile-rest.jsonl" "${NOINST[@]}" || rc=$?
    say "perf reports"
    # perf's comment lines but the sample count, and blank lines
    perf_trim() { grep -v -e '^$' -e '^# *$' -e '^# To display' -e '^# (Tip' -e '^# Total Lost' -e '^# \.\.\.' -e '^# Event count'; }
    for f in "$TMP"/perf/*.data; do
        [ -e "$f" ] || continue
        b=${f%.data}
        # by symbol (self), by symbol with children (named symbols only: Debian
        # ships no debug symbols for the static functions of libwebsockets and
        # OpenSSL), by shared object, and the call chains of the largest ones
        timeout 600 perf report -i "$f" --no-children --stdio -g none --percent-limit 0.5 2>/dev/null |
            perf_trim | head -45 >"$b.self.txt" || true
        timeout 600 perf report -i "$f" --children --stdio -g none --percent-limit 2 2>/dev/null |
            perf_trim | grep -v '\[\.\] 0x0000' | head -50 >"$b.children.txt" || true
        timeout 600 perf report -i "$f" --no-children --stdio -g none --sort dso 2>/dev/null |
            perf_trim | head -20 >"$b.dso.txt" || true
        timeout 600 perf report -i "$f" --no-children --stdio -g graph,5,callee --percent-limit 3 --max-stack 16 \
            2>/dev/null | perf_trim | head -150 >"$b.callers.txt" || true
    done
fi

# ------------------------------------------------------------------ report
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
SAMPLER=
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
NOW_HEAD=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
CMD=bench/run.sh
for a in "${ARGS_GIVEN[@]}"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=,+-]+$ ]]; then CMD+=" $a"; else CMD+=" '${a//\'/\'\\\'\'}'"; fi
done
M_DATE=$START_DATE M_COMMIT=$COMMIT M_HEAD=$HEAD_FULL M_HEAD_END=$NOW_HEAD M_CHANGED=$CHANGED M_SHA=$BIN_SHA \
M_BUILD=$BENCH_BUILD_NOTE M_CMD=$CMD M_QUICK=$QUICK M_SIZES=$SIZES M_SCEN=$PUSH_SCENARIOS M_TESTS=$REST_TESTS \
M_WORKERS=$REST_WORKERS M_DUR=$REST_DURATION M_QW=$QUIET_WAIT M_IDLE_SUBS=$IDLE_SUBS M_IDLE_SECS=$IDLE_SECS \
M_PHASES=$PHASES M_PN=$PROFILE_N M_PE=$PUSH_EXTRA M_RE=$REST_EXTRA M_SE=$SNAP_EXTRA M_PERF=$PERF_RECORD_OPTS \
M_LB=$LOAD_BEFORE M_LA=$LOAD_AFTER M_MIN=$((($(date +%s) - START_EPOCH + 30) / 60)) M_INVALID=$INVALID \
    $PY - "$TMP/meta.json" <<'EOF'
import json, os, platform, sys
e = os.environ
json.dump({"date": e["M_DATE"], "commit": e["M_COMMIT"], "head": e["M_HEAD"], "head_at_end": e["M_HEAD_END"],
           "changed": e["M_CHANGED"].split(), "binary_sha256": e["M_SHA"], "build": e["M_BUILD"],
           "command": e["M_CMD"], "quick": int(e["M_QUICK"]), "sizes": e["M_SIZES"], "scenarios": e["M_SCEN"],
           "rest_tests": e["M_TESTS"], "rest_workers": e["M_WORKERS"], "rest_duration": int(e["M_DUR"]),
           "quiet_wait": int(e["M_QW"]), "idle_subs": e["M_IDLE_SUBS"], "idle_secs": int(e["M_IDLE_SECS"]),
           "phases": e["M_PHASES"].split(), "profile_n": int(e["M_PN"]), "push_extra": e["M_PE"],
           "rest_extra": e["M_RE"], "snapshot_extra": e["M_SE"], "perf_opts": e["M_PERF"], "load_before": e["M_LB"], "load_after": e["M_LA"],
           "minutes": int(e["M_MIN"]), "cores": os.cpu_count(), "kernel": platform.release(),
           "invalid": int(e["M_INVALID"])}, open(sys.argv[1], "w"))
EOF
DOCARG=()
((DOC && !INVALID)) && DOCARG=(--doc "$DOC_FILE")
echo
$PY "$HERE/run_report.py" --dir "$TMP" "${DOCARG[@]}"
((${#DOCARG[@]})) && say "wrote ${DOC_FILE#"$REPO"/}"
((INVALID)) && exit 1
((ANOMALIES)) && { say "some phases reported anomalies or failed (see above)"; exit 1; }
exit 0

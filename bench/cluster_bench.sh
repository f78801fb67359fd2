#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# cluster_bench.sh — the multi-node load figure of waypointd (docs/cluster.md,
# docs/performance-cluster.md). One command: installs what is missing (Debian
# packages), builds a Release waypointd (build-bench/) and bench/wsload.c, and
# runs on 127.0.0.1 only:
#   redis-server (its own temp dir, appendonly yes, noeviction), an origin
#   database with a DC 'bench' of N customers of one waypoint each,
#   `waypointd relay`, E edges (`waypointd serve --replica-of`, each a process
#   with its own replica, --threads settable), wsload processes (at most
#   --per-proc connections each, --src-spread, --targets = every edge, so
#   subscriber i opens to edge i % E and subscribes to customer i), and the
#   writer process of bench/push_bench.sh's spread scenario (taken from that
#   script, not copied): R changes/s for T s to random customers, each with its
#   commit time in µs in waypoints.estimated_time_of_arrival; wsload measures
#   receive - commit.
# Prints a table: subscribers, edges, lost, commit->receive p50/p99/max, RSS
# per connection per edge, edge / relay / Redis CPU, Redis memory per retained
# change. Scenarios:
#   spread     (default) N subscribers on E edges, the writer at the origin.
#   kill       the same with wsload --resume; T/2 s into the writing one edge
#              gets kill -9; its clients resume on the others with "since".
#              Reports resumed:true / resumed:false / gave up / lost, and how
#              long it took (first loss to last resubscribed).
#
#   bench/cluster_bench.sh                               # 45,000 on 3 edges, 200/s for 60 s
#   bench/cluster_bench.sh --scenario kill               # 4 edges x 11,250, one killed
#   bench/cluster_bench.sh --subscribers 3000 --seconds 20  # a small run
# Every wait has a time limit; every process started is stopped on exit.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SCENARIO=spread
N=
EDGES=
RATE=200
SECS=60
THREADS=1
PER_PROC=15000
CONCURRENCY=200
CONNECT_TIMEOUT=300
SETTLE=3
DRAIN=60
KILL_AT=
JITTER=5
INSTALL=1
KEEP=0
SYNC=NORMAL
BUILD_DIR=$REPO/build-bench
BINARY=
WSLOAD_BIN=
RESULTS_OUT=
TMP_PARENT=/tmp
FILL=
ARGS_GIVEN="$*"

usage() {
    cat <<EOF
usage: bench/cluster_bench.sh [options]
  --scenario spread|kill   (default spread)
  --kill-one               the same as --scenario kill
  --subscribers N          wss subscribers, one per customer (default 45000)
  --edges E                edges (default 3; kill: 4)
  --rate R                 writer: changes per second (default $RATE)
  --seconds T              writer: seconds of writing (default $SECS)
  --threads N              each edge's serve --threads (default $THREADS)
  --per-proc N             connections per wsload process (default $PER_PROC; at most 19000:
                           a process may hold 20,000 open files)
  --concurrency K          connections opening at once, per wsload process (default $CONCURRENCY)
  --connect-timeout S      time for every subscriber to open (default $CONNECT_TIMEOUT)
  --settle S               wait after the last subscriber opened, before measuring (default $SETTLE)
  --drain S                wait at most S s for the last messages (default $DRAIN)
  --kill-at S              kill: seconds into the writing (default T/2)
  --resume-jitter S        kill: a lost client's first attempt after 0..S s (default $JITTER)
  --sync MODE              the writer's PRAGMA synchronous: NORMAL (default) or FULL
  --build-dir DIR          where to build (default build-bench)
  --binary FILE            measure this waypointd instead of building one
  --wsload FILE            use this wsload instead of building one
  --results FILE           also write the result record (JSON)
  --no-install             do not apt-get install what is missing
  --keep                   keep the temp folder (logs, latencies)
  --redis-fill N           at the end, N copies of the newest change entry in a scratch stream:
                           Redis memory for N retained changes, measured (default 1000000 for
                           spread, 0 for kill; 0: off)
  --tmp DIR                make the temp folder (every database, Redis's AOF) in DIR (default /tmp;
                           /dev/shm takes the disk's fsync latency out of the figure)
Exits 1 when the run had an anomaly (a subscriber refused, a lost change, a
resumed:false, an edge that died uninvited...), after the table.
EOF
}

while [ $# -gt 0 ]; do
    case $1 in
    --scenario) SCENARIO=$2; shift ;;
    --kill-one) SCENARIO="kill" ;;
    --subscribers) N=$2; shift ;;
    --edges) EDGES=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --seconds) SECS=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --per-proc) PER_PROC=$2; shift ;;
    --concurrency) CONCURRENCY=$2; shift ;;
    --connect-timeout) CONNECT_TIMEOUT=$2; shift ;;
    --settle) SETTLE=$2; shift ;;
    --drain) DRAIN=$2; shift ;;
    --kill-at) KILL_AT=$2; shift ;;
    --resume-jitter) JITTER=$2; shift ;;
    --sync) SYNC=$2; shift ;;
    --build-dir) BUILD_DIR=$2; shift ;;
    --binary) BINARY=$2; shift ;;
    --wsload) WSLOAD_BIN=$2; shift ;;
    --results) RESULTS_OUT=$2; shift ;;
    --no-install) INSTALL=0 ;;
    --keep) KEEP=1 ;;
    --tmp) TMP_PARENT=$2; shift ;;
    --redis-fill) FILL=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "cluster_bench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
case $SCENARIO in
spread) : "${N:=45000}" "${EDGES:=3}" "${FILL:=1000000}" ;;
kill) : "${N:=45000}" "${EDGES:=4}" "${FILL:=0}" ;;
*) echo "cluster_bench.sh: --scenario spread or kill" >&2; exit 2 ;;
esac
: "${KILL_AT:=$((SECS / 2))}"
for v in FILL N EDGES RATE SECS THREADS PER_PROC CONCURRENCY CONNECT_TIMEOUT SETTLE DRAIN KILL_AT JITTER; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "cluster_bench.sh: ${v,,} must be a whole number" >&2; exit 2; }
done
((N >= 1 && EDGES >= 1 && EDGES <= 32 && RATE >= 1 && SECS >= 1)) || { echo "cluster_bench.sh: bad sizes" >&2; exit 2; }
((PER_PROC >= 1 && PER_PROC <= 19000)) || { echo "cluster_bench.sh: --per-proc 1..19000" >&2; exit 2; }
[ "$SCENARIO" != kill ] || ((EDGES >= 2 && KILL_AT < SECS)) ||
    { echo "cluster_bench.sh: kill needs 2 edges or more and --kill-at below --seconds" >&2; exit 2; }
case $SYNC in NORMAL | FULL) ;; *) echo "cluster_bench.sh: --sync NORMAL or FULL" >&2; exit 2 ;; esac

say() { printf '[cluster_bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { say "error: $*"; exit 1; }
. "$REPO/bench/lib.sh"

# --------------------------------------------------------------- cleanup
PIDS=()
TMP=
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*[ZX]' "/proc/$1/status" 2>/dev/null; }
cleanup() {
    local p left
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 100); do
        left=0
        for p in "${PIDS[@]}"; do alive "$p" && left=1; done
        ((left)) || break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    if [ -n "$TMP" ] && [ -d "$TMP" ]; then
        if ((KEEP)); then say "kept $TMP"; else rm -rf "$TMP"; fi
    fi
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# --------------------------------------------------------------- 1. install
install_missing() {
    bench_install gcc libc6-dev cmake pkg-config libssl-dev libwebsockets-dev libwebsockets-evlib-ev libev-dev \
        libjson-c-dev libsqlite3-dev libhiredis-dev libcurl4-openssl-dev redis-server redis-tools sqlite3 python3 \
        openssl procps
}
install_missing
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

# --------------------------------------------------------------- 2. build
bench_build

# --------------------------------------------------------------- 3. set-up
[ -d "$TMP_PARENT" ] || die "--tmp $TMP_PARENT is not a folder"
TMP=$(mktemp -d "$TMP_PARENT/cluster-bench.XXXXXX")
TMP_FS=$(df --output=fstype "$TMP" 2>/dev/null | tail -1 || echo unknown)
chmod 755 "$TMP"
cp "$BINARY" "$TMP/waypointd"
cp "$WSLOAD_BIN" "$TMP/wsload"
WAYPOINTD=$TMP/waypointd
WSLOAD=$TMP/wsload
CERT=$TMP/dev-cert.pem
KEYF=$TMP/dev-key.pem
sh "$REPO/certs/make-dev-cert.sh" "$TMP" >/dev/null
# The writer of push_bench.sh's spread scenario (its helper, extracted as it is).
sed -n "/^cat >\"\$TMP\/pb.py\" <<'PYEOF'\$/,/^PYEOF\$/p" "$REPO/bench/push_bench.sh" | sed '1d;$d' >"$TMP/pb.py"
grep -q '^def writer' "$TMP/pb.py" || die "could not take the writer from bench/push_bench.sh"
RUN=$TMP/run
mkdir -p "$RUN" "$TMP/origin" "$TMP/redis"
DB=$TMP/origin/origin.db
"$WAYPOINTD" init --db "$DB" >/dev/null
say "origin database: DC 'bench' with $N customers, one waypoint each"
sqlite3 "$DB" <<SQL
BEGIN;
INSERT INTO dcs(id, name) VALUES ('bench', 'Benchmark DC');
WITH RECURSIVE s(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM s WHERE x + 1 < $N)
INSERT INTO customers(dc_id, id, name) SELECT 'bench', printf('c%06d', x), 'Customer ' || x FROM s;
WITH RECURSIVE s(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM s WHERE x + 1 < $N)
INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, waypoints_ahead)
    SELECT 'bench', printf('w%06d', x), printf('c%06d', x), 'r1', 'PENDING', 0 FROM s;
COMMIT;
SQL
KEY=$("$WAYPOINTD" key create --db "$DB" --name bench --all-dcs)
seq 0 $((N - 1)) | awk '{printf "c%06d\n", $1}' >"$TMP/customers.txt"
CLK_TCK=$(getconf CLK_TCK)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
PER_EDGE_MAX=$(((N + EDGES - 1) / EDGES))
if [ "$SCENARIO" = kill ]; then PER_EDGE_MAX=$(((N + EDGES - 2) / (EDGES - 1))); fi
((PER_EDGE_MAX + 100 <= NOFILE)) ||
    die "an edge would hold up to $PER_EDGE_MAX connections; $NOFILE open files per process do not fit them"

# --------------------------------------------------------------- helpers
cpu_ticks() { # utime + stime of a process, in clock ticks (-1 when gone)
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo -1; return; }
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    echo $((${12} + ${13}))
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_line() { # FILE REGEX PID TIMEOUT_S: the first matching line, while PID lives
    local end=$((SECONDS + $4)) line
    while ((SECONDS < end)); do
        line=$(grep -m1 -E "$2" "$1" 2>/dev/null || true)
        [ -n "$line" ] && { echo "$line"; return 0; }
        alive "$3" || return 1
        sleep 0.1
    done
    return 1
}
stop_pid() { # PID TIMEOUT_S
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq $(($2 * 10))); do alive "$1" || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
RCLI=()
redis_info() { # the figures of Redis as KEY=VALUE words, prefix $1
    local mem info
    info=$("${RCLI[@]}" INFO memory 2>/dev/null | tr -d '\r')
    mem=$("${RCLI[@]}" MEMORY USAGE wpd:log SAMPLES 0 2>/dev/null | tr -d '\r')
    echo "$1used_memory=$(sed -n 's/^used_memory:\([0-9]*\)$/\1/p' <<<"$info")" \
        "$1used_memory_rss=$(sed -n 's/^used_memory_rss:\([0-9]*\)$/\1/p' <<<"$info")" \
        "$1stream_bytes=${mem:-0}" "$1xlen=$("${RCLI[@]}" XLEN wpd:log 2>/dev/null | tr -d '\r')" \
        "$1snap_keys=$("${RCLI[@]}" --scan --pattern 'wpd:snap*' 2>/dev/null | wc -l)"
}

# --------------------------------------------------------------- 4. Redis
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
    --dir "$TMP/redis" --maxmemory-policy noeviction --protected-mode yes \
    </dev/null >"$RUN/redis.out" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
RCLI=(redis-cli -h 127.0.0.1 -p "$REDIS_PORT")
for _ in $(seq 100); do
    [ "$("${RCLI[@]}" PING 2>/dev/null)" = PONG ] && break
    alive "$REDIS_PID" || break
    sleep 0.1
done
[ "$("${RCLI[@]}" PING 2>/dev/null)" = PONG ] || die "redis-server did not start: $(tail -3 "$RUN/redis.out")"
REDIS_URL=redis://127.0.0.1:$REDIS_PORT

# --------------------------------------------------------------- 5. relay
"$WAYPOINTD" relay --db "$DB" --redis "$REDIS_URL" </dev/null >"$RUN/relay.out" 2>"$RUN/relay.err" &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
wait_line "$RUN/relay.out" '^relaying ' "$RELAY_PID" 30 >/dev/null ||
    die "the relay did not start: $(tail -3 "$RUN/relay.err")"
say "redis :$REDIS_PORT, relay $RELAY_PID; starting $EDGES edges (--threads $THREADS)"

# --------------------------------------------------------------- 6. edges
EDGE_PIDS=()
EDGE_PORTS=()
T_EDGES=$EPOCHREALTIME
for ((e = 0; e < EDGES; e++)); do
    mkdir -p "$TMP/edge$e"
    "$WAYPOINTD" serve --replica-of "$REDIS_URL" --db "$TMP/edge$e/edge.db" --listen 127.0.0.1:0 \
        --cert "$CERT" --key "$KEYF" --threads "$THREADS" --rate-limit-addr 0 --rate-limit-key 0 \
        </dev/null >"$RUN/edge$e.out" 2>"$RUN/edge$e.err" &
    EDGE_PIDS+=("$!")
    PIDS+=("$!")
done
for ((e = 0; e < EDGES; e++)); do
    line=$(wait_line "$RUN/edge$e.out" '^listening on https://127\.0\.0\.1:' "${EDGE_PIDS[$e]}" 300) ||
        die "edge $e did not start within 300 s: $(tail -3 "$RUN/edge$e.err")"
    EDGE_PORTS+=("${line##*:}")
done
EDGE_START_S=$($PY -c "print(round($EPOCHREALTIME - $T_EDGES, 1))")
sleep 1
TARGETS=
RSS0=()
for ((e = 0; e < EDGES; e++)); do
    TARGETS+="${TARGETS:+,}127.0.0.1:${EDGE_PORTS[$e]}"
    RSS0+=("$(rss_kib "${EDGE_PIDS[$e]}")")
done
say "edges listening on $TARGETS (all caught up after $EDGE_START_S s)"

# --------------------------------------------------------------- 7. subscribers
CL_PIDS=()
CL_OUTS=()
PROCS=$(((N + PER_PROC - 1) / PER_PROC))
DUR=$((CONNECT_TIMEOUT + SETTLE + SECS * 3 + DRAIN + 240))
RESUME_ARGS=()
[ "$SCENARIO" = kill ] && RESUME_ARGS=(--resume --resume-jitter "$JITTER" --resume-attempts 10 --resume-timeout 30)
edge_cpus() { local e; for ((e = 0; e < EDGES; e++)); do printf '%s,' "$(cpu_ticks "${EDGE_PIDS[$e]}")"; done; }
EO0=$(edge_cpus)
base=0
for ((i = 0; i < PROCS; i++)); do
    cnt=$((N / PROCS + (i < N % PROCS ? 1 : 0)))
    "$WSLOAD" --targets "$TARGETS" --conns "$cnt" --index-base "$base" --src-spread --concurrency "$CONCURRENCY" \
        --ca "$CERT" --connect-timeout "$CONNECT_TIMEOUT" --duration "$DUR" --drain "$DRAIN" --mode waypointd \
        --key "$KEY" --dc bench --customers-file "$TMP/customers.txt" --changes-log "$RUN/changes.log" \
        --latency-out "$RUN/lat.$i" --resume-out "$RUN/resume.$i" "${RESUME_ARGS[@]}" \
        </dev/null >"$RUN/wl.$i.out" 2>"$RUN/wl.$i.err" &
    CL_PIDS+=("$!")
    PIDS+=("$!")
    CL_OUTS+=("$RUN/wl.$i.out")
    base=$((base + cnt))
done
wait_clients() { # WORD TIMEOUT_S: every wsload printed the line, or ended
    local end=$((SECONDS + $2)) i all
    while ((SECONDS < end)); do
        all=1
        for i in "${!CL_PIDS[@]}"; do
            grep -q "^$1 " "${CL_OUTS[$i]}" 2>/dev/null && continue
            alive "${CL_PIDS[$i]}" && all=0
        done
        ((all)) && return 0
        sleep 0.2
    done
    say "wsload: no '$1' line within $2 s"
    return 1
}
signal_clients() { local p; for p in "${CL_PIDS[@]}"; do kill "-$1" "$p" 2>/dev/null || true; done; }
clients_cpu() { local t=0 p c; for p in "${CL_PIDS[@]}"; do c=$(cpu_ticks "$p"); ((c > 0)) && t=$((t + c)); done; echo $t; }
say "opening $N subscribers ($PROCS wsload processes) to $EDGES edges"
T_OPEN=$EPOCHREALTIME
wait_clients ready $((CONNECT_TIMEOUT + 30)) || true
OPEN_S=$($PY -c "print(round($EPOCHREALTIME - $T_OPEN, 1))")
EO1=$(edge_cpus)
OPENED=$(cat "${CL_OUTS[@]}" 2>/dev/null | sed -n 's/^ready .*"opened":\([0-9]*\).*/\1/p' | awk '{s+=$1} END {print s+0}')
say "$OPENED of $N subscribed in $OPEN_S s; settling $SETTLE s"
sleep "$SETTLE"
RSS1=()
for ((e = 0; e < EDGES; e++)); do RSS1+=("$(rss_kib "${EDGE_PIDS[$e]}")"); done

# --------------------------------------------------------------- 8. the writer
KILLED=-1
KILL_US=
R0=$(redis_info r0_)
signal_clients USR2
wait_clients mark 10 || true
E0=$(edge_cpus)
RL0=$(cpu_ticks "$RELAY_PID")
RD0=$(cpu_ticks "$REDIS_PID")
CC0=$(clients_cpu)
T0=$EPOCHREALTIME
say "writer: $RATE changes/s for $SECS s at the origin$([ "$SCENARIO" = kill ] && echo "; kill -9 of one edge after $KILL_AT s")"
$PY "$TMP/pb.py" writer --db "$DB" --dc bench --customers "$N" --count $((RATE * SECS)) \
    --interval "$($PY -c "print(1/$RATE)")" --sync "$SYNC" --log "$RUN/changes.log" \
    --deadline $((SECS * 3 + 30)) >"$RUN/writer.json" &
WRITER_PID=$!
PIDS+=("$WRITER_PID")
if [ "$SCENARIO" = kill ]; then
    sleep "$KILL_AT"
    KILLED=$((EDGES - 1))
    # the edge's CPU up to its death: the last look before the kill
    E_KILLED_CPU=$(cpu_ticks "${EDGE_PIDS[$KILLED]}")
    KILL_US=${EPOCHREALTIME/./}
    kill -KILL "${EDGE_PIDS[$KILLED]}"
    wait "${EDGE_PIDS[$KILLED]}" 2>/dev/null || true
    say "kill -9 edge $KILLED (:${EDGE_PORTS[$KILLED]}) at ${KILL_AT} s into the writing"
fi
wait "$WRITER_PID" || say "the writer failed"
signal_clients USR1
wait_clients result $((DRAIN + 60)) || true
E1=$(edge_cpus)
RL1=$(cpu_ticks "$RELAY_PID")
RD1=$(cpu_ticks "$REDIS_PID")
CC1=$(clients_cpu)
T1=$EPOCHREALTIME
if [ "$SCENARIO" = kill ]; then E1=$(sed "s/^\(\([^,]*,\)\{$KILLED\}\)[^,]*,/\1$E_KILLED_CPU,/" <<<"$E1"); fi
R1=$(redis_info r1_)
RSS2=()
EDGE_ALIVE=()
for ((e = 0; e < EDGES; e++)); do
    RSS2+=("$(rss_kib "${EDGE_PIDS[$e]}")")
    if alive "${EDGE_PIDS[$e]}"; then EDGE_ALIVE+=(1); else EDGE_ALIVE+=(0); fi
done
signal_clients TERM
wait_clients closed 60 || true
for p in "${CL_PIDS[@]}"; do stop_pid "$p" 10; done
EDGE_ERR=()
for ((e = 0; e < EDGES; e++)); do
    ((e == KILLED)) || stop_pid "${EDGE_PIDS[$e]}" 15
    # lines other than info (start, bootstrap, stop)
    EDGE_ERR+=("$(grep -c -v -e 'level="info"' -e '^$' "$RUN/edge$e.err" 2>/dev/null || true)")
done
stop_pid "$RELAY_PID" 10
if ((FILL > 0)); then
    say "Redis: $FILL copies of a change entry in a scratch stream (no AOF for them)"
    "${RCLI[@]}" CONFIG SET appendonly no >/dev/null
    timeout 600 $PY "$REPO/bench/redis_fill.py" --port "$REDIS_PORT" --count "$FILL" >"$RUN/redis_fill.json" ||
        say "redis_fill.py failed"
fi

# --------------------------------------------------------------- 9. table
join() { local IFS=,; echo "$*"; }
META=$($PY - "$COMMIT" "bench/cluster_bench.sh $ARGS_GIVEN" "$LOAD_START" <<EOF
import json, os, platform, sys, time
print(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M %Z"), "commit": sys.argv[1], "command": sys.argv[2].strip(),
                  "machine": "%d cores, Linux %s" % (os.cpu_count(), platform.release()),
                  "load_start": sys.argv[3], "load_end": " ".join(open("/proc/loadavg").read().split()[:3])}))
EOF
)
set +e
# shellcheck disable=SC2086
$PY "$REPO/bench/cluster_report.py" --run "$RUN" --meta "$META" --results "${RESULTS_OUT:-$TMP/result.json}" \
    scenario="$SCENARIO" n="$N" edges="$EDGES" threads="$THREADS" rate="$RATE" seconds="$SECS" sync="$SYNC" \
    tmp_fs="$TMP_FS" opened="$OPENED" open_s="$OPEN_S" settle="$SETTLE" edge_start_s="$EDGE_START_S" clk_tck="$CLK_TCK" \
    rss0="$(join "${RSS0[@]}")" rss1="$(join "${RSS1[@]}")" rss2="$(join "${RSS2[@]}")" \
    ecpu0="${E0%,}" ecpu1="${E1%,}" eopen0="${EO0%,}" eopen1="${EO1%,}" relay_cpu0="$RL0" relay_cpu1="$RL1" redis_cpu0="$RD0" redis_cpu1="$RD1" \
    ccpu0="$CC0" ccpu1="$CC1" t0="$T0" t1="$T1" killed="$KILLED" kill_us="${KILL_US:-0}" kill_at="$KILL_AT" \
    edge_alive="$(join "${EDGE_ALIVE[@]}")" edge_err="$(join "${EDGE_ERR[@]}")" jitter="$JITTER" \
    $R0 $R1
RC=$?
exit $RC

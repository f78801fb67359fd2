#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Idle CPU and wake-ups of `waypointd serve` (see bench/README.md).
#
# Sets up a throw-away database (one DC, N customers, one waypoint each) and
# a dev certificate, starts the server on 127.0.0.1 with a free port, opens N
# idle /live subscribers (one per customer; they send nothing, not even
# pings), lets it settle, then reads the server's CPU time (utime+stime from
# /proc/PID/stat) and context switches (summed over /proc/PID/task/*/status)
# before and after the measuring window. Nothing writes to the database
# meanwhile. Always stops the server (SIGTERM) and removes the folder. The
# server runs without rate limits (--rate-limit-addr 0 --rate-limit-key 0), so
# that opening the subscribers is never answered with 429.
#
# usage: bench/idle_cpu.sh [--binary FILE] [--subscribers N] [--settle S]
#                          [--duration S] [--threads N] [--keep]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
binary=${WAYPOINTD:-/tmp/build-bench/waypointd}
subscribers=100
settle=5
duration=30
threads=2
keep=0

usage() { sed -n '3,16p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case $1 in
    --binary) binary=$2; shift 2 ;;
    --subscribers) subscribers=$2; shift 2 ;;
    --settle) settle=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "idle_cpu.sh: unknown argument $1" >&2; usage 2 >&2 ;;
    esac
done
for v in "$subscribers" "$settle" "$duration" "$threads"; do
    case $v in ''|*[!0-9]*) echo "idle_cpu.sh: numbers must be non-negative integers" >&2; exit 2 ;; esac
done
if [ "$duration" -lt 1 ] || [ "$duration" -gt 3600 ]; then echo "idle_cpu.sh: --duration 1..3600" >&2; exit 2; fi
[ "$settle" -le 600 ] || { echo "idle_cpu.sh: --settle 0..600" >&2; exit 2; }
[ -x "$binary" ] || { echo "idle_cpu.sh: no waypointd binary at $binary (build it, or pass --binary / set WAYPOINTD)" >&2; exit 1; }

# The websockets module is Debian's python3-websockets: prefer that python3.
py=python3
if ! python3 -c 'import websockets' 2>/dev/null && [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; fi

dir=$(mktemp -d /tmp/waypointd-idle-XXXXXX)
server_pid=
helper_pid=
cleanup() {
    local rc=$?
    if [ -n "$helper_pid" ] && kill -0 "$helper_pid" 2>/dev/null; then
        kill -TERM "$helper_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$helper_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$helper_pid" 2>/dev/null || true
    fi
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$server_pid" 2>/dev/null; then
            echo "idle_cpu.sh: server did not exit 10 s after SIGTERM; killing it" >&2
            kill -KILL "$server_pid" 2>/dev/null || true
        fi
    fi
    if [ "$keep" = 1 ]; then echo "idle_cpu.sh: kept $dir" >&2; else rm -rf "$dir"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The database gets a folder of its own: the server watches the database's
# folder with inotify, and the files this script writes would wake it.
mkdir "$dir/db"
db=$dir/db/bench.db
sh "$repo/certs/make-dev-cert.sh" "$dir" >/dev/null
"$binary" init --db "$db"
"$py" - "$db" "$subscribers" <<'EOF'
import sqlite3, sys
db, n = sys.argv[1], max(1, int(sys.argv[2]))
con = sqlite3.connect(db, timeout=10)
with con:
    con.execute("INSERT INTO dcs(id, name) VALUES ('bench-dc', 'Benchmark DC')")
    con.executemany("INSERT INTO customers(dc_id, id, name) VALUES ('bench-dc', ?, ?)",
                    [("c%05d" % i, "Customer %d" % i) for i in range(n)])
    con.executemany("INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, waypoints_ahead)"
                    " VALUES ('bench-dc', ?, ?, 'r1', 'PENDING', 0)", [("w%05d" % i, "c%05d" % i) for i in range(n)])
con.close()
EOF
"$binary" key create --db "$db" --name bench --all-dcs >"$dir/api-key"

"$binary" serve --db "$db" --listen 127.0.0.1:0 --cert "$dir/dev-cert.pem" --key "$dir/dev-key.pem" \
    --threads "$threads" --rate-limit-addr 0 --rate-limit-key 0 </dev/null >"$dir/serve.out" 2>"$dir/serve.err" &
server_pid=$!
port=
for _ in $(seq 300); do
    port=$(sed -n 's|^listening on https://127\.0\.0\.1:\([0-9][0-9]*\)$|\1|p' "$dir/serve.out")
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || { echo "idle_cpu.sh: server exited:" >&2; cat "$dir/serve.err" >&2; exit 1; }
    sleep 0.05
done
[ -n "$port" ] || { echo "idle_cpu.sh: no 'listening on' line within 15 s" >&2; exit 1; }

if [ "$subscribers" -gt 0 ]; then
    mkfifo "$dir/helper.out"
    "$py" "$here/common.py" hold --port "$port" --cert "$dir/dev-cert.pem" --key-file "$dir/api-key" \
        --customers "$subscribers" --seconds $((settle + duration + 60)) </dev/null >"$dir/helper.out" &
    helper_pid=$!
    exec 3<"$dir/helper.out"
    if ! read -r -t 60 line <&3 || [ "${line%% *}" != ready ]; then
        echo "idle_cpu.sh: the subscribers did not all open within 60 s (${line:-no output})" >&2
        exit 1
    fi
fi

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# One line per live thread: tid comm voluntary nonvoluntary
thread_switches() {
    local t
    for t in /proc/"$1"/task/*; do
        awk -v tid="${t##*/}" '/^Name:/{n=$2} /^voluntary_ctxt_switches:/{v=$2}
            /^nonvoluntary_ctxt_switches:/{i=$2} END{print tid, n, v, i}' "$t/status" 2>/dev/null || true
    done
}

echo "waypointd idle: --threads $threads, $subscribers idle subscribers, settle ${settle} s, measure ${duration} s (pid $server_pid, port $port)"
sleep "$settle"
ticks0=$(cpu_ticks "$server_pid")
thread_switches "$server_pid" >"$dir/sw0"
t0=$(date +%s.%N)
sleep "$duration"
ticks1=$(cpu_ticks "$server_pid")
thread_switches "$server_pid" >"$dir/sw1"
t1=$(date +%s.%N)
hz=$(getconf CLK_TCK)

kill -0 "$server_pid" 2>/dev/null || { echo "idle_cpu.sh: the server died during the measurement" >&2; exit 1; }
awk -v a="$ticks0" -v b="$ticks1" -v hz="$hz" -v t0="$t0" -v t1="$t1" 'BEGIN {
    s = (b - a) / hz; w = t1 - t0;
    printf "idle CPU: %.3f%% of one core (%.2f s CPU over %.2f s; clock tick %.0f ms)\n", 100 * s / w, s, w, 1000 / hz }'
# Wake-ups: context switches of each thread over the window (threads alive at both ends).
awk -v t0="$t0" -v t1="$t1" '
    NR == FNR { v0[$1] = $3; i0[$1] = $4; next }
    ($1 in v0) { dv = $3 - v0[$1]; di = $4 - i0[$1]; V += dv; I += di
                 line[++n] = sprintf("  thread %-8s %-16s %8d voluntary %6d involuntary  (%.1f/s)", $1, $2, dv, di, (dv + di) / (t1 - t0)) }
    END { w = t1 - t0
          printf "wakeups: %d voluntary + %d involuntary context switches in %.2f s = %.1f/s\n", V, I, w, (V + I) / w
          for (k = 1; k <= n; k++) print line[k] }' "$dir/sw0" "$dir/sw1"

if [ -n "$helper_pid" ]; then
    kill -TERM "$helper_pid" 2>/dev/null || true
    if read -r -t 10 line <&3 && [ "${line%% *}" = closed-by-server ] && [ "${line#* }" != 0 ]; then
        echo "note: the server closed ${line#* } of $subscribers idle subscribers during the run"
    fi
    wait "$helper_pid" 2>/dev/null || true
    helper_pid=
fi
kill -TERM "$server_pid"
for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$server_pid" 2>/dev/null; then
    echo "server: still running 10 s after SIGTERM (killed)"
else
    rc=0; wait "$server_pid" || rc=$?
    echo "server exit on SIGTERM: $rc"
fi
server_pid=

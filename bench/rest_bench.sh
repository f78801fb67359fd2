#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# REST benchmark: waypointd's GET /dcs/D/customers/C/waypoints against nginx
# serving the very same JSON body as a static file (docs/performance-rest.md).
#
# usage: bench/rest_bench.sh [--workers "1 2"] [--duration S] [--pin yes|no]
#                            [--tests "h1-c64 h1-c256 h2-c64-m10 conn-resumed conn-full"]
#                            [--quiet-wait S] [--json FILE] [--perf DIR] [--record]
#                            [--no-install] [--keep]
#   WAYPOINTD=FILE   use this binary instead of building build-bench/ (Release)
#   --workers        rows: waypointd --threads N and nginx worker_processes N
#   --duration       seconds per measured run (default 10, 1..120)
#   --pin yes        1-worker rows: server on core 0, load generator on core 1
#                    (default yes; rows with 2 workers are never pinned)
#   --quiet-wait S   before each run, wait up to S s (default 60) for the rest of
#                    the machine to use < 15% of it; 0: do not wait
#   --json FILE      also write every run's figures as JSON lines (bench/run.sh)
#   --perf DIR       perf record each server during its measured runs into
#                    DIR (profiling: the CPU figures then include perf's cost);
#                    PERF_RECORD_OPTS="..." sets perf's options (-F 999 -g)
#   --record         append the table to docs/performance-rest.md (the older
#                    runs; bench/run.sh writes docs/performance.md)
#   --no-install     do not apt-get install missing tools; fail instead
#   --keep           keep the temp dir (logs, raw tool output)
# waypointd runs with --rate-limit-addr 0 --rate-limit-key 0: with its default
# limits the load would be answered with 429s. Any answer that is not 200
# (counted by wrk, h2load's per-request log and wrk Lua status counters) makes
# the script print why and exit 1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
workers_list="1 2"
duration=10
pin=yes
tests="h1-c64 h1-c256 h2-c64-m10 conn-resumed conn-full"
record=0
json_out=
perf_dir=
quiet_wait=60
install=1
keep=0

usage() { sed -n '3,28p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case $1 in
    --workers) workers_list=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --pin) pin=$2; shift 2 ;;
    --tests) tests=$2; shift 2 ;;
    --quiet-wait) quiet_wait=$2; shift 2 ;;
    --no-record) record=0; shift ;;   # the default now; kept for old command lines
    --record) record=1; shift ;;
    --json) json_out=$2; shift 2 ;;
    --perf) perf_dir=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "rest_bench.sh: unknown argument $1" >&2; usage 2 >&2 ;;
    esac
done
case $duration in ''|*[!0-9]*) echo "rest_bench.sh: --duration takes seconds" >&2; exit 2 ;; esac
if [ "$duration" -lt 1 ] || [ "$duration" -gt 120 ]; then echo "rest_bench.sh: --duration 1..120" >&2; exit 2; fi
for w in $workers_list; do
    case $w in 1|2|3|4) ;; *) echo "rest_bench.sh: --workers takes numbers 1..4" >&2; exit 2 ;; esac
done
case $quiet_wait in ''|*[!0-9]*) echo "rest_bench.sh: --quiet-wait takes seconds" >&2; exit 2 ;; esac
[ "$quiet_wait" -le 3600 ] || { echo "rest_bench.sh: --quiet-wait 0..3600" >&2; exit 2; }
case $pin in yes|no) ;; *) echo "rest_bench.sh: --pin yes|no" >&2; exit 2 ;; esac
for t in $tests; do
    case $t in h1-c64|h1-c256|h2-c64-m10|conn-resumed|conn-full) ;;
    *) echo "rest_bench.sh: unknown test $t" >&2; exit 2 ;; esac
done
ncpu=$(nproc)
[ "$pin" = no ] || [ "$ncpu" -ge 2 ] || pin=no

log() { echo "rest_bench: $*" >&2; }

# --- 1. tools ---------------------------------------------------------------
PATH=$PATH:/usr/sbin:/sbin
missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v h2load >/dev/null || missing+=(nghttp2-client)
command -v curl >/dev/null || missing+=(curl)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
command -v openssl >/dev/null || missing+=(openssl)
command -v taskset >/dev/null || missing+=(util-linux)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$install" = 0 ] || [ "$(id -u)" != 0 ]; then
        echo "rest_bench.sh: missing ${missing[*]}: apt-get install ${missing[*]}" >&2; exit 1
    fi
    log "installing ${missing[*]}"
    # Debian's nginx package starts its default site (port 80, all addresses)
    # unless a policy-rc.d forbids it; forbid it for this install only.
    policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"
    fi
    rc=0
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
        >/dev/null || rc=$?
    [ -z "$policy" ] || rm -f "$policy"
    [ "$rc" = 0 ] || { echo "rest_bench.sh: apt-get install ${missing[*]} failed" >&2; exit 1; }
fi
have_cc=1
command -v cc >/dev/null || have_cc=0

# --- 2. waypointd -----------------------------------------------------------
if [ -n "${WAYPOINTD:-}" ]; then
    binary=$WAYPOINTD
    [ -x "$binary" ] || { echo "rest_bench.sh: WAYPOINTD=$binary is not an executable" >&2; exit 1; }
    build_note="WAYPOINTD=$binary"
else
    log "building Release waypointd in build-bench/"
    mkdir -p "$repo/build-bench"
    if ! (cd "$repo" && cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF &&
            cmake --build build-bench -j2) >"$repo/build-bench/rest_bench-build.log" 2>&1; then
        tail -n 30 "$repo/build-bench/rest_bench-build.log" >&2
        echo "rest_bench.sh: the build failed (build-bench/rest_bench-build.log)" >&2; exit 1
    fi
    binary=$repo/build-bench/waypointd
    build_note="build-bench/ (Release)"
fi
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git -C "$repo" diff --quiet HEAD -- src include CMakeLists.txt 2>/dev/null; then commit="$commit+local changes"; fi
[ -z "${WAYPOINTD:-}" ] || commit="$commit (the work tree's; the binary is WAYPOINTD's)"
# bench/run.sh builds once and says what it built.
[ -z "${BENCH_COMMIT:-}" ] || commit=$BENCH_COMMIT
[ -z "${BENCH_BUILD_NOTE:-}" ] || build_note=$BENCH_BUILD_NOTE
if [ -n "$perf_dir" ]; then
    command -v perf >/dev/null || { echo "rest_bench.sh: --perf needs perf (apt-get install linux-perf)" >&2; exit 1; }
    mkdir -p "$perf_dir"; perf_dir=$(cd "$perf_dir" && pwd)
fi
if [ -n "$json_out" ]; then
    mkdir -p "$(dirname "$json_out")"; json_out=$(cd "$(dirname "$json_out")" && pwd)/$(basename "$json_out")
fi

# --- 3. temp dir: certificate, database, key ---------------------------------
dir=$(mktemp -d /tmp/waypointd-rest-XXXXXX)
chmod 711 "$dir"   # nginx's workers (user nobody) must reach $dir/www
wp_pid=
ng_pid=
perf_pid=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; fi
    stop_servers || true
    if [ "$keep" = 1 ]; then log "kept $dir"; else rm -rf "$dir"; fi
    exit "$rc"
}
stop_status=
stop_pid() {  # pid signal name: signal, wait at most 10 s, then SIGKILL; sets stop_status
    local pid=$1 sig=$2 name=$3
    stop_status=0
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill "-$sig" "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name did not exit 10 s after SIG$sig; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || stop_status=$?
}
stop_servers() {
    if [ -n "$wp_pid" ]; then
        stop_pid "$wp_pid" TERM waypointd
        [ "$stop_status" = 0 ] || log "waypointd exit status after SIGTERM: $stop_status"
        echo "$stop_status" >>"$dir/waypointd-exit"
        wp_pid=
    fi
    if [ -n "$ng_pid" ]; then
        stop_pid "$ng_pid" QUIT nginx
        ng_pid=
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir "$dir/db" "$dir/www" "$dir/out"
: >"$dir/waypointd-exit"; : >"$dir/idle.txt"
db=$dir/db/bench.db   # a folder of its own: the server watches the database's folder
dc=bench-dc
cust=c00001
path=/dcs/$dc/customers/$cust/waypoints
sh "$repo/certs/make-dev-cert.sh" "$dir" >/dev/null
cert=$dir/dev-cert.pem
keyfile=$dir/dev-key.pem
"$binary" init --db "$db" >/dev/null
# One DC, one customer with 10 waypoints: 4 done, 6 still to come.
sqlite3 "$db" <<EOF
BEGIN;
INSERT INTO dcs(id, name) VALUES ('$dc', 'Benchmark DC');
INSERT INTO customers(dc_id, id, name, imported_address, imported_latitude, imported_longitude)
    VALUES ('$dc', '$cust', 'Benchmark Customer', '1 Market Street, San Francisco', 37.79404, -122.39496);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10)
INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, completed_timestamp,
                      estimated_time_of_arrival, waypoints_ahead, waiting_time_seconds)
SELECT '$dc', printf('w%05d', i), '$cust', 'route-' || (1 + i % 2),
       CASE WHEN i <= 4 THEN 'COMPLETED' ELSE 'PENDING' END,
       CASE WHEN i <= 4 THEN 1767225600000 + i * 900000 END,
       1767225600000 + i * 900000, CASE WHEN i <= 4 THEN 0 ELSE i - 4 END, 60 * i
FROM n;
COMMIT;
EOF
api_key=$("$binary" key create --db "$db" --name bench --all-dcs)

# wrk scripts: one HTTP/1.0 request per connection (both servers answer and
# close; waypointd does not echo "Connection: close" in its answer, so wrk and
# h2load would keep using the closed connection if asked with that header).
cat >"$dir/conn.lua" <<EOF
local req = "GET $path HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer $api_key\r\n\r\n"
request = function() return req end
EOF
# Every answer's status, counted by wrk's Lua (conn.lua, and the status probe
# of each row): done() prints one line, "statuses: 200 N, 429 N, other N (...)".
cat >"$dir/status.lua" <<'EOF'
local threads = {}
function setup(thread) table.insert(threads, thread) end
ok, s429, other, last_other = 0, 0, 0, 0
function response(status, headers, body)
    if status == 200 then ok = ok + 1
    elseif status == 429 then s429 = s429 + 1
    else other = other + 1; last_other = status end
end
function done(summary, latency, requests)
    local a, b, c, l = 0, 0, 0, 0
    for _, t in ipairs(threads) do
        a = a + t:get("ok"); b = b + t:get("s429"); c = c + t:get("other")
        if t:get("last_other") ~= 0 then l = t:get("last_other") end
    end
    io.write(string.format("statuses: 200 %d, 429 %d, other %d (last other %d)\n", a, b, c, l))
end
EOF
cat "$dir/status.lua" >>"$dir/conn.lua"
# For conn-full: an LD_PRELOAD for wrk that drops the TLS session wrk keeps
# across its reconnects, so every connection makes a full handshake (by
# default wrk resumes the TLS 1.3 session with the server's ticket).
if [ "$have_cc" = 1 ]; then
    cat >"$dir/nosess.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;
int SSL_set_session(SSL *s, SSL_SESSION *session);
int SSL_in_before(const SSL *s);
int SSL_connect(SSL *s);
int SSL_connect(SSL *s)
{
    static int (*real)(SSL *);
    if (!real)
        real = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_connect");
    if (SSL_in_before(s))
        SSL_set_session(s, NULL); /* no resumption: a full handshake */
    return real(s);
}
EOF
    cc -shared -fPIC -O2 -o "$dir/nosess.so" "$dir/nosess.c" -ldl || have_cc=0
fi

# --- 4. servers --------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
server_cpu=()    # taskset prefix for the servers of the current row
client_cpu=()    # and for the load generators

start_waypointd() {  # threads
    : >"$dir/serve.out"
    "${server_cpu[@]}" "$binary" serve --db "$db" --listen 127.0.0.1:0 --cert "$cert" --key "$keyfile" \
        --threads "$1" --rate-limit-addr 0 --rate-limit-key 0 </dev/null >"$dir/serve.out" 2>>"$dir/serve.err" &
    wp_pid=$!
    wp_port=
    for _ in $(seq 300); do
        wp_port=$(sed -n 's|^listening on https://127\.0\.0\.1:\([0-9][0-9]*\)$|\1|p' "$dir/serve.out")
        [ -n "$wp_port" ] && break
        kill -0 "$wp_pid" 2>/dev/null || { echo "rest_bench.sh: waypointd exited:" >&2; cat "$dir/serve.err" >&2; exit 1; }
        sleep 0.05
    done
    [ -n "$wp_port" ] || { echo "rest_bench.sh: waypointd printed no 'listening on' line within 15 s" >&2; exit 1; }
}

start_nginx() {  # workers
    local conf=$dir/nginx/nginx.conf
    mkdir -p "$dir/nginx/tmp"
    ng_port=$(free_port)
    sed -e "s|@DIR@|$dir/nginx|g; s|@PORT@|$ng_port|g; s|@WORKERS@|$1|g; s|@ROOT@|$dir/www|g" \
        -e "s|@CERT@|$cert|g; s|@KEY@|$keyfile|g" "$here/nginx/nginx.conf.in" >"$conf"
    "${server_cpu[@]}" nginx -p "$dir/nginx/" -c "$conf" -e "$dir/nginx/error.log" </dev/null \
        >>"$dir/nginx/stdout" 2>&1 &
    ng_pid=$!
    for _ in $(seq 150); do
        kill -0 "$ng_pid" 2>/dev/null || { echo "rest_bench.sh: nginx exited:" >&2; cat "$dir/nginx/stdout" "$dir/nginx/error.log" >&2; exit 1; }
        if curl -sf --cacert "$cert" --max-time 2 -o /dev/null "https://127.0.0.1:$ng_port$path"; then
            ng_pids=$(ps --ppid "$ng_pid" -o pid= | tr -s ' \n' ' ')
            [ "$(echo "$ng_pids" | wc -w)" -ge "$1" ] && return 0
        fi
        sleep 0.1
    done
    echo "rest_bench.sh: nginx did not answer within 15 s" >&2; exit 1
}

cpu_ticks() {  # pids...: utime + stime summed (all threads of each process); fails if one is gone
    local t=0 p v
    for p in "$@"; do
        v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')
        [ -n "$v" ] || return 1
        t=$((t + v))
    done
    echo "$t"
}

alive() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null || return 1; done; }

# --- 5. measurements ---------------------------------------------------------
manifest=$dir/manifest.tsv
: >"$manifest"
: >"$dir/probes.tsv"
limit=$((duration + 60))   # hard time limit of every load generator run

busy_ticks() {  # ticks all CPUs spent not idle since boot (steal included: a core we did not get)
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}
children=0
read_children() {  # sets children: user+sys ticks of this shell's waited-for descendants (the load
    # generators); `times` must run in this shell itself, not in a $(...) subshell
    times >"$dir/times"
    children=$(awk -v hz="$hz" 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); t += p[1] * 60 + p[2] }
        printf "%d", t * hz + 0.5 }' "$dir/times")
}
hz=$(getconf CLK_TCK)

h2_requests() {  # port: a 2 s h2load probe (also the HTTP/2 warm-up) -> -n for about $duration s
    local rate
    rate=$(timeout 30 "${client_cpu[@]}" h2load -D 2 -c 64 -m 10 -t 2 -H "authorization: Bearer $api_key" \
        "https://127.0.0.1:$1$path" 2>/dev/null | sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p')
    awk -v r="${rate:-0}" -v d="$duration" 'BEGIN { n = int(r * d); if (n < 2000) n = 2000; if (n > 1000000) n = 1000000; print n }'
}

wait_quiet() {  # at most $quiet_wait s: until the machine (nothing of ours is running) is < 15% busy
    local start=$SECONDS b0 t0 b1 t1 pct=0
    [ "$quiet_wait" -gt 0 ] || return 0
    local s0 s1
    while :; do
        # our own (idle) servers are not "other processes": if they burn CPU
        # now, idle_check reports it
        # shellcheck disable=SC2086  # (word splitting wanted: pid lists)
        s0=$(cpu_ticks $wp_pid $ng_pid $ng_pids) || s0=0
        read -r b0 t0 < <(awk '$1 == "cpu" { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6; exit }' /proc/stat)
        sleep 1
        read -r b1 t1 < <(awk '$1 == "cpu" { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6; exit }' /proc/stat)
        # shellcheck disable=SC2086
        s1=$(cpu_ticks $wp_pid $ng_pid $ng_pids) || s1=$s0
        b1=$((b1 - (s1 - s0)))
        pct=$(( t1 > t0 ? 100 * (b1 - b0) / (t1 - t0) : 0 ))
        [ "$pct" -ge 15 ] || return 0
        if [ $((SECONDS - start)) -ge "$quiet_wait" ]; then
            log "  the machine is still ${pct}% busy with other processes after ${quiet_wait} s; measuring anyway"
            return 0
        fi
    done
}

idle_check() {  # row: each server's CPU over 3 s with no load, after the row's runs
    local w0 w1 n0 n1 msg
    w0=$(cpu_ticks "$wp_pid") || w0=
    # shellcheck disable=SC2086
    n0=$(cpu_ticks $ng_pid $ng_pids) || n0=
    sleep 3
    w1=$(cpu_ticks "$wp_pid") || w1=
    # shellcheck disable=SC2086
    n1=$(cpu_ticks $ng_pid $ng_pids) || n1=
    msg="idle CPU in the 3 s after the $1-worker runs: waypointd $( [ -n "$w0" ] && [ -n "$w1" ] &&
        echo "$((100 * (w1 - w0) / (3 * hz)))%" || echo "– (not running)"), nginx $( [ -n "$n0" ] && [ -n "$n1" ] &&
        echo "$((100 * (n1 - n0) / (3 * hz)))%" || echo "– (not running)") of a core"
    log "$msg"
    echo "$msg" >>"$dir/idle.txt"
}

dead=""   # servers that died in the current row
server_died() {  # server pid: say so, with its exit status and stderr
    local rc=0
    dead="$dead $1"
    if [ "$1" = waypointd ]; then
        wait "$2" 2>/dev/null || rc=$?
        log "waypointd (pid $2) DIED: exit status $rc$( [ "$rc" -gt 128 ] && echo " (signal $((rc - 128)))"); its stderr ends:"
        tail -n 20 "$dir/serve.err" >&2
        echo "died:$rc" >>"$dir/waypointd-exit"
        wp_pid=
    else
        log "nginx (pid $2 or a worker) DIED; its error log ends:"
        tail -n 20 "$dir/nginx/error.log" >&2
    fi
}

run_one() {  # workers pinned test server port pids...
    local w=$1 pinned=$2 test=$3 server=$4 port=$5; shift 5
    local url="https://127.0.0.1:$port$path" out=$dir/out/$w-$test-$server.txt log="" tool=wrk
    local t0 t1 c0 c1 b0 b1 k0 k1 n=0 rc=0
    local pre=()
    case " $dead " in *" $server "*)
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t0\t0\tno\t0\t0\n' "$w" "$pinned" "$test" "$server" "$tool" "$out" "$log" \
            >>"$manifest"
        return 0 ;;
    esac
    if ! c0=$(cpu_ticks "$@"); then
        server_died "$server" "$1"
        run_one "$w" "$pinned" "$test" "$server" "$port" "$@"
        return 0
    fi
    case $test in
    conn-full) [ "$have_cc" = 1 ] || { log "no C compiler: skipping conn-full"; return 0; }
               pre=(env "LD_PRELOAD=$dir/nosess.so") ;;   # wrk only, not timeout/taskset
    h2-c64-m10) n=$(h2_requests "$port") ;;
    esac
    wait_quiet
    if [ -n "$perf_dir" ]; then
        local pf=$perf_dir/rest-$w-$test-$server
        perf record ${PERF_RECORD_OPTS:--F 999 -g} -p "$(echo "$@" | tr ' ' ',')" -o "$pf.data" >"$pf.log" 2>&1 &
        perf_pid=$!
        sleep 1
    fi
    read_children; k0=$children; b0=$(busy_ticks); c0=$(cpu_ticks "$@") || c0=0; t0=$(date +%s.%N)
    case $test in
    h1-c64|h1-c256)
        timeout "$limit" "${client_cpu[@]}" wrk -t2 -c"${test#h1-c}" -d"${duration}s" --latency \
            -H "Authorization: Bearer $api_key" "$url" >"$out" 2>&1 || rc=$? ;;
    h2-c64-m10)
        # A request count, not -D: with -D h2load counts only the requests of
        # its main phase, which starts once all clients are connected, while
        # the server's CPU time covers the whole run.
        tool=h2load; log=$dir/out/$w-$test-$server.log
        timeout "$limit" "${client_cpu[@]}" h2load -n "$n" -c 64 -m 10 -t 2 \
            -H "authorization: Bearer $api_key" --log-file="$log" "$url" >"$out" 2>&1 || rc=$? ;;
    conn-resumed|conn-full)
        timeout "$limit" "${client_cpu[@]}" "${pre[@]}" wrk -t2 -c32 -d"${duration}s" --latency -s "$dir/conn.lua" \
            "$url" >"$out" 2>&1 || rc=$? ;;
    esac
    c1=$(cpu_ticks "$@") || c1=$c0; b1=$(busy_ticks); read_children; k1=$children; t1=$(date +%s.%N)
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
        perf_pid=
    fi
    [ "$rc" = 0 ] || log "$server $test: load generator exit status $rc (see $out with --keep)"
    local a=yes; alive "$@" || a=no
    # other = CPU time of everything else on the machine meanwhile (other
    # processes, steal): busy - server - load generator.
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$pinned" "$test" "$server" "$tool" "$out" "$log" \
        "$((c1 - c0))" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}')" "$a" \
        "$((k1 - k0))" "$(( (b1 - b0) - (c1 - c0) - (k1 - k0) ))" >>"$manifest"
    [ "$a" = yes ] || server_died "$server" "$1"
    sleep 1
}

log "waypointd $binary; commit $commit; $ncpu cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
body_fetched=0
tls_info=
for w in $workers_list; do
    pinned=no; server_cpu=(); client_cpu=(); dead=""
    if [ "$pin" = yes ] && [ "$w" = 1 ]; then
        pinned=yes; server_cpu=(taskset -c 0); client_cpu=(taskset -c 1)
    fi
    start_waypointd "$w"
    if [ "$body_fetched" = 0 ]; then
        # The exact body of the API answer becomes nginx's static file.
        mkdir -p "$dir/www$(dirname "$path")"
        curl -sS -f --tlsv1.3 --cacert "$cert" -H "Authorization: Bearer $api_key" \
            -o "$dir/www$path" "https://127.0.0.1:$wp_port$path"
        chmod -R a+rX "$dir/www"
        body_fetched=1
    fi
    start_nginx "$w"
    curl -sS -f --cacert "$cert" -o "$dir/nginx-body" "https://127.0.0.1:$ng_port$path"
    cmp -s "$dir/www$path" "$dir/nginx-body" || { echo "rest_bench.sh: nginx serves another body" >&2; exit 1; }
    if [ -z "$tls_info" ]; then
        for p in "$wp_port" "$ng_port"; do
            tls_info="$tls_info $(timeout 10 openssl s_client -brief -connect "127.0.0.1:$p" </dev/null 2>&1 |
                sed -n 's/^Protocol version: //p; s/^Ciphersuite: //p; s/^Server Temp Key: //p' | tr '\n' ' ')|"
        done
    fi
    log "row: $w worker(s), pinned=$pinned; waypointd pid $wp_pid port $wp_port, nginx pid $ng_pid ($ng_pids) port $ng_port"
    # Warm-up: 2 s of keep-alive load on each, not measured.
    for port in "$wp_port" "$ng_port"; do
        timeout 30 "${client_cpu[@]}" wrk -t2 -c64 -d2s -H "Authorization: Bearer $api_key" \
            "https://127.0.0.1:$port$path" >/dev/null 2>&1 || true
    done
    # Status probe, not measured: 2 s of keep-alive load with every answer's
    # status counted (wrk's own counter in the measured runs only sees >= 400).
    for s_p in "waypointd $wp_port" "nginx $ng_port"; do
        p_name=${s_p% *}; p_port=${s_p#* }
        timeout 30 "${client_cpu[@]}" wrk -t2 -c64 -d2s -s "$dir/status.lua" -H "Authorization: Bearer $api_key" \
            "https://127.0.0.1:$p_port$path" >"$dir/out/$w-probe-$p_name.txt" 2>&1 || true
        printf '%s\t%s\t%s\n' "$w" "$p_name" "$dir/out/$w-probe-$p_name.txt" >>"$dir/probes.tsv"
        log "  status probe $p_name: $(sed -n 's/^statuses: //p' "$dir/out/$w-probe-$p_name.txt")"
    done
    for t in $tests; do
        log "  $t"
        run_one "$w" "$pinned" "$t" waypointd "$wp_port" "$wp_pid"
        # shellcheck disable=SC2086
        run_one "$w" "$pinned" "$t" nginx "$ng_port" "$ng_pid" $ng_pids
    done
    idle_check "$w"
    stop_servers
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 6. the table --------------------------------------------------------------
table=$(python3 "$here/rest_bench.py" table "$manifest" "$dir/probes.tsv")
wp_exit=$(sort -u "$dir/waypointd-exit" | tr '\n' ' ')
# lws prints "signal 15: stopping" at each stop; anything else is worth reading.
wp_err_lines=$(grep -vc -e '^$' -e 'signal [0-9]*: stopping' "$dir/serve.err" || true)
now=$(date -u '+%Y-%m-%d %H:%M UTC')
report=$(cat <<EOF
### $now — commit $commit

waypointd from $build_note; $(nginx -v 2>&1 | sed 's/^nginx version: //'); wrk $(wrk -v 2>&1 | sed -n 's/^wrk \([^ ]*\).*/\1/p'); h2load $(h2load --version | sed 's/^h2load //'); $(openssl version | cut -d' ' -f1-2); kernel $(uname -r); $ncpu cores.
Runs of ${duration} s each; the 1-worker rows $( [ "$pin" = yes ] && echo "pinned: server on core 0, load generator on core 1" || echo "not pinned"); rows with 2 workers share both cores with the load generator. Load average before $load_before, after $load_after.
TLS (openssl s_client): waypointd${tls_info%%|*}; nginx $(echo "$tls_info" | cut -d'|' -f2).
waypointd serve --threads N --rate-limit-addr 0 --rate-limit-key 0 (no rate limits). waypointd exit status after SIGTERM: ${wp_exit% }; waypointd stderr: $wp_err_lines line(s) besides "signal 15: stopping".
$(sed 's/^i/I/; s/$/./' "$dir/idle.txt" 2>/dev/null)

$table
EOF
)
echo
echo "$report"
if [ "$wp_err_lines" != 0 ]; then
    echo
    echo "waypointd stderr (last 10 lines):"
    grep -v -e '^$' -e 'signal [0-9]*: stopping' "$dir/serve.err" | tail -n 10
fi
if [ "$record" = 1 ]; then
    doc=$repo/docs/performance-rest.md
    if [ ! -f "$doc" ]; then printf '# REST performance\n\n## Recorded runs\n' >"$doc"; fi
    printf '\n%s\n' "$report" >>"$doc"
    log "appended to docs/performance-rest.md"
fi
[ -z "$json_out" ] || python3 "$here/rest_bench.py" json "$manifest" "$dir/probes.tsv" >"$json_out"
if ! python3 "$here/rest_bench.py" check "$manifest" "$dir/probes.tsv" >"$dir/check.txt" 2>&1; then
    {
        echo
        echo "################################################################################"
        echo "rest_bench.sh: FAILED: some runs had errors or answers other than 200;"
        echo "their CPU per request is not the cost of the real answer:"
        sed 's/^/    /' "$dir/check.txt"
        echo "################################################################################"
    } >&2
    exit 1
fi

#!/bin/sh
# SPDX-License-Identifier: MIT
# A local multi-node cluster in one command (docs/cluster.md): redis-server
# (AOF, noeviction), the origin database (made as the demo makes its own:
# sample data, a development certificate, an API key and a tracking link),
# `waypointd relay`, two edges (`serve --replica-of`) and haproxy in front of
# them on one port (default 8443, or WAYPOINTD_PORT), with the simulator
# playing a delivery day against the origin. Prints the demo's URLs, through
# haproxy. Ctrl-C stops everything it started.
#
# Data goes to ./waypointd-cluster (WAYPOINTD_CLUSTER_DIR; git-ignored) and is
# reused on the next run: the origin, Redis's AOF and the edges' replicas
# belong together, so remove the whole folder to start over. Logs are there
# too (redis.log, relay.log, edge1.log, ...).
#
# WAYPOINTD=/path/to/waypointd uses that binary instead of building
# build-release (the tests do this).
set -eu
cd "$(dirname "$0")/.."

PORT=${WAYPOINTD_PORT:-8443}
DIR=${WAYPOINTD_CLUSTER_DIR:-waypointd-cluster}

if [ -z "${WAYPOINTD:-}" ]; then
    sh scripts/install-deps.sh
    cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
    cmake --build build-release -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
    WAYPOINTD=build-release/waypointd
fi
for tool in redis-server redis-cli haproxy python3; do
    command -v "$tool" >/dev/null || { echo "cluster.sh: $tool is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
mkdir -p "$DIR/redis"
DIR=$(cd "$DIR" && pwd)
W=$(cd "$(dirname "$WAYPOINTD")" && pwd)/$(basename "$WAYPOINTD")

# Internal ports (Redis, edges, their metrics): free ones on loopback, chosen now.
# shellcheck disable=SC2046 # five numbers, split on purpose
set -- $(python3 -c 'import socket
socks = [socket.socket() for _ in range(5)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
REDIS_PORT=$1 EDGE1=$2 EDGE2=$3 MET1=$4 MET2=$5
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

PIDS=""
stop_all() {
    trap - INT TERM EXIT
    # Every process gets SIGTERM (the simulator and haproxy first), then each is waited for.
    for p in $PIDS; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in $PIDS; do
        wait "$p" 2>/dev/null || true
    done
    echo "cluster stopped" >&2
}
started() { PIDS="$1 $PIDS"; }
trap 'stop_all; exit 130' INT TERM
trap 'stop_all' EXIT

# Wait up to $3 seconds for a line matching $2 in file $1 (a process's log).
wait_line() {
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -gt $(($3 * 10)) ]; then
            echo "cluster.sh: nothing like \"$2\" in $1 within $3 s:" >&2
            tail -n 20 "$1" >&2
            exit 1
        fi
        sleep 0.1
    done
}

# 1. The origin, as the demo makes it: `waypointd demo` prepares its folder
#    (database seeded on the first run, certificate, a fresh API key, a
#    tracking token) and prints its banner before it serves; it is stopped
#    there, and the banner kept, with haproxy's address in it.
"$W" demo --dir "$DIR/origin" --listen "127.0.0.1:$PORT" >"$DIR/banner.txt" 2>"$DIR/demo.log" &
DEMO=$!
wait_line "$DIR/banner.txt" "Ctrl-C stops the demo" 60
kill -TERM "$DEMO" 2>/dev/null || true
wait "$DEMO" 2>/dev/null || true
DB="$DIR/origin/waypoints.db"

# 2. Redis: its own folder, AOF (a restart keeps the stream), noeviction (an
#    evicted key would look like an empty engine), no RDB snapshots.
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR/redis" --appendonly yes --appendfsync everysec \
    --maxmemory-policy noeviction --save "" --daemonize no >"$DIR/redis.log" 2>&1 &
started $!
i=0
until [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; do
    i=$((i + 1))
    [ "$i" -le 300 ] || { echo "cluster.sh: redis-server did not start:" >&2; tail -n 20 "$DIR/redis.log" >&2; exit 1; }
    sleep 0.1
done

# 3. The relay, then the edges (each prints `listening on` once filled and caught up).
"$W" relay --db "$DB" --redis "$REDIS_URL" >"$DIR/relay.log" 2>&1 &
started $!
n=1
for pair in "$EDGE1:$MET1" "$EDGE2:$MET2"; do
    "$W" serve --replica-of "$REDIS_URL" --db "$DIR/edge$n.db" --listen "127.0.0.1:${pair%%:*}" \
        --cert "$DIR/origin/dev-cert.pem" --key "$DIR/origin/dev-key.pem" --threads 2 \
        --metrics-listen "127.0.0.1:${pair##*:}" >"$DIR/edge$n.out" 2>"$DIR/edge$n.log" &
    started $!
    n=$((n + 1))
done
wait_line "$DIR/edge1.out" "listening on" 120
wait_line "$DIR/edge2.out" "listening on" 120

# 4. haproxy: the settings of docs/haproxy.cfg.example, on loopback.
cat >"$DIR/haproxy.cfg" <<EOF
# Written by scripts/cluster.sh; see docs/haproxy.cfg.example for why each setting.
global
    maxconn 4000

defaults
    mode tcp
    timeout connect 5s
    timeout client 10m
    timeout server 10m
    timeout client-fin 30s
    timeout server-fin 30s
    option tcpka
    retries 3
    option redispatch

frontend waypointd
    bind 127.0.0.1:$PORT
    default_backend edges

backend edges
    balance leastconn
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host waypointd
    http-check expect status 200
    default-server inter 1s fall 2 rise 2 slowstart 30s
    server edge1 127.0.0.1:$EDGE1 check port $MET1
    server edge2 127.0.0.1:$EDGE2 check port $MET2
EOF
haproxy -db -f "$DIR/haproxy.cfg" >"$DIR/haproxy.log" 2>&1 &
started $!
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), timeout=1).close()" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -le 100 ] || { echo "cluster.sh: haproxy did not listen on $PORT:" >&2; cat "$DIR/haproxy.log" >&2; exit 1; }
    sleep 0.1
done

# 5. The simulator writes the origin with plain SQL, as the demo's does.
"$W" simulate --db "$DB" >"$DIR/simulate.log" 2>&1 &
started $!

sed -e 's/^waypointd demo: data in .*/waypointd cluster: data in '"$(printf '%s' "$DIR" | sed 's/[&/\]/\\&/g')"' (origin, redis, edges, logs)/' \
    -e 's/Ctrl-C stops the demo\./Ctrl-C stops the cluster./' -e '/Ctrl-C stops the/q' "$DIR/banner.txt"
cat <<EOF

  haproxy 127.0.0.1:$PORT -> edge1 127.0.0.1:$EDGE1, edge2 127.0.0.1:$EDGE2 (health: http://127.0.0.1:$MET1/healthz,
  http://127.0.0.1:$MET2/healthz); redis $REDIS_URL; the origin is $DB (write it; the edges follow).

EOF

# Until Ctrl-C, or until one of them exits (then everything stops).
while :; do
    for p in $PIDS; do
        if ! kill -0 "$p" 2>/dev/null; then
            # A Ctrl-C reaches every process of the terminal: let its trap
            # run first rather than report the simulator's exit as a failure.
            sleep 1
            echo "cluster.sh: process $p exited; stopping (logs in $DIR)" >&2
            exit 1
        fi
    done
    sleep 1
done

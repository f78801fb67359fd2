#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the Debian 12 packages waypointd needs to build, test and run,
# skipping those already present. Needs root (or sudo) only when something
# is missing.
set -eu

# Build and run; then what the tests use: python3-h2 (HTTP/2 floods),
# python3-yaml and python3-jsonschema (responses against docs/openapi.yaml),
# testssl.sh (the TLS audit), clang (libFuzzer), valgrind (memcheck), dpkg-dev,
# file and man-db (the .deb test), faketime (a wall-clock step under a running
# server, test_live.py). libjs-leaflet: the dispatcher dashboard's map library,
# which serve hands out as /vendor/leaflet/ from /usr/share/javascript/leaflet
# (run time too: the .deb depends on it; test_map.py and the browser tests).
# libcurl4-openssl-dev: the webhook delivery client (issue 15), libcurl's multi
# interface with its threaded resolver; Debian 12's lws 4.1 has no async DNS,
# so an lws client would block its loop on every lookup of a receiver's name.
# libhiredis-dev: the relay's Redis client (issue 14; Debian 12 ships 0.14.1,
# whose async API has no timeouts, so the relay uses the sync API in its own
# thread); redis-server: the engine test_relay.py starts; haproxy: the
# scale-out tests in front of several edges (issue 14, later slices).
PKGS="build-essential cmake pkg-config libwebsockets-dev libwebsockets-evlib-ev libev-dev libjson-c-dev
libsqlite3-dev libssl-dev libcmocka-dev sqlite3 openssl curl python3 python3-websockets
python3-h2 python3-yaml python3-jsonschema testssl.sh clang valgrind dpkg-dev file man-db faketime libjs-leaflet
libcurl4-openssl-dev libhiredis-dev redis-server haproxy"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# Another apt or dpkg running (unattended-upgrades, another job): wait for its
# locks, up to WAYPOINTD_LOCK_WAIT seconds (600) per command, instead of failing.
# shellcheck source=scripts/pkg-lock.sh
. "$(dirname "$0")/pkg-lock.sh"
with_lock $SUDO apt-get update -qq
# shellcheck disable=SC2086
with_lock $SUDO apt-get "$APT_LOCK" install -y -qq --no-install-recommends $missing >/dev/null

#!/bin/sh
# SPDX-License-Identifier: MIT
# Build waypointd, make a sample database, a development certificate and an
# API key, print a curl line that works, then serve on https://127.0.0.1:8443
# until Ctrl-C. Everything goes to ./data (git-ignored). Re-running reuses it.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build-release -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
bin=build-release/waypointd
data=${WAYPOINTD_DATA:-data}
port=${WAYPOINTD_PORT:-8443}
mkdir -p "$data"
[ -f "$data/dev-cert.pem" ] || sh certs/make-dev-cert.sh "$data" >/dev/null
"$bin" init --db "$data/waypoints.db"
sqlite3 "$data/waypoints.db" < scripts/sample.sql
name="quickstart-$(date +%s)"
key=$("$bin" key create --db "$data/waypoints.db" --name "$name" --all-dcs)
url="https://127.0.0.1:$port"
cat <<MSG

waypointd is starting on $url (Ctrl-C stops it). Try:

  curl --cacert $data/dev-cert.pem -H 'Authorization: Bearer $key' \\
       $url/dcs/Foxtrot-DC/customers/johns-burger-shack/waypoints

MSG
exec "$bin" serve --db "$data/waypoints.db" --listen "127.0.0.1:$port" \
    --cert "$data/dev-cert.pem" --key "$data/dev-key.pem"

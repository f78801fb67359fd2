#!/bin/sh
# SPDX-License-Identifier: MIT
# The one-command demo: install what is missing, build waypointd (Release),
# then run `waypointd demo`: a sample database, a development certificate,
# an API key and a tracking link, the server on https://127.0.0.1:8443 and a
# simulator playing a delivery day, until Ctrl-C. Data goes to
# ./waypointd-demo (git-ignored) and is reused on the next run.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build-release -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
exec build-release/waypointd demo --listen "127.0.0.1:${WAYPOINTD_PORT:-8443}" "$@"

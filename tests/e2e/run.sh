#!/bin/sh
# SPDX-License-Identifier: MIT
# Browser tests of the demo pages (www/index.html, www/dispatch.html): headless
# Chromium (Debian's) driven by playwright-core, against the real waypointd on
# an ephemeral loopback port. Builds nothing: give it the binary.
#
#   sh tests/e2e/run.sh                       # WAYPOINTD=/tmp/build-web/waypointd
#   WAYPOINTD=/path/to/waypointd sh tests/e2e/run.sh [TEST_FILE...]
#
# Installs what is missing first: chromium and sqlite3 (apt, as root), the node
# modules (npm ci, from package-lock.json). Never downloads a browser through
# npm. Screenshots go to docs/screenshots/; failure screenshots to
# tests/e2e/output/. Exit status: that of `node --test`.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
WAYPOINTD=${WAYPOINTD:-/tmp/build-web/waypointd}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export WAYPOINTD CHROMIUM
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

die() { echo "run.sh: $*" >&2; exit 2; }

[ -x "$WAYPOINTD" ] || die "no waypointd binary at $WAYPOINTD (build it, or set WAYPOINTD)"
command -v node >/dev/null 2>&1 || die "node (20 or later) is needed"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
    die "node 20 or later is needed (found $(node --version))"
command -v openssl >/dev/null 2>&1 || die "openssl is needed (certs/make-dev-cert.sh)"

# Debian packages: chromium (the browser) and sqlite3 (the outside writer).
missing=""
[ -x "$CHROMIUM" ] || missing="$missing chromium"
command -v sqlite3 >/dev/null 2>&1 || missing="$missing sqlite3"
if [ -n "$missing" ]; then
    [ "$(id -u)" = 0 ] || die "missing:$missing (install them as root: apt-get install -y$missing)"
    echo "run.sh: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    timeout 900 apt-get install -y --no-install-recommends $missing >/dev/null ||
        { timeout 600 apt-get update >/dev/null && timeout 900 apt-get install -y --no-install-recommends $missing >/dev/null; } ||
        die "could not install$missing"
    [ -x "$CHROMIUM" ] || die "still no Chromium at $CHROMIUM"
fi

# Node modules, exactly as locked.
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
    echo "run.sh: npm ci" >&2
    (cd "$here" && timeout 600 npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
fi

cd "$here"
[ $# -gt 0 ] || set -- tracking.test.mjs tracking-sse.test.mjs dispatch.test.mjs notices.test.mjs
# One file at a time (each starts its own server and browser); every test has
# its own deadline, and the whole run one more. timeout signals the whole
# process group; the tests kill their servers on the way out.
exec timeout --kill-after=15 900 node --test --test-concurrency=1 --test-timeout=120000 --test-reporter=spec "$@"

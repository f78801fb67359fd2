#!/bin/sh
# SPDX-License-Identifier: MIT
# Lint docs/openapi.yaml with Redocly CLI (a real OpenAPI 3.1 validator: structure,
# $refs, schemas, examples against their schemas), configured by docs/redocly.yaml,
# where every rule of the recommended set is an error.
#
#   sh scripts/openapi-lint.sh [SPEC]        # default: docs/openapi.yaml
#
# Redocly CLI comes from the npm registry, pinned, installed once into a folder
# outside the source tree: $WAYPOINTD_TOOLS_DIR (default ~/.cache/waypointd-tools)
# /redocly-cli-VERSION. Needs node 20.19+ and npm (Debian: the nodejs package).
# Exit status: 0 when the description is valid, 1 when the lint found problems,
# 2 when the tool could not be had.
set -eu

REDOCLY_VERSION=2.77.0

here=$(cd "$(dirname "$0")/.." && pwd)
spec=${1:-$here/docs/openapi.yaml}
config=$here/docs/redocly.yaml
cache=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}
tools=${WAYPOINTD_TOOLS_DIR:-$cache/waypointd-tools}
dir=$tools/redocly-cli-$REDOCLY_VERSION
redocly=$dir/node_modules/.bin/redocly

die() { echo "openapi-lint.sh: $*" >&2; exit 2; }

[ -f "$spec" ] || die "no OpenAPI description at $spec"
[ -f "$config" ] || die "no Redocly configuration at $config"
command -v node >/dev/null 2>&1 || die "node (20.19 or later) is needed: apt-get install nodejs"
node -e 'const [a, b] = process.versions.node.split(".").map(Number);
         process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
    die "node 20.19 or later is needed for @redocly/cli $REDOCLY_VERSION (found $(node --version))"

# Telemetry and update checks off: CI has no network but the registry.
REDOCLY_TELEMETRY=off
REDOCLY_SUPPRESS_UPDATE_NOTICE=true
export REDOCLY_TELEMETRY REDOCLY_SUPPRESS_UPDATE_NOTICE

installed_version() {
    [ -x "$redocly" ] && [ -f "$dir/node_modules/@redocly/cli/package.json" ] &&
        node -e 'console.log(require(process.argv[1]).version)' "$dir/node_modules/@redocly/cli/package.json"
}

if [ "$(installed_version 2>/dev/null || true)" != "$REDOCLY_VERSION" ]; then
    command -v npm >/dev/null 2>&1 || die "npm is needed to install @redocly/cli (Debian: the nodejs package)"
    mkdir -p "$tools" || die "cannot create $tools"
    # Install next to the final folder, then rename: a concurrent run never sees half a tree.
    tmp=$(mktemp -d "$tools/.redocly-cli-$REDOCLY_VERSION.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    echo "openapi-lint.sh: installing @redocly/cli@$REDOCLY_VERSION into $dir" >&2
    timeout 600 npm install --no-audit --no-fund --loglevel=error --prefix "$tmp" \
        "@redocly/cli@$REDOCLY_VERSION" >&2 || die "npm install @redocly/cli@$REDOCLY_VERSION failed"
    [ -x "$tmp/node_modules/.bin/redocly" ] || die "npm installed no redocly binary"
    rm -rf "$dir"
    mv "$tmp" "$dir" 2>/dev/null || [ "$(installed_version 2>/dev/null || true)" = "$REDOCLY_VERSION" ] ||
        die "could not move the install to $dir"
    rm -rf "$tmp"
    trap - EXIT
fi
[ "$(installed_version)" = "$REDOCLY_VERSION" ] || die "@redocly/cli in $dir is not $REDOCLY_VERSION"

echo "openapi-lint.sh: redocly $REDOCLY_VERSION lint $spec (config $config)"
# --lint-config error: a mistyped rule name in docs/redocly.yaml fails too.
if timeout 300 "$redocly" lint "$spec" --config "$config" --lint-config error --format stylish; then
    exit 0
fi
echo "openapi-lint.sh: $spec has problems (see above)" >&2
exit 1

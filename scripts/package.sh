#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the Debian package: a Release tree configured for /usr, so that the
# compiled-in --www default is /usr/share/waypointd/www, with Debian's
# hardening flags (dpkg-buildflags), then `cpack -G DEB`. Build output goes
# to stderr; stdout is one line, the path of the .deb.
#
#   sh scripts/package.sh [BUILD_DIR]        # default: build-pkg
#
# Needs, besides scripts/install-deps.sh's packages: dpkg-dev (dpkg-shlibdeps,
# dpkg-buildflags) and file. JOBS sets the build's parallelism (default: CPUs).
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$src/build-pkg}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

die() { echo "package.sh: $*" >&2; exit 1; }

missing=""
command -v dpkg-shlibdeps >/dev/null 2>&1 || missing="$missing dpkg-dev"
command -v file >/dev/null 2>&1 || missing="$missing file"
command -v cpack >/dev/null 2>&1 || missing="$missing cmake"
[ -z "$missing" ] || die "missing:$missing (apt-get install$missing)"

cflags="$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CFLAGS)"
ldflags=$(dpkg-buildflags --get LDFLAGS)

{
    cmake -S "$src" -B "$dir" \
        -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_INSTALL_PREFIX=/usr \
        -DWAYPOINTD_WWW_DIR=/usr/share/waypointd/www \
        -DWAYPOINTD_INSTALL_SYSTEMD=ON \
        -DBUILD_TESTING=OFF \
        -DWERROR=OFF \
        -DCMAKE_C_FLAGS="$cflags" \
        -DCMAKE_EXE_LINKER_FLAGS="$ldflags"
    cmake --build "$dir" -j "$jobs"
    rm -f "$dir"/waypointd_*.deb
    (cd "$dir" && cpack -G DEB)
} >&2

set -- "$dir"/waypointd_*.deb
[ -f "$1" ] || die "cpack made no .deb in $dir"
echo "$1"

# SPDX-License-Identifier: MIT
#
# What push_bench.sh and cluster_bench.sh share, sourced after they define
# say() and die() and set REPO, BUILD_DIR, INSTALL, BINARY and WSLOAD_BIN
# from their options: installing the Debian packages a run needs, building
# a Release waypointd and the load client, and naming what is measured.

# bench_install PKG...: apt-get install those not installed (INSTALL=0: fail instead).
bench_install() {
    local need=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
    done
    ((${#need[@]})) || return 0
    ((INSTALL)) || die "missing: ${need[*]} (run without --no-install, as root)"
    [ "$(id -u)" = 0 ] || die "missing: ${need[*]}; run as root to apt-get install them"
    say "installing: ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
}

# bench_build: COMMIT (what is measured: the commit, and whether src/ differed
# from it), BINARY (--binary's, or a Release build in BUILD_DIR) and
# WSLOAD_BIN (--wsload's, or built in BUILD_DIR).
bench_build() {
    COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
    git -C "$REPO" diff --quiet HEAD -- src include CMakeLists.txt 2>/dev/null ||
        COMMIT="$COMMIT + uncommitted changes in src/"
    if [ -n "$BINARY" ]; then
        [ -x "$BINARY" ] || die "--binary $BINARY is not an executable"
        COMMIT="$COMMIT (the work tree's; measured: --binary $BINARY)"
    else
        say "building waypointd (Release) in $BUILD_DIR (commit $COMMIT)"
        cmake -S "$REPO" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null ||
            die "cmake configure failed"
        cmake --build "$BUILD_DIR" -j2 >/dev/null || die "cmake build failed"
        BINARY=$BUILD_DIR/waypointd
    fi
    if [ -n "$WSLOAD_BIN" ]; then
        [ -x "$WSLOAD_BIN" ] || die "--wsload $WSLOAD_BIN is not an executable"
    else
        mkdir -p "$BUILD_DIR"
        cc -O2 -std=c11 -Wall -Wextra -o "$BUILD_DIR/wsload" "$REPO/bench/wsload.c" -lssl -lcrypto -lm ||
            die "building wsload failed"
        WSLOAD_BIN=$BUILD_DIR/wsload
    fi
}

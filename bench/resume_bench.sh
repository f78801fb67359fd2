#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/resume_bench.sh — a DC resume on a large change log (issue 11, M5).
#
#   bench/resume_bench.sh [--rows N] [--dcs D] [--repeat R] [--build-dir DIR] [--dir DIR]
#
# Builds the `core` library in Release (cmake, into --build-dir, default
# build-bench/) and bench/resume_bench.c against it, then runs it in a
# temporary folder (or --dir): it writes a database with N change-log rows
# (default 1,000,000) over D DCs (default 1: one DC wrote the whole log, the
# worst case, as in the review) and times R (default 200) DC
# resumes of about 11 rows through store_subscribe_read, the code a service
# thread runs for a resuming DC subscription, without the index
# change_log_by_dc (schema 2) and with it (schema 3). Target: under 5 ms at
# 1M rows. No network; the database is deleted at the end.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
ROWS=1000000
DCS=1
REPEAT=200
BUILD_DIR=$REPO/build-bench
DIR=

while [ $# -gt 0 ]; do
    case $1 in
    --rows) ROWS=$2; shift 2 ;;
    --dcs) DCS=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    -h|--help) sed -n '4,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "resume_bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

cmake -S "$REPO" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build "$BUILD_DIR" -j2 --target core >/dev/null
# shellcheck disable=SC2046 # pkg-config prints several words on purpose
cc -O2 -std=c11 -Wall -Wextra -I"$REPO/include" -o "$BUILD_DIR/resume_bench" "$REPO/bench/resume_bench.c" \
    "$BUILD_DIR/libcore.a" $(pkg-config --libs libwebsockets json-c sqlite3 libssl libcrypto) -lev -lpthread -lm

CLEAN=
if [ -z "$DIR" ]; then
    DIR=$(mktemp -d /tmp/wpd-resume-bench.XXXXXX)
    CLEAN=$DIR
fi
trap '[ -n "$CLEAN" ] && rm -rf "$CLEAN"' EXIT
timeout 900 "$BUILD_DIR/resume_bench" "$DIR" "$ROWS" "$DCS" "$REPEAT"

# shellcheck shell=sh
# SPDX-License-Identifier: MIT
# Sourced by scripts/install-deps.sh and tests/package/test_deb.sh: run apt-get
# and dpkg so that another package manager on the machine (apt, dpkg,
# unattended-upgrades, a second CI job) makes them wait rather than fail.
#
# apt-get waits for the dpkg frontend lock by itself with DPkg::Lock::Timeout
# ("$APT_LOCK"); dpkg has no such option, and apt-get update (the lists lock)
# and its downloads (the archives lock) ignore it. So with_lock runs a
# command and, while it fails saying another process holds a lock, waits and
# runs it again, for at most LOCK_WAIT seconds (WAYPOINTD_LOCK_WAIT, default
# 600). The tools' own locking decides (no check-then-run race); the first
# wait is said on the stderr the script started with (fd 7), even when the
# command's own output goes to a log, with the holder's pid as the tool gives it.

LOCK_WAIT=${WAYPOINTD_LOCK_WAIT:-600}
# shellcheck disable=SC2034 # used by the scripts that source this one
APT_LOCK="-oDPkg::Lock::Timeout=$LOCK_WAIT"
exec 7>&2
LOCK_ERR='Could not get lock|Unable to lock|unable to lock|lock (is|was) locked by another process|database is locked by another process'

# with_lock CMD...: CMD's exit status; its output (stdout and stderr) goes to
# stdout when it succeeds and to stderr when it fails.
with_lock() {
    lock_end=$(($(date +%s) + LOCK_WAIT))
    lock_said=0
    while :; do
        lock_rc=0
        lock_out=$("$@" 2>&1 7>&-) || lock_rc=$?
        if [ $lock_rc -ne 0 ] && printf '%s\n' "$lock_out" | grep -Eq "$LOCK_ERR"; then
            if [ "$(date +%s)" -lt $lock_end ]; then
                if [ $lock_said = 0 ]; then
                    echo "$(basename "$0"): waiting up to $LOCK_WAIT s for another package manager:" \
                        "$(printf '%s\n' "$lock_out" | grep -E -m1 "$LOCK_ERR")" >&7
                    lock_said=1
                fi
                sleep 2
                continue
            fi
            echo "$(basename "$0"): gave up waiting for the package lock after $LOCK_WAIT s: $*" >&7
        elif [ $lock_said = 1 ]; then
            echo "$(basename "$0"): the lock is free again; ran: $*" >&7
        fi
        if [ $lock_rc -eq 0 ]; then
            [ -z "$lock_out" ] || printf '%s\n' "$lock_out"
        else
            [ -z "$lock_out" ] || printf '%s\n' "$lock_out" >&2
        fi
        return $lock_rc
    done
}

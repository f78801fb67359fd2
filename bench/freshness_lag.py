#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""How late a REST answer shows a commit made by another process.

The answer cache of each service thread is emptied when the change watcher
has seen a commit (docs/architecture.md, "The answer cache"). This measures
the window: a keep-alive HTTPS connection asks for one customer's waypoints
(so the answer is cached), this process commits a change to that customer's
waypoint with its own SQLite connection, and then asks again at once, and
again, until the answer shows the change. Per round it records the time from
the commit's return to the first fresh answer, and how many stale answers
came before it. Loopback only; every loop is bounded in count and time.

usage: bench/freshness_lag.py [--binary FILE] [--rounds N] [--threads N]
"""
import argparse
import http.client
import os
import sqlite3
import statistics
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

PATH = "/dcs/%s/customers/%s/waypoints" % (common.DC_ID, common.customer_id(0))
ROUND_DEADLINE_S = 5.0


def ask(conn, key):
    conn.request("GET", PATH, headers={"Authorization": "Bearer " + key})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError("GET %s answered %d: %r" % (PATH, r.status, body[:200]))
    return body


def one_round(conn, key, db, value):
    """Commit waypoints_ahead = value, then ask until the answer has it.
    Returns (ms from commit to the fresh answer, stale answers before it)."""
    ask(conn, key)
    ask(conn, key)  # surely cached now
    needle = b'"waypoints_ahead":%d' % value
    db.execute("UPDATE waypoints SET waypoints_ahead = ? WHERE dc_id = ? AND id = ?",
               (value, common.DC_ID, common.waypoint_id(0)))
    db.commit()
    t0 = time.monotonic()
    stale = 0
    while time.monotonic() - t0 < ROUND_DEADLINE_S:
        body = ask(conn, key)
        if needle in body:
            return (time.monotonic() - t0) * 1000.0, stale
        stale += 1
    raise RuntimeError("the change was not seen within %.0f s" % ROUND_DEADLINE_S)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=common.DEFAULT_BINARY)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    with common.Setup(a.binary, customers=4) as setup:
        server = common.Server(setup, threads=a.threads)
        try:
            ctx = common.ssl_context(setup.cert)
            conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=10)
            db = sqlite3.connect(setup.db, timeout=10)
            lags, stales = [], []
            for i in range(a.rounds):
                ms, stale = one_round(conn, setup.api_key, db, 1000 + i)
                lags.append(ms)
                stales.append(stale)
                time.sleep(0.01)
            db.close()
            conn.close()
        finally:
            code = server.stop()
    lags.sort()
    stale_rounds = sum(1 for s in stales if s)
    print("binary: %s" % a.binary)
    print("rounds: %d; threads: %d; exit code %s" % (a.rounds, a.threads, code))
    print("commit -> first fresh answer: p50 %.3f ms, p99 %.3f ms, max %.3f ms (includes one request's round trip)"
          % (statistics.median(lags), common.percentile(lags, 99), lags[-1]))
    print("rounds with a stale answer first: %d of %d; stale answers in all: %d, at most %d in one round"
          % (stale_rounds, a.rounds, sum(stales), max(stales)))


if __name__ == "__main__":
    main()

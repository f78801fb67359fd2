#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The DC snapshot's read with and without the partial index
waypoints_pending_by_dc (schema 10): a DC with --pending PENDING waypoints
among --total, the query waypointd runs for a DC subscription (store.c,
ST_SNAP_DC), timed --runs times each way in one process on one file.
Prints the median, min and max, and the query plan. Loopback-free: a
temporary SQLite file only.

    python3 bench/snapshot_query.py [--total 520000] [--pending 20000] [--runs 9]
"""
import argparse
import os
import sqlite3
import tempfile
import time

QUERY = ("SELECT id, customer_id, route_id, status, completed_timestamp, estimated_time_of_arrival,"
         " waypoints_ahead, waiting_time_seconds FROM waypoints WHERE dc_id = ?1 AND status = 'PENDING'"
         " ORDER BY rowid DESC")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--total", type=int, default=520000)
    ap.add_argument("--pending", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=9)
    a = ap.parse_args()
    every = max(1, a.total // max(1, a.pending))
    with tempfile.TemporaryDirectory(prefix="wpd-snapq-") as d:
        db = sqlite3.connect(os.path.join(d, "q.db"))
        db.executescript(
            "PRAGMA journal_mode=WAL;"
            "CREATE TABLE waypoints(dc_id TEXT NOT NULL, id TEXT NOT NULL, customer_id TEXT NOT NULL,"
            " route_id TEXT, status TEXT NOT NULL DEFAULT 'PENDING', completed_timestamp INTEGER,"
            " estimated_time_of_arrival INTEGER, waypoints_ahead INTEGER, waiting_time_seconds INTEGER,"
            " PRIMARY KEY (dc_id, id));"
            "CREATE INDEX waypoints_by_customer ON waypoints(dc_id, customer_id);")
        db.executemany("INSERT INTO waypoints VALUES (?,?,?,?,?,?,?,?,?)",
                       (("dc1", "w%08d" % i, "c%d" % (i % 50000), "r%d" % (i // 20),
                         "PENDING" if i % every == 0 else "COMPLETED", None, 1796000000000 + i, i % 20, None)
                        for i in range(a.total)))
        db.commit()
        for label in ("without the index", "with waypoints_pending_by_dc"):
            if label.startswith("with "):
                db.execute("CREATE INDEX waypoints_pending_by_dc ON waypoints(dc_id) WHERE status = 'PENDING'")
                db.commit()
            times, n = [], 0
            for _ in range(a.runs):
                t = time.perf_counter()
                n = len(db.execute(QUERY, ("dc1",)).fetchall())
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            plan = "; ".join(r[3] for r in db.execute("EXPLAIN QUERY PLAN " + QUERY, ("dc1",)))
            print("%-30s %d rows of %d: median %.1f ms (min %.1f, max %.1f)  plan: %s"
                  % (label, n, a.total, times[len(times) // 2], times[0], times[-1], plan))


if __name__ == "__main__":
    main()

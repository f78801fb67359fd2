#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box tests of the demo's data and of `waypointd simulate` (issue 12).

A plausible delivery day: a route visits each customer at most once, and the
ETAs of a route's remaining stops never run against the stop order (the stop
with fewer stops ahead arrives no later). That holds for the demo's seeded
database, for scripts/sample.sql, and at every moment while the simulator
plays (delays shift the rest of the route). Run directly:
    /usr/bin/python3 tests/integration/test_simulate.py
"""
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402

SAMPLE_SQL = os.path.join(wpd.SOURCE_DIR, "scripts", "sample.sql")

# A customer twice on one route.
REPEATS = """
SELECT dc_id, route_id, customer_id, COUNT(*) FROM waypoints
 WHERE route_id IS NOT NULL GROUP BY dc_id, route_id, customer_id HAVING COUNT(*) > 1"""
# Two PENDING stops of a route whose ETAs run against their order.
AGAINST_ORDER = """
SELECT a.dc_id, a.route_id, a.id, a.waypoints_ahead, a.estimated_time_of_arrival,
       b.id, b.waypoints_ahead, b.estimated_time_of_arrival
  FROM waypoints a JOIN waypoints b ON a.dc_id = b.dc_id AND a.route_id = b.route_id
 WHERE a.status = 'PENDING' AND b.status = 'PENDING'
   AND a.waypoints_ahead < b.waypoints_ahead
   AND a.estimated_time_of_arrival > b.estimated_time_of_arrival"""
# Two PENDING stops of a route in the same place of the order.
SAME_PLACE = """
SELECT dc_id, route_id, waypoints_ahead, COUNT(*) FROM waypoints
 WHERE status = 'PENDING' AND route_id IS NOT NULL
 GROUP BY dc_id, route_id, waypoints_ahead HAVING COUNT(*) > 1"""


def violations(db):
    """The rows that make the day implausible, by rule (empty lists: none)."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        con.execute("BEGIN")   # one snapshot for all three questions
        out = {name: con.execute(query).fetchall()
               for name, query in (("repeats", REPEATS), ("against_order", AGAINST_ORDER), ("same_place", SAME_PLACE))}
        con.execute("COMMIT")
        return out
    finally:
        con.close()


def counts(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        return dict(con.execute("SELECT status, COUNT(*) FROM waypoints GROUP BY status").fetchall()), \
            con.execute("SELECT COUNT(DISTINCT dc_id || '/' || route_id) FROM waypoints").fetchone()[0]
    finally:
        con.close()


class DemoDataTest(unittest.TestCase):
    def setUp(self):
        self.dir = wpd.make_tempdir("wpd-sim-")
        self.addCleanup(wpd.remove_tree, self.dir)

    def assert_plausible(self, db, when):
        v = violations(db)
        self.assertEqual(v["repeats"], [], "%s: a customer more than once on one route" % when)
        self.assertEqual(v["against_order"], [], "%s: ETAs against the stop order" % when)
        self.assertEqual(v["same_place"], [], "%s: two pending stops in one place of a route" % when)

    def demo_database(self):
        """A fresh demo folder: `waypointd demo` seeds it, serves, and is stopped once listening."""
        demo_dir = os.path.join(self.dir, "demo")
        proc = subprocess.Popen([wpd.WAYPOINTD, "demo", "--dir", demo_dir, "--listen", "127.0.0.1:0"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + wpd.START_DEADLINE * 3   # it also makes a certificate
            out = b""
            while not re.search(rb"^listening on https://", out, re.M):
                self.assertIsNone(proc.poll(), "demo exited early: %r" % out)
                left = deadline - time.monotonic()
                self.assertGreater(left, 0, "demo not listening in time: %r" % out)
                if select.select([proc.stdout], [], [], min(left, 0.2))[0]:
                    out += os.read(proc.stdout.fileno(), 65536)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=wpd.STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        self.assertEqual(proc.returncode, 0)
        return os.path.join(demo_dir, "waypoints.db")

    def test_issue_12_demo_seed_is_plausible(self):
        db = self.demo_database()
        statuses, routes = counts(db)
        self.assertGreater(statuses.get("PENDING", 0), 10, "the demo starts with routes to play")
        self.assertGreater(routes, 3)
        self.assert_plausible(db, "the seeded demo")

    def test_issue_12_simulated_day_stays_plausible(self):
        """simulate at 40x for a bounded time; the rules hold at every look and at the end."""
        db = self.demo_database()
        # The seeded routes run at speed 1 (a stop every half minute): one DC
        # keeps them, the other starts afresh, so new routes start at 40x too.
        wpd.sql(db, "DELETE FROM waypoints WHERE dc_id = 'sf-south' AND status = 'PENDING';")
        before, routes_before = counts(db)
        proc = subprocess.Popen([wpd.WAYPOINTD, "simulate", "--db", db, "--speed", "40", "--seed", "12",
                                 "--duration", "12"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        looks = 0
        try:
            deadline = time.monotonic() + 30
            while proc.poll() is None:
                self.assertLess(time.monotonic(), deadline, "simulate --duration 12 did not stop")
                self.assert_plausible(db, "while simulating (look %d)" % looks)
                looks += 1
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate(timeout=10)
        self.assertEqual(proc.returncode, 0, err)
        self.assert_plausible(db, "after simulating")
        after, routes_after = counts(db)
        # It played: stops were reached, and new routes started.
        done = lambda c: c.get("COMPLETED", 0) + c.get("FAILED", 0) + c.get("SKIPPED", 0)  # noqa: E731
        self.assertGreater(done(after), done(before) + 10, "stops were completed")
        self.assertGreater(routes_after, routes_before, "new routes started")
        self.assertGreater(looks, 20)

    def test_issue_12_sample_sql_is_plausible(self):
        db = wpd.init_db(os.path.join(self.dir, "sample.db"))
        with open(SAMPLE_SQL, encoding="utf-8") as f:
            wpd.check(wpd.run(["sqlite3", "-bail", db], input=f.read()), "sqlite3 < scripts/sample.sql")
        self.assertGreater(counts(db)[0].get("PENDING", 0), 0)
        self.assert_plausible(db, "scripts/sample.sql")


class SimulateSaysWhatItPlaysTest(unittest.TestCase):
    """simulate names what it plays in one line at start, and refuses (exit 1,
    one line with the reason and the fix) a database it cannot play on."""

    def setUp(self):
        self.dir = wpd.make_tempdir("wpd-sim-")
        self.addCleanup(wpd.remove_tree, self.dir)

    def simulate(self, db, *extra):
        return wpd.waypointd("simulate", "--db", db, "--duration", "1", *extra)

    def assert_refused(self, proc, *words):
        self.assertEqual(proc.returncode, 1, "refused with exit 1: %r" % (proc.stderr,))
        lines = proc.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, "one line on stderr: %r" % (proc.stderr,))
        for word in words:
            self.assertIn(word, lines[0])
        self.assertEqual(proc.stdout, "", "nothing played")

    def test_issue_12_refuses_missing_database(self):
        db = os.path.join(self.dir, "none.db")
        proc = self.simulate(db)
        self.assert_refused(proc, db)
        self.assertFalse(os.path.exists(db), "simulate does not create a database")

    def test_issue_12_refuses_uninitialised_database(self):
        db = os.path.join(self.dir, "empty.db")
        open(db, "wb").close()     # an empty file: SQLite opens it as an empty database
        self.assert_refused(self.simulate(db), db, "not initialised", "waypointd init --db")

    def test_issue_12_refuses_database_without_dcs(self):
        db = wpd.init_db(os.path.join(self.dir, "w.db"))
        self.assert_refused(self.simulate(db), db, "no DCs", "sample.sql")

    def test_issue_12_refuses_database_without_customers(self):
        db = wpd.init_db(os.path.join(self.dir, "w.db"))
        wpd.sql(db, "INSERT INTO dcs(id, name) VALUES ('Foxtrot-DC', 'Foxtrot');")
        self.assert_refused(self.simulate(db), db, "no customers", "sample.sql")
        self.assertEqual(wpd.sql_value(db, "SELECT COUNT(*) FROM waypoints"), "0", "nothing written")

    def test_issue_12_says_what_it_plays(self):
        db = wpd.init_db(os.path.join(self.dir, "w.db"))
        with open(SAMPLE_SQL, encoding="utf-8") as f:
            wpd.check(wpd.run(["sqlite3", "-bail", db], input=f.read()), "sqlite3 < scripts/sample.sql")
        proc = self.simulate(db, "--speed", "5")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.strip().splitlines()
        self.assertEqual(len(lines), 1, "one line on stdout: %r" % (proc.stdout,))
        line = lines[0]
        # sample.sql: one DC, three customers, route-7 with two stops to go.
        for part in ("1 DC (Foxtrot-DC)", "3 customers", "1 route under way", "speed 5", "for 1 s"):
            self.assertIn(part, line)
        self.assertEqual(proc.stderr, "")

    def test_issue_12_says_until_stopped(self):
        db = wpd.init_db(os.path.join(self.dir, "w.db"))
        with open(SAMPLE_SQL, encoding="utf-8") as f:
            wpd.check(wpd.run(["sqlite3", "-bail", db], input=f.read()), "sqlite3 < scripts/sample.sql")
        proc = subprocess.Popen([wpd.WAYPOINTD, "simulate", "--db", db], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            ready = select.select([proc.stdout], [], [], 10)[0]
            self.assertTrue(ready, "the line comes at start, not at the end")
            line = proc.stdout.readline()
            self.assertIn("until Ctrl-C", line)
            self.assertIn("speed 1", line)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=wpd.STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        self.assertEqual(proc.returncode, 0)


if __name__ == "__main__":
    unittest.main()

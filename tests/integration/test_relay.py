#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`waypointd relay` against a real redis-server on loopback (issue 14,
docs/cluster.md): every change_log row becomes entry s-0 and every aux_log
row s-1, s-2, ... in order with a correct prev chain; a Redis restarted empty
is refilled with the same ids; a Redis restarted from its AOF continues
without duplicates; a relay restarted sends the backlog once; an engine ahead
of the database makes the relay exit 1."""
import json
import os
import signal
import subprocess
import time
import unittest

import wpd

from cluster_util import DEADLINE, Redis, Resp


class RelayTest(unittest.TestCase):
    def setUp(self):
        self.tmp = wpd.make_tempdir("wpd-relay-")
        self.db = wpd.init_db(os.path.join(self.tmp, "origin.db"))
        rdir = os.path.join(self.tmp, "redis")
        os.mkdir(rdir)
        self.redis = Redis(rdir)
        self.redis.start()
        self.relay = None

    def tearDown(self):
        self.stop_relay()
        self.redis.kill()
        wpd.remove_tree(self.tmp)

    def url(self):
        return "redis://127.0.0.1:%d" % self.redis.port

    def start_relay(self, *extra):
        self.relay = subprocess.Popen([wpd.WAYPOINTD, "relay", "--db", self.db, "--redis", self.url()] + list(extra),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.relay.stdout.readline()
        self.assertEqual(line.strip(), "relaying %s to %s" % (self.db, self.url()))

    def stop_relay(self):
        if self.relay:
            if self.relay.poll() is None:
                self.relay.send_signal(signal.SIGTERM)
                self.assertEqual(self.relay.wait(timeout=DEADLINE), 0)
            self.relay.stdout.close()
            self.relay.stderr.close()
            self.relay = None

    def entries(self):
        c = Resp(self.redis.port)
        try:
            out = c.cmd("XRANGE", "wpd:log", "-", "+")
        finally:
            c.close()
        res = []
        for eid, fields in out or []:
            res.append((eid, dict(zip(fields[::2], fields[1::2]))))
        return res

    def expected_ids(self):
        """What the database holds, as stream ids in order."""
        ids = [(int(s), 0) for s in wpd.sql(self.db, "SELECT seq FROM change_log ORDER BY seq").split()]
        sub = {}
        for s in wpd.sql(self.db, "SELECT seq FROM aux_log ORDER BY id").split():
            s = int(s)
            sub[s] = sub.get(s, 0) + 1
            ids.append((s, sub[s]))
        return ["%d-%d" % p for p in sorted(ids)]

    def wait_stream(self, want):
        deadline = time.monotonic() + DEADLINE
        while True:
            got = [e[0] for e in self.entries()]
            if got == want:
                return self.entries()
            if time.monotonic() > deadline:
                self.fail("stream %s, wanted %s" % (got, want))
            time.sleep(0.1)

    def assert_chain(self, entries):
        prev = "0-0"
        for eid, f in entries:
            self.assertEqual(f["prev"], prev, eid)
            prev = eid
        c = Resp(self.redis.port)
        try:
            self.assertEqual(c.cmd("GET", "wpd:head"), prev)
        finally:
            c.close()

    def write(self, n, start=0):
        for i in range(start, start + n):
            wpd.sql(self.db, "INSERT INTO waypoints(dc_id, id, customer_id, status) VALUES ('dc1', 'w%d', 'c1', 'PENDING');"
                             "UPDATE waypoints SET status = 'ARRIVED' WHERE id = 'w%d';" % (i, i))

    def test_rows_and_aux_in_order_with_prev_chain(self):
        self.start_relay()
        wpd.sql(self.db, "INSERT INTO dcs(id, name) VALUES ('dc1', 'North');"
                         "INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c1', 'Acme');")
        self.write(3)
        wpd.sql(self.db, "UPDATE customers SET name = 'Acme Ltd' WHERE id = 'c1'")
        want = self.expected_ids()
        self.assertTrue(any(w.endswith("-0") for w in want))
        entries = self.wait_stream(want)
        self.assert_chain(entries)
        kinds = {f["k"] for _e, f in entries}
        self.assertIn("c", kinds)
        self.assertIn("customers", kinds)
        self.assertIn("dcs", kinds)
        last = entries[-1][1]
        self.assertEqual(last["k"], "customers")
        d = json.loads(last["d"])
        self.assertEqual(d["op"], "u")
        self.assertEqual(d["image"]["name"], "Acme Ltd")
        changes = [json.loads(f["d"]) for _e, f in entries if f["k"] == "c"]
        self.assertEqual(changes[0]["waypoint_id"], "w0")
        # An image is the row as the relay read it (cluster.md): the insert's
        # may already show the update; the last entry of w0 shows where it ended.
        self.assertIn(changes[0]["waypoint"]["status"], ("PENDING", "ARRIVED"))
        last_w0 = [d for d in changes if d["waypoint_id"] == "w0"][-1]
        self.assertEqual(last_w0["waypoint"]["status"], "ARRIVED")
        c = Resp(self.redis.port)
        try:
            self.assertIsNotNone(c.cmd("GET", "wpd:relay-beat"))
        finally:
            c.close()

    def test_redis_restarted_empty_is_refilled(self):
        self.start_relay()
        self.write(3)
        want = self.expected_ids()
        first = self.wait_stream(want)
        self.redis.kill()
        self.redis.wipe()
        self.redis.start()
        again = self.wait_stream(want)
        self.assertEqual([(e, f["prev"]) for e, f in first], [(e, f["prev"]) for e, f in again])
        self.write(2, start=3)
        self.assert_chain(self.wait_stream(self.expected_ids()))

    def test_redis_restarted_with_aof_continues(self):
        self.start_relay()
        self.write(3)
        self.wait_stream(self.expected_ids())
        self.redis.kill()
        self.redis.start()
        self.write(2, start=3)
        entries = self.wait_stream(self.expected_ids())
        self.assert_chain(entries)
        ids = [e for e, _f in entries]
        self.assertEqual(len(ids), len(set(ids)))

    def test_relay_restarted_sends_backlog_once(self):
        self.start_relay()
        self.write(2)
        self.wait_stream(self.expected_ids())
        self.stop_relay()
        self.write(3, start=2)
        wpd.sql(self.db, "INSERT INTO dcs(id) VALUES ('dc9')")
        self.start_relay()
        entries = self.wait_stream(self.expected_ids())
        self.assert_chain(entries)

    def test_redis_restarted_from_older_file_gets_its_tail_back(self):
        import shutil
        self.start_relay()
        self.write(2)
        self.wait_stream(self.expected_ids())
        c = Resp(self.redis.port)
        try:
            old_head = c.cmd("GET", "wpd:head")
        finally:
            c.close()
        self.redis.kill()
        saved = os.path.join(self.tmp, "saved")
        shutil.copytree(self.redis.dir, saved)
        self.redis.start()
        self.write(3, start=2)
        full = self.wait_stream(self.expected_ids())
        self.redis.kill()
        self.redis.wipe()
        for name in os.listdir(saved):
            src = os.path.join(saved, name)
            (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, os.path.join(self.redis.dir, name))
        self.redis.start()
        refilled = self.wait_stream(self.expected_ids())
        def as_pair(i):
            return tuple(int(x) for x in i.split("-"))
        self.assertLess(as_pair(old_head), as_pair(full[-1][0]))
        self.assertEqual([(e, f["prev"], f["k"]) for e, f in full], [(e, f["prev"], f["k"]) for e, f in refilled])

    def test_script_flushed_is_loaded_again(self):
        self.start_relay()
        self.write(1)
        self.wait_stream(self.expected_ids())
        c = Resp(self.redis.port)
        try:
            self.assertEqual(c.cmd("SCRIPT", "FLUSH"), "OK")
        finally:
            c.close()
        self.write(2, start=1)
        self.assert_chain(self.wait_stream(self.expected_ids()))

    def test_stream_trimmed_after_pruning(self):
        self.start_relay()
        self.write(10)
        self.wait_stream(self.expected_ids())
        top = int(wpd.sql_value(self.db, "SELECT MAX(seq) FROM change_log"))
        cut = top - 4
        # What the pruner does (store_log_prune): delete, then move pruned_through.
        wpd.sql(self.db, "BEGIN; DELETE FROM change_log WHERE seq <= %d;"
                         "UPDATE change_log_state SET pruned_through = %d WHERE id = 1; COMMIT;" % (cut, cut))
        self.write(1, start=10)
        want = self.expected_ids()
        deadline = time.monotonic() + DEADLINE
        while True:
            ids = [e for e, _f in self.entries()]
            if ids and ids[-1] == want[-1] and int(ids[0].split("-")[0]) > 1:
                break
            if time.monotonic() > deadline:
                self.fail("not trimmed: %s" % ids)
            time.sleep(0.1)
        # MINID ~ trims whole nodes only: nothing at or after the cut is gone.
        self.assertTrue(all(w in ids for w in want))

    def test_engine_ahead_of_database_exits_1(self):
        self.write(1)
        c = Resp(self.redis.port)
        try:
            c.cmd("SET", "wpd:head", "999-0")
        finally:
            c.close()
        self.start_relay()
        self.assertEqual(self.relay.wait(timeout=DEADLINE), 1)
        err = self.relay.stderr.read()
        self.assertIn("ahead of the database", err)
        self.relay.stdout.close()
        self.relay.stderr.close()
        self.relay = None

    def test_reset_engine_starts_again_under_a_new_epoch(self):
        """A database restored from a backup: the engine is ahead of it and
        the relay refuses; `--reset-engine` sets a new wpd:epoch, drops the
        old stream and publishes the database's rows again from scratch."""
        self.write(2)
        c = Resp(self.redis.port)
        try:
            c.cmd("SET", "wpd:head", "999-0")
            c.cmd("XADD", "wpd:log", "999-0", "prev", "0-0", "k", "c", "d", "{}")
            self.assertIsNone(c.cmd("GET", "wpd:epoch"))
        finally:
            c.close()
        self.start_relay("--reset-engine")
        want = self.expected_ids()
        entries = self.wait_stream(want)
        self.assert_chain(entries)
        self.assertNotIn("999-0", [e for e, _f in entries])
        c = Resp(self.redis.port)
        try:
            epoch = c.cmd("GET", "wpd:epoch")
            self.assertIsNotNone(epoch)
            self.assertEqual(c.cmd("GET", "wpd:head"), want[-1])
        finally:
            c.close()
        # A second relay run without the flag keeps the epoch and the stream.
        self.stop_relay()
        self.start_relay()
        self.write(1, start=2)
        entries = self.wait_stream(self.expected_ids())
        self.assert_chain(entries)
        c = Resp(self.redis.port)
        try:
            self.assertEqual(c.cmd("GET", "wpd:epoch"), epoch)
        finally:
            c.close()


class RelayAuthTest(unittest.TestCase):
    """A Redis with requirepass: the relay authenticates with the password
    from the URL or from WAYPOINTD_REDIS_PASSWORD, never prints it, and
    without it says why it cannot publish."""

    def setUp(self):
        self.tmp = wpd.make_tempdir("wpd-relay-auth-")
        self.db = wpd.init_db(os.path.join(self.tmp, "origin.db"))
        rdir = os.path.join(self.tmp, "redis")
        os.mkdir(rdir)
        self.redis = Redis(rdir, password="pw-Zq81")
        self.redis.start()

    def tearDown(self):
        self.redis.kill()
        wpd.remove_tree(self.tmp)

    def head(self):
        c = Resp(self.redis.port)
        try:
            c.cmd("AUTH", "pw-Zq81")
            return c.cmd("GET", "wpd:head")
        finally:
            c.close()

    def run_relay(self, url, env=None):
        wpd.sql(self.db, "INSERT INTO dcs(id, name) VALUES ('dc%d', 'x')" % time.monotonic_ns())
        p = subprocess.Popen([wpd.WAYPOINTD, "relay", "--db", self.db, "--redis", url],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, **(env or {})))
        first = p.stdout.readline()
        deadline = time.monotonic() + DEADLINE
        while self.head() is None and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.05)
        got = self.head()
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=DEADLINE)
        return first + out, err, got

    def test_password_in_the_url_or_the_environment(self):
        port = self.redis.port
        out, err, head = self.run_relay("redis://:pw-Zq81@127.0.0.1:%d" % port)
        self.assertIsNotNone(head, err)
        self.assertIn("relaying %s to redis://127.0.0.1:%d" % (self.db, port), out)
        self.assertNotIn("pw-Zq81", out + err)
        c = Resp(port)
        try:
            c.cmd("AUTH", "pw-Zq81")
            c.cmd("DEL", "wpd:head", "wpd:log")
        finally:
            c.close()
        out, err, head = self.run_relay("redis://127.0.0.1:%d" % port, env={"WAYPOINTD_REDIS_PASSWORD": "pw-Zq81"})
        self.assertIsNotNone(head, err)

    def test_a_wrong_password_is_said(self):
        p = subprocess.Popen([wpd.WAYPOINTD, "relay", "--db", self.db, "--redis",
                              "redis://:nope@127.0.0.1:%d" % self.redis.port],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        p.stdout.readline()
        time.sleep(1)
        p.send_signal(signal.SIGTERM)
        _out, err = p.communicate(timeout=DEADLINE)
        self.assertEqual(p.returncode, 0)
        self.assertIn("AUTH", err)
        self.assertNotIn("nope", err)
        self.assertIsNone(self.head())


if __name__ == "__main__":
    unittest.main()

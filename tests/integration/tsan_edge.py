#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The edge under ThreadSanitizer (scripts/test.sh runs it against
build-tsan/waypointd, as tsan_smoke.py; it refuses any other binary).

A real redis-server, `waypointd relay` on the origin database and one edge
(`serve --replica-of`) with 2 service threads and the metrics listener: the
applier thread's commits and atomics (health, metrics, the edge's start
point) run against the watcher and the service threads while the origin's
writer commits, WebSocket subscribers receive, REST reads and /metrics and
/healthz scrapes go on. Then a key revoked at the origin, and SIGTERM.
Fails on any ThreadSanitizer report in the edge's stderr or its exit 66."""
import asyncio
import logging
import os
import re
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402
from live_client import Live  # noqa: E402
from cluster_util import Redis  # noqa: E402
from tsan_smoke import SUPPRESSIONS, TSAN_EXIT, TSAN_OPTIONS, is_tsan_binary, tsan_reports  # noqa: E402

logging.getLogger("asyncio").setLevel(logging.ERROR)

DEADLINE = 30.0  # TSan slows everything 5-15x: deadlines, not expectations
DC, CUSTOMERS, ROUNDS = "edge", ("c0", "c1", "c2"), 6


class TsanEdgeTest(unittest.IsolatedAsyncioTestCase):

    @classmethod
    def setUpClass(cls):
        if not is_tsan_binary(wpd.WAYPOINTD):
            raise AssertionError("%s is not a ThreadSanitizer build; this test proves nothing on any other binary"
                                 % wpd.WAYPOINTD)
        if not os.path.isfile(SUPPRESSIONS):
            raise AssertionError("no %s" % SUPPRESSIONS)
        os.environ["TSAN_OPTIONS"] = TSAN_OPTIONS
        sb = wpd.Sandbox(prefix="wpd-tsan-edge-")
        cls.addClassCleanup(sb.close)
        cls.sb = sb
        sb.insert("dcs", [{"id": DC, "name": "Edge DC"}])
        sb.insert("customers", [{"dc_id": DC, "id": c, "name": "N " + c} for c in CUSTOMERS])
        sb.insert("waypoints", [{"dc_id": DC, "id": "%s-w%d" % (c, r), "customer_id": c, "status": "PENDING",
                                 "waypoints_ahead": r} for c in CUSTOMERS for r in range(ROUNDS)])
        cls.key = sb.key_create("tsan-edge", all_dcs=True)
        rdir = os.path.join(sb.dir, "redis")
        os.mkdir(rdir)
        cls.redis = Redis(rdir)
        cls.redis.start()
        cls.addClassCleanup(cls.redis.kill)
        url = "redis://127.0.0.1:%d" % cls.redis.port
        cls.relay = subprocess.Popen([wpd.WAYPOINTD, "relay", "--db", sb.db, "--redis", url],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        cls.addClassCleanup(cls.stop_relay)
        cls.edge = sb.server(threads=2, db=os.path.join(sb.dir, "edge.db"),
                             extra=("--replica-of", url, "--metrics-listen", "127.0.0.1:0",
                                    "--rate-limit-addr", "0", "--rate-limit-key", "0"))

    @classmethod
    def stop_relay(cls):
        if cls.relay.poll() is None:
            cls.relay.terminate()
        cls.relay.communicate(timeout=DEADLINE)

    def assertNoTsanReport(self, rc=None):
        stderr = self.edge.stderr()
        reports = tsan_reports(stderr)
        if reports:
            self.fail("ThreadSanitizer reported %d race(s) in the edge:\n%s" % (len(reports), "\n".join(reports)[:60000]))
        if rc is not None:
            self.assertNotEqual(rc, TSAN_EXIT, "the edge exited %d (TSan's); stderr:\n%s" % (rc, stderr[-20000:]))

    def admin(self, path):
        m = re.search(r"metrics and health on (http://127\.0\.0\.1:\d+)/metrics", self.edge.stderr())
        self.assertIsNotNone(m, self.edge.stderr()[-3000:])
        try:
            with urllib.request.urlopen(m.group(1) + path, timeout=DEADLINE) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    async def rest_code(self, customer):
        resp = await asyncio.to_thread(self.sb.curl, self.edge, "/dcs/%s/customers/%s/waypoints" % (DC, customer),
                                       bearer=self.key, max_time=DEADLINE)
        return resp.code

    async def test_edge_threads_then_clean_exit(self):
        try:
            await self.run_traffic()
        except BaseException:
            self.assertNoTsanReport()
            raise
        rc = self.edge.stop()
        self.assertNoTsanReport(rc)
        self.assertEqual(rc, 0, "the edge exited %r after SIGTERM; stderr:\n%s" % (rc, self.edge.stderr()[-5000:]))

    async def run_traffic(self):
        lives = []

        async def close_all():
            await asyncio.gather(*(lv.close() for lv in lives), return_exceptions=True)

        self.addAsyncCleanup(close_all)
        for i, c in enumerate(CUSTOMERS + (None,)):
            lv = await Live.open(self.edge, self.sb.cert, key=self.key, open_timeout=DEADLINE)
            lives.append(lv)
            reply = await (lv.subscribe(DC, id=i, timeout=DEADLINE) if c is None else
                           lv.subscribe(DC, c, id=i, timeout=DEADLINE))
            self.assertEqual(reply.get("type"), "subscribed", reply)
        head = reply["seq"]
        # A resume with since reads the applier's atomics on a service thread
        # (the since-ahead rule itself is test_cluster.py's).
        ahead = await Live.open(self.edge, self.sb.cert, key=self.key, open_timeout=DEADLINE)
        lives.append(ahead)
        for r in range(ROUNDS):
            await asyncio.to_thread(self.sb.sql, "BEGIN;" + "".join(
                "UPDATE waypoints SET waypoints_ahead = %d WHERE dc_id = '%s' AND id = '%s-w%d';"
                % (100 + r, DC, c, r) for c in CUSTOMERS) + "COMMIT;")
            code, body = await asyncio.to_thread(self.admin, "/metrics")
            self.assertEqual(code, 200)
            self.assertIn(b"waypointd_replica_applied_seq", body)
            self.assertEqual(await self.rest_code(CUSTOMERS[r % len(CUSTOMERS)]), 200)
        want = head + ROUNDS * len(CUSTOMERS)
        got = []
        deadline = time.monotonic() + DEADLINE
        while (not got or got[-1] < want) and time.monotonic() < deadline:
            m = await lives[-2].recv(timeout=DEADLINE)
            if m.get("type") == "waypoint":
                got.append(m["seq"])
        self.assertEqual(got, list(range(head + 1, want + 1)))
        reply = await ahead.subscribe(DC, CUSTOMERS[0], since=want, id=99, timeout=DEADLINE)
        self.assertTrue(reply.get("resumed"), reply)
        code, _ = await asyncio.to_thread(self.admin, "/healthz")
        self.assertEqual(code, 200)
        await asyncio.to_thread(wpd.run, [wpd.WAYPOINTD, "key", "revoke", "--db", self.sb.db, "--name", "tsan-edge"])
        deadline = time.monotonic() + DEADLINE
        while await self.rest_code(CUSTOMERS[0]) != 401:
            self.assertLess(time.monotonic(), deadline, "the revoked key still works on the edge")
            await asyncio.sleep(0.2)


if __name__ == "__main__":
    unittest.main()

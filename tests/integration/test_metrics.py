#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box tests of the operator endpoint (serve --metrics-listen):
Prometheus /metrics and /healthz on a separate plain-HTTP address.

Run directly: /usr/bin/python3 tests/integration/test_metrics.py
"""
import asyncio
import http.client
import os
import re
import sys
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402
from live_client import Live  # noqa: E402

DEADLINE = 10.0
SAMPLE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\S+)$')


def parse(text):
    """Prometheus text -> {(name, labels): float}; checks every line's form."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError("not a Prometheus sample line: %r" % line)
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def find_admin_url(server):
    until = time.monotonic() + DEADLINE
    while time.monotonic() < until:
        m = re.search(r"metrics and health on (http://127\.0\.0\.1:\d+)/metrics", server.stderr())
        if m:
            return m.group(1)
        time.sleep(0.1)
    raise AssertionError("no metrics address on stderr: %r" % server.stderr())


class MetricsCase(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def tearDownClass(cls):
        cls.sb.close()

    def fetch(self, path):
        try:
            with urllib.request.urlopen(self.admin + path, timeout=DEADLINE) as r:
                return r.status, r.headers.get("Content-Type"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read().decode()

    def metrics(self):
        status, ctype, body = self.fetch("/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        return parse(body)

    async def wait_for(self, pred, what):
        until = time.monotonic() + DEADLINE
        while time.monotonic() < until:
            m = self.metrics()
            if pred(m):
                return m
            await asyncio.sleep(0.1)
        self.fail("%s never showed in /metrics: %r" % (what, self.metrics()))


class MetricsTest(MetricsCase):
    @classmethod
    def setUpClass(cls):
        cls.sb = wpd.Sandbox()
        cls.sb.sql("INSERT INTO dcs(id) VALUES ('d1');"
                   "INSERT INTO customers(dc_id, id, name) VALUES ('d1', 'c1', 'Ann');"
                   "INSERT INTO waypoints(dc_id, id, customer_id, waypoints_ahead) VALUES ('d1', 'w1', 'c1', 5);")
        cls.key = cls.sb.key_create("k", all_dcs=True)
        # No rate limits (wpd's default): RateLimitMetricsTest has a server of its own.
        cls.server = cls.sb.server(extra=("--metrics-listen", "127.0.0.1:0"))
        cls.admin = find_admin_url(cls.server)

    def test_healthz_ready(self):
        status, ctype, body = self.fetch("/healthz")
        self.assertEqual(status, 200, body)
        self.assertIn('"status":"ok"', body)

    def test_unknown_admin_path(self):
        self.assertEqual(self.fetch("/nope")[0], 404)

    def test_keep_alive_scrapes(self):
        """Several requests on one connection, as Prometheus scrapes: each
        answered (an answer once read what lws had freed for the next
        request: a use-after-free under AddressSanitizer)."""
        u = urllib.parse.urlsplit(self.admin)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=DEADLINE)
        try:
            for path in ("/healthz", "/metrics", "/healthz", "/nope", "/metrics"):
                conn.request("GET", path)
                r = conn.getresponse()
                body = r.read()
                self.assertEqual(r.status, 404 if path == "/nope" else 200, (path, body[:200]))
                self.assertFalse(r.will_close, path)
        finally:
            conn.close()
        self.assertEqual(self.fetch("/healthz")[0], 200)  # and the server is still there

    def test_rest_requests_by_route_and_status(self):
        before = self.metrics()
        key = ("waypointd_http_requests_total", '{route="customer",status="200"}')
        r = self.sb.curl(self.server, "/dcs/d1/customers/c1", bearer=self.key)
        self.assertEqual(r.code, 200)
        after = self.metrics()
        self.assertEqual(after.get(key, 0), before.get(key, 0) + 1)

    async def test_live_gauges_push_counter_and_latency(self):
        base = self.metrics()
        pushed0 = base[("waypointd_messages_pushed_total", "")]
        lv = await Live.open(self.server, self.sb.cert, key=self.key)
        try:
            await lv.subscribe("d1", "c1", id=1)
            await self.wait_for(lambda m: m[("waypointd_connections", '{kind="websocket"}')] >= 1 and
                                m[("waypointd_subscriptions", "")] >= 1, "the subscription")
            self.sb.sql("UPDATE waypoints SET waypoints_ahead = waypoints_ahead + 1 WHERE id = 'w1';")
            msg = await lv.expect("waypoint")
            self.assertEqual(msg["waypoint"]["id"], "w1")
            m = await self.wait_for(lambda m: m[("waypointd_messages_pushed_total", "")] >= pushed0 + 1, "the push")
            count = m[("waypointd_push_latency_seconds_count", "")]
            self.assertGreaterEqual(count, 1)
            self.assertEqual(m[("waypointd_push_latency_seconds_bucket", '{le="+Inf"}')], count)
            self.assertIn(("waypointd_change_lag_seconds", ""), m)
            self.assertGreaterEqual(m[("waypointd_change_lag_seconds", "")], 0)
        finally:
            await lv.close()
        await self.wait_for(lambda m: m[("waypointd_connections", '{kind="websocket"}')] == 0 and
                            m[("waypointd_subscriptions", "")] == 0, "the close")


    async def test_dc_snapshots_counted(self):
        """A DC subscription starts on the snapshot worker: counted as made
        (a small DC is rendered for each dashboard), a resume as none; the
        queue is empty once both are answered."""
        made = ("waypointd_dc_snapshots_total", '{rendering="made"}')
        none = ("waypointd_dc_snapshots_total", '{rendering="none"}')
        waiting = ("waypointd_dc_snapshots_waiting", "")
        before = self.metrics()
        lv = await Live.open(self.server, self.sb.cert, key=self.key)
        try:
            reply = await lv.subscribe("d1", None, id=1)
            self.assertEqual(reply["type"], "subscribed", reply)
            again = await lv.subscribe("d1", None, id=2, since=reply["seq"])
            self.assertTrue(again.get("resumed"), again)
        finally:
            await lv.close()
        m = self.metrics()
        self.assertEqual(m[made], before[made] + 1)
        self.assertEqual(m[none], before[none] + 1)
        self.assertEqual(m[waiting], 0)


class RateLimitMetricsTest(MetricsCase):
    """429s are counted: on a server of its own, limited to 1 request a
    second per key (bursts of 10)."""

    @classmethod
    def setUpClass(cls):
        cls.sb = wpd.Sandbox()
        cls.sb.sql("INSERT INTO dcs(id) VALUES ('d1');"
                   "INSERT INTO customers(dc_id, id, name) VALUES ('d1', 'c1', 'Ann');")
        cls.key = cls.sb.key_create("k", all_dcs=True)
        cls.server = cls.sb.server(extra=("--metrics-listen", "127.0.0.1:0", "--rate-limit-key", "1"))
        cls.admin = find_admin_url(cls.server)

    def test_rate_limit_refusals_counted(self):
        before = self.metrics().get(("waypointd_refusals_total", '{reason="rate_limit"}'), 0)
        codes = [self.sb.curl(self.server, "/dcs/d1/customers/c1/waypoints", bearer=self.key).code
                 for _ in range(16)]
        self.assertIn(429, codes)
        after = self.metrics()
        self.assertGreaterEqual(after[("waypointd_refusals_total", '{reason="rate_limit"}')],
                                before + codes.count(429))
        self.assertGreaterEqual(after.get(("waypointd_http_requests_total", '{route="waypoints",status="429"}'), 0),
                                codes.count(429))


class HealthzNotReadyTest(unittest.TestCase):
    def test_database_gone_is_503(self):
        sb = wpd.Sandbox()
        try:
            server = sb.server(extra=("--metrics-listen", "127.0.0.1:0"))
            until, url = time.monotonic() + DEADLINE, None
            while not url and time.monotonic() < until:
                m = re.search(r"(http://127\.0\.0\.1:\d+)/metrics", server.stderr())
                url = m.group(1) if m else None
                time.sleep(0.1)
            self.assertTrue(url, server.stderr())
            with urllib.request.urlopen(url + "/healthz", timeout=DEADLINE) as r:
                self.assertEqual(r.status, 200)
            # the schema disappears under the server's feet
            sb.sql("DROP TABLE change_log_state;")
            with self.assertRaises(urllib.error.HTTPError) as cm:
                urllib.request.urlopen(url + "/healthz", timeout=DEADLINE)
            self.assertEqual(cm.exception.code, 503)
            self.assertIn("database", cm.exception.read().decode())
        finally:
            sb.close()


if __name__ == "__main__":
    unittest.main()

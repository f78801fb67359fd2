#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A live smoke test for the ThreadSanitizer build (scripts/test.sh runs it
against build-tsan/waypointd; it refuses any other binary).

One server with 3 service threads, the metrics listener on, WebSocket
subscribers spread over the threads, one SSE stream, REST reads, and another
process (the sqlite3 shell) committing changes: so the feed thread's reads,
its hand-off through every thread's inbox, the refcounted messages shared by
sessions on several threads (some closed while pushes are queued for them),
the key/response cache and the metrics all run concurrently under TSan.
TSAN_OPTIONS make the first report end the server with exit 66; the test
then fails on that exit status, or on "WARNING: ThreadSanitizer" anywhere in
the server's stderr, and shows the report. Run:
    WAYPOINTD=build-tsan/waypointd /usr/bin/python3 tests/integration/tsan_smoke.py
"""
import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import threading
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402
from live_client import Live  # noqa: E402

logging.getLogger("asyncio").setLevel(logging.ERROR)

SUPPRESSIONS = os.path.join(wpd.SOURCE_DIR, "tests", "tsan.supp")
# halt_on_error + exitcode: the first report ends the server with 66, so a
# race cannot hide behind a test that still passes.
TSAN_OPTIONS = "halt_on_error=1 exitcode=66 second_deadlock_stack=1 suppressions=%s" % SUPPRESSIONS
TSAN_EXIT = 66
# TSan slows the server 5-15x; these are deadlines, not expectations.
PUSH_DEADLINE = 20.0
DC, CUSTOMERS, ROUNDS, BURST, THREADS = "tsan", ("c0", "c1", "c2", "c3"), 6, 200, 3
WAYPOINT_FIELDS = ("id", "customer_id", "status", "completed_timestamp", "estimated_time_of_arrival",
                   "waypoints_ahead", "waiting_time_seconds", "route_id")


def is_tsan_binary(path):
    """True when path was linked with -fsanitize=thread (it calls __tsan_init)."""
    proc = subprocess.run(["nm", "-D", "--undefined-only", path], capture_output=True, text=True, timeout=30)
    return proc.returncode == 0 and "__tsan_init" in proc.stdout


def tsan_reports(stderr):
    """The ThreadSanitizer reports in a server's stderr, whole; anything else
    TSan said (a report cut short, a FATAL) from its first line on."""
    reports = re.findall(r"={10,}\nWARNING: ThreadSanitizer:.*?(?:={10,}\n|\Z)", stderr, re.S)
    if not reports and "ThreadSanitizer" in stderr:
        reports = [stderr[stderr.index("ThreadSanitizer"):][:20000]]
    return reports


class SseReader:
    """`curl --no-buffer` on an events URL; the JSON of every `data:` line."""

    def __init__(self, server, cacert, path, bearer):
        self.proc = subprocess.Popen(
            ["curl", "--silent", "--show-error", "--no-buffer", "--cacert", cacert, "--noproxy", "*",
             "--max-time", "300", "--header", "Authorization: Bearer %s" % bearer, server.url(path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.cond = threading.Condition()
        self.events = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("data: "):
                with self.cond:
                    self.events.append(json.loads(line[6:]))
                    self.cond.notify_all()
        with self.cond:
            self.events.append(None)  # end of stream
            self.cond.notify_all()

    def wait_for(self, n, timeout):
        """The first n events (fewer if the stream ended or the deadline passed)."""
        with self.cond:
            self.cond.wait_for(lambda: len(self.events) >= n or None in self.events, timeout)
            return [e for e in self.events if e is not None][:n]

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.thread.join(timeout=5)
        self.proc.stdout.close()
        self.proc.stderr.close()


class TsanSmokeTest(unittest.IsolatedAsyncioTestCase):

    @classmethod
    def setUpClass(cls):
        if not is_tsan_binary(wpd.WAYPOINTD):
            raise AssertionError(
                "%s is not a ThreadSanitizer build (cmake -DCMAKE_BUILD_TYPE=Tsan); this test proves nothing "
                "on any other binary" % wpd.WAYPOINTD)
        if not os.path.isfile(SUPPRESSIONS):
            raise AssertionError("no %s" % SUPPRESSIONS)
        os.environ["TSAN_OPTIONS"] = TSAN_OPTIONS  # inherited by every server started below
        sb = wpd.Sandbox(prefix="wpd-tsan-")
        cls.addClassCleanup(sb.close)
        cls.sb = sb
        sb.insert("dcs", [{"id": DC, "name": "TSan DC"}])
        sb.insert("customers", [{"dc_id": DC, "id": c, "name": "N " + c} for c in CUSTOMERS])
        sb.insert("waypoints", [{"dc_id": DC, "id": "%s-w%d" % (c, r), "customer_id": c, "status": "PENDING",
                                 "waypoints_ahead": r} for c in CUSTOMERS for r in range(ROUNDS)])
        cls.key = sb.key_create("tsan", all_dcs=True)
        # No rate limits: this test is about threads, not about the limiter.
        cls.server = sb.server(threads=THREADS, extra=("--metrics-listen", "127.0.0.1:0", "--rate-limit-addr", "0",
                                                       "--rate-limit-key", "0"))

    def assertNoTsanReport(self, rc=None):
        stderr = self.server.stderr()
        reports = tsan_reports(stderr)
        if reports:
            self.fail("ThreadSanitizer reported %d race(s) in the server:\n%s" %
                      (len(reports), "\n".join(reports)[:60000]))
        if rc is not None:
            self.assertNotEqual(rc, TSAN_EXIT, "the server exited %d (TSan's exit code); stderr:\n%s" %
                                (rc, stderr[-20000:]))

    def metrics_url(self):
        m = re.search(r"metrics and health on (http://127\.0\.0\.1:\d+)/metrics", self.server.stderr())
        self.assertIsNotNone(m, self.server.stderr()[-3000:])
        return m.group(1) + "/metrics"

    async def sql(self, statements):
        return await asyncio.to_thread(self.sb.sql, statements)

    async def rest(self, customer):
        resp = await asyncio.to_thread(self.sb.curl, self.server, "/dcs/%s/customers/%s/waypoints" % (DC, customer),
                                       bearer=self.key, max_time=PUSH_DEADLINE)
        self.assertEqual(resp.code, 200, resp)
        return resp.json()["waypoints"]

    async def test_pushes_across_threads_then_clean_exit(self):
        try:
            await self.run_traffic()
        except BaseException:
            self.assertNoTsanReport()  # a report explains the failure better than a missing push
            raise
        rc = self.server.stop()
        self.assertNoTsanReport(rc)
        self.assertEqual(rc, 0, "serve exited %r after SIGTERM; stderr:\n%s" % (rc, self.server.stderr()[-5000:]))

    async def run_traffic(self):
        lives = []

        async def close_all():
            await asyncio.gather(*(lv.close() for lv in lives), return_exceptions=True)

        self.addAsyncCleanup(close_all)
        # Two subscribers per customer and two per DC: 10 TLS connections,
        # which the kernel spreads over the 3 threads' SO_REUSEPORT sockets.
        subs = [(c, None) for c in CUSTOMERS for _ in range(2)] + [(None, None)] * 2
        for i, (customer, _) in enumerate(subs):
            lv = await Live.open(self.server, self.sb.cert, key=self.key, open_timeout=PUSH_DEADLINE)
            lives.append(lv)
            if customer is None:
                reply = await lv.subscribe(DC, id=i, timeout=PUSH_DEADLINE)
            else:
                reply = await lv.subscribe(DC, customer, id=i, timeout=PUSH_DEADLINE)
            self.assertEqual(reply.get("type"), "subscribed", reply)
            subs[i] = (customer, reply["seq"])
        head = max(seq for _, seq in subs)  # the fixture's changes are before it
        sse = SseReader(self.server, self.sb.cert, "/dcs/%s/customers/c0/waypoints/events" % DC, self.key)
        self.addCleanup(sse.close)
        first = sse.wait_for(1, PUSH_DEADLINE)
        self.assertEqual([e.get("type") for e in first], ["subscribed"], first)
        metrics = self.metrics_url()

        # One transaction per round changes waypoint r of every customer; the
        # REST reads and a /metrics scrape run while the pushes go out. After
        # round 1, one subscriber of c3 and one of the DC close abruptly while
        # changes may be queued for them.
        dropped = {len(subs) - 3, len(subs) - 1}
        for r in range(ROUNDS):
            await self.sql("BEGIN;" + "".join(
                "UPDATE waypoints SET waypoints_ahead = %d, status = 'COMPLETED', completed_timestamp = %d "
                "WHERE dc_id = '%s' AND id = '%s-w%d';" % (100 + r, 1795000000000 + r, DC, c, r)
                for c in CUSTOMERS) + "COMMIT;")
            rest, scrape = await asyncio.gather(self.rest(CUSTOMERS[r % len(CUSTOMERS)]),
                                                asyncio.to_thread(lambda: urllib.request.urlopen(metrics, timeout=20)
                                                                  .read()))
            self.assertEqual(len(rest), ROUNDS, rest)
            self.assertIn(b"waypointd_", scrape)
            if r == 1:
                for i in dropped:
                    lives[i].ws.transport.abort()

        # Then a burst: one writer process, BURST commits back to back (each
        # a new waypoint, so nothing coalesces), so that the feed thread
        # appends to the inboxes while the service threads take from them.
        await self.sql("".join(
            "INSERT INTO waypoints(dc_id, id, customer_id, status) VALUES ('%s', 'burst-%d', '%s', 'PENDING');" %
            (DC, n, CUSTOMERS[n % len(CUSTOMERS)]) for n in range(BURST)))

        log = [tuple(line.split("|")) for line in
               (await self.sql("SELECT seq, customer_id FROM change_log WHERE dc_id = '%s' AND seq > %d ORDER BY seq;" %
                                 (DC, head)))
               .split()]
        self.assertEqual(len(log), ROUNDS * len(CUSTOMERS) + BURST, log)
        for i, (lv, (customer, start)) in enumerate(zip(lives, subs)):
            if i in dropped:
                continue
            want = [int(s) for s, c in log if int(s) > start and customer in (None, c)]
            msgs = await lv.collect(len(want), PUSH_DEADLINE)
            self.assertEqual([m.get("seq") for m in msgs], want, "subscriber %d (%s)" % (i, customer))
            for m in msgs:
                self.assertEqual(m.get("type"), "waypoint", m)
                self.assertIn(m["waypoint"]["status"], ("COMPLETED", "PENDING"), m)
                self.assertEqual(sorted(m["waypoint"]), sorted(WAYPOINT_FIELDS), m)
            self.assertEqual(await lv.ping(timeout=PUSH_DEADLINE), [])
        want = [int(s) for s, c in log if c == "c0"]  # the stream opened after head
        events = await asyncio.to_thread(sse.wait_for, 1 + len(want), PUSH_DEADLINE)
        self.assertEqual([e.get("seq") for e in events[1:]], want, events)


if __name__ == "__main__":
    unittest.main(verbosity=2)

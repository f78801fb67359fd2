#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box tests of the server process (issue 11, "The process"; review H2):

- a second server on a port another process already serves is refused
  (exit 1, one stderr line naming the address), and the first keeps every
  connection;
- rotating the token secret (DELETE FROM secrets, then init) takes effect on
  a running server within seconds: REST, new WebSocket and SSE sessions, and
  open sessions holding an old token end with a 401 error;
- every numeric option is bounded at parse time (exit 2, one line naming the
  option and its range), and the longest retention keeps the change log.

Run directly:
    WAYPOINTD=build-debug/waypointd /usr/bin/python3 tests/integration/test_process.py
"""
import asyncio
import os
import re
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402
from live_client import Live, refused  # noqa: E402
import test_sse  # noqa: E402  (its Stream client; its test classes are not collected here)

# A secret rotation reaches every thread at its next sweep (every 2 s).
ROTATE_DEADLINE = 8.0
# The longest retention serve accepts: 100 years of 365 days (docs/operations.md).
KEEP_SECONDS_MAX = 100 * 365 * 86400
KEEP_ROWS_MAX = 10 ** 12


def listener(reuseport):
    """Another program listening on 127.0.0.1, port chosen by the kernel."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((wpd.HOST, 0))
    s.listen(16)
    return s


class SharedPortTest(unittest.TestCase):
    """One port, one server: a second one (or any other process) is refused."""

    def setUp(self):
        self.sb = wpd.Sandbox(prefix="wpd-port-")
        self.addCleanup(self.sb.close)

    def assertRefused(self, port, threads=2):
        """serve on 127.0.0.1:port: exit 1, one stderr line naming the address, never `listening on`."""
        srv = wpd.Server(self.sb.db, self.sb.cert, self.sb.key, threads=threads, logdir=self.sb.dir,
                         listen="%s:%d" % (wpd.HOST, port))
        self.addCleanup(srv.close)
        try:
            srv.start()
        except wpd.WpdError:
            pass
        self.assertFalse(srv.alive() and srv.port, "a second server started on port %d and serves" % port)
        self.assertEqual(srv.wait(), 1, srv.stderr())
        lines = [line for line in srv.stderr().splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("%s:%d" % (wpd.HOST, port), lines[0])
        self.assertIn("in use", lines[0])
        self.assertEqual(srv.stdout_lines, [])

    def test_issue_11_second_server_on_a_served_port_is_refused(self):
        first = self.sb.server(threads=2)
        started = time.monotonic()
        self.assertRefused(first.port, threads=4)
        self.assertLess(time.monotonic() - started, 10)
        # The first server alone takes every connection.
        for i in range(24):
            conn = wpd.https_connection(first, self.sb.cert)
            try:
                conn.request("GET", "/")
                resp = conn.getresponse()
                resp.read()
                self.assertEqual(resp.status, 200, "connection %d" % i)
            finally:
                conn.close()
        self.assertTrue(first.alive())

    def test_other_program_on_the_port_is_refused(self):
        for reuseport in (False, True):
            with self.subTest(reuseport=reuseport):
                other = listener(reuseport)
                try:
                    self.assertRefused(other.getsockname()[1])
                finally:
                    other.close()

    def test_issue_11_servers_started_together_one_wins(self):
        # Started in the same instant, several may pass the "anyone listening?"
        # check before any listens: exactly one must serve.
        for round_ in range(3):
            probe = listener(False)
            port = probe.getsockname()[1]
            probe.close()
            servers = [wpd.Server(self.sb.db, self.sb.cert, self.sb.key, threads=2, logdir=self.sb.dir,
                                  listen="%s:%d" % (wpd.HOST, port)) for _ in range(4)]
            for srv in servers:
                self.addCleanup(srv.close)
            threads = [threading.Thread(target=self._start_quietly, args=(srv,)) for srv in servers]
            for t in threads:
                t.start()
            for t in threads:
                t.join(wpd.START_DEADLINE + 5)
            serving = [srv for srv in servers if srv.port]
            self.assertEqual(len(serving), 1, "round %d: %d servers listen on port %d" % (round_, len(serving), port))
            for srv in servers:
                if srv is not serving[0]:
                    self.assertEqual(srv.wait(), 1, srv.stderr())
                    self.assertIn("%s:%d" % (wpd.HOST, port), srv.stderr())
            self.assertEqual(self.sb.curl(serving[0], "/").code, 200)
            self.assertEqual(serving[0].stop(), 0)

    @staticmethod
    def _start_quietly(srv):
        try:
            srv.start()
        except wpd.WpdError:
            pass

    def test_the_port_is_free_again_once_the_first_server_stopped(self):
        first = self.sb.server(threads=2)
        port = first.port
        self.assertEqual(first.stop(), 0)
        again = wpd.Server(self.sb.db, self.sb.cert, self.sb.key, threads=2, logdir=self.sb.dir,
                           listen="%s:%d" % (wpd.HOST, port))
        self.addCleanup(again.close)
        self.assertEqual(again.start(), port)
        self.assertEqual(self.sb.curl(again, "/").code, 200)


class SecretRotationTest(unittest.IsolatedAsyncioTestCase):
    """docs/api.md: DELETE FROM secrets, then init, invalidates every token, at once."""

    def setUp(self):
        self.sb = wpd.Sandbox(prefix="wpd-secret-")
        self.addCleanup(self.sb.close)
        self.sb.insert("dcs", [{"id": "dc1", "name": "DC 1"}])
        self.sb.sql("INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c1', 'C1');")
        self.key = self.sb.key_create("all", all_dcs=True)
        self.server = self.sb.server(threads=4)

    def rest(self, token):
        return self.sb.curl(self.server, "/dcs/dc1/customers/c1/waypoints", bearer=token).code

    def rotate(self):
        self.sb.sql("DELETE FROM secrets;")
        wpd.check(wpd.waypointd("init", "--db", self.sb.db))

    async def test_issue_11_rotated_secret_takes_effect_on_a_running_server(self):
        old = self.sb.token_create("dc1", "c1")
        self.assertEqual(self.rest(old), 200)
        # Open sessions with the old token, spread over the threads.
        lives = []
        for _ in range(8):
            live = await Live.open(self.server, self.sb.cert, access_token=old)
            self.addAsyncCleanup(live.close)
            reply = await live.subscribe("dc1", "c1", id="s")
            self.assertEqual(reply.get("type"), "subscribed", reply)
            lives.append(live)
        stream = test_sse.Stream(self.server, self.sb.cert, test_sse.events_path("dc1", "c1", access_token=old))
        self.addCleanup(stream.close)
        self.assertEqual(stream.wait_head(), 200, stream.raw[:300])
        self.assertEqual(stream.event(0)["json"].get("type"), "subscribed")
        # A session with an API key is not affected.
        bystander = await Live.open(self.server, self.sb.cert, key=self.key)
        self.addAsyncCleanup(bystander.close)
        self.assertEqual((await bystander.subscribe("dc1", "c1", id="k")).get("type"), "subscribed")

        await asyncio.to_thread(self.rotate)
        new = await asyncio.to_thread(self.sb.token_create, "dc1", "c1")
        self.assertNotEqual(new, old)

        # REST: every connection (any thread) refuses the old and takes the new token.
        def rest_switched():
            return all(self.rest(old) == 401 and self.rest(new) == 200 for _ in range(8))
        await asyncio.to_thread(wpd.wait_until, rest_switched, ROTATE_DEADLINE, 0.2, "REST on the new secret")
        # Open sessions with the old token end with a 401 error, then close.
        for i, live in enumerate(lives):
            before, code = await live.closed(ROTATE_DEADLINE)
            errors = [m for m in before if m.get("type") == "error"]
            self.assertEqual([m.get("code") for m in errors], [401], "session %d: %r" % (i, before))
            self.assertEqual(before[-1], errors[0], "the error is the last message: %r" % before)
            self.assertNotEqual(code, 1000)
        ev = await asyncio.to_thread(stream.event, 1, ROTATE_DEADLINE, "the SSE error event")
        self.assertEqual((ev["json"].get("type"), ev["json"].get("code")), ("error", 401), ev)
        self.assertEqual(await asyncio.to_thread(stream.wait_end, ROTATE_DEADLINE), 0)
        # The new token opens /live; the old one no longer does.
        for _ in range(4):
            live = await Live.open(self.server, self.sb.cert, access_token=new)
            self.addAsyncCleanup(live.close)
            self.assertEqual((await live.subscribe("dc1", "c1", id="n")).get("type"), "subscribed")
            self.assertEqual(await refused(self.server, self.sb.cert, access_token=old), 401)
        # The key's session stays open.
        self.assertEqual(await bystander.ping(id="still"), [])
        self.assertTrue(self.server.alive())
        self.assertIn("token secret changed", self.server.stderr())
        self.assertEqual(await asyncio.to_thread(self.server.stop), 0, self.server.stderr()[-3000:])
        self.assertNotRegex(self.server.stderr(), "AddressSanitizer|runtime error")


class OptionBoundsTest(unittest.TestCase):
    """Each numeric option: outside its range, exit 2 with one line naming it and the range."""

    def setUp(self):
        self.sb = wpd.Sandbox(prefix="wpd-bounds-")
        self.addCleanup(self.sb.close)

    def serve_args(self, *extra):
        return ["serve", "--db", self.sb.db, "--listen", "127.0.0.1:0", "--cert", self.sb.cert, "--key",
                self.sb.key, *extra]

    def assertUsage(self, args, option, lo, hi, env=None):
        proc = wpd.run([wpd.WAYPOINTD, *args], timeout=10, env=env)
        what = " ".join(args)
        self.assertEqual(proc.returncode, 2, "%s: exit %d, stderr %r" % (what, proc.returncode, proc.stderr))
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, "%s: %r" % (what, proc.stderr))
        self.assertIn(option, lines[0], what)
        self.assertTrue(re.search(r"\b%s\b.*\b%s\b" % (re.escape(str(lo)), re.escape(str(hi))), lines[0]),
                        "%s: the range %s..%s is not named: %r" % (what, lo, hi, lines[0]))
        self.assertEqual(proc.stdout, "")

    def test_issue_11_serve_options_are_bounded(self):
        cases = [("--threads", 1, 64), ("--log-keep-rows", 0, KEEP_ROWS_MAX),
                 ("--log-keep-seconds", 0, KEEP_SECONDS_MAX), ("--ws-ping-seconds", 1, 86400),
                 ("--ws-idle-seconds", 1, 86400), ("--ws-send-timeout", 1, 86400), ("--max-subs", 1, 10000),
                 ("--rate-limit-addr", 0, 1000000), ("--rate-limit-key", 0, 1000000)]
        for option, lo, hi in cases:
            for bad in (str(lo - 1), str(hi + 1), "9223372036854775807", "99999999999999999999", "1.5", "x",
                        "12abc", ""):
                with self.subTest(option=option, value=bad):
                    self.assertUsage(self.serve_args(option, bad), option, lo, hi)

    def test_issue_11_ports_are_bounded(self):
        for option in ("--listen", "--metrics-listen"):
            for bad in ("127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:99999999999999999999"):
                with self.subTest(option=option, value=bad):
                    args = self.serve_args(option, bad) if option != "--listen" else \
                        ["serve", "--db", self.sb.db, "--listen", bad, "--cert", self.sb.cert, "--key", self.sb.key]
                    self.assertUsage(args, option, 0, 65535)

    def test_issue_11_bounds_apply_to_the_environment_and_the_config_file(self):
        env = dict(os.environ, WAYPOINTD_LOG_KEEP_SECONDS="9223372036854775807")
        self.assertUsage(self.serve_args(), "--log-keep-seconds", 0, KEEP_SECONDS_MAX, env=env)
        conf = self.sb.path("w.conf")
        with open(conf, "w") as f:
            f.write("log-keep-rows = 1000000000001\n")
        self.assertUsage(self.serve_args("--config", conf), "--log-keep-rows", 0, KEEP_ROWS_MAX)

    def test_issue_11_token_ttl_is_bounded(self):
        for bad in ("0", "2592001", "9223372036854775807", "-1", "1e3"):
            with self.subTest(value=bad):
                self.assertUsage(["token", "create", "--db", self.sb.db, "--dc", "d", "--customer", "c", "--ttl", bad],
                                 "--ttl", 1, 2592000)

    def test_issue_11_simulate_and_demo_options_are_bounded(self):
        sim = ["simulate", "--db", self.sb.db]
        for option, bad, lo, hi in [("--speed", "0", "0.01", "1000"), ("--speed", "1e9", "0.01", "1000"),
                                    ("--speed", "nan", "0.01", "1000"),
                                    ("--seed", "-1", 0, 9223372036854775807),
                                    ("--seed", "1.5", 0, 9223372036854775807),
                                    ("--seed", "18446744073709551616", 0, 9223372036854775807),
                                    ("--duration", "-1", 0, 1000000000), ("--duration", "1000000001", 0, 1000000000),
                                    ("--duration", "2.5", 0, 1000000000)]:
            with self.subTest(command="simulate", option=option, value=bad):
                self.assertUsage(sim + [option, bad], option, lo, hi)
        demo = ["demo", "--dir", self.sb.path("demo")]
        for option, bad, lo, hi in [("--threads", "0", 1, 64), ("--threads", "65", 1, 64), ("--threads", "2.5", 1, 64),
                                    ("--speed", "0", "0.01", "1000"), ("--listen", "127.0.0.1:65536", 0, 65535),
                                    ("--listen", "127.0.0.1:1.5", 0, 65535)]:
            with self.subTest(command="demo", option=option, value=bad):
                self.assertUsage(demo + [option, bad], option, lo, hi)
        self.assertFalse(os.path.exists(self.sb.path("demo")), "a refused demo made its folder")


class RetentionTest(unittest.TestCase):
    """Review H2: the longest retention must keep the log, never empty it."""

    def setUp(self):
        self.sb = wpd.Sandbox(prefix="wpd-keep-")
        self.addCleanup(self.sb.close)
        self.sb.insert("dcs", [{"id": "dc1", "name": "DC 1"}])
        self.sb.sql("INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c1', 'C1');")
        for i in range(5):
            self.sb.sql("INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc1', 'w%d', 'c1');" % i)
        # The three oldest changes are 50 years old.
        self.sb.sql("UPDATE change_log SET changed_ms = changed_ms - %d WHERE seq <= 3;" % (50 * 365 * 86400 * 1000))

    def seqs(self):
        return [int(x) for x in self.sb.sql("SELECT seq FROM change_log ORDER BY seq;").split()]

    def test_issue_11_overflowing_retention_is_refused(self):
        proc = wpd.waypointd("serve", "--db", self.sb.db, "--listen", "127.0.0.1:0", "--cert", self.sb.cert,
                             "--key", self.sb.key, "--log-keep-seconds", "9223372036854775807", timeout=10)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("--log-keep-seconds", proc.stderr)
        self.assertEqual(self.seqs(), [1, 2, 3, 4, 5])

    def test_issue_11_longest_retention_keeps_old_rows(self):
        # Rows beyond --log-keep-rows 4 go (seq 1), which says the first prune ran;
        # the 50-year-old seq 2 and 3 stay.
        srv = self.sb.server(threads=1, extra=["--log-keep-seconds", str(KEEP_SECONDS_MAX), "--log-keep-rows", "4"])
        wpd.wait_until(lambda: "pruned through seq 1" in srv.stderr(), 10, 0.2, "the first prune")
        self.assertEqual(self.seqs(), [2, 3, 4, 5])
        self.assertNotIn("pruned through seq 2", srv.stderr())
        self.assertEqual(srv.stop(), 0)

    def test_default_retention_prunes_old_rows(self):
        # The contrast: 7 days drops the 50-year-old rows at the first prune.
        srv = self.sb.server(threads=1)
        wpd.wait_until(lambda: "pruned through seq 3" in srv.stderr(), 10, 0.2, "the first prune")
        self.assertEqual(self.seqs(), [4, 5])
        self.assertEqual(srv.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)

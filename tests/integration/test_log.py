#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box tests of the server's log on stderr: a long line (the
"database file ... was replaced" warning with a long path, over lws's
256-byte log buffer) arrives whole, and in JSON format every line is one
valid JSON object.

Levels (issue 12): normal traffic (an event stream over HTTP/1.1, a TLS
connection that closes without a request, as health probes do) logs
nothing above info; a refused SIGHUP reload is an error.

Run directly: /usr/bin/python3 tests/integration/test_log.py
"""
import json
import os
import shutil
import signal
import socket
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402

DEADLINE = 10.0  # the watcher looks at the file every second
# A directory name long enough that the warning exceeds 256 bytes.
LONG_PREFIX = "wpd-log-" + "a-rather-long-directory-name-" * 5


def json_lines(text):
    """Every complete line of text as a JSON object (fails on any other)."""
    out = []
    for n, line in enumerate(text.splitlines(keepends=True)):
        if not line.endswith("\n"):
            break  # still being written
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise AssertionError("stderr line %d is not JSON (%s): %r" % (n, e, line))
        if not isinstance(obj, dict):
            raise AssertionError("stderr line %d is not an object: %r" % (n, line))
        out.append(obj)
    return out


class LongLineTest(unittest.TestCase):
    def setUp(self):
        self.sb = wpd.Sandbox(prefix=LONG_PREFIX)
        self.addCleanup(self.sb.close)

    def wait_msg(self, srv, needle):
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            for obj in json_lines(srv.stderr()):
                if needle in obj.get("msg", ""):
                    return obj
            time.sleep(0.1)
        self.fail("no stderr line with %r within %.0f s; stderr: %s" % (needle, DEADLINE, srv.stderr()[-2000:]))

    def test_issue_11_replaced_warning_whole(self):
        """The database file is renamed aside and another put in its place:
        the warning names the whole path and ends as written, on one line
        that is valid JSON; once the original is back, so is the notice."""
        srv = self.sb.server(threads=4, extra=["--log-format", "json"])
        new = self.sb.path("new.db")
        wpd.init_db(new)
        aside = self.sb.path("aside")
        os.mkdir(aside)
        names = [n for n in ("", "-wal", "-shm") if os.path.exists(self.sb.db + n)]
        for n in names:
            os.rename(self.sb.db + n, os.path.join(aside, "waypoints.db" + n))
        os.rename(new, self.sb.db)
        try:
            warning = self.wait_msg(srv, "was replaced")
        finally:
            for n in ("", "-wal", "-shm"):
                if os.path.exists(self.sb.db + n):
                    os.rename(self.sb.db + n, self.sb.path("new-again.db" + n))
            for n in names:
                os.rename(os.path.join(aside, "waypoints.db" + n), self.sb.db + n)
        want = ("database file %s was replaced: still serving the file opened at start; put it back, or restart "
                "waypointd to serve the new one" % self.sb.db)
        self.assertGreater(len(want), 256)
        self.assertEqual(warning["msg"], want)
        self.assertEqual(warning["level"], "error")
        self.wait_msg(srv, "is back")
        self.assertEqual(srv.stop(), 0, srv.stderr()[-2000:])
        json_lines(srv.stderr())  # every line, to the last, is JSON


class LevelsTest(unittest.TestCase):
    """Normal traffic never above info; alert-worthy events at warn or error
    (issue 12)."""

    def setUp(self):
        self.sb = wpd.Sandbox(prefix="wpd-levels-")
        self.addCleanup(self.sb.close)
        self.sb.insert("dcs", [{"id": "dc1", "name": "DC 1"}])
        self.sb.sql("INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c1', 'C1');")
        self.key = self.sb.key_create("all", all_dcs=True)
        # the server's default limits, as an operator runs it
        self.srv = self.sb.server(threads=2, extra=["--log-format", "json"], rate_limits=True)

    def above_info(self, since=0):
        return [o for o in json_lines(self.srv.stderr()[since:]) if o.get("level") in ("warn", "error")]

    def settle(self):
        """Wait until the server has surely handled what it was sent: one
        more request, answered, comes after it on the same thread queue."""
        time.sleep(1.0)
        self.assertEqual(self.sb.curl(self.srv, "/dcs/dc1/customers/c1", bearer=self.key).code, 200)

    def test_event_stream_over_http11_logs_nothing_above_info(self):
        for http in ("1.1", "2"):
            with self.subTest(http=http):
                before = len(self.srv.stderr())
                # curl ends the stream after 2 s: the subscribed event has come by then
                r = wpd.curl(self.srv.url("/dcs/dc1/customers/c1/waypoints/events"), self.sb.cert, http=http,
                             bearer=self.key, max_time=2)
                self.assertIn(b'"type":"subscribed"', r.body, r)
                self.settle()
                self.assertEqual(self.above_info(before), [], "an event stream over HTTP/%s" % http)

    def test_tls_connection_without_a_request_logs_nothing_above_info(self):
        before = len(self.srv.stderr())
        for alpn in (None, ["http/1.1"], ["h2"]):
            ctx = ssl.create_default_context(cafile=self.sb.cert)
            if alpn:
                ctx.set_alpn_protocols(alpn)
            with socket.create_connection((wpd.HOST, self.srv.port), timeout=5) as s:
                with ctx.wrap_socket(s, server_hostname="localhost") as t:
                    t.unwrap()  # close_notify, then the TCP close
            with socket.create_connection((wpd.HOST, self.srv.port), timeout=5) as s:
                t = ctx.wrap_socket(s, server_hostname="localhost")
                t.close()  # no close_notify
        # a client that does not trust the certificate aborts the handshake
        with socket.create_connection((wpd.HOST, self.srv.port), timeout=5) as s:
            with self.assertRaises(ssl.SSLError):
                ssl.create_default_context().wrap_socket(s, server_hostname="localhost")
        socket.create_connection((wpd.HOST, self.srv.port), timeout=5).close()  # TCP only
        # a ClientHello, then a reset before the handshake ends
        ctx = ssl.create_default_context(cafile=self.sb.cert)
        out = ssl.MemoryBIO()
        try:
            ctx.wrap_bio(ssl.MemoryBIO(), out, server_hostname="localhost").do_handshake()
        except ssl.SSLWantReadError:
            pass
        with socket.create_connection((wpd.HOST, self.srv.port), timeout=5) as s:
            s.sendall(out.read())
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        # plain HTTP on the TLS port (a misconfigured probe)
        with socket.create_connection((wpd.HOST, self.srv.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(5)
            try:
                s.recv(100)
            except OSError:
                pass
        self.settle()
        self.assertEqual(self.above_info(before), [])

    def test_refused_sighup_reload_is_an_error(self):
        good = self.sb.path("good-cert.pem")
        shutil.copy(self.sb.cert, good)
        with open(self.sb.cert, "w") as f:
            f.write("this is not a certificate\n")
        before = len(self.srv.stderr())
        self.srv.send_signal(signal.SIGHUP)
        end, found = time.monotonic() + DEADLINE, []
        while not found and time.monotonic() < end:
            time.sleep(0.2)
            found = [o for o in json_lines(self.srv.stderr()[before:]) if "SIGHUP" in o.get("msg", "")]
        self.assertTrue(found, "no SIGHUP line; stderr: %r" % self.srv.stderr()[before:])
        self.assertEqual(found[0]["level"], "error", found)
        self.assertIn("reload refused, keeping the current certificate", found[0]["msg"])
        self.assertIn(self.sb.cert, found[0]["msg"])
        self.assertTrue(self.srv.alive())
        shutil.copy(good, self.sb.cert)
        before = len(self.srv.stderr())
        self.srv.send_signal(signal.SIGHUP)  # a good reload stays at info
        end, found = time.monotonic() + DEADLINE, []
        while not found and time.monotonic() < end:
            time.sleep(0.2)
            found = [o for o in json_lines(self.srv.stderr()[before:]) if "SIGHUP" in o.get("msg", "")]
        self.assertEqual([(o["level"], o["msg"][:20]) for o in found], [("info", "SIGHUP: reloaded cer")])


if __name__ == "__main__":
    unittest.main()

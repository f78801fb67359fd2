#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box tests of the bound on what one connection that reads nothing
can make the server hold (docs/security.md, "HTTP/2 control-frame floods").

libwebsockets 4.1 queues an answer in memory for every HTTP/2 PING and
SETTINGS frame (CVE-2019-9512, CVE-2019-9515) and keeps reading. Measured
on this machine before the bound: one connection sending PINGs for 12 s
and reading nothing grew the server by 91 MB (1.6 million frames), with
SETTINGS by 132 MB (2.3 million frames), without end. Now a peer may send
256 KiB while what the server sent it sits unread; then the server closes
it. Here each flood must be closed by the server within seconds, the peak
RSS must stay within a few MB, other clients must be served meanwhile, and
a client that sends as many PINGs but reads the answers is never closed.
Only 127.0.0.1, every wait has a deadline. Run:
    /usr/bin/python3 tests/integration/test_h2_flood.py
(ctest sets WAYPOINTD and WAYPOINTD_SOURCE_DIR.)
"""
import os
import socket
import ssl
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawws  # noqa: E402
import wpd  # noqa: E402

try:
    import h2.config
    import h2.connection
    import h2.events
    import hyperframe.frame
except ImportError:  # python3-h2 (Debian) is needed
    h2 = None

FLOOD_SECONDS = 15.0      # how long a flood may go on before the test fails
MEMORY_BOUND_KB = 8 * 1024
RATE_LIMITS_OFF = ("--rate-limit-addr", "0", "--rate-limit-key", "0")
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


proc_status = wpd.proc_status
server_uses_asan = wpd.server_uses_asan


class H2FloodTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if h2 is None:
            raise unittest.SkipTest("python3-h2 is not installed (apt-get install python3-h2)")
        sb = wpd.Sandbox(prefix="wpd-h2flood-")
        cls.addClassCleanup(sb.close)
        cls.sb = sb
        sb.insert("dcs", [{"id": "dc1", "name": "DC one"}])
        sb.insert("customers", [{"dc_id": "dc1", "id": "c1", "name": "Ann Smith"}])
        sb.insert("waypoints", [{"dc_id": "dc1", "id": "w1", "customer_id": "c1"}])
        cls.key = sb.key_create("all", all_dcs=True)
        cls.server = sb.server(threads=2, extra=RATE_LIMITS_OFF)
        cls.asan = server_uses_asan(cls.server.proc.pid)

    def tearDown(self):
        self.assertTrue(self.server.alive(), "the server died; stderr: %s" % self.server.stderr()[-3000:])

    def assertServed(self, what):
        for http in ("1.1", "2"):
            r = self.sb.curl(self.server, "/dcs/dc1/customers/c1/waypoints", bearer=self.key, http=http)
            self.assertEqual(r.code, 200, "%s: HTTP/%s got %r" % (what, http, r))

    def flood(self, frame, what):
        """Send frame over and over on one HTTP/2 connection whose receive
        buffer is 4 KiB and never read. (frames sent, seconds until the
        server closed it or None, peak RSS growth in kB)."""
        pid = self.server.proc.pid
        hwm0 = proc_status(pid, "VmHWM")
        s = rawws.tls_connect(self.server.port, self.sb.cert, alpn=("h2",), rcvbuf=4096)
        blob = frame.serialize() * 1000
        sent, closed_after = 0, None
        served = {"ok": 0, "error": None}
        stop = threading.Event()

        def others():  # other clients, served while the flood goes on
            try:
                while not stop.is_set():
                    self.assertServed("during a %s flood" % what)
                    served["ok"] += 1
            except BaseException as e:  # noqa: B902 - reported below
                served["error"] = e

        th = threading.Thread(target=others, daemon=True)
        t0 = time.monotonic()
        try:
            s.sendall(PREFACE + hyperframe.frame.SettingsFrame(0).serialize())
            th.start()
            s.settimeout(2.0)
            while time.monotonic() - t0 < FLOOD_SECONDS:
                try:
                    s.sendall(blob)
                    sent += 1000
                except socket.timeout:
                    continue  # the server does not read right now: go on pushing
                except (OSError, ssl.SSLError):
                    closed_after = time.monotonic() - t0
                    break
        finally:
            s.close()
            stop.set()
            th.join(30)
        grown = proc_status(pid, "VmHWM") - hwm0
        print("\n  %s flood: %d frames sent, closed by the server after %s s, peak RSS +%d kB, "
              "%d normal rounds served meanwhile" % (what, sent, "%.1f" % closed_after if closed_after else
                                                     "(not closed)", grown, served["ok"]), file=sys.stderr)
        self.assertFalse(th.is_alive())
        if served["error"]:
            raise served["error"]
        return sent, closed_after, grown

    def check_flood(self, frame, what):
        sent, closed_after, grown = self.flood(frame, what)
        self.assertIsNotNone(closed_after, "the server never closed a %s flood of %d frames in %.0f s" %
                             (what, sent, FLOOD_SECONDS))
        if not self.asan:
            self.assertLess(grown, MEMORY_BOUND_KB, "peak RSS grew by %d kB during a %s flood" % (grown, what))
        self.assertServed("after a %s flood" % what)

    def test_ping_flood_without_reading_is_closed(self):
        fr = hyperframe.frame.PingFrame(0)
        fr.opaque_data = b"hostile!"
        self.check_flood(fr, "PING")

    def test_settings_flood_without_reading_is_closed(self):
        fr = hyperframe.frame.SettingsFrame(0)
        fr.settings = {hyperframe.frame.SettingsFrame.INITIAL_WINDOW_SIZE: 65535}
        self.check_flood(fr, "SETTINGS")

    def test_client_that_reads_is_never_closed(self):
        """As many PINGs as a flood sends before it is closed (1 MB of them),
        from a client that reads every answer: the connection stays open and
        then serves a request."""
        s = rawws.tls_connect(self.server.port, self.sb.cert, alpn=("h2",))
        self.addCleanup(s.close)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        s.sendall(conn.data_to_send())
        acks, pings = 0, 60000  # ~1 MB of PING frames, four times the bound
        s.settimeout(5.0)
        end = time.monotonic() + 30.0
        for i in range(pings // 500):
            for j in range(500):
                conn.ping(b"%08d" % (i * 500 + j))
            s.sendall(conn.data_to_send())
            while acks < (i + 1) * 500 - 1000 and time.monotonic() < end:  # at most 1000 answers unread
                data = s.recv(65536)
                self.assertTrue(data, "the server closed a client that reads (after %d acks)" % acks)
                acks += sum(isinstance(e, h2.events.PingAckReceived) for e in conn.receive_data(data))
                s.sendall(conn.data_to_send())
        while acks < pings and time.monotonic() < end:
            data = s.recv(65536)
            self.assertTrue(data, "the server closed a client that reads (after %d acks)" % acks)
            acks += sum(isinstance(e, h2.events.PingAckReceived) for e in conn.receive_data(data))
        self.assertEqual(acks, pings)
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "GET"), (":scheme", "https"),
                                (":authority", "%s:%d" % (wpd.HOST, self.server.port)),
                                (":path", "/dcs/dc1/customers/c1/waypoints"),
                                ("authorization", "Bearer " + self.key)], end_stream=True)
        s.sendall(conn.data_to_send())
        status = None
        while time.monotonic() < end:
            data = s.recv(65536)
            self.assertTrue(data, "the connection closed before the answer")
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    status = dict(ev.headers)[":status"]
                elif isinstance(ev, h2.events.DataReceived):
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    end = 0
            s.sendall(conn.data_to_send())
        self.assertEqual(status, "200")


if __name__ == "__main__":
    unittest.main(verbosity=2)

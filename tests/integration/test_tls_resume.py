#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box tests of TLS session resumption and protocol versions
(docs/security.md, "TLS").

With --threads 4 each service thread has its own SSL_CTX, and the kernel
hands each new connection to a thread by a hash of its source port
(SO_REUSEPORT). A reconnect resumes only when every thread can read the
session ticket another thread issued: the ticket keys are process-wide.
Every client here is `openssl s_client` (fresh source port each time) with
-sess_out / -sess_in; "Reused" in its output means the session resumed.
Only 127.0.0.1, every wait has a deadline. Run:
    /usr/bin/python3 tests/integration/test_tls_resume.py
(ctest sets WAYPOINTD and WAYPOINTD_SOURCE_DIR.)
"""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402

RECONNECTS = 16
CLIENT_DEADLINE = 10.0
RATE_LIMITS_OFF = ("--rate-limit-addr", "0", "--rate-limit-key", "0")


class TlsResumeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        sb = wpd.Sandbox(prefix="wpd-tlsresume-")
        cls.addClassCleanup(sb.close)
        cls.sb = sb
        cls.www = sb.copy_www()
        cls.server = sb.server(www=cls.www, threads=4, extra=RATE_LIMITS_OFF)

    def tearDown(self):
        self.assertTrue(self.server.alive(), "the server died; stderr: %s" % self.server.stderr()[-3000:])

    def s_client(self, *args):
        """One connection: a request with `Connection: close`, read until the
        server closes (so TLS 1.3 tickets, sent after the handshake, are
        read). The output (stdout and stderr) and the exit code."""
        req = b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % wpd.HOST.encode()
        argv = ["openssl", "s_client", "-connect", "%s:%d" % (wpd.HOST, self.server.port), "-servername",
                wpd.HOST, "-CAfile", self.sb.cert, "-alpn", "http/1.1", "-ign_eof"] + list(args)
        try:
            p = subprocess.run(argv, input=req, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=CLIENT_DEADLINE)
        except subprocess.TimeoutExpired as e:
            self.fail("openssl s_client did not finish within %.0f s: %r" % (CLIENT_DEADLINE, e.output))
        return p.stdout.decode("utf-8", "replace"), p.returncode

    def resumed_count(self, version):
        sess = self.sb.path("sess-%s.pem" % version)
        out, rc = self.s_client("-" + version, "-sess_out", sess)
        self.assertIn("HTTP/1.1 200", out, out[-2000:])
        self.assertIn("New, ", out, out[-2000:])
        self.assertTrue(os.path.getsize(sess) > 0, "no session was saved")
        reused = 0
        for i in range(RECONNECTS):
            out, rc = self.s_client("-" + version, "-sess_in", sess)
            self.assertIn("HTTP/1.1 200", out, out[-2000:])
            proto = "TLSv1.3" if version == "tls1_3" else "TLSv1.2"
            self.assertRegex(out, r"(New|Reused), %s," % proto.replace(".", r"\."))
            reused += "Reused, " in out
        return reused

    def test_tls12_reconnects_all_resume(self):
        reused = self.resumed_count("tls1_2")
        print("\n  TLS 1.2: %d of %d reconnects resumed" % (reused, RECONNECTS), file=sys.stderr)
        self.assertEqual(reused, RECONNECTS)

    def test_tls13_reconnects_all_resume(self):
        reused = self.resumed_count("tls1_3")
        print("\n  TLS 1.3: %d of %d reconnects resumed" % (reused, RECONNECTS), file=sys.stderr)
        self.assertEqual(reused, RECONNECTS)

    def test_tls11_is_refused(self):
        # The same permissive client (security level 0 allows TLS 1.1 and
        # SHA-1 on this side) gets TLS 1.2: the refusal is the server's.
        out, rc = self.s_client("-tls1_2", "-cipher", "DEFAULT@SECLEVEL=0")
        self.assertIn("HTTP/1.1 200", out, out[-2000:])
        for version in ("tls1_1", "tls1"):
            with self.subTest(version=version):
                out, rc = self.s_client("-" + version, "-cipher", "DEFAULT@SECLEVEL=0")
                self.assertNotEqual(rc, 0, out[-2000:])
                self.assertNotIn("HTTP/1.1 200", out)
                self.assertRegex(out, r"alert protocol version|unsupported protocol|wrong version number",
                                 out[-2000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)

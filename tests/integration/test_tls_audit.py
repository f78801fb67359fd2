#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A TLS audit of a real waypointd with testssl.sh (Debian's `testssl`).

One `waypointd serve` on 127.0.0.1:0 with the dev certificate from
certs/make-dev-cert.sh; one testssl run against it, offline, with flat JSON
output; then assertions on the findings:
  - no finding of severity HIGH or CRITICAL (exclusions only by exact id,
    each with its reason, in EXCLUDED_HIGH);
  - every check ran (no WARN or FATAL finding, except by exact id in
    ALLOWED_WARN) and testssl exited 0;
  - protocols: TLS 1.2 and TLS 1.3 offered; SSLv2, SSLv3, TLS 1.0, TLS 1.1 not;
  - forward secrecy only: every offered cipher (testssl enumerates them per
    protocol, -E) is an ECDHE suite of TLS 1.2 or a TLS 1.3 suite; no NULL,
    anonymous, export, low, 3DES/IDEA or "average" cipher offered;
  - the certificate chain verifies against the dev CA (given with --add-ca,
    as curl --cacert does), so it is checked rather than excluded;
  - HSTS is sent, with a max-age of at least 180 days.

Checks run (testssl 3.0): -p protocols, -s cipher categories, -E ciphers per
protocol, -S server defaults and certificate, -h HTTP headers, -U
vulnerabilities. Left out for time: -f (forward secrecy summary: -E already
lists every offered cipher with its key exchange), -P (cipher order), -c
(client simulations). Offline: --nodns none (the target is an IP literal),
and testssl does not phone out for CRL/OCSP unless told (--phone-out).
Unloaded it takes about 75 s on two cores; the run has a 240 s deadline.

Needs Debian's testssl.sh package. Run directly:
    WAYPOINTD=/tmp/build/waypointd /usr/bin/python3 tests/integration/test_tls_audit.py
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402

TESTSSL = shutil.which("testssl") or shutil.which("testssl.sh")
TESTSSL_DEADLINE = 240.0
CHECKS = ["-p", "-s", "-E", "-S", "-h", "-U"]

# HIGH or CRITICAL findings that say nothing about waypointd, by exact id.
EXCLUDED_HIGH = {
    # The dev certificate is a self-signed root made by certs/make-dev-cert.sh:
    # there is no CA to revoke it, so it has neither a CRL distribution point
    # nor an OCSP URI. A production certificate from a CA carries them; the
    # server has no say in it.
    "cert_revocation": "self-signed dev certificate: no CRL/OCSP URI (no CA to revoke it)",
}
# WARN findings that are about the client machine, not a check that failed, by exact id.
ALLOWED_WARN = {
    # Debian's OpenSSL 3 has no GOST engine; testssl only notes it cannot test GOST ciphers.
    "engine_problem": "no GOST engine in the client's openssl",
    # A race inside testssl 3.0.8's session-ticket check, seen in about one run
    # of three on a loaded machine: its first `openssl s_client -tls1_3
    # -sess_out FILE </dev/null` sees EOF on stdin and closes right after the
    # handshake, sometimes before the server's TLS 1.3 NewSessionTicket has been
    # read, so FILE stays empty; the second s_client (-sess_in FILE) then fails
    # with "Can't open session file", which testssl reports as "check failed
    # because of connect problem" (traced with a logging --openssl wrapper). It
    # is about resuming sessions (an INFO-level feature), not a security check;
    # every other WARN still fails the test.
    "sessionresumption_ticket": "testssl's s_client can quit before the TLS 1.3 session ticket arrives",
}
HSTS_MIN_SECONDS = 180 * 86400  # testssl's own threshold for an OK HSTS max-age


def run_testssl(argv, deadline):
    """Run testssl in its own process group; kill the whole group (it starts
    openssl children) if it runs past the deadline."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=10)
        raise wpd.WpdError("testssl did not finish within %.0f s; its output so far:\n%s\n%s" %
                           (deadline, out[-3000:], err[-2000:]))
    return proc.returncode, out, err


class TlsAuditTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not TESTSSL:
            raise wpd.WpdError("testssl is not installed (Debian package testssl.sh: apt-get install testssl.sh)")
        sb = wpd.Sandbox(prefix="wpd-tls-")
        cls.addClassCleanup(sb.close)
        cls.sb = sb
        cls.server = sb.server(threads=2)
        json_path = sb.path("testssl.json")
        argv = [TESTSSL, "--quiet", "--warnings", "off", "--color", "0", "--nodns", "none",
                "--openssl-timeout", "20", "--add-ca", sb.cert, "--jsonfile", json_path,
                *CHECKS, "https://%s:%d/" % (wpd.HOST, cls.server.port)]
        started = time.monotonic()
        cls.rc, cls.stdout, cls.stderr = run_testssl(argv, TESTSSL_DEADLINE)
        cls.seconds = time.monotonic() - started
        if cls.rc >= 242:  # testssl's own ERR_* codes: it could not scan at all
            raise wpd.WpdError("testssl failed to run (exit %d):\n%s\n%s" % (cls.rc, cls.stdout[-3000:],
                                                                            cls.stderr[-2000:]))
        try:
            with open(json_path, "r", encoding="utf-8") as f:
                cls.findings = json.load(f)
        except (OSError, ValueError) as e:
            raise wpd.WpdError("testssl wrote no readable JSON (%s); exit %d:\n%s\n%s" % (
                e, cls.rc, cls.stdout[-3000:], cls.stderr[-2000:])) from e
        if not isinstance(cls.findings, list) or not cls.findings:
            raise wpd.WpdError("testssl's JSON holds no findings: %r" % (cls.findings,))
        cls.by_id = {}
        for f in cls.findings:
            cls.by_id.setdefault(f.get("id"), []).append(f)
        # For the log: what testssl flagged, and how long it took.
        print("\ntestssl %s: exit %d in %.0f s, %d findings" % (" ".join(CHECKS), cls.rc, cls.seconds,
                                                              len(cls.findings)), file=sys.stderr)
        for f in cls.findings:
            if f.get("severity") not in ("OK", "INFO"):
                print("  %-8s %-28s %s" % (f.get("severity"), f.get("id"), f.get("finding")), file=sys.stderr)

    def one(self, fid):
        """The single finding with this id."""
        found = self.by_id.get(fid, [])
        self.assertEqual(len(found), 1, "expected one finding %r, got %r" % (fid, found))
        return found[0]

    def test_server_survived_the_scan(self):
        self.assertTrue(self.server.alive(), "the server died; stderr: %s" % self.server.stderr())
        resp = self.sb.curl(self.server, "/")
        self.assertEqual((resp.rc, resp.code), (0, 200), resp)

    def test_scan_covered_what_was_asked(self):
        for fid in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "cipherlist_STRONG",
                    "cert_chain_of_trust", "cert_expirationStatus", "heartbleed", "ROBOT", "secure_renego",
                    "BREACH", "fallback_SCSV"):
            with self.subTest(id=fid):
                self.one(fid)
        self.assertTrue(any(f["id"].startswith("cipher-tls1_") for f in self.findings),
                        "no per-protocol cipher list (-E)")
        self.assertTrue(self.by_id.get("HSTS") or self.by_id.get("HSTS_time"), "no HSTS finding (-h)")

    def test_no_high_or_critical_finding(self):
        bad = [f for f in self.findings
               if f.get("severity") in ("HIGH", "CRITICAL") and f.get("id") not in EXCLUDED_HIGH]
        self.assertEqual(bad, [], "HIGH/CRITICAL findings (exclusions by exact id: %s)" % sorted(EXCLUDED_HIGH))

    def test_every_check_completed(self):
        # A WARN is a check testssl could not finish (it could hide a HIGH);
        # FATAL a scan problem.
        bad = [f for f in self.findings
               if f.get("severity") in ("WARN", "FATAL") and f.get("id") not in ALLOWED_WARN]
        self.assertEqual(bad, [], "checks that did not complete")
        # testssl's exit code counts the check groups that had problems: 0,
        # except for a tolerated WARN (engine_problem does not count).
        tolerated = [f for f in self.findings if f.get("severity") == "WARN" and f.get("id") in ALLOWED_WARN
                     and f.get("id") != "engine_problem"]
        self.assertLessEqual(self.rc, len(tolerated), "testssl exit code (check groups with problems):\n%s" %
                             self.stdout[-3000:])

    def test_only_tls12_and_tls13(self):
        for fid in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
            with self.subTest(protocol=fid):
                self.assertTrue(self.one(fid)["finding"].startswith("not offered"), self.one(fid))
        for fid in ("TLS1_2", "TLS1_3"):
            with self.subTest(protocol=fid):
                self.assertTrue(self.one(fid)["finding"].startswith("offered"), self.one(fid))
        self.assertEqual(self.one("fallback_SCSV")["severity"], "OK", self.one("fallback_SCSV"))

    def test_forward_secrecy_only(self):
        ciphers = [f for f in self.findings if f["id"].startswith("cipher-")]
        self.assertTrue(ciphers, "testssl listed no offered cipher (-E)")
        seen = set()
        for f in ciphers:
            with self.subTest(id=f["id"]):
                # "TLS 1.2   xc02c   ECDHE-ECDSA-AES256-GCM-SHA384     ECDH 253   AESGCM  256  TLS_ECDHE_..."
                m = re.match(r"^(TLS 1\.[0-3]|SSLv[23])\s+x[0-9a-f]+\s+(\S+)\s+(\S+)", f["finding"])
                self.assertIsNotNone(m, "unparsed cipher finding %r" % f)
                proto, name, kx = m.groups()
                seen.add(proto)
                self.assertIn(proto, ("TLS 1.2", "TLS 1.3"), f)
                if proto == "TLS 1.2":
                    self.assertTrue(name.startswith("ECDHE-"), "not an ECDHE suite: %r" % f)
                    self.assertTrue(kx.startswith("ECDH"), "key exchange is not ECDHE: %r" % f)
                else:  # every TLS 1.3 suite is (EC)DHE
                    self.assertTrue(name.startswith("TLS_"), f)
        self.assertEqual(seen, {"TLS 1.2", "TLS 1.3"})
        for fid in ("cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
                    "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"):
            with self.subTest(category=fid):
                self.assertTrue(self.one(fid)["finding"].startswith("not offered"), self.one(fid))
        self.assertTrue(self.one("cipherlist_STRONG")["finding"].startswith("offered"))

    def test_certificate_chain_verifies_against_the_dev_ca(self):
        self.assertEqual(self.one("cert_chain_of_trust")["severity"], "OK", self.one("cert_chain_of_trust"))
        self.assertEqual(self.one("cert_trust")["severity"], "OK", self.one("cert_trust"))

    def test_hsts(self):
        hsts = self.by_id.get("HSTS", [])
        self.assertFalse([f for f in hsts if "not offered" in f.get("finding", "")],
                         "no Strict-Transport-Security header on https://127.0.0.1/: %r" % hsts)
        t = self.one("HSTS_time")
        self.assertEqual(t["severity"], "OK", t)
        m = re.search(r"=(\d+) seconds", t["finding"])
        self.assertIsNotNone(m, t)
        self.assertGreaterEqual(int(m.group(1)), HSTS_MIN_SECONDS, t)


if __name__ == "__main__":
    unittest.main(verbosity=2)

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`waypointd webhook` (issue 15), black-box: add prints `ID whsec_SECRET` and
stores exactly that secret; list, remove, disable, enable and rotate (the old
secret kept for a grace period); https-only URLs, known event names and the
other usage errors (exit 2), unknown ids and names in use (exit 1); and the
commands working while `serve` runs and a writer holds the lock."""

import base64
import hashlib
import hmac
import os
import re
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402

ID_RE = r"wh_[0-9a-f]{12}"
SECRET_RE = r"whsec_[A-Za-z0-9+/]{43}="
TIME_RE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
ALL_BUT_TEST = ("waypoint.status_changed,waypoint.eta_changed,waypoint.approaching,waypoint.removed,"
                "customer.location_confident")
HOUR_MS = 3600 * 1000


class WebhookCase(unittest.TestCase):

    def setUp(self):
        self.sb = wpd.Sandbox(prefix="wpd-webhook-", cert=False)
        self.addCleanup(self.sb.close)
        self.db = self.sb.db

    def wpd(self, *args):
        return wpd.waypointd("webhook", *args)

    def assertOk(self, proc, stderr_lines=0):
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(proc.stderr.splitlines()), stderr_lines, proc.stderr)

    def assertFails(self, proc, code, *words):
        self.assertEqual(proc.returncode, code, proc.stderr)
        self.assertEqual(len(proc.stderr.splitlines()), 1, proc.stderr)
        self.assertEqual(proc.stdout, "")
        for word in words:
            self.assertIn(word, proc.stderr)

    def add(self, *extra, dcs=("dc1",), url="https://hooks.example.com/waypointd"):
        args = ["add", "--db", self.db, "--url", url]
        for dc in dcs:
            args += ["--dc", dc]
        proc = self.wpd(*args, *extra)
        self.assertOk(proc)
        m = re.fullmatch("(%s) (%s)\n" % (ID_RE, SECRET_RE), proc.stdout)
        self.assertIsNotNone(m, proc.stdout)
        return m.group(1), m.group(2)

    def listed(self):
        proc = self.wpd("list", "--db", self.db)
        self.assertOk(proc)
        return {line.split("\t")[0]: line.split("\t") for line in proc.stdout.splitlines()}

    def stored_secret(self, wid, column="secret"):
        return wpd.sql_value(self.db, "SELECT hex(%s) FROM webhook_endpoints WHERE id = '%s';" % (column, wid))


class AddTest(WebhookCase):

    def test_add_prints_id_and_the_stored_secret(self):
        wid, secret = self.add()
        raw = base64.b64decode(secret[len("whsec_"):], validate=True)
        self.assertEqual(len(raw), 32)
        self.assertEqual(self.stored_secret(wid), raw.hex().upper())
        # Two endpoints never share an id or a secret.
        wid2, secret2 = self.add()
        self.assertNotEqual(wid, wid2)
        self.assertNotEqual(secret, secret2)

    def test_printed_secret_is_a_standard_webhooks_key(self):
        # What a receiver does with the printed secret (the specification's
        # formula); the same bytes the server holds.
        _, secret = self.add()
        key = base64.b64decode(secret.split("_", 1)[1])
        sig = base64.b64encode(hmac.new(key, b"msg_1.1700000000.{}", hashlib.sha256).digest()).decode()
        self.assertEqual(len(sig), 44)

    def test_defaults_and_options_in_the_row(self):
        wid, _ = self.add("--name", "crm", "--events", "waypoint.removed,WAYPOINT_STATUS_CHANGED",
                          dcs=("dc2", "dc1", "dc2"))
        row = wpd.sql(self.db, "SELECT name, url, events, enabled, eta_minutes, approach_stops, approach_minutes"
                               " FROM webhook_endpoints WHERE id = '%s';" % wid).strip()
        self.assertEqual(row, "crm|https://hooks.example.com/waypointd|waypoint.status_changed,waypoint.removed|1|5|3,1|")
        self.assertEqual(wpd.sql(self.db, "SELECT dc_id FROM webhook_endpoint_dcs WHERE endpoint_id = '%s'"
                                          " ORDER BY dc_id;" % wid).split(), ["dc1", "dc2"])
        wid, _ = self.add("--eta-minutes", "10", "--approach-stops", "1,5", "--approach-minutes", "5,15")
        row = wpd.sql(self.db, "SELECT events, eta_minutes, approach_stops, approach_minutes"
                               " FROM webhook_endpoints WHERE id = '%s';" % wid).strip()
        self.assertEqual(row, ALL_BUT_TEST + "|10|5,1|15,5")

    def test_refuses_non_https_urls(self):
        for url in ("http://hooks.example.com/", "ftp://hooks.example.com/", "HTTP://x.example/"):
            self.assertFails(self.wpd("add", "--db", self.db, "--dc", "dc1", "--url", url), 2, "https://")
        for url in ("https://", "https://user:pw@x.example/", "https://x.example/#frag", "hooks.example.com",
                    "https://x.example:99999/"):
            self.assertFails(self.wpd("add", "--db", self.db, "--dc", "dc1", "--url", url), 2, "--url")
        self.assertEqual(self.listed(), {})

    def test_refuses_unknown_events(self):
        proc = self.wpd("add", "--db", self.db, "--dc", "dc1", "--url", "https://x.example/",
                        "--events", "waypoint.removed,ROUTE_CREATED")
        self.assertFails(proc, 2, "ROUTE_CREATED")
        self.assertIn("waypoint.status_changed", proc.stderr)  # says which exist
        self.assertFails(self.wpd("add", "--db", self.db, "--dc", "dc1", "--url", "https://x.example/",
                                  "--events", ""), 2, "--events")
        self.assertEqual(self.listed(), {})

    def test_usage_errors(self):
        db = self.db
        for args in (["add", "--db", db, "--url", "https://x.example/"],           # no --dc
                     ["add", "--db", db, "--dc", "dc1"],                           # no --url
                     ["add", "--dc", "dc1", "--url", "https://x.example/"],        # no --db
                     ["add", "--db", db, "--dc", "", "--url", "https://x.example/"],
                     ["add", "--db", db, "--dc", "dc1", "--url", "https://x.example/", "--bogus"],
                     ["add", "--db", db, "--dc", "dc1", "--url", "https://x.example/", "extra"],
                     ["add", "--db", db, "--dc", "dc1", "--url", "https://x.example/", "--name", ""],
                     ["add", "--db", db, "--dc", "dc1", "--url", "https://x.example/", "--eta-minutes", "0"],
                     ["add", "--db", db, "--dc", "dc1", "--url", "https://x.example/", "--approach-stops", "3,x"],
                     ["frobnicate", "--db", db],
                     [],
                     ["remove", "--db", db],                                        # no ID
                     ["remove", "--db", db, "wh_000000000000", "wh_000000000001"],
                     ["list", "--db", db, "wh_000000000000"],
                     ["rotate", "--db", db, "wh_000000000000", "--grace-hours", "-1"],
                     ["rotate", "--db", db, "wh_000000000000", "--grace-hours", "721"],
                     ["enable", "--db", db, "wh_000000000000", "--grace-hours", "1"]):
            with self.subTest(args=args):
                self.assertFails(self.wpd(*args), 2, "webhook")

    def test_name_in_use_and_missing_database(self):
        self.add("--name", "crm")
        self.assertFails(self.wpd("add", "--db", self.db, "--dc", "dc1", "--url", "https://x.example/",
                                  "--name", "crm"), 1, "crm")
        self.assertFails(self.wpd("list", "--db", self.sb.path("nope.db")), 1, "does not exist")

    def test_help(self):
        proc = self.wpd("--help")
        self.assertOk(proc)
        for verb in ("add", "list", "remove", "disable", "enable", "rotate"):
            self.assertIn("webhook " + verb, proc.stdout)
        self.assertIn("webhook", wpd.waypointd("--help").stdout)


class ManageTest(WebhookCase):

    def test_list_one_line_per_endpoint_never_the_secret(self):
        self.assertEqual(self.listed(), {})
        a, sa = self.add("--name", "crm", dcs=("dc2", "dc1"))
        b, sb = self.add("--events", "webhook.test")
        proc = self.wpd("list", "--db", self.db)
        self.assertOk(proc)
        self.assertNotIn(sa[6:], proc.stdout)
        self.assertNotIn(sb[6:], proc.stdout)
        lines = proc.stdout.splitlines()
        self.assertEqual([line.split("\t")[0] for line in lines], [a, b])  # oldest first
        fields = lines[0].split("\t")
        self.assertEqual(len(fields), 12, fields)
        self.assertEqual(fields[1:3], ["crm", "enabled"])
        self.assertRegex(fields[3], "^" + TIME_RE + "$")
        self.assertEqual(fields[4:], ["https://hooks.example.com/waypointd", "dc1,dc2", ALL_BUT_TEST, "5", "3,1",
                                      "-", "-", "-"])
        fields = lines[1].split("\t")
        self.assertEqual(fields[1], "-")
        self.assertEqual(fields[6], "webhook.test")

    def test_list_escapes(self):
        self.add("--name", "a\tb", dcs=("x,y", "z\\"))
        fields = list(self.listed().values())[0]
        self.assertEqual(fields[1], "a\\tb")
        self.assertEqual(fields[5], "x\\,y,z\\\\")

    def test_remove(self):
        a, _ = self.add()
        b, _ = self.add()
        self.assertOk(self.wpd("remove", "--db", self.db, a))
        self.assertEqual(list(self.listed()), [b])
        self.assertEqual(wpd.sql_value(self.db, "SELECT count(*) FROM webhook_endpoint_dcs;"), "1")
        self.assertFails(self.wpd("remove", "--db", self.db, a), 1, a)
        self.assertFails(self.wpd("disable", a, "--db", self.db), 1, a)

    def test_disable_enable(self):
        a, _ = self.add()
        self.assertOk(self.wpd("disable", "--db", self.db, a))
        fields = self.listed()[a]
        self.assertEqual(fields[2], "disabled")
        self.assertEqual(fields[11], "disabled by command")
        # Already in that state: said, not a failure (as `key revoke`).
        self.assertOk(self.wpd("disable", "--db", self.db, a), stderr_lines=1)
        self.assertOk(self.wpd("enable", a, "--db", self.db))
        fields = self.listed()[a]
        self.assertEqual((fields[2], fields[11]), ("enabled", "-"))
        self.assertOk(self.wpd("enable", "--db", self.db, a), stderr_lines=1)
        self.assertFails(self.wpd("enable", "--db", self.db, "wh_000000000000"), 1, "wh_000000000000")

    def test_rotate_keeps_the_old_secret_for_the_grace(self):
        a, old = self.add()
        before = int(time.time() * 1000)
        proc = self.wpd("rotate", "--db", self.db, a)
        self.assertOk(proc)
        self.assertRegex(proc.stdout, "^" + SECRET_RE + "\n$")
        new = proc.stdout.strip()
        self.assertNotEqual(new, old)
        self.assertEqual(self.stored_secret(a), base64.b64decode(new[6:]).hex().upper())
        self.assertEqual(self.stored_secret(a, "prev_secret"), base64.b64decode(old[6:]).hex().upper())
        expires = int(wpd.sql_value(self.db, "SELECT prev_expires_ms FROM webhook_endpoints;"))
        self.assertGreaterEqual(expires, before + 24 * HOUR_MS)
        self.assertLessEqual(expires, int(time.time() * 1000) + 24 * HOUR_MS)
        self.assertRegex(self.listed()[a][10], "^" + TIME_RE + "$")
        # --grace-hours 2; then 0 drops the previous secret at once.
        proc = self.wpd("rotate", "--db", self.db, a, "--grace-hours", "2")
        self.assertOk(proc)
        self.assertEqual(self.stored_secret(a, "prev_secret"), base64.b64decode(new[6:]).hex().upper())
        expires = int(wpd.sql_value(self.db, "SELECT prev_expires_ms FROM webhook_endpoints;"))
        self.assertLessEqual(expires, int(time.time() * 1000) + 2 * HOUR_MS)
        self.assertOk(self.wpd("rotate", "--db", self.db, a, "--grace-hours", "0"))
        self.assertEqual(self.stored_secret(a, "prev_secret"), "")
        self.assertEqual(self.listed()[a][10], "-")
        self.assertFails(self.wpd("rotate", "--db", self.db, "wh_000000000000"), 1, "wh_000000000000")


class DocsExampleTest(unittest.TestCase):
    """The receiver's verify() in docs/webhooks.md, run against the Standard
    Webhooks test vector (standard-webhooks/standard-webhooks,
    libraries/python/tests/test_webhooks.py, test_sign_function)."""

    SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    HEADERS = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
               "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
    BODY = b'{"test": 2432232314}'

    def verify_at(self, now, secret, headers, body):
        source = os.environ.get("WAYPOINTD_SOURCE_DIR",
                                os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
        with open(os.path.join(source, "docs", "webhooks.md"), encoding="utf-8") as f:
            code = re.search(r"```python\n(.*?)```", f.read(), re.S).group(1)
        ns = {}
        exec(code, ns)  # the documented example, as an integrator would paste it
        ns["time"] = type("Clock", (), {"time": staticmethod(lambda: now)})
        return ns["verify"](secret, headers, body)

    def test_documented_verify_accepts_the_spec_vector_only(self):
        self.assertTrue(self.verify_at(1614265330, self.SECRET, self.HEADERS, self.BODY))
        self.assertTrue(self.verify_at(1614265330 + 300, self.SECRET, self.HEADERS, self.BODY))
        self.assertFalse(self.verify_at(1614265330 + 301, self.SECRET, self.HEADERS, self.BODY))  # a replay
        self.assertFalse(self.verify_at(1614265330, self.SECRET, self.HEADERS, b'{"test": 2432232315}'))
        rotated = dict(self.HEADERS, **{"webhook-signature": "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
                                                             + self.HEADERS["webhook-signature"]})
        self.assertTrue(self.verify_at(1614265330, self.SECRET, rotated, self.BODY))


class WhileServingTest(WebhookCase):

    def setUp(self):
        self.sb = wpd.Sandbox(prefix="wpd-webhook-")
        self.addCleanup(self.sb.close)
        self.db = self.sb.db

    def test_commands_while_serve_runs_and_a_writer_holds_the_lock(self):
        self.sb.server()
        a, _ = self.add()
        self.assertIn(a, self.listed())
        # A writer in the middle of a transaction: the command waits for it
        # (busy timeout) instead of failing.
        writer = sqlite3.connect(self.db, isolation_level=None)
        self.addCleanup(writer.close)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO dcs(id) VALUES ('dc9')")
        proc = subprocess.Popen([wpd.WAYPOINTD, "webhook", "disable", "--db", self.db, a],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        self.assertIsNone(proc.poll(), "did not wait for the writer")
        writer.execute("COMMIT")
        out, err = proc.communicate(timeout=wpd.CMD_DEADLINE)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(self.listed()[a][2], "disabled")
        self.assertTrue(self.sb.servers[0].alive())


if __name__ == "__main__":
    unittest.main()

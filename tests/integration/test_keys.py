#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Keys and tracking tokens (issue 12), black-box: `key list`, a revoked key's
name used again, revoking twice, `token create` for an unknown customer, the
demo's one valid key, and `token revoke` (one token, or a customer's) taking
effect on REST at once and on open WebSocket and SSE connections within
seconds."""

import asyncio
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402
from live_client import Live, refused  # noqa: E402

CLOSE_DEADLINE = 8.0  # the sweep runs every 2 s
TIME_RE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


class CliCase(unittest.TestCase):

    def setUp(self):
        self.sb = wpd.Sandbox(prefix="wpd-keys-")
        self.addCleanup(self.sb.close)
        self.db = self.sb.db
        self.sb.sql("INSERT INTO dcs(id) VALUES ('dc1'), ('dc2');"
                    "INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c1', 'C1'), ('dc1', 'c2', 'C2');")

    def wpd(self, *args, input=None):
        return wpd.run([wpd.WAYPOINTD] + list(args), input=input) if input is not None else wpd.waypointd(*args)

    def assertOk(self, proc, stderr_lines=0):
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(proc.stderr.splitlines()), stderr_lines, proc.stderr)

    def assertBecomes(self, ask, want, what):
        """A commit by another process (a CLI revoke) reaches a running
        server's answer cache when its change watcher has seen it, normally
        within a millisecond (docs/architecture.md, "The answer cache"): ask
        until the answer is want, for at most 5 s."""
        wpd.wait_until(lambda: ask() == want, deadline=5.0, interval=0.02, what=what)

    def assertFails(self, proc, code=1):
        self.assertEqual(proc.returncode, code, proc.stderr)
        self.assertEqual(len(proc.stderr.splitlines()), 1, proc.stderr)
        self.assertEqual(proc.stdout, "")


class KeyListTest(CliCase):

    def key_list(self):
        proc = self.wpd("key", "list", "--db", self.db)
        self.assertOk(proc)
        return [line.split("\t") for line in proc.stdout.splitlines()]

    def test_empty_list(self):
        self.assertEqual(self.key_list(), [])

    def test_one_line_per_key_never_the_key(self):
        a = self.sb.key_create("ops", all_dcs=True)
        b = self.sb.key_create("north", dcs=["dc2", "dc1"])
        self.sb.key_revoke("ops")
        c = self.sb.key_create("ops", dcs=["we,ird\tdc"])
        out = self.wpd("key", "list", "--db", self.db).stdout
        for key in (a, b, c):
            self.assertNotIn(key, out)
            self.assertNotIn(key[4:20], out)
        rows = self.key_list()
        self.assertEqual(len(rows), 3, rows)
        for row in rows:
            self.assertEqual(len(row), 4, row)
            self.assertRegex(row[2], r"\A%s\Z" % TIME_RE)
        self.assertEqual(rows[0][:2], ["ops", "*"])
        self.assertRegex(rows[0][3], r"\A%s\Z" % TIME_RE)  # revoked
        self.assertEqual(rows[1][:2], ["north", "dc1,dc2"])
        self.assertEqual(rows[1][3], "-")
        self.assertEqual(rows[2][:2], ["ops", "we\\,ird\\tdc"])
        self.assertEqual(rows[2][3], "-")

    def test_awkward_names_and_dcs_stay_four_fields(self):
        self.sb.key_create("back\\slash\nname", dcs=["*", "a\\b", "x\ry"])
        rows = self.key_list()
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0][:2], ["back\\\\slash\\nname", "\\*,a\\\\b,x\\ry"])

    def test_list_usage(self):
        self.assertFails(self.wpd("key", "list"), 2)
        self.assertFails(self.wpd("key", "list", "--db", self.db, "--name", "x"), 2)


class KeyNameTest(CliCase):

    def test_revoked_name_can_be_used_again(self):
        old = self.sb.key_create("dash", all_dcs=True)
        self.assertFails(self.wpd("key", "create", "--db", self.db, "--name", "dash", "--all-dcs"))
        self.sb.key_revoke("dash")
        new = self.sb.key_create("dash", dcs=["dc1"])
        srv = self.sb.server()
        self.assertEqual(self.sb.curl(srv, "/dcs/dc1/customers/c1", bearer=old).code, 401)
        self.assertEqual(self.sb.curl(srv, "/dcs/dc1/customers/c1", bearer=new).code, 200)
        # The name now belongs to the new key: revoke reaches it.
        self.sb.key_revoke("dash")
        self.assertBecomes(lambda: self.sb.curl(srv, "/dcs/dc1/customers/c1", bearer=new).code, 401,
                           "the new key refused after its revoke")

    def test_revoke_twice_says_so(self):
        self.sb.key_create("k", all_dcs=True)
        self.assertOk(self.wpd("key", "revoke", "--db", self.db, "--name", "k"))
        proc = self.wpd("key", "revoke", "--db", self.db, "--name", "k")
        self.assertOk(proc, stderr_lines=1)
        self.assertIn("already revoked", proc.stderr)
        self.assertEqual(proc.stdout, "")

    def test_revoke_unknown_name(self):
        proc = self.wpd("key", "revoke", "--db", self.db, "--name", "never")
        self.assertFails(proc)
        self.assertIn("no key named", proc.stderr)


class TokenCreateTest(CliCase):

    def test_unknown_customer_or_dc_exit_1(self):
        for dc, customer in (("dc1", "nobody"), ("nowhere", "c1"), ("dc2", "c1")):
            with self.subTest(dc=dc, customer=customer):
                proc = self.wpd("token", "create", "--db", self.db, "--dc", dc, "--customer", customer)
                self.assertFails(proc)
                self.assertIn(customer, proc.stderr)

    def test_known_customer_gets_a_token(self):
        self.assertTrue(self.sb.token_create("dc1", "c1").startswith("wpt_"))


class TokenRevokeRestTest(CliCase):

    def get(self, srv, token, customer="c1"):
        return self.sb.curl(srv, "/dcs/dc1/customers/%s/waypoints" % customer, bearer=token).code

    def test_one_token_at_once_on_rest(self):
        srv = self.sb.server()
        t1, t2 = self.sb.token_create("dc1", "c1"), self.sb.token_create("dc1", "c1")
        self.assertNotEqual(t1, t2)
        self.assertEqual((self.get(srv, t1), self.get(srv, t2)), (200, 200))
        self.assertOk(self.wpd("token", "revoke", "--db", self.db, t1))
        self.assertBecomes(lambda: self.get(srv, t1), 401, "t1 refused after its revoke")
        self.assertEqual(self.get(srv, t2), 200)
        # Twice: said on stderr, exit 0; stdin ("-") works the same.
        proc = self.wpd("token", "revoke", "--db", self.db, "-", input=t1 + "\n")
        self.assertOk(proc, stderr_lines=1)
        self.assertIn("already revoked", proc.stderr)
        self.assertOk(self.wpd("token", "revoke", "--db", self.db, "-", input=t2 + "\n"))
        self.assertBecomes(lambda: self.get(srv, t2), 401, "t2 refused after its revoke")

    def test_customer_tokens_at_once_on_rest_new_ones_work(self):
        srv = self.sb.server()
        t1, other = self.sb.token_create("dc1", "c1"), self.sb.token_create("dc1", "c2")
        self.assertEqual(self.get(srv, t1), 200)
        self.assertOk(self.wpd("token", "revoke", "--db", self.db, "--dc", "dc1", "--customer", "c1"))
        self.assertBecomes(lambda: self.get(srv, t1), 401, "c1's token refused after the customer's revoke")
        self.assertEqual(self.get(srv, other, "c2"), 200)
        time.sleep(0.01)
        fresh = self.sb.token_create("dc1", "c1")
        self.assertEqual(self.get(srv, fresh), 200)

    def test_bad_or_foreign_token_exit_1(self):
        other = wpd.Sandbox(prefix="wpd-keys-other-")
        self.addCleanup(other.close)
        other.sql("INSERT INTO dcs(id) VALUES ('dc1'); INSERT INTO customers(dc_id, id, name) VALUES ('dc1','c1','C');")
        foreign = other.token_create("dc1", "c1")
        for bad in ("wpt_garbage", foreign, self.sb.key_create("k", all_dcs=True)):
            with self.subTest(bad=bad[:12]):
                self.assertFails(self.wpd("token", "revoke", "--db", self.db, bad))

    def test_revoke_usage(self):
        tok = self.sb.token_create("dc1", "c1")
        for args in ([], [tok, "--dc", "dc1", "--customer", "c1"], ["--dc", "dc1"], [tok, tok],
                     [tok, "--ttl", "5"]):
            with self.subTest(args=args):
                self.assertFails(self.wpd("token", "revoke", "--db", self.db, *args), 2)

    def test_expired_token_is_said(self):
        tok = self.sb.token_create("dc1", "c1", ttl=1)
        time.sleep(1.2)
        proc = self.wpd("token", "revoke", "--db", self.db, tok)
        self.assertOk(proc, stderr_lines=1)
        self.assertIn("expired", proc.stderr)


class DemoKeyTest(unittest.TestCase):

    def run_demo(self, d):
        proc = subprocess.Popen([wpd.WAYPOINTD, "demo", "--dir", d, "--listen", "127.0.0.1:0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            out = ""
            while "listening on" not in out and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                out += line
            self.assertIn("listening on", out, proc.stderr.read() if proc.poll() is not None else out)
            return re.search(r"API key: (\S+)", out).group(1)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()

    def test_running_the_demo_three_times_leaves_one_valid_key(self):
        tmp = wpd.make_tempdir("wpd-keys-demo-")
        self.addCleanup(wpd.remove_tree, tmp)
        d = os.path.join(tmp, "demo")
        keys = [self.run_demo(d) for _ in range(3)]
        self.assertEqual(len(set(keys)), 3)
        db = os.path.join(d, "waypoints.db")
        live = wpd.sql_value(db, "SELECT count(*) FROM api_keys WHERE revoked_ms IS NULL")
        self.assertEqual(int(live), 1)
        rows = [line.split("\t") for line in wpd.waypointd("key", "list", "--db", db).stdout.splitlines()]
        self.assertEqual([r[3] == "-" for r in rows], [False, False, True], rows)


class LiveRevokeTest(unittest.IsolatedAsyncioTestCase):
    """Open WebSocket and SSE connections of a revoked token end within seconds."""

    @classmethod
    def setUpClass(cls):
        sb = wpd.Sandbox(prefix="wpd-keys-live-")
        cls.addClassCleanup(sb.close)
        cls.sb = sb
        sb.sql("INSERT INTO dcs(id) VALUES ('dc1');"
               "INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c1', 'C1'), ('dc1', 'c2', 'C2'),"
               " ('dc1', 'c3', 'C3');")
        cls.server = sb.server(threads=2)

    async def open(self, token):
        live = await Live.open(self.server, self.sb.cert, access_token=token)
        self.addAsyncCleanup(live.close)
        return live

    def sse(self, token, customer):
        conn = http.client.HTTPSConnection("127.0.0.1", self.server.port, context=self.sb.ssl_context(),
                                           timeout=CLOSE_DEADLINE + 5)
        conn.request("GET", "/dcs/dc1/customers/%s/waypoints/events" % customer,
                     headers={"Authorization": "Bearer " + token})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.addCleanup(conn.close)
        return resp

    def sse_messages(self, resp):
        """Every data: line until the stream ends (or the socket deadline)."""
        out = []
        for raw in resp:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("data:"):
                out.append(json.loads(line[5:]))
                if out[-1].get("type") == "error":
                    break
        return out

    async def revoked_ends(self, revoke_args, customer, bystander_customer):
        token = await asyncio.to_thread(self.sb.token_create, "dc1", customer)
        bystander_token = await asyncio.to_thread(self.sb.token_create, "dc1", bystander_customer)
        live = await self.open(token)
        bystander = await self.open(bystander_token)
        self.assertEqual((await live.subscribe("dc1", customer, id="s"))["type"], "subscribed")
        self.assertEqual((await bystander.subscribe("dc1", bystander_customer, id="b"))["type"], "subscribed")
        stream = await asyncio.to_thread(self.sse, token, customer)
        proc = await asyncio.to_thread(wpd.waypointd, "token", "revoke", "--db", self.sb.db,
                                       *[a if a != "TOKEN" else token for a in revoke_args])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        before, code = await live.closed(CLOSE_DEADLINE)
        errors = [m for m in before if m.get("type") == "error"]
        self.assertEqual(len(errors), 1, before)
        self.assertEqual(errors[0].get("code"), 401, errors)
        self.assertIn("revoked", errors[0].get("message", ""))
        self.assertNotEqual(code, 1000)
        msgs = await asyncio.to_thread(self.sse_messages, stream)
        self.assertEqual([(m.get("type"), m.get("code")) for m in msgs][-1], ("error", 401), msgs)
        self.assertEqual(await refused(self.server, self.sb.cert, access_token=token), 401)
        self.assertEqual(self.sb.curl(self.server, "/dcs/dc1/customers/%s/waypoints" % customer,
                                      bearer=token).code, 401)
        # The bystander's connection is untouched.
        self.assertEqual([m for m in await bystander.ping(id="p") if m.get("type") == "error"], [])

    async def test_one_token_revoked_ends_its_connections(self):
        await self.revoked_ends(["TOKEN"], "c1", "c1")

    async def test_customer_revoked_ends_its_connections(self):
        await self.revoked_ends(["--dc", "dc1", "--customer", "c3"], "c3", "c2")


if __name__ == "__main__":
    unittest.main()

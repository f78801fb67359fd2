#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box tests of the waypointd command line (CONTRACT.md, "Programs").

Exit codes: 0 success, 2 bad usage, 1 any other failure; errors are one
stderr line. Run directly:
    /usr/bin/python3 tests/integration/test_cli.py
"""
import base64
import os
import re
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402

CONTRACT_DDL = """
CREATE TABLE dcs(id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '');
CREATE TABLE customers(dc_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,
          imported_address TEXT,
          imported_latitude REAL, imported_longitude REAL,
          inferred_latitude REAL, inferred_longitude REAL,
          location_confident INTEGER NOT NULL DEFAULT 0,
          PRIMARY KEY (dc_id, id));
CREATE TABLE waypoints(dc_id TEXT NOT NULL, id TEXT NOT NULL, customer_id TEXT NOT NULL,
          route_id TEXT,
          status TEXT NOT NULL DEFAULT 'PENDING',
          completed_timestamp INTEGER,
          estimated_time_of_arrival INTEGER,
          waypoints_ahead INTEGER,
          waiting_time_seconds INTEGER,
          PRIMARY KEY (dc_id, id));
"""

CONTRACT_COLUMNS = {
    "dcs": ["id", "name"],
    "customers": ["dc_id", "id", "name", "imported_address", "imported_latitude", "imported_longitude",
                  "inferred_latitude", "inferred_longitude", "location_confident"],
    "waypoints": ["dc_id", "id", "customer_id", "route_id", "status", "completed_timestamp",
                  "estimated_time_of_arrival", "waypoints_ahead", "waiting_time_seconds"],
}

LISTENING_RE = re.compile(r"listening on https://127\.0\.0\.1:(\d+)")


class CliTestCase(unittest.TestCase):
    """A fresh sandbox (dev certificate, initialised database) per test."""

    init = True

    def setUp(self):
        self.sb = wpd.Sandbox(prefix="wpd-cli-", init=self.init)
        self.addCleanup(self.sb.close)
        self.db = self.sb.db

    def wpd(self, *args, timeout=wpd.CMD_DEADLINE):
        return wpd.waypointd(*args, timeout=timeout)

    def assertExit(self, proc, code, stderr_lines=None, what=None):
        """Exit code, and for failures exactly one non-empty stderr line."""
        what = what or " ".join(proc.args[1:])
        self.assertEqual(proc.returncode, code, "%s: exit %d, stderr %r" % (what, proc.returncode, proc.stderr))
        if stderr_lines is not None:
            self.assertEqual(len(proc.stderr.splitlines()), stderr_lines,
                             "%s: stderr should be %d line(s): %r" % (what, stderr_lines, proc.stderr))
            if stderr_lines:
                self.assertTrue(proc.stderr.strip(), "%s: empty error line" % what)

    def assertFails(self, proc, code, what=None):
        """A failure: `code`, one stderr line, nothing on stdout."""
        self.assertExit(proc, code, stderr_lines=1, what=what)
        self.assertEqual(proc.stdout, "", "%s printed to stdout: %r" % (what or proc.args, proc.stdout))

    def db_bytes(self, db=None):
        """The database and its -wal/-shm files, concatenated."""
        out = b""
        for suffix in ("", "-wal", "-shm", "-journal"):
            p = (db or self.db) + suffix
            if os.path.exists(p):
                with open(p, "rb") as f:
                    out += f.read()
        return out


class HelpTest(CliTestCase):
    init = False

    def test_help_exits_0(self):
        for args in (["--help"], ["-h"], ["init", "--help"], ["key", "--help"], ["key", "create", "--help"],
                     ["key", "revoke", "--help"], ["token", "--help"], ["token", "create", "--help"],
                     ["serve", "--help"]):
            with self.subTest(args=args):
                proc = self.wpd(*args)
                self.assertExit(proc, 0, stderr_lines=0)
                self.assertIn("usage", proc.stdout.lower())

    def test_command_help_names_its_options(self):
        expect = {"init": ["--db"], "key": ["create", "revoke", "--db", "--name", "--dc", "--all-dcs"],
                  "token": ["create", "--db", "--dc", "--customer", "--ttl"],
                  "serve": ["--db", "--listen", "--cert", "--key", "--www", "--threads"]}
        top = self.wpd("--help").stdout
        for cmd, options in expect.items():
            with self.subTest(cmd=cmd):
                self.assertIn(cmd, top)
                out = self.wpd(cmd, "--help").stdout
                for opt in options:
                    self.assertIn(opt, out)


class UsageTest(CliTestCase):
    """Bad usage: exit 2, one stderr line, nothing done."""

    def test_usage_errors_exit_2_with_one_line(self):
        db = self.db
        cases = [
            ["bogus"],
            ["--bogus"],
            ["init"],
            ["init", "--db"],
            ["init", "--db", db, "extra"],
            ["init", "--db", db, "--bogus"],
            ["key"],
            ["key", "frobnicate", "--db", db, "--name", "n"],
            ["key", "create", "--db", db, "--all-dcs"],             # no --name
            ["key", "create", "--name", "n", "--all-dcs"],          # no --db
            ["key", "create", "--db", db, "--name", "n", "--dc"],   # --dc without a value
            ["key", "create", "--db", db, "--name", "n", "--all-dcs", "extra"],
            ["key", "revoke", "--db", db],
            ["token"],
            ["token", "frobnicate", "--db", db, "--dc", "d", "--customer", "c"],
            ["token", "create", "--db", db, "--dc", "d"],
            ["token", "create", "--db", db, "--customer", "c"],
            ["token", "create", "--dc", "d", "--customer", "c"],
            ["serve"],
            ["serve", "--db", db, "--listen", "127.0.0.1:0", "--cert", self.sb.cert],  # no --key
            ["serve", "--db", db, "--cert", self.sb.cert, "--key", self.sb.key],       # no --listen
            ["serve", "--db", db, "--listen", "127.0.0.1", "--cert", self.sb.cert, "--key", self.sb.key],
            ["serve", "--db", db, "--listen", "127.0.0.1:70000", "--cert", self.sb.cert, "--key", self.sb.key],
            ["serve", "--db", db, "--listen", "127.0.0.1:0", "--cert", self.sb.cert, "--key", self.sb.key,
             "--threads", "0"],
            ["serve", "--db", db, "--listen", "127.0.0.1:0", "--cert", self.sb.cert, "--key", self.sb.key,
             "--threads", "many"],
            ["serve", "--db", db, "--listen", "127.0.0.1:0", "--cert", self.sb.cert, "--key", self.sb.key,
             "--bogus"],
        ]
        for args in cases:
            with self.subTest(args=args):
                self.assertFails(self.wpd(*args, timeout=10), 2)

    def test_serve_usage_errors_name_the_option_or_argument(self):
        # issue 12: every error names what was wrong
        base = ["serve", "--db", self.db, "--listen", "127.0.0.1:0", "--cert", self.sb.cert, "--key", self.sb.key]
        cases = [
            (["--bogus"], 'waypointd serve: unknown option "--bogus" (see waypointd serve --help)'),
            (["--bogus=1"], 'waypointd serve: unknown option "--bogus" (see waypointd serve --help)'),
            (["-x"], 'waypointd serve: unknown option "-x" (see waypointd serve --help)'),
            (["--threads"], "waypointd serve: --threads needs a value (see waypointd serve --help)"),
            (["extra"], 'waypointd serve: unexpected argument "extra" (see waypointd serve --help)'),
            (["--log-level", "loud"], "waypointd serve: --log-level takes error, warn, info or debug "
                                      "(see waypointd serve --help)"),
            (["--log-format", "xml"], "waypointd serve: --log-format takes text or json (see waypointd serve --help)"),
        ]
        for extra, want in cases:
            with self.subTest(extra=extra):
                proc = self.wpd(*base, *extra, timeout=10)
                self.assertFails(proc, 2)
                self.assertEqual(proc.stderr.strip(), want)

    def test_no_command_is_a_one_line_usage_error(self):
        # Contract: errors are one stderr line, bad usage exits 2. A bare
        # `waypointd` is bad usage like any other.
        self.assertFails(self.wpd(), 2)

    def test_key_needs_dc_or_all_dcs_but_not_both(self):
        for extra in ([], ["--dc", "dc1", "--all-dcs"], ["--all-dcs", "--dc", "dc1", "--dc", "dc2"]):
            with self.subTest(extra=extra):
                proc = self.wpd("key", "create", "--db", self.db, "--name", "k", *extra)
                self.assertFails(proc, 2)
                # issue 12: both given is told "not both", neither is told what to give
                self.assertEqual(proc.stderr.strip(), "waypointd key: give --dc (one or more) or --all-dcs, not both "
                                 "(see waypointd key --help)" if extra else
                                 "waypointd key: give one or more --dc, or --all-dcs (see waypointd key --help)")
        # Nothing was stored: the name is still free.
        self.assertTrue(re.fullmatch(wpd.KEY_RE, self.sb.key_create("k", dcs=["dc1"])))

    def test_token_ttl_range(self):
        wpd.sql(self.db, "INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c1', 'C1');")
        for ttl in ("0", "2592001", "abc", "-1", "1.5", "", "10s", "99999999999999999999"):
            with self.subTest(ttl=ttl):
                self.assertFails(self.wpd("token", "create", "--db", self.db, "--dc", "dc1", "--customer", "c1",
                                          "--ttl", ttl), 2)
        for ttl in ("1", "2592000"):
            with self.subTest(ttl=ttl):
                proc = self.wpd("token", "create", "--db", self.db, "--dc", "dc1", "--customer", "c1", "--ttl", ttl)
                self.assertExit(proc, 0)
                self.assertEqual(len(proc.stdout.splitlines()), 1)


class InitTest(CliTestCase):
    init = False

    def journal_mode(self, db):
        return wpd.sql_value(db, "PRAGMA journal_mode;")

    def user_version(self, db):
        return int(wpd.sql_value(db, "PRAGMA user_version;"))

    def columns(self, db, table):
        return [line.split("|")[1] for line in wpd.sql(db, "PRAGMA table_info(%s);" % table).splitlines()]

    def test_init_creates_wal_database_with_contract_tables(self):
        proc = self.wpd("init", "--db", self.db)
        self.assertExit(proc, 0, stderr_lines=0)
        self.assertEqual(self.journal_mode(self.db), "wal")
        self.assertGreaterEqual(self.user_version(self.db), 1)
        for table, cols in CONTRACT_COLUMNS.items():
            with self.subTest(table=table):
                got = self.columns(self.db, table)
                for col in cols:
                    self.assertIn(col, got)
        # Other programs can write the tables with plain SQL, defaults apply.
        wpd.sql(self.db, "INSERT INTO dcs(id) VALUES ('dc1');"
                         "INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c1', 'Ann');"
                         "INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc1', 'w1', 'c1');")
        self.assertEqual(wpd.sql(self.db, "SELECT dcs.name, customers.location_confident FROM dcs JOIN customers "
                                          "ON customers.dc_id = dcs.id;").strip(), "|0")
        self.assertEqual(wpd.sql_value(self.db, "SELECT status FROM waypoints WHERE id = 'w1';"), "PENDING")

    def test_init_is_idempotent(self):
        self.assertExit(self.wpd("init", "--db", self.db), 0)
        version = self.user_version(self.db)
        wpd.sql(self.db, "INSERT INTO dcs(id, name) VALUES ('dc1', 'One');"
                         "INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c1', 'Ann');"
                         "INSERT INTO waypoints(dc_id, id, customer_id, status) VALUES ('dc1', 'w1', 'c1', 'FAILED');")
        key = self.sb.key_create("kept", all_dcs=True)
        token1 = self.sb.token_create("dc1", "c1", ttl=600)
        for _ in range(2):
            self.assertExit(self.wpd("init", "--db", self.db), 0, stderr_lines=0)
        self.assertEqual(self.user_version(self.db), version)
        self.assertEqual(self.journal_mode(self.db), "wal")
        self.assertEqual(wpd.sql(self.db, "SELECT id, name FROM dcs; SELECT id, name FROM customers;"
                                          "SELECT id, status FROM waypoints;").split(), ["dc1|One", "c1|Ann", "w1|FAILED"])
        # The key survived (its name is still taken) and the server accepts it
        # and the token made before the second init (the secret was kept).
        self.assertFails(self.wpd("key", "create", "--db", self.db, "--name", "kept", "--all-dcs"), 1)
        srv = self.sb.server()
        resp = self.sb.curl(srv, "/dcs/dc1/customers/c1/waypoints", bearer=key)
        self.assertEqual(resp.code, 200, resp)
        resp = self.sb.curl(srv, "/dcs/dc1/customers/c1/waypoints", bearer=token1)
        self.assertEqual(resp.code, 200, resp)
        self.assertEqual(resp.json()["waypoints"][0]["status"], "FAILED")

    def test_init_migrates_tables_made_by_other_programs(self):
        # Another program created the contract's tables (rollback journal,
        # user_version 0) and wrote rows before waypointd ever ran.
        wpd.sql(self.db, CONTRACT_DDL +
                "INSERT INTO dcs VALUES ('dc1', 'Depot');"
                "INSERT INTO customers VALUES ('dc1', 'c1', 'Ann', '1 Main', 1.5, 2.5, 3.25, 4.75, 1);"
                "INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c2', 'Bob');"
                "INSERT INTO waypoints VALUES ('dc1', 'w1', 'c1', 'r1', 'COMPLETED', 1700000000000, 1700000000500, 0, 7);"
                "INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc1', 'w2', 'c1');")
        before = wpd.sql(self.db, "SELECT * FROM dcs; SELECT * FROM customers; SELECT * FROM waypoints;")
        self.assertEqual(self.journal_mode(self.db), "delete")
        self.assertEqual(self.user_version(self.db), 0)
        self.assertExit(self.wpd("init", "--db", self.db), 0, stderr_lines=0)
        self.assertEqual(wpd.sql(self.db, "SELECT * FROM dcs; SELECT * FROM customers; SELECT * FROM waypoints;"),
                         before)
        self.assertEqual(len(before.splitlines()), 5)
        self.assertEqual(self.journal_mode(self.db), "wal")
        self.assertGreaterEqual(self.user_version(self.db), 1)
        # And it is usable: a key reads the old rows through the server.
        key = self.sb.key_create("after-migration", dcs=["dc1"])
        srv = self.sb.server()
        resp = self.sb.curl(srv, "/dcs/dc1/customers/c1", bearer=key)
        self.assertEqual(resp.code, 200, resp)
        self.assertEqual(resp.json()["data"]["customer"], {
            "id": "c1", "name": "Ann", "imported_address": "1 Main",
            "imported_location": {"latitude": 1.5, "longitude": 2.5},
            "inferred_location": {"latitude": 3.25, "longitude": 4.75}})
        resp = self.sb.curl(srv, "/dcs/dc1/customers/c1/waypoints", bearer=key)
        self.assertEqual([w["id"] for w in resp.json()["waypoints"]], ["w2", "w1"])

    def test_init_in_missing_folder_fails(self):
        db = self.sb.path("no", "such", "folder", "x.db")
        proc = self.wpd("init", "--db", db)
        self.assertFails(proc, 1)
        self.assertFalse(os.path.exists(db))
        # issue 12: the line says the folder is missing, and which
        self.assertEqual(proc.stderr.strip(), "waypointd: cannot create database %s: folder %s does not exist"
                         % (db, os.path.dirname(db)))


class KeyTest(CliTestCase):

    def test_key_create_prints_only_the_key(self):
        keys = set()
        for name, extra in (("a", ["--all-dcs"]), ("b", ["--dc", "dc1"]), ("c", ["--dc", "dc1", "--dc", "dc2"]),
                            ("d", ["--dc", "not-yet-a-dc"])):
            with self.subTest(name=name):
                proc = self.wpd("key", "create", "--db", self.db, "--name", name, *extra)
                self.assertExit(proc, 0, stderr_lines=0)
                lines = proc.stdout.split("\n")
                self.assertEqual(len(lines), 2, proc.stdout)  # one line, newline-terminated
                self.assertEqual(lines[1], "")
                # "wpk_" + 43 base64url characters: 256 bits.
                self.assertRegex(lines[0], r"\A%s\Z" % wpd.KEY_RE)
                keys.add(lines[0])
        self.assertEqual(len(keys), 4)

    def test_key_is_not_stored_in_plaintext(self):
        key = self.sb.key_create("secret-key", all_dcs=True)
        body = key[len("wpk_"):]
        raw = base64.urlsafe_b64decode(body + "=")
        self.assertGreaterEqual(len(raw) * 8, 128)
        data = self.db_bytes()
        self.assertTrue(data)
        for needle in (key.encode(), body.encode(), raw, body[:20].encode(), raw.hex().encode()):
            self.assertNotIn(needle, data)
        # Still usable: the stored hash is what the server checks.
        srv = self.sb.server()
        self.assertEqual(self.sb.curl(srv, "/dcs/dc1/customers/c1", bearer=key).code, 403)  # no such DC yet

    def test_duplicate_name_exit_1(self):
        first = self.sb.key_create("dup", dcs=["dc1"])
        self.assertFails(self.wpd("key", "create", "--db", self.db, "--name", "dup", "--all-dcs"), 1)
        self.assertFails(self.wpd("key", "create", "--db", self.db, "--name", "dup", "--dc", "dc1"), 1)
        # The first key is untouched (still dc1 only, still valid).
        wpd.sql(self.db, "INSERT INTO dcs(id) VALUES ('dc1'), ('dc2');"
                         "INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c', 'C'), ('dc2', 'c', 'C');")
        srv = self.sb.server()
        self.assertEqual(self.sb.curl(srv, "/dcs/dc1/customers/c", bearer=first).code, 200)
        self.assertEqual(self.sb.curl(srv, "/dcs/dc2/customers/c", bearer=first).code, 403)

    def test_key_revoke(self):
        self.sb.key_create("to-go", all_dcs=True)
        proc = self.wpd("key", "revoke", "--db", self.db, "--name", "to-go")
        self.assertExit(proc, 0, stderr_lines=0)
        self.assertEqual(proc.stdout, "")

    def test_key_revoke_unknown_name_exit_1(self):
        self.assertFails(self.wpd("key", "revoke", "--db", self.db, "--name", "never-made"), 1)


class TokenTest(CliTestCase):
    """Tokens for customers that exist (an unknown one: test_keys.py)."""

    def setUp(self):
        super().setUp()
        wpd.sql(self.db, "INSERT INTO customers(dc_id, id, name) VALUES"
                         " ('dc1', 'c1', 'C'), ('dc1', 'c2', 'C'), ('dc2', 'c1', 'C');")

    def test_token_create_prints_one_line(self):
        for extra in ([], ["--ttl", "60"]):
            with self.subTest(extra=extra):
                proc = self.wpd("token", "create", "--db", self.db, "--dc", "dc1", "--customer", "c1", *extra)
                self.assertExit(proc, 0, stderr_lines=0)
                lines = proc.stdout.split("\n")
                self.assertEqual(len(lines), 2, proc.stdout)
                self.assertEqual(lines[1], "")
                self.assertRegex(lines[0], r"\A\S{20,}\Z")

    def test_tokens_differ_per_customer(self):
        a = self.sb.token_create("dc1", "c1")
        b = self.sb.token_create("dc1", "c2")
        c = self.sb.token_create("dc2", "c1")
        self.assertEqual(len({a, b, c}), 3)


class MissingDatabaseTest(CliTestCase):
    init = False

    def test_commands_on_a_missing_db_exit_1(self):
        db = self.sb.path("missing.db")
        for args in (["key", "create", "--db", db, "--name", "k", "--all-dcs"],
                     ["key", "revoke", "--db", db, "--name", "k"],
                     ["token", "create", "--db", db, "--dc", "dc1", "--customer", "c1"],
                     ["serve", "--db", db, "--listen", "127.0.0.1:0", "--cert", self.sb.cert, "--key", self.sb.key]):
            with self.subTest(cmd=args[:2]):
                self.assertFails(self.wpd(*args, timeout=10), 1)
                self.assertFalse(os.path.exists(db), "%s created the database" % args[:2])

    def test_commands_on_an_uninitialised_db_exit_1(self):
        db = self.sb.path("empty.db")
        open(db, "wb").close()
        for args in (["key", "create", "--db", db, "--name", "k", "--all-dcs"],
                     ["token", "create", "--db", db, "--dc", "dc1", "--customer", "c1"],
                     ["serve", "--db", db, "--listen", "127.0.0.1:0", "--cert", self.sb.cert, "--key", self.sb.key]):
            with self.subTest(cmd=args[:2]):
                self.assertFails(self.wpd(*args, timeout=10), 1)


class ServeTest(CliTestCase):

    def serve(self, cert, key, timeout=10):
        return self.wpd("serve", "--db", self.db, "--listen", "127.0.0.1:0", "--cert", cert, "--key", key,
                        timeout=timeout)

    def assertServeFails(self, cert, key):
        proc = self.serve(cert, key)
        self.assertFails(proc, 1, what="serve --cert %s --key %s" % (cert, key))
        self.assertNotIn("listening", proc.stdout)

    def test_missing_certificate_or_key(self):
        self.assertServeFails(self.sb.path("nope-cert.pem"), self.sb.key)
        self.assertServeFails(self.sb.cert, self.sb.path("nope-key.pem"))

    def test_unreadable_key(self):
        # A folder is never a readable key file.
        folder = self.sb.path("key-folder")
        os.mkdir(folder)
        self.assertServeFails(self.sb.cert, folder)
        if os.geteuid() != 0:  # root reads a mode-000 file regardless
            locked = self.sb.path("locked-key.pem")
            with open(self.sb.key, "rb") as src, open(locked, "wb") as dst:
                dst.write(src.read())
            os.chmod(locked, 0)
            self.assertServeFails(self.sb.cert, locked)
        else:
            locked = self.sb.path("empty-key.pem")
            open(locked, "wb").close()
            os.chmod(locked, 0)
            self.assertServeFails(self.sb.cert, locked)

    def test_key_that_does_not_match_the_certificate(self):
        other = self.sb.path("other")
        os.mkdir(other)
        other_cert, other_key = wpd.make_cert(other)
        self.assertServeFails(self.sb.cert, other_key)
        self.assertServeFails(other_cert, self.sb.key)

    def test_garbage_pem(self):
        garbage = self.sb.path("garbage.pem")
        with open(garbage, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
        self.assertServeFails(garbage, self.sb.key)
        self.assertServeFails(self.sb.cert, garbage)
        text = self.sb.path("text.pem")
        with open(text, "w") as f:
            f.write("hello\n")
        self.assertServeFails(text, self.sb.key)
        self.assertServeFails(self.sb.cert, text)
        self.assertServeFails(self.sb.key, self.sb.cert)  # swapped

    def test_missing_www_exit_1(self):
        proc = self.wpd("serve", "--db", self.db, "--listen", "127.0.0.1:0", "--cert", self.sb.cert, "--key",
                        self.sb.key, "--www", self.sb.path("no-www"), timeout=10)
        self.assertFails(proc, 1)

    def stop_with(self, sig):
        srv = self.sb.server(threads=2)
        resp = self.sb.curl(srv, "/")
        self.assertEqual(resp.code, 200, resp)
        self.assertEqual(srv.stop(sig), 0, srv.stderr())
        self.assertEqual(srv.stdout_lines, ["listening on https://127.0.0.1:%d" % srv.port])
        self.assertTrue(LISTENING_RE.fullmatch(srv.stdout_lines[0]))
        # The port is closed now.
        resp = self.sb.curl(srv, "/", max_time=5)
        self.assertNotEqual(resp.rc, 0)

    def test_sigterm_exits_0(self):
        self.stop_with(signal.SIGTERM)

    def test_sigint_exits_0(self):
        self.stop_with(signal.SIGINT)

    def test_sigterm_with_an_open_connection_exits_0(self):
        srv = self.sb.server(threads=1)
        conn = wpd.https_connection(srv, self.sb.cert)
        self.addCleanup(conn.close)
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        self.assertEqual(resp.status, 200)
        self.assertEqual(srv.stop(signal.SIGTERM), 0, srv.stderr())

    def test_two_ports_zero_get_different_ports(self):
        a = self.sb.server(threads=1)
        b = self.sb.server(threads=1)
        self.assertNotEqual(a.port, b.port)
        self.assertEqual(self.sb.curl(a, "/").code, 200)
        self.assertEqual(self.sb.curl(b, "/").code, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)

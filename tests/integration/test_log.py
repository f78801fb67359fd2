#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box tests of the server's log on stderr: a long line (the
"database file ... was replaced" warning with a long path, over lws's
256-byte log buffer) arrives whole, and in JSON format every line is one
valid JSON object.

Run directly: /usr/bin/python3 tests/integration/test_log.py
"""
import json
import os
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


if __name__ == "__main__":
    unittest.main()

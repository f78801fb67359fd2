#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What a newcomer without the demo meets: the README's "Without the demo"
block and the man page's EXAMPLES, run as written (issue 12).

The commands are read from README.md and docs/waypointd.1 themselves, not
copied here, so a doc that drifts from the program fails this test. Each
`$ ` line is run with `sh -c` in a fresh folder where `waypointd` is the
binary under test; the lines under it are its documented output, `…` or
`...` standing for what differs from run to run. What the test changes, and
why, is all in `Walk.prepare`:
  - the fixed port 8443 becomes a free one (serve gets port 0; later commands
    get the port it printed), since other servers may hold 8443;
  - /srv/wp/ becomes a folder of the test's own, and the installed
    /usr/share/doc/waypointd/examples/sample.sql the source tree's
    scripts/sample.sql (tests/package/test_deb.sh checks they are the same);
  - `wpk_…` and `wpt_…` become the key and token printed before them;
  - `serve … &` and `simulate` (until Ctrl-C) run in the background: the
    test reads their first line and stops them with SIGINT.
Root commands (`# `, the packaged service: tests/package/test_deb.sh) and
`waypointd demo` (tests/integration/test_simulate.py) are not run here.
Run directly:
    WAYPOINTD=build-debug/waypointd /usr/bin/python3 tests/integration/test_newcomer.py
"""
import json
import os
import re
import select
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402

README = os.path.join(wpd.SOURCE_DIR, "README.md")
MANPAGE = os.path.join(wpd.SOURCE_DIR, "docs", "waypointd.1")
SAMPLE_SQL = os.path.join(wpd.SOURCE_DIR, "scripts", "sample.sql")
INSTALLED_SAMPLE = "/usr/share/doc/waypointd/examples/sample.sql"
PLACEHOLDER = re.compile(r"\.\.\.|…")


def man_examples():
    """The man page's EXAMPLES blocks as [(command, [output lines])], roff undone."""
    with open(MANPAGE, encoding="utf-8") as f:
        text = f.read()
    section = text.split("\n.SH EXAMPLES\n", 1)[1].split("\n.SH ", 1)[0]
    steps = []
    for block in re.findall(r"^\.EX\n(.*?)^\.EE$", section, re.S | re.M):
        lines = []
        for line in block.splitlines():
            for roff, plain in ((r"\-", "-"), (r"\(aq", "'"), (r".\|.\|.", "..."), (r"\&", ""), (r"\e", "\\")):
                line = line.replace(roff, plain)
            lines.append(line)
        steps += commands(lines)   # a block without a command (the pages' URLs) adds nothing
    return steps


def readme_block():
    """The README's "Without the demo" console block as [(command, [output lines])]."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    section = text.split("\n## Without the demo\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"^```console\n(.*?)^```$", section, re.S | re.M).group(1)
    return commands(block.splitlines())


def commands(lines):
    """Group `$ `/`# ` lines (with `\\` continuations) and the output under each."""
    out, cont = [], False
    for line in lines:
        if cont:
            out[-1][0] += "\n" + line
        elif line.startswith(("$ ", "# ")):
            out.append([line, []])
        elif out:
            out[-1][1].append(line)
        cont = line.endswith("\\")
    return [(c, o) for c, o in out]


class Walk:
    """Runs one documented walk in its own folder."""

    def __init__(self, test, workdir):
        self.test, self.dir = test, workdir
        self.bin = os.path.join(workdir, "bin")
        os.makedirs(self.bin)
        os.symlink(os.path.abspath(wpd.WAYPOINTD), os.path.join(self.bin, "waypointd"))
        os.makedirs(os.path.join(workdir, "srv", "wp"))
        # The README's block runs from the source tree: it names scripts/ and certs/.
        for name in ("scripts", "certs"):
            os.symlink(os.path.join(wpd.SOURCE_DIR, name), os.path.join(workdir, name))
        self.env = dict(os.environ, PATH=self.bin + os.pathsep + os.environ.get("PATH", ""))
        self.key = self.token = self.port = None
        self.ran = []
        self.background = []

    def prepare(self, text):
        text = text.replace("/srv/wp/", os.path.join(self.dir, "srv", "wp") + "/")
        text = text.replace(INSTALLED_SAMPLE, SAMPLE_SQL)
        if self.port:
            text = text.replace("127.0.0.1:8443", "127.0.0.1:%d" % self.port)
        if self.key:
            text = re.sub(r"wpk_(\.\.\.|…)", self.key, text)
        if self.token:
            text = re.sub(r"wpt_(\.\.\.|…)", self.token, text)
        return text

    def expect(self, command, documented, actual):
        """Each documented output line matches the actual one, `…` matching anything."""
        got = actual.splitlines()
        self.test.assertGreaterEqual(len(got), len(documented), "%s: printed %r" % (command, actual))
        for want, line in zip(documented, got):
            want = self.prepare(want) if not want.startswith(("wpk_", "wpt_")) else want
            pattern = ".*".join(re.escape(part) for part in PLACEHOLDER.split(want))
            self.test.assertRegex(line, "^" + pattern + "$", "%s: documented %r" % (command, want))

    def start_background(self, command):
        proc = subprocess.Popen(["sh", "-c", "exec " + command], cwd=self.dir, env=self.env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.background.append(proc)
        deadline = wpd.START_DEADLINE
        ready = select.select([proc.stdout], [], [], deadline)[0]
        self.test.assertTrue(ready, "%s: no line within %.0f s" % (command, deadline))
        first = proc.stdout.readline().decode()
        if not first:
            self.test.fail("%s exited: %r" % (command, proc.stderr.read()))
        return proc, first

    def run(self, command, documented):
        self.ran.append(command)
        cmd = self.prepare(command[2:])
        if re.match(r"waypointd serve\b", cmd):
            cmd = re.sub(r"\s*&\s*$", "", cmd).replace("127.0.0.1:8443", "127.0.0.1:0")
            _, first = self.start_background(cmd)
            m = re.match(r"listening on https://127\.0\.0\.1:(\d+)$", first.strip())
            self.test.assertTrue(m, "serve printed %r" % first)
            self.port = int(m.group(1))
            self.expect(command, documented, first)
            return
        if re.match(r"waypointd simulate\b", cmd) and "--duration" not in cmd:
            proc, first = self.start_background(cmd)
            self.expect(command, documented, first)
            proc.send_signal(signal.SIGINT)
            self.test.assertEqual(proc.wait(timeout=wpd.STOP_DEADLINE), 0, "simulate stops on Ctrl-C with 0")
            return
        proc = subprocess.run(["sh", "-c", cmd], cwd=self.dir, env=self.env, capture_output=True, text=True,
                              timeout=wpd.CMD_DEADLINE, stdin=subprocess.DEVNULL)
        self.test.assertEqual(proc.returncode, 0, "%s: exit %d: %s" % (command, proc.returncode, proc.stderr))
        self.expect(command, documented, proc.stdout)
        if re.match(r"waypointd key create\b", cmd):
            self.key = proc.stdout.strip()
            self.test.assertRegex(self.key, "^" + wpd.KEY_RE + "$")
        if re.match(r"waypointd token create\b", cmd):
            self.token = proc.stdout.strip()
            self.test.assertTrue(self.token.startswith("wpt_"), self.token)
        if cmd.startswith("curl "):
            body = json.loads(proc.stdout)
            self.test.assertIn("waypoints", body, "%s answered %r" % (command, body))
            self.test.assertGreater(len(body["waypoints"]), 0, "the documented customer has waypoints")

    def close(self):
        for proc in self.background:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=wpd.STOP_DEADLINE)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            proc.stdout.close()
            proc.stderr.close()


class NewcomerTest(unittest.TestCase):
    def setUp(self):
        self.dir = wpd.make_tempdir("wpd-newcomer-")
        self.addCleanup(wpd.remove_tree, self.dir)
        self.walk = Walk(self, self.dir)
        self.addCleanup(self.walk.close)

    def play(self, steps):
        for command, documented in steps:
            if command.startswith("# ") or re.match(r"\$ waypointd demo\b", command):
                continue
            self.walk.run(command, documented)

    def check_pages(self, doc):
        """The documented tracking link names the customer its token may read, and the
        dashboard link a DC the key covers; both pages are served."""
        doc = doc.replace("\\-", "-")
        link = re.search(r"https://127\.0\.0\.1:8443/#dc=([^&\s]+)&customer=([^&\s]+)&token=wpt_", doc)
        board = re.search(r"https://127\.0\.0\.1:8443/dispatch\.html#dc=([^\s`]+)", doc)
        self.assertTrue(link and board, "the tracking page's and the dashboard's links are documented")
        cert = os.path.join(self.dir, "dev-cert.pem")
        base = "https://127.0.0.1:%d" % self.walk.port
        for cred, path in ((self.walk.token, "/dcs/%s/customers/%s/waypoints" % link.groups()),
                           (self.walk.key, "/dcs/%s/customers/%s/waypoints" % (board.group(1), link.group(2)))):
            r = wpd.curl(base + path, cert, bearer=cred)
            self.assertEqual(r.code, 200, "%s: %r" % (path, r.body))
        for page in ("/", "/dispatch.html"):
            self.assertEqual(wpd.curl(base + page, cert).code, 200, page)

    def test_issue_12_readme_without_the_demo(self):
        steps = readme_block()
        self.play(steps)
        ran = " ".join(self.walk.ran)
        for part in ("waypointd init", "sample.sql", "key create", "token create", "waypointd serve", "curl ",
                     "waypointd simulate"):
            self.assertIn(part, ran, "the README's block has a %r step" % part)
        with open(README, encoding="utf-8") as f:
            self.check_pages(f.read().split("\n## Without the demo\n", 1)[1].split("\n## ", 1)[0])

    def test_issue_12_man_page_examples(self):
        wpd.make_cert(self.dir)   # "certs/make-dev-cert.sh makes such a certificate"
        steps = man_examples()
        self.play(steps)
        ran = " ".join(self.walk.ran)
        for part in ("waypointd init", "sample.sql", "key create", "token create", "waypointd serve", "curl ",
                     "waypointd simulate"):
            self.assertIn(part, ran, "the man page's examples have a %r step" % part)
        with open(MANPAGE, encoding="utf-8") as f:
            self.check_pages(f.read().split("\n.SH EXAMPLES\n", 1)[1])


if __name__ == "__main__":
    unittest.main()

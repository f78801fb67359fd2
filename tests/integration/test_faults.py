#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box fault tests (issue 6, "Faults").

Each test starts its own `waypointd serve` on 127.0.0.1 over its own
database, injects one fault from outside (another process holding the write
lock, a writer killed before COMMIT, the database file replaced or removed,
a full disk, a pruned change log, kill -9, SIGTERM, SIGHUP) and checks what
a user relies on:

  - no crash: the server stays alive and exits 0 on SIGTERM at the end;
  - no lost or reordered update: every subscription's pushes have strictly
    increasing seq, each push is a real change_log row of its scope, every
    change of its scope after its snapshot is pushed (or covered by a newer
    push to the same waypoint), and snapshot + pushes equal the table;
  - a clear line on the server's stderr describing the fault (a stable
    substring), where the server can observe the fault at all (the
    docstrings say where it cannot and why);
  - recovery on its own: after the fault, new changes are pushed and REST
    answers, without restarting the server.

Where the server cannot be expected to do better the test says so; where it
misbehaves today the failing assertion's message says exactly what happened.
Checks of different aspects run as subTests, so one failure does not hide the
others. Writers are separate processes (the sqlite3 shell, or Debian's
python3 with its sqlite3 module), as route planners and driver apps are.

Run:  WAYPOINTD=/path/to/waypointd /usr/bin/python3 tests/integration/test_faults.py -v
Needs: curl, sqlite3, openssl, python3-websockets; root for the tmpfs test
(skipped otherwise). Only 127.0.0.1; every wait has a deadline.
"""
import asyncio
import hashlib
import json
import logging
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402
from live_client import Live, PUSH_TYPES  # noqa: E402

import websockets.exceptions  # noqa: E402

logging.getLogger("asyncio").setLevel(logging.ERROR)

PYTHON = sys.executable or "/usr/bin/python3"
DCS = ("dc1", "dc2")
CUSTOMERS = ["c%02d" % i for i in range(6)]  # per DC
PER_CUSTOMER = 5                             # waypoints per customer (<= 10: the REST list is all of them)
STATUSES = ("PENDING", "COMPLETED", "FAILED", "SKIPPED")
FIELDS = ("id", "customer_id", "status", "completed_timestamp", "estimated_time_of_arrival", "waypoints_ahead",
          "waiting_time_seconds", "route_id")

# Deadlines in seconds (none tighter than 2 s).
PUSH_DEADLINE = 10.0      # a committed change reaches every subscriber
SUB_DEADLINE = 10.0
OPEN_DEADLINE = 15.0
LOG_DEADLINE = 5.0        # a log line about a fault appears
PROC_DEADLINE = 20.0      # a helper process finishes
RECOVER_DEADLINE = 10.0   # changes flow again after the fault ends
PRUNE_DEADLINE = 80.0     # the server prunes at start and then every 60 s

# The server's own log lines that mean trouble it did not expect.
ALARM_RE = re.compile(r"(?i)\bE: |failed|malformed|corrupt|assert|sanitizer|segmentation")


class FaultError(AssertionError):
    pass


# ---------------------------------------------------------------------------
# Helper processes (each a separate process, like any writer of the database)

# Commits updates (and, with churn, inserts and deletes) until SIGTERM or its
# limits; prints "started", then one JSON summary line.
WRITER_SRC = r'''
import json, random, signal, sqlite3, sys, time
cfg = json.loads(sys.argv[1])
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
con = sqlite3.connect(cfg["db"], timeout=cfg.get("busy", 10), isolation_level=None)
rnd = random.Random(cfg.get("seed", 1))
ids = [tuple(x) for x in cfg["waypoints"]]
owners = [tuple(x) for x in cfg.get("customers", [])]
extras = {}
n = cfg.get("base", 0)
commits, errors = 0, []
statuses = ["PENDING", "COMPLETED", "FAILED", "SKIPPED"]
end = time.monotonic() + cfg.get("max_seconds", 30)
print("started", flush=True)
while not stop and commits < cfg.get("max_commits", 100000) and time.monotonic() < end:
    try:
        con.execute("BEGIN IMMEDIATE")
        undo = []
        for _ in range(rnd.randint(1, cfg.get("rows", 1))):
            n += 1
            op = rnd.random()
            if owners and op < cfg.get("churn", 0):
                dc, cu = rnd.choice(owners)
                mine = extras.setdefault((dc, cu), [])
                if len(mine) < 3 and (not mine or rnd.random() < 0.5):
                    wid = "x%d" % n
                    con.execute("INSERT INTO waypoints(dc_id, id, customer_id, route_id, waypoints_ahead)"
                                " VALUES (?, ?, ?, 'rx', ?)", (dc, wid, cu, n))
                    mine.append(wid); undo.append(("ins", mine, wid))
                else:
                    wid = mine.pop(0)
                    con.execute("DELETE FROM waypoints WHERE dc_id = ? AND id = ?", (dc, wid))
                    undo.append(("del", mine, wid))
            else:
                dc, wid = rnd.choice(ids)
                st = rnd.choice(statuses)
                done = None if st == "PENDING" else 1795000000000 + n
                con.execute("UPDATE waypoints SET waypoints_ahead = ?, status = ?, completed_timestamp = ?"
                            " WHERE dc_id = ? AND id = ?", (n, st, done, dc, wid))
        con.execute("COMMIT")
        commits += 1
    except sqlite3.Error as e:
        errors.append(str(e))
        for what, mine, wid in reversed(undo):
            if what == "ins": mine.remove(wid)
            else: mine.insert(0, wid)
        try:
            con.execute("ROLLBACK")
        except sqlite3.Error:
            pass
    time.sleep(cfg.get("interval", 0.01))
print(json.dumps({"commits": commits, "nerrors": len(errors), "errors": errors[:10]}), flush=True)
'''

# Holds the write lock (BEGIN IMMEDIATE/EXCLUSIVE) with one uncommitted
# update for HOLD seconds, then commits.
LOCK_HOLDER_SRC = r'''
import sqlite3, sys, time
db, mode, hold, dc, wid = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5]
con = sqlite3.connect(db, timeout=10, isolation_level=None)
con.execute("BEGIN " + mode)
con.execute("UPDATE waypoints SET waypoints_ahead = 424242 WHERE dc_id = ? AND id = ?", (dc, wid))
print("locked", flush=True)
time.sleep(hold)
con.execute("COMMIT")
print("released", flush=True)
'''

# Makes readers wait as while another process recovers the WAL after a writer
# crashed: SQLite's WAL-index locks are fcntl locks on bytes 120.. of the
# -shm file (120 WRITE, 122 RECOVER); holding both with the index header
# marked unreliable is that state exactly, and every reader then meets
# SQLITE_BUSY_RECOVERY in its busy handler. On "release" (stdin) the header is
# restored and the locks dropped. (PRAGMA locking_mode=EXCLUSIVE or a
# journal_mode switch cannot be used: both need the whole file, which the
# running server's connections keep a shared lock on.)
READ_LOCK_HOLDER_SRC = r'''
import fcntl, os, sys, time
fd = os.open(sys.argv[1] + "-shm", os.O_RDWR)
for off in (120, 122):
    for _ in range(200):
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, off, os.SEEK_SET)
            break
        except OSError:
            time.sleep(0.05)
    else:
        sys.exit("cannot lock byte %d of the -shm file" % off)
hdr = os.pread(fd, 48, 0)
os.pwrite(fd, bytes([hdr[0] ^ 0xff]) + hdr[1:], 0)
print("locked", flush=True)
sys.stdin.readline()
os.pwrite(fd, hdr, 0)
os.close(fd)
print("released", flush=True)
'''

# BEGINs, updates and inserts (a small page cache makes the transaction
# spill into the -wal before COMMIT), prints "ready" and waits to be killed.
DOOMED_SRC = r'''
import json, sqlite3, sys, time
cfg = json.loads(sys.argv[1])
con = sqlite3.connect(cfg["db"], timeout=10, isolation_level=None)
con.execute("PRAGMA cache_size = -64")
con.execute("BEGIN IMMEDIATE")
for i, (dc, wid) in enumerate(cfg["update"]):
    con.execute("UPDATE waypoints SET waypoints_ahead = ?, status = 'FAILED', completed_timestamp = 1 "
                "WHERE dc_id = ? AND id = ?", (666000 + i, dc, wid))
for i in range(cfg["ghosts"]):
    con.execute("INSERT INTO waypoints(dc_id, id, customer_id, route_id) VALUES (?, ?, ?, ?)",
                (cfg["dc"], "ghost-%d" % i, cfg["customer"], "g" * 1500))
print("ready", flush=True)
time.sleep(60)
'''


def spawn(src, *args, stdin=subprocess.DEVNULL):
    """Start a helper process (Debian's python3 -c SRC ARGS) with pipes."""
    return subprocess.Popen([PYTHON, "-c", src, *[str(a) for a in args]], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_line(proc, deadline, what):
    """The next stdout line of proc within deadline seconds, else FaultError."""
    end = time.monotonic() + max(deadline, 2.0)
    for _ in range(int(max(deadline, 2.0) / 0.5) + 10):
        left = end - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([proc.stdout], [], [], min(left, 0.5))
        if ready:
            line = proc.stdout.readline()
            if not line:
                err = proc.stderr.read() if proc.poll() is not None else ""
                raise FaultError("%s: exited (%s) without the line; stderr: %s" % (what, proc.poll(), err[-1500:]))
            return line.strip()
    raise FaultError("%s: no line within %.0f s" % (what, deadline))


def finish(proc, deadline=PROC_DEADLINE):
    """Wait for proc; (returncode, stdout, stderr); kills it past the deadline."""
    try:
        out, err = proc.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=5)
        return None, out, err
    return proc.returncode, out, err


def reap(proc):
    """Cleanup for a helper process that may still run."""
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    for f in (proc.stdin, proc.stdout, proc.stderr):
        try:
            if f:
                f.close()
        except OSError:
            pass


def spawn_shell(db, statements, timeout_ms=15000):
    """The sqlite3 shell writing statements in the background (it may queue on
    the busy timeout); finish() it."""
    return subprocess.Popen(["sqlite3", "-bail", "-cmd", ".timeout %d" % timeout_ms, db, statements],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Writer:
    """WRITER_SRC as a process: start(), then stop() -> its summary dict."""

    def __init__(self, db, waypoints, customers=(), **cfg):
        cfg.update(db=db, waypoints=[list(w) for w in waypoints], customers=[list(c) for c in customers])
        self.proc = spawn(WRITER_SRC, json.dumps(cfg))
        self.summary = None
        if read_line(self.proc, 10, "writer start") != "started":
            raise FaultError("writer did not start")

    def stop(self):
        if self.summary is None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            rc, out, err = finish(self.proc)
            lines = [ln for ln in (out or "").splitlines() if ln.startswith("{")]
            if rc != 0 or not lines:
                raise FaultError("writer ended with %s; stdout %r; stderr %s" % (rc, out, (err or "")[-1500:]))
            self.summary = json.loads(lines[-1])
        return self.summary

    def close(self):
        reap(self.proc)


# ---------------------------------------------------------------------------
# The database, read directly (the test's own view of the truth)


def row_json(row):
    return {f: row[f] for f in FIELDS}


def read_db(db):
    """(change_log rows ascending as tuples (seq, dc, customer, waypoint, kind),
        {(dc, id): waypoint JSON}, {(dc, id): rowid})."""
    con = sqlite3.connect(db, timeout=15)
    try:
        con.row_factory = sqlite3.Row
        log = [tuple(r) for r in con.execute(
            "SELECT seq, dc_id, customer_id, waypoint_id, kind FROM change_log ORDER BY seq")]
        rows, rowids = {}, {}
        for r in con.execute("SELECT rowid AS rid, * FROM waypoints"):
            rows[(r["dc_id"], r["id"])] = row_json(dict(r))
            rowids[(r["dc_id"], r["id"])] = r["rid"]
        return log, rows, rowids
    finally:
        con.close()


def db_value(db, query, args=()):
    con = sqlite3.connect(db, timeout=15)
    try:
        row = con.execute(query, args).fetchone()
        return row[0] if row else None
    finally:
        con.close()


def fixture_rows(prefix=""):
    """PER_CUSTOMER waypoints for each customer of each DC, with varied values."""
    rows, n = [], 0
    for dc in DCS:
        for c in CUSTOMERS:
            for k in range(PER_CUSTOMER):
                n += 1
                status = STATUSES[n % 4] if k else "PENDING"
                rows.append({"dc_id": dc, "id": "%s%s-%d" % (prefix, c, k), "customer_id": c,
                             "route_id": "route-%d" % (n % 3), "status": status,
                             "completed_timestamp": None if status == "PENDING" else 1795000000000 + n,
                             "estimated_time_of_arrival": 1796000000000 + n * 60000, "waypoints_ahead": k,
                             "waiting_time_seconds": n * 15})
    return rows


def fill_db(db, prefix="", seq_base=None):
    """DCs, customers and fixture_rows in one transaction (the sqlite3 shell)."""
    stmts = ["BEGIN;"]
    if seq_base is not None:  # start this database's change numbers elsewhere
        stmts.append("INSERT OR REPLACE INTO sqlite_sequence(name, seq) VALUES ('change_log', %d);" % seq_base)
    for dc in DCS:
        stmts.append("INSERT INTO dcs(id, name) VALUES (%s, %s);" % (wpd.q(dc), wpd.q("DC " + dc)))
        for c in CUSTOMERS:
            stmts.append("INSERT INTO customers(dc_id, id, name) VALUES (%s, %s, %s);" %
                         (wpd.q(dc), wpd.q(c), wpd.q(prefix + "name " + c)))
    for r in fixture_rows(prefix):
        stmts.append("INSERT INTO waypoints(%s) VALUES (%s);" % (", ".join(r), ", ".join(wpd.q(v) for v in r.values())))
    stmts.append("COMMIT;")
    proc = wpd.run(["sqlite3", "-bail", "-cmd", ".timeout 5000", db], input="\n".join(stmts))
    if proc.returncode != 0 or proc.stderr.strip():
        raise FaultError("filling %s failed: %s" % (db, proc.stderr))


def update_stmt(dc, wid, value):
    return ("UPDATE waypoints SET waypoints_ahead = %d, route_id = 'r%d' WHERE dc_id = %s AND id = %s;" %
            (value, value, wpd.q(dc), wpd.q(wid)))


def sqlite_shell(db, statements, timeout_ms=5000, deadline=30):
    """The sqlite3 shell on db with statements on stdin; a CompletedProcess (never raises on SQL errors)."""
    return wpd.run(["sqlite3", "-bail", "-cmd", ".timeout %d" % timeout_ms, db], input=statements, timeout=deadline)


# ---------------------------------------------------------------------------
# REST


def envelope_problem(resp):
    """None when resp is an acceptable answer under a fault: 200 with a JSON
    body, or a 5xx carrying the error envelope; else what is wrong."""
    if resp.rc != 0:
        return "curl failed (exit %d: %s)" % (resp.rc, resp.stderr.strip()[-200:])
    try:
        body = json.loads(resp.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "HTTP %d with a body that is not JSON: %r" % (resp.code, resp.body[:200])
    if resp.code == 200:
        return None if isinstance(body, dict) else "200 with %r" % resp.body[:200]
    if 500 <= resp.code <= 599:
        data = body.get("data") if isinstance(body, dict) else None
        if (body.get("status") == "error" and isinstance(data, dict) and data.get("code") == resp.code and
                isinstance(data.get("message"), str) and data["message"]):
            return None
        return "HTTP %d without the error envelope: %r" % (resp.code, resp.body[:200])
    return "HTTP %d: %r" % (resp.code, resp.body[:200])


class RestProbe(threading.Thread):
    """Repeats GETs (one curl each) until stop() or its limits; keeps
    (start, end, path, Response) for each."""

    def __init__(self, sb, server, paths, key, max_requests=400, max_seconds=60):
        super().__init__(daemon=True)
        self.sb, self.server, self.paths, self.key = sb, server, paths, key
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.results = []
        self._halt = threading.Event()

    def run(self):
        end = time.monotonic() + self.max_seconds
        for i in range(self.max_requests):
            if self._halt.is_set() or time.monotonic() > end:
                break
            path = self.paths[i % len(self.paths)]
            t0 = time.monotonic()
            resp = wpd.curl(self.server.url(path), self.sb.cert, bearer=self.key, http="1.1", max_time=10)
            self.results.append((t0, time.monotonic(), path, resp))
            time.sleep(0.02)

    def stop(self):
        self._halt.set()
        self.join(timeout=30)
        if self.is_alive():
            raise FaultError("REST probe still running 30 s after stop")
        return self.results

    def problems(self):
        return ["%s: %s" % (path, p) for _, _, path, r in self.results for p in [envelope_problem(r)] if p]


# ---------------------------------------------------------------------------
# WebSocket followers


class Follower:
    """One subscription (a customer, or a whole DC when customer is None) on
    its own connection. A background task keeps every message; reconnect()
    resumes with `since` = the newest seq seen. Problems seen on arrival
    (a seq not above the previous one, an error message, a failed resume)
    are listed in .problems."""

    MAX_MESSAGES = 1000000

    def __init__(self, name, dc, customer, key, cafile):
        self.name, self.dc, self.customer, self.key, self.cafile = name, dc, customer, key, cafile
        self.pushes, self.replies, self.problems, self.closes, self.errors = [], [], [], [], []
        self.errors_ok = False       # True: an `error` message is no problem (a fault may justify one)
        self.model = {}
        self.start_seq = self.last_seq = None
        self.snapshot_seq = None     # seq of the newest fresh snapshot
        self.resets = []             # (since, seq) of resumes answered with a fresh snapshot
        self.live = self.task = None

    def __repr__(self):
        return "%s(%s/%s)" % (self.name, self.dc, self.customer or "*")

    async def connect(self, server, expect_resume=True, open_timeout=OPEN_DEADLINE):
        since = self.last_seq
        live = await Live.open(server, self.cafile, key=self.key, open_timeout=open_timeout)
        self.live = live
        if self.customer is None:
            reply = await live.subscribe(self.dc, id=self.name, since=since, timeout=SUB_DEADLINE)
        else:
            reply = await live.subscribe(self.dc, self.customer, id=self.name, since=since, timeout=SUB_DEADLINE)
        self.replies.append(reply)
        if reply.get("type") != "subscribed" or not isinstance(reply.get("seq"), int):
            raise FaultError("%r: subscribe (since %r) answered %s" % (self, since, json.dumps(reply)[:500]))
        if since is not None and reply.get("resumed") is True:
            if reply["seq"] != since:
                self.problems.append("resumed reply seq %r, since was %r" % (reply["seq"], since))
        else:
            if since is not None:
                self.resets.append((since, reply["seq"]))
                if expect_resume:
                    self.problems.append("resume with since %d got a fresh snapshot (resumed %r, seq %r)" %
                                         (since, reply.get("resumed"), reply["seq"]))
                if reply["seq"] < since:
                    self.problems.append("fresh snapshot at seq %d is older than since %d" % (reply["seq"], since))
            self.model = {w["id"]: w for w in reply.get("waypoints", [])}
            self.snapshot_seq = reply["seq"]
            if self.start_seq is None:
                self.start_seq = reply["seq"]
            self.last_seq = reply["seq"]
        self.task = asyncio.create_task(self._read(live))
        return reply

    async def _read(self, live):
        for _ in range(self.MAX_MESSAGES):
            try:
                data = await live.ws.recv()
            except websockets.exceptions.ConnectionClosed as e:
                rcvd = e.rcvd
                self.closes.append((rcvd.code if rcvd else None, rcvd.reason if rcvd else None))
                return
            try:
                msg = json.loads(data)
            except (TypeError, ValueError):
                self.problems.append("not JSON: %r" % (data[:200],))
                continue
            self._on_message(msg)

    def _on_message(self, msg):
        t = msg.get("type")
        if t in PUSH_TYPES:
            seq = msg.get("seq")
            if not isinstance(seq, int) or (self.last_seq is not None and seq <= self.last_seq):
                self.problems.append("push seq %r after seq %r (not increasing): %s" %
                                     (seq, self.last_seq, json.dumps(msg)[:300]))
            self.pushes.append(msg)
            if isinstance(seq, int):
                self.last_seq = seq if self.last_seq is None else max(self.last_seq, seq)
            if t == "waypoint":
                w = msg.get("waypoint") or {}
                self.model[w.get("id")] = w
            else:
                wid = msg.get("waypoint_id")
                old = self.model.get(wid)
                if old is not None and old.get("customer_id") == msg.get("customer_id"):
                    del self.model[wid]
        elif t == "error":
            self.errors.append(msg)
            if not self.errors_ok:
                self.problems.append("error message: %s" % json.dumps(msg)[:300])

    @property
    def connected(self):
        return self.task is not None and not self.task.done()

    async def wait_seq(self, target, deadline=PUSH_DEADLINE):
        """Wait until a push with seq >= target arrived; True if it did."""
        end = time.monotonic() + max(deadline, 2.0)
        for _ in range(int(max(deadline, 2.0) / 0.05) + 10):
            if (self.last_seq or 0) >= target or time.monotonic() > end or not self.connected:
                break
            await asyncio.sleep(0.05)
        return (self.last_seq or 0) >= target

    async def wait_closed(self, deadline=10.0):
        if self.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.task), max(deadline, 2.0))
            except asyncio.TimeoutError:
                return False
        return True

    async def close(self):
        if self.live is not None:
            await self.live.close()
        if self.task is not None:
            try:
                await asyncio.wait_for(self.task, 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self.task.cancel()


# ---------------------------------------------------------------------------


class FaultTestCase(unittest.IsolatedAsyncioTestCase):
    """A sandbox per test: a dev certificate, a database with 2 DCs x 6
    customers x 5 waypoints, an all-DCs key."""

    maxDiff = None

    def setUp(self):
        self.sb = wpd.Sandbox(prefix="wpd-fault-")
        self.addCleanup(self.sb.close)
        fill_db(self.sb.db)
        self.key = self.sb.key_create("all", all_dcs=True)
        self.followers = []
        self.addAsyncCleanup(self._close_followers)

    async def _close_followers(self):
        await asyncio.gather(*(f.close() for f in self.followers), return_exceptions=True)

    # -- helpers -----------------------------------------------------------

    def start_server(self, threads=2, extra=(), db=None, listen=None):
        if listen is None:
            return self.sb.server(threads=threads, extra=list(extra), db=db)
        srv = wpd.Server(db or self.sb.db, self.sb.cert, self.sb.key, threads=threads, extra=list(extra),
                         logdir=self.sb.dir, listen=listen)
        self.sb.servers.append(srv)
        srv.start()
        return srv

    async def follow(self, server, specs, concurrency=16):
        """Open a Follower per (dc, customer-or-None); returns them."""
        sem = asyncio.Semaphore(concurrency)
        made = [Follower("f%d-%s-%s" % (len(self.followers) + i, dc, c or "dc"), dc, c, self.key, self.sb.cert)
                for i, (dc, c) in enumerate(specs)]
        self.followers.extend(made)

        async def one(f):
            async with sem:
                await f.connect(server)

        results = await asyncio.gather(*(one(f) for f in made), return_exceptions=True)
        failed = [(f, r) for f, r in zip(made, results) if isinstance(r, BaseException)]
        if failed:
            raise FaultError("%d of %d subscriptions failed, first: %r: %s" % (len(failed), len(made), *failed[0]))
        return made

    async def reconnect_all(self, server, followers, concurrency=16, expect_resume=True):
        sem = asyncio.Semaphore(concurrency)

        async def one(f):
            async with sem:
                if f.connected:
                    await f.close()
                await f.connect(server, expect_resume=expect_resume)

        results = await asyncio.gather(*(one(f) for f in followers), return_exceptions=True)
        return [(f, r) for f, r in zip(followers, results) if isinstance(r, BaseException)]

    async def sql(self, statements, db=None):
        return await asyncio.to_thread(wpd.sql, db or self.sb.db, statements)

    async def rest(self, server, dc, customer):
        return await asyncio.to_thread(wpd.curl, server.url("/dcs/%s/customers/%s/waypoints" % (dc, customer)),
                                       self.sb.cert, bearer=self.key, http="1.1")

    def log_head(self, db=None):
        return db_value(db or self.sb.db, "SELECT COALESCE(MAX(seq), 0) FROM change_log")

    async def wait_log(self, server, pattern, deadline=LOG_DEADLINE, after=0):
        """The first stderr line (in the text after offset `after`) matching
        pattern within deadline, or None."""
        rx = re.compile(pattern)
        end = time.monotonic() + max(deadline, 2.0)
        for _ in range(int(max(deadline, 2.0) / 0.1) + 10):
            for line in server.stderr()[after:].splitlines():
                if rx.search(line):
                    return line
            if time.monotonic() > end:
                break
            await asyncio.sleep(0.1)
        return None

    def alarms(self, server, after=0):
        return [ln for ln in server.stderr()[after:].splitlines() if ALARM_RE.search(ln)]

    async def caught_up(self, followers, db=None, deadline=PUSH_DEADLINE):
        """After the writers stopped: wait until each follower has the newest
        change of its scope; returns the followers that did not get it."""
        log, _, _ = await asyncio.to_thread(read_db, db or self.sb.db)
        late = []

        async def one(f):
            target = max([s for s, dc, cu, _, _ in log
                          if dc == f.dc and (f.customer is None or cu == f.customer)] + [0])
            if target > (f.start_seq or 0) and not await f.wait_seq(target, deadline):
                late.append((f, target))

        await asyncio.gather(*(one(f) for f in followers))
        return late

    def stream_problems(self, f, log, rows, rowids):
        """Everything wrong with one follower's stream against the database."""
        out = ["%r: %s" % (f, p) for p in f.problems]
        by_seq = {c[0]: c for c in log}
        newest = {}
        prev = None
        for m in f.pushes:
            seq = m.get("seq")
            if prev is not None and isinstance(seq, int) and seq <= prev:
                out.append("%r: reordered: seq %s after %s" % (f, seq, prev))
            prev = seq if isinstance(seq, int) else prev
            wid = m["waypoint"].get("id") if m.get("type") == "waypoint" else m.get("waypoint_id")
            key = (m.get("dc_id"), m.get("customer_id"), wid)
            c = by_seq.get(seq)
            kind_ok = c is not None and ((c[4] == "delete") == (m.get("type") == "waypoint_removed"))
            if c is None or tuple(c[1:4]) != key or not kind_ok:
                out.append("%r: push matches no change_log row (row %r): %s" % (f, c, json.dumps(m)[:300]))
            if key[0] != f.dc or (f.customer is not None and key[1] != f.customer):
                out.append("%r: push outside the subscription: %s" % (f, json.dumps(m)[:300]))
            newest[key] = max(newest.get(key, -1), seq if isinstance(seq, int) else -1)
        floor = max([f.start_seq or 0] + [s for _, s in f.resets])
        missing = [c for c in log if c[0] > floor and c[1] == f.dc and (f.customer is None or c[2] == f.customer)
                   and newest.get(tuple(c[1:4]), -1) < c[0]]
        if missing:
            out.append("%r: %d change(s) after seq %d never pushed (nor a newer one to the same waypoint), "
                       "first: %r" % (f, len(missing), floor, missing[:5]))
        # Snapshot + pushes == the table.
        if f.customer is not None:
            expect = {k[1]: v for k, v in rows.items() if k[0] == f.dc and v["customer_id"] == f.customer}
            if len(expect) > 10:  # the snapshot held the newest 10 only
                newest10 = sorted(expect, key=lambda i: rowids[(f.dc, i)], reverse=True)[:10]
                expect = {i: expect[i] for i in newest10}
                got = {i: w for i, w in f.model.items() if i in expect}
            else:
                got = f.model
            if got != expect:
                diff = sorted(set(got) ^ set(expect)) + sorted(i for i in set(got) & set(expect) if got[i] != expect[i])
                out.append("%r: snapshot + pushes differ from the table for %d waypoint(s) %r; e.g. got %r, table %r"
                           % (f, len(diff), diff[:5], got.get(diff[0]) if diff else None,
                              expect.get(diff[0]) if diff else None))
        else:
            wrong = [i for i, w in f.model.items() if rows.get((f.dc, i)) != w]
            absent = [k[1] for k, v in rows.items()
                      if k[0] == f.dc and v["status"] == "PENDING" and k[1] not in f.model]
            if wrong or absent:
                first = wrong[0] if wrong else None
                out.append("%r: DC model: %d waypoint(s) differ from the table %r (e.g. got %r, table %r); %d PENDING "
                           "waypoint(s) never seen %r" % (f, len(wrong), wrong[:5], f.model.get(first),
                                                         rows.get((f.dc, first)), len(absent), absent[:5]))
        return out

    async def check_streams(self, followers, db=None, deadline=PUSH_DEADLINE):
        """Wait for quiescence, then assert nothing was lost or reordered."""
        late = await self.caught_up(followers, db, deadline)
        log, rows, rowids = await asyncio.to_thread(read_db, db or self.sb.db)
        problems = ["%r: never got seq %d (newest of its scope) within %.0f s; has %r, connected %r" %
                    (f, t, deadline, f.last_seq, f.connected) for f, t in late]
        for f in followers:
            problems += self.stream_problems(f, log, rows, rowids)
        if problems:
            self.fail("%d problem(s) in %d subscription(s):\n  %s" % (len(problems), len(followers),
                                                                     "\n  ".join(problems[:12])))

    async def assert_rest_matches_table(self, server, pairs, db=None):
        _, rows, rowids = await asyncio.to_thread(read_db, db or self.sb.db)
        for dc, c in pairs:
            resp = await self.rest(server, dc, c)
            self.assertEqual(resp.code, 200, resp)
            expect = sorted([k for k, v in rows.items() if k[0] == dc and v["customer_id"] == c],
                            key=lambda k: rowids[k], reverse=True)[:10]
            self.assertEqual(resp.json()["waypoints"], [rows[k] for k in expect], "REST %s/%s" % (dc, c))

    def assert_clean_exit(self, server):
        self.assertTrue(server.alive(), "the server died (exit %r); stderr: %s" %
                        (server.proc.poll() if server.proc else None, server.stderr()[-3000:]))
        rc = server.stop(signal.SIGTERM)
        self.assertEqual(rc, 0, "exit code after SIGTERM; stderr: %s" % server.stderr()[-3000:])


# ---------------------------------------------------------------------------
# 1. Another process holds the write lock


class WriteLockTest(FaultTestCase):

    async def test_write_lock_held_for_seconds(self):
        """Another process holds the write lock (BEGIN EXCLUSIVE, which in WAL
        mode blocks writers but not readers) for 5 s, with an uncommitted update.

        The server is started while the lock is held, with --log-keep-rows 10,
        so its first prune (at start) meets the lock: it must not wait for it
        and must say so on stderr ("a writer holds the lock"). Meanwhile
        subscriptions get their snapshot, REST GETs keep answering (200, or a
        5xx with the error envelope, never a hang), two writers queue on their
        busy timeout; when the lock ends, the holder's update and the queued
        writes are all pushed, in order, and later ones too."""
        holder = spawn(LOCK_HOLDER_SRC, self.sb.db, "EXCLUSIVE", 5, "dc1", "c00-1")
        self.addCleanup(reap, holder)
        self.assertEqual(await asyncio.to_thread(read_line, holder, 10, "lock holder"), "locked")
        srv = self.start_server(extra=["--log-keep-rows", "10"])
        followers = await self.follow(srv, [("dc1", "c00"), ("dc1", "c01"), ("dc1", None), ("dc2", "c00")])
        self.assertIsNone(holder.poll(), "the lock ended before the server had started and subscribed: the "
                                         "test proves nothing (or the server waited for the lock)")

        probe = RestProbe(self.sb, srv, ["/dcs/dc1/customers/c00/waypoints", "/dcs/dc2/customers/c03/waypoints",
                                         "/dcs/dc1/customers/c01"], self.key, max_requests=300, max_seconds=20)
        probe.start()
        self.addCleanup(probe.stop)
        writers = []
        for n, (dc, wid) in enumerate([("dc1", "c01-2"), ("dc1", "c00-3")]):
            w = spawn_shell(self.sb.db, "".join(update_stmt(dc, wid, 5000 + 10 * n + k) for k in range(3)))
            self.addCleanup(reap, w)
            writers.append(w)

        line = await self.wait_log(srv, r"writer holds the lock", LOG_DEADLINE)
        self.assertEqual(await asyncio.to_thread(read_line, holder, 15, "lock holder"), "released")
        released_at = time.monotonic()
        for w in writers:
            rc, _, err = await asyncio.to_thread(finish, w)
            self.assertEqual(rc, 0, "a writer queued behind the lock failed: %s" % err)
        await asyncio.sleep(0.5)
        results = await asyncio.to_thread(probe.stop)

        with self.subTest("REST answered while the lock was held"):
            self.assertEqual(probe.problems()[:5], [])
            during = [r for t0, t1, _, r in results if t1 < released_at]
            self.assertGreaterEqual(len(during), 3, "only %d REST answers during the 5 s lock" % len(during))
            self.assertTrue(all(r.code == 200 for r in during),
                            "WAL readers are not blocked by a writer, yet: %r" %
                            [(r.code, r.body[:100]) for r in during if r.code != 200][:3])
        with self.subTest("log line"):
            self.assertIsNotNone(line, "nothing on stderr about the lock met by the startup prune; stderr: %r" %
                                 srv.stderr()[-1500:])
        with self.subTest("recovery: later commits pushed, REST current"):
            await self.sql(update_stmt("dc1", "c00-4", 777) + update_stmt("dc2", "c00-0", 778))
            await self.check_streams(followers)
            await self.assert_rest_matches_table(srv, [("dc1", "c00"), ("dc1", "c01"), ("dc2", "c00")])
            self.assertEqual(db_value(self.sb.db, "SELECT waypoints_ahead FROM waypoints WHERE id = 'c00-1' AND "
                                                  "dc_id = 'dc1'"), 424242)
        self.assertEqual(self.alarms(srv), [], "unexpected error lines on stderr")
        self.assert_clean_exit(srv)


async def raw_refusal(server, cafile, key):
    """An upgrade that must be refused: (HTTP status, headers)."""
    import websockets.exceptions
    import live_client
    try:
        ws = await live_client._connect(server, cafile, key=key)
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code, e.headers
    await ws.close()
    raise AssertionError("the upgrade was accepted")


class ReadLockTest(FaultTestCase):

    async def test_issue_11_reader_lock_answers_503_at_once(self):
        """Readers must wait for another process (WAL recovery after a writer
        crashed: READ_LOCK_HOLDER_SRC holds its locks).

        A service thread must not sleep seconds in SQLite's busy handler: REST
        answers 503 with `Retry-After: 1` and the error envelope well before
        the old 5 s busy timeout (the server waits about 100 ms), for an API
        key and for a tracking token; once the lock is gone, 200 again."""
        srv = self.start_server()
        token = self.sb.token_create("dc1", "c00")
        path = "/dcs/dc1/customers/c00/waypoints"
        resp = await asyncio.to_thread(wpd.curl, srv.url(path), self.sb.cert, bearer=self.key, http="1.1")
        self.assertEqual(resp.code, 200, resp)
        live = await Live.open(srv, self.sb.cert, key=self.key)  # open before the lock
        self.addAsyncCleanup(live.close)
        holder = spawn(READ_LOCK_HOLDER_SRC, self.sb.db, stdin=subprocess.PIPE)
        self.addCleanup(reap, holder)
        self.assertEqual(await asyncio.to_thread(read_line, holder, 10, "lock holder"), "locked")
        for who, cred in (("key", self.key), ("token", token)):
            with self.subTest("503 while the lock is held", credential=who):
                # An answer already in the thread's cache is still exact (no
                # one commits past the lock) and may be served until the
                # change watcher's next look meets the lock (at most about a
                # second: docs/operations.md); then requests read for
                # themselves and meet it.
                end = time.monotonic() + 5.0
                while True:
                    t0 = time.monotonic()
                    resp = await asyncio.to_thread(wpd.curl, srv.url(path), self.sb.cert, bearer=cred, http="1.1",
                                                   max_time=15)
                    took = time.monotonic() - t0
                    self.assertIn(resp.code, (200, 503), resp)
                    self.assertLess(took, 3.0, "the answer waited %.1f s: a service thread slept in the busy "
                                               "handler" % took)
                    if resp.code == 503 or time.monotonic() > end:
                        break
                    await asyncio.sleep(0.1)
                self.assertEqual(resp.code, 503, resp)
                self.assertIsNone(envelope_problem(resp), resp)
                self.assertEqual(resp.headers.get("retry-after"), "1", resp.headers)
                self.assertLess(took, 3.0, "the answer waited %.1f s: a service thread slept in the busy "
                                           "handler" % took)
        with self.subTest("a WebSocket upgrade: 503 and Retry-After, not 401"):
            status, headers = await raw_refusal(srv, self.sb.cert, self.key)
            self.assertEqual(status, 503, headers)
            self.assertEqual(headers.get("retry-after"), "1", headers)
        with self.subTest("a live subscribe: an error 503 to retry, the connection open"):
            reply = await live.subscribe("dc1", "c00", id="s", timeout=10)
            self.assertEqual((reply.get("type"), reply.get("code")), ("error", 503), reply)
            self.assertEqual(reply.get("retry_after"), 1, reply)
            self.assertEqual(await live.ping(id="alive"), [])
        with self.subTest("an event stream: 503 before the stream, Retry-After"):
            resp = await asyncio.to_thread(wpd.curl, srv.url(path + "/events"), self.sb.cert, bearer=token,
                                           http="1.1", max_time=15)
            self.assertEqual(resp.code, 503, resp)
            self.assertEqual(resp.headers.get("retry-after"), "1", resp.headers)
        self.assertIsNone(holder.poll(), "the lock ended before the requests: the test proves nothing")
        holder.stdin.write("release\n")
        holder.stdin.flush()
        self.assertEqual(await asyncio.to_thread(read_line, holder, 10, "lock holder"), "released")
        with self.subTest("200 again after the lock is released"):
            resp = await asyncio.to_thread(wpd.curl, srv.url(path), self.sb.cert, bearer=self.key, http="1.1")
            self.assertEqual(resp.code, 200, resp)
            await self.assert_rest_matches_table(srv, [("dc1", "c00")])
        with self.subTest("the same connection subscribes once the lock is gone"):
            reply = await live.subscribe("dc1", "c00", id="again")
            self.assertEqual(reply.get("type"), "subscribed", reply)
        self.assert_clean_exit(srv)


class WalModeTest(unittest.TestCase):

    def test_issue_11_serve_refuses_a_database_not_in_wal_mode(self):
        """init puts the database in WAL mode; another program may have
        switched it back (PRAGMA journal_mode=DELETE). Without WAL every
        writer blocks the server's readers and the reverse, so serve refuses
        to start: exit 1 and one stderr line that says so and how to fix it.
        init switches it back, and serve starts again."""
        sb = wpd.Sandbox(prefix="wpd-fault-")
        self.addCleanup(sb.close)
        self.assertEqual(wpd.sql(sb.db, "PRAGMA journal_mode=DELETE;").strip(), "delete")
        srv = wpd.Server(sb.db, sb.cert, sb.key, logdir=sb.dir)
        sb.servers.append(srv)
        with self.assertRaises(wpd.WpdError):
            srv.start()
        self.assertEqual(srv.wait(), 1)
        lines = [ln for ln in srv.stderr().splitlines() if ln.strip()]
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r"not in WAL mode.*journal_mode=delete.*waypointd init")
        check = wpd.run([wpd.WAYPOINTD, "serve", "--db", sb.db, "--listen", "127.0.0.1:0", "--cert", sb.cert,
                         "--key", sb.key, "--check-config"])
        self.assertEqual(check.returncode, 1, check.stderr)
        self.assertRegex(check.stderr, r"not in WAL mode")
        wpd.init_db(sb.db)
        self.assertEqual(wpd.sql_value(sb.db, "PRAGMA journal_mode;"), "wal")
        sb.server()


# ---------------------------------------------------------------------------
# 2. A writer killed mid-transaction


class KilledWriterTest(FaultTestCase):

    async def test_writer_killed_before_commit(self):
        """A writer BEGINs, updates 6 waypoints and inserts 200 bulky rows (its
        64 KiB page cache makes the transaction spill into the -wal, which wakes
        the feed through inotify), then gets SIGKILL before COMMIT. Another
        writer was queued behind its lock.

        None of its changes is ever pushed nor shown by REST; the queued
        writer and later commits are pushed. No log line is asserted: an
        uncommitted transaction of another process never reaches the database
        (SQLite ignores WAL frames without a commit record), so the server has
        nothing to observe; it must not log errors either."""
        srv = self.start_server()
        followers = await self.follow(srv, [("dc1", "c00"), ("dc1", "c01"), ("dc1", None), ("dc2", None)])
        wal = self.sb.db + "-wal"
        wal_before = os.path.getsize(wal) if os.path.exists(wal) else 0
        doomed = spawn(DOOMED_SRC, json.dumps({
            "db": self.sb.db, "dc": "dc1", "customer": "c00", "ghosts": 200,
            "update": [["dc1", "c00-0"], ["dc1", "c00-1"], ["dc1", "c01-0"], ["dc1", "c01-4"], ["dc2", "c02-2"],
                       ["dc1", "c05-1"]]}))
        self.addCleanup(reap, doomed)
        self.assertEqual(await asyncio.to_thread(read_line, doomed, 15, "doomed writer"), "ready")
        wal_during = os.path.getsize(wal) if os.path.exists(wal) else 0
        queued = spawn_shell(self.sb.db, update_stmt("dc1", "c00-2", 3101) + update_stmt("dc1", "c01-0", 3102))
        self.addCleanup(reap, queued)
        await asyncio.sleep(1.5)  # the feed has seen the -wal grow meanwhile
        doomed.kill()
        await asyncio.to_thread(finish, doomed)
        rc, _, err = await asyncio.to_thread(finish, queued)
        self.assertEqual(rc, 0, "the writer queued behind the killed one failed: %s" % err)
        for n in range(5):
            await self.sql(update_stmt("dc1", "c00-%d" % n, 3200 + n) + update_stmt("dc2", "c02-%d" % n, 3300 + n))

        with self.subTest("nothing of the killed transaction, anywhere"):
            log, rows, _ = await asyncio.to_thread(read_db, self.sb.db)
            self.assertEqual([k for k in rows if k[1].startswith("ghost-")], [])
            self.assertEqual([c for c in log if c[3].startswith("ghost-")], [])
            await self.caught_up(followers)
            leaked = [(f, m) for f in followers for m in f.pushes
                      if (m.get("waypoint") or {}).get("waypoints_ahead", 0) in range(666000, 666010) or
                      str(m.get("waypoint_id") or (m.get("waypoint") or {}).get("id")).startswith("ghost-")]
            self.assertEqual(leaked[:3], [], "pushed changes of a transaction that never committed "
                                             "(-wal %d -> %d bytes while it was open)" % (wal_before, wal_during))
            resp = await self.rest(srv, "dc1", "c00")
            self.assertNotIn(b"ghost-", resp.body)
            self.assertNotIn(b"66600", resp.body)
        with self.subTest("queued and later commits pushed, nothing lost"):
            await self.check_streams(followers)
            await self.assert_rest_matches_table(srv, [("dc1", "c00"), ("dc1", "c01"), ("dc2", "c02")])
        with self.subTest("no error logged"):
            self.assertEqual(self.alarms(srv), [])
        self.assert_clean_exit(srv)


# ---------------------------------------------------------------------------
# 3. The database file replaced or removed while serving


class DatabaseFileTest(FaultTestCase):

    DB_NAME_RE = r"waypoints\.db"

    def assert_rest_answers(self, results, what):
        self.assertTrue(results, "no REST answer at all %s" % what)
        problems = ["%s: %s" % (p, e) for _, _, p, r in results for e in [envelope_problem(r)] if e]
        self.assertEqual(problems[:5], [], "REST %s" % what)

    async def recover(self, server, followers):
        """Reconnect (with `since`) the followers the fault disconnected."""
        gone = [f for f in followers if not f.connected]
        failures = await self.reconnect_all(server, gone)
        self.assertEqual(failures[:3], [], "could not resume after the fault")
        return gone

    async def test_database_replaced_by_rename(self):
        """An operator moves the live database aside (`mv waypoints.db*
        aside/`: the file with its -wal and -shm) and renames another,
        initialised database into its place (other rows, change numbers from
        500000); the route planner keeps writing to whatever is at the path.
        After 3 s the original comes back (the new one removed, the three
        files renamed back).

        The -wal/-shm move with the file on purpose: renaming only the main
        file while connections are open makes the new file share the old
        -wal/-shm by name, which SQLite itself cannot survive (a writer of
        the new file reads and writes the old file's WAL frames, then deletes
        the -wal/-shm as it closes; tried: the original lost a committed
        update and the server pushed rows mixed from both files) - no server
        can make that safe.

        What waypointd does today: nothing notices. Its connections keep the
        original's files open under their new names, so REST keeps answering
        the original's rows (200), the new file's changes are never seen, and
        once the original is back changes flow again by themselves; nothing
        is logged. Allowed by this test: REST 200 with the original's data or
        a 5xx envelope while replaced (not a hang), subscriptions kept or
        ended (then resumed with `since`); required: a stderr line naming the
        database file, no crash, recovery without a restart, nothing of the
        original lost."""
        srv = self.start_server()
        followers = await self.follow(srv, [("dc1", "c00"), ("dc1", "c01"), ("dc1", None)])
        for f in followers:
            f.errors_ok = True
        await self.sql(update_stmt("dc1", "c00-0", 4001))
        self.assertEqual(await self.caught_up(followers), [])
        before_fault = len(srv.stderr())

        new = self.sb.path("new.db")
        await asyncio.to_thread(wpd.init_db, new)
        await asyncio.to_thread(fill_db, new, "new-", 500000)
        aside = self.sb.path("aside")
        os.mkdir(aside)
        names = [n for n in ("", "-wal", "-shm") if os.path.exists(self.sb.db + n)]
        probe = RestProbe(self.sb, srv, ["/dcs/dc1/customers/c00/waypoints", "/dcs/dc1/customers/c01"], self.key,
                          max_requests=200, max_seconds=20)
        for n in names:
            os.rename(self.sb.db + n, os.path.join(aside, "waypoints.db" + n))
        os.rename(new, self.sb.db)
        try:
            probe.start()
            self.addCleanup(probe.stop)
            writer = await asyncio.to_thread(sqlite_shell, self.sb.db, update_stmt("dc1", "new-c00-1", 4101) +
                                             update_stmt("dc1", "new-c01-1", 4102))
            sub_during = Follower("during", "dc1", "c00", self.key, self.sb.cert)
            sub_during.errors_ok = True
            self.followers.append(sub_during)
            try:
                reply_during = await sub_during.connect(srv)
                reply_during = {k: v for k, v in reply_during.items() if k != "waypoints"}
            except (FaultError, AssertionError, OSError) as e:
                reply_during = "failed: %s" % e
            await asyncio.sleep(3)
            line = await self.wait_log(srv, self.DB_NAME_RE, 0.5, after=before_fault)
        finally:
            for n in ("", "-wal", "-shm"):
                if os.path.exists(self.sb.db + n):
                    os.rename(self.sb.db + n, self.sb.path("new-again.db" + n))
            for n in names:
                os.rename(os.path.join(aside, "waypoints.db" + n), self.sb.db + n)
        during = await asyncio.to_thread(probe.stop)
        served = sorted({"new" if b"new-" in r.body else "original" if r.code == 200 else "%d" % r.code
                         for _, _, _, r in during})

        with self.subTest("no crash, no hang while replaced"):
            self.assertTrue(srv.alive(), "the server died: %s" % srv.stderr()[-2000:])
            self.assert_rest_answers(during, "while the file was replaced (writer: exit %d %s; subscribe: %s)" %
                                     (writer.returncode, writer.stderr.strip()[:200], str(reply_during)[:200]))
            self.assertNotIn("new", served, "REST served the other database's rows as if they were the original's")
        with self.subTest("log line naming the database file"):
            self.assertIsNotNone(line, "nothing on stderr about %s being replaced (REST served: %s; subscribe "
                                 "during: %s; new stderr: %r)" % (self.sb.db, served, str(reply_during)[:300],
                                                                   srv.stderr()[before_fault:][-1000:]))
        with self.subTest("recovery once the original is back"):
            await self.recover(srv, followers)
            await self.sql(update_stmt("dc1", "c00-2", 4201) + update_stmt("dc1", "c01-3", 4202))
            await self.check_streams(followers, deadline=RECOVER_DEADLINE)
            await self.assert_rest_matches_table(srv, [("dc1", "c00"), ("dc1", "c01")])
        self.assert_clean_exit(srv)

    async def test_database_removed(self):
        """The database file and its -wal/-shm are removed (`rm waypoints.db*`)
        while the server serves, and come back 3 s later (renamed back from hard
        links kept to them).

        What waypointd does today: its open connections keep the unlinked
        files, so REST keeps answering the last state (200) and subscriptions
        stay open; it logs nothing. When the files come back (the same inodes)
        changes flow again by themselves. Allowed: REST 200 with the last
        state or a 5xx envelope (not a hang), subscriptions kept or ended
        (then resumed with `since`); required: a stderr line naming the
        database file, no crash, recovery without a restart, nothing lost.
        (No writer runs while the files are gone: it would create an empty
        database at the path, a different fault.)"""
        srv = self.start_server()
        followers = await self.follow(srv, [("dc1", "c00"), ("dc1", "c02"), ("dc1", None), ("dc2", "c02")])
        for f in followers:
            f.errors_ok = True
        await self.sql(update_stmt("dc1", "c00-0", 5001))
        self.assertEqual(await self.caught_up(followers), [])
        before_fault = len(srv.stderr())
        names = [n for n in ("", "-wal", "-shm") if os.path.exists(self.sb.db + n)]
        for n in names:
            os.link(self.sb.db + n, self.sb.path("kept.db" + n))
        probe = RestProbe(self.sb, srv, ["/dcs/dc1/customers/c00/waypoints", "/dcs/dc2/customers/c02/waypoints"],
                          self.key, max_requests=200, max_seconds=20)
        for n in names:
            os.unlink(self.sb.db + n)
        try:
            probe.start()
            self.addCleanup(probe.stop)
            sub_during = Follower("during", "dc2", "c03", self.key, self.sb.cert)
            sub_during.errors_ok = True
            self.followers.append(sub_during)
            try:
                reply_during = await sub_during.connect(srv)
                reply_during = {k: v for k, v in reply_during.items() if k != "waypoints"}
            except (FaultError, AssertionError, OSError) as e:
                reply_during = "failed: %s" % e
            await asyncio.sleep(3)
            line = await self.wait_log(srv, self.DB_NAME_RE, 0.5, after=before_fault)
        finally:
            for n in names:
                os.rename(self.sb.path("kept.db" + n), self.sb.db + n)
        during = await asyncio.to_thread(probe.stop)

        with self.subTest("no crash, no hang while removed"):
            self.assertTrue(srv.alive(), "the server died: %s" % srv.stderr()[-2000:])
            self.assert_rest_answers(during, "while the file was removed (subscribe: %s)" % str(reply_during)[:200])
        with self.subTest("log line naming the database file"):
            self.assertIsNotNone(line, "nothing on stderr about %s being removed; new stderr: %r" %
                                 (self.sb.db, srv.stderr()[before_fault:][-1000:]))
        with self.subTest("recovery once the files are back"):
            await self.recover(srv, followers)
            await self.sql(update_stmt("dc1", "c00-2", 5201) + update_stmt("dc2", "c02-3", 5202))
            await self.check_streams(followers)
            await self.assert_rest_matches_table(srv, [("dc1", "c00"), ("dc2", "c02")])
        self.assert_clean_exit(srv)


# ---------------------------------------------------------------------------
# 4. The disk fills


class DiskFullTest(FaultTestCase):

    def mount_tmpfs(self, size="4m"):
        if os.geteuid() != 0:
            self.skipTest("needs root to mount a small tmpfs (euid %d)" % os.geteuid())
        mnt = self.sb.path("small-disk")
        os.mkdir(mnt)
        proc = wpd.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", mnt])
        if proc.returncode != 0:
            self.skipTest("mount -t tmpfs not permitted here: %s" % proc.stderr.strip())

        def unmount():
            for srv in self.sb.servers:  # nothing may keep a file open on it
                srv.close()
            for args in (["umount", mnt], ["umount", "-l", mnt]):
                if wpd.run(args).returncode == 0:
                    return
        self.addCleanup(unmount)
        return mnt

    async def test_disk_full(self):
        """The database lives on a 4 MiB tmpfs; a filler file takes the rest.

        A writer's transaction then fails with SQLITE_FULL ("database or disk
        is full"). Meanwhile the server keeps answering REST with the committed
        data, keeps its subscriptions (ping/pong) and pushed what was committed
        before, and pushes nothing of the failed transaction. Once the filler
        is removed the same writes succeed and are pushed, without a restart.
        Log line: the server should say the disk holding the database is full
        ("disk is full" / "No space left"); today it never writes outside its
        minutely prune, so it cannot notice unless it checks (statvfs) - the
        log subTest fails until it does."""
        mnt = self.mount_tmpfs()
        db = os.path.join(mnt, "waypoints.db")
        await asyncio.to_thread(wpd.init_db, db)
        await asyncio.to_thread(fill_db, db)
        self.key = await asyncio.to_thread(wpd.key_create, db, "all", (), True)
        await asyncio.to_thread(wpd.sql, db, "INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'bulk', 'Bulk');")
        srv = self.start_server(db=db)
        followers = await self.follow(srv, [("dc1", "c00"), ("dc1", "c01"), ("dc1", None)])
        before_fault = len(srv.stderr())

        filler = os.path.join(mnt, "filler")
        # Unbuffered: a buffered file would try its failed bytes again at
        # close and raise ENOSPC there.
        with open(filler, "wb", buffering=0) as f:
            for _ in range(512):  # at most 32 MiB of writes on a 4 MiB disk
                try:
                    f.write(b"\0" * 65536)
                except OSError:
                    break
            try:
                os.fsync(f.fileno())
            except OSError:
                pass
        # Committed just before the disk filled up? No: committed with the disk
        # full, if the WAL still has room; either way, whatever commits is pushed.
        bulk = "BEGIN;" + "".join(
            "INSERT INTO waypoints(dc_id, id, customer_id, route_id, waypoints_ahead) VALUES "
            "('dc1', 'bulk-%d', 'bulk', '%s', %d);" % (i, "r" * 1500, i) for i in range(150)) + "COMMIT;"
        failed = await asyncio.to_thread(sqlite_shell, db, bulk)
        self.assertNotEqual(failed.returncode, 0, "the disk did not fill: the bulk insert succeeded")
        self.assertIn("full", failed.stderr, "the writer failed, but not with SQLITE_FULL: %s" % failed.stderr)
        small = await asyncio.to_thread(sqlite_shell, db, update_stmt("dc1", "c00-1", 6001))

        with self.subTest("reads and subscriptions go on while the disk is full"):
            for dc, c in (("dc1", "c00"), ("dc1", "c01")):
                resp = await self.rest(srv, dc, c)
                self.assertEqual(resp.code, 200, resp)
            await self.assert_rest_matches_table(srv, [("dc1", "c00"), ("dc1", "c01")], db=db)
            for f in followers:
                self.assertTrue(f.connected, "%r was dropped: %r" % (f, f.closes))
            fresh = Follower("full", "dc1", "c01", self.key, self.sb.cert)
            self.followers.append(fresh)
            reply = await fresh.connect(srv)
            self.assertEqual(reply.get("waypoints"), (await self.rest(srv, "dc1", "c01")).json()["waypoints"])
            late = await self.caught_up(followers, db)
            self.assertEqual(late, [], "the last committed change was not pushed (the small update %s)" %
                             ("committed" if small.returncode == 0 else "failed too: " + small.stderr.strip()))
        with self.subTest("log line about the full disk"):
            line = await self.wait_log(srv, r"(?i)disk is full|no space left|SQLITE_FULL|ENOSPC", LOG_DEADLINE,
                                       after=before_fault)
            self.assertIsNotNone(line, "nothing on stderr while %s is full; new stderr: %r" %
                                 (mnt, srv.stderr()[before_fault:][-1000:]))
        os.unlink(filler)
        with self.subTest("writes resume and are pushed"):
            again = await asyncio.to_thread(sqlite_shell, db, bulk)
            self.assertEqual(again.returncode, 0, again.stderr)
            await asyncio.to_thread(wpd.sql, db, update_stmt("dc1", "c01-2", 6002))
            await self.check_streams(followers + [fresh], db=db)
            self.assertEqual(db_value(db, "SELECT COUNT(*) FROM waypoints WHERE customer_id = 'bulk'"), 150)
        self.assert_clean_exit(srv)


# ---------------------------------------------------------------------------
# 5. The change log is pruned while a client is behind


class PrunedLogTest(FaultTestCase):

    async def test_resume_after_the_log_was_pruned(self):
        """serve --log-keep-rows 10. A customer and a DC subscriber disconnect;
        50 changes are committed. Resuming at once may be served from history
        (the server prunes at start and then every 60 s): then the replay must
        be complete. Once the server has pruned past their `since` (up to
        ~60 s later), resuming must answer resumed:false with a fresh snapshot
        equal to REST (customer) / to every PENDING waypoint (DC), at the
        current head - nothing silently lost - and pushes continue after it.
        Log line: the prune ("pruned ...") or the fresh snapshot given instead
        of a replay ("older than the log" / "since N") should be on stderr;
        today a prune is logged at lws's info level, which serve does not
        print, and the fallback not at all."""
        srv = self.start_server(extra=["--log-keep-rows", "10"])
        started = time.monotonic()
        first = await self.follow(srv, [("dc1", "c00"), ("dc1", None)])
        since = first[0].last_seq
        for f in first:
            await f.close()
        stmts = [update_stmt("dc1", "c00-%d" % (n % PER_CUSTOMER), 7000 + n) if n % 2 else
                 update_stmt("dc1", "c%02d-%d" % (n % 6, n % PER_CUSTOMER), 7000 + n) for n in range(50)]
        for chunk in range(5):  # 5 transactions of 10 changes
            await self.sql("BEGIN;" + "".join(stmts[chunk * 10:(chunk + 1) * 10]) + "COMMIT;")
        head = self.log_head()
        self.assertGreaterEqual(head - since, 50)

        with self.subTest("resume before the prune: complete replay or a fresh snapshot"):
            early = [Follower("early-%d" % i, f.dc, f.customer, self.key, self.sb.cert) for i, f in enumerate(first)]
            for e, f in zip(early, first):
                e.last_seq = e.start_seq = since  # resume from where the first ones were
                e.snapshot_seq = since
                e.model = dict(f.model)
            self.followers.extend(early)
            for e in early:
                await e.connect(srv, expect_resume=False)
            await self.check_streams(early)

        pruned = await asyncio.to_thread(
            wpd.wait_until, lambda: (db_value(self.sb.db, "SELECT pruned_through FROM change_log_state") or 0) > since,
            max(2.0, PRUNE_DEADLINE - (time.monotonic() - started)), 0.5, "the server's prune past seq %d" % since)
        self.assertTrue(pruned)
        kept = db_value(self.sb.db, "SELECT COUNT(*) FROM change_log")
        pruned_through = db_value(self.sb.db, "SELECT pruned_through FROM change_log_state")

        late = [Follower("late-%d" % i, f.dc, f.customer, self.key, self.sb.cert) for i, f in enumerate(first)]
        self.followers.extend(late)
        replies = []
        for lf in late:
            lf.last_seq = since
            replies.append(await lf.connect(srv, expect_resume=False))
        _, rows, rowids = await asyncio.to_thread(read_db, self.sb.db)
        with self.subTest("resume after the prune: a fresh snapshot"):
            for r in replies:
                self.assertIs(r.get("resumed"), False, "resumed from seq %d though the log keeps %d rows, "
                              "pruned through %s: %s" % (since, kept, pruned_through, json.dumps(r)[:300]))
                self.assertEqual(r.get("seq"), self.log_head(), r)
            rest = (await self.rest(srv, "dc1", "c00")).json()["waypoints"]
            self.assertEqual(replies[0].get("waypoints"), rest)
            pending = sorted([k for k, v in rows.items() if k[0] == "dc1" and v["status"] == "PENDING"],
                             key=lambda k: rowids[k], reverse=True)
            self.assertEqual(replies[1].get("waypoints"), [rows[k] for k in pending])
        with self.subTest("pushes continue after the snapshot"):
            await self.sql(update_stmt("dc1", "c00-3", 7999) + update_stmt("dc1", "c04-0", 7998))
            await self.check_streams(late)
        with self.subTest("log line about pruning"):
            line = await self.wait_log(srv, r"(?i)pruned|older than the (change )?log|since \d+", 2.0)
            self.assertIsNotNone(line, "nothing on stderr about pruning the change log through seq %s, nor about "
                                 "resumes from before it; stderr: %r" % (pruned_through, srv.stderr()[-1000:]))
        self.assert_clean_exit(srv)


# ---------------------------------------------------------------------------
# 6. kill -9 under load, then a restart


class KillRestartTest(FaultTestCase):

    SUBSCRIBERS = 50

    async def test_kill_9_under_load_then_restart(self):
        """50 subscribers (48 over the 12 customers, one per DC for the whole
        DC) while a writer commits continuously (updates, inserts, deletes).
        The server gets SIGKILL mid-stream and is started again on the same
        port (on a new one only if the port cannot be bound); every subscriber
        reconnects with `since` = the newest seq it saw, must be resumed from
        history, and once the writer stops has every change (or a newer one
        per waypoint) with strictly increasing seq. No log line is asserted: a
        SIGKILLed process cannot write one, and the database is consistent
        for the new process (the writer keeps the -shm alive, no recovery);
        the restarted server must log no errors."""
        srv = self.start_server()
        port = srv.port
        specs = [(dc, c) for dc in DCS for c in CUSTOMERS] * 4 + [(dc, None) for dc in DCS]
        followers = await self.follow(srv, specs[:self.SUBSCRIBERS])
        writer = Writer(self.sb.db, [(r["dc_id"], r["id"]) for r in fixture_rows()],
                        customers=[(dc, c) for dc in DCS for c in CUSTOMERS], churn=0.2, rows=3, interval=0.01,
                        max_seconds=40, seed=6, base=100000)
        self.addCleanup(writer.close)
        await asyncio.sleep(2)
        seen_before = sum(len(f.pushes) for f in followers)
        srv.proc.kill()
        self.assertEqual(await asyncio.to_thread(srv.wait, 5), -signal.SIGKILL)
        dropped = [f for f in followers if not await f.wait_closed(5)]
        self.assertEqual(dropped, [], "connections still open 5 s after the server was killed")
        await asyncio.sleep(1)  # the writer goes on while the server is down

        try:
            again = self.start_server(listen="%s:%d" % (wpd.HOST, port))
        except wpd.WpdError as e:
            sys.stderr.write("\n  port %d not reusable after SIGKILL (%s); using a new port\n" % (port, e))
            again = self.start_server()
        failures = await self.reconnect_all(again, followers)
        self.assertEqual(failures[:3], [], "%d of %d subscribers could not resume" % (len(failures), len(followers)))
        await asyncio.sleep(2)
        summary = await asyncio.to_thread(writer.stop)
        self.assertGreater(summary["commits"], 50, summary)

        with self.subTest("nothing lost, nothing reordered, across the kill"):
            self.assertGreater(seen_before, 0, "no push before the kill: not under load")
            await self.check_streams(followers, deadline=20)
        with self.subTest("REST after the restart"):
            await self.assert_rest_matches_table(again, [("dc1", "c00"), ("dc2", "c05")])
        with self.subTest("the restarted server logs no errors"):
            self.assertEqual(self.alarms(again), [])
        self.assert_clean_exit(again)


# ---------------------------------------------------------------------------
# 7. SIGTERM under load


class GracefulStopTest(FaultTestCase):

    async def test_sigterm_under_load(self):
        """SIGTERM while 20 subscribers receive a writer's continuous changes,
        three REST loops run (one curl per GET) and a 24 MiB static file is being
        downloaded at 8 MiB/s (about 3 s; more than the socket buffers hold, so
        the server is still writing it when the signal comes).

        Expected: the slow download and every request already sent complete
        (no truncated body: curl exit 18, 52 or 56, or a short file); later
        connections may be refused (curl 7) or reset before the TLS handshake
        ends (35). Every WebSocket client receives a close frame, code 1001
        "going away", before the TCP connection closes; up to then its pushes
        are real changes in increasing seq. The server says it is stopping
        ("stopping") and exits 0 within 10 s."""
        www = self.sb.copy_www()
        blob = os.urandom(24 * 1024 * 1024)  # more than the socket buffers hold: the server still writes at SIGTERM
        with open(os.path.join(www, "big.bin"), "wb") as f:
            f.write(blob)
        srv = self.sb.server(threads=2, www=www)
        specs = [(dc, c) for dc in DCS for c in CUSTOMERS] + [(dc, c) for dc in DCS for c in CUSTOMERS[:4]]
        followers = await self.follow(srv, specs[:20])
        writer = Writer(self.sb.db, [(r["dc_id"], r["id"]) for r in fixture_rows()], rows=2, interval=0.01,
                        max_seconds=30, seed=7, base=200000)
        self.addCleanup(writer.close)

        loops_stop = threading.Event()
        rest_results = []

        def rest_loop(i):
            for n in range(2000):
                if loops_stop.is_set():
                    return
                path = "/dcs/%s/customers/%s/waypoints" % (DCS[n % 2], CUSTOMERS[(n + i) % 6])
                r = wpd.curl(srv.url(path), self.sb.cert, bearer=self.key, http="1.1", max_time=10)
                rest_results.append((time.monotonic(), r))
                if r.rc == 7 and n > 0 and not srv.alive():
                    return

        download = {}

        def slow_download():
            download["resp"] = wpd.curl(srv.url("/big.bin"), self.sb.cert, http="1.1", max_time=30,
                                        extra=["--limit-rate", "8M"])

        threads = [threading.Thread(target=rest_loop, args=(i,), daemon=True) for i in range(3)]
        threads.append(threading.Thread(target=slow_download, daemon=True))
        for t in threads:
            t.start()
        await asyncio.sleep(1.0)
        self.assertTrue(srv.alive())
        self.assertNotIn("resp", download, "the download ended before SIGTERM: nothing was in flight")
        sent_at = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        rc = await asyncio.to_thread(srv.wait, 10)
        exit_s = time.monotonic() - sent_at
        await asyncio.gather(*(f.wait_closed(5) for f in followers))
        loops_stop.set()
        for t in threads:
            await asyncio.to_thread(t.join, 40)
        await asyncio.to_thread(writer.stop)

        with self.subTest("exit 0 within 10 s"):
            if rc is None:
                srv.kill()
            self.assertEqual(rc, 0, "exit code %r %.1f s after SIGTERM; stderr: %s" %
                             (rc, exit_s, srv.stderr()[-2000:]))
        with self.subTest("the download in flight completes"):
            resp = download.get("resp")
            self.assertIsNotNone(resp, "the download did not finish")
            self.assertEqual((resp.rc, resp.code, len(resp.body)), (0, 200, len(blob)),
                             "in-flight download cut (curl exit, status, bytes): %s; server exit %.1f s after "
                             "SIGTERM" % (resp.stderr.strip()[-200:], exit_s))
            self.assertEqual(hashlib.sha256(resp.body).digest(), hashlib.sha256(blob).digest())
        with self.subTest("REST requests in flight complete"):
            bad = [r for _, r in rest_results if r.rc not in (0, 7, 35) or (r.rc == 0 and envelope_problem(r))]
            self.assertGreater(len(rest_results), 10)
            self.assertEqual([(r.rc, r.code, r.body[:80], r.stderr.strip()[-120:]) for r in bad][:5], [],
                             "%d of %d requests cut or failed" % (len(bad), len(rest_results)))
        with self.subTest("WebSocket clients get a close frame 1001"):
            codes = [f.closes[-1] if f.closes else "still open" for f in followers]
            self.assertEqual([c for c in codes if c == "still open" or c[0] != 1001][:5], [],
                             "close (code, reason) per client; None = TCP closed without a close frame")
        with self.subTest("pushes until the stop are real and in order"):
            log, rows, rowids = await asyncio.to_thread(read_db, self.sb.db)
            problems = []
            for f in followers:
                problems += [p for p in self.stream_problems(f, log, rows, rowids)
                             if "never pushed" not in p and "differ" not in p and "DC model" not in p]
            self.assertEqual(problems[:5], [])
        with self.subTest("log line"):
            self.assertIsNotNone(await self.wait_log(srv, r"stopping", 2.0), srv.stderr()[-1000:])

    async def test_sigterm_with_a_request_half_received(self):
        """The deterministic form of "requests in flight finish": a request
        whose first header lines have reached the server when SIGTERM comes,
        and whose last ones follow 0.3 s later, on a TLS connection
        established before the signal, is answered in full (200 and the
        JSON list) before the server exits 0."""
        srv = self.start_server()
        ctx = wpd.ssl_context(self.sb.cert)
        ctx.set_alpn_protocols(["http/1.1"])
        raw = socket.create_connection((wpd.HOST, srv.port), timeout=5)
        sock = ctx.wrap_socket(raw, server_hostname=wpd.HOST)
        self.addCleanup(sock.close)
        sock.sendall(b"GET /dcs/dc1/customers/c00/waypoints HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        await asyncio.sleep(0.3)
        srv.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        data, error = b"", None
        try:
            sock.sendall(("Authorization: Bearer %s\r\nConnection: close\r\n\r\n" % self.key).encode())
            for _ in range(1000):  # until the server closes (recv timeout 5 s)
                chunk = await asyncio.to_thread(sock.recv, 65536)
                if not chunk:
                    break
                data += chunk
        except OSError as e:
            error = e
        rc = await asyncio.to_thread(srv.wait, 10)
        head, _, body = data.partition(b"\r\n\r\n")
        with self.subTest("the request in flight is answered"):
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), "answer %r (error %r); stderr: %r" %
                            (data[:300], error, srv.stderr()[-500:]))
            self.assertEqual(len(json.loads(body.decode())["waypoints"]), PER_CUSTOMER)
        with self.subTest("exit 0"):
            self.assertEqual(rc, 0, srv.stderr()[-1000:])


# ---------------------------------------------------------------------------
# 8. SIGHUP reloads the certificate


def der_of(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def presented_cert(port, cafiles):
    """The DER certificate a new TLS connection to 127.0.0.1:port presents
    (verified against any of cafiles)."""
    ctx = ssl.create_default_context()
    for ca in cafiles:
        ctx.load_verify_locations(cafile=ca)
    with socket.create_connection((wpd.HOST, port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=wpd.HOST) as s:
            return s.getpeercert(binary_form=True)


class KeepAlive:
    """One HTTP/1.1 keep-alive connection over TLS, requests sent by hand."""

    def __init__(self, port, cafile, key):
        ctx = wpd.ssl_context(cafile)
        ctx.set_alpn_protocols(["http/1.1"])
        raw = socket.create_connection((wpd.HOST, port), timeout=5)
        self.sock = ctx.wrap_socket(raw, server_hostname=wpd.HOST)
        self.key, self.buf = key, b""
        self.cert = self.sock.getpeercert(binary_form=True)

    def get(self, path):
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n" %
                           (path, wpd.HOST, self.key)).encode())
        for _ in range(1000):
            if b"\r\n\r\n" in self.buf:
                break
            chunk = self.sock.recv(65536)
            if not chunk:
                raise FaultError("keep-alive connection closed by the server")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("iso-8859-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        length = int(headers.get("content-length", "0"))
        for _ in range(1000):
            if len(self.buf) >= length:
                break
            chunk = self.sock.recv(65536)
            if not chunk:
                raise FaultError("keep-alive connection closed mid-body")
            self.buf += chunk
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(lines[0].split()[1]), headers, body

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class CertReloadTest(FaultTestCase):

    async def test_sighup_reloads_the_certificate(self):
        """Started with certificate A; a WebSocket subscriber and an HTTP/1.1
        keep-alive connection are open. The files are overwritten with
        certificate B (certs/make-dev-cert.sh into another folder, then copied)
        and the server gets SIGHUP: it stays up, the open WebSocket still
        receives pushes, the keep-alive connection still answers, and a new
        TLS connection presents B. Then the certificate file is overwritten
        with garbage and SIGHUP again: a line on stderr naming the file, and
        the server keeps serving with B."""
        cert_a = der_of(self.sb.cert)
        b_dir = self.sb.path("cert-b")
        b_cert, b_key = await asyncio.to_thread(wpd.make_cert, b_dir)
        cert_b = der_of(b_cert)
        self.assertNotEqual(cert_a, cert_b)
        ca_a = self.sb.path("ca-a.pem")
        shutil.copyfile(self.sb.cert, ca_a)
        srv = self.start_server()
        [follower] = await self.follow(srv, [("dc1", "c00")])
        conn = await asyncio.to_thread(KeepAlive, srv.port, ca_a, self.key)
        self.addCleanup(conn.close)
        self.assertEqual(conn.cert, cert_a)
        self.assertEqual((await asyncio.to_thread(conn.get, "/dcs/dc1/customers/c00/waypoints"))[0], 200)

        shutil.copyfile(b_cert, self.sb.cert)
        shutil.copyfile(b_key, self.sb.key)
        before = len(srv.stderr())
        srv.send_signal(signal.SIGHUP)
        await asyncio.sleep(1)
        self.assertTrue(srv.alive(), "SIGHUP ended the server (exit %r); stderr: %s" %
                        (srv.proc.poll(), srv.stderr()[-1500:]))

        with self.subTest("a new TLS connection presents B"):
            got = None
            for _ in range(20):  # the reload may take a moment: up to ~5 s
                got = await asyncio.to_thread(presented_cert, srv.port, [ca_a, b_cert])
                if got == cert_b:
                    break
                await asyncio.sleep(0.25)
            self.assertEqual(got, cert_b, "still certificate A after SIGHUP; new stderr: %r" % srv.stderr()[before:])
        with self.subTest("open connections survive the reload"):
            await self.sql(update_stmt("dc1", "c00-1", 8001))
            self.assertEqual(await self.caught_up([follower]), [], "the open WebSocket got no push after SIGHUP")
            self.assertTrue(follower.connected)
            status, _, _ = await asyncio.to_thread(conn.get, "/dcs/dc1/customers/c00/waypoints")
            self.assertEqual(status, 200)

        with open(self.sb.cert, "w") as f:
            f.write("this is not a certificate\n")
        before = len(srv.stderr())
        srv.send_signal(signal.SIGHUP)
        line = await self.wait_log(srv, re.escape(os.path.basename(self.sb.cert)), LOG_DEADLINE, after=before)
        with self.subTest("a bad certificate at SIGHUP: an error, and B stays"):
            self.assertTrue(srv.alive(), "a bad certificate at SIGHUP ended the server: %s" % srv.stderr()[-1500:])
            self.assertIsNotNone(line, "no stderr line naming %s after SIGHUP with a garbage certificate; new "
                                 "stderr: %r" % (self.sb.cert, srv.stderr()[before:]))
            self.assertEqual(await asyncio.to_thread(presented_cert, srv.port, [ca_a, b_cert]), cert_b)
            await self.sql(update_stmt("dc1", "c00-2", 8002))
            await self.check_streams([follower])
        self.assert_clean_exit(srv)


if __name__ == "__main__":
    unittest.main(verbosity=2)

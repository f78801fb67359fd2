#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box tests of the Server-Sent Events fallback (docs/live.md, "Server-Sent
Events fallback"): GET /dcs/{dc}/customers/{c}/waypoints/events.

Every stream is a real `curl --no-buffer` process (HTTP/1.1 or HTTP/2 by ALPN),
read by a thread and parsed as the EventSource specification says (lines,
`field: value`, a blank line dispatches, `:` starts a comment). Every write is
made by the sqlite3 shell in another process, as route planners and driver
apps do. Only 127.0.0.1, the dev certificate is always verified, every wait
has a deadline, and none is tighter than about 2 s. Run:
    /usr/bin/python3 tests/integration/test_sse.py
(ctest sets WAYPOINTD and WAYPOINTD_SOURCE_DIR.)
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402

PROTOCOLS = ("1.1", "2")
WAYPOINT_FIELDS = ("id", "customer_id", "status", "completed_timestamp", "estimated_time_of_arrival",
                   "waypoints_ahead", "waiting_time_seconds", "route_id")
HEADERS_DEADLINE = 8.0   # the response head of a stream
EVENT_DEADLINE = 5.0     # a committed change reaches a stream
END_DEADLINE = 8.0       # a revoked key / expired token / SIGTERM ends a stream (sweep every 2 s)
HEARTBEAT_DEADLINE = 21.0  # ": keep-alive" after 15 s of silence, checked in a 2 s sweep
QUIET_OPEN = 8.0         # longer than libwebsockets' default 5 s timeout for an HTTP transaction
STREAM_MAX_TIME = 90     # curl's own --max-time for a stream (every test ends long before)


class StreamError(AssertionError):
    """A stream did not do what a test waited for; says what came instead."""


def events_path(dc, customer, **query):
    path = "/dcs/%s/customers/%s/waypoints/events" % (urllib.parse.quote(dc, safe=""),
                                                      urllib.parse.quote(customer, safe=""))
    if query:
        # In the order given: the order of query parameters matters (see test_since_after_access_token).
        path += "?" + "&".join("%s=%s" % (k, urllib.parse.quote(str(v), safe="")) for k, v in query.items())
    return path


class Stream:
    """One `curl --no-buffer --include` on an events URL, read by a thread.

    .status / .version / .headers once the head arrived (wait_head()), then
    .items: ("event", {"id", "data", "fields", "json"}) and ("comment", text)
    in arrival order, as the EventSource parser would see them; .raw is every
    byte of the body. A refusal's JSON body is in .raw too.
    """

    def __init__(self, server, cacert, path, http="1.1", bearer=None, headers=None, max_time=STREAM_MAX_TIME):
        argv = ["curl", "--silent", "--show-error", "--no-buffer", "--include", "--cacert", cacert,
                "--noproxy", "*", "--max-time", str(max_time), "--http1.1" if http == "1.1" else "--http2"]
        for name, value in (headers or {}).items():
            argv += ["--header", "%s: %s" % (name, value)]
        if bearer is not None:
            argv += ["--header", "Authorization: Bearer %s" % bearer]
        argv.append(server.url(path))
        self.http = http
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.cond = threading.Condition()
        self.head_done = False
        self.status, self.version, self.headers = None, None, {}
        self.raw = b""
        self.items = []
        self.ended = False
        self.rc = None
        self.stderr = b""
        self._buf = b""       # before the head: everything; after: an incomplete body line
        self._event = None    # the event being built (fields so far)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    # -- the reader thread -------------------------------------------------

    def _read(self):
        fd = self.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            with self.cond:
                if chunk:
                    self._feed(chunk)
                else:
                    self.proc.wait()
                    self.rc = self.proc.returncode
                    self.stderr = self.proc.stderr.read()
                    self.ended = True
                self.cond.notify_all()
            if not chunk:
                return

    def _feed(self, chunk):
        if not self.head_done:
            self._buf += chunk
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, rest = self._buf[:end].decode("iso-8859-1"), self._buf[end + 4:]
            lines = head.split("\r\n")
            parts = lines[0].split(" ", 2)
            self.version, self.status = parts[0], int(parts[1])
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name, value = name.strip().lower(), value.strip()
                self.headers[name] = self.headers[name] + ", " + value if name in self.headers else value
            self.head_done = True
            self._buf = b""
            chunk = rest
        self.raw += chunk
        if self.status != 200:
            return
        self._buf += chunk
        # EventSource: lines end in CRLF, LF or CR; a CR at the very end may
        # still become a CRLF, so keep it for the next chunk.
        while True:
            m = re.search(rb"\r\n|\n|\r(?=.)", self._buf, re.S)
            if not m:
                break
            line, self._buf = self._buf[:m.start()], self._buf[m.end():]
            self._line(line.decode("utf-8", errors="replace"))

    def _line(self, line):
        if line == "":
            ev, self._event = self._event, None
            if ev is not None:
                data = [v for k, v in ev["fields"] if k == "data"]
                ids = [v for k, v in ev["fields"] if k == "id"]
                ev["data"] = "\n".join(data) if data else None
                ev["id"] = ids[-1] if ids else None
                try:
                    ev["json"] = json.loads(ev["data"]) if ev["data"] is not None else None
                except ValueError:
                    ev["json"] = None
                self.items.append(("event", ev))
            return
        if line.startswith(":"):
            self.items.append(("comment", line[1:]))
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if self._event is None:
            self._event = {"fields": []}
        self._event["fields"].append((name, value))

    # -- waiting -----------------------------------------------------------

    def _describe(self):
        return ("http %s, status %r, ended %r (curl rc %r, %s), %d item(s), last ones: %s" %
                (self.http, self.status, self.ended, self.rc, self.stderr.decode(errors="replace").strip()[-200:],
                 len(self.items), json.dumps(self.items[-6:])[:1500]))

    def _wait(self, predicate, deadline, what):
        end = time.monotonic() + max(deadline, 2.0)
        with self.cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = end - time.monotonic()
                if left <= 0:
                    raise StreamError("waited %.1f s for %s; %s" % (deadline, what, self._describe()))
                self.cond.wait(min(left, 0.5))

    def wait_head(self, deadline=HEADERS_DEADLINE):
        """The status code, once the response head arrived."""
        self._wait(lambda: self.head_done or self.ended, deadline, "the response head")
        if not self.head_done:
            raise StreamError("no response head; %s" % self._describe())
        return self.status

    def wait_body_end(self, deadline=HEADERS_DEADLINE):
        """A refusal: the whole body (curl exits when it is complete)."""
        self.wait_end(deadline)
        return self.raw

    def next_item(self, after, deadline=EVENT_DEADLINE, what="an event or a comment"):
        """The item at index `after`, waiting for it."""
        return self._wait(lambda: self.items[after] if len(self.items) > after else None, deadline, what)

    def events(self):
        with self.cond:
            return [it[1] for it in self.items if it[0] == "event"]

    def comments(self):
        with self.cond:
            return [it[1] for it in self.items if it[0] == "comment"]

    def event(self, n, deadline=EVENT_DEADLINE, what=None):
        """The n-th event (0-based) of the stream, waiting for it."""
        def nth():
            evs = [it[1] for it in self.items if it[0] == "event"]
            return evs[n] if len(evs) > n else None
        return self._wait(nth, deadline, what or "event #%d" % n)

    def wait_end(self, deadline=END_DEADLINE):
        """Wait until the stream ends (curl exits); curl's exit code."""
        self._wait(lambda: self.ended, deadline, "the end of the stream")
        self._reader.join(timeout=2)
        return self.rc

    def alive(self):
        with self.cond:
            return not self.ended

    def close(self):
        """Cleanup: stop curl (never raises)."""
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._reader.join(timeout=2)
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


def wp(dc, customer, wid, n, **over):
    """A waypoints row with varied values (and NULLs) derived from n."""
    status = ("PENDING", "COMPLETED", "FAILED", "SKIPPED")[n % 4]
    row = {"dc_id": dc, "id": wid, "customer_id": customer,
           "route_id": None if n % 5 == 4 else "route-%d" % (n % 3),
           "status": status,
           "completed_timestamp": 1795000000000 + n * 1000 if status != "PENDING" else None,
           "estimated_time_of_arrival": None if n % 7 == 6 else 1796000000000 + n * 60000,
           "waypoints_ahead": n % 9,
           "waiting_time_seconds": None if n % 6 == 5 else n * 15}
    row.update(over)
    return row


def waypoint_json(row):
    return {f: row.get(f) for f in WAYPOINT_FIELDS}


def insert_sql(row):
    return "INSERT INTO waypoints(%s) VALUES (%s);" % (", ".join(row), ", ".join(wpd.q(v) for v in row.values()))


def update_sql(row, **cols):
    """An UPDATE of row's waypoint setting cols; row is updated in place."""
    sets = ", ".join("%s = %s" % (k, wpd.q(v)) for k, v in cols.items())
    row.update(cols)
    return "UPDATE waypoints SET %s WHERE dc_id = %s AND id = %s;" % (sets, wpd.q(row["dc_id"]), wpd.q(row["id"]))


def delete_sql(row):
    return "DELETE FROM waypoints WHERE dc_id = %s AND id = %s;" % (wpd.q(row["dc_id"]), wpd.q(row["id"]))


class SseTestCase(unittest.TestCase):
    """One sandbox and server per class; every stream is closed at cleanup."""

    threads = 2
    extra = ()

    @classmethod
    def setUpClass(cls):
        sb = wpd.Sandbox(prefix="wpd-sse-")
        cls.addClassCleanup(sb.close)
        cls.sb, cls.db = sb, sb.db
        sb.insert("dcs", [{"id": d, "name": "DC " + d} for d in ("dc1", "dc2")])
        sb.sql("INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c1', 'C1'), ('dc1', 'c2', 'C2'), "
               "('dc1', 'quiet', 'Q'), ('dc2', 'c1', 'C1 of dc2');")
        cls.rows = [wp("dc1", "c1", "w%d" % i, i) for i in range(4)]
        sb.insert("waypoints", cls.rows)
        cls.key = sb.key_create("all", all_dcs=True)
        cls.dc2_key = sb.key_create("dc2-only", dcs=["dc2"])
        cls.token = sb.token_create("dc1", "c1")
        cls.fixtures(sb)
        cls.server = sb.server(threads=cls.threads, extra=cls.extra)

    @classmethod
    def fixtures(cls, sb):
        pass

    def tearDown(self):
        self.assertTrue(self.server.alive(), "the server died; stderr: %s" % self.server.stderr()[-3000:])

    # -- helpers -----------------------------------------------------------

    def stream(self, path, http="1.1", bearer=None, headers=None, server=None, **kw):
        s = Stream(server or self.server, self.sb.cert, path, http=http, bearer=bearer, headers=headers, **kw)
        self.addCleanup(s.close)
        return s

    def open_stream(self, path, http="1.1", bearer=None, headers=None, server=None):
        """A stream that must be accepted: checks the head, returns it."""
        s = self.stream(path, http, bearer, headers, server)
        status = s.wait_head()
        self.assertEqual(status, 200, "%s over HTTP/%s: %r" % (path, http, s.raw[:300]))
        self.assertEqual(s.version, "HTTP/2" if http == "2" else "HTTP/1.1", s.version)
        return s

    def sql(self, statements):
        return wpd.sql(self.db, statements)

    def log_head(self):
        return int(wpd.sql_value(self.db, "SELECT COALESCE(MAX(seq), 0) FROM change_log;"))

    def log_seqs(self, where):
        return [int(x) for x in self.sql("SELECT seq FROM change_log WHERE %s ORDER BY seq;" % where).split()]

    def rest_waypoints(self, dc, customer, server=None):
        r = self.sb.curl(server or self.server, "/dcs/%s/customers/%s/waypoints" % (dc, customer), bearer=self.key)
        self.assertEqual(r.code, 200, r)
        return r.json()["waypoints"]

    # -- assertions --------------------------------------------------------

    def assertOneDataLine(self, ev):
        names = [k for k, _ in ev["fields"]]
        self.assertEqual(names.count("data"), 1, "one data line per event: %r" % ev)
        self.assertTrue(set(names) <= {"id", "data"}, "only id and data fields: %r" % ev)
        self.assertIsInstance(ev["json"], dict, "the data is one JSON object: %r" % ev)

    def assertSubscribedEvent(self, ev, dc, customer, resumed, seq=None):
        self.assertOneDataLine(ev)
        msg = ev["json"]
        self.assertEqual(msg.get("type"), "subscribed", msg)
        self.assertEqual((msg.get("dc_id"), msg.get("customer_id")), (dc, customer), msg)
        self.assertIs(msg.get("resumed"), resumed, msg)
        self.assertIs(type(msg.get("seq")), int, msg)
        if seq is not None:
            self.assertEqual(msg["seq"], seq, msg)
        if resumed:
            self.assertNotIn("waypoints", msg)
        else:
            self.assertIsInstance(msg.get("waypoints"), list, msg)
        self.assertIsNone(ev["id"], "the subscribed event carries no id: line: %r" % ev)
        return msg

    def assertChangeEvent(self, ev, type_, dc, customer, seq_after=None):
        """A waypoint / waypoint_removed event whose id: line is its seq; returns the message."""
        self.assertOneDataLine(ev)
        msg = ev["json"]
        self.assertEqual(msg.get("type"), type_, msg)
        self.assertEqual((msg.get("dc_id"), msg.get("customer_id")), (dc, customer), msg)
        self.assertIs(type(msg.get("seq")), int, msg)
        self.assertEqual(ev["id"], str(msg["seq"]), "id: is the change number: %r" % ev)
        if seq_after is not None:
            self.assertGreater(msg["seq"], seq_after, msg)
        return msg

    def assertErrorResponse(self, s, status, what):
        """A refusal: the JSON error envelope with that status, not a stream."""
        body = s.wait_body_end()
        self.assertEqual(s.status, status, "%s: %r" % (what, body[:300]))
        self.assertTrue(s.headers.get("content-type", "").startswith("application/json"), (what, s.headers))
        self.assertNotIn("text/event-stream", s.headers.get("content-type", ""))
        doc = json.loads(body.decode("utf-8"))
        self.assertEqual(doc.get("status"), "error", (what, doc))
        self.assertEqual(doc.get("data", {}).get("code"), status, (what, doc))
        self.assertIsInstance(doc["data"].get("message"), str, (what, doc))
        self.assertTrue(doc["data"]["message"], (what, doc))
        return doc


# ---------------------------------------------------------------------------


class StreamTest(SseTestCase):
    """The stream itself: its head, the snapshot, changes, resuming."""

    def test_head_over_both_protocols(self):
        for http in PROTOCOLS:
            with self.subTest(http=http):
                s = self.open_stream(events_path("dc1", "c1"), http, bearer=self.key)
                self.assertEqual(s.headers.get("content-type", "").split(";")[0].strip(), "text/event-stream",
                                 s.headers)
                self.assertEqual(s.headers.get("cache-control"), "no-store", s.headers)
                self.assertNotIn("content-length", s.headers, "a stream has no length")
                if http == "1.1":
                    self.assertEqual(s.headers.get("connection", "").lower(), "close", s.headers)
                    self.assertNotIn("chunked", s.headers.get("transfer-encoding", ""), s.headers)
                s.event(0)
                s.close()

    def test_snapshot_equals_rest_list(self):
        rest = self.rest_waypoints("dc1", "c1")
        self.assertEqual(rest, [waypoint_json(r) for r in reversed(self.rows)])
        head = self.log_head()
        for http in PROTOCOLS:
            for how in ("header", "access_token"):
                with self.subTest(http=http, how=how):
                    if how == "header":
                        s = self.open_stream(events_path("dc1", "c1"), http, bearer=self.key)
                    else:
                        s = self.open_stream(events_path("dc1", "c1", access_token=self.token), http)
                    msg = self.assertSubscribedEvent(s.event(0), "dc1", "c1", resumed=False, seq=head)
                    self.assertEqual(msg["waypoints"], rest)
                    s.close()

    def test_unknown_customer_gets_an_empty_snapshot(self):
        for http in PROTOCOLS:
            with self.subTest(http=http):
                s = self.open_stream(events_path("dc1", "nobody-here"), http, bearer=self.key)
                msg = self.assertSubscribedEvent(s.event(0), "dc1", "nobody-here", resumed=False)
                self.assertEqual(msg["waypoints"], [])
                s.close()

    def test_changes_arrive_with_their_seq_as_id(self):
        s1 = self.open_stream(events_path("dc1", "c2"), "1.1", bearer=self.key)
        s2 = self.open_stream(events_path("dc1", "c2", access_token=self.sb.token_create("dc1", "c2")), "2")
        seq0 = self.assertSubscribedEvent(s1.event(0), "dc1", "c2", resumed=False)["seq"]
        self.assertSubscribedEvent(s2.event(0), "dc1", "c2", resumed=False)
        # One change at a time: changes to one waypoint read together may be
        # coalesced into the newest (docs/live.md, "Pushes").
        row = wp("dc1", "c2", "c2-a", 5)
        inserted = dict(row)
        steps = [(insert_sql(row), "waypoint"),
                 (update_sql(row, waypoints_ahead=42, route_id="route-x"), "waypoint"),
                 (delete_sql(row), "waypoint_removed")]
        last = {s1: seq0, s2: seq0}
        for n, (stmt, type_) in enumerate(steps, 1):
            self.sql(stmt)
            seq = self.log_head()
            for s in (s1, s2):
                with self.subTest(http=s.http, step=n):
                    msg = self.assertChangeEvent(s.event(n, what="change %d" % n), type_, "dc1", "c2", last[s])
                    self.assertEqual(msg["seq"], seq, "the id of the newest change it reflects")
                    last[s] = msg["seq"]
                    if n == 1:
                        self.assertEqual(msg["waypoint"], waypoint_json(inserted))
                    elif n == 2:
                        self.assertEqual(msg["waypoint"], waypoint_json(row))
                    else:
                        self.assertEqual(msg["waypoint_id"], "c2-a")

    def test_other_customers_changes_are_not_sent(self):
        s = self.open_stream(events_path("dc1", "quiet"), "1.1", bearer=self.key)
        seq0 = self.assertSubscribedEvent(s.event(0), "dc1", "quiet", resumed=False)["seq"]
        self.sql(insert_sql(wp("dc1", "c2", "noise-1", 1)) + insert_sql(wp("dc2", "c1", "noise-2", 2)))
        mine = wp("dc1", "quiet", "q-1", 3)
        self.sql(insert_sql(mine))
        msg = self.assertChangeEvent(s.event(1), "waypoint", "dc1", "quiet", seq0)
        self.assertEqual(msg["waypoint"], waypoint_json(mine), "the next event is this customer's change")

    # -- resuming ----------------------------------------------------------

    def _missed_changes(self, customer):
        """A snapshot seq S, then three changes made while nobody listens:
        (S, [(type, seq, waypoint json or id)...])."""
        s = self.open_stream(events_path("dc1", customer), "1.1", bearer=self.key)
        since = self.assertSubscribedEvent(s.event(0), "dc1", customer, resumed=False)["seq"]
        s.close()
        a, b = wp("dc1", customer, customer + "-a", 1), wp("dc1", customer, customer + "-b", 2)
        self.sql(insert_sql(a))
        self.sql(insert_sql(b))
        self.sql(delete_sql(a))
        seqs = self.log_seqs("customer_id = %s AND seq > %d" % (wpd.q(customer), since))
        self.assertEqual(len(seqs), 3, seqs)
        # a's insert and delete: the log keeps both, the resume may coalesce them
        # into the removal (docs/live.md: only the newest state of each waypoint).
        return since, seqs, a, b

    def _expect_resume(self, s, customer, since, seqs, a, b):
        """The stream resumes after `since` with exactly the missed changes:
        a's insert and delete may be coalesced into the removal (only the
        newest state of each waypoint, docs/live.md), b's insert is the row."""
        self.assertSubscribedEvent(s.event(0), "dc1", customer, resumed=True, seq=since)
        changes = []
        while not changes or changes[-1]["seq"] < seqs[-1]:
            ev = s.event(len(changes) + 1, what="the missed changes (seqs %r)" % seqs)
            msg = self.assertChangeEvent(ev, (ev["json"] or {}).get("type"), "dc1", customer,
                                         changes[-1]["seq"] if changes else since)
            self.assertIn(msg["seq"], seqs, msg)
            changes.append(msg)
        got = [(m["type"], m["waypoint"]["id"] if m["type"] == "waypoint" else m["waypoint_id"]) for m in changes]
        self.assertIn(got, ([("waypoint", a["id"]), ("waypoint", b["id"]), ("waypoint_removed", a["id"])],
                            [("waypoint", b["id"]), ("waypoint_removed", a["id"])]),
                      "exactly the missed changes, in order: %r" % changes)
        self.assertEqual([m["waypoint"] for m in changes if m["type"] == "waypoint" and m["waypoint"]["id"] == b["id"]],
                         [waypoint_json(b)])
        # Nothing else was pending: the next event is a change made now.
        marker = wp("dc1", customer, customer + "-marker", 7)
        self.sql(insert_sql(marker))
        msg = self.assertChangeEvent(s.event(len(changes) + 1, what="the marker change"), "waypoint", "dc1", customer,
                                     seqs[-1])
        self.assertEqual(msg["waypoint"], waypoint_json(marker), "nothing but the missed changes came first")

    def test_resume_with_last_event_id_over_http1(self):
        since, seqs, a, b = self._missed_changes("r-lei")
        s = self.open_stream(events_path("dc1", "r-lei"), "1.1", bearer=self.key, headers={"Last-Event-ID": since})
        self._expect_resume(s, "r-lei", since, seqs, a, b)

    def test_resume_with_since_over_both_protocols(self):
        for http in PROTOCOLS:
            with self.subTest(http=http):
                customer = "r-since-" + http
                since, seqs, a, b = self._missed_changes(customer)
                s = self.open_stream(events_path("dc1", customer, since=since), http, bearer=self.key)
                self._expect_resume(s, customer, since, seqs, a, b)

    def test_resume_with_since_and_access_token(self):
        """What EventSource sends: access_token in the query, since beside it, in either order."""
        for http in PROTOCOLS:
            for order in ("since first", "access_token first"):
                with self.subTest(http=http, order=order):
                    customer = "r-tok-%s-%s" % (http, order.split()[0])
                    self.sql("INSERT INTO customers(dc_id, id, name) VALUES ('dc1', %s, 'R');" % wpd.q(customer))
                    token = self.sb.token_create("dc1", customer)
                    since, seqs, a, b = self._missed_changes(customer)
                    q = ({"since": since, "access_token": token} if order == "since first"
                         else {"access_token": token, "since": since})
                    s = self.open_stream(events_path("dc1", customer, **q), http)
                    self._expect_resume(s, customer, since, seqs, a, b)

    def test_last_event_id_wins_over_since(self):
        """An EventSource reconnecting by itself sends its Last-Event-ID with the
        URL it was opened with: the header is the newer position."""
        since, seqs, a, b = self._missed_changes("r-both")
        s = self.open_stream(events_path("dc1", "r-both", since=since), "1.1", bearer=self.key,
                             headers={"Last-Event-ID": seqs[1]})
        self.assertSubscribedEvent(s.event(0), "dc1", "r-both", resumed=True, seq=seqs[1])
        msg = self.assertChangeEvent(s.event(1), "waypoint_removed", "dc1", "r-both", seqs[1])
        self.assertEqual((msg["seq"], msg["waypoint_id"]), (seqs[2], a["id"]))

    def test_last_event_id_over_http2_is_consistent(self):
        """docs/live.md: lws drops unknown HTTP/2 headers, so over HTTP/2 the
        header may be ignored; whatever the server does must be consistent (a
        resume with exactly the missed changes, or a fresh snapshot equal to REST)."""
        since, seqs, a, b = self._missed_changes("r-h2")
        s = self.open_stream(events_path("dc1", "r-h2"), "2", bearer=self.key, headers={"Last-Event-ID": since})
        first = s.event(0)["json"] or {}
        if first.get("resumed") is True:
            self._expect_resume(s, "r-h2", since, seqs, a, b)
        else:
            msg = self.assertSubscribedEvent(s.event(0), "dc1", "r-h2", resumed=False, seq=self.log_head())
            self.assertEqual(msg["waypoints"], self.rest_waypoints("dc1", "r-h2"))

    def test_unusable_since_gets_a_fresh_snapshot(self):
        head = self.log_head()
        rest = self.rest_waypoints("dc1", "c1")
        cases = [("since", "abc"), ("since", "-1"), ("since", "1.5"), ("since", ""), ("since", head + 1000),
                 ("Last-Event-ID", "abc"), ("Last-Event-ID", head + 1000)]
        for http in PROTOCOLS:
            for where, value in cases:
                if where == "Last-Event-ID" and http == "2":
                    continue
                with self.subTest(http=http, where=where, value=value):
                    if where == "since":
                        s = self.open_stream(events_path("dc1", "c1", since=value), http, bearer=self.key)
                    else:
                        s = self.open_stream(events_path("dc1", "c1"), http, bearer=self.key,
                                             headers={"Last-Event-ID": value})
                    msg = self.assertSubscribedEvent(s.event(0), "dc1", "c1", resumed=False, seq=head)
                    self.assertEqual(msg["waypoints"], rest)
                    s.close()

    # -- liveness ----------------------------------------------------------

    def test_a_quiet_stream_stays_open(self):
        """Nothing to send for longer than libwebsockets' default HTTP timeout
        (5 s): the stream must stay open and still deliver the next change."""
        streams = {http: self.open_stream(events_path("dc1", "quiet2"), http, bearer=self.key) for http in PROTOCOLS}
        seq0 = {h: self.assertSubscribedEvent(s.event(0), "dc1", "quiet2", resumed=False)["seq"]
                for h, s in streams.items()}
        time.sleep(QUIET_OPEN)
        for http, s in streams.items():
            self.assertTrue(s.alive(), "the HTTP/%s stream ended after %.0f s of quiet; %s" %
                            (http, QUIET_OPEN, s._describe()))
        row = wp("dc1", "quiet2", "quiet2-a", 3)
        self.sql(insert_sql(row))
        for http, s in streams.items():
            with self.subTest(http=http):
                msg = self.assertChangeEvent(s.event(1), "waypoint", "dc1", "quiet2", seq0[http])
                self.assertEqual(msg["waypoint"], waypoint_json(row))

    def test_heartbeat_after_15_s_of_silence(self):
        streams = {http: self.open_stream(events_path("dc1", "beat"), http, bearer=self.key) for http in PROTOCOLS}
        seq0 = {h: self.assertSubscribedEvent(s.event(0), "dc1", "beat", resumed=False)["seq"]
                for h, s in streams.items()}
        t0 = time.monotonic()
        for http, s in streams.items():
            item = s.next_item(1, HEARTBEAT_DEADLINE - (time.monotonic() - t0), "a heartbeat comment")
            self.assertEqual(item, ("comment", " keep-alive"), "HTTP/%s: a comment, no event: %r" % (http, item))
            self.assertGreaterEqual(time.monotonic() - t0, 10.0, "HTTP/%s: the heartbeat came early" % http)
        # The bytes on the wire are a well-formed comment, and the next event parses.
        row = wp("dc1", "beat", "beat-a", 2)
        self.sql(insert_sql(row))
        for http, s in streams.items():
            with self.subTest(http=http):
                msg = self.assertChangeEvent(s.event(1), "waypoint", "dc1", "beat", seq0[http])
                self.assertEqual(msg["waypoint"], waypoint_json(row))
                self.assertIn(b"\n\n: keep-alive\n\n", s.raw)
                self.assertNotIn(b"\x00", s.raw, "no NUL byte in the stream")


class RefusalTest(SseTestCase):
    """Who may open a stream; refusals are JSON envelopes, not streams."""

    @classmethod
    def fixtures(cls, sb):
        cls.revoked_key = sb.key_create("revoked", all_dcs=True)
        sb.key_revoke("revoked")

    def test_401_without_a_usable_credential(self):
        cases = {
            "nothing": dict(),
            "garbage key": dict(bearer="not-a-key"),
            "well-formed unknown key": dict(bearer="wpk_" + "A" * 43),
            "revoked key": dict(bearer=self.revoked_key),
            "empty bearer": dict(headers={"Authorization": "Bearer "}),
            "other scheme": dict(headers={"Authorization": "Basic " + self.key}),
            "bad access_token": dict(query={"access_token": "wpk_" + "B" * 43}),
            "tampered token": dict(query={"access_token": self.token[:-2] + ("xx" if not self.token.endswith("xx")
                                                                               else "yy")}),
            "empty access_token": dict(query={"access_token": ""}),
        }
        for http in PROTOCOLS:
            for name, kw in cases.items():
                with self.subTest(http=http, case=name):
                    s = self.stream(events_path("dc1", "c1", **kw.get("query", {})), http, bearer=kw.get("bearer"),
                                    headers=kw.get("headers"))
                    doc = self.assertErrorResponse(s, 401, name)
                    # issue 12: the same words as REST
                    self.assertEqual(doc["data"]["message"], "Missing, unknown or revoked credential", name)

    def test_expired_token_401(self):
        token = self.sb.token_create("dc1", "c1", ttl=1)
        time.sleep(2.2)
        for http in PROTOCOLS:
            with self.subTest(http=http):
                s = self.stream(events_path("dc1", "c1", access_token=token), http)
                doc = self.assertErrorResponse(s, 401, "expired token")
                # issue 12: the same words as REST and as the error event of a stream it outlives
                self.assertEqual(doc["data"]["message"], "Tracking token expired")

    def test_403_out_of_scope(self):
        cases = {
            "unknown DC": dict(dc="nodc", customer="c1", bearer=self.key),
            "a DC the key may not read": dict(dc="dc1", customer="c1", bearer=self.dc2_key),
            "a token for another customer": dict(dc="dc1", customer="c2", query={"access_token": self.token}),
            "a token in the header for another customer": dict(dc="dc1", customer="c2", bearer=self.token),
            "a token for the same customer id in another DC": dict(dc="dc2", customer="c1",
                                                                   query={"access_token": self.token}),
        }
        for http in PROTOCOLS:
            for name, kw in cases.items():
                with self.subTest(http=http, case=name):
                    s = self.stream(events_path(kw["dc"], kw["customer"], **kw.get("query", {})), http,
                                    bearer=kw.get("bearer"))
                    doc = self.assertErrorResponse(s, 403, name)
                    # issue 12: a token is told what it may read, and no more about the DC
                    want = ("A tracking token reads only its own customer's waypoints" if "token" in name
                            else "DC does not exist or the credential may not access it")
                    self.assertEqual(doc["data"]["message"], want, name)

    def test_400_bad_ids(self):
        cases = {
            "invalid UTF-8 customer": "/dcs/dc1/customers/%FF%FE/waypoints/events",
            "invalid UTF-8 DC": "/dcs/%C3%28/customers/c1/waypoints/events",
            "256-byte customer id": "/dcs/dc1/customers/%s/waypoints/events" % ("a" * 256),
        }
        for http in PROTOCOLS:
            for name, path in cases.items():
                with self.subTest(http=http, case=name):
                    self.assertErrorResponse(self.stream(path, http, bearer=self.key), 400, name)

    def test_255_byte_ids_are_fine(self):
        s = self.open_stream(events_path("dc1", "b" * 255), "1.1", bearer=self.key)
        self.assertEqual(self.assertSubscribedEvent(s.event(0), "dc1", "b" * 255, resumed=False)["waypoints"], [])

    def test_other_methods_405_allow_get(self):
        for http in PROTOCOLS:
            for method in ("POST", "PUT", "DELETE"):
                with self.subTest(http=http, method=method):
                    r = self.sb.curl(self.server, events_path("dc1", "c1"), method=method, bearer=self.key, http=http,
                                     data="" if method != "DELETE" else None)
                    self.assertEqual(r.code, 405, r)
                    self.assertEqual(r.headers.get("allow"), "GET", r)
                    self.assertEqual(r.json()["status"], "error", r)
                    self.assertEqual(r.json()["data"]["code"], 405, r)


class RateLimitTest(SseTestCase):
    """--rate-limit-key 1: a burst of 10 streams per key, then one a second.
    Every test uses keys of its own (fixtures), so no bucket is shared
    between tests and none needs time to refill (test_ratelimit.py tests the
    limits themselves, on servers of their own)."""

    extra = ("--rate-limit-key", "1")
    BURST = 10

    @classmethod
    def fixtures(cls, sb):
        cls.keys = {name: sb.key_create("rl-" + name, all_dcs=True) for name in ("1.1", "2", "left-open")}

    def test_429_with_retry_after(self):
        for http in PROTOCOLS:
            with self.subTest(http=http):
                statuses, refused = [], None
                for _ in range(self.BURST + 4):
                    s = self.stream(events_path("dc1", "c1"), http, bearer=self.keys[http])
                    statuses.append(s.wait_head())
                    if s.status == 429 and refused is None:
                        refused = s
                    else:
                        s.close()
                self.assertEqual(statuses[:self.BURST - 1], [200] * (self.BURST - 1), statuses)
                self.assertIn(429, statuses)
                self.assertTrue(set(statuses) <= {200, 429}, statuses)
                self.assertErrorResponse(refused, 429, "rate limit")
                retry = refused.headers.get("retry-after", "")
                self.assertRegex(retry, r"^[1-9][0-9]*$", refused.headers)
                self.assertLessEqual(int(retry), 60, refused.headers)

    def test_no_stream_is_left_open_without_a_subscription(self):
        """A stream's subscription pays the key's bucket. Once it is empty, the
        answer is a 429, or an `error` event after which the stream ends (when
        another request took the last token between the check and the
        subscription); never a stream that stays open with nothing subscribed
        (an EventSource would wait on it forever)."""
        key = self.keys["left-open"]
        outcomes = []
        for i in range(self.BURST + 4):
            s = self.stream(events_path("dc1", "c1"), "1.1", bearer=key)
            if s.wait_head() == 429:
                self.assertErrorResponse(s, 429, "rate limit")
                outcomes.append("http 429")
                continue
            self.assertEqual(s.status, 200, s.raw[:300])
            msg = s.event(0)["json"] or {}
            if msg.get("type") == "subscribed":
                outcomes.append("subscribed")
                continue  # kept open until cleanup
            self.assertEqual((msg.get("type"), msg.get("code")), ("error", 429), msg)
            outcomes.append("error event")
            try:
                s.wait_end(END_DEADLINE)
            except StreamError:
                self.fail("a 200 stream whose subscription was refused (%s) is still open %.0f s later, subscribed "
                          "to nothing; outcomes so far %r" % (json.dumps(msg), END_DEADLINE, outcomes))
        self.assertGreaterEqual(outcomes.count("subscribed"), self.BURST - 1, outcomes)
        self.assertIn("http 429", outcomes)


class EndOfStreamTest(SseTestCase):
    """Streams that end: a revoked key, an expired token."""

    def test_revoked_key_ends_the_stream_with_an_error_event(self):
        key = self.sb.key_create("to-revoke", dcs=["dc1"])
        streams = {http: self.open_stream(events_path("dc1", "c1"), http, bearer=key) for http in PROTOCOLS}
        for s in streams.values():
            self.assertSubscribedEvent(s.event(0), "dc1", "c1", resumed=False)
        self.sb.key_revoke("to-revoke")
        for http, s in streams.items():
            with self.subTest(http=http):
                ev = s.event(1, END_DEADLINE, "the error event")
                self.assertOneDataLine(ev)
                msg = ev["json"]
                self.assertEqual((msg.get("type"), msg.get("code")), ("error", 401), msg)
                self.assertIsInstance(msg.get("message"), str, msg)
                rc = s.wait_end(END_DEADLINE)
                self.assertEqual(len(s.events()), 2, "nothing after the error: %r" % s.events())
                if http == "1.1":
                    self.assertEqual(rc, 0, "HTTP/1.1: the stream ends at the connection's close: %s" % s._describe())
        # Refused from now on.
        self.assertErrorResponse(self.stream(events_path("dc1", "c1"), "1.1", bearer=key), 401, "revoked")

    def test_expired_token_ends_the_stream_with_an_error_event(self):
        token = self.sb.token_create("dc1", "c1", ttl=2)
        s = self.open_stream(events_path("dc1", "c1", access_token=token), "1.1")
        self.assertSubscribedEvent(s.event(0), "dc1", "c1", resumed=False)
        ev = s.event(1, 2 + END_DEADLINE, "the error event")
        self.assertEqual((ev["json"].get("type"), ev["json"].get("code")), ("error", 401), ev)
        self.assertEqual(ev["json"].get("message"), "Tracking token expired", ev)
        self.assertEqual(s.wait_end(END_DEADLINE), 0, s._describe())


class ShutdownTest(SseTestCase):
    """SIGTERM with streams open: they end, the server exits 0."""

    def test_sigterm_ends_open_streams(self):
        server = self.sb.server(threads=2)
        streams = {http: self.open_stream(events_path("dc1", "c1"), http, bearer=self.key, server=server)
                   for http in PROTOCOLS}
        for s in streams.values():
            self.assertSubscribedEvent(s.event(0), "dc1", "c1", resumed=False)
        self.assertEqual(server.stop(signal.SIGTERM), 0, server.stderr()[-2000:])
        for http, s in streams.items():
            with self.subTest(http=http):
                rc = s.wait_end(END_DEADLINE)
                if http == "1.1":
                    self.assertEqual(rc, 0, "HTTP/1.1: a clean end of the body: %s" % s._describe())
                self.assertEqual([e["json"]["type"] for e in s.events()][:1], ["subscribed"])


class PrunedLogTest(unittest.TestCase):
    """A since older than what the log keeps (--log-keep-rows): a fresh snapshot."""

    def test_since_older_than_the_log_gets_a_fresh_snapshot(self):
        sb = wpd.Sandbox(prefix="wpd-sse-prune-")
        self.addCleanup(sb.close)
        sb.sql("INSERT INTO dcs(id) VALUES ('dc1'); INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c', 'C');")
        rows = [wp("dc1", "c", "p%d" % i, i) for i in range(3)]
        sb.insert("waypoints", rows)
        since = int(wpd.sql_value(sb.db, "SELECT MAX(seq) FROM change_log;"))
        for n, r in enumerate(rows):
            sb.sql(update_sql(r, waypoints_ahead=50 + n))
        head = int(wpd.sql_value(sb.db, "SELECT MAX(seq) FROM change_log;"))
        key = sb.key_create("k", all_dcs=True)
        server = sb.server(threads=1, extra=("--log-keep-rows", "1"))

        def pruned_past_since():
            return int(wpd.sql_value(sb.db, "SELECT pruned_through FROM change_log_state;") or 0) > since
        wpd.wait_until(pruned_past_since, 20.0, 0.05, "the startup prune")
        rest = wpd.curl(server.url("/dcs/dc1/customers/c/waypoints"), sb.cert, bearer=key)
        self.assertEqual(rest.code, 200, rest)
        self.assertEqual(rest.json()["waypoints"], [waypoint_json(r) for r in reversed(rows)])
        cases = [("1.1", {"since": since}, None), ("2", {"since": since}, None), ("1.1", {}, {"Last-Event-ID": since})]
        for http, query, headers in cases:
            with self.subTest(http=http, query=query, headers=headers):
                s = Stream(server, sb.cert, events_path("dc1", "c", **query), http, bearer=key, headers=headers)
                self.addCleanup(s.close)
                self.assertEqual(s.wait_head(), 200, s.raw[:300])
                ev = s.event(0)
                msg = ev["json"]
                self.assertEqual(msg.get("type"), "subscribed", msg)
                self.assertIs(msg.get("resumed"), False, msg)
                self.assertEqual(msg.get("seq"), head, msg)
                self.assertEqual(msg.get("waypoints"), rest.json()["waypoints"])
                s.close()
        self.assertEqual(server.stop(), 0, server.stderr())


if __name__ == "__main__":
    unittest.main(verbosity=2)

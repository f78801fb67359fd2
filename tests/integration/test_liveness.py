#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box tests of WebSocket liveness (docs/live.md, "Liveness"): which
connections the server pings, when, and which it hangs up on.

- a silent, idle peer is pinged and, never answering, dropped;
- a peer that only receives (a dashboard: changes flow, it never sends) gets
  no ping while the changes flow and is not dropped; once they stop it is
  pinged like any idle peer;
- the pings of many sessions that went quiet together are spread out, not
  sent in one sweep.

Raw clients (rawws.py) that never answer a ping unless a test says so. Short
--ws-ping-seconds / --ws-idle-seconds; the server sweeps every 2 s, so every
timing assertion has seconds of slack. Run:
    /usr/bin/python3 tests/integration/test_liveness.py
(ctest sets WAYPOINTD and WAYPOINTD_SOURCE_DIR.)
"""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402
from rawws import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, RawWS  # noqa: E402

SWEEP = 2.0  # the server's sweep interval (src/sweep.h SWEEP_MS)


def latest_ping(ping):
    """The latest the first ping may come after the last traffic (docs/live.md):
    ping + ping/4, plus two sweeps (one for noticing the traffic, one for
    the due ping), plus a second for a loaded machine."""
    return ping + ping / 4 + 2 * SWEEP + 1


class LivenessCase(unittest.TestCase):
    ping = 2
    idle = 5

    @classmethod
    def setUpClass(cls):
        sb = wpd.Sandbox(prefix="wpd-liveness-")
        cls.addClassCleanup(sb.close)
        cls.sb = sb
        sb.insert("dcs", [{"id": "dc1", "name": "One"}])
        sb.sql("INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c1', 'C one');")
        sb.insert("waypoints", [{"dc_id": "dc1", "id": "w1", "customer_id": "c1", "route_id": "r1",
                                 "status": "PENDING", "waypoints_ahead": 0}])
        cls.key = sb.key_create("all", all_dcs=True)
        # One service thread: one sweep clock for every session.
        cls.server = sb.server(threads=1, extra=("--ws-ping-seconds", str(cls.ping),
                                                 "--ws-idle-seconds", str(cls.idle)))

    def tearDown(self):
        self.assertTrue(self.server.alive(), "the server died; stderr: %s" % self.server.stderr()[-3000:])

    def open_subscribed(self, sub_id="s"):
        """A raw connection subscribed to dc1 (the reply read)."""
        ws = RawWS.open(self.server, self.sb.cert, key=self.key)
        self.addCleanup(ws.close)
        self.assertTrue(ws.send_json({"type": "subscribe", "id": sub_id, "dc_id": "dc1"}))
        reply = ws.recv_json()
        self.assertEqual(reply.get("type"), "subscribed", reply)
        return ws

    def read_until_closed(self, ws, deadline):
        """Read frames (never answering) until the connection ends or the
        deadline passes; ([(monotonic time, opcode)], closed at or None)."""
        frames = []
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                op, _ = ws.recv_frame(min(2.0, max(end - time.monotonic(), 0.01)))
            except TimeoutError:
                continue
            now = time.monotonic()
            if op is None or op == OP_CLOSE:
                return frames, now
            frames.append((now, op))
        return frames, None


class SilentPeerTest(LivenessCase):
    """--ws-ping-seconds 2 --ws-idle-seconds 5."""

    def test_silent_peer_is_pinged_then_dropped(self):
        ws = self.open_subscribed()
        quiet_since = time.monotonic()
        frames, closed = self.read_until_closed(ws, self.idle + 15)
        pings = [t - quiet_since for t, op in frames if op == OP_PING]
        self.assertTrue(pings, "no ping within %d s; frames %r" % (self.idle + 15, frames))
        self.assertGreaterEqual(pings[0], self.ping - 1, pings)
        self.assertLessEqual(pings[0], latest_ping(self.ping), pings)
        self.assertIsNotNone(closed, "a peer that never answers was not dropped")
        # Dropped ws_hangup_secs after it last spoke, give or take the ping's spread and a sweep.
        self.assertGreaterEqual(closed - quiet_since, self.idle - 1)
        self.assertLessEqual(closed - quiet_since, self.idle + self.ping / 4 + 2 * SWEEP + 2)


class ReceivingPeerTest(LivenessCase):
    """A peer that only receives (--ws-ping-seconds 2 --ws-idle-seconds 5)."""

    def test_receiving_peer_gets_no_ping_and_stays(self):
        ws = self.open_subscribed()
        stop = threading.Event()
        errors = []

        def writer():
            # A change every 0.5 s for 8 s, longer than --ws-idle-seconds.
            try:
                for n in range(16):
                    if stop.is_set():
                        return
                    self.sb.sql("UPDATE waypoints SET waypoints_ahead = %d WHERE dc_id = 'dc1' AND id = 'w1';"
                                % (n + 1))
                    time.sleep(0.5)
            except Exception as e:  # reported by the test, not lost in the thread
                errors.append(e)

        t = threading.Thread(target=writer)
        t.start()
        self.addCleanup(t.join, 30)
        self.addCleanup(stop.set)
        start = time.monotonic()
        frames = []
        closed = None
        while t.is_alive() and closed is None and time.monotonic() - start < 30:
            got, closed = self.read_until_closed(ws, 0.5)
            frames += got
        t.join(30)
        self.assertFalse(errors, errors)
        texts = [f for f in frames if f[1] == OP_TEXT]
        pings = [f for f in frames if f[1] == OP_PING]
        self.assertIsNone(closed, "dropped while receiving changes, after %.1f s" % ((closed or 0) - start))
        self.assertGreaterEqual(len(texts), 10, frames)
        self.assertEqual(pings, [], "pinged while changes flowed")
        # The changes stop: now it is an idle peer that answers nothing.
        last = texts[-1][0]
        more, closed = self.read_until_closed(ws, self.idle + 15)
        pings = [t - last for t, op in more if op == OP_PING]
        self.assertTrue(pings, "not pinged once the changes stopped; frames %r" % more)
        self.assertLessEqual(pings[0], latest_ping(self.ping), pings)
        self.assertIsNotNone(closed, "not dropped after the changes stopped and pings went unanswered")


class SpreadTest(LivenessCase):
    """Twenty sessions that go quiet together (--ws-ping-seconds 12 --ws-idle-seconds 30)."""

    ping = 12
    idle = 30
    sessions = 20

    def test_pings_of_sessions_quiet_together_are_spread(self):
        conns = [self.open_subscribed("s%d" % i) for i in range(self.sessions)]
        # Each speaks once, all in the same instant: their last traffic is the same.
        for i, ws in enumerate(conns):
            self.assertTrue(ws.send_json({"type": "ping", "id": i}))
        for ws in conns:
            self.assertEqual(ws.recv_json().get("type"), "pong")
        quiet_since = time.monotonic()
        arrivals = [None] * self.sessions

        def wait_ping(i, ws):
            end = quiet_since + latest_ping(self.ping) + 3
            while time.monotonic() < end:
                try:
                    op, payload = ws.recv_frame(min(2.0, max(end - time.monotonic(), 0.01)))
                except TimeoutError:
                    continue
                if op is None or op == OP_CLOSE:
                    return
                if op == OP_PING:
                    arrivals[i] = time.monotonic() - quiet_since
                    ws.send_frame(OP_PONG, payload)
                    return

        threads = [threading.Thread(target=wait_ping, args=(i, ws)) for i, ws in enumerate(conns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(latest_ping(self.ping) + 10)
        self.assertNotIn(None, arrivals, "some sessions were never pinged: %r" % arrivals)
        self.assertGreaterEqual(min(arrivals), self.ping - 1, arrivals)
        self.assertLessEqual(max(arrivals), latest_ping(self.ping), arrivals)
        self.assertGreaterEqual(max(arrivals) - min(arrivals), 1.0,
                                "all pings in one sweep: %r" % sorted(round(a, 2) for a in arrivals))


if __name__ == "__main__":
    unittest.main()

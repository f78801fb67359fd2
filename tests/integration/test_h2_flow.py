#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box tests of HTTP/2 flow control (RFC 9113 §5.2): the server never
sends more DATA than the client's window allows, and goes on once the client
opens it (docs/security.md, "HTTP/2").

The client is python3-h2 with a 1 KiB initial stream window (SETTINGS
INITIAL_WINDOW_SIZE) that it reopens slowly: it acknowledges what it
received only after a pause, so the server meets a closed window many times
per answer. python3-h2 refuses DATA beyond the window (FlowControlError) as
nghttp2 and browsers do; the test then fails with the frame that broke it.
Answers are several KiB: the customer's waypoints carry long route ids.
Only 127.0.0.1, the dev certificate verified, every wait has a deadline. Run:
    /usr/bin/python3 tests/integration/test_h2_flow.py
(ctest sets WAYPOINTD and WAYPOINTD_SOURCE_DIR.)
"""
import json
import os
import socket
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawws  # noqa: E402
import wpd  # noqa: E402

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions
    import h2.settings
except ImportError:  # python3-h2 (Debian) is needed
    h2 = None

WINDOW = 1024           # the client's initial stream window
ACK_PAUSE = 0.05        # the client waits this long before reopening its window
ANSWER_DEADLINE = 20.0  # a whole answer through a 1 KiB window, acknowledged slowly
EVENT_DEADLINE = 15.0   # SSE events after a commit
RATE_LIMITS_OFF = ("--rate-limit-addr", "0", "--rate-limit-key", "0")
ROUTE = "r" * 400       # makes each waypoint ~500 bytes of JSON
N_WAYPOINTS = 10        # the REST list's length (newest 10)


class FlowError(AssertionError):
    pass


class SlowH2:
    """One HTTP/2 connection whose streams open with a WINDOW-byte window,
    reopened ACK_PAUSE after each DATA frame is read."""

    def __init__(self, port, cafile, window=WINDOW):
        if h2 is None:
            raise unittest.SkipTest("python3-h2 is not installed (apt-get install python3-h2)")
        self.port = port
        self.sock = rawws.tls_connect(port, cafile, alpn=("h2",), timeout=5.0)
        if self.sock.selected_alpn_protocol() != "h2":
            proto = self.sock.selected_alpn_protocol()
            self.sock.close()
            raise FlowError("ALPN chose %r, not h2" % proto)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(cfg)
        self.conn.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window,
                                         h2.settings.SettingCodes.ENABLE_PUSH: 0})
        self.conn.initiate_connection()
        self.flush()
        self.unacked = []  # (stream id, flow-controlled length) read but not yet acknowledged
        self.data_frames = 0
        self.max_frame = 0

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.settimeout(5.0)
            self.sock.sendall(data)

    def request(self, path, bearer):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [(":method", "GET"), (":scheme", "https"),
                                     (":authority", "%s:%d" % (wpd.HOST, self.port)), (":path", path),
                                     ("authorization", "Bearer " + bearer)], end_stream=True)
        self.flush()
        return sid

    def events(self, timeout):
        """Read once (up to timeout) and return the h2 events; reopen the
        window for what was read before, after a pause. FlowError when the
        server broke flow control or the connection ended."""
        if self.unacked:
            time.sleep(ACK_PAUSE)
            for sid, n in self.unacked:
                try:
                    self.conn.acknowledge_received_data(n, sid)
                except h2.exceptions.StreamClosedError:
                    pass
            self.unacked = []
            self.flush()
        self.sock.settimeout(max(timeout, 0.01))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return []
        except (OSError, ssl.SSLError) as e:
            raise FlowError("connection failed: %r" % e) from None
        if not data:
            raise FlowError("the server closed the connection")
        try:
            evs = self.conn.receive_data(data)
        except h2.exceptions.FlowControlError as e:
            raise FlowError("the server sent DATA beyond the window: %s" % e) from None
        self.flush()
        for ev in evs:
            if isinstance(ev, h2.events.DataReceived):
                self.data_frames += 1
                self.max_frame = max(self.max_frame, ev.flow_controlled_length)
                if ev.flow_controlled_length:
                    self.unacked.append((ev.stream_id, ev.flow_controlled_length))
            elif isinstance(ev, h2.events.StreamReset):
                raise FlowError("stream %d reset with %r" % (ev.stream_id, ev.error_code))
            elif isinstance(ev, h2.events.ConnectionTerminated):
                raise FlowError("GOAWAY %r (%r)" % (ev.error_code, ev.additional_data))
        return evs

    def get(self, path, bearer, deadline=ANSWER_DEADLINE):
        """(status, body) of one GET, read through the slow window."""
        sid = self.request(path, bearer)
        status, body = None, b""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            for ev in self.events(end - time.monotonic()):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    status = int(dict(ev.headers)[":status"])
                elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    body += ev.data
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    return status, body
        raise FlowError("GET %s: no complete answer within %.0f s (status %r, %d bytes so far)" %
                        (path, deadline, status, len(body)))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def waypoint(i, customer="c1", status="PENDING"):
    return {"dc_id": "dc1", "id": "w-%s-%02d" % (customer, i), "customer_id": customer, "route_id": ROUTE,
            "status": status, "estimated_time_of_arrival": 1796000000000 + i, "waypoints_ahead": i,
            "waiting_time_seconds": 60}


# A DC whose snapshot is larger than an HTTP/2 connection's initial window.
BIG_DC = [dict(waypoint(i, customer="cb"), dc_id="big") for i in range(160)]


class H2FlowControlTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        sb = wpd.Sandbox(prefix="wpd-h2flow-")
        cls.addClassCleanup(sb.close)
        cls.sb = sb
        sb.insert("dcs", [{"id": "dc1", "name": "DC one"}])
        sb.insert("customers", [{"dc_id": "dc1", "id": "c1", "name": "Ann Smith"},
                                {"dc_id": "dc1", "id": "c2", "name": "Bob Jones"}])
        sb.insert("waypoints", [waypoint(i) for i in range(N_WAYPOINTS)])
        sb.insert("dcs", [{"id": "big", "name": "DC big"}])
        sb.insert("customers", [{"dc_id": "big", "id": "cb", "name": "Big"}])
        sb.insert("waypoints", BIG_DC)
        # ~200 KiB answers: a few streams' worth fills the socket buffers
        sb.insert("customers", [{"dc_id": "dc1", "id": "cl", "name": "Long routes"}])
        sb.sql("WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n < %d) "
               "INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, estimated_time_of_arrival, "
               "waypoints_ahead, waiting_time_seconds) SELECT 'dc1', 'w-cl-' || n, 'cl', printf('%%.*c', 20000, 'L'), "
               "'PENDING', 1796000000000 + n, n, 60 FROM i" % (N_WAYPOINTS - 1))
        cls.key = sb.key_create("all", all_dcs=True)
        cls.server = sb.server(threads=1, extra=RATE_LIMITS_OFF)

    def tearDown(self):
        self.assertTrue(self.server.alive(), "the server died; stderr: %s" % self.server.stderr()[-3000:])

    def client(self):
        c = SlowH2(self.server.port, self.sb.cert)
        self.addCleanup(c.close)
        return c

    def rest_expected(self):
        r = self.sb.curl(self.server, "/dcs/dc1/customers/c1/waypoints", bearer=self.key, http="1.1")
        self.assertEqual(r.code, 200, r)
        return r.body

    def test_rest_answer_larger_than_the_window(self):
        expected = self.rest_expected()
        self.assertGreater(len(expected), 3 * WINDOW, "the fixture must need several windows")
        c = self.client()
        status, body = c.get("/dcs/dc1/customers/c1/waypoints", self.key)
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(body, expected)
        self.assertEqual(len(json.loads(body)["waypoints"]), N_WAYPOINTS)
        self.assertLessEqual(c.max_frame, WINDOW)
        self.assertGreater(c.data_frames, 2, "the answer came in too few frames for a 1 KiB window")

    def test_several_answers_on_one_connection(self):
        """Streams one after another, each through its own 1 KiB window, and
        the connection's window (64 KiB, never enlarged) reopened as read."""
        expected = self.rest_expected()
        c = self.client()
        for i in range(20):  # ~100 KiB in all: beyond the connection's initial window
            status, body = c.get("/dcs/dc1/customers/c1/waypoints", self.key)
            self.assertEqual((status, body), (200, expected), "answer %d" % i)

    def test_sse_events_larger_than_the_window(self):
        expected = json.loads(self.rest_expected())["waypoints"]
        c = self.client()
        sid = c.request("/dcs/dc1/customers/c2/waypoints/events", self.key)
        buf = b""
        events = []
        status = None
        want = 8
        end = time.monotonic() + EVENT_DEADLINE
        wrote = False
        while time.monotonic() < end and len(events) < 1 + want:
            for ev in c.events(min(1.0, end - time.monotonic())):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    status = int(dict(ev.headers)[":status"])
                elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    buf += ev.data
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    self.fail("the event stream ended: %r" % buf[-300:])
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                data = [line[6:] for line in block.split(b"\n") if line.startswith(b"data: ")]
                if data:
                    events.append(json.loads(data[0]))
            if events and not wrote:
                # Subscribed: now several changes of ~500 bytes each, in one commit.
                self.assertEqual(status, 200)
                self.assertEqual(events[0]["type"], "subscribed")
                self.sb.insert("waypoints", [waypoint(i, customer="c2") for i in range(want)])
                wrote = True
        self.assertEqual(len(events), 1 + want, "events so far: %r" % [e.get("type") for e in events])
        changes = events[1:]
        self.assertEqual([e["type"] for e in changes], ["waypoint"] * want)
        self.assertEqual(sorted(e["waypoint"]["id"] for e in changes), ["w-c2-%02d" % i for i in range(want)])
        self.assertTrue(all(e["waypoint"]["route_id"] == ROUTE for e in changes))
        self.assertEqual([e["seq"] for e in changes], sorted(e["seq"] for e in changes))
        self.assertLessEqual(c.max_frame, WINDOW)
        # The stream stays usable: a REST answer on the same connection.
        status, body = c.get("/dcs/dc1/customers/c1/waypoints", self.key)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["waypoints"], expected)

    def test_sse_event_of_6_kb_with_large_windows(self):
        """An event stream over HTTP/2 with large windows: the `subscribed`
        event of ~6 KB (more than lws 4.1 hands the socket at once) arrives
        whole."""
        expected = json.loads(self.rest_expected())["waypoints"]
        c = SlowH2(self.server.port, self.sb.cert, window=1 << 20)
        self.addCleanup(c.close)
        sid = c.request("/dcs/dc1/customers/c1/waypoints/events", self.key)
        buf = b""
        end = time.monotonic() + EVENT_DEADLINE
        while time.monotonic() < end and b"\n\n" not in buf:
            for ev in c.events(min(1.0, end - time.monotonic())):
                if isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    buf += ev.data
        self.assertIn(b"\n\n", buf, "no whole event within %.0f s (%d bytes)" % (EVENT_DEADLINE, len(buf)))
        first = json.loads(buf.split(b"\n\n", 1)[0].split(b"data: ", 1)[1])
        self.assertEqual(first["type"], "subscribed")
        self.assertEqual(first["waypoints"], expected)
        self.assertGreater(len(json.dumps(first)), 4116)

    def ws_first_message(self, c, sub):
        """Open /live over HTTP/2 (RFC 8441) on c, send sub, and read the
        first message: (message, [(opcode, fin, length) of each frame])."""
        end = time.monotonic() + 5.0
        while not c.conn.remote_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL) and \
                time.monotonic() < end:
            c.events(0.5)
        self.assertTrue(c.conn.remote_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL),
                        "the server does not offer RFC 8441 WebSockets over HTTP/2")
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
                                  (":authority", "%s:%d" % (wpd.HOST, self.server.port)), (":path", "/live"),
                                  ("sec-websocket-version", "13"), ("sec-websocket-protocol", "waypoints.v1"),
                                  ("authorization", "Bearer " + self.key)])
        c.flush()
        sent = False
        raw, messages, frames, partial = b"", [], [], b""
        end = time.monotonic() + ANSWER_DEADLINE
        while time.monotonic() < end and not messages:
            for ev in c.events(min(1.0, end - time.monotonic())):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    self.assertEqual(dict(ev.headers)[":status"], "200", ev.headers)
                    c.conn.send_data(sid, rawws.build_frame(rawws.OP_TEXT, json.dumps(sub)))
                    c.flush()
                    sent = True
                elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    raw += ev.data
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    self.fail("the WebSocket stream ended")
            while len(raw) >= 2:  # server frames: unmasked
                n, hl = raw[1] & 0x7F, 2
                if n == 126:
                    n, hl = (int.from_bytes(raw[2:4], "big"), 4) if len(raw) >= 4 else (1 << 62, 4)
                elif n == 127:
                    n, hl = (int.from_bytes(raw[2:10], "big"), 10) if len(raw) >= 10 else (1 << 62, 10)
                if len(raw) < hl + n:
                    break
                fin, op, payload, raw = raw[0] & 0x80, raw[0] & 0x0F, raw[hl:hl + n], raw[hl + n:]
                frames.append((op, bool(fin), n))
                if op in (rawws.OP_TEXT, rawws.OP_CONT):
                    partial += payload
                    if fin:
                        messages.append(json.loads(partial))
                        partial = b""
        self.assertTrue(sent, "the WebSocket stream was never accepted")
        self.assertTrue(messages, "no complete message within %.0f s; %d frames, %d bytes pending" %
                        (ANSWER_DEADLINE, len(frames), len(partial) + len(raw)))
        return messages[0], frames

    def test_websocket_over_h2_message_of_6_kb(self):
        """/live over HTTP/2 with large windows: a `subscribed` message of
        ~6 KB (more than lws 4.1 hands the socket at once) arrives; it used
        to stay in lws's buffer for good."""
        expected = json.loads(self.rest_expected())["waypoints"]
        c = SlowH2(self.server.port, self.sb.cert, window=1 << 20)
        self.addCleanup(c.close)
        msg, frames = self.ws_first_message(c, {"type": "subscribe", "id": "s1", "dc_id": "dc1",
                                                "customer_id": "c1"})
        self.assertEqual((msg["type"], msg["id"]), ("subscribed", "s1"), str(msg)[:300])
        self.assertEqual(msg["waypoints"], expected)
        self.assertGreater(len(json.dumps(msg)), 4116)

    def test_websocket_over_h2_message_larger_than_the_connection_window(self):
        """/live over HTTP/2: a DC snapshot of ~90 KiB, more than the
        connection's 64 KiB window (reopened slowly), arrives whole, in
        fragments that each fit the window. (The stream's own window is 1 MiB
        here: lws 4.1 shows a WebSocket stream's window to no one;
        docs/security.md.)"""
        c = SlowH2(self.server.port, self.sb.cert, window=1 << 20)
        self.addCleanup(c.close)
        msg, frames = self.ws_first_message(c, {"type": "subscribe", "id": "s1", "dc_id": "big"})
        self.assertEqual((msg["type"], msg["id"]), ("subscribed", "s1"), str(msg)[:300])
        self.assertEqual([w["id"] for w in msg["waypoints"]], [w["id"] for w in reversed(BIG_DC)])
        self.assertGreater(len(json.dumps(msg)), 65535)
        self.assertGreater(len(frames), 1, "a message larger than the window came in one frame")
        self.assertLessEqual(c.max_frame, 16384)

    def test_many_answers_to_a_client_that_stops_reading(self):
        """A client with a 4 KiB receive buffer asks for many large answers
        on one HTTP/2 connection and reads nothing for 2 s: the server's
        socket fills, and the rest must follow once the socket takes it
        again, in order, nothing lost or doubled; other clients are served
        meanwhile."""
        path = "/dcs/dc1/customers/cl/waypoints"
        r = self.sb.curl(self.server, path, bearer=self.key, http="1.1")
        self.assertEqual(r.code, 200, r)
        expected = r.body
        sock = rawws.tls_connect(self.server.port, self.sb.cert, alpn=("h2",), timeout=5.0, rcvbuf=4096)
        self.addCleanup(sock.close)
        self.assertEqual(sock.selected_alpn_protocol(), "h2")
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        conn = h2.connection.H2Connection(cfg)
        conn.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20,
                                         h2.settings.SettingCodes.ENABLE_PUSH: 0})
        conn.initiate_connection()
        conn.increment_flow_control_window(64 << 20)
        sock.sendall(conn.data_to_send())
        end = time.monotonic() + 5.0
        while time.monotonic() < end and not any(isinstance(ev, h2.events.RemoteSettingsChanged)
                                                for ev in conn.receive_data(sock.recv(65536))):
            pass
        sock.sendall(conn.data_to_send())
        n = min(100, conn.remote_settings.max_concurrent_streams)
        sids = []
        for _ in range(n):
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, [(":method", "GET"), (":scheme", "https"),
                                    (":authority", "%s:%d" % (wpd.HOST, self.server.port)),
                                    (":path", path),
                                    ("authorization", "Bearer " + self.key)], end_stream=True)
            sids.append(sid)
        sock.sendall(conn.data_to_send())
        time.sleep(2.0)  # read nothing: the answers (n x 200 KiB) pile up at the server
        self.assertEqual(self.sb.curl(self.server, "/dcs/dc1/customers/c1", bearer=self.key, http="2").code, 200,
                         "another client was not served while this one read nothing")
        status, bodies, ended = {}, {sid: b"" for sid in sids}, set()
        end = time.monotonic() + ANSWER_DEADLINE
        while len(ended) < n and time.monotonic() < end:
            sock.settimeout(max(0.01, min(1.0, end - time.monotonic())))
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            self.assertTrue(data, "the server closed the connection after %d of %d answers" % (len(ended), n))
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    status[ev.stream_id] = int(dict(ev.headers)[":status"])
                elif isinstance(ev, h2.events.DataReceived):
                    bodies[ev.stream_id] += ev.data
                    if ev.flow_controlled_length:
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    ended.add(ev.stream_id)
                elif isinstance(ev, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    self.fail("the server ended a stream or the connection: %r" % ev)
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
        self.assertEqual(len(ended), n, "%d of %d answers complete within %.0f s" % (len(ended), n, ANSWER_DEADLINE))
        self.assertEqual(set(status.values()), {200})
        self.assertGreater(n * len(expected), 2 << 20, "too little to fill the socket buffers")
        for sid in sids:
            self.assertEqual(bodies[sid], expected, "stream %d" % sid)


if __name__ == "__main__":
    unittest.main(verbosity=2)

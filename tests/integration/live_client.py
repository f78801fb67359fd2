# SPDX-License-Identifier: MIT
"""A small client for waypointd's live channel (CONTRACT.md, "Live channel").

Built on python3-websockets (10.x, asyncio) and wpd.py. Every connection
verifies the server against the sandbox's dev certificate (never disabled),
talks only to 127.0.0.1, and every wait has a deadline (at least 2 s).

    live = await Live.open(server, cafile, key=KEY)            # Authorization: Bearer
    live = await Live.open(server, cafile, access_token=TOKEN)  # ?access_token=
    reply = await live.subscribe("dc1", "c1", id="s1")
    msg = await live.recv()
    before = await live.ping()          # messages that arrived before the pong
    code = await refused(server, cafile, key="bad")   # the HTTP status of a refused upgrade
"""
import asyncio
import base64
import json
import os
import socket
import urllib.parse

import websockets
import websockets.exceptions

import wpd

PROTOCOL = "waypoints.v1"
PATH = "/live"
# Deadlines in seconds; none tighter than 2 s.
RECV_DEADLINE = 5.0
OPEN_DEADLINE = 10.0
CLOSE_DEADLINE = 3.0
PUSH_TYPES = ("waypoint", "waypoint_removed")

_MISSING = object()


class LiveError(AssertionError):
    """The live channel did not do what a test waited for; says what came instead."""


def ws_url(server, path=PATH, access_token=None):
    url = server.ws_url + path
    if access_token is not None:
        url += ("&" if "?" in url else "?") + "access_token=" + urllib.parse.quote(access_token, safe="")
    return url


def _subprotocols(subprotocol):
    """True: ours; False/None: none; a list: those, in that order."""
    if subprotocol is True:
        return [PROTOCOL]
    return list(subprotocol) if subprotocol else None


def _connect(server, cafile, key=None, access_token=None, path=PATH, subprotocol=True, headers=None,
             open_timeout=OPEN_DEADLINE):
    extra = dict(headers or {})
    if key is not None:
        extra["Authorization"] = "Bearer " + key
    return websockets.connect(ws_url(server, path, access_token), ssl=wpd.ssl_context(cafile),
                              subprotocols=_subprotocols(subprotocol), extra_headers=extra,
                              open_timeout=max(open_timeout, 2.0), close_timeout=CLOSE_DEADLINE,
                              max_size=64 * 1024 * 1024, max_queue=None)


def raw_upgrade_status_line(server, cafile, path=PATH, key=None, access_token=None, subprotocol=True,
                            headers=None, timeout=5.0):
    """Send an upgrade request by hand and return the response's status line
    (for diagnosing a response websockets cannot parse)."""
    lines = ["GET %s HTTP/1.1" % ws_url(server, path, access_token)[len(server.ws_url):],
             "Host: %s:%d" % (wpd.HOST, server.port), "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)).decode(), "Sec-WebSocket-Version: 13"]
    if subprotocol:
        lines.append("Sec-WebSocket-Protocol: " + ", ".join(_subprotocols(subprotocol)))
    if key is not None:
        lines.append("Authorization: Bearer " + key)
    lines += ["%s: %s" % kv for kv in (headers or {}).items()]
    ctx = wpd.ssl_context(cafile)
    ctx.set_alpn_protocols(["http/1.1"])
    with socket.create_connection((wpd.HOST, server.port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=wpd.HOST) as s:
            s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            data = b""
            while b"\r\n" not in data and len(data) < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    return data.split(b"\r\n", 1)[0].decode("iso-8859-1")


async def refused(server, cafile, **kw):
    """Try an upgrade that must be refused; the HTTP status websockets read
    from the refusal. Raises LiveError if the upgrade succeeded, or if the
    refusal is not an HTTP response websockets can read (with the status
    line the server sent)."""
    try:
        ws = await _connect(server, cafile, **kw)
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code
    except websockets.exceptions.InvalidMessage as e:
        try:
            line = await asyncio.to_thread(raw_upgrade_status_line, server, cafile, **kw)
        except OSError as probe:
            line = "(probe failed: %s)" % probe
        raise LiveError("the refusal is not an HTTP response a WebSocket client can read (%s: %s); the server's "
                        "status line is %r (RFC 6455 section 4.1 wants HTTP/1.1)" % (e, e.__cause__, line)) from None
    await ws.close()
    raise LiveError("upgrade %r was accepted (subprotocol %r), expected a refusal" %
                    ({k: v for k, v in kw.items() if k not in ("key", "access_token")}, ws.subprotocol))


def pushes(messages):
    return [m for m in messages if m.get("type") in PUSH_TYPES]


class Live:
    """One open WebSocket on /live; every received message is also kept in .log."""

    def __init__(self, ws):
        self.ws = ws
        self.log = []

    @classmethod
    async def open(cls, server, cafile, key=None, access_token=None, **kw):
        ws = await _connect(server, cafile, key=key, access_token=access_token, **kw)
        if ws.subprotocol != PROTOCOL:
            await ws.close()
            raise LiveError("server chose subprotocol %r, not %r" % (ws.subprotocol, PROTOCOL))
        return cls(ws)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    # -- sending -----------------------------------------------------------

    async def send(self, obj):
        await self.ws.send(json.dumps(obj))

    async def send_raw(self, data):
        """str: a text frame; bytes: a binary frame."""
        await self.ws.send(data)

    # -- receiving ---------------------------------------------------------

    def _history(self):
        tail = self.log[-8:]
        return "%d message(s) so far, last ones: %s" % (len(self.log), json.dumps(tail)[:1500])

    async def recv(self, timeout=RECV_DEADLINE, what="a message"):
        """The next message, parsed; LiveError on a deadline, a close, a
        binary frame or text that is not a JSON object."""
        timeout = max(timeout, 2.0)
        try:
            data = await asyncio.wait_for(self.ws.recv(), timeout)
        except asyncio.TimeoutError:
            raise LiveError("waited %.1f s for %s; %s" % (timeout, what, self._history())) from None
        except websockets.exceptions.ConnectionClosed as e:
            raise LiveError("connection closed (code %r, reason %r) while waiting for %s; %s" %
                            (e.code, e.reason, what, self._history())) from None
        if not isinstance(data, str):
            raise LiveError("binary frame %r while waiting for %s" % (data[:100], what))
        try:
            msg = json.loads(data)
        except ValueError:
            raise LiveError("not JSON: %r" % data[:300]) from None
        if not isinstance(msg, dict):
            raise LiveError("not a JSON object: %r" % data[:300])
        self.log.append(msg)
        return msg

    async def expect(self, type_, timeout=RECV_DEADLINE):
        """The next message, which must be of type type_."""
        msg = await self.recv(timeout, what="a %r message" % type_)
        if msg.get("type") != type_:
            raise LiveError("expected a %r message, got %s" % (type_, json.dumps(msg)[:1500]))
        return msg

    async def collect(self, n, timeout=RECV_DEADLINE):
        """The next n messages, all within one deadline."""
        loop = asyncio.get_running_loop()
        end = loop.time() + max(timeout, 2.0)
        out = []
        for _ in range(n):
            left = end - loop.time()
            if left <= 0:
                raise LiveError("got %d of %d messages within %.1f s; %s" % (len(out), n, timeout, self._history()))
            try:
                data = await asyncio.wait_for(self.ws.recv(), left)
            except asyncio.TimeoutError:
                raise LiveError("got %d of %d messages within %.1f s; %s" %
                                (len(out), n, timeout, self._history())) from None
            except websockets.exceptions.ConnectionClosed as e:
                raise LiveError("connection closed (code %r) after %d of %d messages; %s" %
                                (e.code, len(out), n, self._history())) from None
            msg = json.loads(data)
            self.log.append(msg)
            out.append(msg)
        return out

    async def until(self, predicate, timeout=RECV_DEADLINE, what="a matching message", limit=100000):
        """Receive until predicate(msg); (that message, the ones before it)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + max(timeout, 2.0)
        before = []
        for _ in range(limit):
            left = end - loop.time()
            if left <= 0:
                break
            msg = await self.recv(left, what=what)
            if predicate(msg):
                return msg, before
            before.append(msg)
        raise LiveError("no %s within %.1f s; %s" % (what, timeout, self._history()))

    async def reply(self, id_, timeout=RECV_DEADLINE):
        """The reply (any type but a push) to the request with id id_, and the
        pushes that came before it."""
        return await self.until(lambda m: m.get("type") not in PUSH_TYPES and m.get("id") == id_, timeout,
                                what="the reply to request id %r" % (id_,))

    # -- requests ----------------------------------------------------------

    async def subscribe(self, dc_id, customer_id=_MISSING, id="sub", since=None, timeout=RECV_DEADLINE):
        """Send a subscribe; the reply (subscribed or error). Pushes that
        arrive first are kept in .log (subscribe on a quiet connection)."""
        msg = {"type": "subscribe", "id": id, "dc_id": dc_id}
        if customer_id is not _MISSING:
            msg["customer_id"] = customer_id
        if since is not None:
            msg["since"] = since
        await self.send(msg)
        reply, _ = await self.reply(id, timeout)
        return reply

    async def unsubscribe(self, dc_id, customer_id=_MISSING, id="unsub", timeout=RECV_DEADLINE):
        msg = {"type": "unsubscribe", "id": id, "dc_id": dc_id}
        if customer_id is not _MISSING:
            msg["customer_id"] = customer_id
        await self.send(msg)
        return await self.reply(id, timeout)

    async def ping(self, id="ping", timeout=RECV_DEADLINE):
        """Send a ping; the messages that arrived before its pong."""
        await self.send({"type": "ping", "id": id})
        pong, before = await self.until(lambda m: m.get("type") == "pong", timeout, what="a pong")
        if pong.get("id") != id:
            raise LiveError("pong with id %r, sent %r" % (pong.get("id"), id))
        return before

    # -- closing -----------------------------------------------------------

    async def closed(self, timeout=RECV_DEADLINE):
        """Wait until the server closes the connection; (messages received
        before, close code). LiveError if it stays open past the deadline."""
        loop = asyncio.get_running_loop()
        end = loop.time() + max(timeout, 2.0)
        before = []
        for _ in range(100000):
            left = end - loop.time()
            if left <= 0:
                break
            try:
                data = await asyncio.wait_for(self.ws.recv(), left)
            except asyncio.TimeoutError:
                break
            except websockets.exceptions.ConnectionClosed as e:
                return before, e.code
            msg = json.loads(data) if isinstance(data, str) else data
            self.log.append(msg)
            before.append(msg)
        raise LiveError("connection still open after %.1f s; received %s" % (timeout, json.dumps(before)[:1500]))

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), CLOSE_DEADLINE + 2)
        except (asyncio.TimeoutError, OSError, websockets.exceptions.WebSocketException):
            self.ws.transport.abort()

# SPDX-License-Identifier: MIT
"""A raw WebSocket client for hostile tests (RFC 6455 by hand).

python3-websockets refuses to send broken frames, so this one builds every
frame itself: unmasked frames, reserved bits, unknown opcodes, oversized
control frames, fragment floods. Standard library only; TLS always verifies
the sandbox's dev certificate; only 127.0.0.1; every read has a deadline.

    ws = RawWS.open(server, cafile, key=KEY)          # 101 or RawWSError
    ws.send_text('{"type":"ping","id":1}')
    ws.send_frame(OP_TEXT, b"...", mask=False)        # a broken frame
    op, payload = ws.recv_frame()                     # or (None, b"") at EOF
    code = ws.wait_closed()                           # the close code, or None for a TCP close
    status, headers, body = upgrade(server, cafile, key=KEY, origin="https://evil.example")
"""
import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import time

import wpd

PROTOCOL = "waypoints.v1"
PATH = "/live"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

# Deadlines in seconds; none tighter than 2 s.
IO_DEADLINE = 5.0


class RawWSError(AssertionError):
    """The raw client could not do what a test asked; the message says what came instead."""


def tls_connect(port, cafile, alpn=("http/1.1",), timeout=IO_DEADLINE, rcvbuf=None, source=None):
    """A TLS socket to 127.0.0.1:port verified against cafile, with ALPN.
    rcvbuf: a fixed, small receive buffer (set before connecting, so the
    kernel does not grow it): a client that reads slowly, or not at all,
    then holds back the server within a few KiB. source: the client's own
    address (e.g. "127.0.0.2", another client to the server)."""
    ctx = wpd.ssl_context(cafile)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source:
            raw.bind((source, 0))
        raw.settimeout(max(timeout, 2.0))
        raw.connect((wpd.HOST, port))
    except BaseException:
        raw.close()
        raise
    try:
        return ctx.wrap_socket(raw, server_hostname=wpd.HOST)
    except BaseException:
        raw.close()
        raise


def build_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """One frame's bytes. rsv: the three reserved bits as a number 0..7.
    length: the length to announce (default len(payload)), to lie with."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    head = bytearray([(0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)])
    mbit = 0x80 if mask else 0
    if n < 126:
        head.append(mbit | n)
    elif n < 65536:
        head.append(mbit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(mbit | 127)
        head += struct.pack("!Q", n)
    if not mask:
        return bytes(head) + payload
    key = os.urandom(4)
    return bytes(head) + key + mask_bytes(payload, key)


def mask_bytes(payload, key):
    """XOR payload with the 4-byte key, fast enough for megabytes."""
    if not payload:
        return b""
    reps = (len(payload) + 3) // 4
    k = int.from_bytes((key * reps)[:len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ k).to_bytes(len(payload), "big")


def _request_lines(port, path, key, access_token, protocol, origin, headers, ws_key):
    target = path
    if access_token is not None:
        target += ("&" if "?" in target else "?") + "access_token=" + access_token
    lines = ["GET %s HTTP/1.1" % target, "Host: %s:%d" % (wpd.HOST, port), "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: " + ws_key, "Sec-WebSocket-Version: 13"]
    if protocol:
        lines.append("Sec-WebSocket-Protocol: " + protocol)
    if key is not None:
        lines.append("Authorization: Bearer " + key)
    if origin is not None:
        lines.append("Origin: " + origin)
    lines += ["%s: %s" % kv for kv in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_head(sock, deadline):
    """Read until the end of an HTTP head; (status, headers dict, rest bytes).
    status is 0 when the connection closed before a status line."""
    data = b""
    end = time.monotonic() + max(deadline, 2.0)
    while b"\r\n\r\n" not in data:
        left = end - time.monotonic()
        if left <= 0:
            raise RawWSError("no complete HTTP head within %.1f s; got %r" % (deadline, data[:300]))
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
            chunk = b""
        except socket.timeout:
            continue
        if not chunk:
            if not data:
                return 0, {}, b""
            break
        data += chunk
        if len(data) > 65536:
            raise RawWSError("HTTP head longer than 64 KiB: %r" % data[:300])
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    hdrs = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            k, v = k.strip().lower(), v.strip()
            hdrs[k] = hdrs[k] + ", " + v if k in hdrs else v
    return status, hdrs, rest


def _read_body(sock, hdrs, rest, deadline):
    """The body of a refusal (Content-Length, else up to EOF), best effort."""
    want = int(hdrs.get("content-length", "-1")) if hdrs.get("content-length", "").isdigit() else -1
    end = time.monotonic() + max(deadline, 2.0)
    body = rest
    while (want < 0 or len(body) < want) and time.monotonic() < end and len(body) < 65536:
        sock.settimeout(max(end - time.monotonic(), 0.1))
        try:
            chunk = sock.recv(65536)
        except (OSError, ssl.SSLError):
            break
        if not chunk:
            break
        body += chunk
    return body if want < 0 else body[:want]


def upgrade(server, cafile, key=None, access_token=None, path=PATH, protocol=PROTOCOL, origin=None, headers=None,
            timeout=IO_DEADLINE, source=None):
    """Send one upgrade request; (status, headers, body) of the answer, the
    connection closed afterwards. status 0: closed without an answer."""
    with tls_connect(server.port, cafile, timeout=timeout, source=source) as s:
        ws_key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(_request_lines(server.port, path, key, access_token, protocol, origin, headers, ws_key))
        status, hdrs, rest = _read_head(s, timeout)
        body = b"" if status in (0, 101) else _read_body(s, hdrs, rest, timeout)
        return status, hdrs, body


class RawWS:
    """One WebSocket connection driven frame by frame."""

    def __init__(self, sock, leftover=b""):
        self.sock = sock
        self.buf = bytearray(leftover)
        self.closed = False
        self.flags = set()
        self.skipped = 0

    @classmethod
    def open(cls, server, cafile, key=None, access_token=None, path=PATH, protocol=PROTOCOL, origin=None,
             headers=None, timeout=IO_DEADLINE, rcvbuf=None, source=None):
        """Upgrade; RawWSError unless the answer is 101 with our subprotocol
        and the right Sec-WebSocket-Accept."""
        sock = tls_connect(server.port, cafile, timeout=timeout, rcvbuf=rcvbuf, source=source)
        try:
            ws_key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall(_request_lines(server.port, path, key, access_token, protocol, origin, headers, ws_key))
            status, hdrs, rest = _read_head(sock, timeout)
            if status != 101:
                body = _read_body(sock, hdrs, rest, 2.0) if status else b""
                raise RawWSError("upgrade answered %s %r, expected 101" % (status or "nothing (closed)", body[:300]))
            accept = base64.b64encode(hashlib.sha1((ws_key + GUID).encode()).digest()).decode()
            if hdrs.get("sec-websocket-accept") != accept:
                raise RawWSError("bad Sec-WebSocket-Accept %r" % hdrs.get("sec-websocket-accept"))
            if protocol and hdrs.get("sec-websocket-protocol") != PROTOCOL:
                raise RawWSError("subprotocol %r, expected %r" % (hdrs.get("sec-websocket-protocol"), PROTOCOL))
        except BaseException:
            sock.close()
            raise
        return cls(sock, rest)

    # -- sending ---------------------------------------------------------

    def send_bytes(self, data):
        """Raw bytes on the wire; False if the server already closed."""
        try:
            self.sock.settimeout(IO_DEADLINE)
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout, OSError):
            return False

    def send_stream(self, data, chunk=65536, deadline=30.0):
        """Send data in chunks, reading what the server sends in between, and
        stop as soon as it closes (a close frame or EOF): a server that hangs
        up mid-message does not turn into a reset that swallows its close
        frame. Returns the number of bytes sent."""
        end = time.monotonic() + max(deadline, 2.0)
        sent = 0
        while sent < len(data) and time.monotonic() < end:
            if not self.send_bytes(data[sent:sent + chunk]):
                break
            sent += min(chunk, len(data) - sent)
            if self._poll() or OP_CLOSE_SEEN in self.flags:
                break
        return sent

    def _poll(self):
        """Read whatever is already there without waiting; True at EOF."""
        self.sock.settimeout(0.0)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    self.closed = True
                    return True
                self.buf += chunk
                if _has_close_frame(self.buf):
                    self.flags.add(OP_CLOSE_SEEN)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, socket.timeout):
            return False
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            self.closed = True
            return True
        finally:
            self.sock.settimeout(IO_DEADLINE)

    def send_frame(self, opcode, payload=b"", **kw):
        return self.send_bytes(build_frame(opcode, payload, **kw))

    def send_text(self, text):
        return self.send_frame(OP_TEXT, text.encode() if isinstance(text, str) else text)

    def send_json(self, obj):
        return self.send_text(json.dumps(obj))

    # -- receiving -------------------------------------------------------

    def _fill(self, n, end):
        """Read until the buffer holds n bytes; False at EOF or deadline."""
        while len(self.buf) < n:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError from None
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
                chunk = b""
            if not chunk:
                self.closed = True
                return False
            self.buf += chunk
        return True

    def recv_frame(self, timeout=IO_DEADLINE):
        """The next frame as (opcode, payload); (None, b"") when the TCP
        connection ended. TimeoutError past the deadline."""
        end = time.monotonic() + max(timeout, 2.0)
        if not self._fill(2, end):
            return None, b""
        b0, b1 = self.buf[0], self.buf[1]
        n, pos = b1 & 0x7F, 2
        if n == 126:
            if not self._fill(4, end):
                return None, b""
            n, pos = struct.unpack("!H", bytes(self.buf[2:4]))[0], 4
        elif n == 127:
            if not self._fill(10, end):
                return None, b""
            n, pos = struct.unpack("!Q", bytes(self.buf[2:10]))[0], 10
        if b1 & 0x80:
            raise RawWSError("the server sent a masked frame")
        if not self._fill(pos + n, end):
            return None, b""
        payload = bytes(self.buf[pos:pos + n])
        del self.buf[:pos + n]
        return b0 & 0x0F, payload

    def recv_json(self, timeout=IO_DEADLINE):
        """The next text message, parsed (pings are answered, pongs skipped)."""
        end = time.monotonic() + max(timeout, 2.0)
        while True:
            op, payload = self.recv_frame(max(end - time.monotonic(), 0.01))
            if op is None:
                raise RawWSError("connection closed while waiting for a message")
            if op == OP_CLOSE:
                raise RawWSError("close frame %s while waiting for a message" % (close_code(payload),))
            if op == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            if op == OP_TEXT:
                return json.loads(payload.decode("utf-8"))
            if op == OP_PONG:
                continue
            raise RawWSError("unexpected frame opcode %d" % op)

    def wait_closed(self, timeout=IO_DEADLINE):
        """Read until the server ends the connection. Returns the close
        frame's code (1005 when it had none; None when the TCP connection
        just ended); RawWSError if it is still open after the deadline. Data
        frames that arrive first are skipped: counted in .skipped, the first
        few kept in .seen as (opcode, payload)."""
        end = time.monotonic() + max(timeout, 2.0)
        self.skipped = 0
        self.seen = []
        for _ in range(10000000):
            try:
                op, payload = self.recv_frame(max(end - time.monotonic(), 0.01))
            except TimeoutError:
                raise RawWSError("connection still open after %.1f s (received %d frame(s) meanwhile, first: %r)" %
                                 (timeout, self.skipped, self.seen)) from None
            if op is None:
                return None
            if op == OP_CLOSE:
                code = close_code(payload) or 1005
                self.send_bytes(build_frame(OP_CLOSE, payload[:2]))
                # The server then closes TCP; do not wait for it.
                return code
            self.skipped += 1
            if len(self.seen) < 5:
                self.seen.append((op, payload[:200]))
        raise RawWSError("too many frames before the close")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


OP_CLOSE_SEEN = "close-seen"


def _has_close_frame(buf):
    """Does buf hold a whole close frame among complete unmasked frames?"""
    pos = 0
    while pos + 2 <= len(buf):
        op, n, hdr = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, 2
        if n == 126:
            if pos + 4 > len(buf):
                return False
            n, hdr = struct.unpack("!H", bytes(buf[pos + 2:pos + 4]))[0], 4
        elif n == 127:
            if pos + 10 > len(buf):
                return False
            n, hdr = struct.unpack("!Q", bytes(buf[pos + 2:pos + 10]))[0], 10
        if pos + hdr + n > len(buf):
            return False
        if op == OP_CLOSE:
            return True
        pos += hdr + n
    return False


def close_code(payload):
    """The status code in a close frame's payload, or None."""
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None

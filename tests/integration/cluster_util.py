# SPDX-License-Identifier: MIT
"""Helpers for the multi-node black-box tests (test_relay.py, test_cluster.py):
a real redis-server on loopback, a minimal RESP client, a RESP-aware TCP
proxy that can hold an edge behind or cut it off, and haproxy in TCP mode.
Python standard library only; every wait has a deadline; loopback only."""
import os
import socket
import subprocess
import threading
import time

import wpd

DEADLINE = 15 * wpd.SLOW


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Resp:
    """The few RESP commands the tests need."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("redis closed")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise ValueError("bad RESP %r" % line)

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._read()


def redis_cmd(port, *args):
    """One command on a connection of its own."""
    c = Resp(port)
    try:
        return c.cmd(*args)
    finally:
        c.close()


class Redis:
    def __init__(self, directory, port=None, aof=True, password=None):
        self.dir = directory
        self.port = port or free_port()
        self.aof = aof
        self.password = password  # requirepass; AUTH before every check here
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.aof else "no", "--appendfsync", "always", "--dir", self.dir,
             "--maxmemory-policy", "noeviction", "--stream-node-max-entries", "2"]
            + (["--requirepass", self.password] if self.password else []),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                c = Resp(self.port)
                if self.password:
                    c.cmd("AUTH", self.password)
                # PING answers -LOADING while the AOF is read: wait for PONG.
                if c.cmd("PING") == "PONG":
                    c.close()
                    return
                c.close()
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("redis-server did not start")
            time.sleep(0.05)

    def kill(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait(timeout=DEADLINE)
            self.proc = None

    def wipe(self):
        for root, _dirs, files in os.walk(self.dir):
            for f in files:
                if f.startswith("appendonly") or f.endswith(".aof") or f.endswith(".rdb") or f.endswith(".manifest"):
                    os.remove(os.path.join(root, f))
        d = os.path.join(self.dir, "appendonlydir")
        if os.path.isdir(d):
            wpd.remove_tree(d)


# --------------------------------------------------------------------------
# A RESP-aware proxy in front of Redis, for one edge


def _read_exact(f, n):
    data = f.read(n)
    if data is None or len(data) < n:
        raise ConnectionError("closed")
    return data


def _read_line(f):
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("closed")
    return line


def read_reply_raw(f):
    """One whole RESP reply from a binary file object, as bytes."""
    line = _read_line(f)
    t = line[:1]
    if t in (b"+", b"-", b":"):
        return line
    n = int(line[1:-2])
    if t == b"$":
        return line if n < 0 else line + _read_exact(f, n + 2)
    if t == b"*":
        out = [line]
        for _ in range(max(n, 0)):
            out.append(read_reply_raw(f))
        return b"".join(out)
    raise ValueError("bad RESP %r" % line)


def read_request_raw(f):
    """One client command (an array of bulk strings): (bytes, [args])."""
    line = _read_line(f)
    if line[:1] != b"*":
        raise ValueError("inline command %r" % line)
    raw, args = [line], []
    for _ in range(int(line[1:-2])):
        head = _read_line(f)
        n = int(head[1:-2])
        body = _read_exact(f, n + 2)
        raw += [head, body]
        args.append(body[:-2])
    return b"".join(raw), args


class RedisProxy:
    """A proxy between one edge and Redis. Modes:
    - "pass": every command forwarded;
    - "hold": every XREAD answered "nothing new" after its BLOCK time (at
      most 1 s), everything else forwarded: the edge reads the engine's head
      and stays in contact but applies nothing (an edge held behind);
    - "cut": nothing answered, connections accepted and left hanging (the
      edge cut off from Redis by the network)."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.mode = "pass"
        self.head_seq = -1  # the change seq of the newest wpd:head answer forwarded
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.closed = False
        self.socks = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def close(self):
        self.closed = True
        try:
            self.lsock.close()
        except OSError:
            pass
        self._drop_all()

    def _drop_all(self):
        with self.lock:
            for s in self.socks:
                try:
                    s.close()
                except OSError:
                    pass
            self.socks = []

    def retarget(self, upstream_port):
        """A failover: every connection through the proxy is cut, and new
        ones reach upstream_port (what Sentinel or a virtual address does)."""
        self.upstream = upstream_port
        self._drop_all()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.socks.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        up = None
        try:
            rf = c.makefile("rb")
            uf = None
            while not self.closed:
                raw, args = read_request_raw(rf)
                while self.mode == "cut" and not self.closed:
                    time.sleep(0.05)
                if self.mode == "hold" and args and args[0].upper() == b"XREAD":
                    block = 0
                    for i, a in enumerate(args):
                        if a.upper() == b"BLOCK" and i + 1 < len(args):
                            block = int(args[i + 1])
                    time.sleep(min(block, 1000) / 1000.0)
                    c.sendall(b"*-1\r\n")
                    continue
                if up is None:
                    up = socket.create_connection(("127.0.0.1", self.upstream), timeout=30)
                    with self.lock:
                        self.socks.append(up)
                    uf = up.makefile("rb")
                up.sendall(raw)
                reply = read_reply_raw(uf)
                if len(args) == 2 and args[0].upper() == b"GET" and args[1] == b"wpd:head" and reply[:1] == b"$":
                    head = reply.split(b"\r\n")[1].split(b"-")[0]
                    if head.isdigit():
                        self.head_seq = max(self.head_seq, int(head))
                c.sendall(reply)
        except (OSError, ValueError, ConnectionError):
            pass
        finally:
            for s in (c, up):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass


# --------------------------------------------------------------------------
# haproxy in front of the edges

HAPROXY_CFG = """\
global
    maxconn 4096

defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    retries 2
    option redispatch

frontend live
    bind 127.0.0.1:{port}
    default_backend edges

backend edges
    balance leastconn
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    default-server inter 1s fall 2 rise 2
{servers}
"""


class Haproxy:
    """haproxy in TCP mode (TLS passes through to the edges), leastconn,
    each edge checked on its metrics port's /healthz. edges: a list of
    (name, port, metrics_port)."""

    def __init__(self, directory, edges, port=None):
        self.dir = directory
        self.port = port or free_port()
        self.cfg = os.path.join(directory, "haproxy.cfg")
        servers = "".join("    server %s 127.0.0.1:%d check port %d\n" % e for e in edges)
        with open(self.cfg, "w") as f:
            f.write(HAPROXY_CFG.format(port=self.port, servers=servers))
        self.proc = None
        self.log = None

    def start(self):
        self.log = open(os.path.join(self.dir, "haproxy.log"), "w")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.cfg], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + DEADLINE
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("haproxy exited %d: %s" % (self.proc.returncode, self.output()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("haproxy did not listen: %s" % self.output())
            time.sleep(0.05)

    def output(self):
        try:
            with open(os.path.join(self.dir, "haproxy.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=DEADLINE)
        if self.log:
            self.log.close()
            self.log = None

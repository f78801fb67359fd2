#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Redis memory for COUNT retained changes, measured (bench/cluster_bench.sh
--redis-fill): copies the newest entry of the stream wpd:log (a change the
writer made: fields prev, k, d) COUNT times into a scratch stream with ids
1-0, 2-0, ... (prev the id before; in d, the waypoint's
estimated_time_of_arrival and changed_ms made distinct per entry, same
length), pipelined, and prints one JSON line: used_memory before and after,
MEMORY USAGE of the scratch stream (SAMPLES 0: exact), bytes per entry. Then
deletes the scratch stream. Loopback Redis only; every read has a timeout.

  redis_fill.py --port P --count N [--key bench:fill]
"""
import json
import re
import socket
import sys
import time


class Resp:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise OSError("redis closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+", b"-"):
            if t == b"-":
                raise RuntimeError(rest.decode())
            return rest.decode()
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    raise OSError("redis closed the connection")
                self.buf += chunk
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v.decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)

    @staticmethod
    def encode(*args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        return out

    def cmd(self, *args):
        self.sock.sendall(self.encode(*args))
        return self._read()

    def pipeline(self, cmds):
        self.sock.sendall(b"".join(self.encode(*c) for c in cmds))
        return [self._read() for _ in cmds]


def used_memory(r):
    info = r.cmd("INFO", "memory")
    m = re.search(r"^used_memory:(\d+)", info, re.M)
    return int(m.group(1)) if m else None


def main(argv):
    a = dict(zip(argv[::2], argv[1::2]))
    port, count, key = int(a["--port"]), int(a["--count"]), a.get("--key", "bench:fill")
    r = Resp(port)
    last = r.cmd("XREVRANGE", "wpd:log", "+", "-", "COUNT", "1")
    if not last:
        print(json.dumps({"error": "wpd:log is empty"}))
        return 1
    fields = last[0][1]
    f = dict(zip(fields[::2], fields[1::2]))
    if f.get("k") != "c":
        print(json.dumps({"error": "the newest entry is not a change (k=%s)" % f.get("k")}))
        return 1
    d = f["d"]
    r.cmd("DEL", key)
    before = used_memory(r)
    t0 = time.monotonic()
    base = 1_700_000_000_000_000
    batch = []
    for i in range(1, count + 1):
        # distinct values of the same length where the real entries differ
        dd = re.sub(r'("estimated_time_of_arrival":)\d+', lambda m: m.group(1) + str(base + i), d)
        dd = re.sub(r'("changed_ms":)\d+', lambda m: m.group(1) + str(base // 1000 + i), dd)
        batch.append(("XADD", key, "%d-0" % i, "prev", "%d-0" % (i - 1), "k", "c", "d", dd))
        if len(batch) == 2000 or i == count:
            r.pipeline(batch)
            batch = []
    after = used_memory(r)
    stream = r.cmd("MEMORY", "USAGE", key, "SAMPLES", "0")
    xlen = r.cmd("XLEN", key)
    r.cmd("DEL", key)
    print(json.dumps({"count": xlen, "entry_d_bytes": len(d), "used_memory_before": before,
                      "used_memory_after": after, "stream_bytes": stream,
                      "stream_bytes_per_entry": stream / xlen if xlen else None,
                      "used_memory_per_entry": (after - before) / xlen if xlen else None,
                      "fill_s": round(time.monotonic() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

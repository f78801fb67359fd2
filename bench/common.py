#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Shared set-up for the waypointd benchmarks (see bench/README.md).

Makes a throw-away folder with a dev certificate and a database holding one
DC, C customers and one waypoint per customer, an API key for it, and starts
`waypointd serve` on 127.0.0.1 with a free port. Also reads a process's CPU
time and context switches from /proc.

Run as a program it only holds idle subscribers open for bench/idle_cpu.sh:
    common.py hold --port P --cert CERT --key-file F --customers N --seconds S
It prints "ready N" once N subscriptions are confirmed, then sits until
SIGTERM or SIGINT, or S seconds pass.
"""
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_BINARY = os.environ.get("WAYPOINTD", "/tmp/build-bench/waypointd")
DC_ID = "bench-dc"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def need_websockets():
    """Import websockets, re-running this script under Debian's python3 if the
    first python3 on PATH (e.g. a pyenv one) lacks python3-websockets."""
    import importlib.util
    if importlib.util.find_spec("websockets") is not None:
        return
    deb = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(deb) and os.path.exists(deb) \
            and not os.environ.get("WAYPOINTD_BENCH_REEXEC"):
        os.environ["WAYPOINTD_BENCH_REEXEC"] = "1"
        os.execv(deb, [deb] + sys.argv)
    sys.exit("bench: the websockets module is missing: apt-get install python3-websockets")


def customer_id(i):
    return "c%05d" % i


def waypoint_id(i):
    return "w%05d" % i


class Setup:
    """The temp folder, certificate, database and key. Use as a context manager."""

    def __init__(self, binary, customers, keep=False):
        self.binary = os.path.abspath(binary)
        if not os.access(self.binary, os.X_OK):
            sys.exit("bench: no waypointd binary at %s (build it, or pass --binary / set WAYPOINTD)" % binary)
        self.customers = customers
        self.keep = keep
        self.dir = tempfile.mkdtemp(prefix="waypointd-bench-")
        self.cert = os.path.join(self.dir, "dev-cert.pem")
        self.keyfile = os.path.join(self.dir, "dev-key.pem")
        # The database gets a folder of its own: the server watches the database's
        # folder with inotify, and the logs written beside it would wake it.
        self.db = os.path.join(self.dir, "db", "bench.db")
        self.api_key = None

    def __enter__(self):
        try:
            self.prepare()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def run(self, *args, timeout=30):
        r = subprocess.run([self.binary] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("waypointd %s failed (%d): %s" % (args[0], r.returncode, r.stderr.strip()))
        return r.stdout

    def prepare(self):
        os.mkdir(os.path.dirname(self.db))
        subprocess.run(["sh", os.path.join(REPO, "certs", "make-dev-cert.sh"), self.dir], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=30)
        self.run("init", "--db", self.db)
        con = sqlite3.connect(self.db, timeout=10)
        try:
            with con:
                con.execute("INSERT INTO dcs(id, name) VALUES (?, ?)", (DC_ID, "Benchmark DC"))
                con.executemany("INSERT INTO customers(dc_id, id, name) VALUES (?, ?, ?)",
                                [(DC_ID, customer_id(i), "Customer %d" % i) for i in range(self.customers)])
                con.executemany(
                    "INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, waypoints_ahead)"
                    " VALUES (?, ?, ?, 'r1', 'PENDING', 0)",
                    [(DC_ID, waypoint_id(i), customer_id(i)) for i in range(self.customers)])
        finally:
            con.close()
        self.api_key = self.run("key", "create", "--db", self.db, "--name", "bench", "--all-dcs").strip()
        if not self.api_key or "\n" in self.api_key:
            raise RuntimeError("key create printed %r" % self.api_key)

    def cleanup(self):
        if self.keep:
            print("bench: kept %s" % self.dir, file=sys.stderr)
            return
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)


class Server:
    """`waypointd serve` on 127.0.0.1:0; stdout and stderr go to files in the temp folder."""

    def __init__(self, setup, threads=2, start_timeout=15):
        self.setup = setup
        self.out_path = os.path.join(setup.dir, "serve.out")
        self.err_path = os.path.join(setup.dir, "serve.err")
        self.port = None
        self.exit_code = None
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [setup.binary, "serve", "--db", setup.db, "--listen", "127.0.0.1:0", "--cert", setup.cert,
                 "--key", setup.keyfile, "--threads", str(threads),
                 # no rate limits: a benchmark's load would otherwise be answered with 429s
                 "--rate-limit-addr", "0", "--rate-limit-key", "0"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            self._wait_ready(start_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        prefix = "listening on https://127.0.0.1:"
        while time.monotonic() < deadline:
            with open(self.out_path, "r", errors="replace") as f:
                for line in f:
                    if line.startswith(prefix) and line.endswith("\n"):
                        self.port = int(line[len(prefix):].strip())
                        return
            if self.proc.poll() is not None:
                raise RuntimeError("waypointd serve exited with %d: %s" % (self.proc.returncode, self.stderr_tail()))
            time.sleep(0.02)
        raise RuntimeError("waypointd serve printed no 'listening on' line within %ss" % timeout)

    @property
    def pid(self):
        return self.proc.pid

    def stderr_tail(self, n=20):
        try:
            with open(self.err_path, "r", errors="replace") as f:
                return "".join(f.readlines()[-n:]).strip()
        except OSError:
            return ""

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after timeout; returns the exit code (negative: killed by a signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                self.exit_code = "killed after %ss without exiting on SIGTERM" % timeout
                return self.exit_code
        self.exit_code = self.proc.returncode
        return self.exit_code


def percentile(sorted_vals, q):
    """Nearest-rank percentile (q in 0..100) of an ascending list; None when empty."""
    if not sorted_vals:
        return None
    i = max(0, min(len(sorted_vals) - 1, int(-(-q * len(sorted_vals) // 100)) - 1))
    return sorted_vals[i]


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15


def alive(pid):
    """The process exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return False
    return s[s.rindex(")") + 2:].split()[0] not in ("Z", "X")


def ctx_switches(pid):
    """(voluntary, involuntary) context switches summed over the process's live threads."""
    vol = invol = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        invol += int(line.split()[1])
        except OSError:
            pass  # a thread that ended meanwhile
    return vol, invol


def ssl_context(cert):
    import ssl
    return ssl.create_default_context(cafile=cert)


async def open_subscriber(port, cert_ctx, api_key, dc, customer, req_id, timeout=10.0, create_protocol=None,
                          ping_interval=20, max_size=2 ** 20):
    """Connect to /live, subscribe (customer None: the whole DC), wait for "subscribed".
    Returns (websocket, subscribed message)."""
    import asyncio
    import json
    import websockets
    kw = {}
    if create_protocol is not None:
        kw["create_protocol"] = create_protocol
    ws = await asyncio.wait_for(websockets.connect(
        "wss://127.0.0.1:%d/live" % port, ssl=cert_ctx, subprotocols=["waypoints.v1"],
        extra_headers={"Authorization": "Bearer " + api_key}, ping_interval=ping_interval,
        open_timeout=timeout, close_timeout=2, max_queue=None, max_size=max_size, **kw), timeout)
    try:
        req = {"type": "subscribe", "id": req_id, "dc_id": dc}
        if customer is not None:
            req["customer_id"] = customer
        await ws.send(json.dumps(req))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no 'subscribed' reply for %s/%s" % (dc, customer))
            msg = json.loads(await asyncio.wait_for(ws.recv(), left))
            if msg.get("type") == "subscribed" and msg.get("id") == req_id:
                return ws, msg
            if msg.get("type") == "error":
                raise RuntimeError("subscribe %s/%s refused: %r" % (dc, customer, msg))
    except BaseException:
        await ws.close()
        raise


async def open_many(port, cert, api_key, scopes, create_protocol=None, ping_interval=20, parallel=16):
    """Open one subscriber per (dc, customer) scope, at most `parallel` handshakes at a time."""
    import asyncio
    ctx = ssl_context(cert)
    sem = asyncio.Semaphore(parallel)

    async def one(i, scope):
        async with sem:
            return await open_subscriber(port, ctx, api_key, scope[0], scope[1], i + 1,
                                         create_protocol=create_protocol, ping_interval=ping_interval)

    results = await asyncio.gather(*(one(i, s) for i, s in enumerate(scopes)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        await asyncio.gather(*(r[0].close() for r in results if not isinstance(r, BaseException)),
                             return_exceptions=True)
        raise RuntimeError("%d of %d subscribers failed; first: %r" % (len(errors), len(scopes), errors[0]))
    return results


def hold_main(argv):
    """Hold idle subscribers open (for idle_cpu.sh)."""
    import argparse
    import asyncio
    p = argparse.ArgumentParser(prog="common.py hold")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key-file", required=True, help="file holding the API key")
    p.add_argument("--customers", type=int, default=100, help="one subscriber per customer")
    p.add_argument("--dc-subscribers", type=int, default=0)
    p.add_argument("--seconds", type=float, default=120, help="hard limit on how long to hold")
    a = p.parse_args(argv)
    need_websockets()
    with open(a.key_file) as f:
        api_key = f.read().strip()

    async def hold():
        scopes = [(DC_ID, customer_id(i)) for i in range(a.customers)] + [(DC_ID, None)] * a.dc_subscribers
        # ping_interval=None: the client sends nothing, so every wake-up measured is the server's own.
        subs = await open_many(a.port, a.cert, api_key, scopes, ping_interval=None)
        print("ready %d" % len(subs), flush=True)
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, done.set)
        loop.add_signal_handler(signal.SIGINT, done.set)
        try:
            await asyncio.wait_for(done.wait(), a.seconds)
        except asyncio.TimeoutError:
            pass
        closed = sum(1 for ws, _ in subs if ws.closed)
        await asyncio.gather(*(ws.close() for ws, _ in subs), return_exceptions=True)
        print("closed-by-server %d" % closed, flush=True)

    asyncio.run(hold())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "hold":
        hold_main(sys.argv[2:])
    else:
        sys.exit(__doc__)

# SPDX-License-Identifier: MIT
"""Helpers for black-box tests of waypointd (Python standard library only).

Everything here drives the real binary and the command-line tools a user
has: `waypointd` itself, the `sqlite3` shell (a separate writer process, as
route planners and driver apps are), `openssl` (through
certs/make-dev-cert.sh) and `curl`. Tests only talk to 127.0.0.1, every
wait has a deadline, and everything started here can be cleaned up with
`Sandbox.close()` / `Server.stop()` even when a test fails.

Environment:
  WAYPOINTD             the binary (ctest sets it; default /tmp/build-it/waypointd)
  WAYPOINTD_SOURCE_DIR  the source tree (default: two folders up from this file)
  WAYPOINTD_WRAPPER     a command put before `waypointd serve` (scripts/valgrind.sh
                        runs the server under valgrind this way)
  WAYPOINTD_SLOW        a factor for the start and stop deadlines (a wrapped server
                        starts and stops slower)
"""
import json
import os
import queue
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WAYPOINTD = os.environ.get("WAYPOINTD", "/tmp/build-it/waypointd")
SOURCE_DIR = os.environ.get("WAYPOINTD_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
MAKE_DEV_CERT = os.path.join(SOURCE_DIR, "certs", "make-dev-cert.sh")
WWW_DIR = os.path.join(SOURCE_DIR, "www")
HOST = "127.0.0.1"

# Deadlines in seconds. None is tighter than about 2 s.
SLOW = float(os.environ.get("WAYPOINTD_SLOW", "1"))
START_DEADLINE = 10.0 * SLOW
STOP_DEADLINE = 10.0 * SLOW
WRAPPER = os.environ.get("WAYPOINTD_WRAPPER", "").split()
CMD_DEADLINE = 30.0
CURL_MAX_TIME = 10.0

KEY_RE = r"wpk_[A-Za-z0-9_-]{43}"

# Every test client is 127.0.0.1 (or 127.0.0.2): a server started here runs
# without the rate limits a test does not name, so that tests never share a
# bucket or sleep to refill one. Tests of the limiter start servers of their
# own with rate_limits=True (the defaults) or name the options.
RATE_LIMIT_OPTIONS = ("--rate-limit-addr", "--rate-limit-key")


class WpdError(AssertionError):
    """A helper could not do its job; the message says why (with stderr)."""


# --------------------------------------------------------------------------
# Processes


def run(argv, timeout=CMD_DEADLINE, input=None, env=None):
    """Run argv to completion; a CompletedProcess with text stdout/stderr."""
    try:
        return subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise WpdError("%r did not finish within %.0f s" % (argv, timeout)) from e


def waypointd(*args, timeout=CMD_DEADLINE):
    """Run `waypointd ARGS...`; a CompletedProcess (stdout/stderr as text)."""
    return run([WAYPOINTD, *args], timeout=timeout)


def check(proc, what=None):
    """proc's stdout if it exited 0, else a WpdError with its stderr."""
    if proc.returncode != 0:
        raise WpdError("%s failed with exit %d: %s" % (what or " ".join(proc.args), proc.returncode,
                                                       proc.stderr.strip()))
    return proc.stdout


def stderr_lines(proc):
    """The non-empty lines of a finished process's stderr."""
    return [line for line in proc.stderr.splitlines() if line.strip()]


# --------------------------------------------------------------------------
# Files: temporary folders, certificates, the database


def make_tempdir(prefix="wpd-it-"):
    """A fresh temporary folder; remove it with remove_tree()."""
    return tempfile.mkdtemp(prefix=prefix)


def remove_tree(path):
    """Remove a folder made by make_tempdir, even with unreadable files in it."""
    if not path or not os.path.exists(path):
        return
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                p = os.path.join(root, name)
                if not os.path.islink(p):
                    os.chmod(p, 0o700)
            except OSError:
                pass
    shutil.rmtree(path, ignore_errors=True)


def make_cert(directory):
    """Run certs/make-dev-cert.sh DIR; returns (cert_path, key_path)."""
    check(run(["sh", MAKE_DEV_CERT, directory]), "make-dev-cert.sh")
    cert, key = os.path.join(directory, "dev-cert.pem"), os.path.join(directory, "dev-key.pem")
    if not (os.path.isfile(cert) and os.path.isfile(key)):
        raise WpdError("make-dev-cert.sh wrote no %s / %s" % (cert, key))
    return cert, key


def init_db(db):
    """`waypointd init --db DB`."""
    check(waypointd("init", "--db", db))
    return db


def sql(db, statements):
    """Run SQL through the sqlite3 shell, another process like any writer.
    Returns its stdout (default list mode, '|' between columns)."""
    proc = run(["sqlite3", "-bail", "-cmd", ".timeout 5000", db, statements])
    if proc.returncode != 0 or "Error" in proc.stderr:
        raise WpdError("sqlite3 %s failed (%d): %s\nSQL: %s" % (db, proc.returncode, proc.stderr.strip(), statements))
    return proc.stdout


def sql_value(db, query):
    """The first column of the first row of a query, as text (stripped)."""
    out = sql(db, query).splitlines()
    return out[0].split("|")[0].strip() if out else None


def q(value):
    """An SQL literal: NULL, a number or a quoted string."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def insert(db, table, rows):
    """INSERT each dict of rows into table, in order, in one transaction."""
    stmts = ["BEGIN;"]
    for row in rows:
        cols = ", ".join(row.keys())
        vals = ", ".join(q(v) for v in row.values())
        stmts.append("INSERT INTO %s(%s) VALUES (%s);" % (table, cols, vals))
    stmts.append("COMMIT;")
    return sql(db, "\n".join(stmts))


def key_create(db, name, dcs=(), all_dcs=False):
    """`waypointd key create`; returns the key."""
    args = ["key", "create", "--db", db, "--name", name]
    for dc in dcs:
        args += ["--dc", dc]
    if all_dcs:
        args.append("--all-dcs")
    out = check(waypointd(*args)).splitlines()
    if len(out) != 1 or not out[0]:
        raise WpdError("key create printed %r, not one line" % out)
    return out[0]


def key_revoke(db, name):
    check(waypointd("key", "revoke", "--db", db, "--name", name))


def token_create(db, dc, customer, ttl=None):
    """`waypointd token create`; returns the token."""
    args = ["token", "create", "--db", db, "--dc", dc, "--customer", customer]
    if ttl is not None:
        args += ["--ttl", str(ttl)]
    out = check(waypointd(*args)).splitlines()
    if len(out) != 1 or not out[0]:
        raise WpdError("token create printed %r, not one line" % out)
    return out[0]


# --------------------------------------------------------------------------
# The server


class Server:
    """One `waypointd serve` process on 127.0.0.1 with port 0.

    start() waits for the `listening on` line and returns the port; stop()
    sends a signal and returns the exit code. Stdout is read by a thread so
    the pipe never fills; stderr goes to a file in the sandbox.
    """

    def __init__(self, db, cert, key, www=None, threads=None, extra=(), logdir=None, listen=HOST + ":0",
                 rate_limits=False, env=None):
        """rate_limits: False turns off each rate limit that extra does not
        set (RATE_LIMIT_OPTIONS); True keeps the server's defaults. env:
        variables added to the server's environment."""
        self.db, self.cert, self.key, self.www = db, cert, key, www
        self.env = dict(os.environ, **env) if env else None
        self.argv = WRAPPER + [WAYPOINTD, "serve", "--db", db, "--listen", listen, "--cert", cert, "--key", key]
        if www is not None:
            self.argv += ["--www", www]
        if threads is not None:
            self.argv += ["--threads", str(threads)]
        self.argv += list(extra)
        if not rate_limits:
            for opt in RATE_LIMIT_OPTIONS:
                if not any(str(a) == opt or str(a).startswith(opt + "=") for a in extra):
                    self.argv += [opt, "0"]
        self.logdir = logdir or os.path.dirname(os.path.abspath(db))
        self.proc = None
        self.port = None
        self.stdout_lines = []
        self._lines = queue.Queue()
        self._stderr_path = None
        self._stderr_file = None
        self._reader = None
        self.returncode = None

    @property
    def base_url(self):
        return "https://%s:%d" % (HOST, self.port)

    @property
    def ws_url(self):
        return "wss://%s:%d" % (HOST, self.port)

    def url(self, path):
        return self.base_url + path

    def stderr(self):
        """Everything the server wrote to stderr so far."""
        if self._stderr_file:
            self._stderr_file.flush()
        try:
            with open(self._stderr_path, "r", errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def _read_stdout(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.stdout_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)  # EOF

    def start(self, deadline=START_DEADLINE):
        """Start the server; returns the port once it prints its `listening on` line."""
        fd, self._stderr_path = tempfile.mkstemp(prefix="serve-", suffix=".stderr", dir=self.logdir)
        self._stderr_file = os.fdopen(fd, "w")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr_file, text=True, bufsize=1, env=self.env)
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        prefix = "listening on https://%s:" % HOST
        end = time.monotonic() + deadline
        while True:
            left = end - time.monotonic()
            if left <= 0:
                self.kill()
                raise WpdError("no `listening on` line within %.0f s; stdout %r; stderr: %s" %
                               (deadline, self.stdout_lines, self.stderr().strip()))
            try:
                line = self._lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if line is None:
                rc = self.wait(deadline=max(2.0, left))
                raise WpdError("server exited (%s) before listening; stdout %r; stderr: %s" %
                               (rc, self.stdout_lines, self.stderr().strip()))
            if line.startswith(prefix) and line[len(prefix):].isdigit():
                self.port = int(line[len(prefix):])
                return self.port
            # Any other stdout line before `listening on` is not in the contract.
            self.kill()
            raise WpdError("unexpected stdout line before `listening on`: %r" % line)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait(self, deadline=STOP_DEADLINE):
        """Wait for exit; the exit code, or None on timeout."""
        try:
            self.returncode = self.proc.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            return None
        if self._reader:
            self._reader.join(timeout=2)
        return self.returncode

    def send_signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, deadline=STOP_DEADLINE):
        """Send sig and return the exit code; SIGKILL and WpdError if it takes
        longer than deadline. Safe to call twice (returns the first code)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            self.wait()
            self._close_files()
            return self.proc.returncode
        self.proc.send_signal(sig)
        rc = self.wait(deadline)
        if rc is None:
            self.kill()
            raise WpdError("server ignored %s for %.0f s; killed. stderr: %s" %
                           (signal.Signals(sig).name, deadline, self.stderr().strip()))
        self._close_files()
        return rc

    def kill(self):
        """SIGKILL, for cleanup after a failure."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                pass
        self._close_files()

    def _close_files(self):
        if self.proc is not None and self.proc.stdout and self.proc.poll() is not None:
            if self._reader:
                self._reader.join(timeout=2)
            try:
                self.proc.stdout.close()
            except OSError:
                pass
        if self._stderr_file:
            self._stderr_file.close()
            self._stderr_file = None

    def close(self):
        """Cleanup: stop gently if still running, kill if that fails. Never raises."""
        try:
            self.stop()
        except WpdError:
            pass
        finally:
            self.kill()


class Sandbox:
    """A temporary folder with a dev certificate, an initialised database and
    any servers started from it. close() stops the servers and removes the
    folder; register it with addCleanup / addClassCleanup."""

    def __init__(self, prefix="wpd-it-", init=True, cert=True):
        self.dir = make_tempdir(prefix)
        self.servers = []
        self.db = os.path.join(self.dir, "waypoints.db")
        self.cert = self.key = None
        try:
            if cert:
                self.cert, self.key = make_cert(self.dir)
            if init:
                init_db(self.db)
        except BaseException:
            self.close()
            raise

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def sql(self, statements):
        return sql(self.db, statements)

    def insert(self, table, rows):
        return insert(self.db, table, rows)

    def key_create(self, name, dcs=(), all_dcs=False):
        return key_create(self.db, name, dcs, all_dcs)

    def key_revoke(self, name):
        return key_revoke(self.db, name)

    def token_create(self, dc, customer, ttl=None):
        return token_create(self.db, dc, customer, ttl)

    def copy_www(self, name="www"):
        """A copy of the project's www/ inside the sandbox; returns its path."""
        dst = self.path(name)
        shutil.copytree(WWW_DIR, dst)
        return dst

    def server(self, www=None, threads=None, extra=(), start=True, db=None, cert=None, key=None, rate_limits=False,
               env=None):
        """A Server on this sandbox's database and certificate, started unless
        start=False. Stopped by close(). rate_limits, env: see Server."""
        srv = Server(db or self.db, cert or self.cert, key or self.key, www=www, threads=threads, extra=extra,
                     logdir=self.dir, rate_limits=rate_limits, env=env)
        self.servers.append(srv)
        if start:
            srv.start()
        return srv

    def curl(self, server, path, **kw):
        """curl(...) against server with this sandbox's CA."""
        return curl(server.url(path), self.cert, **kw)

    def ssl_context(self):
        return ssl_context(self.cert)

    def close(self):
        for srv in self.servers:
            srv.close()
        self.servers = []
        remove_tree(self.dir)


# --------------------------------------------------------------------------
# HTTP clients


class Response:
    """What curl saw. Unpacks as (code, version, headers, body); also has
    rc (curl's exit code), stderr (curl's, with -v output when verbose) and
    json(). code is 0 and version "0" when no response arrived."""

    def __init__(self, code, version, headers, body, rc, stderr, all_headers):
        self.code, self.version, self.headers, self.body = code, version, headers, body
        self.rc, self.stderr, self.all_headers = rc, stderr, all_headers

    def __iter__(self):
        return iter((self.code, self.version, self.headers, self.body))

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise WpdError("body is not JSON (%s): %r" % (e, self.body[:300])) from e

    @property
    def content_type(self):
        return self.headers.get("content-type", "")

    def __repr__(self):
        return "Response(code=%r, version=%r, rc=%r, headers=%r, body=%r, stderr=%r)" % (
            self.code, self.version, self.rc, self.headers, self.body[:300], self.stderr[-300:])


def parse_headers(raw):
    """curl -D output -> list of dicts (one per response, keys lower-cased;
    repeated headers joined with ', ')."""
    blocks, current = [], None
    for line in raw.decode("iso-8859-1").split("\r\n"):
        if line.startswith("HTTP/"):
            current = {}
            blocks.append(current)
        elif current is not None and ":" in line:
            name, value = line.split(":", 1)
            name, value = name.strip().lower(), value.strip()
            current[name] = current[name] + ", " + value if name in current else value
    return blocks


def _read_or_empty(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def curl(url, cacert, method=None, headers=None, data=None, http=None, path_as_is=False, tls_max=None,
         tls_min=None, bearer=None, extra=(), verbose=False, max_time=CURL_MAX_TIME):
    """One request with curl, always verifying the server with --cacert
    (never -k). http: "1.1" or "2" (None lets ALPN choose). data: str/bytes
    body (sent with --data-binary). bearer: adds Authorization: Bearer.
    tls_max / tls_min: e.g. "1.2". extra: more curl arguments. Returns a
    Response; it does not raise when curl fails (see .rc)."""
    if not cacert or not os.path.isfile(cacert):
        raise WpdError("curl needs the server's CA certificate, got %r" % cacert)
    tmp = tempfile.mkdtemp(prefix="wpd-curl-")
    try:
        body_path, head_path = os.path.join(tmp, "body"), os.path.join(tmp, "headers")
        argv = ["curl", "--silent", "--show-error", "--cacert", cacert, "--max-time", str(max_time),
                "--noproxy", "*", "--output", body_path, "--dump-header", head_path,
                "--write-out", "%{http_code} %{http_version}"]
        if verbose:
            argv.append("--verbose")
        if http == "1.1":
            argv.append("--http1.1")
        elif http == "2":
            argv.append("--http2")
        elif http is not None:
            raise ValueError("http must be None, '1.1' or '2'")
        if method:
            argv += ["--request", method]
        for name, value in (headers or {}).items():
            argv += ["--header", "%s: %s" % (name, value)]
        if bearer is not None:
            argv += ["--header", "Authorization: Bearer %s" % bearer]
        if data is not None:
            argv += ["--data-binary", "@-"]
        if path_as_is:
            argv.append("--path-as-is")
        if tls_min:
            argv.append("--tlsv" + tls_min)
        if tls_max:
            argv += ["--tls-max", tls_max]
        argv += list(extra)
        argv.append(url)
        if isinstance(data, str):
            data = data.encode()
        try:
            proc = subprocess.run(argv, input=data if data is not None else b"", capture_output=True,
                                  timeout=max_time + 10)
        except subprocess.TimeoutExpired as e:
            raise WpdError("curl %s hung past its own --max-time" % url) from e
        out = proc.stdout.decode(errors="replace").split()
        code = int(out[0]) if out and out[0].isdigit() else 0
        version = out[1] if len(out) > 1 else "0"
        raw_headers, body = _read_or_empty(head_path), _read_or_empty(body_path)
        blocks = parse_headers(raw_headers)
        return Response(code, version, blocks[-1] if blocks else {}, body, proc.returncode,
                        proc.stderr.decode(errors="replace"), blocks)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def curl_raw(args, cacert, max_time=CURL_MAX_TIME):
    """curl with arbitrary arguments (plus --cacert, --max-time, --silent);
    a CompletedProcess with text stdout/stderr. For multi-URL runs."""
    argv = ["curl", "--silent", "--show-error", "--cacert", cacert, "--max-time", str(max_time),
            "--noproxy", "*", *args]
    return run(argv, timeout=max_time + 10)


def ssl_context(cafile):
    """A client SSLContext that trusts only the dev certificate (for
    http.client, or WebSocket clients later)."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def https_connection(server, cafile, timeout=CURL_MAX_TIME, source=None):
    """A persistent HTTP/1.1 http.client connection to server (keep-alive).
    source: the client's own address, e.g. "127.0.0.2" (all of 127/8 is local
    on Linux), to look like another client to the server."""
    import http.client
    return http.client.HTTPSConnection(HOST, server.port, context=ssl_context(cafile), timeout=timeout,
                                       source_address=(source, 0) if source else None)


def wait_until(predicate, deadline=5.0, interval=0.05, what="condition"):
    """Poll predicate until it returns something truthy; return that, or
    raise WpdError after deadline seconds."""
    end = time.monotonic() + max(deadline, 2.0)
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise WpdError("%s not met within %.1f s" % (what, deadline))
        time.sleep(interval)


# --------------------------------------------------------------------------
# A running server seen from /proc


def proc_status(pid, field):
    """A field of /proc/PID/status in kB (VmRSS, VmHWM), or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def server_uses_asan(pid):
    """Is the server built with AddressSanitizer (libasan mapped)?"""
    try:
        with open("/proc/%d/maps" % pid) as f:
            return "libasan" in f.read()
    except OSError:
        return False

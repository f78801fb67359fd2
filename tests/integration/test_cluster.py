#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The multi-node deployment end to end (issue 14; docs/cluster.md, the
contract's "Multi-node"): real processes on loopback: redis-server with its
AOF, an origin database written with plain SQL at a steady rate, `waypointd
relay`, edges (`serve --replica-of`) and haproxy in TCP mode in front of them
(leastconn, /healthz checks on each edge's metrics port). Live clients
(customer scope with tracking tokens, DC scope with an API key) connect
through haproxy, record every message, and on a close or an error reconnect
through haproxy with `since` = the last seq seen.

Every case ends with the same checks (Fleet.check): nothing lost (every change
the origin's change_log has for a client's scope after its snapshot is covered
by a message for that waypoint with that seq or a newer one: the contract lets
a slow reader get only the newest of several changes to one waypoint; the
summary line says how many were coalesced), seq strictly increasing per
subscription across reconnects, resumed:true on every reconnect, and every
client's final state = REST on every edge = the origin's rows.

Run alone: WAYPOINTD=build-debug/waypointd /usr/bin/python3 tests/integration/test_cluster.py
The figures of each case (resume delays, health, cut-off) go to stderr."""
import asyncio
import bisect
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import websockets  # noqa: E402
import websockets.exceptions  # noqa: E402

import wpd  # noqa: E402
from live_client import Live  # noqa: E402
from cluster_util import DEADLINE, Haproxy, Redis, RedisProxy, free_port, redis_cmd  # noqa: E402

PROTOCOL = "waypoints.v1"
FIELDS = ("id", "customer_id", "status", "completed_timestamp", "estimated_time_of_arrival", "waypoints_ahead",
          "waiting_time_seconds", "route_id")
CUSTOMERS = {"dc1": ["c%d" % i for i in range(1, 7)], "dc2": ["c%d" % i for i in range(1, 5)]}
PER_CUSTOMER = 6  # waypoints per customer, kept: REST's newest 10 are all of them
WRITE_RATE = 20   # commits per second
EDGE_START = 40 * wpd.SLOW
CATCH_UP = 30 * wpd.SLOW


def log(msg):
    sys.stderr.write("cluster: %s\n" % msg)
    sys.stderr.flush()


def row(w):
    return {k: w.get(k) for k in FIELDS}


# --------------------------------------------------------------------------
# The origin and its writer


def seed(db):
    """DCs, customers and PER_CUSTOMER waypoints each, with plain SQL."""
    stmts = ["BEGIN;"]
    now = int(time.time() * 1000)
    for dc, custs in CUSTOMERS.items():
        stmts.append("INSERT INTO dcs(id, name) VALUES ('%s', 'DC %s');" % (dc, dc))
        for c in custs:
            stmts.append("INSERT INTO customers(dc_id, id, name) VALUES ('%s', '%s', 'Customer %s');" % (dc, c, c))
            for i in range(PER_CUSTOMER):
                stmts.append("INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, "
                             "estimated_time_of_arrival, waypoints_ahead) VALUES "
                             "('%s', '%s-w%d', '%s', 'r1', 'PENDING', %d, %d);" % (dc, c, i, c, now, i))
    stmts.append("COMMIT;")
    wpd.sql(db, "\n".join(stmts))


class Writer(threading.Thread):
    """Commits one change at a time to the origin at WRITE_RATE per second:
    updates (ETA, status, stops ahead) round-robin over every waypoint, and
    now and then a waypoint deleted and another inserted for its customer."""

    def __init__(self, db):
        super().__init__(daemon=True)
        self.db = db
        self.stop_flag = threading.Event()
        self.count = 0
        self.error = None

    def run(self):
        conn = sqlite3.connect(self.db, timeout=10, isolation_level=None)
        try:
            ids = [tuple(r) for r in conn.execute("SELECT dc_id, id, customer_id FROM waypoints ORDER BY dc_id, id")]
            rnd = random.Random(7)
            rnd.shuffle(ids)
            n = 0
            next_t = time.monotonic()
            while not self.stop_flag.is_set():
                dc, wid, cust = ids[n % len(ids)]
                if n % 13 == 12:
                    new = "%s-n%d" % (cust, n)
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("DELETE FROM waypoints WHERE dc_id = ? AND id = ?", (dc, wid))
                    conn.execute("INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, "
                                 "estimated_time_of_arrival) VALUES (?, ?, ?, 'r2', 'PENDING', ?)",
                                 (dc, new, cust, int(time.time() * 1000)))
                    conn.execute("COMMIT")
                    ids[n % len(ids)] = (dc, new, cust)
                else:
                    conn.execute("UPDATE waypoints SET estimated_time_of_arrival = COALESCE(estimated_time_of_arrival,"
                                 " 0) + 1000, waypoints_ahead = ?, status = CASE WHEN ? THEN (CASE status WHEN "
                                 "'PENDING' THEN 'COMPLETED' ELSE 'PENDING' END) ELSE status END "
                                 "WHERE dc_id = ? AND id = ?", (n % 7, n % 4 == 0, dc, wid))
                n += 1
                self.count = n
                next_t += 1.0 / WRITE_RATE
                delay = next_t - time.monotonic()
                if delay > 0:
                    self.stop_flag.wait(delay)
        except Exception as e:  # reported by stop()
            self.error = e
        finally:
            conn.close()

    def stop(self):
        self.stop_flag.set()
        self.join(timeout=DEADLINE)
        if self.error:
            raise self.error


def origin_head(db):
    v = wpd.sql_value(db, "SELECT COALESCE(MAX(seq), 0) FROM change_log")
    return int(v)


# --------------------------------------------------------------------------
# The cluster


class Edge:
    def __init__(self, cluster, name, proxied=False):
        self.cluster = cluster
        self.name = name
        self.db = os.path.join(cluster.tmp, "%s.db" % name)
        self.port = free_port()
        self.mport = free_port()
        self.proxy = RedisProxy(cluster.redis.port) if proxied else None
        self.server = None
        self.servers = []

    def url(self):
        return self.proxy.url() if self.proxy else self.cluster.redis_url()

    def make(self):
        srv = wpd.Server(self.db, self.cluster.cert, self.cluster.key, threads=1,
                         listen="127.0.0.1:%d" % self.port, logdir=self.cluster.tmp,
                         extra=("--replica-of", self.url(), "--metrics-listen", "127.0.0.1:%d" % self.mport))
        self.servers.append(srv)
        self.server = srv
        return srv

    def start(self):
        self.make().start(deadline=EDGE_START)

    def kill9(self):
        self.server.proc.send_signal(signal.SIGKILL)
        self.server.wait()
        self.server.kill()

    def healthz(self):
        """(status, json) of /healthz on the metrics port; (0, None) when unreachable."""
        c = http.client.HTTPConnection("127.0.0.1", self.mport, timeout=3)
        try:
            c.request("GET", "/healthz")
            r = c.getresponse()
            return r.status, json.loads(r.read() or b"null")
        except (OSError, ValueError):
            return 0, None
        finally:
            c.close()

    def metric(self, name):
        """One unlabelled value from the edge's /metrics; -1 when unreachable or absent."""
        c = http.client.HTTPConnection("127.0.0.1", self.mport, timeout=3)
        try:
            c.request("GET", "/metrics")
            for line in c.getresponse().read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
            return -1
        except (OSError, ValueError):
            return -1
        finally:
            c.close()

    def applied(self):
        """The replica's newest change seq, read from its file."""
        conn = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=5)
        try:
            return conn.execute("SELECT COALESCE(MAX(seq), 0) FROM change_log").fetchone()[0]
        finally:
            conn.close()

    def close(self):
        for s in self.servers:
            s.close()
        if self.proxy:
            self.proxy.close()


class Cluster:
    """Redis, the origin, the relay, edges and haproxy in one temp dir."""

    def __init__(self, n_edges=3, proxied=(), failover=False):
        self.tmp = wpd.make_tempdir("wpd-cluster-")
        self.redis = self.relay = self.lb = self.rproxy = None
        self.edges = []
        self.relay_logs = []
        try:
            self.cert, self.key = wpd.make_cert(self.tmp)
            self.db = wpd.init_db(os.path.join(self.tmp, "origin.db"))
            seed(self.db)
            self.fleet_key = wpd.key_create(self.db, "fleet", all_dcs=True)
            self.victim_key = wpd.key_create(self.db, "victim", all_dcs=True)
            self.tokens = {(dc, c): wpd.token_create(self.db, dc, c) for dc, cs in CUSTOMERS.items() for c in cs}
            rdir = os.path.join(self.tmp, "redis")
            os.mkdir(rdir)
            self.redis = Redis(rdir)
            self.redis.start()
            # failover: the relay and the edges reach Redis through one
            # proxy, which a failover points at another server.
            self.rproxy = RedisProxy(self.redis.port) if failover else None
            self.start_relay()
            self.edges = [Edge(self, "edge%d" % i, proxied=i in proxied) for i in range(n_edges)]
            errors = []

            def start(e):
                try:
                    e.start()
                except Exception as ex:  # re-raised below
                    errors.append(ex)
            threads = [threading.Thread(target=start, args=(e,)) for e in self.edges]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise errors[0]
            self.lb = Haproxy(self.tmp, [(e.name, e.port, e.mport) for e in self.edges])
            self.lb.start()
            # Every edge UP in haproxy before clients come: its checks run every second.
            time.sleep(2.5)
        except BaseException:
            self.close()
            raise

    def redis_url(self):
        return self.rproxy.url() if self.rproxy else "redis://127.0.0.1:%d" % self.redis.port

    def start_relay(self, *extra):
        err = open(os.path.join(self.tmp, "relay-%d.log" % len(self.relay_logs)), "w")
        self.relay_logs.append(err.name)
        self.relay = subprocess.Popen([wpd.WAYPOINTD, "relay", "--db", self.db, "--redis", self.redis_url()]
                                      + list(extra),
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        err.close()

    def kill_relay(self):
        if self.relay and self.relay.poll() is None:
            self.relay.kill()
            self.relay.wait(timeout=DEADLINE)

    def wait_caught_up(self, edges=None, deadline=CATCH_UP):
        """Every (running) edge healthy at the origin's head."""
        head = origin_head(self.db)
        for e in edges or self.edges:
            try:
                wpd.wait_until(lambda: e.healthz() == (200, {"status": "ok", "change_seq": head}), deadline,
                               interval=0.1, what="%s healthy at seq %d" % (e.name, head))
            except wpd.WpdError as ex:
                raise AssertionError("%s; its /healthz says %r" % (ex, e.healthz())) from None
        return head

    def origin_rows(self, dc, customer=None, pending_only=False):
        conn = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=5)
        conn.row_factory = sqlite3.Row
        try:
            q = "SELECT %s FROM waypoints WHERE dc_id = ?" % ", ".join(FIELDS)
            args = [dc]
            if customer is not None:
                q += " AND customer_id = ?"
                args.append(customer)
            if pending_only:
                q += " AND status = 'PENDING'"
            return {r["id"]: dict(r) for r in conn.execute(q, args)}
        finally:
            conn.close()

    def changes(self, after):
        """The origin's change_log after seq: [(seq, dc, customer, waypoint)]."""
        conn = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=5)
        try:
            return conn.execute("SELECT seq, dc_id, customer_id, waypoint_id FROM change_log WHERE seq > ? "
                                "ORDER BY seq", (after,)).fetchall()
        finally:
            conn.close()

    def rest(self, edge, path, bearer):
        conn = http.client.HTTPSConnection("127.0.0.1", edge.port, context=wpd.ssl_context(self.cert), timeout=5)
        try:
            conn.request("GET", path, headers={"Authorization": "Bearer " + bearer})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def check_rest(self, test):
        """REST on every edge = the origin's rows, for every customer."""
        for e in self.edges:
            for dc, custs in CUSTOMERS.items():
                for c in custs:
                    status, body = self.rest(e, "/dcs/%s/customers/%s/waypoints" % (dc, c), self.fleet_key)
                    test.assertEqual(status, 200, body)
                    got = {w["id"]: row(w) for w in json.loads(body)["waypoints"]}
                    test.assertEqual(got, self.origin_rows(dc, c), "%s %s/%s" % (e.name, dc, c))

    def close(self):
        if self.lb:
            self.lb.stop()
        for e in self.edges:
            e.close()
        self.kill_relay()
        if self.rproxy:
            self.rproxy.close()
        if self.redis:
            self.redis.kill()
        wpd.remove_tree(self.tmp)


# --------------------------------------------------------------------------
# Live clients


class Client:
    """One subscription, kept across reconnects. port: where it connects
    (haproxy unless a case says otherwise); gate: cleared to hold a
    reconnect."""

    def __init__(self, name, port, cafile, bearer, dc, customer=None):
        self.name, self.port, self.cafile, self.bearer = name, port, cafile, bearer
        self.dc, self.customer = dc, customer
        self.start_seq = None   # the first snapshot's seq
        self.last = None        # the newest seq seen (push, or a subscribed reply)
        self.state = {}
        self.pushes = []        # (seq, waypoint_id)
        self.errors = []        # what broke a rule
        self.events = []        # one dict per (re)connection after the first
        self.closes = []        # (monotonic time, close code)
        self.denied = None      # (time, error message) when the credential was refused
        self.connect_errors = 0
        self.target = None
        self.ws = None
        self.gate = asyncio.Event()
        self.gate.set()
        self.subscribed = asyncio.Event()
        self.done = asyncio.Event()
        self.stopping = False
        self.allow_snapshot = False  # a reconnect may get a fresh snapshot (its since was pruned)
        self.busy = 0                # "try again" (503) answers to a subscribe

    def scope_has(self, dc, customer):
        return dc == self.dc and (self.customer is None or customer == self.customer)

    def _apply(self, msg):
        seq = msg.get("seq")
        if not isinstance(seq, int) or (self.last is not None and seq <= self.last):
            self.errors.append("seq %r after %r: %s" % (seq, self.last, json.dumps(msg)[:300]))
        if not self.scope_has(msg.get("dc_id"), msg.get("customer_id") if self.customer else self.customer):
            self.errors.append("out of scope: %s" % json.dumps(msg)[:300])
        if msg["type"] == "waypoint":
            w = msg["waypoint"]
            wid = w["id"]
            if self.customer is None and w.get("status") != "PENDING":
                self.state.pop(wid, None)
            else:
                self.state[wid] = row(w)
        else:
            wid = msg["waypoint_id"]
            self.state.pop(wid, None)
        self.pushes.append((seq, wid))
        if isinstance(seq, int):
            self.last = seq
        if self.target is not None and self.last >= self.target:
            self.done.set()

    def _on_subscribed(self, msg, since, closed_at, code):
        if since is None:
            self.start_seq = self.last = msg["seq"]
            if msg.get("resumed"):
                self.errors.append("first subscribe resumed: %s" % json.dumps(msg)[:300])
            self.state = {w["id"]: row(w) for w in msg.get("waypoints", [])}
            if self.customer is None:
                self.state = {k: v for k, v in self.state.items() if v["status"] == "PENDING"}
            self.subscribed.set()
            return
        ev = {"since": since, "resumed": msg.get("resumed"), "seq": msg.get("seq"), "code": code,
              "closed_at": closed_at, "resumed_at": time.monotonic(), "snapshot": "waypoints" in msg}
        self.events.append(ev)
        fresh = msg.get("resumed") is False and "waypoints" in msg
        if not (fresh and self.allow_snapshot) and (msg.get("resumed") is not True or msg.get("seq") != since or
                                                    "waypoints" in msg):
            self.errors.append("reconnect with since %d answered %s" % (since, json.dumps(msg)[:300]))
        if "waypoints" in msg:  # a fresh snapshot: start over from it
            self.state = {w["id"]: row(w) for w in msg["waypoints"]}
            if self.customer is None:
                self.state = {k: v for k, v in self.state.items() if v["status"] == "PENDING"}
            self.last = msg["seq"]

    async def run(self):
        closed_at, code = None, None
        ctx = wpd.ssl_context(self.cafile)
        while not self.stopping:
            await self.gate.wait()
            if self.stopping:
                break
            try:
                ws = await websockets.connect("wss://127.0.0.1:%d/live" % self.port, ssl=ctx,
                                              subprotocols=[PROTOCOL],
                                              extra_headers={"Authorization": "Bearer " + self.bearer},
                                              open_timeout=10, close_timeout=3, max_queue=None, ping_interval=None)
            except websockets.exceptions.InvalidStatusCode as e:
                if e.status_code == 401:
                    self.denied = self.denied or (time.monotonic(), "upgrade refused 401")
                    return
                self.connect_errors += 1
                await asyncio.sleep(0.2)
                continue
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException):
                self.connect_errors += 1
                await asyncio.sleep(0.2)
                continue
            self.ws = ws
            since = self.last
            try:
                sub = {"type": "subscribe", "id": "s", "dc_id": self.dc}
                if self.customer is not None:
                    sub["customer_id"] = self.customer
                if since is not None:
                    sub["since"] = since
                await ws.send(json.dumps(sub))
                async for data in ws:
                    msg = json.loads(data)
                    t = msg.get("type")
                    if t == "subscribed":
                        self._on_subscribed(msg, since, closed_at, code)
                    elif t in ("waypoint", "waypoint_removed"):
                        self._apply(msg)
                    elif t == "error" and msg.get("code") == 503 and msg.get("id") == "s":
                        # Busy (an edge about to reload): subscribe again, as the answer says.
                        self.busy += 1
                        await asyncio.sleep(min(max(msg.get("retry_after") or 1, 0.2), 5))
                        await ws.send(json.dumps(sub))
                    elif t == "error":
                        if msg.get("code") == 401:
                            self.denied = (time.monotonic(), msg.get("message"))
                        else:
                            self.errors.append("error: %s" % json.dumps(msg)[:300])
                    else:
                        self.errors.append("unexpected: %s" % json.dumps(msg)[:300])
                code = ws.close_code
            except websockets.exceptions.ConnectionClosed as e:
                code = e.code
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as e:
                code = "error %s" % type(e).__name__
            finally:
                self.ws = None
                try:
                    await asyncio.wait_for(ws.close(), 4)
                except (asyncio.TimeoutError, OSError, websockets.exceptions.WebSocketException):
                    ws.transport.abort()
            closed_at = time.monotonic()
            self.closes.append((closed_at, code))
            if self.denied:
                return

    async def drop(self):
        """Close the current connection from the client's side."""
        if self.ws is not None:
            await self.ws.close()

    async def stop(self):
        self.stopping = True
        self.gate.set()
        await self.drop()


class Fleet:
    """Clients through haproxy, the writer, and the checks every case ends with."""

    def __init__(self, test, cluster, per_customer=2, per_dc=3, victims=0):
        self.test, self.cluster = test, cluster
        self.clients = []
        port = cluster.lb.port
        for dc, custs in CUSTOMERS.items():
            for c in custs:
                for i in range(per_customer):
                    self.clients.append(Client("%s/%s#%d" % (dc, c, i), port, cluster.cert, cluster.tokens[(dc, c)],
                                               dc, c))
            for i in range(per_dc):
                self.clients.append(Client("%s#%d" % (dc, i), port, cluster.cert, cluster.fleet_key, dc))
        self.victims = [Client("victim#%d" % i, port, cluster.cert, cluster.victim_key, "dc%d" % (1 + i % 2))
                        for i in range(victims)]
        self.writer = Writer(cluster.db)
        self.tasks = []
        self.pruned = []  # change_log rows a case pruned from the origin, still owed to clients

    def add(self, client):
        self.clients.append(client)
        return client

    async def start(self):
        self.writer.start()
        self.tasks = [asyncio.ensure_future(c.run()) for c in self.clients + self.victims]
        await self.wait_all([c.subscribed.wait() for c in self.clients + self.victims], 30, "every client subscribed")

    async def wait_all(self, aws, timeout, what):
        try:
            await asyncio.wait_for(asyncio.gather(*aws), timeout * wpd.SLOW)
        except asyncio.TimeoutError:
            raise AssertionError("%s: not within %d s" % (what, timeout)) from None

    async def finish(self):
        """Stop writing, let every edge catch up, let every client receive
        its scope's last change, then close them all."""
        await asyncio.to_thread(self.writer.stop)
        head = await asyncio.to_thread(self.cluster.wait_caught_up)
        changes = sorted(set(self.cluster.changes(0)) | set(self.pruned))
        for c in self.clients:
            last = [s for s, dc, cu, _w in changes if c.scope_has(dc, cu) and s > (c.start_seq or 0)]
            c.target = max(last) if last else c.start_seq
            if c.last is not None and c.last >= c.target:
                c.done.set()
        try:
            await self.wait_all([c.done.wait() for c in self.clients], 30, "every client at its scope's last change")
        finally:
            for c in self.clients + self.victims:
                await c.stop()
            await asyncio.wait(self.tasks, timeout=15)
        return head, changes

    def check(self, head, changes):
        """Nothing lost, in order, resumed (or, where allowed, a fresh
        snapshot, which covers every change before its seq), same state
        everywhere."""
        t = self.test
        lost = coalesced = covered = 0
        for c in self.clients:
            t.assertEqual(c.errors, [], c.name)
            t.assertIsNone(c.denied, c.name)
            by_wp = {}
            for s, wid in c.pushes:
                by_wp.setdefault(wid, []).append(s)
            got = {s for s, _w in c.pushes}
            scope = [(s, w) for s, dc, cu, w in changes if c.scope_has(dc, cu) and s > c.start_seq]
            missing = []
            snap = max([ev["seq"] for ev in c.events if ev["snapshot"]] or [-1])
            for s, w in scope:
                seqs = by_wp.get(w, [])
                i = bisect.bisect_left(seqs, s)
                if i == len(seqs):
                    if s > snap:
                        missing.append((s, w))
                elif seqs[i] != s:
                    coalesced += 1
                covered += 1
            lost += len(missing)
            t.assertEqual(missing, [], "%s lost changes (start %d, last %r, events %r)" %
                          (c.name, c.start_seq, c.last, c.events))
            scope_seqs = {s for s, _w in scope}
            t.assertTrue(got <= scope_seqs, "%s got seqs that are no change of its scope: %r" %
                         (c.name, sorted(got - scope_seqs)[:10]))
            want = self.cluster.origin_rows(c.dc, c.customer, pending_only=c.customer is None)
            t.assertEqual(c.state, want, "%s: final state differs from the origin's rows" % c.name)
            for ev in c.events:
                if not (c.allow_snapshot and ev["snapshot"]):
                    t.assertIs(ev["resumed"], True, "%s %r" % (c.name, ev))
        self.cluster.check_rest(t)
        return {"clients": len(self.clients), "changes": head, "covered": covered, "coalesced": coalesced,
                "lost": lost, "reconnects": sum(len(c.events) for c in self.clients)}


def stream_head(cluster):
    """The seq of the stream's head entry (wpd:head), -1 when none."""
    head = redis_cmd(cluster.redis.port, "GET", "wpd:head")
    return int(head.split("-")[0]) if isinstance(head, str) else -1


def resume_delays(clients, after):
    """Seconds from a close (after `after`) to the resumed reply, per reconnect."""
    return [ev["resumed_at"] - ev["closed_at"] for c in clients for ev in c.events
            if ev["closed_at"] is not None and ev["closed_at"] >= after]


def figures(d):
    return "n=%d median %.2f s max %.2f s" % (len(d), statistics.median(d), max(d)) if d else "n=0"


NEEDS = [t for t in ("redis-server", "haproxy") if not shutil.which(t)]

@unittest.skipIf(NEEDS, "not installed: %s (scripts/install-deps.sh)" % " ".join(NEEDS))
class ClusterTest(unittest.TestCase):
    def setUp(self):
        self.t0 = time.monotonic()

    def tearDown(self):
        log("%s: %.1f s" % (self.id().split(".")[-1], time.monotonic() - self.t0))

    def make_cluster(self, **kw):
        c = Cluster(**kw)
        self.addCleanup(c.close)
        return c

    def run_case(self, cluster, scenario, prepare=None, **fleet_kw):
        fleet = Fleet(self, cluster, **fleet_kw)
        if prepare:
            prepare(fleet)

        async def main():
            try:
                await fleet.start()
                await scenario(fleet)
                return await fleet.finish()
            finally:
                fleet.writer.stop_flag.set()  # a failed case stops writing before the cleanup
        head, changes = asyncio.run(main())
        summary = fleet.check(head, changes)
        log("%s: %s" % (self.id().split(".")[-1], json.dumps(summary)))
        # Stopped with SIGTERM, every edge and the relay exit 0 (under the
        # sanitizers: no report, no leak).
        for e in cluster.edges:
            e.server.send_signal(signal.SIGTERM)
        for e in cluster.edges:
            # wait, not stop: a second SIGTERM would cut the graceful stop short.
            self.assertEqual(e.server.wait(), 0, "%s: %s" % (e.name, e.server.stderr()[-3000:]))
            e.server.stop()
        cluster.relay.terminate()
        if cluster.relay.wait(timeout=DEADLINE) != 0:
            with open(cluster.relay_logs[-1]) as f:
                self.fail("the relay exited %d: %s" % (cluster.relay.returncode, f.read()[-3000:]))
        return fleet, summary

    # 1 ------------------------------------------------------------------
    def test_1_steady_state_and_key_revoked_on_origin(self):
        cluster = self.make_cluster()
        out = {}

        async def scenario(fleet):
            await asyncio.sleep(4)
            for e in cluster.edges:
                status, _ = await asyncio.to_thread(cluster.rest, e, "/dcs/dc1/customers/c1/waypoints",
                                                    cluster.victim_key)
                self.assertEqual(status, 200, e.name)
            t_revoke = time.monotonic()
            await asyncio.to_thread(wpd.key_revoke, cluster.db, "victim")
            out["revoke"] = t_revoke
            for e in cluster.edges:
                def refused(e=e):
                    return cluster.rest(e, "/dcs/dc1/customers/c1/waypoints", cluster.victim_key)[0] == 401
                await asyncio.to_thread(wpd.wait_until, refused, 3.0, 0.05, "401 for the revoked key on " + e.name)
                out.setdefault("rest_401", []).append(time.monotonic() - t_revoke)
            end = time.monotonic() + 10
            while any(not (v.denied and v.closes) for v in fleet.victims) and time.monotonic() < end:
                await asyncio.sleep(0.1)
            await asyncio.sleep(3)

        fleet, summary = self.run_case(cluster, scenario, per_customer=2, per_dc=3, victims=4)
        self.assertEqual(summary["reconnects"], 0)
        log("401 on every edge after the revoke: %s" % ", ".join("%.2f s" % x for x in out["rest_401"]))
        ends = []
        for v in fleet.victims:
            self.assertIsNotNone(v.denied, "%s: its live session was not ended" % v.name)
            self.assertTrue(v.closes, "%s: not closed" % v.name)
            self.assertEqual(len(v.closes), 1, "%s reconnected with a revoked key: %r" % (v.name, v.closes))
            ends.append(v.closes[0][0] - out["revoke"])
        log("revoked key's live sessions closed after: %s" % figures(ends))
        self.assertLess(max(ends), 10)

    # 2 ------------------------------------------------------------------
    def test_2_edge_killed_mid_stream(self):
        cluster = self.make_cluster()
        out = {}

        async def scenario(fleet):
            await asyncio.sleep(3)
            victim = cluster.edges[0]
            out["t"] = time.monotonic()
            await asyncio.to_thread(victim.kill9)
            await asyncio.sleep(6)
            # Back after the others took its clients: it resumes from its own replica.
            await asyncio.to_thread(victim.start)
            out["restart_log"] = victim.server.stderr()
            await asyncio.sleep(2)

        fleet, summary = self.run_case(cluster, scenario)
        moved = [c for c in fleet.clients if c.events]
        self.assertGreater(len(moved), 0, "no client was on the killed edge")
        d = resume_delays(fleet.clients, out["t"])
        log("after kill -9 of an edge: %d clients resumed elsewhere, close -> resumed %s" % (len(moved), figures(d)))
        self.assertLess(max(d), 10)
        # Its replica was intact: it goes on from it, no snapshot.
        self.assertNotIn("snapshot", out["restart_log"])

    # 3 ------------------------------------------------------------------
    def test_3_relay_killed_and_restarted(self):
        cluster = self.make_cluster()
        out = {}

        async def scenario(fleet):
            await asyncio.sleep(3)
            await asyncio.to_thread(cluster.kill_relay)
            before = max(e.applied() for e in cluster.edges)
            await asyncio.sleep(4)
            backlog = origin_head(cluster.db) - before
            self.assertGreater(backlog, 20)
            t = time.monotonic()
            cluster.start_relay()
            head = origin_head(cluster.db)
            await asyncio.to_thread(wpd.wait_until, lambda: all(e.applied() >= head for e in cluster.edges), 15, 0.05,
                                    "the backlog on every edge")
            out["backlog"], out["took"] = backlog, time.monotonic() - t
            await asyncio.sleep(2)

        fleet, summary = self.run_case(cluster, scenario)
        self.assertEqual(summary["reconnects"], 0)
        log("relay down 4 s: backlog of %d changes on every edge %.2f s after its restart" %
            (out["backlog"], out["took"]))

    # 4 ------------------------------------------------------------------
    def test_4_redis_killed_restarted_emptied_trimmed(self):
        cluster = self.make_cluster()
        out = {}

        async def restart_redis(wipe):
            await asyncio.to_thread(cluster.redis.kill)
            if wipe:
                await asyncio.to_thread(cluster.redis.wipe)
            await asyncio.sleep(1)
            t = time.monotonic()
            await asyncio.to_thread(cluster.redis.start)
            head = origin_head(cluster.db)
            await asyncio.to_thread(wpd.wait_until, lambda: all(e.applied() >= head for e in cluster.edges), 20, 0.1,
                                    "every edge past seq %d" % head)
            return time.monotonic() - t

        async def scenario(fleet):
            await asyncio.sleep(2)
            out["aof"] = await restart_redis(wipe=False)
            await asyncio.sleep(2)
            out["empty"] = await restart_redis(wipe=True)
            await asyncio.sleep(2)
            # An edge whose position the stream no longer holds: stopped,
            # the stream trimmed past it by hand, started again.
            e = cluster.edges[2]
            await asyncio.to_thread(e.server.stop)
            at = await asyncio.to_thread(e.applied)
            await asyncio.sleep(2)
            head = origin_head(cluster.db)
            # The others past it first: only the stopped edge is left behind the cut.
            await asyncio.to_thread(wpd.wait_until, lambda: all(x.applied() >= head for x in cluster.edges[:2]),
                                    10, 0.1, "the running edges at seq %d" % head)
            await asyncio.to_thread(wpd.wait_until, lambda: stream_head(cluster) >= head, 10, 0.1,
                                    "the stream at the origin's head")
            trimmed = redis_cmd(cluster.redis.port, "XTRIM", "wpd:log", "MINID", "%d-0" % head)
            self.assertGreater(trimmed, 0)
            first = redis_cmd(cluster.redis.port, "XRANGE", "wpd:log", "-", "+", "COUNT", "1")[0][0]
            self.assertGreater(int(first.split("-")[0]), at + 1)
            await asyncio.to_thread(e.start)
            out["trim_log"] = e.server.stderr()
            out["trim"] = (at, first)
            await asyncio.sleep(2)

        fleet, summary = self.run_case(cluster, scenario)
        self.assertIn("loaded from a snapshot", out["trim_log"])
        self.assertIn("gap in the stream", out["trim_log"])
        self.assertIn("asking the relay for a snapshot (a gap in the stream)", out["trim_log"])
        log("redis kill -9 + AOF: edges past the head %.2f s after the restart; restarted empty: %.2f s; "
            "edge at %d with the stream trimmed to %s: re-bootstrapped from a snapshot" %
            (out["aof"], out["empty"], out["trim"][0], out["trim"][1]))

    # 5 ------------------------------------------------------------------
    def test_5_edge_cut_from_redis(self):
        cluster = self.make_cluster(proxied=(1,))
        out = {}

        async def scenario(fleet):
            await asyncio.sleep(3)
            cut = cluster.edges[1]
            t = out["t"] = time.monotonic()
            cut.proxy.mode = "cut"
            await asyncio.to_thread(wpd.wait_until, lambda: cut.healthz()[0] == 503, 10, 0.1, "/healthz failing")
            out["health"] = time.monotonic() - t
            out["healthz"] = cut.healthz()
            await asyncio.sleep(max(0, t + 22 - time.monotonic()))
            cut.proxy.mode = "pass"
            await asyncio.sleep(3)
            out["end"] = time.monotonic()

        fleet, summary = self.run_case(cluster, scenario)
        closed = [(ts - out["t"], code) for c in fleet.clients for ts, code in c.closes if out["t"] <= ts < out["end"]]
        self.assertTrue(closed, "no client was on the edge cut off")
        self.assertEqual({code for _t, code in closed}, {1012}, closed)
        after = [x for x, _c in closed]
        log("edge cut from redis: /healthz %r after %.1f s; %d live clients closed 1012 after %s; resumed: %s" %
            (out["healthz"], out["health"], len(closed), figures(after), figures(resume_delays(fleet.clients,
                                                                                                out["t"]))))
        self.assertGreater(min(after), 10)
        self.assertLess(max(after), 25)
        self.assertLess(out["health"], 8)

    # 6 ------------------------------------------------------------------
    def test_6_since_ahead_of_the_edge(self):
        cluster = self.make_cluster(proxied=(1,))
        a, b = cluster.edges[0], cluster.edges[1]
        out = {}

        async def scenario(fleet):
            cl = fleet.add(Client("direct", a.port, cluster.cert, cluster.tokens[("dc1", "c2")], "dc1", "c2"))
            fleet.tasks.append(asyncio.ensure_future(cl.run()))
            await fleet.wait_all([cl.subscribed.wait()], 10, "the direct client subscribed")
            b.proxy.mode = "hold"
            base = await asyncio.to_thread(b.applied)
            await asyncio.to_thread(wpd.wait_until, lambda: cl.last is not None and cl.last > base + 5, 15, 0.1,
                                    "changes of c2 past the held edge")
            cl.gate.clear()
            await cl.drop()
            since = cl.last
            # The edge itself (not just the proxy in front of it) knows the
            # engine's head is past since: its /metrics say so.
            await asyncio.to_thread(wpd.wait_until, lambda: b.metric("waypointd_replica_engine_seq") >= since, 10,
                                    0.1, "the held edge read the engine's head")
            out["b_applied"] = await asyncio.to_thread(b.applied)
            self.assertLess(out["b_applied"], since)
            cl.port = b.port
            cl.gate.set()
            await asyncio.to_thread(wpd.wait_until, lambda: cl.events, 10, 0.1, "the resume on the held edge")
            out["since"], out["ev"] = since, cl.events[0]
            await asyncio.sleep(2)
            out["during_hold"] = len([s for s, _w in cl.pushes if s > since])
            b.proxy.mode = "pass"
            await asyncio.sleep(2)

        fleet, summary = self.run_case(cluster, scenario, per_customer=1, per_dc=2)
        self.assertIs(out["ev"]["resumed"], True)
        self.assertEqual(out["ev"]["seq"], out["since"])
        self.assertFalse(out["ev"]["snapshot"])
        self.assertEqual(out["during_hold"], 0)
        log("since %d on an edge at %d (the engine's head known to it): resumed:true, no snapshot; the rest "
            "arrived once released" % (out["since"], out["b_applied"]))

    # 7 ------------------------------------------------------------------
    def test_7_serving_edge_below_the_stream_reloads_while_serving(self):
        cluster = self.make_cluster(proxied=(1,))
        b = cluster.edges[1]
        out = {}

        async def scenario(fleet):
            direct = [fleet.add(Client("on-b/%s" % c, b.port, cluster.cert, cluster.tokens[("dc1", c)], "dc1", c))
                      for c in CUSTOMERS["dc1"][:4]]
            direct.append(fleet.add(Client("on-b/dc2", b.port, cluster.cert, cluster.fleet_key, "dc2")))
            fleet.tasks += [asyncio.ensure_future(c.run()) for c in direct]
            await fleet.wait_all([c.subscribed.wait() for c in direct], 10, "the clients on the held edge")
            b.proxy.mode = "hold"
            out["at"] = await asyncio.to_thread(b.applied)
            await asyncio.sleep(3)
            head = origin_head(cluster.db)
            await asyncio.to_thread(wpd.wait_until, lambda: stream_head(cluster) >= head and all(
                x.applied() >= head for x in (cluster.edges[0], cluster.edges[2])), 10, 0.1, "the others at the head")
            redis_cmd(cluster.redis.port, "XTRIM", "wpd:log", "MINID", "%d-0" % head)
            out["trim"] = head
            b.proxy.mode = "pass"
            await asyncio.to_thread(wpd.wait_until, lambda: "loaded from a snapshot" in b.server.stderr().split(
                "gap in the stream")[-1] and "gap in the stream" in b.server.stderr(), 15, 0.1,
                "the held edge reloaded from a snapshot")
            await asyncio.sleep(2)

        fleet, summary = self.run_case(cluster, scenario, per_customer=1, per_dc=1)
        # Nothing pruned: the snapshot's log follows on from the edge's, no session is sent away.
        self.assertEqual(summary["reconnects"], 0)
        log("an edge held at %d while the stream was trimmed to %d-0 reloaded from a snapshot while serving; its "
            "clients lost nothing" % (out["at"], out["trim"]))

    # 8 ------------------------------------------------------------------
    def test_8_serving_edge_reloads_past_the_origins_pruned_log(self):
        """The realistic way to a gap: the origin pruned its log (the relay
        trims the stream to match) past a slow edge. The edge reloads from a
        snapshot whose log starts after what its live clients have: they
        must learn it (resume elsewhere, or a fresh snapshot), never just
        miss the pruned changes."""
        cluster = self.make_cluster(proxied=(1,))
        b = cluster.edges[1]
        out = {}

        async def scenario(fleet):
            direct = [fleet.add(Client("on-b/%s" % c, b.port, cluster.cert, cluster.tokens[("dc1", c)], "dc1", c))
                      for c in CUSTOMERS["dc1"]]
            for c in direct:
                c.allow_snapshot = True
            fleet.tasks += [asyncio.ensure_future(c.run()) for c in direct]
            await fleet.wait_all([c.subscribed.wait() for c in direct], 10, "the clients on the held edge")
            b.proxy.mode = "hold"
            out["at"] = await asyncio.to_thread(b.applied)
            await asyncio.sleep(3)
            cut = origin_head(cluster.db) - 5
            await asyncio.to_thread(wpd.wait_until, lambda: all(
                x.applied() >= cut for x in (cluster.edges[0], cluster.edges[2])), 10, 0.1, "the others past the cut")
            fleet.pruned = cluster.changes(0)
            # What the pruner does (store_log_prune): delete, then move pruned_through.
            await asyncio.to_thread(wpd.sql, cluster.db, "BEGIN; DELETE FROM change_log WHERE seq <= %d; UPDATE "
                                    "change_log_state SET pruned_through = %d WHERE id = 1; COMMIT;" % (cut, cut))
            await asyncio.to_thread(wpd.wait_until, lambda: int(redis_cmd(cluster.redis.port, "XRANGE", "wpd:log", "-",
                                    "+", "COUNT", "1")[0][0].split("-")[0]) > out["at"] + 1, 10, 0.1,
                                    "the stream trimmed past the held edge")
            out["cut"] = cut
            b.proxy.mode = "pass"
            await asyncio.to_thread(wpd.wait_until, lambda: "gap in the stream" in b.server.stderr() and
                                    "loaded from a snapshot" in b.server.stderr().split("gap in the stream")[-1],
                                    15, 0.1, "the held edge reloaded from a snapshot")
            await asyncio.sleep(3)
            out["direct"] = direct

        def allow(fleet):
            for c in fleet.clients:
                c.allow_snapshot = True
        fleet, summary = self.run_case(cluster, scenario, per_customer=1, per_dc=1, prepare=allow)
        on_b = out["direct"]
        for c in on_b:
            self.assertTrue(c.events, "%s on the reloaded edge was never told" % c.name)
            self.assertEqual(c.closes[0][1], 1012, c.name)
        log("edge held at %d, origin pruned through %d: its %d live clients sent elsewhere (1012) before the reload; "
            "then %d resumed, %d fresh snapshots, %d busy answers; 0 lost" %
            (out["at"], out["cut"], len(on_b), sum(1 for c in on_b for ev in c.events if not ev["snapshot"]),
             sum(1 for c in on_b for ev in c.events if ev["snapshot"]), sum(c.busy for c in on_b)))

    # 9 ------------------------------------------------------------------
    def test_9_origin_restored_from_a_backup(self):
        """docs/cluster.md's procedure: the origin restored from an older
        backup (its log behind the engine's head), its seq moved past
        everything handed out and its log before marked gone, then `relay
        --reset-engine`. The relay refuses the old engine before; after,
        every edge loads a snapshot under the new epoch and equals the
        restored origin, and a client's since from before gets
        resumed:false with a fresh snapshot, never a resume across other
        changes."""
        cluster = self.make_cluster(n_edges=2)
        bump = "UPDATE waypoints SET waypoints_ahead = COALESCE(waypoints_ahead, 0) + 1 WHERE dc_id = 'dc1'"
        wpd.sql(cluster.db, bump)
        cluster.wait_caught_up()
        backup = os.path.join(cluster.tmp, "backup.db")
        with sqlite3.connect(cluster.db) as src, sqlite3.connect(backup) as dst:
            src.backup(dst)
        for _ in range(3):
            wpd.sql(cluster.db, bump)
        old_head = cluster.wait_caught_up()
        cluster.kill_relay()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(cluster.db + suffix):
                os.remove(cluster.db + suffix)
        shutil.copy(backup, cluster.db)
        wpd.sql(cluster.db, "PRAGMA journal_mode=WAL")
        # Without the procedure the relay refuses the engine that is ahead.
        refused = subprocess.run([wpd.WAYPOINTD, "relay", "--db", cluster.db, "--redis", cluster.redis_url()],
                                 capture_output=True, text=True, timeout=DEADLINE)
        self.assertEqual(refused.returncode, 1, refused.stderr)
        self.assertIn("--reset-engine", refused.stderr)
        wpd.sql(cluster.db, "UPDATE sqlite_sequence SET seq = seq + 1000000 WHERE name = 'change_log';"
                            "UPDATE change_log_state SET pruned_through ="
                            " (SELECT seq FROM sqlite_sequence WHERE name = 'change_log') WHERE id = 1")
        cluster.start_relay("--reset-engine")
        for e in cluster.edges:
            wpd.wait_until(lambda e=e: "the engine was reset" in e.server.stderr() and
                           "loaded from a snapshot" in e.server.stderr().split("the engine was reset")[-1],
                           CATCH_UP, 0.1, "%s reloaded under the new epoch" % e.name)
        wpd.sql(cluster.db, bump)  # the restored origin goes on, with seqs past 1,000,000
        head = cluster.wait_caught_up()
        self.assertGreater(head, 1000000)
        cluster.check_rest(self)

        async def resume():
            live = await Live.open(cluster.edges[0].server, cluster.cert, key=cluster.fleet_key)
            try:
                return await live.subscribe("dc1", "c1", since=old_head, timeout=DEADLINE)
            finally:
                await live.close()
        reply = asyncio.run(resume())
        self.assertEqual(reply.get("type"), "subscribed", reply)
        self.assertFalse(reply["resumed"], reply)
        self.assertGreater(reply["seq"], 1000000)
        log("origin restored: edges reloaded under the new epoch; since %d from before got a fresh snapshot at %d"
            % (old_head, reply["seq"]))

    # 10 -----------------------------------------------------------------
    def test_10_failover_to_a_replica_that_missed_the_tail(self):
        """Redis fails over to a replica that stopped following before the
        last appends (the research note's recipe: an asynchronous replica
        always can). The relay finds the engine's head behind what it
        published and publishes the tail again with the same ids; edges
        ahead of the new head wait for it; nothing is lost."""
        cluster = self.make_cluster(failover=True)
        rdir = os.path.join(cluster.tmp, "redis-replica")
        os.mkdir(rdir)
        replica = Redis(rdir)
        replica.start()
        self.addCleanup(replica.kill)
        redis_cmd(replica.port, "REPLICAOF", "127.0.0.1", str(cluster.redis.port))
        out = {}

        def head(port):
            h = redis_cmd(port, "GET", "wpd:head")
            return int(h.split("-")[0]) if isinstance(h, str) else -1

        async def scenario(fleet):
            await asyncio.sleep(2)
            await asyncio.to_thread(wpd.wait_until, lambda: head(replica.port) == head(cluster.redis.port) > 0,
                                    10, 0.05, "the replica following the master")
            # The replica stops following; the master and the relay go on.
            redis_cmd(replica.port, "REPLICAOF", "NO", "ONE")
            out["replica"] = head(replica.port)
            await asyncio.to_thread(wpd.wait_until, lambda: head(cluster.redis.port) > out["replica"] + 10, 10, 0.05,
                                    "appends the replica missed")
            await asyncio.sleep(1)
            out["master"] = head(cluster.redis.port)
            out["edges"] = max(e.applied() for e in cluster.edges)
            t = time.monotonic()
            await asyncio.to_thread(cluster.redis.kill)
            cluster.rproxy.retarget(replica.port)
            now = origin_head(cluster.db)
            await asyncio.to_thread(wpd.wait_until, lambda: all(e.applied() >= now for e in cluster.edges), 20, 0.1,
                                    "every edge past the failover")
            out["took"] = time.monotonic() - t
            await asyncio.sleep(2)

        fleet, summary = self.run_case(cluster, scenario)
        self.assertGreater(out["master"], out["replica"])
        self.assertGreater(out["edges"], out["replica"], "no edge was ahead of the promoted replica")
        with open(cluster.relay_logs[-1]) as f:
            relay_log = f.read()
        # It took the promoted replica's older head and published after it.
        self.assertRegex(relay_log, r"engine's head is %d-\d+|engine head %d-\d+, publishing after it"
                         % (out["replica"], out["replica"]))
        log("failover to a replica at %d (the master was at %d, edges at %d): every edge past the head %.2f s later"
            % (out["replica"], out["master"], out["edges"], out["took"]))


@unittest.skipIf(NEEDS, "not installed: %s (scripts/install-deps.sh)" % " ".join(NEEDS))
class ClusterScriptTest(unittest.TestCase):
    """scripts/cluster.sh, as a user runs it (with this build's binary)."""

    def test_cluster_sh_serves_through_haproxy_and_stops_on_ctrl_c(self):
        tmp = wpd.make_tempdir("wpd-cluster-sh-")
        self.addCleanup(wpd.remove_tree, tmp)
        port = free_port()
        env = dict(os.environ, WAYPOINTD=os.path.abspath(wpd.WAYPOINTD), WAYPOINTD_PORT=str(port),
                   WAYPOINTD_CLUSTER_DIR=os.path.join(tmp, "c"))
        proc = subprocess.Popen(["sh", os.path.join(wpd.SOURCE_DIR, "scripts", "cluster.sh")], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)

        def kill_group():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait(timeout=DEADLINE)
            proc.stdout.close()
            proc.stderr.close()
        self.addCleanup(kill_group)
        lines, box = [], {}

        def read():
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if line.lstrip().startswith("haproxy 127.0.0.1:%d" % port):
                    box["ready"] = True
                    return
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout=90 * wpd.SLOW)
        self.assertIn("ready", box, "cluster.sh printed %r; stderr %r" % (lines, proc.stderr))
        text = "\n".join(lines)
        self.assertIn("https://127.0.0.1:%d/dispatch.html" % port, text)
        # The curl line as printed (two lines joined at the backslash), run by a shell.
        i = next(n for n, line in enumerate(lines) if line.lstrip().startswith("curl "))
        cmd = lines[i].rstrip("\\ ") + " " + lines[i + 1].strip()
        self.assertIn("https://127.0.0.1:%d/dcs/" % port, cmd)
        out = wpd.run(["sh", "-c", cmd + " --silent --show-error --max-time 10 --write-out '\\n%{http_code}'"])
        body, _, code = out.stdout.rpartition("\n")
        self.assertEqual(code, "200", out.stderr)
        self.assertIn("waypoints", json.loads(body))
        # Ctrl-C: the terminal sends SIGINT to the whole process group.
        os.killpg(proc.pid, signal.SIGINT)
        self.assertEqual(proc.wait(timeout=30 * wpd.SLOW), 130)

        def left():
            out = []
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        if os.getpgid(int(pid)) == proc.pid:
                            out.append(pid)
                    except OSError:
                        pass
            return out
        wpd.wait_until(lambda: not left(), 10, 0.1, "every process of cluster.sh gone")
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box tests of the live channel (CONTRACT.md, "Live channel (WebSocket)"
and "Tracking tokens").

Each class starts its own `waypointd serve` on 127.0.0.1:0 over a database
made with `waypointd init`; every write is made by the sqlite3 shell in
another process, as route planners and driver apps do. Clients are
python3-websockets over TLS, always verifying the dev certificate. Run:
    /usr/bin/python3 tests/integration/test_live.py
(ctest sets WAYPOINTD and WAYPOINTD_SOURCE_DIR.)
"""
import asyncio
import ssl
import socket
import logging
import os
import signal
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402
from live_client import Live, raw_upgrade_status_line, refused  # noqa: E402

# IsolatedAsyncioTestCase runs its loop in debug mode, which logs every slow
# callback (TLS handshakes, sqlite3 in threads); only real errors matter here.
logging.getLogger("asyncio").setLevel(logging.ERROR)

STATUSES = ("PENDING", "COMPLETED", "FAILED", "SKIPPED")
WAYPOINT_FIELDS = ("id", "customer_id", "status", "completed_timestamp", "estimated_time_of_arrival",
                   "waypoints_ahead", "waiting_time_seconds", "route_id")
PUSH_DEADLINE = 5.0    # a committed change reaches a subscriber
CLOSE_DEADLINE = 8.0   # a revoked key or expired token ends the connection (sweep every 2 s)


def wp(dc, customer, wid, n, **over):
    """A waypoints row with varied values (and NULLs) derived from n."""
    status = STATUSES[n % 4]
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
    """The contract's 8-field JSON object of a waypoints row."""
    return {f: row.get(f) for f in WAYPOINT_FIELDS}


def update_sql(row, **cols):
    """An UPDATE of row's waypoint (by its current dc_id and id) setting cols;
    row is updated in place to the new values."""
    sets = ", ".join("%s = %s" % (k, wpd.q(v)) for k, v in cols.items())
    stmt = "UPDATE waypoints SET %s WHERE dc_id = %s AND id = %s;" % (sets, wpd.q(row["dc_id"]), wpd.q(row["id"]))
    row.update(cols)
    return stmt


def insert_sql(row):
    return "INSERT INTO waypoints(%s) VALUES (%s);" % (", ".join(row), ", ".join(wpd.q(v) for v in row.values()))


def delete_sql(row):
    return "DELETE FROM waypoints WHERE dc_id = %s AND id = %s;" % (wpd.q(row["dc_id"]), wpd.q(row["id"]))


def apply_push(model, msg):
    """The contract's client model: replace by id, put new ones first, drop deleted ones."""
    if msg["type"] == "waypoint":
        w = msg["waypoint"]
        for i, old in enumerate(model):
            if old["id"] == w["id"]:
                model[i] = w
                return
        model.insert(0, w)
    else:
        model[:] = [w for w in model if w["id"] != msg["waypoint_id"]]


def customers_sql(dc, ids):
    return "".join("INSERT INTO customers(dc_id, id, name) VALUES (%s, %s, %s);" %
                   (wpd.q(dc), wpd.q(c), wpd.q("N " + c))
                   for c in ids)


class LiveTestCase(unittest.IsolatedAsyncioTestCase):
    """One sandbox and server per class, an all-DCs key; each test leaves the server alive."""

    dcs = ("dc1", "dc2")
    threads = 2
    extra = ()
    env = None  # variables added to the server's environment

    @classmethod
    def setUpClass(cls):
        sb = wpd.Sandbox(prefix="wpd-live-")
        cls.addClassCleanup(sb.close)
        cls.sb = sb
        cls.db = sb.db
        sb.insert("dcs", [{"id": d, "name": "DC " + d} for d in cls.dcs])
        cls.key = sb.key_create("all", all_dcs=True)
        cls.fixtures(sb)
        cls.server = sb.server(threads=cls.threads, extra=cls.extra, env=cls.env)

    @classmethod
    def fixtures(cls, sb):
        pass

    def tearDown(self):
        self.assertTrue(self.server.alive(), "the server died; stderr: %s" % self.server.stderr()[-3000:])

    # -- helpers -----------------------------------------------------------

    async def open(self, key=None, access_token=None, server=None, **kw):
        """A Live connection (the class key unless a key or access_token is given), closed at cleanup."""
        if key is None and access_token is None:
            key = self.key
        live = await Live.open(server or self.server, self.sb.cert, key=key, access_token=access_token, **kw)
        self.addAsyncCleanup(live.close)
        return live

    async def sql(self, statements, db=None):
        return await asyncio.to_thread(wpd.sql, db or self.db, statements)

    async def add_customer(self, dc, customer, rows):
        """The customer row and its waypoints, in insertion order, in one transaction."""
        await self.sql("BEGIN;" + customers_sql(dc, [customer]) + "".join(insert_sql(r) for r in rows) + "COMMIT;")

    async def rest_waypoints(self, dc, customer, key=None, server=None):
        resp = await asyncio.to_thread(self.sb.curl, server or self.server,
                                       "/dcs/%s/customers/%s/waypoints" % (dc, customer), bearer=key or self.key)
        self.assertEqual(resp.code, 200, resp)
        return resp.json()["waypoints"]

    def log_seqs(self, where="1", db=None):
        """The change log's seqs matching an SQL condition, ascending."""
        out = wpd.sql(db or self.db, "SELECT seq FROM change_log WHERE %s ORDER BY seq;" % where)
        return [int(x) for x in out.split()]

    def log_head(self, db=None):
        return int(wpd.sql_value(db or self.db, "SELECT COALESCE(MAX(seq), 0) FROM change_log;"))

    # -- assertions --------------------------------------------------------

    def assertSubscribed(self, reply, id_, dc, customer, resumed=False):
        self.assertEqual(reply.get("type"), "subscribed", reply)
        self.assertEqual(reply.get("id"), id_, reply)
        self.assertIs(type(reply.get("id")), type(id_), reply)
        self.assertEqual(reply.get("dc_id"), dc, reply)
        self.assertIn("customer_id", reply)
        self.assertEqual(reply["customer_id"], customer, reply)
        self.assertIs(type(reply.get("seq")), int, reply)
        self.assertGreaterEqual(reply["seq"], 0, reply)
        self.assertIs(reply.get("resumed"), resumed, reply)
        if resumed:
            self.assertNotIn("waypoints", reply)
        else:
            self.assertIsInstance(reply.get("waypoints"), list, reply)

    def assertError(self, msg, code, id_=None, check_id=True):
        self.assertEqual(msg.get("type"), "error", msg)
        self.assertEqual(msg.get("code"), code, msg)
        self.assertIsInstance(msg.get("message"), str, msg)
        self.assertTrue(msg["message"], msg)
        if check_id:
            self.assertEqual(msg.get("id"), id_, msg)

    def assertPush(self, msg, dc, customer, row, seq_after):
        """A `waypoint` message for row, with a seq above seq_after; returns its seq."""
        self.assertEqual(msg.get("type"), "waypoint", msg)
        self.assertEqual(msg.get("dc_id"), dc, msg)
        self.assertEqual(msg.get("customer_id"), customer, msg)
        self.assertEqual(msg.get("waypoint"), waypoint_json(row), msg)
        self.assertIs(type(msg.get("seq")), int, msg)
        self.assertGreater(msg["seq"], seq_after, msg)
        return msg["seq"]

    def assertRemoved(self, msg, dc, customer, wid, seq_after):
        self.assertEqual(msg.get("type"), "waypoint_removed", msg)
        self.assertEqual(msg.get("dc_id"), dc, msg)
        self.assertEqual(msg.get("customer_id"), customer, msg)
        self.assertEqual(msg.get("waypoint_id"), wid, msg)
        self.assertIs(type(msg.get("seq")), int, msg)
        self.assertGreater(msg["seq"], seq_after, msg)
        return msg["seq"]

    async def assertQuiet(self, live):
        """Nothing more arrives before the pong to a ping."""
        self.assertEqual(await live.ping(id="quiet"), [])


# ---------------------------------------------------------------------------


class UpgradeTest(LiveTestCase):
    """Who may open /live, and how a refused upgrade looks."""

    @classmethod
    def fixtures(cls, sb):
        cls.revoked_key = sb.key_create("revoked", all_dcs=True)
        sb.key_revoke("revoked")
        sb.sql(customers_sql("dc1", ["c1"]))  # token create needs the customer (issue 12)

    async def test_no_credentials_401(self):
        self.assertEqual(await refused(self.server, self.sb.cert), 401)

    async def test_bad_key_401(self):
        cases = {
            "garbage header": dict(key="not-a-key"),
            "well-formed unknown key": dict(key="wpk_" + "A" * 43),
            "revoked key": dict(key=self.revoked_key),
            "empty bearer": dict(headers={"Authorization": "Bearer "}),
            "other scheme": dict(headers={"Authorization": "Basic " + self.key}),
            "bad access_token": dict(access_token="wpk_" + "B" * 43),
            "tampered token": dict(access_token=self.sb.token_create("dc1", "c1")[:-2] + "xx"),
        }
        for name, kw in cases.items():
            with self.subTest(name):
                self.assertEqual(await refused(self.server, self.sb.cert, **kw), 401)

    async def test_other_path_404(self):
        for path in ("/nope", "/live/more", "/lives"):
            with self.subTest(path=path):
                self.assertEqual(await refused(self.server, self.sb.cert, key=self.key, path=path), 404)

    async def test_no_subprotocol_400(self):
        self.assertEqual(await refused(self.server, self.sb.cert, key=self.key, subprotocol=False), 400)

    async def test_wrong_subprotocol_400(self):
        for proto in ("other.v1", "waypoints.v2", "waypoints.v1x", "xwaypoints.v1"):
            with self.subTest(proto=proto):
                line = await asyncio.to_thread(raw_upgrade_status_line, self.server, self.sb.cert, key=self.key,
                                               subprotocol=[proto])
                self.assertEqual(line.split(" ")[1:2], ["400"], "status line %r (empty: closed unanswered)" % line)

    async def test_subprotocol_chosen_from_a_list(self):
        live = await self.open(subprotocol=["other.v1", "waypoints.v1"])
        self.assertEqual(live.ws.subprotocol, "waypoints.v1")
        self.assertSubscribed(await live.subscribe("dc1", "c1", id="l"), "l", "dc1", "c1")

    async def test_key_in_header_or_query(self):
        for how in ("header", "query"):
            with self.subTest(how=how):
                live = await (self.open() if how == "header" else self.open(access_token=self.key))
                self.assertEqual(live.ws.subprotocol, "waypoints.v1")
                self.assertSubscribed(await live.subscribe("dc1", "c1", id=how), how, "dc1", "c1")
                await live.close()

    async def test_refusal_status_line_is_http_1_1(self):
        # RFC 6455 4.1: the handshake response is HTTP/1.1; websockets refuses anything else.
        for name, kw, status in (("no credentials", {}, 401), ("bad key", dict(key="nope"), 401),
                                 ("other path", dict(key=self.key, path="/nope"), 404),
                                 ("no subprotocol", dict(key=self.key, subprotocol=False), 400)):
            with self.subTest(name):
                line = await asyncio.to_thread(raw_upgrade_status_line, self.server, self.sb.cert, **kw)
                self.assertEqual(line.split(" ")[1:2], [str(status)], line)
                self.assertTrue(line.startswith("HTTP/1.1 "), line)

    async def test_refused_upgrades_leave_server_serving(self):
        for _ in range(5):  # read by hand, whatever the HTTP version of the status line
            line = await asyncio.to_thread(raw_upgrade_status_line, self.server, self.sb.cert, key="nope")
            self.assertEqual(line.split(" ")[1:2], ["401"], line)
        live = await self.open()
        self.assertSubscribed(await live.subscribe("dc1", "c1", id="after"), "after", "dc1", "c1")
        await self.assertQuiet(live)


class SubscribeTest(LiveTestCase):
    """The `subscribed` reply and its snapshot."""

    @classmethod
    def fixtures(cls, sb):
        cls.snap = [wp("dc1", "snap", "snap-%d" % n, n) for n in (3, 0, 6, 1)]
        cls.snap.append({"dc_id": "dc1", "id": "snap-bare", "customer_id": "snap"})  # defaults and NULLs
        cls.many = [wp("dc1", "many", "many-%02d" % n, n) for n in (7, 2, 11, 5, 1, 12, 9, 3, 10, 4, 8, 6)]
        cls.other_dc = [wp("dc2", "snap", "snap-dc2", 2)]
        sb.sql(customers_sql("dc1", ["snap", "many"]) + customers_sql("dc2", ["snap"]))
        sb.insert("waypoints", cls.snap + cls.many + cls.other_dc)
        cls.key_dc1 = sb.key_create("dc1-only", dcs=["dc1"])

    async def test_snapshot_is_the_rest_list(self):
        live = await self.open()
        reply = await live.subscribe("dc1", "snap", id="s1")
        self.assertSubscribed(reply, "s1", "dc1", "snap")
        rest = await self.rest_waypoints("dc1", "snap")
        self.assertEqual(reply["waypoints"], rest)
        expected = [waypoint_json(r) for r in reversed(self.snap)]
        expected[0]["status"] = "PENDING"  # the column default
        self.assertEqual(rest, expected)
        # Consistent with change number seq: nothing was written since.
        self.assertEqual(reply["seq"], self.log_head())

    async def test_snapshot_is_the_newest_ten(self):
        live = await self.open()
        reply = await live.subscribe("dc1", "many", id="m")
        self.assertSubscribed(reply, "m", "dc1", "many")
        self.assertEqual(reply["waypoints"], await self.rest_waypoints("dc1", "many"))
        self.assertEqual(reply["waypoints"], [waypoint_json(r) for r in reversed(self.many[-10:])])

    async def test_customer_within_its_dc(self):
        live = await self.open()
        reply = await live.subscribe("dc2", "snap", id="d2")
        self.assertSubscribed(reply, "d2", "dc2", "snap")
        self.assertEqual(reply["waypoints"], [waypoint_json(self.other_dc[0])])

    async def test_unknown_customer_empty_list(self):
        live = await self.open()
        reply = await live.subscribe("dc1", "nobody-here", id="u")
        self.assertSubscribed(reply, "u", "dc1", "nobody-here")
        self.assertEqual(reply["waypoints"], [])
        self.assertEqual(await self.rest_waypoints("dc1", "nobody-here"), [])

    async def test_ids_are_echoed_unchanged(self):
        live = await self.open()
        for id_ in ("abc", "", "\u00fcn\u00efc\u00f8de \u6771", 'q"uote\\', 0, 7, -3, 2.5, 1234567890123):
            with self.subTest(id=id_):
                reply = await live.subscribe("dc1", "snap", id=id_)
                self.assertSubscribed(reply, id_, "dc1", "snap")
                await live.send({"type": "ping", "id": id_})
                pong = await live.expect("pong")
                self.assertEqual(pong.get("id"), id_, pong)
                self.assertIs(type(pong["id"]), type(id_), pong)
                rep, _ = await live.unsubscribe("dc1", "snap", id=id_)
                self.assertEqual((rep.get("type"), rep.get("id")), ("unsubscribed", id_), rep)
                self.assertIs(type(rep["id"]), type(id_), rep)

    async def test_several_subscriptions_on_one_connection(self):
        live = await self.open()
        a = await live.subscribe("dc1", "snap", id=1)
        b = await live.subscribe("dc1", "many", id=2)
        c = await live.subscribe("dc2", "snap", id=3)
        self.assertSubscribed(a, 1, "dc1", "snap")
        self.assertSubscribed(b, 2, "dc1", "many")
        self.assertSubscribed(c, 3, "dc2", "snap")
        self.assertEqual(len(b["waypoints"]), 10)

    async def test_key_without_the_dc_403(self):
        live = await self.open(key=self.key_dc1)
        for dc, customer in (("dc2", "snap"), ("dc2", None)):
            with self.subTest(dc=dc, customer=customer):
                reply = await live.subscribe(dc, customer, id="f-%s" % customer)
                self.assertError(reply, 403, "f-%s" % customer)
                await self.assertQuiet(live)
        # The same connection may still follow what the key allows.
        self.assertSubscribed(await live.subscribe("dc1", "snap", id="ok"), "ok", "dc1", "snap")

    async def test_missing_dc_403(self):
        live = await self.open()
        for customer in ("c1", None):
            with self.subTest(customer=customer):
                self.assertError(await live.subscribe("no-such-dc", customer, id="x"), 403, "x")
                await self.assertQuiet(live)


class PushTest(LiveTestCase):
    """Changes by other processes pushed to customer subscribers."""

    dcs = ("dc1", "dcbulk", "dcmove")

    async def test_insert_update_delete_pushed(self):
        rows = [wp("dc1", "p1", "p1-a", 1)]
        await self.add_customer("dc1", "p1", rows)
        live = await self.open()
        reply = await live.subscribe("dc1", "p1", id="p1")
        self.assertSubscribed(reply, "p1", "dc1", "p1")
        model = list(reply["waypoints"])
        seq = reply["seq"]

        new = wp("dc1", "p1", "p1-b", 8)
        await self.sql(insert_sql(new))
        msg = await live.recv(PUSH_DEADLINE)
        seq = self.assertPush(msg, "dc1", "p1", new, seq)
        self.assertEqual(seq, self.log_seqs("waypoint_id = 'p1-b'")[-1])
        apply_push(model, msg)
        rest = await self.rest_waypoints("dc1", "p1")
        self.assertEqual(msg["waypoint"], rest[0])
        self.assertEqual(model, rest)

        await self.sql(update_sql(new, status="COMPLETED", completed_timestamp=1795999999999, waypoints_ahead=0))
        msg = await live.recv(PUSH_DEADLINE)
        seq = self.assertPush(msg, "dc1", "p1", new, seq)
        apply_push(model, msg)
        self.assertEqual(model, await self.rest_waypoints("dc1", "p1"))

        await self.sql(update_sql(new, route_id=None, estimated_time_of_arrival=None, waiting_time_seconds=None))
        msg = await live.recv(PUSH_DEADLINE)
        seq = self.assertPush(msg, "dc1", "p1", new, seq)
        apply_push(model, msg)
        self.assertEqual(model, await self.rest_waypoints("dc1", "p1"))

        await self.sql(delete_sql(new))
        msg = await live.recv(PUSH_DEADLINE)
        seq = self.assertRemoved(msg, "dc1", "p1", "p1-b", seq)
        self.assertEqual(seq, self.log_seqs("waypoint_id = 'p1-b'")[-1])
        apply_push(model, msg)
        self.assertEqual(model, await self.rest_waypoints("dc1", "p1"))
        self.assertEqual(model, [waypoint_json(rows[0])])
        await self.assertQuiet(live)

    async def test_utf8_ids(self):
        customer = "kunde-\u00e4\u00f6-\u6771\u4eac"
        rows = [wp("dc1", customer, "wp-\u00df-1", 1)]
        await self.add_customer("dc1", customer, rows)
        live = await self.open()
        reply = await live.subscribe("dc1", customer, id="u")
        self.assertSubscribed(reply, "u", "dc1", customer)
        self.assertEqual(reply["waypoints"], await self.rest_waypoints("dc1", urllib.parse.quote(customer, safe="")))
        self.assertEqual(reply["waypoints"], [waypoint_json(rows[0])])
        fresh = wp("dc1", customer, "wp-\u2713-2", 2)
        await self.sql(insert_sql(fresh))
        self.assertPush(await live.recv(PUSH_DEADLINE), "dc1", customer, fresh, reply["seq"])

    async def test_update_changing_nothing_pushes_nothing(self):
        rows = [wp("dc1", "p2", "p2-a", 1), wp("dc1", "p2", "p2-b", 2)]
        await self.add_customer("dc1", "p2", rows)
        live = await self.open()
        seq = (await live.subscribe("dc1", "p2"))["seq"]
        a = rows[0]
        same = {k: v for k, v in a.items() if k not in ("dc_id", "id")}
        await self.sql(update_sql(a, **same) +
                       "UPDATE waypoints SET status = status WHERE dc_id = 'dc1' AND customer_id = 'p2';")
        self.assertEqual(await live.ping(), [])
        # A real change after it is the very next message: the no-op left nothing queued before it.
        await self.sql(update_sql(rows[1], waypoints_ahead=42))
        msg = await live.recv(PUSH_DEADLINE)
        self.assertPush(msg, "dc1", "p2", rows[1], seq)
        await self.assertQuiet(live)

    async def test_seq_strictly_increasing(self):
        rows = [wp("dc1", "p3", "p3-%d" % n, n) for n in range(5)]
        await self.add_customer("dc1", "p3", rows)
        live = await self.open()
        start = (await live.subscribe("dc1", "p3"))["seq"]
        fresh = wp("dc1", "p3", "p3-new", 9)
        steps = [update_sql(rows[0], status="FAILED", completed_timestamp=1795000000001),
                 insert_sql(fresh),
                 update_sql(rows[1], waypoints_ahead=77),
                 delete_sql(rows[2]),
                 update_sql(rows[3], route_id="r-other"),
                 update_sql(rows[4], waiting_time_seconds=1)]
        for stmt in steps:  # one writer process, one commit each
            await self.sql(stmt)
        msgs = await live.collect(len(steps), PUSH_DEADLINE)
        seqs = [m["seq"] for m in msgs]
        self.assertEqual(seqs, sorted(set(seqs)), msgs)
        self.assertGreater(seqs[0], start)
        self.assertEqual(seqs, self.log_seqs("dc_id = 'dc1' AND customer_id = 'p3' AND seq > %d" % start))
        expect = [rows[0], fresh, rows[1], None, rows[3], rows[4]]
        for msg, row in zip(msgs, expect):
            if row is None:
                self.assertRemoved(msg, "dc1", "p3", "p3-2", start)
            else:
                self.assertPush(msg, "dc1", "p3", row, start)
        await self.assertQuiet(live)

    async def test_transaction_of_100_updates_whole_and_in_order(self):
        rows = [wp("dcbulk", "bulk", "b%03d" % n, n, status="PENDING", completed_timestamp=None) for n in range(100)]
        await self.add_customer("dcbulk", "bulk", rows)
        cust = await self.open()
        dcsub = await self.open()
        rc = await cust.subscribe("dcbulk", "bulk", id="c")
        rd = await dcsub.subscribe("dcbulk", id="d")
        self.assertSubscribed(rc, "c", "dcbulk", "bulk")
        self.assertSubscribed(rd, "d", "dcbulk", None)
        self.assertEqual(len(rc["waypoints"]), 10)
        self.assertEqual(len(rd["waypoints"]), 100)
        start = max(rc["seq"], rd["seq"])
        order = [(n * 37) % 100 for n in range(100)]  # not in id order
        stmts = [update_sql(rows[n], waypoints_ahead=1000 + i, estimated_time_of_arrival=1797000000000 + n)
                 for i, n in enumerate(order)]
        await self.sql("BEGIN;" + "".join(stmts) + "COMMIT;")
        log = self.log_seqs("dc_id = 'dcbulk' AND seq > %d" % start)
        self.assertEqual(len(log), 100)
        for name, live in (("customer", cust), ("dc", dcsub)):
            with self.subTest(subscriber=name):
                msgs = await live.collect(100, PUSH_DEADLINE * 2)
                self.assertEqual([m.get("waypoint", {}).get("id") for m in msgs], ["b%03d" % n for n in order])
                self.assertEqual([m["seq"] for m in msgs], log)
                for msg, n in zip(msgs, order):
                    self.assertPush(msg, "dcbulk", "bulk", rows[n], start)
                await self.assertQuiet(live)

    async def test_waypoint_moved_to_another_customer(self):
        await self.add_customer("dcmove", "from", [wp("dcmove", "from", "mv-keep", 1)])
        moving = wp("dcmove", "from", "mv1", 2)
        await self.sql(insert_sql(moving))
        await self.add_customer("dcmove", "to", [wp("dcmove", "to", "to-a", 3)])
        old, new, dcsub = await self.open(), await self.open(), await self.open()
        s_old = await old.subscribe("dcmove", "from")
        s_new = await new.subscribe("dcmove", "to")
        s_dc = await dcsub.subscribe("dcmove")
        self.assertIn(waypoint_json(moving), s_old["waypoints"])
        await self.sql(update_sql(moving, customer_id="to", waypoints_ahead=5))

        msg = await old.recv(PUSH_DEADLINE)
        self.assertRemoved(msg, "dcmove", "from", "mv1", s_old["seq"])
        msg = await new.recv(PUSH_DEADLINE)
        self.assertPush(msg, "dcmove", "to", moving, s_new["seq"])
        # REST orders by insertion, and mv1 was inserted before to-a: compare by id.
        rest = {w["id"]: w for w in await self.rest_waypoints("dcmove", "to")}
        self.assertEqual(msg["waypoint"], rest.get("mv1"))
        a, b = await dcsub.collect(2, PUSH_DEADLINE)
        s = self.assertRemoved(a, "dcmove", "from", "mv1", s_dc["seq"])
        self.assertPush(b, "dcmove", "to", moving, s)
        self.assertNotIn("mv1", [w["id"] for w in await self.rest_waypoints("dcmove", "from")])
        for live in (old, new, dcsub):
            await self.assertQuiet(live)

    async def test_unsubscribe_stops_pushes(self):
        a_rows, b_rows = [wp("dc1", "ua", "ua-1", 1)], [wp("dc1", "ub", "ub-1", 2)]
        await self.add_customer("dc1", "ua", a_rows)
        await self.add_customer("dc1", "ub", b_rows)
        live = await self.open()
        await live.subscribe("dc1", "ua", id="a")
        sb = await live.subscribe("dc1", "ub", id="b")
        reply, before = await live.unsubscribe("dc1", "ua", id="ua")
        self.assertEqual(reply, {"type": "unsubscribed", "id": "ua"})
        await self.sql(update_sql(a_rows[0], waypoints_ahead=3))
        await self.sql(update_sql(b_rows[0], waypoints_ahead=4))
        msg = await live.recv(PUSH_DEADLINE)  # ub's change, not ua's before it
        self.assertPush(msg, "dc1", "ub", b_rows[0], sb["seq"])
        await self.assertQuiet(live)


class DcSubscriptionTest(LiveTestCase):
    """Subscriptions to a whole DC (customer_id absent)."""

    dcs = ("dcw", "dcw2")

    @classmethod
    def fixtures(cls, sb):
        sb.sql(customers_sql("dcw", ["x", "y", "z"]) + customers_sql("dcw2", ["x"]))
        # Interleaved customers, mixed statuses, ids out of order.
        cls.rows = [wp("dcw", "xyz"[n % 3], "w%02d" % ((n * 7) % 20), n) for n in range(20)]
        cls.rows.append({"dc_id": "dcw", "id": "w-default", "customer_id": "y"})  # status defaults to PENDING
        cls.other = [wp("dcw2", "x", "o1", 0), wp("dcw2", "x", "o2", 4)]
        rows = list(cls.rows)
        rows.insert(5, cls.other[0])
        rows.insert(12, cls.other[1])
        sb.insert("waypoints", rows)
        cls.token_x = sb.token_create("dcw", "x")

    def expected_snapshot(self):
        out = []
        for r in reversed(self.rows):
            w = waypoint_json(r)
            w["status"] = w["status"] or "PENDING"
            if w["status"] == "PENDING":
                out.append(w)
        return out

    async def test_snapshot_every_pending_waypoint_newest_first(self):
        live = await self.open()
        for id_, customer in (("absent", "MISSING"), ("null", None)):
            with self.subTest(customer_id=id_):
                if customer == "MISSING":
                    reply = await live.subscribe("dcw", id=id_)
                else:
                    reply = await live.subscribe("dcw", None, id=id_)
                self.assertSubscribed(reply, id_, "dcw", None)
                expected = self.expected_snapshot()
                self.assertGreater(len(expected), 5)
                self.assertEqual(reply["waypoints"], expected)
                self.assertEqual(reply["seq"], self.log_head())

    async def test_changes_of_every_customer_arrive(self):
        tmp_x, tmp_z = wp("dcw", "x", "tmp-x", 0), wp("dcw", "z", "tmp-z", 4)
        fresh = wp("dcw", "y", "tmp-y", 5)
        await self.sql(insert_sql(tmp_x) + insert_sql(tmp_z))
        try:
            live = await self.open()
            seq = (await live.subscribe("dcw", id="d"))["seq"]
            await self.sql(update_sql(dict(self.other[0]), waypoints_ahead=8))  # another DC: not for us
            await self.sql(update_sql(tmp_x, status="COMPLETED", completed_timestamp=1795000000777))
            await self.sql(insert_sql(fresh))
            await self.sql(delete_sql(tmp_z))
            m1, m2, m3 = await live.collect(3, PUSH_DEADLINE)
            s = self.assertPush(m1, "dcw", "x", tmp_x, seq)  # no longer PENDING: still pushed
            s = self.assertPush(m2, "dcw", "y", fresh, s)
            self.assertRemoved(m3, "dcw", "z", "tmp-z", s)
            await self.assertQuiet(live)
        finally:  # leave the fixture as it was for the other tests
            await self.sql("DELETE FROM waypoints WHERE dc_id = 'dcw' AND id LIKE 'tmp-%';")

    async def test_tracking_token_may_not_subscribe_to_a_dc(self):
        live = await self.open(access_token=self.token_x)
        for customer in ("MISSING", None):
            with self.subTest(customer=customer):
                if customer == "MISSING":
                    reply = await live.subscribe("dcw", id="dc")
                else:
                    reply = await live.subscribe("dcw", None, id="dc")
                self.assertError(reply, 403, "dc")
                await self.assertQuiet(live)
        self.assertSubscribed(await live.subscribe("dcw", "x", id="own"), "own", "dcw", "x")


class SharedSnapshotTest(LiveTestCase):
    """A DC snapshot is read and rendered by the snapshot worker
    (snapmaker.c); a large one (>= 256 PENDING waypoints) once per DC and
    seq, shared by the dashboards that subscribe while the database is
    unchanged, on either service thread: each still gets its own message
    (its own id) with exactly the database's PENDING waypoints; a change
    gives the next dashboard a new rendering."""

    dcs = ("big",)
    threads = 2
    N = 300

    @classmethod
    def fixtures(cls, sb):
        sb.sql(customers_sql("big", ["c%03d" % i for i in range(30)]))
        cls.rows = [{"dc_id": "big", "id": "w%04d" % n, "customer_id": "c%03d" % (n % 30),
                     "route_id": "r-%d" % (n % 7), "status": "PENDING", "estimated_time_of_arrival": 1796000000000 + n,
                     "waypoints_ahead": n % 9, "waiting_time_seconds": n} for n in range(cls.N)]
        sb.insert("waypoints", cls.rows)

    def expected(self):
        return [waypoint_json(r) for r in reversed(self.rows)]

    async def dashboard(self, i):
        live = await self.open()
        reply = await live.subscribe("big", id="dash-%d" % i)
        self.assertEqual((reply["type"], reply["id"], reply["resumed"]), ("subscribed", "dash-%d" % i, False), reply)
        return live, reply

    async def test_replies_keep_the_order_of_the_requests(self):
        """What a client sends while its DC snapshot is made off the thread
        is answered after it, in order; a customer's subscription is
        answered on the thread at once, yet not ahead of the DC's."""
        live = await self.open()
        await live.send({"type": "subscribe", "id": "dc", "dc_id": "big"})
        await live.send({"type": "ping", "id": "p1"})
        await live.send({"type": "subscribe", "id": "cust", "dc_id": "big", "customer_id": "c001"})
        await live.send({"type": "subscribe", "id": "dc2", "dc_id": "big"})
        await live.send({"type": "ping", "id": "p2"})
        got = [await live.recv() for _ in range(5)]
        self.assertEqual([(m["type"], m["id"]) for m in got],
                         [("subscribed", "dc"), ("pong", "p1"), ("subscribed", "cust"), ("subscribed", "dc2"),
                          ("pong", "p2")])
        self.assertEqual(got[0]["waypoints"], self.expected())
        self.assertEqual(got[3]["waypoints"], self.expected())
        self.assertEqual(len(got[2]["waypoints"]), 10)

    async def test_dashboards_share_one_rendering_and_see_every_change(self):
        replies = [r for _, r in await asyncio.gather(*(self.dashboard(i) for i in range(3)))]
        for r in replies:
            self.assertEqual(r["waypoints"], self.expected())
            self.assertEqual(r["seq"], replies[0]["seq"])
        # A logged change (a new seq): the next snapshot has it.
        row = self.rows[17]
        await asyncio.to_thread(self.sb.sql, update_sql(row, estimated_time_of_arrival=1797000000000))
        live, r = await self.dashboard(3)
        self.assertGreater(r["seq"], replies[0]["seq"])
        self.assertEqual(r["waypoints"], self.expected())
        # Any change of the eight fields is logged (a new seq), so a rendering
        # kept under the old seq is never handed out again.
        seq = r["seq"]
        row = self.rows[40]
        await asyncio.to_thread(self.sb.sql, update_sql(row, route_id="moved"))
        live, r = await self.dashboard(4)
        self.assertGreater(r["seq"], seq)
        self.assertEqual(r["waypoints"], self.expected())
        seq = r["seq"]
        # And what follows a shared snapshot arrives once, after it.
        row = self.rows[3]
        await asyncio.to_thread(self.sb.sql, update_sql(row, waypoints_ahead=42))
        self.assertPush(await live.recv(), "big", row["customer_id"], row, seq)


class ResumeTest(LiveTestCase):
    """Resuming with `since` on the same server."""

    async def test_resume_after_disconnect(self):
        rows = [wp("dc1", "r1", "r1-%s" % c, n) for n, c in enumerate("abc")]
        await self.add_customer("dc1", "r1", rows)
        await self.add_customer("dc1", "r1-other", [wp("dc1", "r1-other", "ro-1", 1)])
        live = await self.open()
        reply = await live.subscribe("dc1", "r1", id="first")
        model = list(reply["waypoints"])
        await self.sql(update_sql(rows[0], waypoints_ahead=11))
        msg = await live.recv(PUSH_DEADLINE)
        last = self.assertPush(msg, "dc1", "r1", rows[0], reply["seq"])
        apply_push(model, msg)
        await live.close()

        fresh = wp("dc1", "r1", "r1-d", 7)
        await self.sql(update_sql(rows[0], status="COMPLETED", completed_timestamp=1795000000123))
        await self.sql(insert_sql(fresh))
        await self.sql(update_sql(rows[0], estimated_time_of_arrival=1796111111111))
        await self.sql(update_sql({"dc_id": "dc1", "id": "ro-1"}, waypoints_ahead=3))  # another customer
        await self.sql(delete_sql(rows[2]))
        missed = self.log_seqs("dc_id = 'dc1' AND customer_id = 'r1' AND seq > %d" % last)
        self.assertEqual(len(missed), 4)

        live = await self.open()
        reply = await live.subscribe("dc1", "r1", id="again", since=last)
        self.assertSubscribed(reply, "again", "dc1", "r1", resumed=True)
        msgs = await live.collect(3, PUSH_DEADLINE)
        # Coalesced per waypoint (newest state), in the order of each one's newest change.
        s = self.assertPush(msgs[0], "dc1", "r1", fresh, last)
        self.assertEqual(s, missed[1])
        s = self.assertPush(msgs[1], "dc1", "r1", rows[0], s)
        self.assertEqual(s, missed[2])
        s = self.assertRemoved(msgs[2], "dc1", "r1", "r1-c", s)
        self.assertEqual(s, missed[3])
        await self.assertQuiet(live)
        for m in msgs:
            apply_push(model, m)
        self.assertEqual(model, await self.rest_waypoints("dc1", "r1"))
        # And it stays subscribed.
        await self.sql(update_sql(rows[1], waypoints_ahead=55))
        self.assertPush(await live.recv(PUSH_DEADLINE), "dc1", "r1", rows[1], s)
        # The reply's seq is the since given (checked last, so the replay is checked too).
        self.assertEqual(reply["seq"], last, "resumed reply: seq must be the since given: %r" % reply)

    async def test_resume_dc_and_customers_across_a_move(self):
        a_rows = [wp("dc2", "ma", "ma-%d" % n, n) for n in range(3)]
        await self.add_customer("dc2", "ma", a_rows)
        await self.add_customer("dc2", "mb", [wp("dc2", "mb", "mb-0", 5)])
        live = await self.open()
        since = (await live.subscribe("dc2", id="d"))["seq"]
        await live.close()
        fresh = wp("dc2", "ma", "ma-new", 6)
        moved = a_rows[1]
        await self.sql(insert_sql(fresh))                                 # ma: waypoint
        await self.sql(update_sql(moved, customer_id="mb", route_id="rx"))  # ma: removed, mb: waypoint
        await self.sql(delete_sql(a_rows[2]))                             # ma: removed
        log = self.log_seqs("seq > %d" % since)
        self.assertEqual(len(log), 4, "a move logs two changes")
        scopes = {"dc": (None, 4), "ma": ("ma", 3), "mb": ("mb", 1)}
        got = {}
        for name, (customer, n) in scopes.items():
            live = await self.open()
            reply = await live.subscribe("dc2", customer, id=name, since=since)
            self.assertSubscribed(reply, name, "dc2", customer, resumed=True)
            got[name] = (reply, await live.collect(n, PUSH_DEADLINE))
            await self.assertQuiet(live)
        d = got["dc"][1]
        self.assertPush(d[0], "dc2", "ma", fresh, since)
        self.assertRemoved(d[1], "dc2", "ma", "ma-1", d[0]["seq"])
        self.assertPush(d[2], "dc2", "mb", moved, d[1]["seq"])
        self.assertRemoved(d[3], "dc2", "ma", "ma-2", d[2]["seq"])
        self.assertEqual([m["seq"] for m in d], log)
        self.assertEqual(got["ma"][1], [d[0], d[1], d[3]])
        self.assertEqual(got["mb"][1], [d[2]])
        for name, (reply, _) in got.items():
            self.assertEqual(reply["seq"], since, "resumed reply: seq must be the since given: %r" % reply)

    async def test_resume_with_nothing_missed(self):
        await self.add_customer("dc1", "r2", [wp("dc1", "r2", "r2-a", 1)])
        live = await self.open()
        seq = (await live.subscribe("dc1", "r2"))["seq"]
        live2 = await self.open()
        reply = await live2.subscribe("dc1", "r2", id="r", since=seq)
        self.assertSubscribed(reply, "r", "dc1", "r2", resumed=True)
        self.assertEqual(reply["seq"], seq)
        await self.assertQuiet(live2)

    async def test_issue_11_customer_and_its_dc_resumed_on_one_connection(self):
        """Each change once, in increasing seq, when a customer and its DC resume from one since."""
        await self.add_customer("dc2", "mc", [wp("dc2", "mc", "mc-0", 1)])
        await self.add_customer("dc2", "md", [wp("dc2", "md", "md-0", 2)])
        since = self.log_head()
        await self.sql(update_sql({"dc_id": "dc2", "id": "mc-0"}, waypoints_ahead=4))  # the customer's
        await self.sql(update_sql({"dc_id": "dc2", "id": "md-0"}, waypoints_ahead=5))  # another's, same DC
        log = self.log_seqs("seq > %d" % since)
        self.assertEqual(len(log), 2)
        live = await self.open()
        reply = await live.subscribe("dc2", "mc", id="c", since=since)
        self.assertSubscribed(reply, "c", "dc2", "mc", resumed=True)
        reply = await live.subscribe("dc2", id="d", since=since)
        self.assertSubscribed(reply, "d", "dc2", None, resumed=True)
        await live.ping(id="p")
        pushed = [m.get("seq") for m in live.log if m.get("type") in ("waypoint", "waypoint_removed")]
        self.assertEqual(pushed, log, live.log)
        # And later changes come once, though both scopes cover them.
        await self.sql(update_sql({"dc_id": "dc2", "id": "mc-0"}, waypoints_ahead=3))
        msg = await live.recv(PUSH_DEADLINE)
        self.assertGreater(msg.get("seq"), log[-1], msg)
        await self.assertQuiet(live)

    async def test_resume_from_the_future_gets_a_snapshot(self):
        await self.add_customer("dc1", "r3", [wp("dc1", "r3", "r3-a", 1)])
        live = await self.open()
        head = self.log_head()
        reply = await live.subscribe("dc1", "r3", id="f", since=head + 1000)
        self.assertSubscribed(reply, "f", "dc1", "r3", resumed=False)
        self.assertEqual(reply["seq"], head)
        self.assertEqual(reply["waypoints"], await self.rest_waypoints("dc1", "r3"))


class TokenTest(LiveTestCase):
    """Tracking tokens on the live channel."""

    @classmethod
    def fixtures(cls, sb):
        sb.sql(customers_sql("dc1", ["t1", "t2"]) + customers_sql("dc2", ["t1"]))
        cls.t1 = [wp("dc1", "t1", "t1-a", 1), wp("dc1", "t1", "t1-b", 2)]
        sb.insert("waypoints", cls.t1 + [wp("dc1", "t2", "t2-a", 3), wp("dc2", "t1", "t1-dc2", 4)])

    async def test_token_in_query_follows_its_customer(self):
        token = await asyncio.to_thread(self.sb.token_create, "dc1", "t1")
        live = await self.open(access_token=token)
        reply = await live.subscribe("dc1", "t1", id="t")
        self.assertSubscribed(reply, "t", "dc1", "t1")
        self.assertEqual(reply["waypoints"], await self.rest_waypoints("dc1", "t1", key=token))
        row = dict(self.t1[0])
        await self.sql(update_sql(row, waypoints_ahead=2))
        self.assertPush(await live.recv(PUSH_DEADLINE), "dc1", "t1", row, reply["seq"])

    async def test_token_other_customer_403(self):
        token = await asyncio.to_thread(self.sb.token_create, "dc1", "t1")
        live = await self.open(access_token=token)
        for dc, customer in (("dc1", "t2"), ("dc2", "t1"), ("dc1", "nobody")):
            with self.subTest(dc=dc, customer=customer):
                self.assertError(await live.subscribe(dc, customer, id=9), 403, 9)
                await self.assertQuiet(live)
        self.assertSubscribed(await live.subscribe("dc1", "t1", id=10), 10, "dc1", "t1")

    async def test_posted_token_in_header(self):
        resp = await asyncio.to_thread(self.sb.curl, self.server, "/dcs/dc1/customers/t1/tracking-token",
                                       method="POST", bearer=self.key, data="{}",
                                       headers={"Content-Type": "application/json"})
        self.assertEqual(resp.code, 200, resp)
        token = resp.json()["data"]["token"]
        live = await self.open(key=token)  # a token goes wherever a key does
        self.assertSubscribed(await live.subscribe("dc1", "t1", id="p"), "p", "dc1", "t1")
        self.assertError(await live.subscribe("dc1", "t2", id="q"), 403, "q")

    async def test_expired_token_ends_the_connection(self):
        created = time.monotonic()
        token = await asyncio.to_thread(self.sb.token_create, "dc1", "t1", 3)
        live = await self.open(access_token=token)
        self.assertSubscribed(await live.subscribe("dc1", "t1", id="e"), "e", "dc1", "t1")
        before, code = await live.closed(3 + CLOSE_DEADLINE)
        errors = [m for m in before if m.get("type") == "error"]
        self.assertEqual(len(errors), 1, before)
        self.assertError(errors[0], 401, check_id=False)
        self.assertEqual(before[-1], errors[0], "the error is the last message: %r" % before)
        self.assertGreaterEqual(time.monotonic() - created, 2.5, "closed before the token expired")
        self.assertNotEqual(code, 1000, "closed as if nothing went wrong")
        # And the token no longer opens anything.
        self.assertEqual(await refused(self.server, self.sb.cert, access_token=token), 401)


class RevokeTest(LiveTestCase):
    async def test_revoked_key_ends_open_connections(self):
        key = await asyncio.to_thread(self.sb.key_create, "revokee", ["dc1"])
        live = await self.open(key=key)
        bystander = await self.open()
        self.assertSubscribed(await live.subscribe("dc1", id="dc"), "dc", "dc1", None)
        self.assertSubscribed(await bystander.subscribe("dc1", id="dc"), "dc", "dc1", None)
        await asyncio.to_thread(self.sb.key_revoke, "revokee")
        before, code = await live.closed(CLOSE_DEADLINE)
        errors = [m for m in before if m.get("type") == "error"]
        self.assertEqual(len(errors), 1, before)
        self.assertError(errors[0], 401, check_id=False)
        self.assertNotEqual(code, 1000)
        self.assertEqual(await refused(self.server, self.sb.cert, key=key), 401)
        await self.assertQuiet(bystander)  # other keys are untouched

    async def test_issue_3_bearer_spelling_survives_the_sweep(self):
        # "bearer" in any case and with extra spaces is the same key: the
        # periodic credential check (every 2 s) must not take it for revoked.
        live = await Live.open(self.server, self.sb.cert, headers={"Authorization": "bearer   " + self.key})
        self.addAsyncCleanup(live.close)
        self.assertSubscribed(await live.subscribe("dc1", id="dc"), "dc", "dc1", None)
        await asyncio.sleep(5)
        await self.assertQuiet(live)


class MalformedTest(LiveTestCase):
    """Bad client messages: error 400 and the connection stays open; too big: close 1009."""

    BAD = [
        ("not JSON", "hello", None),
        ("empty", "", None),
        ("truncated JSON", '{"type":"ping","id":"t"', None),
        ("JSON array", '[{"type":"ping","id":"a"}]', None),
        ("JSON string", '"ping"', None),
        ("unknown type", '{"type":"bogus","id":"u1"}', "u1"),
        ("type missing", '{"id":"u2","dc_id":"dc1"}', "u2"),
        ("type not a string", '{"type":1,"id":"u3"}', "u3"),
        ("missing dc_id", '{"type":"subscribe","id":"m1","customer_id":"c1"}', "m1"),
        ("dc_id a number", '{"type":"subscribe","id":"m2","dc_id":5}', "m2"),
        ("customer_id an object", '{"type":"subscribe","id":"m3","dc_id":"dc1","customer_id":{}}', "m3"),
        ("unsubscribe without dc_id", '{"type":"unsubscribe","id":"m4"}', "m4"),
        ("id an object", '{"type":"subscribe","id":{"a":1},"dc_id":"dc1","customer_id":"c1"}', "ANY"),
        ("id an array", '{"type":"ping","id":[1]}', "ANY"),
        ("id true", '{"type":"ping","id":true}', "ANY"),
        ("since -1", '{"type":"subscribe","id":"s1","dc_id":"dc1","customer_id":"c1","since":-1}', "s1"),
        ('since "x"', '{"type":"subscribe","id":"s2","dc_id":"dc1","customer_id":"c1","since":"x"}', "s2"),
        ("since 1.5", '{"type":"subscribe","id":"s3","dc_id":"dc1","customer_id":"c1","since":1.5}', "s3"),
    ]

    async def test_malformed_messages_400_and_stay_open(self):
        live = await self.open()
        for name, text, id_ in self.BAD:
            with self.subTest(name):
                await live.send_raw(text)
                msg = await live.recv(what="the error for %s" % name)
                self.assertError(msg, 400, id_, check_id=id_ != "ANY" and id_ is not None)
                if id_ is None:  # no request id to echo
                    self.assertIsNone(msg.get("id"), msg)
                await self.assertQuiet(live)
        # Nothing was subscribed by any of them.
        self.assertSubscribed(await live.subscribe("dc1", "c1", id="ok"), "ok", "dc1", "c1")

    async def test_binary_frame_400(self):
        live = await self.open()
        await live.send_raw(b'{"type":"ping","id":"b"}')
        self.assertError(await live.recv(), 400, check_id=False)
        await self.assertQuiet(live)

    async def test_message_of_4096_bytes_accepted(self):
        live = await self.open()
        head = '{"type":"ping","id":"'
        text = head + "x" * (4096 - len(head) - 2) + '"}'
        self.assertEqual(len(text.encode()), 4096)
        await live.send_raw(text)
        pong = await live.expect("pong")
        self.assertEqual(pong["id"], "x" * (4096 - len(head) - 2))

    async def test_fragmented_message_accepted(self):
        live = await self.open()
        await live.ws.send(['{"type":"pi', 'ng","id"', ':"frag"}'])
        self.assertEqual(await live.expect("pong"), {"type": "pong", "id": "frag"})

    async def test_message_over_4096_bytes_closes_1009(self):
        for name, parts in (("one frame", None), ("fragments", 3)):
            with self.subTest(name):
                live = await self.open()
                head = '{"type":"ping","id":"'
                text = head + "y" * (4097 - len(head) - 2) + '"}'
                self.assertEqual(len(text.encode()), 4097)
                if parts is None:
                    await live.send_raw(text)
                else:
                    step = len(text) // parts + 1
                    await live.ws.send([text[i:i + step] for i in range(0, len(text), step)])
                before, code = await live.closed()
                self.assertEqual(code, 1009, before)
                self.assertEqual([m for m in before if m.get("type") == "pong"], [])
        # The server lives on.
        await self.assertQuiet(await self.open())


# ---------------------------------------------------------------------------


FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


@unittest.skipIf(wpd.WRAPPER, "libfaketime is not preloaded under a wrapper such as valgrind")
class WallClockStepTest(LiveTestCase):
    """Issue 11: a forward step of the wall clock (NTP, a resumed VM) drops no connection.

    The server runs under libfaketime (Debian's faketime package), which
    fakes the wall clock from a file this test rewrites and leaves the
    monotonic clock alone (DONT_FAKE_MONOTONIC)."""

    @classmethod
    def setUpClass(cls):
        fd, cls.offset_file = tempfile.mkstemp(prefix="wpd-faketime-")
        os.write(fd, b"+0\n")
        os.close(fd)
        cls.addClassCleanup(os.unlink, cls.offset_file)
        asan = os.environ.get("ASAN_OPTIONS", "")
        cls.env = {"LD_PRELOAD": FAKETIME, "FAKETIME_TIMESTAMP_FILE": cls.offset_file, "FAKETIME_NO_CACHE": "1",
                   "DONT_FAKE_MONOTONIC": "1",
                   # ASan wants to be first in the library list; faketime is preloaded before it.
                   "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}
        super().setUpClass()

    def step(self, spec):
        with open(self.offset_file, "w") as f:
            f.write(spec + "\n")

    async def test_issue_11_forward_step_of_minutes_drops_nothing(self):
        await self.add_customer("dc1", "clk", [wp("dc1", "clk", "clk-0", 1)])
        lives = []
        for i in range(6):
            live = await self.open()
            self.assertSubscribed(await live.subscribe("dc1", "clk", id="s"), "s", "dc1", "clk")
            lives.append(live)
        sse = await asyncio.to_thread(self.sb.curl, self.server, "/dcs/dc1/customers/clk/waypoints", bearer=self.key)
        self.assertEqual(sse.code, 200, sse)
        self.step("+20m")  # far past --ws-idle-seconds (75) and --ws-send-timeout (30)
        await asyncio.sleep(5)  # two sweeps (every 2 s) at least
        for live in lives:
            await self.assertQuiet(live)
        await self.sql(update_sql({"dc_id": "dc1", "id": "clk-0"}, waypoints_ahead=9))
        for live in lives:
            msg = await live.recv(PUSH_DEADLINE)
            self.assertEqual(msg.get("type"), "waypoint", msg)
        # The wall clock still means what it should: the server's time moved.
        self.assertIn("clk", await asyncio.to_thread(wpd.sql, self.db, "SELECT customer_id FROM waypoints;"))


class LivenessTest(LiveTestCase):
    """Server pings and the idle timeout (serve --ws-ping-seconds 1 --ws-idle-seconds 4)."""

    extra = ("--ws-ping-seconds", "1", "--ws-idle-seconds", "4")

    async def test_peer_that_answers_pings_stays(self):
        # websockets answers the server's pings by itself: after longer than
        # the idle timeout without sending anything, the connection still works.
        live = await self.open()
        self.assertSubscribed(await live.subscribe("dc1", id="s"), "s", "dc1", None)
        await asyncio.sleep(7)
        await self.assertQuiet(live)

    def test_dead_peer_is_dropped(self):
        # A peer that upgrades and then never reads nor answers a ping: the
        # server closes the TCP connection after the idle timeout.
        ctx = wpd.ssl_context(self.sb.cert)
        ctx.set_alpn_protocols(["http/1.1"])
        req = ("GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: waypoints.v1\r\nAuthorization: Bearer %s\r\n\r\n" % self.key)
        with socket.create_connection((wpd.HOST, self.server.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=wpd.HOST) as s:
                s.sendall(req.encode())
                head = s.recv(4096)
                self.assertTrue(head.startswith(b"HTTP/1.1 101"), head[:64])
                start = time.monotonic()
                s.settimeout(1)
                closed = False
                while time.monotonic() - start < 15 and not closed:
                    try:
                        closed = s.recv(4096) == b""  # pings arrive; we never answer
                    except socket.timeout:
                        pass
                    except (ConnectionResetError, ssl.SSLError):
                        closed = True
                elapsed = time.monotonic() - start
        self.assertTrue(closed, "still open after %.1f s" % elapsed)
        self.assertGreaterEqual(elapsed, 3.0)


class LifecycleTest(unittest.IsolatedAsyncioTestCase):
    """Resuming across server restarts and log pruning; a sandbox per test."""

    def setUp(self):
        self.sb = wpd.Sandbox(prefix="wpd-live-life-")
        self.addCleanup(self.sb.close)
        self.sb.insert("dcs", [{"id": "dc1", "name": "One"}])
        self.sb.sql(customers_sql("dc1", ["c"]))
        self.rows = [wp("dc1", "c", "c-%d" % n, n) for n in range(4)]
        self.sb.insert("waypoints", self.rows)
        self.key = self.sb.key_create("all", all_dcs=True)

    async def open(self, server):
        live = await Live.open(server, self.sb.cert, key=self.key)
        self.addAsyncCleanup(live.close)
        return live

    def seqs(self, where):
        return [int(x) for x in self.sb.sql("SELECT seq FROM change_log WHERE %s ORDER BY seq;" % where).split()]

    async def test_resume_across_restart(self):
        first = self.sb.server(threads=1)
        live = await self.open(first)
        reply = await live.subscribe("dc1", "c", id="a")
        await asyncio.to_thread(self.sb.sql, update_sql(self.rows[0], waypoints_ahead=50))
        msg = await live.recv(PUSH_DEADLINE)
        self.assertEqual(msg["waypoint"], waypoint_json(self.rows[0]))
        last = msg["seq"]
        self.assertGreater(last, reply["seq"])
        await live.close()
        self.assertEqual(await asyncio.to_thread(first.stop, signal.SIGTERM), 0, first.stderr())

        fresh = wp("dc1", "c", "c-new", 6)
        for stmt in (update_sql(self.rows[1], status="SKIPPED", completed_timestamp=1795000000042),
                     insert_sql(fresh), delete_sql(self.rows[2])):
            await asyncio.to_thread(self.sb.sql, stmt)
        missed = self.seqs("seq > %d" % last)
        self.assertEqual(len(missed), 3)

        second = self.sb.server(threads=1)
        self.assertNotEqual(second.port, first.port)
        live = await self.open(second)
        reply = await live.subscribe("dc1", "c", id="b", since=last)
        self.assertEqual(reply.get("type"), "subscribed", reply)
        self.assertIs(reply.get("resumed"), True, reply)
        self.assertNotIn("waypoints", reply)
        m1, m2, m3 = await live.collect(3, PUSH_DEADLINE)
        self.assertEqual((m1.get("type"), m1.get("seq"), m1.get("waypoint")),
                         ("waypoint", missed[0], waypoint_json(self.rows[1])), m1)
        self.assertEqual((m2.get("type"), m2.get("seq"), m2.get("waypoint")),
                         ("waypoint", missed[1], waypoint_json(fresh)), m2)
        self.assertEqual((m3.get("type"), m3.get("seq"), m3.get("waypoint_id"), m3.get("customer_id")),
                         ("waypoint_removed", missed[2], "c-2", "c"), m3)
        self.assertEqual(await live.ping(), [])
        # Live pushes continue on the new server, numbered after the old ones.
        await asyncio.to_thread(self.sb.sql, update_sql(self.rows[3], waypoints_ahead=60))
        msg = await live.recv(PUSH_DEADLINE)
        self.assertEqual(msg.get("waypoint"), waypoint_json(self.rows[3]), msg)
        self.assertGreater(msg["seq"], missed[2])
        self.assertEqual(await asyncio.to_thread(second.stop, signal.SIGTERM), 0, second.stderr())
        self.assertEqual(reply.get("seq"), last, "resumed reply: seq must be the since given: %r" % reply)

    async def test_since_older_than_the_log_keeps_gets_a_snapshot(self):
        first = self.sb.server(threads=1)
        live = await self.open(first)
        since = (await live.subscribe("dc1", "c", id="a"))["seq"]
        await live.close()
        self.assertEqual(await asyncio.to_thread(first.stop, signal.SIGTERM), 0, first.stderr())
        for n in range(3):
            await asyncio.to_thread(self.sb.sql, update_sql(self.rows[n], waypoints_ahead=70 + n))
        head = max(self.seqs("1"))
        self.assertGreater(head, since)

        second = self.sb.server(threads=1, extra=["--log-keep-rows", "0"])
        def pruned_past_since():
            return int(self.sb.sql("SELECT pruned_through FROM change_log_state;").strip() or 0) > since

        pruned = await asyncio.to_thread(wpd.wait_until, pruned_past_since, 5.0, 0.05, "the startup prune")
        self.assertTrue(pruned)
        live = await self.open(second)
        reply = await live.subscribe("dc1", "c", id="b", since=since)
        self.assertEqual(reply.get("type"), "subscribed", reply)
        self.assertIs(reply.get("resumed"), False, reply)
        self.assertEqual(reply.get("seq"), head, reply)
        rest = await asyncio.to_thread(self.sb.curl, second, "/dcs/dc1/customers/c/waypoints", bearer=self.key)
        self.assertEqual(rest.code, 200, rest)
        self.assertEqual(reply.get("waypoints"), rest.json()["waypoints"])
        self.assertEqual(reply["waypoints"], [waypoint_json(r) for r in reversed(self.rows)])
        self.assertEqual(await live.ping(), [])


class ManySubscribersTest(LiveTestCase):
    """500 subscribers over 50 customers on a server with 2 threads."""

    dcs = ("load",)
    threads = 2
    # 1000 upgrades and subscribes from one address in seconds: past the
    # default per-address rate limit (tested in test_hostile.py), so off here.
    extra = ("--rate-limit-addr", "0")
    CUSTOMERS = 50
    CLIENTS = 500
    CONNECT_DEADLINE = 120.0
    FANOUT_DEADLINE = 30.0

    @classmethod
    def fixtures(cls, sb):
        cls.names = ["L%02d" % i for i in range(cls.CUSTOMERS)]
        cls.rows = {c: [wp("load", c, "%s-%d" % (c, k), i + k) for k in range(3)] for i, c in enumerate(cls.names)}
        sb.sql(customers_sql("load", cls.names))
        sb.insert("waypoints", [r for c in cls.names for r in cls.rows[c]])

    async def test_500_subscribers_snapshot_and_one_change_each(self):
        loop = asyncio.get_running_loop()
        lives = []

        async def close_all():
            await asyncio.gather(*(lv.close() for lv in lives), return_exceptions=True)

        self.addAsyncCleanup(close_all)
        sem = asyncio.Semaphore(64)

        async def connect(i):
            async with sem:
                lv = await Live.open(self.server, self.sb.cert, key=self.key, open_timeout=60)
                lives.append(lv)
                reply = await lv.subscribe("load", self.names[i % self.CUSTOMERS], id=i, timeout=60)
                return lv, reply

        t0 = loop.time()
        results = await asyncio.wait_for(asyncio.gather(*(connect(i) for i in range(self.CLIENTS)),
                                                        return_exceptions=True), self.CONNECT_DEADLINE)
        failures = [r for r in results if isinstance(r, BaseException)]
        self.assertEqual(failures[:3], [], "%d of %d clients failed" % (len(failures), self.CLIENTS))
        connected = loop.time() - t0
        expected = {c: [waypoint_json(r) for r in reversed(self.rows[c])] for c in self.names}
        self.assertEqual(await self.rest_waypoints("load", "L07"), expected["L07"])
        for i, (lv, reply) in enumerate(results):
            c = self.names[i % self.CUSTOMERS]
            self.assertSubscribed(reply, i, "load", c)
            self.assertEqual(reply["waypoints"], expected[c], "client %d" % i)

        changed = {}
        stmts = []
        for i, c in enumerate(self.names):
            row = self.rows[c][1]
            stmts.append(update_sql(row, waypoints_ahead=500 + i, status="COMPLETED",
                                    completed_timestamp=1795123000000 + i))
            changed[c] = row
        t1 = loop.time()
        await self.sql("BEGIN;" + "".join(stmts) + "COMMIT;")
        seq_of = {c: s for c, s in zip(self.names, self.log_seqs("dc_id = 'load' AND seq > %d" %
                                                                   max(r["seq"] for _, r in results)))}
        self.assertEqual(len(seq_of), self.CUSTOMERS)

        async def one_change(i, lv):
            msg = await lv.recv(self.FANOUT_DEADLINE, what="client %d's change" % i)
            extra = await lv.ping(id="after-%d" % i, timeout=self.FANOUT_DEADLINE)
            return msg, extra

        got = await asyncio.wait_for(asyncio.gather(*(one_change(i, lv) for i, (lv, _) in enumerate(results)),
                                                    return_exceptions=True), self.FANOUT_DEADLINE + 10)
        failures = [(i, g) for i, g in enumerate(got) if isinstance(g, BaseException)]
        self.assertEqual(failures[:3], [], "%d of %d clients got no change" % (len(failures), self.CLIENTS))
        fanned = loop.time() - t1
        for i, (msg, extra) in enumerate(got):
            c = self.names[i % self.CUSTOMERS]
            self.assertPush(msg, "load", c, changed[c], results[i][1]["seq"])
            self.assertEqual(msg["seq"], seq_of[c], msg)
            self.assertEqual(extra, [], "client %d (customer %s) got more: %r" % (i, c, extra))
        sys.stderr.write("\n  500 clients: connected and subscribed in %.1f s, fan-out in %.1f s\n" %
                         (connected, fanned))


if __name__ == "__main__":
    unittest.main(verbosity=2)

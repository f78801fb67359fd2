#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box test of text that is not UTF-8 (issue 11, review H1).

Another program can store any bytes in a TEXT column (the sqlite3 shell
with CAST(X'...' AS TEXT)). Every text value that leaves the server must
still be valid UTF-8: each maximal ill-formed subpart becomes one U+FFFD
(the Unicode / WHATWG practice, which Python's decode(errors="replace")
follows too), the valid rest is kept. REST answers valid JSON; WebSocket
subscribers of that customer and of its DC stay connected (no 1007), get
snapshots and pushes with U+FFFD, and later changes keep arriving; an SSE
stream too.

Run:  WAYPOINTD=build-debug/waypointd /usr/bin/python3 tests/integration/test_foreign_text.py -v
Only 127.0.0.1; every wait has a deadline.
"""
import asyncio
import json
import logging
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402
from live_client import Live, PUSH_TYPES  # noqa: E402
from test_sse import Stream, events_path  # noqa: E402

logging.getLogger("asyncio").setLevel(logging.ERROR)

PUSH_DEADLINE = 10.0
EVENT_DEADLINE = 10.0

# Bytes another program stores, and what a client must read instead.
BAD = {
    # 'R', a lead byte C3 followed by '(' (not a continuation): one U+FFFD, '(' kept.
    "route": (b"R\xc3(", "R\ufffd("),
    # 'PEN', the same: a status that is no known value but must still be sent.
    "status": (b"PEN\xc3(", "PEN\ufffd("),
    # A truncated 3-byte sequence (E2 82 is one maximal subpart): one U+FFFD; e acute kept.
    "name": (b"A\xe2\x82B \xc3\xa9", "A\ufffdB \u00e9"),
    # A surrogate (ED A0 80): no maximal subpart longer than one byte, so three U+FFFD.
    "address": (b"\xed\xa0\x80z", "\ufffd\ufffd\ufffdz"),
    # An overlong form and a stray FF in a waypoint id.
    "wid": (b"w\xc0\xaf\xff3", "w\ufffd\ufffd\ufffd3"),
}


def blob(raw):
    return "CAST(X'%s' AS TEXT)" % raw.hex().upper()


def wp(wid, ahead, status="PENDING"):
    return {"dc_id": "dc1", "id": wid, "customer_id": "c1", "route_id": "r1", "status": status,
            "completed_timestamp": None, "estimated_time_of_arrival": 1796000000000 + ahead,
            "waypoints_ahead": ahead, "waiting_time_seconds": 30}


def strict_json(data, what):
    """Parse bytes (or a str already decoded by a client that checks UTF-8)
    as JSON; a UnicodeDecodeError here means invalid UTF-8 left the server."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")  # strict: raises on any invalid byte
    try:
        return json.loads(data)
    except ValueError as e:
        raise AssertionError("%s: not JSON (%s): %r" % (what, e, data[:300])) from None


class ForeignTextTest(unittest.IsolatedAsyncioTestCase):

    def setUp(self):
        self.sb = wpd.Sandbox(prefix="wpd-utf8-")
        self.addCleanup(self.sb.close)
        self.sb.insert("dcs", [{"id": "dc1", "name": "DC 1"}])
        self.sb.insert("customers", [{"dc_id": "dc1", "id": "c1", "name": "C1", "imported_address": "Street 1"}])
        self.sb.insert("waypoints", [wp("w1", 1), wp("w2", 2), wp("w3", 3)])
        self.key = self.sb.key_create("all", all_dcs=True)
        self.server = self.sb.server(threads=2)
        self.lives = []
        self.addAsyncCleanup(self._close_lives)

    async def _close_lives(self):
        for live in self.lives:
            try:
                await live.close()
            except Exception:  # noqa: BLE001 (cleanup only)
                pass

    def stream(self, path):
        s = Stream(self.server, self.sb.cert, path, http="1.1", bearer=self.key)
        self.addCleanup(s.close)
        return s

    async def live(self):
        live = await Live.open(self.server, self.sb.cert, key=self.key)
        self.lives.append(live)
        return live

    def rest(self, path):
        r = self.sb.curl(self.server, path, bearer=self.key)
        self.assertEqual(r.code, 200, r)
        return strict_json(r.body, "REST " + path)

    def log_head(self):
        return int(wpd.sql_value(self.sb.db, "SELECT COALESCE(MAX(seq), 0) FROM change_log;"))

    async def push_for(self, live, wid, what):
        """The next push about waypoint wid (others are skipped)."""
        msg, _ = await live.until(lambda m: m.get("type") in PUSH_TYPES and (
            (m.get("waypoint") or {}).get("id") == wid or m.get("waypoint_id") == wid),
            PUSH_DEADLINE, what="a push of %r on %s" % (wid, what))
        return msg

    async def test_invalid_utf8_from_another_writer(self):
        cust = await self.live()
        dc = await self.live()
        reply = await cust.subscribe("dc1", "c1", id="c")
        self.assertEqual(reply.get("type"), "subscribed", reply)
        reply = await dc.subscribe("dc1", id="d")
        self.assertEqual(reply.get("type"), "subscribed", reply)
        sse = self.stream(events_path("dc1", "c1"))
        self.assertEqual(sse.wait_head(), 200, sse.raw[:300])
        sse.event(0, EVENT_DEADLINE, "the SSE snapshot")

        # Another program writes bytes that are not UTF-8 into several TEXT columns.
        wpd.sql(self.sb.db, ";\n".join([
            "BEGIN",
            "UPDATE waypoints SET route_id = %s, status = %s WHERE dc_id = 'dc1' AND id = 'w1'" %
            (blob(BAD["route"][0]), blob(BAD["status"][0])),
            "UPDATE waypoints SET route_id = %s WHERE dc_id = 'dc1' AND id = 'w2'" % blob(BAD["route"][0]),
            "INSERT INTO waypoints(dc_id, id, customer_id, route_id) VALUES ('dc1', %s, 'c1', %s)" %
            (blob(BAD["wid"][0]), blob(BAD["route"][0])),
            "UPDATE customers SET name = %s, imported_address = %s WHERE dc_id = 'dc1' AND id = 'c1'" %
            (blob(BAD["name"][0]), blob(BAD["address"][0])),
            "COMMIT;"]))
        bad_id = BAD["wid"][1]

        with self.subTest("pushes carry U+FFFD; customer and DC subscribers stay connected"):
            for live, what in ((cust, "customer"), (dc, "DC")):
                m1 = await self.push_for(live, "w1", what)
                self.assertEqual((m1["waypoint"]["route_id"], m1["waypoint"]["status"]),
                                 (BAD["route"][1], BAD["status"][1]), m1)
                m2 = await self.push_for(live, "w2", what)
                self.assertEqual(m2["waypoint"]["route_id"], BAD["route"][1], m2)
                m3 = await self.push_for(live, bad_id, what)
                self.assertEqual(m3["waypoint"]["route_id"], BAD["route"][1], m3)

        with self.subTest("SSE: events are valid UTF-8 with U+FFFD"):
            ev = sse.event(3, EVENT_DEADLINE, "the third change event")
            raw = sse.raw
            raw.decode("utf-8")  # strict
            got = {e["json"]["waypoint"]["id"]: e["json"]["waypoint"] for e in sse.events()[1:4]}
            self.assertEqual(set(got), {"w1", "w2", bad_id}, ev)
            self.assertEqual(got["w1"]["status"], BAD["status"][1])

        with self.subTest("REST answers valid JSON with U+FFFD"):
            c = self.rest("/dcs/dc1/customers/c1")["data"]["customer"]
            self.assertEqual((c["name"], c["imported_address"]), (BAD["name"][1], BAD["address"][1]))
            ws = self.rest("/dcs/dc1/customers/c1/waypoints")["waypoints"]
            self.assertEqual([w["id"] for w in ws], [bad_id, "w3", "w2", "w1"])
            self.assertEqual(ws[0]["route_id"], BAD["route"][1])
            self.assertEqual((ws[3]["route_id"], ws[3]["status"]), (BAD["route"][1], BAD["status"][1]))

        with self.subTest("fresh snapshots and a resume carry U+FFFD"):
            fresh = await self.live()
            snap = await fresh.subscribe("dc1", "c1", id="f")
            self.assertEqual([w["id"] for w in snap["waypoints"]], [bad_id, "w3", "w2", "w1"], snap)
            self.assertEqual(snap["waypoints"][3]["status"], BAD["status"][1])
            snap = await fresh.subscribe("dc1", id="g")
            self.assertEqual([w["id"] for w in snap["waypoints"]], [bad_id, "w3", "w2"], snap)
            self.assertEqual(snap["waypoints"][2]["route_id"], BAD["route"][1])
            again = await self.live()
            res = await again.subscribe("dc1", id="r", since=0)
            self.assertIs(res.get("resumed"), True, res)
            replay = await self.push_for(again, bad_id, "a DC resume")
            self.assertEqual(replay["waypoint"]["route_id"], BAD["route"][1])

        with self.subTest("later changes keep arriving"):
            wpd.sql(self.sb.db, "UPDATE waypoints SET waypoints_ahead = 99 WHERE dc_id = 'dc1' AND id = 'w3';")
            head = self.log_head()
            for live, what in ((cust, "customer"), (dc, "DC"), (fresh, "fresh")):
                m = await self.push_for(live, "w3", what)
                self.assertEqual((m["seq"], m["waypoint"]["waypoints_ahead"]), (head, 99), m)
            ev = sse._wait(lambda: [e for e in sse.events()[4:] if (e["json"] or {}).get("seq") == head],
                           EVENT_DEADLINE, "the w3 change on SSE")[0]
            self.assertEqual(ev["json"]["waypoint"]["id"], "w3", ev)
            sse.raw.decode("utf-8")
            for live in (cust, dc):
                self.assertEqual(await live.ping(id="p"), [], "connection still open and quiet")
        self.assertTrue(self.server.alive(), self.server.stderr()[-2000:])


if __name__ == "__main__":
    unittest.main()

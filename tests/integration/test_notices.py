#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box tests of the live channel's proximity notices (docs/live.md,
"Notices"): a subscribe's `notices` option over WebSocket, the notices_*
query arguments of the event stream, the `notice` message right after the
waypoint message of the change that caused it.

One server per class over a database made with `waypointd init`; every
write is made by the sqlite3 shell in another process. Run:
    /usr/bin/python3 tests/integration/test_notices.py
(ctest sets WAYPOINTD and WAYPOINTD_SOURCE_DIR.)
"""
import asyncio
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402
from test_live import LiveTestCase, PUSH_DEADLINE, insert_sql, update_sql, customers_sql  # noqa: E402
from test_sse import SseTestCase, events_path  # noqa: E402

MIN_MS = 60000


def row(dc, customer, wid, ahead, route="r1", eta=None, status="PENDING"):
    return {"dc_id": dc, "id": wid, "customer_id": customer, "route_id": route, "status": status,
            "completed_timestamp": None, "estimated_time_of_arrival": eta, "waypoints_ahead": ahead,
            "waiting_time_seconds": None}


class NoticeTest(LiveTestCase):
    """Notices over WebSocket."""

    dcs = ("dc1",)

    async def subscribe_notices(self, live, dc, customer, notices, id_="n"):
        msg = {"type": "subscribe", "id": id_, "dc_id": dc, "customer_id": customer}
        if notices is not None:
            msg["notices"] = notices
        await live.send(msg)
        reply, _ = await live.reply(id_)
        self.assertSubscribed(reply, id_, dc, customer)
        return reply

    async def change(self, live, r, seq_after, **cols):
        """Write cols to r's waypoint; its waypoint message; returns its seq."""
        await self.sql(update_sql(r, **cols))
        msg = await live.recv(PUSH_DEADLINE)
        return self.assertPush(msg, r["dc_id"], r["customer_id"], r, seq_after)

    async def notice(self, live, r, seq, kind, by, threshold):
        msg = await live.recv(PUSH_DEADLINE, what="a notice")
        self.assertEqual(msg.get("type"), "notice", msg)
        self.assertEqual((msg.get("dc_id"), msg.get("customer_id"), msg.get("waypoint_id")),
                         (r["dc_id"], r["customer_id"], r["id"]), msg)
        self.assertEqual(msg.get("seq"), seq, "a notice carries its change's seq: %r" % msg)
        self.assertEqual((msg.get("kind"), msg.get("by"), msg.get("threshold")), (kind, by, threshold), msg)
        return msg

    async def test_approaching_by_stops_once_per_route_and_again_after_a_route_change(self):
        r = row("dc1", "s1", "s1-a", 6)
        await self.add_customer("dc1", "s1", [r])
        live = await self.open()
        reply = await self.subscribe_notices(live, "dc1", "s1", {"stops": [3, 1]})
        seq = await self.change(live, r, reply["seq"], waypoints_ahead=3)
        self.assertEqual((await self.notice(live, r, seq, "approaching", "stops", 3))["value"], 3)
        seq = await self.change(live, r, seq, waypoints_ahead=2)
        seq = await self.change(live, r, seq, waypoints_ahead=3)   # back out and in: told once per route
        seq = await self.change(live, r, seq, waypoints_ahead=1)
        self.assertEqual((await self.notice(live, r, seq, "approaching", "stops", 1))["value"], 1)
        seq = await self.change(live, r, seq, waypoints_ahead=0)
        seq = await self.change(live, r, seq, route_id="r2", waypoints_ahead=2)  # a new route re-arms
        self.assertEqual((await self.notice(live, r, seq, "approaching", "stops", 3))["value"], 2)
        seq = await self.change(live, r, seq, waypoints_ahead=1)
        await self.notice(live, r, seq, "approaching", "stops", 1)
        seq = await self.change(live, r, seq, status="COMPLETED", waypoints_ahead=0)
        await self.assertQuiet(live)

    async def test_eta_drift_accumulates_until_it_fires(self):
        base = 1900000000000
        r = row("dc1", "e1", "e1-a", 9, eta=base)
        await self.add_customer("dc1", "e1", [r])
        live = await self.open()
        reply = await self.subscribe_notices(live, "dc1", "e1", {"eta_change_minutes": 5})
        seq = await self.change(live, r, reply["seq"], estimated_time_of_arrival=base + 2 * MIN_MS)
        seq = await self.change(live, r, seq, estimated_time_of_arrival=base + 4 * MIN_MS)
        seq = await self.change(live, r, seq, estimated_time_of_arrival=base + 6 * MIN_MS)
        msg = await self.notice(live, r, seq, "eta_changed", "minutes", 5)
        self.assertEqual((msg["value"], msg["eta"], msg["previous_eta"]), (6, base + 6 * MIN_MS, base), msg)
        # The baseline is now the ETA told: 2 more minutes is not 5.
        seq = await self.change(live, r, seq, estimated_time_of_arrival=base + 8 * MIN_MS)
        seq = await self.change(live, r, seq, estimated_time_of_arrival=base + 1 * MIN_MS)
        msg = await self.notice(live, r, seq, "eta_changed", "minutes", 5)
        self.assertEqual((msg["value"], msg["previous_eta"]), (-5, base + 6 * MIN_MS), msg)
        await self.assertQuiet(live)

    async def test_approaching_by_minutes_on_a_change(self):
        now = int(time.time() * 1000)
        r = row("dc1", "m1", "m1-a", 9, eta=now + 60 * MIN_MS)
        await self.add_customer("dc1", "m1", [r])
        live = await self.open()
        reply = await self.subscribe_notices(live, "dc1", "m1", {"minutes": [10]})
        seq = await self.change(live, r, reply["seq"], estimated_time_of_arrival=now + 30 * MIN_MS)
        seq = await self.change(live, r, seq, estimated_time_of_arrival=now + 9 * MIN_MS + 30000)
        msg = await self.notice(live, r, seq, "approaching", "minutes", 10)
        self.assertIn(msg["value"], (9, 10), msg)  # whole minutes to the ETA, rounded up
        seq = await self.change(live, r, seq, estimated_time_of_arrival=now + 5 * MIN_MS)
        await self.assertQuiet(live)

    async def test_a_crossing_already_made_is_told_after_the_snapshot(self):
        r = row("dc1", "k1", "k1-a", 2)
        await self.add_customer("dc1", "k1", [r])
        live = await self.open()
        reply = await self.subscribe_notices(live, "dc1", "k1", {"stops": [3]})
        msg = await self.notice(live, r, reply["seq"], "approaching", "stops", 3)
        self.assertEqual(msg["value"], 2)
        await self.assertQuiet(live)

    async def test_without_notices_exactly_as_before(self):
        r = row("dc1", "q1", "q1-a", 6)
        await self.add_customer("dc1", "q1", [r])
        plain, told = await self.open(), await self.open()
        reply = await self.subscribe_notices(plain, "dc1", "q1", None)
        await self.subscribe_notices(told, "dc1", "q1", {"stops": [3]})
        seq = await self.change(plain, r, reply["seq"], waypoints_ahead=3)
        self.assertEqual((await told.recv(PUSH_DEADLINE))["type"], "waypoint")
        await self.notice(told, r, seq, "approaching", "stops", 3)
        await self.assertQuiet(plain)
        await self.assertQuiet(told)

    async def test_bad_notices_option_is_a_400(self):
        live = await self.open()
        bad = [[], 3, "x", {"stops": []}, {"stops": [0]}, {"stops": [241]}, {"stops": [1, 2, 3, 4, 5]},
               {"stops": ["3"]}, {"minutes": [1.5]}, {"eta_change_minutes": 0}, {"eta_change_minutes": [5]},
               {"stop": [3]}]
        for i, notices in enumerate(bad):
            await live.send({"type": "subscribe", "id": i, "dc_id": "dc1", "customer_id": "b1",
                             "notices": notices})
            reply, _ = await live.reply(i)
            self.assertError(reply, 400, i)
            self.assertIn("notices", reply["message"])
        await self.subscribe_notices(live, "dc1", "b1", {})  # an empty object is valid: nothing asked
        await self.assertQuiet(live)


class SseNoticeTest(SseTestCase):
    """Notices on the event stream, asked with query arguments."""

    def test_stream_gets_notices_after_their_change(self):
        self.sql("BEGIN;" + customers_sql("dc1", ["sn"]) + insert_sql(row("dc1", "sn", "sn-a", 6)) + "COMMIT;")
        r = row("dc1", "sn", "sn-a", 6)
        for http in ("1.1", "2"):
            with self.subTest(http=http):
                self.sql(update_sql(r, waypoints_ahead=6, route_id="r-" + http))
                s = self.open_stream(events_path("dc1", "sn", notices_stops="3,1"), http, bearer=self.key)
                sub = self.assertSubscribedEvent(s.event(0), "dc1", "sn", False)
                self.sql(update_sql(r, waypoints_ahead=3))
                change = self.assertChangeEvent(s.event(1), "waypoint", "dc1", "sn", sub["seq"])
                ev = s.event(2)
                self.assertOneDataLine(ev)
                self.assertIsNone(ev["id"], "a notice has no id: line: %r" % ev)
                self.assertEqual(ev["json"]["type"], "notice", ev)
                self.assertEqual(ev["json"]["seq"], change["seq"], ev)
                self.assertEqual((ev["json"]["by"], ev["json"]["threshold"], ev["json"]["value"]),
                                 ("stops", 3, 3), ev)
                plain = self.open_stream(events_path("dc1", "sn"), http, bearer=self.key)
                self.assertSubscribedEvent(plain.event(0), "dc1", "sn", False)
                self.sql(update_sql(r, waypoints_ahead=1))
                self.assertChangeEvent(plain.event(1), "waypoint", "dc1", "sn")
                self.assertChangeEvent(s.event(3), "waypoint", "dc1", "sn")
                self.assertEqual(s.event(4)["json"]["threshold"], 1)
                self.sql(update_sql(r, waypoints_ahead=0))
                self.assertChangeEvent(plain.event(2), "waypoint", "dc1", "sn")
                self.assertChangeEvent(s.event(5), "waypoint", "dc1", "sn")
                self.assertEqual([e["json"]["type"] for e in plain.events()], ["subscribed", "waypoint", "waypoint"])

    def test_bad_notices_query_is_a_400(self):
        for query in ({"notices_stops": "0"}, {"notices_stops": "1,2,3,4,5"}, {"notices_minutes": "x"},
                      {"notices_eta_change_minutes": "3,4"}, {"notices_stops": ""}):
            with self.subTest(query=query):
                s = self.stream(events_path("dc1", "c1", **query), bearer=self.key)
                doc = self.assertErrorResponse(s, 400, repr(query))
                self.assertIn("notices", doc["data"]["message"])


if __name__ == "__main__":
    unittest.main()

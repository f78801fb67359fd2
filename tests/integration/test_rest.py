#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box tests of the HTTPS API and static files (CONTRACT.md, "HTTPS API").

Each class starts its own `waypointd serve` on 127.0.0.1:0 over a database
made with `waypointd init` and filled with the sqlite3 shell, and talks to it
with curl (always verifying the dev certificate). Run directly:
    /usr/bin/python3 tests/integration/test_rest.py
"""
import concurrent.futures
import hashlib
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402

BOTH = ("1.1", "2")

# ---------------------------------------------------------------------------
# Fixture data, written with the sqlite3 shell as other programs do.

DCS = [{"id": "dc1", "name": "Depot One"}, {"id": "dc2", "name": "Depot Two"}]

LONG_ID = "x" * 255  # the longest id allowed
UNICODE_ID = "kunde-\u00e4\u00f6\u00fc-\u6771\u4eac"  # UTF-8, 2- and 3-byte sequences

CUSTOMERS = [
    # imported and inferred locations, confident
    {"dc_id": "dc1", "id": "c1", "name": "Ann Smith", "imported_address": "1 Main St, Springfield",
     "imported_latitude": 37.77493, "imported_longitude": -122.41942,
     "inferred_latitude": 37.7751, "inferred_longitude": -122.4193, "location_confident": 1},
    # everything optional is NULL
    {"dc_id": "dc1", "id": "c2", "name": "Bob Jones", "imported_address": None,
     "imported_latitude": None, "imported_longitude": None,
     "inferred_latitude": None, "inferred_longitude": None},
    # imported and inferred, but the inferred one is not confident
    {"dc_id": "dc1", "id": "c3", "name": "Cy Young", "imported_address": "3 Elm Rd",
     "imported_latitude": 51.5007, "imported_longitude": -0.1246,
     "inferred_latitude": 51.501, "inferred_longitude": -0.125, "location_confident": 0},
    # flagged confident but nothing inferred: no confident location
    {"dc_id": "dc1", "id": "c4", "name": "Di Flag", "imported_address": "4 Oak Ave",
     "imported_latitude": None, "imported_longitude": None,
     "inferred_latitude": None, "inferred_longitude": None, "location_confident": 1},
    # inferred only, confident
    {"dc_id": "dc1", "id": "c5", "name": "Ed Inferred", "imported_address": None,
     "inferred_latitude": -33.8688, "inferred_longitude": 151.2093, "location_confident": 1},
    {"dc_id": "dc1", "id": "cw", "name": "Many Stops"},
    {"dc_id": "dc1", "id": "cfresh", "name": "Fresh"},
    {"dc_id": "dc1", "id": LONG_ID, "name": "Long Id"},
    {"dc_id": "dc1", "id": UNICODE_ID, "name": "Z\u00f6e \u00dcnic\u00f8de \u2713"},
    # ids with characters that are literal in a URL path (RFC 3986 sub-delims)
    {"dc_id": "dc1", "id": "a+b", "name": "Plus"},
    {"dc_id": "dc1", "id": "a b", "name": "Space"},
    {"dc_id": "dc1", "id": "a;b", "name": "Semicolon"},
    {"dc_id": "dc1", "id": "a", "name": "Just A"},
    # same id as dc1's c1, in another DC
    {"dc_id": "dc2", "id": "c1", "name": "Ann in Two", "imported_address": "9 Far Rd",
     "imported_latitude": 40.0, "imported_longitude": -74.5},
]

C1_WAYPOINTS = [  # insertion order
    {"dc_id": "dc1", "id": "w-c1-a", "customer_id": "c1", "route_id": "r1", "status": "PENDING",
     "completed_timestamp": None, "estimated_time_of_arrival": 1796000000000, "waypoints_ahead": 3,
     "waiting_time_seconds": 120},
    {"dc_id": "dc1", "id": "w-c1-b", "customer_id": "c1", "route_id": "r1", "status": "COMPLETED",
     "completed_timestamp": 1795990000123, "estimated_time_of_arrival": 1795989000000, "waypoints_ahead": 0,
     "waiting_time_seconds": 0},
    # only the required columns: status defaults to PENDING, the rest NULL
    {"dc_id": "dc1", "id": "w-c1-c", "customer_id": "c1"},
]

STATUSES = ("PENDING", "COMPLETED", "FAILED", "SKIPPED")
# Ids deliberately not in insertion order, so an ORDER BY id would show.
CW_ORDER = (7, 2, 11, 5, 1, 12, 9, 3, 10, 4, 8, 6)
CW_WAYPOINTS = [
    {"dc_id": "dc1", "id": "w%02d" % i, "customer_id": "cw", "route_id": "r-cw", "status": STATUSES[i % 4],
     "completed_timestamp": 1795900000000 + i if i % 4 == 1 else None,
     "estimated_time_of_arrival": 1796000000000 + i * 60000, "waypoints_ahead": i, "waiting_time_seconds": i * 10}
    for i in CW_ORDER
]

OTHER_WAYPOINTS = [
    {"dc_id": "dc1", "id": "w-c2-other", "customer_id": "c3", "route_id": "r2", "status": "FAILED"},
    {"dc_id": "dc2", "id": "w-dc2", "customer_id": "c1", "route_id": "r9", "status": "SKIPPED",
     "estimated_time_of_arrival": 1796000999000, "waypoints_ahead": 1, "waiting_time_seconds": 30},
]

WAYPOINT_FIELDS = ("id", "customer_id", "status", "completed_timestamp", "estimated_time_of_arrival",
                   "waypoints_ahead", "waiting_time_seconds", "route_id")


def waypoint_json(row):
    """The contract's 8-field JSON object for a waypoints row (as inserted)."""
    out = {f: row.get(f) for f in WAYPOINT_FIELDS}
    if out["status"] is None:
        out["status"] = "PENDING"
    return out


def customer_json(row):
    def loc(prefix):
        lat, lon = row.get(prefix + "_latitude"), row.get(prefix + "_longitude")
        return None if lat is None and lon is None else {"latitude": lat, "longitude": lon}

    return {"status": "success", "data": {"customer": {
        "id": row["id"], "name": row["name"], "imported_address": row.get("imported_address"),
        "imported_location": loc("imported"), "inferred_location": loc("inferred")}}}


def find_customer(dc, cid):
    return next(c for c in CUSTOMERS if c["dc_id"] == dc and c["id"] == cid)


def pct(s):
    """Percent-encode every byte that is not unreserved (RFC 3986)."""
    safe = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
    return "".join(ch if ch in safe else "".join("%%%02X" % b for b in ch.encode()) for ch in s)


def now_ms():
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------


# What a tracking token is told on any route but its own customer's waypoints.
TOKEN_SCOPE_MESSAGE = "A tracking token reads only its own customer's waypoints"
# A key or token that is missing, unknown, forged or revoked (an expired token is told so).
BAD_CREDENTIAL_MESSAGE = "Missing, unknown or revoked credential"


class ServerTestCase(unittest.TestCase):
    """One sandbox and server per class; each test must leave it alive."""

    threads = 2
    use_www_copy = True

    @classmethod
    def setUpClass(cls):
        sb = wpd.Sandbox(prefix="wpd-rest-")
        cls.addClassCleanup(sb.close)
        cls.sb = sb
        cls.db = sb.db
        sb.insert("dcs", DCS)
        sb.insert("customers", CUSTOMERS)
        sb.insert("waypoints", C1_WAYPOINTS + CW_WAYPOINTS + OTHER_WAYPOINTS)
        cls.key_all = sb.key_create("all", all_dcs=True)
        cls.key_dc1 = sb.key_create("dc1-only", dcs=["dc1"])
        cls.key_dc2 = sb.key_create("dc2-only", dcs=["dc2"])
        cls.key_ghost = sb.key_create("ghost-dc", dcs=["nodc"])  # a DC that does not exist
        cls.www = None
        if cls.use_www_copy:
            cls.www = sb.copy_www()
            cls.canary_text = b"CANARY-" + hashlib.sha256(sb.dir.encode()).hexdigest().encode() + b"\n"
            # Next to the www dir: never to be served, nor through symlinks.
            with open(sb.path("canary.txt"), "wb") as f:
                f.write(cls.canary_text)
            os.symlink("../canary.txt", os.path.join(cls.www, "escape.txt"))
            os.symlink(sb.dir, os.path.join(cls.www, "escape-dir"))
        cls.server = sb.server(www=cls.www, threads=cls.threads)

    def tearDown(self):
        self.assertTrue(self.server.alive(), "the server died; stderr: %s" % self.server.stderr())

    # -- requests ----------------------------------------------------------

    def req(self, path, key=None, **kw):
        """curl against this class's server; key=None sends no credential."""
        return self.sb.curl(self.server, path, bearer=key, **kw)

    def api(self, path, key="all", **kw):
        """An API request with one of the class's keys (or a literal credential)."""
        key = {"all": self.key_all, "dc1": self.key_dc1, "dc2": self.key_dc2,
               "ghost": self.key_ghost}.get(key, key)
        return self.req(path, key=key, **kw)

    def eventually(self, ask, ok, deadline=10.0):
        """ask() again until ok(answer), for at most deadline seconds; the
        last answer. A commit by another process reaches the answer cache
        when the change watcher has looked at the database (milliseconds;
        longer under valgrind): architecture.md, "The answer cache"."""
        end = time.monotonic() + deadline
        resp = ask()
        while not ok(resp) and time.monotonic() < end:
            time.sleep(0.05)
            resp = ask()
        return resp

    # -- assertions --------------------------------------------------------

    def assertJson(self, resp, status, expected):
        """Status, Content-Type application/json and the whole body."""
        self.assertEqual(resp.rc, 0, "curl failed: %r" % resp)
        self.assertEqual(resp.code, status, resp)
        self.assertEqual(resp.content_type.split(";")[0].strip(), "application/json", resp)
        self.assertEqual(resp.json(), expected, resp)

    def assertError(self, resp, status, code=None, message=None):
        """The error envelope, compared whole; the message must be a non-empty
        string, and equal to `message` when given."""
        self.assertEqual(resp.rc, 0, "curl failed: %r" % resp)
        self.assertEqual(resp.code, status, resp)
        self.assertEqual(resp.content_type.split(";")[0].strip(), "application/json", resp)
        body = resp.json()
        got = body.get("data", {}).get("message") if isinstance(body.get("data"), dict) else None
        self.assertIsInstance(got, str, resp)
        self.assertTrue(got, resp)
        self.assertEqual(body, {"status": "error", "data": {"code": code if code is not None else status,
                                                            "message": message if message is not None else got}},
                         resp)
        return body

    def assertServes(self):
        """The server still answers a normal request."""
        resp = self.api("/dcs/dc1/customers/c1")
        self.assertJson(resp, 200, customer_json(find_customer("dc1", "c1")))


# ---------------------------------------------------------------------------


class CustomersTest(ServerTestCase):
    """GET /dcs/{dc}/customers/{id} and .../confident-location."""

    def test_customer_with_imported_and_inferred_locations(self):
        for http in BOTH:
            with self.subTest(http=http):
                resp = self.api("/dcs/dc1/customers/c1", http=http)
                self.assertEqual(resp.version, http)
                self.assertJson(resp, 200, {"status": "success", "data": {"customer": {
                    "id": "c1", "name": "Ann Smith", "imported_address": "1 Main St, Springfield",
                    "imported_location": {"latitude": 37.77493, "longitude": -122.41942},
                    "inferred_location": {"latitude": 37.7751, "longitude": -122.4193}}}})

    def test_customer_with_null_locations(self):
        for http in BOTH:
            with self.subTest(http=http):
                self.assertJson(self.api("/dcs/dc1/customers/c2", http=http), 200, {
                    "status": "success", "data": {"customer": {
                        "id": "c2", "name": "Bob Jones", "imported_address": None,
                        "imported_location": None, "inferred_location": None}}})

    def test_customer_with_one_location(self):
        self.assertJson(self.api("/dcs/dc1/customers/c4"), 200, {
            "status": "success", "data": {"customer": {
                "id": "c4", "name": "Di Flag", "imported_address": "4 Oak Ave",
                "imported_location": None, "inferred_location": None}}})
        self.assertJson(self.api("/dcs/dc1/customers/c5"), 200, {
            "status": "success", "data": {"customer": {
                "id": "c5", "name": "Ed Inferred", "imported_address": None, "imported_location": None,
                "inferred_location": {"latitude": -33.8688, "longitude": 151.2093}}}})
        # The inferred location shows whether or not it is confident.
        self.assertJson(self.api("/dcs/dc1/customers/c3"), 200, customer_json(find_customer("dc1", "c3")))

    def test_customer_is_looked_up_within_its_dc(self):
        self.assertJson(self.api("/dcs/dc2/customers/c1"), 200, {
            "status": "success", "data": {"customer": {
                "id": "c1", "name": "Ann in Two", "imported_address": "9 Far Rd",
                "imported_location": {"latitude": 40.0, "longitude": -74.5}, "inferred_location": None}}})

    def test_customer_utf8_id_and_name(self):
        for http in BOTH:
            with self.subTest(http=http):
                resp = self.api("/dcs/dc1/customers/" + pct(UNICODE_ID), http=http)
                self.assertJson(resp, 200, customer_json(find_customer("dc1", UNICODE_ID)))
                self.assertEqual(resp.json()["data"]["customer"]["name"], "Z\u00f6e \u00dcnic\u00f8de \u2713")

    def test_customer_id_of_255_bytes(self):
        self.assertJson(self.api("/dcs/dc1/customers/" + LONG_ID), 200, customer_json(find_customer("dc1", LONG_ID)))

    def test_percent_escapes_that_decode_to_valid_ids(self):
        for path in ("/dcs/dc1/customers/c%31", "/dcs/dc%31/customers/c1", "/dcs/%64%63%31/customers/%63%31"):
            with self.subTest(path=path):
                self.assertJson(self.api(path), 200, customer_json(find_customer("dc1", "c1")))
        self.assertJson(self.api("/dcs/dc1/customers/c%31/waypoints"), 200,
                        {"waypoints": [waypoint_json(w) for w in reversed(C1_WAYPOINTS)]})
        # %20 and %3B are ordinary characters of an id once decoded.
        self.assertJson(self.api("/dcs/dc1/customers/a%20b"), 200, customer_json(find_customer("dc1", "a b")))
        self.assertJson(self.api("/dcs/dc1/customers/a%3Bb"), 200, customer_json(find_customer("dc1", "a;b")))
        self.assertJson(self.api("/dcs/dc1/customers/a%2Bb"), 200, customer_json(find_customer("dc1", "a+b")))

    def test_sub_delims_in_path(self):
        # RFC 3986 allows a raw ";" and "&" in a path, but libwebsockets 4.1
        # splits the path there as if they separated query arguments and
        # hands the server only the first piece. Rather than answer for the
        # wrong customer, the server refuses: 400 (docs/api.md). Encoded,
        # they are ordinary characters.
        for raw in ("a;b", "a&b"):
            for http in BOTH:
                with self.subTest(path=raw, http=http):
                    self.assertError(self.api("/dcs/dc1/customers/" + raw, http=http), 400,
                                     message="Percent-encode ';' and '&' in the path")
        for enc, cid in (("a%3Bb", "a;b"), ("a%2Bb", "a+b")):
            for http in BOTH:
                with self.subTest(path=enc, http=http):
                    self.assertJson(self.api("/dcs/dc1/customers/" + enc, http=http), 200,
                                    customer_json(find_customer("dc1", cid)))

    def test_raw_plus_in_path_is_a_space(self):
        # libwebsockets 4.1 decodes a raw "+" in the path to a space, as in a
        # form-encoded query; the server cannot tell it from "%20". Clients
        # must send "+" as "%2B" (docs/api.md). This test pins that down.
        self.assertJson(self.api("/dcs/dc1/customers/a+b"), 200, customer_json(find_customer("dc1", "a b")))

    def test_query_string_is_not_part_of_the_id(self):
        self.assertJson(self.api("/dcs/dc1/customers/c1?fields=all"), 200, customer_json(find_customer("dc1", "c1")))

    def test_unknown_customer_404(self):
        for path in ("/dcs/dc1/customers/nobody", "/dcs/dc1/customers/nobody/confident-location",
                     "/dcs/dc2/customers/c2", "/dcs/dc2/customers/c2/confident-location"):
            for http in BOTH:
                with self.subTest(path=path, http=http):
                    self.assertError(self.api(path, http=http), 404)

    def test_confident_location(self):
        for http in BOTH:
            with self.subTest(http=http):
                self.assertJson(self.api("/dcs/dc1/customers/c1/confident-location", http=http), 200, {
                    "status": "success", "data": {"customer_id": "c1", "latitude": 37.7751, "longitude": -122.4193}})
        self.assertJson(self.api("/dcs/dc1/customers/c5/confident-location"), 200, {
            "status": "success", "data": {"customer_id": "c5", "latitude": -33.8688, "longitude": 151.2093}})

    def test_confident_location_not_confident_7001(self):
        # c3: inferred but not confident; c2: nothing at all; c4: flagged
        # confident without an inferred location.
        for cid in ("c3", "c2", "c4"):
            for http in BOTH:
                with self.subTest(customer=cid, http=http):
                    self.assertError(self.api("/dcs/dc1/customers/%s/confident-location" % cid, http=http), 400,
                                     code=7001, message="Customer location not confident")

    def test_changes_by_other_writers_are_visible(self):
        self.sb.sql("UPDATE customers SET inferred_latitude = 10.5, inferred_longitude = 20.25, "
                    "location_confident = 1 WHERE dc_id = 'dc1' AND id = 'cfresh'")
        resp = self.eventually(lambda: self.api("/dcs/dc1/customers/cfresh/confident-location"),
                               lambda r: r.code == 200)
        self.assertJson(resp, 200, {
            "status": "success", "data": {"customer_id": "cfresh", "latitude": 10.5, "longitude": 20.25}})


class WaypointsTest(ServerTestCase):
    """GET /dcs/{dc}/customers/{id}/waypoints."""

    def test_waypoints_exact_fields_newest_first(self):
        expected = {"waypoints": [waypoint_json(w) for w in reversed(C1_WAYPOINTS)]}
        for http in BOTH:
            with self.subTest(http=http):
                resp = self.api("/dcs/dc1/customers/c1/waypoints", http=http)
                self.assertJson(resp, 200, expected)
                for w in resp.json()["waypoints"]:
                    self.assertEqual(sorted(w), sorted(WAYPOINT_FIELDS))
        # The row inserted with defaults only.
        self.assertEqual(expected["waypoints"][0], {
            "id": "w-c1-c", "customer_id": "c1", "status": "PENDING", "completed_timestamp": None,
            "estimated_time_of_arrival": None, "waypoints_ahead": None, "waiting_time_seconds": None,
            "route_id": None})

    def test_at_most_ten_most_recently_inserted(self):
        resp = self.api("/dcs/dc1/customers/cw/waypoints")
        expected = [waypoint_json(w) for w in reversed(CW_WAYPOINTS)][:10]
        self.assertJson(resp, 200, {"waypoints": expected})
        self.assertEqual([w["id"] for w in resp.json()["waypoints"]],
                         ["w06", "w08", "w04", "w10", "w03", "w09", "w12", "w01", "w05", "w11"])

    def test_unknown_customer_gets_empty_list(self):
        for path in ("/dcs/dc1/customers/nobody/waypoints", "/dcs/dc1/customers/c2/waypoints",
                     "/dcs/dc2/customers/cw/waypoints"):
            for http in BOTH:
                with self.subTest(path=path, http=http):
                    self.assertJson(self.api(path, http=http), 200, {"waypoints": []})

    def test_waypoints_are_looked_up_within_their_dc(self):
        self.assertJson(self.api("/dcs/dc2/customers/c1/waypoints"), 200,
                        {"waypoints": [waypoint_json(OTHER_WAYPOINTS[1])]})

    def test_rows_written_by_another_process_show_up(self):
        path = "/dcs/dc1/customers/cfresh/waypoints"
        self.assertJson(self.api(path), 200, {"waypoints": []})
        first = {"dc_id": "dc1", "id": "zz-first", "customer_id": "cfresh", "route_id": "rf", "status": "PENDING",
                 "estimated_time_of_arrival": 1796000000000, "waypoints_ahead": 2, "waiting_time_seconds": 5}
        second = {"dc_id": "dc1", "id": "aa-second", "customer_id": "cfresh", "route_id": "rf", "status": "PENDING",
                  "estimated_time_of_arrival": 1796000060000, "waypoints_ahead": 1, "waiting_time_seconds": 6}
        self.sb.insert("waypoints", [first])
        self.sb.insert("waypoints", [second])
        want = {"waypoints": [waypoint_json(second), waypoint_json(first)]}
        self.assertJson(self.eventually(lambda: self.api(path), lambda r: r.code == 200 and r.json() == want),
                        200, want)
        self.sb.sql("UPDATE waypoints SET status = 'COMPLETED', completed_timestamp = 1796000001000 "
                    "WHERE dc_id = 'dc1' AND id = 'zz-first'")
        done = dict(first, status="COMPLETED", completed_timestamp=1796000001000)
        want = {"waypoints": [waypoint_json(second), waypoint_json(done)]}
        self.assertJson(self.eventually(lambda: self.api(path), lambda r: r.code == 200 and r.json() == want),
                        200, want)


class TrackingTokenTest(ServerTestCase):
    """POST .../tracking-token and what a token may read."""

    def post_token(self, body=None, key="all", path="/dcs/dc1/customers/c1/tracking-token", headers=None, **kw):
        if headers is None and body is not None:
            headers = {"Content-Type": "application/json"}
        return self.api(path, key=key, method="POST", data=body, headers=headers, **kw)

    def assertToken(self, resp, ttl, before_ms, after_ms):
        self.assertEqual(resp.code, 200, resp)
        self.assertEqual(resp.content_type.split(";")[0].strip(), "application/json", resp)
        body = resp.json()
        token = body.get("data", {}).get("token")
        self.assertIsInstance(token, str, resp)
        self.assertTrue(token)
        self.assertEqual(body, {"status": "success", "data": {"token": token,
                                                             "expires_at": body["data"]["expires_at"]}})
        expires = body["data"]["expires_at"]
        self.assertIs(type(expires), int, resp)
        # A second of slack either side for clock granularity.
        self.assertGreaterEqual(expires, before_ms + ttl * 1000 - 1000)
        self.assertLessEqual(expires, after_ms + ttl * 1000 + 1000)
        return token

    def test_default_ttl_is_one_day(self):
        for http in BOTH:
            for how, body in (("no body", None), ("empty object", "{}")):
                with self.subTest(http=http, body=how):
                    before = now_ms()
                    resp = self.post_token(body, http=http)
                    self.assertToken(resp, 86400, before, now_ms())

    def test_ttl_seconds(self):
        for ttl in (60, 1, 2592000):
            for http in BOTH:
                with self.subTest(ttl=ttl, http=http):
                    before = now_ms()
                    resp = self.post_token('{"ttl_seconds":%d}' % ttl, http=http)
                    self.assertToken(resp, ttl, before, now_ms())

    def test_bad_ttl_400(self):
        bodies = ['{"ttl_seconds":0}', '{"ttl_seconds":2592001}', '{"ttl_seconds":-1}', '{"ttl_seconds":"60"}',
                  '{"ttl_seconds":60.5}', '{"ttl_seconds":null}', '{"ttl_seconds":true}',
                  '{"ttl_seconds":99999999999999999999}', '[60]', '60', '"x"', 'ttl_seconds=60',
                  '{"ttl_seconds":60', '{"ttl_seconds":60} trailing']
        for body in bodies:
            for http in BOTH:
                with self.subTest(body=body, http=http):
                    self.assertError(self.post_token(body, http=http), 400)

    def test_body_without_content_length_is_not_ignored(self):
        # A body sent without Content-Length (HTTP/1.1 chunked; HTTP/2 DATA
        # frames without a content-length header) is still the request's
        # body: either honour ttl_seconds or refuse the request, never hand
        # out a token that lives for the default day instead.
        for http in BOTH:
            with self.subTest(http=http):
                before = now_ms()
                resp = self.post_token('{"ttl_seconds":60}', http=http, headers={
                    "Content-Type": "application/json", "Transfer-Encoding": "chunked"}, verbose=True)
                sent = [line for line in resp.stderr.lower().splitlines() if line.startswith(("> ", "* h2h3 ["))]
                self.assertFalse([line for line in sent if "content-length" in line], sent)  # really without one
                if resp.code == 200:
                    self.assertToken(resp, 60, before, now_ms())
                else:
                    self.assertError(resp, resp.code)
                    self.assertTrue(400 <= resp.code < 500, resp)

    def test_unknown_customer_404(self):
        for http in BOTH:
            with self.subTest(http=http):
                self.assertError(self.post_token(path="/dcs/dc1/customers/nobody/tracking-token", http=http), 404)

    def test_dc_forbidden_403(self):
        self.assertError(self.post_token(path="/dcs/nodc/customers/c1/tracking-token"), 403)
        self.assertError(self.post_token(key="dc2"), 403)

    def test_no_credentials_401(self):
        self.assertError(self.post_token(key=None), 401)

    def test_token_cannot_make_tokens_403(self):
        token = self.assertToken(self.post_token(), 86400, now_ms() - 1000, now_ms() + 1000)
        for http in BOTH:
            with self.subTest(http=http):
                self.assertError(self.post_token(key=token, http=http), 403, message=TOKEN_SCOPE_MESSAGE)

    def test_token_reads_only_its_customers_waypoints(self):
        before = now_ms()
        token = self.assertToken(self.post_token('{"ttl_seconds":600}'), 600, before, now_ms())
        own = {"waypoints": [waypoint_json(w) for w in reversed(C1_WAYPOINTS)]}
        for http in BOTH:
            with self.subTest(http=http):
                self.assertJson(self.api("/dcs/dc1/customers/c1/waypoints", key=token, http=http), 200, own)
                for path in ("/dcs/dc1/customers/c2/waypoints",        # another customer
                             "/dcs/dc1/customers/nobody/waypoints",    # an unknown one
                             "/dcs/dc2/customers/c1/waypoints",        # same id, other DC
                             "/dcs/dc1/customers/c1",                  # its own customer record
                             "/dcs/dc1/customers/c1/confident-location",
                             "/dcs/dc1/customers/c2"):
                    with self.subTest(path=path):
                        # issue 12: the truth, not "DC does not exist", and the same whatever the DC
                        self.assertError(self.api(path, key=token, http=http), 403,
                                         message=TOKEN_SCOPE_MESSAGE)

    def test_cli_token_works_like_a_posted_one(self):
        token = self.sb.token_create("dc1", "cw", ttl=600)
        resp = self.api("/dcs/dc1/customers/cw/waypoints", key=token)
        self.assertJson(resp, 200, {"waypoints": [waypoint_json(w) for w in reversed(CW_WAYPOINTS)][:10]})
        self.assertError(self.api("/dcs/dc1/customers/c1/waypoints", key=token), 403)

    def test_expired_token_401(self):
        token = self.sb.token_create("dc1", "c1", ttl=3)
        self.assertEqual(self.api("/dcs/dc1/customers/c1/waypoints", key=token).code, 200)
        end = time.monotonic() + 10
        while True:
            resp = self.api("/dcs/dc1/customers/c1/waypoints", key=token)
            if resp.code != 200 or time.monotonic() > end:
                break
            time.sleep(0.25)
        # issue 12: an expired token is told so, not "unknown or revoked API key"
        self.assertError(resp, 401, message="Tracking token expired")

    def test_tampered_token_401(self):
        token = self.sb.token_create("dc1", "c1", ttl=600)
        self.assertEqual(self.api("/dcs/dc1/customers/c1/waypoints", key=token).code, 200)
        i = len(token) - 5
        forged = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
        self.assertError(self.api("/dcs/dc1/customers/c1/waypoints", key=forged), 401)
        self.assertError(self.api("/dcs/dc1/customers/c1/waypoints", key=token[:-1]), 401)
        # A token made for another database's secret is not valid here.
        other = wpd.Sandbox(prefix="wpd-rest-other-", cert=False)
        self.addCleanup(other.close)
        other.sql("INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c1', 'C1');")
        foreign = other.token_create("dc1", "c1", ttl=600)
        self.assertError(self.api("/dcs/dc1/customers/c1/waypoints", key=foreign), 401,
                         message=BAD_CREDENTIAL_MESSAGE)


class AuthTest(ServerTestCase):
    """401 and 403."""

    ROUTES = ("/dcs/dc1/customers/c1", "/dcs/dc1/customers/c1/confident-location", "/dcs/dc1/customers/c1/waypoints")

    def test_no_credentials_401(self):
        for path in self.ROUTES + ("/dcs/dc1/customers/nobody",):
            for http in BOTH:
                with self.subTest(path=path, http=http):
                    self.assertError(self.req(path, http=http), 401, message=BAD_CREDENTIAL_MESSAGE)

    def test_unknown_or_malformed_credentials_401(self):
        unknown = "wpk_" + "A" * 43
        for header in ("Bearer " + unknown, "Bearer ", "Bearer", "Basic dXNlcjpwYXNz", unknown,
                       "bearer-" + self.key_all, "Bearer " + self.key_all + "x", "Bearer " + self.key_all[:-1],
                       "Bearer " + "x" * 3000):
            with self.subTest(header=header[:60]):
                resp = self.req("/dcs/dc1/customers/c1", headers={"Authorization": header})
                self.assertError(resp, 401)

    def test_access_token_query_is_not_a_rest_credential(self):
        resp = self.req("/dcs/dc1/customers/c1?access_token=" + self.key_all)
        self.assertError(resp, 401)

    def test_revoked_key_401(self):
        key = self.sb.key_create("to-revoke", all_dcs=True)
        self.assertJson(self.api("/dcs/dc1/customers/c1", key=key), 200, customer_json(find_customer("dc1", "c1")))
        self.sb.key_revoke("to-revoke")  # the CLI, while the server runs
        for http in BOTH:
            with self.subTest(http=http):
                resp = self.eventually(lambda: self.api("/dcs/dc1/customers/c1", key=key, http=http),
                                       lambda r: r.code != 200)
                self.assertError(resp, 401, message=BAD_CREDENTIAL_MESSAGE)
        self.assertServes()

    def test_revoked_key_401_on_an_open_connection(self):
        key = self.sb.key_create("to-revoke-open", dcs=["dc1"])
        conn = wpd.https_connection(self.server, self.sb.cert)
        self.addCleanup(conn.close)
        headers = {"Authorization": "Bearer " + key}
        conn.request("GET", "/dcs/dc1/customers/c2", headers=headers)
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertEqual(json.loads(resp.read()), customer_json(find_customer("dc1", "c2")))
        sock = conn.sock
        self.sb.key_revoke("to-revoke-open")

        # The answer cache sees a commit when the change watcher has looked
        # (milliseconds; longer under valgrind): architecture.md, "The answer
        # cache". Asked again on the same connection until then.
        def ask():
            conn.request("GET", "/dcs/dc1/customers/c2", headers=headers)
            r = conn.getresponse()
            return r, json.loads(r.read())
        resp, body = ask()
        deadline = time.monotonic() + 10
        while resp.status == 200 and time.monotonic() < deadline:
            time.sleep(0.05)
            resp, body = ask()
        self.assertIs(conn.sock, sock, "the request did not reuse the open connection")
        self.assertEqual(resp.status, 401)
        self.assertEqual(body["status"], "error")
        self.assertEqual(body["data"]["code"], 401)

    def test_keys_read_their_dcs(self):
        self.assertJson(self.api("/dcs/dc1/customers/c1", key="dc1"), 200, customer_json(find_customer("dc1", "c1")))
        self.assertJson(self.api("/dcs/dc2/customers/c1", key="dc2"), 200, customer_json(find_customer("dc2", "c1")))
        self.assertJson(self.api("/dcs/dc2/customers/c1", key="all"), 200, customer_json(find_customer("dc2", "c1")))

    def test_forbidden_dc_403_same_body_as_missing_dc(self):
        cases = [
            ("dc1", "/dcs/dc2/customers/c1"),        # key without that DC
            ("dc1", "/dcs/dc2/customers/nobody"),    # ... whether or not the customer exists
            ("dc2", "/dcs/dc1/customers/c1/waypoints"),
            ("dc2", "/dcs/dc1/customers/c1/confident-location"),
            ("all", "/dcs/nodc/customers/c1"),       # a DC that does not exist
            ("all", "/dcs/nodc/customers/c1/waypoints"),
            ("all", "/dcs/nodc/customers/c1/confident-location"),
            ("ghost", "/dcs/nodc/customers/c1"),     # allowed on it, but it does not exist
            ("ghost", "/dcs/dc1/customers/c1"),
        ]
        bodies = set()
        for key, path in cases:
            for http in BOTH:
                with self.subTest(key=key, path=path, http=http):
                    resp = self.api(path, key=key, http=http)
                    self.assertError(resp, 403)
                    bodies.add(resp.body)
        self.assertEqual(len(bodies), 1, "403 bodies differ: %r" % bodies)

    def test_dc_created_later_becomes_readable(self):
        key = self.sb.key_create("future-dc", dcs=["dc-later"])
        self.assertError(self.api("/dcs/dc-later/customers/k1", key=key), 403)
        self.sb.sql("INSERT INTO dcs(id, name) VALUES ('dc-later', 'Later');"
                    "INSERT INTO customers(dc_id, id, name) VALUES ('dc-later', 'k1', 'Kay');")
        resp = self.eventually(lambda: self.api("/dcs/dc-later/customers/k1", key=key), lambda r: r.code != 403)
        self.assertJson(resp, 200, {
            "status": "success", "data": {"customer": {"id": "k1", "name": "Kay", "imported_address": None,
                                                       "imported_location": None, "inferred_location": None}}})


class RequestErrorsTest(ServerTestCase):
    """404 paths, 400 malformed requests, 405 methods."""

    def test_unknown_api_paths_404(self):
        for path in ("/dcs", "/dcs/", "/dcs/dc1", "/dcs/dc1/", "/dcs/dc1/customers", "/dcs/dc1/clients/c1",
                     "/dcs/dc1/customers/c1/nope", "/dcs/dc1/customers/c1/waypoints/w-c1-a",
                     "/dcs/dc1/customers/c1/confident-location/x", "/dcs/dc1/customers/c1/tracking-tokens"):
            for http in BOTH:
                with self.subTest(path=path, http=http):
                    self.assertError(self.api(path, http=http), 404)

    def test_overlong_id_400(self):
        long = "y" * 256
        for path in ("/dcs/dc1/customers/%s" % long, "/dcs/dc1/customers/%s/waypoints" % long,
                     "/dcs/dc1/customers/%s/confident-location" % long, "/dcs/%s/customers/c1" % long,
                     "/dcs/dc1/customers/" + "%C3%A4" * 128):  # 256 bytes of UTF-8
            for http in BOTH:
                with self.subTest(path=path[:40], http=http):
                    self.assertError(self.api(path, http=http), 400)
        self.assertError(self.api("/dcs/dc1/customers/%s/tracking-token" % long, method="POST"), 400)
        # 255 bytes is still an id: the customer is simply unknown.
        self.assertError(self.api("/dcs/dc1/customers/" + "y" * 255), 404)

    def test_invalid_utf8_id_400(self):
        for esc in ("%FF", "c%FF", "%C0%AF", "%ED%A0%80", "%E2%82", "%80", "%F5%80%80%80"):
            for tmpl in ("/dcs/dc1/customers/%s", "/dcs/dc1/customers/%s/waypoints", "/dcs/%s/customers/c1"):
                path = tmpl % esc
                for http in BOTH:
                    with self.subTest(path=path, http=http):
                        self.assertError(self.api(path, http=http), 400)

    def test_bad_percent_encoding_refused(self):
        # Contract: 400. But libwebsockets 4.1 decodes the URL itself before
        # waypointd sees it and rejects a malformed escape on its own: over
        # HTTP/1.1 with its 403 page and a closed connection, over HTTP/2
        # with a GOAWAY (curl fails). So: refused, and the server carries on.
        for path in ("/dcs/dc1/customers/c%zz", "/dcs/dc1/customers/c%2", "/dcs/dc1/customers/c%", "/dcs/d%g1/customers/c1"):
            for http in BOTH:
                with self.subTest(path=path, http=http):
                    resp = self.api(path, http=http, path_as_is=True)
                    self.assertTrue(resp.rc != 0 or 400 <= resp.code < 500, resp)
                    self.assertNotIn(b'"success"', resp.body)
                    self.assertServes()

    def test_nul_byte_refused(self):
        # A decoded NUL (%00) is also refused inside libwebsockets (the
        # connection is dropped before routing); it must never reach a
        # route, and the server must keep serving.
        for path in ("/dcs/dc1/customers/c1%00", "/dcs/dc1/customers/c1%00/waypoints", "/a%00b"):
            for http in BOTH:
                with self.subTest(path=path, http=http):
                    resp = self.api(path, http=http, path_as_is=True)
                    self.assertTrue(resp.rc != 0 or 400 <= resp.code < 500, resp)
                    self.assertServes()

    def test_method_not_allowed_405(self):
        cases = [(m, p, "GET") for p in ("/dcs/dc1/customers/c1", "/dcs/dc1/customers/c1/confident-location",
                                         "/dcs/dc1/customers/c1/waypoints") for m in ("DELETE", "PUT", "POST")]
        cases += [(m, "/dcs/dc1/customers/c1/tracking-token", "POST") for m in ("GET", "PUT", "DELETE")]
        for method, path, allow in cases:
            for http in BOTH:
                with self.subTest(method=method, path=path, http=http):
                    data = "{}" if method in ("PUT", "POST") else None
                    resp = self.api(path, method=method, data=data, http=http)
                    self.assertError(resp, 405)
                    self.assertEqual(resp.headers.get("allow"), allow, resp)

    def test_api_responses_are_json(self):
        for path, key in (("/dcs/dc1/customers/c1", "all"), ("/dcs/dc1/customers/c1/waypoints", "all"),
                          ("/dcs/dc1/customers/c1/confident-location", "all"), ("/dcs/dc1/customers/c2", None),
                          ("/dcs/dc1/customers/nobody", "all"), ("/dcs/nodc/customers/c1", "all"),
                          ("/dcs/dc1/customers/c3/confident-location", "all")):
            with self.subTest(path=path):
                resp = self.api(path, key=key)
                self.assertEqual(resp.content_type.split(";")[0].strip(), "application/json", resp)
                resp.json()


class StaticFilesTest(ServerTestCase):
    """Static files from --www, and nothing outside it."""

    PASSWD_MARKER = b"root:"

    def assertNotLeaked(self, resp):
        self.assertNotIn(self.canary_text.strip(), resp.body, resp)
        self.assertNotIn(b"CANARY-", resp.body, resp)
        self.assertNotIn(self.PASSWD_MARKER + b"x:0:0", resp.body, resp)
        self.assertNotIn(b"/bin/", resp.body, resp)

    def test_index_html(self):
        with open(os.path.join(wpd.WWW_DIR, "index.html"), "rb") as f:
            index = f.read()
        for path in ("/", "/index.html"):
            for http in BOTH:
                with self.subTest(path=path, http=http):
                    resp = self.req(path, http=http)
                    self.assertEqual(resp.rc, 0, resp)
                    self.assertEqual(resp.code, 200, resp)
                    self.assertEqual(resp.body, index)
                    self.assertEqual(resp.content_type.split(";")[0].strip(), "text/html", resp)

    def test_other_files_and_subfolders(self):
        os.makedirs(os.path.join(self.www, "sub"), exist_ok=True)
        files = {"app.js": (b"console.log('hi');\n", "text/javascript"), "style.css": (b"h1{}\n", "text/css"),
                 "sub/data.json": (b'{"a":1}\n', "application/json")}
        for name, (content, _) in files.items():
            with open(os.path.join(self.www, name), "wb") as f:
                f.write(content)
        for name, (content, ctype) in files.items():
            with self.subTest(name=name):
                resp = self.req("/" + name)
                self.assertEqual(resp.code, 200, resp)
                self.assertEqual(resp.body, content)
                self.assertEqual(resp.content_type.split(";")[0].strip(), ctype)

    def test_missing_file_404(self):
        for path in ("/missing.html", "/nope/index.html", "/index.html/x"):
            for http in BOTH:
                with self.subTest(path=path, http=http):
                    resp = self.req(path, http=http)
                    self.assertEqual(resp.code, 404, resp)
                    self.assertNotLeaked(resp)

    def test_credentials_not_needed_and_ignored(self):
        resp = self.req("/", headers={"Authorization": "Bearer wpk_bogus"})
        self.assertEqual(resp.code, 200, resp)

    def test_path_traversal_refused(self):
        paths = [
            "/../canary.txt", "/../../../../../../etc/passwd", "/./../canary.txt", "/sub/../../canary.txt",
            "/%2e%2e/canary.txt", "/%2E%2E/canary.txt", "/.%2e/canary.txt", "/%2e./canary.txt",
            "/%2e%2e%2fcanary.txt", "/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "/..%2fcanary.txt", "/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd", "/..%2F..%2F..%2Fetc%2Fpasswd",
            "//etc/passwd", "///etc/passwd", "/%2fetc%2fpasswd", "/%2Fetc/passwd", "/etc/passwd",
            "/%2e%2e%5ccanary.txt", "/..%5ccanary.txt", "/..\\canary.txt", "/%5c..%5ccanary.txt",
            "/%252e%252e/canary.txt", "/%252e%252e%252fcanary.txt",
            "/%c0%ae%c0%ae/canary.txt", "/%c0%ae%c0%ae%c0%afcanary.txt", "/%e0%80%ae%e0%80%ae/canary.txt",
            "/..;/canary.txt", "/.../canary.txt", "/.%00./canary.txt", "/..%00/canary.txt",
            "/escape.txt", "/escape-dir/canary.txt",
            "/www/../canary.txt", "/index.html/../../canary.txt",
            "/proc/self/environ", "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/proc/self/environ",
        ]
        for path in paths:
            for http in BOTH:
                with self.subTest(path=path, http=http):
                    resp = self.req(path, http=http, path_as_is=True)
                    self.assertNotLeaked(resp)
                    self.assertNotIn(b"WAYPOINTD", resp.body)  # environ
                    self.assertTrue(resp.rc != 0 or 400 <= resp.code < 500, resp)
        self.assertServes()


class DefaultWwwTest(ServerTestCase):
    """Without --www the project's www/ is served."""

    use_www_copy = False

    def test_default_www_is_the_projects(self):
        with open(os.path.join(wpd.WWW_DIR, "index.html"), "rb") as f:
            index = f.read()
        resp = self.req("/")
        self.assertEqual(resp.code, 200, resp)
        self.assertEqual(resp.body, index)
        self.assertEqual(resp.content_type.split(";")[0].strip(), "text/html")


class ProtocolTest(ServerTestCase):
    """TLS versions, HTTP/1.1 keep-alive, HTTP/2."""

    def test_http11_keep_alive(self):
        url1 = self.server.url("/dcs/dc1/customers/c1")
        url2 = self.server.url("/dcs/dc1/customers/c2")
        proc = wpd.curl_raw(["--verbose", "--http1.1", "-H", "Authorization: Bearer " + self.key_all,
                             "-w", "\n%{http_code} %{http_version} %{num_connects}\n", url1, url2], self.sb.cert)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("Re-using existing connection", proc.stderr)
        self.assertEqual(proc.stderr.count("Connected to"), 1, proc.stderr)
        lines = proc.stdout.splitlines()
        self.assertEqual(json.loads(lines[0]), customer_json(find_customer("dc1", "c1")))
        self.assertEqual(lines[1], "200 1.1 1")
        self.assertEqual(json.loads(lines[2]), customer_json(find_customer("dc1", "c2")))
        self.assertEqual(lines[3], "200 1.1 0")  # no new connection for the second request

    def test_connection_close_is_announced(self):
        # A client that asks to close (or speaks HTTP/1.0) is told so in the
        # answer (RFC 9112 9.6), and the connection then closes: a second
        # request needs a new connection, without a retry.
        url = self.server.url("/dcs/dc1/customers/c1")
        for args in (["--http1.1", "-H", "Connection: close"], ["--http1.0"]):
            with self.subTest(args=args):
                proc = wpd.curl_raw(["--verbose", *args, "-H", "Authorization: Bearer " + self.key_all,
                                     "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code} %{num_connects}\n",
                                     url, url], self.sb.cert)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertIn("< connection: close", proc.stderr.lower())
                self.assertNotIn("retrying", proc.stderr.lower())
                self.assertEqual(proc.stdout.split("\n")[:2], ["200 1", "200 1"])

    def test_http11_keep_alive_after_errors_and_static(self):
        # Errors and files must not close a kept-alive connection either.
        urls = [self.server.url(p) for p in ("/dcs/dc1/customers/nobody", "/", "/missing", "/dcs/dc1/customers/c1")]
        proc = wpd.curl_raw(["--verbose", "--http1.1", "-H", "Authorization: Bearer " + self.key_all, "-o",
                             "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
                             "-w", "%{http_code} %{num_connects}\n", *urls], self.sb.cert)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.split("\n")[:4], ["404 1", "200 0", "404 0", "200 0"])

    def test_http2(self):
        resp = self.api("/dcs/dc1/customers/c1/waypoints", http="2")
        self.assertEqual(resp.version, "2")
        self.assertJson(resp, 200, {"waypoints": [waypoint_json(w) for w in reversed(C1_WAYPOINTS)]})
        resp = self.req("/", http="2")
        self.assertEqual((resp.code, resp.version), (200, "2"))
        # ALPN picks HTTP/2 when the client offers both.
        self.assertEqual(self.api("/dcs/dc1/customers/c1").version, "2")

    def test_http2_multiplexed_requests_share_a_connection(self):
        urls = [self.server.url("/dcs/dc1/customers/c%d" % i) for i in (1, 2, 3)]
        proc = wpd.curl_raw(["--http2", "--parallel", "-H", "Authorization: Bearer " + self.key_all,
                             "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
                             "-w", "%{http_code} %{http_version} %{num_connects}\n", *urls], self.sb.cert)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.split()
        self.assertEqual(lines[0::3], ["200"] * 3, proc.stdout)
        self.assertEqual(lines[1::3], ["2"] * 3, proc.stdout)
        self.assertEqual(sum(int(n) for n in lines[2::3]), 1, "not one multiplexed connection: %r" % proc.stdout)

    def test_http11(self):
        resp = self.api("/dcs/dc1/customers/c1", http="1.1")
        self.assertEqual(resp.version, "1.1")
        self.assertJson(resp, 200, customer_json(find_customer("dc1", "c1")))

    def test_tls11_refused(self):
        # Let the client really offer TLS 1.1 (OpenSSL 3 only does at
        # security level 0): the server must still refuse the handshake.
        for extra in ((), ("--ciphers", "DEFAULT:@SECLEVEL=0")):
            with self.subTest(extra=extra):
                resp = self.req("/", tls_min="1.1", tls_max="1.1", extra=extra)
                self.assertNotEqual(resp.rc, 0, resp)
                self.assertEqual(resp.code, 0, resp)
                self.assertEqual(resp.body, b"")
        resp = self.req("/", tls_min="1", tls_max="1.0", extra=("--ciphers", "DEFAULT:@SECLEVEL=0"))
        self.assertNotEqual(resp.rc, 0, resp)
        self.assertServes()

    def test_tls12_works(self):
        for http in BOTH:
            with self.subTest(http=http):
                resp = self.api("/dcs/dc1/customers/c1", tls_min="1.2", tls_max="1.2", http=http, verbose=True)
                self.assertJson(resp, 200, customer_json(find_customer("dc1", "c1")))
                self.assertIn("TLSv1.2", resp.stderr)

    def test_tls13_works(self):
        resp = self.api("/dcs/dc1/customers/c1", tls_min="1.3", verbose=True)
        self.assertJson(resp, 200, customer_json(find_customer("dc1", "c1")))
        self.assertIn("TLSv1.3", resp.stderr)

    def test_plain_http_gets_nothing(self):
        proc = wpd.run(["curl", "--silent", "--max-time", "5", "--noproxy", "*", "-w", "%{http_code}",
                        "http://127.0.0.1:%d/" % self.server.port])
        self.assertNotEqual(proc.stdout.strip()[-3:], "200", proc)
        self.assertNotIn("<html", proc.stdout)
        self.assertServes()

    def test_certificate_is_verified_against_the_dev_ca_only(self):
        # Guard for the helper itself: curl must not be talking insecurely.
        other = wpd.Sandbox(prefix="wpd-rest-ca-", init=False)
        self.addCleanup(other.close)
        resp = wpd.curl(self.server.url("/"), other.cert)
        self.assertNotEqual(resp.rc, 0, resp)
        self.assertEqual(resp.code, 0)


class ThreadsTest(ServerTestCase):
    """--threads 4 under 50 concurrent requests."""

    threads = 4

    def test_fifty_requests_on_four_threads(self):
        c1 = customer_json(find_customer("dc1", "c1"))
        cw = {"waypoints": [waypoint_json(w) for w in reversed(CW_WAYPOINTS)][:10]}
        conf = {"status": "success", "data": {"customer_id": "c1", "latitude": 37.7751, "longitude": -122.4193}}
        jobs = []
        for i in range(50):
            path, expected = [("/dcs/dc1/customers/c1", c1), ("/dcs/dc1/customers/cw/waypoints", cw),
                              ("/dcs/dc1/customers/c1/confident-location", conf)][i % 3]
            jobs.append((path, expected, BOTH[i % 2]))

        def one(job):
            path, _, http = job
            return self.api(path, http=http)

        with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
            results = list(pool.map(one, jobs))
        for (path, expected, http), resp in zip(jobs, results):
            with self.subTest(path=path, http=http):
                self.assertJson(resp, 200, expected)
                self.assertEqual(resp.version, http)
        self.assertEqual(self.server.stop(signal.SIGTERM), 0, self.server.stderr())

    def tearDown(self):
        pass  # the test stops the server itself


if __name__ == "__main__":
    unittest.main(verbosity=2)

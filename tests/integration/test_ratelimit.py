#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Rate limits that fit real traffic (issues 6 and 11): black-box tests.

The policy (docs/security.md, "Limits"): a client address is charged only
for what an attacker produces (failed authentication, malformed requests,
refused upgrades and event streams); authenticated work (API requests,
upgrades, event streams, subscribes) is charged to its credential. Many
clients behind one address (a carrier's NAT, an office) are served with the
defaults; a flood with bad credentials is refused per address; a flood with
one key is refused per key and spares other keys.

Every test starts a server of its own, so buckets start full and no test
sleeps to refill one for the next. Another client address is 127.0.0.2
(all of 127/8 is local on Linux: the sockets bind it as their source).
Every loop is bounded in count; every wait has a deadline. Run:
    /usr/bin/python3 tests/integration/test_ratelimit.py -v
(ctest sets WAYPOINTD and WAYPOINTD_SOURCE_DIR.)
"""
import concurrent.futures
import json
import os
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402
import rawws  # noqa: E402
from rawws import RawWS, RawWSError  # noqa: E402

OTHER = "127.0.0.2"  # another client address
# A burst is this many seconds of the rate (serve.h SERVE_RATE_BURST_SECS).
BURST_SECS = 10
BAD_KEY = "wpk_" + "x" * 43  # well-formed, unknown
WAYPOINTS = "/dcs/dc1/customers/c1/waypoints"


class RateLimitCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        sb = wpd.Sandbox(prefix="wpd-ratelimit-")
        cls.addClassCleanup(sb.close)
        cls.sb = sb
        sb.insert("dcs", [{"id": "dc1", "name": "DC one"}])
        sb.insert("customers", [{"dc_id": "dc1", "id": "c1", "name": "Ann"}])
        sb.insert("waypoints", [{"dc_id": "dc1", "id": "w1", "customer_id": "c1"}])
        cls.key = sb.key_create("one", all_dcs=True)
        cls.key2 = sb.key_create("two", all_dcs=True)

    def start(self, *extra):
        """A server of this test's own: the defaults plus extra."""
        srv = self.sb.server(threads=2, extra=list(extra), rate_limits=True)
        self.addCleanup(srv.close)
        self.server = srv
        return srv

    def tearDown(self):
        srv = getattr(self, "server", None)
        if srv is not None and srv.proc is not None and srv.returncode is None:
            self.assertTrue(srv.alive(), "the server died; stderr: %s" % srv.stderr()[-3000:])

    # -- helpers -----------------------------------------------------------

    def connection(self, source=None):
        return wpd.https_connection(self.server, self.sb.cert, source=source)

    def burst(self, n, key, path=WAYPOINTS, source=None, method="GET"):
        """n requests on one keep-alive HTTP/1.1 connection, one after the
        other; [(status, headers, body)]. A closed connection is reopened."""
        out = []
        conn = self.connection(source)
        try:
            for _ in range(n):
                headers = {"Authorization": "Bearer " + key} if key else {}
                try:
                    conn.request(method, path, headers=headers)
                    r = conn.getresponse()
                    out.append((r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()))
                    if r.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = self.connection(source)
                except (OSError, ssl.SSLError, ConnectionError) as e:
                    out.append((0, {}, repr(e).encode()))
                    conn.close()
                    conn = self.connection(source)
        finally:
            conn.close()
        return out

    def codes(self, answers):
        return [a[0] for a in answers]

    def assertLimited(self, answers, served, burst, what):
        """Some answers with a status in served (about the burst), then 429s
        with Retry-After and the error envelope. The largest Retry-After."""
        codes = self.codes(answers)
        self.assertNotIn(0, codes, "%s: a connection failed: %r" % (what, [a[2] for a in answers if a[0] == 0][:1]))
        passed = len([c for c in codes if c in served])
        self.assertIn(429, codes, "%s: %d requests, never limited" % (what, len(codes)))
        self.assertGreaterEqual(passed, burst - 1, "%s: only %d passed before 429s (burst %d)" % (what, passed, burst))
        self.assertLessEqual(passed, burst * 3, "%s: %d passed, burst %d" % (what, passed, burst))
        self.assertEqual(set(codes) - set(served), {429}, "%s: %r" % (what, sorted(set(codes))))
        retry = 0
        for status, hdrs, body in answers:
            if status != 429:
                continue
            self.assertRegex(hdrs.get("retry-after", ""), r"^[1-9][0-9]*$", "%s: Retry-After %r" %
                             (what, hdrs.get("retry-after")))
            retry = max(retry, int(hdrs["retry-after"]))
            self.assertEqual(json.loads(body), {"status": "error", "data": {"code": 429,
                                                                           "message": "Too many requests"}})
        self.assertLessEqual(retry, 60, what)
        return retry

    def assertAllServed(self, answers, what, status=200):
        codes = self.codes(answers)
        self.assertEqual(codes, [status] * len(codes), "%s: %r" % (what, sorted(set(codes))))

    def wait_retry(self, seconds):
        time.sleep(min(max(seconds, 1), 10) + 0.2)

    def open_ws(self, n, key=None, tokens=None, source=None):
        """n WebSocket connections (a key in the header, or one token each in
        the query as browsers do); (open sockets, failures)."""
        socks, failures = [], []
        for i in range(n):
            try:
                if tokens:
                    ws = RawWS.open(self.server, self.sb.cert, access_token=tokens[i], source=source)
                else:
                    ws = RawWS.open(self.server, self.sb.cert, key=key, source=source)
                self.addCleanup(ws.close)
                socks.append(ws)
            except (RawWSError, OSError, ssl.SSLError) as e:
                failures.append(str(e))
        return socks, failures

    def subscribe(self, ws, req_id, customer="c1"):
        ws.send_json({"type": "subscribe", "id": req_id, "dc_id": "dc1", "customer_id": customer})
        return ws.recv_json()

    def upgrades(self, n, key, source=None, **kw):
        """n upgrade attempts, each on a new connection; [(status, headers)]."""
        out = []
        for _ in range(n):
            status, hdrs, _ = rawws.upgrade(self.server, self.sb.cert, key=key, source=source, **kw)
            out.append((status, hdrs))
        return out

    def assertServedFrom(self, source, key, what):
        """A client at source with key: a REST answer, an upgrade and a subscribe."""
        self.assertAllServed(self.burst(3, key, source=source), what + ": REST")
        socks, failures = self.open_ws(1, key=key, source=source)
        self.assertEqual(failures, [], what + ": upgrade")
        self.assertEqual(self.subscribe(socks[0], "s")["type"], "subscribed", what + ": subscribe")


class ManyClientsBehindOneAddressTest(RateLimitCase):
    """The defaults serve a carrier's NAT or an office: many people, one address."""

    def test_issue_11_defaults_serve_200_pages_and_a_dispatcher_from_one_address(self):
        self.start()
        # The dispatcher's tool mints a tracking token per page: 200 POSTs with one key.
        tokens, answers = [], []
        conn = self.connection()
        try:
            for _ in range(200):
                conn.request("POST", "/dcs/dc1/customers/c1/tracking-token", body="{}",
                             headers={"Authorization": "Bearer " + self.key, "Content-Type": "application/json"})
                r = conn.getresponse()
                body = r.read()
                answers.append(r.status)
                if r.status == 200:
                    tokens.append(json.loads(body)["data"]["token"])
        finally:
            conn.close()
        self.assertEqual(answers, [200] * 200, "token POSTs: %r" % sorted(set(answers)))
        # 200 pages read their waypoints (a token each); the dispatcher polls 200 times.
        page_answers = []
        conn = self.connection()
        try:
            for t in tokens:
                conn.request("GET", WAYPOINTS, headers={"Authorization": "Bearer " + t})
                r = conn.getresponse()
                r.read()
                page_answers.append(r.status)
        finally:
            conn.close()
        self.assertEqual(page_answers, [200] * 200, "pages' REST: %r" % sorted(set(page_answers)))
        self.assertAllServed(self.burst(200, self.key), "the dispatcher's polls")
        # The 200 pages open the live channel at once and subscribe.
        socks, failures = self.open_ws(200, tokens=tokens)
        self.assertEqual(failures, [], "%d of 200 upgrades refused" % len(failures))
        for i, ws in enumerate(socks):
            ws.send_json({"type": "subscribe", "id": i, "dc_id": "dc1", "customer_id": "c1"})
        replies = [ws.recv_json() for ws in socks]
        refused = [r for r in replies if r.get("type") != "subscribed"]
        self.assertEqual(refused, [], "%d of 200 subscribes refused" % len(refused))
        # And the dispatcher's dashboards: 200 subscribes with one key, 4 connections.
        dash, failures = self.open_ws(4, key=self.key)
        self.assertEqual(failures, [])
        replies = [self.subscribe(ws, "d%d" % i, "c%d" % i) for i in range(200) for ws in [dash[i % 4]]]
        refused = [r for r in replies if r.get("type") != "subscribed"]
        self.assertEqual(refused, [], "%d of 200 dashboard subscribes refused" % len(refused))


class PerAddressTest(RateLimitCase):
    """What an attacker produces is limited per client address."""

    def test_bad_credentials_flood_is_refused_per_address_with_the_defaults(self):
        self.start()
        answers = self.burst(600, BAD_KEY)
        # Default: 20 failures a second, bursts of 200.
        self.assertLimited(answers, {401}, 20 * BURST_SECS, "600 requests with an unknown key")
        upgrades = self.upgrades(20, BAD_KEY)
        self.assertIn(429, [u[0] for u in upgrades], "upgrades from the flooding address: %r" % upgrades)
        self.assertEqual({u[0] for u in upgrades} - {401}, {429}, upgrades)
        for status, hdrs in upgrades:
            if status == 429:
                self.assertRegex(hdrs.get("retry-after", ""), r"^[1-9][0-9]*$", hdrs)
        # Another address, a valid key: served at once.
        self.assertServedFrom(OTHER, self.key, "a valid key from another address")

    def test_missing_credentials_and_malformed_requests_count(self):
        self.start("--rate-limit-addr", "2")
        self.assertLimited(self.burst(60, None), {401}, 2 * BURST_SECS, "requests without a credential")
        self.start("--rate-limit-addr", "2")
        self.assertLimited(self.burst(60, self.key, path="/dcs/%FF/customers/c1/waypoints"), {400}, 2 * BURST_SECS,
                           "requests with an id that is not UTF-8")
        self.start("--rate-limit-addr", "2")
        self.assertLimited(self.burst(60, self.key, method="DELETE"), {405}, 2 * BURST_SECS,
                           "requests with a method no route takes")
        # Static files are not limited, even for an address over its budget.
        self.assertEqual(self.sb.curl(self.server, "/").code, 200)
        self.assertEqual(self.sb.curl(self.server, "/app.css").code, 200)

    def test_refused_upgrades_count(self):
        self.start("--rate-limit-addr", "2")
        statuses = [u[0] for u in self.upgrades(40, self.key, protocol="chat")]
        self.assertIn(429, statuses, statuses)
        self.assertEqual(set(statuses), {400, 429}, statuses)
        self.assertGreaterEqual(statuses.count(400), 2 * BURST_SECS - 1, statuses)
        self.assertServedFrom(OTHER, self.key, "a valid key from another address")

    def test_bad_credentials_over_http2_streams(self):
        self.start("--rate-limit-addr", "2")
        args = ["--http2", "--header", "Authorization: Bearer " + BAD_KEY, "--write-out", "%{http_code}\\n"]
        for _ in range(60):  # one connection, 60 streams one after the other
            args += ["--output", "/dev/null", self.server.url(WAYPOINTS)]
        codes = wpd.curl_raw(args, self.sb.cert).stdout.split()
        self.assertEqual(len(codes), 60, codes)
        self.assertIn("429", codes, codes)
        self.assertEqual(set(codes), {"401", "429"}, codes)
        self.assertGreaterEqual(codes.count("401"), 2 * BURST_SECS - 1, codes)

    def test_refused_event_streams_count(self):
        self.start("--rate-limit-addr", "2")
        args = ["--header", "Authorization: Bearer " + BAD_KEY, "--write-out", "%{http_code}\\n"]
        for _ in range(40):  # one connection, 40 refused streams one after the other
            args += ["--output", "/dev/null", self.server.url(WAYPOINTS + "/events")]
        codes = wpd.curl_raw(args, self.sb.cert).stdout.split()
        self.assertEqual(len(codes), 40, codes)
        self.assertIn("429", codes, codes)
        self.assertEqual(set(codes), {"401", "429"}, codes)
        self.assertGreaterEqual(codes.count("401"), 2 * BURST_SECS - 1, codes)

    def test_valid_credentials_are_not_counted_per_address(self):
        self.start("--rate-limit-addr", "1", "--rate-limit-key", "0")
        self.assertAllServed(self.burst(100, self.key), "100 requests with a valid key at --rate-limit-addr 1")
        self.assertEqual([u[0] for u in self.upgrades(30, self.key)], [101] * 30, "upgrades with a valid key")
        socks, _ = self.open_ws(1, key=self.key)
        replies = [self.subscribe(socks[0], i, "c%d" % (i % 50)) for i in range(30)]
        self.assertEqual([r["type"] for r in replies], ["subscribed"] * 30, replies)
        args = ["--header", "Authorization: Bearer " + self.key, "--write-out", "%{http_code}\\n", "--max-time", "1"]
        for _ in range(5):  # event streams: each is cut by curl after 1 s, a 200 each
            args += ["--output", "/dev/null", self.server.url(WAYPOINTS + "/events")]
        streams = wpd.curl_raw(args, self.sb.cert, max_time=1).stdout.split()
        self.assertEqual(streams, ["200"] * 5, "event streams with a valid key")
        # Failures still are, once the budget (10) is spent.
        self.assertLimited(self.burst(30, BAD_KEY), {401}, BURST_SECS, "unknown keys at --rate-limit-addr 1")

    def test_address_is_served_again_after_retry_after(self):
        self.start("--rate-limit-addr", "2")
        retry = self.assertLimited(self.burst(60, BAD_KEY), {401}, 2 * BURST_SECS, "unknown keys")
        self.wait_retry(retry)
        self.assertAllServed(self.burst(1, self.key), "a valid key after waiting Retry-After")


class PerCredentialTest(RateLimitCase):
    """Authenticated work is limited per credential."""

    def test_issue_11_one_key_flood_is_limited_per_key_and_spares_other_keys(self):
        self.start("--rate-limit-key", "20")
        # 600 requests with one key from 127.0.0.1: limited per key (burst 200).
        retry = self.assertLimited(self.burst(600, self.key), {200}, 20 * BURST_SECS, "600 requests with one key")
        # Another key, from the same address and from another one: served.
        self.assertAllServed(self.burst(50, self.key2), "another key from the flooding address")
        self.assertServedFrom(OTHER, self.key2, "another key from another address")
        # While the flood goes on, the other key from the other address is served
        # within seconds each time.
        flood_done = [False]

        def flood():
            n = 0
            while not flood_done[0] and n < 5000:
                n += len(self.burst(100, self.key))
            return n

        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as ex:
            fut = ex.submit(flood)
            try:
                time.sleep(0.5)
                for _ in range(10):
                    t0 = time.monotonic()
                    self.assertAllServed(self.burst(5, self.key2, source=OTHER), "key2 during key1's flood")
                    self.assertLess(time.monotonic() - t0, 5.0, "key2's 5 requests took seconds during the flood")
            finally:
                flood_done[0] = True
            self.assertGreater(fut.result(timeout=60), 0)
        self.wait_retry(retry)

    def test_upgrades_and_subscribes_per_key(self):
        self.start("--rate-limit-key", "2", "--max-subs", "1000")
        statuses = [u[0] for u in self.upgrades(40, self.key)]
        self.assertIn(429, statuses, statuses)
        self.assertEqual(set(statuses), {101, 429}, statuses)
        self.assertGreaterEqual(statuses.count(101), 2 * BURST_SECS - 1, statuses)
        # key2 is untouched: its connection subscribes until its own bucket is empty.
        socks, failures = self.open_ws(1, key=self.key2)
        self.assertEqual(failures, [])
        replies = [self.subscribe(socks[0], i, "c%d" % i) for i in range(40)]
        limited = [r for r in replies if r["type"] == "error"]
        self.assertTrue(limited, "40 subscribes at --rate-limit-key 2 were never limited")
        self.assertGreaterEqual(len(replies) - len(limited), 2 * BURST_SECS - 2, replies)
        for r in limited:
            self.assertEqual(r["code"], 429, r)
            self.assertIsInstance(r.get("retry_after"), int, r)
            self.assertGreaterEqual(r["retry_after"], 1, r)
        socks[0].send_json({"type": "ping", "id": "p"})
        self.assertEqual(socks[0].recv_json(), {"type": "pong", "id": "p"}, "the connection stays usable")
        self.wait_retry(max(r["retry_after"] for r in limited))
        self.assertEqual(self.subscribe(socks[0], "later")["type"], "subscribed")

    def test_zero_turns_limits_off(self):
        self.start("--rate-limit-addr", "0", "--rate-limit-key", "0")
        self.assertAllServed(self.burst(300, self.key), "300 requests with one key, no limits")
        self.assertAllServed(self.burst(300, BAD_KEY), "300 requests with an unknown key, no limits", status=401)


if __name__ == "__main__":
    unittest.main()

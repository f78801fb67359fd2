#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box tests of HTTP caching and cross-origin use of the API:
ETag / If-None-Match (304) and Cache-Control on the three GETs, CORS with
the --allow-origin list (preflight included), HSTS on every answer.

Run directly: /usr/bin/python3 tests/integration/test_http_caching.py
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402

BOTH = ("1.1", "2")
ALLOWED = "https://track.example.com"
GETS = ("/dcs/d1/customers/c1", "/dcs/d1/customers/c1/confident-location", "/dcs/d1/customers/c1/waypoints")


class CachingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sb = wpd.Sandbox()
        cls.sb.sql("INSERT INTO dcs(id) VALUES ('d1');"
                   "INSERT INTO customers(dc_id, id, name, inferred_latitude, inferred_longitude, location_confident)"
                   " VALUES ('d1', 'c1', 'Ann', 1.5, 2.5, 1);"
                   "INSERT INTO waypoints(dc_id, id, customer_id, status) VALUES ('d1', 'w1', 'c1', 'PENDING');")
        cls.key = cls.sb.key_create("k", all_dcs=True)
        cls.server = cls.sb.server(extra=("--allow-origin", ALLOWED))

    @classmethod
    def tearDownClass(cls):
        cls.sb.close()

    def get(self, path, http="2", headers=None, method=None, bearer=True):
        return self.sb.curl(self.server, path, http=http, headers=headers, method=method,
                            bearer=self.key if bearer else None)

    def test_gets_carry_an_etag_and_revalidate(self):
        for path in GETS:
            for http in BOTH:
                with self.subTest(path=path, http=http):
                    r = self.get(path, http)
                    self.assertEqual(r.code, 200, r)
                    etag = r.headers.get("etag", "")
                    self.assertRegex(etag, r'^"[0-9a-f]{16}"$')
                    self.assertEqual(r.headers.get("cache-control"), "private, no-cache")
                    again = self.get(path, http, headers={"If-None-Match": etag})
                    self.assertEqual(again.code, 304, again)
                    self.assertEqual(again.body, b"")
                    self.assertEqual(again.headers.get("etag"), etag)
                    self.assertNotIn("content-type", again.headers)
                    # weak comparison, lists and "*" match too; another tag does not
                    for inm in ("W/" + etag, '"0000000000000000", ' + etag, "*"):
                        self.assertEqual(self.get(path, http, headers={"If-None-Match": inm}).code, 304, inm)
                    other = self.get(path, http, headers={"If-None-Match": '"0000000000000000"'})
                    self.assertEqual(other.code, 200)
                    self.assertEqual(other.body, r.body)

    def test_etag_changes_with_the_data(self):
        path = "/dcs/d1/customers/c1/waypoints"
        before = self.get(path).headers["etag"]
        self.sb.sql("UPDATE waypoints SET waypoints_ahead = waypoints_ahead + 1 WHERE id = 'w1';"
                    "UPDATE waypoints SET waypoints_ahead = 3 WHERE id = 'w1' AND waypoints_ahead IS NULL;")
        r = self.get(path, headers={"If-None-Match": before})
        self.assertEqual(r.code, 200, r)
        self.assertNotEqual(r.headers["etag"], before)
        self.assertIn(b'"waypoints_ahead":', r.body)

    def test_304_keeps_the_http11_connection_usable(self):
        path = "/dcs/d1/customers/c1"
        etag = self.get(path, "1.1").headers["etag"]
        url = self.server.url(path)
        # two requests on one connection: the second must be answered too
        r = wpd.curl(url, self.sb.cert, http="1.1", bearer=self.key, headers={"If-None-Match": etag},
                     extra=[url, "--verbose"])
        self.assertEqual([b.get("etag") for b in r.all_headers], [etag, etag])
        self.assertIn("Re-using existing connection", r.stderr + "")

    def test_errors_are_not_cacheable_and_have_no_etag(self):
        r = self.get("/dcs/d1/customers/nobody")
        self.assertEqual(r.code, 404)
        self.assertEqual(r.headers.get("cache-control"), "no-store")
        self.assertNotIn("etag", r.headers)
        r = self.get("/dcs/d1/customers/c1", bearer=False)
        self.assertEqual(r.code, 401)
        self.assertNotIn("etag", r.headers)

    def test_cors_for_an_allowed_origin(self):
        for http in BOTH:
            with self.subTest(http=http):
                r = self.get(GETS[2], http, headers={"Origin": ALLOWED})
                self.assertEqual(r.code, 200)
                self.assertEqual(r.headers.get("access-control-allow-origin"), ALLOWED)
                self.assertIn("ETag", r.headers.get("access-control-expose-headers", ""))
                self.assertIn("Origin", r.headers.get("vary", ""))

    def test_no_cors_headers_for_other_origins(self):
        r = self.get(GETS[2], headers={"Origin": "https://evil.example"})
        self.assertEqual(r.code, 200)  # the browser, not the server, withholds the answer
        self.assertNotIn("access-control-allow-origin", r.headers)

    def test_preflight(self):
        for http in BOTH:
            with self.subTest(http=http):
                r = self.get(GETS[0], http, method="OPTIONS", bearer=False,
                             headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET",
                                      "Access-Control-Request-Headers": "authorization"})
                self.assertEqual(r.code, 204, r)
                self.assertEqual(r.body, b"")
                self.assertEqual(r.headers.get("access-control-allow-origin"), ALLOWED)
                self.assertIn("GET", r.headers.get("access-control-allow-methods", ""))
                self.assertIn("Authorization", r.headers.get("access-control-allow-headers", ""))
                self.assertIn("If-None-Match", r.headers.get("access-control-allow-headers", ""))
                bad = self.get(GETS[0], http, method="OPTIONS", bearer=False,
                               headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
                self.assertEqual(bad.code, 403)
                self.assertNotIn("access-control-allow-origin", bad.headers)
                self.assertEqual(bad.json()["data"]["code"], 403)

    def test_options_without_origin_is_still_405(self):
        r = self.get(GETS[0], method="OPTIONS")
        self.assertEqual(r.code, 405)
        self.assertEqual(r.headers.get("allow"), "GET")

    def test_hsts_everywhere(self):
        for path, bearer in (("/", False), ("/dcs/d1/customers/c1", True), ("/dcs/d1/customers/c1", False),
                             ("/no-such-file", False)):
            for http in BOTH:
                with self.subTest(path=path, http=http, bearer=bearer):
                    r = self.get(path, http, bearer=bearer)
                    self.assertNotEqual(r.code, 0, r)
                    self.assertEqual(r.headers.get("strict-transport-security"), "max-age=31536000")


if __name__ == "__main__":
    unittest.main()

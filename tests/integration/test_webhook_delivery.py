#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Webhook delivery (issue 15), black-box: `serve` POSTs each endpoint's
events to a loopback HTTPS receiver (this file's, with a certificate made by
openssl and passed with --webhook-ca) that verifies the Standard Webhooks
signature with the specification's formula and records what it got. A
status change arrives signed with the REST waypoint; 500 then 200 sends the
same id and body with a new timestamp; 410 disables; a redirect is not
followed; without --webhook-allow-private the loopback receiver is refused;
a hanging receiver times out without delaying another; both secrets sign
during a rotation; one waypoint's events arrive in order while others flow;
`kill -9` before the POST loses nothing; `webhook test`, `redeliver` and
`deliveries`. Every wait is bounded; loopback only."""

import base64
import email.utils
import hashlib
import hmac
import http.server
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402

ARRIVE = 10.0        # a committed change reaches a receiver (a commit wakes the sender; retries of ~5 s excluded)
RETRY = 15.0         # a first retry (5 s +-20%) arrives
TIMEOUT_S = 3        # --webhook-timeout for these servers
ID_RE = r"wh_[0-9a-f]{12}"


def make_receiver_cert(directory):
    cert, key = os.path.join(directory, "recv-cert.pem"), os.path.join(directory, "recv-key.pem")
    wpd.check(wpd.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                       "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                       "-addext", "subjectAltName=IP:127.0.0.1"]), "openssl req")
    return cert, key


def verify(secret, headers, body):
    """The specification's check: HMAC-SHA256 over id.timestamp.body, keyed
    with the base64 after whsec_; True when some v1 item matches."""
    key = base64.b64decode(secret[len("whsec_"):])
    signed = b"%s.%s.%s" % (headers["webhook-id"].encode(), headers["webhook-timestamp"].encode(), body)
    want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(item == "v1," + want for item in headers["webhook-signature"].split(" "))


class Receiver:
    """An HTTPS server on 127.0.0.1; the path picks the answer: /ok 200,
    /flaky 500 the first time an id comes then 200, /gone 410, /redirect 302
    to /ok, /hang holds the request until released, /slow 200 after 0.5 s."""

    def __init__(self, cert, key):
        self.records = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.seen = set()
        self.inflight, self.max_inflight = {}, {}  # per waypoint id, on /slow
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                rec = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body": body, "at": time.monotonic()}
                try:
                    rec["json"] = json.loads(body)
                except ValueError:
                    rec["json"] = None
                with receiver.lock:
                    receiver.records.append(rec)
                    first = rec["headers"].get("webhook-id") not in receiver.seen
                    receiver.seen.add(rec["headers"].get("webhook-id"))
                status, extra = 200, {}
                if self.path.startswith("/flaky") and first:
                    status = 500
                elif self.path.startswith("/gone"):
                    status = 410
                elif self.path.startswith("/redirect"):
                    status, extra = 302, {"Location": "https://127.0.0.1:%d/ok" % receiver.port}
                elif self.path.startswith("/hang"):
                    receiver.release.wait(30)
                elif self.path.startswith("/retry-after-seconds"):
                    status, extra = 503, {"Retry-After": "3600"}
                elif self.path.startswith("/retry-after-date"):
                    status, extra = 503, {"Retry-After": email.utils.formatdate(time.time() + 5 * 3600, usegmt=True)}
                elif self.path.startswith("/slow"):
                    key = ((rec["json"] or {}).get("data") or {}).get("waypoint", {}).get("id")
                    with receiver.lock:
                        receiver.inflight[key] = receiver.inflight.get(key, 0) + 1
                        receiver.max_inflight[key] = max(receiver.max_inflight.get(key, 0), receiver.inflight[key])
                    time.sleep(0.5)
                    with receiver.lock:
                        receiver.inflight[key] -= 1
                answer = b"answer from %s" % self.path.encode()
                try:
                    self.send_response(status)
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the sender gave up (timeout, kill -9)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "https://127.0.0.1:%d%s" % (self.port, path)

    def got(self, pred=lambda r: True):
        with self.lock:
            return [r for r in self.records if pred(r)]

    def wait(self, pred, n=1, deadline=ARRIVE, what="deliveries"):
        wpd.wait_until(lambda: len(self.got(pred)) >= n, deadline=deadline, what=what)
        return self.got(pred)

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def for_dc(dc):
    return lambda r: r["json"] and (r["json"].get("dc_id") == dc or
                                    r["json"].get("data", {}).get("waypoint", {}).get("dc_id") == dc)


class DeliveryBase(unittest.TestCase):
    allow = True

    @classmethod
    def setUpClass(cls):
        cls.sb = wpd.Sandbox(prefix="wpd-whd-")
        cls.addClassCleanup(cls.sb.close)
        cls.rcert, rkey = make_receiver_cert(cls.sb.dir)
        cls.recv = Receiver(cls.rcert, rkey)
        cls.addClassCleanup(cls.recv.close)
        cls.srv = cls.sb.server(extra=cls.server_extra())

    @classmethod
    def tearDownClass(cls):
        # A clean stop (the delivery thread joined with transfers in flight)
        # and, under the ASan build, no sanitizer report.
        for srv in cls.sb.servers:
            if srv.alive():
                code = srv.stop()
                if code != 0:
                    raise AssertionError("serve exited %r: %s" % (code, srv.stderr()[-2000:]))
            text = srv.stderr()
            if "Sanitizer" in text or "runtime error" in text:
                raise AssertionError(text[-4000:])

    @classmethod
    def server_extra(cls):
        extra = ["--webhook-ca", cls.rcert, "--webhook-timeout", str(TIMEOUT_S), "--metrics-listen", "127.0.0.1:0"]
        if cls.allow:
            extra += ["--webhook-allow-private", "127.0.0.0/8"]
        return extra

    def webhook(self, *args, ok=True):
        proc = wpd.waypointd("webhook", *args)
        if ok:
            self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc

    def add(self, dc, path, *extra):
        proc = self.webhook("add", "--db", self.sb.db, "--dc", dc, "--url", self.recv.url(path), *extra)
        m = re.fullmatch(r"(%s) (whsec_\S+)\n" % ID_RE, proc.stdout)
        self.assertIsNotNone(m, proc.stdout)
        return m.group(1), m.group(2)

    def write(self, dc, wid, status, customer="c1", ahead=10, route="r1"):
        """Insert or update a waypoint (no ETA, far from its stop: only status events)."""
        self.sb.sql("INSERT OR IGNORE INTO dcs(id, name) VALUES (%s, 'x');"
                    "INSERT OR IGNORE INTO customers(dc_id, id, name) VALUES (%s, %s, 'n');"
                    "INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, waypoints_ahead)"
                    " VALUES (%s, %s, %s, %s, %s, %d) ON CONFLICT(dc_id, id) DO UPDATE SET status = excluded.status;"
                    % (wpd.q(dc), wpd.q(dc), wpd.q(customer), wpd.q(dc), wpd.q(wid), wpd.q(customer), wpd.q(route),
                       wpd.q(status), ahead))

    def metrics(self):
        m = re.search(r"metrics and health on (http://127\.0\.0\.1:\d+)/metrics", self.srv.stderr())
        self.assertIsNotNone(m, self.srv.stderr())
        with urllib.request.urlopen(m.group(1) + "/metrics", timeout=5) as r:
            text = r.read().decode()
        return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                for line in text.splitlines() if line and not line.startswith("#")}

    def deliveries(self, wid):
        out = self.webhook("deliveries", "--db", self.sb.db, wid).stdout
        return [line.split("\t") for line in out.splitlines()]

    def listed(self, wid):
        for line in self.webhook("list", "--db", self.sb.db).stdout.splitlines():
            f = line.split("\t")
            if f[0] == wid:
                return f
        self.fail("%s not listed" % wid)


class DeliveryTest(DeliveryBase):

    def test_status_change_arrives_signed_with_rest_waypoint(self):
        wid, secret = self.add("d1", "/ok")
        self.write("d1", "w1", "PENDING")
        rec = self.recv.wait(for_dc("d1"))[0]
        h = rec["headers"]
        self.assertTrue(verify(secret, h, rec["body"]), h)
        self.assertRegex(h["webhook-id"], r"^msg_[0-9a-f]{12}_\d+_0$")
        self.assertEqual(h["content-type"], "application/json")
        self.assertIn("waypointd", h["user-agent"])
        self.assertLess(abs(int(h["webhook-timestamp"]) - time.time()), 60)
        self.assertEqual(rec["json"]["type"], "waypoint.status_changed")
        self.assertEqual(rec["json"]["data"]["waypoint"],
                         {"id": "w1", "customer_id": "c1", "route_id": "r1", "status": "PENDING",
                          "completed_timestamp": None, "estimated_time_of_arrival": None, "waypoints_ahead": 10,
                          "waiting_time_seconds": None})
        wpd.wait_until(lambda: any(d[2] == "200" for d in self.deliveries(wid)), what="the attempt logged")
        d = self.deliveries(wid)[0]
        self.assertEqual(d[1], h["webhook-id"])
        self.assertEqual(d[3], "-")
        self.assertEqual(d[5], "answer from /ok")

    def test_500_then_200_same_id_and_body_new_timestamp(self):
        wid, secret = self.add("d2", "/flaky")
        self.write("d2", "w1", "PENDING")
        first, second = self.recv.wait(for_dc("d2"), n=2, deadline=RETRY)[:2]
        self.assertEqual(first["headers"]["webhook-id"], second["headers"]["webhook-id"])
        self.assertEqual(first["body"], second["body"])
        self.assertGreater(int(second["headers"]["webhook-timestamp"]), int(first["headers"]["webhook-timestamp"]))
        self.assertTrue(verify(secret, second["headers"], second["body"]))
        wpd.wait_until(lambda: len(self.deliveries(wid)) >= 2, what="two attempts logged")
        self.assertEqual([d[2] for d in self.deliveries(wid)[:2]], ["200", "500"])

    def test_410_disables_the_endpoint(self):
        wid, _ = self.add("d3", "/gone")
        self.write("d3", "w1", "PENDING")
        self.recv.wait(for_dc("d3"))
        wpd.wait_until(lambda: self.listed(wid)[2] == "disabled", what="disabled")
        self.assertIn("410", self.listed(wid)[-1])
        self.assertIn("disabled", self.srv.stderr())

    def test_redirect_not_followed(self):
        wid, _ = self.add("d4", "/redirect")
        self.write("d4", "w1", "PENDING")
        rec = self.recv.wait(for_dc("d4"))[0]
        wpd.wait_until(lambda: any(d[2] == "302" for d in self.deliveries(wid)), what="302 logged")
        time.sleep(1)
        mid = rec["headers"]["webhook-id"]
        self.assertEqual([r["path"] for r in self.recv.got(lambda r: r["headers"]["webhook-id"] == mid)],
                         ["/redirect"])

    def test_hanging_receiver_times_out_without_delaying_another(self):
        hang, _ = self.add("d5", "/hang")
        ok, _ = self.add("d5", "/ok")
        t0 = time.monotonic()
        self.write("d5", "w1", "PENDING")
        self.recv.wait(lambda r: for_dc("d5")(r) and r["path"] == "/hang")
        ok_rec = self.recv.wait(lambda r: for_dc("d5")(r) and r["path"] == "/ok")[0]
        self.assertLess(ok_rec["at"] - t0, TIMEOUT_S)  # arrived while the other hangs
        wpd.wait_until(lambda: any(d[3] == "timeout" for d in self.deliveries(hang)), deadline=TIMEOUT_S + 5,
                       what="timeout logged")

    def test_both_secrets_sign_during_rotation(self):
        wid, old = self.add("d6", "/ok")
        new = self.webhook("rotate", "--db", self.sb.db, wid, "--grace-hours", "1").stdout.strip()
        self.write("d6", "w1", "PENDING")
        rec = self.recv.wait(for_dc("d6"))[0]
        self.assertEqual(len(rec["headers"]["webhook-signature"].split(" ")), 2)
        self.assertTrue(verify(old, rec["headers"], rec["body"]))
        self.assertTrue(verify(new, rec["headers"], rec["body"]))
        self.assertFalse(verify("whsec_" + base64.b64encode(b"x" * 32).decode(), rec["headers"], rec["body"]))

    def test_per_waypoint_order_while_others_flow(self):
        self.add("d7", "/slow")
        statuses = ["PENDING", "COMPLETED", "FAILED", "SKIPPED"]
        for i, st in enumerate(statuses):
            self.write("d7", "a", st)
            time.sleep(0.4)  # a fill per change (each commit wakes the sender): one event each
            if i == 0:
                # While a's queue is still long (each of its events takes
                # 0.5 s at /slow, one at a time), a change of b.
                self.write("d7", "b", "PENDING")
        recs = self.recv.wait(for_dc("d7"), n=5, deadline=ARRIVE + 5)
        a = [r for r in recs if r["json"]["data"]["waypoint"]["id"] == "a"]
        b = [r for r in recs if r["json"]["data"]["waypoint"]["id"] == "b"]
        self.assertEqual([r["json"]["data"]["waypoint"]["status"] for r in a], statuses)
        self.assertEqual([r["json"]["data"]["seq"] for r in a], sorted(r["json"]["data"]["seq"] for r in a))
        self.assertEqual(self.recv.max_inflight["a"], 1)  # one delivery in flight per waypoint
        self.assertLess(b[0]["at"], a[-1]["at"])  # b was not held behind a's queue

    def test_test_event_and_redeliver(self):
        wid, secret = self.add("d8", "/ok")
        proc = self.webhook("test", "--db", self.sb.db, wid)
        mid = proc.stdout.strip()
        self.assertRegex(mid, r"^msg_\w+$")
        recs = self.recv.wait(lambda r: r["headers"]["webhook-id"] == mid)
        self.assertEqual(recs[0]["json"]["type"], "webhook.test")
        self.assertTrue(verify(secret, recs[0]["headers"], recs[0]["body"]))
        wpd.wait_until(lambda: any(d[2] == "200" for d in self.deliveries(wid)), what="delivered")
        self.webhook("redeliver", "--db", self.sb.db, mid)
        recs = self.recv.wait(lambda r: r["headers"]["webhook-id"] == mid, n=2)
        self.assertEqual(recs[0]["body"], recs[1]["body"])
        self.assertEqual(self.webhook("redeliver", "--db", self.sb.db, "msg_nope", ok=False).returncode, 1)
        self.assertEqual(self.webhook("test", "--db", self.sb.db, "wh_000000000000", ok=False).returncode, 1)
        self.assertEqual(self.webhook("deliveries", "--db", self.sb.db, "wh_000000000000", ok=False).returncode, 1)
        self.assertEqual(self.webhook("deliveries", "--db", self.sb.db, wid, "--limit", "0", ok=False).returncode, 2)
        # The receiver has the body before the server logs the attempt: wait for the log.
        wpd.wait_until(lambda: len(self.deliveries(wid)) >= 2, what="the redelivery logged")
        self.assertEqual(len(self.deliveries(wid)), 2)
        self.assertEqual(len(self.webhook("deliveries", "--db", self.sb.db, wid, "--limit", "1").stdout.splitlines()), 1)


    def test_metrics(self):
        ok, _ = self.add("d9", "/ok")
        hang, _ = self.add("d9", "/hang")
        before = self.metrics()
        self.write("d9", "w1", "PENDING")
        self.recv.wait(lambda r: for_dc("d9")(r) and r["path"] == "/ok")
        pend = 'waypointd_webhook_pending{endpoint="%s"}' % hang
        okpend = 'waypointd_webhook_pending{endpoint="%s"}' % ok
        wpd.wait_until(lambda: (lambda m: m.get(pend) == 1 and okpend not in m)(self.metrics()), deadline=6,
                       what="pending gauges")
        m = self.metrics()
        self.assertGreaterEqual(m['waypointd_webhook_events_total'] - before['waypointd_webhook_events_total'], 2)
        self.assertGreaterEqual(m['waypointd_webhook_deliveries_total{result="ok"}'] -
                                before['waypointd_webhook_deliveries_total{result="ok"}'], 1)
        self.assertGreater(m['waypointd_webhook_oldest_pending_seconds{endpoint="%s"}' % hang], 0)
        self.assertGreaterEqual(m["waypointd_webhook_attempt_seconds_count"], 1)
        self.webhook("remove", "--db", self.sb.db, hang)


    def test_retry_after_honoured_and_capped(self):
        secs, _ = self.add("d10", "/retry-after-seconds")
        date, _ = self.add("d10", "/retry-after-date")
        self.write("d10", "w1", "PENDING")
        for wid in (secs, date):
            wpd.wait_until(lambda: self.deliveries(wid), what="an attempt logged")

        def delay_s(wid):
            return int(wpd.sql_value(self.sb.db, "SELECT (o.next_ms - d.attempt_ms) / 1000 FROM webhook_outbox o"
                                     " JOIN webhook_deliveries d ON d.msg_id = o.msg_id WHERE o.endpoint_id = %s"
                                     % wpd.q(wid)))
        self.assertEqual(delay_s(secs), 3600)            # instead of the schedule's 5 s
        self.assertEqual(delay_s(date), 7200)            # 5 h asked, capped at 2 h
        time.sleep(7)  # past the schedule's first retry (5 s +20%): nothing more
        self.assertEqual(len(self.recv.got(lambda r: for_dc("d10")(r))), 2)


class NoticeTest(DeliveryBase):
    """Events that no waypoint write makes: a customer's location becoming
    confident, and an ETA threshold crossed as time passes."""

    def test_location_confident_fires_once(self):
        wid, secret = self.add("n1", "/ok", "--events", "customer.location_confident")
        self.sb.sql("INSERT INTO dcs(id, name) VALUES ('n1', 'x');"
                    "INSERT INTO customers(dc_id, id, name, inferred_latitude, inferred_longitude)"
                    " VALUES ('n1', 'c1', 'Ann', 50.75, 4.5);")
        self.sb.sql("UPDATE customers SET location_confident = 1 WHERE dc_id = 'n1' AND id = 'c1';")
        self.sb.sql("UPDATE customers SET name = 'Anne' WHERE dc_id = 'n1' AND id = 'c1';"
                    "UPDATE customers SET location_confident = 1 WHERE dc_id = 'n1' AND id = 'c1';")
        rec = self.recv.wait(for_dc("n1"))[0]
        self.assertTrue(verify(secret, rec["headers"], rec["body"]))
        self.assertRegex(rec["headers"]["webhook-id"], r"^msg_[0-9a-f]{12}_c\d+$")
        body = rec["json"]
        self.assertEqual(body["type"], "customer.location_confident")
        self.assertEqual(body["event"], "CUSTOMER_LOCATION_CONFIDENT")
        self.assertEqual(body["dc_id"], "n1")
        self.assertEqual(body["data"]["customer_id"], "c1")
        self.assertEqual(body["data"]["location"], {"latitude": 50.75, "longitude": 4.5})
        self.assertEqual(body["data"]["customer"]["id"], "c1")
        self.assertEqual(body["data"]["customer"]["inferred_location"], {"latitude": 50.75, "longitude": 4.5})
        # Other edits and 1 -> 1 tell nothing: still one after a few seconds
        # (several fills: the sender looks at least every second).
        time.sleep(3)
        self.assertEqual(len(self.recv.got(for_dc("n1"))), 1)
        # Back to 0 and then 1: told again.
        self.sb.sql("UPDATE customers SET location_confident = 0 WHERE dc_id = 'n1' AND id = 'c1';")
        self.sb.sql("UPDATE customers SET location_confident = 1 WHERE dc_id = 'n1' AND id = 'c1';")
        recs = self.recv.wait(for_dc("n1"), n=2)
        self.assertNotEqual(recs[0]["headers"]["webhook-id"], recs[1]["headers"]["webhook-id"])

    def test_eta_threshold_fires_as_time_passes_without_a_write(self):
        wid, secret = self.add("n2", "/ok", "--events", "waypoint.approaching", "--approach-minutes", "1")
        # ETA 65 s ahead: not within 1 minute when written (the write's own
        # fill, milliseconds later, fires nothing); within it 5 s later,
        # with no write in between.
        eta = int(time.time() * 1000) + 65000
        self.sb.sql("INSERT INTO dcs(id, name) VALUES ('n2', 'x');"
                    "INSERT INTO customers(dc_id, id, name) VALUES ('n2', 'c1', 'n');"
                    "INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, estimated_time_of_arrival,"
                    " waypoints_ahead) VALUES ('n2', 'w1', 'c1', 'r1', 'PENDING', %d, 20);" % eta)
        written = time.monotonic()
        rec = self.recv.wait(for_dc("n2"), deadline=ARRIVE)[0]
        self.assertGreater(rec["at"] - written, 3)  # not from the write itself
        self.assertTrue(verify(secret, rec["headers"], rec["body"]))
        self.assertRegex(rec["headers"]["webhook-id"], r"^msg_[0-9a-f]{12}_t\d+$")
        body = rec["json"]
        self.assertEqual(body["type"], "waypoint.approaching")
        self.assertIsNone(body["data"]["seq"])
        trig = body["data"]["trigger"]
        self.assertEqual((trig["kind"], trig["threshold_seconds"]), ("eta", 60))
        self.assertLessEqual(trig["seconds_to_eta"], 60)
        self.assertEqual(body["data"]["waypoint"]["estimated_time_of_arrival"], eta)
        time.sleep(3)
        self.assertEqual(len(self.recv.got(for_dc("n2"))), 1)  # once


class PruneTest(DeliveryBase):

    def test_delivered_and_old_attempts_pruned_pending_kept(self):
        wid, _ = self.add("p1", "/ok")
        self.webhook("disable", "--db", self.sb.db, wid)  # its pending event stays unsent
        self.srv.stop()
        day = 86400 * 1000
        now = int(time.time() * 1000)
        rows = [("old_done", "delivered", now - 2 * day), ("new_done", "delivered", now - 3600 * 1000),
                ("old_pending", "pending", now - 3 * day)]
        self.sb.sql("".join(
            "INSERT INTO webhook_outbox(endpoint_id, msg_id, type, dc_id, waypoint_id, seq, body, created_ms, state,"
            " next_ms) VALUES (%s, '%s', 'webhook.test', 'p1', '', 0, '{}', %d, '%s', %d);"
            "INSERT INTO webhook_deliveries(endpoint_id, msg_id, attempt_ms, status, latency_ms)"
            " VALUES (%s, '%s', %d, 200, 1);" % (wpd.q(wid), m, t, st, t, wpd.q(wid), m, t) for m, st, t in rows))
        self.srv = self.sb.server(extra=self.server_extra() + ["--webhook-retention-days", "1"])

        def left():
            return wpd.sql_value(self.sb.db, "SELECT group_concat(msg_id) FROM (SELECT msg_id FROM webhook_outbox"
                                 " WHERE endpoint_id = %s ORDER BY msg_id);" % wpd.q(wid)).strip()
        wpd.wait_until(lambda: left() == "new_done,old_pending", deadline=ARRIVE, what="the old delivered event pruned")
        self.assertEqual(wpd.sql_value(self.sb.db, "SELECT group_concat(msg_id) FROM (SELECT msg_id FROM"
                                       " webhook_deliveries WHERE endpoint_id = %s ORDER BY msg_id);"
                                       % wpd.q(wid)).strip(), "new_done,old_pending")
        m = self.metrics()
        self.assertGreaterEqual(m['waypointd_webhook_pruned_total{what="events"}'], 1)
        self.assertGreaterEqual(m['waypointd_webhook_pruned_total{what="attempts"}'], 1)


class RefusedTest(DeliveryBase):
    allow = False

    def test_loopback_refused_without_allow_private(self):
        wid, _ = self.add("d1", "/ok")
        self.write("d1", "w1", "PENDING")
        wpd.wait_until(lambda: self.deliveries(wid), deadline=ARRIVE, what="an attempt logged")
        d = self.deliveries(wid)[0]
        self.assertEqual(d[2], "-")
        self.assertIn("refused: 127.0.0.1 is loopback", d[3])
        self.assertEqual(self.recv.got(), [])


class CrashTest(DeliveryBase):

    def test_kill_9_before_the_answer_then_restart_sends_same_id(self):
        wid, secret = self.add("d1", "/hang")
        self.write("d1", "w1", "PENDING")
        first = self.recv.wait(for_dc("d1"))[0]
        self.srv.kill()
        # Same endpoint, now answering: the pending event goes again.
        self.sb.sql("UPDATE webhook_endpoints SET url = %s WHERE id = %s;" % (wpd.q(self.recv.url("/ok")), wpd.q(wid)))
        srv = self.sb.server(extra=self.server_extra())
        recs = self.recv.wait(lambda r: for_dc("d1")(r) and r["path"] == "/ok", deadline=ARRIVE)
        self.assertEqual(recs[0]["headers"]["webhook-id"], first["headers"]["webhook-id"])
        self.assertEqual(recs[0]["body"], first["body"])
        self.assertTrue(verify(secret, recs[0]["headers"], recs[0]["body"]))


class OptionsTest(unittest.TestCase):

    def test_bad_webhook_options(self):
        sb = wpd.Sandbox(prefix="wpd-whopt-")
        self.addCleanup(sb.close)
        base = ["serve", "--db", sb.db, "--listen", "127.0.0.1:0", "--cert", sb.cert, "--key", sb.key]
        for extra, code, words in ((["--webhook-allow-private", "10.0.0.0/33"], 2, "is not a CIDR"),
                                   (["--webhook-allow-private", "example.com"], 2, "is not a CIDR"),
                                   (["--webhook-timeout", "0"], 2, "--webhook-timeout"),
                                   (["--webhook-retention-days", "0"], 2, "--webhook-retention-days"),
                                   (["--webhook-retention-days", "3651"], 2, "--webhook-retention-days"),
                                   (["--webhook-ca", sb.path("missing.pem")], 1, "--webhook-ca")):
            proc = wpd.waypointd(*base, *extra)
            self.assertEqual(proc.returncode, code, (extra, proc.stderr))
            self.assertIn(words, proc.stderr)


class DocumentedVerifyTest(unittest.TestCase):
    """docs/webhooks.md's Node.js and shell verifications against the
    specification's test vector (the Python one: test_webhook_cli.py)."""

    SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    ID, TS, BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", b'{"test": 2432232314}'
    SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

    def block(self, lang):
        source = os.environ.get("WAYPOINTD_SOURCE_DIR",
                                os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        with open(os.path.join(source, "docs", "webhooks.md"), encoding="utf-8") as f:
            return re.search(r"```%s\n(.*?)```" % lang, f.read(), re.S).group(1)

    @unittest.skipUnless(shutil.which("node"), "node is not installed")
    def test_node_verify(self):
        code = self.block("js") + """
const h = (sig) => ({"webhook-id": %s, "webhook-timestamp": %s, "webhook-signature": sig});
const body = Buffer.from(%s);
console.log([
  verify(%s, h(%s), body, 300, %s),
  verify(%s, h("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= " + %s), body, 300, %s),
  verify(%s, h(%s), Buffer.from('{"test": 2432232315}'), 300, %s),
  verify(%s, h(%s), body, 300, %s + 301),
].join(","));
""" % tuple(json.dumps(v) for v in (self.ID, self.TS, self.BODY.decode(),
                                   self.SECRET, self.SIG, self.TS, self.SECRET, self.SIG, self.TS,
                                   self.SECRET, self.SIG, self.TS, self.SECRET, self.SIG, self.TS))
        proc = subprocess.run(["node", "-e", code], capture_output=True, text=True, timeout=20)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), "true,true,false,false")

    def test_shell_verify(self):
        d = wpd.make_tempdir("wpd-whsh-")
        self.addCleanup(wpd.remove_tree, d)
        script, body = os.path.join(d, "verify.sh"), os.path.join(d, "body")
        with open(script, "w") as f:
            f.write(self.block("sh"))
        with open(body, "wb") as f:
            f.write(self.BODY)
        ok = subprocess.run(["sh", script, self.SECRET, self.ID, self.TS, body, "v1,x " + self.SIG],
                            capture_output=True, text=True, timeout=20)
        self.assertEqual((ok.returncode, ok.stdout.strip()), (0, "ok"), ok.stderr)
        bad = subprocess.run(["sh", script, self.SECRET, self.ID, "1614265331", body, self.SIG],
                             capture_output=True, text=True, timeout=20)
        self.assertEqual((bad.returncode, bad.stdout.strip()), (1, "BAD"))


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Real answers of a real waypointd checked against docs/openapi.yaml.

One server per class, over a database made with `waypointd init` and filled
with the sqlite3 shell. Every operation of the description is called in ways
that provoke each status it documents (200, 400, 400/7001, 401, 403, 404,
405, 411, 413, 500, 304), over HTTP/1.1 and HTTP/2, with curl verifying the
dev certificate; each answer must be
  - a status the description documents for that operation (an undocumented
    status fails: the description is the contract's machine-readable form);
    a method the path does not have must get the path's documented 405, with
    `Allow` listing exactly the path's methods;
  - of a documented Content-Type, with a body valid against that response's
    JSON Schema (Draft 2020-12, $refs resolved here), or no body when none is
    documented;
  - carrying every header the response documents as required, each valid
    against its schema (a separate test, so a missing header shows on its own).
The schemas are checked against the 2020-12 metaschema first, and a last test
makes sure every documented status of every operation was really provoked
(except 429, which needs the rate limiter's limits, and 304, which has its
own test).

Needs Debian's python3-yaml and python3-jsonschema (4.x). Run directly:
    WAYPOINTD=/tmp/build/waypointd /usr/bin/python3 tests/integration/test_openapi.py
"""
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402

try:
    import yaml
except ImportError:
    sys.exit("test_openapi.py: Python's yaml module is missing: apt-get install python3-yaml")
try:
    import jsonschema
except ImportError:
    sys.exit("test_openapi.py: Python's jsonschema module is missing: apt-get install python3-jsonschema")
if not hasattr(jsonschema, "Draft202012Validator"):
    sys.exit("test_openapi.py: jsonschema %s has no Draft 2020-12 validator (4.0 or later is needed)" %
             getattr(jsonschema, "__version__", "?"))

SPEC_PATH = os.path.join(wpd.SOURCE_DIR, "docs", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Documented statuses this test does not provoke with a request, and why.
NOT_PROVOKED = {
    "429": "the rate limiter's limits are not known here, and this test sends a bounded, small number "
           "of requests; the 429 body and Retry-After are described but not exercised",
    "304": "exercised by test_not_modified (needs the ETag of a 200 first)",
    "503": "needs another process to hold the database's WAL-index locks past the busy timeout; provoked by "
           "test_faults.py ReadLockTest, which checks the envelope and Retry-After",
}


# ---------------------------------------------------------------------------
# The description


class Spec:
    """docs/openapi.yaml, with local $refs resolved on demand."""

    def __init__(self, path):
        with open(path, "r", encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        if not str(self.doc.get("openapi", "")).startswith("3.1."):
            raise wpd.WpdError("%s is not OpenAPI 3.1 (openapi: %r)" % (path, self.doc.get("openapi")))
        self.paths = self.doc["paths"]
        # Path templates as regular expressions over the raw (still percent-encoded) path.
        self._templates = []
        for template in self.paths:
            rx = "".join("([^/]+)" if re.fullmatch(r"\{[^/{}]+\}", seg) else re.escape(seg)
                         for seg in re.split(r"(\{[^/{}]+\})", template))
            self._templates.append((re.compile("^" + rx + "$"), template))

    def pointer(self, ref):
        if not ref.startswith("#/"):
            raise wpd.WpdError("only local $refs are supported, got %r" % ref)
        node = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise wpd.WpdError("unresolvable $ref %r (at %r)" % (ref, part))
            node = node[part]
        return node

    def deref(self, node, _stack=()):
        """node with every $ref replaced by what it points at, recursively.
        Cycles are an error (none is expected in this description)."""
        if isinstance(node, dict):
            if "$ref" in node:
                ref = node["$ref"]
                if ref in _stack:
                    raise wpd.WpdError("cyclic $ref %r" % ref)
                siblings = {k: v for k, v in node.items() if k != "$ref"}
                target = self.deref(self.pointer(ref), _stack + (ref,))
                if not siblings:
                    return target
                if not isinstance(target, dict):
                    raise wpd.WpdError("$ref %r with siblings points at a non-object" % ref)
                # A schema $ref with siblings means both apply (2020-12).
                return {"allOf": [target], **self.deref(siblings, _stack)}
            return {k: self.deref(v, _stack) for k, v in node.items()}
        if isinstance(node, list):
            return [self.deref(v, _stack) for v in node]
        return node

    def match(self, raw_path):
        """The path template a request path belongs to, or None."""
        path = raw_path.split("?", 1)[0]
        for rx, template in self._templates:
            if rx.match(path):
                return template
        return None

    def operations(self, template):
        """{method: operation} of a path template."""
        item = self.paths[template]
        return {m: item[m] for m in METHODS if m in item}

    def all_operations(self):
        for template in self.paths:
            for method, op in self.operations(template).items():
                yield template, method, op

    def response(self, template, method, status):
        """The (dereferenced) response object documented for an operation and
        status, or None when the status is not documented."""
        op = self.operations(template)[method]
        responses = op.get("responses", {})
        resp = responses.get(str(status))
        return self.deref(resp) if resp is not None else None

    def request_body_schema(self, template, method):
        op = self.operations(template)[method]
        return self.deref(op["requestBody"]["content"]["application/json"]["schema"])


def schema_errors(schema, instance):
    """Readable messages of every way instance breaks schema (empty: valid)."""
    validator = jsonschema.Draft202012Validator(schema)
    out = []
    for err in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(top)"
        out.append("%s: %s" % (where, err.message))
    return out


def header_value(schema, raw):
    """A header's text as the JSON value its schema describes (style: simple)."""
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if "integer" in types and re.fullmatch(r"-?[0-9]+", raw.strip()):
        return int(raw.strip())
    return raw


# ---------------------------------------------------------------------------
# Fixture data, written with the sqlite3 shell as other programs do

DCS = [{"id": "dc1", "name": "Depot One"}, {"id": "dc2", "name": "Depot Two"}]
CUSTOMERS = [
    {"dc_id": "dc1", "id": "c1", "name": "Ann Smith", "imported_address": "1 Main St",
     "imported_latitude": 37.77493, "imported_longitude": -122.41942,
     "inferred_latitude": 37.7751, "inferred_longitude": -122.4193, "location_confident": 1},
    {"dc_id": "dc1", "id": "c2", "name": "Bob Jones"},  # every optional column NULL
    {"dc_id": "dc1", "id": "c3", "name": "Cy Young", "imported_address": "3 Elm Rd",
     "inferred_latitude": 51.501, "inferred_longitude": -0.125, "location_confident": 0},
    {"dc_id": "dc1", "id": "many", "name": "Many Stops"},
    {"dc_id": "dc1", "id": "kunde-\u00e4\u6771", "name": "Z\u00f6e \u2713"},
    {"dc_id": "dc2", "id": "c1", "name": "Ann in Two"},
]
WAYPOINTS = [
    {"dc_id": "dc1", "id": "w-c1-a", "customer_id": "c1", "route_id": "r1", "status": "COMPLETED",
     "completed_timestamp": 1795990000123, "estimated_time_of_arrival": 1795989000000, "waypoints_ahead": 0,
     "waiting_time_seconds": 0},
    {"dc_id": "dc1", "id": "w-c1-b", "customer_id": "c1", "route_id": "r1", "status": "PENDING",
     "estimated_time_of_arrival": 1796000000000, "waypoints_ahead": 3, "waiting_time_seconds": 120},
    {"dc_id": "dc1", "id": "w-c1-c", "customer_id": "c1"},  # defaults only: PENDING, the rest NULL
] + [
    {"dc_id": "dc1", "id": "w-many-%02d" % i, "customer_id": "many", "route_id": "r2",
     "status": ("PENDING", "COMPLETED", "FAILED", "SKIPPED")[i % 4],
     "completed_timestamp": 1795900000000 + i if i % 4 == 1 else None,
     "estimated_time_of_arrival": 1796000000000 + i * 60000, "waypoints_ahead": i, "waiting_time_seconds": i}
    for i in range(12)
]

C1 = "/dcs/dc1/customers/c1"
CUSTOMER_PATHS = {  # one concrete path per operation, for customer c1
    "customer": C1, "confident": C1 + "/confident-location", "waypoints": C1 + "/waypoints",
    "token": C1 + "/tracking-token"}
GET_KINDS = ("customer", "confident", "waypoints")
SUFFIX = {"customer": "", "confident": "/confident-location", "waypoints": "/waypoints",
          "token": "/tracking-token", "events": "/waypoints/events"}
# The Server-Sent Events stream: its refusals are ordinary answers (checked
# with the others); its 200 never ends, so SseStreamTest reads it apart.
SSE_KINDS = ("events",)
JSON = {"Content-Type": "application/json"}
BOTH = ("1.1", "2")


class Case:
    """One request and the status (and error code) it is meant to provoke."""

    def __init__(self, name, method, path, cred, expect, code=None, data=None, headers=None, http=BOTH,
                 body_valid=None):
        self.name, self.method, self.path, self.cred = name, method, path, cred
        self.expect, self.code, self.data, self.headers = expect, code, data, headers
        self.http = http
        # For tracking-token bodies: whether the body should be valid against
        # the documented request schema (it must be exactly when the server takes it).
        self.body_valid = body_valid


def path_for(kind, dc="dc1", customer="c1"):
    return "/dcs/%s/customers/%s%s" % (dc, customer, SUFFIX[kind])


def build_cases():
    cases = []
    add = cases.append
    # --- 200
    add(Case("customer with locations", "GET", path_for("customer"), "all", 200))
    add(Case("customer without locations", "GET", path_for("customer", customer="c2"), "all", 200))
    add(Case("customer with a UTF-8 id", "GET", path_for("customer", customer="kunde-%C3%A4%E6%9D%B1"), "all", 200))
    add(Case("customer, key for its DC only", "GET", path_for("customer"), "dc1", 200))
    add(Case("customer, stale If-None-Match", "GET", path_for("customer"), "all", 200,
             headers={"If-None-Match": '"no-such-tag"'}))
    add(Case("confident location", "GET", path_for("confident"), "all", 200))
    add(Case("waypoints", "GET", path_for("waypoints"), "all", 200))
    add(Case("waypoints, more than ten", "GET", path_for("waypoints", customer="many"), "all", 200))
    add(Case("waypoints, unknown customer", "GET", path_for("waypoints", customer="nobody"), "all", 200))
    add(Case("waypoints with the customer's token", "GET", path_for("waypoints"), "token_c1", 200))
    add(Case("waypoints, stale If-None-Match", "GET", path_for("waypoints"), "all", 200,
             headers={"If-None-Match": '"no-such-tag"'}))
    for body, name in ((None, "no body"), ("{}", "{}"), ('{"ttl_seconds":60}', "ttl 60"),
                       ('{"ttl_seconds":1}', "ttl 1"), ('{"ttl_seconds":2592000}', "ttl 30 days")):
        add(Case("token, " + name, "POST", path_for("token"), "all", 200, data=body,
                 headers=JSON if body is not None else None, body_valid=True if body is not None else None))
    # --- 400 (malformed request), 400/7001
    for kind in GET_KINDS + ("token",) + SSE_KINDS:
        method = "POST" if kind == "token" else "GET"
        add(Case(kind + ", id of 256 bytes", method, path_for(kind, customer="x" * 256), "all", 400, code=400))
        # waypointd's own path limit (docs/security.md): 1024 bytes or more is 414, before the ids are read.
        add(Case(kind + ", path of 1100 bytes", method, path_for(kind, customer="c" * 1100), "all", 414, code=414))
        add(Case(kind + ", id not UTF-8", method, path_for(kind, customer="c%FF"), "all", 400, code=400))
        add(Case(kind + ", raw ';' in the path", method, path_for(kind, customer="a;b"), "all", 400, code=400))
    add(Case("confident location, not confident", "GET", path_for("confident", customer="c3"), "all", 400,
             code=7001))
    add(Case("confident location, nothing inferred", "GET", path_for("confident", customer="c2"), "all", 400,
             code=7001))
    # docs/api.md: a body that is not {} or {"ttl_seconds": INTEGER 1..2592000}
    # is a 400, so unknown members ({"ttl":60}, a typo) are refused too.
    for body in ('{"ttl_seconds":0}', '{"ttl_seconds":2592001}', '{"ttl_seconds":"60"}', '{"ttl_seconds":60.5}',
                 '{"ttl_seconds":null}', '{"ttl":60}', '{"ttl_seconds":60,"extra":1}', "[60]", "60",
                 "ttl_seconds=60", '{"ttl_seconds":60'):
        add(Case("token, bad body " + body, "POST", path_for("token"), "all", 400, code=400, data=body,
                 headers=JSON, body_valid=False))
    # --- 401
    for kind in GET_KINDS + ("token",) + SSE_KINDS:
        method = "POST" if kind == "token" else "GET"
        for cred in (None, "unknown_key", "revoked", "forged_token", "expired_token", "garbage"):
            add(Case("%s, credential %s" % (kind, cred), method, path_for(kind), cred, 401, code=401))
    # --- 403
    for kind in GET_KINDS + ("token",) + SSE_KINDS:
        method = "POST" if kind == "token" else "GET"
        add(Case(kind + ", DC does not exist", method, path_for(kind, dc="nodc"), "all", 403, code=403))
        add(Case(kind + ", key for another DC", method, path_for(kind), "dc2", 403, code=403))
    for kind in ("customer", "confident", "token"):
        method = "POST" if kind == "token" else "GET"
        add(Case(kind + ", with a tracking token", method, path_for(kind), "token_c1", 403, code=403))
    add(Case("waypoints, token of another customer", "GET", path_for("waypoints", customer="c2"), "token_c1", 403,
             code=403))
    add(Case("waypoints, token of another DC", "GET", path_for("waypoints", dc="dc2"), "token_c1", 403, code=403))
    add(Case("events, token of another customer", "GET", path_for("events", customer="c2"), "token_c1", 403,
             code=403))
    # --- 404
    add(Case("customer, unknown", "GET", path_for("customer", customer="nobody"), "all", 404, code=404))
    add(Case("customer, known in another DC only", "GET", path_for("customer", dc="dc2", customer="c2"), "all",
             404, code=404))
    add(Case("confident location, unknown customer", "GET", path_for("confident", customer="nobody"), "all", 404,
             code=404))
    add(Case("token, unknown customer", "POST", path_for("token", customer="nobody"), "all", 404, code=404))
    # --- 405
    for kind in GET_KINDS + SSE_KINDS:
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            add(Case("%s, %s" % (kind, method), method, path_for(kind), "all", 405, code=405,
                     data="{}" if method in ("POST", "PUT", "PATCH") else None))
    for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS"):
        add(Case("token, %s" % method, method, path_for("token"), "all", 405, code=405,
                 data="{}" if method in ("PUT", "PATCH") else None))
    # SSE takes its credential from ?access_token= too (an EventSource cannot set headers).
    add(Case("events, access_token not known", "GET", path_for("events") + "?access_token=wpk_" + "A" * 43, None,
             401, code=401))
    # --- 411: a body without its length (HTTP/1.1 chunked; HTTP/2 has no Transfer-Encoding)
    add(Case("token, chunked body", "POST", path_for("token"), "all", 411, code=411, data='{"ttl_seconds":60}',
             headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"}))
    for kind in GET_KINDS + SSE_KINDS:
        add(Case(kind + ", chunked body", "GET", path_for(kind), "all", 411, code=411, data="{}",
                 headers={"Transfer-Encoding": "chunked"}, http=("1.1",)))
    # --- 413
    add(Case("token, body over 4096 bytes", "POST", path_for("token"), "all", 413, code=413,
             data='{"ttl_seconds":60' + " " * 5000 + "}", headers=JSON))
    return cases


def broken_db_cases():
    """500: run against a server whose tables were dropped by another process."""
    return [Case(kind + ", tables gone", "POST" if kind == "token" else "GET", path_for(kind), "all", 500,
                 code=500) for kind in GET_KINDS + ("token",)]


class Result:
    def __init__(self, case, http, resp, template):
        self.case, self.http, self.resp, self.template = case, http, resp, template

    def __str__(self):
        return "%s %s (HTTP/%s, %s) -> %s" % (self.case.method, self.case.path[:80], self.http, self.case.name,
                                             self.resp.code)


# ---------------------------------------------------------------------------


class OpenApiTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.spec = Spec(SPEC_PATH)
        sb = wpd.Sandbox(prefix="wpd-openapi-")
        cls.addClassCleanup(sb.close)
        cls.sb = sb
        sb.insert("dcs", DCS)
        sb.insert("customers", CUSTOMERS)
        sb.insert("waypoints", WAYPOINTS)
        expired = sb.token_create("dc1", "c1", ttl=1)
        expires_at = time.monotonic() + 1.0
        cls.creds = {
            "all": sb.key_create("all", all_dcs=True),
            "dc1": sb.key_create("dc1-only", dcs=["dc1"]),
            "dc2": sb.key_create("dc2-only", dcs=["dc2"]),
            "revoked": sb.key_create("revoked", all_dcs=True),
            "token_c1": sb.token_create("dc1", "c1"),
            "unknown_key": "wpk_" + "A" * 43,
            "forged_token": "wpt_AQAAAaIxYaFqA2RjMQJjMcviHbNyL3dayYnKddnbq9xWk1ZmSMsfYqWJ07LWxZWu",
            "expired_token": expired,
            "garbage": "not a credential",
            None: None,
        }
        sb.key_revoke("revoked")
        cls.server = sb.server(threads=2)
        # The 1-second token has expired (a second of slack for clock granularity).
        time.sleep(max(0.0, expires_at + 1.0 - time.monotonic()))
        cls.results = [r for case in build_cases() for r in cls.run_case(case, cls.server)]

        # A second server whose tables another process has dropped: 500.
        broken = wpd.Sandbox(prefix="wpd-openapi-500-")
        cls.addClassCleanup(broken.close)
        broken.insert("dcs", DCS)
        broken.insert("customers", CUSTOMERS)
        cls.broken_key = broken.key_create("all", all_dcs=True)
        cls.broken_sb = broken
        cls.broken_server = broken.server(threads=1)
        broken.sql("DROP TABLE customers; DROP TABLE waypoints;")
        cls.results += [r for case in broken_db_cases() for r in cls.run_case(case, cls.broken_server, broken)]
        # The event stream reads its customer's waypoints once the stream is open (a failure
        # there is an error event, not a status); it answers 500 when the credential cannot
        # be looked up at all.
        broken.sql("DROP TABLE api_key_dcs; DROP TABLE api_keys;")
        cls.results += [r for case in [Case("events, key tables gone", "GET", path_for("events"), "all", 500,
                                            code=500)] for r in cls.run_case(case, cls.broken_server, broken)]
        # The event stream's 200, read apart: its body never ends.
        cls.streams = {how: cls.open_stream(how) for how in ("header", "access_token")}

    @classmethod
    def open_stream(cls, how):
        """GET the events path with the header or with ?access_token= (the tracking
        token, as the tracking page does); (status, headers, first event's data) after
        reading up to the first blank line, then the connection is closed."""
        path = path_for("events")
        headers = {}
        if how == "header":
            headers["Authorization"] = "Bearer " + cls.creds["all"]
        else:
            path += "?access_token=" + cls.creds["token_c1"]
        conn = wpd.https_connection(cls.server, cls.sb.cert)
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            data = []
            if resp.status == 200:
                while True:   # bounded by the connection's timeout
                    line = resp.fp.readline().decode("utf-8").rstrip("\n")
                    if not line:
                        break
                    if line.startswith("data: "):
                        data.append(line[len("data: "):])
            return resp.status, hdrs, "\n".join(data)
        finally:
            conn.close()

    @classmethod
    def run_case(cls, case, server, sb=None):
        sb = sb or cls.sb
        cred = cls.broken_key if sb is not cls.sb else cls.creds[case.cred]
        out = []
        for http in case.http:
            resp = sb.curl(server, case.path, method=case.method, headers=case.headers, data=case.data,
                           bearer=cred, http=http, path_as_is=True)
            out.append(Result(case, http, resp, cls.spec.match(case.path)))
        return out

    def tearDown(self):
        self.assertTrue(self.server.alive(), "the server died; stderr: %s" % self.server.stderr())

    # -- helpers -------------------------------------------------------------

    def documented_response(self, result):
        """(method used in the description, response object) for a result;
        fails when the status is not documented."""
        case, resp = result.case, result.resp
        self.assertIsNotNone(result.template, "%s: the path is not in %s" % (result, SPEC_PATH))
        ops = self.spec.operations(result.template)
        method = case.method.lower()
        if method in ops:
            documented = self.spec.response(result.template, method, resp.code)
            self.assertIsNotNone(documented, "%s: status %d is not documented for %s %s in %s" % (
                result, resp.code, case.method, result.template, SPEC_PATH))
            return method, documented
        # A method the path does not have: the path's documented 405, the
        # same under every operation of the path.
        self.assertEqual(resp.code, 405, "%s: %s is not a method of %s, so only 405 is documented" % (
            result, case.method, result.template))
        docs = {m: self.spec.response(result.template, m, 405) for m in ops}
        for m, documented in docs.items():
            self.assertIsNotNone(documented, "%s: 405 is not documented for %s %s" % (
                result, m.upper(), result.template))
        first = sorted(docs)[0]
        return first, docs[first]

    # -- tests ---------------------------------------------------------------

    def test_description_schemas_are_valid_2020_12(self):
        meta = jsonschema.Draft202012Validator
        for name, schema in self.spec.doc["components"]["schemas"].items():
            with self.subTest(schema=name):
                meta.check_schema(self.spec.deref(schema))
        for template, method, op in self.spec.all_operations():
            for status, response in op["responses"].items():
                response = self.spec.deref(response)
                for media, content in response.get("content", {}).items():
                    with self.subTest(op=op["operationId"], status=status, media=media):
                        meta.check_schema(content["schema"])
                        # The description's own examples are valid too.
                        examples = [content["example"]] if "example" in content else []
                        examples += [e["value"] for e in content.get("examples", {}).values()]
                        for example in examples:
                            self.assertEqual(schema_errors(content["schema"], example), [], example)
                for name, header in response.get("headers", {}).items():
                    with self.subTest(op=op["operationId"], status=status, header=name):
                        meta.check_schema(header["schema"])

    def test_schemas_catch_mismatches(self):
        # Guards the checks themselves: the resolved schemas are strict, so
        # a body that breaks the contract in any of these ways is caught.
        def schema(template, method, status):
            return self.spec.response(template, method, status)["content"]["application/json"]["schema"]

        customer = schema("/dcs/{dc_id}/customers/{customer_id}", "get", 200)
        good = {"status": "success", "data": {"customer": {
            "id": "c1", "name": "A", "imported_address": None, "imported_location": {"latitude": 1.5, "longitude": 2},
            "inferred_location": None}}}
        self.assertEqual(schema_errors(customer, good), [])
        c = lambda **kw: {"status": "success", "data": {"customer": dict(good["data"]["customer"], **kw)}}  # noqa: E731
        bad = [c(extra=1), c(imported_location={"latitude": "1", "longitude": 2}),
               c(inferred_location={"latitude": 1}), c(imported_address=5), c(id=None),
               {"status": "success", "data": {"customer": {"id": "c1"}}}, dict(good, status="ok"), dict(good, x=1)]
        for body in bad:
            self.assertNotEqual(schema_errors(customer, body), [], body)

        waypoints = schema("/dcs/{dc_id}/customers/{customer_id}/waypoints", "get", 200)
        w = {"id": "w", "customer_id": "c", "status": "PENDING", "completed_timestamp": None,
             "estimated_time_of_arrival": 1, "waypoints_ahead": 0, "waiting_time_seconds": None, "route_id": None}
        self.assertEqual(schema_errors(waypoints, {"waypoints": [w] * 10}), [])
        for body in ({"waypoints": [w] * 11}, {"waypoints": [dict(w, status="DONE")]},
                     {"waypoints": [dict(w, eta=1)]}, {"waypoints": [{k: v for k, v in w.items() if k != "route_id"}]},
                     {"waypoints": [dict(w, completed_timestamp=1.5)]}, {"status": "success", "waypoints": []}):
            self.assertNotEqual(schema_errors(waypoints, body), [], body)

        confident_400 = schema("/dcs/{dc_id}/customers/{customer_id}/confident-location", "get", 400)
        not_confident = {"code": 7001, "message": "Customer location not confident"}
        for body, ok in (({"status": "error", "data": not_confident}, True),
                         ({"status": "error", "data": {"code": 400, "message": "Bad id"}}, True),
                         ({"status": "error", "data": {"code": 7001, "message": "Something else"}}, False),
                         ({"status": "error", "data": {"code": 404, "message": "x"}}, False),
                         ({"status": "error", "data": {"code": 400, "message": ""}}, False),
                         ({"status": "error", "data": {"code": "400", "message": "x"}}, False),
                         ({"status": "error", "data": {"code": 400, "message": "x", "detail": 1}}, False)):
            self.assertEqual(schema_errors(confident_400, body) == [], ok, body)
        unauthorized = schema("/dcs/{dc_id}/customers/{customer_id}", "get", 401)
        self.assertNotEqual(schema_errors(unauthorized, {"status": "error", "data": {"code": 403, "message": "x"}}),
                            [])

    def test_every_status_is_the_intended_one(self):
        # Guards the test itself: each request provokes what it is meant to.
        for r in self.results:
            with self.subTest(case=r.case.name, http=r.http):
                self.assertEqual(r.resp.rc, 0, "curl failed: %r" % r.resp)
                self.assertEqual(r.resp.code, r.case.expect, "%s: %r" % (r, r.resp))
                if r.case.code is not None:
                    self.assertEqual(r.resp.json().get("data", {}).get("code"), r.case.code, r.resp)

    def test_statuses_documented_bodies_match_schemas(self):
        for r in self.results:
            with self.subTest(case=r.case.name, http=r.http, status=r.resp.code):
                self.assertEqual(r.resp.rc, 0, "curl failed: %r" % r.resp)
                _, documented = self.documented_response(r)
                content = documented.get("content")
                if not content:
                    self.assertEqual(r.resp.body, b"", "%s: no body is documented" % r)
                    continue
                media = r.resp.content_type.split(";")[0].strip().lower()
                self.assertIn(media, content, "%s: Content-Type %r is not documented (%s)" % (
                    r, r.resp.content_type, ", ".join(content)))
                try:
                    body = json.loads(r.resp.body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as e:
                    self.fail("%s: the body is not UTF-8 JSON (%s): %r" % (r, e, r.resp.body[:300]))
                errors = schema_errors(content[media]["schema"], body)
                self.assertEqual(errors, [], "%s: the body does not match the documented schema; body %s" % (
                    r, json.dumps(body)[:500]))

    def test_405_allow_lists_the_documented_methods(self):
        seen = 0
        for r in self.results:
            if r.resp.code != 405:
                continue
            seen += 1
            with self.subTest(case=r.case.name, http=r.http):
                ops = self.spec.operations(r.template)
                self.assertNotIn(r.case.method.lower(), ops, "%s: 405 for a documented method" % r)
                allowed = sorted(m.strip().upper() for m in r.resp.headers.get("allow", "").split(","))
                self.assertEqual(allowed, sorted(m.upper() for m in ops), r.resp)
        self.assertGreater(seen, 0)

    def test_request_bodies_match_the_request_schema_exactly_when_taken(self):
        # The documented request body schema agrees with what the server
        # takes: bodies it answers 200 are valid, bodies it refuses with 400
        # are not.
        checked = 0
        for r in self.results:
            if r.case.body_valid is None or r.case.data is None:
                continue
            checked += 1
            with self.subTest(case=r.case.name, http=r.http):
                schema = self.spec.request_body_schema(r.template, r.case.method.lower())
                try:
                    body = json.loads(r.case.data)
                    valid = not schema_errors(schema, body)
                except ValueError:
                    valid = False
                self.assertEqual(valid, r.case.body_valid, "%r: schema says %s" % (r.case.data, valid))
                self.assertEqual(r.resp.code, 200 if valid else 400, r.resp)
        self.assertGreater(checked, 0)

    def test_documented_response_headers(self):
        # Every header a response documents as required is there, and every
        # documented header that is there matches its schema. Reported per
        # header and status, with the count of responses that lack it.
        problems = {}
        for r in self.results:
            if r.resp.rc != 0:
                continue
            try:
                method = r.case.method.lower()
                if method not in self.spec.operations(r.template):
                    method = sorted(self.spec.operations(r.template))[0]
                documented = self.spec.response(r.template, method, r.resp.code)
            except (KeyError, TypeError):
                documented = None
            if documented is None:
                continue  # reported by test_statuses_documented_bodies_match_schemas
            for name, header in documented.get("headers", {}).items():
                raw = r.resp.headers.get(name.lower())
                if raw is None:
                    if header.get("required"):
                        problems.setdefault((name, r.resp.code, "missing"), []).append(str(r))
                    continue
                errors = schema_errors(header["schema"], header_value(header["schema"], raw))
                if errors:
                    problems.setdefault((name, r.resp.code, "invalid %r: %s" % (raw, errors[0])), []).append(str(r))
        for (name, status, what), where in sorted(problems.items()):
            with self.subTest(header=name, status=status):
                self.fail("%s %s on %d responses with status %d, e.g. %s" % (name, what, len(where), status,
                                                                           where[0]))

    def test_not_modified(self):
        # The three GETs send an ETag; sending it back in If-None-Match gets
        # 304 without a body, with the headers the description gives 304.
        for kind in GET_KINDS:
            for cred in ("all", "token_c1") if kind == "waypoints" else ("all",):
                for http in BOTH:
                    with self.subTest(op=kind, cred=cred, http=http):
                        path = path_for(kind, customer="c1")
                        first = self.sb.curl(self.server, path, bearer=self.creds[cred], http=http)
                        self.assertEqual(first.code, 200, first)
                        etag = first.headers.get("etag")
                        self.assertTrue(etag, "%s: no ETag on the 200 answer (the description documents one): %r" %
                                        (path, first))
                        resp = self.sb.curl(self.server, path, bearer=self.creds[cred], http=http,
                                            headers={"If-None-Match": etag})
                        self.assertEqual(resp.code, 304, resp)
                        r = Result(Case("304 " + kind, "GET", path, cred, 304), http, resp, self.spec.match(path))
                        _, documented = self.documented_response(r)
                        self.assertNotIn("content", documented)
                        self.assertEqual(resp.body, b"", resp)
                        for name, header in documented.get("headers", {}).items():
                            raw = resp.headers.get(name.lower())
                            if header.get("required"):
                                self.assertIsNotNone(raw, "%s missing on 304: %r" % (name, resp))
                            if raw is not None:
                                self.assertEqual(schema_errors(header["schema"], header_value(header["schema"], raw)),
                                                 [], "%s: %r" % (name, raw))
                        self.assertEqual(resp.headers.get("etag"), etag, resp)

    def test_event_stream_is_as_documented(self):
        template = self.spec.match(path_for("events"))
        self.assertEqual(template, "/dcs/{dc_id}/customers/{customer_id}/waypoints/events")
        documented = self.spec.response(template, "get", 200)
        self.assertIsNotNone(documented, "200 is not documented for the event stream")
        for how, (status, headers, first) in self.streams.items():
            with self.subTest(credential=how):
                self.assertEqual(status, 200, headers)
                media = headers.get("content-type", "").split(";")[0].strip().lower()
                self.assertIn(media, documented["content"])
                for name, header in documented.get("headers", {}).items():
                    raw = headers.get(name.lower())
                    if header.get("required"):
                        self.assertIsNotNone(raw, "%s missing on the stream" % name)
                    if raw is not None:
                        self.assertEqual(schema_errors(header["schema"], header_value(header["schema"], raw)), [],
                                         "%s: %r" % (name, raw))
                event = json.loads(first)
                schema = self.spec.deref(documented["content"]["text/event-stream"]["x-first-event-data"])
                self.assertEqual(schema_errors(schema, event), [], "the first event: %s" % first)
                rest = self.sb.curl(self.server, path_for("waypoints"), bearer=self.creds["all"]).json()
                self.assertEqual([w["id"] for w in event["waypoints"]], [w["id"] for w in rest["waypoints"]],
                                 "the snapshot is the REST list")

    def test_every_documented_status_is_exercised(self):
        exercised = set()
        for status, _, _ in self.streams.values():
            exercised.add(("/dcs/{dc_id}/customers/{customer_id}/waypoints/events", "get", str(status)))
        for r in self.results:
            if r.template is None:
                continue
            method = r.case.method.lower()
            ops = self.spec.operations(r.template)
            if method in ops:
                exercised.add((r.template, method, str(r.resp.code)))
            elif r.resp.code == 405:
                exercised.update((r.template, m, "405") for m in ops)
        missing = []
        for template, method, op in self.spec.all_operations():
            for status in op["responses"]:
                if (template, method, str(status)) not in exercised and str(status) not in NOT_PROVOKED:
                    missing.append("%s %s -> %s" % (method.upper(), template, status))
        self.assertEqual(missing, [], "documented but never provoked here (add a request, or a reason to "
                                      "NOT_PROVOKED)")


if __name__ == "__main__":
    unittest.main(verbosity=2)

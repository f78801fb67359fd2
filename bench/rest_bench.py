#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Parsing and tables for bench/rest_bench.sh (see docs/performance-rest.md).

    rest_bench.py table MANIFEST [PROBES]  prints the markdown table of a run
    rest_bench.py check MANIFEST [PROBES]  exit 1 if any run had errors or an answer
                                           other than 200 (a 429 above all)
    rest_bench.py json MANIFEST [PROBES]   one JSON object per run (for bench/run.sh)

MANIFEST is the tab-separated file rest_bench.sh writes, one line per
measured run:

    workers pinned test server tool output h2load-log cpu-ticks wall-s alive client-ticks other-ticks

cpu-ticks is the server's utime+stime over the run (for nginx: master and
workers), client-ticks the load generator's, other-ticks the rest of the
machine's busy time meanwhile (other processes, steal), all in clock ticks.

`tool` is wrk or h2load; `output` is the tool's stdout; `h2load-log` is the
--log-file of h2load (one line per request: start us, status, duration us),
from which p50 and p99 are computed (nearest rank), since h2load itself prints
only mean and sd, and every answer's status is checked to be 200. wrk's
p50/p99 come from its --latency distribution; wrk counts answers >= 400
itself, and where a Lua script counted every status ("statuses: 200 N, 429 N,
other N" from status.lua: the connection tests and the status probes) those
counts are checked too.

PROBES (optional) lists the status probes: workers server output, one per line.
"""
import math
import os
import re
import sys

sys.dont_write_bytecode = True

CLK_TCK = os.sysconf("SC_CLK_TCK")

TESTS = {
    "h1-c64": "HTTP/1.1 keep-alive, wrk -c64",
    "h1-c256": "HTTP/1.1 keep-alive, wrk -c256",
    "h2-c64-m10": "HTTP/2, h2load -c64 -m10",
    "conn-resumed": "new TLS conn/request (resumed), wrk -c32",
    "conn-full": "new TLS conn/request (full handshake), wrk -c32",
}
SERVERS = ("waypointd", "nginx")
OTHER_NOTE = 0.10  # note runs during which the rest of the machine used >= 10% of a core

_UNITS = {"us": 1.0, "ms": 1000.0, "s": 1e6, "m": 60e6, "h": 3600e6}


def _dur_us(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError("bad duration %r" % text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(path):
    with open(path, errors="replace") as f:
        out = f.read()
    r = {"requests": None, "seconds": None, "rps": None, "p50": None, "p99": None,
         "non2xx": 0, "errors": {}, "status": {}, "tls": None}
    m = re.search(r"^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m),", out, re.M)
    if m:
        r["requests"] = int(m.group(1))
        r["seconds"] = _dur_us(m.group(2) + m.group(3)) / 1e6
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", out, re.M)
    if m:
        r["rps"] = float(m.group(1))
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(r"^\s+%s%%\s+([0-9.]+(?:us|ms|s|m))" % pct, out, re.M)
        if m:
            r[key] = _dur_us(m.group(1))
    m = re.search(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", out, re.M)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        for name, v in zip(("connect", "read", "write", "timeout"), m.groups()):
            if int(v):
                r["errors"][name] = int(v)
    parse_statuses(out, r)
    return r


def parse_statuses(out, r):
    """The status.lua line, when the run had it: exact counts of 200, 429 and the rest."""
    m = re.search(r"^statuses: 200 (\d+), 429 (\d+), other (\d+) \(last other (\d+)\)", out, re.M)
    if not m:
        return
    ok, s429, other, last = map(int, m.groups())
    r["status"] = {"200": ok, "429": s429, "other": other}
    r["non200"] = s429 + other
    r["n429"] = s429
    if other:
        r["last_other"] = last


def percentile(sorted_values, p):
    """Nearest rank."""
    if not sorted_values:
        return None
    k = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[k - 1]


def parse_h2load(path, log_path):
    with open(path, errors="replace") as f:
        out = f.read()
    r = {"requests": None, "seconds": None, "rps": None, "p50": None, "p99": None,
         "non2xx": 0, "errors": {}, "status": {}, "tls": None}
    m = re.search(r"^finished in ([0-9.]+)(us|ms|s|m), ([0-9.]+) req/s", out, re.M)
    if m:
        r["seconds"] = _dur_us(m.group(1) + m.group(2)) / 1e6
        r["rps"] = float(m.group(3))
    m = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", out, re.M)
    if m:
        total, started, done, ok, failed, errored, timeout = map(int, m.groups())
        r["requests"] = done
        for name, v in (("failed", failed), ("errored", errored), ("timeout", timeout)):
            if v:
                r["errors"][name] = v
    m = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out, re.M)
    if m:
        c2, c3, c4, c5 = map(int, m.groups())
        r["status"] = {"2xx": c2, "3xx": c3, "4xx": c4, "5xx": c5}
        r["non2xx"] = c3 + c4 + c5
    proto = re.search(r"^TLS Protocol: (\S+)", out, re.M)
    cipher = re.search(r"^Cipher: (\S+)", out, re.M)
    alpn = re.search(r"^Application protocol: (\S+)", out, re.M)
    r["tls"] = " ".join(x.group(1) for x in (proto, cipher, alpn) if x)
    durations = []
    codes = {}
    if log_path and os.path.exists(log_path):
        with open(log_path) as f:
            for line in f:
                parts = line.split("\t")
                if len(parts) >= 3:
                    try:
                        durations.append(int(parts[2]))
                        codes[parts[1]] = codes.get(parts[1], 0) + 1
                    except ValueError:
                        pass
    r["codes"] = codes
    r["non200"] = sum(v for k, v in codes.items() if k != "200")
    r["n429"] = codes.get("429", 0)
    durations.sort()
    r["p50"] = percentile(durations, 50)
    r["p99"] = percentile(durations, 99)
    r["logged"] = len(durations)
    return r


def empty():
    return {"requests": None, "seconds": None, "rps": None, "p50": None, "p99": None,
            "non2xx": 0, "errors": {}, "status": {}, "tls": None}


def read_probes(path):
    probes = []
    if not path or not os.path.exists(path):
        return probes
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            workers, server, out = line.split("\t")
            r = parse_wrk(out) if os.path.exists(out) else empty()
            r.update(workers=int(workers), server=server, test="status-probe")
            if "200" not in r.get("status", {}):
                r["errors"]["no status count"] = 1
            probes.append(r)
    return probes


def read_manifest(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            workers, pinned, test, server, tool, out, log, ticks, wall, alive, client, other = line.split("\t")
            if not os.path.exists(out):  # not run: the server had died before
                r = {"requests": None, "seconds": None, "rps": None, "p50": None, "p99": None,
                     "non2xx": 0, "errors": {}, "status": {}, "tls": None}
            else:
                r = parse_wrk(out) if tool == "wrk" else parse_h2load(out, log)
            r.update(workers=int(workers), pinned=pinned, test=test, server=server, tool=tool,
                     cpu_s=int(ticks) / CLK_TCK, wall=float(wall), alive=(alive == "yes"),
                     client_s=int(client) / CLK_TCK, other_s=max(0, int(other)) / CLK_TCK)
            runs.append(r)
    return runs


def fmt_ms(us):
    if us is None:
        return "–"
    ms = us / 1000.0
    return "%.2f" % ms if ms < 10 else "%.1f" % ms if ms < 100 else "%.0f" % ms


def fmt_int(v):
    return "–" if v is None else "{:,}".format(int(round(v))).replace(",", " ")


def cpu_us_per_req(r):
    if not r["requests"]:
        return None
    return r["cpu_s"] * 1e6 / r["requests"]


def errors_text(r):
    parts = []
    if not r.get("alive", True):
        parts.append("SERVER DIED")
    if r.get("codes") and r.get("non200"):  # h2load's log: every request's status
        parts.append("%d answers not 200 (%s)" % (r["non200"], ", ".join(
            "%d × %s" % (v, k) for k, v in sorted(r["codes"].items()) if k != "200")))
    elif r.get("non200"):  # status.lua
        parts.append("%d answers not 200 (429: %d, other: %d%s)" % (
            r["non200"], r.get("n429", 0), r["status"].get("other", 0),
            ", e.g. %d" % r["last_other"] if r.get("last_other") else ""))
    if r["non2xx"] and not r.get("non200"):
        st = r.get("status") or {}
        detail = ", ".join("%d %s" % (v, k) for k, v in st.items() if k != "2xx" and v)
        parts.append("%d non-2xx%s" % (r["non2xx"], " (%s)" % detail if detail else ""))
    for k, v in r["errors"].items():
        parts.append("%s %d" % (k, v))
    if r["requests"] is None and r.get("alive", True):
        parts.append("no result")
    return ", ".join(parts)


def ratio(a, b, fmt="%.2f"):
    if a is None or b is None or b == 0:
        return "–"
    return fmt % (a / b)


def table(runs):
    by = {}
    order = []
    for r in runs:
        key = (r["workers"], r["pinned"], r["test"])
        if key not in by:
            by[key] = {}
            order.append(key)
        by[key][r["server"]] = r
    lines = [
        "| workers | test | waypointd req/s | nginx req/s | waypointd p50 / p99 ms | nginx p50 / p99 ms "
        "| waypointd CPU µs/req (core %) | nginx CPU µs/req (core %) | CPU/req ratio wp/nginx "
        "| req/s ratio wp/nginx | errors, notes |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for key in order:
        workers, pinned, test = key
        row = by[key]
        wp, ng = row.get("waypointd"), row.get("nginx")

        def cells(r):
            if r is None:
                return "–", "–", "–"
            cpu = cpu_us_per_req(r)
            core = 100.0 * r["cpu_s"] / r["wall"] if r["wall"] > 0 else 0
            return (fmt_int(r["rps"]), "%s / %s" % (fmt_ms(r["p50"]), fmt_ms(r["p99"])),
                    "–" if cpu is None else "%.1f (%.0f%%)" % (cpu, core))
        w_rps, w_lat, w_cpu = cells(wp)
        n_rps, n_lat, n_cpu = cells(ng)
        errs = []
        for name, r in (("waypointd", wp), ("nginx", ng)):
            if r is not None and errors_text(r):
                errs.append("%s: %s" % (name, errors_text(r)))
        busy = ["%s run %.0f%%" % (name, 100.0 * r["other_s"] / r["wall"])
                for name, r in (("waypointd", wp), ("nginx", ng))
                if r is not None and r["wall"] > 0 and r["other_s"] / r["wall"] >= OTHER_NOTE]
        if busy:
            errs.append("other processes used " + ", ".join(busy) + " of a core")
        label = "%d%s" % (workers, " (pinned)" if pinned == "yes" else "")
        invalid = any(r is not None and (r.get("non200") or r["non2xx"]) for r in (wp, ng))
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, TESTS.get(test, test), w_rps, n_rps, w_lat, n_lat, w_cpu, n_cpu,
            "INVALID (answers not 200)" if invalid else
            ratio(cpu_us_per_req(wp) if wp else None, cpu_us_per_req(ng) if ng else None),
            ratio(wp["rps"] if wp else None, ng["rps"] if ng else None),
            "; ".join(errs) if errs else "none"))
    tls = sorted({"%s %s" % (r["server"], r["tls"]) for r in runs if r.get("tls")})
    return "\n".join(lines), tls


def probes_text(probes):
    if not probes:
        return ""
    parts = []
    for p in probes:
        st = p.get("status", {})
        parts.append("%s %d worker(s): %s" % (
            p["server"], p["workers"],
            "%s × 200, %s × 429, %s other" % (st.get("200", "?"), st.get("429", "?"), st.get("other", "?"))
            if st else "no count (%s)" % (errors_text(p) or "no output")))
    return ("Status probes (2 s of `wrk -t2 -c64` keep-alive before each row's runs, every answer's status "
            "counted by a wrk Lua script; the measured keep-alive runs count answers >= 400, the h2load runs "
            "log every status, the connection runs count every status): " + "; ".join(parts) + ".")


def as_json(r):
    cpu = cpu_us_per_req(r)
    return {"workers": r["workers"], "pinned": r["pinned"] == "yes", "test": r["test"], "server": r["server"],
            "tool": r["tool"], "requests": r["requests"], "seconds": r["seconds"], "rps": r["rps"],
            "p50_us": r["p50"], "p99_us": r["p99"], "cpu_s": r["cpu_s"], "wall_s": r["wall"],
            "cpu_us_per_req": cpu, "core_pct": 100.0 * r["cpu_s"] / r["wall"] if r["wall"] > 0 else None,
            "other_pct": 100.0 * r["other_s"] / r["wall"] if r["wall"] > 0 else None,
            "client_s": r["client_s"], "alive": r["alive"], "non2xx": r["non2xx"], "non200": r.get("non200", 0),
            "n429": r.get("n429", 0), "codes": r.get("codes") or r.get("status") or {}, "errors": errors_text(r),
            "tls": r.get("tls")}


def main(argv):
    if len(argv) not in (2, 3) or argv[0] not in ("table", "check", "json"):
        sys.exit(__doc__)
    runs = read_manifest(argv[1])
    probes = read_probes(argv[2] if len(argv) > 2 else None)
    if argv[0] == "table":
        text, tls = table(runs)
        print(text)
        if tls:
            print()
            print("TLS as negotiated by h2load: " + "; ".join(tls) + ".")
        if probes:
            print()
            print(probes_text(probes))
    elif argv[0] == "json":
        import json
        for r in runs:
            print(json.dumps(as_json(r), sort_keys=True))
        for p in probes:
            print(json.dumps({"test": "status-probe", "server": p["server"], "workers": p["workers"],
                              "codes": p.get("status", {}), "non200": p.get("non200", 0), "n429": p.get("n429", 0),
                              "errors": errors_text(p)}, sort_keys=True))
    else:
        bad = [r for r in runs + probes if errors_text(r)]
        for r in bad:
            print("%s %s workers=%d: %s" % (r["server"], r["test"], r["workers"], errors_text(r)))
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main(sys.argv[1:])

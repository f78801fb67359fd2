#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Commit-to-receive latency of waypointd's live push (see bench/README.md).

Sets up a throw-away database (one DC, --customers customers, one waypoint
each), starts `waypointd serve` on 127.0.0.1, opens one /live subscriber per
customer plus --dc-subscribers DC-wide ones, then a separate writer process
commits --changes updates (`waypoints_ahead` = a unique counter, one
transaction each, on a random customer's waypoint) at --rate per second and
stamps time.time_ns() right after each COMMIT returns. Each subscriber stamps
time.time_ns() as soon as websockets has read a message's frame(s). A change
counts as delivered to a subscriber at the first `waypoint` message for its
waypoint whose value is >= the one written (the contract lets a slow client
get only the newest of several changes to one waypoint); one with no such
message is lost.
"""
import argparse
import asyncio
import bisect
import collections
import json
import os
import random
import sqlite3
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

UPDATE_SQL = "UPDATE waypoints SET waypoints_ahead = ? WHERE dc_id = ? AND id = ?"


# --------------------------------------------------------------------- writer
def writer_main(argv):
    """The writer process: commits the changes and prints one JSON document
    {"changes": [[value, waypoint_index, commit_ns, pre_commit_ns], ...], ...} on stdout."""
    p = argparse.ArgumentParser(prog="live_latency.py --writer")
    p.add_argument("--db", required=True)
    p.add_argument("--changes", type=int, required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--customers", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--deadline", type=float, required=True, help="seconds; stop early past this")
    a = p.parse_args(argv)
    rng = random.Random(a.seed)
    con = sqlite3.connect(a.db, isolation_level=None, timeout=10)
    con.execute("PRAGMA busy_timeout = 10000")
    mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    sync = con.execute("PRAGMA synchronous").fetchone()[0]
    changes, commit_ns, errors = [], [], []
    interval = 1.0 / a.rate if a.rate > 0 else 0.0
    start = time.monotonic()
    stop_at = start + a.deadline
    for i in range(a.changes):
        target = start + i * interval
        now = time.monotonic()
        if now > stop_at:
            errors.append("writer deadline passed after %d changes" % i)
            break
        if target > now:
            time.sleep(target - now)
        k = rng.randrange(a.customers)
        value = i + 1  # initial value is 0: every update changes the row, so every one is logged
        t_begin = time.perf_counter_ns()
        try:
            con.execute("BEGIN IMMEDIATE")
            n = con.execute(UPDATE_SQL, (value, common.DC_ID, common.waypoint_id(k))).rowcount
            t_pre = time.time_ns()
            con.execute("COMMIT")
        except sqlite3.Error as e:
            errors.append("change %d: %s" % (value, e))
            try:
                con.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            continue
        t = time.time_ns()
        commit_ns.append(time.perf_counter_ns() - t_begin)
        if n != 1:
            errors.append("change %d updated %d rows" % (value, n))
            continue
        changes.append([value, k, t, t_pre])
    con.close()
    json.dump({"changes": changes, "commit_ns": commit_ns, "errors": errors, "journal_mode": mode,
               "synchronous": sync, "elapsed_s": time.monotonic() - start}, sys.stdout)
    sys.stdout.flush()


# ------------------------------------------------------------------ receivers
def stamping_protocol():
    from websockets.legacy.client import WebSocketClientProtocol

    class StampingProtocol(WebSocketClientProtocol):
        """Stamps each data message the moment its frame(s) have been read,
        before it goes through the library's queue to recv()."""

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.stamps = collections.deque()

        async def read_message(self):
            message = await super().read_message()
            if message is not None:
                self.stamps.append((time.time_ns(), message))
            return message

    return StampingProtocol


class Subscriber:
    def __init__(self, ws, customer_index):
        self.ws = ws
        self.customer_index = customer_index  # None: DC-wide
        self.by_wp = collections.defaultdict(list)  # waypoint index -> [(value, recv_ns)]
        self.count = 0
        self.last_seq = None
        self.order_errors = 0
        self.unexpected = []
        self.closed = None
        self.first_ns = None
        self.last_ns = None

    def max_value(self, k):
        lst = self.by_wp.get(k)
        return max(v for v, _ in lst) if lst else -1


async def reader(sub):
    from websockets.exceptions import ConnectionClosed
    ws = sub.ws
    while True:
        try:
            raw = await ws.recv()
        except ConnectionClosed as e:
            sub.closed = "closed by server: code %s %r" % (e.code, e.reason)
            return
        t = None
        while ws.stamps:
            stamp, msg = ws.stamps.popleft()
            if msg is raw:
                t = stamp
                break
        if t is None:  # cannot happen with websockets 10.x; keep the figure honest anyway
            t = time.time_ns()
            sub.unexpected.append("unstamped message")
        try:
            m = json.loads(raw)
        except ValueError:
            sub.unexpected.append("not JSON: %r" % raw[:200])
            continue
        if m.get("type") != "waypoint":
            if len(sub.unexpected) < 20:
                sub.unexpected.append(raw[:300])
            continue
        seq = m.get("seq")
        if sub.last_seq is not None and not (isinstance(seq, int) and seq > sub.last_seq):
            sub.order_errors += 1
        if isinstance(seq, int):
            sub.last_seq = seq
        wp = m.get("waypoint") or {}
        try:
            k = int(str(wp.get("id", ""))[1:])
            value = int(wp.get("waypoints_ahead"))
        except (TypeError, ValueError):
            sub.unexpected.append(raw[:300])
            continue
        if sub.customer_index is not None and (k != sub.customer_index
                                               or m.get("customer_id") != common.customer_id(k)):
            sub.unexpected.append("another customer's waypoint: " + raw[:300])
            continue
        sub.by_wp[k].append((value, t))
        sub.count += 1
        if sub.first_ns is None:
            sub.first_ns = t
        sub.last_ns = t


def all_caught_up(subs, last_value):
    """Every subscriber has seen, for each waypoint it covers, a value >= the last one written."""
    for s in subs:
        ks = [s.customer_index] if s.customer_index is not None else last_value.keys()
        for k in ks:
            if k in last_value and s.max_value(k) < last_value[k]:
                return False
    return True


# -------------------------------------------------------------------- figures
percentile = common.percentile


def analyse(subs, changes, sent_first_ns):
    """Latency of every change at every subscriber in the group."""
    lat = []
    exact = coalesced = lost = before_commit = 0
    for s in subs:
        index = {}
        for k, lst in s.by_wp.items():
            prefix, m = [], -1
            for v, _ in lst:
                m = max(m, v)
                prefix.append(m)
            index[k] = (prefix, lst, {v for v, _ in lst})
        for value, k, commit, pre in changes:
            if s.customer_index is not None and k != s.customer_index:
                continue
            entry = index.get(k)
            j = bisect.bisect_left(entry[0], value) if entry else 0
            if not entry or j == len(entry[0]):
                lost += 1
                continue
            if value in entry[2]:
                exact += 1
            else:
                coalesced += 1
            lat.append((entry[1][j][1] - commit) / 1e6)
            if entry[1][j][1] < pre:
                before_commit += 1
    lat.sort()
    received = sum(s.count for s in subs)
    last = max((s.last_ns for s in subs if s.last_ns), default=None)
    span = (last - sent_first_ns) / 1e9 if last and sent_first_ns else None
    expected = sum(1 for s in subs for _, k, _, _ in changes if s.customer_index is None or k == s.customer_index)
    return {
        "subscribers": len(subs),
        "expected": expected,
        "received_msgs": received,
        "delivered": exact + coalesced,
        "exact": exact,
        "coalesced": coalesced,
        "lost": lost,
        "order_errors": sum(s.order_errors for s in subs),
        "unexpected": sum(len(s.unexpected) for s in subs),
        "closed": sum(1 for s in subs if s.closed),
        "negative": sum(1 for x in lat if x < 0),
        "before_commit": before_commit,
        "min_ms": lat[0] if lat else None,
        "p50_ms": percentile(lat, 50),
        "p90_ms": percentile(lat, 90),
        "p99_ms": percentile(lat, 99),
        "max_ms": lat[-1] if lat else None,
        "mean_ms": sum(lat) / len(lat) if lat else None,
        "msgs_per_s": received / span if span else None,
    }


def fmt(v, nd=2):
    if v is None:
        return "-"
    if isinstance(v, float):
        return "%.*f" % (nd, v)
    return str(v)


# ----------------------------------------------------------------------- main
async def run(a, setup, server):
    proto = stamping_protocol()
    scopes = [(common.DC_ID, common.customer_id(i)) for i in range(a.customers)]
    scopes += [(common.DC_ID, None)] * a.dc_subscribers
    t_open = time.monotonic()
    opened = await common.open_many(server.port, setup.cert, setup.api_key, scopes, create_protocol=proto)
    open_s = time.monotonic() - t_open
    subs = [Subscriber(ws, i if i < a.customers else None) for i, (ws, _) in enumerate(opened)]
    for s in subs:  # nothing was written yet: drop the stamps of the "subscribed" replies
        s.ws.stamps.clear()
    readers = [asyncio.create_task(reader(s)) for s in subs]
    result = {"open_s": open_s}
    try:
        cpu0 = common.cpu_seconds(server.pid)
        ctx0 = common.ctx_switches(server.pid)
        wall0 = time.monotonic()
        own0 = os.times()
        writer_deadline = max(30.0, 3.0 * a.changes / a.rate + 30.0) if a.rate > 0 else 300.0
        proc = await asyncio.create_subprocess_exec(
            sys.executable, os.path.abspath(__file__), "--writer", "--db", setup.db, "--changes", str(a.changes),
            "--rate", str(a.rate), "--customers", str(a.customers), "--seed", str(a.seed),
            "--deadline", str(writer_deadline), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), writer_deadline + 30)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise RuntimeError("the writer did not finish in time")
        if proc.returncode != 0:
            raise RuntimeError("the writer failed with exit code %d" % proc.returncode)
        w = json.loads(out)
        changes = w["changes"]
        last_value = {}
        for c in changes:
            last_value[c[1]] = c[0]
        # Drain: wait until every subscriber has caught up, or --drain seconds.
        drain_end = time.monotonic() + a.drain
        while time.monotonic() < drain_end and not all_caught_up(subs, last_value):
            await asyncio.sleep(0.01)
        caught_up = all_caught_up(subs, last_value)
        cpu1 = common.cpu_seconds(server.pid)
        ctx1 = common.ctx_switches(server.pid)
        if not common.alive(server.pid):
            ctx1 = None  # a zombie's threads are gone: no meaningful figure
        wall1 = time.monotonic()
        own1 = os.times()
    finally:
        for t in readers:
            t.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await asyncio.gather(*(s.ws.close() for s in subs), return_exceptions=True)

    first_commit = min((c[2] for c in changes), default=None)
    last_commit = max((c[2] for c in changes), default=None)
    commits = sorted(w["commit_ns"])
    cust = analyse([s for s in subs if s.customer_index is not None], changes, first_commit)
    dc = analyse([s for s in subs if s.customer_index is None], changes, first_commit)
    delivered_msgs = cust["received_msgs"] + dc["received_msgs"]
    server_cpu = cpu1 - cpu0
    result.update({
        "changes_requested": a.changes,
        "changes_sent": len(changes),
        "writer_errors": w["errors"][:10],
        "rate_requested": a.rate,
        "rate_achieved": (len(changes) - 1) / ((last_commit - first_commit) / 1e9)
        if len(changes) > 1 and last_commit > first_commit else None,
        "commit_p50_ms": percentile(commits, 50) / 1e6 if commits else None,
        "commit_p99_ms": percentile(commits, 99) / 1e6 if commits else None,
        "journal_mode": w["journal_mode"],
        "synchronous": w["synchronous"],
        "customers": a.customers,
        "threads": a.threads,
        "caught_up": caught_up,
        "customer": cust,
        "dc": dc,
        "run_wall_s": wall1 - wall0,
        "server_cpu_s": server_cpu,
        "server_cpu_pct": 100.0 * server_cpu / (wall1 - wall0),
        "server_cpu_ms_per_msg": 1000.0 * server_cpu / delivered_msgs if delivered_msgs else None,
        "server_vol_ctx_switches": ctx1[0] - ctx0[0] if ctx0 and ctx1 else None,
        "server_invol_ctx_switches": ctx1[1] - ctx0[1] if ctx0 and ctx1 else None,
        "client_cpu_s": (own1.user - own0.user) + (own1.system - own0.system),
        "problems": [p for s in subs for p in ([s.closed] if s.closed else []) + s.unexpected][:10],
    })
    return result


def report(r, server_exit, server_err):
    c, d = r["customer"], r["dc"]
    print()
    print("waypointd live latency: %d customers, %d changes at %s requested (%s/s achieved), --threads %d"
          % (r["customers"], r["changes_sent"],
             "%.0f/s" % r["rate_requested"] if r["rate_requested"] else "full speed", fmt(r["rate_achieved"], 1),
             r["threads"]))
    print("writer: journal_mode=%s synchronous=%s, commit p50 %s ms, p99 %s ms; %d subscribers opened in %.2f s"
          % (r["journal_mode"], r["synchronous"], fmt(r["commit_p50_ms"], 3), fmt(r["commit_p99_ms"], 3),
             c["subscribers"] + d["subscribers"], r["open_s"]))
    print()
    rows = [("", "customer subs", "DC subs"),
            ("subscribers", c["subscribers"], d["subscribers"]),
            ("changes sent", r["changes_sent"], r["changes_sent"]),
            ("expected deliveries", c["expected"], d["expected"]),
            ("messages received", c["received_msgs"], d["received_msgs"]),
            ("delivered (exact)", c["exact"], d["exact"]),
            ("delivered (coalesced)", c["coalesced"], d["coalesced"]),
            ("LOST", c["lost"], d["lost"]),
            ("seq order errors", c["order_errors"], d["order_errors"]),
            ("latency < 0 (see README)", c["negative"], d["negative"]),
            ("received before COMMIT", c["before_commit"], d["before_commit"]),
            ("latency min ms", fmt(c["min_ms"]), fmt(d["min_ms"])),
            ("latency p50 ms", fmt(c["p50_ms"]), fmt(d["p50_ms"])),
            ("latency p90 ms", fmt(c["p90_ms"]), fmt(d["p90_ms"])),
            ("latency p99 ms", fmt(c["p99_ms"]), fmt(d["p99_ms"])),
            ("latency max ms", fmt(c["max_ms"]), fmt(d["max_ms"])),
            ("latency mean ms", fmt(c["mean_ms"]), fmt(d["mean_ms"])),
            ("messages/s", fmt(c["msgs_per_s"], 1), fmt(d["msgs_per_s"], 1))]
    for row in rows:
        print("  %-24s %15s %15s" % tuple(str(x) for x in row))
    print()
    print("server CPU: %.2f s over %.2f s (%.1f%% of one core), %s ms per delivered message; "
          "%s voluntary / %s involuntary context switches"
          % (r["server_cpu_s"], r["run_wall_s"], r["server_cpu_pct"], fmt(r["server_cpu_ms_per_msg"], 3),
             r["server_vol_ctx_switches"], r["server_invol_ctx_switches"]))
    print("client (this process) CPU: %.2f s  [client and server share this machine's cores]" % r["client_cpu_s"])
    print("server exit on SIGTERM: %s" % server_exit)
    if r["writer_errors"]:
        print("writer errors: %s" % r["writer_errors"])
    if r["problems"]:
        print("problems: %s" % r["problems"])
    if not r["caught_up"]:
        print("NOT all subscribers caught up within the drain time")
    if server_exit != 0 and server_err:
        print("server stderr tail:\n" + server_err)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        return writer_main(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=common.DEFAULT_BINARY,
                   help="waypointd to run (default: $WAYPOINTD or /tmp/build-bench/waypointd)")
    p.add_argument("--customers", type=int, default=100, help="customers, one waypoint and one subscriber each")
    p.add_argument("--dc-subscribers", type=int, default=1, help="DC-wide subscribers (default 1)")
    p.add_argument("--changes", type=int, default=1000, help="updates to commit (default 1000)")
    p.add_argument("--rate", type=float, default=200, help="commits per second (default 200; 0: as fast as possible)")
    p.add_argument("--threads", type=int, default=2, help="server --threads (default 2)")
    p.add_argument("--seed", type=int, default=1, help="seed for the choice of waypoints")
    p.add_argument("--drain", type=float, default=15, help="seconds to wait for the last messages (default 15)")
    p.add_argument("--deadline", type=float, default=None,
                   help="overall limit in seconds (default: 120 + 3 x changes / rate)")
    p.add_argument("--keep", action="store_true", help="keep the temp folder (database, server logs)")
    a = p.parse_args()
    if a.customers < 1 or a.changes < 1 or a.rate < 0 or a.dc_subscribers < 0 or a.threads < 1:
        p.error("--customers, --changes, --threads must be >= 1; --rate, --dc-subscribers >= 0")
    common.need_websockets()
    deadline = a.deadline or 120 + (3.0 * a.changes / a.rate if a.rate > 0 else 300)
    with common.Setup(a.binary, a.customers, keep=a.keep) as setup:
        server = common.Server(setup, threads=a.threads)
        r = None
        try:
            r = asyncio.run(asyncio.wait_for(run(a, setup, server), deadline))
        except asyncio.TimeoutError:
            print("bench: overall deadline of %.0f s passed" % deadline, file=sys.stderr)
        finally:
            server_exit = server.stop()
            server_err = server.stderr_tail()
        if r is None:
            print("server stderr tail:\n" + server_err, file=sys.stderr)
            return 1
        r["server_exit"] = server_exit
        report(r, server_exit, server_err)
        print(json.dumps(dict(r, bench="live_latency"), sort_keys=True))
        ok = (r["customer"]["lost"] == 0 and not r["customer"]["before_commit"] and not r["dc"]["before_commit"] and r["dc"]["lost"] == 0 and r["changes_sent"] == a.changes
              and r["caught_up"] and not r["customer"]["order_errors"] and not r["dc"]["order_errors"])
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A dispatcher opens a large DC: what do the other clients of that thread feel?

One DC with N PENDING waypoints (one per customer, as bench/common.py makes
them); `waypointd serve --threads 1`, so every client shares one service
thread. A tracking client (a separate process, so that this one's JSON
parsing cannot delay it) subscribes to one customer and sends a live
`ping` every 5 ms, recording each round trip. After a quiet second, D
dashboards subscribe to the whole DC at once, R rounds (each round opens D new
connections, waits for their snapshots, closes them). Printed: the tracking
client's ping round trips while snapshots were being produced (p50, p99,
max) beside those of the quiet second before, how long the dashboards waited
for their snapshots, and the server's CPU. Loopback only; every loop is
bounded in count and time.

usage: bench/snapshot_bench.py [--binary FILE] [--waypoints N] [--dashboards D]
                               [--rounds R]
"""
import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

PING_EVERY_S = 0.005
PING_DEADLINE_S = 120.0
SNAPSHOT_DEADLINE_S = 120.0


# ---------------------------------------------------------------- the pinger
async def pinger(port, cert, key, seconds, out_path):
    """Subscribe to one customer, then ping every 5 ms for `seconds`; write
    one line per ping: send time (monotonic s) and round trip (ms)."""
    ctx = common.ssl_context(cert)
    ws, _ = await common.open_subscriber(port, ctx, key, common.DC_ID, common.customer_id(0), "t")
    sent = {}
    lines = []
    print("ready", flush=True)

    async def reader():
        async for raw in ws:
            now = time.monotonic()
            msg = json.loads(raw)
            if msg.get("type") == "pong" and msg.get("id") in sent:
                t0 = sent.pop(msg["id"])
                lines.append("%.6f %.3f\n" % (t0, (now - t0) * 1000.0))

    task = asyncio.ensure_future(reader())
    end = time.monotonic() + min(seconds, PING_DEADLINE_S)
    k = 0
    while time.monotonic() < end and not task.done():
        k += 1
        sent["p%d" % k] = time.monotonic()
        await ws.send(json.dumps({"type": "ping", "id": "p%d" % k}))
        await asyncio.sleep(PING_EVERY_S)
    await asyncio.sleep(0.5)  # the last answers
    task.cancel()
    await ws.close()
    with open(out_path, "w") as f:
        f.writelines(lines)
    print("done %d sent, %d answered" % (k, len(lines)), flush=True)


def pinger_main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key-file", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    with open(a.key_file) as f:
        key = f.read().strip()
    asyncio.run(pinger(a.port, a.cert, key, a.seconds, a.out))


# ---------------------------------------------------------------- dashboards
async def dashboards(port, cert, key, d, n_expected):
    """D connections subscribe to the whole DC at once; (start, [seconds until
    each had its snapshot])."""
    ctx = common.ssl_context(cert)
    t0 = time.monotonic()

    async def one(i):
        ws, msg = await common.open_subscriber(port, ctx, key, common.DC_ID, None, "d%d" % i,
                                               timeout=SNAPSHOT_DEADLINE_S, max_size=None)
        took = time.monotonic() - t0
        await ws.close()
        got = len(msg.get("waypoints") or [])
        if got != n_expected:
            raise RuntimeError("dashboard %d: %d waypoints in its snapshot, %d expected" % (i, got, n_expected))
        return took

    return t0, await asyncio.gather(*(one(i) for i in range(d)))


def pct(vals, q):
    """common.percentile of unsorted vals, q in 0..1; nan when empty (printed as such)."""
    v = common.percentile(sorted(vals), q * 100)
    return float("nan") if v is None else v


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "pinger":
        return pinger_main(sys.argv[2:])
    common.need_websockets()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=common.DEFAULT_BINARY)
    ap.add_argument("--waypoints", type=int, default=20000)
    ap.add_argument("--dashboards", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    with common.Setup(a.binary, customers=a.waypoints) as setup:
        server = common.Server(setup, threads=1)
        try:
            keyfile = os.path.join(setup.dir, "key")
            with open(keyfile, "w") as f:
                f.write(setup.api_key)
            pings = os.path.join(setup.dir, "pings.txt")
            seconds = 3.0 + a.rounds * 15.0
            pr = subprocess.Popen([sys.executable, os.path.abspath(__file__), "pinger", "--port", str(server.port),
                                   "--cert", setup.cert, "--key-file", keyfile, "--seconds", str(seconds),
                                   "--out", pings], stdout=subprocess.PIPE, text=True)
            if pr.stdout.readline().strip() != "ready":
                raise RuntimeError("the tracking client did not start")
            time.sleep(1.0)
            quiet = (time.monotonic() - 1.0, time.monotonic())
            cpu0 = common.cpu_seconds(server.pid)
            windows, waits = [], []
            for _ in range(a.rounds):
                t0, took = asyncio.run(dashboards(server.port, setup.cert, setup.api_key, a.dashboards,
                                                  a.waypoints))
                windows.append((t0, t0 + max(took)))
                waits += took
                time.sleep(1.0)
            cpu1 = common.cpu_seconds(server.pid)
            pr.wait(seconds + 30)
            samples = []
            with open(pings) as f:
                for line in f:
                    t, ms = line.split()
                    samples.append((float(t), float(ms)))
        finally:
            code = server.stop()
    during = [ms for t, ms in samples if any(w0 <= t <= w1 for w0, w1 in windows)]
    before = [ms for t, ms in samples if quiet[0] <= t <= quiet[1]]
    print("binary: %s; exit code %s" % (a.binary, code))
    print("DC of %d PENDING waypoints; %d dashboards at once, %d rounds; --threads 1"
          % (a.waypoints, a.dashboards, a.rounds))
    print("tracking client's ping round trip, quiet second before: p50 %.2f ms, max %.2f ms (%d pings)"
          % (pct(before, 0.5), max(before or [float("nan")]), len(before)))
    print("tracking client's ping round trip while the snapshots were produced: p50 %.2f ms, p99 %.2f ms, "
          "max %.2f ms (%d pings)" % (pct(during, 0.5), pct(during, 0.99), max(during or [float("nan")]),
                                      len(during)))
    print("dashboards: snapshot received after p50 %.0f ms, max %.0f ms" % (pct(waits, 0.5) * 1000,
                                                                            max(waits) * 1000))
    print("server CPU over the rounds: %.2f s (%.1f ms per snapshot)" % (cpu1 - cpu0,
                                                                         (cpu1 - cpu0) * 1000 / len(waits)))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The table of bench/cluster_bench.sh: merges a run folder's wsload outputs
(wl.N.out: ready/mark/result/closed lines; lat.N: STAMP LATENCY_US EXACT per
delivered change; resume.N: one line per finished resume) with the KEY=VALUE
figures the script measured, prints the result in Markdown and writes it as
JSON (--results). Exits 1 when the run had an anomaly."""
import glob
import json
import os
import sys


def pct(v, q):
    """Nearest-rank percentile of an ascending list."""
    if not v:
        return None
    r = -(-q * len(v) // 100)
    return v[max(1, min(len(v), int(r))) - 1]


def num(s):
    for t in (int, float):
        try:
            return t(s)
        except ValueError:
            pass
    return s


def ints(s):
    return [int(x) for x in str(s).split(",") if x != ""]


def read_wl(path):
    d = {}
    try:
        with open(path) as f:
            for line in f:
                word, _, rest = line.partition(" ")
                if word in ("ready", "mark", "result", "closed"):
                    try:
                        d[word] = json.loads(rest)
                    except ValueError:
                        continue
    except OSError:
        pass
    return d


def f(v, nd=1):
    if v is None or v == "":
        return "-"
    if isinstance(v, float):
        return "%.*f" % (nd, v)
    return str(v)


def table(rows, head):
    w = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    out = ["| " + " | ".join(str(h).ljust(w[i]) for i, h in enumerate(head)) + " |",
           "|" + "|".join("-" * (x + 2) for x in w) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).rjust(w[i]) if i else str(c).ljust(w[i]) for i, c in enumerate(r)) + " |")
    return "\n".join(out)


def main(argv):
    a, kv = {}, {}
    i = 0
    while i < len(argv):
        if argv[i].startswith("--"):
            a[argv[i]] = argv[i + 1]
            i += 2
        else:
            k, _, v = argv[i].partition("=")
            kv[k] = num(v)
            i += 1
    run, meta = a["--run"], json.loads(a["--meta"])
    r = dict(kv)
    tick = r.get("clk_tck", 100)
    edges = r["edges"]
    outs = [read_wl(p) for p in sorted(glob.glob(os.path.join(run, "wl.*.out")))]
    per_target = [0] * edges
    for o in outs:
        for e, c in enumerate(o.get("ready", {}).get("per_target", [])):
            if e < edges:
                per_target[e] += c
    r["per_edge_conns"] = per_target
    r["failed"] = sum(o.get("ready", {}).get("failed", 0) for o in outs)
    r["clients_without_result"] = sum(1 for o in outs if "result" not in o)
    for k in ("received", "expected", "delivered", "exact", "coalesced", "lost", "dropped", "order_errors",
              "error_msgs", "unstamped", "negative"):
        r[k] = sum(o.get("result", {}).get(k, 0) for o in outs)
    # the resume figures: the closed line's (final), else the result's
    for k in ("resumes", "resumed_true", "resumed_false", "resume_gave_up", "resume_waiting",
              "resume_attempt_failures"):
        r[k] = sum(o.get("closed", o.get("result", {})).get(k, 0) for o in outs)
    r["caught_up"] = bool(outs) and all(o.get("result", {}).get("caught_up", False) for o in outs)
    reasons = {}
    for o in outs:
        last = {}
        for part in ("ready", "result", "closed"):
            last.update(o.get(part, {}).get("reasons", {}))
        for k, v in last.items():
            reasons[k] = reasons.get(k, 0) + v
    r["reasons"] = reasons
    lat, stay = [], []
    for p in glob.glob(os.path.join(run, "lat.*")):
        with open(p) as fh:
            for line in fh:
                x = line.split()
                if len(x) >= 3:
                    lat.append(int(x[1]))
                    if len(x) < 4 or x[3] == "0":
                        stay.append(int(x[1]))
    lat.sort()
    stay.sort()
    if len(stay) < len(lat):  # --resume: the subscribers that never moved, alone
        r["stay_n"] = len(stay)
        r["stay_p50_ms"] = pct(stay, 50) / 1000 if stay else None
        r["stay_p99_ms"] = pct(stay, 99) / 1000 if stay else None
        r["stay_max_ms"] = stay[-1] / 1000 if stay else None
    r["lat_n"] = len(lat)
    r["p50_ms"] = pct(lat, 50) / 1000 if lat else None
    r["p99_ms"] = pct(lat, 99) / 1000 if lat else None
    r["max_ms"] = lat[-1] / 1000 if lat else None
    try:
        with open(os.path.join(run, "writer.json")) as fh:
            r["writer"] = json.load(fh)
    except (OSError, ValueError):
        r["writer"] = {"errors": ["no output"]}
    # per edge: RSS per connection, CPU
    rss0, rss1, rss2 = ints(r["rss0"]), ints(r["rss1"]), ints(r["rss2"])
    c0, c1 = ints(r["ecpu0"]), ints(r["ecpu1"])
    o0, o1 = ints(r["eopen0"]), ints(r["eopen1"])
    wall = r["t1"] - r["t0"]
    r["window_s"] = wall
    rows = []
    killed = r.get("killed", -1)
    alive = ints(r.get("edge_alive", ""))
    errs = ints(r.get("edge_err", ""))
    r["edge"] = []
    for e in range(edges):
        kib = (rss1[e] - rss0[e]) / per_target[e] if per_target[e] else None
        cpu = (c1[e] - c0[e]) / tick if c0[e] >= 0 and c1[e] >= 0 else None
        ocpu = (o1[e] - o0[e]) / tick
        ed = {"open_cpu_s": ocpu, "open_cpu_ms_per_conn": 1000 * ocpu / per_target[e] if per_target[e] else None,
              "conns": per_target[e], "rss0_kib": rss0[e], "rss1_kib": rss1[e], "rss_end_kib": rss2[e],
              "kib_per_conn": kib, "cpu_s": cpu, "cpu_pct": 100 * cpu / wall if cpu is not None and wall > 0 else None,
              "alive": alive[e] if e < len(alive) else None, "stderr_lines": errs[e] if e < len(errs) else None}
        r["edge"].append(ed)
        rows.append([e, per_target[e], f(rss0[e] / 1024), f(rss1[e] / 1024), f(kib),
                     f(rss2[e] / 1024) if e != killed else "killed", f(ocpu), f(ed["open_cpu_ms_per_conn"], 2), f(cpu),
                     f(ed["cpu_pct"], 0)])
    kibs = [x["kib_per_conn"] for x in r["edge"] if x["kib_per_conn"] is not None]
    r["kib_per_conn_max"] = max(kibs) if kibs else None
    r["relay_cpu_s"] = (r["relay_cpu1"] - r["relay_cpu0"]) / tick
    r["redis_cpu_s"] = (r["redis_cpu1"] - r["redis_cpu0"]) / tick
    r["client_cpu_s"] = (r["ccpu1"] - r["ccpu0"]) / tick
    # Redis: the stream's own bytes per entry, and per entry the writer added
    if r.get("r1_xlen"):
        r["stream_bytes_per_entry"] = r["r1_stream_bytes"] / r["r1_xlen"]
    dx = r.get("r1_xlen", 0) - r.get("r0_xlen", 0)
    if dx > 0:
        r["stream_bytes_per_change"] = (r["r1_stream_bytes"] - r["r0_stream_bytes"]) / dx
        r["used_memory_per_change"] = (r["r1_used_memory"] - r["r0_used_memory"]) / dx
    try:
        with open(os.path.join(run, "redis_fill.json")) as fh:
            r["redis_fill"] = json.load(fh)
    except (OSError, ValueError):
        pass
    # the kill: resumes
    res = []
    for p in glob.glob(os.path.join(run, "resume.*")):
        with open(p) as fh:
            for line in fh:
                x = line.split()
                if len(x) >= 6:
                    res.append([int(v) for v in x[:6]])
    if res:
        done = sorted((d - l) / 1000 for l, d, ok, *_ in res if ok >= 0)
        r["resume_ms_p50"] = pct(done, 50)
        r["resume_ms_max"] = done[-1] if done else None
        r["first_loss_us"] = min(x[0] for x in res)
        r["last_resumed_us"] = max(x[1] for x in res if x[2] >= 0) if done else None
        if r["last_resumed_us"]:
            r["resume_span_s"] = (r["last_resumed_us"] - r["first_loss_us"]) / 1e6
            if r.get("kill_us"):
                r["kill_to_last_s"] = (r["last_resumed_us"] - r["kill_us"]) / 1e6
        moved = [0] * edges
        for x in res:
            if x[2] == 1 and 0 <= x[4] < edges:
                moved[x[4]] += 1
        r["moved_to"] = moved
    # anomalies
    bad = []
    if r.get("opened") != r["n"]:
        bad.append("%s of %s subscribers opened" % (r.get("opened"), r["n"]))
    if r["failed"]:
        bad.append("%d failed to open" % r["failed"])
    if r["lost"]:
        bad.append("LOST %d" % r["lost"])
    if not r["caught_up"]:
        bad.append("not every subscriber caught up within the drain")
    if r["order_errors"]:
        bad.append("%d seq order errors" % r["order_errors"])
    if r["error_msgs"]:
        bad.append("%d error messages" % r["error_msgs"])
    if r["clients_without_result"]:
        bad.append("%d wsload without a result" % r["clients_without_result"])
    if r["writer"].get("errors"):
        bad.append("writer: %s" % "; ".join(r["writer"]["errors"]))
    for e, ed in enumerate(r["edge"]):
        if e != killed and ed["alive"] == 0:
            bad.append("edge %d DIED" % e)
        if e != killed and ed["stderr_lines"]:
            bad.append("edge %d: %d stderr lines" % (e, ed["stderr_lines"]))
    if r["scenario"] == "kill":
        victims = per_target[killed] if 0 <= killed < edges else 0
        r["victims"] = victims
        if r["resumed_false"]:
            bad.append("%d resumed:false" % r["resumed_false"])
        if r["resume_gave_up"] or r["resume_waiting"]:
            bad.append("%d gave up, %d still waiting" % (r["resume_gave_up"], r["resume_waiting"]))
        if r["resumed_true"] != victims or r["dropped"] != victims:
            bad.append("%d resumed:true, %d dropped for %d clients of the killed edge" % (
                r["resumed_true"], r["dropped"], victims))
    elif r["dropped"]:
        bad.append("%d dropped" % r["dropped"])
    r["status"] = ", ".join(bad) or "ok"

    w = r["writer"]
    out = ["### %s — commit %s" % (meta["date"], meta["commit"]), "",
           "`%s` (%s; load average %s at the start, %s at the end)" % (
               meta["command"], meta["machine"], meta["load_start"], meta["load_end"]), ""]
    out.append("**%s**: %s wss subscribers (one per customer) on %s edges (`serve --replica-of`, --threads %s), "
               "connected straight to the edges (no proxy); a writer process commits %s changes/s for %s s at the "
               "origin (synchronous=%s); latency = receive − commit stamp in the row, per change. Subscribers "
               "opened in %s s; the edges started and caught up in %s s. Databases and Redis's AOF on %s." % (
                   r["scenario"], r["n"], edges, r["threads"], r["rate"], r["seconds"], r["sync"], r["open_s"],
                   r["edge_start_s"], r.get("tmp_fs", "?")))
    out.append("")
    out.append(table([[r["n"], edges, r.get("opened"), "%s (%s/s)" % (w.get("sent", "-"), f(w.get("rate"), 0)),
                       r["expected"], r["lost"], r["coalesced"], f(r["p50_ms"], 2), f(r["p99_ms"], 2),
                       f(r["max_ms"], 1), f(r["kib_per_conn_max"]), f(r["relay_cpu_s"], 2), f(r["redis_cpu_s"], 2),
                       f(r["client_cpu_s"], 1), r["status"]]],
                     ["subscribers", "edges", "opened", "changes sent", "expected", "lost", "coalesced", "p50 ms",
                      "p99 ms", "max ms", "KiB/conn (worst edge)", "relay CPU s", "Redis CPU s", "wsload CPU s",
                      "status"]))
    out.append("")
    out.append("Per edge (KiB/conn = (RSS %s s after the subscribers opened − RSS before) / its connections; CPU "
               "over the %.1f s from the writer's start until every subscriber had the last change; opening CPU: while the subscribers opened, TLS handshake included, and per connection):" % (
                   r.get("settle", 3), wall))
    out.append("")
    out.append(table(rows, ["edge", "connections", "RSS before MiB", "RSS open MiB", "KiB/conn", "RSS end MiB",
                            "opening CPU s", "ms/conn", "CPU s", "CPU %"]))
    out.append("")
    out.append("Redis (`INFO memory`, `MEMORY USAGE wpd:log SAMPLES 0`, `XLEN wpd:log`): used_memory %.1f MiB "
               "before the writer, %.1f MiB after (RSS %.1f MiB); the stream %.1f MiB for %s entries = %s bytes "
               "per entry; the writer's %s changes added %s bytes each to the stream (%s bytes each to "
               "used_memory). Snapshot keys (wpd:snap*, 10 min TTL) present at the end: %s." % (
                   r.get("r0_used_memory", 0) / 2**20, r.get("r1_used_memory", 0) / 2**20,
                   r.get("r1_used_memory_rss", 0) / 2**20, r.get("r1_stream_bytes", 0) / 2**20, r.get("r1_xlen"),
                   f(r.get("stream_bytes_per_entry"), 0), dx, f(r.get("stream_bytes_per_change"), 0),
                   f(r.get("used_memory_per_change"), 0), r.get("r1_snap_keys")))
    fill = r.get("redis_fill") or {}
    if fill.get("count"):
        out.append("Redis with %s retained changes (copies of the newest change entry, %s bytes of `d` each, "
                   "in a scratch stream): the stream %.1f MiB = %.0f bytes per change; used_memory grew by %.1f MiB "
                   "= %.0f bytes per change." % (
                       fill["count"], fill.get("entry_d_bytes"), fill["stream_bytes"] / 2**20,
                       fill["stream_bytes_per_entry"], (fill["used_memory_after"] - fill["used_memory_before"]) / 2**20,
                       fill["used_memory_per_entry"]))
    elif fill:
        out.append("Redis fill: %s" % fill)
    out.append("")
    if r["scenario"] == "kill":
        out.append("**Kill**: edge %s (%s clients) got `kill -9` %s s into the writing. Resumes (wsload "
                   "--resume, first attempt after 0..%s s, then backoff; another edge; `since` = last seq): "
                   "%s lost connections, %s `resumed:true`, %s `resumed:false`, %s gave up, %s failed attempts; "
                   "moved to edges %s; first loss to last resubscribed %s s (kill to last %s s); per client "
                   "p50 %s ms, max %s ms. Latency above includes the changes made while a client was moving "
                   "(delivered by the replay after its resume); the %s changes to clients that did not move: "
                   "p50 %s ms, p99 %s ms, max %s ms." % (
                       killed, r.get("victims"), r["kill_at"], r["jitter"], r["resumes"], r["resumed_true"],
                       r["resumed_false"], r["resume_gave_up"], r["resume_attempt_failures"], r.get("moved_to"),
                       f(r.get("resume_span_s"), 2), f(r.get("kill_to_last_s"), 2), f(r.get("resume_ms_p50"), 0),
                       f(r.get("resume_ms_max"), 0), r.get("stay_n"), f(r.get("stay_p50_ms"), 2),
                       f(r.get("stay_p99_ms"), 2), f(r.get("stay_max_ms"), 1)))
        out.append("")
    if reasons:
        out.append("wsload reasons: " + ", ".join("%s ×%d" % kv for kv in sorted(reasons.items())))
        out.append("")
    out.append("Writer: commit p50/p99/max %s/%s/%s ms (BEGIN IMMEDIATE to COMMIT returned)." % (
        f((w.get("commit_p50_us") or 0) / 1000, 2), f((w.get("commit_p99_us") or 0) / 1000, 2),
        f((w.get("commit_max_us") or 0) / 1000, 1)))
    print("\n".join(out))
    r["meta"] = meta
    with open(a["--results"], "w") as fh:
        json.dump(r, fh, sort_keys=True)
    if r["status"] != "ok":
        print("\ncluster_bench.sh: ANOMALIES: " + r["status"], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

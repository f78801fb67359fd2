#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The combined table of bench/run.sh, and docs/performance.md.

    run_report.py --dir RUN_DIR [--doc FILE]

RUN_DIR is bench/run.sh's temp folder: meta.json, phases.tsv, load.samples,
rest.jsonl + rest.md (bench/rest_bench.sh --json, and its printed report),
idle-N.txt (bench/idle_cpu.sh --subscribers N), push.jsonl + push.md
(bench/push_bench.sh --results, and its report), profile-*.md and perf/*.txt.

Prints the summary (every target of issue 5: waypointd's figure, nginx's or
nchan's, the ratio, met or not) and, with --doc, rewrites the generated blocks
of FILE, between "<!-- bench/run.sh NAME begin -->" and "... end -->" (NAME:
summary, details, profile), keeping everything else; a missing FILE is created
from a template. The profile block is kept as it was when the run had no
profile phase.
"""
import argparse
import json
import os
import re
import sys

sys.dont_write_bytecode = True

REST_LABEL = {
    "h1-c64": "HTTP/1.1 keep-alive, wrk -c64",
    "h1-c256": "HTTP/1.1 keep-alive, wrk -c256",
    "h2-c64-m10": "HTTP/2, h2load -c64 -m10",
    "conn-resumed": "new TLS connection per request (resumed), wrk -c32",
    "conn-full": "new TLS connection per request (full handshake), wrk -c32",
}
REST_CPU_TARGET = 1.1
OTHER_NOTE_PCT = 10.0  # mark runs during which the rest of the machine used >= 10% of a core


def load_jsonl(path):
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
    return out


def read(path, default=""):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return default


def num(v, nd=1):
    if v is None:
        return "–"
    if isinstance(v, (int, float)) and abs(v) >= 1000 and nd <= 1:
        return "{:,.0f}".format(v).replace(",", " ")
    return "%.*f" % (nd, v)


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def fmt_ratio(r):
    return "–" if r is None else "%.2f×" % r


MET, NOT_MET, NA = "met", "**not met**", "n/a"


class Summary:
    def __init__(self):
        self.rows = []
        self.notes = []

    def add(self, target, measured, reference, r, verdict):
        self.rows.append((target, measured, reference, fmt_ratio(r) if not isinstance(r, str) else r, verdict))

    def table(self):
        out = ["| target | waypointd | nginx / nchan | ratio | |", "|---|---|---|--:|---|"]
        for row in self.rows:
            out.append("| " + " | ".join(row) + " |")
        return "\n".join(out)


# ---------------------------------------------------------------- REST
def rest_rows(s, d, meta):
    runs = [r for r in load_jsonl(os.path.join(d, "rest.jsonl")) if r.get("test") != "status-probe"]
    probes = [r for r in load_jsonl(os.path.join(d, "rest.jsonl")) if r.get("test") == "status-probe"]
    if "rest" not in meta["phases"]:
        return
    if not runs:
        s.add("REST (all targets)", "no result: the REST phase failed (see its output)", "–", "–", NOT_MET)
        return
    by = {}
    for r in runs:
        by[(r["workers"], r["pinned"], r["test"], r["server"])] = r
    rows = sorted({(r["workers"], r["pinned"]) for r in runs})
    busy = []
    for w, pinned in rows:
        wl = "%d worker%s%s" % (w, "" if w == 1 else "s", " (pinned)" if pinned else "")
        for test in ("h1-c64", "h1-c256", "h2-c64-m10", "conn-resumed", "conn-full"):
            wp, ng = by.get((w, pinned, test, "waypointd")), by.get((w, pinned, test, "nginx"))
            if not wp and not ng:
                continue
            mark = ""
            for name, r in (("waypointd", wp), ("nginx", ng)):
                if r and (r.get("other_pct") or 0) >= OTHER_NOTE_PCT:
                    mark = " ¹"
                    busy.append("%s %s %s: %.0f%%" % (wl, test, name, r["other_pct"]))
            conn = test.startswith("conn-")
            unit = "conn" if conn else "req"

            def bad_answers(r):
                return bool(r and (r.get("non200") or r.get("non2xx")))

            def cell(r, full):
                if not r:
                    return "–"
                if bad_answers(r):
                    return "INVALID: %s" % r["errors"]
                t = "%s µs CPU/%s; %s %s/s" % (num(r["cpu_us_per_req"], 1), unit, num(r["rps"], 0), unit)
                if full:
                    t += "; p50 / p99 %s / %s ms" % (num((r["p50_us"] or 0) / 1000, 2), num((r["p99_us"] or 0) / 1000, 1))
                if r.get("errors"):  # socket errors, timeouts: the figures stand, with this said
                    t += "; **%s**" % r["errors"]
                return t
            rr = ratio(wp and wp.get("cpu_us_per_req"), ng and ng.get("cpu_us_per_req"))
            invalid = bad_answers(wp) or bad_answers(ng)
            if conn:
                target = "REST %s, %s: connections/s and server CPU per connection (no target; the same " \
                         "comparison)" % (REST_LABEL[test], wl)
                verdict = "INVALID" if invalid else "(reported)"
            else:
                target = "REST %s, %s: server CPU per request ≤ %.1f× nginx's" % (REST_LABEL[test], wl, REST_CPU_TARGET)
                verdict = "INVALID" if invalid else (NA if rr is None else MET if rr <= REST_CPU_TARGET else NOT_MET)
            s.add(target + mark, cell(wp, True), cell(ng, False), rr, verdict)
    if busy:
        s.notes.append("¹ Other processes (the other engineers' builds and tests) used ≥ %d%% of a core during "
                       "that run: %s." % (OTHER_NOTE_PCT, "; ".join(busy)))
    bad = [p for p in probes if p.get("non200") or p.get("errors")]
    total = sum((p.get("codes") or {}).get("200", 0) for p in probes)
    non200 = sum(r.get("non200", 0) + r.get("non2xx", 0) for r in runs)
    s.add("REST: every answer 200 (no 429: rate limits off)",
          "%s; status probes: %s × 200" % ("no answer other than 200" if not non200 and not bad else
                                           "%d answers not 200" % non200, num(total, 0)),
          "–", "–", MET if not non200 and not bad else NOT_MET)


# ---------------------------------------------------------------- idle_cpu.sh
def parse_idle(text):
    r = {}
    m = re.search(r"^idle CPU: ([0-9.]+)% of one core \(([^)]*)\)", text, re.M)
    if m:
        r["pct"] = float(m.group(1))
        r["detail"] = m.group(2)
    m = re.search(r"^wakeups: .* = ([0-9.]+)/s", text, re.M)
    if m:
        r["wakeups"] = float(m.group(1))
    m = re.search(r"^server exit on SIGTERM: (\S+)", text, re.M)
    if m:
        r["exit"] = m.group(1)
    m = re.search(r"^note: (.*)$", text, re.M)
    if m:
        r["note"] = m.group(1)
    return r


def idle_rows(s, d, meta):
    if "idle" not in meta["phases"]:
        return
    for n in meta["idle_subs"].split():
        r = parse_idle(read(os.path.join(d, "idle-%s.txt" % n)))
        what = "no connections" if n == "0" else "%s idle wss subscribers" % n
        if "pct" not in r:
            s.add("Idle server < 0.5%% of one core (%s)" % what, "no result (see the idle phase's output)", "–", "–",
                  NOT_MET)
            continue
        s.add("Idle server < 0.5%% of one core (%s, %d s)" % (what, meta["idle_secs"]),
              "%.2f%% (%.1f wake-ups/s)" % (r["pct"], r.get("wakeups", 0)), "–", "–",
              MET if r["pct"] < 0.5 else NOT_MET)


# ---------------------------------------------------------------- push
def push_rows(s, d, meta):
    recs = load_jsonl(os.path.join(d, "push.jsonl"))
    pmeta = next((r for r in recs if r.get("kind") == "meta"), {})
    recs = [r for r in recs if r.get("kind") != "meta"]
    if "push" not in meta["phases"]:
        return
    if not recs:
        s.add("Push (all targets)", "no result: the push phase failed (see its output)", "–", "–", NOT_MET)
        return

    def pick(kind, n):
        """The record at size n, else the largest size there is (and a note that it is not n)."""
        exact = [r for r in recs if r["kind"] == kind and r["n"] == n and not str(r.get("status", "")).startswith("SKIPPED")]
        if exact:
            return exact[0], ""
        rest = sorted((r for r in recs if r["kind"] == kind), key=lambda r: r["n"])
        if rest:
            return rest[-1], " (N = %s only; the target is at %s)" % (num(rest[-1]["n"], 0), num(n, 0))
        return None, " (not run)"

    rate, secs = pmeta.get("rate"), pmeta.get("seconds")
    setup_ok = rate == 500 and secs == 20
    sp, note = pick("spread", 10000)
    cond = "" if setup_ok else " (this run: %s changes/s for %s s)" % (rate, secs)
    if sp:
        ok = not note and setup_ok
        s.add("Spread, 10 000 subscribers, 500 changes/s for 20 s: commit-to-receive p50 ≤ 2 ms" + note + cond,
              "%s ms" % num(sp.get("p50_ms"), 2), "–", "–",
              (MET if sp.get("p50_ms") is not None and sp["p50_ms"] <= 2 else NOT_MET) if ok else NA)
        s.add("… p99 ≤ 10 ms" + note,
              "%s ms (max %s ms)" % (num(sp.get("p99_ms"), 2), num(sp.get("max_ms"), 1)), "–", "–",
              (MET if sp.get("p99_ms") is not None and sp["p99_ms"] <= 10 else NOT_MET) if ok else NA)
        s.add("… none lost" + note,
              "%s lost of %s (%s coalesced); %s" % (sp.get("lost", "–"), num(sp.get("expected"), 0),
                                                   sp.get("coalesced", "–"), pstatus(sp)), "–", "–",
              (MET if sp.get("lost") == 0 and sp.get("expected") else NOT_MET) if ok else NA)
    else:
        s.add("Spread, 10 000 subscribers" + note, "–", "–", "–", NA)
    bc, note = pick("broadcast", 10000)
    nc, nnote = pick("nchan", 10000)
    if bc:
        r = ratio(bc.get("last_max_ms"), nc and nc.get("last_max_ms"))
        s.add("Broadcast to 10 000 subscribers of one DC, one change: the last has it within 100 ms" + note,
              "%s ms, worst of %s rounds (p50 %s ms)" % (num(bc.get("last_max_ms"), 0), len(bc.get("rounds", [])),
                                                        num(bc.get("last_p50_ms"), 0)),
              "nchan: %s ms worst (p50 %s ms)%s" % (num(nc.get("last_max_ms"), 0), num(nc.get("last_p50_ms"), 0), nnote)
              if nc else "–", r,
              (MET if bc.get("last_max_ms") is not None and bc["last_max_ms"] <= 100 else NOT_MET) if not note else NA)
        r = ratio(bc.get("cpu_us_per_msg"), nc and nc.get("cpu_us_per_msg"))
        s.add("Broadcast to 10 000: server CPU per delivered message ≤ 0.8× nchan's" + note,
              "%s µs/msg" % num(bc.get("cpu_us_per_msg"), 1),
              "nchan: %s µs/msg%s" % (num(nc.get("cpu_us_per_msg"), 1), nnote) if nc else "–", r,
              (MET if r is not None and r <= 0.8 else NOT_MET) if not note and r is not None else NA)
    else:
        s.add("Broadcast to 10 000" + note, "–", "–", "–", NA)
    bi, note = pick("broadcast", 15000)
    ni, nnote = pick("nchan", 15000)
    if bi:
        r = ratio(bi.get("kib_per_conn"), ni and ni.get("kib_per_conn"))
        s.add("15 000 concurrent idle wss subscribers held at ≤ 32 KiB RSS each" + note,
              "%s KiB per connection" % num(bi.get("kib_per_conn"), 1),
              "nchan: %s KiB%s" % (num(ni.get("kib_per_conn"), 1), nnote) if ni else "–", r,
              (MET if bi.get("kib_per_conn") is not None and bi["kib_per_conn"] <= 32 else NOT_MET) if not note else NA)
        if bi.get("idle_pct") is not None:
            # The server pings a connection only after 30 s (+ its phase, up to 7.5 s) with no
            # traffic either way, and the window starts right after the broadcast: a window
            # that holds fewer pings than a steady state would (every subscriber once per
            # 37.5 s at most) says little about liveness's cost (bench/idle_cpu.sh with
            # --duration 60 or more does), so it is not judged.
            pings = bi.get("idle_pings") or 0
            try:
                steady = 0.8 * bi["n"] * float(pmeta.get("idle", 0)) / 37.5
            except (TypeError, ValueError):
                steady = 0
            s.add("Idle server < 0.5%% of one core, with those %s subscribers (%s s, the server's 30-s pings "
                  "included; nchan sends none)" % (num(bi["n"], 0), pmeta.get("idle", "?")),
                  "%.2f%% (%.2f%% in the %s s without a ping; %s pings)%s" % (
                      bi["idle_pct"], bi.get("idle_quiet_pct") or 0, num(bi.get("idle_quiet_s"), 0),
                      num(pings, 0), "" if steady and pings >= steady else
                      ": fewer pings than a steady state's %s fell in this window, which began just after "
                      "the broadcast (pings wait 30–37.5 s after the last traffic); see bench/idle_cpu.sh "
                      "--subscribers 15000 --duration 60 in docs/performance.md" % num(steady, 0)),
                  "nchan: %.2f%%" % ni["idle_pct"] if ni and ni.get("idle_pct") is not None else "–", "–",
                  (MET if bi["idle_pct"] < 0.5 else NOT_MET) if steady and pings >= steady else NA)


# ---------------------------------------------------------- snapshot_bench.py
def snapshot_rows(s, d, meta):
    if "snapshot" not in meta["phases"]:
        return
    text = read(os.path.join(d, "snapshot.txt"))
    shape = re.search(r"^DC of (\d+) PENDING waypoints; (\d+) dashboards at once, (\d+) rounds", text, re.M)
    during = re.search(r"while the snapshots were produced: p50 ([0-9.]+) ms, p99 ([0-9.]+) ms, max ([0-9.]+) ms",
                       text)
    quiet = re.search(r"quiet second before: p50 ([0-9.]+) ms", text)
    dash = re.search(r"snapshot received after p50 (\d+) ms, max (\d+) ms", text)
    target = ("A dispatcher opens a DC of %s pending stops (%s dashboards at once, `--threads 1`): ping round trip "
              "of another client on that thread while the snapshots go out, max ≤ 20 ms"
              % ((num(int(shape.group(1)), 0), shape.group(2)) if shape else ("?", "?")))
    if not during:
        s.add(target, "no result (see the snapshot phase's output)", "–", "–", NOT_MET)
        return
    mx = float(during.group(3))
    s.add(target, "p50 %s ms, p99 %s ms, max %s ms (quiet: p50 %s ms); dashboards had their snapshot after p50 "
                  "%s ms" % (during.group(1), during.group(2), during.group(3), quiet.group(1) if quiet else "?",
                             dash.group(1) if dash else "?"),
          "–", "–", MET if mx <= 20 else NOT_MET)


def push_anomaly_row(s, d, meta):
    """Anomalies over every push run."""
    recs = [r for r in load_jsonl(os.path.join(d, "push.jsonl")) if r.get("kind") != "meta"]
    if "push" not in meta["phases"] or not recs:
        return
    bad = ["%s %s N=%s: %s" % (r["kind"], r.get("server", ""), r["n"], pstatus(r)) for r in recs if pstatus(r) != "ok"]
    tot_lost = sum(r.get("lost") or 0 for r in recs)
    tot_opened = sum(r.get("opened") or 0 for r in recs)
    s.add("Push, every run: no message lost, no subscriber refused (no 429), every close answered",
          "%s; %s lost; %s subscribers opened" % ("; ".join(bad) if bad else "no anomaly", tot_lost, num(tot_opened, 0)),
          "–", "–", MET if not bad else NOT_MET)


def pstatus(r):
    """push_bench.sh's status text of a record (the same rules as its report)."""
    if r.get("status", "ok") != "ok":
        return r["status"]
    s = []
    for k, t in (("failed", "%d refused/failed to open"), ("dropped", "%d dropped"), ("lost", "LOST %d"),
                 ("order_errors", "%d seq order errors"), ("close_timeouts", "%d close handshakes unanswered"),
                 ("clients_without_result", "%d wsload without result"), ("error_msgs", "%d error messages")):
        if r.get(k):
            s.append(t % r[k])
    n429 = sum(v for k, v in r.get("reasons", {}).items() if "429" in k)
    if n429:
        s.append("%d × 429" % n429)
    if r.get("server_alive") == 0:
        s.append("SERVER DIED")
    if str(r.get("server_exit", "0")) not in ("0", ""):
        s.append("server exit %s" % r["server_exit"])
    if r.get("stderr_lines"):
        s.append("%s server stderr lines" % r["stderr_lines"])
    if r.get("publish_errors"):
        s.append("%s publish errors" % r["publish_errors"])
    return ", ".join(s) or "ok"


# ---------------------------------------------------------------- text
def load_range(d):
    vals = []
    for line in read(os.path.join(d, "load.samples")).splitlines():
        p = line.split()
        if len(p) >= 2:
            try:
                vals.append(float(p[1]))
            except ValueError:
                pass
    if not vals:
        return None
    return min(vals), max(vals), sum(vals) / len(vals)


def phases_text(d):
    out = []
    for line in read(os.path.join(d, "phases.tsv")).splitlines():
        p = line.split("\t")
        if len(p) == 5:
            out.append("%s: %s min, exit %s, load %s → %s" % (p[0], int(p[2]) // 60, p[1], p[3], p[4]))
    return out


def demote(md, by=1):
    """Markdown headings one level deeper."""
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + by) + " ", md, flags=re.M)


def header(meta, d):
    lr = load_range(d)
    lines = ["**Run of %s**, %s minutes: `%s`" % (meta["date"], meta["minutes"], meta["command"]), ""]
    lines.append("- Measured: waypointd at %s; %s (HEAD `%s`%s)." % (
        meta["commit"], meta["build"], meta["head"][:12],
        "; HEAD moved to %s during the run" % meta["head_at_end"] if not meta["head"].startswith(meta["head_at_end"])
        else ""))
    if meta["changed"]:
        lines.append("- Uncommitted files in the build (the work tree is shared with other engineers): %s." %
                     ", ".join("`%s`" % c for c in meta["changed"]))
    lines.append("- Machine: %d cores, Linux %s; server, load generators and other engineers' builds and tests "
                 "all share it. Load average %s at the start, %s at the end%s." % (
                     meta["cores"], meta["kernel"], meta["load_before"], meta["load_after"],
                     "; over the run (1-min average every 10 s) min %.2f, mean %.2f, max %.2f" % (lr[0], lr[2], lr[1])
                     if lr else ""))
    ph = phases_text(d)
    if ph:
        lines.append("- Phases: " + "; ".join(ph) + ".")
    lines.append("- waypointd runs with `--rate-limit-addr 0 --rate-limit-key 0` (its default limits would answer "
                 "this load with 429s); `--threads` as the worker count of each REST row, 2 for the push and idle "
                 "runs.")
    return "\n".join(lines)


def summary_md(meta, d):
    s = Summary()
    rest_rows(s, d, meta)
    push_rows(s, d, meta)
    idle_rows(s, d, meta)
    snapshot_rows(s, d, meta)
    push_anomaly_row(s, d, meta)
    parts = [header(meta, d), "", s.table()]
    if s.notes:
        parts += [""] + s.notes
    parts += ["", "Ratio = waypointd ÷ nginx (REST) or ÷ nchan (push): below 1 is better for waypointd. CPU = "
              "utime + stime of the server process(es) from /proc/PID/stat over the measured window. The tables "
              "of this run, with every figure behind these, are under [The latest run](#the-latest-run)."]
    return "\n".join(parts), s


def details_md(meta, d):
    parts = []
    if "rest" in meta["phases"]:
        parts += ["### REST: waypointd against nginx's static file", "",
                  "`bench/rest_bench.sh --workers \"%s\" --tests \"%s\" --duration %d --quiet-wait %d%s` "
                  "(run by bench/run.sh with `WAYPOINTD=` its build):" % (
                      meta["rest_workers"], meta["rest_tests"], meta["rest_duration"], meta["quiet_wait"],
                      (" " + meta["rest_extra"]) if meta["rest_extra"] else ""), "",
                  demote(read(os.path.join(d, "rest.md")).strip(), 1), ""]
    if "idle" in meta["phases"]:
        parts += ["### Idle server (bench/idle_cpu.sh)", ""]
        for n in meta["idle_subs"].split():
            parts += ["`bench/idle_cpu.sh --subscribers %s --duration %d`:" % (n, meta["idle_secs"]), "", "```",
                      read(os.path.join(d, "idle-%s.txt" % n)).strip(), "```", ""]
    if "push" in meta["phases"]:
        parts += ["### Push: spread, broadcast, idle; nchan's broadcast beside it", "",
                  "`bench/push_bench.sh --sizes \"%s\" --scenarios \"%s\"%s` (run by bench/run.sh with "
                  "`--binary` its build):" % (meta["sizes"], meta["scenarios"],
                                               (" " + meta["push_extra"]) if meta["push_extra"] else ""), "",
                  demote(read(os.path.join(d, "push.md")).strip(), 1), ""]
    if "snapshot" in meta["phases"]:
        parts += ["### A dispatcher's large DC (bench/snapshot_bench.py)", "",
                  "`bench/snapshot_bench.py%s` (run by bench/run.sh with `--binary` its build):" % (
                      (" " + meta["snapshot_extra"]) if meta.get("snapshot_extra") else ""), "", "```",
                  read(os.path.join(d, "snapshot.txt")).strip(), "```", ""]
    return "\n".join(parts).rstrip() + "\n"


def perf_block(title, base, what):
    parts = ["#### %s" % title, ""]
    for suffix, caption in (("dso", "by shared object (self)"), ("self", "by symbol, self (`--no-children`)"),
                            ("children", "by symbol with what it calls (`--children`; named symbols only)"),
                            ("callers", "call chains of the largest (`-g graph,5,callee`)")):
        if suffix not in what:
            continue
        t = read(base + "." + suffix + ".txt").strip()
        if not t:
            continue
        parts += ["%s:" % caption.capitalize(), "", "```", t, "```", ""]
    return parts


def profile_md(meta, d):
    pdir = os.path.join(d, "perf")
    if "profile" not in meta["phases"] or not os.path.isdir(pdir):
        return None
    n = meta["profile_n"]
    parts = ["Profiled on %s, %s, in runs of their own after the measured ones (their figures are not used "
             "above). `perf record %s -p PID` ran on the server process (nginx: master and worker) for exactly "
             "the measured window: the 5 broadcast rounds to %s subscribers (`bench/push_bench.sh --sizes %s "
             "--scenarios \"broadcast nchan\" --idle 0 --perf DIR`), and the h2load and wrk -c64 runs with one "
             "pinned worker (`bench/rest_bench.sh --workers 1 --tests \"h2-c64-m10 h1-c64\" --perf DIR`). "
             "Reports (perf's comment lines but the sample count left out): "
             "`perf report -i F --no-children --stdio -g none --sort dso`, "
             "`perf report -i F --no-children --stdio -g none --percent-limit 0.5 | head -45`, "
             "`perf report -i F --children --stdio -g none --percent-limit 2 | head -50` (lines of unnamed "
             "addresses left out: Debian ships no debug symbols for the static functions of libwebsockets and "
             "OpenSSL), and `perf report -i F --no-children --stdio -g graph,5,callee --percent-limit 3 "
             "--max-stack 16 | head -150`."
             % (meta["date"], meta["commit"], meta["perf_opts"], num(n, 0), n), ""]
    rows = []
    for kind, label in (("profile-push.jsonl", "broadcast"), ("profile-rest.jsonl", "rest")):
        for r in load_jsonl(os.path.join(d, kind)):
            if label == "broadcast" and r.get("kind") in ("broadcast", "nchan"):
                rows.append("%s N=%s: %s µs CPU/msg, last %s ms (under perf)" % (
                    r.get("server"), r.get("n"), num(r.get("cpu_us_per_msg"), 1), num(r.get("last_max_ms"), 0)))
            elif label == "rest" and r.get("test") != "status-probe":
                rows.append("%s %s: %s µs CPU/req, %s req/s (under perf)" % (
                    r.get("server"), r.get("test"), num(r.get("cpu_us_per_req"), 1), num(r.get("rps"), 0)))
    if rows:
        parts += ["The profiled runs' own figures: " + "; ".join(rows) + ".", ""]
    for f, title, what in (
            ("push-broadcast-%d" % n, "waypointd, broadcast to %s subscribers" % num(n, 0), "dso self children callers"),
            ("push-nchan-%d" % n, "nginx + nchan, broadcast to %s subscribers" % num(n, 0), "dso self children"),
            ("rest-1-h2-c64-m10-waypointd", "waypointd, HTTP/2 (h2load -c64 -m10), 1 thread", "dso self children callers"),
            ("rest-1-h2-c64-m10-nginx", "nginx, HTTP/2 (h2load -c64 -m10), 1 worker", "dso self children"),
            ("rest-1-h1-c64-waypointd", "waypointd, HTTP/1.1 (wrk -c64), 1 thread", "dso self children"),
            ("rest-1-h1-c64-nginx", "nginx, HTTP/1.1 (wrk -c64), 1 worker", "dso self")):
        base = os.path.join(pdir, f)
        if os.path.exists(base + ".self.txt"):
            parts += perf_block(title, base, what)
    return "\n".join(parts).rstrip() + "\n"


TEMPLATE = """# Performance

How cheaply waypointd serves the Customers API and pushes live changes, measured side by side with
nginx (the same JSON as a static file) and nginx + nchan (pub/sub over wss) on this 2-core machine,
in one run of one command, `bench/run.sh`, against the targets in the first table. Older runs, and the details of each method,
are in [performance-rest.md](performance-rest.md) and [performance-push.md](performance-push.md).

## Where things stand

<!-- bench/run.sh summary begin -->
<!-- bench/run.sh summary end -->

## Rerunning it

```sh
bench/run.sh            # everything, and this page's generated parts rewritten
bench/run.sh --quick    # N = 1000 only, short runs, no profile; prints the table, leaves this page alone
bench/run.sh --help
```

## The latest run

<!-- bench/run.sh details begin -->
<!-- bench/run.sh details end -->

## Profiles

<!-- bench/run.sh profile begin -->
<!-- bench/run.sh profile end -->
"""


def put_block(doc, name, text):
    begin, end = "<!-- bench/run.sh %s begin -->" % name, "<!-- bench/run.sh %s end -->" % name
    i, j = doc.find(begin), doc.find(end)
    if i < 0 or j < i:
        doc = doc.rstrip("\n") + "\n\n" + begin + "\n" + end + "\n"
        i, j = doc.find(begin), doc.find(end)
    return doc[:i + len(begin)] + "\n" + text.strip("\n") + "\n" + doc[j:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--doc")
    a = ap.parse_args()
    with open(os.path.join(a.dir, "meta.json")) as f:
        meta = json.load(f)
    summary, _ = summary_md(meta, a.dir)
    print("=" * 100)
    print("bench/run.sh: issue 5's targets")
    print("=" * 100)
    print(summary)
    if not a.doc:
        return
    doc = read(a.doc) or TEMPLATE
    doc = put_block(doc, "summary", summary)
    doc = put_block(doc, "details", details_md(meta, a.dir))
    prof = profile_md(meta, a.dir)
    if prof:
        doc = put_block(doc, "profile", prof)
    with open(a.doc + ".tmp", "w") as f:
        f.write(doc)
    os.replace(a.doc + ".tmp", a.doc)


if __name__ == "__main__":
    main()

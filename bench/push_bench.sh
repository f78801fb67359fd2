#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# push_bench.sh — the live push benchmark of waypointd, side by side with
# nginx + nchan. One command: installs what is missing (Debian packages),
# builds a Release waypointd (build-bench/) and the load client
# bench/wsload.c, runs the scenarios on 127.0.0.1 only and prints a table
# with the date and the git commit (--doc appends it to the older runs in
# docs/performance-push.md; bench/run.sh runs this script and writes
# docs/performance.md). See docs/performance-push.md for what each figure
# means. waypointd runs with --rate-limit-addr 0 --rate-limit-key 0: with its
# default limits the subscribers would be refused with 429s.
#
#   bench/push_bench.sh                        # N = 1000 10000 15000
#   bench/push_bench.sh --sizes "1000"         # a quick run
#   bench/push_bench.sh --help
#
# Scenarios, for each N (a size that does not fit or fails is skipped, and the
# table says so):
#   spread     waypointd: N subscribers, one per customer; a writer process
#              commits --rate changes/s for --seconds s to random customers'
#              waypoints, each its own transaction, with its commit time (µs
#              since the epoch) in waypoints.estimated_time_of_arrival.
#   broadcast  waypointd: N subscribers of one DC (a DC of one waypoint, so the
#              snapshots stay small); RSS per connection --settle s after they
#              opened; --rounds changes --gap s apart (time until the last
#              subscriber has each; server CPU per delivered message); then
#              --idle s with nothing happening (idle CPU, sampled every second
#              with the server's pings counted by the clients).
#   nchan      the same as broadcast against nginx + nchan (bench/nchan/),
#              published with curl.
# Every wait has a time limit; every process started is stopped on exit.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SIZES="1000 10000 15000"
RATE=500
SECS=20
ROUNDS=5
GAP=1
IDLE=30
SETTLE=3
DRAIN=30
PER_PROC=5000
THREADS=2
CONCURRENCY=200
CONNECT_TIMEOUT=180
SYNC=NORMAL
SCENARIOS="spread broadcast nchan"
INSTALL=1
DOC=0
BINARY=
WSLOAD_BIN=
RESULTS_OUT=
PERF_DIR=
KEEP=0
BUILD_DIR=$REPO/build-bench
DOC_FILE=$REPO/docs/performance-push.md
ARGS_GIVEN="$*"

usage() {
    cat <<EOF
usage: bench/push_bench.sh [options]
  --sizes "N ..."      subscriber counts (default: "$SIZES")
  --scenarios "..."    any of: spread broadcast nchan (default: "$SCENARIOS")
  --rate R             spread: commits per second (default $RATE)
  --seconds T          spread: seconds of writing (default $SECS)
  --rounds R           broadcast: changes, one at a time (default $ROUNDS)
  --gap S              broadcast: seconds between them (default $GAP)
  --idle S             idle CPU window (default $IDLE)
  --settle S           wait after the last connection opened, before measuring (default $SETTLE)
  --drain S            wait at most S s for the last messages (default $DRAIN)
  --per-proc N         connections per wsload process (default $PER_PROC; each process
                       may hold at most 20,000 open files)
  --threads N          waypointd serve --threads (default $THREADS)
  --sync MODE          the writer's PRAGMA synchronous: NORMAL (default) or FULL
  --build-dir DIR      where to build waypointd and wsload (default build-bench)
  --binary FILE        measure this waypointd instead of building one
  --wsload FILE        use this wsload instead of building one
  --results FILE       also write the results (JSON lines, one per scenario and size)
  --perf DIR           perf record the server during each broadcast's rounds
                       (profiling: the CPU figures then include perf's cost);
                       PERF_RECORD_OPTS="..." sets perf's options (-F 999 -g)
  --no-install         do not apt-get install what is missing
  --doc                append the tables to docs/performance-push.md (older runs)
  --no-doc             do not (the default)
  --keep               keep the temp folder (logs, latencies)
The run exits 1 when any scenario had an anomaly (a subscriber refused, a 429,
a lost message, a dropped connection, a server that died...), after the table.
EOF
}

while [ $# -gt 0 ]; do
    case $1 in
    --sizes) SIZES=$2; shift ;;
    --scenarios) SCENARIOS=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --seconds) SECS=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --gap) GAP=$2; shift ;;
    --idle) IDLE=$2; shift ;;
    --settle) SETTLE=$2; shift ;;
    --drain) DRAIN=$2; shift ;;
    --per-proc) PER_PROC=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --sync) SYNC=$2; shift ;;
    --build-dir) BUILD_DIR=$2; shift ;;
    --no-install) INSTALL=0 ;;
    --no-doc) DOC=0 ;;
    --doc) DOC=1 ;;
    --binary) BINARY=$2; shift ;;
    --wsload) WSLOAD_BIN=$2; shift ;;
    --results) RESULTS_OUT=$2; shift ;;
    --perf) PERF_DIR=$2; shift ;;
    --keep) KEEP=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "push_bench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
for v in RATE SECS ROUNDS IDLE SETTLE DRAIN PER_PROC THREADS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "push_bench.sh: --${v,,} must be a whole number" >&2; exit 2; }
done
[[ $GAP =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "push_bench.sh: --gap must be a number" >&2; exit 2; }
for n in $SIZES; do [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "push_bench.sh: bad size $n" >&2; exit 2; }; done
case $SYNC in NORMAL | FULL) ;; *) echo "push_bench.sh: --sync NORMAL or FULL" >&2; exit 2 ;; esac
((PER_PROC >= 1 && PER_PROC <= 19000)) || { echo "push_bench.sh: --per-proc 1..19000" >&2; exit 2; }

say() { printf '[push_bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { say "error: $*"; exit 1; }
. "$REPO/bench/lib.sh"

# --------------------------------------------------------------- cleanup
PIDS=()
TMP=
cleanup() {
    local p left
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 50); do
        left=0
        for p in "${PIDS[@]}"; do alive "$p" && left=1; done
        ((left)) || break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    if [ -n "$TMP" ] && [ -d "$TMP" ]; then
        if ((KEEP)); then say "kept $TMP"; else rm -rf "$TMP"; fi
    fi
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# --------------------------------------------------------------- 1. install
NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so
install_missing() {
    local pkgs=(gcc libc6-dev cmake pkg-config libssl-dev libwebsockets-dev libwebsockets-evlib-ev libev-dev
        libjson-c-dev libsqlite3-dev libhiredis-dev libcurl4-openssl-dev sqlite3 python3 curl openssl procps)
    [[ " $SCENARIOS " == *" nchan "* ]] && pkgs+=(nginx libnginx-mod-nchan)
    bench_install "${pkgs[@]}"
}
install_missing
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

# --------------------------------------------------------------- 2. build
bench_build
# bench/run.sh builds once and says what it built.
[ -z "${BENCH_COMMIT:-}" ] || COMMIT=$BENCH_COMMIT
if [ -n "$PERF_DIR" ]; then
    command -v perf >/dev/null || die "--perf needs perf (apt-get install linux-perf)"
    mkdir -p "$PERF_DIR"
    PERF_DIR=$(cd "$PERF_DIR" && pwd)
fi

# --------------------------------------------------------------- 3. set-up
TMP=$(mktemp -d /tmp/push-bench.XXXXXX)
chmod 755 "$TMP"
# Run copies: a rebuild of build-bench/ during the run must not change what is measured.
cp "$BINARY" "$TMP/waypointd"
cp "$WSLOAD_BIN" "$TMP/wsload"
WAYPOINTD=$TMP/waypointd
WSLOAD=$TMP/wsload
CERT=$TMP/dev-cert.pem
KEYF=$TMP/dev-key.pem
sh "$REPO/certs/make-dev-cert.sh" "$TMP" >/dev/null
# The database has a folder of its own: the server watches its folder with inotify.
mkdir "$TMP/db"
DB=$TMP/db/bench.db
MAXN=1
for n in $SIZES; do ((n > MAXN)) && MAXN=$n; done
"$WAYPOINTD" init --db "$DB" >/dev/null
say "database: DC 'bench' with $MAXN customers (one waypoint each), DC 'bench-bc' with one"
sqlite3 "$DB" <<SQL
BEGIN;
INSERT INTO dcs(id, name) VALUES ('bench', 'Benchmark DC'), ('bench-bc', 'Broadcast DC');
WITH RECURSIVE s(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM s WHERE x + 1 < $MAXN)
INSERT INTO customers(dc_id, id, name) SELECT 'bench', printf('c%06d', x), 'Customer ' || x FROM s;
WITH RECURSIVE s(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM s WHERE x + 1 < $MAXN)
INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, waypoints_ahead)
    SELECT 'bench', printf('w%06d', x), printf('c%06d', x), 'r1', 'PENDING', 0 FROM s;
INSERT INTO customers(dc_id, id, name) VALUES ('bench-bc', 'b0', 'Dashboard customer');
INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, waypoints_ahead)
    VALUES ('bench-bc', 'bw0', 'b0', 'r1', 'PENDING', 0);
COMMIT;
SQL
KEY=$("$WAYPOINTD" key create --db "$DB" --name bench --all-dcs)
seq 0 $((MAXN - 1)) | awk '{printf "c%06d\n", $1}' >"$TMP/customers.txt"
RESULTS=$TMP/results.jsonl
if [ -n "$RESULTS_OUT" ]; then
    mkdir -p "$(dirname "$RESULTS_OUT")"
    RESULTS_OUT=$(cd "$(dirname "$RESULTS_OUT")" && pwd)/$(basename "$RESULTS_OUT")
fi
: >"$RESULTS"
CLK_TCK=$(getconf CLK_TCK)
HARD_NOFILE=$(ulimit -Hn)
ulimit -n "$HARD_NOFILE" 2>/dev/null || true
NOFILE=$(ulimit -n)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# The helper: the writer process, merging the clients' figures, the table.
cat >"$TMP/pb.py" <<'PYEOF'
import glob, json, os, random, sqlite3, sys, time


def pct(v, q):
    """Nearest-rank percentile of an ascending list."""
    if not v:
        return None
    r = -(-q * len(v) // 100)
    return v[max(1, min(len(v), int(r))) - 1]


def writer(argv):
    """Commits COUNT changes, one transaction each, INTERVAL s apart on a fixed schedule.
    The row's estimated_time_of_arrival gets the commit stamp: time.time_ns()//1000 taken
    inside the transaction just before the UPDATE (strictly increasing). Log line per change:
    DC CUSTOMER STAMP_US COMMIT_RETURNED_US."""
    a = dict(zip(argv[::2], argv[1::2]))
    count, interval = int(a["--count"]), float(a["--interval"])
    con = sqlite3.connect(a["--db"], isolation_level=None, timeout=10)
    con.execute("PRAGMA busy_timeout = 10000")
    con.execute("PRAGMA synchronous = " + a["--sync"])
    mode = con.execute("PRAGMA journal_mode").fetchone()[0]
    rng = random.Random(1)
    dc, n = a["--dc"], int(a.get("--customers", "0"))
    fixed = a.get("--customer")
    log = open(a["--log"], "w")
    commit, errors, last = [], [], 0
    start = time.monotonic()
    stop_at = start + float(a["--deadline"])
    first = done = None
    for i in range(count):
        target = start + i * interval
        now = time.monotonic()
        if now > stop_at:
            errors.append("deadline passed after %d changes" % i)
            break
        if target > now:
            time.sleep(target - now)
        if fixed:
            cust, wp = fixed, a["--waypoint"]
        else:
            k = rng.randrange(n)
            cust, wp = "c%06d" % k, "w%06d" % k
        try:
            con.execute("BEGIN IMMEDIATE")
            st = max(time.time_ns() // 1000, last + 1)
            rows = con.execute("UPDATE waypoints SET estimated_time_of_arrival = ? WHERE dc_id = ? AND id = ?",
                               (st, dc, wp)).rowcount
            con.execute("COMMIT")
        except sqlite3.Error as e:
            errors.append(str(e))
            try:
                con.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            continue
        done = time.time_ns() // 1000
        last = st
        if rows != 1:
            errors.append("%s: %d rows" % (wp, rows))
            continue
        first = first if first is not None else st
        log.write("%s %s %d %d\n" % (dc, cust, st, done))
        commit.append(done - st)
    log.close()
    commit.sort()
    sent = len(commit)
    json.dump({"sent": sent, "requested": count, "errors": errors[:5], "journal_mode": mode,
               "synchronous": a["--sync"],
               "rate": (sent - 1) / ((done - first) / 1e6) if sent > 1 and done > first else None,
               "commit_p50_us": pct(commit, 50), "commit_p99_us": pct(commit, 99),
               "commit_max_us": commit[-1] if commit else None}, sys.stdout)
    print()


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
                    if word == "mark":
                        d.setdefault("marks", []).append(d[word])
                        d["mark"] = d["marks"][0]
    except OSError:
        pass
    return d


def num(s):
    try:
        return int(s)
    except ValueError:
        try:
            return float(s)
        except ValueError:
            return s


def merge(argv):
    """One result record from a run folder's wsload outputs, plus KEY=VALUE figures."""
    rec = {}
    for kv in argv:
        k, _, v = kv.partition("=")
        rec[k] = num(v)
    run = rec.pop("run")
    outs = [read_wl(p) for p in sorted(glob.glob(os.path.join(run, "wl.*.out")))]
    rec["procs"] = len(outs)
    rec["per_proc"] = []
    for o in outs:
        rd, rs = o.get("ready", {}), o.get("result", {})
        rec["per_proc"].append({k: v for k, v in (("opened", rd.get("opened")), ("failed", rd.get("failed")),
                                                 ("open_s", rd.get("open_s")), ("received", rs.get("received")),
                                                 ("expected", rs.get("expected")), ("lost", rs.get("lost")),
                                                 ("p50_us", rs.get("p50_us")), ("p99_us", rs.get("p99_us")),
                                                 ("max_us", rs.get("max_us")), ("msgs_per_s", rs.get("msgs_per_s")))})
    reasons = {}
    for o in outs:
        # each line lists every reason so far: take the last line's counts, per process
        last = {}
        for part in ("ready", "result", "closed"):
            last.update(o.get(part, {}).get("reasons", {}))
        for k, v in last.items():
            reasons[k] = reasons.get(k, 0) + v
    rec["reasons"] = reasons
    rec["opened"] = sum(o.get("ready", {}).get("opened", 0) for o in outs)
    rec["failed"] = sum(o.get("ready", {}).get("failed", 0) for o in outs)
    rec["open_s"] = max((o.get("ready", {}).get("open_s", 0) for o in outs), default=None)
    rec["clients_without_result"] = sum(1 for o in outs if "result" not in o)
    for k in ("received", "expected", "delivered", "exact", "coalesced", "lost", "dropped", "order_errors",
              "error_msgs", "unstamped", "negative", "pings", "conns_expecting", "conns_caught_up"):
        rec[k] = sum(o.get("result", {}).get(k, 0) for o in outs)
    rec["caught_up"] = all(o.get("result", {}).get("caught_up", False) for o in outs) and bool(outs)
    rec["closed_clean"] = sum(o.get("closed", {}).get("closed_clean", 0) for o in outs)
    # pings from the server: in the measured window (mark .. result) and after it (result .. closed)
    if all("mark" in o and "result" in o for o in outs) and outs:
        rec["pings_window"] = sum(o["result"]["pings"] - o["mark"]["pings"] for o in outs)
    if all("closed" in o and "result" in o for o in outs) and outs:
        rec["pings_after"] = sum(o["closed"].get("pings", 0) - o["result"]["pings"] for o in outs)
        rec["dropped_after"] = sum(o["closed"].get("dropped", 0) - o["result"]["dropped"] for o in outs)
    rec["close_timeouts"] = sum(o.get("closed", {}).get("close_timeouts", 0) for o in outs)
    firsts = [o["result"]["first_stamp_us"] for o in outs if o.get("result", {}).get("first_stamp_us", -1) > 0]
    lasts = [o["result"]["last_recv_us"] for o in outs if o.get("result", {}).get("last_recv_us", -1) > 0]
    if firsts and lasts and max(lasts) > min(firsts):
        rec["msgs_per_s"] = rec["received"] / ((max(lasts) - min(firsts)) / 1e6)
    lat, per_stamp = [], {}
    for p in glob.glob(os.path.join(run, "lat.*")):
        with open(p) as f:
            for line in f:
                s, l, _ = line.split()
                s, l = int(s), int(l)
                lat.append(l)
                m = per_stamp.get(s)
                per_stamp[s] = [1, l] if m is None else [m[0] + 1, max(m[1], l)]
    lat.sort()
    rec["lat_n"] = len(lat)
    for q in (50, 99):
        rec["p%d_ms" % q] = pct(lat, q) / 1000 if lat else None
    rec["max_ms"] = lat[-1] / 1000 if lat else None
    rec["min_ms"] = lat[0] / 1000 if lat else None
    if rec.get("kind") != "spread":
        rounds = [{"n": c, "last_ms": m / 1000} for _, (c, m) in sorted(per_stamp.items())]
        rec["rounds"] = rounds
        lasts_ms = sorted(r["last_ms"] for r in rounds)
        rec["last_p50_ms"] = pct(lasts_ms, 50)
        rec["last_max_ms"] = lasts_ms[-1] if lasts_ms else None
    wj = os.path.join(run, "writer.json")
    if os.path.exists(wj):
        with open(wj) as f:
            try:
                rec["writer"] = json.load(f)
            except ValueError:
                rec["writer"] = {"errors": ["no output"]}
    tick = rec.get("clk_tck", 100)
    if "cpu0" in rec and "cpu1" in rec:
        cpu = (rec["cpu1"] - rec["cpu0"]) / tick
        rec["cpu_s"] = cpu
        rec["cpu_wall_s"] = rec["t1"] - rec["t0"]
        rec["cpu_pct"] = 100 * cpu / rec["cpu_wall_s"] if rec["cpu_wall_s"] > 0 else None
        rec["cpu_us_per_msg"] = 1e6 * cpu / rec["received"] if rec["received"] else None
    # the idle window, second by second: CPU in seconds without any server ping, and per ping
    samples = os.path.join(run, "idle.samples")
    if os.path.exists(samples) and outs:
        rows = [l.split() for l in open(samples) if l.strip()]
        marks = [o.get("marks", [])[1:] for o in outs]  # marks[0] came before the broadcast
        k = min([len(rows)] + [len(m) for m in marks])
        quiet_t = quiet_c = ping_t = ping_c = pings = 0
        for j in range(k - 1):
            dt = float(rows[j + 1][0]) - float(rows[j][0])
            dc = (int(rows[j + 1][1]) - int(rows[j][1])) / rec.get("clk_tck", 100)
            dp = sum(m[j + 1]["pings"] - m[j]["pings"] for m in marks)
            if dp:
                ping_t, ping_c, pings = ping_t + dt, ping_c + dc, pings + dp
            else:
                quiet_t, quiet_c = quiet_t + dt, quiet_c + dc
        rec["idle_quiet_s"] = quiet_t
        rec["idle_pings"] = pings
        if quiet_t >= 3:
            rec["idle_quiet_pct"] = 100 * quiet_c / quiet_t
            if pings:
                rec["cpu_ms_per_ping"] = 1000 * max(0.0, ping_c - quiet_c / quiet_t * ping_t) / pings
    if "idle0" in rec and "idle1" in rec:
        rec["idle_cpu_s"] = (rec["idle1"] - rec["idle0"]) / tick
        rec["idle_pct"] = 100 * rec["idle_cpu_s"] / rec["idle_wall_s"] if rec.get("idle_wall_s") else None
    if "rss0" in rec and "rss1" in rec and rec["opened"]:
        rec["kib_per_conn"] = (rec["rss1"] - rec["rss0"]) / rec["opened"]
    if "ccpu0" in rec and "ccpu1" in rec:
        rec["client_cpu_s"] = (rec["ccpu1"] - rec["ccpu0"]) / tick
    print(json.dumps(rec, sort_keys=True))


def f(v, nd=1, dash="-"):
    if v is None or v == "":
        return dash
    if isinstance(v, float):
        return "%.*f" % (nd, v)
    return str(v)


def ms(us):
    return us / 1000 if isinstance(us, (int, float)) else None


def mib(kib):
    return kib / 1024 if isinstance(kib, (int, float)) else None


def table(rows, head):
    w = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    out = ["| " + " | ".join(str(h).ljust(w[i]) for i, h in enumerate(head)) + " |",
           "|" + "|".join("-" * (x + 2) for x in w) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).rjust(w[i]) if i else str(c).ljust(w[i]) for i, c in enumerate(r)) + " |")
    return "\n".join(out)


def status(r):
    if r.get("status", "ok") != "ok":
        return r["status"]
    s = []
    if r.get("failed"):
        s.append("%d refused/failed to open" % r["failed"])
    if r.get("dropped"):
        s.append("%d dropped" % r["dropped"])
    if r.get("lost"):
        s.append("LOST %d" % r["lost"])
    if r.get("order_errors"):
        s.append("%d seq order errors" % r["order_errors"])
    if r.get("close_timeouts"):
        s.append("%d close handshakes unanswered" % r["close_timeouts"])
    if r.get("clients_without_result"):
        s.append("%d wsload without result" % r["clients_without_result"])
    n429 = sum(v for k, v in r.get("reasons", {}).items() if "429" in k)
    if n429:
        s.append("%d × 429 (rate limited!)" % n429)
    if r.get("error_msgs"):
        s.append("%d error messages" % r["error_msgs"])
    if r.get("server_alive") == 0:
        s.append("SERVER DIED")
    if str(r.get("server_exit", "0")) not in ("0", ""):
        s.append("server exit %s" % r["server_exit"])
    if r.get("stderr_lines"):
        s.append("%s server stderr lines" % r["stderr_lines"])
    if r.get("publish_errors"):
        s.append("%s publish errors" % r["publish_errors"])
    return ", ".join(s) or "ok"


def report(argv):
    a = dict(zip(argv[::2], argv[1::2]))
    rows = [json.loads(l) for l in open(a["--results"]) if l.strip()]
    meta = json.loads(a["--meta"])
    out = []
    out.append("### %s — commit %s" % (meta["date"], meta["commit"]))
    out.append("")
    out.append("`%s` (%s; load average %s at the start, %s at the end)" % (
        meta["command"], meta["machine"], meta["load_start"], meta["load_end"]))
    out.append("")
    sp = [r for r in rows if r["kind"] == "spread"]
    if sp:
        out.append("**Spread (tracking)**: N subscribers, one per customer; %s changes/s for %s s to random "
                   "customers (writer: synchronous=%s). Latency = receive − commit stamp in the row, per change."
                   % (meta["rate"], meta["seconds"], meta["sync"]))
        out.append("")
        t = []
        for r in sp:
            w = r.get("writer", {})
            t.append([r["n"], r.get("opened", "-"), "%s (%s/s)" % (w.get("sent", "-"), f(w.get("rate"), 0)),
                      f(r.get("expected"), 0), f(r.get("lost"), 0), f(r.get("coalesced"), 0),
                      f(r.get("p50_ms"), 2), f(r.get("p99_ms"), 2), f(r.get("max_ms"), 1),
                      f(r.get("msgs_per_s"), 0), f(r.get("cpu_pct"), 0), f(r.get("cpu_us_per_msg"), 0),
                      f(r.get("pings_window"), 0),
                      "%s/%s/%s" % (f(ms(w.get("commit_p50_us")), 2), f(ms(w.get("commit_p99_us")), 2),
                                    f(ms(w.get("commit_max_us")), 1)),
                      status(r)])
        out.append(table(t, ["N", "opened", "changes sent", "expected", "lost", "coalesced", "p50 ms", "p99 ms",
                             "max ms", "msgs/s", "server CPU %", "CPU µs/msg", "server pings", "writer commit p50/p99/max ms",
                             "status"]))
        out.append("")
    bc = [r for r in rows if r["kind"] in ("broadcast", "nchan")]
    if bc:
        out.append("**Broadcast (dashboard)**: N subscribers of one DC (nchan: one channel); %s changes %s s apart, "
                   "%s s after the last subscriber opened. \"last\" = time until the last subscriber had a change "
                   "(p50 and worst over the rounds); server CPU per delivered message from the first change until "
                   "every subscriber had the last one; server pings = WebSocket pings the server sent the (silent) "
                   "subscribers in that window." % (meta["rounds"], meta["gap"], meta["settle"]))
        out.append("")
        t = []
        for r in bc:
            t.append([r["server"], r["n"], r.get("opened", "-"), "%s/%s" % (f(r.get("delivered"), 0), f(r.get("expected"), 0)),
                      f(r.get("lost"), 0), f(r.get("last_p50_ms"), 1), f(r.get("last_max_ms"), 1), f(r.get("p50_ms"), 1),
                      f(r.get("cpu_us_per_msg"), 1), f(r.get("pings_window"), 0), status(r)])
        out.append(table(t, ["server", "N", "opened", "delivered/expected", "lost", "last p50 ms", "last max ms",
                             "all p50 ms", "CPU µs/msg", "server pings", "status"]))
        out.append("")
        out.append("**Idle**: the same N subscribers. KiB per connection = (RSS %s s after the last one opened − "
                   "RSS before the first) / N. Idle CPU: the %s s after the broadcast, nothing happening but the "
                   "server's own timers and pings; sampled every second: \"without pings\" over the seconds in "
                   "which no subscriber got a ping (\"quiet s\" of them), \"ms per ping\" = the CPU of the other "
                   "seconds beyond that rate, per ping." % (meta["settle"], meta["idle"]))
        out.append("")
        t = []
        for r in bc:
            t.append([r["server"], r["n"], f(mib(r.get("rss0")), 1), f(mib(r.get("rss1")), 1),
                      f(r.get("kib_per_conn"), 1), f(mib(r.get("rss3")), 1), f(mib(r.get("rss2")), 1),
                      f(r.get("idle_pct"), 2), f(r.get("idle_pings"), 0), f(r.get("idle_quiet_s"), 0),
                      f(r.get("idle_quiet_pct"), 2), f(r.get("cpu_ms_per_ping"), 2)])
        out.append(table(t, ["server", "N", "RSS before MiB", "RSS open MiB", "KiB/conn", "RSS after idle MiB",
                             "RSS after close MiB", "idle CPU % of a core", "server pings", "quiet s",
                             "without pings %", "ms per ping"]))
        out.append("")
        t = []
        for n in sorted({r["n"] for r in bc}):
            w = next((r for r in bc if r["n"] == n and r["server"] == "waypointd"), None)
            c = next((r for r in bc if r["n"] == n and r["server"] == "nchan"), None)
            if not w or not c:
                continue

            def ratio(k):
                x, y = w.get(k), c.get(k)
                return f(x / y, 2) if x is not None and y else "-"
            t.append([n, f(w.get("cpu_us_per_msg"), 1), f(c.get("cpu_us_per_msg"), 1), ratio("cpu_us_per_msg"),
                      f(w.get("kib_per_conn"), 1), f(c.get("kib_per_conn"), 1), ratio("kib_per_conn"),
                      f(w.get("idle_pct"), 2), f(c.get("idle_pct"), 2)])
        if t:
            out.append("**Side by side** (ratio = waypointd / nchan; below 1 is better for waypointd):")
            out.append("")
            out.append(table(t, ["N", "waypointd CPU µs/msg", "nchan CPU µs/msg", "ratio", "waypointd KiB/conn",
                                 "nchan KiB/conn", "ratio", "waypointd idle CPU %", "nchan idle CPU %"]))
            out.append("")
    notes = []
    for r in rows:
        tag = "%s %s N=%s" % (r["kind"], r.get("server", ""), r["n"])
        if r.get("reasons"):
            notes.append("%s: %s" % (tag, ", ".join("%s ×%d" % kv for kv in sorted(r["reasons"].items()))))
        if r.get("stderr_tail"):
            notes.append("%s: server stderr: %s" % (tag, r["stderr_tail"]))
        if r.get("writer", {}).get("errors"):
            notes.append("%s: writer: %s" % (tag, "; ".join(r["writer"]["errors"])))
        if r.get("negative"):
            notes.append("%s: %d latencies < 0 (clock read before the commit stamp? see the doc)" % (tag, r["negative"]))
        if r.get("kind") != "spread" and r.get("rounds"):
            notes.append("%s: last subscriber per round (ms): %s" % (
                tag, " ".join(f(x["last_ms"], 1) for x in r["rounds"])))
        if r.get("opened"):
            notes.append("%s: %d subscribers opened in %.1f s; load average %s at the end" % (
                tag, r["opened"], r.get("open_s") or 0, r.get("load", "-")))
        if len(r.get("per_proc", [])) > 1:
            notes.append("%s: per wsload process: %s" % (tag, "; ".join(
                "%s opened/%s failed, %s received/%s expected, %s lost, p50/p99/max %s/%s/%s ms, %s msgs/s" % (
                    p.get("opened"), p.get("failed"), p.get("received"), p.get("expected"), p.get("lost"),
                    f(ms(p.get("p50_us")), 1), f(ms(p.get("p99_us")), 1), f(ms(p.get("max_us")), 1),
                    f(p.get("msgs_per_s"), 0)) for p in r["per_proc"])))
        if r.get("client_cpu_s") is not None:
            notes.append("%s: wsload CPU %.1f s over the measured window (client and server share the 2 cores)"
                         % (tag, r["client_cpu_s"]))
    if notes:
        out.append("Notes:")
        out.append("")
        out.extend("- " + n for n in notes)
        out.append("")
    text = "\n".join(out)
    print(text)
    if a.get("--doc"):
        with open(a["--doc"], "a") as d:
            d.write("\n" + text)


def anomalies(argv):
    """One line per scenario whose status is not "ok"; exit 1 if there is any."""
    a = dict(zip(argv[::2], argv[1::2]))
    bad = 0
    for line in open(a["--results"]):
        if not line.strip():
            continue
        r = json.loads(line)
        st = status(r)
        if st != "ok":
            bad += 1
            print("%s %s N=%s: %s" % (r.get("kind"), r.get("server", ""), r.get("n"), st))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    {"writer": writer, "merge": merge, "report": report, "anomalies": anomalies}[sys.argv[1]](sys.argv[2:])
PYEOF

# --------------------------------------------------------------- helpers
cpu_ticks() { # utime + stime of a process, in clock ticks (-1 when gone)
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo -1; return; }
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    echo $((${12} + ${13}))
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
now() { echo "${EPOCHREALTIME}"; }
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*[ZX]' "/proc/$1/status" 2>/dev/null; }

forget() { # PID: no longer ours to stop
    local p keep=()
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}
STOP_RC=
stop_pid() { # PID TIMEOUT_S (a child of this shell); sets STOP_RC to its exit status
    local pid=$1
    STOP_RC=0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq $(($2 * 10))); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        STOP_RC="killed: no exit $2 s after SIGTERM"
    else
        wait "$pid" 2>/dev/null || STOP_RC=$?
    fi
    forget "$pid"
}

SRV_PID=
SRV_PORT=
start_waypointd() {
    : >"$RUN/serve.out"
    "$WAYPOINTD" serve --db "$DB" --listen 127.0.0.1:0 --cert "$CERT" --key "$KEYF" --threads "$THREADS" \
        --rate-limit-addr 0 --rate-limit-key 0 </dev/null >"$RUN/serve.out" 2>"$RUN/serve.err" &
    SRV_PID=$!
    PIDS+=("$SRV_PID")
    local line=
    for _ in $(seq 150); do
        line=$(grep -m1 '^listening on https://127.0.0.1:' "$RUN/serve.out" || true)
        [ -n "$line" ] && break
        alive "$SRV_PID" || break
        sleep 0.1
    done
    [ -n "$line" ] || { say "waypointd did not start: $(tail -3 "$RUN/serve.err")"; return 1; }
    SRV_PORT=${line##*:}
}

NG_MASTER=
NG_WORKER=
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_nchan() {
    NG_PORT=$(free_port)
    PUB_PORT=$(free_port)
    while [ "$PUB_PORT" = "$NG_PORT" ]; do PUB_PORT=$(free_port); done
    local d=$RUN/nginx
    mkdir -p "$d"
    sed -e "s#@DIR@#$d#g" -e "s#@TLS_PORT@#$NG_PORT#g" -e "s#@PUB_PORT@#$PUB_PORT#g" -e "s#@CERT@#$CERT#g" \
        -e "s#@KEY@#$KEYF#g" -e "s#@NCHAN_MODULE@#$NCHAN_MODULE#g" "$REPO/bench/nchan/nginx.conf.in" >"$d/nginx.conf"
    nginx -p "$d/" -c "$d/nginx.conf" -e "$d/nginx-error.log" </dev/null >"$RUN/serve.out" 2>"$RUN/serve.err" &
    NG_MASTER=$!
    PIDS+=("$NG_MASTER")
    NG_WORKER=
    for _ in $(seq 100); do
        NG_WORKER=$(pgrep -P "$NG_MASTER" | head -1 || true)
        if [ -n "$NG_WORKER" ] && curl -s -o /dev/null -m 2 "http://127.0.0.1:$PUB_PORT/pub?id=probe"; then break; fi
        alive "$NG_MASTER" || break
        sleep 0.1
    done
    [ -n "$NG_WORKER" ] || { say "nginx did not start: $(tail -3 "$RUN/serve.err" "$d/nginx-error.log")"; return 1; }
    PIDS+=("$NG_WORKER")
    SRV_PID=$NG_WORKER
}

CL_PIDS=()
CL_OUTS=()
start_clients() { # N DURATION wsload-args...
    local n=$1 dur=$2 procs i cnt base=0
    shift 2
    procs=$(((n + PER_PROC - 1) / PER_PROC))
    CL_PIDS=()
    CL_OUTS=()
    for ((i = 0; i < procs; i++)); do
        cnt=$((n / procs + (i < n % procs ? 1 : 0)))
        "$WSLOAD" --conns "$cnt" --index-base "$base" --src-spread --concurrency "$CONCURRENCY" --ca "$CERT" \
            --connect-timeout "$CONNECT_TIMEOUT" --duration "$dur" --drain "$DRAIN" \
            --changes-log "$RUN/changes.log" --latency-out "$RUN/lat.$i" "$@" \
            </dev/null >"$RUN/wl.$i.out" 2>"$RUN/wl.$i.err" &
        CL_PIDS+=("$!")
        PIDS+=("$!")
        CL_OUTS+=("$RUN/wl.$i.out")
        base=$((base + cnt))
    done
}
wait_clients() { # WORD TIMEOUT_S: every wsload printed the line, or ended
    local end=$((SECONDS + $2)) i all
    while ((SECONDS < end)); do
        all=1
        for i in "${!CL_PIDS[@]}"; do
            grep -q "^$1 " "${CL_OUTS[$i]}" 2>/dev/null && continue
            alive "${CL_PIDS[$i]}" && all=0
        done
        ((all)) && return 0
        sleep 0.1
    done
    say "wsload: no '$1' line within $2 s"
    return 1
}
clients_cpu() {
    local t=0 p c
    for p in "${CL_PIDS[@]}"; do
        c=$(cpu_ticks "$p")
        ((c > 0)) && t=$((t + c))
    done
    echo $t
}
mark_clients() { signal_clients USR2; wait_clients mark 10 || true; }
signal_clients() { local p; for p in "${CL_PIDS[@]}"; do kill "-$1" "$p" 2>/dev/null || true; done; }
end_clients() {
    signal_clients TERM
    wait_clients closed 60 || true
    local p
    for p in "${CL_PIDS[@]}"; do stop_pid "$p" 10; done
}
opened_total() { cat "${CL_OUTS[@]}" 2>/dev/null | sed -n 's/^ready .*"opened":\([0-9]*\).*/\1/p' | awk '{s+=$1} END {print s+0}'; }
stderr_facts() { # lines other than the normal start/stop ones, and the last 3 of them
    local f=$RUN/serve.err extra
    extra=$(grep -v -e 'signal 15: stopping' -e '^$' "$f" 2>/dev/null || true)
    if [ -n "$extra" ]; then
        STDERR_LINES=$(printf '%s\n' "$extra" | wc -l)
        STDERR_TAIL=$(printf '%s\n' "$extra" | tail -3 | tr '\n' ' ' | tr -d '"\\' | cut -c1-400)
    else
        STDERR_LINES=0
        STDERR_TAIL=
    fi
}
record() { $PY "$TMP/pb.py" merge "$@" clk_tck="$CLK_TCK" load="$(cut -d' ' -f1 /proc/loadavg)" >>"$RESULTS"; }
skip() { # KIND SERVER N REASON
    say "SKIPPED $1 $2 N=$3: $4"
    printf '{"kind":"%s","server":"%s","n":%s,"status":"SKIPPED: %s"}\n' "$1" "$2" "$3" "$4" >>"$RESULTS"
}

# --------------------------------------------------------------- 5a. spread
run_spread() {
    local n=$1 dur cpu0 cpu1 t0 t1 cc0 cc1 alive_after exitc
    RUN=$TMP/spread-$n
    mkdir -p "$RUN"
    start_waypointd || { skip spread waypointd "$n" "the server did not start"; return; }
    say "spread N=$n: opening $n subscribers (one per customer) to waypointd :$SRV_PORT"
    dur=$((CONNECT_TIMEOUT + SECS * 3 + DRAIN + 180))
    start_clients "$n" "$dur" --mode waypointd --port "$SRV_PORT" --key "$KEY" --dc bench \
        --customers-file "$TMP/customers.txt"
    wait_clients ready $((CONNECT_TIMEOUT + 30)) || true
    local opened
    opened=$(opened_total)
    if ((opened == 0)) || ! alive "$SRV_PID"; then
        end_clients
        alive "$SRV_PID" && alive_after=1 || alive_after=0
        stop_pid "$SRV_PID" 15
        exitc=$STOP_RC
        stderr_facts
        record run="$RUN" kind=spread server=waypointd n="$n" status="SKIPPED: $opened of $n opened" \
            server_alive="$alive_after" server_exit="$exitc" stderr_lines="$STDERR_LINES" stderr_tail="$STDERR_TAIL"
        say "SKIPPED spread N=$n: $opened of $n subscribers opened"
        return
    fi
    say "spread N=$n: $opened subscribed; writer: $RATE changes/s for $SECS s"
    sleep 1
    mark_clients
    cc0=$(clients_cpu)
    cpu0=$(cpu_ticks "$SRV_PID")
    t0=$(now)
    $PY "$TMP/pb.py" writer --db "$DB" --dc bench --customers "$n" --count $((RATE * SECS)) \
        --interval "$($PY -c "print(1/$RATE)")" --sync "$SYNC" --log "$RUN/changes.log" \
        --deadline $((SECS * 3 + 30)) >"$RUN/writer.json" || say "the writer failed"
    signal_clients USR1
    wait_clients result $((DRAIN + 60)) || true
    cpu1=$(cpu_ticks "$SRV_PID")
    t1=$(now)
    cc1=$(clients_cpu)
    end_clients
    alive "$SRV_PID" && alive_after=1 || alive_after=0
    stop_pid "$SRV_PID" 15
    exitc=$STOP_RC
    stderr_facts
    record run="$RUN" kind=spread server=waypointd n="$n" cpu0="$cpu0" cpu1="$cpu1" t0="$t0" t1="$t1" \
        ccpu0="$cc0" ccpu1="$cc1" server_alive="$alive_after" server_exit="$exitc" \
        stderr_lines="$STDERR_LINES" stderr_tail="$STDERR_TAIL"
    say "spread N=$n: done"
}

# ---------------------------------------------------- 5b-d. broadcast + idle
BODY_FMT='{"type":"waypoint","seq":%d,"dc_id":"bench-bc","customer_id":"b0","waypoint":{"id":"bw0","customer_id":"b0","status":"PENDING","completed_timestamp":null,"estimated_time_of_arrival":%s,"waypoints_ahead":0,"waiting_time_seconds":null,"route_id":"r1"}}'
nchan_publish() { # ROUNDS changes GAP s apart, each with curl; the stamp is taken when curl is connected
    local r code errs=0
    : >"$RUN/changes.log"
    for ((r = 1; r <= ROUNDS; r++)); do
        code=$({
            sleep 0.2
            st=${EPOCHREALTIME/./}
            # shellcheck disable=SC2059
            printf "$BODY_FMT" "$r" "$st"
            echo "bench-bc b0 $st" >>"$RUN/changes.log"
        } | curl -sS -m 10 -o /dev/null -w '%{http_code}' -H 'Expect:' -H 'Content-Type: application/json' \
            -X POST -T - "http://127.0.0.1:$PUB_PORT/pub?id=bench-bc" 2>>"$RUN/publish.err" || true)
        [[ $code == 20[0-9] ]] || errs=$((errs + 1))
        sleep "$GAP"
    done
    PUBLISH_ERRORS=$errs
}

stop_server() { # waypointd | nchan; sets STOP_RC
    if [ "$1" = nchan ]; then
        stop_pid "$NG_MASTER" 15 # SIGTERM: nginx's fast shutdown
        forget "$NG_WORKER"
    else
        stop_pid "$SRV_PID" 15
    fi
}
cpu_server() { # waypointd: the process; nginx: master + worker
    if [ "$1" = nchan ]; then echo $(($(cpu_ticks "$NG_MASTER") + $(cpu_ticks "$NG_WORKER"))); else cpu_ticks "$SRV_PID"; fi
}

run_broadcast() { # SERVER N
    local server=$1 n=$2 dur rss0 rss1 rss2 rss3 idle0 idle1 ti0 ti1 cpu0 cpu1 t0 t1 cc0 cc1 alive_after exitc opened
    RUN=$TMP/$server-bc-$n
    mkdir -p "$RUN"
    PUBLISH_ERRORS=0
    if [ "$server" = nchan ]; then
        start_nchan || { skip nchan nchan "$n" "nginx did not start"; return; }
    else
        start_waypointd || { skip broadcast waypointd "$n" "the server did not start"; return; }
    fi
    local kind=broadcast
    [ "$server" = nchan ] && kind=nchan
    sleep 1
    rss0=$(rss_kib "$SRV_PID")
    say "$kind N=$n: opening $n DC-wide subscribers to $server"
    dur=$($PY -c "print(int($CONNECT_TIMEOUT + $SETTLE + $IDLE + $ROUNDS * ($GAP + 2) + $DRAIN + 240))")
    if [ "$server" = nchan ]; then
        start_clients "$n" "$dur" --mode nchan --port "$NG_PORT" --path "/sub?id=bench-bc" --dc bench-bc
    else
        start_clients "$n" "$dur" --mode waypointd --port "$SRV_PORT" --key "$KEY" --dc bench-bc
    fi
    wait_clients ready $((CONNECT_TIMEOUT + 30)) || true
    opened=$(opened_total)
    if ((opened == 0)) || ! alive "$SRV_PID"; then
        end_clients
        alive "$SRV_PID" && alive_after=1 || alive_after=0
        stop_server "$server"
        exitc=$STOP_RC
        stderr_facts
        record run="$RUN" kind="$kind" server="$server" n="$n" status="SKIPPED: $opened of $n opened" \
            server_alive="$alive_after" server_exit="$exitc" stderr_lines="$STDERR_LINES" stderr_tail="$STDERR_TAIL"
        say "SKIPPED $kind N=$n: $opened of $n subscribers opened"
        return
    fi
    say "$kind N=$n: $opened subscribed; settling $SETTLE s, then $ROUNDS changes $GAP s apart"
    sleep "$SETTLE"
    rss1=$(rss_kib "$SRV_PID")
    mark_clients
    local perf_pid=
    if [ -n "$PERF_DIR" ]; then
        local pids=$SRV_PID
        [ "$server" = nchan ] && pids="$NG_MASTER,$NG_WORKER"
        perf record ${PERF_RECORD_OPTS:--F 999 -g} -p "$pids" -o "$PERF_DIR/push-$kind-$n.data" >"$PERF_DIR/push-$kind-$n.log" 2>&1 &
        perf_pid=$!
        PIDS+=("$perf_pid")
        sleep 1
    fi
    cc0=$(clients_cpu)
    cpu0=$(cpu_server "$server")
    t0=$(now)
    if [ "$server" = nchan ]; then
        nchan_publish
    else
        $PY "$TMP/pb.py" writer --db "$DB" --dc bench-bc --customer b0 --waypoint bw0 --count "$ROUNDS" \
            --interval "$GAP" --sync "$SYNC" --log "$RUN/changes.log" --deadline $((ROUNDS * 10 + 30)) \
            >"$RUN/writer.json" || say "the writer failed"
    fi
    signal_clients USR1
    wait_clients result $((DRAIN + 60)) || true
    cpu1=$(cpu_server "$server")
    t1=$(now)
    cc1=$(clients_cpu)
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        for _ in $(seq 300); do alive "$perf_pid" || break; sleep 0.1; done
        stop_pid "$perf_pid" 5
    fi
    say "$kind N=$n: $IDLE s idle"
    # one sample a second: the server's CPU, and (mark) the pings each client got so far
    : >"$RUN/idle.samples"
    local i
    for ((i = 0; i <= IDLE; i++)); do
        signal_clients USR2
        echo "$(now) $(cpu_server "$server")" >>"$RUN/idle.samples"
        if ((i < IDLE)); then sleep 1; fi
    done
    read -r ti0 idle0 < <(head -1 "$RUN/idle.samples")
    read -r ti1 idle1 < <(tail -1 "$RUN/idle.samples")
    sleep 0.2
    rss3=$(rss_kib "$SRV_PID")
    end_clients
    sleep 2
    rss2=$(rss_kib "$SRV_PID")
    alive "$SRV_PID" && alive_after=1 || alive_after=0
    stop_server "$server"
    exitc=$STOP_RC
    if [ "$server" = nchan ]; then
        cat "$RUN/nginx/nginx-error.log" >>"$RUN/serve.err" 2>/dev/null || true
        # nginx's own start-up notices are not misbehaviour
        sed -i -e '/\[info\]/d' -e '/\[notice\]/d' "$RUN/serve.err"
    fi
    stderr_facts
    record run="$RUN" kind="$kind" server="$server" n="$n" rss0="$rss0" rss1="$rss1" rss2="$rss2" rss3="$rss3" \
        idle0="$idle0" idle1="$idle1" idle_wall_s="$($PY -c "print($ti1 - $ti0)")" \
        cpu0="$cpu0" cpu1="$cpu1" t0="$t0" t1="$t1" ccpu0="$cc0" ccpu1="$cc1" \
        server_alive="$alive_after" server_exit="$exitc" stderr_lines="$STDERR_LINES" stderr_tail="$STDERR_TAIL" \
        publish_errors="$PUBLISH_ERRORS"
    say "$kind N=$n: done"
}

# --------------------------------------------------------------- 5. run
say "sizes: $SIZES; scenarios: $SCENARIOS; open files per process: $NOFILE; load average: $LOAD_START"
for n in $SIZES; do
    # a server holds N sockets plus a few dozen files; a wsload process at most --per-proc
    if ((n + 100 > NOFILE)); then
        for s in $SCENARIOS; do skip "$s" "$([ "$s" = nchan ] && echo nchan || echo waypointd)" "$n" \
            "N + 100 open files do not fit the limit of $NOFILE per server process"; done
        continue
    fi
    for s in $SCENARIOS; do
        case $s in
        spread) run_spread "$n" ;;
        broadcast) run_broadcast waypointd "$n" ;;
        nchan) run_broadcast nchan "$n" ;;
        *) die "unknown scenario $s" ;;
        esac
    done
done

# --------------------------------------------------------------- 6. table
NOW_HEAD=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ $COMMIT == "$NOW_HEAD"* ]] || COMMIT="$COMMIT (HEAD moved to $NOW_HEAD during the run; measured: the build from the former)"
META=$($PY - "$COMMIT" "bench/push_bench.sh $ARGS_GIVEN" "$LOAD_START" <<EOF
import json, os, platform, sys, time
print(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M %Z"), "commit": sys.argv[1], "command": sys.argv[2].strip(),
                  "machine": "%d cores, Linux %s, waypointd --threads $THREADS, nginx 1 worker" % (os.cpu_count(), platform.release()),
                  "load_start": sys.argv[3], "load_end": " ".join(open("/proc/loadavg").read().split()[:3]),
                  "rate": $RATE, "seconds": $SECS, "sync": "$SYNC", "rounds": $ROUNDS, "gap": "$GAP", "idle": $IDLE,
                  "settle": $SETTLE}))
EOF
)
DOCARG=()
((DOC)) && DOCARG=(--doc "$DOC_FILE")
echo
$PY "$TMP/pb.py" report --results "$RESULTS" --meta "$META" "${DOCARG[@]}"
((DOC)) && say "appended to ${DOC_FILE#"$REPO"/}"
if [ -n "$RESULTS_OUT" ]; then
    { cat "$RESULTS"; echo "$META" | $PY -c 'import json,sys; m=json.load(sys.stdin); m["kind"]="meta"; print(json.dumps(m))'; } \
        >"$RESULTS_OUT"
fi
if ! $PY "$TMP/pb.py" anomalies --results "$RESULTS" >"$TMP/anomalies.txt"; then
    {
        echo
        echo "################################################################################"
        echo "push_bench.sh: ANOMALIES (see the status column and the notes):"
        sed 's/^/    /' "$TMP/anomalies.txt"
        echo "################################################################################"
    } >&2
    exit 1
fi
exit 0

// SPDX-License-Identifier: MIT
// Helpers for the browser tests of the demo pages: a sandbox (certificate,
// database), the real waypointd binary on an ephemeral loopback port, the
// sqlite3 shell as an outside writer, and Debian's Chromium driven by
// playwright-core. Every wait has a deadline; every server started here is
// killed when the tests end, pass or fail.
//
// Environment: WAYPOINTD (default /tmp/build-web/waypointd), CHROMIUM (default
// /usr/bin/chromium), WAYPOINTD_SOURCE_DIR (default: two folders up).

import { execFileSync, spawn } from "node:child_process";
import { X509Certificate, createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE_DIR = process.env.WAYPOINTD_SOURCE_DIR || path.resolve(HERE, "..", "..");
export const WAYPOINTD = process.env.WAYPOINTD || "/tmp/build-web/waypointd";
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const WWW = path.join(SOURCE_DIR, "www");
// The README's screenshots are refreshed only when asked
// (SCREENSHOTS_DIR=docs/screenshots); a normal run keeps them beside the test
// output, so running the suite leaves the work tree clean.
export const SCREENSHOTS = process.env.SCREENSHOTS_DIR
    ? path.resolve(SOURCE_DIR, process.env.SCREENSHOTS_DIR)
    : path.join(HERE, "output", "screenshots");
export const OUTPUT = path.join(HERE, "output");   // failure screenshots (git-ignored)

const CMD_TIMEOUT_MS = 30000;
const START_DEADLINE_MS = 10000;
const STOP_DEADLINE_MS = 10000;

// ---- small things ------------------------------------------------------------

export const now = () => Date.now();
export const MIN = 60000;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Run a program to completion (bounded); its stdout, trimmed. Throws with stderr. */
export function run(file, args, { input, timeout = CMD_TIMEOUT_MS } = {}) {
    try {
        return execFileSync(file, args, { input, timeout, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] }).trim();
    } catch (e) {
        const why = e.code === "ETIMEDOUT" ? `timed out after ${timeout} ms` : `exit ${e.status}: ${String(e.stderr || "").trim()}`;
        throw new Error(`${path.basename(file)} ${args.join(" ")}: ${why}`);
    }
}

export const wpd = (...args) => run(WAYPOINTD, args);

/** A coordinate as an SQL literal (q() rounds numbers). */
const deg = (v) => (v == null ? "NULL" : v.toFixed(6));

/** SQL quoting for the sqlite3 shell. */
export const q = (v) => (v == null ? "NULL" : typeof v === "number" ? String(Math.round(v)) : "'" + String(v).replace(/'/g, "''") + "'");

// ---- the sandbox: certificate and database --------------------------------------

export class Sandbox {
    constructor() {
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "waypointd-e2e-"));
        this.db = path.join(this.dir, "waypoints.db");
        run("sh", [path.join(SOURCE_DIR, "certs", "make-dev-cert.sh"), this.dir]);
        this.cert = path.join(this.dir, "dev-cert.pem");
        this.key = path.join(this.dir, "dev-key.pem");
        // The base64 SHA-256 of the certificate's public key: Chromium trusts
        // exactly this certificate (--ignore-certificate-errors-spki-list).
        const spkiDer = new X509Certificate(fs.readFileSync(this.cert)).publicKey.export({ type: "spki", format: "der" });
        this.spki = createHash("sha256").update(spkiDer).digest("base64");
        wpd("init", "--db", this.db);
    }

    /** Run SQL with the sqlite3 shell, a separate writer process. */
    sql(statements) {
        return run("sqlite3", ["-bail", "-cmd", ".timeout 5000", this.db], { input: statements + "\n" });
    }

    close() {
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

// ---- the server ------------------------------------------------------------------

const live = new Set();
process.on("exit", () => { for (const p of live) try { p.kill("SIGKILL"); } catch (_) { /* gone */ } });
for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, () => { for (const p of live) try { p.kill("SIGKILL"); } catch (_) { /* gone */ } process.exit(130); });
}

export class Server {
    /** Start `waypointd serve` on 127.0.0.1:port (0: any free port) and wait for it. */
    static async start(sb, { port = 0, threads = 2, extra = [] } = {}) {
        const s = new Server();
        s.stderr = "";
        const proc = spawn(WAYPOINTD, ["serve", "--db", sb.db, "--listen", `127.0.0.1:${port}`,
                                       "--cert", sb.cert, "--key", sb.key, "--www", WWW, "--threads", String(threads),
                                       ...extra],
                           { stdio: ["ignore", "pipe", "pipe"] });
        s.proc = proc;
        live.add(proc);
        proc.stderr.setEncoding("utf8");
        proc.stderr.on("data", (d) => { s.stderr += d; });
        s.exited = new Promise((resolve) => proc.on("exit", (code, signal) => { live.delete(proc); resolve({ code, signal }); }));
        let out = "";
        proc.stdout.setEncoding("utf8");
        const url = await new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`waypointd serve not ready within ${START_DEADLINE_MS} ms; stderr: ${s.stderr}`)),
                                     START_DEADLINE_MS);
            proc.stdout.on("data", (d) => {
                out += d;
                const m = /^listening on (https:\/\/127\.0\.0\.1:(\d+))$/m.exec(out);
                if (m) { clearTimeout(timer); resolve(m[1]); }
            });
            s.exited.then(({ code, signal }) => {
                clearTimeout(timer);
                reject(new Error(`waypointd serve exited (${code ?? signal}) before it was ready; stderr: ${s.stderr}`));
            });
        }).catch(async (e) => { await s.stop(); throw e; });
        s.url = url;
        s.port = Number(new URL(url).port);
        return s;
    }

    /** SIGTERM, then SIGKILL after the deadline; resolves to the exit status. */
    async stop() {
        if (!live.has(this.proc)) return this.exited;
        this.proc.kill("SIGTERM");
        const timer = setTimeout(() => { try { this.proc.kill("SIGKILL"); } catch (_) { /* gone */ } }, STOP_DEADLINE_MS);
        const st = await this.exited;
        clearTimeout(timer);
        return st;
    }
}

// ---- the browser --------------------------------------------------------------------

export async function launchBrowser(spki, extraArgs = []) {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
    return chromium.launch({
        executablePath: CHROMIUM,
        timeout: 30000,
        args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--ignore-certificate-errors-spki-list=" + spki, ...extraArgs],
    });
}

/**
 * A fixed-offset time zone in which it is now late morning, so screenshots
 * show delivery-hour times whenever the tests run (the data is relative to now).
 */
export function daytimeZone(targetHour = 11) {
    let off = targetHour - new Date().getUTCHours();
    if (off > 14) off -= 24;
    if (off < -12) off += 24;
    return off === 0 ? "UTC" : "Etc/GMT" + (off > 0 ? "-" : "+") + Math.abs(off);
}

export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
export const DESKTOP = { viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 };

/**
 * A new page in its own context, recording console errors, page errors and
 * every request that leaves the page's origin (there must be none).
 */
export async function newPage(browser, origin, device, { expectNetworkErrors = false } = {}) {
    const context = await browser.newContext({ ...device, locale: "en-US", timezoneId: daytimeZone() });
    context.setDefaultTimeout(10000);
    const page = await context.newPage();
    const rec = { consoleErrors: [], pageErrors: [], foreign: [], frames: [] };
    page.on("console", (m) => {
        if (m.type() !== "error") return;
        // A refused upgrade or an unreachable server is reported by Chromium
        // itself; tests that provoke one say so.
        const t = m.text();
        if (expectNetworkErrors && /WebSocket connection to|Failed to load resource|ERR_CONNECTION_REFUSED/.test(t)) return;
        // The dashboard's map asks each customer's confident-location; the
        // API answers 400 (code 7001) when there is none, and Chromium logs
        // every 4xx fetch. That answer is expected; nothing else is.
        if (/Failed to load resource: the server responded with a status of 400/.test(t) &&
            /\/customers\/[^/]+\/confident-location$/.test(m.location()?.url || "")) return;
        rec.consoleErrors.push(t);
    });
    page.on("pageerror", (e) => rec.pageErrors.push(String(e && e.stack || e)));
    page.on("request", (r) => {
        const u = r.url();
        if (!u.startsWith(origin + "/") && !u.startsWith("data:")) rec.foreign.push(u);
    });
    page.on("websocket", (ws) => {
        ws.on("framesent", (f) => rec.frames.push({ dir: "sent", payload: String(f.payload) }));
        ws.on("framereceived", (f) => rec.frames.push({ dir: "received", payload: String(f.payload) }));
    });
    return { context, page, rec };
}

/** The JSON messages seen on the page's WebSockets: [{dir, msg}]. */
export function wsMessages(rec) {
    return rec.frames.map((f) => { try { return { dir: f.dir, msg: JSON.parse(f.payload) }; } catch (_) { return null; } })
        .filter(Boolean);
}

/** Save a failure screenshot to OUTPUT (never throws). */
export async function failureShot(page, name) {
    try {
        fs.mkdirSync(OUTPUT, { recursive: true });
        await page.screenshot({ path: path.join(OUTPUT, name.replace(/[^a-z0-9-]+/gi, "_") + ".png"), fullPage: true });
    } catch (_) { /* best effort */ }
}

/**
 * Tests that each use their own browser context(s): open() makes one and
 * loads a URL; when a test fails, every page it opened is saved to OUTPUT
 * (full page) and its WebSocket frames are printed as diagnostics.
 */
export function pageSuite(prefix, env) {
    const contexts = [];
    async function open(t, url, device, opts, setup) {
        const { browser, origin } = env();
        const p = await newPage(browser, origin, device, opts);
        contexts.push({ name: t.name, ...p });
        if (setup) await setup(p.page, p.context);
        await p.page.goto(url, { waitUntil: "load" });
        return p;
    }
    function pageTest(name, fn, { timeout = 60000 } = {}) {
        test(name, { timeout }, async (t) => {
            try {
                await fn(t);
            } catch (e) {
                for (const c of contexts) {
                    await failureShot(c.page, prefix + "-" + c.name);
                    t.diagnostic(`${c.name}: WebSocket frames:`);
                    for (const f of c.rec.frames) t.diagnostic(`  ${f.dir} ${f.payload.slice(0, 200)}`);
                    t.diagnostic("console errors: " + JSON.stringify(c.rec.consoleErrors));
                }
                throw e;
            } finally {
                for (const c of contexts.splice(0)) await c.context.close().catch(() => {});
            }
        });
    }
    return { open, pageTest };
}

/** No uncaught errors, no console errors, nothing fetched from elsewhere. */
export function assertClean(rec) {
    assert.deepEqual(rec.pageErrors, [], "no uncaught errors in the page");
    assert.deepEqual(rec.consoleErrors, [], "no console errors");
    assert.deepEqual(rec.foreign, [], "no request leaves the page's origin");
}

/** The inner text of the first element matching sel. */
export const text = (page, sel) => page.locator(sel).first().innerText({ timeout: 5000 });

/** Wait until the first element matching sel has text matching re. */
export async function waitText(page, sel, re, timeout = 5000) {
    await until(async () => re.test(await page.locator(sel).first().innerText({ timeout: 1000 })),
                { timeout, what: `${sel} to match ${re}` });
}

/** Wait until fn() (in node) is truthy, polling; throws with what() after the deadline. */
export async function until(fn, { timeout = 8000, every = 100, what = "condition" } = {}) {
    const end = Date.now() + timeout;
    let last;
    for (;;) {
        try { last = await fn(); if (last) return last; } catch (e) { last = e; }
        if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}` + (last instanceof Error ? ": " + last.message : ""));
        await sleep(every);
    }
}

// ---- sample data ----------------------------------------------------------------------

export const DC = "Foxtrot-DC";

// [id, name, address, imported [lat, lon] or null, inferred [lat, lon] or null, confident]
// The map puts a customer at the inferred location when it is confident, else
// at the imported one: Bay Bikes has an inferred location far off that is not
// confident (the map must not use it), Mission Books has no location at all.
export const CUSTOMERS = [
    ["johns-burger-shack", "John's Burger Shack", "1 Market St, San Francisco", [37.79410, -122.39480], [37.79420, -122.39500], 1],
    ["bay-bikes", "Bay Bikes", "500 Valencia St, San Francisco", [37.76500, -122.42190], [37.70000, -122.50000], 0],
    ["mission-books", "Mission Books", "3036 24th St, San Francisco", null, null, 0],
    ["castro-coffee", "Castro Coffee Co.", "427 Castro St, San Francisco", [37.76130, -122.43500], [37.76125, -122.43490], 1],
    ["noe-bakery", "Noe Valley Bakery", "4073 24th St, San Francisco", [37.75150, -122.43370], null, 0],
    ["dolores-florist", "Dolores Florist", "3601 18th St, San Francisco", [37.76150, -122.42500], [37.76160, -122.42510], 1],
    ["sunset-hardware", "Sunset Hardware", "1801 Irving St, San Francisco", [37.76370, -122.47700], [37.76365, -122.47690], 1],
    ["richmond-pharmacy", "Richmond Pharmacy", "5501 Geary Blvd, San Francisco", [37.78060, -122.47500], [37.78050, -122.47490], 1],
    ["haight-records", "Haight Records", "1855 Haight St, San Francisco", [37.76950, -122.45200], [37.76940, -122.45210], 1],
    ["marina-deli", "Marina Deli", "2299 Chestnut St, San Francisco", [37.80050, -122.44150], [37.80040, -122.44140], 1],
    ["presidio-wine", "Presidio Wine Bar", "1 Letterman Dr, San Francisco", [37.79860, -122.45120], null, 0],
    ["soma-print", "SoMa Print Shop", "945 Folsom St, San Francisco", [37.77940, -122.40480], [37.77930, -122.40470], 1],
    ["twin-peaks-pets", "Twin Peaks Pet Supply", "598 Portola Dr, San Francisco", [37.74520, -122.45150], [37.74510, -122.45140], 1],
];

/**
 * The DC, its customers, and three routes. Rows are inserted oldest first, so
 * "most recent" (insertion order) is what a real planner would produce.
 * Returns the time the ETAs were computed from.
 */
export function seed(sb) {
    const t = now();
    const rows = [];
    const wp = (id, customer, route, status, { done = null, eta = null, ahead = null, wait = 300 } = {}) =>
        rows.push(`(${q(DC)}, ${q(id)}, ${q(customer)}, ${q(route)}, ${q(status)}, ${q(done)}, ${q(eta)}, ${q(ahead)}, ${q(wait)})`);
    // John's Burger Shack's history: three deliveries in the last days.
    wp("wp-0981", "johns-burger-shack", "route-4", "COMPLETED", { done: t - 3 * 1440 * MIN - 95 * MIN, ahead: 0 });
    wp("wp-0990", "johns-burger-shack", "route-2", "FAILED", { done: t - 2 * 1440 * MIN - 30 * MIN, ahead: 0 });
    wp("wp-0996", "johns-burger-shack", "route-7", "COMPLETED", { done: t - 1440 * MIN + 40 * MIN, ahead: 0 });
    // route-7: John's is the 5th stop (4 before it).
    wp("wp-1001", "bay-bikes", "route-7", "PENDING", { eta: t + 4 * MIN, ahead: 0 });
    wp("wp-1002", "castro-coffee", "route-7", "PENDING", { eta: t + 11 * MIN, ahead: 1 });
    wp("wp-1004", "noe-bakery", "route-7", "PENDING", { eta: t + 17 * MIN, ahead: 2 });
    wp("wp-1005", "dolores-florist", "route-7", "PENDING", { eta: t + 22 * MIN, ahead: 3 });
    wp("wp-1006", "mission-books", "route-7", "PENDING", { eta: t + 40 * MIN, ahead: 5 });
    // route-12: the first stop is running late.
    wp("wp-1101", "sunset-hardware", "route-12", "PENDING", { eta: t - 9 * MIN, ahead: 0, wait: 600 });
    wp("wp-1102", "richmond-pharmacy", "route-12", "PENDING", { eta: t + 8 * MIN, ahead: 1 });
    wp("wp-1103", "presidio-wine", "route-12", "PENDING", { eta: t + 26 * MIN, ahead: 2 });
    wp("wp-1104", "marina-deli", "route-12", "PENDING", { eta: t + 38 * MIN, ahead: 3 });
    // route-3
    wp("wp-1201", "soma-print", "route-3", "PENDING", { eta: t + 6 * MIN, ahead: 0 });
    wp("wp-1202", "haight-records", "route-3", "PENDING", { eta: t + 19 * MIN, ahead: 1 });
    wp("wp-1203", "twin-peaks-pets", "route-3", "PENDING", { eta: t + 33 * MIN, ahead: 2 });
    // John's next delivery, inserted last: the newest waypoint.
    wp("wp-1003", "johns-burger-shack", "route-7", "PENDING", { eta: t + 27 * MIN + 30000, ahead: 4, wait: 600 });
    sb.sql(`BEGIN;
INSERT INTO dcs(id, name) VALUES (${q(DC)}, 'Foxtrot Distribution Centre'), ('Other-DC', 'Another DC');
INSERT INTO customers(dc_id, id, name, imported_address, imported_latitude, imported_longitude,
                      inferred_latitude, inferred_longitude, location_confident) VALUES
${CUSTOMERS.map(([id, name, addr, imp, inf, conf]) =>
    `(${q(DC)}, ${q(id)}, ${q(name)}, ${q(addr)}, ${deg(imp?.[0])}, ${deg(imp?.[1])}, ${deg(inf?.[0])}, ${deg(inf?.[1])}, ${conf})`).join(",\n")};
INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, completed_timestamp, estimated_time_of_arrival,
                      waypoints_ahead, waiting_time_seconds) VALUES
${rows.join(",\n")};
COMMIT;`);
    return t;
}

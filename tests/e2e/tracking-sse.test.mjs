// SPDX-License-Identifier: MIT
// The tracking page (www/index.html) where WebSocket is not available: it falls
// back to Server-Sent Events (GET .../waypoints/events) by itself, shows the same
// data and changes, says "Live (SSE)", and resumes with since after a reconnect.
// Headless Chromium at phone size, the real server, the sqlite3 shell as writer.

import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import {
    DC, MIN, PHONE, Sandbox, Server, assertClean, launchBrowser, now, pageSuite, q, seed, sleep, text, until,
    waitText as waitTextWithin, wpd,
} from "./harness.mjs";

const CUSTOMER = "johns-burger-shack";
const UPDATE_DEADLINE = 5000;      // a committed change must be on the page within this
const EVENTS_PATH = `/dcs/${DC}/customers/${CUSTOMER}/waypoints/events`;

let sb, server, browser, token;

function link(origin, { tok = token } = {}) {
    return origin + "/#" + new URLSearchParams({ dc: DC, customer: CUSTOMER, token: tok }).toString();
}

const { open, pageTest } = pageSuite("tracking-sse", () => ({ browser, origin: server.url }));
const waitText = (page, sel, re, timeout = UPDATE_DEADLINE) => waitTextWithin(page, sel, re, timeout);

/**
 * Before the page's scripts: record every EventSource the page opens (its URL)
 * and every message it receives (the live channel's JSON), and every change of
 * the connection indicator. `websocket` says what WebSocket becomes:
 * "missing" (deleted, as in browsers or webviews without it) or "blocked" (a
 * WebSocket whose connections never open, as behind a proxy that drops them).
 */
async function instrument(page, websocket) {
    await page.addInitScript((mode) => {
        if (mode === "missing") {
            delete window.WebSocket;
            if (typeof window.WebSocket !== "undefined") window.WebSocket = undefined;
        } else if (mode === "blocked") {
            window.__wsAttempts = 0;
            window.WebSocket = class BlockedWebSocket {
                constructor(url) {
                    window.__wsAttempts++;
                    this.url = url;
                    this.readyState = 0;
                    setTimeout(() => {
                        if (this.readyState === 3) return;
                        this.readyState = 3;
                        this.onerror?.(new Event("error"));
                        this.onclose?.({ code: 1006, reason: "", wasClean: false });
                    }, 100);
                }
                send() { throw new Error("not open"); }
                close() { this.readyState = 3; }
            };
        }
        window.__sse = { urls: [], messages: [] };
        const Native = window.EventSource;
        window.EventSource = class RecordedEventSource extends Native {
            constructor(url, init) {
                super(url, init);
                window.__sse.urls.push(String(url));
                this.addEventListener("message", (e) => {
                    try { window.__sse.messages.push(JSON.parse(e.data)); } catch (_) { window.__sse.messages.push(e.data); }
                });
            }
        };
        window.__conn = [];
        addEventListener("DOMContentLoaded", () => {
            const el = document.getElementById("conn");
            const note = () => window.__conn.push(el.dataset.state + ":" + el.dataset.transport + ":" +
                                                  document.getElementById("conn-text").textContent);
            new MutationObserver(note).observe(el, { attributes: true, childList: true, subtree: true, characterData: true });
        });
    }, websocket);
}

const sse = (page) => page.evaluate(() => window.__sse);
/** Event-stream URLs for messages, without the credential. */
const shown = (urls) => JSON.stringify(urls.map((u) => u.replace(/access_token=[^&]*/, "access_token=…")));
const connHistory = (page) => page.evaluate(() => window.__conn);

before(async () => {
    sb = new Sandbox();
    seed(sb);
    token = wpd("token", "create", "--db", sb.db, "--dc", DC, "--customer", CUSTOMER);
    server = await Server.start(sb);
    browser = await launchBrowser(sb.spki);
});

after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop();
    sb?.close();
});

describe("tracking page without WebSocket: Server-Sent Events", () => {
    pageTest("shows the snapshot and each committed change over SSE, and says so", async (t) => {
        const { page, rec } = await open(t, link(server.url), PHONE, {}, (pg) => instrument(pg, "missing"));
        await waitText(page, "#conn-text", /^Live \(SSE\)$/);
        assert.equal(await page.evaluate(() => typeof window.WebSocket), "undefined", "the page had no WebSocket");
        assert.equal(await page.locator("#conn").getAttribute("data-state"), "live");
        assert.equal(await page.locator("#conn").getAttribute("data-transport"), "sse");
        assert.match(await page.locator("#conn").getAttribute("title"), /Server-Sent Events/);
        // The snapshot: the same page as over WebSocket.
        assert.equal(await page.locator("#hero").getAttribute("data-waypoint"), "wp-1003");
        assert.match(await text(page, "#hero-status"), /On its way/);
        assert.match(await text(page, "#stops-text"), /^4 stops before yours/);
        const rows = page.locator("#recent li");
        assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => e.dataset.waypoint)), ["wp-0996", "wp-0990", "wp-0981"]);
        assert.match(await text(page, "#updated"), /^Live/);

        // One event stream, on the customer's events path, credential in the query.
        let s = await sse(page);
        assert.equal(s.urls.length, 1, "one EventSource: " + shown(s.urls));
        const url = new URL(s.urls[0], server.url);
        assert.equal(url.origin + url.pathname, server.url + EVENTS_PATH);
        assert.equal(url.searchParams.get("access_token"), token);
        assert.equal(url.searchParams.has("since"), false, "the first stream starts from a snapshot");
        assert.equal(s.messages[0].type, "subscribed");
        assert.equal(s.messages[0].resumed, false);
        assert.equal(rec.frames.length, 0, "no WebSocket frames");

        // A change committed by another process arrives over the stream.
        const t0 = now();
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 2, estimated_time_of_arrival = ${now() + 12 * MIN + 20000}
                WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#stops-text", /^2 stops before yours/);
        await waitText(page, "#eta-value", /^1[23]\s*min$/);
        t.diagnostic(`change shown over SSE after ${now() - t0} ms`);
        s = await sse(page);
        const pushes = s.messages.filter((m) => m.type === "waypoint");
        assert.ok(pushes.length >= 1 && pushes.at(-1).waypoint.id === "wp-1003", JSON.stringify(pushes));

        // Delivered, then a new one planned, then deleted: the same code path as WebSocket messages.
        sb.sql(`UPDATE waypoints SET status = 'COMPLETED', completed_timestamp = ${now()} WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#eta-value", /^Delivered$/);
        sb.sql(`INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, estimated_time_of_arrival, waypoints_ahead)
                VALUES (${q(DC)}, 'wp-1400', ${q(CUSTOMER)}, 'route-9', 'PENDING', ${now() + 40 * MIN}, 6);`);
        await until(async () => (await page.locator("#hero").getAttribute("data-waypoint")) === "wp-1400",
                    { timeout: UPDATE_DEADLINE, what: "the new waypoint in the hero" });
        sb.sql(`DELETE FROM waypoints WHERE dc_id = ${q(DC)} AND id = 'wp-1400';`);
        await until(async () => (await page.locator("#hero").getAttribute("data-waypoint")) === "wp-1003",
                    { timeout: UPDATE_DEADLINE, what: "the deleted waypoint to leave" });
        assert.equal(await page.locator("[data-waypoint='wp-1400']").count(), 0);

        // Back as it was for the next tests.
        sb.sql(`UPDATE waypoints SET status = 'PENDING', completed_timestamp = NULL, waypoints_ahead = 4,
                       estimated_time_of_arrival = ${now() + 27 * MIN} WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#stops-text", /^4 stops before yours/);
        assertClean(rec);
    });

    pageTest("a quiet SSE page stays live: no reconnect while nothing changes", async (t) => {
        const { page, rec } = await open(t, link(server.url), PHONE, {}, (pg) => instrument(pg, "missing"));
        await waitText(page, "#conn-text", /^Live \(SSE\)$/);
        const before = await connHistory(page);
        // Longer than libwebsockets' default 5 s timeout for an HTTP transaction.
        await sleep(8000);
        const s = await sse(page);
        assert.equal(s.urls.length, 1, "still the first event stream, no reconnect: " + shown(s.urls));
        assert.deepEqual((await connHistory(page)).slice(before.length).filter((c) => !c.startsWith("live:")), [],
                         "the indicator never left live");
        assert.match(await text(page, "#conn-text"), /^Live \(SSE\)$/);
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 3 WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#stops-text", /^3 stops before yours/);
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 4 WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#stops-text", /^4 stops before yours/);
        assertClean(rec);
    }, { timeout: 60000 });

    pageTest("a WebSocket that never opens: after two tries the page switches to SSE by itself", async (t) => {
        const { page, rec } = await open(t, link(server.url), PHONE, {}, (pg) => instrument(pg, "blocked"));
        await waitText(page, "#conn-text", /^Live \(SSE\)$/, 15000);
        assert.equal(await page.evaluate(() => window.__wsAttempts), 2, "two WebSocket attempts, then SSE");
        assert.equal(await page.locator("#problem").isVisible(), false, "falling back is not an error for the person");
        assert.equal(await page.locator("#hero").getAttribute("data-waypoint"), "wp-1003");
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 1 WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#stops-text", /^1 stop before yours/);
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 4 WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#stops-text", /^4 stops before yours/);
        // It stays on SSE: no more WebSocket attempts.
        await sleep(1500);
        assert.equal(await page.evaluate(() => window.__wsAttempts), 2);
        assertClean(rec);
    });

    pageTest("over SSE too: the server goes away, the page says so, then resumes with since", async (t) => {
        const { page, rec } = await open(t, link(server.url), PHONE, { expectNetworkErrors: true },
                                         (pg) => instrument(pg, "missing"));
        await waitText(page, "#conn-text", /^Live \(SSE\)$/);
        const port = server.port;
        const st = await server.stop();
        assert.equal(st.code, 0, "the server exits 0 on SIGTERM with an event stream open");
        await waitText(page, "#conn-text", /Reconnecting/);
        await waitText(page, "#stale-badge", /Last known estimate · not live/);

        // A change while the page is away is not lost: the next stream resumes with since.
        const seqs = (await sse(page)).messages.filter((m) => typeof m.seq === "number").map((m) => m.seq);
        const lastSeq = Math.max(...seqs);
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 3 WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        const opened = (await sse(page)).urls.length;
        server = await Server.start(sb, { port });
        await waitText(page, "#conn-text", /^Live \(SSE\)$/, 20000);
        await waitText(page, "#stops-text", /^3 stops before yours/);
        assert.equal(await page.locator("#stale-badge").count(), 0);
        assert.equal(await page.locator("#problem").isVisible(), false, "the problem notice is gone");
        const s = await sse(page);
        const url = new URL(s.urls.at(-1), server.url);
        assert.equal(url.searchParams.get("since"), String(lastSeq), "the reconnect resumes after the last seq seen");
        assert.ok(s.urls.length > opened, "a new event stream was opened");
        const reply = s.messages.filter((m) => m.type === "subscribed").at(-1);
        assert.equal(reply.resumed, true, "the server resumed (no fresh snapshot): " + JSON.stringify(reply));
        assert.equal(reply.seq, lastSeq);
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 4 WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#stops-text", /^4 stops before yours/);
        assert.deepEqual(rec.pageErrors, []);
        assert.deepEqual(rec.foreign, []);
    });

    pageTest("over SSE, a token that expires while the page is open: error 401 on the stream, in words", async (t) => {
        const short = wpd("token", "create", "--db", sb.db, "--dc", DC, "--customer", CUSTOMER, "--ttl", "4");
        const { page, rec } = await open(t, link(server.url, { tok: short }), PHONE, { expectNetworkErrors: true },
                                         (pg) => instrument(pg, "missing"));
        await waitText(page, "#conn-text", /^Live \(SSE\)$/);
        await waitText(page, "#problem", /This tracking link has expired or is invalid/, 12000);
        await waitText(page, "#conn-text", /Offline/);
        const s = await sse(page);
        assert.ok(s.messages.some((m) => m.type === "error" && m.code === 401), "the server sent error 401: " + JSON.stringify(s.messages));
        await waitText(page, "#stale-badge", /not live/);
        // It stops: no new stream against a dead link.
        const n = s.urls.length;
        await sleep(2500);
        assert.equal((await sse(page)).urls.length, n);
        assert.deepEqual(rec.pageErrors, []);
    });

    pageTest("over SSE, a tampered token: the link has expired or is invalid", async (t) => {
        const bad = token.slice(0, -4) + (token.endsWith("AAAA") ? "BBBB" : "AAAA");
        const { page, rec } = await open(t, link(server.url, { tok: bad }), PHONE, { expectNetworkErrors: true },
                                         (pg) => instrument(pg, "missing"));
        await waitText(page, "#problem", /This tracking link has expired or is invalid/, 10000);
        await waitText(page, "#conn-text", /Offline/);
        const n = (await sse(page)).urls.length;
        await sleep(2500);
        assert.equal((await sse(page)).urls.length, n, "no retry loop");
        assert.deepEqual(rec.pageErrors, []);
        assert.deepEqual(rec.foreign, []);
    });
});

// SPDX-License-Identifier: MIT
// The customer's tracking page (www/index.html) in headless Chromium at phone
// size, against the real server, with the sqlite3 shell changing waypoints.

import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
    DC, MIN, PHONE, SCREENSHOTS, Sandbox, Server, assertClean, launchBrowser, newPage, now, pageSuite, q, seed, sleep, text, until,
    waitText as waitTextWithin, wpd, wsMessages,
} from "./harness.mjs";

const CUSTOMER = "johns-burger-shack";
const UPDATE_DEADLINE = 5000;      // a committed change must be on the page within this

let sb, server, browser, token;

function link(origin, { dc = DC, customer = CUSTOMER, tok = token } = {}) {
    const f = new URLSearchParams();
    if (dc != null) f.set("dc", dc);
    if (customer != null) f.set("customer", customer);
    if (tok != null) f.set("token", tok);
    return origin + "/#" + f.toString();
}

const { open, pageTest } = pageSuite("tracking", () => ({ browser, origin: server.url }));
const openTracking = (t, url, opts, setup) => open(t, url, PHONE, opts, setup);
const waitText = (page, sel, re, timeout = UPDATE_DEADLINE) => waitTextWithin(page, sel, re, timeout);

before(async () => {
    sb = new Sandbox();
    seed(sb);
    token = wpd("token", "create", "--db", sb.db, "--dc", DC, "--customer", CUSTOMER);
    assert.match(token, /^wpt_[A-Za-z0-9_-]+$/);
    server = await Server.start(sb);
    browser = await launchBrowser(sb.spki);
});

after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop();
    sb?.close();
});

/**
 * Every key the database has (DC, customer, route and waypoint ids): none may
 * appear in what the customer reads.
 */
function internalIds() {
    const out = sb.sql(`SELECT id FROM dcs UNION SELECT id FROM customers UNION SELECT route_id FROM waypoints
                        WHERE route_id IS NOT NULL UNION SELECT id FROM waypoints;`);
    return out.split("\n").map((x) => x.trim()).filter(Boolean);
}

async function assertNoInternalIds(page) {
    const visible = await page.evaluate(() => document.body.innerText + "\n" + document.title);
    const ids = internalIds();
    assert.ok(ids.includes(DC) && ids.includes(CUSTOMER) && ids.includes("route-7") && ids.includes("wp-1003"));
    for (const id of ids) assert.ok(!visible.includes(id), `the page shows the internal id ${JSON.stringify(id)}`);
}

const heroId = (page) => page.locator("#hero").getAttribute("data-waypoint");
const upcomingIds = (page) => page.locator("#upcoming li").evaluateAll((els) => els.map((e) => e.dataset.waypoint));

describe("tracking page", () => {
    pageTest("the headline is the stop that arrives first, not the newest (issue 12)", async (t) => {
        const { page, rec } = await openTracking(t, link(server.url));
        await waitText(page, "#conn-text", /^Live$/);
        assert.equal(await heroId(page), "wp-1003");
        // A newer stop for the same customer that arrives later: the headline stays.
        sb.sql(`INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, estimated_time_of_arrival, waypoints_ahead)
                VALUES (${q(DC)}, 'wp-1310', ${q(CUSTOMER)}, 'route-9', 'PENDING', ${now() + 60 * MIN}, 1);`);
        await until(async () => (await upcomingIds(page)).includes("wp-1310"), { timeout: UPDATE_DEADLINE, what: "wp-1310 listed" });
        assert.equal(await heroId(page), "wp-1003", "a later stop does not take the headline because it is newer");
        assert.match(await text(page, "#eta-value"), /^2[78]\s*min$/);
        // One without an ETA comes after those with one.
        sb.sql(`INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, waypoints_ahead)
                VALUES (${q(DC)}, 'wp-1311', ${q(CUSTOMER)}, 'route-11', 'PENDING', 0);`);
        await until(async () => JSON.stringify(await upcomingIds(page)) === JSON.stringify(["wp-1310", "wp-1311"]),
                    { timeout: UPDATE_DEADLINE, what: "upcoming soonest first, no ETA last" });
        assert.equal(await heroId(page), "wp-1003");
        // The newer stop now arrives sooner: it is the headline, with its own ETA and stops.
        sb.sql(`UPDATE waypoints SET estimated_time_of_arrival = ${now() + 8 * MIN + 20000}
                WHERE dc_id = ${q(DC)} AND id = 'wp-1310';`);
        await until(async () => (await heroId(page)) === "wp-1310", { timeout: UPDATE_DEADLINE, what: "the sooner stop in the headline" });
        assert.match(await text(page, "#eta-value"), /^[89]\s*min$/);
        assert.match(await text(page, "#stops-text"), /^1 stop before yours/);
        assert.deepEqual(await upcomingIds(page), ["wp-1003", "wp-1311"]);
        // The same ETA: the fewer stops ahead wins.
        sb.sql(`UPDATE waypoints SET estimated_time_of_arrival =
                  (SELECT estimated_time_of_arrival FROM waypoints WHERE dc_id = ${q(DC)} AND id = 'wp-1003'), waypoints_ahead = 5
                WHERE dc_id = ${q(DC)} AND id = 'wp-1310';`);
        await until(async () => (await heroId(page)) === "wp-1003", { timeout: UPDATE_DEADLINE, what: "fewer stops ahead first" });
        await assertNoInternalIds(page);
        sb.sql(`DELETE FROM waypoints WHERE dc_id = ${q(DC)} AND id IN ('wp-1310', 'wp-1311');`);
        await until(async () => (await upcomingIds(page)).length === 0, { timeout: UPDATE_DEADLINE, what: "the extra stops gone" });
        assertClean(rec);
    });

    pageTest("the customer reads times, places and words, never an internal id (issue 12)", async (t) => {
        const { page, rec } = await openTracking(t, link(server.url));
        await waitText(page, "#conn-text", /^Live$/);
        await until(async () => (await page.locator("#recent li").count()) === 3, { what: "the history" });
        await assertNoInternalIds(page);
        // Delivered, with another one on the way: still no ids anywhere.
        sb.sql(`INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, estimated_time_of_arrival, waypoints_ahead)
                VALUES (${q(DC)}, 'wp-1312', ${q(CUSTOMER)}, 'route-9', 'PENDING', ${now() + 90 * MIN}, 6);
                UPDATE waypoints SET status = 'COMPLETED', completed_timestamp = ${now()} WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await until(async () => (await heroId(page)) === "wp-1312", { timeout: UPDATE_DEADLINE, what: "the next delivery" });
        await until(async () => (await page.locator("#recent li").count()) === 4, { timeout: UPDATE_DEADLINE, what: "4 history rows" });
        await assertNoInternalIds(page);
        sb.sql(`DELETE FROM waypoints WHERE dc_id = ${q(DC)} AND id = 'wp-1312';
                UPDATE waypoints SET status = 'PENDING', completed_timestamp = NULL, waypoints_ahead = 4,
                       estimated_time_of_arrival = ${now() + 27 * MIN + 30000} WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await until(async () => (await heroId(page)) === "wp-1003", { timeout: UPDATE_DEADLINE, what: "wp-1003 back" });
        assertClean(rec);
    });

    pageTest("shows the next delivery, its ETA, the stops before it and the recent deliveries", async (t) => {
        const { page, rec } = await openTracking(t, link(server.url));
        await waitText(page, "#conn-text", /^Live$/);
        assert.equal(await page.locator("#conn").getAttribute("data-state"), "live");
        // The newest PENDING waypoint: wp-1003, ETA 27.5 min from seeding, 4 stops ahead.
        assert.equal(await page.locator("#hero").getAttribute("data-waypoint"), "wp-1003");
        assert.match(await text(page, "#hero-status"), /On its way/);
        assert.match(await text(page, "#eta-value"), /^2[78]\s*min$/);
        assert.match(await text(page, "#hero .eta-sub"), /Estimated arrival \d{1,2}:\d{2} [AP]M/);
        assert.match(await text(page, "#stops-text"), /^4 stops before yours/);
        assert.match(await page.locator("#hero .route").getAttribute("aria-label"), /4 stops before yours/);
        // Recent deliveries: the three finished ones, newest first, with their times.
        const rows = page.locator("#recent li");
        assert.equal(await rows.count(), 3);
        assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => e.dataset.waypoint)), ["wp-0996", "wp-0990", "wp-0981"]);
        assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => e.dataset.status)), ["COMPLETED", "FAILED", "COMPLETED"]);
        assert.match(await rows.nth(0).innerText(), /Delivered[\s\S]*Yesterday, \d{1,2}:\d{2} [AP]M/);
        assert.match(await rows.nth(1).innerText(), /Delivery failed[\s\S]*\w{3}, \w{3} \d{1,2}, \d{1,2}:\d{2} [AP]M/);
        // Phone size: nothing wider than the screen.
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `page overflows the 390 px screen by ${overflow} px`);
        // The token is in the fragment only: never sent to the server in a page URL.
        assert.ok(!rec.frames.some((f) => f.dir === "sent" && f.payload.includes("wpt_")), "the token is not in a message");
        assertClean(rec);
    });

    pageTest("shows each committed change within seconds: stops, ETA, completion, new and deleted waypoints", async (t) => {
        const { page, rec } = await openTracking(t, link(server.url));
        await waitText(page, "#conn-text", /Live/);

        let t0 = now();
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 2, estimated_time_of_arrival = ${now() + 12 * MIN + 20000}
                WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#stops-text", /^2 stops before yours/);
        await waitText(page, "#eta-value", /^1[23]\s*min$/);
        t.diagnostic(`stops/ETA change shown after ${now() - t0} ms`);
        assert.match(await page.locator("#hero .route").getAttribute("aria-label"), /made 2 of 4 stops before yours/);
        assert.match(await text(page, "#announce"), /Now 2 stops before yours/);

        // A change to another customer is not this page's business.
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 7 WHERE dc_id = ${q(DC)} AND id = 'wp-1006';`);
        await sleep(1500);
        assert.equal(await page.locator("#hero").getAttribute("data-waypoint"), "wp-1003");
        assert.match(await text(page, "#stops-text"), /^2 stops before yours/);

        // Screenshot for the docs: phone size, live, with progress on the route.
        fs.mkdirSync(SCREENSHOTS, { recursive: true });
        await page.evaluate(() => document.querySelectorAll(".flash").forEach((e) => e.classList.remove("flash")));
        await page.screenshot({ path: path.join(SCREENSHOTS, "tracking.png"), fullPage: false });

        // You're next.
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 0, estimated_time_of_arrival = ${now() + 4 * MIN}
                WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#stops-text", /You're the next stop/);
        await waitText(page, "#hero-status", /You're next/);

        // Delivered: the hero says so, with the time.
        t0 = now();
        const doneAt = now();
        sb.sql(`UPDATE waypoints SET status = 'COMPLETED', completed_timestamp = ${doneAt}
                WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#eta-value", /^Delivered$/);
        t.diagnostic(`completion shown after ${now() - t0} ms`);
        assert.match(await text(page, "#hero-status"), /Delivered/);
        assert.match(await text(page, "#hero .eta-sub"), /arrived today at \d{1,2}:\d{2} [AP]M/);
        assert.equal(await page.locator("#stops-text").count(), 0, "no stops count for a finished delivery");
        assert.match(await text(page, "#announce"), /delivered/);

        // A new delivery is planned: it is the next one, and the finished one joins the history.
        sb.sql(`INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, estimated_time_of_arrival, waypoints_ahead,
                                      waiting_time_seconds)
                VALUES (${q(DC)}, 'wp-1300', ${q(CUSTOMER)}, 'route-9', 'PENDING', ${now() + 95 * MIN}, 9, 300);`);
        await until(async () => (await page.locator("#hero").getAttribute("data-waypoint")) === "wp-1300",
                    { timeout: UPDATE_DEADLINE, what: "the new waypoint in the hero" });
        await waitText(page, "#eta-value", /^1\s*h\s*3[45]\s*min$/);
        assert.match(await text(page, "#stops-text"), /^9 stops before yours/);
        assert.equal(await page.locator("#recent li").first().getAttribute("data-waypoint"), "wp-1003");
        assert.equal(await page.locator("#recent li").count(), 4);

        // Deleted: gone from the page.
        sb.sql(`DELETE FROM waypoints WHERE dc_id = ${q(DC)} AND id = 'wp-1300';`);
        await until(async () => (await page.locator("#hero").getAttribute("data-waypoint")) === "wp-1003",
                    { timeout: UPDATE_DEADLINE, what: "the deleted waypoint to leave" });
        assert.equal(await page.locator("[data-waypoint='wp-1300']").count(), 0);

        // Put wp-1003 back as it was for the next tests.
        sb.sql(`UPDATE waypoints SET status = 'PENDING', completed_timestamp = NULL, waypoints_ahead = 4,
                       estimated_time_of_arrival = ${now() + 27 * MIN} WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#stops-text", /^4 stops before yours/);
        assertClean(rec);
    });

    pageTest("keeps at most the 10 most recent waypoints, like REST", async (t) => {
        const { page, rec } = await openTracking(t, link(server.url));
        await waitText(page, "#conn-text", /Live/);
        const ids = [];
        let sql = "BEGIN;\n";
        for (let i = 0; i < 8; i++) {
            ids.push(`wp-h${i}`);
            sql += `INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, completed_timestamp, waypoints_ahead)
                    VALUES (${q(DC)}, 'wp-h${i}', ${q(CUSTOMER)}, 'route-1', 'COMPLETED', ${now() - (20 - i) * MIN}, 0);\n`;
        }
        sb.sql(sql + "COMMIT;");
        // 4 + 8 = 12 waypoints: the page shows the newest 10 (the hero and 9 finished ones).
        await until(async () => (await page.locator("[data-waypoint='wp-h7']").count()) === 1,
                    { timeout: UPDATE_DEADLINE, what: "the new history rows" });
        await until(async () => (await page.locator("#recent li").count()) === 9, { timeout: 2000, what: "9 history rows" });
        assert.equal(await page.locator("[data-waypoint='wp-0990']").count(), 0, "the oldest fell out of the newest 10");
        assert.equal(await page.locator("[data-waypoint='wp-0981']").count(), 0, "the oldest fell out of the newest 10");
        // A deletion makes room: the next older waypoint comes back (fresh snapshot).
        sb.sql(`DELETE FROM waypoints WHERE dc_id = ${q(DC)} AND id = 'wp-h7';`);
        await until(async () => (await page.locator("[data-waypoint='wp-0990']").count()) === 1,
                    { timeout: UPDATE_DEADLINE, what: "the next older waypoint to refill the list" });
        assert.equal(await page.locator("[data-waypoint='wp-h7']").count(), 0);
        assert.equal(await page.locator("[data-waypoint='wp-0981']").count(), 0);
        assert.equal(await page.locator("#recent li").count(), 9);
        sb.sql(`DELETE FROM waypoints WHERE dc_id = ${q(DC)} AND id LIKE 'wp-h%';`);
        await until(async () => (await page.locator("#recent li").count()) === 3, { timeout: UPDATE_DEADLINE, what: "3 history rows" });
        assertClean(rec);
    });

    pageTest("counts the ETA down locally from the absolute time", async (t) => {
        sb.sql(`UPDATE waypoints SET estimated_time_of_arrival = ${now() + 66000} WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        const { page, rec } = await openTracking(t, link(server.url));
        await waitText(page, "#conn-text", /Live/);
        await waitText(page, "#eta-value", /^2\s*min$/);
        // No change in the database: the page's own clock moves it to 1 min.
        await waitText(page, "#eta-value", /^1\s*min$/, 12000);
        sb.sql(`UPDATE waypoints SET estimated_time_of_arrival = ${now() - 10 * MIN} WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#hero-status", /Running late/);
        assert.match(await text(page, "#hero .eta-label"), /Running late by/);
        assert.match(await text(page, "#eta-value"), /^1[01]\s*min$/);
        sb.sql(`UPDATE waypoints SET estimated_time_of_arrival = ${now() + 27 * MIN} WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#hero-status", /On its way/);
        assertClean(rec);
    });

    pageTest("connection indicator: reconnecting and last-known ETA while the server is away, then resumes with since", async (t) => {
        const { page, rec } = await openTracking(t, link(server.url), { expectNetworkErrors: true });
        await waitText(page, "#conn-text", /Live/);
        assert.equal(await page.locator("#stale-badge").count(), 0, "live data is not marked stale");

        const port = server.port;
        const st = await server.stop();
        assert.equal(st.code, 0, "the server exits 0 on SIGTERM");
        await waitText(page, "#conn-text", /Reconnecting/);
        assert.equal(await page.locator("#conn").getAttribute("data-state"), "reconnecting");
        await waitText(page, "#stale-badge", /Last known estimate · not live/);
        assert.match(await text(page, "#hero .eta-label"), /^Last known/);
        assert.match(await text(page, "#updated"), /Not live/);
        await waitText(page, "#problem", /Can't reach the tracking server|Connection lost/);

        // Changes made while the page is away are not lost: it resumes with since.
        const before = wsMessages(rec).filter((m) => m.dir === "received" && typeof m.msg.seq === "number");
        const lastSeq = Math.max(...before.map((m) => m.msg.seq));
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 3 WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        server = await Server.start(sb, { port });
        await waitText(page, "#conn-text", /Live/, 20000);
        await waitText(page, "#stops-text", /^3 stops before yours/);
        assert.equal(await page.locator("#stale-badge").count(), 0);
        assert.equal(await page.locator("#problem").isVisible(), false, "the problem notice is gone");
        const msgs = wsMessages(rec);
        const resub = msgs.filter((m) => m.dir === "sent" && m.msg.type === "subscribe").at(-1);
        assert.equal(resub.msg.since, lastSeq, "the reconnect resumes after the last seq seen");
        const reply = msgs.filter((m) => m.dir === "received" && m.msg.type === "subscribed").at(-1);
        assert.equal(reply.msg.resumed, true, "the server resumed (no fresh snapshot needed)");
        assert.deepEqual(rec.pageErrors, []);
        assert.deepEqual(rec.foreign, []);
        assert.deepEqual(rec.consoleErrors, []);
    });

    pageTest("every error the live channel can send is put in words; a 'too slow' close just reconnects", async (t) => {
        // The page's WebSocket goes through Playwright, connected to the real
        // server; the test can also speak as the server.
        let route = null;
        let connections = 0;
        const { page, rec } = await openTracking(t, link(server.url), {}, async (pg) => {
            await pg.routeWebSocket(/\/live(\?|$)/, (ws) => { connections++; route = ws; ws.connectToServer(); });
            // Remember every problem shown, however briefly.
            await pg.addInitScript(() => {
                window.__problems = [];
                addEventListener("DOMContentLoaded", () => {
                    const el = document.getElementById("problem");
                    new MutationObserver(() => { if (!el.hidden) window.__problems.push(el.textContent); })
                        .observe(el, { childList: true, subtree: true, attributes: true });
                });
            });
        });
        const problems = () => page.evaluate(() => window.__problems);
        await waitText(page, "#conn-text", /^Live$/);
        assert.equal(connections, 1);

        // 1008 "too slow": back at once, resuming with since, nothing to tell the person.
        const t0 = now();
        await route.close({ code: 1008, reason: "too slow; reconnect with since" });
        await until(() => connections === 2, { timeout: 3000, what: "an immediate reconnect" });
        await waitText(page, "#conn-text", /^Live$/);
        t.diagnostic(`reconnected after a 'too slow' close in ${now() - t0} ms`);
        assert.deepEqual(await problems(), [], "a 'too slow' close is not an error for the person");

        // 500: the database could not be read. Said in words; the page reconnects.
        await route.send(JSON.stringify({ type: "error", id: 1, code: 500, message: "database is locked" }));
        await until(async () => (await problems()).some((p) => /could not be read right now/.test(p)),
                    { what: "the 500 in words" });
        await until(() => connections === 3, { timeout: 5000, what: "a reconnect after 500" });
        await waitText(page, "#conn-text", /^Live$/);
        assert.equal(await page.locator("#problem").isVisible(), false, "the notice goes once live again");

        // 429: too many subscriptions on one connection.
        await route.send(JSON.stringify({ type: "error", id: 1, code: 429, message: "too many subscriptions" }));
        await until(async () => (await problems()).some((p) => /busy/.test(p)), { what: "the 429 in words" });
        await until(() => connections === 4, { timeout: 5000, what: "a reconnect after 429" });
        await waitText(page, "#conn-text", /^Live$/);

        // The page goes on working after all that.
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 6 WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#stops-text", /^6 stops before yours/);
        const subs = wsMessages(rec).filter((m) => m.dir === "sent" && m.msg.type === "subscribe");
        assert.equal(subs.length, 4, "one subscribe per connection");
        assert.ok(subs.slice(1).every((m) => typeof m.msg.since === "number"), "every reconnect resumes with since");

        // 400: the server did not understand the page. Said in words; no retry loop.
        await route.send(JSON.stringify({ type: "error", id: 1, code: 400, message: "unknown type" }));
        await waitText(page, "#problem", /could not talk to the tracking server[\s\S]*unknown type/);
        await waitText(page, "#conn-text", /Offline/);
        await sleep(1500);
        assert.equal(connections, 4);
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 4 WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        assertClean(rec);
    });

    pageTest("offline in the browser: the indicator says so, and the page catches up when back online", async (t) => {
        const { page, context, rec } = await openTracking(t, link(server.url));
        await waitText(page, "#conn-text", /^Live$/);
        await context.setOffline(true);
        await waitText(page, "#conn-text", /^Offline$/);
        await waitText(page, "#problem", /You're offline/);
        await waitText(page, "#stale-badge", /not live/);
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 1 WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await context.setOffline(false);
        await waitText(page, "#conn-text", /^Live$/, 10000);
        await waitText(page, "#stops-text", /^1 stop before yours/);
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 4 WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#stops-text", /^4 stops before yours/);
        assertClean(rec);
    });

    pageTest("a tampered token: the link has expired or is invalid", async (t) => {
        const bad = token.slice(0, -4) + (token.endsWith("AAAA") ? "BBBB" : "AAAA");
        const { page, rec } = await openTracking(t, link(server.url, { tok: bad }), { expectNetworkErrors: true });
        await waitText(page, "#problem", /This tracking link has expired or is invalid/, 10000);
        assert.equal(await page.locator("#problem").getAttribute("role"), "alert");
        await waitText(page, "#conn-text", /Offline/);
        assert.equal(await page.locator("#conn").getAttribute("data-state"), "offline");
        // It stops trying: no reconnect storm against a dead link.
        const n = rec.frames.length;
        await sleep(2500);
        assert.equal(rec.frames.length, n);
        assert.deepEqual(rec.pageErrors, []);
        assert.deepEqual(rec.foreign, []);
    });

    pageTest("an expired token: the same words", async (t) => {
        const short = wpd("token", "create", "--db", sb.db, "--dc", DC, "--customer", CUSTOMER, "--ttl", "1");
        await sleep(1300);
        const { page, rec } = await openTracking(t, link(server.url, { tok: short }), { expectNetworkErrors: true });
        await waitText(page, "#problem", /This tracking link has expired or is invalid/, 10000);
        await waitText(page, "#conn-text", /Offline/);
        assert.deepEqual(rec.pageErrors, []);
    });

    pageTest("a token that expires while the page is open: error 401 from the server, shown in words", async (t) => {
        const short = wpd("token", "create", "--db", sb.db, "--dc", DC, "--customer", CUSTOMER, "--ttl", "4");
        const { page, rec } = await openTracking(t, link(server.url, { tok: short }), { expectNetworkErrors: true });
        await waitText(page, "#conn-text", /Live/);
        await waitText(page, "#problem", /This tracking link has expired or is invalid/, 12000);
        await waitText(page, "#conn-text", /Offline/);
        assert.ok(wsMessages(rec).some((m) => m.dir === "received" && m.msg.type === "error" && m.msg.code === 401),
                  "the server sent error 401");
        // The last known state stays visible, marked as not live.
        await waitText(page, "#stale-badge", /not live/);
        assert.deepEqual(rec.pageErrors, []);
    });

    pageTest("a link whose customer does not match its token: error 403, shown in words", async (t) => {
        const { page, rec } = await openTracking(t, link(server.url, { customer: "bay-bikes" }), { expectNetworkErrors: true });
        await waitText(page, "#problem", /does not match this delivery/, 10000);
        assert.ok(wsMessages(rec).some((m) => m.dir === "received" && m.msg.type === "error" && m.msg.code === 403));
        await waitText(page, "#conn-text", /Offline/);
        assert.deepEqual(rec.pageErrors, []);
        assert.deepEqual(rec.consoleErrors, []);
    });

    pageTest("over HTTP/1.1 too: a refused upgrade (401, a close before any open) reads the same", async () => {
        // Chromium opens WebSockets over HTTP/2 when the server offers it
        // (RFC 8441); without HTTP/2 the upgrade is a plain HTTP/1.1 request.
        const b1 = await launchBrowser(sb.spki, ["--disable-http2"]);
        try {
            const bad = token.slice(0, -4) + (token.endsWith("AAAA") ? "BBBB" : "AAAA");
            const p1 = await newPage(b1, server.url, PHONE, { expectNetworkErrors: true });
            await p1.page.goto(link(server.url, { tok: bad }));
            await waitText(p1.page, "#problem", /This tracking link has expired or is invalid/, 10000);
            await waitText(p1.page, "#conn-text", /Offline/);
            assert.deepEqual(p1.rec.pageErrors, []);
            const p2 = await newPage(b1, server.url, PHONE);
            await p2.page.goto(link(server.url));
            await waitText(p2.page, "#conn-text", /^Live$/);
            assert.match(await text(p2.page, "#stops-text"), /stops? before yours/);
            assertClean(p2.rec);
        } finally {
            await b1.close();
        }
    });

    pageTest("without a tracking link it says what is missing", async (t) => {
        const { page, rec } = await openTracking(t, server.url + "/");
        await waitText(page, "#problem", /This page needs a tracking link/);
        await waitText(page, "#conn-text", /Offline/);
        assert.equal(rec.frames.length, 0, "no connection attempt");
        assertClean(rec);
    });
});

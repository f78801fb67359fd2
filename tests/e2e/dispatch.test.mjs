// SPDX-License-Identifier: MIT
// The dispatcher dashboard (www/dispatch.html) in headless Chromium at desktop
// size, against the real server, with the sqlite3 shell changing waypoints.

import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
    DC, DESKTOP, MIN, SCREENSHOTS, Sandbox, Server, assertClean, launchBrowser, now, pageSuite, q, seed, sleep,
    text, until, waitText as waitTextWithin, wpd, wsMessages,
} from "./harness.mjs";

const UPDATE_DEADLINE = 5000;
const waitText = (page, sel, re, timeout = UPDATE_DEADLINE) => waitTextWithin(page, sel, re, timeout);

let sb, server, browser, key, otherKey;
const { open, pageTest } = pageSuite("dispatch", () => ({ browser, origin: server.url }));

/** Open the board and sign in with the form; resolves once it is live. */
async function signIn(t, { withKey = key, dc = DC, expectLive = true, opts } = {}) {
    const p = await open(t, server.url + "/dispatch.html", DESKTOP, opts);
    await p.page.fill("#api-key", withKey);
    await p.page.fill("#dc-id", dc);
    await p.page.click("#signin-submit");
    if (expectLive) await waitText(p.page, "#conn-text", /^Live$/);
    return p;
}

const routeIds = (page) => page.locator(".route-card").evaluateAll((els) => els.map((e) => e.dataset.route));
const stopIds = (page, route) =>
    page.locator(`.route-card[data-route="${route}"] .stop`).evaluateAll((els) => els.map((e) => e.dataset.waypoint));
const stop = (page, id) => page.locator(`.stop[data-waypoint="${id}"]`);

before(async () => {
    sb = new Sandbox();
    seed(sb);
    key = wpd("key", "create", "--db", sb.db, "--name", "dispatch", "--all-dcs");
    otherKey = wpd("key", "create", "--db", sb.db, "--name", "other", "--dc", "Other-DC");
    assert.match(key, /^wpk_[A-Za-z0-9_-]{43}$/);
    server = await Server.start(sb);
    browser = await launchBrowser(sb.spki);
});

after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop();
    sb?.close();
});

describe("dispatch board", () => {
    pageTest("shows every route of the DC with its stops in order, late stops highlighted", async (t) => {
        const { page, rec } = await signIn(t);
        // Every PENDING waypoint of the DC, grouped by route (natural order).
        await until(async () => (await routeIds(page)).length === 3, { what: "three routes" });
        assert.deepEqual(await routeIds(page), ["route-3", "route-7", "route-12"]);
        assert.deepEqual(await stopIds(page, "route-7"), ["wp-1001", "wp-1002", "wp-1004", "wp-1005", "wp-1003", "wp-1006"]);
        assert.deepEqual(await stopIds(page, "route-12"), ["wp-1101", "wp-1102", "wp-1103", "wp-1104"]);
        assert.deepEqual(await stopIds(page, "route-3"), ["wp-1201", "wp-1202", "wp-1203"]);
        assert.equal(await text(page, "#st-pending"), "13");
        assert.equal(await text(page, "#st-routes"), "3");
        // Names come from the Customers API with the same key.
        await waitText(page, `.stop[data-waypoint="wp-1003"] .who`, /John's Burger Shack/);
        // The late one: ETA in the past, still PENDING.
        assert.match(await stop(page, "wp-1101").getAttribute("class"), /\blate\b/);
        assert.match(await stop(page, "wp-1101").innerText(), /9 min late/);
        assert.equal(await page.locator(".stop.late").count(), 1);
        assert.equal(await text(page, "#st-late"), "1");
        assert.match(await page.locator('.route-card[data-route="route-12"]').getAttribute("class"), /has-late/);
        // The key is in sessionStorage, never in the page's URL.
        assert.equal(await page.evaluate(() => sessionStorage.getItem("waypointd.dispatch.key")), key);
        assert.ok(!page.url().includes(key), "the key is not in the URL");
        assert.equal(await page.inputValue("#api-key"), "", "the key does not linger in the form");
        // The DC subscription: no customer_id.
        const sub = wsMessages(rec).find((m) => m.dir === "sent" && m.msg.type === "subscribe");
        assert.deepEqual(Object.keys(sub.msg).sort(), ["dc_id", "id", "type"]);
        assertClean(rec);
    });

    pageTest("updates live: completed and failed stops change visibly, order follows waypoints_ahead", async (t) => {
        const { page, rec } = await signIn(t);
        await until(async () => (await stopIds(page, "route-7")).length === 6, { what: "route-7" });
        await waitText(page, `.stop[data-waypoint="wp-1001"] .who`, /Bay Bikes/);

        // Bay Bikes delivered: the row stays, marked as delivered, at the top of its route.
        let t0 = now();
        sb.sql(`UPDATE waypoints SET status = 'COMPLETED', completed_timestamp = ${now()} WHERE dc_id = ${q(DC)} AND id = 'wp-1001';`);
        await until(async () => (await stop(page, "wp-1001").getAttribute("data-status")) === "COMPLETED",
                    { timeout: UPDATE_DEADLINE, what: "wp-1001 completed" });
        t.diagnostic(`completion shown after ${now() - t0} ms`);
        assert.match(await stop(page, "wp-1001").getAttribute("class"), /\bcompleted\b/);
        assert.match(await stop(page, "wp-1001").innerText(), /Delivered/);
        assert.equal(await text(page, "#st-done"), "1");
        assert.equal(await text(page, "#st-pending"), "12");
        assert.match(await text(page, "#announce"), /Bay Bikes on route-7: delivered/);

        // The planner moves everyone up one stop, and swaps two.
        sb.sql(`BEGIN;
                UPDATE waypoints SET waypoints_ahead = waypoints_ahead - 1
                  WHERE dc_id = ${q(DC)} AND route_id = 'route-7' AND status = 'PENDING';
                UPDATE waypoints SET waypoints_ahead = 1 WHERE dc_id = ${q(DC)} AND id = 'wp-1005';
                UPDATE waypoints SET waypoints_ahead = 2 WHERE dc_id = ${q(DC)} AND id = 'wp-1004';
                COMMIT;`);
        await until(async () => JSON.stringify(await stopIds(page, "route-7")) ===
                                JSON.stringify(["wp-1001", "wp-1002", "wp-1005", "wp-1004", "wp-1003", "wp-1006"]),
                    { timeout: UPDATE_DEADLINE, what: "route-7 reordered" });

        // A failed delivery on route-12 and a late stop on route-3.
        sb.sql(`UPDATE waypoints SET status = 'FAILED', completed_timestamp = ${now()} WHERE dc_id = ${q(DC)} AND id = 'wp-1102';`);
        await until(async () => (await stop(page, "wp-1102").getAttribute("data-status")) === "FAILED",
                    { timeout: UPDATE_DEADLINE, what: "wp-1102 failed" });
        assert.match(await stop(page, "wp-1102").getAttribute("class"), /\bfailed\b/);
        assert.match(await stop(page, "wp-1102").innerText(), /Failed/);
        sb.sql(`UPDATE waypoints SET estimated_time_of_arrival = ${now() - 4 * MIN} WHERE dc_id = ${q(DC)} AND id = 'wp-1201';`);
        await until(async () => /\blate\b/.test(await stop(page, "wp-1201").getAttribute("class")),
                    { timeout: UPDATE_DEADLINE, what: "wp-1201 late" });
        assert.equal(await text(page, "#st-late"), "2");

        // A new stop, on a new route; then deleted again.
        sb.sql(`INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, estimated_time_of_arrival, waypoints_ahead)
                VALUES (${q(DC)}, 'wp-1401', 'marina-deli', 'route-14', 'PENDING', ${now() + 50 * MIN}, 0);`);
        await until(async () => (await stop(page, "wp-1401").count()) === 1, { timeout: UPDATE_DEADLINE, what: "the insert" });
        assert.deepEqual(await routeIds(page), ["route-3", "route-7", "route-12", "route-14"]);
        assert.equal(await text(page, "#st-routes"), "4");
        sb.sql(`DELETE FROM waypoints WHERE dc_id = ${q(DC)} AND id = 'wp-1401';`);
        await until(async () => (await stop(page, "wp-1401").count()) === 0, { timeout: UPDATE_DEADLINE, what: "the delete" });
        assert.deepEqual(await routeIds(page), ["route-3", "route-7", "route-12"]);
        // A change in another DC is not on this board.
        sb.sql(`INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, estimated_time_of_arrival, waypoints_ahead)
                VALUES ('Other-DC', 'wp-x1', 'someone', 'route-7', 'PENDING', ${now() + 5 * MIN}, 0);`);
        await sleep(1200);
        assert.equal(await stop(page, "wp-x1").count(), 0);

        // The screenshot for the docs: desktop, live, with delivered, failed and late stops.
        sb.sql(`UPDATE waypoints SET status = 'COMPLETED', completed_timestamp = ${now() - 2 * MIN}
                WHERE dc_id = ${q(DC)} AND id = 'wp-1201';
                UPDATE waypoints SET waypoints_ahead = waypoints_ahead - 1
                WHERE dc_id = ${q(DC)} AND route_id = 'route-3' AND status = 'PENDING';`);
        await until(async () => (await stop(page, "wp-1201").getAttribute("data-status")) === "COMPLETED", { what: "wp-1201" });
        await sleep(2200);   // let the change highlights fade
        fs.mkdirSync(SCREENSHOTS, { recursive: true });
        await page.screenshot({ path: path.join(SCREENSHOTS, "dispatch.png") });
        assertClean(rec);
    });

    pageTest("the late-only filter and a reload that keeps the session", async (t) => {
        const { page, rec } = await signIn(t);
        await until(async () => (await page.locator(".stop").count()) > 5, { what: "stops" });
        await page.check("#late-only");
        await until(async () => (await page.locator(".stop").count()) === (await page.locator(".stop.late").count()),
                    { what: "only late stops" });
        assert.ok((await page.locator(".stop.late").count()) >= 1);
        await page.uncheck("#late-only");
        await page.reload();
        await waitText(page, "#conn-text", /^Live$/);
        assert.equal(await page.locator("#signin").isVisible(), false, "no sign-in after a reload in the same tab");
        assert.equal(await text(page, "#board-title"), DC);
        // Sign out forgets the key.
        await page.click("#signout");
        await until(async () => page.locator("#signin").isVisible(), { what: "the sign-in form" });
        assert.equal(await page.evaluate(() => sessionStorage.getItem("waypointd.dispatch.key")), null);
        await waitText(page, "#conn-text", /Not connected|Offline/);
        assertClean(rec);
    });

    pageTest("connection indicator: reconnects by itself and catches up with since", async (t) => {
        const { page, rec } = await signIn(t, { opts: { expectNetworkErrors: true } });
        await until(async () => (await page.locator(".stop").count()) > 5, { what: "stops" });
        const port = server.port;
        await server.stop();
        await waitText(page, "#conn-text", /Reconnecting/);
        await waitText(page, "#updated", /Not live/);
        await until(async () => /\bstale\b/.test(await page.locator("#board").getAttribute("class")), { what: "stale board" });
        await waitText(page, "#board-problem", /Can't reach the server|connection was lost/);
        sb.sql(`UPDATE waypoints SET status = 'SKIPPED', completed_timestamp = ${now()} WHERE dc_id = ${q(DC)} AND id = 'wp-1104';`);
        server = await Server.start(sb, { port });
        await waitText(page, "#conn-text", /^Live$/, 20000);
        await until(async () => (await stop(page, "wp-1104").getAttribute("data-status")) === "SKIPPED",
                    { timeout: UPDATE_DEADLINE, what: "the change made while away" });
        assert.equal(await page.locator("#board-problem").isVisible(), false);
        const reply = wsMessages(rec).filter((m) => m.dir === "received" && m.msg.type === "subscribed").at(-1);
        assert.equal(reply.msg.resumed, true);
        assert.deepEqual(rec.pageErrors, []);
        assert.deepEqual(rec.consoleErrors, []);
    });

    pageTest("a wrong API key is refused in words", async (t) => {
        const { page, rec } = await signIn(t, { withKey: "wpk_" + "A".repeat(43), expectLive: false,
                                                opts: { expectNetworkErrors: true } });
        await waitText(page, "#signin-problem", /The API key was not accepted/, 10000);
        assert.equal(await page.locator("#signin").isVisible(), true);
        await waitText(page, "#conn-text", /Not connected|Offline/);
        assert.equal(await page.evaluate(() => sessionStorage.getItem("waypointd.dispatch.key")), null,
                     "a refused key is not kept");
        assert.deepEqual(rec.pageErrors, []);
        assert.deepEqual(rec.foreign, []);
    });

    pageTest("an empty form says what is missing", async (t) => {
        const { page, rec } = await open(t, server.url + "/dispatch.html", DESKTOP);
        await page.click("#signin-submit");
        await waitText(page, "#signin-problem", /Both fields are needed/);
        assert.equal(await page.getAttribute("#api-key", "aria-invalid"), "true");
        assert.equal(rec.frames.length, 0);
        assertClean(rec);
    });

    pageTest("a key for another DC, and a DC that does not exist: error 403 in words", async (t) => {
        const a = await signIn(t, { withKey: otherKey, expectLive: false });
        await waitText(a.page, "#signin-problem", /This key may not read “Foxtrot-DC”/, 10000);
        assert.ok(wsMessages(a.rec).some((m) => m.dir === "received" && m.msg.type === "error" && m.msg.code === 403));
        assertClean(a.rec);
        const b = await signIn(t, { dc: "No-Such-DC", expectLive: false });
        await waitText(b.page, "#signin-problem", /may not read “No-Such-DC”[\s\S]*does not exist/, 10000);
        assertClean(b.rec);
    });

    pageTest("a tracking token is not a dispatcher's key: error 403 in words", async (t) => {
        const tok = wpd("token", "create", "--db", sb.db, "--dc", DC, "--customer", "bay-bikes");
        const { page, rec } = await signIn(t, { withKey: tok, expectLive: false });
        await waitText(page, "#signin-problem", /may not read/, 10000);
        assert.deepEqual(rec.pageErrors, []);
    });

    pageTest("a key revoked while the board is open: error 401, back to the sign-in form", async (t) => {
        const k = wpd("key", "create", "--db", sb.db, "--name", "short-lived", "--dc", DC);
        const { page, rec } = await signIn(t, { withKey: k, opts: { expectNetworkErrors: true } });
        await until(async () => (await page.locator(".stop").count()) > 5, { what: "stops" });
        wpd("key", "revoke", "--db", sb.db, "--name", "short-lived");
        await waitText(page, "#signin-problem", /The API key was not accepted/, 12000);
        assert.ok(wsMessages(rec).some((m) => m.dir === "received" && m.msg.type === "error" && m.msg.code === 401));
        assert.equal(await page.evaluate(() => sessionStorage.getItem("waypointd.dispatch.key")), null);
        assert.deepEqual(rec.pageErrors, []);
    });
});

// SPDX-License-Identifier: MIT
// The dispatcher dashboard (www/dispatch.html) in headless Chromium at desktop
// size, against the real server, with the sqlite3 shell changing waypoints.

import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
    DC, DESKTOP, MIN, SCREENSHOTS, Sandbox, Server, assertClean, launchBrowser, newPage, now, pageSuite, q, seed, sleep,
    text, until, waitText as waitTextWithin, wpd, wsMessages,
} from "./harness.mjs";

const UPDATE_DEADLINE = 5000;
const waitText = (page, sel, re, timeout = UPDATE_DEADLINE) => waitTextWithin(page, sel, re, timeout);

let sb, server, browser, key, otherKey, seededAt;
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
const marker = (page, id) => page.locator(`#map .stop-marker[data-waypoint="${id}"]`);
const markerFill = (page, id) => marker(page, id).getAttribute("fill");
const routeLine = (page, route) => page.locator(`#map .route-line[data-route="${route}"]`);
// The map's colours (www/map.js STATUS_COLOURS).
const COLOUR = { PENDING: "#3451d1", LATE: "#d92d20", COMPLETED: "#157347", FAILED: "#a85b00", SKIPPED: "#8a93a3" };
// A 1x1 PNG, the test's stand-in for a tile server's tiles.
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");

before(async () => {
    sb = new Sandbox();
    seededAt = seed(sb);
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
    pageTest("the map: a marker per located stop coloured by status, routes joined in stop order, the late stop marked", async (t) => {
        const { page, rec } = await signIn(t);
        // 13 pending stops; Mission Books has no location: 12 markers.
        await until(async () => (await page.locator("#map .stop-marker").count()) === 12, { what: "12 markers" });
        await waitText(page, "#map-note", /No basemap[\s\S]*1 stop has no known location/);
        assert.equal(await page.locator("#map").getAttribute("data-basemap"), "none");
        assert.equal(await page.locator("#map .leaflet-control-scale").count(), 1, "a scale on the plain background");
        assert.equal(await page.locator("#map .leaflet-tile").count(), 0, "no tiles without --map-tiles");
        assert.equal(await marker(page, "wp-1006").count(), 0, "no marker without a location");
        // Coloured by status; the late one red and marked late.
        assert.equal(await markerFill(page, "wp-1002"), COLOUR.PENDING);
        assert.equal(await markerFill(page, "wp-1101"), COLOUR.LATE);
        assert.equal(await marker(page, "wp-1101").getAttribute("data-late"), "true");
        assert.match(await marker(page, "wp-1101").getAttribute("class"), /\bstatus-late\b/);
        assert.equal(await page.locator("#map .stop-marker.status-late").count(), 1);
        // Where: the confident inferred location, else the imported one (never an unconfident inference).
        assert.equal(await marker(page, "wp-1003").getAttribute("data-source"), "inferred");
        assert.equal(Number(await marker(page, "wp-1003").getAttribute("data-lat")), 37.7942);
        assert.equal(await marker(page, "wp-1001").getAttribute("data-source"), "imported");
        assert.equal(Number(await marker(page, "wp-1001").getAttribute("data-lat")), 37.765);
        assert.equal(await marker(page, "wp-1004").getAttribute("data-source"), "imported");
        // Each route's remaining (located) stops, joined in stop order.
        assert.equal(await page.locator("#map .route-line").count(), 3);
        assert.equal(await routeLine(page, "route-7").getAttribute("data-stops"), "wp-1001 wp-1002 wp-1004 wp-1005 wp-1003");
        assert.equal(await routeLine(page, "route-12").getAttribute("data-stops"), "wp-1101 wp-1102 wp-1103 wp-1104");
        assert.equal(await routeLine(page, "route-3").getAttribute("data-stops"), "wp-1201 wp-1202 wp-1203");
        // Every marker is inside the map's visible box (the map frames the stops).
        const box = await page.locator("#map").boundingBox();
        for (const b of await page.locator("#map .stop-marker").evaluateAll((els) => els.map((e) => e.getBoundingClientRect().toJSON()))) {
            assert.ok(b.x >= box.x - 1 && b.y >= box.y - 1 && b.x + b.width <= box.x + box.width + 1 &&
                      b.y + b.height <= box.y + box.height + 1, "a marker outside the map's view");
        }
        // Leaflet came from this server (assertClean: nothing left the origin).
        assertClean(rec);
    });

    pageTest("the map updates live with the board: delivered, failed and late stops change colour", async (t) => {
        const { page, rec } = await signIn(t);
        await until(async () => (await page.locator("#map .stop-marker").count()) === 12, { what: "12 markers" });
        let t0 = now();
        sb.sql(`UPDATE waypoints SET status = 'COMPLETED', completed_timestamp = ${now()} WHERE dc_id = ${q(DC)} AND id = 'wp-1002';`);
        await until(async () => (await markerFill(page, "wp-1002")) === COLOUR.COMPLETED,
                    { timeout: UPDATE_DEADLINE, what: "wp-1002 green on the map" });
        t.diagnostic(`marker colour changed ${now() - t0} ms after the commit`);
        assert.match(await marker(page, "wp-1002").getAttribute("class"), /\bstatus-completed\b/);
        assert.equal(await routeLine(page, "route-7").getAttribute("data-stops"), "wp-1001 wp-1004 wp-1005 wp-1003",
                     "the route line joins the remaining stops only");
        sb.sql(`UPDATE waypoints SET status = 'FAILED', completed_timestamp = ${now()} WHERE dc_id = ${q(DC)} AND id = 'wp-1202';`);
        await until(async () => (await markerFill(page, "wp-1202")) === COLOUR.FAILED, { timeout: UPDATE_DEADLINE, what: "wp-1202 failed" });
        t0 = now();
        sb.sql(`UPDATE waypoints SET estimated_time_of_arrival = ${now() - 3 * MIN} WHERE dc_id = ${q(DC)} AND id = 'wp-1201';`);
        await until(async () => (await markerFill(page, "wp-1201")) === COLOUR.LATE, { timeout: UPDATE_DEADLINE, what: "wp-1201 late" });
        assert.equal(await page.locator("#map .stop-marker.status-late").count(), 2);
        // Everything back as seeded, for the tests after this one.
        sb.sql(`UPDATE waypoints SET status = 'PENDING', completed_timestamp = NULL WHERE dc_id = ${q(DC)} AND id IN ('wp-1002', 'wp-1202');
                UPDATE waypoints SET estimated_time_of_arrival = ${seededAt + 6 * MIN} WHERE dc_id = ${q(DC)} AND id = 'wp-1201';`);
        await until(async () => (await markerFill(page, "wp-1002")) === COLOUR.PENDING &&
                                (await markerFill(page, "wp-1201")) === COLOUR.PENDING, { timeout: UPDATE_DEADLINE, what: "restored" });
        assertClean(rec);
    });

    pageTest("the map with a basemap: serve --map-tiles draws tiles and their credit", async () => {
        const tiled = await Server.start(sb, { extra: ["--map-tiles", "/tiles/{z}/{x}/{y}.png",
                                                       "--map-tiles-attribution", "Test tiles © Example <b>not html</b>"] });
        const { context, page, rec } = await newPage(browser, tiled.url, DESKTOP);
        try {
            const tiles = [];
            await page.route(/\/tiles\/\d+\/\d+\/\d+\.png$/, (r) => { tiles.push(r.request().url()); r.fulfill({ contentType: "image/png", body: PNG }); });
            await page.goto(tiled.url + "/dispatch.html#dc=" + encodeURIComponent(DC));
            await page.fill("#api-key", key);
            await page.click("#signin-submit");
            await waitText(page, "#conn-text", /^Live$/);
            await until(async () => (await page.locator("#map .stop-marker").count()) === 12, { what: "12 markers" });
            await until(async () => (await page.locator("#map img.leaflet-tile").count()) > 0, { what: "tiles" });
            assert.ok(tiles.length > 0);
            assert.equal(await page.locator("#map").getAttribute("data-basemap"), "tiles");
            assert.equal(await text(page, "#map .map-credit"), "Leaflet | Test tiles © Example <b>not html</b>", "the credit is text");
            assert.doesNotMatch(await page.locator("#map-note").innerText().catch(() => ""), /No basemap/);
            assert.equal(await page.locator("#map-note").isVisible(), true, "Mission Books still has no location");
            assertClean(rec);
        } finally {
            await context.close();
            await tiled.stop();
        }
    });

    pageTest("the map asks again for customers it could not look up (429 under a low rate limit)", async () => {
        // 13 customers, two requests each, plus the upgrade and subscribe,
        // against the key's 2 requests per second (bursts of 20): some are
        // answered 429 at first.
        const limited = await Server.start(sb, { extra: ["--rate-limit-key", "2"] });
        const { context, page, rec } = await newPage(browser, limited.url, DESKTOP, { expectNetworkErrors: true });
        try {
            const statuses = [];
            page.on("response", (r) => { if (r.url().includes("/customers/")) statuses.push(r.status()); });
            await page.goto(limited.url + "/dispatch.html#dc=" + encodeURIComponent(DC));
            await page.fill("#api-key", key);
            await page.click("#signin-submit");
            await waitText(page, "#conn-text", /^Live$/, 10000);
            await until(async () => (await page.locator("#map .stop-marker").count()) === 12, { timeout: 30000, what: "all 12 markers" });
            assert.ok(statuses.includes(429), "the limit was hit: " + JSON.stringify(statuses));
            await waitText(page, `.stop[data-waypoint="wp-1003"] .who`, /John's Burger Shack/);
            await waitText(page, "#map-note", /1 stop has no known location/);
            assert.deepEqual(rec.pageErrors, []);
            assert.deepEqual(rec.foreign, []);
        } finally {
            await context.close();
            await limited.stop();
        }
    }, { timeout: 60000 });

    pageTest("a wall screen: #dc= fills in the DC; 'remember on this screen' opens the board by itself, Sign out forgets", async (t) => {
        const { page, context, rec } = await open(t, server.url + "/dispatch.html#dc=" + encodeURIComponent(DC), DESKTOP);
        assert.equal(await page.inputValue("#dc-id"), DC, "#dc= prefills the DC");
        assert.equal(await page.isChecked("#remember"), false, "not remembered unless asked");
        await page.fill("#api-key", key);
        await page.check("#remember");
        await page.click("#signin-submit");
        await waitText(page, "#conn-text", /^Live$/);
        assert.equal(await page.evaluate(() => localStorage.getItem("waypointd.dispatch.remembered.key")), key);
        // A new tab (no session storage), as after a restart: straight to the board.
        const wall = await context.newPage();
        await wall.goto(server.url + "/dispatch.html#dc=" + encodeURIComponent(DC));
        await waitText(wall, "#conn-text", /^Live$/);
        assert.equal(await wall.locator("#signin").isVisible(), false);
        assert.equal(await text(wall, "#board-title"), DC);
        assert.ok(!wall.url().includes(key), "the key is never in the URL");
        // Sign out forgets it on this screen.
        await wall.click("#signout");
        await until(async () => wall.locator("#signin").isVisible(), { what: "the sign-in form" });
        assert.equal(await wall.evaluate(() => localStorage.getItem("waypointd.dispatch.remembered.key")), null);
        const again = await context.newPage();
        await again.goto(server.url + "/dispatch.html#dc=" + encodeURIComponent(DC));
        await until(async () => again.locator("#signin").isVisible(), { what: "sign-in again" });
        assert.equal(await again.inputValue("#dc-id"), DC);
        // Without the tick, a new tab asks for the key.
        await again.fill("#api-key", key);
        await again.click("#signin-submit");
        await waitText(again, "#conn-text", /^Live$/);
        assert.equal(await again.evaluate(() => localStorage.getItem("waypointd.dispatch.remembered.key")), null);
        const third = await context.newPage();
        await third.goto(server.url + "/dispatch.html");
        await until(async () => third.locator("#signin").isVisible(), { what: "sign-in in a new tab" });
        assertClean(rec);
    });

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
        // 9 minutes when seeded; the tests before this one may take a minute or two.
        assert.match(await stop(page, "wp-1101").innerText(), /\b(9|10|11) min late/);
        assert.equal(await page.locator(".stop.late").count(), 1);
        assert.equal(await text(page, "#st-late"), "1");
        assert.match(await page.locator('.route-card[data-route="route-12"]').getAttribute("class"), /has-late/);
        // The key is in sessionStorage, never in the page's URL.
        assert.equal(await page.evaluate(() => sessionStorage.getItem("waypointd.dispatch.key")), key);
        assert.ok(!page.url().includes(key), "the key is not in the URL");
        assert.equal(await page.inputValue("#api-key"), "", "the key does not linger in the form");
        // The DC subscription: no customer_id.
        const sub = wsMessages(rec).find((m) => m.dir === "sent" && m.msg.type === "subscribe");
        assert.deepEqual(Object.keys(sub.msg).sort(), ["dc_id", "id", "notices", "type"]);
        assert.deepEqual(sub.msg.notices, { stops: [3, 1], minutes: [10] }, "the tracking page's thresholds");
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

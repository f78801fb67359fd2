// SPDX-License-Identifier: MIT
// Proximity notices on the demo pages (docs/live.md, "Notices"): the tracking
// page's banner and its opt-in browser notification, and the dispatch board's
// mark on the stops whose customers were told. Headless Chromium against the
// real server; the sqlite3 shell moves the waypoints.

import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import {
    DC, DESKTOP, MIN, PHONE, Sandbox, Server, assertClean, launchBrowser, now, pageSuite, q, seed, until,
    waitText as waitTextWithin, wpd, wsMessages,
} from "./harness.mjs";

const UPDATE_DEADLINE = 5000;      // a committed change must be on the page within this
const waitText = (page, sel, re, timeout = UPDATE_DEADLINE) => waitTextWithin(page, sel, re, timeout);

let sb, server, browser, key;
const { open, pageTest } = pageSuite("notices", () => ({ browser, origin: server.url }));

function trackingLink(customer) {
    const token = wpd("token", "create", "--db", sb.db, "--dc", DC, "--customer", customer);
    const f = new URLSearchParams({ dc: DC, customer, token });
    return server.url + "/#" + f.toString();
}

// window.Notification wrapped so the test sees what the page does: every
// permission request and every notification shown (title, body). The real
// permission (the context's) is what the page reads.
function recordNotifications() {
    const Real = window.Notification;
    window.__asked = 0;
    window.__shown = [];
    function Recorded(title, opts) { window.__shown.push({ title, body: opts && opts.body }); }
    Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
    Recorded.requestPermission = (...a) => { window.__asked++; return Real.requestPermission(...a); };
    window.Notification = Recorded;
}

before(async () => {
    sb = new Sandbox();
    seed(sb);
    key = wpd("key", "create", "--db", sb.db, "--name", "dispatch", "--all-dcs");
    server = await Server.start(sb);
    browser = await launchBrowser(sb.spki);
});

after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop();
    sb?.close();
});

describe("proximity notices", () => {
    pageTest("the tracking page shows a banner when the driver is 3 stops away, then 10 minutes away", async (t) => {
        const { page, rec } = await open(t, trackingLink("johns-burger-shack"), PHONE);
        await waitText(page, "#conn-text", /^Live$/);
        const sub = wsMessages(rec).find((m) => m.dir === "sent" && m.msg.type === "subscribe");
        assert.deepEqual(sub.msg.notices, { stops: [3, 1], minutes: [10] });
        assert.equal(await page.locator("#proximity").isVisible(), false, "4 stops away, 27 min: nothing to tell");
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 3 WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#proximity-text", /^Your driver is 3 stops away$/);
        assert.equal(await page.locator("#proximity").getAttribute("role"), "status");
        sb.sql(`UPDATE waypoints SET estimated_time_of_arrival = ${now() + 9 * MIN + 30000}
                WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await waitText(page, "#proximity-text", /^Arriving in about 10 minutes$/);
        const notices = wsMessages(rec).filter((m) => m.dir === "received" && m.msg.type === "notice");
        assert.deepEqual(notices.map((m) => [m.msg.by, m.msg.threshold]), [["stops", 3], ["minutes", 10]]);
        // Delivered: the banner goes.
        sb.sql(`UPDATE waypoints SET status = 'COMPLETED', completed_timestamp = ${now()}
                WHERE dc_id = ${q(DC)} AND id = 'wp-1003';`);
        await until(async () => !(await page.locator("#proximity").isVisible()), { timeout: UPDATE_DEADLINE, what: "no banner" });
        assertClean(rec);
    });

    pageTest("notifications: asked only on the button, then shown for a notice", async (t) => {
        const { page, context, rec } = await open(t, trackingLink("mission-books"), PHONE, {},
                                                  (pg) => pg.addInitScript(recordNotifications));
        await waitText(page, "#conn-text", /^Live$/);
        const btn = page.locator("#notify-btn");
        await until(async () => btn.isVisible(), { what: "the notification button" });
        assert.equal(await page.evaluate(() => window.__asked), 0, "never asked without a click");
        await context.grantPermissions(["notifications"], { origin: server.url });
        await btn.click();
        await until(async () => (await page.evaluate(() => window.__asked)) === 1, { what: "the permission request" });
        await waitText(page, "#notify-state", /^Notifications are on/);
        assert.equal(await btn.isVisible(), false, "granted: no button");
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 3 WHERE dc_id = ${q(DC)} AND id = 'wp-1006';`);
        await waitText(page, "#proximity-text", /^Your driver is 3 stops away$/);
        const shown = await page.evaluate(() => window.__shown);
        assert.deepEqual(shown, [{ title: "Delivery update", body: "Your driver is 3 stops away" }]);
        assertClean(rec);
    });

    pageTest("the dispatch board marks the stops whose customers were told", async (t) => {
        sb.sql(`INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, estimated_time_of_arrival,
                                      waypoints_ahead, waiting_time_seconds)
                VALUES (${q(DC)}, 'wp-1401', 'haight-records', 'route-3', 'PENDING', ${now() + 80 * MIN}, 6, 300);`);
        const { page, rec } = await open(t, server.url + "/dispatch.html", DESKTOP);
        await page.fill("#api-key", key);
        await page.fill("#dc-id", DC);
        await page.click("#signin-submit");
        await waitText(page, "#conn-text", /^Live$/);
        const told = (id) => page.locator(`.stop[data-waypoint="${id}"] .badge.told`);
        await until(async () => (await page.locator('.stop[data-waypoint="wp-1401"]').count()) === 1, { what: "the new stop" });
        // A stop already 3 stops or fewer away was told when its subscription began.
        await until(async () => (await told("wp-1005").count()) === 1, { what: "wp-1005 marked" });
        assert.equal(await told("wp-1401").count(), 0, "6 stops away: not told");
        sb.sql(`UPDATE waypoints SET waypoints_ahead = 2 WHERE dc_id = ${q(DC)} AND id = 'wp-1401';`);
        await until(async () => (await told("wp-1401").count()) === 1, { timeout: UPDATE_DEADLINE, what: "wp-1401 marked" });
        assert.match(await told("wp-1401").getAttribute("title"), /^Customer told: 2 stops away$/);
        assert.match(await page.locator('.stop[data-waypoint="wp-1401"]').getAttribute("aria-label"), /customer told: 2 stops away$/);
        // A new route re-arms the notices: the mark goes until the customer is told again.
        sb.sql(`UPDATE waypoints SET route_id = 'route-9', waypoints_ahead = 5 WHERE dc_id = ${q(DC)} AND id = 'wp-1401';`);
        await until(async () => (await told("wp-1401").count()) === 0, { timeout: UPDATE_DEADLINE, what: "the mark gone" });
        assertClean(rec);
    });
});

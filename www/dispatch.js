// SPDX-License-Identifier: MIT
// The dispatcher dashboard: with an API key (kept in sessionStorage, never in a
// URL; in localStorage too only when the operator ticks "remember on this
// screen", for a wall screen) and a DC id, it subscribes to the whole DC over
// the live channel (the snapshot is every PENDING waypoint of the DC) and shows
// every route and its stops, on a map and as lists, as the drivers report in.

import { LiveClient, probeRest, formatDuration, formatWhen, formatTime, h } from "./live.js";
import { StopMap } from "./map.js";

const KEY_STORE = "waypointd.dispatch.key";
const DC_STORE = "waypointd.dispatch.dc";
// A wall screen's key and DC, kept across browser restarts (localStorage) only
// when the operator asked for it; Sign out forgets them.
const REMEMBER_KEY = "waypointd.dispatch.remembered.key";
const REMEMBER_DC = "waypointd.dispatch.remembered.dc";
const NO_ROUTE = "\u0000unassigned";

const $ = (id) => document.getElementById(id);
const els = {
    conn: $("conn"), connText: $("conn-text"), signout: $("signout"),
    signin: $("signin"), form: $("signin-form"), key: $("api-key"), dc: $("dc-id"),
    signinProblem: $("signin-problem"), remember: $("remember"), mapEl: $("map"), mapNote: $("map-note"),
    board: $("board"), title: $("board-title"), sub: $("board-sub"), lateOnly: $("late-only"),
    stRoutes: $("st-routes"), stPending: $("st-pending"), stLate: $("st-late"), stDone: $("st-done"), stFailed: $("st-failed"),
    boardProblem: $("board-problem"), routes: $("routes"), empty: $("board-empty"),
    updated: $("updated"), announce: $("announce"),
};

const svg = (paths) =>
    `<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" ` +
    `stroke-linejoin="round" aria-hidden="true">${paths}</svg>`;
const ICONS = {
    check: svg('<path d="M5 12.5l4.5 4.5L19 7.5"/>'),
    cross: svg('<path d="M7 7l10 10M17 7L7 17"/>'),
    skip: svg('<path d="M6 6l7 6-7 6M17 6v12"/>'),
    truck: svg('<path d="M2.5 6.5h11v9h-11zM13.5 9.5h4l3 3v3h-7"/><circle cx="6.5" cy="17" r="1.8"/><circle cx="17" cy="17" r="1.8"/>'),
    alert: svg('<circle cx="12" cy="12" r="9"/><path d="M12 7.5v5.5M12 16.5v.01"/>'),
    wifi: svg('<path d="M3 9a13 13 0 0 1 18 0M6.5 12.5a8 8 0 0 1 11 0M10 16a3 3 0 0 1 4 0M12 19.5v.01"/>'),
    inbox: svg('<path d="M3.5 13.5l2.5-8h12l2.5 8v5h-17zM3.5 13.5h5l1.5 2.5h4l1.5-2.5h5"/>'),
};
const icon = (name) => { const t = document.createElement("template"); t.innerHTML = ICONS[name]; return t.content.firstChild; };

// ---- storage (sessionStorage may be unavailable: then the key lives in memory) ----

const store = {
    get(k) { try { return sessionStorage.getItem(k); } catch (_) { return null; } },
    set(k, v) { try { sessionStorage.setItem(k, v); } catch (_) { /* memory only */ } },
    del(k) { try { sessionStorage.removeItem(k); } catch (_) { /* nothing */ } },
};
const screenStore = {
    get(k) { try { return localStorage.getItem(k); } catch (_) { return null; } },
    set(k, v) { try { localStorage.setItem(k, v); } catch (_) { /* not kept */ } },
    del(k) { try { localStorage.removeItem(k); } catch (_) { /* nothing */ } },
};
function forgetKey() {
    store.del(KEY_STORE);
    screenStore.del(REMEMBER_KEY);
    screenStore.del(REMEMBER_DC);
}

// ---- state ---------------------------------------------------------------------

let client = null;
let apiKey = "";
let dcId = "";
let conn = { state: "offline" };
const stops = new Map();       // waypoint id -> {w, seenAt, changedAt, doneAt}
let doneSinceOpen = 0;
let lastChange = 0;
let lastLive = 0;
const names = new Map();       // customer id -> {name, address, loc} | null (unknown) | "loading"
let map = null;                // the StopMap, made when the board is first shown
const nameQueue = [];
let nameInFlight = 0;

// ---- sign in / out ------------------------------------------------------------------

function showSigninProblem(title, text) {
    const p = els.signinProblem;
    p.replaceChildren(icon("alert"), h("div", {}, h("strong", { text: title }), h("span", { text })));
    p.hidden = false;
}

function showBoardProblem(kind, title, text) {
    const p = els.boardProblem;
    p.className = "notice board-notice " + kind;
    p.replaceChildren(icon(kind === "error" ? "alert" : "wifi"), h("div", {}, h("strong", { text: title }), h("span", { text })));
    p.hidden = false;
}
function clearBoardProblem() { els.boardProblem.hidden = true; els.boardProblem.replaceChildren(); }

els.form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = els.key.value.trim();
    const dc = els.dc.value.trim();
    els.key.removeAttribute("aria-invalid");
    els.dc.removeAttribute("aria-invalid");
    if (!key || !dc) {
        showSigninProblem("Both fields are needed.",
                          !key ? "Type or paste the API key you were given." : "Type the id of the distribution centre.");
        (!key ? els.key : els.dc).setAttribute("aria-invalid", "true");
        (!key ? els.key : els.dc).focus();
        return;
    }
    store.set(KEY_STORE, key);
    store.set(DC_STORE, dc);
    if (els.remember.checked) {
        screenStore.set(REMEMBER_KEY, key);
        screenStore.set(REMEMBER_DC, dc);
    } else {
        screenStore.del(REMEMBER_KEY);
        screenStore.del(REMEMBER_DC);
    }
    els.key.value = "";
    open(key, dc);
});

els.signout.addEventListener("click", () => {
    forgetKey();
    close();
    showSignin();
    els.key.focus();
});

els.lateOnly.addEventListener("change", () => render());

function showSignin() {
    els.signin.hidden = false;
    els.board.hidden = true;
    els.signout.hidden = true;
    if (dcId) els.dc.value = dcId;
    document.title = "Dispatch board · waypointd";
}

function close() {
    const c = client;
    client = null;
    c?.stop("offline");
    apiKey = "";
    setConn("idle");
}

function open(key, dc) {
    close();
    apiKey = key;
    dcId = dc;
    stops.clear();
    doneSinceOpen = 0;
    lastChange = 0;
    names.clear();
    nameQueue.length = 0;
    els.signinProblem.hidden = true;
    els.signin.hidden = true;
    els.board.hidden = false;
    if (!map) map = new StopMap(els.mapEl, els.mapNote);
    else { map.clear(); map.resize(); }
    els.signout.hidden = false;
    els.title.textContent = dc;
    document.title = dc + " · Dispatch board";
    clearBoardProblem();
    render();
    const probePath = "/dcs/" + encodeURIComponent(dc) + "/customers/-/waypoints";
    client = new LiveClient({
        credential: key, dcId: dc, customerId: null,
        // The tracking page's thresholds (tracking.js): the board marks the
        // stops whose customers were told.
        notices: { stops: [3, 1], minutes: [10] },
        probe: () => probeRest(probePath, key),
        on: {
            state: setConn, snapshot: onSnapshot, resumed: () => { lastLive = Date.now(); render(); },
            waypoint: onWaypoint, removed: onRemoved, notice: onNotice, problem: onProblem,
            clear: clearBoardProblem,
        },
    });
    client.start();
    els.title.focus({ preventScroll: true });
}

// ---- problems, in words --------------------------------------------------------------

function fatalBackToSignin(title, text, forget) {
    if (forget) forgetKey();
    close();
    showSignin();
    showSigninProblem(title, text);
    els.key.focus();
}

function onProblem(p) {
    switch (p.kind) {
    case "auth":
        fatalBackToSignin("The API key was not accepted.",
                          "It is unknown, has been revoked or was mistyped. Check it and try again.", true);
        break;
    case "forbidden":
        fatalBackToSignin("This key may not read “" + dcId + "”.",
                          "Either the distribution centre does not exist or the key is not allowed on it" +
                          (p.message ? " (" + p.message + ")" : "") + ". Dispatch boards need an API key for that DC.", false);
        break;
    case "request":
        fatalBackToSignin("The server refused the request.",
                          (p.message ? p.message + ". " : "") + "Check the distribution centre id.", false);
        break;
    case "limit":
        showBoardProblem("warn", "Too many subscriptions on one connection.", "Starting a new connection now.");
        break;
    case "server":
        showBoardProblem("warn", "The server could not read the database" + (p.code ? " (error " + p.code + ")" : "") + ".",
                         "Retrying by itself. The board shows the last known state until then.");
        break;
    case "unreachable":
        showBoardProblem("warn", "Can't reach the server.",
                         "Check the network. Retrying by itself; the board shows the last known state.");
        break;
    case "closed":
        showBoardProblem("warn", "The connection was lost.",
                         "Reconnecting and catching up on what was missed. The board shows the last known state.");
        break;
    default:
        showBoardProblem("error", "Something went wrong.", p.message || "Reload the page.");
    }
}

const CONN_TEXT = { idle: "Not connected", connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline", stopped: "Offline" };

function setConn(state) {
    conn = { state };
    els.conn.dataset.state = state === "stopped" ? "offline" : state;
    els.connText.textContent = CONN_TEXT[state] || state;
    if (state === "live") lastLive = Date.now();
    if (state === "offline" && client) {
        showBoardProblem("warn", "You're offline.", "The board catches up by itself when the network is back.");
    }
    els.board.classList.toggle("stale", state !== "live" && stops.size > 0);
    renderFooter();
}

// ---- data ------------------------------------------------------------------------------

function onSnapshot(list) {
    const now = Date.now();
    stops.clear();
    for (const w of list) stops.set(w.id, { w, changedAt: 0, doneAt: 0 });
    lastChange = now;
    for (const w of list) wantName(w.customer_id);
    render();
}

function onWaypoint(m) {
    const w = m.waypoint;
    if (!w || typeof w.id !== "string") return;
    const now = Date.now();
    const had = stops.get(w.id);
    const wasDone = had && had.w.status !== "PENDING";
    // What the customer was told stays with the stop until a new route
    // re-arms the notices (docs/live.md).
    const told = had && had.w.route_id === w.route_id ? had.told : null;
    const entry = { w, changedAt: now, doneAt: had?.doneAt || 0, told };
    if (w.status !== "PENDING" && !wasDone) {
        entry.doneAt = now;
        if (w.status === "COMPLETED") doneSinceOpen++;
        announce(w);
    }
    stops.set(w.id, entry);
    lastChange = now;
    wantName(w.customer_id);
    render();
}

// A notice follows its stop's waypoint message: the stop is in the map.
function onNotice(m) {
    const e = stops.get(m.waypoint_id);
    if (!e || m.kind !== "approaching") return;
    const v = Number(m.value);
    e.told = m.by === "stops" ? (v <= 0 ? "next stop" : `${v} stop${v === 1 ? "" : "s"} away`) : `about ${v} min away`;
    render();
}

function onRemoved(m) {
    stops.delete(m.waypoint_id);
    lastChange = Date.now();
    render();
}

function announce(w) {
    const who = displayName(w.customer_id);
    const what = w.status === "COMPLETED" ? "delivered" : w.status === "FAILED" ? "failed" : "skipped";
    els.announce.textContent = `${who} on ${w.route_id || "an unassigned stop"}: ${what}.`;
}

// An answer that says nothing about the customer (too many requests, the
// server away or failing): ask again later rather than take it as "unknown".
const askAgain = (r) => !r.reachable || r.status === 429 || r.status >= 500;
const ASK_AGAIN_MS = 3000;

/**
 * Where a customer is, as the Customers API says: the inferred location when
 * it is confident (confident-location answers 200), else the imported one;
 * null when there is neither; undefined when the API could not say.
 */
async function customerLocation(dc, id, key, customer) {
    const r = await probeRest("/dcs/" + encodeURIComponent(dc) + "/customers/" + encodeURIComponent(id) +
                              "/confident-location", key);
    if (askAgain(r)) return undefined;
    const d = r.status === 200 && r.body?.data;
    if (d && typeof d.latitude === "number" && typeof d.longitude === "number") {
        return { lat: d.latitude, lon: d.longitude, source: "inferred" };
    }
    const imp = customer?.imported_location;
    if (imp && typeof imp.latitude === "number" && typeof imp.longitude === "number") {
        return { lat: imp.latitude, lon: imp.longitude, source: "imported" };
    }
    return null;
}

// Customer names and locations, a few requests at a time (REST, Authorization header).
function wantName(customerId) {
    if (!customerId || names.has(customerId)) return;
    names.set(customerId, "loading");
    nameQueue.push(customerId);
    pumpNames();
}
function pumpNames() {
    while (nameInFlight < 4 && nameQueue.length) {
        const id = nameQueue.shift();
        const key = apiKey, dc = dcId;
        nameInFlight++;
        probeRest("/dcs/" + encodeURIComponent(dc) + "/customers/" + encodeURIComponent(id), key).then(async (r) => {
            const c = r.reachable && r.status === 200 && r.body?.data?.customer;
            const loc = c ? await customerLocation(dc, id, key, c) : null;
            nameInFlight--;
            if (key !== apiKey || dc !== dcId) return;
            if (askAgain(r) || loc === undefined) {
                names.delete(id);
                setTimeout(() => { if (key === apiKey && dc === dcId) wantName(id); }, ASK_AGAIN_MS);
                pumpNames();
                return;
            }
            names.set(id, c ? { name: c.name || id, address: c.imported_address || "", loc } : null);
            scheduleRender();
            pumpNames();
        });
    }
}
function displayName(customerId) {
    const n = names.get(customerId);
    return n && n !== "loading" ? n.name : customerId;
}

// ---- rendering ---------------------------------------------------------------------------

let renderQueued = false;
function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => { renderQueued = false; render(); });
}

const isLate = (w, now) => w.status === "PENDING" && typeof w.estimated_time_of_arrival === "number" &&
                           w.estimated_time_of_arrival < now;

function groupRoutes(now) {
    const groups = new Map();
    for (const e of stops.values()) {
        const key = e.w.route_id ?? NO_ROUTE;
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(e);
    }
    const out = [];
    for (const [key, list] of groups) {
        const done = list.filter((e) => e.w.status !== "PENDING").sort((a, b) =>
            (a.w.completed_timestamp ?? a.doneAt) - (b.w.completed_timestamp ?? b.doneAt));
        const pending = list.filter((e) => e.w.status === "PENDING").sort((a, b) =>
            (a.w.waypoints_ahead ?? Infinity) - (b.w.waypoints_ahead ?? Infinity) ||
            (a.w.estimated_time_of_arrival ?? Infinity) - (b.w.estimated_time_of_arrival ?? Infinity) ||
            a.w.id.localeCompare(b.w.id));
        const late = pending.filter((e) => isLate(e.w, now)).length;
        out.push({ key, done, pending, late });
    }
    const coll = new Intl.Collator(undefined, { numeric: true });
    out.sort((a, b) => (a.key === NO_ROUTE) - (b.key === NO_ROUTE) || coll.compare(a.key, b.key));
    return out;
}

const rowEls = new Map();     // waypoint id -> li
const cardEls = new Map();    // route key -> {card, title, badges, sub, list}

function routeCard(key) {
    let c = cardEls.get(key);
    if (c) return c;
    const name = key === NO_ROUTE ? "Not on a route" : key;
    const titleId = "route-" + cardEls.size + "-title";
    const title = h("h2", { id: titleId }, icon("truck"), h("span", { text: name }));
    const badges = h("div", { class: "rc-badges" });
    const sub = h("p", { class: "rc-sub" });
    const list = h("ol", { class: "stoplist", "aria-labelledby": titleId });
    const card = h("article", { class: "card route-card", "aria-labelledby": titleId, dataset: { route: key === NO_ROUTE ? "" : key } },
                   h("header", {}, h("div", { class: "rc-title" }, title, badges), sub), list);
    c = { card, badges, sub, list };
    cardEls.set(key, c);
    return c;
}

function stopRow(e, now, pos) {
    const w = e.w;
    let li = rowEls.get(w.id);
    if (!li) {
        li = h("li", { class: "stop", dataset: { waypoint: w.id } });
        li.addEventListener("animationend", () => li.classList.remove("flash"));
        rowEls.set(w.id, li);
    }
    const late = isLate(w, now);
    const status = w.status.toLowerCase();
    const eta = w.estimated_time_of_arrival;
    let seq, whenMain, whenSub;
    if (w.status === "PENDING") {
        seq = String((w.waypoints_ahead ?? pos) + 1);
        whenMain = typeof eta === "number" ? formatTime(eta) : "No ETA";
        whenSub = typeof eta !== "number" ? "" : late ? formatDuration(now - eta) + " late"
            : eta - now < 60000 ? "due now" : "in " + formatDuration(eta - now);
    } else {
        seq = w.status === "COMPLETED" ? "check" : w.status === "FAILED" ? "cross" : "skip";
        const t = w.completed_timestamp ?? e.doneAt;
        whenMain = t ? formatTime(t) : "";
        whenSub = w.status === "COMPLETED" ? "Delivered" : w.status === "FAILED" ? "Failed" : "Skipped";
    }
    const n = names.get(w.customer_id);
    const who = n && n !== "loading" ? n.name : w.customer_id;
    const detail = [w.id, n && n !== "loading" && n.address ? n.address : (n && n !== "loading" ? w.customer_id : "")]
        .filter(Boolean).join(" · ");
    const told = w.status === "PENDING" ? e.told || "" : "";
    const sig = [status, late, seq, whenMain, whenSub, who, detail, told].join("|");
    if (li.dataset.sig !== sig) {
        li.dataset.sig = sig;
        li.dataset.status = w.status;
        li.className = "stop " + status + (late ? " late" : "") + (li.classList.contains("flash") ? " flash" : "");
        const seqEl = h("span", { class: "seq", "aria-hidden": "true" });
        if (w.status === "PENDING") seqEl.textContent = seq; else seqEl.append(icon(seq));
        const label = w.status === "PENDING"
            ? `Stop ${seq}: ${who}, ${typeof eta === "number" ? "ETA " + whenMain + ", " + whenSub : "no ETA yet"}`
            : `${who}: ${whenSub.toLowerCase()}${whenMain ? " at " + whenMain : ""}`;
        li.setAttribute("aria-label", label + (late ? " (late)" : "") + (told ? "; customer told: " + told : ""));
        li.replaceChildren(
            seqEl,
            h("span", { class: "who" }, h("b", { text: who },
                                          told ? h("span", { class: "badge told", title: "Customer told: " + told,
                                                             text: "Told" }) : ""),
              h("small", { text: detail })),
            h("span", { class: "when" }, h("b", { text: whenMain }),
              h("small", {}, late ? h("span", { class: "sr-only", text: "Late: " }) : "", whenSub)));
    }
    if (e.changedAt && e.changedAt > (Number(li.dataset.flashed) || 0)) {
        li.dataset.flashed = String(e.changedAt);
        li.classList.remove("flash");
        void li.offsetWidth;
        li.classList.add("flash");
    }
    return li;
}

function reconcile(parent, children) {
    children.forEach((child, i) => {
        if (parent.children[i] !== child) parent.insertBefore(child, parent.children[i] || null);
    });
    while (parent.children.length > children.length) parent.lastElementChild.remove();
}

function render() {
    const now = Date.now();
    const groups = groupRoutes(now);
    const lateOnly = els.lateOnly.checked;
    const seenRows = new Set();
    const cards = [];
    let pendingTotal = 0, lateTotal = 0, failedTotal = 0;
    for (const g of groups) {
        pendingTotal += g.pending.length;
        lateTotal += g.late;
        failedTotal += g.done.filter((e) => e.w.status !== "COMPLETED").length;
        const shown = lateOnly ? g.pending.filter((e) => isLate(e.w, now)) : [...g.done, ...g.pending];
        if (lateOnly && shown.length === 0) continue;
        const c = routeCard(g.key);
        c.card.classList.toggle("has-late", g.late > 0);
        const badges = [];
        if (g.late) badges.push(h("span", { class: "badge late", text: g.late + " late" }));
        badges.push(h("span", { class: "badge pending", text: g.pending.length + " to go" }));
        if (g.done.length) badges.push(h("span", { class: "badge completed", text: g.done.length + " done" }));
        c.badges.replaceChildren(...badges);
        const next = g.pending[0]?.w;
        const last = g.pending[g.pending.length - 1]?.w;
        const parts = [];
        if (next) parts.push("Next: " + displayName(next.customer_id) +
                             (typeof next.estimated_time_of_arrival === "number" ? " at " + formatTime(next.estimated_time_of_arrival) : ""));
        if (last && last !== next && typeof last.estimated_time_of_arrival === "number") parts.push("Last stop ~" + formatTime(last.estimated_time_of_arrival));
        if (!next) parts.push("All stops done");
        c.sub.textContent = parts.join(" · ");
        const rows = shown.map((e, i) => { seenRows.add(e.w.id); return stopRow(e, now, i); });
        reconcile(c.list, rows);
        cards.push(c.card);
    }
    for (const [key, c] of cardEls) if (!cards.includes(c.card)) { c.card.remove(); cardEls.delete(key); }
    for (const id of rowEls.keys()) if (!seenRows.has(id)) { rowEls.get(id).remove(); rowEls.delete(id); }
    reconcile(els.routes, cards);

    els.stRoutes.textContent = String(groups.length);
    els.stPending.textContent = String(pendingTotal);
    els.stLate.textContent = String(lateTotal);
    els.stDone.textContent = String(doneSinceOpen);
    els.stFailed.textContent = String(failedTotal);
    els.sub.textContent = groups.length
        ? `${groups.length} route${groups.length === 1 ? "" : "s"} · ${pendingTotal} stop${pendingTotal === 1 ? "" : "s"} to go`
        : "";

    const waiting = conn.state !== "live" && stops.size === 0;
    els.empty.hidden = cards.length > 0 || waiting;
    if (!els.empty.hidden) {
        els.empty.replaceChildren(icon("inbox"),
            h("p", { text: lateOnly && stops.size ? "No late stops right now." : "No pending stops in this distribution centre." }),
            h("p", { class: "muted", text: "New stops appear here as soon as they are planned." }));
    }
    els.board.classList.toggle("stale", conn.state !== "live" && stops.size > 0);
    map?.update(groups, {
        locate: (id) => { const n = names.get(id); return n === "loading" || n === undefined ? undefined : n && n.loc; },
        describe: (w) => displayName(w.customer_id),
        isLate: (w) => isLate(w, now),
    });
    renderFooter();
}

function renderFooter() {
    if (!client) { els.updated.textContent = ""; return; }
    if (conn.state === "live") {
        els.updated.textContent = "Live" + (lastChange ? " · last change " + formatWhen(lastChange) : "");
    } else if (lastLive) {
        els.updated.textContent = "Not live · showing the state as of " + formatWhen(lastLive);
    } else {
        els.updated.textContent = "Connecting…";
    }
}

// Late stops and "in N min" change with the clock.
setInterval(() => { if (client) render(); }, 5000);

// ---- start -----------------------------------------------------------------------------------

{
    // #dc=ID fills in (and, with a kept key, opens) that DC: a link never
    // carries the key. A key kept for this tab, else one remembered on this
    // screen (a wall screen comes back by itself after a restart).
    const frag = new URLSearchParams(location.hash.slice(1));
    const dcFromLink = frag.get("dc");
    const remembered = screenStore.get(REMEMBER_KEY);
    const savedKey = store.get(KEY_STORE) || remembered;
    const savedDc = store.get(DC_STORE) || screenStore.get(REMEMBER_DC);
    dcId = dcFromLink || savedDc || "";
    if (dcId) els.dc.value = dcId;
    els.remember.checked = !!remembered;
    if (savedKey && dcId) open(savedKey, dcId);
    else showSignin();
}

// SPDX-License-Identifier: MIT
// The customer's tracking page. Opened as /#dc=D&customer=C&token=wpt_...: the
// fragment never reaches the server or its logs. Subscribes to the customer's
// waypoints over the live channel and keeps them current.

import { LiveClient, probeRest, formatDuration, formatWhen, formatTime, h } from "./live.js";

const MAX_WAYPOINTS = 10;

const $ = (id) => document.getElementById(id);
const els = {
    conn: $("conn"), connText: $("conn-text"), problem: $("problem"), hero: $("hero"),
    upcomingCard: $("upcoming-card"), upcoming: $("upcoming"),
    recentCard: $("recent-card"), recent: $("recent"), recentCount: $("recent-count"),
    recentEmpty: $("recent-empty"), updated: $("updated"), announce: $("announce"),
    proximity: $("proximity"), notify: $("notify"), notifyBtn: $("notify-btn"), notifyState: $("notify-state"),
};

// What the server is asked to tell us (docs/live.md, "Notices"): 3 and 1
// stops before ours, and 10 minutes before the ETA.
const NOTICES = { stops: [3, 1], minutes: [10] };

// ---- icons (static markup, no outside resources) ----------------------------

const svg = (paths, cls = "") =>
    `<svg class="${cls}" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" ` +
    `stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">${paths}</svg>`;
const ICONS = {
    check: svg('<path d="M5 12.5l4.5 4.5L19 7.5"/>'),
    cross: svg('<path d="M7 7l10 10M17 7L7 17"/>'),
    skip: svg('<path d="M6 6l7 6-7 6M17 6v12"/>'),
    clock: svg('<circle cx="12" cy="12" r="8.5"/><path d="M12 7.5V12l3 2"/>'),
    truck: svg('<path d="M2.5 6.5h11v9h-11zM13.5 9.5h4l3 3v3h-7"/><circle cx="6.5" cy="17" r="1.8"/><circle cx="17" cy="17" r="1.8"/>'),
    home: svg('<path d="M4 11l8-6.5 8 6.5M6.5 9.5V19h11V9.5"/>'),
    alert: svg('<circle cx="12" cy="12" r="9"/><path d="M12 7.5v5.5M12 16.5v.01"/>'),
    wifi: svg('<path d="M3 9a13 13 0 0 1 18 0M6.5 12.5a8 8 0 0 1 11 0M10 16a3 3 0 0 1 4 0M12 19.5v.01"/>'),
    bigCheck: '<svg class="done-icon" viewBox="0 0 48 48" aria-hidden="true"><circle cx="24" cy="24" r="22" fill="#e3f4ea"/><path d="M14 24.5l7 7L34.5 17" fill="none" stroke="#157347" stroke-width="4" stroke-linecap="round" stroke-linejoin="round"/></svg>',
};
const icon = (name) => { const t = document.createElement("template"); t.innerHTML = ICONS[name]; return t.content.firstChild; };

// ---- the link --------------------------------------------------------------

const params = new URLSearchParams(location.hash.slice(1));
const dcId = params.get("dc");
const customerId = params.get("customer");
const token = params.get("token");
addEventListener("hashchange", () => location.reload());

// ---- state -------------------------------------------------------------------

let waypoints = [];          // newest first, at most MAX_WAYPOINTS (the REST list)
let haveData = false;
let conn = { state: "connecting", info: {} };
let lastUpdate = 0;          // when we last knew the data was current (ms)
let heroKey = "";            // what the hero shows, to re-render only on change
let prevHero = null;         // the waypoint the hero showed, for announcements

function live() { return conn.state === "live"; }

function aheadKey(id) { return "waypointd.maxAhead." + dcId + "." + id; }
function maxAheadSeen(w) {
    const cur = typeof w.waypoints_ahead === "number" ? w.waypoints_ahead : 0;
    let seen = cur;
    try {
        const stored = Number(localStorage.getItem(aheadKey(w.id)));
        if (stored > seen) seen = stored;
        else localStorage.setItem(aheadKey(w.id), String(cur));
    } catch (_) { /* storage disabled: progress starts from now */ }
    return seen;
}

// ---- proximity notices -----------------------------------------------------------

let proximityFor = null;     // the waypoint the banner speaks of
const notified = new Set();  // (waypoint, route, kind, by, threshold) already shown as a notification

function noticeText(m) {
    const v = Number(m.value);
    if (m.kind === "approaching" && m.by === "stops") {
        return v <= 0 ? "Your driver is heading to you next" : `Your driver is ${v} stop${v === 1 ? "" : "s"} away`;
    }
    if (m.kind === "approaching") {
        return v <= 0 ? "Your driver is arriving now" : `Arriving in about ${v} minute${v === 1 ? "" : "s"}`;
    }
    if (m.kind === "eta_changed" && typeof m.eta === "number") return "New arrival time: " + formatTime(m.eta);
    return "";
}

function onNotice(m) {
    const text = noticeText(m);
    if (!text || typeof m.waypoint_id !== "string") return;
    proximityFor = m.waypoint_id;
    els.proximity.replaceChildren(icon("truck"), h("span", { id: "proximity-text", text }));
    els.proximity.hidden = false;
    flash(els.proximity);
    // A resumed connection tells a crossing again (docs/live.md): one
    // notification per waypoint, route, kind and threshold.
    const w = waypoints.find((x) => x.id === m.waypoint_id);
    const key = [m.waypoint_id, w?.route_id ?? "", m.kind, m.by, m.threshold].join("|");
    if (notified.has(key)) return;
    notified.add(key);
    if (typeof Notification === "function" && Notification.permission === "granted") {
        try {
            new Notification("Delivery update", { body: text, tag: "waypointd-" + m.waypoint_id });
        } catch (_) { /* some browsers only notify from a service worker: the banner says it */ }
    }
}

// The banner goes once its waypoint is no longer on the way.
function proximityOnChange(w) {
    if (proximityFor && w.id === proximityFor && w.status !== "PENDING") {
        proximityFor = null;
        els.proximity.hidden = true;
        els.proximity.replaceChildren();
    }
}

// Opt-in browser notifications: asked only when the person clicks.
function renderNotify() {
    if (typeof Notification !== "function") { els.notify.hidden = true; return; }
    const p = Notification.permission;
    els.notify.hidden = false;
    els.notifyBtn.hidden = p !== "default";
    els.notifyState.textContent = p === "granted" ? "Notifications are on: we tell you when the driver is close."
        : p === "denied" ? "Notifications are blocked in this browser; this page still shows the news." : "";
}

function setupNotify() {
    renderNotify();
    els.notifyBtn.addEventListener("click", async () => {
        try { await Notification.requestPermission(); } catch (_) { /* an old callback-style browser */ }
        renderNotify();
    });
}

// ---- problems, in words -------------------------------------------------------

function showProblem(kind, title, text) {
    const p = els.problem;
    p.className = "notice " + kind;
    p.replaceChildren(icon(kind === "error" ? "alert" : "wifi"),
                      h("div", {}, h("strong", { text: title }), h("span", { text })));
    p.hidden = false;
}
function clearProblem() { els.problem.hidden = true; els.problem.replaceChildren(); }

function onProblem(p) {
    switch (p.kind) {
    case "auth":
        showProblem("error", "This tracking link has expired or is invalid.",
                    "Tracking links work for a limited time. Please ask the sender for a new link.");
        break;
    case "forbidden":
        showProblem("error", "This tracking link does not match this delivery.",
                    "The link may have been copied incompletely. Please open it again from your message, or ask the sender for a new one.");
        break;
    case "request":
        showProblem("error", "The page could not talk to the tracking server.",
                    "The server did not understand a request" + (p.message ? " (" + p.message + ")" : "") +
                    ". Reloading the page may help.");
        break;
    case "limit":
        showProblem("warn", "The tracking server is busy.",
                    "Too many subscriptions on one connection; reconnecting now.");
        break;
    case "server":
        showProblem("warn", "The delivery details could not be read right now.",
                    "The tracking server had a problem" + (p.code ? " (error " + p.code + ")" : "") +
                    ". We keep trying; times shown are the last known.");
        break;
    case "unreachable":
        showProblem("warn", "Can't reach the tracking server.",
                    "Check your internet connection. We keep trying; times shown are the last known.");
        break;
    case "closed":
        if (haveData) {
            showProblem("warn", "Connection lost — reconnecting.",
                        "The times below are the last known until the connection is back.");
        }
        break;
    default:
        showProblem("error", "Something went wrong.", p.message || "Please reload the page.");
    }
    if (p.fatal) { haveData ? renderAll() : renderNoData(); }
}

// ---- connection indicator ------------------------------------------------------

const CONN_TEXT = {
    connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline", stopped: "Offline",
};

function onState(state, info) {
    const was = conn.state;
    conn = { state, info };
    els.conn.dataset.state = state === "stopped" ? "offline" : state;
    els.conn.dataset.transport = info.transport || "websocket";
    els.connText.textContent = CONN_TEXT[state] || state;
    // Live over Server-Sent Events (no WebSocket on this network): said, quietly.
    const sse = state === "live" && info.transport === "sse";
    if (sse) els.connText.append(" ", h("small", { class: "conn-via", text: "(SSE)" }));
    els.conn.title = sse ? "Live updates over Server-Sent Events: WebSocket is not available here" : "";
    if (state === "live") {
        lastUpdate = Date.now();
        clearProblem();
    } else if (state === "offline") {
        showProblem("warn", "You're offline.", "Updates resume by themselves when your connection is back. Times shown are the last known.");
    }
    if (was !== state) renderAll(true);
}

// ---- data -----------------------------------------------------------------------

function onSnapshot(list) {
    waypoints = list.slice(0, MAX_WAYPOINTS);
    haveData = true;
    lastUpdate = Date.now();
    renderAll();
}

function onWaypoint(m) {
    const w = m.waypoint;
    if (!w || typeof w.id !== "string") return;
    const i = waypoints.findIndex((x) => x.id === w.id);
    if (i >= 0) waypoints[i] = w;
    else { waypoints.unshift(w); if (waypoints.length > MAX_WAYPOINTS) waypoints.length = MAX_WAYPOINTS; }
    haveData = true;
    lastUpdate = Date.now();
    renderAll(false, w.id);
}

function onRemoved(m) {
    const before = waypoints.length;
    waypoints = waypoints.filter((x) => x.id !== m.waypoint_id);
    lastUpdate = Date.now();
    // The list held the newest 10: an older waypoint may now belong in it.
    if (before === MAX_WAYPOINTS && waypoints.length < before) client?.refresh();
    renderAll();
}

// ---- rendering -------------------------------------------------------------------

/**
 * Soonest first: the lowest ETA, then the fewest stops ahead; a stop without
 * an ETA after those with one; then the newest (the list's order).
 */
function soonestFirst(a, b) {
    const eta = (w) => (typeof w.estimated_time_of_arrival === "number" ? w.estimated_time_of_arrival : Infinity);
    const ahead = (w) => (typeof w.waypoints_ahead === "number" ? w.waypoints_ahead : Infinity);
    return eta(a) - eta(b) || ahead(a) - ahead(b) || waypoints.indexOf(a) - waypoints.indexOf(b);
}

/** The PENDING waypoints, soonest first. */
function pendingSoonestFirst() {
    return waypoints.filter((w) => w.status === "PENDING").sort(soonestFirst);
}

/**
 * The headline: the PENDING stop that arrives first (not the newest one: a
 * customer on two routes gets the earlier visit first); with nothing
 * pending, the latest delivery.
 */
function nextDelivery() {
    return pendingSoonestFirst()[0] || waypoints[0] || null;
}

function renderNoData() {
    els.hero.setAttribute("aria-busy", "false");
    els.hero.classList.remove("stale");
    const stopped = conn.state === "stopped";
    els.hero.replaceChildren(
        h("div", { class: "hero-head" }, h("h2", { id: "hero-title", class: "eyebrow", text: "Next delivery" })),
        h("div", { class: "eta" },
          h("p", { class: "eta-label", text: stopped ? "Delivery details are not available." :
                                             conn.state === "live" ? "" : "Loading your delivery…" })));
    els.upcomingCard.hidden = true;
    els.recentCard.hidden = true;
    renderFooter();
}

function renderAll(connChanged = false, changedId = null) {
    if (!haveData) { renderNoData(); return; }
    renderHero(changedId);
    renderLists(changedId);
    renderFooter();
}

function statusBadge(w, now) {
    if (w.status === "COMPLETED") return ["completed", "Delivered"];
    if (w.status === "FAILED") return ["failed", "Not delivered"];
    if (w.status === "SKIPPED") return ["skipped", "Skipped"];
    const eta = w.estimated_time_of_arrival;
    if (typeof eta === "number" && eta < now - 120000) return ["late", "Running late"];
    if (w.waypoints_ahead === 0) return ["pending", "You're next"];
    if (typeof eta !== "number") return ["pending", "Scheduled"];
    return ["pending", "On its way"];
}

/** The ETA block's words for now: {cls, label, big: [[number, unit]...] or text, sub}. */
function etaWords(w, now) {
    const eta = w.estimated_time_of_arrival;
    const when = (t) => formatWhen(t, now);
    const at = (t) => (typeof t === "number" ? " " + whenPhrase(t, now) : "");
    if (w.status === "COMPLETED") {
        return { cls: "done", big: "Delivered", sub: ["Your delivery arrived" + at(w.completed_timestamp) + "."] };
    }
    if (w.status === "FAILED") {
        return { cls: "failed", big: "Not delivered",
                 sub: ["The driver could not complete this delivery" + at(w.completed_timestamp) + "."] };
    }
    if (w.status === "SKIPPED") {
        return { cls: "skipped", big: "Skipped", sub: ["This stop was skipped" + at(w.completed_timestamp) + "."] };
    }
    if (typeof eta !== "number") {
        return { cls: "", label: "Estimated arrival", big: "Soon",
                 sub: ["The arrival time appears here as soon as the route is planned."] };
    }
    const left = eta - now;
    if (left > 0) {
        const mins = Math.ceil(left / 60000);
        let big;
        if (mins < 60) big = [[mins, "min"]];
        else if (mins < 48 * 60) big = [[Math.floor(mins / 60), "h"], [String(mins % 60).padStart(2, "0"), "min"]];
        else big = [[Math.round(mins / 1440), "days"]];
        return { cls: "", label: "Arriving in", big, sub: ["Estimated arrival ", h("strong", { text: when(eta) })] };
    }
    if (left > -120000) {
        return { cls: "", label: "Arriving", big: "Any minute", sub: ["Estimated arrival ", h("strong", { text: when(eta) })] };
    }
    const lateMin = Math.ceil(-left / 60000);
    const big = lateMin < 60 ? [[lateMin, "min"]] : [[Math.floor(lateMin / 60), "h"], [String(lateMin % 60).padStart(2, "0"), "min"]];
    return { cls: "late", label: "Running late by", big,
             sub: ["Expected at ", h("strong", { text: when(eta) }), " — the estimate updates as soon as the driver reports in."] };
}

/** "today at 11:28 AM", "yesterday at 9:02 AM", "on Sat, Nov 28 at 10:58 AM". */
function whenPhrase(ms, now) {
    const day = (t) => { const d = new Date(t); d.setHours(0, 0, 0, 0); return d.getTime(); };
    const days = Math.round((day(now) - day(ms)) / 86400000);
    const time = formatTime(ms);
    if (days === 0) return "today at " + time;
    if (days === 1) return "yesterday at " + time;
    return "on " + new Intl.DateTimeFormat(undefined, { weekday: "short", month: "short", day: "numeric" }).format(new Date(ms)) +
           " at " + time;
}

function renderEta(container, w, now) {
    const e = etaWords(w, now);
    const stale = !live() && w.status === "PENDING";
    container.className = "eta" + (e.cls ? " " + e.cls : "") + (stale ? " stale" : "");
    const kids = [];
    if (w.status === "COMPLETED") kids.push(icon("bigCheck"));
    if (e.label) kids.push(h("p", { class: "eta-label", text: stale ? "Last known: " + e.label.toLowerCase() : e.label }));
    const big = h("p", { class: "eta-big", id: "eta-value" });
    if (typeof e.big === "string") { big.textContent = e.big; big.classList.add("word"); }
    else for (const [n, unit] of e.big) big.append(String(n), unit ? h("span", { class: "unit", text: unit }) : "", " ");
    kids.push(big);
    kids.push(h("p", { class: "eta-sub" }, ...e.sub));
    if (stale) {
        kids.push(h("p", { class: "stale-note" },
                    h("span", { class: "badge stale", id: "stale-badge" },
                      "Last known estimate · not live" + (lastUpdate ? " · updated " + formatTime(lastUpdate) : ""))));
    }
    container.replaceChildren(...kids);
}

function renderRoute(w) {
    const ahead = w.waypoints_ahead;
    const total = maxAheadSeen(w);         // the most stops ahead we have seen for it
    const done = Math.max(0, total - ahead);
    const slots = total + 1;               // stops ahead + the customer's own
    const frac = (i) => (i / slots) * 100;
    const track = h("div", { class: "route-track" }, h("div", { class: "route-line" }));
    const fill = h("div", { class: "route-fill" });
    fill.style.width = frac(done) + "%";
    track.append(fill);
    if (total <= 24) {
        for (let i = 1; i <= total; i++) {
            const s = h("span", { class: "route-stop" + (i <= done ? " done" : "") });
            s.style.left = frac(i) + "%";
            track.append(s);
        }
    }
    const truck = h("span", { class: "route-truck" }, icon("truck"));
    truck.style.left = "calc(" + frac(done) + "% + " + (done === 0 ? 15 : 0) + "px)";
    track.append(truck);
    const words = ahead === 0 ? "The driver is heading to you next."
        : done > 0 ? `The driver has made ${done} of ${total} stops before yours; ${ahead} to go.`
        : `${ahead} stop${ahead === 1 ? "" : "s"} before yours.`;
    return [
        h("div", { class: "route", role: "img", "aria-label": "Route progress: " + words },
          track, h("span", { class: "route-home" }, icon("home"))),
        h("div", { class: "route-legend", "aria-hidden": "true" },
          h("span", { text: done > 0 ? `${done} stop${done === 1 ? "" : "s"} done` : "Driver" }), h("span", { text: "You" })),
    ];
}

function renderHero(changedId) {
    const now = Date.now();
    const w = nextDelivery();
    const hero = els.hero;
    hero.setAttribute("aria-busy", "false");
    if (!w) {
        heroKey = "";
        prevHero = null;
        hero.classList.remove("stale");
        hero.replaceChildren(
            h("div", { class: "hero-head" }, h("h2", { id: "hero-title", class: "eyebrow", text: "Next delivery" })),
            h("div", { class: "eta" },
              h("p", { class: "eta-big", id: "eta-value", text: "Nothing planned" }),
              h("p", { class: "eta-sub", text: "There is no delivery scheduled for you right now. This page updates by itself when one is." })));
        return;
    }
    announceChange(prevHero, w);
    prevHero = { ...w };
    const stale = !live() && w.status === "PENDING";
    hero.classList.toggle("stale", stale);
    const [bcls, btext] = statusBadge(w, now);
    const head = h("div", { class: "hero-head" },
                   h("h2", { id: "hero-title", class: "eyebrow", text: w.status === "PENDING" ? "Next delivery" : "Latest delivery" }),
                   h("span", { class: "badge " + bcls, id: "hero-status", text: btext }));
    const eta = h("div", { class: "eta" });
    renderEta(eta, w, now);
    const kids = [head, eta];
    if (w.status === "PENDING" && typeof w.waypoints_ahead === "number" && w.waypoints_ahead >= 0) {
        const n = w.waypoints_ahead;
        kids.push(h("div", { class: "stops" },
                    h("div", { class: "stops-count", id: "stops-ahead", "aria-hidden": "true", text: n === 0 ? "✓" : String(n) }),
                    h("div", { class: "stops-text", id: "stops-text" },
                      n === 0 ? "You're the next stop" : `${n} stop${n === 1 ? "" : "s"} before yours`,
                      h("small", { text: n === 0 ? "The driver is on the way to you." : "The driver delivers these first." }))));
        kids.push(...renderRoute(w));
    }
    // Times and words only: waypoint, route, customer and DC ids are the
    // database's keys, not something a customer reads.
    if (w.status === "PENDING" && typeof w.waiting_time_seconds === "number" && w.waiting_time_seconds > 0) {
        kids.push(h("div", { class: "meta" },
                    h("span", {}, "Time at your stop ", h("b", { text: "about " + formatDuration(w.waiting_time_seconds * 1000) }))));
    }
    hero.replaceChildren(...kids);
    hero.dataset.waypoint = w.id;
    if (changedId && changedId === w.id) flash(hero);
    heroKey = w.id + "|" + w.status;
}

function flash(el) {
    el.classList.remove("flash");
    void el.offsetWidth;   // restart the animation
    el.classList.add("flash");
}

function announceChange(before, w) {
    if (!before) return;
    let say = "";
    if (before.id !== w.id) {
        say = w.status === "PENDING" ? "A new delivery is on its way." : "";
    } else if (before.status !== w.status) {
        say = w.status === "COMPLETED" ? "Your delivery has been delivered."
            : w.status === "FAILED" ? "The delivery could not be completed."
            : w.status === "SKIPPED" ? "Your stop was skipped." : "Your delivery is on its way.";
    } else if (before.waypoints_ahead !== w.waypoints_ahead && typeof w.waypoints_ahead === "number") {
        say = w.waypoints_ahead === 0 ? "You are the next stop."
            : `Now ${w.waypoints_ahead} stop${w.waypoints_ahead === 1 ? "" : "s"} before yours.`;
    } else if (before.estimated_time_of_arrival !== w.estimated_time_of_arrival && typeof w.estimated_time_of_arrival === "number") {
        say = "New estimated arrival: " + formatTime(w.estimated_time_of_arrival) + ".";
    }
    if (say) els.announce.textContent = say;
}

const STATUS_ROW = {
    COMPLETED: ["completed", "check", "Delivered"],
    FAILED: ["failed", "cross", "Delivery failed"],
    SKIPPED: ["skipped", "skip", "Skipped"],
    PENDING: ["pending", "clock", "On its way"],
};

function historyRow(w, now, changedId) {
    const [cls, ic, words] = STATUS_ROW[w.status] || ["skipped", "skip", w.status];
    let when = "";
    if (w.status === "PENDING") {
        when = typeof w.estimated_time_of_arrival === "number" ? "ETA " + formatWhen(w.estimated_time_of_arrival, now) : "";
    } else if (typeof w.completed_timestamp === "number") {
        when = formatWhen(w.completed_timestamp, now);
    }
    const ahead = w.status === "PENDING" && typeof w.waypoints_ahead === "number"
        ? ` · ${w.waypoints_ahead} stop${w.waypoints_ahead === 1 ? "" : "s"} before it` : "";
    const li = h("li", { class: cls, dataset: { waypoint: w.id, status: w.status } },
                 h("span", { class: "icon" }, icon(ic)),
                 h("span", { class: "what" }, h("b", { text: words }), h("small", { class: "when", text: (when || "—") + ahead })));
    if (changedId === w.id) li.classList.add("flash");
    return li;
}

function renderLists(changedId) {
    const now = Date.now();
    const hero = nextDelivery();
    const upcoming = pendingSoonestFirst().filter((w) => w !== hero);
    els.upcomingCard.hidden = upcoming.length === 0;
    els.upcoming.replaceChildren(...upcoming.map((w) => historyRow(w, now, changedId)));

    const done = waypoints.filter((w) => w.status !== "PENDING" && w !== hero);
    done.sort((a, b) => (b.completed_timestamp ?? -Infinity) - (a.completed_timestamp ?? -Infinity));
    els.recentCard.hidden = false;
    els.recent.replaceChildren(...done.map((w) => historyRow(w, now, changedId)));
    els.recentEmpty.hidden = done.length > 0;
    els.recentCount.textContent = done.length ? String(done.length) : "";
}

function renderFooter() {
    if (conn.state === "live") {
        els.updated.textContent = "Live · updates appear as they happen";
    } else if (lastUpdate) {
        els.updated.textContent = "Not live · last updated " + formatWhen(lastUpdate);
    } else {
        els.updated.textContent = conn.state === "stopped" ? "Not connected" : "Connecting to the tracking server…";
    }
}

// Counting down: only the ETA and the footer change with the clock.
function tick() {
    if (!haveData) return;
    const w = nextDelivery();
    const eta = els.hero.querySelector(".eta");
    if (w && eta) renderEta(eta, w, Date.now());
    const badge = $("hero-status");
    if (w && badge) {
        const [bcls, btext] = statusBadge(w, Date.now());
        badge.className = "badge " + bcls;
        badge.textContent = btext;
    }
}

// ---- start -------------------------------------------------------------------------

let client = null;

if (!dcId || !customerId || !token) {
    onState("stopped", {});
    showProblem("error", "This page needs a tracking link.",
                "Open the link from your delivery message. It ends with #dc=…&customer=…&token=…");
    renderNoData();
} else {
    document.title = "Track your delivery";
    renderFooter();
    const path = "/dcs/" + encodeURIComponent(dcId) + "/customers/" + encodeURIComponent(customerId) + "/waypoints";
    setupNotify();
    client = new LiveClient({
        credential: token, dcId, customerId, notices: NOTICES,
        // When WebSocket is missing or keeps failing to open: Server-Sent Events.
        eventsPath: path + "/events",
        probe: () => probeRest(path, token),
        on: {
            state: onState, snapshot: onSnapshot, resumed: () => { lastUpdate = Date.now(); },
            waypoint: (m) => { onWaypoint(m); if (m.waypoint) proximityOnChange(m.waypoint); },
            removed: (m) => { onRemoved(m); proximityOnChange({ id: m.waypoint_id, status: "REMOVED" }); },
            notice: onNotice, problem: onProblem, clear: clearProblem,
        },
    });
    client.start();
    setInterval(tick, 1000);
}

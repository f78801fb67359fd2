// SPDX-License-Identifier: MIT
// A small client for the waypointd live channel (wss://HOST/live, subprotocol
// waypoints.v1), shared by the tracking page and the dispatcher dashboard.
//
// It opens one WebSocket, subscribes to one scope (a customer, or a whole DC),
// and keeps it alive:
//   - reconnects by itself with exponential backoff and jitter, resuming with
//     "since" (the newest seq seen), so nothing is lost across reconnects;
//   - reports its state ("connecting", "live", "reconnecting", "offline",
//     "stopped") so a page never shows stale data as live: it is "live" only
//     between a "subscribed" reply and the next sign of trouble;
//   - sends an application ping when the channel has been quiet, and treats a
//     missing pong as a dead connection (sleeping laptops, changed networks);
//   - tells a refused credential (the upgrade is answered 401, which a browser
//     only sees as a close before any open) from an unreachable server by
//     asking the page's probe (a REST request with the same credential);
//   - optionally (one customer's page: `eventsPath`) falls back to Server-Sent
//     Events when WebSocket is missing or never manages to open, e.g. behind a
//     proxy that blocks it: the same JSON messages, the same code path.

export const PROTOCOL = "waypoints.v1";

const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const CONNECT_TIMEOUT_MS = 10000;
const QUIET_PING_MS = 20000;
const PONG_TIMEOUT_MS = 10000;
// Failed attempts in a row, none of which ever opened, before trying the other
// transport (WebSocket -> Server-Sent Events, and back if those never open either).
const FALLBACK_AFTER = 2;
const SWITCH_DELAY_MS = 250;
// readyState values, the same for WebSocket and EventSource (WebSocket may be missing).
const CONNECTING = 0;
const OPEN = 1;

const hasWebSocket = () => typeof WebSocket === "function";
const hasEventSource = () => typeof EventSource === "function";

/** The live channel's URL on this page's own origin. */
export function liveUrl(credential) {
    const scheme = location.protocol === "http:" ? "ws://" : "wss://";
    return scheme + location.host + "/live?access_token=" + encodeURIComponent(credential);
}

/**
 * The event-stream URL (Server-Sent Events), relative to this page's origin.
 * `since` goes before the long access_token: the server's query parsing
 * (libwebsockets 4.1's lws_get_urlarg_by_name) stops at the first parameter
 * longer than its buffer, so a `since` after the token can be overlooked.
 */
export function eventsUrl(path, credential, since = null, notices = null) {
    let q = since != null ? "since=" + encodeURIComponent(since) + "&" : "";
    // The subscribe's notices option in the stream's query form (docs/live.md).
    if (notices?.stops?.length) q += "notices_stops=" + encodeURIComponent(notices.stops.join(",")) + "&";
    if (notices?.minutes?.length) q += "notices_minutes=" + encodeURIComponent(notices.minutes.join(",")) + "&";
    if (notices?.eta_change_minutes) {
        q += "notices_eta_change_minutes=" + encodeURIComponent(notices.eta_change_minutes) + "&";
    }
    return path + "?" + q + "access_token=" + encodeURIComponent(credential);
}

/**
 * Probe a credential with a REST request (Authorization header, never a URL).
 * Resolves to {reachable: false} when the server cannot be reached, else
 * {reachable: true, status, code, message}.
 */
export async function probeRest(path, credential, timeoutMs = 8000) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    try {
        const r = await fetch(path, {
            headers: { Authorization: "Bearer " + credential, Accept: "application/json" },
            cache: "no-store",
            credentials: "omit",
            signal: ctl.signal,
        });
        let code = r.status;
        let message = "";
        let body = null;
        try {
            body = await r.json();
            if (body && body.status === "error" && body.data) {
                code = body.data.code;
                message = body.data.message || "";
            }
        } catch (_) { /* not JSON: keep the HTTP status */ }
        return { reachable: true, status: r.status, code, message, body };
    } catch (_) {
        return { reachable: false };
    } finally {
        clearTimeout(timer);
    }
}

/**
 * new LiveClient({credential, dcId, customerId?, probe?, eventsPath?, on: {...}})
 *
 * eventsPath                the customer's event stream (/dcs/D/customers/C/waypoints/events):
 *                           used instead of WebSocket when the browser has none, or
 *                           when FALLBACK_AFTER WebSocket attempts in a row failed
 *                           without ever opening one. Without it: WebSocket only.
 * on.state(state, info)     state: connecting | live | reconnecting | offline | stopped;
 *                           info: {retryAt, attempt, reason, everLive, lastLiveAt,
 *                                  transport: "websocket" | "sse"}
 * on.snapshot(waypoints, msg)   a fresh snapshot (replace everything)
 * on.resumed(msg)           resumed after `since`: keep what you have, changes follow
 * on.waypoint(msg)          an insert or update ({seq, dc_id, customer_id, waypoint})
 * on.removed(msg)           a delete ({seq, dc_id, customer_id, waypoint_id})
 * on.notice(msg)            a proximity notice, when `notices` was given ({seq, dc_id,
 *                           customer_id, waypoint_id, kind, by, threshold, value}),
 *                           right after the waypoint message of its change
 * on.problem(problem)       something to tell the person: {kind, code, message, fatal}
 *                           kind: "auth" (401), "forbidden" (403), "request" (400),
 *                           "limit" (429), "server" (500), "unreachable", "closed"
 *                           fatal: the client has stopped and will not retry
 * on.clear()                the last problem is over (the subscription is live again)
 */
export class LiveClient {
    constructor({ credential, dcId, customerId = null, probe = null, eventsPath = null, notices = null, on = {} }) {
        this.credential = credential;
        this.notices = notices;   // the subscribe's notices option ({stops, minutes, eta_change_minutes})
        this.dcId = dcId;
        this.customerId = customerId;
        this.probe = probe;
        this.eventsPath = eventsPath && customerId != null ? eventsPath : null;
        this.on = on;
        this.ws = null;
        this.es = null;           // the EventSource, when on Server-Sent Events
        this.transport = hasWebSocket() || !this.eventsPath || !hasEventSource() ? "websocket" : "sse";
        this.opened = { websocket: false, sse: false };   // ever opened, per transport
        this.unopened = 0;        // failed attempts in a row on this transport, none opened
        this.seq = null;          // newest change number seen (for "since")
        this.state = "idle";
        this.attempt = 0;         // failed attempts since the last good subscription
        this.everLive = false;
        this.lastLiveAt = 0;
        this.retryTimer = 0;
        this.retryAt = 0;
        this.pingTimer = 0;
        this.pongTimer = 0;
        this.connectTimer = 0;
        this.reqId = 0;
        this.stopped = true;
        this._onOnline = () => this._wake("online");
        this._onOffline = () => this._goOffline();
        this._onVisible = () => { if (document.visibilityState === "visible") this._wake("visible"); };
    }

    start() {
        if (!this.stopped) return;
        this.stopped = false;
        addEventListener("online", this._onOnline);
        addEventListener("offline", this._onOffline);
        document.addEventListener("visibilitychange", this._onVisible);
        if (navigator.onLine === false) this._goOffline();
        else this._connect();
    }

    /** Stop for good (or until start() again); no more callbacks. */
    stop(finalState = "stopped", info = {}) {
        if (this.stopped) return;     // once: the first reason stands
        this.stopped = true;
        removeEventListener("online", this._onOnline);
        removeEventListener("offline", this._onOffline);
        document.removeEventListener("visibilitychange", this._onVisible);
        this._clearTimers();
        this._dropSocket(1000, "bye");
        this._setState(finalState, info);
    }

    /** Ask for a fresh snapshot on the open connection (e.g. to refill a list). */
    refresh() {
        if (this.ws && this.ws.readyState === OPEN) this._subscribe(false);
        // An event stream has no way back: open a new one without since.
        else if (this.es && this.es.readyState === OPEN) this._connectSse({ fresh: true });
    }

    // ---- internals -------------------------------------------------------

    _setState(state, info = {}) {
        this.state = state;
        if (state === "live") { this.everLive = true; this.lastLiveAt = Date.now(); }
        this.on.state?.(state, {
            attempt: this.attempt, retryAt: this.retryAt, everLive: this.everLive,
            lastLiveAt: this.lastLiveAt, transport: this.transport, ...info,
        });
    }

    _clearTimers() {
        clearTimeout(this.retryTimer); this.retryTimer = 0; this.retryAt = 0;
        clearTimeout(this.pingTimer); this.pingTimer = 0;
        clearTimeout(this.pongTimer); this.pongTimer = 0;
        clearTimeout(this.connectTimer); this.connectTimer = 0;
    }

    /** The open or opening connection, whichever the transport. */
    _current() {
        return this.ws || this.es;
    }

    _dropSocket(code, reason) {
        const ws = this.ws;
        const es = this.es;
        this.ws = this.es = null;
        if (es) {
            es.onopen = es.onmessage = es.onerror = null;
            es.close();   // no automatic reconnect: we resume with since ourselves
        }
        if (!ws) return;
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        try {
            if (ws.readyState === OPEN) ws.close(code, reason);
            else if (ws.readyState === CONNECTING) ws.close();
        } catch (_) { /* already gone */ }
    }

    _connect() {
        if (this.stopped) return;
        if (this.transport === "sse") { this._connectSse(); return; }
        this._clearTimers();
        this._dropSocket(1000, "reconnecting");
        this._setState(this.everLive || this.attempt > 0 ? "reconnecting" : "connecting",
                       { retryAt: 0, connectingNow: true });
        let ws;
        try {
            ws = new WebSocket(liveUrl(this.credential), PROTOCOL);
        } catch (e) {
            this.on.problem?.({ kind: "closed", code: 0, message: String(e && e.message || e), fatal: true });
            this.stop();
            return;
        }
        this.ws = ws;
        this.answered = false;    // a "subscribed" reply came on this connection
        let opened = false;
        this.connectTimer = setTimeout(() => {
            if (this.ws === ws && !opened) this._lost(ws, { opened: false, code: 0, reason: "timeout" });
        }, CONNECT_TIMEOUT_MS);
        ws.onopen = () => {
            opened = true;
            this.opened.websocket = true;
            clearTimeout(this.connectTimer);
            this._subscribe(true);
            this._armPing();
        };
        ws.onmessage = (ev) => this._message(ev);
        ws.onerror = () => { /* a close always follows; handled there */ };
        ws.onclose = (ev) => this._lost(ws, { opened, code: ev.code, reason: ev.reason });
    }

    /**
     * The Server-Sent Events transport: one GET on the customer's event stream,
     * credential and since in the query (EventSource cannot set headers). Every
     * event's data is a live-channel message, handled by _message() like a
     * WebSocket frame. On any error the EventSource is closed and _lost() decides,
     * as for a WebSocket: the browser's own reconnect is never used, since it
     * resumes with Last-Event-ID, which does not reach the server over HTTP/2.
     * fresh: without since (a new snapshot), keeping the state as it is.
     */
    _connectSse({ fresh = false } = {}) {
        if (this.stopped) return;
        this._clearTimers();
        this._dropSocket(1000, "reconnecting");
        if (!fresh) {
            this._setState(this.everLive || this.attempt > 0 ? "reconnecting" : "connecting",
                           { retryAt: 0, connectingNow: true });
        }
        let es;
        try {
            es = new EventSource(eventsUrl(this.eventsPath, this.credential, fresh ? null : this.seq, this.notices));
        } catch (e) {
            this.on.problem?.({ kind: "closed", code: 0, message: String(e && e.message || e), fatal: true });
            this.stop();
            return;
        }
        this.es = es;
        this.answered = false;
        let opened = false;
        this.connectTimer = setTimeout(() => {
            if (this.es === es && !opened) this._lost(es, { opened: false, code: 0, reason: "timeout" });
        }, CONNECT_TIMEOUT_MS);
        es.onopen = () => {
            opened = true;
            this.opened.sse = true;
            clearTimeout(this.connectTimer);
        };
        es.onmessage = (ev) => this._message(ev);
        // A refusal (401, 403, 429: no status reaches the page), a dropped
        // connection or the end of the stream: all the same here.
        es.onerror = () => this._lost(es, { opened, code: 0, reason: "" });
    }

    _subscribe(resume) {
        const msg = { type: "subscribe", id: ++this.reqId, dc_id: this.dcId };
        if (this.customerId != null) msg.customer_id = this.customerId;
        if (resume && this.seq != null) msg.since = this.seq;
        if (this.notices) msg.notices = this.notices;
        this._send(msg);
    }

    _send(obj) {
        try { this.ws?.send(JSON.stringify(obj)); } catch (_) { /* the close handler retries */ }
    }

    _armPing() {
        clearTimeout(this.pingTimer);
        // An event stream cannot be pinged; the server sends heartbeat comments,
        // which EventSource does not show us.
        if (!this.ws) return;
        this.pingTimer = setTimeout(() => {
            if (!this.ws || this.ws.readyState !== OPEN) return;
            this._send({ type: "ping", id: "keepalive-" + (++this.reqId) });
            clearTimeout(this.pongTimer);
            const ws = this.ws;
            this.pongTimer = setTimeout(() => {
                if (this.ws === ws) this._lost(ws, { opened: true, code: 0, reason: "no answer to ping" });
            }, PONG_TIMEOUT_MS);
        }, QUIET_PING_MS);
    }

    _message(ev) {
        let m;
        try { m = JSON.parse(ev.data); } catch (_) { return; }
        if (!m || typeof m !== "object") return;
        // Any message proves the connection is alive.
        clearTimeout(this.pongTimer); this.pongTimer = 0;
        this._armPing();
        switch (m.type) {
        case "subscribed":
            this.attempt = 0;
            this.unopened = 0;
            this.answered = true;
            if (m.resumed) {
                if (typeof m.seq === "number") this.seq = Math.max(this.seq ?? 0, m.seq);
                this.on.resumed?.(m);
            } else {
                this.seq = typeof m.seq === "number" ? m.seq : this.seq;
                this.on.snapshot?.(Array.isArray(m.waypoints) ? m.waypoints : [], m);
            }
            this.on.clear?.();
            this._setState("live");
            break;
        case "waypoint":
        case "waypoint_removed":
            if (typeof m.seq === "number") {
                if (this.seq != null && m.seq <= this.seq) return;   // already applied
                this.seq = m.seq;
            }
            if (m.type === "waypoint") this.on.waypoint?.(m);
            else this.on.removed?.(m);
            if (this.state === "live") this.lastLiveAt = Date.now();
            break;
        case "notice":
            // Not a change: the seq (its change's) is not taken as "since".
            this.on.notice?.(m);
            break;
        case "error":
            this._serverError(m);
            break;
        default:
            break;   // pong, unsubscribed: nothing to do
        }
    }

    _serverError(m) {
        const code = Number(m.code);
        const message = typeof m.message === "string" ? m.message : "";
        if (code === 401) {
            // The credential expired or was revoked; the server closes next.
            this.on.problem?.({ kind: "auth", code, message, fatal: true });
            this.stop("stopped", { reason: "auth" });
        } else if (code === 403) {
            this.on.problem?.({ kind: "forbidden", code, message, fatal: true });
            this.stop("stopped", { reason: "forbidden" });
        } else if (code === 400) {
            this.on.problem?.({ kind: "request", code, message, fatal: true });
            this.stop("stopped", { reason: "request" });
        } else if (code === 429) {
            // Too many subscriptions on this connection: start over on a new one.
            this.on.problem?.({ kind: "limit", code, message, fatal: false });
            this._lost(this._current(), { opened: true, code: 0, reason: "limit" });
        } else {
            // 500 (the database could not be read) or anything new: try again later.
            this.on.problem?.({ kind: "server", code, message, fatal: false });
            this._lost(this._current(), { opened: true, code: 0, reason: "server" });
        }
    }

    async _lost(ws, { opened, code, reason }) {
        if (this.stopped || !ws || ws !== this._current()) return;
        this._clearTimers();
        this._dropSocket(1000, "reconnecting");
        const tooSlow = code === 1008 && /too slow/i.test(reason || "");
        const serverSaid = reason === "limit" || reason === "server";   // already told the page
        // A refused credential: a close before any open (the upgrade answered
        // 401 over HTTP/1.1), or an open immediately closed with 1008 before
        // any reply (how waypointd refuses a WebSocket over HTTP/2).
        const refusedEarly = !opened || (!this.answered && code === 1008 && !tooSlow);
        if ((!opened || !this.answered) && this.probe && !tooSlow && !serverSaid) {
            // Ask over REST whether the server is there and takes the credential.
            this._setState("reconnecting", { retryAt: 0, checking: true });
            const p = await this.probe();
            if (this.stopped || this._current()) return;
            if (p && p.reachable && (p.code === 401 || p.status === 401)) {
                this.on.problem?.({ kind: "auth", code: 401, message: p.message || "", fatal: true });
                this.stop("stopped", { reason: "auth" });
                return;
            }
            if (p && p.reachable && (p.code === 403 || p.status === 403)) {
                this.on.problem?.({ kind: "forbidden", code: 403, message: p.message || "", fatal: true });
                this.stop("stopped", { reason: "forbidden" });
                return;
            }
            if (p && !p.reachable) {
                this.on.problem?.({ kind: "unreachable", code: 0, message: "", fatal: false });
            } else if (opened) {
                this.on.problem?.({ kind: "closed", code, message: reason || "", fatal: false });
            }
        } else if (refusedEarly && !this.probe && !this.everLive) {
            // No probe: the only sign a browser gets of a refused credential.
            this.on.problem?.({ kind: "auth", code: 401, message: "", fatal: true });
            this.stop("stopped", { reason: "auth" });
            return;
        } else if (!tooSlow && !serverSaid) {
            this.on.problem?.({ kind: "closed", code, message: reason || "", fatal: false });
        }
        if (navigator.onLine === false) { this._goOffline(); return; }
        // Never opened, again and again: this transport may be blocked on the way
        // (WebSocket behind some proxies); try the other one, if there is one.
        const switched = this._maybeSwitch(opened);
        // "too slow" is the server asking us to come back at once with since.
        const delay = tooSlow ? 100 + Math.random() * 400
            : switched ? SWITCH_DELAY_MS + Math.random() * SWITCH_DELAY_MS : this._backoff();
        this.attempt++;
        this.retryAt = Date.now() + delay;
        this.retryTimer = setTimeout(() => this._connect(), delay);
        this._setState("reconnecting", { retryAt: this.retryAt });
    }

    /** Count an attempt that never opened; true when it is time for the other transport. */
    _maybeSwitch(opened) {
        if (opened || this.opened[this.transport]) { this.unopened = 0; return false; }
        if (++this.unopened < FALLBACK_AFTER) return false;
        const other = this.transport === "sse" ? "websocket" : "sse";
        const available = other === "sse" ? this.eventsPath && hasEventSource() : hasWebSocket();
        if (!available || this.opened[other]) return false;
        this.transport = other;
        this.unopened = 0;
        return true;
    }

    _backoff() {
        const d = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.min(this.attempt, 10));
        return d / 2 + Math.random() * d / 2;   // "equal jitter": never a thundering herd
    }

    _goOffline() {
        if (this.stopped) return;
        this._clearTimers();
        this._dropSocket(1000, "offline");
        this._setState("offline", { retryAt: 0 });
    }

    _wake(why) {
        if (this.stopped) return;
        if (this.state === "live" || this.state === "connecting") return;
        if (this._current() && this._current().readyState === CONNECTING) return;
        this._connect();
    }
}

// ---- small helpers shared by both pages ------------------------------------

/** "12 min", "1 h 05 min", "45 s" for a duration in ms (absolute value). */
export function formatDuration(ms) {
    const s = Math.round(Math.abs(ms) / 1000);
    if (s < 60) return s + " s";
    const m = Math.round(s / 60);
    if (m < 60) return m + " min";
    const h = Math.floor(m / 60);
    const mm = m % 60;
    if (h < 24) return h + " h" + (mm ? " " + String(mm).padStart(2, "0") + " min" : "");
    const d = Math.floor(h / 24);
    return d + (d === 1 ? " day" : " days") + (h % 24 ? " " + (h % 24) + " h" : "");
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dateFmt = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });

/** "10:42 AM" today; "Yesterday, 10:42 AM"; "Tue 3 Nov, 10:42 AM". */
export function formatWhen(ms, now = Date.now()) {
    if (typeof ms !== "number" || !isFinite(ms)) return "";
    const d = new Date(ms);
    const today = new Date(now); today.setHours(0, 0, 0, 0);
    const day = new Date(ms); day.setHours(0, 0, 0, 0);
    const diffDays = Math.round((today - day) / 86400000);
    const t = timeFmt.format(d);
    if (diffDays === 0) return t;
    if (diffDays === 1) return "Yesterday, " + t;
    if (diffDays === -1) return "Tomorrow, " + t;
    return dateFmt.format(d) + ", " + t;
}

export function formatTime(ms) {
    return typeof ms === "number" && isFinite(ms) ? timeFmt.format(new Date(ms)) : "";
}

/** Create an element: h("div", {class: "x", text: "y"}, child...). */
export function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
        if (v == null || v === false) continue;
        if (k === "text") el.textContent = v;
        else if (k === "class") el.className = v;
        else if (k === "dataset") Object.assign(el.dataset, v);
        else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
        if (c == null || c === false) continue;
        el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
}

// SPDX-License-Identifier: MIT
// The dispatcher dashboard's map: every stop of the DC at its customer's
// location, coloured by status, each route's remaining stops joined in stop
// order, late stops ringed in red. Leaflet comes from the server itself
// (/vendor/leaflet/, Debian's libjs-leaflet), never from a CDN. A basemap is
// drawn only when the server was started with --map-tiles (it says so in
// /map-config.json); without one, stops and routes are drawn to scale on a
// plain background, and the map says so.

import * as L from "./vendor/leaflet/leaflet.esm.min.js";
import { formatTime, h } from "./live.js";

// Marker colours by status (the board's colours, app.css); a late PENDING
// stop is red with a halo.
export const STATUS_COLOURS = {
    PENDING: "#3451d1",
    LATE: "#d92d20",
    COMPLETED: "#157347",
    FAILED: "#a85b00",
    SKIPPED: "#8a93a3",
};
// One colour per route line, in the board's route order.
const ROUTE_COLOURS = ["#6d28d9", "#0e7490", "#be185d", "#4d7c0f", "#c2410c", "#1d4ed8", "#a16207", "#0f766e"];
const SF = [37.7749, -122.4194];   // where an empty map looks before any stop has a location

/** The map's settings from the server: {tiles: URL template or null, attribution}. */
async function mapConfig() {
    try {
        const r = await fetch("/map-config.json", { cache: "no-store", credentials: "omit" });
        if (!r.ok) return { tiles: null, attribution: "" };
        const c = await r.json();
        return { tiles: typeof c.tiles === "string" && c.tiles ? c.tiles : null,
                 attribution: typeof c.attribution === "string" ? c.attribution : "" };
    } catch (_) {
        return { tiles: null, attribution: "" };
    }
}

/** A corner control showing plain text (Leaflet's own attribution control takes HTML). */
const TextControl = L.Control.extend({
    options: { position: "bottomright", className: "" },
    onAdd() {
        this._div = h("div", { class: "leaflet-control map-text " + this.options.className });
        L.DomEvent.disableClickPropagation(this._div);
        return this._div;
    },
    setText(t) { if (this._div) { this._div.textContent = t; this._div.hidden = !t; } },
});

export class StopMap {
    /**
     * el: the map's container; note: an element for what the map has to say
     * (no basemap, stops without a location).
     */
    constructor(el, note) {
        this.el = el;
        this.note = note;
        this.markers = new Map();   // waypoint id -> {marker, sig}
        this.lines = new Map();     // route key -> {line, sig}
        this.fitted = false;
        this.userMoved = false;
        this.tiles = null;
        this.tileErrors = 0;
        this.map = L.map(el, { center: SF, zoom: 12, attributionControl: false, zoomSnap: 0.25 });
        this.map.getContainer().classList.add("no-basemap");
        L.control.scale({ position: "bottomleft", maxWidth: 160 }).addTo(this.map);
        this.credit = new TextControl({ className: "map-credit" }).addTo(this.map);
        this.credit.setText("Leaflet");
        this.lineLayer = L.layerGroup().addTo(this.map);
        this.markerLayer = L.layerGroup().addTo(this.map);
        this.map.on("dragstart", () => { this.userMoved = true; });
        el.addEventListener("wheel", () => { this.userMoved = true; }, { passive: true });
        this.ready = mapConfig().then((c) => this.configure(c));
        this.lastNote = { located: 0, missing: 0 };
    }

    configure(c) {
        this.config = c;
        if (c.tiles) {
            this.tiles = L.tileLayer(c.tiles, { maxZoom: 19, crossOrigin: false });
            this.tiles.on("tileerror", () => { this.tileErrors++; this.renderNote(); });
            this.tiles.on("tileload", () => { if (this.tileErrors) { this.tileErrors = 0; this.renderNote(); } });
            this.tiles.addTo(this.map);
            this.map.getContainer().classList.remove("no-basemap");
            this.credit.setText("Leaflet" + (c.attribution ? " | " + c.attribution : ""));
        }
        this.el.dataset.basemap = c.tiles ? "tiles" : "none";
        this.renderNote();
    }

    /** Forget everything (another DC, or signed out). */
    clear() {
        this.markerLayer.clearLayers();
        this.lineLayer.clearLayers();
        this.markers.clear();
        this.lines.clear();
        this.fitted = false;
        this.userMoved = false;
        this.lastNote = { located: 0, missing: 0 };
        this.renderNote();
    }

    /** Leaflet measures its container: call when it becomes visible or changes size. */
    resize() { this.map.invalidateSize(); }

    /**
     * Draw the board: groups as dispatch.js makes them ({key, done, pending}
     * with entries {w}), locate(customerId) -> {lat, lon, source} | null |
     * undefined (still loading), describe(w) -> the customer's name,
     * isLate(w) -> bool.
     */
    update(groups, { locate, describe, isLate }) {
        const seen = new Set();
        const seenLines = new Set();
        let located = 0, missing = 0;
        const points = [];
        groups.forEach((g, gi) => {
            const remaining = [];
            for (const e of [...g.done, ...g.pending]) {
                const w = e.w;
                const loc = locate(w.customer_id);
                if (!loc) { if (loc === null) missing++; continue; }
                located++;
                seen.add(w.id);
                const ll = [loc.lat, loc.lon];
                points.push(ll);
                if (w.status === "PENDING") remaining.push({ w, ll });
                this.marker(w, ll, loc, isLate(w), describe(w), g);
            }
            if (g.key && remaining.length > 1) {
                seenLines.add(g.key);
                this.line(g, remaining, ROUTE_COLOURS[gi % ROUTE_COLOURS.length]);
            }
        });
        for (const [id, m] of this.markers) if (!seen.has(id)) { m.marker.remove(); this.markers.delete(id); }
        for (const [key, l] of this.lines) if (!seenLines.has(key)) { l.line.remove(); this.lines.delete(key); }
        this.lastNote = { located, missing };
        this.renderNote();
        // Frame the stops once (and again while nobody has moved the map and
        // stops appear outside the view); never fight the dispatcher's zoom.
        if (points.length) {
            const bounds = L.latLngBounds(points);
            if (!this.fitted || (!this.userMoved && !this.map.getBounds().contains(bounds))) {
                this.map.fitBounds(bounds, { padding: [28, 28], maxZoom: 15, animate: false });
                this.fitted = true;
            }
        }
    }

    marker(w, ll, loc, late, who, g) {
        const status = w.status === "PENDING" && late ? "LATE" : w.status;
        const colour = STATUS_COLOURS[status] || STATUS_COLOURS.SKIPPED;
        const order = w.status === "PENDING" ? g.pending.findIndex((e) => e.w.id === w.id) + 1 : 0;
        const eta = w.estimated_time_of_arrival;
        const label = (order ? `Stop ${order} of ${g.key ?? "no route"}: ` : `${g.key ?? "No route"}: `) + who +
            (w.status === "PENDING" ? (typeof eta === "number" ? `, ETA ${formatTime(eta)}` : ", no ETA yet") + (late ? " (late)" : "")
                : w.status === "COMPLETED" ? ", delivered" : w.status === "FAILED" ? ", failed" : ", skipped");
        const sig = [status, ll[0], ll[1], label].join("|");
        let m = this.markers.get(w.id);
        if (m && m.sig === sig) return;
        const style = {
            radius: status === "LATE" ? 9 : w.status === "PENDING" ? 7 : 6,
            color: status === "LATE" ? "#fde8e6" : "#ffffff",
            weight: status === "LATE" ? 5 : 2,
            fillColor: colour,
            fillOpacity: w.status === "PENDING" ? 0.95 : 0.8,
            className: "stop-marker status-" + status.toLowerCase(),
        };
        if (!m) {
            const marker = L.circleMarker(ll, style).addTo(this.markerLayer);
            marker.bindTooltip("", { direction: "top", offset: [0, -8] });
            m = { marker };
            this.markers.set(w.id, m);
        } else {
            m.marker.setLatLng(ll);
            m.marker.setStyle(style);
            // setStyle keeps the first className: keep the status class current.
            const p = m.marker.getElement();
            p.setAttribute("class", p.getAttribute("class").replace(/\bstatus-[a-z]+/, "status-" + status.toLowerCase()));
        }
        m.sig = sig;
        m.marker.setTooltipContent(label);
        if (status === "PENDING" || status === "LATE") m.marker.bringToFront();
        const p = m.marker.getElement();
        Object.assign(p.dataset, { waypoint: w.id, status: w.status, late: late ? "true" : "false",
                                   route: g.key ?? "", source: loc.source, lat: String(ll[0]), lon: String(ll[1]) });
        p.setAttribute("aria-label", label);
        p.setAttribute("role", "img");
    }

    line(g, remaining, colour) {
        const sig = remaining.map((r) => r.w.id + "@" + r.ll.join(",")).join(" ") + "|" + colour;
        let l = this.lines.get(g.key);
        if (l && l.sig === sig) return;
        const lls = remaining.map((r) => r.ll);
        if (!l) {
            const line = L.polyline(lls, { color: colour, weight: 3, opacity: 0.75, className: "route-line",
                                           interactive: false }).addTo(this.lineLayer);
            l = { line };
            this.lines.set(g.key, l);
        } else {
            l.line.setLatLngs(lls);
            l.line.setStyle({ color: colour });
        }
        l.sig = sig;
        const p = l.line.getElement();
        p.dataset.route = g.key;
        p.dataset.stops = remaining.map((r) => r.w.id).join(" ");
    }

    renderNote() {
        const parts = [];
        if (!this.config) { this.note.textContent = ""; return; }
        if (!this.config.tiles) {
            parts.push("No basemap: stops and routes are drawn to scale on a plain background " +
                       "(the server shows streets when started with --map-tiles).");
        } else if (this.tileErrors) {
            parts.push("The basemap's tiles could not be loaded; stops and routes are drawn without it.");
        }
        const { missing } = this.lastNote;
        if (missing) parts.push(`${missing} stop${missing === 1 ? " has" : "s have"} no known location and ${missing === 1 ? "is" : "are"} not on the map.`);
        this.note.textContent = parts.join(" ");
        this.note.hidden = parts.length === 0;
    }
}

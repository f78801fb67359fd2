/* SPDX-License-Identifier: MIT
 *
 * Webhook events that no change-log row makes (issue 15), and the outbox's
 * pruning: customer.location_confident (customers' triggers fill a log of
 * their own, read per endpoint after its cursor), the time-threshold sweep
 * (waypoint.approaching by minutes when time passes without a write), and
 * the removal of delivered events and old attempts. Each stores its events
 * and state in one transaction, as store_webhook_outbox.c does. The schema
 * step to version 9 lives here. Caller's thread (the delivery thread).
 */
#include "store_webhooks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"
#include "store_int.h"
#include "view_webhook.h"
#include "webhook_derive.h"

/* The newest customer log number ever assigned. */
#define SQL_CUST_HEAD "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'webhook_customer_log'), 0)"

/* 8 -> 9.
 * - webhook_confident: the customers the triggers last saw confident. A
 *   customer is logged when it becomes confident and is not in it, so a
 *   writer that re-imports with INSERT OR REPLACE (a delete the triggers do
 *   not see, then an insert) does not make it new again; a real DELETE takes
 *   it out (inserted again confident: logged again). Seeded with today's
 *   confident customers, so the upgrade itself tells nobody anything.
 * - webhook_customer_log: one row per customer that became confident, in
 *   the writer's transaction; each endpoint reads it after its cursor.
 * - webhook_customer_cursor: how far each endpoint has read that log; set
 *   to the head when an endpoint is added or enabled again (triggers on
 *   webhook_endpoints, so store_webhooks.c's statements stay as they are).
 *   A table rather than a column: every step can run again harmlessly.
 * - A delivered event's next_ms becomes when it was delivered (nothing is
 *   due for it), which pruning counts from, on the index webhook_outbox_due.
 * - Indexes for pruning by time, and for the sweep: the ETAs of PENDING
 *   waypoints (a partial index, so other statuses cost the writers nothing). */
const char store_webhook_notice_schema[] =
    "CREATE TABLE IF NOT EXISTS webhook_confident(dc_id TEXT NOT NULL, customer_id TEXT NOT NULL,"
    " PRIMARY KEY (dc_id, customer_id)) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO webhook_confident(dc_id, customer_id) SELECT dc_id, id FROM customers"
    " WHERE location_confident;"
    "CREATE TABLE IF NOT EXISTS webhook_customer_log(seq INTEGER PRIMARY KEY AUTOINCREMENT, dc_id TEXT NOT NULL,"
    " customer_id TEXT NOT NULL, changed_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS webhook_customer_log_by_dc ON webhook_customer_log(dc_id, seq);"
    "CREATE TRIGGER IF NOT EXISTS webhook_confident_insert AFTER INSERT ON customers WHEN NEW.location_confident"
    " BEGIN"
    " INSERT INTO webhook_customer_log(dc_id, customer_id, changed_ms) SELECT NEW.dc_id, NEW.id, " SQL_NOW_MS
    " WHERE NOT EXISTS (SELECT 1 FROM webhook_confident WHERE dc_id = NEW.dc_id AND customer_id = NEW.id);"
    " INSERT OR IGNORE INTO webhook_confident(dc_id, customer_id) VALUES (NEW.dc_id, NEW.id); END;"
    "CREATE TRIGGER IF NOT EXISTS webhook_confident_update AFTER UPDATE ON customers WHEN"
    " OLD.location_confident IS NOT NEW.location_confident OR OLD.dc_id IS NOT NEW.dc_id OR OLD.id IS NOT NEW.id"
    " BEGIN"
    " DELETE FROM webhook_confident WHERE dc_id = OLD.dc_id AND customer_id = OLD.id AND"
    " (NOT NEW.location_confident OR OLD.dc_id IS NOT NEW.dc_id OR OLD.id IS NOT NEW.id);"
    " INSERT INTO webhook_customer_log(dc_id, customer_id, changed_ms) SELECT NEW.dc_id, NEW.id, " SQL_NOW_MS
    " WHERE NEW.location_confident AND NOT EXISTS (SELECT 1 FROM webhook_confident WHERE dc_id = NEW.dc_id AND"
    " customer_id = NEW.id);"
    " INSERT OR IGNORE INTO webhook_confident(dc_id, customer_id) SELECT NEW.dc_id, NEW.id"
    " WHERE NEW.location_confident; END;"
    "CREATE TRIGGER IF NOT EXISTS webhook_confident_delete AFTER DELETE ON customers BEGIN"
    " DELETE FROM webhook_confident WHERE dc_id = OLD.dc_id AND customer_id = OLD.id; END;"
    "CREATE TABLE IF NOT EXISTS webhook_customer_cursor(endpoint_id TEXT PRIMARY KEY, seq INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "INSERT OR IGNORE INTO webhook_customer_cursor(endpoint_id, seq) SELECT id, " SQL_CUST_HEAD
    " FROM webhook_endpoints;"
    "CREATE TRIGGER IF NOT EXISTS webhook_cursor_insert AFTER INSERT ON webhook_endpoints BEGIN"
    " INSERT OR REPLACE INTO webhook_customer_cursor(endpoint_id, seq) VALUES (NEW.id, " SQL_CUST_HEAD "); END;"
    "CREATE TRIGGER IF NOT EXISTS webhook_cursor_enable AFTER UPDATE OF enabled ON webhook_endpoints"
    " WHEN NEW.enabled AND NOT OLD.enabled BEGIN"
    " INSERT OR REPLACE INTO webhook_customer_cursor(endpoint_id, seq) VALUES (NEW.id, " SQL_CUST_HEAD "); END;"
    "CREATE TRIGGER IF NOT EXISTS webhook_cursor_delete AFTER DELETE ON webhook_endpoints BEGIN"
    " DELETE FROM webhook_customer_cursor WHERE endpoint_id = OLD.id; END;"
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_by_time ON webhook_deliveries(attempt_ms);"
    "CREATE INDEX IF NOT EXISTS waypoints_pending_eta ON waypoints(estimated_time_of_arrival)"
    " WHERE status = 'PENDING';";

static int prepare(struct store *s, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK ? 0 : store_errno(s, SQLITE_OK);
}

static int step_done(struct store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_errno(s, rc);
}

static int rollback(struct store *s, int rc, const char *func, const char *id)
{
    if (rc != -ENOENT)
        log_error("%s: %s: %d", func, id ? id : "-", rc);
    store_exec(s, "ROLLBACK");
    return rc;
}

static int commit(struct store *s)
{
    int rc;

    if (!store_exec(s, "COMMIT"))
        return 0;
    rc = store_errno(s, SQLITE_OK);
    store_exec(s, "ROLLBACK");
    return rc;
}

/* The id as it appears in event ids: its hex, without "wh_". */
static const char *hex_of(const char *id)
{
    return strncmp(id, "wh_", 3) ? id : id + 3;
}

/* ---- customer.location_confident ---- */

#define SQL_CUST_READ                                                                                        \
    "SELECT l.seq, l.changed_ms, l.dc_id, l.customer_id FROM webhook_customer_log l"                          \
    " WHERE l.seq > COALESCE((SELECT seq FROM webhook_customer_cursor WHERE endpoint_id = ?1), 0)"            \
    " AND l.dc_id IN (SELECT dc_id FROM webhook_endpoint_dcs WHERE endpoint_id = ?1) ORDER BY l.seq LIMIT ?2"

/* Rows read < max: nothing of its DCs up to the head (held still by the
 * write lock), so the cursor goes to the head. */
#define SQL_CUST_CURSOR                                                                                      \
    "INSERT OR REPLACE INTO webhook_customer_cursor(endpoint_id, seq) VALUES (?1, CASE WHEN ?3 THEN ?2"    \
    " ELSE " SQL_CUST_HEAD " END)"

/* Whether the endpoint is enabled and behind the customer log's head: a
 * read, so an idle server takes no write lock. 1, 0, or -errno. */
static int cust_behind(struct store *s, const char *id)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if ((rc = prepare(s,
                      "SELECT e.enabled AND COALESCE(c.seq, 0) < " SQL_CUST_HEAD " FROM webhook_endpoints e"
                      " LEFT JOIN webhook_customer_cursor c ON c.endpoint_id = e.id WHERE e.id = ?1",
                      &st)))
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) != 0 : rc == SQLITE_DONE ? -ENOENT : store_errno(s, rc);
    sqlite3_finalize(st);
    return rc;
}

/* One logged customer: its event, if it still exists. */
static int cust_event(struct store *s, sqlite3_stmt *ins, const char *id, sqlite3_stmt *r, int64_t now_ms,
                      size_t *events)
{
    struct customer c;
    const char *dc = (const char *)sqlite3_column_text(r, 2), *cid = (const char *)sqlite3_column_text(r, 3);
    int64_t seq = sqlite3_column_int64(r, 0);
    char msg_id[64], *body;
    size_t len = 0;
    int rc;

    if (!dc || !cid)
        return 0;
    rc = store_customer_get(s, dc, cid, &c);
    if (rc == -ENOENT)
        return 0; /* deleted since: nothing to tell about */
    if (rc)
        return rc;
    body = view_webhook_customer(&c, sqlite3_column_int64(r, 1), &len);
    customer_clear(&c);
    if (!body)
        return -ENOMEM;
    /* No '.' (Standard Webhooks); 'c' keeps it apart from the change log's. */
    snprintf(msg_id, sizeof(msg_id), "msg_%s_c%lld", hex_of(id), (long long)seq);
    sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, msg_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, dc, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 4, seq);
    sqlite3_bind_text(ins, 5, body, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 6, now_ms);
    rc = step_done(s, ins);
    free(body);
    if (!rc)
        (*events)++;
    return rc;
}

int store_webhook_customer_fill(struct store *s, const char *id, int64_t now_ms, size_t max,
                                struct store_webhook_fill *out)
{
    sqlite3_stmt *rd = NULL, *ins = NULL, *cur = NULL;
    struct store_webhook ep;
    struct webhook_rules rules;
    int64_t last = 0;
    int rc, step = SQLITE_DONE, wanted;

    memset(out, 0, sizeof(*out));
    if ((rc = cust_behind(s, id)) <= 0)
        return rc;
    if (store_exec(s, "BEGIN IMMEDIATE"))
        return store_errno(s, SQLITE_OK);
    if ((rc = store_webhook_get(s, id, &ep)))
        return rollback(s, rc, __func__, id);
    rc = webhook_rules_parse(ep.events, ep.eta_minutes, ep.approach_stops, ep.approach_minutes, &rules);
    store_webhook_clear(&ep);
    if (rc)
        return rollback(s, rc, __func__, id);
    wanted = (rules.events & WEBHOOK_EVENT_BIT(WEBHOOK_CUSTOMER_LOCATION_CONFIDENT)) != 0;
    /* waypoint_id '' : a DC's customer events form one queue per endpoint,
     * so each customer's arrive in order. */
    if ((rc = prepare(s, SQL_CUST_READ, &rd)) ||
        (rc = prepare(s,
                      "INSERT OR IGNORE INTO webhook_outbox(endpoint_id, msg_id, type, dc_id, waypoint_id, seq,"
                      " body, created_ms, next_ms) VALUES (?1, ?2, 'customer.location_confident', ?3, '', ?4, ?5,"
                      " ?6, ?6)",
                      &ins)) ||
        (rc = prepare(s, SQL_CUST_CURSOR, &cur)))
        goto fail;
    sqlite3_bind_text(rd, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(rd, 2, (sqlite3_int64)max);
    while (!rc && (step = sqlite3_step(rd)) == SQLITE_ROW) {
        last = sqlite3_column_int64(rd, 0);
        out->changes++;
        if (wanted)
            rc = cust_event(s, ins, id, rd, now_ms, &out->events);
    }
    if (!rc && step != SQLITE_DONE)
        rc = store_errno(s, step);
    sqlite3_finalize(rd);
    rd = NULL;
    if (rc)
        goto fail;
    sqlite3_bind_text(cur, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(cur, 2, last);
    sqlite3_bind_int(cur, 3, out->changes == max);
    if ((rc = step_done(s, cur)))
        goto fail;
    sqlite3_finalize(ins);
    sqlite3_finalize(cur);
    out->cursor = last;
    if ((rc = commit(s)))
        memset(out, 0, sizeof(*out));
    return rc;
fail:
    sqlite3_finalize(rd);
    sqlite3_finalize(ins);
    sqlite3_finalize(cur);
    memset(out, 0, sizeof(*out));
    return rollback(s, rc, __func__, id);
}

/* ---- The time-threshold sweep ---- */

/* The candidates, soonest first, with what the endpoint knows of each. The
 * partial index waypoints_pending_eta bounds the range read; the unary +
 * keeps the planner off the DC's primary key (without it SQLite read the
 * whole DC through waypoints_by_customer and sorted it: EXPLAIN QUERY PLAN). */
#define SQL_SWEEP                                                                                                  \
    "SELECT w.id, w.customer_id, w.route_id, w.status, w.completed_timestamp, w.estimated_time_of_arrival,"      \
    " w.waypoints_ahead, w.waiting_time_seconds, w.dc_id, st.endpoint_id IS NOT NULL, st.status, st.route_id,"   \
    " st.eta_sent, st.stop_fired, st.minute_fired FROM waypoints w LEFT JOIN webhook_wp_state st"                \
    " ON st.endpoint_id = ?1 AND st.dc_id = w.dc_id AND st.waypoint_id = w.id"                                   \
    " WHERE w.status = 'PENDING' AND w.estimated_time_of_arrival BETWEEN ?2 AND ?3"                              \
    " AND +w.dc_id IN (SELECT dc_id FROM webhook_endpoint_dcs WHERE endpoint_id = ?1)"                           \
    " AND (st.endpoint_id IS NULL OR st.minute_fired = 0 OR st.minute_fired > ?4)"                               \
    " ORDER BY w.estimated_time_of_arrival LIMIT ?5"

struct sweep {
    struct store *s;
    const char *id;
    struct webhook_rules rules;
    int64_t now_ms;
    size_t max;
    sqlite3_stmt *ins, *put;
};

static int sweep_store(struct sweep *sw, const struct waypoint *w, const struct webhook_wp_state *next,
                       const struct webhook_derived *ev, size_t n)
{
    sqlite3_stmt *ins = sw->ins, *put = sw->put;
    char prefix[48];
    size_t len = 0;
    char *body = NULL;
    int rc = 0;

    if (n) {
        /* The event id takes the outbox row's number, which AUTOINCREMENT
         * never gives twice: no change-log seq belongs to a time crossing. */
        snprintf(prefix, sizeof(prefix), "msg_%s_t", hex_of(sw->id));
        if (!(body = view_webhook_event(ev, -1, sw->now_ms, w, &len)))
            return -ENOMEM;
        sqlite3_bind_text(ins, 1, sw->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, prefix, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, w->dc_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 4, w->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 5, body, (int)len, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 6, sw->now_ms);
        rc = step_done(sw->s, ins);
        free(body);
        if (rc)
            return rc;
    }
    sqlite3_bind_text(put, 1, sw->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(put, 2, w->dc_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(put, 3, w->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(put, 4, next->status, -1, SQLITE_STATIC);
    sqlite3_bind_text(put, 5, next->route_id, -1, SQLITE_STATIC);
    if (next->has_eta_sent)
        sqlite3_bind_int64(put, 6, next->eta_sent);
    else
        sqlite3_bind_null(put, 6);
    sqlite3_bind_int(put, 7, next->stop_fired);
    sqlite3_bind_int(put, 8, next->minute_fired);
    return step_done(sw->s, put);
}

/* One pass over the candidates; with write 0 it only counts what would fire
 * (*fires), with write 1 it stores it. */
static int sweep_pass(struct sweep *sw, int write, size_t *looked, size_t *fires, size_t *events)
{
    sqlite3_stmt *q = NULL;
    int rc, step = SQLITE_DONE;

    *looked = *fires = 0;
    if ((rc = prepare(sw->s, SQL_SWEEP, &q)))
        return rc;
    sqlite3_bind_text(q, 1, sw->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, sw->now_ms - STORE_WEBHOOK_SWEEP_PAST_MS);
    sqlite3_bind_int64(q, 3, sw->now_ms + sw->rules.minutes[0] * 60000LL);
    sqlite3_bind_int(q, 4, sw->rules.minutes[sw->rules.nminutes - 1]);
    sqlite3_bind_int64(q, 5, (sqlite3_int64)sw->max);
    while (!rc && (step = sqlite3_step(q)) == SQLITE_ROW) {
        struct webhook_wp_state prev = {0}, next = {0};
        struct webhook_derived ev[1];
        struct waypoint w;
        const unsigned char *dc = sqlite3_column_text(q, 8);
        size_t n = 0;
        int oom = 0;

        (*looked)++;
        if ((rc = store_waypoint_row(q, 0, dc ? (const char *)dc : "", &w)))
            break;
        if (sqlite3_column_int(q, 9)) {
            prev.known = 1;
            prev.status = store_column_text(q, 10, &oom);
            prev.route_id = store_column_text(q, 11, &oom);
            prev.has_eta_sent = sqlite3_column_type(q, 12) != SQLITE_NULL;
            prev.eta_sent = sqlite3_column_int64(q, 12);
            prev.stop_fired = sqlite3_column_int(q, 13);
            prev.minute_fired = sqlite3_column_int(q, 14);
        }
        rc = oom ? -ENOMEM : webhook_derive_time(&sw->rules, &prev, &w, sw->now_ms, &next, ev, &n);
        if (rc == 1) {
            (*fires)++;
            rc = write ? sweep_store(sw, &w, &next, ev, n) : 0;
            if (!rc && write)
                *events += n;
        }
        webhook_wp_state_clear(&prev);
        webhook_wp_state_clear(&next);
        waypoint_clear(&w);
    }
    if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = store_errno(sw->s, step);
    sqlite3_finalize(q);
    return rc;
}

int store_webhook_sweep(struct store *s, const char *id, int64_t now_ms, size_t max, struct store_webhook_fill *out)
{
    struct sweep sw = {.s = s, .id = id, .now_ms = now_ms, .max = max};
    struct store_webhook ep;
    size_t looked = 0, fires = 0;
    int rc, enabled;

    memset(out, 0, sizeof(*out));
    if ((rc = store_webhook_get(s, id, &ep)))
        return rc;
    enabled = ep.enabled;
    rc = webhook_rules_parse(ep.events, ep.eta_minutes, ep.approach_stops, ep.approach_minutes, &sw.rules);
    store_webhook_clear(&ep);
    if (rc || !enabled || !sw.rules.nminutes || !max)
        return rc;
    /* A read first: the write lock only when something fires. */
    if ((rc = sweep_pass(&sw, 0, &looked, &fires, &out->events)) || !fires) {
        out->changes = looked;
        return rc;
    }
    if (store_exec(s, "BEGIN IMMEDIATE"))
        return store_errno(s, SQLITE_OK);
    if ((rc = prepare(s,
                      "INSERT INTO webhook_outbox(endpoint_id, msg_id, type, dc_id, waypoint_id, seq, body,"
                      " created_ms, next_ms) VALUES (?1, ?2 || (SELECT COALESCE((SELECT seq FROM sqlite_sequence"
                      " WHERE name = 'webhook_outbox'), 0) + 1), 'waypoint.approaching', ?3, ?4, 0, ?5, ?6, ?6)",
                      &sw.ins)) ||
        (rc = prepare(s,
                      "INSERT OR REPLACE INTO webhook_wp_state(endpoint_id, dc_id, waypoint_id, status, route_id,"
                      " eta_sent, stop_fired, minute_fired) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                      &sw.put)) ||
        (rc = sweep_pass(&sw, 1, &looked, &fires, &out->events)) || (rc = commit(s))) {
        sqlite3_finalize(sw.ins);
        sqlite3_finalize(sw.put);
        memset(out, 0, sizeof(*out));
        return rollback(s, rc, __func__, id);
    }
    sqlite3_finalize(sw.ins);
    sqlite3_finalize(sw.put);
    out->changes = looked;
    return 0;
}

/* ---- Pruning ---- */

static int prune_one(struct store *s, const char *sql, int64_t cutoff, size_t max, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if ((rc = prepare(s, sql, &st)))
        return rc;
    sqlite3_bind_int64(st, 1, cutoff);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    rc = step_done(s, st);
    if (!rc)
        *n = (size_t)sqlite3_changes(s->db);
    sqlite3_finalize(st);
    return rc;
}

int store_webhook_prune(struct store *s, int64_t now_ms, int64_t retention_ms, size_t max,
                        struct store_webhook_pruned *out)
{
    int64_t cutoff = now_ms - retention_ms;
    int rc;

    memset(out, 0, sizeof(*out));
    if (store_exec(s, "BEGIN IMMEDIATE"))
        return store_errno(s, SQLITE_OK);
    /* A delivered event's next_ms is when it was delivered. */
    if ((rc = prune_one(s,
                        "DELETE FROM webhook_outbox WHERE id IN (SELECT id FROM webhook_outbox WHERE"
                        " state = 'delivered' AND next_ms < ?1 LIMIT ?2)",
                        cutoff, max, &out->events)) ||
        (rc = prune_one(s,
                        "DELETE FROM webhook_deliveries WHERE id IN (SELECT d.id FROM webhook_deliveries d"
                        " WHERE d.attempt_ms < ?1 AND NOT EXISTS (SELECT 1 FROM webhook_outbox o WHERE"
                        " o.endpoint_id = d.endpoint_id AND o.msg_id = d.msg_id AND o.state = 'pending') LIMIT ?2)",
                        cutoff, max, &out->attempts)) ||
        /* Read by every enabled endpoint (a disabled one starts at the head
         * when enabled again); with none enabled, nobody needs any. */
        (rc = prune_one(s,
                        "DELETE FROM webhook_customer_log WHERE seq IN (SELECT seq FROM webhook_customer_log"
                        " WHERE seq <= COALESCE((SELECT MIN(c.seq) FROM webhook_customer_cursor c JOIN"
                        " webhook_endpoints e ON e.id = c.endpoint_id WHERE e.enabled),"
                        " (SELECT MAX(seq) FROM webhook_customer_log)) ORDER BY seq LIMIT ?2)",
                        cutoff, max, &out->customer_log)) ||
        (rc = commit(s))) {
        memset(out, 0, sizeof(*out));
        return rollback(s, rc, __func__, NULL);
    }
    return 0;
}

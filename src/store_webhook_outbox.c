/* SPDX-License-Identifier: MIT
 *
 * The webhook outbox (issue 15): events derived from the change log and
 * stored in the same transaction that moves the endpoint's cursor, so that
 * `kill -9` at any moment loses nothing and derives nothing twice. The rules
 * are webhook_derive.c's, the bodies view_webhook.c's. Delivery (reading
 * 'pending' rows, POSTing, retrying) is not built yet. Caller's thread.
 */
#include "store_webhooks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"
#include "view_webhook.h"
#include "webhook_derive.h"

/* The endpoint's next log rows, with the waypoint as it is now (LEFT JOIN:
 * NULL columns when it is gone). */
#define SQL_READ                                                                                                  \
    "SELECT c.seq, c.kind, c.changed_ms, c.dc_id, c.customer_id, c.waypoint_id, w.id, w.customer_id, w.route_id," \
    " w.status, w.completed_timestamp, w.estimated_time_of_arrival, w.waypoints_ahead, w.waiting_time_seconds"   \
    " FROM change_log c LEFT JOIN waypoints w ON w.dc_id = c.dc_id AND w.id = c.waypoint_id"                     \
    " WHERE c.seq > ?1 AND c.dc_id IN (SELECT dc_id FROM webhook_endpoint_dcs WHERE endpoint_id = ?2)"            \
    " ORDER BY c.seq LIMIT ?3"

enum { Q_READ, Q_STATE_GET, Q_STATE_PUT, Q_STATE_DEL, Q_OUTBOX, Q_CURSOR, Q_COUNT };

static const char *const sql[Q_COUNT] = {
    [Q_READ] = SQL_READ,
    [Q_STATE_GET] = "SELECT status, route_id, eta_sent, stop_fired, minute_fired FROM webhook_wp_state"
                    " WHERE endpoint_id = ?1 AND dc_id = ?2 AND waypoint_id = ?3",
    [Q_STATE_PUT] = "INSERT OR REPLACE INTO webhook_wp_state(endpoint_id, dc_id, waypoint_id, status, route_id,"
                    " eta_sent, stop_fired, minute_fired) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [Q_STATE_DEL] = "DELETE FROM webhook_wp_state WHERE endpoint_id = ?1 AND dc_id = ?2 AND waypoint_id = ?3",
    [Q_OUTBOX] = "INSERT OR IGNORE INTO webhook_outbox(endpoint_id, msg_id, type, dc_id, waypoint_id, seq, body,"
                 " created_ms, next_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    /* Rows read < max: nothing of its DCs up to the head, which cannot move
     * while this transaction holds the write lock. */
    [Q_CURSOR] = "UPDATE webhook_endpoints SET log_seq = CASE WHEN ?3 THEN ?2 ELSE"
                 " COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'change_log'), 0) END WHERE id = ?1",
};

struct fill {
    struct store *s;
    sqlite3_stmt *q[Q_COUNT];
    const char *id;
    struct webhook_rules rules;
    int64_t now_ms;
};

static int state_get(struct fill *f, const struct waypoint *w, struct webhook_wp_state *st)
{
    sqlite3_stmt *q = f->q[Q_STATE_GET];
    int rc, oom = 0;

    memset(st, 0, sizeof(*st));
    sqlite3_bind_text(q, 1, f->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, w->dc_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, w->id, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        st->known = 1;
        st->status = store_column_text(q, 0, &oom);
        st->route_id = store_column_text(q, 1, &oom);
        st->has_eta_sent = sqlite3_column_type(q, 2) != SQLITE_NULL;
        st->eta_sent = sqlite3_column_int64(q, 2);
        st->stop_fired = sqlite3_column_int(q, 3);
        st->minute_fired = sqlite3_column_int(q, 4);
    }
    store_stmt_done(q);
    if (oom) {
        webhook_wp_state_clear(st);
        return -ENOMEM;
    }
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_errno(f->s, rc);
}

static int run(struct fill *f, sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);

    store_stmt_done(q);
    return rc == SQLITE_DONE ? 0 : store_errno(f->s, rc);
}

static int state_put(struct fill *f, const struct waypoint *w, const struct webhook_wp_state *st)
{
    sqlite3_stmt *q = f->q[st->known ? Q_STATE_PUT : Q_STATE_DEL];

    sqlite3_bind_text(q, 1, f->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, w->dc_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, w->id, -1, SQLITE_STATIC);
    if (st->known) {
        sqlite3_bind_text(q, 4, st->status, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 5, st->route_id, -1, SQLITE_STATIC);
        if (st->has_eta_sent)
            sqlite3_bind_int64(q, 6, st->eta_sent);
        sqlite3_bind_int(q, 7, st->stop_fired);
        sqlite3_bind_int(q, 8, st->minute_fired);
    }
    return run(f, q);
}

static int outbox_put(struct fill *f, const struct webhook_derived *ev, size_t i, int64_t seq, int64_t changed_ms,
                      const struct waypoint *w)
{
    sqlite3_stmt *q = f->q[Q_OUTBOX];
    char msg_id[64];
    size_t len = 0;
    char *body = view_webhook_event(ev, seq, changed_ms, w, &len);
    int rc;

    if (!body)
        return -ENOMEM;
    /* No '.' (Standard Webhooks): the endpoint's hex, the seq, the index. */
    snprintf(msg_id, sizeof(msg_id), "msg_%s_%lld_%zu", strncmp(f->id, "wh_", 3) ? f->id : f->id + 3,
             (long long)seq, i);
    sqlite3_bind_text(q, 1, f->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, msg_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, webhook_event_name(ev->type), -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, w->dc_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, w->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 6, seq);
    sqlite3_bind_text(q, 7, body, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(q, 8, f->now_ms);
    rc = run(f, q);
    free(body);
    return rc;
}

/* One log row: its events and the waypoint's new state. */
static int fill_row(struct fill *f, sqlite3_stmt *r, size_t *events)
{
    struct webhook_derived ev[WEBHOOK_DERIVE_MAX];
    struct webhook_wp_state prev, next = {0};
    struct waypoint w;
    int64_t seq = sqlite3_column_int64(r, 0), changed_ms = sqlite3_column_int64(r, 2);
    const unsigned char *kind = sqlite3_column_text(r, 1);
    int deleted = kind && !strcmp((const char *)kind, "delete");
    int oom = 0, rc;
    size_t n = 0;

    if (sqlite3_column_type(r, 6) == SQLITE_NULL && !deleted)
        return 0; /* changed, then deleted: the later delete row tells */
    if (deleted) {
        memset(&w, 0, sizeof(w));
        w.dc_id = store_column_text(r, 3, &oom);
        w.customer_id = store_column_text(r, 4, &oom);
        w.id = store_column_text(r, 5, &oom);
        if (oom || !w.dc_id || !w.customer_id || !w.id) {
            waypoint_clear(&w);
            return -ENOMEM;
        }
    } else {
        const unsigned char *dc = sqlite3_column_text(r, 3);

        if ((rc = store_waypoint_row(r, 6, dc ? (const char *)dc : "", &w)))
            return rc;
    }
    if ((rc = state_get(f, &w, &prev)))
        goto done;
    if ((rc = webhook_derive(&f->rules, &prev, deleted, &w, f->now_ms, &next, ev, &n)))
        goto done;
    for (size_t i = 0; !rc && i < n; i++)
        rc = outbox_put(f, &ev[i], i, seq, changed_ms, &w);
    if (!rc)
        rc = state_put(f, &w, &next);
    if (!rc)
        *events += n;
done:
    webhook_wp_state_clear(&prev);
    webhook_wp_state_clear(&next);
    waypoint_clear(&w);
    return rc;
}

int store_webhook_outbox_fill(struct store *s, const char *id, int64_t now_ms, size_t max,
                              struct store_webhook_fill *out)
{
    struct fill f = {.s = s, .id = id, .now_ms = now_ms};
    struct store_webhook ep;
    int64_t last = 0;
    int rc, step = SQLITE_DONE;

    memset(out, 0, sizeof(*out));
    if (store_exec(s, "BEGIN IMMEDIATE"))
        return store_errno(s, SQLITE_OK);
    if ((rc = store_webhook_get(s, id, &ep)))
        goto fail;
    out->cursor = last = ep.log_seq;
    if (!ep.enabled) {
        store_webhook_clear(&ep);
        goto commit;
    }
    rc = webhook_rules_parse(ep.events, ep.eta_minutes, ep.approach_stops, ep.approach_minutes, &f.rules);
    store_webhook_clear(&ep);
    if (rc)
        goto fail;
    for (int i = 0; i < Q_COUNT; i++)
        if (sqlite3_prepare_v2(s->db, sql[i], -1, &f.q[i], NULL) != SQLITE_OK) {
            rc = store_errno(s, SQLITE_OK);
            goto fail;
        }
    sqlite3_bind_int64(f.q[Q_READ], 1, last);
    sqlite3_bind_text(f.q[Q_READ], 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(f.q[Q_READ], 3, (sqlite3_int64)max);
    while (!rc && (step = sqlite3_step(f.q[Q_READ])) == SQLITE_ROW) {
        last = sqlite3_column_int64(f.q[Q_READ], 0);
        out->changes++;
        rc = fill_row(&f, f.q[Q_READ], &out->events);
    }
    if (!rc && step != SQLITE_DONE)
        rc = store_errno(s, step);
    if (rc)
        goto fail;
    sqlite3_bind_text(f.q[Q_CURSOR], 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(f.q[Q_CURSOR], 2, last);
    sqlite3_bind_int(f.q[Q_CURSOR], 3, out->changes == max);
    if ((rc = run(&f, f.q[Q_CURSOR])))
        goto fail;
commit:
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(f.q[i]);
    if (store_exec(s, "COMMIT")) {
        rc = store_errno(s, SQLITE_OK);
        store_exec(s, "ROLLBACK");
        memset(out, 0, sizeof(*out));
        return rc;
    }
    /* The cursor as stored (the head, when the read ended early). */
    if (!store_webhook_get(s, id, &ep)) {
        out->cursor = ep.log_seq;
        store_webhook_clear(&ep);
    }
    return 0;
fail:
    if (rc != -ENOENT)
        log_error("%s: %s: %d", __func__, id, rc);
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(f.q[i]);
    store_exec(s, "ROLLBACK");
    memset(out, 0, sizeof(*out));
    return rc;
}

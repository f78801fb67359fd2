/* SPDX-License-Identifier: MIT
 *
 * Webhook delivery's side of the database (issue 15): the schema step to
 * version 7 (the attempt log, since when an endpoint fails), which events are
 * due, recording one attempt's outcome with what it implies (delivered, next
 * attempt, endpoint disabled) in one transaction, and the commands'
 * deliveries, redeliver and test. The outbox state lives only here, so
 * `kill -9` at any moment leaves every undelivered event pending with its
 * webhook-id. Statements are prepared per call. Caller's thread.
 */
#include "store_webhooks.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "store_int.h"

/* 6 -> 7. One row per attempt, read newest first per endpoint. An endpoint
 * in webhook_failing has failed since since_ms without a success (a table of
 * its own rather than a column: the step can run again harmlessly). */
const char store_webhook_delivery_schema[] =
    "CREATE TABLE IF NOT EXISTS webhook_deliveries(id INTEGER PRIMARY KEY AUTOINCREMENT, endpoint_id TEXT NOT NULL,"
    " msg_id TEXT NOT NULL, attempt_ms INTEGER NOT NULL, status INTEGER NOT NULL, error TEXT,"
    " latency_ms INTEGER NOT NULL, answer TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_by_endpoint ON webhook_deliveries(endpoint_id, id);"
    "CREATE TABLE IF NOT EXISTS webhook_failing(endpoint_id TEXT PRIMARY KEY, since_ms INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox(state, next_ms);";

/* The head of each (endpoint, DC, waypoint) queue, if due. */
#define SQL_DUE                                                                                                  \
    "SELECT o.id, o.endpoint_id, o.msg_id, o.type, o.body, o.attempts, o.created_ms FROM webhook_outbox o"       \
    " JOIN webhook_endpoints e ON e.id = o.endpoint_id AND e.enabled"                                           \
    " WHERE o.state = 'pending' AND o.next_ms <= ?1 AND o.id = (SELECT MIN(p.id) FROM webhook_outbox p"         \
    " WHERE p.endpoint_id = o.endpoint_id AND p.dc_id = o.dc_id AND p.waypoint_id = o.waypoint_id"              \
    " AND p.state = 'pending') ORDER BY o.id LIMIT ?2"

static int step_done(struct store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_errno(s, rc);
}

static int prepare(struct store *s, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK ? 0 : store_errno(s, SQLITE_OK);
}

int store_webhook_due_list(struct store *s, int64_t now_ms, size_t max, store_webhook_due_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc, step;

    if ((rc = prepare(s, SQL_DUE, &st)))
        return rc;
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_webhook_due d = {
            .row = sqlite3_column_int64(st, 0),
            .endpoint_id = (const char *)sqlite3_column_text(st, 1),
            .msg_id = (const char *)sqlite3_column_text(st, 2),
            .type = (const char *)sqlite3_column_text(st, 3),
            .body = (const char *)sqlite3_column_text(st, 4),
            .body_len = (size_t)sqlite3_column_bytes(st, 4),
            .attempts = sqlite3_column_int(st, 5),
            .created_ms = sqlite3_column_int64(st, 6),
        };
        if (!d.endpoint_id || !d.msg_id || !d.type || !d.body)
            continue;
        rc = cb(&d, arg);
    }
    if (!rc && step != SQLITE_DONE)
        rc = store_errno(s, step);
    sqlite3_finalize(st);
    return rc;
}

/* Run one statement with text ?1 and integer ?2 (when given). */
static int run_ti(struct store *s, const char *sql, const char *t, int64_t i, int has_i)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if ((rc = prepare(s, sql, &st)))
        return rc;
    sqlite3_bind_text(st, 1, t, -1, SQLITE_STATIC);
    if (has_i)
        sqlite3_bind_int64(st, 2, i);
    rc = step_done(s, st);
    sqlite3_finalize(st);
    return rc;
}

static int log_attempt(struct store *s, const struct store_webhook_attempt *a)
{
    sqlite3_stmt *st = NULL;
    size_t alen = a->answer ? a->answer_len : 0;
    int rc;

    if (alen > STORE_WEBHOOK_ANSWER_MAX)
        alen = STORE_WEBHOOK_ANSWER_MAX;
    if ((rc = prepare(s,
                      "INSERT INTO webhook_deliveries(endpoint_id, msg_id, attempt_ms, status, error, latency_ms,"
                      " answer) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                      &st)))
        return rc;
    sqlite3_bind_text(st, 1, a->endpoint_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->msg_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, a->attempt_ms);
    sqlite3_bind_int(st, 4, a->status);
    if (a->error)
        sqlite3_bind_text(st, 5, a->error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, a->latency_ms);
    sqlite3_bind_text(st, 7, alen ? a->answer : "", (int)alen, SQLITE_STATIC);
    rc = step_done(s, st);
    sqlite3_finalize(st);
    return rc;
}

static int disable(struct store *s, const char *id, const char *reason, int64_t now_ms, int *disabled)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if ((rc = prepare(s,
                      "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?2, state_since_ms = ?3"
                      " WHERE id = ?1 AND enabled",
                      &st)))
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_ms);
    rc = step_done(s, st);
    if (!rc && sqlite3_changes(s->db))
        *disabled = 1;
    sqlite3_finalize(st);
    return rc;
}

/* Since when the endpoint fails, counting from its last enabling at the
 * latest (an endpoint enabled again starts a fresh window). */
static int failing_since(struct store *s, const char *id, int64_t now_ms, int64_t *since)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = run_ti(s,
                "INSERT INTO webhook_failing(endpoint_id, since_ms) VALUES (?1, ?2) ON CONFLICT(endpoint_id)"
                " DO UPDATE SET since_ms = CASE WHEN since_ms < (SELECT state_since_ms FROM webhook_endpoints"
                " WHERE id = ?1) THEN ?2 ELSE since_ms END",
                id, now_ms, 1);
    if (rc || (rc = prepare(s, "SELECT since_ms FROM webhook_failing WHERE endpoint_id = ?1", &st)))
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    *since = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : now_ms;
    sqlite3_finalize(st);
    return 0;
}

static int record(struct store *s, const struct store_webhook_attempt *a, int *disabled)
{
    sqlite3_stmt *st = NULL;
    int64_t since = a->attempt_ms;
    char reason[160];
    int rc;

    if ((rc = log_attempt(s, a)))
        return rc;
    if ((rc = prepare(s,
                      a->delivered ? "UPDATE webhook_outbox SET state = 'delivered', attempts = attempts + 1"
                                     " WHERE id = ?1"
                                   : "UPDATE webhook_outbox SET attempts = attempts + 1, next_ms = ?2 WHERE id = ?1",
                      &st)))
        return rc;
    sqlite3_bind_int64(st, 1, a->row);
    if (!a->delivered)
        sqlite3_bind_int64(st, 2, a->next_ms);
    rc = step_done(s, st);
    sqlite3_finalize(st);
    if (rc)
        return rc;
    if (a->delivered)
        return run_ti(s, "DELETE FROM webhook_failing WHERE endpoint_id = ?1", a->endpoint_id, 0,
                      0);
    if ((rc = failing_since(s, a->endpoint_id, a->attempt_ms, &since)))
        return rc;
    if (a->gone)
        return disable(s, a->endpoint_id, "the receiver answered 410 Gone", a->attempt_ms, disabled);
    if (a->attempt_ms - since >= STORE_WEBHOOK_FAIL_WINDOW_MS) {
        if (a->error)
            snprintf(reason, sizeof(reason), "every delivery failed for 24 h (last: %.100s)", a->error);
        else
            snprintf(reason, sizeof(reason), "every delivery failed for 24 h (last: HTTP %d)", a->status);
        return disable(s, a->endpoint_id, reason, a->attempt_ms, disabled);
    }
    return 0;
}

int store_webhook_attempt_record(struct store *s, const struct store_webhook_attempt *a, int *disabled)
{
    int rc;

    *disabled = 0;
    if (store_exec(s, "BEGIN IMMEDIATE"))
        return store_errno(s, SQLITE_OK);
    rc = record(s, a, disabled);
    if (!rc && store_exec(s, "COMMIT"))
        rc = store_errno(s, SQLITE_OK);
    if (rc) {
        log_error("%s: %s %s: %d", __func__, a->endpoint_id, a->msg_id, rc);
        store_exec(s, "ROLLBACK");
        *disabled = 0;
    }
    return rc;
}

static int endpoint_exists(struct store *s, const char *id)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if ((rc = prepare(s, "SELECT 1 FROM webhook_endpoints WHERE id = ?1", &st)))
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : store_errno(s, rc);
    sqlite3_finalize(st);
    return rc;
}

int store_webhook_deliveries(struct store *s, const char *id, size_t limit, store_webhook_delivery_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc, step;

    if ((rc = endpoint_exists(s, id)))
        return rc;
    if ((rc = prepare(s,
                      "SELECT attempt_ms, msg_id, status, error, latency_ms, answer FROM webhook_deliveries"
                      " WHERE endpoint_id = ?1 ORDER BY id DESC LIMIT ?2",
                      &st)))
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_webhook_delivery d = {
            .attempt_ms = sqlite3_column_int64(st, 0),
            .msg_id = (const char *)sqlite3_column_text(st, 1),
            .status = sqlite3_column_int(st, 2),
            .error = (const char *)sqlite3_column_text(st, 3),
            .latency_ms = sqlite3_column_int64(st, 4),
            .answer = (const char *)sqlite3_column_text(st, 5),
        };
        rc = cb(&d, arg);
    }
    if (!rc && step != SQLITE_DONE)
        rc = store_errno(s, step);
    sqlite3_finalize(st);
    return rc;
}

int store_webhook_redeliver(struct store *s, const char *msg_id, int64_t now_ms)
{
    int rc = run_ti(s, "UPDATE webhook_outbox SET state = 'pending', next_ms = ?2 WHERE msg_id = ?1", msg_id, now_ms,
                    1);

    return !rc && !sqlite3_changes(s->db) ? -ENOENT : rc;
}

int store_webhook_test_queue(struct store *s, const char *id, int64_t now_ms, char *msg_id, size_t msg_len)
{
    sqlite3_stmt *st = NULL;
    char body[256];
    int rc;

    if ((rc = endpoint_exists(s, id)))
        return rc;
    /* No '.' in the id (Standard Webhooks); a test per millisecond at most. */
    snprintf(msg_id, msg_len, "msg_%s_test_%lld", strncmp(id, "wh_", 3) ? id : id + 3, (long long)now_ms);
    snprintf(body, sizeof(body), "{\"type\":\"webhook.test\",\"event\":\"WEBHOOK_TEST\",\"hook_timestamp_millis\":%lld,"
             "\"data\":{\"endpoint_id\":\"%s\"}}", (long long)now_ms, id);
    if ((rc = prepare(s,
                      "INSERT INTO webhook_outbox(endpoint_id, msg_id, type, dc_id, waypoint_id, seq, body,"
                      " created_ms, next_ms) VALUES (?1, ?2, 'webhook.test', '', '', 0, ?3, ?4, ?4)",
                      &st)))
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, msg_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, body, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_ms);
    rc = step_done(s, st);
    sqlite3_finalize(st);
    return rc;
}

int store_webhook_pending(struct store *s, store_webhook_pending_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc, step;

    if ((rc = prepare(s,
                      "SELECT endpoint_id, COUNT(*), MIN(created_ms) FROM webhook_outbox WHERE state = 'pending'"
                      " GROUP BY endpoint_id",
                      &st)))
        return rc;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW)
        rc = cb((const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
                arg);
    if (!rc && step != SQLITE_DONE)
        rc = store_errno(s, step);
    sqlite3_finalize(st);
    return rc;
}

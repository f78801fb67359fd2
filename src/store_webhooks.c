/* SPDX-License-Identifier: MIT
 *
 * Webhook endpoints in SQLite (issue 15): the schema step store.c's
 * migration runs (version 4 -> 5) and the endpoint commands' queries. Called
 * by the `webhook` subcommand today, by a delivery thread later; statements
 * are prepared per call (commands run each once). The secrets are stored in
 * clear, as secrets.token_hmac is: HMAC signing needs them.
 */
#include "store_webhooks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "log.h"
#include "store_int.h"

/* 4 -> 5. Endpoint ids are made by the caller ("wh_" + random hex), so rows
 * are never renumbered; rowid order is the order they were added. A name is
 * optional and unique when given. The DC list has an index by DC, for the
 * fan-out of a change to the endpoints of its DC. */
const char store_webhooks_schema[] =
    "CREATE TABLE IF NOT EXISTS webhook_endpoints(id TEXT PRIMARY KEY, name TEXT, url TEXT NOT NULL,"
    " events TEXT NOT NULL, secret BLOB NOT NULL, prev_secret BLOB, prev_expires_ms INTEGER,"
    " enabled INTEGER NOT NULL DEFAULT 1, disabled_reason TEXT, state_since_ms INTEGER NOT NULL,"
    " eta_minutes INTEGER NOT NULL DEFAULT " STORE_STR(STORE_WEBHOOK_ETA_MINUTES) ","
    " approach_stops TEXT NOT NULL DEFAULT '" STORE_WEBHOOK_APPROACH_STOPS "',"
    " approach_minutes TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL, log_seq INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX IF NOT EXISTS webhook_endpoints_name ON webhook_endpoints(name) WHERE name IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS webhook_endpoint_dcs(endpoint_id TEXT NOT NULL, dc_id TEXT NOT NULL,"
    " PRIMARY KEY (endpoint_id, dc_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS webhook_endpoint_dcs_by_dc ON webhook_endpoint_dcs(dc_id, endpoint_id);"
    /* What each endpoint was last told about each waypoint (webhook_derive.h). */
    "CREATE TABLE IF NOT EXISTS webhook_wp_state(endpoint_id TEXT NOT NULL, dc_id TEXT NOT NULL,"
    " waypoint_id TEXT NOT NULL, status TEXT, route_id TEXT, eta_sent INTEGER, stop_fired INTEGER NOT NULL DEFAULT 0,"
    " minute_fired INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (endpoint_id, dc_id, waypoint_id)) WITHOUT ROWID;"
    /* The durable outbox: one row per event and endpoint, body rendered once. */
    "CREATE TABLE IF NOT EXISTS webhook_outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, endpoint_id TEXT NOT NULL,"
    " msg_id TEXT NOT NULL, type TEXT NOT NULL, dc_id TEXT NOT NULL, waypoint_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " body TEXT NOT NULL, created_ms INTEGER NOT NULL, state TEXT NOT NULL DEFAULT 'pending',"
    " attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL, UNIQUE (endpoint_id, msg_id));"
    "CREATE INDEX IF NOT EXISTS webhook_outbox_pending ON webhook_outbox(endpoint_id, state, id);";

/* The newest change number ever assigned: where a new (or re-enabled)
 * endpoint's cursor starts, so it is told about changes from then on. */
#define SQL_LOG_HEAD "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'change_log'), 0)"

#define ENDPOINT_COLUMNS                                                                                         \
    "SELECT id, name, url, events, secret, prev_secret, COALESCE(prev_expires_ms, 0), enabled, disabled_reason," \
    " state_since_ms, eta_minutes, approach_stops, approach_minutes, created_ms, log_seq FROM webhook_endpoints"

void store_webhook_clear(struct store_webhook *w)
{
    if (!w)
        return;
    free(w->name);
    free(w->url);
    for (size_t i = 0; i < w->ndcs; i++)
        free(w->dcs[i]);
    free(w->dcs);
    free(w->events);
    free(w->disabled_reason);
    free(w->approach_stops);
    free(w->approach_minutes);
    OPENSSL_cleanse(w, sizeof(*w));
}

static int bind_text_or_null(sqlite3_stmt *st, int col, const char *text)
{
    return text ? sqlite3_bind_text(st, col, text, -1, SQLITE_STATIC) : sqlite3_bind_null(st, col);
}

static int key_valid(const struct whsig_key *k)
{
    return k->len >= WHSIG_KEY_MIN && k->len <= WHSIG_KEY_MAX;
}

/* Run one prepared statement to completion; 0 or the errno of its failure
 * (-EEXIST for a UNIQUE or PRIMARY KEY violation). */
static int step_done(struct store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_DONE)
        return 0;
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return -EEXIST;
    return store_errno(s, rc);
}

int store_webhook_insert(struct store *s, const struct store_webhook *w)
{
    sqlite3_stmt *ins = NULL, *dc = NULL;
    int rc;

    if (!w->id[0] || !w->url || !*w->url || !w->ndcs || !w->events || !key_valid(&w->secret))
        return -EINVAL;
    /* Waits for a writer's lock (busy timeout) rather than failing midway. */
    if (store_exec(s, "BEGIN IMMEDIATE"))
        return store_errno(s, SQLITE_OK);
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO webhook_endpoints(id, name, url, events, secret, enabled, state_since_ms,"
                           " eta_minutes, approach_stops, approach_minutes, created_ms, log_seq)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, " SQL_LOG_HEAD ")",
                           -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO webhook_endpoint_dcs(endpoint_id, dc_id) VALUES (?1, ?2)",
                           -1, &dc, NULL) != SQLITE_OK) {
        rc = store_errno(s, SQLITE_OK);
        goto fail;
    }
    sqlite3_bind_text(ins, 1, w->id, -1, SQLITE_STATIC);
    bind_text_or_null(ins, 2, w->name);
    sqlite3_bind_text(ins, 3, w->url, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, w->events, -1, SQLITE_STATIC);
    sqlite3_bind_blob(ins, 5, w->secret.bytes, (int)w->secret.len, SQLITE_STATIC);
    sqlite3_bind_int(ins, 6, w->enabled != 0);
    sqlite3_bind_int64(ins, 7, w->state_since_ms);
    sqlite3_bind_int(ins, 8, w->eta_minutes);
    sqlite3_bind_text(ins, 9, w->approach_stops ? w->approach_stops : STORE_WEBHOOK_APPROACH_STOPS, -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(ins, 10, w->approach_minutes ? w->approach_minutes : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 11, w->created_ms);
    if ((rc = step_done(s, ins)))
        goto fail;
    for (size_t i = 0; i < w->ndcs; i++) {
        sqlite3_reset(dc);
        sqlite3_bind_text(dc, 1, w->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(dc, 2, w->dcs[i], -1, SQLITE_STATIC);
        if ((rc = step_done(s, dc)))
            goto fail;
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(dc);
    return store_exec(s, "COMMIT") ? store_errno(s, SQLITE_OK) : 0;
fail:
    if (rc != -EEXIST)
        log_error("%s: %s", __func__, sqlite3_errmsg(s->db));
    sqlite3_finalize(ins);
    sqlite3_finalize(dc);
    store_exec(s, "ROLLBACK");
    return rc;
}

/* A secret column into k (len 0 for NULL or a length whsig refuses). */
static void column_key(sqlite3_stmt *st, int col, struct whsig_key *k)
{
    int n = sqlite3_column_bytes(st, col);
    const void *b = sqlite3_column_blob(st, col);

    memset(k, 0, sizeof(*k));
    if (b && n >= WHSIG_KEY_MIN && n <= WHSIG_KEY_MAX) {
        memcpy(k->bytes, b, (size_t)n);
        k->len = (size_t)n;
    }
}

/* The current row of an ENDPOINT_COLUMNS statement, and its sorted DCs read
 * with dcs (bound to ?1 = id). 0 or -ENOMEM (out cleared) or the errno. */
static int endpoint_row(struct store *s, sqlite3_stmt *st, sqlite3_stmt *dcs, struct store_webhook *out)
{
    const unsigned char *id = sqlite3_column_text(st, 0);
    size_t cap = 0;
    int oom = 0, rc = SQLITE_DONE;

    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "%s", id ? (const char *)id : "");
    out->name = store_column_text(st, 1, &oom);
    out->url = store_column_text(st, 2, &oom);
    out->events = store_column_text(st, 3, &oom);
    column_key(st, 4, &out->secret);
    column_key(st, 5, &out->prev_secret);
    out->prev_expires_ms = out->prev_secret.len ? sqlite3_column_int64(st, 6) : 0;
    out->enabled = sqlite3_column_int(st, 7) != 0;
    out->disabled_reason = out->enabled ? NULL : store_column_text(st, 8, &oom);
    out->state_since_ms = sqlite3_column_int64(st, 9);
    out->eta_minutes = sqlite3_column_int(st, 10);
    out->approach_stops = store_column_text(st, 11, &oom);
    out->approach_minutes = store_column_text(st, 12, &oom);
    out->created_ms = sqlite3_column_int64(st, 13);
    out->log_seq = sqlite3_column_int64(st, 14);
    if (!out->url || !out->events || !out->approach_stops || !out->approach_minutes)
        oom = 1; /* NOT NULL columns: NULL here means the copy failed */

    sqlite3_bind_text(dcs, 1, out->id, -1, SQLITE_STATIC);
    while (!oom && (rc = sqlite3_step(dcs)) == SQLITE_ROW && out->ndcs < STORE_WEBHOOK_MAX_DCS) {
        if (out->ndcs == cap) {
            size_t ncap = cap ? 2 * cap : 4;
            char **grown = realloc(out->dcs, ncap * sizeof(*grown));

            if (!grown) {
                oom = 1;
                break;
            }
            out->dcs = grown;
            cap = ncap;
        }
        if ((out->dcs[out->ndcs] = store_column_text(dcs, 0, &oom)))
            out->ndcs++;
    }
    rc = oom ? -ENOMEM : (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : store_errno(s, rc);
    sqlite3_reset(dcs);
    if (rc)
        store_webhook_clear(out);
    return rc;
}

static int prepare_dcs(struct store *s, sqlite3_stmt **dcs)
{
    return sqlite3_prepare_v2(s->db, "SELECT dc_id FROM webhook_endpoint_dcs WHERE endpoint_id = ?1 ORDER BY dc_id",
                              -1, dcs, NULL) == SQLITE_OK
               ? 0
               : store_errno(s, SQLITE_OK);
}

int store_webhook_get(struct store *s, const char *id, struct store_webhook *out)
{
    sqlite3_stmt *st = NULL, *dcs = NULL;
    int rc, step;

    memset(out, 0, sizeof(*out));
    if (sqlite3_prepare_v2(s->db, ENDPOINT_COLUMNS " WHERE id = ?1", -1, &st, NULL) != SQLITE_OK ||
        (rc = prepare_dcs(s, &dcs))) {
        rc = store_errno(s, SQLITE_OK);
        goto done;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        rc = endpoint_row(s, st, dcs, out);
    else
        rc = step == SQLITE_DONE ? -ENOENT : store_errno(s, step);
done:
    sqlite3_finalize(st);
    sqlite3_finalize(dcs);
    return rc;
}

int store_webhook_list(struct store *s, store_webhook_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL, *dcs = NULL;
    int rc = 0, step = SQLITE_DONE;

    if (sqlite3_prepare_v2(s->db, ENDPOINT_COLUMNS " ORDER BY rowid", -1, &st, NULL) != SQLITE_OK ||
        prepare_dcs(s, &dcs)) {
        rc = store_errno(s, SQLITE_OK);
        goto done;
    }
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_webhook w;

        if (!(rc = endpoint_row(s, st, dcs, &w))) {
            rc = cb(&w, arg);
            store_webhook_clear(&w);
        }
    }
    if (!rc && step != SQLITE_DONE)
        rc = store_errno(s, step);
done:
    sqlite3_finalize(st);
    sqlite3_finalize(dcs);
    return rc;
}

/* One statement changing the endpoint ?1 (and binding the rest through
 * bind); 0, or -ENOENT when no row changed, or the errno. */
static int change_one(struct store *s, const char *sql, const char *id, void (*bind)(sqlite3_stmt *, const void *),
                      const void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return store_errno(s, SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (bind)
        bind(st, arg);
    rc = step_done(s, st);
    if (!rc && !sqlite3_changes(s->db))
        rc = -ENOENT;
    sqlite3_finalize(st);
    return rc;
}

int store_webhook_remove(struct store *s, const char *id)
{
    int rc;

    if (store_exec(s, "BEGIN IMMEDIATE"))
        return store_errno(s, SQLITE_OK);
    rc = change_one(s, "DELETE FROM webhook_endpoint_dcs WHERE endpoint_id = ?1", id, NULL, NULL);
    if (!rc || rc == -ENOENT)
        rc = change_one(s, "DELETE FROM webhook_wp_state WHERE endpoint_id = ?1", id, NULL, NULL);
    if (!rc || rc == -ENOENT)
        rc = change_one(s, "DELETE FROM webhook_outbox WHERE endpoint_id = ?1", id, NULL, NULL);
    if (!rc || rc == -ENOENT)
        rc = change_one(s, "DELETE FROM webhook_deliveries WHERE endpoint_id = ?1", id, NULL, NULL);
    if (!rc || rc == -ENOENT)
        rc = change_one(s, "DELETE FROM webhook_failing WHERE endpoint_id = ?1", id, NULL, NULL);
    if (!rc || rc == -ENOENT)
        rc = change_one(s, "DELETE FROM webhook_endpoints WHERE id = ?1", id, NULL, NULL);
    if (rc) {
        store_exec(s, "ROLLBACK");
        return rc;
    }
    return store_exec(s, "COMMIT") ? store_errno(s, SQLITE_OK) : 0;
}

struct state_args {
    int enabled;
    const char *reason;
    int64_t now_ms;
};

static void bind_state(sqlite3_stmt *st, const void *arg)
{
    const struct state_args *a = arg;

    sqlite3_bind_int(st, 2, a->enabled);
    bind_text_or_null(st, 3, a->enabled ? NULL : a->reason);
    sqlite3_bind_int64(st, 4, a->now_ms);
}

int store_webhook_set_enabled(struct store *s, const char *id, int enabled, const char *reason, int64_t now_ms)
{
    struct state_args a = {enabled != 0, reason ? reason : "disabled", now_ms};
    int rc;

    /* Enabling starts the cursor at the log head: changes made while it was
     * disabled are not told (as Foxtrot drops them). */
    rc = change_one(s, "UPDATE webhook_endpoints SET enabled = ?2, disabled_reason = ?3, state_since_ms = ?4,"
                       " log_seq = CASE WHEN ?2 THEN " SQL_LOG_HEAD " ELSE log_seq END"
                       " WHERE id = ?1 AND enabled IS NOT ?2", id, bind_state, &a);
    if (rc == -ENOENT) {
        /* Nothing changed: unknown, or already in that state. */
        struct store_webhook w;

        rc = store_webhook_get(s, id, &w);
        store_webhook_clear(&w);
        if (!rc)
            rc = -EALREADY;
    }
    return rc;
}

struct rotate_args {
    const struct whsig_key *secret;
    int64_t expires_ms; /* 0: drop the old secret */
};

static void bind_rotate(sqlite3_stmt *st, const void *arg)
{
    const struct rotate_args *a = arg;

    sqlite3_bind_blob(st, 2, a->secret->bytes, (int)a->secret->len, SQLITE_STATIC);
    if (a->expires_ms)
        sqlite3_bind_int64(st, 3, a->expires_ms);
    else
        sqlite3_bind_null(st, 3);
}

int store_webhook_rotate(struct store *s, const char *id, const struct whsig_key *secret, int64_t now_ms,
                         int64_t grace_ms)
{
    struct rotate_args a = {secret, grace_ms > 0 ? now_ms + grace_ms : 0};

    if (!key_valid(secret) || grace_ms < 0)
        return -EINVAL;
    /* SET sees the row as it was: prev_secret takes the old secret. */
    return change_one(s, "UPDATE webhook_endpoints SET prev_secret = CASE WHEN ?3 IS NULL THEN NULL ELSE secret END,"
                         " prev_expires_ms = ?3, secret = ?2 WHERE id = ?1", id, bind_rotate, &a);
}

void store_webhook_signing_keys(const struct store_webhook *w, int64_t now_ms, struct whsig_key keys[2], size_t *n)
{
    keys[0] = w->secret;
    *n = 1;
    if (w->prev_secret.len && now_ms < w->prev_expires_ms)
        keys[(*n)++] = w->prev_secret;
}

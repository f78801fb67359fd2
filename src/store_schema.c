/* SPDX-License-Identifier: MIT
 *
 * The schema: migrations by PRAGMA user_version, the change-log triggers
 * (installed again by every init), and the token secret created once. Run by
 * `waypointd init` (and demo) on the main thread; docs/schema.md describes
 * the tables.
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>

#include <openssl/rand.h>
#include <sqlite3.h>

#include "store_aux.h"
#include "store_int.h"

/* Migration steps: steps[v] takes a database from version v to v + 1. Tables
 * other programs write may already exist, so they are created IF NOT EXISTS. */
static const char *const migrations[STORE_SCHEMA_VERSION] = {
    /* 0 -> 1: the contract's tables, API keys, the token secret. */
    "CREATE TABLE IF NOT EXISTS dcs(id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS customers(dc_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,"
    " imported_address TEXT, imported_latitude REAL, imported_longitude REAL,"
    " inferred_latitude REAL, inferred_longitude REAL, location_confident INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (dc_id, id));"
    "CREATE TABLE IF NOT EXISTS waypoints(dc_id TEXT NOT NULL, id TEXT NOT NULL, customer_id TEXT NOT NULL,"
    " route_id TEXT, status TEXT NOT NULL DEFAULT 'PENDING', completed_timestamp INTEGER,"
    " estimated_time_of_arrival INTEGER, waypoints_ahead INTEGER, waiting_time_seconds INTEGER,"
    " PRIMARY KEY (dc_id, id));"
    "CREATE INDEX IF NOT EXISTS waypoints_by_customer ON waypoints(dc_id, customer_id);"
    "CREATE TABLE IF NOT EXISTS api_keys(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " hash BLOB NOT NULL UNIQUE, all_dcs INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL,"
    " revoked_ms INTEGER);"
    "CREATE TABLE IF NOT EXISTS api_key_dcs(key_id INTEGER NOT NULL REFERENCES api_keys(id),"
    " dc_id TEXT NOT NULL, PRIMARY KEY (key_id, dc_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS secrets(name TEXT PRIMARY KEY, value BLOB NOT NULL);",
    /* 1 -> 2: the change log the triggers write (see install_triggers). */
    "CREATE TABLE IF NOT EXISTS change_log(seq INTEGER PRIMARY KEY AUTOINCREMENT, dc_id TEXT NOT NULL,"
    " customer_id TEXT NOT NULL, waypoint_id TEXT NOT NULL, kind TEXT NOT NULL, changed_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS change_log_by_customer ON change_log(dc_id, customer_id, seq);"
    "CREATE TABLE IF NOT EXISTS change_log_state(id INTEGER PRIMARY KEY CHECK (id = 1),"
    " pruned_through INTEGER NOT NULL DEFAULT 0);"
    "INSERT OR IGNORE INTO change_log_state(id, pruned_through) VALUES (1, 0);",
    /* 2 -> 3: a DC resume reads the DC's rows in a seq range; without this
     * index it read the whole DC's log and sorted it (issue 11). */
    "CREATE INDEX IF NOT EXISTS change_log_by_dc ON change_log(dc_id, seq);",
    /* 3 -> 4 (issue 12): a key's name is unique only among live keys, so a
     * revoked key's name can be used again while its row (and when it was
     * revoked) stays; SQLite cannot drop a column's UNIQUE, so the table is
     * rebuilt with the same ids (api_key_dcs refers to them). Revoked
     * tracking tokens: one by the SHA-256 of its text (kept until it would
     * have expired), every token of a customer issued until a cutoff. */
    "CREATE TABLE api_keys_v4(id INTEGER PRIMARY KEY, name TEXT NOT NULL, hash BLOB NOT NULL UNIQUE,"
    " all_dcs INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL, revoked_ms INTEGER);"
    "INSERT INTO api_keys_v4(id, name, hash, all_dcs, created_ms, revoked_ms)"
    " SELECT id, name, hash, all_dcs, created_ms, revoked_ms FROM api_keys;"
    "DROP TABLE api_keys;"
    "ALTER TABLE api_keys_v4 RENAME TO api_keys;"
    "CREATE UNIQUE INDEX api_keys_live_name ON api_keys(name) WHERE revoked_ms IS NULL;"
    "CREATE TABLE IF NOT EXISTS revoked_tokens(hash BLOB PRIMARY KEY, dc_id TEXT NOT NULL,"
    " customer_id TEXT NOT NULL, expires_ms INTEGER NOT NULL, revoked_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS token_cutoffs(dc_id TEXT NOT NULL, customer_id TEXT NOT NULL,"
    " not_before_ms INTEGER NOT NULL, PRIMARY KEY (dc_id, customer_id)) WITHOUT ROWID;",
    store_webhooks_schema, /* 4 -> 5 (issue 15): webhook endpoints, store_webhooks.c */
    store_aux_schema, /* 5 -> 6 (issue 14): the aux log the relay publishes, store_aux.c */
    store_webhook_delivery_schema, /* 6 -> 7 (issue 15): webhook deliveries, store_webhook_delivery.c */
};

#define SQL_LOG_INSERT "INSERT INTO change_log(dc_id, customer_id, waypoint_id, kind, changed_ms)"

/* The triggers, dropped and created again by every init, so a database whose
 * triggers were lost or are older gets the current ones. They run in the
 * writer's transaction: a change is logged exactly when it commits. An update
 * that changes nothing the API shows logs nothing; a waypoint moved to another
 * customer (or id) logs a delete for where it was, then an update. */
static const char install_triggers[] =
    "DROP TRIGGER IF EXISTS waypoints_log_insert;"
    "DROP TRIGGER IF EXISTS waypoints_log_update;"
    "DROP TRIGGER IF EXISTS waypoints_log_delete;"
    "CREATE TRIGGER waypoints_log_insert AFTER INSERT ON waypoints BEGIN " SQL_LOG_INSERT
    " VALUES (NEW.dc_id, NEW.customer_id, NEW.id, 'insert', " SQL_NOW_MS "); END;"
    "CREATE TRIGGER waypoints_log_update AFTER UPDATE ON waypoints WHEN"
    " OLD.dc_id IS NOT NEW.dc_id OR OLD.id IS NOT NEW.id OR OLD.customer_id IS NOT NEW.customer_id"
    " OR OLD.route_id IS NOT NEW.route_id OR OLD.status IS NOT NEW.status"
    " OR OLD.completed_timestamp IS NOT NEW.completed_timestamp"
    " OR OLD.estimated_time_of_arrival IS NOT NEW.estimated_time_of_arrival"
    " OR OLD.waypoints_ahead IS NOT NEW.waypoints_ahead OR OLD.waiting_time_seconds IS NOT NEW.waiting_time_seconds"
    " BEGIN " SQL_LOG_INSERT " SELECT OLD.dc_id, OLD.customer_id, OLD.id, 'delete', " SQL_NOW_MS
    " WHERE OLD.dc_id IS NOT NEW.dc_id OR OLD.id IS NOT NEW.id OR OLD.customer_id IS NOT NEW.customer_id;"
    " " SQL_LOG_INSERT " VALUES (NEW.dc_id, NEW.customer_id, NEW.id, 'update', " SQL_NOW_MS "); END;"
    "CREATE TRIGGER waypoints_log_delete AFTER DELETE ON waypoints BEGIN " SQL_LOG_INSERT
    " VALUES (OLD.dc_id, OLD.customer_id, OLD.id, 'delete', " SQL_NOW_MS "); END;";

static int secret_ensure(struct store *s)
{
    uint8_t secret[STORE_SECRET_LEN];
    sqlite3_stmt *st = NULL;
    int rc = -EIO;

    if (RAND_bytes(secret, sizeof(secret)) != 1)
        return -EIO;
    if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO secrets(name, value) VALUES ('token_hmac', ?1)", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_bind_blob(st, 1, secret, sizeof(secret), SQLITE_TRANSIENT) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_DONE)
        rc = 0;
    sqlite3_finalize(st);
    return rc;
}

int store_migrate(struct store *s)
{
    char sql[64];
    int version;

    /* WAL lets other processes write while we read; it sticks to the file. */
    if (store_exec(s, "PRAGMA journal_mode=WAL"))
        return -EIO;
    if (store_exec(s, "BEGIN IMMEDIATE"))
        return -EIO;
    if (store_schema_version(s, &version))
        goto fail;
    if (version > STORE_SCHEMA_VERSION) {
        fprintf(stderr, "waypointd: database schema %d is newer than this waypointd (%d)\n", version,
                STORE_SCHEMA_VERSION);
        store_exec(s, "ROLLBACK");
        return -EPROTO;
    }
    for (; version < STORE_SCHEMA_VERSION; version++)
        if (store_exec(s, migrations[version]))
            goto fail;
    if (store_exec(s, install_triggers) || secret_ensure(s))
        goto fail;
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
    if (store_exec(s, sql) || store_exec(s, "COMMIT"))
        goto fail;
    return 0;
fail:
    store_exec(s, "ROLLBACK");
    return -EIO;
}

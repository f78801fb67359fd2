/* SPDX-License-Identifier: MIT
 *
 * The SQLite database: schema, migrations by PRAGMA user_version, and every
 * query, as statements prepared once per connection and reused. The only file
 * that includes <sqlite3.h>; values are copied out before a statement is
 * reset, so no sqlite3_stmt or column pointer leaves this file. A struct store
 * belongs to one thread at a time.
 */
#include "store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <sqlite3.h>

#include "log.h"
#include "store_aux.h"
#include "store_int.h"
#include "utf8.h"


/* Epoch milliseconds in SQL (unixepoch('subsec') needs SQLite 3.42). */
#define SQL_NOW_MS "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"

const char *const store_stmt_sql[ST_COUNT] = {
    [ST_DC_EXISTS] = "SELECT 1 FROM dcs WHERE id = ?1",
    [ST_CUSTOMER] = "SELECT name, imported_address, imported_latitude, imported_longitude,"
                    " inferred_latitude, inferred_longitude, location_confident"
                    " FROM customers WHERE dc_id = ?1 AND id = ?2",
    /* rowid order is insertion order: "most recent" in the contract. */
    [ST_WAYPOINTS] = "SELECT id, customer_id, route_id, status, completed_timestamp,"
                     " estimated_time_of_arrival, waypoints_ahead, waiting_time_seconds"
                     " FROM waypoints WHERE dc_id = ?1 AND customer_id = ?2 ORDER BY rowid DESC LIMIT ?3",
    [ST_KEY_LOOKUP] = "SELECT id, all_dcs, revoked_ms IS NOT NULL FROM api_keys WHERE hash = ?1",
    [ST_KEY_HAS_DC] = "SELECT 1 FROM api_key_dcs WHERE key_id = ?1 AND dc_id = ?2",
    [ST_KEY_INSERT] = "INSERT INTO api_keys(name, hash, all_dcs, created_ms)"
                      " VALUES (?1, ?2, ?3, " SQL_NOW_MS ")",
    [ST_KEY_DC_INSERT] = "INSERT OR IGNORE INTO api_key_dcs(key_id, dc_id) VALUES (?1, ?2)",
    [ST_KEY_REVOKE] = "UPDATE api_keys SET revoked_ms = " SQL_NOW_MS " WHERE name = ?1 AND revoked_ms IS NULL",
    [ST_KEY_EXISTS] = "SELECT 1 FROM api_keys WHERE name = ?1",
    [ST_SECRET_GET] = "SELECT value FROM secrets WHERE name = 'token_hmac'",
    [ST_TOKEN_REVOKED] = "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE hash = ?1) OR EXISTS (SELECT 1 FROM"
                         " token_cutoffs WHERE dc_id = ?2 AND customer_id = ?3 AND not_before_ms >= ?4)",
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_LOG_HEAD] = "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'change_log'), 0),"
                    " (SELECT pruned_through FROM change_log_state WHERE id = 1)",
#define LOG_READ_COLUMNS                                                                                            \
    "SELECT c.seq, c.kind, c.changed_ms, c.dc_id, c.customer_id, c.waypoint_id, w.id, w.customer_id, w.route_id," \
    " w.status, w.completed_timestamp, w.estimated_time_of_arrival, w.waypoints_ahead, w.waiting_time_seconds"   \
    " FROM change_log c LEFT JOIN waypoints w ON w.dc_id = c.dc_id AND w.id = c.waypoint_id"
    [ST_LOG_READ] = LOG_READ_COLUMNS " WHERE c.seq > ?1 AND c.seq <= ?2 ORDER BY c.seq LIMIT ?3",
    [ST_LOG_READ_DC] = LOG_READ_COLUMNS " WHERE c.seq > ?1 AND c.seq <= ?2 AND c.dc_id = ?4 ORDER BY c.seq LIMIT ?3",
    [ST_LOG_READ_CUSTOMER] = LOG_READ_COLUMNS " WHERE c.seq > ?1 AND c.seq <= ?2 AND c.dc_id = ?4"
                                              " AND c.customer_id = ?5 ORDER BY c.seq LIMIT ?3",
    [ST_SNAP_DC] = "SELECT id, customer_id, route_id, status, completed_timestamp,"
                   " estimated_time_of_arrival, waypoints_ahead, waiting_time_seconds"
                   " FROM waypoints WHERE dc_id = ?1 AND status = 'PENDING' ORDER BY rowid DESC",
    /* Rows are in time order, so the scan stops at the first young one. */
    [ST_LOG_AGE_CUTOFF] = "SELECT seq FROM change_log WHERE changed_ms >= ?1 ORDER BY seq LIMIT 1",
    /* The last seq of the next prune chunk: rows, not a seq range, so gaps
     * in seq (a log that starts high, rows deleted by hand) cost nothing. */
    [ST_LOG_CHUNK_END] = "SELECT seq FROM change_log WHERE seq > ?1 ORDER BY seq LIMIT 1 OFFSET " STORE_STR(
        STORE_PRUNE_CHUNK) " - 1",
    [ST_LOG_DELETE] = "DELETE FROM change_log WHERE seq <= ?1",
    [ST_LOG_PRUNED_SET] = "UPDATE change_log_state SET pruned_through = MAX(pruned_through, ?1) WHERE id = 1",
    [ST_DATA_VERSION] = "PRAGMA data_version",
};

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


static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

sqlite3_stmt *store_stmt(struct store *s, enum stmt_id id)
{
    int rc;

    if (!s->stmt[id] &&
        (rc = sqlite3_prepare_v3(s->db, store_stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[id], NULL)) !=
            SQLITE_OK) {
        /* A lock held elsewhere is the caller's -EBUSY, not an error here. */
        if (store_errno(s, rc) != -EBUSY)
            log_error("store: %s: %s", store_stmt_sql[id], sqlite3_errmsg(s->db));
        return NULL;
    }
    return s->stmt[id];
}

int store_errno(struct store *s, int rc)
{
    if (rc == SQLITE_OK)
        rc = sqlite3_extended_errcode(s->db);
    rc &= 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? -EBUSY : -EIO;
}

void store_stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

int store_exec(struct store *s, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("store: %s", msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return -EIO;
    }
    return 0;
}

int store_schema_version(struct store *s, int *version)
{
    sqlite3_stmt *st = NULL;
    int rc = -EIO;

    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

/* 0 when the database is in WAL mode; else -EMEDIUMTYPE with the reason. */
static int check_wal(struct store *s, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    char mode[16] = "";
    int rc;

    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(mode, sizeof(mode), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        set_err(err, errlen, "cannot read the journal mode of database %s: %s", path, sqlite3_errmsg(s->db));
        return store_errno(s, rc);
    }
    if (strcmp(mode, "wal")) {
        set_err(err, errlen,
                "database %s is not in WAL mode (journal_mode=%s), so its writers and this server would block each "
                "other (run: waypointd init --db %s)",
                path, mode, path);
        return -EMEDIUMTYPE;
    }
    return 0;
}

int store_open(const char *path, enum store_mode mode, struct store **out, char *err, size_t errlen)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    struct store *s;
    int version = 0, rc;

    *out = NULL;
    if (mode == STORE_OPEN_CREATE)
        flags |= SQLITE_OPEN_CREATE;
    else if (access(path, F_OK) != 0) {
        set_err(err, errlen, "database %s does not exist (run: waypointd init --db %s)", path, path);
        return -ENOENT;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        set_err(err, errlen, "cannot open database %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    s->busy_ms = mode == STORE_OPEN_SERVICE ? STORE_SERVICE_BUSY_MS : STORE_BUSY_TIMEOUT_MS;
    sqlite3_busy_timeout(s->db, s->busy_ms);
    sqlite3_extended_result_codes(s->db, 1);
    if (store_schema_version(s, &version)) {
        set_err(err, errlen, "cannot read database %s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    if (mode != STORE_OPEN_CREATE && version < STORE_SCHEMA_VERSION) {
        set_err(err, errlen, "database %s is not initialised or is older than this waypointd (run: waypointd init --db %s)",
                path, path);
        store_close(s);
        return -EPROTO;
    }
    if (version > STORE_SCHEMA_VERSION) {
        set_err(err, errlen, "database %s was made by a newer waypointd", path);
        store_close(s);
        return -EPROTO;
    }
    if (mode == STORE_OPEN_SERVICE && (rc = check_wal(s, path, err, errlen))) {
        store_close(s);
        return rc;
    }
    *out = s;
    return 0;
fail:
    store_close(s);
    return -EIO;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    sqlite3_close(s->db);
    free(s);
}

const char *store_errmsg(struct store *s)
{
    return sqlite3_errmsg(s->db);
}

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

int store_dc_exists(struct store *s, const char *dc_id)
{
    sqlite3_stmt *st = store_stmt(s, ST_DC_EXISTS);
    int rc;

    if (!st)
        return store_errno(s, SQLITE_OK);
    sqlite3_bind_text(st, 1, dc_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    store_stmt_done(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : store_errno(s, rc);
}

/* A copy of text another program may have written: any bytes can sit in a
 * TEXT column, and JSON, WebSocket text frames and SSE carry UTF-8 only, so
 * each ill-formed part becomes U+FFFD here, where every text leaves SQLite.
 * The text ends at its first NUL, as a C string does. */
static char *text_copy(const char *t, int *oom)
{
    char *copy = utf8_dup_repaired(t, strlen(t));

    if (!copy)
        *oom = 1;
    return copy;
}

char *store_column_text(sqlite3_stmt *st, int col, int *oom)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    return t ? text_copy((const char *)t, oom) : NULL;
}

/* A location is present only when both of its columns are non-NULL. */
static void column_location(sqlite3_stmt *st, int col, struct location *l)
{
    l->present = sqlite3_column_type(st, col) != SQLITE_NULL && sqlite3_column_type(st, col + 1) != SQLITE_NULL;
    l->latitude = l->present ? sqlite3_column_double(st, col) : 0;
    l->longitude = l->present ? sqlite3_column_double(st, col + 1) : 0;
}

int store_customer_get(struct store *s, const char *dc_id, const char *id, struct customer *out)
{
    sqlite3_stmt *st = store_stmt(s, ST_CUSTOMER);
    int rc, oom = 0;

    memset(out, 0, sizeof(*out));
    if (!st)
        return store_errno(s, SQLITE_OK);
    sqlite3_bind_text(st, 1, dc_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->dc_id = strdup(dc_id);
        out->id = strdup(id);
        out->name = store_column_text(st, 0, &oom);
        out->imported_address = store_column_text(st, 1, &oom);
        column_location(st, 2, &out->imported);
        column_location(st, 4, &out->inferred);
        out->location_confident = sqlite3_column_int(st, 6) != 0;
    }
    store_stmt_done(st);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    if (rc != SQLITE_ROW)
        return store_errno(s, rc);
    if (oom || !out->dc_id || !out->id) {
        customer_clear(out);
        return -ENOMEM;
    }
    return 0;
}

static int64_t column_int(sqlite3_stmt *st, int col, unsigned *nulls, unsigned bit)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        *nulls |= bit;
        return 0;
    }
    return sqlite3_column_int64(st, col);
}

int store_waypoint_row(sqlite3_stmt *st, int col, const char *dc_id, struct waypoint *w)
{
    int oom = 0;

    memset(w, 0, sizeof(*w));
    w->dc_id = dc_id ? text_copy(dc_id, &oom) : NULL;
    w->id = store_column_text(st, col, &oom);
    w->customer_id = store_column_text(st, col + 1, &oom);
    w->route_id = store_column_text(st, col + 2, &oom);
    w->status = store_column_text(st, col + 3, &oom);
    w->completed_timestamp = column_int(st, col + 4, &w->nulls, WAYPOINT_NULL_COMPLETED);
    w->estimated_time_of_arrival = column_int(st, col + 5, &w->nulls, WAYPOINT_NULL_ETA);
    w->waypoints_ahead = column_int(st, col + 6, &w->nulls, WAYPOINT_NULL_AHEAD);
    w->waiting_time_seconds = column_int(st, col + 7, &w->nulls, WAYPOINT_NULL_WAITING);
    if (oom || !w->dc_id || !w->id || !w->customer_id) {
        waypoint_clear(w);
        return -ENOMEM;
    }
    return 0;
}

int store_waypoints_recent(struct store *s, const char *dc_id, const char *customer_id, struct waypoint *out,
                           size_t max, size_t *n)
{
    sqlite3_stmt *st = store_stmt(s, ST_WAYPOINTS);
    int rc = 0, step = SQLITE_DONE;

    *n = 0;
    if (!st)
        return store_errno(s, SQLITE_OK);
    sqlite3_bind_text(st, 1, dc_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, customer_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
    while (*n < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
        rc = store_waypoint_row(st, 0, dc_id, &out[*n]);
        if (rc)
            break;
        (*n)++;
    }
    if (!rc && *n < max && step != SQLITE_DONE)
        rc = store_errno(s, step);
    store_stmt_done(st);
    if (rc) {
        waypoints_clear(out, *n);
        *n = 0;
    }
    return rc;
}

int store_key_insert(struct store *s, const char *name, const uint8_t hash[STORE_KEY_HASH_LEN], int all_dcs,
                     const char *const *dcs, size_t ndcs)
{
    sqlite3_stmt *ins = store_stmt(s, ST_KEY_INSERT), *dc = store_stmt(s, ST_KEY_DC_INSERT);
    sqlite3_int64 key_id;
    int rc;

    if (!ins || !dc || store_exec(s, "BEGIN IMMEDIATE"))
        return -EIO;
    sqlite3_bind_text(ins, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(ins, 2, hash, STORE_KEY_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int(ins, 3, all_dcs ? 1 : 0);
    rc = sqlite3_step(ins);
    store_stmt_done(ins);
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        store_exec(s, "ROLLBACK");
        return -EEXIST;
    }
    if (rc != SQLITE_DONE)
        goto fail;
    key_id = sqlite3_last_insert_rowid(s->db);
    for (size_t i = 0; i < ndcs; i++) {
        sqlite3_bind_int64(dc, 1, key_id);
        sqlite3_bind_text(dc, 2, dcs[i], -1, SQLITE_STATIC);
        rc = sqlite3_step(dc);
        store_stmt_done(dc);
        if (rc != SQLITE_DONE)
            goto fail;
    }
    return store_exec(s, "COMMIT") ? -EIO : 0;
fail:
    log_error("store: key insert: %s", sqlite3_errmsg(s->db));
    store_exec(s, "ROLLBACK");
    return -EIO;
}

int store_key_revoke(struct store *s, const char *name)
{
    sqlite3_stmt *st = store_stmt(s, ST_KEY_REVOKE);
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    store_stmt_done(st);
    if (rc != SQLITE_DONE)
        return -EIO;
    if (sqlite3_changes(s->db))
        return 0;
    /* Nothing live by that name: was there ever one? */
    st = store_stmt(s, ST_KEY_EXISTS);
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    store_stmt_done(st);
    return rc == SQLITE_ROW ? -EALREADY : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

int store_key_lookup(struct store *s, const uint8_t hash[STORE_KEY_HASH_LEN], struct store_key *out)
{
    sqlite3_stmt *st = store_stmt(s, ST_KEY_LOOKUP);
    int rc;

    memset(out, 0, sizeof(*out));
    if (!st)
        return store_errno(s, SQLITE_OK);
    sqlite3_bind_blob(st, 1, hash, STORE_KEY_HASH_LEN, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(st, 0);
        out->all_dcs = sqlite3_column_int(st, 1) != 0;
        out->revoked = sqlite3_column_int(st, 2) != 0;
    }
    store_stmt_done(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : store_errno(s, rc);
}

int store_key_has_dc(struct store *s, int64_t key_id, const char *dc_id)
{
    sqlite3_stmt *st = store_stmt(s, ST_KEY_HAS_DC);
    int rc;

    if (!st)
        return store_errno(s, SQLITE_OK);
    sqlite3_bind_int64(st, 1, key_id);
    sqlite3_bind_text(st, 2, dc_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    store_stmt_done(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : store_errno(s, rc);
}

int store_secret_get(struct store *s, uint8_t out[STORE_SECRET_LEN])
{
    sqlite3_stmt *st = store_stmt(s, ST_SECRET_GET);
    int rc = -EIO;

    if (!st)
        return -EIO;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == STORE_SECRET_LEN) {
        memcpy(out, sqlite3_column_blob(st, 0), STORE_SECRET_LEN);
        rc = 0;
    }
    store_stmt_done(st);
    return rc;
}

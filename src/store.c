/* SPDX-License-Identifier: MIT
 *
 * One SQLite connection: open (with its checks: schema version, WAL mode)
 * and close, the table of statements prepared once per connection and
 * reused, error mapping, and the row-copy helpers every store_*.c file uses.
 * Values are copied out before a statement is reset, so no sqlite3_stmt or
 * column pointer leaves the store files. A struct store belongs to one thread
 * at a time. The schema is store_schema.c; the API's reads store_customers.c;
 * credentials store_creds.c; the change log store_log.c.
 */
#include "store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "store_int.h"
#include "utf8.h"

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
    /* The lowest cursor of an enabled webhook endpoint below ?1 (issue 15):
     * pruning stops there, so an endpoint's events can still be derived. */
    [ST_LOG_WEBHOOK_FLOOR] = "SELECT log_seq FROM webhook_endpoints WHERE enabled = 1 AND log_seq < ?1"
                             " ORDER BY log_seq LIMIT 1",
    [ST_LOG_DELETE] = "DELETE FROM change_log WHERE seq <= ?1",
    [ST_LOG_PRUNED_SET] = "UPDATE change_log_state SET pruned_through = MAX(pruned_through, ?1) WHERE id = 1",
    [ST_DATA_VERSION] = "PRAGMA data_version",
};

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

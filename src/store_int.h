/* SPDX-License-Identifier: MIT
 *
 * Private to the store files (store.c, store_schema.c, store_customers.c,
 * store_creds.c, store_log.c): the connection struct, the table of statements
 * prepared once per connection, and row-copy helpers. Includes <sqlite3.h>,
 * so nothing outside the store may include it.
 */
#ifndef WAYPOINTD_STORE_INT_H
#define WAYPOINTD_STORE_INT_H

#include <sqlite3.h>

#include "store.h"

/* Writers (the route planner, drivers' apps) hold the lock briefly; commands
 * and the feed thread wait for them rather than failing. Service threads wait
 * only STORE_SERVICE_BUSY_MS (store.h). */
#define STORE_BUSY_TIMEOUT_MS 5000

/* Epoch milliseconds in SQL (unixepoch('subsec') needs SQLite 3.42). */
#define SQL_NOW_MS "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"

/* A macro's value as an SQL literal. */
#define STORE_STR_(x) #x
#define STORE_STR(x) STORE_STR_(x)

enum stmt_id {
    ST_DC_EXISTS,
    ST_CUSTOMER,
    ST_WAYPOINTS,
    ST_KEY_LOOKUP,
    ST_KEY_HAS_DC,
    ST_KEY_INSERT,
    ST_KEY_DC_INSERT,
    ST_KEY_REVOKE,
    ST_KEY_EXISTS,
    ST_SECRET_GET,
    ST_TOKEN_REVOKED,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_LOG_HEAD,
    ST_LOG_READ,
    ST_LOG_READ_DC,
    ST_LOG_READ_CUSTOMER,
    ST_SNAP_DC,
    ST_LOG_AGE_CUTOFF,
    ST_LOG_CHUNK_END,
    ST_LOG_WEBHOOK_FLOOR,
    ST_LOG_DELETE,
    ST_LOG_PRUNED_SET,
    ST_DATA_VERSION,
    ST_COUNT
};

extern const char *const store_stmt_sql[ST_COUNT];
/* Schema step 4 -> 5 (issue 15), in store_webhooks.c. */
extern const char store_webhooks_schema[];
/* Schema step 6 -> 7 (issue 15), in store_webhook_delivery.c. */
extern const char store_webhook_delivery_schema[];

struct store {
    sqlite3 *db;
    int busy_ms;                  /* this connection's busy timeout */
    sqlite3_stmt *stmt[ST_COUNT]; /* prepared on first use, reused until close */
};

/* The cached statement, prepared on first use; NULL (logged) on failure. */
sqlite3_stmt *store_stmt(struct store *s, enum stmt_id id);
/* Reset and unbind at once: a statement left stepping holds a WAL snapshot. */
void store_stmt_done(sqlite3_stmt *st);
/* The errno for a failed SQLite call with result rc (SQLITE_OK: take the
 * connection's last error): -EBUSY when another connection's lock outlasted
 * the busy timeout (SQLITE_BUSY, SQLITE_LOCKED and their extended codes),
 * else -EIO. */
int store_errno(struct store *s, int rc);
/* Run SQL without results; -EIO (logged) on failure. */
int store_exec(struct store *s, const char *sql);
/* A malloc'd copy of a text column with each ill-formed UTF-8 part replaced
 * by U+FFFD (utf8.h); NULL for SQL NULL, setting *oom if the copy failed.
 * Every text value the store hands out is copied through here. */
char *store_column_text(sqlite3_stmt *st, int col, int *oom);
/* Copy the 8 API columns starting at col (id, customer_id, route_id, status,
 * completed, eta, ahead, waiting) into w; 0 or -ENOMEM. */
int store_waypoint_row(sqlite3_stmt *st, int col, const char *dc_id, struct waypoint *w);

#endif

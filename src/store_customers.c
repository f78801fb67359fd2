/* SPDX-License-Identifier: MIT
 *
 * The Customers API's reads: whether a DC exists, one customer, a customer's
 * most recent waypoints. Each is a statement prepared once per connection
 * (store.c); run on the service thread that owns the connection.
 */
#include "store.h"

#include <errno.h>
#include <string.h>

#include <sqlite3.h>

#include "store_int.h"

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

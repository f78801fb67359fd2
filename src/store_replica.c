/* SPDX-License-Identifier: MIT
 *
 * An edge's replica file (store_replica.h): made without triggers, marked by
 * replica_state, and its state (the id applied last, the engine's epoch)
 * moved in the transaction of each batch.
 */
#include "store_replica_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_replica_begin(struct store *s)
{
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : store_errno(s, rc);
}

int store_replica_set_state(struct store *s, const char *sql, const char *v)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return store_errno(s, 0);
    sqlite3_bind_text(st, 1, v, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_errno(s, rc);
}

static int set_applied(struct store *s, const char *id)
{
    return store_replica_set_state(s, "UPDATE replica_state SET applied = ?1 WHERE id = 1", id);
}

int store_replica_commit(struct store *s, const char *applied_id)
{
    int rc = set_applied(s, applied_id);

    if (!rc && (rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
        rc = store_errno(s, rc);
    if (rc)
        store_replica_rollback(s);
    return rc;
}

void store_replica_rollback(struct store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int state_text(struct store *s, const char *sql, char *id, size_t cap)
{
    sqlite3_stmt *st = NULL;
    int rc = -EIO;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return store_errno(s, 0);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);

        snprintf(id, cap, "%s", t ? t : "");
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

int store_replica_applied(struct store *s, char *id, size_t cap)
{
    return state_text(s, "SELECT applied FROM replica_state WHERE id = 1", id, cap);
}

int store_replica_epoch(struct store *s, char *epoch, size_t cap)
{
    return state_text(s, "SELECT epoch FROM replica_state WHERE id = 1", epoch, cap);
}

/* 1 when the table exists in schema db ("main", "snap"), 0 if not, < 0. */
static int has_table(struct store *s, const char *db, const char *name)
{
    char sql[160];
    sqlite3_stmt *st = NULL;
    int rc;

    snprintf(sql, sizeof(sql), "SELECT 1 FROM %s.sqlite_master WHERE type = 'table' AND name = ?1", db);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return store_errno(s, 0);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -EIO;
}

/* Every trigger goes: the stream carries the change log. SQLite writes
 * the DROP statements itself, names quoted, so no name is cut short. */
static int drop_triggers(struct store *s)
{
    sqlite3_stmt *st = NULL;
    char *sql = NULL;
    int rc = 0;

    if (sqlite3_prepare_v2(s->db,
                           "SELECT group_concat('DROP TRIGGER IF EXISTS \"' || replace(name, '\"', '\"\"') || '\";', '')"
                           " FROM sqlite_master WHERE type = 'trigger'",
                           -1, &st, NULL) != SQLITE_OK)
        return store_errno(s, 0);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) &&
        !(sql = strdup((const char *)sqlite3_column_text(st, 0))))
        rc = -ENOMEM;
    sqlite3_finalize(st);
    if (!rc && sql)
        rc = store_exec(s, sql);
    free(sql);
    return rc;
}

int store_replica_open(const char *path, struct store **out, char *err, size_t errlen)
{
    struct store *s = NULL;
    int rc;

    *out = NULL;
    if ((rc = store_open(path, STORE_OPEN_CREATE, &s, err, errlen)))
        return rc;
    if (has_table(s, "main", "waypoints") == 1 && has_table(s, "main", "replica_state") != 1) {
        store_set_err(err, errlen,
                "%s is a waypointd database, not an edge's replica: an edge keeps a file of its own (give it a new"
                " path; it is created and filled from the cluster)",
                path);
        store_close(s);
        return -EEXIST;
    }
    rc = store_migrate(s);
    if (!rc)
        rc = store_exec(s, "BEGIN IMMEDIATE");
    if (!rc)
        rc = drop_triggers(s);
    if (!rc)
        rc = store_exec(s, "CREATE TABLE IF NOT EXISTS replica_state(id INTEGER PRIMARY KEY CHECK (id = 1),"
                           " applied TEXT NOT NULL DEFAULT '', epoch TEXT NOT NULL DEFAULT '');"
                           "INSERT OR IGNORE INTO replica_state(id, applied) VALUES (1, '');"
                           "COMMIT");
    /* This connection applies the stream. A replica can be refilled from
     * Redis: in WAL mode NORMAL skips the sync at every commit (a crash
     * loses at most the last batches, with the id they moved, and the
     * applier reads them again), which otherwise came once per change on
     * every edge (docs/performance-cluster.md). */
    if (!rc)
        rc = store_exec(s, "PRAGMA synchronous = NORMAL");
    if (rc) {
        store_set_err(err, errlen, "cannot prepare replica %s: %s", path, sqlite3_errmsg(s->db));
        store_replica_rollback(s);
        store_close(s);
        return -EIO;
    }
    *out = s;
    return 0;
}

/* The tables a snapshot replaces, and how they are copied. */

/* SPDX-License-Identifier: MIT
 *
 * Snapshots of the origin for an edge (store_replica.h): the relay's copy
 * (VACUUM INTO, one read transaction) scrubbed of what an edge must not
 * hold, and the edge's load of it in one transaction.
 */
#include "store_replica_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct rtable *const load_tables[] = {
    &store_replica_waypoints, &store_replica_aux[0], &store_replica_aux[1], &store_replica_aux[2], &store_replica_aux[3],
    &store_replica_aux[4], &store_replica_aux[5], &store_replica_aux[6],
};

static int copy_table(struct store *s, const struct rtable *t)
{
    char sql[2048], cols[512];
    size_t n = 0;

    for (int i = 0; t->cols[i]; i++)
        n += (size_t)snprintf(cols + n, sizeof(cols) - n, "%s%s", i ? ", " : "", t->cols[i]);
    snprintf(sql, sizeof(sql), "DELETE FROM main.%s; INSERT INTO main.%s(%s%s) SELECT %s%s FROM snap.%s", t->name,
             t->name, t->rowid ? "rowid, " : "", cols, t->rowid ? "rowid, " : "", cols, t->name);
    return store_exec(s, sql);
}

static int set_epoch(struct store *s, const char *epoch)
{
    return store_replica_set_state(s, "UPDATE replica_state SET epoch = ?1 WHERE id = 1", epoch);
}

static int load_all(struct store *s, const char *id, const char *epoch)
{
    int rc = 0;

    for (size_t i = 0; i < sizeof(load_tables) / sizeof(load_tables[0]) && !rc; i++)
        rc = copy_table(s, load_tables[i]);
    if (!rc)
        rc = store_exec(s, "DELETE FROM main.change_log;"
                           " INSERT INTO main.change_log SELECT * FROM snap.change_log;"
                           " UPDATE main.change_log_state SET pruned_through ="
                           "  (SELECT pruned_through FROM snap.change_log_state WHERE id = 1) WHERE id = 1;"
                           " DELETE FROM main.sqlite_sequence WHERE name = 'change_log';"
                           " INSERT INTO main.sqlite_sequence(name, seq)"
                           "  SELECT name, seq FROM snap.sqlite_sequence WHERE name = 'change_log';"
                           " DELETE FROM main.aux_log;");
    if (!rc)
        rc = store_replica_set_state(s, "UPDATE replica_state SET applied = ?1 WHERE id = 1", id);
    if (!rc)
        rc = set_epoch(s, epoch);
    return rc;
}

static int snap_version(struct store *s, int *v)
{
    sqlite3_stmt *st = NULL;
    int rc = -EIO;

    if (sqlite3_prepare_v2(s->db, "PRAGMA snap.user_version", -1, &st, NULL) != SQLITE_OK)
        return store_errno(s, 0);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *v = sqlite3_column_int(st, 0);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

int store_replica_load(struct store *s, const char *snap_path, const char *id, const char *epoch, char *err,
                       size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int version = -1, rc;

    /* ATTACH cannot run inside a transaction; the path goes in as a
     * parameter, never into the SQL text. */
    if (sqlite3_prepare_v2(s->db, "ATTACH DATABASE ?1 AS snap", -1, &st, NULL) != SQLITE_OK)
        return store_errno(s, 0);
    sqlite3_bind_text(st, 1, snap_path, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        store_set_err(err, errlen, "cannot open the snapshot %s: %s", snap_path, sqlite3_errmsg(s->db));
        return -EIO;
    }
    rc = snap_version(s, &version);
    if (!rc && version != STORE_SCHEMA_VERSION) {
        store_set_err(err, errlen,
                "the origin's database is at schema %d, this waypointd at %d: run the same version on the origin"
                " and the edges",
                version, STORE_SCHEMA_VERSION);
        rc = -EPROTO;
    } else if (!rc && (rc = store_replica_begin(s)) == 0) {
        rc = load_all(s, id, epoch);
        if (!rc && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            rc = store_errno(s, 0);
        if (rc) {
            store_set_err(err, errlen, "loading the snapshot: %s", sqlite3_errmsg(s->db));
            store_replica_rollback(s);
        }
    } else if (rc) {
        store_set_err(err, errlen, "the snapshot %s is not a waypointd database", snap_path);
    }
    sqlite3_exec(s->db, "DETACH DATABASE snap", NULL, NULL, NULL);
    return rc;
}

int store_replica_snap_pruned(const char *snap_path, int64_t *pruned)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = -EIO;

    *pruned = 0;
    if (sqlite3_open_v2(snap_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT pruned_through FROM change_log_state WHERE id = 1", -1, &st, NULL) ==
            SQLITE_OK) {
        int step = sqlite3_step(st);

        if (step == SQLITE_ROW)
            *pruned = sqlite3_column_int64(st, 0);
        rc = step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -EIO;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* Empty every table named webhook*: endpoints (with their secrets), the
 * outbox and its state; and aux_log, which the edge does not keep. The
 * DELETEs are written by SQLite, names quoted. */
static int scrub(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    char *sql = NULL;
    int rc = 0;

    if (sqlite3_prepare_v2(db,
                           "SELECT 'PRAGMA secure_delete = ON; BEGIN; DELETE FROM aux_log;' ||"
                           " COALESCE(group_concat('DELETE FROM \"' || replace(name, '\"', '\"\"') || '\";', ''), '')"
                           " || 'COMMIT;' FROM sqlite_master WHERE type = 'table' AND name LIKE 'webhook%'",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    if (sqlite3_step(st) == SQLITE_ROW && !(sql = strdup((const char *)sqlite3_column_text(st, 0))))
        rc = -ENOMEM;
    sqlite3_finalize(st);
    if (!rc && (!sql || sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK))
        rc = -EIO;
    if (rc)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    free(sql);
    return rc;
}

int store_replica_scrub_copy(const char *copy_path, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = 0;

    if (sqlite3_open_v2(copy_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK || scrub(db)) {
        store_set_err(err, errlen, "scrubbing the snapshot %s: %s", copy_path, db ? sqlite3_errmsg(db) : "out of memory");
        rc = -EIO;
    }
    sqlite3_close(db);
    return rc;
}

/* The stream id a copy stands at: its last change seq S and the aux rows
 * carrying S (published as S-1, S-2, ...), as relay.c numbers them. */
static int copy_id(sqlite3 *db, char *id, size_t cap)
{
    sqlite3_stmt *st = NULL;
    int rc = -EIO;

    if (sqlite3_prepare_v2(db,
                           "SELECT s, (SELECT COUNT(*) FROM aux_log WHERE seq = s) FROM (SELECT"
                           " COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'change_log'), 0) AS s)",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(id, cap, "%lld-%lld", (long long)sqlite3_column_int64(st, 0), (long long)sqlite3_column_int64(st, 1));
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

int store_replica_make_copy(const char *origin_path, const char *copy_path, char *id, size_t cap, char *err,
                            size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = -EIO;

    /* VACUUM INTO reads in one transaction: the copy is one committed state. */
    if (sqlite3_open_v2(origin_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    if (sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_text(st, 1, copy_path, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    st = NULL;
    sqlite3_close(db);
    db = NULL;
    if (sqlite3_open_v2(copy_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK || copy_id(db, id, cap))
        goto fail;
    sqlite3_close(db);
    return store_replica_scrub_copy(copy_path, err, errlen);
fail:
    store_set_err(err, errlen, "copying %s to %s: %s", origin_path, copy_path, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

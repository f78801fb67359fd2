/* SPDX-License-Identifier: MIT
 *
 * An edge's replica database (store_replica.h). Entries are applied as full
 * row images with INSERT OR REPLACE, keyed by the origin's rowid where the
 * table has one ("most recent" waypoints are rowid order), so applying an
 * entry twice (a republished tail, a snapshot that already holds it) leaves
 * the same rows. The tables an entry may name are listed here, with their
 * columns: a name or column from the stream is never spliced into SQL.
 */
#include "store_replica.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "store_int.h"

/* A table the stream may write: its key columns come first in cols (what a
 * delete matches); rowid: the table has one to keep (INTEGER PRIMARY KEY
 * tables keep theirs through the key); blobs: bit i set when cols[i] is a
 * BLOB, sent as hex. */
struct rtable {
    const char *name;
    int rowid;
    int nkey;
    unsigned blobs;
    const char *cols[10];
};

static const struct rtable waypoints_table = {
    "waypoints", 1, 2, 0,
    {"dc_id", "id", "customer_id", "route_id", "status", "completed_timestamp", "estimated_time_of_arrival",
     "waypoints_ahead", "waiting_time_seconds", NULL}};

static const struct rtable aux_tables[] = {
    {"dcs", 1, 1, 0, {"id", "name", NULL}},
    {"customers", 1, 2, 0,
     {"dc_id", "id", "name", "imported_address", "imported_latitude", "imported_longitude", "inferred_latitude",
      "inferred_longitude", "location_confident", NULL}},
    {"api_keys", 0, 1, 1u << 2, {"id", "name", "hash", "all_dcs", "created_ms", "revoked_ms", NULL}},
    {"api_key_dcs", 0, 2, 0, {"key_id", "dc_id", NULL}},
    {"secrets", 1, 1, 1u << 1, {"name", "value", NULL}},
    {"revoked_tokens", 0, 1, 1u << 0, {"hash", "dc_id", "customer_id", "expires_ms", "revoked_ms", NULL}},
    {"token_cutoffs", 0, 2, 0, {"dc_id", "customer_id", "not_before_ms", NULL}},
};
#define NAUX (sizeof(aux_tables) / sizeof(aux_tables[0]))


static const struct rtable *aux_table(const char *name)
{
    for (size_t i = 0; i < NAUX; i++)
        if (!strcmp(aux_tables[i].name, name))
            return &aux_tables[i];
    return NULL;
}

static int ncols(const struct rtable *t)
{
    int n = 0;

    while (t->cols[n])
        n++;
    return n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Hex text into a BLOB parameter; -EINVAL when it is not hex. */
static int bind_hex(sqlite3_stmt *st, int i, const char *hex, size_t len)
{
    unsigned char *b;

    if (len % 2)
        return -EINVAL;
    b = malloc(len / 2 + 1);
    if (!b)
        return -ENOMEM;
    for (size_t k = 0; k < len; k += 2) {
        int hi = hexval(hex[k]), lo = hexval(hex[k + 1]);

        if (hi < 0 || lo < 0) {
            free(b);
            return -EINVAL;
        }
        b[k / 2] = (unsigned char)(hi << 4 | lo);
    }
    return sqlite3_bind_blob(st, i, b, (int)(len / 2), free) == SQLITE_OK ? 0 : -EIO;
}

/* One JSON value into parameter i, as SQLite would have stored it. */
static int bind_json(sqlite3_stmt *st, int i, struct json_object *v, int blob)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return sqlite3_bind_null(st, i) == SQLITE_OK ? 0 : -EIO;
    case json_type_boolean:
    case json_type_int:
        return sqlite3_bind_int64(st, i, json_object_get_int64(v)) == SQLITE_OK ? 0 : -EIO;
    case json_type_double:
        return sqlite3_bind_double(st, i, json_object_get_double(v)) == SQLITE_OK ? 0 : -EIO;
    case json_type_string:
        if (blob)
            return bind_hex(st, i, json_object_get_string(v), (size_t)json_object_get_string_len(v));
        return sqlite3_bind_text(st, i, json_object_get_string(v), json_object_get_string_len(v), SQLITE_TRANSIENT) ==
                       SQLITE_OK
                   ? 0
                   : -EIO;
    default:
        return -EINVAL;
    }
}

/* "INSERT OR REPLACE INTO t([rowid, ]cols) VALUES (?...)" or "DELETE FROM
 * t WHERE key = ? AND ...": built from the table list only. */
static int build_sql(const struct rtable *t, int del, char *sql, size_t cap)
{
    size_t n = 0;
    int c = ncols(t);

#define PUT(...) (n += (size_t)snprintf(sql + n, n < cap ? cap - n : 0, __VA_ARGS__))
    if (del) {
        PUT("DELETE FROM %s WHERE ", t->name);
        for (int i = 0; i < t->nkey; i++)
            PUT("%s%s IS ?", i ? " AND " : "", t->cols[i]);
    } else {
        PUT("INSERT OR REPLACE INTO %s(%s", t->name, t->rowid ? "rowid" : "");
        for (int i = 0; i < c; i++)
            PUT("%s%s", i || t->rowid ? ", " : "", t->cols[i]);
        PUT(") VALUES (");
        for (int i = 0; i < c + t->rowid; i++)
            PUT("%s?", i ? ", " : "");
        PUT(")");
    }
#undef PUT
    return n < cap ? 0 : -ENAMETOOLONG;
}

/* Write (or, del, delete) one row image of t. */
static int put_row(struct store *s, const struct rtable *t, struct json_object *img, int del, char *err,
                   size_t errlen)
{
    char sql[512];
    sqlite3_stmt *st = NULL;
    int c = del ? t->nkey : ncols(t), p = 1, rc;
    struct json_object *v;

    if (!json_object_is_type(img, json_type_object)) {
        store_set_err(err, errlen, "%s: the row image is not an object", t->name);
        return -EINVAL;
    }
    if ((rc = build_sql(t, del, sql, sizeof(sql))))
        return rc;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        store_set_err(err, errlen, "%s: %s", t->name, sqlite3_errmsg(s->db));
        return store_errno(s, 0);
    }
    if (t->rowid && !del) {
        if (!json_object_object_get_ex(img, "rowid", &v) || !json_object_is_type(v, json_type_int)) {
            store_set_err(err, errlen, "%s: the row image has no rowid", t->name);
            rc = -EINVAL;
            goto fail;
        }
        sqlite3_bind_int64(st, p++, json_object_get_int64(v));
    }
    for (int i = 0; i < c; i++) {
        v = NULL;
        /* A column missing from the image is NULL, as json_object wrote it. */
        json_object_object_get_ex(img, t->cols[i], &v);
        if ((rc = bind_json(st, p++, v, (int)(t->blobs >> i & 1u)))) {
            store_set_err(err, errlen, "%s.%s: a value of the wrong kind", t->name, t->cols[i]);
            goto fail;
        }
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        store_set_err(err, errlen, "%s: %s", t->name, sqlite3_errmsg(s->db));
        rc = store_errno(s, rc);
        goto fail;
    }
    rc = 0;
fail:
    sqlite3_finalize(st);
    return rc;
}

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v;

    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

/* A change-log row and the waypoint's image (or its deletion). */
static int apply_change(struct store *s, int64_t seq, struct json_object *d, char *err, size_t errlen)
{
    struct json_object *w = NULL, *ms = NULL;
    const char *dc = jstr(d, "dc_id"), *cust = jstr(d, "customer_id"), *wid = jstr(d, "waypoint_id"),
               *kind = jstr(d, "kind");
    sqlite3_stmt *st = NULL;
    int rc;

    if (!dc || !cust || !wid || !kind || !json_object_object_get_ex(d, "changed_ms", &ms) ||
        !json_object_object_get_ex(d, "waypoint", &w)) {
        store_set_err(err, errlen, "change: a field is missing");
        return -EINVAL;
    }
    if (w) {
        rc = put_row(s, &waypoints_table, w, 0, err, errlen);
    } else {
        struct json_object *key = json_object_new_object();

        json_object_object_add(key, "dc_id", json_object_new_string(dc));
        json_object_object_add(key, "id", json_object_new_string(wid));
        rc = put_row(s, &waypoints_table, key, 1, err, errlen);
        json_object_put(key);
    }
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO change_log(seq, dc_id, customer_id, waypoint_id, kind, changed_ms)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &st, NULL) != SQLITE_OK)
        return store_errno(s, 0);
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, dc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, cust, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, wid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, json_object_get_int64(ms));
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? 0 : store_errno(s, rc);
    if (rc)
        store_set_err(err, errlen, "change_log: %s", sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return rc;
}

static int apply_aux(struct store *s, const struct rtable *t, struct json_object *d, char *err, size_t errlen)
{
    struct json_object *img = NULL;
    const char *op = jstr(d, "op");

    if (!op || (strcmp(op, "i") && strcmp(op, "u") && strcmp(op, "d")) ||
        !json_object_object_get_ex(d, "image", &img)) {
        store_set_err(err, errlen, "%s: no op or image", t->name);
        return -EINVAL;
    }
    return put_row(s, t, img, !strcmp(op, "d"), err, errlen);
}

int store_replica_apply(struct store *s, int64_t seq, const char *k, const char *d, size_t dlen, char *err,
                        size_t errlen)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = NULL;
    const struct rtable *t = NULL;
    int rc = -EINVAL;

    if (!tok)
        return -ENOMEM;
    o = json_tokener_parse_ex(tok, d, (int)dlen);
    if (!o || json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(o, json_type_object)) {
        store_set_err(err, errlen, "entry %s: its d is not a JSON object", k);
        goto fail;
    }
    if (!strcmp(k, "c"))
        rc = apply_change(s, seq, o, err, errlen);
    else if ((t = aux_table(k)))
        rc = apply_aux(s, t, o, err, errlen);
    else
        store_set_err(err, errlen, "entry names table \"%.64s\", which a replica does not hold", k);
fail:
    json_object_put(o);
    json_tokener_free(tok);
    return rc;
}

int store_replica_begin(struct store *s)
{
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : store_errno(s, rc);
}

/* One replica_state column set to v; sql has the column, v is ?1. */
static int set_state(struct store *s, const char *sql, const char *v)
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
    return set_state(s, "UPDATE replica_state SET applied = ?1 WHERE id = 1", id);
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
static const struct rtable *const load_tables[] = {
    &waypoints_table, &aux_tables[0], &aux_tables[1], &aux_tables[2], &aux_tables[3],
    &aux_tables[4], &aux_tables[5], &aux_tables[6],
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
    return set_state(s, "UPDATE replica_state SET epoch = ?1 WHERE id = 1", epoch);
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
        rc = set_applied(s, id);
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

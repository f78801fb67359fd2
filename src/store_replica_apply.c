/* SPDX-License-Identifier: MIT
 *
 * Stream entries into an edge's replica (store_replica.h). Entries are
 * applied as full row images with INSERT OR REPLACE, keyed by the origin's
 * rowid where the table has one ("most recent" waypoints are rowid order),
 * so applying an entry twice (a republished tail, a snapshot that already
 * holds it) leaves the same rows. The tables an entry may name are listed
 * here, with their columns: a name or column from the stream is never
 * spliced into SQL.
 */
#include "store_replica_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

const struct rtable store_replica_waypoints = {
    "waypoints", 1, 2, 0,
    {"dc_id", "id", "customer_id", "route_id", "status", "completed_timestamp", "estimated_time_of_arrival",
     "waypoints_ahead", "waiting_time_seconds", NULL}};

const struct rtable store_replica_aux[] = {
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
const size_t store_replica_naux = sizeof(store_replica_aux) / sizeof(store_replica_aux[0]);


static const struct rtable *aux_table(const char *name)
{
    for (size_t i = 0; i < store_replica_naux; i++)
        if (!strcmp(store_replica_aux[i].name, name))
            return &store_replica_aux[i];
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
        rc = put_row(s, &store_replica_waypoints, w, 0, err, errlen);
    } else {
        struct json_object *key = json_object_new_object();

        json_object_object_add(key, "dc_id", json_object_new_string(dc));
        json_object_object_add(key, "id", json_object_new_string(wid));
        rc = put_row(s, &store_replica_waypoints, key, 1, err, errlen);
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

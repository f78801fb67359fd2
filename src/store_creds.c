/* SPDX-License-Identifier: MIT
 *
 * The credential tables: API keys (insert, revoke, list, lookup, their DCs),
 * revoked tracking tokens, and the token secret. Commands insert, list and
 * revoke on the main thread; service threads look keys up and ask
 * store_token_revoked and store_secret_get, prepared statements (store.c).
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"

#define KEY_LIST_MAX_DCS 1024

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

/* The sorted DCs of one key into dcs (malloc'd copies, at most max). */
static int key_dcs(struct store *s, sqlite3_stmt *st, int64_t id, char **dcs, size_t max, size_t *n)
{
    int rc = SQLITE_DONE, oom = 0;

    *n = 0;
    sqlite3_bind_int64(st, 1, id);
    while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
        if ((dcs[*n] = store_column_text(st, 0, &oom)))
            (*n)++;
    sqlite3_reset(st);
    if (oom)
        return -ENOMEM;
    return *n == max || rc == SQLITE_DONE ? 0 : store_errno(s, rc);
}

int store_key_list(struct store *s, store_key_cb cb, void *arg)
{
    sqlite3_stmt *keys = NULL, *dcs = NULL;
    char *dc[KEY_LIST_MAX_DCS];
    size_t ndc = 0;
    int rc = 0, step = SQLITE_DONE;

    if (sqlite3_prepare_v2(s->db, "SELECT id, name, all_dcs, created_ms, COALESCE(revoked_ms, 0) FROM api_keys"
                                  " ORDER BY id", -1, &keys, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT dc_id FROM api_key_dcs WHERE key_id = ?1 ORDER BY dc_id", -1, &dcs,
                           NULL) != SQLITE_OK) {
        rc = store_errno(s, SQLITE_OK);
        goto done;
    }
    while (!rc && (step = sqlite3_step(keys)) == SQLITE_ROW) {
        struct store_key_info k = {0};
        int oom = 0;
        char *name = store_column_text(keys, 1, &oom);

        k.id = sqlite3_column_int64(keys, 0);
        k.name = name ? name : "";
        k.all_dcs = sqlite3_column_int(keys, 2) != 0;
        k.created_ms = sqlite3_column_int64(keys, 3);
        k.revoked_ms = sqlite3_column_int64(keys, 4);
        rc = oom ? -ENOMEM : k.all_dcs ? 0 : key_dcs(s, dcs, k.id, dc, KEY_LIST_MAX_DCS, &ndc);
        k.dcs = (const char *const *)dc;
        k.ndcs = k.all_dcs ? 0 : ndc;
        if (!rc)
            rc = cb(&k, arg);
        for (size_t i = 0; i < k.ndcs; i++)
            free(dc[i]);
        ndc = 0;
        free(name);
    }
    if (!rc && step != SQLITE_DONE)
        rc = store_errno(s, step);
done:
    sqlite3_finalize(keys);
    sqlite3_finalize(dcs);
    return rc;
}

int store_token_revoked(struct store *s, const uint8_t hash[STORE_KEY_HASH_LEN], const char *dc_id,
                        const char *customer_id, int64_t issued_ms)
{
    sqlite3_stmt *st = store_stmt(s, ST_TOKEN_REVOKED);
    int rc, revoked = 0;

    if (!st)
        return store_errno(s, SQLITE_OK);
    sqlite3_bind_blob(st, 1, hash, STORE_KEY_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dc_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, customer_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, issued_ms);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        revoked = sqlite3_column_int(st, 0) != 0;
    store_stmt_done(st);
    return rc == SQLITE_ROW ? revoked : store_errno(s, rc);
}

int store_token_revoke(struct store *s, const uint8_t hash[STORE_KEY_HASH_LEN], const char *dc_id,
                       const char *customer_id, int64_t expires_ms)
{
    sqlite3_stmt *st = NULL;
    int rc = -EIO, step;

    if (store_exec(s, "BEGIN IMMEDIATE"))
        return -EIO;
    /* Rows of tokens that have expired since guard nothing any more. */
    if (store_exec(s, "DELETE FROM revoked_tokens WHERE expires_ms < " SQL_NOW_MS))
        goto fail;
    if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO revoked_tokens(hash, dc_id, customer_id, expires_ms,"
                                  " revoked_ms) VALUES (?1, ?2, ?3, ?4, " SQL_NOW_MS ")", -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_blob(st, 1, hash, STORE_KEY_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dc_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, customer_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, expires_ms);
    step = sqlite3_step(st);
    if (step != SQLITE_DONE)
        goto fail;
    rc = sqlite3_changes(s->db) ? 0 : -EALREADY;
    sqlite3_finalize(st);
    return store_exec(s, "COMMIT") ? -EIO : rc;
fail:
    log_error("store: token revoke: %s", sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    store_exec(s, "ROLLBACK");
    return -EIO;
}

int store_token_revoke_customer(struct store *s, const char *dc_id, const char *customer_id, int64_t *cutoff_ms)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO token_cutoffs(dc_id, customer_id, not_before_ms)"
                                  " VALUES (?1, ?2, " SQL_NOW_MS ") RETURNING not_before_ms", -1, &st,
                           NULL) != SQLITE_OK) {
        log_error("store: token cutoff: %s", sqlite3_errmsg(s->db));
        return -EIO;
    }
    sqlite3_bind_text(st, 1, dc_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, customer_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *cutoff_ms = sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_error("store: token cutoff: %s", sqlite3_errmsg(s->db));
        return store_errno(s, rc);
    }
    return 0;
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

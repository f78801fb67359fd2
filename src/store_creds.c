/* SPDX-License-Identifier: MIT
 *
 * The credential tables beyond a key's lookup (store.c): the key listing
 * for `waypointd key list`, and revoked tracking tokens. Commands list and
 * revoke; service threads ask store_token_revoked, a prepared statement.
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"

/* Epoch milliseconds in SQL, as store.c writes them. */
#define SQL_NOW_MS "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
#define KEY_LIST_MAX_DCS 1024

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

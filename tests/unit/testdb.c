/* SPDX-License-Identifier: MIT */
/* The temporary-database fixture of the unit tests (testdb.h). */
#include "testdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "store_webhooks.h"
#include "whsig.h"

void testdb_temp_path(char *path, size_t cap, const char *tag)
{
    int fd;

    snprintf(path, cap, "/tmp/waypointd-test-%s-XXXXXX", tag);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
}

void testdb_remove(const char *path)
{
    static const char *const sides[] = {"", "-wal", "-shm", "-journal"};
    char side[96];

    for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
        snprintf(side, sizeof(side), "%s%s", path, sides[i]);
        unlink(side);
    }
}

void testdb_open(struct testdb *t, const char *tag)
{
    char err[256] = "";

    testdb_temp_path(t->path, sizeof(t->path), tag);
    if (store_open(t->path, STORE_OPEN_CREATE, &t->store, err, sizeof(err)))
        fail_msg("store_open: %s", err);
    assert_int_equal(store_migrate(t->store), 0);
    assert_int_equal(sqlite3_open_v2(t->path, &t->db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(t->db, 5000);
}

void testdb_close(struct testdb *t)
{
    sqlite3_close(t->db);
    store_close(t->store);
    testdb_remove(t->path);
    t->db = NULL;
    t->store = NULL;
}

int testdb_setup(void **state)
{
    struct testdb *t = calloc(1, sizeof(*t));

    assert_non_null(t);
    testdb_open(t, "db");
    *state = t;
    return 0;
}

int testdb_teardown(void **state)
{
    struct testdb *t = *state;

    testdb_close(t);
    free(t);
    return 0;
}

void testdb_sql(sqlite3 *db, const char *text)
{
    char *msg = NULL;

    if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK) {
        print_error("%s: %s\n", text, msg ? msg : "?");
        sqlite3_free(msg);
        fail();
    }
}

long long testdb_sql_int(sqlite3 *db, const char *query)
{
    sqlite3_stmt *st = NULL;
    long long v;

    assert_int_equal(sqlite3_prepare_v2(db, query, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

void testdb_webhook_add(struct testdb *t, const char *id, const char *events, const char *approach_minutes,
                        long long created_ms)
{
    static const char *const dcs[] = {"dc1"};
    struct store_webhook w;

    memset(&w, 0, sizeof(w));
    snprintf(w.id, sizeof(w.id), "%s", id);
    w.url = (char *)"https://example.com/hooks";
    w.dcs = (char **)dcs;
    w.ndcs = 1;
    w.events = (char *)events;
    assert_int_equal(whsig_secret_generate(&w.secret), 0);
    w.enabled = 1;
    w.eta_minutes = 5;
    w.approach_stops = (char *)"3,1";
    w.approach_minutes = (char *)approach_minutes;
    w.created_ms = w.state_since_ms = created_ms;
    assert_int_equal(store_webhook_insert(t->store, &w), 0);
}

char *testdb_sql_text(sqlite3 *db, const char *query)
{
    sqlite3_stmt *st = NULL;
    char *v;

    assert_int_equal(sqlite3_prepare_v2(db, query, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = strdup((const char *)sqlite3_column_text(st, 0));
    assert_non_null(v);
    sqlite3_finalize(st);
    return v;
}

/* SPDX-License-Identifier: MIT
 *
 * The aux log (store_aux.c, schema 6) against real SQLite: a raw writer's
 * insert, update and delete on each of dcs, customers, api_keys, api_key_dcs
 * and secrets is recorded with the change_log seq current at the time, as a
 * full JSON row image, and takes no change_log seq; pruning the change log
 * prunes it; a database at schema 5 migrates.
 */
#include "store_aux.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"
#include "testdb.h"

/* The newest aux row must be (seq, tbl, op, key, image). */
static void expect_last(sqlite3 *db, long long seq, const char *tbl, const char *op, const char *key,
                        const char *image)
{
    sqlite3_stmt *st = NULL;

    assert_int_equal(sqlite3_prepare_v2(db, "SELECT seq, tbl, op, key, image FROM aux_log ORDER BY id DESC LIMIT 1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), seq);
    assert_string_equal((const char *)sqlite3_column_text(st, 1), tbl);
    assert_string_equal((const char *)sqlite3_column_text(st, 2), op);
    assert_string_equal((const char *)sqlite3_column_text(st, 3), key);
    assert_string_equal((const char *)sqlite3_column_text(st, 4), image);
    sqlite3_finalize(st);
}

static long long log_rows(sqlite3 *db)
{
    return testdb_sql_int(db, "SELECT COUNT(*) FROM change_log");
}

static void test_empty_log_gives_seq_0(void **state)
{
    struct testdb *t = *state;

    testdb_sql(t->db, "INSERT INTO dcs(id, name) VALUES ('dc1', 'North')");
    expect_last(t->db, 0, "dcs", "i", "dc1", "{\"rowid\":1,\"id\":\"dc1\",\"name\":\"North\"}");
    assert_int_equal(log_rows(t->db), 0);
}

static void test_every_table_every_op(void **state)
{
    struct testdb *t = *state;
    long long seq;
    long long aux_before;
    /* The store's own token secret, made at open, is already there. */
    long long aux_base = testdb_sql_int(t->db, "SELECT COUNT(*) FROM aux_log");

    testdb_sql(t->db, "INSERT INTO dcs(id, name) VALUES ('dc1', 'North')");
    testdb_sql(t->db, "INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c1', 'Acme')");
    /* A waypoint write takes a change_log seq; the aux rows after it carry it. */
    testdb_sql(t->db, "INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc1', 'w1', 'c1')");
    seq = testdb_sql_int(t->db, "SELECT MAX(seq) FROM change_log");
    assert_true(seq > 0);
    aux_before = testdb_sql_int(t->db, "SELECT COUNT(*) FROM aux_log");
    assert_int_equal(aux_before, aux_base + 2);

    testdb_sql(t->db, "UPDATE dcs SET name = 'Nord' WHERE id = 'dc1'");
    expect_last(t->db, seq, "dcs", "u", "dc1", "{\"rowid\":1,\"id\":\"dc1\",\"name\":\"Nord\"}");

    testdb_sql(t->db, "UPDATE customers SET imported_latitude = 1.5, location_confident = 1 WHERE id = 'c1'");
    expect_last(t->db, seq, "customers", "u", "dc1/c1",
                "{\"rowid\":1,\"dc_id\":\"dc1\",\"id\":\"c1\",\"name\":\"Acme\",\"imported_address\":null,"
                "\"imported_latitude\":1.5,\"imported_longitude\":null,\"inferred_latitude\":null,"
                "\"inferred_longitude\":null,\"location_confident\":1}");

    testdb_sql(t->db, "INSERT INTO api_keys(id, name, hash, all_dcs, created_ms) VALUES (7, 'k', x'00ff', 0, 1000)");
    expect_last(t->db, seq, "api_keys", "i", "7",
                "{\"rowid\":7,\"id\":7,\"name\":\"k\",\"hash\":\"00FF\",\"all_dcs\":0,\"created_ms\":1000,"
                "\"revoked_ms\":null}");
    testdb_sql(t->db, "UPDATE api_keys SET revoked_ms = 2000 WHERE id = 7");
    expect_last(t->db, seq, "api_keys", "u", "7",
                "{\"rowid\":7,\"id\":7,\"name\":\"k\",\"hash\":\"00FF\",\"all_dcs\":0,\"created_ms\":1000,"
                "\"revoked_ms\":2000}");

    testdb_sql(t->db, "INSERT INTO api_key_dcs(key_id, dc_id) VALUES (7, 'dc1')");
    expect_last(t->db, seq, "api_key_dcs", "i", "7/dc1", "{\"key_id\":7,\"dc_id\":\"dc1\"}");
    testdb_sql(t->db, "UPDATE api_key_dcs SET dc_id = 'dc2' WHERE key_id = 7");
    expect_last(t->db, seq, "api_key_dcs", "u", "7/dc2", "{\"key_id\":7,\"dc_id\":\"dc2\"}");
    testdb_sql(t->db, "DELETE FROM api_key_dcs WHERE key_id = 7");
    expect_last(t->db, seq, "api_key_dcs", "d", "7/dc2", "{\"key_id\":7,\"dc_id\":\"dc2\"}");
    testdb_sql(t->db, "DELETE FROM api_keys WHERE id = 7");
    expect_last(t->db, seq, "api_keys", "d", "7",
                "{\"rowid\":7,\"id\":7,\"name\":\"k\",\"hash\":\"00FF\",\"all_dcs\":0,\"created_ms\":1000,"
                "\"revoked_ms\":2000}");

    /* The store may have made its token secret at migration: a fresh name. */
    testdb_sql(t->db, "INSERT INTO secrets(name, value) VALUES ('aux_test', x'0102')");
    testdb_sql(t->db, "UPDATE secrets SET value = x'0304' WHERE name = 'aux_test'");
    {
        long long rowid = testdb_sql_int(t->db, "SELECT rowid FROM secrets WHERE name = 'aux_test'");
        char want[128];

        snprintf(want, sizeof(want), "{\"rowid\":%lld,\"name\":\"aux_test\",\"value\":\"0304\"}", rowid);
        expect_last(t->db, seq, "secrets", "u", "aux_test", want);
        testdb_sql(t->db, "DELETE FROM secrets WHERE name = 'aux_test'");
        expect_last(t->db, seq, "secrets", "d", "aux_test", want);
    }

    testdb_sql(t->db, "DELETE FROM customers WHERE id = 'c1'");
    expect_last(t->db, seq, "customers", "d", "dc1/c1",
                "{\"rowid\":1,\"dc_id\":\"dc1\",\"id\":\"c1\",\"name\":\"Acme\",\"imported_address\":null,"
                "\"imported_latitude\":1.5,\"imported_longitude\":null,\"inferred_latitude\":null,"
                "\"inferred_longitude\":null,\"location_confident\":1}");
    testdb_sql(t->db, "DELETE FROM dcs WHERE id = 'dc1'");
    expect_last(t->db, seq, "dcs", "d", "dc1", "{\"rowid\":1,\"id\":\"dc1\",\"name\":\"Nord\"}");

    /* None of that took a change_log seq. */
    assert_int_equal(testdb_sql_int(t->db, "SELECT MAX(seq) FROM change_log"), seq);
    assert_int_equal(testdb_sql_int(t->db, "SELECT seq FROM sqlite_sequence WHERE name = 'change_log'"), seq);
    assert_int_equal(testdb_sql_int(t->db, "SELECT COUNT(*) FROM aux_log"), aux_before + 13);
}

static void test_seq_follows_later_changes_and_prune(void **state)
{
    struct testdb *t = *state;
    long long s1;
    long long s2;
    int64_t pruned = 0;

    testdb_sql(t->db, "INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc1', 'w1', 'c1')");
    s1 = testdb_sql_int(t->db, "SELECT MAX(seq) FROM change_log");
    testdb_sql(t->db, "INSERT INTO dcs(id) VALUES ('a')");
    testdb_sql(t->db, "INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc1', 'w2', 'c1')");
    s2 = testdb_sql_int(t->db, "SELECT MAX(seq) FROM change_log");
    assert_true(s2 > s1);
    testdb_sql(t->db, "INSERT INTO dcs(id) VALUES ('b')");
    assert_int_equal(testdb_sql_int(t->db, "SELECT seq FROM aux_log WHERE key = 'a'"), s1);
    assert_int_equal(testdb_sql_int(t->db, "SELECT seq FROM aux_log WHERE key = 'b'"), s2);

    /* Pruning the change log through s1 takes the aux rows at or below s1. */
    assert_int_equal(store_log_prune(t->store, 1, 0, 0, s1, &pruned), 0);
    assert_int_equal(pruned, s1);
    assert_int_equal(testdb_sql_int(t->db, "SELECT COUNT(*) FROM aux_log WHERE key = 'a'"), 0);
    assert_int_equal(testdb_sql_int(t->db, "SELECT COUNT(*) FROM aux_log WHERE key = 'b'"), 1);
}

static void test_migrates_from_version_5(void **state)
{
    struct testdb *t = *state;
    int version = 0;

    /* A database at version 5: no aux_log, none of its triggers. */
    for (;;) {
        sqlite3_stmt *st = NULL;
        char drop[96];

        assert_int_equal(sqlite3_prepare_v2(t->db, "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                            " AND name LIKE 'aux\\_%' ESCAPE '\\' LIMIT 1", -1, &st, NULL),
                         SQLITE_OK);
        if (sqlite3_step(st) != SQLITE_ROW) {
            sqlite3_finalize(st);
            break;
        }
        snprintf(drop, sizeof(drop), "DROP TRIGGER %s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        testdb_sql(t->db, drop);
    }
    testdb_sql(t->db, "DROP TABLE aux_log; PRAGMA user_version = 5;");
    testdb_sql(t->db, "INSERT INTO dcs(id) VALUES ('before')");
    assert_int_equal(store_migrate(t->store), 0);
    assert_int_equal(store_schema_version(t->store, &version), 0);
    assert_int_equal(version, STORE_SCHEMA_VERSION);
    testdb_sql(t->db, "INSERT INTO dcs(id) VALUES ('after')");
    assert_int_equal(testdb_sql_int(t->db, "SELECT COUNT(*) FROM aux_log WHERE key = 'after'"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_log_gives_seq_0, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_every_table_every_op, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_seq_follows_later_changes_and_prune, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_migrates_from_version_5, testdb_setup, testdb_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

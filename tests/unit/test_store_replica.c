/* SPDX-License-Identifier: MIT
 *
 * An edge's replica (store_replica.c) against real SQLite: a new file
 * becomes a replica without triggers; the origin's file is refused; change
 * and aux entries apply as the relay publishes them (twice = once); a
 * malformed entry is refused and rolls nothing in; a snapshot of an origin
 * replaces the replica's state in one go, its webhook secrets scrubbed.
 */
#include "store_replica.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"
#include "../../src/store_int.h"
#include "testdb.h"

struct rep {
    char path[64];
    struct store *store;
    sqlite3 *db; /* a raw reader */
};

static int rep_setup(void **state)
{
    struct rep *r = calloc(1, sizeof(*r));
    char err[256] = "";

    assert_non_null(r);
    testdb_temp_path(r->path, sizeof(r->path), "replica");
    unlink(r->path); /* the replica creates its file */
    assert_int_equal(store_replica_open(r->path, &r->store, err, sizeof(err)), 0);
    assert_int_equal(sqlite3_open(r->path, &r->db), SQLITE_OK);
    *state = r;
    return 0;
}

static int rep_teardown(void **state)
{
    struct rep *r = *state;

    sqlite3_close(r->db);
    store_close(r->store);
    testdb_remove(r->path);
    free(r);
    return 0;
}

static int apply1(struct rep *r, const char *id, int64_t seq, const char *k, const char *d)
{
    char err[256] = "";
    int rc = store_replica_begin(r->store);

    assert_int_equal(rc, 0);
    rc = store_replica_apply(r->store, seq, k, d, strlen(d), err, sizeof(err));
    if (rc) {
        assert_true(err[0] != '\0'); /* a refusal says why */
        store_replica_rollback(r->store);
        return rc;
    }
    return store_replica_commit(r->store, id);
}

static void test_new_file_is_a_replica_without_triggers(void **state)
{
    struct rep *r = *state;
    char id[STORE_REPLICA_ID_MAX];

    assert_int_equal(testdb_sql_int(r->db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'"), 0);
    assert_int_equal(store_replica_applied(r->store, id, sizeof(id)), 0);
    assert_string_equal(id, "");
    /* The applier's connection does not sync at every commit (1: NORMAL). */
    assert_int_equal(testdb_sql_int(r->store->db, "PRAGMA synchronous"), 1);
    /* Opened again: still a replica, still no triggers. */
    store_close(r->store);
    assert_int_equal(store_replica_open(r->path, &r->store, NULL, 0), 0);
    assert_int_equal(testdb_sql_int(r->db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'"), 0);
}

static void test_the_origin_file_is_refused(void **state)
{
    struct testdb t;
    struct store *s = NULL;
    char err[512] = "";

    (void)state;
    testdb_open(&t, "origin");
    assert_int_equal(store_replica_open(t.path, &s, err, sizeof(err)), -EEXIST);
    assert_null(s);
    assert_non_null(strstr(err, "not an edge's replica"));
    /* and left as it was: its triggers are still there */
    assert_true(testdb_sql_int(t.db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'") > 0);
    testdb_close(&t);
}

static const char wp1[] =
    "{\"kind\":\"insert\",\"dc_id\":\"dc1\",\"customer_id\":\"c1\",\"waypoint_id\":\"w1\",\"changed_ms\":1000,"
    "\"waypoint\":{\"rowid\":7,\"dc_id\":\"dc1\",\"id\":\"w1\",\"customer_id\":\"c1\",\"route_id\":\"r1\","
    "\"status\":\"PENDING\",\"completed_timestamp\":null,\"estimated_time_of_arrival\":1795963620000,"
    "\"waypoints_ahead\":3,\"waiting_time_seconds\":null}}";

static void test_change_entries_apply_with_origin_seq_and_rowid(void **state)
{
    struct rep *r = *state;
    char id[STORE_REPLICA_ID_MAX];

    assert_int_equal(apply1(r, "5-0", 5, "c", wp1), 0);
    assert_int_equal(apply1(r, "5-0", 5, "c", wp1), 0); /* again: the same rows */
    assert_int_equal(testdb_sql_int(r->db, "SELECT COUNT(*) FROM waypoints"), 1);
    assert_int_equal(testdb_sql_int(r->db, "SELECT rowid FROM waypoints WHERE id = 'w1'"), 7);
    assert_int_equal(testdb_sql_int(r->db, "SELECT waypoints_ahead FROM waypoints"), 3);
    assert_int_equal(testdb_sql_int(r->db, "SELECT seq FROM change_log"), 5);
    assert_int_equal(testdb_sql_int(r->db, "SELECT COUNT(*) FROM change_log"), 1);
    assert_int_equal(testdb_sql_int(r->db, "SELECT seq FROM sqlite_sequence WHERE name = 'change_log'"), 5);
    assert_int_equal(store_replica_applied(r->store, id, sizeof(id)), 0);
    assert_string_equal(id, "5-0");
    /* The waypoint gone at the origin: a null image deletes it. */
    assert_int_equal(apply1(r, "6-0", 6, "c",
                            "{\"kind\":\"delete\",\"dc_id\":\"dc1\",\"customer_id\":\"c1\",\"waypoint_id\":\"w1\","
                            "\"changed_ms\":1001,\"waypoint\":null}"),
                     0);
    assert_int_equal(testdb_sql_int(r->db, "SELECT COUNT(*) FROM waypoints"), 0);
    assert_int_equal(testdb_sql_int(r->db, "SELECT MAX(seq) FROM change_log"), 6);
}

static void test_aux_entries_insert_update_delete(void **state)
{
    struct rep *r = *state;

    assert_int_equal(apply1(r, "0-1", 0, "api_keys",
                            "{\"op\":\"i\",\"key\":\"3\",\"image\":{\"rowid\":3,\"id\":3,\"name\":\"k\","
                            "\"hash\":\"00FF10\",\"all_dcs\":0,\"created_ms\":5,\"revoked_ms\":null}}"),
                     0);
    assert_int_equal(apply1(r, "0-2", 0, "api_key_dcs",
                            "{\"op\":\"i\",\"key\":\"3/dc1\",\"image\":{\"key_id\":3,\"dc_id\":\"dc1\"}}"),
                     0);
    assert_int_equal(testdb_sql_int(r->db, "SELECT length(hash) FROM api_keys WHERE id = 3"), 3);
    assert_int_equal(testdb_sql_int(r->db, "SELECT hash = x'00ff10' FROM api_keys WHERE id = 3"), 1);
    /* revoked at the origin */
    assert_int_equal(apply1(r, "0-3", 0, "api_keys",
                            "{\"op\":\"u\",\"key\":\"3\",\"image\":{\"rowid\":3,\"id\":3,\"name\":\"k\","
                            "\"hash\":\"00FF10\",\"all_dcs\":0,\"created_ms\":5,\"revoked_ms\":99}}"),
                     0);
    assert_int_equal(testdb_sql_int(r->db, "SELECT revoked_ms FROM api_keys WHERE id = 3"), 99);
    assert_int_equal(testdb_sql_int(r->db, "SELECT COUNT(*) FROM api_keys"), 1);
    assert_int_equal(apply1(r, "0-4", 0, "api_key_dcs",
                            "{\"op\":\"d\",\"key\":\"3/dc1\",\"image\":{\"key_id\":3,\"dc_id\":\"dc1\"}}"),
                     0);
    assert_int_equal(testdb_sql_int(r->db, "SELECT COUNT(*) FROM api_key_dcs"), 0);
    assert_int_equal(apply1(r, "0-5", 0, "revoked_tokens",
                            "{\"op\":\"i\",\"key\":\"AB\",\"image\":{\"hash\":\"AB\",\"dc_id\":\"dc1\","
                            "\"customer_id\":\"c1\",\"expires_ms\":10,\"revoked_ms\":9}}"),
                     0);
    assert_int_equal(testdb_sql_int(r->db, "SELECT COUNT(*) FROM revoked_tokens WHERE hash = x'ab'"), 1);
}

static void test_bad_entries_are_refused_and_change_nothing(void **state)
{
    struct rep *r = *state;
    char id[STORE_REPLICA_ID_MAX];

    assert_int_equal(apply1(r, "1-0", 1, "c", wp1), 0);
    assert_int_equal(apply1(r, "2-0", 2, "c", "{not json"), -EINVAL);
    assert_int_equal(apply1(r, "2-0", 2, "sqlite_master", "{\"op\":\"d\",\"key\":\"x\",\"image\":{}}"), -EINVAL);
    assert_int_equal(apply1(r, "2-0", 2, "api_keys", "{\"op\":\"i\",\"key\":\"3\",\"image\":{\"rowid\":3,\"id\":3,"
                                                      "\"name\":\"k\",\"hash\":\"zz\",\"created_ms\":1}}"),
                     -EINVAL);
    assert_int_equal(apply1(r, "2-0", 2, "c", "{\"kind\":\"update\",\"dc_id\":\"dc1\"}"), -EINVAL);
    assert_int_equal(store_replica_applied(r->store, id, sizeof(id)), 0);
    assert_string_equal(id, "1-0");
    assert_int_equal(testdb_sql_int(r->db, "SELECT COUNT(*) FROM api_keys"), 0);
}

/* An origin with rows, a webhook endpoint and a log; its VACUUM INTO copy
 * scrubbed and loaded: the replica equals the origin's API state. */
static void test_snapshot_replaces_the_state(void **state)
{
    struct rep *r = *state;
    struct testdb o;
    char copy[64], sql[160], err[256] = "", id[STORE_REPLICA_ID_MAX];

    assert_int_equal(apply1(r, "1-0", 1, "c", wp1), 0); /* old state, to be replaced */
    testdb_open(&o, "origin");
    testdb_sql(o.db, "INSERT INTO dcs(id, name) VALUES ('dc1', 'North');"
                     "INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c9', 'Ann');"
                     "INSERT INTO waypoints(dc_id, id, customer_id, status) VALUES ('dc1', 'w9', 'c9', 'PENDING');"
                     "UPDATE waypoints SET waypoints_ahead = 2 WHERE id = 'w9';"
                     "INSERT INTO webhook_endpoints(id, url, events, secret, state_since_ms, created_ms) VALUES"
                      " ('wh1', 'https://x.example/', '*', 'whsec_secret', 1, 1);");
    testdb_temp_path(copy, sizeof(copy), "copy");
    unlink(copy);
    snprintf(sql, sizeof(sql), "VACUUM INTO '%s'", copy);
    testdb_sql(o.db, sql);
    assert_int_equal(store_replica_scrub_copy(copy, err, sizeof(err)), 0);
    {
        sqlite3 *c = NULL;

        assert_int_equal(sqlite3_open(copy, &c), SQLITE_OK);
        assert_int_equal(testdb_sql_int(c, "SELECT COUNT(*) FROM webhook_endpoints"), 0);
        assert_int_equal(testdb_sql_int(c, "SELECT COUNT(*) FROM aux_log"), 0);
        sqlite3_close(c);
    }
    assert_int_equal(store_replica_load(r->store, copy, "2-3", "e7", err, sizeof(err)), 0);
    assert_int_equal(testdb_sql_int(r->db, "SELECT COUNT(*) FROM waypoints"), 1);
    assert_int_equal(testdb_sql_int(r->db, "SELECT waypoints_ahead FROM waypoints WHERE id = 'w9'"), 2);
    assert_int_equal(testdb_sql_int(r->db, "SELECT COUNT(*) FROM customers"), 1);
    assert_int_equal(testdb_sql_int(r->db, "SELECT MAX(seq) FROM change_log"), 2);
    assert_int_equal(testdb_sql_int(r->db, "SELECT seq FROM sqlite_sequence WHERE name = 'change_log'"), 2);
    assert_int_equal(testdb_sql_int(r->db, "SELECT COUNT(*) FROM secrets"), 1);
    assert_int_equal(testdb_sql_int(r->db, "SELECT COUNT(*) FROM secrets s WHERE s.value ="
                                           " (SELECT value FROM secrets)"),
                     1);
    assert_int_equal(store_replica_applied(r->store, id, sizeof(id)), 0);
    assert_string_equal(id, "2-3");
    assert_int_equal(store_replica_epoch(r->store, id, sizeof(id)), 0);
    assert_string_equal(id, "e7");
    testdb_remove(copy);
    testdb_close(&o);
}

/* What the applier compares with its applied seq before a reload. */
static void test_a_snapshots_pruned_through_is_read(void **state)
{
    struct testdb o;
    char copy[64], sql[160];
    int64_t pruned = -1;

    (void)state;
    testdb_open(&o, "origin");
    testdb_sql(o.db, "INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc1', 'w1', 'c1');"
                     "INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc1', 'w2', 'c1');"
                     "UPDATE change_log_state SET pruned_through = 7 WHERE id = 1;");
    testdb_temp_path(copy, sizeof(copy), "copy");
    unlink(copy);
    snprintf(sql, sizeof(sql), "VACUUM INTO '%s'", copy);
    testdb_sql(o.db, sql);
    assert_int_equal(store_replica_snap_pruned(copy, &pruned), 0);
    assert_int_equal(pruned, 7);
    testdb_remove(copy);
    assert_int_equal(store_replica_snap_pruned(copy, &pruned), -EIO); /* gone: no file to read */
    testdb_close(&o);
}

static void test_a_snapshot_at_another_schema_is_refused(void **state)
{
    struct rep *r = *state;
    struct testdb o;
    char err[256] = "", id[STORE_REPLICA_ID_MAX];

    assert_int_equal(apply1(r, "1-0", 1, "c", wp1), 0);
    testdb_open(&o, "origin");
    testdb_sql(o.db, "PRAGMA user_version = 1");
    assert_int_equal(store_replica_load(r->store, o.path, "9-0", "e8", err, sizeof(err)), -EPROTO);
    assert_non_null(strstr(err, "schema"));
    assert_int_equal(store_replica_applied(r->store, id, sizeof(id)), 0);
    assert_string_equal(id, "1-0");
    assert_int_equal(store_replica_epoch(r->store, id, sizeof(id)), 0);
    assert_string_equal(id, "");
    assert_int_equal(testdb_sql_int(r->db, "SELECT COUNT(*) FROM waypoints"), 1);
    testdb_close(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_file_is_a_replica_without_triggers, rep_setup, rep_teardown),
        cmocka_unit_test_setup_teardown(test_the_origin_file_is_refused, rep_setup, rep_teardown),
        cmocka_unit_test_setup_teardown(test_change_entries_apply_with_origin_seq_and_rowid, rep_setup, rep_teardown),
        cmocka_unit_test_setup_teardown(test_aux_entries_insert_update_delete, rep_setup, rep_teardown),
        cmocka_unit_test_setup_teardown(test_bad_entries_are_refused_and_change_nothing, rep_setup, rep_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_replaces_the_state, rep_setup, rep_teardown),
        cmocka_unit_test_setup_teardown(test_a_snapshot_at_another_schema_is_refused, rep_setup, rep_teardown),
        cmocka_unit_test(test_a_snapshots_pruned_through_is_read),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

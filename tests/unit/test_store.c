/* SPDX-License-Identifier: MIT */
/* Unit tests for store.c against real SQLite: ":memory:" for the schema and
 * keys, a temporary file (plus a second raw connection) for fixture rows. */
#include "store.h"

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

#include "testdb.h"

static void sql(sqlite3 *db, const char *text)
{
    char *msg = NULL;

    if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK) {
        print_error("%s: %s\n", text, msg ? msg : "?");
        sqlite3_free(msg);
        fail();
    }
}

static struct store *open_memory(void)
{
    struct store *s = NULL;
    char err[256] = "";

    assert_int_equal(store_open(":memory:", STORE_OPEN_CREATE, &s, err, sizeof(err)), 0);
    assert_non_null(s);
    assert_int_equal(store_migrate(s), 0);
    return s;
}

static void hash_of(uint8_t hash[STORE_KEY_HASH_LEN], uint8_t seed)
{
    for (size_t i = 0; i < STORE_KEY_HASH_LEN; i++)
        hash[i] = (uint8_t)(seed * 31u + i);
}

static void test_migrate_sets_version_and_is_idempotent(void **state)
{
    uint8_t secret1[STORE_SECRET_LEN], secret2[STORE_SECRET_LEN];
    struct store *s = NULL;
    int version = -1;

    (void)state;
    assert_int_equal(store_open(":memory:", STORE_OPEN_CREATE, &s, NULL, 0), 0);
    assert_int_equal(store_schema_version(s, &version), 0);
    assert_int_equal(version, 0);
    assert_int_equal(store_migrate(s), 0);
    assert_int_equal(store_schema_version(s, &version), 0);
    assert_int_equal(version, STORE_SCHEMA_VERSION);
    assert_int_equal(store_secret_get(s, secret1), 0);
    assert_int_equal(store_dc_exists(s, "dc1"), 0);

    assert_int_equal(store_migrate(s), 0);
    assert_int_equal(store_migrate(s), 0);
    version = -1;
    assert_int_equal(store_schema_version(s, &version), 0);
    assert_int_equal(version, STORE_SCHEMA_VERSION);
    assert_int_equal(store_secret_get(s, secret2), 0);
    assert_memory_equal(secret1, secret2, STORE_SECRET_LEN);
    store_close(s);
}

/* The contract's tables may be made by other programs first: init keeps their rows. */
static void test_migrate_keeps_existing_tables(void **state)
{
    char path[64], err[256] = "";
    struct store *s = NULL;
    struct customer c;
    sqlite3 *db;
    int version = -1;

    (void)state;
    testdb_temp_path(path, sizeof(path), "store");
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sql(db, "CREATE TABLE dcs(id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '');"
            "CREATE TABLE customers(dc_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,"
            " imported_address TEXT, imported_latitude REAL, imported_longitude REAL,"
            " inferred_latitude REAL, inferred_longitude REAL, location_confident INTEGER NOT NULL DEFAULT 0,"
            " PRIMARY KEY (dc_id, id));"
            "INSERT INTO dcs(id) VALUES ('dc1');"
            "INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c1', 'Early');");
    sqlite3_close(db);

    /* Not initialised yet: the server refuses it. */
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &s, err, sizeof(err)), -EPROTO);
    assert_null(s);
    assert_int_equal(store_open(path, STORE_OPEN_CREATE, &s, err, sizeof(err)), 0);
    assert_int_equal(store_migrate(s), 0);
    store_close(s);

    s = NULL;
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &s, err, sizeof(err)), 0);
    assert_non_null(s);
    assert_int_equal(store_schema_version(s, &version), 0);
    assert_int_equal(version, STORE_SCHEMA_VERSION);
    assert_int_equal(store_dc_exists(s, "dc1"), 1);
    assert_int_equal(store_customer_get(s, "dc1", "c1", &c), 0);
    assert_string_equal(c.name, "Early");
    customer_clear(&c);
    store_close(s);
    testdb_remove(path);
}

static void test_open_missing_file(void **state)
{
    char path[64], err[256] = "";
    struct store *s = (struct store *)&err; /* must be reset to NULL */

    (void)state;
    testdb_temp_path(path, sizeof(path), "store");
    unlink(path);
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &s, err, sizeof(err)), -ENOENT);
    assert_null(s);
    assert_true(strlen(err) > 0);
    assert_non_null(strstr(err, path));
    /* It did not create the file either. */
    assert_int_equal(access(path, F_OK), -1);
    /* Without an err buffer it still answers. */
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &s, NULL, 0), -ENOENT);
    assert_int_equal(access(path, F_OK), -1);
}

static void test_open_uninitialised_file(void **state)
{
    char path[64], err[256] = "";
    struct store *s = (struct store *)&err;
    sqlite3 *db;

    (void)state;
    /* An empty file. */
    testdb_temp_path(path, sizeof(path), "store");
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &s, err, sizeof(err)), -EPROTO);
    assert_null(s);
    assert_true(strlen(err) > 0);
    testdb_remove(path);

    /* A SQLite database at user_version 0. */
    testdb_temp_path(path, sizeof(path), "store");
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sql(db, "CREATE TABLE t(x); PRAGMA user_version = 0;");
    sqlite3_close(db);
    err[0] = '\0';
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &s, err, sizeof(err)), -EPROTO);
    assert_null(s);
    assert_true(strlen(err) > 0);
    testdb_remove(path);
}

static void test_open_newer_schema(void **state)
{
    char path[64], err[256] = "", pragma[64];
    struct store *s = NULL;
    sqlite3 *db;

    (void)state;
    testdb_temp_path(path, sizeof(path), "store");
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d;", STORE_SCHEMA_VERSION + 1);
    sql(db, pragma);
    sqlite3_close(db);
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &s, err, sizeof(err)), -EPROTO);
    assert_null(s);
    assert_int_equal(store_open(path, STORE_OPEN_CREATE, &s, err, sizeof(err)), -EPROTO);
    assert_null(s);
    testdb_remove(path);
}

/* 1 when the database at path has an index of that name. */
static int has_index(const char *path, const char *name)
{
    sqlite3_stmt *st = NULL;
    sqlite3 *db;
    int found;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1", -1, &st,
                                        NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return found;
}

/* A database made by the previous release (version 2: no change_log_by_dc)
 * is refused by serve until init migrates it; init adds the index and keeps
 * the rows. */
static void test_issue_11_migrate_2_to_3(void **state)
{
    char path[64], err[256] = "";
    struct store *s = NULL;
    struct store_log_head h;
    sqlite3 *db;
    int version = -1;

    (void)state;
    testdb_temp_path(path, sizeof(path), "store");
    assert_int_equal(store_open(path, STORE_OPEN_CREATE, &s, err, sizeof(err)), 0);
    assert_int_equal(store_migrate(s), 0);
    store_close(s);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sql(db, "DROP INDEX change_log_by_dc; PRAGMA user_version = 2;"
            "INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc1', 'w1', 'c1');");
    sqlite3_close(db);
    assert_false(has_index(path, "change_log_by_dc"));

    s = NULL;
    assert_int_equal(store_open(path, STORE_OPEN_SERVICE, &s, err, sizeof(err)), -EPROTO);
    assert_null(s);
    assert_non_null(strstr(err, "waypointd init"));
    assert_int_equal(store_open(path, STORE_OPEN_CREATE, &s, err, sizeof(err)), 0);
    assert_int_equal(store_migrate(s), 0);
    assert_int_equal(store_schema_version(s, &version), 0);
    assert_int_equal(version, STORE_SCHEMA_VERSION); /* and on through 4 */
    assert_int_equal(store_log_head(s, &h), 0);
    assert_int_equal(h.head, 1);
    store_close(s);
    assert_true(has_index(path, "change_log_by_dc"));
    testdb_remove(path);
}

/* Service threads need WAL: a database another program switched back to a
 * rollback journal is refused with a reason; commands still open it. */
static void test_issue_11_service_open_needs_wal(void **state)
{
    char path[64], err[512] = "";
    struct store *s = NULL;
    sqlite3 *db;

    (void)state;
    testdb_temp_path(path, sizeof(path), "store");
    assert_int_equal(store_open(path, STORE_OPEN_CREATE, &s, err, sizeof(err)), 0);
    assert_int_equal(store_migrate(s), 0);
    store_close(s);
    s = NULL;
    assert_int_equal(store_open(path, STORE_OPEN_SERVICE, &s, err, sizeof(err)), 0);
    store_close(s);

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sql(db, "PRAGMA journal_mode = DELETE;");
    sqlite3_close(db);
    s = NULL;
    assert_int_equal(store_open(path, STORE_OPEN_SERVICE, &s, err, sizeof(err)), -EMEDIUMTYPE);
    assert_null(s);
    assert_non_null(strstr(err, "not in WAL mode (journal_mode=delete)"));
    assert_non_null(strstr(err, "waypointd init"));
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &s, err, sizeof(err)), 0);
    store_close(s);
    testdb_remove(path);
}

/* Text another program stored as any bytes comes out as UTF-8: each
 * ill-formed part is one U+FFFD, the rest kept (issue 11). */
static void test_issue_11_foreign_text_is_utf8(void **state)
{
    struct testdb *f = *state;
    struct waypoint w[STORE_MAX_WAYPOINTS];
    struct customer c;
    size_t n = 0;

    sql(f->db, "INSERT INTO customers(dc_id, id, name, imported_address) VALUES"
               " ('dc1', 'c1', CAST(X'41E28242' AS TEXT), CAST(X'EDA0807A' AS TEXT));"
               "INSERT INTO waypoints(dc_id, id, customer_id, route_id, status) VALUES"
               " ('dc1', CAST(X'77FF' AS TEXT), 'c1', CAST(X'52C328' AS TEXT), CAST(X'50454EC328' AS TEXT));");
    assert_int_equal(store_customer_get(f->store, "dc1", "c1", &c), 0);
    assert_string_equal(c.name, "A\xef\xbf\xbd" "B");
    assert_string_equal(c.imported_address, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz");
    customer_clear(&c);
    assert_int_equal(store_waypoints_recent(f->store, "dc1", "c1", w, STORE_MAX_WAYPOINTS, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(w[0].id, "w\xef\xbf\xbd");
    assert_string_equal(w[0].route_id, "R\xef\xbf\xbd(");
    assert_string_equal(w[0].status, "PEN\xef\xbf\xbd(");
    waypoints_clear(w, n);
}

static void test_open_existing_after_init(void **state)
{
    struct testdb *f = *state;
    struct store *s = NULL;
    char err[256] = "";

    assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &s, err, sizeof(err)), 0);
    assert_non_null(s);
    store_close(s);
    store_close(NULL); /* _close(NULL) does nothing */
}

static void test_dc_exists(void **state)
{
    struct testdb *f = *state;

    sql(f->db, "INSERT INTO dcs(id, name) VALUES ('dc1', 'One'), ('Z\xc3\xbcrich', '');");
    assert_int_equal(store_dc_exists(f->store, "dc1"), 1);
    assert_int_equal(store_dc_exists(f->store, "Z\xc3\xbcrich"), 1);
    assert_int_equal(store_dc_exists(f->store, "dc2"), 0);
    assert_int_equal(store_dc_exists(f->store, "DC1"), 0);
    assert_int_equal(store_dc_exists(f->store, "dc"), 0);
    assert_int_equal(store_dc_exists(f->store, ""), 0);
    sql(f->db, "DELETE FROM dcs WHERE id = 'dc1';");
    assert_int_equal(store_dc_exists(f->store, "dc1"), 0);
}

static void test_customer_get(void **state)
{
    struct testdb *f = *state;
    struct customer c;

    sql(f->db, "INSERT INTO customers VALUES ('dc1', 'c1', 'Acme', '1 Market St', 37.77493, -122.41942,"
               " 37.7749, -122.4194, 1);"
               "INSERT INTO customers(dc_id, id, name) VALUES ('dc2', 'c1', 'Other DC');");
    assert_int_equal(store_customer_get(f->store, "dc1", "c1", &c), 0);
    assert_string_equal(c.dc_id, "dc1");
    assert_string_equal(c.id, "c1");
    assert_string_equal(c.name, "Acme");
    assert_string_equal(c.imported_address, "1 Market St");
    assert_int_equal(c.imported.present, 1);
    assert_true(c.imported.latitude == 37.77493);
    assert_true(c.imported.longitude == -122.41942);
    assert_int_equal(c.inferred.present, 1);
    assert_true(c.inferred.latitude == 37.7749);
    assert_true(c.inferred.longitude == -122.4194);
    assert_int_equal(c.location_confident, 1);
    customer_clear(&c);
    assert_null(c.name);

    assert_int_equal(store_customer_get(f->store, "dc2", "c1", &c), 0);
    assert_string_equal(c.dc_id, "dc2");
    assert_string_equal(c.name, "Other DC");
    assert_null(c.imported_address);
    assert_int_equal(c.imported.present, 0);
    assert_int_equal(c.inferred.present, 0);
    assert_int_equal(c.location_confident, 0);
    customer_clear(&c);
}

/* A location is absent unless both of its columns are set. */
static void test_customer_get_partial_locations(void **state)
{
    static const struct {
        const char *id;
        int imported, inferred;
    } cases[] = {
        {"lat-only", 0, 1}, {"lon-only", 0, 1}, {"inf-lat-only", 1, 0}, {"inf-lon-only", 1, 0},
        {"none", 0, 0},     {"both", 1, 1},     {"zeros", 1, 1},
    };
    struct testdb *f = *state;

    sql(f->db, "INSERT INTO customers VALUES"
               " ('dc1', 'lat-only', 'n', NULL, 10.5, NULL, 1, 2, 1),"
               " ('dc1', 'lon-only', 'n', NULL, NULL, 20.5, 1, 2, 0),"
               " ('dc1', 'inf-lat-only', 'n', NULL, 1, 2, 30.5, NULL, 1),"
               " ('dc1', 'inf-lon-only', 'n', NULL, 1, 2, NULL, 40.5, 1),"
               " ('dc1', 'none', 'n', NULL, NULL, NULL, NULL, NULL, 1),"
               " ('dc1', 'both', 'n', NULL, 1, 2, 3, 4, 0),"
               " ('dc1', 'zeros', 'n', NULL, 0, 0, 0.0, 0.0, 0);");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct customer c;

        assert_int_equal(store_customer_get(f->store, "dc1", cases[i].id, &c), 0);
        if (c.imported.present != cases[i].imported || c.inferred.present != cases[i].inferred)
            fail_msg("%s: imported %d inferred %d, want %d %d", cases[i].id, c.imported.present, c.inferred.present,
                     cases[i].imported, cases[i].inferred);
        customer_clear(&c);
    }
    {
        struct customer c;

        assert_int_equal(store_customer_get(f->store, "dc1", "both", &c), 0);
        assert_true(c.imported.latitude == 1 && c.imported.longitude == 2);
        assert_true(c.inferred.latitude == 3 && c.inferred.longitude == 4);
        customer_clear(&c);
    }
}

static void test_customer_get_unknown(void **state)
{
    struct testdb *f = *state;
    struct customer c;

    sql(f->db, "INSERT INTO customers(dc_id, id, name) VALUES ('dc1', 'c1', 'Acme');");
    assert_int_equal(store_customer_get(f->store, "dc1", "c2", &c), -ENOENT);
    assert_null(c.name);
    assert_null(c.id);
    customer_clear(&c);
    assert_int_equal(store_customer_get(f->store, "dc2", "c1", &c), -ENOENT);
    assert_int_equal(store_customer_get(f->store, "dc1", "C1", &c), -ENOENT);
    assert_int_equal(store_customer_get(f->store, "dc1", "c1", &c), 0);
    customer_clear(&c);
}

/* 12 waypoints for dc1/c1, inserted with ids out of alphabetical order,
 * and some for other customers and DCs in between. */
static void insert_waypoints(sqlite3 *db)
{
    static const char *const ids[12] = {"w05", "w11", "w01", "w09", "w03", "w12", "w02", "w08", "w10", "w04", "w07", "w06"};
    char stmt[512];

    for (int i = 0; i < 12; i++) {
        snprintf(stmt, sizeof(stmt),
                 "INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, completed_timestamp,"
                 " estimated_time_of_arrival, waypoints_ahead, waiting_time_seconds)"
                 " VALUES ('dc1', '%s', 'c1', 'r%d', 'PENDING', NULL, %lld, %d, %d);"
                 "INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc1', 'x%s', 'c2');"
                 "INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc2', '%s', 'c1');",
                 ids[i], i, 1700000000000LL + i, i, 60 * i, ids[i], ids[i]);
        sql(db, stmt);
    }
}

static void test_waypoints_recent_order_and_limit(void **state)
{
    static const char *const newest_first[10] = {"w06", "w07", "w04", "w10", "w08", "w02", "w12", "w03", "w09", "w01"};
    struct testdb *f = *state;
    struct waypoint w[STORE_MAX_WAYPOINTS + 2];
    size_t n = 99;

    insert_waypoints(f->db);
    assert_int_equal(store_waypoints_recent(f->store, "dc1", "c1", w, STORE_MAX_WAYPOINTS, &n), 0);
    assert_int_equal(n, STORE_MAX_WAYPOINTS);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(w[i].id, newest_first[i]))
            fail_msg("row %zu is %s, want %s", i, w[i].id, newest_first[i]);
        assert_string_equal(w[i].dc_id, "dc1");
        assert_string_equal(w[i].customer_id, "c1");
    }
    /* The newest row's values, with its NULL completed_timestamp. */
    assert_string_equal(w[0].route_id, "r11");
    assert_string_equal(w[0].status, "PENDING");
    assert_int_equal(w[0].nulls, WAYPOINT_NULL_COMPLETED);
    assert_true(w[0].estimated_time_of_arrival == 1700000000011LL);
    assert_true(w[0].waypoints_ahead == 11);
    assert_true(w[0].waiting_time_seconds == 660);
    waypoints_clear(w, n);

    /* More room than rows: all 12, never more. */
    assert_int_equal(store_waypoints_recent(f->store, "dc1", "c1", w, STORE_MAX_WAYPOINTS + 2, &n), 0);
    assert_int_equal(n, 12);
    assert_string_equal(w[0].id, "w06");
    assert_string_equal(w[11].id, "w05");
    waypoints_clear(w, n);

    /* A smaller max. */
    assert_int_equal(store_waypoints_recent(f->store, "dc1", "c1", w, 3, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(w[0].id, "w06");
    assert_string_equal(w[2].id, "w04");
    waypoints_clear(w, n);

    assert_int_equal(store_waypoints_recent(f->store, "dc1", "c1", w, 0, &n), 0);
    assert_int_equal(n, 0);
}

/* Updates do not reorder; deleting the newest promotes the next one. */
static void test_waypoints_recent_update_and_delete(void **state)
{
    struct testdb *f = *state;
    struct waypoint w[STORE_MAX_WAYPOINTS];
    size_t n = 0;

    insert_waypoints(f->db);
    sql(f->db, "UPDATE waypoints SET status = 'COMPLETED', completed_timestamp = 1700000009999, route_id = NULL,"
               " waypoints_ahead = NULL, waiting_time_seconds = NULL, estimated_time_of_arrival = NULL"
               " WHERE dc_id = 'dc1' AND id = 'w01';"
               "DELETE FROM waypoints WHERE dc_id = 'dc1' AND id = 'w06';");
    assert_int_equal(store_waypoints_recent(f->store, "dc1", "c1", w, STORE_MAX_WAYPOINTS, &n), 0);
    assert_int_equal(n, 10);
    assert_string_equal(w[0].id, "w07");
    assert_string_equal(w[8].id, "w01");
    assert_string_equal(w[8].status, "COMPLETED");
    assert_true(w[8].completed_timestamp == 1700000009999LL);
    assert_null(w[8].route_id);
    assert_int_equal(w[8].nulls, WAYPOINT_NULL_ETA | WAYPOINT_NULL_AHEAD | WAYPOINT_NULL_WAITING);
    assert_string_equal(w[9].id, "w11"); /* pulled into the newest 10 */
    waypoints_clear(w, n);
}

static void test_waypoints_recent_unknown_customer(void **state)
{
    struct testdb *f = *state;
    struct waypoint w[STORE_MAX_WAYPOINTS];
    size_t n = 99;

    insert_waypoints(f->db);
    assert_int_equal(store_waypoints_recent(f->store, "dc1", "nobody", w, STORE_MAX_WAYPOINTS, &n), 0);
    assert_int_equal(n, 0);
    n = 99;
    assert_int_equal(store_waypoints_recent(f->store, "dc9", "c1", w, STORE_MAX_WAYPOINTS, &n), 0);
    assert_int_equal(n, 0);
    /* The other customer and DC see only their own rows. */
    assert_int_equal(store_waypoints_recent(f->store, "dc1", "c2", w, STORE_MAX_WAYPOINTS, &n), 0);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(w[i].id[0], 'x');
        assert_string_equal(w[i].customer_id, "c2");
        assert_null(w[i].route_id);
        assert_string_equal(w[i].status, "PENDING"); /* the column default */
        assert_int_equal(w[i].nulls, WAYPOINT_NULL_COMPLETED | WAYPOINT_NULL_ETA | WAYPOINT_NULL_AHEAD | WAYPOINT_NULL_WAITING);
    }
    waypoints_clear(w, n);
    assert_int_equal(store_waypoints_recent(f->store, "dc2", "c1", w, STORE_MAX_WAYPOINTS, &n), 0);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(w[i].dc_id, "dc2");
    waypoints_clear(w, n);
}

static void test_key_insert_lookup_has_dc(void **state)
{
    static const char *const dcs[] = {"dc1", "dc2", "dc1"};
    uint8_t h1[STORE_KEY_HASH_LEN], h2[STORE_KEY_HASH_LEN], h3[STORE_KEY_HASH_LEN];
    struct store_key k1, k2;
    struct store *s = open_memory();

    (void)state;
    hash_of(h1, 1);
    hash_of(h2, 2);
    hash_of(h3, 3);
    assert_int_equal(store_key_insert(s, "ops", h1, 0, dcs, 3), 0);
    assert_int_equal(store_key_insert(s, "all", h2, 1, NULL, 0), 0);

    memset(&k1, 0x5a, sizeof(k1));
    assert_int_equal(store_key_lookup(s, h1, &k1), 0);
    assert_true(k1.id > 0);
    assert_int_equal(k1.all_dcs, 0);
    assert_int_equal(k1.revoked, 0);
    assert_int_equal(store_key_lookup(s, h2, &k2), 0);
    assert_true(k2.id != k1.id);
    assert_int_equal(k2.all_dcs, 1);
    assert_int_equal(k2.revoked, 0);

    assert_int_equal(store_key_has_dc(s, k1.id, "dc1"), 1);
    assert_int_equal(store_key_has_dc(s, k1.id, "dc2"), 1);
    assert_int_equal(store_key_has_dc(s, k1.id, "dc3"), 0);
    assert_int_equal(store_key_has_dc(s, k1.id, "DC1"), 0);
    assert_int_equal(store_key_has_dc(s, k2.id, "dc1"), 0); /* all_dcs is a flag, not rows */
    assert_int_equal(store_key_has_dc(s, k1.id + k2.id + 100, "dc1"), 0);

    assert_int_equal(store_key_lookup(s, h3, &k1), -ENOENT);
    store_close(s);
}

static void test_key_duplicate_name(void **state)
{
    static const char *const dc1[] = {"dc1"};
    static const char *const dc9[] = {"dc9"};
    uint8_t h1[STORE_KEY_HASH_LEN], h2[STORE_KEY_HASH_LEN], h3[STORE_KEY_HASH_LEN];
    struct store_key k;
    struct store *s = open_memory();

    (void)state;
    hash_of(h1, 1);
    hash_of(h2, 2);
    hash_of(h3, 3);
    assert_int_equal(store_key_insert(s, "ops", h1, 0, dc1, 1), 0);
    assert_int_equal(store_key_insert(s, "ops", h2, 1, dc9, 1), -EEXIST);
    /* Nothing of the refused key was kept, and the first is unchanged. */
    assert_int_equal(store_key_lookup(s, h2, &k), -ENOENT);
    assert_int_equal(store_key_lookup(s, h1, &k), 0);
    assert_int_equal(k.all_dcs, 0);
    assert_int_equal(store_key_has_dc(s, k.id, "dc9"), 0);
    /* The transaction was closed: later writes work. */
    assert_int_equal(store_key_insert(s, "ops2", h3, 0, dc9, 1), 0);
    assert_int_equal(store_key_lookup(s, h3, &k), 0);
    assert_int_equal(store_key_has_dc(s, k.id, "dc9"), 1);
    /* The same hash under a new name is refused too. */
    assert_true(store_key_insert(s, "ops3", h1, 0, NULL, 0) < 0);
    store_close(s);
}

static void test_key_revoke(void **state)
{
    uint8_t h1[STORE_KEY_HASH_LEN], h2[STORE_KEY_HASH_LEN];
    struct store_key k;
    struct store *s = open_memory();

    (void)state;
    hash_of(h1, 1);
    hash_of(h2, 2);
    assert_int_equal(store_key_insert(s, "a", h1, 1, NULL, 0), 0);
    assert_int_equal(store_key_insert(s, "b", h2, 1, NULL, 0), 0);
    assert_int_equal(store_key_revoke(s, "nobody"), -ENOENT);
    assert_int_equal(store_key_revoke(s, "A"), -ENOENT);
    assert_int_equal(store_key_revoke(s, "a"), 0);
    assert_int_equal(store_key_lookup(s, h1, &k), 0);
    assert_int_equal(k.revoked, 1);
    assert_int_equal(k.all_dcs, 1);
    /* The other key is untouched. */
    assert_int_equal(store_key_lookup(s, h2, &k), 0);
    assert_int_equal(k.revoked, 0);
    /* Revoking twice says so, and it stays revoked. */
    assert_int_equal(store_key_revoke(s, "a"), -EALREADY);
    assert_int_equal(store_key_lookup(s, h1, &k), 0);
    assert_int_equal(k.revoked, 1);
    store_close(s);
}

/* Issue 12: a revoked key's name can be used again; the old row stays. */
static void test_key_name_reuse_after_revoke(void **state)
{
    static const char *const dc1[] = {"dc1"};
    uint8_t h1[STORE_KEY_HASH_LEN], h2[STORE_KEY_HASH_LEN], h3[STORE_KEY_HASH_LEN];
    struct store_key k;
    struct store *s = open_memory();

    (void)state;
    hash_of(h1, 1);
    hash_of(h2, 2);
    hash_of(h3, 3);
    assert_int_equal(store_key_insert(s, "a", h1, 1, NULL, 0), 0);
    assert_int_equal(store_key_insert(s, "a", h2, 0, dc1, 1), -EEXIST);
    assert_int_equal(store_key_revoke(s, "a"), 0);
    assert_int_equal(store_key_insert(s, "a", h2, 0, dc1, 1), 0);
    /* The old key stays revoked, the new one is live and holds the name. */
    assert_int_equal(store_key_lookup(s, h1, &k), 0);
    assert_int_equal(k.revoked, 1);
    assert_int_equal(store_key_lookup(s, h2, &k), 0);
    assert_int_equal(k.revoked, 0);
    assert_int_equal(store_key_has_dc(s, k.id, "dc1"), 1);
    assert_int_equal(store_key_insert(s, "a", h3, 1, NULL, 0), -EEXIST);
    /* Revoking the name revokes the live one. */
    assert_int_equal(store_key_revoke(s, "a"), 0);
    assert_int_equal(store_key_lookup(s, h2, &k), 0);
    assert_int_equal(k.revoked, 1);
    assert_int_equal(store_key_revoke(s, "a"), -EALREADY);
    store_close(s);
}

struct listed {
    char names[8][16], dcs[8][32];
    int all[8], revoked[8];
    int64_t created[8];
    int n;
};

static int list_cb(const struct store_key_info *k, void *arg)
{
    struct listed *l = arg;
    size_t o = 0;

    assert_true(l->n < 8);
    snprintf(l->names[l->n], sizeof(l->names[0]), "%s", k->name);
    l->dcs[l->n][0] = '\0';
    for (size_t i = 0; i < k->ndcs; i++)
        o += (size_t)snprintf(l->dcs[l->n] + o, sizeof(l->dcs[0]) - o, "%s%s", i ? "," : "", k->dcs[i]);
    l->all[l->n] = k->all_dcs;
    l->revoked[l->n] = k->revoked_ms > 0;
    l->created[l->n] = k->created_ms;
    l->n++;
    return 0;
}

static void test_key_list(void **state)
{
    static const char *const dcs[] = {"dc2", "dc1"};
    uint8_t h1[STORE_KEY_HASH_LEN], h2[STORE_KEY_HASH_LEN], h3[STORE_KEY_HASH_LEN];
    struct listed l;
    struct store *s = open_memory();

    (void)state;
    memset(&l, 0, sizeof(l));
    assert_int_equal(store_key_list(s, list_cb, &l), 0);
    assert_int_equal(l.n, 0);
    hash_of(h1, 1);
    hash_of(h2, 2);
    hash_of(h3, 3);
    assert_int_equal(store_key_insert(s, "ops", h1, 1, NULL, 0), 0);
    assert_int_equal(store_key_insert(s, "two", h2, 0, dcs, 2), 0);
    assert_int_equal(store_key_revoke(s, "ops"), 0);
    assert_int_equal(store_key_insert(s, "ops", h3, 0, dcs, 1), 0);
    assert_int_equal(store_key_list(s, list_cb, &l), 0);
    assert_int_equal(l.n, 3);
    /* Oldest first; DCs sorted. */
    assert_string_equal(l.names[0], "ops");
    assert_int_equal(l.all[0], 1);
    assert_int_equal(l.revoked[0], 1);
    assert_string_equal(l.dcs[0], "");
    assert_string_equal(l.names[1], "two");
    assert_string_equal(l.dcs[1], "dc1,dc2");
    assert_int_equal(l.revoked[1], 0);
    assert_string_equal(l.names[2], "ops");
    assert_string_equal(l.dcs[2], "dc2");
    assert_int_equal(l.revoked[2], 0);
    assert_true(l.created[0] > 1600000000000LL);
    store_close(s);
}

/* Issue 12: one token, or every token of one customer issued until now. */
static void test_token_revocation(void **state)
{
    uint8_t h1[STORE_KEY_HASH_LEN], h2[STORE_KEY_HASH_LEN];
    int64_t cutoff = 0;
    struct store *s = open_memory();

    (void)state;
    hash_of(h1, 1);
    hash_of(h2, 2);
    assert_int_equal(store_token_revoked(s, h1, "dc1", "c1", 1000), 0);
    assert_int_equal(store_token_revoke(s, h1, "dc1", "c1", INT64_MAX / 2), 0);
    assert_int_equal(store_token_revoked(s, h1, "dc1", "c1", 1000), 1);
    assert_int_equal(store_token_revoked(s, h2, "dc1", "c1", 1000), 0);
    assert_int_equal(store_token_revoke(s, h1, "dc1", "c1", INT64_MAX / 2), -EALREADY);
    /* A row whose token has expired is dropped at the next revocation. */
    assert_int_equal(store_token_revoke(s, h2, "dc1", "c2", 1), 0);
    assert_int_equal(store_token_revoke(s, h1, "dc1", "c1", INT64_MAX / 2), -EALREADY);
    assert_int_equal(store_token_revoked(s, h2, "dc1", "c2", 0), 0);
    /* The customer: tokens issued at or before the cutoff are refused. */
    assert_int_equal(store_token_revoke_customer(s, "dc1", "c3", &cutoff), 0);
    assert_true(cutoff > 1600000000000LL);
    assert_int_equal(store_token_revoked(s, h2, "dc1", "c3", cutoff), 1);
    assert_int_equal(store_token_revoked(s, h2, "dc1", "c3", 0), 1);
    assert_int_equal(store_token_revoked(s, h2, "dc1", "c3", cutoff + 1), 0);
    assert_int_equal(store_token_revoked(s, h2, "dc2", "c3", 0), 0);
    assert_int_equal(store_token_revoked(s, h2, "dc1", "c4", 0), 0);
    store_close(s);
}

/* Migration 3 -> 4 keeps every key and lets a revoked name be reused. */
static void test_issue_12_migrate_3_to_4(void **state)
{
    struct testdb *f = *state;
    uint8_t h[STORE_KEY_HASH_LEN];
    struct store *s = NULL;
    struct store_key k;
    int version = 0;

    (void)state;
    store_close(f->store);
    f->store = NULL;
    /* Back to the version 3 key table, with a revoked and a live key. */
    sql(f->db, "DROP TABLE api_keys; DROP TABLE IF EXISTS revoked_tokens; DROP TABLE IF EXISTS token_cutoffs;"
               "CREATE TABLE api_keys(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
               " hash BLOB NOT NULL UNIQUE, all_dcs INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL,"
               " revoked_ms INTEGER);"
               "INSERT INTO api_keys VALUES (7, 'old', x'01', 1, 5, 6), (8, 'live', x'02', 0, 5, NULL);"
               "PRAGMA user_version = 3;");
    assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &s, NULL, 0), 0);
    assert_int_equal(store_migrate(s), 0);
    assert_int_equal(store_schema_version(s, &version), 0);
    assert_int_equal(version, STORE_SCHEMA_VERSION); /* 4, and on through later steps */
    hash_of(h, 9);
    assert_int_equal(store_key_insert(s, "live", h, 1, NULL, 0), -EEXIST);
    assert_int_equal(store_key_insert(s, "old", h, 1, NULL, 0), 0);
    assert_int_equal(store_key_lookup(s, h, &k), 0);
    assert_true(k.id > 8);
    assert_int_equal(store_token_revoked(s, h, "d", "c", 0), 0);
    store_close(s);
}

/* Revocation is seen by another connection to the same database. */
static void test_key_revoke_visible_to_other_connection(void **state)
{
    struct testdb *f = *state;
    uint8_t h[STORE_KEY_HASH_LEN];
    struct store *other = NULL;
    struct store_key k;

    hash_of(h, 7);
    assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &other, NULL, 0), 0);
    assert_int_equal(store_key_insert(f->store, "k", h, 1, NULL, 0), 0);
    assert_int_equal(store_key_lookup(other, h, &k), 0);
    assert_int_equal(k.revoked, 0);
    assert_int_equal(store_key_revoke(f->store, "k"), 0);
    assert_int_equal(store_key_lookup(other, h, &k), 0);
    assert_int_equal(k.revoked, 1);
    store_close(other);
}

static void test_secret(void **state)
{
    struct testdb *f = *state;
    uint8_t a[STORE_SECRET_LEN], b[STORE_SECRET_LEN], c[STORE_SECRET_LEN], zero[STORE_SECRET_LEN];
    struct store *again = NULL, *mem;
    sqlite3_stmt *st;

    memset(zero, 0, sizeof(zero));
    assert_int_equal(store_secret_get(f->store, a), 0);
    assert_memory_not_equal(a, zero, STORE_SECRET_LEN);
    assert_int_equal(store_secret_get(f->store, b), 0);
    assert_memory_equal(a, b, STORE_SECRET_LEN);
    /* The stored value is exactly 32 bytes. */
    assert_int_equal(sqlite3_prepare_v2(f->db, "SELECT length(value) FROM secrets", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), STORE_SECRET_LEN);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    /* Stable across a reopen and a second init. */
    assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &again, NULL, 0), 0);
    assert_int_equal(store_migrate(again), 0);
    assert_int_equal(store_secret_get(again, b), 0);
    assert_memory_equal(a, b, STORE_SECRET_LEN);
    store_close(again);
    /* Another database has its own secret. */
    mem = open_memory();
    assert_int_equal(store_secret_get(mem, c), 0);
    assert_memory_not_equal(a, c, STORE_SECRET_LEN);
    store_close(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_sets_version_and_is_idempotent),
        cmocka_unit_test(test_migrate_keeps_existing_tables),
        cmocka_unit_test(test_open_missing_file),
        cmocka_unit_test(test_open_uninitialised_file),
        cmocka_unit_test(test_open_newer_schema),
        cmocka_unit_test(test_issue_11_migrate_2_to_3),
        cmocka_unit_test(test_issue_11_service_open_needs_wal),
        cmocka_unit_test_setup_teardown(test_issue_11_foreign_text_is_utf8, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_open_existing_after_init, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_dc_exists, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_customer_get, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_customer_get_partial_locations, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_customer_get_unknown, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_waypoints_recent_order_and_limit, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_waypoints_recent_update_and_delete, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_waypoints_recent_unknown_customer, testdb_setup, testdb_teardown),
        cmocka_unit_test(test_key_insert_lookup_has_dc),
        cmocka_unit_test(test_key_duplicate_name),
        cmocka_unit_test(test_key_revoke),
        cmocka_unit_test(test_key_name_reuse_after_revoke),
        cmocka_unit_test(test_key_list),
        cmocka_unit_test(test_token_revocation),
        cmocka_unit_test_setup_teardown(test_issue_12_migrate_3_to_4, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_key_revoke_visible_to_other_connection, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_secret, testdb_setup, testdb_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

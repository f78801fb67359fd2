/* SPDX-License-Identifier: MIT */
/* Shared by the unit tests that need a real database file: a migrated
 * temporary database, the store under test on it, and a second raw
 * connection that writes rows the way other programs do. */
#ifndef WAYPOINTD_TESTDB_H
#define WAYPOINTD_TESTDB_H

#include <stddef.h>

#include <sqlite3.h>

struct store;

struct testdb {
    char path[64];
    struct store *store;
    sqlite3 *db;
};

/* An empty file under /tmp with a unique name (tag tells whose). */
void testdb_temp_path(char *path, size_t cap, const char *tag);
/* Remove a database file and its -wal, -shm and -journal companions. */
void testdb_remove(const char *path);
/* Make, migrate and open t (fails the test on any error). */
void testdb_open(struct testdb *t, const char *tag);
void testdb_close(struct testdb *t);

/* cmocka setup/teardown that keep a malloc'd struct testdb in *state. */
int testdb_setup(void **state);
int testdb_teardown(void **state);

/* Run SQL on a raw connection; a failure fails the test, saying why. */
void testdb_sql(sqlite3 *db, const char *text);
/* The first column of the first row of query (which must have one). */
long long testdb_sql_int(sqlite3 *db, const char *query);
/* The text of the first column of the first row, malloc'd (the caller frees). */
char *testdb_sql_text(sqlite3 *db, const char *query);

/* An enabled webhook endpoint for dc1 (thresholds: ETA 5 min, stops 3,1,
 * minutes approach_minutes), created and enabled at created_ms. */
void testdb_webhook_add(struct testdb *t, const char *id, const char *events, const char *approach_minutes,
                        long long created_ms);

#endif

/* SPDX-License-Identifier: MIT */
/* Unit tests for the change log (store_log.c and the triggers from store.c)
 * on a real migrated database file, written through a second connection. */
#include "store.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "testdb.h"
/* The store's connection, for a commit hook that counts its transactions. */
#include "../../src/store_int.h"

static void sql(struct testdb *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Run SQL on the writer connection; it must succeed. */
static void sql(struct testdb *f, const char *fmt, ...)
{
    char q[1024];
    char *msg = NULL;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(q, sizeof(q), fmt, ap);
    va_end(ap);
    rc = sqlite3_exec(f->db, q, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", q, msg ? msg : sqlite3_errmsg(f->db));
    sqlite3_free(msg);
}

static int64_t sql_int(struct testdb *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The first column of the first row of a query on the writer connection. */
static int64_t sql_int(struct testdb *f, const char *fmt, ...)
{
    char q[1024];
    sqlite3_stmt *st = NULL;
    int64_t v;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(q, sizeof(q), fmt, ap);
    va_end(ap);
    assert_int_equal(sqlite3_prepare_v2(f->db, q, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Insert a PENDING waypoint with a route and no timestamps. */
static void add(struct testdb *f, const char *dc, const char *customer, const char *id)
{
    sql(f, "INSERT INTO waypoints(dc_id, id, customer_id, route_id, status) VALUES ('%s', '%s', '%s', 'r1', 'PENDING')",
        dc, id, customer);
}

static int64_t head(struct testdb *f)
{
    struct store_log_head h;

    assert_int_equal(store_log_head(f->store, &h), 0);
    return h.head;
}

static int64_t pruned_through(struct testdb *f)
{
    struct store_log_head h;

    assert_int_equal(store_log_head(f->store, &h), 0);
    return h.pruned_through;
}

/* Check one log row written by the triggers. */
static void expect_log_row(struct testdb *f, int64_t seq, const char *kind, const char *dc, const char *customer,
                           const char *waypoint)
{
    sqlite3_stmt *st = NULL;

    assert_int_equal(sqlite3_prepare_v2(f->db, "SELECT kind, dc_id, customer_id, waypoint_id FROM change_log WHERE seq = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, seq);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), kind);
    assert_string_equal((const char *)sqlite3_column_text(st, 1), dc);
    assert_string_equal((const char *)sqlite3_column_text(st, 2), customer);
    assert_string_equal((const char *)sqlite3_column_text(st, 3), waypoint);
    sqlite3_finalize(st);
}

static void expect_change(const struct store_change *c, int64_t seq, enum store_change_kind kind, const char *dc,
                          const char *customer, const char *waypoint)
{
    assert_int_equal(c->seq, seq);
    assert_int_equal(c->kind, kind);
    assert_string_equal(c->w.dc_id, dc);
    assert_string_equal(c->w.customer_id, customer);
    assert_string_equal(c->w.id, waypoint);
    assert_true(c->changed_ms > 0);
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- triggers ---- */

static void test_empty_log(void **state)
{
    struct testdb *f = *state;
    struct store_change *c = NULL;
    size_t n = 99;
    int64_t next = -5;

    assert_int_equal(head(f), 0);
    assert_int_equal(pruned_through(f), 0);
    assert_int_equal(store_changes_read(f->store, 0, 100, &c, &n, &next), 0);
    assert_int_equal(n, 0);
    assert_int_equal(next, 0);
    store_changes_free(c, n);
}

static void test_triggers_log_insert_update_delete(void **state)
{
    struct testdb *f = *state;
    int64_t before = wall_ms(), after, ms;

    add(f, "dc1", "c1", "w1");
    after = wall_ms();
    assert_int_equal(head(f), 1);
    expect_log_row(f, 1, "insert", "dc1", "c1", "w1");
    /* epoch milliseconds (a minute of slack for clock steps, none needed) */
    ms = sql_int(f, "SELECT changed_ms FROM change_log WHERE seq = 1");
    assert_true(ms >= before - 60000 && ms <= after + 60000);

    sql(f, "UPDATE waypoints SET status = 'COMPLETED', completed_timestamp = 5 WHERE dc_id = 'dc1' AND id = 'w1'");
    assert_int_equal(head(f), 2); /* one row per changed waypoint, not per column */
    expect_log_row(f, 2, "update", "dc1", "c1", "w1");

    sql(f, "DELETE FROM waypoints WHERE dc_id = 'dc1' AND id = 'w1'");
    assert_int_equal(head(f), 3);
    expect_log_row(f, 3, "delete", "dc1", "c1", "w1");
    assert_int_equal(sql_int(f, "SELECT count(*) FROM change_log"), 3);
    assert_true(sql_int(f, "SELECT max(changed_ms) - min(changed_ms) FROM change_log") >= 0);
}

/* An update that changes nothing the API shows logs nothing; a change to any
 * one shown column, including to or from NULL, logs one row. */
static void test_update_changing_nothing_logs_nothing(void **state)
{
    struct testdb *f = *state;
    static const char *const sets[] = {
        "route_id = 'r2'",          "route_id = NULL",        "status = 'EN_ROUTE'",
        "completed_timestamp = 7",  "completed_timestamp = NULL", "estimated_time_of_arrival = 8",
        "waypoints_ahead = 0",      "waiting_time_seconds = 30",  "estimated_time_of_arrival = NULL",
    };

    add(f, "dc1", "c1", "w1");
    sql(f, "UPDATE waypoints SET status = status, route_id = route_id, completed_timestamp = NULL,"
           " estimated_time_of_arrival = NULL, waypoints_ahead = NULL, waiting_time_seconds = NULL");
    sql(f, "UPDATE waypoints SET status = 'PENDING', route_id = 'r1' WHERE id = 'w1'");
    sql(f, "UPDATE waypoints SET customer_id = 'c1', dc_id = 'dc1', id = 'w1'");
    assert_int_equal(head(f), 1);
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
        sql(f, "UPDATE waypoints SET %s WHERE id = 'w1'", sets[i]);
        assert_int_equal(head(f), (int64_t)i + 2);
        expect_log_row(f, (int64_t)i + 2, "update", "dc1", "c1", "w1");
        sql(f, "UPDATE waypoints SET %s WHERE id = 'w1'", sets[i]); /* again: no change */
        assert_int_equal(head(f), (int64_t)i + 2);
    }
}

/* Moving a waypoint to another customer (or DC) logs a delete where it was,
 * then an update where it is; reading them gives a removal and an upsert. */
static void test_move_logs_delete_then_update(void **state)
{
    struct testdb *f = *state;
    struct store_change *c = NULL;
    size_t n = 0;
    int64_t next = 0;

    add(f, "dc1", "c1", "w1");
    sql(f, "UPDATE waypoints SET customer_id = 'c2', waypoints_ahead = 3 WHERE id = 'w1'");
    assert_int_equal(head(f), 3);
    expect_log_row(f, 2, "delete", "dc1", "c1", "w1");
    expect_log_row(f, 3, "update", "dc1", "c2", "w1");

    /* The insert for c1 is stale now (the row is c2's): only what happened. */
    assert_int_equal(store_changes_read(f->store, 0, 100, &c, &n, &next), 0);
    assert_int_equal(next, 3);
    assert_int_equal(n, 2);
    expect_change(&c[0], 2, STORE_CHANGE_DELETE, "dc1", "c1", "w1");
    assert_null(c[0].w.status);
    expect_change(&c[1], 3, STORE_CHANGE_UPSERT, "dc1", "c2", "w1");
    assert_string_equal(c[1].w.status, "PENDING");
    assert_string_equal(c[1].w.route_id, "r1");
    assert_int_equal(c[1].w.waypoints_ahead, 3);
    assert_false(c[1].w.nulls & WAYPOINT_NULL_AHEAD);
    store_changes_free(c, n);

    sql(f, "UPDATE waypoints SET dc_id = 'dc2' WHERE id = 'w1'");
    assert_int_equal(head(f), 5);
    expect_log_row(f, 4, "delete", "dc1", "c2", "w1");
    expect_log_row(f, 5, "update", "dc2", "c2", "w1");
    assert_int_equal(store_changes_read(f->store, 3, 100, &c, &n, &next), 0);
    assert_int_equal(n, 2);
    expect_change(&c[0], 4, STORE_CHANGE_DELETE, "dc1", "c2", "w1");
    expect_change(&c[1], 5, STORE_CHANGE_UPSERT, "dc2", "c2", "w1");
    store_changes_free(c, n);

    /* a new id is a move too: the old id is removed */
    sql(f, "UPDATE waypoints SET id = 'w1b' WHERE id = 'w1'");
    assert_int_equal(head(f), 7);
    expect_log_row(f, 6, "delete", "dc2", "c2", "w1");
    expect_log_row(f, 7, "update", "dc2", "c2", "w1b");
    assert_int_equal(store_changes_read(f->store, 0, 100, &c, &n, &next), 0);
    assert_int_equal(next, 7);
    assert_int_equal(n, 4); /* every upsert of w1 is stale now */
    expect_change(&c[0], 2, STORE_CHANGE_DELETE, "dc1", "c1", "w1");
    expect_change(&c[1], 4, STORE_CHANGE_DELETE, "dc1", "c2", "w1");
    expect_change(&c[2], 6, STORE_CHANGE_DELETE, "dc2", "c2", "w1");
    expect_change(&c[3], 7, STORE_CHANGE_UPSERT, "dc2", "c2", "w1b");
    store_changes_free(c, n);
}

/* ---- store_changes_read ---- */

/* Seven log rows over two DCs (see the comments), used by the next tests. */
static void seven_rows(struct testdb *f)
{
    add(f, "d1", "c1", "w1");                                                           /* 1 */
    add(f, "d1", "c1", "w2");                                                           /* 2 */
    sql(f, "UPDATE waypoints SET estimated_time_of_arrival = 10 WHERE dc_id = 'd1' AND id = 'w1'"); /* 3 */
    add(f, "d2", "c1", "w1");                                                           /* 4 */
    sql(f, "UPDATE waypoints SET estimated_time_of_arrival = 20 WHERE dc_id = 'd1' AND id = 'w1'"); /* 5 */
    add(f, "d1", "c1", "w3");                                                           /* 6 */
    sql(f, "DELETE FROM waypoints WHERE dc_id = 'd1' AND id = 'w2'");                   /* 7 */
    assert_int_equal(head(f), 7);
}

static void test_changes_read_coalesces(void **state)
{
    struct testdb *f = *state;
    struct store_change *c = NULL;
    size_t n = 0;
    int64_t next = 0;

    seven_rows(f);
    assert_int_equal(store_changes_read(f->store, 0, 100, &c, &n, &next), 0);
    assert_int_equal(next, 7);
    assert_int_equal(n, 4);
    /* newest per (DC, customer, waypoint), in seq order */
    expect_change(&c[0], 4, STORE_CHANGE_UPSERT, "d2", "c1", "w1");
    expect_change(&c[1], 5, STORE_CHANGE_UPSERT, "d1", "c1", "w1");
    expect_change(&c[2], 6, STORE_CHANGE_UPSERT, "d1", "c1", "w3");
    expect_change(&c[3], 7, STORE_CHANGE_DELETE, "d1", "c1", "w2");
    /* an upsert carries the row as read */
    assert_int_equal(c[1].w.estimated_time_of_arrival, 20);
    assert_string_equal(c[1].w.route_id, "r1");
    assert_string_equal(c[1].w.status, "PENDING");
    assert_int_equal(c[1].w.nulls, WAYPOINT_NULL_COMPLETED | WAYPOINT_NULL_AHEAD | WAYPOINT_NULL_WAITING);
    assert_true(c[0].w.nulls & WAYPOINT_NULL_ETA);
    store_changes_free(c, n);

    /* from the middle: only rows after `after` */
    assert_int_equal(store_changes_read(f->store, 5, 100, &c, &n, &next), 0);
    assert_int_equal(next, 7);
    assert_int_equal(n, 2);
    expect_change(&c[0], 6, STORE_CHANGE_UPSERT, "d1", "c1", "w3");
    expect_change(&c[1], 7, STORE_CHANGE_DELETE, "d1", "c1", "w2");
    store_changes_free(c, n);
}

/* max bounds the rows read (before coalescing); *next is the last row read. */
static void test_changes_read_max(void **state)
{
    struct testdb *f = *state;
    struct store_change *c = NULL;
    size_t n = 0;
    int64_t next = 0;

    seven_rows(f);
    assert_int_equal(store_changes_read(f->store, 0, 1, &c, &n, &next), 0);
    assert_int_equal(next, 1);
    assert_int_equal(n, 1);
    expect_change(&c[0], 1, STORE_CHANGE_UPSERT, "d1", "c1", "w1");
    assert_int_equal(c[0].w.estimated_time_of_arrival, 20); /* the row as it is now */
    store_changes_free(c, n);

    /* rows 1..3: w2's insert is stale (deleted since, at 7), w1 coalesces to 3 */
    assert_int_equal(store_changes_read(f->store, 0, 3, &c, &n, &next), 0);
    assert_int_equal(next, 3);
    assert_int_equal(n, 1);
    expect_change(&c[0], 3, STORE_CHANGE_UPSERT, "d1", "c1", "w1");
    store_changes_free(c, n);

    assert_int_equal(store_changes_read(f->store, 3, 3, &c, &n, &next), 0);
    assert_int_equal(next, 6);
    assert_int_equal(n, 3);
    expect_change(&c[0], 4, STORE_CHANGE_UPSERT, "d2", "c1", "w1");
    expect_change(&c[1], 5, STORE_CHANGE_UPSERT, "d1", "c1", "w1");
    expect_change(&c[2], 6, STORE_CHANGE_UPSERT, "d1", "c1", "w3");
    store_changes_free(c, n);

    assert_int_equal(store_changes_read(f->store, 6, 3, &c, &n, &next), 0);
    assert_int_equal(next, 7);
    assert_int_equal(n, 1);
    expect_change(&c[0], 7, STORE_CHANGE_DELETE, "d1", "c1", "w2");
    store_changes_free(c, n);

    /* nothing newer, or no room: next stays at after */
    assert_int_equal(store_changes_read(f->store, 7, 3, &c, &n, &next), 0);
    assert_int_equal(n, 0);
    assert_int_equal(next, 7);
    store_changes_free(c, n);
    assert_int_equal(store_changes_read(f->store, 2, 0, &c, &n, &next), 0);
    assert_int_equal(n, 0);
    assert_int_equal(next, 2);
    store_changes_free(c, n);
}

/* A batch larger than the reader's first allocation, all to one waypoint
 * plus a few others: coalesced to one per key. */
static void test_changes_read_many_rows(void **state)
{
    struct testdb *f = *state;
    struct store_change *c = NULL;
    size_t n = 0;
    int64_t next = 0;

    add(f, "d1", "c1", "hot");
    sql(f, "BEGIN");
    for (int i = 1; i <= 300; i++)
        sql(f, "UPDATE waypoints SET waypoints_ahead = %d WHERE id = 'hot'", i);
    sql(f, "COMMIT");
    add(f, "d1", "c2", "cold");
    assert_int_equal(head(f), 302);
    assert_int_equal(store_changes_read(f->store, 0, 1000, &c, &n, &next), 0);
    assert_int_equal(next, 302);
    assert_int_equal(n, 2);
    expect_change(&c[0], 301, STORE_CHANGE_UPSERT, "d1", "c1", "hot");
    assert_int_equal(c[0].w.waypoints_ahead, 300);
    expect_change(&c[1], 302, STORE_CHANGE_UPSERT, "d1", "c2", "cold");
    store_changes_free(c, n);

    assert_int_equal(store_changes_read(f->store, 0, 150, &c, &n, &next), 0);
    assert_int_equal(next, 150);
    assert_int_equal(n, 1);
    assert_int_equal(c[0].seq, 150);
    store_changes_free(c, n);
}

/* ---- head and pruning ---- */

/* seq comes from AUTOINCREMENT: the head survives deleting every row, and
 * the next change continues after it. */
static void test_head_survives_pruning(void **state)
{
    struct testdb *f = *state;
    struct store_change *c = NULL;
    size_t n = 0;
    int64_t pruned = -1, next = 0;

    for (int i = 0; i < 5; i++) {
        char id[16];

        snprintf(id, sizeof(id), "w%d", i);
        add(f, "d1", "c1", id);
    }
    assert_int_equal(store_log_prune(f->store, 0, 0, 0, 5, &pruned), 0);
    assert_int_equal(pruned, 5);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM change_log"), 0);
    assert_int_equal(head(f), 5);
    assert_int_equal(pruned_through(f), 5);

    add(f, "d1", "c1", "w9");
    assert_int_equal(head(f), 6);
    expect_log_row(f, 6, "insert", "d1", "c1", "w9");
    assert_int_equal(store_changes_read(f->store, 0, 100, &c, &n, &next), 0);
    assert_int_equal(n, 1);
    assert_int_equal(next, 6);
    expect_change(&c[0], 6, STORE_CHANGE_UPSERT, "d1", "c1", "w9");
    store_changes_free(c, n);
}

/* Ten log rows for ten waypoints, written at 1000, 2000, ... 10000 ms. */
static void ten_rows_at_known_times(struct testdb *f)
{
    for (int i = 1; i <= 10; i++) {
        char id[16];

        snprintf(id, sizeof(id), "w%d", i);
        add(f, "d1", "c1", id);
    }
    sql(f, "UPDATE change_log SET changed_ms = seq * 1000");
    assert_int_equal(head(f), 10);
}

static void expect_log_range(struct testdb *f, int64_t first, int64_t last)
{
    assert_int_equal(sql_int(f, "SELECT count(*) FROM change_log"), last - first + 1);
    assert_int_equal(sql_int(f, "SELECT min(seq) FROM change_log"), first);
    assert_int_equal(sql_int(f, "SELECT max(seq) FROM change_log"), last);
}

static void test_prune_by_rows(void **state)
{
    struct testdb *f = *state;
    int64_t pruned = -1;

    ten_rows_at_known_times(f);
    /* every row is young (threshold 0): only the row count prunes */
    assert_int_equal(store_log_prune(f->store, 3, 0, 0, 10, &pruned), 0);
    assert_int_equal(pruned, 7);
    expect_log_range(f, 8, 10);
    assert_int_equal(pruned_through(f), 7);
    assert_int_equal(head(f), 10);

    /* nothing more beyond the retention: no-op */
    assert_int_equal(store_log_prune(f->store, 3, 0, 0, 10, &pruned), 0);
    assert_int_equal(pruned, 0);
    expect_log_range(f, 8, 10);
    assert_int_equal(pruned_through(f), 7);

    /* more rows kept than exist: no-op */
    assert_int_equal(store_log_prune(f->store, 1000, 0, 0, 10, &pruned), 0);
    assert_int_equal(pruned, 0);
    expect_log_range(f, 8, 10);
}

static void test_prune_by_age(void **state)
{
    struct testdb *f = *state;
    int64_t pruned = -1;

    ten_rows_at_known_times(f);
    /* now 10000, keep 4500: written before 5500 are rows 1..5 */
    assert_int_equal(store_log_prune(f->store, 1000, 4500, 10000, 10, &pruned), 0);
    assert_int_equal(pruned, 5);
    expect_log_range(f, 6, 10);
    assert_int_equal(pruned_through(f), 5);

    /* a row written exactly at now - keep is not "before" it: row 7 stays */
    assert_int_equal(store_log_prune(f->store, 1000, 3000, 10000, 10, &pruned), 0);
    assert_int_equal(pruned, 6);
    expect_log_range(f, 7, 10);

    /* nothing old enough: no-op */
    assert_int_equal(store_log_prune(f->store, 1000, 3000, 10000, 10, &pruned), 0);
    assert_int_equal(pruned, 0);
    expect_log_range(f, 7, 10);

    /* everything old: all of it goes, the head stays */
    assert_int_equal(store_log_prune(f->store, 1000, 1000, 1000000, 10, &pruned), 0);
    assert_int_equal(pruned, 10);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM change_log"), 0);
    assert_int_equal(pruned_through(f), 10);
    assert_int_equal(head(f), 10);
}

/* Rows are pruned when beyond either retention: the farther cutoff wins. */
static void test_prune_rows_or_age(void **state)
{
    struct testdb *f = *state;
    int64_t pruned = -1;

    ten_rows_at_known_times(f);
    /* rows say through 2 (keep 8), age says through 4 (before 5000) */
    assert_int_equal(store_log_prune(f->store, 8, 5000, 10000, 10, &pruned), 0);
    assert_int_equal(pruned, 4);
    expect_log_range(f, 5, 10);
    /* rows say through 7 (keep 3), age says through 4 */
    assert_int_equal(store_log_prune(f->store, 3, 5000, 10000, 10, &pruned), 0);
    assert_int_equal(pruned, 7);
    expect_log_range(f, 8, 10);
}

static int count_commit(void *arg)
{
    (*(int *)arg)++;
    return 0; /* let it commit */
}

/* n log rows written at 1, 2, ... ms by one INSERT (no waypoints needed). */
static void log_rows(struct testdb *f, int n)
{
    sql(f, "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %d)"
           " INSERT INTO change_log(dc_id, customer_id, waypoint_id, kind, changed_ms)"
           " SELECT 'd1', 'c1', 'w' || i, 'insert', i FROM k",
        n);
}

/* A backlog bigger than one chunk goes in several transactions, none bigger
 * than STORE_PRUNE_CHUNK rows, so writers never wait behind all of it. */
static void test_issue_11_prune_in_chunks(void **state)
{
    struct testdb *f = *state;
    const int64_t n = 2 * STORE_PRUNE_CHUNK + STORE_PRUNE_CHUNK / 2;
    int64_t pruned = -1;
    int commits = 0;

    log_rows(f, (int)n);
    assert_int_equal(head(f), n);
    sqlite3_commit_hook(f->store->db, count_commit, &commits);
    assert_int_equal(store_log_prune(f->store, 0, 0, 0, n, &pruned), 0);
    sqlite3_commit_hook(f->store->db, NULL, NULL);
    assert_int_equal(pruned, n);
    assert_int_equal(commits, 3);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM change_log"), 0);
    assert_int_equal(pruned_through(f), n);
    assert_int_equal(head(f), n);
}

/* Chunks count rows, not seq numbers: a log whose seq starts far above
 * pruned_through (gaps) is pruned in as few transactions as it has rows. */
static void test_issue_11_prune_chunks_count_rows(void **state)
{
    struct testdb *f = *state;
    const int64_t base = 5000000, n = STORE_PRUNE_CHUNK + STORE_PRUNE_CHUNK / 2;
    int64_t pruned = -1;
    int commits = 0;

    sql(f, "INSERT INTO sqlite_sequence(name, seq) VALUES ('change_log', %lld)", (long long)base);
    log_rows(f, (int)n);
    assert_int_equal(head(f), base + n);
    sqlite3_commit_hook(f->store->db, count_commit, &commits);
    assert_int_equal(store_log_prune(f->store, 0, 0, 0, base + n, &pruned), 0);
    sqlite3_commit_hook(f->store->db, NULL, NULL);
    assert_int_equal(pruned, base + n);
    assert_int_equal(commits, 2);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM change_log"), 0);
}

/* One call does at most STORE_PRUNE_MAX_CHUNKS chunks; the next goes on
 * from there. A cutoff inside a chunk ends exactly at the cutoff. */
static void test_issue_11_prune_chunks_per_call(void **state)
{
    struct testdb *f = *state;
    const int64_t max = (int64_t)STORE_PRUNE_MAX_CHUNKS * STORE_PRUNE_CHUNK, n = max + 1500;
    int64_t pruned = -1;
    int commits = 0;

    log_rows(f, (int)n);
    sqlite3_commit_hook(f->store->db, count_commit, &commits);
    assert_int_equal(store_log_prune(f->store, 1000, 0, 0, n, &pruned), 0);
    assert_int_equal(pruned, max);
    assert_int_equal(commits, STORE_PRUNE_MAX_CHUNKS);
    expect_log_range(f, max + 1, n);
    commits = 0;
    assert_int_equal(store_log_prune(f->store, 1000, 0, 0, n, &pruned), 0);
    sqlite3_commit_hook(f->store->db, NULL, NULL);
    assert_int_equal(pruned, n - 1000);
    assert_int_equal(commits, 1);
    expect_log_range(f, n - 999, n);
    assert_int_equal(pruned_through(f), n - 1000);
}

/* The query plan of one of the store's own statements, as one string of
 * EXPLAIN QUERY PLAN's detail lines joined by "; ". */
static void query_plan(struct testdb *f, enum stmt_id id, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    char *q = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", store_stmt_sql[id]);
    size_t used = 0;

    assert_non_null(q);
    assert_int_equal(sqlite3_prepare_v2(f->store->db, q, -1, &st, NULL), SQLITE_OK);
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW && used < cap)
        used += (size_t)snprintf(out + used, cap - used, "%s; ", (const char *)sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    sqlite3_free(q);
}

/* A DC resume reads its rows through change_log_by_dc (dc_id, seq): a search
 * on the DC's seq range in seq order, not the whole DC's log sorted in a
 * temporary B-tree (130 ms for 11 rows of a 500k-row log before). */
static void test_issue_11_dc_resume_uses_index(void **state)
{
    struct testdb *f = *state;
    char plan[1024];

    query_plan(f, ST_LOG_READ_DC, plan, sizeof(plan));
    print_message("ST_LOG_READ_DC: %s\n", plan);
    assert_non_null(strstr(plan, "SEARCH c USING INDEX change_log_by_dc (dc_id=? AND seq>? AND seq<?)"));
    assert_null(strstr(plan, "TEMP B-TREE"));
    /* The customer resume keeps its own index, the feed its rowid range. */
    query_plan(f, ST_LOG_READ_CUSTOMER, plan, sizeof(plan));
    assert_non_null(strstr(plan, "USING INDEX change_log_by_customer (dc_id=? AND customer_id=? AND seq>? AND seq<?)"));
    assert_null(strstr(plan, "TEMP B-TREE"));
    query_plan(f, ST_LOG_READ, plan, sizeof(plan));
    assert_non_null(strstr(plan, "SEARCH c USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"));
}

/* Never past upto (what the server has delivered), whatever the retention. */
static void test_prune_never_past_upto(void **state)
{
    struct testdb *f = *state;
    int64_t pruned = -1;

    ten_rows_at_known_times(f);
    assert_int_equal(store_log_prune(f->store, 0, 0, 1000000, 4, &pruned), 0);
    assert_int_equal(pruned, 4);
    expect_log_range(f, 5, 10);
    assert_int_equal(pruned_through(f), 4);

    /* upto at or behind pruned_through: nothing to do, and it never goes back */
    assert_int_equal(store_log_prune(f->store, 0, 0, 1000000, 4, &pruned), 0);
    assert_int_equal(pruned, 0);
    assert_int_equal(store_log_prune(f->store, 0, 0, 1000000, 2, &pruned), 0);
    assert_int_equal(pruned, 0);
    assert_int_equal(pruned_through(f), 4);
    expect_log_range(f, 5, 10);

    assert_int_equal(store_log_prune(f->store, 0, 0, 1000000, 0, &pruned), 0);
    assert_int_equal(pruned, 0);
    /* rows say through 8, age (threshold 0) nothing: upto 9 is not the limit */
    assert_int_equal(store_log_prune(f->store, 2, 0, 0, 9, &pruned), 0);
    assert_int_equal(pruned, 8);
    expect_log_range(f, 9, 10);
}

/* Issue 15: a webhook endpoint's events are derived from the log after its
 * cursor (log_seq); the log is never pruned past the cursor of an enabled
 * endpoint, whatever the retention, so a slow fill loses nothing. A
 * disabled endpoint holds nothing back (enable restarts it at the head). */
static void test_prune_never_past_a_webhook_cursor(void **state)
{
    struct testdb *f = *state;
    int64_t pruned = -1;

    ten_rows_at_known_times(f);
    sql(f, "INSERT INTO webhook_endpoints(id, url, events, secret, enabled, state_since_ms, created_ms, log_seq)"
           " VALUES ('wh_a', 'https://a.example/h', 'waypoint.status_changed', x'00', 1, 0, 0, 3),"
           " ('wh_b', 'https://b.example/h', 'waypoint.status_changed', x'00', 0, 0, 0, 1)");
    assert_int_equal(store_log_prune(f->store, 0, 0, 1000000, 10, &pruned), 0);
    assert_int_equal(pruned, 3);
    expect_log_range(f, 4, 10);
    sql(f, "UPDATE webhook_endpoints SET log_seq = 7 WHERE id = 'wh_a'");
    assert_int_equal(store_log_prune(f->store, 0, 0, 1000000, 10, &pruned), 0);
    assert_int_equal(pruned, 7);
    expect_log_range(f, 8, 10);
    sql(f, "UPDATE webhook_endpoints SET enabled = 0 WHERE id = 'wh_a'");
    assert_int_equal(store_log_prune(f->store, 0, 0, 1000000, 10, &pruned), 0);
    assert_int_equal(pruned, 10);
}

/* A writer holding the lock: prune gives up at once with -EBUSY, changes
 * nothing, and works once the writer is done. */
static void test_prune_busy(void **state)
{
    struct testdb *f = *state;
    int64_t pruned = -1;

    ten_rows_at_known_times(f);
    sql(f, "BEGIN IMMEDIATE");
    add(f, "d1", "c1", "late");
    assert_int_equal(store_log_prune(f->store, 0, 0, 1000000, 10, &pruned), -EBUSY);
    assert_int_equal(pruned, 0);
    assert_int_equal(pruned_through(f), 0);
    sql(f, "COMMIT");
    expect_log_range(f, 1, 11);
    assert_int_equal(store_log_prune(f->store, 0, 0, 1000000, 10, &pruned), 0);
    assert_int_equal(pruned, 10);
    expect_log_range(f, 11, 11);
    assert_int_equal(pruned_through(f), 10);
}

static void test_data_version(void **state)
{
    struct testdb *f = *state;
    int64_t v1 = 0, v2 = 0, v3 = 0;

    assert_int_equal(store_data_version(f->store, &v1), 0);
    assert_int_equal(store_data_version(f->store, &v2), 0);
    assert_int_equal(v1, v2); /* nobody committed */
    add(f, "d1", "c1", "w1");
    assert_int_equal(store_data_version(f->store, &v2), 0);
    assert_true(v2 != v1);
    assert_int_equal(store_data_version(f->store, &v3), 0);
    assert_int_equal(v3, v2);
    sql(f, "BEGIN; UPDATE waypoints SET status = 'COMPLETED'; COMMIT");
    assert_int_equal(store_data_version(f->store, &v3), 0);
    assert_true(v3 != v2);
}

/* ---- store_subscribe_read ---- */

static void test_subscribe_snapshot_customer(void **state)
{
    struct testdb *f = *state;
    struct store_sub_state st;

    for (int i = 1; i <= 12; i++) {
        char id[16];

        snprintf(id, sizeof(id), "w%02d", i);
        add(f, "d1", "c1", id);
        if (i == 6) {
            add(f, "d1", "c2", "other-customer");
            add(f, "d2", "c1", "other-dc");
        }
    }
    /* an update does not make a waypoint more recent */
    sql(f, "UPDATE waypoints SET status = 'COMPLETED' WHERE dc_id = 'd1' AND id = 'w01'");
    sql(f, "UPDATE waypoints SET status = 'COMPLETED' WHERE dc_id = 'd1' AND id = 'w05'");

    assert_int_equal(store_subscribe_read(f->store, "d1", "c1", -1, &st), 0);
    assert_int_equal(st.resumed, 0);
    assert_int_equal(st.seq, head(f));
    assert_int_equal(st.seq, 16);
    assert_null(st.changes);
    assert_int_equal(st.nchanges, 0);
    assert_int_equal(st.nw, STORE_MAX_WAYPOINTS);
    for (size_t i = 0; i < st.nw; i++) {
        char id[16];

        snprintf(id, sizeof(id), "w%02d", (int)(12 - i)); /* newest inserted first */
        assert_string_equal(st.w[i].id, id);
        assert_string_equal(st.w[i].dc_id, "d1");
        assert_string_equal(st.w[i].customer_id, "c1");
    }
    assert_string_equal(st.w[7].status, "COMPLETED"); /* w05: all statuses */
    store_sub_state_clear(&st);
    assert_null(st.w);
    assert_int_equal(st.nw, 0);

    assert_int_equal(store_subscribe_read(f->store, "d1", "nobody", -1, &st), 0);
    assert_int_equal(st.resumed, 0);
    assert_int_equal(st.nw, 0);
    assert_int_equal(st.seq, 16);
    store_sub_state_clear(&st);
}

static void test_subscribe_snapshot_dc(void **state)
{
    struct testdb *f = *state;
    struct store_sub_state st;

    add(f, "d1", "c1", "p1");
    add(f, "d1", "c2", "done");
    sql(f, "UPDATE waypoints SET status = 'COMPLETED' WHERE id = 'done'");
    add(f, "d1", "c2", "p2");
    add(f, "d2", "c1", "elsewhere");
    add(f, "d1", "c1", "p3");
    add(f, "d1", "c3", "p4");
    sql(f, "UPDATE waypoints SET status = 'COMPLETED' WHERE id = 'p2'");
    sql(f, "UPDATE waypoints SET estimated_time_of_arrival = 99 WHERE id = 'p1'");

    assert_int_equal(store_subscribe_read(f->store, "d1", NULL, -1, &st), 0);
    assert_int_equal(st.resumed, 0);
    assert_int_equal(st.seq, head(f));
    assert_int_equal(st.nchanges, 0);
    assert_int_equal(st.nw, 3);
    assert_string_equal(st.w[0].id, "p4");
    assert_string_equal(st.w[1].id, "p3");
    assert_string_equal(st.w[2].id, "p1");
    assert_string_equal(st.w[0].customer_id, "c3");
    assert_int_equal(st.w[2].estimated_time_of_arrival, 99);
    for (size_t i = 0; i < st.nw; i++) {
        assert_string_equal(st.w[i].dc_id, "d1");
        assert_string_equal(st.w[i].status, "PENDING");
    }
    store_sub_state_clear(&st);

    assert_int_equal(store_subscribe_read(f->store, "d9", NULL, -1, &st), 0);
    assert_int_equal(st.resumed, 0);
    assert_int_equal(st.nw, 0);
    store_sub_state_clear(&st);
}

/* Rows 1..3 before the client's `since`, then 4..10 to replay. */
static void history(struct testdb *f)
{
    add(f, "d1", "c1", "a");                                                           /* 1 */
    add(f, "d1", "c2", "b");                                                           /* 2 */
    add(f, "d2", "c1", "a");                                                           /* 3 */
    sql(f, "UPDATE waypoints SET waypoints_ahead = 1 WHERE dc_id = 'd1' AND id = 'a'"); /* 4 */
    sql(f, "UPDATE waypoints SET waypoints_ahead = 2 WHERE dc_id = 'd1' AND id = 'a'"); /* 5 */
    add(f, "d1", "c1", "n");                                                           /* 6 */
    sql(f, "UPDATE waypoints SET waypoints_ahead = 3 WHERE dc_id = 'd1' AND id = 'b'"); /* 7 */
    sql(f, "UPDATE waypoints SET waypoints_ahead = 4 WHERE dc_id = 'd2' AND id = 'a'"); /* 8 */
    add(f, "d1", "c1", "m");                                                           /* 9 */
    sql(f, "DELETE FROM waypoints WHERE dc_id = 'd1' AND id = 'm'");                   /* 10 */
    assert_int_equal(head(f), 10);
}

static void test_subscribe_resume_customer(void **state)
{
    struct testdb *f = *state;
    struct store_sub_state st;

    history(f);
    assert_int_equal(store_subscribe_read(f->store, "d1", "c1", 3, &st), 0);
    assert_int_equal(st.resumed, 1);
    assert_int_equal(st.seq, 10);
    assert_int_equal(st.nw, 0);
    assert_int_equal(st.nchanges, 3); /* not c2's b, not d2's a */
    expect_change(&st.changes[0], 5, STORE_CHANGE_UPSERT, "d1", "c1", "a");
    assert_int_equal(st.changes[0].w.waypoints_ahead, 2);
    expect_change(&st.changes[1], 6, STORE_CHANGE_UPSERT, "d1", "c1", "n");
    expect_change(&st.changes[2], 10, STORE_CHANGE_DELETE, "d1", "c1", "m");
    store_sub_state_clear(&st);

    assert_int_equal(store_subscribe_read(f->store, "d1", "c1", 5, &st), 0);
    assert_int_equal(st.resumed, 1);
    assert_int_equal(st.nchanges, 2);
    expect_change(&st.changes[0], 6, STORE_CHANGE_UPSERT, "d1", "c1", "n");
    expect_change(&st.changes[1], 10, STORE_CHANGE_DELETE, "d1", "c1", "m");
    store_sub_state_clear(&st);

    assert_int_equal(store_subscribe_read(f->store, "d2", "c1", 0, &st), 0);
    assert_int_equal(st.resumed, 1);
    assert_int_equal(st.nchanges, 1);
    expect_change(&st.changes[0], 8, STORE_CHANGE_UPSERT, "d2", "c1", "a");
    assert_int_equal(st.changes[0].w.waypoints_ahead, 4);
    store_sub_state_clear(&st);

    /* since == head: resumed, nothing missed */
    assert_int_equal(store_subscribe_read(f->store, "d1", "c1", 10, &st), 0);
    assert_int_equal(st.resumed, 1);
    assert_int_equal(st.seq, 10);
    assert_int_equal(st.nchanges, 0);
    assert_int_equal(st.nw, 0);
    store_sub_state_clear(&st);
}

static void test_subscribe_resume_dc(void **state)
{
    struct testdb *f = *state;
    struct store_sub_state st;

    history(f);
    assert_int_equal(store_subscribe_read(f->store, "d1", NULL, 3, &st), 0);
    assert_int_equal(st.resumed, 1);
    assert_int_equal(st.seq, 10);
    assert_int_equal(st.nw, 0);
    assert_int_equal(st.nchanges, 4); /* every customer of d1, not d2 */
    expect_change(&st.changes[0], 5, STORE_CHANGE_UPSERT, "d1", "c1", "a");
    expect_change(&st.changes[1], 6, STORE_CHANGE_UPSERT, "d1", "c1", "n");
    expect_change(&st.changes[2], 7, STORE_CHANGE_UPSERT, "d1", "c2", "b");
    expect_change(&st.changes[3], 10, STORE_CHANGE_DELETE, "d1", "c1", "m");
    store_sub_state_clear(&st);
}

/* A move between customers replays as a removal for the old customer and
 * an upsert for the new one. */
static void test_subscribe_resume_move(void **state)
{
    struct testdb *f = *state;
    struct store_sub_state st;

    add(f, "d1", "c1", "w");
    add(f, "d1", "c1", "stay");
    sql(f, "UPDATE waypoints SET customer_id = 'c2' WHERE id = 'w'");
    assert_int_equal(head(f), 4);

    assert_int_equal(store_subscribe_read(f->store, "d1", "c1", 2, &st), 0);
    assert_int_equal(st.resumed, 1);
    assert_int_equal(st.nchanges, 1);
    expect_change(&st.changes[0], 3, STORE_CHANGE_DELETE, "d1", "c1", "w");
    store_sub_state_clear(&st);

    assert_int_equal(store_subscribe_read(f->store, "d1", "c2", 2, &st), 0);
    assert_int_equal(st.resumed, 1);
    assert_int_equal(st.nchanges, 1);
    expect_change(&st.changes[0], 4, STORE_CHANGE_UPSERT, "d1", "c2", "w");
    store_sub_state_clear(&st);

    /* from before the insert, c1 sees only the removal: the insert is stale */
    assert_int_equal(store_subscribe_read(f->store, "d1", "c1", 0, &st), 0);
    assert_int_equal(st.resumed, 1);
    assert_int_equal(st.nchanges, 2);
    expect_change(&st.changes[0], 2, STORE_CHANGE_UPSERT, "d1", "c1", "stay");
    expect_change(&st.changes[1], 3, STORE_CHANGE_DELETE, "d1", "c1", "w");
    store_sub_state_clear(&st);
}

/* A since that history cannot serve gets a fresh snapshot. */
static void test_subscribe_since_out_of_range(void **state)
{
    struct testdb *f = *state;
    struct store_sub_state st;
    int64_t pruned = 0;

    history(f);
    /* newer than the head (e.g. from another database) */
    assert_int_equal(store_subscribe_read(f->store, "d1", "c1", 11, &st), 0);
    assert_int_equal(st.resumed, 0);
    assert_int_equal(st.seq, 10);
    assert_int_equal(st.nchanges, 0);
    assert_int_equal(st.nw, 2);
    assert_string_equal(st.w[0].id, "n");
    assert_string_equal(st.w[1].id, "a");
    store_sub_state_clear(&st);

    assert_int_equal(store_log_prune(f->store, 0, 0, 0, 5, &pruned), 0);
    assert_int_equal(pruned, 5);
    /* older than the log keeps */
    assert_int_equal(store_subscribe_read(f->store, "d1", "c1", 4, &st), 0);
    assert_int_equal(st.resumed, 0);
    assert_int_equal(st.seq, 10);
    assert_int_equal(st.nchanges, 0);
    assert_int_equal(st.nw, 2);
    store_sub_state_clear(&st);
    assert_int_equal(store_subscribe_read(f->store, "d1", NULL, 0, &st), 0);
    assert_int_equal(st.resumed, 0);
    assert_int_equal(st.nw, 3); /* n, b, a: all PENDING */
    store_sub_state_clear(&st);

    /* exactly at pruned_through: every row after it is still there */
    assert_int_equal(store_subscribe_read(f->store, "d1", "c1", 5, &st), 0);
    assert_int_equal(st.resumed, 1);
    assert_int_equal(st.nchanges, 2);
    expect_change(&st.changes[0], 6, STORE_CHANGE_UPSERT, "d1", "c1", "n");
    expect_change(&st.changes[1], 10, STORE_CHANGE_DELETE, "d1", "c1", "m");
    store_sub_state_clear(&st);

    /* no since */
    assert_int_equal(store_subscribe_read(f->store, "d1", "c1", -1, &st), 0);
    assert_int_equal(st.resumed, 0);
    assert_int_equal(st.nw, 2);
    store_sub_state_clear(&st);
}

/* Insert waypoints "<prefix>1".."<prefix>count" for (d1, c1) in one statement. */
static void add_many(struct testdb *f, const char *prefix, int count)
{
    sql(f,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
        " INSERT INTO waypoints(dc_id, id, customer_id, status) SELECT 'd1', '%s' || i, 'c1', 'PENDING' FROM n",
        count, prefix);
}

/* Up to STORE_REPLAY_MAX rows replay; one more gets a snapshot. */
static void test_replay_limit(void **state)
{
    struct testdb *f = *state;
    struct store_sub_state st;

    add_many(f, "w", STORE_REPLAY_MAX);
    assert_int_equal(head(f), STORE_REPLAY_MAX);
    assert_int_equal(store_subscribe_read(f->store, "d1", "c1", 0, &st), 0);
    assert_int_equal(st.resumed, 1);
    assert_int_equal(st.nchanges, STORE_REPLAY_MAX);
    assert_int_equal(st.changes[STORE_REPLAY_MAX - 1].seq, STORE_REPLAY_MAX);
    store_sub_state_clear(&st);

    add(f, "d1", "c1", "one-more");
    assert_int_equal(store_subscribe_read(f->store, "d1", "c1", 0, &st), 0);
    assert_int_equal(st.resumed, 0);
    assert_int_equal(st.seq, STORE_REPLAY_MAX + 1);
    assert_int_equal(st.nw, STORE_MAX_WAYPOINTS);
    assert_string_equal(st.w[0].id, "one-more");
    store_sub_state_clear(&st);
}

/* More than STORE_REPLAY_MAX rows to replay must get a snapshot even when
 * they coalesce (or go stale) down to fewer changes: otherwise the replay
 * stops at the row limit, short of seq, and the changes after it are lost.
 * Here 30000 inserts, 30000 deletes, then one insert that must not be lost. */
static void test_replay_over_max_rows_that_coalesce(void **state)
{
    struct testdb *f = *state;
    struct store_sub_state st;
    int found = 0, resumed;
    size_t nw;
    char first[16] = "";

    add_many(f, "gone", 30000);
    sql(f, "DELETE FROM waypoints WHERE dc_id = 'd1' AND customer_id = 'c1'");
    add(f, "d1", "c1", "last");
    assert_int_equal(head(f), 60001);

    assert_int_equal(store_subscribe_read(f->store, "d1", "c1", 0, &st), 0);
    assert_int_equal(st.seq, 60001);
    for (size_t i = 0; i < st.nchanges; i++)
        found |= !strcmp(st.changes[i].w.id, "last");
    if (st.resumed)
        print_message("resumed with %zu changes through seq %lld, \"last\" (seq 60001) %s\n", st.nchanges,
                      st.nchanges ? (long long)st.changes[st.nchanges - 1].seq : 0LL,
                      found ? "included" : "missing");
    resumed = st.resumed;
    nw = st.nw;
    if (nw)
        snprintf(first, sizeof(first), "%s", st.w[0].id);
    store_sub_state_clear(&st); /* before asserting: a failure must not leak */

    /* 60001 rows to replay > STORE_REPLAY_MAX: a snapshot (just "last") */
    assert_int_equal(resumed, 0);
    assert_int_equal(nw, 1);
    assert_string_equal(first, "last");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_log, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_triggers_log_insert_update_delete, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_update_changing_nothing_logs_nothing, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_move_logs_delete_then_update, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_changes_read_coalesces, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_changes_read_max, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_changes_read_many_rows, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_head_survives_pruning, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_prune_by_rows, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_prune_by_age, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_prune_rows_or_age, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_prune_never_past_upto, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_prune_never_past_a_webhook_cursor, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_issue_11_prune_in_chunks, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_issue_11_prune_chunks_count_rows, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_issue_11_dc_resume_uses_index, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_issue_11_prune_chunks_per_call, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_prune_busy, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_data_version, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_snapshot_customer, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_snapshot_dc, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_resume_customer, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_resume_dc, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_resume_move, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_since_out_of_range, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_replay_limit, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_replay_over_max_rows_that_coalesce, testdb_setup, testdb_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

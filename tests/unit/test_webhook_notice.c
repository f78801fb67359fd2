/* SPDX-License-Identifier: MIT
 *
 * store_webhook_notice.c against real SQLite, with a fixed clock: a
 * customer's location becoming confident (written by another connection, so
 * the triggers see it as other programs' writes) is told once; the sweep
 * fires waypoint.approaching by minutes when time passes without writes,
 * once per waypoint, route and threshold; pruning drops delivered events and
 * old attempts after the retention, never pending ones.
 */
#include "store_webhooks.h"

#include <errno.h>
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

#define NOW 1764511392000LL
#define MIN 60000LL
#define DAY (24 * 3600 * 1000LL)
#define ID "wh_00000000000b"

static void add_endpoint(struct testdb *t, const char *events, const char *minutes)
{
    testdb_webhook_add(t, ID, events, minutes, 0);
}

static size_t cfill(struct testdb *t)
{
    struct store_webhook_fill f;

    assert_int_equal(store_webhook_customer_fill(t->store, ID, NOW, 100, &f), 0);
    return f.events;
}

static long long count(struct testdb *t, const char *where)
{
    char q[512];

    snprintf(q, sizeof(q), "SELECT count(*) FROM webhook_outbox WHERE %s", where);
    return testdb_sql_int(t->db, q);
}

static const char all_but_test[] = "waypoint.status_changed,waypoint.eta_changed,waypoint.approaching,"
                                   "waypoint.removed,customer.location_confident";

static void test_confident_fires_once(void **state)
{
    struct testdb *t = *state;
    char *body;

    /* Confident before the endpoint existed: not told. */
    testdb_sql(t->db, "INSERT INTO customers(dc_id, id, name, location_confident) VALUES ('dc1', 'c0', 'old', 1)");
    add_endpoint(t, all_but_test, "");
    assert_int_equal(cfill(t), 0);
    testdb_sql(t->db, "INSERT INTO customers(dc_id, id, name, imported_address, imported_latitude,"
               " imported_longitude, inferred_latitude, inferred_longitude) VALUES ('dc1', 'c1', 'Ann', 'Main St 1',"
               " 50.5, 4.25, 50.75, 4.5)");
    assert_int_equal(cfill(t), 0); /* not confident */
    testdb_sql(t->db, "UPDATE customers SET location_confident = 1 WHERE id = 'c1'");
    assert_int_equal(cfill(t), 1);
    assert_int_equal(count(t, "type = 'customer.location_confident' AND state = 'pending' AND dc_id = 'dc1'"
                              " AND msg_id NOT LIKE '%.%' AND msg_id LIKE 'msg_00000000000b_c%'"), 1);
    body = testdb_sql_text(t->db, "SELECT body FROM webhook_outbox");
    assert_non_null(strstr(body, "{\"type\":\"customer.location_confident\",\"timestamp\":\""));
    assert_non_null(strstr(body, "\"event\":\"CUSTOMER_LOCATION_CONFIDENT\",\"hook_timestamp_millis\":"));
    assert_non_null(strstr(body, "\"dc_id\":\"dc1\",\"route_id\":null,\"data\":{\"customer_id\":\"c1\","
                                 "\"location\":{\"latitude\":50.75,\"longitude\":4.5},\"customer\":{\"id\":\"c1\","
                                 "\"name\":\"Ann\",\"imported_address\":\"Main St 1\",\"imported_location\":"
                                 "{\"latitude\":50.5,\"longitude\":4.25},\"inferred_location\":{\"latitude\":50.75,"
                                 "\"longitude\":4.5}}}}"));
    free(body);
    /* Nothing twice; not on other edits while confident; not again on 1 -> 1. */
    assert_int_equal(cfill(t), 0);
    testdb_sql(t->db, "UPDATE customers SET name = 'Anne', inferred_latitude = 50.8 WHERE id = 'c1';"
               "UPDATE customers SET location_confident = 1 WHERE id = 'c1'");
    assert_int_equal(cfill(t), 0);
    /* A writer re-importing with INSERT OR REPLACE (delete + insert) does
     * not make it new again. */
    testdb_sql(t->db, "INSERT OR REPLACE INTO customers(dc_id, id, name, location_confident, inferred_latitude,"
               " inferred_longitude) VALUES ('dc1', 'c1', 'Anne', 1, 50.8, 4.5)");
    assert_int_equal(cfill(t), 0);
    /* Back to 0, then 1 again: told again. */
    testdb_sql(t->db, "UPDATE customers SET location_confident = 0 WHERE id = 'c1'");
    assert_int_equal(cfill(t), 0);
    testdb_sql(t->db, "UPDATE customers SET location_confident = 1 WHERE id = 'c1'");
    assert_int_equal(cfill(t), 1);
    /* Inserted confident: told; another DC: not this endpoint's. */
    testdb_sql(t->db, "INSERT INTO customers(dc_id, id, name, location_confident) VALUES ('dc1', 'c2', 'Bo', 1);"
               "INSERT INTO customers(dc_id, id, name, location_confident) VALUES ('dc2', 'c3', 'Cy', 1)");
    assert_int_equal(cfill(t), 1);
    assert_int_equal(count(t, "type = 'customer.location_confident'"), 3);
    assert_int_equal(count(t, "body LIKE '%\"location\":null%'"), 1); /* c2 has no inferred location */
}

static void test_confident_not_asked_moves_cursor(void **state)
{
    struct testdb *t = *state;

    add_endpoint(t, "waypoint.status_changed", "");
    testdb_sql(t->db, "INSERT INTO customers(dc_id, id, name, location_confident) VALUES ('dc1', 'c1', 'A', 1)");
    assert_int_equal(cfill(t), 0);
    assert_int_equal(testdb_sql_int(t->db, "SELECT seq FROM webhook_customer_cursor"),
                     testdb_sql_int(t->db, "SELECT max(seq) FROM webhook_customer_log"));
    /* A disabled endpoint gets nothing; enabled again, it starts from then. */
    assert_int_equal(store_webhook_set_enabled(t->store, ID, 0, "test", NOW), 0);
    testdb_sql(t->db, "INSERT INTO customers(dc_id, id, name, location_confident) VALUES ('dc1', 'c2', 'B', 1)");
    assert_int_equal(store_webhook_set_enabled(t->store, ID, 1, NULL, NOW), 0);
    assert_int_equal(testdb_sql_int(t->db, "SELECT seq FROM webhook_customer_cursor"),
                     testdb_sql_int(t->db, "SELECT max(seq) FROM webhook_customer_log"));
}

static void test_upgrade_to_9_tells_nobody(void **state)
{
    struct testdb *t = *state;
    int version = 0;

    /* A database at version 8 with a confident customer and an endpoint. */
    add_endpoint(t, all_but_test, "");
    testdb_sql(t->db, "DROP TRIGGER webhook_confident_insert; DROP TRIGGER webhook_confident_update;"
               "DROP TRIGGER webhook_confident_delete; DROP TRIGGER webhook_cursor_insert;"
               "DROP TRIGGER webhook_cursor_enable; DROP TRIGGER webhook_cursor_delete;"
               "DROP TABLE webhook_confident; DROP TABLE webhook_customer_log; DROP TABLE webhook_customer_cursor;"
               "DROP INDEX waypoints_pending_eta; PRAGMA user_version = 8;"
               "INSERT INTO customers(dc_id, id, name, location_confident) VALUES ('dc1', 'c0', 'old', 1),"
               " ('dc1', 'c1', 'new', 0)");
    assert_int_equal(store_migrate(t->store), 0);
    assert_int_equal(store_schema_version(t->store, &version), 0);
    assert_int_equal(version, STORE_SCHEMA_VERSION);
    assert_int_equal(cfill(t), 0);
    testdb_sql(t->db, "UPDATE customers SET name = 'x', location_confident = 1");
    assert_int_equal(cfill(t), 1); /* c1 only: c0 was confident already */
    assert_int_equal(count(t, "body LIKE '%\"customer_id\":\"c1\"%'"), 1);
    /* The step runs again harmlessly (every step may). */
    testdb_sql(t->db, "PRAGMA user_version = 8");
    assert_int_equal(store_migrate(t->store), 0);
    assert_int_equal(cfill(t), 0);
}

static struct store_webhook_fill sweep(struct testdb *t, int64_t now)
{
    struct store_webhook_fill f;

    assert_int_equal(store_webhook_sweep(t->store, ID, now, 100, &f), 0);
    return f;
}

static void wp_eta(struct testdb *t, const char *id, int64_t eta)
{
    char q[256];

    snprintf(q, sizeof(q), "INSERT INTO waypoints(dc_id, id, customer_id, route_id, estimated_time_of_arrival,"
             " waypoints_ahead) VALUES ('dc1', '%s', 'c1', 'r1', %lld, 20)", id, (long long)eta);
    testdb_sql(t->db, q);
}

static void test_sweep_fires_minutes_once_as_time_passes(void **state)
{
    struct testdb *t = *state;
    char *body;

    /* Existed before the endpoint, never written since. */
    wp_eta(t, "w1", NOW + 25 * MIN);
    add_endpoint(t, all_but_test, "10,5");
    assert_int_equal(sweep(t, NOW).events, 0);                  /* 25 min to go */
    assert_int_equal(sweep(t, NOW + 14 * MIN).events, 0);       /* 11 min */
    assert_int_equal(sweep(t, NOW + 15 * MIN + 1000).events, 1); /* 9 min 59 s: within 10 */
    body = testdb_sql_text(t->db, "SELECT body FROM webhook_outbox");
    assert_non_null(strstr(body, "\"type\":\"waypoint.approaching\""));
    assert_non_null(strstr(body, "\"data\":{\"seq\":null,\"customer_id\":\"c1\",\"trigger\":{\"kind\":\"eta\","
                                 "\"threshold_seconds\":600,\"seconds_to_eta\":599},\"waypoint\":{\"id\":\"w1\""));
    free(body);
    assert_int_equal(count(t, "msg_id LIKE 'msg_00000000000b_t%' AND msg_id NOT LIKE '%.%'"), 1);
    assert_int_equal(sweep(t, NOW + 16 * MIN).events, 0);  /* 10 fired; 5 not yet */
    assert_int_equal(sweep(t, NOW + 21 * MIN).events, 1);  /* 4 min: 5 */
    assert_int_equal(sweep(t, NOW + 24 * MIN).events, 0);  /* all fired */
    assert_int_equal(count(t, "type = 'waypoint.approaching'"), 2);
    /* The first change the fill sees still says status_changed (previous
     * null: new to the endpoint), and does not fire the minutes again. */
    testdb_sql(t->db, "UPDATE waypoints SET waypoints_ahead = 19");
    {
        struct store_webhook_fill f;

        assert_int_equal(store_webhook_outbox_fill(t->store, ID, NOW + 24 * MIN, 100, &f), 0);
        assert_int_equal(f.events, 1);
    }
    assert_int_equal(count(t, "type = 'waypoint.status_changed' AND body LIKE '%\"previous\":{\"status\":null}%'"), 1);
    assert_int_equal(count(t, "type = 'waypoint.approaching'"), 2);
    /* A new route re-arms (through the fill, which sees the change). */
    testdb_sql(t->db, "UPDATE waypoints SET route_id = 'r2', estimated_time_of_arrival = estimated_time_of_arrival"
               " + 30 * 60000");
    {
        struct store_webhook_fill f;

        assert_int_equal(store_webhook_outbox_fill(t->store, ID, NOW + 24 * MIN, 100, &f), 0);
    }
    assert_int_equal(sweep(t, NOW + 46 * MIN).events, 1);  /* 9 min to the new ETA */
    assert_int_equal(count(t, "type = 'waypoint.approaching' AND body LIKE '%\"route_id\":\"r2\"%'"), 1);
}

static void test_sweep_only_pending_with_eta_and_not_stale(void **state)
{
    struct testdb *t = *state;

    add_endpoint(t, all_but_test, "10");
    wp_eta(t, "late", NOW - 2 * 60 * MIN);  /* ETA passed two hours ago: late, not approaching */
    wp_eta(t, "done", NOW + MIN);
    testdb_sql(t->db, "UPDATE waypoints SET status = 'COMPLETED' WHERE id = 'done';"
               "INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc1', 'noeta', 'c1');"
               "INSERT INTO waypoints(dc_id, id, customer_id, status, estimated_time_of_arrival)"
               " VALUES ('dc2', 'other', 'c1', 'PENDING', 1764511392000)");
    assert_int_equal(sweep(t, NOW).events, 0);
    /* Without time thresholds the sweep does nothing at all. */
    assert_int_equal(count(t, "1"), 0);
}

static void test_sweep_state_moves_without_the_type(void **state)
{
    struct testdb *t = *state;

    add_endpoint(t, "waypoint.status_changed", "10");
    wp_eta(t, "w1", NOW + 5 * MIN);
    assert_int_equal(sweep(t, NOW).events, 0);
    assert_int_equal(testdb_sql_int(t->db, "SELECT minute_fired FROM webhook_wp_state WHERE waypoint_id = 'w1'"), 10);
}

/* A failure midway (what kill -9 would leave is a transaction never
 * committed): neither the event nor the state nor the cursor stays; the next
 * pass does it all once. */
static void test_one_transaction(void **state)
{
    struct testdb *t = *state;
    struct store_webhook_fill f;

    add_endpoint(t, all_but_test, "10");
    wp_eta(t, "w1", NOW + 5 * MIN);
    wp_eta(t, "w2", NOW + 6 * MIN);
    testdb_sql(t->db, "INSERT INTO customers(dc_id, id, name, location_confident) VALUES ('dc1', 'c1', 'A', 1)");
    testdb_sql(t->db, "CREATE TRIGGER boom BEFORE INSERT ON webhook_outbox WHEN NEW.waypoint_id IN ('w2', '')"
               " BEGIN SELECT RAISE(ABORT, 'boom'); END");
    assert_int_not_equal(store_webhook_sweep(t->store, ID, NOW, 100, &f), 0);
    assert_int_not_equal(store_webhook_customer_fill(t->store, ID, NOW, 100, &f), 0);
    assert_int_equal(count(t, "1"), 0);
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(*) FROM webhook_wp_state"), 0);
    assert_int_equal(testdb_sql_int(t->db, "SELECT seq FROM webhook_customer_cursor"), 0);
    testdb_sql(t->db, "DROP TRIGGER boom");
    assert_int_equal(sweep(t, NOW).events, 2);
    assert_int_equal(cfill(t), 1);
    assert_int_equal(sweep(t, NOW).events, 0);
    assert_int_equal(cfill(t), 0);
    assert_int_equal(count(t, "1"), 3);
}

static void test_prune(void **state)
{
    struct testdb *t = *state;
    struct store_webhook_pruned p;

    add_endpoint(t, "webhook.test", "");
    testdb_sql(t->db,
               "INSERT INTO webhook_outbox(endpoint_id, msg_id, type, dc_id, waypoint_id, seq, body, created_ms,"
               " state, next_ms) VALUES"
               " ('" ID "', 'old_done', 't', 'dc1', 'w', 1, '{}', 0, 'delivered', 1764511392000 - 8 * 86400000),"
               " ('" ID "', 'new_done', 't', 'dc1', 'w', 2, '{}', 0, 'delivered', 1764511392000 - 6 * 86400000),"
               " ('" ID "', 'old_pending', 't', 'dc1', 'w', 3, '{}', 0, 'pending', 0);"
               "INSERT INTO webhook_deliveries(endpoint_id, msg_id, attempt_ms, status, latency_ms) VALUES"
               " ('" ID "', 'old_done', 1764511392000 - 8 * 86400000, 200, 5),"
               " ('" ID "', 'old_pending', 1764511392000 - 9 * 86400000, 500, 5),"
               " ('" ID "', 'new_done', 1764511392000 - 6 * 86400000, 200, 5)");
    assert_int_equal(store_webhook_prune(t->store, NOW, 7 * DAY, 1000, &p), 0);
    assert_int_equal(p.events, 1);
    assert_int_equal(p.attempts, 1);
    assert_int_equal(count(t, "msg_id = 'old_done'"), 0);
    assert_int_equal(count(t, "msg_id IN ('new_done', 'old_pending')"), 2);
    /* The pending event's attempts stay, whatever their age. */
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(*) FROM webhook_deliveries WHERE msg_id = 'old_done'"), 0);
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(*) FROM webhook_deliveries"), 2);
    /* Again: nothing more; two days later the other delivered one goes. */
    assert_int_equal(store_webhook_prune(t->store, NOW, 7 * DAY, 1000, &p), 0);
    assert_int_equal(p.events + p.attempts, 0);
    assert_int_equal(store_webhook_prune(t->store, NOW + 2 * DAY, 7 * DAY, 1000, &p), 0);
    assert_int_equal(p.events, 1);
    assert_int_equal(count(t, "1"), 1);
    /* Delivery stamps next_ms with the time (what the retention counts from). */
    {
        struct store_webhook_attempt a = {.row = testdb_sql_int(t->db, "SELECT id FROM webhook_outbox"),
                                          .endpoint_id = ID, .msg_id = "old_pending", .attempt_ms = NOW,
                                          .status = 200, .latency_ms = 3, .delivered = 1};
        int disabled = 0;

        assert_int_equal(store_webhook_attempt_record(t->store, &a, &disabled), 0);
    }
    assert_int_equal(count(t, "state = 'delivered' AND next_ms = 1764511392000"), 1);
    assert_int_equal(store_webhook_prune(t->store, NOW + 7 * DAY - 1, 7 * DAY, 1000, &p), 0);
    assert_int_equal(p.events, 0);
    assert_int_equal(p.attempts, 1); /* its 9-day-old attempt, now that it is not pending */
    assert_int_equal(store_webhook_prune(t->store, NOW + 7 * DAY + 1, 7 * DAY, 1000, &p), 0);
    assert_int_equal(p.events, 1);
    assert_int_equal(p.attempts, 1);
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(*) FROM webhook_deliveries"), 0);
}

static void test_prune_in_batches(void **state)
{
    struct testdb *t = *state;
    struct store_webhook_pruned p;

    add_endpoint(t, "webhook.test", "");
    testdb_sql(t->db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 25)"
               " INSERT INTO webhook_outbox(endpoint_id, msg_id, type, dc_id, waypoint_id, seq, body, created_ms,"
               " next_ms, state) SELECT '" ID "', 'm' || i, 't', 'dc1', 'w', i, '{}', 0, 0, 'delivered'"
               " FROM n");
    assert_int_equal(store_webhook_prune(t->store, NOW, 7 * DAY, 10, &p), 0);
    assert_int_equal(p.events, 10);
    assert_int_equal(store_webhook_prune(t->store, NOW, 7 * DAY, 10, &p), 0);
    assert_int_equal(store_webhook_prune(t->store, NOW, 7 * DAY, 10, &p), 0);
    assert_int_equal(p.events, 5);
    assert_int_equal(count(t, "1"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_confident_fires_once, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_confident_not_asked_moves_cursor, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_to_9_tells_nobody, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_sweep_fires_minutes_once_as_time_passes, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_sweep_only_pending_with_eta_and_not_stale, testdb_setup,
                                        testdb_teardown),
        cmocka_unit_test_setup_teardown(test_sweep_state_moves_without_the_type, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_one_transaction, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_prune, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_prune_in_batches, testdb_setup, testdb_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT
 *
 * store_webhook_outbox.c and view_webhook.c against real SQLite: changes
 * written by another connection (the triggers fill the log) become outbox
 * rows with their bodies, in the transaction that moves the cursor; only the
 * endpoint's DCs; nothing twice; nothing while disabled.
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
#include "view.h"

#define NOW 1764511392000LL
#define ID "wh_00000000000a"

static void add_endpoint(struct testdb *t, const char *events)
{
    testdb_webhook_add(t, ID, events, "", 0);
}

static struct store_webhook_fill fill(struct testdb *t, size_t max)
{
    struct store_webhook_fill f;

    assert_int_equal(store_webhook_outbox_fill(t->store, ID, NOW, max, &f), 0);
    return f;
}

static const char all_but_test[] = "waypoint.status_changed,waypoint.eta_changed,waypoint.approaching,"
                                   "waypoint.removed,customer.location_confident";

static void test_changes_before_the_endpoint_are_not_told(void **state)
{
    struct testdb *t = *state;
    struct store_webhook_fill f;

    testdb_sql(t->db, "INSERT INTO waypoints(dc_id, id, customer_id, route_id, waypoints_ahead) VALUES ('dc1','w0','c1','r1',9)");
    add_endpoint(t, all_but_test);
    f = fill(t, 100);
    assert_int_equal(f.changes, 0);
    assert_int_equal(f.events, 0);
    assert_int_equal(f.cursor, testdb_sql_int(t->db, "SELECT max(seq) FROM change_log"));
}

static void test_changes_become_outbox_rows_with_rest_bodies(void **state)
{
    struct testdb *t = *state;
    struct store_webhook_fill f;
    struct waypoint w;
    size_t n = 0, len = 0;
    char *rest, *body, *expected;

    add_endpoint(t, all_but_test);
    testdb_sql(t->db, "INSERT INTO waypoints(dc_id, id, customer_id, route_id, estimated_time_of_arrival, waypoints_ahead)"
               " VALUES ('dc1', 'w1', 'c1', 'r1', 1764514000000, 2);"
               "INSERT INTO waypoints(dc_id, id, customer_id, waypoints_ahead) VALUES ('dc2', 'x1', 'c9', 1);");
    f = fill(t, 100);
    assert_int_equal(f.changes, 1); /* dc2 is not this endpoint's */
    assert_int_equal(f.events, 2);  /* new: status_changed; 2 ahead: approaching (3) */
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(*) FROM webhook_outbox WHERE state = 'pending' AND attempts = 0"
                                    " AND type IN ('waypoint.status_changed', 'waypoint.approaching')"
                                    " AND msg_id LIKE 'msg_00000000000a_%' AND msg_id NOT LIKE '%.%'"),
                     2);
    assert_int_equal(f.cursor, testdb_sql_int(t->db, "SELECT max(seq) FROM change_log"));

    /* The body carries the REST waypoint object byte for byte. */
    assert_int_equal(store_waypoints_recent(t->store, "dc1", "c1", &w, 1, &n), 0);
    assert_int_equal(n, 1);
    rest = view_waypoints(&w, 1, &len);
    waypoint_clear(&w);
    rest[len - 2] = '\0';                       /* cut "]}" */
    body = testdb_sql_text(t->db, "SELECT body FROM webhook_outbox WHERE type = 'waypoint.status_changed'");
    assert_non_null(strstr(body, rest + strlen("{\"waypoints\":[")));
    expected = "{\"type\":\"waypoint.status_changed\",\"timestamp\":\"";
    assert_int_equal(strncmp(body, expected, strlen(expected)), 0);
    assert_non_null(strstr(body, "\"event\":\"WAYPOINT_STATUS_CHANGED\",\"hook_timestamp_millis\":"));
    assert_non_null(strstr(body, "\"dc_id\":\"dc1\",\"route_id\":\"r1\",\"data\":{\"seq\":"));
    assert_non_null(strstr(body, "\"customer_id\":\"c1\",\"previous\":{\"status\":null},\"waypoint\":{"));
    assert_string_equal(body + strlen(body) - 2, "}}");
    free(body);
    body = testdb_sql_text(t->db, "SELECT body FROM webhook_outbox WHERE type = 'waypoint.approaching'");
    assert_non_null(strstr(body, "\"trigger\":{\"kind\":\"stops\",\"threshold\":3,\"waypoints_ahead\":2}"));
    free(body);
    free(rest);

    /* Nothing twice: a second fill finds nothing new. */
    f = fill(t, 100);
    assert_int_equal(f.changes, 0);
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(*) FROM webhook_outbox"), 2);

    /* Removal. */
    testdb_sql(t->db, "DELETE FROM waypoints WHERE id = 'w1'");
    f = fill(t, 100);
    assert_int_equal(f.events, 1);
    body = testdb_sql_text(t->db, "SELECT body FROM webhook_outbox WHERE type = 'waypoint.removed'");
    assert_non_null(strstr(body, "\"route_id\":null,\"data\":{\"seq\":"));
    assert_non_null(strstr(body, "\"customer_id\":\"c1\",\"waypoint_id\":\"w1\"}}"));
    free(body);
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(*) FROM webhook_wp_state"), 0);
}

static void test_cursor_moves_in_steps_of_max(void **state)
{
    struct testdb *t = *state;
    struct store_webhook_fill f;

    add_endpoint(t, "waypoint.status_changed");
    testdb_sql(t->db, "INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc1','a','c'), ('dc1','b','c'), ('dc1','c','c')");
    f = fill(t, 2);
    assert_int_equal(f.changes, 2);
    assert_int_equal(f.events, 2);
    assert_int_equal(f.cursor, testdb_sql_int(t->db, "SELECT seq FROM change_log WHERE waypoint_id = 'b'"));
    f = fill(t, 2);
    assert_int_equal(f.changes, 1);
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(DISTINCT waypoint_id) FROM webhook_outbox"), 3);
}

static void test_state_survives_between_fills(void **state)
{
    struct testdb *t = *state;

    add_endpoint(t, "waypoint.approaching,waypoint.eta_changed");
    testdb_sql(t->db, "INSERT INTO waypoints(dc_id, id, customer_id, route_id, estimated_time_of_arrival, waypoints_ahead)"
               " VALUES ('dc1', 'w1', 'c1', 'r1', 1764514000000, 5)");
    assert_int_equal(fill(t, 100).events, 0);
    testdb_sql(t->db, "UPDATE waypoints SET waypoints_ahead = 3, estimated_time_of_arrival = 1764514120000");
    assert_int_equal(fill(t, 100).events, 1); /* approaching 3; ETA +2 min: not yet */
    testdb_sql(t->db, "UPDATE waypoints SET waypoints_ahead = 2, estimated_time_of_arrival = 1764514300000");
    assert_int_equal(fill(t, 100).events, 1); /* ETA +5 min from the baseline */
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(*) FROM webhook_outbox WHERE type = 'waypoint.eta_changed'"), 1);
    assert_int_equal(testdb_sql_int(t->db, "SELECT eta_sent FROM webhook_wp_state"), 1764514300000LL);
}

static void test_disabled_gets_nothing_and_enable_starts_from_now(void **state)
{
    struct testdb *t = *state;
    struct store_webhook_fill f;

    add_endpoint(t, "waypoint.status_changed");
    assert_int_equal(store_webhook_set_enabled(t->store, ID, 0, "test", NOW), 0);
    testdb_sql(t->db, "INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc1','a','c')");
    f = fill(t, 100);
    assert_int_equal(f.changes, 0);
    assert_int_equal(store_webhook_set_enabled(t->store, ID, 1, NULL, NOW), 0);
    f = fill(t, 100);
    assert_int_equal(f.changes, 0);
    testdb_sql(t->db, "INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc1','b','c')");
    f = fill(t, 100);
    assert_int_equal(f.events, 1);
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(*) FROM webhook_outbox WHERE waypoint_id = 'b'"), 1);
    /* remove takes its outbox and state along. */
    assert_int_equal(store_webhook_remove(t->store, ID), 0);
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(*) FROM webhook_outbox"), 0);
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(*) FROM webhook_wp_state"), 0);
    assert_int_equal(store_webhook_outbox_fill(t->store, ID, NOW, 10, &f), -ENOENT);
}

static void test_one_transaction(void **state)
{
    struct testdb *t = *state;
    struct store_webhook_fill f;

    add_endpoint(t, "waypoint.status_changed");
    testdb_sql(t->db, "INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc1','a','c'), ('dc1','b','c')");
    /* The second outbox insert fails: neither row, nor the state, nor the
     * cursor move may stay. */
    testdb_sql(t->db, "CREATE TRIGGER boom BEFORE INSERT ON webhook_outbox WHEN NEW.waypoint_id = 'b'"
               " BEGIN SELECT RAISE(ABORT, 'boom'); END");
    assert_int_not_equal(store_webhook_outbox_fill(t->store, ID, NOW, 100, &f), 0);
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(*) FROM webhook_outbox"), 0);
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(*) FROM webhook_wp_state"), 0);
    assert_int_equal(testdb_sql_int(t->db, "SELECT log_seq FROM webhook_endpoints"),
                     testdb_sql_int(t->db, "SELECT min(seq) - 1 FROM change_log"));
    testdb_sql(t->db, "DROP TRIGGER boom");
    f = fill(t, 100);
    assert_int_equal(f.events, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_changes_before_the_endpoint_are_not_told, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_changes_become_outbox_rows_with_rest_bodies, testdb_setup,
                                        testdb_teardown),
        cmocka_unit_test_setup_teardown(test_cursor_moves_in_steps_of_max, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_state_survives_between_fills, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_disabled_gets_nothing_and_enable_starts_from_now, testdb_setup,
                                        testdb_teardown),
        cmocka_unit_test_setup_teardown(test_one_transaction, testdb_setup, testdb_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

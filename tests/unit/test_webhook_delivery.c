/* SPDX-License-Identifier: MIT
 *
 * store_webhook_delivery.c against real SQLite: which events are due (the
 * head of each waypoint's queue, enabled endpoints only, next_ms come), an
 * attempt's record (delivered, retried, 410 and 24 h of failures disable,
 * a success or an enable restarts the window), the attempt log,
 * redeliver, test events and the pending counts.
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
#define HOUR 3600000LL
#define ID "wh_00000000000a"

static void add_endpoint(struct testdb *t)
{
    static const char *const dcs[] = {"dc1"};
    struct store_webhook w;

    memset(&w, 0, sizeof(w));
    snprintf(w.id, sizeof(w.id), "%s", ID);
    w.url = (char *)"https://example.com/hooks";
    w.dcs = (char **)dcs;
    w.ndcs = 1;
    w.events = (char *)"waypoint.status_changed";
    assert_int_equal(whsig_secret_generate(&w.secret), 0);
    w.enabled = 1;
    w.eta_minutes = 5;
    w.approach_stops = (char *)"3,1";
    w.approach_minutes = (char *)"";
    w.created_ms = w.state_since_ms = NOW - 100 * HOUR;
    assert_int_equal(store_webhook_insert(t->store, &w), 0);
}

/* Outbox rows 1..4: w1, w1, w2, w1 (in id order). */
static void add_events(struct testdb *t)
{
    testdb_sql(t->db, "INSERT INTO webhook_outbox(endpoint_id, msg_id, type, dc_id, waypoint_id, seq, body, created_ms, next_ms)"
               " VALUES ('" ID "', 'msg_a_1_0', 'waypoint.status_changed', 'dc1', 'w1', 1, '{\"n\":1}', 10, 10),"
               " ('" ID "', 'msg_a_2_0', 'waypoint.status_changed', 'dc1', 'w1', 2, '{\"n\":2}', 20, 20),"
               " ('" ID "', 'msg_a_3_0', 'waypoint.status_changed', 'dc1', 'w2', 3, '{\"n\":3}', 30, 30),"
               " ('" ID "', 'msg_a_4_0', 'waypoint.status_changed', 'dc1', 'w1', 4, '{\"n\":4}', 40, 40)");
}

struct seen {
    char ids[8][32];
    size_t n;
};

static int collect(const struct store_webhook_due *d, void *arg)
{
    struct seen *s = arg;

    assert_true(s->n < 8);
    snprintf(s->ids[s->n++], sizeof(s->ids[0]), "%s", d->msg_id);
    assert_int_equal((int)d->body_len, (int)strlen(d->body));
    return 0;
}

static struct seen due(struct testdb *t, int64_t now)
{
    struct seen s = {0};

    assert_int_equal(store_webhook_due_list(t->store, now, 10, collect, &s), 0);
    return s;
}

static int record(struct testdb *t, int64_t row, const char *msg, int64_t at, int status, int64_t next)
{
    struct store_webhook_attempt a = {.row = row, .endpoint_id = ID, .msg_id = msg, .attempt_ms = at,
                                      .status = status, .latency_ms = 12, .answer = "ok", .answer_len = 2,
                                      .delivered = status >= 200 && status < 300, .gone = status == 410,
                                      .next_ms = next};
    int disabled = -1;

    assert_int_equal(store_webhook_attempt_record(t->store, &a, &disabled), 0);
    return disabled;
}

static int enabled(struct testdb *t)
{
    return (int)testdb_sql_int(t->db, "SELECT enabled FROM webhook_endpoints WHERE id = '" ID "'");
}

static void test_due_is_the_head_of_each_waypoint(void **state)
{
    struct testdb *t = *state;
    struct seen s;

    add_endpoint(t);
    add_events(t);
    s = due(t, NOW);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[0], "msg_a_1_0");
    assert_string_equal(s.ids[1], "msg_a_3_0");
    assert_int_equal(due(t, 15).n, 1); /* w2's head is not due yet */
    /* w1's head delivered: its next one is the head. */
    assert_int_equal(record(t, 1, "msg_a_1_0", NOW, 200, 0), 0);
    s = due(t, NOW);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[0], "msg_a_2_0");
    assert_int_equal(testdb_sql_int(t->db, "SELECT attempts FROM webhook_outbox WHERE id = 1"), 1);
    assert_int_equal(testdb_sql_int(t->db, "SELECT state = 'delivered' FROM webhook_outbox WHERE id = 1"), 1);
}

static void test_failure_retries_later_and_holds_the_waypoint(void **state)
{
    struct testdb *t = *state;
    struct seen s;

    add_endpoint(t);
    add_events(t);
    assert_int_equal(record(t, 1, "msg_a_1_0", NOW, 500, NOW + 5000), 0);
    s = due(t, NOW + 4999);
    assert_int_equal(s.n, 1); /* w1 waits for its head; w2 flows */
    assert_string_equal(s.ids[0], "msg_a_3_0");
    s = due(t, NOW + 5000);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[0], "msg_a_1_0");
    assert_int_equal(testdb_sql_int(t->db, "SELECT attempts FROM webhook_outbox WHERE id = 1"), 1);
    assert_int_equal(enabled(t), 1);
}

static void test_410_disables_at_once(void **state)
{
    struct testdb *t = *state;
    struct store_webhook w;

    add_endpoint(t);
    add_events(t);
    assert_int_equal(record(t, 1, "msg_a_1_0", NOW, 410, NOW + 5000), 1);
    assert_int_equal(store_webhook_get(t->store, ID, &w), 0);
    assert_false(w.enabled);
    assert_non_null(strstr(w.disabled_reason, "410"));
    assert_int_equal(w.state_since_ms, NOW);
    store_webhook_clear(&w);
    assert_int_equal(due(t, NOW + HOUR).n, 0); /* a disabled endpoint's events wait */
}

static void test_24_hours_of_failures_disable(void **state)
{
    struct testdb *t = *state;
    struct store_webhook w;

    add_endpoint(t);
    add_events(t);
    assert_int_equal(record(t, 1, "msg_a_1_0", NOW, 500, NOW + 1), 0);
    assert_int_equal(record(t, 1, "msg_a_1_0", NOW + 24 * HOUR - 1, 503, NOW + 25 * HOUR), 0);
    assert_int_equal(enabled(t), 1);
    assert_int_equal(record(t, 1, "msg_a_1_0", NOW + 24 * HOUR, 502, NOW + 26 * HOUR), 1);
    assert_int_equal(store_webhook_get(t->store, ID, &w), 0);
    assert_false(w.enabled);
    assert_string_equal(w.disabled_reason, "every delivery failed for 24 h (last: HTTP 502)");
    store_webhook_clear(&w);
}

static void test_a_success_restarts_the_window(void **state)
{
    struct testdb *t = *state;

    add_endpoint(t);
    add_events(t);
    assert_int_equal(record(t, 1, "msg_a_1_0", NOW, 500, NOW + 1), 0);
    assert_int_equal(record(t, 3, "msg_a_3_0", NOW + HOUR, 204, 0), 0);
    assert_int_equal(record(t, 1, "msg_a_1_0", NOW + 2 * HOUR, 500, NOW + 1), 0);
    assert_int_equal(record(t, 1, "msg_a_1_0", NOW + 25 * HOUR, 500, NOW + 1), 0);
    assert_int_equal(enabled(t), 1);
    assert_int_equal(record(t, 1, "msg_a_1_0", NOW + 26 * HOUR, 500, NOW + 1), 1);
}

static void test_enable_restarts_the_window(void **state)
{
    struct testdb *t = *state;

    add_endpoint(t);
    add_events(t);
    assert_int_equal(record(t, 1, "msg_a_1_0", NOW, 500, NOW + 1), 0);
    assert_int_equal(store_webhook_set_enabled(t->store, ID, 0, "disabled by command", NOW + HOUR), 0);
    assert_int_equal(store_webhook_set_enabled(t->store, ID, 1, NULL, NOW + 2 * HOUR), 0);
    assert_int_equal(record(t, 1, "msg_a_1_0", NOW + 25 * HOUR, 500, NOW + 1), 0);
    assert_int_equal(enabled(t), 1);
    assert_int_equal(record(t, 1, "msg_a_1_0", NOW + 49 * HOUR, 500, NOW + 1), 1);
}

struct log {
    int n;
    int statuses[4];
    char error[64];
    size_t answer_len;
};

static int log_one(const struct store_webhook_delivery *d, void *arg)
{
    struct log *l = arg;

    if (l->n < 4)
        l->statuses[l->n] = d->status;
    if (d->error)
        snprintf(l->error, sizeof(l->error), "%s", d->error);
    if (!l->n)
        l->answer_len = strlen(d->answer);
    l->n++;
    return 0;
}

static void test_attempt_log_newest_first(void **state)
{
    struct testdb *t = *state;
    char big[300];
    struct store_webhook_attempt a = {.row = 1, .endpoint_id = ID, .msg_id = "msg_a_1_0", .attempt_ms = NOW,
                                      .error = "timeout", .latency_ms = 10000, .next_ms = NOW + 5000};
    struct log l = {0};
    int disabled;

    add_endpoint(t);
    add_events(t);
    assert_int_equal(store_webhook_attempt_record(t->store, &a, &disabled), 0);
    memset(big, 'x', sizeof(big));
    a = (struct store_webhook_attempt){.row = 1, .endpoint_id = ID, .msg_id = "msg_a_1_0", .attempt_ms = NOW + 5000,
                                       .status = 200, .latency_ms = 3, .answer = big, .answer_len = sizeof(big),
                                       .delivered = 1};
    assert_int_equal(store_webhook_attempt_record(t->store, &a, &disabled), 0);
    assert_int_equal(store_webhook_deliveries(t->store, ID, 10, log_one, &l), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.statuses[0], 200);
    assert_int_equal(l.statuses[1], 0);
    assert_string_equal(l.error, "timeout");
    assert_int_equal(l.answer_len, STORE_WEBHOOK_ANSWER_MAX);
    memset(&l, 0, sizeof(l));
    assert_int_equal(store_webhook_deliveries(t->store, ID, 1, log_one, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(store_webhook_deliveries(t->store, "wh_nope", 1, log_one, &l), -ENOENT);
}

static int pending_one(const char *id, int64_t pending, int64_t oldest, void *arg)
{
    int64_t *out = arg;

    assert_string_equal(id, ID);
    out[0] = pending;
    out[1] = oldest;
    return 0;
}

static void test_redeliver_test_and_pending(void **state)
{
    struct testdb *t = *state;
    char msg[96];
    int64_t p[2] = {0, 0};
    struct seen s;

    add_endpoint(t);
    add_events(t);
    assert_int_equal(store_webhook_pending(t->store, pending_one, p), 0);
    assert_int_equal(p[0], 4);
    assert_int_equal(p[1], 10);
    assert_int_equal(record(t, 1, "msg_a_1_0", NOW, 200, 0), 0);
    assert_int_equal(store_webhook_redeliver(t->store, "msg_a_1_0", NOW + 1), 0);
    s = due(t, NOW + 1);
    assert_string_equal(s.ids[0], "msg_a_1_0"); /* pending again, same id, still first */
    assert_int_equal(store_webhook_redeliver(t->store, "msg_nope", NOW), -ENOENT);
    assert_int_equal(store_webhook_test_queue(t->store, ID, NOW + 2, msg, sizeof(msg)), 0);
    assert_string_equal(msg, "msg_00000000000a_test_1764511392002");
    assert_null(strchr(msg, '.'));
    assert_int_equal(testdb_sql_int(t->db, "SELECT COUNT(*) FROM webhook_outbox WHERE type = 'webhook.test'"
                                    " AND body LIKE '{\"type\":\"webhook.test\"%'"),
                     1);
    assert_int_equal(store_webhook_test_queue(t->store, "wh_nope", NOW, msg, sizeof(msg)), -ENOENT);
    assert_int_equal(store_webhook_remove(t->store, ID), 0);
    assert_int_equal(testdb_sql_int(t->db, "SELECT COUNT(*) FROM webhook_deliveries"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_due_is_the_head_of_each_waypoint, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_failure_retries_later_and_holds_the_waypoint, testdb_setup,
                                        testdb_teardown),
        cmocka_unit_test_setup_teardown(test_410_disables_at_once, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_24_hours_of_failures_disable, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_a_success_restarts_the_window, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_enable_restarts_the_window, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_attempt_log_newest_first, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_redeliver_test_and_pending, testdb_setup, testdb_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT
 *
 * webhook_derive.c: which events one change makes for one endpoint, and the
 * state it keeps: status changes, ETA drift against the last ETA sent,
 * approaching thresholds once per route, removals, the event filter.
 */
#include "webhook_derive.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define MIN_MS 60000LL
#define NOW 1764511392000LL

struct fixture {
    struct webhook_rules rules;
    struct webhook_wp_state state;
    struct webhook_wp_state old; /* the events' strings point into it */
    struct webhook_derived ev[WEBHOOK_DERIVE_MAX];
    size_t n;
};

static struct waypoint wp(const char *route, const char *status, int64_t ahead, int64_t eta)
{
    struct waypoint w;

    memset(&w, 0, sizeof(w));
    w.dc_id = (char *)"dc1";
    w.id = (char *)"w1";
    w.customer_id = (char *)"c1";
    w.route_id = (char *)route;
    w.status = (char *)status;
    w.waypoints_ahead = ahead;
    w.estimated_time_of_arrival = eta;
    w.nulls = WAYPOINT_NULL_COMPLETED | WAYPOINT_NULL_WAITING | (ahead < 0 ? WAYPOINT_NULL_AHEAD : 0) |
              (eta < 0 ? WAYPOINT_NULL_ETA : 0);
    return w;
}

/* Apply one change; the fixture's state moves on. Returns the event count. */
static size_t apply(struct fixture *f, int deleted, struct waypoint w, int64_t now)
{
    struct webhook_wp_state next = {0};

    assert_int_equal(webhook_derive(&f->rules, &f->state, deleted, &w, now, &next, f->ev, &f->n), 0);
    webhook_wp_state_clear(&f->old);
    f->old = f->state;
    f->state = next;
    return f->n;
}

static int setup(void **state)
{
    static struct fixture f;

    memset(&f, 0, sizeof(f));
    assert_int_equal(webhook_rules_parse("waypoint.status_changed,waypoint.eta_changed,waypoint.approaching,"
                                         "waypoint.removed",
                                         5, "3,1", "", &f.rules),
                     0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    webhook_wp_state_clear(&f->state);
    webhook_wp_state_clear(&f->old);
    return 0;
}

static void test_first_sighting_is_a_status_change_and_the_eta_baseline(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 5, NOW + 60 * MIN_MS), NOW), 1);
    assert_int_equal(f->ev[0].type, WEBHOOK_WAYPOINT_STATUS_CHANGED);
    assert_null(f->ev[0].previous_status);
    assert_true(f->state.known);
    assert_string_equal(f->state.status, "PENDING");
    assert_true(f->state.has_eta_sent);
    assert_int_equal(f->state.eta_sent, NOW + 60 * MIN_MS);
    /* The same values again: nothing. */
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 5, NOW + 60 * MIN_MS), NOW), 0);
}

static void test_approaching_by_stops_once_per_threshold(void **state)
{
    struct fixture *f = *state;
    const int64_t eta = NOW + 60 * MIN_MS;

    apply(f, 0, wp("r1", "PENDING", 5, eta), NOW);
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 4, eta), NOW), 0);
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 3, eta), NOW), 1);
    assert_int_equal(f->ev[0].type, WEBHOOK_WAYPOINT_APPROACHING);
    assert_true(f->ev[0].trigger_stops);
    assert_int_equal(f->ev[0].threshold, 3);
    assert_int_equal(f->ev[0].value, 3);
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 2, eta), NOW), 0);
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 3, eta), NOW), 0); /* back up: not again */
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 1, eta), NOW), 1);
    assert_int_equal(f->ev[0].threshold, 1);
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 0, eta), NOW), 0);
}

static void test_jump_past_several_thresholds_fires_the_tightest_once(void **state)
{
    struct fixture *f = *state;

    apply(f, 0, wp("r1", "PENDING", 9, -1), NOW);
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 0, -1), NOW), 1);
    assert_int_equal(f->ev[0].threshold, 1);
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 2, -1), NOW), 0); /* 3 counts as fired */
}

static void test_new_route_rearms(void **state)
{
    struct fixture *f = *state;

    apply(f, 0, wp("r1", "PENDING", 1, NOW + 30 * MIN_MS), NOW);
    assert_int_equal(f->state.stop_fired, 1);
    /* Moved to another route: thresholds and the ETA baseline start over. */
    assert_int_equal(apply(f, 0, wp("r2", "PENDING", 3, NOW + 90 * MIN_MS), NOW), 1);
    assert_int_equal(f->ev[0].type, WEBHOOK_WAYPOINT_APPROACHING);
    assert_int_equal(f->ev[0].threshold, 3);
    assert_int_equal(f->state.eta_sent, NOW + 90 * MIN_MS);
    assert_string_equal(f->state.route_id, "r2");
    /* NULL route to a route is a change too. */
    assert_int_equal(apply(f, 0, wp(NULL, "PENDING", 3, -1), NOW), 1);
    assert_null(f->state.route_id);
}

static void test_eta_drift_adds_up_and_jitter_does_not_spam(void **state)
{
    struct fixture *f = *state;
    const int64_t base = NOW + 60 * MIN_MS;

    apply(f, 0, wp("r1", "PENDING", 9, base), NOW);
    /* Jitter around the baseline, under 5 minutes: nothing, however often. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(apply(f, 0, wp("r1", "PENDING", 9, base + (i % 2 ? 4 : -4) * MIN_MS), NOW), 0);
    /* Slow drift: 2, 4, then 5 minutes from the ETA last sent. */
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 9, base + 2 * MIN_MS), NOW), 0);
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 9, base + 4 * MIN_MS), NOW), 0);
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 9, base + 5 * MIN_MS), NOW), 1);
    assert_int_equal(f->ev[0].type, WEBHOOK_WAYPOINT_ETA_CHANGED);
    assert_int_equal(f->ev[0].previous_eta, base);
    assert_int_equal(f->ev[0].delta_seconds, 300);
    /* Measured from the new ETA sent now; earlier too. */
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 9, base + 1 * MIN_MS), NOW), 0);
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 9, base - 1 * MIN_MS), NOW), 1);
    assert_int_equal(f->ev[0].delta_seconds, -360);
}

static void test_status_change_and_done_waypoints(void **state)
{
    struct fixture *f = *state;

    apply(f, 0, wp("r1", "PENDING", 5, NOW + 60 * MIN_MS), NOW);
    assert_int_equal(apply(f, 0, wp("r1", "COMPLETED", 0, NOW + 90 * MIN_MS), NOW), 1);
    assert_int_equal(f->ev[0].type, WEBHOOK_WAYPOINT_STATUS_CHANGED);
    assert_string_equal(f->ev[0].previous_status, "PENDING");
    /* Not PENDING: no ETA or approaching event, whatever moves. */
    assert_int_equal(apply(f, 0, wp("r1", "COMPLETED", 0, NOW + 200 * MIN_MS), NOW), 0);
}

static void test_approaching_by_minutes(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(webhook_rules_parse("waypoint.approaching", 5, "3,1", "10,5", &f->rules), 0);
    apply(f, 0, wp("r1", "PENDING", 9, NOW + 30 * MIN_MS), NOW);
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 9, NOW + 30 * MIN_MS), NOW + 21 * MIN_MS), 1);
    assert_false(f->ev[0].trigger_stops);
    assert_int_equal(f->ev[0].threshold, 10);
    assert_int_equal(f->ev[0].value, 9 * 60);
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 9, NOW + 30 * MIN_MS), NOW + 22 * MIN_MS), 0);
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 9, NOW + 30 * MIN_MS), NOW + 26 * MIN_MS), 1);
    assert_int_equal(f->ev[0].threshold, 5);
}

static void test_filter_moves_state_without_events(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(webhook_rules_parse("waypoint.removed", 5, "3,1", "", &f->rules), 0);
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 1, NOW + 60 * MIN_MS), NOW), 0);
    assert_string_equal(f->state.status, "PENDING");
    assert_int_equal(f->state.stop_fired, 1);
    assert_int_equal(apply(f, 1, wp(NULL, NULL, -1, -1), NOW), 1);
    assert_int_equal(f->ev[0].type, WEBHOOK_WAYPOINT_REMOVED);
    assert_false(f->state.known);
    assert_null(f->state.status);
}

static void test_removed_then_back_is_new(void **state)
{
    struct fixture *f = *state;

    apply(f, 0, wp("r1", "PENDING", 1, -1), NOW);
    assert_int_equal(apply(f, 1, wp(NULL, NULL, -1, -1), NOW), 1);
    assert_int_equal(apply(f, 0, wp("r1", "PENDING", 1, -1), NOW), 2);
    assert_int_equal(f->ev[0].type, WEBHOOK_WAYPOINT_STATUS_CHANGED);
    assert_int_equal(f->ev[1].type, WEBHOOK_WAYPOINT_APPROACHING);
}

/* One sweep look at w at now: the return value; the state moves when 1. */
static int sweep(struct fixture *f, struct waypoint w, int64_t now)
{
    struct webhook_wp_state next = {0};
    int rc = webhook_derive_time(&f->rules, &f->state, &w, now, &next, f->ev, &f->n);

    assert_true(rc >= 0);
    if (rc == 1) {
        webhook_wp_state_clear(&f->old);
        f->old = f->state;
        f->state = next;
    } else {
        assert_false(next.known);
        assert_int_equal(f->n, 0);
    }
    return rc;
}

static void test_time_sweep(void **state)
{
    struct fixture *f = *state;
    struct waypoint w = wp("r1", "PENDING", 9, NOW + 30 * MIN_MS);

    assert_int_equal(webhook_rules_parse("waypoint.status_changed,waypoint.approaching", 5, "3,1", "10,5", &f->rules),
                     0);
    /* Never told: fires at 10 min, the state keeps no status (still new). */
    assert_int_equal(sweep(f, w, NOW + 19 * MIN_MS), 0);
    assert_int_equal(sweep(f, w, NOW + 20 * MIN_MS + 1), 1);
    assert_int_equal(f->n, 1);
    assert_int_equal(f->ev[0].type, WEBHOOK_WAYPOINT_APPROACHING);
    assert_false(f->ev[0].trigger_stops);
    assert_int_equal(f->ev[0].threshold, 10);
    assert_int_equal(f->ev[0].value, 599);
    assert_true(f->state.known);
    assert_null(f->state.status);
    assert_string_equal(f->state.route_id, "r1");
    assert_int_equal(sweep(f, w, NOW + 21 * MIN_MS), 0); /* once */
    /* The next change: status_changed with previous null, minutes not again. */
    assert_int_equal(apply(f, 0, w, NOW + 22 * MIN_MS), 1);
    assert_int_equal(f->ev[0].type, WEBHOOK_WAYPOINT_STATUS_CHANGED);
    assert_null(f->ev[0].previous_status);
    /* A jump past both: the tightest, once. */
    assert_int_equal(sweep(f, w, NOW + 29 * MIN_MS), 1);
    assert_int_equal(f->ev[0].threshold, 5);
    assert_int_equal(f->state.minute_fired, 5);
    assert_string_equal(f->state.status, "PENDING");
    assert_int_equal(sweep(f, w, NOW + 31 * MIN_MS), 0);
    /* Another route than the state's: left to the fill (the log has it). */
    assert_int_equal(sweep(f, wp("r2", "PENDING", 9, NOW + 30 * MIN_MS), NOW + 29 * MIN_MS), 0);
    /* Not PENDING, or no ETA: nothing. */
    webhook_wp_state_clear(&f->state);
    assert_int_equal(sweep(f, wp("r1", "COMPLETED", 9, NOW), NOW), 0);
    assert_int_equal(sweep(f, wp("r1", "PENDING", 9, -1), NOW), 0);
    /* Type not asked for: the state moves, no event. */
    assert_int_equal(webhook_rules_parse("waypoint.status_changed", 5, "3,1", "10", &f->rules), 0);
    assert_int_equal(sweep(f, w, NOW + 25 * MIN_MS), 1);
    assert_int_equal(f->n, 0);
    assert_int_equal(f->state.minute_fired, 10);
}

static void test_rules_parse(void **state)
{
    struct webhook_rules r;

    (void)state;
    assert_int_equal(webhook_rules_parse("webhook.test", 5, "3,1", "", &r), 0);
    assert_int_equal(r.events, WEBHOOK_EVENT_BIT(WEBHOOK_TEST));
    assert_int_equal(r.nstops, 2);
    assert_int_equal(r.stops[0], 3);
    assert_int_equal(r.stops[1], 1);
    assert_int_equal(r.nminutes, 0);
    assert_int_equal(webhook_rules_parse("nope", 5, "3,1", "", &r), -EINVAL);
    assert_int_equal(webhook_rules_parse("webhook.test", 0, "3,1", "", &r), -EINVAL);
    assert_int_equal(webhook_rules_parse("webhook.test", 5, "3,x", "", &r), -EINVAL);
    assert_int_equal(webhook_rules_parse("webhook.test", 5, "3", "1,,2", &r), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_sighting_is_a_status_change_and_the_eta_baseline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_approaching_by_stops_once_per_threshold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jump_past_several_thresholds_fires_the_tightest_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_route_rearms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eta_drift_adds_up_and_jitter_does_not_spam, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_change_and_done_waypoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_approaching_by_minutes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_moves_state_without_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_then_back_is_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_sweep, setup, teardown),
        cmocka_unit_test(test_rules_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT
 *
 * live_notice.c: a subscription's proximity notices (issue 15): once per
 * threshold and route, re-armed by a new route, ETA drift accumulating
 * until it fires, minutes thresholds crossed by the clock alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "live_notice.h"

#define MIN_MS 60000LL
#define NOW 1700000000000LL

static struct waypoint wp(const char *route, const char *status, int64_t ahead, int64_t eta)
{
    return (struct waypoint){.id = (char *)"w1", .dc_id = (char *)"d", .customer_id = (char *)"c",
                             .route_id = (char *)route, .status = (char *)status, .waypoints_ahead = ahead,
                             .estimated_time_of_arrival = eta};
}

static void rules(struct live_notices *ln, int s0, int s1, int m0, int eta)
{
    struct view_notices o = {.wanted = 1, .eta_change_minutes = eta};

    if (s0)
        o.stops[o.nstops++] = s0;
    if (s1)
        o.stops[o.nstops++] = s1;
    if (m0)
        o.minutes[o.nminutes++] = m0;
    live_notices_init(ln, &o);
}

static size_t change(struct live_notices *ln, int64_t seq, struct waypoint w, int64_t now,
                     struct view_notice out[WEBHOOK_DERIVE_MAX])
{
    size_t n = 99;

    assert_int_equal(live_notices_change(ln, seq, 0, &w, now, out, &n), 0);
    return n;
}

static void test_stops_once_per_threshold(void **state)
{
    struct live_notices ln;
    struct view_notice o[WEBHOOK_DERIVE_MAX];

    (void)state;
    rules(&ln, 3, 1, 0, 0);
    assert_int_equal(change(&ln, 1, wp("r1", "PENDING", 5, NOW + 60 * MIN_MS), NOW, o), 0);
    assert_int_equal(change(&ln, 2, wp("r1", "PENDING", 3, NOW + 60 * MIN_MS), NOW, o), 1);
    assert_int_equal(o[0].seq, 2);
    assert_int_equal(o[0].eta_changed, 0);
    assert_int_equal(o[0].by_stops, 1);
    assert_int_equal(o[0].threshold, 3);
    assert_int_equal(o[0].value, 3);
    assert_string_equal(o[0].waypoint_id, "w1");
    assert_string_equal(o[0].customer_id, "c");
    /* the same threshold again, and a step back out and in: nothing */
    assert_int_equal(change(&ln, 3, wp("r1", "PENDING", 2, NOW + 60 * MIN_MS), NOW, o), 0);
    assert_int_equal(change(&ln, 4, wp("r1", "PENDING", 4, NOW + 60 * MIN_MS), NOW, o), 0);
    assert_int_equal(change(&ln, 5, wp("r1", "PENDING", 3, NOW + 60 * MIN_MS), NOW, o), 0);
    assert_int_equal(change(&ln, 6, wp("r1", "PENDING", 1, NOW + 60 * MIN_MS), NOW, o), 1);
    assert_int_equal(o[0].threshold, 1);
    assert_int_equal(change(&ln, 7, wp("r1", "PENDING", 0, NOW + 60 * MIN_MS), NOW, o), 0);
    live_notices_clear(&ln);
}

static void test_new_route_rearms(void **state)
{
    struct live_notices ln;
    struct view_notice o[WEBHOOK_DERIVE_MAX];

    (void)state;
    rules(&ln, 3, 0, 0, 0);
    assert_int_equal(change(&ln, 1, wp("r1", "PENDING", 2, NOW + 60 * MIN_MS), NOW, o), 1);
    assert_int_equal(change(&ln, 2, wp("r1", "PENDING", 2, NOW + 60 * MIN_MS), NOW, o), 0);
    assert_int_equal(change(&ln, 3, wp("r2", "PENDING", 2, NOW + 60 * MIN_MS), NOW, o), 1);
    assert_int_equal(o[0].threshold, 3);
    assert_int_equal(o[0].seq, 3);
    live_notices_clear(&ln);
}

static void test_eta_drift_accumulates(void **state)
{
    struct live_notices ln;
    struct view_notice o[WEBHOOK_DERIVE_MAX];
    int64_t eta = NOW + 60 * MIN_MS;

    (void)state;
    rules(&ln, 0, 0, 0, 5);
    assert_int_equal(change(&ln, 1, wp("r1", "PENDING", 9, eta), NOW, o), 0); /* the baseline */
    assert_int_equal(change(&ln, 2, wp("r1", "PENDING", 9, eta + 2 * MIN_MS), NOW, o), 0);
    assert_int_equal(change(&ln, 3, wp("r1", "PENDING", 9, eta + 4 * MIN_MS), NOW, o), 0);
    assert_int_equal(change(&ln, 4, wp("r1", "PENDING", 9, eta + 6 * MIN_MS), NOW, o), 1);
    assert_int_equal(o[0].eta_changed, 1);
    assert_int_equal(o[0].threshold, 5);
    assert_int_equal(o[0].value, 6);
    assert_int_equal(o[0].previous_eta, eta);
    assert_int_equal(o[0].eta, eta + 6 * MIN_MS);
    /* the new baseline is the ETA told */
    assert_int_equal(change(&ln, 5, wp("r1", "PENDING", 9, eta + 2 * MIN_MS), NOW, o), 0);
    assert_int_equal(change(&ln, 6, wp("r1", "PENDING", 9, eta), NOW, o), 1);
    assert_int_equal(o[0].value, -6);
    live_notices_clear(&ln);
}

static void test_minutes_by_clock_and_status(void **state)
{
    struct live_notices ln;
    struct view_notice o[WEBHOOK_DERIVE_MAX];
    int64_t eta = NOW + 15 * MIN_MS;

    (void)state;
    rules(&ln, 0, 0, 10, 0);
    assert_int_equal(change(&ln, 1, wp("r1", "PENDING", 9, eta), NOW, o), 0);
    /* the same waypoint, 5 min 30 s later: 9 min 30 s to go, "about 10" */
    assert_int_equal(change(&ln, 1, wp("r1", "PENDING", 9, eta), NOW + 5 * MIN_MS + 30000, o), 1);
    assert_int_equal(o[0].by_stops, 0);
    assert_int_equal(o[0].threshold, 10);
    assert_int_equal(o[0].value, 10);
    assert_int_equal(change(&ln, 1, wp("r1", "PENDING", 9, eta), NOW + 6 * MIN_MS, o), 0);
    live_notices_clear(&ln);
    /* not PENDING: no approach */
    rules(&ln, 3, 0, 10, 0);
    assert_int_equal(change(&ln, 1, wp("r1", "COMPLETED", 0, NOW), NOW, o), 0);
    live_notices_clear(&ln);
}

static void test_waypoints_apart_and_removed(void **state)
{
    struct live_notices ln;
    struct view_notice o[WEBHOOK_DERIVE_MAX];
    struct waypoint w2 = wp("r1", "PENDING", 2, NOW + 60 * MIN_MS);
    size_t n = 9;

    (void)state;
    rules(&ln, 3, 0, 0, 0);
    assert_int_equal(change(&ln, 1, wp("r1", "PENDING", 2, NOW + 60 * MIN_MS), NOW, o), 1);
    w2.id = (char *)"w2";
    assert_int_equal(change(&ln, 2, w2, NOW, o), 1);
    assert_string_equal(o[0].waypoint_id, "w2");
    /* removed then back: new again */
    assert_int_equal(live_notices_change(&ln, 3, 1, &w2, NOW, o, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(change(&ln, 4, w2, NOW, o), 1);
    live_notices_clear(&ln);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stops_once_per_threshold),
        cmocka_unit_test(test_new_route_rearms),
        cmocka_unit_test(test_eta_drift_accumulates),
        cmocka_unit_test(test_minutes_by_clock_and_status),
        cmocka_unit_test(test_waypoints_apart_and_removed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

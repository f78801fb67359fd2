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

struct told {
    struct view_notice v[8];
    size_t n;
};

static void record(const struct view_notice *n, void *arg)
{
    struct told *t = arg;

    assert_true(t->n < 8);
    t->v[t->n++] = *n;
}

/* A connection's subscriptions: each covers its scope from its start, two
 * asking the same threshold are told once per change, a subscribe again
 * starts afresh and one without notices forgets. */
static void test_subscriptions_of_one_connection(void **state)
{
    struct view_notices three = {.wanted = 1, .stops = {3}, .nstops = 1};
    struct view_notices one = {.wanted = 1, .stops = {1}, .nstops = 1};
    struct live_notice_subs ss = {0};
    struct waypoint w = wp("r1", "PENDING", 3, NOW + 60 * MIN_MS);
    struct told t = {0};

    (void)state;
    assert_int_equal(live_notice_subs_set(&ss, "d", NULL, 5, &three), 0);
    assert_int_equal(live_notice_subs_set(&ss, "d", "c", 7, &three), 0);
    assert_int_equal(live_notice_subs_set(&ss, "d", "other", 0, &one), 0);
    assert_int_equal(ss.n, 3);
    /* At or before both starts: nobody's. */
    assert_int_equal(live_notice_subs_change(&ss, 5, 0, &w, NOW, record, &t), 0);
    assert_int_equal(t.n, 0);
    /* After the DC's start only: the DC tells it. */
    assert_int_equal(live_notice_subs_change(&ss, 6, 0, &w, NOW, record, &t), 0);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.v[0].threshold, 3);
    /* The customer's subscription starts being told now; the DC's was told
     * on this route already and stays quiet. */
    t.n = 0;
    assert_int_equal(live_notice_subs_change(&ss, 8, 0, &w, NOW, record, &t), 0);
    assert_int_equal(t.n, 1);
    /* A new route re-arms both, and both tell the same crossing of 3 in one
     * change: the connection hears it once. The customer "other" does not
     * cover c's waypoint. */
    t.n = 0;
    w = wp("r2", "PENDING", 1, NOW + 60 * MIN_MS);
    assert_int_equal(live_notice_subs_change(&ss, 9, 0, &w, NOW, record, &t), 0);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.v[0].threshold, 3);
    assert_int_equal(t.v[0].value, 1);
    /* Subscribing again starts afresh; without notices forgets. */
    assert_int_equal(live_notice_subs_set(&ss, "d", "c", 9, &three), 0);
    assert_int_equal(ss.n, 3);
    assert_int_equal(live_notice_subs_set(&ss, "d", NULL, 0, NULL), 0);
    assert_int_equal(ss.n, 2);
    t.n = 0;
    assert_int_equal(live_notice_subs_change(&ss, 10, 0, &w, NOW, record, &t), 0);
    assert_int_equal(t.n, 1); /* the customer's fresh state: 1 ahead crosses 3 */
    assert_int_equal(live_notice_subs_set(&ss, "d", "nobody", 0, NULL), 0);
    assert_int_equal(ss.n, 2);
    live_notice_subs_clear(&ss);
    assert_int_equal(ss.n, 0);
    assert_null(ss.v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stops_once_per_threshold),
        cmocka_unit_test(test_new_route_rearms),
        cmocka_unit_test(test_eta_drift_accumulates),
        cmocka_unit_test(test_minutes_by_clock_and_status),
        cmocka_unit_test(test_waypoints_apart_and_removed),
        cmocka_unit_test(test_subscriptions_of_one_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

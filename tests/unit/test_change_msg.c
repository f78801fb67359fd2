/* SPDX-License-Identifier: MIT */
/* Unit tests for change_msg.c: a change becomes one push message, with
 * LWS_PRE headroom, its seq and time, and routed by its ids; a removal
 * carries only the ids. */
#include "change_msg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <libwebsockets.h>

#include "model.h"
#include "msg.h"
#include "store.h"

static char *json(const struct msg *m)
{
    static char text[1024];

    assert_true(m->len < sizeof(text));
    memcpy(text, m->buf + m->pre, m->len);
    text[m->len] = '\0';
    return text;
}

static void test_upsert_renders_the_waypoint(void **state)
{
    struct store_change c = {.seq = 41, .changed_ms = 1700000000123LL, .kind = STORE_CHANGE_UPSERT};
    struct msg *m;

    (void)state;
    c.w.dc_id = "d1";
    c.w.id = "w1";
    c.w.customer_id = "c1";
    c.w.route_id = "r";
    c.w.status = "PENDING";
    m = change_msg_render(&c);
    assert_non_null(m);
    assert_int_equal(m->pre, LWS_PRE);
    assert_int_equal(m->seq, 41);
    assert_int_equal(m->changed_ms, 1700000000123LL);
    assert_string_equal(msg_dc_id(m), "d1");
    assert_string_equal(msg_customer_id(m), "c1");
    assert_non_null(strstr(json(m), "\"type\":\"waypoint\""));
    assert_non_null(strstr(json(m), "\"seq\":41"));
    assert_non_null(strstr(json(m), "\"status\":\"PENDING\""));
    msg_unref(m);
}

static void test_delete_renders_the_ids_only(void **state)
{
    struct store_change c = {.seq = 42, .changed_ms = 5, .kind = STORE_CHANGE_DELETE};
    struct msg *m;

    (void)state;
    c.w.dc_id = "d1";
    c.w.id = "w1";
    c.w.customer_id = "c1";
    m = change_msg_render(&c);
    assert_non_null(m);
    assert_int_equal(m->seq, 42);
    assert_string_equal(msg_customer_id(m), "c1");
    assert_non_null(strstr(json(m), "\"type\":\"waypoint_removed\""));
    assert_non_null(strstr(json(m), "\"waypoint_id\":\"w1\""));
    assert_null(strstr(json(m), "status"));
    msg_unref(m);
}

/* The fields the live notices read ride on the message, copied (the change
 * is freed long before the message). */
static void test_the_message_carries_what_notices_read(void **state)
{
    struct store_change c = {.seq = 7, .kind = STORE_CHANGE_UPSERT};
    char route[] = "r1", status[] = "PENDING";
    struct msg *m;

    (void)state;
    c.w.dc_id = "d1";
    c.w.id = "w1";
    c.w.customer_id = "c1";
    c.w.route_id = route;
    c.w.status = status;
    c.w.waypoints_ahead = 3;
    c.w.estimated_time_of_arrival = 1700000060000LL;
    c.w.nulls = WAYPOINT_NULL_WAITING;
    m = change_msg_render(&c);
    assert_non_null(m);
    memcpy(route, "xx", 3);
    memcpy(status, "FAILED", 7);
    assert_int_equal(m->has_wp, 1);
    assert_int_equal(m->wp_deleted, 0);
    assert_int_equal(m->notice, 0);
    assert_string_equal(m->wp.dc_id, "d1");
    assert_string_equal(m->wp.customer_id, "c1");
    assert_string_equal(m->wp.id, "w1");
    assert_string_equal(m->wp.route_id, "r1");
    assert_string_equal(m->wp.status, "PENDING");
    assert_int_equal(m->wp.waypoints_ahead, 3);
    assert_int_equal(m->wp.estimated_time_of_arrival, 1700000060000LL);
    assert_int_equal(m->wp.nulls, WAYPOINT_NULL_WAITING);
    msg_unref(m);
    c.kind = STORE_CHANGE_DELETE;
    c.w.route_id = c.w.status = NULL;
    m = change_msg_render(&c);
    assert_non_null(m);
    assert_int_equal(m->has_wp, 1);
    assert_int_equal(m->wp_deleted, 1);
    assert_string_equal(m->wp.id, "w1");
    assert_null(m->wp.status);
    msg_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upsert_renders_the_waypoint),
        cmocka_unit_test(test_delete_renders_the_ids_only),
        cmocka_unit_test(test_the_message_carries_what_notices_read),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

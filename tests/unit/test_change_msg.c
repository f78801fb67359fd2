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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upsert_renders_the_waypoint),
        cmocka_unit_test(test_delete_renders_the_ids_only),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT
 *
 * webhook.c: event names and lists, endpoint URLs, threshold lists.
 */
#include "webhook.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void test_event_names(void **state)
{
    (void)state;
    assert_string_equal(webhook_event_name(WEBHOOK_WAYPOINT_STATUS_CHANGED), "waypoint.status_changed");
    assert_string_equal(webhook_event_alias(WEBHOOK_WAYPOINT_STATUS_CHANGED), "WAYPOINT_STATUS_CHANGED");
    assert_string_equal(webhook_event_name(WEBHOOK_WAYPOINT_ETA_CHANGED), "waypoint.eta_changed");
    assert_string_equal(webhook_event_name(WEBHOOK_WAYPOINT_APPROACHING), "waypoint.approaching");
    assert_string_equal(webhook_event_name(WEBHOOK_WAYPOINT_REMOVED), "waypoint.removed");
    assert_string_equal(webhook_event_name(WEBHOOK_CUSTOMER_LOCATION_CONFIDENT), "customer.location_confident");
    assert_string_equal(webhook_event_alias(WEBHOOK_CUSTOMER_LOCATION_CONFIDENT), "CUSTOMER_LOCATION_CONFIDENT");
    assert_string_equal(webhook_event_name(WEBHOOK_TEST), "webhook.test");
}

static void test_events_parse_and_format(void **state)
{
    unsigned mask = 0;
    char bad[16] = "", out[256];

    (void)state;
    assert_int_equal(webhook_events_parse("waypoint.removed,WAYPOINT_STATUS_CHANGED,waypoint.removed", &mask, bad,
                                          sizeof(bad)),
                     0);
    assert_int_equal(mask, WEBHOOK_EVENT_BIT(WEBHOOK_WAYPOINT_REMOVED) |
                               WEBHOOK_EVENT_BIT(WEBHOOK_WAYPOINT_STATUS_CHANGED));
    assert_int_equal(webhook_events_format(mask, out, sizeof(out)), 0);
    assert_string_equal(out, "waypoint.status_changed,waypoint.removed");
    assert_int_equal(webhook_events_format(WEBHOOK_EVENTS_DEFAULT, out, sizeof(out)), 0);
    assert_string_equal(out, "waypoint.status_changed,waypoint.eta_changed,waypoint.approaching,waypoint.removed,"
                             "customer.location_confident");
    assert_int_equal(webhook_events_format(0, out, sizeof(out)), -EINVAL);
    assert_int_equal(webhook_events_format(WEBHOOK_EVENTS_DEFAULT, out, 20), -ENOSPC);

    assert_int_equal(webhook_events_parse("waypoint.status_changed,route.created", &mask, bad, sizeof(bad)), -EINVAL);
    assert_string_equal(bad, "route.created");
    assert_int_equal(webhook_events_parse("waypoint.approaching,waypoint.approaching_soon_or_later", &mask, bad,
                                          sizeof(bad)),
                     -EINVAL);
    assert_string_equal(bad, "waypoint.approa"); /* cut to badlen - 1 and the NUL */
    assert_int_equal(webhook_events_parse("", &mask, NULL, 0), -EINVAL);
    assert_int_equal(webhook_events_parse("waypoint.removed,", &mask, NULL, 0), -EINVAL);
    assert_int_equal(webhook_events_parse(",waypoint.removed", &mask, NULL, 0), -EINVAL);
    assert_int_equal(webhook_events_parse("Waypoint.Removed", &mask, NULL, 0), -EINVAL);
    assert_int_equal(webhook_events_parse("waypoint.removed ", &mask, NULL, 0), -EINVAL);
}

static void test_url_check(void **state)
{
    static const char *const good[] = {
        "https://example.com",          "https://example.com/",          "HTTPS://Example.com:8443/hooks?x=1",
        "https://[2001:db8::1]:443/h",  "https://127.0.0.1/h",           "https://a.b/p%20q",
    };
    static const char *const malformed[] = {
        "https://",         "https:///path",         "https://:443/",      "https://host:/",
        "https://host:0/",  "https://host:65536/",   "https://host:8x/",   "https://user:pw@host/",
        "https://host/#f",  "https://host/a b",      "https://host/\t",    "https://h\xc3\xa9.example/",
        "https://[::1/",    "example.com/hooks",     "",                   "https://host\\evil/",
    };
    static const char *const other_scheme[] = {"http://example.com/", "ftp://example.com/", "wss://example.com/",
                                               "HTTP://example.com/"};
    char long_url[WEBHOOK_URL_MAX + 2];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(webhook_url_check(good[i]), 0);
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        if (webhook_url_check(malformed[i]) != -EINVAL)
            fail_msg("accepted or misjudged: %s", malformed[i]);
    }
    for (size_t i = 0; i < sizeof(other_scheme) / sizeof(other_scheme[0]); i++)
        assert_int_equal(webhook_url_check(other_scheme[i]), -EPROTONOSUPPORT);
    memcpy(long_url, "https://h/", 10);
    memset(long_url + 10, 'a', sizeof(long_url) - 11);
    long_url[sizeof(long_url) - 1] = '\0';
    assert_int_equal(webhook_url_check(long_url), -EINVAL);
    long_url[WEBHOOK_URL_MAX] = '\0';
    assert_int_equal(webhook_url_check(long_url), 0);
}

static void test_thresholds(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(webhook_thresholds_parse("1,3", 1, 1000, 0, out, sizeof(out)), 0);
    assert_string_equal(out, "3,1");
    assert_int_equal(webhook_thresholds_parse("5,10,5", 1, 1440, 0, out, sizeof(out)), 0);
    assert_string_equal(out, "10,5");
    assert_int_equal(webhook_thresholds_parse("", 1, 1440, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(webhook_thresholds_parse("", 1, 1440, 0, out, sizeof(out)), -EINVAL);
    assert_int_equal(webhook_thresholds_parse("0", 1, 1000, 0, out, sizeof(out)), -EINVAL);
    assert_int_equal(webhook_thresholds_parse("1001", 1, 1000, 0, out, sizeof(out)), -EINVAL);
    assert_int_equal(webhook_thresholds_parse("3,", 1, 1000, 0, out, sizeof(out)), -EINVAL);
    assert_int_equal(webhook_thresholds_parse("3,,1", 1, 1000, 0, out, sizeof(out)), -EINVAL);
    assert_int_equal(webhook_thresholds_parse("-3", 1, 1000, 0, out, sizeof(out)), -EINVAL);
    assert_int_equal(webhook_thresholds_parse("3 ,1", 1, 1000, 0, out, sizeof(out)), -EINVAL);
    assert_int_equal(webhook_thresholds_parse("99999999999999999999", 1, 1000, 0, out, sizeof(out)), -EINVAL);
    assert_int_equal(webhook_thresholds_parse("1,2,3,4,5,6,7,8,9", 1, 1000, 0, out, sizeof(out)), -EINVAL);
    assert_int_equal(webhook_thresholds_parse("100,200", 1, 1000, 0, out, 5), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_names),
        cmocka_unit_test(test_events_parse_and_format),
        cmocka_unit_test(test_url_check),
        cmocka_unit_test(test_thresholds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

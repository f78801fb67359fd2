/* SPDX-License-Identifier: MIT
 *
 * redis_url.c's parse: host, port, database, user and password; what is
 * refused; the password from WAYPOINTD_REDIS_PASSWORD when the URL has
 * none; a description that never shows the password.
 */
#include "redis_url.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_host_port_db(void **state)
{
    struct redis_addr a;
    char buf[128];

    (void)state;
    unsetenv("WAYPOINTD_REDIS_PASSWORD");
    assert_int_equal(redis_url_parse("redis://127.0.0.1:6379", &a), 0);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 6379);
    assert_int_equal(a.dbnum, 0);
    assert_null(a.user);
    assert_null(a.password);
    redis_addr_clear(&a);
    assert_int_equal(redis_url_parse("redis://cache.internal:7000/3", &a), 0);
    assert_string_equal(a.host, "cache.internal");
    assert_int_equal(a.dbnum, 3);
    assert_string_equal(redis_addr_describe(&a, buf, sizeof(buf)), "redis://cache.internal:7000/3");
    redis_addr_clear(&a);
}

static void test_password_and_user(void **state)
{
    struct redis_addr a;
    char buf[128];

    (void)state;
    unsetenv("WAYPOINTD_REDIS_PASSWORD");
    assert_int_equal(redis_url_parse("redis://:s3cr@t@10.0.0.5:6379/1", &a), 0);
    assert_null(a.user);
    assert_string_equal(a.password, "s3cr@t"); /* the last '@' ends it */
    assert_string_equal(a.host, "10.0.0.5");
    assert_null(strstr(redis_addr_describe(&a, buf, sizeof(buf)), "s3cr"));
    redis_addr_clear(&a);
    assert_int_equal(redis_url_parse("redis://edge:pw@h:1", &a), 0);
    assert_string_equal(a.user, "edge");
    assert_string_equal(a.password, "pw");
    redis_addr_clear(&a);
}

static void test_password_from_the_environment(void **state)
{
    struct redis_addr a;

    (void)state;
    setenv("WAYPOINTD_REDIS_PASSWORD", "fromenv", 1);
    assert_int_equal(redis_url_parse("redis://h:1", &a), 0);
    assert_string_equal(a.password, "fromenv");
    redis_addr_clear(&a);
    assert_int_equal(redis_url_parse("redis://:inurl@h:1", &a), 0);
    assert_string_equal(a.password, "inurl"); /* the URL's wins */
    redis_addr_clear(&a);
    unsetenv("WAYPOINTD_REDIS_PASSWORD");
}

static void test_refused(void **state)
{
    static const char *const bad[] = {
        "http://h:1", "redis://h", "redis://:1", "redis://h:0", "redis://h:65536", "redis://h:1/x",
        "redis://h:1/", "redis://user@h:1", "redis://:@h:1", "redis://h:1x", "redis://h/0:1", "",
    };
    struct redis_addr a;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(redis_url_parse(bad[i], &a), -EINVAL);
        assert_null(a.host);
        assert_null(a.password);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_port_db),
        cmocka_unit_test(test_password_and_user),
        cmocka_unit_test(test_password_from_the_environment),
        cmocka_unit_test(test_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

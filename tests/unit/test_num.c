/* SPDX-License-Identifier: MIT
 * num.c: range-checked option parsing and saturating arithmetic (issue 11,
 * review H2: --log-keep-seconds 9223372036854775807 wrapped to -1000 ms). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "num.h"

static void test_parse_i64_in_range(void **state)
{
    int64_t v = -7;

    (void)state;
    assert_int_equal(num_parse_i64("0", 0, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(num_parse_i64("10", 0, 10, &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(num_parse_i64("-5", -5, 5, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(num_parse_i64("+3", 0, 5, &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(num_parse_i64("9223372036854775807", 0, INT64_MAX, &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(num_parse_i64("-9223372036854775808", INT64_MIN, 0, &v), 0);
    assert_true(v == INT64_MIN);
}

static void test_parse_i64_out_of_range(void **state)
{
    int64_t v = 42;

    (void)state;
    assert_int_equal(num_parse_i64("11", 0, 10, &v), -ERANGE);
    assert_int_equal(num_parse_i64("-1", 0, 10, &v), -ERANGE);
    assert_int_equal(num_parse_i64("9223372036854775807", 0, 3153600000LL, &v), -ERANGE);
    /* Beyond 64 bits, in either direction. */
    assert_int_equal(num_parse_i64("99999999999999999999", 0, INT64_MAX, &v), -ERANGE);
    assert_int_equal(num_parse_i64("-99999999999999999999", INT64_MIN, 0, &v), -ERANGE);
    assert_int_equal(v, 42); /* untouched */
}

static void test_parse_i64_not_a_number(void **state)
{
    static const char *const bad[] = {"", " 1", "1 ", "1.5", "1e3", "0x10", "12abc", "abc", "-", "+", "--1", ".5", "-.5"};
    int64_t v = 42;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(num_parse_i64(bad[i], INT64_MIN, INT64_MAX, &v), -EINVAL);
    assert_int_equal(num_parse_i64(NULL, 0, 1, &v), -EINVAL);
    assert_int_equal(v, 42);
}

static void test_parse_double(void **state)
{
    double v = 9;

    (void)state;
    assert_int_equal(num_parse_double("0.01", 0.01, 1000, &v), 0);
    assert_true(v == 0.01);
    assert_int_equal(num_parse_double("2", 0.01, 1000, &v), 0);
    assert_true(v == 2);
    assert_int_equal(num_parse_double("1e3", 0.01, 1000, &v), 0);
    assert_true(v == 1000);
    assert_int_equal(num_parse_double("0", 0.01, 1000, &v), -ERANGE);
    assert_int_equal(num_parse_double("1e9", 0.01, 1000, &v), -ERANGE);
    assert_int_equal(num_parse_double("1e999", 0.01, 1000, &v), -EINVAL); /* inf */
    assert_int_equal(num_parse_double("nan", 0.01, 1000, &v), -EINVAL);
    assert_int_equal(num_parse_double("inf", 0.01, 1000, &v), -EINVAL);
    assert_int_equal(num_parse_double("0x10", 0.01, 1000, &v), -EINVAL);
    assert_int_equal(num_parse_double(" 2", 0.01, 1000, &v), -EINVAL);
    assert_int_equal(num_parse_double("2x", 0.01, 1000, &v), -EINVAL);
    assert_int_equal(num_parse_double("", 0.01, 1000, &v), -EINVAL);
    assert_true(v == 1000);
}

static void test_saturating(void **state)
{
    (void)state;
    assert_true(num_sat_mul(3, 1000) == 3000);
    assert_true(num_sat_mul(-3, 1000) == -3000);
    assert_true(num_sat_mul(INT64_MAX, 1000) == INT64_MAX); /* review H2: was -1000 */
    assert_true(num_sat_mul(INT64_MAX / 1000 + 1, 1000) == INT64_MAX);
    assert_true(num_sat_mul(INT64_MAX / 1000, 1000) == INT64_MAX / 1000 * 1000);
    assert_true(num_sat_mul(INT64_MIN, 2) == INT64_MIN);
    assert_true(num_sat_mul(INT64_MIN, -1) == INT64_MAX);
    assert_true(num_sat_mul(-INT64_MAX, 2) == INT64_MIN);
    assert_true(num_sat_mul(0, INT64_MAX) == 0);
    assert_true(num_sat_add(INT64_MAX, 1) == INT64_MAX);
    assert_true(num_sat_add(INT64_MIN, -1) == INT64_MIN);
    assert_true(num_sat_add(40, 2) == 42);
    assert_true(num_sat_sub(INT64_MIN, 1) == INT64_MIN);
    assert_true(num_sat_sub(0, INT64_MIN) == INT64_MAX);
    assert_true(num_sat_sub(1700000000000LL, INT64_MAX) == 1700000000000LL - INT64_MAX);
    assert_true(num_sat_sub(-1700000000000LL, INT64_MAX) == INT64_MIN);
    assert_true(num_sat_sub(50, 8) == 42);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_i64_in_range),     cmocka_unit_test(test_parse_i64_out_of_range),
        cmocka_unit_test(test_parse_i64_not_a_number), cmocka_unit_test(test_parse_double),
        cmocka_unit_test(test_saturating),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

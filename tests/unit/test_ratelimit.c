/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ratelimit.h"

#define SEC 1000000ll

static void test_disabled_is_null_and_allows(void **state)
{
    int err = -1;
    struct ratelimit *rl = ratelimit_new(0, 10, 16, &err);

    (void)state;
    assert_null(rl);
    assert_int_equal(err, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(ratelimit_take(NULL, 7, 0), 0);
}

static void test_burst_then_refusal_with_retry_after(void **state)
{
    int err;
    struct ratelimit *rl = ratelimit_new(2, 4, 64, &err);

    (void)state;
    assert_non_null(rl);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ratelimit_take(rl, 1, 10 * SEC), 0);
    /* Empty: one token comes back after half a second, so 1 s (rounded up). */
    assert_int_equal(ratelimit_take(rl, 1, 10 * SEC), 1);
    /* Another id has its own bucket. */
    assert_int_equal(ratelimit_take(rl, 2, 10 * SEC), 0);
    /* After 0.5 s exactly one token is back. */
    assert_int_equal(ratelimit_take(rl, 1, 10 * SEC + SEC / 2), 0);
    assert_int_not_equal(ratelimit_take(rl, 1, 10 * SEC + SEC / 2), 0);
    ratelimit_free(rl);
}

static void test_slow_rate_gives_longer_retry_after(void **state)
{
    int err;
    struct ratelimit *rl = ratelimit_new(0.25, 1, 8, &err); /* one per 4 s */

    (void)state;
    assert_int_equal(ratelimit_take(rl, 9, 0), 0);
    assert_int_equal(ratelimit_take(rl, 9, 0), 4);
    assert_int_equal(ratelimit_take(rl, 9, 3 * SEC), 1);
    assert_int_equal(ratelimit_take(rl, 9, 4 * SEC), 0);
    ratelimit_free(rl);
}

static void test_refills_to_burst_only(void **state)
{
    int err;
    struct ratelimit *rl = ratelimit_new(100, 3, 8, &err);

    (void)state;
    assert_int_equal(ratelimit_take(rl, 5, 0), 0);
    /* An hour idle refills to the burst, not beyond. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(ratelimit_take(rl, 5, 3600 * SEC), 0);
    assert_int_not_equal(ratelimit_take(rl, 5, 3600 * SEC), 0);
    ratelimit_free(rl);
}

static void test_memory_bounded_and_full_table_lets_new_ids_through(void **state)
{
    int err;
    struct ratelimit *rl = ratelimit_new(1, 1, 16, &err);

    (void)state;
    /* 1000 busy ids at one instant: the table never tracks more than its
     * capacity, and ids beyond it are let through. */
    for (uint64_t id = 0; id < 1000; id++)
        assert_int_equal(ratelimit_take(rl, id, 0), 0);
    assert_true(ratelimit_size(rl) <= 16);
    /* Tracked ids are still limited. */
    assert_int_not_equal(ratelimit_take(rl, 0, 0), 0);
    /* Once their buckets refilled they are forgotten and room returns. */
    for (uint64_t id = 2000; id < 2010; id++)
        assert_int_equal(ratelimit_take(rl, id, 10 * SEC), 0);
    assert_true(ratelimit_size(rl) <= 16);
    assert_int_not_equal(ratelimit_take(rl, 2005, 10 * SEC), 0);
    ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled_is_null_and_allows),
        cmocka_unit_test(test_burst_then_refusal_with_retry_after),
        cmocka_unit_test(test_slow_rate_gives_longer_retry_after),
        cmocka_unit_test(test_refills_to_burst_only),
        cmocka_unit_test(test_memory_bounded_and_full_table_lets_new_ids_through),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

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

static void test_check_neither_takes_nor_tracks(void **state)
{
    int err;
    struct ratelimit *rl = ratelimit_new(1, 2, 64, &err);

    (void)state;
    /* An id never charged is allowed and not tracked. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(ratelimit_check(rl, 42, 0), 0);
    assert_int_equal(ratelimit_size(rl), 0);
    assert_int_equal(ratelimit_check(NULL, 42, 0), 0);
    /* Checking does not spend: two takes still fit after many checks. */
    assert_int_equal(ratelimit_take(rl, 42, 0), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(ratelimit_check(rl, 42, 0), 0);
    assert_int_equal(ratelimit_take(rl, 42, 0), 0);
    /* Empty: check says how long to wait, as take does. */
    assert_int_equal(ratelimit_check(rl, 42, 0), 1);
    assert_int_equal(ratelimit_take(rl, 42, 0), 1);
    assert_int_equal(ratelimit_check(rl, 42, SEC), 0);
    ratelimit_free(rl);
}

/* The most entries one take may examine: its group, once. */
#define PROBES_MAX RATELIMIT_WAYS

static void test_full_table_costs_bounded_work_per_new_id(void **state)
{
    int err;
    struct ratelimit *rl = ratelimit_new(1, 1, 4096, &err);
    uint64_t before, worst = 0;

    (void)state;
    /* Fill the table with busy ids (none refills for a second), and more. */
    for (uint64_t id = 1; id <= 3 * 4096; id++)
        assert_int_equal(ratelimit_take(rl, id, 0), 0);
    assert_true(ratelimit_size(rl) <= 4096);
    assert_true(ratelimit_size(rl) >= 4096 / 2);
    /* Every new id now meets a full table: the work per id stays bounded
     * (the old table rescanned all of its slots for each one). */
    for (uint64_t id = 100000; id < 101000; id++) {
        before = ratelimit_probes(rl);
        assert_int_equal(ratelimit_take(rl, id, SEC / 10), 0);
        if (ratelimit_probes(rl) - before > worst)
            worst = ratelimit_probes(rl) - before;
    }
    assert_true(worst <= PROBES_MAX);
    /* Ids already tracked are still limited. */
    assert_int_not_equal(ratelimit_take(rl, 1, SEC / 10), 0);
    ratelimit_free(rl);
}

/* The inverse of an odd multiplier modulo 2^64 (Newton's iteration). */
static uint64_t inverse(uint64_t a)
{
    uint64_t x = a;

    for (int i = 0; i < 6; i++)
        x *= 2 - a * x;
    return x;
}

static void test_aimed_collisions_do_not_share_one_chain(void **state)
{
    const uint64_t golden = 0x9E3779B97F4A7C15ull, inv = inverse(golden);
    const size_t cap = 65536, old_mask = 2 * cap - 1;
    int err;
    struct ratelimit *rl = ratelimit_new(1, 1, cap, &err);
    uint64_t ids[1000], worst = 0, before;

    (void)state;
    assert_int_equal(inv * golden, 1);
    /* 1000 ids that the old, unseeded home() sent to one slot: products
     * whose bits 17 and up (under the mask) are zero. */
    for (uint64_t i = 0; i < 1000; i++) {
        ids[i] = ((i + 1) << 35) * inv;
        assert_int_equal(((ids[i] * golden) >> 17) & old_mask, 0);
    }
    for (int i = 0; i < 1000; i++) {
        before = ratelimit_probes(rl);
        assert_int_equal(ratelimit_take(rl, ids[i], 0), 0);
        if (ratelimit_probes(rl) - before > worst)
            worst = ratelimit_probes(rl) - before;
    }
    /* No chain: each take looked at one group only ... */
    assert_true(worst <= PROBES_MAX);
    /* ... and none was dropped for lack of room: all are still limited. */
    for (int i = 0; i < 1000; i++)
        assert_int_not_equal(ratelimit_take(rl, ids[i], 0), 0);
    assert_int_equal(ratelimit_size(rl), 1000);
    ratelimit_free(rl);
}

static void test_hash_is_stable_and_spreads(void **state)
{
    const char a[] = "Bearer wpk_aaaa", b[] = "Bearer wpk_aaab";
    uint64_t h[64];

    (void)state;
    assert_true(ratelimit_hash(a, sizeof(a) - 1) == ratelimit_hash(a, sizeof(a) - 1));
    assert_true(ratelimit_hash(a, sizeof(a) - 1) != ratelimit_hash(b, sizeof(b) - 1));
    assert_true(ratelimit_hash("", 0) != ratelimit_hash(a, 1));
    /* Inputs of every length up to 63 bytes (all the tails) differ. */
    for (size_t n = 0; n < 64; n++) {
        char buf[64] = {0};

        h[n] = ratelimit_hash(buf, n);
        for (size_t m = 0; m < n; m++)
            assert_true(h[m] != h[n]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled_is_null_and_allows),
        cmocka_unit_test(test_burst_then_refusal_with_retry_after),
        cmocka_unit_test(test_slow_rate_gives_longer_retry_after),
        cmocka_unit_test(test_refills_to_burst_only),
        cmocka_unit_test(test_memory_bounded_and_full_table_lets_new_ids_through),
        cmocka_unit_test(test_check_neither_takes_nor_tracks),
        cmocka_unit_test(test_full_table_costs_bounded_work_per_new_id),
        cmocka_unit_test(test_aimed_collisions_do_not_share_one_chain),
        cmocka_unit_test(test_hash_is_stable_and_spreads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

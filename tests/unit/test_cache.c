/* SPDX-License-Identifier: MIT */
/* Unit tests for cache.c: lookups, replacement, emptying on a new
 * data_version and when full. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cache.h"

static void test_get_put_replace(void **state)
{
    struct cache *c = cache_new(8);
    const char *v;
    size_t len = 0;

    (void)state;
    assert_non_null(c);
    cache_sync(c, 1);
    assert_null(cache_get(c, "k", 1, &len));
    assert_int_equal(cache_put(c, "k", 1, "value", 5), 0);
    v = cache_get(c, "k", 1, &len);
    assert_non_null(v);
    assert_int_equal(len, 5);
    assert_memory_equal(v, "value", 5);
    /* Keys are bytes: "k\0" is another key than "k". */
    assert_null(cache_get(c, "k\0", 2, &len));
    assert_int_equal(cache_put(c, "k", 1, "other!", 6), 0);
    v = cache_get(c, "k", 1, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(v, "other!", 6);
    assert_int_equal(cache_size(c), 1);
    assert_int_equal(cache_hits(c), 2);
    assert_int_equal(cache_misses(c), 2);
    cache_free(c);
}

static void test_new_version_empties(void **state)
{
    struct cache *c = cache_new(8);
    size_t len;

    (void)state;
    cache_sync(c, 7);
    cache_put(c, "a", 1, "1", 1);
    cache_sync(c, 7); /* same version: kept */
    assert_non_null(cache_get(c, "a", 1, &len));
    cache_sync(c, 8); /* the database changed */
    assert_null(cache_get(c, "a", 1, &len));
    assert_int_equal(cache_size(c), 0);
    cache_free(c);
}

static void test_full_starts_over(void **state)
{
    struct cache *c = cache_new(4);
    char key[24];
    size_t len, found = 0;

    (void)state;
    cache_sync(c, 1);
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(cache_put(c, key, strlen(key), key, strlen(key)), 0);
    }
    assert_int_equal(cache_size(c), 4);
    assert_int_equal(cache_put(c, "k9", 2, "v", 1), 0); /* fifth: starts over */
    assert_int_equal(cache_size(c), 1);
    assert_non_null(cache_get(c, "k9", 2, &len));
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        found += cache_get(c, key, strlen(key), &len) != NULL;
    }
    assert_int_equal(found, 0);
    cache_free(c);
}

static void test_many_keys_all_found(void **state)
{
    struct cache *c = cache_new(1000);
    char key[16];
    size_t len;

    (void)state;
    cache_sync(c, 1);
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_int_equal(cache_put(c, key, strlen(key), &i, sizeof(i)), 0);
    }
    for (int i = 0; i < 1000; i++) {
        const int *v;

        snprintf(key, sizeof(key), "key-%d", i);
        v = cache_get(c, key, strlen(key), &len);
        assert_non_null(v);
        assert_int_equal(*v, i);
    }
    cache_free(c);
    cache_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_put_replace),
        cmocka_unit_test(test_new_version_empties),
        cmocka_unit_test(test_full_starts_over),
        cmocka_unit_test(test_many_keys_all_found),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

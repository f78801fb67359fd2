/* SPDX-License-Identifier: MIT */
/* Unit tests for utf8.c: repairing text another program stored, one U+FFFD
 * per maximal ill-formed subpart (the vectors of Unicode 15 section 3.9,
 * tables 3-8 to 3-11, and the WHATWG decoder), the valid rest kept.
 * Pure functions, no I/O. */
#include "utf8.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "path.h"

#define R UTF8_REPLACEMENT

/* Repair in[0..inlen) both ways (the buffer and the malloc'd copy) and
 * compare with want (NUL-terminated). */
static void check(const char *in, size_t inlen, const char *want)
{
    size_t wlen = strlen(want), n;
    char *buf = malloc(3 * inlen + 1), *dup;

    assert_non_null(buf);
    assert_int_equal(utf8_repaired_len(in, inlen), wlen);
    n = utf8_repair(in, inlen, buf);
    assert_int_equal(n, wlen);
    assert_memory_equal(buf, want, wlen);
    dup = utf8_dup_repaired(in, inlen);
    assert_non_null(dup);
    assert_string_equal(dup, want);
    /* Whatever came in, what goes out is UTF-8. */
    assert_int_equal(path_utf8_valid(dup, strlen(dup)), 1);
    assert_int_equal(utf8_valid_prefix(dup, strlen(dup)), strlen(dup));
    free(dup);
    free(buf);
}

#define CHECK(in, want) check(in, sizeof(in) - 1, want)

static void test_valid_text_is_kept(void **state)
{
    (void)state;
    CHECK("", "");
    CHECK("PENDING", "PENDING");
    CHECK("Z\xc3\xbcrich \xe2\x82\xac \xf0\x9f\x98\x80", "Z\xc3\xbcrich \xe2\x82\xac \xf0\x9f\x98\x80");
    CHECK("\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
          "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
    CHECK(R, R); /* a U+FFFD already there stays one */
}

static void test_issue_11_foreign_bytes(void **state)
{
    (void)state;
    /* The review's example: a lead byte before '(' (not a continuation). */
    CHECK("R\xc3(", "R" R "(");
    CHECK("PEN\xc3(", "PEN" R "(");
    /* Truncated at the end of the text. */
    CHECK("ab\xc3", "ab" R);
    CHECK("ab\xe2\x82", "ab" R);
    CHECK("ab\xf0\x9f\x98", "ab" R);
}

/* Unicode 15, table 3-8: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64. */
static void test_unicode_table_3_8(void **state)
{
    (void)state;
    CHECK("\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64", "a" R R R "b" R "c" R R "d");
}

/* Tables 3-9 to 3-11: no maximal subpart longer than one byte, so one U+FFFD
 * per byte. */
static void test_one_replacement_per_byte(void **state)
{
    (void)state;
    /* Non-shortest forms. */
    CHECK("\xc0\xaf\xe0\x80\xbf\xf0\x81\x82\x41", R R R R R R R R "A");
    /* Surrogates (ED A0..BF). */
    CHECK("\xed\xa0\x80\xed\xbf\xbf\xed\xaf\x41", R R R R R R R R "A");
    /* Past U+10FFFF and bytes that are never used. */
    CHECK("\xf4\x91\x92\x93\xff\x41\x80\xbf\x42", R R R R R "A" R R "B");
    /* A truncated sequence before more text. */
    CHECK("\xe1\x80\xe2\xf0\x91\x92\xf1\xbf\x41", R R R R "A");
}

static void test_lead_byte_ranges(void **state)
{
    (void)state;
    CHECK("\xc1\xbf", R R);                 /* C1 is never a lead */
    CHECK("\xe0\x9f\x80", R R R);           /* E0 needs A0..BF next */
    CHECK("\xe0\xa0", R);                   /* ... then is a subpart of one */
    CHECK("\xf0\x8f\x80\x80", R R R R);     /* F0 needs 90..BF next */
    CHECK("\xf0\x90\x80", R);               /* a 3-byte subpart of a 4-byte form */
    CHECK("\xf4\x90\x80\x80", R R R R);     /* F4 needs 80..8F next */
    CHECK("\xf5\x80", R R);                 /* F5..FF never lead */
    CHECK("\xe2\x82\xac\xe2\x28\xac", "\xe2\x82\xac" R "(" R); /* the valid rest kept */
}

static void test_nul_is_text(void **state)
{
    char *d;

    (void)state;
    /* U+0000 is ASCII: the length bounds the work, not a terminator. */
    assert_int_equal(utf8_valid_prefix("a\0\xc3", 3), 2);
    assert_int_equal(utf8_repaired_len("a\0\xc3", 3), 5);
    d = utf8_dup_repaired("a\xff", 1);
    assert_non_null(d);
    assert_string_equal(d, "a");
    free(d);
}

static void test_valid_prefix(void **state)
{
    (void)state;
    assert_int_equal(utf8_valid_prefix("", 0), 0);
    assert_int_equal(utf8_valid_prefix("abc", 3), 3);
    assert_int_equal(utf8_valid_prefix("ab\xc3\xa9" "c\xc3", 6), 5);
    assert_int_equal(utf8_valid_prefix("\xe2\x82\xac\xed\xa0\x80", 6), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_text_is_kept),
        cmocka_unit_test(test_issue_11_foreign_bytes),
        cmocka_unit_test(test_unicode_table_3_8),
        cmocka_unit_test(test_one_replacement_per_byte),
        cmocka_unit_test(test_lead_byte_ranges),
        cmocka_unit_test(test_nul_is_text),
        cmocka_unit_test(test_valid_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT
 *
 * whsig.c: Standard Webhooks v1 signing and verification, against the
 * specification's own test vector and bad inputs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "whsig.h"

/* The test vector of the Standard Webhooks reference libraries:
 * standard-webhooks/standard-webhooks, libraries/python/tests/test_webhooks.py,
 * test_sign_function():
 *     key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
 *     msg_id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
 *     timestamp = datetime.utcfromtimestamp(1614265330)
 *     payload = '{"test": 2432232314}'
 *     expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
 * and test_invalid_signature_raises_error() uses the same signature with its
 * last base64 digit changed (...J1OA=). */
#define VEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VEC_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VEC_TS 1614265330
#define VEC_TS_TEXT "1614265330"
#define VEC_BODY "{\"test\": 2432232314}"
#define VEC_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define VEC_SIG_BAD "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="

static struct whsig_key vec_key(void)
{
    struct whsig_key k;

    assert_int_equal(whsig_secret_parse(VEC_SECRET, &k), 0);
    return k;
}

static int verify(const struct whsig_key *keys, size_t n, const char *ts, const char *body, const char *header,
                  int64_t now)
{
    return whsig_verify(keys, n, VEC_ID, ts, body, strlen(body), header, now, WHSIG_TOLERANCE_S);
}

static void test_spec_vector_sign(void **state)
{
    struct whsig_key k = vec_key();
    char sig[WHSIG_SIG_LEN];

    (void)state;
    assert_int_equal(k.len, 24);
    assert_int_equal(whsig_sign(&k, VEC_ID, VEC_TS, VEC_BODY, strlen(VEC_BODY), sig), 0);
    assert_string_equal(sig, VEC_SIG);
}

static void test_spec_vector_verify(void **state)
{
    struct whsig_key k = vec_key();

    (void)state;
    assert_int_equal(verify(&k, 1, VEC_TS_TEXT, VEC_BODY, VEC_SIG, VEC_TS), 0);
    assert_int_equal(verify(&k, 1, VEC_TS_TEXT, VEC_BODY, VEC_SIG_BAD, VEC_TS), -EACCES);
    /* The spec's multi-signature case: unknown versions and wrong v1 items
     * around the right one. */
    assert_int_equal(verify(&k, 1, VEC_TS_TEXT, VEC_BODY,
                            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
                            VEC_SIG " v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
                            VEC_TS),
                     0);
}

static void test_tampered_body_id_or_timestamp(void **state)
{
    struct whsig_key k = vec_key();

    (void)state;
    assert_int_equal(verify(&k, 1, VEC_TS_TEXT, "{\"test\": 2432232315}", VEC_SIG, VEC_TS), -EACCES);
    assert_int_equal(verify(&k, 1, "1614265331", VEC_BODY, VEC_SIG, VEC_TS), -EACCES);
    assert_int_equal(whsig_verify(&k, 1, "msg_other", VEC_TS_TEXT, VEC_BODY, strlen(VEC_BODY), VEC_SIG, VEC_TS,
                                  WHSIG_TOLERANCE_S),
                     -EACCES);
}

static void test_timestamp_tolerance(void **state)
{
    struct whsig_key k = vec_key();

    (void)state;
    assert_int_equal(verify(&k, 1, VEC_TS_TEXT, VEC_BODY, VEC_SIG, VEC_TS + WHSIG_TOLERANCE_S), 0);
    assert_int_equal(verify(&k, 1, VEC_TS_TEXT, VEC_BODY, VEC_SIG, VEC_TS - WHSIG_TOLERANCE_S), 0);
    /* Too old (a replay) and too far ahead, as the reference tests. */
    assert_int_equal(verify(&k, 1, VEC_TS_TEXT, VEC_BODY, VEC_SIG, VEC_TS + WHSIG_TOLERANCE_S + 1), -ETIME);
    assert_int_equal(verify(&k, 1, VEC_TS_TEXT, VEC_BODY, VEC_SIG, VEC_TS - WHSIG_TOLERANCE_S - 1), -ETIME);
    assert_int_equal(verify(&k, 1, VEC_TS_TEXT, VEC_BODY, VEC_SIG, 1900000000), -ETIME);
}

static void test_malformed_timestamp_and_header(void **state)
{
    struct whsig_key k = vec_key();
    static const char *const bad_ts[] = {"", "hello", "-1614265330", "+1614265330", "1614265330 ", "16142653.30",
                                         "99999999999999999999999"};
    static const char *const bad_headers[] = {"", " ", "v1", "v1,", "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                                              "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",
                                              "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1O*="};

    (void)state;
    for (size_t i = 0; i < sizeof(bad_ts) / sizeof(bad_ts[0]); i++)
        assert_int_equal(verify(&k, 1, bad_ts[i], VEC_BODY, VEC_SIG, VEC_TS), -EINVAL);
    /* Nothing usable in the header: no item matches. */
    for (size_t i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++)
        assert_int_equal(verify(&k, 1, VEC_TS_TEXT, VEC_BODY, bad_headers[i], VEC_TS), -EACCES);
    assert_int_equal(whsig_verify(&k, 1, "", VEC_TS_TEXT, VEC_BODY, strlen(VEC_BODY), VEC_SIG, VEC_TS, 300), -EINVAL);
    assert_int_equal(whsig_verify(&k, 0, VEC_ID, VEC_TS_TEXT, VEC_BODY, strlen(VEC_BODY), VEC_SIG, VEC_TS, 300),
                     -EINVAL);
}

static void test_secret_parse_refuses(void **state)
{
    static const char *const bad[] = {
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",        /* no prefix */
        "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",   /* the asymmetric scheme's prefix */
        "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  /* prefixes are lower case */
        "whsec_",                                  /* empty */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",   /* not a multiple of 4 */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-w",  /* URL-safe alphabet */
        "whsec_MfKQ9r8GKYqrTwjU PD8ILPZIo2LaLaSw", /* whitespace */
        "whsec_MfKQ9r8G=YqrTwjUPD8ILPZIo2LaLaSw",  /* padding inside */
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAA=",      /* 20 bytes: below 24 */
    };
    struct whsig_key k;
    char long_secret[200] = "whsec_";

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(whsig_secret_parse(bad[i], &k), -EINVAL);
    /* 66 bytes: above the specification's 512 bits. */
    memset(long_secret + 6, 'A', 88);
    assert_int_equal(whsig_secret_parse(long_secret, &k), -EINVAL);
    /* 64 bytes, the maximum: 86 digits and "==". */
    long_secret[6 + 86] = '=';
    long_secret[6 + 87] = '=';
    assert_int_equal(whsig_secret_parse(long_secret, &k), 0);
    assert_int_equal(k.len, 64);
}

static void test_generate_format_parse_round_trip(void **state)
{
    struct whsig_key a, b, c;
    char text[WHSIG_SECRET_MAX], small[20];

    (void)state;
    assert_int_equal(whsig_secret_generate(&a), 0);
    assert_int_equal(whsig_secret_generate(&b), 0);
    assert_int_equal(a.len, WHSIG_KEY_GEN);
    assert_memory_not_equal(a.bytes, b.bytes, WHSIG_KEY_GEN);
    assert_int_equal(whsig_secret_format(&a, text, sizeof(text)), 0);
    assert_int_equal(strncmp(text, "whsec_", 6), 0);
    assert_int_equal(strlen(text), 6 + 44);
    assert_int_equal(whsig_secret_parse(text, &c), 0);
    assert_int_equal(c.len, a.len);
    assert_memory_equal(c.bytes, a.bytes, a.len);
    assert_int_equal(whsig_secret_format(&a, small, sizeof(small)), -ENOSPC);
}

static void test_rotation_both_secrets_verify(void **state)
{
    struct whsig_key keys[2], old_only[1], new_only[1], other;
    const char *body = "{\"type\":\"webhook.test\"}";
    char header[2 * WHSIG_SIG_LEN], one[WHSIG_SIG_LEN];

    (void)state;
    assert_int_equal(whsig_secret_generate(&keys[0]), 0); /* new */
    assert_int_equal(whsig_secret_generate(&keys[1]), 0); /* previous, in its grace period */
    assert_int_equal(whsig_secret_generate(&other), 0);
    new_only[0] = keys[0];
    old_only[0] = keys[1];
    assert_int_equal(whsig_header(keys, 2, "msg_1", 1700000000, body, strlen(body), header, sizeof(header)), 0);
    assert_non_null(strchr(header, ' '));
    assert_int_equal(whsig_sign(&keys[0], "msg_1", 1700000000, body, strlen(body), one), 0);
    assert_int_equal(strncmp(header, one, strlen(one)), 0);
    /* A receiver that knows only the old secret, or only the new one. */
    assert_int_equal(whsig_verify(old_only, 1, "msg_1", "1700000000", body, strlen(body), header, 1700000000, 300), 0);
    assert_int_equal(whsig_verify(new_only, 1, "msg_1", "1700000000", body, strlen(body), header, 1700000000, 300), 0);
    assert_int_equal(whsig_verify(&other, 1, "msg_1", "1700000000", body, strlen(body), header, 1700000000, 300),
                     -EACCES);
    /* A receiver holding both, checking a header signed with one. */
    assert_int_equal(whsig_verify(keys, 2, "msg_1", "1700000000", body, strlen(body), one, 1700000000, 300), 0);
    assert_int_equal(whsig_header(keys, 2, "msg_1", 1700000000, body, strlen(body), header, WHSIG_SIG_LEN), -ENOSPC);
}

static void test_sign_refuses_bad_id(void **state)
{
    struct whsig_key k = vec_key();
    char sig[WHSIG_SIG_LEN];

    (void)state;
    assert_int_equal(whsig_sign(&k, "", VEC_TS, VEC_BODY, strlen(VEC_BODY), sig), -EINVAL);
    assert_int_equal(whsig_sign(&k, "msg.1", VEC_TS, VEC_BODY, strlen(VEC_BODY), sig), -EINVAL);
    assert_int_equal(whsig_sign(&k, VEC_ID, -1, VEC_BODY, strlen(VEC_BODY), sig), -EINVAL);
}

static void test_base64(void **state)
{
    uint8_t out[8];
    char text[16];

    (void)state;
    assert_int_equal(whsig_b64_encode((const uint8_t *)"foob", 4, text, sizeof(text)), 8);
    assert_string_equal(text, "Zm9vYg==");
    assert_int_equal(whsig_b64_decode("Zm9vYg==", 8, out, sizeof(out)), 4);
    assert_memory_equal(out, "foob", 4);
    assert_int_equal(whsig_b64_decode("Zm9vYmE=", 8, out, sizeof(out)), 5);
    assert_int_equal(whsig_b64_decode("Zm9v", 4, out, sizeof(out)), 3);
    assert_int_equal(whsig_b64_decode("", 0, out, sizeof(out)), 0);
    assert_int_equal(whsig_b64_decode("Zm9vYg=", 7, out, sizeof(out)), -EINVAL);
    assert_int_equal(whsig_b64_decode("Zm9v=g==", 8, out, sizeof(out)), -EINVAL);
    assert_int_equal(whsig_b64_decode("Zm===", 5, out, sizeof(out)), -EINVAL);
    assert_int_equal(whsig_b64_decode("Z===", 4, out, sizeof(out)), -EINVAL);
    /* Non-zero bits after the last byte: a second spelling of the same bytes. */
    assert_int_equal(whsig_b64_decode("Zm9vYh==", 8, out, sizeof(out)), -EINVAL);
    assert_int_equal(whsig_b64_decode("Zm9vYmFy", 8, out, 5), -ENOSPC);
    assert_int_equal(whsig_b64_encode((const uint8_t *)"foob", 4, text, 8), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_vector_sign),
        cmocka_unit_test(test_spec_vector_verify),
        cmocka_unit_test(test_tampered_body_id_or_timestamp),
        cmocka_unit_test(test_timestamp_tolerance),
        cmocka_unit_test(test_malformed_timestamp_and_header),
        cmocka_unit_test(test_secret_parse_refuses),
        cmocka_unit_test(test_generate_format_parse_round_trip),
        cmocka_unit_test(test_rotation_both_secrets_verify),
        cmocka_unit_test(test_sign_refuses_bad_id),
        cmocka_unit_test(test_base64),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT
 *
 * libFuzzer driver for tracking tokens (auth.c). Every input is used twice:
 *
 * 1. As a token, as given and behind "wpt_" (so mutations reach the base64url
 *    and payload decoders without first finding the prefix): verifying must be
 *    harmless, and a token that verifies must be exactly the one
 *    auth_token_create makes for its fields (one spelling per token), and
 *    must fail under another secret.
 * 2. As fields, laid out as
 *        expiry (8 bytes, big endian) | dc length (2 bytes, big endian) | dc | customer
 *    for a property test: the created token verifies until its expiry and
 *    gives back the same DC, customer and expiry, is expired from then on,
 *    fits no buffer smaller than it needs, and stops verifying when any one
 *    character is changed or the last one dropped.
 */
#include "auth.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void other_secret(uint8_t out[STORE_SECRET_LEN])
{
    fuzz_secret(out);
    out[STORE_SECRET_LEN - 1] ^= 0x80;
}

/* The token text in a heap block of exactly len bytes (no NUL), so that
 * reading past len is an ASan report rather than a quiet read. */
static char *exact_copy(const char *prefix, const uint8_t *data, size_t size)
{
    size_t plen = strlen(prefix);
    char *t = malloc(plen + size ? plen + size : 1);

    FUZZ_CHECK(t != NULL);
    memcpy(t, prefix, plen);
    if (size)
        memcpy(t + plen, data, size);
    return t;
}

static void verify_as_token(const char *prefix, const uint8_t *data, size_t size)
{
    uint8_t secret[STORE_SECRET_LEN];
    size_t len = strlen(prefix) + size;
    char *tok = exact_copy(prefix, data, size), again[AUTH_TOKEN_MAX];
    struct auth_token t, t2;
    int rc;

    fuzz_secret(secret);
    memset(&t, 0xa5, sizeof(t));
    rc = auth_token_verify(secret, tok, len, FUZZ_NOW_MS, &t);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EKEYEXPIRED);
    if (rc == 0) {
        FUZZ_CHECK(t.expires_ms > FUZZ_NOW_MS);
        FUZZ_CHECK(memchr(t.dc_id, '\0', sizeof(t.dc_id)) && memchr(t.customer_id, '\0', sizeof(t.customer_id)));
        /* One spelling per token: made again from what it says, it is the
         * same bytes (a version 1 token, without an issue time, is only
         * read now, never made). */
        if (t.issued_ms) {
            FUZZ_CHECK(auth_token_create_at(secret, t.dc_id, t.customer_id, t.issued_ms, t.expires_ms, again,
                                            sizeof(again)) == 0);
            FUZZ_CHECK(strlen(again) == len && !memcmp(again, tok, len));
        }
        other_secret(secret);
        FUZZ_CHECK(auth_token_verify(secret, tok, len, FUZZ_NOW_MS, &t2) == -EINVAL);
    }
    free(tok);
}

/* A NUL-terminated copy of n bytes (an embedded NUL ends the id early, as it
 * would for any C caller). */
static char *c_string(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);

    FUZZ_CHECK(s != NULL);
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* auth_token_create into a block of exactly cap bytes. */
#define FUZZ_ISSUED_MS 1767225600000LL /* 2026-01-01 */

static int create_into(const char *dc, const char *cust, int64_t expires, size_t cap, char **out)
{
    uint8_t secret[STORE_SECRET_LEN];

    fuzz_secret(secret);
    *out = malloc(cap ? cap : 1);
    FUZZ_CHECK(*out != NULL);
    /* A fixed issue time: auth_token_create's "now" would make two
     * creations of the same token differ. */
    return auth_token_create_at(secret, dc, cust, FUZZ_ISSUED_MS, expires, *out, cap);
}

static int verify_at(const char *tok, size_t len, int64_t now, struct auth_token *t)
{
    uint8_t secret[STORE_SECRET_LEN];

    fuzz_secret(secret);
    return auth_token_verify(secret, tok, len, now, t);
}

/* Any single changed character, or a missing last one, must be refused. */
static void check_tampering(const char *tok, size_t len, int64_t now, const uint8_t *data, size_t size)
{
    char *bad = malloc(len);
    struct auth_token t;
    size_t pos = 0;
    char c;

    FUZZ_CHECK(bad != NULL);
    for (size_t i = 0; i < size; i++)
        pos = pos * 31 + data[i];
    pos %= len;
    memcpy(bad, tok, len);
    /* Mostly another base64url character (the decoder must not mind), now
     * and then any byte at all. */
    c = size && data[size - 1] & 0x80 ? (char)data[size - 1] : b64url[(size ? data[size - 1] : 0) % 64];
    bad[pos] = c != tok[pos] ? c : tok[pos] == 'A' ? 'B' : 'A';
    FUZZ_CHECK(verify_at(bad, len, now, &t) != 0);
    FUZZ_CHECK(verify_at(tok, len - 1, now, &t) != 0);
    free(bad);
}

static void round_trip(const uint8_t *data, size_t size)
{
    uint64_t e = 0;
    size_t dl, cl, len;
    char *dc, *cust, *tok, *small;
    struct auth_token t;
    int64_t expires;
    int rc;

    if (size < 10)
        return;
    for (int i = 0; i < 8; i++)
        e = (e << 8) | data[i];
    expires = (int64_t)e;
    dl = (size_t)data[8] << 8 | data[9];
    if (dl > size - 10)
        dl = size - 10;
    cl = size - 10 - dl;
    dc = c_string(data + 10, dl);
    cust = c_string(data + 10 + dl, cl);

    rc = create_into(dc, cust, expires, AUTH_TOKEN_MAX, &tok);
    if (strlen(dc) > 255 || strlen(cust) > 255) {
        FUZZ_CHECK(rc == -ENAMETOOLONG);
        goto out;
    }
    FUZZ_CHECK(rc == 0);
    len = strlen(tok);
    FUZZ_CHECK(len < AUTH_TOKEN_MAX && !strncmp(tok, AUTH_TOKEN_PREFIX, 4));
    FUZZ_CHECK(strspn(tok + 4, b64url) == len - 4);

    /* Valid until its expiry, then expired. */
    if (expires != INT64_MIN) {
        memset(&t, 0, sizeof(t));
        FUZZ_CHECK(verify_at(tok, len, expires - 1, &t) == 0);
        FUZZ_CHECK(!strcmp(t.dc_id, dc) && !strcmp(t.customer_id, cust) && t.expires_ms == expires &&
                   t.issued_ms == FUZZ_ISSUED_MS);
        check_tampering(tok, len, expires - 1, data, size);
    }
    FUZZ_CHECK(verify_at(tok, len, expires, &t) == -EKEYEXPIRED);

    /* A buffer one byte short is refused without a byte written past it. */
    FUZZ_CHECK(create_into(dc, cust, expires, len, &small) == -ENOSPC);
    free(small);
    FUZZ_CHECK(create_into(dc, cust, expires, len + 1, &small) == 0 && !strcmp(small, tok));
    free(small);
out:
    free(tok);
    free(dc);
    free(cust);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    verify_as_token("", data, size);
    if (size < 4 || memcmp(data, AUTH_TOKEN_PREFIX, 4))
        verify_as_token(AUTH_TOKEN_PREFIX, data, size);
    round_trip(data, size);
    return 0;
}

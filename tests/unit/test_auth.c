/* SPDX-License-Identifier: MIT */
/* Unit tests for auth.c: API keys, tracking tokens (roundtrip, forgery, expiry,
 * id limits), bearer resolution on a real store, DC and customer read checks. */
#include "auth.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#include "cache.h"
#include "testdb.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#define NOW 1700000000000LL

/* HMAC() through -Wl,--wrap=HMAC (tests/unit/CMakeLists.txt): the real one,
 * except that with hmac_fail set it reports failure (NULL) after writing the
 * right MAC anyway, so only a caller that checks the return can tell. */
unsigned char *__real_HMAC(const EVP_MD *md, const void *key, int key_len, const unsigned char *data, size_t n,
                           unsigned char *out, unsigned int *out_len);
unsigned char *__wrap_HMAC(const EVP_MD *md, const void *key, int key_len, const unsigned char *data, size_t n,
                           unsigned char *out, unsigned int *out_len);
static int hmac_fail;

unsigned char *__wrap_HMAC(const EVP_MD *md, const void *key, int key_len, const unsigned char *data, size_t n,
                           unsigned char *out, unsigned int *out_len)
{
    unsigned char *r = __real_HMAC(md, key, key_len, data, n, out, out_len);

    return hmac_fail ? NULL : r;
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64url, c) : NULL;

    return p ? (int)(p - b64url) : -1;
}

/* A migrated ":memory:" store and its token secret. */
struct env {
    struct store *store;
    uint8_t secret[STORE_SECRET_LEN];
};

static int env_setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    char err[256] = "";

    assert_non_null(e);
    assert_int_equal(store_open(":memory:", STORE_OPEN_CREATE, &e->store, err, sizeof(err)), 0);
    assert_int_equal(store_migrate(e->store), 0);
    assert_int_equal(store_secret_get(e->store, e->secret), 0);
    *state = e;
    return 0;
}

static int env_teardown(void **state)
{
    struct env *e = *state;

    store_close(e->store);
    free(e);
    return 0;
}

/* Make a key, store its hash under name, and return it in key. */
static void make_key(struct store *s, const char *name, int all_dcs, const char *const *dcs, size_t ndcs,
                     char key[AUTH_KEY_LEN + 1])
{
    uint8_t hash[STORE_KEY_HASH_LEN];

    assert_int_equal(auth_key_generate(key, AUTH_KEY_LEN + 1), 0);
    auth_key_hash(key, strlen(key), hash);
    assert_int_equal(store_key_insert(s, name, hash, all_dcs, dcs, ndcs), 0);
}

/* Authorization header text: pre + credential + post. */
struct form {
    const char *pre;
    const char *post;
};

static void header_of(char *out, size_t cap, const struct form *f, const char *credential)
{
    int n = snprintf(out, cap, "%s%s%s", f->pre, credential, f->post);

    assert_true(n > 0 && (size_t)n < cap);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_key_format(void **state)
{
    char key[AUTH_KEY_LEN + 1];
    size_t nbits = 0;

    (void)state;
    assert_int_equal(auth_key_generate(key, sizeof(key)), 0);
    assert_int_equal(strlen(key), AUTH_KEY_LEN);
    assert_memory_equal(key, AUTH_KEY_PREFIX, strlen(AUTH_KEY_PREFIX));
    /* Every character after the prefix is base64url, and they carry >= 128 bits. */
    for (const char *p = key + strlen(AUTH_KEY_PREFIX); *p; p++) {
        if (b64_value(*p) < 0)
            fail_msg("key %s has a non-base64url character '%c'", key, *p);
        nbits += 6;
    }
    assert_true(nbits >= 128);
    /* 256 random bits in 43 characters: the last one's 2 spare bits are zero. */
    assert_int_equal(b64_value(key[AUTH_KEY_LEN - 1]) & 0x3, 0);
}

static void test_key_uniqueness_and_spread(void **state)
{
    enum { N = 1000 };
    char(*keys)[AUTH_KEY_LEN + 1] = calloc(N, sizeof(*keys));
    unsigned seen[AUTH_KEY_LEN][64];

    (void)state;
    assert_non_null(keys);
    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < N; i++) {
        assert_int_equal(auth_key_generate(keys[i], sizeof(keys[i])), 0);
        for (size_t j = strlen(AUTH_KEY_PREFIX); j < AUTH_KEY_LEN; j++)
            seen[j][b64_value(keys[i][j])]++;
    }
    qsort(keys, N, sizeof(*keys), compare_strings);
    for (int i = 1; i < N; i++)
        if (!strcmp(keys[i - 1], keys[i]))
            fail_msg("duplicate key %s", keys[i]);
    /* Every random position varies (a stuck position would mean lost entropy). */
    for (size_t j = strlen(AUTH_KEY_PREFIX); j < AUTH_KEY_LEN; j++) {
        size_t distinct = 0;

        for (int v = 0; v < 64; v++)
            distinct += seen[j][v] != 0;
        if (distinct < (j == AUTH_KEY_LEN - 1 ? 8u : 32u))
            fail_msg("position %zu takes only %zu values over %d keys", j, distinct, N);
    }
    free(keys);
}

static void test_key_generate_capacity(void **state)
{
    char *small = malloc(AUTH_KEY_LEN);
    char *exact = malloc(AUTH_KEY_LEN + 1);

    (void)state;
    assert_non_null(small);
    assert_non_null(exact);
    assert_int_equal(auth_key_generate(small, AUTH_KEY_LEN), -ENOSPC);
    assert_int_equal(auth_key_generate(exact, AUTH_KEY_LEN + 1), 0);
    assert_int_equal(strlen(exact), AUTH_KEY_LEN);
    free(small);
    free(exact);
}

static void test_key_hash(void **state)
{
    static const uint8_t abc[STORE_KEY_HASH_LEN] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
    };
    uint8_t h1[STORE_KEY_HASH_LEN], h2[STORE_KEY_HASH_LEN];

    (void)state;
    auth_key_hash("abc", 3, h1);
    assert_memory_equal(h1, abc, sizeof(abc)); /* FIPS 180-2 test vector */
    /* Only len bytes count. */
    auth_key_hash("abcdef", 3, h2);
    assert_memory_equal(h1, h2, sizeof(h1));
    auth_key_hash("abd", 3, h2);
    assert_memory_not_equal(h1, h2, sizeof(h1));
    /* Deterministic. */
    auth_key_hash("wpk_x", 5, h1);
    auth_key_hash("wpk_x", 5, h2);
    assert_memory_equal(h1, h2, sizeof(h1));
}

static void assert_roundtrip(const uint8_t *secret, const char *dc, const char *cust)
{
    char token[AUTH_TOKEN_MAX];
    struct auth_token t;

    assert_int_equal(auth_token_create(secret, dc, cust, NOW + 1000, token, sizeof(token)), 0);
    assert_memory_equal(token, AUTH_TOKEN_PREFIX, strlen(AUTH_TOKEN_PREFIX));
    for (const char *p = token + strlen(AUTH_TOKEN_PREFIX); *p; p++)
        if (b64_value(*p) < 0)
            fail_msg("token has a non-base64url character '%c'", *p);
    memset(&t, 0x5a, sizeof(t));
    assert_int_equal(auth_token_verify(secret, token, strlen(token), NOW, &t), 0);
    assert_string_equal(t.dc_id, dc);
    assert_string_equal(t.customer_id, cust);
    assert_true(t.expires_ms == NOW + 1000);
}

static void test_token_roundtrip(void **state)
{
    struct env *e = *state;

    assert_roundtrip(e->secret, "dc1", "c1");
    assert_roundtrip(e->secret, "dc1", "c12");
    assert_roundtrip(e->secret, "dc|1", "c|1|x");
    assert_roundtrip(e->secret, "dc\n1", "c\r\n1");
    assert_roundtrip(e->secret, "Z\xc3\xbcrich", "\xe2\x82\xac \xf0\x9f\x98\x80");
    assert_roundtrip(e->secret, "a b", "\"quoted\" \\ /");
    assert_roundtrip(e->secret, "", "");
    /* The separator must not let ids slide into each other. */
    {
        char t1[AUTH_TOKEN_MAX], t2[AUTH_TOKEN_MAX];

        assert_int_equal(auth_token_create(e->secret, "ab", "c", NOW + 1, t1, sizeof(t1)), 0);
        assert_int_equal(auth_token_create(e->secret, "a", "bc", NOW + 1, t2, sizeof(t2)), 0);
        assert_string_not_equal(t1, t2);
    }
}

static void test_token_long_ids(void **state)
{
    struct env *e = *state;
    char id255[256], id256[257], token[AUTH_TOKEN_MAX];
    struct auth_token t;

    memset(id255, 'd', 255);
    id255[255] = '\0';
    memset(id256, 'c', 256);
    id256[256] = '\0';
    assert_roundtrip(e->secret, id255, id255);
    assert_int_equal(auth_token_create(e->secret, id255, id255, NOW + 1, token, sizeof(token)), 0);
    assert_true(strlen(token) < AUTH_TOKEN_MAX);
    assert_int_equal(auth_token_verify(e->secret, token, strlen(token), NOW, &t), 0);
    assert_int_equal(strlen(t.dc_id), 255);
    assert_int_equal(strlen(t.customer_id), 255);
    assert_int_equal(auth_token_create(e->secret, id256, "c1", NOW + 1, token, sizeof(token)), -ENAMETOOLONG);
    assert_int_equal(auth_token_create(e->secret, "dc1", id256, NOW + 1, token, sizeof(token)), -ENAMETOOLONG);
    assert_int_equal(auth_token_create(e->secret, id256, id256, NOW + 1, token, sizeof(token)), -ENAMETOOLONG);
}

/* The output never overruns cap; buffers are exactly cap bytes (ASan). The
 * issue time is fixed: two tokens made a millisecond apart differ. */
static void test_token_capacity(void **state)
{
    struct env *e = *state;
    char token[AUTH_TOKEN_MAX], *buf;
    size_t need;

    assert_int_equal(auth_token_create_at(e->secret, "dc1", "c1", NOW, NOW + 1, token, sizeof(token)), 0);
    need = strlen(token) + 1;
    buf = malloc(need);
    assert_non_null(buf);
    assert_int_equal(auth_token_create_at(e->secret, "dc1", "c1", NOW, NOW + 1, buf, need), 0);
    assert_string_equal(buf, token);
    free(buf);
    buf = malloc(need - 1);
    assert_non_null(buf);
    assert_int_equal(auth_token_create_at(e->secret, "dc1", "c1", NOW, NOW + 1, buf, need - 1), -ENOSPC);
    free(buf);
    buf = malloc(3);
    assert_non_null(buf);
    assert_int_equal(auth_token_create_at(e->secret, "dc1", "c1", NOW, NOW + 1, buf, 3), -ENOSPC);
    free(buf);
}

/* Replace every character of the base64 part with every other base64url
 * character, and with some that are not: each forgery is refused. */
static void tamper_all(const uint8_t *secret, const char *dc, const char *cust)
{
    static const char junk[] = "=+/. \t%";
    char token[AUTH_TOKEN_MAX], forged[AUTH_TOKEN_MAX];
    size_t plen = strlen(AUTH_TOKEN_PREFIX), len;
    struct auth_token t;
    size_t tried = 0;

    assert_int_equal(auth_token_create(secret, dc, cust, NOW + 60000, token, sizeof(token)), 0);
    len = strlen(token);
    for (size_t i = plen; i < len; i++) {
        for (size_t v = 0; v < 64 + sizeof(junk) - 1; v++) {
            char c = v < 64 ? b64url[v] : junk[v - 64];
            int rc;

            if (c == token[i])
                continue;
            memcpy(forged, token, len + 1);
            forged[i] = c;
            rc = auth_token_verify(secret, forged, len, NOW, &t);
            if (rc != -EINVAL)
                fail_msg("token with position %zu changed to '%c' gave %d, want -EINVAL", i, c, rc);
            tried++;
        }
    }
    assert_true(tried >= (len - plen) * 63);
    /* Flipping one bit of any byte (whatever character it makes). */
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(forged, token, len + 1);
            forged[i] = (char)(forged[i] ^ (1 << bit));
            if (auth_token_verify(secret, forged, len, NOW, &t) != -EINVAL)
                fail_msg("token with bit %d of byte %zu flipped was accepted", bit, i);
        }
    }
    /* Truncated or extended. */
    for (size_t n = 0; n < len; n++)
        if (auth_token_verify(secret, token, n, NOW, &t) != -EINVAL)
            fail_msg("token truncated to %zu bytes was not refused", n);
    for (size_t v = 0; v < 64; v++) {
        memcpy(forged, token, len);
        forged[len] = b64url[v];
        forged[len + 1] = '\0';
        if (auth_token_verify(secret, forged, len + 1, NOW, &t) != -EINVAL)
            fail_msg("token extended by '%c' was not refused", b64url[v]);
    }
}

static void test_token_tampered(void **state)
{
    struct env *e = *state;

    /* Payload + MAC of 48, 49 and 50 bytes: no padding, 4 and 2 spare bits. */
    tamper_all(e->secret, "dc1", "c1");
    tamper_all(e->secret, "dc1", "c12");
    tamper_all(e->secret, "dc1", "c123");
}

static void test_token_wrong_secret(void **state)
{
    struct env *e = *state;
    uint8_t other[STORE_SECRET_LEN];
    char token[AUTH_TOKEN_MAX];
    struct auth_token t;

    assert_int_equal(auth_token_create(e->secret, "dc1", "c1", NOW + 60000, token, sizeof(token)), 0);
    for (size_t i = 0; i < STORE_SECRET_LEN; i++) {
        memcpy(other, e->secret, sizeof(other));
        other[i] ^= 0x01;
        if (auth_token_verify(other, token, strlen(token), NOW, &t) != -EINVAL)
            fail_msg("token accepted with secret byte %zu changed", i);
    }
    memset(other, 0, sizeof(other));
    assert_int_equal(auth_token_verify(other, token, strlen(token), NOW, &t), -EINVAL);
    assert_int_equal(auth_token_verify(e->secret, token, strlen(token), NOW, &t), 0);
}

static void test_token_malformed(void **state)
{
    static const char *const bad[] = {
        "",         "w",
        "wpt",      "wpt_",
        "wpk_AAAA", "WPT_AAAAAAAA",
        "wpt_A",    "wpt_AAAA",
        "wpt_====", "wpt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    };
    struct env *e = *state;
    struct auth_token t;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (auth_token_verify(e->secret, bad[i], strlen(bad[i]), NOW, &t) != -EINVAL)
            fail_msg("\"%s\" was not refused", bad[i]);
}

static void test_token_expiry(void **state)
{
    struct env *e = *state;
    char token[AUTH_TOKEN_MAX], forged[AUTH_TOKEN_MAX];
    struct auth_token t;
    size_t len;

    assert_int_equal(auth_token_create(e->secret, "dc1", "c1", NOW, token, sizeof(token)), 0);
    len = strlen(token);
    assert_int_equal(auth_token_verify(e->secret, token, len, NOW - 1, &t), 0);
    assert_true(t.expires_ms == NOW);
    assert_int_equal(auth_token_verify(e->secret, token, len, NOW, &t), -EKEYEXPIRED);
    assert_int_equal(auth_token_verify(e->secret, token, len, NOW + 1, &t), -EKEYEXPIRED);
    assert_int_equal(auth_token_verify(e->secret, token, len, INT64_MAX, &t), -EKEYEXPIRED);
    /* A forged expired token is forged, not expired: no oracle for the secret. */
    memcpy(forged, token, len + 1);
    forged[len - 2] = forged[len - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(auth_token_verify(e->secret, forged, len, NOW + 1, &t), -EINVAL);
    /* A token that was already expired when made. */
    assert_int_equal(auth_token_create(e->secret, "dc1", "c1", 0, token, sizeof(token)), 0);
    assert_int_equal(auth_token_verify(e->secret, token, strlen(token), NOW, &t), -EKEYEXPIRED);
}

/* verify reads only len bytes; the token need not be NUL-terminated. */
static void test_token_verify_len(void **state)
{
    struct env *e = *state;
    char token[AUTH_TOKEN_MAX], *copy;
    struct auth_token t;
    size_t len;

    assert_int_equal(auth_token_create(e->secret, "dc1", "c1", NOW + 1, token, sizeof(token)), 0);
    len = strlen(token);
    copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, token, len);
    assert_int_equal(auth_token_verify(e->secret, copy, len, NOW, &t), 0);
    assert_string_equal(t.customer_id, "c1");
    free(copy);
}

static void test_resolve_key(void **state)
{
    static const char *const dcs[] = {"dc1"};
    struct env *e = *state;
    char key[AUTH_KEY_LEN + 1], header[128];
    struct store_key k;
    uint8_t hash[STORE_KEY_HASH_LEN];
    struct auth_cred cred;
    static const struct form forms[] = {
        {"Bearer ", ""}, {"bearer ", ""}, {"BEARER ", ""}, {"BeArEr ", ""}, {"Bearer  ", ""}, {"Bearer      ", ""},
    };

    make_key(e->store, "ops", 0, dcs, 1, key);
    auth_key_hash(key, strlen(key), hash);
    assert_int_equal(store_key_lookup(e->store, hash, &k), 0);
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        header_of(header, sizeof(header), &forms[i], key);
        memset(&cred, 0x5a, sizeof(cred));
        if (auth_resolve(e->store, e->secret, header, NOW, &cred) != 0)
            fail_msg("\"%s\" was refused", header);
        assert_int_equal(cred.kind, AUTH_KEY);
        assert_true(cred.key.id == k.id);
        assert_int_equal(cred.key.all_dcs, 0);
        assert_int_equal(cred.key.revoked, 0);
    }
}

static void test_resolve_key_refused(void **state)
{
    static const char *const dcs[] = {"dc1"};
    struct env *e = *state;
    char key[AUTH_KEY_LEN + 1], other[AUTH_KEY_LEN + 1], header[256];
    struct auth_cred cred;
    static const struct form forms[] = {
        {"", ""},
        {"Bearer", ""},
        {"Basic ", ""},
        {"Token ", ""},
        {"Bearer ", " extra"},
        {"Bearer ", "\textra"},
        {"Bearer \"", "\""},
        {"Bearer ", "x"},
        {"Bearer x", ""},
        {"Bearer\t", ""},
        {"Bearerx ", ""},
        {"Bearer Bearer ", ""},
    };

    make_key(e->store, "ops", 0, dcs, 1, key);
    /* Missing header or credential. */
    memset(&cred, 0x5a, sizeof(cred));
    assert_int_equal(auth_resolve(e->store, e->secret, NULL, NOW, &cred), -EACCES);
    assert_int_equal(cred.kind, AUTH_NONE);
    assert_int_equal(auth_resolve(e->store, e->secret, "", NOW, &cred), -EACCES);
    assert_int_equal(auth_resolve(e->store, e->secret, "Bearer", NOW, &cred), -EACCES);
    assert_int_equal(auth_resolve(e->store, e->secret, "Bearer ", NOW, &cred), -EACCES);
    assert_int_equal(auth_resolve(e->store, e->secret, "Bearer    ", NOW, &cred), -EACCES);
    /* Malformed forms of a valid key. */
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        header_of(header, sizeof(header), &forms[i], key);
        memset(&cred, 0x5a, sizeof(cred));
        if (auth_resolve(e->store, e->secret, header, NOW, &cred) != -EACCES)
            fail_msg("\"%s\" was not refused", header);
        assert_int_equal(cred.kind, AUTH_NONE);
    }
    /* A well-formed key that was never stored. */
    assert_int_equal(auth_key_generate(other, sizeof(other)), 0);
    snprintf(header, sizeof(header), "Bearer %s", other);
    assert_int_equal(auth_resolve(e->store, e->secret, header, NOW, &cred), -EACCES);
    assert_int_equal(cred.kind, AUTH_NONE);
    /* The key without its last character, or in another case. */
    snprintf(header, sizeof(header), "Bearer %.*s", AUTH_KEY_LEN - 1, key);
    assert_int_equal(auth_resolve(e->store, e->secret, header, NOW, &cred), -EACCES);
    snprintf(header, sizeof(header), "Bearer %s", key);
    for (char *p = header + 7; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    assert_int_equal(auth_resolve(e->store, e->secret, header, NOW, &cred), -EACCES);
}

static void test_resolve_revoked_key(void **state)
{
    struct env *e = *state;
    char key[AUTH_KEY_LEN + 1], header[128];
    struct auth_cred cred;

    make_key(e->store, "gone", 1, NULL, 0, key);
    snprintf(header, sizeof(header), "Bearer %s", key);
    assert_int_equal(auth_resolve(e->store, e->secret, header, NOW, &cred), 0);
    assert_int_equal(cred.kind, AUTH_KEY);
    assert_int_equal(cred.key.all_dcs, 1);
    assert_int_equal(store_key_revoke(e->store, "gone"), 0);
    memset(&cred, 0x5a, sizeof(cred));
    assert_int_equal(auth_resolve(e->store, e->secret, header, NOW, &cred), -EACCES);
    assert_int_equal(cred.kind, AUTH_NONE);
}

static void test_resolve_token(void **state)
{
    struct env *e = *state;
    char token[AUTH_TOKEN_MAX], header[AUTH_TOKEN_MAX + 16];
    uint8_t other[STORE_SECRET_LEN];
    struct auth_cred cred;

    assert_int_equal(auth_token_create(e->secret, "dc1", "c|1", NOW + 1000, token, sizeof(token)), 0);
    snprintf(header, sizeof(header), "bearer  %s", token);
    memset(&cred, 0x5a, sizeof(cred));
    assert_int_equal(auth_resolve(e->store, e->secret, header, NOW, &cred), 0);
    assert_int_equal(cred.kind, AUTH_TOKEN);
    assert_string_equal(cred.token.dc_id, "dc1");
    assert_string_equal(cred.token.customer_id, "c|1");
    assert_true(cred.token.expires_ms == NOW + 1000);

    /* Expired: said apart (issue 12), so its holder is told the truth. */
    assert_int_equal(auth_resolve(e->store, e->secret, header, NOW + 1000, &cred), -EKEYEXPIRED);
    assert_int_equal(cred.kind, AUTH_NONE);
    /* Signed with another secret. */
    memcpy(other, e->secret, sizeof(other));
    other[0] ^= 0x80;
    assert_int_equal(auth_resolve(e->store, other, header, NOW, &cred), -EACCES);
    /* Forged. */
    snprintf(header, sizeof(header), "Bearer %s", token);
    header[strlen(header) - 3] = header[strlen(header) - 3] == 'A' ? 'B' : 'A';
    assert_int_equal(auth_resolve(e->store, e->secret, header, NOW, &cred), -EACCES);
    /* Trailing text after the token. */
    snprintf(header, sizeof(header), "Bearer %s x", token);
    assert_int_equal(auth_resolve(e->store, e->secret, header, NOW, &cred), -EACCES);
}

/* A temporary database for the DC checks: DCs need rows, which the store API
 * does not write, so they go in through a second SQLite connection. */
struct dcdb {
    char path[64];
    struct store *store;
    uint8_t secret[STORE_SECRET_LEN];
};

static int dcdb_setup(void **state)
{
    struct dcdb *d = calloc(1, sizeof(*d));
    sqlite3 *db;
    int fd;

    assert_non_null(d);
    snprintf(d->path, sizeof(d->path), "/tmp/waypointd-test-auth-XXXXXX");
    fd = mkstemp(d->path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(store_open(d->path, STORE_OPEN_CREATE, &d->store, NULL, 0), 0);
    assert_int_equal(store_migrate(d->store), 0);
    assert_int_equal(store_secret_get(d->store, d->secret), 0);
    assert_int_equal(sqlite3_open_v2(d->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO dcs(id) VALUES ('dc1'), ('dc2')", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    *state = d;
    return 0;
}

static int dcdb_teardown(void **state)
{
    struct dcdb *d = *state;
    char side[80];

    store_close(d->store);
    unlink(d->path);
    snprintf(side, sizeof(side), "%s-wal", d->path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", d->path);
    unlink(side);
    free(d);
    return 0;
}

static void resolve_ok(struct dcdb *d, const char *credential, struct auth_cred *cred)
{
    char header[AUTH_TOKEN_MAX + 16];

    snprintf(header, sizeof(header), "Bearer %s", credential);
    assert_int_equal(auth_resolve(d->store, d->secret, header, NOW, cred), 0);
}

/* Issue 12: a revoked token, or a token of a customer whose tokens were
 * revoked, is refused; a token issued after the customer's cutoff is not.
 * With a cache synced to one data_version, the verdict costs no query. */
static void test_resolve_revoked_token(void **state)
{
    struct env *e = *state;
    char t1[AUTH_TOKEN_MAX], t2[AUTH_TOKEN_MAX], t3[AUTH_TOKEN_MAX], h[AUTH_TOKEN_MAX + 16];
    uint8_t hash[STORE_KEY_HASH_LEN];
    struct cache *cache = cache_new(16);
    struct auth_cred cred;
    int64_t cutoff = 0, version = 0;

    assert_non_null(cache);
    assert_int_equal(auth_token_create_at(e->secret, "dc1", "c1", 1000, NOW + 60000, t1, sizeof(t1)), 0);
    assert_int_equal(auth_token_create_at(e->secret, "dc1", "c1", 2000, NOW + 60000, t2, sizeof(t2)), 0);
    snprintf(h, sizeof(h), "Bearer %s", t1);
    assert_int_equal(auth_resolve(e->store, e->secret, h, NOW, &cred), 0);
    assert_true(cred.token.issued_ms == 1000);
    assert_int_equal(store_data_version(e->store, &version), 0);
    cache_sync(cache, version);
    assert_int_equal(auth_resolve_cached(e->store, cache, e->secret, h, NOW, &cred), 0);
    /* One token revoked: refused, the other one of the customer not. */
    auth_key_hash(t1, strlen(t1), hash);
    assert_int_equal(store_token_revoke(e->store, hash, "dc1", "c1", NOW + 60000), 0);
    assert_int_equal(auth_resolve(e->store, e->secret, h, NOW, &cred), -EACCES);
    assert_int_equal(cred.kind, AUTH_NONE);
    /* The cache still holds the verdict made before: it is the caller's
     * cache_sync with the new data_version that drops it. */
    assert_int_equal(auth_resolve_cached(e->store, cache, e->secret, h, NOW, &cred), 0);
    assert_int_equal(store_data_version(e->store, &version), 0);
    cache_sync(cache, version + 1);
    assert_int_equal(auth_resolve_cached(e->store, cache, e->secret, h, NOW, &cred), -EACCES);
    snprintf(h, sizeof(h), "Bearer %s", t2);
    assert_int_equal(auth_resolve(e->store, e->secret, h, NOW, &cred), 0);
    /* The customer's tokens up to now: t2 too; a token issued later lives. */
    assert_int_equal(store_token_revoke_customer(e->store, "dc1", "c1", &cutoff), 0);
    assert_int_equal(auth_resolve(e->store, e->secret, h, NOW, &cred), -EACCES);
    assert_int_equal(auth_token_create_at(e->secret, "dc1", "c1", cutoff + 1, NOW + 60000, t3, sizeof(t3)), 0);
    snprintf(h, sizeof(h), "Bearer %s", t3);
    assert_int_equal(auth_resolve(e->store, e->secret, h, NOW, &cred), 0);
    assert_int_equal(auth_token_revoked(e->store, NULL, &cred), 0);
    cache_free(cache);
}

/* A version 1 token (no issue time), as made before issue 12: signed the
 * same way, still accepted, and refused by any cutoff of its customer. */
static void v1_token(const uint8_t secret[STORE_SECRET_LEN], const char *dc, const char *cust, int64_t expires,
                     char *out)
{
    uint8_t buf[600];
    unsigned int mlen = 32;
    size_t n = 0, o = 0, dl = strlen(dc), cl = strlen(cust);
    uint32_t acc = 0;
    int bits = 0;

    buf[n++] = 1;
    for (int i = 7; i >= 0; i--)
        buf[n++] = (uint8_t)((uint64_t)expires >> (i * 8));
    buf[n++] = (uint8_t)dl;
    memcpy(buf + n, dc, dl);
    n += dl;
    buf[n++] = (uint8_t)cl;
    memcpy(buf + n, cust, cl);
    n += cl;
    assert_non_null(HMAC(EVP_sha256(), secret, STORE_SECRET_LEN, buf, n, buf + n, &mlen));
    n += mlen;
    memcpy(out, "wpt_", 4);
    o = 4;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | buf[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = b64url[(acc >> bits) & 0x3f];
        }
    }
    if (bits > 0)
        out[o++] = b64url[(acc << (6 - bits)) & 0x3f];
    out[o] = '\0';
}

static void test_version_1_token_still_accepted(void **state)
{
    struct env *e = *state;
    char token[AUTH_TOKEN_MAX], h[AUTH_TOKEN_MAX + 16];
    struct auth_cred cred;
    struct auth_token t;
    int64_t cutoff;

    v1_token(e->secret, "dc1", "c1", NOW + 60000, token);
    assert_int_equal(auth_token_verify(e->secret, token, strlen(token), NOW, &t), 0);
    assert_string_equal(t.customer_id, "c1");
    assert_true(t.expires_ms == NOW + 60000 && t.issued_ms == 0);
    snprintf(h, sizeof(h), "Bearer %s", token);
    assert_int_equal(auth_resolve(e->store, e->secret, h, NOW, &cred), 0);
    assert_int_equal(store_token_revoke_customer(e->store, "dc1", "c1", &cutoff), 0);
    assert_int_equal(auth_resolve(e->store, e->secret, h, NOW, &cred), -EACCES);
}

static void test_may_read_dc_keys(void **state)
{
    static const char *const some[] = {"dc1", "ghost"};
    struct dcdb *d = *state;
    char k_some[AUTH_KEY_LEN + 1], k_all[AUTH_KEY_LEN + 1], k_none[AUTH_KEY_LEN + 1];
    struct auth_cred cred;

    make_key(d->store, "some", 0, some, 2, k_some);
    make_key(d->store, "all", 1, NULL, 0, k_all);
    make_key(d->store, "none", 0, NULL, 0, k_none);

    resolve_ok(d, k_some, &cred);
    assert_int_equal(auth_may_read_dc(d->store, &cred, "dc1"), 1);
    assert_int_equal(auth_may_read_dc(d->store, &cred, "dc2"), 0);
    assert_int_equal(auth_may_read_dc(d->store, &cred, "ghost"), 0); /* listed, but no such DC */
    assert_int_equal(auth_may_read_dc(d->store, &cred, "DC1"), 0);

    resolve_ok(d, k_all, &cred);
    assert_int_equal(auth_may_read_dc(d->store, &cred, "dc1"), 1);
    assert_int_equal(auth_may_read_dc(d->store, &cred, "dc2"), 1);
    assert_int_equal(auth_may_read_dc(d->store, &cred, "ghost"), 0);
    assert_int_equal(auth_may_read_dc(d->store, &cred, ""), 0);

    resolve_ok(d, k_none, &cred);
    assert_int_equal(auth_may_read_dc(d->store, &cred, "dc1"), 0);
    assert_int_equal(auth_may_read_dc(d->store, &cred, "dc2"), 0);

    memset(&cred, 0, sizeof(cred));
    cred.kind = AUTH_NONE;
    assert_int_equal(auth_may_read_dc(d->store, &cred, "dc1"), 0);
}

static void test_may_read_dc_tokens(void **state)
{
    struct dcdb *d = *state;
    char token[AUTH_TOKEN_MAX];
    struct auth_cred cred;

    assert_int_equal(auth_token_create(d->secret, "dc1", "c1", NOW + 1000, token, sizeof(token)), 0);
    resolve_ok(d, token, &cred);
    assert_int_equal(cred.kind, AUTH_TOKEN);
    assert_int_equal(auth_may_read_dc(d->store, &cred, "dc1"), 1);
    assert_int_equal(auth_may_read_dc(d->store, &cred, "dc2"), 0);
    assert_int_equal(auth_may_read_dc(d->store, &cred, "dc"), 0);
    assert_int_equal(auth_may_read_dc(d->store, &cred, "dc1x"), 0);

    /* A valid token for a DC that does not exist reads nothing. */
    assert_int_equal(auth_token_create(d->secret, "ghost", "c1", NOW + 1000, token, sizeof(token)), 0);
    resolve_ok(d, token, &cred);
    assert_int_equal(auth_may_read_dc(d->store, &cred, "ghost"), 0);
    assert_int_equal(auth_may_read_dc(d->store, &cred, "dc1"), 0);
}

static void test_may_read_customer(void **state)
{
    struct env *e = *state;
    char token[AUTH_TOKEN_MAX], key[AUTH_KEY_LEN + 1], header[AUTH_TOKEN_MAX + 16];
    struct auth_cred cred;

    assert_int_equal(auth_token_create(e->secret, "dc1", "c1", NOW + 1000, token, sizeof(token)), 0);
    snprintf(header, sizeof(header), "Bearer %s", token);
    assert_int_equal(auth_resolve(e->store, e->secret, header, NOW, &cred), 0);
    assert_int_equal(auth_may_read_customer(&cred, "dc1", "c1"), 1);
    assert_int_equal(auth_may_read_customer(&cred, "dc1", "c2"), 0);
    assert_int_equal(auth_may_read_customer(&cred, "dc1", "c"), 0);
    assert_int_equal(auth_may_read_customer(&cred, "dc1", "c1x"), 0);
    assert_int_equal(auth_may_read_customer(&cred, "dc1", "C1"), 0);
    assert_int_equal(auth_may_read_customer(&cred, "dc2", "c1"), 0);
    assert_int_equal(auth_may_read_customer(&cred, "c1", "dc1"), 0);

    /* A key's DC access is decided by auth_may_read_dc; any customer then. */
    make_key(e->store, "k", 0, NULL, 0, key);
    snprintf(header, sizeof(header), "Bearer %s", key);
    assert_int_equal(auth_resolve(e->store, e->secret, header, NOW, &cred), 0);
    assert_int_equal(auth_may_read_customer(&cred, "dc1", "c1"), 1);
    assert_int_equal(auth_may_read_customer(&cred, "dc9", "anyone"), 1);

    memset(&cred, 0, sizeof(cred));
    cred.kind = AUTH_NONE;
    assert_int_equal(auth_may_read_customer(&cred, "dc1", "c1"), 0);
}

static void test_now_ms(void **state)
{
    int64_t now = auth_now_ms();

    (void)state;
    /* Epoch milliseconds, not seconds or microseconds: between 2020 and 3000. */
    assert_true(now > 1577836800000LL);
    assert_true(now < 32503680000000LL);
}

/* Issue 11: a secret rotated by other programs (DELETE FROM secrets, then
 * init) is picked up when the database changes; while none is stored, the
 * old one stays. */
static void test_secret_sync_follows_rotation(void **state)
{
    struct testdb *t = *state;
    struct auth_secret sec = {.version = -1};
    uint8_t first[STORE_SECRET_LEN];
    char old_token[AUTH_TOKEN_MAX];
    struct auth_token tok;
    int64_t v, v2, v3;

    assert_int_equal(store_data_version(t->store, &v), 0);
    assert_int_equal(auth_secret_sync(&sec, t->store, v), 1); /* from nothing to the stored key */
    assert_int_equal(store_secret_get(t->store, first), 0);
    assert_memory_equal(sec.key, first, STORE_SECRET_LEN);
    assert_int_equal(auth_secret_sync(&sec, t->store, v), 0);
    assert_int_equal(auth_token_create(sec.key, "dc1", "c1", NOW + 60000, old_token, sizeof(old_token)), 0);

    /* Deleted: nothing to read, the old key stays, and is read for again. */
    assert_int_equal(sqlite3_exec(t->db, "DELETE FROM secrets", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(store_data_version(t->store, &v2), 0);
    assert_true(v2 != v);
    assert_int_equal(auth_secret_sync(&sec, t->store, v2), -EIO);
    assert_int_equal(auth_secret_sync(&sec, t->store, v2), -EIO);
    assert_memory_equal(sec.key, first, STORE_SECRET_LEN);
    assert_int_equal(auth_token_verify(sec.key, old_token, strlen(old_token), NOW, &tok), 0);

    /* A new one (as init writes it): taken, and old tokens no longer verify. */
    assert_int_equal(sqlite3_exec(t->db, "INSERT INTO secrets(name, value) VALUES ('token_hmac', randomblob(32))",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(store_data_version(t->store, &v3), 0);
    assert_int_equal(auth_secret_sync(&sec, t->store, v3), 1);
    assert_memory_not_equal(sec.key, first, STORE_SECRET_LEN);
    assert_int_equal(auth_token_verify(sec.key, old_token, strlen(old_token), NOW, &tok), -EINVAL);
    assert_int_equal(auth_secret_sync(&sec, t->store, v3), 0);

    /* Another change: read again, the same key. */
    assert_int_equal(sqlite3_exec(t->db, "INSERT INTO dcs(id) VALUES ('dcx')", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(store_data_version(t->store, &v), 0);
    assert_true(v != v3);
    assert_int_equal(auth_secret_sync(&sec, t->store, v), 0);
    assert_int_equal(sec.version, v);
}

/* A version from the change watcher's generation is negative
 * (freshness.h): it is a known version like any other, so an unchanged one
 * reads nothing (here: the secret deleted meanwhile is not noticed), and
 * only -1 means "unknown, read again". */
static void test_secret_sync_takes_negative_versions(void **state)
{
    struct testdb *t = *state;
    struct auth_secret sec = {.version = -1};

    assert_int_equal(auth_secret_sync(&sec, t->store, -7), 1);
    assert_int_equal(sqlite3_exec(t->db, "DELETE FROM secrets", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(auth_secret_sync(&sec, t->store, -7), 0); /* unchanged: not read */
    assert_int_equal(auth_secret_sync(&sec, t->store, -8), -EIO); /* changed: read, and missing */
    assert_int_equal(auth_secret_sync(&sec, t->store, -1), -EIO); /* unknown: always read */
}

/* A failed HMAC() fails closed: no token is made, and no token verifies. */
static void test_issue_11_hmac_failure_fails_closed(void **state)
{
    struct env *e = *state;
    char token[AUTH_TOKEN_MAX], made[AUTH_TOKEN_MAX];
    struct auth_token t;

    assert_int_equal(auth_token_create(e->secret, "dc1", "c1", NOW + 60000, made, sizeof(made)), 0);
    assert_int_equal(auth_token_verify(e->secret, made, strlen(made), NOW, &t), 0);
    hmac_fail = 1;
    strcpy(token, "untouched");
    assert_true(auth_token_create(e->secret, "dc1", "c1", NOW + 60000, token, sizeof(token)) < 0);
    assert_int_not_equal(auth_token_verify(e->secret, made, strlen(made), NOW, &t), 0);
    hmac_fail = 0;
    assert_int_equal(auth_token_verify(e->secret, made, strlen(made), NOW, &t), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_format),
        cmocka_unit_test(test_key_uniqueness_and_spread),
        cmocka_unit_test(test_key_generate_capacity),
        cmocka_unit_test(test_key_hash),
        cmocka_unit_test_setup_teardown(test_token_roundtrip, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_token_long_ids, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_token_capacity, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_token_tampered, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_token_wrong_secret, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_token_malformed, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_token_expiry, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_token_verify_len, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_resolve_key, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_resolve_key_refused, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_resolve_revoked_key, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_resolve_token, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_resolve_revoked_token, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_version_1_token_still_accepted, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_may_read_dc_keys, dcdb_setup, dcdb_teardown),
        cmocka_unit_test_setup_teardown(test_may_read_dc_tokens, dcdb_setup, dcdb_teardown),
        cmocka_unit_test_setup_teardown(test_may_read_customer, env_setup, env_teardown),
        cmocka_unit_test(test_now_ms),
        cmocka_unit_test_setup_teardown(test_secret_sync_follows_rotation, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_secret_sync_takes_negative_versions, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_issue_11_hmac_failure_fails_closed, env_setup, env_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

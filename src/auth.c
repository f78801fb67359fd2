/* SPDX-License-Identifier: MIT
 *
 * API keys and tracking tokens with OpenSSL. Keys are 256 random bits shown
 * once and stored as SHA-256; tokens are HMAC-SHA256-signed and carry their
 * DC, customer and expiry, so checking one needs no database row. Any thread.
 */
#include "auth.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "cache.h"

#define KEY_RANDOM_BYTES 32
/* Version 2 adds the issue time (issue 12: a customer's tokens issued
 * before a cutoff are refused); version 1 tokens are still accepted. */
#define TOKEN_VERSION 2
#define TOKEN_V1 1
#define MAC_LEN 32

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded base64url of in[0..n) into out; returns the length written, or
 * -ENOSPC when out (cap bytes, NUL included) is too small. */
static int b64url_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t need = (n * 4 + 2) / 3, o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (need + 1 > cap)
        return -ENOSPC;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = b64url[(acc >> bits) & 0x3f];
        }
    }
    if (bits > 0)
        out[o++] = b64url[(acc << (6 - bits)) & 0x3f];
    out[o] = '\0';
    return (int)o;
}

static int b64url_value(char c)
{
    const char *p = c ? strchr(b64url, c) : NULL;

    return p ? (int)(p - b64url) : -1;
}

/* Decode unpadded base64url; returns the byte count or -EINVAL. */
static int b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (n % 4 == 1)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value(in[i]);

        if (v < 0)
            return -EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -EINVAL;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* Leftover bits must be zero, so every token has one spelling. */
    if (bits > 0 && (acc & ((1u << bits) - 1)))
        return -EINVAL;
    return (int)o;
}

int auth_key_generate(char *out, size_t cap)
{
    uint8_t raw[KEY_RANDOM_BYTES];
    size_t plen = strlen(AUTH_KEY_PREFIX);
    int rc;

    if (cap < AUTH_KEY_LEN + 1)
        return -ENOSPC;
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -EIO;
    memcpy(out, AUTH_KEY_PREFIX, plen);
    rc = b64url_encode(raw, sizeof(raw), out + plen, cap - plen);
    OPENSSL_cleanse(raw, sizeof(raw));
    return rc < 0 ? rc : 0;
}

void auth_key_hash(const char *key, size_t len, uint8_t out[STORE_KEY_HASH_LEN])
{
    SHA256((const unsigned char *)key, len, out);
}

/* The signed payload: version, issue time (version 2 only) and expiry
 * (8 bytes each, big endian), then each id as one length byte and its
 * bytes. Binary, so ids may hold any character. */
static void put64(uint8_t *out, int64_t v)
{
    for (int i = 7; i >= 0; i--)
        *out++ = (uint8_t)((uint64_t)v >> (i * 8));
}

static int64_t get64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return (int64_t)v;
}

static int payload_build(const char *dc_id, const char *customer_id, int64_t issued_ms, int64_t expires_ms,
                         uint8_t *out, size_t cap)
{
    size_t dl = strlen(dc_id), cl = strlen(customer_id), o = 0;

    if (dl > 255 || cl > 255)
        return -ENAMETOOLONG;
    if (1 + 16 + 1 + dl + 1 + cl > cap)
        return -ENOSPC;
    out[o++] = TOKEN_VERSION;
    put64(out + o, issued_ms);
    put64(out + o + 8, expires_ms);
    o += 16;
    out[o++] = (uint8_t)dl;
    memcpy(out + o, dc_id, dl);
    o += dl;
    out[o++] = (uint8_t)cl;
    memcpy(out + o, customer_id, cl);
    o += cl;
    return (int)o;
}

static int payload_parse(const uint8_t *p, size_t n, struct auth_token *out)
{
    size_t o, dl, cl;

    if (n < 1 || (p[0] != TOKEN_VERSION && p[0] != TOKEN_V1))
        return -EINVAL;
    o = p[0] == TOKEN_V1 ? 9 : 17;
    if (n < o + 2)
        return -EINVAL;
    out->issued_ms = p[0] == TOKEN_V1 ? 0 : get64(p + 1);
    out->expires_ms = get64(p + o - 8);
    dl = p[o++];
    if (o + dl + 1 > n)
        return -EINVAL;
    memcpy(out->dc_id, p + o, dl);
    out->dc_id[dl] = '\0';
    o += dl;
    cl = p[o++];
    if (o + cl != n)
        return -EINVAL;
    memcpy(out->customer_id, p + o, cl);
    out->customer_id[cl] = '\0';
    /* An id with an embedded NUL would compare as a different, shorter id. */
    if (strlen(out->dc_id) != dl || strlen(out->customer_id) != cl)
        return -EINVAL;
    return 0;
}

/* 0, or -EIO when OpenSSL fails: out is then not a MAC and must not be
 * used (a token is neither made nor accepted: fail closed). */
static int mac(const uint8_t secret[STORE_SECRET_LEN], const uint8_t *p, size_t n, uint8_t out[MAC_LEN])
{
    unsigned int len = MAC_LEN;

    if (!HMAC(EVP_sha256(), secret, STORE_SECRET_LEN, p, n, out, &len) || len != MAC_LEN)
        return -EIO;
    return 0;
}

int auth_token_create(const uint8_t secret[STORE_SECRET_LEN], const char *dc_id, const char *customer_id,
                      int64_t expires_ms, char *out, size_t cap)
{
    return auth_token_create_at(secret, dc_id, customer_id, auth_now_ms(), expires_ms, out, cap);
}

int auth_token_create_at(const uint8_t secret[STORE_SECRET_LEN], const char *dc_id, const char *customer_id,
                         int64_t issued_ms, int64_t expires_ms, char *out, size_t cap)
{
    uint8_t buf[1 + 16 + 2 + 2 * 255 + MAC_LEN];
    size_t plen = strlen(AUTH_TOKEN_PREFIX);
    int n, m;

    n = payload_build(dc_id, customer_id, issued_ms, expires_ms, buf, sizeof(buf) - MAC_LEN);
    if (n < 0)
        return n;
    if (mac(secret, buf, (size_t)n, buf + n))
        return -EIO;
    if (cap < plen + 1)
        return -ENOSPC;
    memcpy(out, AUTH_TOKEN_PREFIX, plen);
    m = b64url_encode(buf, (size_t)n + MAC_LEN, out + plen, cap - plen);
    return m < 0 ? m : 0;
}

int auth_token_verify(const uint8_t secret[STORE_SECRET_LEN], const char *token, size_t len, int64_t now_ms,
                      struct auth_token *out)
{
    uint8_t buf[1 + 16 + 2 + 2 * 255 + MAC_LEN], want[MAC_LEN];
    size_t plen = strlen(AUTH_TOKEN_PREFIX);
    int n;

    if (len <= plen || memcmp(token, AUTH_TOKEN_PREFIX, plen) != 0)
        return -EINVAL;
    n = b64url_decode(token + plen, len - plen, buf, sizeof(buf));
    if (n < MAC_LEN + 11)
        return -EINVAL;
    n -= MAC_LEN;
    if (mac(secret, buf, (size_t)n, want) || CRYPTO_memcmp(want, buf + n, MAC_LEN) != 0)
        return -EINVAL;
    if (payload_parse(buf, (size_t)n, out))
        return -EINVAL;
    if (out->expires_ms <= now_ms)
        return -EKEYEXPIRED;
    return 0;
}

/* "Bearer X" -> X (scheme case-insensitive, as RFC 7235 says). */
static const char *bearer_value(const char *header)
{
    static const char scheme[] = "bearer ";

    if (!header || strncasecmp(header, scheme, sizeof(scheme) - 1) != 0)
        return NULL;
    header += sizeof(scheme) - 1;
    while (*header == ' ')
        header++;
    return *header ? header : NULL;
}

int auth_token_revoked(struct store *s, struct cache *cache, const struct auth_cred *cred)
{
    unsigned char k[1 + STORE_KEY_HASH_LEN], verdict;
    const unsigned char *hit;
    size_t len;
    int rc;

    /* The verdict follows from the token's text alone (hash, ids, issue
     * time), so it is cached by hash until the database changes. */
    k[0] = 'R';
    memcpy(k + 1, cred->key_hash, STORE_KEY_HASH_LEN);
    if (cache && (hit = cache_get(cache, k, sizeof(k), &len)) && len == 1)
        return hit[0];
    rc = store_token_revoked(s, cred->key_hash, cred->token.dc_id, cred->token.customer_id, cred->token.issued_ms);
    if (rc < 0)
        return rc;
    verdict = (unsigned char)rc;
    if (cache)
        cache_put(cache, k, sizeof(k), &verdict, 1);
    return rc;
}

int auth_resolve(struct store *s, const uint8_t secret[STORE_SECRET_LEN], const char *authorization, int64_t now_ms,
                 struct auth_cred *out)
{
    return auth_resolve_cached(s, NULL, secret, authorization, now_ms, out);
}

int auth_resolve_cached(struct store *s, struct cache *cache, const uint8_t secret[STORE_SECRET_LEN],
                        const char *authorization, int64_t now_ms, struct auth_cred *out)
{
    const char *v = bearer_value(authorization);
    size_t len;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!v)
        return -EACCES;
    len = strcspn(v, " \t");
    if (v[len] != '\0')
        return -EACCES;
    if (!strncmp(v, AUTH_TOKEN_PREFIX, strlen(AUTH_TOKEN_PREFIX))) {
        /* Expired is said apart (only of a genuine token: the signature is
         * checked first) so that its holder is told the truth. */
        rc = auth_token_verify(secret, v, len, now_ms, &out->token);
        if (rc)
            return rc == -EKEYEXPIRED ? rc : -EACCES;
        out->kind = AUTH_TOKEN;
        auth_key_hash(v, len, out->key_hash);
        rc = auth_token_revoked(s, cache, out);
        if (rc) {
            out->kind = AUTH_NONE;
            return rc > 0 ? -EACCES : rc;
        }
        return 0;
    }
    /* The lookup is by SHA-256 of the key, an index search on a hash an
     * attacker cannot steer, so it leaks nothing through timing. */
    auth_key_hash(v, len, out->key_hash);
    rc = store_key_lookup(s, out->key_hash, &out->key);
    if (rc == -ENOENT || (rc == 0 && out->key.revoked))
        return -EACCES;
    if (rc)
        return rc;
    out->kind = AUTH_KEY;
    return 0;
}

int auth_may_read_dc(struct store *s, const struct auth_cred *cred, const char *dc_id)
{
    int rc = store_dc_exists(s, dc_id);

    if (rc <= 0)
        return rc;
    switch (cred->kind) {
    case AUTH_KEY:
        return cred->key.all_dcs ? 1 : store_key_has_dc(s, cred->key.id, dc_id);
    case AUTH_TOKEN:
        return strcmp(cred->token.dc_id, dc_id) == 0;
    default:
        return 0;
    }
}

int auth_may_read_customer(const struct auth_cred *cred, const char *dc_id, const char *customer_id)
{
    if (cred->kind == AUTH_KEY)
        return 1; /* DC access was checked by auth_may_read_dc */
    if (cred->kind == AUTH_TOKEN)
        return !strcmp(cred->token.dc_id, dc_id) && !strcmp(cred->token.customer_id, customer_id);
    return 0;
}

int auth_secret_sync(struct auth_secret *sec, struct store *s, int64_t version)
{
    uint8_t fresh[STORE_SECRET_LEN];
    int changed;

    if (version == sec->version && version != -1)
        return 0;
    /* A missing secret keeps the old one: between DELETE FROM secrets and
     * init, no token could be made or checked otherwise. */
    if (store_secret_get(s, fresh))
        return -EIO;
    changed = CRYPTO_memcmp(fresh, sec->key, sizeof(fresh)) != 0;
    memcpy(sec->key, fresh, sizeof(fresh));
    OPENSSL_cleanse(fresh, sizeof(fresh));
    sec->version = version;
    return changed;
}

int64_t auth_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

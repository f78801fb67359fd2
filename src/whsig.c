/* SPDX-License-Identifier: MIT
 *
 * Standard Webhooks v1 (symmetric) signatures: secrets, signing and the
 * receiver's verification, with OpenSSL's HMAC and constant-time compare.
 * Base64 is strict here (padded, standard alphabet, no whitespace) so each
 * secret and signature has exactly one spelling. Pure; any thread.
 */
#include "whsig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define SECRET_PREFIX "whsec_"
#define SECRET_PREFIX_LEN (sizeof(SECRET_PREFIX) - 1)
#define MAC_LEN 32
/* base64 of MAC_LEN bytes */
#define MAC_B64_LEN 44

static const char b64_digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int whsig_b64_encode(const uint8_t *in, size_t len, char *out, size_t outlen)
{
    size_t need = (len + 2) / 3 * 4, o = 0;

    if (outlen < need + 1)
        return -ENOSPC;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t left = len - i;

        if (left > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (left > 2)
            v |= in[i + 2];
        out[o++] = b64_digits[(v >> 18) & 63];
        out[o++] = b64_digits[(v >> 12) & 63];
        out[o++] = left > 1 ? b64_digits[(v >> 6) & 63] : '=';
        out[o++] = left > 2 ? b64_digits[v & 63] : '=';
    }
    out[o] = '\0';
    return (int)o;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int whsig_b64_decode(const char *text, size_t textlen, uint8_t *out, size_t outlen)
{
    size_t o = 0;

    if (textlen % 4)
        return -EINVAL;
    for (size_t i = 0; i < textlen; i += 4) {
        int last = i + 4 == textlen;
        int pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=' && text[i + 3] == '=') : 0;
        uint32_t v = 0;

        for (int j = 0; j < 4 - pad; j++) {
            int d = b64_value(text[i + (size_t)j]);

            if (d < 0)
                return -EINVAL;
            v |= (uint32_t)d << (18 - 6 * j);
        }
        /* The bits below the last byte must be zero: one spelling per value. */
        if ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff)))
            return -EINVAL;
        if (o + 3 - (size_t)pad > outlen)
            return -ENOSPC;
        out[o++] = (uint8_t)(v >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(v >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)v;
    }
    return (int)o;
}

int whsig_secret_parse(const char *text, struct whsig_key *key)
{
    size_t len;
    int n;

    memset(key, 0, sizeof(*key));
    if (strncmp(text, SECRET_PREFIX, SECRET_PREFIX_LEN))
        return -EINVAL;
    text += SECRET_PREFIX_LEN;
    len = strlen(text);
    if (len > (WHSIG_KEY_MAX + 2) / 3 * 4)
        return -EINVAL;
    n = whsig_b64_decode(text, len, key->bytes, sizeof(key->bytes));
    if (n < WHSIG_KEY_MIN) {
        memset(key, 0, sizeof(*key));
        return -EINVAL;
    }
    key->len = (size_t)n;
    return 0;
}

int whsig_secret_format(const struct whsig_key *key, char *out, size_t outlen)
{
    if (key->len < WHSIG_KEY_MIN || key->len > WHSIG_KEY_MAX)
        return -EINVAL;
    if (outlen < SECRET_PREFIX_LEN + 1)
        return -ENOSPC;
    memcpy(out, SECRET_PREFIX, SECRET_PREFIX_LEN);
    if (whsig_b64_encode(key->bytes, key->len, out + SECRET_PREFIX_LEN, outlen - SECRET_PREFIX_LEN) < 0) {
        out[0] = '\0';
        return -ENOSPC;
    }
    return 0;
}

int whsig_secret_generate(struct whsig_key *key)
{
    memset(key, 0, sizeof(*key));
    if (RAND_bytes(key->bytes, WHSIG_KEY_GEN) != 1)
        return -EIO;
    key->len = WHSIG_KEY_GEN;
    return 0;
}

/* The specification forbids '.' in the id (it separates the signed parts);
 * control characters and spaces could not travel in a header either. */
static int id_valid(const char *id)
{
    if (!*id)
        return 0;
    for (; *id; id++)
        if (*id == '.' || (unsigned char)*id <= ' ' || *id == 0x7f)
            return 0;
    return 1;
}

/* HMAC-SHA256 of "id.timestamp.body" into mac. */
static int mac_compute(const struct whsig_key *key, const char *id, const char *ts, const void *body, size_t len,
                       uint8_t mac[MAC_LEN])
{
    EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = alg ? EVP_MAC_CTX_new(alg) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0), OSSL_PARAM_END};
    size_t maclen = 0;
    int rc = -EIO;

    if (ctx && EVP_MAC_init(ctx, key->bytes, key->len, params) == 1 &&
        EVP_MAC_update(ctx, (const unsigned char *)id, strlen(id)) == 1 &&
        EVP_MAC_update(ctx, (const unsigned char *)".", 1) == 1 &&
        EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts)) == 1 &&
        EVP_MAC_update(ctx, (const unsigned char *)".", 1) == 1 &&
        (len == 0 || EVP_MAC_update(ctx, body, len) == 1) && EVP_MAC_final(ctx, mac, &maclen, MAC_LEN) == 1 &&
        maclen == MAC_LEN)
        rc = 0;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(alg);
    return rc;
}

int whsig_sign(const struct whsig_key *key, const char *id, int64_t timestamp, const void *body, size_t len,
               char out[WHSIG_SIG_LEN])
{
    uint8_t mac[MAC_LEN];
    char ts[24];
    int rc;

    out[0] = '\0';
    if (!id_valid(id) || timestamp < 0 || key->len < WHSIG_KEY_MIN || key->len > WHSIG_KEY_MAX)
        return -EINVAL;
    snprintf(ts, sizeof(ts), "%lld", (long long)timestamp);
    if ((rc = mac_compute(key, id, ts, body, len, mac)))
        return rc;
    memcpy(out, "v1,", 3);
    whsig_b64_encode(mac, sizeof(mac), out + 3, WHSIG_SIG_LEN - 3);
    OPENSSL_cleanse(mac, sizeof(mac));
    return 0;
}

int whsig_header(const struct whsig_key *keys, size_t nkeys, const char *id, int64_t timestamp, const void *body,
                 size_t len, char *out, size_t outlen)
{
    size_t o = 0;

    if (nkeys < 1 || nkeys > 2)
        return -EINVAL;
    if (outlen < nkeys * WHSIG_SIG_LEN)
        return -ENOSPC;
    for (size_t i = 0; i < nkeys; i++) {
        int rc;

        if (i)
            out[o++] = ' ';
        if ((rc = whsig_sign(&keys[i], id, timestamp, body, len, out + o))) {
            out[0] = '\0';
            return rc;
        }
        o += strlen(out + o);
    }
    return 0;
}

/* Decimal Unix seconds, digits only (no sign, no spaces), at most 15 of them. */
static int timestamp_parse(const char *text, int64_t *out)
{
    int64_t v = 0;
    size_t n = 0;

    for (; text[n]; n++) {
        if (text[n] < '0' || text[n] > '9' || n >= 15)
            return -EINVAL;
        v = v * 10 + (text[n] - '0');
    }
    if (!n)
        return -EINVAL;
    *out = v;
    return 0;
}

int whsig_verify(const struct whsig_key *keys, size_t nkeys, const char *id, const char *timestamp_text,
                 const void *body, size_t len, const char *header, int64_t now_s, int64_t tolerance_s)
{
    uint8_t macs[2][MAC_LEN];
    int64_t ts;
    int matched = 0, rc;

    if (nkeys < 1 || nkeys > 2 || !id_valid(id) || timestamp_parse(timestamp_text, &ts))
        return -EINVAL;
    if (ts < now_s - tolerance_s || ts > now_s + tolerance_s)
        return -ETIME;
    for (size_t k = 0; k < nkeys; k++)
        if ((rc = mac_compute(&keys[k], id, timestamp_text, body, len, macs[k])))
            goto done;
    /* Each space-separated item is "VERSION,BASE64"; only v1 is ours. */
    for (const char *p = header; *p;) {
        const char *end = strchr(p, ' ');
        size_t itemlen = end ? (size_t)(end - p) : strlen(p);
        uint8_t sig[MAC_LEN + 2];

        if (itemlen == 3 + MAC_B64_LEN && !strncmp(p, "v1,", 3) &&
            whsig_b64_decode(p + 3, MAC_B64_LEN, sig, sizeof(sig)) == MAC_LEN)
            for (size_t k = 0; k < nkeys; k++)
                matched |= CRYPTO_memcmp(sig, macs[k], MAC_LEN) == 0;
        p += itemlen;
        while (*p == ' ')
            p++;
    }
    rc = matched ? 0 : -EACCES;
done:
    OPENSSL_cleanse(macs, sizeof(macs));
    return rc;
}

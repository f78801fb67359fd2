/* SPDX-License-Identifier: MIT
 *
 * Credentials: API keys (random, stored as SHA-256) and tracking tokens
 * (HMAC-SHA256 over DC, customer and expiry). Uses OpenSSL; decides who may
 * read what, but leaves status codes to routes.c.
 */
#ifndef WAYPOINTD_AUTH_H
#define WAYPOINTD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct cache;

/* "wpk_" + 43 base64url characters (256 random bits) + NUL. */
#define AUTH_KEY_LEN 47
#define AUTH_KEY_PREFIX "wpk_"
#define AUTH_TOKEN_PREFIX "wpt_"
/* Big enough for a token carrying two 255-byte ids. */
#define AUTH_TOKEN_MAX 1024
#define AUTH_TTL_DEFAULT 86400
#define AUTH_TTL_MAX 2592000

/* The words every transport (REST, SSE, WebSocket) uses for a refused
 * credential, so that one fault reads the same everywhere. A token's scope is
 * said without consulting the database: it tells nothing about which DCs exist. */
#define AUTH_MSG_UNAUTHORIZED "Missing, unknown or revoked credential"
#define AUTH_MSG_EXPIRED "Tracking token expired"
#define AUTH_MSG_TOKEN_SCOPE "A tracking token reads only its own customer's waypoints"
#define AUTH_MSG_DC_SCOPE "DC does not exist or the credential may not access it"

/* Make a new API key into out (at least AUTH_KEY_LEN + 1 bytes). 0 or -EIO. */
int auth_key_generate(char *out, size_t cap);
/* SHA-256 of the key's text. */
void auth_key_hash(const char *key, size_t len, uint8_t out[STORE_KEY_HASH_LEN]);

/* Sign a tracking token for one customer, valid until expires_ms (epoch ms).
 * Returns 0, -ENAMETOOLONG if ids are too long, -ENOSPC if cap is too small,
 * -EIO if OpenSSL fails (no token then; auth_token_verify refuses all). */
int auth_token_create(const uint8_t secret[STORE_SECRET_LEN], const char *dc_id, const char *customer_id,
                      int64_t expires_ms, char *out, size_t cap);
/* The same with the issue time given (auth_token_create uses now): the time
 * a customer's revocation (store_token_revoke_customer) compares with. */
int auth_token_create_at(const uint8_t secret[STORE_SECRET_LEN], const char *dc_id, const char *customer_id,
                         int64_t issued_ms, int64_t expires_ms, char *out, size_t cap);

struct auth_token {
    char dc_id[256];
    char customer_id[256];
    int64_t expires_ms;
    int64_t issued_ms; /* 0 for a version 1 token, which does not carry it */
};
/* Verify a token's signature and expiry at now_ms. 0 and *out, -EINVAL for a
 * malformed or forged token, -EKEYEXPIRED for an expired one. */
int auth_token_verify(const uint8_t secret[STORE_SECRET_LEN], const char *token, size_t len, int64_t now_ms,
                      struct auth_token *out);

enum auth_kind { AUTH_NONE = 0, AUTH_KEY, AUTH_TOKEN };

struct auth_cred {
    enum auth_kind kind;
    struct store_key key;     /* AUTH_KEY */
    uint8_t key_hash[STORE_KEY_HASH_LEN]; /* SHA-256 of the key's or token's text: to look it up again */
    struct auth_token token;  /* AUTH_TOKEN */
};

/* Resolve a bearer credential (a key or a token). 0 and *out, -EACCES when
 * it is missing, unknown, revoked or forged, -EKEYEXPIRED for a genuine token
 * past its expiry (AUTH_MSG_EXPIRED tells its holder); -EIO on a database error
 * (-EBUSY: locked elsewhere). A token's revocation is one query. */
int auth_resolve(struct store *s, const uint8_t secret[STORE_SECRET_LEN], const char *bearer, int64_t now_ms,
                 struct auth_cred *out);
/* The same, with a token's revocation verdict taken from (and put in) the
 * thread's cache, which the caller has just cache_sync'ed to the database's
 * data_version: no query while the database is quiet. cache may be NULL. */
int auth_resolve_cached(struct store *s, struct cache *cache, const uint8_t secret[STORE_SECRET_LEN],
                        const char *bearer, int64_t now_ms, struct auth_cred *out);
/* Is an AUTH_TOKEN credential revoked (one token, or its customer's tokens
 * up to its issue time)? 1 yes, 0 no, negative errno. cache as above. */
int auth_token_revoked(struct store *s, struct cache *cache, const struct auth_cred *cred);

/* A service thread's copy of the token secret, read again when the database
 * changes, so that a rotated secret (docs/api.md) takes effect without a
 * restart. Only its thread reads and writes it. */
struct auth_secret {
    uint8_t key[STORE_SECRET_LEN];
    int64_t version; /* the version it was read under (freshness.h); -1: read it again */
};
/* Bring sec up to date with the database s, whose version (freshness.h:
 * any value but -1, which means unknown) is now version; reads only when
 * version differs from sec's. 1 when the key changed
 * (tokens signed with the old one no longer verify), 0 when not, -EIO when
 * there is no secret to read (deleted, init not run yet) or the read failed:
 * then sec keeps its key and reads again at the next call. */
int auth_secret_sync(struct auth_secret *sec, struct store *s, int64_t version);

/* May cred read DC dc_id at all? 1 yes, 0 no (403), negative on error.
 * A DC that does not exist is a no, whoever asks. */
int auth_may_read_dc(struct store *s, const struct auth_cred *cred, const char *dc_id);
/* May cred read this customer's waypoints (REST or live)? 1 or 0. */
int auth_may_read_customer(const struct auth_cred *cred, const char *dc_id, const char *customer_id);

/* Current time in epoch milliseconds. */
int64_t auth_now_ms(void);

#endif

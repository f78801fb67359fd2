/* SPDX-License-Identifier: MIT
 *
 * The database: schema and migrations, the Customers API reads, API keys and
 * the token secret. store.c is the only file that includes <sqlite3.h>; one
 * struct store is one SQLite connection and is used by one thread at a time.
 */
#ifndef WAYPOINTD_STORE_H
#define WAYPOINTD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct store;

/* The schema version this build migrates to (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 1
/* The Customers API returns at most this many waypoints. */
#define STORE_MAX_WAYPOINTS 10
/* Size of the HMAC secret for tracking tokens. */
#define STORE_SECRET_LEN 32
#define STORE_KEY_HASH_LEN 32

enum store_mode {
    STORE_OPEN_EXISTING = 0, /* the file must exist and be at STORE_SCHEMA_VERSION */
    STORE_OPEN_CREATE,       /* create the file if needed; the caller migrates */
};

/* Open path. On failure returns a negative errno and, when err is not NULL,
 * a one-line reason in err. -ENOENT: no such database; -EPROTO: not initialised
 * or older than this build (run init). */
int store_open(const char *path, enum store_mode mode, struct store **out, char *err, size_t errlen);
void store_close(struct store *s);
/* The last SQLite error message of this connection (owned by the store). */
const char *store_errmsg(struct store *s);

/* Create or upgrade the schema to STORE_SCHEMA_VERSION in one transaction,
 * switch to WAL, and create the token secret if missing. Idempotent. */
int store_migrate(struct store *s);
int store_schema_version(struct store *s, int *version);

/* 1 if the DC exists, 0 if not, negative errno on error. */
int store_dc_exists(struct store *s, const char *dc_id);
/* 0 and *out filled (release with customer_clear), -ENOENT, or -EIO. */
int store_customer_get(struct store *s, const char *dc_id, const char *id, struct customer *out);
/* The newest (most recently inserted) waypoints of a customer, newest first:
 * fills out[0..*n) with at most max rows; release with waypoints_clear. */
int store_waypoints_recent(struct store *s, const char *dc_id, const char *customer_id, struct waypoint *out,
                           size_t max, size_t *n);

/* API keys. A key row holds only the SHA-256 hash of the key. */
struct store_key {
    int64_t id;
    int all_dcs;
    int revoked;
};
/* -EEXIST when the name is taken. dcs may be NULL when all_dcs. */
int store_key_insert(struct store *s, const char *name, const uint8_t hash[STORE_KEY_HASH_LEN], int all_dcs,
                     const char *const *dcs, size_t ndcs);
/* -ENOENT for an unknown name; revoking twice is not an error. */
int store_key_revoke(struct store *s, const char *name);
/* 0 and *out, or -ENOENT for an unknown hash. */
int store_key_lookup(struct store *s, const uint8_t hash[STORE_KEY_HASH_LEN], struct store_key *out);
/* 1 if key_id lists dc_id, 0 if not. */
int store_key_has_dc(struct store *s, int64_t key_id, const char *dc_id);

/* The HMAC secret for tracking tokens (created by store_migrate). */
int store_secret_get(struct store *s, uint8_t out[STORE_SECRET_LEN]);

#endif

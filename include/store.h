/* SPDX-License-Identifier: MIT
 *
 * The database: schema and migrations, the Customers API reads, API keys and
 * the token secret, the change log, webhook endpoints. Only the store*.c
 * files (behind store_int.h) and the simulator (an outside writer, with
 * plain SQL) include <sqlite3.h>; one struct store is one SQLite connection
 * and is used by one thread at a time.
 */
#ifndef WAYPOINTD_STORE_H
#define WAYPOINTD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct store;

/* The schema version this build migrates to (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 7
/* The Customers API returns at most this many waypoints. */
#define STORE_MAX_WAYPOINTS 10
/* Size of the HMAC secret for tracking tokens. */
#define STORE_SECRET_LEN 32
#define STORE_KEY_HASH_LEN 32

enum store_mode {
    STORE_OPEN_EXISTING = 0, /* the file must exist and be at STORE_SCHEMA_VERSION */
    STORE_OPEN_CREATE,       /* create the file if needed; the caller migrates */
    STORE_OPEN_SERVICE,      /* as EXISTING, for a service thread: the file must
                              * also be in WAL mode, and a lock held by another
                              * process is waited for only STORE_SERVICE_BUSY_MS */
};

/* How long a service thread's connection waits for another process's lock
 * before a read fails with -EBUSY (an event loop must not sleep in SQLite). */
#define STORE_SERVICE_BUSY_MS 100

/* Open path. On failure returns a negative errno and, when err is not NULL,
 * a one-line reason in err. -ENOENT: no such database; -EPROTO: not initialised
 * or older than this build (run init); -EMEDIUMTYPE (STORE_OPEN_SERVICE): not
 * in WAL mode (run init). */
int store_open(const char *path, enum store_mode mode, struct store **out, char *err, size_t errlen);
void store_close(struct store *s);
/* The last SQLite error message of this connection (owned by the store). */
const char *store_errmsg(struct store *s);

/* Create or upgrade the schema to STORE_SCHEMA_VERSION in one transaction,
 * switch to WAL, and create the token secret if missing. Idempotent. */
int store_migrate(struct store *s);
int store_schema_version(struct store *s, int *version);

/* Reads fail with -EBUSY when another process holds a lock past the
 * connection's busy timeout (try again soon), -EIO on other SQLite errors. */

/* 1 if the DC exists, 0 if not, negative errno on error. */
int store_dc_exists(struct store *s, const char *dc_id);
/* 0 and *out filled (release with customer_clear), -ENOENT, or -EIO. */
int store_customer_get(struct store *s, const char *dc_id, const char *id, struct customer *out);
/* The newest (most recently inserted) waypoints of a customer, newest first:
 * fills out[0..*n) with at most max rows; release with waypoints_clear. */
int store_waypoints_recent(struct store *s, const char *dc_id, const char *customer_id, struct waypoint *out,
                           size_t max, size_t *n);

/* API keys. A key row holds only the SHA-256 hash of the key. (The listing and
 * token revocations are in store_creds.c.) */
struct store_key {
    int64_t id;
    int all_dcs;
    int revoked;
};
/* -EEXIST when a live (not revoked) key has the name: a revoked key's name
 * may be used again, and its row stays. dcs may be NULL when all_dcs. */
int store_key_insert(struct store *s, const char *name, const uint8_t hash[STORE_KEY_HASH_LEN], int all_dcs,
                     const char *const *dcs, size_t ndcs);
/* Revoke the live key of that name: 0, -EALREADY when every key of that
 * name is revoked already, -ENOENT when no key ever had it. */
int store_key_revoke(struct store *s, const char *name);
/* One key as listed (never its hash). Valid only during the callback. */
struct store_key_info {
    int64_t id;
    const char *name;
    int all_dcs;
    const char *const *dcs; /* sorted; ndcs 0 when all_dcs */
    size_t ndcs;
    int64_t created_ms;
    int64_t revoked_ms; /* 0: live */
};
/* Non-zero from the callback stops the listing and is returned. */
typedef int (*store_key_cb)(const struct store_key_info *k, void *arg);
/* Every key ever made, revoked ones too, oldest first. 0 or negative errno. */
int store_key_list(struct store *s, store_key_cb cb, void *arg);
/* 0 and *out, or -ENOENT for an unknown hash. */
int store_key_lookup(struct store *s, const uint8_t hash[STORE_KEY_HASH_LEN], struct store_key *out);
/* 1 if key_id lists dc_id, 0 if not. */
int store_key_has_dc(struct store *s, int64_t key_id, const char *dc_id);

/* Tracking-token revocation. One token is known by the SHA-256 of its text;
 * a customer's tokens by a cutoff: those issued at or before it are refused.
 * 1 when the token is revoked, 0 when not, negative errno. issued_ms 0: not
 * known (a token older than the issue time in tokens), refused by any cutoff. */
int store_token_revoked(struct store *s, const uint8_t hash[STORE_KEY_HASH_LEN], const char *dc_id,
                        const char *customer_id, int64_t issued_ms);
/* Revoke one token (expires_ms: when the row may be dropped, which this call
 * does for rows of tokens expired since). 0, -EALREADY, or negative errno. */
int store_token_revoke(struct store *s, const uint8_t hash[STORE_KEY_HASH_LEN], const char *dc_id,
                       const char *customer_id, int64_t expires_ms);
/* Refuse every token of the customer issued until now; *cutoff_ms = now. */
int store_token_revoke_customer(struct store *s, const char *dc_id, const char *customer_id, int64_t *cutoff_ms);

/* The HMAC secret for tracking tokens (created by store_migrate). */
int store_secret_get(struct store *s, uint8_t out[STORE_SECRET_LEN]);

/* ---- The change log (store_log.c) ----
 * Triggers on waypoints append one row per changed waypoint to change_log in
 * the writer's transaction; seq never repeats, even after pruning. */

enum store_change_kind {
    STORE_CHANGE_UPSERT, /* inserted or updated: w holds the row as read */
    STORE_CHANGE_DELETE, /* deleted, or moved to another customer: only ids */
};

struct store_change {
    int64_t seq;        /* the newest log row this change reflects */
    int64_t changed_ms; /* when that row was written (epoch ms) */
    enum store_change_kind kind;
    struct waypoint w;  /* dc_id, id and customer_id always set */
};
void store_changes_free(struct store_change *c, size_t n);

/* The newest change number ever assigned and the newest one pruned away. */
struct store_log_head {
    int64_t head;
    int64_t pruned_through;
};
int store_log_head(struct store *s, struct store_log_head *out);

/* Read at most max log rows with seq > after, in one read transaction, and
 * coalesce them: per (DC, customer, waypoint) only the newest survives, in
 * seq order. *out is malloc'd (free with store_changes_free), *next is the
 * seq of the last row read (after when there was none). */
int store_changes_read(struct store *s, int64_t after, size_t max, struct store_change **out, size_t *n,
                       int64_t *next);

/* What a new subscription starts from, read in one transaction: either a
 * snapshot consistent with change number seq, or (resumed) the coalesced
 * changes in (since, seq] of that subscription's scope. */
struct store_sub_state {
    int64_t seq;
    int resumed;
    struct waypoint *w; /* snapshot: customer's newest 10, or the DC's PENDING ones */
    size_t nw;
    struct store_change *changes; /* resumed: the replay */
    size_t nchanges;
};
/* customer_id NULL subscribes to the whole DC. since < 0: no resume. A since
 * older than the log keeps, newer than its head, or with more than
 * STORE_REPLAY_MAX rows to replay gets a fresh snapshot instead. */
int store_subscribe_read(struct store *s, const char *dc_id, const char *customer_id, int64_t since,
                         struct store_sub_state *out);
void store_sub_state_clear(struct store_sub_state *st);
#define STORE_REPLAY_MAX 50000

/* Delete log rows beyond the retention (more than keep_rows behind the head,
 * or written before now_ms - keep_ms), never past upto (what the server has
 * already delivered), in transactions of at most STORE_PRUNE_CHUNK rows with
 * a pause of STORE_PRUNE_PAUSE_MS between them (writers get in), at most
 * STORE_PRUNE_MAX_CHUNKS per call (the rest at the next call). *pruned is
 * the new pruned_through, 0 when nothing was deleted. Does not wait for a
 * busy writer: -EBUSY when not even one chunk could be done, try later. */
#define STORE_PRUNE_CHUNK 10000
#define STORE_PRUNE_MAX_CHUNKS 10
#define STORE_PRUNE_PAUSE_MS 10
int store_log_prune(struct store *s, int64_t keep_rows, int64_t keep_ms, int64_t now_ms, int64_t upto,
                    int64_t *pruned);

/* PRAGMA data_version: changes whenever another connection commits. */
int store_data_version(struct store *s, int64_t *v);

#endif

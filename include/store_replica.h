/* SPDX-License-Identifier: MIT
 *
 * An edge's replica database (docs/cluster.md): the origin's tables, filled
 * only from the cluster's stream and from snapshots, never by writers. It
 * has no triggers (the stream carries the change log rows themselves, with
 * the origin's seq numbers) and one table of its own, replica_state, which
 * holds the stream id applied last; it is also what marks a file as a
 * replica, so that an edge never opens the origin's file by mistake.
 *
 * Stream entries (relay.c writes them): k "c" is a change-log row, its d
 * {"kind", "dc_id", "customer_id", "waypoint_id", "changed_ms", "waypoint":
 * {"rowid", ...} | null}; any other k names a table whose row image d
 * {"op":"i"|"u"|"d", "key", "image"} carries (BLOBs as hex).
 *
 * One connection, the applier's, writes; the service threads read through
 * their own connections as they would any database.
 */
#ifndef WAYPOINTD_STORE_REPLICA_H
#define WAYPOINTD_STORE_REPLICA_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* Longest stream id text: two int64 and a dash. */
#define STORE_REPLICA_ID_MAX 48

/* Open path as a replica, creating the file when missing: the current
 * schema without triggers, and replica_state. An existing database that is
 * not a replica is refused (-EEXIST, with err), so pointing an edge at the
 * origin's file cannot write into it. *out is the caller's (store_close).
 * 0 or a negative errno with err filled. */
int store_replica_open(const char *path, struct store **out, char *err, size_t errlen);

/* The stream id applied last into id (cap >= STORE_REPLICA_ID_MAX); "" when
 * the replica was never filled. 0 or -EIO. */
int store_replica_applied(struct store *s, char *id, size_t cap);
/* The engine's epoch (wpd:epoch) the replica was loaded under; "" when the
 * engine had none. Same returns. */
int store_replica_epoch(struct store *s, char *epoch, size_t cap);

/* A batch: begin (BEGIN IMMEDIATE), apply entries, then commit with the id
 * of the last entry, which is recorded in the same transaction; or roll
 * back. apply: 0, -EINVAL (a malformed entry, err says why: the caller
 * stops rather than skip it), -EBUSY, -EIO. */
int store_replica_begin(struct store *s);
int store_replica_apply(struct store *s, int64_t seq, const char *k, const char *d, size_t dlen, char *err,
                        size_t errlen);
int store_replica_commit(struct store *s, const char *applied_id);
void store_replica_rollback(struct store *s);

/* Replace the replica's state (tables, change log, its seq) with the
 * snapshot file snap_path, a copy of the origin at stream id id, under the
 * engine's epoch, in one transaction: readers see the old state or the new
 * one. The snapshot must
 * be at this build's schema version (-EPROTO otherwise). 0 or a negative
 * errno with err filled. */
int store_replica_load(struct store *s, const char *snap_path, const char *id, const char *epoch, char *err,
                       size_t errlen);

/* The change log's pruned_through in the snapshot file snap_path (read-only):
 * the newest seq it no longer holds. 0 or -EIO. */
int store_replica_snap_pruned(const char *snap_path, int64_t *pruned);

/* Make a copy of the origin (VACUUM INTO's output) fit to leave it: delete
 * what an edge must never hold (webhook endpoints and their secrets, the
 * outbox) with secure_delete, so the bytes are gone from the file too.
 * 0 or -EIO with err. */
int store_replica_scrub_copy(const char *copy_path, char *err, size_t errlen);

/* The origin's side: copy origin_path (read-only, one read transaction)
 * into copy_path (which must not exist), scrubbed as above; *id is the
 * stream id the copy stands at (cap >= STORE_REPLICA_ID_MAX). 0 or -EIO with
 * err. */
int store_replica_make_copy(const char *origin_path, const char *copy_path, char *id, size_t cap, char *err,
                            size_t errlen);

#endif

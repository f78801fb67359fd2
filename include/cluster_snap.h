/* SPDX-License-Identifier: MIT
 *
 * Snapshots through Redis (docs/cluster.md, "Bootstrap"): how a new edge
 * gets a consistent copy of the origin with nothing but the Redis URL. An
 * edge sets CLUSTER_SNAP_WANT_KEY; the relay, which sees it within a second,
 * copies its database (store_replica_make_copy: one read transaction, webhook
 * secrets scrubbed), stores it in chunks with a SHA-256, and the edge
 * fetches and checks it. The copy holds API key hashes and the token secret:
 * Redis must be private to the cluster (docs/cluster.md, "What Redis needs").
 * Both sides use a caller's connected sync hiredis context, on a thread of
 * their own; neither frees it (on a failed command the caller reconnects).
 */
#ifndef WAYPOINTD_CLUSTER_SNAP_H
#define WAYPOINTD_CLUSTER_SNAP_H

#include <stddef.h>
#include <stdint.h>

struct redisContext;

/* Relay: if an edge asked and no snapshot newer than its request exists,
 * copy db_path and publish it. 1 published, 0 nothing asked, < 0 failed
 * (logged; asked again later, as the want key stays). */
int cluster_snap_serve(struct redisContext *rc, const char *db_path);

/* Edge: ask for a snapshot and wait until deadline_ms (clock_mono_ms) for
 * one made after the request; write it to path (replaced) and its stream
 * id into id (cap >= STORE_REPLICA_ID_MAX). 0, -ETIMEDOUT, -EIO (a Redis
 * error: the caller reconnects), -EBADMSG (a chunk missing or its SHA-256
 * wrong: ask again). */
int cluster_snap_fetch(struct redisContext *rc, const char *path, char *id, size_t cap, int64_t deadline_ms);

#endif

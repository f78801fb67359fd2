/* SPDX-License-Identifier: MIT
 *
 * The Redis keys the relay and the edges share (docs/cluster.md): one place,
 * so the two sides cannot drift apart. The stream's own key is an option
 * (--stream, default CLUSTER_STREAM_DEFAULT); these are fixed.
 */
#ifndef WAYPOINTD_CLUSTER_H
#define WAYPOINTD_CLUSTER_H

#define CLUSTER_STREAM_DEFAULT "wpd:log"
/* The id of the last entry published; missing on an empty engine. */
#define CLUSTER_HEAD_KEY "wpd:head"
/* Changed by `relay --reset-engine` (a database restored from a backup):
 * an edge loaded under another epoch loads a snapshot. Missing: never reset. */
#define CLUSTER_EPOCH_KEY "wpd:epoch"
/* Set by the relay every second, PX 5000: the relay is alive. */
#define CLUSTER_BEAT_KEY "wpd:relay-beat"
/* An edge asks for a snapshot: the epoch ms of its request, PX 60000. */
#define CLUSTER_SNAP_WANT_KEY "wpd:snap-want"
/* The newest snapshot: a hash (id, nonce, chunks, size, sha256, made_ms),
 * written after its chunks "wpd:snap:<nonce>:<i>"; all expire. */
#define CLUSTER_SNAP_KEY "wpd:snap"
#define CLUSTER_SNAP_CHUNK_BYTES (4 * 1024 * 1024)
#define CLUSTER_SNAP_TTL_MS 600000

#endif

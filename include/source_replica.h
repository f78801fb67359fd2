/* SPDX-License-Identifier: MIT
 *
 * The change source of an edge (source.h): the SQLite source on the edge's
 * replica file (the applier's commits are seen like any writer's), plus
 * what only an edge knows from its applier (replica.h):
 * - a client whose since is ahead of this edge but not of the cluster (it
 *   came from an edge further on) resumes at its since instead of getting a
 *   snapshot: the changes after it arrive as the applier brings them;
 * - health fails when the applier is cut off from Redis or falls behind;
 * - cut off for REPLICA_CUT_OFF_MS, live sessions are told to resume
 *   elsewhere (cut_off);
 * - before the applier reloads from a snapshot that lacks changes this
 *   replica had not applied yet (pruned at the origin), the same: live
 *   sessions go elsewhere, and a subscribe meanwhile is answered 503 "try
 *   again", so that no session gets what follows the hole without it.
 */
#ifndef WAYPOINTD_SOURCE_REPLICA_H
#define WAYPOINTD_SOURCE_REPLICA_H

struct replica;
struct source;
struct source_sqlite_config;

/* A source on cfg's replica file, fed by rep (the caller's: it outlives the
 * source). *out is freed by its ops->stop. 0 or -ENOMEM. Main thread. */
int source_replica_new(const struct source_sqlite_config *cfg, struct replica *rep, struct source **out);

#endif

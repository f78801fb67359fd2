/* SPDX-License-Identifier: MIT
 *
 * An edge's applier (docs/cluster.md): keeps the edge's replica database
 * (store_replica.h) equal to the origin's, from the cluster's Redis stream.
 * One thread of its own with the sync hiredis API (0.14's async API has no
 * timeouts): XREAD after the id applied last, check each entry's prev
 * against it (a mismatch is a gap: never applied across, the replica is
 * loaded again from a snapshot, cluster_snap.h), apply each batch in one
 * transaction. The serve code reads the replica as it reads any database:
 * its change watcher sees the applier's commits like any writer's.
 */
#ifndef WAYPOINTD_REPLICA_H
#define WAYPOINTD_REPLICA_H

#include <stdint.h>

struct redis_addr;
struct replica;

struct replica_options {
    const char *url;     /* for messages: redis_addr_describe's, without the password (copied) */
    const struct redis_addr *addr; /* Redis (redis_url.h); the caller's, outliving the replica */
    const char *stream;  /* CLUSTER_STREAM_DEFAULT unless given */
    const char *db_path; /* the replica file, created when missing */
};

/* How far behind, and for how long, before /healthz fails; how long cut off
 * from Redis before live sessions are told to resume elsewhere. */
#define REPLICA_UNHEALTHY_MS 5000
#define REPLICA_CUT_OFF_MS 15000

/* Open (or create) the replica file, connect, load a snapshot when the file
 * is empty or the stream no longer holds what follows it, and apply until
 * caught up with the engine's head; then go on applying on a thread of its
 * own. Waits as long as that takes (logging why every few seconds), as an
 * edge with nothing to serve must not say it listens. *out is the
 * caller's (replica_stop). 0 or a negative errno (reason on stderr). */
int replica_start(const struct replica_options *o, struct replica **out);

/* Stop the thread and free everything; NULL is fine. */
void replica_stop(struct replica *r);

struct replica_status {
    int64_t applied_seq;   /* the change seq applied last */
    int64_t engine_seq;    /* the engine's head as last read */
    int64_t contact_ms;    /* clock_mono_ms() of the last answer from Redis */
    int64_t behind_since;  /* clock_mono_ms() since applied < engine; 0: caught up */
    int64_t bootstraps;    /* snapshots loaded */
    int64_t gaps;          /* gaps found in the stream */
    int64_t entries;       /* entries applied */
    int64_t db_seq;        /* the origin database's last seq, from the relay's heartbeat; -1: no relay */
    int resetting;         /* about to reload past a pruned range: live sessions go elsewhere */
};

/* A consistent-enough copy of the counters (each read atomically). Any
 * thread. */
void replica_status_get(const struct replica *r, struct replica_status *st);

/* 0 while the edge keeps up: Redis answered within REPLICA_UNHEALTHY_MS,
 * it has not been behind for that long, and it is not about to reload past
 * a pruned range (status.resetting); else a negative errno with *why
 * (static). Any thread. */
int replica_health(const struct replica *r, int64_t now_ms, const char **why);

#endif

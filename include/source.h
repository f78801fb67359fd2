/* SPDX-License-Identifier: MIT
 *
 * A change source: where the live channel's changes come from. It publishes
 * every committed change, rendered once, in increasing seq, into the bus
 * (bus.h), which wakes the service threads; and it tells a new subscription
 * where to start. A node that owns its database uses the SQLite watcher
 * (source_sqlite.c); an edge uses source_replica.c, the same watcher on its
 * replica plus the edge's rules; the session, its transports and the
 * fan-out only see this header and bus.h.
 *
 * A source implementation embeds struct source as its first member, and
 * defines struct source_thread (its per-thread side) in its own file: to
 * everyone else it is opaque. serve.c chooses the implementation; the
 * service threads reach it only through these operations.
 */
#ifndef WAYPOINTD_SOURCE_H
#define WAYPOINTD_SOURCE_H

#include <stdint.h>

struct bus;
struct source;
struct source_thread;
struct store;
struct store_sub_state;

struct source_ops {
    const char *name; /* for logs: "sqlite" */
    /* Begin publishing into bus (the caller's; it outlives the source).
     * Before it returns, the bus knows the seq it starts after (bus
     * through), so that a subscription made at once misses nothing. Then
     * every change after it, in increasing seq. 0, or a negative errno
     * (reason logged). Main thread, once. */
    int (*start)(struct source *s, struct bus *bus);
    /* Stop publishing and free the source, whether start ran, failed or
     * not. Main thread, after the service threads have stopped taking and
     * every thread_close; the bus is freed after it. */
    void (*stop)(struct source *s);
    /* Service thread `thread` is being set up (after start, before it
     * runs); db is that thread's own connection (the thread keeps owning
     * it). What start_point is then called with on that thread, or NULL
     * (out of memory). Main thread; thread_close too, once the thread is
     * joined. */
    struct source_thread *(*thread_open)(struct source *s, int thread, struct store *db);
    void (*thread_close)(struct source_thread *t);
    /* Where a subscription to dc_id (and customer_id; NULL: the whole DC)
     * starts: a snapshot and its seq, or (since >= 0, still available) the
     * changes after since, up to the head read. The caller owns *out
     * (store_sub_state_clear). 0, -EBUSY (another process holds a lock:
     * try again), -EIO, -ENOMEM. On the thread that opened t. */
    int (*start_point)(struct source_thread *t, const char *dc_id, const char *customer_id, int64_t since,
                       struct store_sub_state *out);
    /* 0 while the source keeps up, else a negative errno with *why (a
     * static string) for /healthz. now_ms: clock_mono_ms(). Any thread. */
    int (*health)(struct source *s, int64_t now_ms, const char **why);
    /* 1 when live sessions should resume on another node (this one has
     * been cut off from its changes too long), else 0; NULL: never. Any
     * thread. */
    int (*cut_off)(struct source *s, int64_t now_ms);
    /* The source's commit generation: a number that moves at the
     * watcher's next look after any connection of any process commits
     * (docs/architecture.md, "The answer cache"). 0 and *gen, or -EAGAIN
     * when it cannot be trusted now (no inotify watch, reads failing, a
     * look running longer than SOURCE_GEN_LOOK_MS, no look for
     * SOURCE_GEN_STALE_MS): the caller then reads PRAGMA data_version
     * itself. now_ms: clock_mono_ms(). NULL: never. Any thread; one atomic
     * load or three, no lock. */
    int (*commit_gen)(const struct source *s, int64_t now_ms, int64_t *gen);
};

/* A look that has run this long may have missed commits made during it. */
#define SOURCE_GEN_LOOK_MS 20
/* The watcher looks at least every second when it is well. */
#define SOURCE_GEN_STALE_MS 2000

struct source {
    const struct source_ops *ops;
};

#endif

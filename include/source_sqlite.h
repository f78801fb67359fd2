/* SPDX-License-Identifier: MIT
 *
 * The change source of a node that owns its database (source.h): a watcher
 * thread notices commits to the database by any process (inotify on the
 * WAL plus PRAGMA data_version, with a slow fallback poll), reads the new
 * change-log rows in one read transaction, renders each change once
 * (change_msg.h) and publishes it into the bus. It also prunes the log by
 * the retention settings. A subscription starts from the log too
 * (store_subscribe_read on the service thread's own connection).
 */
#ifndef WAYPOINTD_SOURCE_SQLITE_H
#define WAYPOINTD_SOURCE_SQLITE_H

#include <stdint.h>

struct source;

/* Retention defaults: rows kept behind the newest, and their age. */
#define SOURCE_SQLITE_KEEP_ROWS_DEFAULT 1000000LL
#define SOURCE_SQLITE_KEEP_SECONDS_DEFAULT (7LL * 86400)
/* The watcher looks at the database at least every second: this long
 * without a look means it is stuck or gone (health). */
#define SOURCE_SQLITE_STALE_MS 3000

struct source_sqlite_config {
    const char *db_path;  /* the caller's; it must outlive the source */
    int64_t keep_rows;    /* prune rows more than this far behind the head */
    int64_t keep_seconds; /* prune rows older than this */
};

/* A source on cfg, not started yet (nothing opened): *out, freed by its
 * ops->stop whether or not it was started. 0 or -ENOMEM. Main thread. */
int source_sqlite_new(const struct source_sqlite_config *cfg, struct source **out);

#endif

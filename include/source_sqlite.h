/* SPDX-License-Identifier: MIT
 *
 * The change feed: a watcher thread notices commits to the database by any
 * process (inotify on the WAL plus PRAGMA data_version, with a slow fallback
 * poll), reads the new change-log rows in one read transaction, renders each
 * change once, queues a reference for every service thread and wakes it with
 * lws_cancel_service(). It also prunes the log by the retention settings.
 */
#ifndef WAYPOINTD_SOURCE_SQLITE_H
#define WAYPOINTD_SOURCE_SQLITE_H

#include <stddef.h>
#include <stdint.h>

struct bus_batch;
struct feed;
struct lws_context;

/* Retention defaults: rows kept behind the newest, and their age. */
#define FEED_KEEP_ROWS_DEFAULT 1000000LL
#define FEED_KEEP_SECONDS_DEFAULT (7LL * 86400)

struct feed_config {
    const char *db_path;
    int64_t keep_rows;    /* prune rows more than this far behind the head */
    int64_t keep_seconds; /* prune rows older than this */
};

/* Start watching for n service threads; contexts[i] is woken when thread i
 * has changes to take. 0, or a negative errno (reason on stderr). */
int feed_start(const struct feed_config *cfg, struct lws_context *const *contexts, int n, struct feed **out);
/* Stop the watcher and drop what is still queued. feed_stop(NULL) does nothing. */
void feed_stop(struct feed *f);

/* Take every change queued for thread i (bus.h). On service thread i. */
void feed_take(struct feed *f, int thread, struct bus_batch *out);

/* When the watcher last read the database successfully (clock_mono_ms();
 * 0: never). Any thread: health checks. */
int64_t feed_last_check_ms(struct feed *f);

/* 1 while the database path still names the file opened at start (not
 * replaced or removed). Any thread: health checks. */
int feed_file_ok(struct feed *f);

#endif

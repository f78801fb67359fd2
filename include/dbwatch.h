/* SPDX-License-Identifier: MIT
 *
 * Noticing commits to a SQLite database by any process, without polling it
 * hard: an inotify watch on the database's folder (the -wal file changes on
 * every commit; a folder watch keeps working when the WAL is created,
 * deleted or replaced), and after each sign of a write a few more looks
 * over ~200 ms, because SQLite updates the WAL index (what PRAGMA
 * data_version reads) just after writing the WAL file. The caller does the
 * looking; this says when. Used by the change source and the relay, each on
 * a thread of its own.
 */
#ifndef WAYPOINTD_DBWATCH_H
#define WAYPOINTD_DBWATCH_H

#include <limits.h>

struct dbwatch {
    int fd;                       /* inotify; -1: none (wait just sleeps) */
    int recheck;                  /* the ladder's step; DBWATCH_IDLE: idle */
    char wal_name[NAME_MAX + 1];  /* basename of the -wal file */
    char dir[PATH_MAX];           /* the database's folder */
};

/* Watch db_path's folder. 0, or a negative errno: then w->fd is -1 and
 * dbwatch_wait only sleeps (the caller says so once). w->dir is set even
 * then when the path resolves. */
int dbwatch_open(struct dbwatch *w, const char *db_path);
void dbwatch_close(struct dbwatch *w);

/* Sleep until a write is seen, the ladder's next look is due, or idle_ms
 * passes; extra_fd (>= 0) also ends the wait. 1 when extra_fd is readable,
 * 0 otherwise (the caller looks at the database then), -errno on a poll
 * failure other than EINTR. */
int dbwatch_wait(struct dbwatch *w, int extra_fd, int idle_ms);

/* For a caller that polls w->fd in its own loop (webhook delivery, in
 * curl_multi_poll): read the pending events; 1 when one was a write to the
 * database's WAL, else 0. */
int dbwatch_drain(struct dbwatch *w);

#endif

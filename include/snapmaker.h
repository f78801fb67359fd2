/* SPDX-License-Identifier: MIT
 *
 * Where a dispatcher's DC subscription starts, worked out off the service
 * threads: the read of the DC's PENDING waypoints (or of the changes after
 * its since) and the rendering of its snapshot run on one worker thread
 * with its own database connection, so a tracking page on the same service
 * thread is not kept waiting behind a 20,000-stop snapshot (docs/live.md,
 * "Large DC snapshots"). The worker keeps its last rendering per DC and
 * gives it to every dashboard that subscribes at the same seq while the
 * database is unchanged, whichever service thread it is on.
 *
 * A job is handed over whole (snapmaker_submit) and comes back to the
 * thread that submitted it (snapmaker_done), after that thread's context
 * was woken; in between, only its `owner` may be changed, and only by that
 * thread. Everything else here is safe from any thread.
 */
#ifndef WAYPOINTD_SNAPMAKER_H
#define WAYPOINTD_SNAPMAKER_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "view.h"

struct metrics;
struct snapmaker;
struct source;

/* Jobs waiting for the worker at most: a subscribe beyond it is answered
 * 503 (try again), which loses nothing. */
#define SNAPMAKER_QUEUE_MAX 1024
/* A snapshot with this many waypoints is kept for the next dashboard of
 * its DC; a smaller one is cheap to render again. */
#define SNAPMAKER_SHARE_MIN 256

struct snap_job {
    struct view_client_msg m; /* a copy of the subscribe request (its dc_id is the DC) */
    int thread;               /* the service thread it returns to */
    void *owner;              /* the session that asked; NULL once it has gone */
    /* Filled in by the worker. */
    int rc;                   /* 0, or what start_point returned (source.h) */
    struct store_sub_state st; /* w kept only when m.notices.wanted */
    unsigned char *reply;     /* not resumed: the whole subscribed message (view_live_subscribed_with) */
    size_t reply_len;
    struct snap_job *next;
};

/* A job for m's DC subscription (m is copied) of thread's session owner.
 * NULL: out of memory. */
struct snap_job *snap_job_new(const struct view_client_msg *m, int thread, void *owner);
void snap_job_free(struct snap_job *j);

/* Start the worker on its own connection to db_path, with its side of src
 * (source.h thread_open, as thread number nthreads), counting into metrics
 * (NULL: none; it outlives the worker). wake(contexts[t]) tells service
 * thread t that jobs came back; it must be safe from any thread (contexts
 * is copied). 0, or a negative errno (reason logged). */
int snapmaker_start(const char *db_path, struct source *src, struct metrics *metrics, int nthreads,
                    void (*wake)(void *), void *const *contexts, struct snapmaker **out);
/* Stop the worker (a job it is on is finished first) and free everything,
 * jobs not yet taken back included. After the service threads have stopped,
 * before the source stops. NULL: nothing. */
void snapmaker_stop(struct snapmaker *sm);
/* Queue j for the worker (taken over): 0, or -EAGAIN when the queue is full
 * (j is still the caller's). */
int snapmaker_submit(struct snapmaker *sm, struct snap_job *j);
/* The jobs of thread that came back, oldest first, linked by next; the
 * caller owns them. NULL: none. */
struct snap_job *snapmaker_done(struct snapmaker *sm, int thread);

#endif

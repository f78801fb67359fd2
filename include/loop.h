/* SPDX-License-Identifier: MIT
 *
 * One event loop per service thread: a libev loop on epoll, handed to
 * libwebsockets as a "foreign" loop. lws's own loop calls poll() over every
 * connection on each wakeup, which costs O(connections) per message; epoll
 * costs O(ready). The loop is run by its thread and stopped from any thread.
 */
#ifndef WAYPOINTD_LOOP_H
#define WAYPOINTD_LOOP_H

struct loop;

/* 0 and *out, or -ENOMEM / -ENOSYS (no epoll). */
int loop_new(struct loop **out);
/* Release; the loop must not be running. loop_free(NULL) does nothing. */
void loop_free(struct loop *l);
/* The libev loop, for lws_context_creation_info.foreign_loops. */
void *loop_handle(struct loop *l);
/* Call cb(arg) on the loop's thread whenever fd is readable, until the loop
 * is freed. 0 or -ENOMEM. */
int loop_watch(struct loop *l, int fd, void (*cb)(void *arg), void *arg);
/* Stop calling back for fd (loop_watch); the watch stays until loop_free.
 * On the owning thread. */
void loop_unwatch(struct loop *l, int fd);
/* cb(arg) runs on the loop's thread after each loop_notify() (several
 * notifications may be run as one). Set before the loop runs. */
void loop_set_notify(struct loop *l, void (*cb)(void *arg), void *arg);
/* Wake the loop's thread to run its notify callback. Any thread. */
void loop_notify(struct loop *l);
/* Run until loop_stop(). On the owning thread. */
void loop_run(struct loop *l);
/* Make loop_run() return. Any thread. */
void loop_stop(struct loop *l);

#endif

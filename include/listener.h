/* SPDX-License-Identifier: MIT
 *
 * Listening sockets, one per service thread, bound to one port with
 * SO_REUSEPORT so the kernel spreads connections over the threads, and
 * refused when another process already listens there. The
 * Debian libwebsockets is built without SMP, so each thread has its own lws
 * context and event loop; this module accepts and hands each connection to
 * that thread's context.
 */
#ifndef WAYPOINTD_LISTENER_H
#define WAYPOINTD_LISTENER_H

#include <stddef.h>

struct lws_vhost;

/* Open n listening sockets on host:port (port 0 picks a free port, shared by
 * all n). fds[0..n) receive them and *bound_port the real port. Refused with
 * -EADDRINUSE while any other process listens on the address, SO_REUSEPORT
 * or not. *lock_fd receives a descriptor that keeps another waypointd from
 * starting on the address: close it once the listeners are closed (or let
 * the process exit). Returns 0 or a negative errno, with a reason in err. */
int listener_open(const char *host, int port, int n, int *fds, int *lock_fd, int *bound_port, char *err,
                  size_t errlen);

/* Accept what is waiting on lfd (a batch) and adopt each connection into vh
 * as a TLS HTTP connection. *spare_fd is an open descriptor kept in reserve
 * to refuse connections cleanly when out of descriptors (or -1). */
void listener_accept(int lfd, int *spare_fd, struct lws_vhost *vh);

#endif

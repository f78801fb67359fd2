/* SPDX-License-Identifier: MIT
 *
 * Listening sockets, one per service thread, bound to one port with
 * SO_REUSEPORT so the kernel spreads connections over the threads. The
 * Debian libwebsockets is built without SMP, so each thread has its own lws
 * context; this module accepts and hands each connection to that context.
 */
#ifndef WAYPOINTD_LISTENER_H
#define WAYPOINTD_LISTENER_H

#include <stddef.h>

struct lws_protocols;

/* Open n listening sockets on host:port (port 0 picks a free port, shared by
 * all n). fds[0..n) receive them and *bound_port the real port. Returns 0 or
 * a negative errno, with a reason in err. */
int listener_open(const char *host, int port, int n, int *fds, int *bound_port, char *err, size_t errlen);

/* The raw protocol that accepts on an adopted listening fd and adopts each
 * new socket into the same vhost as a TLS HTTP connection. */
extern const struct lws_protocols listener_protocol;
#define LISTENER_PROTOCOL_NAME "waypointd-listener"

#endif

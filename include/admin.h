/* SPDX-License-Identifier: MIT
 *
 * The operator's endpoint on its own plain-HTTP address (serve
 * --metrics-listen): GET /metrics (Prometheus text format) and GET /healthz
 * (200 when the database answers and the change source is healthy, else
 * 503). It is meant for a private network or loopback: no TLS, no auth.
 */
#ifndef WAYPOINTD_ADMIN_H
#define WAYPOINTD_ADMIN_H

struct lws_context;
struct lws_vhost;
struct metrics;
struct store;
struct source;

struct admin_conf {
    struct metrics *metrics;
    struct store *store; /* the hosting service thread's connection */
    struct source *source; /* set once the change source runs; NULL: not ready */
};

/* Add the admin vhost to a service thread's context, listening on
 * host:port (0: any free port). The conf must outlive the context. The vhost,
 * or NULL (a reason on stderr). */
struct lws_vhost *admin_create(struct lws_context *context, struct admin_conf *conf, const char *host, int port);

#endif

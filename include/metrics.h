/* SPDX-License-Identifier: MIT
 *
 * Counters for /metrics (Prometheus text format). Each service thread
 * writes only its own block, with relaxed atomic stores (one writer, no
 * locked instructions on the hot path); the renderer sums the blocks.
 */
#ifndef WAYPOINTD_METRICS_H
#define WAYPOINTD_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics;
struct metrics_thread;
struct metrics_webhook;
struct replica;

enum metrics_route {
    METRICS_ROUTE_CUSTOMER,
    METRICS_ROUTE_CONFIDENT,
    METRICS_ROUTE_WAYPOINTS,
    METRICS_ROUTE_TOKEN,
    METRICS_ROUTE_EVENTS, /* Server-Sent Events streams opened or refused */
    METRICS_ROUTE_STATIC,
    METRICS_ROUTE_OTHER, /* unknown API paths, preflights */
    METRICS_ROUTES
};

enum metrics_refusal {
    METRICS_REFUSE_RATE_LIMIT,     /* 429 on REST, upgrades or subscribes */
    METRICS_REFUSE_ORIGIN,         /* a WebSocket or CORS Origin not allowed */
    METRICS_REFUSE_UNAUTHORIZED,   /* an upgrade without a good credential */
    METRICS_REFUSE_TOO_MANY_SUBS,  /* --max-subs reached */
    METRICS_REFUSE_SLOW_CONSUMER,  /* queue overflow: closed with 1008 */
    METRICS_REFUSE_SEND_TIMEOUT,   /* stopped reading: dropped */
    METRICS_REFUSE_BAD_MESSAGE,    /* a malformed live message (400) */
    METRICS_REFUSE_TOO_LARGE,      /* a live message over the limit (1009) */
    METRICS_REFUSALS
};

enum metrics_gauge {
    METRICS_CONNECTIONS,   /* TLS connections, any kind */
    METRICS_WEBSOCKETS,    /* of which WebSocket sessions */
    METRICS_SUBSCRIPTIONS,
    METRICS_GAUGES
};

/* How the snapshot worker started a DC subscription (snapmaker.c). */
enum metrics_snapshot {
    METRICS_SNAPSHOT_MADE,   /* its waypoints rendered for it */
    METRICS_SNAPSHOT_SHARED, /* a rendering kept for its DC and seq */
    METRICS_SNAPSHOT_NONE,   /* no snapshot: a resume, or the read failed */
    METRICS_SNAPSHOTS
};

/* For n service threads. NULL when out of memory. */
struct metrics *metrics_new(int n);
void metrics_free(struct metrics *m);
/* Thread i's block, for that thread only. metrics_thread(NULL, i) is NULL,
 * and every recording function below accepts a NULL block (no metrics). */
struct metrics_thread *metrics_thread(struct metrics *m, int i);

void metrics_http(struct metrics_thread *t, enum metrics_route r, int status);
void metrics_refused(struct metrics_thread *t, enum metrics_refusal why);
void metrics_gauge_add(struct metrics_thread *t, enum metrics_gauge g, int delta);
/* A change message was written to a subscriber: its commit time (epoch ms)
 * and now. */
void metrics_pushed(struct metrics_thread *t, int64_t changed_ms, int64_t now_ms);

/* The snapshot worker's: one DC subscription started; how many wait for it
 * now (set by whoever changes it, under the worker's lock). NULL m: none. */
void metrics_snapshot(struct metrics *m, enum metrics_snapshot how);
void metrics_snapshot_queue(struct metrics *m, int waiting);

/* The webhook delivery thread's block (metrics_webhook.h); NULL for NULL. */
struct metrics_webhook *metrics_webhook(struct metrics *m);
/* An edge: render its applier's state too (r outlives m's renders). */
void metrics_set_replica(struct metrics *m, const struct replica *r);

/* The whole text exposition, malloc'd (the caller frees), length in *len;
 * NULL when out of memory. Any thread. */
char *metrics_render(struct metrics *m, int64_t now_ms, size_t *len);

#endif

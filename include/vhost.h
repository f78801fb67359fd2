/* SPDX-License-Identifier: MIT
 *
 * What each service thread hands its protocols through lws_vhost_user(),
 * in two parts: what every thread shares (fixed before the threads start
 * serving, never written after) and what is the thread's own (written and
 * read only on it). Keeping them apart shows at each use whether a field can
 * be read from any thread without a lock.
 */
#ifndef WAYPOINTD_VHOST_H
#define WAYPOINTD_VHOST_H

#include <stdint.h>

struct store;
struct bus;
struct source;
struct source_thread;
struct snapmaker;
struct cache;
struct live;
struct ratelimit;
struct metrics_thread;
struct auth_secret;

/* Shared by every service thread; owned by serve.c, which outlives them.
 * What it points to is safe to use from any thread (its own locks). */
struct vhost_shared {
    const char *www_root;   /* absolute, realpath'd */
    const char *map_config; /* /map-config.json, see routes.h; NULL: no basemap */
    struct bus *bus;        /* the changes' per-thread inboxes; NULL: no live push */
    struct source *source;  /* where changes and start points come from (source.h) */
    struct snapmaker *snapmaker; /* where DC subscriptions start (snapmaker.h); NULL: on the thread */
    int ws_ping_secs;       /* ping a WebSocket peer silent this long */
    int ws_hangup_secs;     /* and drop one silent this long */
    int ws_send_timeout_secs; /* drop one whose queue makes no progress this long */
    int max_subs;           /* subscriptions per connection */
    struct ratelimit *rl_addr; /* NULL: no limit */
    struct ratelimit *rl_key;
    const char *const *allow_origins; /* see serve.h */
    int n_allow_origins;
};

/* One service thread's own: only that thread reads or writes it. */
struct vhost_state {
    const struct vhost_shared *shared;
    struct store *store;    /* this thread's connection */
    struct cache *cache;    /* this thread's cache of reads (cache.h) */
    const uint8_t *secret;  /* STORE_SECRET_LEN bytes, for tracking tokens: secret_state->key */
    struct auth_secret *secret_state; /* this thread's copy; the sweep reads it again when
                                       * the database changes (a rotation); NULL: fixed */
    int thread;             /* this thread's index (its inbox in the bus) */
    struct source_thread *source_thread; /* this thread's side of the source */
    struct live *live;      /* its live sessions (live.h); set by ws.c's protocol init */
    int draining;           /* stopping: finish what is in flight, take nothing new */
    int http_busy;          /* HTTP requests being answered */
    int64_t http_last_start_us; /* lws_now_usecs() when the last request began */
    void *ssl_ctx;          /* the vhost's SSL_CTX, for certificate reloads */
    struct metrics_thread *metrics; /* this thread's counters; NULL: none */
};

#endif

/* SPDX-License-Identifier: MIT
 *
 * What each service thread hands its protocols through lws_vhost_user():
 * the thread's own SQLite connection and its share of the change feed.
 */
#ifndef WAYPOINTD_VHOST_H
#define WAYPOINTD_VHOST_H

#include <stdint.h>

struct store;
struct feed;
struct cache;
struct ratelimit;
struct metrics_thread;
struct feed;
struct auth_secret;

struct vhost_conf {
    struct store *store;    /* this thread's connection; only this thread uses it */
    struct cache *cache;    /* this thread's cache of reads (cache.h) */
    const uint8_t *secret;  /* STORE_SECRET_LEN bytes, for tracking tokens: secret_state->key */
    struct auth_secret *secret_state; /* this thread's copy; channel.c's sweep reads it again when
                                       * the database changes (a rotation); NULL: fixed */
    const char *www_root;   /* absolute, realpath'd */
    const char *map_config; /* /map-config.json, see routes.h; NULL: no basemap */
    struct feed *feed;      /* shared; NULL in tests without live push */
    int thread;             /* this thread's index in the feed */
    int ws_ping_secs;       /* ping a WebSocket peer silent this long */
    int ws_hangup_secs;     /* and drop one silent this long */
    int ws_send_timeout_secs; /* drop one whose queue makes no progress this long */
    int max_subs;           /* subscriptions per connection */
    struct ratelimit *rl_addr; /* shared by all threads; NULL: no limit */
    struct ratelimit *rl_key;
    const char *const *allow_origins; /* see serve.h */
    int n_allow_origins;
    /* This thread's own state, written and read only on it: */
    int draining;           /* stopping: finish what is in flight, take nothing new */
    int http_busy;          /* HTTP requests being answered */
    int64_t http_last_start_us; /* lws_now_usecs() when the last request began */
    void *ssl_ctx;          /* the vhost's SSL_CTX, for certificate reloads */
    struct metrics_thread *metrics; /* this thread's counters; NULL: none */
};

#endif

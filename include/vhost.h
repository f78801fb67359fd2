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

struct vhost_conf {
    struct store *store;    /* this thread's connection; only this thread uses it */
    struct cache *cache;    /* this thread's cache of reads (cache.h) */
    const uint8_t *secret;  /* STORE_SECRET_LEN bytes, for tracking tokens */
    const char *www_root;   /* absolute, realpath'd */
    struct feed *feed;      /* shared; NULL in tests without live push */
    int thread;             /* this thread's index in the feed */
    int ws_ping_secs;       /* ping a WebSocket peer silent this long */
    int ws_hangup_secs;     /* and drop one silent this long */
};

#endif

/* SPDX-License-Identifier: MIT
 *
 * One service thread's live sessions: the client protocol (subscribe,
 * unsubscribe, ping), where a subscription starts (a snapshot, or a replay
 * after since), the fan-out of each change the source published to the thread
 * to the sessions that follow it, and ending sessions (credentials gone,
 * the server stopping). Transport-neutral: sessions come from ws.c and
 * sse.c (session.h). Everything here runs on the thread that owns it.
 */
#ifndef WAYPOINTD_LIVE_H
#define WAYPOINTD_LIVE_H

#include <stddef.h>
#include <stdint.h>

struct session;
struct subs;
struct vhost_state;
struct view_client_msg;

/* Messages queued for one session before it counts as too slow. */
#define LIVE_QUEUE_MAX 8192
/* Subscriptions one session may hold by default (serve --max-subs). */
#define LIVE_SUBS_MAX 64
/* Default for serve --ws-send-timeout: a subscriber whose queued messages
 * make no progress this long (it stopped reading) is dropped. */
#define LIVE_SEND_TIMEOUT_SECS 30
/* Defaults: WebSocket ping after this much silence; hang up after the second
 * figure (serve --ws-ping-seconds, --ws-idle-seconds). */
#define LIVE_PING_SECS 30
#define LIVE_HANGUP_SECS 75
/* What a client may send while its DC subscription is being started (its
 * messages wait, in order, until it is answered). */
#define LIVE_HELD_BYTES (256 * 1024)

struct live {
    struct vhost_state *conf; /* the thread's (vhost.h) */
    struct subs *subs;        /* who follows what */
    struct session *sessions; /* every linked session, for the sweep and draining */
    unsigned char *scratch;   /* the transports' write buffer: shared messages stay read-only */
    size_t scratch_cap;
    int64_t keys_version;     /* the sweep's: version (freshness.h) at its last key check; -1: never */
    int64_t through;          /* the bus has offered this thread every change up to this seq */
    int taking;               /* in live_take: no nested take */
    int subscribing;          /* a subscribe takes the bus first: no direct writes then */
    int cut_off;              /* the sweep's: the source is cut off (sessions were sent elsewhere) */
};

/* 0, or -ENOMEM. live_free() releases what it holds (not the sessions,
 * which their transports own and unlink first). */
int live_init(struct live *lt, struct vhost_state *conf);
void live_free(struct live *lt);

/* A session whose credential is resolved joins (and leaves) the thread. */
void live_link(struct live *lt, struct session *s);
void live_unlink(struct live *lt, struct session *s);

/* One complete client message (JSON text) from s: answered on s. */
void live_on_message(struct live *lt, struct session *s, const char *text, size_t len);
/* A subscribe request (also an event stream's only one). */
void live_subscribe(struct live *lt, struct session *s, const struct view_client_msg *m);
/* End every subscription of s with a 401 error, then close (revoked,
 * expired). why: static. */
void live_end(struct live *lt, struct session *s, const char *why);
/* Offer what the bus holds for this thread to the sessions that follow
 * it (at a wake-up, and before each subscribe). */
void live_take(struct live *lt);
/* Answer the DC subscriptions whose start the snapshot worker has made
 * (snapmaker.h), at a wake-up. */
void live_finish_snapshots(struct live *lt);
/* The server is stopping: every session closes with 1001 (going away)
 * once its queue is written. Returns how many are still open. */
int live_drain(struct live *lt);
/* This node lost its changes' source (an edge cut off from the cluster):
 * every session closes with 1012 (service restart) once its queue is
 * written, so that clients resume with since on another node. */
void live_send_elsewhere(struct live *lt);
/* The thread's write buffer with room for need bytes; NULL when out of
 * memory. Valid until the next call. */
unsigned char *live_scratch(struct live *lt, size_t need);

#endif

/* SPDX-License-Identifier: MIT
 *
 * The live channel: the lws WebSocket protocol "waypoints.v1" on /live.
 * Sessions subscribe to a customer or a DC, get a consistent snapshot or a
 * replay, then every change pushed by the feed, through a bounded queue.
 */
#ifndef WAYPOINTD_CHANNEL_H
#define WAYPOINTD_CHANNEL_H

#include <stdint.h>

struct lws_protocols;

/* Largest client message; a bigger one closes the connection with 1009. */
#define CHANNEL_MSG_MAX 4096
/* Messages queued for one connection before it counts as too slow. */
#define CHANNEL_QUEUE_MAX 8192
/* Subscriptions one connection may hold by default (serve --max-subs). */
#define CHANNEL_SUBS_MAX 64
/* Default for serve --ws-send-timeout: a subscriber whose queued messages
 * make no progress this long (it stopped reading) is dropped. */
#define CHANNEL_SEND_TIMEOUT_SECS 30
/* Defaults: WebSocket ping after this much silence; hang up after the second
 * figure (serve --ws-ping-seconds, --ws-idle-seconds). */
#define CHANNEL_PING_SECS 30
#define CHANNEL_HANGUP_SECS 75

struct lws;
struct lws_vhost;
struct pss_channel;

/* Server-Sent Events (GET .../waypoints/events): at most this many bytes per
 * write (the heartbeat is sweep.h's). */
#define CHANNEL_SSE_WRITE_MAX 8192

extern const struct lws_protocols channel_protocol;

/* Start an event stream on an HTTP wsi: one customer's waypoints, as a live
 * subscription (since < 0: a snapshot first; else resume after it). The
 * session, owned by the wsi until channel_sse_close(); or NULL with the
 * HTTP status and reason to refuse with. On the wsi's service thread. */
struct pss_channel *channel_sse_open(struct lws *wsi, const char *bearer, const char *dc_id, const char *customer_id,
                                     int64_t since, int *status, const char **why);
/* Write what is queued as events (or a heartbeat); an lws verdict: -1 closes. */
int channel_sse_writeable(struct lws *wsi, struct pss_channel *s);
/* The stream is gone: drop the session. */
void channel_sse_close(struct lws *wsi, struct pss_channel *s);

/* The server is stopping: ask every session on this vhost to close with
 * 1001 (going away) once its queue is written. Returns how many sessions
 * are still open; call again until 0. On the vhost's service thread. */
int channel_drain(struct lws_vhost *vh);

#endif

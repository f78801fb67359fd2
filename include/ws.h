/* SPDX-License-Identifier: MIT
 *
 * The live channel over WebSocket (ws.c): the lws protocol "waypoints.v1"
 * on /live. Each connection is one live session (session.h); what it
 * follows and what it is sent is live.c's. The protocol's per-vhost state
 * holds the thread's sessions (struct live, also reached through
 * vhost_state.live) and runs their sweep.
 */
#ifndef WAYPOINTD_WS_H
#define WAYPOINTD_WS_H

struct lws_protocols;

/* Largest client message; a bigger one closes the connection with 1009. */
#define WS_MSG_MAX 4096

extern const struct lws_protocols ws_protocol;

#endif

/* SPDX-License-Identifier: MIT
 *
 * The WebSocket upgrade gate: which requests may become live sessions.
 * http.c asks it at CONFIRM_UPGRADE (HTTP/1.1), ws.c at
 * FILTER_PROTOCOL_CONNECTION (HTTP/2 streams, RFC 8441).
 */
#ifndef WAYPOINTD_UPGRADE_H
#define WAYPOINTD_UPGRADE_H

struct lws;

/* The live channel's subprotocol and its only path. */
#define LIVE_PROTOCOL_NAME "waypoints.v1"
#define LIVE_PATH "/live"

/* Would a WebSocket upgrade of this request be allowed: the path /live, the
 * subprotocol offered, an allowed Origin, a valid credential, within the
 * rate limits (charged here)? 0, or the HTTP status to refuse with, *why in
 * words and *retry_after in seconds (0: none). */
int upgrade_check(struct lws *wsi, const char **why, int *retry_after);

/* HTTP/1.1 CONFIRM_UPGRADE to kind ("websocket" or another): 0 lets it go
 * on; 1 when it was refused and answered (the status line, the error
 * envelope; lws closes after it); -1 when the answer could not be written.
 * Counts refusals in the metrics. */
int upgrade_confirm(struct lws *wsi, const char *kind);

#endif

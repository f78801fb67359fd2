/* SPDX-License-Identifier: MIT
 *
 * Writing a long-lived stream (a WebSocket or an event stream) within
 * HTTP/2 flow control, around two habits of lws 4.1 (h2_window.c). On
 * HTTP/1.1 both are no-ops.
 */
#ifndef WAYPOINTD_H2_WINDOW_H
#define WAYPOINTD_H2_WINDOW_H

#include <stdint.h>

struct lws;

/* Bytes of DATA written to an HTTP/2 stream at once, at most: the frame
 * size every peer accepts. */
#define H2_WRITE_MAX 16384

/* The DATA the peer takes now on wsi's stream (at most H2_WRITE_MAX), or
 * -1 on HTTP/1.1, which has no window. */
int64_t h2_room(struct lws *wsi);
/* Call after writing to an HTTP/2 stream, so that what lws kept back is
 * sent without waiting for the client to speak. */
void h2_keep_flushing(struct lws *wsi);

#endif

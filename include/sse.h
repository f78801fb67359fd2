/* SPDX-License-Identifier: MIT
 *
 * The live channel as Server-Sent Events (sse.c): GET
 * .../customers/{id}/waypoints/events on the HTTP protocol. One stream is
 * one live session (session.h) following one customer, written as events
 * ("id:" the seq, what Last-Event-ID resumes after). http.c admits the
 * request and hands the stream to these calls; all on the wsi's thread.
 */
#ifndef WAYPOINTD_SSE_H
#define WAYPOINTD_SSE_H

struct lws;
struct sse_stream;

/* At most this many bytes per write (the heartbeat interval is sweep.h's). */
#define SSE_WRITE_MAX 8192

/* Open the stream on an HTTP wsi with credential bearer (NULL: none),
 * subscribing to the customer: a snapshot first, or a resume after the
 * Last-Event-ID header or ?since=N. The stream, owned by the wsi until
 * sse_close(); or NULL with the HTTP status and reason to refuse with. */
struct sse_stream *sse_open(struct lws *wsi, const char *bearer, const char *dc_id, const char *customer_id,
                            int *status, const char **why);
/* The answer's headers (cors: the Access-Control-Allow-Origin value, "":
 * none). 0, or -1: close. */
int sse_write_headers(struct lws *wsi, const char *cors);
/* Write what is queued as events (or a heartbeat); an lws verdict: -1 closes. */
int sse_writeable(struct lws *wsi, struct sse_stream *st);
/* The stream is gone: drop the session and free st. */
void sse_close(struct sse_stream *st);

#endif

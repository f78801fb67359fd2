/* SPDX-License-Identifier: MIT
 *
 * Inside the HTTP protocol, for the files that make it up (http.c: the
 * request's life; http_write.c: writing an API answer). Not for other
 * modules. Everything here belongs to one service thread.
 */
#ifndef WAYPOINTD_HTTP_INT_H
#define WAYPOINTD_HTTP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "path.h"
#include "routes.h"

struct lws;
struct sse_stream;

/* Body bytes per lws_write: under one TLS record and one HTTP/2 frame. */
#define HTTP_CHUNK 4096
/* A request body (at most ROUTES_BODY_MAX bytes) must arrive within this. */
#define HTTP_BODY_SECS 10

struct pss_http {
    char method[8];
    char path[1024];
    char *body_in; /* request body, at most ROUTES_BODY_MAX bytes */
    size_t body_in_len;
    int body_too_big;
    struct routes_response resp;
    size_t sent;      /* body bytes written so far */
    int headers_sent;
    int close_after;  /* the request's body was not read: do not reuse the connection */
    int busy;         /* counted in vhost_state.http_busy */
    char etag[24];    /* "\"16 hex digits\"" for an API GET's 200 or 304, else empty */
    char cors[256];   /* the allowed Origin to echo, else empty */
    int preflight;    /* a CORS preflight answered with 204 */
    int64_t t0_us;    /* when the request arrived (access log) */
    struct sse_stream *sse; /* an open event stream (sse.c owns its insides) */
    enum path_route route;   /* what on_request matched, for the metrics */
    int bad_id;              /* the path's ids are malformed (a 400 the address pays for) */
    int64_t body_deadline_us; /* the whole body must have arrived by then */
};

/* One step of an API answer per writeable callback (http_write.c):
 * -1 the connection failed, 0 more to write, 1 written whole. */
int http_write_step(struct lws *wsi, struct pss_http *pss);

#endif

/* SPDX-License-Identifier: MIT
 *
 * The libwebsockets HTTP protocol: collects a request (HTTP/1.1 or HTTP/2
 * stream), asks routes.c for the answer, writes it back or serves a file.
 */
#ifndef WAYPOINTD_HTTP_H
#define WAYPOINTD_HTTP_H

struct lws_protocols;

struct lws;

/* Metrics: a wsi destroyed (counted down from the open connections when it
 * is one). */
void http_count_destroy(struct lws *wsi);

/* The protocol entry for the vhost's protocol table (first = default). */
extern const struct lws_protocols http_protocol;

#endif

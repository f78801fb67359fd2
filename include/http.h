/* SPDX-License-Identifier: MIT
 *
 * The libwebsockets HTTP protocol: collects a request (HTTP/1.1 or HTTP/2
 * stream), asks routes.c for the answer, writes it back or serves a file.
 */
#ifndef WAYPOINTD_HTTP_H
#define WAYPOINTD_HTTP_H

struct lws_protocols;

/* Per-vhost settings handed to the protocol through pvo-free user data. */
struct http_vhost_conf {
    struct store *store;   /* borrowed; the thread's connection */
    const unsigned char *secret;
    const char *www_root;  /* absolute, realpath'd */
};

/* The protocol entry for the vhost's protocol table (first = default). */
extern const struct lws_protocols http_protocol;

#endif

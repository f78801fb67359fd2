/* SPDX-License-Identifier: MIT
 *
 * The libwebsockets HTTP protocol: collects a request (HTTP/1.1 or HTTP/2
 * stream), asks routes.c for the answer, writes it back or serves a file.
 */
#ifndef WAYPOINTD_HTTP_H
#define WAYPOINTD_HTTP_H

struct lws_protocols;

#include <stddef.h>
#include <stdint.h>

struct lws;
struct vhost_conf;

/* The request's credential as an Authorization header value ("Bearer X"):
 * the Authorization header, or for WebSocket upgrades (allow_query) the
 * access_token query parameter. 0, or -ENOENT when there is none. */
int http_credential(struct lws *wsi, int allow_query, char *out, size_t cap);

/* Would a WebSocket upgrade of this request be allowed: the path /live, the
 * subprotocol offered, a valid credential? 0, or the HTTP status to refuse
 * with and *why in words. */
int http_upgrade_check(struct lws *wsi, const char **why, int *retry_after);

/* Rate-limit ids: the client's address (IPv4 exactly, IPv6 by /64), and a
 * credential (its bearer text under a per-process keyed hash; 0 for none). */
uint64_t http_peer_id(struct lws *wsi);
uint64_t http_cred_id(const char *bearer);

/* Metrics: an upgrade refused with this status; a wsi destroyed (counted
 * down from the open connections when it is one). */
void http_count_refusal(struct lws *wsi, int status);
void http_count_destroy(struct lws *wsi);

/* The rate limits (docs/security.md, "Limits"). A client address pays only
 * for what an attacker produces: failed authentication, malformed requests,
 * refused upgrades; once its budget is spent it is refused everything but
 * static files until a token is back. Authenticated work (API requests,
 * upgrades, event streams, subscribes) is paid by its credential alone, so
 * many clients behind one address are served and one key's flood leaves
 * other keys alone. */
/* Would this address and credential be refused now (neither is charged, an
 * unknown credential is never tracked)? 0, or the seconds to wait. */
int http_rate_check(const struct vhost_conf *conf, uint64_t peer_id, uint64_t cred_id);
/* Charge the address for a failure. */
void http_rate_fail(const struct vhost_conf *conf, uint64_t peer_id);
/* Take one unit of authenticated work from a credential that was verified.
 * 0, or the seconds to wait. */
int http_rate_take(const struct vhost_conf *conf, uint64_t cred_id);

/* The protocol entry for the vhost's protocol table (first = default). */
extern const struct lws_protocols http_protocol;

#endif

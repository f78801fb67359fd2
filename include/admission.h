/* SPDX-License-Identifier: MIT
 *
 * Admission, below both transports: a request's credential, the client's
 * and the credential's identity for the rate limits, the rate-limit glue,
 * and the Origin policy. The transports (http.c, sse.c, ws.c), the
 * upgrade gate (upgrade.c) and the live sessions (live.c: a subscribe's
 * rate limit) call it; it calls none of them.
 */
#ifndef WAYPOINTD_ADMISSION_H
#define WAYPOINTD_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"

struct lws;
struct vhost_state;

/* Room for a credential as an Authorization header value. */
#define ADMISSION_CRED_MAX (AUTH_TOKEN_MAX + 64)

/* The request's credential as an Authorization header value ("Bearer X"):
 * the Authorization header, or (allow_query: WebSocket upgrades and event
 * streams, which browsers cannot give headers) the access_token query
 * parameter. 0, or -ENOENT when there is none. */
int admission_credential(struct lws *wsi, int allow_query, char *out, size_t cap);

/* Rate-limit ids: the client's address (IPv4 exactly, IPv6 by /64), and a
 * credential (its bearer text under a per-process keyed hash; 0 for none).
 * admission_peer_id_if_limited is 0 when no per-address limit is on (it
 * saves getpeername's system call). */
uint64_t admission_peer_id(struct lws *wsi);
uint64_t admission_peer_id_if_limited(struct lws *wsi, const struct vhost_state *conf);
uint64_t admission_cred_id(const char *bearer);

/* The rate limits (docs/security.md, "Limits"). A client address pays only
 * for what an attacker produces: failed authentication, malformed requests,
 * refused upgrades; once its budget is spent it is refused everything but
 * static files until a token is back. Authenticated work (API requests,
 * upgrades, event streams, subscribes) is paid by its credential alone, so
 * many clients behind one address are served and one key's flood leaves
 * other keys alone. */
/* Would this address and credential be refused now (neither is charged, an
 * unknown credential is never tracked)? 0, or the seconds to wait. */
int admission_rate_check(const struct vhost_state *conf, uint64_t peer_id, uint64_t cred_id);
/* Charge the address for a failure. */
void admission_rate_fail(const struct vhost_state *conf, uint64_t peer_id);
/* Take one unit of authenticated work from a credential that was verified.
 * 0, or the seconds to wait. */
int admission_rate_take(const struct vhost_state *conf, uint64_t cred_id);

/* 1 when origin is one of --allow-origin's. */
int admission_origin_listed(const struct vhost_state *conf, const char *origin);
/* The Origin of a cross-site page allowed by --allow-origin, into out (the
 * value to echo in CORS headers). Pages of our own origin need no CORS
 * headers. 0 when allowed or no Origin, -EPERM otherwise. */
int admission_cors_origin(struct lws *wsi, const struct vhost_state *conf, char *out, size_t cap);
/* A browser page may open /live only from our own origin or an allowed one
 * (cross-site WebSocket hijacking); clients that send no Origin are not
 * browsers. 1 when allowed. */
int admission_origin_allowed(struct lws *wsi, const struct vhost_state *conf);

#endif

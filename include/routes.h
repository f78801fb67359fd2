/* SPDX-License-Identifier: MIT
 *
 * The Customers API as a pure function: (method, path, credential, body) ->
 * status and body. Knows nothing of libwebsockets; the only place where
 * errno values become HTTP statuses and error envelopes.
 */
#ifndef WAYPOINTD_ROUTES_H
#define WAYPOINTD_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Retry-After (seconds) of a 503 answered because the database was busy. */
#define ROUTES_BUSY_RETRY_AFTER 1

/* Largest request body accepted (the tracking-token body is tiny). */
#define ROUTES_BODY_MAX 4096

struct cache;
struct source;

struct routes_ctx {
    struct store *store;          /* this thread's connection */
    struct cache *cache;          /* this thread's cache, or NULL for none */
    const struct source *source;  /* whose commit generation keeps the cache fresh; NULL: data_version */
    const uint8_t *secret;        /* STORE_SECRET_LEN bytes */
    int64_t now_ms;
    const char *map_config;       /* the body of /map-config.json (view_map_config); NULL: no basemap */
};

struct routes_request {
    const char *method;        /* "GET", "POST", ... */
    const char *path;          /* decoded, without the query string */
    const char *authorization; /* the Authorization header, or NULL */
    const char *body;
    size_t body_len;
};

struct routes_response {
    int status;        /* HTTP status */
    const char *allow; /* the Allow header for a 405, else NULL */
    int retry_after;   /* the Retry-After header (seconds) for a 429 or 503, else 0 */
    char *body;        /* malloc'd JSON; NULL for a static file */
    size_t body_len;
    char file[1024];   /* static file relative to the www root, when body is NULL */
};

/* Answer one request. Always fills resp (500 with an envelope if even that
 * fails); returns 0, or -ENOMEM when no body could be made at all. Release
 * with routes_response_clear. */
int routes_handle(const struct routes_ctx *ctx, const struct routes_request *req, struct routes_response *resp);
void routes_response_clear(struct routes_response *resp);

/* Fill resp with an error envelope (used by the HTTP layer, e.g. for 404 files). */
int routes_error(struct routes_response *resp, int status, int code, const char *message);

#endif
